/* SPDX-License-Identifier: MIT */
/* Unit tests for option strings: qemu-img's grammar (",," escapes, flags,
 * "noX", help/?, id=, last wins), the -o list check, typed validation with
 * qemu-img's error texts, and the `-o help` layout (reference §1.8, §3). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qimg/image.h"
#include "qimg/opts.h"
#include "qimg/value.h"
#include "util/base64.h"
#include "util/uri.h"

static const struct qimg_opt_desc qcow2_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "compat", QIMG_OPT_STRING,
	  "Compatibility level (v2 [0.10] or v3 [1.1])", NULL },
	{ "backing_file", QIMG_OPT_STRING, "File name of a base image", NULL },
	{ "backing_fmt", QIMG_OPT_STRING, "Image format of the base image",
	  NULL },
	{ "data_file", QIMG_OPT_STRING, "File name of an external data file",
	  NULL },
	{ "data_file_raw", QIMG_OPT_BOOL,
	  "The external data file must stay valid as a raw image", NULL },
	{ "encryption", QIMG_OPT_BOOL,
	  "Encrypt the image with format 'aes'. (Deprecated in favor of "
	  "encrypt.format=aes)",
	  NULL },
	{ "encrypt.format", QIMG_OPT_STRING,
	  "Encrypt the image, format choices: 'aes', 'luks'", NULL },
	{ "encrypt.key-secret", QIMG_OPT_STRING,
	  "ID of secret providing qcow AES key or LUKS passphrase", NULL },
	{ "encrypt.cipher-alg", QIMG_OPT_STRING,
	  "Name of encryption cipher algorithm", NULL },
	{ "encrypt.cipher-mode", QIMG_OPT_STRING,
	  "Name of encryption cipher mode", NULL },
	{ "encrypt.ivgen-alg", QIMG_OPT_STRING,
	  "Name of IV generator algorithm", NULL },
	{ "encrypt.ivgen-hash-alg", QIMG_OPT_STRING,
	  "Name of IV generator hash algorithm", NULL },
	{ "encrypt.hash-alg", QIMG_OPT_STRING,
	  "Name of encryption hash algorithm", NULL },
	{ "encrypt.iter-time", QIMG_OPT_NUMBER,
	  "Time to spend in PBKDF in milliseconds", NULL },
	{ "cluster_size", QIMG_OPT_SIZE, "qcow2 cluster size", "65536" },
	{ "preallocation", QIMG_OPT_STRING,
	  "Preallocation mode (allowed values: off, metadata, falloc, full)",
	  NULL },
	{ "lazy_refcounts", QIMG_OPT_BOOL, "Postpone refcount updates", "off" },
	{ "refcount_bits", QIMG_OPT_NUMBER,
	  "Width of a reference count entry in bits", "16" },
	{ "compression_type", QIMG_OPT_STRING,
	  "Compression method used for image cluster compression", "zlib" },
	{ "extended_l2", QIMG_OPT_BOOL, "Extended L2 tables", "off" },
	{ NULL, 0, NULL, NULL },
};

static const struct qimg_opt_desc raw_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct qimg_opt_desc file_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "preallocation", QIMG_OPT_STRING,
	  "Preallocation mode (allowed values: off, falloc, full)", NULL },
	{ "nocow", QIMG_OPT_BOOL,
	  "Turn off copy-on-write (valid only on btrfs)", NULL },
	{ "extent_size_hint", QIMG_OPT_SIZE,
	  "Extent size hint for the image file, 0 to disable", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct qimg_opt_desc *const qcow2_schemas[] = { qcow2_opts, NULL };

/* Parse str and validate it against the qcow2 schema; returns the result
 * and leaves the message in err. */
static int parse_validate(struct qimg_opts *o, const char *str,
			  struct qimg_error *err)
{
	int r;

	memset(o, 0, sizeof(*o));
	qimg_error_clear(err);
	r = qimg_opts_parse(o, str, err);
	if (r < 0)
		return r;
	return qimg_opts_validate(o, qcow2_schemas, err);
}

