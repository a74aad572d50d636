/* SPDX-License-Identifier: MIT */
/* libnfs, loaded when an nfs node is first opened (or created) rather
 * than when qimg starts.  nfs.c includes this after <nfsc/libnfs.h> and
 * calls libnfs as usual: each function it uses is redirected to the loaded
 * table.  qimg_libnfs_load must have succeeded before any of them is
 * called. */
#ifndef QIMG_PROTOCOLS_LIBNFS_DL_H
#define QIMG_PROTOCOLS_LIBNFS_DL_H

#include <stdint.h>
#include <nfsc/libnfs.h>

#include "qimg/error.h"

#define QIMG_LIBNFS_FUNCS(X)                                                   \
	X(nfs_close)                                                           \
	X(nfs_creat)                                                           \
	X(nfs_destroy_context)                                                 \
	X(nfs_fstat64)                                                         \
	X(nfs_fstat64_async)                                                   \
	X(nfs_fsync_async)                                                     \
	X(nfs_ftruncate)                                                       \
	X(nfs_ftruncate_async)                                                 \
	X(nfs_get_error)                                                       \
	X(nfs_get_fd)                                                          \
	X(nfs_get_readmax)                                                     \
	X(nfs_get_writemax)                                                    \
	X(nfs_init_context)                                                    \
	X(nfs_mount)                                                           \
	X(nfs_open)                                                            \
	X(nfs_pread_async)                                                     \
	X(nfs_pwrite_async)                                                    \
	X(nfs_service)                                                         \
	X(nfs_set_debug)                                                       \
	X(nfs_set_gid)                                                         \
	X(nfs_set_pagecache)                                                   \
	X(nfs_set_readahead)                                                   \
	X(nfs_set_tcp_syncnt)                                                  \
	X(nfs_set_uid)                                                         \
	X(nfs_which_events)

struct qimg_libnfs {
#define QIMG_LIBNFS_SLOT(f) __typeof__(f) *f;
	QIMG_LIBNFS_FUNCS(QIMG_LIBNFS_SLOT)
#undef QIMG_LIBNFS_SLOT
};

/* Load libnfs once per process: 0, or ENOTSUP with dlopen's reason. */
int qimg_libnfs_load(struct qimg_error *err);
/* The table (filled once qimg_libnfs_load succeeded). */
const struct qimg_libnfs *qimg_libnfs(void);

#ifndef QIMG_LIBNFS_DL_IMPL
#define nfs_close (qimg_libnfs()->nfs_close)
#define nfs_creat (qimg_libnfs()->nfs_creat)
#define nfs_destroy_context (qimg_libnfs()->nfs_destroy_context)
#define nfs_fstat64 (qimg_libnfs()->nfs_fstat64)
#define nfs_fstat64_async (qimg_libnfs()->nfs_fstat64_async)
#define nfs_fsync_async (qimg_libnfs()->nfs_fsync_async)
#define nfs_ftruncate (qimg_libnfs()->nfs_ftruncate)
#define nfs_ftruncate_async (qimg_libnfs()->nfs_ftruncate_async)
#define nfs_get_error (qimg_libnfs()->nfs_get_error)
#define nfs_get_fd (qimg_libnfs()->nfs_get_fd)
#define nfs_get_readmax (qimg_libnfs()->nfs_get_readmax)
#define nfs_get_writemax (qimg_libnfs()->nfs_get_writemax)
#define nfs_init_context (qimg_libnfs()->nfs_init_context)
#define nfs_mount (qimg_libnfs()->nfs_mount)
#define nfs_open (qimg_libnfs()->nfs_open)
#define nfs_pread_async (qimg_libnfs()->nfs_pread_async)
#define nfs_pwrite_async (qimg_libnfs()->nfs_pwrite_async)
#define nfs_service (qimg_libnfs()->nfs_service)
#define nfs_set_debug (qimg_libnfs()->nfs_set_debug)
#define nfs_set_gid (qimg_libnfs()->nfs_set_gid)
#define nfs_set_pagecache (qimg_libnfs()->nfs_set_pagecache)
#define nfs_set_readahead (qimg_libnfs()->nfs_set_readahead)
#define nfs_set_tcp_syncnt (qimg_libnfs()->nfs_set_tcp_syncnt)
#define nfs_set_uid (qimg_libnfs()->nfs_set_uid)
#define nfs_which_events (qimg_libnfs()->nfs_which_events)
#endif

#endif
