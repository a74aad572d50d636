/* SPDX-License-Identifier: MIT */
/* Persistent dirty bitmaps, write side: marking the directory in use at a
 * read-write open, storing the bitmaps at close, removing one.  The
 * clusters are allocated and freed in QEMU's order (data clusters of each
 * bitmap then its table, bitmaps in directory order, then the directory)
 * so that an image qemu-img and qimg take turns on ends up laid out as
 * with qemu-img alone (iotest 303 dumps the offsets).
 *
 * Crash safety: nothing new is reachable before the header names it.  New
 * bitmap data, tables and the directory are written and flushed, then the
 * header is rewritten and flushed (the commit point), and only then are
 * the old directory and tables freed (a refcount decrement waits for the
 * dropped reference to be on the disk).  The in-place marking at open
 * writes the directory under a cleared autoclear bit: a crash in between
 * leaves bitmaps that any reader drops as inconsistent, never wrong ones.
 * Callers hold the image's metadata lock. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"
#include "util/overflow.h"

#define TYPE_DIRTY_TRACKING 1
#define BMDIR_TYPE_OFF 16

int qcow2_header_sync(struct qcow2_state *s, struct qimg_error *err)
{
	uint8_t *buf = malloc(s->cluster_size);
	int r;

	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qcow2_header_build(&s->h, &s->ext, buf, s->cluster_size, err);
	if (r == 0)
		r = qimg_pwrite(s->file, 0, buf, s->cluster_size, err);
	free(buf);
	if (r == 0)
		r = qimg_flush(s->file, err);
	return r;
}

static uint64_t entry_size(const char *name)
{
	return (QCOW2_BMDIR_ENTRY_LEN + strlen(name) + 7) & ~7ull;
}

/* The directory for entries b[0..n) (big-endian, zero padded). */
static int dir_build(const struct qcow2_bitmap *b, size_t n, uint8_t **out,
		     uint64_t *size, struct qimg_error *err)
{
	uint64_t total = 0, pos = 0;
	uint8_t *dir;
	size_t i;

	for (i = 0; i < n; i++)
		total += entry_size(b[i].name);
	dir = calloc(1, total ? total : 1);
	if (!dir)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (i = 0; i < n; i++) {
		uint8_t *e = dir + pos;
		size_t nlen = strlen(b[i].name);

		qimg_store_be64(e + QCOW2_BMDIR_TABLE_OFFSET_OFF,
				b[i].table_off);
		qimg_store_be32(e + QCOW2_BMDIR_TABLE_SIZE_OFF,
				b[i].table_size);
		qimg_store_be32(e + QCOW2_BMDIR_FLAGS_OFF, b[i].flags);
		e[BMDIR_TYPE_OFF] = TYPE_DIRTY_TRACKING;
		e[QCOW2_BMDIR_GRAN_BITS_OFF] = b[i].gran_bits;
		qimg_store_be16(e + QCOW2_BMDIR_NAME_SIZE_OFF, (uint16_t)nlen);
		memcpy(e + QCOW2_BMDIR_ENTRY_LEN, b[i].name, nlen);
		pos += entry_size(b[i].name);
	}
	*out = dir;
	*size = total;
	return 0;
}

int qcow2_bitmaps_mark_in_use(struct qcow2_state *s, struct qcow2_bitmap *dir,
			      size_t n, struct qimg_error *err)
{
	uint64_t dsize, doff, size;
	uint8_t *buf;
	uint32_t nb;
	size_t i;
	int r;

	qcow2_bitmaps_ext(s, &nb, &dsize, &doff);
	if (!nb || nb != n)
		return qimg_error_set(err, EINVAL,
				      "Can't update bitmap directory: %s",
				      strerror(EINVAL));
	for (i = 0; i < n; i++)
		dir[i].flags |= QCOW2_BME_IN_USE;
	r = dir_build(dir, n, &buf, &size, err);
	if (r < 0)
		return r;
	if (size != dsize) {
		free(buf);
		return qimg_error_set(err, EINVAL,
				      "Can't update bitmap directory: %s",
				      strerror(EINVAL));
	}
	/* Bit off, directory rewritten, bit on: each step on the disk
	 * before the next. */
	s->h.autoclear_features &= ~QCOW2_AUTOCLEAR_BITMAPS;
	r = qcow2_header_sync(s, err);
	if (r == 0)
		r = qimg_pwrite(s->file, doff, buf, size, err);
	if (r == 0)
		r = qimg_flush(s->file, err);
	free(buf);
	if (r < 0)
		return r;
	s->h.autoclear_features |= QCOW2_AUTOCLEAR_BITMAPS;
	return qcow2_header_sync(s, err);
}

