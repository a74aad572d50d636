/* SPDX-License-Identifier: MIT */
/* The blkverify filter: an image checked against a raw reference copy. */
#ifndef QIMG_PROTOCOLS_BLKVERIFY_H
#define QIMG_PROTOCOLS_BLKVERIFY_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_blkverify;

#endif
