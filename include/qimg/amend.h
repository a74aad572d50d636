/* SPDX-License-Identifier: MIT */
/* Changing the options of an existing image in place (qemu-img amend):
 * which options a format can change, their validation with qemu-img's
 * messages, and the change itself. */
#ifndef QIMG_AMEND_H
#define QIMG_AMEND_H

#include <stdbool.h>
#include <stdint.h>

#include "qimg/error.h"
#include "qimg/opts.h"

struct qimg_node;

/* How to amend. */
struct qimg_amend_opts {
	/* --force: allow what qemu-img only does when forced (LUKS: erasing
	 * the last keyslot). */
	bool force;
	/* Called with the work done out of the work known so far, as the
	 * format counts it (qemu-img prints 100 * done / total); total may
	 * grow, so the fraction may go back.  May be NULL. */
	void (*progress)(void *opaque, uint64_t done, uint64_t total);
	void *opaque;
};

/* The options images of `format` can amend (NULL-name terminated), for
 * `-o help`.  NULL with err set when there are none: "Unknown file format
 * 'X'" for a name qemu-img does not know either, "Format driver 'X' does
 * not support option amendment" for a driver without amendment, and
 * qimg's "not supported yet" for a qemu-img format qimg lacks. */
const struct qimg_opt_desc *qimg_format_amend_opts(const char *format,
						   struct qimg_error *err);

/* The options the format of the open image `node` can amend, or NULL with
 * "Format driver 'X' does not support option amendment". */
const struct qimg_opt_desc *qimg_node_amend_opts(const struct qimg_node *node,
						 struct qimg_error *err);

/* Check `opts` (parsed -o text) against what node's format can amend and
 * type them, as qemu-img does: the first bad element in the order given
 * is reported ("Invalid parameter 'bogus'", "Parameter 'size' expects
 * ..."); when the whole list would be valid create options, a name that
 * only creation takes gets a second line, "This option is only supported
 * for image creation".  *create_valid (may be NULL) tells the caller that
 * the list was also checked against the create options (qemu-img prints
 * the hex-suffix warnings of that second parse too). */
int qimg_amend_validate(const struct qimg_node *node, struct qimg_opts *opts,
			bool *create_valid, struct qimg_error *err);

/* Amend the image `node` (open read-write with its backing chain) with
 * `opts` (validated as above; validated again here).  What changes, in
 * which order and what is refused is the format's (lib/formats/qcow2/
 * amend.c for qcow2).  A failure may leave some of the requested changes
 * made (those qemu-img makes before the failing one), never an
 * inconsistent image.  Call qimg_flush afterwards. */
int qimg_amend(struct qimg_node *node, struct qimg_opts *opts,
	       const struct qimg_amend_opts *o, struct qimg_error *err);

#endif
