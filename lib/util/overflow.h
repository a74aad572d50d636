/* SPDX-License-Identifier: MIT */
/* Checked arithmetic for values derived from image fields or user input.
 * Each helper returns true when the result overflowed (*r is then
 * unspecified), so a caller writes `if (qimg_add_overflow(a, b, &r))`. */
#ifndef QIMG_UTIL_OVERFLOW_H
#define QIMG_UTIL_OVERFLOW_H

#include <stdbool.h>
#include <stdint.h>

#define qimg_add_overflow(a, b, r) __builtin_add_overflow((a), (b), (r))
#define qimg_sub_overflow(a, b, r) __builtin_sub_overflow((a), (b), (r))
#define qimg_mul_overflow(a, b, r) __builtin_mul_overflow((a), (b), (r))

/* Round v up to a multiple of align (a power of two, nonzero). */
static inline bool qimg_align_up_overflow(uint64_t v, uint64_t align,
					  uint64_t *r)
{
	uint64_t t;

	if (__builtin_add_overflow(v, align - 1, &t))
		return true;
	*r = t & ~(align - 1);
	return false;
}

/* Ceiling division a / b for b != 0, without overflow. */
static inline uint64_t qimg_div_round_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

static inline bool qimg_is_power_of_2(uint64_t v)
{
	return v && !(v & (v - 1));
}

#endif
