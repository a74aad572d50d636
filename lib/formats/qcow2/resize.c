/* SPDX-License-Identifier: MIT */
/* qcow2 resize, and the preallocation it shares with create.
 *
 * Growing: the L1 table grows to exactly what the new size needs (a new
 * table, then the header switched to it, then the old one freed); over a
 * backing file longer than the old size the new area is zeroed so that the
 * backing data does not show through; then the area is preallocated when
 * asked; the new size goes into the header last.
 *
 * Shrinking: the clusters past the new size are dropped (L2 entries of a
 * table that stays, whole L2 tables past the end), then the refcount
 * blocks left counting nothing, and the freed clusters are punched out of
 * the file; the file is cut after the last cluster in use and the new
 * size goes into the header last.  A writer killed at any point leaves
 * leaked clusters at worst. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

/* Point entries [idx, idx+n) of the L2 table of L1 index i at host
 * clusters from `host` on. */
static int map_l2(struct qcow2_state *s, uint64_t i, uint64_t idx,
		  uint64_t host, uint64_t n, uint64_t *ent, uint64_t *bits,
		  struct qimg_error *err)
{
	uint64_t l2_off, k;
	int r;

	r = qcow2_l2_prepare(s, i << (s->cluster_bits + s->l2_bits), &l2_off,
			     err);
	if (r < 0)
		return r;
	for (k = 0; k < n; k++) {
		ent[k] = (host + (k << s->cluster_bits)) | QCOW2_OFLAG_COPIED;
		if (bits)
			bits[k] = QCOW2_BITMAP_ALL_ALLOC;
	}
	/* With subclusters the bitmap stays 0 unless asked: the clusters
	 * are reserved but read as unallocated. */
	return qcow2_l2_set(s, l2_off, idx, n, ent, bits, err);
}

int qcow2_preallocate(struct qcow2_state *s, const char *mode, uint64_t c_from,
		      uint64_t c_to, uint64_t *end, struct qimg_error *err)
{
	return qcow2_preallocate_sc(s, mode, c_from, c_to, false, end, err);
}

int qcow2_preallocate_sc(struct qcow2_state *s, const char *mode,
			 uint64_t c_from, uint64_t c_to, bool sc_alloc,
			 uint64_t *end, struct qimg_error *err)
{
	uint64_t *ent, *bits = NULL, i, host, data = 0, first, last, n;
	uint64_t ntables = 0;
	uint64_t i_from = c_from >> s->l2_bits, i_to;
	bool meta = !strcmp(mode, "metadata");
	int r = 0;

	*end = 0;
	if (c_from >= c_to)
		return 0;
	i_to = ((c_to - 1) >> s->l2_bits) + 1;
	ent = malloc(s->l2_entries * sizeof(uint64_t));
	if (sc_alloc && s->ext_l2 && ent) {
		bits = malloc(s->l2_entries * sizeof(uint64_t));
		if (!bits) {
			free(ent);
			ent = NULL;
		}
	}
	if (!ent)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (i = i_from; i < i_to; i++)
		if (!(s->l1[i] & QCOW2_L1E_OFFSET_MASK))
			ntables++;
	if (!meta) {
		int64_t flen = qimg_node_length(s->file, err);
		uint64_t start, area_end;

		if (flen < 0) {
			free(ent);
			return (int)flen;
		}
		start = ((uint64_t)flen + s->cluster_size - 1) >>
			s->cluster_bits;
		/* As QEMU: the new area starts after the last cluster in
		 * use, which on a device or an NBD export is not where the
		 * file ends. */
		for (uint64_t k = start; k > 0 && r == 0; k--) {
			uint64_t rc;

			r = qcow2_get_refcount(s, k - 1, &rc, err);
			if (r == 0 && rc) {
				start = k;
				break;
			}
		}
		if (r < 0) {
			free(ent);
			return r;
		}
		r = qcow2_refcount_area(s, start, (c_to - c_from) + ntables,
					&area_end, err);
		if (r == 0)
			r = qcow2_update_refcount(s, area_end, c_to - c_from, 1,
						  err);
		data = area_end << s->cluster_bits;
		*end = data + ((c_to - c_from) << s->cluster_bits);
		/* The data area first, so that the file layer preallocates
		 * all of it. */
		if (r == 0) {
			r = qimg_truncate(s->file, *end, 0, mode, err);
			if (r < 0)
				qimg_error_prefix(err, "Failed to resize "
						       "underlying file");
		}
	}
	for (i = i_from; i < i_to && r == 0; i++) {
		first = i << s->l2_bits;
		last = first + s->l2_entries;
		if (first < c_from)
			first = c_from;
		if (last > c_to)
			last = c_to;
		n = last - first;
		if (meta) {
			uint64_t l2_off;

			/* This table's L2 first, then its data. */
			r = qcow2_l2_prepare(
				s, i << (s->cluster_bits + s->l2_bits), &l2_off,
				err);
			if (r == 0)
				r = qcow2_alloc_clusters(s, n, &host, err);
			if (r < 0)
				break;
		} else {
			host = data + ((first - c_from) << s->cluster_bits);
		}
		r = map_l2(s, i, first & (s->l2_entries - 1), host, n, ent,
			   bits, err);
		if (r == 0 && meta) {
			/* QEMU ends the file at the subcluster holding the
			 * last guest byte, at the cluster end without. */
			uint64_t bytes = n << s->cluster_bits;
			uint64_t left = s->h.size - (first << s->cluster_bits);

			left = (left + s->sc_size - 1) & ~(s->sc_size - 1);
			if (s->ext_l2 && left < bytes)
				bytes = left;
			if (host + bytes > *end)
				*end = host + bytes;
		}
	}
	free(ent);
	free(bits);
	return r;
}

