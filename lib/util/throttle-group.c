/* SPDX-License-Identifier: MIT */
/* throttle-group.h: definitions of throttle groups, and the waiting. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qimg/value.h"
#include "util/keyval.h"
#include "util/throttle-group.h"

/* The limits in QEMU's schema order (ThrottleLimits; the x- properties
 * are the same names with "x-" before them). */
static const char *const names[] = {
	"iops-total", "iops-total-max", "iops-total-max-length",
	"iops-read",  "iops-read-max",	"iops-read-max-length",
	"iops-write", "iops-write-max", "iops-write-max-length",
	"bps-total",  "bps-total-max",	"bps-total-max-length",
	"bps-read",   "bps-read-max",	"bps-read-max-length",
	"bps-write",  "bps-write-max",	"bps-write-max-length",
	"iops-size",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))
#define IOPS_SIZE (NNAMES - 1)

/* names[i]'s bucket: iops before bps in the names, bytes first in the
 * buckets. */
static int bucket_of(size_t i)
{
	static const int b[] = { QIMG_THR_OPS_TOTAL, QIMG_THR_OPS_READ,
				 QIMG_THR_OPS_WRITE, QIMG_THR_BPS_TOTAL,
				 QIMG_THR_BPS_READ,  QIMG_THR_BPS_WRITE };

	return b[i / 3];
}

static bool is_length(size_t i)
{
	return i != IOPS_SIZE && i % 3 == 2;
}

static size_t find_name(const char *s)
{
	size_t i;

	for (i = 0; i < NNAMES; i++)
		if (!strcmp(names[i], s))
			return i;
	return NNAMES;
}

/* Store value v of names[i] into the config. */
static void set_value(struct qimg_throttle_config *c, size_t i, int64_t v)
{
	struct qimg_throttle_limit *b;

	if (i == IOPS_SIZE) {
		c->op_size = (uint64_t)v;
		return;
	}
	b = &c->b[bucket_of(i)];
	if (i % 3 == 0)
		b->avg = (double)v;
	else if (i % 3 == 1)
		b->max = (double)v;
	else
		b->burst_length = (uint32_t)v;
}

bool qimg_throttle_group_type(const char *def)
{
	static const char t[] = "throttle-group";
	size_t n = strlen(t);

	return (!strncmp(def, t, n) && (def[n] == ',' || !def[n])) ||
	       strstr(def, "qom-type=throttle-group");
}

/* QEMU's keyval integers: optional sign, decimal, 0x hex or 0 octal, the
 * whole text, within int64. */
static bool parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!*s)
		return false;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* Key syntax: dot-separated, no empty piece. */
static bool key_ok(const char *k)
{
	size_t n = strlen(k);

	return n && k[0] != '.' && k[n - 1] != '.' && !strstr(k, "..");
}

struct parsed {
	struct qimg_kv kv;
	/* The last value given for each name, NULL when none. */
	const char *lim[NNAMES], *x[NNAMES];
	int64_t limv[NNAMES], xv[NNAMES];
	bool has_limits;
};

/* The QAPI visit: types of known members in schema order, then unknown
 * members (limits' first). */
