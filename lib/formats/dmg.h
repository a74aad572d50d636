/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_DMG_H
#define QIMG_FORMATS_DMG_H

#include "core/driver.h"

/* Apple UDIF disk images, read-only. */
extern const struct qimg_driver qimg_driver_dmg;

#endif
