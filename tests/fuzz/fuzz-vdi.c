/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the vdi driver, read side: the input is opened
 * read-only as vdi (and probed), walked with block status and reads, and
 * checked; a refused open must give one line of text. */
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
	fuzz_read(path, "vdi", FUZZ_CHECK | FUZZ_PROBE);
	close(fd);
	return 0;
}
