/* SPDX-License-Identifier: MIT */
/* Unit tests for the value tree: QDict key order for every object of
 * reference §1.11 (keys inserted in QAPI schema order), QEMU's pretty JSON
 * layout and string escaping (checked against qemu-img 7.2 output), and the
 * human "Format specific information" layout. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qimg/value.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Insert keys (schema order) into a dict and check the QDict order. */
static void check_order(const char *const *schema, size_t n,
			const char *const *want)
{
	struct qimg_value *d = qimg_value_dict();
	size_t idx[64], i;
	const char *key;

	assert_non_null(d);
	assert_true(n <= N(idx));
	for (i = 0; i < n; i++)
		assert_int_equal(qimg_dict_put_int(d, schema[i], (int64_t)i),
				 0);
	assert_int_equal(qimg_value_count(d), n);
	qimg_dict_qemu_order(d, idx);
	for (i = 0; i < n; i++) {
		qimg_value_at(d, idx[i], &key);
		if (strcmp(key, want[i]))
			fail_msg("position %zu: got '%s', want '%s'", i, key,
				 want[i]);
	}
	qimg_value_free(d);
}

static void test_order_image_info(void **state)
{
	static const char *const schema[] = {
		"filename",
		"format",
		"dirty-flag",
		"actual-size",
		"virtual-size",
		"cluster-size",
		"encrypted",
		"compressed",
		"backing-filename",
		"full-backing-filename",
		"backing-filename-format",
		"snapshots",
		"backing-image",
		"format-specific",
	};
	static const char *const want[] = {
		"backing-image",
		"compressed",
		"backing-filename-format",
		"snapshots",
		"virtual-size",
		"filename",
		"cluster-size",
		"format",
		"actual-size",
		"format-specific",
		"full-backing-filename",
		"encrypted",
		"backing-filename",
		"dirty-flag",
	};

	(void)state;
	check_order(schema, N(schema), want);
}

static void test_order_image_check(void **state)
{
	static const char *const schema[] = {
		"filename",
		"format",
		"check-errors",
		"image-end-offset",
		"corruptions",
		"leaks",
		"corruptions-fixed",
		"leaks-fixed",
		"total-clusters",
		"allocated-clusters",
		"fragmented-clusters",
		"compressed-clusters",
	};
	static const char *const want[] = {
		"image-end-offset",
		"compressed-clusters",
		"total-clusters",
		"corruptions",
		"corruptions-fixed",
		"check-errors",
		"leaks",
		"leaks-fixed",
		"allocated-clusters",
		"filename",
		"format",
		"fragmented-clusters",
	};

	(void)state;
	check_order(schema, N(schema), want);
}

static void test_order_small_objects(void **state)
{
	static const char *const measure[] = {
		"required",
		"fully-allocated",
		"bitmaps",
	};
	static const char *const measure_w[] = {
		"bitmaps",
		"required",
		"fully-allocated",
	};
	static const char *const snap[] = {
		"id",	     "name",	     "vm-state-size", "date-sec",
		"date-nsec", "vm-clock-sec", "vm-clock-nsec", "icount",
	};
	static const char *const snap_w[] = {
		"icount",    "vm-clock-nsec", "name", "date-sec",
		"date-nsec", "vm-clock-sec",  "id",   "vm-state-size",
	};
	static const char *const spec[] = { "type", "data" };
	static const char *const bitmap[] = { "name", "granularity", "flags" };
	static const char *const bitmap_w[] = {
		"flags",
		"name",
		"granularity",
	};
	static const char *const slot[] = {
		"active",
		"iters",
		"stripes",
		"key-offset",
	};
	static const char *const slot_w[] = {
		"active",
		"iters",
		"key-offset",
		"stripes",
	};

	(void)state;
	check_order(measure, N(measure), measure_w);
	check_order(snap, N(snap), snap_w);
	check_order(spec, N(spec), spec);
	check_order(bitmap, N(bitmap), bitmap_w);
	check_order(slot, N(slot), slot_w);
}

