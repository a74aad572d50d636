/* SPDX-License-Identifier: MIT */
/* qcow2 image creation: the option schema in qemu-img's order, validation
 * with qemu-img's messages (before any file is touched), the fresh layout
 * (header, refcount table at cluster 1, refcount block at cluster 2, L1 at
 * cluster 3, as QEMU lays it out) and metadata/falloc/full preallocation. */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "qimg/object.h"
#include "util/endian.h"
#include "util/overflow.h"

const struct qimg_opt_desc qcow2_create_opts[] = {
	{ "encryption", QIMG_OPT_BOOL,
	  "Encrypt the image with format 'aes'. "
	  "(Deprecated in favor of encrypt.format=aes)",
	  NULL },
	{ "encrypt.format", QIMG_OPT_STRING,
	  "Encrypt the image, format choices: 'aes', 'luks'", NULL },
	{ "encrypt.key-secret", QIMG_OPT_STRING,
	  "ID of secret providing qcow AES key or LUKS passphrase", NULL },
	{ "encrypt.cipher-alg", QIMG_OPT_STRING,
	  "Name of encryption cipher algorithm", NULL },
	{ "encrypt.cipher-mode", QIMG_OPT_STRING,
	  "Name of encryption cipher mode", NULL },
	{ "encrypt.ivgen-alg", QIMG_OPT_STRING,
	  "Name of IV generator algorithm", NULL },
	{ "encrypt.ivgen-hash-alg", QIMG_OPT_STRING,
	  "Name of IV generator hash algorithm", NULL },
	{ "encrypt.hash-alg", QIMG_OPT_STRING,
	  "Name of encryption hash algorithm", NULL },
	{ "encrypt.iter-time", QIMG_OPT_NUMBER,
	  "Time to spend in PBKDF in milliseconds", NULL },
	{ "cluster_size", QIMG_OPT_SIZE, "qcow2 cluster size", "65536" },
	{ "extended_l2", QIMG_OPT_BOOL, "Extended L2 tables", "off" },
	{ "preallocation", QIMG_OPT_STRING,
	  "Preallocation mode (allowed "
	  "values: off, metadata, falloc, full)",
	  NULL },
	{ "compression_type", QIMG_OPT_STRING,
	  "Compression method used for image cluster compression", "zlib" },
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "compat", QIMG_OPT_STRING,
	  "Compatibility level (v2 [0.10] or v3 [1.1])", NULL },
	{ "backing_file", QIMG_OPT_STRING, "File name of a base image", NULL },
	{ "backing_fmt", QIMG_OPT_STRING, "Image format of the base image",
	  NULL },
	{ "data_file", QIMG_OPT_STRING, "File name of an external data file",
	  NULL },
	{ "data_file_raw", QIMG_OPT_BOOL,
	  "The external data file must stay valid as a raw image", NULL },
	{ "lazy_refcounts", QIMG_OPT_BOOL, "Postpone refcount updates", "off" },
	{ "refcount_bits", QIMG_OPT_NUMBER,
	  "Width of a reference count entry in bits", "16" },
	{ NULL, 0, NULL, NULL },
};

/* Everything create needs, parsed from the options. */
struct cparams {
	uint64_t size;
	uint64_t cluster_size;
	uint32_t cluster_bits;
	uint32_t version;
	uint32_t refcount_order;
	bool ext_l2, lazy;
	int ctype;
	const char *prealloc;
	const char *backing_file, *backing_fmt;
	const char *data_file; /* NULL: none */
	bool data_raw;
	uint32_t crypt_method; /* 0 none, 1 aes, 2 luks */
};

/* The encrypt.* options besides format and key-secret (LUKS only). */
static const char *const luks_only_opts[] = {
	"encrypt.cipher-alg",
	"encrypt.cipher-mode",
	"encrypt.ivgen-alg",
	"encrypt.ivgen-hash-alg",
	"encrypt.hash-alg",
	"encrypt.iter-time",
	NULL,
};

/* encryption=on is encrypt.format=aes; the encrypt.* options are checked
 * as qemu-img's option visitor checks them (before the create checks). */
static int parse_encryption(const struct qimg_opts *o, struct cparams *p,
			    struct qimg_error *err)
{
	const char *fmt = qimg_opts_get_str(o, "encrypt.format", NULL);
	bool alias = qimg_opts_get_bool(o, "encryption", false);
	size_t i;

