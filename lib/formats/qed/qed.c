/* SPDX-License-Identifier: MIT */
/* QED images: probe, open (header checks in qemu-img's order and words),
 * the L1 table and a small L2 cache, reads, block status and info.  An
 * image found with NEED_CHECK set is checked and repaired when opened
 * read-write, as qemu does; read-only opens leave it alone. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "formats/qed/qed.h"
#include "util/endian.h"

static bool pow2_in(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v >= lo && v <= hi && !(v & (v - 1));
}

/* Computed in 64 bits as qemu computes it: for the largest clusters and
 * tables it wraps (to 0), and qemu then refuses every size. */
uint64_t qed_max_image_size(uint32_t cluster_size, uint32_t table_size)
{
	uint64_t entries = (uint64_t)table_size * cluster_size / 8;

	return entries * entries * cluster_size;
}

void qed_header_store(const struct qed_header *h, uint8_t *buf)
{
	memcpy(buf, QED_MAGIC, 4);
	qimg_store_le32(buf + QED_OFF_CLUSTER, h->cluster_size);
	qimg_store_le32(buf + QED_OFF_TABLE, h->table_size);
	qimg_store_le32(buf + QED_OFF_HEADER, h->header_size);
	qimg_store_le64(buf + QED_OFF_FEATURES, h->features);
	qimg_store_le64(buf + QED_OFF_COMPAT, h->compat_features);
	qimg_store_le64(buf + QED_OFF_AUTOCLEAR, h->autoclear_features);
	qimg_store_le64(buf + QED_OFF_L1, h->l1_table_offset);
	qimg_store_le64(buf + QED_OFF_SIZE, h->image_size);
	qimg_store_le32(buf + QED_OFF_BACKING_OFF, h->backing_off);
	qimg_store_le32(buf + QED_OFF_BACKING_LEN, h->backing_len);
}

static void header_load(struct qed_header *h, const uint8_t *buf)
{
	h->cluster_size = qimg_load_le32(buf + QED_OFF_CLUSTER);
	h->table_size = qimg_load_le32(buf + QED_OFF_TABLE);
	h->header_size = qimg_load_le32(buf + QED_OFF_HEADER);
	h->features = qimg_load_le64(buf + QED_OFF_FEATURES);
	h->compat_features = qimg_load_le64(buf + QED_OFF_COMPAT);
	h->autoclear_features = qimg_load_le64(buf + QED_OFF_AUTOCLEAR);
	h->l1_table_offset = qimg_load_le64(buf + QED_OFF_L1);
	h->image_size = qimg_load_le64(buf + QED_OFF_SIZE);
	h->backing_off = qimg_load_le32(buf + QED_OFF_BACKING_OFF);
	h->backing_len = qimg_load_le32(buf + QED_OFF_BACKING_LEN);
}

int qed_write_header(struct qed_state *s, struct qimg_error *err)
{
	uint8_t buf[QED_HEADER_LEN];

	qed_header_store(&s->h, buf);
	return qimg_pwrite(s->file, 0, buf, sizeof(buf), err);
}

/* A cluster offset qemu accepts: aligned, past the header, inside the
 * file. */
bool qed_cluster_ok(const struct qed_state *s, uint64_t off)
{
	return !(off & (s->h.cluster_size - 1)) &&
	       off >= (uint64_t)s->h.header_size * s->h.cluster_size &&
	       off < s->file_size;
}

bool qed_table_ok(const struct qed_state *s, uint64_t off)
{
	uint64_t last;

	/* As qemu: the last cluster must lie past the first, so images
	 * with one-cluster tables (which qemu-img creates) never open. */
	if (__builtin_add_overflow(off, s->table_bytes - s->h.cluster_size,
				   &last) ||
	    last <= off)
		return false;
	return qed_cluster_ok(s, off) && qed_cluster_ok(s, last);
}

int qed_l1_get(struct qed_state *s, uint64_t i, uint64_t *l2off,
	       struct qimg_error *err)
{
	return qimg_tc_read_le64(&s->l1, i, l2off, 1, err);
}

int qed_l2_get(struct qed_state *s, uint64_t off, struct qimg_tcache **out,
	       struct qimg_error *err)
{
	struct qed_l2_slot *victim = &s->cache[0];
	int i;

