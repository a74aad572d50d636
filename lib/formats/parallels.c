/* SPDX-License-Identifier: MIT */
/* Parallels images as qemu-img 7.2 reads and writes them: a 64-byte header
 * ("WithoutFreeSpace": BAT entries in sectors; "WithouFreSpacExt": in
 * clusters), the block allocation table (BAT) of 32-bit little-endian
 * entries right after it (0: not allocated, reads from the backing node or
 * as zeros), and the clusters.  New clusters go at the end of the data;
 * an image open read-write is marked in use ("Ynot") until it is closed,
 * when the file is cut back to the end of its data. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dirty-bitmap.h"
#include "core/driver.h"
#include "formats/parallels.h"
#include "formats/table-cache.h"
#include "util/endian.h"

#define PAR_SECTOR 512u
#define PAR_HEADER 64u
#define PAR_VERSION 2u
#define PAR_INUSE 0x746f6e59u /* "Ynot" */
#define PAR_EXT_MAGIC UINT64_C(0xab234cef23dcea87)
#define PAR_DEFAULT_CLUSTER (1u << 20)
#define PAR_MAX_TRACKS (INT32_MAX / 513)
#define PAR_MAX_BAT (INT32_MAX / 4)

static const char magic_v1[16] = "WithoutFreeSpace";
static const char magic_ext[16] = "WithouFreSpacExt";

#define OFF_VERSION 16
#define OFF_HEADS 20
#define OFF_CYLINDERS 24
#define OFF_TRACKS 28
#define OFF_BAT_ENTRIES 32
#define OFF_SECTORS 36
#define OFF_INUSE 44
#define OFF_DATA 48
#define OFF_FLAGS 52
#define OFF_EXT 56

struct par_state {
	uint8_t hdr[PAR_HEADER];
	struct qimg_tcache bat; /* read a page at a time (table-cache.h) */
	bool bat_open;
	uint64_t bat_bytes; /* bat_entries * 4 */
	uint32_t bat_entries;
	uint32_t tracks;       /* sectors per cluster */
	uint64_t cluster;      /* bytes */
	bool ext;	       /* entries in clusters, not sectors */
	uint64_t data_end;     /* sectors: where the next cluster goes */
	uint64_t data_off;     /* sectors: the first data cluster */
	uint64_t file_sectors; /* the file's length at open */
	bool marked;	       /* we set the in-use mark */
	/* Read-only opens: the Format Extension's dirty bitmaps. */
	struct qimg_bitmap_set bitmaps;
	bool has_bitmaps;
	bool was_inuse; /* the image was marked in use at open */
};

/* Entries a BAT scan reads at a time. */
#define PAR_SCAN 16384u

static uint64_t entry_sectors(const struct par_state *s, uint32_t e)
{
	return s->ext ? (uint64_t)e * s->tracks : e;
}

static int bat_get(struct par_state *s, uint64_t idx, uint32_t *e,
		   struct qimg_error *err)
{
	return qimg_tc_read_le32(&s->bat, idx, e, 1, err);
}

/* Set entries idx[k] to e[k] (k < n, ascending) and write them. */
static int bat_commit(struct par_state *s, const uint64_t *idx,
		      const uint32_t *e, size_t n, struct qimg_error *err)
{
	return qimg_tc_commit_le32(&s->bat, idx, e, n, err);
}

/* The end of the data (sectors): past the last cluster the BAT names, or
 * the first data sector. */
static int scan_data_end(struct par_state *s, struct qimg_error *err)
{
	uint32_t *e = malloc(PAR_SCAN * sizeof(uint32_t));
	uint64_t i, k, n;
	int r = 0;

	if (!e)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	s->data_end = s->data_off;
	for (i = 0; r == 0 && i < s->bat_entries; i += n) {
		n = s->bat_entries - i < PAR_SCAN ? s->bat_entries - i
						  : PAR_SCAN;
		r = qimg_tc_read_le32(&s->bat, i, e, (size_t)n, err);
		for (k = 0; r == 0 && k < n; k++) {
			uint64_t off = entry_sectors(s, e[k]);

			if (off && off + s->tracks > s->data_end)
				s->data_end = off + s->tracks;
		}
	}
	free(e);
	return r;
}

