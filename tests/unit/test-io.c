/* SPDX-License-Identifier: MIT */
/* The checked path between layers (lib/core/io.c) over an in-memory test
 * protocol that demands alignment: the core pads unaligned reads and
 * writes, bounces unaligned buffers, splits at max_transfer, serialises
 * read-modify-writes against concurrent writes of the same blocks (no lost
 * neighbour), trims discards, writes the unaligned edges of zero writes as
 * data, emulates FUA with a flush, and refuses writes to read-only nodes
 * and reads beyond the end. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/driver.h"
#include "core/node.h"

#define ALIGN 512u
#define MEMSIZE (1u << 20)
#define MAXT (64u * 1024)

struct mem_state {
	uint8_t *data;
	pthread_mutex_t lock;
	unsigned int misaligned; /* requests that broke the limits */
	unsigned int flushes, discards, zero_calls;
	uint64_t zeroed;
};

static bool bad(struct qimg_node *n, uint64_t off, const void *buf, size_t len)
{
	return off % ALIGN || len % ALIGN || (uintptr_t)buf % ALIGN ||
	       len > n->limits.max_transfer || off + len > MEMSIZE;
}

static int mem_open(struct qimg_node *n, const struct qimg_opts *o,
		    struct qimg_error *err)
{
	struct mem_state *s = n->opaque;

	s->data = calloc(1, MEMSIZE);
	pthread_mutex_init(&s->lock, NULL);
	n->size = MEMSIZE;
	n->limits.request_align = ALIGN;
	n->limits.mem_align = ALIGN;
	n->limits.max_transfer = MAXT;
	n->limits.discard_align = 4096;
	return s->data ? 0 : -ENOMEM;
}

static void mem_close(struct qimg_node *n)
{
	struct mem_state *s = n->opaque;

	free(s->data);
	pthread_mutex_destroy(&s->lock);
}

