/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the vpc (VHD) driver, read side: the input is
 * opened as a vpc image (read-only, then with each force_size_calc mode),
 * walked with block status and reads, checked, then probed.  A refused
 * open must give a one-line message. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "qimg/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Open read-only as vpc (calc: force_size_calc or NULL); a refusal is one
 * line of text. */
static struct qimg_node *open_vpc(const char *path, const char *calc)
{
	struct qimg_open_args args;
	struct qimg_opts opts = { 0 };
	struct qimg_error err = { 0 };
	struct qimg_node *node = NULL;
	int r;

	memset(&args, 0, sizeof(args));
	args.filename = path;
	args.format = "vpc";
	args.flags = QIMG_OPEN_NO_BACKING | QIMG_OPEN_NO_LOCK;
	if (calc) {
		if (qimg_opts_set(&opts, "force_size_calc", calc) < 0)
			abort();
		args.opts = &opts;
	}
	r = qimg_open(&args, &node, &err);
	qimg_opts_free(&opts);
	if (r < 0) {
		if (node || !qimg_error_isset(&err) || !err.msg[0] ||
		    strchr(err.msg, '\n'))
			abort();
		return NULL;
	}
	if (!node)
		abort();
	return node;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const calcs[] = { NULL, "chs", "current_size" };
	struct qimg_check_result res;
	struct qimg_error err = { 0 };
	struct qimg_node *node;
	char path[64];
	size_t i;
	int fd;

	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;

	for (i = 0; i < sizeof(calcs) / sizeof(calcs[0]); i++) {
		node = open_vpc(path, calcs[i]);
		if (!node)
			continue;
		if (i == 0) {
			fuzz_walk(node);
			qimg_check(node, 0, &res, fuzz_ignore_line, NULL, &err);
			qimg_error_clear(&err);
		}
		qimg_close(node);
	}
	node = fuzz_open(path, NULL, 0);
	if (node) {
		fuzz_walk(node);
		qimg_close(node);
	}
	close(fd);
	return 0;
}
