/* SPDX-License-Identifier: MIT */
/* qcow2 amend (qemu-img amend): the amendable options, their checks in
 * qemu-img's order and wording, and the changes themselves: version
 * upgrade and downgrade (zero clusters turned into data or unallocated
 * clusters first), lazy refcounts on and off, a new refcount width (the
 * refcount structures rebuilt beside the old ones), a new size.
 *
 * Order, as qemu-img 7.2 runs it (tests/interop/amend.sh pins it): the
 * encryption options, then each option's own check; the upgrade; the
 * refcount width; the backing file check; lazy refcounts; the size; the
 * downgrade.  A failing step leaves the earlier ones done.
 *
 * Crash safety: what a header or table switch points at is written and
 * flushed first (qcow2_barrier), and what it no longer points at is freed
 * only after the switch is on the disk; header rewrites are ordered so that
 * a write torn at a sector boundary leaves the old or the new header. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "formats/qcow2/snapshot-table.h"
#include "util/endian.h"

#define HDR_SECTOR 512u

const struct qimg_opt_desc qcow2_amend_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "compat", QIMG_OPT_STRING,
	  "Compatibility level (v2 [0.10] or v3 [1.1])", NULL },
	{ "backing_file", QIMG_OPT_STRING, "File name of a base image", NULL },
	{ "backing_fmt", QIMG_OPT_STRING, "Image format of the base image",
	  NULL },
	{ "data_file", QIMG_OPT_STRING, "File name of an external data file",
	  NULL },
	{ "data_file_raw", QIMG_OPT_BOOL,
	  "The external data file must stay valid as a raw image", NULL },
	{ "encrypt.state", QIMG_OPT_STRING,
	  "Select new state of affected keyslots (active/inactive)", NULL },
	{ "encrypt.keyslot", QIMG_OPT_NUMBER,
	  "Select a single keyslot to modify explicitly", NULL },
	{ "encrypt.old-secret", QIMG_OPT_STRING,
	  "Select all keyslots that match this password", NULL },
	{ "encrypt.new-secret", QIMG_OPT_STRING,
	  "New secret to set in the matching keyslots. Empty string to erase",
	  NULL },
	{ "encrypt.iter-time", QIMG_OPT_NUMBER,
	  "Time to spend in PBKDF in milliseconds", NULL },
	{ "lazy_refcounts", QIMG_OPT_BOOL, "Postpone refcount updates", NULL },
	{ "refcount_bits", QIMG_OPT_NUMBER,
	  "Width of a reference count entry in bits", NULL },
	{ NULL, 0, NULL, NULL },
};

/* ---- progress: qemu-img's accounting over several operations ----
 *
 * Each operation that reports (upgrade, refcount width, downgrade) counts
 * its own work; the whole is estimated as if every planned operation were
 * as long as the ones so far.  iotests 061 and 112 pin the printed values
 * (a fourth refcount walk shows as progress going back). */

struct progress {
	const struct qimg_amend_opts *o;
	uint64_t ops;	      /* operations that report */
	uint64_t cur;	      /* 1-based number of the current one */
	uint64_t done_before; /* work of the finished ones */
	uint64_t last_total;  /* the current one's latest total */
};

static void op_begin(struct progress *p)
{
	p->done_before += p->last_total;
	p->last_total = 0;
	p->cur++;
}

static void op_report(void *opaque, uint64_t done, uint64_t total)
{
	struct progress *p = opaque;
	uint64_t all;

	p->last_total = total;
	all = (p->done_before + total) * p->ops / p->cur;
	if (p->o->progress && all)
		p->o->progress(p->o->opaque, p->done_before + done, all);
}

/* ---- header rewrites ---- */

/* Bytes of header cluster b in use: fields, extensions up to the end
 * mark, the backing file name. */
static uint64_t header_used(const struct qcow2_state *s, const uint8_t *b)
{
	uint64_t cs = s->cluster_size, off, boff, end;

	off = qimg_load_be32(b + QCOW2_HDR_VERSION_OFF) >= 3
		      ? qimg_load_be32(b + QCOW2_HDR_LENGTH_OFF)
		      : QCOW2_V2_HEADER_LEN;
	while (off + QCOW2_EXT_HDR_LEN <= cs) {
		uint32_t type = qimg_load_be32(b + off);
		uint64_t len = qimg_load_be32(b + off + QCOW2_EXT_LEN_OFF);

		off += QCOW2_EXT_HDR_LEN;
		if (type == QCOW2_EXT_END)
			break;
		off += (len + 7) & ~7ull;
	}
	end = off;
	boff = qimg_load_be64(b + QCOW2_HDR_BACKING_OFFSET_OFF);
	if (boff && boff < cs)
		boff += qimg_load_be32(b + QCOW2_HDR_BACKING_SIZE_OFF);
	if (boff > end)
		end = boff;
	return end < cs ? end : cs;
}

static int pwrite_range(struct qcow2_state *s, const uint8_t *b, uint64_t lo,
			uint64_t hi, struct qimg_error *err)
{
	int r;

	if (lo >= hi)
		return 0;
	r = qimg_pwrite(s->file, lo, b + lo, hi - lo, err);
	s->unflushed = true;
	return r;
}

