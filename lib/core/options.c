/* SPDX-License-Identifier: MIT */
/* Options trees for opening nodes: --image-opts text and json:{...} into a
 * dict, dotted keys ("file.filename") into nested dicts, and a node's own
 * keys checked against what its driver accepts and handed to it as a flat,
 * typed list. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "core/options.h"
#include "util/keyval.h"

/* Put sub's members into dict as flat keys "prefix.member" (nested ones
 * "prefix.member.sub"), keys already there kept. */
static int spread(struct qimg_value *dict, const char *prefix,
		  const struct qimg_value *sub)
{
	const struct qimg_value *v;
	const char *k;
	char *name;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < qimg_value_count(sub); i++) {
		v = qimg_value_at(sub, i, &k);
		if (asprintf(&name, "%s.%s", prefix, k) < 0)
			return -ENOMEM;
		if (qimg_value_type(v) == QIMG_VALUE_DICT)
			r = spread(dict, name, v);
		else if (!qimg_dict_get(dict, name))
			r = qimg_dict_put(dict, name, qimg_value_copy(v));
		free(name);
	}
	return r;
}

/* Put `val` at the dotted path `key` below dict, creating dicts on the
 * way.  A key already present keeps its first value (explicit options given
 * before win over later spellings of the same key).  A key that is both a
 * value and a dict ("overlap-check=none,overlap-check.template=all",
 * "file=x,file.filename=y") keeps both, as QEMU's flat options do: the
 * dict's members as flat dotted keys beside the value, for the node to
 * judge. */
static int put_path(struct qimg_value *dict, const char *key,
		    struct qimg_value *val)
{
	const char *dot = strchr(key, '.');
	struct qimg_value *sub;
	char *head;
	int r;

	if (!dot || dot == key || !dot[1]) {
		sub = qimg_dict_get(dict, key);
		if (sub && qimg_value_type(sub) == QIMG_VALUE_DICT &&
		    qimg_value_type(val) != QIMG_VALUE_DICT) {
			sub = qimg_dict_take(dict, key);
			r = spread(dict, key, sub);
			qimg_value_free(sub);
			if (r < 0) {
				qimg_value_free(val);
				return r;
			}
			return qimg_dict_put(dict, key, val);
		}
		if (sub) {
			qimg_value_free(val);
			return 0;
		}
		return qimg_dict_put(dict, key, val);
	}
	head = strndup(key, (size_t)(dot - key));
	if (!head) {
		qimg_value_free(val);
		return -ENOMEM;
	}
	sub = qimg_dict_get(dict, head);
	if (!sub) {
		r = qimg_dict_put(dict, head, qimg_value_dict());
		sub = qimg_dict_get(dict, head);
		if (r < 0 || !sub) {
			free(head);
			qimg_value_free(val);
			return -ENOMEM;
		}
	}
	free(head);
	if (qimg_value_type(sub) != QIMG_VALUE_DICT) {
		/* "file": "x", then "file.filename": "y": both stay. */
		if (qimg_dict_get(dict, key)) {
			qimg_value_free(val);
			return 0;
		}
		return qimg_dict_put(dict, key, val);
	}
	return put_path(sub, dot + 1, val);
}

int qimg_options_normalize(struct qimg_value *dict)
{
	struct qimg_value *out, *v;
	const char *key;
	size_t i, n;
	int r;

	if (!dict || qimg_value_type(dict) != QIMG_VALUE_DICT)
		return 0;
	/* Rebuild in place: take every member out, put it back by path. */
	out = qimg_value_dict();
	if (!out)
		return -ENOMEM;
	n = qimg_value_count(dict);
	for (i = 0; i < n; i++) {
		v = qimg_value_at(dict, i, &key);
		r = put_path(out, key, qimg_value_copy(v));
		if (r < 0) {
			qimg_value_free(out);
			return r;
		}
	}
	while (qimg_value_count(dict)) {
		qimg_value_at(dict, 0, &key);
		qimg_value_free(qimg_dict_take(dict, key));
	}
	n = qimg_value_count(out);
	for (i = 0; i < n; i++) {
		v = qimg_value_at(out, i, &key);
		r = qimg_options_normalize(v);
		if (r == 0)
			r = qimg_dict_put(dict, key, qimg_value_copy(v));
		if (r < 0) {
			qimg_value_free(out);
			return r;
		}
	}
	qimg_value_free(out);
	return 0;
}

int qimg_options_parse(const char *text, struct qimg_value **out,
		       struct qimg_error *err)
{
	struct qimg_opts o = { 0 };
	struct qimg_value *d;
	const char *comma = strchr(text, ',');
	size_t n = comma ? (size_t)(comma - text) : strlen(text);
	size_t i;
	int r;