static void expect_error(const char *str, const char *msg)
{
	struct qimg_opts o;
	struct qimg_error err;
	int r = parse_validate(&o, str, &err);

	if (r != -EINVAL || strcmp(err.msg, msg))
		fail_msg("'%s': r=%d msg='%s', want '%s'", str, r, err.msg,
			 msg);
	qimg_opts_free(&o);
}

static void test_check_list(void **state)
{
	static const char *const bad[] = {
		"",
		",cluster_size=4k",
		"cluster_size=4k,",
		"a,,,",
		",,a",
		"a,",
		",",
	};
	static const char *const good[] = {
		"cluster_size=4k", "cluster_size=4k,,", "a,,,,", "a", "a,,b",
	};
	struct qimg_error err;
	char want[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		qimg_error_clear(&err);
		assert_int_equal(qimg_opts_check_list(bad[i], &err), -EINVAL);
		snprintf(want, sizeof(want), "Invalid option list: %s", bad[i]);
		assert_string_equal(err.msg, want);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		qimg_error_clear(&err);
		assert_int_equal(qimg_opts_check_list(good[i], &err), 0);
		assert_false(qimg_error_isset(&err));
	}
}

static void test_parse_grammar(void **state)
{
	struct qimg_opts o = { 0 };
	struct qimg_error err = { 0 };

	(void)state;
	assert_int_equal(
		qimg_opts_parse(
			&o,
			"backing_file=a,,b.qcow2,lazy_refcounts,noextended_l2,"
			"a=b=c,compat=1.1,,x",
			&err),
		0);
	assert_int_equal(o.len, 5);
	assert_string_equal(qimg_opts_get_str(&o, "backing_file", NULL),
			    "a,b.qcow2");
	assert_string_equal(qimg_opts_get_str(&o, "lazy_refcounts", NULL),
			    "on");
	assert_string_equal(qimg_opts_get_str(&o, "extended_l2", NULL), "off");
	assert_string_equal(qimg_opts_get_str(&o, "a", NULL), "b=c");
	assert_string_equal(qimg_opts_get_str(&o, "compat", NULL), "1.1,x");
	assert_false(o.help);
	/* Insertion order is kept. */
	assert_string_equal(o.v[0].name, "backing_file");
	assert_string_equal(o.v[4].name, "compat");
	qimg_opts_free(&o);

	/* A value ending in an escaped comma. */
	assert_int_equal(qimg_opts_parse(&o, "cluster_size=4k,,", &err), 0);
	assert_string_equal(qimg_opts_get_str(&o, "cluster_size", NULL), "4k,");
	qimg_opts_free(&o);

	/* Empty names: "=x" and a bare "no". */
	assert_int_equal(qimg_opts_parse(&o, "=x,no", &err), 0);
	assert_int_equal(o.len, 1);
	assert_string_equal(o.v[0].name, "");
	assert_string_equal(o.v[0].value, "off");
	qimg_opts_free(&o);

	/* Flags do not un-escape: "a,,,," is a, then empty flags. */
	assert_int_equal(qimg_opts_parse(&o, "a,,,,", &err), 0);
	assert_string_equal(o.v[0].name, "a");
	assert_string_equal(o.v[0].value, "on");
	qimg_opts_free(&o);

	/* Empty input parses to nothing. */
	assert_int_equal(qimg_opts_parse(&o, "", &err), 0);
	assert_int_equal(o.len, 0);
	qimg_opts_free(&o);
}

static void test_parse_help_id(void **state)
{
	struct qimg_opts o = { 0 };
	struct qimg_error err = { 0 };

	(void)state;
	assert_int_equal(qimg_opts_parse(&o, "cluster_size=4k,help", &err), 0);
	assert_true(o.help);
	assert_int_equal(o.len, 1);
	qimg_opts_free(&o);

	assert_int_equal(qimg_opts_parse(&o, "?,bogus", &err), 0);
	assert_true(o.help);
	assert_int_equal(o.len, 1);
	qimg_opts_free(&o);

	/* Only the bare flags ask for help. */
	assert_int_equal(qimg_opts_parse(&o, "help=1,nohelp,?=x", &err), 0);
	assert_false(o.help);
	assert_string_equal(qimg_opts_get_str(&o, "help", NULL), "off");
	assert_string_equal(qimg_opts_get_str(&o, "?", NULL), "x");
	qimg_opts_free(&o);

	/* id is dropped in every form. */
	assert_int_equal(qimg_opts_parse(&o, "id=x,,y,id,noid,size=1M", &err),
			 0);
	assert_int_equal(o.len, 1);
	assert_string_equal(o.v[0].name, "size");
	qimg_opts_free(&o);
}

