/* SPDX-License-Identifier: MIT */
/* qcow2 driver: probe, open (header validation, feature bits, corrupt and
 * dirty handling, L1 and refcount table loading), flush, close and the
 * driver table. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"
#include "util/overflow.h"

#if __has_include("check.h")
#include "formats/qcow2/check.h"
#define QCOW2_HAVE_CHECK 1
#endif

#define L2_CACHE_BYTES (8u << 20)

static int qcow2_probe(const uint8_t *head, size_t len, const char *filename)
{
	uint32_t v;

	if (len < 8 || qimg_load_be32(head) != QCOW2_MAGIC)
		return 0;
	v = qimg_load_be32(head + QCOW2_HDR_VERSION_OFF);
	return v >= 2 ? 100 : 0;
}

static void free_state(struct qcow2_state *s)
{
	qcow2_cache_free(&s->l2c);
	qcow2_refcount_free(s);
	qcow2_bitmaps_discard(s);
	qcow2_exts_free(&s->ext);
	free(s->l1);
	s->l1 = NULL;
	qcow2_ranges_free(&s->inflight);
	qcow2_crypt_close(s);
}

/* The L1 table (up to 32 MiB) is read into its own array and decoded in
 * place, so that opening never holds it twice. */
static int load_l1(struct qcow2_state *s, struct qimg_error *err)
{
	uint64_t bytes = (uint64_t)s->l1_size * 8, i;
	int r;

	s->l1 = malloc(bytes ? bytes : 1);
	if (!s->l1)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (bytes) {
		r = qimg_pread(s->file, s->h.l1_table_offset, s->l1, bytes,
			       err);
		if (r < 0)
			return r;
	}
	for (i = 0; i < s->l1_size; i++)
		s->l1[i] = qimg_load_be64(&s->l1[i]);
	return 0;
}

static int setup_geometry(struct qcow2_state *s, struct qimg_error *err)
{
	uint64_t need, per_l1;

	s->cluster_bits = s->h.cluster_bits;
	s->cluster_size = 1ull << s->cluster_bits;
	s->ext_l2 = s->h.incompatible_features & QCOW2_INCOMPAT_EXTL2;
	s->l2_entry_size = s->ext_l2 ? 16 : 8;
	s->l2_bits = s->cluster_bits - (s->ext_l2 ? 4 : 3);
	s->l2_entries = 1ull << s->l2_bits;
	s->sc_bits = s->cluster_bits - (s->ext_l2 ? 5 : 0);
	s->sc_size = 1ull << s->sc_bits;
	if (s->ext_l2 && s->sc_size < 512)
		return qimg_error_set(err, EINVAL,
				      "Unsupported cluster size: 2^%" PRIu32,
				      s->cluster_bits);
	s->csize_shift = 62 - (s->cluster_bits - 8);
	s->csize_mask = (1ull << (s->cluster_bits - 8)) - 1;
	s->coffset_mask = (1ull << s->csize_shift) - 1;

	per_l1 = 1ull << (s->cluster_bits + s->l2_bits);
	need = s->h.size / per_l1 + (s->h.size % per_l1 != 0);
	if (need > INT32_MAX)
		return qimg_error_set(err, EFBIG, "Image is too big");
	if (s->h.l1_size < need)
		return qimg_error_set(err, EINVAL, "L1 table is too small");
	s->l1_size = s->h.l1_size;
	return 0;
}

