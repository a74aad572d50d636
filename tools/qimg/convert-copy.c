/* SPDX-License-Identifier: MIT */
/* The convert copy engine: a planner walks the sources' block status in
 * guest order and hands out work items; a pool of worker threads reads,
 * zero-scans (-S) or compresses (-c) items in parallel; writes are
 * committed in guest order (unless -W) so a new qcow2 gets its clusters in
 * guest order and the output is reproducible.  Memory is bounded by
 * workers x buffer size whatever the image size. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "convert.h"
#include "util/buf.h"

#define SECTOR 512u
/* Largest block-status query, as qemu's request limit (in sectors). */
#define REQ_MAX_SECTORS ((uint64_t)(0x7fffffff >> 9))

enum blk_status {
	BLK_DATA,
	BLK_ZERO,
	BLK_BACKING_FILE, /* leave unallocated: the backing file shows */
};

/* One piece of an item's write plan. */
struct segment {
	uint64_t sector, n;
	enum blk_status kind;
};

struct engine {
	const struct convert_params *p;

	pthread_mutex_t lock;
	pthread_cond_t turn;

	/* Planner state (under lock). */
	uint64_t next_sector;
	size_t src_cur;
	uint64_t src_cur_offset;
	uint64_t sector_next_status;
	enum blk_status status;

	/* -C: copy offload still works (cleared, for good, by the first
	 * range it cannot copy: the rest goes through the buffers). */
	bool offload;

	uint64_t seq_next;  /* next item number to hand out */
	uint64_t seq_write; /* item allowed to write (in order) */
	int ret;	    /* first error */

	/* The failed read at the lowest offset, reported after the workers
	 * stop: one line, the same whichever worker failed first. */
	bool read_failed;
	uint64_t read_fail_sector;
	char read_fail_msg[QIMG_ERROR_MSG_MAX];

	uint64_t allocated_sectors; /* for progress */
	uint64_t allocated_done;

	struct timespec start; /* for the rate limit */
	uint64_t bytes_written;
};

struct worker {
	struct engine *e;
	pthread_t tid;
	uint8_t *buf;
	uint8_t *cbuf; /* compressed clusters, -c only, cslot bytes each */
	size_t cslot;
	size_t *clen;
	struct qimg_codec *codec; /* this thread's compressor state */
	struct segment *seg;
	size_t nseg;
	bool offload;	       /* this item's data is not read: -C copies it */
	uint64_t item_sector;  /* the item read_item/copy_item work on */
	struct qimg_error err; /* the last failed request's detail */
};

static bool needs_read(const struct engine *e, enum blk_status st)
{
	return st == BLK_DATA || (!e->p->min_sparse && st == BLK_ZERO);
}

static void planner_reset(struct engine *e)
{
	e->next_sector = 0;
	e->src_cur = 0;
	e->src_cur_offset = 0;
	e->sector_next_status = 0;
}

static void select_part(struct engine *e, uint64_t sector)
{
	const struct convert_params *p = e->p;

	while (e->src_cur + 1 < p->nsrc &&
	       sector >= e->src_cur_offset + p->src[e->src_cur].sectors) {
		e->src_cur_offset += p->src[e->src_cur].sectors;
		e->src_cur++;
	}
}

/* A run that needs no reading (zeros, or unallocated) grows over the
 * following extents of the same kind: a driver answering one block at a
 * time (vdi, vpc, vmdk grain tables) would otherwise make an item, and a
 * hand-over between workers, of every empty block of a huge image.  A
 * failed query ends the run; the next item asks again and reports it. */
static void extend_run(const struct convert_src *src, uint64_t off,
		       uint64_t bytes, struct qimg_extent *ext)
{
	const unsigned int kind = QIMG_BS_DATA | QIMG_BS_ZERO;
	struct qimg_extent more;
	struct qimg_error err;

	while (!(ext->flags & QIMG_BS_DATA) && ext->len < bytes) {
		memset(&more, 0, sizeof(more));
		memset(&err, 0, sizeof(err));
		if (qimg_block_status_for_copy(src->node, src->base,
					       off + ext->len, bytes - ext->len,
					       &more, &err) < 0 ||
		    more.len == 0 || more.len > bytes - ext->len ||
		    (more.flags & kind) != (ext->flags & kind))
			break;
		ext->len += more.len;
	}
}

/* How many sectors from `sector` on share one status (e->status), in
 * qemu-img's steps: status runs trimmed to the source's alignment, data
 * limited to one buffer, whole clusters when compressing. */