static void test_order_format_data(void **state)
{
	static const char *const qcow2[] = {
		"compat",	    "data-file",      "data-file-raw",
		"extended-l2",	    "lazy-refcounts", "corrupt",
		"refcount-bits",    "encrypt",	      "bitmaps",
		"compression-type",
	};
	static const char *const qcow2_w[] = {
		"compat",      "compression-type", "lazy-refcounts",
		"bitmaps",     "refcount-bits",	   "data-file",
		"encrypt",     "data-file-raw",	   "corrupt",
		"extended-l2",
	};
	static const char *const vmdk[] = {
		"create-type",
		"cid",
		"parent-cid",
		"extents",
	};
	static const char *const vmdk_w[] = {
		"cid",
		"parent-cid",
		"create-type",
		"extents",
	};
	static const char *const extent[] = {
		"filename",	"format",     "virtual-size",
		"cluster-size", "compressed",
	};
	static const char *const extent_w[] = {
		"compressed",	"virtual-size", "filename",
		"cluster-size", "format",
	};
	static const char *const luks[] = {
		"format",	  "cipher-alg",	      "cipher-mode",
		"ivgen-alg",	  "ivgen-hash-alg",   "hash-alg",
		"payload-offset", "master-key-iters", "uuid",
		"slots",
	};
	static const char *const luks_w[] = {
		"ivgen-alg",	  "hash-alg",	      "cipher-alg",  "uuid",
		"ivgen-hash-alg", "format",	      "cipher-mode", "slots",
		"payload-offset", "master-key-iters",
	};

	(void)state;
	check_order(qcow2, N(qcow2), qcow2_w);
	check_order(vmdk, N(vmdk), vmdk_w);
	check_order(extent, N(extent), extent_w);
	check_order(luks, N(luks), luks_w);
}

/* Keys that share a bucket ("aa" and "aq" both hash to bucket 110, "ab" to
 * 462): the most recently inserted prints first, and replacing a key's
 * value keeps its place. */
static void test_order_ties(void **state)
{
	static const char *const ins[] = { "ab", "aa", "aq" };
	static const char *const want[] = { "aq", "aa", "ab" };
	static const char *const ins2[] = { "aq", "aa" };
	static const char *const want2[] = { "aa", "aq" };
	struct qimg_value *d = qimg_value_dict();
	size_t idx[2];
	const char *k0, *k1;

	(void)state;
	check_order(ins, N(ins), want);
	check_order(ins2, N(ins2), want2);

	assert_int_equal(qimg_dict_put_int(d, "aa", 1), 0);
	assert_int_equal(qimg_dict_put_int(d, "aq", 2), 0);
	assert_int_equal(qimg_dict_put_int(d, "aa", 3), 0);
	assert_int_equal(qimg_value_count(d), 2);
	assert_int_equal(qimg_value_get_int(qimg_dict_get(d, "aa")), 3);
	qimg_dict_qemu_order(d, idx);
	qimg_value_at(d, idx[0], &k0);
	qimg_value_at(d, idx[1], &k1);
	assert_string_equal(k0, "aq");
	assert_string_equal(k1, "aa");
	qimg_value_free(d);
}

static char *to_json(const struct qimg_value *v, int indent)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	qimg_value_print_json(f, v, indent);
	fclose(f);
	return buf;
}

static char *to_human(const struct qimg_value *v, int indent)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	qimg_value_print_human(f, v, indent);
	fclose(f);
	return buf;
}

static void check_escape(const char *in, const char *want)
{
	struct qimg_value *v = qimg_value_str(in);
	char *s = to_json(v, 0);

	if (strcmp(s, want))
		fail_msg("escape: got %s, want %s", s, want);
	free(s);
	qimg_value_free(v);
}

/* Expected strings captured from `qemu-img info --output=json` on files
 * with these names. */
