/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the vmdk driver, read side: the input is opened
 * read-only as vmdk (and probed), walked with block status and reads, and
 * checked.  Only the monolithic kinds are fuzzed (a file starting with a
 * hosted sparse or COWD header that does not send us to a descriptor):
 * a descriptor would name other files to open. */
#include <unistd.h>

#include "fuzz-vmdk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd;

	if (!fuzz_vmdk_monolithic(data, size))
		return 0;
	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	fuzz_read(path, "vmdk", FUZZ_CHECK | FUZZ_PROBE | FUZZ_NO_IO);
	close(fd);
	return 0;
}
