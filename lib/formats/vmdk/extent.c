/* SPDX-License-Identifier: MIT */
/* VMDK sparse extents: the hosted sparse header (KDMV, the footer of
 * stream files), the ESX sparse header (COWD) and seSparse, their grain
 * directories and tables, and compressed grains. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats/vmdk/vmdk.h"
#include "util/buf.h"
#include "util/endian.h"

#define VMDK_MAX_FILE_OFFSET ((uint64_t)INT64_MAX)

int vmdk_file_read(struct qimg_node *node, struct vmdk_extent *e, uint64_t off,
		   void *buf, size_t len, struct qimg_error *err)
{
	(void)node;
	if (off > VMDK_MAX_FILE_OFFSET || len > VMDK_MAX_FILE_OFFSET - off)
		return qimg_error_set(err, EIO, "Input/output error");
	return qimg_pread(e->file, off, buf, len, err);
}

static int read_table(struct qimg_node *node, struct vmdk_extent *e,
		      uint64_t sector, uint32_t entries, uint32_t **out,
		      struct qimg_error *err)
{
	uint32_t *t;
	uint32_t i;
	int r;

	t = malloc((size_t)entries * 4);
	if (!t)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (sector > VMDK_MAX_FILE_OFFSET / VMDK_SECTOR) {
		free(t);
		return qimg_error_set(err, EIO, "Input/output error");
	}
	r = vmdk_file_read(node, e, sector * VMDK_SECTOR, t,
			   (size_t)entries * 4, err);
	if (r < 0) {
		free(t);
		return r;
	}
	for (i = 0; i < entries; i++)
		t[i] = qimg_load_le32(&t[i]);
	*out = t;
	return 0;
}

static void cache_init(struct vmdk_extent *e)
{
	int i;

	for (i = 0; i < VMDK_GT_CACHE; i++)
		e->cache[i].l1_index = UINT64_MAX;
}

/* The geometry checks and messages are qemu-img's. */
static int set_geometry(struct vmdk_extent *e, uint64_t capacity,
			struct qimg_error *err)
{
	uint64_t n;

	if (e->grain_sectors > VMDK_MAX_GRAIN_SECTORS)
		return qimg_error_set(err, EINVAL,
				      "Invalid granularity, image may be "
				      "corrupt");
	if (e->kind == VMDK_EXT_SPARSE && e->gtes > VMDK_MAX_GTES)
		return qimg_error_set(err, EINVAL, "L2 table size too big");
	e->l1_entry_sectors = (uint64_t)e->gtes * e->grain_sectors;
	if (!e->l1_entry_sectors)
		return qimg_error_set(err, EINVAL, "L1 entry size is invalid");
	n = capacity / e->l1_entry_sectors + !!(capacity % e->l1_entry_sectors);
	if (n > VMDK_MAX_L1_ENTRIES)
		return qimg_error_set(err, EFBIG, "L1 size too big");
	e->l1_size = (uint32_t)n;
	e->sectors = capacity;
	return 0;
}

/* The header that counts for a stream file whose directory is at the
 * end: the copy before the end-of-stream marker. */
static int read_footer(struct qimg_node *node, struct vmdk_extent *e,
		       uint8_t *hdr, struct qimg_error *err)
{
	uint8_t f[3 * VMDK_SECTOR];
	int r;

	if (e->file_len < sizeof(f))
		return qimg_error_set(err, EINVAL, "Invalid footer");
	r = vmdk_file_read(node, e, (e->file_len & ~(uint64_t)511) - sizeof(f),
			   f, sizeof(f), err);
	if (r < 0)
		return r;
	if (qimg_load_le32(f + 12) != VMDK_MARKER_FOOTER ||
	    qimg_load_le32(f + VMDK_SECTOR) != VMDK_MAGIC_KDMV ||
	    qimg_load_le32(f + 2 * VMDK_SECTOR + 12) != VMDK_MARKER_EOS ||
	    qimg_load_le64(f + 2 * VMDK_SECTOR) != 0)
		return qimg_error_set(err, EINVAL, "Invalid footer");
	memcpy(hdr, f + VMDK_SECTOR, VMDK_SECTOR);
	return 0;
}

int vmdk_open_sparse(struct qimg_node *node, struct vmdk_extent *e,
		     const uint8_t *hdr0, bool monolithic,
		     struct qimg_error *err)
{
	uint8_t hdr[VMDK_SECTOR];
	uint64_t capacity;
	int r;

