/* SPDX-License-Identifier: MIT */
/* qcow2 cluster mapping: L1 entries, an LRU cache of L2 tables, the type
 * of each (sub)cluster, runs of equal mapping for reads and block status,
 * allocation and copy-on-write of L2 tables, and batched L2 updates.
 * Callers hold the metadata lock.  Crash safety: a new L2 table is written
 * (and counted) before the L1 entry points at it. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

enum qcow2_ctype qcow2_sc_type(const struct qcow2_state *s, uint64_t l2e,
			       uint64_t bitmap, uint32_t sc)
{
	uint64_t off = l2e & QCOW2_L2E_OFFSET_MASK;

	if (l2e & QCOW2_OFLAG_COMPRESSED)
		return s->ext_l2 && bitmap ? QCOW2_INVALID : QCOW2_COMPRESSED;
	if (!s->ext_l2) {
		/* A zero entry keeps a host cluster only with an offset. */
		if (l2e & QCOW2_OFLAG_ZERO)
			return off ? QCOW2_ZERO_ALLOC : QCOW2_ZERO_PLAIN;
		return qcow2_entry_has_host(s, l2e) ? QCOW2_NORMAL
						    : QCOW2_UNALLOCATED;
	}
	if (!off && qcow2_entry_has_host(s, l2e))
		off = 1; /* offset 0 of the data file */
	if ((bitmap & QCOW2_BITMAP_ALLOC(sc)) &&
	    (bitmap & QCOW2_BITMAP_ZERO(sc)))
		return QCOW2_INVALID;
	if (bitmap & QCOW2_BITMAP_ZERO(sc))
		return off ? QCOW2_ZERO_ALLOC : QCOW2_ZERO_PLAIN;
	if (bitmap & QCOW2_BITMAP_ALLOC(sc))
		return off ? QCOW2_NORMAL : QCOW2_INVALID;
	return off ? QCOW2_UNALLOCATED_ALLOC : QCOW2_UNALLOCATED;
}

int qcow2_l2_scratch(uint64_t n, uint64_t **olde, uint64_t **oldb,
		     uint64_t **ne, uint64_t **nb, struct qimg_error *err)
{
	uint64_t *a = calloc(4 * n, sizeof(uint64_t));

	if (!a)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	*olde = a;
	*oldb = a + n;
	*ne = a + 2 * n;
	*nb = a + 3 * n;
	return 0;
}

void qcow2_l2_entry(const struct qcow2_state *s, const uint8_t *tbl, uint64_t i,
		    uint64_t *l2e, uint64_t *bitmap)
{
	*l2e = qimg_load_be64(tbl + i * s->l2_entry_size);
	*bitmap = s->ext_l2 ? qimg_load_be64(tbl + i * 16 + 8) : 0;
}

int qcow2_l2_writeback(struct qcow2_state *s, struct qimg_error *err)
{
	size_t i;
	int r;

	if (!s->l2_dirty)
		return 0;
	r = qcow2_barrier(s, err);
	for (i = 0; r == 0 && i < s->l2c.n; i++) {
		struct qcow2_cache_slot *sl = &s->l2c.slot[i];

		if (!sl->dirty)
			continue;
		if (sl->off) {
			r = qimg_pwrite(s->file, sl->off + sl->dlo,
					sl->buf + sl->dlo, sl->dhi - sl->dlo,
					err);
			s->unflushed = true;
		}
		if (r == 0)
			sl->dirty = false;
	}
	if (r == 0)
		s->l2_dirty = false;
	return r;
}

/* A slot to load a table into: a dirty one is written back first. */
static int l2_victim(struct qcow2_state *s, struct qcow2_cache_slot **out,
		     struct qimg_error *err)
{
	struct qcow2_cache_slot *sl = qcow2_cache_victim(&s->l2c);
	int r;

	if (!sl)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (sl->off && sl->dirty) {
		r = qcow2_l2_writeback(s, err);
		if (r < 0)
			return r;
	}
	sl->dirty = false;
	*out = sl;
	return 0;
}

int qcow2_l2_load(struct qcow2_state *s, uint64_t l2_off, uint8_t **tbl,
		  struct qimg_error *err)
{
	struct qcow2_cache_slot *sl = qcow2_cache_find(&s->l2c, l2_off);
	int64_t flen;
	int r;

