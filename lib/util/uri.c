/* SPDX-License-Identifier: MIT */
/* Percent-decoding of a URI's parts, for the protocol drivers that take
 * their names as URIs (nbd, ssh, nfs, gluster). */
#include <stdlib.h>

#include "util/uri.h"

char *qimg_uri_decode(const char *s, size_t n)
{
	char *r = malloc(n + 1), *p = r;
	size_t i;

	if (!r)
		return NULL;
	for (i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < n &&
		    (hi = qimg_hex_digit(s[i + 1])) >= 0 &&
		    (lo = qimg_hex_digit(s[i + 2])) >= 0) {
			*p++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			*p++ = s[i];
		}
	}
	*p = '\0';
	return r;
}
