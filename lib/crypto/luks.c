/* SPDX-License-Identifier: MIT */
/* LUKS1 headers (luks.h): creation parameters checked as qemu-img checks
 * them, the header parsed and checked in qemu-img's order and with its
 * messages (observed on damaged qemu-img images), format, open/unlock and
 * the description `info` shows.  Key slots and amend are in luks-slot.c,
 * the AF splitter in luks-af.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/luks-int.h"
#include "util/endian.h"

/* Ciphers qemu-img knows by name that LUKS refuses. */
static const char *const unsupported_ciphers[] = { "des", "3des" };

static int parse_enum(const struct qimg_opts *o, const char *prefix,
		      const char *name, int (*from_name)(const char *), int def,
		      int *out, struct qimg_error *err)
{
	char key[64];
	const char *v;

	snprintf(key, sizeof(key), "%s%s", prefix, name);
	v = qimg_opts_get_str(o, key, NULL);
	if (!v) {
		*out = def;
		return 0;
	}
	*out = from_name(v);
	/* Named without the prefix, as qemu-img names qcow2's too. */
	if (*out < 0)
		return qimg_error_set(err, EINVAL,
				      "Parameter '%s' does not accept value "
				      "'%s'",
				      name, v);
	return 0;
}

int qimg_luks_params_parse(const struct qimg_opts *o, const char *prefix,
			   struct qimg_luks_params *p, struct qimg_error *err)
{
	char key[64];
	const char *v;
	int a, r;

	memset(p, 0, sizeof(*p));
	snprintf(key, sizeof(key), "%scipher-alg", prefix);
	v = qimg_opts_get_str(o, key, NULL);
	a = v ? qimg_cipher_alg_from_name(v) : QIMG_CIPHER_AES_256;
	for (size_t i = 0; a < 0 && i < 2; i++) {
		if (!strcmp(v, unsupported_ciphers[i])) {
			p->unsupported_cipher = unsupported_ciphers[i];
			a = QIMG_CIPHER_AES_256;
		}
	}
	if (a < 0)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'cipher-alg' does not accept "
				      "value '%s'",
				      v);
	p->cipher_alg = a;
	r = parse_enum(o, prefix, "cipher-mode", qimg_cipher_mode_from_name,
		       QIMG_MODE_XTS, &a, err);
	if (r < 0)
		return r;
	p->cipher_mode = a;
	r = parse_enum(o, prefix, "ivgen-alg", qimg_ivgen_alg_from_name,
		       QIMG_IVGEN_PLAIN64, &a, err);
	if (r < 0)
		return r;
	p->ivgen_alg = a;
	r = parse_enum(o, prefix, "ivgen-hash-alg", qimg_hash_alg_from_name,
		       QIMG_HASH_SHA256, &a, err);
	if (r < 0)
		return r;
	p->ivgen_hash_alg = a;
	snprintf(key, sizeof(key), "%sivgen-hash-alg", prefix);
	p->ivgen_hash_set = qimg_opts_has(o, key);
	r = parse_enum(o, prefix, "hash-alg", qimg_hash_alg_from_name,
		       QIMG_HASH_SHA256, &a, err);
	if (r < 0)
		return r;
	p->hash_alg = a;
	snprintf(key, sizeof(key), "%siter-time", prefix);
	p->iter_time_ms = qimg_opts_get_u64(o, key, 2000);
	return 0;
}

int qimg_luks_params_check(const struct qimg_luks_params *p,
			   struct qimg_error *err)
{
	enum qimg_cipher_alg essiv;

	if (p->unsupported_cipher)
		return qimg_error_set(err, ENOTSUP,
				      "Algorithm '%s' not supported",
				      p->unsupported_cipher);
	if (!qimg_cipher_supported(p->cipher_alg, p->cipher_mode))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported cipher mode %s",
				      qimg_cipher_mode_name(p->cipher_mode));
	if (p->ivgen_alg == QIMG_IVGEN_ESSIV)
		return qimg_essiv_cipher(p->cipher_alg, p->ivgen_hash_alg,
					 &essiv, err);
	return 0;
}