	if (sl) {
		*tbl = sl->buf;
		return 0;
	}
	if (l2_off & (s->cluster_size - 1)) {
		uint64_t i;

		/* An error path: the index is looked up, not passed down. */
		for (i = 0; i < s->l1_size; i++)
			if ((s->l1[i] & QCOW2_L1E_OFFSET_MASK) == l2_off)
				return qcow2_signal_corruption(
					s, err,
					"L2 table offset %#" PRIx64
					" unaligned (L1 index: %#" PRIx64 ")",
					l2_off, i);
		return qcow2_signal_corruption(
			s, err, "L2 table offset %#" PRIx64 " unaligned",
			l2_off);
	}
	if (l2_off < s->cluster_size)
		return qcow2_signal_corruption(s, err,
					       "L2 table at %#" PRIx64
					       " overlaps the image header",
					       l2_off);
	flen = qimg_node_length(s->file, err);
	if (flen < 0)
		return (int)flen;
	if (l2_off + s->cluster_size > (uint64_t)flen)
		return qcow2_signal_corruption(s, err,
					       "L2 table at %#" PRIx64
					       " is beyond the end of the "
					       "image file",
					       l2_off);
	r = l2_victim(s, &sl, err);
	if (r < 0)
		return r;
	sl->off = 0;
	r = qimg_pread(s->file, l2_off, sl->buf, s->cluster_size, err);
	if (r < 0)
		return r;
	sl->off = l2_off;
	qcow2_cache_touch(&s->l2c, sl);
	*tbl = sl->buf;
	return 0;
}

/* The L2 table for guest offset off: *l2_off 0 when there is none. */
static int l2_lookup(struct qcow2_state *s, uint64_t off, uint64_t *l2_off,
		     struct qimg_error *err)
{
	uint64_t i = qcow2_l1_index(s, off), e;

	*l2_off = 0;
	if (i >= s->l1_size)
		return 0;
	e = s->l1[i];
	if (e & QCOW2_L1E_RESERVED & ~0x1ffull)
		return qcow2_signal_corruption(
			s, err,
			"L1 entry %#" PRIx64 " has reserved bits set (L1 index "
			"%#" PRIx64 ")",
			e, i);
	*l2_off = e & QCOW2_L1E_OFFSET_MASK;
	return 0;
}

int qcow2_l2_find(struct qcow2_state *s, uint64_t off, uint64_t *l2_off,
		  uint8_t **tbl, struct qimg_error *err)
{
	int r = l2_lookup(s, off, l2_off, err);

	*tbl = NULL;
	if (r < 0 || !*l2_off)
		return r;
	return qcow2_l2_load(s, *l2_off, tbl, err);
}

int qcow2_map_range(struct qcow2_state *s, uint64_t off, uint64_t len,
		    struct qcow2_map *m, struct qimg_error *err)
{
	uint64_t l2_off, span, unit, u, end, l2e, bm, host0;
	uint8_t *tbl;
	enum qcow2_ctype t0;
	int r;

	memset(m, 0, sizeof(*m));
	/* Bytes left in the range this L2 table covers. */
	span = (((qcow2_l1_index(s, off) + 1)
		 << (s->cluster_bits + s->l2_bits))) -
	       off;
	if (span > len)
		span = len;
	r = l2_lookup(s, off, &l2_off, err);
	if (r < 0)
		return r;
	if (!l2_off) {
		m->type = QCOW2_UNALLOCATED;
		m->len = span;
		return 0;
	}
	r = qcow2_l2_load(s, l2_off, &tbl, err);
	if (r < 0)
		return r;

