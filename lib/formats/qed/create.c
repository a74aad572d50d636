/* SPDX-License-Identifier: MIT */
/* Creating QED images as qemu-img 7.2 does: the header (and the backing
 * file name right after it) in cluster 0, a zeroed L1 table of table_size
 * clusters at cluster 1, nothing else.  The size is rounded up to 512. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "formats/qed/qed.h"

const struct qimg_opt_desc qed_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "backing_file", QIMG_OPT_STRING, "File name of a base image", NULL },
	{ "backing_fmt", QIMG_OPT_STRING, "Image format of the base image",
	  NULL },
	{ "cluster_size", QIMG_OPT_SIZE, "Cluster size (in bytes)", "65536" },
	{ "table_size", QIMG_OPT_SIZE, "L1/L2 table size (in clusters)", NULL },
	{ NULL, 0, NULL, NULL },
};

static bool pow2_in(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v >= lo && v <= hi && !(v & (v - 1));
}

int qed_create_validate(const struct qimg_opts *o, struct qimg_error *err)
{
	uint64_t cs = qimg_opts_get_u64(o, "cluster_size", QED_DEFAULT_CLUSTER);
	uint64_t ts = qimg_opts_get_u64(o, "table_size", QED_DEFAULT_TABLE);
	uint64_t size = qimg_opts_get_u64(o, "size", 0), max;
	const char *bfmt = qimg_opts_get_str(o, "backing_fmt", NULL);

	if (bfmt && !qimg_qemu_driver_name(bfmt, true))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'backing-fmt' does not "
				      "accept value '%s'",
				      bfmt);
	if (!pow2_in(cs, QED_MIN_CLUSTER, QED_MAX_CLUSTER))
		return qimg_error_set(err, EINVAL,
				      "QED cluster size must be within range "
				      "[%u, %u] and power of 2",
				      QED_MIN_CLUSTER, QED_MAX_CLUSTER);
	if (!pow2_in(ts, 1, QED_MAX_TABLE))
		return qimg_error_set(err, EINVAL,
				      "QED table size must be within range "
				      "[1, %u] and power of 2",
				      QED_MAX_TABLE);
	max = qed_max_image_size((uint32_t)cs, (uint32_t)ts);
	if (size > max || size > UINT64_MAX - 511)
		return qimg_error_set(err, EINVAL,
				      "QED image size must be a non-zero "
				      "multiple of cluster size and less than "
				      "%" PRIu64 " bytes",
				      max);
	return 0;
}

int qed_create(struct qimg_node *file, const struct qimg_opts *o,
	       struct qimg_error *err)
{
	const char *backing = qimg_opts_get_str(o, "backing_file", NULL);
	const char *bfmt = qimg_opts_get_str(o, "backing_fmt", NULL);
	struct qed_header h = { 0 };
	size_t nlen = backing ? strlen(backing) : 0, chunk;
	uint64_t table, done;
	uint8_t *buf;
	int r;

	h.cluster_size = (uint32_t)qimg_opts_get_u64(o, "cluster_size",
						     QED_DEFAULT_CLUSTER);
	h.table_size =
		(uint32_t)qimg_opts_get_u64(o, "table_size", QED_DEFAULT_TABLE);
	h.header_size = 1;
	h.l1_table_offset = h.cluster_size;
	h.image_size = (qimg_opts_get_u64(o, "size", 0) + 511) & ~UINT64_C(511);
	if (nlen) {
		if (QED_HEADER_LEN + nlen > h.cluster_size)
			return qimg_error_set(err, EINVAL,
					      "Backing file name too long");
		h.features = QED_F_BACKING_FILE;
		if (bfmt && !strcmp(bfmt, "raw"))
			h.features |= QED_F_BACKING_FORMAT_NO_PROBE;
		h.backing_off = QED_HEADER_LEN;
		h.backing_len = (uint32_t)nlen;
	}
	table = (uint64_t)h.table_size * h.cluster_size;
	chunk = table < (1u << 20) ? (size_t)table : (1u << 20);
	if (chunk < QED_HEADER_LEN + nlen)
		chunk = QED_HEADER_LEN + nlen;
	buf = calloc(1, chunk);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	/* The zeroed L1 first, then the header that makes it an image. */
	r = 0;
	for (done = 0; r == 0 && done < table; done += chunk) {
		size_t n =
			table - done < chunk ? (size_t)(table - done) : chunk;

		r = qimg_pwrite(file, h.cluster_size + done, buf, n, err);
	}
	if (r == 0)
		r = qimg_flush(file, err);
	if (r == 0) {
		qed_header_store(&h, buf);
		if (nlen)
			memcpy(buf + QED_HEADER_LEN, backing, nlen);
		r = qimg_pwrite(file, 0, buf, QED_HEADER_LEN + nlen, err);
	}
	free(buf);
	return r;
}
