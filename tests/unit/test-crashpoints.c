/* SPDX-License-Identifier: MIT */
/* Crash consistency at every write, deterministically.  A protocol filter
 * ("cut") sits between the qcow2 driver and the file: it lets the first K
 * mutations of the file through and fails every later one.  The K+1th may
 * land in part, cut at a page boundary, as a write interrupted by SIGKILL
 * does.  What the file then holds is what a writer killed at that moment
 * leaves behind.
 *
 * Each workload (create, then a seeded series of writes, zero writes,
 * discards and compressed writes, then close) is run once to count its
 * mutations, then again for each cut point (all of them, or an even sample
 * of CRASH_POINTS when there are more; CRASH_SEED=n varies the requests).  For every point:
 *   - `qemu-img check` finds no corruption (exit 0, or 3: leaks only); a
 *     file cut during create may also be no qcow2 image at all;
 *   - every 512-byte sector reads (through qemu-img convert) as the
 *     requests that completed left it, except the sectors of the request
 *     in flight, which read as before or as after it.
 * Skips when qemu-img is not installed.
 *
 * CRASH_MODE=power cuts the power instead (as SQLite's crash tests do):
 * the cutter holds the writes since the last flush as the page cache
 * would, and at the cut applies a seeded random subset of them, in a
 * random order, each maybe torn at a sector boundary; what was flushed
 * stays.  In both modes the workloads flush after each request (a guest's
 * flush: what was not flushed may be lost), so the same judging holds.
 * CRASH_MODE=kill runs the first kind only; unset, both run.  Under
 * QIMG_QUICK=1 (make check) the two kinds share the sample: kill judges
 * every other point of it, power the rest, and both the last.
 *
 * To look into a failure: CRASH_ONLY=test_NAME runs one workload,
 * CRASH_TRACE=1 prints its mutations and flushes (the counting run),
 * CRASH_KEEP=PATH keeps a copy of the image that failed the check; the
 * ops up to the one in flight are printed with the failure. */

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/driver.h"
#include "core/node.h"
#include "qimg/amend.h"
#include "qimg/bitmap.h"
#include "qimg/check.h"
#include "qimg/commit.h"
#include "qimg/create.h"
#include "qimg/image.h"
#include "qimg/object.h"

#define SECTOR 512u
#define PAGE 4096u
#define IMG_SIZE (4u << 20)
#define BACKING_SIZE (3u << 20) /* shorter than the image on purpose */

static char dir[] = "/tmp/qimg-test-crash-XXXXXX";

/* ---- the cut filter ---- */

/* A write the page cache holds: not yet on the disk. */
struct pending {
	uint64_t off;
	size_t len;
	uint8_t *data;
};

struct cutter {
	long left;	      /* mutations still allowed whole; -1: no cut */
	bool power;	      /* power loss: unflushed writes may be lost */
	unsigned int rng;     /* seeds the power cut's choices */
	struct pending *pend; /* power: writes since the last flush */
	size_t npend, cappend;
	long flushes;	   /* flushes of the file asked for */
	bool partial;	   /* the cut write lands its first page */
	bool fired;	   /* the cut happened: everything fails now */
	long seen;	   /* mutations asked for so far */
	long nbig;	   /* of those, writes longer than their first page */
	long at_close;	   /* `seen` when the image was about to be closed */
	uint8_t big[4096]; /* bit per mutation index: a "big" write */
};

struct cut_state {
	struct qimg_node *inner;
	struct cutter *ctl;
};

/* 1: this mutation is the cut; 0: let it through; <0: already cut. */
static int gate(struct qimg_node *node, bool big, struct qimg_error *err)
{
	struct cut_state *s = node->opaque;
	struct cutter *c = s->ctl;
	long i = c->seen++;

	if (big && i < (long)sizeof(c->big) * 8) {
		c->big[i / 8] |= (uint8_t)(1u << (i % 8));
		c->nbig++;
	}
	if (c->fired)
		return qimg_error_set(err, EIO, "cut: writer is dead");
	if (c->left < 0)
		return 0;
	if (c->left > 0) {
		c->left--;
		return 0;
	}
	c->fired = true;
	return 1;
}

static uint32_t prng(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* CRASH_MODE=power: cutters made now lose power instead of being killed. */
static bool power_mode(void)
{
	const char *m = getenv("CRASH_MODE");

	return m && !strcmp(m, "power");
}

/* A cutter at mutation `left` (-1: none); `partial`: the cut write lands
 * in part.  In power mode `left` also seeds the choices. */
static void cutter_init(struct cutter *c, long left, bool partial)
{
	const char *env = getenv("CRASH_SEED");

	memset(c, 0, sizeof(*c));
	c->left = left;
	c->partial = partial;
	c->power = power_mode();
	c->rng = (unsigned int)(left * 2654435761u) + (partial ? 7u : 0u) +
		 (env ? (unsigned int)atoi(env) * 40503u : 0u);
}

static void pend_free(struct cutter *c)
{
	size_t i;

	for (i = 0; i < c->npend; i++)
		free(c->pend[i].data);
	free(c->pend);
	c->pend = NULL;
	c->npend = c->cappend = 0;
}

/* Hold a write (data NULL: zeros) in the page cache. */
static void pend_add(struct cutter *c, uint64_t off, const void *data,
		     size_t len)
{
	struct pending *p;

	if (c->npend == c->cappend) {
		c->cappend = c->cappend ? 2 * c->cappend : 64;
		c->pend = realloc(c->pend, c->cappend * sizeof(*c->pend));
		assert_non_null(c->pend);
	}
	p = &c->pend[c->npend++];
	p->off = off;
	p->len = len;
	p->data = data ? malloc(len) : calloc(1, len);
	assert_non_null(p->data);
	if (data)
		memcpy(p->data, data, len);
}

static int pend_apply(struct qimg_node *inner, const struct pending *p,
		      size_t from, size_t to)
{
	struct qimg_error err = { 0 };

	if (from >= to)
		return 0;
	return qimg_pwrite(inner, p->off + from, p->data + from, to - from,
			   &err);
}

/* The page cache reaches the disk, in order (a flush, or a clean exit). */
static int pend_writeback(struct cut_state *s)
{
	struct cutter *c = s->ctl;
	size_t i;
	int r = 0;

	for (i = 0; i < c->npend && r == 0; i++)
		r = pend_apply(s->inner, &c->pend[i], 0, c->pend[i].len);
	pend_free(c);
	return r;
}

/* The power goes: a random subset of the held writes reaches the disk, in
 * a random order, each maybe only up to or from a sector boundary. */
static void power_cut(struct cut_state *s)
{
	struct cutter *c = s->ctl;
	size_t n = c->npend, i, *order = malloc((n + 1) * sizeof(size_t));

	assert_non_null(order);
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n; i > 1; i--) {
		size_t j = prng(&c->rng) % i, t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	for (i = 0; i < n; i++) {
		const struct pending *p = &c->pend[order[i]];
		uint32_t how = prng(&c->rng) % 6;
		uint64_t first = (p->off + SECTOR) & ~(uint64_t)(SECTOR - 1);
		uint64_t last = (p->off + p->len - 1) & ~(uint64_t)(SECTOR - 1);
		uint64_t at = p->off;

		if (how < 3)
			continue; /* lost */
		if (how == 3 || last < first) {
			(void)pend_apply(s->inner, p, 0, p->len);
			continue;
		}
		/* torn at a sector boundary inside the write */
		at = first +
		     (uint64_t)(prng(&c->rng) % ((last - first) / SECTOR + 1)) *
			     SECTOR;
		if (how == 4)
			(void)pend_apply(s->inner, p, 0, at - p->off);
		else
			(void)pend_apply(s->inner, p, at - p->off, p->len);
	}
	free(order);
	pend_free(c);
}

static int cut_open(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err)
{
	struct cut_state *s = node->opaque;
	int r;

	(void)opts;
	r = qimg_protocol_open(node->filename, node->flags, node->cache,
			       &s->inner, err);
	if (r < 0)
		return r;
	node->size = s->inner->size;
	node->limits = s->inner->limits;
	node->zero_init = s->inner->zero_init;
	return 0;
}

static void cut_close(struct qimg_node *node)
{
	struct cut_state *s = node->opaque;

	if (s->ctl->power && !s->ctl->fired)
		(void)pend_writeback(s); /* a clean exit: written back later */
	pend_free(s->ctl);
	qimg_protocol_close(s->inner);
	s->inner = NULL;
}

static int cut_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct cut_state *s = node->opaque;
	struct cutter *c = s->ctl;
	int64_t isz;
	size_t i;
	int r;

	if (!c->power || !c->npend)
		return qimg_pread(s->inner, off, buf, len, err);
	/* the disk, under the page cache */
	memset(buf, 0, len);
	isz = s->inner->drv->length(s->inner);
	if (isz > 0 && off < (uint64_t)isz) {
		size_t n =
			off + len <= (uint64_t)isz ? len : (size_t)(isz - off);

		r = qimg_pread(s->inner, off, buf, n, err);
		if (r < 0)
			return r;
	}
	for (i = 0; i < c->npend; i++) {
		const struct pending *p = &c->pend[i];
		uint64_t a = p->off > off ? p->off : off;
		uint64_t z = p->off + p->len < off + len ? p->off + p->len
							 : off + len;

		if (a < z)
			memcpy((uint8_t *)buf + (a - off),
			       p->data + (a - p->off), z - a);
	}
	return 0;
}

static int cut_write(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err)
{
	struct cut_state *s = node->opaque;
	size_t first = PAGE - off % PAGE;
	int r = gate(node, len > first, err);

	if (getenv("CRASH_TRACE") && s->ctl->left < 0)
		fprintf(stderr, "mutation %ld: write %llu+%zu\n",
			s->ctl->seen - 1, (unsigned long long)off, len);
	if (r < 0)
		return r;
	if (s->ctl->power) {
		pend_add(s->ctl, off, buf, len);
		if (r == 0)
			return 0;
		power_cut(s);
		return qimg_error_set(err, EIO, "cut: power lost");
	}
	if (r == 0)
		return qimg_pwrite(s->inner, off, buf, len, err);
	if (s->ctl->partial && len > first)
		(void)qimg_pwrite(s->inner, off, buf, first, NULL);
	return qimg_error_set(err, EIO, "cut: killed during a write");
}

static int cut_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			    unsigned int flags, struct qimg_error *err)
{
	struct cut_state *s = node->opaque;
	int r = gate(node, false, err);

	if (r > 0 && s->ctl->power)
		power_cut(s);
	if (r)
		return r < 0 ? r : qimg_error_set(err, EIO, "cut");
	if (s->ctl->power && len <= (64u << 20)) {
		pend_add(s->ctl, off, NULL, len);
		return 0;
	}
	if (!s->inner->drv->write_zeroes)
		return qimg_error_set(err, ENOTSUP, "no write_zeroes");
	return s->inner->drv->write_zeroes(s->inner, off, len, flags, err);
}

static int cut_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_error *err)
{
	struct cut_state *s = node->opaque;
	int r = gate(node, false, err);

	if (r > 0 && s->ctl->power)
		power_cut(s);
	if (r)
		return r < 0 ? r : qimg_error_set(err, EIO, "cut");
	if (s->ctl->power && len <= (64u << 20)) {
		pend_add(s->ctl, off, NULL, len);
		return 0;
	}
	if (!s->inner->drv->discard)
		return 0;
	return s->inner->drv->discard(s->inner, off, len, err);
}

static int cut_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			const char *prealloc, struct qimg_error *err)
{
	struct cut_state *s = node->opaque;
	int r = gate(node, false, err);

	if (r > 0 && s->ctl->power)
		power_cut(s);
	if (r)
		return r < 0 ? r : qimg_error_set(err, EIO, "cut");
	/* power: the size change is the file system's journal, taken as
	 * durable at once; held writes stay held */
	r = qimg_truncate(s->inner, size, flags, prealloc, err);
	if (r == 0)
		node->size = s->inner->size;
	return r;
}