int qimg_luks_params_from_opts(const struct qimg_opts *o, const char *prefix,
			       struct qimg_luks_params *p,
			       struct qimg_error *err)
{
	int r = qimg_luks_params_parse(o, prefix, p, err);

	return r < 0 ? r : qimg_luks_params_check(p, err);
}

uint64_t luks_material_len(uint32_t key_bytes, uint32_t stripes)
{
	uint64_t len = (uint64_t)key_bytes * stripes;

	return (len + QIMG_SECTOR_SIZE - 1) / QIMG_SECTOR_SIZE *
	       QIMG_SECTOR_SIZE;
}

/* Sectors qemu-img gives each slot: its material rounded up to 4 KiB. */
static uint32_t slot_sectors(uint32_t key_bytes)
{
	uint64_t s =
		luks_material_len(key_bytes, LUKS_STRIPES) / QIMG_SECTOR_SIZE;

	return (uint32_t)((s + LUKS_ALIGN_SECTORS - 1) / LUKS_ALIGN_SECTORS *
			  LUKS_ALIGN_SECTORS);
}

uint64_t qimg_luks_area_len(const struct qimg_luks_params *p)
{
	uint32_t kb = (uint32_t)qimg_cipher_mode_key_len(p->cipher_alg,
							 p->cipher_mode);

	return ((uint64_t)LUKS_ALIGN_SECTORS +
		(uint64_t)LUKS_SLOTS * slot_sectors(kb)) *
	       QIMG_SECTOR_SIZE;
}

static void get_name(char *dst, const uint8_t *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = 0;
}

/* Control bytes become '?', so that a message or info line naming a
 * damaged field stays one line. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void decode(struct qimg_luks *l, const uint8_t *b)
{
	get_name(l->cipher_name, b + 8, LUKS_NAME_LEN);
	get_name(l->cipher_mode, b + 40, LUKS_NAME_LEN);
	get_name(l->hash_spec, b + 72, LUKS_NAME_LEN);
	/* Names with control bytes are refused below; only their message
	 * shows them. */
	printable(l->cipher_name);
	printable(l->cipher_mode);
	printable(l->hash_spec);
	l->payload_offset = qimg_load_be32(b + 104);
	l->key_bytes = qimg_load_be32(b + 108);
	memcpy(l->mk_digest, b + 112, LUKS_DIGEST_LEN);
	memcpy(l->mk_salt, b + 132, LUKS_SALT_LEN);
	l->mk_iters = qimg_load_be32(b + 164);
	get_name(l->uuid, b + 168, LUKS_UUID_LEN);
	for (int i = 0; i < LUKS_SLOTS; i++) {
		const uint8_t *s = b + 208 + 48 * i;

		l->slots[i].active = qimg_load_be32(s);
		l->slots[i].iters = qimg_load_be32(s + 4);
		memcpy(l->slots[i].salt, s + 8, LUKS_SALT_LEN);
		l->slots[i].key_offset = qimg_load_be32(s + 40);
		l->slots[i].stripes = qimg_load_be32(s + 44);
	}
}

void luks_encode(const struct qimg_luks *l, uint8_t *b)
{
	memset(b, 0, LUKS_HDR_LEN);
	memcpy(b, LUKS_MAGIC, LUKS_MAGIC_LEN);
	qimg_store_be16(b + 6, 1);
	memcpy(b + 8, l->cipher_name, strlen(l->cipher_name));
	memcpy(b + 40, l->cipher_mode, strlen(l->cipher_mode));
	memcpy(b + 72, l->hash_spec, strlen(l->hash_spec));
	qimg_store_be32(b + 104, l->payload_offset);
	qimg_store_be32(b + 108, l->key_bytes);
	memcpy(b + 112, l->mk_digest, LUKS_DIGEST_LEN);
	memcpy(b + 132, l->mk_salt, LUKS_SALT_LEN);
	qimg_store_be32(b + 164, l->mk_iters);
	memcpy(b + 168, l->uuid, strlen(l->uuid));
	for (int i = 0; i < LUKS_SLOTS; i++) {
		uint8_t *s = b + 208 + 48 * i;

		qimg_store_be32(s, l->slots[i].active);
		qimg_store_be32(s + 4, l->slots[i].iters);
		memcpy(s + 8, l->slots[i].salt, LUKS_SALT_LEN);
		qimg_store_be32(s + 40, l->slots[i].key_offset);
		qimg_store_be32(s + 44, l->slots[i].stripes);
	}
}