static void test_json_escape(void **state)
{
	(void)state;
	check_escape("plain/path.qcow2", "\"plain/path.qcow2\"");
	check_escape("a\"b\\c", "\"a\\\"b\\\\c\"");
	check_escape("\x01\x7f\t\b\f\r\n\x1f",
		     "\"\\u0001\\u007F\\t\\b\\f\\r\\n\\u001F\"");
	check_escape("z\xc3\xa9\xe2\x82\xac", "\"z\\u00E9\\u20AC\"");
	check_escape("\xf0\x9f\x98\x80", "\"\\uD83D\\uDE00\"");
	check_escape("\xf0\x90\x80\x80", "\"\\uD800\\uDC00\"");
	check_escape("\xf0\x9f\xbf\xbd", "\"\\uD83F\\uDFFD\"");
	check_escape("\xc2\x80", "\"\\u0080\"");
	check_escape("\xe0\xa0\x80", "\"\\u0800\"");
	check_escape("\xee\x80\x80", "\"\\uE000\"");
	check_escape("\xef\xb7\xb0", "\"\\uFDF0\"");
	/* Modified UTF-8 NUL. */
	check_escape("q\xc0\x80", "\"q\\u0000\"");
	/* Invalid sequences: one U+FFFD each. */
	check_escape("\xff", "\"\\uFFFD\"");
	check_escape("\xfe", "\"\\uFFFD\"");
	check_escape("\x80", "\"\\uFFFD\"");
	check_escape("\x80\x80", "\"\\uFFFD\\uFFFD\"");
	check_escape("\xbf\xc3\xa9", "\"\\uFFFD\\u00E9\"");
	check_escape("\xc3(", "\"\\uFFFD(\"");
	check_escape("\xc3", "\"\\uFFFD\"");
	check_escape("\xe2\x82 ", "\"\\uFFFD \"");
	check_escape("\xe2\x82", "\"\\uFFFD\"");
	check_escape("\xe2(\xa1", "\"\\uFFFD(\\uFFFD\"");
	check_escape("\xf0\x9f(", "\"\\uFFFD(\"");
	check_escape("\xf0\x9f\x98", "\"\\uFFFD\"");
	check_escape("\xc2\x7f", "\"\\uFFFD\\u007F\"");
	check_escape("\xed\xa0\x80", "\"\\uFFFD\""); /* surrogate */
	check_escape("\xed\xbf\xbf", "\"\\uFFFD\"");
	check_escape("\xc0\xaf", "\"\\uFFFD\""); /* overlong */
	check_escape("\xc1\xbf", "\"\\uFFFD\"");
	check_escape("\xe0\x80\x80", "\"\\uFFFD\"");
	check_escape("\xe0\x9f\xbf", "\"\\uFFFD\"");
	check_escape("\xf0\x8f\xbf\xbf", "\"\\uFFFD\"");
	check_escape("\xf4\x90\x80\x80", "\"\\uFFFD\""); /* > U+10FFFF */
	check_escape("\xf8\x88\x80\x80\x80", "\"\\uFFFD\"");
	check_escape("\xf8\x88\x80\x80", "\"\\uFFFD\"");
	check_escape("\xfc\x84\x80\x80\x80\x80", "\"\\uFFFD\"");
	check_escape("\xef\xbf\xbf", "\"\\uFFFD\""); /* noncharacters */
	check_escape("\xef\xbf\xbe", "\"\\uFFFD\"");
	check_escape("\xef\xb7\x90", "\"\\uFFFD\"");
	check_escape("\xef\xb7\xaf", "\"\\uFFFD\"");
	check_escape("\xf0\x9f\xbf\xbe", "\"\\uFFFD\"");
	check_escape("\xf4\x8f\xbf\xbf", "\"\\uFFFD\"");
	check_escape("\xef\xbf\xbd", "\"\\uFFFD\"");
	check_escape("", "\"\"");
}

/* The qcow2 "data" dict of an image with two bitmaps and a data file. */
static struct qimg_value *make_qcow2_data(void)
{
	struct qimg_value *data = qimg_value_dict();
	struct qimg_value *bitmaps = qimg_value_list();
	struct qimg_value *b0 = qimg_value_dict(), *b1 = qimg_value_dict();
	struct qimg_value *f0 = qimg_value_list(), *f1 = qimg_value_list();

