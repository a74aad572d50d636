/* SPDX-License-Identifier: MIT */
/* The parallels Format Extension (docs: "Format Extension" in QEMU's
 * parallels.txt), read on read-only opens as qemu-img does: one cluster
 * at ext_off, its MD5 (of all but the first 24 bytes) checked, then the
 * feature sections until "End of features".  Dirty bitmap features are
 * loaded into the image's bitmap set, named by their UUID, disabled and
 * transient (they are the format's, never stored as qcow2 bitmaps are);
 * an unknown feature marked NECESSARY refuses the image. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dirty-bitmap.h"
#include "core/driver.h"
#include "crypto/crypto.h"
#include "formats/parallels.h"
#include "util/endian.h"

#define EXT_MAGIC UINT64_C(0xab234cef23dcea87)
#define FEAT_END 0
#define FEAT_DIRTY_BITMAP UINT64_C(0x20385fae252cb34a)
#define FEAT_NECESSARY 1u
#define EXT_HEADER 24u	/* magic, checksum */
#define FEAT_HEADER 24u /* magic, flags, data_size, unused */
#define BITMAP_HEADER 32u
/* Larger extension clusters are not loaded (their magic is still
 * checked): memory stays bounded on any input. */
#define EXT_MAX_CLUSTER (16u << 20)

/* Set the bits of `bm` that the bitmap bytes buf[0, n) at byte `at` of
 * the bitmap's data set. */
