/* SPDX-License-Identifier: MIT */
/* Apple UDIF disk images (.dmg), read-only, as qemu-img 7.2 reads them:
 * the 512-byte "koly" trailer near the end of the file, the "mish" block
 * tables it points at (base64 <data> in the XML property list, or a binary
 * resource fork), and their chunks: zero-fill and ignore (zeros), raw,
 * zlib and bzip2 (inflated a whole chunk at a time, the last one kept).
 * Chunks of other kinds (ADC, LZFSE, LZMA) are left out of the map, so
 * reading them fails as it does in qemu-img.  Probed by the ".dmg" name,
 * as qemu-img probes it. */

#include <bzlib.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/driver.h"
#include "formats/dmg.h"
#include "util/base64.h"
#include "util/endian.h"

#define DMG_SECTOR 512u
#define DMG_KOLY_SIZE 512u
/* qemu-img's largest chunk: 64 MiB of data, 64 MiB compressed. */
#define DMG_MAX_SECTORS (64u * 1024 * 1024 / DMG_SECTOR)
#define DMG_MAX_LENGTH (64u * 1024 * 1024)
/* The largest property list or resource fork read. */
#define DMG_MAX_FORK (64u * 1024 * 1024)
#define DMG_MAX_CHUNKS (16u * 1024 * 1024)

#define CHUNK_ZERO 0x00000000u
#define CHUNK_RAW 0x00000001u
#define CHUNK_IGNORE 0x00000002u
#define CHUNK_ZLIB 0x80000005u
#define CHUNK_BZIP2 0x80000006u

struct dmg_chunk {
	uint32_t type;
	uint64_t sector; /* first guest sector */
	uint64_t count;	 /* sectors */
	uint64_t off;	 /* in the file */
	uint64_t len;	 /* bytes in the file */
};

struct dmg_state {
	struct dmg_chunk *chunks; /* sorted by sector */
	size_t n, cap;
	uint64_t file_len;
	/* The last chunk inflated (SERIAL driver: the core serialises). */
	size_t cached; /* index + 1, 0: none */
	uint8_t *plain, *comp;
	size_t plain_cap, comp_cap;
};

static int dmg_probe(const uint8_t *head, size_t len, const char *filename)
{
	size_t fl = filename ? strlen(filename) : 0;

	(void)head;
	/* An empty file is raw, whatever its name. */
	return len && fl > 4 && !strcmp(filename + fl - 4, ".dmg") ? 2 : 0;
}

static int open_fail(struct qimg_node *node, int errnum, struct qimg_error *err)
{
	return qimg_error_set(err, errnum, "Could not open '%s': %s",
			      node->file->filename, strerror(errnum));
}

/* Bytes of the file, zeros past its end. */
static int file_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	struct dmg_state *s = node->opaque;
	size_t n = 0;

	if (off < s->file_len)
		n = s->file_len - off < len ? (size_t)(s->file_len - off) : len;
	memset((uint8_t *)buf + n, 0, len - n);
	return n ? qimg_pread(node->file, off, buf, n, err) : 0;
}

/* The trailer's offset: "koly" within the 515 bytes that end 511 bytes
 * before the file's length rounded up to a sector. */
static int find_koly(struct qimg_node *node, uint64_t *koly,
		     struct qimg_error *err)
{
	struct dmg_state *s = node->opaque;
	uint64_t len = (s->file_len + DMG_SECTOR - 1) & ~(uint64_t)511;
	uint64_t off = len > 1023 ? len - 1023 : 0;
	uint8_t buf[515];
	size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf), i;
	int r;

	if (len < DMG_SECTOR)
		return qimg_error_set(err, EINVAL,
				      "dmg file must be at least 512 bytes "
				      "long");
	r = file_read(node, off, buf, n, err);
	if (r < 0)
		return r;
	for (i = 0; i + 4 <= n; i++)
		if (!memcmp(buf + i, "koly", 4)) {
			*koly = off + i;
			return 0;
		}
	return qimg_error_set(err, EINVAL,
			      "Could not locate UDIF trailer in dmg file");
}

static int add_chunk(struct dmg_state *s, const struct dmg_chunk *c,
		     struct qimg_error *err)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct dmg_chunk *nc;

		if (cap > DMG_MAX_CHUNKS)
			return qimg_error_set(err, EFBIG, "Too many chunks");
		nc = realloc(s->chunks, cap * sizeof(*nc));
		if (!nc)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		s->chunks = nc;
		s->cap = cap;
	}
	s->chunks[s->n++] = *c;
	return 0;
}

