/* SPDX-License-Identifier: MIT */
/* qcow2 checker: reading the header, tables and the snapshot table with
 * the sanity checks (and messages) qemu-img applies before checking. */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/check-int.h"
#include "util/endian.h"
#include "util/overflow.h"

/* ---- header and snapshot table ------------------------------------------ */

int qcow2_ck_parse_header(struct ck *c)
{
	uint8_t h[CK_HEADER_LEN];
	uint32_t hlen = CK_V2_HEADER_LEN, ext_end;
	uint64_t pos;
	uint8_t *cl0 = NULL;
	int r;

	r = qcow2_ck_read(c, 0, h, sizeof(h));
	if (r < 0)
		return r;
	if (qimg_load_be32(h) != CK_MAGIC)
		return qimg_error_set(c->err, EUCLEAN,
				      "Image is not in qcow2 "
				      "format");
	c->version = qimg_load_be32(h + CK_HDR_VERSION_OFF);
	if (c->version != 2 && c->version != 3)
		return qimg_error_set(c->err, ENOTSUP,
				      "Unsupported qcow2 "
				      "version %" PRIu32,
				      c->version);
	c->cluster_bits = qimg_load_be32(h + CK_HDR_CLUSTER_BITS_OFF);
	if (c->cluster_bits < 9 || c->cluster_bits > 21)
		return qimg_error_set(c->err, EUCLEAN,
				      "Unsupported cluster "
				      "size: 2^%" PRIu32,
				      c->cluster_bits);
	c->cluster_size = 1ull << c->cluster_bits;
	c->size = qimg_load_be64(h + CK_HDR_SIZE_OFF);
	c->l1_size = qimg_load_be32(h + CK_HDR_L1_SIZE_OFF);
	c->l1_offset = qimg_load_be64(h + CK_HDR_L1_OFFSET_OFF);
	c->rt_offset = qimg_load_be64(h + CK_HDR_RT_OFFSET_OFF);
	c->rt_clusters = qimg_load_be32(h + CK_HDR_RT_CLUSTERS_OFF);
	c->hdr_nb_snapshots = qimg_load_be32(h + CK_HDR_NB_SNAPSHOTS_OFF);
	c->hdr_snapshots_offset =
		qimg_load_be64(h + CK_HDR_SNAPSHOTS_OFFSET_OFF);
	c->refcount_order = 4;
	if (c->version == 3) {
		c->incompat = qimg_load_be64(h + CK_HDR_INCOMPAT_OFF);
		c->autoclear = qimg_load_be64(h + CK_HDR_AUTOCLEAR_OFF);
		c->refcount_order =
			qimg_load_be32(h + CK_HDR_REFCOUNT_ORDER_OFF);
		hlen = qimg_load_be32(h + CK_HDR_LENGTH_OFF);
		if (hlen < CK_V3_HEADER_LEN || hlen > c->cluster_size)
			return qimg_error_set(c->err, EUCLEAN,
					      "qcow2 header "
					      "length invalid");
		if (c->refcount_order > 6)
			return qimg_error_set(c->err, EUCLEAN,
					      "Reference "
					      "count entry width too large; "
					      "may not exceed 64 bits");
	}
	c->extl2 = c->incompat & CK_INCOMPAT_EXTL2;
	c->data_file = c->incompat & CK_INCOMPAT_DATA_FILE;
	if (c->extl2 && c->cluster_bits < 14)
		return qimg_error_set(c->err, EUCLEAN,
				      "Extended L2 entries "
				      "are only supported with cluster sizes "
				      "of at least 16384 bytes");
	c->l2e_size = c->extl2 ? 16 : 8;
	c->l2_entries = (uint32_t)(c->cluster_size / c->l2e_size);
	c->refcount_max = c->refcount_order == 6
				  ? UINT64_MAX
				  : (1ull << (1u << c->refcount_order)) - 1;
	c->rb_bits = c->cluster_bits + 3 - c->refcount_order;
	c->csize_shift = 62 - (c->cluster_bits - 8);
	c->csize_mask = (1ull << (c->cluster_bits - 8)) - 1;
	c->coff_mask = (1ull << c->csize_shift) - 1;

	if (c->l1_size > CK_MAX_L1_BYTES / 8)
		return qimg_error_set(c->err, EFBIG,
				      "Active L1 table too "
				      "large");
	if (offset_into_cluster(c, c->l1_offset) ||
	    c->l1_offset > INT64_MAX - (uint64_t)c->l1_size * 8)
		return qimg_error_set(c->err, EUCLEAN,
				      "Active L1 table "
				      "offset invalid");
	/* Without a refcount table every cluster in use is a corruption
	 * (reported; -r all rebuilds the table). */
	if ((uint64_t)c->rt_clusters > CK_MAX_RT_BYTES / c->cluster_size)
		return qimg_error_set(c->err, EFBIG,
				      "Reference count table "
				      "too large");
	c->rt_entries = ((uint64_t)c->rt_clusters << c->cluster_bits) / 8;
	if (offset_into_cluster(c, c->rt_offset) ||
	    c->rt_offset > INT64_MAX - c->rt_entries * 8)
		return qimg_error_set(c->err, EUCLEAN,
				      "Reference count table "
				      "offset invalid");

	/* Header extensions: from the end of the header to the backing
	 * file name (or the end of cluster 0). */
	{
		uint64_t bfo = qimg_load_be64(h + CK_HDR_BACKING_OFFSET_OFF);

		ext_end = (uint32_t)c->cluster_size;
		if (bfo && bfo < c->cluster_size)
			ext_end = (uint32_t)bfo;
	}
	cl0 = malloc((size_t)c->cluster_size);
	if (!cl0)
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	r = qcow2_ck_read(c, 0, cl0, (size_t)c->cluster_size);
	if (r < 0)
		goto out;
	for (pos = hlen; pos + CK_EXT_HDR_LEN <= ext_end;) {
		uint32_t type = qimg_load_be32(cl0 + pos);
		uint32_t len = qimg_load_be32(cl0 + pos + CK_EXT_LEN_OFF);
		const uint8_t *d = cl0 + pos + CK_EXT_HDR_LEN;

		if (type == 0)
			break;
		if (len > ext_end - pos - CK_EXT_HDR_LEN)
			break;
		if (type == CK_EXT_CRYPTO && len >= CK_EXT_CRYPTO_LEN) {
			c->crypto_off = qimg_load_be64(d);
			c->crypto_len =
				qimg_load_be64(d + CK_EXT_CRYPTO_LENGTH_OFF);
		} else if (type == CK_EXT_BITMAPS &&
			   len >= CK_EXT_BITMAPS_LEN &&
			   (c->autoclear & CK_AUTOCLEAR_BITMAPS)) {
			c->nb_bitmaps = qimg_load_be32(d);
			c->bm_dir_size =
				qimg_load_be64(d + CK_EXT_BITMAPS_DIR_SIZE_OFF);
			c->bm_dir_off = qimg_load_be64(
				d + CK_EXT_BITMAPS_DIR_OFFSET_OFF);
		}
		pos += CK_EXT_HDR_LEN + (((uint64_t)len + 7) & ~7ull);
	}
	r = 0;
out:
	free(cl0);
	return r;
}

uint64_t qcow2_ck_in_file(const struct ck *c, uint64_t off, uint64_t entries)
{
	uint64_t n = 0;

	if (off < (uint64_t)c->file_len)
		n = ((uint64_t)c->file_len - off + 7) / 8;
	return n < entries ? n : entries;
}

int qcow2_ck_load_table(struct ck *c, uint64_t off, uint64_t entries,
			uint64_t **out, uint64_t *loaded)
{
	uint64_t n = qcow2_ck_in_file(c, off, entries), i;
	uint8_t *raw;
	uint64_t *t;
	int r;

	*loaded = n;
	*out = NULL;
	if (!n)
		return 0;
	t = malloc((size_t)n * 8);
	if (!t)
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	raw = (uint8_t *)t;
	r = qcow2_ck_read(c, off, raw, (size_t)n * 8);
	if (r < 0) {
		free(t);
		return r;
	}
	for (i = 0; i < n; i++)
		t[i] = qimg_load_be64(raw + i * 8);
	*out = t;
	return 0;
}
