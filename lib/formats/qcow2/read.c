/* SPDX-License-Identifier: MIT */
/* qcow2 guest reads (plain, zero, compressed, through to the backing
 * image) and block status.  The mapping is looked up under s->lock; data
 * is read outside it. */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

/* ---- reads ---- */

static int read_compressed(struct qcow2_state *s, uint64_t l2e, uint64_t off,
			   void *buf, size_t len, struct qimg_error *err)
{
	uint64_t coff, nbytes;
	uint8_t *in, *out;
	bool whole;
	int r;

	qcow2_cdesc_decode(s, l2e, &coff, &nbytes);
	if (coff < s->cluster_size)
		return qimg_error_set(err, EUCLEAN,
				      "Compressed cluster at %#" PRIx64
				      " overlaps the image header",
				      coff);
	in = malloc(nbytes);
	/* A whole cluster inflates straight into the caller's buffer. */
	whole = len == s->cluster_size;
	out = whole ? buf : malloc(s->cluster_size);
	if (!in || !out) {
		free(in);
		if (!whole)
			free(out);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	qimg_debug_event(s->file, QIMG_EV_READ_COMPRESSED);
	r = qimg_pread(s->file, coff, in, nbytes, err);
	if (r == 0 && qcow2_decompress_buf(s->h.compression_type, in, nbytes,
					   out, s->cluster_size) < 0)
		r = qimg_error_set(err, EIO,
				   "Could not decompress the "
				   "cluster at %#" PRIx64,
				   coff);
	if (r == 0 && !whole)
		memcpy(buf, out + (off & (s->cluster_size - 1)), len);
	free(in);
	if (!whole)
		free(out);
	return r;
}

int qcow2_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
	       struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	uint8_t *p = buf;
	int r;

	while (len) {
		struct qcow2_map m;

		qcow2_lock(s);
		r = qcow2_map_range(s, off, len, &m, err);
		qcow2_unlock(s);
		if (r < 0)
			return r;
		switch (m.type) {
		case QCOW2_UNALLOCATED:
		case QCOW2_UNALLOCATED_ALLOC:
			r = qimg_read_backing(node, off, p, m.len, err);
			break;
		case QCOW2_ZERO_PLAIN:
		case QCOW2_ZERO_ALLOC:
			memset(p, 0, m.len);
			r = 0;
			break;
		case QCOW2_NORMAL:
			qimg_debug_event(s->file, QIMG_EV_READ_AIO);
			r = qimg_pread(s->data, m.host, p, m.len, err);
			if (r == 0)
				r = qcow2_decrypt(s, off, m.host, p, m.len,
						  err);
			break;
		case QCOW2_COMPRESSED:
			r = read_compressed(s, m.l2e, off, p, m.len, err);
			break;
		default:
			r = qimg_error_set(err, EIO, "Bad cluster type");
			break;
		}
		if (r < 0)
			return r;
		off += m.len;
		p += m.len;
		len -= m.len;
	}
	return 0;
}

/* ---- block status ---- */

/* Does the image look metadata-preallocated: far more clusters in use
 * (refcount > 0) than the host file really stores?  Then data clusters may
 * be holes on the host and block status asks the core to look at the file
 * (the same test qemu-img applies).  Called under the lock. */
static bool detect_metadata_prealloc(struct qcow2_state *s)
{
	struct qimg_error err = { 0 };
	int64_t flen = qimg_node_length(s->file, &err);
	int64_t real = qimg_allocated_size(s->file);
	uint64_t nclusters, real_clusters, threshold, used = 0, c, rc;
	uint64_t looked = 0;

	if (flen <= 0 || real < 0)
		return false;
	nclusters = ((uint64_t)flen + s->cluster_size - 1) >> s->cluster_bits;
	/* "Far more": at least a ninth more, and at least two more. */
	real_clusters = (uint64_t)real / s->cluster_size;
	threshold = real_clusters * 10 / 9;
	if (threshold < real_clusters + 2)
		threshold = real_clusters + 2;
	for (c = 0; c < nclusters && used < threshold; c++) {
		uint64_t rti = c >> s->rb_bits;

		if (rti >= s->rt_entries)
			break;
		if (!s->rt[rti]) {
			/* No refcount block: a whole block of free clusters. */
			c = ((rti + 1) << s->rb_bits) - 1;
			continue;
		}
		/* Bounded work on damaged or absurd images: give up (as "not
		 * preallocated") after 64 Mi clusters. */
		if (++looked > (1u << 26))
			return false;
		if (qcow2_get_refcount(s, c, &rc, &err) < 0) {
			qimg_error_clear(&err);
			return false;
		}
		used += rc != 0;
	}
	return used >= threshold;
}

