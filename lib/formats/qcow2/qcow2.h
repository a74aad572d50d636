/* SPDX-License-Identifier: MIT */
/* qcow2 driver, private: on-disk constants (docs/interop/qcow2.txt), the
 * per-image state and the prototypes shared by the files of this folder.
 * Only `qimg_driver_qcow2` is public. */
#ifndef QIMG_FORMATS_QCOW2_H
#define QIMG_FORMATS_QCOW2_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dirty-bitmap.h"
#include "core/driver.h"
#include "util/vector.h"

extern const struct qimg_driver qimg_driver_qcow2;

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */

#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104
#define QCOW2_HEADER_LEN_WRITTEN 112 /* with compression_type + padding */

/* Byte offsets of the header fields, big-endian, sizes in comments. */
#define QCOW2_HDR_MAGIC_OFF 0		  /* u32 */
#define QCOW2_HDR_VERSION_OFF 4		  /* u32 */
#define QCOW2_HDR_BACKING_OFFSET_OFF 8	  /* u64 backing_file_offset */
#define QCOW2_HDR_BACKING_SIZE_OFF 16	  /* u32 backing_file_size */
#define QCOW2_HDR_CLUSTER_BITS_OFF 20	  /* u32 */
#define QCOW2_HDR_SIZE_OFF 24		  /* u64 virtual size */
#define QCOW2_HDR_CRYPT_METHOD_OFF 32	  /* u32 */
#define QCOW2_HDR_L1_SIZE_OFF 36	  /* u32 */
#define QCOW2_HDR_L1_OFFSET_OFF 40	  /* u64 l1_table_offset */
#define QCOW2_HDR_RT_OFFSET_OFF 48	  /* u64 refcount_table_offset */
#define QCOW2_HDR_RT_CLUSTERS_OFF 56	  /* u32 refcount_table_clusters */
#define QCOW2_HDR_NB_SNAPSHOTS_OFF 60	  /* u32 */
#define QCOW2_HDR_SNAPSHOTS_OFFSET_OFF 64 /* u64 */
/* Version 3 only (QCOW2_V2_HEADER_LEN is where they start). */
#define QCOW2_HDR_INCOMPAT_OFF 72	   /* u64 incompatible_features */
#define QCOW2_HDR_COMPAT_OFF 80		   /* u64 compatible_features */
#define QCOW2_HDR_AUTOCLEAR_OFF 88	   /* u64 autoclear_features */
#define QCOW2_HDR_REFCOUNT_ORDER_OFF 96	   /* u32 */
#define QCOW2_HDR_LENGTH_OFF 100	   /* u32 header_length */
#define QCOW2_HDR_COMPRESSION_TYPE_OFF 104 /* u8, when header_length > 104 */

#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_RT_BYTES (8u << 20)
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_MAX_BACKING_FMT 15

/* Incompatible feature bits. */
#define QCOW2_INCOMPAT_DIRTY (UINT64_C(1) << 0)
#define QCOW2_INCOMPAT_CORRUPT (UINT64_C(1) << 1)
#define QCOW2_INCOMPAT_DATA_FILE (UINT64_C(1) << 2)
#define QCOW2_INCOMPAT_COMPRESSION (UINT64_C(1) << 3)
#define QCOW2_INCOMPAT_EXTL2 (UINT64_C(1) << 4)
#define QCOW2_INCOMPAT_KNOWN UINT64_C(0x1f)
/* Compatible / autoclear bits. */
#define QCOW2_COMPAT_LAZY_REFCOUNTS (UINT64_C(1) << 0)
#define QCOW2_AUTOCLEAR_BITMAPS (UINT64_C(1) << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW (UINT64_C(1) << 1)
#define QCOW2_AUTOCLEAR_KNOWN                                                  \
	(QCOW2_AUTOCLEAR_BITMAPS | QCOW2_AUTOCLEAR_DATA_FILE_RAW)

/* Header extension types. */
#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u
/* Each extension: u32 type, u32 length, data padded to 8 bytes. */
#define QCOW2_EXT_LEN_OFF 4
#define QCOW2_EXT_HDR_LEN 8
/* Crypto extension data: where the crypto header is and its length. */
#define QCOW2_EXT_CRYPTO_OFFSET_OFF 0 /* u64 */
#define QCOW2_EXT_CRYPTO_LENGTH_OFF 8 /* u64 */
#define QCOW2_EXT_CRYPTO_LEN 16
/* Bitmaps extension data. */
#define QCOW2_EXT_BITMAPS_NB_OFF 0	    /* u32 nb_bitmaps */
#define QCOW2_EXT_BITMAPS_DIR_SIZE_OFF 8    /* u64 bitmap_directory_size */
#define QCOW2_EXT_BITMAPS_DIR_OFFSET_OFF 16 /* u64 bitmap_directory_offset */
#define QCOW2_EXT_BITMAPS_LEN 24
/* Feature name table entry: u8 type, u8 bit, 46 bytes of name. */
#define QCOW2_FEATURE_ENTRY_LEN 48
/* Bitmap directory entry: fixed part, then extra data, then the name. */
#define QCOW2_BMDIR_TABLE_OFFSET_OFF 0 /* u64 */
#define QCOW2_BMDIR_TABLE_SIZE_OFF 8   /* u32, in entries */
#define QCOW2_BMDIR_FLAGS_OFF 12       /* u32 */
#define QCOW2_BMDIR_GRAN_BITS_OFF 17   /* u8 */
#define QCOW2_BMDIR_NAME_SIZE_OFF 18   /* u16 */
#define QCOW2_BMDIR_EXTRA_SIZE_OFF 20  /* u32 extra_data_size */
#define QCOW2_BMDIR_ENTRY_LEN 24

