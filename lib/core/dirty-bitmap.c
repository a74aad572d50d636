/* SPDX-License-Identifier: MIT */
/* Dirty bitmaps in memory (lib/core/dirty-bitmap.h): bits in lazily
 * allocated chunks laid out as on disk, the set a driver keeps per image,
 * and the bit operations the user's commands and guest writes need. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/dirty-bitmap.h"
#include "util/buf.h"
#include "util/vector.h"

/* ---- bits in a byte array ---------------------------------------------- */

static void bits_set(uint8_t *p, uint64_t a, uint64_t b)
{
	while (a < b && (a & 7))
		p[a >> 3] |= (uint8_t)(1u << (a & 7)), a++;
	if (b - a >= 8 && a < b) {
		memset(p + (a >> 3), 0xff, (b - a) >> 3);
		a += (b - a) & ~7ull;
	}
	while (a < b)
		p[a >> 3] |= (uint8_t)(1u << (a & 7)), a++;
}

static void bits_clear(uint8_t *p, uint64_t a, uint64_t b)
{
	while (a < b && (a & 7))
		p[a >> 3] &= (uint8_t) ~(1u << (a & 7)), a++;
	if (b - a >= 8 && a < b) {
		memset(p + (a >> 3), 0, (b - a) >> 3);
		a += (b - a) & ~7ull;
	}
	while (a < b)
		p[a >> 3] &= (uint8_t) ~(1u << (a & 7)), a++;
}

/* ---- one bitmap -------------------------------------------------------- */

uint64_t qimg_dbm_bits(const struct qimg_dirty_bitmap *bm)
{
	return (bm->size >> bm->gran_bits) +
	       ((bm->size & ((1ull << bm->gran_bits) - 1)) != 0);
}

uint64_t qimg_dbm_chunk_coverage(const struct qimg_dirty_bitmap *bm)
{
	return 1ull << (bm->chunk_bits + 3 + bm->gran_bits);
}

static uint64_t chunks_for(uint64_t nbits, uint32_t chunk_bits)
{
	uint32_t cb = chunk_bits + 3;

	return (nbits >> cb) + ((nbits & ((1ull << cb) - 1)) != 0);
}

struct qimg_dirty_bitmap *qimg_dbm_new(const char *name, uint64_t size,
				       uint32_t gran_bits, uint32_t chunk_bits)
{
	struct qimg_dirty_bitmap *bm = calloc(1, sizeof(*bm));

	if (!bm)
		return NULL;
	bm->name = strdup(name);
	bm->size = size;
	bm->gran_bits = gran_bits;
	bm->chunk_bits = chunk_bits;
	bm->enabled = true;
	bm->nchunks = chunks_for(qimg_dbm_bits(bm), chunk_bits);
	bm->chunk = calloc(bm->nchunks ? bm->nchunks : 1, sizeof(uint8_t *));
	if (!bm->name || !bm->chunk) {
		qimg_dbm_free(bm);
		return NULL;
	}
	return bm;
}

void qimg_dbm_clear(struct qimg_dirty_bitmap *bm)
{
	uint64_t i;

	for (i = 0; i < bm->nchunks; i++) {
		free(bm->chunk[i]);
		bm->chunk[i] = NULL;
	}
}

void qimg_dbm_free(struct qimg_dirty_bitmap *bm)
{
	if (!bm)
		return;
	if (bm->chunk)
		qimg_dbm_clear(bm);
	free(bm->chunk);
	free(bm->name);
	free(bm);
}

static uint8_t *chunk_get(struct qimg_dirty_bitmap *bm, uint64_t i)
{
	if (!bm->chunk[i])
		bm->chunk[i] = calloc(1, (size_t)1 << bm->chunk_bits);
	return bm->chunk[i];
}

/* Set bits [a, b) (a < b <= number of bits). */
static int set_bits(struct qimg_dirty_bitmap *bm, uint64_t a, uint64_t b)
{
	uint32_t cb = bm->chunk_bits + 3;

	while (a < b) {
		uint64_t c = a >> cb, base = c << cb;
		uint64_t end =
			b - base > (1ull << cb) ? base + (1ull << cb) : b;
		uint8_t *p = chunk_get(bm, c);

		if (!p)
			return -ENOMEM;
		bits_set(p, a - base, end - base);
		a = end;
	}
	return 0;
}