/* The layout checks, in qemu-img's order. */
static int check_layout(const struct qimg_luks *l, struct qimg_error *err)
{
	uint64_t mat = luks_material_len(l->key_bytes, LUKS_STRIPES) /
		       QIMG_SECTOR_SIZE;

	if (l->payload_offset < LUKS_ALIGN_SECTORS)
		return qimg_error_set(err, EUCLEAN,
				      "LUKS payload is overlapping with the "
				      "header");
	if (l->mk_iters == 0)
		return qimg_error_set(err, EUCLEAN,
				      "LUKS key iteration count is zero");
	for (int i = 0; i < LUKS_SLOTS; i++) {
		const struct luks_slot *s = &l->slots[i];
		uint64_t end = (uint64_t)s->key_offset + mat;

		if (s->stripes != LUKS_STRIPES)
			return qimg_error_set(
				err, EUCLEAN,
				"Keyslot %d is corrupted (stripes "
				"%" PRIu32 " != %d)",
				i, s->stripes, LUKS_STRIPES);
		if (s->active != LUKS_SLOT_ACTIVE &&
		    s->active != LUKS_SLOT_INACTIVE)
			return qimg_error_set(
				err, EUCLEAN,
				"Keyslot %d state (active/disable) "
				"is corrupted",
				i);
		if (s->active == LUKS_SLOT_ACTIVE && s->iters == 0)
			return qimg_error_set(err, EUCLEAN,
					      "Keyslot %d iteration count is "
					      "zero",
					      i);
		if (s->key_offset < LUKS_ALIGN_SECTORS)
			return qimg_error_set(
				err, EUCLEAN,
				"Keyslot %d is overlapping with the "
				"LUKS header",
				i);
		if (end > l->payload_offset)
			return qimg_error_set(
				err, EUCLEAN,
				"Keyslot %d is overlapping with the "
				"encrypted payload",
				i);
		for (int j = i + 1; j < LUKS_SLOTS; j++) {
			uint64_t o = l->slots[j].key_offset;

			if (o < end && s->key_offset < o + mat)
				return qimg_error_set(
					err, EUCLEAN,
					"Keyslots %d and %d are "
					"overlapping in the header",
					i, j);
		}
	}
	return 0;
}

static const struct {
	const char *name;
	uint32_t key_len;
	enum qimg_cipher_alg alg;
} header_ciphers[] = {
	{ "aes", 16, QIMG_CIPHER_AES_128 },
	{ "aes", 24, QIMG_CIPHER_AES_192 },
	{ "aes", 32, QIMG_CIPHER_AES_256 },
	{ "cast5", 16, QIMG_CIPHER_CAST5_128 },
	{ "serpent", 16, QIMG_CIPHER_SERPENT_128 },
	{ "serpent", 24, QIMG_CIPHER_SERPENT_192 },
	{ "serpent", 32, QIMG_CIPHER_SERPENT_256 },
	{ "twofish", 16, QIMG_CIPHER_TWOFISH_128 },
	{ "twofish", 24, QIMG_CIPHER_TWOFISH_192 },
	{ "twofish", 32, QIMG_CIPHER_TWOFISH_256 },
};

static int hash_by_name(const char *name, enum qimg_hash_alg *h,
			struct qimg_error *err)
{
	int a = qimg_hash_alg_from_name(name);

	if (a < 0)
		return qimg_error_set(err, ENOTSUP,
				      "Hash algorithm '%s' not supported",
				      name);
	*h = a;
	return 0;
}

/* The names, in qemu-img's order: mode string shape, mode, cipher (with
 * the key size the mode implies), the IV hash, the header hash, the IV
 * generator, then ESSIV's needs. */