	(void)monolithic;
	memcpy(hdr, hdr0, sizeof(hdr));
	e->kind = VMDK_EXT_SPARSE;
	if (qimg_load_le64(hdr + 56) == VMDK_GD_AT_END) {
		e->gd_at_end = true;
		r = read_footer(node, e, hdr, err);
		if (r < 0)
			return r;
	}
	e->version = qimg_load_le32(hdr + 4);
	if (e->version > 3)
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported VMDK version %u",
				      e->version);
	e->flags = qimg_load_le32(hdr + 8);
	capacity = qimg_load_le64(hdr + 12);
	e->grain_sectors = qimg_load_le64(hdr + 20);
	e->gtes = qimg_load_le32(hdr + 44);
	e->rgd_sector = qimg_load_le64(hdr + 48);
	e->gd_sector = qimg_load_le64(hdr + 56);
	e->overhead = qimg_load_le64(hdr + 64);
	/* qemu-img goes by the algorithm field, not the flag. */
	e->compressed = qimg_load_le16(hdr + 77) == 1;
	e->markers = e->flags & VMDK_FLAG_MARKER;
	e->zeroed_grain = e->flags & VMDK_FLAG_ZERO_GRAIN;
	e->read_only = e->version == 3 && !e->compressed;
	r = set_geometry(e, capacity, err);
	if (r < 0)
		return r;
	if ((e->file_len + VMDK_SECTOR - 1) / VMDK_SECTOR < e->overhead)
		return qimg_error_set(
			err, EINVAL,
			"File truncated, expecting at least "
			"%llu bytes",
			(unsigned long long)(e->overhead * VMDK_SECTOR));
	if (e->flags & VMDK_FLAG_RGD) {
		/* The redundant directory is what qemu keeps in step. */
		r = read_table(node, e, e->rgd_sector, e->l1_size,
			       &e->l1_backup, err);
		if (r < 0)
			return r;
	}
	r = read_table(node, e, e->gd_sector, e->l1_size, &e->l1, err);
	if (r < 0) {
		free(e->l1_backup);
		e->l1_backup = NULL;
		return r;
	}
	cache_init(e);
	return 0;
}

int vmdk_open_cowd(struct qimg_node *node, struct vmdk_extent *e,
		   const uint8_t *hdr, struct qimg_error *err)
{
	int r;

	e->kind = VMDK_EXT_COWD;
	e->version = qimg_load_le32(hdr + 4);
	e->flags = qimg_load_le32(hdr + 8);
	e->grain_sectors = qimg_load_le32(hdr + 16);
	e->gd_sector = qimg_load_le32(hdr + 20);
	e->gtes = 4096;
	e->read_only = true;
	r = set_geometry(e, qimg_load_le32(hdr + 12), err);
	if (r < 0)
		return r;
	r = read_table(node, e, e->gd_sector, e->l1_size, &e->l1, err);
	if (r < 0)
		return r;
	cache_init(e);
	return 0;
}

