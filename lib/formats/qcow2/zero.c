/* SPDX-License-Identifier: MIT */
/* qcow2 zero writes and discards: whole clusters become zero (v3) or
 * unallocated entries in their L2 table; partial clusters are written
 * with zeros unless they already read as zeros. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

/* ---- zeroing and discard ---- */

/* Does [off, off+len) already read as zeros from this layer (no backing
 * data showing through)? */
static int reads_zero(struct qimg_node *node, uint64_t off, uint64_t len,
		      bool *zero, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qcow2_map m;
	int r;

	*zero = true;
	while (len) {
		qcow2_lock(s);
		r = qcow2_map_range(s, off, len, &m, err);
		qcow2_unlock(s);
		if (r < 0)
			return r;
		if (m.type == QCOW2_ZERO_PLAIN || m.type == QCOW2_ZERO_ALLOC ||
		    ((m.type == QCOW2_UNALLOCATED ||
		      m.type == QCOW2_UNALLOCATED_ALLOC) &&
		     !node->backing && !node->backing_filename))
			;
		else {
			*zero = false;
			return 0;
		}
		off += m.len;
		len -= m.len;
	}
	return 0;
}

enum l2op {
	OP_ZERO,
	OP_DISCARD
};

/* l2_zero_step, internal: zero the unit only if, under the lock, it is
 * still unallocated or zero here (else -EAGAIN, nothing changed). */
#define ZERO_IF_EMPTY 0x100u

static int l2_zero_step(struct qimg_node *node, enum l2op op, uint64_t off,
			uint64_t len, unsigned int flags, uint64_t *done,
			struct qimg_error *err);

/* Does guest [off, off+len) read as zeros through the whole chain? */
static int chain_reads_zero(struct qimg_node *node, uint64_t off, uint64_t len,
			    bool *zero, struct qimg_error *err)
{
	struct qimg_extent ext;
	int r;

	*zero = true;
	if (off >= node->size)
		return 0;
	if (len > node->size - off)
		len = node->size - off;
	while (len) {
		memset(&ext, 0, sizeof(ext));
		r = qimg_block_status_above(node, NULL, off, len, &ext, err);
		if (r < 0)
			return r;
		if (!(ext.flags & QIMG_BS_ZERO) || !ext.len || ext.len > len) {
			*zero = false;
			return 0;
		}
		off += ext.len;
		len -= ext.len;
	}
	return 0;
}

/* Zero the piece [off, off+len) of the unit [ustart, ustart+unit): when
 * the rest of the unit reads as zeros anyway and the unit holds no data
 * here, the whole unit becomes a zero unit (as QEMU does); else the piece
 * is written with zeros, unless it already reads as zeros here. */
static int zero_piece(struct qimg_node *node, enum l2op op, uint64_t off,
		      uint64_t len, uint64_t ustart, uint64_t unit,
		      unsigned int flags, struct qimg_error *err)
{
	bool zero;
	uint8_t *z;
	uint64_t done;
	int r;

	r = reads_zero(node, off, len, &zero, err);
	if (r < 0 || zero)
		return r;
	if (op == OP_ZERO) {
		bool head, tail;

		r = chain_reads_zero(node, ustart, off - ustart, &head, err);
		if (r == 0 && head)
			r = chain_reads_zero(node, off + len,
					     ustart + unit - off - len, &tail,
					     err);
		if (r < 0)
			return r;
		if (head && tail) {
			r = l2_zero_step(node, OP_ZERO, ustart, unit,
					 flags | ZERO_IF_EMPTY, &done, err);
			if (r != -EAGAIN)
				return r;
		}
	}
	if (flags & QIMG_ZERO_NO_FALLBACK)
		return -ENOTSUP;
	z = calloc(1, len);
	if (!z)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qcow2_write(node, off, z, len, err);
	free(z);
	return r;
}

/* Zero an unaligned range, unit by unit. */
static int zero_partial(struct qimg_node *node, enum l2op op, uint64_t off,
			uint64_t len, unsigned int flags,
			struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t unit = s->ext_l2 ? s->sc_size : s->cluster_size;
	int r = 0;

	while (r == 0 && len) {
		uint64_t ustart = off & ~(unit - 1);
		uint64_t n =
			ustart + unit - off < len ? ustart + unit - off : len;

		r = zero_piece(node, op, off, n, ustart, unit, flags, err);
		off += n;
		len -= n;
	}
	return r;
}

