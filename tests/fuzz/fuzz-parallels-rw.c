/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the parallels write paths on damaged input: the
 * input is repaired (check -r all), then opened read-write, written at a
 * few places (allocating clusters, partial sectors, zeroes), flushed,
 * walked and checked.  Whatever the input: no crash, no sanitizer report,
 * no hang. */
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void writes(struct qimg_node *node)
{
	static const struct fuzz_spots spots = { .len_even = 4096 + 17,
						 .len_odd = 4096 + 17,
						 .mid = 4096,
						 .tail = 8192,
						 .discard = true };
	struct qimg_error err = { 0 };
	uint64_t size = qimg_size(node);

	fuzz_write_spots(node, &spots);
	if (size < (1ull << 36)) {
		qimg_error_clear(&err);
		qimg_truncate(node, size + (3u << 20) + 512, 0, NULL, &err);
		qimg_error_clear(&err);
		qimg_truncate(node, size * 2 + (200u << 20), 0, NULL, &err);
		qimg_error_clear(&err);
		qimg_truncate(node, size / 2, QIMG_TRUNCATE_SHRINK, NULL, &err);
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
	fuzz_rw(path, "parallels", FUZZ_REPAIR | FUZZ_CHECK, writes);
	close(fd);
	return 0;
}
