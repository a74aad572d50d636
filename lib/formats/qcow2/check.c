/* SPDX-License-Identifier: MIT */
/* qcow2 consistency checker (`qimg check`) and refcount repair.  Reads the
 * on-disk structures through the protocol child, builds an in-memory
 * refcount array from every reference and compares it with the stored
 * refcounts, with qemu-img 7.2's detail lines, counts, order and repair
 * semantics (leak fixes, OFLAG_COPIED fixes, refcount structure rebuild). */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/check-int.h"
#include "util/endian.h"
#include "util/overflow.h"

/* ---- L2 / L1 walk ----------------------------------------------------- */

enum ck_ctype {
	CT_UNALLOC,
	CT_ZERO_PLAIN,
	CT_ZERO_ALLOC,
	CT_NORMAL,
	CT_COMPRESSED
};

static enum ck_ctype cluster_type(const struct ck *c, uint64_t e)
{
	if (e & CK_COMPRESSED)
		return CT_COMPRESSED;
	if ((e & CK_ZERO) && !c->extl2)
		return (e & CK_L2E_OFFSET) ? CT_ZERO_ALLOC : CT_ZERO_PLAIN;
	if (!(e & CK_L2E_OFFSET)) {
		/* Host offset 0 is valid in an external data file; there
		 * COPIED tells a real mapping from an unallocated one. */
		if (c->data_file && (e & CK_COPIED))
			return CT_NORMAL;
		return CT_UNALLOC;
	}
	return CT_NORMAL;
}

static uint64_t l2_entry(const struct ck *c, const uint8_t *t, uint32_t i)
{
	return qimg_load_be64(t + (size_t)i * c->l2e_size);
}

static uint64_t l2_bitmap(const struct ck *c, const uint8_t *t, uint32_t i)
{
	if (!c->extl2)
		return 0;
	return qimg_load_be64(t + (size_t)i * c->l2e_size + 8);
}

/* Fix an unaligned preallocated zero cluster: turn it into a plain zero
 * entry.  Returns 1 when fixed, 0 when not, negative on a fatal error. */
static int fix_unaligned_zero(struct ck *c, struct qimg_check_result *res,
			      uint8_t *t, uint64_t l2_off, uint32_t i,
			      bool active)
{
	uint64_t eoff = l2_off + (uint64_t)i * c->l2e_size;
	uint8_t *p = t + (size_t)i * c->l2e_size;
	int r;

	qimg_store_be64(p, c->extl2 ? 0 : CK_ZERO);
	r = qcow2_ck_overlap_check(
	    c, active ? OL(OL_ACTIVE_L2) : OL(OL_INACTIVE_L2), eoff,
	    c->l2e_size);
	if (r < 0) {
		qcow2_ck_say(c, "ERROR: Overlap check failed");
		res->check_errors++;
		return qimg_error_set(c->err, EIO,
				      "Metadata overlap in L2 "
				      "table at %#" PRIx64,
				      l2_off);
	}
	r = qcow2_ck_write(c, eoff, p, c->l2e_size);
	if (r == 0)
		r = qimg_flush(c->file, c->err);
	if (r < 0) {
		qcow2_ck_say(c, "ERROR: Failed to overwrite L2 table entry: %s",
			     strerror(-r));
		res->check_errors++;
		qimg_error_clear(c->err);
		return 0;
	}
	res->corruptions--;
	res->corruptions_fixed++;
	return 1;
}

