/* SPDX-License-Identifier: MIT */
/* Private to the qcow2 checker (check.c, check-refs.c): on-disk constants,
 * the checker's state, and the refcount helpers check-refs.c provides
 * (reads/writes with zero fill past EOF, the in-memory refcount table,
 * on-disk refcount lookups and updates, repair-write overlap guard, the
 * refcount structure rebuild). */
#ifndef QIMG_QCOW2_CHECK_INT_H
#define QIMG_QCOW2_CHECK_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/qcow2/check.h"
#include "formats/qcow2/snapshot-table.h"

/* On-disk facts (docs/interop/qcow2.txt); private to keep the checker
 * independent of the driver's headers. */
#define CK_MAGIC 0x514649fbu
/* Header field offsets (big-endian; sizes in comments). */
#define CK_HDR_VERSION_OFF 4	       /* u32 */
#define CK_HDR_BACKING_OFFSET_OFF 8    /* u64 backing_file_offset */
#define CK_HDR_CLUSTER_BITS_OFF 20     /* u32 */
#define CK_HDR_SIZE_OFF 24	       /* u64 virtual size */
#define CK_HDR_L1_SIZE_OFF 36	       /* u32 */
#define CK_HDR_L1_OFFSET_OFF 40	       /* u64 */
#define CK_HDR_RT_OFFSET_OFF 48	       /* u64 refcount_table_offset */
#define CK_HDR_RT_CLUSTERS_OFF 56      /* u32 refcount_table_clusters */
#define CK_HDR_NB_SNAPSHOTS_OFF 60     /* u32 */
#define CK_HDR_SNAPSHOTS_OFFSET_OFF 64 /* u64 */
#define CK_HDR_INCOMPAT_OFF 72	       /* u64, version 3 on */
#define CK_HDR_AUTOCLEAR_OFF 88	       /* u64 */
#define CK_HDR_REFCOUNT_ORDER_OFF 96   /* u32 */
#define CK_HDR_LENGTH_OFF 100	       /* u32 header_length */
#define CK_V2_HEADER_LEN 72
#define CK_V3_HEADER_LEN 104
#define CK_HEADER_LEN 112 /* read: the fields up to compression_type */
#define CK_INCOMPAT_DIRTY (1ull << 0)
#define CK_INCOMPAT_CORRUPT (1ull << 1)
#define CK_INCOMPAT_DATA_FILE (1ull << 2)
#define CK_INCOMPAT_EXTL2 (1ull << 4)
#define CK_AUTOCLEAR_BITMAPS (1ull << 0)
#define CK_EXT_BITMAPS 0x23852875u
#define CK_EXT_CRYPTO 0x0537be77u
/* Extensions: u32 type, u32 length, data padded to 8 bytes. */
#define CK_EXT_LEN_OFF 4
#define CK_EXT_HDR_LEN 8
#define CK_EXT_CRYPTO_LEN 16 /* u64 offset, u64 length */
#define CK_EXT_CRYPTO_LENGTH_OFF 8
/* Bitmaps: u32 nb_bitmaps, u32 reserved, u64 directory size and offset */
#define CK_EXT_BITMAPS_LEN 24
#define CK_EXT_BITMAPS_DIR_SIZE_OFF 8
#define CK_EXT_BITMAPS_DIR_OFFSET_OFF 16

#define CK_COPIED (1ull << 63)
#define CK_COMPRESSED (1ull << 62)
#define CK_ZERO (1ull << 0)
#define CK_L1E_OFFSET 0x00fffffffffffe00ull
#define CK_L1E_RESERVED 0x7f000000000001ffull
#define CK_L2E_OFFSET 0x00fffffffffffe00ull
#define CK_L2E_RESERVED 0x3f000000000001feull
#define CK_RT_OFFSET 0xfffffffffffffe00ull
#define CK_RT_RESERVED 0x1ffull
#define CK_BM_ALL_ALLOC 0x00000000ffffffffull
#define CK_BME_RESERVED 0xff000000000001feull
#define CK_BME_OFFSET 0x00fffffffffffe00ull
#define CK_BME_ALL_ONES 1ull

