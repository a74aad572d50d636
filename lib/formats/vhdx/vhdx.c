/* SPDX-License-Identifier: MIT */
/* VHDX images as qemu-img 7.2 opens them: the file identifier, the current
 * of the two CRC-32C checked headers, the region table, the metadata items
 * and the block allocation table; payload blocks read as data (fully
 * present) or zeros (not present, undefined, zero, unmapped).  A dirty log
 * is replayed on a read-write open (log.c) and refused on a read-only one.
 * Writes allocate whole blocks at the end of the file (rounded up to
 * 1 MiB), the data flushed before the BAT entry that names it. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "formats/vhdx.h"
#include "formats/vhdx/vhdx.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/endian.h"

const uint8_t vhdx_guid_bat[16] = { 0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6,
				    0x00, 0x42, 0x9d, 0x64, 0x11, 0x5e,
				    0x9b, 0xfd, 0x4a, 0x08 };
const uint8_t vhdx_guid_metadata[16] = { 0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47,
					 0x9a, 0x4b, 0xb8, 0xfe, 0x57, 0x5f,
					 0x05, 0x0f, 0x88, 0x6e };
const uint8_t vhdx_guid_file_params[16] = { 0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa,
					    0x43, 0x4d, 0xb3, 0xb6, 0x33, 0xf0,
					    0xaa, 0x44, 0xe7, 0x6b };
const uint8_t vhdx_guid_disk_size[16] = { 0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd,
					  0x76, 0x48, 0xb2, 0x11, 0x5d, 0xbe,
					  0xd8, 0x3b, 0xf4, 0xb8 };
const uint8_t vhdx_guid_page83[16] = { 0xab, 0x12, 0xca, 0xbe, 0xe6, 0xb2,
				       0x23, 0x45, 0x93, 0xef, 0xc3, 0x09,
				       0xe0, 0x00, 0xc7, 0x46 };
const uint8_t vhdx_guid_logical_sector[16] = { 0x1d, 0xbf, 0x41, 0x81,
					       0x6f, 0xa9, 0x09, 0x47,
					       0xba, 0x47, 0xf2, 0x33,
					       0xa8, 0xfa, 0xab, 0x5f };
const uint8_t vhdx_guid_physical_sector[16] = { 0xc7, 0x48, 0xa3, 0xcd,
						0x5d, 0x44, 0x71, 0x44,
						0x9c, 0xc9, 0xe9, 0x88,
						0x52, 0x51, 0xc5, 0x56 };
const uint8_t vhdx_guid_parent_locator[16] = { 0x2d, 0x5f, 0xd3, 0xa8,
					       0x0b, 0xb3, 0x4d, 0x45,
					       0xab, 0xf7, 0xd3, 0xd8,
					       0x48, 0x34, 0xab, 0x0c };

int vhdx_guid_generate(uint8_t guid[16], struct qimg_error *err)
{
	size_t got = 0;

	while (got < 16) {
		ssize_t n = getrandom(guid + got, 16 - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return qimg_error_set_errno(
				err, errno, "Could not generate a GUID");
		}
		got += (size_t)n;
	}
	guid[6] = (uint8_t)((guid[6] & 0x0f) | 0x40);
	guid[8] = (uint8_t)((guid[8] & 0x3f) | 0x80);
	return 0;
}

void vhdx_checksum_set(uint8_t *buf, size_t len, size_t crc_off)
{
	qimg_store_le32(buf + crc_off, 0);
	qimg_store_le32(buf + crc_off, qimg_crc32c(0, buf, len));
}

bool vhdx_checksum_ok(const uint8_t *buf, size_t len, size_t crc_off)
{
	uint32_t want = qimg_load_le32(buf + crc_off);
	uint32_t c = qimg_crc32c(0, buf, crc_off);

	c = qimg_crc32c(c, "\0\0\0\0", 4);
	c = qimg_crc32c(c, buf + crc_off + 4, len - crc_off - 4);
	return c == want;
}

static int vhdx_probe(const uint8_t *head, size_t len, const char *filename)
{
	(void)filename;
	return len >= 8 && !memcmp(head, "vhdxfile", 8) ? 100 : 0;
}

/* "Could not open 'FILE': <strerror>", the text qemu-img nests in its own
 * "Could not open" for most refusals of a damaged image. */
static int open_fail(struct qimg_node *node, int errnum, struct qimg_error *err)
{
	return qimg_error_set(err, errnum, "Could not open '%s': %s",
			      node->file->filename, strerror(errnum));
}

/* Bytes of the file, zeros past its end (as QEMU's block layer reads). */
static int file_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	size_t n = 0;

	if (off < s->file_len)
		n = s->file_len - off < len ? (size_t)(s->file_len - off) : len;
	memset((uint8_t *)buf + n, 0, len - n);
	return n ? qimg_pread(node->file, off, buf, n, err) : 0;
}

