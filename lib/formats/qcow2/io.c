/* SPDX-License-Identifier: MIT */
/* qcow2 guest I/O: reads (plain, zero, compressed, backing), writes with
 * cluster allocation and copy-on-write, zeroing, discard, block status and
 * compressed writes.  Metadata work happens under s->lock; data is read and
 * written outside it.  Guest clusters being allocated are listed in
 * s->inflight so two writers never allocate the same cluster.  Ordering for
 * crash safety: refcounts, then data, then the L2 entry, then freeing. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

/* Largest number of clusters one allocation step handles. */
#define MAX_RUN 4096

static void lock(struct qcow2_state *s)
{
	pthread_mutex_lock(&s->lock);
}

static void unlock(struct qcow2_state *s)
{
	pthread_mutex_unlock(&s->lock);
}

static bool inflight_overlaps(const struct qcow2_state *s, uint64_t c,
			      uint64_t n)
{
	size_t i;

	for (i = 0; i < s->nb_inflight; i++) {
		const struct qcow2_range *r = &s->inflight[i];

		if (c < r->start + r->n && r->start < c + n)
			return true;
	}
	return false;
}

static void wait_inflight(struct qcow2_state *s, uint64_t c, uint64_t n)
{
	while (inflight_overlaps(s, c, n))
		pthread_cond_wait(&s->cond, &s->lock);
}

