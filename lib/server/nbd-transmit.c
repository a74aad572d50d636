/* SPDX-License-Identifier: MIT */
/* NBD transmission: a connection's threads take turns reading (whoever
 * holds the read lock reads the next request and its payload, then lets
 * go of it) and each serves the request it read over the block layer and
 * sends its reply under the send lock.  So requests are served in
 * parallel and replies complete out of order as the protocol allows,
 * without a hand-over between a reader and a worker on the way of each
 * request.  A thread waits before reading more while the payloads and
 * read buffers in flight exceed NBDS_MAX_INFLIGHT (and the server's
 * budget): memory stays bounded whatever the client sends. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qimg/bitmap.h"
#include "server/nbd-conn.h"
#include "util/buf.h"

/* Most extents one block status reply carries per context. */
#define MAX_EXTENTS 16384u
/* Reads shorter than this are not searched for holes. */
#define SPARSE_READ_MIN (64u << 10)
/* Most chunks a structured read is cut into (the rest is one data
 * chunk). */
#define MAX_READ_CHUNKS 256u

struct req {
	uint16_t flags, type;
	uint64_t handle, off;
	uint32_t len;
	uint8_t *payload; /* WRITE: the data */
	uint64_t cost;	  /* bytes of memory it may hold */
};

struct tx {
	struct nbds_conn *c;
	pthread_mutex_t read_lock; /* held by the thread reading a request */
	pthread_mutex_t lock;	   /* the rest */
	pthread_cond_t room;	   /* a request finished */
	uint64_t inflight_bytes;
	bool stop; /* the stream ended (under read_lock) */
	int ret;   /* why, when it was an error (under read_lock) */
	struct qimg_error err;
	bool wrote; /* flush before the connection ends */
};

static int to_wire_errno(int r)
{
	switch (-r) {
	case 0:
		return 0;
	case EPERM:
	case EROFS:
	case EACCES:
		return NBDS_EPERM;
	case ENOMEM:
		return NBDS_ENOMEM;
	case EINVAL:
		return NBDS_EINVAL;
	case ENOSPC:
	case EFBIG:
	case EDQUOT:
		return NBDS_ENOSPC;
	case EOVERFLOW:
		return NBDS_EOVERFLOW;
	case ENOTSUP:
		return NBDS_ENOTSUP;
	case ESHUTDOWN:
		return NBDS_ESHUTDOWN;
	default:
		return NBDS_EIO;
	}
}

/* ---- replies (callers hold no lock; these take the send lock) ---- */

static int send_locked(struct nbds_conn *c, const void *b, size_t len,
		       bool more)
{
	int r;

	if (c->send_error)
		return c->send_error;
	r = c->io->send(c->io->opaque, b, len, more);
	if (r < 0)
		c->send_error = r;
	return r;
}

static int simple_reply(struct nbds_conn *c, const struct req *q, int err,
			const void *data, size_t len)
{
	uint8_t h[NBDS_SIMPLE_REPLY_SIZE];
	int r;

	nbds_put32(h, NBDS_SIMPLE_REPLY_MAGIC);
	nbds_put32(h + 4, (uint32_t)err);
	nbds_put64(h + 8, q->handle);
	pthread_mutex_lock(&c->send_lock);
	r = send_locked(c, h, sizeof(h), len > 0);
	if (r == 0 && len)
		r = send_locked(c, data, len, false);
	pthread_mutex_unlock(&c->send_lock);
	return r;
}

/* One structured chunk: header, the fixed part `pre`, then `data`. */
static int chunk(struct nbds_conn *c, const struct req *q, uint16_t flags,
		 uint16_t type, const void *pre, size_t prelen,
		 const void *data, size_t len)
{
	uint8_t h[NBDS_CHUNK_HEADER_SIZE];
	int r;

	nbds_put32(h, NBDS_STRUCTURED_REPLY_MAGIC);
	nbds_put16(h + 4, flags);
	nbds_put16(h + 6, type);
	nbds_put64(h + 8, q->handle);
	nbds_put32(h + 16, (uint32_t)(prelen + len));
	pthread_mutex_lock(&c->send_lock);
	r = send_locked(c, h, sizeof(h), prelen + len > 0);
	if (r == 0 && prelen)
		r = send_locked(c, pre, prelen, len > 0);
	if (r == 0 && len)
		r = send_locked(c, data, len, false);
	pthread_mutex_unlock(&c->send_lock);
	return r;
}

