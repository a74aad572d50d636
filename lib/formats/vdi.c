/* SPDX-License-Identifier: MIT */
/* VirtualBox VDI images (header version 1.1), static and dynamic, as
 * qemu-img 7.2 reads and writes them: a 512-byte header sector, a block
 * map of little-endian 32-bit block indices (0xffffffff never written,
 * 0xfffffffe discarded; both read as zeros), then the 1 MiB data blocks in
 * the order they were allocated.  Beyond qemu-img: resize (grow, and shrink
 * when the blocks past the new end are free). */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/driver.h"
#include "formats/table-cache.h"
#include "formats/vdi.h"
#include "util/endian.h"

#define VDI_SECTOR 512u
#define VDI_SIGNATURE 0xbeda107fu
#define VDI_VERSION 0x00010001u
#define VDI_HEADER_SIZE 0x180u /* what qemu-img writes (VBox: 0x190) */
#define VDI_TYPE_DYNAMIC 1u
#define VDI_TYPE_STATIC 2u
#define VDI_BLOCK_SIZE 0x100000u
#define VDI_FREE 0xffffffffu
#define VDI_ZERO 0xfffffffeu
/* qemu-img's limits: the map of a 2^31 - 512 byte buffer. */
#define VDI_MAX_BLOCKS ((UINT32_C(0x80000000) - VDI_SECTOR) / 4)
#define VDI_MAX_SIZE ((uint64_t)VDI_MAX_BLOCKS * VDI_BLOCK_SIZE)
/* Entries a map scan reads at a time. */
#define VDI_SCAN 16384u
/* check: entries past the end of the file reported one by one. */
#define VDI_CHECK_LINES_PAST 100000u

/* Header fields (offsets in the file, little endian). */
#define OFF_SIGNATURE 0x40
#define OFF_VERSION 0x44
#define OFF_HEADER_SIZE 0x48
#define OFF_TYPE 0x4c
#define OFF_BMAP 0x154
#define OFF_DATA 0x158
#define OFF_SECTOR_SIZE 0x168
#define OFF_DISK_SIZE 0x170
#define OFF_BLOCK_SIZE 0x178
#define OFF_BLOCKS 0x180
#define OFF_ALLOCATED 0x184
#define OFF_UUID_IMAGE 0x188
#define OFF_UUID_MODIFY 0x198
#define OFF_UUID_LINK 0x1a8
#define OFF_UUID_PARENT 0x1b8

static const char vdi_text[] = "<<< QEMU VM Virtual Disk Image >>>\n";

struct vdi_state {
	uint8_t hdr[VDI_SECTOR]; /* sector 0 as read, kept up to date */
	/* The block map, a page at a time (up to 2 GiB: 4 bytes a MiB);
	 * past what the file holds it reads as zeros, as the file does. */
	struct qimg_tcache map;
	bool map_open;
	uint32_t blocks;    /* blocks in image */
	uint32_t allocated; /* blocks allocated (the next index) */
	uint32_t bmap_off, data_off;
	uint32_t type;
	uint64_t disk_size; /* rounded up to sectors */
};

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Entry i of the map; entries past the end of the file read as zero, as
 * the file reads there. */
static int map_get(struct vdi_state *s, uint64_t i, uint32_t *e,
		   struct qimg_error *err)
{
	return qimg_tc_read_le32(&s->map, i, e, 1, err);
}

static bool is_allocated(uint32_t e)
{
	return e < VDI_ZERO;
}

/* Bytes of a map of `blocks` entries the file holds, up to its length
 * (sector multiples, as qemu-img reads the map). */
static uint64_t map_held(const struct vdi_state *s, uint64_t flen,
			 uint32_t blocks)
{
	uint64_t bytes = round_up((uint64_t)blocks * 4, VDI_SECTOR);
	uint64_t avail = flen > s->bmap_off
				 ? round_up(flen - s->bmap_off, VDI_SECTOR)
				 : 0;

	return bytes < avail ? bytes : avail;
}

static int vdi_probe(const uint8_t *head, size_t len, const char *filename)
{
	(void)filename;
	if (len < OFF_SIGNATURE + 4)
		return 0;
	return qimg_load_le32(head + OFF_SIGNATURE) == VDI_SIGNATURE ? 100 : 0;
}

