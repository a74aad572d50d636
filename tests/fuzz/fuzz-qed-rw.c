/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the qed write paths on damaged input: the input
 * is repaired with `check -r all`, opened read-write (the NEED_CHECK
 * repair), written to (partial and whole clusters, zeroes, discard), its
 * backing link set and removed, grown, and walked again.  Whatever the
 * input: no crash, no sanitizer report, no hang. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "qimg/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void writes(struct qimg_node *node)
{
	struct qimg_error err = { 0 };
	uint64_t size = qimg_size(node);
	static uint8_t buf[3 * 65536];
	uint64_t spots[4];
	size_t i;

	memset(buf, 0x5a, sizeof(buf));
	spots[0] = 0;
	spots[1] = size / 3 & ~511ull;
	spots[2] = size / 2 + 4096;
	spots[3] = size > 65536 ? size - 65536 : 0;
	for (i = 0; i < 4; i++) {
		uint64_t off = spots[i], len = i % 2 ? sizeof(buf) : 4096 + 17;

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
	qimg_error_clear(&err);
	qimg_change_backing(node, "fuzz-backing.qed", "qed", &err);
	qimg_error_clear(&err);
	qimg_change_backing(node, NULL, NULL, &err);
	if (size < (1ull << 40)) {
		qimg_error_clear(&err);
		qimg_truncate(node, (size * 2 + (1 << 20)) & ~511ull, false,
			      NULL, &err);
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
	node = fuzz_open(path, "qed", QIMG_OPEN_RDWR | QIMG_OPEN_CHECK);
	if (node) {
		memset(&res, 0, sizeof(res));
		qimg_check(node, QIMG_CHECK_FIX_LEAKS | QIMG_CHECK_FIX_ERRORS,
			   &res, fuzz_ignore_line, NULL, &err);
		qimg_close(node);
	}
	node = fuzz_open(path, "qed", QIMG_OPEN_RDWR);
	if (node) {
		writes(node);
		fuzz_walk(node);
		qimg_close(node);
	}
	close(fd);
	return 0;
}