	(void)err;
	for (i = 0; i < QED_L2_CACHE; i++) {
		if (s->cache[i].off == off && s->cache[i].init) {
			s->cache[i].used = ++s->tick;
			*out = &s->cache[i].tc;
			return 0;
		}
		if (s->cache[i].used < victim->used)
			victim = &s->cache[i];
	}
	qimg_debug_event(s->file, QIMG_EV_L2_LOAD);
	if (victim->init)
		qimg_tc_reset(&victim->tc, off, s->table_bytes, s->table_bytes);
	else {
		qimg_tc_init(&victim->tc, s->file, off, s->table_bytes,
			     s->table_bytes);
		qimg_tc_limit(&victim->tc, QED_L2_PAGES);
	}
	victim->init = true;
	victim->off = off;
	victim->used = ++s->tick;
	*out = &victim->tc;
	return 0;
}

void qed_l2_forget(struct qed_state *s, uint64_t off)
{
	int i;

	for (i = 0; i < QED_L2_CACHE; i++)
		if (s->cache[i].off == off) {
			s->cache[i].off = 0;
			s->cache[i].used = 0;
		}
}

static int qed_probe(const uint8_t *head, size_t len, const char *filename)
{
	(void)filename;
	return len >= QED_HEADER_LEN && !memcmp(head, QED_MAGIC, 4) ? 100 : 0;
}

static void free_state(struct qed_state *s)
{
	int i;

	for (i = 0; i < QED_L2_CACHE; i++)
		if (s->cache[i].init)
			qimg_tc_free(&s->cache[i].tc);
	if (s->l1_init)
		qimg_tc_free(&s->l1);
	memset(s->cache, 0, sizeof(s->cache));
	s->l1_init = false;
}

static int read_backing_name(struct qimg_node *node, struct qimg_error *err)
{
	struct qed_state *s = node->opaque;
	uint64_t end = (uint64_t)s->h.backing_off + s->h.backing_len;
	char *name;
	int r;

	if (end > (uint64_t)s->h.header_size * s->h.cluster_size)
		return qimg_error_set(err, EINVAL,
				      "QED backing filename offset is invalid");
	name = calloc(1, (size_t)s->h.backing_len + 1);
	if (!name)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_pread(s->file, s->h.backing_off, name, s->h.backing_len, err);
	if (r < 0 || !name[0]) {
		free(name);
		return r;
	}
	node->backing_filename = name;
	if (s->h.features & QED_F_BACKING_FORMAT_NO_PROBE) {
		node->backing_format = strdup("raw");
		if (!node->backing_format)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	return 0;
}

/* Checks in qemu's order, with its texts. */
static int validate_header(struct qed_state *s, struct qimg_error *err)
{
	const struct qed_header *h = &s->h;

	if (h->features & ~(uint64_t)QED_F_ALL)
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported QED features: %" PRIx64,
				      h->features & ~(uint64_t)QED_F_ALL);
	if (!pow2_in(h->cluster_size, QED_MIN_CLUSTER, QED_MAX_CLUSTER))
		return qimg_error_set(err, EINVAL,
				      "QED cluster size is invalid");
	if (!pow2_in(h->table_size, 1, QED_MAX_TABLE))
		return qimg_error_set(err, EINVAL, "QED table size is invalid");
	if (h->image_size % 512 ||
	    h->image_size > qed_max_image_size(h->cluster_size, h->table_size))
		return qimg_error_set(err, EINVAL, "QED image size is invalid");
	s->table_bytes = (uint64_t)h->table_size * h->cluster_size;
	s->entries = s->table_bytes / 8;
	s->cluster_bits = (uint32_t)__builtin_ctz(h->cluster_size);
	if (!qed_table_ok(s, h->l1_table_offset))
		return qimg_error_set(err, EINVAL,
				      "QED table offset is invalid");
	return 0;
}

