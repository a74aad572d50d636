/* SPDX-License-Identifier: MIT */
/* qimg-nbd's TLS credentials: --object tls-creds-x509 and tls-creds-psk
 * definitions, checked and loaded as each is given (as qemu-nbd does: a
 * bad one fails before the image is opened, used or not), and
 * --tls-creds, which picks the server's.
 *
 * The definition is checked in qemu-nbd's order, with its words: syntax,
 * the id, the values of known properties, unknown properties, then what
 * the directory holds.  x509: DIR has ca-cert.pem, and for a server
 * endpoint server-cert.pem and server-key.pem (a client's own
 * certificate is optional).  PSK: DIR has keys.psk, lines of
 * "username:hexkey" (psktool's format); a server takes any user in it, a
 * client endpoint names its user (username, default "qemu"), who must be
 * in it. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nbd.h"
#include "tls.h"

/* A definition split into key=value pieces (the last of a key wins). */
struct props {
	size_t n;
	char **k, **v;
	char *buf;
};

static const char *prop(const struct props *p, const char *k)
{
	size_t i;

	for (i = p->n; i-- > 0;)
		if (!strcmp(p->k[i], k))
			return p->v[i];
	return NULL;
}

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

static const char *type_of(const char *def)
{
	if (!strncmp(def, "tls-creds-x509,", 15) ||
	    strstr(def, "qom-type=tls-creds-x509"))
		return "tls-creds-x509";
	if (!strncmp(def, "tls-creds-psk,", 14) ||
	    strstr(def, "qom-type=tls-creds-psk"))
		return "tls-creds-psk";
	return NULL;
}

bool nbd_tls_is_object(const char *def)
{
	return type_of(def) != NULL;
}

/* Split def (",," is a comma; a first piece without '=' is the type). */
static int split(struct nbd_tool *nt, const char *def, struct props *p)
{
	size_t max = 2;
	const char *s;
	char *o;

	for (s = def; *s; s++)
		max += *s == ',';
	p->n = 0;
	p->buf = malloc(strlen(def) + 2);
	p->k = calloc(max, sizeof(*p->k));
	p->v = calloc(max, sizeof(*p->v));
	if (!p->buf || !p->k || !p->v)
		return -ENOMEM;
	s = def;
	o = p->buf;
	while (*s) {
		char *key = o, *val = NULL;

		while (*s) {
			if (*s == ',' && s[1] == ',') {
				*o++ = ',';
				s += 2;
			} else if (*s == ',') {
				s++;
				break;
			} else if (*s == '=' && !val) {
				*o++ = 0;
				val = o;
				s++;
			} else {
				*o++ = *s++;
			}
		}
		*o++ = 0;
		if (!val && p->n == 0 && key == p->buf) {
			/* the implied first key */
			p->k[p->n] = (char *)"qom-type";
			p->v[p->n++] = key;
			continue;
		}
		if (!val) {
			nbd_err(nt, "Expected '=' after parameter '%s'", key);
			return -EINVAL;
		}
		p->k[p->n] = key;
		p->v[p->n++] = val;
	}
	return 0;
}

static void props_free(struct props *p)
{
	free(p->buf);
	free(p->k);
	free(p->v);
}

/* The properties' values, then the unknown ones. */
static int check_props(struct nbd_tool *nt, const struct props *p,
		       struct nbd_tls *c)
{
	static const char *const common[] = { "qom-type",    "id",
					      "verify-peer", "dir",
					      "endpoint",    "priority",
					      NULL };
	static const char *const x509[] = { "sanity-check", "passwordid",
					    NULL };
	static const char *const psk[] = { "username", NULL };
	const char *v;
	size_t i, j;
	bool b;

	if ((v = prop(p, "verify-peer")) && !parse_bool(v, &c->verify_peer)) {
		nbd_err(nt, "Parameter 'verify-peer' expects 'on' or 'off'");
		return -EINVAL;
	}
	if ((v = prop(p, "endpoint"))) {
		if (strcmp(v, "server") && strcmp(v, "client")) {
			nbd_err(nt,
				"Parameter 'endpoint' does not accept value "
				"'%s'",
				v);
			return -EINVAL;
		}
		c->server = !strcmp(v, "server");
	}
	if (!c->psk && (v = prop(p, "sanity-check")) && !parse_bool(v, &b)) {
		nbd_err(nt, "Parameter 'sanity-check' expects 'on' or 'off'");
		return -EINVAL;
	}
	for (i = 0; i < p->n; i++) {
		const char *const *own = c->psk ? psk : x509;
		bool known = false;

		for (j = 0; common[j] && !known; j++)
			known = !strcmp(p->k[i], common[j]);
		for (j = 0; own[j] && !known; j++)
			known = !strcmp(p->k[i], own[j]);
		if (!known) {
			nbd_err(nt, "Parameter '%s' is unexpected", p->k[i]);
			return -EINVAL;
		}
	}
	return 0;
}

