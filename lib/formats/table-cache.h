/* SPDX-License-Identifier: MIT */
/* A format's table (the parallels, vhdx and vpc BATs, a vdi block map, a
 * qcow L1, qed's L1 and L2 tables, cloop's offsets) read a page at a time into a small
 * cache, so that memory stays bounded whatever the virtual size makes the
 * table (a 256 TiB parallels image has a 1 GiB BAT; a qed image with
 * 64 MiB clusters has 1 GiB tables).  The cache holds the table's bytes as
 * on disk; the caller decodes them.  Every change is written through: the
 * entries are set and their bytes written under the cache's lock, so an
 * evicted page is never newer than the file.  Safe to call from several
 * threads. */
#ifndef QIMG_FORMATS_TABLE_CACHE_H
#define QIMG_FORMATS_TABLE_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/driver.h"

#define QIMG_TC_PAGE 65536u /* bytes a cached page holds */
#define QIMG_TC_SLOTS 64    /* pages cached: 4 MiB at most */

struct qimg_tcache {
	struct qimg_node *file;
	uint64_t off;  /* file offset of the table's byte 0 */
	uint64_t len;  /* the table's bytes */
	uint64_t held; /* bytes of it the file holds; the rest reads 0 */
	pthread_mutex_t lock;
	uint64_t tick;
	size_t nslots; /* slots in use: QIMG_TC_SLOTS unless limited */
	size_t hint;   /* the slot used last */
	struct {
		uint64_t page; /* page number + 1; 0: empty */
		uint64_t last; /* tick of the last use */
		uint8_t *buf;
	} slot[QIMG_TC_SLOTS];
};

/* How a table's entries are stored. */
enum qimg_tc_enc {
	QIMG_TC_LE32,
	QIMG_TC_BE32,
	QIMG_TC_LE64,
	QIMG_TC_BE64
};

/* held: how much of the table the file has (bytes past it are never read
 * from the file and read as zeros, as a file reads past its end). */
void qimg_tc_init(struct qimg_tcache *c, struct qimg_node *file, uint64_t off,
		  uint64_t len, uint64_t held);
void qimg_tc_free(struct qimg_tcache *c);
/* At most `slots` pages cached (1 to QIMG_TC_SLOTS; right after init). */
void qimg_tc_limit(struct qimg_tcache *c, size_t slots);
/* The table moved, changed size or was rewritten on the disk behind the
 * cache: every page is forgotten. */
void qimg_tc_reset(struct qimg_tcache *c, uint64_t off, uint64_t len,
		   uint64_t held);

/* Bytes [pos, pos + n) of the table (zeros past its end). */
int qimg_tc_read(struct qimg_tcache *c, uint64_t pos, void *out, size_t n,
		 struct qimg_error *err);
/* Entries [first, first + n) of a table of little- or big-endian 32- or
 * 64-bit entries, in host order. */
int qimg_tc_read_le32(struct qimg_tcache *c, uint64_t first, uint32_t *out,
		      size_t n, struct qimg_error *err);
int qimg_tc_read_be32(struct qimg_tcache *c, uint64_t first, uint32_t *out,
		      size_t n, struct qimg_error *err);
int qimg_tc_read_le64(struct qimg_tcache *c, uint64_t first, uint64_t *out,
		      size_t n, struct qimg_error *err);
int qimg_tc_read_be64(struct qimg_tcache *c, uint64_t first, uint64_t *out,
		      size_t n, struct qimg_error *err);

/* Set the `width` bytes at pos[k] (inside the table) to vals + k * width
 * (as on disk) for k < n, and write them: the table's bytes of each
 * 512-byte sector of the file holding changed entries, in one write per
 * run of entries in the same sector.  A run that cannot be written gets
 * its old bytes back in the cache (it was never on the disk); the runs
 * before it stay. */
int qimg_tc_commit(struct qimg_tcache *c, const uint64_t *pos,
		   const uint8_t *vals, size_t width, size_t n,
		   struct qimg_error *err);
/* The same for entries idx[k] (k < n) of a table of little- or
 * big-endian 32- or 64-bit entries, set to e[k] (host order). */
int qimg_tc_commit_le32(struct qimg_tcache *c, const uint64_t *idx,
			const uint32_t *e, size_t n, struct qimg_error *err);
int qimg_tc_commit_be32(struct qimg_tcache *c, const uint64_t *idx,
			const uint32_t *e, size_t n, struct qimg_error *err);
int qimg_tc_commit_le64(struct qimg_tcache *c, const uint64_t *idx,
			const uint64_t *e, size_t n, struct qimg_error *err);
int qimg_tc_commit_be64(struct qimg_tcache *c, const uint64_t *idx,
			const uint64_t *e, size_t n, struct qimg_error *err);
/* Entries [first, first + n) set to e[0..n) (host order; NULL: every one
 * to `fill`), written as they lie (one write per page they cover, no
 * bytes around them).  A page that cannot be written gets its old bytes
 * back in the cache; the pages before it stay. */
int qimg_tc_commit_run(struct qimg_tcache *c, uint64_t first, const void *e,
		       uint64_t fill, size_t n, enum qimg_tc_enc enc,
		       struct qimg_error *err);

/* A table moving to a bigger region: its bytes [0, keep) (zeros past its
 * end), then `fill` bytes up to len, written at file offset dst a page at
 * a time.  The cache still names the old place: reset it once the new
 * one is in use. */
int qimg_tc_copy_out(struct qimg_tcache *c, uint64_t dst, uint64_t keep,
		     uint64_t len, uint8_t fill, struct qimg_error *err);

#endif
