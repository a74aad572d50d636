/* SPDX-License-Identifier: MIT */
/* qcow2 refcounts: entries of any width 1..64 bits, the refcount table and
 * a cache of refcount blocks, cluster allocation (contiguous runs), creation
 * of refcount blocks and relocation of a full refcount table.  Callers hold
 * the metadata lock.  Crash safety: a count reaches the file before anything
 * references the cluster, and a new block is counted before the table points
 * at it. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"
#include "util/overflow.h"

#define RB_CACHE_SLOTS 16
#define MAX_HOST_CLUSTER_BITS 56

uint64_t qcow2_rc_get(const uint8_t *blk, uint64_t idx, uint32_t order)
{
	switch (order) {
	case 0:
	case 1:
	case 2: {
		uint32_t w = 1u << order, per = 8 / w;
		uint32_t shift = (uint32_t)(idx % per) * w;

		return (blk[idx / per] >> shift) & ((1u << w) - 1);
	}
	case 3:
		return blk[idx];
	case 4:
		return qimg_load_be16(blk + idx * 2);
	case 5:
		return qimg_load_be32(blk + idx * 4);
	default:
		return qimg_load_be64(blk + idx * 8);
	}
}

void qcow2_rc_set(uint8_t *blk, uint64_t idx, uint32_t order, uint64_t v)
{
	switch (order) {
	case 0:
	case 1:
	case 2: {
		uint32_t w = 1u << order, per = 8 / w;
		uint32_t shift = (uint32_t)(idx % per) * w;
		uint8_t mask = (uint8_t)(((1u << w) - 1) << shift);

		blk[idx / per] = (uint8_t)((blk[idx / per] & ~mask) |
					   ((v << shift) & mask));
		break;
	}
	case 3:
		blk[idx] = (uint8_t)v;
		break;
	case 4:
		qimg_store_be16(blk + idx * 2, (uint16_t)v);
		break;
	case 5:
		qimg_store_be32(blk + idx * 4, (uint32_t)v);
		break;
	default:
		qimg_store_be64(blk + idx * 8, v);
		break;
	}
}

/* Byte span [*lo, *hi) that holds entries [a, b). */
static void entry_bytes(uint32_t order, uint64_t a, uint64_t b, uint64_t *lo,
			uint64_t *hi)
{
	if (order < 3) {
		uint64_t per = 8 >> order;

		*lo = a / per;
		*hi = (b + per - 1) / per;
	} else {
		uint64_t w = 1ull << (order - 3);

		*lo = a * w;
		*hi = b * w;
	}
}

