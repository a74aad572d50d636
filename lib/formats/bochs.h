/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_BOCHS_H
#define QIMG_FORMATS_BOCHS_H

#include "core/driver.h"

/* Bochs growing (redolog) images, read-only. */
extern const struct qimg_driver qimg_driver_bochs;

#endif
