/* SPDX-License-Identifier: MIT */
/* QED writes: in-place writes to allocated clusters; allocating writes
 * append data clusters (the partial first and last filled from the
 * backing file, or zeros) and then, when needed, a new L2 table at the end
 * of the file, and point the tables at them (each flushed before what
 * names it).  NEED_CHECK is set (and flushed) before the first allocation
 * and cleared at a clean close, so an interrupted run leaves an image
 * that the next read-write open checks.
 * Also: zero writes, resize and the backing file link. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "formats/qed/qed.h"
#include "util/buf.h"
#include "util/endian.h"

static int set_need_check(struct qed_state *s, struct qimg_error *err)
{
	int r;

	if (s->h.features & QED_F_NEED_CHECK) {
		s->need_check_set = true;
		return 0;
	}
	s->h.features |= QED_F_NEED_CHECK;
	r = qed_write_header(s, err);
	if (r == 0)
		r = qimg_flush(s->file, err);
	if (r < 0) {
		s->h.features &= ~(uint64_t)QED_F_NEED_CHECK;
		return r;
	}
	s->need_check_set = true;
	return 0;
}

int qed_mark_clean(struct qed_state *s, struct qimg_error *err)
{
	int r;

	s->h.features &= ~(uint64_t)QED_F_NEED_CHECK;
	r = qed_write_header(s, err);
	if (r == 0)
		r = qimg_flush(s->file, err);
	if (r == 0)
		s->need_check_set = false;
	return r;
}

/* The L2 entry of the cluster at guest offset `off` (0 when the L1 entry
 * is empty).  A damaged table offset is EINVAL, as qemu fails such
 * requests. */
static int entry_of(struct qed_state *s, uint64_t off, uint64_t *e,
		    struct qimg_error *err)
{
	struct qimg_tcache *l2;
	uint64_t l2off;
	int r;

	*e = 0;
	r = qed_l1_get(s, off / (s->entries << s->cluster_bits), &l2off, err);
	if (r < 0 || !l2off)
		return r;
	if (!qed_table_ok(s, l2off))
		return qimg_error_set(err, EINVAL, "Invalid argument");
	r = qed_l2_get(s, l2off, &l2, err);
	if (r == 0)
		r = qimg_tc_read_le64(
			l2, (off >> s->cluster_bits) & (s->entries - 1), e, 1,
			err);
	if (r < 0)
		return r;
	if (*e > QED_ZERO_CLUSTER && !qed_cluster_ok(s, *e))
		return qimg_error_set(err, EINVAL, "Invalid argument");
	return 0;
}

#define NEW_TABLE_CHUNK (1u << 20)

/* A new L2 table at `l2off` (past the end of the file): zeros but for
 * entries [first, first + n) = vals (NULL: QED_ZERO_CLUSTER), written in
 * pieces of at most 1 MiB (one write for the default 256 KiB table). */
static int write_new_table(struct qed_state *s, uint64_t l2off, uint64_t first,
			   uint64_t n, const uint64_t *vals,
			   struct qimg_error *err)
{
	uint64_t chunk = s->table_bytes < NEW_TABLE_CHUNK ? s->table_bytes
							  : NEW_TABLE_CHUNK;
	uint64_t pos, per = chunk / 8;
	uint8_t *buf;
	int r = 0;

	buf = malloc(chunk);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (pos = 0; r == 0 && pos < s->table_bytes; pos += chunk) {
		uint64_t lo = pos / 8, hi = lo + per, i;

		memset(buf, 0, chunk);
		for (i = lo > first ? lo : first; i < hi && i < first + n; i++)
			qimg_store_le64(buf + (i - lo) * 8,
					vals ? vals[i - first]
					     : QED_ZERO_CLUSTER);
		r = qimg_pwrite(s->file, l2off + pos, buf, chunk, err);
	}
	free(buf);
	return r;
}

/* Set entries [first, first+n) of the L2 table for L1 index `l1i` to
 * vals[0..n) (NULL: all QED_ZERO_CLUSTER), allocating the table at the
 * end of the file when there is none. */