static int check_l2(struct ck *c, struct qimg_check_result *res,
		    uint64_t l2_off, int flags, unsigned int fix, bool active,
		    uint8_t *t)
{
	uint64_t next_contig = 0;
	uint32_t i;
	int r;

	r = qcow2_ck_read(c, l2_off, t, (size_t)c->cluster_size);
	if (r < 0) {
		qcow2_ck_say(c, "ERROR: I/O error in check_refcounts_l2");
		res->check_errors++;
		return r;
	}

	for (i = 0; i < c->l2_entries; i++) {
		uint64_t e = l2_entry(c, t, i), bm = l2_bitmap(c, t, i);
		enum ck_ctype type = cluster_type(c, e);

		if (type != CT_COMPRESSED && (e & CK_L2E_RESERVED)) {
			qcow2_ck_say(c,
				     "ERROR found l2 entry with reserved bits "
				     "set: %" PRIx64,
				     e);
			res->corruptions++;
		}

		switch (type) {
		case CT_COMPRESSED: {
			uint64_t coff, nsec, csize;

			if (e & CK_COPIED) {
				qcow2_ck_say(
				    c,
				    "ERROR: coffset=0x%" PRIx64 ": copied "
				    "flag must never be set for compressed "
				    "clusters",
				    e & c->coff_mask);
				e &= ~CK_COPIED;
				res->corruptions++;
			}
			if (c->data_file) {
				qcow2_ck_say(
				    c,
				    "ERROR compressed cluster %" PRIu32
				    " with data file, entry=0x%" PRIx64,
				    i, e);
				res->corruptions++;
				break;
			}
			if (bm) {
				qcow2_ck_say(
				    c,
				    "ERROR compressed cluster %" PRIu32
				    " with non-zero subcluster allocation "
				    "bitmap, entry=0x%" PRIx64,
				    i, e);
				res->corruptions++;
				break;
			}
			coff = e & c->coff_mask;
			nsec = ((e >> c->csize_shift) & c->csize_mask) + 1;
			csize = nsec * 512 - (coff & 511);
			r = qcow2_ck_inc_refs(c, res, coff, csize);
			if (r < 0)
				return r;
			if (flags & CK_FRAG_INFO) {
				/* compressed clusters are fragmented by
				 * nature (qemu counts them so) */
				res->allocated_clusters++;
				res->compressed_clusters++;
				res->fragmented_clusters++;
			}
			break;
		}
		case CT_ZERO_ALLOC:
		case CT_NORMAL: {
			uint64_t off = e & CK_L2E_OFFSET;

			if ((bm >> 32) & bm) {
				res->corruptions++;
				qcow2_ck_say(c,
					     "ERROR offset=%" PRIx64
					     ": Allocated "
					     "cluster has corrupted subcluster "
					     "allocation bitmap",
					     off);
			}
			if (offset_into_cluster(c, off)) {
				bool data = c->extl2 ? (bm & CK_BM_ALL_ALLOC)
						     : !(e & CK_ZERO);

				res->corruptions++;
				if (!data) {
					bool fx = fix & QIMG_CHECK_FIX_ERRORS;

					qcow2_ck_say(
					    c,
					    "%s offset=%" PRIx64 ": "
					    "Preallocated cluster is not "
					    "properly aligned; L2 entry "
					    "corrupted.",
					    fx ? "Repairing" : "ERROR", off);
					if (fx) {
						r = fix_unaligned_zero(
						    c, res, t, l2_off, i,
						    active);
						if (r < 0)
							return r;
						if (r > 0)
							continue;
					}
				} else {
					qcow2_ck_say(
					    c,
					    "ERROR offset=%" PRIx64 ": Data "
					    "cluster is not properly aligned; "
					    "L2 entry corrupted.",
					    off);
				}
			}
			if (flags & CK_FRAG_INFO) {
				res->allocated_clusters++;
				if (next_contig && off != next_contig)
					res->fragmented_clusters++;
				next_contig = off + c->cluster_size;
			}
			if (!c->data_file) {
				r = qcow2_ck_inc_refs(c, res, off,
						      c->cluster_size);
				if (r < 0)
					return r;
			}
			break;
		}
		case CT_ZERO_PLAIN:
			break;
		case CT_UNALLOC:
			if (bm & CK_BM_ALL_ALLOC) {
				res->corruptions++;
				qcow2_ck_say(
				    c,
				    "ERROR: Unallocated cluster has non-zero "
				    "subcluster allocation map");
			}
			break;
		}
	}
	return 0;
}

