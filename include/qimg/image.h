/* SPDX-License-Identifier: MIT */
/* The block layer's public API: open an image (a format node stacked on a
 * protocol node, with its backing chain), and do guest-visible I/O on it.
 * Every call is thread-safe: many requests may be in flight on one node. */
#ifndef QIMG_IMAGE_H
#define QIMG_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qimg/error.h"
#include "qimg/opts.h"

struct qimg_node;

/* Open flags. */
#define QIMG_OPEN_RDWR 0x0001u	      /* read-write (default read-only) */
#define QIMG_OPEN_NO_BACKING 0x0002u  /* do not open the backing chain */
#define QIMG_OPEN_NO_IO 0x0004u	      /* metadata only (info): no repairs */
#define QIMG_OPEN_CHECK 0x0008u	      /* for check: allow corrupt, no repair */
#define QIMG_OPEN_FORCE_SHARE 0x0010u /* -U: do not take the shared lock */
#define QIMG_OPEN_NO_LOCK 0x0020u     /* take no image locks at all */
#define QIMG_OPEN_PROBED 0x0040u      /* internal: format was probed */
#define QIMG_OPEN_NO_SHARE 0x0080u /* others may not write (convert source) */
#define QIMG_OPEN_UNMAP                                                        \
	0x0100u /* discard=unmap: guest discards free host space */

enum qimg_cache_mode {
	QIMG_CACHE_WRITEBACK = 0,
	QIMG_CACHE_NONE,	 /* O_DIRECT */
	QIMG_CACHE_WRITETHROUGH, /* fdatasync after each write */
	QIMG_CACHE_DIRECTSYNC,	 /* O_DIRECT + writethrough */
	QIMG_CACHE_UNSAFE,	 /* flushes are no-ops */
};

/* Parse "none", "writeback", ... ; returns 0 or -EINVAL. */
int qimg_cache_mode_parse(const char *s, enum qimg_cache_mode *out);

struct qimg_value;
struct qimg_objects;
struct qimg_node_names;

struct qimg_open_args {
	/* A filename ("disk.qcow2", "nbd://host/exp", "json:{...}"), or NULL
	 * when `options` says everything. */
	const char *filename;
	const char *format; /* NULL: probe (or options' "driver") */
	/* An options tree (a dict) as qimg_options_parse makes it from
	 * --image-opts text; NULL: none.  Not taken over (copied). */
	const struct qimg_value *options;
	/* --object definitions (secrets) options may name; may be NULL. */
	const struct qimg_objects *objects;
	/* The names the process's open nodes hold (qimg/node-names.h): the
	 * new nodes take theirs there; NULL: a set of their own. */
	struct qimg_node_names *names;
	unsigned int flags; /* QIMG_OPEN_* */
	enum qimg_cache_mode cache;
	const struct qimg_opts *opts; /* extra driver options, may be NULL */
	/* Called once, with the image's name, when a read-write open guessed
	 * the raw format (the tool prints qemu-img's warning); may be NULL. */
	void (*probed_raw)(void *opaque, const char *filename);
	/* A driver's warning (one line, no prefix); may be NULL. */
	void (*warn)(void *opaque, const char *msg);
	void *warn_opaque;
};

/* The name of the i-th driver (formats and protocols, table order), NULL
 * past the last one. */
const char *qimg_driver_name(size_t i);

/* Open an image.  On failure *out is NULL and err holds the reason in
 * qemu-img's wording without the "Could not open 'NAME': " wrapper (the tool
 * adds it). */
int qimg_open(const struct qimg_open_args *args, struct qimg_node **out,
	      struct qimg_error *err);

/* --image-opts text ("driver=qcow2,file.filename=a.qcow2,...") into an
 * options dict, dotted keys nested.  A leading bare word (a node name) is
 * refused with qemu-img's text. */
int qimg_options_parse(const char *text, struct qimg_value **out,
		       struct qimg_error *err);