static int cut_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct cut_state *s = node->opaque;

	int r;

	if (s->ctl->fired)
		return qimg_error_set(err, EIO, "cut: writer is dead");
	if (getenv("CRASH_TRACE") && s->ctl->left < 0)
		fprintf(stderr, "flush after mutation %ld\n", s->ctl->seen - 1);
	s->ctl->flushes++;
	if (s->ctl->power) {
		r = pend_writeback(s);
		if (r < 0)
			return qimg_error_set(err, -r, "cut: write-back");
	}
	return qimg_flush(s->inner, err);
}

static int cut_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_extent *ext, struct qimg_error *err)
{
	struct cut_state *s = node->opaque;

	return s->inner->drv->block_status(s->inner, off, len, ext, err);
}

static int64_t cut_allocated_size(struct qimg_node *node)
{
	struct cut_state *s = node->opaque;

	return s->inner->drv->allocated_size(s->inner);
}

static int64_t cut_length(struct qimg_node *node)
{
	struct cut_state *s = node->opaque;
	int64_t l = s->inner->drv->length(s->inner);
	size_t i;

	for (i = 0; s->ctl->power && l >= 0 && i < s->ctl->npend; i++)
		if ((int64_t)(s->ctl->pend[i].off + s->ctl->pend[i].len) > l)
			l = (int64_t)(s->ctl->pend[i].off +
				      s->ctl->pend[i].len);
	return l;
}

static const struct qimg_driver cut_driver = {
	.name = "cut",
	.kind = QIMG_DRIVER_PROTOCOL,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct cut_state),
	.open = cut_open,
	.close = cut_close,
	.read = cut_read,
	.write = cut_write,
	.write_zeroes = cut_write_zeroes,
	.discard = cut_discard,
	.flush = cut_flush,
	.block_status = cut_block_status,
	.truncate = cut_truncate,
	.allocated_size = cut_allocated_size,
	.length = cut_length,
};

static struct qimg_node *cut_node(const char *path, struct cutter *ctl)
{
	struct qimg_node *n = qimg_node_new(&cut_driver, path, QIMG_OPEN_RDWR,
					    QIMG_CACHE_WRITEBACK);
	struct qimg_error err = { 0 };

	assert_non_null(n);
	((struct cut_state *)n->opaque)->ctl = ctl;
	if (cut_open(n, NULL, &err) < 0) {
		fprintf(stderr, "cut open %s: %s\n", path, err.msg);
		fail();
	}
	return n;
}

/* ---- workloads ---- */

enum op_kind {
	OP_WRITE,
	OP_ZERO,
	OP_DISCARD,
	OP_COMPRESSED,
	OP_NKINDS
};

struct workload {
	const char *name;
	const char *format; /* NULL: qcow2 */
	const char *opts;   /* create options besides size and backing */
	bool backing;
	bool compress; /* some requests are compressed writes */
	bool writes_only;
	bool lazy; /* lazy refcounts: the image must be repairable */
	/* vdi: a header counting more blocks than the map uses (qemu-img
	 * check's "allocated blocks mismatch, is X, should be Y" with
	 * Y > X) is an unused block, a leak; the other way is corruption */
	bool count_leak;
	/* parallels: "image was not closed correctly" (the in-use mark a
	 * writer leaves) is what qemu-img check -r repairs and its only
	 * allowed error; judged after that repair */
	bool unclean;
	/* Encrypted: the open option that names the secret ("key-secret",
	 * "encrypt.key-secret"); its create options name secret "cs".  The
	 * image is created once, uncut (the key derivation's calibration
	 * takes half a second), and each cut run starts from a copy. */
	const char *secret_opt;
	uint32_t maxlen; /* longest request (0: 3 clusters, at least 8 KiB) */
	long points;	 /* most cut points judged (0: CRASH_POINTS, or 90) */
	bool every;	 /* every cut point, whatever CRASH_POINTS says */
	int nops;
	unsigned int seed;
};

struct op {
	enum op_kind kind;
	uint64_t off, len;
};

static uint32_t rnd(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void make_ops(const struct workload *w, uint32_t cluster, struct op *ops)
{
	const char *env = getenv("CRASH_SEED");
	unsigned int seed = w->seed + (env ? (unsigned int)atoi(env) : 0);
	uint64_t zone = IMG_SIZE / 8 * 7; /* compressed writes only */
	uint32_t maxlen =
		w->maxlen ? w->maxlen : 3 * (cluster > 8192 ? cluster : 8192);
	int i, nc = 0;

	for (i = 0; i < w->nops; i++) {
		struct op *o = &ops[i];
		uint32_t k = rnd(&seed) % 10;

		o->kind = k < 6 || w->writes_only ? OP_WRITE
			  : k < 8		  ? OP_ZERO
						  : OP_DISCARD;
		/* a compressed write cannot overwrite: each goes to a fresh
		 * cluster of the last eighth, which nothing else touches */
		if (k == 9 && rnd(&seed) % 2 && w->compress &&
		    zone + (uint64_t)(nc + 1) * cluster <= IMG_SIZE) {
			o->kind = OP_COMPRESSED;
			o->off = zone + (uint64_t)nc++ * cluster;
			o->len = cluster;
			continue;
		}
		/* sector granularity, runs of up to 3 clusters (at least
		 * 8 KiB), clustered near a few hot spots so that requests
		 * meet already-allocated clusters */
		o->off = (uint64_t)(rnd(&seed) % (zone / SECTOR)) * SECTOR;
		if (rnd(&seed) % 2)
			o->off = (uint64_t)(rnd(&seed) % 4) * (zone / 4) +
				 (uint64_t)(rnd(&seed) % 64) * SECTOR;
		o->len =
			(uint64_t)(1 + rnd(&seed) % (maxlen / SECTOR)) * SECTOR;
		if (o->off + o->len > zone)
			o->len = zone - o->off;
	}
}

/* The pattern of sector `sec` as written by op `i`: never all zero. */
static void stamp(uint8_t *buf, uint64_t off, uint64_t len, int i)
{
	uint64_t p;

	for (p = 0; p < len; p += SECTOR) {
		memset(buf + p, 0x40 + (i % 64), SECTOR);
		snprintf((char *)buf + p, 40, "op %d sector %llu", i,
			 (unsigned long long)((off + p) / SECTOR));
	}
}

struct outcome {
	int phase;	 /* 0 create, 1 open, 2 ops, 3 close, 4 all done */
	int inflight;	 /* op index when phase == 2 */
	uint8_t *before; /* image content before the op in flight */
	uint8_t *after;	 /* content after it, as far as known */
};

static void fill_backing(uint8_t *back)
{
	uint64_t p;

	for (p = 0; p < BACKING_SIZE; p += SECTOR) {
		memset(back + p, 0xb0 + (int)((p / SECTOR) % 16), SECTOR);
		snprintf((char *)back + p, 40, "backing sector %llu",
			 (unsigned long long)(p / SECTOR));
	}
}

/* The content after op `o` (number i) from `cur`; for a discard the
 * result depends on the format (zeros, backing data, or unchanged): *after
 * is then filled by reading the image back when the op completes, and
 * `alt` (zeros) is the other allowed outcome while it is in flight. */
static void apply(const struct op *o, int i, uint8_t *img)
{
	if (o->kind == OP_WRITE || o->kind == OP_COMPRESSED)
		stamp(img + o->off, o->off, o->len, i);
	else if (o->kind == OP_ZERO)
		memset(img + o->off, 0, o->len);
}

static int do_op(struct qimg_node *n, const struct op *o, int i,
		 struct qimg_error *err)
{
	uint8_t *buf;
	int r;

	switch (o->kind) {
	case OP_ZERO:
		return qimg_write_zeroes(n, o->off, o->len, QIMG_ZERO_MAY_UNMAP,
					 err);
	case OP_DISCARD:
		return qimg_discard(n, o->off, o->len, err);
	default:
		break;
	}
	buf = malloc(o->len);
	assert_non_null(buf);
	stamp(buf, o->off, o->len, i);
	if (o->kind == OP_COMPRESSED)
		r = qimg_write_compressed(n, o->off, buf, o->len, err);
	else
		r = qimg_write(n, o->off, buf, o->len, err);
	free(buf);
	return r;
}

static const struct qimg_driver *qcow2(void)
{
	const struct qimg_driver *d = qimg_driver_find("qcow2");

	assert_non_null(d);
	return d;
}

static const char *fmt_of(const struct workload *w)
{
	return w->format ? w->format : "qcow2";
}

static const struct qimg_driver *driver_of(const struct workload *w)
{
	const struct qimg_driver *d = qimg_driver_find(fmt_of(w));

	assert_non_null(d);
	return d;
}

/* The secrets the encrypted workloads use (the test's objects table,
 * made once for the process). */
#define CRASH_SECRETS "secret,id=cs,data=crash-pass"
#define CRASH_SECRET2 "secret,id=cs2,data=other-pass"

static const struct qimg_objects *crash_objects(void)
{
	static struct qimg_objects *t;
	struct qimg_error err = { 0 };

	if (!t) {
		t = qimg_objects_new();
		assert_non_null(t);
		assert_int_equal(qimg_objects_add(t, CRASH_SECRETS, &err), 0);
		assert_int_equal(qimg_objects_add(t, CRASH_SECRET2, &err), 0);
	}
	return t;
}

/* Open img as `fmt` (QIMG_OPEN_* flags) over a cutter with the secret
 * `key` (NULL: none) named by option `secret_opt`: the node, or NULL when
 * the cut came during the open. */
static struct qimg_node *open_cut_enc(const char *img, const char *fmt,
				      const char *secret_opt, const char *key,
				      unsigned int flags, struct cutter *ctl)
{
	struct qimg_error err = { 0 };
	struct qimg_value *tree = NULL;
	struct qimg_node *n;
	char text[256];
	int r;

	if (secret_opt && key)
		snprintf(text, sizeof(text), "driver=%s,%s=%s", fmt, secret_opt,
			 key);
	else
		snprintf(text, sizeof(text), "driver=%s", fmt);
	assert_int_equal(qimg_options_parse(text, &tree, &err), 0);
	r = qimg_open_over_opts(cut_node(img, ctl), tree, crash_objects(),
				flags, &n, &err);
	qimg_value_free(tree);
	if (r < 0 && !ctl->fired) {
		fprintf(stderr, "open %s: %s\n", img, err.msg);
		fail();
	}
	return r < 0 ? NULL : n;
}

/* The qemu-img arguments that name workload w's image (with the secret
 * for an encrypted one). */
static const char *img_spec(const struct workload *w, const char *img,
			    char *buf, size_t len)
{
	if (w->secret_opt)
		snprintf(buf, len,
			 "--object " CRASH_SECRETS " --image-opts "
			 "'driver=%s,%s=cs,file.filename=%s'",
			 w->format, w->secret_opt, img);
	else
		snprintf(buf, len, "-f %s '%s'",
			 w->format ? w->format : "qcow2", img);
	return buf;
}

static void copy_file(const char *from, const char *to);

/* Run workload `w` into `img` through a cutter; fill `out`. */
static void run(const struct workload *w, const char *img, const char *base,
		struct cutter *ctl, const uint8_t *back, struct outcome *out)
{
	const struct qimg_driver *drv = driver_of(w);
	const struct qimg_opt_desc *schemas[2] = { drv->create_opts, NULL };
	struct qimg_opts o = { 0 };
	struct qimg_error err = { 0 };
	struct qimg_node *file, *n;
	struct op ops[256];
	char size[32];
	int fd, i, r;

	assert_true(w->nops <= 256);
	memset(out->before, 0, IMG_SIZE);
	if (back)
		memcpy(out->before, back, BACKING_SIZE);
	memcpy(out->after, out->before, IMG_SIZE);
	out->inflight = -1;

	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);

	/* create (an encrypted image: once, then copied) */
	out->phase = 0;
	if (w->secret_opt) {
		char tmpl[300];
		struct stat st;

		snprintf(tmpl, sizeof(tmpl), "%s.template", img);
		if (stat(tmpl, &st) == 0) {
			copy_file(tmpl, img);
			goto created;
		}
	}
	snprintf(size, sizeof(size), "%u", IMG_SIZE);
	assert_int_equal(qimg_opts_parse(&o, w->opts, &err), 0);
	assert_int_equal(qimg_opts_set(&o, "size", size), 0);
	if (base) {
		assert_int_equal(qimg_opts_set(&o, "backing_file", base), 0);
		assert_int_equal(qimg_opts_set(&o, "backing_fmt", "raw"), 0);
	}
	if (qimg_opts_validate(&o, schemas, &err) < 0) {
		fprintf(stderr, "%s: %s\n", w->opts, err.msg);
		fail();
	}
	file = cut_node(img, ctl);
	file->objects = crash_objects();
	r = drv->create(file, &o, &err);
	qimg_opts_free(&o);
	qimg_protocol_close(file);
	if (r < 0 && !ctl->fired) {
		fprintf(stderr, "%s: create: %s\n", w->name, err.msg);
		fail();
	}
	if (r < 0 || ctl->fired)
		return;
	if (w->secret_opt) {
		char tmpl[300];

		snprintf(tmpl, sizeof(tmpl), "%s.template", img);
		copy_file(img, tmpl);
	}
created:

	/* open */
	out->phase = 1;
	/* The backing file (raw, named in the image) comes with the open. */
	n = open_cut_enc(img, drv->name, w->secret_opt, "cs", QIMG_OPEN_RDWR,
			 ctl);
	if (!n || ctl->fired) {
		if (n)
			qimg_close(n);
		return;
	}
	/* A fresh luks volume reads as its zeroed payload decrypted: what
	 * the image holds before the requests is what it reads now. */
	if (!strcmp(drv->name, "luks")) {
		assert_int_equal(qimg_read(n, 0, out->before, IMG_SIZE, &err),
				 0);
		memcpy(out->after, out->before, IMG_SIZE);
	}

	/* the requests */
	out->phase = 2;
	make_ops(w, qimg_cluster_size(n), ops);
	for (i = 0; i < w->nops; i++) {
		out->inflight = i;
		apply(&ops[i], i, out->after);
		r = do_op(n, &ops[i], i, &err);
		if (r < 0 && !ctl->fired) {
			fprintf(stderr, "%s: op %d: %s\n", w->name, i, err.msg);
			fail();
		}
		/* The guest flushes after each request, so only the one in
		 * flight may be lost (qcow2 holds L2 updates in its cache
		 * until a flush, as QEMU does: a killed writer loses what it
		 * was not asked to flush, a power cut too). */
		if (r == 0)
			r = qimg_flush(n, &err);
		if (r < 0 && !ctl->fired) {
			fprintf(stderr, "%s: flush %d: %s\n", w->name, i,
				err.msg);
			fail();
		}
		if (r < 0 || ctl->fired)
			break;
		/* settle: what the image now reads is the new "before" */
		assert_int_equal(qimg_read(n, ops[i].off,
					   out->after + ops[i].off, ops[i].len,
					   &err),
				 0);
		memcpy(out->before + ops[i].off, out->after + ops[i].off,
		       ops[i].len);
	}
	if (i == w->nops) {
		ctl->at_close = ctl->seen;
		out->phase = 3;
		out->inflight = -1;
	}
	qimg_close(n);
	if (out->phase == 3 && !ctl->fired)
		out->phase = 4;
}

