/* SPDX-License-Identifier: MIT */
/* Refcount rebuild for images left dirty by lazy refcounts: count every
 * reference (header, L1/L2 tables and data of the active state and of each
 * internal snapshot, refcount structures, snapshot table, bitmaps, LUKS
 * header) and write the counts that differ.  New refcount blocks are placed
 * only where nothing is referenced. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"
#include "util/overflow.h"

struct counter {
	struct qcow2_state *s;
	uint32_t *cnt;
	uint64_t n;
	uint8_t *tbl; /* one cluster of scratch */
};

static void count_range(struct counter *k, uint64_t off, uint64_t len)
{
	uint64_t c, last;

	if (!len)
		return;
	c = off >> k->s->cluster_bits;
	last = (off + len - 1) >> k->s->cluster_bits;
	for (; c <= last && c < k->n; c++)
		if (k->cnt[c] != UINT32_MAX)
			k->cnt[c]++;
}

static int count_l1(struct counter *k, uint64_t l1_off, uint64_t l1_size,
		    struct qimg_error *err)
{
	struct qcow2_state *s = k->s;
	uint8_t *l1;
	uint64_t i, j;
	int r;

	if (l1_size > QCOW2_MAX_L1_BYTES / 8 || l1_off & (s->cluster_size - 1))
		return qimg_error_set(err, EUCLEAN,
				      "Invalid L1 table at %#" PRIx64, l1_off);
	if (!l1_size)
		return 0;
	count_range(k, l1_off, l1_size * 8);
	l1 = malloc(l1_size * 8);
	if (!l1)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_pread(s->file, l1_off, l1, l1_size * 8, err);
	for (i = 0; r == 0 && i < l1_size; i++) {
		uint64_t l2 =
			qimg_load_be64(l1 + i * 8) & QCOW2_L1E_OFFSET_MASK;

		if (!l2)
			continue;
		if (l2 & (s->cluster_size - 1)) {
			r = qimg_error_set(err, EUCLEAN,
					   "L2 table at %#" PRIx64
					   " is not cluster aligned",
					   l2);
			break;
		}
		count_range(k, l2, s->cluster_size);
		r = qimg_pread(s->file, l2, k->tbl, s->cluster_size, err);
		for (j = 0; r == 0 && j < s->l2_entries; j++) {
			uint64_t e, b, off, nb;

			qcow2_l2_entry(s, k->tbl, j, &e, &b);
			if (e & QCOW2_OFLAG_COMPRESSED) {
				qcow2_cdesc_decode(s, e, &off, &nb);
				count_range(k, off, nb);
				continue;
			}
			off = e & QCOW2_L2E_OFFSET_MASK;
			/* Clusters of an external data file are not counted. */
			if (off && !s->ext_data)
				count_range(k, off, s->cluster_size);
		}
	}
	free(l1);
	return r;
}

static int count_snapshots(struct counter *k, struct qimg_error *err)
{
	struct qcow2_snapshot *sn;
	uint64_t bytes;
	size_t n, i;
	int r;

	r = qcow2_snapshots_read(k->s, &sn, &n, &bytes, err);
	for (i = 0; r == 0 && i < n; i++)
		r = count_l1(k, sn[i].l1_offset, sn[i].l1_size, err);
	if (r == 0)
		count_range(k, k->s->h.snapshots_offset, bytes);
	qcow2_snapshots_free(sn, n);
	return r;
}