static void test_last_wins(void **state)
{
	struct qimg_opts o;
	struct qimg_error err;

	(void)state;
	assert_int_equal(
		parse_validate(
			&o,
			"cluster_size=4k,lazy_refcounts=on,cluster_size=8k,"
			"nolazy_refcounts",
			&err),
		0);
	assert_int_equal(o.len, 2);
	assert_string_equal(o.v[0].name, "cluster_size");
	assert_int_equal(qimg_opts_get_u64(&o, "cluster_size", 0), 8192);
	assert_false(qimg_opts_get_bool(&o, "lazy_refcounts", true));
	qimg_opts_free(&o);

	/* qemu-img checks every occurrence, also the replaced ones. */
	expect_error("cluster_size=bad,cluster_size=4k",
		     "Parameter 'cluster_size' expects a non-negative number "
		     "below 2^64\nOptional suffix k, M, G, T, P or E means "
		     "kilo-, mega-, giga-, tera-, peta-\nand exabytes, "
		     "respectively.");
	expect_error("refcount_bits=x,lazy_refcounts=y,lazy_refcounts=z",
		     "Parameter 'refcount_bits' expects a number");
	expect_error("lazy_refcounts=x,bogus",
		     "Parameter 'lazy_refcounts' expects 'on' or 'off'");
	expect_error("bogus,lazy_refcounts=x", "Invalid parameter 'bogus'");
}

static void test_validate_errors(void **state)
{
	static const char *const hint =
		"\nOptional suffix k, M, G, T, P or E means kilo-, mega-, "
		"giga-, tera-, peta-\nand exabytes, respectively.";
	char want[512];

	(void)state;
	expect_error("bogus=1", "Invalid parameter 'bogus'");
	expect_error("nofoo", "Invalid parameter 'foo'");
	expect_error("foo", "Invalid parameter 'foo'");
	expect_error("a=b=c", "Invalid parameter 'a'");
	expect_error("=x", "Invalid parameter ''");
	expect_error("no", "Invalid parameter ''");
	expect_error("help=1", "Invalid parameter 'help'");
	expect_error("nohelp", "Invalid parameter 'help'");
	expect_error("a,,,,", "Invalid parameter 'a'");
	expect_error("lazy_refcounts=ON",
		     "Parameter 'lazy_refcounts' expects 'on' or 'off'");
	expect_error("lazy_refcounts=",
		     "Parameter 'lazy_refcounts' expects 'on' or 'off'");
	expect_error("refcount_bits=16k",
		     "Parameter 'refcount_bits' expects a number");
	expect_error("refcount_bits=",
		     "Parameter 'refcount_bits' expects a number");
	expect_error("refcount_bits=16 ",
		     "Parameter 'refcount_bits' expects a number");
	expect_error("refcount_bits=0x",
		     "Parameter 'refcount_bits' expects a number");
	expect_error("refcount_bits=99999999999999999999999",
		     "Value '99999999999999999999999' is too large for "
		     "parameter 'refcount_bits'");
	expect_error("refcount_bits=18446744073709551616",
		     "Value '18446744073709551616' is too large for "
		     "parameter 'refcount_bits'");
	expect_error("cluster_size=16E",
		     "Value '16E' is out of range for parameter "
		     "'cluster_size'");
	snprintf(want, sizeof(want),
		 "Parameter 'cluster_size' expects a non-negative number "
		 "below 2^64%s",
		 hint);
	expect_error("cluster_size=", want);
	expect_error("cluster_size=-1", want);
	expect_error("cluster_size=4k,,", want);
	expect_error("cluster_size=1.5", want);
	snprintf(want, sizeof(want),
		 "Parameter 'size' expects a non-negative number below 2^64%s",
		 hint);
	expect_error("nosize", want);
}

