/* SPDX-License-Identifier: MIT */
/* Options trees of nodes (options.c); the public parsers are declared in
 * include/qimg/image.h. */
#ifndef QIMG_CORE_OPTIONS_H
#define QIMG_CORE_OPTIONS_H

#include "core/driver.h"

/* Expand dotted keys of dict (and of the dicts below it) into nested
 * dicts, in place. */
int qimg_options_normalize(struct qimg_value *dict);

/* True if `key` of a node of drv's options is a child's subtree. */
bool qimg_options_is_child(const struct qimg_driver *drv, const char *key);

/* Append the node's own keys of dict (children's subtrees left out) to o,
 * flattened with dots, scalars as text ("on"/"off" for booleans). */
int qimg_options_own(const struct qimg_driver *drv,
		     const struct qimg_value *dict, struct qimg_opts *o);

/* Append the scalars of v to o as "prefix.key..." pairs (v itself when it is
 * a scalar: "prefix"). */
int qimg_options_flatten(struct qimg_opts *o, const char *prefix,
			 const struct qimg_value *v);

/* What QEMU's block layer checks of every node before its driver opens
 * it, in its order: the types of the options every node takes, the file
 * name a driver needs (non-empty text), discard, detect-zeroes (unmap only
 * with discard=unmap) and the node-name's form (a letter, then letters,
 * digits, '-', '.', '_'; whether it is free and fits is the name set's to
 * say, qimg_node_names_claim).  options: the node's tree; o: its own keys,
 * flattened. */
int qimg_options_check_node(const struct qimg_driver *drv,
			    const struct qimg_value *options,
			    const struct qimg_opts *o, struct qimg_error *err);
/* Refuse keys neither the core nor drv takes (qemu-img's texts) and
 * type-check the rest. */
int qimg_options_check(const struct qimg_driver *drv, struct qimg_opts *o,
		       struct qimg_error *err);
/* The first key of o neither the core nor drv takes, or NULL; and the
 * error qemu-img gives for it. */
const char *qimg_options_unknown(const struct qimg_driver *drv,
				 const struct qimg_opts *o);
int qimg_options_unknown_error(const struct qimg_driver *drv, const char *name,
			       struct qimg_error *err);

/* True if dict gives one of drv's strong options. */
/* The value at a dotted path ("encrypt.key-secret") of an options tree,
 * or NULL. */
struct qimg_value *qimg_options_get_path(const struct qimg_value *dict,
					 const char *path);
bool qimg_options_strong(const struct qimg_driver *drv,
			 const struct qimg_value *dict);

#endif
