/* SPDX-License-Identifier: MIT */
/* VMDK descriptor text: `key = "value"` lines looked up and replaced. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/vmdk/vmdk.h"

/* The start of the line holding `key` (at the line's start, then blanks
 * and '='), and in *val where its value starts; NULL when absent. */
static const char *find_key(const char *desc, const char *key, const char **val)
{
	size_t klen = strlen(key);
	const char *p = desc;

	while (p && *p) {
		const char *q = p;

		if (!strncmp(q, key, klen)) {
			q += klen;
			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '=') {
				q++;
				while (*q == ' ' || *q == '\t')
					q++;
				*val = q;
				return p;
			}
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

char *vmdk_desc_get(const char *desc, const char *key)
{
	const char *v, *end;
	char *out;

	if (!find_key(desc, key, &v))
		return NULL;
	if (*v == '"') {
		v++;
		end = strchr(v, '"');
		if (!end)
			return NULL;
	} else {
		end = v;
		while (*end && *end != '\n' && *end != '\r' && *end != ' ' &&
		       *end != '\t')
			end++;
	}
	out = malloc((size_t)(end - v) + 1);
	if (out) {
		memcpy(out, v, (size_t)(end - v));
		out[end - v] = 0;
	}
	return out;
}

int vmdk_desc_get_u32hex(const char *desc, const char *key, uint32_t *out)
{
	const char *v;
	unsigned long long x = 0;
	int digits = 0;

	if (!find_key(desc, key, &v))
		return -1;
	for (; *v; v++) {
		int d;

		if (*v >= '0' && *v <= '9')
			d = *v - '0';
		else if (*v >= 'a' && *v <= 'f')
			d = *v - 'a' + 10;
		else if (*v >= 'A' && *v <= 'F')
			d = *v - 'A' + 10;
		else
			break;
		x = (x << 4 | (unsigned)d) & 0xffffffffull;
		digits++;
	}
	if (!digits)
		return -1;
	*out = (uint32_t)x;
	return 0;
}

char *vmdk_desc_set(const char *desc, const char *key, const char *value)
{
	const char *v, *line = find_key(desc, key, &v), *end;
	size_t n = strlen(desc) + strlen(key) + strlen(value) + 8;
	char *out = malloc(n);

	if (!out)
		return NULL;
	if (line) {
		end = strchr(line, '\n');
		end = end ? end + 1 : line + strlen(line);
		snprintf(out, n, "%.*s%s=%s\n%s", (int)(line - desc), desc, key,
			 value, end);
		return out;
	}
	/* After the createType line, or at the end. */
	line = find_key(desc, "createType", &v);
	if (line) {
		end = strchr(line, '\n');
		end = end ? end + 1 : line + strlen(line);
	} else {
		end = desc + strlen(desc);
	}
	snprintf(out, n, "%.*s%s=%s\n%s", (int)(end - desc), desc, key, value,
		 end);
	return out;
}
