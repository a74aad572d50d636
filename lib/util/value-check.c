/* SPDX-License-Identifier: MIT */
/* Options trees read as qemu-img reads its flattened options. */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/value-check.h"

const char *qimg_value_text(const struct qimg_value *v, char *buf, bool on_off)
{
	if (!v)
		return NULL;
	switch (qimg_value_type(v)) {
	case QIMG_VALUE_STR:
		return qimg_value_get_str(v);
	case QIMG_VALUE_INT:
		snprintf(buf, 32, "%lld", (long long)qimg_value_get_int(v));
		return buf;
	case QIMG_VALUE_UINT:
		snprintf(buf, 32, "%llu",
			 (unsigned long long)qimg_value_get_int(v));
		return buf;
	case QIMG_VALUE_BOOL:
		if (on_off)
			return qimg_value_get_bool(v) ? "on" : "off";
		return qimg_value_get_bool(v) ? "true" : "false";
	case QIMG_VALUE_DOUBLE:
		return qimg_value_get_double_text(v);
	default:
		return NULL;
	}
}

int qimg_dict_only_keys(const struct qimg_value *d, const char *prefix,
			const char *const *allowed, struct qimg_error *err)
{
	const char *key, *const *a;
	size_t i;

	for (i = 0; i < qimg_value_count(d); i++) {
		qimg_value_at(d, i, &key);
		for (a = allowed; *a && strcmp(*a, key); a++)
			;
		if (!*a)
			return qimg_error_set(err, EINVAL,
					      "Parameter '%s.%s' is unexpected",
					      prefix, key);
	}
	return 0;
}
