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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void writes(struct qimg_node *node)
{
	static const struct fuzz_spots spots = { .len_even = 4096 + 17,
						 .len_odd = 3 * 65536,
						 .mid = 4096,
						 .tail = 65536,
						 .align = true,
						 .discard = true };
	struct qimg_error err = { 0 };
	uint64_t size = qimg_size(node);

	fuzz_write_spots(node, &spots);
	qimg_error_clear(&err);
	qimg_change_backing(node, "fuzz-backing.qed", "qed", &err);
	qimg_error_clear(&err);
	qimg_change_backing(node, NULL, NULL, &err);
	if (size < (1ull << 40)) {
		qimg_error_clear(&err);
		qimg_truncate(node, (size * 2 + (1 << 20)) & ~511ull, 0, NULL,
			      &err);
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
	fuzz_rw(path, "qed", FUZZ_REPAIR, writes);
	close(fd);
	return 0;
}
