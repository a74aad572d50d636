/* SPDX-License-Identifier: MIT */
/* The qcow2 node's runtime options, checked as QEMU 7.2 checks them when
 * it opens the image (after the header's own checks, before the data file
 * and the key): the metadata cache sizes and how they add up, the cache
 * clean interval, lazy refcounts, the overlap checks and the encryption
 * format.  qimg sizes its caches its own way (cache.c); the sizes given are
 * judged, not used. */

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"

#define MIN_ENTRY_SIZE 512u	 /* the smallest cluster */
#define MAX_L2_CACHE (32u << 20) /* QEMU's default ceiling on Linux */
#define MIN_REFCOUNT_CLUSTERS 4u /* the refcount cache's least */

struct cache_sizes {
	uint64_t l2, entry, refcount;
};

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* The L2, entry and refcount cache sizes the options give, in bytes; the
 * refusals of options that contradict each other. */
static int cache_sizes(const struct qcow2_state *s, const struct qimg_opts *o,
		       struct cache_sizes *c, struct qimg_error *err)
{
	/* The L2 cache that covers the whole disk, in whole clusters. */
	uint64_t entries = s->h.size / s->cluster_size +
			   (s->h.size % s->cluster_size != 0);
	uint64_t cover = entries * s->l2_entry_size;
	uint64_t cover_l2 = (cover + s->cluster_size - 1) / s->cluster_size *
			    s->cluster_size;
	uint64_t least_rc = MIN_REFCOUNT_CLUSTERS * s->cluster_size;
	bool has_all = qimg_opts_has(o, "cache-size");
	bool has_l2 = qimg_opts_has(o, "l2-cache-size");
	bool has_rc = qimg_opts_has(o, "refcount-cache-size");
	uint64_t all = qimg_opts_get_u64(o, "cache-size", 0);
	uint64_t l2_set = qimg_opts_get_u64(o, "l2-cache-size", MAX_L2_CACHE);

	c->refcount = qimg_opts_get_u64(o, "refcount-cache-size", 0);
	c->entry = qimg_opts_get_u64(o, "l2-cache-entry-size", s->cluster_size);
	c->l2 = cover_l2 < l2_set ? cover_l2 : l2_set;
	if (has_all) {
		if (has_l2 && has_rc)
			return qimg_error_set(err, EINVAL,
					      "cache-size, l2-cache-size and "
					      "refcount-cache-size may not be "
					      "set at the same time");
		if (has_l2 && l2_set > all)
			return qimg_error_set(err, EINVAL,
					      "l2-cache-size may not exceed "
					      "cache-size");
		if (c->refcount > all)
			return qimg_error_set(err, EINVAL,
					      "refcount-cache-size may not "
					      "exceed cache-size");
		if (has_l2) {
			c->refcount = all - c->l2;
		} else if (has_rc) {
			c->l2 = all - c->refcount;
		} else if (all >= cover_l2 + least_rc) {
			/* the L2 cache first, the rest for refcounts */
			c->l2 = cover_l2;
			c->refcount = all - c->l2;
		} else {
			c->refcount = all < least_rc ? all : least_rc;
			c->l2 = all - c->refcount;
		}
	}
	/* An L2 cache short of the disk holds smaller pieces of tables. */
	if (c->l2 < cover_l2 && !qimg_opts_has(o, "l2-cache-entry-size"))
		c->entry = s->cluster_size < 4096 ? s->cluster_size : 4096;
	if (c->entry < MIN_ENTRY_SIZE || c->entry > s->cluster_size ||
	    !is_pow2(c->entry))
		return qimg_error_set(err, EINVAL,
				      "L2 cache entry size must be a power of "
				      "two between %u and the cluster size "
				      "(%u)",
				      MIN_ENTRY_SIZE,
				      (unsigned)s->cluster_size);
	return 0;
}

static const char *const overlap_modes[] = { "none", "constant", "cached",
					     "all" };

static int check_overlap(const struct qimg_opts *o, struct qimg_error *err)
{
	const char *mode = qimg_opts_get_str(o, "overlap-check", NULL);
	const char *tmpl = qimg_opts_get_str(o, "overlap-check.template", NULL);
	size_t i;

	if (mode && tmpl && strcmp(mode, tmpl))
		return qimg_error_set(err, EINVAL,
				      "Conflicting values for qcow2 options "
				      "'overlap-check' ('%s') and "
				      "'overlap-check.template' ('%s')",
				      mode, tmpl);
	if (!mode)
		mode = tmpl ? tmpl : "cached";
	for (i = 0; i < sizeof(overlap_modes) / sizeof(overlap_modes[0]); i++)
		if (!strcmp(mode, overlap_modes[i]))
			return 0;
	return qimg_error_set(err, EINVAL,
			      "Unsupported value '%s' for qcow2 option "
			      "'overlap-check'. Allowed are any of the "
			      "following: none, constant, cached, all",
			      mode);
}

int qcow2_check_options(struct qcow2_state *s, const struct qimg_opts *o,
			struct qimg_error *err)
{
	struct cache_sizes c;
	bool lazy;
	int r;

	if (!o)
		return 0;
	r = cache_sizes(s, o, &c, err);
	if (r < 0)
		return r;
	/* in entries and clusters, as QEMU counts its caches */
	if (c.l2 / c.entry > INT_MAX)
		return qimg_error_set(err, EINVAL, "L2 cache size too big");
	if (c.refcount / s->cluster_size > INT_MAX)
		return qimg_error_set(err, EINVAL,
				      "Refcount cache size too big");
	if (qimg_opts_get_u64(o, "cache-clean-interval", 0) > UINT_MAX)
		return qimg_error_set(err, EINVAL,
				      "Cache clean interval too big");
	lazy = qimg_opts_get_bool(o, "lazy-refcounts",
				  s->h.compatible_features &
					  QCOW2_COMPAT_LAZY_REFCOUNTS);
	if (lazy && s->h.version < 3)
		return qimg_error_set(err, EINVAL,
				      "Lazy refcounts require a qcow2 image "
				      "with at least qemu 1.1 compatibility "
				      "level");
	r = check_overlap(o, err);
	if (r < 0)
		return r;
	return qcow2_crypt_check_format(
		s, qimg_opts_get_str(o, "encrypt.format", NULL), err);
}
