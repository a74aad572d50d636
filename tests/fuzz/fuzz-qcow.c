/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the qcow (v1) driver, read side: the input is
 * opened as a qcow image read-only (and for info only, where encrypted
 * images open), walked with block status and reads (compressed clusters
 * inflated), checked, then probed.  A refused open gives one line of
 * text; nothing crashes, hangs or allocates without bound. */
#include <stdlib.h>
#include <string.h>
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
	node = fuzz_open(path, "qcow", 0);
	if (node) {
		fuzz_walk(node);
		qimg_close(node);
	}
	node = fuzz_open(path, "qcow", QIMG_OPEN_NO_IO);
	if (node)
		qimg_close(node);
	node = fuzz_open(path, "qcow", QIMG_OPEN_CHECK);
	if (node) {
		memset(&res, 0, sizeof(res));
		qimg_check(node, 0, &res, fuzz_ignore_line, NULL, &err);
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
