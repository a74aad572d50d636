/* SPDX-License-Identifier: MIT */
/* Private to lib/crypto: the libgcrypt side shared by its files. */
#ifndef QIMG_CRYPTO_GCRYPT_H
#define QIMG_CRYPTO_GCRYPT_H

#include <gcrypt.h>

#include "crypto/crypto.h"

/* Initialise libgcrypt once per process (every entry point calls it). */
void qimg_crypto_init(void);
/* Set err from a gcrypt error: "WHAT failed: REASON". */
int qimg_crypto_gcry_error(struct qimg_error *err, gcry_error_t e,
			   const char *what);
int qimg_cipher_gcry_algo(enum qimg_cipher_alg a);

#endif
