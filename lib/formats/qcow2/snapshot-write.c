/* SPDX-License-Identifier: MIT */
/* Internal snapshots, write side: create, delete and revert to (apply) a
 * snapshot, as `qemu-img snapshot -c/-d/-a` do.
 *
 * A snapshot is a copy of the active L1 table; every L2 table and cluster
 * it reaches gains a reference (refcounts count the paths from each L1
 * table), and the active tables' COPIED flags (refcount exactly 1) are
 * brought up to date.  The table of snapshots is written anew each time:
 * new clusters, then the header switched (count and offset in one write),
 * then the old table freed.  Refcounts always go up before a structure
 * points at the clusters and down only after none does, so a writer
 * killed in between leaves leaked clusters and stale COPIED flags, both
 * of which `check -r all` (and QEMU) repair. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "formats/qcow2/qcow2.h"
#include "formats/qcow2/snapshot-table.h"
#include "util/endian.h"

/* Add delta to the refcounts of clusters [c, c+n).  A reference up into
 * clusters no refcount block covers is refused with EAGAIN once the block
 * is made (qemu-img fails the same way: such a reference, which points
 * past everything the image allocated, is not one it counts up). */
static int add_refs(struct qcow2_state *s, uint64_t c, uint64_t n, int delta,
		    struct qimg_error *err)
{
	uint64_t i;
	int r;

	for (i = 0; delta > 0 && i < n; i++) {
		r = qcow2_cover_cluster(s, c + i, err);
		if (r < 0)
			return r;
		if (r > 0)
			return qimg_error_set(err, EAGAIN,
					      "Refcount block for cluster "
					      "%#" PRIx64 " was missing",
					      c + i);
	}
	return qcow2_update_refcount(s, c, n, delta, err);
}

/* Add delta to the refcount of every cluster one L2 entry holds. */
static int entry_refs(struct qcow2_state *s, uint64_t e, int delta,
		      struct qimg_error *err)
{
	uint64_t off, nbytes, first, last;

	if (e & QCOW2_OFLAG_COMPRESSED) {
		qcow2_cdesc_decode(s, e, &off, &nbytes);
		if (!nbytes)
			return 0;
		first = off >> s->cluster_bits;
		last = (off + nbytes - 1) >> s->cluster_bits;
		return add_refs(s, first, last - first + 1, delta, err);
	}
	off = e & QCOW2_L2E_OFFSET_MASK;
	if (!off)
		return 0;
	return add_refs(s, off >> s->cluster_bits, 1, delta, err);
}

/* Add delta to every L2 table of an L1 table and to everything those
 * tables reference, in a fixed order.  At most `limit` updates are made
 * (-1: all); *done counts those that were, so that a failed walk can be
 * undone by walking again with -delta and limit = *done. */
static int tree_refs_n(struct qcow2_state *s, const uint64_t *l1, uint32_t n,
		       int delta, long limit, long *done,
		       struct qimg_error *err)
{
	uint64_t *ent, e, b, k;
	uint8_t *tbl;
	uint32_t i;
	int r = 0;

	*done = 0;
	ent = malloc(s->l2_entries * sizeof(uint64_t));
	if (!ent)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (i = 0; i < n && r == 0; i++) {
		uint64_t l2 = l1[i] & QCOW2_L1E_OFFSET_MASK;

		if (!l2)
			continue;
		r = qcow2_l2_load(s, l2, &tbl, err);
		for (k = 0; r == 0 && k < s->l2_entries; k++) {
			qcow2_l2_entry(s, tbl, k, &e, &b);
			ent[k] = e;
		}
		for (k = 0; r == 0 && k < s->l2_entries; k++) {
			if (limit >= 0 && *done >= limit)
				goto out;
			r = entry_refs(s, ent[k], delta, err);
			if (r == 0)
				(*done)++;
		}
		if (r == 0 && limit >= 0 && *done >= limit)
			goto out;
		if (r == 0)
			r = qcow2_update_refcount(s, l2 >> s->cluster_bits, 1,
						  delta, err);
		if (r == 0)
			(*done)++;
	}
out:
	free(ent);
	return r;
}

/* The whole walk, undone when it fails part way (a refcount would
 * overflow), so that the tree is as before. */