static void test_validate_values(void **state)
{
	struct qimg_opts o;
	struct qimg_error err;
	const struct qimg_opt *opt;
	static const char *const yes[] = { "on", "yes", "true", "y" };
	static const char *const no[] = { "off", "no", "false", "n" };
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		snprintf(buf, sizeof(buf), "lazy_refcounts=%s", yes[i]);
		assert_int_equal(parse_validate(&o, buf, &err), 0);
		assert_true(qimg_opts_get_bool(&o, "lazy_refcounts", false));
		/* The spelling is kept for the Formatting line. */
		assert_string_equal(
			qimg_opts_get_str(&o, "lazy_refcounts", NULL), yes[i]);
		qimg_opts_free(&o);
		snprintf(buf, sizeof(buf), "lazy_refcounts=%s", no[i]);
		assert_int_equal(parse_validate(&o, buf, &err), 0);
		assert_false(qimg_opts_get_bool(&o, "lazy_refcounts", true));
		qimg_opts_free(&o);
	}

	/* Numbers: strtoull base 0, so octal, hex, spaces, '+', wrap. */
	static const struct {
		const char *in;
		uint64_t v;
	} nums[] = {
		{ "refcount_bits=16", 16 },
		{ "refcount_bits=0x10", 16 },
		{ "refcount_bits=010", 8 },
		{ "refcount_bits= 16", 16 },
		{ "refcount_bits= +16", 16 },
		{ "refcount_bits=-1", UINT64_MAX },
		{ "refcount_bits=18446744073709551615", UINT64_MAX },
	};
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		assert_int_equal(parse_validate(&o, nums[i].in, &err), 0);
		opt = qimg_opts_find(&o, "refcount_bits");
		assert_non_null(opt);
		assert_true(opt->typed);
		assert_int_equal(opt->type, QIMG_OPT_NUMBER);
		assert_int_equal(opt->u, nums[i].v);
		qimg_opts_free(&o);
	}

	/* Sizes and the hex-suffix warning flag. */
	assert_int_equal(
		parse_validate(&o, "cluster_size= 64k,size=1.5k", &err), 0);
	assert_int_equal(qimg_opts_get_u64(&o, "cluster_size", 0), 65536);
	assert_int_equal(qimg_opts_get_u64(&o, "size", 0), 1536);
	assert_false(qimg_opts_find(&o, "cluster_size")->hex_suffix_warning);
	qimg_opts_free(&o);
	assert_int_equal(parse_validate(&o, "cluster_size=0x1k", &err), 0);
	opt = qimg_opts_find(&o, "cluster_size");
	assert_int_equal(opt->u, 1024);
	assert_true(opt->hex_suffix_warning);
	qimg_opts_free(&o);

	/* The flag is set even when the value is then rejected. */
	assert_int_equal(parse_validate(&o, "cluster_size=0x1kz", &err),
			 -EINVAL);
	assert_true(qimg_opts_find(&o, "cluster_size")->hex_suffix_warning);
	qimg_opts_free(&o);

	/* Strings accept anything. */
	assert_int_equal(parse_validate(&o, "compat=whatever,,x", &err), 0);
	assert_string_equal(qimg_opts_get_str(&o, "compat", NULL),
			    "whatever,x");
	qimg_opts_free(&o);
}

