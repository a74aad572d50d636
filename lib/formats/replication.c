/* SPDX-License-Identifier: MIT */
/* The replication filter (QEMU's COLO block replication) as qemu-img has
 * it: a node over its file child, opened as mode=primary, or as
 * mode=secondary with the top-id of the node it works under.  Replication
 * itself is started by a running VM's COLO, which qemu-img never does; a
 * node where it has not started fails every read and write with EIO, so
 * that is all guest I/O does here.  Everything else is its child's, as with
 * any filter: the size, block status (map), info, flushes, the image below
 * for snapshots and the backing chain.  With no zero write and no discard
 * of its own, zeros are written as data (and fail the same way) and a
 * discard, being advice, is dropped, as in qemu-img.
 *
 * Resizing: qemu-img 7.2 aborts on any resize through this filter (an
 * assertion: the filter does not pass the resize permission to its child);
 * here the driver has no truncate, so a resize is refused with the block
 * layer's "Image format driver does not support resize" and the image is
 * left as it was, as qemu-img's abort leaves it. */

#include <errno.h>
#include <string.h>

#include "core/driver.h"
#include "formats/replication.h"

static const struct qimg_opt_desc repl_runtime_opts[] = {
	{ "mode", QIMG_OPT_STRING, "The replication mode", NULL },
	{ "top-id", QIMG_OPT_STRING, "The id of the top node (secondary)",
	  NULL },
	{ NULL, 0, NULL, NULL },
};

/* Both decide what the node is: it is named by json:{...}. */
static const char *const repl_strong_opts[] = { "mode", "top-id", NULL };

/* The mode and top-id, checked in qemu-img's order: the mode given, then
 * its value, then top-id as the mode wants it (refused on the primary
 * side, even empty; required on the secondary side, any text).  Either
 * mode reads and writes alike here: nothing else depends on it. */
static int check_mode(const struct qimg_opts *opts, struct qimg_error *err)
{
	const char *m = qimg_opts_get_str(opts, "mode", NULL);
	bool top = qimg_opts_has(opts, "top-id");

	if (!m)
		return qimg_error_set(err, EINVAL, "Missing the option mode");
	if (!strcmp(m, "primary")) {
		if (top)
			return qimg_error_set(err, EINVAL,
					      "The primary side does not "
					      "support option top-id");
		return 0;
	}
	if (!strcmp(m, "secondary")) {
		if (!top)
			return qimg_error_set(err, EINVAL,
					      "Missing the option top-id");
		return 0;
	}
	return qimg_error_set(err, EINVAL,
			      "The option mode's value should be primary or "
			      "secondary");
}

static int repl_open(struct qimg_node *node, const struct qimg_opts *opts,
		     struct qimg_error *err)
{
	int r = check_mode(opts, err);

	if (r < 0)
		return r;
	qimg_filter_inherit(node);
	return 0;
}

static void repl_close(struct qimg_node *node)
{
}

/* Replication never runs in qimg: no request reaches the child. */
static int not_running(struct qimg_error *err)
{
	return qimg_error_set(err, EIO, "Input/output error");
}

static int repl_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	return not_running(err);
}

static int repl_write(struct qimg_node *node, uint64_t off, const void *buf,
		      size_t len, struct qimg_error *err)
{
	return not_running(err);
}

const struct qimg_driver qimg_driver_replication = {
	.name = "replication",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_PARALLEL,
	.runtime_opts = repl_runtime_opts,
	.strong_opts = repl_strong_opts,
	.open = repl_open,
	.close = repl_close,
	.read = repl_read,
	.write = repl_write,
	.flush = qimg_filter_flush,
	.block_status = qimg_filter_block_status,
	.get_info = qimg_filter_get_info,
	.is_filter = true,
	.commit_conflict = QIMG_PERM_CONSISTENT_READ,
};