static int mem_read(struct qimg_node *n, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct mem_state *s = n->opaque;

	if (bad(n, off, buf, len)) {
		__atomic_add_fetch(&s->misaligned, 1, __ATOMIC_RELAXED);
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	memcpy(buf, s->data + off, len);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int mem_write(struct qimg_node *n, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err)
{
	struct mem_state *s = n->opaque;

	if (bad(n, off, buf, len)) {
		__atomic_add_fetch(&s->misaligned, 1, __ATOMIC_RELAXED);
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	memcpy(s->data + off, buf, len);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int mem_zeroes(struct qimg_node *n, uint64_t off, uint64_t len,
		      unsigned int flags, struct qimg_error *err)
{
	struct mem_state *s = n->opaque;

	if (off % ALIGN || len % ALIGN)
		s->misaligned++;
	memset(s->data + off, 0, len);
	s->zero_calls++;
	s->zeroed += len;
	return 0;
}

static int mem_discard(struct qimg_node *n, uint64_t off, uint64_t len,
		       struct qimg_error *err)
{
	struct mem_state *s = n->opaque;

	if (off % 4096 || len % 4096)
		s->misaligned++;
	memset(s->data + off, 0xdd, len);
	s->discards++;
	return 0;
}

static int mem_flush(struct qimg_node *n, struct qimg_error *err)
{
	((struct mem_state *)n->opaque)->flushes++;
	return 0;
}

static const struct qimg_driver mem_driver = {
	.name = "test-mem",
	.kind = QIMG_DRIVER_PROTOCOL,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct mem_state),
	.open = mem_open,
	.close = mem_close,
	.read = mem_read,
	.write = mem_write,
	.write_zeroes = mem_zeroes,
	.discard = mem_discard,
	.flush = mem_flush,
};

static struct qimg_node *mem_node(unsigned int flags)
{
	struct qimg_node *n =
		qimg_node_new(&mem_driver, "mem", flags, QIMG_CACHE_WRITEBACK);
	struct qimg_error err = { 0 };

	assert_non_null(n);
	assert_int_equal(n->drv->open(n, NULL, &err), 0);
	return n;
}

static void mem_free(struct qimg_node *n)
{
	n->drv->close(n);
	qimg_node_free(n);
}

static struct mem_state *st(struct qimg_node *n)
{
	return n->opaque;
}

static void test_unaligned_read_write(void **state)
{
	struct qimg_node *n = mem_node(QIMG_OPEN_RDWR);
	struct qimg_error err = { 0 };
	uint8_t *buf = malloc(300000), *back = malloc(300001);
	size_t i;

	for (i = 0; i < 300000; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	memset(st(n)->data, 0x5a, MEMSIZE);
	/* Unaligned offset, length, and buffer (back + 1). */
	assert_int_equal(qimg_pwrite(n, 1001, buf, 300000, &err), 0);
	assert_int_equal(qimg_pread(n, 1001, back + 1, 300000, &err), 0);
	assert_memory_equal(back + 1, buf, 300000);
	/* The neighbours of the written range are untouched. */
	assert_int_equal(st(n)->data[1000], 0x5a);
	assert_int_equal(st(n)->data[301001], 0x5a);
	/* Within one block. */
	assert_int_equal(qimg_pwrite(n, 400000, "xyz", 3, &err), 0);
	assert_int_equal(qimg_pread(n, 399999, back, 5, &err), 0);
	assert_memory_equal(back, "\x5axyz\x5a", 5);
	assert_int_equal(st(n)->misaligned, 0);
	free(buf);
	free(back);
	mem_free(n);
}

struct writer {
	struct qimg_node *n;
	int id;
};

/* Each thread owns every 8th 64-byte slice: all slices share blocks with
 * other threads' slices, so a lost read-modify-write shows. */
static void *writer_main(void *opaque)
{
	struct writer *w = opaque;
	struct qimg_error err = { 0 };
	uint8_t slice[64];
	uint64_t off;
	int pass;

	for (pass = 0; pass < 4; pass++) {
		for (off = (uint64_t)w->id * 64; off + 64 <= 256 * 1024;
		     off += 8 * 64) {
			memset(slice, (uint8_t)(w->id * 16 + pass), 64);
			if (qimg_pwrite(w->n, off, slice, 64, &err) < 0)
				return (void *)1;
		}
	}
	return NULL;
}

static void test_concurrent_rmw_keeps_neighbours(void **state)
{
	struct qimg_node *n = mem_node(QIMG_OPEN_RDWR);
	struct writer w[8];
	pthread_t th[8];
	uint64_t off;
	void *ret;
	int i;

	for (i = 0; i < 8; i++) {
		w[i].n = n;
		w[i].id = i;
		assert_int_equal(
			pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	for (off = 0; off < 256 * 1024; off++) {
		int id = (int)(off / 64 % 8);

		if (st(n)->data[off] != (uint8_t)(id * 16 + 3))
			fail_msg("byte %llu: %#x, want %#x",
				 (unsigned long long)off, st(n)->data[off],
				 id * 16 + 3);
	}
	assert_int_equal(st(n)->misaligned, 0);
	mem_free(n);
}

static void test_checks(void **state)
{
	struct qimg_node *ro = mem_node(0), *rw = mem_node(QIMG_OPEN_RDWR);
	struct qimg_error err = { 0 };
	char b[16] = { 0 };

	assert_int_equal(qimg_pwrite(ro, 0, b, 16, &err), -EBADF);
	qimg_error_clear(&err);
	assert_int_equal(qimg_discard(ro, 0, 4096, &err), -EBADF);
	qimg_error_clear(&err);
	assert_int_equal(qimg_write_zeroes(ro, 0, 4096, 0, &err), -EBADF);
	qimg_error_clear(&err);
	assert_int_equal(qimg_truncate(ro, 4096, 0, NULL, &err), -EBADF);
	qimg_error_clear(&err);
	assert_int_equal(qimg_pread(rw, MEMSIZE - 8, b, 16, &err), -EINVAL);
	qimg_error_clear(&err);
	assert_int_equal(qimg_pwrite(rw, MEMSIZE, b, 1, &err), -EINVAL);
	qimg_error_clear(&err);
	assert_int_equal(st(rw)->misaligned, 0);
	mem_free(ro);
	mem_free(rw);
}

static void test_discard_zeroes_fua(void **state)
{
	struct qimg_node *n = mem_node(QIMG_OPEN_RDWR);
	struct qimg_error err = { 0 };

	memset(st(n)->data, 0x11, MEMSIZE);
	/* Discard keeps the edges that are not whole 4 KiB blocks. */
	assert_int_equal(qimg_discard(n, 1000, 10000, &err), 0);
	assert_int_equal(st(n)->discards, 1);
	assert_int_equal(st(n)->data[4095], 0x11);
	assert_int_equal(st(n)->data[4096], 0xdd);
	assert_int_equal(st(n)->data[8191], 0xdd);
	assert_int_equal(st(n)->data[8192], 0x11);
	/* Zero write: aligned middle to the driver, edges as data. */
	memset(st(n)->data, 0x11, MEMSIZE);
	assert_int_equal(qimg_write_zeroes(n, 100, 2000, 0, &err), 0);
	assert_int_equal(st(n)->zeroed, 1536);
	assert_int_equal(st(n)->data[99], 0x11);
	assert_int_equal(st(n)->data[100], 0);
	assert_int_equal(st(n)->data[2099], 0);
	assert_int_equal(st(n)->data[2100], 0x11);
	/* FUA without driver support: a flush after the write. */
	assert_int_equal(st(n)->flushes, 0);
	assert_int_equal(qimg_write_flags(n, 0, "a", 1, QIMG_WRITE_FUA, &err),
			 0);
	assert_int_equal(st(n)->flushes, 1);
	assert_int_equal(st(n)->data[0], 'a');
	assert_int_equal(st(n)->misaligned, 0);
	mem_free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unaligned_read_write),
		cmocka_unit_test(test_concurrent_rmw_keeps_neighbours),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_discard_zeroes_fua),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