static void test_set_del_getters(void **state)
{
	const struct qimg_opt_desc *const schemas[] = { raw_opts, NULL };
	struct qimg_opts o = { 0 };
	struct qimg_error err = { 0 };

	(void)state;
	assert_int_equal(qimg_opts_set(&o, "size", "1M"), 0);
	assert_int_equal(qimg_opts_set(&o, "bogus", "x"), 0);
	assert_true(qimg_opts_has(&o, "bogus"));
	assert_int_equal(qimg_opts_validate(&o, schemas, &err), -EINVAL);
	assert_string_equal(err.msg, "Invalid parameter 'bogus'");
	/* Deleting an option also forgets its earlier occurrences. */
	qimg_opts_del(&o, "bogus");
	assert_false(qimg_opts_has(&o, "bogus"));
	assert_null(qimg_opts_find(&o, "bogus"));
	qimg_error_clear(&err);
	assert_int_equal(qimg_opts_validate(&o, schemas, &err), 0);
	assert_int_equal(qimg_opts_get_u64(&o, "size", 0), 1048576);
	/* Defaults for absent options. */
	assert_int_equal(qimg_opts_get_u64(&o, "nothere", 7), 7);
	assert_true(qimg_opts_get_bool(&o, "nothere", true));
	assert_string_equal(qimg_opts_get_str(&o, "nothere", "d"), "d");
	/* Replacing in place keeps one entry. */
	assert_int_equal(qimg_opts_set(&o, "size", "2M"), 0);
	assert_int_equal(o.len, 1);
	assert_int_equal(qimg_opts_validate(&o, schemas, &err), 0);
	assert_int_equal(qimg_opts_get_u64(&o, "size", 0), 2097152);
	qimg_opts_del(&o, "size");
	assert_int_equal(o.len, 0);
	qimg_opts_del(&o, "size");
	qimg_opts_free(&o);
	qimg_opts_free(&o); /* idempotent */
	qimg_opts_free(NULL);
}

static char *print_help(const char *heading,
			const struct qimg_opt_desc *const *schemas,
			bool trailer)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	qimg_opts_print_help(f, heading, schemas, trailer);
	fclose(f);
	return buf;
}

static void test_help_layout(void **state)
{
	const struct qimg_opt_desc *const raw[] = { raw_opts, NULL };
	const struct qimg_opt_desc *const raw_file[] = { raw_opts, file_opts,
							 NULL };
	const struct qimg_opt_desc *const q[] = { qcow2_opts, NULL };
	const struct qimg_opt_desc *const q_file[] = { qcow2_opts, file_opts,
						       NULL };
	char *s;

	(void)state;
	s = print_help("Supported raw options:", raw, true);
	assert_string_equal(
		s, "Supported raw options:\n"
		   "  size=<size>            - Virtual disk size\n"
		   "\n"
		   "The protocol level may support further options.\n"
		   "Specify the target filename to include those options.\n");
	free(s);

	s = print_help("Supported options:", raw_file, false);
	assert_string_equal(
		s,
		"Supported options:\n"
		"  extent_size_hint=<size> - Extent size hint for the image "
		"file, 0 to disable\n"
		"  nocow=<bool (on/off)>  - Turn off copy-on-write (valid only "
		"on btrfs)\n"
		"  preallocation=<str>    - Preallocation mode (allowed values: "
		"off, falloc, full)\n"
		"  size=<size>            - Virtual disk size\n");
	free(s);

	s = print_help("Supported qcow2 options:", q, true);
	assert_string_equal(
		s,
		"Supported qcow2 options:\n"
		"  backing_file=<str>     - File name of a base image\n"
		"  backing_fmt=<str>      - Image format of the base image\n"
		"  cluster_size=<size>    - qcow2 cluster size\n"
		"  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])\n"
		"  compression_type=<str> - Compression method used for image cluster compression\n"
		"  data_file=<str>        - File name of an external data file\n"
		"  data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw image\n"
		"  encrypt.cipher-alg=<str> - Name of encryption cipher algorithm\n"
		"  encrypt.cipher-mode=<str> - Name of encryption cipher mode\n"
		"  encrypt.format=<str>   - Encrypt the image, format choices: 'aes', 'luks'\n"
		"  encrypt.hash-alg=<str> - Name of encryption hash algorithm\n"
		"  encrypt.iter-time=<num> - Time to spend in PBKDF in milliseconds\n"
		"  encrypt.ivgen-alg=<str> - Name of IV generator algorithm\n"
		"  encrypt.ivgen-hash-alg=<str> - Name of IV generator hash algorithm\n"
		"  encrypt.key-secret=<str> - ID of secret providing qcow AES key or LUKS passphrase\n"
		"  encryption=<bool (on/off)> - Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)\n"
		"  extended_l2=<bool (on/off)> - Extended L2 tables\n"
		"  lazy_refcounts=<bool (on/off)> - Postpone refcount updates\n"
		"  preallocation=<str>    - Preallocation mode (allowed values: off, metadata, falloc, full)\n"
		"  refcount_bits=<num>    - Width of a reference count entry in bits\n"
		"  size=<size>            - Virtual disk size\n"
		"\n"
		"The protocol level may support further options.\n"
		"Specify the target filename to include those options.\n");
	free(s);

	/* With the protocol's options: the format's preallocation wins. */
	s = print_help("Supported options:", q_file, false);
	assert_non_null(strstr(s,
			       "  preallocation=<str>    - Preallocation "
			       "mode (allowed values: off, metadata, falloc, "
			       "full)\n"));
	assert_null(strstr(s, "off, falloc, full)"));
	assert_non_null(strstr(s, "  nocow=<bool (on/off)>  - Turn off"));
	assert_non_null(strstr(s, "\n  extent_size_hint=<size> - Extent"));
	assert_null(strstr(s, "protocol level"));
	free(s);
}

