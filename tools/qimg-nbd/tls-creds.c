/* SPDX-License-Identifier: MIT */
/* qimg-nbd's TLS credentials: --object tls-creds-x509, tls-creds-psk and
 * tls-creds-anon
 * definitions, checked as each is given by lib/util/tls-creds.c (as
 * qemu-nbd does: a bad one fails before the image is opened, used or
 * not), the keys then loaded with GnuTLS; and --tls-creds, which picks
 * the server's (or, with -L, the client's). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nbd.h"
#include "qimg/object.h"
#include "tls.h"
#include "util/authz.h"
#include "util/tls-creds.h"

bool nbd_tls_is_object(const char *def)
{
	return qimg_tls_creds_type(def) != NULL;
}

#ifdef QIMG_HAVE_GNUTLS
/* Anonymous server credentials: the Diffie-Hellman parameters of
 * DIR/dh-params.pem when there is one, else GnuTLS's known ones. */
static int load_anon(struct nbd_tool *nt, struct nbd_tls *c)
{
	gnutls_datum_t pem = { NULL, 0 };
	char path[4096];
	int r;

	if (gnutls_anon_allocate_server_credentials(&c->anon_cred) < 0)
		return -ENOMEM;
	if (c->creds->dir) {
		snprintf(path, sizeof(path), "%s/dh-params.pem", c->creds->dir);
		if (access(path, R_OK) == 0) {
			r = gnutls_load_file(path, &pem);
			if (r == 0)
				r = gnutls_dh_params_init(&c->dh);
			if (r == 0)
				r = gnutls_dh_params_import_pkcs3(
					c->dh, &pem, GNUTLS_X509_FMT_PEM);
			gnutls_free(pem.data);
			if (r < 0) {
				nbd_err(nt,
					"Cannot load DH parameters '%s': %s",
					path, gnutls_strerror(r));
				return -EINVAL;
			}
			gnutls_anon_set_server_dh_params(c->anon_cred, c->dh);
			return 0;
		}
	}
	r = gnutls_anon_set_server_known_dh_params(c->anon_cred,
						   GNUTLS_SEC_PARAM_MEDIUM);
	if (r < 0) {
		nbd_err(nt, "Cannot set DH parameters: %s", gnutls_strerror(r));
		return -EINVAL;
	}
	return 0;
}
#endif

#ifdef QIMG_HAVE_GNUTLS
/* x509 keys of the endpoint `side` ("server", "client"): the CA to
 * check the peer against, and DIR/SIDE-cert.pem with DIR/SIDE-key.pem
 * (a server's required, checked when defined; a client's when it has
 * them). */
static int load_x509(struct nbd_tool *nt, struct nbd_tls *c, const char *side)
{
	char ca[4096], cert[4096], key[4096];
	int r;

	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", c->creds->dir);
	snprintf(cert, sizeof(cert), "%s/%s-cert.pem", c->creds->dir, side);
	snprintf(key, sizeof(key), "%s/%s-key.pem", c->creds->dir, side);
	if (gnutls_certificate_allocate_credentials(&c->cred) < 0)
		return -ENOMEM;
	r = gnutls_certificate_set_x509_trust_file(c->cred, ca,
						   GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		nbd_err(nt, "Cannot load CA certificate '%s': %s", ca,
			gnutls_strerror(r));
		return -EINVAL;
	}
	if (!c->creds->server && (access(cert, R_OK) || access(key, R_OK)))
		return 0; /* a client without a certificate of its own */
	r = gnutls_certificate_set_x509_key_file(c->cred, cert, key,
						 GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		nbd_err(nt, "Cannot load certificate '%s' & key '%s': %s", cert,
			key, gnutls_strerror(r));
		return -EINVAL;
	}
	return 0;
}

/* The hex key of `user` in keys.psk (a line "user:hexkey"), malloc'd in
 * *out; tls-creds checked that the user has one. */
static int psk_key(const char *path, const char *user, char **out)
{
	size_t n = strlen(user);
	char line[1024];
	FILE *f = fopen(path, "r");

	*out = NULL;
	if (!f)
		return -errno;
	while (!*out && fgets(line, sizeof(line), f))
		if (!strncmp(line, user, n) && line[n] == ':') {
			line[n + 1 + strcspn(line + n + 1, "\r\n")] = 0;
			*out = strdup(line + n + 1);
			if (!*out) {
				fclose(f);
				return -ENOMEM;
			}
		}
	fclose(f);
	return *out ? 0 : -ENOENT;
}

/* A client endpoint's credentials (-L): anonymous; a PSK user and key;
 * x509: the CA to check the server's certificate against and the
 * client's own certificate when DIR has one (client-cert.pem and
 * client-key.pem). */
