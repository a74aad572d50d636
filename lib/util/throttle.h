/* SPDX-License-Identifier: MIT */
/* I/O limits as QEMU's throttle groups apply them: six leaky buckets (bytes
 * and operations; total, read, write), each with an average rate, an
 * optional burst rate and a burst length in seconds.  A request may start
 * when no bucket of its direction is fuller than its burst allowance; it
 * then adds its bytes (or operations) to them, and they drain at their
 * average rate.  Without a burst rate a bucket still lets 1/10 s of its
 * average through at once, so that a few requests can be in flight.
 *
 * Everything here is pure arithmetic over a caller's clock (nanoseconds),
 * so that tests can drive it; util/throttle-group.c adds the lock, the
 * clock and the sleeping. */
#ifndef QIMG_UTIL_THROTTLE_H
#define QIMG_UTIL_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "qimg/error.h"

enum qimg_throttle_bucket_kind {
	QIMG_THR_BPS_TOTAL,
	QIMG_THR_BPS_READ,
	QIMG_THR_BPS_WRITE,
	QIMG_THR_OPS_TOTAL,
	QIMG_THR_OPS_READ,
	QIMG_THR_OPS_WRITE,
	QIMG_THR_BUCKETS
};

/* The largest rate (and burst rate times length) a group takes. */
#define QIMG_THROTTLE_VALUE_MAX 1000000000000000LL

struct qimg_throttle_limit {
	double avg;	       /* units per second, 0 = unlimited */
	double max;	       /* burst rate, 0 = none */
	uint64_t burst_length; /* seconds the burst rate may last (>= 1) */
};

struct qimg_throttle_config {
	struct qimg_throttle_limit b[QIMG_THR_BUCKETS];
	uint64_t op_size; /* a request of n bytes counts n/op_size ops */
};

/* A config with no limits (every burst length 1). */
void qimg_throttle_config_init(struct qimg_throttle_config *c);
/* 0, or EINVAL with qemu-img's words for the first problem in its order:
 * totals mixed with read/write values, an iops size without an iops
 * value, then per bucket (bytes before operations; total, read, write) a
 * value out of [0, 1e15], a burst length of 0, a burst length without a
 * burst rate, a burst length too long for the rate, a burst rate without
 * a rate, a burst rate below the rate. */
int qimg_throttle_config_check(const struct qimg_throttle_config *c,
			       struct qimg_error *err);
/* Whether any bucket limits anything. */
bool qimg_throttle_config_enabled(const struct qimg_throttle_config *c);

struct qimg_throttle_state {
	struct qimg_throttle_config cfg; /* burst rates filled in (avg/10) */
	double level[QIMG_THR_BUCKETS];
	double burst_level[QIMG_THR_BUCKETS];
	int64_t last_ns; /* when the buckets last drained */
};

/* Empty buckets for a checked config, as of now_ns. */
void qimg_throttle_state_init(struct qimg_throttle_state *s,
			      const struct qimg_throttle_config *c,
			      int64_t now_ns);
/* Drain the buckets up to now_ns, then the nanoseconds a request in this
 * direction must still wait before it starts (0: it may start now). */
int64_t qimg_throttle_wait_ns(struct qimg_throttle_state *s, bool write,
			      int64_t now_ns);
/* Count a request of `bytes` that starts now. */
void qimg_throttle_account(struct qimg_throttle_state *s, bool write,
			   uint64_t bytes);

#endif
