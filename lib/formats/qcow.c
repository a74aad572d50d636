/* SPDX-License-Identifier: MIT */
/* qcow version 1 images, read and write, as qemu-img 7.2 handles them: a
 * 48-byte big-endian header, the backing file name after it, an L1 table
 * (8-aligned, its size rounded up to 512 bytes), L2 tables and clusters
 * appended at the end of the file (cluster aligned), compressed clusters
 * (raw deflate, 4 KiB window) appended 512-aligned.  No refcounts, no
 * zero clusters, no check.  Legacy AES encryption (AES-128-CBC, the key
 * the passphrase's first 16 bytes, IVs from guest sectors) with the key
 * from encrypt.key-secret, as qemu-img reads, writes and creates it. */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/driver.h"
#include "crypto/crypto.h"
#include "formats/qcow.h"
#include "formats/table-cache.h"
#include "qimg/object.h"
#include "util/codec.h"
#include "util/endian.h"

#define QCOW_HEADER_LEN 48u
#define QCOW_OFLAG_COMPRESSED (UINT64_C(1) << 63)
#define QCOW_MAX_BACKING 1023u
#define QCOW_L2_CACHE 4
/* An L1 table bigger than this must lie inside the file. */
#define QCOW_L1_SANE (64u << 20)
#define QCOW_CREATE_CHUNK (1u << 20)
#define QCOW_AES_KEY_LEN 16

struct qcow_l2 {
	uint64_t off; /* 0: empty */
	uint64_t *t;  /* host order */
	uint64_t used;
};

/* SERIAL driver: the core holds node->lock around every call. */
struct qcow_state {
	struct qimg_node *file;
	uint32_t cluster_bits, l2_bits, cluster_size, l2_size;
	uint64_t l1_off, l1_size;
	/* The L1 table, a page at a time (8 bytes for every 2 MiB of a
	 * default image: 512 MiB at 128 TiB). */
	struct qimg_tcache l1;
	bool l1_open;
	uint32_t crypt;
	struct qimg_sector_cipher *cipher; /* crypt 1, opened with the key */
	struct qcow_l2 cache[QCOW_L2_CACHE];
	uint64_t tick;
	uint64_t file_end; /* allocation pointer: the file's length */
	uint8_t *zbuf;	   /* a cluster of compressed input */
};

static const struct qimg_opt_desc qcow_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "backing_file", QIMG_OPT_STRING, "File name of a base image", NULL },
	{ "backing_fmt", QIMG_OPT_STRING, "Format of the backing image", NULL },
	{ "encryption", QIMG_OPT_BOOL,
	  "Encrypt the image with format 'aes'. (Deprecated in favor of "
	  "encrypt.format=aes)",
	  NULL },
	{ "encrypt.format", QIMG_OPT_STRING,
	  "Encrypt the image, format choices: 'aes'", NULL },
	{ "encrypt.key-secret", QIMG_OPT_STRING,
	  "ID of the secret that provides the AES encryption key", NULL },
	{ NULL, 0, NULL, NULL },
};

static int qcow_probe(const uint8_t *head, size_t len, const char *filename)
{
	(void)filename;
	return len >= 8 && !memcmp(head, "QFI\xfb\0\0\0\x01", 8) ? 100 : 0;
}

static void free_state(struct qcow_state *s)
{
	int i;

	for (i = 0; i < QCOW_L2_CACHE; i++)
		free(s->cache[i].t);
	memset(s->cache, 0, sizeof(s->cache));
	if (s->l1_open)
		qimg_tc_free(&s->l1);
	s->l1_open = false;
	free(s->zbuf);
	s->zbuf = NULL;
	qimg_sector_cipher_free(s->cipher);
	s->cipher = NULL;
}

static int secret_of(const struct qimg_objects *objects, const char *id,
		     uint8_t **data, size_t *len, struct qimg_error *err)
{
	*data = NULL;
	*len = 0;
	if (!id)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'encrypt.key-secret' is "
				      "required for cipher");
	return qimg_secret_get(objects, id, data, len, err);
}

/* The key of encrypt.key-secret (the passphrase's first 16 bytes, zero
 * padded), as the cipher of every data sector. */
