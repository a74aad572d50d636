/* SPDX-License-Identifier: MIT */
/* Unit tests for size parsing and human-readable sizes: every row of the
 * qemu-img captures in reference §1.9 and §1.10, plus corner cases checked
 * against qemu-img 7.2 by hand (fractions, hex, underflow).  Also covers
 * the small lib/util headers: endian.h, overflow.h and vector.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qimg/size.h"
#include "util/endian.h"
#include "util/overflow.h"
#include "util/vector.h"

struct size_case {
	const char *in;
	uint64_t val;
	int warn;
};

static void check_ok(const char *in, uint64_t want, int want_warn)
{
	uint64_t v = 0xdeadbeef;
	int w = -1;
	int r = qimg_parse_size(in, &v, &w);

	if (r != QIMG_SIZE_OK || v != want || w != want_warn)
		fail_msg("'%s': r=%d v=%llu w=%d, want %llu w=%d", in, r,
			 (unsigned long long)v, w, (unsigned long long)want,
			 want_warn);
}

static void check_err(const char *in, int want)
{
	uint64_t v = 0x1234;
	int w = 0;
	int r = qimg_parse_size(in, &v, &w);

	if (r != want)
		fail_msg("'%s': r=%d, want %d", in ? in : "(null)", r, want);
	assert_int_equal(v, 0x1234); /* untouched on error */
}