/* The JSON text of a json:{...} filename (without "json:") into an options
 * dict; errors in qemu-img's words ("Could not parse the JSON options:
 * ..."). */
int qimg_options_from_json(const char *text, struct qimg_value **out,
			   struct qimg_error *err);
/* The options of the protocol node a file name given as text stands for,
 * its protocol prefix parsed ("nbd://h/e": driver nbd, its server and
 * export; a name without a prefix: driver file, the name as it is), added
 * to the dict opts (keys already there win).  A name inside an options
 * tree is never parsed so: it is a plain file name, as in QEMU. */
int qimg_filename_options(const char *filename, struct qimg_value *opts,
			  struct qimg_error *err);

/* The name qemu-img shows for an open node: a plain filename when one
 * describes the node and its children, else "json:{...}" of its options.
 * malloc'd; NULL on allocation failure. */
char *qimg_node_display_name(const struct qimg_node *node);

/* Open a format (NULL: probe) over an open node `file`, which the new node
 * takes over (on failure it is closed).  The backing chain is opened unless
 * QIMG_OPEN_NO_BACKING; flags as for qimg_open. */
int qimg_open_over(struct qimg_node *file, const char *format,
		   unsigned int flags, struct qimg_node **out,
		   struct qimg_error *err);

/* qimg_open_over with the format node's options as a tree (as
 * qimg_options_parse makes it: "driver" names the format, absent: probe;
 * copied) and the --object table they may name (secrets). */
int qimg_open_over_opts(struct qimg_node *file,
			const struct qimg_value *options,
			const struct qimg_objects *objects, unsigned int flags,
			struct qimg_node **out, struct qimg_error *err);

/* A backing file name as seen from the directory of `image` (as qemu-img
 * resolves it): absolute names and "PROTOCOL:..." names (json:{...},
 * nbd://...) as they are, others joined to image's directory.  malloc'd;
 * NULL on allocation failure. */
char *qimg_resolve_backing_name(const char *image, const char *backing);

/* The name a new backing file `backing` of the open image `node` opens by,
 * as qemu-img rebase finds it: a relative name is joined to the directory
 * of the image's file (the first plain name down its file children); an
 * image with none (a json:{...} of a quorum) takes no relative name
 * ("Cannot use relative backing file names for 'json:{...}'").  malloc'd;
 * NULL with err set. */
char *qimg_new_backing_name(const struct qimg_node *node, const char *backing,
			    struct qimg_error *err);

/* Close the whole chain.  Flushes first (errors are ignored here: call
 * qimg_flush before if they matter).  NULL is allowed. */
void qimg_close(struct qimg_node *node);

/* Accessors. */
uint64_t qimg_size(const struct qimg_node *node); /* virtual size */
/* The virtual size as a command asks for it before using an image: fails
 * with ENOMEDIUM ("No medium found") when the node or a node under it is
 * a drive without its medium (QEMU's block backend refuses then; info
 * still shows the size). */
int qimg_length(const struct qimg_node *node, uint64_t *out,
		struct qimg_error *err);
const char *qimg_node_filename(const struct qimg_node *node);
const char *qimg_node_format(const struct qimg_node *node); /* driver name */
struct qimg_node *qimg_node_backing(const struct qimg_node *node);
struct qimg_node *qimg_node_file(const struct qimg_node *node);
/* The node itself, or below any filters (throttle) the node it passes
 * through to: whose snapshots, backing chain and commit the user means. */
struct qimg_node *qimg_node_image(const struct qimg_node *node);
/* Cluster size (0 if the format has none). */
uint32_t qimg_cluster_size(const struct qimg_node *node);
/* True if the image takes data only as whole compressed clusters
 * (qimg_write_compressed*): vmdk streamOptimized. */
