/* SPDX-License-Identifier: MIT */
/* rbd's legacy file names, split into the driver's options as qemu-img
 * splits them (observed):
 *
 *   rbd:POOL/[NAMESPACE/]IMAGE[@SNAPSHOT][:KEY=VALUE[:KEY=VALUE...]]
 *
 * A backslash makes the character after it plain (`\:` in a value, `\@`
 * in an image name) and goes.  The image part ends at the first plain
 * ':'; in it the first plain '@' starts the snapshot and a plain '/' ends
 * the namespace.  KEY "conf" is the configuration file, "id" the user;
 * any other pair is a Ceph setting, kept in order under "=keyvalue-pairs"
 * (a list KEY, VALUE, ...), an option no json:{...} name shows. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/rbd.h"

/* The length of the token at s up to (not including) the first plain
 * `delim`, or to the end; *found tells whether delim ended it. */
static size_t token(const char *s, char delim, bool *found)
{
	size_t i = 0;

	*found = false;
	while (s[i]) {
		if (s[i] == '\\' && s[i + 1]) {
			i += 2;
			continue;
		}
		if (s[i] == delim) {
			*found = true;
			break;
		}
		i++;
	}
	return i;
}

/* s[0..n) with its escapes undone (malloc'd). */
static char *unescape(const char *s, size_t n)
{
	char *r = malloc(n + 1), *p = r;
	size_t i;

	if (!r)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n)
			i++;
		*p++ = s[i];
	}
	*p = '\0';
	return r;
}

static int put(struct qimg_value *o, const char *key, const char *s, size_t n)
{
	char *v = unescape(s, n);
	int r = v ? qimg_dict_put_str(o, key, v) : -ENOMEM;

	free(v);
	return r;
}

static int append(struct qimg_value *l, const char *s, size_t n, bool plain)
{
	char *v = plain ? strndup(s, n) : unescape(s, n);
	struct qimg_value *sv = v ? qimg_value_str(v) : NULL;

	free(v);
	if (!sv || qimg_list_append(l, sv) < 0) {
		qimg_value_free(sv);
		return -ENOMEM;
	}
	return 0;
}

/* The KEY=VALUE pairs after the image part. */
static int parse_pairs(const char *p, struct qimg_value *o,
		       struct qimg_error *err)
{
	struct qimg_value *pairs = NULL;
	bool found;
	int r = 0;

	while (r == 0) {
		size_t kn = token(p, '=', &found), vn;
		const char *v;

		if (!found) {
			r = qimg_error_set(err, EINVAL,
					   "conf option %.*s has no value",
					   (int)kn, p);
			break;
		}
		v = p + kn + 1;
		vn = token(v, ':', &found);
		if (kn == 4 && !strncmp(p, "conf", 4)) {
			r = put(o, "conf", v, vn);
		} else if (kn == 2 && !strncmp(p, "id", 2)) {
			r = put(o, "user", v, vn);
		} else {
			if (!pairs) {
				pairs = qimg_value_list();
				if (!pairs) {
					r = -ENOMEM;
					break;
				}
			}
			r = append(pairs, p, kn, true);
			if (r == 0)
				r = append(pairs, v, vn, false);
		}
		if (r < 0 || !found)
			break;
		p = v + vn + 1;
	}
	if (r == 0 && pairs) {
		r = qimg_dict_put(o, QIMG_RBD_PAIRS, pairs);
		pairs = NULL;
	}
	qimg_value_free(pairs);
	if (r == -ENOMEM && !qimg_error_isset(err))
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return r;
}

int qimg_rbd_parse_filename(const char *name, struct qimg_value *o,
			    struct qimg_error *err)
{
	const char *p = name, *img, *at;
	size_t n, in, an;
	bool found;
	int r;

	if (strncmp(p, "rbd:", 4))
		return qimg_error_set(err, EINVAL,
				      "File name must start with 'rbd:'");
	p += 4;
	n = token(p, '/', &found);
	if (!found)
		return qimg_error_set(err, EINVAL, "Pool name is required");
	r = put(o, "pool", p, n);
	p += n + 1;
	/* the image part: [NAMESPACE/]IMAGE[@SNAPSHOT] */
	in = token(p, ':', &found);
	img = p;
	an = token(img, '@', &found);
	if (an > in)
		an = in;
	at = an < in ? img + an : NULL;
	if (r == 0 && at)
		r = put(o, "snapshot", at + 1, in - an - 1);
	if (r == 0) {
		size_t nn = token(img, '/', &found);

		if (nn < an) {
			r = put(o, "namespace", img, nn);
			if (r == 0)
				r = put(o, "image", img + nn + 1, an - nn - 1);
		} else {
			r = qimg_dict_put_str(o, "namespace", "");
			if (r == 0)
				r = put(o, "image", img, an);
		}
	}
	if (r < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (!img[in])
		return 0;
	return parse_pairs(img + in + 1, o, err);
}
