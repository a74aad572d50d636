/* SPDX-License-Identifier: MIT */
/* Sector ciphers (crypto.h): a key, a mode and an IV generator, serving any
 * number of threads.  A gcrypt cipher handle holds per-call state (the IV),
 * so each call borrows one from a pool kept by the object; the pool grows
 * to the number of threads that ever ran at once.
 *
 * libgcrypt has no 192-bit Twofish, which qemu-img offers: that one
 * algorithm runs on nettle's Twofish with nettle's generic ECB, CBC, CTR
 * and XTS constructions. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/cbc.h>
#include <nettle/ctr.h>
#include <nettle/twofish.h>
#include <nettle/xts.h>

#include "crypto/crypto-gcrypt.h"
#include "util/endian.h"

/* nettle's side: the data key (and XTS's tweak key), in locked memory. */
struct nettle_keys {
	struct twofish_ctx data;
	struct twofish_ctx tweak;
};

struct handle {
	gcry_cipher_hd_t hd;	/* NULL on the nettle side */
	struct nettle_keys *nk; /* nettle side only */
	gcry_cipher_hd_t essiv; /* ESSIV only */
	struct handle *next;
};

struct qimg_sector_cipher {
	enum qimg_cipher_alg alg;
	enum qimg_cipher_mode mode;
	enum qimg_ivgen_alg ivgen;
	enum qimg_cipher_alg essiv_alg;
	size_t block_len;
	uint8_t *key; /* locked memory */
	size_t keylen;
	uint8_t *essiv_key; /* H(key), locked memory; ESSIV only */
	size_t essiv_keylen;

	pthread_mutex_t lock;
	struct handle *free;
};

static const int gcry_modes[QIMG_MODE__MAX] = {
	[QIMG_MODE_ECB] = GCRY_CIPHER_MODE_ECB,
	[QIMG_MODE_CBC] = GCRY_CIPHER_MODE_CBC,
	[QIMG_MODE_XTS] = GCRY_CIPHER_MODE_XTS,
	[QIMG_MODE_CTR] = GCRY_CIPHER_MODE_CTR,
};

static void handle_free(struct handle *h)
{
	if (!h)
		return;
	if (h->hd)
		gcry_cipher_close(h->hd);
	qimg_secure_free(h->nk, sizeof(*h->nk));
	if (h->essiv)
		gcry_cipher_close(h->essiv);
	free(h);
}

static int handle_new(struct qimg_sector_cipher *c, struct handle **out,
		      struct qimg_error *err)
{
	struct handle *h = calloc(1, sizeof(*h));
	gcry_error_t e;

	if (!h)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (!qimg_cipher_gcry_algo(c->alg)) {
		size_t half = qimg_cipher_key_len(c->alg);

		h->nk = qimg_secure_alloc(sizeof(*h->nk));
		if (!h->nk) {
			free(h);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
		twofish_set_key(&h->nk->data, half, c->key);
		if (c->mode == QIMG_MODE_XTS)
			twofish_set_key(&h->nk->tweak, half, c->key + half);
		e = 0;
	} else {
		e = gcry_cipher_open(&h->hd, qimg_cipher_gcry_algo(c->alg),
				     gcry_modes[c->mode], GCRY_CIPHER_SECURE);
		if (!e)
			e = gcry_cipher_setkey(h->hd, c->key, c->keylen);
	}
	if (e) {
		if (h->hd)
			gcry_cipher_close(h->hd);
		free(h);
		return qimg_error_set(
			err, EINVAL, "Cannot use cipher %s in mode %s: %s",
			qimg_cipher_alg_name(c->alg),
			qimg_cipher_mode_name(c->mode), gcry_strerror(e));
	}
	if (c->ivgen == QIMG_IVGEN_ESSIV && c->mode != QIMG_MODE_ECB) {
		e = gcry_cipher_open(&h->essiv,
				     qimg_cipher_gcry_algo(c->essiv_alg),
				     GCRY_CIPHER_MODE_ECB, GCRY_CIPHER_SECURE);
		if (!e)
			e = gcry_cipher_setkey(h->essiv, c->essiv_key,
					       c->essiv_keylen);
		if (e) {
			handle_free(h);
			return qimg_crypto_gcry_error(err, e,
						      "ESSIV cipher setup");
		}
	}
	*out = h;
	return 0;
}

static int handle_get(struct qimg_sector_cipher *c, struct handle **out,
		      struct qimg_error *err)
{
	pthread_mutex_lock(&c->lock);
	*out = c->free;
	if (*out)
		c->free = (*out)->next;
	pthread_mutex_unlock(&c->lock);
	return *out ? 0 : handle_new(c, out, err);
}

static void handle_put(struct qimg_sector_cipher *c, struct handle *h)
{
	pthread_mutex_lock(&c->lock);
	h->next = c->free;
	c->free = h;
	pthread_mutex_unlock(&c->lock);
}

int qimg_sector_cipher_new(enum qimg_cipher_alg alg, enum qimg_cipher_mode mode,
			   enum qimg_ivgen_alg ivgen, enum qimg_hash_alg ivhash,
			   const uint8_t *key, size_t keylen,
			   struct qimg_sector_cipher **out,
			   struct qimg_error *err)
{
	struct qimg_sector_cipher *c;
	struct handle *h;
	int r;

