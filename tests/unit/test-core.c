/* SPDX-License-Identifier: MIT */
/* Unit tests of the block layer core over the file protocol and the raw
 * format: create, probe, I/O range checks, zero writes, block status across
 * holes and EOF, backing name resolution and image locks. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "qimg/create.h"
#include "qimg/image.h"

static char dir[] = "/tmp/qimg-test-core-XXXXXX";

static void path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void make_raw(const char *p, const char *size)
{
	struct qimg_opts o = { 0 };
	struct qimg_error err = { 0 };

	assert_int_equal(qimg_opts_set(&o, "size", size), 0);
	assert_int_equal(qimg_create(p, "raw", &o, &err), 0);
	qimg_opts_free(&o);
}

static struct qimg_node *open_img(const char *p, const char *fmt,
				  unsigned int flags)
{
	struct qimg_open_args a = {
		.filename = p,
		.format = fmt,
		.flags = flags,
	};
	struct qimg_error err = { 0 };
	struct qimg_node *n = NULL;

	assert_int_equal(qimg_open(&a, &n, &err), 0);
	return n;
}

static void test_create_and_probe(void **state)
{
	char p[256];
	struct qimg_node *n;
	struct stat st;

	path(p, sizeof(p), "a.raw");
	make_raw(p, "1000");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 1024); /* rounded up to 512 */
	n = open_img(p, NULL, 0);
	assert_string_equal(qimg_node_format(n), "raw");
	assert_int_equal(qimg_size(n), 1024);
	qimg_close(n);
}

static void test_rw_roundtrip(void **state)
{
	char p[256], buf[8192], out[8192];
	struct qimg_error err = { 0 };
	struct qimg_node *n;

	path(p, sizeof(p), "rw.raw");
	make_raw(p, "1M");
	n = open_img(p, "raw", QIMG_OPEN_RDWR);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(qimg_write(n, 4096, buf, sizeof(buf), &err), 0);
	assert_int_equal(qimg_read(n, 4096, out, sizeof(out), &err), 0);
	assert_memory_equal(buf, out, sizeof(buf));
	/* Beyond the end is refused with a message. */
	assert_true(qimg_read(n, (1 << 20) - 10, out, 100, &err) < 0);
	assert_true(qimg_error_isset(&err));
	qimg_close(n);
}