static int iteration(struct engine *e, uint64_t sector, uint64_t *np)
{
	const struct convert_params *p = e->p;
	uint64_t n, rel, remain, tail;
	bool post_backing_zero;
	int r;

	select_part(e, sector);
	n = p->total_sectors - sector;
	if (n > REQ_MAX_SECTORS)
		n = REQ_MAX_SECTORS;

	if (e->sector_next_status <= sector) {
		const struct convert_src *src = &p->src[e->src_cur];
		struct qimg_error err = { 0 };
		struct qimg_extent ext;
		uint64_t off, bytes;

		rel = sector - e->src_cur_offset;
		remain = src->sectors - rel;
		if (n > remain)
			n = remain;
		/* From the end of the target's backing file on, zeros need
		 * no writing: split the run there. */
		post_backing_zero = false;
		if (p->target_backing_sectors >= 0) {
			uint64_t tb = (uint64_t)p->target_backing_sectors;

			if (sector >= tb)
				post_backing_zero = true;
			else if (sector + n > tb)
				n = tb - sector;
		}
		off = rel * SECTOR;
		bytes = n * SECTOR;
		if (bytes > qimg_size(src->node) - off)
			bytes = qimg_size(src->node) - off;
		memset(&ext, 0, sizeof(ext));
		if (bytes == 0) {
			/* The 512-byte round-up tail of an odd-sized source
			 * reads as zeros. */
			ext.len = n * SECTOR;
			ext.flags = QIMG_BS_ZERO;
			r = 0;
		} else {
			for (;;) {
				r = qimg_block_status_for_copy(
					src->node, src->base, off, bytes, &ext,
					&err);
				if (r == 0 && (ext.len == 0 || ext.len > bytes))
					r = -EIO;
				if (r == 0 || !p->salvage)
					break;
				/* --salvage: narrow down to one sector,
				 * then read it as data. */
				if (bytes > SECTOR) {
					n = (n + 3) / 4;
					bytes = n * SECTOR;
					qimg_error_clear(&err);
					continue;
				}
				if (!p->quiet)
					tool_warn(
						p->t,
						"error while reading "
						"block status at offset %" PRIu64
						": %s",
						off, strerror(-r));
				memset(&ext, 0, sizeof(ext));
				ext.len = bytes;
				ext.flags = QIMG_BS_DATA;
				r = 0;
				break;
			}
		}
		if (r < 0) {
			tool_err(p->t,
				 "error while reading block status at "
				 "offset %" PRIu64 ": %s",
				 off, tool_errdetail(r, &err));
			return r;
		}
		if (!p->salvage)
			extend_run(src, off, bytes, &ext);
		n = (ext.len + SECTOR - 1) / SECTOR;
		tail = (rel + n) % src->alignment;
		if (n > tail)
			n -= tail;

		if (ext.flags & QIMG_BS_ZERO)
			e->status =
				post_backing_zero ? BLK_BACKING_FILE : BLK_ZERO;
		else if (ext.flags & QIMG_BS_DATA)
			e->status = BLK_DATA;
		else
			e->status = p->target_has_backing ? BLK_BACKING_FILE
							  : BLK_DATA;
		e->sector_next_status = sector + n;
	}

	if (n > e->sector_next_status - sector)
		n = e->sector_next_status - sector;
	if (needs_read(e, e->status) && n > p->buf_sectors)
		n = p->buf_sectors;

	/* Compressed clusters are written whole: a short run becomes data
	 * for the whole cluster, long runs are cut at cluster boundaries. */
	if (p->compressed) {
		if (n < p->cluster_sectors) {
			n = p->cluster_sectors;
			if (n > p->total_sectors - sector)
				n = p->total_sectors - sector;
			e->status = BLK_DATA;
		} else {
			n -= n % p->cluster_sectors;
		}
	}
	*np = n;
	return 0;
}

/* First pass for -p: how many sectors will be copied. */
static int count_allocated(struct engine *e)
{
	uint64_t sector = 0, n;
	int r;

	while (sector < e->p->total_sectors) {
		r = iteration(e, sector, &n);
		if (r < 0)
			return r;
		if (needs_read(e, e->status))
			e->allocated_sectors += n;
		sector += n;
	}
	planner_reset(e);
	return 0;
}

/* Length of the run of sectors at buf that are all zero or all data,
 * adjusted so zero runs start and end on `align` boundaries (a short zero
 * run that cannot reach a boundary is written as data, because the data
 * after it rewrites that block anyway).  Returns true for data. */
