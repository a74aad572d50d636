/* SPDX-License-Identifier: MIT */
/* The rbd protocol driver: one Ceph RBD image (librados and librbd,
 * loaded on first use). */
#ifndef QIMG_PROTOCOLS_RBD_H
#define QIMG_PROTOCOLS_RBD_H

#include "core/driver.h"

/* Names: rbd:POOL/[NAMESPACE/]IMAGE[@SNAPSHOT][:conf=FILE][:id=USER]
 * [:KEY=VALUE...] (rbd-name.c); options pool, namespace, image, conf,
 * snapshot, user, server (a list of host/port: the monitors), key-secret,
 * auth-client-required, encrypt (format luks|luks2, key-secret).
 * Read-write (a snapshot read-only), create, resize, block status from
 * the object map, the image's snapshots (list, create, roll back, delete);
 * I/O from any number of threads on one image handle. */
extern const struct qimg_driver qimg_driver_rbd;

/* The key under which a legacy name's Ceph settings are kept (a list
 * KEY, VALUE, ...): not a name any json:{...} shows. */
#define QIMG_RBD_PAIRS "=keyvalue-pairs"

/* Split a legacy name into options (added to the dict o). */
int qimg_rbd_parse_filename(const char *name, struct qimg_value *o,
			    struct qimg_error *err);

#endif
