/* SPDX-License-Identifier: MIT */
/* The luks format: a LUKS1 header and its key slots at the start of the
 * file (lib/crypto/luks.h), then the encrypted payload; guest sector n is
 * payload sector n.  Opening needs key-secret except for info, as in
 * qemu-img.  Reads and writes run in parallel: the cipher serves any
 * number of threads and no metadata changes under I/O. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/luks.h"
#include "formats/luks.h"
#include "qimg/object.h"

#define LUKS_SECTOR 512u

struct luks_state {
	struct qimg_luks *l;
	uint64_t payload; /* bytes */
};

static const struct qimg_opt_desc luks_runtime_opts[] = {
	{ "key-secret", QIMG_OPT_STRING,
	  "ID of the secret that provides the keyslot passphrase", NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const luks_strong_opts[] = { "key-secret", NULL };

static const struct qimg_opt_desc luks_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "key-secret", QIMG_OPT_STRING,
	  "ID of the secret that provides the keyslot passphrase", NULL },
	{ "cipher-alg", QIMG_OPT_STRING, "Name of encryption cipher algorithm",
	  NULL },
	{ "cipher-mode", QIMG_OPT_STRING, "Name of encryption cipher mode",
	  NULL },
	{ "ivgen-alg", QIMG_OPT_STRING, "Name of IV generator algorithm",
	  NULL },
	{ "ivgen-hash-alg", QIMG_OPT_STRING,
	  "Name of IV generator hash algorithm", NULL },
	{ "hash-alg", QIMG_OPT_STRING, "Name of encryption hash algorithm",
	  NULL },
	{ "iter-time", QIMG_OPT_NUMBER,
	  "Time to spend in PBKDF in milliseconds", NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct qimg_opt_desc luks_amend_opts[] = {
	{ "state", QIMG_OPT_STRING,
	  "Select new state of affected keyslots (active/inactive)", NULL },
	{ "keyslot", QIMG_OPT_NUMBER,
	  "Select a single keyslot to modify explicitly", NULL },
	{ "old-secret", QIMG_OPT_STRING,
	  "Select all keyslots that match this password", NULL },
	{ "new-secret", QIMG_OPT_STRING,
	  "New secret to set in the matching keyslots. Empty string to erase",
	  NULL },
	{ "iter-time", QIMG_OPT_NUMBER,
	  "Time to spend in PBKDF in milliseconds", NULL },
	{ NULL, 0, NULL, NULL },
};

static int io_read(void *opaque, uint64_t off, void *buf, size_t len,
		   struct qimg_error *err)
{
	return qimg_pread(opaque, off, buf, len, err);
}

static int io_write(void *opaque, uint64_t off, const void *buf, size_t len,
		    struct qimg_error *err)
{
	return qimg_pwrite(opaque, off, buf, len, err);
}

static int io_flush(void *opaque, struct qimg_error *err)
{
	return qimg_flush(opaque, err);
}

static struct qimg_luks_io file_io(struct qimg_node *file)
{
	struct qimg_luks_io io = { file, io_read, io_write, io_flush };

	return io;
}

static int luks_probe(const uint8_t *head, size_t len, const char *filename)
{
	(void)filename;
	/* Only version 1 is luks; qemu-img guesses raw for LUKS2. */
	return len >= 8 && !memcmp(head, "LUKS\xba\xbe\0\1", 8) ? 100 : 0;
}

static int no_secret(struct qimg_error *err)
{
	return qimg_error_set(err, EINVAL,
			      "Parameter 'key-secret' is required for cipher");
}

static int luks_open(struct qimg_node *node, const struct qimg_opts *opts,
		     struct qimg_error *err)
{
	struct luks_state *s = node->opaque;
	const char *id = qimg_opts_get_str(opts, "key-secret", NULL);
	struct qimg_luks_io io = file_io(node->file);
	uint8_t *secret = NULL;
	size_t slen = 0;
	int64_t len;
	int r;

	/* info reads the header without a key, as qemu-img's does: the
	 * secret is neither required nor looked up nor tried. */
	if (node->flags & QIMG_OPEN_NO_IO)
		id = NULL;
	else if (!id)
		return no_secret(err);
	if (id) {
		r = qimg_secret_get_utf8(node->objects, id, &secret, &slen,
					 err);
		if (r < 0)
			return r;
	}
	/* An empty secret is a passphrase too: never NULL when given. */
	r = qimg_luks_open(&io,
			   id ? (secret ? secret : (const uint8_t *)"") : NULL,
			   slen, &s->l, err);
	qimg_secret_free(secret, slen);
	if (r < 0)
		return r;
	s->payload = qimg_luks_payload_offset(s->l);
	len = qimg_node_length(node->file, err);
	if (len < 0) {
		r = (int)len;
		goto out_close;
	}
	/* The file's length counts in whole sectors, as qemu's does. */
	len = (int64_t)(((uint64_t)len + LUKS_SECTOR - 1) &
			~(uint64_t)(LUKS_SECTOR - 1));
	if ((uint64_t)len < s->payload) {
		r = qimg_error_set(err, EIO,
				   "Could not refresh total sector count: "
				   "Input/output error");
		goto out_close;
	}
	node->size = (uint64_t)len - s->payload;
	node->limits.request_align = LUKS_SECTOR;
	node->limits.export_align = LUKS_SECTOR;
	node->limits.mem_align = node->file->limits.mem_align;
	node->limits.max_transfer = node->file->limits.max_transfer;
	node->zero_init = false;
	return 0;

out_close:
	qimg_luks_close(s->l);
	s->l = NULL;
	return r;
}

static void luks_close(struct qimg_node *node)
{
	struct luks_state *s = node->opaque;

	qimg_luks_close(s->l);
	s->l = NULL;
}

static int luks_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	struct luks_state *s = node->opaque;
	int r;

	r = qimg_pread(node->file, s->payload + off, buf, len, err);
	if (r < 0)
		return r;
	return qimg_sector_decrypt(qimg_luks_cipher(s->l), off / LUKS_SECTOR,
				   buf, len, err);
}

/* The caller's buffer stays as it is: encrypt a copy. */
static int luks_write(struct qimg_node *node, uint64_t off, const void *buf,
		      size_t len, struct qimg_error *err)
{
	struct luks_state *s = node->opaque;
	size_t chunk = len < (4u << 20) ? len : (4u << 20);
	uint8_t *b = malloc(chunk ? chunk : 1);
	int r = 0;

	if (!b)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (size_t done = 0; r == 0 && done < len; done += chunk) {
		size_t n = len - done < chunk ? len - done : chunk;

		memcpy(b, (const uint8_t *)buf + done, n);
		r = qimg_sector_encrypt(qimg_luks_cipher(s->l),
					(off + done) / LUKS_SECTOR, b, n, err);
		if (r == 0)
			r = qimg_pwrite(node->file, s->payload + off + done, b,
					n, err);
	}
	free(b);
	return r;
}

static int luks_flush(struct qimg_node *node, struct qimg_error *err)
{
	return qimg_flush(node->file, err);
}

/* Allocated data without a host offset: encrypted bytes are no guest
 * bytes (qemu-img map's "File contains external, encrypted or compressed
 * clusters."). */
static int luks_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			     struct qimg_extent *ext, struct qimg_error *err)
{
	(void)node;
	(void)off;
	(void)err;
	ext->len = len;
	ext->flags = QIMG_BS_DATA | QIMG_BS_ALLOCATED;
	return 0;
}

