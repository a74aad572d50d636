/* SPDX-License-Identifier: MIT */
/* The compress filter: every write reaches its child (a format that stores
 * compressed clusters: qcow2, qcow, vmdk streamOptimized) as compressed
 * clusters, whoever writes (convert without -c, dd, a guest through
 * qimg-nbd).  Requests are whole clusters (the core reads and pads a
 * partial one); convert sees that the node takes only compressed writes and
 * compresses on its worker threads.  Reads, zero writes, discards and block
 * status pass through. */

#include <errno.h>
#include <string.h>

#include "core/driver.h"
#include "formats/compress.h"

static int compress_open(struct qimg_node *node, const struct qimg_opts *opts,
			 struct qimg_error *err)
{
	struct qimg_node *f = node->file;

	if (!f->drv->write_compressed)
		return qimg_error_set(err, ENOTSUP,
				      "Compression is not supported for "
				      "underlying format: %s",
				      f->drv->name);
	node->size = f->size;
	node->cluster_size = f->cluster_size;
	node->limits.request_align =
		f->cluster_size ? f->cluster_size : f->limits.request_align;
	node->limits.mem_align = f->limits.mem_align;
	node->limits.max_transfer = f->limits.max_transfer;
	node->zero_init = f->zero_init;
	node->needs_compressed_writes = true;
	return 0;
}

static void compress_close(struct qimg_node *node)
{
}

static int compress_read(struct qimg_node *node, uint64_t off, void *buf,
			 size_t len, struct qimg_error *err)
{
	return qimg_pread(node->file, off, buf, len, err);
}

/* Cluster by cluster (the last one of the image may be short). */
static int compress_write(struct qimg_node *node, uint64_t off, const void *buf,
			  size_t len, struct qimg_error *err)
{
	const uint8_t *p = buf;
	uint64_t cs = node->limits.request_align;
	int r;

	while (len > 0) {
		size_t n = len < cs ? len : (size_t)cs;

		r = qimg_write_compressed(node->file, off, p, n, err);
		if (r < 0)
			return r;
		off += n;
		p += n;
		len -= n;
	}
	return 0;
}

static int compress_compress(struct qimg_node *node, struct qimg_codec *codec,
			     const void *buf, size_t len, void *out,
			     size_t *outlen, struct qimg_error *err)
{
	return qimg_compress(node->file, codec, buf, len, out, outlen, err);
}

static int compress_write_compressed(struct qimg_node *node, uint64_t off,
				     const void *buf, size_t len,
				     const void *cbuf, size_t clen,
				     struct qimg_error *err)
{
	return qimg_write_compressed_prepared(node->file, off, buf, len, cbuf,
					      clen, err);
}

static int compress_write_zeroes(struct qimg_node *node, uint64_t off,
				 uint64_t len, unsigned int flags,
				 struct qimg_error *err)
{
	return qimg_write_zeroes(node->file, off, len,
				 flags | QIMG_ZERO_NO_FALLBACK, err);
}

static int compress_discard(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_error *err)
{
	return qimg_discard(node->file, off, len, err);
}

static int compress_flush(struct qimg_node *node, struct qimg_error *err)
{
	/* The core flushes the child after this. */
	return 0;
}

static int compress_block_status(struct qimg_node *node, uint64_t off,
				 uint64_t len, struct qimg_extent *ext,
				 struct qimg_error *err)
{
	ext->len = len;
	ext->flags = QIMG_BS_RAW | QIMG_BS_OFFSET_VALID;
	ext->map = off;
	ext->file = node->file;
	return 0;
}

static int compress_truncate(struct qimg_node *node, uint64_t size, bool shrink,
			     const char *prealloc, struct qimg_error *err)
{
	int r = qimg_truncate(node->file, size, shrink, prealloc, err);

	if (r == 0)
		node->size = node->file->size;
	return r;
}

/* The child's cluster size, without its own section (as QEMU prints a
 * filter). */
static int compress_get_info(struct qimg_node *node,
			     struct qimg_image_info *info,
			     struct qimg_error *err)
{
	int r = qimg_child_info(node->file, info, err);

	qimg_value_free(info->format_specific);
	info->format_specific = NULL;
	return r;
}

const struct qimg_driver qimg_driver_compress = {
	.name = "compress",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_PARALLEL,
	.open = compress_open,
	.close = compress_close,
	.read = compress_read,
	.write = compress_write,
	.compress = compress_compress,
	.write_compressed = compress_write_compressed,
	.write_zeroes = compress_write_zeroes,
	.discard = compress_discard,
	.flush = compress_flush,
	.block_status = compress_block_status,
	.truncate = compress_truncate,
	.get_info = compress_get_info,
	.is_filter = true,
};
