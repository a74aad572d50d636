/* SPDX-License-Identifier: MIT */
/* qcow2 guest writes: cluster allocation and copy-on-write, one run of
 * clusters of one kind per step.  Metadata work happens under s->lock;
 * data is written outside it, with the clusters listed in s->inflight.
 * Ordering for crash safety: refcounts, then data, then the L2 entry, then
 * freeing what the entry pointed to before.  The bytes come from a buffer
 * or, for copy offload, from a protocol node (copied file to file). */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

/* What the L2 entries say about the clusters one step of a write covers. */
enum write_kind {
	/* A host cluster of our own (COPIED) holding data where the bytes
	 * go: overwrite them, no metadata changes. */
	WRITE_IN_PLACE,
	/* A host cluster of our own whose bytes there are not data yet
	 * (zero flag; with subclusters, zero or unallocated ones): write
	 * into it, filled around from what reads there now. */
	WRITE_REUSE,
	/* No host cluster we may write: unallocated (backing file or zeros),
	 * zero without a host cluster, compressed, or shared with a snapshot.
	 * New clusters, with copy-on-write of head and tail. */
	WRITE_ALLOC,
};

/* Where a request's bytes come from: buf, or the protocol node file at
 * off (copy offload). */
struct write_src {
	const uint8_t *buf;
	struct qimg_node *file;
	uint64_t off;
};

/* One step of a write: a run of clusters of one kind at the start of the
 * request [off, off + len). */
