/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_COPY_ON_READ_H
#define QIMG_FORMATS_COPY_ON_READ_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_copy_on_read;

#endif
