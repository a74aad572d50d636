/* SPDX-License-Identifier: MIT */
/* One typed growable array.  QIMG_VECTOR(names, char *) declares
 * `struct names { char **v; size_t len, cap; }` and static inline helpers
 * names_reserve(), names_append(), names_free(); zero-initialise before use.
 * Growth is checked against overflow; helpers return 0 or -ENOMEM. */
#ifndef QIMG_UTIL_VECTOR_H
#define QIMG_UTIL_VECTOR_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Grow *ptr (elements of elsize bytes, capacity *cap) so that it holds at
 * least len + extra elements.  Doubles the capacity, minimum 8. */
static inline int qimg_vector_grow(void **ptr, size_t *cap, size_t len,
				   size_t extra, size_t elsize)
{
	size_t want, ncap, bytes;
	void *p;

	if (__builtin_add_overflow(len, extra, &want))
		return -ENOMEM;
	if (want <= *cap)
		return 0;
	ncap = *cap ? *cap : 8;
	while (ncap < want) {
		if (__builtin_mul_overflow(ncap, 2, &ncap))
			return -ENOMEM;
	}
	if (__builtin_mul_overflow(ncap, elsize, &bytes))
		return -ENOMEM;
	p = realloc(*ptr, bytes);
	if (!p)
		return -ENOMEM;
	*ptr = p;
	*cap = ncap;
	return 0;
}

#define QIMG_VECTOR(name, type)                                                \
	struct name {                                                          \
		type *v;                                                       \
		size_t len, cap;                                               \
	};                                                                     \
	static inline __attribute__((unused)) int name##_reserve(              \
		struct name *vec, size_t extra)                                \
	{                                                                      \
		void *p = vec->v;                                              \
		int r = qimg_vector_grow(&p, &vec->cap, vec->len, extra,       \
					 sizeof(type));                        \
		vec->v = p;                                                    \
		return r;                                                      \
	}                                                                      \
	static inline __attribute__((unused)) int name##_append(               \
		struct name *vec, type elem)                                   \
	{                                                                      \
		int r = name##_reserve(vec, 1);                                \
		if (r < 0)                                                     \
			return r;                                              \
		vec->v[vec->len++] = elem;                                     \
		return 0;                                                      \
	}                                                                      \
	static inline                                                          \
		__attribute__((unused)) void name##_free(struct name *vec)     \
	{                                                                      \
		free(vec->v);                                                  \
		vec->v = NULL;                                                 \
		vec->len = vec->cap = 0;                                       \
	}

#endif