/* Allocate and write a new directory for b[0..n) (n 0: none), point the
 * header at it, then free the old one. */
static int update_dir(struct qcow2_state *s, const struct qcow2_bitmap *b,
		      size_t n)
{
	struct qimg_error e = { 0 }, *err = &e;
	uint64_t old_size, old_off, new_off = 0, new_size = 0;
	uint64_t old_autoclear = s->h.autoclear_features;
	uint8_t *buf = NULL;
	uint32_t old_nb;
	int r;

	qcow2_bitmaps_ext(s, &old_nb, &old_size, &old_off);
	if (n) {
		if (n > QCOW2_MAX_BITMAPS)
			return -EINVAL;
		r = dir_build(b, n, &buf, &new_size, err);
		if (r < 0)
			return r;
		if (new_size > QCOW2_MAX_BITMAP_DIR) {
			free(buf);
			return -EINVAL;
		}
		r = qcow2_alloc_clusters(
			s, qimg_div_round_up(new_size, s->cluster_size),
			&new_off, err);
		if (r == 0)
			r = qimg_pwrite(s->file, new_off, buf, new_size, err);
		free(buf);
		/* The directory, the tables and data it names and their
		 * refcounts reach the disk before the header names it (with
		 * the cached tables, as QEMU flushes its caches here). */
		if (r == 0)
			r = qcow2_l2_writeback(s, err);
		if (r == 0)
			r = qcow2_refcount_flush(s, err);
		if (r == 0)
			r = qimg_flush(s->file, err);
		if (r < 0)
			goto fail;
		s->unflushed = false;
		s->h.autoclear_features |= QCOW2_AUTOCLEAR_BITMAPS;
	} else {
		s->h.autoclear_features &= ~QCOW2_AUTOCLEAR_BITMAPS;
	}
	qcow2_bitmaps_ext_set(s, (uint32_t)n, new_size, new_off);
	r = qcow2_header_sync(s, err);
	if (r < 0)
		goto fail;
	if (old_size)
		(void)qcow2_free_bytes(s, old_off, old_size, NULL);
	return 0;
fail:
	if (new_off)
		(void)qcow2_free_bytes(s, new_off, new_size, NULL);
	s->h.autoclear_features = old_autoclear;
	qcow2_bitmaps_ext_set(s, old_nb, old_size, old_off);
	return r;
}

/* Free a stored bitmap's data clusters (punched from the file, as QEMU
 * discards them) and its table. */
static int free_table(struct qcow2_state *s, uint64_t off, uint32_t size,
		      struct qimg_error *err)
{
	uint64_t *t;
	uint32_t i;
	int r;

	if (!size)
		return 0;
	r = qcow2_bitmap_table_read(s, off, size, &t, err);
	if (r < 0)
		return r;
	qcow2_collect_freed(s);
	for (i = 0; r == 0 && i < size; i++) {
		uint64_t eo = t[i] & QCOW2_L2E_OFFSET_MASK;

		if (eo)
			r = qcow2_free_bytes(s, eo, s->cluster_size, err);
	}
	free(t);
	if (r == 0)
		r = qcow2_discard_freed(s, err);
	else
		s->collect_freed = false;
	if (r == 0)
		r = qcow2_free_bytes(s, off, (uint64_t)size * 8, err);
	return r;
}

/* Write bm's set chunks to new clusters, then its table; the table's
 * place and size in *e. */
static int store_one(struct qcow2_state *s, struct qimg_dirty_bitmap *bm,
		     struct qcow2_bitmap *e, struct qimg_error *err)
{
	uint64_t n = bm->nchunks, i, toff = 0, *t;
	uint8_t *raw;
	int r = 0;