static int par_probe(const uint8_t *head, size_t len, const char *filename)
{
	(void)filename;
	if (len < PAR_HEADER)
		return 0;
	if ((!memcmp(head, magic_v1, 16) || !memcmp(head, magic_ext, 16)) &&
	    qimg_load_le32(head + OFF_VERSION) == PAR_VERSION)
		return 100;
	return 0;
}

static int write_header(struct qimg_node *node, struct qimg_error *err)
{
	struct par_state *s = node->opaque;

	return qimg_pwrite(node->file, 0, s->hdr, PAR_HEADER, err);
}

static int check_ext(struct qimg_node *node, uint64_t ext_off,
		     struct qimg_error *err)
{
	uint8_t m[8];
	uint64_t v;
	int r;

	r = qimg_pread(node->file, ext_off * PAR_SECTOR, m, sizeof(m), err);
	if (r < 0)
		return r;
	v = qimg_load_le64(m);
	if (v != PAR_EXT_MAGIC)
		return qimg_error_set(err, EINVAL,
				      "Wrong parallels Format Extension magic: "
				      "0x%" PRIx64 ", expected: 0x%" PRIx64,
				      v, PAR_EXT_MAGIC);
	return 0;
}

/* What an open holds in memory: the BAT cache, the extension's bitmaps. */
static void par_release(struct par_state *s)
{
	if (s->bat_open)
		qimg_tc_free(&s->bat);
	s->bat_open = false;
	if (s->has_bitmaps)
		qimg_bitmap_set_destroy(&s->bitmaps);
	s->has_bitmaps = false;
}

static int par_open(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err)
{
	struct par_state *s = node->opaque;
	const uint8_t *h = s->hdr;
	uint64_t sectors, ext_off, data_off;
	int64_t flen;
	int r;

	(void)opts;
	flen = qimg_node_length(node->file, err);
	if (flen < 0)
		return (int)flen;
	r = qimg_pread(node->file, 0, s->hdr, PAR_HEADER, err);
	if (r < 0)
		return r;
	if (qimg_load_le32(h + OFF_VERSION) != PAR_VERSION ||
	    (memcmp(h, magic_v1, 16) && memcmp(h, magic_ext, 16)))
		return qimg_error_set(err, EINVAL,
				      "Image not in Parallels format");
	s->ext = !memcmp(h, magic_ext, 16);
	s->tracks = qimg_load_le32(h + OFF_TRACKS);
	if (!s->tracks)
		return qimg_error_set(err, EINVAL,
				      "Invalid image: Zero sectors per track");
	if (s->tracks > PAR_MAX_TRACKS)
		return qimg_error_set(err, EFBIG,
				      "Invalid image: Too big cluster");
	s->cluster = (uint64_t)s->tracks * PAR_SECTOR;
	s->bat_entries = qimg_load_le32(h + OFF_BAT_ENTRIES);
	if (s->bat_entries > PAR_MAX_BAT)
		return qimg_error_set(err, EFBIG, "Catalog too large");
	sectors = s->ext ? qimg_load_le64(h + OFF_SECTORS)
			 : qimg_load_le32(h + OFF_SECTORS);
	if (sectors > INT64_MAX / PAR_SECTOR)
		return qimg_error_set(err, EFBIG, "Image size too large");
	ext_off = qimg_load_le64(h + OFF_EXT);
	if (ext_off && !(node->flags & QIMG_OPEN_RDWR)) {
		r = check_ext(node, ext_off, err);
		if (r < 0)
			return r;
	}
	node->size = sectors * PAR_SECTOR;
	if (ext_off && !(node->flags & QIMG_OPEN_RDWR) &&
	    !(node->flags & QIMG_OPEN_NO_IO)) {
		if (ext_off > UINT64_MAX / PAR_SECTOR)
			return qimg_error_set(err, EINVAL,
					      "Invalid Format Extension "
					      "offset");
		r = qimg_bitmap_set_init(&s->bitmaps, 16, true);
		if (r < 0)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		s->has_bitmaps = true;
		r = par_ext_load(node, ext_off * PAR_SECTOR, s->cluster,
				 &s->bitmaps, err);
		if (r < 0)
			goto fail;
	}
	if ((node->flags & QIMG_OPEN_RDWR) &&
	    !(node->flags & QIMG_OPEN_CHECK) &&
	    qimg_load_le32(h + OFF_INUSE) == PAR_INUSE)
		return qimg_error_set(err, EBUSY,
				      "parallels: Image was not closed "
				      "correctly; cannot be opened read/write");
	s->was_inuse = qimg_load_le32(h + OFF_INUSE) == PAR_INUSE;
	s->bat_bytes = (uint64_t)s->bat_entries * 4;
	/* The BAT must be in the file: a damaged count cannot make us
	 * allocate more than the file holds. */
	if (PAR_HEADER + (uint64_t)s->bat_bytes > (uint64_t)flen)
		return qimg_error_set(err, EINVAL,
				      "Invalid image: the BAT (%" PRIu32
				      " entries) runs past the end of the file",
				      s->bat_entries);
	qimg_tc_init(&s->bat, node->file, PAR_HEADER, s->bat_bytes,
		     s->bat_bytes);
	s->bat_open = true;
	data_off = qimg_load_le32(h + OFF_DATA);
	if (!data_off)
		data_off = (PAR_HEADER + s->bat_bytes + PAR_SECTOR - 1) /
			   PAR_SECTOR;
	s->data_off = data_off;
	r = scan_data_end(s, err);
	if (r < 0)
		goto fail;
	s->file_sectors = (uint64_t)flen / PAR_SECTOR;
	node->size = sectors * PAR_SECTOR;
	node->cluster_size = (uint32_t)s->cluster;
	node->zero_init = true;
	node->limits.request_align = PAR_SECTOR;
	node->limits.export_align = PAR_SECTOR;
	if ((node->flags & QIMG_OPEN_RDWR) &&
	    !(node->flags & QIMG_OPEN_NO_IO)) {
		/* Marked in use while open, as qemu-img marks it. */
		qimg_store_le32(s->hdr + OFF_INUSE, PAR_INUSE);
		r = write_header(node, err);
		if (r == 0)
			r = qimg_flush(node->file, err);
		if (r < 0)
			goto fail;
		s->marked = true;
	}
	return 0;

fail:
	par_release(s);
	return r;
}

