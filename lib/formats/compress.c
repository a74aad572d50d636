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
	qimg_filter_inherit(node);
	/* Whole clusters only: the core pads a partial one. */
	if (f->cluster_size)
		node->limits.request_align = f->cluster_size;
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
	.flush = qimg_filter_flush,
	.block_status = qimg_filter_block_status,
	.truncate = qimg_filter_truncate,
	.get_info = qimg_filter_get_info,
	.is_filter = true,
};
