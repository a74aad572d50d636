/* SPDX-License-Identifier: MIT */
/* The preallocate filter, usually between a format and its file: when a write
 * reaches past the end of the file, the file is first extended and
 * allocated well beyond it (prealloc-size more, the end rounded up to
 * prealloc-align), so that a growing image gets long contiguous extents
 * instead of one small allocation per cluster.  The node's length stays
 * the end of the data written (what the format above sees); at close the
 * file is cut back to it.  A file that cannot be allocated ahead
 * (no fallocate) is written as it is.
 * Everything else passes to the child. */

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "core/driver.h"
#include "formats/preallocate.h"

#define SECTOR 512u

struct prealloc_state {
	uint64_t align, size; /* prealloc-align, prealloc-size */
	pthread_mutex_t lock; /* guards the ends and the extension */
	uint64_t data_end;    /* end of what was written: the node's length */
	uint64_t file_end;    /* end of the file, allocated ahead */
	bool active;	      /* read-write, and allocating ahead works */
};

static const struct qimg_opt_desc prealloc_runtime_opts[] = {
	{ "prealloc-align", QIMG_OPT_SIZE,
	  "on preallocation, align file length to this number", NULL },
	{ "prealloc-size", QIMG_OPT_SIZE, "how much to preallocate", NULL },
	{ NULL, 0, NULL, NULL },
};

static struct qimg_node *child(struct qimg_node *node)
{
	return node->file;
}

static int prealloc_open(struct qimg_node *node, const struct qimg_opts *opts,
			 struct qimg_error *err)
{
	struct prealloc_state *s = node->opaque;
	struct qimg_node *f = node->file;
	int64_t len;

	s->align = qimg_opts_get_u64(opts, "prealloc-align", 1u << 20);
	s->size = qimg_opts_get_u64(opts, "prealloc-size", 128u << 20);
	if (s->align % SECTOR)
		return qimg_error_set(err, EINVAL,
				      "prealloc-align parameter of preallocate "
				      "filter is not aligned to %u",
				      SECTOR);
	len = qimg_node_length(f, err);
	if (len < 0)
		return (int)len;
	pthread_mutex_init(&s->lock, NULL);
	s->data_end = s->file_end = (uint64_t)len;
	s->active = (node->flags & QIMG_OPEN_RDWR) && f->limits.grows &&
		    s->align > 0;
	node->size = (uint64_t)len;
	node->limits = f->limits;
	node->limits.export_align = 0; /* a filter keeps no alignment */
	node->zero_init = f->zero_init;
	return 0;
}

/* Cut the file back to the data. */
static void prealloc_close(struct qimg_node *node)
{
	struct prealloc_state *s = node->opaque;
	struct qimg_error err = { 0 };

	if (s->active && s->file_end > s->data_end)
		(void)qimg_truncate(child(node), s->data_end,
				    QIMG_TRUNCATE_SHRINK, NULL, &err);
	pthread_mutex_destroy(&s->lock);
}

/* A write of [off, end) is coming: allocate ahead if it passes the end of
 * the file. */
static void extend(struct qimg_node *node, uint64_t end)
{
	struct prealloc_state *s = node->opaque;
	struct qimg_error err = { 0 };

	if (!s->active)
		return;
	pthread_mutex_lock(&s->lock);
	if (end > s->file_end && s->active) {
		uint64_t want = end + s->size;

		want += s->align - 1;
		want -= want % s->align;
		if (qimg_truncate(child(node), want, 0, "falloc", &err) == 0)
			s->file_end = want;
		else
			s->active = false; /* the file cannot: plain writes */
	}
	if (end > s->data_end)
		s->data_end = end;
	__atomic_store_n(&node->size, s->data_end, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->lock);
}

static int prealloc_read(struct qimg_node *node, uint64_t off, void *buf,
			 size_t len, struct qimg_error *err)
{
	return qimg_pread(child(node), off, buf, len, err);
}

static int prealloc_write(struct qimg_node *node, uint64_t off, const void *buf,
			  size_t len, struct qimg_error *err)
{
	extend(node, off + len);
	return qimg_pwrite(child(node), off, buf, len, err);
}

static int prealloc_write_zeroes(struct qimg_node *node, uint64_t off,
				 uint64_t len, unsigned int flags,
				 struct qimg_error *err)
{
	struct prealloc_state *s = node->opaque;
	bool inside;

	/* Zeros past the data but inside what was allocated ahead are
	 * there already. */
	pthread_mutex_lock(&s->lock);
	inside = s->active && off >= s->data_end && off + len <= s->file_end;
	pthread_mutex_unlock(&s->lock);
	extend(node, off + len);
	if (inside)
		return 0;
	return qimg_write_zeroes(child(node), off, len,
				 flags | QIMG_ZERO_NO_FALLBACK, err);
}

static int prealloc_discard(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_error *err)
{
	return qimg_discard(child(node), off, len, err);
}

/* A resize sets both ends: nothing is allocated ahead any more. */
static int prealloc_truncate(struct qimg_node *node, uint64_t size,
			     unsigned flags, const char *prealloc,
			     struct qimg_error *err)
{
	struct prealloc_state *s = node->opaque;
	int r;

	pthread_mutex_lock(&s->lock);
	r = qimg_truncate(child(node), size, flags | QIMG_TRUNCATE_SHRINK,
			  prealloc, err);
	if (r == 0) {
		s->data_end = s->file_end = size;
		node->size = size;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int64_t prealloc_length(struct qimg_node *node)
{
	struct prealloc_state *s = node->opaque;
	int64_t n;

	pthread_mutex_lock(&s->lock);
	n = (int64_t)s->data_end;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static int64_t prealloc_allocated_size(struct qimg_node *node)
{
	return qimg_allocated_size(child(node));
}

const struct qimg_driver qimg_driver_preallocate = {
	.name = "preallocate",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct prealloc_state),
	.runtime_opts = prealloc_runtime_opts,
	.open = prealloc_open,
	.close = prealloc_close,
	.read = prealloc_read,
	.write = prealloc_write,
	.write_zeroes = prealloc_write_zeroes,
	.discard = prealloc_discard,
	.flush = qimg_filter_flush,
	.block_status = qimg_filter_block_status,
	.truncate = prealloc_truncate,
	.length = prealloc_length,
	.allocated_size = prealloc_allocated_size,
	.get_info = qimg_filter_get_info,
	.is_filter = true,
};