/* Write cluster 0 anew from s->h and s->ext: only the bytes that change.
 * A write torn at a sector boundary must leave the old or the new header:
 * changes within one sector are one write; a new header that fits in the
 * first sector goes there first and the old bytes after it are cleared
 * after a flush; an old one that fits there stays in charge while the new
 * header's tail is written and flushed, then the first sector switches.
 * (Both longer than a sector: one write, as qemu-img does.) */
static int header_rewrite(struct qcow2_state *s, struct qimg_error *err)
{
	uint64_t cs = s->cluster_size, lo, hi, oused, nused;
	uint8_t *ob = malloc(cs), *nb = malloc(cs);
	int r;

	if (!ob || !nb) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	r = qimg_pread(s->file, 0, ob, cs, err);
	if (r == 0)
		r = qcow2_header_build(&s->h, &s->ext, nb, cs, err);
	if (r < 0)
		goto out;
	for (lo = 0; lo < cs && ob[lo] == nb[lo]; lo++)
		;
	if (lo == cs)
		goto out;
	for (hi = cs; ob[hi - 1] == nb[hi - 1]; hi--)
		;
	oused = header_used(s, ob);
	nused = header_used(s, nb);
	if (lo / HDR_SECTOR == (hi - 1) / HDR_SECTOR ||
	    (oused > HDR_SECTOR && nused > HDR_SECTOR)) {
		r = pwrite_range(s, nb, lo, hi, err);
	} else if (nused <= HDR_SECTOR) {
		r = pwrite_range(s, nb, lo, lo < HDR_SECTOR ? HDR_SECTOR : lo,
				 err);
		if (r == 0)
			r = qcow2_barrier(s, err);
		if (r == 0)
			r = pwrite_range(s, nb,
					 lo > HDR_SECTOR ? lo : HDR_SECTOR, hi,
					 err);
	} else {
		r = pwrite_range(s, nb, lo > HDR_SECTOR ? lo : HDR_SECTOR, hi,
				 err);
		if (r == 0)
			r = qcow2_barrier(s, err);
		if (r == 0 && lo < HDR_SECTOR)
			r = pwrite_range(s, nb, lo, HDR_SECTOR, err);
	}
	if (r == 0) {
		s->h.backing_file_offset =
			qimg_load_be64(nb + QCOW2_HDR_BACKING_OFFSET_OFF);
		s->h.backing_file_size =
			qimg_load_be32(nb + QCOW2_HDR_BACKING_SIZE_OFF);
	}
out:
	free(ob);
	free(nb);
	return r;
}

/* ---- walking every L2 table (active state and snapshots) ---- */

/* One L1 table: the active one or a snapshot's (host order, owned). */
struct l1_view {
	uint64_t *l1;
	uint32_t size;
};

static void views_free(struct l1_view *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].l1);
	free(v);
}

/* The active L1 table, then each snapshot's in table order.  A snapshot
 * table entry qemu-img cannot load stops it with its message, reported as
 * qemu-img reports it (a line of its own) before the caller's error. */
static int load_views(struct qcow2_state *s, struct l1_view **out, size_t *nout,
		      struct qimg_error *err)
{
	struct qcow2_sn_entry *e = NULL;
	struct l1_view *v;
	size_t n = 0, i;
	int r;

	r = qcow2_sn_load(s, &e, &n, NULL, err);
	if (r < 0)
		return r;
	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	v[0].size = s->l1_size;
	v[0].l1 = malloc((s->l1_size ? s->l1_size : 1) * sizeof(uint64_t));
	if (!v[0].l1) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	memcpy(v[0].l1, s->l1, (size_t)s->l1_size * sizeof(uint64_t));
	for (i = 0; i < n; i++) {
		uint64_t bytes = (uint64_t)e[i].l1_size * 8, k;
		uint8_t *raw;

		if (bytes > QCOW2_MAX_L1_BYTES) {
			qimg_error_note(err, QIMG_CHECK_TOOL_MSG
					"Snapshot L1 table too large");
			r = -EFBIG;
			goto out;
		}
		if (e[i].l1_offset & (s->cluster_size - 1)) {
			qimg_error_note(err, QIMG_CHECK_TOOL_MSG
					"Snapshot L1 table offset invalid");
			r = -EINVAL;
			goto out;
		}
		v[i + 1].size = e[i].l1_size;
		v[i + 1].l1 = malloc(bytes ? bytes : 8);
		raw = malloc(bytes ? bytes : 1);
		if (!v[i + 1].l1 || !raw) {
			free(raw);
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto out;
		}
		r = bytes ? qimg_pread(s->file, e[i].l1_offset, raw, bytes, err)
			  : 0;
		for (k = 0; r == 0 && k < e[i].l1_size; k++)
			v[i + 1].l1[k] = qimg_load_be64(raw + k * 8);
		free(raw);
		if (r < 0)
			goto out;
	}
	*out = v;
	*nout = n + 1;
	v = NULL;
out:
	if (v)
		views_free(v, n + 1);
	qcow2_sn_entries_clear(e, n);
	free(e);
	return r;
}

