/* SPDX-License-Identifier: MIT */
/* qimg-nbd's TLS sessions, with GnuTLS, over the credentials tls-creds.c
 * loaded: x509 (the client's certificate checked when verify-peer, on by
 * default, as QEMU's) or a pre-shared key (GnuTLS's NORMAL priorities, or
 * the object's `priority`, with the PSK key exchanges added).  A
 * connection's transport switches to the session once NBD_OPT_STARTTLS
 * is acknowledged.  -L is a client: it checks the server's certificate
 * (trusted, in its time, naming the host) unless verify-peer is off. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nbd.h"
#include "tls.h"
#include "util/authz.h"
#include "util/x509-check.h"

#ifdef QIMG_HAVE_GNUTLS
#include <gnutls/x509.h>
#endif

#ifdef QIMG_HAVE_GNUTLS
/* The client's name: its certificate's distinguished name (in the
 * certificate's order, "O=...,CN=...", as qemu-nbd prints it) or its PSK
 * user name.  NULL when there is none. */
static char *peer_name(gnutls_session_t s, bool psk)
{
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt;
	unsigned int n = 0;
	size_t len = 0;
	char *name = NULL;

	if (psk) {
		const char *u = gnutls_psk_server_get_username(s);

		return u ? strdup(u) : NULL;
	}
	certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || !n || gnutls_x509_crt_init(&crt) < 0)
		return NULL;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
	    gnutls_x509_crt_get_dn(crt, NULL, &len) ==
		    GNUTLS_E_SHORT_MEMORY_BUFFER &&
	    (name = malloc(len + 1)) &&
	    gnutls_x509_crt_get_dn(crt, name, &len) < 0) {
		free(name);
		name = NULL;
	}
	gnutls_x509_crt_deinit(crt);
	return name;
}

/* --tls-authz: may this client in? */
static int check_authz(gnutls_session_t s, bool psk,
		       const struct qimg_authz *authz, struct qimg_error *err)
{
	char *name = peer_name(s, psk);
	int r = 0;

	if (!name)
		return qimg_error_set(err, EACCES,
				      "TLS %s authz check: the client has no "
				      "name to check",
				      psk ? "PSK" : "x509");
	if (!qimg_authz_allows(authz, name))
		r = qimg_error_set(err, EACCES,
				   "TLS %s authz check for %s is denied",
				   psk ? "PSK" : "x509", name);
	free(name);
	return r;
}

/* The priority (the object's, else NORMAL) with the key exchanges `kx`
 * added, and credentials of `type`: PSK's and anonymous sessions. */
static int set_kx(gnutls_session_t s, const char *priority, const char *kx,
		  gnutls_credentials_type_t type, void *cred)
{
	char prio[1024];
	int g;

	snprintf(prio, sizeof(prio), "%s%s", priority ? priority : "NORMAL",
		 kx);
	g = gnutls_priority_set_direct(s, prio, NULL);
	return g ? g : gnutls_credentials_set(s, type, cred);
}

/* A session of either end with the credentials' priorities (the
 * object's, else GnuTLS's defaults; PSK and anonymous key exchanges
 * added) and keys. */
static int session_new(const struct nbd_tls *c, bool server,
		       gnutls_session_t *out, struct qimg_error *err)
{
	const struct qimg_tls_creds *tc = c->creds;
	gnutls_session_t s;
	int g;

	if (gnutls_init(&s, server ? GNUTLS_SERVER
				   : GNUTLS_CLIENT | GNUTLS_NO_SIGNAL) < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (tc->anon)
		g = set_kx(s, tc->priority, ":+ANON-ECDH:+ANON-DH",
			   GNUTLS_CRD_ANON,
			   server ? (void *)c->anon_cred
				  : (void *)c->anon_client);
	else if (tc->psk)
		g = set_kx(s, tc->priority, ":+ECDHE-PSK:+DHE-PSK:+PSK",
			   GNUTLS_CRD_PSK,
			   server ? (void *)c->psk_cred
				  : (void *)c->psk_client);
	else {
		g = tc->priority
			    ? gnutls_priority_set_direct(s, tc->priority, NULL)
			    : gnutls_set_default_priority(s);
		if (g == 0)
			g = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
						   c->cred);
	}
	if (g < 0) {
		gnutls_deinit(s);
		return qimg_error_set(err, EPROTO, "TLS set-up failed: %s",
				      gnutls_strerror(g));
	}
	*out = s;
	return 0;
}

/* The handshake over fd (10 s at most); the session is freed when it
 * fails. */
static int handshake(gnutls_session_t s, int fd, struct qimg_error *err)
{
	int g;

	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, 10000);
	do {
		g = gnutls_handshake(s);
	} while (g < 0 && !gnutls_error_is_fatal(g));
	if (g < 0) {
		gnutls_deinit(s);
		return qimg_error_set(err, EPROTO, "TLS handshake failed: %s",
				      gnutls_strerror(g));
	}
	return 0;
}

