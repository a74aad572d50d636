/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_QCOW_H
#define QIMG_FORMATS_QCOW_H

#include "core/driver.h"

/* qcow version 1 images, read and write. */
extern const struct qimg_driver qimg_driver_qcow;

#endif