static int visit(struct parsed *p, struct qimg_error *err)
{
	size_t i, j;

	for (i = 0; i < p->kv.n; i++) {
		const char *k = p->kv.k[i];

		if (!strncmp(k, "limits.", 7)) {
			const char *sub = k + 7;
			const char *dot = strchr(sub, '.');

			p->has_limits = true;
			if (dot) {
				char head[128];

				snprintf(head, sizeof(head), "%.*s",
					 (int)(dot - sub), sub);
				if (find_name(head) < NNAMES)
					return qimg_error_set(
						err, EINVAL,
						"Parameters 'limits.%s.*' are "
						"unexpected",
						head);
				continue;
			}
			if ((j = find_name(sub)) < NNAMES)
				p->lim[j] = p->kv.v[i];
		} else if (!strncmp(k, "x-", 2) &&
			   (j = find_name(k + 2)) < NNAMES) {
			p->x[j] = p->kv.v[i];
		}
	}
	for (i = 0; i < NNAMES; i++)
		if (p->lim[i] && !parse_int(p->lim[i], &p->limv[i]))
			return qimg_error_set(err, EINVAL,
					      "Parameter 'limits.%s' expects "
					      "integer",
					      names[i]);
	for (i = 0; i < p->kv.n; i++) {
		const char *k = p->kv.k[i];

		char head[128];

		if (strncmp(k, "limits.", 7))
			continue;
		snprintf(head, sizeof(head), "%.*s", (int)strcspn(k + 7, "."),
			 k + 7);
		if (find_name(head) == NNAMES)
			return qimg_error_set(err, EINVAL,
					      "Parameter 'limits.%s' is "
					      "unexpected",
					      head);
	}
	for (i = 0; i < NNAMES; i++)
		if (p->x[i] && !parse_int(p->x[i], &p->xv[i]))
			return qimg_error_set(err, EINVAL,
					      "Parameter 'x-%s' expects "
					      "integer",
					      names[i]);
	for (i = 0; i < p->kv.n; i++) {
		const char *k = p->kv.k[i];
		const char *dot = strchr(k, '.');
		size_t n = dot ? (size_t)(dot - k) : strlen(k);

		if (!strcmp(k, "qom-type") || !strcmp(k, "id") ||
		    !strncmp(k, "limits.", 7))
			continue;
		if (!strncmp(k, "x-", 2) && n > 2) {
			char head[128];

			snprintf(head, sizeof(head), "%.*s", (int)(n - 2),
				 k + 2);
			if (find_name(head) < NNAMES) {
				if (dot)
					return qimg_error_set(
						err, EINVAL,
						"Parameters '%.*s.*' are "
						"unexpected",
						(int)n, k);
				continue;
			}
		}
		return qimg_error_set(err, EINVAL,
				      "Parameter '%.*s' is unexpected", (int)n,
				      k);
	}
	return 0;
}

/* Setting one x- property: its own range. */
static int set_x(struct qimg_throttle_config *c, size_t i, int64_t v,
		 struct qimg_error *err)
{
	if (v < 0)
		return qimg_error_set(err, EINVAL,
				      "Property values cannot be negative");
	if (is_length(i) && v > UINT32_MAX)
		return qimg_error_set(err, EINVAL,
				      "x-%s value must be in therange [0, "
				      "%" PRIu32 "]",
				      names[i], UINT32_MAX);
	set_value(c, i, v);
	return 0;
}

/* Setting limits: the burst lengths' range (QEMU compares them signed, so
 * a negative one wraps), then every given value. */
static int set_limits(struct qimg_throttle_config *c, const struct parsed *p,
		      struct qimg_error *err)
{
	size_t i;

	for (i = 0; i < NNAMES; i++)
		if (p->lim[i] && is_length(i) && p->limv[i] > UINT32_MAX)
			return qimg_error_set(err, EINVAL,
					      "%s value must be in the range "
					      "[0, %" PRIu32 "]",
					      names[i], UINT32_MAX);
	for (i = 0; i < NNAMES; i++)
		if (p->lim[i])
			set_value(c, i, p->limv[i]);
	return 0;
}

/* The properties in the order QEMU sets them (its dict's order). */
static int set_all(struct qimg_throttle_config *c, const struct parsed *p,
		   struct qimg_error *err)
{
	struct qimg_value *d = qimg_value_dict();
	size_t *idx = NULL, i, n;
	int r = 0;