/* One "mish" block of len bytes; blocks of another kind are skipped. */
static int parse_mish(struct qimg_node *node, const uint8_t *b, size_t len,
		      uint64_t data_fork, struct qimg_error *err)
{
	struct dmg_state *s = node->opaque;
	uint64_t first, data_off;
	uint32_t count, i;
	int r;

	if (len < 204 || memcmp(b, "mish", 4))
		return 0;
	first = qimg_load_be64(b + 8);
	data_off = qimg_load_be64(b + 24);
	count = qimg_load_be32(b + 200);
	if ((uint64_t)count * 40 > len - 204)
		return open_fail(node, EINVAL, err);
	for (i = 0; i < count; i++) {
		const uint8_t *e = b + 204 + (size_t)i * 40;
		struct dmg_chunk c;

		c.type = qimg_load_be32(e);
		if (c.type != CHUNK_ZERO && c.type != CHUNK_RAW &&
		    c.type != CHUNK_IGNORE && c.type != CHUNK_ZLIB &&
		    c.type != CHUNK_BZIP2)
			continue;
		c.sector = first + qimg_load_be64(e + 8);
		c.count = qimg_load_be64(e + 16);
		c.off = data_fork + data_off + qimg_load_be64(e + 24);
		c.len = qimg_load_be64(e + 32);
		if (c.sector < first ||
		    c.count > UINT64_MAX / DMG_SECTOR - c.sector)
			return open_fail(node, EINVAL, err);
		if (c.type != CHUNK_ZERO && c.type != CHUNK_IGNORE) {
			if (c.count > DMG_MAX_SECTORS) {
				qimg_error_note(err,
						QIMG_NOTE_REPORT
						"sector count %" PRIu64
						" for chunk %zu is larger "
						"than max (%u)",
						c.count, s->n, DMG_MAX_SECTORS);
				return open_fail(node, EINVAL, err);
			}
			if (c.len > DMG_MAX_LENGTH) {
				qimg_error_note(err,
						QIMG_NOTE_REPORT
						"length %" PRIu64
						" for chunk %zu is larger "
						"than max (%u)",
						c.len, s->n, DMG_MAX_LENGTH);
				return open_fail(node, EINVAL, err);
			}
		}
		r = add_chunk(s, &c, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Every <data>...</data> of the XML property list. */
static int parse_plist(struct qimg_node *node, uint64_t off, uint64_t len,
		       uint64_t data_fork, struct qimg_error *err)
{
	uint8_t *x, *p, *end;
	int r = 0;

	if (len > DMG_MAX_FORK)
		return open_fail(node, EFBIG, err);
	x = malloc(len + 1);
	if (!x)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = file_read(node, off, x, len, err);
	if (r < 0)
		goto out;
	x[len] = 0;
	p = x;
	end = x + len;
	for (;;) {
		uint8_t *a = memmem(p, end - p, "<data>", 6), *b;

		if (!a)
			break;
		a += 6;
		b = memmem(a, end - a, "</data>", 7);
		if (!b)
			break;
		r = parse_mish(node, a, qimg_base64_decode(a, b - a, a),
			       data_fork, err);
		if (r < 0)
			goto out;
		p = b + 7;
	}
out:
	free(x);
	return r;
}

/* A binary resource fork: a header naming where its data is, then
 * [u32 length][block] records. */
static int parse_rsrc(struct qimg_node *node, uint64_t off, uint64_t len,
		      uint64_t data_fork, struct qimg_error *err)
{
	uint8_t *f;
	uint32_t data_off, data_len;
	uint64_t pos, end;
	int r;

	if (len > DMG_MAX_FORK)
		return open_fail(node, EFBIG, err);
	if (len < 16)
		return open_fail(node, EINVAL, err);
	f = malloc(len);
	if (!f)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = file_read(node, off, f, len, err);
	if (r < 0)
		goto out;
	data_off = qimg_load_be32(f);
	data_len = qimg_load_be32(f + 8);
	if (data_off > len || data_len > len - data_off) {
		r = open_fail(node, EINVAL, err);
		goto out;
	}
	pos = data_off;
	end = (uint64_t)data_off + data_len;
	while (end - pos >= 4) {
		uint32_t n = qimg_load_be32(f + pos);

		pos += 4;
		if (n > end - pos) {
			r = open_fail(node, EINVAL, err);
			goto out;
		}
		r = parse_mish(node, f + pos, n, data_fork, err);
		if (r < 0)
			goto out;
		pos += n;
	}
out:
	free(f);
	return r;
}

static int chunk_cmp(const void *a, const void *b)
{
	const struct dmg_chunk *x = a, *y = b;

	return x->sector < y->sector ? -1 : x->sector > y->sector;
}

static int dmg_open(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err)
{
	struct dmg_state *s = node->opaque;
	uint8_t k[DMG_KOLY_SIZE];
	uint64_t koly = 0, data_fork, rsrc_off, rsrc_len, plist_off, plist_len;
	uint64_t end;
	int64_t len;
	int r;

	(void)opts;
	if (node->flags & QIMG_OPEN_RDWR)
		return qimg_error_set(err, EACCES, "Image is read-only");
	len = qimg_node_length(node->file, err);
	if (len < 0)
		return (int)len;
	s->file_len = (uint64_t)len;
	r = find_koly(node, &koly, err);
	if (r < 0)
		return r;
	r = file_read(node, koly, k, sizeof(k), err);
	if (r < 0)
		return r;
	data_fork = qimg_load_be64(k + 24);
	rsrc_off = qimg_load_be64(k + 40);
	rsrc_len = qimg_load_be64(k + 48);
	plist_off = qimg_load_be64(k + 216);
	plist_len = qimg_load_be64(k + 224);
	if (plist_len)
		r = parse_plist(node, plist_off, plist_len, data_fork, err);
	else if (rsrc_len)
		r = parse_rsrc(node, rsrc_off, rsrc_len, data_fork, err);
	else
		r = open_fail(node, EINVAL, err);
	if (r < 0)
		goto fail;
	qsort(s->chunks, s->n, sizeof(*s->chunks), chunk_cmp);
	/* The size is the trailer's sector count, whatever the chunks
	 * cover (reads outside every chunk fail). */
	end = qimg_load_be64(k + 492);
	if (end > (uint64_t)INT64_MAX / DMG_SECTOR) {
		r = open_fail(node, EINVAL, err);
		goto fail;
	}
	node->size = end * DMG_SECTOR;
	node->limits.request_align = DMG_SECTOR;
	node->limits.export_align = DMG_SECTOR;
	return 0;
fail:
	free(s->chunks);
	s->chunks = NULL;
	return r;
}

static void dmg_close(struct qimg_node *node)
{
	struct dmg_state *s = node->opaque;

	free(s->chunks);
	free(s->plain);
	free(s->comp);
}

/* The chunk holding sector, or -1. */
static ssize_t find_chunk(const struct dmg_state *s, uint64_t sector)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->chunks[mid].sector + s->chunks[mid].count <= sector)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Overlapping chunks: the first one (by start) that holds it. */
	for (; lo < s->n && s->chunks[lo].sector <= sector; lo++)
		if (sector < s->chunks[lo].sector + s->chunks[lo].count)
			return (ssize_t)lo;
	return -1;
}

static int inflate_zlib(const uint8_t *in, size_t inlen, uint8_t *out,
			size_t outlen)
{
	z_stream z;
	int r;

	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return -1;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	z.next_out = out;
	z.avail_out = (uInt)outlen;
	r = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	return (r == Z_STREAM_END || r == Z_OK || r == Z_BUF_ERROR) &&
			       z.total_out == outlen
		       ? 0
		       : -1;
}

static int inflate_bzip2(const uint8_t *in, size_t inlen, uint8_t *out,
			 size_t outlen)
{
	bz_stream z;
	int r;

	memset(&z, 0, sizeof(z));
	if (BZ2_bzDecompressInit(&z, 0, 0) != BZ_OK)
		return -1;
	z.next_in = (char *)in;
	z.avail_in = (unsigned int)inlen;
	z.next_out = (char *)out;
	z.avail_out = (unsigned int)outlen;
	r = BZ2_bzDecompress(&z);
	BZ2_bzDecompressEnd(&z);
	return (r == BZ_STREAM_END || r == BZ_OK) && z.avail_out == 0 ? 0 : -1;
}

/* Inflate chunk i into s->plain (kept for the next read). */
static int load_chunk(struct qimg_node *node, size_t i, struct qimg_error *err)
{
	struct dmg_state *s = node->opaque;
	const struct dmg_chunk *c = &s->chunks[i];
	size_t plain = (size_t)c->count * DMG_SECTOR, len = (size_t)c->len;
	int r;

	if (s->cached == i + 1)
		return 0;
	s->cached = 0;
	if (plain > s->plain_cap) {
		free(s->plain);
		s->plain = malloc(plain);
		s->plain_cap = s->plain ? plain : 0;
	}
	if (len > s->comp_cap || !s->comp) {
		free(s->comp);
		s->comp = malloc(len ? len : 1);
		s->comp_cap = s->comp ? len : 0;
	}
	if (!s->plain || !s->comp)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = file_read(node, c->off, s->comp, len, err);
	if (r < 0)
		return r;
	if (c->type == CHUNK_ZLIB)
		r = inflate_zlib(s->comp, len, s->plain, plain);
	else
		r = inflate_bzip2(s->comp, len, s->plain, plain);
	if (r < 0)
		return qimg_error_set(err, EIO, "Input/output error");
	s->cached = i + 1;
	return 0;
}

static int dmg_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct dmg_state *s = node->opaque;
	uint8_t *p = buf;
	int r;

	while (len) {
		uint64_t sector = off / DMG_SECTOR, in, n;
		ssize_t i = find_chunk(s, sector);
		const struct dmg_chunk *c;

		if (i < 0)
			return qimg_error_set(err, EIO, "Input/output error");
		c = &s->chunks[i];
		in = sector - c->sector;
		n = (c->count - in) * DMG_SECTOR;
		if (n > len)
			n = len;
		switch (c->type) {
		case CHUNK_ZERO:
		case CHUNK_IGNORE:
			memset(p, 0, n);
			break;
		case CHUNK_RAW:
			r = file_read(node, c->off + in * DMG_SECTOR, p, n,
				      err);
			if (r < 0)
				return r;
			break;
		default:
			r = load_chunk(node, (size_t)i, err);
			if (r < 0)
				return r;
			memcpy(p, s->plain + in * DMG_SECTOR, n);
			break;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

const struct qimg_driver qimg_driver_dmg = {
	.name = "dmg",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct dmg_state),
	.probe = dmg_probe,
	.open = dmg_open,
	.close = dmg_close,
	.read = dmg_read,
};
