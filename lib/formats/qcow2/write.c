/* SPDX-License-Identifier: MIT */
/* qcow2 guest writes: cluster allocation and copy-on-write, one run of
 * clusters of one kind per step.  Metadata work happens under s->lock;
 * data is written outside it, with the clusters listed in s->inflight.
 * Ordering for crash safety: refcounts, then data, then the L2 entry, then
 * freeing what the entry pointed to before. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

/* ---- writes ---- */

enum wkind {
	W_INPLACE,
	W_ALLOC,
	W_REUSE
};

/* Can the bytes [a, b) of this cluster be written where they are? */
static bool inplace_ok(const struct qcow2_state *s, uint64_t l2e, uint64_t bm,
		       uint64_t cstart, uint64_t a, uint64_t b)
{
	uint64_t bits;

	if ((l2e & QCOW2_OFLAG_COMPRESSED) || !(l2e & QCOW2_OFLAG_COPIED) ||
	    !(l2e & QCOW2_L2E_OFFSET_MASK))
		return false;
	if (!s->ext_l2)
		return !(l2e & QCOW2_OFLAG_ZERO);
	bits = qcow2_sc_alloc_bits(s, cstart, a, b);
	return (bm & bits) == bits && !(bm & (bits << 32));
}

static bool reuse_ok(const struct qcow2_state *s, uint64_t l2e)
{
	return !(l2e & QCOW2_OFLAG_COMPRESSED) && (l2e & QCOW2_OFLAG_COPIED) &&
	       (l2e & QCOW2_L2E_OFFSET_MASK);
}

/* Fill [a, b) of the guest image into buf from the current mapping (the
 * copy-on-write source: old cluster, compressed data, zeros or backing). */
static int cow_read(struct qimg_node *node, uint64_t a, uint64_t b,
		    uint8_t *buf, struct qimg_error *err)
{
	if (b <= a)
		return 0;
	return qcow2_read(node, a, buf, b - a, err);
}

/* One step of a write: handles a run of clusters of one kind, returns the
 * bytes of the request it covered through *done. */
