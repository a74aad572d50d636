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

int qimg_snapshot_create(struct qimg_node *node, const char *name,
			 struct qimg_error *err)
{
	node = qimg_node_image(node); /* through filters */
	if (!node->drv->snapshot_create)
		return -ENOTSUP;
	return node->drv->snapshot_create(node, name, err);
}

int qimg_snapshot_delete(struct qimg_node *node, const char *name,
			 struct qimg_error *err)
{
	node = qimg_node_image(node); /* through filters */
	if (!node->drv->snapshot_delete)
		return -ENOTSUP;
	return node->drv->snapshot_delete(node, name, err);
}

int qimg_snapshot_goto(struct qimg_node *node, const char *id_or_name,
		       struct qimg_error *err)
{
	node = qimg_node_image(node); /* through filters */
	if (!node->drv->snapshot_goto)
		return -ENOTSUP;
	return node->drv->snapshot_goto(node, id_or_name, err);
}

int qimg_change_backing(struct qimg_node *node, const char *file,
			const char *fmt, struct qimg_error *err)
{
	node = qimg_node_image(node); /* through filters */
	if (!node->drv->change_backing)
		return -ENOTSUP;
	return node->drv->change_backing(node, file, fmt, err);
}
