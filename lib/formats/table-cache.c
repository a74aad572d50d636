/* SPDX-License-Identifier: MIT */
/* A format's table through a page cache (table-cache.h). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/table-cache.h"
#include "util/endian.h"

#define SECTOR 512u

static void drop_pages(struct qimg_tcache *c)
{
	size_t k;

	for (k = 0; k < QIMG_TC_SLOTS; k++) {
		c->slot[k].page = 0;
		c->slot[k].last = 0;
	}
}

void qimg_tc_init(struct qimg_tcache *c, struct qimg_node *file, uint64_t off,
		  uint64_t len, uint64_t held)
{
	memset(c, 0, sizeof(*c));
	c->file = file;
	c->off = off;
	c->len = len;
	c->held = held < len ? held : len;
	c->nslots = QIMG_TC_SLOTS;
	pthread_mutex_init(&c->lock, NULL);
}

void qimg_tc_limit(struct qimg_tcache *c, size_t slots)
{
	c->nslots = slots < 1		    ? 1
		    : slots > QIMG_TC_SLOTS ? QIMG_TC_SLOTS
					    : slots;
}

void qimg_tc_free(struct qimg_tcache *c)
{
	size_t k;

	for (k = 0; k < QIMG_TC_SLOTS; k++) {
		free(c->slot[k].buf);
		c->slot[k].buf = NULL;
	}
	drop_pages(c);
	pthread_mutex_destroy(&c->lock);
}

void qimg_tc_reset(struct qimg_tcache *c, uint64_t off, uint64_t len,
		   uint64_t held)
{
	pthread_mutex_lock(&c->lock);
	drop_pages(c);
	c->off = off;
	c->len = len;
	c->held = held < len ? held : len;
	pthread_mutex_unlock(&c->lock);
}

/* Lock held: the cached page p (p * QIMG_TC_PAGE < len), loaded into the
 * least recently used slot when it is not there. */
static int page_of(struct qimg_tcache *c, uint64_t p, uint8_t **out,
		   struct qimg_error *err)
{
	uint64_t first = p * QIMG_TC_PAGE, n, fill;
	size_t k, pick = 0;
	uint8_t *buf;
	int r;

	c->tick++;
	if (c->slot[c->hint].page != p + 1) {
		for (k = 0; k < c->nslots; k++) {
			if (c->slot[k].page == p + 1)
				break;
			if (c->slot[k].last < c->slot[pick].last)
				pick = k;
		}
		c->hint = k < c->nslots ? k : pick;
	}
	k = c->hint;
	if (c->slot[k].page == p + 1) {
		c->slot[k].last = c->tick;
		*out = c->slot[k].buf;
		return 0;
	}
	if (!c->slot[k].buf) {
		c->slot[k].buf = malloc(QIMG_TC_PAGE);
		if (!c->slot[k].buf)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	buf = c->slot[k].buf;
	c->slot[k].page = 0;
	c->slot[k].last = 0;
	n = c->len - first < QIMG_TC_PAGE ? c->len - first : QIMG_TC_PAGE;
	fill = c->held > first ? c->held - first : 0;
	if (fill > n)
		fill = n;
	memset(buf + fill, 0, QIMG_TC_PAGE - fill);
	if (fill) {
		r = qimg_pread(c->file, c->off + first, buf, (size_t)fill, err);
		if (r < 0)
			return r;
	}
	c->slot[k].page = p + 1;
	c->slot[k].last = c->tick;
	*out = buf;
	return 0;
}

/* Lock held: copy bytes [pos, pos + n) of the table out of (to_cache:
 * into) the cache. */
static int move_bytes(struct qimg_tcache *c, uint64_t pos, uint8_t *mem,
		      size_t n, bool to_cache, struct qimg_error *err)
{
	while (n) {
		uint64_t in = pos % QIMG_TC_PAGE;
		size_t m =
			QIMG_TC_PAGE - in < n ? (size_t)(QIMG_TC_PAGE - in) : n;
		uint8_t *pg = NULL;
		int r;

		if (pos >= c->len) {
			if (to_cache)
				return qimg_error_set(err, EINVAL,
						      "Invalid argument");
			memset(mem, 0, n);
			return 0;
		}
		if (m > c->len - pos)
			m = (size_t)(c->len - pos);
		r = page_of(c, pos / QIMG_TC_PAGE, &pg, err);
		if (r < 0)
			return r;
		if (to_cache)
			memcpy(pg + in, mem, m);
		else
			memcpy(mem, pg + in, m);
		pos += m;
		mem += m;
		n -= m;
	}
	return 0;
}

int qimg_tc_read(struct qimg_tcache *c, uint64_t pos, void *out, size_t n,
		 struct qimg_error *err)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = move_bytes(c, pos, out, n, false, err);
	pthread_mutex_unlock(&c->lock);
	return r;
}

