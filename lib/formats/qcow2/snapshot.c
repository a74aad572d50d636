/* SPDX-License-Identifier: MIT */
/* Internal snapshots, read side: the snapshot table parsed into a list,
 * for `info` (the snapshot list) and for the refcount rebuild (whose L1
 * tables count).  Creating, applying and deleting snapshots is a later
 * issue. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "formats/qcow2/snapshot-table.h"
#include "util/endian.h"

#define SN_HEADER 40
#define SN_MAX_EXTRA 1024
#define SN_MAX_TABLE (64u << 20)

void qcow2_snapshots_free(struct qcow2_snapshot *sn, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(sn[i].id);
		free(sn[i].name);
	}
	free(sn);
}

static char *dup_n(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* Entry i at table position *pos (advanced past it, padding included). */
static int load_entry(struct qcow2_state *s, uint64_t off, uint64_t *pos,
		      uint32_t i, struct qcow2_sn_entry *e,
		      struct qimg_error *err)
{
	uint8_t hdr[SN_HEADER], *names;
	int r;

	r = qimg_pread(s->file, off + *pos, hdr, SN_HEADER, err);
	if (r < 0)
		return r;
	e->l1_offset = qimg_load_be64(hdr);
	e->l1_size = qimg_load_be32(hdr + 8);
	e->id_len = qimg_load_be16(hdr + 12);
	e->name_len = qimg_load_be16(hdr + 14);
	e->date_sec = qimg_load_be32(hdr + 16);
	e->date_nsec = qimg_load_be32(hdr + 20);
	e->vm_clock_ns = qimg_load_be64(hdr + 24);
	e->vm_state_size32 = qimg_load_be32(hdr + 32);
	e->extra_size = qimg_load_be32(hdr + 36);
	if (e->extra_size > SN_MAX_EXTRA)
		return qimg_error_set(err, EUCLEAN,
				      "Too much extra metadata in snapshot "
				      "table entry %u\nYou can force-remove "
				      "this extra metadata with qemu-img "
				      "check -r all",
				      i);
	if (e->extra_size) {
		e->extra = malloc(e->extra_size);
		if (!e->extra)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		r = qimg_pread(s->file, off + *pos + SN_HEADER, e->extra,
			       e->extra_size, err);
		if (r < 0)
			return r;
	}
	names = malloc((size_t)e->id_len + e->name_len + 1);
	if (!names)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_pread(s->file, off + *pos + SN_HEADER + e->extra_size, names,
		       (size_t)e->id_len + e->name_len, err);
	if (r == 0) {
		e->id = dup_n(names, e->id_len);
		e->name = dup_n(names + e->id_len, e->name_len);
		if (!e->id || !e->name)
			r = qimg_error_set(err, ENOMEM, "Out of memory");
	}
	free(names);
	*pos += (SN_HEADER + e->extra_size + e->id_len + e->name_len + 7) &
		~7ull;
	return r;
}

int qcow2_sn_load(struct qcow2_state *s, struct qcow2_sn_entry **out,
		  size_t *nout, uint64_t *table_bytes, struct qimg_error *err)
{
	uint64_t off = s->h.snapshots_offset, pos = 0;
	uint32_t n = s->h.nb_snapshots, i;
	struct qcow2_sn_entry *e;
	int r = 0;

	*out = NULL;
	*nout = 0;
	if (table_bytes)
		*table_bytes = 0;
	if (!n)
		return 0;
	e = calloc(n, sizeof(*e));
	if (!e)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (i = 0; i < n && r == 0; i++) {
		r = load_entry(s, off, &pos, i, &e[i], err);
		/* qemu-img's message has a hint line */
		if (r == 0 && pos > SN_MAX_TABLE)
			r = qimg_error_set(err, EUCLEAN,
					   "Snapshot table is too big\nYou can "
					   "force-remove all %u overhanging "
					   "snapshots with qemu-img check -r "
					   "all",
					   n - i);
	}
	if (r < 0) {
		qcow2_sn_entries_clear(e, n);
		free(e);
		return r;
	}
	*out = e;
	*nout = n;
	if (table_bytes)
		*table_bytes = pos;
	return 0;
}