#define QCOW2_COMPRESS_ZLIB 0
#define QCOW2_COMPRESS_ZSTD 1

/* L1/L2/refcount table entry bits. */
#define QCOW2_OFLAG_COPIED (UINT64_C(1) << 63)
#define QCOW2_OFLAG_COMPRESSED (UINT64_C(1) << 62)
#define QCOW2_OFLAG_ZERO (UINT64_C(1) << 0)
#define QCOW2_L1E_OFFSET_MASK UINT64_C(0x00fffffffffffe00)
#define QCOW2_L1E_RESERVED UINT64_C(0x7f000000000001ff)
#define QCOW2_L2E_OFFSET_MASK UINT64_C(0x00fffffffffffe00)
#define QCOW2_L2E_RESERVED UINT64_C(0x3f000000000001fe)
#define QCOW2_RT_OFFSET_MASK UINT64_C(0xfffffffffffffe00)

/* Extended L2: 32 subclusters per cluster. */
#define QCOW2_SUBCLUSTERS 32
#define QCOW2_BITMAP_ALLOC(x) (1ull << (x))
#define QCOW2_BITMAP_ZERO(x) (1ull << (32 + (x)))
#define QCOW2_BITMAP_ALL_ALLOC UINT64_C(0x00000000ffffffff)
#define QCOW2_BITMAP_ALL_ZERO UINT64_C(0xffffffff00000000)

/* What a (sub)cluster reads as. */
enum qcow2_ctype {
	QCOW2_UNALLOCATED,	 /* backing file, or zeros without one */
	QCOW2_UNALLOCATED_ALLOC, /* same, in a cluster with a host offset
				  * (extended L2 only) */
	QCOW2_ZERO_PLAIN,	 /* zeros, no host cluster */
	QCOW2_ZERO_ALLOC,	 /* zeros, host cluster kept */
	QCOW2_NORMAL,		 /* data at a host offset */
	QCOW2_COMPRESSED,	 /* compressed cluster */
	QCOW2_INVALID,		 /* inconsistent entry (corrupt) */
};

/* Parsed header: every field in host order.  Absent v3 fields are 0. */
struct qcow2_header {
	uint32_t version;
	uint64_t backing_file_offset;
	uint32_t backing_file_size;
	uint32_t cluster_bits;
	uint64_t size;
	uint32_t crypt_method;
	uint32_t l1_size;
	uint64_t l1_table_offset;
	uint64_t refcount_table_offset;
	uint32_t refcount_table_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t incompatible_features;
	uint64_t compatible_features;
	uint64_t autoclear_features;
	uint32_t refcount_order;
	uint32_t header_length;
	uint8_t compression_type;
};

QIMG_VECTOR(qcow2_bytes, uint8_t)

/* Everything the header cluster holds besides the fixed fields. */
struct qcow2_exts {
	char *backing_file; /* NULL: none */
	char *backing_fmt;  /* NULL: none */
	char *data_file;    /* NULL: none */
	bool has_crypto;
	uint64_t crypto_offset, crypto_length;
	bool has_bitmaps;
	uint8_t bitmaps[QCOW2_EXT_BITMAPS_LEN]; /* raw extension body */
	/* Feature name table as found (48-byte entries), for error messages. */
	uint8_t *features;
	size_t nb_features;
	/* Unknown extensions, verbatim (type, length, data, padding). */
	struct qcow2_bytes unknown;
	/* Bytes of the header beyond the known fields (header_length > 112). */
	uint8_t *tail;
	size_t tail_len;
};

struct qcow2_cache_slot {
	uint64_t off; /* host offset of the table, 0 = empty */
	uint8_t *buf; /* one cluster */
	uint64_t lru;
	/* Refcount blocks under lazy refcounts; L2 tables whose entries
	 * [dlo, dhi) (bytes) are not on the disk yet (write-back). */
	bool dirty;
	uint32_t dlo, dhi;
};

struct qcow2_cache {
	struct qcow2_cache_slot *slot;
	size_t n;
	size_t cluster_size; /* each slot's buf, allocated on first use */
	uint64_t clock;
};

struct qcow2_range {
	uint64_t start, n;
};
QIMG_VECTOR(qcow2_ranges, struct qcow2_range)

struct qcow2_state {
	pthread_mutex_t lock; /* metadata: caches, tables, allocation */
	pthread_cond_t cond;  /* in-flight allocations finished */
	struct qimg_node *node;
	struct qimg_node *file;
	/* Where guest clusters live: the external data file (the child with
	 * role "data-file", host offset == guest offset, not refcounted), or
	 * the image file itself. */
	struct qimg_node *data;
	bool ext_data;	     /* incompatible bit 2: external data file */
	bool data_raw;	     /* autoclear bit 1: the data file is raw */
	bool data_unflushed; /* data written to the data file since the last
			      * ordering flush */

	struct qcow2_header h;
	struct qcow2_exts ext;

	uint32_t cluster_bits;
	uint64_t cluster_size;
	bool ext_l2;
	uint32_t l2_entry_size; /* 8 or 16 */
	uint32_t l2_bits;	/* log2(entries per L2 table) */
	uint64_t l2_entries;
	uint32_t sc_bits; /* log2(subcluster size) */
	uint64_t sc_size;
	uint32_t csize_shift; /* compressed descriptor: 62 - (bits - 8) */
	uint64_t csize_mask;
	uint64_t coffset_mask;