static bool sector_run(const uint8_t *buf, uint64_t n, uint64_t sector,
		       uint64_t align, uint64_t *len)
{
	bool zero = qimg_is_zero(buf, SECTOR);
	uint64_t i = 1, tail;

	while (i < n && qimg_is_zero(buf + i * SECTOR, SECTOR) == zero)
		i++;
	if (i < n && align > 1) {
		tail = (sector + i) & (align - 1);
		if (tail) {
			if (zero && i <= tail)
				zero = false;
			if (!zero) {
				i += align - tail;
				if (i > n)
					i = n;
			} else {
				i -= tail;
			}
		}
	}
	*len = i;
	return !zero;
}

/* Like sector_run, but a data run swallows following zero runs shorter
 * than `min` sectors (they are written as data to avoid fragmenting the
 * target).  A run that starts with zeros is returned as is. */
static bool sparse_run(const uint8_t *buf, uint64_t n, uint64_t min,
		       uint64_t sector, uint64_t align, uint64_t *len)
{
	uint64_t used, checked, l;
	bool data;

	if (min > n)
		min = n;
	if (!sector_run(buf, n, sector, align, &l)) {
		*len = l;
		return false;
	}
	used = checked = l;
	while (checked < n) {
		data = sector_run(buf + checked * SECTOR, n - checked,
				  sector + checked, align, &l);
		checked += l;
		if (data)
			used = checked;
		else if (l >= min)
			break;
	}
	*len = used;
	return true;
}

static void add_seg(struct worker *w, uint64_t sector, uint64_t n,
		    enum blk_status kind)
{
	struct segment *s;

	if (w->nseg && w->seg[w->nseg - 1].kind == kind &&
	    w->seg[w->nseg - 1].sector + w->seg[w->nseg - 1].n == sector) {
		w->seg[w->nseg - 1].n += n;
		return;
	}
	s = &w->seg[w->nseg++];
	s->sector = sector;
	s->n = n;
	s->kind = kind;
}

/* Decide what to write for one item (no target access: runs in
 * parallel). */
static int plan_item(struct worker *w, uint64_t sector, uint64_t n,
		     enum blk_status st)
{
	const struct convert_params *p = w->e->p;
	struct qimg_error err = { 0 };
	uint64_t done, l, cl, i;
	size_t len;
	int r;

	w->nseg = 0;
	if (st != BLK_DATA) {
		add_seg(w, sector, n, st);
		return 0;
	}
	if (p->compressed) {
		/* Every cluster is stored, compressed when that helps; all
		 * zero clusters are skipped one by one (not with -S 0). */
		cl = p->cluster_sectors;
		for (i = 0; i * cl < n; i++) {
			len = (n - i * cl < cl ? n - i * cl : cl) * SECTOR;
			if (p->min_sparse &&
			    qimg_is_zero(w->buf + i * cl * SECTOR, len)) {
				add_seg(w, sector + i * cl, len / SECTOR,
					BLK_ZERO);
				continue;
			}
			w->clen[i] = w->cslot;
			r = qimg_compress(
				p->target, w->codec, w->buf + i * cl * SECTOR,
				len, w->cbuf + i * w->cslot, &w->clen[i], &err);
			if (r < 0) {
				tool_err(p->t,
					 "error while compressing at "
					 "byte %" PRIu64 ": %s",
					 (sector + i * cl) * SECTOR,
					 tool_errmsg(r, &err));
				return r;
			}
			add_seg(w, sector + i * cl, len / SECTOR, BLK_DATA);
		}
		return 0;
	}
	if (!p->min_sparse || p->copy_range) {
		add_seg(w, sector, n, BLK_DATA);
		return 0;
	}
	for (done = 0; done < n; done += l) {
		bool data = sparse_run(w->buf + done * SECTOR, n - done,
				       p->min_sparse, sector + done,
				       p->alignment, &l);

		add_seg(w, sector + done, l, data ? BLK_DATA : BLK_ZERO);
	}
	return 0;
}

/* --salvage: after a failed read, read sector by sector; sectors that
 * still fail read as zeros, with a warning each. */
static int salvage_read(const struct convert_params *p,
			const struct convert_src *src, uint64_t off,
			uint8_t *dst, uint64_t len)
{
	struct qimg_error err = { 0 };
	uint64_t done, n;
	int r;

	for (done = 0; done < len; done += n) {
		n = len - done < SECTOR ? len - done : SECTOR;
		qimg_error_clear(&err);
		r = qimg_read(src->node, off + done, dst + done, n, &err);
		if (r < 0) {
			if (!p->quiet)
				tool_warn(p->t,
					  "error while reading offset %" PRIu64
					  ": %s",
					  off + done, strerror(-r));
			memset(dst + done, 0, n);
		}
	}
	return 0;
}