static bool uuid_is_null(const uint8_t *u)
{
	static const uint8_t zero[16];

	return !memcmp(u, zero, sizeof(zero));
}

/* The header checks, with qemu-img's texts in its order. */
static int check_header(struct qimg_node *node, struct vdi_state *s,
			struct qimg_error *err)
{
	const uint8_t *h = s->hdr;
	uint32_t v = qimg_load_le32(h + OFF_VERSION);
	uint32_t sig = qimg_load_le32(h + OFF_SIGNATURE);
	uint32_t bs = qimg_load_le32(h + OFF_BLOCK_SIZE);
	uint32_t ss = qimg_load_le32(h + OFF_SECTOR_SIZE);
	uint64_t disk = qimg_load_le64(h + OFF_DISK_SIZE);

	(void)node;
	s->bmap_off = qimg_load_le32(h + OFF_BMAP);
	s->data_off = qimg_load_le32(h + OFF_DATA);
	s->blocks = qimg_load_le32(h + OFF_BLOCKS);
	s->allocated = qimg_load_le32(h + OFF_ALLOCATED);
	s->type = qimg_load_le32(h + OFF_TYPE);
	/* the size before anything else, the signature included */
	if (disk > VDI_MAX_SIZE)
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported VDI image size (size is "
				      "0x%" PRIx64
				      ", max supported is 0x%" PRIx64 ")",
				      disk, VDI_MAX_SIZE);
	if (sig != VDI_SIGNATURE)
		return qimg_error_set(err, EINVAL,
				      "Image not in VDI format (bad signature "
				      "%08" PRIx32 ")",
				      sig);
	if (v != VDI_VERSION)
		return qimg_error_set(err, ENOTSUP,
				      "unsupported VDI image (version %" PRIu32
				      ".%" PRIu32 ")",
				      v >> 16, v & 0xffff);
	if (s->bmap_off % VDI_SECTOR)
		return qimg_error_set(err, ENOTSUP,
				      "unsupported VDI image (unaligned block "
				      "map offset 0x%" PRIx32 ")",
				      s->bmap_off);
	if (s->data_off % VDI_SECTOR)
		return qimg_error_set(err, ENOTSUP,
				      "unsupported VDI image (unaligned data "
				      "offset 0x%" PRIx32 ")",
				      s->data_off);
	if (ss != VDI_SECTOR)
		return qimg_error_set(
			err, ENOTSUP,
			"unsupported VDI image (sector size %" PRIu32
			" is not %u)",
			ss, VDI_SECTOR);
	if (bs != VDI_BLOCK_SIZE)
		return qimg_error_set(
			err, ENOTSUP,
			"unsupported VDI image (block size %" PRIu32
			" is not %u)",
			bs, VDI_BLOCK_SIZE);
	/* VirtualBox may write sizes that are no sector multiple. */
	s->disk_size = round_up(disk, VDI_SECTOR);
	if (s->disk_size > (uint64_t)s->blocks * VDI_BLOCK_SIZE)
		return qimg_error_set(
			err, ENOTSUP,
			"unsupported VDI image (disk size %" PRIu64
			", image bitmap has room for %" PRIu64 ")",
			s->disk_size, (uint64_t)s->blocks * VDI_BLOCK_SIZE);
	if (!uuid_is_null(h + OFF_UUID_LINK))
		return qimg_error_set(err, ENOTSUP,
				      "unsupported VDI image (non-NULL link "
				      "UUID)");
	if (!uuid_is_null(h + OFF_UUID_PARENT))
		return qimg_error_set(err, ENOTSUP,
				      "unsupported VDI image (non-NULL parent "
				      "UUID)");
	if (s->blocks > VDI_MAX_BLOCKS)
		return qimg_error_set(err, ENOTSUP,
				      "unsupported VDI image (too many blocks "
				      "%" PRIu32 ", max is %" PRIu32 ")",
				      s->blocks, VDI_MAX_BLOCKS);
	return 0;
}