int qcow2_snapshots_read(struct qcow2_state *s, struct qcow2_snapshot **out,
			 size_t *nout, uint64_t *table_bytes,
			 struct qimg_error *err)
{
	struct qcow2_sn_entry *e;
	struct qcow2_snapshot *sn;
	size_t n, i;
	int r;

	*out = NULL;
	*nout = 0;
	r = qcow2_sn_load(s, &e, &n, table_bytes, err);
	if (r < 0 || !n)
		return r;
	sn = calloc(n, sizeof(*sn));
	if (!sn) {
		qcow2_sn_entries_clear(e, n);
		free(e);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	for (i = 0; i < n; i++) {
		const uint8_t *x = e[i].extra;
		uint32_t xlen = e[i].extra_size;

		sn[i].l1_offset = e[i].l1_offset;
		sn[i].l1_size = e[i].l1_size;
		sn[i].date_sec = e[i].date_sec;
		sn[i].date_nsec = e[i].date_nsec;
		sn[i].vm_clock_ns = e[i].vm_clock_ns;
		sn[i].vm_state_size = e[i].vm_state_size32;
		if (xlen >= 8)
			sn[i].vm_state_size = qimg_load_be64(x);
		if (xlen >= 16)
			sn[i].disk_size = qimg_load_be64(x + 8);
		if (xlen >= 24 && qimg_load_be64(x + 16) != UINT64_MAX) {
			sn[i].has_icount = true;
			sn[i].icount = qimg_load_be64(x + 16);
		}
		/* the strings move over */
		sn[i].id = e[i].id;
		sn[i].name = e[i].name;
		e[i].id = e[i].name = NULL;
	}
	qcow2_sn_entries_clear(e, n);
	free(e);
	*out = sn;
	*nout = n;
	return 0;
}

/* Point the active L1 table at a snapshot's, for reading what the image
 * held when the snapshot was taken (convert -l, measure -l).  The virtual
 * size stays the image's: past the end of the snapshot's L1 table the
 * image reads as unallocated.  Only on read-only opens. */
int qcow2_snapshot_load_tmp(struct qimg_node *node, const char *id,
			    const char *name, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qcow2_snapshot *sn, *hit = NULL;
	uint64_t *l1 = NULL, bytes, i;
	int64_t flen;
	uint8_t *raw = NULL;
	size_t n, k;
	int r;

	r = qcow2_snapshots_read(s, &sn, &n, NULL, err);
	if (r < 0)
		return r;
	for (k = 0; k < n && !hit; k++) {
		if (id && strcmp(sn[k].id, id))
			continue;
		if (name && strcmp(sn[k].name, name))
			continue;
		hit = &sn[k];
	}
	if (!hit) {
		r = qimg_error_set(err, ENOENT, "Can't find snapshot");
		goto out;
	}
	bytes = (uint64_t)hit->l1_size * 8;
	if (bytes > QCOW2_MAX_L1_BYTES) {
		r = qimg_error_set(err, EFBIG, "Snapshot L1 table too large");
		goto out;
	}
	flen = qimg_node_length(s->file, err);
	if (flen < 0) {
		r = (int)flen;
		goto out;
	}
	if ((hit->l1_offset & (s->cluster_size - 1)) ||
	    hit->l1_offset > (uint64_t)flen ||
	    bytes > (uint64_t)flen - hit->l1_offset) {
		r = qimg_error_set(err, EUCLEAN,
				   "Snapshot L1 table offset invalid");
		goto out;
	}
	l1 = calloc(hit->l1_size ? hit->l1_size : 1, sizeof(uint64_t));
	raw = malloc(bytes ? bytes : 1);
	if (!l1 || !raw) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	if (bytes) {
		r = qimg_pread(s->file, hit->l1_offset, raw, bytes, err);
		if (r < 0)
			goto out;
	}
	for (i = 0; i < hit->l1_size; i++)
		l1[i] = qimg_load_be64(raw + i * 8);
	free(s->l1);
	s->l1 = l1;
	s->l1_size = hit->l1_size;
	l1 = NULL;
	r = 0;
out:
	free(raw);
	free(l1);
	qcow2_snapshots_free(sn, n);
	return r;
}