static int tree_refs(struct qcow2_state *s, const uint64_t *l1, uint32_t n,
		     int delta, struct qimg_error *err)
{
	struct qimg_error undo_err = { 0 };
	long done, undone;
	int r;

	r = tree_refs_n(s, l1, n, delta, -1, &done, err);
	if (r < 0 && done > 0)
		(void)tree_refs_n(s, l1, n, -delta, done, &undone, &undo_err);
	return r;
}

/* Write the snapshot's L1 copy without COPIED flags if it has any (the
 * flags in l1 are cleared too). */
static int clear_copied(struct qcow2_state *s, const struct qcow2_sn_entry *e,
			uint64_t *l1, struct qimg_error *err)
{
	uint8_t *raw;
	bool any = false;
	uint32_t i;
	int r;

	for (i = 0; i < e->l1_size; i++) {
		any |= (l1[i] & QCOW2_OFLAG_COPIED) != 0;
		l1[i] &= ~QCOW2_OFLAG_COPIED;
	}
	if (!any)
		return 0;
	raw = malloc((size_t)e->l1_size * 8);
	if (!raw)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (i = 0; i < e->l1_size; i++)
		qimg_store_be64(raw + (uint64_t)i * 8, l1[i]);
	r = qimg_pwrite(s->file, e->l1_offset, raw, (uint64_t)e->l1_size * 8,
			err);
	free(raw);
	return r;
}

/* Set the active tables' COPIED flags from the refcounts (1: set). */
static int fix_copied(struct qcow2_state *s, struct qimg_error *err)
{
	uint64_t i, k, e, b, rc;
	uint8_t *tbl;
	int r = 0;

	for (i = 0; i < s->l1_size && r == 0; i++) {
		uint64_t l2 = s->l1[i] & QCOW2_L1E_OFFSET_MASK;
		bool changed = false;

		if (!l2)
			continue;
		r = qcow2_get_refcount(s, l2 >> s->cluster_bits, &rc, err);
		if (r < 0)
			break;
		if ((rc == 1) != !!(s->l1[i] & QCOW2_OFLAG_COPIED)) {
			s->l1[i] ^= QCOW2_OFLAG_COPIED;
			r = qcow2_l1_write(s, i, err);
			if (r < 0)
				break;
		}
		r = qcow2_l2_load(s, l2, &tbl, err);
		for (k = 0; r == 0 && k < s->l2_entries; k++) {
			uint64_t off;

			qcow2_l2_entry(s, tbl, k, &e, &b);
			off = e & QCOW2_L2E_OFFSET_MASK;
			if ((e & QCOW2_OFLAG_COMPRESSED) || !off)
				continue;
			r = qcow2_get_refcount(s, off >> s->cluster_bits, &rc,
					       err);
			if (r < 0)
				break;
			if ((rc == 1) == !!(e & QCOW2_OFLAG_COPIED))
				continue;
			/* the table stays cached while refcounts are only
			 * read */
			qimg_store_be64(tbl + k * s->l2_entry_size,
					e ^ QCOW2_OFLAG_COPIED);
			changed = true;
		}
		if (r == 0 && changed) {
			r = qimg_pwrite(s->file, l2, tbl, s->cluster_size, err);
			s->unflushed = true;
		}
	}
	return r;
}

