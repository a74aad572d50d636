/* SPDX-License-Identifier: MIT */
/* The nfs protocol driver: one file on an NFSv3 server (libnfs). */
#ifndef QIMG_PROTOCOLS_NFS_H
#define QIMG_PROTOCOLS_NFS_H

#include "core/driver.h"

/* Names: nfs://HOST[:PORT]/EXPORT/PATH/FILE[?uid=N&gid=N&tcp-syncnt=N&
 * readahead=N&pagecache=N&debug=N] (the port is checked and not used: the
 * portmapper says where MOUNT and NFS are); options server.type (inet),
 * server.host, path, user, group, tcp-syn-count, readahead-size,
 * page-cache-size and debug.  Read-write, create, resize; I/O from any
 * number of threads shares one connection, several requests in flight. */
extern const struct qimg_driver qimg_driver_nfs;

#endif