static int error_chunk(struct nbds_conn *c, const struct req *q, int err,
		       const char *msg)
{
	uint8_t pre[6];
	size_t n = msg ? strlen(msg) : 0;

	if (n > 4096)
		n = 4096;
	nbds_put32(pre, (uint32_t)err);
	nbds_put16(pre + 4, (uint16_t)n);
	return chunk(c, q, NBDS_REPLY_FLAG_DONE, NBDS_REPLY_TYPE_ERROR, pre,
		     sizeof(pre), msg, n);
}

/* The reply to a request without data: simple, or with structured
 * replies an error chunk for errors (so the message goes along). */
static int status_reply(struct nbds_conn *c, const struct req *q, int r,
			const struct qimg_error *err)
{
	int e = to_wire_errno(r);

	if (e && c->structured)
		return error_chunk(c, q, e,
				   err && err->msg[0] ? err->msg : NULL);
	return simple_reply(c, q, e, NULL, 0);
}

/* ---- commands ---- */

static int do_write(struct tx *t, struct req *q, struct qimg_error *err)
{
	const struct qimg_nbd_export *exp = t->c->exp;
	uint64_t off = exp->offset + q->off;
	unsigned int zf = 0;
	int r;

	if (exp->detect_zeroes != QIMG_NBD_DZ_OFF &&
	    qimg_is_zero(q->payload, q->len)) {
		if (exp->detect_zeroes == QIMG_NBD_DZ_UNMAP)
			zf |= QIMG_ZERO_MAY_UNMAP;
		r = qimg_write_zeroes(exp->node, off, q->len, zf, err);
		if (r == 0 && (q->flags & NBDS_CMD_FLAG_FUA))
			r = qimg_flush(exp->node, err);
		return r;
	}
	return qimg_write_flags(
		exp->node, off, q->payload, q->len,
		(q->flags & NBDS_CMD_FLAG_FUA) ? QIMG_WRITE_FUA : 0, err);
}

static int do_zeroes(struct tx *t, struct req *q, struct qimg_error *err)
{
	const struct qimg_nbd_export *exp = t->c->exp;
	unsigned int zf = 0;
	int r;

	if (exp->discard && !(q->flags & NBDS_CMD_FLAG_NO_HOLE))
		zf |= QIMG_ZERO_MAY_UNMAP;
	if (q->flags & NBDS_CMD_FLAG_FAST_ZERO)
		zf |= QIMG_ZERO_NO_FALLBACK;
	r = qimg_write_zeroes(exp->node, exp->offset + q->off, q->len, zf, err);
	if (r == -ENOTSUP && (zf & QIMG_ZERO_NO_FALLBACK) &&
	    !qimg_error_isset(err))
		qimg_error_set(err, ENOTSUP, "fast zeroing is not possible");
	if (r == 0 && (q->flags & NBDS_CMD_FLAG_FUA))
		r = qimg_flush(exp->node, err);
	return r;
}

static int do_trim(struct tx *t, struct req *q, struct qimg_error *err)
{
	const struct qimg_nbd_export *exp = t->c->exp;
	int r = 0;

	/* --discard=ignore (the default): accepted, nothing freed. */
	if (exp->discard)
		r = qimg_discard(exp->node, exp->offset + q->off, q->len, err);
	if (r == 0 && (q->flags & NBDS_CMD_FLAG_FUA))
		r = qimg_flush(exp->node, err);
	return r;
}

/* Status of [off, off + len) of the export, one extent: through the
 * chain (layer: the image's own layer only). */
static int status_at(const struct qimg_nbd_export *exp, uint64_t off,
		     uint64_t len, bool layer, struct qimg_extent *ext,
		     struct qimg_error *err)
{
	int r;