/* Any compressed cluster in any L2 table? */
static int has_compressed(struct qcow2_state *s, const struct l1_view *v,
			  size_t nv, bool *found, struct qimg_error *err)
{
	uint64_t i, j, e, b;
	uint8_t *tbl;
	size_t k;
	int r;

	*found = false;
	for (k = 0; k < nv; k++) {
		for (i = 0; i < v[k].size; i++) {
			uint64_t l2 = v[k].l1[i] & QCOW2_L1E_OFFSET_MASK;

			if (!l2)
				continue;
			r = qcow2_l2_load(s, l2, &tbl, err);
			if (r < 0)
				return r;
			for (j = 0; j < s->l2_entries; j++) {
				qcow2_l2_entry(s, tbl, j, &e, &b);
				if (e & QCOW2_OFLAG_COMPRESSED) {
					*found = true;
					return 0;
				}
			}
		}
	}
	return 0;
}

/* ---- downgrade: zero clusters become what version 2 can say ---- */

/* Zero host cluster `off`, allocated in the file as qemu-img leaves it
 * (a zeroed range, not a hole: the same disk size): a cluster past the
 * end of the file is reached by growing the file first. */
static int zero_cluster(struct qcow2_state *s, uint64_t off,
			struct qimg_error *err)
{
	int64_t len;
	int r = qcow2_data_write_ok(s, off, s->cluster_size, err);

	if (r < 0)
		return r;
	len = qimg_node_length(s->file, err);
	if (len < 0)
		return (int)len;
	if ((uint64_t)len < off + s->cluster_size)
		r = qimg_truncate(s->file, off + s->cluster_size, 0, NULL, err);
	if (r == 0)
		r = qimg_write_zeroes(s->file, off, s->cluster_size, 0, err);
	s->unflushed = true;
	return r;
}

/* The zero clusters of the L2 table at l2 (shared by as many L1 tables as
 * its refcount, l2_rc, says): without a backing file a plain
 * zero cluster becomes unallocated; with one it gets a new cluster of
 * zeros, counted once per table sharing it and COPIED when only one does;
 * a zero cluster with its host cluster keeps it, zeroed.  As qemu-img does
 * (iotest 061), except for a host cluster that other tables reference as
 * data (a snapshot's): qemu-img zeroes it under the snapshot; here it is
 * left alone and replaced as a plain zero cluster is. */
static int expand_table(struct qcow2_state *s, bool backing, uint64_t l2,
			struct qimg_error *err)
{
	uint64_t *olde, *oldb, *ne, *drop, n = s->l2_entries, j, rc, l2_rc;
	uint8_t *tbl;
	bool any = false;
	int r;

	r = qcow2_get_refcount(s, l2 >> s->cluster_bits, &l2_rc, err);
	if (r == 0)
		r = qcow2_l2_load(s, l2, &tbl, err);
	if (r < 0)
		return r;
	/* no extended L2 here (refused before): the bitmaps' array marks the
	 * host clusters whose references go once the entries are written */
	r = qcow2_l2_scratch(n, &olde, &oldb, &ne, &drop, err);
	if (r < 0)
		return r;
	for (j = 0; j < n; j++) {
		qcow2_l2_entry(s, tbl, j, &olde[j], &oldb[j]);
		ne[j] = olde[j];
	}
	if (!l2_rc)
		l2_rc = 1;
	for (j = 0; r == 0 && j < n; j++) {
		uint64_t e = olde[j], host = e & QCOW2_L2E_OFFSET_MASK, off;

		if ((e & QCOW2_OFLAG_COMPRESSED) || !(e & QCOW2_OFLAG_ZERO))
			continue;
		any = true;
		if (host & (s->cluster_size - 1)) {
			r = qcow2_signal_corruption(
				s, err,
				"Cluster allocation offset %#" PRIx64
				" unaligned (L2 offset: %#" PRIx64
				", L2 index: %#" PRIx64 ")",
				host, l2, j);
			break;
		}
		if (host) {
			r = qcow2_get_refcount(s, host >> s->cluster_bits, &rc,
					       err);
			if (r < 0)
				break;
			if (rc <= l2_rc) {
				r = zero_cluster(s, host, err);
				ne[j] = e & ~QCOW2_OFLAG_ZERO;
				continue;
			}
			drop[j] = 1; /* its references go after the entry */
		}
		if (!backing) {
			ne[j] = 0;
			continue;
		}
		r = qcow2_alloc_clusters(s, 1, &off, err);
		if (r == 0 && l2_rc > 1)
			r = qcow2_update_refcount(s, off >> s->cluster_bits, 1,
						  (int)(l2_rc - 1), err);
		if (r == 0)
			r = zero_cluster(s, off, err);
		ne[j] = off | (l2_rc == 1 ? QCOW2_OFLAG_COPIED : 0);
	}
	/* New clusters and zeros on the disk, then the entries; references
	 * the entries dropped go last (qcow2_update_refcount orders that). */
	if (r == 0 && any)
		r = qcow2_l2_set(s, l2, 0, n, ne, NULL, err);
	if (r == 0 && any)
		r = qcow2_l2_writeback(s, err);
	for (j = 0; r == 0 && j < n; j++)
		if (drop[j])
			r = qcow2_update_refcount(
				s,
				(olde[j] & QCOW2_L2E_OFFSET_MASK) >>
					s->cluster_bits,
				1, -(int)l2_rc, err);
	free(olde);
	return r;
}