	if (alias && fmt)
		return qimg_error_set(err, EINVAL,
				      "'encrypt.format' and its alias "
				      "'encryption' can't be used at the same "
				      "time");
	if (alias)
		fmt = "aes";
	if (!fmt) {
		if (qimg_opts_has(o, "encrypt.key-secret"))
			return qimg_error_set(err, EINVAL,
					      "Parameter 'encrypt.format' is "
					      "missing");
		for (i = 0; luks_only_opts[i]; i++)
			if (qimg_opts_has(o, luks_only_opts[i]))
				return qimg_error_set(err, EINVAL,
						      "Parameter "
						      "'encrypt.format' is "
						      "missing");
		return 0;
	}
	if (!strcmp(fmt, "aes")) {
		for (i = 0; luks_only_opts[i]; i++)
			if (qimg_opts_has(o, luks_only_opts[i]))
				return qimg_error_set(err, EINVAL,
						      "Parameter '%s' is "
						      "unexpected",
						      luks_only_opts[i]);
		p->crypt_method = 1;
		return 0;
	}
	if (strcmp(fmt, "luks"))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'format' does not accept "
				      "value '%s'",
				      fmt);
	p->crypt_method = 2;
	return qcow2_luks_check_opts(o, err);
}

static int ilog2(uint64_t v)
{
	int i = 0;

	while (v > 1) {
		v >>= 1;
		i++;
	}
	return i;
}

static int parse_params(const struct qimg_opts *o, struct cparams *p,
			struct qimg_error *err)
{
	const char *compat = qimg_opts_get_str(o, "compat", NULL);
	const char *ct = qimg_opts_get_str(o, "compression_type", "zlib");
	uint64_t rb = qimg_opts_get_u64(o, "refcount_bits", 16);
	uint64_t per_l1, need;

	memset(p, 0, sizeof(*p));
	p->size = qimg_opts_get_u64(o, "size", 0);
	p->cluster_size = qimg_opts_get_u64(o, "cluster_size", 65536);
	p->ext_l2 = qimg_opts_get_bool(o, "extended_l2", false);
	p->lazy = qimg_opts_get_bool(o, "lazy_refcounts", false);
	p->prealloc = qimg_opts_get_str(o, "preallocation", "off");
	p->backing_file = qimg_opts_get_str(o, "backing_file", NULL);
	p->backing_fmt = qimg_opts_get_str(o, "backing_fmt", NULL);
	p->data_file = qimg_opts_get_str(o, "data_file", NULL);
	p->data_raw = qimg_opts_get_bool(o, "data_file_raw", false);

