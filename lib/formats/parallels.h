/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_PARALLELS_H
#define QIMG_FORMATS_PARALLELS_H

#include "core/driver.h"

/* Parallels images (both signatures), read-write, as qemu-img 7.2. */
extern const struct qimg_driver qimg_driver_parallels;

#endif
