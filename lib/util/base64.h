/* SPDX-License-Identifier: MIT */
/* Base64 (RFC 4648, the standard alphabet) as QEMU reads it through glib:
 * secrets given as base64 and the plist of a dmg image. */
#ifndef QIMG_UTIL_BASE64_H
#define QIMG_UTIL_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The value of a base64 digit, or -1 for any other character ('=' too). */
static inline int qimg_base64_digit(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode in[0..n) into out (at least n / 4 * 3 bytes; out may be in, the
 * decoding never overtakes the reading) and return the decoded length.
 * Characters outside the alphabet (white space, line ends) are skipped;
 * '=' is a zero digit whose byte is dropped; an incomplete last group of
 * four digits is dropped. */
size_t qimg_base64_decode(const uint8_t *in, size_t n, uint8_t *out);

#endif
