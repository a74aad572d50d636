/* SPDX-License-Identifier: MIT */
/* copy-before-write under snapshot-access, in one tree (what qemu-img's
 * tools cannot show: a writer and a reader of the point in time at once).
 * Writes, zero writes and discards through copy-before-write leave the
 * snapshot reading the source as it was, from threads racing a reader
 * too; a discard of the snapshot takes whole clusters out of it (EACCES
 * then, and no more copies there); a failed copy fails the write, or under
 * on-cbw-error=break-snapshot lets it through and loses the snapshot; the
 * bitmap option keeps only its dirty clusters. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qimg/create.h"
#include "qimg/image.h"
#include "qimg/value.h"

#define KiB 1024u
#define MiB (1024u * KiB)
#define SIZE (4 * MiB)
#define CL (64 * KiB)

struct fx {
	char dir[64], src[96], tgt[96];
	uint8_t *old, *buf;
	struct qimg_node *sa, *cbw;
};

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed + i / 4096);
}

static void create(const char *path, const char *fmt)
{
	struct qimg_opts o = { 0 };
	struct qimg_error err = { 0 };

	unlink(path);
	assert_int_equal(qimg_opts_set(&o, "size", "4M"), 0);
	assert_int_equal(qimg_create(path, fmt, &o, &err), 0);
	qimg_opts_free(&o);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct qimg_open_args a = { .filename = NULL, .flags = QIMG_OPEN_RDWR };
	struct qimg_error err = { 0 };
	struct qimg_node *n = NULL;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/qimg-cbw-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->src, sizeof(f->src), "%s/src", f->dir);
	snprintf(f->tgt, sizeof(f->tgt), "%s/tgt", f->dir);
	f->old = malloc(SIZE);
	f->buf = malloc(SIZE);
	if (!f->old || !f->buf)
		return -1;
	/* The source: data, then a hole from 3 MiB (reads as zeros). */
	fill(f->old, SIZE, 3);
	memset(f->old + 3 * MiB, 0, MiB);
	create(f->src, "raw");
	create(f->tgt, "qcow2");
	a.filename = f->src;
	a.format = "raw";
	if (qimg_open(&a, &n, &err) < 0 ||
	    qimg_write(n, 0, f->old, 3 * MiB, &err) < 0)
		return -1;
	qimg_close(n);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->src);
	unlink(f->tgt);
	rmdir(f->dir);
	free(f->old);
	free(f->buf);
	free(f);
	return 0;
}

/* Open snapshot-access over copy-before-write over the source, as
 * --image-opts text; `extra` adds copy-before-write options (each with a
 * leading comma), `target` replaces the target's (file.target.* keys).
 * 0 or the error. */
static int open_view(struct fx *f, const char *extra, const char *target)
{
	struct qimg_open_args a = { .flags = QIMG_OPEN_RDWR };
	struct qimg_error err = { 0 };
	struct qimg_value *o = NULL;
	char text[1024], tj[384];
	int r;

	snprintf(tj, sizeof(tj),
		 "file.target.driver=qcow2,file.target.file.driver=file,"
		 "file.target.file.filename=%s",
		 f->tgt);
	snprintf(text, sizeof(text),
		 "driver=snapshot-access,file.driver=copy-before-write,"
		 "file.file.driver=raw,file.file.node-name=src,"
		 "file.file.file.driver=file,file.file.file.filename=%s,%s%s",
		 f->src, target ? target : tj, extra ? extra : "");
	assert_int_equal(qimg_options_parse(text, &o, &err), 0);
	a.options = o;
	f->sa = NULL;
	r = qimg_open(&a, &f->sa, &err);
	qimg_value_free(o);
	if (r < 0)
		return r;
	f->cbw = qimg_node_file(f->sa);
	assert_non_null(f->cbw);
	assert_string_equal(qimg_node_format(f->cbw), "copy-before-write");
	return 0;
}

