/* SPDX-License-Identifier: MIT */
/* Persistent dirty bitmaps, the user's operations (include/qimg/bitmap.h):
 * the checks and texts of QEMU's block-dirty-bitmap-* commands, which
 * qemu-img's `bitmap` and `convert --bitmaps` run, on the in-memory set
 * the format driver keeps (lib/core/dirty-bitmap.h).  Storing the set is
 * the driver's business. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dirty-bitmap.h"
#include "core/driver.h"
#include "qimg/bitmap.h"
#include "qimg/value.h"

/* The node as QEMU's messages name it: the format node of qemu-img's image
 * is the first QEMU opens. */
static void node_name(const struct qimg_node *node, char *buf, size_t len)
{
	qimg_node_qemu_name(node, 1, buf, len);
}

/* The node's set, or NULL (with 0) when its format has no bitmaps. */
static int get_set(struct qimg_node *node, struct qimg_bitmap_set **set,
		   struct qimg_error *err)
{
	*set = NULL;
	if (!node->drv->bitmap)
		return 0;
	return node->drv->bitmap->get(node, set, err);
}

static int not_found(struct qimg_error *err, const char *name)
{
	return qimg_error_set(err, ENOENT, "Dirty bitmap '%s' not found", name);
}

/* QEMU's bitmap checks: a read-only image's bitmap cannot be modified
 * (unless allow_ro), an inconsistent one cannot be used at all. */
static int usable(const struct qimg_bitmap_set *set,
		  const struct qimg_dirty_bitmap *bm, bool allow_ro,
		  struct qimg_error *err)
{
	if (!allow_ro && set->readonly)
		return qimg_error_set(err, EPERM,
				      "Bitmap '%s' is readonly and cannot be "
				      "modified",
				      bm->name);
	if (bm->inconsistent)
		return qimg_error_set(err, EINVAL,
				      "Bitmap '%s' is inconsistent and cannot "
				      "be used\nTry block-dirty-bitmap-remove "
				      "to delete this bitmap from disk",
				      bm->name);
	return 0;
}

