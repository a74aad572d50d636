/* SPDX-License-Identifier: MIT */
/* qcow2 checker, refcount side: zero-filled reads, the in-memory refcount
 * table in refblock format (1..64-bit entries), on-disk refcount lookups
 * and leak/corruption updates, qemu's metadata overlap guard for repair
 * writes, and the rebuild of the whole refcount structure. */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/check-int.h"
#include "util/buf.h"
#include "util/endian.h"
#include "util/overflow.h"
#include "util/vector.h"

static void signal_corruption(struct ck *c, bool fatal, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void qcow2_ck_say(struct ck *c, const char *fmt, ...)
{
	char buf[512];
	char *line = NULL;
	va_list ap;
	int n;

	if (!c->report)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		va_start(ap, fmt);
		if (vasprintf(&line, fmt, ap) < 0)
			line = NULL;
		va_end(ap);
	}
	c->report(c->opaque, line ? line : buf);
	free(line);
}

/* Read [off, off+len) from the file; bytes past the end of the file read
 * as zeros (as they would through qemu's file driver), so tables that
 * hang off the end cost no I/O and cannot fail. */
int qcow2_ck_read(struct ck *c, uint64_t off, void *buf, size_t len)
{
	uint64_t avail = 0;

	if (off < (uint64_t)c->file_len)
		avail = (uint64_t)c->file_len - off;
	if (avail > len)
		avail = len;
	if (avail) {
		int r = qimg_pread(c->file, off, buf, (size_t)avail, c->err);

		if (r < 0)
			return r;
	}
	memset((uint8_t *)buf + avail, 0, len - (size_t)avail);
	return 0;
}

int qcow2_ck_write(struct ck *c, uint64_t off, const void *buf, size_t len)
{
	int r = qimg_pwrite(c->file, off, buf, len, c->err);
	uint64_t end = off + len;

	if (r < 0)
		return r;
	if (end > (uint64_t)c->file_len)
		c->file_len = (int64_t)end;
	return 0;
}

/* ---- refcount entries in refblock format ---------------------------- */

static uint64_t rc_get(const uint8_t *a, unsigned int order, uint64_t i)
{
	switch (order) {
	case 0:
		return (a[i / 8] >> (i % 8)) & 0x1;
	case 1:
		return (a[i / 4] >> (2 * (i % 4))) & 0x3;
	case 2:
		return (a[i / 2] >> (4 * (i % 2))) & 0xf;
	case 3:
		return a[i];
	case 4:
		return qimg_load_be16(a + 2 * i);
	case 5:
		return qimg_load_be32(a + 4 * i);
	default:
		return qimg_load_be64(a + 8 * i);
	}
}

static void rc_set(uint8_t *a, unsigned int order, uint64_t i, uint64_t v)
{
	unsigned int sh;

	switch (order) {
	case 0:
	case 1:
	case 2: {
		unsigned int bits = 1u << order;
		unsigned int per = 8 / bits;
		uint8_t mask = (uint8_t)((1u << bits) - 1);

		sh = bits * (unsigned int)(i % per);
		a[i / per] = (uint8_t)((a[i / per] & ~(mask << sh)) |
				       ((v & mask) << sh));
		break;
	}
	case 3:
		a[i] = (uint8_t)v;
		break;
	case 4:
		qimg_store_be16(a + 2 * i, (uint16_t)v);
		break;
	case 5:
		qimg_store_be32(a + 4 * i, (uint32_t)v);
		break;
	default:
		qimg_store_be64(a + 8 * i, v);
		break;
	}
}

/* Byte range holding entry i (for writing one entry back). */
static void rc_span(unsigned int order, uint64_t i, uint64_t *byte, size_t *len)
{
	if (order < 3) {
		*byte = (i << order) / 8;
		*len = 1;
	} else {
		*len = (size_t)1 << (order - 3);
		*byte = i * *len;
	}
}

/* ---- in-memory refcount table ---------------------------------------- */

