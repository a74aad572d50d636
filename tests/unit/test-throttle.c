/* SPDX-License-Identifier: MIT */
/* Unit tests for I/O limits (lib/util/throttle.c) and throttle groups
 * (lib/util/throttle-group.c): the buckets over a clock the test drives
 * (the first request passes, later ones wait for the bucket to drain to
 * its threshold; burst rates; operations counted by size; read and write
 * buckets apart, the total shared), the checks in qemu-img's order, and
 * a group in the --object table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qimg/object.h"
#include "util/throttle-group.h"

#define S 1000000000LL /* one second in ns */

static void start(struct qimg_throttle_state *st, int bucket, double avg,
		  double max, uint64_t len)
{
	struct qimg_throttle_config c;

	qimg_throttle_config_init(&c);
	c.b[bucket].avg = avg;
	c.b[bucket].max = max;
	c.b[bucket].burst_length = len;
	assert_int_equal(qimg_throttle_config_check(&c, NULL), 0);
	qimg_throttle_state_init(st, &c, 0);
}

/* The wait in whole milliseconds. */
static long long ms(int64_t ns)
{
	return (ns + 500000) / 1000000;
}

static void test_rate(void **state)
{
	struct qimg_throttle_state st;

	/* 1000 B/s: a tenth of a second passes at once. */
	start(&st, QIMG_THR_BPS_TOTAL, 1000, 0, 1);
	assert_int_equal(qimg_throttle_wait_ns(&st, false, 0), 0);
	qimg_throttle_account(&st, false, 2000);
	/* 2000 in the bucket, 100 allowed: 1.9 s to drain. */
	assert_int_equal(ms(qimg_throttle_wait_ns(&st, true, 0)), 1900);
	assert_int_equal(ms(qimg_throttle_wait_ns(&st, false, S)), 900);
	assert_int_equal(qimg_throttle_wait_ns(&st, false, 19 * S / 10 + 1), 0);
	/* Drained to empty, never below. */
	assert_int_equal(qimg_throttle_wait_ns(&st, false, 100 * S), 0);
	qimg_throttle_account(&st, false, 150);
	assert_int_equal(ms(qimg_throttle_wait_ns(&st, false, 100 * S)), 50);
}

static void test_read_write_apart(void **state)
{
	struct qimg_throttle_state st;

	start(&st, QIMG_THR_BPS_READ, 100, 0, 1);
	qimg_throttle_account(&st, false, 1000);
	assert_true(qimg_throttle_wait_ns(&st, false, 0) > 0);
	/* Writes have no limit here. */
	assert_int_equal(qimg_throttle_wait_ns(&st, true, 0), 0);
	qimg_throttle_account(&st, true, 1000000);
	assert_int_equal(ms(qimg_throttle_wait_ns(&st, false, 0)), 9900);
}

static void test_burst(void **state)
{
	struct qimg_throttle_state st;

	/* 10 B/s, bursts of 100 B/s for 2 s: 200 B at most in the bucket,
	 * spent at no more than 100 B/s (10 B allowed at once). */
	start(&st, QIMG_THR_BPS_TOTAL, 10, 100, 2);
	qimg_throttle_account(&st, false, 50);
	assert_int_equal(ms(qimg_throttle_wait_ns(&st, false, 0)), 400);
	qimg_throttle_account(&st, false, 150);
	/* 200 in both: burst bucket 1.9 s, main bucket at its size. */
	assert_int_equal(ms(qimg_throttle_wait_ns(&st, false, 0)), 1900);
	qimg_throttle_account(&st, false, 100);
	/* 300 in the main bucket: 100 over 200, 10 s at 10 B/s. */
	assert_int_equal(ms(qimg_throttle_wait_ns(&st, false, 0)), 10000);
}

static void test_ops(void **state)
{
	struct qimg_throttle_config c;
	struct qimg_throttle_state st;

	qimg_throttle_config_init(&c);
	c.b[QIMG_THR_OPS_TOTAL].avg = 10;
	c.op_size = 4096;
	qimg_throttle_state_init(&st, &c, 0);
	/* Two small requests pass (one op is the threshold) ... */
	qimg_throttle_account(&st, false, 512);
	assert_int_equal(qimg_throttle_wait_ns(&st, true, 0), 0);
	qimg_throttle_account(&st, true, 4096);
	assert_int_equal(ms(qimg_throttle_wait_ns(&st, false, 0)), 100);
	/* ... a 40 KiB one counts ten. */
	assert_int_equal(qimg_throttle_wait_ns(&st, false, S), 0);
	qimg_throttle_account(&st, false, 40960);
	assert_int_equal(ms(qimg_throttle_wait_ns(&st, false, S)), 900);
}