	if (n > QCOW2_MAX_BITMAP_TABLE ||
	    n * s->cluster_size > QCOW2_MAX_BITMAP_BYTES)
		return qimg_error_set(err, EINVAL, "Bitmap '%s' is too big",
				      bm->name);
	t = calloc(n ? n : 1, sizeof(*t));
	raw = malloc(n ? n * 8 : 1);
	if (!t || !raw) {
		free(t);
		free(raw);
		return qimg_error_set(err, ENOMEM, "No memory");
	}
	for (i = 0; r == 0 && i < n; i++) {
		const uint8_t *data = qimg_dbm_chunk(bm, i);

		if (!data)
			continue;
		r = qcow2_alloc_clusters(s, 1, &t[i], err);
		if (r < 0) {
			qimg_error_prefix(err,
					  "Failed to allocate clusters for "
					  "bitmap '%s'",
					  bm->name);
			break;
		}
		r = qimg_pwrite(s->file, t[i], data, s->cluster_size, err);
		if (r < 0)
			qimg_error_prefix(err,
					  "Failed to write bitmap '%s' to file",
					  bm->name);
	}
	if (r == 0) {
		r = qcow2_alloc_clusters(
			s, qimg_div_round_up(n * 8, s->cluster_size), &toff,
			err);
		if (r < 0)
			qimg_error_prefix(err,
					  "Failed to allocate clusters for "
					  "bitmap '%s'",
					  bm->name);
	}
	if (r == 0) {
		for (i = 0; i < n; i++)
			qimg_store_be64(raw + i * 8, t[i]);
		r = qimg_pwrite(s->file, toff, raw, n * 8, err);
		if (r < 0)
			qimg_error_prefix(err,
					  "Failed to write bitmap '%s' to file",
					  bm->name);
	}
	s->unflushed = true;
	if (r < 0) {
		for (i = 0; i < n; i++)
			if (t[i])
				(void)qcow2_free_bytes(s, t[i], s->cluster_size,
						       NULL);
		if (toff)
			(void)qcow2_free_bytes(s, toff, n * 8, NULL);
	} else {
		e->table_off = toff;
		e->table_size = (uint32_t)n;
	}
	free(t);
	free(raw);
	return r;
}

int qcow2_bitmap_constraints(struct qcow2_state *s, const char *name,
			     uint32_t gran_bits, struct qimg_error *err)
{
	uint64_t bits, bytes;

	if (gran_bits > 31)
		return qimg_error_set(err, EINVAL,
				      "Granularity exceeds maximum (%llu "
				      "bytes)",
				      1ULL << 31);
	if (gran_bits < 9)
		return qimg_error_set(err, EINVAL,
				      "Granularity is under minimum (%llu "
				      "bytes)",
				      1ULL << 9);
	bits = qimg_div_round_up(s->h.size, 1ull << gran_bits);
	bytes = qimg_div_round_up(bits, 8);
	if (bytes > QCOW2_MAX_BITMAP_BYTES ||
	    bytes > (uint64_t)QCOW2_MAX_BITMAP_TABLE * s->cluster_size)
		return qimg_error_set(err, EINVAL,
				      "Too much space will be occupied by the "
				      "bitmap. Use larger granularity");
	if (strlen(name) > QCOW2_MAX_BITMAP_NAME)
		return qimg_error_set(err, EINVAL,
				      "Name length exceeds maximum (%u "
				      "characters)",
				      QCOW2_MAX_BITMAP_NAME);
	return 0;
}

/* A directory entry being built for the store, with the in-memory bitmap
 * written there (NULL: kept as it is on the disk) and the table it had. */
struct store_ent {
	struct qcow2_bitmap e;
	struct qimg_dirty_bitmap *bm;
	uint64_t old_off;
	uint32_t old_size;
};

static void ents_free(struct store_ent *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i].e.name);
	free(v);
}

/* The directory on the disk as store entries, with room for `extra`. */
static int ents_load(struct qcow2_state *s, size_t extra,
		     struct store_ent **out, size_t *nout,
		     struct qimg_error *err)
{
	struct qcow2_bitmap *dir;
	struct store_ent *v;
	size_t n, i;
	int r;

	r = qcow2_bitmaps_read(s, &dir, &n, err);
	if (r < 0)
		return r;
	v = calloc(n + extra ? n + extra : 1, sizeof(*v));
	if (!v) {
		qcow2_bitmaps_free(dir, n);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	for (i = 0; i < n; i++) {
		v[i].e = dir[i];
		dir[i].name = NULL;
	}
	qcow2_bitmaps_free(dir, n);
	*out = v;
	*nout = n;
	return 0;
}

static struct qcow2_bitmap *ents_dir(struct store_ent *v, size_t n)
{
	struct qcow2_bitmap *b = calloc(n ? n : 1, sizeof(*b));
	size_t i;

	for (i = 0; b && i < n; i++)
		b[i] = v[i].e; /* names borrowed */
	return b;
}

int qcow2_bitmaps_store(struct qcow2_state *s, struct qimg_bitmap_set *set,
			struct qimg_error *err)
{
	struct store_ent *v;
	struct qcow2_bitmap *b;
	uint64_t dir_bytes = 0;
	bool need_write = false;
	size_t n, i, j;
	int r;

