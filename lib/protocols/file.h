/* SPDX-License-Identifier: MIT */
/* The file protocol driver object and its create options. */
#ifndef QIMG_PROTOCOLS_FILE_H
#define QIMG_PROTOCOLS_FILE_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_file;
extern const struct qimg_driver qimg_driver_host_device;
extern const struct qimg_driver qimg_driver_host_cdrom;

/* size, nocow, preallocation, extent_size_hint (qemu-img's order). */
const struct qimg_opt_desc *qimg_file_create_opts(void);

#endif