static size_t enc_width(enum qimg_tc_enc enc)
{
	return enc == QIMG_TC_LE32 || enc == QIMG_TC_BE32 ? 4 : 8;
}

/* Entries decoded in place (the bytes as on disk are as wide as the
 * host-order entries). */
static int read_entries(struct qimg_tcache *c, uint64_t first, void *out,
			size_t n, enum qimg_tc_enc enc, struct qimg_error *err)
{
	size_t width = enc_width(enc), k;
	uint32_t *o32 = out;
	uint64_t *o64 = out;
	int r;

	if (first > UINT64_MAX / width)
		first = UINT64_MAX / width;
	r = qimg_tc_read(c, first * width, out, n * width, err);
	for (k = 0; r == 0 && k < n; k++) {
		if (enc == QIMG_TC_LE32)
			o32[k] = qimg_load_le32(&o32[k]);
		else if (enc == QIMG_TC_BE32)
			o32[k] = qimg_load_be32(&o32[k]);
		else if (enc == QIMG_TC_LE64)
			o64[k] = qimg_load_le64(&o64[k]);
		else
			o64[k] = qimg_load_be64(&o64[k]);
	}
	return r;
}

int qimg_tc_read_le32(struct qimg_tcache *c, uint64_t first, uint32_t *out,
		      size_t n, struct qimg_error *err)
{
	return read_entries(c, first, out, n, QIMG_TC_LE32, err);
}

int qimg_tc_read_be32(struct qimg_tcache *c, uint64_t first, uint32_t *out,
		      size_t n, struct qimg_error *err)
{
	return read_entries(c, first, out, n, QIMG_TC_BE32, err);
}

int qimg_tc_read_le64(struct qimg_tcache *c, uint64_t first, uint64_t *out,
		      size_t n, struct qimg_error *err)
{
	return read_entries(c, first, out, n, QIMG_TC_LE64, err);
}

int qimg_tc_read_be64(struct qimg_tcache *c, uint64_t first, uint64_t *out,
		      size_t n, struct qimg_error *err)
{
	return read_entries(c, first, out, n, QIMG_TC_BE64, err);
}

static uint64_t sector_of(const struct qimg_tcache *c, uint64_t pos)
{
	return (c->off + pos) / SECTOR;
}

int qimg_tc_commit(struct qimg_tcache *c, const uint64_t *pos,
		   const uint8_t *vals, size_t width, size_t n,
		   struct qimg_error *err)
{
	uint8_t old[SECTOR], buf[SECTOR + 16];
	size_t k = 0, j, m, saved;
	int r = 0;

