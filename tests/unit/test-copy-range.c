/* SPDX-License-Identifier: MIT */
/* Copy offload (qimg_copy_range, convert -C) on real files: raw to raw,
 * qcow2 data clusters to raw, and raw into qcow2 (new clusters, clusters
 * overwritten in place, unaligned edges) copy by the kernel and give the
 * same bytes; what is not stored as it reads (compressed or zero clusters,
 * holes), a target format that cannot (convert.sh: encrypted qcow2), and a request
 * out of range are refused, the first ones with -ENOTSUP and no message
 * (the caller's buffered copy takes over), the others as errors. */

#include <errno.h>
#include <fcntl.h>
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

#define MiB (1u << 20)
#define SIZE (8 * MiB)

struct files {
	char dir[64];
	char src[96], dst[96];
	uint8_t *pattern, *back;
};

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed + i / 4096);
}

static int setup(void **state)
{
	struct files *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/qimg-copy-range-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->src, sizeof(f->src), "%s/src", f->dir);
	snprintf(f->dst, sizeof(f->dst), "%s/dst", f->dir);
	f->pattern = malloc(SIZE);
	f->back = malloc(SIZE);
	if (!f->pattern || !f->back)
		return -1;
	fill(f->pattern, SIZE, 7);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct files *f = *state;

	unlink(f->src);
	unlink(f->dst);
	rmdir(f->dir);
	free(f->pattern);
	free(f->back);
	free(f);
	return 0;
}

static void create(const char *path, const char *fmt, const char *extra)
{
	struct qimg_opts o = { 0 };
	struct qimg_error err = { 0 };

	unlink(path);
	if (extra)
		assert_int_equal(qimg_opts_parse(&o, extra, &err), 0);
	assert_int_equal(qimg_opts_set(&o, "size", "8M"), 0);
	assert_int_equal(qimg_create(path, fmt, &o, &err), 0);
	qimg_opts_free(&o);
}

static struct qimg_node *open_img(const char *path, const char *fmt,
				  unsigned int flags)
{
	struct qimg_open_args a = { .filename = path,
				    .format = fmt,
				    .flags = flags };
	struct qimg_error err = { 0 };
	struct qimg_node *n = NULL;

	assert_int_equal(qimg_open(&a, &n, &err), 0);
	return n;
}

/* The source file, written through the library. */
static struct qimg_node *make_src(struct files *f, const char *fmt,
				  const char *extra)
{
	struct qimg_error err = { 0 };
	struct qimg_node *n;

	create(f->src, fmt, extra);
	n = open_img(f->src, fmt, QIMG_OPEN_RDWR);
	assert_int_equal(qimg_write(n, 0, f->pattern, SIZE, &err), 0);
	qimg_close(n);
	return open_img(f->src, fmt, 0);
}

static void read_all(const char *path, const char *fmt, uint8_t *buf)
{
	struct qimg_error err = { 0 };
	struct qimg_node *n = open_img(path, fmt, 0);

	assert_int_equal(qimg_read(n, 0, buf, SIZE, &err), 0);
	qimg_close(n);
}

static void test_raw_to_raw(void **state)
{
	struct files *f = *state;
	struct qimg_error err = { 0 };
	struct qimg_node *s = make_src(f, "raw", NULL), *d;

	create(f->dst, "raw", NULL);
	d = open_img(f->dst, "raw", QIMG_OPEN_RDWR);
	/* Whole, then a piece at another offset (unaligned to clusters). */
	assert_int_equal(qimg_copy_range(s, 0, d, 0, SIZE, &err), 0);
	assert_int_equal(
		qimg_copy_range(s, 512, d, 3 * MiB + 1024, 70656, &err), 0);
	assert_false(qimg_error_isset(&err));
	qimg_close(d);
	qimg_close(s);
	memcpy(f->pattern + 3 * MiB + 1024, f->pattern + 512, 70656);
	read_all(f->dst, "raw", f->back);
	assert_memory_equal(f->pattern, f->back, SIZE);
	fill(f->pattern, SIZE, 7);
}

static void test_qcow2_data_to_raw(void **state)
{
	struct files *f = *state;
	struct qimg_error err = { 0 };
	struct qimg_node *s = make_src(f, "qcow2", "cluster_size=4096"), *d;

	create(f->dst, "raw", NULL);
	d = open_img(f->dst, "raw", QIMG_OPEN_RDWR);
	/* Clusters allocated in guest order are contiguous on the host,
	 * but the copy must not depend on it: a range across many. */
	assert_int_equal(qimg_copy_range(s, 4096, d, 4096, SIZE - 8192, &err),
			 0);
	qimg_close(d);
	qimg_close(s);
	read_all(f->dst, "raw", f->back);
	assert_memory_equal(f->pattern + 4096, f->back + 4096, SIZE - 8192);
	/* The edges stay as they were: zeros. */
	assert_int_equal(f->back[0] | f->back[4095] | f->back[SIZE - 1], 0);
}