#define CK_MAX_L1_BYTES (32ull << 20)
#define CK_MAX_RT_BYTES (8ull << 20)
#define CK_MAX_SNAPSHOTS 65536u
#define CK_SN_HDR 40u
#define CK_MAX_SN_EXTRA 1024u
#define CK_MAX_SN_TABLE (1024ull * CK_MAX_SNAPSHOTS)
#define CK_BM_DIR_ENTRY 24u
/* Fields of a bitmap directory entry. */
#define CK_BMDIR_TABLE_OFFSET_OFF 0 /* u64 */
#define CK_BMDIR_TABLE_SIZE_OFF 8   /* u32, in entries */
#define CK_BMDIR_NAME_SIZE_OFF 18   /* u16 */
#define CK_BMDIR_EXTRA_SIZE_OFF 20  /* u32 extra_data_size */
#define CK_MAX_BM_DIR (64ull << 20)
#define CK_MAX_BM_TABLE 0x8000000u
#define CK_MAX_BM_NAME 1023u

/* Walk flags. */
#define CK_FRAG_INFO 0x1 /* count allocated/fragmented (active L1) */

/* L1/L2/bitmap tables are read in bounded chunks. */
#define CK_CHUNK_ENTRIES 65536u

struct ck {
	struct qimg_node *file;
	qimg_report_fn report;
	void *opaque;
	struct qimg_error *err;

	/* header */
	uint32_t version;
	uint32_t cluster_bits;
	uint64_t cluster_size;
	uint64_t size;
	uint32_t l1_size;
	uint64_t l1_offset;
	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint32_t hdr_nb_snapshots;
	uint64_t hdr_snapshots_offset;
	uint64_t incompat;
	uint64_t autoclear;
	uint32_t refcount_order;
	bool extl2;
	bool data_file;
	uint64_t crypto_off, crypto_len;
	uint32_t nb_bitmaps;
	uint64_t bm_dir_off, bm_dir_size;

	/* derived */
	uint32_t l2_entries;
	unsigned int l2e_size; /* 8, or 16 with extended L2 */
	uint64_t refcount_max;
	unsigned int rb_bits; /* log2(refcount entries per block) */
	uint64_t coff_mask;   /* compressed: host offset bits */
	unsigned int csize_shift;
	uint64_t csize_mask;

	/* active L1 (entries past the end of the file read as 0) */
	uint64_t *l1;
	uint64_t l1_loaded;

	/* on-disk refcount table */
	uint64_t *rt;
	uint64_t rt_entries; /* entries in the table per the header */
	uint64_t rt_loaded;  /* entries backed by rt[] */

	/* one refblock cache for on-disk refcount lookups */
	uint8_t *rb;
	uint64_t rb_off; /* 0: empty */

	/* snapshots */
	struct qcow2_sn_entry *sn;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t snapshots_size;
	bool sn_rewrite;  /* -r all: the table must be written anew */
	bool sn_truncate; /* -r all: the header must drop the overhang */

	int64_t file_len;

	/* in-memory refcount table, in on-disk refblock format so a slice
	 * can be written out as a refblock; allocated in whole clusters */
	uint8_t *imrt;
	int64_t imrt_n; /* clusters covered */
	size_t imrt_bytes;

	bool signaled_corruption;
	/* A fatal corruption event marked the image corrupt: as qemu-img
	 * then drops the node, refcount changes that would go through its
	 * refcount cache stay in memory (see qcow2_ck_set_refcount), and
	 * the image takes no further check. */
	bool unusable;
	bool fix_mode;

	/* Work budgets against crafted loops (many snapshots or bitmaps all
	 * naming the same big tables): table entries/L2 visits left. */
	uint64_t l2_budget;
	uint64_t bm_budget;

	/* The active walk's allocated entries, for the OFLAG_COPIED pass to
	 * judge without reading every L2 table again (a huge sparse image's
	 * tables are most of what check reads).  Up to CK_CPLOG_MAX entries;
	 * past that, or after a failed allocation, cplog_ok is false and
	 * the pass reads the tables. */
	struct ck_cplog *cplog;
	size_t cplog_n, cplog_cap;
	bool cplog_ok;
};

struct ck_cplog {
	uint32_t l1i, j; /* L1 index, entry in its L2 table */
	uint64_t e;	 /* the entry */
};

#define CK_CPLOG_MAX ((size_t)(4u << 20) / sizeof(struct ck_cplog))

static inline uint64_t offset_into_cluster(const struct ck *c, uint64_t off)
{
	return off & (c->cluster_size - 1);
}

static inline uint64_t size_to_clusters(const struct ck *c, uint64_t size)
{
	return (size >> c->cluster_bits) + (offset_into_cluster(c, size) != 0);
}

