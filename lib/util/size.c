/* SPDX-License-Identifier: MIT */
/* Size arguments and human-readable sizes, matching qemu-img 7.2 byte for
 * byte (reference §1.9 and §1.10), including its corner cases: fractions are
 * taken as a double and truncated to 64-bit fixed point, and suffixes after
 * hex numbers are accepted with a deprecation warning. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qimg/size.h"

static uint64_t suffix_mul(char c)
{
	switch (c) {
	case 'b':
	case 'B':
		return 1;
	case 'k':
	case 'K':
		return 1ULL << 10;
	case 'm':
	case 'M':
		return 1ULL << 20;
	case 'g':
	case 'G':
		return 1ULL << 30;
	case 't':
	case 'T':
		return 1ULL << 40;
	case 'p':
	case 'P':
		return 1ULL << 50;
	case 'e':
	case 'E':
		return 1ULL << 60;
	}
	return 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Value of ".DIGITS" as the correctly rounded double strtod would give.  The
 * digits are rewritten as "DIGITSe-N" so that the locale's decimal point
 * does not matter.  Returns 0, -ERANGE when strtod reports underflow, or
 * -ENOMEM.
 */
static int fraction_value(const char *digits, size_t n, double *out)
{
	size_t cap;
	char *buf;
	int r = 0;

	if (__builtin_add_overflow(n, (size_t)32, &cap))
		return -ENOMEM;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, digits, n);
	snprintf(buf + n, cap - n, "e-%zu", n);
	errno = 0;
	*out = strtod(buf, NULL);
	if (errno == ERANGE)
		r = -ERANGE;
	free(buf);
	return r;
}

/*
 * Parse what follows the integer part when it is a '.', the way qemu 7.2
 * does: with no digit after the point the point is simply skipped ("1.k");
 * a consumed exponent makes the input invalid; when the fraction underflows
 * qemu skips one extra character after the digits (observed: "2.<400
 * zeros>1k" is 2), and we reject the case where that runs past the end.
 * *pend is advanced; *valf gets the 0.64 fixed-point fraction.
 */
static int parse_fraction(const char **pend, uint64_t *valf)
{
	const char *f = *pend, *q = f + 1;
	size_t n = 0;
	double fr, x;
	int r;

	while (is_digit(q[n]))
		n++;
	if (n == 0) {
		*pend = f + 1;
		return 0;
	}
	q += n;
	if (*q == 'e' || *q == 'E') {
		const char *x2 = q + 1;

		if (*x2 == '+' || *x2 == '-')
			x2++;
		if (is_digit(*x2))
			return QIMG_SIZE_INVALID;
	}
	r = fraction_value(f + 1, n, &fr);
	if (r == -ENOMEM)
		return QIMG_SIZE_INVALID;
	if (r == -ERANGE) {
		if (*q == '\0')
			return QIMG_SIZE_INVALID;
		*pend = q + 1;
		return 0;
	}
	*pend = q;
	/* A fraction that rounds to 1.0 converts to 0 on x86-64 in qemu
	 * ("1.9999999999999999999999k" is 1024); keep that result. */
	x = ldexp(fr, 64);
	*valf = x >= 0x1p64 ? 0 : (uint64_t)x;
	return 0;
}

int qimg_parse_size(const char *str, uint64_t *out, int *hex_suffix_warning)
{
	const char *end;
	char *e;
	uint64_t val, valf = 0, mul;
	unsigned __int128 whole, part;
	int overflow = 0;
	int r;

	if (hex_suffix_warning)
		*hex_suffix_warning = 0;
	if (!str)
		return QIMG_SIZE_INVALID;

	errno = 0;
	val = strtoull(str, &e, 10);
	end = e;
	if (end == str || memchr(str, '-', (size_t)(end - str)))
		return QIMG_SIZE_INVALID;
	if (errno == ERANGE)
		return *end ? QIMG_SIZE_INVALID : QIMG_SIZE_RANGE;

	if (val == 0 && (*end == 'x' || *end == 'X')) {
		errno = 0;
		val = strtoull(str, &e, 16);
		end = e;
		if (errno == ERANGE)
			return *end ? QIMG_SIZE_INVALID : QIMG_SIZE_RANGE;
		if (*end == '.')
			return QIMG_SIZE_INVALID;
		if (suffix_mul(*end) && hex_suffix_warning)
			*hex_suffix_warning = 1;
	} else if (*end == '.') {
		r = parse_fraction(&end, &valf);
		if (r < 0)
			return r;
	}

	mul = suffix_mul(*end);
	if (mul)
		end++;
	else
		mul = 1;

	if (mul == 1) {
		if (valf)
			return QIMG_SIZE_INVALID;
	} else {
		/* 64.64 fixed point times the multiplier, rounded half up. */
		whole = (unsigned __int128)val * mul;
		part = (unsigned __int128)valf * mul;
		whole += part >> 64;
		whole += ((uint64_t)part >> 63) & 1;
		if (whole >> 64)
			overflow = 1;
		val = (uint64_t)whole;
	}
	if (*end)
		return QIMG_SIZE_INVALID;
	if (overflow)
		return QIMG_SIZE_RANGE;
	*out = val;
	return QIMG_SIZE_OK;
}

char *qimg_human_size(uint64_t val, char *buf, size_t buflen)
{
	static const char *const prefix[] = {
		"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
	};
	int e = 0, i;

	/* qemu's size_to_str: the unit switches at 1000 of the smaller one,
	 * and the value is printed with %g to 3 significant digits. */
	frexp((double)val / (1000.0 / 1024.0), &e);
	i = (e - 1) / 10;
	if (i < 0)
		i = 0;
	if (i > 6)
		i = 6;
	snprintf(buf, buflen, "%0.3g %sB",
		 (double)val / (double)(1ULL << (i * 10)), prefix[i]);
	return buf;
}