/* Into qcow2 with 4 KiB clusters: fresh clusters, then an unaligned
 * piece (copy-on-write around it through a buffer), then again over what
 * is allocated (in place); the image reads back as the copies made it. */
static void test_raw_to_qcow2(void **state)
{
	struct files *f = *state;
	struct qimg_error err = { 0 };
	struct qimg_node *s = make_src(f, "raw", NULL), *d;

	create(f->dst, "qcow2", "cluster_size=4096");
	d = open_img(f->dst, "qcow2", QIMG_OPEN_RDWR);
	assert_int_equal(qimg_copy_range(s, 0, d, 0, SIZE / 2, &err), 0);
	assert_int_equal(
		qimg_copy_range(s, 100, d, 5 * MiB + 1000, 70000, &err), 0);
	assert_int_equal(qimg_copy_range(s, 4096, d, 8192, 65536, &err), 0);
	assert_false(qimg_error_isset(&err));
	qimg_close(d);
	qimg_close(s);
	memcpy(f->back, f->pattern, SIZE);
	memset(f->back + SIZE / 2, 0, SIZE / 2);
	memcpy(f->back + 5 * MiB + 1000, f->pattern + 100, 70000);
	memcpy(f->back + 8192, f->pattern + 4096, 65536);
	memcpy(f->pattern, f->back, SIZE);
	read_all(f->dst, "qcow2", f->back);
	assert_memory_equal(f->pattern, f->back, SIZE);
	fill(f->pattern, SIZE, 7);
}

/* Compressed and zero clusters and unallocated space do not read as
 * their host bytes: refused without a message. */
static void test_refused_sources(void **state)
{
	struct files *f = *state;
	struct qimg_error err = { 0 };
	struct qimg_node *s, *d;

	create(f->src, "qcow2", NULL);
	s = open_img(f->src, "qcow2", QIMG_OPEN_RDWR);
	assert_int_equal(qimg_write(s, 0, f->pattern, MiB, &err), 0);
	assert_int_equal(
		qimg_write_compressed(s, 2 * MiB, f->pattern, 65536, &err), 0);
	assert_int_equal(qimg_write_zeroes(s, 3 * MiB, MiB, 0, &err), 0);
	qimg_close(s);
	s = open_img(f->src, "qcow2", 0);
	create(f->dst, "raw", NULL);
	d = open_img(f->dst, "raw", QIMG_OPEN_RDWR);

	assert_int_equal(qimg_copy_range(s, 2 * MiB, d, 0, 65536, &err),
			 -ENOTSUP);
	assert_false(qimg_error_isset(&err));
	assert_int_equal(qimg_copy_range(s, 3 * MiB, d, 0, 65536, &err),
			 -ENOTSUP);
	assert_int_equal(qimg_copy_range(s, 5 * MiB, d, 0, 65536, &err),
			 -ENOTSUP);
	assert_false(qimg_error_isset(&err));
	/* Data first, then a compressed cluster: the data part may have
	 * been copied; the answer is still -ENOTSUP. */
	assert_int_equal(qimg_copy_range(s, MiB - 65536, d, 0, 2 * MiB, &err),
			 -ENOTSUP);
	assert_false(qimg_error_isset(&err));
	qimg_close(d);
	qimg_close(s);
}

/* Only raw and qcow2 targets copy (vdi allocates, but has no copy_in); a
 * read-only target and a range past either end are errors with a
 * message. */
static void test_targets_and_ranges(void **state)
{
	struct files *f = *state;
	struct qimg_error err = { 0 };
	struct qimg_node *s = make_src(f, "raw", NULL), *d;

	create(f->dst, "vdi", NULL);
	d = open_img(f->dst, "vdi", QIMG_OPEN_RDWR);
	assert_int_equal(qimg_copy_range(s, 0, d, 0, MiB, &err), -ENOTSUP);
	assert_false(qimg_error_isset(&err));
	qimg_close(d);

	create(f->dst, "raw", NULL);
	d = open_img(f->dst, "raw", 0);
	assert_int_equal(qimg_copy_range(s, 0, d, 0, MiB, &err), -EBADF);
	assert_true(qimg_error_isset(&err));
	qimg_close(d);

	qimg_error_clear(&err);
	d = open_img(f->dst, "raw", QIMG_OPEN_RDWR);
	assert_int_equal(qimg_copy_range(s, SIZE - 512, d, 0, 1024, &err),
			 -EINVAL);
	assert_true(qimg_error_isset(&err));
	qimg_error_clear(&err);
	assert_int_equal(qimg_copy_range(s, 0, d, SIZE - 512, 1024, &err),
			 -EINVAL);
	assert_true(qimg_error_isset(&err));
	qimg_close(d);
	qimg_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_to_raw),
		cmocka_unit_test(test_qcow2_data_to_raw),
		cmocka_unit_test(test_raw_to_qcow2),
		cmocka_unit_test(test_refused_sources),
		cmocka_unit_test(test_targets_and_ranges),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
