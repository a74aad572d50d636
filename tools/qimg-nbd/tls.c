/* SPDX-License-Identifier: MIT */
/* qimg-nbd's TLS (--object tls-creds-x509,id=ID,dir=DIR,endpoint=server
 * [,verify-peer=on|off] and --tls-creds ID), with GnuTLS: the directory
 * holds server-cert.pem and server-key.pem, and ca-cert.pem to check
 * client certificates (verify-peer, on by default, as QEMU's).  A
 * connection's transport switches to the session once NBD_OPT_STARTTLS
 * is acknowledged. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nbd.h"

#ifdef QIMG_HAVE_GNUTLS
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#endif

struct nbd_tls {
	char *id, *dir;
	bool server, verify_peer;
#ifdef QIMG_HAVE_GNUTLS
	gnutls_certificate_credentials_t cred;
#endif
	struct nbd_tls *next;
};

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false")) {
		*out = false;
		return true;
	}
	return false;
}

bool nbd_tls_is_object(const char *def)
{
	return !strncmp(def, "tls-creds-x509,", 15) ||
	       strstr(def, "qom-type=tls-creds-x509") != NULL;
}

/* The next "key=value" of a definition (",," is a comma); NULL at the
 * end.  *p moves past it; the pieces are written into buf. */
static char *next_prop(const char **p, char *buf, char **value)
{
	const char *s = *p;
	char *o = buf;

	if (!*s)
		return NULL;
	*value = NULL;
	while (*s) {
		if (*s == ',' && s[1] == ',') {
			*o++ = ',';
			s += 2;
			continue;
		}
		if (*s == ',') {
			s++;
			break;
		}
		if (*s == '=' && !*value) {
			*o++ = 0;
			*value = o;
			s++;
			continue;
		}
		*o++ = *s++;
	}
	*o = 0;
	*p = s;
	return buf;
}

int nbd_tls_object(struct nbd_tool *nt, const char *def)
{
	struct nbd_tls *c;
	const char *p = def;
	char *buf, *k, *v;
	int r = 0;

	if (!strncmp(p, "tls-creds-x509,", 15))
		p += 15;
	buf = malloc(strlen(def) + 2);
	c = calloc(1, sizeof(*c));
	if (!buf || !c) {
		free(buf);
		free(c);
		return -ENOMEM;
	}
	c->verify_peer = true;
	while (r == 0 && (k = next_prop(&p, buf, &v))) {
		if (!v) {
			nbd_err(nt, "Invalid parameter '%s'", k);
			r = -EINVAL;
		} else if (!strcmp(k, "id")) {
			free(c->id);
			c->id = strdup(v);
		} else if (!strcmp(k, "dir")) {
			free(c->dir);
			c->dir = strdup(v);
		} else if (!strcmp(k, "endpoint")) {
			if (!strcmp(v, "server"))
				c->server = true;
			else if (!strcmp(v, "client"))
				c->server = false;
			else {
				nbd_err(nt,
					"Parameter 'endpoint' does not "
					"accept value '%s'",
					v);
				r = -EINVAL;
			}
		} else if (!strcmp(k, "verify-peer")) {
			if (!parse_bool(v, &c->verify_peer)) {
				nbd_err(nt, "Parameter 'verify-peer' expects "
					    "'on' or 'off'");
				r = -EINVAL;
			}
		} else if (strcmp(k, "qom-type") && strcmp(k, "priority") &&
			   strcmp(k, "sanity-check")) {
			nbd_err(nt, "Property 'tls-creds-x509.%s' not found",
				k);
			r = -EINVAL;
		}
	}
	free(buf);
	if (r == 0 && !c->id) {
		nbd_err(nt, "Parameter 'id' is missing");
		r = -EINVAL;
	}
	if (r < 0) {
		free(c->id);
		free(c->dir);
		free(c);
		return r;
	}
	c->next = nt->tls_objects;
	nt->tls_objects = c;
	return 0;
}