static void par_close(struct qimg_node *node)
{
	struct par_state *s = node->opaque;
	struct qimg_error err = { 0 };

	if (s->marked) {
		/* Errors are ignored here, as qemu-img ignores them. */
		if (qimg_flush(node->file, &err) == 0) {
			qimg_store_le32(s->hdr + OFF_INUSE, 0);
			if (write_header(node, &err) == 0)
				qimg_truncate(node->file,
					      s->data_end * PAR_SECTOR,
					      QIMG_TRUNCATE_SHRINK, NULL, &err);
			qimg_flush(node->file, &err);
		}
		qimg_error_clear(&err);
	}
	par_release(s);
}

/* The Format Extension's bitmaps: read (NBD -B), never added to. */
static bool par_bitmap_supported(struct qimg_node *node)
{
	(void)node;
	return false;
}

static int par_bitmap_get(struct qimg_node *node, struct qimg_bitmap_set **out,
			  struct qimg_error *err)
{
	struct par_state *s = node->opaque;

	(void)err;
	*out = s->has_bitmaps ? &s->bitmaps : NULL;
	return 0;
}

static int par_bitmap_can_store(struct qimg_node *node, const char *name,
				uint32_t granularity, struct qimg_error *err)
{
	(void)node;
	(void)name;
	(void)granularity;
	return qimg_error_set(err, ENOTSUP,
			      "parallels images hold no persistent bitmaps");
}

static int par_bitmap_remove(struct qimg_node *node, const char *name,
			     struct qimg_error *err)
{
	(void)node;
	(void)name;
	(void)err;
	return 0;
}

static const struct qimg_bitmap_ops par_bitmap_ops = {
	.supported = par_bitmap_supported,
	.get = par_bitmap_get,
	.can_store = par_bitmap_can_store,
	.remove = par_bitmap_remove,
};

