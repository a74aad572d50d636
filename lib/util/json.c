/* SPDX-License-Identifier: MIT */
/* A JSON reader for option trees (json:{...} pseudo-filenames).  It reads
 * the dialect QEMU accepts there: standard JSON plus single-quoted strings,
 * and reports failures with QEMU's wording so that messages match. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qimg/value.h"
#include "util/uri.h"

#define MAX_DEPTH 1024

struct reader {
	const char *p;
	char *msg;
	size_t msglen;
	bool failed;
	int depth;
};

static struct qimg_value *fail(struct reader *rd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static struct qimg_value *fail(struct reader *rd, const char *fmt, ...)
{
	va_list ap;

	if (!rd->failed) {
		va_start(ap, fmt);
		vsnprintf(rd->msg, rd->msglen, fmt, ap);
		va_end(ap);
		rd->failed = true;
	}
	return NULL;
}

static void skip_ws(struct reader *rd)
{
	while (*rd->p == ' ' || *rd->p == '\t' || *rd->p == '\n' ||
	       *rd->p == '\r')
		rd->p++;
}

static bool put_utf8(char *out, size_t *n, unsigned long cp)
{
	if (cp < 0x80) {
		out[(*n)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*n)++] = (char)(0xC0 | (cp >> 6));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*n)++] = (char)(0xE0 | (cp >> 12));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x110000) {
		out[(*n)++] = (char)(0xF0 | (cp >> 18));
		out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		return false;
	}
	return true;
}

/* A string starting at the quote *rd->p; returns the decoded text. */
static char *read_string(struct reader *rd)
{
	char quote = *rd->p++;
	const char *start = rd->p;
	char *out = malloc(strlen(start) * 4 + 1);
	size_t n = 0;
	unsigned long cp;
	int i, h;

	if (!out) {
		fail(rd, "Out of memory");
		return NULL;
	}
	for (;;) {
		char c = *rd->p;

		if (!c) {
			fail(rd, "JSON parse error, premature EOI");
			break;
		}
		rd->p++;
		if (c == quote) {
			out[n] = '\0';
			return out;
		}
		if (c != '\\') {
			out[n++] = c;
			continue;
		}
		c = *rd->p++;
		switch (c) {
		case '"':
		case '\'':
		case '\\':
		case '/':
			out[n++] = c;
			break;
		case 'b':
			out[n++] = '\b';
			break;
		case 'f':
			out[n++] = '\f';
			break;
		case 'n':
			out[n++] = '\n';
			break;
		case 'r':
			out[n++] = '\r';
			break;
		case 't':
			out[n++] = '\t';
			break;
		case 'u':
			cp = 0;
			for (i = 0; i < 4; i++) {
				h = qimg_hex_digit(rd->p[i]);
				if (h < 0)
					break;
				cp = cp << 4 | (unsigned long)h;
			}
			if (i < 4 || !cp || !put_utf8(out, &n, cp)) {
				fail(rd, "JSON parse error, invalid escape "
					 "sequence in string");
				goto out;
			}
			rd->p += 4;
			break;
		case '\0':
			rd->p--;
			fail(rd, "JSON parse error, premature EOI");
			goto out;
		default:
			fail(rd, "JSON parse error, invalid escape sequence in "
				 "string");
			goto out;
		}
	}
out:
	free(out);
	return NULL;
}

static struct qimg_value *read_value(struct reader *rd);

/* Where the number at p ends, lexed as QEMU's JSON lexer does:
 * -?(0|[1-9][0-9]*), then maybe .[0-9]+ and [eE][+-]?[0-9]+.  *bad when a
 * character the number cannot take comes where it needs one (a digit after
 * "-", ".", "e" or "e+"; a digit after a leading 0): the end returned is
 * then that character (or the end of the text).  *is_float: a fraction or
 * an exponent. */
