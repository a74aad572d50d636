/* SPDX-License-Identifier: MIT */
/* The --object table: `secret` and `secret_keyring` objects parsed and
 * checked as qemu-img checks them (an encrypted one, keyid= and iv=,
 * decrypted as it is defined), their bytes kept until the table is freed
 * and wiped then. */
#include <stdbool.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "qimg/object.h"
#include "qimg/opts.h"
#include "util/authz.h"
#include "util/base64.h"
#include "util/keyval.h"
#include "util/object-json.h"
#include "util/object-types.h"
#include "util/throttle-group.h"
#include "util/tls-creds.h"
#include "util/vector.h"

struct secret {
	char *id;
	uint8_t *data; /* as given (data=) or read (file=) */
	size_t len;
	bool base64; /* format=base64: decoded on use */
};

struct qimg_objects {
	struct secret *v;
	size_t len, cap;
	struct qimg_tls_creds **tls; /* tls-creds-x509, tls-creds-psk */
	size_t ntls, tlscap;
	struct qimg_authz **authz; /* authz-simple, authz-list */
	size_t nauthz, authzcap;
	struct qimg_throttle_group **thr; /* throttle-group */
	size_t nthr, thrcap;
	struct qimg_object_plain **plain; /* the others (object-types.h) */
	size_t nplain, plaincap;
	enum qimg_object_tool tool;
};

struct qimg_objects *qimg_objects_new(void)
{
	return calloc(1, sizeof(struct qimg_objects));
}

static int b64_check(const uint8_t *in, size_t n, struct qimg_error *err);

static void wipe_free(uint8_t *p, size_t n)
{
	if (p) {
		explicit_bzero(p, n);
		free(p);
	}
}

void qimg_objects_free(struct qimg_objects *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->len; i++) {
		free(t->v[i].id);
		wipe_free(t->v[i].data, t->v[i].len);
	}
	free(t->v);
	for (i = 0; i < t->ntls; i++)
		qimg_tls_creds_free(t->tls[i]);
	free(t->tls);
	for (i = 0; i < t->nauthz; i++)
		qimg_authz_free(t->authz[i]);
	free(t->authz);
	for (i = 0; i < t->nthr; i++)
		qimg_throttle_group_free(t->thr[i]);
	free(t->thr);
	for (i = 0; i < t->nplain; i++)
		qimg_object_plain_free(t->plain[i]);
	free(t->plain);
	free(t);
}

static const struct secret *find(const struct qimg_objects *t, const char *id)
{
	size_t i;

	for (i = 0; t && i < t->len; i++)
		if (!strcmp(t->v[i].id, id))
			return &t->v[i];
	return NULL;
}

static const struct qimg_tls_creds *find_tls(const struct qimg_objects *t,
					     const char *id)
{
	size_t i;

	for (i = 0; t && i < t->ntls; i++)
		if (!strcmp(t->tls[i]->id, id))
			return t->tls[i];
	return NULL;
}

static const struct qimg_authz *find_authz(const struct qimg_objects *t,
					   const char *id)
{
	size_t i;

	for (i = 0; t && i < t->nauthz; i++)
		if (!strcmp(t->authz[i]->id, id))
			return t->authz[i];
	return NULL;
}

static struct qimg_throttle_group *find_thr(const struct qimg_objects *t,
					    const char *id)
{
	size_t i;

	for (i = 0; t && i < t->nthr; i++)
		if (!strcmp(t->thr[i]->id, id))
			return t->thr[i];
	return NULL;
}

/* Whether an object of a type object-types.c checks has this id (or,
 * with by_type, this type). */
static bool find_plain(const struct qimg_objects *t, const char *name,
		       bool by_type)
{
	size_t i;

	for (i = 0; t && i < t->nplain; i++)
		if (!strcmp(by_type ? qimg_object_plain_type(t->plain[i])
				    : qimg_object_plain_id(t->plain[i]),
			    name))
			return true;
	return false;
}

/* Whether any object has this id. */
static bool taken(const struct qimg_objects *t, const char *id)
{
	return find(t, id) || find_tls(t, id) || find_authz(t, id) ||
	       find_thr(t, id) || find_plain(t, id, false);
}

void qimg_objects_set_tool(struct qimg_objects *t, enum qimg_object_tool tool)
{
	t->tool = tool;
}

enum qimg_object_tool qimg_objects_tool(const struct qimg_objects *t)
{
	return t ? t->tool : QIMG_OBJECT_TOOL_IMG;
}

