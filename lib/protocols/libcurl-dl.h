/* SPDX-License-Identifier: MIT */
/* libcurl (its GnuTLS build, as Debian's qemu-img uses), loaded when an
 * http, https, ftp or ftps node is first opened rather than when qimg
 * starts: the library brings GnuTLS, nghttp2, libssh2, LDAP and more, a
 * start-up cost every other invocation would pay.  curl.c includes this
 * and calls libcurl as usual: each function it uses is redirected to the
 * loaded table.  qimg_libcurl_load must have succeeded before any of them
 * is called; it also runs curl_global_init, once. */
#ifndef QIMG_PROTOCOLS_LIBCURL_DL_H
#define QIMG_PROTOCOLS_LIBCURL_DL_H

/* The type-checking wrappers are macros named as the functions. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "qimg/error.h"

#define QIMG_LIBCURL_FUNCS(X)                                                  \
	X(curl_easy_cleanup)                                                   \
	X(curl_easy_getinfo)                                                   \
	X(curl_easy_init)                                                      \
	X(curl_easy_perform)                                                   \
	X(curl_easy_setopt)                                                    \
	X(curl_easy_strerror)                                                  \
	X(curl_global_init)

#undef curl_easy_getinfo
#undef curl_easy_setopt

struct qimg_libcurl {
#define QIMG_LIBCURL_SLOT(f) __typeof__(f) *f;
	QIMG_LIBCURL_FUNCS(QIMG_LIBCURL_SLOT)
#undef QIMG_LIBCURL_SLOT
};

/* Load libcurl once per process: 0, or ENOTSUP with dlopen's reason. */
int qimg_libcurl_load(struct qimg_error *err);
/* The table (filled once qimg_libcurl_load succeeded). */
const struct qimg_libcurl *qimg_libcurl(void);

#ifndef QIMG_LIBCURL_DL_IMPL
/* curl.h makes these two macros that check the number of arguments. */
#undef curl_easy_getinfo
#undef curl_easy_setopt
#define curl_easy_cleanup (qimg_libcurl()->curl_easy_cleanup)
#define curl_easy_getinfo (qimg_libcurl()->curl_easy_getinfo)
#define curl_easy_init (qimg_libcurl()->curl_easy_init)
#define curl_easy_perform (qimg_libcurl()->curl_easy_perform)
#define curl_easy_setopt (qimg_libcurl()->curl_easy_setopt)
#define curl_easy_strerror (qimg_libcurl()->curl_easy_strerror)
#define curl_global_init (qimg_libcurl()->curl_global_init)
#endif

#endif