	memset(ext, 0, sizeof(*ext));
	r = layer ? qimg_block_status(exp->node, exp->offset + off, len, ext,
				      err)
		  : qimg_block_status_above(exp->node, NULL, exp->offset + off,
					    len, ext, err);
	if (r == 0 && (ext->len == 0 || ext->len > len))
		r = qimg_error_set(err, EIO, "bad block status");
	if (r == 0 && layer && !(ext->flags & (QIMG_BS_DATA | QIMG_BS_ZERO))) {
		/* Unallocated here reads as zeros without a backing file,
		 * and past its end. */
		struct qimg_node *b = qimg_node_backing(exp->node);
		uint64_t at = exp->offset + off, bsize = b ? qimg_size(b) : 0;

		if (!b || at >= bsize)
			ext->flags |= QIMG_BS_ZERO;
		else if (at + ext->len > bsize)
			ext->len = bsize - at;
	}
	return r;
}

struct piece {
	uint64_t off, len;
	bool hole;
};

static int do_read(struct tx *t, struct req *q)
{
	struct nbds_conn *c = t->c;
	const struct qimg_nbd_export *exp = c->exp;
	struct qimg_error err = { 0 };
	struct piece *pc = NULL;
	uint8_t *buf = NULL, *raw, pre[12];
	size_t n = 0, i;
	uint64_t done;
	int r = 0;

	/* page aligned inside a block from malloc: the copy from the page
	 * cache runs faster into it (posix_memalign for each request was
	 * much slower still: nbdcopy of the 1 GiB bench image took 0.6 s
	 * with it, 0.26 s this way) */
	raw = malloc((size_t)q->len + 4096);
	if (!raw)
		return status_reply(c, q, -ENOMEM, NULL);
	buf = (uint8_t *)(((uintptr_t)raw + 4095) & ~(uintptr_t)4095);
	/* Small reads go as one data chunk: looking for holes costs more
	 * (block status down to the file) than sending a few zeros. */
	if (!c->structured || (q->flags & NBDS_CMD_FLAG_DF) ||
	    q->len < SPARSE_READ_MIN) {
		r = q->len ? qimg_read(exp->node, exp->offset + q->off, buf,
				       q->len, &err)
			   : 0;
		if (r < 0)
			r = status_reply(c, q, r, &err);
		else if (!c->structured)
			r = simple_reply(c, q, 0, buf, q->len);
		else {
			nbds_put64(pre, q->off);
			r = chunk(c, q, NBDS_REPLY_FLAG_DONE,
				  q->len ? NBDS_REPLY_TYPE_OFFSET_DATA
					 : NBDS_REPLY_TYPE_NONE,
				  pre, q->len ? 8 : 0, buf, q->len);
		}
		free(raw);
		return r;
	}
	/* Sparse: holes as hole chunks, the rest read and sent as data. */
	pc = calloc(MAX_READ_CHUNKS, sizeof(*pc));
	if (!pc) {
		free(raw);
		return status_reply(c, q, -ENOMEM, NULL);
	}
	for (done = 0; r == 0 && done < q->len;) {
		struct qimg_extent ext;
		bool hole;

		if (n == MAX_READ_CHUNKS - 1) {
			pc[n++] = (struct piece){ q->off + done, q->len - done,
						  false };
			break;
		}
		r = status_at(exp, q->off + done, q->len - done, false, &ext,
			      &err);
		if (r < 0)
			break;
		hole = ext.flags & QIMG_BS_ZERO;
		if (n && pc[n - 1].hole == hole)
			pc[n - 1].len += ext.len;
		else
			pc[n++] =
				(struct piece){ q->off + done, ext.len, hole };
		done += ext.len;
	}
	for (i = 0; r == 0 && i < n; i++)
		if (!pc[i].hole)
			r = qimg_read(exp->node, exp->offset + pc[i].off,
				      buf + (pc[i].off - q->off), pc[i].len,
				      &err);
	if (r < 0) {
		r = status_reply(c, q, r, &err);
	} else {
		for (i = 0; r == 0 && i < n; i++) {
			uint16_t fl = i + 1 == n ? NBDS_REPLY_FLAG_DONE : 0;

			nbds_put64(pre, pc[i].off);
			if (pc[i].hole) {
				nbds_put32(pre + 8, (uint32_t)pc[i].len);
				r = chunk(c, q, fl, NBDS_REPLY_TYPE_OFFSET_HOLE,
					  pre, 12, NULL, 0);
			} else {
				r = chunk(c, q, fl, NBDS_REPLY_TYPE_OFFSET_DATA,
					  pre, 8, buf + (pc[i].off - q->off),
					  pc[i].len);
			}
		}
	}
	free(pc);
	free(raw);
	return r;
}

