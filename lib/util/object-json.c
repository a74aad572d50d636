/* SPDX-License-Identifier: MIT */
/* object-json.h: JSON --object definitions as key=value text. */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qimg/value.h"
#include "util/object-json.h"

/* What a property takes: 's' a string, 'b' a boolean, 'r' authz-list's
 * rules (a list of objects of strings); anything else is passed on as
 * text, for the parser to refuse as unexpected. */
static char kind_of(const char *type, const char *name)
{
	static const struct {
		const char *type, *name;
		char kind;
	} props[] = {
		{ "", "qom-type", 's' },
		{ "", "id", 's' },
		{ "secret", "data", 's' },
		{ "secret", "file", 's' },
		{ "secret", "format", 's' },
		{ "secret", "keyid", 's' },
		{ "secret", "iv", 's' },
		{ "secret", "loaded", 'b' },
		{ "secret_keyring", "serial", 'i' },
		{ "tls-creds-", "dir", 's' },
		{ "tls-creds-", "endpoint", 's' },
		{ "tls-creds-", "verify-peer", 'b' },
		{ "tls-creds-", "priority", 's' },
		{ "tls-creds-", "loaded", 'b' },
		{ "tls-creds-x509", "sanity-check", 'b' },
		{ "tls-creds-x509", "passwordid", 's' },
		{ "tls-creds-psk", "username", 's' },
		{ "authz-simple", "identity", 's' },
		{ "authz-list", "policy", 's' },
		{ "authz-list", "rules", 'r' },
		{ "throttle-group", "limits", 'l' },
	};
	size_t i;

	/* throttle-group's x-* limits are integers. */
	if (!strcmp(type, "throttle-group") && !strncmp(name, "x-", 2))
		return 'i';
	for (i = 0; i < sizeof(props) / sizeof(props[0]); i++)
		if (!strncmp(type, props[i].type, strlen(props[i].type)) &&
		    !strcmp(name, props[i].name))
			return props[i].kind;
	return '?';
}

struct text {
	char *p;
	size_t len, cap;
};

static int put(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *p = realloc(t->p, cap);

		if (!p)
			return -ENOMEM;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = 0;
	return 0;
}

/* ",key=" then the value with its commas doubled. */
static int put_pair(struct text *t, const char *key, const char *val)
{
	const char *c;
	int r = put(t, t->len ? "," : "", t->len ? 1 : 0);

	if (r == 0)
		r = put(t, key, strlen(key));
	if (r == 0)
		r = put(t, "=", 1);
	for (; r == 0 && (c = strchr(val, ',')); val = c + 1)
		r = put(t, val, (size_t)(c - val) + 1) ?: put(t, ",", 1);
	return r ? r : put(t, val, strlen(val));
}

static int bad_type(const char *path, const char *what, struct qimg_error *err)
{
	return qimg_error_set(err, EINVAL,
			      "Invalid parameter type for '%s', expected: %s",
			      path, what);
}

/* A member the schema does not know (or a rule's): as text, nested ones
 * flattened with dots. */
static int put_any(struct text *t, const char *key, const struct qimg_value *v)
{
	char k[1024], *s;
	const char *mk;
	size_t i;
	int r = 0;

	switch (qimg_value_type(v)) {
	case QIMG_VALUE_STR:
		return put_pair(t, key, qimg_value_get_str(v));
	case QIMG_VALUE_BOOL:
		return put_pair(t, key, qimg_value_get_bool(v) ? "on" : "off");
	case QIMG_VALUE_DICT:
	case QIMG_VALUE_LIST:
		for (i = 0; r == 0 && i < qimg_value_count(v); i++) {
			const struct qimg_value *m = qimg_value_at(v, i, &mk);

			if (mk)
				snprintf(k, sizeof(k), "%s.%s", key, mk);
			else
				snprintf(k, sizeof(k), "%s.%zu", key, i);
			r = put_any(t, k, m);
		}
		return r;
	default:
		s = qimg_value_to_json_line(v);
		if (!s)
			return -ENOMEM;
		r = put_pair(t, key,
			     qimg_value_type(v) == QIMG_VALUE_NULL ? "" : s);
		free(s);
		return r;
	}
}

/* An integer member (JSON numbers only) as its decimal text. */
static int put_int(struct text *t, const char *key, const struct qimg_value *v,
		   struct qimg_error *err)
{
	char num[32];

	if (qimg_value_type(v) == QIMG_VALUE_INT)
		snprintf(num, sizeof(num), "%lld",
			 (long long)qimg_value_get_int(v));
	else
		return bad_type(key, "integer", err);
	return put_pair(t, key, num);
}

/* throttle-group's limits: an object whose members are integers (those
 * the schema does not know are passed on, to be refused by name). */
static int put_limits(struct text *t, const struct qimg_value *v,
		      struct qimg_error *err)
{
	char k[1024];
	const char *mk;
	size_t i;
	int r = 0;

