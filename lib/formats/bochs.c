/* SPDX-License-Identifier: MIT */
/* Bochs growing ("redolog") images, read-only, as qemu-img 7.2 reads them:
 * a 512-byte header, a catalog of 32-bit little-endian extent slots, then
 * the slots, each a per-sector bitmap followed by the extent's data.
 * Unallocated extents and sectors read as zeros.  Both header versions
 * (0x00020000 and the older 0x00010000) are taken. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "formats/bochs.h"
#include "util/endian.h"

#define BOCHS_SECTOR 512u
#define BOCHS_HEADER_SIZE 512u
#define BOCHS_V1 0x00010000u
#define BOCHS_V2 0x00020000u
#define BOCHS_UNALLOCATED 0xffffffffu
/* qemu-img's bounds: a catalog of 1M entries is what bximage's largest
 * image (~8 TiB) needs; extents are 512 B .. 8 MiB. */
#define BOCHS_MAX_CATALOG 0x100000u
#define BOCHS_MAX_EXTENT 0x800000u
/* The furthest byte QEMU's block layer reads (INT64_MAX aligned down to
 * 1 GiB): a slot offset past it fails with EIO there, so it does here
 * (bochs.sh pins it). */
#define BOCHS_MAX_OFFSET ((uint64_t)INT64_MAX & ~((UINT64_C(1) << 30) - 1))

/* Header fields (little endian). */
#define OFF_MAGIC 0
#define OFF_TYPE 32
#define OFF_SUBTYPE 48
#define OFF_VERSION 64
#define OFF_HEADER 68
#define OFF_CATALOG 72
#define OFF_BITMAP 76
#define OFF_EXTENT 80
#define OFF_DISK_V1 84
#define OFF_DISK_V2 88

/* Everything is read at open and never changes, so reads need no lock. */
struct bochs_state {
	uint32_t *catalog;	 /* slot of each extent, host order */
	uint32_t catalog_size;	 /* entries */
	uint32_t extent_size;	 /* bytes, a power of two */
	uint32_t slot_sectors;	 /* bitmap sectors + extent sectors */
	uint32_t bitmap_sectors; /* before the data of each slot */
	uint32_t data_offset;	 /* where slot 0 starts */
	uint64_t file_len;	 /* reads past it see zeros */
};

/* A NUL-terminated field equal to `want` (what follows the NUL is free). */
static bool field_is(const uint8_t *field, const char *want)
{
	return !memcmp(field, want, strlen(want) + 1);
}

/* The header's strings and version; `h` is 512 bytes, zero-padded when
 * the file is shorter (as QEMU pads its probe buffer). */
static bool header_ok(const uint8_t *h)
{
	uint32_t v = qimg_load_le32(h + OFF_VERSION);

	return field_is(h + OFF_MAGIC, "Bochs Virtual HD Image") &&
	       field_is(h + OFF_TYPE, "Redolog") &&
	       field_is(h + OFF_SUBTYPE, "Growing") &&
	       (v == BOCHS_V1 || v == BOCHS_V2);
}

static int bochs_probe(const uint8_t *head, size_t len, const char *filename)
{
	uint8_t h[BOCHS_HEADER_SIZE] = { 0 };

	(void)filename;
	memcpy(h, head, len < sizeof(h) ? len : sizeof(h));
	return header_ok(h) ? 100 : 0;
}

/* Read file bytes as QEMU's block layer does: zeros past the end of the
 * file, EIO past the largest offset it accepts. */
static int file_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	struct bochs_state *s = node->opaque;
	size_t n = 0;

	if (off > BOCHS_MAX_OFFSET || len > BOCHS_MAX_OFFSET - off)
		return qimg_error_set(err, EIO, "Input/output error");
	if (off < s->file_len)
		n = s->file_len - off < len ? (size_t)(s->file_len - off) : len;
	memset((uint8_t *)buf + n, 0, len - n);
	return n ? qimg_pread(node->file, off, buf, n, err) : 0;
}

static int read_catalog(struct qimg_node *node, uint64_t off,
			struct qimg_error *err)
{
	struct bochs_state *s = node->opaque;
	size_t i, n = s->catalog_size;
	int r;

	if (!n)
		return 0;
	s->catalog = malloc(n * sizeof(*s->catalog));
	if (!s->catalog)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = file_read(node, off, s->catalog, n * sizeof(*s->catalog), err);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		s->catalog[i] = qimg_load_le32(&s->catalog[i]);
	return 0;
}

/* The checks and messages are qemu-img's, in its order. */
static int bochs_open(struct qimg_node *node, const struct qimg_opts *opts,
		      struct qimg_error *err)
{
	struct bochs_state *s = node->opaque;
	uint8_t h[BOCHS_HEADER_SIZE];
	uint32_t hdr_size, bitmap, extent_sectors;
	uint64_t disk, sectors;
	int64_t len;
	int r;

	(void)opts;
	/* QEMU refuses a writable open before it reads anything. */
	if (node->flags & QIMG_OPEN_RDWR)
		return qimg_error_set(err, EACCES, "Image is read-only");
	len = qimg_node_length(node->file, err);
	if (len < 0)
		return (int)len;
	s->file_len = (uint64_t)len;
	r = file_read(node, 0, h, sizeof(h), err);
	if (r < 0)
		return r;
	if (!header_ok(h))
		return qimg_error_set(err, EINVAL, "Image not in Bochs format");
	disk = qimg_load_le64(h + (qimg_load_le32(h + OFF_VERSION) == BOCHS_V1
					   ? OFF_DISK_V1
					   : OFF_DISK_V2));
	sectors = disk / BOCHS_SECTOR;

