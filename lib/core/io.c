/* SPDX-License-Identifier: MIT */
/* Every request from one layer to the next passes here: the checks (range,
 * read-only, alignment), padding to the node's request alignment with
 * read-modify-write serialised against overlapping writes, bounce buffers
 * for unaligned memory, splitting at the node's maximum sizes, the
 * per-node lock for SERIAL drivers, and the fallbacks the core provides once
 * for every driver (zero writes, FUA, backing reads, flush down the stack).
 * Drivers never call a child's callbacks directly. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"

#define ZERO_CHUNK (1u << 20)
#define DEFAULT_MAX (1u << 30)

struct qimg_tracked_req {
	uint64_t off, end;
	bool serialising; /* a read-modify-write: excludes overlapping writes */
	struct qimg_tracked_req *next;
};

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

static uint64_t align_of(uint32_t a)
{
	return a ? a : 1;
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

/* Writes: read-write node, inside it unless it grows. */
static int check_write(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_error *err)
{
	uint64_t end;

	if (!(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF, "'%s' is opened read-only",
				      node->filename);
	if (node->limits.grows)
		return __builtin_add_overflow(off, len, &end)
			       ? qimg_error_set(err, EINVAL,
						"Request offset overflows")
			       : 0;
	return check_range(node, off, len, err);
}

/* A node that grows knows its new end. */
static void note_end(struct qimg_node *node, uint64_t end)
{
	uint64_t cur = __atomic_load_n(&node->size, __ATOMIC_RELAXED);

	while (node->limits.grows && end > cur &&
	       !__atomic_compare_exchange_n(&node->size, &cur, end, false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* --- tracked writes (only on nodes with request_align > 1) -------------- */

static bool overlaps(const struct qimg_tracked_req *a, uint64_t off,
		     uint64_t end)
{
	return a->off < end && off < a->end;
}

static void track_begin(struct qimg_node *node, struct qimg_tracked_req *r,
			uint64_t off, uint64_t end, bool serialising)
{
	struct qimg_tracked_req *o;
	bool wait;

	r->off = off;
	r->end = end;
	r->serialising = serialising;
	pthread_mutex_lock(&node->reqs_lock);
	do {
		wait = false;
		for (o = node->reqs; o; o = o->next)
			if (overlaps(o, off, end) &&
			    (serialising || o->serialising))
				wait = true;
		if (wait)
			pthread_cond_wait(&node->reqs_cond, &node->reqs_lock);
	} while (wait);
	r->next = node->reqs;
	node->reqs = r;
	pthread_mutex_unlock(&node->reqs_lock);
}

static void track_end(struct qimg_node *node, struct qimg_tracked_req *r)
{
	struct qimg_tracked_req **p;

	pthread_mutex_lock(&node->reqs_lock);
	for (p = &node->reqs; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	pthread_cond_broadcast(&node->reqs_cond);
	pthread_mutex_unlock(&node->reqs_lock);
}

/* --- aligned driver calls, split at max_transfer --------------------------- */

static uint64_t max_chunk(const struct qimg_node *node)
{
	uint64_t a = align_of(node->limits.request_align);
	uint64_t m = node->limits.max_transfer ? node->limits.max_transfer
					       : DEFAULT_MAX;

	m -= m % a;
	return m ? m : a;
}

static int drv_read(struct qimg_node *node, uint64_t off, void *buf,
		    uint64_t len, struct qimg_error *err)
{
	uint64_t max = max_chunk(node);
	char *p = buf;
	int r = 0;

	while (r == 0 && len > 0) {
		size_t n = (size_t)(len < max ? len : max);

		node_lock(node);
		r = node->drv->read(node, off, p, n, err);
		node_unlock(node);
		p += n;
		off += n;
		len -= n;
	}
	return r;
}

static int drv_write(struct qimg_node *node, uint64_t off, const void *buf,
		     uint64_t len, struct qimg_error *err)
{
	uint64_t max = max_chunk(node);
	const char *p = buf;
	int r = 0;

	while (r == 0 && len > 0) {
		size_t n = (size_t)(len < max ? len : max);

		node_lock(node);
		r = node->drv->write(node, off, p, n, err);
		node_unlock(node);
		p += n;
		off += n;
		len -= n;
	}
	return r;
}

static void *bounce_alloc(const struct qimg_node *node, size_t len)
{
	size_t a = (size_t)align_of(node->limits.mem_align);
	void *b;

	if (a < sizeof(void *))
		a = sizeof(void *);
	if (posix_memalign(&b, a, len ? len : 1))
		return NULL;
	return b;
}

static bool mem_ok(const struct qimg_node *node, const void *buf)
{
	return !((uintptr_t)buf % align_of(node->limits.mem_align));
}

/* Read [off, off+len) of node with any alignment. */
static int node_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	uint64_t a = align_of(node->limits.request_align);
	uint64_t start, end;
	char *b;
	int r;

	if (len == 0)
		return 0;
	if (!(off % a) && !(len % a) && mem_ok(node, buf))
		return drv_read(node, off, buf, len, err);
	start = off - off % a;
	end = off + len;
	end += (a - end % a) % a;
	b = bounce_alloc(node, (size_t)(end - start));
	if (!b)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = drv_read(node, start, b, end - start, err);
	if (r == 0)
		memcpy(buf, b + (off - start), len);
	free(b);
	return r;
}

/* Write [off, off+len) of node with any alignment: unaligned edges are
 * read, merged and written whole, excluding other writes of those blocks
 * meanwhile. */
static int node_write(struct qimg_node *node, uint64_t off, const void *buf,
		      size_t len, unsigned int flags, struct qimg_error *err)
{
	uint64_t a = align_of(node->limits.request_align);
	struct qimg_tracked_req req;
	uint64_t start, end;
	bool aligned;
	char *b = NULL;
	int r;

	if (len == 0)
		return 0;
	if (!node->drv->write)
		return qimg_error_set(err, ENOTSUP, "'%s' cannot be written",
				      node->filename);
	aligned = !(off % a) && !(len % a);
	start = off - off % a;
	end = off + len;
	end += (a - end % a) % a;
	if (a > 1)
		track_begin(node, &req, start, end, !aligned);
	if (aligned && mem_ok(node, buf)) {
		r = drv_write(node, off, buf, len, err);
	} else {
		b = bounce_alloc(node, (size_t)(end - start));
		if (!b) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto out;
		}
		r = 0;
		if (off != start)
			r = drv_read(node, start, b, a, err);
		/* The last block, unless it is the first and read above. */
		if (r == 0 && (off + len) % a &&
		    !(end - a == start && off != start))
			r = drv_read(node, end - a, b + (end - a - start), a,
				     err);
		if (r == 0) {
			memcpy(b + (off - start), buf, len);
			r = drv_write(node, start, b, end - start, err);
		}
	}
	if (r == 0) {
		note_end(node, off + len);
		if ((flags & QIMG_WRITE_FUA) && !node->limits.fua) {
			node_lock(node);
			r = node->drv->flush ? node->drv->flush(node, err) : 0;
			node_unlock(node);
		}
	}
out:
	free(b);
	if (a > 1)
		track_end(node, &req);
	return r;
}

/* --- between layers (drivers to their children) --------------------------- */

int qimg_pread(struct qimg_node *node, uint64_t off, void *buf, size_t len,
	       struct qimg_error *err)
{
	int r = 0;

	/* A node that grows reads as zeros past its end (the driver does);
	 * any other must be read inside. */
	if (!node->limits.grows)
		r = check_range(node, off, len, err);
	return r < 0 ? r : node_read(node, off, buf, len, err);
}

int qimg_pwrite(struct qimg_node *node, uint64_t off, const void *buf,
		size_t len, struct qimg_error *err)
{
	int r = check_write(node, off, len, err);

	return r < 0 ? r : node_write(node, off, buf, len, 0, err);
}

/* --- copy offload ----------------------------------------------------------- */

bool qimg_pcopy_ok(const struct qimg_node *sfile, const struct qimg_node *dfile)
{
	return sfile->drv == dfile->drv && dfile->drv->copy_range;
}

int qimg_pcopy(struct qimg_node *sfile, uint64_t soff, struct qimg_node *dfile,
	       uint64_t doff, uint64_t n, struct qimg_error *err)
{
	uint64_t a = align_of(dfile->limits.request_align);
	uint64_t sa = align_of(sfile->limits.request_align);
	struct qimg_tracked_req req;
	int r;

	if (!qimg_pcopy_ok(sfile, dfile) || (soff | n) % sa || (doff | n) % a)
		return -ENOTSUP;
	if (!sfile->limits.grows &&
	    (soff > sfile->size || n > sfile->size - soff))
		return -ENOTSUP; /* the tail past the file reads as zeros */
	r = check_write(dfile, doff, n, err);
	if (r < 0)
		return r;
	if (a > 1)
		track_begin(dfile, &req, doff, doff + n, false);
	node_lock(dfile);
	r = dfile->drv->copy_range(dfile, doff, sfile, soff, n, err);
	node_unlock(dfile);
	if (a > 1)
		track_end(dfile, &req);
	if (r == 0)
		note_end(dfile, doff + n);
	return r;
}

/* The source extent at src_off: bytes that read as they are stored, at a
 * known place; -ENOTSUP when not. */
static int copy_source(struct qimg_node *src, uint64_t src_off, uint64_t len,
		       struct qimg_extent *ext, struct qimg_error *err)
{
	const unsigned int want = QIMG_BS_DATA | QIMG_BS_OFFSET_VALID;
	int r = qimg_block_status_above(src, NULL, src_off, len, ext, err);

	if (r < 0)
		return r;
	if ((ext->flags & (want | QIMG_BS_ZERO)) != want || !ext->file)
		return -ENOTSUP;
	return 0;
}

/* Into a format that allocates: each source extent through its copy_in,
 * aligned as the target needs, in the target's chunks. */
static int copy_in(struct qimg_node *src, uint64_t src_off,
		   struct qimg_node *dst, uint64_t dst_off, uint64_t len,
		   struct qimg_error *err)
{
	uint64_t a = align_of(dst->limits.request_align);
	uint64_t max = max_chunk(dst);
	struct qimg_tracked_req req;
	int r;

	if ((dst_off | len) % a)
		return -ENOTSUP;
	while (len > 0) {
		struct qimg_extent ext = { 0 };
		uint64_t n;

		r = copy_source(src, src_off, len, &ext, err);
		if (r < 0)
			return r;
		n = ext.len < max ? ext.len : max;
		if (n % a)
			return -ENOTSUP;
		if (a > 1)
			track_begin(dst, &req, dst_off, dst_off + n, false);
		node_lock(dst);
		r = dst->drv->copy_in(dst, dst_off, n, ext.file, ext.map, err);
		node_unlock(dst);
		if (a > 1)
			track_end(dst, &req);
		if (r < 0)
			return r;
		note_end(dst, dst_off + n);
		src_off += n;
		dst_off += n;
		len -= n;
	}
	return 0;
}

int qimg_copy_range(struct qimg_node *src, uint64_t src_off,
		    struct qimg_node *dst, uint64_t dst_off, uint64_t len,
		    struct qimg_error *err)
{
	int r;

	if (!(dst->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF, "'%s' is opened read-only",
				      dst->filename);
	r = check_range(src, src_off, len, err);
	if (r == 0)
		r = check_range(dst, dst_off, len, err);
	if (r < 0)
		return r;
	if (!dst->drv->write_map)
		return dst->drv->copy_in
			       ? copy_in(src, src_off, dst, dst_off, len, err)
			       : -ENOTSUP;
	while (len > 0) {
		struct qimg_extent ext = { 0 };
		struct qimg_node *dfile = NULL;
		uint64_t host = 0, n = 0;

		r = copy_source(src, src_off, len, &ext, err);
		if (r < 0)
			return r;
		r = dst->drv->write_map(dst, dst_off, ext.len, &dfile, &host,
					&n, err);
		if (r < 0)
			return r;
		if (!dfile || !n || n > ext.len)
			return -ENOTSUP;
		r = qimg_pcopy(ext.file, ext.map, dfile, host, n, err);
		if (r < 0)
			return r;
		src_off += n;
		dst_off += n;
		len -= n;
	}
	return 0;
}

/* --- guest I/O ------------------------------------------------------------- */

int qimg_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
	      struct qimg_error *err)
{
	int r = check_range(node, off, len, err);

	return r < 0 ? r : node_read(node, off, buf, len, err);
}

int qimg_write_flags(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, unsigned int flags, struct qimg_error *err)
{
	int r;

	if (!(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF, "'%s' is opened read-only",
				      node->filename);
	if (!node->drv->write)
		return qimg_error_set(err, ENOTSUP,
				      "Format '%s' cannot be written",
				      node->drv->name);
	r = check_range(node, off, len, err);
	return r < 0 ? r : node_write(node, off, buf, len, flags, err);
}

int qimg_write(struct qimg_node *node, uint64_t off, const void *buf,
	       size_t len, struct qimg_error *err)
{
	return qimg_write_flags(node, off, buf, len, 0, err);
}

/* Write real zero bytes through the checked write path. */
static int zero_by_writing(struct qimg_node *node, uint64_t off, uint64_t len,
			   struct qimg_error *err)
{
	size_t bl = len < ZERO_CHUNK ? (size_t)len : ZERO_CHUNK;
	void *z = bounce_alloc(node, bl);
	int r = 0;

	if (!z)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	memset(z, 0, bl ? bl : 1);
	while (r == 0 && len > 0) {
		size_t n = len < bl ? (size_t)len : bl;

		r = node_write(node, off, z, n, 0, err);
		off += n;
		len -= n;
	}
	free(z);
	return r;
}

/* The driver's zero write on an aligned range, split at max_zeroes. */
static int drv_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		      unsigned int flags, struct qimg_error *err)
{
	uint64_t a = align_of(node->limits.request_align);
	uint64_t max = node->limits.max_zeroes ? node->limits.max_zeroes
					       : (uint64_t)1 << 62;
	int r = 0;

	max -= max % a;
	if (!max)
		max = a;
	while (r == 0 && len > 0) {
		uint64_t n = len < max ? len : max;

		node_lock(node);
		r = node->drv->write_zeroes(node, off, n, flags, err);
		node_unlock(node);
		off += n;
		len -= n;
	}
	return r;
}

static int node_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			     unsigned int flags, struct qimg_error *err)
{
	uint64_t a = align_of(node->limits.request_align);
	uint64_t za = align_of(node->limits.zeroes_align);
	uint64_t head, tail, mid_end;
	int r;

	if (len == 0)
		return 0;
	if (za < a)
		za = a;
	/* The unaligned edges go as data, the aligned middle to the driver. */
	head = (za - off % za) % za;
	if (head > len)
		head = len;
	mid_end = off + len - (off + len) % za;
	if (mid_end < off + head)
		mid_end = off + head;
	tail = off + len - mid_end;
	if (!node->drv->write_zeroes || mid_end == off + head) {
		if (flags & QIMG_ZERO_NO_FALLBACK)
			return -ENOTSUP;
		return zero_by_writing(node, off, len, err);
	}
	r = drv_zeroes(node, off + head, mid_end - off - head, flags, err);
	if (r == -ENOTSUP && !qimg_error_isset(err)) {
		if (flags & QIMG_ZERO_NO_FALLBACK)
			return -ENOTSUP;
		r = zero_by_writing(node, off + head, mid_end - off - head,
				    err);
	}
	if (r == 0 && head)
		r = zero_by_writing(node, off, head, err);
	if (r == 0 && tail)
		r = zero_by_writing(node, mid_end, tail, err);
	if (r == 0)
		note_end(node, off + len);
	return r;
}

int qimg_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		      unsigned int flags, struct qimg_error *err)
{
	int r = node->drv->kind == QIMG_DRIVER_PROTOCOL
			? check_write(node, off, len, err)
		: (node->flags & QIMG_OPEN_RDWR)
			? check_range(node, off, len, err)
			: qimg_error_set(err, EBADF, "'%s' is opened read-only",
					 node->filename);

	return r < 0 ? r : node_write_zeroes(node, off, len, flags, err);
}

int qimg_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		 struct qimg_error *err)
{
	uint64_t da = align_of(node->limits.discard_align);
	uint64_t a = align_of(node->limits.request_align);
	uint64_t start, end, max;
	int r;

	if (!(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF, "'%s' is opened read-only",
				      node->filename);
	r = node->limits.grows ? 0 : check_range(node, off, len, err);
	if (r < 0 || !node->drv->discard || len == 0)
		return r;
	if (da < a)
		da = a;
	/* A discard is advice: the unaligned edges are simply kept. */
	start = off + (da - off % da) % da;
	end = off + len - (off + len) % da;
	max = node->limits.max_discard ? node->limits.max_discard
				       : (uint64_t)1 << 62;
	max -= max % da;
	if (!max)
		max = da;
	while (r == 0 && start < end) {
		uint64_t n = end - start < max ? end - start : max;

		node_lock(node);
		r = node->drv->discard(node, start, n, err);
		node_unlock(node);
		if (r == -ENOTSUP && !qimg_error_isset(err))
			r = 0;
		start += n;
	}
	return r;
}

int qimg_flush(struct qimg_node *node, struct qimg_error *err)
{
	int r = 0;
	size_t i;

	if (!(node->flags & QIMG_OPEN_RDWR))
		return 0;
	if (node->drv->flush) {
		node_lock(node);
		r = node->drv->flush(node, err);
		node_unlock(node);
	}
	/* Then everything below it, backing files aside (read-only). */
	for (i = 0; r == 0 && i < node->nchildren; i++)
		if (strcmp(node->children[i].role, "backing"))
			r = qimg_flush(node->children[i].node, err);
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

int qimg_compress(struct qimg_node *node, struct qimg_codec *codec,
		  const void *buf, size_t len, void *out, size_t *outlen,
		  struct qimg_error *err)
{
	struct qimg_codec *own = NULL;
	int r;

	if (!node->drv->compress) {
		*outlen = 0;
		return 0;
	}
	if (!codec) {
		codec = own = qimg_codec_new();
		if (!codec)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = node->drv->compress(node, codec, buf, len, out, outlen, err);
	qimg_codec_free(own);
	return r;
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
	if (!(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF, "'%s' is opened read-only",
				      node->filename);
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
		clen = QIMG_COMPRESS_BOUND(len);
		cbuf = malloc(clen);
		if (!cbuf)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		r = qimg_compress(node, NULL, buf, len, cbuf, &clen, err);
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

bool qimg_prealloc_mode_known(const char *p)
{
	static const char *const modes[] = { "off", "metadata", "falloc",
					     "full" };
	size_t i;

	for (i = 0; p && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(p, modes[i]))
			return true;
	return false;
}

int qimg_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
		  const char *prealloc, struct qimg_error *err)
{
	int r;

	if (!(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF, "'%s' is opened read-only",
				      node->filename);
	if (!node->drv->truncate)
		return qimg_error_set(err, ENOTSUP,
				      "Image format driver does not support "
				      "resize");
	if (size > INT64_MAX)
		return qimg_error_set(err, EFBIG, "Size too large for '%s'",
				      node->filename);
	node_lock(node);
	r = node->drv->truncate(node, size, flags, prealloc, err);
	node_unlock(node);
	if (r == 0 && node->drv->kind == QIMG_DRIVER_PROTOCOL) {
		/* A protocol's size is what its length now says. */
		int64_t len = node->drv->length ? node->drv->length(node) : -1;

		node->size = len >= 0 ? (uint64_t)len : size;
	}
	return r;
}

int qimg_truncate_prealloc_off(const char *prealloc, struct qimg_error *err)
{
	if (prealloc && strcmp(prealloc, "off"))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported preallocation mode '%s'",
				      prealloc);
	return 0;
}
