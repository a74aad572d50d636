/* SPDX-License-Identifier: MIT */
/* THE driver contract.  Every format and protocol driver is one const
 * struct qimg_driver; lib/core/drivers.c lists them in probe order.  The
 * core (node.c, io.c, status.c) guarantees what is said on each member;
 * drivers assert those guarantees and never re-validate them. */
#ifndef QIMG_CORE_DRIVER_H
#define QIMG_CORE_DRIVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qimg/amend.h"
#include "qimg/check.h"
#include "qimg/create.h"
#include "qimg/error.h"
#include "qimg/image.h"
#include "qimg/info.h"
#include "qimg/opts.h"
#include "qimg/value.h"

enum qimg_driver_kind {
	QIMG_DRIVER_FORMAT,   /* interprets bytes of a child node */
	QIMG_DRIVER_PROTOCOL, /* reaches storage (a file, a socket) */
};

enum qimg_threads {
	QIMG_THREADS_SERIAL,   /* the core holds node->lock around each call */
	QIMG_THREADS_PARALLEL, /* the driver locks its own metadata */
};

/* What a node can take, filled by its driver's open (the core's defaults
 * before: request_align = mem_align = 1, the rest 0).  The core keeps every
 * request it passes to the driver within them: it pads reads and writes to
 * request_align (reading the partial blocks and serialising such
 * read-modify-writes against other writes of the same blocks), bounces
 * buffers not aligned to mem_align, splits at the max_* sizes, trims
 * discards to discard_align and writes the unaligned head and tail of a
 * zero write as data. */
struct qimg_limits {
	uint32_t request_align; /* offsets and lengths: multiples of this */
	uint32_t mem_align;	/* buffer addresses: multiples of this */
	uint64_t max_transfer;	/* largest read/write, 0 = no limit */
	uint32_t discard_align; /* discard granularity, 0 = request_align */
	uint64_t max_discard;	/* 0 = no limit */
	uint32_t zeroes_align;	/* efficient zero-write granularity */
	uint64_t max_zeroes;	/* 0 = no limit */
	bool fua;   /* write honours QIMG_WRITE_FUA itself; else the core
		     * flushes after the write */
	bool grows; /* writes past the end extend the node (files) */
	/* The request alignment QEMU's driver of this kind keeps for this
	 * node itself (never its child's): what an NBD export of the node
	 * advertises as its minimum block size.  0: bytes. */
	uint32_t export_align;
};

struct qimg_tracked_req;
struct qimg_bitmap_set;

/* Persistent dirty bitmaps (lib/core/dirty-bitmap.h holds the in-memory
 * side; lib/core/bitmap.c runs the user's operations on it). */
struct qimg_bitmap_ops {
	/* Whether this open image can hold persistent bitmaps at all (qcow2:
	 * version 3). */
	bool (*supported)(struct qimg_node *node);
	/* The image's bitmaps in memory, loaded from the image on a
	 * read-write open (and then stored back at close) or at the first
	 * call on a read-only one.  The driver owns the set. */
	int (*get)(struct qimg_node *node, struct qimg_bitmap_set **out,
		   struct qimg_error *err);
	/* Whether a new bitmap `name` of `granularity` bytes (a power of two
	 * >= 512) can be stored: 0, or an error with qemu-img's reason (the
	 * core names the bitmap and the node before it).  Called with the
	 * set's lock held; "already exists" is the core's check. */
	int (*can_store)(struct qimg_node *node, const char *name,
			 uint32_t granularity, struct qimg_error *err);
	/* Delete `name` from the image now (directory rewritten, its clusters
	 * freed); 0 when the image does not hold it yet. */
	int (*remove)(struct qimg_node *node, const char *name,
		      struct qimg_error *err);
};

/* Events a format driver signals on its file child (QEMU's blkdebug event
 * names, in blkdebug.c), so that a fault-injecting filter there can arm
 * its rules at the right moment. */
