/* SPDX-License-Identifier: MIT */
/* The value tree used for `info`/`check`/`measure` output and its two
 * renderings: QEMU-style pretty JSON and the human "Format specific
 * information" layout.  Dict keys print in the order QEMU's 512-bucket QDict
 * iterates them (reference §1.11), which qimg_dict_qemu_order computes. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qimg/value.h"
#include "util/vector.h"

struct member {
	char *key; /* NULL for list items */
	struct qimg_value *val;
};

struct qimg_value {
	enum qimg_value_type type;
	union {
		char *s;
		int64_t i;
		uint64_t u;
		bool b;
	};
	struct member *m; /* dict / list members, insertion order */
	size_t len, cap;
};

static struct qimg_value *value_new(enum qimg_value_type type)
{
	struct qimg_value *v = calloc(1, sizeof(*v));

	if (v)
		v->type = type;
	return v;
}

struct qimg_value *qimg_value_dict(void)
{
	return value_new(QIMG_VALUE_DICT);
}

struct qimg_value *qimg_value_list(void)
{
	return value_new(QIMG_VALUE_LIST);
}

struct qimg_value *qimg_value_str(const char *s)
{
	struct qimg_value *v = value_new(QIMG_VALUE_STR);

	if (!v)
		return NULL;
	v->s = strdup(s ? s : "");
	if (!v->s) {
		free(v);
		return NULL;
	}
	return v;
}

struct qimg_value *qimg_value_int(int64_t i)
{
	struct qimg_value *v = value_new(QIMG_VALUE_INT);

	if (v)
		v->i = i;
	return v;
}

struct qimg_value *qimg_value_uint(uint64_t u)
{
	struct qimg_value *v = value_new(QIMG_VALUE_UINT);

	if (v)
		v->u = u;
	return v;
}

struct qimg_value *qimg_value_bool(bool b)
{
	struct qimg_value *v = value_new(QIMG_VALUE_BOOL);

	if (v)
		v->b = b;
	return v;
}

struct qimg_value *qimg_value_null(void)
{
	return value_new(QIMG_VALUE_NULL);
}

struct qimg_value *qimg_value_double(double d)
{
	struct qimg_value *v = value_new(QIMG_VALUE_DOUBLE);

	if (v && asprintf(&v->s, "%.17g", d) < 0) {
		free(v);
		return NULL;
	}
	return v;
}

void qimg_value_free(struct qimg_value *v)
{
	size_t i;

	if (!v)
		return;
	if (v->type == QIMG_VALUE_STR || v->type == QIMG_VALUE_DOUBLE)
		free(v->s);
	for (i = 0; i < v->len; i++) {
		free(v->m[i].key);
		qimg_value_free(v->m[i].val);
	}
	free(v->m);
	free(v);
}

/* Append a member; takes ownership of key and val (both freed on error). */
static int members_append(struct qimg_value *c, char *key,
			  struct qimg_value *val)
{
	void *p = c->m;
	int r;

	r = qimg_vector_grow(&p, &c->cap, c->len, 1, sizeof(*c->m));
	c->m = p;
	if (r < 0) {
		free(key);
		qimg_value_free(val);
		return r;
	}
	c->m[c->len].key = key;
	c->m[c->len].val = val;
	c->len++;
	return 0;
}

int qimg_dict_put(struct qimg_value *dict, const char *key,
		  struct qimg_value *val)
{
	char *k;
	size_t i;

	if (!val)
		return -ENOMEM;
	if (!dict || dict->type != QIMG_VALUE_DICT || !key) {
		qimg_value_free(val);
		return -EINVAL;
	}
	for (i = 0; i < dict->len; i++) {
		if (!strcmp(dict->m[i].key, key)) {
			/* Replacing keeps the entry's place, as QDict does. */
			qimg_value_free(dict->m[i].val);
			dict->m[i].val = val;
			return 0;
		}
	}
	k = strdup(key);
	if (!k) {
		qimg_value_free(val);
		return -ENOMEM;
	}
	return members_append(dict, k, val);
}

int qimg_dict_put_str(struct qimg_value *dict, const char *key, const char *s)
{
	return qimg_dict_put(dict, key, qimg_value_str(s));
}

int qimg_dict_put_int(struct qimg_value *dict, const char *key, int64_t i)
{
	return qimg_dict_put(dict, key, qimg_value_int(i));
}

