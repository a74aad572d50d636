/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the vmdk write paths on damaged input: a
 * monolithic input is opened read-write as vmdk, written at a few places
 * (new grains filled around the data, grains rewritten in place, zeroed
 * grains, partial sectors), given whole compressed grains (streams take
 * only those), flushed, walked and checked.  Whatever the input: no crash,
 * no sanitizer report, no hang. */
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-vmdk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void writes(struct qimg_node *node)
{
	static const struct fuzz_spots spots = { .len_even = 1024 + 17,
						 .len_odd = 3 * 512,
						 .mid = 1024,
						 .tail = 2048,
						 .align = false };
	struct qimg_error err = { 0 };
	uint64_t size = qimg_size(node), cl = qimg_cluster_size(node), off;
	uint8_t *buf;

	fuzz_write_spots(node, &spots);
	/* Whole grains, compressed: at the start, in the middle, the last
	 * (maybe short) one. */
	if (cl && cl <= (1u << 20) && size) {
		buf = malloc(cl);
		if (buf) {
			memset(buf, 0x6b, cl);
			for (off = 0; off < size; off += size / 2 + 1) {
				uint64_t o = off / cl * cl, n = size - o;

				qimg_error_clear(&err);
				qimg_write_compressed(node, o, buf,
						      n < cl ? n : cl, &err);
			}
			free(buf);
		}
	}
	qimg_error_clear(&err);
	qimg_flush(node, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd;

	if (!fuzz_vmdk_monolithic(data, size))
		return 0;
	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	fuzz_rw(path, "vmdk", FUZZ_CHECK, writes);
	close(fd);
	return 0;
}