int qcow2_ck_imrt_resize(struct ck *c, int64_t n)
{
	uint64_t bits, bytes;
	uint8_t *p;

	if (n < 0 || qimg_mul_overflow((uint64_t)n,
				       (uint64_t)1 << c->refcount_order, &bits))
		return -ENOMEM;
	bytes = qimg_div_round_up(bits, 8);
	if (qimg_align_up_overflow(bytes, c->cluster_size, &bytes) ||
	    bytes > SIZE_MAX)
		return -ENOMEM;
	if (bytes > c->imrt_bytes) {
		p = realloc(c->imrt, (size_t)bytes);
		if (!p)
			return -ENOMEM;
		memset(p + c->imrt_bytes, 0, (size_t)bytes - c->imrt_bytes);
		c->imrt = p;
		c->imrt_bytes = (size_t)bytes;
	}
	c->imrt_n = n;
	return 0;
}

uint64_t qcow2_ck_imrt_get(const struct ck *c, int64_t k)
{
	return rc_get(c->imrt, c->refcount_order, (uint64_t)k);
}

static void imrt_set(struct ck *c, int64_t k, uint64_t v)
{
	rc_set(c->imrt, c->refcount_order, (uint64_t)k, v);
}

/* Count one reference to every cluster [offset, offset+size) touches. */
int qcow2_ck_inc_refs(struct ck *c, struct qimg_check_result *res,
		      uint64_t offset, uint64_t size)
{
	uint64_t end, start, last, co;
	int r;

	if (size == 0 || (int64_t)size < 0)
		return 0;
	/* The last cluster may be partly written, so up to one cluster
	 * past the end of the file is fine. */
	if (qimg_add_overflow(offset, size, &end) || end > INT64_MAX ||
	    (end > (uint64_t)c->file_len &&
	     end - (uint64_t)c->file_len >= c->cluster_size)) {
		qcow2_ck_say(
			c,
			"ERROR: counting reference for region exceeding the "
			"end of the file by one cluster or more: offset 0x%" PRIx64
			" size 0x%" PRIx64,
			offset, size);
		res->corruptions++;
		return 0;
	}

	start = offset & ~(c->cluster_size - 1);
	last = (end - 1) & ~(c->cluster_size - 1);
	for (co = start; co <= last; co += c->cluster_size) {
		int64_t k = (int64_t)(co >> c->cluster_bits);
		uint64_t rc;

		if (k >= c->imrt_n) {
			r = qcow2_ck_imrt_resize(c, k + 1);
			if (r < 0) {
				res->check_errors++;
				return qimg_error_set(c->err, -r,
						      "Out of "
						      "memory for refcounts");
			}
		}
		rc = qcow2_ck_imrt_get(c, k);
		if (rc == c->refcount_max) {
			qcow2_ck_say(
				c, "ERROR: overflow cluster offset=0x%" PRIx64,
				co);
			qcow2_ck_say(
				c,
				"Use qemu-img amend to increase the refcount "
				"entry width or qemu-img convert to create a clean "
				"copy if the image cannot be opened for writing");
			res->corruptions++;
			continue;
		}
		imrt_set(c, k, rc + 1);
	}
	return 0;
}

/* ---- on-disk refcounts ------------------------------------------------ */

static int load_refblock(struct ck *c, uint64_t off)
{
	int r;

	if (c->rb_off == off)
		return 0;
	c->rb_off = 0;
	r = qcow2_ck_read(c, off, c->rb, (size_t)c->cluster_size);
	if (r < 0)
		return r;
	c->rb_off = off;
	return 0;
}

/* Find the refblock for cluster k: 0 with *rb_off == 0 when there is
 * none (refcount 0), -EIO for an unaligned refblock offset. */