static int sh(const char *cmd)
{
	int st = system(cmd);

	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Under CI=true a missing oracle fails the test instead of skipping it. */
static void need_oracle(void)
{
	const char *ci = getenv("CI");

	if (ci && !strcmp(ci, "true"))
		fail_msg("qemu-img not found, and CI=true");
}

static bool have_qemu_img(void)
{
	return sh("command -v qemu-img >/dev/null 2>&1") == 0;
}

/* Judge the file one cut left.  Returns true when it passes. */
static bool judge(const struct workload *w, const char *img,
		  const struct outcome *out, const struct op *ops,
		  const uint8_t *back, long k, bool partial)
{
	char cmd[2048], raw[300], log[300], spec[700];
	uint8_t *got;
	uint64_t p;
	FILE *f;
	int rc;
	bool ok = true;

	snprintf(log, sizeof(log), "%s/check.log", dir);
	snprintf(raw, sizeof(raw), "%s/read.raw", dir);
	/* With lazy refcounts a killed writer leaves the dirty bit and stale
	 * refcounts on purpose; the guarantee is that a repair (what QEMU
	 * does on open) brings back a clean image with the data. */
	if (w->lazy) {
		snprintf(cmd, sizeof(cmd),
			 "qemu-img check -q -r all -f qcow2 '%s' >/dev/null "
			 "2>&1",
			 img);
		(void)sh(cmd);
	}
	snprintf(cmd, sizeof(cmd), "qemu-img check %s >'%s' 2>&1",
		 img_spec(w, img, spec, sizeof(spec)), log);
	rc = sh(cmd);
	if (rc == 1 && out->phase == 0)
		return true; /* cut before the header existed */
	if (rc == 2 && w->count_leak) {
		snprintf(cmd, sizeof(cmd),
			 "grep '^ERROR' '%s' | awk '{ if ($0 !~ /^ERROR: "
			 "allocated blocks mismatch, is [0-9]+, should be "
			 "[0-9]+$/ || $6 + 0 >= $9 + 0) bad = 1 } END "
			 "{ exit bad }'",
			 log);
		if (sh(cmd) == 0)
			rc = 3;
	}
	if (rc == 2 && w->unclean) {
		/* one error, the in-use mark; then repaired and checked
		 * again */
		snprintf(cmd, sizeof(cmd),
			 "grep -q '^1 errors were found' '%s' && "
			 "grep -q '^ERROR image was not closed correctly$' "
			 "'%s' && ! grep '^ERROR' '%s' | grep -qv "
			 "-e '^ERROR image was not closed correctly$' "
			 "-e '^ERROR space leaked at the end of the image' && "
			 "qemu-img check -q -r all -f %s '%s' >/dev/null 2>&1; "
			 "qemu-img check -f %s '%s' >'%s' 2>&1",
			 log, log, log, fmt_of(w), img, fmt_of(w), img, log);
		rc = sh(cmd);
	}
	/* 63: the format has no check (vpc); the content is still judged */
	if (rc != 0 && rc != 3 && rc != 63) {
		fprintf(stderr,
			"%s: cut at mutation %ld%s (phase %d, op %d): "
			"qemu-img check exit %d\n",
			w->name, k, partial ? " (partial)" : "", out->phase,
			out->inflight, rc);
		snprintf(cmd, sizeof(cmd), "head -20 '%s' >&2", log);
		(void)sh(cmd);
		if (getenv("CRASH_KEEP")) {
			snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", img,
				 getenv("CRASH_KEEP"));
			(void)sh(cmd);
		}
		for (int j = 0; out->phase == 2 && j <= out->inflight; j++)
			fprintf(stderr, "  op %d kind %d off %llu len %llu\n",
				j, ops[j].kind, (unsigned long long)ops[j].off,
				(unsigned long long)ops[j].len);
		return false;
	}
	if (out->phase == 0)
		return true; /* nothing was written yet */
	snprintf(cmd, sizeof(cmd), "qemu-img convert %s -O raw '%s' 2>'%s'",
		 img_spec(w, img, spec, sizeof(spec)), raw, log);
	if (sh(cmd) != 0) {
		fprintf(stderr, "%s: cut at %ld: qemu-img convert failed\n",
			w->name, k);
		return false;
	}
	got = malloc(IMG_SIZE);
	assert_non_null(got);
	f = fopen(raw, "rb");
	assert_non_null(f);
	assert_int_equal(fread(got, 1, IMG_SIZE, f), IMG_SIZE);
	fclose(f);
	for (p = 0; p < IMG_SIZE && ok; p += SECTOR) {
		const uint8_t *g = got + p;
		bool in_op =
			out->inflight >= 0 && p >= ops[out->inflight].off &&
			p < ops[out->inflight].off + ops[out->inflight].len;
		static const uint8_t zero[SECTOR];

		if (!memcmp(g, out->before + p, SECTOR))
			continue;
		if (in_op && !memcmp(g, out->after + p, SECTOR))
			continue;
		/* a discard in flight may leave zeros, or uncover the
		 * backing file (v2 has no zero flag) */
		if (in_op && ops[out->inflight].kind == OP_DISCARD &&
		    (!memcmp(g, zero, SECTOR) ||
		     (back && p < BACKING_SIZE &&
		      !memcmp(g, back + p, SECTOR))))
			continue;
		fprintf(stderr,
			"%s: cut at mutation %ld%s (phase %d, op %d): sector "
			"%llu reads \"%.30s\", expected \"%.30s\"\n",
			w->name, k, partial ? " (partial)" : "", out->phase,
			out->inflight, (unsigned long long)(p / SECTOR), g,
			out->before + p);
		for (int j = 0; j <= out->inflight; j++)
			if (p >= ops[j].off && p < ops[j].off + ops[j].len)
				fprintf(stderr,
					"  op %d kind %d off %llu len %llu\n",
					j, ops[j].kind,
					(unsigned long long)ops[j].off,
					(unsigned long long)ops[j].len);
		ok = false;
	}
	free(got);
	return ok;
}

static bool quick_mode(void)
{
	const char *quick = getenv("QIMG_QUICK");

	return quick && !strcmp(quick, "1");
}

/* make check (QIMG_QUICK=1) shares a sample of cut points between the two
 * kinds of crash, which run as two jobs: the kill run judges the points of
 * even rank i, the power run those of odd rank, and both judge the last
 * (the finished operation).  Together they judge the sample once; make
 * check-full judges every point in both. */
static bool in_share(long i, bool last)
{
	if (last || !quick_mode())
		return true;
	return (i % 2 == 1) == power_mode();
}

/* The step between the cuts of an operation of m mutations: make check
 * takes CRASH_POINTS of them, evenly spread, the last always among them;
 * otherwise every one. */
static long cut_step(long m)
{
	const char *env = getenv("CRASH_POINTS");
	long maxp = env ? atol(env) : 0;

	if (quick_mode() && maxp > 0 && m + 1 > maxp)
		return (m + maxp) / maxp;
	return 1;
}

/* The cut after k in the loops that cut an operation at each of its m
 * mutations and after the last (k = 0..m): the next one of the sample in
 * this run's share. */
static long next_cut(long k, long m)
{
	long step = cut_step(m);

	do {
		if (k < m && k + step > m)
			k = m;
		else
			k += step;
	} while (k < m && !in_share(k / step, false));
	return k;
}

/* The first cut of those loops. */
static long first_cut(long m)
{
	return in_share(0, m == 0) ? 0 : next_cut(0, m);
}

/* How many cuts the loops take of an operation of m mutations. */
static long cuts_judged(long m)
{
	long k, n = 0;

	for (k = first_cut(m); k <= m; k = next_cut(k, m))
		n++;
	return n;
}

