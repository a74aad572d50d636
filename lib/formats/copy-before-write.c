/* SPDX-License-Identifier: MIT */
/* The copy-before-write filter: before a write, zero write or discard
 * changes its source (the `file` child), the old contents of the clusters
 * it touches are copied to the `target` child, once each.  The target so
 * keeps what the source held when the node was opened (a backup's point
 * in time, "image fleecing" when the target is a qcow2 whose backing file
 * is the source); the snapshot-access driver reads that view back.
 *
 * A cluster here is the larger of 64 KiB and the target's cluster size.
 * A copy reads the source through its backing chain: what reads as zeros
 * for whole clusters is written to the target as zeros, the rest as data
 * (a partial cluster of data makes it data), as QEMU copies.  Options, as
 * QEMU's: `bitmap` (node and name of a dirty bitmap: only its dirty
 * clusters are copied, the others are not part of the snapshot),
 * `on-cbw-error` (break-guest-write: a failed copy fails the write;
 * break-snapshot: the write goes on and the snapshot is lost) and
 * `cbw-timeout` (seconds a copy may take before it counts as failed;
 * 0: no limit).
 *
 * Locking: I/O that changes the source and reads of the snapshot take the
 * lock shared; a copy takes it alone, so a cluster is never changed while
 * it is copied nor read from the source once it has been.  The copy state
 * lives only in memory: like QEMU's, the point in time ends with the
 * process, so a copy needs no flush before the write it protects.
 *
 * Differences on purpose: a target smaller than the source is refused at
 * open (QEMU 7.2 opens it and aborts on the first copy past its end). */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dirty-bitmap.h"
#include "core/driver.h"
#include "formats/copy-before-write.h"
#include "util/value-check.h"

#define CBW_MIN_CLUSTER 65536u
#define CBW_CHUNK                                                              \
	(1u << 20) /* largest copy through the buffer (or one
				* cluster, when that is larger) */

struct cbw_state {
	pthread_rwlock_t lock;
	struct qimg_node *target;
	uint64_t cs;	    /* copy granularity (a power of two) */
	uint32_t cs_bits;   /* log2(cs) */
	uint64_t snap_size; /* the source's size at open */
	/* One bit per cluster: in the target; not part of the snapshot. */
	struct qimg_dirty_bitmap *copied, *gone;
	bool break_snapshot;
	bool broken; /* a copy failed under break-snapshot */
	uint32_t timeout;
};

struct cbw_conf {
	bool break_snapshot;
	uint32_t timeout;
	const char *bm_node, *bm_name;
	char buf[3][32];
};