int qimg_dbm_set(struct qimg_dirty_bitmap *bm, uint64_t off, uint64_t len)
{
	uint64_t nbits = qimg_dbm_bits(bm), first, last;

	if (!len || off >= bm->size)
		return 0;
	if (len > bm->size - off)
		len = bm->size - off;
	first = off >> bm->gran_bits;
	last = (off + len - 1) >> bm->gran_bits;
	if (last >= nbits)
		last = nbits - 1;
	return set_bits(bm, first, last + 1);
}

bool qimg_dbm_get(const struct qimg_dirty_bitmap *bm, uint64_t bit)
{
	uint32_t cb = bm->chunk_bits + 3;
	const uint8_t *p;

	if (bit >= qimg_dbm_bits(bm))
		return false;
	p = bm->chunk[bit >> cb];
	bit &= (1ull << cb) - 1;
	return p && (p[bit >> 3] & (1u << (bit & 7)));
}

/* The first run of set bits starting at or after `from`: [*a, *b).  False
 * when there is none. */
static bool next_run(const struct qimg_dirty_bitmap *bm, uint64_t from,
		     uint64_t *a, uint64_t *b)
{
	uint64_t nbits = qimg_dbm_bits(bm), k = from;
	uint32_t cb = bm->chunk_bits + 3;

	/* Find the start. */
	while (k < nbits) {
		const uint8_t *p = bm->chunk[k >> cb];

		if (!p) {
			k = ((k >> cb) + 1) << cb;
			continue;
		}
		if (!(k & 7) && !p[(k & ((1ull << cb) - 1)) >> 3]) {
			k += 8;
			continue;
		}
		if (qimg_dbm_get(bm, k))
			break;
		k++;
	}
	if (k >= nbits)
		return false;
	*a = k;
	/* Find the end. */
	while (k < nbits) {
		const uint8_t *p = bm->chunk[k >> cb];

		if (!p)
			break;
		if (!(k & 7) && p[(k & ((1ull << cb) - 1)) >> 3] == 0xff) {
			k += 8;
			continue;
		}
		if (!qimg_dbm_get(bm, k))
			break;
		k++;
	}
	*b = k < nbits ? k : nbits;
	return true;
}

int qimg_dbm_merge(struct qimg_dirty_bitmap *dst,
		   const struct qimg_dirty_bitmap *src)
{
	uint64_t i, a, b, k = 0;
	int r;

	if (dst->gran_bits == src->gran_bits &&
	    dst->chunk_bits == src->chunk_bits &&
	    dst->nchunks == src->nchunks) {
		size_t n = (size_t)1 << dst->chunk_bits, j;

		for (i = 0; i < src->nchunks; i++) {
			uint8_t *d;

			if (!src->chunk[i])
				continue;
			d = chunk_get(dst, i);
			if (!d)
				return -ENOMEM;
			for (j = 0; j < n; j++)
				d[j] |= src->chunk[i][j];
		}
		return 0;
	}
	/* Different granularities: every dirty area of src, in guest bytes,
	 * dirties whatever dst bits cover it. */
	while (next_run(src, k, &a, &b)) {
		r = qimg_dbm_set(dst, a << src->gran_bits,
				 (b - a) << src->gran_bits);
		if (r < 0)
			return r;
		k = b;
	}
	return 0;
}

/* Clear the bits of the last chunk past the end of the bitmap. */
uint64_t qimg_dbm_run(const struct qimg_dirty_bitmap *bm, uint64_t bit,
		      uint64_t limit)
{
	uint64_t nbits = qimg_dbm_bits(bm), a, b, n;

	if (bit >= nbits)
		return limit;
	if (!next_run(bm, bit, &a, &b))
		n = nbits - bit; /* clear to the end */
	else if (a > bit)
		n = a - bit; /* clear up to the next set run */
	else
		n = b - bit; /* inside a set run */
	return n < limit ? n : limit;
}

static void clear_tail(struct qimg_dirty_bitmap *bm)
{
	uint32_t cb = bm->chunk_bits + 3;
	uint64_t nbits = qimg_dbm_bits(bm), last;

	if (!bm->nchunks)
		return;
	last = bm->nchunks - 1;
	if (bm->chunk[last] && nbits - (last << cb) < (1ull << cb))
		bits_clear(bm->chunk[last], nbits - (last << cb), 1ull << cb);
}