	uint64_t *l1; /* host order, l1_size entries */
	uint32_t l1_size;
	uint64_t *rt; /* host order, rt_entries entries */
	uint64_t rt_entries;
	bool rt_moving; /* table relocation: entries only in memory */
	uint32_t refcount_order;
	uint64_t rb_entries; /* refcounts per block */
	uint32_t rb_bits;    /* log2(rb_entries) */
	uint64_t refcount_max;

	struct qcow2_cache l2c;
	struct qcow2_cache rbc;
	uint64_t free_hint; /* first cluster that may be free */
	uint64_t cbyte;	    /* next free byte for compressed data, 0 */

	bool read_only;
	bool lazy;	     /* lazy refcounts in use on this open */
	bool rc_pending;     /* increments in dirty refcount blocks */
	bool rc_through;     /* no deferring: amend reads blocks back */
	bool dirty_set;	     /* we set the dirty bit on disk */
	bool autoclear_done; /* autoclear bits cleared (first write) */
	bool corrupt;
	bool corruption_reported; /* the note is given once per open */
	bool l2_dirty; /* some L2 slot holds entries not written yet */
	/* Written since the last ordering flush: something a later write
	 * may depend on (qcow2_barrier) */
	bool unflushed;

	/* Host clusters chosen but not yet counted (allocation in progress). */
	struct qcow2_ranges reserved;
	/* Host clusters whose refcount dropped to 0 while collect_freed is
	 * set (shrink, snapshot deletion): punched in the file once that is
	 * on the disk, as qemu-img's "discard always" policy does. */
	bool collect_freed;
	bool discard_snapshot; /* pass-discard-snapshot (default on) */
	/* pass-discard-request (default: opened with QIMG_OPEN_UNMAP): guest
	 * discards and unmapping zero writes punch the clusters they free. */
	bool discard_request;
	struct qcow2_ranges freed;
	/* Guest clusters being allocated (data written outside the lock). */
	struct qcow2_ranges inflight;

	/* Metadata preallocation detected (data clusters may be host
	 * holes): computed once, on the first block status. */
	bool prealloc_checked;
	bool metadata_prealloc;

	/* Refcount rebuild: the true counts; allocation honours them. */
	uint32_t *rebuild;
	uint64_t rebuild_n;

	/* Persistent bitmaps in memory (bitmap-track.c), or NULL. */
	struct qcow2_bitmaps *bitmaps;

	/* Encryption (crypt.c): the data cipher once unlocked (NULL: not
	 * encrypted, or opened for metadata only), the LUKS header that
	 * owns it (crypt_method 2), and whether IVs count guest sectors
	 * (legacy AES) rather than host sectors (LUKS). */
	struct qimg_sector_cipher *cipher;
	struct qimg_luks *luks;
	bool crypt_guest_iv;
};

/* ---- header.c ---- */

/* Parse and validate the fixed header from `buf` (len bytes, the first
 * cluster or less).  EUCLEAN/ENOTSUP/EINVAL with qemu-img's texts. */
int qcow2_header_parse(const uint8_t *buf, size_t len, struct qcow2_header *h,
		       struct qimg_error *err);
/* The same; for_check (opens for `check`) lets a snapshot table with too
 * many entries through, for the checker to report or repair. */
int qcow2_header_parse_for(const uint8_t *buf, size_t len,
			   struct qcow2_header *h, bool for_check,
			   struct qimg_error *err);
/* Parse header extensions and the backing name from cluster 0. */
int qcow2_exts_parse(const struct qcow2_header *h, const uint8_t *buf,
		     size_t len, struct qcow2_exts *e, struct qimg_error *err);
void qcow2_exts_free(struct qcow2_exts *e);
/* Check incompatible features; message names them as qemu-img does. */
int qcow2_check_features(const struct qcow2_header *h,
			 const struct qcow2_exts *e, struct qimg_error *err);
/* Build a whole header cluster (fields, extensions, backing name) into buf
 * (cluster_size bytes, zeroed by the function). */
int qcow2_header_build(const struct qcow2_header *h, const struct qcow2_exts *e,
		       uint8_t *buf, size_t cluster_size,
		       struct qimg_error *err);
/* Rewrite the incompatible features field only (one 8-byte write). */
int qcow2_write_incompat(struct qcow2_state *s, uint64_t v,
			 struct qimg_error *err);
/* A corruption event: mark the image corrupt (if writable), report it
 * once per open as qemu-img does (a "qcow2: ..." note on err) and return
 * -EIO. */
int qcow2_signal_corruption(struct qcow2_state *s, struct qimg_error *err,
			    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- cache.c ---- */
int qcow2_cache_init(struct qcow2_cache *c, size_t n, size_t cluster_size);
void qcow2_cache_free(struct qcow2_cache *c);
/* Find the slot holding `off`, or NULL. */
struct qcow2_cache_slot *qcow2_cache_find(struct qcow2_cache *c, uint64_t off);
/* A slot to (re)use: an empty one, else the least recently used one (a
 * dirty one is the caller's to write back first); NULL when an empty
 * slot's table cannot be allocated. */
struct qcow2_cache_slot *qcow2_cache_victim(struct qcow2_cache *c);
void qcow2_cache_touch(struct qcow2_cache *c, struct qcow2_cache_slot *sl);
void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off);

/* ---- refcount.c ---- */

