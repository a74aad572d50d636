/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the qcow (v1) write paths on damaged input: the
 * input is opened read-write and written to (partial and whole clusters,
 * over compressed ones, zeroes, discard, a compressed cluster), its
 * backing link set and removed, and walked again.  Whatever the input: no
 * crash, no sanitizer report, no hang. */
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
	static uint8_t buf[3 * 65536];

	memset(buf, 0x5a, sizeof(buf));
	fuzz_write_spots(node, &spots);
	if (size >= 65536) {
		qimg_error_clear(&err);
		qimg_write_compressed(node, 0, buf, 65536, &err);
	}
	qimg_error_clear(&err);
	qimg_change_backing(node, "fuzz-backing.qcow", "qcow", &err);
	qimg_error_clear(&err);
	qimg_change_backing(node, NULL, NULL, &err);
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
	fuzz_rw(path, "qcow", 0, writes);
	close(fd);
	return 0;
}