/* seSparse: the constant header (u64 fields) and its volatile header. */
int vmdk_open_sesparse(struct qimg_node *node, struct vmdk_extent *e,
		       const uint8_t *hdr, struct qimg_error *err)
{
	uint64_t magic = qimg_load_le64(hdr), version, gd_sector, gd_size;
	uint8_t vh[VMDK_SECTOR];
	uint64_t i;
	int r;

	e->kind = VMDK_EXT_SESPARSE;
	e->read_only = true;
	if (magic != VMDK_SESPARSE_MAGIC)
		return qimg_error_set(err, EINVAL,
				      "Bad const header magic: 0x%016llx",
				      (unsigned long long)magic);
	version = qimg_load_le64(hdr + 8);
	if (version != UINT64_C(0x0000000200000001))
		return qimg_error_set(err, EINVAL,
				      "Unsupported version: 0x%016llx",
				      (unsigned long long)version);
	e->grain_sectors = qimg_load_le64(hdr + 24);
	if (e->grain_sectors != 8)
		return qimg_error_set(err, EINVAL,
				      "Unsupported grain size: %llu",
				      (unsigned long long)e->grain_sectors);
	if (qimg_load_le64(hdr + 32) != 64)
		return qimg_error_set(
			err, EINVAL, "Unsupported grain table size: %llu",
			(unsigned long long)qimg_load_le64(hdr + 32));
	if (qimg_load_le64(hdr + 40) != 0)
		return qimg_error_set(
			err, EINVAL, "Unsupported flags: 0x%016llx",
			(unsigned long long)qimg_load_le64(hdr + 40));
	/* reserved 48..79; then (offset, size) pairs from 80: volatile
	 * header, journal header, journal, GD, GTs, free bitmap, backmap,
	 * grains. */
	r = vmdk_file_read(node, e, qimg_load_le64(hdr + 80) * VMDK_SECTOR, vh,
			   sizeof(vh), err);
	if (r < 0)
		return r;
	if (qimg_load_le64(vh) != UINT64_C(0xcafecafe))
		return qimg_error_set(err, EINVAL,
				      "Bad volatile header magic: 0x%016llx",
				      (unsigned long long)qimg_load_le64(vh));
	if (qimg_load_le64(vh + 24))
		return qimg_error_set(err, ENOTSUP,
				      "Replaying the journal is not supported");
	e->gtes = 4096;
	r = set_geometry(e, qimg_load_le64(hdr + 16), err);
	if (r < 0)
		return r;
	gd_sector = qimg_load_le64(hdr + 128);
	gd_size = qimg_load_le64(hdr + 136);
	if ((uint64_t)e->l1_size * 8 > gd_size * VMDK_SECTOR)
		return qimg_error_set(err, EINVAL, "Grain directory too small");
	e->gd_sector = gd_sector;
	e->se_gt_sector = qimg_load_le64(hdr + 144);
	e->se_grain_sector = qimg_load_le64(hdr + 208);
	e->l1_64 = malloc((size_t)e->l1_size * 8 + 8);
	if (!e->l1_64)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (gd_sector > VMDK_MAX_FILE_OFFSET / VMDK_SECTOR) {
		free(e->l1_64);
		e->l1_64 = NULL;
		return qimg_error_set(err, EIO, "Input/output error");
	}
	r = vmdk_file_read(node, e, gd_sector * VMDK_SECTOR, e->l1_64,
			   (size_t)e->l1_size * 8, err);
	if (r < 0) {
		free(e->l1_64);
		e->l1_64 = NULL;
		return r;
	}
	for (i = 0; i < e->l1_size; i++)
		e->l1_64[i] = qimg_load_le64(&e->l1_64[i]);
	cache_init(e);
	return 0;
}

void vmdk_extent_free(struct vmdk_extent *e)
{
	int i;

	free(e->type);
	free(e->l1);
	free(e->l1_backup);
	free(e->l1_64);
	free(e->z_plain);
	for (i = 0; i < VMDK_GT_CACHE; i++) {
		free(e->cache[i].gt);
		free(e->cache[i].gt64);
	}
	memset(e, 0, sizeof(*e));
}

/* The grain table of GD entry l1_index (a cached copy). */
static int gt_get(struct qimg_node *node, struct vmdk_extent *e,
		  uint64_t l1_index, struct vmdk_gt_cache **out,
		  struct qimg_error *err)
{
	struct vmdk_gt_cache *c, *victim = &e->cache[0];
	int i, r;

	for (i = 0; i < VMDK_GT_CACHE; i++) {
		c = &e->cache[i];
		if (c->l1_index == l1_index) {
			c->age = ++e->clock;
			*out = c;
			return 0;
		}
		if (c->l1_index == UINT64_MAX ||
		    (victim->l1_index != UINT64_MAX && c->age < victim->age))
			victim = c;
	}
	c = victim;
	free(c->gt);
	free(c->gt64);
	c->gt = NULL;
	c->gt64 = NULL;
	c->l1_index = UINT64_MAX;
	if (e->kind == VMDK_EXT_SESPARSE) {
		uint64_t idx = e->l1_64[l1_index] & 0xffffffffu, s;
		uint32_t k;

		s = e->se_gt_sector + idx * (e->gtes * 8 / VMDK_SECTOR);
		c->gt64 = malloc((size_t)e->gtes * 8);
		if (!c->gt64)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		if (s > VMDK_MAX_FILE_OFFSET / VMDK_SECTOR)
			return qimg_error_set(err, EIO, "Input/output error");
		r = vmdk_file_read(node, e, s * VMDK_SECTOR, c->gt64,
				   (size_t)e->gtes * 8, err);
		if (r < 0)
			return r;
		for (k = 0; k < e->gtes; k++)
			c->gt64[k] = qimg_load_le64(&c->gt64[k]);
	} else {
		r = read_table(node, e, e->l1[l1_index], e->gtes, &c->gt, err);
		if (r < 0)
			return r;
	}
	c->l1_index = l1_index;
	c->age = ++e->clock;
	*out = c;
	return 0;
}

