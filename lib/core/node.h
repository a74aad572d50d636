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

/* The plain name (qimg_node_exact_filename) of the first node from n down
 * its file children (or a filter's "image") that has one, as QEMU finds a
 * node's directory; NULL when none has (or n is NULL), *last then the node
 * the search ended at.  malloc'd. */
char *qimg_node_base_name(const struct qimg_node *n,
			  const struct qimg_node **last);

/* Allocate / free a node (driver not opened). */
struct qimg_node *qimg_node_new(const struct qimg_driver *drv,
				const char *filename, unsigned int flags,
				enum qimg_cache_mode cache);
void qimg_node_free(struct qimg_node *n);
/* A driver's warning, through the open call's sink (if any). */
void qimg_node_warn(const struct qimg_node *node, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The protocol driver a filename selects: "PREFIX:..." (colon before any
 * '/') names one by its prefix ("Unknown protocol 'X'" when none has it),
 * anything else the default protocol. */
int qimg_protocol_lookup(const char *filename, const struct qimg_driver **out,
			 struct qimg_error *err);

/* The protocol driver of a filename and the path it names (its "filename"
 * option: "file:a:b" gives "a:b"; malloc'd). */
int qimg_protocol_resolve(const char *filename, const struct qimg_driver **drv,
			  char **path, struct qimg_error *err);

#endif