/* Rewrite the entries for the unit-aligned range [off, off+len) inside one
 * L2 table.  *fallback_off/len: a compressed cluster only partly covered
 * (subclusters) that the caller zeroes by writing. */
static int l2_zero_step(struct qimg_node *node, enum l2op op, uint64_t off,
			uint64_t len, unsigned int flags, uint64_t *done,
			struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t cs = s->cluster_size, c0 = off >> s->cluster_bits;
	uint64_t l2i = qcow2_l2_index(s, off), n, k, l2_off;
	uint64_t *olde = NULL, *oldb = NULL, *ne = NULL, *nb = NULL;
	bool backing = node->backing || node->backing_filename;
	bool was_collecting;
	size_t mark;
	uint8_t *tbl;
	int r;

	n = ((off + len - 1) >> s->cluster_bits) - c0 + 1;
	if (n > s->l2_entries - l2i)
		n = s->l2_entries - l2i;
	if (n > QCOW2_MAX_RUN)
		n = QCOW2_MAX_RUN;
	*done = (c0 + n) * cs - off;
	if (*done > len)
		*done = len;

	qcow2_lock(s);
	qcow2_inflight_wait(s, c0, n);
	if (flags & ZERO_IF_EMPTY) {
		struct qcow2_map m;

		r = qcow2_map_range(s, off, len, &m, err);
		if (r < 0)
			goto out;
		if (m.len < len || (m.type != QCOW2_UNALLOCATED &&
				    m.type != QCOW2_UNALLOCATED_ALLOC &&
				    m.type != QCOW2_ZERO_PLAIN &&
				    m.type != QCOW2_ZERO_ALLOC)) {
			r = -EAGAIN;
			goto out;
		}
	}
	r = qcow2_l2_find(s, off, &l2_off, &tbl, err);
	if (r < 0)
		goto out;
	if (!tbl && op == OP_DISCARD && !backing)
		goto out; /* already unallocated */
	r = qcow2_mark_dirty(s, err);
	if (r < 0)
		goto out;
	r = qcow2_l2_prepare(s, off, &l2_off, err);
	if (r == 0)
		r = qcow2_l2_load(s, l2_off, &tbl, err);
	if (r < 0)
		goto out;
	r = qcow2_l2_scratch(n, &olde, &oldb, &ne, &nb, err);
	if (r < 0)
		goto out;
	for (k = 0; k < n; k++) {
		uint64_t cst = (c0 + k) * cs, cen = cst + cs;
		uint64_t a = off > cst ? off : cst;
		uint64_t z = off + len < cen ? off + len : cen;
		uint64_t e, b;
		bool whole = a == cst && z == cen, allocated, unmap, host;

		qcow2_l2_entry(s, tbl, l2i + k, &e, &b);
		olde[k] = e;
		oldb[k] = b;
		ne[k] = e;
		nb[k] = b;
		host = qcow2_entry_has_host(s, e) &&
		       !(e & QCOW2_OFLAG_COMPRESSED);
		allocated = (e & QCOW2_OFLAG_COMPRESSED) ||
			    (host && (s->ext_l2 ? (b & 0xffffffffull) != 0 ||
							  (b >> 32) != 0
						: true));
		if (op == OP_DISCARD) {
			if (!whole)
				continue;
			if (backing || allocated) {
				ne[k] = s->ext_l2 || s->h.version < 3
						? 0
						: QCOW2_OFLAG_ZERO;
				nb[k] = s->ext_l2 ? QCOW2_BITMAP_ALL_ZERO : 0;
				if (s->h.version < 3 && !s->ext_l2)
					ne[k] = 0;
			} else {
				ne[k] = 0;
				nb[k] = 0;
			}
			continue;
		}
		if (!whole) {
			/* Subclusters only (extended L2). */
			uint64_t bits = qcow2_sc_alloc_bits(s, cst, a, z);

			if (e & QCOW2_OFLAG_COMPRESSED) {
				ne[k] = e;
				continue; /* handled by the caller */
			}
			nb[k] = (b & ~bits) | (bits << 32);
			continue;
		}
		unmap = (e & QCOW2_OFLAG_COMPRESSED) ||
			((flags & QIMG_ZERO_MAY_UNMAP) && host);
		ne[k] = unmap ? 0
			      : e & (QCOW2_L2E_OFFSET_MASK |
				     QCOW2_OFLAG_COPIED);
		if (s->ext_l2)
			nb[k] = QCOW2_BITMAP_ALL_ZERO;
		else
			ne[k] |= QCOW2_OFLAG_ZERO;
	}
	r = qcow2_l2_set(s, l2_off, l2i, n, ne, nb, err);
	/* Drop references only after the L2 no longer has them; with
	 * pass-discard-request the host clusters that this frees leave the
	 * file too (discarded data may read as anything, so no ordering
	 * against the metadata is needed; nothing can reuse them before the
	 * lock is dropped). */
	was_collecting = s->collect_freed;
	mark = s->freed.len;
	if (s->discard_request && !s->ext_data)
		s->collect_freed = true;
	for (k = 0; k < n && r == 0; k++) {
		if (((olde[k] & QCOW2_OFLAG_COMPRESSED) ||
		     qcow2_entry_has_host(s, olde[k])) &&
		    !(ne[k] & (QCOW2_L2E_OFFSET_MASK | QCOW2_OFLAG_COPIED)))
			r = qcow2_free_entry(s, olde[k], err);
	}
	if (s->discard_request && !s->ext_data) {
		for (k = mark; k < s->freed.len; k++)
			qimg_discard(s->file,
				     s->freed.v[k].start << s->cluster_bits,
				     s->freed.v[k].n << s->cluster_bits,
				     &(struct qimg_error){ 0 });
		s->freed.len = mark;
		s->collect_freed = was_collecting;
	}
out:
	qcow2_unlock(s);
	/* Partly covered compressed clusters: write zeros. */
	for (k = 0; r == 0 && olde && k < n; k++) {
		uint64_t cst = (c0 + k) * cs, cen = cst + cs;
		uint64_t a = off > cst ? off : cst;
		uint64_t z = off + len < cen ? off + len : cen;

		if (op == OP_ZERO && (olde[k] & QCOW2_OFLAG_COMPRESSED) &&
		    !(a == cst && z == cen))
			r = zero_partial(node, op, a, z - a,
					 flags & ~ZERO_IF_EMPTY, err);
	}
	free(olde); /* one block for all four */
	return r;
}

