/* SPDX-License-Identifier: MIT */
/* LUKS1 key slots: PBKDF2 calibration, storing, trying and wiping a slot's
 * key material, and amend (qemu-img 7.2's rules and messages, observed).
 * Crash safety: a slot's material is written and flushed before the header
 * names it; the header stops naming a slot (written, flushed) before its
 * material is overwritten. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/luks-int.h"

int luks_write_header(const struct qimg_luks *l, const struct qimg_luks_io *io,
		      struct qimg_error *err)
{
	uint8_t b[LUKS_HDR_LEN];
	int r;

	luks_encode(l, b);
	r = io->write(io->opaque, 0, b, sizeof(b), err);
	return r < 0 ? r : io->flush(io->opaque, err);
}

int luks_per_sec(enum qimg_hash_alg h, uint64_t *per_sec,
		 struct qimg_error *err)
{
	return qimg_pbkdf2_count_iters(h, 32, LUKS_SALT_LEN, qimg_hash_len(h),
				       per_sec, err);
}

int luks_iters(enum qimg_hash_alg h, uint64_t per_sec, uint64_t iter_time_ms,
	       size_t outlen, uint32_t divisor, uint32_t *iters,
	       struct qimg_error *err)
{
	size_t dlen = qimg_hash_len(h);
	uint64_t blocks = (outlen + dlen - 1) / dlen, n;

	if (__builtin_mul_overflow(per_sec, iter_time_ms, &n))
		return qimg_error_set_errno(err, ERANGE,
					    "PBKDF iterations %" PRIu64
					    " too large to scale",
					    per_sec);
	n = n / 1000 / blocks / divisor;
	if (n > UINT32_MAX)
		return qimg_error_set(err, ERANGE,
				      "Too many PBKDF iterations for LUKS "
				      "format");
	*iters = n < LUKS_MIN_ITERS ? LUKS_MIN_ITERS : (uint32_t)n;
	return 0;
}

/* The cipher that en/decrypts a slot's material: the data cipher's
 * algorithms under the key derived from the passphrase. */
static int slot_cipher(const struct qimg_luks *l, const uint8_t *secret,
		       size_t secretlen, const struct luks_slot *s,
		       struct qimg_sector_cipher **c, struct qimg_error *err)
{
	uint8_t *key = qimg_secure_alloc(l->key_bytes);
	int r;

	if (!key)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_pbkdf2(l->hash, secret, secretlen, s->salt, LUKS_SALT_LEN,
			s->iters, key, l->key_bytes, err);
	if (r == 0)
		r = qimg_sector_cipher_new(l->alg, l->mode, l->ivgen,
					   l->has_ivhash ? l->ivhash
							 : QIMG_HASH_SHA256,
					   key, l->key_bytes, c, err);
	qimg_secure_free(key, l->key_bytes);
	return r;
}

int luks_slot_store(struct qimg_luks *l, const struct qimg_luks_io *io, int i,
		    const uint8_t *secret, size_t secretlen, uint32_t iters,
		    struct qimg_error *err)
{
	struct luks_slot s = l->slots[i];
	size_t len = (size_t)luks_material_len(l->key_bytes, LUKS_STRIPES);
	struct qimg_sector_cipher *c = NULL;
	uint8_t *buf = qimg_secure_alloc(len);
	int r;

	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	s.iters = iters;
	r = qimg_random_bytes(s.salt, LUKS_SALT_LEN, err);
	if (r == 0)
		r = slot_cipher(l, secret, secretlen, &s, &c, err);
	if (r == 0)
		r = luks_af_split(l->hash, l->mk, l->key_bytes, LUKS_STRIPES,
				  buf, err);
	if (r == 0)
		r = qimg_sector_encrypt(c, 0, buf, len, err);
	if (r == 0)
		r = io->write(io->opaque,
			      (uint64_t)s.key_offset * QIMG_SECTOR_SIZE, buf,
			      len, err);
	if (r == 0)
		r = io->flush(io->opaque, err);
	qimg_sector_cipher_free(c);
	qimg_secure_free(buf, len);
	if (r == 0) {
		s.active = LUKS_SLOT_ACTIVE;
		l->slots[i] = s;
	}
	return r;
}

