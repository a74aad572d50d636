/* SPDX-License-Identifier: MIT */
/* The blkdebug fault-injection filter. */
#ifndef QIMG_PROTOCOLS_BLKDEBUG_H
#define QIMG_PROTOCOLS_BLKDEBUG_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_blkdebug;

#endif
