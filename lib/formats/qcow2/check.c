/* SPDX-License-Identifier: MIT */
/* qcow2 consistency checker (`qimg check`) and refcount repair.  Reads the
 * on-disk structures through the protocol child, builds an in-memory
 * refcount array from every reference and compares it with the stored
 * refcounts, with qemu-img 7.2's detail lines, counts, order and repair
 * semantics (leak fixes, OFLAG_COPIED fixes, refcount structure rebuild).
 * This file holds the refcount side and the entry points; check-header.c
 * reads the image, check-walk.c and check-bitmaps.c count references,
 * check-refs.c has the in-memory refcount table and the rebuild. */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/check-int.h"
#include "formats/qcow2/qcow2.h"
#include "util/endian.h"
#include "util/overflow.h"

/* ---- refcount structures ----------------------------------------------- */

/* The most memory a refcount table grown for a refblock past the end of
 * the file may take. */
#define CK_GROW_MEM_MAX (512ull << 20)

static int grow_file_for_refblock(struct ck *c, uint64_t offset)
{
	uint64_t end;
	int64_t len;
	int r;

	if (offset > INT64_MAX - c->cluster_size)
		return -EINVAL;
	end = offset + c->cluster_size;
	/* The file grows (sparse) to hold the block, as qemu-img grows it;
	 * the in-memory table that then covers it must stay addressable
	 * (qemu's INT_MAX clusters) and within CK_GROW_MEM_MAX bytes: a
	 * refblock further out is garbage, not a block to grow our memory
	 * for; the refcounts get rebuilt. */
	if ((end >> c->cluster_bits) > INT32_MAX ||
	    (((end >> c->cluster_bits) << c->refcount_order) >> 3) >
		    CK_GROW_MEM_MAX) {
		qcow2_ck_say(c, QIMG_CHECK_TOOL_MSG "Could not resize file: %s",
			     strerror(EFBIG));
		return -EFBIG;
	}
	r = qimg_truncate(c->file, end, 0, NULL, c->err);
	if (r < 0) {
		qcow2_ck_say(c, QIMG_CHECK_TOOL_MSG "Could not resize file: %s",
			     strerror(-r));
		return r;
	}
	len = qimg_node_length(c->file, c->err);
	if (len < 0)
		return (int)len;
	c->file_len = len;
	return 0;
}

static int check_refblocks(struct ck *c, struct qimg_check_result *res,
			   unsigned int fix, bool *rebuild)
{
	uint64_t i;
	int r;

	for (i = 0; i < c->rt_entries && i < c->rt_loaded; i++) {
		uint64_t off = c->rt[i] & CK_RT_OFFSET;
		uint64_t cl = off >> c->cluster_bits;

		if (c->rt[i] & CK_RT_RESERVED) {
			qcow2_ck_say(c,
				     "ERROR refcount table entry %" PRIu64
				     " has "
				     "reserved bits set",
				     i);
			res->corruptions++;
			*rebuild = true;
			continue;
		}
		if (offset_into_cluster(c, off)) {
			qcow2_ck_say(
				c,
				"ERROR refcount block %" PRIu64 " is not "
				"cluster aligned; refcount table entry corrupted",
				i);
			res->corruptions++;
			*rebuild = true;
			continue;
		}
		if (cl >= (uint64_t)c->imrt_n) {
			bool fx = fix & QIMG_CHECK_FIX_ERRORS;

			res->corruptions++;
			qcow2_ck_say(c,
				     "%s refcount block %" PRIu64
				     " is outside image",
				     fx ? "Repairing" : "ERROR", i);
			if (!fx)
				continue;
			/* qemu grows the file so the block exists (reading
			 * as zeros) rather than dropping the entry. */
			r = grow_file_for_refblock(c, off);
			if (r == 0) {
				int64_t n = (int64_t)size_to_clusters(
					c, (uint64_t)c->file_len);

				if (n > c->imrt_n) {
					r = qcow2_ck_imrt_resize(c, n);
					if (r < 0) {
						res->check_errors++;
						return qimg_error_set(
							c->err, -r,
							"Out of memory");
					}
				}
				if (cl >= (uint64_t)c->imrt_n)
					r = -EINVAL;
			}
			if (r < 0) {
				*rebuild = true;
				qcow2_ck_say(c,
					     "ERROR could not resize image: %s",
					     strerror(-r));
				qimg_error_clear(c->err);
				continue;
			}
			res->corruptions--;
			res->corruptions_fixed++;
			r = qcow2_ck_inc_refs(c, res, off, c->cluster_size);
			if (r < 0)
				return r;
			continue;
		}
		if (off) {
			r = qcow2_ck_inc_refs(c, res, off, c->cluster_size);
			if (r < 0)
				return r;
			if (qcow2_ck_imrt_get(c, (int64_t)cl) != 1) {
				qcow2_ck_say(c,
					     "ERROR refcount block %" PRIu64
					     " refcount=%" PRIu64,
					     i,
					     qcow2_ck_imrt_get(c, (int64_t)cl));
				res->corruptions++;
				*rebuild = true;
			}
		}
	}
	return 0;
}

