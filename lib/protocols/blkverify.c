/* SPDX-License-Identifier: MIT */
/* blkverify: an image under test checked against a raw copy of what it
 * should hold.  `blkverify:RAW:TEST` or options `raw` and `test` (children)
 * or `x-raw` and `x-image` (their file names).  Every read is done on both
 * and compared, every write goes to both; the node is as large as TEST and
 * its block status is RAW's.  Zero writes become writes of zeros, discards
 * are dropped, as QEMU's blkverify has neither. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/driver.h"
#include "protocols/blkverify.h"

static const char *const blkverify_protocols[] = { "blkverify", NULL };
static const char *const blkverify_children[] = { "raw", "test", NULL };

static const struct qimg_opt_desc blkverify_runtime_opts[] = {
	{ "x-raw", QIMG_OPT_STRING, "[internal use only, will be removed]",
	  NULL },
	{ "x-image", QIMG_OPT_STRING, "[internal use only, will be removed]",
	  NULL },
	{ NULL, 0, NULL, NULL },
};

/* blkverify:RAW:TEST.  A name without the prefix (-f blkverify NAME) gives
 * no options, so that the missing children are what is reported, as
 * qemu-img reports them. */
static int blkverify_parse_filename(const char *name, struct qimg_value *o,
				    struct qimg_error *err)
{
	const char *p, *c;
	char *raw;
	int r;

	if (strncmp(name, "blkverify:", strlen("blkverify:")))
		return 0;
	p = name + strlen("blkverify:");
	c = strchr(p, ':');
	if (!c)
		return qimg_error_set(err, EINVAL,
				      "blkverify requires raw copy and "
				      "original image path");
	raw = strndup(p, (size_t)(c - p));
	if (!raw)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_dict_put_str(o, "x-raw", raw);
	free(raw);
	if (r == 0)
		r = qimg_dict_put_str(o, "x-image", c + 1);
	return r < 0 ? qimg_error_set(err, ENOMEM, "Out of memory") : 0;
}

static struct qimg_node *raw_of(struct qimg_node *node)
{
	return qimg_node_child(node, "raw");
}

static struct qimg_node *test_of(struct qimg_node *node)
{
	return qimg_node_child(node, "test");
}

/* Both children name the node (blkverify:RAW:TEST, or json:{...} with
 * both under their roles), however they were given. */
