/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the vpc (VHD) driver, read side: the input is
 * opened as a vpc image (read-only, then with each force_size_calc mode),
 * walked with block status and reads, checked, then probed.  A refused
 * open must give a one-line message. */
#include <unistd.h>

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const calcs[] = { "chs", "current_size" };
	struct qimg_node *node;
	char path[64];
	size_t i;
	int fd;

	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	fuzz_read(path, "vpc", FUZZ_CHECK | FUZZ_PROBE);
	for (i = 0; i < sizeof(calcs) / sizeof(calcs[0]); i++) {
		node = fuzz_open_opt(path, "vpc", 0, "force_size_calc",
				     calcs[i]);
		if (node)
			qimg_close(node);
	}
	close(fd);
	return 0;
}
