/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_LUKS_H
#define QIMG_FORMATS_LUKS_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_luks;

#endif