	if (width == 0 || width > 16)
		return qimg_error_set(err, EINVAL, "Invalid argument");
	pthread_mutex_lock(&c->lock);
	while (r == 0 && k < n) {
		uint64_t sec = sector_of(c, pos[k]), lo = pos[k], hi = 0;

		/* the run: entries in this sector, set in the cache (a page
		 * just changed is the most recently used, so loading the
		 * other page a sector may reach into does not evict it) */
		saved = 0;
		for (j = k, m = 0; j < n && sector_of(c, pos[j]) == sec &&
				   (m + 1) * width <= SECTOR;
		     j++, m++) {
			if (pos[j] > c->len || width > c->len - pos[j]) {
				r = qimg_error_set(err, EINVAL,
						   "Invalid argument");
				break;
			}
			r = move_bytes(c, pos[j], old + m * width, width, false,
				       err);
			if (r < 0)
				break;
			saved = m + 1;
			r = move_bytes(c, pos[j], (uint8_t *)vals + j * width,
				       width, true, err);
			if (r < 0)
				break;
			lo = pos[j] < lo ? pos[j] : lo;
			hi = pos[j] + width > hi ? pos[j] + width : hi;
		}
		if (r == 0 && hi - lo > sizeof(buf))
			r = qimg_error_set(err, EINVAL, "Invalid argument");
		if (r == 0)
			r = move_bytes(c, lo, buf, (size_t)(hi - lo), false,
				       err);
		if (r == 0)
			r = qimg_pwrite(c->file, c->off + lo, buf,
					(size_t)(hi - lo), err);
		if (r < 0) {
			/* not on the disk: forgotten */
			while (saved--)
				(void)move_bytes(
					c, pos[k + saved], old + saved * width,
					width, true, &(struct qimg_error){ 0 });
			break;
		}
		if (hi > c->held)
			c->held = hi;
		k = j;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static void encode(uint8_t *p, uint64_t v, enum qimg_tc_enc enc)
{
	if (enc == QIMG_TC_LE32)
		qimg_store_le32(p, (uint32_t)v);
	else if (enc == QIMG_TC_BE32)
		qimg_store_be32(p, (uint32_t)v);
	else if (enc == QIMG_TC_LE64)
		qimg_store_le64(p, v);
	else
		qimg_store_be64(p, v);
}

#define ENTRIES_AT_ONCE 64

/* Entries encoded a chunk at a time (e: uint32_t for LE32, else uint64_t)
 * and committed. */
static int commit_entries(struct qimg_tcache *c, const uint64_t *idx,
			  const void *e, size_t n, enum qimg_tc_enc enc,
			  struct qimg_error *err)
{
	size_t width = enc_width(enc), k = 0, m;
	const uint32_t *e32 = e;
	const uint64_t *e64 = e;
	uint64_t pos[ENTRIES_AT_ONCE];
	uint8_t vals[ENTRIES_AT_ONCE * 8];
	int r = 0;

	while (r == 0 && k < n) {
		for (m = 0; m < ENTRIES_AT_ONCE && k + m < n; m++) {
			pos[m] = idx[k + m] * width;
			encode(vals + m * width,
			       width == 4 ? e32[k + m] : e64[k + m], enc);
		}
		r = qimg_tc_commit(c, pos, vals, width, m, err);
		k += m;
	}
	return r;
}

int qimg_tc_commit_le32(struct qimg_tcache *c, const uint64_t *idx,
			const uint32_t *e, size_t n, struct qimg_error *err)
{
	return commit_entries(c, idx, e, n, QIMG_TC_LE32, err);
}

int qimg_tc_commit_be32(struct qimg_tcache *c, const uint64_t *idx,
			const uint32_t *e, size_t n, struct qimg_error *err)
{
	return commit_entries(c, idx, e, n, QIMG_TC_BE32, err);
}

int qimg_tc_commit_le64(struct qimg_tcache *c, const uint64_t *idx,
			const uint64_t *e, size_t n, struct qimg_error *err)
{
	return commit_entries(c, idx, e, n, QIMG_TC_LE64, err);
}

int qimg_tc_commit_be64(struct qimg_tcache *c, const uint64_t *idx,
			const uint64_t *e, size_t n, struct qimg_error *err)
{
	return commit_entries(c, idx, e, n, QIMG_TC_BE64, err);
}

int qimg_tc_commit_run(struct qimg_tcache *c, uint64_t first, const void *e,
		       uint64_t fill, size_t n, enum qimg_tc_enc enc,
		       struct qimg_error *err)
{
	size_t width = enc_width(enc), done = 0;
	const uint32_t *e32 = e;
	const uint64_t *e64 = e;
	uint8_t *buf, *old;
	int r = 0;

	if (first > c->len / width || n > (c->len / width) - first)
		return qimg_error_set(err, EINVAL, "Invalid argument");
	buf = malloc(2 * (size_t)QIMG_TC_PAGE);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	old = buf + QIMG_TC_PAGE;
	pthread_mutex_lock(&c->lock);
	while (r == 0 && done < n) {
		uint64_t pos = (first + done) * width;
		size_t m = (size_t)((QIMG_TC_PAGE - pos % QIMG_TC_PAGE) /
				    width),
		       k;

		if (m > n - done)
			m = n - done;
		for (k = 0; k < m; k++)
			encode(buf + k * width,
			       !e	    ? fill
			       : width == 4 ? e32[done + k]
					    : e64[done + k],
			       enc);
		r = move_bytes(c, pos, old, m * width, false, err);
		if (r == 0)
			r = move_bytes(c, pos, buf, m * width, true, err);
		if (r == 0) {
			r = qimg_pwrite(c->file, c->off + pos, buf, m * width,
					err);
			/* not on the disk: forgotten */
			if (r < 0)
				(void)move_bytes(c, pos, old, m * width, true,
						 &(struct qimg_error){ 0 });
		}
		if (r == 0 && pos + m * width > c->held)
			c->held = pos + m * width;
		done += m;
	}
	pthread_mutex_unlock(&c->lock);
	free(buf);
	return r;
}

int qimg_tc_copy_out(struct qimg_tcache *c, uint64_t dst, uint64_t keep,
		     uint64_t len, uint8_t fill, struct qimg_error *err)
{
	uint8_t *page = malloc(QIMG_TC_PAGE);
	uint64_t done;
	int r = 0;

	if (!page)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (done = 0; r == 0 && done < len; done += QIMG_TC_PAGE) {
		size_t m = len - done < QIMG_TC_PAGE ? (size_t)(len - done)
						     : QIMG_TC_PAGE;
		size_t old = done >= keep		 ? 0
			     : keep - done < (uint64_t)m ? (size_t)(keep - done)
							 : m;

		memset(page, fill, m);
		if (old)
			r = qimg_tc_read(c, done, page, old, err);
		if (r == 0)
			r = qimg_pwrite(c->file, dst + done, page, m, err);
	}
	free(page);
	return r;
}
