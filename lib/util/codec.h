/* SPDX-License-Identifier: MIT */
/* Compression codecs for whole clusters and grains, with reusable per-thread
 * state.  A struct qimg_codec is owned by one thread at a time (a convert
 * worker keeps one for its whole run), so that the compressors' tables are
 * allocated once instead of per cluster.
 *
 * Deflate goes through ISA-L when qimg is built with it (igzip level 3 with
 * the window limited to what the reader accepts: 4 KiB for qcow2 and qcow),
 * otherwise through zlib at its default level, which is what qemu-img
 * writes; zstd runs at level 1 where qemu-img uses zstd's default, 3.  The
 * output stays within some 2-4 % of qemu-img's size (codec.c has the
 * figures).  QIMG_COMPRESS=qemu in the environment selects qemu-img's own
 * codecs and levels, for output byte-identical with qemu-img's (read when a
 * codec is made).
 */
#ifndef QIMG_UTIL_CODEC_H
#define QIMG_UTIL_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include "qimg/image.h"

/* qimg_codec_new() and qimg_codec_free() are in qimg/image.h (tools own
 * codecs).  Does this codec deflate with ISA-L? */
bool qimg_codec_uses_isal(const struct qimg_codec *c);

/* Deflate `len` bytes.  window_bits < 0: raw deflate whose distances stay
 * within 2^-window_bits bytes (-12: QEMU's qcow2 reader); > 0: a zlib
 * stream (RFC 1950) with window 2^window_bits.  *outlen is the room at out
 * on entry and the compressed length on return, 0 when the result does
 * not fit.  Returns 0 or -ENOMEM / -EINVAL. */
int qimg_codec_deflate(struct qimg_codec *c, int window_bits, const void *in,
		       size_t len, void *out, size_t *outlen);

/* A zstd frame; the same *outlen contract.  Returns 0, -ENOMEM, or -EIO for a zstd failure. */
int qimg_codec_zstd(struct qimg_codec *c, const void *in, size_t len, void *out,
		    size_t *outlen);

/* Inflate raw deflate data until exactly outlen bytes came out; input
 * after the end of the stream is ignored (compressed clusters are only
 * known to 512 bytes).  ISA-L's inflate when built with it (on the bench
 * image 40 % less time than zlib's).  Returns 0, -EIO when the data does
 * not fill out, or -ENOMEM. */
int qimg_inflate_raw(const void *in, size_t inlen, void *out, size_t outlen);

#endif
