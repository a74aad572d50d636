/* SPDX-License-Identifier: MIT */
/* For the harnesses whose input is text (option strings, command lines):
 * the input as a NUL-terminated string the harness owns. */
#ifndef QIMG_FUZZ_TEXT_H
#define QIMG_FUZZ_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'd copy of data with a NUL after it, or NULL when the input is
 * longer than max bytes (or memory is short): the caller frees it. */
static inline char *fuzz_text(const uint8_t *data, size_t size, size_t max)
{
	char *s;

	if (size > max)
		return NULL;
	s = malloc(size + 1);
	if (!s)
		return NULL;
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
