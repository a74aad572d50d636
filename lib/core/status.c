/* SPDX-License-Identifier: MIT */
/* Block status: one layer (with the driver's RAW delegation and the host
 * file's holes folded in) and the walk down a backing chain that `map`,
 * `compare` and `convert` use.  Drivers describe only their own layer. */

#include <errno.h>
#include <string.h>

#include "core/driver.h"

/* Ask the protocol (or child) node `file` about [map, map+len). */
static int file_status(struct qimg_node *file, uint64_t map, uint64_t len,
		       struct qimg_extent *fe, struct qimg_error *err)
{
	memset(fe, 0, sizeof(*fe));
	if (!file->drv->block_status) {
		fe->len = len;
		fe->flags =
			QIMG_BS_DATA | QIMG_BS_OFFSET_VALID | QIMG_BS_ALLOCATED;
		fe->map = map;
		fe->file = file;
		return 0;
	}
	return file->drv->block_status(file, map, len, fe, err);
}

int qimg_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
		      struct qimg_extent *ext, struct qimg_error *err)
{
	struct qimg_extent fe;
	int r;

	memset(ext, 0, sizeof(*ext));
	if (len == 0 || off >= node->size) {
		ext->len = 0;
		ext->flags = QIMG_BS_ZERO | QIMG_BS_EOF;
		return 0;
	}
	if (len > node->size - off)
		len = node->size - off;
	if (!node->drv->block_status) {
		ext->len = len;
		ext->flags = QIMG_BS_DATA | QIMG_BS_ALLOCATED;
		return 0;
	}
	r = node->drv->block_status(node, off, len, ext, err);
	if (r < 0)
		return r;
	if (ext->len == 0 || ext->len > len)
		return qimg_error_set(err, EIO,
				      "Driver '%s' returned a bad block "
				      "status length",
				      node->drv->name);
	if (ext->flags & (QIMG_BS_DATA | QIMG_BS_ZERO))
		ext->flags |= QIMG_BS_ALLOCATED;

	if ((ext->flags & QIMG_BS_RAW) && ext->file) {
		/* The layer passes through: the child decides. */
		r = file_status(ext->file, ext->map, ext->len, &fe, err);
		if (r < 0)
			return r;
		if (fe.len == 0) {
			/* Past the child's end: reads as zeros. */
			fe.len = ext->len;
			fe.flags = QIMG_BS_ZERO | QIMG_BS_OFFSET_VALID;
			fe.map = ext->map;
		}
		ext->len = fe.len < ext->len ? fe.len : ext->len;
		ext->flags = (fe.flags & ~(QIMG_BS_RAW | QIMG_BS_EOF)) |
			     QIMG_BS_ALLOCATED;
		ext->map = fe.map;
		if (fe.file)
			ext->file = fe.file;
		return 0;
	}
	if ((ext->flags & QIMG_BS_RECURSE) && (ext->flags & QIMG_BS_DATA) &&
	    !(ext->flags & QIMG_BS_ZERO) &&
	    (ext->flags & QIMG_BS_OFFSET_VALID) && ext->file &&
	    ext->file != node) {
		/* The driver knows its data clusters may be host holes
		 * (metadata preallocation): a hole there reads as zero, so say
		 * so, as qemu-img map does. */
		r = file_status(ext->file, ext->map, ext->len, &fe, err);
		if (r == 0) {
			if ((fe.flags & QIMG_BS_EOF) &&
			    (fe.len == 0 || (fe.flags & QIMG_BS_ZERO))) {
				ext->flags |= QIMG_BS_ZERO;
			} else if (fe.len > 0) {
				ext->len =
					fe.len < ext->len ? fe.len : ext->len;
				ext->flags |= fe.flags & QIMG_BS_ZERO;
			}
		} else {
			qimg_error_clear(err);
		}
	}
	ext->flags &= ~QIMG_BS_RECURSE;
	return 0;
}

int qimg_block_status_above(struct qimg_node *node, struct qimg_node *base,
			    uint64_t off, uint64_t len, struct qimg_extent *ext,
			    struct qimg_error *err)
{
	struct qimg_node *cur = node;
	int depth = 0, r;

	if (off >= node->size || len == 0) {
		memset(ext, 0, sizeof(*ext));
		ext->flags = QIMG_BS_EOF;
		return 0;
	}
	if (len > node->size - off)
		len = node->size - off;
	for (;;) {
		r = qimg_block_status(cur, off, len, ext, err);
		if (r < 0)
			return r;
		ext->depth = depth;
		if (ext->flags & (QIMG_BS_DATA | QIMG_BS_ZERO))
			return 0;
		len = ext->len;
		/* Unallocated in this layer. */
		if (cur->backing && off < cur->backing->size) {
			uint64_t rest = cur->backing->size - off;

			if (cur->backing == base)
				return 0; /* left to the base: unallocated */
			if (len > rest)
				len = rest;
			cur = cur->backing;
			depth++;
			continue;
		}
		/* No backing, or beyond its end: reads as zeros.  A host
		 * offset the layer reported (space reserved for the range)
		 * stays visible, as in qemu-img map. */
		ext->flags = QIMG_BS_ZERO | (ext->flags & QIMG_BS_OFFSET_VALID);
		return 0;
	}
}
