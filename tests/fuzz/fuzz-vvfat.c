/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for vvfat's names (lib/protocols/vvfat-names.c): the
 * input is a directory's host names, one a line.  Each gets its 8.3 name
 * and long-name entries as the scan gives them, and the harness aborts
 * when a rule breaks: an 8.3 name with a character FAT does not allow,
 * lower case, a gap, or one already in the directory; long-name entries
 * that do not spell the host name back (UTF-16 to UTF-8), a wrong
 * sequence number or checksum. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-text.h"
#include "protocols/vvfat-int.h"

#define MAX_TEXT 16384
#define MAX_NAMES 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_short(const uint8_t sn[11])
{
	for (int part = 0; part < 2; part++) {
		int from = part ? 8 : 0, to = part ? 11 : 8;
		bool pad = false;

		for (int i = from; i < to; i++) {
			uint8_t c = sn[i];

			if (c == ' ') {
				pad = true;
				continue;
			}
			if (pad || (c >= 'a' && c <= 'z') || c < 0x21 ||
			    c > 0x7e || strchr("\"*+,./:;<=>?[\\]|", c))
				abort();
		}
	}
}

/* The UTF-8 of the long name in n entries back into out. */
static size_t lfn_decode(const uint8_t *e, int n, const uint8_t sn[11],
			 char *out)
{
	static const uint8_t slot[13] = { 1,  3,  5,  7,  9,  14, 16,
					  18, 20, 22, 24, 28, 30 };
	unsigned long u[20 * 13];
	size_t nu = 0, len = 0;
	uint8_t sum = 0;
	bool end = false;

	for (int i = 0; i < 11; i++)
		sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + sn[i]);
	for (int k = n - 1; k >= 0; k--) {
		const uint8_t *x = e + (size_t)k * 32;
		int seq = n - k;

		if (x[0] != (seq | (k == 0 ? 0x40 : 0)) || x[11] != 0x0f ||
		    x[13] != sum)
			abort();
		for (int j = 0; j < 13; j++) {
			unsigned long c = x[slot[j]] | x[slot[j] + 1] << 8;

			if (end && c != 0xffff)
				abort();
			if (c == 0)
				end = true;
			if (!end)
				u[nu++] = c;
		}
	}
	for (size_t i = 0; i < nu; i++) {
		unsigned long c = u[i];

		if (c >= 0xd800 && c <= 0xdbff) {
			if (i + 1 == nu || u[i + 1] < 0xdc00 ||
			    u[i + 1] > 0xdfff)
				abort();
			c = 0x10000 + ((c - 0xd800) << 10) + (u[++i] - 0xdc00);
		}
		if (c < 0x80) {
			out[len++] = (char)c;
		} else if (c < 0x800) {
			out[len++] = (char)(0xc0 | c >> 6);
			out[len++] = (char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			out[len++] = (char)(0xe0 | c >> 12);
			out[len++] = (char)(0x80 | (c >> 6 & 0x3f));
			out[len++] = (char)(0x80 | (c & 0x3f));
		} else {
			out[len++] = (char)(0xf0 | c >> 18);
			out[len++] = (char)(0x80 | (c >> 12 & 0x3f));
			out[len++] = (char)(0x80 | (c >> 6 & 0x3f));
			out[len++] = (char)(0x80 | (c & 0x3f));
		}
	}
	out[len] = '\0';
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *dir = calloc(MAX_NAMES, 32);
	char *s = fuzz_text(data, size, MAX_TEXT), *p, *next;
	size_t n = 0;

	if (!s || !dir) {
		free(s);
		free(dir);
		return 0;
	}
	for (p = s; p && n < MAX_NAMES; p = next) {
		uint8_t sn[11], lfn[20 * 32];
		char back[1200];
		int k;

		next = strchr(p, '\n');
		if (next)
			*next++ = '\0';
		if (!*p || strlen(p) > 255)
			continue;
		vvfat_short_name(p, dir, n, sn);
		check_short(sn);
		for (size_t i = 0; i < n; i++)
			if (!memcmp(dir + i * 32, sn, 11))
				abort();
		k = vvfat_lfn(p, sn, lfn);
		if (k > 20)
			abort();
		if (k > 0 && (lfn_decode(lfn, k, sn, back), strcmp(back, p)))
			abort();
		memset(dir + n * 32, 0, 32);
		memcpy(dir + n * 32, sn, 11);
		dir[n * 32 + 11] = 0x20;
		n++;
	}
	free(s);
	free(dir);
	return 0;
}
