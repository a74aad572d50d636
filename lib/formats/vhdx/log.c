/* SPDX-License-Identifier: MIT */
/* The VHDX metadata log (MS-VHDX 2.3): a circular buffer of 4 KiB sectors
 * holding entries (a header, descriptors, data sectors).  When the header
 * names a log (LogGuid not zero), the active sequence (the longest run of
 * valid entries with consecutive sequence numbers, the one ending with the
 * highest number) is written to the file before any other metadata is
 * read; then the LogGuid is cleared in both headers. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/vhdx/vhdx.h"
#include "util/crc32c.h"
#include "util/endian.h"

/* Entry header fields. */
#define LE_SIG 0
#define LE_CRC 4
#define LE_LEN 8
#define LE_TAIL 12
#define LE_SEQ 16
#define LE_NDESC 24
#define LE_GUID 32
#define LE_FLUSHED 48
#define LE_LAST 56
#define LE_HEADER 64
#define LE_DESC 32u

/* The file offsets a replay may touch: what a 64 TiB image needs, with
 * room for its metadata. */
#define LOG_MAX_FILE_OFFSET (UINT64_C(1) << 47)

struct log_ctx {
	struct qimg_node *node;
	uint64_t off; /* where the log is in the file */
	uint32_t len; /* its length, a multiple of 4 KiB */
	uint8_t guid[16];
};

/* len bytes of the log from pos on, wrapping at its end. */
static int log_read(struct log_ctx *c, uint64_t pos, uint8_t *buf, uint64_t len,
		    struct qimg_error *err)
{
	while (len) {
		uint64_t n = c->len - pos < len ? c->len - pos : len;
		int r = qimg_pread(c->node->file, c->off + pos, buf, n, err);

		if (r < 0)
			return r;
		buf += n;
		len -= n;
		pos = (pos + n) % c->len;
	}
	return 0;
}

/* The number of 4 KiB sectors holding the header and n descriptors. */
static uint64_t desc_sectors(uint32_t n)
{
	return ((uint64_t)n * LE_DESC + LE_HEADER + VHDX_LOG_SECTOR - 1) /
	       VHDX_LOG_SECTOR;
}

/* Read and check the entry at pos: *entry (malloc'd, its whole length) or
 * NULL when there is no valid entry there. */
static int entry_load(struct log_ctx *c, uint64_t pos, uint8_t **entry,
		      struct qimg_error *err)
{
	uint8_t h[VHDX_LOG_SECTOR], *e;
	uint32_t len, n, i;
	uint64_t seq, ndata = 0;
	int r;

	*entry = NULL;
	r = log_read(c, pos, h, sizeof(h), err);
	if (r < 0)
		return r;
	len = qimg_load_le32(h + LE_LEN);
	n = qimg_load_le32(h + LE_NDESC);
	seq = qimg_load_le64(h + LE_SEQ);
	if (memcmp(h, "loge", 4) || !len || len % VHDX_LOG_SECTOR ||
	    len > c->len || memcmp(h + LE_GUID, c->guid, 16) || !seq ||
	    desc_sectors(n) * VHDX_LOG_SECTOR > len)
		return 0;
	e = malloc(len);
	if (!e)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = log_read(c, pos, e, len, err);
	if (r < 0)
		goto bad;
	if (!vhdx_checksum_ok(e, len, LE_CRC))
		goto bad;
	for (i = 0; i < n; i++) {
		const uint8_t *d = e + LE_HEADER + (size_t)i * LE_DESC;

		if (qimg_load_le64(d + 24) != seq)
			goto bad;
		if (!memcmp(d, "desc", 4))
			ndata++;
		else if (memcmp(d, "zero", 4))
			goto bad;
	}
	if ((desc_sectors(n) + ndata) * VHDX_LOG_SECTOR > len)
		goto bad;
	for (i = 0; i < ndata; i++) {
		const uint8_t *d = e + (desc_sectors(n) + i) * VHDX_LOG_SECTOR;

		if (memcmp(d, "data", 4) ||
		    qimg_load_le32(d + 4) != (uint32_t)(seq >> 32) ||
		    qimg_load_le32(d + 4092) != (uint32_t)seq)
			goto bad;
	}
	*entry = e;
	return 0;
bad:
	free(e);
	return r < 0 ? r : 0;
}

/* The active sequence: its first entry's position, its length in entries,
 * its last sequence number (0: none found). */
struct log_seq {
	uint64_t start, count, last;
};

static int find_sequence(struct log_ctx *c, struct log_seq *best,
			 struct qimg_error *err)
{
	uint64_t pos = 0;
	int r;

