/* SPDX-License-Identifier: MIT */
/* The checker's side of the snapshot table: reading it as qemu's check
 * does (bad entries counted, and with -r all marked for repair), and the
 * repair itself, a rewritten table.  Too many snapshots lose the overhang,
 * oversized extra data is cut to 1024 bytes, and entries without the
 * 16 bytes of extra data every current writer stores get the full 24. */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/check-int.h"
#include "util/endian.h"

static char *read_string(struct ck *c, uint64_t off, uint32_t len)
{
	char *s = malloc((size_t)len + 1);

	if (!s)
		return NULL;
	if (qcow2_ck_read(c, off, s, len) < 0) {
		free(s);
		return NULL;
	}
	s[len] = '\0';
	return s;
}

void qcow2_ck_free_snapshots(struct ck *c)
{
	qcow2_sn_entries_clear(c->sn, c->nb_snapshots);
	free(c->sn);
	c->sn = NULL;
	c->nb_snapshots = 0;
}

/* Fill entry `sn` from the table at *off (advanced past it).  `fix`:
 * -r all is on.  Returns 0, or a negative errno with the message said. */
static int read_entry(struct ck *c, struct qimg_check_result *snap,
		      unsigned int fix, uint32_t i, uint64_t *off)
{
	struct qcow2_sn_entry *sn = &c->sn[i];
	uint8_t h[CK_SN_HDR];
	uint32_t keep;
	int r;

	r = qcow2_ck_read(c, *off, h, sizeof(h));
	if (r < 0)
		return r;
	sn->l1_offset = qimg_load_be64(h);
	sn->l1_size = qimg_load_be32(h + 8);
	sn->id_len = qimg_load_be16(h + 12);
	sn->name_len = qimg_load_be16(h + 14);
	sn->date_sec = qimg_load_be32(h + 16);
	sn->date_nsec = qimg_load_be32(h + 20);
	sn->vm_clock_ns = qimg_load_be64(h + 24);
	sn->vm_state_size32 = qimg_load_be32(h + 32);
	sn->extra_size = qimg_load_be32(h + 36);
	*off += CK_SN_HDR;
	if (sn->extra_size > CK_MAX_SN_EXTRA) {
		if (!(fix & QIMG_CHECK_FIX_ERRORS)) {
			qcow2_ck_say(c,
				     QIMG_CHECK_TOOL_MSG
				     "ERROR failed to read the snapshot table: "
				     "Too much extra metadata in snapshot "
				     "table entry %" PRIu32,
				     i);
			qcow2_ck_say(c, "You can force-remove this extra "
					"metadata with qemu-img check -r all");
			return qimg_error_set(c->err, EFBIG,
					      "Too much extra metadata in "
					      "snapshot table entry %" PRIu32,
					      i);
		}
		qcow2_ck_say(c,
			     "Discarding too much extra metadata in snapshot "
			     "table entry %" PRIu32 " (%" PRIu32 " > %u)",
			     i, sn->extra_size, CK_MAX_SN_EXTRA);
		snap->corruptions++;
		c->sn_rewrite = true;
	}
	keep = sn->extra_size < CK_MAX_SN_EXTRA ? sn->extra_size
						: CK_MAX_SN_EXTRA;
	if (keep) {
		sn->extra = malloc(keep);
		if (!sn->extra)
			return qimg_error_set(c->err, ENOMEM, "Out of memory");
		r = qcow2_ck_read(c, *off, sn->extra, keep);
		if (r < 0)
			return r;
	}
	*off += sn->extra_size;
	sn->id = read_string(c, *off, sn->id_len);
	*off += sn->id_len;
	sn->name = read_string(c, *off, sn->name_len);
	*off += sn->name_len;
	if (!sn->id || !sn->name)
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	return 0;
}