/* Put the source back as it was (for the next case). */
static void restore_src(struct fx *f)
{
	struct qimg_open_args a = { .filename = f->src,
				    .format = "raw",
				    .flags = QIMG_OPEN_RDWR };
	struct qimg_error err = { 0 };
	struct qimg_node *n = NULL;

	assert_int_equal(qimg_open(&a, &n, &err), 0);
	assert_int_equal(qimg_write(n, 0, f->old, SIZE, &err), 0);
	qimg_close(n);
}

static void snapshot_is_old(struct fx *f)
{
	struct qimg_error err = { 0 };

	memset(f->buf, 0xee, SIZE);
	assert_int_equal(qimg_read(f->sa, 0, f->buf, SIZE, &err), 0);
	assert_memory_equal(f->buf, f->old, SIZE);
}

static void test_writes_keep_the_snapshot(void **state)
{
	struct fx *f = *state;
	struct qimg_error err = { 0 };
	uint8_t *p = malloc(300 * KiB);

	assert_non_null(p);
	memset(p, 0x5a, 300 * KiB);
	assert_int_equal(open_view(f, NULL, NULL), 0);
	snapshot_is_old(f);
	/* Across clusters, twice over the same ones, zeros, a discard and
	 * the hole at the end. */
	assert_int_equal(qimg_write(f->cbw, 100 * KiB, p, 200 * KiB, &err), 0);
	assert_int_equal(qimg_write(f->cbw, 150 * KiB, p, 300 * KiB, &err), 0);
	assert_int_equal(qimg_write_zeroes(f->cbw, MiB, CL, 0, &err), 0);
	assert_int_equal(qimg_discard(f->cbw, 2 * MiB, 2 * CL, &err), 0);
	assert_int_equal(qimg_write(f->cbw, SIZE - 4 * KiB, p, 4 * KiB, &err),
			 0);
	snapshot_is_old(f);
	/* The guest sees its writes. */
	assert_int_equal(qimg_read(f->cbw, 150 * KiB, f->buf, 300 * KiB, &err),
			 0);
	assert_memory_equal(f->buf, p, 300 * KiB);
	assert_int_equal(qimg_read(f->cbw, MiB, f->buf, CL, &err), 0);
	assert_true(f->buf[0] == 0 && !memcmp(f->buf, f->buf + 1, CL - 1));
	/* Writes through the snapshot are refused. */
	assert_int_equal(qimg_write(f->sa, 0, p, 512, &err), -ENOTSUP);
	qimg_close(f->sa);
	free(p);
	restore_src(f);
}

static void test_discard_takes_clusters_out(void **state)
{
	struct fx *f = *state;
	struct qimg_error err = { 0 };
	uint8_t b[512];

	create(f->tgt, "qcow2");
	assert_int_equal(open_view(f, NULL, NULL), 0);
	/* A partial cluster is kept; whole ones go. */
	assert_int_equal(qimg_discard(f->sa, 1000, 70000, &err), 0);
	assert_int_equal(qimg_read(f->sa, 0, b, sizeof(b), &err), 0);
	assert_int_equal(qimg_read(f->sa, CL, b, sizeof(b), &err), 0);
	assert_int_equal(qimg_discard(f->sa, CL, 2 * CL, &err), 0);
	assert_int_equal(qimg_read(f->sa, CL + 4096, b, sizeof(b), &err),
			 -EACCES);
	assert_int_equal(qimg_read(f->sa, 0, b, sizeof(b), &err), 0);
	assert_memory_equal(b, f->old, sizeof(b));
	/* A write there copies nothing: the target stays empty there. */
	memset(b, 0x77, sizeof(b));
	assert_int_equal(qimg_write(f->cbw, CL, b, sizeof(b), &err), 0);
	qimg_close(f->sa);
	{
		struct qimg_open_args a = { .filename = f->tgt,
					    .format = "qcow2" };
		struct qimg_node *t = NULL;
		struct qimg_extent ext;

		assert_int_equal(qimg_open(&a, &t, &err), 0);
		assert_int_equal(qimg_block_status(t, CL, CL, &ext, &err), 0);
		assert_false(ext.flags & QIMG_BS_ALLOCATED);
		qimg_close(t);
	}
	restore_src(f);
}

