/* SPDX-License-Identifier: MIT */
/* libnbd, loaded when the nbd protocol is first used rather than when qimg
 * starts: linking it pulls in gnutls, libxml2 and ICU, which cost every
 * qimg invocation ~40 ms of start-up whether it touches NBD or not.
 * nbd.c includes this after <libnbd.h> and calls libnbd as usual: each
 * function it uses is redirected to the loaded table.  qimg_libnbd_load
 * must have succeeded before any of them is called. */
#ifndef QIMG_PROTOCOLS_LIBNBD_DL_H
#define QIMG_PROTOCOLS_LIBNBD_DL_H

#include <libnbd.h>

#include "qimg/error.h"

#define QIMG_LIBNBD_FUNCS(X)                                                   \
	X(nbd_add_meta_context)                                                \
	X(nbd_block_status)                                                    \
	X(nbd_can_flush)                                                       \
	X(nbd_can_meta_context)                                                \
	X(nbd_can_trim)                                                        \
	X(nbd_can_zero)                                                        \
	X(nbd_close)                                                           \
	X(nbd_connect_socket)                                                  \
	X(nbd_connect_tcp)                                                     \
	X(nbd_create)                                                          \
	X(nbd_flush)                                                           \
	X(nbd_get_errno)                                                       \
	X(nbd_get_error)                                                       \
	X(nbd_get_size)                                                        \
	X(nbd_is_read_only)                                                    \
	X(nbd_pread)                                                           \
	X(nbd_pwrite)                                                          \
	X(nbd_set_export_name)                                                 \
	X(nbd_set_tls)                                                         \
	X(nbd_set_tls_certificates)                                            \
	X(nbd_set_tls_psk_file)                                                \
	X(nbd_set_tls_username)                                                \
	X(nbd_set_tls_verify_peer)                                             \
	X(nbd_shutdown)                                                        \
	X(nbd_trim)                                                            \
	X(nbd_zero)

struct qimg_libnbd {
#define QIMG_LIBNBD_SLOT(f) __typeof__(f) *f;
	QIMG_LIBNBD_FUNCS(QIMG_LIBNBD_SLOT)
#undef QIMG_LIBNBD_SLOT
};

/* Load libnbd once per process: 0, or ENOTSUP with dlopen's reason. */
int qimg_libnbd_load(struct qimg_error *err);
/* The table (filled once qimg_libnbd_load succeeded). */
const struct qimg_libnbd *qimg_libnbd(void);

#ifndef QIMG_LIBNBD_DL_IMPL
#define nbd_add_meta_context (qimg_libnbd()->nbd_add_meta_context)
#define nbd_block_status (qimg_libnbd()->nbd_block_status)
#define nbd_can_flush (qimg_libnbd()->nbd_can_flush)
#define nbd_can_meta_context (qimg_libnbd()->nbd_can_meta_context)
#define nbd_can_trim (qimg_libnbd()->nbd_can_trim)
#define nbd_can_zero (qimg_libnbd()->nbd_can_zero)
#define nbd_close (qimg_libnbd()->nbd_close)
#define nbd_connect_socket (qimg_libnbd()->nbd_connect_socket)
#define nbd_connect_tcp (qimg_libnbd()->nbd_connect_tcp)
#define nbd_create (qimg_libnbd()->nbd_create)
#define nbd_flush (qimg_libnbd()->nbd_flush)
#define nbd_get_errno (qimg_libnbd()->nbd_get_errno)
#define nbd_get_error (qimg_libnbd()->nbd_get_error)
#define nbd_get_size (qimg_libnbd()->nbd_get_size)
#define nbd_is_read_only (qimg_libnbd()->nbd_is_read_only)
#define nbd_pread (qimg_libnbd()->nbd_pread)
#define nbd_pwrite (qimg_libnbd()->nbd_pwrite)
#define nbd_set_export_name (qimg_libnbd()->nbd_set_export_name)
#define nbd_set_tls (qimg_libnbd()->nbd_set_tls)
#define nbd_set_tls_certificates (qimg_libnbd()->nbd_set_tls_certificates)
#define nbd_set_tls_psk_file (qimg_libnbd()->nbd_set_tls_psk_file)
#define nbd_set_tls_username (qimg_libnbd()->nbd_set_tls_username)
#define nbd_set_tls_verify_peer (qimg_libnbd()->nbd_set_tls_verify_peer)
#define nbd_shutdown (qimg_libnbd()->nbd_shutdown)
#define nbd_trim (qimg_libnbd()->nbd_trim)
#define nbd_zero (qimg_libnbd()->nbd_zero)
#endif

#endif
