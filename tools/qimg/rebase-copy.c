/* SPDX-License-Identifier: MIT */
/* The copy of a safe rebase: wherever the image itself has nothing, the
 * old chain's data is compared with the new backing file's, sector by
 * sector, and written into the image where they differ (past the old
 * backing file's end as zero writes).  The main thread walks the image's
 * allocation and hands the unallocated pieces to a few worker threads,
 * which read, compare and write them independently: pieces never overlap,
 * and each one's result depends on nothing written by another. */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rebase.h"
#include "util/buf.h"

/* A piece at most this long (qemu-img compares in 2 MiB steps). */
#define STEP (1u << 20)
#define SECTOR 512u
/* Pieces in flight at once, one per worker. */
#define WORKERS 4

enum failure {
	FAIL_NONE,
	FAIL_READ_OLD,
	FAIL_READ_NEW,
	FAIL_WRITE,
};

struct piece {
	uint64_t off, len;
};

struct copy {
	struct qimg_node *top, *old, *nb;
	uint64_t old_size;

	/* Shared with the workers, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a piece queued, taken or done */
	struct piece q[WORKERS];
	size_t head, count;
	bool closing;  /* no more pieces: workers leave */
	uint64_t done; /* bytes compared (and copied) */
	enum failure fail;
	int r; /* the first failure */
	struct qimg_error err;
};

/* Read [off, off+len) of `node`, zeros past its end. */
static int read_upto(struct qimg_node *node, uint64_t off, uint8_t *buf,
		     size_t len, struct qimg_error *err)
{
	uint64_t size = node ? qimg_size(node) : 0;
	size_t n = off >= size ? 0 : (size - off < len ? size - off : len);

	memset(buf + n, 0, len - n);
	return n ? qimg_read(node, off, buf, n, err) : 0;
}

/* Compare one piece and write what differs into top.  *fail: which step
 * failed. */
static int piece_copy(struct copy *c, const struct piece *p, uint8_t *a,
		      uint8_t *b, enum failure *fail, struct qimg_error *err)
{
	uint64_t off = p->off, len = p->len, s, e;
	int r;

	*fail = FAIL_READ_OLD;
	r = read_upto(c->old, off, a, len, err);
	if (r < 0)
		return r;
	*fail = FAIL_READ_NEW;
	r = read_upto(c->nb, off, b, len, err);
	if (r < 0)
		return r;
	*fail = FAIL_WRITE;
	for (s = 0; s < len; s = e) {
		/* runs of differing sectors */
		while (s < len && !memcmp(a + s, b + s, SECTOR))
			s += SECTOR;
		for (e = s; e < len && memcmp(a + e, b + e, SECTOR);)
			e += SECTOR;
		if (s >= len)
			break;
		/* past the old backing file's end: zero writes */
		if (off + s >= c->old_size) {
			r = qimg_write_zeroes(c->top, off + s, e - s, 0, err);
		} else {
			if (off + e > c->old_size)
				e = c->old_size - off;
			r = qimg_write(c->top, off + s, a + s, e - s, err);
		}
		if (r < 0)
			return r;
	}
	*fail = FAIL_NONE;
	return 0;
}

/* Record the first failure (lock held). */
static void failed(struct copy *c, int r, enum failure f,
		   const struct qimg_error *e)
{
	if (c->r == 0) {
		c->r = r;
		c->fail = f;
		c->err = *e;
	}
}

static void *worker(void *opaque)
{
	struct copy *c = opaque;
	uint8_t *a = qimg_buf_alloc(STEP), *b = qimg_buf_alloc(STEP);
	struct qimg_error e;
	enum failure f;
	struct piece p;
	int r;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->count && !c->closing)
			pthread_cond_wait(&c->cond, &c->lock);
		if (!c->count)
			break;
		p = c->q[c->head];
		c->head = (c->head + 1) % WORKERS;
		c->count--;
		pthread_cond_broadcast(&c->cond);
		/* after a failure the rest is dropped, as the serial copy
		 * stops at its first */
		if (c->r < 0)
			continue;
		pthread_mutex_unlock(&c->lock);

		memset(&e, 0, sizeof(e));
		f = FAIL_WRITE;
		r = a && b ? piece_copy(c, &p, a, b, &f, &e)
			   : qimg_error_set(&e, ENOMEM, "Out of memory");
		pthread_mutex_lock(&c->lock);
		if (r < 0)
			failed(c, r, f, &e);
		else
			c->done += p.len;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	free(a);
	free(b);
	return NULL;
}