int luks_slot_try(const struct qimg_luks *l, const struct qimg_luks_io *io,
		  int i, const uint8_t *secret, size_t secretlen, uint8_t *mk,
		  struct qimg_error *err)
{
	const struct luks_slot *s = &l->slots[i];
	size_t len = (size_t)luks_material_len(l->key_bytes, LUKS_STRIPES);
	struct qimg_sector_cipher *c = NULL;
	uint8_t *buf = qimg_secure_alloc(len), digest[LUKS_DIGEST_LEN];
	int r;

	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = io->read(io->opaque, (uint64_t)s->key_offset * QIMG_SECTOR_SIZE,
		     buf, len, err);
	if (r == 0)
		r = slot_cipher(l, secret, secretlen, s, &c, err);
	if (r == 0)
		r = qimg_sector_decrypt(c, 0, buf, len, err);
	if (r == 0)
		r = luks_af_merge(l->hash, buf, l->key_bytes, LUKS_STRIPES, mk,
				  err);
	if (r == 0)
		r = qimg_pbkdf2(l->hash, mk, l->key_bytes, l->mk_salt,
				LUKS_SALT_LEN, l->mk_iters, digest,
				LUKS_DIGEST_LEN, err);
	if (r == 0)
		r = !memcmp(digest, l->mk_digest, LUKS_DIGEST_LEN);
	if (r != 1)
		explicit_bzero(mk, l->key_bytes);
	explicit_bzero(digest, sizeof(digest));
	qimg_sector_cipher_free(c);
	qimg_secure_free(buf, len);
	return r;
}

int luks_slot_wipe(const struct qimg_luks *l, const struct qimg_luks_io *io,
		   int i, struct qimg_error *err)
{
	size_t len = (size_t)luks_material_len(l->key_bytes, LUKS_STRIPES);
	uint8_t *buf = malloc(len);
	int r;

	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_random_bytes(buf, len, err);
	if (r == 0)
		r = io->write(io->opaque,
			      (uint64_t)l->slots[i].key_offset *
				      QIMG_SECTOR_SIZE,
			      buf, len, err);
	if (r == 0)
		r = io->flush(io->opaque, err);
	free(buf);
	return r;
}

static int count_active(const struct qimg_luks *l)
{
	int n = 0;

	for (int i = 0; i < LUKS_SLOTS; i++)
		n += l->slots[i].active == LUKS_SLOT_ACTIVE;
	return n;
}

/* Stop naming the slots in `mask` (header written and flushed), then
 * overwrite their material. */
static int erase_slots(struct qimg_luks *l, const struct qimg_luks_io *io,
		       unsigned int mask, struct qimg_error *err)
{
	int r;

	for (int i = 0; i < LUKS_SLOTS; i++) {
		if (!(mask & (1u << i)))
			continue;
		l->slots[i].active = LUKS_SLOT_INACTIVE;
		l->slots[i].iters = 0;
		memset(l->slots[i].salt, 0, LUKS_SALT_LEN);
	}
	r = luks_write_header(l, io, err);
	for (int i = 0; r == 0 && i < LUKS_SLOTS; i++)
		if (mask & (1u << i))
			r = luks_slot_wipe(l, io, i, err);
	return r;
}

static int amend_activate(struct qimg_luks *l, const struct qimg_luks_io *io,
			  const struct qimg_luks_amend *a, bool has_slot,
			  struct qimg_error *err)
{
	uint64_t per_sec;
	uint32_t iters;
	int i = a->keyslot, r;

