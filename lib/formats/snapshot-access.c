/* SPDX-License-Identifier: MIT */
/* snapshot-access: a read-only view of the point in time a
 * copy-before-write node (its `file` child) keeps: what the source held
 * when that node was opened, read from the source where it has not
 * changed since and from the target where it has.  A discard tells the
 * copy-before-write node that the snapshot no longer needs those clusters
 * (a backup that has read them), which then read as EACCES.  Writes and
 * resizes are refused.  Over any other node every read, write and block
 * status fails with ENOTSUP, as QEMU's does.  Not a filter to the core:
 * its status is its own (where the snapshot's bytes are), and it is named
 * by its file child's name, plain or json:{...}, as QEMU names it. */

#include <errno.h>

#include "core/driver.h"
#include "formats/copy-before-write.h"
#include "formats/snapshot-access.h"

static int not_supported(struct qimg_error *err)
{
	return qimg_error_set(err, ENOTSUP, "Operation not supported");
}

static int sa_open(struct qimg_node *node, const struct qimg_opts *opts,
		   struct qimg_error *err)
{
	(void)opts;
	(void)err;
	qimg_filter_inherit(node);
	if (qimg_cbw_is(node->file))
		node->size = qimg_cbw_snap_size(node->file);
	return 0;
}

static void sa_close(struct qimg_node *node)
{
	(void)node;
}

static int sa_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		   struct qimg_error *err)
{
	if (!qimg_cbw_is(node->file))
		return not_supported(err);
	return qimg_cbw_snap_read(node->file, off, buf, len, err);
}

static int sa_write(struct qimg_node *node, uint64_t off, const void *buf,
		    size_t len, struct qimg_error *err)
{
	(void)node;
	(void)off;
	(void)buf;
	(void)len;
	return not_supported(err);
}

static int sa_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			   unsigned int flags, struct qimg_error *err)
{
	(void)node;
	(void)off;
	(void)len;
	(void)flags;
	return not_supported(err);
}

static int sa_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		      struct qimg_error *err)
{
	if (!qimg_cbw_is(node->file))
		return not_supported(err);
	return qimg_cbw_snap_discard(node->file, off, len, err);
}

static int sa_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			   struct qimg_extent *ext, struct qimg_error *err)
{
	if (!qimg_cbw_is(node->file))
		return not_supported(err);
	return qimg_cbw_snap_status(node->file, off, len, ext, err);
}

/* Named by its file child's name, whatever that is (QEMU copies it). */
static char *sa_exact_filename(struct qimg_node *node)
{
	return node->file ? qimg_node_display_name(node->file) : NULL;
}

const struct qimg_driver qimg_driver_snapshot_access = {
	.name = "snapshot-access",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_PARALLEL,
	.open = sa_open,
	.close = sa_close,
	.read = sa_read,
	.write = sa_write,
	.write_zeroes = sa_write_zeroes,
	.discard = sa_discard,
	.flush = qimg_filter_flush,
	.block_status = sa_block_status,
	.exact_filename = sa_exact_filename,
};
