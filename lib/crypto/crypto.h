/* SPDX-License-Identifier: MIT */
/* qimg's crypto layer: block ciphers with the sector IV generators disk
 * encryption uses, hashes, PBKDF2, random bytes and locked memory.  It sits
 * on libgcrypt (the fastest AES-XTS of the Debian libraries measured here:
 * 5.7 GB/s per core on 512-byte sectors, against 3.6 for gnutls, 3.2 for
 * OpenSSL and 0.56 for nettle); no other file includes gcrypt.h.  Only
 * twofish-192, which gcrypt lacks and qemu-img offers, runs on nettle.
 *
 * Names are those qemu-img takes ("aes-256", "xts", "plain64", "sha256").
 * Every function is safe to call from any thread. */
#ifndef QIMG_CRYPTO_CRYPTO_H
#define QIMG_CRYPTO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qimg/error.h"

enum qimg_cipher_alg {
	QIMG_CIPHER_AES_128,
	QIMG_CIPHER_AES_192,
	QIMG_CIPHER_AES_256,
	QIMG_CIPHER_CAST5_128,
	QIMG_CIPHER_SERPENT_128,
	QIMG_CIPHER_SERPENT_192,
	QIMG_CIPHER_SERPENT_256,
	QIMG_CIPHER_TWOFISH_128,
	QIMG_CIPHER_TWOFISH_192,
	QIMG_CIPHER_TWOFISH_256,
	QIMG_CIPHER__MAX
};

enum qimg_cipher_mode {
	QIMG_MODE_ECB,
	QIMG_MODE_CBC,
	QIMG_MODE_XTS,
	QIMG_MODE_CTR,
	QIMG_MODE__MAX
};

enum qimg_ivgen_alg {
	QIMG_IVGEN_PLAIN,   /* LE u32 sector number (truncated) */
	QIMG_IVGEN_PLAIN64, /* LE u64 sector number */
	QIMG_IVGEN_ESSIV,   /* E_{H(key)}(LE u64 sector number) */
	QIMG_IVGEN__MAX
};

enum qimg_hash_alg {
	QIMG_HASH_MD5,
	QIMG_HASH_SHA1,
	QIMG_HASH_SHA224,
	QIMG_HASH_SHA256,
	QIMG_HASH_SHA384,
	QIMG_HASH_SHA512,
	QIMG_HASH_RIPEMD160,
	QIMG_HASH__MAX
};

#define QIMG_HASH_MAX_LEN 64
#define QIMG_CIPHER_MAX_KEY_LEN 32 /* one key; xts takes two */
#define QIMG_SECTOR_SIZE 512

/* Names as qemu-img spells them, and back (-1 for an unknown name). */
const char *qimg_cipher_alg_name(enum qimg_cipher_alg a);
const char *qimg_cipher_mode_name(enum qimg_cipher_mode m);
const char *qimg_ivgen_alg_name(enum qimg_ivgen_alg g);
const char *qimg_hash_alg_name(enum qimg_hash_alg h);
int qimg_cipher_alg_from_name(const char *name);
int qimg_cipher_mode_from_name(const char *name);
int qimg_ivgen_alg_from_name(const char *name);
int qimg_hash_alg_from_name(const char *name);

/* Key length of one key of `a` in bytes (aes-256: 32), its block length
 * (16; cast5: 8), and the key length the mode needs (xts: twice). */
size_t qimg_cipher_key_len(enum qimg_cipher_alg a);
size_t qimg_cipher_block_len(enum qimg_cipher_alg a);
size_t qimg_cipher_mode_key_len(enum qimg_cipher_alg a,
				enum qimg_cipher_mode m);
size_t qimg_hash_len(enum qimg_hash_alg h);

/* Whether the library can run `a` in mode `m` (xts needs a 16-byte
 * block: not cast5). */
bool qimg_cipher_supported(enum qimg_cipher_alg a, enum qimg_cipher_mode m);

/* The cipher ESSIV uses for data cipher `a` with IV hash `h`: the same
 * family with a key as long as the digest (aes-128 + sha256: aes-256).
 * -EINVAL with a message when the family has no such key length. */
int qimg_essiv_cipher(enum qimg_cipher_alg a, enum qimg_hash_alg h,
		      enum qimg_cipher_alg *out, struct qimg_error *err);

/* A cipher for whole 512-byte sectors: `alg` in `mode`, with the IV of each
 * sector made by `ivgen` (`ivhash` is ESSIV's hash; ignored otherwise; ecb
 * uses no IV).  `key` holds qimg_cipher_mode_key_len bytes and is copied to
 * locked memory.  One object serves any number of threads at once. */
struct qimg_sector_cipher;

int qimg_sector_cipher_new(enum qimg_cipher_alg alg, enum qimg_cipher_mode mode,
			   enum qimg_ivgen_alg ivgen, enum qimg_hash_alg ivhash,
			   const uint8_t *key, size_t keylen,
			   struct qimg_sector_cipher **out,
			   struct qimg_error *err);
/* Wipes the keys.  NULL is allowed. */
void qimg_sector_cipher_free(struct qimg_sector_cipher *c);

/* En/decrypt `len` bytes in place, a multiple of 512: the sectors are
 * numbered from `sector` (the IV of the k-th is made from sector + k). */
int qimg_sector_encrypt(struct qimg_sector_cipher *c, uint64_t sector,
			void *buf, size_t len, struct qimg_error *err);
int qimg_sector_decrypt(struct qimg_sector_cipher *c, uint64_t sector,
			void *buf, size_t len, struct qimg_error *err);

/* Decrypt `len` bytes (a multiple of the block length) in place with `alg`
 * in CBC mode: `key` of qimg_cipher_key_len bytes, `iv` of one block (an
 * encrypted --object secret). */
int qimg_cipher_decrypt_cbc(enum qimg_cipher_alg alg, const uint8_t *key,
			    size_t keylen, const uint8_t *iv, void *buf,
			    size_t len, struct qimg_error *err);

/* Digest of the concatenation of `n` pieces (ptr[i], len[i]) into out
 * (qimg_hash_len bytes). */
int qimg_hash_pieces(enum qimg_hash_alg h, size_t n, const void *const *ptr,
		     const size_t *len, uint8_t *out, struct qimg_error *err);
int qimg_hash(enum qimg_hash_alg h, const void *data, size_t len, uint8_t *out,
	      struct qimg_error *err);

/* PBKDF2-HMAC-`h` of pass/salt with `iters` iterations into out[outlen]. */
int qimg_pbkdf2(enum qimg_hash_alg h, const uint8_t *pass, size_t passlen,
		const uint8_t *salt, size_t saltlen, uint64_t iters,
		uint8_t *out, size_t outlen, struct qimg_error *err);

/* How many PBKDF2 iterations of these lengths this thread runs per second
 * of its CPU time: the count is raised until one run takes over a tenth
 * of a second of CPU, then scaled to a second.  qemu-img's "Unable to get
 * accurate CPU usage" never happens: a run too short to measure is
 * repeated with more iterations. */
int qimg_pbkdf2_count_iters(enum qimg_hash_alg h, size_t passlen,
			    size_t saltlen, size_t outlen, uint64_t *per_sec,
			    struct qimg_error *err);

/* Bytes from the kernel's random source (getrandom). */
int qimg_random_bytes(void *buf, size_t len, struct qimg_error *err);

/* Memory for key material: zeroed, locked in RAM where the limits allow
 * and left out of core dumps; NULL when out of memory.  qimg_secure_free
 * wipes it first; NULL is allowed. */
void *qimg_secure_alloc(size_t len);
void qimg_secure_free(void *p, size_t len);

#endif
