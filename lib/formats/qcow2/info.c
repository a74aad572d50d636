/* SPDX-License-Identifier: MIT */
/* qcow2 part of `info`: cluster size, dirty and encryption flags and the
 * format-specific dict with qemu-img's members, inserted in the order of
 * QEMU's ImageInfoSpecificQCow2 schema (the renderer orders them as QEMU's
 * QDict would). */

#include <errno.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"

/* [{"flags": [...], "name": .., "granularity": ..}, ...] */
static int put_bitmaps(struct qcow2_state *s, struct qimg_value *d)
{
	struct qimg_error err = { 0 };
	struct qcow2_bitmap *b;
	struct qimg_value *list;
	size_t n, i;
	int r;

	/* A damaged directory only hides the list, as in qemu-img. */
	if (qcow2_bitmaps_read(s, &b, &n, &err) < 0 || !n)
		return 0;
	list = qimg_value_list();
	r = list ? 0 : -ENOMEM;
	for (i = 0; r == 0 && i < n; i++) {
		struct qimg_value *e = qimg_value_dict();
		struct qimg_value *fl = qimg_value_list();

		if (!e || !fl) {
			qimg_value_free(e);
			qimg_value_free(fl);
			r = -ENOMEM;
			break;
		}
		if (b[i].flags & 1)
			r = qimg_list_append(fl, qimg_value_str("in-use"));
		if (r == 0 && (b[i].flags & 2))
			r = qimg_list_append(fl, qimg_value_str("auto"));
		if (r == 0)
			r = qimg_dict_put(e, "flags", fl);
		else
			qimg_value_free(fl);
		if (r == 0)
			r = qimg_dict_put_str(e, "name", b[i].name);
		if (r == 0)
			r = qimg_dict_put_int(e, "granularity",
					      1ll << b[i].gran_bits);
		if (r == 0)
			r = qimg_list_append(list, e);
		else
			qimg_value_free(e);
	}
	qcow2_bitmaps_free(b, n);
	if (r == 0)
		return qimg_dict_put(d, "bitmaps", list);
	qimg_value_free(list);
	return r;
}

static int fill_data(struct qcow2_state *s, struct qimg_value *d)
{
	uint64_t inc = s->h.incompatible_features;
	int r;

	r = qimg_dict_put_str(d, "compat", s->h.version >= 3 ? "1.1" : "0.10");
	if (r == 0)
		r = qimg_dict_put_str(d, "compression-type",
				      s->h.compression_type ==
				      QCOW2_COMPRESS_ZSTD ? "zstd" : "zlib");
	if (r == 0 && s->h.version >= 3)
		r = qimg_dict_put_bool(d, "lazy-refcounts",
				       s->h.compatible_features &
				       QCOW2_COMPAT_LAZY_REFCOUNTS);
	if (r == 0 && s->h.version >= 3)
		r = put_bitmaps(s, d);
	if (r == 0)
		r = qimg_dict_put_int(d, "refcount-bits",
				      1ll << s->h.refcount_order);
	if (r == 0 && s->h.version >= 3 && s->ext.data_file)
		r = qimg_dict_put_str(d, "data-file", s->ext.data_file);
	if (r == 0 && s->h.version >= 3 && (inc & QCOW2_INCOMPAT_DATA_FILE))
		r = qimg_dict_put_bool(d, "data-file-raw",
				       s->h.autoclear_features &
				       QCOW2_AUTOCLEAR_DATA_FILE_RAW);
	if (r == 0 && s->h.version >= 3)
		r = qimg_dict_put_bool(d, "corrupt",
				       inc & QCOW2_INCOMPAT_CORRUPT);
	if (r == 0 && s->h.version >= 3)
		r = qimg_dict_put_bool(d, "extended-l2",
				       inc & QCOW2_INCOMPAT_EXTL2);
	return r;
}

int qcow2_get_info(struct qimg_node *node, struct qimg_image_info *info,
		   struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qimg_value *top, *data;

	info->has_info = true;
	info->cluster_size = (uint32_t)s->cluster_size;
	info->dirty = s->h.incompatible_features & QCOW2_INCOMPAT_DIRTY;
	info->encrypted = s->h.crypt_method != 0;
	top = qimg_value_dict();
	data = qimg_value_dict();
	if (!top || !data || qimg_dict_put_str(top, "type", "qcow2") < 0 ||
	    fill_data(s, data) < 0) {
		qimg_value_free(top);
		qimg_value_free(data);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (qimg_dict_put(top, "data", data) < 0) {
		qimg_value_free(top);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	info->format_specific = top;
	return 0;
}
