/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the vhdx driver, read side: the image the input
 * describes (fuzz-vhdx.h) is opened read-only as vhdx and probed, walked
 * with block status and reads, and checked.  A refused open says why;
 * no crash, no sanitizer report, no hang whatever the input. */
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-vhdx.h"
#include "qimg/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qimg_check_result res;
	struct qimg_error err = { 0 };
	struct qimg_node *node;
	char path[64];
	int fd;

	fd = vhdx_fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	node = fuzz_open(path, "vhdx", 0);
	if (node) {
		fuzz_walk(node);
		qimg_close(node);
	}
	node = fuzz_open(path, NULL, QIMG_OPEN_CHECK);
	if (node) {
		memset(&res, 0, sizeof(res));
		qimg_check(node, 0, &res, fuzz_ignore_line, NULL, &err);
		fuzz_walk(node);
		qimg_close(node);
	}
	close(fd);
	return 0;
}