	if (!d)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (p->has_limits)
		r = qimg_dict_put_int(d, "limits", -1);
	for (i = 0; r == 0 && i < NNAMES; i++) {
		char k[64];

		if (!p->x[i])
			continue;
		snprintf(k, sizeof(k), "x-%s", names[i]);
		r = qimg_dict_put_int(d, k, (int64_t)i);
	}
	n = qimg_value_count(d);
	if (r == 0 && n && !(idx = calloc(n, sizeof(*idx))))
		r = -ENOMEM;
	if (r < 0) {
		qimg_value_free(d);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (n)
		qimg_dict_qemu_order(d, idx);
	for (i = 0; r == 0 && i < n; i++) {
		int64_t which =
			qimg_value_get_int(qimg_value_at(d, idx[i], NULL));

		r = which < 0 ? set_limits(c, p, err)
			      : set_x(c, (size_t)which, p->xv[which], err);
	}
	free(idx);
	qimg_value_free(d);
	return r;
}

int qimg_throttle_group_parse(const char *def, struct qimg_throttle_group **out,
			      struct qimg_error *err)
{
	struct parsed p = { 0 };
	struct qimg_throttle_group *g = NULL;
	bool scalar = false, dotted = false;
	const char *id;
	size_t i;
	int r;

	*out = NULL;
	r = qimg_kv_split(def, &p.kv, err);
	if (r < 0)
		goto out;
	for (i = 0; i < p.kv.n; i++) {
		const char *k = p.kv.k[i];

		if (!key_ok(k)) {
			r = qimg_error_set(err, EINVAL,
					   "Invalid parameter '%s'", k);
			goto out;
		}
		scalar |= !strcmp(k, "limits");
		dotted |= !strncmp(k, "limits.", 7);
	}
	if (scalar && dotted) {
		r = qimg_error_set(err, EINVAL,
				   "Parameters 'limits.*' used inconsistently");
		goto out;
	}
	id = qimg_kv_get(&p.kv, "id");
	if (!id) {
		r = qimg_error_set(err, EINVAL, "Parameter 'id' is missing");
		goto out;
	}
	if (scalar) {
		r = qimg_error_set(err, EINVAL,
				   "Invalid parameter type for 'limits', "
				   "expected: object");
		goto out;
	}
	r = visit(&p, err);
	if (r < 0)
		goto out;
	if (!qimg_kv_is_identifier(id)) {
		r = qimg_kv_bad_identifier(err);
		goto out;
	}
	g = calloc(1, sizeof(*g));
	if (!g || !(g->id = strdup(id))) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	qimg_throttle_config_init(&g->cfg);
	r = set_all(&g->cfg, &p, err);
	if (r < 0)
		goto out;
	pthread_mutex_init(&g->lock, NULL);
	qimg_throttle_state_init(&g->st, &g->cfg, 0);
	g->st.last_ns = -1; /* started by the first request */
	*out = g;
	g = NULL;
out:
	if (g) {
		free(g->id);
		free(g);
	}
	qimg_kv_free(&p.kv);
	return r;
}

void qimg_throttle_group_free(struct qimg_throttle_group *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->lock);
	free(g->id);
	free(g);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void qimg_throttle_group_io(struct qimg_throttle_group *g, bool write,
			    uint64_t bytes)
{
	int64_t wait;

	if (!qimg_throttle_config_enabled(&g->cfg))
		return;
	pthread_mutex_lock(&g->lock);
	if (g->st.last_ns < 0)
		g->st.last_ns = now_ns();
	while ((wait = qimg_throttle_wait_ns(&g->st, write, now_ns())) > 0) {
		struct timespec ts = { .tv_sec = wait / 1000000000,
				       .tv_nsec = wait % 1000000000 };

		pthread_mutex_unlock(&g->lock);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		pthread_mutex_lock(&g->lock);
	}
	qimg_throttle_account(&g->st, write, bytes);
	pthread_mutex_unlock(&g->lock);
}

void qimg_throttle_group_set_config(struct qimg_throttle_group *g,
				    const struct qimg_throttle_config *c)
{
	pthread_mutex_lock(&g->lock);
	g->cfg = *c;
	qimg_throttle_state_init(&g->st, &g->cfg, 0);
	g->st.last_ns = -1;
	pthread_mutex_unlock(&g->lock);
}
