/* SPDX-License-Identifier: MIT */
/* cloop (compressed loop) V2.0 images, read-only, as qemu-img 7.2 reads
 * them: a 128-byte shell preamble, the block size and the number of blocks
 * (big-endian u32 at 128 and 132), then n_blocks + 1 big-endian u64 file
 * offsets; block i is the zlib stream between offsets i and i + 1, which
 * inflates to exactly one block. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/driver.h"
#include "formats/cloop.h"
#include "formats/table-cache.h"
#include "util/endian.h"

#define CLOOP_HEADER 128u
#define CLOOP_MAX_BLOCK (64u << 20)
/* qemu-img's bounds: offsets table at most 512 MiB, a compressed block at
 * most twice the largest block. */
#define CLOOP_MAX_OFFSETS (512u << 20)
#define CLOOP_MAX_COMPRESSED (2 * (uint64_t)CLOOP_MAX_BLOCK)
#define CLOOP_CHUNK 65536u
/* Offsets checked at open this many at a time. */
#define CLOOP_SCAN 8192u

static const char cloop_magic[] = "#!/bin/sh\n"
				  "#V2.0 Format\n"
				  "modprobe cloop file=$0 && mount -r -t "
				  "iso9660 /dev/cloop $1\n";

/* The offsets table (up to 512 MiB) is checked at open a window at a
 * time and read through a table cache, so memory stays bounded; the one
 * inflated block is cached, so reads are serialised by the core. */
struct cloop_state {
	struct qimg_tcache offsets; /* n_blocks + 1 big-endian u64 */
	uint32_t n_blocks;
	uint32_t block_size;
	uint8_t *cache;	 /* block_size bytes, or NULL before the first read */
	uint32_t cached; /* index of the block in cache, n_blocks: none */
};

static int cloop_probe(const uint8_t *head, size_t len, const char *filename)
{
	size_t n = sizeof(cloop_magic) - 1;

	(void)filename;
	return len >= n && !memcmp(head, cloop_magic, n) ? 2 : 0;
}

static int cloop_open(struct qimg_node *node, const struct qimg_opts *opts,
		      struct qimg_error *err)
{
	struct cloop_state *s = node->opaque;
	uint8_t h[8];
	uint32_t table_size, i, k, n;
	uint64_t prev, *win;
	int r;

	(void)opts;
	if (node->flags & QIMG_OPEN_RDWR)
		return qimg_error_set(err, EACCES, "Image is read-only");
	r = qimg_pread(node->file, CLOOP_HEADER, h, sizeof(h), err);
	if (r < 0)
		return r;
	s->block_size = qimg_load_be32(h);
	if (s->block_size % 512)
		return qimg_error_set(err, EINVAL,
				      "block_size %u must be a multiple of 512",
				      s->block_size);
	if (s->block_size == 0)
		return qimg_error_set(err, EINVAL, "block_size cannot be zero");
	if (s->block_size > CLOOP_MAX_BLOCK)
		return qimg_error_set(err, EINVAL,
				      "block_size %u must be %u MB or less",
				      s->block_size, CLOOP_MAX_BLOCK >> 20);
	s->n_blocks = qimg_load_be32(h + 4);
	if (s->n_blocks > UINT32_MAX / 8)
		return qimg_error_set(err, EINVAL,
				      "n_blocks %u must be %u or less",
				      s->n_blocks, UINT32_MAX / 8);
	/* 32-bit, as qemu-img computes it: the largest count wraps to 0. */
	table_size = (s->n_blocks + 1) * 8;
	if (table_size > CLOOP_MAX_OFFSETS)
		return qimg_error_set(err, EINVAL,
				      "image requires too many offsets, try "
				      "increasing block size");
	if (table_size == 0)
		return qimg_error_set(err, ENOMEM,
				      "Could not allocate offsets table");
	win = malloc(CLOOP_SCAN * sizeof(*win));
	if (!win)
		return qimg_error_set(err, ENOMEM,
				      "Could not allocate offsets table");
	qimg_tc_init(&s->offsets, node->file, CLOOP_HEADER + 8, table_size,
		     table_size);
	prev = 0;
	/* Block i's stream runs from offset i to offset i + 1. */
	for (i = 0; i <= s->n_blocks; i += n) {
		n = s->n_blocks - i + 1 < CLOOP_SCAN ? s->n_blocks - i + 1
						     : CLOOP_SCAN;
		r = qimg_tc_read_be64(&s->offsets, i, win, n, err);
		if (r < 0)
			goto fail;
		k = 0;
		if (i == 0)
			prev = win[k++];
		for (; k < n; k++) {
			uint64_t o = win[k];

			if (o < prev) {
				r = qimg_error_set(err, EINVAL,
						   "offsets not monotonically "
						   "increasing at index %u, "
						   "image file is corrupt",
						   i + k);
				goto fail;
			}
			if (o - prev > CLOOP_MAX_COMPRESSED) {
				r = qimg_error_set(err, EINVAL,
						   "invalid compressed block "
						   "size at index %u, image "
						   "file is corrupt",
						   i + k);
				goto fail;
			}
			prev = o;
		}
	}
	free(win);
	s->cached = s->n_blocks;
	node->size = (uint64_t)s->n_blocks * s->block_size;
	node->limits.export_align = 512; /* QEMU's cloop reads sectors */
	return 0;

fail:
	free(win);
	qimg_tc_free(&s->offsets);
	return r;
}