static int qcow2_open(struct qimg_node *node, const struct qimg_opts *opts,
		      struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	unsigned int fl = node->flags;
	uint8_t *buf = NULL;
	size_t blen;
	int r;

	s->node = node;
	s->file = node->file;
	s->read_only = !(fl & QIMG_OPEN_RDWR);
	s->discard_snapshot =
		qimg_opts_get_bool(opts, "pass-discard-snapshot", true);
	s->discard_request = qimg_opts_get_bool(opts, "pass-discard-request",
						(fl & QIMG_OPEN_UNMAP) != 0);

	buf = malloc(4096);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_pread(s->file, 0, buf, 4096, err);
	if (r < 0)
		goto fail;
	/* Read the whole header cluster when the size field is sane; the
	 * parser rejects it otherwise. */
	blen = 4096;
	if (qimg_load_be32(buf + QCOW2_HDR_CLUSTER_BITS_OFF) >=
		    QCOW2_MIN_CLUSTER_BITS &&
	    qimg_load_be32(buf + QCOW2_HDR_CLUSTER_BITS_OFF) <=
		    QCOW2_MAX_CLUSTER_BITS)
		blen = (size_t)1
		       << qimg_load_be32(buf + QCOW2_HDR_CLUSTER_BITS_OFF);
	if (blen > 4096) {
		uint8_t *big = realloc(buf, blen);

		if (!big) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto fail;
		}
		buf = big;
		r = qimg_pread(s->file, 0, buf, blen, err);
		if (r < 0)
			goto fail;
	}
	r = qcow2_header_parse_for(buf, blen, &s->h, fl & QIMG_OPEN_CHECK, err);
	if (r < 0)
		goto fail;
	blen = (size_t)1 << s->h.cluster_bits;
	r = qcow2_exts_parse(&s->h, buf, blen, &s->ext, err);
	if (r < 0)
		goto fail;
	free(buf);
	buf = NULL;
	r = qcow2_check_features(&s->h, &s->ext, err);
	if (r < 0)
		goto fail;
	s->corrupt = s->h.incompatible_features & QCOW2_INCOMPAT_CORRUPT;
	if (s->corrupt && !s->read_only && !(fl & QIMG_OPEN_CHECK)) {
		r = qimg_error_set(err, EACCES,
				   "qcow2: Image is corrupt; "
				   "cannot be opened read/write");
		goto fail;
	}
	r = setup_geometry(s, err);
	if (r == 0)
		r = qcow2_check_options(s, opts, err);
	if (r < 0)
		goto fail;
	r = qcow2_data_file_open(node, s, err);
	if (r < 0)
		goto fail;
	r = qcow2_crypt_open(node, s, opts, err);
	if (r < 0)
		goto fail;

	/* Autoclear bits this driver does not know are cleared by every
	 * writer that opens the image (the spec's rule), at once. */
	if (!s->read_only && s->h.version >= 3 &&
	    (s->h.autoclear_features & ~QCOW2_AUTOCLEAR_KNOWN)) {
		uint8_t b[8];

		s->h.autoclear_features &= QCOW2_AUTOCLEAR_KNOWN;
		qimg_store_be64(b, s->h.autoclear_features);
		r = qimg_pwrite(s->file, QCOW2_HDR_AUTOCLEAR_OFF, b, sizeof(b),
				err);
		if (r < 0)
			goto fail;
	}
	r = load_l1(s, err);
	if (r < 0)
		goto fail;
	r = qcow2_refcount_init(s, err);
	if (r < 0)
		goto fail;
	/* The snapshot table is read (so checked) at open, as QEMU does;
	 * `check` leaves that to the checker. */
	if (s->h.nb_snapshots && !(fl & QIMG_OPEN_CHECK)) {
		struct qcow2_snapshot *sn;
		size_t n;

		r = qcow2_snapshots_read(s, &sn, &n, NULL, err);
		if (r < 0)
			goto fail;
		qcow2_snapshots_free(sn, n);
	}
	/* So are the bitmaps (a bitmap qimg cannot honour refuses the open,
	 * as qemu-img refuses it); a read-write open loads them and marks
	 * them in use. */
	r = qcow2_bitmaps_open(s, fl, err);
	if (r < 0)
		goto fail;
	{
		size_t n = L2_CACHE_BYTES / s->cluster_size;

		if (n < 4)
			n = 4;
		if (n > 64)
			n = 64;
		if (qcow2_cache_init(&s->l2c, n, s->cluster_size) < 0) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto fail;
		}
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->free_hint = 1;

	if (s->ext.backing_file) {
		node->backing_filename = strdup(s->ext.backing_file);
		if (!node->backing_filename)
			goto nomem;
	}
	if (s->ext.backing_fmt) {
		node->backing_format = strdup(s->ext.backing_fmt);
		if (!node->backing_format)
			goto nomem;
	}
	node->size = s->h.size;
	node->cluster_size = (uint32_t)s->cluster_size;
	/* A preallocated encrypted image reads as decrypted zeros, not as
	 * zeros (qemu-img's test: the first L1 entry). */
	node->zero_init = !s->h.crypt_method || !s->l1_size || !s->l1[0];

	if (!s->read_only && !(fl & (QIMG_OPEN_NO_IO | QIMG_OPEN_CHECK))) {
		if (s->h.incompatible_features & QCOW2_INCOMPAT_DIRTY) {
			r = qcow2_refcount_repair(s, err);
			if (r < 0)
				goto fail_locks;
			r = qimg_flush(s->file, err);
			if (r == 0)
				r = qcow2_write_incompat(
					s,
					s->h.incompatible_features &
						~QCOW2_INCOMPAT_DIRTY,
					err);
			if (r < 0)
				goto fail_locks;
		}
		/* the option, or the image's own setting (a version 3
		 * image: qcow2_check_options refuses it for version 2) */
		s->lazy = qimg_opts_get_bool(
			opts, "lazy-refcounts",
			s->h.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS);
	}
	return 0;