static int qed_open(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err)
{
	struct qed_state *s = node->opaque;
	uint8_t buf[QED_HEADER_LEN];
	int64_t len;
	int r;

	(void)opts;
	s->file = node->file;
	s->read_only = !(node->flags & QIMG_OPEN_RDWR);
	r = qimg_pread(s->file, 0, buf, sizeof(buf), err);
	if (r < 0)
		return r;
	if (memcmp(buf, QED_MAGIC, 4))
		return qimg_error_set(err, EINVAL, "Image not in QED format");
	header_load(&s->h, buf);
	len = qimg_node_length(s->file, err);
	if (len < 0)
		return (int)len;
	s->file_size = (uint64_t)len & ~(uint64_t)(s->h.cluster_size - 1);
	r = validate_header(s, err);
	if (r < 0)
		return r;
	if (s->h.features & QED_F_BACKING_FILE) {
		r = read_backing_name(node, err);
		if (r < 0)
			return r;
	}
	/* qed_table_ok: the whole table lies inside the file */
	qimg_tc_init(&s->l1, s->file, s->h.l1_table_offset, s->table_bytes,
		     s->table_bytes);
	s->l1_init = true;

	node->size = s->h.image_size;
	node->cluster_size = s->h.cluster_size;
	node->zero_init = !node->backing_filename;
	node->limits.zeroes_align = s->h.cluster_size;
	node->limits.export_align = 512; /* QEMU's qed works in sectors */

	if (!s->read_only && !(node->flags & (QIMG_OPEN_NO_IO))) {
		/* Unknown autoclear bits go on a read-write open; an image
		 * left with NEED_CHECK is repaired before use (qemu). */
		if (s->h.autoclear_features) {
			s->h.autoclear_features = 0;
			r = qed_write_header(s, err);
			if (r == 0)
				r = qimg_flush(s->file, err);
			if (r < 0)
				goto out_free;
		}
		if ((s->h.features & QED_F_NEED_CHECK) &&
		    !(node->flags & QIMG_OPEN_CHECK)) {
			struct qimg_check_result res;

			memset(&res, 0, sizeof(res));
			r = qed_check_run(s, node->size, true, &res, err);
			if (r == 0 && res.corruptions == res.corruptions_fixed)
				r = qed_mark_clean(s, err);
			if (r < 0)
				goto out_free;
		}
	}
	return 0;

out_free:
	free_state(s);
	return r;
}

static void qed_close(struct qimg_node *node)
{
	struct qed_state *s = node->opaque;
	struct qimg_error e = { 0 };

	if (s->need_check_set && qimg_flush(s->file, &e) == 0)
		qed_mark_clean(s, &e);
	free_state(s);
}

enum qed_kind {
	QED_UNALLOC,
	QED_ZERO,
	QED_DATA
};

/* The kind of L2 entry e; false when it names a cluster qemu refuses. */
static bool kind_of(const struct qed_state *s, uint64_t e, enum qed_kind *kind)
{
	*kind = !e ? QED_UNALLOC : e == QED_ZERO_CLUSTER ? QED_ZERO : QED_DATA;
	return e <= QED_ZERO_CLUSTER || qed_cluster_ok(s, e);
}

/* Classify the cluster holding `off`: kind and host offset. */
static int lookup(struct qed_state *s, uint64_t off, enum qed_kind *kind,
		  uint64_t *host, struct qimg_error *err)
{
	uint64_t span = s->entries << s->cluster_bits, l2off, e;
	struct qimg_tcache *l2;
	int r;

	*host = 0;
	r = qed_l1_get(s, off / span, &l2off, err);
	if (r < 0)
		return r;
	if (!l2off) {
		*kind = QED_UNALLOC;
		return 0;
	}
	if (!qed_table_ok(s, l2off))
		return qimg_error_set(err, EINVAL, "Invalid argument");
	r = qed_l2_get(s, l2off, &l2, err);
	if (r < 0)
		return r;
	r = qimg_tc_read_le64(l2, (off >> s->cluster_bits) & (s->entries - 1),
			      &e, 1, err);
	if (r < 0)
		return r;
	if (!kind_of(s, e, kind))
		return qimg_error_set(err, EINVAL, "Invalid argument");
	if (*kind == QED_DATA)
		*host = e;
	return 0;
}

#define RUN_BATCH 512 /* L2 entries looked at at once */

/* The run of clusters from `off` (at most len bytes) of one kind (data:
 * contiguous on the host).  Past the first cluster, a table's entries are
 * read RUN_BATCH at a time and an empty L1 entry is skipped whole; a
 * damaged entry ends the run (its own lookup fails). */
