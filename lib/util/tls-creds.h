/* SPDX-License-Identifier: MIT */
/* TLS credential objects (--object tls-creds-x509 and tls-creds-psk), as
 * qemu-img and qemu-nbd take them: a definition is checked when it is
 * given, used or not, in their order and with their words (the syntax,
 * the id, the values of known properties, unknown properties, then what
 * the directory holds).  x509: DIR has ca-cert.pem, and for a server
 * endpoint server-cert.pem and server-key.pem (a client's own certificate
 * is optional), and unless sanity-check=off the certificates must be fit
 * for the endpoint (x509-check.h).  PSK: DIR has keys.psk, lines of "username:hexkey"
 * (psktool's format); a server takes any user in it, a client endpoint
 * names its user (username, default "qemu"), who must be in it.  anon:
 * no keys and no peer checks (anonymous Diffie-Hellman); DIR is optional
 * and may hold a server's dh-params.pem.
 *
 * Nothing here loads the keys: the NBD server loads a server's with
 * GnuTLS, the NBD client hands a client's directory to libnbd. */
#ifndef QIMG_UTIL_TLS_CREDS_H
#define QIMG_UTIL_TLS_CREDS_H

#include <stdbool.h>

#include "qimg/error.h"

struct qimg_tls_creds {
	char *id, *dir;
	char *priority; /* NULL: GnuTLS's NORMAL */
	char *username; /* psk client: the user (default "qemu") */
	bool psk;	/* tls-creds-psk */
	bool anon;	/* tls-creds-anon (neither: tls-creds-x509) */
	bool server;	/* endpoint=server (default client) */
	bool verify_peer;
	bool sanity_check; /* x509: the certificates checked when defined */
};

/* The type a definition names: "tls-creds-x509", "tls-creds-psk",
 * "tls-creds-anon" or NULL (some other object). */
const char *qimg_tls_creds_type(const char *def);
/* Parse and check a definition of one of those types; *out is freed with
 * qimg_tls_creds_free.  It is the two steps below, between which QEMU adds
 * the object (where an id already taken is refused). */
int qimg_tls_creds_parse(const char *def, struct qimg_tls_creds **out,
			 struct qimg_error *err);
/* The properties: their values, the unknown ones, the id, "loaded". */
int qimg_tls_creds_parse_props(const char *def, struct qimg_tls_creds **out,
			       struct qimg_error *err);
/* The object completed: the directory and the files it must hold. */
int qimg_tls_creds_complete(struct qimg_tls_creds *c, struct qimg_error *err);
void qimg_tls_creds_free(struct qimg_tls_creds *c);

#endif