static void run_workload(const struct workload *w)
{
	char img[256], base[256];
	struct outcome out;
	struct cutter dry;
	uint8_t *back = NULL;
	struct op ops[256];
	long m, k, points, step, failures = 0, tried = 0;
	const char *env = getenv("CRASH_POINTS");
	long maxp = w->every	? LONG_MAX
		    : env	? atol(env)
		    : w->points ? w->points
				: 90;

	if (!have_qemu_img()) {
		need_oracle();
		skip();
		return;
	}
	snprintf(img, sizeof(img), "%s/%s.%s", dir, w->name, fmt_of(w));
	snprintf(base, sizeof(base), "%s/%s-base.raw", dir, w->name);
	out.before = malloc(IMG_SIZE);
	out.after = malloc(IMG_SIZE);
	assert_non_null(out.before);
	assert_non_null(out.after);
	if (w->backing) {
		FILE *f = fopen(base, "wb");

		back = malloc(BACKING_SIZE);
		assert_non_null(back);
		fill_backing(back);
		assert_non_null(f);
		assert_int_equal(fwrite(back, 1, BACKING_SIZE, f),
				 BACKING_SIZE);
		fclose(f);
	}

	if (w->secret_opt) {
		char tmpl[300];

		snprintf(tmpl, sizeof(tmpl), "%s.template", img);
		unlink(tmpl);
	}
	/* the dry run: count the mutations, and check the end result */
	cutter_init(&dry, -1, false);
	run(w, img, w->backing ? base : NULL, &dry, back, &out);
	assert_int_equal(out.phase, 4);
	m = dry.seen;
	assert_true(m > 0);
	assert_true(m <= (long)sizeof(dry.big) * 8);

	/* the cluster size decides the ops; get it from the finished image */
	{
		struct cutter none;
		struct qimg_node *n;

		cutter_init(&none, -1, false);
		n = open_cut_enc(img, fmt_of(w), w->secret_opt, "cs",
				 QIMG_OPEN_NO_BACKING, &none);
		assert_non_null(n);
		make_ops(w, qimg_cluster_size(n), ops);
		qimg_close(n);
	}
	assert_true(judge(w, img, &out, ops, back, m, false));
	{
		struct stat st;

		assert_int_equal(stat(img, &st), 0);
		fprintf(stderr,
			"# %s: image of %lld bytes, %ld mutations, %ld "
			"flushes of the file\n",
			w->name, (long long)st.st_size, dry.seen, dry.flushes);
	}

	points = m + dry.nbig;
	step = points > maxp ? (points + maxp - 1) / maxp : 1;
	for (k = 0; k < points; k += step) {
		struct cutter c;
		long idx = k < m ? k : k - m; /* partial variants after */
		bool partial = k >= m;

		if (!in_share(k / step, k + step >= points))
			continue;
		if (partial) {
			/* the k-m'th big write */
			long seen = -1, j;

			for (j = 0; j < m; j++) {
				if (dry.big[j / 8] & (1u << (j % 8)))
					seen++;
				if (seen == idx)
					break;
			}
			idx = j;
		}
		cutter_init(&c, idx, partial);
		run(w, img, w->backing ? base : NULL, &c, back, &out);
		tried++;
		if (!judge(w, img, &out, ops, back, idx, partial)) {
			char keep[700];

			snprintf(keep, sizeof(keep),
				 "cp '%s' /tmp/crashpoint-%s-%ld%s.img", img,
				 w->name, idx, partial ? "p" : "");
			(void)sh(keep);
			failures++;
		}
	}
	fprintf(stderr,
		"# %s: %ld mutations (%ld long writes), %ld cut points "
		"judged, %ld failed\n",
		w->name, m, dry.nbig, tried, failures);
	free(out.before);
	free(out.after);
	free(back);
	assert_int_equal(failures, 0);
}

#define WORKLOAD(fn, nm, o, b, c, n, s)                                        \
	static void fn(void **state)                                           \
	{                                                                      \
		static const struct workload w = { .name = nm,                 \
						   .opts = o,                  \
						   .backing = b,               \
						   .compress = c,              \
						   .nops = n,                  \
						   .seed = s };                \
		(void)state;                                                   \
		run_workload(&w);                                              \
	}

WORKLOAD(test_v3_64k, "v3-64k", "cluster_size=65536", false, true, 40, 1)
WORKLOAD(test_v3_4k_backing, "v3-4k-backing", "cluster_size=4096", true, true,
	 40, 2)
/* Its first 16 ops at every cut point, in make check too: a zero write
 * frees a cluster while new clusters wait for their refcount block to be
 * written back (the decrement once went out with that block, ahead of the
 * L2 entries that dropped the cluster). */
static void test_v3_4k_backing_every(void **state)
{
	static const struct workload w = { .name = "v3-4k-backing-every",
					   .opts = "cluster_size=4096",
					   .backing = true,
					   .compress = true,
					   .every = true,
					   .nops = 16,
					   .seed = 2 };

	(void)state;
	run_workload(&w);
}
WORKLOAD(test_v2_backing, "v2-backing", "compat=0.10,cluster_size=16384", true,
	 true, 40, 3)
WORKLOAD(test_extl2_backing, "extl2-backing",
	 "cluster_size=65536,extended_l2=on", true, true, 40, 4)
WORKLOAD(test_small_refblocks, "small-refblocks",
	 "cluster_size=512,refcount_bits=64", false, true, 200, 5)
WORKLOAD(test_zstd_rc1, "zstd-refcount1",
	 "cluster_size=8192,compression_type=zstd,refcount_bits=1", false, true,
	 40, 6)
WORKLOAD(test_prealloc_meta, "prealloc-metadata",
	 "cluster_size=32768,preallocation=metadata", false, false, 30, 7)
WORKLOAD(test_prealloc_falloc, "prealloc-falloc",
	 "cluster_size=16384,preallocation=falloc", false, false, 30, 11)

/* The other writable formats: a seeded series of writes, zero writes and
 * discards into a fresh image, cut at every mutation (the block-allocating
 * formats' crash safety: a new block's data is flushed before the table
 * entry that names it). */
#define FMT_WORKLOAD(fn, nm, f, o, n, s, ...)                                  \
	static void fn(void **state)                                           \
	{                                                                      \
		static const struct workload w = { .name = nm,                 \
						   .format = f,                \
						   .opts = o,                  \
						   .maxlen = 192 * 1024,       \
						   .nops = n,                  \
						   .seed = s,                  \
						   __VA_ARGS__ };              \
		(void)state;                                                   \
		run_workload(&w);                                              \
	}

FMT_WORKLOAD(test_vdi_dynamic, "vdi-dynamic", "vdi", "", 40, 21,
	     .count_leak = true)
FMT_WORKLOAD(test_vdi_static, "vdi-static", "vdi", "static=on", 30, 22,
	     .count_leak = true)
/* qed: clusters and an L2 table allocated, zero clusters, COW from the
 * backing file */
FMT_WORKLOAD(test_qed_backing, "qed-backing", "qed",
	     "cluster_size=4096,table_size=2", 30, 23, .backing = true)
/* qcow (v1) over a backing file: 512-byte clusters (qemu-img's choice
 * with a backing file), so short requests; a cluster whose data was lost
 * under its entry would read zeros instead of the backing file's */
static void test_qcow_backing(void **state)
{
	static const struct workload w = { .name = "qcow-backing",
					   .format = "qcow",
					   .opts = "",
					   .backing = true,
					   .maxlen = 8192,
					   .nops = 24,
					   /* qemu-img reads it slowly */
					   .points = 40,
					   .seed = 24 };

	(void)state;
	run_workload(&w);
}
/* Encrypted writes: every sector of data is encrypted before it lands
 * (luks: in place after the header; qcow2: new clusters, with the COW of a
 * partial cluster from the backing file encrypted too), so a cut may lose
 * only the request in flight. */
FMT_WORKLOAD(test_luks_writes, "luks-writes", "luks",
	     "key-secret=cs,iter-time=10", 30, 31, .writes_only = true,
	     .secret_opt = "key-secret")
static void test_qcow2_luks(void **state)
{
	static const struct workload w = {
		.name = "qcow2-luks",
		.format = "qcow2",
		.opts = "cluster_size=4096,encrypt.format=luks,"
			"encrypt.key-secret=cs,encrypt.iter-time=10",
		.backing = true,
		.nops = 40,
		.seed = 32,
		.secret_opt = "encrypt.key-secret",
	};

	(void)state;
	run_workload(&w);
}

/* vpc: 2 MiB blocks with their sector bitmaps; no check (exit 63), the
 * content is judged */
FMT_WORKLOAD(test_vpc_dynamic, "vpc-dynamic", "vpc",
	     "subformat=dynamic,force_size=on", 30, 25, .backing = false)
/* vhdx: 1 MiB blocks, new ones appended, ZERO blocks */
FMT_WORKLOAD(test_vhdx_dynamic, "vhdx-dynamic", "vhdx", "block_size=1048576",
	     30, 26, .backing = false)
/* parallels: clusters at the data end under the in-use mark, which qemu-img
 * check calls an error until repaired (the format's way: an unclean image
 * must be checked) */
FMT_WORKLOAD(test_parallels, "parallels", "parallels", "cluster_size=65536", 24,
	     27, .unclean = true)
/* vmdk: 64 KiB grains appended with COW, both grain tables; zeroed
 * grains for whole-grain zero writes */
FMT_WORKLOAD(test_vmdk_sparse, "vmdk-sparse", "vmdk", "", 40, 28)
FMT_WORKLOAD(test_vmdk_zeroed, "vmdk-zeroed", "vmdk", "zeroed_grain=on", 40, 29)

/* Enough host clusters (over 4096 of 512 bytes with 64-bit refcounts)
 * that the refcount table itself must grow and move. */
static void test_reftable_growth(void **state)
{
	static const struct workload w = {
		.name = "reftable-growth",
		.opts = "cluster_size=512,refcount_bits=64",
		.writes_only = true,
		.maxlen = 128 * 1024,
		.nops = 150,
		.seed = 8,
	};

	(void)state;
	run_workload(&w);
}

/* Lazy refcounts: refcount blocks are written back late, under the dirty
 * bit. */
static void test_lazy(void **state)
{
	static const struct workload w = {
		.name = "lazy",
		.opts = "cluster_size=4096,lazy_refcounts=on",
		.lazy = true,
		.compress = true,
		.nops = 40,
		.seed = 9,
	};

	(void)state;
	run_workload(&w);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[2600];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(sh(cmd), 0);
}

/* Open (which repairs the refcounts of a dirty lazy image) and close,
 * through a cutter. */
static void reopen(const char *img, struct cutter *ctl, struct outcome *out)
{
	const struct qimg_driver *drv = qcow2();
	struct qimg_error err = { 0 };
	struct qimg_node *n;
	int r;

	out->phase = 1;
	out->inflight = -1;
	r = qimg_open_over(cut_node(img, ctl), drv->name,
			   QIMG_OPEN_RDWR | QIMG_OPEN_NO_BACKING, &n, &err);
	if (r < 0 && !ctl->fired) {
		fprintf(stderr, "reopen: %s\n", err.msg);
		fail();
	}
	if (r < 0)
		return;
	out->phase = 3;
	qimg_close(n);
	if (!ctl->fired)
		out->phase = 4;
}

/* A writer with lazy refcounts is killed with everything written but the
 * refcounts (the dirty bit set); the next read-write open repairs them.
 * That repair is killed at every point in turn: each time the image must
 * still be repairable, with the data. */
static void test_lazy_repair(void **state)
{
	static const struct workload w = {
		.name = "lazy-repair",
		.opts = "cluster_size=4096,lazy_refcounts=on",
		.lazy = true,
		.compress = true,
		.nops = 60,
		.seed = 10,
	};
	char img[256], dirty[256];
	struct outcome out;
	struct cutter c;
	struct op ops[256];
	long m, k, failures = 0;
	int rc;

	(void)state;
	if (!have_qemu_img()) {
		need_oracle();
		skip();
		return;
	}
	snprintf(img, sizeof(img), "%s/%s.qcow2", dir, w.name);
	snprintf(dirty, sizeof(dirty), "%s/%s-dirty.qcow2", dir, w.name);
	out.before = malloc(IMG_SIZE);
	out.after = malloc(IMG_SIZE);
	assert_non_null(out.before);
	assert_non_null(out.after);

	/* the dirty image: cut when the requests are all done */
	memset(&c, 0, sizeof(c));
	{
		struct cutter d;

		memset(&d, 0, sizeof(d));
		d.left = -1;
		run(&w, img, NULL, &d, NULL, &out);
		c.left = d.at_close;
	}
	run(&w, img, NULL, &c, NULL, &out);
	assert_int_equal(out.phase, 3);
	copy_file(img, dirty);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd),
			 "qemu-img check -f qcow2 '%s' >/dev/null 2>&1", dirty);
		rc = sh(cmd);
	}
	/* the stale refcounts are really there */
	assert_int_equal(rc, 2);
	make_ops(&w, 4096, ops);

	/* the repair, uncut, then cut at each mutation */
	cutter_init(&c, -1, false);
	reopen(img, &c, &out);
	assert_int_equal(out.phase, 4);
	m = c.seen;
	assert_true(m > 0);
	for (k = first_cut(m); k <= m; k = next_cut(k, m)) {
		copy_file(dirty, img);
		/* and one with the first write in part */
		cutter_init(&c, k < m ? k : 0, k == m);
		reopen(img, &c, &out);
		if (!judge(&w, img, &out, ops, NULL, k, c.partial))
			failures++;
	}
	fprintf(stderr,
		"# %s: %ld mutations in the repair, %ld cut points "
		"judged, %ld failed\n",
		w.name, m, cuts_judged(m), failures);
	free(out.before);
	free(out.after);
	assert_int_equal(failures, 0);
}