int nbd_tls_start(const struct nbd_tls *c, const struct qimg_authz *authz,
		  int fd, void **session, struct qimg_error *err)
{
	gnutls_session_t s;
	unsigned int status = 0;
	int g;

	g = session_new(c, true, &s, err);
	if (g < 0)
		return g;
	/* Asked for, and checked after the handshake (none sent: "Verify
	 * failed: No certificate was found.", qemu-nbd's words). */
	if (!c->creds->psk && !c->creds->anon)
		gnutls_certificate_server_set_request(
			s, c->creds->verify_peer ? GNUTLS_CERT_REQUEST
						 : GNUTLS_CERT_IGNORE);
	g = handshake(s, fd, err);
	if (g < 0)
		return g;
	if (!c->creds->psk && !c->creds->anon && c->creds->verify_peer) {
		g = gnutls_certificate_verify_peers2(s, &status);
		if (g < 0 || status) {
			gnutls_deinit(s);
			if (g < 0)
				return qimg_error_set(err, EACCES,
						      "Verify failed: %s",
						      gnutls_strerror(g));
			return qimg_error_set(err, EACCES,
					      "The client's certificate is "
					      "not trusted");
		}
	}
	if (authz && check_authz(s, c->creds->psk, authz, err) < 0) {
		gnutls_deinit(s);
		return -EACCES;
	}
	*session = s;
	return 0;
}

/* A client's check of the server's certificates after the handshake:
 * trusted, each in its time, the first naming `hostname`. */
static int check_server_cert(gnutls_session_t s, const char *hostname,
			     struct qimg_error *err)
{
	const gnutls_datum_t *certs;
	unsigned int status = 0, n = 0, i;
	time_t now = time(NULL);
	int g, r = 0;

	g = gnutls_certificate_verify_peers2(s, &status);
	if (g < 0)
		return qimg_error_set(err, EACCES, "Verify failed: %s",
				      gnutls_strerror(g));
	if (status)
		return qimg_error_set(err, EACCES, "%s",
				      qimg_x509_status_reason(status));
	certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || !n)
		return qimg_error_set(err, EACCES, "No certificate peers");
	for (i = 0; r == 0 && i < n; i++) {
		gnutls_x509_crt_t crt;

		if (gnutls_x509_crt_init(&crt) < 0)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		g = gnutls_x509_crt_import(crt, &certs[i], GNUTLS_X509_FMT_DER);
		if (g < 0)
			r = qimg_error_set(err, EACCES,
					   "Cannot import certificate: %s",
					   gnutls_strerror(g));
		else if (gnutls_x509_crt_get_expiration_time(crt) < now)
			r = qimg_error_set(err, EACCES,
					   "The certificate has expired");
		else if (gnutls_x509_crt_get_activation_time(crt) > now)
			r = qimg_error_set(err, EACCES,
					   "The certificate is not yet "
					   "activated");
		else if (i == 0 && !hostname)
			r = qimg_error_set(err, EACCES,
					   "No hostname for certificate "
					   "validation");
		else if (i == 0 &&
			 !gnutls_x509_crt_check_hostname(crt, hostname))
			r = qimg_error_set(err, EACCES,
					   "Certificate does not match the "
					   "hostname %s",
					   hostname);
		gnutls_x509_crt_deinit(crt);
	}
	return r;
}

int nbd_tls_client_start(const struct nbd_tls *c, int fd, const char *hostname,
			 void **session, struct qimg_error *err)
{
	gnutls_session_t s;
	int g;

	g = session_new(c, false, &s, err);
	if (g < 0)
		return g;
	g = handshake(s, fd, err);
	if (g < 0)
		return g;
	if (!c->creds->psk && !c->creds->anon && c->creds->verify_peer &&
	    check_server_cert(s, hostname, err) < 0) {
		gnutls_deinit(s);
		return -EACCES;
	}
	*session = s;
	return 0;
}

int nbd_tls_recv(void *session, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = gnutls_record_recv(session, p, len);

		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			return n == 0 ? -EPIPE
			       : n == GNUTLS_E_PREMATURE_TERMINATION
				       ? -ECONNABORTED
				       : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send what is corked (waiting out EAGAIN/EINTR). */
static int uncork(void *session)
{
	int g;

	do {
		g = gnutls_record_uncork(session, GNUTLS_RECORD_WAIT);
	} while (g == GNUTLS_E_AGAIN || g == GNUTLS_E_INTERRUPTED);
	return g < 0 ? -EIO : 0;
}

int nbd_tls_send(void *session, const void *buf, size_t len, bool more)
{
	const char *p = buf;

	/* Small pieces (headers) are corked into one record with what
	 * follows; a large payload flushes them and goes out as it is. */
	if (len > 65536) {
		if (uncork(session) < 0)
			return -EIO;
	} else {
		gnutls_record_cork(session);
	}
	while (len > 0) {
		size_t k = len < 16384 ? len : 16384;
		ssize_t n = gnutls_record_send(session, p, k);

		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return more ? 0 : uncork(session);
}

void nbd_tls_end(void *session)
{
	gnutls_bye(session, GNUTLS_SHUT_WR);
	gnutls_deinit(session);
}
#endif