static bool header_valid(const uint8_t *h)
{
	return !memcmp(h, "head", 4) &&
	       vhdx_checksum_ok(h, VHDX_HEADER_SIZE, VHDX_H_CRC);
}

static int read_headers(struct qimg_node *node, struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	uint8_t h[2][VHDX_HEADER_SIZE];
	bool ok[2];
	int r, cur;

	r = file_read(node, VHDX_HEADER1_OFF, h[0], VHDX_HEADER_SIZE, err);
	if (r < 0)
		return r;
	r = file_read(node, VHDX_HEADER2_OFF, h[1], VHDX_HEADER_SIZE, err);
	if (r < 0)
		return r;
	ok[0] = header_valid(h[0]);
	ok[1] = header_valid(h[1]);
	if (ok[0] && ok[1]) {
		uint64_t s0 = qimg_load_le64(h[0] + VHDX_H_SEQ);
		uint64_t s1 = qimg_load_le64(h[1] + VHDX_H_SEQ);

		/* Equal sequence numbers are only taken from identical
		 * copies (Disk2vhd writes those). */
		if (s0 == s1 && memcmp(h[0], h[1], VHDX_HEADER_SIZE))
			cur = -1;
		else
			cur = s1 > s0;
	} else if (ok[0]) {
		cur = 0;
	} else if (ok[1]) {
		cur = 1;
	} else {
		cur = -1;
	}
	if (cur < 0)
		return qimg_error_set(err, EINVAL,
				      "No valid VHDX header found");
	memcpy(s->hdr, h[cur], VHDX_HEADER_SIZE);
	s->cur_hdr = (unsigned int)cur;
	if (qimg_load_le16(s->hdr + VHDX_H_VERSION) != 1)
		return open_fail(node, EINVAL, err);
	s->log_len = qimg_load_le32(s->hdr + VHDX_H_LOG_LEN);
	s->log_off = qimg_load_le64(s->hdr + VHDX_H_LOG_OFF);
	return 0;
}

int vhdx_header_update(struct qimg_node *node, bool new_file_guid,
		       bool new_data_guid, const uint8_t *log_guid,
		       struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	uint8_t h[VHDX_HEADER_SIZE];
	unsigned int slot = s->cur_hdr ^ 1;
	int r;

	memcpy(h, s->hdr, sizeof(h));
	qimg_store_le64(h + VHDX_H_SEQ, qimg_load_le64(h + VHDX_H_SEQ) + 1);
	if (new_file_guid) {
		r = vhdx_guid_generate(h + VHDX_H_FILE_GUID, err);
		if (r < 0)
			return r;
	}
	if (new_data_guid) {
		r = vhdx_guid_generate(h + VHDX_H_DATA_GUID, err);
		if (r < 0)
			return r;
	}
	if (log_guid)
		memcpy(h + VHDX_H_LOG_GUID, log_guid, 16);
	else
		memset(h + VHDX_H_LOG_GUID, 0, 16);
	vhdx_checksum_set(h, sizeof(h), VHDX_H_CRC);
	r = qimg_pwrite(node->file, slot ? VHDX_HEADER2_OFF : VHDX_HEADER1_OFF,
			h, sizeof(h), err);
	if (r < 0)
		return r;
	r = qimg_flush(node->file, err);
	if (r < 0)
		return r;
	memcpy(s->hdr, h, sizeof(h));
	s->cur_hdr = slot;
	return 0;
}

/* The areas metadata may not share (QEMU's list of regions): a new one is
 * compared with those known, the newest first. */
struct region {
	uint64_t start, end;
};

struct region_list {
	struct region r[8];
	size_t n;
};

static int region_check(struct region_list *l, uint64_t start, uint64_t len,
			struct qimg_error *err)
{
	uint64_t end = start + len;
	size_t i;

	for (i = l->n; i-- > 0;)
		if (start < l->r[i].end && end > l->r[i].start) {
			qimg_error_note(err,
					QIMG_NOTE_REPORT
					"VHDX region %" PRIu64 "-%" PRIu64
					" overlaps with region %" PRIu64
					"-%" PRIu64,
					start, end, l->r[i].start, l->r[i].end);
			return -EINVAL;
		}
	return 0;
}

static void region_add(struct region_list *l, uint64_t start, uint64_t len)
{
	if (l->n < sizeof(l->r) / sizeof(l->r[0])) {
		l->r[l->n].start = start;
		l->r[l->n].end = start + len;
		l->n++;
	}
}

