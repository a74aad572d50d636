/* SPDX-License-Identifier: MIT */
/* qimg-nbd's TLS credentials as tls-creds.c loads them and tls.c uses
 * them for sessions. */
#ifndef QIMG_NBD_TLS_H
#define QIMG_NBD_TLS_H

#include <stdbool.h>

#include "util/tls-creds.h"

#ifdef QIMG_HAVE_GNUTLS
#include <gnutls/gnutls.h>
#endif

struct nbd_tls {
	struct qimg_tls_creds *creds; /* as defined and checked */
#ifdef QIMG_HAVE_GNUTLS
	gnutls_certificate_credentials_t cred;	      /* x509, either end */
	gnutls_psk_server_credentials_t psk_cred;     /* psk, server */
	gnutls_anon_server_credentials_t anon_cred;   /* anon, server */
	gnutls_dh_params_t dh;			      /* anon: dh-params.pem */
	gnutls_psk_client_credentials_t psk_client;   /* psk, client */
	gnutls_anon_client_credentials_t anon_client; /* anon, client */
#endif
	struct nbd_tls *next;
};

#endif
