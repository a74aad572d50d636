/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the vhdx driver, read side: the image the input
 * describes (fuzz-vhdx.h) is opened read-only as vhdx and probed, walked
 * with block status and reads, and checked.  A refused open says why;
 * no crash, no sanitizer report, no hang whatever the input. */
#include <unistd.h>

#include "fuzz-vhdx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd;

	fd = vhdx_fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	fuzz_read(path, "vhdx", FUZZ_CHECK | FUZZ_PROBE);
	close(fd);
	return 0;
}
