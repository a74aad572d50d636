/* SPDX-License-Identifier: MIT */
/* The curl protocol drivers: http, https, ftp and ftps, read only. */
#ifndef QIMG_PROTOCOLS_CURL_H
#define QIMG_PROTOCOLS_CURL_H

#include "core/driver.h"

/* Names: the URL itself (http://HOST[:PORT]/PATH, ...), or the options
 * url, readahead (bytes fetched beyond a small read, a multiple of 512,
 * 256 KiB by default), timeout (seconds without progress, 0..10000, 5 by
 * default), sslverify, cookie or cookie-secret, username and
 * password-secret, proxy-username and proxy-password-secret. */
extern const struct qimg_driver qimg_driver_http;
extern const struct qimg_driver qimg_driver_https;
extern const struct qimg_driver qimg_driver_ftp;
extern const struct qimg_driver qimg_driver_ftps;

#endif
