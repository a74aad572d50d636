/* SPDX-License-Identifier: MIT */
/* Throttle groups (--object throttle-group,id=ID,...): a set of I/O limits
 * that every throttle filter node naming the group shares, so that their
 * requests together stay within them.  Definitions are parsed and checked
 * as qemu-img checks them, in its order and with its words: the syntax, the
 * id, the types of the known properties (limits.* then x-*, in QEMU's
 * schema order), unknown properties, the id's form, each property's own
 * range (in the order QEMU sets them), then the limits as a whole. */
#ifndef QIMG_UTIL_THROTTLE_GROUP_H
#define QIMG_UTIL_THROTTLE_GROUP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "qimg/error.h"
#include "util/throttle.h"

struct qimg_throttle_group {
	char *id;
	struct qimg_throttle_config cfg;
	pthread_mutex_t lock; /* guards st */
	struct qimg_throttle_state st;
};

/* Whether a definition names the throttle-group type. */
bool qimg_throttle_group_type(const char *def);
/* Parse a definition and check each property; *out is freed with
 * qimg_throttle_group_free.  The limits as a whole are checked by
 * qimg_throttle_config_check(&g->cfg), which qemu-img does after it has
 * made sure the id is new. */
int qimg_throttle_group_parse(const char *def, struct qimg_throttle_group **out,
			      struct qimg_error *err);
void qimg_throttle_group_free(struct qimg_throttle_group *g);
/* Give the group new (checked) limits with empty buckets, as a -drive
 * naming an existing group does in QEMU (the last one sets them). */
void qimg_throttle_group_set_config(struct qimg_throttle_group *g,
				    const struct qimg_throttle_config *c);

/* Wait until a request of `bytes` in this direction may start under the
 * group's limits, then count it.  Safe from any thread. */
void qimg_throttle_group_io(struct qimg_throttle_group *g, bool write,
			    uint64_t bytes);

#endif