	if (qimg_value_type(v) != QIMG_VALUE_DICT)
		return bad_type("limits", "object", err);
	for (i = 0; r == 0 && i < qimg_value_count(v); i++) {
		const struct qimg_value *m = qimg_value_at(v, i, &mk);
		enum qimg_value_type ty = qimg_value_type(m);

		snprintf(k, sizeof(k), "limits.%s", mk);
		r = ty == QIMG_VALUE_DICT || ty == QIMG_VALUE_LIST
			    ? put_any(t, k, m)
			    : put_int(t, k, m, err);
	}
	return r;
}

/* authz-list's rules: a list of objects whose known members are
 * strings. */
static int put_rules(struct text *t, const struct qimg_value *v,
		     struct qimg_error *err)
{
	char k[1024], path[1024];
	const char *mk;
	size_t i, j;
	int r = 0;

	if (qimg_value_type(v) != QIMG_VALUE_LIST)
		return bad_type("rules", "array", err);
	for (i = 0; r == 0 && i < qimg_value_count(v); i++) {
		const struct qimg_value *e = qimg_value_at(v, i, NULL);

		if (qimg_value_type(e) != QIMG_VALUE_DICT) {
			snprintf(path, sizeof(path), "rules[%zu]", i);
			return bad_type(path, "object", err);
		}
		for (j = 0; r == 0 && j < qimg_value_count(e); j++) {
			const struct qimg_value *m = qimg_value_at(e, j, &mk);

			snprintf(k, sizeof(k), "rules.%zu.%s", i, mk);
			if ((!strcmp(mk, "match") || !strcmp(mk, "policy") ||
			     !strcmp(mk, "format")) &&
			    qimg_value_type(m) != QIMG_VALUE_STR) {
				snprintf(path, sizeof(path), "rules[%zu].%s", i,
					 mk);
				return bad_type(path, "string", err);
			}
			r = put_any(t, k, m);
		}
	}
	return r;
}

int qimg_object_json_text(const char *def, char **out, struct qimg_error *err)
{
	struct text t = { 0 };
	struct qimg_value *v;
	const struct qimg_value *qt;
	const char *type = "", *k;
	char msg[256];
	size_t i;
	int r = 0;

	*out = NULL;
	v = qimg_json_parse(def, msg, sizeof(msg));
	if (!v)
		return qimg_error_set(err, EINVAL, "%s", msg);
	if (qimg_value_type(v) != QIMG_VALUE_DICT) {
		qimg_value_free(v);
		return qimg_error_set(err, EINVAL,
				      "Parameter 'qom-type' does not accept "
				      "value '%s'",
				      def);
	}
	qt = qimg_dict_get(v, "qom-type");
	if (qt && qimg_value_type(qt) == QIMG_VALUE_STR)
		type = qimg_value_get_str(qt);
	/* qom-type first: the text form finds the type there. */
	if (qt && qimg_value_type(qt) != QIMG_VALUE_STR)
		r = bad_type("qom-type", "string", err);
	else if (qt)
		r = put_pair(&t, "qom-type", type);
	for (i = 0; r == 0 && i < qimg_value_count(v); i++) {
		const struct qimg_value *m = qimg_value_at(v, i, &k);

		if (!strcmp(k, "qom-type"))
			continue;
		switch (kind_of(type, k)) {
		case 's':
			r = qimg_value_type(m) == QIMG_VALUE_STR
				    ? put_pair(&t, k, qimg_value_get_str(m))
				    : bad_type(k, "string", err);
			break;
		case 'b':
			r = qimg_value_type(m) == QIMG_VALUE_BOOL
				    ? put_pair(&t, k,
					       qimg_value_get_bool(m) ? "on"
								      : "off")
				    : bad_type(k, "boolean", err);
			break;
		case 'r':
			r = put_rules(&t, m, err);
			break;
		case 'i':
			r = put_int(&t, k, m, err);
			break;
		case 'l':
			r = put_limits(&t, m, err);
			break;
		default:
			r = put_any(&t, k, m);
			break;
		}
	}
	qimg_value_free(v);
	if (r == -ENOMEM)
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	if (r < 0) {
		free(t.p);
		return r;
	}
	if (!t.p && !(t.p = strdup("")))
		return qimg_error_set(err, ENOMEM, "Out of memory");
	*out = t.p;
	return 0;
}

void qimg_object_json_msg(struct qimg_error *err)
{
	char *p = strstr(err->msg, "'rules."), out[sizeof(err->msg)];
	size_t n;

	if (!p || !isdigit((unsigned char)p[7]))
		return;
	n = (size_t)(p - err->msg) + 6;
	memcpy(out, err->msg, n);
	p += 7;
	n += (size_t)snprintf(out + n, sizeof(out) - n, "[%.*s]",
			      (int)strspn(p, "0123456789"), p);
	p += strspn(p, "0123456789");
	snprintf(out + n, sizeof(out) - n, "%s", p);
	snprintf(err->msg, sizeof(err->msg), "%s", out);
}