static int expand_zero_clusters(struct qimg_node *node, struct progress *p,
				const struct l1_view *v, size_t nv,
				struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	bool backing = node->backing || node->backing_filename;
	uint64_t total = 0, done = 0, i;
	size_t k;
	int r = 0;

	for (k = 0; k < nv; k++)
		total += v[k].size;
	for (k = 0; r == 0 && k < nv; k++) {
		for (i = 0; r == 0 && i < v[k].size; i++) {
			uint64_t l2 = v[k].l1[i] & QCOW2_L1E_OFFSET_MASK;

			if (l2 && (l2 & (s->cluster_size - 1)))
				r = qcow2_signal_corruption(
					s, err,
					"L2 table offset %#" PRIx64
					" unaligned (L1 index: %#" PRIx64 ")",
					l2, i);
			else if (l2)
				r = expand_table(s, backing, l2, err);
			if (r == 0)
				op_report(p, ++done, total);
		}
	}
	return r;
}

static int downgrade(struct qimg_node *node, struct progress *p,
		     struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qcow2_sn_entry *e = NULL;
	struct l1_view *v = NULL;
	size_t n = 0, nv = 0, i;
	uint64_t bad;
	int r;

	if (s->refcount_order != 4)
		return qimg_error_set(err, EINVAL,
				      "compat=0.10 requires refcount_bits=16");
	/* Version 2 snapshots cannot record a disk size of their own. */
	r = qcow2_sn_load(s, &e, &n, NULL, err);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++)
		if (e[i].extra_size >= 16 &&
		    qimg_load_be64(e[i].extra + 8) != s->h.size)
			break;
	qcow2_sn_entries_clear(e, n);
	free(e);
	if (i < n)
		return qimg_error_set(err, ENOTSUP,
				      "Internal snapshots prevent downgrade "
				      "of image");
	if (s->h.incompatible_features & QCOW2_INCOMPAT_DATA_FILE)
		return qimg_error_set(err, ENOTSUP,
				      "Cannot downgrade an image with a data "
				      "file");
	bad = s->h.incompatible_features &
	      ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_COMPRESSION);
	if (bad)
		return qimg_error_set(err, ENOTSUP,
				      "Cannot downgrade an image with "
				      "incompatible features %#" PRIx64 " set",
				      bad);

	op_begin(p);
	qcow2_lock(s);
	if (s->h.compression_type != QCOW2_COMPRESS_ZLIB) {
		bool found = false;

		r = load_views(s, &v, &nv, err);
		if (r == 0)
			r = has_compressed(s, v, nv, &found, err);
		views_free(v, nv);
		v = NULL;
		nv = 0;
		if (r == 0 && found)
			r = qimg_error_set(err, ENOTSUP,
					   "Cannot downgrade an image with "
					   "zstd compression type and "
					   "existing compressed clusters");
		if (r < 0)
			goto out;
	}
	/* qemu-img reports any failure here by its errno alone (the details,
	 * a corruption report or a bad snapshot table entry, come before). */
	r = load_views(s, &v, &nv, err);
	if (r == 0)
		r = expand_zero_clusters(node, p, v, nv, err);
	if (r < 0) {
		qimg_error_clear(err);
		r = qimg_error_set(err, -r,
				   "Failed to turn zero into data clusters: "
				   "%s",
				   strerror(-r));
		goto out;
	}
	/* Persistent bitmaps are stored now and no longer tracked: version 2
	 * has no autoclear bit to vouch for them, so the extension stays as
	 * stored and later writers drop it (qemu-img does the same, after
	 * the zero clusters). */
	if (qcow2_bitmaps_tracking(s)) {
		qcow2_unlock(s);
		qcow2_bitmaps_close(s);
		qcow2_lock(s);
	}
	/* Everything the new header describes is on the disk first. */
	r = qcow2_l2_writeback(s, err);
	if (r == 0)
		r = qcow2_refcount_flush(s, err);
	if (r == 0)
		r = qcow2_barrier(s, err);
	if (r < 0)
		goto out;
	s->h.version = 2;
	s->h.header_length = QCOW2_V2_HEADER_LEN;
	s->h.incompatible_features = 0;
	s->h.compatible_features = 0;
	s->h.autoclear_features = 0;
	s->h.compression_type = QCOW2_COMPRESS_ZLIB;
	s->ext.tail_len = 0;
	r = header_rewrite(s, err);
out:
	qcow2_unlock(s);
	views_free(v, nv);
	return r;
}

/* ---- upgrade ---- */

