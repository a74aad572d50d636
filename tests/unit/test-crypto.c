/* SPDX-License-Identifier: MIT */
/* Unit tests for the crypto layer (lib/crypto/crypto.h).  The expected
 * bytes come from OpenSSL (another implementation than the gcrypt qimg
 * uses), computed once with the same keys and data; PBKDF2-SHA1 is RFC
 * 6070's vector. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"

static void unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sscanf(s + 2 * i, "%2hhx", &out[i]);
}

static void check_hex(const uint8_t *got, const char *want, size_t n)
{
	uint8_t w[64];

	unhex(want, w, n);
	assert_memory_equal(got, w, n);
}

/* key[i] = 7i + 1, data[i] = i mod 256: what the OpenSSL run used. */
static void fill(uint8_t *key, uint8_t *buf, size_t buflen)
{
	for (int i = 0; i < 64; i++)
		key[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < buflen; i++)
		buf[i] = (uint8_t)i;
}

static struct qimg_sector_cipher *mk(enum qimg_cipher_alg a,
				     enum qimg_cipher_mode m,
				     enum qimg_ivgen_alg g,
				     enum qimg_hash_alg h, const uint8_t *key)
{
	struct qimg_sector_cipher *c = NULL;
	struct qimg_error err = { 0 };
	int r = qimg_sector_cipher_new(
		a, m, g, h, key, qimg_cipher_mode_key_len(a, m), &c, &err);

	if (r < 0)
		fail_msg("cipher_new: %s", err.msg);
	return c;
}

static void test_xts_plain64(void **state)
{
	uint8_t key[64], buf[1024], orig[1024];
	struct qimg_error err = { 0 };
	struct qimg_sector_cipher *c;

	fill(key, buf, sizeof(buf));
	memcpy(orig, buf, sizeof(buf));
	c = mk(QIMG_CIPHER_AES_256, QIMG_MODE_XTS, QIMG_IVGEN_PLAIN64,
	       QIMG_HASH_SHA256, key);
	assert_int_equal(qimg_sector_encrypt(c, 5, buf, 1024, &err), 0);
	check_hex(buf, "62124c33dab94e69295ca22800a51fab", 16);
	check_hex(buf + 1008, "90979475fc329c7aa0ecd69780c29195", 16);
	assert_int_equal(qimg_sector_decrypt(c, 5, buf, 1024, &err), 0);
	assert_memory_equal(buf, orig, sizeof(buf));
	/* Not a whole sector: refused. */
	assert_int_equal(qimg_sector_encrypt(c, 0, buf, 100, &err), -EINVAL);
	qimg_sector_cipher_free(c);
}