static int duplicate(const char *id, struct qimg_error *err)
{
	return qimg_error_set(err, EEXIST,
			      "attempt to add duplicate property '%s' to "
			      "object (type 'container')",
			      id);
}

/* A definition of a type object-types.c checks (every type but the ones
 * below): checked and its properties set, its id compared with the
 * others', then completed, as qemu-img does; QIMG_OBJECT_NOT_OURS for the
 * others. */
static int add_plain(struct qimg_objects *t, const char *def,
		     struct qimg_error *err)
{
	struct qimg_object_plain *p;
	void *vp;
	int r = qimg_object_type_parse(def, t->tool, &p, err);

	if (r != 0)
		return r;
	if (taken(t, qimg_object_plain_id(p)))
		r = duplicate(qimg_object_plain_id(p), err);
	else
		r = qimg_object_plain_complete(
			p, find_plain(t, "main-loop", true), err);
	vp = t->plain;
	if (r == 0 && qimg_vector_grow(&vp, &t->plaincap, t->nplain, 1,
				       sizeof(*t->plain)) < 0)
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	t->plain = vp;
	if (r < 0) {
		qimg_object_plain_free(p);
		return r;
	}
	t->plain[t->nplain++] = p;
	return 0;
}

/* A tls-creds-x509 or tls-creds-psk definition, checked and added. */
static int add_tls(struct qimg_objects *t, const char *def,
		   struct qimg_error *err)
{
	struct qimg_tls_creds *c;
	void *vp;
	int r;

	if (qimg_kv_asks_help(def))
		return QIMG_OBJECT_HELP_PROPS;
	/* added (an id taken refused) between its properties and its
	 * completion, as QEMU adds it */
	r = qimg_tls_creds_parse_props(def, &c, err);
	if (r < 0)
		return r;
	r = taken(t, c->id) ? duplicate(c->id, err)
			    : qimg_tls_creds_complete(c, err);
	if (r < 0) {
		qimg_tls_creds_free(c);
		return r;
	}
	vp = t->tls;
	if (qimg_vector_grow(&vp, &t->tlscap, t->ntls, 1, sizeof(*t->tls)) <
	    0) {
		qimg_tls_creds_free(c);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	t->tls = vp;
	t->tls[t->ntls++] = c;
	return 0;
}

const struct qimg_tls_creds *qimg_objects_tls(const struct qimg_objects *t,
					      const char *id,
					      struct qimg_error *err)
{
	const struct qimg_tls_creds *c = find_tls(t, id);

	if (c)
		return c;
	if (taken(t, id))
		qimg_error_set(err, EINVAL,
			       "Object with id '%s' is not TLS credentials",
			       id);
	else
		qimg_error_set(err, ENOENT, "No TLS credentials with id '%s'",
			       id);
	return NULL;
}

/* An authz-simple or authz-list definition, checked and added (its id
 * checked last, as qemu-img does). */
static int add_authz(struct qimg_objects *t, const char *def,
		     struct qimg_error *err)
{
	const char *type = qimg_authz_type(def);
	struct qimg_authz *a;
	void *vp;
	int r;

	/* (authz-listfile and authz-pam have no help: qemu-img lists the
	 * types instead) */
	if (qimg_kv_asks_help(def))
		return !strcmp(type, "authz-simple") ||
				       !strcmp(type, "authz-list")
			       ? QIMG_OBJECT_HELP_PROPS
			       : QIMG_OBJECT_HELP_TYPES;
	r = qimg_authz_parse(def, &a, err);
	if (r < 0)
		return r;
	if (!qimg_kv_is_identifier(a->id))
		r = qimg_kv_bad_identifier(err);
	else if (taken(t, a->id))
		r = duplicate(a->id, err);
	if (r == 0) {
		vp = t->authz;
		if (qimg_vector_grow(&vp, &t->authzcap, t->nauthz, 1,
				     sizeof(*t->authz)) < 0)
			r = qimg_error_set(err, ENOMEM, "Out of memory");
		else
			t->authz = vp;
	}
	if (r < 0) {
		qimg_authz_free(a);
		return r;
	}
	t->authz[t->nauthz++] = a;
	return 0;
}

static int add_throttle(struct qimg_objects *t, const char *def,
			struct qimg_error *err)
{
	struct qimg_throttle_group *g;
	void *vp;
	int r;