static int par_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct par_state *s = node->opaque;
	uint8_t *p = buf;
	int r;

	while (len) {
		uint64_t idx = off / s->cluster, in = off % s->cluster;
		size_t n =
			s->cluster - in < len ? (size_t)(s->cluster - in) : len;
		uint32_t e;

		r = bat_get(s, idx, &e, err);
		if (r < 0)
			return r;
		if (!e)
			r = qimg_read_backing(node, off, p, n, err);
		else
			r = qimg_pread(node->file,
				       entry_sectors(s, e) * PAR_SECTOR + in, p,
				       n, err);
		if (r < 0)
			return r;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Fill [host, host + len) of a new cluster for guest bytes from `guest`
 * with what the backing node has there (zeros without one), a chunk at a
 * time (clusters may be up to 2 GiB).  Without a backing node, the part
 * past the end of the file is left to the file's growth (reads as zeros). */
static int fill_cluster(struct qimg_node *node, uint64_t host, uint64_t guest,
			uint64_t len, struct qimg_error *err)
{
	const size_t chunk = 1u << 20;
	uint64_t pos = 0, flen = UINT64_MAX;
	uint8_t *buf;
	int64_t l;
	int r = 0;

	if (!node->backing) {
		l = qimg_node_length(node->file, err);
		if (l < 0)
			return (int)l;
		flen = (uint64_t)l;
	}
	buf = malloc(chunk);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	while (r == 0 && pos < len && host + pos < flen) {
		size_t n = len - pos < chunk ? (size_t)(len - pos) : chunk;

		if (node->backing)
			r = qimg_read_backing(node, guest + pos, buf, n, err);
		else
			memset(buf, 0, n);
		if (r == 0)
			r = qimg_pwrite(node->file, host + pos, buf, n, err);
		pos += n;
	}
	free(buf);
	return r;
}

/* A new cluster for guest cluster idx at the end of the data: `n` bytes
 * of data at `in`, the rest from the backing node (or zeros); *entry: its
 * BAT entry, committed by the caller after a flush. */
static int alloc_cluster(struct qimg_node *node, uint64_t idx, uint64_t in,
			 const uint8_t *data, size_t n, uint32_t *entry,
			 struct qimg_error *err)
{
	struct par_state *s = node->opaque;
	uint64_t start = s->data_end, e, host, guest;
	int64_t flen;
	int r;

	if (idx >= s->bat_entries)
		return qimg_error_set(err, EINVAL,
				      "%s: cluster %" PRIu64 " is past the "
				      "BAT",
				      node->filename, idx);
	if (s->ext && start % s->tracks)
		start += s->tracks - start % s->tracks;
	e = s->ext ? start / s->tracks : start;
	if (e > UINT32_MAX || !e || start > INT64_MAX / PAR_SECTOR / 2)
		return qimg_error_set(err, EFBIG,
				      "%s: no room for another cluster",
				      node->filename);
	host = start * PAR_SECTOR;
	guest = idx * s->cluster;
	r = fill_cluster(node, host, guest, in, err);
	if (r == 0)
		r = fill_cluster(node, host + in + n, guest + in + n,
				 s->cluster - in - n, err);
	if (r == 0)
		r = qimg_pwrite(node->file, host + in, data, n, err);
	if (r < 0)
		return r;
	flen = qimg_node_length(node->file, err);
	if (flen < 0)
		return (int)flen;
	if ((uint64_t)flen < host + s->cluster) {
		r = qimg_truncate(node->file, host + s->cluster, 0, NULL, err);
		if (r < 0)
			return r;
	}
	s->data_end = start + s->tracks;
	*entry = (uint32_t)e;
	return 0;
}

/* New clusters' data reaches the disk (one flush per request) before the
 * BAT entries that name them: a crash leaves unnamed space at the end of
 * the data (a leak), never an entry past the file or over lost data. */
static int par_write(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err)
{
	struct par_state *s = node->opaque;
	size_t most = (size_t)(len / s->cluster) + 2, nnew = 0;
	uint64_t *fresh = malloc(most * sizeof(uint64_t));
	uint32_t *entry = malloc(most * sizeof(uint32_t));
	const uint8_t *p = buf;
	int r = 0;

	if (!fresh || !entry) {
		free(fresh);
		free(entry);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	while (r == 0 && len) {
		uint64_t idx = off / s->cluster, in = off % s->cluster;
		size_t n =
			s->cluster - in < len ? (size_t)(s->cluster - in) : len;
		uint32_t e;

		r = bat_get(s, idx, &e, err);
		if (r < 0)
			break;
		if (e) {
			r = qimg_pwrite(node->file,
					entry_sectors(s, e) * PAR_SECTOR + in,
					p, n, err);
		} else {
			r = alloc_cluster(node, idx, in, p, n, &entry[nnew],
					  err);
			if (r == 0)
				fresh[nnew++] = idx;
		}
		p += n;
		off += n;
		len -= n;
	}
	/* What fails before its entries are on the disk is forgotten: the
	 * new clusters' space is leaked, never named. */
	if (r == 0 && nnew)
		r = qimg_flush(node->file, err);
	if (r == 0 && nnew)
		r = bat_commit(s, fresh, entry, nnew, err);
	free(fresh);
	free(entry);
	return r;
}

static int par_flush(struct qimg_node *node, struct qimg_error *err)
{
	return qimg_flush(node->file, err);
}

static int par_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_extent *ext, struct qimg_error *err)
{
	struct par_state *s = node->opaque;
	uint64_t idx = off / s->cluster, in = off % s->cluster;
	uint32_t e;
	int r = bat_get(s, idx, &e, err);

	if (r < 0)
		return r;
	ext->len = s->cluster - in < len ? s->cluster - in : len;
	if (!e) {
		ext->flags = 0;
		return 0;
	}
	ext->flags = QIMG_BS_DATA | QIMG_BS_OFFSET_VALID;
	ext->map = entry_sectors(s, e) * PAR_SECTOR + in;
	ext->file = node->file;
	return 0;
}

#define REPORT(fn, opaque, ...)                                                \
	do {                                                                   \
		char line_[160];                                               \
		if (fn) {                                                      \
			snprintf(line_, sizeof(line_), __VA_ARGS__);           \
			(fn)(opaque, line_);                                   \
		}                                                              \
	} while (0)

/* qemu-img's checker: the in-use mark, clusters past the end of the file,
 * space past the last cluster; statistics as qemu-img counts them. */
static int par_check(struct qimg_node *node, unsigned int fix,
		     struct qimg_check_result *res, qimg_report_fn fn,
		     void *opaque, struct qimg_error *err)
{
	struct par_state *s = node->opaque;
	uint64_t i, base, n, k, high = 0, prev = 0, size;
	uint32_t *e = NULL;
	bool bat_dirty = false;
	int64_t flen;
	int r;

	flen = qimg_node_length(node->file, err);
	if (flen < 0)
		return (int)flen;
	size = (uint64_t)flen;
	if (s->was_inuse) {
		REPORT(fn, opaque, "%s image was not closed correctly",
		       (fix & QIMG_CHECK_FIX_ERRORS) ? "Repairing" : "ERROR");
		res->corruptions++;
		if (fix & QIMG_CHECK_FIX_ERRORS) {
			/* The mark goes when the image is closed. */
			s->was_inuse = false;
			res->corruptions_fixed++;
		}
	}
	res->total_clusters = s->bat_entries;
	e = malloc(PAR_SCAN * sizeof(uint32_t));
	if (!e)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (base = 0; base < s->bat_entries; base += n) {
		n = s->bat_entries - base < PAR_SCAN ? s->bat_entries - base
						     : PAR_SCAN;
		r = qimg_tc_read_le32(&s->bat, base, e, (size_t)n, err);
		if (r < 0)
			goto out;
		for (k = 0; k < n; k++) {
			uint64_t off = entry_sectors(s, e[k]) * PAR_SECTOR;

			i = base + k;
			if (!off) {
				prev = 0;
				continue;
			}
			if (off > size) {
				REPORT(fn, opaque,
				       "%s cluster %" PRIu64
				       " is outside image",
				       (fix & QIMG_CHECK_FIX_ERRORS)
					       ? "Repairing"
					       : "ERROR",
				       i);
				res->corruptions++;
				if (fix & QIMG_CHECK_FIX_ERRORS) {
					uint32_t zero = 0;

					r = bat_commit(s, &i, &zero, 1, err);
					if (r < 0)
						goto out;
					bat_dirty = true;
					res->corruptions_fixed++;
					prev = 0;
					continue;
				}
			}
			res->allocated_clusters++;
			if (off > high)
				high = off;
			if (prev && prev + s->cluster != off)
				res->fragmented_clusters++;
			prev = off;
		}
	}
	free(e);
	e = NULL;
	/* The data now ends at the last cluster still used (qemu-img keeps
	 * the end it found at open and so extends the file over the dropped
	 * cluster at close). */
	if (bat_dirty) {
		r = scan_data_end(s, err);
		if (r < 0)
			return r;
	}
	res->image_end_offset = (int64_t)(high + s->cluster);
	if (size > (uint64_t)res->image_end_offset) {
		uint64_t extra = size - (uint64_t)res->image_end_offset;
		int count = (int)((extra + s->cluster - 1) / s->cluster);

		REPORT(fn, opaque,
		       "%s space leaked at the end of the image %" PRIu64,
		       (fix & QIMG_CHECK_FIX_LEAKS) ? "Repairing" : "ERROR",
		       extra);
		res->leaks += count;
		if (fix & QIMG_CHECK_FIX_LEAKS) {
			r = qimg_truncate(node->file,
					  (uint64_t)res->image_end_offset,
					  QIMG_TRUNCATE_SHRINK, NULL, err);
			if (r < 0)
				return r;
			res->leaks_fixed += count;
		}
	}
	if (fix)
		return qimg_flush(node->file, err);
	return 0;
out:
	free(e);
	return r;
}

/* Create */

static const struct qimg_opt_desc par_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "cluster_size", QIMG_OPT_SIZE, "Parallels image cluster size",
	  "1048576" },
	{ NULL, 0, NULL, NULL },
};