int vmdk_gt_load(struct qimg_node *node, struct vmdk_extent *e,
		 uint64_t l1_index, uint32_t **gt, struct qimg_error *err)
{
	struct vmdk_gt_cache *c;
	int r = gt_get(node, e, l1_index, &c, err);

	if (r == 0)
		*gt = c->gt;
	return r;
}

/* Decode entry k of the cached grain table c: *st, and for DATA and
 * COMPRESSED the byte where the grain lives. */
static int decode_entry(const struct vmdk_extent *e,
			const struct vmdk_gt_cache *c, uint32_t k,
			enum vmdk_grain_state *st, uint64_t *host,
			struct qimg_error *err)
{
	uint64_t ge, idx;

	*st = VMDK_GRAIN_UNALLOC;
	*host = 0;
	if (e->kind != VMDK_EXT_SESPARSE) {
		uint32_t v = c->gt[k];

		if (!v)
			return 0;
		if (v == 1 && e->zeroed_grain) {
			*st = VMDK_GRAIN_ZERO;
			return 0;
		}
		*host = (uint64_t)v * VMDK_SECTOR;
		*st = e->compressed ? VMDK_GRAIN_COMPRESSED : VMDK_GRAIN_DATA;
		return 0;
	}
	ge = c->gt64[k];
	switch (ge >> 60) {
	case 0:
		if (ge)
			return qimg_error_set(err, EIO,
					      "Invalid grain table entry");
		return 0;
	case 1:
	case 2:
		*st = VMDK_GRAIN_ZERO;
		return 0;
	case 3:
		idx = ((ge & UINT64_C(0x0fff000000000000)) >> 48) |
		      ((ge & UINT64_C(0x0000ffffffffffff)) << 12);
		*host = (e->se_grain_sector + idx * e->grain_sectors) *
			VMDK_SECTOR;
		*st = VMDK_GRAIN_DATA;
		return 0;
	default:
		return qimg_error_set(err, EIO, "Invalid grain table entry");
	}
}

/* Whether GD entry l1i names no grain table (0 when it names one, < 0
 * for a seSparse entry of the wrong type). */
static int no_table(const struct vmdk_extent *e, uint64_t l1i,
		    struct qimg_error *err)
{
	if (l1i >= e->l1_size)
		return 1;
	if (e->kind != VMDK_EXT_SESPARSE)
		return !e->l1[l1i];
	if (!e->l1_64[l1i])
		return 1;
	if (e->l1_64[l1i] >> 32 != 0x10000000u)
		return qimg_error_set(err, EIO,
				      "Invalid grain directory entry");
	return 0;
}