	assert_non_null(data);
	assert_int_equal(qimg_dict_put_str(data, "compat", "1.1"), 0);
	assert_int_equal(qimg_dict_put_str(data, "data-file", "dd.raw"), 0);
	assert_int_equal(qimg_dict_put_bool(data, "data-file-raw", false), 0);
	assert_int_equal(qimg_dict_put_bool(data, "extended-l2", false), 0);
	assert_int_equal(qimg_dict_put_bool(data, "lazy-refcounts", false), 0);
	assert_int_equal(qimg_dict_put_bool(data, "corrupt", false), 0);
	assert_int_equal(qimg_dict_put_int(data, "refcount-bits", 16), 0);
	assert_int_equal(qimg_list_append(f0, qimg_value_str("auto")), 0);
	assert_int_equal(qimg_dict_put_str(b0, "name", "b0"), 0);
	assert_int_equal(qimg_dict_put_uint(b0, "granularity", 65536), 0);
	assert_int_equal(qimg_dict_put(b0, "flags", f0), 0);
	assert_int_equal(qimg_dict_put_str(b1, "name", "b1"), 0);
	assert_int_equal(qimg_dict_put_uint(b1, "granularity", 131072), 0);
	assert_int_equal(qimg_dict_put(b1, "flags", f1), 0);
	assert_int_equal(qimg_list_append(bitmaps, b0), 0);
	assert_int_equal(qimg_list_append(bitmaps, b1), 0);
	assert_int_equal(qimg_dict_put(data, "bitmaps", bitmaps), 0);
	assert_int_equal(qimg_dict_put_str(data, "compression-type", "zlib"),
			 0);
	return data;
}

static void test_json_layout(void **state)
{
	struct qimg_value *info = qimg_value_dict();
	struct qimg_value *spec = qimg_value_dict();
	char *s;

	(void)state;
	assert_int_equal(qimg_dict_put_str(info, "filename", "y.qcow2"), 0);
	assert_int_equal(qimg_dict_put_str(info, "format", "qcow2"), 0);
	assert_int_equal(qimg_dict_put_bool(info, "dirty-flag", false), 0);
	assert_int_equal(qimg_dict_put_int(info, "actual-size", 225280), 0);
	assert_int_equal(qimg_dict_put_int(info, "virtual-size", 1048576), 0);
	assert_int_equal(qimg_dict_put_int(info, "cluster-size", 65536), 0);
	assert_int_equal(qimg_dict_put_str(spec, "type", "qcow2"), 0);
	assert_int_equal(qimg_dict_put(spec, "data", make_qcow2_data()), 0);
	assert_int_equal(qimg_dict_put(info, "format-specific", spec), 0);

	s = to_json(info, 0);
	/* Captured from qemu-img info --output=json (without the final
	 * newline, which the caller prints). */
	assert_string_equal(s, "{\n"
			       "    \"virtual-size\": 1048576,\n"
			       "    \"filename\": \"y.qcow2\",\n"
			       "    \"cluster-size\": 65536,\n"
			       "    \"format\": \"qcow2\",\n"
			       "    \"actual-size\": 225280,\n"
			       "    \"format-specific\": {\n"
			       "        \"type\": \"qcow2\",\n"
			       "        \"data\": {\n"
			       "            \"compat\": \"1.1\",\n"
			       "            \"compression-type\": \"zlib\",\n"
			       "            \"lazy-refcounts\": false,\n"
			       "            \"bitmaps\": [\n"
			       "                {\n"
			       "                    \"flags\": [\n"
			       "                        \"auto\"\n"
			       "                    ],\n"
			       "                    \"name\": \"b0\",\n"
			       "                    \"granularity\": 65536\n"
			       "                },\n"
			       "                {\n"
			       "                    \"flags\": [\n"
			       "                    ],\n"
			       "                    \"name\": \"b1\",\n"
			       "                    \"granularity\": 131072\n"
			       "                }\n"
			       "            ],\n"
			       "            \"refcount-bits\": 16,\n"
			       "            \"data-file\": \"dd.raw\",\n"
			       "            \"data-file-raw\": false,\n"
			       "            \"corrupt\": false,\n"
			       "            \"extended-l2\": false\n"
			       "        }\n"
			       "    },\n"
			       "    \"dirty-flag\": false\n"
			       "}");
	free(s);
	qimg_value_free(info);
}

