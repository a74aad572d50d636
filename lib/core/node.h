/* SPDX-License-Identifier: MIT */
/* Core-internal helpers shared by node.c, create.c and friends. */
#ifndef QIMG_CORE_NODE_H
#define QIMG_CORE_NODE_H

#include "core/driver.h"

/* Open / close a bare protocol node for `filename`. */
int qimg_protocol_open(const char *filename, unsigned int flags,
		       enum qimg_cache_mode cache, struct qimg_node **out,
		       struct qimg_error *err);
void qimg_protocol_close(struct qimg_node *file);

/* Allocate / free a node (driver not opened). */
struct qimg_node *qimg_node_new(const struct qimg_driver *drv,
				const char *filename, unsigned int flags,
				enum qimg_cache_mode cache);
void qimg_node_free(struct qimg_node *n);

#endif