static int par_create_validate(const struct qimg_opts *o,
			       struct qimg_error *err)
{
	uint64_t size = qimg_opts_get_u64(o, "size", 0);
	uint64_t cl = qimg_opts_get_u64(o, "cluster_size", PAR_DEFAULT_CLUSTER);
	const char *p = qimg_opts_get_str(o, "preallocation", "off");

	if (!strcmp(p, "metadata"))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported preallocation mode: %s", p);
	if (!qimg_prealloc_mode_known(p))
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", p);
	if (cl > (uint64_t)UINT32_MAX * PAR_SECTOR ||
	    (cl && size / cl >= (UINT64_C(1) << 32)))
		return qimg_error_set(err, EINVAL,
				      "Image size is too large for this "
				      "cluster size");
	return 0;
}

static int par_create(struct qimg_node *file, const struct qimg_opts *o,
		      struct qimg_error *err)
{
	uint64_t size = qimg_opts_get_u64(o, "size", 0);
	uint64_t cl = qimg_opts_get_u64(o, "cluster_size", PAR_DEFAULT_CLUSTER);
	uint64_t sectors = (size + PAR_SECTOR - 1) / PAR_SECTOR;
	uint32_t tracks = (uint32_t)(cl / PAR_SECTOR);
	uint64_t bat, bat_end, data_off, done, end;
	uint8_t h[PAR_HEADER];
	uint8_t *zero;
	int r;

