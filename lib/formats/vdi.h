/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_VDI_H
#define QIMG_FORMATS_VDI_H

#include "core/driver.h"

/* VirtualBox disk images (VDI 1.1), static and dynamic, read-write. */
extern const struct qimg_driver qimg_driver_vdi;

#endif
