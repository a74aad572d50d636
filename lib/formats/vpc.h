/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_VPC_H
#define QIMG_FORMATS_VPC_H

#include "core/driver.h"

/* VHD (Virtual PC, Hyper-V) images: fixed and dynamic, read-write. */
extern const struct qimg_driver qimg_driver_vpc;

#endif