/* The extents of one context for [off, off + len): up to `max`, equal
 * neighbours merged.  Fills out (8 bytes each) and *count. */
static int ctx_extents(const struct qimg_nbd_export *exp, enum nbds_ctx id,
		       uint64_t off, uint32_t len, uint32_t max, uint8_t *out,
		       uint32_t *count, struct qimg_error *err)
{
	uint64_t done = 0;
	uint32_t n = 0, prev = 0, v;
	int r;

	while (done < len) {
		struct qimg_extent ext;

		if (id >= NBDS_CTX_BITMAP) {
			const struct qimg_nbd_bitmap *bm =
				&exp->bitmaps[id - NBDS_CTX_BITMAP];
			bool dirty = false;

			memset(&ext, 0, sizeof(ext));
			r = qimg_bitmap_status(
				bm->node, bm->name, exp->offset + off + done,
				len - done, &dirty, &ext.len, err);
			ext.flags = dirty ? QIMG_BS_DATA : 0;
		} else {
			r = status_at(exp, off + done, len - done,
				      exp->layer_status, &ext, err);
		}
		if (r < 0)
			return n ? 0 : r; /* what was found so far */
		if (id >= NBDS_CTX_BITMAP)
			v = ext.flags & QIMG_BS_DATA ? 1 : 0; /* dirty */
		else if (id == NBDS_CTX_ALLOCATION)
			v = (ext.flags & QIMG_BS_DATA ? 0 : NBDS_STATE_HOLE) |
			    (ext.flags & QIMG_BS_ZERO ? NBDS_STATE_ZERO : 0);
		else if (!(ext.flags & QIMG_BS_ALLOCATED))
			v = 0;
		else
			v = exp->layer_status ? 1 : (uint32_t)ext.depth + 1;
		if (n && prev == v) {
			nbds_put32(out + 8 * (n - 1),
				   nbds_get32(out + 8 * (n - 1)) +
					   (uint32_t)ext.len);
		} else {
			if (n == max)
				break;
			nbds_put32(out + 8 * n, (uint32_t)ext.len);
			nbds_put32(out + 8 * n + 4, v);
			n++;
			prev = v;
		}
		done += ext.len;
	}
	*count = n;
	return 0;
}

static int do_block_status(struct tx *t, struct req *q)
{
	struct nbds_conn *c = t->c;
	struct qimg_error err = { 0 };
	uint32_t max = (q->flags & NBDS_CMD_FLAG_REQ_ONE) ? 1 : MAX_EXTENTS;
	int id, last = -1, r = 0;
	uint8_t *out, pre[4];

	for (id = 0; id < NBDS_NCTX; id++)
		if (c->ctx[id])
			last = id;
	if (last < 0)
		return status_reply(c, q, -EINVAL, NULL);
	out = malloc(8u * max);
	if (!out)
		return status_reply(c, q, -ENOMEM, NULL);
	for (id = 0; r == 0 && id <= last; id++) {
		uint32_t count = 0;

		if (!c->ctx[id])
			continue;
		r = ctx_extents(c->exp, (enum nbds_ctx)id, q->off, q->len, max,
				out, &count, &err);
		if (r < 0) {
			r = status_reply(c, q, r, &err);
			break;
		}
		nbds_put32(pre, (uint32_t)id);
		r = chunk(c, q, id == last ? NBDS_REPLY_FLAG_DONE : 0,
			  NBDS_REPLY_TYPE_BLOCK_STATUS, pre, 4, out,
			  8u * count);
	}
	free(out);
	return r;
}