static int refblock_of(struct ck *c, uint64_t k, uint64_t *rb_off)
{
	uint64_t idx = k >> c->rb_bits, off;

	*rb_off = 0;
	if (idx >= c->rt_entries || idx >= c->rt_loaded)
		return 0;
	off = c->rt[idx] & CK_RT_OFFSET;
	if (!off)
		return 0;
	if (offset_into_cluster(c, off)) {
		signal_corruption(c, true,
				  "Refblock offset %#" PRIx64
				  " unaligned (reftable index: %#" PRIx64 ")",
				  off, idx);
		return -EIO;
	}
	*rb_off = off;
	return 0;
}

int64_t qcow2_ck_empty_run(const struct ck *c, int64_t k, int64_t n)
{
	uint64_t per = (uint64_t)1 << c->rb_bits,
		 idx = (uint64_t)k >> c->rb_bits;
	uint64_t bits = (uint64_t)1 << c->refcount_order, first, last;
	int64_t end;

	if (((uint64_t)k & (per - 1)) || k >= n)
		return 0;
	if (idx < c->rt_entries && idx < c->rt_loaded &&
	    (c->rt[idx] & CK_RT_OFFSET))
		return 0;
	end = (uint64_t)(n - k) > per ? k + (int64_t)per : n;
	/* whole bytes of the in-memory table (k is byte-aligned in it) */
	first = (uint64_t)k * bits / 8;
	last = (uint64_t)end * bits / 8;
	if (!qimg_is_zero(c->imrt + first, (size_t)(last - first)))
		return 0;
	return (int64_t)(last * 8 / bits) - k;
}

int qcow2_ck_get_refcount(struct ck *c, uint64_t k, uint64_t *rc)
{
	uint64_t off;
	int r = refblock_of(c, k, &off);

	*rc = 0;
	if (r < 0 || !off)
		return r;
	r = load_refblock(c, off);
	if (r < 0)
		return r;
	*rc = rc_get(c->rb, c->refcount_order,
		     k & (((uint64_t)1 << c->rb_bits) - 1));
	return 0;
}

/* Store refcount v for cluster k in its (existing) refblock. */
int qcow2_ck_set_refcount(struct ck *c, uint64_t k, uint64_t v)
{
	uint64_t off, idx = k & (((uint64_t)1 << c->rb_bits) - 1), byte;
	size_t len;
	int r = refblock_of(c, k, &off);

	if (r < 0)
		return r;
	if (!off)
		return -EIO;
	r = load_refblock(c, off);
	if (r < 0)
		return r;
	rc_set(c->rb, c->refcount_order, idx, v);
	/* qemu-img makes this change in its refcount cache, which a node
	 * dropped for corruption never writes back */
	if (c->unusable)
		return 0;
	rc_span(c->refcount_order, idx, &byte, &len);
	r = qcow2_ck_write(c, off + byte, c->rb + byte, len);
	if (r < 0)
		c->rb_off = 0;
	return r;
}

/* ---- metadata overlap guard for repair writes ------------------------- */

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	uint64_t aend, bend;

	if (!alen || !blen)
		return false;
	if (qimg_add_overflow(a, alen, &aend))
		aend = UINT64_MAX;
	if (qimg_add_overflow(b, blen, &bend))
		bend = UINT64_MAX;
	return a < bend && b < aend;
}

static const char *const ol_names[] = {
	"qcow2_header",	     "active L1 table",	  "active L2 table",
	"refcount table",    "refcount block",	  "snapshot table",
	"inactive L1 table", "inactive L2 table", "bitmap directory",
};

static void set_corrupt_bit(struct ck *c)
{
	uint8_t b[8];

	c->incompat |= CK_INCOMPAT_CORRUPT;
	if (c->version < 3)
		return;
	qimg_store_be64(b, c->incompat);
	if (qcow2_ck_write(c, CK_HDR_INCOMPAT_OFF, b, sizeof(b)) < 0)
		qimg_error_clear(c->err);
}

/* qemu reports the first corruption event (and a fatal one after a
 * non-fatal one); a fatal event on a writable image marks it corrupt. */
