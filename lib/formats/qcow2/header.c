/* SPDX-License-Identifier: MIT */
/* qcow2 header: parse and validate the fixed fields and the extension area
 * of cluster 0, name unsupported feature bits the way qemu-img does, and
 * build a complete header cluster (for create and header rewrites, keeping
 * unknown extensions and unknown trailing header bytes). */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"
#include "util/overflow.h"

int qcow2_header_parse(const uint8_t *buf, size_t len, struct qcow2_header *h,
		       struct qimg_error *err)
{
	return qcow2_header_parse_for(buf, len, h, false, err);
}

int qcow2_header_parse_for(const uint8_t *buf, size_t len,
			   struct qcow2_header *h, bool for_check,
			   struct qimg_error *err)
{
	uint64_t cs, v;

	memset(h, 0, sizeof(*h));
	if (len < QCOW2_V2_HEADER_LEN || qimg_load_be32(buf) != QCOW2_MAGIC)
		return qimg_error_set(err, EINVAL,
				      "Image is not in qcow2 format");
	h->version = qimg_load_be32(buf + QCOW2_HDR_VERSION_OFF);
	h->backing_file_offset =
		qimg_load_be64(buf + QCOW2_HDR_BACKING_OFFSET_OFF);
	h->backing_file_size = qimg_load_be32(buf + QCOW2_HDR_BACKING_SIZE_OFF);
	h->cluster_bits = qimg_load_be32(buf + QCOW2_HDR_CLUSTER_BITS_OFF);
	h->size = qimg_load_be64(buf + QCOW2_HDR_SIZE_OFF);
	h->crypt_method = qimg_load_be32(buf + QCOW2_HDR_CRYPT_METHOD_OFF);
	h->l1_size = qimg_load_be32(buf + QCOW2_HDR_L1_SIZE_OFF);
	h->l1_table_offset = qimg_load_be64(buf + QCOW2_HDR_L1_OFFSET_OFF);
	h->refcount_table_offset =
		qimg_load_be64(buf + QCOW2_HDR_RT_OFFSET_OFF);
	h->refcount_table_clusters =
		qimg_load_be32(buf + QCOW2_HDR_RT_CLUSTERS_OFF);
	h->nb_snapshots = qimg_load_be32(buf + QCOW2_HDR_NB_SNAPSHOTS_OFF);
	h->snapshots_offset =
		qimg_load_be64(buf + QCOW2_HDR_SNAPSHOTS_OFFSET_OFF);

