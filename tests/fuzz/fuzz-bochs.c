/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the bochs driver: the input is opened as a bochs
 * image (read-only) and walked with block status and reads, then probed;
 * a refused open must give a one-line message, and a read-write open must
 * always be refused. */
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
	fuzz_read(path, "bochs", FUZZ_PROBE | FUZZ_REFUSE_RW);
	close(fd);
	return 0;
}