	unit = s->ext_l2 ? s->sc_size : s->cluster_size;
	end = off + span;
	u = off & ~(unit - 1);
	t0 = QCOW2_INVALID;
	host0 = 0;
	while (u < end) {
		uint64_t i = qcow2_l2_index(s, u);
		uint32_t sc = s->ext_l2 ? qcow2_sc_index(s, u) : 0;
		enum qcow2_ctype t;
		uint64_t host;

		qcow2_l2_entry(s, tbl, i, &l2e, &bm);
		if (s->h.version < 3 && !(l2e & QCOW2_OFLAG_COMPRESSED) &&
		    (l2e & QCOW2_OFLAG_ZERO))
			return qcow2_signal_corruption(
				s, err,
				"Zero cluster entry found in pre-v3 image (L2 "
				"offset: %#" PRIx64 ", L2 index: %#" PRIx64 ")",
				l2_off, i);
		t = qcow2_sc_type(s, l2e, bm, sc);
		if (t == QCOW2_INVALID)
			return qcow2_signal_corruption(
				s, err,
				"Invalid cluster entry found (L2 offset: %#" PRIx64
				", L2 index: %#" PRIx64 ")",
				l2_off, i);
		host = (l2e & QCOW2_L2E_OFFSET_MASK) +
		       (uint64_t)sc * unit * (s->ext_l2 ? 1 : 0);
		if ((t == QCOW2_NORMAL || t == QCOW2_ZERO_ALLOC) &&
		    (l2e & QCOW2_L2E_OFFSET_MASK & (s->cluster_size - 1)))
			return qcow2_signal_corruption(
				s, err,
				"Cluster allocation offset %#" PRIx64
				" unaligned (L2 offset: %#" PRIx64
				", L2 index: %#" PRIx64 ")",
				l2e & QCOW2_L2E_OFFSET_MASK, l2_off, i);
		if (t == QCOW2_NORMAL && host < s->cluster_size && !s->ext_data)
			return qcow2_signal_corruption(
				s, err,
				"Data cluster at %#" PRIx64 " overlaps the "
				"image header (L2 offset: %#" PRIx64 ")",
				host, l2_off);
		if (u == (off & ~(unit - 1))) {
			t0 = t;
			m->type = t;
			m->l2e = l2e;
			host0 = host;
			m->host = host + (off - u);
			if (t == QCOW2_COMPRESSED) {
				/* One descriptor per cluster. */
				u = (off | (s->cluster_size - 1)) + 1;
				break;
			}
		} else {
			if (t != t0)
				break;
			if ((t == QCOW2_NORMAL || t == QCOW2_ZERO_ALLOC ||
			     t == QCOW2_UNALLOCATED_ALLOC) &&
			    host != host0 + (u - (off & ~(unit - 1))))
				break;
		}
		u += unit;
	}
	if (u > end)
		u = end;
	m->len = u - off;
	return 0;
}

int qcow2_l1_write(struct qcow2_state *s, uint64_t i, struct qimg_error *err)
{
	uint8_t b[8];

	int r;

	qimg_store_be64(b, s->l1[i]);
	/* the L2 table it points at is on the disk first */
	r = qcow2_barrier(s, err);
	if (r < 0)
		return r;
	r = qimg_pwrite(s->file, s->h.l1_table_offset + i * 8, b, 8, err);
	s->unflushed = true;
	return r;
}

int qcow2_barrier(struct qcow2_state *s, struct qimg_error *err)
{
	int r;

	/* Data in an external data file reaches it before metadata that
	 * points at it. */
	if (s->data_unflushed) {
		r = qimg_flush(s->data, err);
		if (r < 0)
			return r;
		s->data_unflushed = false;
	}
	/* Refcount increments held in the cache go before any reference
	 * to their clusters. */
	if (s->rc_pending) {
		r = qcow2_refcount_flush(s, err);
		if (r < 0)
			return r;
		s->rc_pending = false;
		s->unflushed = true;
	}
	if (!s->unflushed)
		return 0;
	r = qimg_flush(s->file, err);
	if (r == 0)
		s->unflushed = false;
	return r;
}

int qcow2_l2_prepare(struct qcow2_state *s, uint64_t off, uint64_t *l2_off,
		     struct qimg_error *err)
{
	uint64_t i = qcow2_l1_index(s, off), old, noff, rc;
	struct qcow2_cache_slot *sl = NULL;
	uint8_t *tbl;
	int r;

	if (i >= s->l1_size)
		return qimg_error_set(err, EIO,
				      "Offset %#" PRIx64 " beyond the L1 table",
				      off);
	r = l2_lookup(s, off, &old, err);
	if (r < 0)
		return r;
	if (old && (s->l1[i] & QCOW2_OFLAG_COPIED)) {
		*l2_off = old;
		return 0;
	}
	if (old) {
		/* COPIED may just be missing: a count of 1 means ours. */
		r = qcow2_get_refcount(s, old >> s->cluster_bits, &rc, err);
		if (r < 0)
			return r;
		if (rc == 1) {
			s->l1[i] |= QCOW2_OFLAG_COPIED;
			r = qcow2_l1_write(s, i, err);
			if (r < 0)
				return r;
			*l2_off = old;
			return 0;
		}
		r = qcow2_l2_load(s, old, &tbl, err);
		if (r < 0)
			return r;
	}

