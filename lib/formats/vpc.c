/* SPDX-License-Identifier: MIT */
/* VHD ("vpc") images as qemu-img 7.2 reads and writes them.  All fields
 * are big endian.  A fixed disk is the guest data followed by a 512-byte
 * footer; a dynamic disk is a footer copy, a 1024-byte dynamic header, a
 * block allocation table (BAT) of 32-bit sector numbers, the blocks (each
 * a sector bitmap then the data) and the footer at the end.  Differencing
 * disks are read as dynamic ones without a parent, as QEMU reads them.
 *
 * The virtual size follows QEMU 7.2: the CHS product, except for images
 * whose creator writes an exact current_size (Hyper-V, Disk2vhd, qemu's
 * force_size, XenServer, tap) or whose geometry is the largest one. */

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/driver.h"
#include "formats/table-cache.h"
#include "formats/vpc.h"
#include "util/endian.h"

#define VPC_SECTOR 512u
#define VPC_FOOTER 512u
#define VPC_DYN_SIZE 1024u
#define VPC_TYPE_FIXED 2u
#define VPC_TYPE_DYNAMIC 3u
#define VPC_UNALLOCATED 0xffffffffu
#define VPC_BLOCK_SIZE 0x200000u /* what qemu-img creates */
/* The largest disk (2040 GiB) and the largest CHS product. */
#define VPC_MAX_SECTORS UINT64_C(0xff000000)
#define VPC_CHS_MAX (UINT64_C(65535) * 16 * 255)
/* Seconds from the Unix epoch to 2000-01-01 00:00 UTC. */
#define VPC_EPOCH 946684800
/* QEMU's block layer: the largest offset it reads and the largest single
 * request; beyond them its reads fail, and so do ours (same messages). */
#define VPC_MAX_OFFSET ((uint64_t)INT64_MAX & ~((UINT64_C(1) << 30) - 1))
#define VPC_MAX_REQUEST UINT64_C(0x7ffffe00)
/* QEMU keeps the BAT in memory: at most INT_MAX / 4 entries. */
#define VPC_MAX_ENTRIES 0x1fffffffu

/* Footer fields. */
#define F_COOKIE 0
#define F_FEATURES 8
#define F_VERSION 12
#define F_DATA_OFFSET 16
#define F_TIMESTAMP 24
#define F_CREATOR 28
#define F_CREATOR_VER 32
#define F_HOST_OS 36
#define F_ORIG_SIZE 40
#define F_CUR_SIZE 48
#define F_CYLS 56
#define F_HEADS 58
#define F_SECS 59
#define F_TYPE 60
#define F_CHECKSUM 64
#define F_UUID 68

/* Dynamic header fields. */
#define D_COOKIE 0
#define D_DATA_OFFSET 8
#define D_TABLE_OFFSET 16
#define D_VERSION 24
#define D_MAX_ENTRIES 28
#define D_BLOCK_SIZE 32
#define D_CHECKSUM 36

enum size_calc {
	CALC_AUTO,
	CALC_CHS,
	CALC_CURRENT
};

struct vpc_state {
	bool fixed;
	bool head;		    /* the footer was found at offset 0 */
	uint8_t footer[VPC_FOOTER]; /* as read; rewritten after new blocks */
	struct qimg_tcache bat;	    /* BE32 entries, a page at a time */
	bool bat_open;		    /* a dynamic header was read */
	uint32_t entries;
	uint32_t block_size;
	uint32_t bitmap_size; /* bytes before each block's data */
	uint64_t bat_offset;
	uint64_t free_offset; /* where the next block goes */
	uint64_t dh_offset;   /* the dynamic header */
	bool exact;	      /* the size is current_size, not the CHS's */
};

static const struct qimg_opt_desc vpc_runtime_opts[] = {
	{ "force_size_calc", QIMG_OPT_STRING,
	  "Force disk size calculation to use either CHS geometry, or use the "
	  "disk current_size specified in the VHD footer. "
	  "{chs, current_size}",
	  NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const vpc_strong_opts[] = { "force_size_calc", NULL };

static const struct qimg_opt_desc vpc_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "subformat", QIMG_OPT_STRING,
	  "Type of virtual hard disk format. Supported formats are "
	  "{dynamic (default) | fixed} ",
	  NULL },
	{ "force_size", QIMG_OPT_BOOL,
	  "Force disk size calculation to use the actual size specified, "
	  "rather than using the nearest CHS-based calculation",
	  NULL },
	{ NULL, 0, NULL, NULL },
};

/* One's complement of the byte sum, the checksum field counted as 0. */
static uint32_t vpc_checksum(const uint8_t *buf, size_t len, size_t field)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < len; i++)
		if (i < field || i >= field + 4)
			sum += buf[i];
	return ~sum;
}

static int vpc_probe(const uint8_t *head, size_t len, const char *filename)
{
	(void)filename;
	return len >= 8 && !memcmp(head, "conectix", 8) ? 100 : 0;
}

/* The VHD specification's geometry for `t` sectors (the product may be
 * less than t). */