void nbd_tls_free(struct nbd_tool *nt)
{
	struct nbd_tls *c, *n;

	for (c = nt->tls_objects; c; c = n) {
		n = c->next;
#ifdef QIMG_HAVE_GNUTLS
		if (c->cred)
			gnutls_certificate_free_credentials(c->cred);
#endif
		free(c->id);
		free(c->dir);
		free(c);
	}
	nt->tls_objects = NULL;
	nt->tls = NULL;
}

int nbd_tls_setup(struct nbd_tool *nt)
{
	struct nbd_tls *c;
#ifdef QIMG_HAVE_GNUTLS
	char ca[4096], cert[4096], key[4096];
	int g;
#endif

	for (c = nt->tls_objects; c; c = c->next)
		if (!strcmp(c->id, nt->o.tls_creds))
			break;
	if (!c) {
		nbd_err(nt,
			"Failed to get TLS creds: No TLS credentials with "
			"id '%s'",
			nt->o.tls_creds);
		return -ENOENT;
	}
	if (!c->server) {
		nbd_err(nt, "Failed to get TLS creds: Expected TLS credentials "
			    "for a server endpoint");
		return -EINVAL;
	}
#ifndef QIMG_HAVE_GNUTLS
	nbd_err(nt, "TLS support is not built in (GnuTLS was not found)");
	return -ENOTSUP;
#else
	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", c->dir ? c->dir : ".");
	snprintf(cert, sizeof(cert), "%s/server-cert.pem",
		 c->dir ? c->dir : ".");
	snprintf(key, sizeof(key), "%s/server-key.pem", c->dir ? c->dir : ".");
	if (gnutls_certificate_allocate_credentials(&c->cred) < 0)
		return -ENOMEM;
	if (access(ca, R_OK) == 0) {
		g = gnutls_certificate_set_x509_trust_file(c->cred, ca,
							   GNUTLS_X509_FMT_PEM);
		if (g < 0) {
			nbd_err(nt, "Cannot load CA certificate '%s': %s", ca,
				gnutls_strerror(g));
			return -EINVAL;
		}
	} else if (c->verify_peer) {
		nbd_err(nt, "Unable to access credentials %s: %s", ca,
			strerror(errno));
		return -ENOENT;
	}
	if (access(cert, R_OK) < 0 || access(key, R_OK) < 0) {
		nbd_err(nt, "Unable to access credentials %s: %s",
			access(cert, R_OK) < 0 ? cert : key, strerror(errno));
		return -ENOENT;
	}
	g = gnutls_certificate_set_x509_key_file(c->cred, cert, key,
						 GNUTLS_X509_FMT_PEM);
	if (g < 0) {
		nbd_err(nt, "Cannot load certificate '%s' & key '%s': %s", cert,
			key, gnutls_strerror(g));
		return -EINVAL;
	}
	nt->tls = c;
	return 0;
#endif
}

#ifdef QIMG_HAVE_GNUTLS
int nbd_tls_start(const struct nbd_tls *c, int fd, void **session,
		  struct qimg_error *err)
{
	gnutls_session_t s;
	unsigned int status = 0;
	int g;

	if (gnutls_init(&s, GNUTLS_SERVER) < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	g = gnutls_set_default_priority(s);
	if (g == 0)
		g = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->cred);
	if (g < 0) {
		gnutls_deinit(s);
		return qimg_error_set(err, EPROTO, "TLS set-up failed: %s",
				      gnutls_strerror(g));
	}
	gnutls_certificate_server_set_request(
		s, c->verify_peer ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_IGNORE);
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
	if (c->verify_peer &&
	    (gnutls_certificate_verify_peers2(s, &status) < 0 || status)) {
		gnutls_deinit(s);
		return qimg_error_set(err, EACCES,
				      "The client's certificate is not "
				      "trusted");
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
			return n == 0 ? -EPIPE : -EIO;
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