	/* Values checked while qemu parses the option set. */
	if (!compat || !strcmp(compat, "1.1") || !strcmp(compat, "v3"))
		p->version = 3;
	else if (!strcmp(compat, "0.10") || !strcmp(compat, "v2"))
		p->version = 2;
	else
		return qimg_error_set(err, EINVAL,
				      "Parameter 'version' does "
				      "not accept value '%s'",
				      compat);
	if (p->backing_fmt && !qimg_qemu_driver_name(p->backing_fmt, true))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'backing-fmt' does not "
				      "accept value '%s'",
				      p->backing_fmt);
	if (parse_encryption(o, p, err) < 0)
		return -err->errnum;
	if (!qimg_prealloc_mode_known(p->prealloc))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'preallocation' "
				      "does not accept value '%s'",
				      p->prealloc);
	if (!strcmp(ct, "zlib"))
		p->ctype = QCOW2_COMPRESS_ZLIB;
	else if (!strcmp(ct, "zstd"))
		p->ctype = QCOW2_COMPRESS_ZSTD;
	else
		return qimg_error_set(err, EINVAL,
				      "Parameter "
				      "'compression-type' does not accept "
				      "value '%s'",
				      ct);

	/* Then in the order qemu's qcow2 create checks them. */
	if (p->ext_l2 && p->version < 3)
		return qimg_error_set(err, EINVAL,
				      "Extended L2 entries are "
				      "only supported with compatibility "
				      "level 1.1 and above (use version=v3 "
				      "or greater)");
	if (!qimg_is_power_of_2(p->cluster_size) || p->cluster_size < 512 ||
	    p->cluster_size > (2u << 20))
		return qimg_error_set(err, EINVAL,
				      "Cluster size must be a "
				      "power of two between 512 and 2048k");
	if (p->ext_l2 && p->cluster_size < 16384)
		return qimg_error_set(err, EINVAL,
				      "Extended L2 entries are "
				      "only supported with cluster sizes of "
				      "at least 16384 bytes");
	p->cluster_bits = (uint32_t)ilog2(p->cluster_size);
	if (p->backing_fmt && !p->backing_file)
		return qimg_error_set(err, EINVAL,
				      "Backing format cannot be "
				      "used without backing file");
	if (p->backing_file && strcmp(p->prealloc, "off") && !p->ext_l2)
		return qimg_error_set(err, EINVAL,
				      "Backing file and "
				      "preallocation can only be used at the "
				      "same time if extended_l2 is on");
	if (p->lazy && p->version < 3)
		return qimg_error_set(err, EINVAL,
				      "Lazy refcounts only "
				      "supported with compatibility level 1.1 "
				      "and above (use version=v3 or greater)");
	if (rb > 64 || !qimg_is_power_of_2(rb))
		return qimg_error_set(err, EINVAL,
				      "Refcount width must be a "
				      "power of two and may not exceed 64 "
				      "bits");
	if (rb != 16 && p->version < 3)
		return qimg_error_set(err, EINVAL,
				      "Different refcount widths "
				      "than 16 bits require compatibility "
				      "level 1.1 or above (use version=v3 or "
				      "greater)");
	p->refcount_order = (uint32_t)ilog2(rb);
	if (p->data_raw && !p->data_file)
		return qimg_error_set(err, EINVAL,
				      "data-file-raw requires data-file");
	if (p->data_raw && p->backing_file)
		return qimg_error_set(err, EINVAL,
				      "Backing file and data-file-raw cannot "
				      "be used at the same time");
	/* A raw data file must read as the image: every cluster mapped. */
	if (p->data_raw && !strcmp(p->prealloc, "off"))
		p->prealloc = "metadata";
	if (p->data_file && p->version < 3)
		return qimg_error_set(err, EINVAL,
				      "External data files are only "
				      "supported with compatibility level 1.1 "
				      "and above (use version=v3 or greater)");
	if (p->ctype != QCOW2_COMPRESS_ZLIB && p->version < 3)
		return qimg_error_set(err, EINVAL,
				      "Non-zlib compression type "
				      "is only supported with compatibility "
				      "level 1.1 and above (use version=v3 or "
				      "greater)");
	if (p->backing_fmt && strlen(p->backing_fmt) > QCOW2_MAX_BACKING_FMT)
		return qimg_error_set(err, EINVAL,
				      "Backing format name too "
				      "long");
	if (p->backing_file && strlen(p->backing_file) > QCOW2_MAX_BACKING_NAME)
		return qimg_error_set(err, EINVAL,
				      "Backing file name too "
				      "long");

	if (qimg_align_up_overflow(p->size, 512, &p->size))
		return qimg_error_set(err, EFBIG,
				      "The image size is too "
				      "large for file format 'qcow2'");
	per_l1 = p->cluster_size * (p->cluster_size / (p->ext_l2 ? 16 : 8));
	need = p->size / per_l1 + (p->size % per_l1 != 0);
	if (need * 8 > QCOW2_MAX_L1_BYTES)
		return qimg_error_set(err, EFBIG,
				      "The image size is too "
				      "large for file format 'qcow2'");
	return 0;
}

int qcow2_create_validate(const struct qimg_opts *o, struct qimg_error *err)
{
	struct cparams p;

	return parse_params(o, &p, err);
}

/* Cluster 0 (header), 1 (refcount table), 2 (refcount block for 0..2);
 * no L1 yet.  Clusters 1 and 2 are written first. */
static int write_skeleton(struct qimg_node *file, const struct cparams *p,
			  struct qimg_error *err)
{
	struct qcow2_header h;
	struct qcow2_exts e;
	uint8_t *buf;
	int r, i;

	memset(&h, 0, sizeof(h));
	memset(&e, 0, sizeof(e));
	h.version = p->version;
	h.cluster_bits = p->cluster_bits;
	h.size = 0; /* set once the L1 exists; open checks the L1 size */
	h.refcount_table_offset = p->cluster_size;
	h.refcount_table_clusters = 1;
	h.refcount_order = p->refcount_order;
	h.header_length = QCOW2_HEADER_LEN_WRITTEN;
	h.compression_type = (uint8_t)p->ctype;
	if (p->ctype != QCOW2_COMPRESS_ZLIB)
		h.incompatible_features |= QCOW2_INCOMPAT_COMPRESSION;
	if (p->ext_l2)
		h.incompatible_features |= QCOW2_INCOMPAT_EXTL2;
	if (p->lazy)
		h.compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
	if (p->data_file)
		h.incompatible_features |= QCOW2_INCOMPAT_DATA_FILE;
	if (p->data_raw)
		h.autoclear_features |= QCOW2_AUTOCLEAR_DATA_FILE_RAW;
	e.data_file = (char *)p->data_file; /* only read */

