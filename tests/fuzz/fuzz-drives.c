/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for QEMU's storage command line as `qimg drives` and
 * `qimg run` read it: the input is split into arguments at newlines, sorted
 * (tools/qimg/drive-args.c: -hda.., -drive, -object, -machine, flags) and
 * every drive checked and placed (drive-parse.c: QemuOpts text, aliases,
 * cache modes, bus/unit/index, ids, error actions, throttling).  Nothing is
 * opened. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drive.h"
#include "fuzz-text.h"

#define MAX_TEXT 8192
#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tool t = { .prog = "fuzz" };
	struct drive_set set;
	char *s, *argv[MAX_ARGS], *p;
	int argc = 0;

	s = fuzz_text(data, size, MAX_TEXT);
	if (!s)
		return 0;
	for (p = s; argc < MAX_ARGS;) {
		char *nl = strchr(p, '\n');

		argv[argc++] = p;
		if (!nl)
			break;
		*nl = 0;
		p = nl + 1;
	}
	t.objects = qimg_objects_new();
	if (t.objects && drive_set_parse(&t, argc, argv, &set) == 0)
		for (int i = 0; i < set.n; i++)
			if (drive_prepare(&t, &set, i))
				break;
	if (t.objects)
		drive_set_free(&set);
	qimg_objects_free(t.objects);
	free(s);
	return 0;
}
