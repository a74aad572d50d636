/* SPDX-License-Identifier: MIT */
/* The throttle filter: its child's bytes, with every read, write, zero
 * write and discard held until the throttle group it names lets it start
 * (util/throttle-group.h).  Several nodes may share one group, and so its
 * limits.  Flushes and block status pass freely, as in QEMU. */

#include <errno.h>
#include <string.h>

#include "core/driver.h"
#include "formats/throttle.h"
#include "qimg/object.h"
#include "util/throttle-group.h"

struct throttle_state {
	struct qimg_throttle_group *group;
};

static const struct qimg_opt_desc throttle_runtime_opts[] = {
	{ "throttle-group", QIMG_OPT_STRING, "Name of the throttle group",
	  NULL },
	{ NULL, 0, NULL, NULL },
};

/* The group decides what the node does: it names the node. */
static const char *const throttle_strong_opts[] = { "throttle-group", NULL };

static int throttle_open(struct qimg_node *node, const struct qimg_opts *opts,
			 struct qimg_error *err)
{
	struct throttle_state *s = node->opaque;
	const char *id = qimg_opts_get_str(opts, "throttle-group", NULL);

	if (!id)
		return qimg_error_set(err, EINVAL,
				      "Please specify a throttle group");
	s->group = qimg_objects_throttle_group(node->objects, id, err);
	if (!s->group)
		return -ENOENT;
	qimg_filter_inherit(node);
	return 0;
}

static void throttle_close(struct qimg_node *node)
{
}

static struct qimg_throttle_group *group(struct qimg_node *node)
{
	return ((struct throttle_state *)node->opaque)->group;
}

static int throttle_read(struct qimg_node *node, uint64_t off, void *buf,
			 size_t len, struct qimg_error *err)
{
	qimg_throttle_group_io(group(node), false, len);
	return qimg_pread(node->file, off, buf, len, err);
}

static int throttle_write(struct qimg_node *node, uint64_t off, const void *buf,
			  size_t len, struct qimg_error *err)
{
	qimg_throttle_group_io(group(node), true, len);
	return qimg_pwrite(node->file, off, buf, len, err);
}

static int throttle_write_zeroes(struct qimg_node *node, uint64_t off,
				 uint64_t len, unsigned int flags,
				 struct qimg_error *err)
{
	qimg_throttle_group_io(group(node), true, len);
	return qimg_write_zeroes(node->file, off, len,
				 flags | QIMG_ZERO_NO_FALLBACK, err);
}

static int throttle_discard(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_error *err)
{
	qimg_throttle_group_io(group(node), true, len);
	return qimg_discard(node->file, off, len, err);
}

const struct qimg_driver qimg_driver_throttle = {
	.name = "throttle",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct throttle_state),
	.runtime_opts = throttle_runtime_opts,
	.strong_opts = throttle_strong_opts,
	.open = throttle_open,
	.close = throttle_close,
	.read = throttle_read,
	.write = throttle_write,
	.write_zeroes = throttle_write_zeroes,
	.discard = throttle_discard,
	.flush = qimg_filter_flush,
	.block_status = qimg_filter_block_status,
	.truncate = qimg_filter_truncate,
	.get_info = qimg_filter_get_info,
	.is_filter = true,
};
