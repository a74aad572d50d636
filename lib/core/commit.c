/* SPDX-License-Identifier: MIT */
/* Committing an overlay into an image further down its backing chain, as
 * qemu-img 7.2's commit job does it: the base found by name, the areas the
 * images above it define copied (zeros as zero writes), the base flushed;
 * and emptying the overlay afterwards through the driver. */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/driver.h"
#include "core/options.h"
#include "qimg/commit.h"
#include "util/buf.h"
#include "util/vector.h"

/* qemu-img's job copies through a 16 MiB buffer shared by 16 requests. */
#define COMMIT_MAX_IO (1u << 20)
#define COMMIT_MAX_STATUS (16u << 20)

/* --- finding the base -------------------------------------------------- */

/* A "proto:" prefix before any '/' (json:, nbd:): not a path. */
static bool has_protocol(const char *name)
{
	return name[strcspn(name, ":/")] == ':';
}

/* The plain path of the first node down the file (or a filter's image)
 * children that has one: the directory relative names start from. */
static char *plain_path(const struct qimg_node *n)
{
	char *exact = NULL;

	while (n && !(exact = qimg_node_exact_filename(n))) {
		const struct qimg_node *next = qimg_node_child(n, "file");

		n = next ? next : qimg_node_child(n, "image");
	}
	return exact;
}

/* Does `name` (relative to the directory of `cur`) name the file that
 * cur's stored backing name resolves to?  Both through realpath(3). */
static bool same_file(const struct qimg_node *cur, const char *name)
{
	char *dir = plain_path(cur->file), *path;
	char *a = NULL, *b = NULL;
	bool same;

	path = qimg_resolve_backing_name(dir, name);
	free(dir);
	if (path)
		a = realpath(path, NULL);
	free(path);
	if (a && cur->full_backing_filename)
		b = realpath(cur->full_backing_filename, NULL);
	same = a && b && !strcmp(a, b);
	free(a);
	free(b);
	return same;
}

struct qimg_node *qimg_chain_find(struct qimg_node *top, const char *name)
{
	struct qimg_node *cur;

	for (cur = top; cur && cur->backing; cur = cur->backing) {
		const char *stored = cur->backing_filename;

		if (!stored)
			continue;
		if (has_protocol(name) || has_protocol(stored)) {
			if (!strcmp(name, stored) ||
			    (cur->full_backing_filename &&
			     !strcmp(name, cur->full_backing_filename)))
				return cur->backing;
		} else if (same_file(cur, name)) {
			return cur->backing;
		}
	}
	return NULL;
}

/* --- the copy ------------------------------------------------------------ */

struct commit_range {
	uint64_t start, end;
};
QIMG_VECTOR(commit_ranges, struct commit_range)

/* Requests in flight at once (qemu-img's job: up to 16 of 1 MiB). */
#define COMMIT_WORKERS 8

enum method {
	COPY,
	ZERO,
	DISCARD,
};

struct request {
	uint64_t off, len;
	enum method m;
};

struct commit {
	struct qimg_node *top, *base;
	const struct qimg_commit_opts *o;
	uint64_t size;	  /* top's virtual size */
	uint64_t gran;	  /* unit of the areas copied */
	uint64_t cluster; /* base's cluster size, 0: none */
	uint64_t copied;  /* bytes handed out as data (the rate limit's) */
	struct timespec t0;

	/* Shared with the workers, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a request queued, taken or done */
	struct request q[COMMIT_WORKERS];
	size_t head, count;
	bool closing;	      /* no more requests: workers leave */
	uint64_t done, total; /* bytes */
	int r;		      /* the first failure */
	struct qimg_error err;
};

/* Does an image above base define [off, off + *len)?  As qemu-img asks it
 * (allocation from top down to the image right above base): an image
 * shorter than off defines zeros there.  *len is cut to the run that
 * answers alike. */
static int above_base(const struct commit *c, uint64_t off, uint64_t *len,
		      bool *alloc, struct qimg_error *err)
{
	struct qimg_node *cur = c->top;
	struct qimg_extent ext;
	int r;

	for (;;) {
		r = qimg_block_status(cur, off, *len, &ext, err);
		if (r < 0)
			return r;
		if (ext.len == 0) {
			*alloc = true; /* past cur's end: zeros */
			return 0;
		}
		*len = ext.len;
		if (ext.flags & (QIMG_BS_DATA | QIMG_BS_ZERO)) {
			*alloc = true;
			return 0;
		}
		if (!cur->backing || cur->backing == c->base) {
			*alloc = false;
			return 0;
		}
		cur = cur->backing;
	}
}

