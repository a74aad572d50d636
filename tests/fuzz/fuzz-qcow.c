/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the qcow (v1) driver, read side: the input is
 * opened as a qcow image read-only (and for info only, where encrypted
 * images open), walked with block status and reads (compressed clusters
 * inflated), checked, then probed.  A refused open gives one line of
 * text; nothing crashes, hangs or allocates without bound. */
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
	fuzz_read(path, "qcow", FUZZ_NO_IO | FUZZ_CHECK | FUZZ_PROBE);
	close(fd);
	return 0;
}
