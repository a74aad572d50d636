/* SPDX-License-Identifier: MIT */
/* qcow2 checker: the walk over the L1 and L2 tables (active and
 * snapshots) that counts every reference, and the OFLAG_COPIED check and
 * repair that compares those flags with the refcounts. */

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

/* The first entry at or after i that has a byte set (entry or bitmap), or
 * l2_entries: an all-zero entry needs no work in either walk, and the
 * tables of a huge sparse image are mostly that.  64 bytes at a time. */
static uint32_t next_used(const struct ck *c, const uint8_t *t, uint32_t i)
{
	size_t off = (size_t)i * c->l2e_size;
	size_t end = (size_t)c->l2_entries * c->l2e_size;
	uint64_t w[8];

	while (off + sizeof(w) <= end) {
		memcpy(w, t + off, sizeof(w));
		if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7])
			break;
		off += sizeof(w);
	}
	return (uint32_t)(off / c->l2e_size);
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

/* Remember an allocated entry of the active walk (see struct ck). */
static void cplog_add(struct ck *c, uint64_t l1i, uint32_t j, uint64_t e)
{
	struct ck_cplog *n;
	size_t cap;

	if (!c->cplog_ok)
		return;
	if (c->cplog_n == c->cplog_cap) {
		cap = c->cplog_cap ? 2 * c->cplog_cap : 1024;
		if (cap > CK_CPLOG_MAX || l1i > UINT32_MAX ||
		    !(n = realloc(c->cplog, cap * sizeof(*n)))) {
			c->cplog_ok = false;
			return;
		}
		c->cplog = n;
		c->cplog_cap = cap;
	}
	c->cplog[c->cplog_n].l1i = (uint32_t)l1i;
	c->cplog[c->cplog_n].j = j;
	c->cplog[c->cplog_n].e = e;
	c->cplog_n++;
}

static int check_l2(struct ck *c, struct qimg_check_result *res,
		    uint64_t l2_off, int flags, unsigned int fix, bool active,
		    uint64_t l1i, uint8_t *t)
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

	for (i = next_used(c, t, 0); i < c->l2_entries;
	     i = next_used(c, t, i + 1)) {
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
						fx ? "Repairing" : "ERROR",
						off);
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
						"ERROR offset=%" PRIx64
						": Data "
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
			if (flags & CK_FRAG_INFO)
				cplog_add(c, l1i, i, e);
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

int qcow2_ck_check_l1(struct ck *c, struct qimg_check_result *res,
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
		r = check_l2(c, res, l2_off, flags, fix, table != NULL, i, l2);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	free(chunk);
	free(l2);
	return r;
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

/* Does an entry of L2 table l1i, as the active walk logged it, disagree
 * with its refcount?  *k walks the log (in L1 order) and ends past l1i's
 * entries.  The same judgement as the pass over the table below. */
static bool cplog_mismatch(struct ck *c, uint64_t l1i, size_t *k)
{
	bool bad = false;
	uint64_t rc;

	while (*k < c->cplog_n && c->cplog[*k].l1i < l1i)
		(*k)++;
	for (; *k < c->cplog_n && c->cplog[*k].l1i == l1i; (*k)++) {
		uint64_t e = c->cplog[*k].e;

		if (bad)
			continue;
		if (c->data_file) {
			rc = 1;
		} else if (qcow2_ck_get_refcount(
				   c, (e & CK_L2E_OFFSET) >> c->cluster_bits,
				   &rc) < 0) {
			qimg_error_clear(c->err);
			continue;
		}
		if ((rc == 1) != ((e & CK_COPIED) != 0))
			bad = true;
	}
	return bad;
}

int qcow2_ck_oflag_copied(struct ck *c, struct qimg_check_result *res,
			  unsigned int fix)
{
	size_t k = 0;
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
		if (c->cplog_ok && !cplog_mismatch(c, i, &k))
			continue; /* every entry agrees: nothing to read */
		r = qcow2_ck_read(c, l2_off, t, (size_t)c->cluster_size);
		if (r < 0) {
			qcow2_ck_say(c, "ERROR: Could not read L2 table: %s",
				     strerror(-r));
			res->check_errors++;
			goto out;
		}
		for (j = next_used(c, t, 0); j < c->l2_entries;
		     j = next_used(c, t, j + 1)) {
			uint64_t e = l2_entry(c, t, j);
			enum ck_ctype type = cluster_type(c, e);

			if (type != CT_NORMAL && type != CT_ZERO_ALLOC)
				continue;
			if (c->data_file) {
				rc = 1;
			} else {
				r = qcow2_ck_get_refcount(
					c,
					(e & CK_L2E_OFFSET) >> c->cluster_bits,
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
					c,
					"ERROR: Could not write L2 table: %s",
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