static int load_client(struct nbd_tool *nt, struct nbd_tls *c)
{
	char key[4096], *hex = NULL;
	gnutls_datum_t k;
	int r;

	if (c->creds->anon)
		return gnutls_anon_allocate_client_credentials(
			       &c->anon_client) < 0
			       ? -ENOMEM
			       : 0;
	if (c->creds->psk) {
		snprintf(key, sizeof(key), "%s/keys.psk", c->creds->dir);
		r = psk_key(key, c->creds->username, &hex);
		if (r < 0) {
			nbd_err(nt, "Cannot read PSK file %s: %s", key,
				strerror(-r));
			return r;
		}
		k.data = (unsigned char *)hex;
		k.size = (unsigned int)strlen(hex);
		r = gnutls_psk_allocate_client_credentials(&c->psk_client);
		if (r == 0)
			r = gnutls_psk_set_client_credentials(
				c->psk_client, c->creds->username, &k,
				GNUTLS_PSK_KEY_HEX);
		free(hex);
		if (r < 0) {
			nbd_err(nt, "Cannot set PSK client credentials: %s",
				gnutls_strerror(r));
			return -EINVAL;
		}
		return 0;
	}
	return load_x509(nt, c, "client");
}
#endif

/* The keys loaded with GnuTLS: a server endpoint's, or a client's for
 * -L. */
static int load(struct nbd_tool *nt, struct nbd_tls *c)
{
#ifdef QIMG_HAVE_GNUTLS
	char key[4096];
	int r;

	if (!c->creds->server)
		return load_client(nt, c);
	if (c->creds->anon)
		return load_anon(nt, c);
	if (c->creds->psk) {
		snprintf(key, sizeof(key), "%s/keys.psk", c->creds->dir);
		if (gnutls_psk_allocate_server_credentials(&c->psk_cred) < 0)
			return -ENOMEM;
		r = gnutls_psk_set_server_credentials_file(c->psk_cred, key);
		if (r < 0) {
			nbd_err(nt, "Cannot set PSK server credentials: %s",
				gnutls_strerror(r));
			return -EINVAL;
		}
		return 0;
	}
	return load_x509(nt, c, "server");
#else
	(void)nt;
	(void)c;
#endif
	return 0;
}

static void creds_free(struct nbd_tls *c)
{
#ifdef QIMG_HAVE_GNUTLS
	if (c->cred)
		gnutls_certificate_free_credentials(c->cred);
	if (c->psk_cred)
		gnutls_psk_free_server_credentials(c->psk_cred);
	if (c->anon_cred)
		gnutls_anon_free_server_credentials(c->anon_cred);
	if (c->dh)
		gnutls_dh_params_deinit(c->dh);
	if (c->psk_client)
		gnutls_psk_free_client_credentials(c->psk_client);
	if (c->anon_client)
		gnutls_anon_free_client_credentials(c->anon_client);
#endif
	qimg_tls_creds_free(c->creds);
	free(c);
}

int nbd_tls_object(struct nbd_tool *nt, const char *def)
{
	struct qimg_error err = { 0 };
	struct qimg_tls_creds *tc;
	struct nbd_tls *c;
	int r;

	r = qimg_tls_creds_parse(def, &tc, &err);
	if (r < 0) {
		nbd_err(nt, "%s", err.msg);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		qimg_tls_creds_free(tc);
		return -ENOMEM;
	}
	c->creds = tc;
	r = load(nt, c);
	if (r < 0) {
		creds_free(c);
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
		creds_free(c);
	}
	nt->tls_objects = NULL;
	nt->tls = NULL;
}

int nbd_tls_setup(struct nbd_tool *nt)
{
	struct nbd_tls *c;

	for (c = nt->tls_objects; c; c = c->next)
		if (!strcmp(c->creds->id, nt->o.tls_creds))
			break;
	if (!c) {
		nbd_err(nt,
			"Failed to get TLS creds: No TLS credentials with "
			"id '%s'",
			nt->o.tls_creds);
		return -ENOENT;
	}
	if (c->creds->server == nt->o.list) {
		nbd_err(nt,
			"Failed to get TLS creds: Expected TLS credentials "
			"for a %s endpoint",
			nt->o.list ? "client" : "server");
		return -EINVAL;
	}
#ifndef QIMG_HAVE_GNUTLS
	nbd_err(nt, "TLS support is not built in (GnuTLS was not found)");
	return -ENOTSUP;
#else
	nt->tls = c;
	return 0;
#endif
}

int nbd_tls_authz_setup(struct nbd_tool *nt)
{
	struct qimg_error err = { 0 };
	const char *id = nt->o.tls_authz;
	const struct nbd_tls *c;

	for (c = nt->tls_objects; c; c = c->next)
		if (!strcmp(c->creds->id, id)) {
			nbd_err(nt, "Object '%s' is not a QAuthZ subclass", id);
			return -EINVAL;
		}
	nt->authz = qimg_objects_authz(nt->t.objects, id, &err);
	if (!nt->authz) {
		nbd_err(nt, "%s", err.msg);
		return -EINVAL;
	}
	/* Without a client certificate there is no name to ask about:
	 * refused here rather than letting every client in. */
	if (nt->tls->creds->anon) {
		nbd_err(nt,
			"--tls-authz needs the clients' names, but '%s' is "
			"anonymous (tls-creds-anon)",
			nt->tls->creds->id);
		return -EINVAL;
	}
	if (!nt->tls->creds->psk && !nt->tls->creds->verify_peer) {
		nbd_err(nt,
			"--tls-authz needs the clients' certificates, but "
			"'%s' has verify-peer=off",
			nt->tls->creds->id);
		return -EINVAL;
	}
	return 0;
}