/* Refcount entry `idx` of a block with 2^order-bit entries. */
uint64_t qcow2_rc_get(const uint8_t *blk, uint64_t idx, uint32_t order);
void qcow2_rc_set(uint8_t *blk, uint64_t idx, uint32_t order, uint64_t v);

int qcow2_refcount_init(struct qcow2_state *s, struct qimg_error *err);
void qcow2_refcount_free(struct qcow2_state *s);
/* Refcount of host cluster `c` (0 when not covered). */
int qcow2_get_refcount(struct qcow2_state *s, uint64_t c, uint64_t *rc,
		       struct qimg_error *err);
/* Add delta to clusters [c, c+n); refcount blocks are created as needed.
 * Errors on underflow/overflow (EUCLEAN/ERANGE). */
int qcow2_update_refcount(struct qcow2_state *s, uint64_t c, uint64_t n,
			  int delta, struct qimg_error *err);
/* Make sure a refcount block covers host cluster c.  Returns 1 when one
 * had to be created (and hooked into the table), 0 when it was there. */
int qcow2_cover_cluster(struct qcow2_state *s, uint64_t c,
			struct qimg_error *err);
/* Set the refcount of cluster c (creating its block if needed). */
int qcow2_set_refcount(struct qcow2_state *s, uint64_t c, uint64_t v,
		       struct qimg_error *err);
/* Allocate n contiguous free clusters (refcount 1 on return).  Returns
 * the host offset through *off. */
int qcow2_alloc_clusters(struct qcow2_state *s, uint64_t n, uint64_t *off,
			 struct qimg_error *err);
/* Name of the metadata structure [off, off+len) overlaps (header, L1,
 * refcount table, snapshot table, cached L2 tables and refcount blocks),
 * or NULL. */
const char *qcow2_metadata_overlap(struct qcow2_state *s, uint64_t off,
				   uint64_t len);
/* Guest data is about to be written at host [off, off+len): 0, or the
 * corruption error (image marked corrupt) when that overlaps metadata. */
int qcow2_data_write_ok(struct qcow2_state *s, uint64_t off, uint64_t len,
			struct qimg_error *err);
/* Place new refcount structures at cluster `start`: blocks for every
 * missing table index up to what counting start + extra clusters (and the
 * structures themselves) needs, then a new table of exactly that size.
 * The header switches to it and the old table is freed.  *end is the first
 * cluster after the area.  (QEMU's layout for falloc/full preallocation.) */
int qcow2_refcount_area(struct qcow2_state *s, uint64_t start, uint64_t extra,
			uint64_t *end, struct qimg_error *err);
/* Drop one reference from every host cluster of [off, off+len). */
int qcow2_free_bytes(struct qcow2_state *s, uint64_t off, uint64_t len,
		     struct qimg_error *err);
/* Start collecting the host clusters freed from now on. */
void qcow2_collect_freed(struct qcow2_state *s);
/* Stop collecting; once the freeing is on the disk (an ordering flush),
 * punch the collected clusters out of the file.  A punch that fails is
 * ignored (the clusters are free either way); a failed flush is not. */
int qcow2_discard_freed(struct qcow2_state *s, struct qimg_error *err);
/* Shrinking: drop from the refcount table the blocks that count nothing
 * but themselves (the table on the disk first, then their clusters
 * freed).  A damaged entry found before the table changes stops it. */
int qcow2_shrink_reftable(struct qcow2_state *s, struct qimg_error *err);
/* Write refcount blocks held dirty (lazy refcounts). */
int qcow2_refcount_flush(struct qcow2_state *s, struct qimg_error *err);
/* Recount every reference and rewrite refcounts (dirty images). */
int qcow2_refcount_repair(struct qcow2_state *s, struct qimg_error *err);

/* ---- datafile.c: external data files ---- */

/* Does an L2 entry (not compressed) name a host cluster?  Offset 0 does
 * too in an external data file when COPIED is set (every data cluster
 * there has refcount 1, and offset 0 is the first guest cluster's). */
static inline bool qcow2_entry_has_host(const struct qcow2_state *s,
					uint64_t l2e)
{
	return (l2e & QCOW2_L2E_OFFSET_MASK) ||
	       (s->ext_data && (l2e & QCOW2_OFLAG_COPIED));
}

/* Open: find the data file (the "data-file" options of the node, else the
 * name the image stores, opened as a plain file name of the default
 * protocol, relative to the working directory as qemu-img opens it) and
 * set s->data.  A node whose data_file is set already (create) keeps it.
 * Nothing is opened for QIMG_OPEN_NO_IO (info), as qemu-img 7.2 does not
 * open it then.  qemu-img's texts: "'data-file' is required for this
 * image", "'data-file' can only be set for images with an external data
 * file", "data-file-raw requires a data file". */
int qcow2_data_file_open(struct qimg_node *node, struct qcow2_state *s,
			 struct qimg_error *err);
/* Point guest clusters [c_from, c_to) at their own offsets in the data
 * file (metadata preallocation with a data file: L2 tables only). */
int qcow2_data_file_prealloc(struct qcow2_state *s, uint64_t c_from,
			     uint64_t c_to, struct qimg_error *err);
/* Resize the data file to `size` with the file layer's preallocation
 * ("falloc"/"full"; anything else: none). */
int qcow2_data_file_truncate(struct qcow2_state *s, uint64_t size,
			     const char *prealloc, struct qimg_error *err);
/* A data cluster at host offset `off` left the image (discard, zero with
 * unmap, shrink): its range in the data file is discarded, as qemu-img
 * passes such discards down; errors are ignored as there. */