/* Open img as qcow2 (flags besides RDWR) over a cutter: NULL when the
 * cut came during the open. */
static struct qimg_node *open_cut_fmt(const char *img, const char *fmt,
				      unsigned int flags, struct cutter *ctl)
{
	struct qimg_error err = { 0 };
	struct qimg_node *n;
	int r;

	r = qimg_open_over(cut_node(img, ctl), fmt,
			   QIMG_OPEN_RDWR | QIMG_OPEN_NO_BACKING | flags, &n,
			   &err);
	if (r < 0 && !ctl->fired) {
		fprintf(stderr, "open %s: %s\n", img, err.msg);
		fail();
	}
	if (r < 0)
		return NULL;
	return n;
}

static struct qimg_node *open_cut(const char *img, unsigned int flags,
				  struct cutter *ctl)
{
	return open_cut_fmt(img, qcow2()->name, flags, ctl);
}

/* ---- repairs (`check -r`) killed at every write ---- */

struct repair_case {
	const char *name;
	/* Shell commands that build $I, save its guest data as $I.raw, then
	 * damage it. */
	const char *make;
	unsigned int fix;
	/* true: the damage is leaks only, so every cut must leave at most
	 * leaks; false: the cut image must stay repairable by qemu-img */
	bool leaks_only;
};

static void quiet(void *opaque, const char *line)
{
	(void)opaque;
	(void)line;
}

/* Open `img` for checking through a cutter and repair it; true if the
 * repair ran to the end uncut. */
static bool repair(const char *img, unsigned int fix, struct cutter *ctl)
{
	struct qimg_error err = { 0 };
	struct qimg_node *n = open_cut(img, QIMG_OPEN_CHECK, ctl);
	struct qimg_check_result res;
	int r;

	if (!n)
		return false;
	r = qimg_check(n, fix, &res, quiet, NULL, &err);
	if (r < 0 && !ctl->fired) {
		fprintf(stderr, "repair: %s\n", err.msg);
		fail();
	}
	qimg_close(n);
	return !ctl->fired;
}

static bool judge_repair(const struct repair_case *rc, const char *img, long k,
			 bool partial)
{
	char cmd[1200];
	int st;

	if (!rc->leaks_only) {
		snprintf(cmd, sizeof(cmd),
			 "qemu-img check -q -r all -f qcow2 '%s' >/dev/null "
			 "2>&1",
			 img);
		(void)sh(cmd);
	}
	snprintf(cmd, sizeof(cmd),
		 "qemu-img check -f qcow2 '%s' >/dev/null 2>&1", img);
	st = sh(cmd);
	if (st != 0 && st != 3) {
		fprintf(stderr, "%s: cut at %ld%s: qemu-img check exit %d%s\n",
			rc->name, k, partial ? " (partial)" : "", st,
			rc->leaks_only ? "" : " after its own repair");
		return false;
	}
	snprintf(cmd, sizeof(cmd),
		 "qemu-img convert -f qcow2 -O raw '%s' '%s.out' && "
		 "cmp -s '%s.out' '%s.raw'",
		 img, img, img, img);
	if (sh(cmd) != 0) {
		fprintf(stderr, "%s: cut at %ld%s: guest data changed\n",
			rc->name, k, partial ? " (partial)" : "");
		return false;
	}
	return true;
}

