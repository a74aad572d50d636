/* SPDX-License-Identifier: MIT */
/* Dispatch of consistency checks to the format's checker. */

#include <errno.h>
#include <string.h>

#include "core/driver.h"

int qimg_check(struct qimg_node *node, unsigned int fix,
	       struct qimg_check_result *res, qimg_report_fn report,
	       void *opaque, struct qimg_error *err)
{
	memset(res, 0, sizeof(*res));
	if (!node->drv->check)
		return -ENOTSUP;
	if (fix && !(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EBADF,
				      "Image must be opened read-write to be "
				      "repaired");
	return node->drv->check(node, fix, res, report, opaque, err);
}