static int luks_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			 const char *prealloc, struct qimg_error *err)
{
	struct luks_state *s = node->opaque;
	int r;

	if (prealloc && !strcmp(prealloc, "metadata"))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported preallocation mode: "
				      "metadata");
	r = qimg_truncate(node->file, s->payload + size, flags, prealloc, err);
	if (r == 0)
		node->size = size;
	return r;
}

static int luks_get_info(struct qimg_node *node, struct qimg_image_info *info,
			 struct qimg_error *err)
{
	struct luks_state *s = node->opaque;
	struct qimg_value *top = qimg_value_dict(), *data = qimg_value_dict();
	struct qimg_image_info file = { 0 };
	int r;

	info->has_info = true;
	info->encrypted = true;
	/* the cluster size is the file's, when it has one (rbd's objects) */
	if (qimg_child_info(node->file, &file, err) == 0)
		info->cluster_size = file.cluster_size;
	qimg_error_clear(err);
	qimg_image_info_free(&file);
	if (!top || !data || qimg_dict_put_str(top, "type", "luks") < 0) {
		qimg_value_free(top);
		qimg_value_free(data);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = qimg_luks_describe(s->l, data, err);
	if (r < 0) {
		qimg_value_free(top);
		qimg_value_free(data);
		return r;
	}
	if (qimg_dict_put(top, "data", data) < 0) {
		qimg_value_free(top);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	info->format_specific = top;
	return 0;
}

/* Before the file is made: the mode, then the encryption's names. */
static int luks_create_validate_early(const struct qimg_opts *o,
				      struct qimg_error *err)
{
	struct qimg_luks_params p;
	const char *pre = qimg_opts_get_str(o, "preallocation", "off");

	if (!qimg_prealloc_mode_known(pre))
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", pre);
	return qimg_luks_params_parse(o, "", &p, err);
}

/* After the file's options: the secret. */
static int luks_create_validate(const struct qimg_opts *o,
				struct qimg_error *err)
{
	if (!qimg_opts_has(o, "key-secret"))
		return no_secret(err);
	return 0;
}

/* Parameters and passphrase, checked in qemu-img's order: the names, the
 * secret, then what the names cannot be used for. */
static int create_params(const struct qimg_opts *o,
			 const struct qimg_objects *objects,
			 struct qimg_luks_params *p, uint8_t **secret,
			 size_t *slen, struct qimg_error *err)
{
	const char *id = qimg_opts_get_str(o, "key-secret", NULL);
	int r = qimg_luks_params_parse(o, "", p, err);

	if (r < 0)
		return r;
	if (!id)
		return no_secret(err);
	r = qimg_secret_get_utf8(objects, id, secret, slen, err);
	if (r < 0)
		return r;
	r = qimg_luks_params_check(p, err);
	if (r < 0) {
		qimg_secret_free(*secret, *slen);
		*secret = NULL;
	}
	return r;
}

static int luks_create(struct qimg_node *file, const struct qimg_opts *o,
		       struct qimg_error *err)
{
	uint64_t size = qimg_opts_get_u64(o, "size", 0);
	const char *pre = qimg_opts_get_str(o, "preallocation", "off");
	struct qimg_luks_io io = file_io(file);
	struct qimg_luks_params p;
	struct qimg_luks *l = NULL;
	uint8_t *secret = NULL;
	size_t slen = 0;
	int r;

	r = create_params(o, file->objects, &p, &secret, &slen, err);
	if (r < 0)
		return r;
	if (!strcmp(pre, "metadata"))
		pre = "off";
	r = qimg_luks_format(&p, secret ? secret : (const uint8_t *)"", slen,
			     &io, &l, err);
	qimg_secret_free(secret, slen);
	qimg_luks_close(l);
	if (r == 0)
		r = qimg_truncate(file, qimg_luks_area_len(&p) + size,
				  QIMG_TRUNCATE_SHRINK, pre, err);
	return r;
}

/* qemu-img deletes the file of a luks create that failed, even one that
 * existed before (iotest 282). */
static int luks_create_or_delete(struct qimg_node *file,
				 const struct qimg_opts *o,
				 struct qimg_error *err)
{
	int r = luks_create(file, o, err);

	if (r < 0 && file->drv->default_protocol && file->filename)
		unlink(strncmp(file->filename, "file:", 5)
			       ? file->filename
			       : file->filename + 5);
	return r;
}

static int luks_measure(struct qimg_opts *o, struct qimg_node *in,
			uint64_t size, const struct qimg_objects *objects,
			struct qimg_measure *out, struct qimg_error *err)
{
	struct qimg_luks_params p;
	uint8_t *secret = NULL;
	size_t slen = 0;
	int r = create_params(o, objects, &p, &secret, &slen, err);

	if (r < 0)
		return r;
	qimg_secret_free(secret, slen);
	if (in)
		size = qimg_size(in);
	out->required = qimg_luks_area_len(&p) + size;
	out->fully_allocated = out->required;
	return 0;
}

/* Secrets are looked up first, as qemu-img does; then the library applies
 * qemu-img's rules. */
static int luks_amend(struct qimg_node *node, const struct qimg_opts *opts,
		      const struct qimg_amend_opts *o, struct qimg_error *err)
{
	struct luks_state *s = node->opaque;
	struct qimg_luks_io io = file_io(node->file);
	const char *state = qimg_opts_get_str(opts, "state", NULL);
	const char *oid = qimg_opts_get_str(opts, "old-secret", NULL);
	const char *nid = qimg_opts_get_str(opts, "new-secret", NULL);
	uint8_t *olds = NULL, *news = NULL;
	size_t olen = 0, nlen = 0;
	struct qimg_luks_amend a = { 0 };
	int r = 0;

	if (!state)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'state' is "
				      "missing");
	if (strcmp(state, "active") && strcmp(state, "inactive"))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'state' does not accept "
				      "value '%s'",
				      state);
	a.active = !strcmp(state, "active");
	a.keyslot = -1;
	if (qimg_opts_has(opts, "keyslot")) {
		a.keyslot = (int)qimg_opts_get_u64(opts, "keyslot", 0);
		a.keyslot_set = true;
	}
	a.iter_time_ms = qimg_opts_get_u64(opts, "iter-time", 2000);
	if (!a.iter_time_ms)
		a.iter_time_ms = 1; /* 0 means the default to the library */
	a.force = o && o->force;
	if (oid)
		r = qimg_secret_get_utf8(node->objects, oid, &olds, &olen, err);
	if (r == 0 && nid)
		r = qimg_secret_get_utf8(node->objects, nid, &news, &nlen, err);
	if (r == 0) {
		a.old_secret = oid ? (olds ? olds : (const uint8_t *)"") : NULL;
		a.old_secret_len = olen;
		a.new_secret = nid ? (news ? news : (const uint8_t *)"") : NULL;
		a.new_secret_len = nlen;
		r = qimg_luks_amend(s->l, &io, &a, err);
	}
	qimg_secret_free(olds, olen);
	qimg_secret_free(news, nlen);
	return r;
}

const struct qimg_driver qimg_driver_luks = {
	.name = "luks",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct luks_state),
	.create_opts = luks_create_opts,
	.amend_opts = luks_amend_opts,
	.runtime_opts = luks_runtime_opts,
	.strong_opts = luks_strong_opts,
	.probe = luks_probe,
	.open = luks_open,
	.close = luks_close,
	.create_validate_early = luks_create_validate_early,
	.create_validate = luks_create_validate,
	.create_file_first = true,
	.create_own_prealloc = true,
	.create = luks_create_or_delete,
	.read = luks_read,
	.write = luks_write,
	.flush = luks_flush,
	.block_status = luks_block_status,
	.truncate = luks_truncate,
	.get_info = luks_get_info,
	.measure = luks_measure,
	.amend = luks_amend,
};