static int count_bitmaps(struct counter *k, struct qimg_error *err)
{
	struct qcow2_state *s = k->s;
	uint64_t dsize =
		qimg_load_be64(s->ext.bitmaps + QCOW2_EXT_BITMAPS_DIR_SIZE_OFF);
	uint64_t doff = qimg_load_be64(s->ext.bitmaps +
				       QCOW2_EXT_BITMAPS_DIR_OFFSET_OFF);
	uint64_t pos = 0;
	uint8_t *dir;
	int r;

	if (dsize > (64u << 20))
		return qimg_error_set(err, EUCLEAN,
				      "Bitmap directory too "
				      "large");
	count_range(k, doff, dsize);
	dir = malloc(dsize ? dsize : 1);
	if (!dir)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_pread(s->file, doff, dir, dsize, err);
	while (r == 0 && pos + QCOW2_BMDIR_ENTRY_LEN <= dsize) {
		uint64_t toff = qimg_load_be64(dir + pos +
					       QCOW2_BMDIR_TABLE_OFFSET_OFF);
		uint64_t tsize =
			qimg_load_be32(dir + pos + QCOW2_BMDIR_TABLE_SIZE_OFF);
		uint64_t nlen =
			qimg_load_be16(dir + pos + QCOW2_BMDIR_NAME_SIZE_OFF);
		uint64_t xlen =
			qimg_load_be32(dir + pos + QCOW2_BMDIR_EXTRA_SIZE_OFF);
		uint64_t j;
		uint8_t *t;

		if (tsize > (64u << 20) / 8) {
			r = qimg_error_set(err, EUCLEAN,
					   "Bitmap table too "
					   "large");
			break;
		}
		count_range(k, toff, tsize * 8);
		t = malloc(tsize * 8 + 1);
		if (!t) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			break;
		}
		r = qimg_pread(s->file, toff, t, tsize * 8, err);
		for (j = 0; r == 0 && j < tsize; j++) {
			uint64_t d = qimg_load_be64(t + j * 8) &
				     QCOW2_L2E_OFFSET_MASK;

			if (d)
				count_range(k, d, s->cluster_size);
		}
		free(t);
		pos += (QCOW2_BMDIR_ENTRY_LEN + xlen + nlen + 7) & ~7ull;
	}
	free(dir);
	return r;
}

int qcow2_refcount_repair(struct qcow2_state *s, struct qimg_error *err)
{
	struct counter k = { .s = s };
	int64_t flen = qimg_node_length(s->file, err);
	uint64_t c, i;
	int r;

	if (flen < 0)
		return (int)flen;
	k.n = ((uint64_t)flen + s->cluster_size - 1) >> s->cluster_bits;
	k.cnt = calloc(k.n ? k.n : 1, sizeof(uint32_t));
	k.tbl = malloc(s->cluster_size);
	if (!k.cnt || !k.tbl) {
		free(k.cnt);
		free(k.tbl);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	count_range(&k, 0, s->cluster_size);
	r = count_l1(&k, s->h.l1_table_offset, s->l1_size, err);
	if (r == 0)
		count_range(&k, s->h.refcount_table_offset,
			    (uint64_t)s->h.refcount_table_clusters
				    << s->cluster_bits);
	for (i = 0; r == 0 && i < s->rt_entries; i++)
		if (s->rt[i] & QCOW2_RT_OFFSET_MASK)
			count_range(&k, s->rt[i] & QCOW2_RT_OFFSET_MASK,
				    s->cluster_size);
	if (r == 0 && s->h.nb_snapshots)
		r = count_snapshots(&k, err);
	if (r == 0 && s->ext.has_bitmaps)
		r = count_bitmaps(&k, err);
	if (r == 0 && s->ext.has_crypto)
		count_range(&k, s->ext.crypto_offset, s->ext.crypto_length);

	s->rebuild = k.cnt;
	s->rebuild_n = k.n;
	s->free_hint = 1;
	for (c = 0; r == 0 && c < k.n; c++) {
		uint64_t have;

		r = qcow2_get_refcount(s, c, &have, err);
		if (r == 0 && have != k.cnt[c])
			r = qcow2_set_refcount(s, c, k.cnt[c], err);
	}
	s->rebuild = NULL;
	s->rebuild_n = 0;
	s->free_hint = 1;
	if (r == 0)
		r = qcow2_refcount_flush(s, err);
	free(k.cnt);
	free(k.tbl);
	return r;
}