enum qimg_debug_event {
	QIMG_EV_L1_UPDATE,
	QIMG_EV_L1_GROW_ALLOC_TABLE,
	QIMG_EV_L1_GROW_WRITE_TABLE,
	QIMG_EV_L1_GROW_ACTIVATE_TABLE,
	QIMG_EV_L2_LOAD,
	QIMG_EV_L2_UPDATE,
	QIMG_EV_L2_UPDATE_COMPRESSED,
	QIMG_EV_L2_ALLOC_COW_READ,
	QIMG_EV_L2_ALLOC_WRITE,
	QIMG_EV_READ_AIO,
	QIMG_EV_READ_BACKING_AIO,
	QIMG_EV_READ_COMPRESSED,
	QIMG_EV_WRITE_AIO,
	QIMG_EV_WRITE_COMPRESSED,
	QIMG_EV_VMSTATE_LOAD,
	QIMG_EV_VMSTATE_SAVE,
	QIMG_EV_COW_READ,
	QIMG_EV_COW_WRITE,
	QIMG_EV_REFTABLE_LOAD,
	QIMG_EV_REFTABLE_GROW,
	QIMG_EV_REFTABLE_UPDATE,
	QIMG_EV_REFBLOCK_LOAD,
	QIMG_EV_REFBLOCK_UPDATE,
	QIMG_EV_REFBLOCK_UPDATE_PART,
	QIMG_EV_REFBLOCK_ALLOC,
	QIMG_EV_REFBLOCK_ALLOC_HOOKUP,
	QIMG_EV_REFBLOCK_ALLOC_WRITE,
	QIMG_EV_REFBLOCK_ALLOC_WRITE_BLOCKS,
	QIMG_EV_REFBLOCK_ALLOC_WRITE_TABLE,
	QIMG_EV_REFBLOCK_ALLOC_SWITCH_TABLE,
	QIMG_EV_CLUSTER_ALLOC,
	QIMG_EV_CLUSTER_ALLOC_BYTES,
	QIMG_EV_CLUSTER_FREE,
	QIMG_EV_FLUSH_TO_OS,
	QIMG_EV_FLUSH_TO_DISK,
	QIMG_EV_PWRITEV_RMW_HEAD,
	QIMG_EV_PWRITEV_RMW_AFTER_HEAD,
	QIMG_EV_PWRITEV_RMW_TAIL,
	QIMG_EV_PWRITEV_RMW_AFTER_TAIL,
	QIMG_EV_PWRITEV,
	QIMG_EV_PWRITEV_ZERO,
	QIMG_EV_PWRITEV_DONE,
	QIMG_EV_EMPTY_IMAGE_PREPARE,
	QIMG_EV_L1_SHRINK_WRITE_TABLE,
	QIMG_EV_L1_SHRINK_FREE_L2_CLUSTERS,
	QIMG_EV_COR_WRITE,
	QIMG_EV_CLUSTER_ALLOC_SPACE,
	QIMG_EV_NONE,
	QIMG_EV__MAX
};

/* One child of a node: the role it plays for its parent ("file",
 * "backing", "data-file", "image", "extents.0", ...) and the node.  The
 * parent owns its children: closing a node closes them (last first). */
struct qimg_child {
	char *role;
	struct qimg_node *node;
	bool from_options; /* given by the parent's options, not derived from
			    * the image (names it json:{...}) */
};

/* One open layer.  Its children are a list with roles; `file`, `backing`
 * and `data_file` are shortcuts to the children with those roles (NULL
 * when there is none), kept by the core. */
struct qimg_node {
	const struct qimg_driver *drv;
	void *opaque;	    /* drv->state_size bytes, zeroed */
	char *filename;	    /* as given by the user (or resolved) */
	char *display_name; /* qimg_node_display_name, set after open */
	unsigned int flags; /* QIMG_OPEN_* */
	enum qimg_cache_mode cache;
	uint64_t size; /* virtual size in bytes (set by open) */

	/* This node's own options as a tree (a dict): "driver", "filename",
	 * "offset", "cache": {"direct": ...}, as given (json:{...},
	 * --image-opts) or derived from a filename; each child holds its own.
	 * Built by the core; owned. */
	struct qimg_value *options;
	/* The --object table of the open call (secrets), or NULL. */
	const struct qimg_objects *objects;
	/* The set of names the open call's nodes take (a reference), and
	 * whether this node holds its node-name there. */
	struct qimg_node_names *names;
	bool name_claimed;
	/* The open call's warning sink (qimg_node_warn), or NULL. */
	void (*warn)(void *opaque, const char *msg);
	void *warn_opaque;

	struct qimg_child *children; /* in the order they were opened */
	size_t nchildren;

	struct qimg_node *file;	     /* role "file": what a format reads */
	struct qimg_node *data_file; /* role "data-file" (qcow2), or NULL */
	struct qimg_node *backing;   /* role "backing", or NULL */

