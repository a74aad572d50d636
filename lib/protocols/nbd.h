/* SPDX-License-Identifier: MIT */
/* The NBD client protocol driver (libnbd). */
#ifndef QIMG_PROTOCOLS_NBD_H
#define QIMG_PROTOCOLS_NBD_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_nbd;

#endif