	qimg_crypto_init();
	if (!qimg_cipher_supported(alg, mode))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported cipher mode %s",
				      qimg_cipher_mode_name(mode));
	if ((unsigned)ivgen >= QIMG_IVGEN__MAX ||
	    (unsigned)ivhash >= QIMG_HASH__MAX)
		return qimg_error_set(err, EINVAL, "Unknown IV generator");
	if (keylen != qimg_cipher_mode_key_len(alg, mode))
		return qimg_error_set(
			err, EINVAL,
			"Cipher %s in mode %s needs a %zu-byte "
			"key, not %zu",
			qimg_cipher_alg_name(alg), qimg_cipher_mode_name(mode),
			qimg_cipher_mode_key_len(alg, mode), keylen);
	c = calloc(1, sizeof(*c));
	if (!c)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	c->alg = alg;
	c->mode = mode;
	c->ivgen = ivgen;
	c->block_len = qimg_cipher_block_len(alg);
	pthread_mutex_init(&c->lock, NULL);
	c->keylen = keylen;
	c->key = qimg_secure_alloc(keylen);
	if (!c->key) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto fail;
	}
	memcpy(c->key, key, keylen);
	if (ivgen == QIMG_IVGEN_ESSIV && mode != QIMG_MODE_ECB) {
		r = qimg_essiv_cipher(alg, ivhash, &c->essiv_alg, err);
		if (r < 0)
			goto fail;
		c->essiv_keylen = qimg_hash_len(ivhash);
		c->essiv_key = qimg_secure_alloc(QIMG_HASH_MAX_LEN);
		if (!c->essiv_key) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto fail;
		}
		r = qimg_hash(ivhash, key, keylen, c->essiv_key, err);
		if (r < 0)
			goto fail;
	}
	/* One handle now, so that a key the library refuses fails here. */
	r = handle_new(c, &h, err);
	if (r < 0)
		goto fail;
	c->free = h;
	*out = c;
	return 0;
fail:
	qimg_sector_cipher_free(c);
	return r;
}

