/* SPDX-License-Identifier: MIT */
/* `qimg drives --output=json`: the drives as QEMU's QMP command
 * query-block returns them (BlockInfo: device, type, removable, locked,
 * tray_open, io-status, and for a drive with an image "inserted": the
 * node's file, format, read-only state, cache, backing chain depth,
 * throttling, and the image's info with its backing images nested).  The
 * qdev path of QEMU's device objects is left out: qimg makes none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qimg/info.h"
#include "drive.h"

/* ImageInfo of img, its backing chain nested as backing-image. */
static struct qimg_value *image_value(struct qimg_node *img)
{
	struct qimg_image_info info = { 0 };
	struct qimg_error err = { 0 };
	struct qimg_value *v, *b;
	struct qimg_node *bk;

	if (qimg_get_image_info(img, &info, &err) < 0)
		return NULL;
	v = tool_info_to_value(&info);
	qimg_image_info_free(&info);
	bk = qimg_node_backing(img);
	if (v && bk) {
		b = image_value(qimg_node_image(bk));
		if (!b || qimg_dict_put(v, "backing-image", b)) {
			qimg_value_free(v);
			return NULL;
		}
	}
	return v;
}

static int put_throttling(struct qimg_value *ins, const struct drive *d,
			  const struct drive *g)
{
	static const char *const names[] = {
		"bps",	      "bps_rd",	    "bps_wr",	   "bps_max",
		"bps_rd_max", "bps_wr_max", "iops",	   "iops_rd",
		"iops_wr",    "iops_max",   "iops_rd_max", "iops_wr_max",
		"iops_size",
	};
	int r = 0;

	for (int i = 0; i < 13; i++) {
		unsigned long long v = g ? g->thr[i] : 0;

		/* The rates always; burst rates and the op size when set. */
		if (i < 3 || (i >= 6 && i < 9) || v)
			r |= qimg_dict_put_int(ins, names[i], (int64_t)v);
	}
	/* A burst rate's length (1 s unless given). */
	for (int b = 0; g && b < 6; b++) {
		static const int max_at[6] = { 3, 4, 5, 9, 10, 11 };
		char key[32];

		if (!g->thr[max_at[b]])
			continue;
		snprintf(key, sizeof(key), "%s_length", names[max_at[b]]);
		r |= qimg_dict_put_int(ins, key, (int64_t)g->thr_len[b]);
	}
	if (g)
		r |= qimg_dict_put_str(ins, "group", d->throttle_group);
	return r;
}

struct qimg_value *drive_to_value(const struct drive *d,
				  const struct drive *group_setter,
				  const char *auto_name)
{
	struct qimg_value *v = qimg_value_dict(), *ins, *cache, *image;
	struct qimg_node *img, *b;
	bool removable = d->cdrom || d->type == DRIVE_IF_FLOPPY ||
			 d->type == DRIVE_IF_SD || d->type == DRIVE_IF_NONE;
	char *name;
	int depth = 0, r = 0;

	if (!v)
		return NULL;
	r |= qimg_dict_put_str(v, "device", d->id);
	r |= qimg_dict_put_str(v, "type", "unknown");
	r |= qimg_dict_put_bool(v, "removable", removable);
	r |= qimg_dict_put_bool(v, "locked", false);
	if (d->cdrom)
		r |= qimg_dict_put_bool(v, "tray_open", false);
	if (d->type == DRIVE_IF_IDE || d->type == DRIVE_IF_VIRTIO ||
	    d->type == DRIVE_IF_SCSI)
		r |= qimg_dict_put_str(v, "io-status", "ok");
	if (!d->node || r)
		return r ? (qimg_value_free(v), NULL) : v;
	img = qimg_node_image(d->node);
	ins = qimg_value_dict();
	cache = qimg_value_dict();
	image = image_value(img);
	name = qimg_node_display_name(img);
	for (b = qimg_node_backing(img); b; b = qimg_node_backing(b)) {
		b = qimg_node_image(b);
		depth++;
	}
	if (!ins || !cache || !image || !name) {
		r = -1;
	} else {
		r |= qimg_dict_put_str(ins, "file", name);
		r |= qimg_dict_put_str(ins, "node-name",
				       d->node_name ? d->node_name : auto_name);
		r |= qimg_dict_put_bool(ins, "ro", d->readonly);
		r |= qimg_dict_put_str(ins, "drv", qimg_node_format(img));
		r |= qimg_dict_put_bool(ins, "encrypted", false);
		if (qimg_node_backing(img)) {
			char *bn = qimg_node_display_name(
				qimg_node_image(qimg_node_backing(img)));

			r |= bn ? qimg_dict_put_str(ins, "backing_file", bn)
				: -1;
			free(bn);
		}
		r |= qimg_dict_put_int(ins, "backing_file_depth", depth);
		r |= qimg_dict_put_str(ins, "detect_zeroes",
				       d->detect_zeroes ? d->detect_zeroes
							: "off");
		r |= qimg_dict_put_int(ins, "write_threshold", 0);
		r |= put_throttling(ins, d,
				    d->throttle_limits ? group_setter : NULL);
		r |= qimg_dict_put_bool(cache, "writeback", d->writeback);
		r |= qimg_dict_put_bool(cache, "direct", d->direct);
		r |= qimg_dict_put_bool(cache, "no-flush", d->no_flush);
		r |= qimg_dict_put(ins, "cache", cache);
		cache = NULL;
		/* encrypted: what the image says */
		{
			struct qimg_value *e =
				qimg_dict_get(image, "encrypted");

			if (e)
				r |= qimg_dict_put_bool(ins, "encrypted",
							qimg_value_get_bool(e));
		}
		r |= qimg_dict_put(ins, "image", image);
		image = NULL;
		r |= qimg_dict_put(v, "inserted", ins);
		ins = NULL;
	}
	free(name);
	qimg_value_free(ins);
	qimg_value_free(cache);
	qimg_value_free(image);
	if (r) {
		qimg_value_free(v);
		return NULL;
	}
	return v;
}