static void signal_corruption(struct ck *c, bool fatal, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	fatal = fatal && c->fix_mode;
	if (c->signaled_corruption &&
	    (!fatal || (c->incompat & CK_INCOMPAT_CORRUPT)))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (fatal)
		qcow2_ck_say(c,
			     "qcow2: Marking image as corrupt: %s; further "
			     "corruption events will be suppressed",
			     msg);
	else
		qcow2_ck_say(c,
			     "qcow2: Image is corrupt: %s; further non-fatal "
			     "corruption events will be suppressed",
			     msg);
	if (fatal) {
		set_corrupt_bit(c);
		c->unusable = true;
	}
	c->signaled_corruption = true;
}

/* Which metadata (qemu's bit number) [off, off+len), widened to whole
 * clusters, would overwrite; -1 if none. */
static int metadata_overlap(struct ck *c, unsigned int ign, uint64_t off,
			    uint64_t len)
{
	unsigned int chk = OL_CACHED & ~ign;
	uint64_t i;

	if (!len)
		return -1;
	len += offset_into_cluster(c, off);
	off &= ~(c->cluster_size - 1);
	if (qimg_align_up_overflow(len, c->cluster_size, &len))
		len = UINT64_MAX - off;

	if ((chk & OL(OL_MAIN_HEADER)) && off < c->cluster_size)
		return OL_MAIN_HEADER;
	if ((chk & OL(OL_ACTIVE_L1)) && c->l1_size &&
	    ranges_overlap(off, len, c->l1_offset, (uint64_t)c->l1_size * 8))
		return OL_ACTIVE_L1;
	if ((chk & OL(OL_REFTABLE)) &&
	    ranges_overlap(off, len, c->rt_offset, c->rt_entries * 8))
		return OL_REFTABLE;
	if ((chk & OL(OL_SNAPSHOT_TABLE)) &&
	    ranges_overlap(off, len, c->snapshots_offset, c->snapshots_size))
		return OL_SNAPSHOT_TABLE;
	if (chk & OL(OL_INACTIVE_L1))
		for (i = 0; i < c->nb_snapshots; i++)
			if (ranges_overlap(off, len, c->sn[i].l1_offset,
					   (uint64_t)c->sn[i].l1_size * 8))
				return OL_INACTIVE_L1;
	if (chk & OL(OL_ACTIVE_L2))
		for (i = 0; i < c->l1_loaded; i++) {
			uint64_t l2 = c->l1[i] & CK_L1E_OFFSET;

			if (l2 && ranges_overlap(off, len, l2, c->cluster_size))
				return OL_ACTIVE_L2;
		}
	if (chk & OL(OL_REFBLOCK))
		for (i = 0; i < c->rt_loaded; i++) {
			uint64_t rb = c->rt[i] & CK_RT_OFFSET;

			if (rb && ranges_overlap(off, len, rb, c->cluster_size))
				return OL_REFBLOCK;
		}
	if ((chk & OL(OL_BITMAP_DIR)) &&
	    (c->autoclear & CK_AUTOCLEAR_BITMAPS) &&
	    ranges_overlap(off, len, c->bm_dir_off, c->bm_dir_size))
		return OL_BITMAP_DIR;
	return -1;
}

/* Refuse a repair write onto other metadata (-EIO), as qemu's overlap
 * check does; `ign` names the kinds the write is meant to touch. */
int qcow2_ck_overlap_check(struct ck *c, unsigned int ign, uint64_t off,
			   uint64_t len)
{
	int k = metadata_overlap(c, ign, off, len);

	if (k < 0)
		return 0;
	signal_corruption(c, true,
			  "Preventing invalid write on metadata "
			  "(overlaps with %s)",
			  ol_names[k]);
	return -EIO;
}

/* A cluster whose refcount a repair dropped to 0 is discarded, as qemu
 * does (its discard policy for freed clusters is "always"): afterwards it
 * reads as zeros, which matters when a leaked cluster still looked like a
 * table (the double check then sees it empty). */
