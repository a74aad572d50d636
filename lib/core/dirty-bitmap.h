/* SPDX-License-Identifier: MIT */
/* Dirty bitmaps in memory, for the format drivers that keep persistent
 * bitmaps (qcow2): one bit per `granularity` bytes of the guest, set by
 * writes while the bitmap is enabled.  The bits are held in chunks of
 * 2^chunk_bits bytes (a driver picks its cluster size, so that a chunk is
 * what one on-disk data cluster holds), in the on-disk order: bit k is bit
 * k % 8 of byte k / 8.  A chunk never written is not allocated.
 *
 * The driver owns a struct qimg_bitmap_set per image and persists it; the
 * core (lib/core/bitmap.c) runs the user's operations on it and the driver
 * marks guest writes with qimg_bitmap_set_mark().  Every function taking a
 * set or one of its bitmaps expects the set's lock held, except where said. */
#ifndef QIMG_CORE_DIRTY_BITMAP_H
#define QIMG_CORE_DIRTY_BITMAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qimg/error.h"

struct qimg_dirty_bitmap {
	char *name;
	uint64_t size;	     /* guest bytes covered (the virtual size) */
	uint32_t gran_bits;  /* one bit per 2^gran_bits bytes */
	bool enabled;	     /* guest writes set bits */
	bool inconsistent;   /* found in use: contents unknown, never stored */
	bool transient;	     /* the format's own (parallels): not listed,
			      * never stored */
	uint32_t chunk_bits; /* log2(bytes per chunk) */
	uint64_t nchunks;
	uint8_t **chunk; /* nchunks pointers; NULL: all zero */
};

struct qimg_bitmap_set {
	pthread_mutex_t lock;
	uint32_t chunk_bits; /* for bitmaps created in this set */
	bool readonly;	     /* the image is open read-only */
	struct qimg_dirty_bitmap **v;
	size_t n, cap;
};

/* An empty set; destroy frees every bitmap in it. */
int qimg_bitmap_set_init(struct qimg_bitmap_set *set, uint32_t chunk_bits,
			 bool readonly);
void qimg_bitmap_set_destroy(struct qimg_bitmap_set *set);

/* The bitmap named `name`, or NULL. */
struct qimg_dirty_bitmap *qimg_bitmap_set_find(struct qimg_bitmap_set *set,
					       const char *name);
/* Append bm (the set takes it over; -ENOMEM leaves it to the caller). */
int qimg_bitmap_set_add(struct qimg_bitmap_set *set,
			struct qimg_dirty_bitmap *bm);
/* Take bm out of the set and free it. */
void qimg_bitmap_set_drop(struct qimg_bitmap_set *set,
			  struct qimg_dirty_bitmap *bm);
/* A guest write, zero write or discard of [off, off+len): set the bits in
 * every enabled, consistent bitmap.  Takes the set's lock itself. */
void qimg_bitmap_set_mark(struct qimg_bitmap_set *set, uint64_t off,
			  uint64_t len);
/* The image's virtual size changed: every bitmap follows (bits past the
 * new end dropped, new ones clear). */
int qimg_bitmap_set_resize(struct qimg_bitmap_set *set, uint64_t size);

/* A new, clear, enabled bitmap (NULL on allocation failure). */
struct qimg_dirty_bitmap *qimg_dbm_new(const char *name, uint64_t size,
				       uint32_t gran_bits, uint32_t chunk_bits);
void qimg_dbm_free(struct qimg_dirty_bitmap *bm);
/* Number of bits (ceil(size / granularity)). */
uint64_t qimg_dbm_bits(const struct qimg_dirty_bitmap *bm);
/* Guest bytes one chunk covers (2^(chunk_bits + 3 + gran_bits)). */
uint64_t qimg_dbm_chunk_coverage(const struct qimg_dirty_bitmap *bm);
/* Set the bits covering guest bytes [off, off+len) (clipped to size). */
int qimg_dbm_set(struct qimg_dirty_bitmap *bm, uint64_t off, uint64_t len);
/* Clear every bit. */
void qimg_dbm_clear(struct qimg_dirty_bitmap *bm);
/* dst |= src (any granularities; the same size). */
int qimg_dbm_merge(struct qimg_dirty_bitmap *dst,
		   const struct qimg_dirty_bitmap *src);
/* Change the covered size. */
int qimg_dbm_resize(struct qimg_dirty_bitmap *bm, uint64_t size);
/* Chunk i as stored (2^chunk_bits bytes, bits past the end clear), or
 * NULL when no bit of it is set. */
const uint8_t *qimg_dbm_chunk(const struct qimg_dirty_bitmap *bm, uint64_t i);
/* Fill chunk i from buf (2^chunk_bits bytes; bits past the end are
 * ignored), or with ones when buf is NULL. */
int qimg_dbm_load_chunk(struct qimg_dirty_bitmap *bm, uint64_t i,
			const uint8_t *buf);
/* True if bit `bit` is set. */
bool qimg_dbm_get(const struct qimg_dirty_bitmap *bm, uint64_t bit);
/* Bits from `bit` on with the value of `bit` (at most limit; past the
 * end every bit is clear). */
uint64_t qimg_dbm_run(const struct qimg_dirty_bitmap *bm, uint64_t bit,
		      uint64_t limit);

#endif
