/* SPDX-License-Identifier: MIT */
/* tls-creds-x509's sanity check (sanity-check=on, the default), as qemu-img
 * and qemu-nbd make it when the object is defined: the CA certificates in
 * ca-cert.pem and the endpoint's own certificate (server-cert.pem, or a
 * client's client-cert.pem when it has one) parse, are in their time,
 * are a CA and not one, may sign and be used for TLS on that side, and
 * the own certificate is signed by one of the CAs.  GnuTLS does the
 * parsing and the verification, loaded on first use. */
#ifndef QIMG_UTIL_X509_CHECK_H
#define QIMG_UTIL_X509_CHECK_H

#include <stdbool.h>

#include "qimg/error.h"

/* DIR's certificates for a server (else a client) endpoint: 0, or an
 * error in QEMU's words. */
int qimg_x509_sanity_check(const char *dir, bool server,
			   struct qimg_error *err);

/* Why a certificate verification's status (GnuTLS's bits) is bad, in
 * QEMU's words (of several reasons, the later told). */
const char *qimg_x509_status_reason(unsigned int status);

#endif
