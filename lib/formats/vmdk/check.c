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
		uint64_t g, rel, run, bytes = e->sectors * VMDK_SECTOR;
		int64_t flen;

		if (e->kind == VMDK_EXT_FLAT) {
			start = e->end_sector;
			continue;
		}
		flen = qimg_node_length(e->file, err);
		if (flen < 0)
			return (int)flen;
		g = e->grain_sectors * VMDK_SECTOR;
		for (rel = 0; rel < bytes; rel += run) {
			enum vmdk_grain_state st;
			uint64_t host, last;
			char line[96];

			r = vmdk_lookup_run(node, e, rel, bytes - rel, &st,
					    &host, &run, err);
			if (r < 0)
				return r;
			if (st != VMDK_GRAIN_DATA &&
			    st != VMDK_GRAIN_COMPRESSED)
				continue;
			/* a run of data is contiguous: its last grain lies
			 * furthest; name the first one past the end */
			last = host + (run - 1) / g * g;
			if (last >= (uint64_t)flen) {
				uint64_t k =
					host >= (uint64_t)flen
						? 0
						: ((uint64_t)flen - host + g -
						   1) / g;

				snprintf(line, sizeof(line),
					 "ERROR: cluster offset for sector "
					 "%" PRIu64 " points after EOF",
					 start + (rel + k * g) / VMDK_SECTOR);
				report(opaque, line);
				return -EINVAL;
			}
		}
		start = e->end_sector;
	}
	return 0;
}
