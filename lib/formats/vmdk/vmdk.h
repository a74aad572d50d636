/* SPDX-License-Identifier: MIT */
/* VMDK (private header of lib/formats/vmdk/).  A vmdk node is a
 * descriptor (a text file, or the text embedded in a hosted sparse file)
 * naming extents that concatenate into the disk.  Each extent is a flat
 * range of a file, a hosted sparse file ("KDMV": grain directory, grain
 * tables, grains, maybe compressed with markers: streamOptimized), an ESX
 * sparse file ("COWD", vmfsSparse) or a seSparse file (read only).
 * Separate extent files are children "extents.N" of the vmdk node; the
 * monolithic formats use the node's file. */
#ifndef QIMG_FORMATS_VMDK_H
#define QIMG_FORMATS_VMDK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_vmdk;

#define VMDK_SECTOR 512u
#define VMDK_MAGIC_KDMV 0x564d444bu /* "KDMV" read little endian */
#define VMDK_MAGIC_COWD 0x44574f43u /* "COWD" */
#define VMDK_SESPARSE_MAGIC UINT64_C(0xcafebabe)
#define VMDK_GD_AT_END UINT64_C(0xffffffffffffffff)

/* Hosted sparse header flags. */
#define VMDK_FLAG_NL_DETECT 0x1u
#define VMDK_FLAG_RGD 0x2u
#define VMDK_FLAG_ZERO_GRAIN 0x4u
#define VMDK_FLAG_COMPRESS 0x10000u
#define VMDK_FLAG_MARKER 0x20000u

/* Stream markers. */
#define VMDK_MARKER_EOS 0u
#define VMDK_MARKER_GT 1u
#define VMDK_MARKER_GD 2u
#define VMDK_MARKER_FOOTER 3u

/* qemu-img's limits on a sparse header. */
#define VMDK_MAX_GRAIN_SECTORS 0x200000u
#define VMDK_MAX_GTES 512u
#define VMDK_MAX_L1_ENTRIES 0x2000000u
#define VMDK_DESC_MAX (1u << 20)

enum vmdk_kind {
	VMDK_EXT_FLAT,	   /* FLAT, VMFS */
	VMDK_EXT_SPARSE,   /* hosted sparse (KDMV) */
	VMDK_EXT_COWD,	   /* ESX sparse (vmfsSparse) */
	VMDK_EXT_SESPARSE, /* seSparse */
};

/* Where a grain of an extent lives. */
enum vmdk_grain_state {
	VMDK_GRAIN_UNALLOC,    /* not in this image: backing or zeros */
	VMDK_GRAIN_ZERO,       /* zeroed-grain entry / seSparse zero */
	VMDK_GRAIN_DATA,       /* plain at host */
	VMDK_GRAIN_COMPRESSED, /* compressed grain at host */
};

struct vmdk_gt_cache {
	uint64_t l1_index; /* UINT64_MAX: empty */
	uint32_t *gt;	   /* host order entries (seSparse: 64-bit) */
	uint64_t *gt64;
	uint32_t age;
};

#define VMDK_GT_CACHE 16

struct vmdk_extent {
	struct qimg_node *file; /* node->file or child "extents.N" */
	enum vmdk_kind kind;
	char *type;	      /* as info shows it: "" for monolithic */
	uint64_t sectors;     /* guest sectors of this extent */
	uint64_t end_sector;  /* cumulative end in the disk */
	uint64_t flat_offset; /* bytes, flat extents */
	uint64_t file_len;    /* of the extent file at open */
	uint32_t version;     /* sparse header version */
	uint32_t flags;	      /* sparse header flags */
	bool compressed;      /* grains are deflated */
	bool markers;	      /* grains carry lba/size headers */
	bool zeroed_grain;    /* GTE 1 = zero grain */
	bool read_only;	      /* version 3 uncompressed, seSparse, COWD */
	bool gd_at_end;	      /* a stream whose header is in its footer */
	uint64_t grain_sectors;
	uint32_t gtes;		   /* entries per grain table */
	uint32_t l1_size;	   /* grain directory entries */
	uint64_t l1_entry_sectors; /* guest sectors covered by one GT */
	uint64_t gd_sector;	   /* grain directory, sectors */
	uint64_t rgd_sector;	   /* redundant one, 0: none */
	uint64_t overhead;	   /* sectors before grain data */
	uint32_t *l1;		   /* GD, host order */
	uint32_t *l1_backup;	   /* RGD, host order (or NULL) */
	uint64_t *l1_64;	   /* seSparse GD */
	uint64_t se_gt_sector;	   /* seSparse grain tables */
	uint64_t se_grain_sector;  /* seSparse grains */
	uint64_t next_sector;	   /* where the next grain goes (writes) */
	struct vmdk_gt_cache cache[VMDK_GT_CACHE];
	uint32_t clock;
	/* The last compressed grain inflated: its host offset (UINT64_MAX:
	 * none), bytes and how many came out. */
	uint64_t z_host;
	uint8_t *z_plain;
	size_t z_got;
};

