/* SPDX-License-Identifier: MIT */
/* The convert copy engine (convert-copy.c), shared with cmd-convert.c which
 * parses options, opens the sources and creates/opens the target. */
#ifndef QIMG_TOOL_CONVERT_H
#define QIMG_TOOL_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

struct convert_src {
	const char *name;
	struct qimg_node *node;
	struct qimg_node *base; /* status is taken above this, or NULL */
	uint64_t sectors;	/* size in 512-byte sectors, rounded up */
	uint64_t alignment;	/* status boundaries, in sectors (>= 1) */
};

struct convert_params {
	const struct tool *t;
	struct convert_src *src;
	size_t nsrc;
	struct qimg_node *target;
	uint64_t total_sectors;
	uint64_t min_sparse;		/* -S in sectors; 0: write everything */
	uint64_t alignment;		/* target zero-run alignment, sectors */
	uint64_t buf_sectors;		/* largest data request, sectors */
	uint64_t cluster_sectors;	/* target cluster, for -c */
	int64_t target_backing_sectors; /* -1: none/unknown */
	bool compressed;
	bool has_zero_init; /* target reads as zeros: skip zeros */
	bool target_has_backing;
	bool in_order;	     /* !-W */
	bool salvage;	     /* --salvage: bad sectors read as zeros */
	bool copy_range;     /* -C: data ranges copied as they are,
				    * without looking for zeros inside */
	bool quiet;	     /* -q: no salvage warnings */
	int workers;	     /* -m */
	uint64_t rate_limit; /* bytes/s, 0: none */
	struct tool_progress *progress;
};

/* Copy all sources into the target.  Prints its own error messages
 * (qemu-img's texts) and returns 0 or a negative errno. */
int convert_copy(const struct convert_params *p);

/* --bitmaps (convert-bitmaps.c): can the source's bitmaps be copied
 * (before the target is created), and copy them (after the data).  Both
 * print qemu-img's messages and return 0 or -1. */
int convert_check_bitmaps(const struct tool *t, struct qimg_node *src,
			  bool skip_broken);
int convert_copy_bitmaps(const struct tool *t, struct qimg_node *src,
			 struct qimg_node *dst, bool skip_broken);

#endif
