/* SPDX-License-Identifier: MIT */
/* QED consistency check, as qemu-img reports it: table and cluster offsets
 * that are unaligned, inside the header or past the end of the file are
 * corruptions (repaired by clearing the entry with either -r mode), a
 * cluster referenced twice is a corruption, clusters of the file nothing
 * references are leaks (QED cannot reuse them: never repaired).  A repair
 * that leaves no corruption clears NEED_CHECK. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "formats/qed/qed.h"
#include "util/buf.h"
#include "util/endian.h"

struct walk {
	struct qed_state *s;
	struct qimg_check_result *res;
	bool fix;
	uint64_t nclusters;
	uint8_t *used;
};

/* Mark n clusters from `off` referenced; false when one already was. */
static bool mark(struct walk *w, uint64_t off, uint64_t n)
{
	uint64_t c = off >> w->s->cluster_bits, i;
	bool ok = true;

	for (i = 0; i < n && c + i < w->nclusters; i++) {
		uint64_t k = c + i;

		if (w->used[k / 8] & (1u << (k % 8)))
			ok = false;
		w->used[k / 8] |= (uint8_t)(1u << (k % 8));
	}
	return ok;
}

#define CHUNK (1u << 20) /* bytes of a table looked at at once */

/* n entries of an L2 table as on disk; a damaged one is cleared in t (and
 * *fixed set) when repairing. */
static void check_entries(struct walk *w, uint64_t *t, uint64_t n,
			  uint64_t *prev, bool *fixed)
{
	struct qed_state *s = w->s;
	uint64_t cs = s->h.cluster_size, i;

	for (i = 0; i < n; i++) {
		uint64_t e = qimg_load_le64(&t[i]);

		if (e <= QED_ZERO_CLUSTER)
			continue;
		w->res->allocated_clusters++;
		/* Counted within each table, as qemu counts. */
		if (*prev && e != *prev + cs)
			w->res->fragmented_clusters++;
		*prev = e;
		if (!qed_cluster_ok(s, e)) {
			w->res->corruptions++;
			if (w->fix) {
				t[i] = 0;
				*fixed = true;
				w->res->corruptions_fixed++;
			}
			continue;
		}
		if (!mark(w, e, 1))
			w->res->corruptions++;
	}
}

static int check_l2(struct walk *w, uint64_t l2off, struct qimg_error *err)
{
	struct qed_state *s = w->s;
	uint64_t chunk = s->table_bytes < CHUNK ? s->table_bytes : CHUNK;
	uint64_t prev = 0, pos, *t;
	bool fixed = false, dirty = false;
	int r = 0;

	t = qimg_buf_alloc(chunk);
	if (!t)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (pos = 0; r == 0 && pos < s->table_bytes; pos += chunk) {
		r = qimg_pread(s->file, l2off + pos, t, chunk, err);
		if (r < 0)
			break;
		check_entries(w, t, chunk / 8, &prev, &fixed);
		/* a repaired piece goes back with its damaged entries
		 * cleared */
		if (fixed)
			r = qimg_pwrite(s->file, l2off + pos, t, chunk, err);
		dirty |= fixed;
		fixed = false;
	}
	if (dirty)
		qed_l2_forget(s, l2off);
	free(t);
	return r;
}

int qed_check_run(struct qed_state *s, uint64_t image_size, bool fix,
		  struct qimg_check_result *res, struct qimg_error *err)
{
	uint64_t cs = s->h.cluster_size, i;
	struct walk w = { s, res, fix, s->file_size / cs, NULL };
	int r = 0;

	res->total_clusters = image_size / cs + !!(image_size % cs);
	w.used = calloc(1, w.nclusters / 8 + 1);
	if (!w.used)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	mark(&w, 0, s->h.header_size);
	mark(&w, s->h.l1_table_offset, s->h.table_size);
	for (i = 0; i < s->entries && r == 0; i++) {
		uint64_t l2off;

		r = qed_l1_get(s, i, &l2off, err);
		if (r < 0 || !l2off)
			continue;
		if (!qed_table_ok(s, l2off)) {
			res->corruptions++;
			if (fix) {
				r = qimg_tc_commit_run(&s->l1, i, NULL, 0, 1,
						       QIMG_TC_LE64, err);
				res->corruptions_fixed++;
			}
			continue;
		}
		if (!mark(&w, l2off, s->h.table_size))
			res->corruptions++;
		r = check_l2(&w, l2off, err);
	}
	for (i = s->h.header_size; r == 0 && i < w.nclusters; i++)
		if (!(w.used[i / 8] & (1u << (i % 8))))
			res->leaks++;
	free(w.used);
	if (r == 0 && fix && res->corruptions_fixed)
		r = qimg_flush(s->file, err);
	return r;
}

int qed_check(struct qimg_node *node, unsigned int fix,
	      struct qimg_check_result *res, qimg_report_fn report,
	      void *opaque, struct qimg_error *err)
{
	struct qed_state *s = node->opaque;
	int r;

	(void)report;
	(void)opaque;
	r = qed_check_run(s, node->size, fix != 0, res, err);
	if (r == 0 && fix && res->corruptions == res->corruptions_fixed &&
	    (s->h.features & QED_F_NEED_CHECK))
		r = qed_mark_clean(s, err);
	return r;
}