static void mark_named(struct qimg_node *node)
{
	size_t i;

	for (i = 0; i < node->nchildren; i++)
		node->children[i].from_options = true;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* The smaller of two limits where 0 means none. */
static uint64_t min_limit(uint64_t a, uint64_t b)
{
	if (!a || !b)
		return a ? a : b;
	return a < b ? a : b;
}

/* Open child `role` from its options or from the file name in option
 * `name`; both at once are refused as qemu-img refuses them. */
static int open_child(struct qimg_node *node, const struct qimg_opts *o,
		      const char *role, const char *name, unsigned int how,
		      struct qimg_node **out, struct qimg_error *err)
{
	const char *fn = qimg_opts_get_str(o, name, NULL);

	if (fn && qimg_dict_get(node->options, role))
		return qimg_error_set(err, EINVAL,
				      "Can't specify 'file' and 'filename' "
				      "options at the same time");
	return qimg_open_child(node, role, fn, how, 0, out, err);
}

static int blkverify_open(struct qimg_node *node, const struct qimg_opts *o,
			  struct qimg_error *err)
{
	struct qimg_node *raw, *test;
	int r;

	/* The reference is taken byte for byte; the image under test is
	 * probed. */
	r = open_child(node, o, "raw", "x-raw", QIMG_CHILD_PROTOCOL, &raw, err);
	if (r < 0)
		return r;
	r = open_child(node, o, "test", "x-image", 0, &test, err);
	if (r < 0)
		return r;
	mark_named(node);
	node->size = test->size;
	node->zero_init = test->zero_init && raw->zero_init;
	node->limits.request_align = (uint32_t)max_u64(
		raw->limits.request_align, test->limits.request_align);
	node->limits.mem_align = (uint32_t)max_u64(raw->limits.mem_align,
						   test->limits.mem_align);
	node->limits.max_transfer =
		min_limit(raw->limits.max_transfer, test->limits.max_transfer);
	return 0;
}

static void blkverify_close(struct qimg_node *node)
{
}

/* qemu-img's blkverify ends the process at the first divergence between
 * the children: one line on stderr, exit status 1, nothing else printed
 * (tests/interop/blkverify.sh).  That is the driver's whole purpose, and
 * an error handed up the stack would be reworded by every caller, so the
 * process ends here.  stderr stays locked: a second worker that diverges
 * meanwhile waits instead of printing a second line. */
static void __attribute__((noreturn, format(printf, 1, 2)))
blkverify_die(const char *fmt, ...)
{
	va_list ap;

	flockfile(stderr);
	fputs("blkverify: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	fflush(stdout);
	_exit(1);
}

/* Read the reference; past its end it reads as zeros, as any node does
 * in QEMU. */
static int read_raw(struct qimg_node *raw, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	size_t n = 0;

	if (raw->limits.grows)
		return qimg_pread(raw, off, buf, len, err);
	if (off < raw->size)
		n = raw->size - off < len ? (size_t)(raw->size - off) : len;
	memset((char *)buf + n, 0, len - n);
	return n ? qimg_pread(raw, off, buf, n, err) : 0;
}

static void pass_error(struct qimg_error *err, const struct qimg_error *e)
{
	if (e->errnum)
		qimg_error_set(err, e->errnum, "%s", e->msg);
}

static int blkverify_read(struct qimg_node *node, uint64_t off, void *buf,
			  size_t len, struct qimg_error *err)
{
	struct qimg_error terr = { 0 }, rerr = { 0 };
	const unsigned char *a = buf, *b;
	unsigned char *copy;
	int rt, rr;
	size_t i;

	copy = malloc(len ? len : 1);
	if (!copy)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	rt = qimg_pread(test_of(node), off, buf, len, &terr);
	rr = read_raw(raw_of(node), off, copy, len, &rerr);
	if (rt != rr)
		blkverify_die("read offset=%" PRId64 " bytes=%" PRId64
			      " return value mismatch %d != %d",
			      (int64_t)off, (int64_t)len, rt, rr);
	if (rt < 0) {
		free(copy);
		pass_error(err, &terr);
		return rt;
	}
	b = copy;
	for (i = 0; i < len && a[i] == b[i]; i++)
		;
	if (i < len)
		blkverify_die("read offset=%" PRId64 " bytes=%" PRId64
			      " contents mismatch at offset %" PRId64,
			      (int64_t)off, (int64_t)len, (int64_t)(off + i));
	free(copy);
	return 0;
}

static int blkverify_write(struct qimg_node *node, uint64_t off,
			   const void *buf, size_t len, struct qimg_error *err)
{
	struct qimg_error terr = { 0 }, rerr = { 0 };
	int rt, rr;

	rt = qimg_pwrite(test_of(node), off, buf, len, &terr);
	rr = qimg_pwrite(raw_of(node), off, buf, len, &rerr);
	if (rt != rr)
		blkverify_die("write offset=%" PRId64 " bytes=%" PRId64
			      " return value mismatch %d != %d",
			      (int64_t)off, (int64_t)len, rt, rr);
	if (rt < 0)
		pass_error(err, &terr);
	return rt;
}

static int blkverify_flush(struct qimg_node *node, struct qimg_error *err)
{
	/* The core flushes the children after this. */
	return 0;
}

static int blkverify_block_status(struct qimg_node *node, uint64_t off,
				  uint64_t len, struct qimg_extent *ext,
				  struct qimg_error *err)
{
	/* The reference decides, as in QEMU (its filtered child). */
	ext->len = len;
	ext->flags = QIMG_BS_RAW | QIMG_BS_OFFSET_VALID;
	ext->map = off;
	ext->file = raw_of(node);
	return 0;
}

/* A resize reaches the reference only (QEMU's filtered child); the node
 * stays as large as the image under test. */
static int blkverify_truncate(struct qimg_node *node, uint64_t size,
			      unsigned flags, const char *prealloc,
			      struct qimg_error *err)
{
	return qimg_truncate(raw_of(node), size, flags, prealloc, err);
}

/* What the reference's driver tells (the dirty flag), as QEMU asks the
 * filtered child of a node that has no answer of its own. */
static int blkverify_get_info(struct qimg_node *node,
			      struct qimg_image_info *info,
			      struct qimg_error *err)
{
	return qimg_child_info(raw_of(node), info, err);
}

static int64_t blkverify_length(struct qimg_node *node)
{
	return (int64_t)test_of(node)->size;
}

/* blkverify:RAW:TEST while both children have plain names. */
static char *blkverify_exact_filename(struct qimg_node *node)
{
	char *raw = qimg_node_exact_filename(raw_of(node));
	char *test = raw ? qimg_node_exact_filename(test_of(node)) : NULL;
	char *r = NULL;

	if (test && asprintf(&r, "blkverify:%s:%s", raw, test) < 0)
		r = NULL;
	free(raw);
	free(test);
	return r;
}

const struct qimg_driver qimg_driver_blkverify = {
	.name = "blkverify",
	.kind = QIMG_DRIVER_PROTOCOL,
	.threads = QIMG_THREADS_PARALLEL,
	.protocols = blkverify_protocols,
	.parse_filename = blkverify_parse_filename,
	.runtime_opts = blkverify_runtime_opts,
	.child_roles = blkverify_children,
	.exact_filename = blkverify_exact_filename,
	.open = blkverify_open,
	.close = blkverify_close,
	.read = blkverify_read,
	.write = blkverify_write,
	.flush = blkverify_flush,
	.block_status = blkverify_block_status,
	.truncate = blkverify_truncate,
	.length = blkverify_length,
	.get_info = blkverify_get_info,
};