/* Metadata kinds, in qemu's bit order (the names appear in messages). */
enum {
	OL_MAIN_HEADER,
	OL_ACTIVE_L1,
	OL_ACTIVE_L2,
	OL_REFTABLE,
	OL_REFBLOCK,
	OL_SNAPSHOT_TABLE,
	OL_INACTIVE_L1,
	OL_INACTIVE_L2,
	OL_BITMAP_DIR,
};

#define OL(x) (1u << (x))
/* qemu's default "cached" overlap checks: everything but inactive L2. */
#define OL_CACHED (0x1ffu & ~OL(OL_INACTIVE_L2))

void qcow2_ck_say(struct ck *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int qcow2_ck_read(struct ck *c, uint64_t off, void *buf, size_t len);
int qcow2_ck_write(struct ck *c, uint64_t off, const void *buf, size_t len);

/* In-memory refcount table (clusters [0, imrt_n)). */
int qcow2_ck_imrt_resize(struct ck *c, int64_t n);
uint64_t qcow2_ck_imrt_get(const struct ck *c, int64_t k);
/* Count one reference to each cluster of [offset, offset+size); a region
 * a cluster or more past EOF is reported and counted as a corruption. */
int qcow2_ck_inc_refs(struct ck *c, struct qimg_check_result *res,
		      uint64_t offset, uint64_t size);

/* On-disk refcount of cluster k (0 when no refblock covers it); -EIO for
 * an unaligned refblock offset. */
int qcow2_ck_get_refcount(struct ck *c, uint64_t k, uint64_t *rc);
/* From k, a refblock's first cluster: how many clusters (up to that
 * refblock's last, and below n) have no refblock on disk and no reference
 * in memory, so compare nothing; 0 when k is not such a start. */
int64_t qcow2_ck_empty_run(const struct ck *c, int64_t k, int64_t n);
/* Store v in k's existing refblock. */
int qcow2_ck_set_refcount(struct ck *c, uint64_t k, uint64_t v);
/* Discard cluster k after its refcount was repaired down to 0. */
void qcow2_ck_discard(struct ck *c, uint64_t k);

/* -EIO (after signalling corruption) if a repair write to [off, off+len)
 * would hit metadata other than the kinds in `ign` (OL(...) bits). */
int qcow2_ck_overlap_check(struct ck *c, unsigned int ign, uint64_t off,
			   uint64_t len);

/* Write new refcount blocks and table from the in-memory table and point
 * the header at them. */
int qcow2_ck_rebuild(struct ck *c);

/* check-header.c: the header into c (qemu-img's open-time checks) and a
 * table of big-endian entries. */
int qcow2_ck_parse_header(struct ck *c);
/* How many of a table's entries at off lie inside the file (the rest
 * read as zero and are left out). */
uint64_t qcow2_ck_in_file(const struct ck *c, uint64_t off, uint64_t entries);
int qcow2_ck_load_table(struct ck *c, uint64_t off, uint64_t entries,
			uint64_t **out, uint64_t *loaded);

/* check-snapshots.c: the snapshot table (bad entries counted in snap; with
 * -r all, sn_truncate is set when the header counts more entries than
 * allowed, sn_rewrite when entries need rewriting).  The truncation only
 * lowers the header's count (the overhang becomes leaked clusters); the
 * rewrite puts a new table in free clusters, switches the header to it and
 * frees the old one; call it once the refcounts are right. */
int qcow2_ck_read_snapshots(struct ck *c, struct qimg_check_result *snap,
			    unsigned int fix);
void qcow2_ck_free_snapshots(struct ck *c);
int qcow2_ck_truncate_snapshots(struct ck *c);
int qcow2_ck_rewrite_snapshots(struct ck *c);

/* check-walk.c: count the references of one L1 table (and its L2 tables)
 * into the in-memory refcounts; then, after the refcounts are settled,
 * compare OFLAG_COPIED with them (and repair with fix). */
int qcow2_ck_check_l1(struct ck *c, struct qimg_check_result *res,
		      uint64_t l1_off, uint32_t l1_size, int flags,
		      unsigned int fix, const uint64_t *table);
int qcow2_ck_oflag_copied(struct ck *c, struct qimg_check_result *res,
			  unsigned int fix);

/* check-bitmaps.c: count the bitmap directory's and tables' clusters. */
int qcow2_ck_check_bitmaps(struct ck *c, struct qimg_check_result *res);

#endif
