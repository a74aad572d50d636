/* SPDX-License-Identifier: MIT */
/* The table page cache (lib/formats/table-cache.h) over an in-memory
 * protocol that counts its reads and writes and can fail them: reads go
 * to the file once per page, not past the bytes the file holds, and
 * survive eviction; commits write only the table's bytes of each sector
 * once, raise what the file holds, and a failed write leaves the cache as
 * the disk is. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/driver.h"
#include "core/node.h"
#include "formats/table-cache.h"
#include "util/endian.h"

#define FILESIZE (16u << 20)
#define TOFF 100u /* the table's offset: inside the first sector */

struct mem_state {
	uint8_t *data;
	unsigned int reads, writes;
	uint64_t read_bytes;
	uint64_t last_off, last_len;
	bool fail_writes;
};

static int mem_open(struct qimg_node *n, const struct qimg_opts *o,
		    struct qimg_error *err)
{
	struct mem_state *s = n->opaque;

	(void)o;
	(void)err;
	s->data = calloc(1, FILESIZE);
	n->size = FILESIZE;
	return s->data ? 0 : -ENOMEM;
}

static void mem_close(struct qimg_node *n)
{
	free(((struct mem_state *)n->opaque)->data);
}

static int mem_read(struct qimg_node *n, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct mem_state *s = n->opaque;

	(void)err;
	s->reads++;
	s->read_bytes += len;
	memcpy(buf, s->data + off, len);
	return 0;
}

static int mem_write(struct qimg_node *n, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err)
{
	struct mem_state *s = n->opaque;

	if (s->fail_writes)
		return qimg_error_set(err, EIO, "write failed");
	s->writes++;
	s->last_off = off;
	s->last_len = len;
	memcpy(s->data + off, buf, len);
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
};

struct fixture {
	struct qimg_node *n;
	struct mem_state *m;
	struct qimg_tcache c;
};

/* A table of 2^20 little-endian 32-bit entries (4 MiB, 64 pages: as many
 * as the cache holds), entry i = i * 3 + 1, of which the file holds the
 * first `held` bytes. */
static struct fixture *make(uint64_t held)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct qimg_error err = { 0 };
	uint64_t i;

	assert_non_null(f);
	f->n = qimg_node_new(&mem_driver, "mem", QIMG_OPEN_RDWR,
			     QIMG_CACHE_WRITEBACK);
	assert_non_null(f->n);
	assert_int_equal(f->n->drv->open(f->n, NULL, &err), 0);
	f->m = f->n->opaque;
	memset(f->m->data, 0xee, TOFF);
	for (i = 0; i < (1u << 20); i++)
		qimg_store_le32(f->m->data + TOFF + i * 4,
				(uint32_t)(i * 3 + 1));
	qimg_tc_init(&f->c, f->n, TOFF, 4u << 20, held);
	return f;
}

static void unmake(struct fixture *f)
{
	qimg_tc_free(&f->c);
	f->n->drv->close(f->n);
	qimg_node_free(f->n);
	free(f);
}

static uint32_t get(struct fixture *f, uint64_t i)
{
	struct qimg_error err = { 0 };
	uint32_t e = 0xdeadbeef;

	assert_int_equal(qimg_tc_read_le32(&f->c, i, &e, 1, &err), 0);
	return e;
}

static void test_read_pages_once(void **state)
{
	struct fixture *f = make(4u << 20);
	struct qimg_error err = { 0 };
	uint32_t *e = malloc(5000 * 4);
	uint64_t i;

	(void)state;
	assert_non_null(e);
	assert_int_equal(get(f, 0), 1);
	assert_int_equal(get(f, 16383), 16383 * 3 + 1);
	assert_int_equal(f->m->reads, 1);
	/* across a page boundary, decoded */
	assert_int_equal(qimg_tc_read_le32(&f->c, 14000, e, 5000, &err), 0);
	for (i = 0; i < 5000; i++)
		assert_int_equal(e[i], (14000 + i) * 3 + 1);
	assert_int_equal(f->m->reads, 2);
	/* every page once, then all 64 are held: no more reads */
	for (i = 0; i < (1u << 20); i += 4099)
		assert_int_equal(get(f, i), i * 3 + 1);
	assert_int_equal(f->m->reads, 64);
	for (i = 7; i < (1u << 20); i += 16384)
		assert_int_equal(get(f, i), i * 3 + 1);
	assert_int_equal(f->m->reads, 64);
	/* past the table: zeros, no read */
	assert_int_equal(get(f, 1u << 20), 0);
	assert_int_equal(get(f, UINT64_MAX), 0);
	assert_int_equal(f->m->reads, 64);
	free(e);
	unmake(f);
}