static int upgrade(struct qimg_node *node, struct progress *p,
		   struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qcow2_sn_entry *e = NULL;
	uint64_t table_bytes = 0;
	size_t n = 0, i;
	int r;

	op_begin(p);
	op_report(p, 0, 2);
	qcow2_lock(s);
	/* Version 3 snapshot table entries carry at least the 64-bit VM
	 * state size and the disk size: a table without them is written
	 * anew first (the old one freed once the header has the new). */
	r = qcow2_sn_load(s, &e, &n, &table_bytes, err);
	for (i = 0; r == 0 && i < n; i++)
		if (e[i].extra_size < 16)
			break;
	if (r == 0 && i < n) {
		/* the old table leaves the file, as with qemu-img */
		qcow2_collect_freed(s);
		r = qcow2_sn_write_table(s, e, n, table_bytes, err);
		if (r == 0)
			r = qcow2_discard_freed(s, err);
		else
			s->collect_freed = false;
	}
	qcow2_sn_entries_clear(e, n);
	free(e);
	if (r == 0)
		op_report(p, 1, 2);
	if (r == 0)
		r = qcow2_barrier(s, err);
	if (r == 0) {
		s->h.version = 3;
		s->h.header_length = QCOW2_HEADER_LEN_WRITTEN;
		s->h.incompatible_features = 0;
		s->h.compatible_features = 0;
		s->h.autoclear_features = 0;
		s->h.refcount_order = 4;
		s->h.compression_type = QCOW2_COMPRESS_ZLIB;
		s->ext.tail_len = 0;
		r = header_rewrite(s, err);
		if (r < 0) {
			s->h.version = 2;
			s->h.header_length = QCOW2_V2_HEADER_LEN;
		}
	}
	qcow2_unlock(s);
	if (r == 0)
		op_report(p, 2, 2);
	return r;
}

/* ---- a new refcount width ----
 *
 * The new refcount blocks and table are placed with the old refcounts
 * (so they count themselves once copied), then filled from the old
 * counts, written and flushed; the header switches to them in one write;
 * the old structures are freed in the new ones.  Placing goes in walks
 * over the old refcount table until one places nothing new; then the
 * table is placed, and if its clusters need blocks not placed yet, those
 * are placed and everything is walked once more.  As qemu-img counts the
 * work: walks times old table entries (iotest 112). */

QIMG_VECTOR(rcw_offsets, uint64_t)

struct rcw {
	struct qcow2_state *s;
	uint32_t order;		   /* new width: 2^order bits */
	uint32_t rb_bits;	   /* log2(counts per new block) */
	uint64_t max;		   /* largest count at the new width */
	struct rcw_offsets blocks; /* new block per new table index, or 0 */
	uint64_t table, table_clusters; /* the new table, once placed */
	uint8_t *buf;			/* an old block */
	uint8_t *nbuf;			/* a new block being filled */
	void (*report)(void *opaque, uint64_t done, uint64_t total);
	void *opaque;
};

/* Old refcount block i into w->buf; *present false when there is none.
 * (Counts are written through while amending: the file has them.) */
static int old_block(struct rcw *w, uint64_t i, bool *present,
		     struct qimg_error *err)
{
	struct qcow2_state *s = w->s;
	uint64_t off = s->rt[i] & QCOW2_RT_OFFSET_MASK;

	*present = off != 0;
	if (!off)
		return 0;
	if (off & (s->cluster_size - 1) || s->rt[i] & 0x1ff)
		return qcow2_signal_corruption(s, err,
					       "Refblock offset %#" PRIx64
					       " unaligned (reftable index: "
					       "%#" PRIx64 ")",
					       s->rt[i], i);
	return qimg_pread(s->file, off, w->buf, s->cluster_size, err);
}

/* A new block for new table index j, placed by the old refcounts. */
static int place_block(struct rcw *w, uint64_t j, struct qimg_error *err)
{
	uint64_t off;
	int r;

	while (w->blocks.len <= j)
		if (rcw_offsets_append(&w->blocks, 0) < 0)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qcow2_alloc_clusters(w->s, 1, &off, err);
	if (r == 0)
		w->blocks.v[j] = off;
	return r;
}

static bool has_block(const struct rcw *w, uint64_t j)
{
	return j < w->blocks.len && w->blocks.v[j];
}

/* One placing walk: a block for every new index that counts something.
 * The first walk also checks that every count fits the new width.
 * *placed: something was placed (counts changed: walk again). */
static int place_walk(struct rcw *w, uint64_t walk, uint64_t walks,
		      bool *placed, struct qimg_error *err)
{
	struct qcow2_state *s = w->s;
	uint64_t i, k;
	bool present;
	int r;

	*placed = false;
	for (i = 0; i < s->rt_entries; i++) {
		uint64_t c0 = i << s->rb_bits;

		w->report(w->opaque, walk * s->rt_entries + i,
			  walks * s->rt_entries);
		r = old_block(w, i, &present, err);
		if (r < 0)
			return r;
		for (k = 0; present && k < s->rb_entries; k++) {
			uint64_t v = qcow2_rc_get(w->buf, k, s->refcount_order);

			if (!v)
				continue;
			if (walk == 0 && v > w->max)
				return qimg_error_set(
					err, EINVAL,
					"Cannot decrease refcount entry width "
					"to %u bits: Cluster at offset %#" PRIx64
					" has a refcount of %" PRIu64,
					1u << w->order,
					(c0 + k) << s->cluster_bits, v);
			if (has_block(w, (c0 + k) >> w->rb_bits))
				continue;
			r = place_block(w, (c0 + k) >> w->rb_bits, err);
			if (r < 0)
				return r;
			*placed = true;
			/* the block's own count may be in this one */
			r = old_block(w, i, &present, err);
			if (r < 0)
				return r;
		}
	}
	w->report(w->opaque, (walk + 1) * s->rt_entries, walks * s->rt_entries);
	return 0;
}