static void test_json_scalars(void **state)
{
	struct qimg_value *v;
	char *s;

	(void)state;
	v = qimg_value_uint(4294967295u);
	s = to_json(v, 0);
	assert_string_equal(s, "4294967295");
	free(s);
	qimg_value_free(v);

	v = qimg_value_uint(UINT64_MAX);
	s = to_json(v, 0);
	assert_string_equal(s, "18446744073709551615");
	free(s);
	qimg_value_free(v);

	v = qimg_value_int(-1);
	s = to_json(v, 0);
	assert_string_equal(s, "-1");
	free(s);
	qimg_value_free(v);

	v = qimg_value_int(INT64_MIN);
	s = to_json(v, 0);
	assert_string_equal(s, "-9223372036854775808");
	free(s);
	qimg_value_free(v);

	v = qimg_value_bool(true);
	s = to_json(v, 0);
	assert_string_equal(s, "true");
	free(s);
	qimg_value_free(v);

	/* Empty containers, at top level and nested (indent given). */
	v = qimg_value_dict();
	s = to_json(v, 0);
	assert_string_equal(s, "{\n}");
	free(s);
	s = to_json(v, 8);
	assert_string_equal(s, "{\n        }");
	free(s);
	qimg_value_free(v);

	v = qimg_value_list();
	assert_int_equal(qimg_list_append(v, qimg_value_int(1)), 0);
	assert_int_equal(qimg_list_append(v, qimg_value_list()), 0);
	s = to_json(v, 0);
	assert_string_equal(s, "[\n    1,\n    [\n    ]\n]");
	free(s);
	qimg_value_free(v);
}

/* JSON numbers: an integer int64 (or, positive, uint64) holds is one; any
 * other number a double kept as QEMU's %.17g text, printed unquoted, copied
 * as such, no string to qimg_value_get_str.  Numbers QEMU's lexer refuses
 * are "stray" tokens holding the character that ended them. */
static void test_json_numbers(void **state)
{
	static const struct {
		const char *in, *type, *text;
	} ok[] = {
		{ "0", "i", "0" },
		{ "-0", "i", "0" },
		{ "9223372036854775807", "i", "9223372036854775807" },
		{ "9223372036854775808", "u", "9223372036854775808" },
		{ "18446744073709551615", "u", "18446744073709551615" },
		{ "18446744073709551616", "d", "1.8446744073709552e+19" },
		{ "-9223372036854775809", "d", "-9.2233720368547758e+18" },
		{ "1e3", "d", "1000" },
		{ "1.0", "d", "1" },
		{ "0.1", "d", "0.10000000000000001" },
		{ "-0.0", "d", "-0" },
		{ "1E+17", "d", "1e+17" },
		{ "2e-5", "d", "2.0000000000000002e-05" },
		{ "2e400", "d", "inf" },
		{ "1e-400", "d", "0" },
	};
	static const struct {
		const char *in, *msg;
	} bad[] = {
		{ "1.", "JSON parse error, stray '1.'" },
		{ "[1.]", "JSON parse error, stray '1.]'" },
		{ "[-]", "JSON parse error, stray '-]'" },
		{ "[01]", "JSON parse error, stray '01'" },
		{ "[1.e5]", "JSON parse error, stray '1.e'" },
		{ "[1ee2]", "JSON parse error, stray '1ee'" },
		{ "[1e+]", "JSON parse error, stray '1e+]'" },
		{ "[1.5.5]", "JSON parse error, stray '.'" },
		{ "[1 X]", "JSON parse error, stray 'X'" },
		{ "[tRue]", "JSON parse error, stray 'R'" },
		{ "[a1]", "JSON parse error, invalid keyword 'a'" },
		{ "[1e5e]", "JSON parse error, expected separator in list" },
		{ "[\"a\tb\"]", "JSON parse error, stray '\"a\t'" },
		{ "[\"ab", "JSON parse error, stray '\"ab'" },
		{ "[] @", "Expecting at most one JSON value" },
	};
	struct qimg_value *v, *c;
	char msg[128], *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = qimg_json_parse(ok[i].in, msg, sizeof(msg));
		assert_non_null(v);
		switch (ok[i].type[0]) {
		case 'i':
			assert_int_equal(qimg_value_type(v), QIMG_VALUE_INT);
			break;
		case 'u':
			assert_int_equal(qimg_value_type(v), QIMG_VALUE_UINT);
			break;
		default:
			assert_int_equal(qimg_value_type(v), QIMG_VALUE_DOUBLE);
			assert_string_equal(qimg_value_get_double_text(v),
					    ok[i].text);
			assert_null(qimg_value_get_str(v));
		}
		c = qimg_value_copy(v);
		assert_non_null(c);
		s = qimg_value_to_json_line(c);
		assert_string_equal(s, ok[i].text);
		free(s);
		qimg_value_free(c);
		qimg_value_free(v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(qimg_json_parse(bad[i].in, msg, sizeof(msg)));
		assert_string_equal(msg, bad[i].msg);
	}
}

