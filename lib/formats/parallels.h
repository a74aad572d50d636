/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_PARALLELS_H
#define QIMG_FORMATS_PARALLELS_H

#include "core/driver.h"

/* Parallels images (both signatures), read-write, as qemu-img 7.2. */
extern const struct qimg_driver qimg_driver_parallels;

struct qimg_bitmap_set;

/* parallels-ext.c: read the Format Extension cluster at byte `off` (the
 * image's cluster size) and add its dirty bitmaps to `set`. */
int par_ext_load(struct qimg_node *node, uint64_t off, uint64_t cluster,
		 struct qimg_bitmap_set *set, struct qimg_error *err);

#endif
