/* SPDX-License-Identifier: MIT */
/* The copy of a safe rebase (rebase-copy.c), used by cmd-rebase.c. */
#ifndef QIMG_TOOL_REBASE_H
#define QIMG_TOOL_REBASE_H

#include "common.h"

/* Make `top` read over `nb` (NULL: no backing file) as it reads over `old`
 * (NULL: none): where top has nothing of its own, the sectors in which old
 * and nb differ are written into top.  Prints qemu-img's messages on
 * failure and returns 0 or a negative errno; what was written stays
 * unflushed. */
int rebase_copy(const struct tool *t, struct qimg_node *top,
		struct qimg_node *old, struct qimg_node *nb,
		struct tool_progress *prog);

#endif