/* Write entries as the new table; the old one is freed afterwards. */
int qcow2_sn_write_table(struct qcow2_state *s, const struct qcow2_sn_entry *e,
			 size_t n, uint64_t old_bytes, struct qimg_error *err)
{
	uint64_t old_off = s->h.snapshots_offset, off = 0;
	uint8_t *buf = NULL, hdr[12];
	size_t len = 0;
	int r;

	if (qcow2_sn_encode(e, n, s->h.size, &buf, &len) < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = 0;
	if (len) {
		r = qcow2_alloc_clusters(
			s, (len + s->cluster_size - 1) >> s->cluster_bits, &off,
			err);
		if (r == 0)
			r = qimg_pwrite(s->file, off, buf, len, err);
		s->unflushed = true;
	}
	free(buf);
	/* the new table (and what its entries need) before the header
	 * points at it; the header before the old table is freed */
	if (r == 0)
		r = qcow2_barrier(s, err);
	if (r < 0)
		return r;
	qimg_store_be32(hdr, (uint32_t)n);
	qimg_store_be64(hdr + 4, off);
	r = qimg_pwrite(s->file, QCOW2_HDR_NB_SNAPSHOTS_OFF, hdr, sizeof(hdr),
			err);
	s->unflushed = true;
	if (r < 0)
		return r;
	s->h.nb_snapshots = (uint32_t)n;
	s->h.snapshots_offset = off;
	/* The new table is in place: an old one that cannot be freed is
	 * only leaked (reported in a note). */
	if (old_off && old_bytes &&
	    qcow2_free_bytes(s, old_off, old_bytes, err) < 0)
		qimg_error_clear(err);
	return 0;
}

/* Read a snapshot's L1 table (host order). */
static int read_l1(struct qcow2_state *s, const struct qcow2_sn_entry *e,
		   uint64_t **out, struct qimg_error *err)
{
	uint64_t bytes = (uint64_t)e->l1_size * 8, i;
	uint64_t *l1;
	uint8_t *raw;
	int r = 0;

	if (bytes > QCOW2_MAX_L1_BYTES)
		return qimg_error_set(err, EFBIG,
				      "Snapshot L1 table too large");
	if (e->l1_offset & (s->cluster_size - 1))
		return qimg_error_set(err, EUCLEAN,
				      "Snapshot L1 table offset invalid");
	l1 = calloc(e->l1_size ? e->l1_size : 1, sizeof(uint64_t));
	raw = malloc(bytes ? bytes : 1);
	if (!l1 || !raw) {
		free(l1);
		free(raw);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (bytes)
		r = qimg_pread(s->file, e->l1_offset, raw, bytes, err);
	for (i = 0; r == 0 && i < e->l1_size; i++)
		l1[i] = qimg_load_be64(raw + i * 8);
	free(raw);
	if (r < 0) {
		free(l1);
		return r;
	}
	*out = l1;
	return 0;
}

/* Forget every cached L2 table (tables were freed). */
static void l2_cache_clear(struct qcow2_state *s)
{
	size_t i;

	for (i = 0; i < s->l2c.n; i++) {
		s->l2c.slot[i].off = 0;
		s->l2c.slot[i].dirty = false; /* written back before */
	}
}

static int next_id(const struct qcow2_sn_entry *e, size_t n)
{
	long max = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		long v = strtol(e[i].id, NULL, 10);

		if (v > max)
			max = v;
	}
	return (int)(max + 1);
}

static int create_locked(struct qimg_node *node, const char *name,
			 struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qcow2_sn_entry *e = NULL, *ne, *sn;
	uint64_t table_bytes, l1_off = 0, bytes, i;
	uint8_t *raw = NULL, extra[QCOW2_SN_EXTRA_NOW];
	size_t n = 0;
	struct timeval tv;
	char id[16];
	int r;

	if (strlen(name) > UINT16_MAX)
		return qimg_error_set(err, EINVAL, "Snapshot name too long");
	r = qcow2_sn_load(s, &e, &n, &table_bytes, err);
	if (r < 0)
		return r;
	if (n >= QCOW2_SN_MAX_COUNT) {
		r = qimg_error_set(err, EFBIG, "Too many snapshots");
		goto out;
	}
	r = qcow2_mark_dirty(s, err);
	if (r < 0)
		goto out;

	/* The snapshot's L1 table: a copy of the active one, written before
	 * the tree's references go up (as qemu-img orders it, so a failure
	 * there leaves this table leaked, not a table missing its
	 * references). */
	bytes = (uint64_t)s->l1_size * 8;
	if (bytes) {
		raw = malloc(bytes);
		if (!raw) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto out;
		}
		for (i = 0; i < s->l1_size; i++)
			qimg_store_be64(raw + i * 8, s->l1[i]);
		r = qcow2_alloc_clusters(
			s, (bytes + s->cluster_size - 1) >> s->cluster_bits,
			&l1_off, err);
		if (r == 0)
			r = qimg_pwrite(s->file, l1_off, raw, bytes, err);
		s->unflushed = true;
		if (r < 0)
			goto out;
	}

	/* The active tree gains the snapshot's references; its COPIED
	 * flags go. */
	r = tree_refs(s, s->l1, s->l1_size, 1, err);
	if (r == 0)
		r = fix_copied(s, err);
	if (r < 0)
		goto out;

	ne = realloc(e, (n + 1) * sizeof(*e));
	if (!ne) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	e = ne;
	sn = &e[n++];
	memset(sn, 0, sizeof(*sn));
	gettimeofday(&tv, NULL);
	snprintf(id, sizeof(id), "%d", next_id(e, n - 1));
	sn->l1_offset = l1_off;
	sn->l1_size = s->l1_size;
	sn->date_sec = (uint32_t)tv.tv_sec;
	sn->date_nsec = (uint32_t)tv.tv_usec * 1000;
	/* no VM state; the disk size; an instruction count of 0, as
	 * qemu-img stores them */
	memset(extra, 0, sizeof(extra));
	qimg_store_be64(extra + 8, s->h.size);
	sn->extra_size = sizeof(extra);
	sn->extra = malloc(sizeof(extra));
	sn->id = strdup(id);
	sn->name = strdup(name);
	if (!sn->extra || !sn->id || !sn->name) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	memcpy(sn->extra, extra, sizeof(extra));
	sn->id_len = (uint16_t)strlen(sn->id);
	sn->name_len = (uint16_t)strlen(name);
	r = qcow2_sn_write_table(s, e, n, table_bytes, err);
out:
	free(raw);
	qcow2_sn_entries_clear(e, n);
	free(e);
	return r;
}

