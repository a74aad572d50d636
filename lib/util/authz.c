/* SPDX-License-Identifier: MIT */
/* authz.h: authorization objects parsed, checked and asked. */

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util/authz.h"
#include "util/keyval.h"

const char *qimg_authz_type(const char *def)
{
	static const char *const types[] = { "authz-simple", "authz-list",
					     "authz-listfile", "authz-pam" };
	struct qimg_kv kv = { 0 };
	const char *t = NULL;
	size_t i;

	/* The type is the last qom-type given (the leading name is one). */
	if (qimg_kv_split(def, &kv, NULL) == 0)
		t = qimg_kv_get(&kv, "qom-type");
	for (i = 0; i < 4; i++)
		if (t ? !strcmp(t, types[i])
		      : /* unsplittable ("TYPE,help"): the leading name */
			    !strncmp(def, types[i], strlen(types[i])) &&
				    (def[strlen(types[i])] == ',' ||
				     !def[strlen(types[i])])) {
			qimg_kv_free(&kv);
			return types[i];
		}
	qimg_kv_free(&kv);
	return NULL;
}

void qimg_authz_free(struct qimg_authz *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->nrules; i++)
		free(a->rules[i].match);
	free(a->rules);
	free(a->identity);
	free(a->id);
	free(a);
}

static int oom(struct qimg_error *err)
{
	return qimg_error_set(err, ENOMEM, "Out of memory");
}

static int bad_value(const char *name, const char *v, struct qimg_error *err)
{
	return qimg_error_set(err, EINVAL,
			      "Parameter '%s' does not accept value '%s'", name,
			      v);
}

static int policy(const char *v, bool *allow, struct qimg_error *err)
{
	if (!strcmp(v, "allow") || !strcmp(v, "deny")) {
		*allow = !strcmp(v, "allow");
		return 0;
	}
	return bad_value("policy", v, err);
}

/* For a key "rules.N[.FIELD]": N in *idx and FIELD in *field (NULL when
 * the key ends at N); -1 when N is not a number. */
static int rule_key(const char *k, unsigned long *idx, const char **field)
{
	const char *p = k + 6;
	char *end;

	if (*p < '0' || *p > '9')
		return -1;
	*idx = strtoul(p, &end, 10);
	if (*end && *end != '.')
		return -1;
	*field = *end ? end + 1 : NULL;
	return 0;
}

/* Rule i's keys, checked as QEMU visits them: match, policy, format, then
 * anything else. */
static int parse_rule(const struct qimg_kv *kv, unsigned long i,
		      struct qimg_authz_rule *r, struct qimg_error *err)
{
	const char *v[3] = { NULL, NULL, NULL };
	static const char *const fields[] = { "match", "policy", "format" };
	const char *field;
	unsigned long idx;
	size_t k, f;
	int rc;

	for (k = 0; k < kv->n; k++) {
		if (strncmp(kv->k[k], "rules.", 6) ||
		    rule_key(kv->k[k], &idx, &field) < 0 || idx != i || !field)
			continue;
		for (f = 0; f < 3; f++)
			if (!strcmp(field, fields[f]))
				v[f] = kv->v[k];
	}
	for (f = 0; f < 2; f++)
		if (!v[f])
			return qimg_error_set(err, EINVAL,
					      "Parameter 'rules.%lu.%s' is "
					      "missing",
					      i, fields[f]);
	rc = policy(v[1], &r->allow, err);
	if (rc < 0)
		return rc;
	if (v[2] && strcmp(v[2], "exact") && strcmp(v[2], "glob"))
		return bad_value("format", v[2], err);
	r->glob = v[2] && !strcmp(v[2], "glob");
	for (k = 0; k < kv->n; k++) {
		if (strncmp(kv->k[k], "rules.", 6) ||
		    rule_key(kv->k[k], &idx, &field) < 0 || idx != i || !field)
			continue;
		for (f = 0; f < 3 && strcmp(field, fields[f]); f++)
			;
		if (f == 3)
			return qimg_error_set(err, EINVAL,
					      "Parameter '%s' is unexpected",
					      kv->k[k]);
	}
	r->match = strdup(v[0]);
	return r->match ? 0 : oom(err);
}

/* authz-list's rules: an array rules.0, rules.1, ... with no gap. */
static int parse_rules(const struct qimg_kv *kv, struct qimg_authz *a,
		       struct qimg_error *err)
{
	unsigned long n = 0, i, idx, gap;
	const char *field;
	size_t k;
	int r;