/* The sources' pieces of the item [sector, sector + n): fn(w, src,
 * rel, take, at) for each, rel its first sector in the source, take how
 * many, at where it starts in the item (sectors).  Items span sources
 * only when -c widened a short run. */
static int for_each_piece(struct worker *w, uint64_t sector, uint64_t n,
			  int (*fn)(struct worker *w,
				    const struct convert_src *src, uint64_t rel,
				    uint64_t take, uint64_t at))
{
	const struct convert_params *p = w->e->p;
	uint64_t base = 0, rel, take, at = 0;
	size_t i;
	int r;

	for (i = 0; i < p->nsrc && n; i++) {
		const struct convert_src *src = &p->src[i];

		if (sector >= base + src->sectors) {
			base += src->sectors;
			continue;
		}
		rel = sector - base;
		take = src->sectors - rel;
		if (take > n)
			take = n;
		r = fn(w, src, rel, take, at);
		if (r < 0)
			return r;
		at += take;
		sector += take;
		n -= take;
		base += src->sectors;
	}
	return 0;
}

/* Read a piece into the buffer; the part past the source's size reads as
 * zeros. */
static int read_piece(struct worker *w, const struct convert_src *src,
		      uint64_t rel, uint64_t take, uint64_t at)
{
	const struct convert_params *p = w->e->p;
	uint8_t *dst = w->buf + at * SECTOR;
	uint64_t sz = qimg_size(src->node);
	uint64_t avail = rel * SECTOR < sz ? sz - rel * SECTOR : 0;
	int r;

	if (avail > take * SECTOR)
		avail = take * SECTOR;
	if (avail) {
		r = qimg_read(src->node, rel * SECTOR, dst, avail, &w->err);
		if (r < 0 && p->salvage)
			r = salvage_read(p, src, rel * SECTOR, dst, avail);
		if (r < 0)
			return r;
	}
	memset(dst + avail, 0, take * SECTOR - avail);
	return 0;
}

static int read_item(struct worker *w, uint64_t sector, uint64_t n)
{
	assert(n <= w->e->p->buf_sectors);
	w->item_sector = sector;
	return for_each_piece(w, sector, n, read_piece);
}

/* -C: copy a piece to the target by offload; -ENOTSUP (err unset) when
 * it cannot be (a tail past the source's size reads as zeros). */
static int copy_piece(struct worker *w, const struct convert_src *src,
		      uint64_t rel, uint64_t take, uint64_t at)
{
	const struct convert_params *p = w->e->p;

	if ((rel + take) * SECTOR > qimg_size(src->node))
		return -ENOTSUP;
	return qimg_copy_range(src->node, rel * SECTOR, p->target,
			       (w->item_sector + at) * SECTOR, take * SECTOR,
			       &w->err);
}

static int copy_item(struct worker *w, uint64_t sector, uint64_t n)
{
	w->item_sector = sector;
	return for_each_piece(w, sector, n, copy_piece);
}

/* -C, data: by offload while that works; else (from then on) read and
 * write, as qemu-img falls back. */
static int offload_data(struct worker *w, uint64_t off, uint64_t len)
{
	const struct convert_params *p = w->e->p;
	int r;

	if (__atomic_load_n(&w->e->offload, __ATOMIC_RELAXED)) {
		qimg_error_clear(&w->err);
		r = copy_item(w, off / SECTOR, len / SECTOR);
		if (r != -ENOTSUP || qimg_error_isset(&w->err))
			return r;
		__atomic_store_n(&w->e->offload, false, __ATOMIC_RELAXED);
	}
	r = read_item(w, off / SECTOR, len / SECTOR);
	return r < 0 ? r : qimg_write(p->target, off, w->buf, len, &w->err);
}