/* Write the header's size field. */
static int write_size(struct qcow2_state *s, uint64_t size,
		      struct qimg_error *err)
{
	uint8_t b[8];

	qimg_store_be64(b, size);
	return qimg_pwrite(s->file, QCOW2_HDR_SIZE_OFF, b, sizeof(b), err);
}

/* A new L1 table of exactly n entries: written, then the header switched
 * to it (size and offset in one write), then the old one freed. */
int qcow2_grow_l1(struct qcow2_state *s, uint32_t n, struct qimg_error *err)
{
	uint64_t bytes = (uint64_t)n * 8, off, old_off = s->h.l1_table_offset;
	uint64_t old_clusters =
		((uint64_t)s->l1_size * 8 + s->cluster_size - 1) >>
		s->cluster_bits;
	uint64_t *l1;
	uint8_t *buf, hdr[12];
	uint32_t i;
	int r;

	if (bytes > QCOW2_MAX_L1_BYTES)
		return qimg_error_set(err, EFBIG, "File too large");
	l1 = calloc(n, sizeof(uint64_t));
	buf = calloc(1, bytes);
	if (!l1 || !buf) {
		free(l1);
		free(buf);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	memcpy(l1, s->l1, (size_t)s->l1_size * sizeof(uint64_t));
	for (i = 0; i < n; i++)
		qimg_store_be64(buf + (uint64_t)i * 8, l1[i]);
	r = qcow2_alloc_clusters(
		s, (bytes + s->cluster_size - 1) >> s->cluster_bits, &off, err);
	if (r == 0)
		r = qimg_pwrite(s->file, off, buf, bytes, err);
	free(buf);
	if (r < 0) {
		free(l1);
		return r;
	}
	qimg_store_be32(hdr, n);
	qimg_store_be64(hdr + 4, off);
	s->unflushed = true;
	r = qcow2_barrier(s, err); /* the new table, then the header */
	if (r == 0)
		r = qimg_pwrite(s->file, QCOW2_HDR_L1_SIZE_OFF, hdr,
				sizeof(hdr), err);
	s->unflushed = true; /* before the old table is freed */
	if (r < 0) {
		free(l1);
		return r;
	}
	free(s->l1);
	s->l1 = l1;
	s->l1_size = s->h.l1_size = n;
	s->h.l1_table_offset = off;
	if (old_off && old_clusters)
		r = qcow2_update_refcount(s, old_off >> s->cluster_bits,
					  old_clusters, -1, err);
	return r;
}

/* L1 entries needed for `size` bytes. */
static uint64_t l1_entries_for(const struct qcow2_state *s, uint64_t size)
{
	uint64_t per_l1 = 1ull << (s->cluster_bits + s->l2_bits);

	return size / per_l1 + (size % per_l1 != 0);
}

static int grow(struct qimg_node *node, uint64_t size, const char *prealloc,
		struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t old = s->h.size, need = l1_entries_for(s, size), end = 0;
	int r = 0;

	if (need > QCOW2_MAX_L1_BYTES / 8)
		return qimg_error_set(err, EFBIG, "File too large");
	qcow2_lock(s);
	r = qcow2_mark_dirty(s, err);
	if (r == 0 && need > s->l1_size)
		r = qcow2_grow_l1(s, (uint32_t)need, err);
	if (r == 0) {
		s->h.size = size;
		node->size = size;
	}
	if (r == 0 && s->ext_data) {
		/* A data file: the new clusters mapped at their own offsets
		 * when preallocating (always for a raw one, whose new area
		 * is what the data file holds there), then the data file
		 * sized, as qemu-img does. */
		if (s->data_raw || (prealloc && strcmp(prealloc, "off")))
			r = qcow2_data_file_prealloc(
				s, old >> s->cluster_bits,
				(size + s->cluster_size - 1) >> s->cluster_bits,
				err);
		if (r == 0)
			r = qcow2_data_file_truncate(s, size, prealloc, err);
	} else if (r == 0 && prealloc && strcmp(prealloc, "off")) {
		bool meta_only = !strcmp(prealloc, "metadata");
		uint64_t cs = s->cluster_size, c_from = old >> s->cluster_bits;
		uint64_t c_to = (size + cs - 1) >> s->cluster_bits;

		/* A partial last cluster that exists stays; with falloc or
		 * full, its part that the image now covers gets the same
		 * allocation on the host.  An unallocated one over a backing
		 * file is left to the zeroing below (copy-on-write keeps the
		 * backing data before the old end). */
		if (old % cs) {
			struct qcow2_map m;
			uint64_t cend = (c_from + 1) * cs;

			r = qcow2_map_range(s, c_from * cs, cs, &m, err);
			if (r == 0 && m.type == QCOW2_NORMAL && !meta_only) {
				uint64_t a = old % cs;
				uint64_t z = (size < cend ? size : cend) -
					     c_from * cs;

				r = qimg_write_zeroes(s->file, m.host + a,
						      z - a, 0, err);
			}
			if (r == 0 && (m.type != QCOW2_UNALLOCATED ||
				       node->backing_filename))
				c_from++;
		}
		/* Over a longer backing file, falloc'd and full clusters
		 * with subclusters are allocated in their bitmaps too: they
		 * read as the zeros they hold, not as the backing file (as
		 * qemu-img leaves them). */
		bool sc_alloc = !meta_only && node->backing &&
				qimg_size(node->backing) > old;

		if (r == 0)
			r = qcow2_preallocate_sc(s, prealloc, c_from, c_to,
						 sc_alloc, &end, err);
	}
	if (r == 0 && end) {
		int64_t len = qimg_node_length(s->file, err);

		if (len < 0)
			r = (int)len;
		else if ((uint64_t)len < end)
			r = qimg_truncate(s->file, end, 0, "off", err);
	}
	qcow2_unlock(s);

	/* Over a backing file longer than the old size, the whole new area
	 * must read as zeros, or the backing data would show through: as
	 * QEMU does it, zero clusters (metadata-preallocated ones keep their
	 * host clusters, flagged zero); falloc and full allocated zeroed
	 * data already. */
	if (r == 0 && node->backing && qimg_size(node->backing) > old) {
		/* The partial cluster the old end was in gets explicit
		 * zeros; whole clusters after it must be zeroed in metadata
		 * (QEMU gives up with v2 images there, and so do we). */
		uint64_t cs = s->cluster_size;
		uint64_t head = (old + cs - 1) & ~(cs - 1);

		if (head > size)
			head = size;
		r = head > old ? qimg_write_zeroes(node, old, head - old,
						   QIMG_ZERO_MAY_UNMAP, err)
			       : 0;
		if (r == 0 && size > head &&
		    (!prealloc || !strcmp(prealloc, "off") ||
		     !strcmp(prealloc, "metadata")))
			r = qimg_write_zeroes(node, head, size - head,
					      QIMG_ZERO_NO_FALLBACK, err);
		if (r == -ENOTSUP) {
			qimg_error_clear(err);
			r = qimg_error_set(err, ENOTSUP,
					   "Failed to zero out new clusters: "
					   "Operation not supported");
		}
	}

	qcow2_lock(s);
	if (r == 0)
		r = write_size(s, size, err);
	if (r < 0) {
		s->h.size = old;
		node->size = old;
	}
	qcow2_unlock(s);
	return r;
}

/* Drop the active L1's reference to the L2 table of index i: the entry
 * cleared first, then every reference the table held, then the table. */
static int drop_table(struct qcow2_state *s, uint64_t i, struct qimg_error *err)
{
	uint64_t l2_off = s->l1[i] & QCOW2_L1E_OFFSET_MASK, e, b, k;
	uint64_t *ent;
	uint8_t *tbl;
	int r;

	if (!l2_off)
		return 0;
	ent = malloc(s->l2_entries * sizeof(uint64_t));
	if (!ent)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qcow2_l2_load(s, l2_off, &tbl, err);
	for (k = 0; r == 0 && k < s->l2_entries; k++) {
		qcow2_l2_entry(s, tbl, k, &e, &b);
		ent[k] = e;
	}
	if (r == 0) {
		s->l1[i] = 0;
		r = qcow2_l1_write(s, i, err);
	}
	for (k = 0; r == 0 && k < s->l2_entries; k++)
		r = qcow2_free_entry(s, ent[k], err);
	free(ent);
	if (r == 0) {
		qcow2_cache_drop(&s->l2c, l2_off);
		r = qcow2_update_refcount(s, l2_off >> s->cluster_bits, 1, -1,
					  err);
	}
	return r;
}

/* Clear entries [idx, l2_entries) of the table of L1 index i and drop
 * what they held.  As QEMU's discard of the cut range does, the table is
 * made writable first whatever it holds: allocated (empty) when there is
 * none, copied when a snapshot shares it (tests/interop/amend.sh compares
 * the layouts). */
static int drop_tail(struct qcow2_state *s, uint64_t i, uint64_t idx,
		     struct qimg_error *err)
{
	uint64_t n = s->l2_entries - idx, l2_off, k, *olde, *oldb, *ne, *nb;
	uint8_t *tbl;
	bool any = false;
	int r;

	r = qcow2_l2_scratch(n, &olde, &oldb, &ne, &nb, err);
	if (r < 0)
		return r;
	r = qcow2_l2_find(s, i << (s->cluster_bits + s->l2_bits), &l2_off, &tbl,
			  err);
	for (k = 0; r == 0 && tbl && k < n; k++) {
		qcow2_l2_entry(s, tbl, idx + k, &olde[k], &oldb[k]);
		any |= olde[k] || oldb[k];
	}
	if (r == 0)
		r = qcow2_l2_prepare(s, i << (s->cluster_bits + s->l2_bits),
				     &l2_off, err);
	if (r == 0 && any)
		r = qcow2_l2_set(s, l2_off, idx, n, ne, nb, err);
	for (k = 0; r == 0 && any && k < n; k++)
		r = qcow2_free_entry(s, olde[k], err);
	free(olde);
	return r;
}

/* The highest host cluster with a reference (refcount blocks scanned from
 * the top, absent ones skipped whole). */
static int last_used(struct qcow2_state *s, uint64_t *last,
		     struct qimg_error *err)
{
	int64_t len = qimg_node_length(s->file, err);
	uint64_t nclusters, t, c, rc;
	int r;

	if (len < 0)
		return (int)len;
	*last = 0;
	nclusters = ((uint64_t)len + s->cluster_size - 1) >> s->cluster_bits;
	t = (nclusters + s->rb_entries - 1) >> s->rb_bits;
	if (t > s->rt_entries)
		t = s->rt_entries;
	for (; t > 0; t--) {
		if (!(s->rt[t - 1] & QCOW2_RT_OFFSET_MASK))
			continue;
		c = t << s->rb_bits;
		if (c > nclusters)
			c = nclusters;
		for (; c > (t - 1) << s->rb_bits; c--) {
			r = qcow2_get_refcount(s, c - 1, &rc, err);
			if (r < 0)
				return r;
			if (rc) {
				*last = c - 1;
				return 0;
			}
		}
	}
	return 0;
}

static int shrink(struct qimg_node *node, uint64_t size, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t keep = (size + s->cluster_size - 1) >> s->cluster_bits;
	struct qimg_error ignored = { 0 };
	uint64_t i, last = 0;
	int r;

	qcow2_lock(s);
	r = qcow2_mark_dirty(s, err);
	qcow2_collect_freed(s);
	for (i = keep >> s->l2_bits; r == 0 && i < s->l1_size; i++) {
		if ((i << s->l2_bits) >= keep)
			r = drop_table(s, i, err);
		else
			r = drop_tail(s, i, keep & (s->l2_entries - 1), err);
	}
	if (r == 0) {
		r = qcow2_shrink_reftable(s, err);
		if (r < 0)
			qimg_error_prefix(err, "Failed to discard unused "
					       "refblocks");
	}
	/* The freed clusters leave the file even when a later step fails. */
	if (r == 0)
		r = qcow2_discard_freed(s, err);
	else
		qcow2_discard_freed(s, &ignored);
	if (r == 0 && s->ext_data) /* exactly the new size */
		r = qimg_truncate(s->data, size, QIMG_TRUNCATE_SHRINK, "off",
				  err);
	if (r == 0)
		r = last_used(s, &last, err);
	/* Only ever shorter: a file ending inside its last cluster in use
	 * (a snapshot table) keeps its length, as with qemu-img. */
	if (r == 0) {
		int64_t flen = qimg_node_length(s->file, err);

		if (flen < 0)
			r = (int)flen;
		else if ((last + 1) << s->cluster_bits < (uint64_t)flen)
			r = qimg_truncate(s->file,
					  (last + 1) << s->cluster_bits,
					  QIMG_TRUNCATE_SHRINK, NULL, err);
	}
	/* The new size last: an image whose shrinking failed keeps its
	 * size (the data past the new end is gone either way). */
	if (r == 0)
		r = write_size(s, size, err);
	if (r == 0) {
		s->h.size = size;
		node->size = size;
	}
	qcow2_unlock(s);
	return r;
}

int qcow2_truncate(struct qimg_node *node, uint64_t size, bool allow_shrink,
		   const char *prealloc, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;

	if (size % 512)
		return qimg_error_set(err, EINVAL,
				      "The new size must be a multiple of 512");
	if (s->read_only)
		return qimg_error_set(err, EACCES, "Image is read-only");
	if (s->h.nb_snapshots && s->h.version < 3)
		return qimg_error_set(err, ENOTSUP,
				      "Can't resize a v2 image which has "
				      "snapshots");
	if (size == s->h.size)
		return 0;
	if (size > s->h.size)
		return grow(node, size, prealloc, err);
	if (!allow_shrink)
		return qimg_error_set(err, EINVAL,
				      "Use the --shrink option to perform a "
				      "shrink operation.");
	if (prealloc && strcmp(prealloc, "off"))
		return qimg_error_set(err, ENOTSUP,
				      "Preallocation can only be used for "
				      "growing images");
	return shrink(node, size, err);
}
