/* SPDX-License-Identifier: MIT */
/* qcow2 "make empty", what commit leaves in the image it committed: a v3
 * image without snapshots or bitmaps is reset to a fresh layout (header,
 * refcount table, one refcount block, an all-zero L1 table: QEMU's layout,
 * so that check and map read alike); any other image has every cluster of
 * its active state unallocated, one L2 table at a time. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

/* ---- the fallback: every entry unallocated ---- */

/* Entries [0, n) of the L2 table covering guest offset off become
 * unallocated; the table is allocated (or copied from a snapshot's) first
 * when the L1 entry does not own one, as QEMU's discard does, so that the
 * image ends as qemu-img leaves it.  Lock held. */
static int clear_table(struct qcow2_state *s, uint64_t off, uint64_t n,
		       struct qimg_error *err)
{
	uint64_t *olde = NULL, *oldb = NULL, *ne = NULL, *nb = NULL;
	uint64_t l2_off, k;
	uint8_t *tbl;
	int r;

	r = qcow2_mark_dirty(s, err);
	if (r == 0)
		r = qcow2_l2_prepare(s, off, &l2_off, err);
	if (r == 0)
		r = qcow2_l2_load(s, l2_off, &tbl, err);
	if (r == 0)
		r = qcow2_l2_scratch(n, &olde, &oldb, &ne, &nb, err);
	if (r < 0)
		return r;
	for (k = 0; k < n; k++)
		qcow2_l2_entry(s, tbl, k, &olde[k], &oldb[k]);
	/* ne and nb are zero: unallocated, the backing file shows. */
	r = qcow2_l2_set(s, l2_off, 0, n, ne, nb, err);
	/* References are dropped once the entries no longer hold them. */
	for (k = 0; k < n && r == 0; k++)
		if ((olde[k] & QCOW2_OFLAG_COMPRESSED) ||
		    qcow2_entry_has_host(s, olde[k]))
			r = qcow2_free_entry(s, olde[k], err);
	free(olde); /* one block for all four */
	return r;
}

static int clear_all(struct qimg_node *node, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t clusters =
		(node->size + s->cluster_size - 1) >> s->cluster_bits;
	uint64_t t, ntables = (clusters + s->l2_entries - 1) >> s->l2_bits;
	int r;

	qcow2_lock(s);
	/* Freed clusters leave the file, as qemu-img's pass-discard-snapshot
	 * (on unless turned off) does with them. */
	if (s->discard_snapshot)
		qcow2_collect_freed(s);
	r = qcow2_l2_writeback(s, err);
	for (t = 0; r == 0 && t < ntables && t < s->l1_size; t++) {
		uint64_t first = t << s->l2_bits, n = clusters - first;

		if (n > s->l2_entries)
			n = s->l2_entries;
		r = clear_table(s, first << s->cluster_bits, n, err);
	}
	if (r == 0)
		r = qcow2_l2_writeback(s, err);
	if (r == 0)
		r = qcow2_discard_freed(s, err);
	else
		qcow2_discard_freed(s, &(struct qimg_error){ 0 });
	if (r == 0)
		r = qcow2_refcount_flush(s, err);
	qcow2_unlock(s);
	return r;
}

/* ---- the reset to a fresh layout ---- */

static int flush_file(struct qcow2_state *s, struct qimg_error *err)
{
	int r = qimg_flush(s->file, err);

	if (r == 0)
		s->unflushed = false;
	return r;
}

static void drop_cache(struct qcow2_cache *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		c->slot[i].off = 0;
		c->slot[i].dirty = false;
	}
}

/* Cluster 0 the header, 1 the refcount table, 2 its one refcount block,
 * 3.. the L1 table: n = 3 + L1 clusters, all counted by that block.  Lock
 * held.
 *
 * Crash safety: the dirty bit goes to the disk first, so that an image cut
 * anywhere before the end has its refcounts rebuilt when next opened
 * (qemu-img and qimg both do).  Each step is flushed before the next
 * depends on it: the old L1 table is zero before the clusters it may point
 * into are (so no entry ever names a zeroed data cluster), and the new
 * area is zero before the header names it. */