	if (h->version < 2 || h->version > 3)
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported qcow2 version %" PRIu32,
				      h->version);
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return qimg_error_set(err, EINVAL,
				      "Unsupported cluster size: 2^%" PRIu32,
				      h->cluster_bits);
	cs = 1ull << h->cluster_bits;

	if (h->version == 2) {
		h->refcount_order = 4;
		h->header_length = QCOW2_V2_HEADER_LEN;
	} else {
		if (len < QCOW2_V3_HEADER_LEN)
			return qimg_error_set(err, EUCLEAN,
					      "qcow2 header too short");
		h->incompatible_features =
			qimg_load_be64(buf + QCOW2_HDR_INCOMPAT_OFF);
		h->compatible_features =
			qimg_load_be64(buf + QCOW2_HDR_COMPAT_OFF);
		h->autoclear_features =
			qimg_load_be64(buf + QCOW2_HDR_AUTOCLEAR_OFF);
		h->refcount_order =
			qimg_load_be32(buf + QCOW2_HDR_REFCOUNT_ORDER_OFF);
		h->header_length = qimg_load_be32(buf + QCOW2_HDR_LENGTH_OFF);
		if (h->header_length < QCOW2_V3_HEADER_LEN)
			return qimg_error_set(err, EINVAL,
					      "qcow2 header too short");
		if (h->header_length > cs || h->header_length > len)
			return qimg_error_set(err, EINVAL,
					      "qcow2 header "
					      "exceeds cluster size");
		if (h->header_length > QCOW2_V3_HEADER_LEN)
			h->compression_type =
				buf[QCOW2_HDR_COMPRESSION_TYPE_OFF];
	}
	if (h->backing_file_offset > cs)
		return qimg_error_set(err, EINVAL,
				      "Invalid backing file offset");
	if (h->refcount_order > 6)
		return qimg_error_set(err, EINVAL,
				      "Reference count entry width too large; "
				      "may not exceed 64 bits");

	/* Compression type against its feature bit. */
	if (h->compression_type > QCOW2_COMPRESS_ZSTD)
		return qimg_error_set(err, ENOTSUP,
				      "qcow2: unknown compression type: %u",
				      h->compression_type);
	if (h->compression_type != QCOW2_COMPRESS_ZLIB &&
	    !(h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION))
		return qimg_error_set(err, EINVAL,
				      "qcow2: Compression type incompatible "
				      "feature bit must be set");
	if (h->compression_type == QCOW2_COMPRESS_ZLIB &&
	    (h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION))
		return qimg_error_set(err, EINVAL,
				      "qcow2: Compression type incompatible "
				      "feature bit must not be set");

	if (h->crypt_method > 2)
		return qimg_error_set(err, EINVAL,
				      "Unsupported encryption method %" PRIu32,
				      h->crypt_method);

	/* Refcount table: present, aligned, bounded.  `check` opens an
	 * image without one (-r all rebuilds it), as qemu-img does. */
	if (h->refcount_table_clusters == 0 && !for_check)
		return qimg_error_set(err, EINVAL,
				      "Image does not contain a reference "
				      "count table");
	if ((uint64_t)h->refcount_table_clusters * cs > QCOW2_MAX_RT_BYTES)
		return qimg_error_set(err, EINVAL,
				      "Reference count table too large");
	if (h->refcount_table_offset & (cs - 1) ||
	    (h->refcount_table_offset == 0 && h->refcount_table_clusters) ||
	    qimg_add_overflow(h->refcount_table_offset,
			      (uint64_t)h->refcount_table_clusters * cs, &v) ||
	    v > (1ull << 56))
		return qimg_error_set(err, EINVAL,
				      "Reference count table offset invalid");

	/* Snapshot table bounds (the table itself is not read here). */
	if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS && !for_check)
		return qimg_error_set(err, EINVAL, "Snapshot table too large");
	if (h->nb_snapshots && (h->snapshots_offset & (cs - 1) ||
				h->snapshots_offset >= (1ull << 56)))
		return qimg_error_set(err, EINVAL,
				      "Snapshot table offset invalid");
	if (!h->nb_snapshots && h->snapshots_offset & (cs - 1))
		return qimg_error_set(err, EINVAL,
				      "Snapshot table offset invalid");

	/* Active L1 table. */
	if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return qimg_error_set(err, EFBIG, "Active L1 table too large");
	if (h->l1_table_offset & (cs - 1) ||
	    qimg_add_overflow(h->l1_table_offset, (uint64_t)h->l1_size * 8,
			      &v) ||
	    v > (1ull << 56))
		return qimg_error_set(err, EINVAL,
				      "Active L1 table offset invalid");
	return 0;
}

void qcow2_exts_free(struct qcow2_exts *e)
{
	free(e->backing_file);
	free(e->backing_fmt);
	free(e->data_file);
	free(e->features);
	qcow2_bytes_free(&e->unknown);
	free(e->tail);
	memset(e, 0, sizeof(*e));
}