static int open_cipher(struct qimg_node *node, struct qcow_state *s,
		       const struct qimg_opts *opts, struct qimg_error *err)
{
	const char *fmt = qimg_opts_get_str(opts, "encrypt.format", NULL);
	uint8_t *secret, *key;
	size_t len;
	int r;

	if (fmt && !s->crypt)
		return qimg_error_set(err, EINVAL,
				      "No encryption in image header, but "
				      "options specified format '%s'",
				      fmt);
	if (fmt && strcmp(fmt, "aes"))
		return qimg_error_set(err, EINVAL,
				      "Header reported 'aes' encryption format "
				      "but options specify '%s'",
				      fmt);
	if (!s->crypt || (node->flags & QIMG_OPEN_NO_IO))
		return 0;
	r = secret_of(node->objects,
		      qimg_opts_get_str(opts, "encrypt.key-secret", NULL),
		      &secret, &len, err);
	if (r < 0)
		return r;
	key = qimg_secure_alloc(QCOW_AES_KEY_LEN);
	if (!key) {
		qimg_secret_free(secret, len);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	memcpy(key, secret, len < QCOW_AES_KEY_LEN ? len : QCOW_AES_KEY_LEN);
	qimg_secret_free(secret, len);
	r = qimg_sector_cipher_new(QIMG_CIPHER_AES_128, QIMG_MODE_CBC,
				   QIMG_IVGEN_PLAIN64, QIMG_HASH_SHA256, key,
				   QCOW_AES_KEY_LEN, &s->cipher, err);
	qimg_secure_free(key, QCOW_AES_KEY_LEN);
	return r;
}

static int read_backing(struct qimg_node *node, const uint8_t *h,
			struct qimg_error *err)
{
	struct qcow_state *s = node->opaque;
	uint64_t off = qimg_load_be64(h + 8);
	uint32_t len = qimg_load_be32(h + 16);
	char *name;
	int r;

	if (!off)
		return 0;
	if (len > QCOW_MAX_BACKING)
		return qimg_error_set(err, EINVAL,
				      "Backing file name too long");
	name = calloc(1, (size_t)len + 1);
	if (!name)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_pread(s->file, off, name, len, err);
	if (r < 0 || !name[0]) {
		free(name);
		return r;
	}
	node->backing_filename = name;
	return 0;
}

/* Checks in qemu-img's order, with its texts. */
static int qcow_open(struct qimg_node *node, const struct qimg_opts *opts,
		     struct qimg_error *err)
{
	struct qcow_state *s = node->opaque;
	uint8_t h[QCOW_HEADER_LEN];
	uint64_t size, shift_size;
	uint32_t version;
	int64_t flen;
	int r;

	s->file = node->file;
	r = qimg_pread(s->file, 0, h, sizeof(h), err);
	if (r < 0)
		return r;
	if (memcmp(h, "QFI\xfb", 4))
		return qimg_error_set(err, EINVAL, "Image not in qcow format");
	version = qimg_load_be32(h + 4);
	if (version != 1)
		return qimg_error_set(
			err, ENOTSUP,
			"qcow (v1) does not support qcow version "
			"%u%s",
			version,
			version == 2 || version == 3
				? "\nTry the 'qcow2' driver instead."
				: "");
	size = qimg_load_be64(h + 24);
	if (size <= 1)
		return qimg_error_set(err, EINVAL,
				      "Image size is too small (must be at "
				      "least 2 bytes)");
	s->cluster_bits = h[32];
	s->l2_bits = h[33];
	if (s->cluster_bits < 9 || s->cluster_bits > 16)
		return qimg_error_set(err, EINVAL,
				      "Cluster size must be between 512 and "
				      "64k");
	if (s->l2_bits < 6 || s->l2_bits > 13)
		return qimg_error_set(err, EINVAL,
				      "L2 table size must be between 512 and "
				      "64k");
	s->crypt = qimg_load_be32(h + 36);
	if (s->crypt > 1)
		return qimg_error_set(err, EINVAL,
				      "invalid encryption method in qcow "
				      "header");
	r = open_cipher(node, s, opts, err);
	if (r < 0)
		return r;
	s->cluster_size = 1u << s->cluster_bits;
	s->l2_size = 1u << s->l2_bits;
	shift_size = UINT64_C(1) << (s->cluster_bits + s->l2_bits);
	s->l1_size = size / shift_size + !!(size % shift_size);
	if (s->l1_size > INT_MAX / 8) {
		r = qimg_error_set(err, EFBIG, "Image too large");
		goto out_free;
	}
	s->l1_off = qimg_load_be64(h + 40);
	flen = qimg_node_length(s->file, err);
	if (flen < 0) {
		r = (int)flen;
		goto out_free;
	}
	s->file_end = (uint64_t)flen;
	/* Bounded: a table that big must be in the file. */
	if (s->l1_size * 8 > QCOW_L1_SANE &&
	    (s->l1_off > s->file_end ||
	     s->l1_size * 8 > s->file_end - s->l1_off)) {
		r = qimg_error_set(err, EFBIG, "Image too large");
		goto out_free;
	}
	s->zbuf = malloc(s->cluster_size);
	if (!s->zbuf) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out_free;
	}
	/* Past the end of the file the table reads as zeros. */
	qimg_tc_init(&s->l1, s->file, s->l1_off, s->l1_size * 8,
		     s->l1_off < s->file_end ? s->file_end - s->l1_off : 0);
	s->l1_open = true;
	r = read_backing(node, h, err);
	if (r < 0)
		goto out_free;
	node->size = size & ~UINT64_C(511);
	node->cluster_size = s->cluster_size;
	node->zero_init = !node->backing_filename;
	node->limits.request_align = 512;
	node->limits.export_align = 512;
	return 0;

out_free:
	free_state(s);
	return r;
}

