/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the parallels driver, read side: the input is opened
 * read-only as parallels (and probed), walked with block status and reads, and
 * checked; a refused open must give one line of text. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "qimg/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(struct qimg_node *node)
{
	struct qimg_check_result res;
	struct qimg_error err = { 0 };

	memset(&res, 0, sizeof(res));
	qimg_check(node, 0, &res, fuzz_ignore_line, NULL, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qimg_node *node;
	char path[64];
	int fd;

	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	node = fuzz_open(path, "parallels", QIMG_OPEN_CHECK);
	if (node) {
		check(node);
		fuzz_walk(node);
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