static void test_failed_copy(void **state)
{
	struct fx *f = *state;
	struct qimg_error err = { 0 };
	char t[512];
	uint8_t b[512];

	snprintf(t, sizeof(t),
		 "file.target.driver=raw,file.target.file.driver=blkdebug,"
		 "file.target.file.inject-error.0.event=write_aio,"
		 "file.target.file.inject-error.0.errno=5,"
		 "file.target.file.image.driver=file,"
		 "file.target.file.image.filename=%s",
		 f->tgt);
	create(f->tgt, "raw");
	memset(b, 0x66, sizeof(b));
	/* break-guest-write (the default): the write fails, the source
	 * keeps its bytes. */
	assert_int_equal(open_view(f, NULL, t), 0);
	assert_int_equal(qimg_write(f->cbw, 0, b, sizeof(b), &err), -EIO);
	qimg_error_clear(&err);
	snapshot_is_old(f);
	qimg_close(f->sa);
	/* break-snapshot: the write goes through, the snapshot is gone. */
	assert_int_equal(open_view(f, ",file.on-cbw-error=break-snapshot", t),
			 0);
	assert_int_equal(qimg_write(f->cbw, 0, b, sizeof(b), &err), 0);
	assert_int_equal(qimg_read(f->sa, 2 * MiB, f->buf, 512, &err), -EACCES);
	qimg_error_clear(&err);
	assert_int_equal(qimg_read(f->cbw, 0, f->buf, sizeof(b), &err), 0);
	assert_memory_equal(f->buf, b, sizeof(b));
	qimg_close(f->sa);
	restore_src(f);
}

struct racer {
	struct fx *f;
	unsigned int seed;
	int bad;
};

static void *writer(void *arg)
{
	struct racer *r = arg;
	struct qimg_error err = { 0 };
	uint8_t b[8192];
	int i;

	memset(b, (int)r->seed, sizeof(b));
	for (i = 0; i < 200; i++) {
		uint64_t off =
			(uint64_t)(rand_r(&r->seed) % (SIZE - sizeof(b)));

		if (qimg_write(r->f->cbw, off, b, sizeof(b), &err) < 0)
			r->bad++;
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct racer *r = arg;
	struct qimg_error err = { 0 };
	uint8_t *b = malloc(256 * KiB);
	int i;

	for (i = 0; b && i < 100; i++) {
		uint64_t off =
			(uint64_t)(rand_r(&r->seed) % (SIZE - 256 * KiB));

		if (qimg_read(r->f->sa, off, b, 256 * KiB, &err) < 0 ||
		    memcmp(b, r->f->old + off, 256 * KiB))
			r->bad++;
	}
	free(b);
	return NULL;
}

static void test_racing_writers_and_reader(void **state)
{
	struct fx *f = *state;
	struct racer w1 = { f, 0x31, 0 }, w2 = { f, 0x42, 0 }, rd = { f, 9, 0 };
	pthread_t a, b, c;

	create(f->tgt, "qcow2");
	assert_int_equal(open_view(f, NULL, NULL), 0);
	assert_int_equal(pthread_create(&a, NULL, writer, &w1), 0);
	assert_int_equal(pthread_create(&b, NULL, writer, &w2), 0);
	assert_int_equal(pthread_create(&c, NULL, reader, &rd), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	pthread_join(c, NULL);
	assert_int_equal(w1.bad + w2.bad + rd.bad, 0);
	snapshot_is_old(f);
	qimg_close(f->sa);
	restore_src(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_keep_the_snapshot),
		cmocka_unit_test(test_discard_takes_clusters_out),
		cmocka_unit_test(test_failed_copy),
		cmocka_unit_test(test_racing_writers_and_reader),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
