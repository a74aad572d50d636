/* SPDX-License-Identifier: MIT */
/* LUKS1 headers (cryptsetup's on-disk format 1.2): parse and check, create
 * as qemu-img lays them out, unlock a key slot with a passphrase, change key
 * slots, describe for `info`.  Used by the luks format (the header at offset
 * 0, the payload after it) and by qcow2 (the header in clusters the image
 * points at, the payload being the image's data clusters).
 *
 * Every offset here is relative to the start of the LUKS area; the caller's
 * io callbacks add where that area is. */
#ifndef QIMG_CRYPTO_LUKS_H
#define QIMG_CRYPTO_LUKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "qimg/error.h"
#include "qimg/opts.h"
#include "qimg/value.h"

/* How the caller's storage holding the LUKS area is reached. */
struct qimg_luks_io {
	void *opaque;
	int (*read)(void *opaque, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err);
	int (*write)(void *opaque, uint64_t off, const void *buf, size_t len,
		     struct qimg_error *err);
	int (*flush)(void *opaque, struct qimg_error *err);
};

/* Creation parameters (qemu-img's create options; defaults aes-256, xts,
 * plain64, sha256 for both hashes, iter-time 2000 ms). */
struct qimg_luks_params {
	enum qimg_cipher_alg cipher_alg;
	enum qimg_cipher_mode cipher_mode;
	enum qimg_ivgen_alg ivgen_alg;
	enum qimg_hash_alg ivgen_hash_alg;
	enum qimg_hash_alg hash_alg;
	uint64_t iter_time_ms;
	/* ivgen-hash-alg was given: the header names it even for plain
	 * IVs ("cbc-plain:sha1"), as qemu-img writes it.  essiv always names
	 * its hash. */
	bool ivgen_hash_set;
	/* A cipher qemu-img knows but LUKS refuses ("des", "3des"): set by
	 * qimg_luks_params_parse, refused by qimg_luks_params_check. */
	const char *unsupported_cipher;
};

/* Read the parameters from create options named PREFIX + "cipher-alg",
 * "cipher-mode", "ivgen-alg", "ivgen-hash-alg", "hash-alg", "iter-time"
 * (prefix "" for luks, "encrypt." for qcow2), checked as qemu-img checks
 * them and with its messages. */
int qimg_luks_params_from_opts(const struct qimg_opts *o, const char *prefix,
			       struct qimg_luks_params *p,
			       struct qimg_error *err);
/* The two halves of qimg_luks_params_from_opts, for a caller that must
 * check something between them as qemu-img does (the luks format looks its
 * key-secret up after the names are parsed and before they are checked):
 * parse reads the names ("Parameter 'cipher-alg' does not accept value
 * 'foo'"), check refuses what cannot be used ("Algorithm 'des' not
 * supported", "Unsupported cipher mode xts", ESSIV's hash). */
int qimg_luks_params_parse(const struct qimg_opts *o, const char *prefix,
			   struct qimg_luks_params *p, struct qimg_error *err);
int qimg_luks_params_check(const struct qimg_luks_params *p,
			   struct qimg_error *err);

/* Bytes the header and the 8 key slots' material take for `p` (the payload
 * offset qemu-img gives a new luks image: 2068480 for the defaults). */
uint64_t qimg_luks_area_len(const struct qimg_luks_params *p);

struct qimg_luks;

/* Create a LUKS header with a new random master key and key slot 0 opened
 * by `secret`, and write it and the key material through io (flushed).
 * Returns the unlocked header. */
int qimg_luks_format(const struct qimg_luks_params *p, const uint8_t *secret,
		     size_t secretlen, const struct qimg_luks_io *io,
		     struct qimg_luks **out, struct qimg_error *err);

/* Read and check the header through io.  With a secret, also unlock: try
 * each active slot until one yields the master key (qemu-img's "Invalid
 * password, cannot unlock any keyslot" otherwise).  Without one (NULL), the
 * header can be described but not used for data. */
int qimg_luks_open(const struct qimg_luks_io *io, const uint8_t *secret,
		   size_t secretlen, struct qimg_luks **out,
		   struct qimg_error *err);
/* Wipes the master key.  NULL is allowed. */
void qimg_luks_close(struct qimg_luks *l);

/* Where the payload starts, in bytes, as the header says. */
uint64_t qimg_luks_payload_offset(const struct qimg_luks *l);
/* The data cipher of an unlocked header (NULL when opened without a
 * secret).  Sector numbers are the caller's: luks counts from the payload,
 * qcow2 uses host offset / 512. */
struct qimg_sector_cipher *qimg_luks_cipher(const struct qimg_luks *l);

/* Add the header's description to `dict` as qemu-img's info shows it
 * ("cipher-alg", "cipher-mode", "hash-alg", "ivgen-alg", "ivgen-hash-alg",
 * "payload-offset", "master-key-iters", "uuid", "slots": [...]). */
int qimg_luks_describe(const struct qimg_luks *l, struct qimg_value *dict,
		       struct qimg_error *err);

/* amend: key slot changes as qemu-img 7.2 makes them. */
struct qimg_luks_amend {
	bool active;		   /* state=active (true) or inactive */
	int keyslot;		   /* -1: not given */
	const uint8_t *old_secret; /* NULL: not given */
	size_t old_secret_len;
	const uint8_t *new_secret; /* state=active: required */
	size_t new_secret_len;
	uint64_t iter_time_ms; /* 0: 2000 */
	bool force;	       /* allow erasing the last active slot */
	/* keyslot was given even though it is -1 (the user wrote -1:
	 * "Invalid keyslot 4294967295 ..." as qemu-img says). */
	bool keyslot_set;
};

/* Change key slots of an unlocked header.  A slot is filled (material
 * written and flushed) before the header names it, and the header stops
 * naming a slot before its material is erased, so a kill at any moment
 * leaves a volume some key opens. */
int qimg_luks_amend(struct qimg_luks *l, const struct qimg_luks_io *io,
		    const struct qimg_luks_amend *a, struct qimg_error *err);

#endif
