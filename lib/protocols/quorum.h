/* SPDX-License-Identifier: MIT */
/* The quorum driver. */
#ifndef QIMG_PROTOCOLS_QUORUM_H
#define QIMG_PROTOCOLS_QUORUM_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_quorum;

#endif
