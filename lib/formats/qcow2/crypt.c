/* SPDX-License-Identifier: MIT */
/* qcow2 encryption: the key from the node's encrypt.key-secret, legacy AES
 * (crypt_method 1) and LUKS (crypt_method 2, lib/crypto/luks.h) set up at
 * open, and the sector cipher that read.c and write.c run over guest data
 * (never over metadata).  AES numbers sectors by guest offset, LUKS by host
 * offset (formats.md 2.10).  The cipher is thread-safe: encryption runs in
 * the writing thread, outside the metadata lock. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "formats/qcow2/qcow2.h"
#include "qimg/object.h"

#define AES_KEY_LEN 16

int qcow2_crypt_secret(struct qimg_node *node, const char *id, uint8_t **data,
		       size_t *len, struct qimg_error *err)
{
	*data = NULL;
	*len = 0;
	if (!id)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'encrypt.key-secret' is "
				      "required for cipher");
	return qimg_secret_get(node->objects, id, data, len, err);
}

int qcow2_aes_cipher(const uint8_t *secret, size_t len,
		     struct qimg_sector_cipher **out, struct qimg_error *err)
{
	uint8_t *key = qimg_secure_alloc(AES_KEY_LEN);
	int r;

	if (!key)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	/* The first 16 bytes of the passphrase, zero padded (a longer one
	 * is cut, as qemu-img keys it). */
	memcpy(key, secret, len < AES_KEY_LEN ? len : AES_KEY_LEN);
	r = qimg_sector_cipher_new(QIMG_CIPHER_AES_128, QIMG_MODE_CBC,
				   QIMG_IVGEN_PLAIN64, QIMG_HASH_SHA256, key,
				   AES_KEY_LEN, out, err);
	qimg_secure_free(key, AES_KEY_LEN);
	return r;
}

int qcow2_crypt_check_format(const struct qcow2_state *s, const char *fmt,
			     struct qimg_error *err)
{
	const char *have = s->h.crypt_method == 1   ? "aes"
			   : s->h.crypt_method == 2 ? "luks"
						    : NULL;

	if (!fmt)
		return 0;
	if (!have)
		return qimg_error_set(err, EINVAL,
				      "No encryption in image header, but "
				      "options specified format '%s'",
				      fmt);
	if (strcmp(fmt, have))
		return qimg_error_set(err, EINVAL,
				      "Header reported '%s' encryption format "
				      "but options specify '%s'",
				      have, fmt);
	return 0;
}

int qcow2_crypt_open(struct qimg_node *node, struct qcow2_state *s,
		     const struct qimg_opts *opts, struct qimg_error *err)
{
	uint8_t *secret;
	size_t len;
	int r;

	r = qcow2_crypt_check_format(
		s, qimg_opts_get_str(opts, "encrypt.format", NULL), err);
	if (r < 0 || !s->h.crypt_method)
		return r;
	if (s->h.crypt_method == 2 && !s->ext.has_crypto)
		return qimg_error_set(err, EINVAL,
				      "No encryption header extension in image "
				      "with LUKS encryption");
	if (s->h.crypt_method == 1 && s->ext.has_crypto)
		return qimg_error_set(err, EINVAL,
				      "Crypto header extension only expected "
				      "with LUKS encryption method");
	/* Metadata only (info): no key needed, as qemu-img needs none. */
	if (node->flags & QIMG_OPEN_NO_IO)
		return 0;
	r = qcow2_crypt_secret(
		node, qimg_opts_get_str(opts, "encrypt.key-secret", NULL),
		&secret, &len, err);
	if (r < 0)
		return r;
	if (s->h.crypt_method == 1) {
		r = qcow2_aes_cipher(secret, len, &s->cipher, err);
		s->crypt_guest_iv = true;
	} else {
		r = qcow2_luks_open(s, secret, len, err);
	}
	qimg_secret_free(secret, len);
	if (r < 0)
		return r;
	/* Whole sectors only: the core pads and read-modify-writes. */
	node->limits.request_align = QIMG_SECTOR_SIZE;
	node->limits.export_align = QIMG_SECTOR_SIZE;
	return 0;
}

void qcow2_crypt_close(struct qcow2_state *s)
{
	if (s->luks)
		qcow2_luks_close(s);
	else
		qimg_sector_cipher_free(s->cipher);
	s->luks = NULL;
	s->cipher = NULL;
}

static uint64_t iv_sector(const struct qcow2_state *s, uint64_t guest,
			  uint64_t host)
{
	return (s->crypt_guest_iv ? guest : host) / QIMG_SECTOR_SIZE;
}

int qcow2_decrypt(struct qcow2_state *s, uint64_t guest, uint64_t host,
		  void *buf, size_t len, struct qimg_error *err)
{
	if (!s->cipher)
		return 0;
	return qimg_sector_decrypt(s->cipher, iv_sector(s, guest, host), buf,
				   len, err);
}

int qcow2_encrypt(struct qcow2_state *s, uint64_t guest, uint64_t host,
		  void *buf, size_t len, struct qimg_error *err)
{
	return qimg_sector_encrypt(s->cipher, iv_sector(s, guest, host), buf,
				   len, err);
}

/* Chunks of an encrypted write: large requests are not copied whole. */
#define CRYPT_CHUNK (1u << 20)

int qcow2_pwrite_data(struct qcow2_state *s, uint64_t guest, uint64_t host,
		      const void *buf, size_t len, struct qimg_error *err)
{
	const uint8_t *p = buf;
	uint8_t *bounce;
	size_t n;
	int r = 0;

	if (!s->cipher)
		return qimg_pwrite(s->data, host, buf, len, err);
	bounce = malloc(len < CRYPT_CHUNK ? len : CRYPT_CHUNK);
	if (!bounce)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (; r == 0 && len; len -= n, p += n, guest += n, host += n) {
		n = len < CRYPT_CHUNK ? len : CRYPT_CHUNK;
		memcpy(bounce, p, n);
		r = qcow2_encrypt(s, guest, host, bounce, n, err);
		if (r == 0)
			r = qimg_pwrite(s->data, host, bounce, n, err);
	}
	free(bounce);
	return r;
}