static int parse_names(struct qimg_luks *l, struct qimg_error *err)
{
	char mode[LUKS_NAME_LEN + 1], *iv, *ivhash;
	uint32_t klen;
	enum qimg_cipher_alg essiv;
	int m, g, r;
	size_t i;

	memcpy(mode, l->cipher_mode, sizeof(mode));
	iv = strchr(mode, '-');
	if (!iv)
		return qimg_error_set(err, ENOTSUP,
				      "Unexpected cipher mode string format "
				      "'%s'",
				      l->cipher_mode);
	*iv++ = 0;
	m = qimg_cipher_mode_from_name(mode);
	if (m < 0)
		return qimg_error_set(err, ENOTSUP,
				      "Cipher mode '%s' not supported", mode);
	l->mode = m;
	klen = m == QIMG_MODE_XTS ? l->key_bytes / 2 : l->key_bytes;
	for (i = 0; i < sizeof(header_ciphers) / sizeof(header_ciphers[0]); i++)
		if (!strcmp(header_ciphers[i].name, l->cipher_name) &&
		    header_ciphers[i].key_len == klen &&
		    qimg_cipher_mode_key_len(header_ciphers[i].alg, l->mode) ==
			    l->key_bytes)
			break;
	if (i == sizeof(header_ciphers) / sizeof(header_ciphers[0]))
		return qimg_error_set(err, ENOTSUP,
				      "Algorithm '%s' with key size %" PRIu32
				      " bytes not supported",
				      l->cipher_name, klen);
	l->alg = header_ciphers[i].alg;
	ivhash = strchr(iv, ':');
	if (ivhash) {
		*ivhash++ = 0;
		r = hash_by_name(ivhash, &l->ivhash, err);
		if (r < 0)
			return r;
		l->has_ivhash = true;
	}
	r = hash_by_name(l->hash_spec, &l->hash, err);
	if (r < 0)
		return r;
	g = qimg_ivgen_alg_from_name(iv);
	if (g < 0)
		return qimg_error_set(err, ENOTSUP,
				      "IV generator '%s' not supported", iv);
	l->ivgen = g;
	if (g != QIMG_IVGEN_ESSIV)
		return 0;
	if (!l->has_ivhash)
		return qimg_error_set(err, ENOTSUP,
				      "Missing IV generator hash "
				      "specification");
	return qimg_essiv_cipher(l->alg, l->ivhash, &essiv, err);
}

int luks_parse(struct qimg_luks *l, const uint8_t *b, struct qimg_error *err)
{
	int r;

	if (memcmp(b, LUKS_MAGIC, LUKS_MAGIC_LEN))
		return qimg_error_set(err, EINVAL,
				      "Volume is not in LUKS format");
	if (qimg_load_be16(b + 6) != 1)
		return qimg_error_set(err, ENOTSUP,
				      "LUKS version %u is not supported",
				      (unsigned)qimg_load_be16(b + 6));
	decode(l, b);
	r = check_layout(l, err);
	return r < 0 ? r : parse_names(l, err);
}

static int make_cipher(struct qimg_luks *l, struct qimg_error *err)
{
	return qimg_sector_cipher_new(l->alg, l->mode, l->ivgen,
				      l->has_ivhash ? l->ivhash
						    : QIMG_HASH_SHA256,
				      l->mk, l->key_bytes, &l->cipher, err);
}

static int unlock(struct qimg_luks *l, const struct qimg_luks_io *io,
		  const uint8_t *secret, size_t secretlen,
		  struct qimg_error *err)
{
	int r;

	if (!qimg_cipher_supported(l->alg, l->mode))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported cipher mode %s",
				      qimg_cipher_mode_name(l->mode));
	l->mk = qimg_secure_alloc(l->key_bytes);
	if (!l->mk)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (int i = 0; i < LUKS_SLOTS; i++) {
		if (l->slots[i].active != LUKS_SLOT_ACTIVE)
			continue;
		r = luks_slot_try(l, io, i, secret, secretlen, l->mk, err);
		if (r < 0)
			return r;
		if (r == 1)
			return make_cipher(l, err);
	}
	return qimg_error_set(err, EPERM,
			      "Invalid password, cannot unlock any keyslot");
}

