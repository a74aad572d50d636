/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_CLOOP_H
#define QIMG_FORMATS_CLOOP_H

#include "core/driver.h"

/* cloop V2.0 compressed images, read-only. */
extern const struct qimg_driver qimg_driver_cloop;

#endif