static void qcow_close(struct qimg_node *node)
{
	free_state(node->opaque);
}

static int l2_get(struct qcow_state *s, uint64_t off, uint64_t **out,
		  struct qimg_error *err)
{
	struct qcow_l2 *v = &s->cache[0];
	size_t bytes = (size_t)s->l2_size * 8, i;
	int k, r;

	for (k = 0; k < QCOW_L2_CACHE; k++) {
		if (s->cache[k].t && s->cache[k].off == off) {
			s->cache[k].used = ++s->tick;
			*out = s->cache[k].t;
			return 0;
		}
		if (s->cache[k].used < v->used)
			v = &s->cache[k];
	}
	if (!v->t) {
		v->t = malloc(bytes);
		if (!v->t)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	v->off = 0;
	r = qimg_pread(s->file, off, v->t, bytes, err);
	if (r < 0)
		return r;
	for (i = 0; i < s->l2_size; i++)
		v->t[i] = qimg_load_be64(&v->t[i]);
	v->off = off;
	v->used = ++s->tick;
	*out = v->t;
	return 0;
}

/* L1 entry l1i (0 past the table). */
static int l1_get(struct qcow_state *s, uint64_t l1i, uint64_t *v,
		  struct qimg_error *err)
{
	*v = 0;
	if (l1i >= s->l1_size)
		return 0;
	return qimg_tc_read_be64(&s->l1, l1i, v, 1, err);
}

/* The L2 entry of the cluster holding guest offset `off` (0: none). */
static int entry_of(struct qcow_state *s, uint64_t off, uint64_t *e,
		    struct qimg_error *err)
{
	uint64_t l1i = off >> (s->cluster_bits + s->l2_bits), *t, l2;
	int r;

	*e = 0;
	r = l1_get(s, l1i, &l2, err);
	if (r < 0 || !l2)
		return r;
	r = l2_get(s, l2, &t, err);
	if (r < 0)
		return r;
	*e = t[(off >> s->cluster_bits) & (s->l2_size - 1)];
	return 0;
}

/* Inflate the compressed cluster `e` into out (cluster_size bytes). */
static int read_compressed(struct qcow_state *s, uint64_t e, uint8_t *out,
			   struct qimg_error *err)
{
	uint32_t shift = 63 - s->cluster_bits;
	uint64_t csize = (e >> shift) & (s->cluster_size - 1);
	uint64_t coff = e & ((UINT64_C(1) << shift) - 1);
	z_stream z;
	int r;

