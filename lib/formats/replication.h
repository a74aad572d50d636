/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_REPLICATION_H
#define QIMG_FORMATS_REPLICATION_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_replication;

#endif