static int calculate_refcounts(struct ck *c, struct qimg_check_result *res,
			       unsigned int fix, bool *rebuild)
{
	uint32_t i;
	int r;

	/* Legitimate images visit each L2 table once per snapshot sharing
	 * it and each bitmap table cluster once; these bounds are far above
	 * that and keep crafted images from looping for hours. */
	c->l2_budget = 64 * (uint64_t)c->imrt_n + 65536;
	c->bm_budget = 4 * ((uint64_t)c->file_len / 8) + 65536;

	/* header */
	r = qcow2_ck_inc_refs(c, res, 0, c->cluster_size);
	if (r < 0)
		return r;
	/* active L1 */
	c->cplog_ok = true;
	r = qcow2_ck_check_l1(c, res, c->l1_offset, c->l1_size, CK_FRAG_INFO,
			      fix, c->l1);
	if (r < 0)
		return r;
	/* snapshots */
	if (c->data_file && c->nb_snapshots) {
		qcow2_ck_say(c,
			     "ERROR %" PRIu32
			     " snapshots in image with data file",
			     c->nb_snapshots);
		res->corruptions++;
	}
	for (i = 0; i < c->nb_snapshots; i++) {
		const struct qcow2_sn_entry *sn = &c->sn[i];

		if (offset_into_cluster(c, sn->l1_offset)) {
			qcow2_ck_say(
				c,
				"ERROR snapshot %s (%s) l1_offset=%#" PRIx64
				": L1 table is not cluster aligned; snapshot "
				"table entry corrupted",
				sn->id, sn->name, sn->l1_offset);
			res->corruptions++;
			continue;
		}
		if (sn->l1_size > CK_MAX_L1_BYTES / 8) {
			qcow2_ck_say(
				c,
				"ERROR snapshot %s (%s) l1_size=%#" PRIx32
				": L1 table is too large; snapshot table entry "
				"corrupted",
				sn->id, sn->name, sn->l1_size);
			res->corruptions++;
			continue;
		}
		r = qcow2_ck_check_l1(c, res, sn->l1_offset, sn->l1_size, 0,
				      fix, NULL);
		if (r < 0)
			return r;
	}
	r = qcow2_ck_inc_refs(c, res, c->snapshots_offset, c->snapshots_size);
	if (r < 0)
		return r;
	/* refcount table */
	r = qcow2_ck_inc_refs(c, res, c->rt_offset, c->rt_entries * 8);
	if (r < 0)
		return r;
	/* encryption header */
	if (c->crypto_len) {
		r = qcow2_ck_inc_refs(c, res, c->crypto_off, c->crypto_len);
		if (r < 0)
			return r;
	}
	r = qcow2_ck_check_bitmaps(c, res);
	if (r < 0)
		return r;
	return check_refblocks(c, res, fix, rebuild);
}

static int compare_refcounts(struct ck *c, struct qimg_check_result *res,
			     unsigned int fix, bool *rebuild, int64_t *highest)
{
	int64_t i;

	*highest = 0;
	for (i = 0; i < c->imrt_n; i++) {
		uint64_t on_disk, ref;
		int *fixed = NULL;
		int64_t skip = qcow2_ck_empty_run(c, i, c->imrt_n);
		int r;

		if (skip > 0) {
			i += skip - 1;
			continue;
		}
		r = qcow2_ck_get_refcount(c, (uint64_t)i, &on_disk);

		if (r < 0) {
			qcow2_ck_say(c,
				     "Can't get refcount for cluster %" PRId64
				     ": %s",
				     i, strerror(-r));
			res->check_errors++;
			qimg_error_clear(c->err);
			continue;
		}
		ref = qcow2_ck_imrt_get(c, i);
		if (on_disk || ref)
			*highest = i;
		if (on_disk == ref)
			continue;

		if (on_disk == 0)
			*rebuild = true;
		else if (on_disk > ref && (fix & QIMG_CHECK_FIX_LEAKS))
			fixed = &res->leaks_fixed;
		else if (on_disk < ref && (fix & QIMG_CHECK_FIX_ERRORS))
			fixed = &res->corruptions_fixed;

		qcow2_ck_say(c,
			     "%s cluster %" PRId64 " refcount=%" PRIu64
			     " reference=%" PRIu64,
			     fixed	     ? "Repairing"
			     : on_disk < ref ? "ERROR"
					     : "Leaked",
			     i, on_disk, ref);

		if (fixed) {
			r = qcow2_ck_set_refcount(c, (uint64_t)i, ref);
			if (r >= 0) {
				(*fixed)++;
				if (!ref)
					qcow2_ck_discard(c, (uint64_t)i);
				continue;
			}
			qimg_error_clear(c->err);
		}
		if (on_disk < ref)
			res->corruptions++;
		else
			res->leaks++;
	}
	return 0;
}

