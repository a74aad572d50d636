/* SPDX-License-Identifier: MIT */
/* Image creation and size measurement. */
#ifndef QIMG_CREATE_H
#define QIMG_CREATE_H

#include <stdbool.h>
#include <stdint.h>

#include "qimg/error.h"
#include "qimg/opts.h"

struct qimg_node;

/* Create `filename` in `format` with the options in `opts` (already parsed;
 * "size", "backing_file", "backing_fmt" are ordinary options there).  The
 * core validates the options against the format's and the file protocol's
 * schemas, lets the driver validate them, and only then creates the file; on
 * failure a file that did not exist before is removed again. */
int qimg_create(const char *filename, const char *format,
		struct qimg_opts *opts, struct qimg_error *err);
struct qimg_objects;
/* The same with the --object table the options may name (secrets:
 * encrypt.key-secret=ID, key-secret=ID); NULL: none. */
int qimg_create_objects(const char *filename, const char *format,
			struct qimg_opts *opts,
			const struct qimg_objects *objects,
			struct qimg_error *err);

/* The format and protocol schemas, for `-o help` and the Formatting line.
 * Returns NULL for an unknown format.  *can_create is false for read-only
 * formats. */
const struct qimg_opt_desc *
qimg_format_create_opts(const char *format, bool *can_create, bool *known);
const struct qimg_opt_desc *qimg_protocol_create_opts(void);
/* The create options of the protocol that `filename` names ("nbd:...",
 * "file:...", a plain path); NULL with "Unknown protocol 'X'" in err when
 * no driver has its prefix, or with "... does not support image creation"
 * for a protocol that cannot create (null-co, blkdebug). */
const struct qimg_opt_desc *
qimg_protocol_create_opts_for(const char *filename, struct qimg_error *err);

/* True if `name` names any driver, format or protocol (what qemu-img
 * accepts as a backing format in rebase -F). */
bool qimg_driver_known(const char *name);
/* True if `format` names a registered format driver. */
bool qimg_format_known(const char *format);
/* True if the format stores a backing file reference. */
bool qimg_format_supports_backing(const char *format);
/* True if the format can write compressed clusters. */
bool qimg_format_supports_compression(const char *format);
/* Fill err for a format qimg has no driver for: qemu-img's "Unknown driver"
 * (open) or "Unknown file format" (create) for names nobody knows, a clear
 * "not supported yet" for qemu-img formats still to come, and qemu-img's
 * "does not support image creation" for read-only ones.  Returns -errno. */
int qimg_format_missing_error(const char *format, bool open,
			      struct qimg_error *err);

struct qimg_measure {
	uint64_t required;
	uint64_t fully_allocated;
	bool has_bitmaps;
	uint64_t bitmaps;
};

/* Size a new image of `format` with create options `opts` would need: for
 * `size` bytes of virtual disk (in == NULL) or holding the content of `in`
 * (through its chain).  -ENOTSUP if the format cannot measure. */
int qimg_measure(const char *format, struct qimg_opts *opts,
		 struct qimg_node *in, uint64_t size, struct qimg_measure *out,
		 struct qimg_error *err);
/* The same with the --object table the options may name; NULL: none. */
int qimg_measure_objects(const char *format, struct qimg_opts *opts,
			 const struct qimg_objects *objects,
			 struct qimg_node *in, uint64_t size,
			 struct qimg_measure *out, struct qimg_error *err);

#endif