bool qimg_needs_compressed_writes(const struct qimg_node *node);
/* True if fresh image reads as zeros everywhere (new file, no backing). */
bool qimg_has_zero_init(const struct qimg_node *node);
/* The format was guessed raw (no format given, nothing else matched). */
bool qimg_node_probed_raw(const struct qimg_node *node);
/* Minimum request alignment in bytes (512 for O_DIRECT files, else 1). */
uint32_t qimg_request_align(const struct qimg_node *node);
/* The request alignment QEMU's driver keeps for this node itself (what an
 * NBD export of it advertises as its minimum block size); 1: bytes. */
uint32_t qimg_node_export_align(const struct qimg_node *node);
/* Bytes the image's files take on the host (st_blocks*512 summed over file
 * and data-file children); -1 if unknown. */
int64_t qimg_allocated_size(struct qimg_node *node);

/* Guest I/O.  Ranges must lie inside the virtual size (the tool checks);
 * reads through unallocated areas fall through to the backing chain and read
 * as zero beyond it. */
int qimg_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
	      struct qimg_error *err);
int qimg_write(struct qimg_node *node, uint64_t off, const void *buf,
	       size_t len, struct qimg_error *err);
/* A write with flags: QIMG_WRITE_FUA = on stable storage when it returns
 * (the driver's own FUA, else a flush after it). */
#define QIMG_WRITE_FUA 0x1u
int qimg_write_flags(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, unsigned int flags, struct qimg_error *err);

#define QIMG_ZERO_MAY_UNMAP 0x1u   /* a hole/unallocated-zero is fine */
#define QIMG_ZERO_NO_FALLBACK 0x2u /* fail with -ENOTSUP, don't write zeros */
int qimg_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		      unsigned int flags, struct qimg_error *err);
int qimg_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		 struct qimg_error *err);
int qimg_flush(struct qimg_node *node, struct qimg_error *err);

/* Make a read-only image read as one of its internal snapshots, chosen by
 * id and/or name (both given: both must match).  ENOENT "Can't find
 * snapshot"; ENOTSUP for formats without internal snapshots. */
int qimg_snapshot_load_tmp(struct qimg_node *node, const char *id,
			   const char *name, struct qimg_error *err);
/* Create a snapshot of the image's current state named `name`; delete the
 * (first) snapshot named `name`; revert the image to the snapshot whose id,
 * or else name, is `id_or_name`.  The image must be open read-write.
 * -ENOTSUP (no message) for formats without internal snapshots. */
int qimg_snapshot_create(struct qimg_node *node, const char *name,
			 struct qimg_error *err);
int qimg_snapshot_delete(struct qimg_node *node, const char *name,
			 struct qimg_error *err);
int qimg_snapshot_goto(struct qimg_node *node, const char *id_or_name,
		       struct qimg_error *err);
/* Whether the image's snapshots are its file's (raw over rbd): qemu-img
 * then closes the image around a snapshot goto and opens it again, with
 * what an open prints. */
bool qimg_snapshot_on_file(const struct qimg_node *node);

/* Store a new backing file name and format in the image (NULL or "":
 * none); the data is not touched.  -ENOTSUP (no message) for formats
 * without a backing link. */
int qimg_change_backing(struct qimg_node *node, const char *file,
			const char *fmt, struct qimg_error *err);

/* Compressed writes: whole clusters (len == cluster size, or the tail of the
 * image), cluster aligned.  Returns -ENOTSUP if the format cannot.  The
 * two-step form lets callers compress in parallel and store in order:
 * qimg_compress() is pure (no image state touched; any thread), and
 * qimg_write_compressed_prepared() stores its output.  *outlen is the room
 * at out on entry, at least QIMG_COMPRESS_BOUND(len); on return the
 * compressed length, 0 meaning "store uncompressed" (the data did not
 * shrink).  codec is the calling thread's compressor state (tables kept
 * across calls), or NULL for a one-off. */
#define QIMG_COMPRESS_BOUND(len) ((len) + (len) / 8 + 1024)
struct qimg_codec;
struct qimg_codec *qimg_codec_new(void);
void qimg_codec_free(struct qimg_codec *codec);
bool qimg_can_compress(const struct qimg_node *node);
int qimg_compress(struct qimg_node *node, struct qimg_codec *codec,
		  const void *buf, size_t len, void *out, size_t *outlen,
		  struct qimg_error *err);
