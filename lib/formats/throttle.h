/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_THROTTLE_H
#define QIMG_FORMATS_THROTTLE_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_throttle;

#endif
