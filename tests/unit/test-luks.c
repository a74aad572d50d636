/* SPDX-License-Identifier: MIT */
/* Unit tests for the LUKS1 header library (lib/crypto/luks.h) over an
 * in-memory area: qemu-img's layout, format/open round trips for each
 * cipher family (192-bit keys with cbc included), wrong passphrases,
 * qemu-img's messages for bad options and damaged headers, amend. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/luks.h"
#include "qimg/opts.h"

#define AREA (4u << 20)

struct mem {
	uint8_t *buf;
	unsigned int writes, flushes;
	int cut; /* writes allowed before a simulated kill; -1: no limit */
};

static int mem_read(void *opaque, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct mem *m = opaque;

	if (off + len > AREA)
		return qimg_error_set(err, EIO, "read past the area");
	memcpy(buf, m->buf + off, len);
	return 0;
}

static int mem_write(void *opaque, uint64_t off, const void *buf, size_t len,
		     struct qimg_error *err)
{
	struct mem *m = opaque;

	if (off + len > AREA)
		return qimg_error_set(err, EIO, "write past the area");
	if (m->cut == 0)
		return qimg_error_set(err, EIO, "killed");
	if (m->cut > 0)
		m->cut--;
	memcpy(m->buf + off, buf, len);
	m->writes++;
	return 0;
}

static int mem_flush(void *opaque, struct qimg_error *err)
{
	((struct mem *)opaque)->flushes++;
	return 0;
}

static struct mem mem;
static const struct qimg_luks_io io = { &mem, mem_read, mem_write, mem_flush };

static int setup(void **state)
{
	mem.buf = calloc(1, AREA);
	mem.cut = -1;
	return mem.buf ? 0 : -1;
}

static int teardown(void **state)
{
	free(mem.buf);
	return 0;
}

static struct qimg_luks_params defaults(void)
{
	struct qimg_luks_params p = { QIMG_CIPHER_AES_256, QIMG_MODE_XTS,
				      QIMG_IVGEN_PLAIN64,  QIMG_HASH_SHA256,
				      QIMG_HASH_SHA256,	   1 };
	return p;
}

static const uint8_t pw[] = "secret";

static struct qimg_luks *fmt(const struct qimg_luks_params *p)
{
	struct qimg_error err = { 0 };
	struct qimg_luks *l = NULL;

	memset(mem.buf, 0, AREA);
	if (qimg_luks_format(p, pw, 6, &io, &l, &err) < 0)
		fail_msg("format: %s", err.msg);
	return l;
}

static int open_err(const char *pass, struct qimg_error *err)
{
	struct qimg_luks *l = NULL;
	int r;

	memset(err, 0, sizeof(*err));
	r = qimg_luks_open(&io, (const uint8_t *)pass, pass ? strlen(pass) : 0,
			   &l, err);
	qimg_luks_close(l);
	return r;
}

static void test_layout(void **state)
{
	struct qimg_luks_params p = defaults();

	assert_int_equal(qimg_luks_area_len(&p), 2068480);
	p.cipher_mode = QIMG_MODE_CTR;
	assert_int_equal(qimg_luks_area_len(&p), 0x808 * 512);
	p.cipher_alg = QIMG_CIPHER_TWOFISH_192;
	p.cipher_mode = QIMG_MODE_XTS;
	assert_int_equal(qimg_luks_area_len(&p), 0xbc8 * 512);
	p.cipher_alg = QIMG_CIPHER_SERPENT_128;
	p.cipher_mode = QIMG_MODE_ECB;
	assert_int_equal(qimg_luks_area_len(&p), 0x408 * 512);
	/* 24 * 4000 bytes: 187.5 sectors, 188 whole, 192 aligned. */
	p.cipher_alg = QIMG_CIPHER_AES_192;
	p.cipher_mode = QIMG_MODE_CBC;
	assert_int_equal(qimg_luks_area_len(&p), (8 + 8 * 192) * 512);
}

