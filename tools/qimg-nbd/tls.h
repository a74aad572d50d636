/* SPDX-License-Identifier: MIT */
/* qimg-nbd's TLS credentials as tls-creds.c loads them and tls.c uses
 * them for sessions. */
#ifndef QIMG_NBD_TLS_H
#define QIMG_NBD_TLS_H

#include <stdbool.h>

#ifdef QIMG_HAVE_GNUTLS
#include <gnutls/gnutls.h>
#endif

struct nbd_tls {
	char *id, *dir, *priority;
	bool psk;	  /* tls-creds-psk, else tls-creds-x509 */
	bool server;	  /* endpoint=server */
	bool verify_peer; /* x509: the client's certificate is checked */
#ifdef QIMG_HAVE_GNUTLS
	gnutls_certificate_credentials_t cred;	  /* x509, server */
	gnutls_psk_server_credentials_t psk_cred; /* psk, server */
#endif
	struct nbd_tls *next;
};

#endif
