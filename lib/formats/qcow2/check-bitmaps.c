/* SPDX-License-Identifier: MIT */
/* qcow2 checker: the persistent bitmap directory and bitmap tables, whose
 * clusters count as references. */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/check-int.h"
#include "util/endian.h"
#include "util/overflow.h"

/* ---- bitmaps ----------------------------------------------------------- */

static int check_bitmap_table(struct ck *c, struct qimg_check_result *res,
			      uint64_t off, uint32_t size)
{
	uint8_t *buf;
	uint64_t i, n;
	int r = 0;

	buf = malloc(CK_CHUNK_ENTRIES * 8);
	if (!buf) {
		res->check_errors++;
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	}
	/* Entries past the end of the file read as 0 (nothing to count). */
	if (off >= (uint64_t)c->file_len)
		size = 0;
	else if ((uint64_t)size > ((uint64_t)c->file_len - off + 7) / 8)
		size = (uint32_t)(((uint64_t)c->file_len - off + 7) / 8);
	if (size > c->bm_budget) {
		free(buf);
		res->corruptions++;
		return qimg_error_set(c->err, EINVAL,
				      "Bitmap tables are larger "
				      "than the image");
	}
	c->bm_budget -= size;
	for (i = 0; i < size; i += n) {
		uint64_t j;

		n = size - i < CK_CHUNK_ENTRIES ? size - i : CK_CHUNK_ENTRIES;
		r = qcow2_ck_read(c, off + i * 8, buf, (size_t)n * 8);
		if (r < 0) {
			res->corruptions++;
			break;
		}
		for (j = 0; j < n; j++) {
			uint64_t e = qimg_load_be64(buf + j * 8);
			uint64_t eo = e & CK_BME_OFFSET;

			if ((e & CK_BME_RESERVED) ||
			    (eo && ((e & CK_BME_ALL_ONES) ||
				    offset_into_cluster(c, eo)))) {
				res->corruptions++;
				continue;
			}
			if (!eo)
				continue;
			r = qcow2_ck_inc_refs(c, res, eo, c->cluster_size);
			if (r < 0)
				goto out;
		}
	}
out:
	free(buf);
	return r;
}

int qcow2_ck_check_bitmaps(struct ck *c, struct qimg_check_result *res)
{
	uint8_t *dir;
	uint64_t pos = 0;
	uint32_t k;
	int r;

	if (!c->nb_bitmaps)
		return 0;
	r = qcow2_ck_inc_refs(c, res, c->bm_dir_off, c->bm_dir_size);
	if (r < 0)
		return r;
	if (c->bm_dir_size > CK_MAX_BM_DIR ||
	    c->bm_dir_size < CK_BM_DIR_ENTRY ||
	    offset_into_cluster(c, c->bm_dir_off)) {
		res->corruptions++;
		return qimg_error_set(c->err, EINVAL,
				      "Invalid bitmap "
				      "directory");
	}
	dir = malloc((size_t)c->bm_dir_size);
	if (!dir) {
		res->check_errors++;
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	}
	r = qcow2_ck_read(c, c->bm_dir_off, dir, (size_t)c->bm_dir_size);
	if (r < 0) {
		res->corruptions++;
		goto out;
	}

	/* Validate the whole directory first: qemu refuses to use a broken
	 * one and counts it as one corruption. */
	for (k = 0; k < c->nb_bitmaps; k++) {
		uint64_t esize;
		uint32_t tsize, extra;
		uint16_t nsize;

		if (c->bm_dir_size - pos < CK_BM_DIR_ENTRY)
			break;
		tsize = qimg_load_be32(dir + pos + CK_BMDIR_TABLE_SIZE_OFF);
		nsize = qimg_load_be16(dir + pos + CK_BMDIR_NAME_SIZE_OFF);
		extra = qimg_load_be32(dir + pos + CK_BMDIR_EXTRA_SIZE_OFF);
		esize = ((CK_BM_DIR_ENTRY + (uint64_t)extra + nsize) + 7) &
			~7ull;
		if (tsize > CK_MAX_BM_TABLE || nsize > CK_MAX_BM_NAME ||
		    nsize == 0 || esize > c->bm_dir_size - pos ||
		    offset_into_cluster(
			    c, qimg_load_be64(dir + pos +
					      CK_BMDIR_TABLE_OFFSET_OFF)))
			break;
		pos += esize;
	}
	if (k != c->nb_bitmaps || pos != c->bm_dir_size) {
		res->corruptions++;
		r = qimg_error_set(c->err, EINVAL, "Broken bitmap directory");
		goto out;
	}

	for (pos = 0, k = 0; k < c->nb_bitmaps; k++) {
		uint64_t toff =
			qimg_load_be64(dir + pos + CK_BMDIR_TABLE_OFFSET_OFF);
		uint32_t tsize =
			qimg_load_be32(dir + pos + CK_BMDIR_TABLE_SIZE_OFF);
		uint16_t nsize =
			qimg_load_be16(dir + pos + CK_BMDIR_NAME_SIZE_OFF);
		uint32_t extra =
			qimg_load_be32(dir + pos + CK_BMDIR_EXTRA_SIZE_OFF);

		r = qcow2_ck_inc_refs(c, res, toff, (uint64_t)tsize * 8);
		if (r < 0)
			goto out;
		r = check_bitmap_table(c, res, toff, tsize);
		if (r < 0)
			goto out;
		pos += ((CK_BM_DIR_ENTRY + (uint64_t)extra + nsize) + 7) &
		       ~7ull;
	}
	r = 0;
out:
	free(dir);
	return r;
}