static int read_region_table(struct qimg_node *node, struct region_list *rl,
			     struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	bool have_bat = false, have_meta = false;
	uint8_t *t;
	uint32_t n, i;
	int r;

	t = malloc(VHDX_RT_SIZE);
	if (!t)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = file_read(node, VHDX_RT1_OFF, t, VHDX_RT_SIZE, err);
	if (r < 0)
		goto out;
	n = qimg_load_le32(t + 8);
	if (memcmp(t, "regi", 4) || !vhdx_checksum_ok(t, VHDX_RT_SIZE, 4) ||
	    n > VHDX_RT_MAX_ENTRIES) {
		r = open_fail(node, EINVAL, err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const uint8_t *e = t + 16 + 32 * (size_t)i;
		uint64_t off = qimg_load_le64(e + 16);
		uint32_t len = qimg_load_le32(e + 24);
		uint32_t flags = qimg_load_le32(e + 28);

		if (region_check(rl, off, len, err) < 0) {
			r = open_fail(node, EINVAL, err);
			goto out;
		}
		region_add(rl, off, len);
		if (!memcmp(e, vhdx_guid_bat, 16)) {
			if (have_bat) {
				r = open_fail(node, EINVAL, err);
				goto out;
			}
			have_bat = true;
			s->bat_off = off;
			s->bat_len = len;
		} else if (!memcmp(e, vhdx_guid_metadata, 16)) {
			if (have_meta) {
				r = open_fail(node, EINVAL, err);
				goto out;
			}
			have_meta = true;
			s->meta_off = off;
			s->meta_len = len;
		} else if (flags & 1) {
			r = open_fail(node, ENOTSUP, err);
			goto out;
		}
	}
	r = have_bat && have_meta ? 0 : open_fail(node, EINVAL, err);
out:
	free(t);
	return r;
}

/* The known metadata items, their sizes and where they are. */
enum {
	M_PARAMS,
	M_SIZE,
	M_PAGE83,
	M_LSS,
	M_PSS,
	M_PARENT,
	M_COUNT
};

static const struct {
	const uint8_t *guid;
	uint32_t len; /* 0: any */
} meta_items[M_COUNT] = {
	[M_PARAMS] = { vhdx_guid_file_params, 8 },
	[M_SIZE] = { vhdx_guid_disk_size, 8 },
	[M_PAGE83] = { vhdx_guid_page83, 16 },
	[M_LSS] = { vhdx_guid_logical_sector, 4 },
	[M_PSS] = { vhdx_guid_physical_sector, 4 },
	[M_PARENT] = { vhdx_guid_parent_locator, 0 },
};

static int read_metadata(struct qimg_node *node, struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	uint32_t off[M_COUNT] = { 0 };
	bool have[M_COUNT] = { false };
	uint8_t *t, item[16];
	unsigned int n, i, k;
	int r;

	t = malloc(VHDX_META_TABLE_SIZE);
	if (!t)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = file_read(node, s->meta_off, t, VHDX_META_TABLE_SIZE, err);
	if (r < 0)
		goto out;
	n = qimg_load_le16(t + 10);
	if (memcmp(t, "metadata", 8) || n > VHDX_META_MAX_ENTRIES) {
		r = open_fail(node, EINVAL, err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const uint8_t *e = t + 32 + 32 * (size_t)i;
		uint32_t eoff = qimg_load_le32(e + 16);
		uint32_t elen = qimg_load_le32(e + 20);
		uint32_t flags = qimg_load_le32(e + 24);

		for (k = 0; k < M_COUNT; k++)
			if (!memcmp(e, meta_items[k].guid, 16))
				break;
		if (k == M_COUNT) {
			if (flags & VHDX_META_IS_REQUIRED) {
				r = open_fail(node, ENOTSUP, err);
				goto out;
			}
			continue;
		}
		if (have[k] ||
		    (meta_items[k].len && elen != meta_items[k].len) ||
		    (uint64_t)eoff + elen > s->meta_len ||
		    elen > VHDX_META_MAX_ITEM) {
			r = open_fail(node, EINVAL, err);
			goto out;
		}
		have[k] = true;
		off[k] = eoff;
	}
	for (k = 0; k < M_PARENT; k++)
		if (!have[k]) {
			r = open_fail(node, EINVAL, err);
			goto out;
		}
	r = file_read(node, s->meta_off + off[M_PARAMS], item, 8, err);
	if (r < 0)
		goto out;
	s->block_size = qimg_load_le32(item);
	s->params_flags = qimg_load_le32(item + 4);
	r = file_read(node, s->meta_off + off[M_SIZE], item, 8, err);
	if (r < 0)
		goto out;
	s->disk_size = qimg_load_le64(item);
	s->size_item = s->meta_off + off[M_SIZE];
	r = file_read(node, s->meta_off + off[M_PAGE83], s->page83, 16, err);
	if (r < 0)
		goto out;
	r = file_read(node, s->meta_off + off[M_LSS], item, 4, err);
	if (r < 0)
		goto out;
	s->logical_sector = qimg_load_le32(item);
	r = file_read(node, s->meta_off + off[M_PSS], item, 4, err);
	if (r < 0)
		goto out;
	s->physical_sector = qimg_load_le32(item);

	if (s->block_size < VHDX_BLOCK_MIN || s->block_size > VHDX_BLOCK_MAX ||
	    (s->block_size & (s->block_size - 1)) ||
	    s->disk_size > VHDX_MAX_SIZE) {
		r = open_fail(node, EINVAL, err);
		goto out;
	}
	if (s->params_flags & VHDX_PARAMS_HAS_PARENT) {
		/* Differencing images: qemu-img has no parent support. */
		r = open_fail(node, have[M_PARENT] ? ENOTSUP : EINVAL, err);
		goto out;
	}
	if (s->logical_sector != VHDX_SECTOR) {
		r = open_fail(node, ENOTSUP, err);
		goto out;
	}
	r = 0;
out:
	free(t);
	return r;
}

uint64_t vhdx_bat_entries(uint64_t size, uint32_t bs, uint32_t lss)
{
	uint32_t ratio = (uint32_t)(((uint64_t)1 << 23) * lss / bs);
	uint64_t blocks = (size + bs - 1) / bs;

	/* QEMU counts the sector-bitmap entries in 32 bits: an empty disk
	 * still has (2^32 - 1) / ratio of them. */
	return blocks + (uint32_t)((uint32_t)blocks - 1) / ratio;
}

uint64_t vhdx_bat_used(uint64_t size, uint32_t bs, uint32_t lss)
{
	return size ? vhdx_bat_entries(size, bs, lss) : 0;
}

static uint64_t block_bytes(const struct vhdx_state *s, uint64_t b)
{
	uint64_t start = b * s->block_size;

	return s->disk_size - start < s->block_size ? s->disk_size - start
						    : s->block_size;
}

/* BAT entries read together: a window of the table, decoded. */
#define BAT_WIN 512
struct bat_win {
	uint64_t base, n; /* entries [base, base + n); n = 0: none */
	uint64_t e[BAT_WIN];
};

/* Entry i of the BAT (i < nentries), through window w. */
static int win_get(struct vhdx_state *s, struct bat_win *w, uint64_t i,
		   uint64_t *e, struct qimg_error *err)
{
	uint64_t n;
	int r;

	if (i - w->base >= w->n) {
		n = s->nentries - i < BAT_WIN ? s->nentries - i : BAT_WIN;
		w->n = 0;
		r = qimg_tc_read_le64(&s->bat, i, w->e, (size_t)n, err);
		if (r < 0)
			return r;
		w->base = i;
		w->n = n;
	}
	*e = w->e[i - w->base];
	return 0;
}

/* Entry i of the BAT, alone. */
static int bat_get(struct vhdx_state *s, uint64_t i, uint64_t *e,
		   struct qimg_error *err)
{
	return qimg_tc_read_le64(&s->bat, i, e, 1, err);
}

/* How much of a BAT at bat_off the file holds (the rest reads as zeros,
 * as QEMU's block layer reads past the end of a file). */
static uint64_t bat_held(const struct vhdx_state *s)
{
	return s->bat_off < s->file_len ? s->file_len - s->bat_off : 0;
}

/* The BAT through the table cache, and qemu-img's checks of every
 * present block against the end of the file and the other regions, one
 * window of entries at a time. */
static int read_bat(struct qimg_node *node, struct region_list *rl,
		    struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	struct bat_win w = { .n = 0 };
	uint64_t b, e;
	int r;

	s->chunk_ratio = (uint32_t)((UINT64_C(1) << 23) * s->logical_sector /
				    s->block_size);
	s->nblocks = (s->disk_size + s->block_size - 1) / s->block_size;
	if (vhdx_bat_entries(s->disk_size, s->block_size, s->logical_sector) *
		    8 >
	    s->bat_len)
		return open_fail(node, EINVAL, err);
	/* Only the entries that can hold something: an empty disk's
	 * region is sized for up to 2^32 / chunk ratio of them. */
	s->nentries =
		vhdx_bat_used(s->disk_size, s->block_size, s->logical_sector);
	qimg_tc_init(&s->bat, node->file, s->bat_off, s->nentries * 8,
		     bat_held(s));
	s->bat_open = true;

	for (b = 0; b < s->nblocks; b++) {
		uint64_t off, len = block_bytes(s, b);
		unsigned int st;

		r = win_get(s, &w, vhdx_bat_index(s, b), &e, err);
		if (r < 0)
			return r;
		off = VHDX_BAT_OFFSET(e);
		st = VHDX_BAT_STATE(e);
		if (st != VHDX_PAYLOAD_FULLY_PRESENT &&
		    st != VHDX_PAYLOAD_PARTIALLY_PRESENT)
			continue;
		if (off >= s->file_len) {
			qimg_error_note(err,
					QIMG_NOTE_REPORT
					"VHDX BAT entry %" PRIu64
					" start offset %" PRIu64
					" points after end of file (%" PRIu64
					"). Image has probably been truncated.",
					vhdx_bat_index(s, b), off, s->file_len);
			return open_fail(node, EINVAL, err);
		}
		if (off + len - 1 >= s->file_len) {
			qimg_error_note(err,
					QIMG_NOTE_REPORT
					"VHDX BAT entry %" PRIu64
					" end offset %" PRIu64
					" points after end of file (%" PRIu64
					"). Image has probably been truncated.",
					vhdx_bat_index(s, b), off + len - 1,
					s->file_len);
			return open_fail(node, EINVAL, err);
		}
		if (region_check(rl, off, len, err) < 0)
			return open_fail(node, EINVAL, err);
	}
	return 0;
}

bool vhdx_log_dirty(const struct vhdx_state *s)
{
	return !qimg_is_zero(s->hdr + VHDX_H_LOG_GUID, 16);
}

static void vhdx_close(struct qimg_node *node)
{
	struct vhdx_state *s = node->opaque;

	if (s->bat_open)
		qimg_tc_free(&s->bat);
	s->bat_open = false;
}

static int vhdx_open(struct qimg_node *node, const struct qimg_opts *opts,
		     struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	struct region_list rl = { .n = 0 };
	uint8_t ident[8];
	int64_t len;
	int r;

	(void)opts;
	len = qimg_node_length(node->file, err);
	if (len < 0)
		return (int)len;
	s->file_len = ((uint64_t)len + VHDX_SECTOR - 1) & ~(uint64_t)511;
	r = file_read(node, 0, ident, sizeof(ident), err);
	if (r < 0)
		return r;
	if (memcmp(ident, "vhdxfile", 8))
		return open_fail(node, EINVAL, err);
	r = read_headers(node, err);
	if (r < 0)
		return r;

	region_add(&rl, 0, VHDX_MIB);
	if (vhdx_log_dirty(s)) {
		if (!(node->flags & QIMG_OPEN_RDWR) ||
		    (node->flags & QIMG_OPEN_NO_IO))
			return qimg_error_set(
				err, EPERM,
				"VHDX image file '%s' opened read-only, but "
				"contains a log that needs to be replayed\n"
				"To replay the log, run:\n"
				"qemu-img check -r all '%s'",
				node->file->filename, node->file->filename);
		r = vhdx_log_replay(node, err);
		if (r < 0)
			return r;
		s->log_replayed = true;
		len = qimg_node_length(node->file, err);
		if (len < 0)
			return (int)len;
		s->file_len =
			((uint64_t)len + VHDX_SECTOR - 1) & ~(uint64_t)511;
	}
	region_add(&rl, s->log_off, s->log_len);

	r = read_region_table(node, &rl, err);
	if (r < 0)
		return r;
	r = read_metadata(node, err);
	if (r < 0)
		return r;
	r = read_bat(node, &rl, err);
	if (r < 0)
		goto fail;

	if ((node->flags & QIMG_OPEN_RDWR) &&
	    !(node->flags & QIMG_OPEN_NO_IO)) {
		r = vhdx_header_update(node, true, false, NULL, err);
		if (r >= 0)
			r = vhdx_header_update(node, true, false, NULL, err);
		if (r < 0)
			goto fail;
	}

	node->size = s->disk_size / VHDX_SECTOR * VHDX_SECTOR;
	node->limits.request_align = VHDX_SECTOR;
	node->limits.export_align = VHDX_SECTOR;
	node->cluster_size = s->block_size;
	node->zero_init = true;
	return 0;

fail:
	vhdx_close(node);
	return r;
}

/* Where guest bytes [off, off + *len) of one block are, the block's BAT
 * entry being e: *host = 0 for a block that reads as zeros; *len is cut
 * at the block's end. */
static int place(const struct vhdx_state *s, uint64_t e, uint64_t off,
		 uint64_t *len, uint64_t *host, struct qimg_error *err)
{
	uint64_t in = off % s->block_size;

	if (*len > s->block_size - in)
		*len = s->block_size - in;
	switch (VHDX_BAT_STATE(e)) {
	case VHDX_PAYLOAD_NOT_PRESENT:
	case VHDX_PAYLOAD_UNDEFINED:
	case VHDX_PAYLOAD_ZERO:
	case VHDX_PAYLOAD_UNMAPPED:
	case VHDX_PAYLOAD_UNMAPPED_V095:
		*host = 0;
		return 0;
	case VHDX_PAYLOAD_FULLY_PRESENT:
		*host = VHDX_BAT_OFFSET(e) + in;
		return 0;
	default:
		/* Partially present blocks need a parent; 4 is no state. */
		return qimg_error_set(err, EIO, "Input/output error");
	}
}

/* place() for the block holding off, its entry read from the BAT. */
static int locate(struct qimg_node *node, uint64_t off, uint64_t *len,
		  uint64_t *host, struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	uint64_t e;
	int r;

	r = bat_get(s, vhdx_bat_index(s, off / s->block_size), &e, err);
	if (r < 0)
		return r;
	return place(s, e, off, len, host, err);
}

static int vhdx_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	uint8_t *p = buf;
	int r;

	while (len) {
		uint64_t n = len, host = 0;

		r = locate(node, off, &n, &host, err);
		if (r < 0)
			return r;
		if (!host)
			memset(p, 0, n);
		else if ((r = qimg_pread(node->file, host, p, n, err)) < 0)
			return r;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* For the copy paths only (status_copy_only: qemu-img has no status for
 * vhdx, so map shows it all as data): blocks that read as zeros, merged,
 * and present blocks one at a time with their host offset, where the
 * file's holes read as zeros. */
static int vhdx_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			     struct qimg_extent *ext, struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	struct bat_win w = { .n = 0 };
	uint64_t n = len, host = 0, e;
	int r;

	r = win_get(s, &w, vhdx_bat_index(s, off / s->block_size), &e, err);
	if (r < 0)
		return r;
	if (place(s, e, off, &n, &host, NULL) < 0) {
		/* Unreadable (partially present): data, so that the read
		 * reports the error. */
		ext->len = n;
		ext->flags = QIMG_BS_DATA;
		return 0;
	}
	if (host) {
		/* RECURSE: holes of the file in the block read as zeros. */
		ext->len = n;
		ext->flags =
			QIMG_BS_DATA | QIMG_BS_OFFSET_VALID | QIMG_BS_RECURSE;
		ext->map = host;
		ext->file = node->file;
		return 0;
	}
	/* Blocks that read as zeros, merged a window of entries at a time
	 * (a 64 TiB empty disk of 1 MiB blocks has 64 Mi of them). */
	ext->len = n;
	ext->flags = QIMG_BS_ZERO;
	while (ext->len < len) {
		uint64_t at = off + ext->len;

		n = len - ext->len;
		r = win_get(s, &w, vhdx_bat_index(s, at / s->block_size), &e,
			    err);
		if (r < 0)
			return r;
		if (place(s, e, at, &n, &host, NULL) < 0 || host)
			break;
		ext->len += n;
	}
	return 0;
}

/* A new block for payload block b at the end of the file (rounded up to
 * 1 MiB), the file grown over it; its BAT entry is written by the caller
 * once the data is on disk. */
static int allocate_block(struct qimg_node *node, uint64_t b, uint64_t *host,
			  struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	int64_t len = qimg_node_length(node->file, err);
	uint64_t off;
	int r;

	(void)b;
	if (len < 0)
		return (int)len;
	off = ((uint64_t)len + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
	r = qimg_truncate(node->file, off + s->block_size, 0, NULL, err);
	if (r < 0)
		return r;
	s->file_len = off + s->block_size;
	*host = off;
	return 0;
}

/* BAT entries [from, to) set and written: payload entries to `payload`,
 * sector-bitmap entries (every chunk_ratio + 1-th) to 0. */
static int bat_set_range(struct vhdx_state *s, uint64_t from, uint64_t to,
			 uint64_t payload, struct qimg_error *err)
{
	const uint64_t chunk = QIMG_TC_PAGE / 8;
	uint64_t *v;
	int r = 0;

	if (!payload)
		return qimg_tc_commit_run(&s->bat, from, NULL, 0,
					  (size_t)(to - from), QIMG_TC_LE64,
					  err);
	v = malloc(chunk * 8);
	if (!v)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	while (r == 0 && from < to) {
		uint64_t n = to - from < chunk ? to - from : chunk, i;

		for (i = 0; i < n; i++)
			v[i] = (from + i) % (s->chunk_ratio + 1) ==
					       s->chunk_ratio
				       ? 0
				       : payload;
		r = qimg_tc_commit_run(&s->bat, from, v, 0, (size_t)n,
				       QIMG_TC_LE64, err);
		from += n;
	}
	free(v);
	return r;
}

static int vhdx_write(struct qimg_node *node, uint64_t off, const void *buf,
		      size_t len, struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	const uint8_t *p = buf;
	int r;

	if (!s->data_guid_done) {
		r = vhdx_header_update(node, false, true, NULL, err);
		if (r < 0)
			return r;
		s->data_guid_done = true;
	}
	while (len) {
		uint64_t n = len, host = 0, b = off / s->block_size;
		bool fresh = false;

		r = locate(node, off, &n, &host, err);
		if (r < 0)
			return r;
		if (!host) {
			r = allocate_block(node, b, &host, err);
			if (r < 0)
				return r;
			host += off % s->block_size;
			fresh = true;
		}
		r = qimg_pwrite(node->file, host, p, n, err);
		if (r < 0)
			return r;
		if (fresh) {
			uint64_t i = vhdx_bat_index(s, b);
			uint64_t e =
				VHDX_BAT_OFFSET(host - off % s->block_size) |
				VHDX_PAYLOAD_FULLY_PRESENT;

			/* The data (and the grown file) first, then the
			 * entry that names it. */
			r = qimg_flush(node->file, err);
			if (r < 0)
				return r;
			r = qimg_tc_commit_le64(&s->bat, &i, &e, 1, err);
			if (r < 0)
				return r;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* A BAT region too small for n entries: a new one at the end of the file
 * (1 MiB aligned, its length rounded up to 1 MiB) holding the entries
 * (those of the old table, copied a page at a time; the rest of the
 * region, past the old end of the file, reads as zeros), flushed; then the region tables name it, the first (the one qemu-img
 * reads) before the second, each flushed.  The first table's entries and
 * checksum lie in its first sector, written alone, so a crash leaves the
 * old region or the new one, each with the entries it had. */
static int move_bat(struct qimg_node *node, uint64_t n, struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	uint64_t len = (n * 8 + VHDX_MIB - 1) & ~(VHDX_MIB - 1), off, i;
	uint64_t keep = s->nentries < n ? s->nentries : n;
	uint64_t used =
		(keep * 8 + VHDX_SECTOR - 1) & ~(uint64_t)(VHDX_SECTOR - 1);
	uint32_t cnt;
	int64_t flen = qimg_node_length(node->file, err);
	uint8_t *t;
	int r;

	if (flen < 0)
		return (int)flen;
	if (len > VHDX_BAT_MAX_BYTES)
		return qimg_error_set(err, EFBIG,
				      "The BAT of that size would be too large "
				      "for qemu-img to read");
	off = ((uint64_t)flen + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
	t = malloc(VHDX_RT_SIZE);
	if (!t)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_truncate(node->file, off + len, 0, NULL, err);
	/* bytes past the table (keep entries) read as zeros */
	if (r == 0)
		r = qimg_tc_copy_out(&s->bat, off, used, used, 0, err);
	if (r == 0)
		r = qimg_flush(node->file, err);
	if (r == 0)
		r = qimg_pread(node->file, VHDX_RT1_OFF, t, VHDX_RT_SIZE, err);
	if (r < 0)
		goto out;
	cnt = qimg_load_le32(t + 8);
	if (cnt > VHDX_RT_MAX_ENTRIES) {
		r = qimg_error_set(err, EINVAL, "%s: bad region table",
				   node->filename);
		goto out;
	}
	for (i = 0; i < cnt; i++) {
		uint8_t *e = t + 16 + 32 * i;

		if (!memcmp(e, vhdx_guid_bat, 16)) {
			qimg_store_le64(e + 16, off);
			qimg_store_le32(e + 24, (uint32_t)len);
		}
	}
	vhdx_checksum_set(t, VHDX_RT_SIZE, 4);
	r = qimg_pwrite(
		node->file, VHDX_RT1_OFF, t,
		16 + 32 * cnt <= VHDX_SECTOR ? VHDX_SECTOR : VHDX_RT_SIZE, err);
	if (r == 0)
		r = qimg_flush(node->file, err);
	if (r == 0)
		r = qimg_pwrite(node->file, VHDX_RT2_OFF, t, VHDX_RT_SIZE, err);
	if (r == 0)
		r = qimg_flush(node->file, err);
	if (r == 0) {
		s->bat_off = off;
		s->bat_len = (uint32_t)len;
		s->file_len = off + len;
		qimg_tc_reset(&s->bat, off, s->nentries * 8, bat_held(s));
	}
out:
	free(t);
	return r;
}

/* Beyond qemu-img (which refuses every resize of a vhdx image): grow (new
 * blocks ZERO; the BAT moved to a bigger region at the end of the file
 * when its region is full), shrink when no block past the new end holds
 * data.  The size item is written last when
 * growing and first when shrinking, so that a crash leaves a consistent
 * image of either size. */
static int vhdx_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			 const char *prealloc, struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	uint64_t nsize = (size + VHDX_SECTOR - 1) / VHDX_SECTOR * VHDX_SECTOR;
	uint64_t nblocks = (nsize + s->block_size - 1) / s->block_size;
	uint64_t nentries, nused, b, e;
	struct bat_win w = { .n = 0 };
	uint8_t item[8];
	int r;

	(void)flags;
	r = qimg_truncate_prealloc_off(prealloc, err);
	if (r < 0)
		return r;
	if (nsize > VHDX_MAX_SIZE)
		return qimg_error_set(err, EINVAL,
				      "Image size too large; max of 64TB");
	nentries = vhdx_bat_entries(nsize, s->block_size, s->logical_sector);
	nused = vhdx_bat_used(nsize, s->block_size, s->logical_sector);
	for (b = nblocks; b < s->nblocks; b++) {
		unsigned int st;

		r = win_get(s, &w, vhdx_bat_index(s, b), &e, err);
		if (r < 0)
			return r;
		st = VHDX_BAT_STATE(e);
		if (st == VHDX_PAYLOAD_FULLY_PRESENT ||
		    st == VHDX_PAYLOAD_PARTIALLY_PRESENT)
			return qimg_error_set(err, ENOTSUP,
					      "Cannot shrink the image: block "
					      "%" PRIu64 " past the new end "
					      "holds data",
					      b);
	}
	if (!s->data_guid_done) {
		r = vhdx_header_update(node, false, true, NULL, err);
		if (r < 0)
			return r;
		s->data_guid_done = true;
	}
	if (nentries * 8 > s->bat_len) {
		r = move_bat(node, nentries, err);
		if (r < 0)
			return r;
	}
	if (nused > s->nentries) {
		s->nentries = nused;
		qimg_tc_reset(&s->bat, s->bat_off, nused * 8, bat_held(s));
	}
	qimg_store_le64(item, nsize);
	if (nsize < s->disk_size) {
		uint64_t last = nsize ? (nsize - 1) / s->block_size : 0;
		uint64_t in = nsize - last * s->block_size;

		r = bat_get(s, vhdx_bat_index(s, last), &e, err);
		if (r < 0)
			return r;
		/* What the cut block held past the new end reads as zeros
		 * if the image grows again. */
		if (nsize && VHDX_BAT_STATE(e) == VHDX_PAYLOAD_FULLY_PRESENT &&
		    in < block_bytes(s, last)) {
			r = qimg_write_zeroes(
				node->file, VHDX_BAT_OFFSET(e) + in,
				block_bytes(s, last) - in, 0, err);
			if (r < 0)
				return r;
		}
		r = qimg_pwrite(node->file, s->size_item, item, 8, err);
		if (r >= 0)
			r = qimg_flush(node->file, err);
		if (r < 0)
			return r;
		if (s->nblocks > nblocks) {
			r = bat_set_range(s, vhdx_bat_index(s, nblocks),
					  vhdx_bat_index(s, s->nblocks - 1) + 1,
					  0, err);
			if (r < 0)
				return r;
		}
	} else {
		if (nblocks > s->nblocks) {
			r = bat_set_range(s, vhdx_bat_index(s, s->nblocks),
					  vhdx_bat_index(s, nblocks - 1) + 1,
					  VHDX_PAYLOAD_ZERO, err);
			if (r < 0)
				return r;
		}
		/* A block cut short at the old end covers its whole length
		 * in the file before the size says so. */
		if (s->nblocks) {
			uint64_t end;

			r = bat_get(s, vhdx_bat_index(s, s->nblocks - 1), &e,
				    err);
			if (r < 0)
				return r;
			end = VHDX_BAT_OFFSET(e) + s->block_size;
			if (VHDX_BAT_STATE(e) == VHDX_PAYLOAD_FULLY_PRESENT &&
			    end > s->file_len) {
				r = qimg_truncate(node->file, end, 0, NULL,
						  err);
				if (r < 0)
					return r;
				s->file_len = end;
			}
		}
		r = qimg_flush(node->file, err);
		if (r >= 0)
			r = qimg_pwrite(node->file, s->size_item, item, 8, err);
		if (r < 0)
			return r;
	}
	r = qimg_flush(node->file, err);
	if (r < 0)
		return r;
	s->disk_size = nsize;
	s->nblocks = nblocks;
	node->size = nsize;
	return 0;
}

static int vhdx_flush(struct qimg_node *node, struct qimg_error *err)
{
	return qimg_flush(node->file, err);
}

static int vhdx_get_info(struct qimg_node *node, struct qimg_image_info *info,
			 struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;

	(void)err;
	info->has_info = true;
	info->cluster_size = s->block_size;
	info->dirty = false;
	return 0;
}

/* qemu-img's check of a vhdx image: the log an open replayed (a
 * corruption it fixed), nothing else (open refuses the rest). */
static int vhdx_check(struct qimg_node *node, unsigned int fix,
		      struct qimg_check_result *res, qimg_report_fn report,
		      void *opaque, struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;

	(void)report;
	(void)opaque;
	(void)err;
	if (s->log_replayed) {
		if (fix)
			res->corruptions_fixed++;
		else
			res->corruptions++;
		s->log_replayed = false;
	}
	return 0;
}

const struct qimg_driver qimg_driver_vhdx = {
	.name = "vhdx",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct vhdx_state),
	.create_opts = vhdx_create_opts,
	.probe = vhdx_probe,
	.open = vhdx_open,
	.close = vhdx_close,
	.create_validate = vhdx_create_validate,
	.create_file_first = true,
	.create = vhdx_create,
	.read = vhdx_read,
	.write = vhdx_write,
	.block_status = vhdx_block_status,
	.status_copy_only = true,
	.flush = vhdx_flush,
	.truncate = vhdx_truncate,
	.get_info = vhdx_get_info,
	.check = vhdx_check,
};
