/* SPDX-License-Identifier: MIT */
/* librados and librbd, loaded when an rbd node is first opened (or
 * created) rather than when qimg starts.  rbd.c includes this after
 * <rbd/librbd.h> and calls both libraries as usual: each function it uses
 * is redirected to the loaded tables.  qimg_librbd_load must have
 * succeeded before any of them is called. */
#ifndef QIMG_PROTOCOLS_LIBRBD_DL_H
#define QIMG_PROTOCOLS_LIBRBD_DL_H

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "qimg/error.h"

#define QIMG_LIBRADOS_FUNCS(X)                                                 \
	X(rados_conf_read_file)                                                \
	X(rados_conf_set)                                                      \
	X(rados_connect)                                                       \
	X(rados_create)                                                        \
	X(rados_ioctx_create)                                                  \
	X(rados_ioctx_destroy)                                                 \
	X(rados_ioctx_set_namespace)                                           \
	X(rados_shutdown)

#define QIMG_LIBRBD_FUNCS(X)                                                   \
	X(rbd_close)                                                           \
	X(rbd_create4)                                                         \
	X(rbd_diff_iterate2)                                                   \
	X(rbd_discard)                                                         \
	X(rbd_encryption_format)                                               \
	X(rbd_encryption_load)                                                 \
	X(rbd_flush)                                                           \
	X(rbd_get_features)                                                    \
	X(rbd_get_flags)                                                       \
	X(rbd_get_parent)                                                      \
	X(rbd_get_size)                                                        \
	X(rbd_image_options_create)                                            \
	X(rbd_image_options_destroy)                                           \
	X(rbd_image_options_set_uint64)                                        \
	X(rbd_invalidate_cache)                                                \
	X(rbd_linked_image_spec_cleanup)                                       \
	X(rbd_namespace_exists)                                                \
	X(rbd_open)                                                            \
	X(rbd_open_read_only)                                                  \
	X(rbd_read2)                                                           \
	X(rbd_remove)                                                          \
	X(rbd_resize)                                                          \
	X(rbd_snap_create)                                                     \
	X(rbd_snap_list)                                                       \
	X(rbd_snap_list_end)                                                   \
	X(rbd_snap_remove)                                                     \
	X(rbd_snap_rollback)                                                   \
	X(rbd_snap_spec_cleanup)                                               \
	X(rbd_stat)                                                            \
	X(rbd_write2)                                                          \
	X(rbd_write_zeroes)

struct qimg_librados {
#define QIMG_LIBRBD_SLOT(f) __typeof__(f) *f;
	QIMG_LIBRADOS_FUNCS(QIMG_LIBRBD_SLOT)
};

struct qimg_librbd {
	QIMG_LIBRBD_FUNCS(QIMG_LIBRBD_SLOT)
#undef QIMG_LIBRBD_SLOT
};

/* Load librados and librbd once per process: 0, or ENOTSUP with dlopen's
 * reason. */
int qimg_librbd_load(struct qimg_error *err);
/* The tables (filled once qimg_librbd_load succeeded). */
const struct qimg_librados *qimg_librados(void);
const struct qimg_librbd *qimg_librbd(void);

#ifndef QIMG_LIBRBD_DL_IMPL
#define rados_conf_read_file (qimg_librados()->rados_conf_read_file)
#define rados_conf_set (qimg_librados()->rados_conf_set)
#define rados_connect (qimg_librados()->rados_connect)
#define rados_create (qimg_librados()->rados_create)
#define rados_ioctx_create (qimg_librados()->rados_ioctx_create)
#define rados_ioctx_destroy (qimg_librados()->rados_ioctx_destroy)
#define rados_ioctx_set_namespace (qimg_librados()->rados_ioctx_set_namespace)
#define rados_shutdown (qimg_librados()->rados_shutdown)
#define rbd_close (qimg_librbd()->rbd_close)
#define rbd_create4 (qimg_librbd()->rbd_create4)
#define rbd_diff_iterate2 (qimg_librbd()->rbd_diff_iterate2)
#define rbd_discard (qimg_librbd()->rbd_discard)
#define rbd_encryption_format (qimg_librbd()->rbd_encryption_format)
#define rbd_encryption_load (qimg_librbd()->rbd_encryption_load)
#define rbd_flush (qimg_librbd()->rbd_flush)
#define rbd_get_features (qimg_librbd()->rbd_get_features)
#define rbd_get_flags (qimg_librbd()->rbd_get_flags)
#define rbd_get_parent (qimg_librbd()->rbd_get_parent)
#define rbd_get_size (qimg_librbd()->rbd_get_size)
#define rbd_image_options_create (qimg_librbd()->rbd_image_options_create)
#define rbd_image_options_destroy (qimg_librbd()->rbd_image_options_destroy)
#define rbd_image_options_set_uint64                                           \
	(qimg_librbd()->rbd_image_options_set_uint64)
#define rbd_invalidate_cache (qimg_librbd()->rbd_invalidate_cache)
#define rbd_linked_image_spec_cleanup                                          \
	(qimg_librbd()->rbd_linked_image_spec_cleanup)
#define rbd_namespace_exists (qimg_librbd()->rbd_namespace_exists)
#define rbd_open (qimg_librbd()->rbd_open)
#define rbd_open_read_only (qimg_librbd()->rbd_open_read_only)
#define rbd_read2 (qimg_librbd()->rbd_read2)
#define rbd_remove (qimg_librbd()->rbd_remove)
#define rbd_resize (qimg_librbd()->rbd_resize)
#define rbd_snap_create (qimg_librbd()->rbd_snap_create)
#define rbd_snap_list (qimg_librbd()->rbd_snap_list)
#define rbd_snap_list_end (qimg_librbd()->rbd_snap_list_end)
#define rbd_snap_remove (qimg_librbd()->rbd_snap_remove)
#define rbd_snap_rollback (qimg_librbd()->rbd_snap_rollback)
#define rbd_snap_spec_cleanup (qimg_librbd()->rbd_snap_spec_cleanup)
#define rbd_stat (qimg_librbd()->rbd_stat)
#define rbd_write2 (qimg_librbd()->rbd_write2)
#define rbd_write_zeroes (qimg_librbd()->rbd_write_zeroes)
#endif

#endif
