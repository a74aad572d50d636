/* SPDX-License-Identifier: MIT */
/* Option strings ("a=b,,c,flag,noflag,help") parsed with qemu-img's grammar,
 * typed validation against driver schemas with qemu-img's error texts, and
 * the `-o help` listing (reference §1.8 and §3). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "qimg/opts.h"
#include "qimg/size.h"
#include "util/vector.h"

static const char size_hint[] =
	"Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, "
	"tera-, peta-\nand exabytes, respectively.";

static void opt_clear(struct qimg_opt *opt)
{
	free(opt->name);
	free(opt->value);
	memset(opt, 0, sizeof(*opt));
}

void qimg_opts_free(struct qimg_opts *o)
{
	size_t i;

	if (!o)
		return;
	for (i = 0; i < o->len; i++)
		opt_clear(&o->v[i]);
	for (i = 0; i < o->log_len; i++)
		opt_clear(&o->log[i]);
	free(o->v);
	free(o->log);
	memset(o, 0, sizeof(*o));
}

int qimg_opts_check_list(const char *str, struct qimg_error *err)
{
	size_t len, commas = 0;

	if (!str)
		return qimg_error_set(err, EINVAL, "Invalid option list: ");
	len = strlen(str);
	while (commas < len && str[len - 1 - commas] == ',')
		commas++;
	/* An odd run of trailing commas ends in a lone separator, not in an
	 * escaped ",," that belongs to the last value. */
	if (len == 0 || str[0] == ',' || commas % 2)
		return qimg_error_set(err, EINVAL, "Invalid option list: %s",
				      str);
	return 0;
}

static ssize_t find_index(const struct qimg_opts *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->len; i++) {
		if (!strcmp(o->v[i].name, name))
			return (ssize_t)i;
	}
	return -1;
}

/* Append a name/value pair to the log; takes ownership of both strings
 * (freed on failure). */
static int log_append(struct qimg_opts *o, char *name, char *value)
{
	void *p = o->log;
	int r;

	r = qimg_vector_grow(&p, &o->log_cap, o->log_len, 1, sizeof(*o->log));
	o->log = p;
	if (r < 0) {
		free(name);
		free(value);
		return r;
	}
	memset(&o->log[o->log_len], 0, sizeof(*o->log));
	o->log[o->log_len].name = name;
	o->log[o->log_len].value = value;
	o->log_len++;
	return 0;
}

int qimg_opts_set(struct qimg_opts *o, const char *name, const char *value)
{
	char *n, *v, *ln, *lv;
	ssize_t i;
	void *p;
	int r;

	n = strdup(name);
	v = strdup(value);
	ln = strdup(name);
	lv = strdup(value);
	if (!n || !v || !ln || !lv)
		goto out_nomem;
	r = log_append(o, ln, lv);
	ln = lv = NULL;
	if (r < 0)
		goto out_nomem;

	i = find_index(o, name);
	if (i >= 0) {
		/* qemu-img: the last value wins; keep the first position. */
		opt_clear(&o->v[i]);
		o->v[i].name = n;
		o->v[i].value = v;
		return 0;
	}
	p = o->v;
	r = qimg_vector_grow(&p, &o->cap, o->len, 1, sizeof(*o->v));
	o->v = p;
	if (r < 0)
		goto out_nomem;
	memset(&o->v[o->len], 0, sizeof(*o->v));
	o->v[o->len].name = n;
	o->v[o->len].value = v;
	o->len++;
	return 0;

out_nomem:
	free(n);
	free(v);
	free(ln);
	free(lv);
	return -ENOMEM;
}

void qimg_opts_del(struct qimg_opts *o, const char *name)
{
	ssize_t i = find_index(o, name);
	size_t j, k;

	if (i >= 0) {
		opt_clear(&o->v[i]);
		memmove(&o->v[i], &o->v[i + 1],
			(o->len - (size_t)i - 1) * sizeof(*o->v));
		o->len--;
	}
	for (j = k = 0; j < o->log_len; j++) {
		if (!strcmp(o->log[j].name, name))
			opt_clear(&o->log[j]);
		else
			o->log[k++] = o->log[j];
	}
	o->log_len = k;
}

const struct qimg_opt *qimg_opts_find(const struct qimg_opts *o,
				      const char *name)
{
	ssize_t i = o ? find_index(o, name) : -1;

	return i >= 0 ? &o->v[i] : NULL;
}

/* Read a value up to the first lone ',' (",," stands for one comma).
 * *pp is left on the terminating ',' or NUL. */
static char *read_value(const char **pp)
{
	const char *p = *pp;
	size_t n = 0, i;
	char *v;

	for (i = 0; p[i]; i++, n++) {
		if (p[i] == ',') {
			if (p[i + 1] != ',')
				break;
			i++;
		}
	}
	v = malloc(n + 1);
	if (!v)
		return NULL;
	for (i = 0, n = 0; p[i]; i++) {
		if (p[i] == ',') {
			if (p[i + 1] != ',')
				break;
			i++;
		}
		v[n++] = p[i];
	}
	v[n] = '\0';
	*pp = p + i;
	return v;
}