static int update_l2(struct qed_state *s, uint64_t l1i, uint64_t first,
		     uint64_t n, const uint64_t *vals, struct qimg_error *err)
{
	struct qimg_tcache *t;
	uint64_t l2off;
	int r;

	r = qed_l1_get(s, l1i, &l2off, err);
	if (r < 0)
		return r;
	if (l2off) {
		r = qed_l2_get(s, l2off, &t, err);
		if (r < 0)
			return r;
		qimg_debug_event(s->file, QIMG_EV_L2_UPDATE);
		return qimg_tc_commit_run(t, first, vals, QED_ZERO_CLUSTER,
					  (size_t)n, QIMG_TC_LE64, err);
	}
	/* A new table: written whole, then hooked into L1. */
	l2off = s->file_size;
	qimg_debug_event(s->file, QIMG_EV_L2_ALLOC_WRITE);
	r = write_new_table(s, l2off, first, n, vals, err);
	if (r < 0)
		return r;
	s->file_size += s->table_bytes;
	/* on the disk before L1 names it */
	r = qimg_flush(s->file, err);
	if (r < 0)
		return r;
	qimg_debug_event(s->file, QIMG_EV_L1_UPDATE);
	return qimg_tc_commit_run(&s->l1, l1i, &l2off, 0, 1, QIMG_TC_LE64, err);
}

/* Fill buf (len bytes of guest data at `off`) as an unwritten part of a
 * newly allocated cluster reads: from the backing file for an
 * unallocated cluster, zeros for a zero cluster or past the image end. */
static int cow_fill(struct qimg_node *node, uint64_t off, uint8_t *buf,
		    uint64_t len, bool zero, struct qimg_error *err)
{
	uint64_t n = len;

	memset(buf, 0, len);
	if (zero || !node->backing || off >= node->size)
		return 0;
	if (off + n > node->size)
		n = node->size - off;
	qimg_debug_event(node->file, QIMG_EV_COW_READ);
	return qimg_read_backing(node, off, buf, n, err);
}

/* Allocate clusters for [off, off + len) (all unallocated or zero, all in
 * the table of one L1 entry) and write buf there. */
static int write_alloc(struct qimg_node *node, uint64_t off, const void *buf,
		       uint64_t len, bool first_zero, bool last_zero,
		       struct qimg_error *err)
{
	struct qed_state *s = node->opaque;
	uint64_t cs = s->h.cluster_size;
	uint64_t start = off & ~(cs - 1);
	uint64_t end = (off + len + cs - 1) & ~(cs - 1);
	uint64_t n = (end - start) / cs, host, *vals, i;
	/* whole clusters are written from the caller's buffer */
	bool whole = off == start && off + len == end;
	uint8_t *data = NULL;
	int r;

	r = set_need_check(s, err);
	if (r < 0)
		return r;
	if (!whole)
		data = qimg_buf_alloc(end - start);
	vals = malloc(n * sizeof(*vals));
	if ((!whole && !data) || !vals) {
		free(data);
		free(vals);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = 0;
	if (!whole && off > start)
		r = cow_fill(node, start, data, off - start, first_zero, err);
	if (r == 0 && !whole && off + len < end)
		r = cow_fill(node, off + len, data + (off + len - start),
			     end - off - len, last_zero, err);
	if (r < 0)
		goto out;
	if (!whole)
		memcpy(data + (off - start), buf, len);
	host = s->file_size;
	s->file_size += end - start;
	qimg_debug_event(s->file, QIMG_EV_WRITE_AIO);
	r = qimg_pwrite(s->file, host, whole ? buf : data, end - start, err);
	/* the data on the disk before a table names it: a crash leaves
	 * unnamed clusters (leaks), never an entry over lost data */
	if (r == 0)
		r = qimg_flush(s->file, err);
	if (r < 0)
		goto out;
	for (i = 0; i < n; i++)
		vals[i] = host + i * cs;
	r = update_l2(s, start / (s->entries * cs),
		      (start / cs) & (s->entries - 1), n, vals, err);
out:
	free(data);
	free(vals);
	return r;
}

int qed_write(struct qimg_node *node, uint64_t off, const void *buf, size_t len,
	      struct qimg_error *err)
{
	struct qed_state *s = node->opaque;
	uint64_t cs = s->h.cluster_size, span = s->entries * cs;
	const uint8_t *p = buf;
	int r;