static void test_human_layout(void **state)
{
	struct qimg_value *data = make_qcow2_data();
	char *s;

	(void)state;
	s = to_human(data, 4);
	assert_string_equal(s, "    compat: 1.1\n"
			       "    compression type: zlib\n"
			       "    lazy refcounts: false\n"
			       "    bitmaps:\n"
			       "        [0]:\n"
			       "            flags:\n"
			       "                [0]: auto\n"
			       "            name: b0\n"
			       "            granularity: 65536\n"
			       "        [1]:\n"
			       "            flags:\n"
			       "            name: b1\n"
			       "            granularity: 131072\n"
			       "    refcount bits: 16\n"
			       "    data file: dd.raw\n"
			       "    data file raw: false\n"
			       "    corrupt: false\n"
			       "    extended l2: false\n");
	free(s);
	qimg_value_free(data);

	/* Unsigned and signed scalars, an empty dict, a raw string. */
	data = qimg_value_dict();
	assert_int_equal(qimg_dict_put_uint(data, "parent-cid", 4294967295u),
			 0);
	assert_int_equal(qimg_dict_put_int(data, "x-y-z", -5), 0);
	assert_int_equal(qimg_dict_put(data, "e", qimg_value_dict()), 0);
	assert_int_equal(qimg_dict_put_str(data, "s", "a\"\xc3\xa9"), 0);
	s = to_human(data, 0);
	assert_non_null(strstr(s, "parent cid: 4294967295\n"));
	assert_non_null(strstr(s, "x y z: -5\n"));
	assert_non_null(strstr(s, "e:\n"));
	assert_non_null(strstr(s, "s: a\"\xc3\xa9\n"));
	free(s);
	qimg_value_free(data);
}

static void test_accessors(void **state)
{
	struct qimg_value *d = qimg_value_dict(), *l = qimg_value_list();
	const char *key;

	(void)state;
	assert_int_equal(qimg_value_type(d), QIMG_VALUE_DICT);
	assert_int_equal(qimg_dict_put_str(d, "k", "v"), 0);
	assert_int_equal(qimg_dict_put_bool(d, "b", true), 0);
	assert_string_equal(qimg_value_get_str(qimg_dict_get(d, "k")), "v");
	assert_true(qimg_value_get_bool(qimg_dict_get(d, "b")));
	assert_null(qimg_dict_get(d, "missing"));
	assert_non_null(qimg_value_at(d, 1, &key));
	assert_string_equal(key, "b");
	assert_null(qimg_value_at(d, 2, &key));
	/* Wrong container types are refused and the value freed. */
	assert_int_equal(qimg_list_append(d, qimg_value_int(1)), -EINVAL);
	assert_int_equal(qimg_dict_put_int(l, "x", 1), -EINVAL);
	assert_int_equal(qimg_dict_put(d, "n", NULL), -ENOMEM);
	assert_int_equal(qimg_list_append(l, qimg_value_str(NULL)), 0);
	assert_string_equal(qimg_value_get_str(qimg_value_at(l, 0, &key)), "");
	assert_null(key);
	assert_null(qimg_value_get_str(qimg_dict_get(d, "b")));
	qimg_value_free(d);
	qimg_value_free(l);
	qimg_value_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_image_info),
		cmocka_unit_test(test_order_image_check),
		cmocka_unit_test(test_order_small_objects),
		cmocka_unit_test(test_order_format_data),
		cmocka_unit_test(test_order_ties),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_json_layout),
		cmocka_unit_test(test_json_scalars),
		cmocka_unit_test(test_json_numbers),
		cmocka_unit_test(test_human_layout),
		cmocka_unit_test(test_accessors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
