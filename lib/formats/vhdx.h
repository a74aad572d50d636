/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_VHDX_H
#define QIMG_FORMATS_VHDX_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_vhdx;

#endif