	if (!tracks)
		return qimg_error_set(err, EINVAL,
				      "Cluster size must be at least 512");
	bat = (sectors + tracks - 1) / tracks;
	if (bat > UINT32_MAX)
		return qimg_error_set(err, EFBIG,
				      "Image size is too large for this "
				      "cluster size");
	bat_end = PAR_HEADER + bat * 4;
	data_off = (bat_end + cl - 1) / cl * cl / PAR_SECTOR;
	memset(h, 0, sizeof(h));
	memcpy(h, magic_ext, 16);
	qimg_store_le32(h + OFF_VERSION, PAR_VERSION);
	qimg_store_le32(h + OFF_HEADS, 16);
	qimg_store_le32(h + OFF_CYLINDERS, (uint32_t)(sectors / 16 / 32));
	qimg_store_le32(h + OFF_TRACKS, tracks);
	qimg_store_le32(h + OFF_BAT_ENTRIES, (uint32_t)bat);
	qimg_store_le64(h + OFF_SECTORS, sectors);
	qimg_store_le32(h + OFF_DATA, (uint32_t)data_off);
	r = qimg_pwrite(file, 0, h, sizeof(h), err);
	if (r < 0)
		return r;
	/* An all-zero BAT and the rest of the header clusters, written (not
	 * holes) up to the first data cluster as qemu-img writes them, so
	 * that `info` gives the same disk size. */
	zero = calloc(1, 1u << 20);
	if (!zero)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	end = data_off * PAR_SECTOR;
	for (done = PAR_HEADER; r == 0 && done < end;) {
		uint64_t n = end - done < (1u << 20) ? end - done : (1u << 20);

		r = qimg_pwrite(file, done, zero, (size_t)n, err);
		done += n;
	}
	free(zero);
	return r;
}

const struct qimg_driver qimg_driver_parallels = {
	.name = "parallels",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct par_state),
	.create_opts = par_create_opts,
	.probe = par_probe,
	.open = par_open,
	.close = par_close,
	.bitmap = &par_bitmap_ops,
	.create_validate = par_create_validate,
	.create_file_first = true,
	.create = par_create,
	.read = par_read,
	.write = par_write,
	.flush = par_flush,
	.block_status = par_block_status,
	.check = par_check,
	.supports_backing = true,
};
