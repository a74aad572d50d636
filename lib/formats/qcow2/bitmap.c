/* SPDX-License-Identifier: MIT */
/* Persistent dirty bitmaps, read side: the bitmaps extension, the bitmap
 * directory and the bitmap tables, checked as QEMU 7.2 checks them (its
 * texts: an image it refuses is refused), and loading the bits into
 * memory.  bitmap-write.c writes them, bitmap-track.c ties them to the
 * driver's open, writes and close. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"
#include "util/overflow.h"

#define TYPE_DIRTY_TRACKING 1
#define BMDIR_TYPE_OFF 16
#define BME_RESERVED_FLAGS 0xfffffffcu
#define BMT_RESERVED UINT64_C(0xff000000000001fe)
#define BMT_OFFSET UINT64_C(0x00fffffffffffe00)
#define BMT_ALL_ONES UINT64_C(1)

void qcow2_bitmaps_ext(const struct qcow2_state *s, uint32_t *nb,
		       uint64_t *dir_size, uint64_t *dir_off)
{
	*nb = 0;
	*dir_size = *dir_off = 0;
	if (!s->ext.has_bitmaps || s->h.version < 3 ||
	    !(s->h.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS))
		return;
	*nb = qimg_load_be32(s->ext.bitmaps + QCOW2_EXT_BITMAPS_NB_OFF);
	*dir_size =
		qimg_load_be64(s->ext.bitmaps + QCOW2_EXT_BITMAPS_DIR_SIZE_OFF);
	*dir_off = qimg_load_be64(s->ext.bitmaps +
				  QCOW2_EXT_BITMAPS_DIR_OFFSET_OFF);
}

void qcow2_bitmaps_ext_set(struct qcow2_state *s, uint32_t nb,
			   uint64_t dir_size, uint64_t dir_off)
{
	memset(s->ext.bitmaps, 0, sizeof(s->ext.bitmaps));
	s->ext.has_bitmaps = nb != 0;
	if (!nb)
		return;
	qimg_store_be32(s->ext.bitmaps + QCOW2_EXT_BITMAPS_NB_OFF, nb);
	qimg_store_be64(s->ext.bitmaps + QCOW2_EXT_BITMAPS_DIR_SIZE_OFF,
			dir_size);
	qimg_store_be64(s->ext.bitmaps + QCOW2_EXT_BITMAPS_DIR_OFFSET_OFF,
			dir_off);
}

void qcow2_bitmaps_free(struct qcow2_bitmap *b, size_t n)
{
	size_t i;

	for (i = 0; b && i < n; i++)
		free(b[i].name);
	free(b);
}

uint64_t qcow2_bitmap_table_entries(const struct qcow2_state *s,
				    uint32_t gran_bits)
{
	uint64_t bits = qimg_div_round_up(s->h.size, 1ull << gran_bits);

	return qimg_div_round_up(bits, s->cluster_size * 8);
}

/* QEMU's constraints on a directory entry (its check_dir_entry). */
static bool entry_ok(const struct qcow2_state *s, const uint8_t *e)
{
	uint64_t toff = qimg_load_be64(e + QCOW2_BMDIR_TABLE_OFFSET_OFF);
	uint32_t tsize = qimg_load_be32(e + QCOW2_BMDIR_TABLE_SIZE_OFF);
	uint32_t flags = qimg_load_be32(e + QCOW2_BMDIR_FLAGS_OFF);
	uint8_t gran = e[QCOW2_BMDIR_GRAN_BITS_OFF];
	uint64_t phys;

	if (tsize == 0 || toff == 0 || (toff & (s->cluster_size - 1)) ||
	    tsize > QCOW2_MAX_BITMAP_TABLE || gran > 31 || gran < 9 ||
	    (flags & BME_RESERVED_FLAGS) ||
	    qimg_load_be16(e + QCOW2_BMDIR_NAME_SIZE_OFF) >
		    QCOW2_MAX_BITMAP_NAME ||
	    e[BMDIR_TYPE_OFF] != TYPE_DIRTY_TRACKING)
		return false;
	phys = (uint64_t)tsize * s->cluster_size;
	if (phys > QCOW2_MAX_BITMAP_BYTES)
		return false;
	/* A bitmap in use may be too small (not stored after a resize); a
	 * consistent one must cover the whole image. */
	return (flags & QCOW2_BME_IN_USE) || s->h.size <= (phys * 8) << gran;
}

