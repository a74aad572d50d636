/* SPDX-License-Identifier: MIT */
/* Guest I/O entry points: range checks, splitting at the driver's maximum
 * transfer, the per-node lock for SERIAL drivers, and the fallbacks the core
 * provides once for every driver (zero writes, backing reads, flush down the
 * stack). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"

#define ZERO_CHUNK (1u << 20)

static void node_lock(struct qimg_node *node)
{
	if (node->drv->threads == QIMG_THREADS_SERIAL)
		pthread_mutex_lock(&node->lock);
}

static void node_unlock(struct qimg_node *node)
{
	if (node->drv->threads == QIMG_THREADS_SERIAL)
		pthread_mutex_unlock(&node->lock);
}

static int check_range(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_error *err)
{
	uint64_t end;

	if (__builtin_add_overflow(off, len, &end) || end > node->size)
		return qimg_error_set(err, EINVAL,
				      "Request [%llu, +%llu) is beyond the end "
				      "of '%s' (%llu bytes)",
				      (unsigned long long)off,
				      (unsigned long long)len, node->filename,
				      (unsigned long long)node->size);
	return 0;
}

static size_t chunk_len(const struct qimg_node *node, uint64_t len)
{
	uint64_t max = node->max_transfer ? node->max_transfer : (1u << 30);

	return (size_t)(len < max ? len : max);
}

int qimg_pread(struct qimg_node *node, uint64_t off, void *buf, size_t len,
	       struct qimg_error *err)
{
	int r;

	if (len == 0)
		return 0;
	node_lock(node);
	r = node->drv->read(node, off, buf, len, err);
	node_unlock(node);
	return r;
}

int qimg_pwrite(struct qimg_node *node, uint64_t off, const void *buf,
		size_t len, struct qimg_error *err)
{
	int r;

	if (len == 0)
		return 0;
	if (!node->drv->write)
		return qimg_error_set(err, ENOTSUP, "'%s' is read-only",
				      node->filename);
	node_lock(node);
	r = node->drv->write(node, off, buf, len, err);
	node_unlock(node);
	return r;
}

int qimg_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
	      struct qimg_error *err)
{
	char *p = buf;
	int r = check_range(node, off, len, err);

	while (r == 0 && len > 0) {
		size_t n = chunk_len(node, len);

		node_lock(node);
		r = node->drv->read(node, off, p, n, err);
		node_unlock(node);
		p += n;
		off += n;
		len -= n;
	}
	return r;
}

int qimg_write(struct qimg_node *node, uint64_t off, const void *buf,
	       size_t len, struct qimg_error *err)
{
	const char *p = buf;
	int r;

	if (!(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF, "'%s' is opened read-only",
				      node->filename);
	if (!node->drv->write)
		return qimg_error_set(err, ENOTSUP,
				      "Format '%s' cannot be written",
				      node->drv->name);
	r = check_range(node, off, len, err);
	while (r == 0 && len > 0) {
		size_t n = chunk_len(node, len);

		node_lock(node);
		r = node->drv->write(node, off, p, n, err);
		node_unlock(node);
		p += n;
		off += n;
		len -= n;
	}
	return r;
}

/* Write real zero bytes through the driver's write. */
static int zero_by_writing(struct qimg_node *node, uint64_t off, uint64_t len,
			   struct qimg_error *err)
{
	size_t bl = len < ZERO_CHUNK ? (size_t)len : ZERO_CHUNK;
	void *z = calloc(1, bl ? bl : 1);
	int r = 0;

	if (!z)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	while (r == 0 && len > 0) {
		size_t n = len < bl ? (size_t)len : bl;

		r = qimg_write(node, off, z, n, err);
		off += n;
		len -= n;
	}
	free(z);
	return r;
}

int qimg_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		      unsigned int flags, struct qimg_error *err)
{
	int r;

	if (!(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF, "'%s' is opened read-only",
				      node->filename);
	r = check_range(node, off, len, err);
	if (r < 0 || len == 0)
		return r;
	if (node->drv->write_zeroes) {
		node_lock(node);
		r = node->drv->write_zeroes(node, off, len, flags, err);
		node_unlock(node);
		if (r != -ENOTSUP)
			return r;
	}
	if (flags & QIMG_ZERO_NO_FALLBACK)
		return -ENOTSUP;
	return zero_by_writing(node, off, len, err);
}

int qimg_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		 struct qimg_error *err)
{
	int r;

	if (!node->drv->discard || len == 0)
		return 0;
	node_lock(node);
	r = node->drv->discard(node, off, len, err);
	node_unlock(node);
	return r;
}

int qimg_flush(struct qimg_node *node, struct qimg_error *err)
{
	int r = 0;

	if (!(node->flags & QIMG_OPEN_RDWR))
		return 0;
	if (node->drv->flush) {
		node_lock(node);
		r = node->drv->flush(node, err);
		node_unlock(node);
	}
	if (r == 0 && node->data_file)
		r = qimg_flush(node->data_file, err);
	if (r == 0 && node->file)
		r = qimg_flush(node->file, err);
	return r;
}

int qimg_read_backing(struct qimg_node *node, uint64_t off, void *buf,
		      size_t len, struct qimg_error *err)
{
	struct qimg_node *b = node->backing;
	size_t n = 0;

	if (b && off < b->size) {
		n = b->size - off < len ? (size_t)(b->size - off) : len;
		int r = qimg_read(b, off, buf, n, err);

		if (r < 0)
			return r;
	}
	if (n < len)
		memset((char *)buf + n, 0, len - n);
	return 0;
}

bool qimg_can_compress(const struct qimg_node *node)
{
	return node->drv->write_compressed != NULL;
}

int qimg_compress(struct qimg_node *node, const void *buf, size_t len,
		  void *out, size_t *outlen, struct qimg_error *err)
{
	if (!node->drv->compress) {
		*outlen = 0;
		return 0;
	}
	return node->drv->compress(node, buf, len, out, outlen, err);
}

int qimg_write_compressed_prepared(struct qimg_node *node, uint64_t off,
				   const void *buf, size_t len,
				   const void *cbuf, size_t clen,
				   struct qimg_error *err)
{
	int r;

	if (!node->drv->write_compressed)
		return qimg_error_set(err, ENOTSUP,
				      "Compression not supported for this "
				      "file format");
	r = check_range(node, off, len, err);
	if (r < 0)
		return r;
	node_lock(node);
	r = node->drv->write_compressed(node, off, buf, len, cbuf, clen, err);
	node_unlock(node);
	return r;
}

int qimg_write_compressed(struct qimg_node *node, uint64_t off, const void *buf,
			  size_t len, struct qimg_error *err)
{
	size_t clen = 0;
	void *cbuf = NULL;
	int r;

	if (node->drv->compress) {
		cbuf = malloc(len ? len : 1);
		if (!cbuf)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		r = qimg_compress(node, buf, len, cbuf, &clen, err);
		if (r < 0) {
			free(cbuf);
			return r;
		}
	}
	r = qimg_write_compressed_prepared(node, off, buf, len, cbuf, clen,
					   err);
	free(cbuf);
	return r;
}

int qimg_truncate(struct qimg_node *node, uint64_t size, bool shrink,
		  const char *prealloc, struct qimg_error *err)
{
	int r;

	if (!node->drv->truncate)
		return qimg_error_set(err, ENOTSUP,
				      "Image format driver does not support "
				      "resize");
	node_lock(node);
	r = node->drv->truncate(node, size, shrink, prealloc, err);
	node_unlock(node);
	return r;
}