	if (qimg_kv_asks_help(def))
		return QIMG_OBJECT_HELP_PROPS;
	r = qimg_throttle_group_parse(def, &g, err);
	if (r < 0)
		return r;
	if (taken(t, g->id))
		r = duplicate(g->id, err);
	else
		r = qimg_throttle_config_check(&g->cfg, err);
	if (r == 0) {
		vp = t->thr;
		if (qimg_vector_grow(&vp, &t->thrcap, t->nthr, 1,
				     sizeof(*t->thr)) < 0)
			r = qimg_error_set(err, ENOMEM, "Out of memory");
		else
			t->thr = vp;
	}
	if (r < 0) {
		qimg_throttle_group_free(g);
		return r;
	}
	t->thr[t->nthr++] = g;
	return 0;
}

struct qimg_throttle_group *
qimg_objects_throttle_group(const struct qimg_objects *t, const char *id,
			    struct qimg_error *err)
{
	struct qimg_throttle_group *g = find_thr(t, id);

	if (!g)
		qimg_error_set(err, ENOENT,
			       "Throttle group '%s' does not exist", id);
	return g;
}

int qimg_objects_pr_manager(const struct qimg_objects *t, const char *id,
			    struct qimg_error *err)
{
	size_t i;

	for (i = 0; t && i < t->nplain; i++)
		if (!strcmp(qimg_object_plain_id(t->plain[i]), id) &&
		    !strcmp(qimg_object_plain_type(t->plain[i]),
			    "pr-manager-helper"))
			return 0;
	if (taken(t, id))
		return qimg_error_set(err, EINVAL,
				      "Object with id '%s' is not a persistent "
				      "reservation manager",
				      id);
	return qimg_error_set(err, ENOENT,
			      "No persistent reservation manager with id '%s'",
			      id);
}

const struct qimg_authz *qimg_objects_authz(const struct qimg_objects *t,
					    const char *id,
					    struct qimg_error *err)
{
	const struct qimg_authz *a = find_authz(t, id);

	if (a)
		return a;
	if (taken(t, id))
		qimg_error_set(err, EINVAL,
			       "Object '%s' is not a QAuthZ subclass", id);
	else
		qimg_error_set(err, ENOENT, "Cannot find QAuthZ object ID %s",
			       id);
	return NULL;
}

static int read_file(const char *path, uint8_t **out, size_t *len,
		     struct qimg_error *err)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, got;
	int e;

	if (!fp)
		return qimg_error_set(err, errno,
				      "Unable to read %s: Failed to open file "
				      "\xe2\x80\x9c%s\xe2\x80\x9d: %s",
				      path, path, strerror(errno));
	for (;;) {
		void *p = buf;

		if (qimg_vector_grow(&p, &cap, n, 4096, 1) < 0) {
			wipe_free(buf, n);
			fclose(fp);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
		buf = p;
		got = fread(buf + n, 1, cap - n, fp);
		n += got;
		if (got == 0)
			break;
	}
	e = ferror(fp) ? errno : 0;
	fclose(fp);
	if (e) {
		wipe_free(buf, cap);
		return qimg_error_set(err, e, "Unable to read %s: %s", path,
				      strerror(e));
	}
	*out = buf;
	*len = n;
	return 0;
}

#define KEYCTL_READ_OP 11 /* <linux/keyctl.h>'s KEYCTL_READ */

/* secret_keyring's serial=: a 32-bit integer, as QEMU's visit reads it. */
static int get_serial(const struct qimg_opts *o, int32_t *serial,
		      struct qimg_error *err)
{
	const char *v = qimg_opts_get_str(o, "serial", NULL);
	long long x;
	char *end;

	if (!v)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'serial' is missing");
	errno = 0;
	x = strtoll(v, &end, 0);
	if (errno == ERANGE ||
	    (!errno && end != v && !*end && (x < INT32_MIN || x > INT32_MAX)))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'serial' expects int32_t");
	if (errno || end == v || *end)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'serial' expects integer");
	*serial = (int32_t)x;
	return 0;
}

/* The payload of kernel key `serial` (keyctl read). */
static int read_key(int32_t serial, uint8_t **out, size_t *len,
		    struct qimg_error *err)
{
	uint8_t *buf = NULL;
	long n, cap = 0;
	int e;

