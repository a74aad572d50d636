/* SPDX-License-Identifier: MIT */
/* Writing vmdk images as qemu-img does: flat extents in place; hosted
 * sparse extents grain by grain (a new grain appended at the end of the
 * file, filled from the backing file around the data, written and flushed
 * before the grain table and its redundant copy point at it); zeroed-grain
 * entries for whole zero grains when the extent has the feature.  The CID
 * changes (descriptor rewritten) at the first write after open. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zlib.h>

#include "formats/vmdk/vmdk.h"
#include "util/codec.h"
#include "util/endian.h"

#define VMDK_CHUNK ((size_t)1 << 20)

static struct vmdk_extent *extent_at(struct vmdk_state *s, uint64_t off,
				     uint64_t *rel)
{
	uint64_t start = 0;
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (off / VMDK_SECTOR < s->ext[i].end_sector) {
			*rel = off - start * VMDK_SECTOR;
			return &s->ext[i];
		}
		start = s->ext[i].end_sector;
	}
	return NULL;
}

/* Write len bytes of text at off, zeros after them up to total. */
static int write_padded(struct qimg_node *file, uint64_t off, const char *text,
			size_t len, size_t total, struct qimg_error *err)
{
	uint8_t *pad = calloc(1, total ? total : 1);
	int r;

	if (!pad)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	memcpy(pad, text, len < total ? len : total);
	r = qimg_pwrite(file, off, pad, total, err);
	free(pad);
	return r;
}

/* A new CID in the descriptor, once per open. */
static int update_cid(struct qimg_node *node, struct qimg_error *err)
{
	struct vmdk_state *s = node->opaque;
	char buf[16], *nd;
	uint32_t c = 0;
	size_t len;
	int r;

	if (s->cid_updated)
		return 0;
	s->cid_updated = true;
	do {
		if (getrandom(&c, sizeof(c), 0) != sizeof(c))
			c = (uint32_t)rand();
	} while (c >= 0xfffffffeu);
	snprintf(buf, sizeof(buf), "%x", c);
	nd = vmdk_desc_set(s->desc, "CID", buf);
	if (!nd)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	len = strlen(nd);
	if (s->desc_embedded) {
		if (len > s->desc_size) {
			free(nd);
			return 0;
		}
		r = write_padded(node->file, s->desc_offset, nd, len,
				 (size_t)s->desc_size, err);
	} else {
		/* The text padded with zeros to whole sectors, over the old
		 * file's length at least (qemu-img's bytes). */
		int64_t flen = qimg_node_length(node->file, err);
		uint64_t total = len;

		r = flen < 0 ? (int)flen : 0;
		if (r == 0 && (uint64_t)flen > total)
			total = (uint64_t)flen;
		total = (total + VMDK_SECTOR - 1) / VMDK_SECTOR * VMDK_SECTOR;
		if (r == 0 && total > VMDK_DESC_MAX + VMDK_SECTOR)
			total = (len + VMDK_SECTOR - 1) / VMDK_SECTOR *
				VMDK_SECTOR;
		if (r == 0)
			r = write_padded(node->file, 0, nd, len, (size_t)total,
					 err);
	}
	if (r < 0) {
		free(nd);
		return r;
	}
	free(s->desc);
	s->desc = nd;
	s->cid = c;
	return 0;
}

/* Set GT entry (l1_index, l2_index) to v in the table and its copy. */
static int set_gte(struct qimg_node *node, struct vmdk_extent *e,
		   uint64_t l1_index, uint32_t l2_index, uint32_t v,
		   struct qimg_error *err)
{
	uint32_t *gt, le;
	int r;

	r = vmdk_gt_load(node, e, l1_index, &gt, err);
	if (r < 0)
		return r;
	qimg_store_le32(&le, v);
	qimg_debug_event(e->file, QIMG_EV_L2_UPDATE);
	r = qimg_pwrite(e->file,
			(uint64_t)e->l1[l1_index] * VMDK_SECTOR + l2_index * 4,
			&le, 4, err);
	if (r == 0 && e->l1_backup && e->l1_backup[l1_index])
		r = qimg_pwrite(e->file,
				(uint64_t)e->l1_backup[l1_index] * VMDK_SECTOR +
					l2_index * 4,
				&le, 4, err);
	if (r == 0)
		gt[l2_index] = v;
	return r;
}

/* Where a new grain goes: the end of the file as it was at the first
 * allocation, then after the last grain placed (a compressed grain takes
 * only its sectors, though the file is grown to hold a whole grain). */
static int alloc_sector(struct vmdk_extent *e, uint64_t *out,
			struct qimg_error *err)
{
	uint64_t host = e->next_sector;