void qimg_bitmap_info_free(struct qimg_bitmap_info *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

int qimg_bitmap_list(struct qimg_node *node, struct qimg_bitmap_info **out,
		     size_t *n, struct qimg_error *err)
{
	struct qimg_bitmap_set *set = NULL;
	struct qimg_bitmap_info *v;
	size_t i, k;
	int r;

	*out = NULL;
	*n = 0;
	r = get_set(node, &set, err);
	if (r < 0 || !set)
		return r;
	pthread_mutex_lock(&set->lock);
	v = calloc(set->n ? set->n : 1, sizeof(*v));
	for (i = k = 0; v && i < set->n; i++) {
		const struct qimg_dirty_bitmap *bm = set->v[i];

		if (bm->transient)
			continue; /* not a persistent bitmap */
		v[k].name = strdup(bm->name);
		if (!v[k].name) {
			qimg_bitmap_info_free(v, k);
			v = NULL;
			break;
		}
		v[k].granularity = 1ull << bm->gran_bits;
		v[k].enabled = bm->enabled;
		v[k].inconsistent = bm->inconsistent;
		k++;
	}
	pthread_mutex_unlock(&set->lock);
	if (!v)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	*out = v;
	*n = k;
	return 0;
}

bool qimg_bitmap_supported(struct qimg_node *node)
{
	return node->drv->bitmap && node->drv->bitmap->supported(node);
}

int qimg_bitmap_add(struct qimg_node *node, const char *name,
		    bool has_granularity, uint32_t granularity, bool disabled,
		    struct qimg_error *err)
{
	struct qimg_bitmap_set *set = NULL;
	struct qimg_dirty_bitmap *bm;
	char nn[64];
	int r;

	if (!name || !*name)
		return qimg_error_set(err, EINVAL,
				      "Bitmap name cannot be empty");
	if (has_granularity) {
		if (granularity < 512 || (granularity & (granularity - 1)))
			return qimg_error_set(err, EINVAL,
					      "Granularity must be power of "
					      "2 and at least 512");
	} else {
		/* QEMU's default: the cluster size, within 4k..64k. */
		granularity = node->cluster_size ? node->cluster_size : 65536;
		if (granularity < 4096)
			granularity = 4096;
		if (granularity > 65536)
			granularity = 65536;
	}
	node_name(node, nn, sizeof(nn));
	if (!node->drv->bitmap)
		return qimg_error_set(err, ENOTSUP,
				      "Can't store persistent bitmaps to %s: "
				      "%s",
				      nn, strerror(ENOTSUP));
	r = get_set(node, &set, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&set->lock);
	if (qimg_bitmap_set_find(set, name)) {
		r = qimg_error_set(err, EEXIST, "Bitmap already exists: %s",
				   name);
		goto out;
	}
	r = node->drv->bitmap->can_store(node, name, granularity, err);
	if (r < 0) {
		qimg_error_prefix(err,
				  "Can't make bitmap '%s' persistent in '%s'",
				  name, nn);
		goto out;
	}
	bm = qimg_dbm_new(name, node->size,
			  (uint32_t)__builtin_ctz(granularity),
			  set->chunk_bits);
	if (!bm || qimg_bitmap_set_add(set, bm) < 0) {
		qimg_dbm_free(bm);
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	bm->enabled = !disabled;
out:
	pthread_mutex_unlock(&set->lock);
	return r;
}

/* Find `name` in node's set and lock the set: on success the caller
 * unlocks *setp. */
static int lookup(struct qimg_node *node, const char *name,
		  struct qimg_bitmap_set **setp, struct qimg_dirty_bitmap **bmp,
		  struct qimg_error *err)
{
	struct qimg_bitmap_set *set = NULL;
	int r;

	r = get_set(node, &set, err);
	if (r < 0)
		return r;
	if (!set)
		return not_found(err, name);
	pthread_mutex_lock(&set->lock);
	*bmp = qimg_bitmap_set_find(set, name);
	if (!*bmp) {
		pthread_mutex_unlock(&set->lock);
		return not_found(err, name);
	}
	*setp = set;
	return 0;
}

int qimg_bitmap_remove(struct qimg_node *node, const char *name,
		       struct qimg_error *err)
{
	struct qimg_bitmap_set *set = NULL;
	struct qimg_dirty_bitmap *bm;
	int r;

	r = lookup(node, name, &set, &bm, err);
	if (r < 0)
		return r;
	if (set->readonly)
		r = usable(set, bm, false, err);
	if (r == 0)
		r = node->drv->bitmap->remove(node, name, err);
	if (r == 0)
		qimg_bitmap_set_drop(set, bm);
	pthread_mutex_unlock(&set->lock);
	return r;
}

int qimg_bitmap_clear(struct qimg_node *node, const char *name,
		      struct qimg_error *err)
{
	struct qimg_bitmap_set *set = NULL;
	struct qimg_dirty_bitmap *bm;
	int r;

	r = lookup(node, name, &set, &bm, err);
	if (r < 0)
		return r;
	r = usable(set, bm, false, err);
	if (r == 0)
		qimg_dbm_clear(bm);
	pthread_mutex_unlock(&set->lock);
	return r;
}

int qimg_bitmap_enable(struct qimg_node *node, const char *name, bool enable,
		       struct qimg_error *err)
{
	struct qimg_bitmap_set *set = NULL;
	struct qimg_dirty_bitmap *bm;
	int r;

	r = lookup(node, name, &set, &bm, err);
	if (r < 0)
		return r;
	r = usable(set, bm, true, err);
	if (r == 0)
		bm->enabled = enable;
	pthread_mutex_unlock(&set->lock);
	return r;
}

int qimg_bitmap_merge(struct qimg_node *node, const char *name,
		      struct qimg_node *src, const char *src_name,
		      struct qimg_error *err)
{
	struct qimg_bitmap_set *set = NULL, *sset = NULL;
	struct qimg_dirty_bitmap *bm, *sbm = NULL;
	int r;

	r = lookup(node, name, &set, &bm, err);
	if (r < 0)
		return r;
	/* Both sets locked: the source's after the destination's (the
	 * tool runs one merge at a time). */
	r = get_set(src, &sset, err);
	if (r == 0 && sset == set) {
		sbm = qimg_bitmap_set_find(set, src_name);
		sset = NULL;
	} else if (r == 0 && sset) {
		pthread_mutex_lock(&sset->lock);
		sbm = qimg_bitmap_set_find(sset, src_name);
	}
	if (r == 0 && !sbm)
		r = not_found(err, src_name);
	if (r == 0)
		r = usable(set, bm, false, err);
	if (r == 0)
		r = usable(sset ? sset : set, sbm, true, err);
	if (r == 0 && bm->size != sbm->size)
		r = qimg_error_set(
			err, EINVAL,
			"Bitmaps are of different sizes (destination "
			"size is %" PRIu64 ", source size is %" PRIu64
			") and can't be merged",
			bm->size, sbm->size);
	if (r == 0 && qimg_dbm_merge(bm, sbm) < 0)
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	if (sset)
		pthread_mutex_unlock(&sset->lock);
	pthread_mutex_unlock(&set->lock);
	return r;
}

int qimg_bitmap_status(struct qimg_node *node, const char *name, uint64_t off,
		       uint64_t len, bool *dirty, uint64_t *run,
		       struct qimg_error *err)
{
	struct qimg_bitmap_set *set;
	struct qimg_dirty_bitmap *bm;
	uint64_t bit, bits, end;
	int r;

	r = lookup(node, name, &set, &bm, err);
	if (r < 0)
		return r;
	r = usable(set, bm, true, err);
	if (r == 0) {
		bit = off >> bm->gran_bits;
		*dirty = off < bm->size && qimg_dbm_get(bm, bit);
		/* Bits in the range, the first one partly. */
		end = off + len;
		bits = ((end - 1) >> bm->gran_bits) - bit + 1;
		bits = qimg_dbm_run(bm, bit, bits);
		end = (bit + bits) << bm->gran_bits;
		*run = (end > off + len ? off + len : end) - off;
	}
	pthread_mutex_unlock(&set->lock);
	return r;
}