static void test_held(void **state)
{
	/* the file holds 1 MiB + 2 entries of the table */
	struct fixture *f = make((1u << 20) + 8);

	(void)state;
	assert_int_equal(get(f, 262145), 262145 * 3 + 1);
	assert_int_equal(get(f, 262146), 0);
	assert_int_equal(get(f, 300000), 0);
	/* never read past what the file holds */
	assert_true(f->m->read_bytes <= (1u << 20) + 8);
	unmake(f);
}

static void test_commit_sectors(void **state)
{
	struct fixture *f = make(4u << 20);
	struct qimg_error err = { 0 };
	/* entries 0 and 5 share the first sector with the 100 bytes before
	 * the table; 200 is in another sector; 600000 on a far page */
	uint64_t pos[] = { 0, 5 * 4, 200 * 4, 600000 * 4 };
	uint8_t vals[16];
	size_t k;

	(void)state;
	for (k = 0; k < 4; k++)
		qimg_store_le32(vals + k * 4, (uint32_t)(0x1000 + k));
	assert_int_equal(qimg_tc_commit(&f->c, pos, vals, 4, 4, &err), 0);
	assert_int_equal(f->m->writes, 3);
	/* the first run: the table's bytes from entry 0 to entry 5, not the
	 * bytes before the table */
	assert_int_equal(qimg_load_le32(f->m->data + TOFF), 0x1000);
	assert_int_equal(qimg_load_le32(f->m->data + TOFF + 20), 0x1001);
	assert_int_equal(qimg_load_le32(f->m->data + TOFF + 4), 4);
	assert_int_equal(f->m->data[TOFF - 1], 0xee);
	assert_int_equal(qimg_load_le32(f->m->data + TOFF + 2400000), 0x1003);
	assert_int_equal(f->m->last_off, TOFF + 2400000);
	assert_int_equal(f->m->last_len, 4);
	assert_int_equal(get(f, 200), 0x1002);
	assert_int_equal(get(f, 201), 201 * 3 + 1);
	/* after every page was evicted, read back from the file */
	qimg_tc_reset(&f->c, TOFF, 4u << 20, 4u << 20);
	assert_int_equal(get(f, 5), 0x1001);
	assert_int_equal(get(f, 600000), 0x1003);
	unmake(f);
}

static void test_commit_failure(void **state)
{
	struct fixture *f = make(4u << 20);
	struct qimg_error err = { 0 };
	uint64_t pos[] = { 10 * 4, 20000 * 4 };
	uint8_t vals[8];

	(void)state;
	qimg_store_le32(vals, 77);
	qimg_store_le32(vals + 4, 78);
	f->m->fail_writes = true;
	assert_int_equal(qimg_tc_commit(&f->c, pos, vals, 4, 2, &err), -EIO);
	assert_int_equal(get(f, 10), 31);
	assert_int_equal(get(f, 20000), 60001);
	/* bytes outside the table are refused */
	f->m->fail_writes = false;
	pos[0] = (4u << 20) - 2;
	assert_int_equal(qimg_tc_commit(&f->c, pos, vals, 4, 1, &err), -EINVAL);
	assert_int_equal(f->m->writes, 0);
	unmake(f);
}

static void test_commit_past_held(void **state)
{
	struct fixture *f = make(4096);
	struct qimg_error err = { 0 };
	uint64_t pos[] = { 500000 * 4 };
	uint8_t vals[4];

	(void)state;
	assert_int_equal(get(f, 500000), 0);
	qimg_store_le32(vals, 99);
	assert_int_equal(qimg_tc_commit(&f->c, pos, vals, 4, 1, &err), 0);
	assert_true(f->c.held >= 500001 * 4);
	/* evicted: read back from the file, which now holds it */
	qimg_tc_reset(&f->c, TOFF, 4u << 20, f->c.held);
	assert_int_equal(get(f, 500000), 99);
	unmake(f);
}

static void test_be64(void **state)
{
	struct fixture *f = make(4u << 20);
	struct qimg_error err = { 0 };
	uint64_t v[3];

	(void)state;
	qimg_store_be64(f->m->data + TOFF + 8, UINT64_C(0x0102030405060708));
	qimg_tc_reset(&f->c, TOFF, 4u << 20, 4u << 20);
	assert_int_equal(qimg_tc_read_be64(&f->c, 0, v, 3, &err), 0);
	assert_int_equal(v[1], UINT64_C(0x0102030405060708));
	assert_int_equal(v[2], qimg_load_be64(f->m->data + TOFF + 16));
	unmake(f);
}