static void cloop_close(struct qimg_node *node)
{
	struct cloop_state *s = node->opaque;

	qimg_tc_free(&s->offsets);
	free(s->cache);
}

/* Inflate block idx into the cache: the compressed bytes are fed in
 * chunks (zeros past the end of the file, as qemu-img reads them), and the
 * stream must end with exactly one block of output. */
static int inflate_block(struct qimg_node *node, uint32_t idx,
			 struct qimg_error *err)
{
	struct cloop_state *s = node->opaque;
	uint64_t span[2], off, left;
	uint8_t *in;
	z_stream z;
	int r, zr = Z_OK;

	r = qimg_tc_read_be64(&s->offsets, idx, span, 2, err);
	if (r < 0)
		return r;
	off = span[0];
	left = span[1] - off;

	if (!s->cache) {
		s->cache = malloc(s->block_size);
		if (!s->cache)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	in = malloc(CLOOP_CHUNK);
	if (!in)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK) {
		free(in);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	s->cached = s->n_blocks;
	z.next_out = s->cache;
	z.avail_out = s->block_size;
	while (left && zr == Z_OK && z.avail_out) {
		size_t n = left < CLOOP_CHUNK ? (size_t)left : CLOOP_CHUNK;

		r = qimg_pread(node->file, off, in, n, err);
		if (r < 0) {
			inflateEnd(&z);
			free(in);
			return r;
		}
		z.next_in = in;
		z.avail_in = (uInt)n;
		zr = inflate(&z, Z_SYNC_FLUSH);
		off += n;
		left -= n;
	}
	inflateEnd(&z);
	free(in);
	if (zr != Z_STREAM_END || z.total_out != s->block_size)
		return qimg_error_set(err, EIO, "Input/output error");
	s->cached = idx;
	return 0;
}

static int cloop_read(struct qimg_node *node, uint64_t off, void *buf,
		      size_t len, struct qimg_error *err)
{
	struct cloop_state *s = node->opaque;
	uint8_t *p = buf;
	int r;

	while (len) {
		uint32_t idx = (uint32_t)(off / s->block_size);
		uint32_t in = (uint32_t)(off % s->block_size);
		size_t n = s->block_size - in;

		if (n > len)
			n = len;
		if (s->cached != idx) {
			r = inflate_block(node, idx, err);
			if (r < 0)
				return r;
		}
		memcpy(p, s->cache + in, n);
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

const struct qimg_driver qimg_driver_cloop = {
	.name = "cloop",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct cloop_state),
	.probe = cloop_probe,
	.open = cloop_open,
	.close = cloop_close,
	.read = cloop_read,
};
