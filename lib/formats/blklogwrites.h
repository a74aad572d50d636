/* SPDX-License-Identifier: MIT */
/* The blklogwrites filter: writes logged in dm-log-writes format. */
#ifndef QIMG_FORMATS_BLKLOGWRITES_H
#define QIMG_FORMATS_BLKLOGWRITES_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_blklogwrites;

#endif
