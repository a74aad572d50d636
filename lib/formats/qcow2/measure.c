/* SPDX-License-Identifier: MIT */
/* qcow2 `measure`: the file size a new image needs (fully allocated and
 * for given content), with QEMU's metadata arithmetic: header, L2 tables,
 * L1, then refcount blocks and table found as a fixed point. */

#include <errno.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/overflow.h"

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/* Bytes of refcount blocks + table needed to count `clusters` clusters
 * plus themselves. */
static uint64_t refcount_meta(uint64_t clusters, uint64_t cs, uint32_t order)
{
	uint64_t per_block = (cs * 8) >> order, per_table = cs / 8;
	uint64_t blocks = 0, table = 0, nb, nt;

	for (;;) {
		nb = ceil_div(clusters + blocks + table, per_block);
		nt = ceil_div(nb, per_table);
		if (nb == blocks && nt == table)
			break;
		blocks = nb;
		table = nt;
	}
	return (blocks + table) * cs;
}

/* Space the input's persistent bitmaps take when copied: per bitmap its
 * data clusters and table, plus the directory. */
static int bitmaps_size(struct qimg_node *in, uint64_t cs, uint64_t *out,
			struct qimg_error *err)
{
	struct qcow2_state *s = in->opaque;
	struct qcow2_bitmap *b;
	uint64_t dir = 0, total = 0;
	size_t n, i;
	int r;

	*out = 0;
	r = qcow2_bitmaps_read(s, &b, &n, err);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		uint64_t bits = ceil_div(in->size, 1ull << b[i].gran_bits);
		uint64_t clusters = ceil_div(ceil_div(bits, 8), cs);

		total += ceil_div(clusters * 8, cs) * cs + clusters * cs;
		dir += (QCOW2_BMDIR_ENTRY_LEN + strlen(b[i].name) + 7) & ~7ull;
	}
	qcow2_bitmaps_free(b, n);
	*out = total + ceil_div(dir, cs) * cs;
	return 0;
}

int qcow2_measure(struct qimg_opts *o, struct qimg_node *in, uint64_t size,
		  const struct qimg_objects *objects, struct qimg_measure *out,
		  struct qimg_error *err)
{
	uint64_t cs = qimg_opts_get_u64(o, "cluster_size", 65536);
	uint64_t rb = qimg_opts_get_u64(o, "refcount_bits", 16);
	bool ext = qimg_opts_get_bool(o, "extended_l2", false);
	const char *prealloc = qimg_opts_get_str(o, "preallocation", "off");
	const char *compat = qimg_opts_get_str(o, "compat", "1.1");
	const char *efmt = qimg_opts_get_str(o, "encrypt.format", NULL);
	uint64_t l2e = ext ? 16 : 8, per_l2, v, nl2, meta, full, data = 0;
	uint32_t order = 0;

	if (!qimg_is_power_of_2(cs) || cs < 512 || cs > (2u << 20))
		return qimg_error_set(err, EINVAL,
				      "Cluster size must be a "
				      "power of two between 512 and 2048k");
	if (ext && cs < 16384)
		return qimg_error_set(err, EINVAL,
				      "Extended L2 entries are "
				      "only supported with cluster sizes of "
				      "at least 16384 bytes");
	/* measure knows the compatibility levels only by their numbers */
	if (strcmp(compat, "0.10") && strcmp(compat, "1.1"))
		return qimg_error_set(err, EINVAL,
				      "Invalid compatibility level: '%s'",
				      compat);
	if (rb > 64 || !qimg_is_power_of_2(rb))
		return qimg_error_set(err, EINVAL,
				      "Refcount width must be a "
				      "power of two and may not exceed 64 "
				      "bits");
	if (rb != 16 && !strcmp(compat, "0.10"))
		return qimg_error_set(err, EINVAL,
				      "Different refcount widths "
				      "than 16 bits require compatibility "
				      "level 1.1 or above (use compat=1.1 or "
				      "greater)");
	while ((1ull << order) < rb)
		order++;
	if (!qimg_prealloc_mode_known(prealloc))
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", prealloc);
	if (in)
		size = in->size;
	if (qimg_align_up_overflow(size, cs, &v))
		return qimg_error_set(err, EFBIG,
				      "The image size is too "
				      "large (try using a larger cluster "
				      "size)");

	per_l2 = cs / l2e;
	nl2 = ceil_div(v / cs, per_l2);
	if (nl2 * 8 > QCOW2_MAX_L1_BYTES)
		return qimg_error_set(err, EFBIG,
				      "The image size is too "
				      "large (try using a larger cluster "
				      "size)");
	meta = cs + nl2 * cs + ceil_div(nl2, cs / 8) * cs;
	meta += refcount_meta((meta + v) / cs, cs, order);
	full = meta + v;
	if (efmt && !strcmp(efmt, "luks")) {
		uint64_t area;
		int r = qcow2_luks_measure(o, objects, cs, &area, err);

		if (r < 0)
			return r;
		full += area;
		meta += area;
	}

	if (!strcmp(prealloc, "full") || !strcmp(prealloc, "falloc")) {
		data = v;
	} else if (in && qimg_opts_has(o, "backing_file")) {
		data = v;
	} else if (in) {
		uint64_t off = 0, last_end = 0;

		/* Allocated, non-zero content through the chain, each range
		 * widened to whole target clusters. */
		while (off < in->size) {
			struct qimg_extent e;
			int r = qimg_block_status_above(
				in, NULL, off, in->size - off, &e, err);

			if (r < 0)
				return r;
			if (!e.len)
				break;
			if ((e.flags & QIMG_BS_DATA) &&
			    !(e.flags & QIMG_BS_ZERO)) {
				uint64_t a = off & ~(cs - 1);
				uint64_t z = (off + e.len + cs - 1) & ~(cs - 1);

				if (a < last_end)
					a = last_end;
				if (z > a)
					data += z - a;
				last_end = z;
			}
			off += e.len;
		}
	}
	out->fully_allocated = full;
	out->required = meta + data;
	/* Only a v3 source can hold persistent bitmaps (and only a v3
	 * target can take them): otherwise the line is left out. */
	out->has_bitmaps = in && !strcmp(qimg_node_format(in), "qcow2") &&
			   ((struct qcow2_state *)in->opaque)->h.version >= 3 &&
			   strcmp(compat, "0.10");
	out->bitmaps = 0;
	if (out->has_bitmaps)
		return bitmaps_size(in, cs, &out->bitmaps, err);
	return 0;
}