/* An encrypted image's host bytes are not the guest's: no offsets (and so
 * nothing for the core to look at below), as qemu-img map shows them. */
static int encrypted_status(enum qcow2_ctype type, struct qimg_extent *ext)
{
	switch (type) {
	case QCOW2_UNALLOCATED:
	case QCOW2_UNALLOCATED_ALLOC:
		break;
	case QCOW2_ZERO_PLAIN:
	case QCOW2_ZERO_ALLOC:
		ext->flags = QIMG_BS_ZERO | QIMG_BS_ALLOCATED;
		break;
	default:
		ext->flags = QIMG_BS_DATA | QIMG_BS_ALLOCATED;
		break;
	}
	return 0;
}

int qcow2_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_extent *ext, struct qimg_error *err)
{
	struct qcow2_state *s = node->opaque;
	struct qcow2_map m, n;
	uint64_t total;
	int r;

	qcow2_lock(s);
	if (!s->prealloc_checked) {
		/* Data in a data file is not counted: never "preallocated",
		 * and its holes are not looked at (qemu-img map says data). */
		s->metadata_prealloc =
			!s->ext_data && detect_metadata_prealloc(s);
		s->prealloc_checked = true;
	}
	r = qcow2_map_range(s, off, len, &m, err);
	total = r < 0 ? 0 : m.len;
	/* Merge following runs of the same kind (and contiguous host). */
	while (r == 0 && total < len && m.type != QCOW2_COMPRESSED) {
		r = qcow2_map_range(s, off + total, len - total, &n, err);
		if (r < 0 || n.type != m.type)
			break;
		if ((m.type == QCOW2_NORMAL || m.type == QCOW2_ZERO_ALLOC ||
		     m.type == QCOW2_UNALLOCATED_ALLOC) &&
		    n.host != m.host + total)
			break;
		total += n.len;
	}
	qcow2_unlock(s);
	if (r < 0)
		return r;

	memset(ext, 0, sizeof(*ext));
	ext->len = total;
	if (s->h.crypt_method)
		return encrypted_status(m.type, ext);
	switch (m.type) {
	case QCOW2_UNALLOCATED:
		ext->flags = 0;
		break;
	case QCOW2_UNALLOCATED_ALLOC:
		/* Reserved host space that does not define the content. */
		ext->flags = QIMG_BS_OFFSET_VALID;
		ext->map = m.host;
		ext->file = s->data;
		break;
	case QCOW2_ZERO_PLAIN:
		ext->flags = QIMG_BS_ZERO | QIMG_BS_ALLOCATED;
		break;
	case QCOW2_ZERO_ALLOC:
		ext->flags =
			QIMG_BS_ZERO | QIMG_BS_ALLOCATED | QIMG_BS_OFFSET_VALID;
		ext->map = m.host;
		ext->file = s->data;
		break;
	case QCOW2_NORMAL:
		ext->flags =
			QIMG_BS_DATA | QIMG_BS_ALLOCATED | QIMG_BS_OFFSET_VALID;
		if (s->metadata_prealloc)
			ext->flags |= QIMG_BS_RECURSE;
		ext->map = m.host;
		ext->file = s->data;
		break;
	default:
		ext->flags = QIMG_BS_DATA | QIMG_BS_ALLOCATED;
		break;
	}
	return 0;
}