	/* Backing reference as stored in the image (set by the format's open;
	 * malloc'd, freed by the core). */
	char *backing_filename;
	char *backing_format;
	char *full_backing_filename; /* resolved by the core */

	struct qimg_limits limits; /* filled by open; see the struct */
	uint32_t cluster_size;	   /* for info / convert alignment */
	bool zero_init;		   /* a new image reads as zeros */
	/* Data can only be stored as whole compressed clusters (vmdk
	 * streamOptimized): convert writes as with -c. */
	bool needs_compressed_writes;

	pthread_mutex_t lock; /* SERIAL drivers: held by the core */
	bool probed_raw;      /* raw was guessed: guard block 0 */
	/* A drive without its medium (host_cdrom with no disc): the tools'
	 * size queries fail (qimg_length), as QEMU's block backend's. */
	bool no_medium;

	/* Writes in flight on a node with request_align > 1, so that a
	 * read-modify-write of a partial block never overlaps another write
	 * of that block (core-private). */
	pthread_mutex_t reqs_lock;
	pthread_cond_t reqs_cond;
	struct qimg_tracked_req *reqs;
};

struct qimg_driver {
	const char *name;
	enum qimg_driver_kind kind;
	enum qimg_threads threads;
	size_t state_size;

	/* Options `create` accepts (NULL-name terminated), and those `amend`
	 * accepts (NULL: none). */
	const struct qimg_opt_desc *create_opts;
	const struct qimg_opt_desc *amend_opts;

	/* Protocol drivers: the filename prefixes that select this driver
	 * ("nbd" selects it for "nbd:..." and "nbd://..."); NULL-terminated,
	 * or NULL.  Exactly one protocol driver sets `default_protocol`: it
	 * takes every filename without a known prefix. */
	const char *const *protocols;
	bool default_protocol;
	/* Protocol drivers: turn a filename (its prefix included) into this
	 * driver's options, added to the dict `opts`.  NULL: the filename
	 * becomes option "filename", a leading "PREFIX:" of this driver
	 * removed. */
	int (*parse_filename)(const char *filename, struct qimg_value *opts,
			      struct qimg_error *err);
	/* QEMU's bdrv_needs_filename: a node's "filename" must be non-empty
	 * text, checked before the node's other options. */
	bool needs_filename;
	/* Options a node of this driver accepts when opened (from json:{...},
	 * --image-opts or parse_filename), beyond those the core takes for
	 * every node (driver, node-name, read-only, auto-read-only,
	 * force-share, cache.direct, cache.no-flush, discard, detect-zeroes)
	 * and beyond its children's subtrees.  Nested keys are written with
	 * dots ("server.type").  NULL-name terminated; NULL: none.  The core
	 * refuses any other key with qemu-img's text and hands `open` this
	 * node's own keys, validated, in `opts`. */
	const struct qimg_opt_desc *runtime_opts;
	/* The driver takes its options as one typed record (QEMU's ssh): a
	 * key outside runtime_opts is "Parameter 'X' is unexpected" rather
	 * than the block layer's "doesn't support the option". */
	bool typed_opts;
	/* typed_opts drivers: check the options tree as QEMU's QAPI visit
	 * does (types and missing members in schema order) and do nothing
	 * else.  The core calls it before it refuses a key the record does
	 * not have, which QEMU names last.  NULL: that key is named first. */
	int (*visit_opts)(const struct qimg_value *options,
			  struct qimg_error *err);
	/* The runtime options that change what the node reads (raw's offset
	 * and size): a node given one of them is named by json:{...}, not by a
	 * plain filename.  NULL-terminated, or NULL. */
	const char *const *strong_opts;
	/* Roles of children whose subtree of options belongs to the child,
	 * not to this node (the core adds "file" for format drivers and
	 * "backing" for those with supports_backing).  A role ending in '.'
	 * is a prefix ("extents." takes "extents.0", "extents.1", ...).
	 * NULL-terminated, or NULL. */
	const char *const *child_roles;
	/* A plain filename that describes this node (with its children) as
	 * opened, or NULL when only json:{...} can (malloc'd).  NULL callback:
	 * the core's rule (a protocol node opened with just a filename is that
	 * name; a format node with no options of its own over such a node is
	 * its file's name). */
	char *(*exact_filename)(struct qimg_node *node);