/* Place the new table for the blocks placed so far (again when it grew
 * too small); *placed when that needs blocks not placed yet. */
static int place_table(struct rcw *w, bool *placed, struct qimg_error *err)
{
	struct qcow2_state *s = w->s;
	uint64_t n = w->blocks.len, clusters, c;
	int r;

	*placed = false;
	while (n && !w->blocks.v[n - 1])
		n--;
	clusters = (n * 8 + s->cluster_size - 1) >> s->cluster_bits;
	if (!clusters)
		clusters = 1;
	if (clusters * s->cluster_size > QCOW2_MAX_RT_BYTES)
		return qimg_error_set(err, EFBIG, "Refcount table too large");
	if (w->table && w->table_clusters >= clusters)
		return 0;
	if (w->table) {
		r = qcow2_update_refcount(s, w->table >> s->cluster_bits,
					  w->table_clusters, -1, err);
		w->table = 0;
		if (r < 0)
			return r;
	}
	r = qcow2_alloc_clusters(s, clusters, &w->table, err);
	if (r < 0) {
		w->table = 0;
		return r;
	}
	w->table_clusters = clusters;
	for (c = w->table >> s->cluster_bits;
	     c < (w->table >> s->cluster_bits) + clusters; c++) {
		if (has_block(w, c >> w->rb_bits))
			continue;
		r = place_block(w, c >> w->rb_bits, err);
		if (r < 0)
			return r;
		*placed = true;
	}
	return 0;
}

static int write_new_block(struct rcw *w, uint64_t j, bool *written,
			   struct qimg_error *err)
{
	if (j == UINT64_MAX)
		return 0;
	if (!has_block(w, j))
		return qimg_error_set(err, EIO,
				      "Refcount block for index %#" PRIx64
				      " was not placed",
				      j);
	written[j] = true;
	w->s->unflushed = true;
	return qimg_pwrite(w->s->file, w->blocks.v[j], w->nbuf,
			   w->s->cluster_size, err);
}

/* The last walk: every new block filled from the old counts and
 * written, then the new table. */
static int fill_walk(struct rcw *w, uint64_t walk, struct qimg_error *err)
{
	struct qcow2_state *s = w->s;
	uint64_t cs = s->cluster_size, per = 1ull << w->rb_bits;
	uint64_t i, k, j, cur = UINT64_MAX, n = w->table_clusters * cs / 8;
	bool present, *written = calloc(w->blocks.len + 1, sizeof(bool));
	uint8_t *tbl = calloc(w->table_clusters, cs);
	int r = 0;

	if (!written || !tbl) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	for (i = 0; r == 0 && i < s->rt_entries; i++) {
		uint64_t c0 = i << s->rb_bits;

		w->report(w->opaque, walk * s->rt_entries + i,
			  (walk + 1) * s->rt_entries);
		r = old_block(w, i, &present, err);
		for (k = 0; r == 0 && present && k < s->rb_entries; k++) {
			uint64_t v = qcow2_rc_get(w->buf, k, s->refcount_order);

			if (!v)
				continue;
			j = (c0 + k) >> w->rb_bits;
			if (j != cur) {
				r = write_new_block(w, cur, written, err);
				memset(w->nbuf, 0, cs);
				cur = j;
			}
			qcow2_rc_set(w->nbuf, (c0 + k) & (per - 1), w->order,
				     v);
		}
	}
	if (r == 0)
		r = write_new_block(w, cur, written, err);
	/* a block whose counts all went (a table placed again) is empty */
	memset(w->nbuf, 0, cs);
	for (j = 0; r == 0 && j < w->blocks.len; j++)
		if (w->blocks.v[j] && !written[j])
			r = write_new_block(w, j, written, err);
	for (j = 0; r == 0 && j < w->blocks.len && j < n; j++)
		qimg_store_be64(tbl + j * 8, w->blocks.v[j]);
	if (r == 0)
		r = qimg_pwrite(s->file, w->table, tbl, w->table_clusters * cs,
				err);
	s->unflushed = true;
	if (r == 0)
		w->report(w->opaque, (walk + 1) * s->rt_entries,
			  (walk + 1) * s->rt_entries);
out:
	free(written);
	free(tbl);
	return r;
}

/* The header names the new structures; the in-memory state follows and
 * the old structures are freed in the new counts. */
static int switch_refcounts(struct rcw *w, bool *switched,
			    struct qimg_error *err)
{
	struct qcow2_state *s = w->s;
	struct qcow2_header old = s->h;
	uint64_t *ort = s->rt, ort_n = s->rt_entries, n, i;
	uint64_t *nrt;
	int r;