void qcow2_data_file_release(struct qcow2_state *s, uint64_t off, uint64_t len);

/* ---- cluster.c ---- */

/* Index math. */
static inline uint64_t qcow2_l1_index(const struct qcow2_state *s, uint64_t off)
{
	return off >> (s->cluster_bits + s->l2_bits);
}

static inline uint64_t qcow2_l2_index(const struct qcow2_state *s, uint64_t off)
{
	return (off >> s->cluster_bits) & (s->l2_entries - 1);
}

static inline uint32_t qcow2_sc_index(const struct qcow2_state *s, uint64_t off)
{
	return (uint32_t)((off & (s->cluster_size - 1)) >> s->sc_bits);
}

/* Type of subcluster `sc` (0 without extended L2) of an L2 entry. */
enum qcow2_ctype qcow2_sc_type(const struct qcow2_state *s, uint64_t l2e,
			       uint64_t bitmap, uint32_t sc);

/* One run of equal mapping starting at a guest offset. */
struct qcow2_map {
	enum qcow2_ctype type;
	uint64_t len;  /* bytes from off */
	uint64_t host; /* NORMAL/ZERO_ALLOC: host offset of off */
	uint64_t l2e;  /* COMPRESSED: the descriptor */
};

/* Map [off, off+len) (metadata lock held).  m->len > 0. */
int qcow2_map_range(struct qcow2_state *s, uint64_t off, uint64_t len,
		    struct qcow2_map *m, struct qimg_error *err);
/* Load the L2 table at l2_off (lock held).  *tbl stays valid until the
 * lock is dropped or another table is loaded. */
int qcow2_l2_load(struct qcow2_state *s, uint64_t l2_off, uint8_t **tbl,
		  struct qimg_error *err);
/* The L2 table covering guest offset off, loaded: *l2_off 0 and *tbl
 * NULL when there is none. */
int qcow2_l2_find(struct qcow2_state *s, uint64_t off, uint64_t *l2_off,
		  uint8_t **tbl, struct qimg_error *err);
/* Make the L2 table covering guest offset `off` exist and be writable
 * (allocate or copy-on-write).  Returns its host offset. */
int qcow2_l2_prepare(struct qcow2_state *s, uint64_t off, uint64_t *l2_off,
		     struct qimg_error *err);
/* Read entry i (and its bitmap) of a loaded table. */
void qcow2_l2_entry(const struct qcow2_state *s, const uint8_t *tbl, uint64_t i,
		    uint64_t *l2e, uint64_t *bitmap);
/* Scratch arrays of n entries for rewriting a run of L2 entries: the old
 * entries and bitmaps, the new ones; one allocation, zeroed, freed with
 * free(*olde). */
int qcow2_l2_scratch(uint64_t n, uint64_t **olde, uint64_t **oldb,
		     uint64_t **ne, uint64_t **nb, struct qimg_error *err);
/* The write ordering rule: what was written before reaches the disk
 * before anything written after (a flush of the image file, when a write
 * since the last one may be depended on). */
int qcow2_barrier(struct qcow2_state *s, struct qimg_error *err);
/* Write back the L2 entries held dirty in the cache, after an ordering
 * flush: the data and refcounts they point at reach the disk first.  Called
 * before a dirty slot is reused, before a refcount decrement (the dropped
 * reference goes first), and by flush and close. */
int qcow2_l2_writeback(struct qcow2_state *s, struct qimg_error *err);
/* Set entries [i, i+n) of table l2_off and write them in one pwrite
 * (after a barrier: what the entries point at is on the disk first). */
int qcow2_l2_set(struct qcow2_state *s, uint64_t l2_off, uint64_t i, uint64_t n,
		 const uint64_t *l2e, const uint64_t *bitmap,
		 struct qimg_error *err);
/* Drop the references an old entry held (after it was replaced). */
int qcow2_free_entry(struct qcow2_state *s, uint64_t l2e,
		     struct qimg_error *err);
/* Write L1 entry i. */
int qcow2_l1_write(struct qcow2_state *s, uint64_t i, struct qimg_error *err);

/* ---- compress.c ---- */

/* Compressed descriptor: host byte offset and the number of bytes to read
 * (from the sector count), or encode one. */
void qcow2_cdesc_decode(const struct qcow2_state *s, uint64_t l2e,
			uint64_t *off, uint64_t *nbytes);
int qcow2_cdesc_encode(const struct qcow2_state *s, uint64_t off, uint64_t len,
		       uint64_t *l2e);
/* Compress len bytes (one cluster).  *outlen: in, the capacity of out; out,
 * the compressed length, or 0 when the result would not be smaller than
 * both len and the capacity (store the cluster plain). */
int qcow2_compress_buf(struct qimg_codec *codec, int type, const void *in,
		       size_t len, void *out, size_t *outlen,
		       struct qimg_error *err);
/* Decompress until exactly outlen bytes are produced. */
int qcow2_decompress_buf(int type, const void *in, size_t inlen, void *out,
			 size_t outlen);

/* ---- read.c, write.c, zero.c, write-compressed.c ---- */
/* Subcluster bits covering guest bytes [a, b) of the cluster at cstart. */
static inline uint64_t qcow2_sc_alloc_bits(const struct qcow2_state *s,
					   uint64_t cstart, uint64_t a,
					   uint64_t b)
{
	uint32_t first, last;
	uint64_t bits;

	if (b <= a)
		return 0;
	first = (uint32_t)((a - cstart) >> s->sc_bits);
	last = (uint32_t)((b - 1 - cstart) >> s->sc_bits);
	bits = last - first + 1 >= 32 ? 0xffffffffull
				      : ((1ull << (last - first + 1)) - 1);
	return bits << first;
}

