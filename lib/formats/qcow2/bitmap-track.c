/* SPDX-License-Identifier: MIT */
/* Persistent dirty bitmaps in the driver's life: checked at every open as
 * QEMU checks them, loaded and marked in use on a read-write open, every
 * guest write, zero write and discard recorded in the enabled ones (the
 * write entry points of the ops table are wrapped here; the write paths
 * themselves know nothing of bitmaps), resized with the image, stored at
 * close.  Also the driver's struct qimg_bitmap_ops.
 *
 * As QEMU, bitmaps are stored at close, not at flush: while the image is
 * open they stay marked in use on the disk, so a writer killed before
 * close leaves them inconsistent (never wrong), and a flush costs nothing
 * more than without bitmaps. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

#define MAX_DIR_ENTRY_ROOM(name) ((24 + strlen(name) + 7) & ~(size_t)7)

bool qcow2_bitmaps_tracking(const struct qcow2_state *s)
{
	return s->bitmaps && s->bitmaps->tracking;
}

static struct qcow2_bitmaps *bitmaps_new(struct qcow2_state *s, bool ro)
{
	struct qcow2_bitmaps *b = calloc(1, sizeof(*b));

	if (b && qimg_bitmap_set_init(&b->set, s->cluster_bits, ro) < 0) {
		free(b);
		b = NULL;
	}
	return b;
}

static void bitmaps_free(struct qcow2_state *s)
{
	if (!s->bitmaps)
		return;
	qimg_bitmap_set_destroy(&s->bitmaps->set);
	free(s->bitmaps);
	s->bitmaps = NULL;
}

/* The extension's fields, as QEMU checks them when it reads the header. */
static int ext_check(struct qcow2_state *s, struct qimg_error *err)
{
	uint32_t nb;
	uint64_t dsize, doff;

	if (qimg_load_be32(s->ext.bitmaps + 4))
		return qimg_error_set(err, EINVAL,
				      "bitmaps_ext: Reserved field is not "
				      "zero");
	qcow2_bitmaps_ext(s, &nb, &dsize, &doff);
	if (nb > QCOW2_MAX_BITMAPS)
		return qimg_error_set(err, EINVAL,
				      "bitmaps_ext: Image has %" PRIu32
				      " bitmaps, exceeding the QEMU supported "
				      "maximum of %d",
				      nb, QCOW2_MAX_BITMAPS);
	if (nb == 0)
		return qimg_error_set(err, EINVAL,
				      "found bitmaps extension with zero "
				      "bitmaps");
	if (doff & (s->cluster_size - 1))
		return qimg_error_set(err, EINVAL,
				      "bitmaps_ext: invalid bitmap directory "
				      "offset");
	if (dsize > QCOW2_MAX_BITMAP_DIR)
		return qimg_error_set(
			err, EINVAL,
			"bitmaps_ext: bitmap directory size (%" PRIu64
			") exceeds the maximum supported size "
			"(%u)",
			dsize, QCOW2_MAX_BITMAP_DIR);
	return 0;
}

/* Read-only opens: the tables are checked at open, as QEMU loads them
 * then; the bits wait for the first use. */
static int check_tables(struct qcow2_state *s, const struct qcow2_bitmap *d,
			size_t n, struct qimg_error *err)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		uint64_t *t;

		if (d[i].flags & QCOW2_BME_IN_USE)
			continue;
		r = qcow2_bitmap_table_read(s, d[i].table_off, d[i].table_size,
					    &t, NULL);
		if (r < 0)
			return qimg_error_set(err, -r,
					      "Could not read bitmap_table "
					      "table from image for bitmap "
					      "'%s': %s",
					      d[i].name, strerror(-r));
		free(t);
		if (d[i].table_size !=
		    qcow2_bitmap_table_entries(s, d[i].gran_bits))
			return qimg_error_set(err, EINVAL,
					      "Could not read bitmap '%s' from "
					      "image: %s",
					      d[i].name, strerror(EINVAL));
	}
	return 0;
}

int qcow2_bitmaps_open(struct qcow2_state *s, unsigned int flags,
		       struct qimg_error *err)
{
	bool rw = !s->read_only && !(flags & QIMG_OPEN_NO_IO);
	struct qcow2_bitmap *dir;
	bool in_place = false;
	size_t n, i;
	int r;