/* BE32 (vpc's BAT): decoded, and a commit lands as big-endian bytes */
static void test_be32(void **state)
{
	struct fixture *f = make(4u << 20);
	struct qimg_error err = { 0 };
	uint64_t idx = 70000;
	uint32_t v[2], e = 0xa1b2c3d4u;

	(void)state;
	qimg_store_be32(f->m->data + TOFF + 4, 0x01020304u);
	qimg_tc_reset(&f->c, TOFF, 4u << 20, 4u << 20);
	assert_int_equal(qimg_tc_read_be32(&f->c, 0, v, 2, &err), 0);
	assert_int_equal(v[1], 0x01020304u);
	assert_int_equal(qimg_tc_commit_be32(&f->c, &idx, &e, 1, &err), 0);
	assert_int_equal(qimg_load_be32(f->m->data + TOFF + 280000),
			 0xa1b2c3d4u);
	qimg_tc_reset(&f->c, TOFF, 4u << 20, 4u << 20);
	assert_int_equal(qimg_tc_read_be32(&f->c, idx, v, 1, &err), 0);
	assert_int_equal(v[0], 0xa1b2c3d4u);
	unmake(f);
}

static uint64_t get64(struct fixture *f, uint64_t i)
{
	struct qimg_error err = { 0 };
	uint64_t e = 0xdeadbeef;

	assert_int_equal(qimg_tc_read_le64(&f->c, i, &e, 1, &err), 0);
	return e;
}

/* A run of little-endian 64-bit entries: one write per page it covers,
 * exactly its bytes; NULL values fill; a failed write is forgotten. */
static void test_commit_run(void **state)
{
	struct fixture *f = make(4u << 20);
	struct qimg_error err = { 0 };
	uint64_t *v = malloc(5000 * 8), i, before, after;

	(void)state;
	assert_non_null(v);
	for (i = 0; i < 5000; i++)
		v[i] = UINT64_C(0x1122334400000000) + i;
	before = qimg_load_le64(f->m->data + TOFF + 8189 * 8);
	after = qimg_load_le64(f->m->data + TOFF + 13190 * 8);
	/* entries 8190..13189: pages 0 and 1 (8192 entries a page) */
	assert_int_equal(
		qimg_tc_commit_run(&f->c, 8190, v, 0, 5000, QIMG_TC_LE64, &err),
		0);
	assert_int_equal(f->m->writes, 2);
	assert_int_equal(f->m->last_off, TOFF + 8192 * 8);
	assert_int_equal(f->m->last_len, (13190 - 8192) * 8);
	for (i = 0; i < 5000; i += 7)
		assert_true(qimg_load_le64(f->m->data + TOFF +
					   (8190 + i) * 8) == v[i]);
	assert_true(qimg_load_le64(f->m->data + TOFF + 8189 * 8) == before);
	assert_true(qimg_load_le64(f->m->data + TOFF + 13190 * 8) == after);
	assert_true(get64(f, 9000) == v[810]);
	qimg_tc_reset(&f->c, TOFF, 4u << 20, 4u << 20);
	assert_true(get64(f, 13189) == v[4999]);
	/* fill */
	assert_int_equal(
		qimg_tc_commit_run(&f->c, 3, NULL, 1, 2, QIMG_TC_LE64, &err),
		0);
	assert_true(get64(f, 3) == 1 && get64(f, 4) == 1);
	assert_true(qimg_load_le64(f->m->data + TOFF + 32) == 1);
	/* a failed write leaves the cache as the disk is */
	f->m->fail_writes = true;
	assert_int_equal(
		qimg_tc_commit_run(&f->c, 100, v, 0, 3, QIMG_TC_LE64, &err),
		-EIO);
	assert_true(get64(f, 100) == qimg_load_le64(f->m->data + TOFF + 800));
	f->m->fail_writes = false;
	/* entries past the table are refused */
	assert_int_equal(qimg_tc_commit_run(&f->c, (1u << 19) - 1, v, 0, 2,
					    QIMG_TC_LE64, &err),
			 -EINVAL);
	assert_int_equal(f->m->writes, 3);
	free(v);
	unmake(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_pages_once),
		cmocka_unit_test(test_held),
		cmocka_unit_test(test_commit_sectors),
		cmocka_unit_test(test_commit_failure),
		cmocka_unit_test(test_commit_past_held),
		cmocka_unit_test(test_be64),
		cmocka_unit_test(test_be32),
		cmocka_unit_test(test_commit_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
