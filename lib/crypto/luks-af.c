/* SPDX-License-Identifier: MIT */
/* The LUKS1 anti-forensic splitter (cryptsetup's on-disk format spec,
 * "AF splitter"): a key of L bytes is spread over n stripes so that losing
 * any stripe loses the key.  D = 0; for each stripe s_i but the last,
 * D = H(D xor s_i); the last stripe is D xor key.  H diffuses a block by
 * hashing each digest-sized piece j as hash(be32(j) || piece). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/luks-int.h"
#include "util/endian.h"

static int diffuse(enum qimg_hash_alg h, uint8_t *buf, size_t len,
		   struct qimg_error *err)
{
	size_t dlen = qimg_hash_len(h);
	uint8_t digest[QIMG_HASH_MAX_LEN], iv[4];

	for (size_t j = 0, off = 0; off < len; j++, off += dlen) {
		size_t n = len - off < dlen ? len - off : dlen;
		const void *ptr[2] = { iv, buf + off };
		size_t lens[2] = { sizeof(iv), n };
		int r;

		qimg_store_be32(iv, (uint32_t)j);
		r = qimg_hash_pieces(h, 2, ptr, lens, digest, err);
		if (r < 0)
			return r;
		memcpy(buf + off, digest, n);
	}
	explicit_bzero(digest, sizeof(digest));
	return 0;
}

static void xor_into(uint8_t *dst, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		dst[i] ^= src[i];
}

int luks_af_split(enum qimg_hash_alg h, const uint8_t *key, size_t len,
		  uint32_t stripes, uint8_t *out, struct qimg_error *err)
{
	uint8_t *d = qimg_secure_alloc(len);
	int r = 0;

	if (!d)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_random_bytes(out, len * (stripes - 1), err);
	for (uint32_t i = 0; r == 0 && i + 1 < stripes; i++) {
		xor_into(d, out + (size_t)i * len, len);
		r = diffuse(h, d, len, err);
	}
	if (r == 0) {
		uint8_t *last = out + (size_t)(stripes - 1) * len;

		memcpy(last, d, len);
		xor_into(last, key, len);
	}
	qimg_secure_free(d, len);
	return r;
}

int luks_af_merge(enum qimg_hash_alg h, const uint8_t *in, size_t len,
		  uint32_t stripes, uint8_t *key, struct qimg_error *err)
{
	int r = 0;

	memset(key, 0, len);
	for (uint32_t i = 0; r == 0 && i + 1 < stripes; i++) {
		xor_into(key, in + (size_t)i * len, len);
		r = diffuse(h, key, len, err);
	}
	if (r == 0)
		xor_into(key, in + (size_t)(stripes - 1) * len, len);
	else
		explicit_bzero(key, len);
	return r;
}