	if (!host) {
		int64_t flen = qimg_node_length(e->file, err);

		if (flen < 0)
			return (int)flen;
		host = ((uint64_t)flen + VMDK_SECTOR - 1) / VMDK_SECTOR;
		/* A fresh stream's end-of-stream marker: grains go over it,
		 * where qemu-img puts them; else from the first whole grain
		 * past the end, as qemu-img. */
		if (e->markers && host == e->overhead + 1)
			host = e->overhead;
		else if (host % e->grain_sectors)
			host += e->grain_sectors - host % e->grain_sectors;
		if (host < e->overhead)
			host = e->overhead;
	}
	if (host > UINT32_MAX - e->grain_sectors)
		return qimg_error_set(err, EFBIG, "%s: file too large",
				      e->file->filename);
	*out = host;
	return 0;
}

/* GD and GT indexes of extent byte rel; an error when no grain table
 * covers it. */
static int gt_index(struct vmdk_extent *e, uint64_t rel, uint64_t *l1_index,
		    uint32_t *l2_index, struct qimg_error *err)
{
	uint64_t sector = rel / VMDK_SECTOR;

	*l1_index = sector / e->l1_entry_sectors;
	*l2_index = (uint32_t)((sector / e->grain_sectors) % e->gtes);
	if (*l1_index >= e->l1_size || !e->l1[*l1_index])
		return qimg_error_set(
			err, EIO, "%s: no grain table for offset %llu",
			e->file->filename, (unsigned long long)rel);
	return 0;
}

int vmdk_compress(struct qimg_node *node, struct qimg_codec *codec,
		  const void *buf, size_t len, void *out, size_t *outlen,
		  struct qimg_error *err)
{
	int r;

	(void)node;
	/* A zlib stream (what VMware and QEMU inflate), 32 KiB window.  Too
	 * big for the caller's buffer: compressed again when stored. */
	r = qimg_codec_deflate(codec, 15, buf, len, out, outlen);
	if (r < 0)
		return qimg_error_set(err, -r, "Out of memory");
	return 0;
}

/* Store one whole grain of a compressed extent (rel grain aligned, n the
 * grain or the extent's tail) at the end: marker, deflated data. */
static int write_compressed_grain(struct qimg_node *node, struct vmdk_extent *e,
				  uint64_t rel, const uint8_t *buf, uint64_t n,
				  const void *cbuf, size_t clen,
				  struct qimg_error *err)
{
	uint64_t g = e->grain_sectors * VMDK_SECTOR, host, l1_index, total;
	size_t hdr = e->markers ? 12 : 0, cap;
	enum vmdk_grain_state st;
	uint32_t l2_index;
	uint8_t *out;
	int64_t flen;
	int r;

	(void)node;
	if (rel % g || n != (e->sectors * VMDK_SECTOR - rel < g
				     ? e->sectors * VMDK_SECTOR - rel
				     : g))
		return qimg_error_set(err, EINVAL,
				      "%s: a streamOptimized extent takes "
				      "whole grains only",
				      e->file->filename);
	r = gt_index(e, rel, &l1_index, &l2_index, err);
	if (r == 0)
		r = vmdk_lookup(node, e, rel, &st, &host, err);
	if (r < 0)
		return r;
	if (st != VMDK_GRAIN_UNALLOC)
		return qimg_error_set(err, EIO,
				      "Could not write to allocated cluster "
				      "for streamOptimized");
	cap = (size_t)compressBound((uLong)n);
	out = malloc(hdr + cap + VMDK_SECTOR);
	if (!out)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (clen) {
		memcpy(out + hdr, cbuf, clen);
	} else {
		uLongf z = (uLongf)cap;

		if (compress2(out + hdr, &z, buf, (uLong)n,
			      Z_DEFAULT_COMPRESSION) != Z_OK) {
			free(out);
			return qimg_error_set(err, EIO,
					      "%s: compression failed",
					      e->file->filename);
		}
		clen = (size_t)z;
	}
	if (hdr) {
		qimg_store_le64(out, rel / VMDK_SECTOR);
		qimg_store_le32(out + 8, (uint32_t)clen);
	}
	total = (hdr + clen + VMDK_SECTOR - 1) / VMDK_SECTOR * VMDK_SECTOR;
	memset(out + hdr + clen, 0, (size_t)(total - hdr - clen));
	r = alloc_sector(e, &host, err);
	/* The file holds a whole grain from there, as qemu-img leaves it. */
	flen = r == 0 ? qimg_node_length(e->file, err) : 0;
	if (r == 0 && flen < 0)
		r = (int)flen;
	if (r == 0 && (uint64_t)flen < host * VMDK_SECTOR + g)
		r = qimg_truncate(e->file, host * VMDK_SECTOR + g, 0, NULL,
				  err);
	if (r == 0) {
		qimg_debug_event(e->file, QIMG_EV_WRITE_COMPRESSED);
		r = qimg_pwrite(e->file, host * VMDK_SECTOR, out, (size_t)total,
				err);
	}
	free(out);
	/* The data reaches the disk before the table points at it. */
	if (r == 0)
		r = qimg_flush(e->file, err);
	if (r == 0)
		r = set_gte(node, e, l1_index, l2_index, (uint32_t)host, err);
	if (r == 0) {
		e->next_sector = host + total / VMDK_SECTOR;
		flen = qimg_node_length(e->file, err);
		if (flen < 0)
			return (int)flen;
		e->file_len = (uint64_t)flen;
	}
	return r;
}