static void run_repair_case(const struct repair_case *rc)
{
	char img[256], damaged[300], raw[300], cmd[1200];
	struct cutter c;
	long m, k, failures = 0;

	if (!have_qemu_img()) {
		need_oracle();
		skip();
		return;
	}
	snprintf(img, sizeof(img), "%s/%s.qcow2", dir, rc->name);
	snprintf(damaged, sizeof(damaged), "%s.damaged", img);
	snprintf(raw, sizeof(raw), "%s.raw", img);
	snprintf(cmd, sizeof(cmd), "I='%s'; SNT='%s'; %s", damaged, SNTABLE,
		 rc->make);
	assert_int_equal(sh(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s.raw", damaged);
	copy_file(cmd, raw);

	/* uncut: counts the mutations, and must repair */
	copy_file(damaged, img);
	cutter_init(&c, -1, false);
	assert_true(repair(img, rc->fix, &c));
	m = c.seen;
	assert_true(m > 0);
	snprintf(cmd, sizeof(cmd), "qemu-img check -q -f qcow2 '%s'", img);
	assert_int_equal(sh(cmd), 0);

	for (k = first_cut(m); k <= m; k = next_cut(k, m)) {
		copy_file(damaged, img);
		cutter_init(&c, k < m ? k : 0, k == m);
		repair(img, rc->fix, &c);
		if (!judge_repair(rc, img, k, c.partial))
			failures++;
	}
	fprintf(stderr,
		"# %s: %ld mutations in the repair, %ld cut points judged, "
		"%ld failed\n",
		rc->name, m, cuts_judged(m), failures);
	assert_int_equal(failures, 0);
}

#define MAKE_BASE                                                              \
	"qemu-img create -q -f qcow2 \"$I\" 16M && "                           \
	"qemu-io -c 'write -P 1 0 1M' -c 'write -P 2 4M 64k' \"$I\" "          \
	">/dev/null && "

#define SAVE_RAW "qemu-img convert -O raw \"$I\" \"$I.raw\" && "

/* poke OFFSET HEXBYTES into $I */
#define POKE(off, hex)                                                         \
	"printf '" hex "' | dd of=\"$I\" bs=1 seek=$((" off                    \
	")) conv=notrunc 2>/dev/null"

/* Leaked clusters only: two clusters at the end that nothing uses. */
static void test_repair_leaks(void **state)
{
	static const struct repair_case rc = {
		.name = "repair-leaks",
		.make = MAKE_BASE SAVE_RAW POKE(
			"0x20000 + 50",
			"\\000\\001\\000\\003") " && truncate -s $((27 * 65536)) \"$I\"",
		.fix = QIMG_CHECK_FIX_LEAKS,
		.leaks_only = true,
	};

	(void)state;
	run_repair_case(&rc);
}

/* The refcount table lost its only entry: the refcount structures are
 * rebuilt. */
static void test_repair_rebuild(void **state)
{
	static const struct repair_case rc = {
		.name = "repair-rebuild",
		.make = MAKE_BASE SAVE_RAW POKE("0x10000",
						"\\000\\000\\000\\000"
						"\\000\\000\\000\\000"),
		.fix = QIMG_CHECK_FIX_LEAKS | QIMG_CHECK_FIX_ERRORS,
	};

	(void)state;
	run_repair_case(&rc);
}

/* Incomplete and oversized snapshot table entries: the table is written
 * anew. */
static void test_repair_snapshot_table(void **state)
{
	static const struct repair_case rc = {
		.name = "repair-snapshots",
		.make = MAKE_BASE "qemu-img snapshot -c a \"$I\" && "
				  "qemu-img snapshot -c b \"$I\" && "
				  "qemu-io -c 'write -P 3 0 64k' \"$I\" "
				  ">/dev/null && " SAVE_RAW
				  "perl \"$SNT\" \"$I\" incomplete 0 && "
				  "perl \"$SNT\" \"$I\" bigextra 1",
		.fix = QIMG_CHECK_FIX_LEAKS | QIMG_CHECK_FIX_ERRORS,
	};

	(void)state;
	run_repair_case(&rc);
}

/* ---- resize killed at every write ---- */

/* Resize $I (made by `make`, guest data saved as $I.raw) through a cutter
 * to `size`; true if it ran to the end uncut. */
static bool resize_cut(const char *img, const char *fmt, uint64_t size,
		       bool allow_shrink, const char *prealloc,
		       struct cutter *ctl)
{
	struct qimg_error err = { 0 };
	struct qimg_node *n = open_cut_fmt(img, fmt, 0, ctl);
	int r;

	if (!n)
		return false;
	r = qimg_truncate(n, size, allow_shrink ? QIMG_TRUNCATE_SHRINK : 0,
			  prealloc, &err);
	if (r < 0 && !ctl->fired) {
		fprintf(stderr, "resize: %s\n", err.msg);
		fail();
	}
	qimg_close(n);
	return !ctl->fired;
}

struct resize_case {
	const char *name;
	const char *format; /* NULL: qcow2 */
	const char *make;   /* as for repair_case */
	uint64_t size;
	bool shrink;
	const char *prealloc;
};

/* Every cut leaves no corruption (leaks allowed; 63: no check, vpc), the
 * old or the new size, and the data below the smaller of the two. */
static void run_resize_case(const struct resize_case *rc)
{
	const char *fmt = rc->format ? rc->format : "qcow2";
	char img[256], damaged[300], cmd[2400];
	struct cutter c;
	long m, k, failures = 0;
	uint64_t keep;

	if (!have_qemu_img()) {
		need_oracle();
		skip();
		return;
	}
	snprintf(img, sizeof(img), "%s/%s.%s", dir, rc->name, fmt);
	snprintf(damaged, sizeof(damaged), "%s.orig", img);
	snprintf(cmd, sizeof(cmd), "I='%s'; %s", damaged, rc->make);
	assert_int_equal(sh(cmd), 0);
	{
		char from[400], to[400];

		snprintf(from, sizeof(from), "%s.raw", damaged);
		snprintf(to, sizeof(to), "%s.raw", img);
		copy_file(from, to);
	}
	snprintf(cmd, sizeof(cmd),
		 "qemu-img info -f %s --output=json '%s' | "
		 "sed -n 's/.*\"virtual-size\": \\([0-9]*\\).*/\\1/p' "
		 ">'%s.oldsize'",
		 fmt, damaged, img);
	assert_int_equal(sh(cmd), 0);

	copy_file(damaged, img);
	cutter_init(&c, -1, false);
	assert_true(
		resize_cut(img, fmt, rc->size, rc->shrink, rc->prealloc, &c));
	m = c.seen;
	assert_true(m > 0);
	snprintf(cmd, sizeof(cmd),
		 "qemu-img check -q -f %s '%s'; case $? in 0|63) ;; "
		 "*) exit 1;; esac",
		 fmt, img);
	assert_int_equal(sh(cmd), 0);

	for (k = first_cut(m); k <= m; k = next_cut(k, m)) {
		FILE *f;
		unsigned long long old = 0;

		copy_file(damaged, img);
		cutter_init(&c, k < m ? k : 0, k == m);
		resize_cut(img, fmt, rc->size, rc->shrink, rc->prealloc, &c);
		snprintf(cmd, sizeof(cmd),
			 "qemu-img check -f %s '%s' >/dev/null 2>&1; "
			 "case $? in 0|3|63) ;; *) exit 1;; esac",
			 fmt, img);
		if (sh(cmd) != 0) {
			fprintf(stderr, "%s: cut at %ld%s: corruption\n",
				rc->name, k, c.partial ? " (partial)" : "");
			failures++;
			continue;
		}
		snprintf(cmd, sizeof(cmd), "%s.oldsize", img);
		f = fopen(cmd, "r");
		assert_non_null(f);
		assert_int_equal(fscanf(f, "%llu", &old), 1);
		fclose(f);
		keep = old < rc->size ? old : rc->size;
		snprintf(cmd, sizeof(cmd),
			 "s=$(qemu-img info -f %s --output=json '%s' | sed -n "
			 "'s/.*\"virtual-size\": \\([0-9]*\\).*/\\1/p'); "
			 "[ \"$s\" = %llu ] || [ \"$s\" = %llu ] || exit 1; "
			 "qemu-img convert -f %s -O raw '%s' '%s.out' && "
			 "cmp -s -n %llu '%s.out' '%s.raw'",
			 fmt, img, old, (unsigned long long)rc->size, fmt, img,
			 img, (unsigned long long)keep, img, img);
		if (sh(cmd) != 0) {
			fprintf(stderr,
				"%s: cut at %ld%s: size or data wrong\n",
				rc->name, k, c.partial ? " (partial)" : "");
			failures++;
		}
	}
	fprintf(stderr,
		"# %s: %ld mutations in the resize, %ld cut points judged, "
		"%ld failed\n",
		rc->name, m, cuts_judged(m), failures);
	assert_int_equal(failures, 0);
}

#define MAKE_SMALL                                                             \
	"qemu-img create -q -f qcow2 -o cluster_size=512 \"$I\" 256k && "      \
	"qemu-io -c 'write -P 1 0 40k' -c 'write -P 2 100k 20k' "              \
	"-c 'write -c -P 3 200k 512' \"$I\" >/dev/null && " SAVE_RAW "true"

/* 512-byte clusters: an L1 entry covers 32 KiB, so growing needs a larger
 * L1 table (moved), and shrinking drops whole L2 tables and cuts others. */
static void test_resize_grow(void **state)
{
	static const struct resize_case rc = {
		.name = "resize-grow",
		.make = MAKE_SMALL,
		.size = 1 << 20,
	};

	(void)state;
	run_resize_case(&rc);
}

static void test_resize_grow_prealloc(void **state)
{
	static const struct resize_case rc = {
		.name = "resize-grow-falloc",
		.make = MAKE_SMALL,
		.size = 512 << 10,
		.prealloc = "falloc",
	};

	(void)state;
	run_resize_case(&rc);
}

static void test_resize_shrink(void **state)
{
	static const struct resize_case rc = {
		.name = "resize-shrink",
		.make = MAKE_SMALL " && qemu-img snapshot -c s \"$I\" && "
				   "qemu-io -c 'write -P 4 110k 4k' \"$I\" "
				   ">/dev/null && " SAVE_RAW "true",
		.size = 105 << 10,
		.shrink = true,
	};

	(void)state;
	run_resize_case(&rc);
}

/* vhdx past its BAT region (1 MiB: 131072 entries of 1 MiB blocks): a
 * new BAT at the end of the file, named by the region tables */
static void test_resize_vhdx_bat(void **state)
{
	static const struct resize_case rc = {
		.name = "resize-vhdx-bat",
		.format = "vhdx",
		.make = "qemu-img create -q -f vhdx -o block_size=1M "
			"\"$I\" 8M && qemu-io -f vhdx -c 'write -P 1 0 3M' "
			"-c 'write -P 2 7M 1M' \"$I\" >/dev/null && "
			"qemu-img convert -f vhdx -O raw \"$I\" \"$I.raw\"",
		.size = UINT64_C(130) << 30,
	};

	(void)state;
	run_resize_case(&rc);
}

/* vpc: a table of one sector (128 entries of 2 MiB) outgrown: a new one
 * at the end of the file behind the dynamic header; then a shrink over
 * free blocks cutting one; sizes are create's CHS sizes */
#define MAKE_VPC                                                               \
	"qemu-img create -q -f vpc \"$I\" 10M && qemu-io -f vpc "              \
	"-c 'write -P 1 0 3M' -c 'write -P 2 8M 1M' \"$I\" >/dev/null && "     \
	"qemu-img convert -f vpc -O raw \"$I\" \"$I.raw\""

static void test_resize_vpc_grow(void **state)
{
	static const struct resize_case rc = {
		.name = "resize-vpc-grow",
		.format = "vpc",
		.make = MAKE_VPC,
		.size = 2147991552, /* 2G as CHS */
	};

	(void)state;
	run_resize_case(&rc);
}

static void test_resize_vpc_shrink(void **state)
{
	static const struct resize_case rc = {
		.name = "resize-vpc-shrink",
		.format = "vpc",
		.make = MAKE_VPC,
		.size = 9469952, /* 9M as CHS, inside the block at 8M */
		.shrink = true,
	};

	(void)state;
	run_resize_case(&rc);
}

/* ---- snapshot operations killed at every write ---- */

enum sn_op {
	SN_CREATE,
	SN_DELETE,
	SN_APPLY
};

static bool snapshot_cut(const char *img, enum sn_op op, const char *arg,
			 struct cutter *ctl)
{
	struct qimg_error err = { 0 };
	struct qimg_node *n = open_cut(img, 0, ctl);
	int r;

	if (!n)
		return false;
	r = op == SN_CREATE   ? qimg_snapshot_create(n, arg, &err)
	    : op == SN_DELETE ? qimg_snapshot_delete(n, arg, &err)
			      : qimg_snapshot_goto(n, arg, &err);
	if (r < 0 && !ctl->fired) {
		fprintf(stderr, "snapshot op: %s\n", err.msg);
		fail();
	}
	qimg_close(n);
	return !ctl->fired;
}

/* After a cut the image must be repairable by qemu-img (check -r all,
 * then clean: COPIED flags and refcounts may be caught mid-change, as with
 * QEMU), the active image must read as before or after the operation, and
 * snapshot `keep` (by name) as it was taken. */
static void run_snapshot_case(const char *name, enum sn_op op, const char *arg,
			      const char *keep)
{
	char img[256], orig[300], cmd[4096];
	struct cutter c;
	long m, k, failures = 0;

	if (!have_qemu_img()) {
		need_oracle();
		skip();
		return;
	}
	snprintf(img, sizeof(img), "%s/%s.qcow2", dir, name);
	snprintf(orig, sizeof(orig), "%s.orig", img);
	snprintf(cmd, sizeof(cmd),
		 "I='%s'; qemu-img create -q -f qcow2 -o cluster_size=4096 "
		 "\"$I\" 1M && qemu-io -c 'write -P 1 0 300k' "
		 "-c 'write -c -P 2 512k 8k' \"$I\" >/dev/null && "
		 "qemu-img snapshot -c keep \"$I\" && "
		 "qemu-io -c 'write -P 3 100k 300k' \"$I\" >/dev/null && "
		 "qemu-img snapshot -c other \"$I\" && "
		 "qemu-io -c 'write -P 4 200k 40k' -c 'write -z 600k 100k' "
		 "\"$I\" >/dev/null && "
		 "qemu-img convert -O raw \"$I\" '%s.before' && "
		 "qemu-img convert -l keep -O raw \"$I\" '%s.keep'",
		 orig, img, img);
	assert_int_equal(sh(cmd), 0);

	copy_file(orig, img);
	cutter_init(&c, -1, false);
	assert_true(snapshot_cut(img, op, arg, &c));
	m = c.seen;
	assert_true(m > 0);
	snprintf(cmd, sizeof(cmd),
		 "qemu-img check -q -f qcow2 '%s' && "
		 "qemu-img convert -O raw '%s' '%s.after'",
		 img, img, img);
	assert_int_equal(sh(cmd), 0);

	for (k = first_cut(m); k <= m; k = next_cut(k, m)) {
		copy_file(orig, img);
		cutter_init(&c, k < m ? k : 0, k == m);
		snapshot_cut(img, op, arg, &c);
		snprintf(cmd, sizeof(cmd),
			 "qemu-img check -q -r all -f qcow2 '%s' >/dev/null "
			 "2>&1; qemu-img check -q -f qcow2 '%s' || exit 1; "
			 "qemu-img convert -O raw '%s' '%s.out' || exit 1; "
			 "cmp -s '%s.out' '%s.before' || "
			 "cmp -s '%s.out' '%s.after' || exit 2; "
			 "[ -z '%s' ] && exit 0; "
			 "qemu-img convert -l '%s' -O raw '%s' '%s.out' && "
			 "cmp -s '%s.out' '%s.keep' || exit 3",
			 img, img, img, img, img, img, img, img,
			 keep ? keep : "", keep ? keep : "", img, img, img,
			 img);
		if (sh(cmd) != 0) {
			fprintf(stderr, "%s: cut at %ld%s: damaged\n", name, k,
				c.partial ? " (partial)" : "");
			failures++;
		}
	}
	fprintf(stderr,
		"# %s: %ld mutations, %ld cut points judged, %ld failed\n",
		name, m, cuts_judged(m), failures);
	assert_int_equal(failures, 0);
}

static void test_snapshot_create(void **state)
{
	(void)state;
	run_snapshot_case("snapshot-create", SN_CREATE, "new", "keep");
}

static void test_snapshot_delete(void **state)
{
	(void)state;
	run_snapshot_case("snapshot-delete", SN_DELETE, "other", "keep");
}

static void test_snapshot_apply(void **state)
{
	(void)state;
	run_snapshot_case("snapshot-apply", SN_APPLY, "keep", "keep");
}

/* ---- emptying an overlay after a commit, killed at every write ---- */

/* qimg_make_empty over a cutter; true if it ran to the end uncut. */
static bool empty_cut(const char *img, struct cutter *ctl)
{
	struct qimg_error err = { 0 };
	struct qimg_node *n = open_cut(img, 0, ctl);
	int r;

	if (!n)
		return false;
	r = qimg_make_empty(n, &err);
	if (r < 0 && !ctl->fired) {
		fprintf(stderr, "make empty: %s\n", err.msg);
		fail();
	}
	qimg_close(n);
	return !ctl->fired;
}

/* The overlay's data is in its backing file already (qemu-img commit -d
 * put it there, as qimg commit does before emptying): wherever the
 * emptying is cut, the overlay must be repairable by qemu-img and read,
 * over its backing file, as before; snapshot "s", when there is one, as it
 * was taken.  Uncut, the overlay must be empty. */
static void run_empty_case(const char *name, const char *opts, bool snap)
{
	char img[256], orig[300], cmd[4096];
	struct cutter c;
	long m, k, failures = 0;

	if (!have_qemu_img()) {
		need_oracle();
		skip();
		return;
	}
	snprintf(img, sizeof(img), "%s/%s.qcow2", dir, name);
	snprintf(orig, sizeof(orig), "%s.orig", img);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && qemu-img create -q -f qcow2 %s.base 1M && "
		 "qemu-io -c 'write -P 1 0 1M' %s.base >/dev/null && "
		 "qemu-img create -q -f qcow2 -b %s.base -F qcow2 %s "
		 "%s.qcow2.orig 1M && "
		 "qemu-io -c 'write -P 2 64k 128k' -c 'write -z 300k 64k' "
		 "-c 'write -c -P 3 512k 64k' %s.qcow2.orig >/dev/null && "
		 "{ [ %d = 0 ] || { qemu-img snapshot -c s %s.qcow2.orig && "
		 "qemu-io -c 'write -P 4 700k 8k' %s.qcow2.orig "
		 ">/dev/null; }; } && "
		 "qemu-img commit -q -d %s.qcow2.orig && "
		 "qemu-img convert -O raw %s.qcow2.orig %s.before && "
		 "{ [ %d = 0 ] || qemu-img convert -l s -O raw %s.qcow2.orig "
		 "%s.snap; }",
		 dir, name, name, name, opts, name, name, snap, name, name,
		 name, name, name, snap, name, name);
	assert_int_equal(sh(cmd), 0);

	copy_file(orig, img);
	cutter_init(&c, -1, false);
	assert_true(empty_cut(img, &c));
	m = c.seen;
	assert_true(m > 0);
	snprintf(cmd, sizeof(cmd),
		 "qemu-img check -q -f qcow2 '%s' && "
		 "qemu-img map --output=json '%s' | grep -q '\"depth\": 0' "
		 "&& exit 1; exit 0",
		 img, img);
	assert_int_equal(sh(cmd), 0);

	for (k = first_cut(m); k <= m; k = next_cut(k, m)) {
		copy_file(orig, img);
		cutter_init(&c, k < m ? k : 0, k == m);
		empty_cut(img, &c);
		snprintf(cmd, sizeof(cmd),
			 "cd '%s' && I=%s.qcow2 && "
			 "{ qemu-img check -q -r all -f qcow2 $I >/dev/null "
			 "2>&1; qemu-img check -q -f qcow2 $I || exit 1; "
			 "qemu-img convert -O raw $I $I.out || exit 1; "
			 "cmp -s $I.out %s.before || exit 2; "
			 "[ %d = 0 ] && exit 0; "
			 "qemu-img convert -l s -O raw $I $I.out && "
			 "cmp -s $I.out %s.snap || exit 3; }",
			 dir, name, name, snap, name);
		if (sh(cmd) != 0) {
			fprintf(stderr, "%s: cut at %ld%s: damaged\n", name, k,
				c.partial ? " (partial)" : "");
			failures++;
		}
	}
	fprintf(stderr,
		"# %s: %ld mutations, %ld cut points judged, %ld failed\n",
		name, m, cuts_judged(m), failures);
	assert_int_equal(failures, 0);
}

/* v3 without snapshots: reset to a fresh layout under the dirty bit */
static void test_empty_reset(void **state)
{
	(void)state;
	run_empty_case("empty-reset", "", false);
}

/* v2, and v3 with a snapshot: every entry unallocated in turn */
static void test_empty_v2(void **state)
{
	(void)state;
	run_empty_case("empty-v2", "-o compat=0.10,cluster_size=4096", false);
}

static void test_empty_snapshot(void **state)
{
	(void)state;
	run_empty_case("empty-snapshot", "-o cluster_size=4096", true);
}

/* ---- amend killed at every write ---- */

/* qimg_amend with `options` over a cutter; true if it ran to the end
 * uncut. */
static bool amend_cut(const char *img, const char *options, struct cutter *ctl)
{
	struct qimg_error err = { 0 };
	struct qimg_opts o = { 0 };
	struct qimg_node *n = open_cut(img, 0, ctl);
	int r;

	if (!n)
		return false;
	assert_int_equal(qimg_opts_parse(&o, options, &err), 0);
	r = qimg_amend(n, &o, NULL, &err);
	if (r == 0)
		r = qimg_flush(n, &err);
	if (r < 0 && !ctl->fired) {
		fprintf(stderr, "amend %s: %s\n", options, err.msg);
		fail();
	}
	qimg_opts_free(&o);
	qimg_close(n);
	return !ctl->fired;
}

/* `make` builds $I (in the test directory, next to any backing file it
 * needs) and saves its guest data as $I.raw and, when it takes snapshot
 * "s", that as $I.snap.  Wherever the amendment is cut, qemu-img check
 * must find no corruption (leaked clusters allowed) without repairing
 * anything, and the image and its snapshot must read as before. */
static void run_amend_case(const char *name, const char *make,
			   const char *options, bool snap)
{
	char img[256], orig[300], cmd[4096];
	struct cutter c;
	long m, k, failures = 0;

	if (!have_qemu_img()) {
		need_oracle();
		skip();
		return;
	}
	snprintf(img, sizeof(img), "%s/%s.qcow2", dir, name);
	snprintf(orig, sizeof(orig), "%s.orig", img);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && I=%s.qcow2.orig && SNT='%s' && %s", dir, name,
		 SNTABLE, make);
	assert_int_equal(sh(cmd), 0);

	copy_file(orig, img);
	cutter_init(&c, -1, false);
	assert_true(amend_cut(img, options, &c));
	m = c.seen;
	assert_true(m > 0);
	snprintf(cmd, sizeof(cmd), "qemu-img check -q -f qcow2 '%s'", img);
	assert_int_equal(sh(cmd), 0);

	for (k = first_cut(m); k <= m; k = next_cut(k, m)) {
		copy_file(orig, img);
		cutter_init(&c, k < m ? k : 0, k == m);
		amend_cut(img, options, &c);
		snprintf(cmd, sizeof(cmd),
			 "cd '%s' && I=%s.qcow2 && "
			 "{ qemu-img check -q -f qcow2 $I >/dev/null 2>&1; "
			 "case $? in 0|3) ;; *) exit 1;; esac; "
			 "qemu-img convert -O raw $I $I.out || exit 1; "
			 "cmp -s $I.out $I.orig.raw || exit 2; "
			 "[ %d = 0 ] && exit 0; "
			 "qemu-img convert -l s -O raw $I $I.out && "
			 "cmp -s $I.out $I.orig.snap || exit 3; }",
			 dir, name, snap);
		if (sh(cmd) != 0) {
			fprintf(stderr, "%s: cut at %ld%s: damaged\n", name, k,
				c.partial ? " (partial)" : "");
			failures++;
		}
	}
	fprintf(stderr,
		"# %s: %ld mutations, %ld cut points judged, %ld failed\n",
		name, m, cuts_judged(m), failures);
	assert_int_equal(failures, 0);
}