	r = ents_load(s, set->n, &v, &n, err);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		dir_bytes += entry_size(v[i].e.name);
	/* Newest first, as QEMU walks its list: bitmaps new to the image
	 * are appended to the directory in that order. */
	for (j = set->n; j-- > 0;) {
		struct qimg_dirty_bitmap *bm = set->v[j];
		struct store_ent *e = NULL;

		if (bm->inconsistent)
			continue;
		need_write = true;
		r = qcow2_bitmap_constraints(s, bm->name, bm->gran_bits, err);
		if (r < 0) {
			qimg_error_prefix(err,
					  "Bitmap '%s' doesn't satisfy the "
					  "constraints",
					  bm->name);
			goto out;
		}
		for (i = 0; i < n && !e; i++)
			if (!strcmp(v[i].e.name, bm->name))
				e = &v[i];
		if (!e) {
			dir_bytes += entry_size(bm->name);
			if (n + 1 > QCOW2_MAX_BITMAPS) {
				r = qimg_error_set(err, EINVAL,
						   "Too many persistent "
						   "bitmaps");
				goto out;
			}
			if (dir_bytes > QCOW2_MAX_BITMAP_DIR) {
				r = qimg_error_set(err, EINVAL,
						   "Bitmap directory is too "
						   "large");
				goto out;
			}
			e = &v[n++];
			e->e.name = strdup(bm->name);
			if (!e->e.name) {
				r = qimg_error_set(err, ENOMEM,
						   "Out of memory");
				goto out;
			}
		} else {
			if (!(e->e.flags & QCOW2_BME_IN_USE)) {
				r = qimg_error_set(err, EINVAL,
						   "Bitmap '%s' already exists "
						   "in the image",
						   bm->name);
				goto out;
			}
			e->old_off = e->e.table_off;
			e->old_size = e->e.table_size;
			e->e.table_off = 0;
			e->e.table_size = 0;
		}
		e->e.flags = bm->enabled ? QCOW2_BME_AUTO : 0;
		e->e.gran_bits = (uint8_t)bm->gran_bits;
		e->bm = bm;
	}
	if (!need_write)
		goto out;
	r = qcow2_mark_dirty(s, err);
	for (i = 0; r == 0 && i < n; i++)
		if (v[i].bm)
			r = store_one(s, v[i].bm, &v[i].e, err);
	b = r == 0 ? ents_dir(v, n) : NULL;
	if (r == 0 && !b)
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	if (r == 0) {
		r = update_dir(s, b, n);
		if (r < 0)
			qimg_error_set(err, -r,
				       "Failed to update bitmap extension: %s",
				       strerror(-r));
	}
	free(b);
	if (r < 0) {
		/* What was written for this store goes; the old bitmaps stay
		 * as they were (in use). */
		for (i = 0; i < n; i++)
			if (v[i].bm && v[i].e.table_size)
				(void)free_table(s, v[i].e.table_off,
						 v[i].e.table_size, NULL);
		goto out;
	}
	/* The directory names the new tables now: the old ones go. */
	for (i = 0; i < n; i++)
		if (v[i].old_size)
			(void)free_table(s, v[i].old_off, v[i].old_size, NULL);
out:
	ents_free(v, n);
	return r;
}

int qcow2_bitmaps_remove_stored(struct qcow2_state *s, const char *name,
				struct qimg_error *err)
{
	struct store_ent *v;
	struct qcow2_bitmap *b;
	struct store_ent gone;
	size_t n, i;
	uint32_t nb;
	uint64_t dsize, doff;
	int r;

	qcow2_bitmaps_ext(s, &nb, &dsize, &doff);
	if (!nb)
		return 0;
	r = ents_load(s, 0, &v, &n, err);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		if (!strcmp(v[i].e.name, name))
			break;
	if (i == n) {
		ents_free(v, n);
		return 0;
	}
	gone = v[i];
	memmove(v + i, v + i + 1, (n - i - 1) * sizeof(*v));
	n--;
	r = qcow2_mark_dirty(s, err);
	b = r == 0 ? ents_dir(v, n) : NULL;
	if (r == 0 && !b)
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	if (r == 0) {
		r = update_dir(s, b, n);
		if (r < 0)
			qimg_error_set(err, -r,
				       "Failed to update bitmap extension: %s",
				       strerror(-r));
	}
	free(b);
	if (r == 0)
		(void)free_table(s, gone.e.table_off, gone.e.table_size, NULL);
	free(gone.e.name);
	ents_free(v, n);
	return r;
}