	/* Score 0..100 how surely `head` (the first `len` bytes of the file,
	 * len <= 4096, maybe less for short files) is this format.  raw
	 * scores 1.  NULL: never probed. */
	int (*probe)(const uint8_t *head, size_t len, const char *filename);

	/* Protocol: open node->filename with node->flags/cache.  Format: the
	 * core has opened node->file; read the metadata, set node->size,
	 * limits, backing_filename/backing_format.  Must unwind itself on
	 * failure (close is not called then).  QIMG_OPEN_NO_IO: do no repair
	 * and no write.  QIMG_OPEN_CHECK: accept images marked corrupt. */
	int (*open)(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err);
	void (*close)(struct qimg_node *node);

	/* Validate create options before any file is touched (may be NULL). */
	int (*create_validate)(const struct qimg_opts *o,
			       struct qimg_error *err);
	/* Protocol: how surely a plain name (no protocol prefix) is a host
	 * device of this driver's, 0 to 100 (may be NULL).  The surest one
	 * takes the name before its prefix and the default protocol. */
	int (*probe_device)(const char *filename);
	/* Format: the create options QEMU judges before it creates the
	 * file (may be NULL); create_validate then judges the rest. */
	int (*create_validate_early)(const struct qimg_opts *o,
				     struct qimg_error *err);
	/* Format: QEMU creates its file before it judges the format's own
	 * options (create_validate), so the file's create options are
	 * judged first (the protocol's create_check); otherwise after them. */
	bool create_file_first;
	/* Format: preallocation is an option of the format's own (qcow2,
	 * luks); otherwise the file the image is made on judges it. */
	bool create_own_prealloc;
	/* Protocol: judge the create options its create would refuse,
	 * before anything is made (may be NULL); `prealloc`: the
	 * preallocation option is the protocol's to judge. */
	int (*create_check)(const struct qimg_opts *o, bool prealloc,
			    struct qimg_error *err);
	/* Format: write a new image into the opened, empty protocol node
	 * `file` (read-write); file->objects is the --object table the
	 * options may name (secrets), or NULL.  Protocol: create
	 * node->filename (`file` is the not-yet-opened node with filename
	 * set). Options are validated. */
	int (*create)(struct qimg_node *file, const struct qimg_opts *o,
		      struct qimg_error *err);

	/* Guest I/O.  The core guarantees off + len <= node->size (unless
	 * limits.grows, for writes), off, len and buf aligned as the limits
	 * say, len <= max_transfer, and that the node is open read-write for
	 * write, write_zeroes, discard and truncate.  Rule for every optional
	 * path: return -ENOTSUP WITHOUT setting err to get the core's
	 * fallback (zeros written as data, a discard ignored); -ENOTSUP with
	 * err set is a real failure. */
	int (*read)(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err);
	int (*write)(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err);
	/* NULL: the core writes a zero buffer (unless NO_FALLBACK). */
	int (*write_zeroes)(struct qimg_node *node, uint64_t off, uint64_t len,
			    unsigned int flags, struct qimg_error *err);
	int (*discard)(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_error *err);
	int (*flush)(struct qimg_node *node, struct qimg_error *err);

	/* Compression: `compress` is pure (any thread, no state changes);
	 * `write_compressed` stores a cluster given both the plain data and
	 * its compressed form (clen == 0: store plain). */
	int (*compress)(struct qimg_node *node, struct qimg_codec *codec,
			const void *buf, size_t len, void *out, size_t *outlen,
			struct qimg_error *err);
	int (*write_compressed)(struct qimg_node *node, uint64_t off,
				const void *buf, size_t len, const void *cbuf,
				size_t clen, struct qimg_error *err);

	/* Status of this layer only, for [off, off+len): fill ext->len (> 0,
	 * <= len), ext->flags (QIMG_BS_*), ext->map and ext->file when
	 * OFFSET_VALID.  QIMG_BS_RAW: the core asks ext->file at ext->map.
	 * NULL: everything is allocated data. */
	int (*block_status)(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_extent *ext, struct qimg_error *err);
	/* qemu-img reports this format as all data (map, measure): only
	 * qimg_block_status_for_copy() asks block_status. */
	bool status_copy_only;