static void vpc_geometry(uint64_t t, uint16_t *cyls, uint8_t *heads,
			 uint8_t *secs)
{
	uint64_t cth;
	uint32_t spt, h;

	if (t > VPC_CHS_MAX)
		t = VPC_CHS_MAX;
	if (t >= UINT64_C(65535) * 16 * 63) {
		spt = 255;
		h = 16;
		cth = t / spt;
	} else {
		spt = 17;
		cth = t / spt;
		h = (uint32_t)((cth + 1023) / 1024);
		if (h < 4)
			h = 4;
		if (cth >= (uint64_t)h * 1024 || h > 16) {
			spt = 31;
			h = 16;
			cth = t / spt;
		}
		if (cth >= (uint64_t)h * 1024) {
			spt = 63;
			h = 16;
			cth = t / spt;
		}
	}
	*cyls = (uint16_t)(cth / h);
	*heads = (uint8_t)h;
	*secs = (uint8_t)spt;
}

static bool chs_is_max(uint16_t c, uint8_t h, uint8_t s)
{
	return c == 65535 && h == 16 && s == 255;
}

/* Read file bytes as QEMU's block layer does: zeros past the end of the
 * file; a request past its largest offset or size fails. */
static int file_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, const char *what, struct qimg_error *err)
{
	if (len > VPC_MAX_REQUEST || off > VPC_MAX_OFFSET ||
	    len > VPC_MAX_OFFSET - off)
		return qimg_error_set(err, EIO, "%s", what);
	if (qimg_pread(node->file, off, buf, len, err) < 0) {
		qimg_error_prefix(err, "%s", what);
		return -EIO;
	}
	return 0;
}

/* The footer: at offset 0 (dynamic disks and copies), else at the end
 * (fixed disks, the only kind whose sole footer is there). */
static int read_footer(struct qimg_node *node, uint64_t file_len,
		       struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;
	int r;

	r = file_read(node, 0, s->footer, VPC_FOOTER, "Could not read footer",
		      err);
	if (r < 0)
		return r;
	s->head = !memcmp(s->footer + F_COOKIE, "conectix", 8);
	if (s->head)
		return 0;
	if (file_len < VPC_FOOTER)
		return qimg_error_set(err, EINVAL,
				      "File too small for a VHD header");
	r = file_read(node, file_len - VPC_FOOTER, s->footer, VPC_FOOTER,
		      "Could not read footer", err);
	if (r < 0)
		return r;
	if (memcmp(s->footer + F_COOKIE, "conectix", 8) ||
	    qimg_load_be32(s->footer + F_TYPE) != VPC_TYPE_FIXED)
		return qimg_error_set(err, EINVAL, "invalid VPC image");
	return 0;
}

/* Creators that write an exact current_size (QEMU 7.2's list). */
static bool creator_has_exact_size(const uint8_t *c)
{
	static const char *const exact[] = { "win ", "qem2", "d2v ", "CTXS",
					     "tap" };
	size_t i;

	for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!memcmp(c, exact[i], 4))
			return true;
	return false;
}

static int parse_calc(const struct qimg_opts *opts, enum size_calc *calc,
		      struct qimg_error *err)
{
	const char *v =
		opts ? qimg_opts_get_str(opts, "force_size_calc", NULL) : NULL;

	*calc = CALC_AUTO;
	if (!v)
		return 0;
	if (!strcmp(v, "chs"))
		*calc = CALC_CHS;
	else if (!strcmp(v, "current_size"))
		*calc = CALC_CURRENT;
	else
		return qimg_error_set(err, EINVAL,
				      "Invalid size calculation mode: '%s'", v);
	return 0;
}

/* Dynamic header, BAT, and where the next block goes; the checks and
 * messages are qemu-img's, in its order. */