struct write_step {
	uint64_t off, len;
	const struct write_src *src; /* the bytes of off */
	uint64_t first;		     /* guest cluster of off */
	uint64_t l2_index;	     /* its index in its L2 table */
	uint64_t max_run;	     /* most clusters one step may cover */
	uint64_t l2_off;	     /* host offset of the L2 table, 0: none */
	uint8_t *l2_tbl;	     /* the table, loaded; NULL: none */
	enum write_kind kind;
	uint64_t run;  /* clusters covered */
	uint64_t end;  /* end of the part of the request they hold */
	uint64_t host; /* host offset of the first cluster of the run */
	/* WRITE_REUSE and WRITE_ALLOC: the run's L2 entries and bitmaps,
	 * before and after; one allocation, freed through old_entries. */
	uint64_t *old_entries, *old_bitmaps, *new_entries, *new_bitmaps;
	/* Guest bytes written to the host clusters: [off, end) and what
	 * copy-on-write fills in around it. */
	uint64_t region_start, region_end;
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Guest offset of cluster `idx` of the run. */
static uint64_t run_cluster_start(const struct qcow2_state *s,
				  const struct write_step *st, uint64_t idx)
{
	return (st->first + idx) * s->cluster_size;
}

/* End of the part of the request the first n clusters of the run hold. */
static uint64_t run_end(const struct qcow2_state *s,
			const struct write_step *st, uint64_t n)
{
	return min_u64(run_cluster_start(s, st, n), st->off + st->len);
}

/* Can the bytes [start, end) of the cluster at guest offset cstart be
 * written where they are? */
static bool can_write_in_place(const struct qcow2_state *s, uint64_t l2e,
			       uint64_t bitmap, uint64_t cstart, uint64_t start,
			       uint64_t end)
{
	uint64_t bits;

	if ((l2e & QCOW2_OFLAG_COMPRESSED) || !(l2e & QCOW2_OFLAG_COPIED) ||
	    !qcow2_entry_has_host(s, l2e))
		return false;
	if (!s->ext_l2)
		return !(l2e & QCOW2_OFLAG_ZERO);
	bits = qcow2_sc_alloc_bits(s, cstart, start, end);
	return (bitmap & bits) == bits && !(bitmap & (bits << 32));
}

/* Is the entry's host cluster ours to write into? */
static bool can_reuse(const struct qcow2_state *s, uint64_t l2e)
{
	return !(l2e & QCOW2_OFLAG_COMPRESSED) && (l2e & QCOW2_OFLAG_COPIED) &&
	       qcow2_entry_has_host(s, l2e);
}

/* ---- the request's bytes ---- */

#define COPY_BOUNCE (1u << 20)

/* Fill buf with the request's bytes [start, end). */
static int src_read(const struct write_step *st, uint64_t start, uint64_t end,
		    uint8_t *buf, struct qimg_error *err)
{
	uint64_t at = start - st->off;

	if (st->src->buf) {
		memcpy(buf, st->src->buf + at, end - start);
		return 0;
	}
	return qimg_pread(st->src->file, st->src->off + at, buf, end - start,
			  err);
}

/* Write the request's bytes [st->off, st->end) at host: from the buffer,
 * or copied by the protocol, through a buffer where it declines. */
static int put_request(struct qcow2_state *s, const struct write_step *st,
		       uint64_t host, struct qimg_error *err)
{
	uint64_t len = st->end - st->off, done, n;
	uint8_t *bounce;
	int r;

	if (st->src->buf)
		return qcow2_pwrite_data(s, st->off, host, st->src->buf, len,
					 err);
	r = qimg_pcopy(st->src->file, st->src->off, s->data, host, len, err);
	if (r != -ENOTSUP || qimg_error_isset(err))
		return r;
	bounce = malloc(len < COPY_BOUNCE ? len : COPY_BOUNCE);
	if (!bounce)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = 0;
	for (done = 0; r == 0 && done < len; done += n) {
		n = len - done < COPY_BOUNCE ? len - done : COPY_BOUNCE;
		r = src_read(st, st->off + done, st->off + done + n, bounce,
			     err);
		if (r == 0)
			r = qcow2_pwrite_data(s, st->off + done, host + done,
					      bounce, n, err);
	}
	free(bounce);
	return r;
}

/* ---- classify ---- */

/* Clusters from the first on that can be overwritten in place with it:
 * contiguous on the host and not being allocated by another writer. */
static uint64_t in_place_run(struct qcow2_state *s, const struct write_step *st)
{
	uint64_t n;

	for (n = 1; n < st->max_run; n++) {
		uint64_t l2e, bitmap, cstart = run_cluster_start(s, st, n);

		qcow2_l2_entry(s, st->l2_tbl, st->l2_index + n, &l2e, &bitmap);
		if (!can_write_in_place(s, l2e, bitmap, cstart, cstart,
					run_end(s, st, n + 1)) ||
		    (l2e & QCOW2_L2E_OFFSET_MASK) !=
			    st->host + n * s->cluster_size ||
		    qcow2_inflight_overlaps(s, st->first + n, 1))
			break;
	}
	return n;
}

/* Clusters from the first on that all need new host clusters and are not
 * being allocated by another writer. */
static uint64_t alloc_run(struct qcow2_state *s, const struct write_step *st)
{
	uint64_t n;

	if (!st->l2_tbl) {
		for (n = 1; n < st->max_run; n++)
			if (qcow2_inflight_overlaps(s, st->first + n, 1))
				break;
		return n;
	}
	for (n = 1; n < st->max_run; n++) {
		uint64_t l2e, bitmap, cstart = run_cluster_start(s, st, n);

		qcow2_l2_entry(s, st->l2_tbl, st->l2_index + n, &l2e, &bitmap);
		if (can_write_in_place(s, l2e, bitmap, cstart, cstart,
				       run_end(s, st, n + 1)) ||
		    can_reuse(s, l2e) ||
		    qcow2_inflight_overlaps(s, st->first + n, 1))
			break;
	}
	return n;
}

/* Under the lock: wait for a writer allocating the first cluster, read
 * its L2 entry and choose the kind and the length of the run. */
static int classify(struct qcow2_state *s, struct write_step *st,
		    struct qimg_error *err)
{
	uint64_t l2e = 0, bitmap = 0;
	int r;