int qimg_luks_open(const struct qimg_luks_io *io, const uint8_t *secret,
		   size_t secretlen, struct qimg_luks **out,
		   struct qimg_error *err)
{
	uint8_t b[LUKS_HDR_LEN];
	struct qimg_luks *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = io->read(io->opaque, 0, b, sizeof(b), err);
	if (r == 0)
		r = luks_parse(l, b, err);
	if (r == 0 && secret)
		r = unlock(l, io, secret, secretlen, err);
	if (r < 0) {
		qimg_luks_close(l);
		return r;
	}
	*out = l;
	return 0;
}

void qimg_luks_close(struct qimg_luks *l)
{
	if (!l)
		return;
	qimg_sector_cipher_free(l->cipher);
	qimg_secure_free(l->mk, l->key_bytes);
	explicit_bzero(l, sizeof(*l));
	free(l);
}

uint64_t qimg_luks_payload_offset(const struct qimg_luks *l)
{
	return (uint64_t)l->payload_offset * QIMG_SECTOR_SIZE;
}

struct qimg_sector_cipher *qimg_luks_cipher(const struct qimg_luks *l)
{
	return l->cipher;
}

static int describe_slots(const struct qimg_luks *l, struct qimg_value *list)
{
	for (int i = 0; i < LUKS_SLOTS; i++) {
		const struct luks_slot *s = &l->slots[i];
		struct qimg_value *d = qimg_value_dict();
		bool on = s->active == LUKS_SLOT_ACTIVE;
		int r;

		if (!d)
			return -ENOMEM;
		r = qimg_dict_put_bool(d, "active", on);
		if (r == 0 && on)
			r = qimg_dict_put_uint(d, "iters", s->iters);
		if (r == 0)
			r = qimg_dict_put_uint(d, "key-offset",
					       (uint64_t)s->key_offset *
						       QIMG_SECTOR_SIZE);
		if (r == 0 && on)
			r = qimg_dict_put_uint(d, "stripes", s->stripes);
		if (r == 0)
			r = qimg_list_append(list, d);
		else
			qimg_value_free(d);
		if (r < 0)
			return r;
	}
	return 0;
}

int qimg_luks_describe(const struct qimg_luks *l, struct qimg_value *dict,
		       struct qimg_error *err)
{
	struct qimg_value *slots = qimg_value_list();
	int r = slots ? 0 : -ENOMEM;