/* Read the snapshot table as qemu's check does; problems go to snap. */
int qcow2_ck_read_snapshots(struct ck *c, struct qimg_check_result *snap,
			    unsigned int fix)
{
	uint64_t off, start, tlen = 0;
	uint32_t nb = c->hdr_nb_snapshots, i;
	int r;

	c->snapshots_offset = c->hdr_snapshots_offset;
	c->sn_rewrite = c->sn_truncate = false;
	if (nb > CK_MAX_SNAPSHOTS && (fix & QIMG_CHECK_FIX_ERRORS)) {
		qcow2_ck_say(c, "Discarding %" PRIu32 " overhanging snapshots",
			     nb - CK_MAX_SNAPSHOTS);
		snap->corruptions += (int)(nb - CK_MAX_SNAPSHOTS);
		nb = CK_MAX_SNAPSHOTS;
		c->sn_truncate = true;
	}
	if (nb > CK_MAX_SNAPSHOTS) {
		snap->check_errors++;
		qcow2_ck_say(c, QIMG_CHECK_TOOL_MSG
			     "ERROR snapshot table too large");
		qcow2_ck_say(c,
			     "You can force-remove all %" PRIu32 " overhanging "
			     "snapshots with qemu-img check -r all",
			     nb - CK_MAX_SNAPSHOTS);
		c->snapshots_offset = 0;
		return qimg_error_set(c->err, EFBIG,
				      "snapshot table too large");
	}
	if (offset_into_cluster(c, c->snapshots_offset) ||
	    c->snapshots_offset > INT64_MAX - (uint64_t)nb * CK_SN_HDR) {
		snap->check_errors++;
		qcow2_ck_say(c, QIMG_CHECK_TOOL_MSG
			     "ERROR snapshot table offset invalid");
		c->snapshots_offset = 0;
		return qimg_error_set(c->err, EINVAL,
				      "snapshot table offset invalid");
	}
	if (!nb)
		return 0;

	c->sn = calloc(nb, sizeof(*c->sn));
	if (!c->sn) {
		snap->check_errors++;
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	}
	start = off = c->snapshots_offset;
	for (i = 0; i < nb; i++) {
		uint64_t prev = off;

		c->nb_snapshots = i + 1;
		r = read_entry(c, snap, fix, i, &off);
		if (r < 0)
			goto fail;
		/* The table's length as it will be written: an entry whose
		 * extra data is cut counts with what is kept. */
		tlen += off - prev;
		if (c->sn[i].extra_size > CK_MAX_SN_EXTRA)
			tlen -= c->sn[i].extra_size - CK_MAX_SN_EXTRA;
		if (tlen > CK_MAX_SN_TABLE || off - start > INT32_MAX) {
			/* this entry and those after it overhang the
			 * largest table there may be */
			uint32_t over = nb - i;

			if (!(fix & QIMG_CHECK_FIX_ERRORS)) {
				qcow2_ck_say(c, QIMG_CHECK_TOOL_MSG
					     "ERROR failed to read the "
					     "snapshot table: Snapshot table "
					     "is too big");
				qcow2_ck_say(c,
					     "You can force-remove all "
					     "%" PRIu32
					     " overhanging snapshots "
					     "with qemu-img check -r all",
					     over);
				r = qimg_error_set(c->err, EFBIG,
						   "Snapshot table is too big");
				goto fail;
			}
			qcow2_ck_say(c,
				     "Discarding %" PRIu32 " overhanging "
				     "snapshots (snapshot table is too big)",
				     over);
			snap->corruptions += (int)over;
			qcow2_sn_entries_clear(&c->sn[i], 1);
			c->nb_snapshots = i;
			c->sn_truncate = true;
			off = prev;
			break;
		}
		off = (off + 7) & ~7ull;
		tlen = (tlen + 7) & ~7ull;
	}
	c->snapshots_size = off - start;

	/* In a version 3 image, entries without the 16 bytes of extra data
	 * the version requires count as corrupt; -r all rewrites them whole
	 * (version 2 makes the extra data optional). */
	for (i = 0; i < c->nb_snapshots; i++) {
		if (c->sn[i].extra_size >= 16 || c->version < 3)
			continue;
		if (fix & QIMG_CHECK_FIX_ERRORS) {
			qcow2_ck_say(c,
				     "Repairing snapshot table entry %" PRIu32
				     " is incomplete",
				     i);
			c->sn_rewrite = true;
		} else {
			qcow2_ck_say(c,
				     "ERROR snapshot table entry %" PRIu32
				     " is incomplete",
				     i);
		}
		snap->corruptions++;
	}
	return 0;
fail:
	snap->check_errors++;
	qcow2_ck_free_snapshots(c);
	c->snapshots_offset = 0;
	c->snapshots_size = 0;
	return r < 0 ? r : -EIO;
}

