/* SPDX-License-Identifier: MIT */
/* Reading a driver's options tree (json:{...}, --image-opts) as qemu-img
 * reads its flattened options: every scalar as text, and a dict's keys
 * checked against the ones a driver knows. */
#ifndef QIMG_UTIL_VALUE_CHECK_H
#define QIMG_UTIL_VALUE_CHECK_H

#include <stdbool.h>

#include "qimg/error.h"
#include "qimg/value.h"

/* A scalar's text: a string as it is, a number in decimal (written into
 * buf, 32 bytes), a boolean as "on"/"off" (on_off) or "true"/"false".
 * NULL for NULL, a dict or a list. */
const char *qimg_value_text(const struct qimg_value *v, char *buf, bool on_off);

/* 0, or qemu-img's "Parameter 'PREFIX.KEY' is unexpected" for the first
 * key of dict d not in the NULL-terminated allowed list. */
int qimg_dict_only_keys(const struct qimg_value *d, const char *prefix,
			const char *const *allowed, struct qimg_error *err);

#endif