	r = qimg_pread(s->file, coff, s->zbuf, csize, err);
	if (r < 0)
		return r;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -12) != Z_OK)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	z.next_in = s->zbuf;
	z.avail_in = (uInt)csize;
	z.next_out = out;
	z.avail_out = s->cluster_size;
	r = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	if ((r != Z_STREAM_END && r != Z_BUF_ERROR) || z.avail_out)
		return qimg_error_set(err, EIO, "Input/output error");
	return 0;
}

static int qcow_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	struct qcow_state *s = node->opaque;
	uint8_t *p = buf, *tmp = NULL;
	int r = 0;

	while (len && r == 0) {
		uint64_t in = off & (s->cluster_size - 1), e;
		size_t n =
			s->cluster_size - in < len ? s->cluster_size - in : len;

		r = entry_of(s, off, &e, err);
		if (r < 0)
			break;
		if (!e) {
			if (node->backing)
				r = qimg_read_backing(node, off, p, n, err);
			else
				memset(p, 0, n);
		} else if (e & QCOW_OFLAG_COMPRESSED) {
			if (!tmp)
				tmp = malloc(s->cluster_size);
			if (!tmp) {
				r = qimg_error_set(err, ENOMEM,
						   "Out of memory");
				break;
			}
			r = read_compressed(s, e, tmp, err);
			if (r == 0)
				memcpy(p, tmp + in, n);
		} else {
			qimg_debug_event(s->file, QIMG_EV_READ_AIO);
			r = qimg_pread(s->file, e + in, p, n, err);
			if (r == 0 && s->cipher)
				r = qimg_sector_decrypt(s->cipher, off / 512, p,
							n, err);
		}
		p += n;
		off += n;
		len -= n;
	}
	free(tmp);
	return r;
}

static int qcow_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			     struct qimg_extent *ext, struct qimg_error *err)
{
	struct qcow_state *s = node->opaque;
	uint64_t in = off & (s->cluster_size - 1), e, e2, run;
	int r;

	r = entry_of(s, off, &e, err);
	if (r < 0)
		return r;
	run = s->cluster_size - in;
	/* Runs of the same kind (normal clusters: contiguous), an L2 table
	 * at a time; a missing one is skipped whole. */
	while (run < len) {
		uint64_t span = UINT64_C(1) << (s->cluster_bits + s->l2_bits);
		uint64_t p = off + run, l2, *t, i;

		if (l1_get(s, p / span, &l2, NULL) < 0)
			break;
		if (!l2) {
			if (e)
				break;
			run += span - p % span;
			continue;
		}
		if (l2_get(s, l2, &t, NULL) < 0)
			break;
		for (i = (p >> s->cluster_bits) & (s->l2_size - 1);
		     i < s->l2_size && run < len; i++) {
			e2 = t[i];
			if (!e != !e2 ||
			    !(e & QCOW_OFLAG_COMPRESSED) !=
				    !(e2 & QCOW_OFLAG_COMPRESSED) ||
			    (e && !(e & QCOW_OFLAG_COMPRESSED) &&
			     e2 != e + in + run))
				goto done;
			run += s->cluster_size;
		}
	}
done:
	memset(ext, 0, sizeof(*ext));
	ext->len = run < len ? run : len;
	if (!e)
		return 0;
	ext->flags = QIMG_BS_DATA | QIMG_BS_ALLOCATED;
	/* Encrypted: the host bytes are not the guest's (no offset, as
	 * qemu-img map shows it). */
	if (!(e & QCOW_OFLAG_COMPRESSED) && !s->crypt) {
		ext->flags |= QIMG_BS_OFFSET_VALID;
		ext->map = e + in;
		ext->file = s->file;
	}
	return 0;
}

/* Reserve `n` bytes at the end of the file, aligned to `align`. */
static uint64_t alloc_bytes(struct qcow_state *s, uint64_t n, uint64_t align)
{
	uint64_t off = (s->file_end + align - 1) & ~(align - 1);

	s->file_end = off + n;
	return off;
}

/* Point the cluster holding `off` (its L2 table named by the L1 table)
 * at `val`. */
static int set_entry(struct qcow_state *s, uint64_t off, uint64_t val,
		     struct qimg_error *err)
{
	uint64_t l1i = off >> (s->cluster_bits + s->l2_bits), *t, l2;
	uint64_t idx = (off >> s->cluster_bits) & (s->l2_size - 1);
	uint8_t be[8];
	int r;

