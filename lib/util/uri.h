/* SPDX-License-Identifier: MIT */
/* What a name looks like as a URI (RFC 3986), for the protocol drivers that
 * tell a wrong scheme from a malformed name as QEMU's URI parser does. */
#ifndef QIMG_UTIL_URI_H
#define QIMG_UTIL_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Only characters a URI may hold, every '%' followed by two hex digits. */
static inline bool qimg_uri_valid(const char *s)
{
	static const char ok[] = "-._~!$&'()*+,;=:@/?#[]";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '%') {
			if (!strchr("0123456789abcdefABCDEF", s[1]) || !s[1] ||
			    !strchr("0123456789abcdefABCDEF", s[2]) || !s[2])
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

#endif
