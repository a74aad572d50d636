/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the qcow2 write paths on damaged input: the input
 * is opened read-write (dirty-bit repair, corrupt-bit handling), repaired
 * with `check -r all`, then written to (plain, compressed, zeroes,
 * discard, copy offload from a raw file), its persistent bitmaps changed (added, merged, cleared,
 * removed), snapshotted (create, apply, delete), resized (shrunk, then
 * grown) and walked again.  Whatever the input: no crash, no sanitizer
 * report, no hang. */
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-common.h"
#include "qimg/bitmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bitmaps(struct qimg_node *node)
{
	struct qimg_error err = { 0 };
	struct qimg_bitmap_info *b = NULL;
	size_t n = 0, i;

	qimg_bitmap_add(node, "fz", false, 0, false, &err);
	qimg_error_clear(&err);
	qimg_bitmap_add(node, "fz512", true, 512, true, &err);
	qimg_error_clear(&err);
	if (qimg_bitmap_list(node, &b, &n, &err) < 0)
		return;
	for (i = 0; i < n; i++) {
		qimg_error_clear(&err);
		qimg_bitmap_merge(node, "fz", node, b[i].name, &err);
		qimg_error_clear(&err);
		qimg_bitmap_merge(node, "fz512", node, b[i].name, &err);
		qimg_error_clear(&err);
		qimg_bitmap_enable(node, b[i].name, i % 2, &err);
		qimg_error_clear(&err);
		if (i % 3 == 1)
			qimg_bitmap_clear(node, b[i].name, &err);
		else if (i % 3 == 2)
			qimg_bitmap_remove(node, b[i].name, &err);
	}
	qimg_bitmap_info_free(b, n);
	qimg_error_clear(&err);
	qimg_bitmap_remove(node, "fz512", &err);
}

/* Copy offload (convert -C) from a raw file: whole clusters at 0, then an
 * unaligned piece (copy-on-write around it through a buffer). */
static void copies(struct qimg_node *node)
{
	static uint8_t pat[131072];
	struct qimg_error err = { 0 };
	struct qimg_node *src = NULL;
	uint64_t size = qimg_size(node);
	struct qimg_open_args a = { .format = "raw" };
	char path[64];
	int fd;

	memset(pat, 0xc3, sizeof(pat));
	fd = fuzz_make_file(pat, sizeof(pat), path, sizeof(path));
	if (fd < 0)
		return;
	a.filename = path;
	if (qimg_open(&a, &src, &err) == 0) {
		qimg_copy_range(src, 0, node, 0,
				size < sizeof(pat) ? size : sizeof(pat), &err);
		qimg_error_clear(&err);
		if (size > 4103 + 5000)
			qimg_copy_range(src, 100, node, 4103, 5000, &err);
		qimg_close(src);
	}
	close(fd);
}

static void writes(struct qimg_node *node)
{
	static const struct fuzz_spots spots = { .len_even = 3 * 4096 + 17,
						 .len_odd = 3 * 4096 + 17,
						 .mid = 4096,
						 .tail = 65536,
						 .align = true,
						 .discard = true };
	struct qimg_error err = { 0 };
	uint64_t size = qimg_size(node);
	static uint8_t buf[65536];

	memset(buf, 0x5a, sizeof(buf));
	fuzz_write_spots(node, &spots);
	copies(node);
	if (size >= sizeof(buf)) {
		qimg_error_clear(&err);
		qimg_write_compressed(node, 0, buf, sizeof(buf), &err);
	}
	/* snapshots: take one, write, go back to it, delete it */
	qimg_error_clear(&err);
	if (qimg_snapshot_create(node, "fz", &err) == 0) {
		qimg_error_clear(&err);
		qimg_write(node, 0, buf, 4096 < size ? 4096 : size, &err);
		qimg_error_clear(&err);
		qimg_snapshot_goto(node, "fz", &err);
		qimg_error_clear(&err);
		qimg_snapshot_delete(node, "fz", &err);
	}
	/* persistent bitmaps: the image's own merged into new ones, which
	 * are then changed and some removed (kept ones are stored at close) */
	bitmaps(node);
	/* the backing link: set, then removed (rebase -u) */
	qimg_error_clear(&err);
	qimg_change_backing(node, "fuzz-backing.qcow2", "qcow2", &err);
	qimg_error_clear(&err);
	qimg_change_backing(node, NULL, NULL, &err);
	/* resize: shrink by a third (dropping tables), then grow past the
	 * old size (a larger L1 table) */
	if (size >= 4096) {
		uint64_t small = (size - size / 3) & ~511ull;

		qimg_error_clear(&err);
		qimg_truncate(node, small, QIMG_TRUNCATE_SHRINK, NULL, &err);
		qimg_error_clear(&err);
		if (size < (1ull << 40))
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

	fuzz_rw(path, "qcow2", FUZZ_REPAIR, writes);
	close(fd);
	return 0;
}