/* The areas to copy: those defined above base, widened to whole units of
 * c->gran (the granularity of qemu-img's dirty bitmap), merged. */
static int scan(struct commit *c, struct commit_ranges *out,
		struct qimg_error *err)
{
	uint64_t off = 0;
	int r;

	while (off < c->size) {
		uint64_t len = c->size - off, s, e;
		bool alloc;

		r = above_base(c, off, &len, &alloc, err);
		if (r < 0)
			return r;
		if (alloc) {
			s = off - off % c->gran;
			e = off + len;
			if (e % c->gran)
				e += c->gran - e % c->gran;
			if (e > c->size)
				e = c->size;
			if (out->len && out->v[out->len - 1].end >= s)
				out->v[out->len - 1].end = e;
			else if (commit_ranges_append(
					 out, (struct commit_range){ s, e }) <
				 0)
				return qimg_error_set(err, ENOMEM,
						      "Out of memory");
		}
		off += len;
	}
	for (size_t i = 0; i < out->len; i++)
		c->total += out->v[i].end - out->v[i].start;
	return 0;
}

static double elapsed(const struct commit *c)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - c->t0.tv_sec) +
	       (double)(t.tv_nsec - c->t0.tv_nsec) / 1e9;
}

/* Hold the next data write back until the data written so far took its
 * time at the rate asked for. */