static int vdi_open(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err)
{
	struct vdi_state *s = node->opaque;
	int64_t flen;
	int r;

	(void)opts;
	flen = qimg_node_length(node->file, err);
	if (flen < 0)
		return (int)flen;
	r = qimg_pread(node->file, 0, s->hdr, sizeof(s->hdr), err);
	if (r < 0)
		return r;
	r = check_header(node, s, err);
	if (r < 0)
		return r;
	/* The part of the map the file has is read from it, the rest reads
	 * as zeros (what a read past the end of the file gives). */
	qimg_tc_init(&s->map, node->file, s->bmap_off, (uint64_t)s->blocks * 4,
		     map_held(s, (uint64_t)flen, s->blocks));
	s->map_open = true;
	node->size = s->disk_size;
	node->cluster_size = VDI_BLOCK_SIZE;
	node->zero_init = true;
	node->limits.request_align = VDI_SECTOR;
	return 0;
}

static void vdi_close(struct qimg_node *node)
{
	struct vdi_state *s = node->opaque;

	if (s->map_open)
		qimg_tc_free(&s->map);
	s->map_open = false;
}

static uint64_t block_host(const struct vdi_state *s, uint32_t idx)
{
	return s->data_off + (uint64_t)idx * VDI_BLOCK_SIZE;
}

