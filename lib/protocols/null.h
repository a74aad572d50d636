/* SPDX-License-Identifier: MIT */
/* The null-co and null-aio protocol drivers. */
#ifndef QIMG_PROTOCOLS_NULL_H
#define QIMG_PROTOCOLS_NULL_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_null_co;
extern const struct qimg_driver qimg_driver_null_aio;

#endif