	r = l1_get(s, l1i, &l2, err);
	if (r == 0 && !l2)
		r = qimg_error_set(err, EIO, "Input/output error");
	if (r == 0)
		r = l2_get(s, l2, &t, err);
	if (r < 0)
		return r;
	qimg_store_be64(be, val);
	r = qimg_pwrite(s->file, l2 + idx * 8, be, 8, err);
	if (r == 0)
		t[idx] = val;
	return r;
}

/* The tables' part of a write: the new L2 tables and clusters are on the
 * disk (flushed) before any entry names them, so that a crash leaves at
 * worst unnamed space at the end of the file, never an entry pointing at
 * lost data.  One flush per request, not per cluster. */
struct qcow_batch {
	uint64_t *l1i; /* new L2 tables: L1 index, table offset */
	uint64_t *l2off;
	size_t nl1;
	uint64_t *guest; /* new clusters: guest offset, host offset */
	uint64_t *host;
	size_t n;
};

/* The L2 table of L1 index l1i: named by the L1 table, or new in this
 * batch (0: none). */
static int l2_of(struct qcow_state *s, const struct qcow_batch *b, uint64_t l1i,
		 uint64_t *l2, struct qimg_error *err)
{
	size_t i;

	for (i = 0; i < b->nl1; i++)
		if (b->l1i[i] == l1i) {
			*l2 = b->l2off[i];
			return 0;
		}
	return l1_get(s, l1i, l2, err);
}

/* A new L2 table (zeroed, at the end of the file) for L1 index l1i, not
 * yet named by the L1 table: the batch names it until batch_commit writes
 * the entry (after a flush, so that no L1 entry ever points at a table
 * that is not on the disk; before the data cluster's entry, as qemu
 * orders them). */
static int new_l2(struct qcow_state *s, struct qcow_batch *b, uint64_t l1i,
		  struct qimg_error *err)
{
	size_t bytes = (size_t)s->l2_size * 8;
	uint64_t l2off;
	uint8_t *z;
	int r;

	z = calloc(1, bytes);
	if (!z)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	l2off = alloc_bytes(s, bytes, s->cluster_size);
	r = qimg_pwrite(s->file, l2off, z, bytes, err);
	free(z);
	if (r == 0) {
		b->l1i[b->nl1] = l1i;
		b->l2off[b->nl1++] = l2off;
	}
	return r;
}

/* Write [off, off + n) inside one cluster whose entry is `e`; a new
 * cluster joins the batch. */
static int write_cluster(struct qimg_node *node, uint64_t off, const uint8_t *p,
			 size_t n, uint64_t e, struct qcow_batch *b,
			 struct qimg_error *err)
{
	struct qcow_state *s = node->opaque;
	uint64_t in = off & (s->cluster_size - 1), start = off - in, host;
	uint64_t l1i = off >> (s->cluster_bits + s->l2_bits), l2 = 0;
	uint8_t *c;
	int r = 0;

	if (e && !(e & QCOW_OFLAG_COMPRESSED)) {
		qimg_debug_event(s->file, QIMG_EV_WRITE_AIO);
		if (!s->cipher)
			return qimg_pwrite(s->file, e + in, p, n, err);
		c = malloc(n);
		if (!c)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		memcpy(c, p, n);
		r = qimg_sector_encrypt(s->cipher, off / 512, c, n, err);
		if (r == 0)
			r = qimg_pwrite(s->file, e + in, c, n, err);
		free(c);
		return r;
	}
	c = calloc(1, s->cluster_size);
	if (!c)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (n < s->cluster_size) {
		/* The rest of the cluster: its old content. */
		if (e) {
			r = read_compressed(s, e, c, err);
		} else if (node->backing && start < node->size) {
			uint64_t m = node->size - start;

			r = qimg_read_backing(
				node, start, c,
				m < s->cluster_size ? m : s->cluster_size, err);
		}
	}
	if (r == 0)
		r = l2_of(s, b, l1i, &l2, err);
	if (r == 0 && !l2)
		r = new_l2(s, b, l1i, err);
	if (r == 0) {
		memcpy(c + in, p, n);
		host = alloc_bytes(s, s->cluster_size, s->cluster_size);
		qimg_debug_event(s->file, QIMG_EV_WRITE_AIO);
		if (s->cipher)
			r = qimg_sector_encrypt(s->cipher, start / 512, c,
						s->cluster_size, err);
		if (r == 0)
			r = qimg_pwrite(s->file, host, c, s->cluster_size, err);
		if (r == 0) {
			b->guest[b->n] = start;
			b->host[b->n++] = host;
		}
	}
	free(c);
	return r;
}