int qimg_write_compressed_prepared(struct qimg_node *node, uint64_t off,
				   const void *buf, size_t len,
				   const void *cbuf, size_t clen,
				   struct qimg_error *err);
int qimg_write_compressed(struct qimg_node *node, uint64_t off, const void *buf,
			  size_t len, struct qimg_error *err);

/* Copy offload (convert -C): copy the guest bytes [src_off, src_off+len)
 * of src (through its backing chain) to dst at dst_off by the protocol
 * (copy_file_range), without reading them into memory: to where dst's
 * bytes are (raw) or to clusters dst allocates for them (qcow2; its
 * unaligned edges go through a buffer).  -ENOTSUP with err
 * unset: some of the range is not stored as it reads (compressed,
 * encrypted, zero, another protocol) or dst has no such path; the caller
 * then copies through buffers (part of the range may have been copied,
 * as the same bytes). */
int qimg_copy_range(struct qimg_node *src, uint64_t src_off,
		    struct qimg_node *dst, uint64_t dst_off, uint64_t len,
		    struct qimg_error *err);

/* qimg_truncate's flags.  SHRINK: the size may go down.  EXACT: this size
 * or an error, so a protocol whose size is fixed (an NBD export, a device)
 * refuses any other (qemu-img resize). */
#define QIMG_TRUNCATE_SHRINK 1u
#define QIMG_TRUNCATE_EXACT 2u

/* Whether p is one of the preallocation modes QEMU knows (off, metadata,
 * falloc, full); a driver may still refuse one it cannot do. */
bool qimg_prealloc_mode_known(const char *p);

/* Change the virtual size (flags: QIMG_TRUNCATE_*). */
int qimg_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
		  const char *prealloc, struct qimg_error *err);

/* Block status flags. */
#define QIMG_BS_DATA 0x01u	   /* reads as data from this layer */
#define QIMG_BS_ZERO 0x02u	   /* reads as zeros */
#define QIMG_BS_OFFSET_VALID 0x04u /* *map is a host offset in *file */
#define QIMG_BS_ALLOCATED 0x08u	   /* this layer defines the content */
#define QIMG_BS_RAW 0x10u	   /* driver: ask *file at *map instead */
#define QIMG_BS_EOF 0x20u	   /* range reaches end of file */
#define QIMG_BS_RECURSE 0x40u	   /* driver: host holes at *map read as zero */

struct qimg_extent {
	uint64_t len;		/* bytes covered */
	unsigned int flags;	/* QIMG_BS_* */
	uint64_t map;		/* host offset if OFFSET_VALID */
	struct qimg_node *file; /* node holding map (protocol node) */
	int depth;		/* chain depth that answered (0 = top) */
};

/* Status of [off, off+len) looking through the backing chain down to (not
 * including) base; base NULL = the whole chain.  Fills one extent starting at
 * off (ext->len <= len, > 0).  The walk follows qemu-img map's semantics:
 * ALLOCATED means "present" somewhere in the chain; an unallocated area with
 * no backing (or beyond the backing's end) reads as ZERO at that depth. */
int qimg_block_status_above(struct qimg_node *node, struct qimg_node *base,
			    uint64_t off, uint64_t len, struct qimg_extent *ext,
			    struct qimg_error *err);

/* Status of this layer only (no chain walk). */
/* The same for a caller that copies the data (convert): it may also use
 * status that qemu-img has not for some formats (vhdx), and that map and
 * measure therefore do not show, to skip what reads as zeros. */
int qimg_block_status_for_copy(struct qimg_node *node, struct qimg_node *base,
			       uint64_t off, uint64_t len,
			       struct qimg_extent *ext, struct qimg_error *err);
int qimg_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
		      struct qimg_extent *ext, struct qimg_error *err);

#endif