static void test_error_helpers(void **state)
{
	struct qimg_error err = { 0 };
	char big[2000];

	(void)state;
	assert_false(qimg_error_isset(&err));
	assert_false(qimg_error_isset(NULL));
	assert_int_equal(qimg_error_set(&err, EINVAL, "bad %d", 42), -EINVAL);
	assert_true(qimg_error_isset(&err));
	assert_int_equal(err.errnum, EINVAL);
	assert_string_equal(err.msg, "bad 42");
	/* The first error wins. */
	assert_int_equal(qimg_error_set(&err, ENOSPC, "later"), -ENOSPC);
	assert_int_equal(err.errnum, EINVAL);
	assert_string_equal(err.msg, "bad 42");
	qimg_error_prefix(&err, "x.qcow2");
	assert_string_equal(err.msg, "x.qcow2: bad 42");
	qimg_error_clear(&err);
	assert_false(qimg_error_isset(&err));

	assert_int_equal(qimg_error_set_errno(&err, ENOENT,
					      "Could not open "
					      "'%s'",
					      "nosuch"),
			 -ENOENT);
	assert_string_equal(err.msg, "Could not open 'nosuch': No such file "
				     "or directory");
	qimg_error_clear(&err);

	/* Prefix with no message: the errno text is used. */
	err.errnum = ENOSPC;
	qimg_error_prefix(&err, "ctx");
	assert_string_equal(err.msg, "ctx: No space left on device");
	qimg_error_clear(&err);

	/* NULL err and odd errnums are tolerated. */
	assert_int_equal(qimg_error_set(NULL, EIO, "x"), -EIO);
	qimg_error_prefix(NULL, "x");
	qimg_error_clear(NULL);
	assert_int_equal(qimg_error_set(&err, -EPERM, "neg"), -EPERM);
	assert_int_equal(err.errnum, EPERM);
	qimg_error_clear(&err);
	assert_int_equal(qimg_error_set(&err, 0, "zero"), -EIO);
	qimg_error_clear(&err);

	/* Long messages are truncated, never overflow. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	qimg_error_set(&err, EINVAL, "%s", big);
	assert_int_equal(strlen(err.msg), QIMG_ERROR_MSG_MAX - 1);
	qimg_error_prefix(&err, "%s", big);
	assert_int_equal(strlen(err.msg), QIMG_ERROR_MSG_MAX - 1);
}

/* Percent-decoding of a URI's parts (nbd, ssh, nfs, gluster names):
 * only '%' with two hex digits is an escape; a '%' without them stays. */
static void check_uri_decode(const char *in, size_t n, const char *want)
{
	char *got = qimg_uri_decode(in, n);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_uri_decode(void **state)
{
	(void)state;
	check_uri_decode("", 0, "");
	check_uri_decode("a%2Fb%2fc", 9, "a/b/c");
	check_uri_decode("%41%7e", 6, "A~");
	check_uri_decode("%4g%g4%", 7, "%4g%g4%");
	check_uri_decode("x%4", 3, "x%4");
	check_uri_decode("x%41", 4, "xA");
	/* only s[0..n): an escape cut by n is kept as it is */
	check_uri_decode("x%41", 3, "x%4");
	check_uri_decode("%20%25", 6, " %");
	assert_int_equal(qimg_hex_digit('0'), 0);
	assert_int_equal(qimg_hex_digit('F'), 15);
	assert_int_equal(qimg_hex_digit('f'), 15);
	assert_int_equal(qimg_hex_digit('g'), -1);
	assert_int_equal(qimg_hex_digit('\0'), -1);
	assert_true(qimg_uri_valid("nbd://h:1/e%20x"));
	assert_false(qimg_uri_valid("nbd://h/e%2"));
	assert_false(qimg_uri_valid("nbd://h/e x"));
}

/* Base64 as glib reads it (secrets, dmg plists): other characters
 * skipped, '=' a digit whose byte is dropped, an incomplete last group of
 * four dropped; decoding in place works. */
static void check_base64(const char *in, const char *want, size_t want_n)
{
	size_t n = strlen(in), k;
	uint8_t *buf = malloc(n + 1);

	assert_non_null(buf);
	memcpy(buf, in, n);
	k = qimg_base64_decode(buf, n, buf);
	assert_int_equal(k, want_n);
	assert_memory_equal(buf, want, want_n);
	free(buf);
}

static void test_base64(void **state)
{
	(void)state;
	check_base64("", "", 0);
	check_base64("QUJD", "ABC", 3);
	check_base64("QUI=", "AB", 2);
	check_base64("QQ==", "A", 1);
	check_base64("QUJD\nREVG", "ABCDEF", 6);
	check_base64("  QU JD\t", "ABC", 3);
	check_base64("QUJDRA", "ABC", 3);
	check_base64("AP8A", "\0\377\0", 3);
	check_base64("+/+/", "\373\377\277", 3);
	assert_int_equal(qimg_base64_digit('A'), 0);
	assert_int_equal(qimg_base64_digit('/'), 63);
	assert_int_equal(qimg_base64_digit('='), -1);
	assert_int_equal(qimg_base64_digit('-'), -1);
}

/* --image-opts text (or, after "json:", JSON text) into a tree, printed
 * as one JSON line. */
static void tree_is(const char *text, const char *want)
{
	struct qimg_error err = { 0 };
	struct qimg_value *t = NULL;
	char *got;

	if (!strncmp(text, "json:", 5))
		assert_int_equal(qimg_options_from_json(text + 5, &t, &err), 0);
	else
		assert_int_equal(qimg_options_parse(text, &t, &err), 0);
	got = qimg_value_to_json_line(t);
	assert_non_null(got);
	if (strcmp(got, want))
		print_message("for %s\n", text);
	assert_string_equal(got, want);
	free(got);
	qimg_value_free(t);
}

/* Dotted keys nest; a key that is both a value and a dict keeps both, the
 * dict's members as flat dotted keys beside the value, whichever came
 * first. */
static void test_options_tree(void **state)
{
	(void)state;
	tree_is("driver=qcow2,file.filename=a,file.driver=file",
		"{\"driver\": \"qcow2\", \"file\": {\"driver\": \"file\", "
		"\"filename\": \"a\"}}");
	tree_is("file=x,file.filename=a",
		"{\"file.filename\": \"a\", \"file\": \"x\"}");
	tree_is("overlap-check.template=all,overlap-check=none",
		"{\"overlap-check.template\": \"all\", \"overlap-check\": "
		"\"none\"}");
	/* the dict first: its members spread out beside the value */
	tree_is("json:{\"file.filename\": \"a\", \"file.aio.x\": 1, "
		"\"file\": \"x\"}",
		"{\"file.aio.x\": 1, \"file.filename\": \"a\", \"file\": "
		"\"x\"}");
	tree_is("json:{\"file\": \"x\", \"file.filename\": \"a\"}",
		"{\"file.filename\": \"a\", \"file\": \"x\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_helpers),
		cmocka_unit_test(test_check_list),
		cmocka_unit_test(test_parse_grammar),
		cmocka_unit_test(test_parse_help_id),
		cmocka_unit_test(test_last_wins),
		cmocka_unit_test(test_validate_errors),
		cmocka_unit_test(test_validate_values),
		cmocka_unit_test(test_set_del_getters),
		cmocka_unit_test(test_help_layout),
		cmocka_unit_test(test_uri_decode),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_options_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