	/* Copy offload (convert -C).  write_map, format: where a write of
	 * [off, off+len) would put the bytes as they are: fill *file (the
	 * child holding them), *host and *n (> 0, <= len: the bytes that
	 * map contiguously), allocating nothing.  copy_range, protocol:
	 * copy len bytes from src (a node of the same driver) at src_off to
	 * node at off without passing them through the caller.  Either may
	 * return -ENOTSUP without setting err: the caller copies through
	 * buffers. */
	int (*write_map)(struct qimg_node *node, uint64_t off, uint64_t len,
			 struct qimg_node **file, uint64_t *host, uint64_t *n,
			 struct qimg_error *err);
	/* Copy offload into a format that allocates where it writes (no
	 * write_map): write [off, off+len) with the bytes the protocol node
	 * src holds at src_off, by qimg_pcopy where the layout allows and
	 * through a buffer where it does not.  -ENOTSUP without err, before
	 * writing anything: the bytes cannot go as they are (encryption,
	 * another protocol). */
	int (*copy_in)(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_node *src, uint64_t src_off,
		       struct qimg_error *err);
	int (*copy_range)(struct qimg_node *node, uint64_t off,
			  struct qimg_node *src, uint64_t src_off, uint64_t len,
			  struct qimg_error *err);

	/* Change the size; flags are QIMG_TRUNCATE_*, prealloc is "off",
	 * "metadata", "falloc", "full" or NULL.  A format passes
	 * QIMG_TRUNCATE_EXACT on to its file only where the file's size is
	 * the image's (raw, luks, filters). */
	int (*truncate)(struct qimg_node *node, uint64_t size, unsigned flags,
			const char *prealloc, struct qimg_error *err);

	/* Protocol: bytes used on the host (st_blocks*512), -1 unknown.
	 * Format: NULL means "sum of children". */
	int64_t (*allocated_size)(struct qimg_node *node);
	/* Protocol: length of the underlying file/device. */
	int64_t (*length)(struct qimg_node *node);

	/* Fill the driver's part of info: cluster_size, encrypted, dirty,
	 * format_specific.  NULL: no info (qemu's parallels case). */
	int (*get_info)(struct qimg_node *node, struct qimg_image_info *info,
			struct qimg_error *err);

	int (*check)(struct qimg_node *node, unsigned int fix,
		     struct qimg_check_result *res, qimg_report_fn report,
		     void *opaque, struct qimg_error *err);

	/* `objects`: the --object table the options may name, or NULL. */
	int (*measure)(struct qimg_opts *o, struct qimg_node *in, uint64_t size,
		       const struct qimg_objects *objects,
		       struct qimg_measure *out, struct qimg_error *err);

	/* Change the image's options in place (qemu-img amend): `opts` holds
	 * only names of amend_opts, typed (the core checked them); what
	 * changes, in which order and what is refused follows qemu-img.
	 * o->progress (may be NULL) gets the work done and the work known.
	 * Read-write nodes only; the core holds no lock.  NULL: the format
	 * cannot amend ("does not support option amendment"). */
	int (*amend)(struct qimg_node *node, const struct qimg_opts *opts,
		     const struct qimg_amend_opts *o, struct qimg_error *err);

	/* Protocol: take image locks compatible with QEMU's (OFD byte-range
	 * locks): `perm` are the QIMG_PERM_* bits we use, `unshared` those we
	 * forbid others.  Fails with qemu-img's "Failed to get ... lock" text.
	 * NULL: no locking. */
	int (*set_perm)(struct qimg_node *node, unsigned int perm,
			unsigned int unshared, struct qimg_error *err);

	/* Internal snapshots (read side): make a read-only node read as the
	 * snapshot whose id and/or name (NULL: any) match.  NULL: the format
	 * has none. */
	int (*snapshot_load_tmp)(struct qimg_node *node, const char *id,
				 const char *name, struct qimg_error *err);
	/* Internal snapshots (write side, read-write opens): create one
	 * named `name`, delete the first named `name`, revert to the one
	 * whose id (else name) matches.  NULL: not supported. */
	int (*snapshot_create)(struct qimg_node *node, const char *name,
			       struct qimg_error *err);
	int (*snapshot_delete)(struct qimg_node *node, const char *name,
			       struct qimg_error *err);
	int (*snapshot_goto)(struct qimg_node *node, const char *id_or_name,
			     struct qimg_error *err);
	/* Point the image at another backing file (name and format as
	 * stored; NULL or "": none).  NULL: not supported. */
	int (*change_backing)(struct qimg_node *node, const char *file,
			      const char *fmt, struct qimg_error *err);
	/* Drop every cluster of the active state, so that the image reads
	 * as its backing file everywhere (what `commit` leaves in the image
	 * it committed); internal snapshots keep theirs.  Read-write nodes
	 * only; the core holds no lock.  NULL: the format cannot, and such
	 * images keep their data. */
	int (*make_empty)(struct qimg_node *node, struct qimg_error *err);

