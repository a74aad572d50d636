/* SPDX-License-Identifier: MIT */
/* The iscsi protocol driver: a LUN of an iSCSI target (libiscsi). */
#ifndef QIMG_PROTOCOLS_ISCSI_H
#define QIMG_PROTOCOLS_ISCSI_H

#include "core/driver.h"

/* Names: iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET/LUN; options
 * transport (tcp; iser is refused), portal, target, lun, user, password
 * or password-secret (CHAP), initiator-name, header-digest (crc32c, none,
 * crc32c-none, none-crc32c) and timeout.  I/O is serial (one session per
 * node). */
extern const struct qimg_driver qimg_driver_iscsi;
extern const struct qimg_driver qimg_driver_iser;

#endif