static void test_zeroes_and_status(void **state)
{
	char p[256], buf[65536];
	struct qimg_error err = { 0 };
	struct qimg_extent ext;
	struct qimg_node *n;

	path(p, sizeof(p), "z.raw");
	make_raw(p, "4M");
	n = open_img(p, "raw", QIMG_OPEN_RDWR);
	memset(buf, 1, sizeof(buf));
	assert_int_equal(qimg_write(n, 1 << 20, buf, sizeof(buf), &err), 0);
	assert_int_equal(
		qimg_block_status_above(n, NULL, 1 << 20, 4 << 20, &ext, &err),
		0);
	assert_true(ext.flags & QIMG_BS_DATA);
	assert_true(ext.flags & QIMG_BS_ALLOCATED);
	assert_true(ext.flags & QIMG_BS_OFFSET_VALID);
	assert_int_equal(ext.map, 1 << 20);
	assert_int_equal(qimg_write_zeroes(n, 1 << 20, sizeof(buf),
					   QIMG_ZERO_MAY_UNMAP, &err),
			 0);
	assert_int_equal(qimg_read(n, 1 << 20, buf, sizeof(buf), &err), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(
		qimg_block_status_above(n, NULL, 2 << 20, 1 << 20, &ext, &err),
		0);
	assert_true(ext.flags & QIMG_BS_ZERO);
	assert_false(ext.flags & QIMG_BS_DATA);
	qimg_close(n);
}

static void test_open_errors(void **state)
{
	char p[256];
	struct qimg_open_args a = { 0 };
	struct qimg_error err = { 0 };
	struct qimg_node *n = NULL;

	path(p, sizeof(p), "nosuch");
	a.filename = p;
	assert_int_equal(qimg_open(&a, &n, &err), -ENOENT);
	assert_null(n);
	assert_non_null(strstr(err.msg, "No such file or directory"));

	qimg_error_clear(&err);
	a.filename = dir;
	assert_true(qimg_open(&a, &n, &err) < 0);
	assert_non_null(strstr(err.msg, "to be a regular file"));

	qimg_error_clear(&err);
	path(p, sizeof(p), "a.raw");
	a.filename = p;
	a.format = "bogus";
	assert_true(qimg_open(&a, &n, &err) < 0);
	assert_string_equal(err.msg, "Unknown driver 'bogus'");

	qimg_error_clear(&err);
	a.format = NULL;
	a.flags = QIMG_OPEN_RDWR | QIMG_OPEN_FORCE_SHARE;
	assert_true(qimg_open(&a, &n, &err) < 0);
	assert_string_equal(err.msg, "force-share=on can only be used with "
				     "read-only images");
}

static void test_probed_raw_guard(void **state)
{
	static const uint8_t qcow2_magic[8] = {
		'Q', 'F', 'I', 0xfb, 0, 0, 0, 3
	};
	char p[256];
	struct qimg_error err = { 0 };
	struct qimg_node *n;

	path(p, sizeof(p), "guard.raw");
	make_raw(p, "64k");
	n = open_img(p, NULL, QIMG_OPEN_RDWR);
#ifdef QIMG_HAVE_QCOW2
	assert_true(qimg_write(n, 0, qcow2_magic, sizeof(qcow2_magic), &err) <
		    0);
#endif
	qimg_error_clear(&err);
	assert_int_equal(
		qimg_write(n, 512, qcow2_magic, sizeof(qcow2_magic), &err), 0);
	qimg_close(n);
}

static void test_locks(void **state)
{
	char p[256];
	struct qimg_open_args a = { 0 };
	struct qimg_error err = { 0 };
	struct qimg_node *w, *r2 = NULL;

	path(p, sizeof(p), "lock.raw");
	make_raw(p, "64k");
	/* Raw shares writes, so a reader and a writer coexist. */
	w = open_img(p, "raw", QIMG_OPEN_RDWR);
	a.filename = p;
	a.format = "raw";
	assert_int_equal(qimg_open(&a, &r2, &err), 0);
	qimg_close(r2);
	qimg_close(w);
}

static void test_cache_mode_parse(void **state)
{
	enum qimg_cache_mode m;

	assert_int_equal(qimg_cache_mode_parse("none", &m), 0);
	assert_int_equal(m, QIMG_CACHE_NONE);
	assert_int_equal(qimg_cache_mode_parse("unsafe", &m), 0);
	assert_int_equal(m, QIMG_CACHE_UNSAFE);
	assert_int_equal(qimg_cache_mode_parse("bogus", &m), -EINVAL);
}

static void test_cache_none(void **state)
{
	char p[256], buf[1000], out[1000];
	struct qimg_open_args a = { 0 };
	struct qimg_error err = { 0 };
	struct qimg_node *n = NULL;

	path(p, sizeof(p), "direct.raw");
	make_raw(p, "64k");
	a.filename = p;
	a.format = "raw";
	a.flags = QIMG_OPEN_RDWR;
	a.cache = QIMG_CACHE_NONE;
	if (qimg_open(&a, &n, &err) < 0)
		skip(); /* tmpfs has no O_DIRECT */
	memset(buf, 7, sizeof(buf));
	/* Unaligned offset, length and buffer go through a bounce buffer. */
	assert_int_equal(qimg_write(n, 333, buf, sizeof(buf), &err), 0);
	assert_int_equal(qimg_read(n, 333, out, sizeof(out), &err), 0);
	assert_memory_equal(buf, out, sizeof(buf));
	qimg_close(n);
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_probe),
		cmocka_unit_test(test_rw_roundtrip),
		cmocka_unit_test(test_zeroes_and_status),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_probed_raw_guard),
		cmocka_unit_test(test_locks),
		cmocka_unit_test(test_cache_mode_parse),
		cmocka_unit_test(test_cache_none),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