/* "Unable to access credentials FILE: <strerror>" unless FILE is
 * readable. */
static int need_file(struct nbd_tool *nt, const char *path)
{
	if (access(path, R_OK) == 0)
		return 0;
	nbd_err(nt, "Unable to access credentials %s: %s", path,
		strerror(errno));
	return -ENOENT;
}

/* Whether keys.psk has a line for `user`. */
static bool has_user(FILE *f, const char *user)
{
	size_t n = strlen(user);
	char line[1024];

	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, user, n) && line[n] == ':')
			return true;
	return false;
}

static int load_psk(struct nbd_tool *nt, struct nbd_tls *c,
		    const char *username)
{
	char path[4096];
	FILE *f;
	bool found;
	int r;

	if (c->server && username) {
		nbd_err(nt, "username should not be set when endpoint=server");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/keys.psk", c->dir);
	r = need_file(nt, path);
	if (r < 0)
		return r;
	if (!c->server) {
		/* a client's key is looked up now; it is never used here */
		if (!username)
			username = "qemu";
		f = fopen(path, "r");
		found = f && has_user(f, username);
		if (f)
			fclose(f);
		if (!found) {
			nbd_err(nt, "Username %s not found in PSK file %s",
				username, path);
			return -ENOENT;
		}
		return 0;
	}
#ifdef QIMG_HAVE_GNUTLS
	if (gnutls_psk_allocate_server_credentials(&c->psk_cred) < 0)
		return -ENOMEM;
	r = gnutls_psk_set_server_credentials_file(c->psk_cred, path);
	if (r < 0) {
		nbd_err(nt, "Cannot set PSK server credentials: %s",
			gnutls_strerror(r));
		return -EINVAL;
	}
#endif
	return 0;
}

static int load_x509(struct nbd_tool *nt, struct nbd_tls *c)
{
	char ca[4096], cert[4096], key[4096];
	int r;

	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", c->dir);
	snprintf(cert, sizeof(cert), "%s/server-cert.pem", c->dir);
	snprintf(key, sizeof(key), "%s/server-key.pem", c->dir);
	r = need_file(nt, ca);
	if (r < 0 || !c->server)
		return r;
	r = need_file(nt, cert);
	if (r == 0)
		r = need_file(nt, key);
	if (r < 0)
		return r;
#ifdef QIMG_HAVE_GNUTLS
	if (gnutls_certificate_allocate_credentials(&c->cred) < 0)
		return -ENOMEM;
	r = gnutls_certificate_set_x509_trust_file(c->cred, ca,
						   GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		nbd_err(nt, "Cannot load CA certificate '%s': %s", ca,
			gnutls_strerror(r));
		return -EINVAL;
	}
	r = gnutls_certificate_set_x509_key_file(c->cred, cert, key,
						 GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		nbd_err(nt, "Cannot load certificate '%s' & key '%s': %s", cert,
			key, gnutls_strerror(r));
		return -EINVAL;
	}
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
#endif
	free(c->id);
	free(c->dir);
	free(c->priority);
	free(c);
}

int nbd_tls_object(struct nbd_tool *nt, const char *def)
{
	struct props p = { 0 };
	struct nbd_tls *c;
	const char *v;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->psk = !strcmp(type_of(def), "tls-creds-psk");
	c->verify_peer = true;
	r = split(nt, def, &p);
	if (r == 0 && !prop(&p, "id")) {
		nbd_err(nt, "Parameter 'id' is missing");
		r = -EINVAL;
	}
	if (r == 0)
		r = check_props(nt, &p, c);
	if (r == 0) {
		c->id = strdup(prop(&p, "id"));
		if ((v = prop(&p, "dir")))
			c->dir = strdup(v);
		if ((v = prop(&p, "priority")))
			c->priority = strdup(v);
		if (!c->id || (v && !c->priority))
			r = -ENOMEM;
	}
	if (r == 0 && !c->dir) {
		nbd_err(nt, "Missing 'dir' property value");
		r = -EINVAL;
	}
	if (r == 0)
		r = c->psk ? load_psk(nt, c, prop(&p, "username"))
			   : load_x509(nt, c);
	props_free(&p);
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
	nt->tls = c;
	return 0;
#endif
}