	s->catalog_size = qimg_load_le32(h + OFF_CATALOG);
	if (s->catalog_size > BOCHS_MAX_CATALOG)
		return qimg_error_set(err, EFBIG, "Catalog size is too large");
	hdr_size = qimg_load_le32(h + OFF_HEADER);
	r = read_catalog(node, hdr_size, err);
	if (r < 0)
		goto out_free_catalog;
	/* 32-bit, as QEMU keeps it: a header size near 4 GiB wraps the
	 * slots round to the start of the file (bochs.sh, header-max). */
	s->data_offset = (uint32_t)(hdr_size + s->catalog_size * 4);

	/* In 32-bit arithmetic, as QEMU: a bitmap size of 0 wraps to the
	 * largest bitmap. */
	bitmap = qimg_load_le32(h + OFF_BITMAP);
	s->bitmap_sectors = 1 + (bitmap - 1) / BOCHS_SECTOR;
	s->extent_size = qimg_load_le32(h + OFF_EXTENT);
	if (s->extent_size < BOCHS_SECTOR) {
		r = qimg_error_set(err, EINVAL,
				   "Extent size must be at least %u",
				   BOCHS_SECTOR);
		goto out_free_catalog;
	}
	if (s->extent_size & (s->extent_size - 1)) {
		r = qimg_error_set(err, EINVAL,
				   "Extent size %u is not a power of two",
				   s->extent_size);
		goto out_free_catalog;
	}
	if (s->extent_size > BOCHS_MAX_EXTENT) {
		r = qimg_error_set(err, EINVAL, "Extent size %u is too large",
				   s->extent_size);
		goto out_free_catalog;
	}
	extent_sectors = s->extent_size / BOCHS_SECTOR;
	s->slot_sectors = s->bitmap_sectors + extent_sectors;
	if (s->catalog_size <
	    sectors / extent_sectors + !!(sectors % extent_sectors)) {
		r = qimg_error_set(err, EINVAL,
				   "Catalog size is too small for this disk "
				   "size");
		goto out_free_catalog;
	}
	node->size = sectors * BOCHS_SECTOR;
	/* QEMU does no sub-sector I/O on bochs images. */
	node->limits.request_align = BOCHS_SECTOR;
	node->limits.export_align = BOCHS_SECTOR;
	return 0;

out_free_catalog:
	free(s->catalog);
	s->catalog = NULL;
	return r;
}

static void bochs_close(struct qimg_node *node)
{
	struct bochs_state *s = node->opaque;

	free(s->catalog);
}

/* Read sectors [sec, sec + n) of one extent into buf: runs of sectors the
 * slot's bitmap marks present are read in one piece, the rest is zeros.
 * The slot offset wraps at 2^64 as QEMU's does. */
static int read_extent(struct qimg_node *node, uint64_t idx, uint32_t sec,
		       uint32_t n, uint8_t *buf, struct qimg_error *err)
{
	struct bochs_state *s = node->opaque;
	uint8_t bits[256];
	uint64_t slot_off, data_off;
	uint32_t first = sec / 8, nbytes, i, run;
	int r;

	if (s->catalog[idx] == BOCHS_UNALLOCATED) {
		memset(buf, 0, (size_t)n * BOCHS_SECTOR);
		return 0;
	}
	slot_off = s->data_offset +
		   (uint64_t)BOCHS_SECTOR * s->catalog[idx] * s->slot_sectors;
	data_off = slot_off + (uint64_t)BOCHS_SECTOR * s->bitmap_sectors;
	while (n) {
		/* At most sizeof(bits) bytes of bitmap at a time. */
		uint32_t chunk = n, base = sec;

		if (chunk > 8 * sizeof(bits) - sec % 8)
			chunk = 8 * (uint32_t)sizeof(bits) - sec % 8;
		first = sec / 8;
		nbytes = (sec % 8 + chunk + 7) / 8;
		r = file_read(node, slot_off + first, bits, nbytes, err);
		if (r < 0)
			return r;
		for (i = 0; i < chunk; i += run) {
			uint32_t k = sec + i - first * 8;
			bool set = bits[k / 8] >> (k % 8) & 1;

			for (run = 1; i + run < chunk; run++) {
				uint32_t m = k + run;

				if ((bits[m / 8] >> (m % 8) & 1) != set)
					break;
			}
			if (!set) {
				memset(buf, 0, (size_t)run * BOCHS_SECTOR);
			} else {
				r = file_read(node,
					      data_off + (uint64_t)(base + i) *
								 BOCHS_SECTOR,
					      buf, (size_t)run * BOCHS_SECTOR,
					      err);
				if (r < 0)
					return r;
			}
			buf += (size_t)run * BOCHS_SECTOR;
		}
		sec += chunk;
		n -= chunk;
	}
	return 0;
}

static int bochs_read(struct qimg_node *node, uint64_t off, void *buf,
		      size_t len, struct qimg_error *err)
{
	struct bochs_state *s = node->opaque;
	uint32_t per = s->extent_size / BOCHS_SECTOR;
	uint8_t *p = buf;
	int r;

	while (len) {
		uint64_t sector = off / BOCHS_SECTOR;
		uint32_t sec = (uint32_t)(sector % per), n = per - sec;

		if ((uint64_t)n * BOCHS_SECTOR > len)
			n = (uint32_t)(len / BOCHS_SECTOR);
		r = read_extent(node, sector / per, sec, n, p, err);
		if (r < 0)
			return r;
		p += (size_t)n * BOCHS_SECTOR;
		off += (uint64_t)n * BOCHS_SECTOR;
		len -= (size_t)n * BOCHS_SECTOR;
	}
	return 0;
}

const struct qimg_driver qimg_driver_bochs = {
	.name = "bochs",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct bochs_state),
	.probe = bochs_probe,
	.open = bochs_open,
	.close = bochs_close,
	.read = bochs_read,
};
