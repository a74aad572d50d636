/* SPDX-License-Identifier: MIT */
#ifndef QIMG_FORMATS_COPY_BEFORE_WRITE_H
#define QIMG_FORMATS_COPY_BEFORE_WRITE_H

#include "core/driver.h"

extern const struct qimg_driver qimg_driver_copy_before_write;

/* The point-in-time view a copy-before-write node keeps (what its source
 * held when the node was opened), for the snapshot-access driver.  `cbw`
 * must be a copy-before-write node (qimg_cbw_is).  Ranges lie inside the
 * size the node had at open (qimg_cbw_snap_size).  A range the snapshot
 * no longer holds (left out by the node's bitmap, discarded, or lost to a
 * failed copy under on-cbw-error=break-snapshot) fails with EACCES. */
bool qimg_cbw_is(const struct qimg_node *node);
uint64_t qimg_cbw_snap_size(const struct qimg_node *cbw);
int qimg_cbw_snap_read(struct qimg_node *cbw, uint64_t off, void *buf,
		       size_t len, struct qimg_error *err);
/* Status of the snapshot at off: ext->file is the node that holds it
 * there (the source or the target) and QIMG_BS_RAW asks it. */
int qimg_cbw_snap_status(struct qimg_node *cbw, uint64_t off, uint64_t len,
			 struct qimg_extent *ext, struct qimg_error *err);
/* The snapshot no longer needs the whole clusters inside [off, off+len):
 * they are not copied any more and read as EACCES. */
int qimg_cbw_snap_discard(struct qimg_node *cbw, uint64_t off, uint64_t len,
			  struct qimg_error *err);

#endif