static int check_l1(struct ck *c, struct qimg_check_result *res,
		    uint64_t l1_off, uint32_t l1_size, int flags,
		    unsigned int fix, const uint64_t *table)
{
	uint64_t *chunk = NULL;
	uint8_t *l2 = NULL;
	uint64_t i, base = 0, n = 0;
	int r;

	if (!l1_size)
		return 0;
	r = qcow2_ck_inc_refs(c, res, l1_off, (uint64_t)l1_size * 8);
	if (r < 0)
		return r;

	l2 = malloc((size_t)c->cluster_size);
	if (!table)
		chunk = malloc(CK_CHUNK_ENTRIES * 8);
	if (!l2 || (!table && !chunk)) {
		res->check_errors++;
		r = qimg_error_set(c->err, ENOMEM, "Out of memory");
		goto out;
	}

	for (i = 0; i < l1_size; i++) {
		uint64_t e, l2_off;

		if (table) {
			e = i < c->l1_loaded ? table[i] : 0;
		} else {
			if (i >= base + n) {
				uint64_t left = l1_size - i, j;
				uint8_t *raw = (uint8_t *)chunk;

				n = left < CK_CHUNK_ENTRIES ? left
							    : CK_CHUNK_ENTRIES;
				base = i;
				r = qcow2_ck_read(c, l1_off + i * 8, raw,
						  (size_t)n * 8);
				if (r < 0) {
					qcow2_ck_say(c, "ERROR: I/O error in "
							"check_refcounts_l1");
					res->check_errors++;
					goto out;
				}
				for (j = 0; j < n; j++)
					chunk[j] = qimg_load_be64(raw + j * 8);
			}
			e = chunk[i - base];
		}
		if (!e)
			continue;
		if (e & CK_L1E_RESERVED) {
			qcow2_ck_say(c,
				     "ERROR found L1 entry with reserved bits "
				     "set: %" PRIx64,
				     e);
			res->corruptions++;
		}
		l2_off = e & CK_L1E_OFFSET;
		r = qcow2_ck_inc_refs(c, res, l2_off, c->cluster_size);
		if (r < 0)
			goto out;
		if (offset_into_cluster(c, l2_off)) {
			qcow2_ck_say(c,
				     "ERROR l2_offset=%" PRIx64
				     ": Table is not "
				     "cluster aligned; L1 entry corrupted",
				     l2_off);
			res->corruptions++;
		}
		/* A table wholly past the end of the file reads as zeros:
		 * nothing in it to count or report. */
		if (l2_off >= (uint64_t)c->file_len)
			continue;
		if (!c->l2_budget) {
			res->check_errors++;
			r = qimg_error_set(c->err, EUCLEAN,
					   "Too many references "
					   "to L2 tables for the image size");
			goto out;
		}
		c->l2_budget--;
		r = check_l2(c, res, l2_off, flags, fix, table != NULL, l2);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	free(chunk);
	free(l2);
	return r;
}

/* ---- bitmaps ----------------------------------------------------------- */

static int check_bitmap_table(struct ck *c, struct qimg_check_result *res,
			      uint64_t off, uint32_t size)
{
	uint8_t *buf;
	uint64_t i, n;
	int r = 0;

	buf = malloc(CK_CHUNK_ENTRIES * 8);
	if (!buf) {
		res->check_errors++;
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	}
	/* Entries past the end of the file read as 0 (nothing to count). */
	if (off >= (uint64_t)c->file_len)
		size = 0;
	else if ((uint64_t)size > ((uint64_t)c->file_len - off + 7) / 8)
		size = (uint32_t)(((uint64_t)c->file_len - off + 7) / 8);
	if (size > c->bm_budget) {
		free(buf);
		res->corruptions++;
		return qimg_error_set(c->err, EINVAL,
				      "Bitmap tables are larger "
				      "than the image");
	}
	c->bm_budget -= size;
	for (i = 0; i < size; i += n) {
		uint64_t j;

		n = size - i < CK_CHUNK_ENTRIES ? size - i : CK_CHUNK_ENTRIES;
		r = qcow2_ck_read(c, off + i * 8, buf, (size_t)n * 8);
		if (r < 0) {
			res->corruptions++;
			break;
		}
		for (j = 0; j < n; j++) {
			uint64_t e = qimg_load_be64(buf + j * 8);
			uint64_t eo = e & CK_BME_OFFSET;

			if ((e & CK_BME_RESERVED) ||
			    (eo && ((e & CK_BME_ALL_ONES) ||
				    offset_into_cluster(c, eo)))) {
				res->corruptions++;
				continue;
			}
			if (!eo)
				continue;
			r = qcow2_ck_inc_refs(c, res, eo, c->cluster_size);
			if (r < 0)
				goto out;
		}
	}
out:
	free(buf);
	return r;
}

static int check_bitmaps(struct ck *c, struct qimg_check_result *res)
{
	uint8_t *dir;
	uint64_t pos = 0;
	uint32_t k;
	int r;

	if (!c->nb_bitmaps)
		return 0;
	r = qcow2_ck_inc_refs(c, res, c->bm_dir_off, c->bm_dir_size);
	if (r < 0)
		return r;
	if (c->bm_dir_size > CK_MAX_BM_DIR ||
	    c->bm_dir_size < CK_BM_DIR_ENTRY ||
	    offset_into_cluster(c, c->bm_dir_off)) {
		res->corruptions++;
		return qimg_error_set(c->err, EINVAL,
				      "Invalid bitmap "
				      "directory");
	}
	dir = malloc((size_t)c->bm_dir_size);
	if (!dir) {
		res->check_errors++;
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	}
	r = qcow2_ck_read(c, c->bm_dir_off, dir, (size_t)c->bm_dir_size);
	if (r < 0) {
		res->corruptions++;
		goto out;
	}

	/* Validate the whole directory first: qemu refuses to use a broken
	 * one and counts it as one corruption. */
	for (k = 0; k < c->nb_bitmaps; k++) {
		uint64_t esize;
		uint32_t tsize, extra;
		uint16_t nsize;

		if (c->bm_dir_size - pos < CK_BM_DIR_ENTRY)
			break;
		tsize = qimg_load_be32(dir + pos + 8);
		nsize = qimg_load_be16(dir + pos + 18);
		extra = qimg_load_be32(dir + pos + 20);
		esize =
		    ((CK_BM_DIR_ENTRY + (uint64_t)extra + nsize) + 7) & ~7ull;
		if (tsize > CK_MAX_BM_TABLE || nsize > CK_MAX_BM_NAME ||
		    nsize == 0 || esize > c->bm_dir_size - pos ||
		    offset_into_cluster(c, qimg_load_be64(dir + pos)))
			break;
		pos += esize;
	}
	if (k != c->nb_bitmaps || pos != c->bm_dir_size) {
		res->corruptions++;
		r = qimg_error_set(c->err, EINVAL, "Broken bitmap directory");
		goto out;
	}

	for (pos = 0, k = 0; k < c->nb_bitmaps; k++) {
		uint64_t toff = qimg_load_be64(dir + pos);
		uint32_t tsize = qimg_load_be32(dir + pos + 8);
		uint16_t nsize = qimg_load_be16(dir + pos + 18);
		uint32_t extra = qimg_load_be32(dir + pos + 20);

		r = qcow2_ck_inc_refs(c, res, toff, (uint64_t)tsize * 8);
		if (r < 0)
			goto out;
		r = check_bitmap_table(c, res, toff, tsize);
		if (r < 0)
			goto out;
		pos +=
		    ((CK_BM_DIR_ENTRY + (uint64_t)extra + nsize) + 7) & ~7ull;
	}
	r = 0;
out:
	free(dir);
	return r;
}

/* ---- refcount structures ----------------------------------------------- */

static int grow_file_for_refblock(struct ck *c, uint64_t offset)
{
	uint64_t end;
	int64_t len;
	int r;

	if (offset > INT64_MAX - c->cluster_size)
		return -EINVAL;
	end = offset + c->cluster_size;
	/* The in-memory table must stay addressable (qemu's INT_MAX) and
	 * bounded: a refblock far past the end is garbage, not a block to
	 * grow the file (and our memory) for; the refcounts get rebuilt. */
	if ((end >> c->cluster_bits) > INT32_MAX ||
	    end > 2 * (uint64_t)c->file_len + (1ull << 30)) {
		qcow2_ck_say(c, QIMG_CHECK_TOOL_MSG "Could not resize file: %s",
			     strerror(EFBIG));
		return -EFBIG;
	}
	r = qimg_truncate(c->file, end, false, NULL, c->err);
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
			qcow2_ck_say(
			    c, "%s refcount block %" PRIu64 " is outside image",
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
	r = check_l1(c, res, c->l1_offset, c->l1_size, CK_FRAG_INFO, fix,
		     c->l1);
	if (r < 0)
		return r;
	/* snapshots */
	if (c->data_file && c->nb_snapshots) {
		qcow2_ck_say(
		    c, "ERROR %" PRIu32 " snapshots in image with data file",
		    c->nb_snapshots);
		res->corruptions++;
	}
	for (i = 0; i < c->nb_snapshots; i++) {
		const struct ck_snapshot *sn = &c->sn[i];

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
		r = check_l1(c, res, sn->l1_offset, sn->l1_size, 0, fix, NULL);
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
	r = check_bitmaps(c, res);
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
		int r = qcow2_ck_get_refcount(c, (uint64_t)i, &on_disk);

		if (r < 0) {
			qcow2_ck_say(
			    c, "Can't get refcount for cluster %" PRId64 ": %s",
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

/* ---- OFLAG_COPIED ------------------------------------------------------ */

static int write_l1_entry(struct ck *c, uint64_t i)
{
	uint8_t b[8];
	uint64_t off = c->l1_offset + i * 8;
	int r;

	qimg_store_be64(b, c->l1[i]);
	r = qcow2_ck_overlap_check(c, OL(OL_ACTIVE_L1), off, 8);
	if (r < 0)
		return qimg_error_set(c->err, EIO,
				      "Metadata overlap writing "
				      "L1 entry");
	r = qcow2_ck_write(c, off, b, 8);
	if (r == 0)
		r = qimg_flush(c->file, c->err);
	return r;
}

static int check_oflag_copied(struct ck *c, struct qimg_check_result *res,
			      unsigned int fix)
{
	uint8_t *t;
	bool repair;
	uint64_t i, rc;
	int r = 0;

	if (fix & QIMG_CHECK_FIX_ERRORS)
		repair = true;
	else if (fix & QIMG_CHECK_FIX_LEAKS)
		/* refcounts are accurate only if that repair worked */
		repair = !res->check_errors && !res->corruptions && !res->leaks;
	else
		repair = false;

	t = malloc((size_t)c->cluster_size);
	if (!t) {
		res->check_errors++;
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	}
	for (i = 0; i < c->l1_loaded; i++) {
		uint64_t l1e = c->l1[i], l2_off = l1e & CK_L1E_OFFSET;
		int dirty = 0;
		uint32_t j;

		if (!l2_off)
			continue;
		r = qcow2_ck_get_refcount(c, l2_off >> c->cluster_bits, &rc);
		if (r < 0) {
			qimg_error_clear(c->err);
			continue;
		}
		if ((rc == 1) != ((l1e & CK_COPIED) != 0)) {
			res->corruptions++;
			qcow2_ck_say(
			    c,
			    "%s OFLAG_COPIED L2 cluster: l1_index=%" PRIu64
			    " l1_entry=%" PRIx64 " refcount=%" PRIu64,
			    repair ? "Repairing" : "ERROR", i, l1e, rc);
			if (repair) {
				c->l1[i] = rc == 1 ? l1e | CK_COPIED
						   : l1e & ~CK_COPIED;
				r = write_l1_entry(c, i);
				if (r < 0) {
					res->check_errors++;
					goto out;
				}
				res->corruptions--;
				res->corruptions_fixed++;
			}
		}

		if (l2_off >= (uint64_t)c->file_len)
			continue; /* reads as zeros: no entries */
		r = qcow2_ck_read(c, l2_off, t, (size_t)c->cluster_size);
		if (r < 0) {
			qcow2_ck_say(c, "ERROR: Could not read L2 table: %s",
				     strerror(-r));
			res->check_errors++;
			goto out;
		}
		for (j = 0; j < c->l2_entries; j++) {
			uint64_t e = l2_entry(c, t, j);
			enum ck_ctype type = cluster_type(c, e);

			if (type != CT_NORMAL && type != CT_ZERO_ALLOC)
				continue;
			if (c->data_file) {
				rc = 1;
			} else {
				r = qcow2_ck_get_refcount(
				    c, (e & CK_L2E_OFFSET) >> c->cluster_bits,
				    &rc);
				if (r < 0) {
					qimg_error_clear(c->err);
					continue;
				}
			}
			if ((rc == 1) == ((e & CK_COPIED) != 0))
				continue;
			res->corruptions++;
			qcow2_ck_say(
			    c,
			    "%s OFLAG_COPIED data cluster: l2_entry=%" PRIx64
			    " refcount=%" PRIu64,
			    repair ? "Repairing" : "ERROR", e, rc);
			if (repair) {
				qimg_store_be64(t + (size_t)j * c->l2e_size,
						rc == 1 ? e | CK_COPIED
							: e & ~CK_COPIED);
				dirty++;
			}
		}
		if (dirty) {
			r = qcow2_ck_overlap_check(c, OL(OL_ACTIVE_L2), l2_off,
						   c->cluster_size);
			if (r < 0) {
				qcow2_ck_say(
				    c,
				    "ERROR: Could not write L2 table; "
				    "metadata overlap check failed: %s",
				    strerror(-r));
				res->check_errors++;
				r = qimg_error_set(c->err, -r,
						   "Metadata "
						   "overlap in L2 table");
				goto out;
			}
			r = qcow2_ck_write(c, l2_off, t,
					   (size_t)c->cluster_size);
			if (r < 0) {
				qcow2_ck_say(
				    c, "ERROR: Could not write L2 table: %s",
				    strerror(-r));
				res->check_errors++;
				goto out;
			}
			res->corruptions -= dirty;
			res->corruptions_fixed += dirty;
		}
	}
	r = 0;
out:
	free(t);
	return r;
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
				    c, "ERROR rebuilt refcount structure is "
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

	r = check_oflag_copied(c, res, fix);
	if (r < 0)
		return r;
	res->image_end_offset = (highest + 1) * (int64_t)c->cluster_size;
	return 0;
}

/* ---- header and snapshot table ------------------------------------------ */

static int parse_header(struct ck *c)
{
	uint8_t h[112];
	uint32_t hlen = 72, ext_end;
	uint64_t pos;
	uint8_t *cl0 = NULL;
	int r;

	r = qcow2_ck_read(c, 0, h, sizeof(h));
	if (r < 0)
		return r;
	if (qimg_load_be32(h) != CK_MAGIC)
		return qimg_error_set(c->err, EUCLEAN,
				      "Image is not in qcow2 "
				      "format");
	c->version = qimg_load_be32(h + 4);
	if (c->version != 2 && c->version != 3)
		return qimg_error_set(c->err, ENOTSUP,
				      "Unsupported qcow2 "
				      "version %" PRIu32,
				      c->version);
	c->cluster_bits = qimg_load_be32(h + 20);
	if (c->cluster_bits < 9 || c->cluster_bits > 21)
		return qimg_error_set(c->err, EUCLEAN,
				      "Unsupported cluster "
				      "size: 2^%" PRIu32,
				      c->cluster_bits);
	c->cluster_size = 1ull << c->cluster_bits;
	c->size = qimg_load_be64(h + 24);
	c->l1_size = qimg_load_be32(h + 36);
	c->l1_offset = qimg_load_be64(h + 40);
	c->rt_offset = qimg_load_be64(h + 48);
	c->rt_clusters = qimg_load_be32(h + 56);
	c->hdr_nb_snapshots = qimg_load_be32(h + 60);
	c->hdr_snapshots_offset = qimg_load_be64(h + 64);
	c->refcount_order = 4;
	if (c->version == 3) {
		c->incompat = qimg_load_be64(h + 72);
		c->autoclear = qimg_load_be64(h + 88);
		c->refcount_order = qimg_load_be32(h + 96);
		hlen = qimg_load_be32(h + 100);
		if (hlen < 104 || hlen > c->cluster_size)
			return qimg_error_set(c->err, EUCLEAN,
					      "qcow2 header "
					      "length invalid");
		if (c->refcount_order > 6)
			return qimg_error_set(c->err, EUCLEAN,
					      "Reference "
					      "count entry width too large; "
					      "may not exceed 64 bits");
	}
	c->extl2 = c->incompat & CK_INCOMPAT_EXTL2;
	c->data_file = c->incompat & CK_INCOMPAT_DATA_FILE;
	if (c->extl2 && c->cluster_bits < 14)
		return qimg_error_set(c->err, EUCLEAN,
				      "Extended L2 entries "
				      "are only supported with cluster sizes "
				      "of at least 16384 bytes");
	c->l2e_size = c->extl2 ? 16 : 8;
	c->l2_entries = (uint32_t)(c->cluster_size / c->l2e_size);
	c->refcount_max = c->refcount_order == 6
			      ? UINT64_MAX
			      : (1ull << (1u << c->refcount_order)) - 1;
	c->rb_bits = c->cluster_bits + 3 - c->refcount_order;
	c->csize_shift = 62 - (c->cluster_bits - 8);
	c->csize_mask = (1ull << (c->cluster_bits - 8)) - 1;
	c->coff_mask = (1ull << c->csize_shift) - 1;

	if (c->l1_size > CK_MAX_L1_BYTES / 8)
		return qimg_error_set(c->err, EFBIG,
				      "Active L1 table too "
				      "large");
	if (offset_into_cluster(c, c->l1_offset) ||
	    c->l1_offset > INT64_MAX - (uint64_t)c->l1_size * 8)
		return qimg_error_set(c->err, EUCLEAN,
				      "Active L1 table "
				      "offset invalid");
	if (c->rt_clusters == 0)
		return qimg_error_set(c->err, EUCLEAN,
				      "Image does not "
				      "contain a reference count table");
	if ((uint64_t)c->rt_clusters > CK_MAX_RT_BYTES / c->cluster_size)
		return qimg_error_set(c->err, EFBIG,
				      "Reference count table "
				      "too large");
	c->rt_entries = ((uint64_t)c->rt_clusters << c->cluster_bits) / 8;
	if (offset_into_cluster(c, c->rt_offset) ||
	    c->rt_offset > INT64_MAX - c->rt_entries * 8)
		return qimg_error_set(c->err, EUCLEAN,
				      "Reference count table "
				      "offset invalid");

	/* Header extensions: from the end of the header to the backing
	 * file name (or the end of cluster 0). */
	{
		uint64_t bfo = qimg_load_be64(h + 8);

		ext_end = (uint32_t)c->cluster_size;
		if (bfo && bfo < c->cluster_size)
			ext_end = (uint32_t)bfo;
	}
	cl0 = malloc((size_t)c->cluster_size);
	if (!cl0)
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	r = qcow2_ck_read(c, 0, cl0, (size_t)c->cluster_size);
	if (r < 0)
		goto out;
	for (pos = hlen; pos + 8 <= ext_end;) {
		uint32_t type = qimg_load_be32(cl0 + pos);
		uint32_t len = qimg_load_be32(cl0 + pos + 4);

		if (type == 0)
			break;
		if (len > ext_end - pos - 8)
			break;
		if (type == CK_EXT_CRYPTO && len >= 16) {
			c->crypto_off = qimg_load_be64(cl0 + pos + 8);
			c->crypto_len = qimg_load_be64(cl0 + pos + 16);
		} else if (type == CK_EXT_BITMAPS && len >= 24 &&
			   (c->autoclear & CK_AUTOCLEAR_BITMAPS)) {
			c->nb_bitmaps = qimg_load_be32(cl0 + pos + 8);
			c->bm_dir_size = qimg_load_be64(cl0 + pos + 16);
			c->bm_dir_off = qimg_load_be64(cl0 + pos + 24);
		}
		pos += 8 + (((uint64_t)len + 7) & ~7ull);
	}
	r = 0;
out:
	free(cl0);
	return r;
}

static int load_table(struct ck *c, uint64_t off, uint64_t entries,
		      uint64_t **out, uint64_t *loaded)
{
	uint64_t n = 0, i;
	uint8_t *raw;
	uint64_t *t;
	int r;

	/* Entries past the end of the file read as zero: keep only the part
	 * inside the file. */
	if (off < (uint64_t)c->file_len)
		n = ((uint64_t)c->file_len - off + 7) / 8;
	if (n > entries)
		n = entries;
	*loaded = n;
	*out = NULL;
	if (!n)
		return 0;
	t = malloc((size_t)n * 8);
	if (!t)
		return qimg_error_set(c->err, ENOMEM, "Out of memory");
	raw = (uint8_t *)t;
	r = qcow2_ck_read(c, off, raw, (size_t)n * 8);
	if (r < 0) {
		free(t);
		return r;
	}
	for (i = 0; i < n; i++)
		t[i] = qimg_load_be64(raw + i * 8);
	*out = t;
	return 0;
}

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

static void free_snapshots(struct ck *c)
{
	uint32_t i;

	for (i = 0; i < c->nb_snapshots; i++) {
		free(c->sn[i].id);
		free(c->sn[i].name);
	}
	free(c->sn);
	c->sn = NULL;
	c->nb_snapshots = 0;
}

/* Read the snapshot table as qemu's check does; problems go to snap. */
static int read_snapshots(struct ck *c, struct qimg_check_result *snap,
			  unsigned int fix)
{
	uint64_t off, start;
	uint32_t nb = c->hdr_nb_snapshots, i;
	int r;

	c->snapshots_offset = c->hdr_snapshots_offset;
	if (nb > CK_MAX_SNAPSHOTS && (fix & QIMG_CHECK_FIX_ERRORS)) {
		/* qemu drops the overhang and rewrites the table; the
		 * rewrite is not implemented, so this stays a corruption */
		qcow2_ck_say(c, "Discarding %" PRIu32 " overhanging snapshots",
			     nb - CK_MAX_SNAPSHOTS);
		snap->corruptions += (int)(nb - CK_MAX_SNAPSHOTS);
		nb = CK_MAX_SNAPSHOTS;
	}
	if (nb > CK_MAX_SNAPSHOTS) {
		snap->check_errors++;
		qcow2_ck_say(c, QIMG_CHECK_TOOL_MSG "ERROR snapshot table too large");
		qcow2_ck_say(c,
			     "You can force-remove all %" PRIu32 " overhanging "
			     "snapshots with qemu-img check -r all",
			     nb - CK_MAX_SNAPSHOTS);
		c->snapshots_offset = 0;
		return qimg_error_set(c->err, EFBIG,
				      "snapshot table too "
				      "large");
	}
	if (offset_into_cluster(c, c->snapshots_offset) ||
	    c->snapshots_offset > INT64_MAX - (uint64_t)nb * CK_SN_HDR) {
		snap->check_errors++;
		qcow2_ck_say(c,
			     QIMG_CHECK_TOOL_MSG "ERROR snapshot table offset invalid");
		c->snapshots_offset = 0;
		return qimg_error_set(c->err, EINVAL,
				      "snapshot table offset "
				      "invalid");
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
		struct ck_snapshot *sn = &c->sn[i];
		uint8_t h[CK_SN_HDR];
		uint32_t extra;
		uint16_t id_len, name_len;

		r = qcow2_ck_read(c, off, h, sizeof(h));
		if (r < 0)
			goto fail;
		sn->l1_offset = qimg_load_be64(h);
		sn->l1_size = qimg_load_be32(h + 8);
		id_len = qimg_load_be16(h + 12);
		name_len = qimg_load_be16(h + 14);
		extra = qimg_load_be32(h + 36);
		off += CK_SN_HDR;
		if (extra > CK_MAX_SN_EXTRA) {
			if (!(fix & QIMG_CHECK_FIX_ERRORS)) {
				qcow2_ck_say(
				    c,
				    QIMG_CHECK_TOOL_MSG "ERROR failed to read the "
				    "snapshot table: Too much extra metadata "
				    "in snapshot table entry %" PRIu32,
				    i);
				qcow2_ck_say(
				    c, "You can force-remove this extra "
				       "metadata with qemu-img check -r all");
				r = qimg_error_set(c->err, EFBIG,
						   "Too much "
						   "extra metadata in snapshot "
						   "table entry %" PRIu32,
						   i);
				goto fail;
			}
			qcow2_ck_say(c,
				     "Discarding too much extra metadata in "
				     "snapshot table entry %" PRIu32
				     " (%" PRIu32 " > %u)",
				     i, extra, CK_MAX_SN_EXTRA);
			snap->corruptions++;
		}
		sn->extra = extra;
		off += extra;
		sn->id = read_string(c, off, id_len);
		off += id_len;
		sn->name = read_string(c, off, name_len);
		off += name_len;
		c->nb_snapshots = i + 1;
		if (!sn->id || !sn->name) {
			r = qimg_error_set(c->err, ENOMEM, "Out of memory");
			goto fail;
		}
		if (off - start > CK_MAX_SN_TABLE) {
			qcow2_ck_say(
			    c,
			    QIMG_CHECK_TOOL_MSG "ERROR failed to read the snapshot "
			    "table: Snapshot table exceeds the maximum size");
			r = qimg_error_set(c->err, EFBIG,
					   "Snapshot table "
					   "exceeds the maximum size");
			goto fail;
		}
		off = (off + 7) & ~7ull;
	}
	c->snapshots_size = off - start;

	/* Entries without the 16 bytes of extra data every current writer
	 * stores are counted as corrupt.  Rewriting the table (qemu's fix)
	 * is not implemented, so they stay unfixed. */
	for (i = 0; i < c->nb_snapshots; i++) {
		if (c->sn[i].extra >= 16)
			continue;
		qcow2_ck_say(
		    c, "ERROR snapshot table entry %" PRIu32 " is incomplete",
		    i);
		snap->corruptions++;
	}
	return 0;
fail:
	snap->check_errors++;
	free_snapshots(c);
	c->snapshots_offset = 0;
	c->snapshots_size = 0;
	return r < 0 ? r : -EIO;
}

/* Clear the dirty and corrupt bits after a successful repair. */
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
	r = qcow2_ck_write(c, 72, b, sizeof(b));
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
	struct qimg_check_result snap = {0}, refs = {0};
	struct ck c = {0};
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
	r = parse_header(&c);
	if (r < 0)
		return r;
	c.rb = malloc((size_t)c.cluster_size);
	if (!c.rb) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	r = load_table(&c, c.l1_offset, c.l1_size, &c.l1, &c.l1_loaded);
	if (r == 0)
		r = load_table(&c, c.rt_offset, c.rt_entries, &c.rt,
			       &c.rt_loaded);
	if (r < 0)
		goto out;

	r = read_snapshots(&c, &snap, fix);
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
	/* Rewriting a damaged snapshot table is not implemented: its
	 * corruptions stay counted (not reported as fixed). */
	add_result(res, &snap, false);

	if (fix && res->check_errors == 0 && res->corruptions == 0)
		r = mark_clean(&c);
out:
	free_snapshots(&c);
	free(c.imrt);
	free(c.rb);
	free(c.rt);
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