static int open_dynamic(struct qimg_node *node, uint64_t sectors,
			uint64_t file_len, struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;
	uint8_t dh[VPC_DYN_SIZE];
	uint64_t bat_bytes, end, i, n;
	uint8_t *buf = NULL;
	int r;

	s->dh_offset = qimg_load_be64(s->footer + F_DATA_OFFSET);
	r = file_read(node, s->dh_offset, dh, sizeof(dh),
		      "Error reading dynamic VHD header", err);
	if (r < 0)
		return r;
	if (memcmp(dh + D_COOKIE, "cxsparse", 8))
		return qimg_error_set(err, EINVAL, "Invalid header magic");
	s->block_size = qimg_load_be32(dh + D_BLOCK_SIZE);
	if (s->block_size < VPC_SECTOR || (s->block_size & (s->block_size - 1)))
		return qimg_error_set(err, EINVAL, "Invalid block size %u",
				      s->block_size);
	s->bitmap_size =
		((s->block_size / VPC_SECTOR + 7) / 8 + VPC_SECTOR - 1) &
		~(VPC_SECTOR - 1);
	s->entries = qimg_load_be32(dh + D_MAX_ENTRIES);
	if (s->entries > VPC_MAX_ENTRIES)
		return qimg_error_set(err, EINVAL,
				      "Max Table Entries too large (%d)",
				      (int)s->entries);
	if ((uint64_t)s->entries * s->block_size < sectors * VPC_SECTOR)
		return qimg_error_set(err, EINVAL, "Page table too small");
	s->bat_offset = qimg_load_be64(dh + D_TABLE_OFFSET);
	bat_bytes = (uint64_t)s->entries * 4;
	if (bat_bytes > VPC_MAX_REQUEST || s->bat_offset > VPC_MAX_OFFSET ||
	    bat_bytes > VPC_MAX_OFFSET - s->bat_offset)
		return qimg_error_set(err, EIO, "Error reading pagetable");
	end = (s->bat_offset + bat_bytes + VPC_SECTOR - 1) &
	      ~(uint64_t)(VPC_SECTOR - 1);
	/* A table past the end of the file is refused below anyway: refuse
	 * it before allocating it. */
	if (end > file_len)
		goto truncated;
	buf = malloc(QIMG_TC_PAGE);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	qimg_tc_init(&s->bat, node->file, s->bat_offset, bat_bytes, bat_bytes);
	s->bat_open = true;
	/* the end of the last block, a page of entries at a time */
	for (i = 0; i < s->entries; i += n) {
		uint32_t *e = (uint32_t *)buf;
		uint64_t k;

		n = s->entries - i < QIMG_TC_PAGE / 4 ? s->entries - i
						      : QIMG_TC_PAGE / 4;
		r = qimg_tc_read_be32(&s->bat, i, e, (size_t)n, err);
		if (r < 0) {
			qimg_error_clear(err);
			r = qimg_error_set(err, EIO, "Error reading pagetable");
			goto fail;
		}
		for (k = 0; k < n; k++) {
			uint64_t next;

			if (e[k] == VPC_UNALLOCATED)
				continue;
			next = (uint64_t)e[k] * VPC_SECTOR + s->bitmap_size +
			       s->block_size;
			if (next > end)
				end = next;
		}
	}
	free(buf);
	buf = NULL;
	if (end > file_len) {
		r = 0;
		goto truncated;
	}
	s->free_offset = end;
	return 0;

truncated:
	r = qimg_error_set(err, EINVAL,
			   "block-vpc: free_data_block_offset points after "
			   "the end of file. The image has been truncated.");
fail:
	free(buf);
	if (s->bat_open)
		qimg_tc_free(&s->bat);
	s->bat_open = false;
	return r;
}

static int vpc_open(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;
	enum size_calc calc;
	uint64_t file_len, sectors;
	uint16_t c;
	uint8_t h, sp;
	int64_t len;
	int r;

	r = parse_calc(opts, &calc, err);
	if (r < 0)
		return r;
	len = qimg_node_length(node->file, err);
	if (len < 0)
		return (int)len;
	/* QEMU sees files in whole sectors. */
	file_len =
		((uint64_t)len + VPC_SECTOR - 1) & ~(uint64_t)(VPC_SECTOR - 1);
	r = read_footer(node, file_len, err);
	if (r < 0)
		return r;
	if (vpc_checksum(s->footer, VPC_FOOTER, F_CHECKSUM) !=
	    qimg_load_be32(s->footer + F_CHECKSUM))
		return qimg_error_set(err, EINVAL, "Incorrect header checksum");

	c = qimg_load_be16(s->footer + F_CYLS);
	h = s->footer[F_HEADS];
	sp = s->footer[F_SECS];
	s->exact = chs_is_max(c, h, sp) || calc == CALC_CURRENT ||
		   (calc == CALC_AUTO &&
		    creator_has_exact_size(s->footer + F_CREATOR));
	if (s->exact)
		sectors = qimg_load_be64(s->footer + F_CUR_SIZE) / VPC_SECTOR;
	else
		sectors = (uint64_t)c * h * sp;
	if (sectors > VPC_MAX_SECTORS)
		return qimg_error_set(err, EFBIG,
				      "Could not open '%s': File too large",
				      node->file->filename);

	/* A footer at offset 0 announces a dynamic header, which qemu-img
	 * reads and checks whatever the disk type says; only the type says
	 * how the data is laid out. */
	if (s->head) {
		r = open_dynamic(node, sectors, file_len, err);
		if (r < 0)
			return r;
	}
	s->fixed = qimg_load_be32(s->footer + F_TYPE) == VPC_TYPE_FIXED;
	if (!s->fixed) {
		node->cluster_size = s->block_size;
		node->zero_init = true;
	} else {
		node->zero_init = node->file->zero_init;
	}
	node->size = sectors * VPC_SECTOR;
	return 0;
}

static void vpc_close(struct qimg_node *node)
{
	struct vpc_state *s = node->opaque;

	if (s->bat_open)
		qimg_tc_free(&s->bat);
	s->bat_open = false;
}

