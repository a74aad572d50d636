/* SPDX-License-Identifier: MIT */
/* Unit tests for dirty bitmaps in memory (lib/core/dirty-bitmap.c): bits
 * set from guest ranges at several granularities, the on-disk bit order,
 * chunks past the end masked, merges of equal and different granularities,
 * resizing, and the set's marking of enabled, consistent bitmaps only,
 * from several threads at once (also run under TSan). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/dirty-bitmap.h"

/* The set bits of bm as "a-b,c-d" (bit numbers, b and d exclusive). */
static void runs(const struct qimg_dirty_bitmap *bm, char *out, size_t len)
{
	uint64_t n = qimg_dbm_bits(bm), k = 0, a;
	size_t pos = 0;

	out[0] = '\0';
	while (k < n) {
		if (!qimg_dbm_get(bm, k)) {
			k++;
			continue;
		}
		a = k;
		while (k < n && qimg_dbm_get(bm, k))
			k++;
		pos += (size_t)snprintf(out + pos, len - pos, "%s%llu-%llu",
					pos ? "," : "", (unsigned long long)a,
					(unsigned long long)k);
	}
}

static void assert_runs(const struct qimg_dirty_bitmap *bm, const char *want)
{
	char got[256];

	runs(bm, got, sizeof(got));
	assert_string_equal(got, want);
}

static void test_set(void **state)
{
	/* 1 MiB + 100 bytes at 4 KiB granularity: 257 bits, chunks of 512
	 * bytes (4096 bits). */
	struct qimg_dirty_bitmap *bm =
		qimg_dbm_new("b", (1 << 20) + 100, 12, 9);

	(void)state;
	assert_non_null(bm);
	assert_int_equal(qimg_dbm_bits(bm), 257);
	assert_int_equal(bm->nchunks, 1);
	assert_null(qimg_dbm_chunk(bm, 0));
	assert_int_equal(qimg_dbm_set(bm, 4095, 2), 0);
	assert_runs(bm, "0-2");
	assert_int_equal(qimg_dbm_set(bm, 40960, 4096 * 17), 0);
	assert_runs(bm, "0-2,10-27");
	/* Past the end: clipped to the last bit. */
	assert_int_equal(qimg_dbm_set(bm, (1 << 20) + 50, 1 << 20), 0);
	assert_runs(bm, "0-2,10-27,256-257");
	assert_int_equal(qimg_dbm_set(bm, 2 << 20, 4096), 0);
	assert_int_equal(qimg_dbm_set(bm, 0, 0), 0);
	assert_runs(bm, "0-2,10-27,256-257");
	/* On-disk order: bit k is bit k % 8 of byte k / 8. */
	assert_int_equal(qimg_dbm_chunk(bm, 0)[0], 0x03);
	assert_int_equal(qimg_dbm_chunk(bm, 0)[1], 0xfc);
	assert_int_equal(qimg_dbm_chunk(bm, 0)[3], 0x07);
	assert_int_equal(qimg_dbm_chunk(bm, 0)[32], 0x01);
	qimg_dbm_clear(bm);
	assert_null(qimg_dbm_chunk(bm, 0));
	qimg_dbm_free(bm);
}

static void test_chunks(void **state)
{
	/* 64 KiB granularity over 100 MiB + 1: 1601 bits in chunks of 64
	 * bytes (512 bits): 4 chunks, the last one 65 bits long. */
	struct qimg_dirty_bitmap *bm =
		qimg_dbm_new("b", (100 << 20) + 1, 16, 6);
	uint8_t buf[64];

	(void)state;
	assert_int_equal(bm->nchunks, 4);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(qimg_dbm_load_chunk(bm, 1, buf), 0);
	assert_null(bm->chunk[1]);
	buf[0] = 0x81;
	assert_int_equal(qimg_dbm_load_chunk(bm, 1, buf), 0);
	assert_runs(bm, "512-513,519-520");
	/* All ones in the last chunk: bits past the end stay clear. */
	assert_int_equal(qimg_dbm_load_chunk(bm, 3, NULL), 0);
	assert_runs(bm, "512-513,519-520,1536-1601");
	assert_int_equal(qimg_dbm_chunk(bm, 3)[8], 0x01);
	assert_int_equal(qimg_dbm_chunk(bm, 3)[9], 0);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(qimg_dbm_load_chunk(bm, 3, buf), 0);
	assert_int_equal(qimg_dbm_chunk(bm, 3)[63], 0);
	qimg_dbm_free(bm);
}

