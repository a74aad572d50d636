/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the dmg driver: the input is opened as a dmg image
 * (read-only), under a name ending in .dmg so that probing picks it too,
 * and walked with block status and reads; a refused open gives a message,
 * and a read-write open is always refused. */
#include <stdio.h>
#include <unistd.h>

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], link[96];
	int fd;

	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	fuzz_read(path, "dmg", FUZZ_REFUSE_RW);
	/* Probing goes by the name: a symlink ending in .dmg. */
	snprintf(link, sizeof(link), "/tmp/qimg-fuzz-dmg.%d.dmg",
		 (int)getpid());
	unlink(link);
	if (symlink(path, link) == 0) {
		struct qimg_node *node = fuzz_open(link, NULL, 0);

		if (node) {
			fuzz_walk(node);
			qimg_close(node);
		}
		unlink(link);
	}
	close(fd);
	return 0;
}