void qimg_sector_cipher_free(struct qimg_sector_cipher *c)
{
	if (!c)
		return;
	while (c->free) {
		struct handle *h = c->free;

		c->free = h->next;
		handle_free(h);
	}
	qimg_secure_free(c->key, c->keylen);
	qimg_secure_free(c->essiv_key, QIMG_HASH_MAX_LEN);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int make_iv(const struct qimg_sector_cipher *c, struct handle *h,
		   uint64_t sector, uint8_t *iv)
{
	memset(iv, 0, c->block_len);
	if (c->ivgen == QIMG_IVGEN_PLAIN) {
		qimg_store_le32(iv, (uint32_t)sector);
		return 0;
	}
	qimg_store_le64(iv, sector);
	if (c->ivgen == QIMG_IVGEN_ESSIV)
		return gcry_cipher_encrypt(h->essiv, iv, c->block_len, NULL, 0)
			       ? -EIO
			       : 0;
	return 0;
}

#define TF(f) ((nettle_cipher_func *)(f))

/* One sector on the nettle side (iv: block_len bytes, consumed). */
static void nettle_sector(struct handle *h, enum qimg_cipher_mode mode,
			  uint8_t *iv, uint8_t *p, size_t len, bool enc)
{
	struct twofish_ctx *k = &h->nk->data;

	switch (mode) {
	case QIMG_MODE_ECB:
		if (enc)
			twofish_encrypt(k, len, p, p);
		else
			twofish_decrypt(k, len, p, p);
		break;
	case QIMG_MODE_CBC:
		if (enc)
			cbc_encrypt(k, TF(twofish_encrypt), 16, iv, len, p, p);
		else
			cbc_decrypt(k, TF(twofish_decrypt), 16, iv, len, p, p);
		break;
	case QIMG_MODE_CTR:
		ctr_crypt(k, TF(twofish_encrypt), 16, iv, len, p, p);
		break;
	default: /* QIMG_MODE_XTS */
		if (enc)
			xts_encrypt_message(k, &h->nk->tweak,
					    TF(twofish_encrypt), iv, len, p, p);
		else
			xts_decrypt_message(k, &h->nk->tweak,
					    TF(twofish_decrypt),
					    TF(twofish_encrypt), iv, len, p, p);
		break;
	}
}

static int crypt_sectors(struct qimg_sector_cipher *c, uint64_t sector,
			 void *buf, size_t len, bool enc,
			 struct qimg_error *err)
{
	uint8_t *p = buf;
	uint8_t iv[16];
	struct handle *h;
	gcry_error_t e = 0;
	int r;

	if (len % QIMG_SECTOR_SIZE)
		return qimg_error_set(err, EINVAL,
				      "Length %zu is not a multiple of the "
				      "sector size",
				      len);
	r = handle_get(c, &h, err);
	if (r < 0)
		return r;
	if (h->nk) {
		for (size_t k = 0; k < len / QIMG_SECTOR_SIZE; k++) {
			if (c->mode != QIMG_MODE_ECB &&
			    make_iv(c, h, sector + k, iv) < 0) {
				e = gcry_error(GPG_ERR_GENERAL);
				break;
			}
			nettle_sector(h, c->mode, iv, p, QIMG_SECTOR_SIZE, enc);
			p += QIMG_SECTOR_SIZE;
		}
		len = 0;
	} else if (c->mode == QIMG_MODE_ECB) {
		/* No IV: the whole run in one call. */
		e = enc ? gcry_cipher_encrypt(h->hd, p, len, NULL, 0)
			: gcry_cipher_decrypt(h->hd, p, len, NULL, 0);
		len = 0;
	}
	for (size_t k = 0; !e && k < len / QIMG_SECTOR_SIZE; k++) {
		if (make_iv(c, h, sector + k, iv) < 0) {
			e = gcry_error(GPG_ERR_GENERAL);
			break;
		}
		if (c->mode == QIMG_MODE_CTR)
			e = gcry_cipher_setctr(h->hd, iv, c->block_len);
		else
			e = gcry_cipher_setiv(h->hd, iv, c->block_len);
		if (e)
			break;
		e = enc ? gcry_cipher_encrypt(h->hd, p, QIMG_SECTOR_SIZE, NULL,
					      0)
			: gcry_cipher_decrypt(h->hd, p, QIMG_SECTOR_SIZE, NULL,
					      0);
		p += QIMG_SECTOR_SIZE;
	}
	explicit_bzero(iv, sizeof(iv));
	handle_put(c, h);
	if (e)
		return qimg_crypto_gcry_error(
			err, e, enc ? "Encryption" : "Decryption");
	return 0;
}

int qimg_sector_encrypt(struct qimg_sector_cipher *c, uint64_t sector,
			void *buf, size_t len, struct qimg_error *err)
{
	return crypt_sectors(c, sector, buf, len, true, err);
}

int qimg_sector_decrypt(struct qimg_sector_cipher *c, uint64_t sector,
			void *buf, size_t len, struct qimg_error *err)
{
	return crypt_sectors(c, sector, buf, len, false, err);
}

int qimg_cipher_decrypt_cbc(enum qimg_cipher_alg alg, const uint8_t *key,
			    size_t keylen, const uint8_t *iv, void *buf,
			    size_t len, struct qimg_error *err)
{
	gcry_cipher_hd_t hd = NULL;
	gcry_error_t e;

	qimg_crypto_init();
	if (!qimg_cipher_gcry_algo(alg) || keylen != qimg_cipher_key_len(alg))
		return qimg_error_set(err, EINVAL,
				      "Cannot use cipher %s in mode cbc",
				      qimg_cipher_alg_name(alg));
	e = gcry_cipher_open(&hd, qimg_cipher_gcry_algo(alg),
			     GCRY_CIPHER_MODE_CBC, GCRY_CIPHER_SECURE);
	if (!e)
		e = gcry_cipher_setkey(hd, key, keylen);
	if (!e)
		e = gcry_cipher_setiv(hd, iv, qimg_cipher_block_len(alg));
	if (!e && len)
		e = gcry_cipher_decrypt(hd, buf, len, NULL, 0);
	if (hd)
		gcry_cipher_close(hd);
	return e ? qimg_crypto_gcry_error(err, e, "CBC decryption") : 0;
}
