/* SPDX-License-Identifier: MIT */
/* vvfat's names, as QEMU 7.2 makes them (observed): every entry but "." and
 * ".." gets VFAT long-name entries (UTF-16 of the host name; none when the
 * name is not UTF-8) and an 8.3 name built so:
 *   - characters outside A-Z a-z 0-9 ! # $ % & ' ( ) - @ ^ _ ` { } ~ and
 *     '.' are dropped, then the leading dots; letters go upper case;
 *   - the name part ends at the first dot, the extension follows the
 *     last one; names longer than 8 and extensions longer than 3 are cut;
 *   - a name that lost anything on the way (a character, a leading dot, a
 *     cut, a second dot), or whose 8.3 form is already in the directory,
 *     gets "~N" (N = 1, 2, ...: the first free one) at the end of its name
 *     part, cut to make room. */
#include <stdio.h>
#include <string.h>

#include "protocols/vvfat-int.h"

static bool short_char_ok(unsigned char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'()-@^_`{}~", c) != NULL;
}

static bool taken(const uint8_t *entries, size_t n, const uint8_t name[11])
{
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = entries + i * VVFAT_DIRENT;

		if (e[11] != 0x0f && !memcmp(e, name, 11))
			return true;
	}
	return false;
}

void vvfat_short_name(const char *name, const uint8_t *entries, size_t n,
		      uint8_t out[11])
{
	char kept[256], base[9], ext[4];
	size_t len = 0, blen, elen;
	const char *first, *last, *s;
	bool lossy = false;

	for (s = name; *s && len < sizeof(kept) - 1; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '.' || short_char_ok(c))
			kept[len++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
		else
			lossy = true;
	}
	if (*s)
		lossy = true;
	kept[len] = '\0';
	for (s = kept; *s == '.'; s++)
		lossy = true;
	first = strchr(s, '.');
	last = strrchr(s, '.');
	if (first != last)
		lossy = true;
	blen = first ? (size_t)(first - s) : strlen(s);
	elen = last ? strlen(last + 1) : 0;
	if (blen > 8) {
		blen = 8;
		lossy = true;
	}
	if (elen > 3) {
		elen = 3;
		lossy = true;
	}
	memcpy(base, s, blen);
	base[blen] = '\0';
	memcpy(ext, last ? last + 1 : "", elen);
	ext[elen] = '\0';

	memset(out, ' ', 11);
	memcpy(out + 8, ext, elen);
	memcpy(out, base, blen);
	if (!lossy && !taken(entries, n, out))
		return;
	for (unsigned long k = 1;; k++) {
		char tail[24];
		int tl = snprintf(tail, sizeof(tail), "~%lu", k);
		size_t keep;

		if (tl > 8)
			tl = 8;
		keep = blen + (size_t)tl > 8 ? 8 - (size_t)tl : blen;

		memset(out, ' ', 8);
		memcpy(out, base, keep);
		memcpy(out + keep, tail, (size_t)tl);
		if (!taken(entries, n, out) || tl >= 8)
			return; /* (a directory never holds 10^6 names) */
	}
}

/* Decode one UTF-8 sequence at *p (strict: no overlong forms, no
 * surrogates, nothing above U+10FFFF).  -1 when invalid. */
static long utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	unsigned long c;
	int more;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		c = s[0] & 0x1f;
		more = 1;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		c = s[0] & 0x0f;
		more = 2;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		c = s[0] & 0x07;
		more = 3;
	} else {
		return -1;
	}
	for (int i = 1; i <= more; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((more == 2 && c < 0x800) || (more == 3 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*p = s + more + 1;
	return (long)c;
}

static uint8_t lfn_checksum(const uint8_t shortname[11])
{
	uint8_t sum = 0;

	for (int i = 0; i < 11; i++)
		sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + shortname[i]);
	return sum;
}

/* Where character i (0..12) of a long-name entry goes. */
static const uint8_t lfn_slot[13] = { 1,  3,  5,  7,  9,  14, 16,
				      18, 20, 22, 24, 28, 30 };

int vvfat_lfn(const char *name, const uint8_t shortname[11], uint8_t *out)
{
	uint16_t u[262];
	size_t len = 0, nent, i;
	const unsigned char *p = (const unsigned char *)name;
	uint8_t sum = lfn_checksum(shortname);

	while (*p) {
		long c = utf8_next(&p);

		if (c < 0)
			return 0;
		if (len + 2 > 260)
			return -1;
		if (c >= 0x10000) {
			c -= 0x10000;
			u[len++] = (uint16_t)(0xd800 | (c >> 10));
			u[len++] = (uint16_t)(0xdc00 | (c & 0x3ff));
		} else {
			u[len++] = (uint16_t)c;
		}
	}
	nent = (len + 12) / 13;
	for (i = 0; i < nent; i++) {
		/* Entries go last part first. */
		uint8_t *e = out + (nent - 1 - i) * VVFAT_DIRENT;

		memset(e, 0, VVFAT_DIRENT);
		e[0] = (uint8_t)((i + 1) | (i + 1 == nent ? 0x40 : 0));
		e[11] = 0x0f;
		e[13] = sum;
		for (size_t k = 0; k < 13; k++) {
			size_t at = i * 13 + k;
			uint16_t v = at < len ? u[at] : at == len ? 0 : 0xffff;

			e[lfn_slot[k]] = (uint8_t)v;
			e[lfn_slot[k] + 1] = (uint8_t)(v >> 8);
		}
	}
	return (int)nent;
}