int qcow2_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
	       struct qimg_error *err);
int qcow2_write(struct qimg_node *node, uint64_t off, const void *buf,
		size_t len, struct qimg_error *err);
int qcow2_copy_in(struct qimg_node *node, uint64_t off, uint64_t len,
		  struct qimg_node *file, uint64_t file_off,
		  struct qimg_error *err);
int qcow2_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		       unsigned int flags, struct qimg_error *err);
int qcow2_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		  struct qimg_error *err);
int qcow2_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_extent *ext, struct qimg_error *err);
int qcow2_compress(struct qimg_node *node, struct qimg_codec *codec,
		   const void *buf, size_t len, void *out, size_t *outlen,
		   struct qimg_error *err);
int qcow2_write_compressed(struct qimg_node *node, uint64_t off,
			   const void *buf, size_t len, const void *cbuf,
			   size_t clen, struct qimg_error *err);
/* ---- inflight.c ---- */
/* Largest number of clusters one allocation step handles. */
#define QCOW2_MAX_RUN 4096

static inline void qcow2_lock(struct qcow2_state *s)
{
	pthread_mutex_lock(&s->lock);
}

static inline void qcow2_unlock(struct qcow2_state *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* Guest clusters [c, c+n) being allocated by some writer (under the lock):
 * test, wait until none is, add a run, remove the run starting at c. */
bool qcow2_inflight_overlaps(const struct qcow2_state *s, uint64_t c,
			     uint64_t n);
void qcow2_inflight_wait(struct qcow2_state *s, uint64_t c, uint64_t n);
int qcow2_inflight_add(struct qcow2_state *s, uint64_t c, uint64_t n);
void qcow2_inflight_del(struct qcow2_state *s, uint64_t c);
/* Before the first change to the image: clear the autoclear bits of what
 * is not maintained (the bitmaps' bit stays while they are tracked). */
int qcow2_pre_write(struct qcow2_state *s, struct qimg_error *err);
/* Set the dirty bit before the first refcount update is deferred (calls
 * qcow2_pre_write). */
int qcow2_mark_dirty(struct qcow2_state *s, struct qimg_error *err);

/* ---- bitmap.c, bitmap-write.c, bitmap-track.c: persistent bitmaps ---- */
#define QCOW2_BME_IN_USE 0x1u
#define QCOW2_BME_AUTO 0x2u
/* QEMU's limits (what it refuses to open or to store). */
#define QCOW2_MAX_BITMAPS 65535
#define QCOW2_MAX_BITMAP_DIR (1024u * QCOW2_MAX_BITMAPS)
#define QCOW2_MAX_BITMAP_TABLE 0x8000000u /* entries */
#define QCOW2_MAX_BITMAP_BYTES (512ull << 20)
#define QCOW2_MAX_BITMAP_NAME 1023

/* One bitmap directory entry. */
struct qcow2_bitmap {
	char *name;
	uint32_t flags; /* QCOW2_BME_* */
	uint8_t gran_bits;
	uint64_t table_off;
	uint32_t table_size; /* entries */
};

/* The bitmaps of an open image in memory (s->bitmaps). */
struct qcow2_bitmaps {
	struct qimg_bitmap_set set;
	/* Read-write open: the image's bitmaps were marked in use on the
	 * disk, guest writes are recorded, and close stores them. */
	bool tracking;
};

/* The live bitmaps extension: nb_bitmaps 0 when there is none (no
 * extension, or no autoclear bit: then its bitmaps are lost). */
void qcow2_bitmaps_ext(const struct qcow2_state *s, uint32_t *nb,
		       uint64_t *dir_size, uint64_t *dir_off);
/* Set the extension in s->ext (nb 0: no extension) for the next header
 * write. */
void qcow2_bitmaps_ext_set(struct qcow2_state *s, uint32_t nb,
			   uint64_t dir_size, uint64_t dir_off);
/* The bitmap directory, checked as QEMU checks it (qemu-img's texts);
 * empty without a live extension. */
int qcow2_bitmaps_read(struct qcow2_state *s, struct qcow2_bitmap **out,
		       size_t *nout, struct qimg_error *err);
void qcow2_bitmaps_free(struct qcow2_bitmap *b, size_t n);
/* Bitmap table entries (host order), each checked: -EINVAL without a
 * message for a bad entry. */
int qcow2_bitmap_table_read(struct qcow2_state *s, uint64_t off, uint32_t size,
			    uint64_t **out, struct qimg_error *err);
/* Table entries a bitmap of 2^gran_bits granularity needs now. */
uint64_t qcow2_bitmap_table_entries(const struct qcow2_state *s,
				    uint32_t gran_bits);
/* Fill `set` with the image's bitmaps: the data of each one not in use,
 * the ones in use inconsistent.  dir and ndir (may be NULL) get the
 * directory read. */
int qcow2_bitmaps_load(struct qcow2_state *s, struct qimg_bitmap_set *set,
		       struct qcow2_bitmap **dir, size_t *ndir,
		       struct qimg_error *err);

/* QEMU's limits on a bitmap to store: granularity, size, name length. */
int qcow2_bitmap_constraints(struct qcow2_state *s, const char *name,
			     uint32_t gran_bits, struct qimg_error *err);
/* Rewrite the header cluster from s->h and s->ext, then flush. */
int qcow2_header_sync(struct qcow2_state *s, struct qimg_error *err);
/* Open: mark the directory's entries in use, in place, under a cleared
 * autoclear bit (as QEMU does on a read-write open). */
int qcow2_bitmaps_mark_in_use(struct qcow2_state *s, struct qcow2_bitmap *dir,
			      size_t n, struct qimg_error *err);
/* Close: write every consistent bitmap of `set` (new data clusters and
 * tables, a new directory, then the header), then free the old ones. */
int qcow2_bitmaps_store(struct qcow2_state *s, struct qimg_bitmap_set *set,
			struct qimg_error *err);
/* Delete bitmap `name` from the image (0 when it holds none such). */
int qcow2_bitmaps_remove_stored(struct qcow2_state *s, const char *name,
				struct qimg_error *err);

/* Open and close hooks (qcow2.c): check the bitmaps, and on a read-write
 * open load them and mark them in use; store them at close. */
int qcow2_bitmaps_open(struct qcow2_state *s, unsigned int flags,
		       struct qimg_error *err);
void qcow2_bitmaps_close(struct qcow2_state *s);
/* Free them without storing (a failed open). */
void qcow2_bitmaps_discard(struct qcow2_state *s);
/* True while guest writes are recorded (qcow2_pre_write keeps the
 * bitmaps' autoclear bit then). */
bool qcow2_bitmaps_tracking(const struct qcow2_state *s);
extern const struct qimg_bitmap_ops qcow2_bitmap_ops;
/* The guest write entry points with dirty tracking around them. */
int qcow2_bm_copy_in(struct qimg_node *node, uint64_t off, uint64_t len,
		     struct qimg_node *file, uint64_t file_off,
		     struct qimg_error *err);
int qcow2_bm_write(struct qimg_node *node, uint64_t off, const void *buf,
		   size_t len, struct qimg_error *err);
int qcow2_bm_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			  unsigned int flags, struct qimg_error *err);
int qcow2_bm_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		     struct qimg_error *err);
int qcow2_bm_write_compressed(struct qimg_node *node, uint64_t off,
			      const void *buf, size_t len, const void *cbuf,
			      size_t clen, struct qimg_error *err);
