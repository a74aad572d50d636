/* SPDX-License-Identifier: MIT */
/* Private to lib/crypto/luks*.c: the parsed LUKS1 header, the
 * anti-forensic splitter and the key-slot primitives that format, open and
 * amend share. */
#ifndef QIMG_CRYPTO_LUKS_INT_H
#define QIMG_CRYPTO_LUKS_INT_H

#include "crypto/luks.h"

#define LUKS_MAGIC "LUKS\xba\xbe"
#define LUKS_MAGIC_LEN 6
#define LUKS_HDR_LEN 592
#define LUKS_NAME_LEN 32
#define LUKS_UUID_LEN 40
#define LUKS_SLOTS 8
#define LUKS_STRIPES 4000
#define LUKS_SALT_LEN 32
#define LUKS_DIGEST_LEN 20
#define LUKS_SLOT_ACTIVE 0x00AC71F3u
#define LUKS_SLOT_INACTIVE 0x0000DEADu
#define LUKS_MIN_ITERS 1000
/* qemu-img reserves 4 KiB for the header and aligns each slot's material
 * to 4 KiB (8 sectors). */
#define LUKS_ALIGN_SECTORS 8

struct luks_slot {
	uint32_t active;
	uint32_t iters;
	uint8_t salt[LUKS_SALT_LEN];
	uint32_t key_offset; /* sectors */
	uint32_t stripes;
};

struct qimg_luks {
	char cipher_name[LUKS_NAME_LEN + 1];
	char cipher_mode[LUKS_NAME_LEN + 1];
	char hash_spec[LUKS_NAME_LEN + 1];
	char uuid[LUKS_UUID_LEN + 1];
	uint32_t payload_offset; /* sectors */
	uint32_t key_bytes;
	uint8_t mk_digest[LUKS_DIGEST_LEN];
	uint8_t mk_salt[LUKS_SALT_LEN];
	uint32_t mk_iters;
	struct luks_slot slots[LUKS_SLOTS];

	/* What the names say. */
	enum qimg_cipher_alg alg;
	enum qimg_cipher_mode mode;
	enum qimg_ivgen_alg ivgen;
	enum qimg_hash_alg ivhash; /* meaningful when has_ivhash */
	bool has_ivhash;
	enum qimg_hash_alg hash;

	uint8_t *mk; /* key_bytes of qimg_secure_alloc memory, or NULL */
	struct qimg_sector_cipher *cipher;
};

/* The AF splitter of the LUKS1 spec over `len`-byte blocks and `stripes`
 * stripes: split spreads key[len] over out[len * stripes] (random stripes
 * but the last); merge folds them back into key[len]. */
int luks_af_split(enum qimg_hash_alg h, const uint8_t *key, size_t len,
		  uint32_t stripes, uint8_t *out, struct qimg_error *err);
int luks_af_merge(enum qimg_hash_alg h, const uint8_t *in, size_t len,
		  uint32_t stripes, uint8_t *key, struct qimg_error *err);

/* Bytes a slot's key material takes on disk: key_bytes * stripes rounded
 * up to whole sectors (qemu-img 7.2 asserts instead when it is not). */
uint64_t luks_material_len(uint32_t key_bytes, uint32_t stripes);

/* Parse and check the header in b[LUKS_HDR_LEN] into l (qemu-img's checks
 * and messages, in its order). */
int luks_parse(struct qimg_luks *l, const uint8_t *b, struct qimg_error *err);
/* Serialise the header into buf[LUKS_HDR_LEN]. */
void luks_encode(const struct qimg_luks *l, uint8_t *buf);
/* Write the header (and flush). */
int luks_write_header(const struct qimg_luks *l, const struct qimg_luks_io *io,
		      struct qimg_error *err);

/* PBKDF2-`h` iterations of one output block this thread runs per second
 * (measured once per format or amend: the cost of an output of n blocks is
 * n times that of one, which is what qemu-img's two measurements find). */
int luks_per_sec(enum qimg_hash_alg h, uint64_t *per_sec,
		 struct qimg_error *err);
/* Iterations that take `iter_time_ms` for an output of `outlen` bytes,
 * divided by `divisor` (8 for the master-key digest), at least 1000. */
int luks_iters(enum qimg_hash_alg h, uint64_t per_sec, uint64_t iter_time_ms,
	       size_t outlen, uint32_t divisor, uint32_t *iters,
	       struct qimg_error *err);

/* Fill slot `i` with the master key l->mk under `secret`: new salt and
 * `iters` in l->slots[i] (marked active), material written through io
 * and flushed.  The header is not written. */
int luks_slot_store(struct qimg_luks *l, const struct qimg_luks_io *io, int i,
		    const uint8_t *secret, size_t secretlen, uint32_t iters,
		    struct qimg_error *err);
/* Try slot `i` with `secret`: 1 and the master key in mk[key_bytes] when it
 * opens, 0 when it does not. */
int luks_slot_try(const struct qimg_luks *l, const struct qimg_luks_io *io,
		  int i, const uint8_t *secret, size_t secretlen, uint8_t *mk,
		  struct qimg_error *err);
/* Overwrite slot i's material with random bytes (and flush). */
int luks_slot_wipe(const struct qimg_luks *l, const struct qimg_luks_io *io,
		   int i, struct qimg_error *err);

#endif
