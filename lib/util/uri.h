/* SPDX-License-Identifier: MIT */
/* What a name looks like as a URI (RFC 3986), for the protocol drivers that
 * tell a wrong scheme from a malformed name as QEMU's URI parser does. */
#ifndef QIMG_UTIL_URI_H
#define QIMG_UTIL_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* The value of a hex digit, or -1 for any other character. */
static inline int qimg_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Only characters a URI may hold, every '%' followed by two hex digits. */
static inline bool qimg_uri_valid(const char *s)
{
	static const char ok[] = "-._~!$&'()*+,;=:@/?#[]";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '%') {
			if (qimg_hex_digit(s[1]) < 0 ||
			    qimg_hex_digit(s[2]) < 0)
				return false;
			s += 2;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || strchr(ok, c))) {
			return false;
		}
	}
	return true;
}

/* Whether the name's scheme (a letter, then letters, digits, '+', '-',
 * '.', up to a ':' before any '/', '?' or '#') is `scheme`. */
static inline bool qimg_uri_scheme_is(const char *s, const char *scheme)
{
	size_t n = strlen(scheme);

	return !strncmp(s, scheme, n) && s[n] == ':';
}

/* s[0..n) with every %HH escape decoded (a '%' not followed by two hex
 * digits is kept as it is), NUL-terminated, malloc'd; NULL when out of
 * memory. */
char *qimg_uri_decode(const char *s, size_t n);

#endif