static void test_cbc_essiv(void **state)
{
	uint8_t key[64], buf[512];
	struct qimg_error err = { 0 };
	struct qimg_sector_cipher *c;
	enum qimg_cipher_alg ea;

	fill(key, buf, sizeof(buf));
	c = mk(QIMG_CIPHER_AES_128, QIMG_MODE_CBC, QIMG_IVGEN_ESSIV,
	       QIMG_HASH_SHA256, key);
	assert_int_equal(qimg_sector_encrypt(c, 7, buf, 512, &err), 0);
	check_hex(buf + 496, "add85e2d213fd64fd216d25328b0c19a", 16);
	qimg_sector_cipher_free(c);

	/* The ESSIV cipher follows the digest length, as qemu-img's. */
	assert_int_equal(qimg_essiv_cipher(QIMG_CIPHER_AES_128,
					   QIMG_HASH_SHA256, &ea, &err),
			 0);
	assert_int_equal(ea, QIMG_CIPHER_AES_256);
	assert_int_equal(qimg_essiv_cipher(QIMG_CIPHER_AES_256, QIMG_HASH_SHA1,
					   &ea, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "No AES cipher with key size 20 "
				     "available");
	memset(&err, 0, sizeof(err));
	assert_int_equal(qimg_essiv_cipher(QIMG_CIPHER_CAST5_128,
					   QIMG_HASH_SHA256, &ea, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "Cipher cast5-128 not supported with "
				     "essiv");
	assert_int_equal(qimg_essiv_cipher(QIMG_CIPHER_CAST5_128, QIMG_HASH_MD5,
					   &ea, NULL),
			 0);
	assert_int_equal(ea, QIMG_CIPHER_CAST5_128);
}

static void test_ctr_and_plain(void **state)
{
	uint8_t key[64], buf[512], b2[512];
	struct qimg_error err = { 0 };
	struct qimg_sector_cipher *c, *p32;

	fill(key, buf, sizeof(buf));
	memcpy(b2, buf, sizeof(buf));
	c = mk(QIMG_CIPHER_AES_128, QIMG_MODE_CTR, QIMG_IVGEN_PLAIN64,
	       QIMG_HASH_SHA256, key);
	assert_int_equal(qimg_sector_encrypt(c, 0x100000001ull, buf, 512, &err),
			 0);
	check_hex(buf + 496, "e05f9d74828046e30d084a1310c248b5", 16);
	qimg_sector_cipher_free(c);

	/* plain truncates the sector number to 32 bits: sector 2^32 + 1
	 * encrypts as sector 1 does. */
	p32 = mk(QIMG_CIPHER_AES_128, QIMG_MODE_CBC, QIMG_IVGEN_PLAIN,
		 QIMG_HASH_SHA256, key);
	memcpy(buf, b2, sizeof(buf));
	assert_int_equal(
		qimg_sector_encrypt(p32, 0x100000001ull, buf, 512, &err), 0);
	assert_int_equal(qimg_sector_encrypt(p32, 1, b2, 512, &err), 0);
	assert_memory_equal(buf, b2, 512);
	qimg_sector_cipher_free(p32);
}

/* Every algorithm and mode the layer offers round-trips, and the IV
 * changes the ciphertext (except ecb, which has none). */
static void test_all_round_trip(void **state)
{
	uint8_t key[64], buf[1024], orig[1024], other[1024];
	struct qimg_error err = { 0 };

	for (int a = 0; a < QIMG_CIPHER__MAX; a++) {
		for (int m = 0; m < QIMG_MODE__MAX; m++) {
			struct qimg_sector_cipher *c;

			if (!qimg_cipher_supported(a, m)) {
				assert_true(a == QIMG_CIPHER_CAST5_128 &&
					    m == QIMG_MODE_XTS);
				continue;
			}
			fill(key, buf, sizeof(buf));
			memcpy(orig, buf, sizeof(buf));
			c = mk(a, m, QIMG_IVGEN_PLAIN64, QIMG_HASH_SHA256, key);
			assert_int_equal(
				qimg_sector_encrypt(c, 9, buf, 1024, &err), 0);
			assert_memory_not_equal(buf, orig, 512);
			memcpy(other, orig, sizeof(other));
			assert_int_equal(
				qimg_sector_encrypt(c, 10, other, 512, &err),
				0);
			if (m == QIMG_MODE_ECB)
				assert_memory_equal(other, buf, 512);
			else
				assert_memory_not_equal(other, buf, 512);
			assert_int_equal(
				qimg_sector_decrypt(c, 9, buf, 1024, &err), 0);
			assert_memory_equal(buf, orig, sizeof(buf));
			qimg_sector_cipher_free(c);
		}
	}
}

static void test_names(void **state)
{
	for (int a = 0; a < QIMG_CIPHER__MAX; a++)
		assert_int_equal(
			qimg_cipher_alg_from_name(qimg_cipher_alg_name(a)), a);
	for (int h = 0; h < QIMG_HASH__MAX; h++)
		assert_int_equal(qimg_hash_alg_from_name(qimg_hash_alg_name(h)),
				 h);
	assert_int_equal(qimg_cipher_alg_from_name("aes-512"), -1);
	assert_int_equal(qimg_cipher_mode_from_name("xts"), QIMG_MODE_XTS);
	assert_int_equal(qimg_ivgen_alg_from_name("essiv"), QIMG_IVGEN_ESSIV);
	assert_int_equal(
		qimg_cipher_mode_key_len(QIMG_CIPHER_AES_256, QIMG_MODE_XTS),
		64);
	assert_int_equal(qimg_cipher_block_len(QIMG_CIPHER_CAST5_128), 8);
	assert_int_equal(qimg_hash_len(QIMG_HASH_RIPEMD160), 20);
}

static void test_pbkdf2(void **state)
{
	uint8_t out[32];
	struct qimg_error err = { 0 };
	uint64_t per_sec = 0;

	assert_int_equal(
		qimg_pbkdf2(QIMG_HASH_SHA1, (const uint8_t *)"password", 8,
			    (const uint8_t *)"salt", 4, 2, out, 20, &err),
		0);
	check_hex(out, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957", 20);
	/* An empty passphrase (qemu-img takes data= empty). */
	assert_int_equal(qimg_pbkdf2(QIMG_HASH_SHA256, (const uint8_t *)"", 0,
				     (const uint8_t *)"salt", 4, 10, out, 32,
				     &err),
			 0);
	check_hex(out,
		  "4c9d748ae0f9043b42a414cc80500da37a3ed69977ca443c31516f585f"
		  "6449c5",
		  32);
	assert_int_equal(
		qimg_pbkdf2(QIMG_HASH_SHA256, out, 1, out, 1, 0, out, 32, &err),
		-EINVAL);
	assert_int_equal(qimg_pbkdf2_count_iters(QIMG_HASH_SHA256, 32, 32, 32,
						 &per_sec, &err),
			 0);
	assert_true(per_sec > 1000);
}

static void test_random_secure(void **state)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };
	uint8_t *p;

	assert_int_equal(qimg_random_bytes(a, sizeof(a), NULL), 0);
	assert_int_equal(qimg_random_bytes(b, sizeof(b), NULL), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	p = qimg_secure_alloc(100);
	assert_non_null(p);
	for (int i = 0; i < 100; i++)
		assert_int_equal(p[i], 0);
	memset(p, 0xaa, 100);
	qimg_secure_free(p, 100);
	qimg_secure_free(NULL, 0);
}

struct mt {
	struct qimg_sector_cipher *c;
	uint64_t sector;
	int ok;
};

static void *mt_run(void *opaque)
{
	struct mt *m = opaque;
	uint8_t buf[4096], orig[4096];
	struct qimg_error err = { 0 };

	m->ok = 1;
	for (int i = 0; i < 200; i++) {
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = (uint8_t)(k + i + m->sector);
		memcpy(orig, buf, sizeof(buf));
		if (qimg_sector_encrypt(m->c, m->sector + i, buf, 4096, &err) <
			    0 ||
		    qimg_sector_decrypt(m->c, m->sector + i, buf, 4096, &err) <
			    0 ||
		    memcmp(buf, orig, sizeof(buf)))
			m->ok = 0;
	}
	return NULL;
}

/* One cipher object used by several threads at once. */
static void test_threads(void **state)
{
	uint8_t key[64], buf[16];
	pthread_t t[4];
	struct mt m[4];
	struct qimg_sector_cipher *c;

	fill(key, buf, sizeof(buf));
	c = mk(QIMG_CIPHER_AES_128, QIMG_MODE_CBC, QIMG_IVGEN_ESSIV,
	       QIMG_HASH_SHA256, key);
	for (int i = 0; i < 4; i++) {
		m[i] = (struct mt){ c, (uint64_t)i * 1000, 0 };
		pthread_create(&t[i], NULL, mt_run, &m[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(m[i].ok, 1);
	}
	qimg_sector_cipher_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xts_plain64),
		cmocka_unit_test(test_cbc_essiv),
		cmocka_unit_test(test_ctr_and_plain),
		cmocka_unit_test(test_all_round_trip),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_pbkdf2),
		cmocka_unit_test(test_random_secure),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