static int reset_layout(struct qimg_node *node, uint64_t l1c,
			struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t cs = s->cluster_size, n = 3 + l1c, i;
	uint8_t hdr[20], rte[8], *blk;
	int r;

	/* What the caches hold goes out first: nothing may be written back
	 * into the new layout later. */
	r = qcow2_l2_writeback(s, err);
	if (r == 0)
		r = qcow2_refcount_flush(s, err);
	if (r == 0)
		r = qcow2_pre_write(s, err);
	if (r == 0)
		r = qcow2_write_incompat(
			s, s->h.incompatible_features | QCOW2_INCOMPAT_DIRTY,
			err);
	if (r == 0)
		r = flush_file(s, err);
	if (r < 0)
		return r;
	/* From here a failure leaves the dirty bit on the disk: close must
	 * not clear it. */
	s->dirty_set = false;

	qimg_debug_event(s->file, QIMG_EV_L1_UPDATE);
	r = qimg_write_zeroes(s->file, s->h.l1_table_offset, l1c * cs, 0, err);
	if (r == 0)
		r = flush_file(s, err);
	if (r < 0)
		return r;
	memset(s->l1, 0, (size_t)s->l1_size * sizeof(uint64_t));
	drop_cache(&s->l2c);
	drop_cache(&s->rbc);
	s->l2_dirty = false;

	qimg_debug_event(s->file, QIMG_EV_EMPTY_IMAGE_PREPARE);
	r = qimg_write_zeroes(s->file, cs, (n - 1) * cs, 0, err);
	if (r == 0)
		r = flush_file(s, err);
	if (r < 0)
		return r;

	/* The events at which QEMU signals these writes (iotest 098 arms
	 * blkdebug rules on them). */
	qimg_debug_event(s->file, QIMG_EV_L1_UPDATE);
	qimg_debug_event(s->file, QIMG_EV_REFTABLE_UPDATE);
	qimg_store_be64(hdr, 3 * cs); /* l1_table_offset */
	qimg_store_be64(hdr + 8, cs); /* refcount_table_offset */
	qimg_store_be32(hdr + 16, 1); /* refcount_table_clusters */
	r = qimg_pwrite(s->file, QCOW2_HDR_L1_OFFSET_OFF, hdr, sizeof(hdr),
			err);
	if (r == 0)
		r = flush_file(s, err);
	if (r < 0)
		return r;
	s->h.l1_table_offset = 3 * cs;
	s->h.refcount_table_offset = cs;
	s->h.refcount_table_clusters = 1;

	blk = calloc(1, cs);
	if (!blk)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (i = 0; i < n; i++)
		qcow2_rc_set(blk, i, s->refcount_order, 1);
	qimg_debug_event(s->file, QIMG_EV_REFBLOCK_ALLOC);
	qimg_store_be64(rte, 2 * cs);
	r = qimg_pwrite(s->file, cs, rte, sizeof(rte), err);
	if (r == 0)
		r = flush_file(s, err);
	if (r == 0) {
		qimg_debug_event(s->file, QIMG_EV_REFBLOCK_UPDATE);
		r = qimg_pwrite(s->file, 2 * cs, blk, cs, err);
	}
	free(blk);
	if (r == 0)
		r = flush_file(s, err);
	if (r < 0)
		return r;
	qcow2_refcount_free(s);
	r = qcow2_refcount_init(s, err);
	if (r < 0)
		return r;
	s->free_hint = n;
	s->cbyte = 0;
	s->prealloc_checked = false;
	s->metadata_prealloc = false;

	/* Consistent again: the dirty bit off, then the file cut to the new
	 * layout (a crash between leaves unreferenced space at the end). */
	r = qcow2_write_incompat(
		s, s->h.incompatible_features & ~QCOW2_INCOMPAT_DIRTY, err);
	if (r == 0)
		r = flush_file(s, err);
	if (r == 0)
		r = qimg_truncate(s->file, n * cs, QIMG_TRUNCATE_SHRINK, NULL,
				  err);
	if (r == 0)
		r = flush_file(s, err);
	return r;
}

int qcow2_make_empty(struct qimg_node *node, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t l1c = ((uint64_t)s->l1_size * 8 + s->cluster_size - 1) >>
		       s->cluster_bits;
	bool bitmaps = s->ext.has_bitmaps &&
		       (s->h.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS);
	int r;

	if (s->read_only)
		return qimg_error_set(err, EACCES, "Image is read-only");
	/* The reset needs the dirty bit (v3) and nothing else that owns
	 * clusters (a LUKS area does; legacy AES has none); the L1 table and
	 * three clusters must fit one refcount block.  Otherwise: one entry
	 * at a time. */
	if (s->h.version < 3 || s->h.nb_snapshots || bitmaps ||
	    s->h.crypt_method == 2 || s->ext_data || 3 + l1c > s->rb_entries)
		return clear_all(node, err);
	qcow2_lock(s);
	r = reset_layout(node, l1c, err);
	qcow2_unlock(s);
	return r;
}
