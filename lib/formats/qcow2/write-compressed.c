/* SPDX-License-Identifier: MIT */
/* qcow2 compressed clusters: compression of one cluster (any thread, no
 * state) and storing it, packed into shared host clusters by byte. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

/* ---- compressed clusters ---- */

int qcow2_compress(struct qimg_node *node, struct qimg_codec *codec,
		   const void *buf, size_t len, void *out, size_t *outlen,
		   struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint8_t *pad = NULL;
	int r;

	/* Only a result smaller than the data is of use (the caller's
	 * buffer holds more). */
	if (*outlen > len)
		*outlen = len;
	if (len < s->cluster_size) {
		/* The image's last cluster: compress it zero padded, as the
		 * reader always inflates a whole cluster. */
		pad = calloc(1, s->cluster_size);
		if (!pad)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		memcpy(pad, buf, len);
		buf = pad;
	}
	r = qcow2_compress_buf(codec, s->h.compression_type, buf,
			       s->cluster_size, out, outlen, err);
	free(pad);
	return r;
}

/* Find room for `size` bytes of compressed data, packed after the previous
 * compressed cluster; every host cluster touched gains one reference. */
static int alloc_cbytes(struct qcow2_state *s, uint64_t size, uint64_t *off,
			struct qimg_error *err)
{
	uint64_t cs = s->cluster_size, room, nc;
	int r;

	if (s->cbyte & (cs - 1)) {
		uint64_t c = s->cbyte >> s->cluster_bits, rc;

		/* A full counter (narrow refcounts) ends the packing. */
		r = qcow2_get_refcount(s, c, &rc, err);
		if (r < 0)
			return r;
		if (rc >= s->refcount_max || rc == 0)
			s->cbyte = 0;
	}
	if (s->cbyte & (cs - 1)) {
		uint64_t c = s->cbyte >> s->cluster_bits;

		room = cs - (s->cbyte & (cs - 1));
		if (size <= room) {
			r = qcow2_update_refcount(s, c, 1, 1, err);
			if (r < 0)
				return r;
			*off = s->cbyte;
			s->cbyte += size;
			return 0;
		}
		r = qcow2_alloc_clusters(s, 1, &nc, err);
		if (r < 0)
			return r;
		if (nc == (c + 1) << s->cluster_bits) {
			r = qcow2_update_refcount(s, c, 1, 1, err);
			if (r < 0)
				return r;
			*off = s->cbyte;
			s->cbyte += size;
			return 0;
		}
	} else {
		r = qcow2_alloc_clusters(s, 1, &nc, err);
		if (r < 0)
			return r;
	}
	*off = nc;
	s->cbyte = nc + size;
	return 0;
}

int qcow2_write_compressed(struct qimg_node *node, uint64_t off,
			   const void *buf, size_t len, const void *cbuf,
			   size_t clen, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint64_t c0 = off >> s->cluster_bits, l2i = qcow2_l2_index(s, off);
	uint64_t l2_off, e = 0, b = 0, coff = 0, desc;
	uint8_t *tbl;
	int r;

	/* A data file holds no compressed clusters (qemu-img refuses the
	 * write itself). */
	if (s->ext_data)
		return qimg_error_set(err, ENOTSUP, "Operation not supported");
	if (!clen || clen >= s->cluster_size)
		return qcow2_write(node, off, buf, len, err);
	qcow2_lock(s);
	qcow2_inflight_wait(s, c0, 1);
	r = qcow2_l2_find(s, off, &l2_off, &tbl, err);
	if (r < 0)
		goto out;
	if (tbl)
		qcow2_l2_entry(s, tbl, l2i, &e, &b);
	if ((e & (QCOW2_L2E_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED)) ||
	    (s->ext_l2 && (b & 0xffffffffull))) {
		r = qimg_error_set(err, EIO,
				   "Cannot write compressed data "
				   "to an allocated cluster");
		goto out;
	}
	r = qcow2_mark_dirty(s, err);
	if (r == 0)
		r = qcow2_l2_prepare(s, off, &l2_off, err);
	if (r == 0)
		r = alloc_cbytes(s, clen, &coff, err);
	if (r < 0)
		goto out;
	if (qcow2_cdesc_encode(s, coff, clen, &desc) < 0) {
		r = qimg_error_set(err, EIO,
				   "Compressed cluster at %#" PRIx64
				   " cannot be described",
				   coff);
		goto out;
	}
	r = qcow2_inflight_add(s, c0, 1);
	if (r < 0) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	qcow2_unlock(s);
	r = qimg_pwrite(s->file, coff, cbuf, clen, err);
	qcow2_lock(s);
	s->unflushed = true; /* the L2 entry waits for the data */
	if (r == 0) {
		b = 0;
		r = qcow2_l2_set(s, l2_off, l2i, 1, &desc, &b, err);
	}
	qcow2_inflight_del(s, c0);
out:
	qcow2_unlock(s);
	return r;
}