static void test_valid(void **state)
{
	static const struct size_case cases[] = {
		{ "0", 0, 0 },
		{ "1", 1, 0 },
		{ "511", 511, 0 },
		{ "512", 512, 0 },
		{ "513", 513, 0 },
		{ "1k", 1024, 0 },
		{ "1K", 1024, 0 },
		{ "1.5k", 1536, 0 },
		{ "1.5G", 1610612736, 0 },
		{ "1b", 1, 0 },
		{ "1B", 1, 0 },
		{ "100b", 100, 0 },
		{ "1m", 1048576, 0 },
		{ "1g", 1073741824, 0 },
		{ "1t", 1099511627776ULL, 0 },
		{ "0x100", 256, 0 },
		{ "0X10", 16, 0 },
		{ " 5M", 5242880, 0 },
		{ "+5M", 5242880, 0 },
		{ "9223372036854775807", 9223372036854775807ULL, 0 },
		{ "1P", 1ULL << 50, 0 },
		{ "1E", 1ULL << 60, 0 },
		{ "7.9E", 9108079886394091136ULL, 0 },
		{ "8E", 1ULL << 63, 0 },
		{ "18446744073709551615", UINT64_MAX, 0 },
		{ "1.k", 1024, 0 },
		{ "1.0001k", 1024, 0 },
		/* Checked against qemu-img 7.2 */
		{ "1.0", 1, 0 },
		{ "1.", 1, 0 },
		{ "1.b", 1, 0 },
		{ "1.0k", 1024, 0 },
		{ "00010", 10, 0 },
		{ "010k", 10240, 0 },
		{ "\t1k", 1024, 0 },
		{ " +0x10", 16, 0 },
		{ "0.5k", 512, 0 },
		{ "0.0005k", 1, 0 },
		{ "0.0004k", 0, 0 },
		{ "0.00048828125k", 1, 0 }, /* exactly 0.5: rounds up */
		{ "0.000488281249k", 0, 0 },
		{ "0.9999999999999999k", 1024, 0 },
		{ "1.5e", 1729382256910270464ULL, 0 },
		{ "1.0000000000000000001e", 1ULL << 60, 0 },
		{ "7.99999999999999999999E", 8070450532247928832ULL, 0 },
		/* qemu quirks: a fraction rounding to 1.0 counts as 0 */
		{ "1.9999999999999999999999b", 1, 0 },
		{ "1.9999999999999999999999k", 1024, 0 },
		{ "0.99999999999999999999k", 0, 0 },
		{ "0x1e", 30, 0 },
		{ "0x1E", 30, 0 },
		{ "0x1b", 27, 0 },
		{ "0x0", 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_ok(cases[i].in, cases[i].val, cases[i].warn);
}

static void test_hex_suffix_warning(void **state)
{
	int w = 0;
	uint64_t v;

	(void)state;
	check_ok("0x1k", 1024, 1);
	check_ok("0X1M", 1048576, 1);
	check_ok("0x1p", 1ULL << 50, 1);
	check_ok("1k", 1024, 0);
	/* A NULL warning pointer is allowed. */
	assert_int_equal(qimg_parse_size("0x2k", &v, NULL), QIMG_SIZE_OK);
	assert_int_equal(v, 2048);
	/* qemu-img warns before rejecting the rest ("0x1kz", "0x1kk") or
	 * the range, but not when the hex number itself overflows. */
	w = 0;
	assert_int_equal(qimg_parse_size("0x1kz", &v, &w), QIMG_SIZE_INVALID);
	assert_int_equal(w, 1);
	w = 0;
	assert_int_equal(qimg_parse_size("0x1kk", &v, &w), QIMG_SIZE_INVALID);
	assert_int_equal(w, 1);
	w = 0;
	assert_int_equal(qimg_parse_size("0xfffffffffffffffk", &v, &w),
			 QIMG_SIZE_RANGE);
	assert_int_equal(w, 1);
	w = 1;
	assert_int_equal(qimg_parse_size("0xfffffffffffffffffk", &v, &w),
			 QIMG_SIZE_INVALID);
	assert_int_equal(w, 0);
	w = 1;
	assert_int_equal(qimg_parse_size("0x1.k", &v, &w), QIMG_SIZE_INVALID);
	assert_int_equal(w, 0);
	/* Warning flag is reset on each call. */
	assert_int_equal(qimg_parse_size("0x1k", &v, &w), QIMG_SIZE_OK);
	assert_int_equal(w, 1);
	assert_int_equal(qimg_parse_size("1", &v, &w), QIMG_SIZE_OK);
	assert_int_equal(w, 0);
}

static void test_invalid(void **state)
{
	static const char *const cases[] = {
		"1.5",
		"1kB",
		"1KiB",
		"1e3",
		"1.5e3k",
		".5k",
		"0.5",
		"abc",
		"",
		"1 M",
		"1z",
		"-1",
		"-0",
		"1.5b",
		"0x1.5k",
		"0x",
		"0xk",
		"1k ",
		"+ 1k",
		"++1",
		"1.-5k",
		"99999999999999999999z",
		"99999999999999999999k",
		"1 ",
		"1.5 k",
		"1_000",
		"0b1",
		"0x1.k",
		"0x.5",
		"1.k5",
		"1.5kb",
		"1.5.5k",
		"1.5ek",
		"-0x10",
		"0-1",
		"1.1b",
		".",
		".k",
		"k",
		"x",
		"00x10",
		"0x-5",
		"1.E5",
		"1.5E5",
		"1.2e-3k",
		"1e-3",
		"0xfffffffffffffffffk",
		"16Ex",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_err(cases[i], QIMG_SIZE_INVALID);
	check_err(NULL, QIMG_SIZE_INVALID);
}

static void test_range(void **state)
{
	static const char *const cases[] = {
		"16E",
		"18446744073709551616",
		"99999999999999999999",
		"0x10000000000000000",
		"0xfffffffffffffffff",
		"16384P",
		"17179869184G",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_err(cases[i], QIMG_SIZE_RANGE);
	/* Just below the limit (values checked with qemu-img's -o
	 * cluster_size=, which prints them as int64). */
	check_ok("15.999999999999999E", 18446744073709550464ULL, 0);
	check_ok("16383.99999999999999999999999999P",
		 UINT64_MAX - (1ULL << 50) + 1, 0);
	check_ok("15.9999999999999999999E", 15ULL << 60, 0);
	check_ok("15.99999999999999999E", 15ULL << 60, 0);
	check_ok("0xffffffffffffffff", UINT64_MAX, 0);
}

/* When the fraction underflows a double, qemu skips one character after
 * the digits: "2.<400 zeros>1k" is 2, "1.<400 zeros>1kx" is invalid. */
static void test_fraction_underflow(void **state)
{
	char buf[512];
	size_t n;

	(void)state;
	buf[0] = '2';
	buf[1] = '.';
	memset(buf + 2, '0', 400);
	n = 402;
	memcpy(buf + n, "1k", 3);
	check_ok(buf, 2, 0);
	memcpy(buf + n, "1x", 3);
	check_ok(buf, 2, 0);
	memcpy(buf + n, "1kx", 4);
	check_err(buf, QIMG_SIZE_INVALID);
	memcpy(buf + n, "1", 2);
	check_err(buf, QIMG_SIZE_INVALID);
	/* No underflow: all zeros is simply 0. */
	memcpy(buf + n, "k", 2);
	check_ok(buf, 2048, 0);
}

static void test_human(void **state)
{
	static const struct {
		uint64_t v;
		const char *s;
	} cases[] = {
		{ 0, "0 B" },
		{ 512, "512 B" },
		{ 1024, "1 KiB" },
		{ 1536, "1.5 KiB" },
		{ 1022976, "999 KiB" },
		{ 1023488, "1e+03 KiB" },
		{ 1048064, "1 MiB" },
		{ 1032192, "0.984 MiB" },
		{ 1072693248, "0.999 GiB" },
		{ 1388544, "1.32 MiB" },
		{ 67125248, "64 MiB" },
		{ 67108864, "64 MiB" },
		{ 1048576000, "0.977 GiB" },
		{ 5000000, "4.77 MiB" },
		{ 123456789012ULL, "115 GiB" },
		{ 1ULL << 40, "1 TiB" },
		{ 1ULL << 50, "1 PiB" },
		{ 1ULL << 60, "1 EiB" },
		{ 9223372036854775807ULL, "8 EiB" },
		{ UINT64_MAX, "16 EiB" },
	};
	char buf[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		qimg_human_size(cases[i].v, buf, sizeof(buf));
		if (strcmp(buf, cases[i].s))
			fail_msg("%llu: got '%s', want '%s'",
				 (unsigned long long)cases[i].v, buf,
				 cases[i].s);
	}
	assert_ptr_equal(qimg_human_size(1, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "1 B");
}

static void test_endian(void **state)
{
	uint8_t b[8];

	(void)state;
	qimg_store_be64(b, 0x0102030405060708ULL);
	assert_int_equal(b[0], 1);
	assert_int_equal(b[7], 8);
	assert_int_equal(qimg_load_be64(b), 0x0102030405060708ULL);
	assert_int_equal(qimg_load_le64(b), 0x0807060504030201ULL);
	assert_int_equal(qimg_load_be32(b + 1), 0x02030405);
	assert_int_equal(qimg_load_le32(b + 1), 0x05040302);
	assert_int_equal(qimg_load_be16(b + 3), 0x0405);
	assert_int_equal(qimg_load_le16(b + 3), 0x0504);
	qimg_store_le64(b, 0x0102030405060708ULL);
	assert_int_equal(b[0], 8);
	assert_int_equal(qimg_load_le64(b), 0x0102030405060708ULL);
	qimg_store_be32(b + 1, 0xAABBCCDDu);
	assert_int_equal(b[1], 0xAA);
	assert_int_equal(b[4], 0xDD);
	qimg_store_le32(b + 1, 0xAABBCCDDu);
	assert_int_equal(b[1], 0xDD);
	assert_int_equal(qimg_load_le32(b + 1), 0xAABBCCDDu);
	qimg_store_be16(b + 5, 0xFEDC);
	assert_int_equal(qimg_load_be16(b + 5), 0xFEDC);
	qimg_store_le16(b + 5, 0xFEDC);
	assert_int_equal(b[5], 0xDC);
	assert_int_equal(qimg_load_le16(b + 5), 0xFEDC);
	/* Top bits survive (no sign extension). */
	qimg_store_be64(b, UINT64_MAX);
	assert_int_equal(qimg_load_be64(b), UINT64_MAX);
	assert_int_equal(qimg_load_be32(b), UINT32_MAX);
}

static void test_overflow(void **state)
{
	uint64_t r;
	uint32_t r32;

	(void)state;
	assert_false(qimg_add_overflow(UINT64_MAX - 1, (uint64_t)1, &r));
	assert_int_equal(r, UINT64_MAX);
	assert_true(qimg_add_overflow(UINT64_MAX, (uint64_t)1, &r));
	assert_true(qimg_mul_overflow(1ULL << 32, 1ULL << 32, &r));
	assert_true(qimg_mul_overflow(65536u, 65536u, &r32));
	assert_true(qimg_sub_overflow((uint64_t)0, (uint64_t)1, &r));
	assert_false(qimg_align_up_overflow(1, 512, &r));
	assert_int_equal(r, 512);
	assert_false(qimg_align_up_overflow(1024, 512, &r));
	assert_int_equal(r, 1024);
	assert_true(qimg_align_up_overflow(UINT64_MAX - 10, 512, &r));
	assert_int_equal(qimg_div_round_up(1025, 512), 3);
	assert_int_equal(qimg_div_round_up(UINT64_MAX, 2), 1ULL << 63);
	assert_true(qimg_is_power_of_2(65536));
	assert_false(qimg_is_power_of_2(0));
	assert_false(qimg_is_power_of_2(65537));
}

QIMG_VECTOR(u64_vec, uint64_t)

static void test_vector(void **state)
{
	struct u64_vec v = { 0 };
	void *p = NULL;
	size_t cap = 0, i;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_int_equal(u64_vec_append(&v, i * 3), 0);
	assert_int_equal(v.len, 1000);
	assert_true(v.cap >= 1000);
	for (i = 0; i < 1000; i++)
		assert_int_equal(v.v[i], i * 3);
	assert_int_equal(u64_vec_reserve(&v, 5000), 0);
	assert_true(v.cap >= 6000);
	assert_int_equal(v.len, 1000);
	u64_vec_free(&v);
	assert_null(v.v);
	assert_int_equal(v.len, 0);
	/* Impossible sizes fail cleanly instead of wrapping. */
	assert_int_equal(qimg_vector_grow(&p, &cap, SIZE_MAX, 1, 8), -ENOMEM);
	assert_int_equal(qimg_vector_grow(&p, &cap, 0, SIZE_MAX / 2, 8),
			 -ENOMEM);
	assert_null(p);
	assert_int_equal(cap, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endian),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_vector),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_hex_suffix_warning),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_fraction_underflow),
		cmocka_unit_test(test_human),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