int qcow2_refcount_init(struct qcow2_state *s, struct qimg_error *err)
{
	uint64_t bytes = (uint64_t)s->h.refcount_table_clusters
			 << s->cluster_bits;
	uint8_t *raw;
	uint64_t i;
	int r;

	s->refcount_order = s->h.refcount_order;
	s->rb_bits = s->cluster_bits + 3 - s->refcount_order;
	s->rb_entries = 1ull << s->rb_bits;
	s->refcount_max = s->refcount_order == 6
				  ? UINT64_MAX
				  : (1ull << (1u << s->refcount_order)) - 1;
	s->rt_entries = bytes / 8;
	s->rt = calloc(s->rt_entries ? s->rt_entries : 1, sizeof(uint64_t));
	raw = malloc(bytes ? bytes : 1);
	if (!s->rt || !raw) {
		free(raw);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = qimg_pread(s->file, s->h.refcount_table_offset, raw, bytes, err);
	if (r < 0) {
		free(raw);
		return r;
	}
	for (i = 0; i < s->rt_entries; i++)
		s->rt[i] = qimg_load_be64(raw + i * 8);
	free(raw);
	r = qcow2_cache_init(&s->rbc, RB_CACHE_SLOTS, s->cluster_size);
	if (r < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

void qcow2_refcount_free(struct qcow2_state *s)
{
	qcow2_cache_free(&s->rbc);
	free(s->rt);
	s->rt = NULL;
	qcow2_ranges_free(&s->reserved);
	qcow2_ranges_free(&s->freed);
}

/* Widen the byte range [lo, hi) of a cached table to the file's request
 * alignment (within the cluster): the cache holds the bytes around it, so
 * with O_DIRECT the write needs no read-modify-write of the block. */
static void widen_to_file(const struct qcow2_state *s, uint64_t *lo,
			  uint64_t *hi)
{
	uint64_t a = qimg_request_align(s->file);

	if (a <= 1)
		return;
	*lo -= *lo % a;
	*hi += (a - *hi % a) % a;
	if (*hi > s->cluster_size)
		*hi = s->cluster_size;
}

static int slot_writeback(struct qcow2_state *s, struct qcow2_cache_slot *sl,
			  struct qimg_error *err)
{
	int r;

	if (!sl->off || !sl->dirty)
		return 0;
	r = qimg_pwrite(s->file, sl->off, sl->buf, s->cluster_size, err);
	if (r < 0)
		return r;
	sl->dirty = false;
	return 0;
}

/* Remember host cluster c as freed (merged with the last range when they
 * touch).  Out of memory only loses a punch: nothing to report. */
static void note_freed(struct qcow2_state *s, uint64_t c)
{
	struct qcow2_range *last;

	if (!s->collect_freed)
		return;
	last = s->freed.len ? &s->freed.v[s->freed.len - 1] : NULL;
	if (last && last->start + last->n == c) {
		last->n++;
		return;
	}
	(void)qcow2_ranges_append(&s->freed,
				  (struct qcow2_range){ .start = c, .n = 1 });
}

void qcow2_collect_freed(struct qcow2_state *s)
{
	s->collect_freed = true;
	s->freed.len = 0;
}

int qcow2_discard_freed(struct qcow2_state *s, struct qimg_error *err)
{
	size_t i;
	int r;

	s->collect_freed = false;
	r = qcow2_refcount_flush(s, err);
	if (r == 0 && s->freed.len)
		r = qcow2_barrier(s, err);
	for (i = 0; r == 0 && i < s->freed.len; i++) {
		struct qimg_error ignored = { 0 };
		uint64_t c = s->freed.v[i].start, n = s->freed.v[i].n;
		uint64_t k;

		/* Freed and then reused (allocated again) in the meantime:
		 * only the clusters still free are punched. */
		for (k = 0; k < n;) {
			uint64_t run = 0, rc = 1;

			while (k + run < n &&
			       qcow2_get_refcount(s, c + k + run, &rc,
						  &ignored) == 0 &&
			       rc == 0)
				run++;
			if (run)
				qimg_discard(s->file,
					     (c + k) << s->cluster_bits,
					     run << s->cluster_bits, &ignored);
			k += run ? run : 1;
		}
	}
	s->freed.len = 0;
	return r;
}

int qcow2_refcount_flush(struct qcow2_state *s, struct qimg_error *err)
{
	size_t i;
	int r;

	for (i = 0; i < s->rbc.n; i++) {
		r = slot_writeback(s, &s->rbc.slot[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The cached refcount block of table index t; *sl NULL if there is none. */
static int rb_get(struct qcow2_state *s, uint64_t t,
		  struct qcow2_cache_slot **out, struct qimg_error *err)
{
	struct qcow2_cache_slot *sl;
	uint64_t off;
	int r;

	*out = NULL;
	if (t >= s->rt_entries || !(s->rt[t] & QCOW2_RT_OFFSET_MASK))
		return 0;
	off = s->rt[t] & QCOW2_RT_OFFSET_MASK;
	if (off & (s->cluster_size - 1) || s->rt[t] & 0x1ff)
		return qcow2_signal_corruption(s, err,
					       "Refblock offset %#" PRIx64
					       " unaligned (reftable "
					       "index: %#" PRIx64 ")",
					       s->rt[t], t);
	if (off < s->cluster_size || off >= (1ull << MAX_HOST_CLUSTER_BITS))
		return qcow2_signal_corruption(s, err,
					       "Refblock at %#" PRIx64
					       " is invalid (reftable index: "
					       "%#" PRIx64 ")",
					       off, t);
	sl = qcow2_cache_find(&s->rbc, off);
	if (!sl) {
		sl = qcow2_cache_victim(&s->rbc);
		if (!sl)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		r = slot_writeback(s, sl, err);
		if (r < 0)
			return r;
		sl->off = 0;
		r = qimg_pread(s->file, off, sl->buf, s->cluster_size, err);
		if (r < 0)
			return r;
		sl->off = off;
		sl->dirty = false;
		qcow2_cache_touch(&s->rbc, sl);
	}
	*out = sl;
	return 0;
}

int qcow2_get_refcount(struct qcow2_state *s, uint64_t c, uint64_t *rc,
		       struct qimg_error *err)
{
	struct qcow2_cache_slot *sl;
	int r;

	*rc = 0;
	r = rb_get(s, c >> s->rb_bits, &sl, err);
	if (r < 0 || !sl)
		return r;
	*rc = qcow2_rc_get(sl->buf, c & (s->rb_entries - 1), s->refcount_order);
	return 0;
}

static bool is_reserved(const struct qcow2_state *s, uint64_t c)
{
	size_t i;

	for (i = 0; i < s->reserved.len; i++)
		if (c >= s->reserved.v[i].start &&
		    c - s->reserved.v[i].start < s->reserved.v[i].n)
			return true;
	return false;
}

static int reserve(struct qcow2_state *s, uint64_t c, uint64_t n)
{
	return qcow2_ranges_append(&s->reserved,
				   (struct qcow2_range){ .start = c, .n = n });
}

static void unreserve(struct qcow2_state *s, uint64_t c)
{
	size_t i;

	for (i = 0; i < s->reserved.len; i++) {
		if (s->reserved.v[i].start == c) {
			s->reserved.v[i] = s->reserved.v[--s->reserved.len];
			return;
		}
	}
}

/* Find n contiguous clusters with refcount 0, not reserved, and (during a
 * rebuild) not referenced.  Blocks that do not exist are skipped whole. */
static int find_free(struct qcow2_state *s, uint64_t n, uint64_t *out,
		     struct qimg_error *err)
{
	uint64_t limit = 1ull << (MAX_HOST_CLUSTER_BITS - s->cluster_bits);
	uint64_t c = s->free_hint ? s->free_hint : 1, start = c, run = 0;
	uint64_t first_free = 0, cur_t = UINT64_MAX;
	struct qcow2_cache_slot *sl = NULL;
	int r;

	while (c < limit) {
		uint64_t t = c >> s->rb_bits;
		bool used;

		if (t != cur_t) {
			r = rb_get(s, t, &sl, err);
			if (r < 0)
				return r;
			cur_t = t;
		}
		if (!sl && !s->reserved.len && !s->rebuild) {
			/* A missing block: its whole range is free. */
			uint64_t end = (t + 1) << s->rb_bits;

			if (!first_free)
				first_free = c;
			run += end - c;
			c = end;
			if (run >= n)
				goto found;
			continue;
		}
		used = sl && qcow2_rc_get(sl->buf, c & (s->rb_entries - 1),
					  s->refcount_order);
		if (!used)
			used = is_reserved(s, c) ||
			       (s->rebuild && c < s->rebuild_n &&
				s->rebuild[c]);
		if (used) {
			c++;
			start = c;
			run = 0;
			continue;
		}
		if (!first_free)
			first_free = c;
		if (++run == n)
			goto found;
		c++;
	}
	return qimg_error_set(err, ENOSPC, "No space left in the image file");
found:
	/* Everything before the first free cluster seen is in use. */
	if (first_free > s->free_hint)
		s->free_hint = first_free;
	*out = start;
	return 0;
}

static int write_rt_entry(struct qcow2_state *s, uint64_t t,
			  struct qimg_error *err)
{
	uint8_t b[8];

	if (s->rt_moving)
		return 0;
	qimg_store_be64(b, s->rt[t]);
	return qimg_pwrite(s->file, s->h.refcount_table_offset + t * 8, b, 8,
			   err);
}

static int ensure_refblock(struct qcow2_state *s, uint64_t t, int depth,
			   struct qimg_error *err);

/* Move the refcount table to a larger, new place covering index `need`. */
static int grow_table(struct qcow2_state *s, uint64_t need,
		      struct qimg_error *err)
{
	uint64_t per = s->cluster_size / 8, nclusters, nentries, start = 0;
	uint64_t old_off = s->h.refcount_table_offset;
	uint64_t old_clusters = s->h.refcount_table_clusters, i;
	uint64_t *nrt, *ort;
	uint8_t *raw, hb[12];
	int r;

	if (s->rt_moving)
		return qimg_error_set(err, EIO, "Refcount table growth loop");
	for (;;) {
		nclusters = (need + 1 + per - 1) / per;
		nclusters += nclusters / 2 + 1;
		nentries = nclusters * per;
		if (nclusters * s->cluster_size > QCOW2_MAX_RT_BYTES)
			return qimg_error_set(err, EFBIG,
					      "Refcount table too large");
		r = find_free(s, nclusters, &start, err);
		if (r < 0)
			return r;
		/* Room for the blocks describing the table itself. */
		if (((start + nclusters + 1) >> s->rb_bits) < nentries)
			break;
		need = (start + nclusters + 1) >> s->rb_bits;
	}

	nrt = calloc(nentries, sizeof(uint64_t));
	raw = malloc(nclusters * s->cluster_size);
	if (!nrt || !raw) {
		free(nrt);
		free(raw);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	memcpy(nrt, s->rt, s->rt_entries * sizeof(uint64_t));
	r = reserve(s, start, nclusters);
	if (r < 0) {
		free(nrt);
		free(raw);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (s->rebuild) {
		for (i = start; i < start + nclusters && i < s->rebuild_n; i++)
			s->rebuild[i] = 1;
	}
	ort = s->rt;
	s->rt = nrt;
	s->rt_entries = nentries;
	s->rt_moving = true;
	r = qcow2_update_refcount(s, start, nclusters, 1, err);
	if (r < 0)
		goto fail;
	memset(raw, 0, nclusters * s->cluster_size);
	for (i = 0; i < nentries; i++)
		qimg_store_be64(raw + i * 8, s->rt[i]);
	r = qimg_pwrite(s->file, start << s->cluster_bits, raw,
			nclusters * s->cluster_size, err);
	s->unflushed = true;
	if (r == 0)
		r = qcow2_barrier(s, err);
	if (r < 0)
		goto fail;
	/* One write switches to the new table (offset and size). */
	qimg_store_be64(hb, start << s->cluster_bits);
	qimg_store_be32(hb + 8, (uint32_t)nclusters);
	r = qimg_pwrite(s->file, QCOW2_HDR_RT_OFFSET_OFF, hb, 12, err);
	s->unflushed = true; /* before the old table is freed */
	if (r < 0)
		goto fail;
	s->h.refcount_table_offset = start << s->cluster_bits;
	s->h.refcount_table_clusters = (uint32_t)nclusters;
	s->rt_moving = false;
	unreserve(s, start);
	free(ort);
	free(raw);
	if (s->rebuild) {
		for (i = old_off >> s->cluster_bits;
		     i < (old_off >> s->cluster_bits) + old_clusters &&
		     i < s->rebuild_n;
		     i++)
			s->rebuild[i] = 0;
	}
	return qcow2_update_refcount(s, old_off >> s->cluster_bits,
				     old_clusters, -1, err);
fail:
	/* The old table is still the one on disk. */
	s->rt_moving = false;
	s->rt = ort;
	s->rt_entries = old_clusters * per;
	unreserve(s, start);
	free(nrt);
	free(raw);
	return r;
}

static int ensure_refblock(struct qcow2_state *s, uint64_t t, int depth,
			   struct qimg_error *err)
{
	struct qcow2_cache_slot *sl;
	uint64_t b, bt;
	int r;

	if (t < s->rt_entries && (s->rt[t] & QCOW2_RT_OFFSET_MASK))
		return 0;
	if (depth > 4)
		return qimg_error_set(err, EIO,
				      "Cannot place a new refcount block");
	if (t >= s->rt_entries) {
		r = grow_table(s, t, err);
		if (r < 0)
			return r;
		if (s->rt[t] & QCOW2_RT_OFFSET_MASK)
			return 0;
	}
	r = find_free(s, 1, &b, err);
	if (r < 0)
		return r;
	bt = b >> s->rb_bits;
	r = reserve(s, b, 1);
	if (r < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (bt != t) {
		r = ensure_refblock(s, bt, depth + 1, err);
		if (r < 0)
			goto out;
	}

	/* Write the new block; a block in its own range counts itself. */
	sl = qcow2_cache_victim(&s->rbc);
	if (!sl) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	r = slot_writeback(s, sl, err);
	if (r < 0)
		goto out;
	sl->off = 0;
	memset(sl->buf, 0, s->cluster_size);
	if (bt == t)
		qcow2_rc_set(sl->buf, b & (s->rb_entries - 1),
			     s->refcount_order, 1);
	r = qimg_pwrite(s->file, b << s->cluster_bits, sl->buf, s->cluster_size,
			err);
	s->unflushed = true;
	if (r < 0)
		goto out;
	sl->off = b << s->cluster_bits;
	sl->dirty = false;
	qcow2_cache_touch(&s->rbc, sl);
	if (bt != t) {
		r = qcow2_update_refcount(s, b, 1, 1, err);
		if (r < 0)
			goto out;
	}
	if (s->rebuild && b < s->rebuild_n)
		s->rebuild[b] = 1;
	s->rt[t] = b << s->cluster_bits;
	/* the block is on the disk before the table points at it */
	r = qcow2_barrier(s, err);
	if (r == 0)
		r = write_rt_entry(s, t, err);
	s->unflushed = true;
out:
	unreserve(s, b);
	return r;
}

int qcow2_cover_cluster(struct qcow2_state *s, uint64_t c,
			struct qimg_error *err)
{
	uint64_t t = c >> s->rb_bits;
	int r;

	if (t < s->rt_entries && (s->rt[t] & QCOW2_RT_OFFSET_MASK))
		return 0;
	r = ensure_refblock(s, t, 0, err);
	return r < 0 ? r : 1;
}

int qcow2_update_refcount(struct qcow2_state *s, uint64_t c, uint64_t n,
			  int delta, struct qimg_error *err)
{
	/* A decrement waits for the dropped references to be on the disk
	 * (one flush per batch), and so before it touches the cached block:
	 * the barrier writes the L2 tables back after the blocks with pending
	 * increments, whole, and a decrement already in them would reach the
	 * disk before the references it drops leave it. */
	if (delta < 0 && !s->lazy) {
		int r = qcow2_l2_writeback(s, err);

		if (r == 0)
			r = qcow2_barrier(s, err);
		if (r < 0)
			return r;
	}
	while (n) {
		struct qcow2_cache_slot *sl;
		uint64_t t = c >> s->rb_bits;
		uint64_t i0 = c & (s->rb_entries - 1), i, cnt, lo, hi;
		int r;

		cnt = s->rb_entries - i0;
		if (cnt > n)
			cnt = n;
		if (delta > 0) {
			r = ensure_refblock(s, t, 0, err);
			if (r < 0)
				return r;
		}
		r = rb_get(s, t, &sl, err);
		if (r < 0)
			return r;
		if (!sl)
			return qcow2_signal_corruption(
				s, err,
				"Cannot decrease refcount of cluster %#" PRIx64
				" below zero",
				c);
		for (i = i0; i < i0 + cnt; i++) {
			uint64_t v =
				qcow2_rc_get(sl->buf, i, s->refcount_order);

			if (delta < 0 && v < (uint64_t)-delta)
				return qcow2_signal_corruption(
					s, err,
					"Cannot decrease refcount of cluster %#" PRIx64
					" below zero",
					(t << s->rb_bits) + i);
			if (delta > 0 && s->refcount_max - v < (uint64_t)delta)
				return qimg_error_set(
					err, ERANGE,
					"Refcount of cluster %#" PRIx64
					" would overflow",
					(t << s->rb_bits) + i);
			v += (uint64_t)(int64_t)delta;
			qcow2_rc_set(sl->buf, i, s->refcount_order, v);
			if (v == 0 && (t << s->rb_bits) + i < s->free_hint)
				s->free_hint = (t << s->rb_bits) + i;
			if (v == 0 && delta < 0)
				note_freed(s, (t << s->rb_bits) + i);
			/* Never append compressed data to a freed cluster. */
			if (v == 0 && s->cbyte &&
			    (s->cbyte >> s->cluster_bits) ==
				    (t << s->rb_bits) + i)
				s->cbyte = 0;
		}
		if (s->lazy) {
			sl->dirty = true;
		} else if (delta > 0 && !s->rc_through) {
			/* An increment only has to be on the disk before the
			 * reference to come, which waits for a barrier: the
			 * barrier writes the block back (one write per block
			 * and barrier, not one per allocation: with O_DIRECT
			 * each was a synchronous device write). */
			sl->dirty = true;
			s->rc_pending = true;
		} else {
			/* Written through: a decrement (its references are
			 * gone from the disk, above), or an increment with
			 * rc_through, after what waits for a barrier. */
			if (delta > 0) {
				r = qcow2_l2_writeback(s, err);
				if (r == 0)
					r = qcow2_barrier(s, err);
				if (r < 0)
					return r;
			}
			entry_bytes(s->refcount_order, i0, i0 + cnt, &lo, &hi);
			widen_to_file(s, &lo, &hi);
			r = qimg_pwrite(s->file, sl->off + lo, sl->buf + lo,
					hi - lo, err);
			if (r < 0)
				return r;
		}
		c += cnt;
		n -= cnt;
	}
	return 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

const char *qcow2_metadata_overlap(struct qcow2_state *s, uint64_t off,
				   uint64_t len)
{
	uint64_t cs = s->cluster_size;
	size_t i;

	if (ranges_overlap(off, len, 0, cs))
		return "qcow2_header";
	if (ranges_overlap(off, len, s->h.l1_table_offset,
			   (uint64_t)s->l1_size * 8))
		return "active L1 table";
	if (ranges_overlap(off, len, s->h.refcount_table_offset,
			   (uint64_t)s->h.refcount_table_clusters * cs))
		return "refcount table";
	if (s->h.nb_snapshots &&
	    ranges_overlap(off, len, s->h.snapshots_offset, cs))
		return "snapshot table";
	for (i = 0; i < s->rbc.n; i++)
		if (s->rbc.slot[i].off &&
		    ranges_overlap(off, len, s->rbc.slot[i].off, cs))
			return "refcount block";
	for (i = 0; i < s->l2c.n; i++)
		if (s->l2c.slot[i].off &&
		    ranges_overlap(off, len, s->l2c.slot[i].off, cs))
			return "active L2 table";
	return NULL;
}

int qcow2_data_write_ok(struct qcow2_state *s, uint64_t off, uint64_t len,
			struct qimg_error *err)
{
	const char *what = qcow2_metadata_overlap(s, off, len);

	if (!what)
		return 0;
	return qcow2_signal_corruption(s, err,
				       "Preventing invalid write on metadata "
				       "(overlaps with %s)",
				       what);
}

int qcow2_alloc_clusters(struct qcow2_state *s, uint64_t n, uint64_t *off,
			 struct qimg_error *err)
{
	const char *what;
	uint64_t c;
	int r;

	r = find_free(s, n, &c, err);
	if (r < 0)
		return r;
	/* Free per the refcounts but in use: the refcounts are damaged. */
	what = qcow2_metadata_overlap(s, c << s->cluster_bits,
				      n << s->cluster_bits);
	if (what)
		return qcow2_signal_corruption(s, err,
					       "Preventing invalid "
					       "allocation over metadata "
					       "(overlaps with %s)",
					       what);
	r = reserve(s, c, n);
	if (r < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qcow2_update_refcount(s, c, n, 1, err);
	unreserve(s, c);
	if (r < 0)
		return r;
	if (s->rebuild) {
		uint64_t i;

		for (i = c; i < c + n && i < s->rebuild_n; i++)
			s->rebuild[i] = 1;
	}
	/* The next search starts after this run, as QEMU's does: a smaller
	 * gap before it stays unused until something is freed (so that
	 * images qemu-img and qimg take turns on keep QEMU's layout). */
	if (s->free_hint < c + n)
		s->free_hint = c + n;
	*off = c << s->cluster_bits;
	return 0;
}

int qcow2_free_bytes(struct qcow2_state *s, uint64_t off, uint64_t len,
		     struct qimg_error *err)
{
	uint64_t first, last;
	int r;

	if (!len)
		return 0;
	first = off >> s->cluster_bits;
	last = (off + len - 1) >> s->cluster_bits;
	qimg_debug_event(s->file, QIMG_EV_CLUSTER_FREE);
	r = qcow2_update_refcount(s, first, last - first + 1, -1, err);
	if (r < 0)
		qimg_error_note(err, "qcow2_free_clusters failed: %s",
				strerror(-r));
	return r;
}

int qcow2_set_refcount(struct qcow2_state *s, uint64_t c, uint64_t v,
		       struct qimg_error *err)
{
	struct qcow2_cache_slot *sl;
	uint64_t t = c >> s->rb_bits, i = c & (s->rb_entries - 1), lo, hi;
	int r;

	if (v > s->refcount_max)
		v = s->refcount_max;
	if (v) {
		r = ensure_refblock(s, t, 0, err);
		if (r < 0)
			return r;
	}
	r = rb_get(s, t, &sl, err);
	if (r < 0 || !sl)
		return r;
	qcow2_rc_set(sl->buf, i, s->refcount_order, v);
	if (!v && c < s->free_hint)
		s->free_hint = c;
	if (s->lazy) {
		sl->dirty = true;
		return 0;
	}
	if (!v) {
		r = qcow2_barrier(s, err);
		if (r < 0)
			return r;
	}
	entry_bytes(s->refcount_order, i, i + 1, &lo, &hi);
	widen_to_file(s, &lo, &hi);
	r = qimg_pwrite(s->file, sl->off + lo, sl->buf + lo, hi - lo, err);
	if (v)
		s->unflushed = true;
	return r;
}

/* Refcount blocks and table entries (blocks, table clusters) needed to
 * count `clusters` clusters plus themselves. */
static void area_size(const struct qcow2_state *s, uint64_t clusters,
		      uint64_t *blocks, uint64_t *table)
{
	uint64_t per_table = s->cluster_size / 8, b = 0, t = 0, nb, nt;

	for (;;) {
		nb = qimg_div_round_up(clusters + b + t, s->rb_entries);
		nt = qimg_div_round_up(nb, per_table);
		if (nb == b && nt == t)
			break;
		b = nb;
		t = nt;
	}
	*blocks = b;
	*table = t;
}

int qcow2_refcount_area(struct qcow2_state *s, uint64_t start, uint64_t extra,
			uint64_t *end_out, struct qimg_error *err)
{
	uint64_t per_table = s->cluster_size / 8, blocks, tclusters;
	uint64_t nentries, area_idx, add = 0, tstart, end, next, i;
	uint64_t old_off = s->h.refcount_table_offset;
	uint64_t old_clusters = s->h.refcount_table_clusters;
	uint64_t *nrt;
	uint8_t *raw, hb[12];
	int r = 0;

	area_size(s, start + extra, &blocks, &tclusters);
	nentries = tclusters * per_table;
	if (tclusters * s->cluster_size > QCOW2_MAX_RT_BYTES)
		return qimg_error_set(err, EFBIG, "Refcount table too large");
	nrt = calloc(nentries, sizeof(uint64_t));
	raw = calloc(tclusters, s->cluster_size);
	if (!nrt || !raw) {
		free(nrt);
		free(raw);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	memcpy(nrt, s->rt,
	       (s->rt_entries < nentries ? s->rt_entries : nentries) *
		       sizeof(uint64_t));
	area_idx = start >> s->rb_bits;
	for (i = area_idx; i < blocks; i++)
		if (!(nrt[i] & QCOW2_RT_OFFSET_MASK))
			add++;
	/* New blocks first, the table right after them. */
	tstart = start + add;
	end = tstart + tclusters;
	next = start;
	for (i = area_idx; i < blocks && r == 0; i++) {
		struct qcow2_cache_slot *sl;
		uint64_t first = i << s->rb_bits, j, jend;

		if (nrt[i] & QCOW2_RT_OFFSET_MASK) {
			/* rb_get reads through s->rt: still the old table,
			 * which holds every existing block. */
			r = rb_get(s, i, &sl, err);
			if (r < 0)
				break;
		} else {
			sl = qcow2_cache_victim(&s->rbc);
			r = slot_writeback(s, sl, err);
			if (r < 0)
				break;
			memset(sl->buf, 0, s->cluster_size);
			sl->off = next << s->cluster_bits;
			qcow2_cache_touch(&s->rbc, sl);
			nrt[i] = next << s->cluster_bits;
			next++;
		}
		if (first < end) {
			j = first < start ? start - first : 0;
			jend = end - first < s->rb_entries ? end - first
							   : s->rb_entries;
			for (; j < jend; j++)
				qcow2_rc_set(sl->buf, j, s->refcount_order, 1);
		}
		r = qimg_pwrite(s->file, sl->off, sl->buf, s->cluster_size,
				err);
		sl->dirty = false;
	}
	for (i = 0; r == 0 && i < nentries; i++)
		qimg_store_be64(raw + i * 8, nrt[i]);
	if (r == 0)
		r = qimg_pwrite(s->file, tstart << s->cluster_bits, raw,
				tclusters * s->cluster_size, err);
	s->unflushed = true;
	if (r == 0)
		r = qcow2_barrier(s, err); /* blocks and table, then header */
	if (r == 0) {
		qimg_store_be64(hb, tstart << s->cluster_bits);
		qimg_store_be32(hb + 8, (uint32_t)tclusters);
		r = qimg_pwrite(s->file, QCOW2_HDR_RT_OFFSET_OFF, hb, 12, err);
		s->unflushed = true;
	}
	free(raw);
	if (r < 0) {
		free(nrt);
		return r;
	}
	free(s->rt);
	s->rt = nrt;
	s->rt_entries = nentries;
	s->h.refcount_table_offset = tstart << s->cluster_bits;
	s->h.refcount_table_clusters = (uint32_t)tclusters;
	if (s->free_hint < end)
		s->free_hint = end;
	*end_out = end;
	return qcow2_update_refcount(s, old_off >> s->cluster_bits,
				     old_clusters, -1, err);
}

/* ---- shrinking: refcount blocks that count nothing ---- */

/* Whether the refcount block of table index t counts no cluster but,
 * perhaps, itself (*self: it lies in its own range).  A block past the end
 * of the file reads as zeros. */
static int refblock_unused(struct qcow2_state *s, uint64_t t, uint64_t flen,
			   bool *unused, bool *self, struct qimg_error *err)
{
	uint64_t off = s->rt[t] & QCOW2_RT_OFFSET_MASK;
	uint64_t own = off >> s->cluster_bits, k;
	struct qcow2_cache_slot *sl;
	int r;

	*unused = false;
	*self = own >> s->rb_bits == t;
	if (off & (s->cluster_size - 1) || s->rt[t] & 0x1ff)
		return qcow2_signal_corruption(
			s, err,
			"Cannot get entry from refcount block cache: "
			"Offset %#" PRIx64 " is unaligned",
			s->rt[t]);
	if (off + s->cluster_size > flen) {
		*unused = true;
		return 0;
	}
	r = rb_get(s, t, &sl, err);
	if (r < 0 || !sl)
		return r;
	for (k = 0; k < s->rb_entries; k++) {
		if (*self && k == (own & (s->rb_entries - 1)))
			continue;
		if (qcow2_rc_get(sl->buf, k, s->refcount_order))
			return 0;
	}
	*unused = true;
	return 0;
}

/* Drop the count of refcount block cluster c, which its own block no
 * longer describes, from the block that covers it. */
static int free_refblock(struct qcow2_state *s, uint64_t c,
			 struct qimg_error *err)
{
	uint64_t u = c >> s->rb_bits, rc;
	int r;

	if (u >= s->rt_entries || !(s->rt[u] & QCOW2_RT_OFFSET_MASK))
		return qcow2_signal_corruption(s, err,
					       "Refblock at %#" PRIx64
					       " is not covered by the "
					       "refcount structures",
					       c << s->cluster_bits);
	if (s->rt[u] & (s->cluster_size - 1))
		return qcow2_signal_corruption(
			s, err,
			"Cannot get entry from refcount block cache: "
			"Offset %#" PRIx64 " is unaligned",
			s->rt[u]);
	r = qcow2_get_refcount(s, c, &rc, err);
	if (r < 0)
		return r;
	if (rc != 1)
		return qcow2_signal_corruption(s, err,
					       "Refblock at %#" PRIx64
					       " has refcount %" PRIu64
					       " instead of 1",
					       c << s->cluster_bits, rc);
	return qcow2_update_refcount(s, c, 1, -1, err);
}

int qcow2_shrink_reftable(struct qcow2_state *s, struct qimg_error *err)
{
	int64_t flen = qimg_node_length(s->file, err);
	uint64_t t, nfree = 0, *drop; /* dropped blocks' offsets, or 0 */
	uint8_t *buf;
	int r = 0;

	if (flen < 0)
		return (int)flen;
	r = qcow2_refcount_flush(s, err);
	if (r < 0)
		return r;
	drop = calloc(s->rt_entries ? s->rt_entries : 1, sizeof(*drop));
	if (!drop)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	/* First find them all: a damaged entry stops everything before the
	 * table changes. */
	for (t = 0; r == 0 && t < s->rt_entries; t++) {
		bool unused, self;

		if (!(s->rt[t] & QCOW2_RT_OFFSET_MASK))
			continue;
		r = refblock_unused(s, t, (uint64_t)flen, &unused, &self, err);
		drop[t] =
			r == 0 && unused ? s->rt[t] & QCOW2_RT_OFFSET_MASK : 0;
		nfree += drop[t] != 0;
	}
	if (r < 0 || !nfree)
		goto out;
	/* The table without them, on the disk before any is freed. */
	buf = malloc(s->rt_entries * 8);
	if (!buf) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	for (t = 0; t < s->rt_entries; t++) {
		if (drop[t]) {
			s->rt[t] = 0;
			qcow2_cache_drop(&s->rbc, drop[t]);
		}
		qimg_store_be64(buf + t * 8, s->rt[t]);
	}
	r = qimg_pwrite(s->file, s->h.refcount_table_offset, buf,
			s->rt_entries * 8, err);
	free(buf);
	if (r < 0)
		goto out;
	s->unflushed = true;
	r = qcow2_barrier(s, err);
	/* Each block's own cluster: gone with its block when it counted
	 * itself, otherwise freed in the block that covers it. */
	for (t = 0; r == 0 && t < s->rt_entries; t++) {
		uint64_t c = drop[t] >> s->cluster_bits;

		if (!drop[t])
			continue;
		if (c >> s->rb_bits == t)
			note_freed(s, c);
		else
			r = free_refblock(s, c, err);
	}
out:
	free(drop);
	return r;
}
