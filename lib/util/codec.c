/* SPDX-License-Identifier: MIT */
/* Cluster compression with state kept across calls (see codec.h). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>
#ifdef QIMG_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "util/codec.h"

/* zlib deflate states, one per window setting in use (raw -12 for qcow2
 * and qcow, zlib 15 for vmdk: a codec rarely sees more than one). */
#define ZSLOTS 4

struct zslot {
	bool used;
	int window_bits;
	z_stream z;
};

struct qimg_codec {
	bool qemu_exact;
	struct zslot zs[ZSLOTS];
	ZSTD_CCtx *zstd;
#ifdef QIMG_HAVE_ISAL
	struct isal_zstream is;
	uint8_t *level_buf;
#endif
};

/* Levels, measured on the bench image (64 KiB clusters of random data,
 * text and zeros; one core): igzip's level 3, its best ratio, writes 1.7 %
 * more than zlib's level 6 for raw deflate within 4 KiB, 8 to 13 times
 * faster (3.5 % more for vmdk's zlib streams); zstd's level 1 writes 1.6 %
 * more than its default level 3, 1.4 times faster.  On text alone both
 * write some 8 % more than qemu-img's choices. */
#define ISAL_LEVEL 3
#define ZSTD_LEVEL 1

struct qimg_codec *qimg_codec_new(void)
{
	struct qimg_codec *c = calloc(1, sizeof(*c));
	const char *e = getenv("QIMG_COMPRESS");

	if (!c)
		return NULL;
	c->qemu_exact = e && !strcmp(e, "qemu");
	return c;
}

void qimg_codec_free(struct qimg_codec *c)
{
	int i;

	if (!c)
		return;
	for (i = 0; i < ZSLOTS; i++)
		if (c->zs[i].used)
			deflateEnd(&c->zs[i].z);
	ZSTD_freeCCtx(c->zstd);
#ifdef QIMG_HAVE_ISAL
	free(c->level_buf);
#endif
	free(c);
}

bool qimg_codec_uses_isal(const struct qimg_codec *c)
{
#ifdef QIMG_HAVE_ISAL
	return !c->qemu_exact;
#else
	(void)c;
	return false;
#endif
}

