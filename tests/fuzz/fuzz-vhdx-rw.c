/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the vhdx driver, write side: the image the input
 * describes (fuzz-vhdx.h) is opened read-write (its log replayed),
 * checked with repair, written to (data, zeroes, at the start, inside,
 * at the end), resized, flushed and read back.  No crash, no sanitizer report, no
 * hang whatever the input. */
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-vhdx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void writes(struct qimg_node *node)
{
	static const struct fuzz_spots spots = { .len_even = 3 * 4096 + 512,
						 .len_odd = 3 * 4096 + 512,
						 .mid = 4096,
						 .tail = 3 * 4096 + 512,
						 .align = true };
	struct qimg_error err = { 0 };
	uint64_t size = qimg_size(node);

	fuzz_write_spots(node, &spots);
	/* resize: grow (within the BAT region), then shrink back (refused
	 * where data lies past the end) */
	qimg_error_clear(&err);
	if (size < (1ull << 40) &&
	    qimg_truncate(node, size + (9u << 20), 0, NULL, &err) == 0) {
		qimg_error_clear(&err);
		qimg_truncate(node, size, QIMG_TRUNCATE_SHRINK, NULL, &err);
	}
	qimg_error_clear(&err);
	qimg_flush(node, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd;

	fd = vhdx_fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	fuzz_rw(path, "vhdx", FUZZ_REPAIR, writes);
	close(fd);
	return 0;
}