int qimg_dbm_resize(struct qimg_dirty_bitmap *bm, uint64_t size)
{
	uint64_t old = bm->nchunks, n, i;
	uint8_t **v;

	bm->size = size;
	n = chunks_for(qimg_dbm_bits(bm), bm->chunk_bits);
	for (i = n; i < old; i++) {
		free(bm->chunk[i]);
		bm->chunk[i] = NULL;
	}
	if (n > old) {
		if (n > SIZE_MAX / sizeof(*v))
			return -ENOMEM;
		v = realloc(bm->chunk, (size_t)n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + old, 0, (size_t)(n - old) * sizeof(*v));
		bm->chunk = v;
	}
	bm->nchunks = n;
	clear_tail(bm);
	return 0;
}

const uint8_t *qimg_dbm_chunk(const struct qimg_dirty_bitmap *bm, uint64_t i)
{
	const uint8_t *p = bm->chunk[i];

	if (!p || qimg_is_zero(p, (size_t)1 << bm->chunk_bits))
		return NULL;
	return p;
}

int qimg_dbm_load_chunk(struct qimg_dirty_bitmap *bm, uint64_t i,
			const uint8_t *buf)
{
	size_t n = (size_t)1 << bm->chunk_bits;
	uint8_t *p;

	if (buf && qimg_is_zero(buf, n)) {
		free(bm->chunk[i]);
		bm->chunk[i] = NULL;
		return 0;
	}
	p = chunk_get(bm, i);
	if (!p)
		return -ENOMEM;
	if (buf)
		memcpy(p, buf, n);
	else
		memset(p, 0xff, n);
	if (i == bm->nchunks - 1)
		clear_tail(bm);
	return 0;
}

/* ---- the set ----------------------------------------------------------- */

int qimg_bitmap_set_init(struct qimg_bitmap_set *set, uint32_t chunk_bits,
			 bool readonly)
{
	memset(set, 0, sizeof(*set));
	set->chunk_bits = chunk_bits;
	set->readonly = readonly;
	return -pthread_mutex_init(&set->lock, NULL);
}

void qimg_bitmap_set_destroy(struct qimg_bitmap_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		qimg_dbm_free(set->v[i]);
	free(set->v);
	set->v = NULL;
	set->n = set->cap = 0;
	pthread_mutex_destroy(&set->lock);
}

struct qimg_dirty_bitmap *qimg_bitmap_set_find(struct qimg_bitmap_set *set,
					       const char *name)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (!strcmp(set->v[i]->name, name))
			return set->v[i];
	return NULL;
}

int qimg_bitmap_set_add(struct qimg_bitmap_set *set,
			struct qimg_dirty_bitmap *bm)
{
	void *p = set->v;
	int r = qimg_vector_grow(&p, &set->cap, set->n, 1, sizeof(*set->v));

	set->v = p;
	if (r < 0)
		return r;
	set->v[set->n++] = bm;
	return 0;
}

void qimg_bitmap_set_drop(struct qimg_bitmap_set *set,
			  struct qimg_dirty_bitmap *bm)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		if (set->v[i] != bm)
			continue;
		memmove(set->v + i, set->v + i + 1,
			(set->n - i - 1) * sizeof(*set->v));
		set->n--;
		qimg_dbm_free(bm);
		return;
	}
}

void qimg_bitmap_set_mark(struct qimg_bitmap_set *set, uint64_t off,
			  uint64_t len)
{
	size_t i;

	pthread_mutex_lock(&set->lock);
	for (i = 0; i < set->n; i++) {
		struct qimg_dirty_bitmap *bm = set->v[i];

		if (!bm->enabled || bm->inconsistent)
			continue;
		/* A write that cannot be recorded leaves the bitmap's
		 * contents unknown: it stays marked in use on the disk, as
		 * after a crash, instead of claiming a clean area. */
		if (qimg_dbm_set(bm, off, len) < 0) {
			bm->inconsistent = true;
			qimg_dbm_clear(bm);
		}
	}
	pthread_mutex_unlock(&set->lock);
}

int qimg_bitmap_set_resize(struct qimg_bitmap_set *set, uint64_t size)
{
	size_t i;
	int r;

	for (i = 0; i < set->n; i++) {
		r = qimg_dbm_resize(set->v[i], size);
		if (r < 0)
			return r;
	}
	return 0;
}
