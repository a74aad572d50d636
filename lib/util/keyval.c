/* SPDX-License-Identifier: MIT */
/* keyval.h: --object definitions split into keys and values. */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/keyval.h"

const char *qimg_kv_get(const struct qimg_kv *kv, const char *k)
{
	size_t i;

	for (i = kv->n; i-- > 0;)
		if (!strcmp(kv->k[i], k))
			return kv->v[i];
	return NULL;
}

bool qimg_kv_is_identifier(const char *s)
{
	if (!isalpha((unsigned char)*s))
		return false;
	for (s++; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-._", *s))
			return false;
	return true;
}

int qimg_kv_bad_identifier(struct qimg_error *err)
{
	return qimg_error_set(err, EINVAL,
			      "Parameter 'id' expects an identifier\n"
			      "Identifiers consist of letters, digits, "
			      "'-', '.', '_', starting with a letter.");
}

bool qimg_kv_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") ||
	    !strcmp(v, "y")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") ||
	    !strcmp(v, "n")) {
		*out = false;
		return true;
	}
	return false;
}

int qimg_kv_split(const char *def, struct qimg_kv *kv, struct qimg_error *err)
{
	size_t max = 2;
	const char *s;
	char *o;

	for (s = def; *s; s++)
		max += *s == ',';
	kv->n = 0;
	kv->buf = malloc(strlen(def) + 2);
	kv->k = calloc(max, sizeof(*kv->k));
	kv->v = calloc(max, sizeof(*kv->v));
	if (!kv->buf || !kv->k || !kv->v)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	s = def;
	o = kv->buf;
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
		if (!val && kv->n == 0 && key == kv->buf) {
			/* the implied first key */
			kv->k[kv->n] = (char *)"qom-type";
			kv->v[kv->n++] = key;
			continue;
		}
		if (!val)
			return qimg_error_set(err, EINVAL,
					      "Expected '=' after parameter "
					      "'%s'",
					      key);
		kv->k[kv->n] = key;
		kv->v[kv->n++] = val;
	}
	return 0;
}

void qimg_kv_free(struct qimg_kv *kv)
{
	free(kv->buf);
	free(kv->k);
	free(kv->v);
	memset(kv, 0, sizeof(*kv));
}

bool qimg_kv_asks_help(const char *def)
{
	const char *p = def;

	for (;;) {
		size_t n = strcspn(p, ",");

		if ((n == 4 && !strncmp(p, "help", 4)) || (n == 1 && *p == '?'))
			return true;
		if (!p[n])
			return false;
		p += n + 1;
	}
}