	r = qcow2_alloc_clusters(s, 1, &noff, err);
	if (r < 0)
		return r;
	/* Fill a cache slot with the new table's content and write it. */
	if (old) {
		/* Re-find: the allocation may not evict L2 slots, but be
		 * safe about the pointer. */
		r = qcow2_l2_load(s, old, &tbl, err);
		if (r < 0)
			return r;
		r = l2_victim(s, &sl, err);
		if (r == 0 && sl->buf == tbl) {
			/* Never reuse the slot we copy from. */
			qcow2_cache_touch(&s->l2c, sl);
			r = l2_victim(s, &sl, err);
		}
		if (r < 0)
			return r;
		memcpy(sl->buf, tbl, s->cluster_size);
	} else {
		r = l2_victim(s, &sl, err);
		if (r < 0)
			return r;
		memset(sl->buf, 0, s->cluster_size);
	}
	sl->off = 0;
	r = qimg_pwrite(s->file, noff, sl->buf, s->cluster_size, err);
	s->unflushed = true;
	if (r < 0)
		return r;
	sl->off = noff;
	qcow2_cache_touch(&s->l2c, sl);

	s->l1[i] = noff | QCOW2_OFLAG_COPIED;
	r = qcow2_l1_write(s, i, err);
	if (r < 0)
		return r;
	if (old) {
		/* The L1 no longer points at the shared table. */
		r = qcow2_update_refcount(s, old >> s->cluster_bits, 1, -1,
					  err);
		if (r < 0)
			return r;
	}
	*l2_off = noff;
	return 0;
}

int qcow2_l2_set(struct qcow2_state *s, uint64_t l2_off, uint64_t i, uint64_t n,
		 const uint64_t *l2e, const uint64_t *bitmap,
		 struct qimg_error *err)
{
	struct qcow2_cache_slot *sl;
	uint32_t lo, hi;
	uint8_t *tbl;
	uint64_t k;
	int r;

	r = qcow2_l2_load(s, l2_off, &tbl, err);
	if (r < 0)
		return r;
	for (k = 0; k < n; k++) {
		qimg_store_be64(tbl + (i + k) * s->l2_entry_size, l2e[k]);
		if (s->ext_l2)
			qimg_store_be64(tbl + (i + k) * 16 + 8,
					bitmap ? bitmap[k] : 0);
	}
	/* Held in the cache: written back after an ordering flush (the data
	 * and refcounts the entries depend on are on the disk first). */
	sl = qcow2_cache_find(&s->l2c, l2_off);
	lo = (uint32_t)(i * s->l2_entry_size);
	hi = (uint32_t)((i + n) * s->l2_entry_size);
	if (!sl->dirty) {
		sl->dlo = lo;
		sl->dhi = hi;
	} else {
		sl->dlo = lo < sl->dlo ? lo : sl->dlo;
		sl->dhi = hi > sl->dhi ? hi : sl->dhi;
	}
	sl->dirty = true;
	s->l2_dirty = true;
	return 0;
}

int qcow2_free_entry(struct qcow2_state *s, uint64_t l2e,
		     struct qimg_error *err)
{
	uint64_t off, nbytes;

	if (l2e & QCOW2_OFLAG_COMPRESSED) {
		qcow2_cdesc_decode(s, l2e, &off, &nbytes);
		return qcow2_free_bytes(s, off, nbytes, err);
	}
	off = l2e & QCOW2_L2E_OFFSET_MASK;
	if (s->ext_data) {
		/* Not refcounted: the data file gets the discard (a zero
		 * entry without an offset holds nothing). */
		if (qcow2_entry_has_host(s, l2e) &&
		    (off || s->ext_l2 || !(l2e & QCOW2_OFLAG_ZERO)))
			qcow2_data_file_release(s, off, s->cluster_size);
		return 0;
	}
	if (!off)
		return 0;
	return qcow2_update_refcount(s, off >> s->cluster_bits, 1, -1, err);
}