int vmdk_lookup_run(struct qimg_node *node, struct vmdk_extent *e, uint64_t off,
		    uint64_t n, enum vmdk_grain_state *st, uint64_t *host,
		    uint64_t *run, struct qimg_error *err)
{
	uint64_t g = e->grain_sectors * VMDK_SECTOR, g0 = off / g, done = 0;
	bool first = true;
	int r;

	*st = VMDK_GRAIN_UNALLOC;
	*host = 0;
	while (done < n) {
		uint64_t pos = off + done,
			 l1i = pos / VMDK_SECTOR / e->l1_entry_sectors;
		struct vmdk_gt_cache *c;
		uint32_t k;

		r = no_table(e, l1i, err);
		if (r < 0)
			return r;
		if (r) {
			uint64_t end = UINT64_MAX;

			if (!first && *st != VMDK_GRAIN_UNALLOC)
				break;
			first = false;
			if (l1i < e->l1_size &&
			    (l1i + 1) * e->l1_entry_sectors <=
				    UINT64_MAX / VMDK_SECTOR)
				end = (l1i + 1) * e->l1_entry_sectors *
				      VMDK_SECTOR;
			done = end - off < n ? end - off : n;
			continue;
		}
		r = gt_get(node, e, l1i, &c, err);
		if (r < 0)
			return r;
		for (k = (uint32_t)((pos / g) % e->gtes);
		     k < e->gtes && done < n; k++) {
			enum vmdk_grain_state st2;
			uint64_t h2, gi = (off + done) / g;

			/* unallocated grains, 64 entries at a time */
			if (!first && *st == VMDK_GRAIN_UNALLOC &&
			    e->kind != VMDK_EXT_SESPARSE && !(k % 64) &&
			    k + 64 <= e->gtes &&
			    qimg_is_zero(&c->gt[k], 64 * sizeof(uint32_t))) {
				done = (gi + 64) * g - off < n
					       ? (gi + 64) * g - off
					       : n;
				k += 63;
				continue;
			}
			r = decode_entry(e, c, k, &st2, &h2, err);
			if (r < 0)
				return r;
			if (first) {
				*st = st2;
				*host = h2;
				first = false;
			} else if (st2 != *st || st2 == VMDK_GRAIN_COMPRESSED ||
				   (st2 == VMDK_GRAIN_DATA &&
				    h2 != *host + (gi - g0) * g)) {
				goto out;
			}
			done = (gi + 1) * g - off < n ? (gi + 1) * g - off : n;
			if (st2 == VMDK_GRAIN_COMPRESSED)
				goto out;
		}
	}
out:
	*run = done;
	return 0;
}

int vmdk_lookup(struct qimg_node *node, struct vmdk_extent *e, uint64_t off,
		enum vmdk_grain_state *st, uint64_t *host,
		struct qimg_error *err)
{
	uint64_t run;

	return vmdk_lookup_run(node, e, off, 1, st, host, &run, err);
}

/* Inflate a zlib stream of clen bytes into out (up to outlen); *got is
 * what came out. */
static int inflate_grain(const uint8_t *in, size_t clen, uint8_t *out,
			 size_t outlen, size_t *got)
{
	z_stream z;
	int r;

	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return -1;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)clen;
	z.next_out = out;
	z.avail_out = (uInt)outlen;
	r = inflate(&z, Z_FINISH);
	*got = outlen - z.avail_out;
	inflateEnd(&z);
	return r == Z_STREAM_END ? 0 : -1;
}

int vmdk_read_compressed(struct qimg_node *node, struct vmdk_extent *e,
			 uint64_t host, uint64_t grain_off, uint8_t *buf,
			 size_t len, struct qimg_error *err)
{
	size_t grain = (size_t)e->grain_sectors * VMDK_SECTOR;
	size_t cap = 2 * grain + 2 * VMDK_SECTOR, clen, got = 0;
	uint8_t *cbuf, *data;
	int r;

	if (e->z_plain && e->z_host == host)
		goto copy;
	/* Nothing of a grain lies past the end of its file. */
	if (host >= e->file_len)
		cap = 0;
	else if (cap > e->file_len - host)
		cap = (size_t)(e->file_len - host);
	if (!e->z_plain) {
		e->z_plain = malloc(grain);
		if (!e->z_plain)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	e->z_host = UINT64_MAX;
	cbuf = malloc(cap ? cap : 1);
	if (!cbuf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = cap ? vmdk_file_read(node, e, host, cbuf, cap, err) : 0;
	if (r < 0)
		goto out;
	data = cbuf;
	clen = cap;
	if (e->markers) {
		clen = cap >= 12 ? qimg_load_le32(cbuf + 8) : SIZE_MAX;
		data = cbuf + 12;
		if (clen > cap - 12) {
			r = qimg_error_set(err, EIO,
					   "%s: compressed grain too big at "
					   "offset %llu",
					   e->file->filename,
					   (unsigned long long)host);
			goto out;
		}
	}
	if (inflate_grain(data, clen, e->z_plain, grain, &got) < 0) {
		r = qimg_error_set(err, EIO,
				   "%s: compressed grain at offset %llu is "
				   "damaged",
				   e->file->filename, (unsigned long long)host);
		goto out;
	}
	e->z_host = host;
	e->z_got = got;
out:
	free(cbuf);
	if (r < 0)
		return r;
copy:
	if (e->z_got < grain_off + len)
		return qimg_error_set(err, EIO,
				      "%s: compressed grain at offset %llu is "
				      "damaged",
				      e->file->filename,
				      (unsigned long long)host);
	memcpy(buf, e->z_plain + grain_off, len);
	return 0;
}
