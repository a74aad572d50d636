/* SPDX-License-Identifier: MIT */
/* Persistent dirty bitmaps: list them and change them the way qemu-img's
 * `bitmap` command does (QEMU's block-dirty-bitmap-* operations).  A
 * bitmap records which guest areas were written since it was created or
 * last cleared; the format keeps it in the image (qcow2 v3).  Changes are
 * made in memory and written to the image when it is closed, except a
 * removal, which reaches the image at once.  Errors carry qemu-img's texts;
 * "Dirty bitmap 'X' not found" is ENOENT. */
#ifndef QIMG_BITMAP_H
#define QIMG_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qimg/error.h"

struct qimg_node;

struct qimg_bitmap_info {
	char *name;
	uint64_t granularity; /* bytes per bit */
	bool enabled;	      /* records guest writes ("auto") */
	bool inconsistent;    /* found in use: not closed cleanly */
};

/* The bitmaps of `node` (a format node), in the image's order, bitmaps
 * added since the open last.  *out is malloc'd (free with
 * qimg_bitmap_info_free); none (or a format without bitmaps): *n == 0. */
int qimg_bitmap_list(struct qimg_node *node, struct qimg_bitmap_info **out,
		     size_t *n, struct qimg_error *err);
void qimg_bitmap_info_free(struct qimg_bitmap_info *v, size_t n);

/* True if the image can hold persistent bitmaps (qcow2 v3). */
bool qimg_bitmap_supported(struct qimg_node *node);

/* Add an enabled (unless `disabled`), persistent bitmap.  Without
 * has_granularity the granularity is the cluster size within 4 KiB ..
 * 64 KiB.  Read-write nodes only. */
int qimg_bitmap_add(struct qimg_node *node, const char *name,
		    bool has_granularity, uint32_t granularity, bool disabled,
		    struct qimg_error *err);
/* Delete a bitmap (from the image at once). */
int qimg_bitmap_remove(struct qimg_node *node, const char *name,
		       struct qimg_error *err);
/* Clear every bit. */
int qimg_bitmap_clear(struct qimg_node *node, const char *name,
		      struct qimg_error *err);
/* Start (enable true) or stop recording guest writes. */
int qimg_bitmap_enable(struct qimg_node *node, const char *name, bool enable,
		       struct qimg_error *err);
/* Set in bitmap `name` of `node` every bit set in bitmap `src_name` of
 * `src` (which may be node itself, or another image of the same virtual
 * size); granularities may differ. */
int qimg_bitmap_merge(struct qimg_node *node, const char *name,
		      struct qimg_node *src, const char *src_name,
		      struct qimg_error *err);

/* Read bitmap `name` for [off, off+len) (an NBD export's
 * qemu:dirty-bitmap context): *dirty is the state of the bit covering off
 * and *run (> 0, <= len) the bytes from off in that state.  Not found:
 * ENOENT; inconsistent: EINVAL, with QEMU's messages. */
int qimg_bitmap_status(struct qimg_node *node, const char *name, uint64_t off,
		       uint64_t len, bool *dirty, uint64_t *run,
		       struct qimg_error *err);

#endif