int qcow2_bm_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
		      const char *prealloc, struct qimg_error *err);

/* ---- snapshot.c ---- */
struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	char *id, *name;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_ns;
	uint64_t vm_state_size;
	uint64_t disk_size;
	bool has_icount;
	uint64_t icount;
};

/* Parse the snapshot table; *table_bytes (may be NULL) is its length. */
int qcow2_snapshots_read(struct qcow2_state *s, struct qcow2_snapshot **out,
			 size_t *nout, uint64_t *table_bytes,
			 struct qimg_error *err);
void qcow2_snapshots_free(struct qcow2_snapshot *sn, size_t n);
struct qcow2_sn_entry;
/* The table's entries as stored (extra data kept; free each with
 * qcow2_sn_entries_clear, then the array). */
int qcow2_sn_load(struct qcow2_state *s, struct qcow2_sn_entry **out,
		  size_t *nout, uint64_t *table_bytes, struct qimg_error *err);
/* Write n entries as the snapshot table: a new table, the header switched
 * to it, the old one (table_bytes long) freed (snapshot-write.c). */
int qcow2_sn_write_table(struct qcow2_state *s, const struct qcow2_sn_entry *e,
			 size_t n, uint64_t table_bytes,
			 struct qimg_error *err);
/* The snapshot_load_tmp op (read-only opens): id and/or name must match. */
int qcow2_snapshot_load_tmp(struct qimg_node *node, const char *id,
			    const char *name, struct qimg_error *err);

/* ---- resize.c ---- */
/* Map guest clusters [c_from, c_to) (all unallocated) to new host
 * clusters: "metadata" puts each L2 table's data after it; "falloc" and
 * "full" place new refcount structures at the end of the file, then one
 * contiguous data area the file layer preallocates (QEMU's layouts).
 * *end: the file length the layout needs (0: nothing to extend). */
int qcow2_preallocate(struct qcow2_state *s, const char *mode, uint64_t c_from,
		      uint64_t c_to, uint64_t *end, struct qimg_error *err);
/* The same; with sc_alloc, entries with subclusters get every allocation
 * bit set (they read as the host clusters, not as unallocated). */
int qcow2_preallocate_sc(struct qcow2_state *s, const char *mode,
			 uint64_t c_from, uint64_t c_to, bool sc_alloc,
			 uint64_t *end, struct qimg_error *err);
/* A new active L1 table of exactly n entries (n > l1_size), the header
 * switched to it, the old one freed. */
int qcow2_grow_l1(struct qcow2_state *s, uint32_t n, struct qimg_error *err);
/* The truncate op: grow or (allow_shrink) shrink the virtual size. */
int qcow2_truncate(struct qimg_node *node, uint64_t size, bool allow_shrink,
		   const char *prealloc, struct qimg_error *err);

/* The change_backing op (header.c): rewrite cluster 0 with a new backing
 * file name and format (NULL or "": none). */
int qcow2_change_backing(struct qimg_node *node, const char *file,
			 const char *fmt, struct qimg_error *err);
/* The make_empty op (empty.c). */
int qcow2_make_empty(struct qimg_node *node, struct qimg_error *err);

/* ---- snapshot-write.c: the snapshot ops ---- */
int qcow2_snapshot_create(struct qimg_node *node, const char *name,
			  struct qimg_error *err);