#define AMEND_SAVE                                                             \
	"qemu-img convert -O raw $I $I.raw && "                                \
	"qemu-img convert -l s -O raw $I $I.snap"

/* 512-byte clusters, data, a compressed cluster and a snapshot (counts of
 * 2): some 20 refcount blocks at 16 bits become 3 at 2 bits, or some 80
 * at 64 bits with a table of two clusters. */
#define AMEND_RC_IMAGE                                                         \
	"qemu-img create -q -f qcow2 -o cluster_size=512 $I 4M && "            \
	"qemu-io -c 'write -P 1 0 1M' -c 'write -c -P 2 3M 512' "              \
	"-c 'write -P 3 3584k 64k' $I >/dev/null && "                          \
	"qemu-img snapshot -c s $I && "                                        \
	"qemu-io -c 'write -P 4 512k 64k' $I >/dev/null && "

static void test_amend_refcount_narrow(void **state)
{
	(void)state;
	run_amend_case("amend-rc2", AMEND_RC_IMAGE AMEND_SAVE,
		       "refcount_bits=2", true);
}

static void test_amend_refcount_wide(void **state)
{
	(void)state;
	run_amend_case("amend-rc64", AMEND_RC_IMAGE AMEND_SAVE,
		       "refcount_bits=64", true);
}

/* Down to v2 over a backing file: plain zero clusters get clusters of
 * zeros, allocated ones are zeroed in place, an L2 table shared with a
 * snapshot keeps both readings; the header shrinks to version 2. */
static void test_amend_downgrade(void **state)
{
	(void)state;
	run_amend_case(
		"amend-v2",
		"qemu-img create -q -f qcow2 -o cluster_size=4096 ab.base 1M "
		"&& qemu-io -c 'write -P 9 0 1M' ab.base >/dev/null && "
		"qemu-img create -q -f qcow2 -o cluster_size=4096 "
		"-b ab.base -F qcow2 $I 1M && "
		"qemu-io -c 'write -P 1 0 64k' -c 'write -z 16k 16k' "
		"-c 'write -z 100k 40k' $I >/dev/null && "
		"qemu-img snapshot -c s $I && "
		"qemu-io -c 'write -z -u 600k 20k' -c 'write -P 5 700k 8k' "
		"-c 'write -z 704k 4k' $I >/dev/null && " AMEND_SAVE,
		"compat=0.10", true);
}

/* Up from v2 with a snapshot table lacking the extra data version 3
 * requires (written anew), with lazy refcounts on. */
static void test_amend_upgrade(void **state)
{
	(void)state;
	run_amend_case("amend-v3",
		       "qemu-img create -q -f qcow2 $I 1M && "
		       "qemu-io -c 'write -P 1 0 300k' $I >/dev/null && "
		       "qemu-img snapshot -c s $I && "
		       "qemu-io -c 'write -P 2 100k 8k' $I >/dev/null && "
		       "perl \"$SNT\" $I incomplete 0 && "
		       "qemu-img amend -o compat=0.10 $I && " AMEND_SAVE,
		       "compat=1.1,lazy_refcounts=on", true);
}

/* ---- key slots changed by amend, killed at every write ---- */

/* amend `options` on encrypted img opened with secret "cs" over a cutter;
 * true if it ran to the end uncut. */
static bool keyslot_cut(const char *img, const char *fmt,
			const char *secret_opt, const char *options,
			struct cutter *ctl)
{
	struct qimg_error err = { 0 };
	struct qimg_opts o = { 0 };
	struct qimg_node *n =
		open_cut_enc(img, fmt, secret_opt, "cs", QIMG_OPEN_RDWR, ctl);
	int r;

	if (!n)
		return false;
	assert_int_equal(qimg_opts_parse(&o, options, &err), 0);
	r = qimg_amend(n, &o, NULL, &err);
	if (r == 0)
		r = qimg_flush(n, &err);
	if (r < 0 && !ctl->fired) {
		fprintf(stderr, "amend %s: %s\n", options, err.msg);
		fail();
	}
	qimg_opts_free(&o);
	qimg_close(n);
	return !ctl->fired;
}

/* Shell: exit 0 when key $K opens image $I and it reads as $I.orig.raw
 * (and, qcow2, checks free of corruption). */
#define KEY_OPENS                                                              \
	"opens() { O=\"--object " CRASH_SECRETS " --object " CRASH_SECRET2     \
	"\"; S=\"driver=$F,$P=$1,file.filename=$I\"; "                         \
	"if [ $F = qcow2 ]; then qemu-img check -q $O --image-opts \"$S\" "    \
	">/dev/null 2>&1; case $? in 0|3) ;; *) return 1;; esac; fi; "         \
	"qemu-img convert $O --image-opts \"$S\" -O raw $I.out "               \
	">/dev/null 2>&1 && cmp -s $I.out $I.orig.raw; }; "

/* Adding a key slot (new secret cs2) or removing the slot of cs when cs2
 * has one: wherever the amendment is cut, some key still opens the image
 * (adding: cs, always; removing: cs or cs2) and it reads as before; after
 * the whole amendment, the keys open it that should. */
static void run_keyslot_case(const char *name, const char *fmt,
			     const char *secret_opt, bool remove)
{
	const char *pre = strcmp(fmt, "qcow2") ? "" : "encrypt.";
	char img[256], orig[300], cmd[4096], options[256];
	struct qimg_error err = { 0 };
	struct qimg_opts o = { 0 };
	struct cutter c;
	long m, k, failures = 0;
	int r;

	if (!have_qemu_img()) {
		need_oracle();
		skip();
		return;
	}
	snprintf(img, sizeof(img), "%s/%s.%s", dir, name, fmt);
	snprintf(orig, sizeof(orig), "%s.orig", img);
	/* the image (made by qimg: qemu-img's key derivation calibrates for
	 * seconds whatever iter-time says), data written by qemu-io, for
	 * removing a second key slot added, and what it reads as (qemu-img) */
	snprintf(options, sizeof(options),
		 "size=4M,%skey-secret=cs,%siter-time=10%s", pre, pre,
		 *pre ? ",encrypt.format=luks" : "");
	assert_int_equal(qimg_opts_parse(&o, options, &err), 0);
	r = qimg_create_objects(orig, fmt, &o, crash_objects(), &err);
	if (r < 0)
		fprintf(stderr, "# %s: create: %s\n", name, err.msg);
	assert_int_equal(r, 0);
	qimg_opts_free(&o);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && I=%s.%s.orig F=%s P=%s && "
		 "O=\"--object " CRASH_SECRETS " --object " CRASH_SECRET2
		 "\" && "
		 "S=\"driver=$F,$P=cs,file.filename=$I\" && "
		 "qemu-io $O --image-opts \"$S\" -c 'write -P 7 0 1M' "
		 "-c 'write -P 8 3M 64k' >/dev/null",
		 dir, name, fmt, fmt, secret_opt);
	assert_int_equal(sh(cmd), 0);
	snprintf(options, sizeof(options),
		 "%sstate=active,%snew-secret=cs2,%siter-time=10", pre, pre,
		 pre);
	if (remove) {
		cutter_init(&c, -1, false);
		assert_true(keyslot_cut(orig, fmt, secret_opt, options, &c));
	}
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && I=%s.%s.orig F=%s P=%s && "
		 "O=\"--object " CRASH_SECRETS "\" && "
		 "qemu-img convert $O --image-opts "
		 "\"driver=$F,$P=cs,file.filename=$I\" -O raw $I.raw",
		 dir, name, fmt, fmt, secret_opt);
	assert_int_equal(sh(cmd), 0);
	if (remove)
		snprintf(options, sizeof(options),
			 "%sstate=inactive,%sold-secret=cs", pre, pre);

	copy_file(orig, img);
	cutter_init(&c, -1, false);
	assert_true(keyslot_cut(img, fmt, secret_opt, options, &c));
	m = c.seen;
	assert_true(m > 0);
	/* uncut: adding, both keys open it; removing, only cs2 */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && I=%s.%s F=%s P=%s && " KEY_OPENS
		 "opens cs2 && if [ %d = 1 ]; then ! opens cs; else opens cs; "
		 "fi",
		 dir, name, fmt, fmt, secret_opt, remove);
	assert_int_equal(sh(cmd), 0);

	for (k = first_cut(m); k <= m; k = next_cut(k, m)) {
		copy_file(orig, img);
		cutter_init(&c, k < m ? k : 0, k == m);
		keyslot_cut(img, fmt, secret_opt, options, &c);
		snprintf(cmd, sizeof(cmd),
			 "cd '%s' && I=%s.%s F=%s P=%s && " KEY_OPENS
			 "opens cs || { [ %d = 1 ] && opens cs2; }",
			 dir, name, fmt, fmt, secret_opt, remove);
		if (sh(cmd) != 0) {
			fprintf(stderr, "%s: cut at %ld%s: no key opens it\n",
				name, k, c.partial ? " (partial)" : "");
			failures++;
		}
	}
	fprintf(stderr, "# %s: %ld mutations, %ld failed\n", name, m, failures);
	assert_int_equal(failures, 0);
}