static int vdi_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct vdi_state *s = node->opaque;
	uint8_t *p = buf;
	int r;

	while (len) {
		uint64_t blk = off / VDI_BLOCK_SIZE;
		uint32_t in = (uint32_t)(off % VDI_BLOCK_SIZE);
		size_t n = VDI_BLOCK_SIZE - in;
		uint32_t e;

		r = map_get(s, blk, &e, err);
		if (r < 0)
			return r;
		if (n > len)
			n = len;
		if (!is_allocated(e)) {
			memset(p, 0, n);
		} else {
			r = qimg_pread(node->file, block_host(s, e) + in, p, n,
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

/* The new blocks of one write. */
struct vdi_allocs {
	uint64_t *blk; /* guest blocks */
	uint32_t *idx; /* their new block indices */
	size_t n;
};

/* Allocate a new block for guest block blk holding `n` bytes of `data` at
 * `in`, the rest zeros, written whole at the end of the data area; its
 * entry joins `a` (the map names it once the count is on the disk). */
static int alloc_block(struct qimg_node *node, uint64_t blk, uint32_t in,
		       const uint8_t *data, size_t n, uint8_t **scratch,
		       struct vdi_allocs *a, struct qimg_error *err)
{
	struct vdi_state *s = node->opaque;
	const uint8_t *src = data;
	uint32_t idx = s->allocated;
	int r;

	if (idx >= VDI_ZERO)
		return qimg_error_set(err, ENOSPC,
				      "%s: no block index left to allocate",
				      node->filename);
	if (n != VDI_BLOCK_SIZE) {
		if (!*scratch) {
			*scratch = malloc(VDI_BLOCK_SIZE);
			if (!*scratch)
				return qimg_error_set(err, ENOMEM,
						      "Out of memory");
		}
		memset(*scratch, 0, VDI_BLOCK_SIZE);
		memcpy(*scratch + in, data, n);
		src = *scratch;
	}
	r = qimg_pwrite(node->file, block_host(s, idx), src, VDI_BLOCK_SIZE,
			err);
	if (r < 0)
		return r;
	a->blk[a->n] = blk;
	a->idx[a->n++] = idx;
	s->allocated = idx + 1;
	qimg_store_le32(s->hdr + OFF_ALLOCATED, s->allocated);
	return 0;
}

/* The header with the new count, then the entries.  The count reaches the
 * disk first, with the blocks (a flush between, as a power cut may tear
 * even one write at a sector boundary): a crash then leaves a block
 * counted but unused, never a count that a later allocation would reuse
 * or an entry naming a block that is not there. */
static int commit_allocs(struct qimg_node *node, const struct vdi_allocs *a,
			 struct qimg_error *err)
{
	struct vdi_state *s = node->opaque;
	int r;

	r = qimg_pwrite(node->file, 0, s->hdr, VDI_SECTOR, err);
	if (r == 0)
		r = qimg_flush(node->file, err);
	if (r == 0)
		r = qimg_tc_commit_le32(&s->map, a->blk, a->idx, a->n, err);
	return r;
}

static int vdi_write(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err)
{
	struct vdi_state *s = node->opaque;
	size_t most = len / VDI_BLOCK_SIZE + 2;
	struct vdi_allocs a = { malloc(most * sizeof(uint64_t)),
				malloc(most * sizeof(uint32_t)), 0 };
	const uint8_t *p = buf;
	uint8_t *scratch = NULL;
	int r = 0;

	if (!a.blk || !a.idx)
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	while (r == 0 && len) {
		uint64_t blk = off / VDI_BLOCK_SIZE;
		uint32_t in = (uint32_t)(off % VDI_BLOCK_SIZE), e;
		size_t n = VDI_BLOCK_SIZE - in;

		if (n > len)
			n = len;
		r = map_get(s, blk, &e, err);
		if (r < 0)
			break;
		if (is_allocated(e))
			r = qimg_pwrite(node->file, block_host(s, e) + in, p, n,
					err);
		else
			r = alloc_block(node, blk, in, p, n, &scratch, &a, err);
		p += n;
		off += n;
		len -= n;
	}
	free(scratch);
	/* Even after a failure, record the blocks already allocated. */
	if (a.n) {
		struct qimg_error e2 = { 0 };
		int r2 = commit_allocs(node, &a, r < 0 ? &e2 : err);

		if (r == 0)
			r = r2;
	}
	free(a.blk);
	free(a.idx);
	return r;
}

static int vdi_flush(struct qimg_node *node, struct qimg_error *err)
{
	return qimg_flush(node->file, err);
}

static int vdi_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_extent *ext, struct qimg_error *err)
{
	struct vdi_state *s = node->opaque;
	uint64_t blk = off / VDI_BLOCK_SIZE;
	uint64_t in = off % VDI_BLOCK_SIZE;
	uint32_t e;
	int r = map_get(s, blk, &e, err);

	if (r < 0)
		return r;
	ext->len = VDI_BLOCK_SIZE - in < len ? VDI_BLOCK_SIZE - in : len;
	if (!is_allocated(e)) {
		ext->flags = QIMG_BS_ZERO;
		return 0;
	}
	ext->flags = QIMG_BS_DATA | QIMG_BS_OFFSET_VALID;
	/* A static image's blocks may be holes in the file. */
	if (s->type == VDI_TYPE_STATIC)
		ext->flags |= QIMG_BS_RECURSE;
	ext->map = block_host(s, e) + in;
	ext->file = node->file;
	return 0;
}

static int vdi_get_info(struct qimg_node *node, struct qimg_image_info *info,
			struct qimg_error *err)
{
	(void)node;
	(void)err;
	info->has_info = true;
	info->cluster_size = VDI_BLOCK_SIZE;
	return 0;
}

#define REPORT(fn, opaque, ...)                                                \
	do {                                                                   \
		char line_[128];                                               \
		if (fn) {                                                      \
			snprintf(line_, sizeof(line_), __VA_ARGS__);           \
			(fn)(opaque, line_);                                   \
		}                                                              \
	} while (0)

/* qemu-img's checker: every allocated entry within the map's range and
 * used once, and the header's allocation count right.  It repairs
 * nothing (qemu-img refuses -r for vdi). */
static int vdi_check(struct qimg_node *node, unsigned int fix,
		     struct qimg_check_result *res, qimg_report_fn fn,
		     void *opaque, struct qimg_error *err)
{
	struct vdi_state *s = node->opaque;
	uint64_t i, base, n, count = 0, held;
	uint32_t *ents;
	uint8_t *seen;
	int64_t flen;
	int r = 0;

	if (fix)
		return -ENOTSUP;
	flen = qimg_node_length(node->file, err);
	if (flen < 0)
		return (int)flen;
	held = map_held(s, (uint64_t)flen, s->blocks) / 4;
	seen = calloc((size_t)s->blocks / 8 + 1, 1);
	ents = malloc(VDI_SCAN * 4);
	if (!seen || !ents) {
		free(seen);
		free(ents);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	for (i = 0, base = 0, n = 0; i < s->blocks; i++) {
		uint32_t e;

		if (i == base + n) {
			base = i;
			n = s->blocks - i < VDI_SCAN ? s->blocks - i : VDI_SCAN;
			r = qimg_tc_read_le32(&s->map, base, ents, (size_t)n,
					      err);
			if (r < 0)
				break;
		}
		e = ents[i - base];
		if (i > held + VDI_CHECK_LINES_PAST) {
			/* The rest of the map lies past the end of the file
			 * and reads as block 0, used again by each entry:
			 * counted, not each reported (qemu-img prints a line
			 * per entry, millions for a damaged header). */
			uint64_t rest = s->blocks - i;

			REPORT(fn, opaque,
			       "ERROR: block index 0 also used by %" PRIu64
			       " more entries past the end of the file",
			       rest);
			count += rest;
			res->corruptions += (int)rest;
			break;
		}
		if (!is_allocated(e))
			continue;
		if (e >= s->blocks) {
			REPORT(fn, opaque,
			       "ERROR: block index %" PRIu64
			       " too large, is %" PRIu64,
			       i, (uint64_t)e);
			res->corruptions++;
			continue;
		}
		count++;
		if (seen[e / 8] & (1u << (e % 8))) {
			REPORT(fn, opaque,
			       "ERROR: block index %" PRIu64
			       " also used by %" PRIu64,
			       (uint64_t)e, (uint64_t)e);
			res->corruptions++;
		}
		seen[e / 8] |= (uint8_t)(1u << (e % 8));
	}
	free(seen);
	free(ents);
	if (r < 0)
		return r;
	if (count != s->allocated) {
		REPORT(fn, opaque,
		       "ERROR: allocated blocks mismatch, is %" PRIu64
		       ", should be %" PRIu64,
		       count, (uint64_t)s->allocated);
		res->corruptions++;
	}
	return 0;
}

/* Create */

static const struct qimg_opt_desc vdi_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "static", QIMG_OPT_BOOL, "VDI static (pre-allocated) image", "off" },
	{ NULL, 0, NULL, NULL },
};

static int size_error(uint64_t size, struct qimg_error *err)
{
	return qimg_error_set(err, ENOTSUP,
			      "Unsupported VDI image size (size is 0x%" PRIx64
			      ", max supported is 0x%" PRIx64 ")",
			      size, VDI_MAX_SIZE);
}

static int vdi_create_validate(const struct qimg_opts *o,
			       struct qimg_error *err)
{
	uint64_t size = qimg_opts_get_u64(o, "size", 0);
	const char *p = qimg_opts_get_str(o, "preallocation", "off");

	/* The file protocol's modes (qemu-img's two wordings); none of them
	 * changes a vdi image. */
	if (!strcmp(p, "metadata"))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported preallocation mode: %s", p);
	if (!qimg_prealloc_mode_known(p))
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", p);
	if (size > UINT64_MAX - VDI_SECTOR ||
	    round_up(size, VDI_SECTOR) > VDI_MAX_SIZE)
		return size_error(round_up(size, VDI_SECTOR), err);
	return 0;
}

/* A random (version 4) UUID, stored as VirtualBox stores them (the first
 * three fields little endian). */
static void random_uuid(uint8_t *u)
{
	size_t got = 0;

	while (got < 16) {
		ssize_t n = getrandom(u + got, 16 - got, 0);

		if (n <= 0) {
			/* No entropy source: still a valid, unique enough
			 * identifier is not needed by any reader. */
			memset(u + got, 0x5a, 16 - got);
			break;
		}
		got += (size_t)n;
	}
	u[7] = (uint8_t)((u[7] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

static void build_header(uint8_t *h, uint32_t type, uint64_t size,
			 uint32_t blocks, uint32_t data_off)
{
	memset(h, 0, VDI_SECTOR);
	memcpy(h, vdi_text, sizeof(vdi_text) - 1);
	qimg_store_le32(h + OFF_SIGNATURE, VDI_SIGNATURE);
	qimg_store_le32(h + OFF_VERSION, VDI_VERSION);
	qimg_store_le32(h + OFF_HEADER_SIZE, VDI_HEADER_SIZE);
	qimg_store_le32(h + OFF_TYPE, type);
	qimg_store_le32(h + OFF_BMAP, VDI_SECTOR);
	qimg_store_le32(h + OFF_DATA, data_off);
	qimg_store_le32(h + OFF_SECTOR_SIZE, VDI_SECTOR);
	qimg_store_le64(h + OFF_DISK_SIZE, size);
	qimg_store_le32(h + OFF_BLOCK_SIZE, VDI_BLOCK_SIZE);
	qimg_store_le32(h + OFF_BLOCKS, blocks);
	qimg_store_le32(h + OFF_ALLOCATED,
			type == VDI_TYPE_STATIC ? blocks : 0);
	random_uuid(h + OFF_UUID_IMAGE);
	random_uuid(h + OFF_UUID_MODIFY);
}

static int vdi_create(struct qimg_node *file, const struct qimg_opts *o,
		      struct qimg_error *err)
{
	uint64_t size = round_up(qimg_opts_get_u64(o, "size", 0), VDI_SECTOR);
	bool is_static = qimg_opts_get_bool(o, "static", false);
	uint32_t type = is_static ? VDI_TYPE_STATIC : VDI_TYPE_DYNAMIC;
	uint32_t blocks =
		(uint32_t)((size + VDI_BLOCK_SIZE - 1) / VDI_BLOCK_SIZE);
	uint64_t map_bytes = round_up((uint64_t)blocks * 4, VDI_SECTOR);
	uint32_t data_off = (uint32_t)(VDI_SECTOR + map_bytes);
	size_t chunk = VDI_BLOCK_SIZE, i;
	uint8_t *buf;
	uint64_t done;
	int r;

	if (size > VDI_MAX_SIZE)
		return size_error(size, err);
	buf = malloc(chunk);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	/* The map (and a static image's data area) first, the header with
	 * the signature last, after a flush: a create cut short leaves a
	 * file that is no vdi image rather than one whose map is zeros. */
	r = 0;
	/* The map, a chunk at a time (2 GiB at the largest size). */
	for (done = 0; r == 0 && done < map_bytes; done += chunk) {
		size_t n = map_bytes - done < chunk ? (size_t)(map_bytes - done)
						    : chunk;

		memset(buf, 0, n);
		for (i = 0; i < n / 4; i++) {
			uint64_t e = done / 4 + i;

			if (e < blocks)
				qimg_store_le32(buf + i * 4,
						is_static ? (uint32_t)e
							  : VDI_FREE);
		}
		r = qimg_pwrite(file, VDI_SECTOR + done, buf, n, err);
	}
	if (r == 0 && is_static)
		r = qimg_truncate(file,
				  data_off + (uint64_t)blocks * VDI_BLOCK_SIZE,
				  0, NULL, err);
	if (r == 0)
		r = qimg_flush(file, err);
	if (r == 0) {
		build_header(buf, type, size, blocks, data_off);
		r = qimg_pwrite(file, 0, buf, VDI_SECTOR, err);
	}
	free(buf);
	return r;
}

/* Resize (qemu-img 7.2 refuses it for vdi) */

static int shrink_check(struct vdi_state *s, uint32_t nblocks,
			struct qimg_error *err)
{
	uint32_t *ents = malloc(VDI_SCAN * 4);
	uint64_t base, n, k;
	int r = 0;

	if (!ents)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (base = nblocks; r == 0 && base < s->blocks; base += n) {
		n = s->blocks - base < VDI_SCAN ? s->blocks - base : VDI_SCAN;
		r = qimg_tc_read_le32(&s->map, base, ents, (size_t)n, err);
		for (k = 0; r == 0 && k < n; k++)
			if (is_allocated(ents[k]))
				r = qimg_error_set(
					err, ENOTSUP,
					"Cannot shrink the image: block "
					"%" PRIu64 " past the new end is "
					"allocated",
					base + k);
	}
	free(ents);
	return r;
}

/* The entries of new guest blocks, as on disk: free, or in a static
 * image the next block indices. */
static void new_entries(const struct vdi_state *s, uint8_t *out, size_t count,
			uint32_t *next)
{
	size_t i;

	for (i = 0; i < count; i++)
		qimg_store_le32(out + i * 4, s->type == VDI_TYPE_STATIC
						     ? (*next)++
						     : VDI_FREE);
}

/* Growth inside the room the map has (the data area stays): the entries
 * of guest blocks [old, nblocks), sectors whole, in 1 MiB writes. */
static int grow_in_place(struct qimg_node *node, uint32_t old, uint32_t nblocks,
			 uint32_t *next, struct qimg_error *err)
{
	struct vdi_state *s = node->opaque;
	uint64_t pos = (uint64_t)old * 4, to = (uint64_t)nblocks * 4;
	uint64_t end = round_up(to, VDI_SECTOR);
	uint8_t *buf = malloc(VDI_BLOCK_SIZE);
	int r = 0;

	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	while (r == 0 && pos < to) {
		uint64_t start = pos / VDI_SECTOR * VDI_SECTOR;
		uint64_t stop = end - start < VDI_BLOCK_SIZE
					? end
					: start + VDI_BLOCK_SIZE;
		uint64_t upto = to < stop ? to : stop;

		/* the entries before the first new one in its sector */
		r = qimg_tc_read(&s->map, start, buf, (size_t)(pos - start),
				 err);
		new_entries(s, buf + (pos - start), (size_t)(upto - pos) / 4,
			    next);
		memset(buf + (upto - start), 0, (size_t)(stop - upto));
		if (r == 0)
			r = qimg_pwrite(node->file, s->bmap_off + start, buf,
					(size_t)(stop - start), err);
		pos = stop;
	}
	free(buf);
	return r;
}

/* Growth past the room the map has: the first data blocks move to the
 * end of the file (copied, flushed), then the header with the shifted
 * data area and the whole renumbered map go in one write, built in
 * memory (4 bytes a MiB of the new size), so that the image is the old
 * one or the new one. */
static int grow_relocating(struct qimg_node *node, uint32_t old,
			   uint32_t nblocks, uint32_t *next,
			   struct qimg_error *err)
{
	struct vdi_state *s = node->opaque;
	uint64_t need = round_up((uint64_t)nblocks * 4, VDI_SECTOR);
	uint64_t room =
		s->data_off > s->bmap_off ? s->data_off - s->bmap_off : 0;
	uint32_t k, m, base, j, *ents = NULL;
	uint64_t i, new_data;
	uint8_t *buf = NULL, *map;
	int r = 0;

	if (s->bmap_off != VDI_SECTOR || s->data_off < s->bmap_off)
		return qimg_error_set(err, ENOTSUP,
				      "%s: cannot grow the block map of this "
				      "image layout",
				      node->filename);
	k = (uint32_t)((need - room + VDI_BLOCK_SIZE - 1) / VDI_BLOCK_SIZE);
	new_data = (uint64_t)s->data_off + (uint64_t)k * VDI_BLOCK_SIZE;
	if (new_data > UINT32_MAX - VDI_SECTOR)
		return qimg_error_set(err, EFBIG,
				      "%s: the block map cannot grow that far",
				      node->filename);
	m = s->allocated < k ? s->allocated : k;
	base = s->allocated > k ? s->allocated : k;
	buf = malloc(VDI_SECTOR + need > VDI_BLOCK_SIZE ? VDI_SECTOR + need
							: VDI_BLOCK_SIZE);
	ents = malloc(VDI_SCAN * 4);
	if (!buf || !ents) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	/* 1. Data blocks 0..m-1 copied past everything (nothing names the
	 *    copies yet). */
	for (j = 0; r == 0 && j < m; j++) {
		r = qimg_pread(node->file, block_host(s, j), buf,
			       VDI_BLOCK_SIZE, err);
		if (r == 0)
			r = qimg_pwrite(node->file, block_host(s, base + j),
					buf, VDI_BLOCK_SIZE, err);
	}
	if (r == 0)
		r = qimg_flush(node->file, err);
	/* 2. The new map: the old entries renumbered for the shifted data
	 *    area, then the new ones. */
	map = buf + VDI_SECTOR;
	for (i = 0; r == 0 && i < old; i++) {
		uint32_t e;

		if (i % VDI_SCAN == 0)
			r = qimg_tc_read_le32(
				&s->map, i, ents,
				old - i < VDI_SCAN ? old - i : VDI_SCAN, err);
		if (r < 0)
			break;
		e = ents[i % VDI_SCAN];
		if (is_allocated(e)) {
			if (e < m)
				e = base + e - k;
			else if (e >= k)
				e -= k;
			else
				e = VDI_FREE; /* past the count: damaged */
		}
		qimg_store_le32(map + i * 4, e);
	}
	if (r < 0)
		goto out;
	new_entries(s, map + (uint64_t)old * 4, nblocks - old, next);
	memset(map + (uint64_t)nblocks * 4, 0, need - (uint64_t)nblocks * 4);
	/* 3. A static image's new blocks, then header and map at once. */
	if (*next > s->allocated)
		r = qimg_truncate(node->file,
				  new_data + (uint64_t)*next * VDI_BLOCK_SIZE,
				  0, NULL, err);
	if (r == 0) {
		memcpy(buf, s->hdr, VDI_SECTOR);
		qimg_store_le32(buf + OFF_DATA, (uint32_t)new_data);
		qimg_store_le32(buf + OFF_ALLOCATED, *next);
		r = qimg_pwrite(node->file, 0, buf, VDI_SECTOR + need, err);
	}
	if (r == 0)
		s->data_off = (uint32_t)new_data;
out:
	free(buf);
	free(ents);
	return r;
}

static int vdi_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			const char *prealloc, struct qimg_error *err)
{
	struct vdi_state *s = node->opaque;
	uint64_t nsize = round_up(size, VDI_SECTOR), need, room;
	uint32_t nblocks, old = s->blocks, next = s->allocated;
	uint32_t saved_data = s->data_off;
	uint8_t saved[VDI_SECTOR];
	int r;

	(void)flags;
	r = qimg_truncate_prealloc_off(prealloc, err);
	if (r < 0)
		return r;
	if (nsize > VDI_MAX_SIZE)
		return size_error(nsize, err);
	nblocks = (uint32_t)((nsize + VDI_BLOCK_SIZE - 1) / VDI_BLOCK_SIZE);
	if (s->type == VDI_TYPE_STATIC && nblocks < old)
		return qimg_error_set(err, ENOTSUP,
				      "Cannot shrink a static VDI image below "
				      "its allocated blocks");
	r = shrink_check(s, nblocks, err);
	if (r < 0)
		return r;
	memcpy(saved, s->hdr, sizeof(saved));
	qimg_store_le64(s->hdr + OFF_DISK_SIZE, nsize);
	qimg_store_le32(s->hdr + OFF_BLOCKS, nblocks);
	need = round_up((uint64_t)nblocks * 4, VDI_SECTOR);
	room = s->data_off > s->bmap_off ? s->data_off - s->bmap_off : 0;
	if (need > room) {
		/* header and map in one write */
		r = grow_relocating(node, old, nblocks, &next, err);
	} else {
		/* New entries (past the old count: unseen) on the disk
		 * before the header counts them. */
		if (nblocks > old && s->type == VDI_TYPE_STATIC)
			r = qimg_truncate(
				node->file,
				block_host(s, s->allocated + (nblocks - old)),
				0, NULL, err);
		if (r == 0 && nblocks > old)
			r = grow_in_place(node, old, nblocks, &next, err);
		if (r == 0 && nblocks > old)
			r = qimg_flush(node->file, err);
		qimg_store_le32(s->hdr + OFF_ALLOCATED, next);
		if (r == 0)
			r = qimg_pwrite(node->file, 0, s->hdr, VDI_SECTOR, err);
	}
	if (r == 0)
		r = qimg_flush(node->file, err);
	if (r < 0) {
		memcpy(s->hdr, saved, sizeof(saved));
		s->data_off = saved_data;
		/* what the disk's map now holds is read again */
		qimg_tc_reset(&s->map, s->bmap_off, (uint64_t)old * 4,
			      s->map.held);
		return r;
	}
	qimg_store_le32(s->hdr + OFF_DATA, s->data_off);
	qimg_store_le32(s->hdr + OFF_ALLOCATED, next);
	s->allocated = next;
	s->blocks = nblocks;
	s->disk_size = nsize;
	node->size = nsize;
	qimg_tc_reset(&s->map, s->bmap_off, (uint64_t)nblocks * 4,
		      nblocks > old ? need : s->map.held);
	return 0;
}

const struct qimg_driver qimg_driver_vdi = {
	.name = "vdi",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct vdi_state),
	.create_opts = vdi_create_opts,
	.probe = vdi_probe,
	.open = vdi_open,
	.close = vdi_close,
	.create_validate = vdi_create_validate,
	.create_file_first = true,
	.create = vdi_create,
	.read = vdi_read,
	.write = vdi_write,
	.flush = vdi_flush,
	.block_status = vdi_block_status,
	.truncate = vdi_truncate,
	.get_info = vdi_get_info,
	.check = vdi_check,
};
