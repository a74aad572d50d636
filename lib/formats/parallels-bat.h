/* SPDX-License-Identifier: MIT */
/* The parallels block allocation table, read a page at a time into a small
 * cache: 4 bytes a cluster make a 256 TiB image's BAT 1 GiB, which qimg
 * does not hold in memory.  Every change is written through (the sectors
 * holding the changed entries), so an evicted page is never newer than
 * the file.  Safe to call from several threads (block status runs beside
 * the serialised reads and writes). */
#ifndef QIMG_FORMATS_PARALLELS_BAT_H
#define QIMG_FORMATS_PARALLELS_BAT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/driver.h"

#define PAR_BAT_PAGE 16384u /* entries a cached page holds (64 KiB) */
#define PAR_BAT_SLOTS 64    /* pages cached: 4 MiB at most */

struct par_bat {
	struct qimg_node *file;
	uint64_t off;	  /* file offset of entry 0 */
	uint64_t entries; /* the table's length */
	pthread_mutex_t lock;
	uint64_t tick;
	struct {
		uint64_t page; /* page number + 1; 0: empty */
		uint64_t last; /* tick of the last use */
		uint8_t *buf;  /* the page as on disk (LE) */
	} slot[PAR_BAT_SLOTS];
};

void par_bat_init(struct par_bat *b, struct qimg_node *file, uint64_t off,
		  uint64_t entries);
void par_bat_free(struct par_bat *b);

/* Entries [first, first + n) into out (0 past the table). */
int par_bat_read(struct par_bat *b, uint64_t first, uint32_t *out, size_t n,
		 struct qimg_error *err);
int par_bat_get(struct par_bat *b, uint64_t i, uint32_t *e,
		struct qimg_error *err);

/* Set entry idx[k] to e[k] (k < n, idx ascending, inside the table) and
 * write the sectors holding them, a sector once; head: the file's bytes
 * before the table (the header), which the first sector holds too.  A
 * sector that cannot be written gets its entries back as they were. */
int par_bat_commit(struct par_bat *b, const uint8_t *head, const uint64_t *idx,
		   const uint32_t *e, size_t n, struct qimg_error *err);

#endif