/* Index of the snapshot whose id (by_id) or name is `key`, or -1. */
static long find(const struct qcow2_sn_entry *e, size_t n, const char *key,
		 bool by_id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(by_id ? e[i].id : e[i].name, key))
			return (long)i;
	return -1;
}

static int delete_locked(struct qimg_node *node, const char *name,
			 struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qcow2_sn_entry *e = NULL, gone;
	uint64_t table_bytes, *l1 = NULL;
	size_t n = 0;
	long k;
	int r;

	r = qcow2_sn_load(s, &e, &n, &table_bytes, err);
	if (r < 0)
		return r;
	k = find(e, n, name, false);
	if (k < 0) {
		r = qimg_error_set(err, ENOENT, "snapshot not found");
		goto out;
	}
	r = read_l1(s, &e[k], &l1, err);
	if (r == 0)
		r = qcow2_mark_dirty(s, err);
	if (r < 0)
		goto out;

	/* Out of the table first; only then its references go. */
	gone = e[k];
	memmove(&e[k], &e[k + 1], (n - (size_t)k - 1) * sizeof(*e));
	n--;
	r = qcow2_sn_write_table(s, e, n, table_bytes, err);
	if (r == 0) {
		r = tree_refs(s, l1, gone.l1_size, -1, err);
		if (r == 0 && gone.l1_size)
			r = qcow2_free_bytes(s, gone.l1_offset,
					     (uint64_t)gone.l1_size * 8, err);
		if (r < 0)
			qimg_error_prefix(err, "Failed to free the cluster "
					       "and L1 table");
	}
	qcow2_sn_entries_clear(&gone, 1);
	l2_cache_clear(s);
	if (r == 0)
		r = fix_copied(s, err);
out:
	free(l1);
	qcow2_sn_entries_clear(e, n);
	free(e);
	return r;
}