nomem:
	r = qimg_error_set(err, ENOMEM, "Out of memory");
fail_locks:
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(node->backing_filename);
	node->backing_filename = NULL;
	free(node->backing_format);
	node->backing_format = NULL;
fail:
	free(buf);
	free_state(s);
	return r;
}

int qcow2_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	int r;

	pthread_mutex_lock(&s->lock);
	/* The L2 entries held in the cache go out; with lazy refcounts the
	 * refcount blocks stay until close (the dirty bit covers them), as
	 * QEMU keeps them. */
	r = qcow2_l2_writeback(s, err);
	if (r == 0 && !s->lazy)
		r = qcow2_refcount_flush(s, err);
	/* The data file too: a guest flush covers the data it holds. */
	if (r == 0 && s->data != s->file) {
		r = qimg_flush(s->data, err);
		if (r == 0)
			s->data_unflushed = false;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void qcow2_close(struct qimg_node *node)
{
	struct qcow2_state *s = node->opaque;
	struct qimg_error err = { 0 };

	/* The bitmaps first, as QEMU stores them before its final flush. */
	qcow2_bitmaps_close(s);
	if (!s->read_only) {
		/* Clean close: counts on disk, then the dirty bit off. */
		/* After compressed writes, end the file on a sector boundary
		 * as qemu-img convert -c leaves it. */
		if (s->cbyte) {
			int64_t len = qimg_node_length(s->file, &err);
			static const uint8_t zero[512];

			if (len > 0 && (len & 511))
				qimg_pwrite(s->file, (uint64_t)len, zero,
					    512 - (len & 511), &err);
		}
		if (qcow2_l2_writeback(s, &err) == 0 &&
		    qcow2_refcount_flush(s, &err) == 0 && s->dirty_set &&
		    qimg_flush(s->file, &err) == 0)
			qcow2_write_incompat(s,
					     s->h.incompatible_features &
						     ~QCOW2_INCOMPAT_DIRTY,
					     &err);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free_state(s);
}

/* Options qemu-img 7.2 takes for a qcow2 node (cache sizes and discard
 * passing tune QEMU's implementation; qimg accepts them as qemu-img does). */
static const struct qimg_opt_desc qcow2_runtime_opts[] = {
	{ "lazy-refcounts", QIMG_OPT_BOOL, NULL, NULL },
	{ "pass-discard-request", QIMG_OPT_BOOL, NULL, NULL },
	{ "pass-discard-snapshot", QIMG_OPT_BOOL, NULL, NULL },
	{ "pass-discard-other", QIMG_OPT_BOOL, NULL, NULL },
	{ "overlap-check", QIMG_OPT_STRING, NULL, NULL },
	{ "overlap-check.template", QIMG_OPT_STRING, NULL, NULL },
	{ "overlap-check.main-header", QIMG_OPT_BOOL, NULL, NULL },
	{ "overlap-check.active-l1", QIMG_OPT_BOOL, NULL, NULL },
	{ "overlap-check.active-l2", QIMG_OPT_BOOL, NULL, NULL },
	{ "overlap-check.refcount-table", QIMG_OPT_BOOL, NULL, NULL },
	{ "overlap-check.refcount-block", QIMG_OPT_BOOL, NULL, NULL },
	{ "overlap-check.snapshot-table", QIMG_OPT_BOOL, NULL, NULL },
	{ "overlap-check.inactive-l1", QIMG_OPT_BOOL, NULL, NULL },
	{ "overlap-check.inactive-l2", QIMG_OPT_BOOL, NULL, NULL },
	{ "overlap-check.bitmap-directory", QIMG_OPT_BOOL, NULL, NULL },
	{ "cache-size", QIMG_OPT_SIZE, NULL, NULL },
	{ "l2-cache-size", QIMG_OPT_SIZE, NULL, NULL },
	{ "l2-cache-entry-size", QIMG_OPT_SIZE, NULL, NULL },
	{ "refcount-cache-size", QIMG_OPT_SIZE, NULL, NULL },
	{ "cache-clean-interval", QIMG_OPT_NUMBER, NULL, NULL },
	{ "encrypt.format", QIMG_OPT_STRING, NULL, NULL },
	{ "encrypt.key-secret", QIMG_OPT_STRING, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const qcow2_child_roles[] = { "data-file", NULL };
/* The key names the image (json:{...}), as qemu-img shows it. */
static const char *const qcow2_strong_opts[] = { "encrypt.key-secret", NULL };

const struct qimg_driver qimg_driver_qcow2 = {
	.name = "qcow2",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct qcow2_state),
	.create_opts = qcow2_create_opts,
	.amend_opts = qcow2_amend_opts,
	.runtime_opts = qcow2_runtime_opts,
	.child_roles = qcow2_child_roles,
	.strong_opts = qcow2_strong_opts,
	.probe = qcow2_probe,
	.open = qcow2_open,
	.close = qcow2_close,
	.create_validate = qcow2_create_validate,
	.create_file_first = true,
	.create_own_prealloc = true,
	.create = qcow2_create,
	.read = qcow2_read,
	.write = qcow2_bm_write,
	.copy_in = qcow2_bm_copy_in,
	.write_zeroes = qcow2_bm_write_zeroes,
	.discard = qcow2_bm_discard,
	.flush = qcow2_flush,
	.compress = qcow2_compress,
	.write_compressed = qcow2_bm_write_compressed,
	.block_status = qcow2_block_status,
	.truncate = qcow2_bm_truncate,
	.snapshot_load_tmp = qcow2_snapshot_load_tmp,
	.snapshot_create = qcow2_snapshot_create,
	.snapshot_delete = qcow2_snapshot_delete,
	.snapshot_goto = qcow2_snapshot_goto,
	.change_backing = qcow2_change_backing,
	.make_empty = qcow2_make_empty,
	.bitmap = &qcow2_bitmap_ops,
	.get_info = qcow2_get_info,
#ifdef QCOW2_HAVE_CHECK
	.check = qcow2_check,
#endif
	.measure = qcow2_measure,
	.amend = qcow2_amend,
	.supports_backing = true,
};
