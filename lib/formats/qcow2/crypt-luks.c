/* SPDX-License-Identifier: MIT */
/* qcow2 LUKS encryption (crypt_method 2) over lib/crypto/luks.h: the LUKS
 * area lives in clusters the crypto header extension names (offsets in the
 * LUKS header count from its start, and the payload offset is unused: the
 * payload is the image's data clusters); create lays it out as qemu-img
 * does (in zeroed clusters after the L1 table), amend changes key slots,
 * measure counts the area. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/luks.h"
#include "formats/qcow2/qcow2.h"
#include "qimg/object.h"

/* ---- the LUKS area as the library reaches it ---- */

static int area_check(const struct qcow2_state *s, uint64_t off, size_t len,
		      struct qimg_error *err)
{
	if (off > s->ext.crypto_length || len > s->ext.crypto_length - off)
		return qimg_error_set(err, EINVAL,
				      "Request for data outside of extension "
				      "header");
	return 0;
}

static int area_read(void *opaque, uint64_t off, void *buf, size_t len,
		     struct qimg_error *err)
{
	struct qcow2_state *s = opaque;
	int r = area_check(s, off, len, err);

	return r < 0 ? r
		     : qimg_pread(s->file, s->ext.crypto_offset + off, buf, len,
				  err);
}

static int area_write(void *opaque, uint64_t off, const void *buf, size_t len,
		      struct qimg_error *err)
{
	struct qcow2_state *s = opaque;
	int r = area_check(s, off, len, err);

	return r < 0 ? r
		     : qimg_pwrite(s->file, s->ext.crypto_offset + off, buf,
				   len, err);
}

static int area_flush(void *opaque, struct qimg_error *err)
{
	struct qcow2_state *s = opaque;

	return qimg_flush(s->file, err);
}

static void area_io(struct qcow2_state *s, struct qimg_luks_io *io)
{
	io->opaque = s;
	io->read = area_read;
	io->write = area_write;
	io->flush = area_flush;
}

/* ---- open ---- */

int qcow2_luks_open(struct qcow2_state *s, const uint8_t *secret, size_t len,
		    struct qimg_error *err)
{
	struct qimg_luks_io io;
	int r;

	area_io(s, &io);
	r = qimg_luks_open(&io, secret, len, &s->luks, err);
	if (r < 0)
		return r;
	s->cipher = qimg_luks_cipher(s->luks);
	s->crypt_guest_iv = false;
	return 0;
}

void qcow2_luks_close(struct qcow2_state *s)
{
	qimg_luks_close(s->luks);
	s->luks = NULL;
	s->cipher = NULL;
}

/* ---- create and measure ---- */

/* The names are checked before anything (qemu-img's option visitor), the
 * algorithms only once the key is there (as qemu-img looks the secret up
 * first: "No secret with id" before "Algorithm 'des' not supported"). */
int qcow2_luks_check_opts(const struct qimg_opts *o, struct qimg_error *err)
{
	struct qimg_luks_params p;

	return qimg_luks_params_parse(o, "encrypt.", &p, err);
}

#define ZERO_CHUNK (1u << 20)

static int write_zeros(struct qcow2_state *s, uint64_t off, uint64_t len,
		       struct qimg_error *err)
{
	uint8_t *z = calloc(1, ZERO_CHUNK);
	uint64_t n;
	int r = 0;

	if (!z)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (; r == 0 && len; off += n, len -= n) {
		n = len < ZERO_CHUNK ? len : ZERO_CHUNK;
		r = qimg_pwrite(s->file, off, z, n, err);
	}
	free(z);
	return r;
}

