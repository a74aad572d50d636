/* SPDX-License-Identifier: MIT */
/* Changes to an image's chain through the driver table: internal
 * snapshots (loading one read-only for convert -l and measure -l;
 * creating, applying and deleting them for snapshot -c/-a/-d) and the
 * backing link (rebase). */

#include <errno.h>

#include "core/driver.h"
#include "core/node.h"

int qimg_snapshot_load_tmp(struct qimg_node *node, const char *id,
			   const char *name, struct qimg_error *err)
{
	if (!node->drv->snapshot_load_tmp)
		return qimg_error_set(err, ENOTSUP,
				      "Block format '%s' used by device '' "
				      "does not support temporarily loading "
				      "internal snapshots",
				      node->drv->name);
	if (node->flags & QIMG_OPEN_RDWR)
		return qimg_error_set(err, EPERM, "Device is not readonly");
	return node->drv->snapshot_load_tmp(node, id, name, err);
}

/* The node whose driver has snapshot operation `op` (an offset into the
 * driver table): node itself, else, through filters and formats that have
 * none (raw), the first file node below that has it, as qemu-img falls
 * back to the file child (rbd's snapshots under raw). */
#define SNAPSHOT_NODE(node, op)                                                \
	do {                                                                   \
		struct qimg_node *n_ = qimg_node_image(node);                  \
		while (!n_->drv->op && n_->file)                               \
			n_ = n_->file;                                         \
		(node) = n_->drv->op ? n_ : qimg_node_image(node);             \
	} while (0)

int qimg_snapshot_create(struct qimg_node *node, const char *name,
			 struct qimg_error *err)
{
	SNAPSHOT_NODE(node, snapshot_create);
	if (!node->drv->snapshot_create)
		return -ENOTSUP;
	return node->drv->snapshot_create(node, name, err);
}

int qimg_snapshot_delete(struct qimg_node *node, const char *name,
			 struct qimg_error *err)
{
	SNAPSHOT_NODE(node, snapshot_delete);
	if (!node->drv->snapshot_delete)
		return -ENOTSUP;
	return node->drv->snapshot_delete(node, name, err);
}

int qimg_snapshot_goto(struct qimg_node *node, const char *id_or_name,
		       struct qimg_error *err)
{
	SNAPSHOT_NODE(node, snapshot_goto);
	if (!node->drv->snapshot_goto)
		return -ENOTSUP;
	return node->drv->snapshot_goto(node, id_or_name, err);
}

bool qimg_snapshot_on_file(const struct qimg_node *node)
{
	const struct qimg_node *n = qimg_node_image(node);

	if (n->drv->snapshot_goto)
		return false;
	for (n = n->file; n; n = n->file)
		if (n->drv->snapshot_goto)
			return true;
	return false;
}

int qimg_change_backing(struct qimg_node *node, const char *file,
			const char *fmt, struct qimg_error *err)
{
	node = qimg_node_image(node); /* through filters */
	if (!node->drv->change_backing)
		return -ENOTSUP;
	return node->drv->change_backing(node, file, fmt, err);
}