/* Flush what the batch's entries will name, then write the entries (L1
 * before L2).  What fails before its entry is on the disk is forgotten:
 * its space is leaked, never named. */
static int batch_commit(struct qcow_state *s, struct qcow_batch *b, int r,
			struct qimg_error *err)
{
	size_t i;

	if (r == 0 && (b->nl1 || b->n))
		r = qimg_flush(s->file, err);
	if (r == 0 && b->nl1)
		r = qimg_tc_commit_be64(&s->l1, b->l1i, b->l2off, b->nl1, err);
	for (i = 0; r == 0 && i < b->n; i++)
		r = set_entry(s, b->guest[i], b->host[i], err);
	return r;
}

static int qcow_write(struct qimg_node *node, uint64_t off, const void *buf,
		      size_t len, struct qimg_error *err)
{
	struct qcow_state *s = node->opaque;
	size_t most = (size_t)(len >> s->cluster_bits) + 2;
	struct qcow_batch b = { 0 };
	const uint8_t *p = buf;
	int r = 0;

	b.l1i = malloc(most * sizeof(uint64_t));
	b.l2off = malloc(most * sizeof(uint64_t));
	b.guest = malloc(most * sizeof(uint64_t));
	b.host = malloc(most * sizeof(uint64_t));
	if (!b.l1i || !b.l2off || !b.guest || !b.host)
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	while (r == 0 && len) {
		uint64_t in = off & (s->cluster_size - 1), e;
		size_t n =
			s->cluster_size - in < len ? s->cluster_size - in : len;

		r = entry_of(s, off, &e, err);
		if (r == 0)
			r = write_cluster(node, off, p, n, e, &b, err);
		p += n;
		off += n;
		len -= n;
	}
	r = batch_commit(s, &b, r, err);
	free(b.l1i);
	free(b.l2off);
	free(b.guest);
	free(b.host);
	return r;
}

static int qcow_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct qcow_state *s = node->opaque;

	return qimg_flush(s->file, err);
}

/* Pure: deflate one cluster (the image's last, short one zero-padded). */
static int qcow_compress(struct qimg_node *node, struct qimg_codec *codec,
			 const void *buf, size_t len, void *out, size_t *outlen,
			 struct qimg_error *err)
{
	struct qcow_state *s = node->opaque;
	uint8_t *in = NULL;
	size_t n;
	int r;

	if (len < s->cluster_size) {
		in = calloc(1, s->cluster_size);
		if (!in)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		memcpy(in, buf, len);
		buf = in;
	}
	/* The length field is cluster_bits wide: at most cluster_size - 1;
	 * raw deflate within a 4 KiB window, as qemu inflates. */
	n = s->cluster_size - 1;
	if (n > *outlen)
		n = *outlen;
	r = qimg_codec_deflate(codec, -12, buf, s->cluster_size, out, &n);
	free(in);
	if (r < 0)
		return qimg_error_set(err, -r, "Out of memory");
	*outlen = n;
	return 0;
}

static int qcow_write_compressed(struct qimg_node *node, uint64_t off,
				 const void *buf, size_t len, const void *cbuf,
				 size_t clen, struct qimg_error *err)
{
	struct qcow_state *s = node->opaque;
	uint64_t e, host, guest, l1i, l2off, l2;
	struct qcow_batch b = { &l1i, &l2off, 0, &guest, &host, 0 };
	int r;

	r = entry_of(s, off, &e, err);
	if (r < 0)
		return r;
	if (!clen || e)
		return qcow_write(node, off, buf, len, err);
	l1i = off >> (s->cluster_bits + s->l2_bits);
	r = l1_get(s, l1i, &l2, err);
	if (r == 0 && !l2)
		r = new_l2(s, &b, l1i, err);
	if (r < 0)
		return r;
	host = alloc_bytes(s, clen, 512);
	if (host >> (63 - s->cluster_bits))
		return batch_commit(
			s, &b, qimg_error_set(err, EFBIG, "File too large"),
			err);
	qimg_debug_event(s->file, QIMG_EV_WRITE_COMPRESSED);
	r = qimg_pwrite(s->file, host, cbuf, clen, err);
	/* as a batch of one: data and table flushed before the entries */
	guest = off;
	host |= QCOW_OFLAG_COMPRESSED |
		((uint64_t)clen << (63 - s->cluster_bits));
	b.n = 1;
	return batch_commit(s, &b, r, err);
}