int qcow2_luks_create(struct qcow2_state *s, const struct qimg_opts *o,
		      const uint8_t *secret, size_t len, struct qimg_error *err)
{
	struct qimg_luks_params p;
	struct qimg_luks_io io;
	struct qimg_luks *l = NULL;
	uint64_t alen, n, off;
	int r;

	r = qimg_luks_params_from_opts(o, "encrypt.", &p, err);
	if (r < 0)
		return r;
	alen = qimg_luks_area_len(&p);
	n = (alen + s->cluster_size - 1) >> s->cluster_bits;
	r = qcow2_alloc_clusters(s, n, &off, err);
	if (r < 0)
		return r;
	/* Whole clusters of zeros, written (allocated, as qemu-img's are):
	 * what the header leaves unwritten (the unused key slots' material)
	 * reads as zeros. */
	r = write_zeros(s, off, n << s->cluster_bits, err);
	if (r < 0)
		return r;
	s->ext.has_crypto = true;
	s->ext.crypto_offset = off;
	s->ext.crypto_length = alen;
	area_io(s, &io);
	r = qimg_luks_format(&p, secret, len, &io, &l, err);
	qimg_luks_close(l);
	return r;
}

int qcow2_luks_measure(const struct qimg_opts *o,
		       const struct qimg_objects *objects,
		       uint64_t cluster_size, uint64_t *bytes,
		       struct qimg_error *err)
{
	const char *id = qimg_opts_get_str(o, "encrypt.key-secret", NULL);
	struct qimg_luks_params p;
	uint8_t *secret;
	size_t len;
	int r;

	*bytes = 0;
	r = qimg_luks_params_parse(o, "encrypt.", &p, err);
	if (r < 0)
		return r;
	/* The key must be there, as qemu-img's measure asks for it. */
	if (!id)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'encrypt.key-secret' is "
				      "required for cipher");
	r = qimg_secret_get(objects, id, &secret, &len, err);
	if (r < 0)
		return r;
	qimg_secret_free(secret, len);
	r = qimg_luks_params_check(&p, err);
	if (r < 0)
		return r;
	*bytes = (qimg_luks_area_len(&p) + cluster_size - 1) / cluster_size *
		 cluster_size;
	return 0;
}

/* ---- amend ---- */

static int amend_secret(struct qimg_node *node, const struct qimg_opts *o,
			const char *name, uint8_t **data, size_t *len,
			struct qimg_error *err)
{
	const char *id = qimg_opts_get_str(o, name, NULL);

	*data = NULL;
	*len = 0;
	return id ? qimg_secret_get(node->objects, id, data, len, err) : 0;
}

int qcow2_luks_amend(struct qimg_node *node, const struct qimg_opts *o,
		     bool force, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	const char *state = qimg_opts_get_str(o, "encrypt.state", NULL);
	struct qimg_luks_amend a = { .keyslot = -1, .force = force };
	uint8_t *olds = NULL, *news = NULL;
	size_t oldl = 0, newl = 0;
	struct qimg_luks_io io;
	uint64_t slot;
	int r;

	if (s->h.crypt_method != 2)
		return qimg_error_set(err, EINVAL,
				      "Only LUKS encryption options can be "
				      "amended");
	if (!state)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'state' is missing");
	if (strcmp(state, "active") && strcmp(state, "inactive"))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'state' does not accept "
				      "value '%s'",
				      state);
	a.active = !strcmp(state, "active");
	if (qimg_opts_has(o, "encrypt.keyslot")) {
		/* The library checks the range (a u32, as qemu-img prints
		 * it: -1 is 4294967295). */
		slot = qimg_opts_get_u64(o, "encrypt.keyslot", 0);
		a.keyslot = slot > INT32_MAX ? (int)(uint32_t)slot : (int)slot;
		a.keyslot_set = true;
	}
	a.iter_time_ms = qimg_opts_get_u64(o, "encrypt.iter-time", 0);
	r = amend_secret(node, o, "encrypt.old-secret", &olds, &oldl, err);
	if (r == 0)
		r = amend_secret(node, o, "encrypt.new-secret", &news, &newl,
				 err);
	if (r == 0) {
		a.old_secret = olds;
		a.old_secret_len = oldl;
		a.new_secret = news;
		a.new_secret_len = newl;
		area_io(s, &io);
		r = qimg_luks_amend(s->luks, &io, &a, err);
	}
	qimg_secret_free(olds, oldl);
	qimg_secret_free(news, newl);
	return r;
}