/* Write [rel, rel+n) of one grain of a sparse extent; buf NULL: zeros
 * as a zeroed-grain entry (whole grains only). */
static int write_grain(struct qimg_node *node, struct vmdk_extent *e,
		       uint64_t guest, uint64_t rel, const uint8_t *buf,
		       uint64_t n, struct qimg_error *err)
{
	uint64_t g = e->grain_sectors * VMDK_SECTOR, host,
		 start = rel - rel % g;
	uint64_t l1_index, end, pos;
	enum vmdk_grain_state st;
	uint32_t l2_index;
	uint8_t *tmp;
	size_t chunk;
	int r;

	r = gt_index(e, rel, &l1_index, &l2_index, err);
	if (r == 0)
		r = vmdk_lookup(node, e, rel, &st, &host, err);
	if (r < 0)
		return r;
	if (!buf) {
		if (st == VMDK_GRAIN_ZERO)
			return 0;
		return set_gte(node, e, l1_index, l2_index, 1, err);
	}
	if (st == VMDK_GRAIN_DATA) {
		qimg_debug_event(e->file, QIMG_EV_WRITE_AIO);
		return qimg_pwrite(e->file, host + rel % g, buf, (size_t)n,
				   err);
	}
	if (st == VMDK_GRAIN_COMPRESSED)
		return qimg_error_set(err, EIO,
				      "%s: cannot overwrite a compressed grain",
				      e->file->filename);
	/* A new grain at the end of the file: the backing file's data (or
	 * zeros) around the new bytes, a chunk at a time (grains reach
	 * 1 GiB). */
	r = alloc_sector(e, &host, err);
	if (r < 0)
		return r;
	chunk = g < VMDK_CHUNK ? (size_t)g : VMDK_CHUNK;
	tmp = malloc(chunk);
	if (!tmp)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	end = e->sectors * VMDK_SECTOR - start;
	if (end > g)
		end = g;
	qimg_debug_event(e->file, QIMG_EV_WRITE_AIO);
	for (pos = 0; r == 0 && pos < g; pos += chunk) {
		uint64_t lo = rel % g, hi = lo + n;
		size_t c = g - pos < chunk ? (size_t)(g - pos) : chunk;

		memset(tmp, 0, c);
		if (st == VMDK_GRAIN_UNALLOC && n < g && pos < end)
			r = vmdk_read_backing(
				node, guest - lo + pos, tmp,
				end - pos < c ? (size_t)(end - pos) : c, err);
		if (r == 0 && lo < pos + c && hi > pos) {
			uint64_t a = lo > pos ? lo : pos;
			uint64_t z = hi < pos + c ? hi : pos + c;

			memcpy(tmp + (a - pos), buf + (a - lo),
			       (size_t)(z - a));
		}
		if (r == 0)
			r = qimg_pwrite(e->file, host * VMDK_SECTOR + pos, tmp,
					c, err);
	}
	free(tmp);
	/* The data reaches the disk before the table points at it. */
	if (r == 0)
		r = qimg_flush(e->file, err);
	if (r == 0)
		r = set_gte(node, e, l1_index, l2_index, (uint32_t)host, err);
	if (r == 0)
		e->next_sector = host + e->grain_sectors;
	return r;
}