static uint64_t entry_len(const uint8_t *e)
{
	return (QCOW2_BMDIR_ENTRY_LEN +
		(uint64_t)qimg_load_be32(e + QCOW2_BMDIR_EXTRA_SIZE_OFF) +
		qimg_load_be16(e + QCOW2_BMDIR_NAME_SIZE_OFF) + 7) &
	       ~7ull;
}

int qcow2_bitmaps_read(struct qcow2_state *s, struct qcow2_bitmap **out,
		       size_t *nout, struct qimg_error *err)
{
	uint64_t dsize, doff, pos = 0;
	struct qcow2_bitmap *b;
	uint32_t nb, n = 0;
	uint8_t *dir;
	int r;

	*out = NULL;
	*nout = 0;
	qcow2_bitmaps_ext(s, &nb, &dsize, &doff);
	if (!nb)
		return 0;
	if (dsize == 0)
		return qimg_error_set(err, EINVAL,
				      "Requested bitmap directory size is "
				      "zero");
	if (dsize > QCOW2_MAX_BITMAP_DIR)
		return qimg_error_set(err, EINVAL,
				      "Requested bitmap directory size is too "
				      "big");
	dir = malloc(dsize);
	b = calloc(nb, sizeof(*b));
	if (!dir || !b) {
		free(dir);
		free(b);
		return qimg_error_set(err, ENOMEM,
				      "Failed to allocate space for bitmap "
				      "directory");
	}
	r = qimg_pread(s->file, doff, dir, dsize, err);
	if (r < 0) {
		qimg_error_prefix(err, "Failed to read bitmap directory");
		goto fail;
	}
	while (pos < dsize) {
		const uint8_t *e = dir + pos;
		uint32_t nlen;

		if (dsize - pos < QCOW2_BMDIR_ENTRY_LEN)
			goto broken;
		if (++n > nb) {
			r = qimg_error_set(err, EINVAL,
					   "More bitmaps found than specified "
					   "in header extension");
			goto fail;
		}
		if (entry_len(e) > dsize - pos)
			goto broken;
		nlen = qimg_load_be16(e + QCOW2_BMDIR_NAME_SIZE_OFF);
		if (qimg_load_be32(e + QCOW2_BMDIR_EXTRA_SIZE_OFF)) {
			r = qimg_error_set(err, EINVAL,
					   "Bitmap extra data is not "
					   "supported");
			goto fail;
		}
		if (!entry_ok(s, e)) {
			/* The name as QEMU prints it: up to a NUL. */
			r = qimg_error_set(err, EINVAL,
					   "Bitmap '%.*s' doesn't satisfy the "
					   "constraints",
					   (int)nlen,
					   (const char *)e +
						   QCOW2_BMDIR_ENTRY_LEN);
			goto fail;
		}
		b[n - 1].name = malloc(nlen + 1);
		if (!b[n - 1].name) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto fail;
		}
		memcpy(b[n - 1].name, e + QCOW2_BMDIR_ENTRY_LEN, nlen);
		b[n - 1].name[nlen] = '\0';
		b[n - 1].flags = qimg_load_be32(e + QCOW2_BMDIR_FLAGS_OFF);
		b[n - 1].gran_bits = e[QCOW2_BMDIR_GRAN_BITS_OFF];
		b[n - 1].table_off =
			qimg_load_be64(e + QCOW2_BMDIR_TABLE_OFFSET_OFF);
		b[n - 1].table_size =
			qimg_load_be32(e + QCOW2_BMDIR_TABLE_SIZE_OFF);
		pos += entry_len(e);
	}
	if (n != nb) {
		r = qimg_error_set(err, EINVAL,
				   "Less bitmaps found than specified in "
				   "header extension");
		goto fail;
	}
	if (pos != dsize)
		goto broken;
	free(dir);
	*out = b;
	*nout = nb;
	return 0;
broken:
	r = qimg_error_set(err, EINVAL, "Broken bitmap directory");
fail:
	free(dir);
	qcow2_bitmaps_free(b, nb);
	return r;
}