/* ---- the refcount check as a whole -------------------------------------- */

static int check_refcounts(struct ck *c, struct qimg_check_result *res,
			   unsigned int fix)
{
	struct qimg_check_result pre;
	int64_t nb, highest = 0;
	bool rebuild = false;
	int r;

	nb = (int64_t)size_to_clusters(c, (uint64_t)c->file_len);
	if (nb > INT32_MAX) {
		res->check_errors++;
		return qimg_error_set(c->err, EFBIG,
				      "Image file too large "
				      "to check");
	}
	res->total_clusters = size_to_clusters(c, c->size / 512 * 512);

	r = qcow2_ck_imrt_resize(c, nb);
	if (r < 0) {
		res->check_errors++;
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	}
	r = calculate_refcounts(c, res, fix, &rebuild);
	if (r < 0)
		return r;

	/* Without a rebuild but with fix, compare runs again with fixing
	 * enabled; this first pass only reports (and its counts are
	 * dropped then). */
	pre = *res;
	compare_refcounts(c, res, 0, &rebuild, &highest);

	if (rebuild && (fix & QIMG_CHECK_FIX_ERRORS)) {
		struct qimg_check_result old = *res, saved;
		int fresh_leaks = 0;

		qcow2_ck_say(c, "Rebuilding refcount structure");
		r = qcow2_ck_rebuild(c);
		if (r < 0)
			return r;
		res->corruptions = 0;
		res->leaks = 0;
		/* the reftable moved: count references again */
		rebuild = false;
		memset(c->imrt, 0, c->imrt_bytes);
		r = calculate_refcounts(c, res, 0, &rebuild);
		if (r < 0)
			return r;
		if (fix & QIMG_CHECK_FIX_LEAKS) {
			/* The old structures are leaked now; free them.
			 * Leaks left over here came from the rebuild. */
			saved = *res;
			memset(res, 0, sizeof(*res));
			compare_refcounts(c, res, QIMG_CHECK_FIX_LEAKS,
					  &rebuild, &highest);
			if (rebuild)
				qcow2_ck_say(
					c,
					"ERROR rebuilt refcount structure is "
					"still broken");
			fresh_leaks = res->leaks;
			*res = saved;
		}
		if (res->corruptions < old.corruptions)
			res->corruptions_fixed +=
				old.corruptions - res->corruptions;
		if (res->leaks < old.leaks)
			res->leaks_fixed += old.leaks - res->leaks;
		res->leaks += fresh_leaks;
	} else if (fix) {
		if (rebuild) {
			qcow2_ck_say(
				c, "ERROR need to rebuild refcount structures");
			res->check_errors++;
			return qimg_error_set(c->err, EIO,
					      "Input/output "
					      "error");
		}
		if (res->leaks || res->corruptions) {
			*res = pre;
			compare_refcounts(c, res, fix, &rebuild, &highest);
		}
	}

	r = qcow2_ck_oflag_copied(c, res, fix);
	if (r < 0)
		return r;
	res->image_end_offset = (highest + 1) * (int64_t)c->cluster_size;
	return 0;
}

static int mark_clean(struct ck *c)
{
	uint8_t b[8];
	uint64_t v;
	int r;

	if (c->version < 3 ||
	    !(c->incompat & (CK_INCOMPAT_DIRTY | CK_INCOMPAT_CORRUPT)))
		return 0;
	r = qimg_flush(c->file, c->err);
	if (r < 0)
		return r;
	v = c->incompat & ~(CK_INCOMPAT_DIRTY | CK_INCOMPAT_CORRUPT);
	qimg_store_be64(b, v);
	r = qcow2_ck_write(c, CK_HDR_INCOMPAT_OFF, b, sizeof(b));
	if (r == 0)
		r = qimg_flush(c->file, c->err);
	if (r == 0)
		c->incompat = v;
	return r;
}

