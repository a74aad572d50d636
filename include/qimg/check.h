/* SPDX-License-Identifier: MIT */
/* Consistency checks and repairs (`qimg check`). */
#ifndef QIMG_CHECK_H
#define QIMG_CHECK_H

#include <stdint.h>

#include "qimg/error.h"

struct qimg_node;

#define QIMG_CHECK_FIX_LEAKS 0x1u
#define QIMG_CHECK_FIX_ERRORS 0x2u

struct qimg_check_result {
	int corruptions;
	int leaks;
	int check_errors;
	int corruptions_fixed;
	int leaks_fixed;
	int64_t image_end_offset; /* 0: not reported */
	uint64_t total_clusters;
	uint64_t allocated_clusters;
	uint64_t fragmented_clusters;
	uint64_t compressed_clusters;
	/* A repair marked the image corrupt on the way (a fatal corruption
	 * event): as qemu-img drops such a node, the open image takes no
	 * further check, and the repair's refcount updates were kept in
	 * memory only. */
	bool unusable;
};

/* A checker reports each problem as one line (no newline), e.g.
 * "Leaked cluster 25 refcount=1 reference=0"; the tool prints it to
 * stderr.  A line that starts with QIMG_CHECK_TOOL_MSG is an error message
 * of the tool's own kind: the tool puts its program name in place of the
 * mark ("qimg: Could not resize file: ..."). */
#define QIMG_CHECK_TOOL_MSG "\001"
typedef void (*qimg_report_fn)(void *opaque, const char *line);

/* Check (and with fix, repair) the top image.  Returns -ENOTSUP if the
 * format has no checker; other negative errno when the check could not
 * complete.  The node must be opened with QIMG_OPEN_CHECK (and RDWR for
 * fix).  With fix, res describes the state found by the first pass with
 * the *_fixed counts; the caller runs a second pass to double-check. */
int qimg_check(struct qimg_node *node, unsigned int fix,
	       struct qimg_check_result *res, qimg_report_fn report,
	       void *opaque, struct qimg_error *err);

#endif
