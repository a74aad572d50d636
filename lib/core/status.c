/* SPDX-License-Identifier: MIT */
/* Block status: one layer (with the driver's RAW delegation and the host
 * file's holes folded in) and the walk down a backing chain that `map`,
 * `compare` and `convert` use.  Drivers describe only their own layer. */

#include <errno.h>
#include <string.h>

#include "core/driver.h"

/* Ask the child `file` about [map, map+len), through the core.  A filter
 * over a format (blkdebug over qcow2) passes through to the format's whole
 * chain. */
static int status_above(struct qimg_node *node, struct qimg_node *base,
			uint64_t off, uint64_t len, struct qimg_extent *ext,
			bool copy, struct qimg_error *err);
static int status_layer(struct qimg_node *node, uint64_t off, uint64_t len,
			struct qimg_extent *ext, bool copy,
			struct qimg_error *err);

static int file_status(struct qimg_node *file, uint64_t map, uint64_t len,
		       struct qimg_extent *fe, bool copy,
		       struct qimg_error *err)
{
	if (file->drv->kind == QIMG_DRIVER_FORMAT)
		return status_above(file, NULL, map, len, fe, copy, err);
	return status_layer(file, map, len, fe, copy, err);
}

int qimg_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
		      struct qimg_extent *ext, struct qimg_error *err)
{
	/* A filter's layer is its image's. */
	node = qimg_node_image(node);
	return status_layer(node, off, len, ext, false, err);
}

/* copy: the caller only copies data (convert), so a driver's status that
 * qemu-img does not report (status_copy_only) may speed it up. */
static int status_layer(struct qimg_node *node, uint64_t off, uint64_t len,
			struct qimg_extent *ext, bool copy,
			struct qimg_error *err)
{
	/* (A growing node's size moves under concurrent writes.) */
	uint64_t size = __atomic_load_n(&node->size, __ATOMIC_RELAXED);
	struct qimg_extent fe;
	int r;

	memset(ext, 0, sizeof(*ext));
	/* A protocol that cannot tell where its data is counts in whole
	 * sectors, as qemu-img's block layer: a partial last sector is data
	 * to its end. */
	if (!node->drv->block_status &&
	    node->drv->kind == QIMG_DRIVER_PROTOCOL && size % 512 &&
	    size < UINT64_MAX - 511)
		size = (size + 511) & ~511ull;
	/* A node that grows (a file) answers past its end itself (zeros;
	 * with O_DIRECT a partial last block counts whole). */
	if (len == 0 || (off >= size && !node->limits.grows)) {
		ext->len = 0;
		ext->flags = QIMG_BS_ZERO | QIMG_BS_EOF;
		return 0;
	}
	if (len > size - off && !node->limits.grows)
		len = size - off;
	if (!node->drv->block_status ||
	    (node->drv->status_copy_only && !copy)) {
		ext->len = len;
		ext->flags = QIMG_BS_DATA | QIMG_BS_ALLOCATED;
		if (node->drv->kind == QIMG_DRIVER_PROTOCOL) {
			/* Where bytes live: at the same offset of itself. */
			ext->flags |= QIMG_BS_OFFSET_VALID;
			ext->map = off;
			ext->file = node;
		}
		return 0;
	}
	/* A serial driver's tables and caches change under its reads and
	 * writes: its status is asked under the same lock. */
	if (node->drv->threads == QIMG_THREADS_SERIAL)
		pthread_mutex_lock(&node->lock);
	r = node->drv->block_status(node, off, len, ext, err);
	if (node->drv->threads == QIMG_THREADS_SERIAL)
		pthread_mutex_unlock(&node->lock);
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
		r = file_status(ext->file, ext->map, ext->len, &fe, copy, err);
		if (r < 0)
			return r;
		if (fe.len == 0) {
			/* Past the child's end: reads as zeros. */
			fe.len = ext->len;
			fe.flags = QIMG_BS_ZERO | QIMG_BS_OFFSET_VALID;
			fe.map = ext->map;
		}
		ext->len = fe.len < ext->len ? fe.len : ext->len;
		/* Allocated when the child says anything about the data. */
		ext->flags = fe.flags & ~(QIMG_BS_RAW | QIMG_BS_EOF);
		if (ext->flags & (QIMG_BS_DATA | QIMG_BS_ZERO))
			ext->flags |= QIMG_BS_ALLOCATED;
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
		r = file_status(ext->file, ext->map, ext->len, &fe, copy, err);
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
	return status_above(node, base, off, len, ext, false, err);
}

int qimg_block_status_for_copy(struct qimg_node *node, struct qimg_node *base,
			       uint64_t off, uint64_t len,
			       struct qimg_extent *ext, struct qimg_error *err)
{
	return status_above(node, base, off, len, ext, true, err);
}

static int status_above(struct qimg_node *node, struct qimg_node *base,
			uint64_t off, uint64_t len, struct qimg_extent *ext,
			bool copy, struct qimg_error *err)
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
		/* A filter is no layer of the chain: its child answers, at the
		 * same depth. */
		while (cur->drv->is_filter && cur->file && cur != base)
			cur = cur->file;
		r = status_layer(cur, off, len, ext, copy, err);
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
		/* No backing, or beyond its end: a format that could have a
		 * backing file reads as zeros there.  A host offset the layer
		 * reported (space reserved for the range) stays visible, as
		 * in qemu-img map.  Other nodes (null-co without
		 * read-zeroes) say nothing about the content. */
		if (cur->drv->supports_backing)
			ext->flags = QIMG_BS_ZERO |
				     (ext->flags & QIMG_BS_OFFSET_VALID);
		else
			ext->flags &= ~QIMG_BS_OFFSET_VALID;
		return 0;
	}
}