void qcow2_ck_discard(struct ck *c, uint64_t k)
{
	uint64_t off = k << c->cluster_bits;

	if (c->rb_off == off)
		c->rb_off = 0;
	if (qimg_discard(c->file, off, c->cluster_size, c->err) < 0)
		qimg_error_clear(c->err);
}

/* First run of `count` free clusters in the in-memory table at or after
 * *first_free, growing the table past the image end when needed; marks
 * them used.  Returns the byte offset. */
static int64_t alloc_clusters_imrt(struct ck *c, int64_t count,
				   int64_t *first_free)
{
	int64_t cl = *first_free, contig = 0, i;
	bool first_gap = true;
	int r;

	for (; cl < c->imrt_n && contig < count; cl++) {
		if (!qcow2_ck_imrt_get(c, cl)) {
			contig++;
			if (first_gap) {
				*first_free = cl;
				first_gap = false;
			}
		} else {
			contig = 0;
		}
	}
	if (contig < count) {
		r = qcow2_ck_imrt_resize(c, cl + count - contig);
		if (r < 0)
			return r;
	}
	cl -= contig;
	for (i = 0; i < count; i++)
		imrt_set(c, cl + i, 1);
	return cl << c->cluster_bits;
}

/* A rebuild step failed: qemu reports it as an error message (with the
 * program prefix; the tool is run as qemu-img in comparisons) and the
 * check then fails with that errno. */
static int rebuild_fail(struct ck *c, int r, const char *what)
{
	qcow2_ck_say(c, QIMG_CHECK_TOOL_MSG "%s: %s", what, strerror(-r));
	qimg_error_clear(c->err);
	return qimg_error_set(c->err, -r, "%s", what);
}

/* The new refcount table, in host order. */
QIMG_VECTOR(ck_reftable, uint64_t)

/* The first cluster of [cl, end) with a non-zero count in the in-memory
 * table, or end: whole zero words are stepped over (a 1 TiB file of 512-byte
 * clusters is two thousand million entries). */
static int64_t next_counted(const struct ck *c, int64_t cl, int64_t end)
{
	const int64_t per_word = 64 >> c->refcount_order; /* 1..64 */
	uint64_t w;

	while (cl < end) {
		if (!(cl % per_word) && end - cl >= per_word) {
			memcpy(&w, c->imrt + (size_t)(cl / per_word) * 8, 8);
			if (!w) {
				cl += per_word;
				continue;
			}
		}
		if (qcow2_ck_imrt_get(c, cl))
			return cl;
		cl++;
	}
	return end;
}

/* Write a refblock for every block of [first, end) clusters that has a
 * non-zero refcount, allocating refblocks (in the in-memory table) as
 * needed.  Returns 1 when the new reftable had to grow, 0 if not. */
static int write_refblocks(struct ck *c, int64_t first, int64_t end,
			   struct ck_reftable *rt)
{
	int64_t first_free = 0, cl;
	int64_t per_block = (int64_t)1 << c->rb_bits;
	bool grown = false;
	int r;