int qimg_dict_put_uint(struct qimg_value *dict, const char *key, uint64_t u)
{
	return qimg_dict_put(dict, key, qimg_value_uint(u));
}

int qimg_dict_put_bool(struct qimg_value *dict, const char *key, bool b)
{
	return qimg_dict_put(dict, key, qimg_value_bool(b));
}

struct qimg_value *qimg_dict_take(struct qimg_value *dict, const char *key)
{
	struct qimg_value *val;
	size_t i;

	if (!dict || dict->type != QIMG_VALUE_DICT)
		return NULL;
	for (i = 0; i < dict->len; i++) {
		if (strcmp(dict->m[i].key, key))
			continue;
		val = dict->m[i].val;
		free(dict->m[i].key);
		memmove(&dict->m[i], &dict->m[i + 1],
			(dict->len - i - 1) * sizeof(*dict->m));
		dict->len--;
		return val;
	}
	return NULL;
}

struct qimg_value *qimg_value_copy(const struct qimg_value *v)
{
	struct qimg_value *c;
	size_t i;
	int r;

	if (!v)
		return NULL;
	switch (v->type) {
	case QIMG_VALUE_STR:
		return qimg_value_str(v->s);
	case QIMG_VALUE_INT:
		return qimg_value_int(v->i);
	case QIMG_VALUE_UINT:
		return qimg_value_uint(v->u);
	case QIMG_VALUE_BOOL:
		return qimg_value_bool(v->b);
	case QIMG_VALUE_NULL:
		return qimg_value_null();
	case QIMG_VALUE_DOUBLE:
		c = value_new(QIMG_VALUE_DOUBLE);
		if (c && !(c->s = strdup(v->s))) {
			free(c);
			c = NULL;
		}
		return c;
	case QIMG_VALUE_DICT:
	case QIMG_VALUE_LIST:
		break;
	}
	c = value_new(v->type);
	for (i = 0; c && i < v->len; i++) {
		char *k = NULL;

		if (v->m[i].key) {
			k = strdup(v->m[i].key);
			if (!k)
				goto fail;
		}
		r = members_append(c, k, qimg_value_copy(v->m[i].val));
		if (r < 0 || !c->m[c->len - 1].val)
			goto fail;
	}
	return c;
fail:
	qimg_value_free(c);
	return NULL;
}

int qimg_list_append(struct qimg_value *list, struct qimg_value *val)
{
	if (!val)
		return -ENOMEM;
	if (!list || list->type != QIMG_VALUE_LIST) {
		qimg_value_free(val);
		return -EINVAL;
	}
	return members_append(list, NULL, val);
}

enum qimg_value_type qimg_value_type(const struct qimg_value *v)
{
	return v->type;
}

const char *qimg_value_get_str(const struct qimg_value *v)
{
	return v && v->type == QIMG_VALUE_STR ? v->s : NULL;
}

const char *qimg_value_get_double_text(const struct qimg_value *v)
{
	return v && v->type == QIMG_VALUE_DOUBLE ? v->s : NULL;
}

int64_t qimg_value_get_int(const struct qimg_value *v)
{
	if (!v)
		return 0;
	switch (v->type) {
	case QIMG_VALUE_INT:
		return v->i;
	case QIMG_VALUE_UINT:
		return (int64_t)v->u;
	case QIMG_VALUE_BOOL:
		return v->b;
	default:
		return 0;
	}
}

bool qimg_value_get_bool(const struct qimg_value *v)
{
	return v && v->type == QIMG_VALUE_BOOL && v->b;
}

size_t qimg_value_count(const struct qimg_value *v)
{
	return v ? v->len : 0;
}

struct qimg_value *qimg_value_at(const struct qimg_value *v, size_t i,
				 const char **key)
{
	if (!v || i >= v->len) {
		if (key)
			*key = NULL;
		return NULL;
	}
	if (key)
		*key = v->m[i].key;
	return v->m[i].val;
}

struct qimg_value *qimg_dict_get(const struct qimg_value *dict, const char *key)
{
	size_t i;

	if (!dict || dict->type != QIMG_VALUE_DICT)
		return NULL;
	for (i = 0; i < dict->len; i++) {
		if (!strcmp(dict->m[i].key, key))
			return dict->m[i].val;
	}
	return NULL;
}