	if (r == 0)
		r = qimg_dict_put_str(dict, "cipher-alg",
				      qimg_cipher_alg_name(l->alg));
	if (r == 0)
		r = qimg_dict_put_str(dict, "cipher-mode",
				      qimg_cipher_mode_name(l->mode));
	if (r == 0)
		r = qimg_dict_put_str(dict, "ivgen-alg",
				      qimg_ivgen_alg_name(l->ivgen));
	if (r == 0 && l->ivgen == QIMG_IVGEN_ESSIV)
		r = qimg_dict_put_str(dict, "ivgen-hash-alg",
				      qimg_hash_alg_name(l->ivhash));
	if (r == 0)
		r = qimg_dict_put_str(dict, "hash-alg",
				      qimg_hash_alg_name(l->hash));
	if (r == 0)
		r = describe_slots(l, slots);
	if (r == 0) {
		r = qimg_dict_put(dict, "slots", slots);
		slots = NULL;
	}
	if (r == 0)
		r = qimg_dict_put_uint(dict, "payload-offset",
				       qimg_luks_payload_offset(l));
	if (r == 0)
		r = qimg_dict_put_uint(dict, "master-key-iters", l->mk_iters);
	if (r == 0) {
		char uuid[LUKS_UUID_LEN + 1];

		memcpy(uuid, l->uuid, sizeof(uuid));
		printable(uuid);
		r = qimg_dict_put_str(dict, "uuid", uuid);
	}
	qimg_value_free(slots);
	if (r < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

/* A random (version 4) UUID in its text form. */
static int make_uuid(char *out, struct qimg_error *err)
{
	uint8_t u[16];
	int r = qimg_random_bytes(u, sizeof(u), err);

	if (r < 0)
		return r;
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	snprintf(out, LUKS_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
	return 0;
}

static void set_names(struct qimg_luks *l, const struct qimg_luks_params *p)
{
	const char *alg = qimg_cipher_alg_name(p->cipher_alg);
	size_t n = strcspn(alg, "-");

	memcpy(l->cipher_name, alg, n);
	l->cipher_name[n] = 0;
	if (p->ivgen_alg == QIMG_IVGEN_ESSIV || p->ivgen_hash_set)
		snprintf(l->cipher_mode, sizeof(l->cipher_mode), "%s-%s:%s",
			 qimg_cipher_mode_name(p->cipher_mode),
			 qimg_ivgen_alg_name(p->ivgen_alg),
			 qimg_hash_alg_name(p->ivgen_hash_alg));
	else
		snprintf(l->cipher_mode, sizeof(l->cipher_mode), "%s-%s",
			 qimg_cipher_mode_name(p->cipher_mode),
			 qimg_ivgen_alg_name(p->ivgen_alg));
	snprintf(l->hash_spec, sizeof(l->hash_spec), "%s",
		 qimg_hash_alg_name(p->hash_alg));
	l->alg = p->cipher_alg;
	l->mode = p->cipher_mode;
	l->ivgen = p->ivgen_alg;
	l->ivhash = p->ivgen_hash_alg;
	l->has_ivhash = p->ivgen_alg == QIMG_IVGEN_ESSIV || p->ivgen_hash_set;
	l->hash = p->hash_alg;
}

/* Everything but slot 0's material: names, master key, its digest and
 * qemu-img's layout of the slots. */
static int format_header(struct qimg_luks *l, const struct qimg_luks_params *p,
			 uint64_t per_sec, struct qimg_error *err)
{
	uint32_t ss;
	int r;

	set_names(l, p);
	l->key_bytes = (uint32_t)qimg_cipher_mode_key_len(p->cipher_alg,
							  p->cipher_mode);
	ss = slot_sectors(l->key_bytes);
	l->payload_offset = LUKS_ALIGN_SECTORS + LUKS_SLOTS * ss;
	for (int i = 0; i < LUKS_SLOTS; i++) {
		l->slots[i].active = LUKS_SLOT_INACTIVE;
		l->slots[i].key_offset = LUKS_ALIGN_SECTORS + (uint32_t)i * ss;
		l->slots[i].stripes = LUKS_STRIPES;
	}
	l->mk = qimg_secure_alloc(l->key_bytes);
	if (!l->mk)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_random_bytes(l->mk, l->key_bytes, err);
	if (r == 0)
		r = qimg_random_bytes(l->mk_salt, LUKS_SALT_LEN, err);
	if (r == 0)
		r = make_uuid(l->uuid, err);
	if (r == 0)
		r = luks_iters(l->hash, per_sec, p->iter_time_ms,
			       LUKS_DIGEST_LEN, 8, &l->mk_iters, err);
	if (r == 0)
		r = qimg_pbkdf2(l->hash, l->mk, l->key_bytes, l->mk_salt,
				LUKS_SALT_LEN, l->mk_iters, l->mk_digest,
				LUKS_DIGEST_LEN, err);
	return r;
}

int qimg_luks_format(const struct qimg_luks_params *p, const uint8_t *secret,
		     size_t secretlen, const struct qimg_luks_io *io,
		     struct qimg_luks **out, struct qimg_error *err)
{
	struct qimg_luks *l;
	uint64_t per_sec;
	uint32_t iters;
	int r = qimg_luks_params_check(p, err);

	if (r < 0)
		return r;
	l = calloc(1, sizeof(*l));
	if (!l)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = luks_per_sec(p->hash_alg, &per_sec, err);
	if (r == 0)
		r = format_header(l, p, per_sec, err);
	if (r == 0)
		r = luks_iters(l->hash, per_sec, p->iter_time_ms, l->key_bytes,
			       1, &iters, err);
	/* Slot 0's material first, then the header that names it. */
	if (r == 0)
		r = luks_slot_store(l, io, 0, secret, secretlen, iters, err);
	if (r == 0)
		r = luks_write_header(l, io, err);
	if (r == 0)
		r = make_cipher(l, err);
	if (r < 0) {
		qimg_luks_close(l);
		return r;
	}
	*out = l;
	return 0;
}