static int write_step(struct qimg_node *node, uint64_t off, const uint8_t *buf,
		      uint64_t len, uint64_t *done, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t cs = s->cluster_size, c0 = off >> s->cluster_bits;
	uint64_t cend = (off + len - 1) >> s->cluster_bits, n, maxn, k;
	uint64_t l2_off = 0, l2i = qcow2_l2_index(s, off), host = 0;
	uint64_t *olde = NULL, *oldb = NULL, *ne = NULL, *nb = NULL;
	uint64_t rstart, rend, wend, e, b;
	uint8_t *tbl = NULL, *bounce = NULL;
	enum wkind kind;
	bool full_first, full_last;
	int r;

	maxn = cend - c0 + 1;
	if (maxn > s->l2_entries - l2i)
		maxn = s->l2_entries - l2i;
	if (maxn > QCOW2_MAX_RUN)
		maxn = QCOW2_MAX_RUN;

	qcow2_lock(s);
	qcow2_inflight_wait(s, c0, 1);
	r = qcow2_l2_find(s, off, &l2_off, &tbl, err);
	if (r < 0)
		goto out_unlock;

	/* Classify the first cluster, then extend the run. */
	e = b = 0;
	if (tbl)
		qcow2_l2_entry(s, tbl, l2i, &e, &b);
	if (!(e & QCOW2_OFLAG_COMPRESSED) &&
	    (e & QCOW2_L2E_OFFSET_MASK & (cs - 1))) {
		r = qcow2_signal_corruption(
			s, err,
			"Cluster allocation offset %#" PRIx64 " unaligned (L2 "
			"offset: %#" PRIx64 ", L2 index: %#" PRIx64 ")",
			e & QCOW2_L2E_OFFSET_MASK, l2_off, l2i);
		goto out_unlock;
	}
	wend = (c0 + 1) * cs < off + len ? (c0 + 1) * cs : off + len;
	if (inplace_ok(s, e, b, c0 * cs, off, wend)) {
		uint64_t h0 = e & QCOW2_L2E_OFFSET_MASK;

		for (n = 1; n < maxn; n++) {
			uint64_t e2, b2, cst = (c0 + n) * cs;
			uint64_t we =
				cst + cs < off + len ? cst + cs : off + len;

			qcow2_l2_entry(s, tbl, l2i + n, &e2, &b2);
			if (!inplace_ok(s, e2, b2, cst, cst, we) ||
			    (e2 & QCOW2_L2E_OFFSET_MASK) != h0 + n * cs ||
			    qcow2_inflight_overlaps(s, c0 + n, 1))
				break;
		}
		wend = (c0 + n) * cs < off + len ? (c0 + n) * cs : off + len;
		r = qcow2_data_write_ok(s, h0 + (off - c0 * cs), wend - off,
					err);
		if (r < 0)
			goto out_unlock;
		r = qcow2_pre_write(s, err);
		if (r < 0)
			goto out_unlock;
		qcow2_unlock(s);
		qimg_debug_event(s->file, QIMG_EV_WRITE_AIO);
		r = qimg_pwrite(s->file, h0 + (off - c0 * cs), buf, wend - off,
				err);
		if (r == 0)
			*done = wend - off;
		return r;
	}
	if (reuse_ok(s, e)) {
		kind = W_REUSE;
		n = 1;
	} else {
		kind = W_ALLOC;
		for (n = 1; n < maxn && tbl; n++) {
			uint64_t e2, b2, cst = (c0 + n) * cs;
			uint64_t we =
				cst + cs < off + len ? cst + cs : off + len;

			qcow2_l2_entry(s, tbl, l2i + n, &e2, &b2);
			if (inplace_ok(s, e2, b2, cst, cst, we) ||
			    reuse_ok(s, e2) ||
			    qcow2_inflight_overlaps(s, c0 + n, 1))
				break;
		}
		if (!tbl) {
			for (n = 1; n < maxn; n++)
				if (qcow2_inflight_overlaps(s, c0 + n, 1))
					break;
		}
	}

	r = qcow2_mark_dirty(s, err);
	if (r < 0)
		goto out_unlock;
	r = qcow2_l2_prepare(s, off, &l2_off, err);
	if (r < 0)
		goto out_unlock;
	r = qcow2_l2_load(s, l2_off, &tbl, err);
	if (r < 0)
		goto out_unlock;
	r = qcow2_l2_scratch(n, &olde, &oldb, &ne, &nb, err);
	if (r < 0)
		goto out_unlock;
	for (k = 0; k < n; k++)
		qcow2_l2_entry(s, tbl, l2i + k, &olde[k], &oldb[k]);
	if (kind == W_ALLOC) {
		r = qcow2_alloc_clusters(s, n, &host, err);
		if (r < 0)
			goto out_unlock;
	} else {
		host = olde[0] & QCOW2_L2E_OFFSET_MASK;
		r = qcow2_data_write_ok(s, host, cs, err);
		if (r < 0)
			goto out_unlock;
	}
	r = qcow2_inflight_add(s, c0, n);
	if (r < 0) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out_unlock;
	}
	qcow2_unlock(s);

	/* The region to write: whole clusters, except that with subclusters
	 * a cluster without old data only needs the touched subclusters, and
	 * a reused cluster keeps what it has outside them. */
	wend = (c0 + n) * cs < off + len ? (c0 + n) * cs : off + len;
	full_first =
		!s->ext_l2 ||
		(kind == W_ALLOC &&
		 (olde[0] & (QCOW2_L2E_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED)));
	full_last = !s->ext_l2 || (kind == W_ALLOC &&
				   (olde[n - 1] & (QCOW2_L2E_OFFSET_MASK |
						   QCOW2_OFLAG_COMPRESSED)));
	rstart = full_first ? c0 * cs : off & ~(s->sc_size - 1);
	rend = full_last ? (c0 + n) * cs
			 : (wend + s->sc_size - 1) & ~(s->sc_size - 1);

	qimg_debug_event(s->file, QIMG_EV_WRITE_AIO);
	if (rstart == off && rend == wend) {
		r = qimg_pwrite(s->file, host + (rstart - c0 * cs), buf,
				wend - off, err);
	} else {
		bounce = malloc(rend - rstart);
		if (!bounce) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
		} else {
			r = cow_read(node, rstart, off, bounce, err);
			if (r == 0)
				r = cow_read(node, wend, rend,
					     bounce + (wend - rstart), err);
			if (r == 0) {
				memcpy(bounce + (off - rstart), buf,
				       wend - off);
				r = qimg_pwrite(s->file,
						host + (rstart - c0 * cs),
						bounce, rend - rstart, err);
			}
			free(bounce);
		}
	}

	qcow2_lock(s);
	s->unflushed = true; /* the L2 entry waits for the data */
	if (r < 0) {
		/* Data not written: the clusters stay unreferenced (leak). */
		qcow2_inflight_del(s, c0);
		goto out_unlock;
	}
	for (k = 0; k < n; k++) {
		uint64_t cst = (c0 + k) * cs, cen = cst + cs;
		uint64_t a = rstart > cst ? rstart : cst;
		uint64_t z = rend < cen ? rend : cen;

		ne[k] = (host + k * cs) | QCOW2_OFLAG_COPIED;
		if (s->ext_l2) {
			uint64_t bits = qcow2_sc_alloc_bits(s, cst, a, z);

			if (a == cst && z == cen)
				nb[k] = QCOW2_BITMAP_ALL_ALLOC;
			else
				nb[k] = ((oldb[k] & ~(bits << 32)) | bits);
			if (kind == W_ALLOC &&
			    (olde[k] & QCOW2_OFLAG_COMPRESSED))
				nb[k] = QCOW2_BITMAP_ALL_ALLOC;
		}
	}
	r = qcow2_l2_set(s, l2_off, l2i, n, ne, nb, err);
	if (r == 0 && kind == W_ALLOC) {
		/* The L2 no longer references the old clusters. */
		for (k = 0; k < n && r == 0; k++)
			r = qcow2_free_entry(s, olde[k], err);
	}
	qcow2_inflight_del(s, c0);
	if (r == 0)
		*done = wend - off;
out_unlock:
	qcow2_unlock(s);
	free(olde); /* one block for all four */
	return r;
}

int qcow2_write(struct qimg_node *node, uint64_t off, const void *buf,
		size_t len, struct qimg_error *err)
{
	const uint8_t *p = buf;

	while (len) {
		uint64_t done = 0;
		int r = write_step(node, off, p, len, &done, err);

		if (r < 0)
			return r;
		off += done;
		p += done;
		len -= done;
	}
	return 0;
}
