/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for format probing: the input is opened with no format
 * given (every driver's probe sees it, the winner opens it read-only), then
 * walked with block status and reads; then opened as raw explicitly. */
#include <unistd.h>

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qimg_node *node;
	char path[64];
	int fd;

	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;

	node = fuzz_open(path, NULL, 0);
	if (node) {
		fuzz_walk(node);
		qimg_close(node);
	}
	node = fuzz_open(path, "raw", 0);
	if (node) {
		fuzz_walk(node);
		qimg_close(node);
	}
	close(fd);
	return 0;
}