	*out = NULL;
	/* A leading bare word names a node (file=WORD); qimg has no named
	 * nodes, so it is refused as qemu-img refuses an unknown one. */
	if (n && !memchr(text, '=', n))
		return qimg_error_set(err, ENOENT,
				      "Cannot find device='%.*s' nor "
				      "node-name='%.*s'",
				      (int)n, text, (int)n, text);
	r = qimg_opts_parse(&o, text, err);
	if (r < 0) {
		qimg_opts_free(&o);
		return r;
	}
	d = qimg_value_dict();
	if (!d) {
		qimg_opts_free(&o);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	for (i = 0; i < o.len; i++) {
		r = put_path(d, o.v[i].name, qimg_value_str(o.v[i].value));
		if (r < 0) {
			qimg_opts_free(&o);
			qimg_value_free(d);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
	}
	qimg_opts_free(&o);
	*out = d;
	return 0;
}

int qimg_options_from_json(const char *text, struct qimg_value **out,
			   struct qimg_error *err)
{
	char msg[256];
	struct qimg_value *v = qimg_json_parse(text, msg, sizeof(msg));

	*out = NULL;
	if (!v)
		return qimg_error_set(err, EINVAL,
				      "Could not parse the JSON options: %s",
				      msg);
	if (qimg_value_type(v) != QIMG_VALUE_DICT) {
		qimg_value_free(v);
		return qimg_error_set(err, EINVAL, "Invalid JSON object given");
	}
	if (qimg_options_normalize(v) < 0) {
		qimg_value_free(v);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	*out = v;
	return 0;
}

/* The text of a scalar as an option value, in qemu's spelling. */
static char *scalar_text(const struct qimg_value *v)
{
	char buf[32];

	switch (qimg_value_type(v)) {
	case QIMG_VALUE_STR:
		return strdup(qimg_value_get_str(v));
	case QIMG_VALUE_INT:
		snprintf(buf, sizeof(buf), "%" PRId64, qimg_value_get_int(v));
		return strdup(buf);
	case QIMG_VALUE_UINT:
		snprintf(buf, sizeof(buf), "%" PRIu64,
			 (uint64_t)qimg_value_get_int(v));
		return strdup(buf);
	case QIMG_VALUE_BOOL:
		return strdup(qimg_value_get_bool(v) ? "on" : "off");
	case QIMG_VALUE_DOUBLE:
		return strdup(qimg_value_get_double_text(v));
	default:
		return NULL;
	}
}

/* key is role, or a flat "role.X" beside a reference (put_path) */
static bool is_role(const char *key, const char *role)
{
	size_t n = strlen(role);

	return !strncmp(key, role, n) && (!key[n] || key[n] == '.');
}

bool qimg_options_is_child(const struct qimg_driver *drv, const char *key)
{
	const char *const *r;
	size_t n;

	if (drv->kind == QIMG_DRIVER_FORMAT && is_role(key, "file"))
		return true;
	if (drv->supports_backing && is_role(key, "backing"))
		return true;
	for (r = drv->child_roles; r && *r; r++) {
		n = strlen(*r);
		if (n && (*r)[n - 1] == '.' ? !strncmp(key, *r, n - 1)
					    : is_role(key, *r))
			return true;
	}
	return false;
}

/* Append the scalars below v as "prefix.key" pairs. */
int qimg_options_flatten(struct qimg_opts *o, const char *prefix,
			 const struct qimg_value *v)
{
	enum qimg_value_type t = qimg_value_type(v);
	char *name, *text;
	const char *key;
	size_t i;
	int r;

	if (t == QIMG_VALUE_NULL)
		return 0;
	if (t != QIMG_VALUE_DICT && t != QIMG_VALUE_LIST) {
		text = scalar_text(v);
		if (!text)
			return -ENOMEM;
		r = qimg_opts_set(o, prefix, text);
		free(text);
		return r;
	}
	for (i = 0; i < qimg_value_count(v); i++) {
		struct qimg_value *m = qimg_value_at(v, i, &key);
		char idx[24];

		if (!key) {
			snprintf(idx, sizeof(idx), "%zu", i);
			key = idx;
		}
		if (asprintf(&name, "%s.%s", prefix, key) < 0)
			return -ENOMEM;
		r = qimg_options_flatten(o, name, m);
		free(name);
		if (r < 0)
			return r;
	}
	return 0;
}

int qimg_options_own(const struct qimg_driver *drv,
		     const struct qimg_value *dict, struct qimg_opts *o)
{
	const char *key;
	size_t i;
	int r;

	for (i = 0; i < qimg_value_count(dict); i++) {
		struct qimg_value *v = qimg_value_at(dict, i, &key);

		if (qimg_options_is_child(drv, key))
			continue;
		r = qimg_options_flatten(o, key, v);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Options every node takes; the core acts on them. */
static const struct qimg_opt_desc common_opts[] = {
	{ "driver", QIMG_OPT_STRING, NULL, NULL },
	{ "node-name", QIMG_OPT_STRING, NULL, NULL },
	{ "read-only", QIMG_OPT_BOOL, NULL, NULL },
	{ "auto-read-only", QIMG_OPT_BOOL, NULL, NULL },
	{ "force-share", QIMG_OPT_BOOL, NULL, NULL },
	{ "cache.direct", QIMG_OPT_BOOL, NULL, NULL },
	{ "cache.no-flush", QIMG_OPT_BOOL, NULL, NULL },
	{ "discard", QIMG_OPT_STRING, NULL, NULL },
	{ "detect-zeroes", QIMG_OPT_STRING, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static bool in_schema(const struct qimg_opt_desc *d, const char *name)
{
	for (; d && d->name; d++) {
		size_t n = strlen(d->name);

		if (!strcmp(d->name, name))
			return true;
		if (n >= 2 && !strcmp(d->name + n - 2, ".*") &&
		    !strncmp(name, d->name, n - 1) && name[n - 1])
			return true;
	}
	return false;
}

const char *qimg_options_unknown(const struct qimg_driver *drv,
				 const struct qimg_opts *o)
{
	size_t i;

	for (i = 0; i < o->len; i++)
		if (!in_schema(common_opts, o->v[i].name) &&
		    !in_schema(drv->runtime_opts, o->v[i].name))
			return o->v[i].name;
	return NULL;
}

int qimg_options_unknown_error(const struct qimg_driver *drv, const char *name,
			       struct qimg_error *err)
{
	if (drv->typed_opts)
		return qimg_error_set(err, EINVAL,
				      "Parameter '%s' is unexpected", name);
	if (drv->kind == QIMG_DRIVER_FORMAT)
		return qimg_error_set(err, EINVAL,
				      "Block format '%s' does not support the "
				      "option '%s'",
				      drv->name, name);
	return qimg_error_set(err, EINVAL,
			      "Block protocol '%s' doesn't support the "
			      "option '%s'",
			      drv->name, name);
}

int qimg_options_check_node(const struct qimg_driver *drv,
			    const struct qimg_value *options,
			    const struct qimg_opts *o, struct qimg_error *err)
{
	static const struct qimg_opt_desc *const schemas[] = { common_opts,
							       NULL };
	const struct qimg_value *fn = qimg_dict_get(options, "filename");
	const char *discard, *dz, *name;
	struct qimg_opts c = { 0 };
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < o->len; i++)
		if (in_schema(common_opts, o->v[i].name))
			r = qimg_opts_set(&c, o->v[i].name, o->v[i].value);
	if (r < 0) {
		qimg_opts_free(&c);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = qimg_opts_validate(&c, schemas, err);
	qimg_opts_free(&c);
	if (r < 0)
		return r;
	if (drv->needs_filename &&
	    (!fn || qimg_value_type(fn) != QIMG_VALUE_STR ||
	     !*qimg_value_get_str(fn)))
		return qimg_error_set(err, EINVAL,
				      "The '%s' block driver requires a file "
				      "name",
				      drv->name);
	discard = qimg_opts_get_str(o, "discard", "ignore");
	if (strcmp(discard, "off") && strcmp(discard, "ignore") &&
	    strcmp(discard, "on") && strcmp(discard, "unmap"))
		return qimg_error_set(err, EINVAL, "Invalid discard option");
	dz = qimg_opts_get_str(o, "detect-zeroes", "off");
	if (strcmp(dz, "off") && strcmp(dz, "on") && strcmp(dz, "unmap"))
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", dz);
	if (!strcmp(dz, "unmap") && strcmp(discard, "on") &&
	    strcmp(discard, "unmap"))
		return qimg_error_set(err, EINVAL,
				      "setting detect-zeroes to unmap is not "
				      "allowed without setting discard "
				      "operation to unmap");
	name = qimg_opts_get_str(o, "node-name", NULL);
	/* (QEMU's rule for ids and node names alike) */
	if (name && !qimg_kv_is_identifier(name))
		return qimg_error_set(err, EINVAL, "Invalid node-name: '%s'",
				      name);
	return 0;
}

int qimg_options_check(const struct qimg_driver *drv, struct qimg_opts *o,
		       struct qimg_error *err)
{
	const struct qimg_opt_desc *schemas[3] = { common_opts,
						   drv->runtime_opts, NULL };
	const char *name = qimg_options_unknown(drv, o);

	if (name)
		return qimg_options_unknown_error(drv, name, err);
	return qimg_opts_validate(o, schemas, err);
}

struct qimg_value *qimg_options_get_path(const struct qimg_value *dict,
					 const char *path)
{
	struct qimg_value *v = qimg_dict_get(dict, path);
	const char *dot = strchr(path, '.');
	char *head;

	if (v || !dot)
		return v;
	/* Nested: "a.b" is b in the dict a. */
	head = strndup(path, (size_t)(dot - path));
	if (!head)
		return NULL;
	v = qimg_dict_get(dict, head);
	free(head);
	if (!v || qimg_value_type(v) != QIMG_VALUE_DICT)
		return NULL;
	return qimg_options_get_path(v, dot + 1);
}

bool qimg_options_strong(const struct qimg_driver *drv,
			 const struct qimg_value *dict)
{
	const char *const *s;

	for (s = drv->strong_opts; s && *s; s++)
		if (qimg_options_get_path(dict, *s))
			return true;
	return false;
}
