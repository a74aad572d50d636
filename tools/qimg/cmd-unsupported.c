/* SPDX-License-Identifier: MIT */
/* Commands qimg knows by name but does not implement yet (none at
 * present): they say so clearly and fail
 * instead of pretending to work. */
#include <string.h>

#include "common.h"

int cmd_unsupported(const struct tool *t, int argc, char **argv)
{
	int i;

	/* -h / --help works in every command, as in qemu-img. */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			tool_print_help(t);
			return 0;
		}
	}
	tool_err(t, "'%s' is not supported yet", argv[0]);
	return 1;
}
