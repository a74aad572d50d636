/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the qed driver, read side: the input is opened as
 * a qed image read-only (NEED_CHECK images included), walked with block
 * status and reads, checked, then probed.  A refused open gives one line
 * of text; nothing crashes, hangs or allocates without bound. */
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
	fuzz_read(path, "qed", FUZZ_CHECK | FUZZ_PROBE);
	close(fd);
	return 0;
}