	for (;;) {
		n = syscall(SYS_keyctl, KEYCTL_READ_OP, serial, buf,
			    (size_t)cap);
		if (n < 0)
			break;
		if (n <= cap && buf) {
			*out = buf;
			*len = (size_t)n;
			return 0;
		}
		wipe_free(buf, (size_t)cap);
		cap = n;
		buf = malloc((size_t)cap + 1);
		if (!buf)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	e = errno;
	wipe_free(buf, (size_t)cap);
	return qimg_error_set(err, e, "Unable to read serial key %08x: %s",
			      (unsigned int)serial, strerror(e));
}

/* Base64 text (checked as QEMU checks it) decoded into a new buffer. */
static int b64_take(const uint8_t *in, size_t n, uint8_t **out, size_t *len,
		    struct qimg_error *err)
{
	int r = b64_check(in, n, err);

	if (r < 0)
		return r;
	*out = malloc(n + 1);
	if (!*out)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	*len = qimg_base64_decode(in, n, *out);
	return 0;
}

/* keyid= and iv=: s->data (base64 when s->base64) is AES-256-CBC
 * ciphertext under the 32 bytes of secret `kid`; it becomes the
 * plaintext, its padding dropped.  Checked in qemu-img's order and
 * words. */
static int decrypt_secret(struct qimg_objects *t, struct secret *s,
			  const char *kid, const char *iv,
			  struct qimg_error *err)
{
	uint8_t *key = NULL, *ivb = NULL, *ct = NULL;
	size_t keylen = 0, ivlen = 0, ctlen = 0, pad;
	int r;

	if (!find(t, kid))
		return qimg_error_set(err, ENOENT, "No secret with id '%s'",
				      kid);
	r = qimg_secret_get(t, kid, &key, &keylen, err);
	if (r < 0)
		return r;
	if (keylen != 32) {
		r = qimg_error_set(err, EINVAL,
				   "Key should be 32 bytes in length");
		goto out;
	}
	if (!iv) {
		r = qimg_error_set(err, EINVAL,
				   "IV is required to decrypt secret");
		goto out;
	}
	r = b64_take((const uint8_t *)iv, strlen(iv), &ivb, &ivlen, err);
	if (r < 0)
		goto out;
	if (ivlen != 16) {
		r = qimg_error_set(err, EINVAL,
				   "IV should be 16 bytes in length not %zu",
				   ivlen);
		goto out;
	}
	if (s->base64) {
		r = b64_take(s->data, s->len, &ct, &ctlen, err);
		if (r < 0)
			goto out;
	} else {
		ct = s->data;
		ctlen = s->len;
		s->data = NULL;
		s->len = 0;
	}
	if (ctlen % 16) {
		r = qimg_error_set(err, EINVAL,
				   "Length %zu must be a multiple of block "
				   "size 16",
				   ctlen);
		goto out;
	}
	r = qimg_cipher_decrypt_cbc(QIMG_CIPHER_AES_256, key, keylen, ivb, ct,
				    ctlen, err);
	if (r < 0)
		goto out;
	pad = ctlen ? ct[ctlen - 1] : 0;
	if (pad > ctlen) {
		r = qimg_error_set(err, EINVAL,
				   "Incorrect number of padding bytes (%zu) "
				   "found on decrypted data",
				   pad);
		goto out;
	}
	wipe_free(s->data, s->len);
	s->data = ct;
	s->len = ctlen - pad;
	s->base64 = false; /* the plaintext is the secret as it is */
	ct = NULL;
	ctlen = 0;
out:
	qimg_secret_free(key, keylen);
	free(ivb);
	wipe_free(ct, ctlen);
	return r;
}

int qimg_objects_add(struct qimg_objects *t, const char *def,
		     struct qimg_error *err)
{
	static const char *const secret_props[] = { "qom-type", "data",	 "file",
						    "format",	"keyid", "iv",
						    "loaded",	NULL };
	static const char *const keyring_props[] = {
		"qom-type", "serial", "format", "keyid", "iv", "loaded", NULL
	};
	const char *const *props = secret_props;
	bool keyring;
	int32_t serial = 0;
	struct qimg_opts o = { 0 };
	struct qimg_kv kv = { 0 };
	struct secret s = { 0 };
	const char *type, *id = NULL, *format, *loaded;
	const char *const *k;
	bool b;
	size_t i;
	void *vp;
	int r;