/* QDict's bucket for a key: the documented hash, in uint32 arithmetic. */
static uint32_t qdict_bucket(const char *key)
{
	const unsigned char *p = (const unsigned char *)key;
	uint32_t v = 0x238F13AFu * (uint32_t)strlen(key);
	size_t i;

	for (i = 0; p[i]; i++)
		v += (uint32_t)p[i] << ((i * 5) % 24);
	return (1103515243u * v + 12345u) % 512;
}

void qimg_dict_qemu_order(const struct qimg_value *dict, size_t *idx)
{
	size_t n = qimg_value_count(dict), i, j;
	uint32_t *b;

	if (!n)
		return;
	b = malloc(n * sizeof(*b));
	for (i = 0; i < n; i++) {
		idx[i] = i;
		if (b)
			b[i] = qdict_bucket(dict->m[i].key);
	}
	/* Buckets in ascending order; within a bucket the most recently
	 * inserted key comes first (QDict inserts at the chain's head).
	 * Dicts here are small: insertion sort. */
	for (i = 1; i < n; i++) {
		size_t cur = idx[i];
		uint32_t bc = b ? b[cur] : qdict_bucket(dict->m[cur].key);

		for (j = i; j > 0; j--) {
			size_t prev = idx[j - 1];
			uint32_t bp =
				b ? b[prev] : qdict_bucket(dict->m[prev].key);

			if (bp < bc || (bp == bc && prev > cur))
				break;
			idx[j] = prev;
		}
		idx[j] = cur;
	}
	free(b);
}

/*
 * Decode one code point the way QEMU's JSON writer does (modified UTF-8):
 * returns the bytes consumed (at least 1) and *cp, or -1 for anything to
 * print as U+FFFD: stray continuation bytes, truncated sequences (up to the
 * first non-continuation byte, which is not consumed), overlong forms other
 * than C0 80 (U+0000), surrogates, values above U+10FFFF (including 5- and
 * 6-byte forms) and the noncharacters U+FDD0..U+FDEF and U+xxFFFE/F.
 */
static size_t utf8_decode(const unsigned char *s, int32_t *cp)
{
	unsigned char c = s[0];
	uint32_t v, min;
	size_t need, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c < 0xC0 || c >= 0xFE) {
		*cp = -1;
		return 1;
	}
	if (c < 0xE0) {
		need = 1, v = c & 0x1F, min = 0x80;
	} else if (c < 0xF0) {
		need = 2, v = c & 0x0F, min = 0x800;
	} else if (c < 0xF8) {
		need = 3, v = c & 0x07, min = 0x10000;
	} else if (c < 0xFC) {
		need = 4, v = c & 0x03, min = 0x200000;
	} else {
		need = 5, v = c & 0x01, min = 0x4000000;
	}
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*cp = -1;
			return i;
		}
		v = v << 6 | (s[i] & 0x3F);
	}
	if (v < min)
		*cp = (need == 1 && v == 0) ? 0 : -1;
	else if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) ||
		 (v >= 0xFDD0 && v <= 0xFDEF) || (v & 0xFFFE) == 0xFFFE)
		*cp = -1;
	else
		*cp = (int32_t)v;
	return need + 1;
}

static void json_string(FILE *fp, const char *str)
{
	const unsigned char *p = (const unsigned char *)str;
	int32_t cp;

	fputc('"', fp);
	while (*p) {
		p += utf8_decode(p, &cp);
		switch (cp) {
		case '"':
			fputs("\\\"", fp);
			break;
		case '\\':
			fputs("\\\\", fp);
			break;
		case '\b':
			fputs("\\b", fp);
			break;
		case '\f':
			fputs("\\f", fp);
			break;
		case '\n':
			fputs("\\n", fp);
			break;
		case '\r':
			fputs("\\r", fp);
			break;
		case '\t':
			fputs("\\t", fp);
			break;
		case -1:
			fputs("\\uFFFD", fp);
			break;
		default:
			if (cp >= 0x10000) {
				cp -= 0x10000;
				fprintf(fp, "\\u%04X\\u%04X",
					(unsigned int)(0xD800 | (cp >> 10)),
					(unsigned int)(0xDC00 | (cp & 0x3FF)));
			} else if (cp < 0x20 || cp >= 0x7F) {
				fprintf(fp, "\\u%04X", (unsigned int)cp);
			} else {
				fputc(cp, fp);
			}
		}
	}
	fputc('"', fp);
}