static int lookup_run(struct qed_state *s, uint64_t off, uint64_t len,
		      enum qed_kind *kind, uint64_t *host, uint64_t *run,
		      struct qimg_error *err)
{
	uint64_t cs = s->h.cluster_size, span = s->entries << s->cluster_bits;
	uint64_t n, e[RUN_BATCH];
	int r;

	r = lookup(s, off, kind, host, err);
	if (r < 0)
		return r;
	n = cs - (off & (cs - 1));
	while (n < len) {
		uint64_t at = off + n, l2off, idx, cnt, i;
		struct qimg_tcache *l2;
		enum qed_kind k;

		if (qed_l1_get(s, at / span, &l2off, NULL) < 0)
			break;
		if (!l2off) {
			if (*kind != QED_UNALLOC)
				break;
			n += span - at % span;
			continue;
		}
		if (!qed_table_ok(s, l2off) || qed_l2_get(s, l2off, &l2, NULL))
			break;
		idx = (at >> s->cluster_bits) & (s->entries - 1);
		cnt = s->entries - idx;
		if (cnt > RUN_BATCH)
			cnt = RUN_BATCH;
		if (cnt > (len - n + cs - 1) / cs)
			cnt = (len - n + cs - 1) / cs;
		if (qimg_tc_read_le64(l2, idx, e, (size_t)cnt, NULL) < 0)
			break;
		for (i = 0; i < cnt; i++, n += cs)
			if (!kind_of(s, e[i], &k) || k != *kind ||
			    (k == QED_DATA &&
			     e[i] != *host + (off & (cs - 1)) + n))
				goto out;
	}
out:
	*run = n < len ? n : len;
	if (*kind == QED_DATA)
		*host += off & (cs - 1);
	return 0;
}

static int qed_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct qed_state *s = node->opaque;
	uint8_t *p = buf;
	int r;

	while (len) {
		enum qed_kind kind;
		uint64_t host, run;

		r = lookup_run(s, off, len, &kind, &host, &run, err);
		if (r < 0)
			return r;
		if (kind == QED_DATA) {
			qimg_debug_event(s->file, QIMG_EV_READ_AIO);
			r = qimg_pread(s->file, host, p, run, err);
		} else if (kind == QED_UNALLOC && node->backing) {
			qimg_debug_event(s->file, QIMG_EV_READ_BACKING_AIO);
			r = qimg_read_backing(node, off, p, run, err);
		} else {
			memset(p, 0, run);
		}
		if (r < 0)
			return r;
		p += run;
		off += run;
		len -= run;
	}
	return 0;
}

static int qed_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_extent *ext, struct qimg_error *err)
{
	struct qed_state *s = node->opaque;
	enum qed_kind kind;
	uint64_t host, run;
	int r;

	r = lookup_run(s, off, len, &kind, &host, &run, err);
	if (r < 0)
		return r;
	memset(ext, 0, sizeof(*ext));
	ext->len = run;
	if (kind == QED_ZERO) {
		ext->flags = QIMG_BS_ZERO | QIMG_BS_ALLOCATED;
	} else if (kind == QED_DATA) {
		ext->flags =
			QIMG_BS_DATA | QIMG_BS_ALLOCATED | QIMG_BS_OFFSET_VALID;
		ext->map = host;
		ext->file = s->file;
	}
	return 0;
}

static int qed_get_info(struct qimg_node *node, struct qimg_image_info *info,
			struct qimg_error *err)
{
	struct qed_state *s = node->opaque;

	(void)err;
	info->has_info = true;
	info->cluster_size = s->h.cluster_size;
	info->dirty = false;
	return 0;
}

const struct qimg_driver qimg_driver_qed = {
	.name = "qed",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct qed_state),
	.create_opts = qed_create_opts,
	.probe = qed_probe,
	.open = qed_open,
	.close = qed_close,
	.create_validate = qed_create_validate,
	.create_file_first = true,
	.create = qed_create,
	.read = qed_read,
	.write = qed_write,
	.write_zeroes = qed_write_zeroes,
	.flush = qed_flush,
	.block_status = qed_block_status,
	.truncate = qed_truncate,
	.get_info = qed_get_info,
	.check = qed_check,
	.change_backing = qed_change_backing,
	.supports_backing = true,
};