	n = w->table_clusters * s->cluster_size / 8;
	nrt = calloc(n, sizeof(uint64_t));
	if (!nrt)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (i = 0; i < w->blocks.len && i < n; i++)
		nrt[i] = w->blocks.v[i];
	/* the blocks and the table, then the header */
	r = qcow2_barrier(s, err);
	if (r == 0) {
		s->h.refcount_table_offset = w->table;
		s->h.refcount_table_clusters = (uint32_t)w->table_clusters;
		s->h.refcount_order = w->order;
		r = header_rewrite(s, err);
	}
	if (r < 0) {
		s->h = old;
		free(nrt);
		return r;
	}
	*switched = true;
	s->rt = nrt;
	s->rt_entries = n;
	s->refcount_order = w->order;
	s->rb_bits = s->cluster_bits + 3 - w->order;
	s->rb_entries = 1ull << s->rb_bits;
	s->refcount_max = w->max;
	for (i = 0; i < s->rbc.n; i++) {
		s->rbc.slot[i].off = 0;
		s->rbc.slot[i].dirty = false;
	}
	s->free_hint = 1;
	/* the old structures: leaked at worst from here on */
	for (i = 0; r == 0 && i < ort_n; i++)
		if (ort[i] & QCOW2_RT_OFFSET_MASK)
			r = qcow2_update_refcount(
				s,
				(ort[i] & QCOW2_RT_OFFSET_MASK) >>
					s->cluster_bits,
				1, -1, err);
	if (r == 0)
		r = qcow2_update_refcount(
			s, old.refcount_table_offset >> s->cluster_bits,
			old.refcount_table_clusters, -1, err);
	free(ort);
	return r;
}

int qcow2_change_refcount_order(struct qcow2_state *s, uint32_t order,
				void (*report)(void *opaque, uint64_t done,
					       uint64_t total),
				void *opaque, struct qimg_error *err)
{
	struct rcw w = {
		.s = s,
		.order = order,
		.rb_bits = s->cluster_bits + 3 - order,
		.max = order == 6 ? UINT64_MAX : (1ull << (1u << order)) - 1,
		.report = report,
		.opaque = opaque,
	};
	struct qimg_error ignored = { 0 };
	uint64_t walk = 0, j;
	bool placed = true, switched = false;
	int r = 0;

	w.buf = malloc(s->cluster_size);
	w.nbuf = malloc(s->cluster_size);
	if (!w.buf || !w.nbuf) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	qcow2_lock(s);
	while (r == 0 && placed) {
		r = place_walk(&w, walk, walk + 2 > 3 ? walk + 2 : 3, &placed,
			       err);
		walk++;
		if (r == 0 && !placed)
			r = place_table(&w, &placed, err);
	}
	if (r == 0)
		r = fill_walk(&w, walk, err);
	if (r == 0)
		r = switch_refcounts(&w, &switched, err);
	if (r < 0 && !switched) {
		/* nothing points at what was placed: give it back */
		for (j = 0; j < w.blocks.len; j++)
			if (w.blocks.v[j])
				qcow2_update_refcount(
					s, w.blocks.v[j] >> s->cluster_bits, 1,
					-1, &ignored);
		if (w.table)
			qcow2_update_refcount(s, w.table >> s->cluster_bits,
					      w.table_clusters, -1, &ignored);
	}
	qcow2_unlock(s);
out:
	rcw_offsets_free(&w.blocks);
	free(w.buf);
	free(w.nbuf);
	return r;
}

/* ---- the other options ---- */

static int strcmp0(const char *a, const char *b)
{
	if (!a || !b)
		return a != b;
	return strcmp(a, b);
}

static int set_lazy(struct qcow2_state *s, bool on, struct qimg_error *err)
{
	uint64_t old = s->h.compatible_features;
	int r;

	if (on == !!(old & QCOW2_COMPAT_LAZY_REFCOUNTS))
		return 0;
	qcow2_lock(s);
	/* Turning them off: every count is on the disk before the header
	 * stops saying they may not be. */
	r = qcow2_refcount_flush(s, err);
	if (r == 0)
		r = qcow2_barrier(s, err);
	if (r == 0) {
		s->h.compatible_features =
			on ? old | QCOW2_COMPAT_LAZY_REFCOUNTS
			   : old & ~QCOW2_COMPAT_LAZY_REFCOUNTS;
		r = header_rewrite(s, err);
		if (r < 0)
			s->h.compatible_features = old;
	}
	qcow2_unlock(s);
	return r;
}

/* The image as amend starts from: the L2 entries and refcounts a write
 * held back on the disk, lazy refcounts not used while amending (every
 * step writes its counts through) and the dirty bit we may have set
 * cleared. */
static int settle(struct qcow2_state *s, struct qimg_error *err)
{
	int r;

	qcow2_lock(s);
	r = qcow2_l2_writeback(s, err);
	if (r == 0)
		r = qcow2_refcount_flush(s, err);
	if (r == 0)
		r = qcow2_barrier(s, err);
	s->lazy = false;
	s->rc_through = true;
	if (r == 0 && s->dirty_set) {
		r = qcow2_write_incompat(
			s, s->h.incompatible_features & ~QCOW2_INCOMPAT_DIRTY,
			err);
		s->unflushed = true;
		if (r == 0)
			s->dirty_set = false;
	}
	qcow2_unlock(s);
	return r;
}

/* A new data file name ("" drops the name: the image then needs the
 * data-file option to open, as with qemu-img) and data-file-raw cleared
 * (setting it was refused unless it is set); one header write.  The data
 * file itself is not touched: the name is only where to find it. */
static int amend_data_file(struct qcow2_state *s, const struct qimg_opts *opts,
			   struct qimg_error *err)
{
	const char *name = qimg_opts_get_str(opts, "data_file", NULL);
	char *dup = NULL;
	int r;