static void print_scalar(FILE *fp, const struct qimg_value *v, bool json)
{
	switch (v->type) {
	case QIMG_VALUE_STR:
		if (json)
			json_string(fp, v->s);
		else
			fputs(v->s, fp);
		break;
	case QIMG_VALUE_INT:
		fprintf(fp, "%" PRId64, v->i);
		break;
	case QIMG_VALUE_UINT:
		fprintf(fp, "%" PRIu64, v->u);
		break;
	case QIMG_VALUE_BOOL:
		fputs(v->b ? "true" : "false", fp);
		break;
	case QIMG_VALUE_NULL:
		fputs("null", fp);
		break;
	case QIMG_VALUE_DOUBLE:
		fputs(v->s, fp);
		break;
	default:
		break;
	}
}

static bool is_container(const struct qimg_value *v)
{
	return v->type == QIMG_VALUE_DICT || v->type == QIMG_VALUE_LIST;
}

/* Member order for printing: QDict order for dicts, as is for lists.
 * Returns a malloc'ed array or NULL (then insertion order is used). */
static size_t *print_order(const struct qimg_value *v)
{
	size_t *idx;

	if (v->type != QIMG_VALUE_DICT || !v->len)
		return NULL;
	idx = malloc(v->len * sizeof(*idx));
	if (idx)
		qimg_dict_qemu_order(v, idx);
	return idx;
}

void qimg_value_print_json(FILE *fp, const struct qimg_value *v, int indent)
{
	size_t *idx, i;
	const struct member *mb;
	bool dict;

	if (!v) {
		fputs("null", fp);
		return;
	}
	if (!is_container(v)) {
		print_scalar(fp, v, true);
		return;
	}
	dict = v->type == QIMG_VALUE_DICT;
	idx = print_order(v);
	fputc(dict ? '{' : '[', fp);
	for (i = 0; i < v->len; i++) {
		mb = &v->m[idx ? idx[i] : i];
		fprintf(fp, "%s\n%*s", i ? "," : "", indent + 4, "");
		if (dict) {
			json_string(fp, mb->key);
			fputs(": ", fp);
		}
		qimg_value_print_json(fp, mb->val, indent + 4);
	}
	fprintf(fp, "\n%*s%c", indent, "", dict ? '}' : ']');
	free(idx);
}

static void print_line(FILE *fp, const struct qimg_value *v)
{
	size_t *idx, i;
	const struct member *mb;
	bool dict;

	if (!is_container(v)) {
		print_scalar(fp, v, true);
		return;
	}
	dict = v->type == QIMG_VALUE_DICT;
	idx = print_order(v);
	fputc(dict ? '{' : '[', fp);
	for (i = 0; i < v->len; i++) {
		mb = &v->m[idx ? idx[i] : i];
		if (i)
			fputs(", ", fp);
		if (dict) {
			json_string(fp, mb->key);
			fputs(": ", fp);
		}
		print_line(fp, mb->val);
	}
	fputc(dict ? '}' : ']', fp);
	free(idx);
}

char *qimg_value_to_json_line(const struct qimg_value *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	if (!fp)
		return NULL;
	if (v)
		print_line(fp, v);
	else
		fputs("null", fp);
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

void qimg_value_print_human(FILE *fp, const struct qimg_value *v, int indent)
{
	size_t *idx, i;
	const struct member *mb;
	const char *k;

	if (!v)
		return;
	if (!is_container(v)) {
		fprintf(fp, "%*s", indent, "");
		print_scalar(fp, v, false);
		fputc('\n', fp);
		return;
	}
	idx = print_order(v);
	for (i = 0; i < v->len; i++) {
		mb = &v->m[idx ? idx[i] : i];
		fprintf(fp, "%*s", indent, "");
		if (mb->key) {
			/* Keys print with '-' shown as ' '. */
			for (k = mb->key; *k; k++)
				fputc(*k == '-' ? ' ' : *k, fp);
		} else {
			fprintf(fp, "[%zu]", i);
		}
		fputc(':', fp);
		if (is_container(mb->val)) {
			fputc('\n', fp);
			qimg_value_print_human(fp, mb->val, indent + 4);
		} else {
			fputc(' ', fp);
			print_scalar(fp, mb->val, false);
			fputc('\n', fp);
		}
	}
	free(idx);
}
