/* SPDX-License-Identifier: MIT */
/* GnuTLS's x509 functions, loaded when TLS credentials are first checked
 * rather than linked: linking GnuTLS costs every qimg run about 4 ms of
 * start-up.  x509-check.c includes this after <gnutls/x509.h> and calls
 * GnuTLS as usual; qimg_gnutls_load must have succeeded first. */
#ifndef QIMG_UTIL_GNUTLS_DL_H
#define QIMG_UTIL_GNUTLS_DL_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "qimg/error.h"

#define QIMG_GNUTLS_FUNCS(X)                                                   \
	X(gnutls_strerror)                                                     \
	X(gnutls_x509_crt_deinit)                                              \
	X(gnutls_x509_crt_get_activation_time)                                 \
	X(gnutls_x509_crt_get_basic_constraints)                               \
	X(gnutls_x509_crt_get_expiration_time)                                 \
	X(gnutls_x509_crt_get_key_purpose_oid)                                 \
	X(gnutls_x509_crt_get_key_usage)                                       \
	X(gnutls_x509_crt_import)                                              \
	X(gnutls_x509_crt_init)                                                \
	X(gnutls_x509_crt_list_import)                                         \
	X(gnutls_x509_crt_list_verify)

struct qimg_gnutls {
#define QIMG_GNUTLS_SLOT(f) __typeof__(f) *f;
	QIMG_GNUTLS_FUNCS(QIMG_GNUTLS_SLOT)
#undef QIMG_GNUTLS_SLOT
};

/* Load GnuTLS once per process: 0, or ENOTSUP with dlopen's reason. */
int qimg_gnutls_load(struct qimg_error *err);
/* The table (filled once qimg_gnutls_load succeeded). */
const struct qimg_gnutls *qimg_gnutls(void);

#ifndef QIMG_GNUTLS_DL_IMPL
#define gnutls_strerror (qimg_gnutls()->gnutls_strerror)
#define gnutls_x509_crt_deinit (qimg_gnutls()->gnutls_x509_crt_deinit)
#define gnutls_x509_crt_get_activation_time                                    \
	(qimg_gnutls()->gnutls_x509_crt_get_activation_time)
#define gnutls_x509_crt_get_basic_constraints                                  \
	(qimg_gnutls()->gnutls_x509_crt_get_basic_constraints)
#define gnutls_x509_crt_get_expiration_time                                    \
	(qimg_gnutls()->gnutls_x509_crt_get_expiration_time)
#define gnutls_x509_crt_get_key_purpose_oid                                    \
	(qimg_gnutls()->gnutls_x509_crt_get_key_purpose_oid)
#define gnutls_x509_crt_get_key_usage                                          \
	(qimg_gnutls()->gnutls_x509_crt_get_key_usage)
#define gnutls_x509_crt_import (qimg_gnutls()->gnutls_x509_crt_import)
#define gnutls_x509_crt_init (qimg_gnutls()->gnutls_x509_crt_init)
#define gnutls_x509_crt_list_import (qimg_gnutls()->gnutls_x509_crt_list_import)
#define gnutls_x509_crt_list_verify (qimg_gnutls()->gnutls_x509_crt_list_verify)
#endif

#endif