static int inflight_add(struct qcow2_state *s, uint64_t c, uint64_t n)
{
	if (s->nb_inflight == s->cap_inflight) {
		size_t ncap = s->cap_inflight ? s->cap_inflight * 2 : 8;
		struct qcow2_range *p = realloc(s->inflight,
						ncap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->inflight = p;
		s->cap_inflight = ncap;
	}
	s->inflight[s->nb_inflight].start = c;
	s->inflight[s->nb_inflight].n = n;
	s->nb_inflight++;
	return 0;
}

static void inflight_del(struct qcow2_state *s, uint64_t c)
{
	size_t i;

	for (i = 0; i < s->nb_inflight; i++) {
		if (s->inflight[i].start == c) {
			s->inflight[i] = s->inflight[--s->nb_inflight];
			break;
		}
	}
	pthread_cond_broadcast(&s->cond);
}

int qcow2_pre_write(struct qcow2_state *s, struct qimg_error *err)
{
	uint8_t b[8];
	int r;

	if (s->autoclear_done)
		return 0;
	/* Bitmaps are not kept up to date here: before the first change,
	 * clear the autoclear bits as the spec asks of such writers. */
	if (s->h.autoclear_features && s->h.version >= 3) {
		qimg_store_be64(b, 0);
		r = qimg_pwrite(s->file, 88, b, 8, err);
		if (r < 0)
			return r;
		s->h.autoclear_features = 0;
	}
	s->autoclear_done = true;
	return 0;
}

int qcow2_mark_dirty(struct qcow2_state *s, struct qimg_error *err)
{
	int r;

	r = qcow2_pre_write(s, err);
	if (r < 0 || !s->lazy || s->dirty_set)
		return 0;
	/* The bit must be on disk before any refcount update is skipped. */
	r = qcow2_write_incompat(s, s->h.incompatible_features |
				 QCOW2_INCOMPAT_DIRTY, err);
	if (r < 0)
		return r;
	r = qimg_flush(s->file, err);
	if (r < 0)
		return r;
	s->dirty_set = true;
	return 0;
}

/* ---- reads ---- */

static int read_compressed(struct qcow2_state *s, uint64_t l2e,
			   uint64_t off, void *buf, size_t len,
			   struct qimg_error *err)
{
	uint64_t coff, nbytes;
	uint8_t *in, *out;
	int r;

	qcow2_cdesc_decode(s, l2e, &coff, &nbytes);
	if (coff < s->cluster_size)
		return qimg_error_set(err, EUCLEAN, "Compressed cluster at %#"
				      PRIx64 " overlaps the image header",
				      coff);
	in = malloc(nbytes);
	out = malloc(s->cluster_size);
	if (!in || !out) {
		free(in);
		free(out);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = qimg_pread(s->file, coff, in, nbytes, err);
	if (r == 0 && qcow2_decompress_buf(s->h.compression_type, in, nbytes,
					   out, s->cluster_size) < 0)
		r = qimg_error_set(err, EIO, "Could not decompress the "
				   "cluster at %#" PRIx64, coff);
	if (r == 0)
		memcpy(buf, out + (off & (s->cluster_size - 1)), len);
	free(in);
	free(out);
	return r;
}

int qcow2_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
	       struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint8_t *p = buf;
	int r;

	while (len) {
		struct qcow2_map m;

		lock(s);
		r = qcow2_map_range(s, off, len, &m, err);
		unlock(s);
		if (r < 0)
			return r;
		switch (m.type) {
		case QCOW2_UNALLOCATED:
		case QCOW2_UNALLOCATED_ALLOC:
			r = qimg_read_backing(node, off, p, m.len, err);
			break;
		case QCOW2_ZERO_PLAIN:
		case QCOW2_ZERO_ALLOC:
			memset(p, 0, m.len);
			r = 0;
			break;
		case QCOW2_NORMAL:
			r = qimg_pread(s->file, m.host, p, m.len, err);
			break;
		case QCOW2_COMPRESSED:
			r = read_compressed(s, m.l2e, off, p, m.len, err);
			break;
		default:
			r = qimg_error_set(err, EIO, "Bad cluster type");
			break;
		}
		if (r < 0)
			return r;
		off += m.len;
		p += m.len;
		len -= m.len;
	}
	return 0;
}

/* ---- block status ---- */

/* Does the image look metadata-preallocated: far more clusters in use
 * (refcount > 0) than the host file really stores?  Then data clusters may
 * be holes on the host and block status asks the core to look at the file
 * (the same test qemu-img applies).  Called under the lock. */
static bool detect_metadata_prealloc(struct qcow2_state *s)
{
	struct qimg_error err = { 0 };
	int64_t flen = qimg_node_length(s->file, &err);
	int64_t real = qimg_allocated_size(s->file);
	uint64_t nclusters, real_clusters, threshold, used = 0, c, rc;
	uint64_t looked = 0;

	if (flen <= 0 || real < 0)
		return false;
	nclusters = ((uint64_t)flen + s->cluster_size - 1) >> s->cluster_bits;
	/* "Far more": at least a ninth more, and at least two more. */
	real_clusters = (uint64_t)real / s->cluster_size;
	threshold = real_clusters * 10 / 9;
	if (threshold < real_clusters + 2)
		threshold = real_clusters + 2;
	for (c = 0; c < nclusters && used < threshold; c++) {
		uint64_t rti = c >> s->rb_bits;

		if (rti >= s->rt_entries)
			break;
		if (!s->rt[rti]) {
			/* No refcount block: a whole block of free clusters. */
			c = ((rti + 1) << s->rb_bits) - 1;
			continue;
		}
		/* Bounded work on damaged or absurd images: give up (as "not
		 * preallocated") after 64 Mi clusters. */
		if (++looked > (1u << 26))
			return false;
		if (qcow2_get_refcount(s, c, &rc, &err) < 0) {
			qimg_error_clear(&err);
			return false;
		}
		used += rc != 0;
	}
	return used >= threshold;
}

int qcow2_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_extent *ext, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qcow2_map m, n;
	uint64_t total;
	int r;

	lock(s);
	if (!s->prealloc_checked) {
		s->metadata_prealloc = detect_metadata_prealloc(s);
		s->prealloc_checked = true;
	}
	r = qcow2_map_range(s, off, len, &m, err);
	total = r < 0 ? 0 : m.len;
	/* Merge following runs of the same kind (and contiguous host). */
	while (r == 0 && total < len && m.type != QCOW2_COMPRESSED) {
		r = qcow2_map_range(s, off + total, len - total, &n, err);
		if (r < 0 || n.type != m.type)
			break;
		if ((m.type == QCOW2_NORMAL || m.type == QCOW2_ZERO_ALLOC ||
		     m.type == QCOW2_UNALLOCATED_ALLOC) &&
		    n.host != m.host + total)
			break;
		total += n.len;
	}
	unlock(s);
	if (r < 0)
		return r;

	memset(ext, 0, sizeof(*ext));
	ext->len = total;
	switch (m.type) {
	case QCOW2_UNALLOCATED:
		ext->flags = 0;
		break;
	case QCOW2_UNALLOCATED_ALLOC:
		/* Reserved host space that does not define the content. */
		ext->flags = QIMG_BS_OFFSET_VALID;
		ext->map = m.host;
		ext->file = s->file;
		break;
	case QCOW2_ZERO_PLAIN:
		ext->flags = QIMG_BS_ZERO | QIMG_BS_ALLOCATED;
		break;
	case QCOW2_ZERO_ALLOC:
		ext->flags = QIMG_BS_ZERO | QIMG_BS_ALLOCATED |
			     QIMG_BS_OFFSET_VALID;
		ext->map = m.host;
		ext->file = s->file;
		break;
	case QCOW2_NORMAL:
		ext->flags = QIMG_BS_DATA | QIMG_BS_ALLOCATED |
			     QIMG_BS_OFFSET_VALID;
		if (s->metadata_prealloc)
			ext->flags |= QIMG_BS_RECURSE;
		ext->map = m.host;
		ext->file = s->file;
		break;
	default:
		ext->flags = QIMG_BS_DATA | QIMG_BS_ALLOCATED;
		break;
	}
	return 0;
}

