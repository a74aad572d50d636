/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the vpc (VHD) write paths on damaged input: the
 * input is opened read-write as vpc, written to (into allocated and new
 * blocks, zeroes, discards, unaligned pieces), resized (shrunk, then
 * grown), flushed and walked again.  Whatever the input: no crash, no
 * sanitizer report, no hang. */
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void writes(struct qimg_node *node)
{
	static const struct fuzz_spots spots = { .len_even = 3 * 4096 + 17,
						 .len_odd = 3 * 4096 + 17,
						 .mid = 4093,
						 .tail = 65536,
						 .align = true,
						 .discard = true };
	struct qimg_error err = { 0 };
	uint64_t size = qimg_size(node);

	fuzz_write_spots(node, &spots);
	if (size >= 4096) {
		uint64_t small = (size - size / 3) & ~511ull;

		qimg_error_clear(&err);
		qimg_truncate(node, small, QIMG_TRUNCATE_SHRINK, NULL, &err);
		qimg_error_clear(&err);
		if (size < (1ull << 36))
			qimg_truncate(node, (size * 2 + (1 << 20)) & ~511ull, 0,
				      NULL, &err);
	}
	qimg_error_clear(&err);
	qimg_flush(node, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd;

	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;

	fuzz_rw(path, "vpc", FUZZ_REOPEN, writes);
	close(fd);
	return 0;
}
