/* SPDX-License-Identifier: MIT */
/* `convert --bitmaps [--skip-broken-bitmaps]`: the source's persistent
 * bitmaps checked before the target is created, and copied to it after
 * the data (so the copy itself dirties none), each as qemu-img does it: a
 * new bitmap of the same granularity and state, then a merge from the
 * source.  QEMU walks an image's bitmaps newest first, so its messages
 * name the directory's last bitmap first; the target's directory ends up
 * in the source's order all the same. */
#include <stdio.h>

#include "convert.h"
#include "qimg/bitmap.h"

int convert_check_bitmaps(const struct tool *t, struct qimg_node *src,
			  bool skip_broken)
{
	struct qimg_error err = { 0 };
	struct qimg_bitmap_info *b;
	size_t n, i;
	int r;

	if (!qimg_bitmap_supported(src)) {
		tool_err(t, "Source lacks bitmap support");
		return -1;
	}
	r = qimg_bitmap_list(src, &b, &n, &err);
	if (r < 0) {
		tool_err(t, "%s", tool_errmsg(r, &err));
		return -1;
	}
	for (i = n; !skip_broken && i-- > 0;) {
		if (!b[i].inconsistent)
			continue;
		tool_err(t, "Cannot copy inconsistent bitmap '%s'", b[i].name);
		fputs("Try --skip-broken-bitmaps, or use 'qemu-img bitmap "
		      "--remove' to delete it\n",
		      stderr);
		qimg_bitmap_info_free(b, n);
		return -1;
	}
	qimg_bitmap_info_free(b, n);
	return 0;
}

int convert_copy_bitmaps(const struct tool *t, struct qimg_node *src,
			 struct qimg_node *dst, bool skip_broken)
{
	struct qimg_error err = { 0 };
	struct qimg_bitmap_info *b;
	size_t n, i;
	int r;

	r = qimg_bitmap_list(src, &b, &n, &err);
	if (r < 0) {
		tool_err(t, "%s", tool_errmsg(r, &err));
		return -1;
	}
	for (i = n; r == 0 && i-- > 0;) {
		if (skip_broken && b[i].inconsistent) {
			tool_warn(t, "Skipping inconsistent bitmap '%s'",
				  b[i].name);
			continue;
		}
		r = qimg_bitmap_add(dst, b[i].name, true,
				    (uint32_t)b[i].granularity, !b[i].enabled,
				    &err);
		if (r < 0) {
			tool_err(t, "Failed to create bitmap %s: %s", b[i].name,
				 tool_errmsg(r, &err));
			break;
		}
		r = qimg_bitmap_merge(dst, b[i].name, src, b[i].name, &err);
		if (r < 0) {
			tool_err(t, "Failed to populate bitmap %s: %s",
				 b[i].name, tool_errmsg(r, &err));
			(void)qimg_bitmap_remove(dst, b[i].name, NULL);
		}
	}
	qimg_bitmap_info_free(b, n);
	return r < 0 ? -1 : 0;
}
