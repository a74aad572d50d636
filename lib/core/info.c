/* SPDX-License-Identifier: MIT */
/* Gathering what `info` shows of one image: the core's part (names, sizes,
 * backing reference) and the driver's part (get_info). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"

static int dup_or_null(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

int qimg_get_image_info(struct qimg_node *node, struct qimg_image_info *out,
			struct qimg_error *err)
{
	int r = 0;

	memset(out, 0, sizeof(*out));
	out->virtual_size = node->size;
	out->actual_size = qimg_allocated_size(node);
	out->filename = qimg_node_display_name(node);
	r |= !out->filename;
	r |= dup_or_null(node->drv->name, &out->format);
	if (node->backing_filename && node->backing_filename[0]) {
		r |= dup_or_null(node->backing_filename,
				 &out->backing_filename);
		r |= dup_or_null(node->full_backing_filename,
				 &out->full_backing_filename);
		r |= dup_or_null(node->backing_format, &out->backing_format);
	}
	if (r) {
		qimg_image_info_free(out);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (node->drv->get_info) {
		r = node->drv->get_info(node, out, err);
		if (r < 0) {
			qimg_image_info_free(out);
			return r;
		}
	}
	return 0;
}

int qimg_child_info(struct qimg_node *child, struct qimg_image_info *info,
		    struct qimg_error *err)
{
	return child && child->drv->get_info
		       ? child->drv->get_info(child, info, err)
		       : 0;
}

void qimg_image_info_free(struct qimg_image_info *info)
{
	if (!info)
		return;
	free(info->filename);
	free(info->format);
	free(info->backing_filename);
	free(info->full_backing_filename);
	free(info->backing_format);
	qimg_value_free(info->format_specific);
	qimg_value_free(info->snapshots);
	memset(info, 0, sizeof(*info));
}
