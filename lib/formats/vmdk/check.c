/* SPDX-License-Identifier: MIT */
/* check as qemu-img 7.2 checks a vmdk image: every allocated grain must
 * start inside its extent's file; the first that does not ends the check
 * (an "ERROR" line, then the check fails with EINVAL).  No repair. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "formats/vmdk/vmdk.h"

int vmdk_check(struct qimg_node *node, unsigned int fix,
	       struct qimg_check_result *res, qimg_report_fn report,
	       void *opaque, struct qimg_error *err)
{
	struct vmdk_state *s = node->opaque;
	uint64_t start = 0;
	size_t i;
	int r;

	(void)res;
	if (fix)
		return -ENOTSUP;
	for (i = 0; i < s->n; i++) {
		struct vmdk_extent *e = &s->ext[i];
		uint64_t g, rel, bytes = e->sectors * VMDK_SECTOR;
		int64_t flen;

		if (e->kind == VMDK_EXT_FLAT) {
			start = e->end_sector;
			continue;
		}
		flen = qimg_node_length(e->file, err);
		if (flen < 0)
			return (int)flen;
		g = e->grain_sectors * VMDK_SECTOR;
		for (rel = 0; rel < bytes; rel += g) {
			uint64_t l1i = rel / VMDK_SECTOR / e->l1_entry_sectors;
			enum vmdk_grain_state st;
			uint64_t host;
			char line[96];

			/* No grain table: nothing allocated in its span. */
			if (l1i < e->l1_size &&
			    (e->l1 ? !e->l1[l1i] : !e->l1_64[l1i])) {
				uint64_t next = (l1i + 1) * e->l1_entry_sectors;

				if (next >= e->sectors)
					break;
				rel = next * VMDK_SECTOR - g;
				continue;
			}

			r = vmdk_lookup(node, e, rel, &st, &host, err);
			if (r < 0)
				return r;
			if ((st == VMDK_GRAIN_DATA ||
			     st == VMDK_GRAIN_COMPRESSED) &&
			    host >= (uint64_t)flen) {
				snprintf(line, sizeof(line),
					 "ERROR: cluster offset for sector "
					 "%" PRIu64 " points after EOF",
					 start + rel / VMDK_SECTOR);
				report(opaque, line);
				return -EINVAL;
			}
		}
		start = e->end_sector;
	}
	return 0;
}