	if (a->old_secret)
		return qimg_error_set(err, EINVAL,
				      "'old-secret' must not be given when "
				      "activating keyslots");
	if (!a->new_secret)
		return qimg_error_set(err, EINVAL,
				      "'new-secret' is required to activate a "
				      "keyslot");
	if (has_slot) {
		if (i < 0 || i >= LUKS_SLOTS)
			return qimg_error_set(err, EINVAL,
					      "Invalid keyslot %u specified, "
					      "must be between 0 and 7",
					      (unsigned)i);
		if (l->slots[i].active == LUKS_SLOT_ACTIVE && !a->force)
			return qimg_error_set(err, EINVAL,
					      "Refusing to overwrite active "
					      "keyslot %d - please erase it "
					      "first",
					      i);
	} else {
		for (i = 0; i < LUKS_SLOTS; i++)
			if (l->slots[i].active != LUKS_SLOT_ACTIVE)
				break;
		if (i == LUKS_SLOTS)
			return qimg_error_set(err, ENOSPC,
					      "Can't add a keyslot - all "
					      "keyslots are in use");
	}
	r = luks_per_sec(l->hash, &per_sec, err);
	if (r == 0)
		r = luks_iters(l->hash, per_sec,
			       a->iter_time_ms ? a->iter_time_ms : 2000,
			       l->key_bytes, 1, &iters, err);
	if (r < 0)
		return r;
	/* Overwriting an active slot (--force): the header first stops
	 * naming it, so it never names half-written material. */
	if (l->slots[i].active == LUKS_SLOT_ACTIVE) {
		l->slots[i].active = LUKS_SLOT_INACTIVE;
		r = luks_write_header(l, io, err);
		if (r < 0)
			return r;
	}
	r = luks_slot_store(l, io, i, a->new_secret, a->new_secret_len, iters,
			    err);
	return r < 0 ? r : luks_write_header(l, io, err);
}

static int amend_erase(struct qimg_luks *l, const struct qimg_luks_io *io,
		       const struct qimg_luks_amend *a, bool has_slot,
		       struct qimg_error *err)
{
	uint8_t *mk;
	unsigned int mask = 0;
	int i = a->keyslot, r = 0, n = 0;

	if (a->new_secret)
		return qimg_error_set(err, EINVAL,
				      "'new-secret' must not be given when "
				      "erasing keyslots");
	if (!has_slot && !a->old_secret)
		return qimg_error_set(err, EINVAL,
				      "To erase keyslot(s), either explicit "
				      "keyslot index or the password "
				      "currently contained in them must be "
				      "given");
	if (has_slot && (i < 0 || i >= LUKS_SLOTS))
		return qimg_error_set(err, EINVAL,
				      "Invalid keyslot %u specified, must be "
				      "between 0 and 7",
				      (unsigned)i);
	mk = qimg_secure_alloc(l->key_bytes);
	if (!mk)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (int j = 0; a->old_secret && j < LUKS_SLOTS; j++) {
		if (l->slots[j].active != LUKS_SLOT_ACTIVE ||
		    (has_slot && j != i))
			continue;
		r = luks_slot_try(l, io, j, a->old_secret, a->old_secret_len,
				  mk, err);
		if (r < 0)
			break;
		if (r == 1) {
			mask |= 1u << j;
			n++;
		}
		r = 0;
	}
	qimg_secure_free(mk, l->key_bytes);
	if (r < 0)
		return r;
	if (has_slot) {
		if (a->old_secret && !mask)
			return qimg_error_set(
				err, EPERM,
				"Given keyslot %d doesn't contain "
				"the given old password for erase "
				"operation",
				i);
		/* --force erases an erased slot again, silently (iotest
		 * 293). */
		if (l->slots[i].active != LUKS_SLOT_ACTIVE && !a->force)
			return qimg_error_set(err, EINVAL,
					      "Given keyslot %d is already "
					      "erased (inactive) ",
					      i);
		if (count_active(l) == 1 &&
		    l->slots[i].active == LUKS_SLOT_ACTIVE && !a->force)
			return qimg_error_set(
				err, EPERM,
				"Attempt to erase the only active "
				"keyslot %d which will erase all "
				"the data in the image "
				"irreversibly - refusing "
				"operation",
				i);
		mask = 1u << i;
	} else {
		if (!mask)
			return qimg_error_set(err, EPERM,
					      "No keyslots match given (old) "
					      "password for erase operation");
		if (n == count_active(l) && !a->force)
			return qimg_error_set(
				err, EPERM,
				"All the active keyslots match the "
				"(old) password that was given and "
				"erasing them will erase all the "
				"data in the image irreversibly - "
				"refusing operation");
	}
	return erase_slots(l, io, mask, err);
}

int qimg_luks_amend(struct qimg_luks *l, const struct qimg_luks_io *io,
		    const struct qimg_luks_amend *a, struct qimg_error *err)
{
	bool has_slot = a->keyslot != -1 || a->keyslot_set;

	if (!l->mk)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'key-secret' is required for "
				      "cipher");
	if (a->active)
		return amend_activate(l, io, a, has_slot, err);
	return amend_erase(l, io, a, has_slot, err);
}
