/* SPDX-License-Identifier: MIT */
/* Committing an overlay into its backing chain (qemu-img commit): finding
 * the base by name, making it writable, copying what the images above it
 * hold, and emptying the overlay afterwards. */
#ifndef QIMG_COMMIT_H
#define QIMG_COMMIT_H

#include <stdint.h>

#include "qimg/error.h"

struct qimg_node;

/* The image of top's backing chain (below top) that `name` names, or NULL.
 * Matched as qemu-img matches -b: a name with a protocol prefix (json:,
 * nbd:), or compared with one, against each image's stored backing name
 * and its resolved form, as strings; a path relative to the directory of
 * each overlay in turn, both sides through realpath(3).  The first match
 * from the top wins. */
struct qimg_node *qimg_chain_find(struct qimg_node *top, const char *name);

/* Make overlay's backing file writable: it is opened again read-write with
 * the same options, keeps its name and its own backing chain, and takes the
 * read-only node's place, which is closed (pointers to it are invalid
 * after success).  Nothing changes on failure: the open's error ("Could not
 * open 'NAME': Permission denied"), or EPERM "Block node is read-only"
 * when its options ask for read-only.  No-op when already writable. */
int qimg_reopen_backing_rw(struct qimg_node *overlay, struct qimg_error *err);

struct qimg_commit_opts {
	/* Bytes per second of copied data (zero writes are free); 0: no
	 * limit. */
	uint64_t rate;
	/* Called with the bytes done out of those to do, at the start, after
	 * each request and at the end; may be NULL. */
	void (*progress)(void *opaque, uint64_t done, uint64_t total);
	void *opaque;
};

/* Write into `base` (an image of top's chain below top, open read-write:
 * see qimg_reopen_backing_rw) everything the images above it define, so
 * that base reads as top does; then flush base.  A base smaller than top
 * is grown first (never shrunk).  As qemu-img's commit job: the areas
 * allocated above base, widened to whole units of base's cluster size
 * (4 KiB..64 KiB; 64 KiB without clusters), are copied in requests of at
 * most 1 MiB; runs that read as zeros become zero writes that may unmap
 * (whole base clusters only), runs that read as nothing else discards.
 * The images above base are not changed.  Errors: the failing request's. */
int qimg_commit(struct qimg_node *top, struct qimg_node *base,
		const struct qimg_commit_opts *o, struct qimg_error *err);

/* What QEMU's block permissions refuse about committing the image below
 * `node` (the opened root, maybe filters over the image) into `base`: a
 * filter that needs consistent reads of its child (replication) or keeps
 * its image's backing chain from being written (copy-before-write).
 * -EPERM with QEMU's "Permission conflict on node ..." message. */
int qimg_commit_check(struct qimg_node *node, struct qimg_node *base,
		      struct qimg_error *err);

/* Empty an image: every cluster of its active state dropped, so that it
 * reads as its backing file (internal snapshots keep their data).  Call
 * only once what it held is safe elsewhere (after qimg_commit, which
 * flushed the base).  -ENOTSUP with "FMT does not support emptying nodes"
 * for formats that cannot; "Failed to empty NAME: ..." on failure. */
int qimg_make_empty(struct qimg_node *node, struct qimg_error *err);

#endif