/* BAT entry idx (VPC_UNALLOCATED past the table). */
static int bat_get(struct vpc_state *s, uint64_t idx, uint32_t *e,
		   struct qimg_error *err)
{
	*e = VPC_UNALLOCATED;
	if (idx >= s->entries)
		return 0;
	return qimg_tc_read_be32(&s->bat, idx, e, 1, err);
}

/* Entry idx set to e, on the disk and in the cache. */
static int bat_set(struct vpc_state *s, uint64_t idx, uint32_t e,
		   struct qimg_error *err)
{
	return qimg_tc_commit_be32(&s->bat, &idx, &e, 1, err);
}

/* *n: bytes of [off, off+len) inside one block; *host: where its data is
 * in the file (0: not allocated). */
static int block_span(struct vpc_state *s, uint64_t off, uint64_t len,
		      uint64_t *host, uint64_t *n, struct qimg_error *err)
{
	uint64_t idx = off / s->block_size, in = off % s->block_size;
	uint32_t e;
	int r = bat_get(s, idx, &e, err);

	*host = 0;
	if (r < 0)
		return r;
	if (e != VPC_UNALLOCATED)
		*host = (uint64_t)e * VPC_SECTOR + s->bitmap_size + in;
	*n = s->block_size - in < len ? s->block_size - in : len;
	return 0;
}

