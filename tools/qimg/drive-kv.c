/* SPDX-License-Identifier: MIT */
/* Key=value lists in QemuOpts' syntax, as -drive takes them: pieces
 * separated by ',', ",," a comma inside a value, a later key given again
 * wins, and a piece without '=' a short-form boolean. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive-kv.h"

void kvl_free(struct kvl *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->k[i]);
		free(l->v[i]);
	}
	free(l->k);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int kvl_add(struct kvl *l, const char *k, size_t klen, const char *v)
{
	char **nk = realloc(l->k, (size_t)(l->n + 1) * sizeof(*nk)), **nv;

	if (!nk)
		return -ENOMEM;
	l->k = nk;
	nv = realloc(l->v, (size_t)(l->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	l->v = nv;
	l->k[l->n] = strndup(k, klen);
	l->v[l->n] = strdup(v);
	if (!l->k[l->n] || !l->v[l->n]) {
		free(l->k[l->n]);
		free(l->v[l->n]);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

/* The value given last for k, or NULL. */
const char *kvl_get(const struct kvl *l, const char *k)
{
	for (int i = l->n - 1; i >= 0; i--)
		if (!strcmp(l->k[i], k))
			return l->v[i];
	return NULL;
}

/* Drop every k. */
void kvl_del(struct kvl *l, const char *k)
{
	int j = 0;

	for (int i = 0; i < l->n; i++) {
		if (!strcmp(l->k[i], k)) {
			free(l->k[i]);
			free(l->v[i]);
			continue;
		}
		l->k[j] = l->k[i];
		l->v[j] = l->v[i];
		j++;
	}
	l->n = j;
}

/* A copy of the value given last for k, and k dropped; NULL if absent. */
char *kvl_take(struct kvl *l, const char *k)
{
	const char *v = kvl_get(l, k);
	char *s = v ? strdup(v) : NULL;

	kvl_del(l, k);
	return s;
}

/* "a=b,c=d": ",," is a comma in a value; a piece without '=' is a
 * short-form boolean (x: x=on, nox: x=off), which QEMU still takes with
 * a warning. */
int kvl_split(const struct tool *t, const char *where, const char *text,
	      struct kvl *l)
{
	const char *p = text;

	while (*p) {
		const char *k = p;
		char *val, *o;
		size_t klen;
		int r;

		while (*p && *p != ',' && *p != '=')
			p++;
		klen = (size_t)(p - k);
		if (*p == '=') {
			p++;
			val = malloc(strlen(p) + 1);
			if (!val)
				return -ENOMEM;
			for (o = val; *p; p++) {
				if (*p == ',') {
					if (p[1] != ',')
						break;
					p++;
				}
				*o++ = *p;
			}
			*o = '\0';
			r = kvl_add(l, k, klen, val);
			free(val);
		} else {
			bool no = klen > 2 && !strncmp(k, "no", 2);

			if (no) {
				k += 2;
				klen -= 2;
			}
			fprintf(stderr,
				"%s: %s: warning: short-form boolean option "
				"'%.*s' deprecated\nPlease use %.*s=%s "
				"instead\n",
				t->prog, where, (int)klen, k, (int)klen, k,
				no ? "off" : "on");
			r = kvl_add(l, k, klen, no ? "off" : "on");
		}
		if (r < 0)
			return r;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* Block options back into QemuOpts text (commas doubled). */
char *join_opts(const struct kvl *l)
{
	size_t len = 1;
	char *s, *o;

	for (int i = 0; i < l->n; i++)
		len += strlen(l->k[i]) + 2 * strlen(l->v[i]) + 2;
	s = o = malloc(len);
	if (!s)
		return NULL;
	for (int i = 0; i < l->n; i++) {
		if (i)
			*o++ = ',';
		o = stpcpy(o, l->k[i]);
		*o++ = '=';
		for (const char *p = l->v[i]; *p; p++) {
			if (*p == ',')
				*o++ = ',';
			*o++ = *p;
		}
	}
	*o = '\0';
	return s;
}