/* The first run of n clusters with refcount 0 inside what the existing
 * refcount blocks cover (so that no new block is needed). */
static int find_free_run(struct ck *c, uint64_t n, uint64_t *first)
{
	uint64_t per_block = 1ull << c->rb_bits, t, k, run = 0, rc;
	int r;

	for (t = 0; t < c->rt_loaded && t < c->rt_entries; t++) {
		uint64_t rb = c->rt[t] & CK_RT_OFFSET;

		if (!rb || (c->rt[t] & CK_RT_RESERVED) ||
		    offset_into_cluster(c, rb)) {
			run = 0;
			continue;
		}
		for (k = t * per_block; k < (t + 1) * per_block; k++) {
			r = qcow2_ck_get_refcount(c, k, &rc);
			if (r < 0)
				return r;
			run = (rc == 0 && k > 0) ? run + 1 : 0;
			if (run == n) {
				*first = k + 1 - n;
				return 0;
			}
		}
	}
	return -ENOSPC;
}

/* Add delta (+1 or -1) to the on-disk refcounts of clusters [k, k+n);
 * clusters freed are discarded. */
static int adjust_refs(struct ck *c, uint64_t k, uint64_t n, int delta)
{
	uint64_t i, rc;
	int r;

	for (i = k; i < k + n; i++) {
		r = qcow2_ck_get_refcount(c, i, &rc);
		if (r < 0)
			return r;
		if ((delta < 0 && rc == 0) || (delta > 0 && rc != 0))
			return -EIO;
		r = qcow2_ck_set_refcount(c, i, rc + (uint64_t)(int64_t)delta);
		if (r < 0)
			return r;
		if (delta < 0 && rc == 1)
			qcow2_ck_discard(c, i); /* as qemu frees tables */
	}
	return 0;
}

int qcow2_ck_truncate_snapshots(struct ck *c)
{
	uint8_t nb[4];
	int r;

	qimg_store_be32(nb, c->nb_snapshots);
	r = qcow2_ck_write(c, CK_HDR_NB_SNAPSHOTS_OFF, nb, sizeof(nb));
	if (r == 0)
		c->hdr_nb_snapshots = c->nb_snapshots;
	return r;
}

int qcow2_ck_rewrite_snapshots(struct ck *c)
{
	uint64_t old_off = c->snapshots_offset, old_size = c->snapshots_size;
	uint64_t first, n, new_off = 0;
	uint8_t *buf = NULL, ptr[12];
	size_t len = 0;
	int r;

	r = qcow2_sn_encode(c->sn, c->nb_snapshots, c->size, &buf, &len);
	if (r < 0)
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	if (len) {
		n = size_to_clusters(c, len);
		r = find_free_run(c, n, &first);
		if (r == -ENOSPC)
			qcow2_ck_say(c, "ERROR no free clusters for the "
					"rewritten snapshot table");
		if (r < 0)
			goto out;
		new_off = first << c->cluster_bits;
		/* the new clusters counted, the table written, then the
		 * header switched: a crash leaves at worst a leak */
		r = adjust_refs(c, first, n, +1);
		if (r == 0)
			r = qcow2_ck_overlap_check(c, 0, new_off, len);
		if (r == 0)
			r = qcow2_ck_write(c, new_off, buf, len);
		if (r < 0)
			goto out;
	}
	qimg_store_be32(ptr, c->nb_snapshots);
	qimg_store_be64(
		ptr + (CK_HDR_SNAPSHOTS_OFFSET_OFF - CK_HDR_NB_SNAPSHOTS_OFF),
		new_off);
	r = qcow2_ck_write(c, CK_HDR_NB_SNAPSHOTS_OFF, ptr, sizeof(ptr));
	if (r < 0)
		goto out;
	c->hdr_nb_snapshots = c->nb_snapshots;
	c->hdr_snapshots_offset = c->snapshots_offset = new_off;
	c->snapshots_size = len;
	if (old_size)
		r = adjust_refs(c, old_off >> c->cluster_bits,
				size_to_clusters(c, old_size), -1);
out:
	free(buf);
	if (r < 0 && !qimg_error_isset(c->err))
		qimg_error_set(c->err, -r,
			       "Could not rewrite the snapshot table");
	return r;
}
