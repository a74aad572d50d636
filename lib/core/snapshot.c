/* SPDX-License-Identifier: MIT */
/* Internal snapshots through the driver table: the read side used by
 * convert -l and measure -l.  Creating, applying and deleting snapshots
 * come with the snapshot command. */

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