	for (cl = first; cl < end; cl++) {
		int64_t idx, start, rb_off;

		cl = next_counted(c, cl, end);
		if (cl >= end)
			break;
		idx = cl >> c->rb_bits;
		start = idx << c->rb_bits;
		if ((uint64_t)idx < rt->len && rt->v[idx]) {
			rb_off = (int64_t)rt->v[idx];
		} else {
			if (first_free < start)
				first_free = start;
			rb_off = alloc_clusters_imrt(c, 1, &first_free);
			if (rb_off < 0)
				return rebuild_fail(
					c, (int)rb_off,
					"ERROR allocating refblock");
			if ((rb_off >> c->cluster_bits) >= end)
				end = (rb_off >> c->cluster_bits) + 1;
			if ((uint64_t)idx >= rt->len) {
				uint64_t n = (((uint64_t)idx + 1) * 8 +
					      c->cluster_size - 1) /
					     c->cluster_size * c->cluster_size /
					     8;

				if (n * 8 > CK_MAX_RT_BYTES)
					return rebuild_fail(
						c, -EFBIG,
						"ERROR allocating reftable "
						"memory");
				if (ck_reftable_reserve(rt, n - rt->len) < 0)
					return rebuild_fail(
						c, -ENOMEM,
						"ERROR allocating reftable "
						"memory");
				memset(rt->v + rt->len, 0,
				       (n - rt->len) * sizeof(*rt->v));
				rt->len = n;
				grown = true;
			}
			rt->v[idx] = (uint64_t)rb_off;
		}
		r = qcow2_ck_overlap_check(c, 0, (uint64_t)rb_off,
					   c->cluster_size);
		if (r == 0)
			r = qcow2_ck_write(c, (uint64_t)rb_off,
					   c->imrt + (size_t)idx *
							     c->cluster_size,
					   (size_t)c->cluster_size);
		if (r < 0)
			return rebuild_fail(c, r, "ERROR writing refblock");
		cl = start + per_block - 1;
	}
	return grown;
}

/* Replace the refcount table and blocks by fresh ones describing the
 * in-memory table; the old structures are left behind (the caller's
 * leak pass frees them). */
int qcow2_ck_rebuild(struct ck *c)
{
	struct ck_reftable rt = { 0 };
	uint64_t i, rt_len = 0;
	int64_t rt_off = -1, rt_clusters = 0;
	uint8_t *buf = NULL, hdr[12];
	int r;

	c->rb_off = 0;
	r = write_refblocks(c, 0, c->imrt_n, &rt);
	if (r < 0)
		goto fail;
	do {
		int64_t first_free = 0, start;

		rt_len = rt.len * 8;
		rt_clusters = (int64_t)size_to_clusters(c, rt_len);
		rt_off = alloc_clusters_imrt(c, rt_clusters, &first_free);
		if (rt_off < 0) {
			r = rebuild_fail(c, (int)rt_off,
					 "ERROR allocating reftable");
			goto fail;
		}
		start = rt_off >> c->cluster_bits;
		r = write_refblocks(c, start, start + rt_clusters, &rt);
		if (r < 0)
			goto fail;
	} while (r > 0);

	buf = malloc((size_t)rt_len);
	if (!buf) {
		r = qimg_error_set(c->err, ENOMEM, "Out of memory");
		goto fail;
	}
	for (i = 0; i < rt.len; i++)
		qimg_store_be64(buf + i * 8, rt.v[i]);
	r = qcow2_ck_overlap_check(c, 0, (uint64_t)rt_off, rt_len);
	if (r == 0)
		r = qcow2_ck_write(c, (uint64_t)rt_off, buf, (size_t)rt_len);
	if (r == 0)
		r = qimg_flush(c->file, c->err);
	if (r < 0) {
		r = rebuild_fail(c, r, "ERROR writing reftable");
		goto fail;
	}
	/* Only now point the header at the new table (both fields in one
	 * write). */
	qimg_store_be64(hdr, (uint64_t)rt_off);
	qimg_store_be32(hdr + (CK_HDR_RT_CLUSTERS_OFF - CK_HDR_RT_OFFSET_OFF),
			(uint32_t)rt_clusters);
	r = qcow2_ck_write(c, CK_HDR_RT_OFFSET_OFF, hdr, sizeof(hdr));
	if (r == 0)
		r = qimg_flush(c->file, c->err);
	if (r < 0) {
		r = rebuild_fail(c, r, "ERROR setting reftable");
		goto fail;
	}
	free(buf);
	free(c->rt);
	c->rt = rt.v; /* the checker's table owns it now */
	c->rt_entries = rt.len;
	c->rt_loaded = rt.len;
	c->rt_offset = (uint64_t)rt_off;
	c->rt_clusters = (uint32_t)rt_clusters;
	c->rb_off = 0;
	return 0;
fail:
	free(buf);
	ck_reftable_free(&rt);
	return r;
}