static char *dup_bytes(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		return NULL;
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static int append_bytes(struct qcow2_bytes *dst, const uint8_t *src, size_t n)
{
	int r = qcow2_bytes_reserve(dst, n);

	if (r < 0)
		return r;
	memcpy(dst->v + dst->len, src, n);
	dst->len += n;
	return 0;
}

int qcow2_exts_parse(const struct qcow2_header *h, const uint8_t *buf,
		     size_t len, struct qcow2_exts *e, struct qimg_error *err)
{
	uint64_t cs = 1ull << h->cluster_bits;
	uint64_t end = h->backing_file_offset ? h->backing_file_offset : cs;
	uint64_t off = h->header_length;

	memset(e, 0, sizeof(*e));
	if (end > len)
		end = len;
	if (h->header_length > QCOW2_HEADER_LEN_WRITTEN && h->version >= 3) {
		e->tail_len = h->header_length - QCOW2_HEADER_LEN_WRITTEN;
		e->tail = malloc(e->tail_len);
		if (!e->tail)
			goto nomem;
		memcpy(e->tail, buf + QCOW2_HEADER_LEN_WRITTEN, e->tail_len);
	}

	while (off + QCOW2_EXT_HDR_LEN <= end) {
		uint32_t type = qimg_load_be32(buf + off);
		uint32_t elen = qimg_load_be32(buf + off + QCOW2_EXT_LEN_OFF);
		const uint8_t *d = buf + off + QCOW2_EXT_HDR_LEN;
		uint64_t padded = ((uint64_t)elen + 7) & ~7ull;

		off += QCOW2_EXT_HDR_LEN;
		if (type == QCOW2_EXT_END)
			break;
		if (elen > end - off) {
			qcow2_exts_free(e);
			return qimg_error_set(err, EINVAL,
					      "Header extension too large");
		}
		switch (type) {
		case QCOW2_EXT_BACKING_FMT:
			if (elen > QCOW2_MAX_BACKING_FMT) {
				qcow2_exts_free(e);
				return qimg_error_set(
					err, EINVAL,
					"ERROR: ext_backing_format: len=%" PRIu32
					" too large (>=16)",
					elen);
			}
			free(e->backing_fmt);
			e->backing_fmt = dup_bytes(d, elen);
			if (!e->backing_fmt)
				goto nomem;
			break;
		case QCOW2_EXT_FEATURE_TABLE:
			/* A short last entry counts, zero-padded (as QEMU
			 * reads it); the list ends at an empty name. */
			free(e->features);
			e->nb_features = (elen + QCOW2_FEATURE_ENTRY_LEN - 1) /
					 QCOW2_FEATURE_ENTRY_LEN;
			e->features = calloc(e->nb_features + 1,
					     QCOW2_FEATURE_ENTRY_LEN);
			if (!e->features)
				goto nomem;
			memcpy(e->features, d, elen);
			break;
		case QCOW2_EXT_DATA_FILE:
			free(e->data_file);
			e->data_file = dup_bytes(d, elen);
			if (!e->data_file)
				goto nomem;
			break;
		case QCOW2_EXT_CRYPTO:
			if (elen != QCOW2_EXT_CRYPTO_LEN) {
				qcow2_exts_free(e);
				return qimg_error_set(
					err, EINVAL,
					"Invalid encryption header extension "
					"length");
			}
			e->has_crypto = true;
			e->crypto_offset =
				qimg_load_be64(d + QCOW2_EXT_CRYPTO_OFFSET_OFF);
			e->crypto_length =
				qimg_load_be64(d + QCOW2_EXT_CRYPTO_LENGTH_OFF);
			break;
		case QCOW2_EXT_BITMAPS:
			if (elen != QCOW2_EXT_BITMAPS_LEN) {
				qcow2_exts_free(e);
				return qimg_error_set(
					err, EINVAL,
					"bitmaps_ext: Invalid extension "
					"length");
			}
			e->has_bitmaps = true;
			memcpy(e->bitmaps, d, QCOW2_EXT_BITMAPS_LEN);
			break;
		default:
			/* Keep it verbatim, padding included when present. */
			if (padded >
			    end - (off - QCOW2_EXT_HDR_LEN) - QCOW2_EXT_HDR_LEN)
				padded = elen;
			if (append_bytes(&e->unknown, d - QCOW2_EXT_HDR_LEN,
					 QCOW2_EXT_HDR_LEN + padded) < 0)
				goto nomem;
			break;
		}
		if (padded > end - off)
			break;
		off += padded;
	}

	if (h->backing_file_offset) {
		uint64_t bend;

		if (h->backing_file_size > QCOW2_MAX_BACKING_NAME ||
		    qimg_add_overflow(h->backing_file_offset,
				      (uint64_t)h->backing_file_size, &bend) ||
		    bend > cs || bend > len) {
			qcow2_exts_free(e);
			return qimg_error_set(err, EINVAL,
					      "Backing file name too long");
		}
		if (h->backing_file_size) {
			e->backing_file =
				dup_bytes(buf + h->backing_file_offset,
					  h->backing_file_size);
			if (!e->backing_file)
				goto nomem;
		}
	}
	return 0;
nomem:
	qcow2_exts_free(e);
	return qimg_error_set(err, ENOMEM, "Out of memory");
}

/* "Unsupported qcow2 feature(s): dirty bit, Unknown incompatible feature:
 * 100": names from the image's feature table first (table order), then the
 * remaining bits as one hex mask. */
int qcow2_check_features(const struct qcow2_header *h,
			 const struct qcow2_exts *e, struct qimg_error *err)
{
	uint64_t unknown = h->incompatible_features & ~QCOW2_INCOMPAT_KNOWN;
	char msg[QIMG_ERROR_MSG_MAX];
	size_t pos = 0, i;

	if (!unknown)
		return 0;
	msg[0] = '\0';
	for (i = 0; i < e->nb_features; i++) {
		const uint8_t *f = e->features + i * QCOW2_FEATURE_ENTRY_LEN;
		char name[47];

		if (!f[2])
			break; /* an empty name ends the table */
		if (f[0] != 0 || f[1] >= 64 || !(unknown & (1ull << f[1])))
			continue;
		memcpy(name, f + 2, 46);
		name[46] = '\0';
		pos += (size_t)snprintf(msg + pos, sizeof(msg) - pos, "%s%s",
					pos ? ", " : "", name);
		if (pos >= sizeof(msg))
			pos = sizeof(msg) - 1;
		unknown &= ~(1ull << f[1]);
	}
	if (unknown)
		snprintf(msg + pos, sizeof(msg) - pos,
			 "%sUnknown incompatible feature: %" PRIx64,
			 pos ? ", " : "", unknown);
	return qimg_error_set(err, ENOTSUP, "Unsupported qcow2 feature(s): %s",
			      msg);
}

#define NB_FEATURES 8

static const struct {
	uint8_t type, bit;
	const char *name;
} feature_names[NB_FEATURES] = {
	{ 0, 0, "dirty bit" },
	{ 0, 1, "corrupt bit" },
	{ 0, 2, "external data file" },
	{ 0, 3, "compression type" },
	{ 0, 4, "extended L2 entries" },
	{ 1, 0, "lazy refcounts" },
	{ 2, 0, "bitmaps" },
	{ 2, 1, "raw external data" },
};

/* Append one extension; returns the new offset or 0 when it does not fit
 * below `limit`. */
static size_t put_ext(uint8_t *buf, size_t off, size_t limit, uint32_t type,
		      const void *data, size_t len)
{
	size_t padded = (len + 7) & ~(size_t)7;

	if (off + QCOW2_EXT_HDR_LEN + padded > limit)
		return 0;
	qimg_store_be32(buf + off, type);
	qimg_store_be32(buf + off + QCOW2_EXT_LEN_OFF, (uint32_t)len);
	if (len)
		memcpy(buf + off + QCOW2_EXT_HDR_LEN, data, len);
	return off + QCOW2_EXT_HDR_LEN + padded;
}

int qcow2_header_build(const struct qcow2_header *h, const struct qcow2_exts *e,
		       uint8_t *buf, size_t cluster_size,
		       struct qimg_error *err)
{
	size_t off, blen = e->backing_file ? strlen(e->backing_file) : 0;
	size_t limit = cluster_size - blen;
	uint32_t hlen;

	memset(buf, 0, cluster_size);
	if (blen > QCOW2_MAX_BACKING_NAME)
		return qimg_error_set(err, EINVAL,
				      "Backing file name too long");
	hlen = h->version >= 3 ? h->header_length : QCOW2_V2_HEADER_LEN;
	if (h->version >= 3 && hlen < QCOW2_HEADER_LEN_WRITTEN)
		hlen = QCOW2_HEADER_LEN_WRITTEN;
	if (h->version >= 3 && hlen != QCOW2_HEADER_LEN_WRITTEN + e->tail_len)
		hlen = QCOW2_HEADER_LEN_WRITTEN + (uint32_t)e->tail_len;

	qimg_store_be32(buf + QCOW2_HDR_MAGIC_OFF, QCOW2_MAGIC);
	qimg_store_be32(buf + QCOW2_HDR_VERSION_OFF, h->version);
	qimg_store_be32(buf + QCOW2_HDR_CLUSTER_BITS_OFF, h->cluster_bits);
	qimg_store_be64(buf + QCOW2_HDR_SIZE_OFF, h->size);
	qimg_store_be32(buf + QCOW2_HDR_CRYPT_METHOD_OFF, h->crypt_method);
	qimg_store_be32(buf + QCOW2_HDR_L1_SIZE_OFF, h->l1_size);
	qimg_store_be64(buf + QCOW2_HDR_L1_OFFSET_OFF, h->l1_table_offset);
	qimg_store_be64(buf + QCOW2_HDR_RT_OFFSET_OFF,
			h->refcount_table_offset);
	qimg_store_be32(buf + QCOW2_HDR_RT_CLUSTERS_OFF,
			h->refcount_table_clusters);
	qimg_store_be32(buf + QCOW2_HDR_NB_SNAPSHOTS_OFF, h->nb_snapshots);
	qimg_store_be64(buf + QCOW2_HDR_SNAPSHOTS_OFFSET_OFF,
			h->snapshots_offset);
	off = QCOW2_V2_HEADER_LEN;
	if (h->version >= 3) {
		qimg_store_be64(buf + QCOW2_HDR_INCOMPAT_OFF,
				h->incompatible_features);
		qimg_store_be64(buf + QCOW2_HDR_COMPAT_OFF,
				h->compatible_features);
		qimg_store_be64(buf + QCOW2_HDR_AUTOCLEAR_OFF,
				h->autoclear_features);
		qimg_store_be32(buf + QCOW2_HDR_REFCOUNT_ORDER_OFF,
				h->refcount_order);
		qimg_store_be32(buf + QCOW2_HDR_LENGTH_OFF, hlen);
		buf[QCOW2_HDR_COMPRESSION_TYPE_OFF] = h->compression_type;
		if (e->tail_len)
			memcpy(buf + QCOW2_HEADER_LEN_WRITTEN, e->tail,
			       e->tail_len);
		off = hlen;
	}

	/* QEMU's order: backing format, data file, crypto, feature table,
	 * bitmaps, unknown extensions, end. */
	if (e->backing_fmt &&
	    !(off = put_ext(buf, off, limit, QCOW2_EXT_BACKING_FMT,
			    e->backing_fmt, strlen(e->backing_fmt))))
		goto too_big;
	if (e->data_file &&
	    !(off = put_ext(buf, off, limit, QCOW2_EXT_DATA_FILE, e->data_file,
			    strlen(e->data_file))))
		goto too_big;
	if (e->has_crypto) {
		uint8_t c[QCOW2_EXT_CRYPTO_LEN];

		qimg_store_be64(c + QCOW2_EXT_CRYPTO_OFFSET_OFF,
				e->crypto_offset);
		qimg_store_be64(c + QCOW2_EXT_CRYPTO_LENGTH_OFF,
				e->crypto_length);
		off = put_ext(buf, off, limit, QCOW2_EXT_CRYPTO, c, sizeof(c));
		if (!off)
			goto too_big;
	}
	/* The feature table is left out for small clusters (room for a
	 * backing name) and in v2 images, as QEMU does. */
	if (h->version >= 3 && cluster_size > 4096) {
		uint8_t t[NB_FEATURES * QCOW2_FEATURE_ENTRY_LEN];
		size_t i;

		memset(t, 0, sizeof(t));
		for (i = 0; i < NB_FEATURES; i++) {
			uint8_t *f = t + i * QCOW2_FEATURE_ENTRY_LEN;

			f[0] = feature_names[i].type;
			f[1] = feature_names[i].bit;
			memcpy(f + 2, feature_names[i].name,
			       strlen(feature_names[i].name));
		}
		off = put_ext(buf, off, limit, QCOW2_EXT_FEATURE_TABLE, t,
			      sizeof(t));
		if (!off)
			goto too_big;
	}
	if (e->has_bitmaps &&
	    !(off = put_ext(buf, off, limit, QCOW2_EXT_BITMAPS, e->bitmaps,
			    QCOW2_EXT_BITMAPS_LEN)))
		goto too_big;
	if (e->unknown.len) {
		if (off + e->unknown.len > limit)
			goto too_big;
		memcpy(buf + off, e->unknown.v, e->unknown.len);
		off += e->unknown.len;
	}
	if (off + QCOW2_EXT_HDR_LEN > limit)
		goto too_big;
	off += QCOW2_EXT_HDR_LEN; /* end marker (zeros) */

	if (blen) {
		memcpy(buf + off, e->backing_file, blen);
		qimg_store_be64(buf + QCOW2_HDR_BACKING_OFFSET_OFF, off);
		qimg_store_be32(buf + QCOW2_HDR_BACKING_SIZE_OFF,
				(uint32_t)blen);
	}
	return 0;
too_big:
	return qimg_error_set(err, ENOSPC,
			      "Cannot fit the header extensions and backing "
			      "file name into the header cluster");
}

int qcow2_write_incompat(struct qcow2_state *s, uint64_t v,
			 struct qimg_error *err)
{
	uint8_t b[8];
	int r;

	if (s->h.version < 3)
		return 0;
	qimg_store_be64(b, v);
	r = qimg_pwrite(s->file, QCOW2_HDR_INCOMPAT_OFF, b, sizeof(b), err);
	if (r < 0)
		return r;
	s->h.incompatible_features = v;
	return 0;
}

int qcow2_change_backing(struct qimg_node *node, const char *file,
			 const char *fmt, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qcow2_exts e = s->ext;
	struct qcow2_header h = s->h;
	char *nf = NULL, *nfmt = NULL;
	uint8_t *buf;
	int r;

	if (s->read_only)
		return qimg_error_set(err, EACCES, "Image is read-only");
	if (file && *file) {
		nf = strdup(file);
		if (!nf)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (nf && fmt && *fmt) {
		nfmt = strdup(fmt);
		if (!nfmt) {
			free(nf);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
	}
	e.backing_file = nf;
	e.backing_fmt = nfmt;
	buf = malloc(s->cluster_size);
	if (!buf) {
		free(nf);
		free(nfmt);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	/* One write of cluster 0: the new name and format, or neither. */
	r = qcow2_header_build(&h, &e, buf, s->cluster_size, err);
	if (r == -ENOSPC || r == -EINVAL) {
		qimg_error_clear(err);
		r = qimg_error_set(err, ENOSPC,
				   "No space left in the file header");
	}
	if (r == 0)
		r = qimg_pwrite(s->file, 0, buf, s->cluster_size, err);
	if (r == 0) {
		s->h.backing_file_offset =
			qimg_load_be64(buf + QCOW2_HDR_BACKING_OFFSET_OFF);
		s->h.backing_file_size =
			qimg_load_be32(buf + QCOW2_HDR_BACKING_SIZE_OFF);
	}
	free(buf);
	if (r < 0) {
		free(nf);
		free(nfmt);
		return r;
	}
	free(s->ext.backing_file);
	free(s->ext.backing_fmt);
	s->ext.backing_file = nf;
	s->ext.backing_fmt = nfmt;
	return 0;
}

int qcow2_signal_corruption(struct qcow2_state *s, struct qimg_error *err,
			    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!s->read_only && !s->corrupt) {
		struct qimg_error ignored = { 0 };

		/* Best effort: the corruption is reported either way. */
		s->corrupt = true;
		s->corruption_reported = true;
		qcow2_write_incompat(
			s, s->h.incompatible_features | QCOW2_INCOMPAT_CORRUPT,
			&ignored);
		qimg_error_note(err,
				"qcow2: Marking image as corrupt: %s; further "
				"corruption events will be suppressed",
				msg);
	} else if (!s->corruption_reported) {
		s->corruption_reported = true;
		qimg_error_note(err,
				"qcow2: Image is corrupt: %s; further "
				"non-fatal corruption events will be "
				"suppressed",
				msg);
	}
	/* The request itself fails as an I/O error; the report says why. */
	return qimg_error_set(err, EIO, "%s", strerror(EIO));
}