static void add_result(struct qimg_check_result *out,
		       const struct qimg_check_result *src, bool alloc_info)
{
	out->corruptions += src->corruptions;
	out->leaks += src->leaks;
	out->check_errors += src->check_errors;
	out->corruptions_fixed += src->corruptions_fixed;
	out->leaks_fixed += src->leaks_fixed;
	if (alloc_info) {
		out->image_end_offset = src->image_end_offset;
		out->total_clusters = src->total_clusters;
		out->allocated_clusters = src->allocated_clusters;
		out->fragmented_clusters = src->fragmented_clusters;
		out->compressed_clusters = src->compressed_clusters;
	}
}

int qcow2_check(struct qimg_node *node, unsigned int fix,
		struct qimg_check_result *res, qimg_report_fn report,
		void *opaque, struct qimg_error *err)
{
	struct qimg_check_result snap = { 0 }, refs = { 0 };
	const struct qcow2_state *s = node->opaque;
	bool l1_borrowed = false;
	struct ck c = { 0 };
	int r;

	memset(res, 0, sizeof(*res));
	c.file = node->file;
	c.report = report;
	c.opaque = opaque;
	c.err = err;
	c.fix_mode = fix != 0;

	c.file_len = qimg_node_length(c.file, err);
	if (c.file_len < 0) {
		res->check_errors++;
		return (int)c.file_len;
	}
	r = qcow2_ck_parse_header(&c);
	if (r < 0)
		return r;
	c.rb = malloc((size_t)c.cluster_size);
	if (!c.rb) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	/* Without repairs the driver's L1, decoded at open from the same
	 * bytes and never changed by a read-only open, serves: a 32 MiB
	 * table is not held twice (8 TiB with 4 KiB clusters: 69 MB ->
	 * 37 MB).  Repairs set COPIED flags in a copy of their own. */
	if (!fix && s->l1 && s->l1_size == c.l1_size &&
	    s->h.l1_table_offset == c.l1_offset) {
		c.l1 = s->l1;
		c.l1_loaded = qcow2_ck_in_file(&c, c.l1_offset, c.l1_size);
		l1_borrowed = true;
	} else {
		r = qcow2_ck_load_table(&c, c.l1_offset, c.l1_size, &c.l1,
					&c.l1_loaded);
	}
	if (r == 0)
		r = qcow2_ck_load_table(&c, c.rt_offset, c.rt_entries, &c.rt,
					&c.rt_loaded);
	if (r < 0)
		goto out;

	r = qcow2_ck_read_snapshots(&c, &snap, fix);
	/* Dropping overhanging snapshots first makes their clusters mere
	 * leaks, which the refcount repair then frees. */
	if (r == 0 && c.sn_truncate)
		r = qcow2_ck_truncate_snapshots(&c);
	if (r < 0) {
		add_result(res, &snap, false);
		goto out;
	}
	r = check_refcounts(&c, &refs, fix);
	add_result(res, &refs, true);
	if (r < 0) {
		add_result(res, &snap, false);
		goto out;
	}
	/* -r all: once the refcounts are right, a damaged snapshot table
	 * is written anew, and its corruptions count as fixed. */
	if (c.sn_rewrite && res->check_errors == 0 && res->corruptions == 0) {
		r = qcow2_ck_rewrite_snapshots(&c);
		if (r < 0) {
			snap.check_errors++;
			add_result(res, &snap, false);
			goto out;
		}
	}
	if ((c.sn_rewrite || c.sn_truncate) &&
	    c.hdr_nb_snapshots == c.nb_snapshots &&
	    (!c.sn_rewrite || res->corruptions == 0)) {
		snap.corruptions_fixed += snap.corruptions;
		snap.corruptions = 0;
	}
	add_result(res, &snap, false);

	if (fix && res->check_errors == 0 && res->corruptions == 0)
		r = mark_clean(&c);
out:
	res->unusable = c.unusable;
	qcow2_ck_free_snapshots(&c);
	free(c.imrt);
	free(c.cplog);
	free(c.rb);
	free(c.rt);
	if (!l1_borrowed)
		free(c.l1);
	return r;
}

static void silent(void *opaque, const char *line)
{
}

int qcow2_rebuild_refcounts(struct qimg_node *node, struct qimg_error *err)
{
	struct qimg_check_result res;
	int r;

	r = qcow2_check(node, QIMG_CHECK_FIX_LEAKS | QIMG_CHECK_FIX_ERRORS,
			&res, silent, NULL, err);
	if (r < 0)
		return r;
	if (res.check_errors)
		return qimg_error_set(err, EIO, "Could not repair dirty image");
	return 0;
}
