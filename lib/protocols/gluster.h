/* SPDX-License-Identifier: MIT */
/* The gluster protocol driver: one file on a GlusterFS volume (libgfapi). */
#ifndef QIMG_PROTOCOLS_GLUSTER_H
#define QIMG_PROTOCOLS_GLUSTER_H

#include "core/driver.h"

/* Names: gluster[+tcp|+unix|+rdma]://[HOST[:PORT]]/VOLUME/PATH[?socket=S]
 * (unix: no host, the socket given; rdma falls back to tcp with a
 * warning); options volume, path, server (a list of {type: inet, host,
 * port} or {type: unix, path}), debug (libgfapi's log level, 0-9) and
 * logfile (libgfapi's log, "-" = stderr).  Read-write, create with
 * preallocation off/falloc/full, resize, SEEK_DATA/SEEK_HOLE block
 * status, discard, zero writes. */
extern const struct qimg_driver qimg_driver_gluster;

#endif