	/* An extension without its autoclear bit (a v2 image has none): a
	 * program that did not keep the bitmaps wrote the image, so they
	 * are lost, and a writer drops the extension, as QEMU does. */
	if (s->ext.has_bitmaps &&
	    (s->h.version < 3 ||
	     !(s->h.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS))) {
		qcow2_bitmaps_ext_set(s, 0, 0, 0);
		if (rw) {
			r = qcow2_header_sync(s, err);
			if (r < 0)
				return r;
		}
	}
	if (s->ext.has_bitmaps) {
		r = ext_check(s, err);
		if (r < 0)
			return r;
	}
	if (!rw || (flags & QIMG_OPEN_CHECK)) {
		/* check -r repairs behind the driver's back: its bitmaps stay
		 * as they are on the disk. */
		r = qcow2_bitmaps_read(s, &dir, &n, err);
		if (r < 0)
			return r;
		r = check_tables(s, dir, n, err);
		qcow2_bitmaps_free(dir, n);
		return r;
	}
	s->bitmaps = bitmaps_new(s, false);
	if (!s->bitmaps)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qcow2_bitmaps_load(s, &s->bitmaps->set, &dir, &n, err);
	if (r < 0) {
		bitmaps_free(s);
		return r;
	}
	for (i = 0; i < n; i++)
		if (!(dir[i].flags & QCOW2_BME_IN_USE))
			in_place = true;
	if (in_place)
		r = qcow2_bitmaps_mark_in_use(s, dir, n, err);
	qcow2_bitmaps_free(dir, n);
	if (r < 0) {
		bitmaps_free(s);
		return r;
	}
	s->bitmaps->tracking = true;
	return 0;
}

void qcow2_bitmaps_close(struct qcow2_state *s)
{
	struct qimg_error err = { 0 };

	if (qcow2_bitmaps_tracking(s) && !s->corrupt) {
		pthread_mutex_lock(&s->bitmaps->set.lock);
		qcow2_lock(s);
		/* A failure leaves the bitmaps marked in use: lost, as QEMU
		 * loses them ("Lost persistent bitmaps"), never wrong. */
		(void)qcow2_bitmaps_store(s, &s->bitmaps->set, &err);
		qcow2_unlock(s);
		pthread_mutex_unlock(&s->bitmaps->set.lock);
	}
	bitmaps_free(s);
}

void qcow2_bitmaps_discard(struct qcow2_state *s)
{
	bitmaps_free(s);
}

/* ---- guest writes ------------------------------------------------------ */

static void mark(struct qimg_node *node, uint64_t off, uint64_t len)
{
	struct qcow2_state *s = node->opaque;

	/* Marked whatever the outcome, as QEMU does: a failed write may
	 * have changed part of the range. */
	if (qcow2_bitmaps_tracking(s))
		qimg_bitmap_set_mark(&s->bitmaps->set, off, len);
}

int qcow2_bm_write(struct qimg_node *node, uint64_t off, const void *buf,
		   size_t len, struct qimg_error *err)
{
	int r = qcow2_write(node, off, buf, len, err);

	mark(node, off, len);
	return r;
}

int qcow2_bm_copy_in(struct qimg_node *node, uint64_t off, uint64_t len,
		     struct qimg_node *file, uint64_t file_off,
		     struct qimg_error *err)
{
	int r = qcow2_copy_in(node, off, len, file, file_off, err);

	if (r != -ENOTSUP || qimg_error_isset(err))
		mark(node, off, len);
	return r;
}

int qcow2_bm_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			  unsigned int flags, struct qimg_error *err)
{
	int r = qcow2_write_zeroes(node, off, len, flags, err);

	mark(node, off, len);
	return r;
}

int qcow2_bm_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		     struct qimg_error *err)
{
	int r = qcow2_discard(node, off, len, err);

	mark(node, off, len);
	return r;
}

