/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the qcow2 driver: the input is opened as a qcow2
 * image (read-only, no backing chain), walked with block status and reads,
 * then opened again for `check` and checked without repairs, then
 * probed and walked. */
#include <unistd.h>

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd;

	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	fuzz_read(path, "qcow2", FUZZ_CHECK | FUZZ_PROBE);
	close(fd);
	return 0;
}