	if (name && *name) {
		dup = strdup(name);
		if (!dup)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	qcow2_lock(s);
	if (name) {
		free(s->ext.data_file);
		s->ext.data_file = dup;
	}
	if (qimg_opts_has(opts, "data_file_raw") &&
	    !qimg_opts_get_bool(opts, "data_file_raw", false)) {
		s->h.autoclear_features &= ~QCOW2_AUTOCLEAR_DATA_FILE_RAW;
		s->data_raw = false;
	}
	r = qcow2_header_sync(s, err);
	qcow2_unlock(s);
	return r;
}

static bool has_prefix_opt(const struct qimg_opts *o, const char *prefix)
{
	size_t i, n = strlen(prefix);

	for (i = 0; i < o->len; i++)
		if (!strncmp(o->v[i].name, prefix, n))
			return true;
	return false;
}

int qcow2_amend(struct qimg_node *node, const struct qimg_opts *opts,
		const struct qimg_amend_opts *o, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct progress p = { .o = o };
	const char *compat = qimg_opts_get_str(opts, "compat", NULL);
	uint32_t version = s->h.version, order = s->refcount_order;
	uint64_t bits, size = qimg_opts_get_u64(opts, "size", 0);
	int r;

	if (s->read_only)
		return qimg_error_set(err, EACCES, "Image is read-only");
	if (has_prefix_opt(opts, "encrypt.")) {
		if (!s->h.crypt_method)
			return qimg_error_set(err, EINVAL,
					      "Can't amend encryption options "
					      "- encryption not present");
		r = qcow2_luks_amend(node, opts, o->force, err);
		if (r < 0)
			return r;
	}
	if (compat && (!strcmp(compat, "0.10") || !strcmp(compat, "v2")))
		version = 2;
	else if (compat && (!strcmp(compat, "1.1") || !strcmp(compat, "v3")))
		version = 3;
	else if (compat)
		return qimg_error_set(err, EINVAL,
				      "Unknown compatibility level %s", compat);
	if (qimg_opts_has(opts, "data_file") &&
	    !(s->h.incompatible_features & QCOW2_INCOMPAT_DATA_FILE))
		return qimg_error_set(err, EINVAL,
				      "data-file can only be set for images "
				      "that use an external data file");
	if (qimg_opts_get_bool(opts, "data_file_raw", false) &&
	    !(s->h.autoclear_features & QCOW2_AUTOCLEAR_DATA_FILE_RAW))
		return qimg_error_set(err, EINVAL,
				      "data-file-raw cannot be set on "
				      "existing images");
	if (qimg_opts_has(opts, "refcount_bits")) {
		bits = qimg_opts_get_u64(opts, "refcount_bits", 16);
		if (!bits || bits > 64 || (bits & (bits - 1)))
			return qimg_error_set(err, EINVAL,
					      "Refcount width must be a power "
					      "of two and may not exceed 64 "
					      "bits");
		for (order = 0; (1ull << order) < bits; order++)
			;
	}

	p.ops = (version > s->h.version) + (order != s->refcount_order) +
		(version < s->h.version);
	r = settle(s, err);
	if (r == 0 && version > s->h.version)
		r = upgrade(node, &p, err);
	if (r == 0 && order != s->refcount_order) {
		if (order != 4 && version < 3)
			r = qimg_error_set(err, EINVAL,
					   "Refcount widths other than 16 bits "
					   "require compatibility level 1.1 or "
					   "above (use compat=1.1 or greater)");
		else {
			op_begin(&p);
			r = qcow2_change_refcount_order(s, order, op_report, &p,
							err);
		}
	}
	if (r == 0 && (qimg_opts_has(opts, "data_file") ||
		       qimg_opts_has(opts, "data_file_raw")))
		r = amend_data_file(s, opts, err);
	if (r == 0 &&
	    (qimg_opts_has(opts, "backing_file") ||
	     qimg_opts_has(opts, "backing_fmt")) &&
	    (strcmp0(qimg_opts_get_str(opts, "backing_file", NULL),
		     s->ext.backing_file) ||
	     strcmp0(qimg_opts_get_str(opts, "backing_fmt", NULL),
		     s->ext.backing_fmt)))
		r = qimg_error_set(err, EINVAL,
				   "Cannot amend the backing file\nYou can use "
				   "'qemu-img rebase' instead.");
	if (r == 0 && qimg_opts_has(opts, "lazy_refcounts")) {
		bool on = qimg_opts_get_bool(opts, "lazy_refcounts", false);

		if (on && version < 3)
			r = qimg_error_set(err, EINVAL,
					   "Lazy refcounts only supported with "
					   "compatibility level 1.1 and above "
					   "(use compat=1.1 or greater)");
		else
			r = set_lazy(s, on, err);
	}
	/* size=0 asks for nothing, as with qemu-img. */
	if (r == 0 && size && size != s->h.size) {
		r = node->drv->truncate(node, size, true, NULL, err);
		if (r == 0)
			r = settle(s, err);
	}
	if (r == 0 && version < s->h.version)
		r = downgrade(node, &p, err);
	s->lazy = s->h.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS;
	return r;
}
