/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the vhdx driver, write side: the image the input
 * describes (fuzz-vhdx.h) is opened read-write (its log replayed),
 * checked with repair, written to (data, zeroes, at the start, inside,
 * at the end), resized, flushed and read back.  No crash, no sanitizer report, no
 * hang whatever the input. */
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-vhdx.h"
#include "qimg/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void writes(struct qimg_node *node)
{
	struct qimg_error err = { 0 };
	uint64_t size = qimg_size(node), spots[4];
	static uint8_t buf[3 * 4096 + 512];
	size_t i;

	memset(buf, 0x5a, sizeof(buf));
	spots[0] = 0;
	spots[1] = size / 3 & ~511ull;
	spots[2] = size / 2 + 4096;
	spots[3] = size > sizeof(buf) ? (size - sizeof(buf)) & ~511ull : 0;
	for (i = 0; i < 4; i++) {
		uint64_t off = spots[i], len = sizeof(buf);

		if (off >= size)
			continue;
		if (len > size - off)
			len = size - off;
		qimg_error_clear(&err);
		qimg_write(node, off, buf, len, &err);
		qimg_error_clear(&err);
		qimg_write_zeroes(node, off + len / 2, len / 2, 0, &err);
	}
	/* resize: grow (within the BAT region), then shrink back (refused
	 * where data lies past the end) */
	qimg_error_clear(&err);
	if (size < (1ull << 40) &&
	    qimg_truncate(node, size + (9u << 20), false, NULL, &err) == 0) {
		qimg_error_clear(&err);
		qimg_truncate(node, size, true, NULL, &err);
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

	fd = vhdx_fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	node = fuzz_open(path, "vhdx", QIMG_OPEN_RDWR | QIMG_OPEN_CHECK);
	if (node) {
		memset(&res, 0, sizeof(res));
		qimg_check(node, QIMG_CHECK_FIX_LEAKS | QIMG_CHECK_FIX_ERRORS,
			   &res, fuzz_ignore_line, NULL, &err);
		qimg_close(node);
	}
	node = fuzz_open(path, "vhdx", QIMG_OPEN_RDWR);
	if (node) {
		writes(node);
		fuzz_walk(node);
		qimg_close(node);
	}
	close(fd);
	return 0;
}