/* Serve one request and send its reply. */
static int serve(struct tx *t, struct req *q)
{
	struct nbds_conn *c = t->c;
	const struct qimg_nbd_export *exp = c->exp;
	struct qimg_error err = { 0 };
	int r = 0;

	switch (q->type) {
	case NBDS_CMD_READ:
		return do_read(t, q);
	case NBDS_CMD_BLOCK_STATUS:
		return do_block_status(t, q);
	case NBDS_CMD_WRITE:
		r = do_write(t, q, &err);
		break;
	case NBDS_CMD_WRITE_ZEROES:
		r = do_zeroes(t, q, &err);
		break;
	case NBDS_CMD_TRIM:
		r = do_trim(t, q, &err);
		break;
	case NBDS_CMD_FLUSH:
		r = qimg_flush(exp->node, &err);
		break;
	case NBDS_CMD_CACHE:
		break; /* a hint: the host's cache is what reads use */
	}
	return status_reply(c, q, r, &err);
}

/* ---- the request reader ---- */

/* Flags each command accepts. */
static uint16_t valid_flags(const struct nbds_conn *c, uint16_t type)
{
	switch (type) {
	case NBDS_CMD_READ:
		return NBDS_CMD_FLAG_FUA |
		       (c->structured ? NBDS_CMD_FLAG_DF : 0);
	case NBDS_CMD_BLOCK_STATUS:
		return NBDS_CMD_FLAG_FUA | NBDS_CMD_FLAG_REQ_ONE;
	case NBDS_CMD_WRITE_ZEROES:
		return NBDS_CMD_FLAG_FUA | NBDS_CMD_FLAG_NO_HOLE |
		       NBDS_CMD_FLAG_FAST_ZERO;
	default:
		return NBDS_CMD_FLAG_FUA;
	}
}

static bool is_write(uint16_t type)
{
	return type == NBDS_CMD_WRITE || type == NBDS_CMD_WRITE_ZEROES ||
	       type == NBDS_CMD_TRIM;
}

/* A request refused before it is served: its error, or 0. */
static int check_request(const struct nbds_conn *c, const struct req *q)
{
	const struct qimg_nbd_export *exp = c->exp;

	if (q->type > NBDS_CMD_BLOCK_STATUS)
		return -EINVAL;
	if (q->flags & ~valid_flags(c, q->type))
		return -EINVAL;
	if (exp->readonly && is_write(q->type))
		return -EPERM;
	if (q->type == NBDS_CMD_FLUSH)
		return 0;
	if (q->off > exp->size || q->len > exp->size - q->off)
		return q->type == NBDS_CMD_WRITE ||
				       q->type == NBDS_CMD_WRITE_ZEROES
			       ? -ENOSPC
			       : -EINVAL;
	if (q->type == NBDS_CMD_READ && q->len > NBDS_MAX_PAYLOAD)
		return -EINVAL;
	if (q->type == NBDS_CMD_BLOCK_STATUS && (!c->structured || !q->len))
		return -EINVAL;
	return 0;
}

/* Take `cost` bytes of the connection's allowance and of the server's
 * budget, waiting for replies to free them (a connection with nothing in
 * flight always gets its one request). */
static void reserve(struct tx *t, uint64_t cost)
{
	struct qimg_nbd_budget *b = t->c->exp->budget;

	pthread_mutex_lock(&t->lock);
	while (t->inflight_bytes &&
	       t->inflight_bytes + cost > NBDS_MAX_INFLIGHT)
		pthread_cond_wait(&t->room, &t->lock);
	t->inflight_bytes += cost;
	pthread_mutex_unlock(&t->lock);
	if (b && cost) {
		pthread_mutex_lock(&b->lock);
		while (b->used && b->used + cost > b->cap)
			pthread_cond_wait(&b->cond, &b->lock);
		b->used += cost;
		pthread_mutex_unlock(&b->lock);
	}
}

static void release(struct tx *t, uint64_t cost)
{
	struct qimg_nbd_budget *b = t->c->exp->budget;

	pthread_mutex_lock(&t->lock);
	t->inflight_bytes -= cost;
	pthread_cond_broadcast(&t->room);
	pthread_mutex_unlock(&t->lock);
	if (b && cost) {
		pthread_mutex_lock(&b->lock);
		b->used -= cost;
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
	}
}

static void finish(struct tx *t, struct req *q)
{
	release(t, q->cost);
	free(q->payload);
	free(q);
}

/* Read one request (and its payload); 1 at a clean end (DISC or end of
 * stream), negative when the stream is unusable. */