/* ---- writes ---- */

enum wkind { W_INPLACE, W_ALLOC, W_REUSE };

/* Subcluster bits covering guest bytes [a, b) of the cluster at cstart. */
static uint64_t sc_alloc_bits(const struct qcow2_state *s, uint64_t cstart,
			      uint64_t a, uint64_t b)
{
	uint32_t first, last;
	uint64_t bits;

	if (b <= a)
		return 0;
	first = (uint32_t)((a - cstart) >> s->sc_bits);
	last = (uint32_t)((b - 1 - cstart) >> s->sc_bits);
	bits = last - first + 1 >= 32 ? 0xffffffffull :
	       ((1ull << (last - first + 1)) - 1);
	return bits << first;
}

/* Can the bytes [a, b) of this cluster be written where they are? */
static bool inplace_ok(const struct qcow2_state *s, uint64_t l2e,
		       uint64_t bm, uint64_t cstart, uint64_t a, uint64_t b)
{
	uint64_t bits;

	if ((l2e & QCOW2_OFLAG_COMPRESSED) || !(l2e & QCOW2_OFLAG_COPIED) ||
	    !(l2e & QCOW2_L2E_OFFSET_MASK))
		return false;
	if (!s->ext_l2)
		return !(l2e & QCOW2_OFLAG_ZERO);
	bits = sc_alloc_bits(s, cstart, a, b);
	return (bm & bits) == bits && !(bm & (bits << 32));
}