int qcow2_snapshot_delete(struct qimg_node *node, const char *name,
			  struct qimg_error *err);
int qcow2_snapshot_goto(struct qimg_node *node, const char *id_or_name,
			struct qimg_error *err);

/* ---- create.c / measure.c / info.c ---- */
extern const struct qimg_opt_desc qcow2_create_opts[];
int qcow2_create_validate(const struct qimg_opts *o, struct qimg_error *err);
int qcow2_create(struct qimg_node *file, const struct qimg_opts *o,
		 struct qimg_error *err);
int qcow2_measure(struct qimg_opts *o, struct qimg_node *in, uint64_t size,
		  const struct qimg_objects *objects, struct qimg_measure *out,
		  struct qimg_error *err);
int qcow2_get_info(struct qimg_node *node, struct qimg_image_info *info,
		   struct qimg_error *err);

/* ---- amend.c ---- */
extern const struct qimg_opt_desc qcow2_amend_opts[];
/* The amend op (qemu-img amend). */
int qcow2_amend(struct qimg_node *node, const struct qimg_opts *opts,
		const struct qimg_amend_opts *o, struct qimg_error *err);
/* Rebuild the refcount structures with 2^order-bit entries (v3 images),
 * the header switched to them once they are on the disk; report(opaque,
 * done, total) as the work goes.  EINVAL when a count does not fit. */
int qcow2_change_refcount_order(struct qcow2_state *s, uint32_t order,
				void (*report)(void *opaque, uint64_t done,
					       uint64_t total),
				void *opaque, struct qimg_error *err);

/* ---- crypt.c, crypt-luks.c: encryption ---- */
struct qimg_sector_cipher;
struct qimg_luks;
/* The bytes of secret `id` (NULL: qemu-img's "Parameter
 * 'encrypt.key-secret' is required for cipher"), freed with
 * qimg_secret_free. */
int qcow2_crypt_secret(struct qimg_node *node, const char *id, uint8_t **data,
		       size_t *len, struct qimg_error *err);
/* The legacy AES cipher (AES-128-CBC, plain64 IVs) of a passphrase: its
 * first 16 bytes, zero padded. */
int qcow2_aes_cipher(const uint8_t *secret, size_t len,
		     struct qimg_sector_cipher **out, struct qimg_error *err);
/* The encryption format the options name (NULL: none) must be the
 * image's; qemu-img's texts. */
int qcow2_crypt_check_format(const struct qcow2_state *s, const char *fmt,
			     struct qimg_error *err);
/* The node's runtime options checked as QEMU checks them at open (cache
 * sizes, cache-clean-interval, lazy-refcounts on a version 2 image,
 * overlap-check, encrypt.format); qemu-img's texts.  options.c */
int qcow2_check_options(struct qcow2_state *s, const struct qimg_opts *o,
			struct qimg_error *err);
/* Open: check encrypt.format against the header; unless QIMG_OPEN_NO_IO,
 * get the key from encrypt.key-secret and set s->cipher (request_align
 * 512).  qemu-img's texts. */
int qcow2_crypt_open(struct qimg_node *node, struct qcow2_state *s,
		     const struct qimg_opts *opts, struct qimg_error *err);
void qcow2_crypt_close(struct qcow2_state *s);
/* Read and unlock the LUKS header the crypto extension points at
 * (s->luks, s->cipher); close it (the master key wiped). */
int qcow2_luks_open(struct qcow2_state *s, const uint8_t *secret, size_t len,
		    struct qimg_error *err);
void qcow2_luks_close(struct qcow2_state *s);
/* Measure: the bytes (whole clusters) the LUKS area of a new image made
 * with these options takes; the key must exist, as qemu-img asks. */
int qcow2_luks_measure(const struct qimg_opts *o,
		       const struct qimg_objects *objects,
		       uint64_t cluster_size, uint64_t *bytes,
		       struct qimg_error *err);
/* Amend: the encrypt.* options (state, keyslot, old-secret, new-secret,
 * iter-time) change key slots; --force lets the last one go. */
int qcow2_luks_amend(struct qimg_node *node, const struct qimg_opts *o,
		     bool force, struct qimg_error *err);
/* Create: check the encrypt.* LUKS option names (qemu-img's texts). */
int qcow2_luks_check_opts(const struct qimg_opts *o, struct qimg_error *err);
/* Create: a LUKS header with key slot 0 opened by `secret` in new zeroed
 * clusters (the crypto extension set in s->ext, crypt_method left to the
 * caller), on the disk when it returns. */
int qcow2_luks_create(struct qcow2_state *s, const struct qimg_opts *o,
		      const uint8_t *secret, size_t len,
		      struct qimg_error *err);
/* En/decrypt guest data in place: `guest` and `host` are the offsets of
 * buf's first byte, len a multiple of 512.  decrypt does nothing without a
 * cipher; encrypt needs one. */
int qcow2_decrypt(struct qcow2_state *s, uint64_t guest, uint64_t host,
		  void *buf, size_t len, struct qimg_error *err);
int qcow2_encrypt(struct qcow2_state *s, uint64_t guest, uint64_t host,
		  void *buf, size_t len, struct qimg_error *err);
/* Write guest data at host offset `host` of the data file, encrypted
 * first (through a bounce buffer) when the image is. */
int qcow2_pwrite_data(struct qcow2_state *s, uint64_t guest, uint64_t host,
		      const void *buf, size_t len, struct qimg_error *err);

/* ---- qcow2.c ---- */
int qcow2_flush(struct qimg_node *node, struct qimg_error *err);

#endif
