/* SPDX-License-Identifier: MIT */
#include "util/base64.h"

size_t qimg_base64_decode(const uint8_t *in, size_t n, uint8_t *out)
{
	uint32_t v = 0;
	uint8_t prev = 0, cur = 0;
	size_t i, k = 0;
	int q = 0;

	for (i = 0; i < n; i++) {
		int d = in[i] == '=' ? 0 : qimg_base64_digit(in[i]);

		if (d < 0)
			continue;
		prev = cur;
		cur = in[i];
		v = v << 6 | (uint32_t)d;
		if (++q < 4)
			continue;
		q = 0;
		/* four digits read (i + 1 characters), at most three bytes
		 * per four of them written: k stays <= i + 1 */
		out[k++] = (uint8_t)(v >> 16);
		if (prev != '=')
			out[k++] = (uint8_t)(v >> 8);
		if (cur != '=')
			out[k++] = (uint8_t)v;
	}
	return k;
}