static int read_request(struct tx *t, struct req **out, struct qimg_error *err)
{
	struct nbds_conn *c = t->c;
	uint8_t h[NBDS_REQUEST_SIZE];
	struct req *q;

	*out = NULL;
	if (c->io->recv(c->io->opaque, h, sizeof(h)) < 0)
		return 1;
	if (nbds_get32(h) != NBDS_REQUEST_MAGIC)
		return qimg_error_set(err, EINVAL,
				      "client sent a bad request magic");
	q = calloc(1, sizeof(*q));
	if (!q)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	q->flags = nbds_get16(h + 4);
	q->type = nbds_get16(h + 6);
	q->handle = nbds_get64(h + 8);
	q->off = nbds_get64(h + 16);
	q->len = nbds_get32(h + 24);
	if (q->type == NBDS_CMD_DISC) {
		free(q);
		return 1;
	}
	if (q->type == NBDS_CMD_WRITE && q->len > NBDS_MAX_PAYLOAD) {
		uint32_t len = q->len;

		free(q);
		return qimg_error_set(err, EINVAL,
				      "client sent a write of %u bytes", len);
	}
	if (q->type == NBDS_CMD_WRITE || q->type == NBDS_CMD_READ)
		q->cost = q->len <= NBDS_MAX_PAYLOAD ? q->len : 0;
	/* Memory first (bounded whatever the clients send), then the
	 * payload. */
	reserve(t, q->cost);
	if (q->type == NBDS_CMD_WRITE) {
		q->payload = malloc(q->len ? q->len : 1);
		if (!q->payload) {
			release(t, q->cost);
			free(q);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
		if (q->len &&
		    c->io->recv(c->io->opaque, q->payload, q->len) < 0) {
			release(t, q->cost);
			free(q->payload);
			free(q);
			return 1; /* gone mid-request: never acknowledged */
		}
	}
	*out = q;
	return 0;
}

/* One of the connection's threads: read a request, serve it, again. */
static void *worker(void *opaque)
{
	struct tx *t = opaque;
	struct nbds_conn *c = t->c;
	struct req *q;
	int r, rc;

	for (;;) {
		pthread_mutex_lock(&t->read_lock);
		if (t->stop || c->send_error) {
			t->stop = true;
			pthread_mutex_unlock(&t->read_lock);
			return NULL;
		}
		r = read_request(t, &q, &t->err);
		if (r != 0) {
			t->stop = true;
			if (r < 0)
				t->ret = r;
			pthread_mutex_unlock(&t->read_lock);
			return NULL;
		}
		rc = check_request(c, q);
		if (is_write(q->type) && !rc) {
			pthread_mutex_lock(&t->lock);
			t->wrote = true;
			pthread_mutex_unlock(&t->lock);
		}
		pthread_mutex_unlock(&t->read_lock);
		if (rc)
			(void)status_reply(c, q, rc, NULL);
		else
			(void)serve(t, q);
		finish(t, q);
	}
}

int nbds_transmit(struct nbds_conn *c, struct qimg_error *err)
{
	const struct qimg_nbd_export *exp = c->exp;
	unsigned int nw = exp->workers, started = 0, i;
	pthread_t *th = NULL;
	struct tx t = { .c = c };
	int r;

	pthread_mutex_init(&t.read_lock, NULL);
	pthread_mutex_init(&t.lock, NULL);
	pthread_cond_init(&t.room, NULL);
	if (nw > 1) {
		th = calloc(nw - 1, sizeof(*th));
		for (i = 0; th && i < nw - 1; i++)
			if (pthread_create(&th[i], NULL, worker, &t) == 0)
				started++;
	}
	/* This thread is one of them (the only one with workers 0 or 1). */
	(void)worker(&t);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	r = t.ret;
	if (r < 0)
		qimg_error_set(err, -r, "%s", t.err.msg);
	if (t.wrote) {
		struct qimg_error ferr = { 0 };

		if (qimg_flush(exp->node, &ferr) < 0 && r >= 0)
			r = qimg_error_set(err, EIO, "%s", ferr.msg);
	}
	pthread_cond_destroy(&t.room);
	pthread_mutex_destroy(&t.lock);
	pthread_mutex_destroy(&t.read_lock);
	return r < 0 ? r : 0;
}