static int load_bytes(struct qimg_dirty_bitmap *bm, uint64_t at,
		      const uint8_t *buf, size_t n)
{
	uint64_t g = 1ull << bm->gran_bits;
	size_t i;
	int b, r;

	for (i = 0; i < n; i++) {
		if (!buf[i])
			continue;
		for (b = 0; b < 8; b++) {
			uint64_t bit = (at + i) * 8 + (uint64_t)b;

			if (!(buf[i] & (1u << b)) || bit >= qimg_dbm_bits(bm))
				continue;
			r = qimg_dbm_set(bm, bit * g, g);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int load_bitmap(struct qimg_node *node, const uint8_t *d, uint32_t len,
		       uint64_t cluster, struct qimg_bitmap_set *set,
		       struct qimg_error *err)
{
	uint64_t sectors = qimg_load_le64(d), bytes_needed, i;
	uint32_t gran = qimg_load_le32(d + 24), l1 = qimg_load_le32(d + 28);
	const uint8_t *id = d + 8;
	struct qimg_dirty_bitmap *bm;
	uint8_t *buf = NULL;
	char name[40];
	uint32_t gran_bits = 0;
	int r = 0;

	if (len < BITMAP_HEADER || l1 > (len - BITMAP_HEADER) / 8)
		return qimg_error_set(
			err, EINVAL,
			"Parallels Format Extension: dirty bitmap "
			"feature is too short");
	if (!gran || (gran & (gran - 1)) || gran > (1u << 22))
		return qimg_error_set(err, EINVAL,
				      "Parallels Format Extension: invalid "
				      "bitmap granularity %" PRIu32,
				      gran);
	if (sectors * 512 != node->size)
		return qimg_error_set(err, EINVAL,
				      "Parallels Format Extension: bitmap size "
				      "%" PRIu64 " sectors differs from the "
				      "disk's %" PRIu64,
				      sectors, node->size / 512);
	while ((1u << gran_bits) < gran)
		gran_bits++;
	gran_bits += 9;
	snprintf(name, sizeof(name),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], id[8],
		 id[9], id[10], id[11], id[12], id[13], id[14], id[15]);
	bm = qimg_dbm_new(name, node->size, gran_bits, 16);
	if (!bm)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	bm->enabled = false;
	bm->transient = true;
	bytes_needed = (qimg_dbm_bits(bm) + 7) / 8;
	if (l1 != (bytes_needed + cluster - 1) / cluster) {
		qimg_dbm_free(bm);
		return qimg_error_set(err, EINVAL,
				      "Bitmap table size %" PRIu32 " does not "
				      "correspond to bitmap size and cluster "
				      "size. Expected %" PRIu64,
				      l1,
				      (bytes_needed + cluster - 1) / cluster);
	}
	for (i = 0; r == 0 && i < l1 && i * cluster < bytes_needed; i++) {
		uint64_t e = qimg_load_le64(d + BITMAP_HEADER + i * 8);
		uint64_t n = bytes_needed - i * cluster < cluster
				     ? bytes_needed - i * cluster
				     : cluster;

		if (e == 0)
			continue;
		if (e == 1) {
			r = qimg_dbm_set(bm, (i * cluster * 8) << gran_bits,
					 (n * 8) << gran_bits);
			continue;
		}
		if (!buf && !(buf = malloc(cluster))) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			break;
		}
		if (e > UINT64_MAX / 512) {
			r = qimg_error_set(err, EINVAL,
					   "Parallels Format Extension: bad "
					   "bitmap cluster offset");
			break;
		}
		r = qimg_pread(node->file, e * 512, buf, (size_t)n, err);
		if (r == 0)
			r = load_bytes(bm, i * cluster, buf, (size_t)n);
	}
	free(buf);
	if (r == 0 && qimg_bitmap_set_find(set, name))
		r = qimg_error_set(err, EINVAL,
				   "Parallels Format Extension: bitmap '%s' "
				   "twice",
				   name);
	if (r == 0 && qimg_bitmap_set_add(set, bm) < 0)
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	if (r < 0) {
		qimg_dbm_free(bm);
		if (!qimg_error_isset(err))
			qimg_error_set(err, -r, "Could not load a bitmap");
	}
	return r;
}

int par_ext_load(struct qimg_node *node, uint64_t off, uint64_t cluster,
		 struct qimg_bitmap_set *set, struct qimg_error *err)
{
	uint8_t *c, sum[16];
	uint64_t pos;
	int r;

	if (cluster > EXT_MAX_CLUSTER || cluster < EXT_HEADER + FEAT_HEADER)
		return 0;
	c = malloc(cluster);
	if (!c)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_pread(node->file, off, c, (size_t)cluster, err);
	if (r < 0)
		goto out;
	if (qimg_load_le64(c) != EXT_MAGIC) {
		r = qimg_error_set(err, EINVAL,
				   "Wrong parallels Format Extension magic: "
				   "0x%" PRIx64 ", expected: 0x%" PRIx64,
				   qimg_load_le64(c), EXT_MAGIC);
		goto out;
	}
	r = qimg_hash(QIMG_HASH_MD5, c + EXT_HEADER,
		      (size_t)cluster - EXT_HEADER, sum, err);
	if (r < 0)
		goto out;
	if (memcmp(sum, c + 8, 16)) {
		r = qimg_error_set(err, EINVAL,
				   "Wrong checksum in Format Extension header. "
				   "Format extension is corrupted.");
		goto out;
	}
	for (pos = EXT_HEADER; r == 0;) {
		uint64_t magic, flags;
		uint32_t len;

		if (cluster - pos < FEAT_HEADER) {
			r = qimg_error_set(err, EINVAL,
					   "parallels: Format Extension: no "
					   "end of features");
			break;
		}
		magic = qimg_load_le64(c + pos);
		flags = qimg_load_le64(c + pos + 8);
		len = qimg_load_le32(c + pos + 16);
		pos += FEAT_HEADER;
		if (magic == FEAT_END)
			break;
		if (len > cluster - pos) {
			r = qimg_error_set(
				err, EINVAL,
				"parallels: Format Extension: "
				"feature data runs past the cluster");
			break;
		}
		if (magic == FEAT_DIRTY_BITMAP)
			r = load_bitmap(node, c + pos, len, cluster, set, err);
		else if (flags & FEAT_NECESSARY)
			r = qimg_error_set(err, ENOTSUP,
					   "Unknown feature: 0x%" PRIx64,
					   magic);
		pos += ((uint64_t)len + 7) & ~7ull;
	}
out:
	free(c);
	return r;
}
