/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the parallels write paths on damaged input: the
 * input is repaired (check -r all), then opened read-write, written at a
 * few places (allocating clusters, partial sectors, zeroes), flushed,
 * walked and checked.  Whatever the input: no crash, no sanitizer report,
 * no hang. */
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "qimg/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void writes(struct qimg_node *node)
{
	struct qimg_error err = { 0 };
	uint64_t size = qimg_size(node);
	static uint8_t buf[8192];
	uint64_t spots[4];
	size_t i;

	memset(buf, 0x5a, sizeof(buf));
	spots[0] = 0;
	spots[1] = size / 3;
	spots[2] = size / 2 + 4096;
	spots[3] = size > sizeof(buf) ? size - sizeof(buf) : 0;
	for (i = 0; i < 4; i++) {
		uint64_t off = spots[i], len = 4096 + 17;

		if (off >= size)
			continue;
		if (len > size - off)
			len = size - off;
		qimg_error_clear(&err);
		qimg_write(node, off, buf, len, &err);
		qimg_error_clear(&err);
		qimg_write_zeroes(node, off + len / 2, len / 2, 0, &err);
		qimg_error_clear(&err);
		qimg_discard(node, off, len / 3, &err);
	}
	if (size < (1ull << 36)) {
		qimg_error_clear(&err);
		qimg_truncate(node, size + (3u << 20) + 512, false, NULL, &err);
		qimg_error_clear(&err);
		qimg_truncate(node, size * 2 + (200u << 20), false, NULL, &err);
		qimg_error_clear(&err);
		qimg_truncate(node, size / 2, true, NULL, &err);
	}
	qimg_error_clear(&err);
	qimg_flush(node, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qimg_check_result res;
	struct qimg_error err = { 0 };
	struct qimg_node *node;
	char path[64];
	int fd;

	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	node = fuzz_open(path, "parallels", QIMG_OPEN_RDWR | QIMG_OPEN_CHECK);
	if (node) {
		memset(&res, 0, sizeof(res));
		qimg_check(node, QIMG_CHECK_FIX_LEAKS | QIMG_CHECK_FIX_ERRORS,
			   &res, fuzz_ignore_line, NULL, &err);
		qimg_error_clear(&err);
		qimg_close(node);
	}
	node = fuzz_open(path, "parallels", QIMG_OPEN_RDWR);
	if (node) {
		writes(node);
		fuzz_walk(node);
		memset(&res, 0, sizeof(res));
		qimg_check(node, 0, &res, fuzz_ignore_line, NULL, &err);
		qimg_close(node);
	}
	close(fd);
	return 0;
}