	/* Persistent dirty bitmaps.  NULL: the format has none. */
	const struct qimg_bitmap_ops *bitmap;

	/* A format driver above signalled `ev` on this node (see
	 * qimg_debug_event).  NULL: ignored. */
	void (*debug_event)(struct qimg_node *node, enum qimg_debug_event ev);

	bool supports_backing;
	/* A filter (throttle, compress, preallocate): its guest bytes are its
	 * file child's, what belongs to an image (snapshots, the backing
	 * chain, commit, rebase) is its child's, and it is named by its
	 * options (json:{...}). */
	bool is_filter;
	/* Format shares WRITE/RESIZE of its file with others (raw does). */
	bool shares_file_writes;
	/* Filter: how QEMU's permissions refuse a commit of the image below
	 * it.  QIMG_PERM_CONSISTENT_READ: it needs consistent reads of its
	 * file child, which the commit job takes away (replication);
	 * QIMG_PERM_WRITE: it keeps others from writing its image's backing
	 * chain, and the commit writes the base (copy-before-write). */
	unsigned commit_conflict;
	/* Protocol: what its create writes (rbd's LUKS header) is the
	 * image's content, which a raw create over it leaves as it is (no
	 * zeroed first block). */
	bool create_writes_content;
};

/* Permission bits, numbered as QEMU numbers them for its lock bytes
 * (byte 100 + bit index: "we use it"; 200 + bit index: "others must not"). */
#define QIMG_PERM_CONSISTENT_READ 0x1u
#define QIMG_PERM_WRITE 0x2u
#define QIMG_PERM_WRITE_UNCHANGED 0x4u
#define QIMG_PERM_RESIZE 0x8u

/* The registry (drivers.c). */
const struct qimg_driver *qimg_driver_find(const char *name);
/* Whether QEMU 7.2 (as Debian builds it) has a block driver of this name;
 * `schema`: one its option schema names (backing-fmt), which leaves out
 * iser (a second name of the iscsi driver). */
bool qimg_qemu_driver_name(const char *name, bool schema);
const struct qimg_driver *const *qimg_driver_list(size_t *n);
/* The name of a qemu-img format qimg does not have yet whose signature
 * starts `head` (dmg: whose file name ends in .dmg), or NULL. */
const char *qimg_later_format_probe(const uint8_t *head, size_t len,
				    const char *filename);
const struct qimg_driver *qimg_driver_probe(const uint8_t *head, size_t len,
					    const char *filename);

/* Helpers for drivers (node.c, io.c). */

/* How qimg_open_child opens a child. */
#define QIMG_CHILD_PROTOCOL                                                    \
	0x1u /* no format probing: a protocol node (or
				  * the driver the child's options name) */
#define QIMG_CHILD_OPTIONAL                                                    \
	0x2u /* absent options and filename: no child,
				  * *out = NULL, success */
#define QIMG_CHILD_LOCK_DATA                                                   \
	0x8u /* a child holding the parent's guest data
				  * (qcow2's data file): a protocol child is
				  * locked as QEMU locks one (it uses read, and
				  * write and resize read-write; others may
				  * write but not resize) */
#define QIMG_CHILD_PLAIN_NAME                                                  \
	0x4u /* `filename` is a plain file name of the
				  * default protocol: neither json:{...} nor a
				  * protocol prefix is parsed (a leading "file:"
				  * is that driver's own and goes) */

/* Open the child `role` of `parent` (whose own open is in progress or
 * done) and add it to parent's children.  The child's options are the
 * subtree parent->options[role] when present (a string there names a node:
 * refused as qemu-img refuses it), else `filename` (relative names are
 * taken as given).  Without either: "A block device must be specified for
 * \"ROLE\"" unless OPTIONAL.  Flags (read-write, cache mode, force-share)
 * are inherited from the parent; `flags` adds QIMG_OPEN_* bits. */