	buf = malloc(3 * p->cluster_size);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qcow2_header_build(&h, &e, buf, p->cluster_size, err);
	if (r < 0)
		goto out;
	memset(buf + p->cluster_size, 0, 2 * p->cluster_size);
	qimg_store_be64(buf + p->cluster_size, 2 * p->cluster_size);
	for (i = 0; i < 3; i++)
		qcow2_rc_set(buf + 2 * p->cluster_size, (uint64_t)i,
			     p->refcount_order, 1);
	/* The refcount structures before the header: a writer killed in
	 * between leaves a file that is not a qcow2 image yet, never a
	 * header pointing at a refcount table that is not there. */
	r = qimg_pwrite(file, p->cluster_size, buf + p->cluster_size,
			2 * p->cluster_size, err);
	if (r == 0) /* and on the disk first: a power cut orders nothing */
		r = qimg_flush(file, err);
	if (r == 0)
		r = qimg_pwrite(file, 0, buf, p->cluster_size, err);
out:
	free(buf);
	return r;
}

/* Allocate and write the (zeroed) active L1 table for the image size. */
static int create_l1(struct qcow2_state *s, struct qimg_error *err)
{
	uint64_t per_l1 = 1ull << (s->cluster_bits + s->l2_bits);
	uint64_t n = s->h.size / per_l1 + (s->h.size % per_l1 != 0);
	uint64_t bytes = n * 8, off;
	uint8_t *z;
	int r;

	if (!n)
		return 0;
	r = qcow2_alloc_clusters(
		s, (bytes + s->cluster_size - 1) >> s->cluster_bits, &off, err);
	if (r < 0)
		return r;
	z = calloc(1, bytes);
	if (!z)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_pwrite(s->file, off, z, bytes, err);
	free(z);
	if (r < 0)
		return r;
	free(s->l1);
	s->l1 = calloc(n, sizeof(uint64_t));
	if (!s->l1)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	s->l1_size = (uint32_t)n;
	s->h.l1_size = (uint32_t)n;
	s->h.l1_table_offset = off;
	return 0;
}

/* The data file must be another file than the image: qemu-img's locks
 * refuse the image file as its own data file (its second line). */
static int not_the_image(struct qimg_node *file, struct qimg_node *data,
			 struct qimg_error *err)
{
	char *a = realpath(qimg_node_filename(file), NULL);
	char *b = realpath(qimg_node_filename(data), NULL);
	bool same = a && b && !strcmp(a, b);

	free(a);
	free(b);
	if (same)
		return qimg_error_set(err, EAGAIN,
				      "Failed to get shared \"resize\" lock\n"
				      "Is another process using the image "
				      "[%s]?",
				      qimg_node_filename(data));
	return 0;
}

int qcow2_create(struct qimg_node *file, const struct qimg_opts *o,
		 struct qimg_error *err)
{
	struct qimg_node tmp, *data = NULL;
	struct qcow2_state *s;
	struct cparams p;
	char *data_path = NULL;
	uint8_t *hdr = NULL, *secret = NULL;
	size_t secret_len = 0;
	uint64_t end = 0;
	int r;

	r = parse_params(o, &p, err);
	if (r < 0)
		return r;
	/* The key first: nothing is written without it. */
	if (p.crypt_method) {
		r = qcow2_crypt_secret(
			file, qimg_opts_get_str(o, "encrypt.key-secret", NULL),
			&secret, &secret_len, err);
		if (r < 0)
			return r;
	}
	/* The data file after the image file, as qemu-img makes them; named
	 * as given (relative to the working directory). */
	if (p.data_file) {
		r = qimg_create_aux_file(p.data_file, o, &data, &data_path,
					 err);
		if (r < 0)
			return r;
		r = not_the_image(file, data, err);
		if (r < 0)
			goto out_data;
	}
	/* A file that cannot grow (a device) refuses preallocation: asked
	 * before anything is written, so that the device is left as it was
	 * (qemu-img finds out after writing the header). */
	if (!strcmp(p.prealloc, "falloc") || !strcmp(p.prealloc, "full")) {
		struct qimg_node *t = data ? data : file;

		if (!t->limits.grows &&
		    qimg_truncate(t, t->size, 0, p.prealloc, err) < 0) {
			qimg_error_prefix(err, "Could not resize image: Failed "
					       "to resize underlying file");
			r = -err->errnum;
			goto out_data;
		}
	}
	r = write_skeleton(file, &p, err);
	if (r < 0)
		goto out_data;