static void test_keyslot_luks_add(void **state)
{
	(void)state;
	run_keyslot_case("keyslot-add", "luks", "key-secret", false);
}

static void test_keyslot_luks_remove(void **state)
{
	(void)state;
	run_keyslot_case("keyslot-remove", "luks", "key-secret", true);
}

static void test_keyslot_qcow2_add(void **state)
{
	(void)state;
	run_keyslot_case("keyslot-q-add", "qcow2", "encrypt.key-secret", false);
}

static void test_keyslot_qcow2_remove(void **state)
{
	(void)state;
	run_keyslot_case("keyslot-q-remove", "qcow2", "encrypt.key-secret",
			 true);
}

/* ---- persistent bitmaps: a read-write session, killed at every write ---- */

/* Open (bitmaps marked in use), write, add a bitmap, remove one, close
 * (bitmaps stored) over a cutter; true if it ran to the end uncut. */
static bool bitmap_cut(const char *img, struct cutter *ctl)
{
	struct qimg_error err = { 0 };
	struct qimg_node *n = open_cut(img, 0, ctl);
	static uint8_t buf[65536];
	int r;

	if (!n)
		return false;
	memset(buf, 7, sizeof(buf));
	r = qimg_write(n, 1 << 20, buf, sizeof(buf), &err);
	if (r == 0)
		r = qimg_flush(n, &err);
	if (r == 0)
		r = qimg_bitmap_add(n, "new", true, 4096, false, &err);
	if (r == 0)
		r = qimg_bitmap_remove(n, "gone", &err);
	if (r < 0 && !ctl->fired) {
		fprintf(stderr, "bitmap session: %s\n", err.msg);
		fail();
	}
	qimg_close(n);
	return !ctl->fired;
}

/* Judged with qemu-img, qemu-io and qemu-nbd: the image opens (a half
 * written directory is never live) and checks without corruption, and
 * every bitmap qemu-nbd can export (the ones not in use) holds what it
 * must: b0 and gone the bits of the writes before the session, and the
 * session's write whenever its data reached the file (a bitmap that claims
 * a written area clean is the one wrong outcome); new none. */
static const char bitmap_judge[] =
	"I=$1; S=$I.sock\n"
	"qemu-img info \"$I\" >\"$I.info\" 2>&1 || exit 1\n"
	"qemu-img check -q \"$I\" >/dev/null 2>&1; c=$?\n"
	"[ $c = 0 ] || [ $c = 3 ] || exit 2\n"
	"landed=0\n"
	"qemu-io -r -c 'read -P 7 1M 64k' \"$I\" 2>&1 | grep -q 'Pattern' || "
	"landed=1\n"
	"pre='0+8192 '; full='0+8192 1048576+65536 '\n"
	"ok=$(awk '/in-use/ { u = 1 } / name: / { if (!u) print $2; u = 0 }' "
	"\"$I.info\")\n"
	"for b in $ok; do\n"
	"  rm -f \"$S\"\n"
	"  qemu-nbd -r -f qcow2 -B $b -k \"$S\" \"$I\" >/dev/null 2>&1 &\n"
	"  p=$!; i=0\n"
	"  while [ ! -S \"$S\" ] && [ $i -lt 250 ]; do sleep 0.02; "
	"i=$((i+1)); done\n"
	"  m=$(qemu-img map --output=json --image-opts "
	"\"driver=nbd,server.type=unix,server.path=$S,"
	"x-dirty-bitmap=qemu:dirty-bitmap:$b\" | grep '\"data\": false' | "
	"sed 's/.*\"start\": \\([0-9]*\\), \"length\": \\([0-9]*\\).*/\\1+\\2/' "
	"| tr '\\n' ' ')\n"
	"  kill $p 2>/dev/null; wait $p 2>/dev/null\n"
	"  case $b:$landed in\n"
	"  new:*) [ -z \"$m\" ] || exit 3 ;;\n"
	"  *:1) [ \"$m\" = \"$full\" ] || exit 4 ;;\n"
	"  *) [ \"$m\" = \"$pre\" ] || [ \"$m\" = \"$full\" ] || exit 5 ;;\n"
	"  esac\n"
	"done\n"
	"exit 0\n";

static void test_bitmap_session(void **state)
{
	char img[256], orig[300], judge_sh[300], cmd[1024];
	struct cutter c;
	long m, k, failures = 0;
	FILE *f;

	(void)state;
	if (!have_qemu_img() ||
	    sh("command -v qemu-nbd >/dev/null 2>&1") != 0) {
		need_oracle();
		skip();
		return;
	}
	snprintf(img, sizeof(img), "%s/bitmap.qcow2", dir);
	snprintf(orig, sizeof(orig), "%s.orig", img);
	snprintf(judge_sh, sizeof(judge_sh), "%s/bitmap-judge.sh", dir);
	f = fopen(judge_sh, "w");
	assert_non_null(f);
	fputs(bitmap_judge, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "I='%s'; qemu-img create -q -f qcow2 -o cluster_size=4096 "
		 "\"$I\" 4M && qemu-img bitmap --add -g 4k \"$I\" b0 && "
		 "qemu-img bitmap --add -g 4k \"$I\" gone && "
		 "qemu-io -c 'write -P 1 0 8k' \"$I\" >/dev/null",
		 orig);
	assert_int_equal(sh(cmd), 0);

	copy_file(orig, img);
	cutter_init(&c, -1, false);
	assert_true(bitmap_cut(img, &c));
	m = c.seen;
	assert_true(m > 0);
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", judge_sh, img);
	assert_int_equal(sh(cmd), 0);

	for (k = first_cut(m); k <= m; k = next_cut(k, m)) {
		int r;

		copy_file(orig, img);
		cutter_init(&c, k < m ? k : 0, k == m);
		bitmap_cut(img, &c);
		r = sh(cmd);
		if (r != 0) {
			fprintf(stderr, "bitmap: cut at %ld%s: judge says %d\n",
				k, c.partial ? " (partial)" : "", r);
			failures++;
		}
	}
	fprintf(stderr,
		"# bitmap: %ld mutations, %ld cut points judged, %ld failed\n",
		m, cuts_judged(m), failures);
	assert_int_equal(failures, 0);
}

static int mode_kill(void **state)
{
	(void)state;
	return setenv("CRASH_MODE", "kill", 1);
}

static int mode_power(void **state)
{
	(void)state;
	return setenv("CRASH_MODE", "power", 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v3_64k),
		cmocka_unit_test(test_v3_4k_backing),
		cmocka_unit_test(test_v3_4k_backing_every),
		cmocka_unit_test(test_v2_backing),
		cmocka_unit_test(test_extl2_backing),
		cmocka_unit_test(test_small_refblocks),
		cmocka_unit_test(test_zstd_rc1),
		cmocka_unit_test(test_prealloc_meta),
		cmocka_unit_test(test_prealloc_falloc),
		cmocka_unit_test(test_reftable_growth),
		cmocka_unit_test(test_lazy),
		cmocka_unit_test(test_lazy_repair),
		cmocka_unit_test(test_repair_leaks),
		cmocka_unit_test(test_repair_rebuild),
		cmocka_unit_test(test_repair_snapshot_table),
		cmocka_unit_test(test_resize_grow),
		cmocka_unit_test(test_resize_grow_prealloc),
		cmocka_unit_test(test_resize_shrink),
		cmocka_unit_test(test_resize_vhdx_bat),
		cmocka_unit_test(test_resize_vpc_grow),
		cmocka_unit_test(test_resize_vpc_shrink),
		cmocka_unit_test(test_snapshot_create),
		cmocka_unit_test(test_snapshot_delete),
		cmocka_unit_test(test_snapshot_apply),
		cmocka_unit_test(test_empty_reset),
		cmocka_unit_test(test_empty_v2),
		cmocka_unit_test(test_empty_snapshot),
		cmocka_unit_test(test_amend_refcount_narrow),
		cmocka_unit_test(test_amend_refcount_wide),
		cmocka_unit_test(test_amend_downgrade),
		cmocka_unit_test(test_amend_upgrade),
		cmocka_unit_test(test_bitmap_session),
		cmocka_unit_test(test_vdi_dynamic),
		cmocka_unit_test(test_vdi_static),
		cmocka_unit_test(test_qed_backing),
		cmocka_unit_test(test_qcow_backing),
		cmocka_unit_test(test_vpc_dynamic),
		cmocka_unit_test(test_vhdx_dynamic),
		cmocka_unit_test(test_parallels),
		cmocka_unit_test(test_vmdk_sparse),
		cmocka_unit_test(test_vmdk_zeroed),
		cmocka_unit_test(test_luks_writes),
		cmocka_unit_test(test_qcow2_luks),
		cmocka_unit_test(test_keyslot_luks_add),
		cmocka_unit_test(test_keyslot_luks_remove),
		cmocka_unit_test(test_keyslot_qcow2_add),
		cmocka_unit_test(test_keyslot_qcow2_remove),
	};
	char cmd[300];
	int r;

	if (!mkdtemp(dir))
		return 1;
	if (getenv("CRASH_ONLY")) /* e.g. CRASH_ONLY=test_v2_backing */
		cmocka_set_test_filter(getenv("CRASH_ONLY"));
	if (getenv("CRASH_MODE")) {
		r = cmocka_run_group_tests(tests, NULL, NULL);
	} else {
		/* both kinds of crash in one group (one TAP plan): each
		 * case killed, then each case with the power cut
		 * ("power_" names) */
		enum {
			N = sizeof(tests) / sizeof(tests[0])
		};
		struct CMUnitTest both[2 * N];
		char names[N][64];
		size_t i;

		for (i = 0; i < N; i++) {
			both[i] = tests[i];
			both[i].setup_func = mode_kill;
			both[N + i] = tests[i];
			both[N + i].setup_func = mode_power;
			snprintf(names[i], sizeof(names[i]), "power_%s",
				 tests[i].name);
			both[N + i].name = names[i];
		}
		r = _cmocka_run_group_tests("test-crashpoints", both, 2 * N,
					    NULL, NULL);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void)sh(cmd);
	return r;
}