static int qcow_get_info(struct qimg_node *node, struct qimg_image_info *info,
			 struct qimg_error *err)
{
	struct qcow_state *s = node->opaque;

	(void)err;
	info->has_info = true;
	info->cluster_size = s->cluster_size;
	info->encrypted = s->crypt != 0;
	return 0;
}

/* encryption=on is encrypt.format=aes, the only one qcow has. */
static int encrypt_format(const struct qimg_opts *o, bool *aes,
			  struct qimg_error *err)
{
	const char *fmt = qimg_opts_get_str(o, "encrypt.format", NULL);
	bool alias = qimg_opts_get_bool(o, "encryption", false);

	*aes = false;
	if (alias && fmt)
		return qimg_error_set(err, EINVAL,
				      "'encrypt.format' and its alias "
				      "'encryption' can't be used at the same "
				      "time");
	if (!fmt && !alias) {
		if (qimg_opts_has(o, "encrypt.key-secret"))
			return qimg_error_set(err, EINVAL,
					      "Parameter 'encrypt.format' is "
					      "missing");
		return 0;
	}
	/* QEMU's names of encryption formats: aes is its old name of qcow */
	if (fmt && strcmp(fmt, "aes") && strcmp(fmt, "qcow") &&
	    strcmp(fmt, "luks"))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'format' does not accept "
				      "value '%s'",
				      fmt);
	if (fmt && !strcmp(fmt, "luks"))
		return qimg_error_set(err, EINVAL,
				      "Unsupported encryption format");
	*aes = true;
	return 0;
}

/* Before the file is made: the backing format names a driver QEMU has. */
static int qcow_create_validate_early(const struct qimg_opts *o,
				      struct qimg_error *err)
{
	const char *bfmt = qimg_opts_get_str(o, "backing_fmt", NULL);

	if (bfmt && !qimg_qemu_driver_name(bfmt, false))
		return qimg_error_set(err, EINVAL,
				      "unrecognized backing format '%s'", bfmt);
	return 0;
}

static int qcow_create_validate(const struct qimg_opts *o,
				struct qimg_error *err)
{
	bool aes;
	int r;

	r = encrypt_format(o, &aes, err);
	if (r < 0)
		return r;
	if (!qimg_opts_get_u64(o, "size", 0))
		return qimg_error_set(err, EINVAL,
				      "Image size is too small, cannot be zero "
				      "length");
	return 0;
}

static int qcow_create(struct qimg_node *file, const struct qimg_opts *o,
		       struct qimg_error *err)
{
	const char *backing = qimg_opts_get_str(o, "backing_file", NULL);
	uint64_t size =
		(qimg_opts_get_u64(o, "size", 0) + 511) & ~UINT64_C(511);
	size_t blen = backing ? strlen(backing) : 0;
	uint32_t cbits = blen ? 9 : 12, l2bits = blen ? 12 : 9;
	uint64_t shift = UINT64_C(1) << (cbits + l2bits), l1_entries, l1_off;
	uint64_t l1_bytes, done;
	uint8_t *buf, *secret = NULL;
	size_t secret_len = 0;
	bool aes;
	int r;