static const char *number_end(const char *p, bool *is_float, bool *bad)
{
	*is_float = *bad = false;
	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		goto bad;
	if (*p == '0') {
		p++;
		if (isdigit((unsigned char)*p))
			goto bad;
	} else {
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == '.') {
		*is_float = true;
		p++;
		if (!isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		*is_float = true;
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return p;
bad:
	*bad = true;
	return p;
}

/* A byte QEMU's lexer takes inside a string. */
static bool string_byte(unsigned char c)
{
	return c >= 0x20 && c < 0xFE;
}

/* QEMU's lexer runs ahead of its parser: the tokens of a value are all
 * lexed before the value is parsed, so a character no token can take, up
 * to where the first value ends (its brackets balanced), is the error
 * reported ("stray"), whatever the parser would have said of what came
 * before it.  The token reported is the one being lexed with that
 * character (or, at the end of the text, without one): a lone character
 * where a token starts (anything but whitespace, {}[],: quotes, '-',
 * digits and a-z; a keyword is a-z only), a number (number_end says
 * where), or a string holding a control character or bytes 0xFE/0xFF.
 * Returns true and the token in tok when there is such an error. */
static bool lex_error(const char *text, const char **tok, int *len)
{
	const char *p = text, *q;
	long depth = 0;
	bool any = false, is_float, bad;

	for (;;) {
		unsigned char c = (unsigned char)*p;

		if (any && depth <= 0)
			return false; /* the first value is whole */
		if (depth > MAX_DEPTH)
			return false; /* the parser's nesting error */
		if (!c)
			return false;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			p++;
			continue;
		}
		any = true;
		if (c == '{' || c == '[') {
			depth++;
			p++;
		} else if (c == '}' || c == ']') {
			depth--;
			p++;
		} else if (c == ',' || c == ':') {
			p++;
		} else if (c == '"' || c == '\'') {
			for (q = p + 1; *q && (unsigned char)*q != c; q++) {
				if (*q == '\\' && *++q == '\0')
					break;
				if (!string_byte((unsigned char)*q))
					break;
			}
			if ((unsigned char)*q == c) {
				p = q + 1;
				continue;
			}
			/* a byte a string cannot hold, or the end */
			*tok = p;
			*len = (int)(q - p) + (*q ? 1 : 0);
			return true;
		} else if (c >= 'a' && c <= 'z') {
			while (*p >= 'a' && *p <= 'z')
				p++;
		} else if (c == '-' || isdigit(c)) {
			q = number_end(p, &is_float, &bad);
			if (bad) {
				*tok = p;
				*len = (int)(q - p) + (*q ? 1 : 0);
				return true;
			}
			p = q;
		} else {
			*tok = p;
			*len = 1;
			return true;
		}
	}
}

/* A number (number_end lexes it): an integer that int64 (or, positive,
 * uint64) holds is one; any other number is a double. */
static struct qimg_value *read_number(struct reader *rd)
{
	const char *s = rd->p;
	bool is_float, bad;
	char *end;
	long long v;
	unsigned long long u;

	rd->p = number_end(s, &is_float, &bad);
	if (bad)
		return fail(rd, "JSON parse error, stray '%.*s'",
			    (int)(rd->p - s) + (*rd->p ? 1 : 0), s);
	if (!is_float) {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno != ERANGE)
			return qimg_value_int(v);
		if (s[0] != '-') {
			errno = 0;
			u = strtoull(s, &end, 10);
			if (errno != ERANGE)
				return qimg_value_uint(u);
		}
	}
	/* (a huge exponent is strtod's infinity, as QEMU's: text "inf") */
	return qimg_value_double(strtod(s, &end));
}

static struct qimg_value *read_keyword(struct reader *rd)
{
	const char *s = rd->p;
	size_t n;

	while (*rd->p >= 'a' && *rd->p <= 'z')
		rd->p++;
	n = (size_t)(rd->p - s);
	if (n == 4 && !strncmp(s, "true", 4))
		return qimg_value_bool(true);
	if (n == 5 && !strncmp(s, "false", 5))
		return qimg_value_bool(false);
	if (n == 4 && !strncmp(s, "null", 4))
		return qimg_value_null();
	if (!n)
		return fail(rd, "JSON parse error, stray '%c'", *rd->p);
	return fail(rd, "JSON parse error, invalid keyword '%.*s'", (int)n, s);
}

static struct qimg_value *read_container(struct reader *rd, bool dict)
{
	struct qimg_value *c = dict ? qimg_value_dict() : qimg_value_list();
	char close = dict ? '}' : ']';
	bool first = true;