	/* Open what we wrote with the normal code and finish through it. */
	s = calloc(1, sizeof(*s));
	if (!s) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out_data;
	}
	memset(&tmp, 0, sizeof(tmp));
	tmp.drv = &qimg_driver_qcow2;
	tmp.opaque = s;
	tmp.file = file;
	tmp.data_file = data;
	tmp.filename = file->filename;
	tmp.flags = QIMG_OPEN_RDWR | QIMG_OPEN_NO_BACKING;
	r = qimg_driver_qcow2.open(&tmp, NULL, err);
	if (r < 0) {
		free(s);
		goto out_data;
	}
	s->lazy = false; /* creation writes counts directly */
	s->h.size = p.size;

	r = create_l1(s, err);
	if (r < 0)
		goto out;
	if (data) {
		/* Metadata in the image for every mode but off; the data
		 * file is sized (and falloc'd or written) by the file layer,
		 * as qemu-img lays both out. */
		if (strcmp(p.prealloc, "off"))
			r = qcow2_data_file_prealloc(s, 0,
						     (p.size + s->cluster_size -
						      1) >> s->cluster_bits,
						     err);
		if (r == 0)
			r = qcow2_data_file_truncate(s, p.size, p.prealloc,
						     err);
		/* (qemu-img sizes the image, data file and all, in one
		 * truncate, and names a failure so) */
		if (r < 0)
			qimg_error_prefix(err, "Could not resize image");
		/* Its first block allocated, as qemu-img creates files (and
		 * as raw.c does: it shows in map and disk size). */
		if (r == 0 && p.size && strcmp(p.prealloc, "full")) {
			static const uint8_t zero[4096];

			r = qimg_pwrite(data, 0, zero,
					p.size < sizeof(zero) ? (size_t)p.size
							      : sizeof(zero),
					err);
		}
		if (r == 0)
			r = qcow2_l2_writeback(s, err);
		if (r == 0)
			r = qimg_flush(data, err);
		if (r < 0)
			goto out;
	} else if (strcmp(p.prealloc, "off")) {
		r = qcow2_preallocate(s, p.prealloc, 0,
				      (p.size + s->cluster_size - 1) >>
					      s->cluster_bits,
				      &end, err);
		if (r < 0) {
			qimg_error_prefix(err, "Could not resize image");
			goto out;
		}
	}

	/* The LUKS area in the clusters after the L1 table and what
	 * preallocation placed (as qemu-img lays it out), written before the
	 * header names it (the barrier below). */
	if (p.crypt_method == 2)
		r = qcow2_luks_create(s, o, secret, secret_len, err);
	s->h.crypt_method = p.crypt_method;
	if (r < 0)
		goto out;

	/* Final header: L1 location, backing file and format. */
	if (p.backing_file) {
		s->ext.backing_file = strdup(p.backing_file);
		if (!s->ext.backing_file) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto out;
		}
	}
	if (p.data_file) {
		free(s->ext.data_file);
		s->ext.data_file = strdup(p.data_file);
		if (!s->ext.data_file) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto out;
		}
	}
	if (p.backing_fmt) {
		s->ext.backing_fmt = strdup(p.backing_fmt);
		if (!s->ext.backing_fmt) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto out;
		}
	}
	hdr = malloc(s->cluster_size);
	if (!hdr) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	/* metadata: the data clusters exist, the file stays sparse.  The
	 * file reaches them before the header makes the L1 table live, or a
	 * writer killed in between would leave references past the end. */
	if (end) {
		int64_t len = qimg_node_length(file, err);

		if (len < 0)
			r = (int)len;
		else if ((uint64_t)len < end)
			r = qimg_truncate(file, end, 0, "off", err);
		if (r < 0)
			goto out;
	}
	r = qcow2_header_build(&s->h, &s->ext, hdr, s->cluster_size, err);
	if (r == 0) { /* the L1 table and what it maps, then the header */
		s->unflushed = true;
		r = qcow2_barrier(s, err);
	}
	if (r == 0)
		r = qimg_pwrite(file, 0, hdr, s->cluster_size, err);
out:
	free(hdr);
	qimg_driver_qcow2.close(&tmp);
	free(tmp.backing_filename);
	free(tmp.backing_format);
	free(s);
out_data:
	qimg_secret_free(secret, secret_len);
	if (data)
		qimg_close(data);
	if (r < 0)
		qimg_remove_aux_file(data_path);
	else
		free(data_path);
	return r;
}
