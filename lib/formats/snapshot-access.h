/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_SNAPSHOT_ACCESS_H
#define QIMG_FORMATS_SNAPSHOT_ACCESS_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_snapshot_access;

#endif