	if (!c)
		return fail(rd, "Out of memory");
	if (++rd->depth > MAX_DEPTH) {
		qimg_value_free(c);
		return fail(rd, "JSON nesting depth limit exceeded");
	}
	rd->p++;
	for (;;) {
		char *key = NULL;
		struct qimg_value *v;

		skip_ws(rd);
		if (!*rd->p)
			goto eoi;
		if (first && *rd->p == close) {
			rd->p++;
			break;
		}
		if (!first) {
			if (*rd->p == close) {
				rd->p++;
				break;
			}
			if (*rd->p != ',') {
				fail(rd, dict ? "JSON parse error, expected "
						"separator in dict"
					      : "JSON parse error, expected "
						"separator in list");
				goto err;
			}
			rd->p++;
			skip_ws(rd);
			if (!*rd->p)
				goto eoi;
		}
		first = false;
		if (dict) {
			if (*rd->p != '"' && *rd->p != '\'') {
				/* A key is read as any value (so what is no
				 * value fails as one would), then refused. */
				v = read_value(rd);
				if (v) {
					qimg_value_free(v);
					fail(rd, "JSON parse error, key is not "
						 "a string in object");
				}
				goto err;
			}
			key = read_string(rd);
			if (!key)
				goto err;
			skip_ws(rd);
			if (!*rd->p) {
				free(key);
				goto eoi;
			}
			if (*rd->p != ':') {
				free(key);
				fail(rd, "JSON parse error, missing : in "
					 "object pair");
				goto err;
			}
			rd->p++;
			skip_ws(rd);
		}
		if (*rd->p == close || *rd->p == ',') {
			free(key);
			fail(rd, "JSON parse error, expecting value");
			goto err;
		}
		v = read_value(rd);
		if (!v) {
			free(key);
			goto err;
		}
		if (dict && qimg_dict_get(c, key)) {
			/* QEMU's parser refuses a key given twice. */
			qimg_value_free(v);
			free(key);
			fail(rd, "JSON parse error, duplicate key");
			goto err;
		}
		if ((dict ? qimg_dict_put(c, key, v) : qimg_list_append(c, v)) <
		    0) {
			free(key);
			fail(rd, "Out of memory");
			goto err;
		}
		free(key);
	}
	rd->depth--;
	return c;
eoi:
	fail(rd, "JSON parse error, premature EOI");
err:
	qimg_value_free(c);
	return NULL;
}

static struct qimg_value *read_value(struct reader *rd)
{
	skip_ws(rd);
	switch (*rd->p) {
	case '\0':
		return fail(rd, "JSON parse error, premature EOI");
	case '{':
		return read_container(rd, true);
	case '[':
		return read_container(rd, false);
	case '"':
	case '\'': {
		char *s = read_string(rd);
		struct qimg_value *v;

		if (!s)
			return NULL;
		v = qimg_value_str(s);
		free(s);
		return v ? v : fail(rd, "Out of memory");
	}
	case '}':
	case ']':
	case ',':
	case ':':
		/* A token, but not one that starts a value. */
		return fail(rd, "JSON parse error, expecting value");
	default:
		if (*rd->p == '-' || isdigit((unsigned char)*rd->p))
			return read_number(rd);
		return read_keyword(rd);
	}
}

struct qimg_value *qimg_json_parse(const char *text, char *msg, size_t msglen)
{
	struct reader rd = { .p = text, .msg = msg, .msglen = msglen };
	struct qimg_value *v;

	const char *tok;
	int len;

	if (msglen)
		msg[0] = '\0';
	skip_ws(&rd);
	if (!*rd.p) {
		fail(&rd, "Expecting a JSON value");
		return NULL;
	}
	if (lex_error(rd.p, &tok, &len)) {
		fail(&rd, "JSON parse error, stray '%.*s'", len, tok);
		return NULL;
	}
	v = read_value(&rd);
	if (!v)
		return NULL;
	skip_ws(&rd);
	if (*rd.p) {
		qimg_value_free(v);
		fail(&rd, "Expecting at most one JSON value");
		return NULL;
	}
	return v;
}
