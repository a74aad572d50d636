/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_COMPRESS_H
#define QIMG_FORMATS_COMPRESS_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_compress;

#endif