	memset(best, 0, sizeof(*best));
	while (pos < c->len) {
		struct log_seq cur = { pos, 0, 0 };
		uint64_t p = pos, walked = 0;
		uint8_t *e;

		for (;;) {
			uint64_t seq;
			uint32_t len;

			r = entry_load(c, p, &e, err);
			if (r < 0)
				return r;
			if (!e)
				break;
			seq = qimg_load_le64(e + LE_SEQ);
			len = qimg_load_le32(e + LE_LEN);
			free(e);
			if (cur.count && seq != cur.last + 1)
				break;
			cur.count++;
			cur.last = seq;
			walked += len;
			p = (p + len) % c->len;
			if (walked >= c->len)
				break;
		}
		if (cur.count &&
		    (cur.last > best->last ||
		     (cur.last == best->last && cur.count > best->count)))
			*best = cur;
		/* Go on after what this run covered (inside the log). */
		pos += cur.count && pos + walked < c->len ? walked
							  : VHDX_LOG_SECTOR;
	}
	return 0;
}

static int replay_entry(struct log_ctx *c, const uint8_t *e,
			struct qimg_error *err)
{
	uint32_t n = qimg_load_le32(e + LE_NDESC), i;
	uint64_t data = desc_sectors(n);
	uint8_t sector[VHDX_LOG_SECTOR];
	int r;

	for (i = 0; i < n; i++) {
		const uint8_t *d = e + LE_HEADER + (size_t)i * LE_DESC;
		uint64_t off = qimg_load_le64(d + 16);

		if (off % VHDX_LOG_SECTOR || off > LOG_MAX_FILE_OFFSET)
			return qimg_error_set(err, EINVAL,
					      "Could not open '%s': Invalid "
					      "argument",
					      c->node->file->filename);
		if (!memcmp(d, "zero", 4)) {
			uint64_t len = qimg_load_le64(d + 8);

			if (len % VHDX_LOG_SECTOR ||
			    len > LOG_MAX_FILE_OFFSET - off)
				return qimg_error_set(err, EINVAL,
						      "Could not open '%s': "
						      "Invalid argument",
						      c->node->file->filename);
			r = qimg_write_zeroes(c->node->file, off, len, 0, err);
		} else {
			const uint8_t *s = e + data++ * VHDX_LOG_SECTOR;

			memcpy(sector, d + 8, 8);
			memcpy(sector + 8, s + 8, 4084);
			memcpy(sector + 4092, d + 4, 4);
			r = qimg_pwrite(c->node->file, off, sector,
					sizeof(sector), err);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int vhdx_log_replay(struct qimg_node *node, struct qimg_error *err)
{
	struct vhdx_state *s = node->opaque;
	struct log_ctx c = { node, s->log_off, s->log_len, { 0 } };
	struct log_seq seq;
	uint64_t pos, i, last_off = 0;
	int64_t flen;
	int r;

	memcpy(c.guid, s->hdr + VHDX_H_LOG_GUID, 16);
	flen = qimg_node_length(node->file, err);
	if (flen < 0)
		return (int)flen;
	if (!c.len || c.len % VHDX_MIB || c.off % VHDX_MIB ||
	    c.off < VHDX_MIB || c.off + c.len > (uint64_t)flen)
		return qimg_error_set(err, EINVAL,
				      "Could not open '%s': Invalid argument",
				      node->file->filename);
	r = find_sequence(&c, &seq, err);
	if (r < 0)
		return r;
	for (pos = seq.start, i = 0; i < seq.count; i++) {
		uint8_t *e;

		r = entry_load(&c, pos, &e, err);
		if (r < 0)
			return r;
		if (!e)
			break;
		if (qimg_load_le64(e + LE_FLUSHED) > (uint64_t)flen) {
			free(e);
			return qimg_error_set(err, EINVAL,
					      "Could not open '%s': Invalid "
					      "argument",
					      node->file->filename);
		}
		if (qimg_load_le64(e + LE_LAST) > last_off)
			last_off = qimg_load_le64(e + LE_LAST);
		r = replay_entry(&c, e, err);
		pos = (pos + qimg_load_le32(e + LE_LEN)) % c.len;
		free(e);
		if (r < 0)
			return r;
	}
	if (seq.count) {
		last_off = (last_off + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
		flen = qimg_node_length(node->file, err);
		if (flen < 0)
			return (int)flen;
		if (last_off > (uint64_t)flen &&
		    last_off <= LOG_MAX_FILE_OFFSET) {
			r = qimg_truncate(node->file, last_off, 0, NULL, err);
			if (r < 0)
				return r;
		}
		r = qimg_flush(node->file, err);
		if (r < 0)
			return r;
	}
	r = vhdx_header_update(node, false, false, NULL, err);
	if (r >= 0)
		r = vhdx_header_update(node, false, false, NULL, err);
	return r;
}