	qcow2_inflight_wait(s, st->first, 1);
	r = qcow2_l2_find(s, st->off, &st->l2_off, &st->l2_tbl, err);
	if (r < 0)
		return r;
	if (st->l2_tbl)
		qcow2_l2_entry(s, st->l2_tbl, st->l2_index, &l2e, &bitmap);
	if (!(l2e & QCOW2_OFLAG_COMPRESSED) &&
	    (l2e & QCOW2_L2E_OFFSET_MASK & (s->cluster_size - 1)))
		return qcow2_signal_corruption(
			s, err,
			"Cluster allocation offset %#" PRIx64 " unaligned (L2 "
			"offset: %#" PRIx64 ", L2 index: %#" PRIx64 ")",
			l2e & QCOW2_L2E_OFFSET_MASK, st->l2_off, st->l2_index);
	if (can_write_in_place(s, l2e, bitmap, run_cluster_start(s, st, 0),
			       st->off, run_end(s, st, 1))) {
		st->kind = WRITE_IN_PLACE;
		st->host = l2e & QCOW2_L2E_OFFSET_MASK;
		st->run = in_place_run(s, st);
	} else if (can_reuse(s, l2e)) {
		st->kind = WRITE_REUSE;
		st->run = 1;
	} else {
		st->kind = WRITE_ALLOC;
		st->run = alloc_run(s, st);
	}
	st->end = run_end(s, st, st->run);
	return 0;
}

/* ---- write in place ---- */

/* Host offset of guest offset `off` within the run. */
static uint64_t run_host(const struct qcow2_state *s,
			 const struct write_step *st, uint64_t off)
{
	return st->host + (off - run_cluster_start(s, st, 0));
}

/* Under the lock: the checks before the data goes where it is. */
static int in_place_begin(struct qcow2_state *s, const struct write_step *st,
			  struct qimg_error *err)
{
	int r;

	if (!s->ext_data) {
		r = qcow2_data_write_ok(s, run_host(s, st, st->off),
					st->end - st->off, err);
		if (r < 0)
			return r;
	}
	return qcow2_pre_write(s, err);
}

/* Without the lock: the clusters stay where they are, nothing to commit. */
static int write_in_place(struct qcow2_state *s, const struct write_step *st,
			  struct qimg_error *err)
{
	qimg_debug_event(s->file, QIMG_EV_WRITE_AIO);
	return put_request(s, st, run_host(s, st, st->off), err);
}

/* ---- allocate with copy-on-write ---- */

/* Under the lock: make the L2 table writable, keep the run's old entries,
 * choose its host clusters (new ones, or the reused one) and list the run
 * as in flight so that no other writer allocates it meanwhile. */
static int alloc_begin(struct qcow2_state *s, struct write_step *st,
		       struct qimg_error *err)
{
	uint64_t k;
	int r;