int qimg_open_child(struct qimg_node *parent, const char *role,
		    const char *filename, unsigned int how, unsigned int flags,
		    struct qimg_node **out, struct qimg_error *err);
/* Create (empty) and open read-write the protocol file `filename`, named
 * as a user names it (relative to the working directory, protocol
 * prefixes parsed): a file a format keeps beside its image (qcow2's
 * external data file).  opts are the create options (the protocol's
 * own are used).  *remove_path: the path to hand to qimg_remove_aux_file
 * if the caller fails later, NULL when the file existed before (or is
 * no file).  Close *out with qimg_close. */
int qimg_create_aux_file(const char *filename, const struct qimg_opts *opts,
			 struct qimg_node **out, char **remove_path,
			 struct qimg_error *err);
/* Remove (when path is not NULL) and free path. */
void qimg_remove_aux_file(char *path);
/* What `child`'s driver adds to info (cluster size, dirty flag): for a
 * format that answers as its child does (raw).  0 and nothing filled when
 * the child's driver has no get_info. */
int qimg_child_info(struct qimg_node *child, struct qimg_image_info *info,
		    struct qimg_error *err);
/* For filter drivers (filter.c): take the file child's size, cluster
 * size, alignment, transfer limit and zero_init; and the callbacks every
 * filter has alike (a flush the core completes on the child, block status
 * and resizes passed to the child, the child's info without its
 * format-specific section). */
void qimg_filter_inherit(struct qimg_node *node);
int qimg_filter_flush(struct qimg_node *node, struct qimg_error *err);
int qimg_filter_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			     struct qimg_extent *ext, struct qimg_error *err);
int qimg_filter_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			 const char *prealloc, struct qimg_error *err);
int qimg_filter_get_info(struct qimg_node *node, struct qimg_image_info *info,
			 struct qimg_error *err);
/* Signal a debug event on `node` (a format's file child); nothing happens
 * unless its driver listens (blkdebug). */
static inline void qimg_debug_event(struct qimg_node *node,
				    enum qimg_debug_event ev)
{
	if (node && node->drv->debug_event)
		node->drv->debug_event(node, ev);
}

/* A plain filename describing node, or NULL when only json:{...} can
 * (malloc'd). */
char *qimg_node_exact_filename(const struct qimg_node *node);

/* The node-name the node was given (its option), or NULL. */
const char *qimg_node_name(const struct qimg_node *node);

/* How QEMU names a node in its messages: its node-name, else the name it
 * generates, "#block" + the node's place in QEMU's open order (seq) + two
 * random digits. */
void qimg_node_qemu_name(const struct qimg_node *node, unsigned int seq,
			 char *buf, size_t len);

/* The child with this role, or NULL. */
struct qimg_node *qimg_node_child(const struct qimg_node *node,
				  const char *role);

/* Raw I/O on a protocol (or any) child node, no chain semantics: the range
 * must be inside the node for reads that must be full; reads beyond a
 * protocol node's EOF return zeros. */
int qimg_pread(struct qimg_node *node, uint64_t off, void *buf, size_t len,
	       struct qimg_error *err);
int qimg_pwrite(struct qimg_node *node, uint64_t off, const void *buf,
		size_t len, struct qimg_error *err);
/* Copy n bytes from the protocol node src at soff to dst at doff by the
 * protocol's copy_range, not through memory.  qimg_pcopy_ok: src and dst
 * are of one driver that can; qimg_pcopy: -ENOTSUP without err when they
 * are not, the range is not aligned as both need, or the kernel
 * declines. */
bool qimg_pcopy_ok(const struct qimg_node *src, const struct qimg_node *dst);
int qimg_pcopy(struct qimg_node *src, uint64_t soff, struct qimg_node *dst,
	       uint64_t doff, uint64_t n, struct qimg_error *err);
/* Length of a protocol node's file (bytes). */
int64_t qimg_node_length(struct qimg_node *node, struct qimg_error *err);
/* Read guest data from the backing chain of `node` (zeros past the
 * backing's end or without backing). */
int qimg_read_backing(struct qimg_node *node, uint64_t off, void *buf,
		      size_t len, struct qimg_error *err);

/* For a truncate that only knows preallocation "off" (or none given):
 * 0, or ENOTSUP with the text qemu gives for any other mode. */
int qimg_truncate_prealloc_off(const char *prealloc, struct qimg_error *err);

#endif
