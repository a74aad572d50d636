/* SPDX-License-Identifier: MIT */
/* The vvfat protocol driver ("fat:[floppy:][12:|16:]DIR"): a host
 * directory as a read-only FAT disk. */
#ifndef QIMG_PROTOCOLS_VVFAT_H
#define QIMG_PROTOCOLS_VVFAT_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_vvfat;

#endif
