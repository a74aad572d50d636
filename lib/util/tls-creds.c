/* SPDX-License-Identifier: MIT */
/* TLS credential definitions parsed and checked (tls-creds.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/keyval.h"
#include "util/tls-creds.h"
#include "util/x509-check.h"

const char *qimg_tls_creds_type(const char *def)
{
	static const char *const types[] = { "tls-creds-x509", "tls-creds-psk",
					     "tls-creds-anon" };
	char q[64];
	size_t i, n;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		n = strlen(types[i]);
		snprintf(q, sizeof(q), "qom-type=%s", types[i]);
		if ((!strncmp(def, types[i], n) &&
		     (def[n] == ',' || !def[n])) ||
		    strstr(def, q))
			return types[i];
	}
	return NULL;
}

/* The properties' values, then the unknown ones. */
static int check_props(const struct qimg_kv *p, struct qimg_tls_creds *c,
		       struct qimg_error *err)
{
	static const char *const common[] = { "qom-type",    "id",
					      "verify-peer", "dir",
					      "endpoint",    "priority",
					      NULL };
	static const char *const x509[] = { "loaded", "sanity-check",
					    "passwordid", NULL };
	static const char *const psk[] = { "loaded", "username", NULL };
	static const char *const anon[] = { "loaded", NULL };
	const char *v;
	size_t i, j;
	bool b;

	if ((v = qimg_kv_get(p, "verify-peer")) &&
	    !qimg_kv_bool(v, &c->verify_peer))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'verify-peer' expects 'on' or "
				      "'off'");
	if ((v = qimg_kv_get(p, "endpoint"))) {
		if (strcmp(v, "server") && strcmp(v, "client"))
			return qimg_error_set(err, EINVAL,
					      "Parameter 'endpoint' does not "
					      "accept value '%s'",
					      v);
		c->server = !strcmp(v, "server");
	}
	/* (each type's own members start with the deprecated "loaded") */
	if ((v = qimg_kv_get(p, "loaded")) && !qimg_kv_bool(v, &b))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'loaded' expects 'on' or "
				      "'off'");
	if (!c->psk && !c->anon && (v = qimg_kv_get(p, "sanity-check")) &&
	    !qimg_kv_bool(v, &c->sanity_check))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'sanity-check' expects 'on' "
				      "or 'off'");
	for (i = 0; i < p->n; i++) {
		const char *const *own = c->psk ? psk : c->anon ? anon : x509;
		bool known = false;

		for (j = 0; common[j] && !known; j++)
			known = !strcmp(p->k[i], common[j]);
		for (j = 0; own[j] && !known; j++)
			known = !strcmp(p->k[i], own[j]);
		if (!known)
			return qimg_error_set(err, EINVAL,
					      "Parameter '%s' is unexpected",
					      p->k[i]);
	}
	return 0;
}

/* "Unable to access credentials FILE: <strerror>" unless FILE is
 * readable. */
static int need_file(const char *dir, const char *name, struct qimg_error *err)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (access(path, R_OK) == 0)
		return 0;
	return qimg_error_set(err, errno, "Unable to access credentials %s: %s",
			      path, strerror(errno));
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

static int check_psk(const struct qimg_tls_creds *c, struct qimg_error *err)
{
	char path[4096];
	FILE *f;
	bool found;
	int r;

	if (c->server && c->username)
		return qimg_error_set(err, EINVAL,
				      "username should not be set when "
				      "endpoint=server");
	r = need_file(c->dir, "keys.psk", err);
	if (r < 0 || c->server)
		return r;
	snprintf(path, sizeof(path), "%s/keys.psk", c->dir);
	f = fopen(path, "r");
	found = f && has_user(f, c->username);
	if (f)
		fclose(f);
	if (!found)
		return qimg_error_set(err, ENOENT,
				      "Username %s not found in PSK file %s",
				      c->username, path);
	return 0;
}

static int check_x509(const struct qimg_tls_creds *c, struct qimg_error *err)
{
	int r = need_file(c->dir, "ca-cert.pem", err);

	if (r == 0 && c->server) {
		r = need_file(c->dir, "server-cert.pem", err);
		if (r == 0)
			r = need_file(c->dir, "server-key.pem", err);
	}
	if (r == 0 && c->sanity_check)
		r = qimg_x509_sanity_check(c->dir, c->server, err);
	return r;
}

void qimg_tls_creds_free(struct qimg_tls_creds *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->dir);
	free(c->priority);
	free(c->username);
	free(c);
}

/* A copy of property k's value in *out (left NULL when unset). */
static int dup_prop(const struct qimg_kv *p, const char *k, char **out,
		    struct qimg_error *err)
{
	const char *v = qimg_kv_get(p, k);

	if (v && !(*out = strdup(v)))
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

int qimg_tls_creds_parse_props(const char *def, struct qimg_tls_creds **out,
			       struct qimg_error *err)
{
	const char *type = qimg_tls_creds_type(def);
	struct qimg_kv p = { 0 };
	struct qimg_tls_creds *c;
	int r;

	*out = NULL;
	if (!type)
		return qimg_error_set(err, EINVAL, "Not TLS credentials");
	c = calloc(1, sizeof(*c));
	if (!c)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	c->psk = !strcmp(type, "tls-creds-psk");
	c->anon = !strcmp(type, "tls-creds-anon");
	c->verify_peer = true;
	c->sanity_check = true;
	r = qimg_kv_split(def, &p, err);
	if (r == 0 && !qimg_kv_get(&p, "id"))
		r = qimg_error_set(err, EINVAL, "Parameter 'id' is missing");
	if (r == 0)
		r = check_props(&p, c, err);
	/* the id is checked once the properties are, before the files */
	if (r == 0 && !qimg_kv_is_identifier(qimg_kv_get(&p, "id")))
		r = qimg_kv_bad_identifier(err);
	/* then the properties are set: "loaded" has no setter in QEMU 7.2 */
	if (r == 0 && qimg_kv_get(&p, "loaded"))
		r = qimg_error_set(err, EINVAL,
				   "Property '%s.loaded' is not writable",
				   type);
	if (r == 0)
		r = dup_prop(&p, "id", &c->id, err);
	if (r == 0)
		r = dup_prop(&p, "dir", &c->dir, err);
	if (r == 0)
		r = dup_prop(&p, "priority", &c->priority, err);
	if (r == 0 && c->psk)
		r = dup_prop(&p, "username", &c->username, err);
	qimg_kv_free(&p);
	if (r < 0) {
		qimg_tls_creds_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int qimg_tls_creds_complete(struct qimg_tls_creds *c, struct qimg_error *err)
{
	/* anonymous credentials have no files to find */
	if (!c->dir && !c->anon)
		return qimg_error_set(err, EINVAL,
				      "Missing 'dir' property value");
	/* a PSK client without a username is "qemu" */
	if (c->psk && !c->server && !c->username &&
	    !(c->username = strdup("qemu")))
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (c->anon)
		return 0;
	return c->psk ? check_psk(c, err) : check_x509(c, err);
}

int qimg_tls_creds_parse(const char *def, struct qimg_tls_creds **out,
			 struct qimg_error *err)
{
	int r = qimg_tls_creds_parse_props(def, out, err);

	if (r == 0)
		r = qimg_tls_creds_complete(*out, err);
	if (r < 0) {
		qimg_tls_creds_free(*out);
		*out = NULL;
	}
	return r;
}