int qimg_opts_parse(struct qimg_opts *o, const char *str,
		    struct qimg_error *err)
{
	const char *p = str;
	char *name = NULL, *value = NULL;
	size_t len;
	int r;

	while (p && *p) {
		bool is_help = false;

		/* Names end at '=' or ','; there is no escaping in names. */
		len = strcspn(p, "=,");
		name = strndup(p, len);
		if (!name)
			goto out_nomem;
		p += len;
		if (*p == '=') {
			p++;
			value = read_value(&p);
		} else if (!strncmp(name, "no", 2)) {
			/* Any "noX" means X=off, known option or not:
			 * "-o nofoo" fails as "Invalid parameter 'foo'". */
			memmove(name, name + 2, strlen(name + 2) + 1);
			value = strdup("off");
		} else {
			is_help = !strcmp(name, "help") || !strcmp(name, "?");
			value = strdup("on");
		}
		if (!value)
			goto out_nomem;
		if (*p == ',')
			p++;

		if (is_help) {
			o->help = true;
		} else if (strcmp(name, "id")) {
			/* "id" (in any form) is dropped, as qemu-img does. */
			r = qimg_opts_set(o, name, value);
			if (r < 0)
				goto out_nomem;
		}
		free(name);
		free(value);
		name = value = NULL;
	}
	return 0;

out_nomem:
	free(name);
	free(value);
	return qimg_error_set(err, ENOMEM, "Out of memory");
}

static const struct qimg_opt_desc *
find_desc(const struct qimg_opt_desc *const *schemas, const char *name)
{
	const struct qimg_opt_desc *d;
	size_t i;

	for (i = 0; schemas && schemas[i]; i++) {
		for (d = schemas[i]; d->name; d++) {
			size_t n = strlen(d->name);

			if (!strcmp(d->name, name))
				return d;
			/* "prefix.*" takes every "prefix.anything". */
			if (n >= 2 && !strcmp(d->name + n - 2, ".*") &&
			    !strncmp(name, d->name, n - 1) && name[n - 1])
				return d;
		}
	}
	return NULL;
}

static int parse_bool(const char *s, bool *b)
{
	if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true") ||
	    !strcmp(s, "y")) {
		*b = true;
		return 0;
	}
	if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false") ||
	    !strcmp(s, "n")) {
		*b = false;
		return 0;
	}
	return -EINVAL;
}

/* C strtoull, base 0 (so a leading 0 means octal and "-1" wraps), with
 * nothing allowed after the number.  Junk wins over overflow. */