static void throttle(const struct commit *c)
{
	double due, now;
	struct timespec ts;

	if (!c->o || !c->o->rate || !c->copied)
		return;
	due = (double)c->copied / (double)c->o->rate;
	now = elapsed(c);
	if (due <= now)
		return;
	due -= now;
	ts.tv_sec = (time_t)due;
	ts.tv_nsec = (long)((due - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void report(const struct commit *c)
{
	if (c->o && c->o->progress)
		c->o->progress(c->o->opaque, c->done, c->total);
}

/* The request at off, inside [off, end): as qemu-img's job chooses it from
 * the status of the whole chain there.  Data is copied (at most
 * COMMIT_MAX_IO); a run that is not data and covers whole units (and whole
 * base clusters) becomes a zero write or a discard; anything shorter than
 * a unit is copied as one unit. */
static int decide(struct commit *c, uint64_t off, uint64_t end,
		  struct request *rq, struct qimg_error *err)
{
	uint64_t want = end - off, io;
	struct qimg_extent ext;
	int r;

	if (want > COMMIT_MAX_STATUS)
		want = COMMIT_MAX_STATUS;
	r = qimg_block_status_above(c->top, NULL, off, want, &ext, err);
	if (r < 0)
		return r;
	/* A run that is not data goes on across extents that differ only in
	 * where they come from (a zero cluster with and without a host
	 * cluster, zeros at two levels): one zero write instead of many,
	 * each of which may free clusters of the base and so cost it two
	 * flushes (the L2 update before the refcounts drop). */
	if (ext.len && ext.len < want && !(ext.flags & QIMG_BS_DATA)) {
		const unsigned int reads = QIMG_BS_DATA | QIMG_BS_ZERO;
		unsigned int kind = ext.flags & reads;
		struct qimg_extent more;

		while (ext.len < want) {
			r = qimg_block_status_above(c->top, NULL, off + ext.len,
						    want - ext.len, &more, err);
			if (r < 0)
				return r;
			if (!more.len || (more.flags & reads) != kind)
				break;
			ext.len += more.len;
		}
	}
	rq->off = off;
	rq->m = COPY;
	io = ext.len ? ext.len : want;
	if ((ext.flags & QIMG_BS_DATA) && io > COMMIT_MAX_IO)
		io = COMMIT_MAX_IO;
	io -= io % c->gran;
	if (io < c->gran)
		io = c->gran;
	else if (!(ext.flags & QIMG_BS_DATA) &&
		 (!c->cluster ||
		  (off % c->cluster == 0 && (off + io) % c->cluster == 0)))
		rq->m = (ext.flags & QIMG_BS_ZERO) ? ZERO : DISCARD;
	if (io > end - off)
		io = end - off;
	if (rq->m == COPY && io > COMMIT_MAX_IO)
		io = COMMIT_MAX_IO;
	rq->len = io;
	return 0;
}

static int execute(struct commit *c, const struct request *rq, uint8_t *buf,
		   struct qimg_error *err)
{
	int r;

	switch (rq->m) {
	case COPY:
		r = qimg_read(c->top, rq->off, buf, (size_t)rq->len, err);
		if (r == 0)
			r = qimg_write(c->base, rq->off, buf, (size_t)rq->len,
				       err);
		return r;
	case ZERO:
		return qimg_write_zeroes(c->base, rq->off, rq->len,
					 QIMG_ZERO_MAY_UNMAP, err);
	case DISCARD:
		return qimg_discard(c->base, rq->off, rq->len, err);
	}
	return -EINVAL;
}

/* Record the first failure (lock held). */
static void failed(struct commit *c, int r, const struct qimg_error *e)
{
	if (c->r == 0) {
		c->r = r;
		c->err = *e;
	}
}

static void *worker(void *opaque)
{
	struct commit *c = opaque;
	struct qimg_error e;
	void *buf = NULL;
	struct request rq;
	int r;

	buf = qimg_buf_alloc(COMMIT_MAX_IO);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->count && !c->closing)
			pthread_cond_wait(&c->cond, &c->lock);
		if (!c->count)
			break;
		rq = c->q[c->head];
		c->head = (c->head + 1) % COMMIT_WORKERS;
		c->count--;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);

		memset(&e, 0, sizeof(e));
		r = buf ? execute(c, &rq, buf, &e)
			: qimg_error_set(&e, ENOMEM, "Out of memory");
		pthread_mutex_lock(&c->lock);
		if (r < 0) {
			failed(c, r, &e);
		} else {
			c->done += rq.len;
			report(c);
		}
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	free(buf);
	return NULL;
}

/* Queue a request; false once a request failed. */
static bool submit(struct commit *c, const struct request *rq)
{
	bool ok;

	pthread_mutex_lock(&c->lock);
	while (c->count == COMMIT_WORKERS && c->r == 0)
		pthread_cond_wait(&c->cond, &c->lock);
	ok = c->r == 0;
	if (ok) {
		c->q[(c->head + c->count) % COMMIT_WORKERS] = *rq;
		c->count++;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return ok;
}

/* Walk the areas to copy and hand their requests to the workers. */
static void dispatch(struct commit *c, const struct commit_ranges *todo)
{
	struct qimg_error e = { 0 };
	struct request rq;
	size_t i;
	int r;

	for (i = 0; i < todo->len; i++) {
		uint64_t off = todo->v[i].start;

		while (off < todo->v[i].end) {
			r = decide(c, off, todo->v[i].end, &rq, &e);
			if (r < 0) {
				pthread_mutex_lock(&c->lock);
				failed(c, r, &e);
				pthread_mutex_unlock(&c->lock);
				return;
			}
			if (rq.m == COPY) {
				throttle(c);
				c->copied += rq.len;
			}
			if (!submit(c, &rq))
				return;
			off += rq.len;
		}
	}
}

/* The place of `n` in top's backing chain (top: 0), and the chain's
 * length in *len. */
static unsigned int chain_depth(struct qimg_node *top, struct qimg_node *n,
				unsigned int *len)
{
	unsigned int d = 0, k = 0;

	for (; top; top = top->backing, k++)
		if (top == n)
			d = k;
	*len = k;
	return d;
}

int qimg_commit_check(struct qimg_node *node, struct qimg_node *base,
		      struct qimg_error *err)
{
	struct qimg_node *img = qimg_node_image(node), *f, *over;
	char a[128], b[128];
	unsigned int len, d;

	/* QEMU opens each image of the chain (top first) with its file
	 * node, then the filters above: the image at depth d is node 2d + 1,
	 * the filter over it 2 * len. */
	d = chain_depth(img, base, &len);
	for (f = node; f != img && f->file; f = f->file) {
		if (f->drv->commit_conflict & QIMG_PERM_CONSISTENT_READ) {
			qimg_node_qemu_name(f->file, 1, a, sizeof(a));
			qimg_node_qemu_name(f, 2 * len, b, sizeof(b));
			return qimg_error_set(
				err, EPERM,
				"Permission conflict on node '%s': permissions "
				"'consistent read' are both required by node "
				"'%s' (uses node '%s' as 'file' child) and "
				"unshared by commit job 'commit' (uses node "
				"'%s' as 'intermediate node' child).",
				a, b, a, a);
		}
		if (f->drv->commit_conflict & QIMG_PERM_WRITE) {
			for (over = img; over->backing != base;)
				over = over->backing;
			qimg_node_qemu_name(base, 2 * d + 1, a, sizeof(a));
			qimg_node_qemu_name(over, 2 * d - 1, b, sizeof(b));
			return qimg_error_set(
				err, EPERM,
				"Permission conflict on node '%s': permissions "
				"'write' are both required by an unnamed block "
				"device (uses node '%s' as 'root' child) and "
				"unshared by node '%s' (uses node '%s' as "
				"'backing' child).",
				a, a, b, a);
		}
	}
	return 0;
}

int qimg_commit(struct qimg_node *top, struct qimg_node *base,
		const struct qimg_commit_opts *o, struct qimg_error *err)
{
	struct commit c = { .top = top, .base = base, .o = o };
	struct commit_ranges todo = { 0 };
	uint32_t cs = qimg_cluster_size(base);
	pthread_t tid[COMMIT_WORKERS];
	size_t i, n = 0;
	int r;

	if (!(base->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF, "'%s' is opened read-only",
				      base->filename);
	c.size = qimg_size(top);
	c.cluster = cs;
	/* The job's bitmap granularity: the base's cluster size within
	 * 4 KiB..64 KiB, 64 KiB for images without clusters. */
	c.gran = cs ? (cs < 4096 ? 4096 : cs > 65536 ? 65536 : cs) : 65536;
	clock_gettime(CLOCK_MONOTONIC, &c.t0);

	/* A base shorter than top grows first (the new area reads as zeros,
	 * even over a longer backing file of its own). */
	if (qimg_size(base) < c.size) {
		r = qimg_truncate(base, c.size, 0, NULL, err);
		if (r < 0)
			return r;
	}
	r = scan(&c, &todo, err);
	if (r < 0) {
		commit_ranges_free(&todo);
		return r;
	}
	report(&c);

	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	for (i = 0; i < COMMIT_WORKERS && todo.len; i++) {
		if (pthread_create(&tid[n], NULL, worker, &c))
			break;
		n++;
	}
	if (n)
		dispatch(&c, &todo);
	else if (todo.len)
		c.r = qimg_error_set(&c.err, EAGAIN,
				     "Could not start a worker thread");
	pthread_mutex_lock(&c.lock);
	c.closing = true;
	pthread_cond_broadcast(&c.cond);
	pthread_mutex_unlock(&c.lock);
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	pthread_cond_destroy(&c.cond);
	pthread_mutex_destroy(&c.lock);
	commit_ranges_free(&todo);
	if (c.r < 0) {
		if (c.err.notes[0])
			qimg_error_note(err, "%s", c.err.notes);
		return qimg_error_set(err, c.r, "%s", c.err.msg);
	}
	/* The base holds the data on stable storage before anyone lets go
	 * of it above (emptying the overlay comes after this). */
	return qimg_flush(base, err);
}

/* --- emptying ------------------------------------------------------------ */

/* The name qemu-img's block layer gives a node in messages: a format node
 * with no options of its own that change what it reads (nor children given
 * by options) goes by its file's name, json:{...} or not. */
static const char *node_msg_name(const struct qimg_node *node)
{
	const struct qimg_node *f = node->file;
	size_t i;

	if (!node->display_name)
		return node->filename;
	if (strncmp(node->display_name, "json:", 5) || !f || !f->display_name ||
	    qimg_options_strong(node->drv, node->options))
		return node->display_name;
	for (i = 0; i < node->nchildren; i++)
		if (node->children[i].from_options &&
		    strcmp(node->children[i].role, "file"))
			return node->display_name;
	return f->display_name;
}

int qimg_make_empty(struct qimg_node *node, struct qimg_error *err)
{
	const char *name = node_msg_name(node);
	int r;

	if (!node->drv->make_empty)
		return qimg_error_set(err, ENOTSUP,
				      "%s does not support emptying nodes",
				      node->drv->name);
	if (!(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF, "'%s' is opened read-only",
				      node->filename);
	r = node->drv->make_empty(node, err);
	if (r < 0) {
		/* qemu-img words it from the errno alone. */
		qimg_error_clear(err);
		return qimg_error_set_errno(err, -r, "Failed to empty %s",
					    name);
	}
	return 0;
}