static int write_item(struct worker *w)
{
	const struct convert_params *p = w->e->p;
	uint64_t first = w->nseg ? w->seg[0].sector : 0;
	size_t i, j;
	int r = 0;

	for (i = 0; i < w->nseg && r >= 0; i++) {
		const struct segment *s = &w->seg[i];
		uint64_t off = s->sector * SECTOR, len = s->n * SECTOR;
		const uint8_t *data = w->buf + (s->sector - first) * SECTOR;

		switch (s->kind) {
		case BLK_BACKING_FILE:
			break;
		case BLK_DATA:
			if (w->offload) {
				r = offload_data(w, off, len);
				break;
			}
			if (!p->compressed) {
				r = qimg_write(p->target, off, data, len,
					       &w->err);
				break;
			}
			for (j = 0; j * p->cluster_sectors < s->n; j++) {
				uint64_t cl = p->cluster_sectors;
				uint64_t cn =
					s->n - j * cl < cl ? s->n - j * cl : cl;
				/* the cluster's slot in the item */
				size_t k =
					(size_t)((s->sector - first) / cl + j);

				r = qimg_write_compressed_prepared(
					p->target, off + j * cl * SECTOR,
					data + j * cl * SECTOR, cn * SECTOR,
					w->cbuf + k * w->cslot, w->clen[k],
					&w->err);
				if (r < 0)
					break;
			}
			break;
		case BLK_ZERO:
			if (p->has_zero_init)
				break;
			r = qimg_write_zeroes(p->target, off, len,
					      QIMG_ZERO_MAY_UNMAP, &w->err);
			break;
		}
	}
	return r < 0 ? r : 0;
}