static int parse_number(const char *s, uint64_t *u)
{
	char *end;

	errno = 0;
	*u = strtoull(s, &end, 0);
	if (end == s || *end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	return 0;
}

/* Type-check opt->value against d and fill the typed fields of opt. */
static int check_value(struct qimg_opt *opt, const struct qimg_opt_desc *d,
		       struct qimg_error *err)
{
	int hexw = 0;
	int r;

	opt->type = d->type;
	opt->typed = false;
	opt->hex_suffix_warning = false;
	switch (d->type) {
	case QIMG_OPT_STRING:
		break;
	case QIMG_OPT_BOOL:
		if (parse_bool(opt->value, &opt->b) < 0)
			return qimg_error_set(
				err, EINVAL,
				"Parameter '%s' expects 'on' or 'off'",
				opt->name);
		break;
	case QIMG_OPT_NUMBER:
		r = parse_number(opt->value, &opt->u);
		if (r == -ERANGE)
			return qimg_error_set(
				err, EINVAL,
				"Value '%s' is too large for parameter '%s'",
				opt->value, opt->name);
		if (r < 0)
			return qimg_error_set(err, EINVAL,
					      "Parameter '%s' expects a number",
					      opt->name);
		break;
	case QIMG_OPT_SIZE:
		r = qimg_parse_size(opt->value, &opt->u, &hexw);
		/* qemu-img warns even when the value is then rejected. */
		opt->hex_suffix_warning = hexw != 0;
		if (r == QIMG_SIZE_RANGE)
			return qimg_error_set(
				err, EINVAL,
				"Value '%s' is out of range for parameter '%s'",
				opt->value, opt->name);
		if (r < 0)
			return qimg_error_set(
				err, EINVAL,
				"Parameter '%s' expects a non-negative number below 2^64\n%s",
				opt->name, size_hint);
		break;
	default:
		return qimg_error_set(err, EINVAL,
				      "Parameter '%s' has an unknown type",
				      opt->name);
	}
	opt->typed = true;
	return 0;
}

int qimg_opts_validate(struct qimg_opts *o,
		       const struct qimg_opt_desc *const *schemas,
		       struct qimg_error *err)
{
	const struct qimg_opt_desc *d;
	size_t i;
	int r;

	/* Every occurrence, in the order given, like qemu-img: the first bad
	 * element is the one reported ("bogus,lazy_refcounts=x" -> bogus). */
	for (i = 0; i < o->log_len; i++) {
		d = find_desc(schemas, o->log[i].name);
		if (!d)
			return qimg_error_set(err, EINVAL,
					      "Invalid parameter '%s'",
					      o->log[i].name);
		r = check_value(&o->log[i], d, err);
		if (r < 0) {
			/* Let the caller see the hex-suffix warning qemu-img
			 * prints before this error. */
			ssize_t j = find_index(o, o->log[i].name);

			if (j >= 0 && !strcmp(o->v[j].value, o->log[i].value))
				o->v[j].hex_suffix_warning =
					o->log[i].hex_suffix_warning;
			return r;
		}
	}
	for (i = 0; i < o->len; i++) {
		d = find_desc(schemas, o->v[i].name);
		if (!d)
			return qimg_error_set(err, EINVAL,
					      "Invalid parameter '%s'",
					      o->v[i].name);
		r = check_value(&o->v[i], d, err);
		if (r < 0)
			return r;
	}
	return 0;
}

const char *qimg_opts_get_str(const struct qimg_opts *o, const char *name,
			      const char *def)
{
	const struct qimg_opt *opt = qimg_opts_find(o, name);

	return opt ? opt->value : def;
}

bool qimg_opts_get_bool(const struct qimg_opts *o, const char *name, bool def)
{
	const struct qimg_opt *opt = qimg_opts_find(o, name);
	bool b;

	if (!opt)
		return def;
	if (opt->typed && opt->type == QIMG_OPT_BOOL)
		return opt->b;
	return parse_bool(opt->value, &b) == 0 ? b : def;
}

uint64_t qimg_opts_get_u64(const struct qimg_opts *o, const char *name,
			   uint64_t def)
{
	const struct qimg_opt *opt = qimg_opts_find(o, name);
	uint64_t u;

	if (!opt)
		return def;
	if (opt->typed &&
	    (opt->type == QIMG_OPT_NUMBER || opt->type == QIMG_OPT_SIZE))
		return opt->u;
	/* Not validated: accept a plain number, else the size syntax. */
	if (parse_number(opt->value, &u) == 0 ||
	    qimg_parse_size(opt->value, &u, NULL) == QIMG_SIZE_OK)
		return u;
	return def;
}

bool qimg_opts_has(const struct qimg_opts *o, const char *name)
{
	return qimg_opts_find(o, name) != NULL;
}

static const char *type_name(enum qimg_opt_type t)
{
	switch (t) {
	case QIMG_OPT_BOOL:
		return "bool (on/off)";
	case QIMG_OPT_NUMBER:
		return "num";
	case QIMG_OPT_SIZE:
		return "size";
	case QIMG_OPT_STRING:
	default:
		return "str";
	}
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

QIMG_VECTOR(help_lines, char *)

/* One help line: "  name=<type>" padded with spaces to column 24 when
 * shorter, then " - help". Returns NULL on allocation failure. */
static char *format_help_line(const struct qimg_opt_desc *d)
{
	char *head, *line;
	int n, pad;

	n = asprintf(&head, "  %s=<%s>", d->name, type_name(d->type));
	if (n < 0)
		return NULL;
	pad = n < 24 ? 24 - n : 0;
	if (asprintf(&line, "%s%*s%s%s", head, pad, "", d->help ? " - " : "",
		     d->help ? d->help : "") < 0)
		line = NULL;
	free(head);
	return line;
}

void qimg_opts_print_help(void *fp, const char *heading,
			  const struct qimg_opt_desc *const *schemas,
			  bool trailer)
{
	struct help_lines lines = { 0 };
	const struct qimg_opt_desc *d;
	FILE *f = fp;
	char *line;
	size_t i;

	if (heading)
		fprintf(f, "%s\n", heading);
	for (i = 0; schemas && schemas[i]; i++) {
		/* A list given twice (a protocol used as the format: create
		 * -f nfs nfs://...) is listed once. */
		if (i > 0 && schemas[i] == schemas[0])
			continue;
		for (d = schemas[i]; d->name; d++) {
			/* Merged lists keep the first description of a
			 * name, as qemu's option-list append does. */
			if (find_desc(schemas, d->name) != d)
				continue;
			line = format_help_line(d);
			if (!line || help_lines_append(&lines, line) < 0) {
				/* Out of memory: print what we have. */
				free(line);
				goto out;
			}
		}
	}
out:
	if (lines.len)
		qsort(lines.v, lines.len, sizeof(*lines.v), cmp_line);
	for (i = 0; i < lines.len; i++) {
		fprintf(f, "%s\n", lines.v[i]);
		free(lines.v[i]);
	}
	help_lines_free(&lines);
	if (trailer)
		fprintf(f, "\nThe protocol level may support further "
			   "options.\nSpecify the target filename to include "
			   "those options.\n");
}
