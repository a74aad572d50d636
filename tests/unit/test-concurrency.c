/* SPDX-License-Identifier: MIT */
/* Many requests at once on one qcow2 image: worker threads own interleaved
 * 512-byte sectors (sector % NTHREADS), so every cluster is written by all
 * of them at the same time: allocation, copy-on-write from a backing file,
 * subcluster bitmaps and refcount growth all race.  Afterwards every byte
 * must be what its owner last wrote, and `qemu-img check` (when installed)
 * must find the image clean. */

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

#define NTHREADS 6
#define SECTOR 512u
#define IMG_SIZE (24u << 20)
#define OPS_PER_THREAD 600

static char dir[] = "/tmp/qimg-test-conc-XXXXXX";

struct job {
	struct qimg_node *node;
	uint8_t *shadow; /* expected content, IMG_SIZE bytes */
	unsigned int id;
	unsigned int seed;
	int failures;
};

static uint32_t rnd(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Write runs of this thread's own sectors (one sector at a time inside a
 * run of up to 64 sectors, so the run spans clusters), sometimes as zero
 * writes. */
static void *worker(void *opaque)
{
	struct job *j = opaque;
	uint8_t buf[SECTOR];
	int op;

	for (op = 0; op < OPS_PER_THREAD; op++) {
		uint64_t first = rnd(&j->seed) % (IMG_SIZE / SECTOR);
		uint32_t run = 1 + rnd(&j->seed) % 64, k;
		bool zero = rnd(&j->seed) % 8 == 0;

		first -= first % NTHREADS;
		first += j->id;
		for (k = 0; k < run; k++) {
			uint64_t sec = first + (uint64_t)k * NTHREADS;
			uint64_t off = sec * SECTOR;
			struct qimg_error err = { 0 };
			int r;

			if (off + SECTOR > IMG_SIZE)
				break;
			if (zero) {
				memset(buf, 0, sizeof(buf));
				r = qimg_write_zeroes(j->node, off, SECTOR, 0,
						      &err);
			} else {
				memset(buf, (int)(1 + (op + k + j->id) % 250),
				       sizeof(buf));
				snprintf((char *)buf, 32, "t%u op%d k%u", j->id,
					 op, k);
				r = qimg_write(j->node, off, buf, SECTOR, &err);
			}
			if (r < 0) {
				fprintf(stderr, "thread %u: %s\n", j->id,
					err.msg);
				j->failures++;
				return NULL;
			}
			memcpy(j->shadow + off, buf, SECTOR);
		}
	}
	return NULL;
}

static int qemu_img_check(const char *p)
{
	char cmd[512];

	if (system("command -v qemu-img >/dev/null 2>&1") != 0)
		return 0;
	snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s'", p);
	return system(cmd);
}

static void run_case(const char *name, const char *options, bool backing)
{
	char p[256], b[256];
	struct qimg_opts o = { 0 };
	struct qimg_error err = { 0 };
	struct qimg_node *n = NULL;
	struct qimg_open_args a = { .format = "qcow2",
				    .flags = QIMG_OPEN_RDWR };
	struct job jobs[NTHREADS];
	pthread_t th[NTHREADS];
	uint8_t *shadow, *back;
	unsigned int i;
	uint64_t off;

	snprintf(p, sizeof(p), "%s/%s.qcow2", dir, name);
	snprintf(b, sizeof(b), "%s/%s-base.raw", dir, name);
	shadow = calloc(1, IMG_SIZE);
	back = malloc(1 << 20);
	assert_non_null(shadow);
	assert_non_null(back);

	if (backing) {
		FILE *f = fopen(b, "wb");

		assert_non_null(f);
		for (off = 0; off < IMG_SIZE; off += 1 << 20) {
			uint64_t k;

			for (k = 0; k < (1 << 20); k++)
				back[k] = (uint8_t)((off + k) * 7 / 3);
			assert_int_equal(fwrite(back, 1, 1 << 20, f), 1 << 20);
			memcpy(shadow + off, back, 1 << 20);
		}
		fclose(f);
	}
	assert_int_equal(qimg_opts_parse(&o, options, &err), 0);
	assert_int_equal(qimg_opts_set(&o, "size", "24M"), 0);
	if (backing) {
		assert_int_equal(qimg_opts_set(&o, "backing_file", b), 0);
		assert_int_equal(qimg_opts_set(&o, "backing_fmt", "raw"), 0);
	}
	assert_int_equal(qimg_create(p, "qcow2", &o, &err), 0);
	qimg_opts_free(&o);

	a.filename = p;
	assert_int_equal(qimg_open(&a, &n, &err), 0);
	for (i = 0; i < NTHREADS; i++) {
		jobs[i] = (struct job){ .node = n,
					.shadow = shadow,
					.id = i,
					.seed = 977u * (i + 1) };
		assert_int_equal(pthread_create(&th[i], NULL, worker, &jobs[i]),
				 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(jobs[i].failures, 0);
	}
	assert_int_equal(qimg_flush(n, &err), 0);
	qimg_close(n);

	/* Reopened, every byte is its owner's last write. */
	a.flags = 0;
	assert_int_equal(qimg_open(&a, &n, &err), 0);
	for (off = 0; off < IMG_SIZE; off += 1 << 20) {
		assert_int_equal(qimg_read(n, off, back, 1 << 20, &err), 0);
		if (memcmp(back, shadow + off, 1 << 20)) {
			uint64_t k = 0;

			while (back[k] == shadow[off + k])
				k++;
			fail_msg("%s: byte %llu differs", name,
				 (unsigned long long)(off + k));
		}
	}
	qimg_close(n);
	assert_int_equal(qemu_img_check(p), 0);
	unlink(p);
	if (backing)
		unlink(b);
	free(back);
	free(shadow);
}

static void test_default(void **state)
{
	run_case("default", "cluster_size=64k", false);
}

static void test_small_clusters(void **state)
{
	/* 4 KiB clusters with 1-bit refcounts: refcount blocks fill up and
	 * the refcount table grows while threads allocate. */
	run_case("small", "cluster_size=4k,refcount_bits=1", false);
}

static void test_backing_cow(void **state)
{
	run_case("cow", "cluster_size=64k", true);
}

static void test_extended_l2(void **state)
{
	run_case("extl2", "cluster_size=64k,extended_l2=on", true);
}

static void test_lazy_v2(void **state)
{
	run_case("v2", "compat=0.10,cluster_size=16k", true);
	run_case("lazy", "lazy_refcounts=on,cluster_size=32k", false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_small_clusters),
		cmocka_unit_test(test_backing_cow),
		cmocka_unit_test(test_extended_l2),
		cmocka_unit_test(test_lazy_v2),
	};
	int r;

	if (!mkdtemp(dir))
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return r;
}
