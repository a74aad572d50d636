/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the qcow2 driver: the input is opened as a qcow2
 * image (read-only, no backing chain), walked with block status and reads,
 * then opened again for `check` and checked without repairs. */
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "qimg/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qimg_check_result res;
	struct qimg_error err = { 0 };
	struct qimg_node *node;
	char path[64];
	int fd;

	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;

	node = fuzz_open(path, "qcow2", 0);
	if (node) {
		fuzz_walk(node);
		qimg_close(node);
	}

	node = fuzz_open(path, "qcow2", QIMG_OPEN_CHECK);
	if (node) {
		qimg_check(node, 0, &res, fuzz_ignore_line, NULL, &err);
		qimg_close(node);
	}
	close(fd);
	return 0;
}
