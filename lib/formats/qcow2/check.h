/* SPDX-License-Identifier: MIT */
/* qcow2 consistency checker and refcount repair.  Works on the on-disk
 * format only (through the node's protocol child), independent of the
 * driver's in-memory caches. */
#ifndef QIMG_QCOW2_CHECK_H
#define QIMG_QCOW2_CHECK_H

#include "core/driver.h"

/* Check the qcow2 image `node` (a format node opened with QIMG_OPEN_CHECK,
 * and QIMG_OPEN_RDWR when fix != 0).  fix is a mask of QIMG_CHECK_FIX_*.
 * Walks every reference (header, L1/L2 tables, data clusters, refcount
 * structures, snapshots, bitmaps) and compares it with the stored
 * refcounts; each problem is passed to report() as one line.  res is filled
 * as qemu-img reports it (with fix: the state found, plus *_fixed).
 * Returns 0 when the check completed (problems are counted in res),
 * -EIO when a repair needs a refcount rebuild that fix does not allow
 * ("ERROR need to rebuild refcount structures"), other negative errno on
 * I/O or allocation failure.  The caller re-checks after a repair. */
int qcow2_check(struct qimg_node *node, unsigned int fix,
		struct qimg_check_result *res, qimg_report_fn report,
		void *opaque, struct qimg_error *err);

/* Rebuild refcounts from the L1/L2/snapshot tables and write them; used by
 * check -r all and by the driver to repair a dirty (lazy refcounts) image.
 * Writes a new refcount table and blocks at the end of the image and points
 * the header at them; the old refcount structures are abandoned (they
 * become leaks only if still referenced, which they are not).  The node must
 * be writable; no driver caches are consulted or updated, so the driver
 * must (re)load its refcount state afterwards.  Returns 0 or -errno. */
int qcow2_rebuild_refcounts(struct qimg_node *node, struct qimg_error *err);

#endif