static int vpc_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;
	uint8_t *p = buf;

	if (s->fixed)
		return qimg_pread(node->file, off, buf, len, err);
	while (len) {
		uint64_t host, n;
		int r = block_span(s, off, len, &host, &n, err);

		if (r < 0)
			return r;
		if (!host) {
			memset(p, 0, n);
		} else {
			r = file_read(node, host, p, n, "Input/output error",
				      err);
			if (r < 0)
				return r;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static void footer_seal(uint8_t *f)
{
	qimg_store_be32(f + F_CHECKSUM,
			vpc_checksum(f, VPC_FOOTER, F_CHECKSUM));
}

/* A new block at the free offset: the footer moves past it first, then
 * its bitmap (every sector present, as QEMU writes it) and, after a
 * flush, the BAT entry.  A crash in between leaves at worst unused bytes
 * at the end. */
static int alloc_block(struct qimg_node *node, uint64_t idx,
		       struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;
	uint64_t at = s->free_offset, end;
	uint8_t *bitmap;
	int r;

	end = at + s->bitmap_size + s->block_size;
	if (at / VPC_SECTOR >= VPC_UNALLOCATED)
		return qimg_error_set(err, EFBIG,
				      "No space left for a new block in '%s'",
				      node->filename);
	r = qimg_pwrite(node->file, end, s->footer, VPC_FOOTER, err);
	if (r < 0)
		return r;
	bitmap = malloc(s->bitmap_size);
	if (!bitmap)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	memset(bitmap, 0xff, s->bitmap_size);
	r = qimg_pwrite(node->file, at, bitmap, s->bitmap_size, err);
	free(bitmap);
	if (r == 0)
		r = qimg_flush(node->file, err);
	if (r < 0)
		return r;
	r = bat_set(s, idx, (uint32_t)(at / VPC_SECTOR), err);
	if (r < 0)
		return r;
	s->free_offset = end;
	return 0;
}

static int vpc_write(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;
	const uint8_t *p = buf;

	if (s->fixed)
		return qimg_pwrite(node->file, off, buf, len, err);
	while (len) {
		uint64_t host, n;
		int r = block_span(s, off, len, &host, &n, err);

		if (r < 0)
			return r;
		if (!host) {
			r = alloc_block(node, off / s->block_size, err);
			if (r == 0)
				r = block_span(s, off, len, &host, &n, err);
			if (r < 0)
				return r;
		}
		r = qimg_pwrite(node->file, host, p, n, err);
		if (r < 0)
			return r;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int vpc_flush(struct qimg_node *node, struct qimg_error *err)
{
	return qimg_flush(node->file, err);
}

static int vpc_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_extent *ext, struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;
	uint64_t host, n, h2, m;
	int r;

	if (s->fixed) {
		/* Data, and zero where the file has holes (as qemu-img map
		 * reports fixed images). */
		ext->len = len;
		ext->flags =
			QIMG_BS_DATA | QIMG_BS_OFFSET_VALID | QIMG_BS_RECURSE;
		ext->map = off;
		ext->file = node->file;
		return 0;
	}
	r = block_span(s, off, len, &host, &n, err);
	if (r < 0)
		return r;
	/* Runs of blocks of the same kind (allocated ones contiguous in the
	 * file) in one answer, the entries read 512 at a time. */
	while (n < len) {
		uint64_t idx = (off + n) / s->block_size, k, w;
		uint32_t e[512];

		if (idx >= s->entries) {
			h2 = 0;
			m = len - n;
			if (host)
				break;
			n += m;
			continue;
		}
		w = s->entries - idx < 512 ? s->entries - idx : 512;
		r = qimg_tc_read_be32(&s->bat, idx, e, (size_t)w, err);
		if (r < 0)
			return r;
		for (k = 0; k < w && n < len; k++) {
			h2 = e[k] == VPC_UNALLOCATED
				     ? 0
				     : (uint64_t)e[k] * VPC_SECTOR +
					       s->bitmap_size;
			if (!host != !h2 || (host && h2 != host + n))
				goto done;
			m = s->block_size < len - n ? s->block_size : len - n;
			n += m;
		}
	}
done:
	ext->len = n;
	if (!host) {
		ext->flags = QIMG_BS_ZERO | QIMG_BS_ALLOCATED;
	} else {
		ext->flags =
			QIMG_BS_DATA | QIMG_BS_ALLOCATED | QIMG_BS_OFFSET_VALID;
		ext->map = host;
		ext->file = node->file;
	}
	return 0;
}

static int vpc_get_info(struct qimg_node *node, struct qimg_image_info *info,
			struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;

	(void)err;
	info->has_info = true;
	info->cluster_size = s->fixed ? 0 : s->block_size;
	return 0;
}

/* ---- create ---- */

/* The size qemu-img gives a new image of `bytes`, with its geometry. */
static int create_geometry(uint64_t bytes, bool force, uint64_t *sectors,
			   uint16_t *c, uint8_t *h, uint8_t *sp)
{
	uint64_t t = bytes / VPC_SECTOR + !!(bytes % VPC_SECTOR), i;

	if (force) {
		*c = 65535;
		*h = 16;
		*sp = 255;
		*sectors = t;
	} else if (t == 0) {
		*c = 0;
		*h = 0;
		*sp = 0;
		*sectors = 0;
	} else {
		/* The smallest geometry holding t sectors (the largest one
		 * holds any size: the exact size is kept then). */
		for (i = 0;; i++) {
			vpc_geometry(t + i, c, h, sp);
			if ((uint64_t)*c * *h * *sp >= t ||
			    chs_is_max(*c, *h, *sp))
				break;
		}
		*sectors =
			chs_is_max(*c, *h, *sp) ? t : (uint64_t)*c * *h * *sp;
	}
	return *sectors > VPC_MAX_SECTORS ? -EFBIG : 0;
}

static int vpc_create_validate(const struct qimg_opts *o,
			       struct qimg_error *err)
{
	const char *sub = qimg_opts_get_str(o, "subformat", "dynamic");

	if (strcmp(sub, "dynamic") && strcmp(sub, "fixed"))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'subformat' does not accept "
				      "value '%s'",
				      sub);
	return 0;
}

static void fill_footer(uint8_t *f, uint64_t sectors, uint16_t c, uint8_t h,
			uint8_t sp, bool fixed, bool force)
{
	time_t now = time(NULL);

	memset(f, 0, VPC_FOOTER);
	memcpy(f + F_COOKIE, "conectix", 8);
	qimg_store_be32(f + F_FEATURES, 2);
	qimg_store_be32(f + F_VERSION, 0x00010000);
	qimg_store_be64(f + F_DATA_OFFSET, fixed ? UINT64_MAX : VPC_FOOTER);
	qimg_store_be32(f + F_TIMESTAMP, (uint32_t)(now - VPC_EPOCH));
	memcpy(f + F_CREATOR, force ? "qem2" : "qemu", 4);
	qimg_store_be32(f + F_CREATOR_VER, 0x00050003);
	memcpy(f + F_HOST_OS, "Wi2k", 4);
	qimg_store_be64(f + F_ORIG_SIZE, sectors * VPC_SECTOR);
	qimg_store_be64(f + F_CUR_SIZE, sectors * VPC_SECTOR);
	qimg_store_be16(f + F_CYLS, c);
	f[F_HEADS] = h;
	f[F_SECS] = sp;
	qimg_store_be32(f + F_TYPE, fixed ? VPC_TYPE_FIXED : VPC_TYPE_DYNAMIC);
	if (getrandom(f + F_UUID, 16, 0) != 16) {
		/* Not secret: any distinct value does. */
		uint64_t x = (uint64_t)now * 6364136223846793005u ^
			     (uint64_t)(uintptr_t)f;

		qimg_store_be64(f + F_UUID, x);
		qimg_store_be64(f + F_UUID + 8, ~x);
	}
	f[F_UUID + 6] = (f[F_UUID + 6] & 0x0f) | 0x40;
	f[F_UUID + 8] = (f[F_UUID + 8] & 0x3f) | 0x80;
	footer_seal(f);
}

static int create_dynamic(struct qimg_node *file, const uint8_t *footer,
			  uint64_t sectors, struct qimg_error *err)
{
	uint64_t entries =
		(sectors * VPC_SECTOR + VPC_BLOCK_SIZE - 1) / VPC_BLOCK_SIZE;
	uint64_t bat_bytes =
		(entries * 4 + VPC_SECTOR - 1) & ~(uint64_t)(VPC_SECTOR - 1);
	uint64_t bat_off = VPC_FOOTER + VPC_DYN_SIZE;
	uint8_t *buf;
	size_t total = (size_t)(bat_off + bat_bytes + VPC_FOOTER);
	uint8_t *dh;
	int r;

	buf = malloc(total);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	memset(buf, 0, total);
	memcpy(buf, footer, VPC_FOOTER);
	dh = buf + VPC_FOOTER;
	memcpy(dh + D_COOKIE, "cxsparse", 8);
	qimg_store_be64(dh + D_DATA_OFFSET, UINT64_MAX);
	qimg_store_be64(dh + D_TABLE_OFFSET, bat_off);
	qimg_store_be32(dh + D_VERSION, 0x00010000);
	qimg_store_be32(dh + D_MAX_ENTRIES, (uint32_t)entries);
	qimg_store_be32(dh + D_BLOCK_SIZE, VPC_BLOCK_SIZE);
	qimg_store_be32(dh + D_CHECKSUM,
			vpc_checksum(dh, VPC_DYN_SIZE, D_CHECKSUM));
	memset(buf + bat_off, 0xff, bat_bytes);
	memcpy(buf + bat_off + bat_bytes, footer, VPC_FOOTER);
	r = qimg_pwrite(file, 0, buf, total, err);
	free(buf);
	return r;
}

static int vpc_create(struct qimg_node *file, const struct qimg_opts *o,
		      struct qimg_error *err)
{
	bool fixed =
		!strcmp(qimg_opts_get_str(o, "subformat", "dynamic"), "fixed");
	bool force = qimg_opts_get_bool(o, "force_size", false);
	uint8_t footer[VPC_FOOTER];
	uint64_t sectors;
	uint16_t c;
	uint8_t h, sp;
	int r;

	r = create_geometry(qimg_opts_get_u64(o, "size", 0), force, &sectors,
			    &c, &h, &sp);
	if (r < 0)
		return r;
	fill_footer(footer, sectors, c, h, sp, fixed, force);
	if (!fixed)
		return create_dynamic(file, footer, sectors, err);
	r = qimg_truncate(file, sectors * VPC_SECTOR, 0, NULL, err);
	/* The first 4 KiB of data are allocated, as qemu-img leaves them. */
	if (r == 0 && sectors) {
		static const uint8_t zero[4096];
		uint64_t n = sectors * VPC_SECTOR;

		r = qimg_pwrite(file, 0, zero, n < 4096 ? (size_t)n : 4096,
				err);
	}
	if (r == 0)
		r = qimg_pwrite(file, sectors * VPC_SECTOR, footer, VPC_FOOTER,
				err);
	return r;
}

/* ---- resize (qemu-img 7.2 refuses it) ---- */

/* The footer for `sectors` with its geometry: the CHS product rules the
 * size (create's rounding) unless the image's size is its current_size
 * (then the geometry is the specification's for it, or the largest one
 * for qemu's force_size images, as create writes them). */
static int resize_footer(struct vpc_state *s, uint64_t bytes, uint8_t *f,
			 uint64_t *sectors)
{
	uint64_t t = bytes / VPC_SECTOR + !!(bytes % VPC_SECTOR);
	uint16_t c;
	uint8_t h, sp;

	if (s->exact) {
		*sectors = t;
		if (!memcmp(s->footer + F_CREATOR, "qem2", 4) ||
		    chs_is_max(qimg_load_be16(s->footer + F_CYLS),
			       s->footer[F_HEADS], s->footer[F_SECS])) {
			c = 65535;
			h = 16;
			sp = 255;
		} else {
			vpc_geometry(t, &c, &h, &sp);
		}
		if (t > VPC_MAX_SECTORS)
			return -EFBIG;
	} else if (create_geometry(bytes, false, sectors, &c, &h, &sp) < 0) {
		return -EFBIG;
	}
	memcpy(f, s->footer, VPC_FOOTER);
	qimg_store_be64(f + F_CUR_SIZE, *sectors * VPC_SECTOR);
	qimg_store_be16(f + F_CYLS, c);
	f[F_HEADS] = h;
	f[F_SECS] = sp;
	footer_seal(f);
	return 0;
}

/* Are the file's bytes [from, to) all zero (holes or zeros)? *at: the
 * first sector that is not. */
static int file_zero(struct qimg_node *node, uint64_t from, uint64_t to,
		     bool *zero, uint64_t *at, struct qimg_error *err)
{
	const size_t chunk = 1u << 20;
	uint8_t *buf = malloc(chunk);
	int r = 0;

	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	*zero = true;
	while (r == 0 && from < to && *zero) {
		struct qimg_extent ext = { 0 };
		uint64_t n = to - from, i;

		r = qimg_block_status(node->file, from, n, &ext, err);
		if (r < 0)
			break;
		n = ext.len && ext.len < n ? ext.len : n;
		if (ext.flags & QIMG_BS_ZERO) {
			from += n;
			continue;
		}
		if (n > chunk)
			n = chunk;
		r = qimg_pread(node->file, from, buf, (size_t)n, err);
		for (i = 0; r == 0 && i < n; i++)
			if (buf[i]) {
				*zero = false;
				*at = (from + i) / VPC_SECTOR * VPC_SECTOR;
				break;
			}
		from += n;
	}
	free(buf);
	return r;
}

/* Fixed: the new footer goes past the new end first (a crash then leaves
 * the new size with the old footer's bytes in the grown area, or, when
 * shrinking, the old size with the new footer's bytes over zeros past
 * the new end); then the old one is cleared or cut off. */
static int resize_fixed(struct qimg_node *node, uint64_t bytes,
			const uint8_t *f, struct qimg_error *err)
{
	uint64_t old = node->size, foot;
	int64_t len = qimg_node_length(node->file, err);
	bool zero = true;
	uint64_t at = 0;
	int r;

	if (len < 0)
		return (int)len;
	foot = (uint64_t)len >= VPC_FOOTER ? (uint64_t)len - VPC_FOOTER : 0;
	if (bytes < old) {
		r = file_zero(node, bytes, old, &zero, &at, err);
		if (r < 0)
			return r;
		if (!zero)
			return qimg_error_set(err, ENOTSUP,
					      "Cannot shrink the image: offset "
					      "%" PRIu64 " past the new end "
					      "holds data",
					      at);
	}
	/* bytes between the old end and its footer (other tools') */
	if (bytes > old && foot > old) {
		r = qimg_write_zeroes(node->file, old,
				      (bytes < foot ? bytes : foot) - old, 0,
				      err);
		if (r < 0)
			return r;
	}
	r = qimg_pwrite(node->file, bytes, f, VPC_FOOTER, err);
	if (r == 0)
		r = qimg_flush(node->file, err);
	if (r < 0)
		return r;
	if (bytes > foot) {
		/* the old footer now lies in the data */
		uint64_t z =
			foot + VPC_FOOTER < bytes ? VPC_FOOTER : bytes - foot;

		r = qimg_write_zeroes(node->file, foot, z, 0, err);
	} else if (bytes < foot) {
		r = qimg_truncate(node->file, bytes + VPC_FOOTER,
				  QIMG_TRUNCATE_SHRINK, NULL, err);
	}
	return r;
}

/* Where the BAT could end without meeting anything: the first block, the
 * dynamic header or the end footer after it. */
static int bat_room(struct vpc_state *s, uint64_t file_len, uint64_t *room,
		    struct qimg_error *err)
{
	uint64_t lim = file_len >= VPC_FOOTER ? file_len - VPC_FOOTER : 0, i;
	int r;

	if (s->dh_offset > s->bat_offset && s->dh_offset < lim)
		lim = s->dh_offset;
	for (i = 0; i < s->entries; i++) {
		uint32_t e;
		uint64_t b;

		r = bat_get(s, i, &e, err);
		if (r < 0)
			return r;
		b = (uint64_t)e * VPC_SECTOR;
		if (e != VPC_UNALLOCATED && b >= s->bat_offset && b < lim)
			lim = b;
	}
	*room = lim > s->bat_offset ? lim - s->bat_offset : 0;
	return 0;
}

/* The first sector of the dynamic header with a new table. */
static int write_dyn_header(struct qimg_node *node, uint64_t table,
			    uint32_t entries, struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;
	uint8_t dh[VPC_DYN_SIZE];
	int r;

	r = file_read(node, s->dh_offset, dh, sizeof(dh),
		      "Error reading dynamic VHD header", err);
	if (r < 0)
		return r;
	qimg_store_be64(dh + D_TABLE_OFFSET, table);
	qimg_store_be32(dh + D_MAX_ENTRIES, entries);
	qimg_store_be32(dh + D_CHECKSUM,
			vpc_checksum(dh, VPC_DYN_SIZE, D_CHECKSUM));
	/* every changed field is in the first sector: it lands whole */
	r = qimg_pwrite(node->file, s->dh_offset, dh, VPC_SECTOR, err);
	if (r == 0)
		r = qimg_flush(node->file, err);
	return r;
}

/* A bigger table for `n` entries: in place when the room after it
 * allows, else written anew at the end of the file (the end footer moved
 * past it first); the dynamic header names it after a flush.  A crash
 * leaves the old table or the new one, never a mix. */
static int grow_bat(struct qimg_node *node, uint32_t n, struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;
	uint64_t bytes = ((uint64_t)n * 4 + VPC_SECTOR - 1) &
			 ~(uint64_t)(VPC_SECTOR - 1);
	uint64_t at = s->bat_offset, room, keep = (uint64_t)s->entries * 4;
	int64_t len = qimg_node_length(node->file, err);
	int r;

	if (len < 0)
		return (int)len;
	r = bat_room(s, (uint64_t)len, &room, err);
	if (r < 0)
		return r;
	if (bytes > room)
		at = s->free_offset;
	if (at / VPC_SECTOR >= VPC_UNALLOCATED)
		return qimg_error_set(err, EFBIG,
				      "No space left for a new table in '%s'",
				      node->filename);
	r = 0;
	if (at != s->bat_offset)
		r = qimg_pwrite(node->file, at + bytes, s->footer, VPC_FOOTER,
				err);
	/* the old entries as they are, then unallocated ones */
	if (r == 0)
		r = qimg_tc_copy_out(&s->bat, at, keep, bytes, 0xff, err);
	if (r == 0)
		r = qimg_flush(node->file, err);
	if (r == 0)
		r = write_dyn_header(node, at, n, err);
	if (r < 0)
		return r;
	s->bat_offset = at;
	s->entries = n;
	qimg_tc_reset(&s->bat, at, (uint64_t)n * 4, (uint64_t)n * 4);
	if (s->free_offset < at + bytes)
		s->free_offset = at + bytes;
	return 0;
}

/* Dynamic: blocks past the new end must be unallocated; the table grows
 * when it must, the part of the last block past the end is zeroed, then
 * the footers (the one at the end, then the copy at 0 that qemu reads). */
static int resize_dynamic(struct qimg_node *node, uint64_t bytes,
			  const uint8_t *f, struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;
	uint64_t need = (bytes + s->block_size - 1) / s->block_size;
	uint64_t old = node->size, lo = bytes < old ? bytes : old, i;
	uint64_t last = lo / s->block_size;
	uint32_t le = VPC_UNALLOCATED;
	int r = 0;

	if (need > VPC_MAX_ENTRIES)
		return qimg_error_set(err, EFBIG,
				      "The image size is too large for file "
				      "format 'vpc'");
	for (i = need; i < s->entries && i * s->block_size < old; i++) {
		uint32_t e;

		r = bat_get(s, i, &e, err);
		if (r < 0)
			return r;
		if (e != VPC_UNALLOCATED)
			return qimg_error_set(err, ENOTSUP,
					      "Cannot shrink the image: block "
					      "%" PRIu64 " past the new end is "
					      "allocated",
					      i);
	}
	if (need > s->entries) {
		r = grow_bat(node, (uint32_t)need, err);
		if (r < 0)
			return r;
	}
	/* Blocks named past the old end (other tools' images) are dropped
	 * so that the new area reads as zeros. */
	for (i = (old + s->block_size - 1) / s->block_size;
	     r == 0 && i < need && i < s->entries; i++) {
		uint32_t e;

		r = bat_get(s, i, &e, err);
		if (r == 0 && e != VPC_UNALLOCATED)
			r = bat_set(s, i, VPC_UNALLOCATED, err);
	}
	/* The last block kept, past the smaller end, holds zeros. */
	if (r == 0 && lo % s->block_size)
		r = bat_get(s, last, &le, err);
	if (r == 0 && lo % s->block_size && le != VPC_UNALLOCATED)
		r = qimg_write_zeroes(
			node->file,
			(uint64_t)le * VPC_SECTOR + s->bitmap_size +
				lo % s->block_size,
			s->block_size - lo % s->block_size, 0, err);
	if (r == 0)
		r = qimg_flush(node->file, err);
	if (r == 0)
		r = qimg_pwrite(node->file, s->free_offset, f, VPC_FOOTER, err);
	if (r == 0)
		r = qimg_flush(node->file, err);
	if (r == 0)
		r = qimg_pwrite(node->file, 0, f, VPC_FOOTER, err);
	return r;
}

static int vpc_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			const char *prealloc, struct qimg_error *err)
{
	struct vpc_state *s = node->opaque;
	uint8_t f[VPC_FOOTER];
	uint64_t sectors;
	int r;

	(void)flags;
	r = qimg_truncate_prealloc_off(prealloc, err);
	if (r < 0)
		return r;
	if (!s->fixed && !s->bat_open)
		return qimg_error_set(err, ENOTSUP,
				      "Cannot resize '%s': no block table",
				      node->filename);
	if (resize_footer(s, size, f, &sectors) < 0)
		return qimg_error_set(err, EFBIG,
				      "The image size is too large for file "
				      "format 'vpc'");
	if (sectors * VPC_SECTOR == node->size)
		return 0;
	r = s->fixed ? resize_fixed(node, sectors * VPC_SECTOR, f, err)
		     : resize_dynamic(node, sectors * VPC_SECTOR, f, err);
	if (r == 0)
		r = qimg_flush(node->file, err);
	if (r < 0)
		return r;
	memcpy(s->footer, f, VPC_FOOTER);
	node->size = sectors * VPC_SECTOR;
	return 0;
}

const struct qimg_driver qimg_driver_vpc = {
	.name = "vpc",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct vpc_state),
	.create_opts = vpc_create_opts,
	.runtime_opts = vpc_runtime_opts,
	.strong_opts = vpc_strong_opts,
	.probe = vpc_probe,
	.open = vpc_open,
	.close = vpc_close,
	.create_validate = vpc_create_validate,
	.create_file_first = true,
	.create = vpc_create,
	.read = vpc_read,
	.write = vpc_write,
	.flush = vpc_flush,
	.truncate = vpc_truncate,
	.block_status = vpc_block_status,
	.get_info = vpc_get_info,
};