	r = qcow2_mark_dirty(s, err);
	if (r < 0)
		return r;
	r = qcow2_l2_prepare(s, st->off, &st->l2_off, err);
	if (r < 0)
		return r;
	r = qcow2_l2_load(s, st->l2_off, &st->l2_tbl, err);
	if (r < 0)
		return r;
	r = qcow2_l2_scratch(st->run, &st->old_entries, &st->old_bitmaps,
			     &st->new_entries, &st->new_bitmaps, err);
	if (r < 0)
		return r;
	for (k = 0; k < st->run; k++)
		qcow2_l2_entry(s, st->l2_tbl, st->l2_index + k,
			       &st->old_entries[k], &st->old_bitmaps[k]);
	if (st->kind == WRITE_ALLOC && s->ext_data) {
		/* A data file holds each guest cluster at its own offset. */
		st->host = st->first << s->cluster_bits;
	} else if (st->kind == WRITE_ALLOC) {
		r = qcow2_alloc_clusters(s, st->run, &st->host, err);
		if (r < 0)
			return r;
	} else {
		st->host = st->old_entries[0] & QCOW2_L2E_OFFSET_MASK;
		r = s->ext_data ? 0
				: qcow2_data_write_ok(s, st->host,
						      s->cluster_size, err);
		if (r < 0)
			return r;
	}
	if (qcow2_inflight_add(s, st->first, st->run) < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

/* The region to write: whole clusters, except that with subclusters a
 * cluster without old data only needs the touched subclusters, and a
 * reused cluster keeps what it has outside them. */
static void cow_region(const struct qcow2_state *s, struct write_step *st)
{
	uint64_t old_data = QCOW2_L2E_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED;
	uint64_t sc_mask = s->sc_size - 1;
	bool whole_first, whole_last;

	whole_first = !s->ext_l2 || (st->kind == WRITE_ALLOC &&
				     (st->old_entries[0] & old_data));
	whole_last = !s->ext_l2 || (st->kind == WRITE_ALLOC &&
				    (st->old_entries[st->run - 1] & old_data));
	st->region_start =
		whole_first ? run_cluster_start(s, st, 0) : st->off & ~sc_mask;
	st->region_end = whole_last ? run_cluster_start(s, st, st->run)
				    : (st->end + sc_mask) & ~sc_mask;
}

/* Fill [start, end) of the guest image into buf from the current mapping
 * (the copy-on-write source: old cluster, compressed data, zeros or
 * backing). */
static int cow_read(struct qimg_node *node, uint64_t start, uint64_t end,
		    uint8_t *buf, struct qimg_error *err)
{
	if (end <= start)
		return 0;
	return qcow2_read(node, start, buf, end - start, err);
}

/* Without the lock: write the region to the run's host clusters, the
 * request's bytes with what the guest reads around them now. */
static int write_with_cow(struct qimg_node *node, const struct write_step *st,
			  struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t host = run_host(s, st, st->region_start);
	uint64_t region_len = st->region_end - st->region_start;
	uint8_t *bounce;
	int r;

	qimg_debug_event(s->file, QIMG_EV_WRITE_AIO);
	if (st->region_start == st->off && st->region_end == st->end)
		return put_request(s, st, host, err);
	bounce = malloc(region_len);
	if (!bounce)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = cow_read(node, st->region_start, st->off, bounce, err);
	if (r == 0)
		r = cow_read(node, st->end, st->region_end,
			     bounce + (st->end - st->region_start), err);
	if (r == 0)
		r = src_read(st, st->off, st->end,
			     bounce + (st->off - st->region_start), err);
	if (r == 0) {
		/* Copy-on-write data is encrypted like the rest, at its
		 * new host offset. */
		if (s->cipher)
			r = qcow2_encrypt(s, st->region_start, host, bounce,
					  region_len, err);
		if (r == 0)
			r = qimg_pwrite(s->data, host, bounce, region_len, err);
	}
	free(bounce);
	return r;
}

/* ---- commit ---- */

/* Extended L2: the bitmap of cluster k of the run once written.  What the
 * region covered is allocated; the other subclusters keep their state,
 * except in a compressed cluster, copied whole. */
static uint64_t new_bitmap(const struct qcow2_state *s,
			   const struct write_step *st, uint64_t k)
{
	uint64_t cstart = run_cluster_start(s, st, k);
	uint64_t cend = cstart + s->cluster_size;
	uint64_t start = max_u64(st->region_start, cstart);
	uint64_t end = min_u64(st->region_end, cend);
	uint64_t bits;

	if (st->kind == WRITE_ALLOC &&
	    (st->old_entries[k] & QCOW2_OFLAG_COMPRESSED))
		return QCOW2_BITMAP_ALL_ALLOC;
	if (start == cstart && end == cend)
		return QCOW2_BITMAP_ALL_ALLOC;
	bits = qcow2_sc_alloc_bits(s, cstart, start, end);
	return (st->old_bitmaps[k] & ~(bits << 32)) | bits;
}

/* Under the lock, once the data is written: point the run's L2 entries at
 * it.  qcow2_l2_set puts a barrier before the entries, so the data (and
 * the refcounts of new clusters) reach the disk first; the old clusters
 * are freed only after the entries no longer reference them. */
static int commit(struct qcow2_state *s, const struct write_step *st,
		  struct qimg_error *err)
{
	uint64_t k;
	int r;

	for (k = 0; k < st->run; k++) {
		st->new_entries[k] =
			(st->host + k * s->cluster_size) | QCOW2_OFLAG_COPIED;
		if (s->ext_l2)
			st->new_bitmaps[k] = new_bitmap(s, st, k);
	}
	r = qcow2_l2_set(s, st->l2_off, st->l2_index, st->run, st->new_entries,
			 st->new_bitmaps, err);
	/* (Data file clusters are not counted; the old entry's cluster is
	 * the one just written.) */
	if (r == 0 && st->kind == WRITE_ALLOC && !s->ext_data) {
		for (k = 0; k < st->run && r == 0; k++)
			r = qcow2_free_entry(s, st->old_entries[k], err);
	}
	return r;
}

/* ---- one step ---- */

/* One step of a write: handles a run of clusters of one kind, returns the
 * bytes of the request it covered through *done. */
static int write_step(struct qimg_node *node, uint64_t off,
		      const struct write_src *src, uint64_t len, uint64_t *done,
		      struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct write_step st = {
		.off = off,
		.len = len,
		.src = src,
		.first = off >> s->cluster_bits,
		.l2_index = qcow2_l2_index(s, off),
	};
	uint64_t last = (off + len - 1) >> s->cluster_bits;
	int r;

	st.max_run = min_u64(last - st.first + 1, s->l2_entries - st.l2_index);
	st.max_run = min_u64(st.max_run, QCOW2_MAX_RUN);

	qcow2_lock(s);
	r = classify(s, &st, err);
	if (r < 0)
		goto out_unlock;
	if (st.kind == WRITE_IN_PLACE) {
		r = in_place_begin(s, &st, err);
		qcow2_unlock(s);
		if (r == 0)
			r = write_in_place(s, &st, err);
		if (r == 0)
			*done = st.end - off;
		return r;
	}
	r = alloc_begin(s, &st, err);
	if (r < 0)
		goto out_unlock;
	qcow2_unlock(s);

	cow_region(s, &st);
	r = write_with_cow(node, &st, err);

	qcow2_lock(s);
	s->unflushed = true; /* the L2 entry waits for the data */
	if (s->ext_data)
		s->data_unflushed = true;
	/* Data not written: no commit, the clusters stay unreferenced (a
	 * leak, never an entry pointing at garbage). */
	if (r == 0)
		r = commit(s, &st, err);
	qcow2_inflight_del(s, st.first);
	if (r == 0)
		*done = st.end - off;
out_unlock:
	qcow2_unlock(s);
	free(st.old_entries); /* one block for all four */
	return r;
}

static int write_all(struct qimg_node *node, uint64_t off, uint64_t len,
		     struct write_src *src, struct qimg_error *err)
{
	while (len) {
		uint64_t done = 0;
		int r = write_step(node, off, src, len, &done, err);

		if (r < 0)
			return r;
		off += done;
		len -= done;
		if (src->buf)
			src->buf += done;
		else
			src->off += done;
	}
	return 0;
}

int qcow2_write(struct qimg_node *node, uint64_t off, const void *buf,
		size_t len, struct qimg_error *err)
{
	struct write_src src = { .buf = buf };

	return write_all(node, off, len, &src, err);
}

/* Copy offload: the clusters are allocated (or overwritten) as for a
 * write, and the bytes copied into them file to file.  Encrypted clusters
 * need the bytes in memory: refused, as is a source the data file's
 * protocol cannot copy from. */
int qcow2_copy_in(struct qimg_node *node, uint64_t off, uint64_t len,
		  struct qimg_node *file, uint64_t file_off,
		  struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct write_src src = { .file = file, .off = file_off };

	if (s->cipher || !qimg_pcopy_ok(file, s->data))
		return -ENOTSUP;
	return write_all(node, off, len, &src, err);
}