static z_stream *zslot_get(struct qimg_codec *c, int window_bits)
{
	int i;

	for (i = 0; i < ZSLOTS; i++)
		if (c->zs[i].used && c->zs[i].window_bits == window_bits) {
			if (deflateReset(&c->zs[i].z) != Z_OK)
				return NULL;
			return &c->zs[i].z;
		}
	for (i = 0; i < ZSLOTS; i++)
		if (!c->zs[i].used)
			break;
	if (i == ZSLOTS) {
		/* Never seen in practice: recycle the first slot. */
		i = 0;
		deflateEnd(&c->zs[0].z);
		c->zs[0].used = false;
	}
	memset(&c->zs[i].z, 0, sizeof(c->zs[i].z));
	/* qemu-img's settings, for its bytes: raw streams (qcow2, qcow)
	 * with memLevel 9, zlib streams (vmdk) with zlib's defaults. */
	if (deflateInit2(&c->zs[i].z, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
			 window_bits, window_bits < 0 ? 9 : 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	c->zs[i].used = true;
	c->zs[i].window_bits = window_bits;
	return &c->zs[i].z;
}

static int deflate_zlib(struct qimg_codec *c, int window_bits, const void *in,
			size_t len, void *out, size_t *outlen)
{
	z_stream *z = zslot_get(c, window_bits);
	int r;

	if (!z)
		return -ENOMEM;
	z->next_in = (Bytef *)in;
	z->avail_in = (uInt)len;
	z->next_out = out;
	z->avail_out = (uInt)*outlen;
	r = deflate(z, Z_FINISH);
	*outlen = r == Z_STREAM_END ? (size_t)z->total_out : 0;
	return 0;
}

#ifdef QIMG_HAVE_ISAL
static int deflate_isal(struct qimg_codec *c, int window_bits, const void *in,
			size_t len, void *out, size_t *outlen)
{
	struct isal_zstream *s = &c->is;
	int hist = window_bits < 0 ? -window_bits : window_bits;
	int r;

	if (!c->level_buf) {
		c->level_buf = malloc(ISAL_DEF_LVL3_DEFAULT);
		if (!c->level_buf)
			return -ENOMEM;
	}
	isal_deflate_stateless_init(s);
	s->level = ISAL_LEVEL;
	s->level_buf = c->level_buf;
	s->level_buf_size = ISAL_DEF_LVL3_DEFAULT;
	s->hist_bits = (uint16_t)hist;
	s->gzip_flag = window_bits < 0 ? IGZIP_DEFLATE : IGZIP_ZLIB;
	s->end_of_stream = 1;
	s->flush = NO_FLUSH;
	s->next_in = (uint8_t *)in;
	s->avail_in = (uint32_t)len;
	s->next_out = out;
	s->avail_out = (uint32_t)*outlen;
	r = isal_deflate_stateless(s);
	if (r == COMP_OK)
		*outlen = s->total_out;
	else if (r == STATELESS_OVERFLOW)
		*outlen = 0;
	else
		return -EINVAL;
	return 0;
}
#endif

int qimg_codec_deflate(struct qimg_codec *c, int window_bits, const void *in,
		       size_t len, void *out, size_t *outlen)
{
	int hist = window_bits < 0 ? -window_bits : window_bits;

	if (hist < 9 || hist > 15 || len > UINT32_MAX || *outlen > UINT32_MAX)
		return -EINVAL;
#ifdef QIMG_HAVE_ISAL
	if (!c->qemu_exact)
		return deflate_isal(c, window_bits, in, len, out, outlen);
#endif
	return deflate_zlib(c, window_bits, in, len, out, outlen);
}

#ifdef QIMG_HAVE_ISAL
int qimg_inflate_raw(const void *in, size_t inlen, void *out, size_t outlen)
{
	/* 87 KB of state: on the heap, not on a worker's stack. */
	struct inflate_state *s = malloc(sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	if (inlen > UINT32_MAX || outlen > UINT32_MAX) {
		free(s);
		return -EIO;
	}
	isal_inflate_init(s);
	s->next_in = (uint8_t *)in;
	s->avail_in = (uint32_t)inlen;
	s->next_out = out;
	s->avail_out = (uint32_t)outlen;
	s->crc_flag = ISAL_DEFLATE;
	r = isal_inflate_stateless(s);
	/* A full output is success, whether the stream ended there or has
	 * more (ISAL_OUT_OVERFLOW): the cluster is all there is to read. */
	r = (r == ISAL_DECOMP_OK || r == ISAL_OUT_OVERFLOW ||
	     r == ISAL_END_INPUT) &&
			    s->avail_out == 0
		    ? 0
		    : -EIO;
	free(s);
	return r;
}
#else
int qimg_inflate_raw(const void *in, size_t inlen, void *out, size_t outlen)
{
	z_stream z;
	int r;

	if (inlen > UINT_MAX || outlen > UINT_MAX)
		return -EIO;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -15) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	z.next_out = out;
	z.avail_out = (uInt)outlen;
	r = inflate(&z, Z_FINISH);
	r = (r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK) &&
			    z.avail_out == 0
		    ? 0
		    : -EIO;
	inflateEnd(&z);
	return r;
}
#endif

int qimg_codec_zstd(struct qimg_codec *c, const void *in, size_t len, void *out,
		    size_t *outlen)
{
	size_t n;

	if (!c->zstd) {
		c->zstd = ZSTD_createCCtx();
		if (!c->zstd)
			return -ENOMEM;
	}
	n = ZSTD_compressCCtx(c->zstd, out, *outlen, in, len,
			      c->qemu_exact ? ZSTD_CLEVEL_DEFAULT : ZSTD_LEVEL);
	if (ZSTD_isError(n)) {
		if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall) {
			*outlen = 0;
			return 0;
		}
		return -EIO;
	}
	*outlen = n;
	return 0;
}
