/* SPDX-License-Identifier: MIT */
/* libgfapi (GlusterFS's client library), loaded when a gluster node is
 * first opened (or created) rather than when qimg starts.  gluster.c
 * includes this after <glusterfs/api/glfs.h> and calls the library as
 * usual: each function it uses is redirected to the loaded table.
 * qimg_gfapi_load must have succeeded before any of them is called.
 * dlsym finds each symbol's default version, the one glfs.h declares
 * (glfs_pread, glfs_ftruncate and glfs_fsync of GFAPI_6.0). */
#ifndef QIMG_PROTOCOLS_GLUSTER_DL_H
#define QIMG_PROTOCOLS_GLUSTER_DL_H

#include <glusterfs/api/glfs.h>

#include "qimg/error.h"

#define QIMG_GFAPI_FUNCS(X)                                                    \
	X(glfs_close)                                                          \
	X(glfs_creat)                                                          \
	X(glfs_discard)                                                        \
	X(glfs_fallocate)                                                      \
	X(glfs_fini)                                                           \
	X(glfs_fstat)                                                          \
	X(glfs_fsync)                                                          \
	X(glfs_ftruncate)                                                      \
	X(glfs_init)                                                           \
	X(glfs_lseek)                                                          \
	X(glfs_new)                                                            \
	X(glfs_open)                                                           \
	X(glfs_pread)                                                          \
	X(glfs_pwrite)                                                         \
	X(glfs_set_logging)                                                    \
	X(glfs_set_volfile_server)                                             \
	X(glfs_set_xlator_option)                                              \
	X(glfs_zerofill)

struct qimg_gfapi {
#define QIMG_GFAPI_SLOT(f) __typeof__(f) *f;
	QIMG_GFAPI_FUNCS(QIMG_GFAPI_SLOT)
#undef QIMG_GFAPI_SLOT
};

/* Load libgfapi once per process: 0, or ENOTSUP with dlopen's reason. */
int qimg_gfapi_load(struct qimg_error *err);
/* The table (filled once qimg_gfapi_load succeeded). */
const struct qimg_gfapi *qimg_gfapi(void);

#ifndef QIMG_GLUSTER_DL_IMPL
#define glfs_close (qimg_gfapi()->glfs_close)
#define glfs_creat (qimg_gfapi()->glfs_creat)
#define glfs_discard (qimg_gfapi()->glfs_discard)
#define glfs_fallocate (qimg_gfapi()->glfs_fallocate)
#define glfs_fini (qimg_gfapi()->glfs_fini)
#define glfs_fstat (qimg_gfapi()->glfs_fstat)
#define glfs_fsync (qimg_gfapi()->glfs_fsync)
#define glfs_ftruncate (qimg_gfapi()->glfs_ftruncate)
#define glfs_init (qimg_gfapi()->glfs_init)
#define glfs_lseek (qimg_gfapi()->glfs_lseek)
#define glfs_new (qimg_gfapi()->glfs_new)
#define glfs_open (qimg_gfapi()->glfs_open)
#define glfs_pread (qimg_gfapi()->glfs_pread)
#define glfs_pwrite (qimg_gfapi()->glfs_pwrite)
#define glfs_set_logging (qimg_gfapi()->glfs_set_logging)
#define glfs_set_volfile_server (qimg_gfapi()->glfs_set_volfile_server)
#define glfs_set_xlator_option (qimg_gfapi()->glfs_set_xlator_option)
#define glfs_zerofill (qimg_gfapi()->glfs_zerofill)
#endif

#endif