static bool reuse_ok(const struct qcow2_state *s, uint64_t l2e)
{
	return !(l2e & QCOW2_OFLAG_COMPRESSED) &&
	       (l2e & QCOW2_OFLAG_COPIED) && (l2e & QCOW2_L2E_OFFSET_MASK);
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
	const char *what;
	bool full_first, full_last;
	int r;

	maxn = cend - c0 + 1;
	if (maxn > s->l2_entries - l2i)
		maxn = s->l2_entries - l2i;
	if (maxn > MAX_RUN)
		maxn = MAX_RUN;

	lock(s);
	wait_inflight(s, c0, 1);
	r = qcow2_l2_find(s, off, &l2_off, &tbl, err);
	if (r < 0)
		goto out_unlock;

	/* Classify the first cluster, then extend the run. */
	e = b = 0;
	if (tbl)
		qcow2_l2_entry(s, tbl, l2i, &e, &b);
	if (!(e & QCOW2_OFLAG_COMPRESSED) &&
	    (e & QCOW2_L2E_OFFSET_MASK & (cs - 1))) {
		r = qcow2_signal_corruption(s, err,
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
			uint64_t we = cst + cs < off + len ? cst + cs :
				      off + len;

			qcow2_l2_entry(s, tbl, l2i + n, &e2, &b2);
			if (!inplace_ok(s, e2, b2, cst, cst, we) ||
			    (e2 & QCOW2_L2E_OFFSET_MASK) != h0 + n * cs ||
			    inflight_overlaps(s, c0 + n, 1))
				break;
		}
		wend = (c0 + n) * cs < off + len ? (c0 + n) * cs : off + len;
		what = qcow2_metadata_overlap(s, h0 + (off - c0 * cs),
					      wend - off);
		if (what) {
			r = qcow2_signal_corruption(s, err,
				"Preventing invalid write on metadata "
				"(overlaps with %s)", what);
			goto out_unlock;
		}
		r = qcow2_pre_write(s, err);
		if (r < 0)
			goto out_unlock;
		unlock(s);
		r = qimg_pwrite(s->file, h0 + (off - c0 * cs), buf,
				wend - off, err);
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
			uint64_t we = cst + cs < off + len ? cst + cs :
				      off + len;

			qcow2_l2_entry(s, tbl, l2i + n, &e2, &b2);
			if (inplace_ok(s, e2, b2, cst, cst, we) ||
			    reuse_ok(s, e2) || inflight_overlaps(s, c0 + n, 1))
				break;
		}
		if (!tbl) {
			for (n = 1; n < maxn; n++)
				if (inflight_overlaps(s, c0 + n, 1))
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
	olde = calloc(n, sizeof(uint64_t));
	oldb = calloc(n, sizeof(uint64_t));
	ne = calloc(n, sizeof(uint64_t));
	nb = calloc(n, sizeof(uint64_t));
	if (!olde || !oldb || !ne || !nb) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out_unlock;
	}
	for (k = 0; k < n; k++)
		qcow2_l2_entry(s, tbl, l2i + k, &olde[k], &oldb[k]);
	if (kind == W_ALLOC) {
		r = qcow2_alloc_clusters(s, n, &host, err);
		if (r < 0)
			goto out_unlock;
	} else {
		host = olde[0] & QCOW2_L2E_OFFSET_MASK;
		what = qcow2_metadata_overlap(s, host, cs);
		if (what) {
			r = qcow2_signal_corruption(s, err,
				"Preventing invalid write on metadata "
				"(overlaps with %s)", what);
			goto out_unlock;
		}
	}
	r = inflight_add(s, c0, n);
	if (r < 0) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out_unlock;
	}
	unlock(s);

	/* The region to write: whole clusters, except that with subclusters
	 * a cluster without old data only needs the touched subclusters, and
	 * a reused cluster keeps what it has outside them. */
	wend = (c0 + n) * cs < off + len ? (c0 + n) * cs : off + len;
	full_first = !s->ext_l2 || (kind == W_ALLOC &&
		     (olde[0] & (QCOW2_L2E_OFFSET_MASK |
				 QCOW2_OFLAG_COMPRESSED)));
	full_last = !s->ext_l2 || (kind == W_ALLOC &&
		    (olde[n - 1] & (QCOW2_L2E_OFFSET_MASK |
				    QCOW2_OFLAG_COMPRESSED)));
	rstart = full_first ? c0 * cs : off & ~(s->sc_size - 1);
	rend = full_last ? (c0 + n) * cs :
	       (wend + s->sc_size - 1) & ~(s->sc_size - 1);

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

	lock(s);
	if (r < 0) {
		/* Data not written: the clusters stay unreferenced (leak). */
		inflight_del(s, c0);
		goto out_unlock;
	}
	for (k = 0; k < n; k++) {
		uint64_t cst = (c0 + k) * cs, cen = cst + cs;
		uint64_t a = rstart > cst ? rstart : cst;
		uint64_t z = rend < cen ? rend : cen;

		ne[k] = (host + k * cs) | QCOW2_OFLAG_COPIED;
		if (s->ext_l2) {
			uint64_t bits = sc_alloc_bits(s, cst, a, z);

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
	inflight_del(s, c0);
	if (r == 0)
		*done = wend - off;
out_unlock:
	unlock(s);
	free(olde);
	free(oldb);
	free(ne);
	free(nb);
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
		lock(s);
		r = qcow2_map_range(s, off, len, &m, err);
		unlock(s);
		if (r < 0)
			return r;
		if (m.type == QCOW2_ZERO_PLAIN || m.type == QCOW2_ZERO_ALLOC ||
		    ((m.type == QCOW2_UNALLOCATED ||
		      m.type == QCOW2_UNALLOCATED_ALLOC) && !node->backing &&
		     !node->backing_filename))
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

/* Zero an unaligned piece by writing zeros, unless it already is zero. */
static int zero_partial(struct qimg_node *node, uint64_t off, uint64_t len,
			unsigned int flags, struct qimg_error *err)
{
	bool zero;
	uint8_t *z;
	int r;

	if (!len)
		return 0;
	r = reads_zero(node, off, len, &zero, err);
	if (r < 0 || zero)
		return r;
	if (flags & QIMG_ZERO_NO_FALLBACK)
		return -ENOTSUP;
	z = calloc(1, len);
	if (!z)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qcow2_write(node, off, z, len, err);
	free(z);
	return r;
}

enum l2op { OP_ZERO, OP_DISCARD };

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
	uint8_t *tbl;
	int r;

	n = ((off + len - 1) >> s->cluster_bits) - c0 + 1;
	if (n > s->l2_entries - l2i)
		n = s->l2_entries - l2i;
	if (n > MAX_RUN)
		n = MAX_RUN;
	*done = (c0 + n) * cs - off;
	if (*done > len)
		*done = len;

	lock(s);
	wait_inflight(s, c0, n);
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
	olde = calloc(n, sizeof(uint64_t));
	oldb = calloc(n, sizeof(uint64_t));
	ne = calloc(n, sizeof(uint64_t));
	nb = calloc(n, sizeof(uint64_t));
	if (!olde || !oldb || !ne || !nb) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	for (k = 0; k < n; k++) {
		uint64_t cst = (c0 + k) * cs, cen = cst + cs;
		uint64_t a = off > cst ? off : cst;
		uint64_t z = off + len < cen ? off + len : cen;
		uint64_t e, b, host;
		bool whole = a == cst && z == cen, allocated, unmap;

		qcow2_l2_entry(s, tbl, l2i + k, &e, &b);
		olde[k] = e;
		oldb[k] = b;
		ne[k] = e;
		nb[k] = b;
		host = e & QCOW2_L2E_OFFSET_MASK;
		allocated = (e & QCOW2_OFLAG_COMPRESSED) ||
			    (host && (s->ext_l2 ? (b & 0xffffffffull) != 0 ||
				      (b >> 32) != 0 : true));
		if (op == OP_DISCARD) {
			if (!whole)
				continue;
			if (backing || allocated) {
				ne[k] = s->ext_l2 || s->h.version < 3 ?
					0 : QCOW2_OFLAG_ZERO;
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
			uint64_t bits = sc_alloc_bits(s, cst, a, z);

			if (e & QCOW2_OFLAG_COMPRESSED) {
				ne[k] = e;
				continue; /* handled by the caller */
			}
			nb[k] = (b & ~bits) | (bits << 32);
			continue;
		}
		unmap = (e & QCOW2_OFLAG_COMPRESSED) ||
			((flags & QIMG_ZERO_MAY_UNMAP) && host);
		ne[k] = unmap ? 0 : e & (QCOW2_L2E_OFFSET_MASK |
					 QCOW2_OFLAG_COPIED);
		if (s->ext_l2)
			nb[k] = QCOW2_BITMAP_ALL_ZERO;
		else
			ne[k] |= QCOW2_OFLAG_ZERO;
	}
	r = qcow2_l2_set(s, l2_off, l2i, n, ne, nb, err);
	/* Drop references only after the L2 no longer has them. */
	for (k = 0; k < n && r == 0; k++) {
		if ((olde[k] & (QCOW2_L2E_OFFSET_MASK |
				QCOW2_OFLAG_COMPRESSED)) &&
		    !(ne[k] & QCOW2_L2E_OFFSET_MASK))
			r = qcow2_free_entry(s, olde[k], err);
	}
out:
	unlock(s);
	/* Partly covered compressed clusters: write zeros. */
	for (k = 0; r == 0 && olde && k < n; k++) {
		uint64_t cst = (c0 + k) * cs, cen = cst + cs;
		uint64_t a = off > cst ? off : cst;
		uint64_t z = off + len < cen ? off + len : cen;

		if (op == OP_ZERO && (olde[k] & QCOW2_OFLAG_COMPRESSED) &&
		    !(a == cst && z == cen))
			r = zero_partial(node, a, z - a, flags, err);
	}
	free(olde);
	free(oldb);
	free(ne);
	free(nb);
	return r;
}

int qcow2_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		       unsigned int flags, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t unit = s->ext_l2 ? s->sc_size : s->cluster_size;
	uint64_t end = off + len, a, z;
	int r;

	if (s->h.version < 3)
		return -ENOTSUP; /* no zero flag in v2: the core writes */
	a = (off + unit - 1) & ~(unit - 1);
	z = end & ~(unit - 1);
	/* The last partial unit of the image counts as whole. */
	if (end == node->size)
		z = (end + unit - 1) & ~(unit - 1);
	if (a >= z)
		return zero_partial(node, off, len, flags, err);
	r = zero_partial(node, off, a - off, flags, err);
	if (r < 0)
		return r;
	while (a < z) {
		uint64_t done;

		r = l2_zero_step(node, OP_ZERO, a, z - a, flags, &done, err);
		if (r < 0)
			return r;
		a += done;
	}
	if (end > z)
		return zero_partial(node, z, end - z, flags, err);
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

/* ---- compressed clusters ---- */

int qcow2_compress(struct qimg_node *node, const void *buf, size_t len,
		   void *out, size_t *outlen, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint8_t *pad = NULL;
	int r;

	/* The caller's buffer holds at least len bytes (a cluster, or the
	 * image's tail); never write more than that. */
	*outlen = len;
	if (len < s->cluster_size) {
		/* The image's last cluster: compress it zero padded, as the
		 * reader always inflates a whole cluster. */
		pad = calloc(1, s->cluster_size);
		if (!pad)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		memcpy(pad, buf, len);
		buf = pad;
	}
	r = qcow2_compress_buf(s->h.compression_type, buf, s->cluster_size,
			       out, outlen, err);
	free(pad);
	return r;
}

/* Find room for `size` bytes of compressed data, packed after the previous
 * compressed cluster; every host cluster touched gains one reference. */
static int alloc_cbytes(struct qcow2_state *s, uint64_t size, uint64_t *off,
			struct qimg_error *err)
{
	uint64_t cs = s->cluster_size, room, nc;
	int r;

	if (s->cbyte & (cs - 1)) {
		uint64_t c = s->cbyte >> s->cluster_bits, rc;

		/* A full counter (narrow refcounts) ends the packing. */
		r = qcow2_get_refcount(s, c, &rc, err);
		if (r < 0)
			return r;
		if (rc >= s->refcount_max || rc == 0)
			s->cbyte = 0;
	}
	if (s->cbyte & (cs - 1)) {
		uint64_t c = s->cbyte >> s->cluster_bits;

		room = cs - (s->cbyte & (cs - 1));
		if (size <= room) {
			r = qcow2_update_refcount(s, c, 1, 1, err);
			if (r < 0)
				return r;
			*off = s->cbyte;
			s->cbyte += size;
			return 0;
		}
		r = qcow2_alloc_clusters(s, 1, &nc, err);
		if (r < 0)
			return r;
		if (nc == (c + 1) << s->cluster_bits) {
			r = qcow2_update_refcount(s, c, 1, 1, err);
			if (r < 0)
				return r;
			*off = s->cbyte;
			s->cbyte += size;
			return 0;
		}
	} else {
		r = qcow2_alloc_clusters(s, 1, &nc, err);
		if (r < 0)
			return r;
	}
	*off = nc;
	s->cbyte = nc + size;
	return 0;
}

int qcow2_write_compressed(struct qimg_node *node, uint64_t off,
			   const void *buf, size_t len, const void *cbuf,
			   size_t clen, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t c0 = off >> s->cluster_bits, l2i = qcow2_l2_index(s, off);
	uint64_t l2_off, e = 0, b = 0, coff = 0, desc;
	uint8_t *tbl;
	int r;

	if (!clen || clen >= s->cluster_size)
		return qcow2_write(node, off, buf, len, err);
	lock(s);
	wait_inflight(s, c0, 1);
	r = qcow2_l2_find(s, off, &l2_off, &tbl, err);
	if (r < 0)
		goto out;
	if (tbl)
		qcow2_l2_entry(s, tbl, l2i, &e, &b);
	if ((e & (QCOW2_L2E_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED)) ||
	    (s->ext_l2 && (b & 0xffffffffull))) {
		r = qimg_error_set(err, EIO, "Cannot write compressed data "
				   "to an allocated cluster");
		goto out;
	}
	r = qcow2_mark_dirty(s, err);
	if (r == 0)
		r = qcow2_l2_prepare(s, off, &l2_off, err);
	if (r == 0)
		r = alloc_cbytes(s, clen, &coff, err);
	if (r < 0)
		goto out;
	if (qcow2_cdesc_encode(s, coff, clen, &desc) < 0) {
		r = qimg_error_set(err, EIO, "Compressed cluster at %#" PRIx64
				   " cannot be described", coff);
		goto out;
	}
	r = inflight_add(s, c0, 1);
	if (r < 0) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	unlock(s);
	r = qimg_pwrite(s->file, coff, cbuf, clen, err);
	lock(s);
	if (r == 0) {
		b = 0;
		r = qcow2_l2_set(s, l2_off, l2i, 1, &desc, &b, err);
	}
	inflight_del(s, c0);
out:
	unlock(s);
	return r;
}