static int do_write(struct qimg_node *node, uint64_t off, const void *buf,
		    uint64_t len, struct qimg_error *err)
{
	struct vmdk_state *s = node->opaque;
	const uint8_t *p = buf;
	int r;

	r = update_cid(node, err);
	while (r == 0 && len) {
		uint64_t rel, n;
		struct vmdk_extent *e = extent_at(s, off, &rel);

		if (!e)
			return qimg_error_set(err, EIO, "Input/output error");
		n = e->sectors * VMDK_SECTOR - rel;
		if (n > len)
			n = len;
		if (e->kind == VMDK_EXT_FLAT) {
			if (!p) {
				uint8_t *z = calloc(1, (size_t)n);

				if (!z)
					return qimg_error_set(err, ENOMEM,
							      "Out of memory");
				r = qimg_pwrite(e->file, e->flat_offset + rel,
						z, (size_t)n, err);
				free(z);
			} else {
				qimg_debug_event(e->file, QIMG_EV_WRITE_AIO);
				r = qimg_pwrite(e->file, e->flat_offset + rel,
						p, (size_t)n, err);
			}
		} else if (e->kind != VMDK_EXT_SPARSE || e->read_only) {
			return qimg_error_set(err, EACCES,
					      "%s: extent is read-only",
					      e->file->filename);
		} else if (e->compressed) {
			uint64_t g = e->grain_sectors * VMDK_SECTOR;

			if (n > g - rel % g)
				n = g - rel % g;
			if (!p)
				return qimg_error_set(err, EINVAL,
						      "Invalid argument");
			r = write_compressed_grain(node, e, rel, p, n, NULL, 0,
						   err);
		} else {
			uint64_t g = e->grain_sectors * VMDK_SECTOR;

			if (n > g - rel % g)
				n = g - rel % g;
			r = write_grain(node, e, off, rel, p, n, err);
		}
		off += n;
		len -= n;
		if (p)
			p += n;
	}
	return r;
}

int vmdk_write(struct qimg_node *node, uint64_t off, const void *buf,
	       size_t len, struct qimg_error *err)
{
	return do_write(node, off, buf, len, err);
}

int vmdk_write_compressed(struct qimg_node *node, uint64_t off, const void *buf,
			  size_t len, const void *cbuf, size_t clen,
			  struct qimg_error *err)
{
	struct vmdk_state *s = node->opaque;
	uint64_t rel;
	struct vmdk_extent *e = extent_at(s, off, &rel);
	int r;

	/* Plain data into extents that are not compressed, as qemu-img. */
	if (!e || !e->compressed || e->kind != VMDK_EXT_SPARSE ||
	    e->sectors * VMDK_SECTOR - rel < len)
		return do_write(node, off, buf, len, err);
	r = update_cid(node, err);
	if (r == 0)
		r = write_compressed_grain(node, e, rel, buf, len, cbuf, clen,
					   err);
	return r;
}

int vmdk_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		      unsigned int flags, struct qimg_error *err)
{
	struct vmdk_state *s = node->opaque;
	uint64_t rel;
	struct vmdk_extent *e = extent_at(s, off, &rel);
	uint64_t g;

	(void)flags;
	/* Whole grains of a zeroed-grain extent only; the rest as data. */
	if (!e || e->kind != VMDK_EXT_SPARSE || !e->zeroed_grain ||
	    e->read_only)
		return -ENOTSUP;
	g = e->grain_sectors * VMDK_SECTOR;
	if (rel % g || len % g || rel + len > e->sectors * VMDK_SECTOR)
		return -ENOTSUP;
	return do_write(node, off, NULL, len, err);
}

/* A written stream ends with a zero sector, its end-of-stream marker
 * (the zeros after the last grain usually are one already). */
static int end_stream(struct vmdk_extent *e, struct qimg_error *err)
{
	uint8_t last[VMDK_SECTOR], zero[VMDK_SECTOR] = { 0 };
	int64_t flen;
	int r;

	if (!e->markers || !e->next_sector)
		return 0;
	flen = qimg_node_length(e->file, err);
	if (flen < 0)
		return (int)flen;
	if ((uint64_t)flen < VMDK_SECTOR)
		return 0;
	r = qimg_pread(e->file, (uint64_t)flen - VMDK_SECTOR, last,
		       sizeof(last), err);
	if (r < 0 || !memcmp(last, zero, sizeof(zero)))
		return r;
	return qimg_pwrite(e->file,
			   ((uint64_t)flen + VMDK_SECTOR - 1) / VMDK_SECTOR *
				   VMDK_SECTOR,
			   zero, sizeof(zero), err);
}

int vmdk_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct vmdk_state *s = node->opaque;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < s->n; i++)
		if (s->ext[i].kind == VMDK_EXT_SPARSE && s->ext[i].compressed)
			r = end_stream(&s->ext[i], err);
	if (r == 0)
		r = qimg_flush(node->file, err);

	for (i = 0; r == 0 && i < s->n; i++)
		if (s->ext[i].file != node->file)
			r = qimg_flush(s->ext[i].file, err);
	return r;
}