/* Queue a piece; false once one failed. */
static bool submit(struct copy *c, const struct piece *p)
{
	bool ok;

	pthread_mutex_lock(&c->lock);
	while (c->count == WORKERS && c->r == 0)
		pthread_cond_wait(&c->cond, &c->lock);
	ok = c->r == 0;
	if (ok) {
		c->q[(c->head + c->count) % WORKERS] = *p;
		c->count++;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return ok;
}

/* Report the bytes settled so far, if more than at the last report. */
static void progress(struct copy *c, uint64_t size, uint64_t *reported,
		     struct tool_progress *prog)
{
	uint64_t done;

	pthread_mutex_lock(&c->lock);
	done = c->done;
	pthread_mutex_unlock(&c->lock);
	if (done > *reported) {
		*reported = done;
		progress_set(prog, (float)done * 100 / (float)size);
	}
}

/* Walk top's allocation and queue its unallocated pieces; 0, or the
 * status failure (reported here). */
static int dispatch(const struct tool *t, struct copy *c,
		    struct tool_progress *prog)
{
	uint64_t size = qimg_size(c->top), off = 0, reported = 0;
	struct qimg_error err = { 0 };
	int r;

	while (off < size) {
		struct qimg_extent ext;
		uint64_t len = size - off < STEP ? size - off : STEP;

		r = qimg_block_status(c->top, off, len, &ext, &err);
		if (r < 0) {
			tool_err(t, "error while reading image metadata: %s",
				 tool_errmsg(r, &err));
			return r;
		}
		len = ext.len;
		if (ext.flags & QIMG_BS_ALLOCATED) {
			pthread_mutex_lock(&c->lock);
			c->done += len;
			pthread_mutex_unlock(&c->lock);
		} else if (!submit(c, &(struct piece){ off, len })) {
			return 0; /* a worker failed: reported by the caller */
		}
		off += len;
		progress(c, size, &reported, prog);
	}
	return 0;
}

int rebase_copy(const struct tool *t, struct qimg_node *top,
		struct qimg_node *old, struct qimg_node *nb,
		struct tool_progress *prog)
{
	struct copy c = { .top = top, .old = old, .nb = nb };
	uint64_t size = qimg_size(top);
	pthread_t tid[WORKERS];
	size_t i, n = 0;
	int r = 0;

	c.old_size = old ? qimg_size(old) : 0;
	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	for (i = 0; i < WORKERS; i++) {
		if (pthread_create(&tid[n], NULL, worker, &c))
			break;
		n++;
	}
	if (n) {
		r = dispatch(t, &c, prog);
	} else {
		struct qimg_error e = { 0 };

		failed(&c,
		       qimg_error_set(&e, EAGAIN,
				      "Could not start a worker thread"),
		       FAIL_WRITE, &e);
	}
	pthread_mutex_lock(&c.lock);
	c.closing = true;
	pthread_cond_broadcast(&c.cond);
	pthread_mutex_unlock(&c.lock);
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	pthread_cond_destroy(&c.cond);
	pthread_mutex_destroy(&c.lock);
	if (r < 0)
		return r;
	switch (c.fail) {
	case FAIL_NONE:
		break;
	case FAIL_READ_OLD:
		tool_err(t, "error while reading from old backing file");
		return c.r;
	case FAIL_READ_NEW:
		tool_err(t, "error while reading from new backing file");
		return c.r;
	case FAIL_WRITE:
		tool_err(t, "Error while writing to COW image: %s",
			 tool_errmsg(c.r, &c.err));
		return c.r;
	}
	if (size)
		progress_set(prog, (float)size * 100 / (float)size);
	return 0;
}