int qcow2_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		       unsigned int flags, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t unit = s->ext_l2 ? s->sc_size : s->cluster_size;
	uint64_t end = off + len, a, z;
	enum l2op op = OP_ZERO;
	int r;

	/* A raw data file must read as the image does: its range is zeroed
	 * first, whatever the clusters become. */
	if (s->data_raw) {
		r = qimg_write_zeroes(s->data, off, len, flags, err);
		if (r < 0)
			return r;
		qcow2_lock(s);
		s->data_unflushed = true;
		qcow2_unlock(s);
	}
	if (s->h.version < 3) {
		/* No zero flag in v2.  Without a backing file an unallocated
		 * cluster reads as zeros, so whole clusters are deallocated
		 * (as QEMU does); with one, the core writes zeros. */
		if (node->backing_filename && node->backing_filename[0])
			return -ENOTSUP;
		op = OP_DISCARD;
	}
	a = (off + unit - 1) & ~(unit - 1);
	z = end & ~(unit - 1);
	/* The last partial unit of the image counts as whole. */
	if (end == node->size)
		z = (end + unit - 1) & ~(unit - 1);
	if (a >= z)
		return zero_partial(node, op, off, len, flags, err);
	r = zero_partial(node, op, off, a - off, flags, err);
	if (r < 0)
		return r;
	while (a < z) {
		uint64_t done;

		r = l2_zero_step(node, op, a, z - a, flags, &done, err);
		if (r < 0)
			return r;
		a += done;
	}
	if (end > z)
		return zero_partial(node, op, z, end - z, flags, err);
	return 0;
}

int qcow2_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		  struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t cs = s->cluster_size, end = off + len, a, z;
	int r;

	a = (off + cs - 1) & ~(cs - 1);
	z = end == node->size ? (end + cs - 1) & ~(cs - 1) : end & ~(cs - 1);
	while (a < z) {
		uint64_t done;

		r = l2_zero_step(node, OP_DISCARD, a, z - a, 0, &done, err);
		if (r < 0)
			return r;
		a += done;
	}
	return 0;
}
