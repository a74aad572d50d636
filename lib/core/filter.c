/* SPDX-License-Identifier: MIT */
/* What every filter driver (throttle, compress, copy-on-read, preallocate:
 * a format-kind node whose guest bytes are its file child's) does the same
 * way: take the child's size and limits, let block status and resizes
 * through, and answer info as the child does without a section of its
 * own. */

#include "core/driver.h"

void qimg_filter_inherit(struct qimg_node *node)
{
	const struct qimg_node *f = node->file;

	node->size = f->size;
	node->cluster_size = f->cluster_size;
	node->limits.request_align = f->limits.request_align;
	node->limits.mem_align = f->limits.mem_align;
	node->limits.max_transfer = f->limits.max_transfer;
	node->zero_init = f->zero_init;
}

int qimg_filter_flush(struct qimg_node *node, struct qimg_error *err)
{
	/* The core flushes the child after this. */
	return 0;
}

int qimg_filter_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			     struct qimg_extent *ext, struct qimg_error *err)
{
	ext->len = len;
	ext->flags = QIMG_BS_RAW | QIMG_BS_OFFSET_VALID;
	ext->map = off;
	ext->file = node->file;
	return 0;
}

int qimg_filter_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			 const char *prealloc, struct qimg_error *err)
{
	int r = qimg_truncate(node->file, size, flags, prealloc, err);

	if (r == 0)
		node->size = node->file->size;
	return r;
}

int qimg_filter_get_info(struct qimg_node *node, struct qimg_image_info *info,
			 struct qimg_error *err)
{
	int r = qimg_child_info(node->file, info, err);

	/* QEMU prints no format-specific section for a filter. */
	qimg_value_free(info->format_specific);
	info->format_specific = NULL;
	return r;
}