static void rate_wait(struct engine *e, uint64_t bytes)
{
	struct timespec now, ts;
	double due, elapsed;

	if (!e->p->rate_limit)
		return;
	/* Atomic: with -W several workers get here at once. */
	due = (double)__atomic_add_fetch(&e->bytes_written, bytes,
					 __ATOMIC_RELAXED) /
	      (double)e->p->rate_limit;
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = (double)(now.tv_sec - e->start.tv_sec) +
		  (double)(now.tv_nsec - e->start.tv_nsec) / 1e9;
	if (due > elapsed) {
		ts.tv_sec = (time_t)(due - elapsed);
		ts.tv_nsec = (long)((due - elapsed - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

static void fail(struct engine *e, int r)
{
	if (!e->ret)
		e->ret = r;
	pthread_cond_broadcast(&e->turn);
}

static void *worker_main(void *opaque)
{
	struct worker *w = opaque;
	struct engine *e = w->e;
	const struct convert_params *p = e->p;
	uint64_t sector, n, seq;
	enum blk_status st;
	bool counted;
	int r;

	for (;;) {
		pthread_mutex_lock(&e->lock);
		if (e->ret || e->next_sector >= p->total_sectors) {
			pthread_mutex_unlock(&e->lock);
			break;
		}
		sector = e->next_sector;
		r = iteration(e, sector, &n);
		if (r < 0) {
			fail(e, r);
			pthread_mutex_unlock(&e->lock);
			break;
		}
		st = e->status;
		e->next_sector += n;
		seq = e->seq_next++;
		pthread_mutex_unlock(&e->lock);

		counted = needs_read(e, st);
		w->offload = counted && p->copy_range &&
			     __atomic_load_n(&e->offload, __ATOMIC_RELAXED);
		r = 0;
		if (counted && !w->offload) {
			r = read_item(w, sector, n);
			if (r < 0) {
				const char *why = tool_errdetail(r, &w->err);

				pthread_mutex_lock(&e->lock);
				if (!e->read_failed ||
				    sector < e->read_fail_sector) {
					e->read_failed = true;
					e->read_fail_sector = sector;
					snprintf(e->read_fail_msg,
						 sizeof(e->read_fail_msg), "%s",
						 why);
				}
				pthread_mutex_unlock(&e->lock);
			}
			st = BLK_DATA;
		}
		if (r == 0)
			r = plan_item(w, sector, n, st);

		pthread_mutex_lock(&e->lock);
		if (p->in_order)
			while (!e->ret && e->seq_write != seq)
				pthread_cond_wait(&e->turn, &e->lock);
		if (e->ret || r < 0) {
			if (r < 0)
				fail(e, r);
			pthread_mutex_unlock(&e->lock);
			break;
		}
		pthread_mutex_unlock(&e->lock);

		/* In order, the turn is ours alone until seq_write moves on;
		 * other workers keep planning and reading meanwhile. */
		r = write_item(w);
		if (r == -ENOTSUP)
			/* A write the target refuses (compressed clusters
			 * into an external data file) names no file, as
			 * qemu-img says it (iotest 244). */
			tool_err(p->t,
				 "error while writing at byte %" PRIu64 ": %s",
				 sector * SECTOR, tool_errdetail(r, &w->err));
		else if (r < 0)
			tool_err(p->t,
				 "error while writing at byte %" PRIu64
				 " of '%s': %s",
				 sector * SECTOR, qimg_node_filename(p->target),
				 tool_errdetail(r, &w->err));
		else if (counted)
			rate_wait(e, n * SECTOR);

		pthread_mutex_lock(&e->lock);
		if (r < 0) {
			fail(e, r);
			pthread_mutex_unlock(&e->lock);
			break;
		}
		if (counted && e->allocated_sectors) {
			e->allocated_done += n;
			progress_set(p->progress,
				     (float)(100.0 * e->allocated_done /
					     e->allocated_sectors));
		}
		e->seq_write++;
		pthread_cond_broadcast(&e->turn);
		pthread_mutex_unlock(&e->lock);
	}
	return NULL;
}

static void worker_free(struct worker *w)
{
	free(w->buf);
	free(w->cbuf);
	free(w->clen);
	free(w->seg);
	qimg_codec_free(w->codec);
}

/* Test hook: QIMG_TEST_FAIL_WORKER=N makes worker N fail to start, so that
 * the tests can reach the paths of a pool that starts short. */
static bool fault_worker_start(int i)
{
	const char *e = getenv("QIMG_TEST_FAIL_WORKER");

	return e && *e && atoi(e) == i;
}

static int worker_init(struct worker *w, struct engine *e)
{
	const struct convert_params *p = e->p;
	size_t bytes = p->buf_sectors * SECTOR;
	void *m;

	memset(w, 0, sizeof(*w));
	w->e = e;
	/* 4 KiB alignment keeps O_DIRECT (-t none / -T none) happy. */
	if (posix_memalign(&m, 4096, bytes))
		return -ENOMEM;
	w->buf = m;
	w->seg = calloc(p->buf_sectors + 1, sizeof(*w->seg));
	if (!w->seg)
		return -ENOMEM;
	if (p->compressed) {
		size_t nslot = p->buf_sectors / p->cluster_sectors + 1;

		/* One slot per cluster, with room for data that grows. */
		w->cslot = QIMG_COMPRESS_BOUND(p->cluster_sectors * SECTOR);
		if (posix_memalign(&m, 4096, nslot * w->cslot))
			return -ENOMEM;
		w->cbuf = m;
		w->clen = calloc(nslot, sizeof(*w->clen));
		w->codec = qimg_codec_new();
		if (!w->clen || !w->codec)
			return -ENOMEM;
	}
	return 0;
}

int convert_copy(const struct convert_params *p)
{
	struct worker *w;
	struct engine e;
	/* --salvage reports each unreadable piece in order: one worker. */
	int i, n = p->salvage ? 1 : p->workers, started = 0, r = 0;

	memset(&e, 0, sizeof(e));
	e.p = p;
	e.offload = p->copy_range;
	pthread_mutex_init(&e.lock, NULL);
	pthread_cond_init(&e.turn, NULL);
	clock_gettime(CLOCK_MONOTONIC, &e.start);

	/* qemu-img always walks the source once before copying; the walk
	 * is only needed for progress, but with --salvage its warnings are
	 * part of the output, so it is done then too. */
	if (p->progress->on || p->salvage) {
		r = count_allocated(&e);
		if (r < 0)
			goto out;
	}

	w = calloc((size_t)n, sizeof(*w));
	if (!w) {
		r = -ENOMEM;
		tool_err(p->t, "%s", strerror(ENOMEM));
		goto out;
	}
	for (i = 0; i < n; i++) {
		r = worker_init(&w[i], &e);
		if (r == 0 && fault_worker_start(i))
			r = -ENOMEM;
		if (r == 0 &&
		    pthread_create(&w[i].tid, NULL, worker_main, &w[i]))
			r = -EAGAIN;
		if (r < 0) {
			worker_free(&w[i]);
			break;
		}
		started++;
	}
	if (!started) {
		/* Not one worker: the copy cannot run. */
		tool_err(p->t, "Could not start worker threads: %s",
			 strerror(-r));
	} else {
		/* Fewer workers than asked only costs parallelism, so it is
		 * neither reported nor an error. */
		r = 0;
	}
	for (i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		worker_free(&w[i]);
	}
	free(w);
	if (e.read_failed)
		tool_err(p->t, "error while reading at byte %" PRIu64 ": %s",
			 e.read_fail_sector * SECTOR, e.read_fail_msg);
	if (!r)
		r = e.ret;
out:
	pthread_cond_destroy(&e.turn);
	pthread_mutex_destroy(&e.lock);
	return r;
}
