/* SPDX-License-Identifier: MIT */
/* -T, tracing, as qemu-img and qemu-nbd parse it (tool_trace_arg in
 * common.h). */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

/* No trace events here: every pattern "does not exist" (qemu's warning
 * for an unknown one) and "help" lists nothing; an events= file must
 * open (its lines are not read). */
int tool_trace_arg(const struct tool *t, const char *spec)
{
	const char *p = spec, *end, *eq, *val;
	char tok[256], key[64], pattern[256], events[256] = "";
	bool first = true, have_pattern = false;
	size_t n;

	while (*p) {
		end = strchr(p, ',');
		n = end ? (size_t)(end - p) : strlen(p);
		snprintf(tok, sizeof(tok), "%.*s", (int)n, p);
		p += n + (end ? 1 : 0);
		eq = strchr(tok, '=');
		if (!eq && first) {
			snprintf(key, sizeof(key), "enable");
			val = tok;
		} else if (!eq) {
			tool_warn(t,
				  "short-form boolean option '%s' "
				  "deprecated",
				  tok);
			fprintf(stderr, "Please use %s=on instead\n", tok);
			tool_err(t, "Invalid parameter '%s'", tok);
			return -1;
		} else {
			snprintf(key, sizeof(key), "%.*s", (int)(eq - tok),
				 tok);
			val = eq + 1;
		}
		first = false;
		if (!strcmp(key, "events")) {
			snprintf(events, sizeof(events), "%s", val);
			continue;
		}
		if (!strcmp(key, "file"))
			continue;
		if (strcmp(key, "enable")) {
			tool_err(t, "Invalid parameter '%s'", key);
			return -1;
		}
		/* The last enable= wins, once the whole spec parsed. */
		snprintf(pattern, sizeof(pattern), "%s", val);
		have_pattern = true;
	}
	if (have_pattern && !strcmp(pattern, "help"))
		return 1;
	if (have_pattern)
		tool_warn(t, "trace event '%s' does not exist", pattern);
	/* the last events= file is read once the rest is taken: one that
	 * cannot be opened stops the tool */
	if (*events) {
		FILE *f = fopen(events, "r");

		if (!f) {
			fprintf(stderr, "%s:%s: %s\n", t->prog, events,
				strerror(errno));
			return -1;
		}
		fclose(f);
	}
	return 0;
}
