/* SPDX-License-Identifier: MIT */
/* The copy-on-read filter: a read of data its child (an image with a
 * backing chain) does not hold itself copies that data up into the child,
 * whole clusters at a time, so that the image fills from its backing files
 * as it is read (a guest through qimg-nbd); what reads as zeros is copied
 * as zero clusters.  With `bottom` (a node-name in the chain) only data a
 * backing file holds, at or above that node, is copied.  The node must be
 * writable, as in QEMU.
 *
 * A copy must never overwrite a write that got in first: writes, zero
 * writes and discards take the lock shared, a copy takes it alone and asks
 * the child again what it holds. */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "formats/copy-on-read.h"
#include "util/buf.h"

struct cor_state {
	pthread_rwlock_t lock;
	/* With bottom: only data some backing file holds, down to bottom
	 * (base: the node below it; NULL for the whole chain, as when bottom
	 * is no backing file of the image). */
	bool limited;
	struct qimg_node *base;
};

static const struct qimg_opt_desc cor_runtime_opts[] = {
	{ "bottom", QIMG_OPT_STRING,
	  "The lowest data source below the filtered child", NULL },
	{ NULL, 0, NULL, NULL },
};

static int cor_open(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err)
{
	struct cor_state *s = node->opaque;
	const char *bottom = qimg_opts_get_str(opts, "bottom", NULL);
	struct qimg_node *cur;

	if (!(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EPERM, "Block node is read-only");
	if (bottom) {
		for (cur = node->file; cur;
		     cur = cur->backing ? cur->backing : cur->file) {
			const char *nn = qimg_node_name(cur);

			if (nn && !strcmp(nn, bottom))
				break;
		}
		if (!cur)
			return qimg_error_set(err, ENOENT,
					      "Bottom node '%s' not found",
					      bottom);
		s->limited = true;
		/* QEMU looks for bottom below the image: the image itself
		 * (or a name not found there) leaves the whole chain. */
		for (cur = qimg_node_image(node->file)->backing; cur;
		     cur = cur->backing) {
			const char *nn = qimg_node_name(cur);

			if (nn && !strcmp(nn, bottom)) {
				s->base = qimg_node_image(cur)->backing;
				break;
			}
		}
	}
	pthread_rwlock_init(&s->lock, NULL);
	qimg_filter_inherit(node);
	return 0;
}

static void cor_close(struct qimg_node *node)
{
	struct cor_state *s = node->opaque;

	pthread_rwlock_destroy(&s->lock);
}

/* Whether the child holds [off, off+len) itself, all of it. */
static int all_held(struct qimg_node *f, uint64_t off, uint64_t len, bool *held,
		    struct qimg_error *err)
{
	struct qimg_extent ext;
	int r;

	*held = true;
	while (len > 0) {
		r = qimg_block_status(f, off, len, &ext, err);
		if (r < 0)
			return r;
		if (ext.len == 0)
			break;
		if (!(ext.flags & QIMG_BS_ALLOCATED)) {
			*held = false;
			return 0;
		}
		off += ext.len;
		len -= ext.len;
	}
	return 0;
}

/* Copy [off, off+len) up where the child does not hold it (bounce holds
 * its guest bytes, read through the chain). */
static int copy_up(struct qimg_node *node, uint64_t off, uint64_t len,
		   const uint8_t *bounce, struct qimg_error *err)
{
	struct cor_state *s = node->opaque;
	struct qimg_node *f = node->file;
	struct qimg_extent ext;
	uint64_t pos = off;
	int r;

	while (pos < off + len) {
		uint64_t n;
		bool copy;

		r = qimg_block_status(f, pos, off + len - pos, &ext, err);
		if (r < 0)
			return r;
		if (ext.len == 0)
			break;
		n = ext.len;
		copy = !(ext.flags & QIMG_BS_ALLOCATED);
		if (copy && s->limited) {
			/* Only data a backing file (down to bottom) holds. */
			r = qimg_block_status_above(qimg_node_image(f), s->base,
						    pos, n, &ext, err);
			if (r < 0)
				return r;
			n = ext.len;
			copy = ext.flags & QIMG_BS_ALLOCATED;
		}
		if (copy) {
			const uint8_t *p = bounce + (pos - off);

			r = qimg_is_zero(p, n)
				    ? qimg_write_zeroes(f, pos, n, 0, err)
				    : qimg_pwrite(f, pos, p, n, err);
			if (r < 0)
				return r;
		}
		pos += n;
	}
	return 0;
}

static int cor_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct cor_state *s = node->opaque;
	struct qimg_node *f = node->file;
	uint64_t cs = f->cluster_size ? f->cluster_size : 65536, a, b;
	uint8_t *bounce;
	bool held;
	int r;

	r = all_held(f, off, len, &held, err);
	if (r < 0 || held)
		return r < 0 ? r : qimg_pread(f, off, buf, len, err);
	/* Whole clusters, as far as the image goes. */
	a = off - off % cs;
	b = off + len + cs - 1;
	b -= b % cs;
	if (b > node->size)
		b = node->size;
	bounce = malloc(b - a);
	if (!bounce)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	pthread_rwlock_wrlock(&s->lock);
	r = qimg_pread(f, a, bounce, b - a, err);
	if (r == 0)
		r = copy_up(node, a, b - a, bounce, err);
	pthread_rwlock_unlock(&s->lock);
	if (r == 0)
		memcpy(buf, bounce + (off - a), len);
	free(bounce);
	return r;
}

static int cor_write(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err)
{
	struct cor_state *s = node->opaque;
	int r;

	pthread_rwlock_rdlock(&s->lock);
	r = qimg_pwrite(node->file, off, buf, len, err);
	pthread_rwlock_unlock(&s->lock);
	return r;
}

static int cor_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			    unsigned int flags, struct qimg_error *err)
{
	struct cor_state *s = node->opaque;
	int r;

	pthread_rwlock_rdlock(&s->lock);
	r = qimg_write_zeroes(node->file, off, len,
			      flags | QIMG_ZERO_NO_FALLBACK, err);
	pthread_rwlock_unlock(&s->lock);
	return r;
}

static int cor_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_error *err)
{
	struct cor_state *s = node->opaque;
	int r;

	pthread_rwlock_rdlock(&s->lock);
	r = qimg_discard(node->file, off, len, err);
	pthread_rwlock_unlock(&s->lock);
	return r;
}

const struct qimg_driver qimg_driver_copy_on_read = {
	.name = "copy-on-read",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct cor_state),
	.runtime_opts = cor_runtime_opts,
	.open = cor_open,
	.close = cor_close,
	.read = cor_read,
	.write = cor_write,
	.write_zeroes = cor_write_zeroes,
	.discard = cor_discard,
	.flush = qimg_filter_flush,
	.block_status = qimg_filter_block_status,
	.truncate = qimg_filter_truncate,
	.get_info = qimg_filter_get_info,
	.is_filter = true,
};