static void test_format_open(void **state)
{
	struct qimg_luks_params p = defaults();
	struct qimg_luks *l = fmt(&p), *l2 = NULL;
	struct qimg_value *d = qimg_value_dict();
	struct qimg_error err = { 0 };
	uint8_t a[1024], b[1024];

	assert_memory_equal(mem.buf, "LUKS\xba\xbe\0\1aes", 11);
	assert_string_equal((char *)mem.buf + 40, "xts-plain64");
	assert_string_equal((char *)mem.buf + 72, "sha256");
	assert_int_equal(qimg_luks_payload_offset(l), 2068480);
	/* slot 0 active at sector 8, slot 1 inactive at 512 */
	assert_memory_equal(mem.buf + 208, "\x00\xac\x71\xf3", 4);
	assert_memory_equal(mem.buf + 248, "\0\0\0\x08\0\0\x0f\xa0", 8);
	assert_memory_equal(mem.buf + 256, "\0\0\xde\xad\0\0\0\0", 8);
	assert_memory_equal(mem.buf + 296, "\0\0\x02\x00", 4);
	/* payload 4040 sectors, 64 key bytes */
	assert_memory_equal(mem.buf + 104, "\0\0\x0f\xc8\0\0\0\x40", 8);
	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_int_equal(
		qimg_sector_encrypt(qimg_luks_cipher(l), 3, a, sizeof(a), &err),
		0);
	assert_int_equal(qimg_luks_open(&io, pw, 6, &l2, &err), 0);
	assert_int_equal(qimg_sector_decrypt(qimg_luks_cipher(l2), 3, a,
					     sizeof(a), &err),
			 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(qimg_luks_describe(l2, d, &err), 0);
	assert_string_equal(qimg_value_get_str(qimg_dict_get(d, "cipher-alg")),
			    "aes-256");
	assert_null(qimg_dict_get(d, "ivgen-hash-alg"));
	assert_int_equal(qimg_value_count(qimg_dict_get(d, "slots")), 8);
	assert_int_equal(qimg_value_get_int(qimg_dict_get(d, "payload-offset")),
			 2068480);
	qimg_value_free(d);
	qimg_luks_close(l);
	qimg_luks_close(l2);

	assert_int_equal(open_err("wrong", &err), -EPERM);
	assert_string_equal(err.msg,
			    "Invalid password, cannot unlock any keyslot");
	/* Without a secret: described, no cipher. */
	assert_int_equal(qimg_luks_open(&io, NULL, 0, &l2, &err), 0);
	assert_null(qimg_luks_cipher(l2));
	qimg_luks_close(l2);
}

/* Each family, essiv, the plain-with-hash spelling and a 192-bit key in
 * cbc (material not a whole number of sectors). */
static void test_variants(void **state)
{
	static const struct {
		enum qimg_cipher_alg a;
		enum qimg_cipher_mode m;
		enum qimg_ivgen_alg g;
		enum qimg_hash_alg ih;
		bool ihset;
		const char *mode;
	} v[] = {
		{ QIMG_CIPHER_AES_128, QIMG_MODE_CBC, QIMG_IVGEN_ESSIV,
		  QIMG_HASH_SHA256, false, "cbc-essiv:sha256" },
		{ QIMG_CIPHER_AES_192, QIMG_MODE_CBC, QIMG_IVGEN_PLAIN64,
		  QIMG_HASH_SHA256, false, "cbc-plain64" },
		{ QIMG_CIPHER_CAST5_128, QIMG_MODE_CBC, QIMG_IVGEN_PLAIN,
		  QIMG_HASH_SHA1, true, "cbc-plain:sha1" },
		{ QIMG_CIPHER_SERPENT_256, QIMG_MODE_XTS, QIMG_IVGEN_ESSIV,
		  QIMG_HASH_SHA256, false, "xts-essiv:sha256" },
		{ QIMG_CIPHER_TWOFISH_192, QIMG_MODE_CTR, QIMG_IVGEN_PLAIN64,
		  QIMG_HASH_SHA256, false, "ctr-plain64" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct qimg_luks_params p = defaults();
		struct qimg_error err = { 0 };

		p.cipher_alg = v[i].a;
		p.cipher_mode = v[i].m;
		p.ivgen_alg = v[i].g;
		p.ivgen_hash_alg = v[i].ih;
		p.ivgen_hash_set = v[i].ihset;
		p.hash_alg = QIMG_HASH_SHA1;
		qimg_luks_close(fmt(&p));
		assert_string_equal((char *)mem.buf + 40, v[i].mode);
		assert_int_equal(open_err("secret", &err), 0);
		assert_int_equal(open_err("secreT", &err), -EPERM);
	}
}

static int opts_err(const char *s, struct qimg_error *err)
{
	struct qimg_opts o = { 0 };
	struct qimg_luks_params p;
	int r;

	memset(err, 0, sizeof(*err));
	assert_int_equal(qimg_opts_parse(&o, s, err), 0);
	r = qimg_luks_params_from_opts(&o, "encrypt.", &p, err);
	qimg_opts_free(&o);
	return r;
}

static void test_params(void **state)
{
	struct qimg_error err;
	struct qimg_opts o = { 0 };
	struct qimg_luks_params p;

	assert_int_equal(qimg_luks_params_from_opts(&o, "", &p, &err), 0);
	assert_int_equal(p.cipher_alg, QIMG_CIPHER_AES_256);
	assert_int_equal(p.cipher_mode, QIMG_MODE_XTS);
	assert_int_equal(p.iter_time_ms, 2000);
	assert_true(opts_err("encrypt.cipher-alg=foo", &err) < 0);
	assert_string_equal(err.msg, "Parameter 'cipher-alg' does not "
				     "accept value 'foo'");
	assert_true(opts_err("encrypt.hash-alg=sm3", &err) < 0);
	assert_string_equal(err.msg, "Parameter 'hash-alg' does not "
				     "accept value 'sm3'");
	assert_true(opts_err("encrypt.cipher-alg=des", &err) < 0);
	assert_string_equal(err.msg, "Algorithm 'des' not supported");
	assert_true(opts_err("encrypt.cipher-alg=cast5-128,"
			     "encrypt.cipher-mode=xts",
			     &err) < 0);
	assert_string_equal(err.msg, "Unsupported cipher mode xts");
	assert_true(opts_err("encrypt.ivgen-alg=essiv,"
			     "encrypt.ivgen-hash-alg=sha1",
			     &err) < 0);
	assert_string_equal(err.msg, "No AES cipher with key size 20 "
				     "available");
	assert_int_equal(opts_err("encrypt.ivgen-alg=essiv,"
				  "encrypt.cipher-alg=aes-128",
				  &err),
			 0);
}

/* Damage the header of a fresh image at `off` and expect `msg`. */
static void damaged(const uint8_t *pristine, size_t off, const char *bytes,
		    size_t n, const char *msg)
{
	struct qimg_error err;

	memcpy(mem.buf, pristine, 4096);
	memcpy(mem.buf + off, bytes, n);
	assert_true(open_err(NULL, &err) < 0);
	assert_string_equal(err.msg, msg);
}

static void test_damaged(void **state)
{
	struct qimg_luks_params p = defaults();
	uint8_t hdr[4096];

	qimg_luks_close(fmt(&p));
	memcpy(hdr, mem.buf, sizeof(hdr));
	damaged(hdr, 0, "X", 1, "Volume is not in LUKS format");
	damaged(hdr, 6, "\0\2", 2, "LUKS version 2 is not supported");
	damaged(hdr, 8, "foo", 4,
		"Algorithm 'foo' with key size 32 bytes not supported");
	damaged(hdr, 40, "xts-foo", 8, "IV generator 'foo' not supported");
	damaged(hdr, 40, "foo", 4,
		"Unexpected cipher mode string format 'foo'");
	damaged(hdr, 40, "foo-plain64", 12, "Cipher mode 'foo' not supported");
	damaged(hdr, 40, "cbc-essiv", 10,
		"Algorithm 'aes' with key size 64 bytes not supported");
	damaged(hdr, 72, "sha999", 7, "Hash algorithm 'sha999' not supported");
	damaged(hdr, 104, "\0\0\0\1", 4,
		"LUKS payload is overlapping with the header");
	damaged(hdr, 108, "\0\0\0\x10", 4,
		"Algorithm 'aes' with key size 8 bytes not supported");
	damaged(hdr, 108, "\0\0\1\0", 4,
		"Keyslots 0 and 1 are overlapping in the header");
	damaged(hdr, 108, "\xff\xff\xff\xff", 4,
		"Keyslot 0 is overlapping with the encrypted payload");
	damaged(hdr, 164, "\0\0\0\0", 4, "LUKS key iteration count is zero");
	damaged(hdr, 208, "\0\0\0\1", 4,
		"Keyslot 0 state (active/disable) is corrupted");
	damaged(hdr, 252, "\0\0\0\0", 4,
		"Keyslot 0 is corrupted (stripes 0 != 4000)");
	damaged(hdr, 212, "\0\0\0\0", 4, "Keyslot 0 iteration count is zero");
	damaged(hdr, 248, "\0\0\0\7", 4,
		"Keyslot 0 is overlapping with the LUKS header");
	damaged(hdr, 248, "\0\0\x0f\xc0", 4,
		"Keyslot 0 is overlapping with the encrypted payload");
	damaged(hdr, 296, "\0\0\0\0", 4,
		"Keyslots 0 and 1 are overlapping in the header");
	damaged(hdr, 40, "xts-essiv:sha1", 15,
		"No AES cipher with key size 20 available");
	memcpy(mem.buf, hdr, sizeof(hdr));
}

static int amend(struct qimg_luks *l, const struct qimg_luks_amend *a,
		 struct qimg_error *err)
{
	memset(err, 0, sizeof(*err));
	return qimg_luks_amend(l, &io, a, err);
}

static void test_amend(void **state)
{
	struct qimg_luks_params p = defaults();
	struct qimg_luks *l = fmt(&p);
	struct qimg_error err;
	struct qimg_luks_amend add = { .active = true,
				       .keyslot = -1,
				       .new_secret = (const uint8_t *)"two",
				       .new_secret_len = 3,
				       .iter_time_ms = 1 };
	struct qimg_luks_amend del = { .active = false,
				       .keyslot = -1,
				       .old_secret = pw,
				       .old_secret_len = 6 };
	struct qimg_luks_amend bad = add;

	bad.keyslot = 0;
	assert_true(amend(l, &bad, &err) < 0);
	assert_string_equal(err.msg, "Refusing to overwrite active keyslot 0 - "
				     "please erase it first");
	bad.keyslot = -1;
	bad.keyslot_set = true;
	assert_true(amend(l, &bad, &err) < 0);
	assert_string_equal(err.msg, "Invalid keyslot 4294967295 specified, "
				     "must be between 0 and 7");
	assert_true(amend(l, &del, &err) < 0);
	assert_string_equal(err.msg,
			    "All the active keyslots match the (old) password "
			    "that was given and erasing them will erase all "
			    "the data in the image irreversibly - refusing "
			    "operation");
	assert_int_equal(amend(l, &add, &err), 0);
	assert_memory_equal(mem.buf + 256, "\x00\xac\x71\xf3", 4);
	assert_int_equal(open_err("two", &err), 0);
	/* remove "secret" (slot 0): only "two" opens */
	assert_int_equal(amend(l, &del, &err), 0);
	assert_memory_equal(mem.buf + 208, "\0\0\xde\xad\0\0\0\0", 8);
	assert_int_equal(open_err("secret", &err), -EPERM);
	assert_int_equal(open_err("two", &err), 0);
	del.keyslot = 1;
	del.old_secret = NULL;
	assert_true(amend(l, &del, &err) < 0);
	assert_string_equal(err.msg,
			    "Attempt to erase the only active keyslot 1 which "
			    "will erase all the data in the image irreversibly "
			    "- refusing operation");
	del.keyslot = 3;
	assert_true(amend(l, &del, &err) < 0);
	assert_string_equal(err.msg,
			    "Given keyslot 3 is already erased (inactive) ");
	del.old_secret = pw;
	assert_true(amend(l, &del, &err) < 0);
	assert_string_equal(err.msg, "Given keyslot 3 doesn't contain the "
				     "given old password for erase operation");
	qimg_luks_close(l);
}

/* Killed after each write of an amend (the area keeps what was written
 * before): adding a key never loses the old one, erasing one key never
 * loses the other. */
static void test_amend_crash(void **state)
{
	struct qimg_luks_params p = defaults();
	struct qimg_luks *l = fmt(&p);
	struct qimg_error err;
	struct qimg_luks_amend add = { .active = true,
				       .keyslot = -1,
				       .new_secret = (const uint8_t *)"two",
				       .new_secret_len = 3,
				       .iter_time_ms = 1 };
	struct qimg_luks_amend del = { .active = false,
				       .keyslot = -1,
				       .old_secret = pw,
				       .old_secret_len = 6 };
	uint8_t *orig = malloc(AREA), *two = malloc(AREA);
	int n;

	assert_non_null(orig);
	assert_non_null(two);
	memcpy(orig, mem.buf, AREA);
	for (n = 0;; n++) {
		struct qimg_luks *c = NULL;
		int r;

		memcpy(mem.buf, orig, AREA);
		assert_int_equal(qimg_luks_open(&io, pw, 6, &c, &err), 0);
		mem.cut = n;
		r = amend(c, &add, &err);
		mem.cut = -1;
		qimg_luks_close(c);
		assert_int_equal(open_err("secret", &err), 0);
		if (r == 0)
			break;
	}
	assert_true(n >= 2); /* material, then header */
	assert_int_equal(open_err("two", &err), 0);
	memcpy(two, mem.buf, AREA);
	for (n = 0;; n++) {
		struct qimg_luks *c = NULL;
		int r;

		memcpy(mem.buf, two, AREA);
		assert_int_equal(qimg_luks_open(&io, pw, 6, &c, &err), 0);
		mem.cut = n;
		r = amend(c, &del, &err);
		mem.cut = -1;
		qimg_luks_close(c);
		assert_int_equal(open_err("two", &err), 0);
		if (r == 0)
			break;
	}
	assert_int_equal(open_err("secret", &err), -EPERM);
	free(orig);
	free(two);
	qimg_luks_close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_format_open),
		cmocka_unit_test(test_variants),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_damaged),
		cmocka_unit_test(test_amend),
		cmocka_unit_test(test_amend_crash),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