static int goto_locked(struct qimg_node *node, const char *key,
		       struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qcow2_sn_entry *e = NULL;
	uint64_t table_bytes, *snl1 = NULL, *old = NULL, size;
	uint8_t *raw = NULL;
	uint32_t old_n = 0, i;
	size_t n = 0;
	long k;
	int r;

	r = qcow2_sn_load(s, &e, &n, &table_bytes, err);
	if (r < 0)
		return r;
	k = find(e, n, key, true);
	if (k < 0)
		k = find(e, n, key, false);
	if (k < 0) {
		r = qimg_error_set(err, ENOENT,
				   "Failed to load snapshot: No such file or "
				   "directory");
		goto out;
	}
	size = s->h.size;
	if (e[k].extra_size >= 16)
		size = qimg_load_be64(e[k].extra + 8);
	r = read_l1(s, &e[k], &snl1, err);
	if (err && (r == -EFBIG || r == -EUCLEAN)) {
		/* a damaged entry: qemu-img reports what is wrong on a line
		 * of its own, then fails to load the snapshot */
		int errnum = r == -EFBIG ? EFBIG : EINVAL;

		qimg_error_note(err, QIMG_NOTE_REPORT "%s", err->msg);
		qimg_error_clear(err);
		r = qimg_error_set_errno(err, errnum,
					 "Failed to load snapshot");
		goto out;
	}
	if (r == 0)
		r = qcow2_mark_dirty(s, err);
	if (r == 0 && e[k].l1_size > s->l1_size)
		r = qcow2_grow_l1(s, e[k].l1_size, err);
	if (r < 0)
		goto out;

	/* The snapshot's tree gains the active references first. */
	r = tree_refs(s, snl1, e[k].l1_size, 1, err);
	if (r < 0)
		goto out;
	/* Now shared, none of its tables is the only user's: its own L1
	 * copy loses any COPIED flag (as qemu-img leaves it). */
	r = clear_copied(s, &e[k], snl1, err);
	if (r < 0)
		goto out;
	old_n = s->l1_size;
	old = malloc((size_t)old_n * sizeof(uint64_t) + 1);
	raw = calloc(old_n ? old_n : 1, 8);
	if (!old || !raw) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	memcpy(old, s->l1, (size_t)old_n * sizeof(uint64_t));
	for (i = 0; i < old_n; i++) {
		s->l1[i] = i < e[k].l1_size ? snl1[i] : 0;
		qimg_store_be64(raw + (uint64_t)i * 8, s->l1[i]);
	}
	/* the references it gains first; then the switch, before the old
	 * tree's references go */
	r = qcow2_barrier(s, err);
	if (r == 0)
		r = qimg_pwrite(s->file, s->h.l1_table_offset, raw,
				(uint64_t)old_n * 8, err);
	s->unflushed = true;
	if (r == 0 && size != s->h.size) {
		uint8_t b[8];

		qimg_store_be64(b, size);
		r = qimg_pwrite(s->file, QCOW2_HDR_SIZE_OFF, b, sizeof(b), err);
		if (r == 0)
			s->h.size = node->size = size;
	}
	/* The old active tree loses its references. */
	if (r == 0)
		r = tree_refs(s, old, old_n, -1, err);
	l2_cache_clear(s);
	if (r == 0)
		r = fix_copied(s, err);
out:
	free(raw);
	free(old);
	free(snl1);
	qcow2_sn_entries_clear(e, n);
	free(e);
	return r;
}

/* Run one snapshot operation under the image lock (read-write images). */
static int run_locked(struct qimg_node *node,
		      int (*fn)(struct qimg_node *, const char *,
				struct qimg_error *),
		      const char *arg, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	int r;

	if (s->read_only)
		return qimg_error_set(err, EACCES, "Image is read-only");
	qcow2_lock(s);
	/* Clusters the snapshot operation frees leave the file (qemu-img's
	 * pass-discard-snapshot, on unless the option turns it off). */
	if (s->discard_snapshot)
		qcow2_collect_freed(s);
	/* The tables a snapshot operation walks and rewrites are on the
	 * disk as the cache has them. */
	r = qcow2_l2_writeback(s, err);
	if (r == 0)
		r = fn(node, arg, err);
	if (r == 0)
		r = qcow2_discard_freed(s, err);
	else
		qcow2_discard_freed(s, &(struct qimg_error){ 0 });
	qcow2_unlock(s);
	return r;
}

int qcow2_snapshot_create(struct qimg_node *node, const char *name,
			  struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	int r;

	/* A data file has no room for a snapshot's clusters. */
	if (s->ext_data)
		return -ENOTSUP;
	r = run_locked(node, create_locked, name, err);

	/* qemu-img reports a refcount that would overflow as EINVAL (and
	 * `snapshot -c` prints only the errno) */
	return r == -ERANGE ? -EINVAL : r;
}

int qcow2_snapshot_delete(struct qimg_node *node, const char *name,
			  struct qimg_error *err)
{
	return run_locked(node, delete_locked, name, err);
}

int qcow2_snapshot_goto(struct qimg_node *node, const char *key,
			struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;

	/* Refused before the table is searched (qemu-img's answer). */
	if (s->ext_data)
		return qimg_error_set(err, ENOTSUP,
				      "Failed to load snapshot: Operation not "
				      "supported");
	return run_locked(node, goto_locked, key, err);
}