int qcow2_bitmap_table_read(struct qcow2_state *s, uint64_t off, uint32_t size,
			    uint64_t **out, struct qimg_error *err)
{
	uint64_t *t;
	uint8_t *raw;
	uint32_t i;
	int r;

	*out = NULL;
	t = malloc((size_t)size * 8);
	raw = malloc((size_t)size * 8);
	if (!t || !raw) {
		free(t);
		free(raw);
		return -ENOMEM;
	}
	r = qimg_pread(s->file, off, raw, (size_t)size * 8, err);
	for (i = 0; r == 0 && i < size; i++) {
		uint64_t e = qimg_load_be64(raw + (size_t)i * 8);
		uint64_t eo = e & BMT_OFFSET;

		if ((e & BMT_RESERVED) ||
		    (eo &&
		     ((e & BMT_ALL_ONES) || (eo & (s->cluster_size - 1)))))
			r = -EINVAL;
		t[i] = e;
	}
	free(raw);
	if (r < 0) {
		free(t);
		return r;
	}
	*out = t;
	return 0;
}

/* Read one bitmap's table and bits into bm. */
static int load_data(struct qcow2_state *s, const struct qcow2_bitmap *d,
		     struct qimg_dirty_bitmap *bm, struct qimg_error *err)
{
	struct qimg_error ioerr = { 0 };
	uint64_t *t;
	uint8_t *buf;
	uint32_t i;
	int r;

	r = qcow2_bitmap_table_read(s, d->table_off, d->table_size, &t, &ioerr);
	if (r < 0)
		return qimg_error_set(err, -r,
				      "Could not read bitmap_table table from "
				      "image for bitmap '%s': %s",
				      d->name, strerror(-r));
	if (d->table_size != qcow2_bitmap_table_entries(s, d->gran_bits) ||
	    d->table_size != bm->nchunks) {
		free(t);
		return qimg_error_set(err, EINVAL,
				      "Could not read bitmap '%s' from image: "
				      "%s",
				      d->name, strerror(EINVAL));
	}
	buf = malloc(s->cluster_size);
	if (!buf) {
		free(t);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	for (i = 0; r == 0 && i < d->table_size; i++) {
		uint64_t eo = t[i] & BMT_OFFSET;

		if (!eo) {
			if (t[i] & BMT_ALL_ONES)
				r = qimg_dbm_load_chunk(bm, i, NULL);
			continue;
		}
		r = qimg_pread(s->file, eo, buf, s->cluster_size, &ioerr);
		if (r == 0)
			r = qimg_dbm_load_chunk(bm, i, buf);
	}
	free(buf);
	free(t);
	if (r < 0)
		return qimg_error_set(err, -r,
				      "Could not read bitmap '%s' from image: "
				      "%s",
				      d->name, strerror(-r));
	return 0;
}

int qcow2_bitmaps_load(struct qcow2_state *s, struct qimg_bitmap_set *set,
		       struct qcow2_bitmap **dirp, size_t *ndirp,
		       struct qimg_error *err)
{
	struct qcow2_bitmap *dir;
	size_t n, i;
	int r;

	r = qcow2_bitmaps_read(s, &dir, &n, err);
	if (r < 0)
		return r;
	for (i = 0; r == 0 && i < n; i++) {
		struct qimg_dirty_bitmap *bm;

		bm = qimg_dbm_new(dir[i].name, s->h.size, dir[i].gran_bits,
				  s->cluster_bits);
		if (!bm) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			break;
		}
		bm->enabled = dir[i].flags & QCOW2_BME_AUTO;
		/* In use: written by a process that did not close the image,
		 * so the bits are unknown. */
		if (dir[i].flags & QCOW2_BME_IN_USE)
			bm->inconsistent = true;
		else
			r = load_data(s, &dir[i], bm, err);
		if (r == 0 && qimg_bitmap_set_add(set, bm) < 0)
			r = qimg_error_set(err, ENOMEM, "Out of memory");
		if (r < 0)
			qimg_dbm_free(bm);
	}
	if (r < 0 || !dirp) {
		qcow2_bitmaps_free(dir, n);
		return r;
	}
	*dirp = dir;
	*ndirp = n;
	return 0;
}
