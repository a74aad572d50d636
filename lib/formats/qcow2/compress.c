/* SPDX-License-Identifier: MIT */
/* qcow2 compressed clusters: the descriptor layout (host byte offset and a
 * count of additional 512-byte sectors), raw deflate with a 4 KiB window
 * (what QEMU reads back) and zstd frames.  Everything here is pure. */

#include <errno.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "formats/qcow2/qcow2.h"
#include "util/codec.h"

void qcow2_cdesc_decode(const struct qcow2_state *s, uint64_t l2e,
			uint64_t *off, uint64_t *nbytes)
{
	uint64_t nsec;

	*off = l2e & s->coffset_mask;
	nsec = ((l2e >> s->csize_shift) & s->csize_mask) + 1;
	*nbytes = nsec * 512 - (*off & 511);
}

int qcow2_cdesc_encode(const struct qcow2_state *s, uint64_t off, uint64_t len,
		       uint64_t *l2e)
{
	uint64_t field;

	if (!len || off > s->coffset_mask || off >= (1ull << 56))
		return -EINVAL;
	field = (off + len - 1) / 512 - off / 512;
	if (field > s->csize_mask)
		return -EINVAL;
	*l2e = QCOW2_OFLAG_COMPRESSED | field << s->csize_shift | off;
	return 0;
}

int qcow2_compress_buf(struct qimg_codec *codec, int type, const void *in,
		       size_t len, void *out, size_t *outlen,
		       struct qimg_error *err)
{
	size_t cap = *outlen < len ? *outlen : len, n = cap;
	int r;

	if (type == QCOW2_COMPRESS_ZSTD)
		r = qimg_codec_zstd(codec, in, len, out, &n);
	else
		/* Raw deflate within a 4 KiB window, as QEMU inflates. */
		r = qimg_codec_deflate(codec, -12, in, len, out, &n);
	if (r == -EIO)
		return qimg_error_set(err, EIO, "zstd compression failed");
	if (r < 0)
		return qimg_error_set(err, -r, "Out of memory");
	/* Not smaller than the cluster: QEMU stores it uncompressed. */
	*outlen = n >= cap ? 0 : n;
	return 0;
}

static int unzstd(const void *in, size_t inlen, void *out, size_t outlen)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, inlen, 0 };
	ZSTD_outBuffer ob = { out, outlen, 0 };
	int r = -EIO;

	if (!d)
		return -ENOMEM;
	ZSTD_initDStream(d);
	/* Frames may be concatenated; stop once the cluster is full. */
	while (ob.pos < ob.size && ib.pos < ib.size) {
		size_t n = ZSTD_decompressStream(d, &ob, &ib);

		if (ZSTD_isError(n))
			break;
		if (n == 0 && ob.pos < ob.size && ib.pos == ib.size)
			break;
	}
	if (ob.pos == ob.size)
		r = 0;
	ZSTD_freeDStream(d);
	return r;
}

int qcow2_decompress_buf(int type, const void *in, size_t inlen, void *out,
			 size_t outlen)
{
	if (type == QCOW2_COMPRESS_ZSTD)
		return unzstd(in, inlen, out, outlen);
	return qimg_inflate_raw(in, inlen, out, outlen);
}