static void test_merge(void **state)
{
	struct qimg_dirty_bitmap *a = qimg_dbm_new("a", 1 << 24, 16, 9);
	struct qimg_dirty_bitmap *b = qimg_dbm_new("b", 1 << 24, 16, 9);
	struct qimg_dirty_bitmap *fine = qimg_dbm_new("f", 1 << 24, 9, 9);
	struct qimg_dirty_bitmap *coarse = qimg_dbm_new("c", 1 << 24, 20, 9);

	(void)state;
	qimg_dbm_set(a, 0, 1);
	qimg_dbm_set(b, 3 << 16, 2 << 16);
	assert_int_equal(qimg_dbm_merge(a, b), 0);
	assert_runs(a, "0-1,3-5");
	/* Finer source: the coarse bits covering each dirty area. */
	qimg_dbm_set(fine, 1000, 10);
	qimg_dbm_set(fine, (5 << 20) - 512, 1024);
	assert_int_equal(qimg_dbm_merge(coarse, fine), 0);
	assert_runs(coarse, "0-1,4-6");
	/* Coarser source: every fine bit under each dirty area. */
	qimg_dbm_clear(fine);
	assert_int_equal(qimg_dbm_merge(fine, coarse), 0);
	assert_runs(fine, "0-2048,8192-12288");
	assert_int_equal(qimg_dbm_merge(a, coarse), 0);
	assert_runs(a, "0-16,64-96");
	qimg_dbm_free(a);
	qimg_dbm_free(b);
	qimg_dbm_free(fine);
	qimg_dbm_free(coarse);
}

static void test_resize(void **state)
{
	struct qimg_dirty_bitmap *bm = qimg_dbm_new("b", 1 << 20, 9, 9);

	(void)state;
	assert_int_equal(bm->nchunks, 1);
	qimg_dbm_set(bm, 0, 1 << 20);
	assert_runs(bm, "0-2048");
	assert_int_equal(qimg_dbm_resize(bm, (1 << 19) + 512 * 3), 0);
	assert_runs(bm, "0-1027");
	assert_int_equal(qimg_dbm_resize(bm, 4 << 20), 0);
	assert_int_equal(bm->nchunks, 2);
	assert_runs(bm, "0-1027");
	qimg_dbm_set(bm, (4 << 20) - 1, 1);
	assert_runs(bm, "0-1027,8191-8192");
	assert_int_equal(qimg_dbm_resize(bm, 0), 0);
	assert_int_equal(bm->nchunks, 0);
	assert_runs(bm, "");
	qimg_dbm_free(bm);
}

static void test_set_mark(void **state)
{
	struct qimg_bitmap_set set;
	struct qimg_dirty_bitmap *on, *off, *bad;

	(void)state;
	assert_int_equal(qimg_bitmap_set_init(&set, 9, false), 0);
	on = qimg_dbm_new("on", 1 << 20, 12, 9);
	off = qimg_dbm_new("off", 1 << 20, 12, 9);
	bad = qimg_dbm_new("bad", 1 << 20, 12, 9);
	off->enabled = false;
	bad->inconsistent = true;
	assert_int_equal(qimg_bitmap_set_add(&set, on), 0);
	assert_int_equal(qimg_bitmap_set_add(&set, off), 0);
	assert_int_equal(qimg_bitmap_set_add(&set, bad), 0);
	qimg_bitmap_set_mark(&set, 8192, 1);
	assert_runs(on, "2-3");
	assert_runs(off, "");
	assert_runs(bad, "");
	assert_ptr_equal(qimg_bitmap_set_find(&set, "off"), off);
	qimg_bitmap_set_drop(&set, off);
	assert_null(qimg_bitmap_set_find(&set, "off"));
	assert_int_equal(set.n, 2);
	assert_ptr_equal(set.v[1], bad);
	assert_int_equal(qimg_bitmap_set_resize(&set, 2 << 20), 0);
	assert_int_equal(qimg_dbm_bits(on), 512);
	qimg_bitmap_set_destroy(&set);
}

struct marker {
	struct qimg_bitmap_set *set;
	uint64_t first;
};

static void *mark_many(void *opaque)
{
	struct marker *m = opaque;
	uint64_t i;

	for (i = 0; i < 1000; i++)
		qimg_bitmap_set_mark(m->set, (m->first + i * 4) << 12, 4096);
	return NULL;
}

/* Writers record their writes from many threads at once (convert -m). */
static void test_set_mark_threads(void **state)
{
	struct qimg_bitmap_set set;
	struct qimg_dirty_bitmap *bm;
	struct marker m[4];
	pthread_t th[4];
	int i;

	(void)state;
	assert_int_equal(qimg_bitmap_set_init(&set, 9, false), 0);
	bm = qimg_dbm_new("b", 4000 << 12, 12, 9);
	assert_int_equal(qimg_bitmap_set_add(&set, bm), 0);
	for (i = 0; i < 4; i++) {
		m[i].set = &set;
		m[i].first = (uint64_t)i;
		assert_int_equal(pthread_create(&th[i], NULL, mark_many, &m[i]),
				 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_runs(bm, "0-4000");
	qimg_bitmap_set_destroy(&set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_resize),
		cmocka_unit_test(test_set_mark),
		cmocka_unit_test(test_set_mark_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
