/* SPDX-License-Identifier: MIT */
/* Rendering of struct qimg_image_info: the ImageInfo value tree for JSON
 * (members inserted in QAPI schema order so the value tree's QDict ordering
 * reproduces qemu-img's key order), the human `info` layout and the snapshot
 * table shared by `info`. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "qimg/size.h"
#include "qimg/value.h"

struct qimg_value *tool_info_to_value(const struct qimg_image_info *info)
{
	struct qimg_value *d = qimg_value_dict();
	struct qimg_value *c;
	int r = 0;

	if (!d)
		return NULL;
	r |= qimg_dict_put_str(d, "filename", info->filename);
	r |= qimg_dict_put_str(d, "format", info->format);
	if (info->has_info)
		r |= qimg_dict_put_bool(d, "dirty-flag", info->dirty);
	if (info->actual_size >= 0)
		r |= qimg_dict_put_int(d, "actual-size", info->actual_size);
	r |= qimg_dict_put_int(d, "virtual-size", (int64_t)info->virtual_size);
	if (info->has_info && info->cluster_size)
		r |= qimg_dict_put_int(d, "cluster-size", info->cluster_size);
	if (info->encrypted)
		r |= qimg_dict_put_bool(d, "encrypted", true);
	if (info->backing_filename)
		r |= qimg_dict_put_str(d, "backing-filename",
				       info->backing_filename);
	if (info->full_backing_filename)
		r |= qimg_dict_put_str(d, "full-backing-filename",
				       info->full_backing_filename);
	if (info->backing_format)
		r |= qimg_dict_put_str(d, "backing-filename-format",
				       info->backing_format);
	if (info->snapshots && qimg_value_count(info->snapshots)) {
		c = qimg_value_copy(info->snapshots);
		r |= c ? qimg_dict_put(d, "snapshots", c) : -1;
	}
	if (info->format_specific) {
		c = qimg_value_copy(info->format_specific);
		r |= c ? qimg_dict_put(d, "format-specific", c) : -1;
	}
	if (r) {
		qimg_value_free(d);
		return NULL;
	}
	return d;
}

static int64_t member_int(const struct qimg_value *d, const char *key,
			  bool *present)
{
	const struct qimg_value *v = qimg_dict_get(d, key);

	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	if (qimg_value_type(v) != QIMG_VALUE_INT &&
	    qimg_value_type(v) != QIMG_VALUE_UINT)
		return 0;
	return qimg_value_get_int(v);
}

static const char *member_str(const struct qimg_value *d, const char *key)
{
	const struct qimg_value *v = qimg_dict_get(d, key);

	if (!v || qimg_value_type(v) != QIMG_VALUE_STR)
		return "";
	return qimg_value_get_str(v);
}

void tool_print_snapshots(FILE *fp, const struct qimg_value *snapshots)
{
	char size_buf[64], date_buf[64], clock_buf[64], icount_buf[32];
	const struct qimg_value *sn;
	int64_t secs, nsecs, vm_secs;
	bool has_icount;
	struct tm tm;
	time_t tt;
	size_t i;

	fprintf(fp, "Snapshot list:\n");
	fprintf(fp, "%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE",
		"DATE", "VM CLOCK", "ICOUNT");
	for (i = 0; i < qimg_value_count(snapshots); i++) {
		int64_t icount;

		sn = qimg_value_at(snapshots, i, NULL);
		qimg_human_size((uint64_t)member_int(sn, "vm-state-size", NULL),
				size_buf, sizeof(size_buf));
		secs = member_int(sn, "date-sec", NULL);
		tt = (time_t)secs;
		if (localtime_r(&tt, &tm))
			strftime(date_buf, sizeof(date_buf),
				 "%Y-%m-%d %H:%M:%S", &tm);
		else
			date_buf[0] = '\0';
		vm_secs = member_int(sn, "vm-clock-sec", NULL);
		nsecs = member_int(sn, "vm-clock-nsec", NULL);
		snprintf(clock_buf, sizeof(clock_buf),
			 "%02" PRId64 ":%02d:%02d.%03d", vm_secs / 3600,
			 (int)(vm_secs / 60 % 60), (int)(vm_secs % 60),
			 (int)(nsecs / 1000000));
		icount = member_int(sn, "icount", &has_icount);
		if (has_icount)
			snprintf(icount_buf, sizeof(icount_buf), "%" PRId64,
				 icount);
		else
			icount_buf[0] = '\0';
		fprintf(fp, "%-9s %-16s %8s%20s%13s%11s\n",
			member_str(sn, "id"), member_str(sn, "name"), size_buf,
			date_buf, clock_buf, icount_buf);
	}
}

void tool_print_info_human(FILE *fp, const struct qimg_image_info *info)
{
	char buf[64];

	fprintf(fp, "image: %s\n", info->filename);
	fprintf(fp, "file format: %s\n", info->format);
	fprintf(fp, "virtual size: %s (%" PRIu64 " bytes)\n",
		qimg_human_size(info->virtual_size, buf, sizeof(buf)),
		info->virtual_size);
	if (info->actual_size >= 0)
		fprintf(fp, "disk size: %s\n",
			qimg_human_size((uint64_t)info->actual_size, buf,
					sizeof(buf)));
	else
		fprintf(fp, "disk size: unavailable\n");
	if (info->encrypted)
		fprintf(fp, "encrypted: yes\n");
	if (info->has_info && info->cluster_size)
		fprintf(fp, "cluster_size: %" PRIu32 "\n", info->cluster_size);
	if (info->has_info && info->dirty)
		fprintf(fp, "cleanly shut down: no\n");
	if (info->backing_filename) {
		fprintf(fp, "backing file: %s", info->backing_filename);
		if (!info->full_backing_filename)
			fprintf(fp, " (cannot determine actual path)");
		else if (strcmp(info->backing_filename,
				info->full_backing_filename))
			fprintf(fp, " (actual path: %s)",
				info->full_backing_filename);
		fputc('\n', fp);
	}
	if (info->backing_format)
		fprintf(fp, "backing file format: %s\n", info->backing_format);
	if (info->snapshots && qimg_value_count(info->snapshots))
		tool_print_snapshots(fp, info->snapshots);
	if (info->format_specific) {
		const struct qimg_value *data =
			qimg_dict_get(info->format_specific, "data");

		fprintf(fp, "Format specific information:\n");
		if (data)
			qimg_value_print_human(fp, data, 4);
	}
}