	r = encrypt_format(o, &aes, err);
	/* The key must be there (it is not needed to write the header). */
	if (r == 0 && aes)
		r = secret_of(file->objects,
			      qimg_opts_get_str(o, "encrypt.key-secret", NULL),
			      &secret, &secret_len, err);
	qimg_secret_free(secret, secret_len);
	if (r < 0)
		return r;
	if (blen > QCOW_MAX_BACKING)
		return qimg_error_set(err, EINVAL,
				      "Backing file name too long");
	l1_entries = size / shift + !!(size % shift);
	if (l1_entries > INT_MAX / 8)
		return qimg_error_set(err, EFBIG, "Image too large");
	l1_off = (QCOW_HEADER_LEN + blen + 7) & ~UINT64_C(7);
	l1_bytes = (l1_entries * 8 + 511) & ~UINT64_C(511);
	buf = calloc(1, QCOW_CREATE_CHUNK);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	/* The zeroed L1 (in pieces: 100 TiB take 400 MiB), then the header
	 * that makes it an image. */
	r = 0;
	for (done = 0; r == 0 && done < l1_bytes; done += QCOW_CREATE_CHUNK) {
		uint64_t n = l1_bytes - done < QCOW_CREATE_CHUNK
				     ? l1_bytes - done
				     : QCOW_CREATE_CHUNK;

		r = qimg_pwrite(file, l1_off + done, buf, n, err);
	}
	if (r == 0)
		r = qimg_flush(file, err);
	if (r == 0) {
		memcpy(buf, "QFI\xfb\0\0\0\x01", 8);
		if (blen) {
			qimg_store_be64(buf + 8, QCOW_HEADER_LEN);
			qimg_store_be32(buf + 16, (uint32_t)blen);
			memcpy(buf + QCOW_HEADER_LEN, backing, blen);
		}
		qimg_store_be64(buf + 24, size);
		buf[32] = (uint8_t)cbits;
		buf[33] = (uint8_t)l2bits;
		qimg_store_be32(buf + 36, aes ? 1 : 0);
		qimg_store_be64(buf + 40, l1_off);
		r = qimg_pwrite(file, 0, buf, l1_off, err);
	}
	free(buf);
	return r;
}

/* What `commit` leaves: an empty L1 and nothing after it (qemu-img cuts
 * the file right after the table). */
static int qcow_make_empty(struct qimg_node *node, struct qimg_error *err)
{
	struct qcow_state *s = node->opaque;
	uint64_t bytes = s->l1_size * 8, done;
	uint8_t *z = calloc(1, QCOW_CREATE_CHUNK);
	int r = 0, i;

	if (!z)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (done = 0; r == 0 && done < bytes; done += QCOW_CREATE_CHUNK)
		r = qimg_pwrite(s->file, s->l1_off + done, z,
				bytes - done < QCOW_CREATE_CHUNK
					? (size_t)(bytes - done)
					: QCOW_CREATE_CHUNK,
				err);
	free(z);
	if (r == 0)
		r = qimg_flush(s->file, err);
	/* what the disk holds now is read again */
	qimg_tc_reset(&s->l1, s->l1_off, bytes, bytes);
	if (r < 0)
		return r;
	for (i = 0; i < QCOW_L2_CACHE; i++)
		s->cache[i].off = 0;
	r = qimg_truncate(s->file, s->l1_off + bytes, QIMG_TRUNCATE_SHRINK,
			  NULL, err);
	if (r == 0)
		s->file_end = s->l1_off + bytes;
	return r;
}

static const struct qimg_opt_desc qcow_runtime_opts[] = {
	{ "encrypt.format", QIMG_OPT_STRING, NULL, NULL },
	{ "encrypt.key-secret", QIMG_OPT_STRING, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

/* The key names the image (json:{...}), as qemu-img shows it. */
static const char *const qcow_strong_opts[] = { "encrypt.key-secret", NULL };

const struct qimg_driver qimg_driver_qcow = {
	.name = "qcow",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct qcow_state),
	.create_opts = qcow_create_opts,
	.runtime_opts = qcow_runtime_opts,
	.strong_opts = qcow_strong_opts,
	.probe = qcow_probe,
	.open = qcow_open,
	.close = qcow_close,
	.create_validate_early = qcow_create_validate_early,
	.create_validate = qcow_create_validate,
	.create_file_first = true,
	.create = qcow_create,
	.read = qcow_read,
	.write = qcow_write,
	.flush = qcow_flush,
	.compress = qcow_compress,
	.write_compressed = qcow_write_compressed,
	.block_status = qcow_block_status,
	.get_info = qcow_get_info,
	.make_empty = qcow_make_empty,
	.supports_backing = true,
};