struct vmdk_state {
	struct vmdk_extent *ext;
	size_t n;
	uint32_t cid, parent_cid;
	char *create_type; /* NULL: none in the descriptor */
	char *desc;	   /* descriptor text */
	bool desc_embedded;
	uint64_t desc_offset; /* bytes in the file, embedded */
	uint64_t desc_size;   /* bytes available there */
	bool cid_updated;     /* a write bumped the CID already */
	bool monolithic;      /* the one extent is the file itself */
};

/* vmdk.c */
/* Read the backing file's data (zeros past its end); EINVAL when the
 * parent is a vmdk whose CID is not our parentCID, as qemu-img. */
int vmdk_read_backing(struct qimg_node *node, uint64_t off, void *buf,
		      size_t len, struct qimg_error *err);

/* desc.c */
/* The value of `key` ("CID", "createType") in the descriptor text: a
 * quoted value loses its quotes; malloc'd, NULL when absent. */
char *vmdk_desc_get(const char *desc, const char *key);
int vmdk_desc_get_u32hex(const char *desc, const char *key, uint32_t *out);
/* Replace (or add after `createType`) `key=value` lines; returns a new
 * text or NULL. */
char *vmdk_desc_set(const char *desc, const char *key, const char *value);

/* extent.c */
int vmdk_open_sparse(struct qimg_node *node, struct vmdk_extent *e,
		     const uint8_t *hdr, bool monolithic,
		     struct qimg_error *err);
int vmdk_open_cowd(struct qimg_node *node, struct vmdk_extent *e,
		   const uint8_t *hdr, struct qimg_error *err);
int vmdk_open_sesparse(struct qimg_node *node, struct vmdk_extent *e,
		       const uint8_t *hdr, struct qimg_error *err);
void vmdk_extent_free(struct vmdk_extent *e);
/* State of the grain holding extent byte `off`; *host is the byte where
 * the grain starts for DATA and COMPRESSED. */
int vmdk_lookup(struct qimg_node *node, struct vmdk_extent *e, uint64_t off,
		enum vmdk_grain_state *st, uint64_t *host,
		struct qimg_error *err);
/* The same, and *run: how many bytes from `off` (at most n > 0) continue
 * that state, for DATA in one contiguous stretch of the file; a
 * COMPRESSED grain is a run of its own.  Each grain table is scanned in
 * one loop, and a GD entry naming no table skips its whole span. */
int vmdk_lookup_run(struct qimg_node *node, struct vmdk_extent *e, uint64_t off,
		    uint64_t n, enum vmdk_grain_state *st, uint64_t *host,
		    uint64_t *run, struct qimg_error *err);
int vmdk_read_compressed(struct qimg_node *node, struct vmdk_extent *e,
			 uint64_t host, uint64_t grain_off, uint8_t *buf,
			 size_t len, struct qimg_error *err);
/* The cached grain table of GD entry l1_index (host order entries). */
int vmdk_gt_load(struct qimg_node *node, struct vmdk_extent *e,
		 uint64_t l1_index, uint32_t **gt, struct qimg_error *err);
int vmdk_file_read(struct qimg_node *node, struct vmdk_extent *e, uint64_t off,
		   void *buf, size_t len, struct qimg_error *err);

/* create.c */
extern const struct qimg_opt_desc vmdk_create_opts[];
int vmdk_create_validate(const struct qimg_opts *o, struct qimg_error *err);
int vmdk_create(struct qimg_node *file, const struct qimg_opts *o,
		struct qimg_error *err);

/* write.c */
int vmdk_write(struct qimg_node *node, uint64_t off, const void *buf,
	       size_t len, struct qimg_error *err);
int vmdk_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		      unsigned int flags, struct qimg_error *err);
int vmdk_write_compressed(struct qimg_node *node, uint64_t off, const void *buf,
			  size_t len, const void *cbuf, size_t clen,
			  struct qimg_error *err);
int vmdk_compress(struct qimg_node *node, struct qimg_codec *codec,
		  const void *buf, size_t len, void *out, size_t *outlen,
		  struct qimg_error *err);
int vmdk_flush(struct qimg_node *node, struct qimg_error *err);

/* check.c */
int vmdk_check(struct qimg_node *node, unsigned int fix,
	       struct qimg_check_result *res, qimg_report_fn report,
	       void *opaque, struct qimg_error *err);

#endif