	for (k = 0; k < kv->n; k++) {
		if (!strcmp(kv->k[k], "rules") ||
		    (!strncmp(kv->k[k], "rules.", 6) &&
		     rule_key(kv->k[k], &idx, &field) < 0))
			return qimg_error_set(err, EINVAL,
					      "Invalid parameter type for "
					      "'rules', expected: array");
		if (strncmp(kv->k[k], "rules.", 6))
			continue;
		if (!field)
			return qimg_error_set(err, EINVAL,
					      "Invalid parameter type for "
					      "'rules.%lu', expected: object",
					      idx);
		if (idx >= n)
			n = idx == ULONG_MAX ? idx : idx + 1;
	}
	/* Rules are visited in order up to the first index nothing names
	 * (fewer than there are keys, so n may be huge only past it). */
	for (gap = 0; gap < n; gap++) {
		bool seen = false;

		for (k = 0; k < kv->n && !seen; k++)
			seen = !strncmp(kv->k[k], "rules.", 6) &&
			       rule_key(kv->k[k], &idx, &field) == 0 &&
			       idx == gap;
		if (!seen)
			break;
	}
	if (gap) {
		a->rules = calloc(gap, sizeof(*a->rules));
		if (!a->rules)
			return oom(err);
	}
	for (i = 0; i < gap; i++) {
		r = parse_rule(kv, i, &a->rules[i], err);
		a->nrules = i + 1;
		if (r < 0)
			return r;
	}
	if (gap < n)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'rules.%lu' missing", gap);
	return 0;
}

static int check_unexpected(const struct qimg_kv *kv, bool list,
			    struct qimg_error *err)
{
	size_t k;

	for (k = 0; k < kv->n; k++) {
		const char *n = kv->k[k];

		if (!strcmp(n, "qom-type") || !strcmp(n, "id"))
			continue;
		if (list ? !strcmp(n, "policy") || !strcmp(n, "rules") ||
				    !strncmp(n, "rules.", 6)
			 : !strcmp(n, "identity"))
			continue;
		return qimg_error_set(err, EINVAL,
				      "Parameter '%s' is unexpected", n);
	}
	return 0;
}

/* authz-listfile and authz-pam: qemu-img 7.2 (Debian's) knows their
 * properties and checks them, then has no such object type. */
static int unavailable(const char *def, const char *type,
		       struct qimg_error *err)
{
	bool pam = !strcmp(type, "authz-pam"), b;
	const char *need = pam ? "service" : "filename", *v;
	struct qimg_kv kv = { 0 };
	size_t k;
	int r;

	r = qimg_kv_split(def, &kv, err);
	if (r == 0 && !qimg_kv_get(&kv, "id"))
		r = qimg_error_set(err, EINVAL, "Parameter 'id' is missing");
	if (r == 0 && !qimg_kv_get(&kv, need))
		r = qimg_error_set(err, EINVAL, "Parameter '%s' is missing",
				   need);
	if (r == 0 && !pam && (v = qimg_kv_get(&kv, "refresh")) &&
	    !qimg_kv_bool(v, &b))
		r = qimg_error_set(err, EINVAL,
				   "Parameter 'refresh' expects 'on' or 'off'");
	for (k = 0; r == 0 && k < kv.n; k++)
		if (strcmp(kv.k[k], "qom-type") && strcmp(kv.k[k], "id") &&
		    strcmp(kv.k[k], need) &&
		    (pam || strcmp(kv.k[k], "refresh")))
			r = qimg_error_set(err, EINVAL,
					   "Parameter '%s' is unexpected",
					   kv.k[k]);
	if (r == 0)
		r = qimg_error_set(err, ENOTSUP, "invalid object type: %s",
				   type);
	qimg_kv_free(&kv);
	return r;
}

int qimg_authz_parse(const char *def, struct qimg_authz **out,
		     struct qimg_error *err)
{
	const char *type = qimg_authz_type(def), *v;
	struct qimg_kv kv = { 0 };
	struct qimg_authz *a;
	bool list;
	int r;

	*out = NULL;
	if (!type)
		return qimg_error_set(err, EINVAL, "Not an authz object");
	if (!strcmp(type, "authz-listfile") || !strcmp(type, "authz-pam"))
		return unavailable(def, type, err);
	list = !strcmp(type, "authz-list");
	a = calloc(1, sizeof(*a));
	if (!a)
		return oom(err);
	r = qimg_kv_split(def, &kv, err);
	if (r == 0 && !qimg_kv_get(&kv, "id"))
		r = qimg_error_set(err, EINVAL, "Parameter 'id' is missing");
	if (r == 0 && !list) {
		v = qimg_kv_get(&kv, "identity");
		if (!v)
			r = qimg_error_set(err, EINVAL,
					   "Parameter 'identity' is missing");
		else if (!(a->identity = strdup(v)))
			r = oom(err);
	}
	if (r == 0 && list && (v = qimg_kv_get(&kv, "policy")))
		r = policy(v, &a->allow, err);
	if (r == 0 && list)
		r = parse_rules(&kv, a, err);
	if (r == 0)
		r = check_unexpected(&kv, list, err);
	if (r == 0 && !(a->id = strdup(qimg_kv_get(&kv, "id"))))
		r = oom(err);
	qimg_kv_free(&kv);
	if (r < 0) {
		qimg_authz_free(a);
		return r;
	}
	*out = a;
	return 0;
}

bool qimg_authz_allows(const struct qimg_authz *a, const char *identity)
{
	size_t i;

	if (a->identity)
		return !strcmp(a->identity, identity);
	for (i = 0; i < a->nrules; i++) {
		const struct qimg_authz_rule *r = &a->rules[i];

		if (r->glob ? fnmatch(r->match, identity, 0) == 0
			    : !strcmp(r->match, identity))
			return r->allow;
	}
	return a->allow;
}
