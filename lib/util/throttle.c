/* SPDX-License-Identifier: MIT */
/* throttle.h: the leaky buckets and the checks of their configuration. */
#include <errno.h>
#include <string.h>

#include "util/throttle.h"

#define NS_PER_S 1000000000.0

void qimg_throttle_config_init(struct qimg_throttle_config *c)
{
	int i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < QIMG_THR_BUCKETS; i++)
		c->b[i].burst_length = 1;
}

bool qimg_throttle_config_enabled(const struct qimg_throttle_config *c)
{
	int i;

	for (i = 0; i < QIMG_THR_BUCKETS; i++)
		if (c->b[i].avg > 0)
			return true;
	return false;
}

/* A total and a read or write value of one kind (rates or burst rates of
 * bytes or of operations) set together. */
static bool mixed(const struct qimg_throttle_config *c, int total, bool burst)
{
	const struct qimg_throttle_limit *b = c->b;

	if (burst)
		return b[total].max > 0 &&
		       (b[total + 1].max > 0 || b[total + 2].max > 0);
	return b[total].avg > 0 &&
	       (b[total + 1].avg > 0 || b[total + 2].avg > 0);
}

static int check_bucket(const struct qimg_throttle_limit *b,
			struct qimg_error *err)
{
	const double top = (double)QIMG_THROTTLE_VALUE_MAX;

	if (b->avg < 0 || b->max < 0 || b->avg > top || b->max > top)
		return qimg_error_set(err, EINVAL,
				      "bps/iops/max values must be within "
				      "[0, %lld]",
				      (long long)QIMG_THROTTLE_VALUE_MAX);
	if (b->burst_length == 0)
		return qimg_error_set(err, EINVAL,
				      "the burst length cannot be 0");
	if (b->burst_length > 1 && b->max == 0)
		return qimg_error_set(err, EINVAL,
				      "burst length set without burst rate");
	if (b->max > 0 && (double)b->burst_length > top / b->max)
		return qimg_error_set(err, EINVAL,
				      "burst length too high for this burst "
				      "rate");
	if (b->max > 0 && b->avg == 0)
		return qimg_error_set(err, EINVAL,
				      "bps_max/iops_max require corresponding "
				      "bps/iops values");
	if (b->max > 0 && b->max < b->avg)
		return qimg_error_set(err, EINVAL,
				      "bps_max/iops_max cannot be lower than "
				      "bps/iops");
	return 0;
}

int qimg_throttle_config_check(const struct qimg_throttle_config *c,
			       struct qimg_error *err)
{
	int i, r;

	if (mixed(c, QIMG_THR_BPS_TOTAL, false) ||
	    mixed(c, QIMG_THR_OPS_TOTAL, false) ||
	    mixed(c, QIMG_THR_BPS_TOTAL, true) ||
	    mixed(c, QIMG_THR_OPS_TOTAL, true))
		return qimg_error_set(err, EINVAL,
				      "bps/iops/max total values and "
				      "read/write values cannot be used at the "
				      "same time");
	if (c->op_size && c->b[QIMG_THR_OPS_TOTAL].avg == 0 &&
	    c->b[QIMG_THR_OPS_READ].avg == 0 &&
	    c->b[QIMG_THR_OPS_WRITE].avg == 0)
		return qimg_error_set(err, EINVAL,
				      "iops size requires an iops value to be "
				      "set");
	for (i = 0; i < QIMG_THR_BUCKETS; i++) {
		r = check_bucket(&c->b[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

void qimg_throttle_state_init(struct qimg_throttle_state *s,
			      const struct qimg_throttle_config *c,
			      int64_t now_ns)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->cfg = *c;
	/* Without a burst rate, a tenth of a second's worth passes at once:
	 * requests are not held one by one. */
	for (i = 0; i < QIMG_THR_BUCKETS; i++)
		if (s->cfg.b[i].avg > 0 && s->cfg.b[i].max == 0)
			s->cfg.b[i].max = s->cfg.b[i].avg / 10;
	s->last_ns = now_ns;
}

static void drain(struct qimg_throttle_state *s, int64_t now_ns)
{
	double dt;
	int i;

	if (now_ns <= s->last_ns)
		return;
	dt = (double)(now_ns - s->last_ns) / NS_PER_S;
	s->last_ns = now_ns;
	for (i = 0; i < QIMG_THR_BUCKETS; i++) {
		const struct qimg_throttle_limit *b = &s->cfg.b[i];

		s->level[i] -= b->avg * dt;
		if (s->level[i] < 0)
			s->level[i] = 0;
		if (b->burst_length > 1) {
			s->burst_level[i] -= b->max * dt;
			if (s->burst_level[i] < 0)
				s->burst_level[i] = 0;
		}
	}
}

/* How long bucket i must drain before a request may start, in ns. */
static int64_t bucket_wait(const struct qimg_throttle_state *s, int i)
{
	const struct qimg_throttle_limit *b = &s->cfg.b[i];
	double over, wait = 0;

	if (b->avg == 0)
		return 0;
	/* The whole burst may be spent at once ... */
	over = s->level[i] - b->max * (double)b->burst_length;
	if (over > 0)
		wait = over / b->avg;
	/* ... but, with bursts longer than a second, at no more than the
	 * burst rate. */
	if (b->burst_length > 1) {
		over = s->burst_level[i] - b->max / 10;
		if (over > 0 && over / b->max > wait)
			wait = over / b->max;
	}
	return wait > 0 ? (int64_t)(wait * NS_PER_S) + 1 : 0;
}

int64_t qimg_throttle_wait_ns(struct qimg_throttle_state *s, bool write,
			      int64_t now_ns)
{
	const int dir = write ? 2 : 1;
	int64_t w = 0, x;
	int i;

	drain(s, now_ns);
	for (i = 0; i < QIMG_THR_BUCKETS; i += 3) {
		x = bucket_wait(s, i);
		w = x > w ? x : w;
		x = bucket_wait(s, i + dir);
		w = x > w ? x : w;
	}
	return w;
}

void qimg_throttle_account(struct qimg_throttle_state *s, bool write,
			   uint64_t bytes)
{
	const int dir = write ? 2 : 1;
	double ops = 1;
	int i;

	if (s->cfg.op_size && bytes > s->cfg.op_size)
		ops = (double)bytes / (double)s->cfg.op_size;
	for (i = 0; i < QIMG_THR_BUCKETS; i += 3) {
		double units = i == QIMG_THR_BPS_TOTAL ? (double)bytes : ops;
		int k;

		for (k = i; k <= i + dir; k += dir) {
			if (s->cfg.b[k].avg == 0)
				continue;
			s->level[k] += units;
			if (s->cfg.b[k].burst_length > 1)
				s->burst_level[k] += units;
		}
	}
}