static const struct qimg_opt_desc cbw_runtime_opts[] = {
	{ "on-cbw-error", QIMG_OPT_STRING, NULL, NULL },
	{ "cbw-timeout", QIMG_OPT_STRING, NULL, NULL },
	{ "bitmap.node", QIMG_OPT_STRING, NULL, NULL },
	{ "bitmap.name", QIMG_OPT_STRING, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const cbw_children[] = { "target", NULL };
static const char *const cbw_strong_opts[] = { "bitmap.node", "bitmap.name",
					       NULL };

/* --- options ------------------------------------------------------------- */

static int missing(struct qimg_error *err, const char *name)
{
	return qimg_error_set(err, EINVAL, "Parameter '%s' is missing", name);
}

/* An unsigned 32-bit option, as QEMU's visit reads it. */
static int get_u32(const struct qimg_value *v, const char *name, uint32_t *out,
		   struct qimg_error *err)
{
	long long x;
	const char *s;
	char *end;

	if (qimg_value_type(v) == QIMG_VALUE_INT) {
		x = (long long)qimg_value_get_int(v);
	} else {
		s = qimg_value_type(v) == QIMG_VALUE_STR ? qimg_value_get_str(v)
							 : NULL;
		errno = 0;
		x = s ? strtoll(s, &end, 0) : 0;
		if (!s || errno || end == s || *end)
			return qimg_error_set(err, EINVAL,
					      "Parameter '%s' expects integer",
					      name);
	}
	if (x < 0 || x > (long long)UINT32_MAX)
		return qimg_error_set(err, EINVAL,
				      "Parameter '%s' expects uint32_t", name);
	*out = (uint32_t)x;
	return 0;
}

/* A node given by its options inside the record (the target, and the
 * nodes under it): each needs a known driver. */
static int visit_ref(const struct qimg_value *d, const char *path,
		     struct qimg_error *err)
{
	static const char *const refs[] = { "file", "backing", "data-file",
					    "log",  "image",   "test",
					    "raw",  NULL };
	const struct qimg_value *v;
	const char *const *k;
	char buf[32], sub[256];
	const char *s;
	int r;

	s = qimg_value_text(qimg_dict_get(d, "driver"), buf, false);
	if (!s) {
		snprintf(sub, sizeof(sub), "%s.driver", path);
		return missing(err, sub);
	}
	if (!qimg_driver_find(s))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'driver' does not accept "
				      "value '%s'",
				      s);
	for (k = refs; *k; k++) {
		v = qimg_dict_get(d, *k);
		if (!v || qimg_value_type(v) != QIMG_VALUE_DICT)
			continue;
		snprintf(sub, sizeof(sub), "%s.%s", path, *k);
		r = visit_ref(v, sub, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The options checked in the order QEMU's visit takes them: the target,
 * the bitmap, on-cbw-error, cbw-timeout (keys nobody takes are the core's,
 * named last). */
static int get_conf(const struct qimg_value *o, struct cbw_conf *c,
		    struct qimg_error *err)
{
	static const char *const bm_keys[] = { "node", "name", NULL };
	const struct qimg_value *t = qimg_dict_get(o, "target");
	const struct qimg_value *bm = qimg_dict_get(o, "bitmap");
	const struct qimg_value *v;
	const char *s;
	int r;

	memset(c, 0, sizeof(*c));
	if (!t)
		return missing(err, "target");
	if (qimg_value_type(t) == QIMG_VALUE_DICT) {
		r = visit_ref(t, "target", err);
		if (r < 0)
			return r;
	}
	if (bm) {
		if (qimg_value_type(bm) != QIMG_VALUE_DICT)
			return qimg_error_set(err, EINVAL,
					      "Invalid parameter type for "
					      "'bitmap', expected: object");
		c->bm_node = qimg_value_text(qimg_dict_get(bm, "node"),
					     c->buf[1], false);
		if (!c->bm_node)
			return missing(err, "bitmap.node");
		c->bm_name = qimg_value_text(qimg_dict_get(bm, "name"),
					     c->buf[2], false);
		if (!c->bm_name)
			return missing(err, "bitmap.name");
		r = qimg_dict_only_keys(bm, "bitmap", bm_keys, err);
		if (r < 0)
			return r;
	}
	v = qimg_dict_get(o, "on-cbw-error");
	if (v) {
		s = qimg_value_text(v, c->buf[0], false);
		if (s && !strcmp(s, "break-snapshot"))
			c->break_snapshot = true;
		else if (!s || strcmp(s, "break-guest-write"))
			return qimg_error_set(err, EINVAL,
					      "Parameter 'on-cbw-error' does "
					      "not accept value '%s'",
					      s ? s : "");
	}
	v = qimg_dict_get(o, "cbw-timeout");
	return v ? get_u32(v, "cbw-timeout", &c->timeout, err) : 0;
}

static int cbw_visit_opts(const struct qimg_value *o, struct qimg_error *err)
{
	struct cbw_conf c;

	return get_conf(o, &c, err);
}

/* --- the bitmap option ---------------------------------------------------- */

/* The node named `name` in the tree under (and including) n. */
static struct qimg_node *find_node(struct qimg_node *n, const char *name)
{
	struct qimg_node *f;
	size_t i;

	if (qimg_node_name(n) && !strcmp(qimg_node_name(n), name))
		return n;
	for (i = 0; i < n->nchildren; i++) {
		f = find_node(n->children[i].node, name);
		if (f)
			return f;
	}
	return NULL;
}

/* Clusters wholly clean in bm are not part of the snapshot. */
static int gone_from_bitmap(struct cbw_state *s,
			    const struct qimg_dirty_bitmap *bm)
{
	uint64_t nbits = qimg_dbm_bits(bm), bit = 0, n, a, b;
	uint64_t limit = s->snap_size < bm->size ? s->snap_size : bm->size;
	int r;

	while (bit < nbits) {
		n = qimg_dbm_run(bm, bit, nbits - bit);
		if (!qimg_dbm_get(bm, bit)) {
			/* Clean bytes [a, b): the clusters inside them. */
			a = bit << bm->gran_bits;
			b = (bit + n) << bm->gran_bits;
			if (b > limit)
				b = limit;
			a = (a + s->cs - 1) & ~(s->cs - 1);
			if (b < s->snap_size)
				b &= ~(s->cs - 1);
			if (a < b) {
				r = qimg_dbm_set(s->gone, a, b - a);
				if (r < 0)
					return r;
			}
		}
		bit += n;
	}
	/* Past the bitmap's end nothing is dirty. */
	if (bm->size < s->snap_size) {
		a = (bm->size + s->cs - 1) & ~(s->cs - 1);
		if (a < s->snap_size)
			return qimg_dbm_set(s->gone, a, s->snap_size - a);
	}
	return 0;
}

static int use_bitmap(struct qimg_node *node, const struct cbw_conf *c,
		      struct qimg_error *err)
{
	struct cbw_state *s = node->opaque;
	struct qimg_node *holder = find_node(node, c->bm_node);
	struct qimg_bitmap_set *set = NULL;
	struct qimg_dirty_bitmap *bm;
	int r;

	if (!holder)
		return qimg_error_set(err, ENOENT, "Node '%s' not found",
				      c->bm_node);
	if (holder->drv->bitmap) {
		r = holder->drv->bitmap->get(holder, &set, err);
		if (r < 0)
			return r;
	}
	if (!set)
		return qimg_error_set(
			err, ENOENT, "Dirty bitmap '%s' not found", c->bm_name);
	pthread_mutex_lock(&set->lock);
	bm = qimg_bitmap_set_find(set, c->bm_name);
	r = bm ? gone_from_bitmap(s, bm) : 1;
	pthread_mutex_unlock(&set->lock);
	if (r == 1)
		return qimg_error_set(
			err, ENOENT, "Dirty bitmap '%s' not found", c->bm_name);
	return r < 0 ? qimg_error_set(err, ENOMEM, "Out of memory") : 0;
}

/* --- open / close ---------------------------------------------------------- */

static void cbw_free(struct cbw_state *s)
{
	qimg_dbm_free(s->copied);
	qimg_dbm_free(s->gone);
	s->copied = s->gone = NULL;
}

static int cbw_open(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err)
{
	struct cbw_state *s = node->opaque;
	struct cbw_conf c;
	uint64_t tcs;
	int r;

	(void)opts;
	r = get_conf(node->options, &c, err);
	if (r < 0)
		return r;
	r = qimg_open_child(node, "target", NULL, 0, 0, &s->target, err);
	if (r < 0)
		return r;
	if (!(node->flags & QIMG_OPEN_RDWR) ||
	    !(s->target->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EPERM, "Block node is read-only");
	qimg_filter_inherit(node);
	s->snap_size = node->size;
	if (s->target->size < s->snap_size)
		return qimg_error_set(err, EINVAL,
				      "The copy-before-write target is "
				      "smaller (%" PRIu64
				      " bytes) than its source (%" PRIu64
				      " bytes)",
				      s->target->size, s->snap_size);
	tcs = s->target->cluster_size;
	s->cs = tcs > CBW_MIN_CLUSTER && !(tcs & (tcs - 1)) ? tcs
							    : CBW_MIN_CLUSTER;
	for (s->cs_bits = 0; (1ull << s->cs_bits) < s->cs; s->cs_bits++)
		;
	s->break_snapshot = c.break_snapshot;
	s->timeout = c.timeout;
	/* 2^12-byte chunks of bits: 2 GiB of a 64 KiB-cluster source each;
	 * a chunk is allocated only when a bit in it is set. */
	s->copied = qimg_dbm_new("copied", s->snap_size, s->cs_bits, 12);
	s->gone = qimg_dbm_new("gone", s->snap_size, s->cs_bits, 12);
	if (!s->copied || !s->gone) {
		cbw_free(s);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (c.bm_node) {
		r = use_bitmap(node, &c, err);
		if (r < 0) {
			cbw_free(s);
			return r;
		}
	}
	pthread_rwlock_init(&s->lock, NULL);
	return 0;
}

static void cbw_close(struct qimg_node *node)
{
	struct cbw_state *s = node->opaque;

	pthread_rwlock_destroy(&s->lock);
	cbw_free(s);
}

/* --- copies ----------------------------------------------------------------- */

static uint64_t nclusters(const struct cbw_state *s)
{
	return (s->snap_size + s->cs - 1) >> s->cs_bits;
}

/* Cluster k still has to go to the target (the lock held either way). */
static bool needs_copy(const struct cbw_state *s, uint64_t k)
{
	return !s->broken && k < nclusters(s) && !qimg_dbm_get(s->copied, k) &&
	       !qimg_dbm_get(s->gone, k);
}

/* The clusters [*a, *b) of [off, off+len) inside the snapshot. */
static void cluster_span(const struct cbw_state *s, uint64_t off, uint64_t len,
			 uint64_t *a, uint64_t *b)
{
	uint64_t end = off + len;

	if (end > s->snap_size)
		end = s->snap_size;
	*a = off >> s->cs_bits;
	*b = off < end ? (end + s->cs - 1) >> s->cs_bits : *a;
}

static bool range_needs_copy(const struct cbw_state *s, uint64_t off,
			     uint64_t len)
{
	uint64_t k, b;

	cluster_span(s, off, len, &k, &b);
	for (; k < b; k++)
		if (needs_copy(s, k))
			return true;
	return false;
}

/* The copy buffer: whole clusters, so that a cluster is marked copied
 * only once all of it is. */
static size_t chunk_len(const struct cbw_state *s)
{
	return s->cs > CBW_CHUNK ? (size_t)s->cs : CBW_CHUNK;
}

/* Copy the source's bytes [pos, end) (whole clusters, or to the end of the
 * snapshot) to the target, zeros as zeros; the lock held alone. */
static int copy_span(struct cbw_state *s, struct qimg_node *src, uint64_t pos,
		     uint64_t end, uint8_t *buf, struct qimg_error *err)
{
	struct qimg_extent ext;
	uint64_t got, n;
	int r;

	while (pos < end) {
		r = qimg_block_status_above(src, NULL, pos, end - pos, &ext,
					    err);
		if (r < 0)
			return r;
		got = ext.len ? ext.len : end - pos;
		n = pos + got < end ? got & ~(s->cs - 1) : got;
		if ((ext.flags & QIMG_BS_ZERO) && n) {
			r = qimg_write_zeroes(s->target, pos, n, 0, err);
		} else {
			/* Data (or zeros for less than a cluster): whole
			 * clusters of it, through the buffer. */
			n = (got + s->cs - 1) & ~(s->cs - 1);
			if (n > chunk_len(s))
				n = chunk_len(s);
			if (n > end - pos)
				n = end - pos;
			r = qimg_pread(src, pos, buf, (size_t)n, err);
			if (r == 0)
				r = qimg_pwrite(s->target, pos, buf, (size_t)n,
						err);
		}
		if (r < 0)
			return r;
		r = qimg_dbm_set(s->copied, pos, n);
		if (r < 0)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		pos += n;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Copy what [off, off+len) still needs copied; the lock held alone. */
static int copy_needed(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_error *err)
{
	struct cbw_state *s = node->opaque;
	uint64_t k, b, e;
	uint8_t *buf;
	double t0 = now_s();
	int r = 0;

	buf = malloc(chunk_len(s));
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	cluster_span(s, off, len, &k, &b);
	while (r == 0 && k < b) {
		if (!needs_copy(s, k)) {
			k++;
			continue;
		}
		for (e = k + 1; e < b && needs_copy(s, e); e++)
			;
		r = copy_span(s, node->file, k << s->cs_bits,
			      e << s->cs_bits < s->snap_size ? e << s->cs_bits
							     : s->snap_size,
			      buf, err);
		k = e;
	}
	free(buf);
	if (r == 0 && s->timeout && now_s() - t0 > (double)s->timeout)
		r = qimg_error_set(err, ETIMEDOUT,
				   "copy-before-write operation timed out");
	if (r < 0 && s->break_snapshot) {
		/* The write goes on; the snapshot is lost. */
		s->broken = true;
		qimg_error_clear(err);
		r = 0;
	}
	return r;
}

/* Make [off, off+len) safe to change: on success the lock is held shared
 * and every cluster of the range is in the target (or not needed). */
static int before_write(struct qimg_node *node, uint64_t off, uint64_t len,
			struct qimg_error *err)
{
	struct cbw_state *s = node->opaque;
	int r;

	for (;;) {
		pthread_rwlock_rdlock(&s->lock);
		if (!range_needs_copy(s, off, len))
			return 0;
		pthread_rwlock_unlock(&s->lock);
		pthread_rwlock_wrlock(&s->lock);
		r = copy_needed(node, off, len, err);
		pthread_rwlock_unlock(&s->lock);
		if (r < 0)
			return r;
	}
}

/* --- guest I/O ------------------------------------------------------------------ */

static int cbw_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	return qimg_pread(node->file, off, buf, len, err);
}

static int cbw_write(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err)
{
	struct cbw_state *s = node->opaque;
	int r = before_write(node, off, len, err);

	if (r < 0)
		return r;
	r = qimg_pwrite(node->file, off, buf, len, err);
	pthread_rwlock_unlock(&s->lock);
	return r;
}

static int cbw_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			    unsigned int flags, struct qimg_error *err)
{
	struct cbw_state *s = node->opaque;
	int r = before_write(node, off, len, err);

	if (r < 0)
		return r;
	r = qimg_write_zeroes(node->file, off, len,
			      flags | QIMG_ZERO_NO_FALLBACK, err);
	pthread_rwlock_unlock(&s->lock);
	return r;
}

static int cbw_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_error *err)
{
	struct cbw_state *s = node->opaque;
	int r = before_write(node, off, len, err);

	if (r < 0)
		return r;
	r = qimg_discard(node->file, off, len, err);
	pthread_rwlock_unlock(&s->lock);
	return r;
}

static int cbw_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			const char *prealloc, struct qimg_error *err)
{
	struct cbw_state *s = node->opaque;
	int r;

	/* The snapshot keeps its size: what a shrink drops is not copied
	 * (as in QEMU), what a growth adds is not part of it. */
	pthread_rwlock_wrlock(&s->lock);
	r = qimg_filter_truncate(node, size, flags, prealloc, err);
	pthread_rwlock_unlock(&s->lock);
	return r;
}

/* --- the snapshot ------------------------------------------------------------ */

bool qimg_cbw_is(const struct qimg_node *node)
{
	return node && node->drv == &qimg_driver_copy_before_write;
}

uint64_t qimg_cbw_snap_size(const struct qimg_node *cbw)
{
	const struct cbw_state *s = cbw->opaque;

	return s->snap_size;
}

enum snap_where {
	SNAP_SOURCE,
	SNAP_TARGET,
	SNAP_GONE
};

static enum snap_where where(const struct cbw_state *s, uint64_t k)
{
	if (s->broken || qimg_dbm_get(s->gone, k))
		return SNAP_GONE;
	return qimg_dbm_get(s->copied, k) ? SNAP_TARGET : SNAP_SOURCE;
}

/* How many bytes from off (< off+len) are in the same place as off. */
static uint64_t same_place(const struct cbw_state *s, uint64_t off,
			   uint64_t len, enum snap_where *w)
{
	uint64_t k = off >> s->cs_bits, end = off + len, pos;

	*w = where(s, k);
	pos = (k + 1) << s->cs_bits;
	while (pos < end && where(s, pos >> s->cs_bits) == *w)
		pos += s->cs;
	return (pos < end ? pos : end) - off;
}

static int gone_error(struct qimg_error *err)
{
	return qimg_error_set(err, EACCES, "Permission denied");
}

int qimg_cbw_snap_read(struct qimg_node *cbw, uint64_t off, void *buf,
		       size_t len, struct qimg_error *err)
{
	struct cbw_state *s = cbw->opaque;
	enum snap_where w;
	uint64_t n;
	int r = 0;

	pthread_rwlock_rdlock(&s->lock);
	while (r == 0 && len > 0) {
		n = same_place(s, off, len, &w);
		if (w == SNAP_GONE)
			r = gone_error(err);
		else
			r = qimg_pread(w == SNAP_TARGET ? s->target : cbw->file,
				       off, buf, (size_t)n, err);
		off += n;
		buf = (uint8_t *)buf + n;
		len -= (size_t)n;
	}
	pthread_rwlock_unlock(&s->lock);
	return r;
}

int qimg_cbw_snap_status(struct qimg_node *cbw, uint64_t off, uint64_t len,
			 struct qimg_extent *ext, struct qimg_error *err)
{
	struct cbw_state *s = cbw->opaque;
	enum snap_where w;

	pthread_rwlock_rdlock(&s->lock);
	ext->len = same_place(s, off, len, &w);
	pthread_rwlock_unlock(&s->lock);
	if (w == SNAP_GONE)
		return gone_error(err);
	ext->flags = QIMG_BS_RAW | QIMG_BS_OFFSET_VALID;
	ext->map = off;
	ext->file = w == SNAP_TARGET ? s->target : cbw->file;
	return 0;
}

int qimg_cbw_snap_discard(struct qimg_node *cbw, uint64_t off, uint64_t len,
			  struct qimg_error *err)
{
	struct cbw_state *s = cbw->opaque;
	uint64_t a = (off + s->cs - 1) & ~(s->cs - 1), b = off + len;
	int r = 0;

	/* Whole clusters only (QEMU 7.2 aborts on a partial one); the last,
	 * partial cluster of the snapshot counts as whole. */
	if (b < s->snap_size)
		b &= ~(s->cs - 1);
	pthread_rwlock_wrlock(&s->lock);
	if (a < b && qimg_dbm_set(s->gone, a, b - a) < 0)
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	pthread_rwlock_unlock(&s->lock);
	return r;
}

const struct qimg_driver qimg_driver_copy_before_write = {
	.name = "copy-before-write",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct cbw_state),
	.runtime_opts = cbw_runtime_opts,
	.typed_opts = true,
	.visit_opts = cbw_visit_opts,
	.strong_opts = cbw_strong_opts,
	.child_roles = cbw_children,
	.open = cbw_open,
	.close = cbw_close,
	.read = cbw_read,
	.write = cbw_write,
	.write_zeroes = cbw_write_zeroes,
	.discard = cbw_discard,
	.flush = qimg_filter_flush,
	.block_status = qimg_filter_block_status,
	.truncate = cbw_truncate,
	.get_info = qimg_filter_get_info,
	.is_filter = true,
	.commit_conflict = QIMG_PERM_WRITE,
};