static void refused(const char *def, const char *msg)
{
	struct qimg_objects *t = qimg_objects_new();
	struct qimg_error err = { 0 };

	assert_true(qimg_objects_add(t, def, &err) < 0);
	assert_string_equal(err.msg, msg);
	qimg_objects_free(t);
}

static void test_checks(void **state)
{
	refused("throttle-group,id=g,x-iops-total=1,x-iops-read=1",
		"bps/iops/max total values and read/write values cannot be "
		"used at the same time");
	refused("throttle-group,id=g,x-iops-size=1,x-bps-total=1000000000000001",
		"iops size requires an iops value to be set");
	refused("throttle-group,id=g,x-bps-total=1000000000000001",
		"bps/iops/max values must be within [0, 1000000000000000]");
	refused("throttle-group,id=g,x-bps-total=5,x-bps-total-max=4,"
		"x-bps-total-max-length=0",
		"the burst length cannot be 0");
	refused("throttle-group,id=g,x-bps-total=5,x-bps-total-max-length=2",
		"burst length set without burst rate");
	refused("throttle-group,id=g,x-bps-total-max=1000000000000,"
		"x-bps-total-max-length=4294967295",
		"burst length too high for this burst rate");
	/* bytes before operations */
	refused("throttle-group,id=g,x-bps-total-max=5,x-iops-total=5,"
		"x-iops-total-max=1",
		"bps_max/iops_max require corresponding bps/iops values");
	refused("throttle-group,id=g,x-iops-total-max=5,x-bps-total=5,"
		"x-bps-total-max=1",
		"bps_max/iops_max cannot be lower than bps/iops");
	/* each property's own range, in QEMU's order of setting them */
	refused("throttle-group,id=g,x-iops-total-max-length=5000000000,"
		"x-bps-total=-1",
		"x-iops-total-max-length value must be in therange [0, "
		"4294967295]");
	refused("throttle-group,id=g,x-bps-total=-1,"
		"limits.iops-total-max-length=5000000000",
		"iops-total-max-length value must be in the range [0, "
		"4294967295]");
	refused("throttle-group,id=g,x-iops-total=-1,"
		"limits.iops-total-max-length=5000000000",
		"Property values cannot be negative");
	/* types and names before values */
	refused("throttle-group,id=g,x-iops-total=-1,x-bps-total=1k",
		"Parameter 'x-bps-total' expects integer");
	refused("throttle-group,id=g,x-iops-total=abc,limits.bps-total=abc",
		"Parameter 'limits.bps-total' expects integer");
	refused("throttle-group,id=g,limits.bogus=1,x-iops-total=abc",
		"Parameter 'limits.bogus' is unexpected");
	refused("throttle-group,id=g,x-iops-total=-1,foo=1",
		"Parameter 'foo' is unexpected");
	refused("throttle-group,id=g,limits.iops-total=1,limits=5",
		"Parameters 'limits.*' used inconsistently");
	refused("throttle-group,x-iops-total=abc", "Parameter 'id' is missing");
	refused("{'qom-type': 'throttle-group', 'id': 'g', 'limits': "
		"{'iops-total': '10'}}",
		"Invalid parameter type for 'limits.iops-total', expected: "
		"integer");
}

static void test_table(void **state)
{
	struct qimg_objects *t = qimg_objects_new();
	struct qimg_error err = { 0 };
	struct qimg_throttle_group *g;

	assert_int_equal(qimg_objects_add(t,
					  "throttle-group,id=g,"
					  "limits.bps-read=300,x-iops-write=7,"
					  "x-iops-size=0x1000",
					  &err),
			 0);
	assert_int_equal(qimg_objects_add(t, "secret,id=s,data=x", &err), 0);
	g = qimg_objects_throttle_group(t, "g", &err);
	assert_non_null(g);
	assert_true(g->cfg.b[QIMG_THR_BPS_READ].avg == 300);
	assert_true(g->cfg.b[QIMG_THR_OPS_WRITE].avg == 7);
	assert_int_equal(g->cfg.op_size, 4096);
	assert_null(qimg_objects_throttle_group(t, "s", &err));
	assert_string_equal(err.msg, "Throttle group 's' does not exist");
	/* A new id is checked after the properties, before the limits. */
	memset(&err, 0, sizeof(err));
	assert_true(qimg_objects_add(t,
				     "throttle-group,id=g,x-iops-total=1,"
				     "x-iops-read=1",
				     &err) < 0);
	assert_string_equal(err.msg, "attempt to add duplicate property 'g' "
				     "to object (type 'container')");
	/* No limit: no wait, whatever the size. */
	assert_int_equal(qimg_objects_add(t, "throttle-group,id=free", &err),
			 0);
	qimg_throttle_group_io(qimg_objects_throttle_group(t, "free", &err),
			       true, UINT64_MAX);
	qimg_objects_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_read_write_apart),
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