	while (len) {
		uint64_t e, host, run, limit;
		bool data, first_zero, last_zero = false;

		r = entry_of(s, off, &e, err);
		if (r < 0)
			return r;
		data = e > QED_ZERO_CLUSTER;
		first_zero = e == QED_ZERO_CLUSTER;
		host = e + (off & (cs - 1));
		run = cs - (off & (cs - 1));
		/* Allocating runs stay inside one L2 table. */
		limit = data ? len : span - off % span;
		if (limit > len)
			limit = len;
		while (run < limit) {
			uint64_t e2;

			r = entry_of(s, off + run, &e2, err);
			if (r < 0)
				return r;
			if (data ? e2 != host + run : e2 > QED_ZERO_CLUSTER)
				break;
			last_zero = e2 == QED_ZERO_CLUSTER;
			run += cs;
		}
		if (run > limit)
			run = limit;
		if (run <= cs - (off & (cs - 1)))
			last_zero = first_zero;
		if (data) {
			qimg_debug_event(s->file, QIMG_EV_WRITE_AIO);
			r = qimg_pwrite(s->file, host, p, run, err);
		} else {
			r = write_alloc(node, off, p, run, first_zero,
					last_zero, err);
		}
		if (r < 0)
			return r;
		p += run;
		off += run;
		len -= run;
	}
	return 0;
}

int qed_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		     unsigned int flags, struct qimg_error *err)
{
	struct qed_state *s = node->opaque;
	uint64_t cs = s->h.cluster_size, span = s->entries * cs;
	int r;

	(void)flags;
	if ((off | len) & (cs - 1))
		return -ENOTSUP;
	while (len) {
		uint64_t e, run = cs, limit = span - off % span;

		r = entry_of(s, off, &e, err);
		if (r < 0)
			return r;
		if (e > QED_ZERO_CLUSTER) {
			/* Allocated: zeroed in place. */
			r = qimg_write_zeroes(s->file, e, cs, 0, err);
		} else if (e == QED_ZERO_CLUSTER) {
			r = 0;
		} else {
			if (limit > len)
				limit = len;
			while (run < limit) {
				uint64_t e2;

				r = entry_of(s, off + run, &e2, err);
				if (r < 0)
					return r;
				if (e2)
					break;
				run += cs;
			}
			r = set_need_check(s, err);
			if (r == 0)
				r = update_l2(s, off / span,
					      (off / cs) & (s->entries - 1),
					      run / cs, NULL, err);
		}
		if (r < 0)
			return r;
		off += run;
		len -= run;
	}
	return 0;
}

int qed_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct qed_state *s = node->opaque;

	return qimg_flush(s->file, err);
}

int qed_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
		 const char *prealloc, struct qimg_error *err)
{
	struct qed_state *s = node->opaque;
	uint64_t old = s->h.image_size;
	int r;

	(void)flags;
	r = qimg_truncate_prealloc_off(prealloc, err);
	if (r < 0)
		return r;
	if (size % 512 ||
	    size > qed_max_image_size(s->h.cluster_size, s->h.table_size))
		return qimg_error_set(err, EINVAL,
				      "Invalid image size specified");
	if (size < old)
		return qimg_error_set(err, ENOTSUP,
				      "Shrinking images is currently not "
				      "supported");
	s->h.image_size = size;
	r = qed_write_header(s, err);
	if (r == 0)
		r = qimg_flush(s->file, err);
	if (r < 0) {
		s->h.image_size = old;
		return r;
	}
	node->size = size;
	return 0;
}

int qed_change_backing(struct qimg_node *node, const char *file,
		       const char *fmt, struct qimg_error *err)
{
	struct qed_state *s = node->opaque;
	struct qed_header h = s->h;
	size_t nlen = file ? strlen(file) : 0;
	uint8_t *buf;
	int r;

	if (s->read_only)
		return qimg_error_set(err, EACCES, "Image is read-only");
	h.features &=
		~(uint64_t)(QED_F_BACKING_FILE | QED_F_BACKING_FORMAT_NO_PROBE);
	if (nlen) {
		h.features |= QED_F_BACKING_FILE;
		if (fmt && !strcmp(fmt, "raw"))
			h.features |= QED_F_BACKING_FORMAT_NO_PROBE;
	}
	h.backing_off = QED_HEADER_LEN;
	h.backing_len = (uint32_t)nlen;
	if (QED_HEADER_LEN + (uint64_t)nlen >
	    (uint64_t)h.header_size * h.cluster_size)
		return qimg_error_set(err, ENOSPC, "No space left on device");
	buf = malloc(QED_HEADER_LEN + nlen);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	qed_header_store(&h, buf);
	if (nlen)
		memcpy(buf + QED_HEADER_LEN, file, nlen);
	r = qimg_pwrite(s->file, 0, buf, QED_HEADER_LEN + nlen, err);
	if (r == 0)
		r = qimg_flush(s->file, err);
	free(buf);
	if (r < 0)
		return r;
	s->h = h;
	return 0;
}