	if (!strcmp(def, "help") || !strcmp(def, "?"))
		return QIMG_OBJECT_HELP_TYPES;
	if (def[0] == '{') {
		/* QEMU's JSON form: checked, then parsed as its text. */
		char *text;

		r = add_plain(t, def, err);
		if (r != QIMG_OBJECT_NOT_OURS)
			return r;
		r = qimg_object_json_text(def, &text, err);
		if (r < 0)
			return r;
		r = qimg_objects_add(t, text, err);
		free(text);
		if (r < 0)
			qimg_object_json_msg(err);
		return r;
	}
	if (qimg_tls_creds_type(def))
		return add_tls(t, def, err);
	if (qimg_authz_type(def))
		return add_authz(t, def, err);
	if (qimg_throttle_group_type(def))
		return add_throttle(t, def, err);
	r = add_plain(t, def, err);
	if (r != QIMG_OBJECT_NOT_OURS)
		return r;
	r = qimg_opts_parse(&o, def, err);
	if (r < 0)
		goto out;
	/* The first element without '=' is the type ("secret" parses as the
	 * flag secret=on); "qom-type=secret" names it explicitly. */
	type = qimg_opts_get_str(&o, "qom-type", NULL);
	if (!type && o.len && !strcmp(o.v[0].value, "on"))
		type = o.v[0].name;
	if (!type) {
		r = qimg_error_set(err, EINVAL,
				   "Parameter 'qom-type' is missing");
		goto out;
	}
	keyring = !strcmp(type, "secret_keyring");
	if (keyring)
		props = keyring_props;
	else if (strcmp(type, "secret")) {
		r = qimg_error_set(err, EINVAL,
				   "Parameter 'qom-type' does not accept value "
				   "'%s'",
				   type);
		goto out;
	}
	if (o.help) {
		r = QIMG_OBJECT_HELP_PROPS;
		goto out;
	}
	/* qimg_opts_parse drops id=: split the text again (",," inside a
	 * value is no separator; the last id given counts). */
	if (qimg_kv_split(def, &kv, err) < 0) {
		r = -EINVAL;
		goto out;
	}
	id = qimg_kv_get(&kv, "id");
	if (!id) {
		r = qimg_error_set(err, EINVAL, "Parameter 'id' is missing");
		goto out;
	}
	s.id = strdup(id);
	if (!s.id) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	/* The members in QEMU's schema order (loaded, format, keyid, iv,
	 * then data and file, or serial), the unknown ones, the id's form;
	 * then the properties are set ("loaded" has no setter in QEMU 7.2)
	 * and the secret is loaded. */
	loaded = qimg_opts_get_str(&o, "loaded", NULL);
	if (loaded && !qimg_kv_bool(loaded, &b)) {
		r = qimg_error_set(err, EINVAL,
				   "Parameter 'loaded' expects 'on' or 'off'");
		goto out;
	}
	format = qimg_opts_get_str(&o, "format", "raw");
	if (strcmp(format, "raw") && strcmp(format, "base64")) {
		r = qimg_error_set(err, EINVAL,
				   "Parameter 'format' does not accept value "
				   "'%s'",
				   format);
		goto out;
	}
	if (keyring) {
		r = get_serial(&o, &serial, err);
		if (r < 0)
			goto out;
	}
	for (i = 0; i < o.len; i++) {
		if (!strcmp(o.v[i].name, type) && i == 0 &&
		    !strcmp(o.v[i].value, "on"))
			continue;
		for (k = props; *k && strcmp(*k, o.v[i].name); k++)
			;
		if (!*k) {
			r = qimg_error_set(err, EINVAL,
					   "Parameter '%s' is unexpected",
					   o.v[i].name);
			goto out;
		}
	}
	if (!qimg_kv_is_identifier(s.id)) {
		r = qimg_kv_bad_identifier(err);
		goto out;
	}
	if (loaded) {
		r = qimg_error_set(err, EINVAL,
				   "Property '%s.loaded' is not writable",
				   type);
		goto out;
	}
	s.base64 = !strcmp(format, "base64");
	if (qimg_opts_has(&o, "data") && qimg_opts_has(&o, "file")) {
		r = qimg_error_set(err, EINVAL,
				   "'file' and 'data' are mutually exclusive");
		goto out;
	}
	if (keyring) {
		r = read_key(serial, &s.data, &s.len, err);
		if (r < 0)
			goto out;
	} else if (qimg_opts_has(&o, "data")) {
		const char *d = qimg_opts_get_str(&o, "data", "");

		s.len = strlen(d);
		s.data = malloc(s.len + 1);
		if (!s.data) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto out;
		}
		memcpy(s.data, d, s.len + 1);
	} else if (qimg_opts_has(&o, "file")) {
		r = read_file(qimg_opts_get_str(&o, "file", ""), &s.data,
			      &s.len, err);
		if (r < 0)
			goto out;
	} else {
		r = qimg_error_set(err, EINVAL,
				   "Either 'file' or 'data' must be provided");
		goto out;
	}
	if (qimg_opts_has(&o, "keyid")) {
		r = decrypt_secret(t, &s, qimg_opts_get_str(&o, "keyid", ""),
				   qimg_opts_get_str(&o, "iv", NULL), err);
		if (r < 0)
			goto out;
	} else if (s.base64) {
		r = b64_check(s.data, s.len, err);
		if (r < 0)
			goto out;
	}
	if (taken(t, s.id)) {
		r = duplicate(s.id, err);
		goto out;
	}
	vp = t->v;
	if (qimg_vector_grow(&vp, &t->cap, t->len, 1, sizeof(*t->v)) < 0) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	t->v = vp;
	t->v[t->len++] = s;
	memset(&s, 0, sizeof(s));
	r = 0;
out:
	free(s.id);
	wipe_free(s.data, s.len);
	qimg_opts_free(&o);
	qimg_kv_free(&kv);
	return r;
}

/* QEMU's two steps: at --object time the text may hold only the base64
 * alphabet, '=' and newlines (no NUL); on use it decodes as glib does:
 * characters outside the alphabet skipped, '=' counted as a zero digit
 * that drops its byte, a last incomplete quartet dropped. */
static int b64_check(const uint8_t *in, size_t n, struct qimg_error *err)
{
	size_t i;

	if (memchr(in, 0, n))
		return qimg_error_set(err, EINVAL,
				      "Base64 data contains embedded NUL "
				      "characters");
	for (i = 0; i < n; i++)
		if (in[i] != '=' && in[i] != '\n' &&
		    qimg_base64_digit(in[i]) < 0)
			return qimg_error_set(err, EINVAL,
					      "Base64 data contains invalid "
					      "characters");
	return 0;
}

int qimg_secret_get(const struct qimg_objects *t, const char *id,
		    uint8_t **data, size_t *len, struct qimg_error *err)
{
	const struct secret *s = find(t, id);

	*data = NULL;
	*len = 0;
	if (!s)
		return qimg_error_set(err, ENOENT, "No secret with id '%s'",
				      id);
	if (!s->base64) {
		*data = malloc(s->len + 1);
		if (!*data)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		memcpy(*data, s->data, s->len);
		*len = s->len;
		return 0;
	}
	*data = malloc(s->len / 4 * 3 + 1);
	if (!*data)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	*len = qimg_base64_decode(s->data, s->len, *data);
	return 0;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past
 * U+10FFFF, and no NUL byte. */
static bool valid_utf8(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = p[i];
		uint32_t cp;
		size_t n;

		if (c == 0)
			return false; /* as glib's validation with a length */
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

int qimg_secret_get_utf8(const struct qimg_objects *t, const char *id,
			 uint8_t **data, size_t *len, struct qimg_error *err)
{
	int r = qimg_secret_get(t, id, data, len, err);

	if (r < 0 || valid_utf8(*data, *len))
		return r;
	qimg_secret_free(*data, *len);
	*data = NULL;
	*len = 0;
	return qimg_error_set(err, EINVAL,
			      "Data from secret %s is not valid UTF-8", id);
}

void qimg_secret_free(uint8_t *data, size_t len)
{
	wipe_free(data, len);
}

bool qimg_secret_keyring_type(const char *def)
{
	static const char name[] = "secret_keyring";
	struct qimg_kv kv = { 0 };
	const char *t = NULL;
	bool r;

	/* The type is the last qom-type given (the leading name is one). */
	if (qimg_kv_split(def, &kv, NULL) == 0)
		t = qimg_kv_get(&kv, "qom-type");
	r = t ? !strcmp(t, name)
	      : /* unsplittable ("TYPE,help"): the leading name */
		    !strncmp(def, name, sizeof(name) - 1) &&
			    (def[sizeof(name) - 1] == ',' ||
			     !def[sizeof(name) - 1]);
	qimg_kv_free(&kv);
	return r;
}