int qcow2_bm_write_compressed(struct qimg_node *node, uint64_t off,
			      const void *buf, size_t len, const void *cbuf,
			      size_t clen, struct qimg_error *err)
{
	int r = qcow2_write_compressed(node, off, buf, len, cbuf, clen, err);

	mark(node, off, len);
	return r;
}

int qcow2_bm_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
		      const char *prealloc, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	size_t i;
	int r;

	/* QEMU refuses to resize under a bitmap it could not load (after
	 * its own first checks), for it could not resize it. */
	if (qcow2_bitmaps_tracking(s) && size % 512 == 0 &&
	    !(s->h.nb_snapshots && s->h.version < 3)) {
		struct qimg_bitmap_set *set = &s->bitmaps->set;

		pthread_mutex_lock(&set->lock);
		for (i = 0; i < set->n; i++) {
			if (!set->v[i]->inconsistent)
				continue;
			r = qimg_error_set(
				err, ENOTSUP,
				"Bitmap '%s' is inconsistent and "
				"cannot be used\nTry "
				"block-dirty-bitmap-remove to delete "
				"this bitmap from disk",
				set->v[i]->name);
			pthread_mutex_unlock(&set->lock);
			return r;
		}
		pthread_mutex_unlock(&set->lock);
	}
	r = qcow2_truncate(node, size, flags & QIMG_TRUNCATE_SHRINK, prealloc,
			   err);
	if (r == 0 && qcow2_bitmaps_tracking(s)) {
		pthread_mutex_lock(&s->bitmaps->set.lock);
		if (qimg_bitmap_set_resize(&s->bitmaps->set, size) < 0)
			r = qimg_error_set(err, ENOMEM, "Out of memory");
		pthread_mutex_unlock(&s->bitmaps->set.lock);
	}
	return r;
}

/* ---- struct qimg_bitmap_ops -------------------------------------------- */

static bool bm_supported(struct qimg_node *node)
{
	struct qcow2_state *s = node->opaque;

	return s->h.version >= 3;
}

static int bm_get(struct qimg_node *node, struct qimg_bitmap_set **out,
		  struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	int r = 0;

	qcow2_lock(s);
	if (!s->bitmaps) {
		/* Not loaded at open (read-only, or an open for check):
		 * the bits are read now, and cannot be stored. */
		s->bitmaps = bitmaps_new(s, true);
		if (!s->bitmaps)
			r = qimg_error_set(err, ENOMEM, "Out of memory");
		else
			r = qcow2_bitmaps_load(s, &s->bitmaps->set, NULL, NULL,
					       err);
		if (r < 0)
			bitmaps_free(s);
	}
	qcow2_unlock(s);
	*out = r < 0 ? NULL : &s->bitmaps->set;
	return r;
}

static int bm_can_store(struct qimg_node *node, const char *name,
			uint32_t granularity, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qimg_bitmap_set *set = &s->bitmaps->set;
	uint64_t dir = 0;
	size_t i;
	int r;

	if (s->h.version < 3)
		return qimg_error_set(err, ENOTSUP,
				      "Cannot store dirty bitmaps in qcow2 v2 "
				      "files");
	r = qcow2_bitmap_constraints(s, name,
				     (uint32_t)__builtin_ctz(granularity), err);
	if (r < 0)
		return r;
	for (i = 0; i < set->n; i++)
		dir += MAX_DIR_ENTRY_ROOM(set->v[i]->name);
	dir += MAX_DIR_ENTRY_ROOM(name);
	if (set->n + 1 > QCOW2_MAX_BITMAPS)
		return qimg_error_set(err, EINVAL,
				      "Maximum number of persistent bitmaps is "
				      "already reached");
	if (dir > QCOW2_MAX_BITMAP_DIR)
		return qimg_error_set(err, EINVAL,
				      "Not enough space in the bitmap "
				      "directory");
	return 0;
}

static int bm_remove(struct qimg_node *node, const char *name,
		     struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	int r;

	qcow2_lock(s);
	r = qcow2_bitmaps_remove_stored(s, name, err);
	qcow2_unlock(s);
	return r;
}

const struct qimg_bitmap_ops qcow2_bitmap_ops = {
	.supported = bm_supported,
	.get = bm_get,
	.can_store = bm_can_store,
	.remove = bm_remove,
};
