/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz harnesses (header-only, file-local functions, so the
 * harness build stays one .c per program): put the input in an anonymous
 * memory file, open it read-only without backing files or locks, and walk
 * the opened image (block status, bounded reads) the way the tool would. */
#ifndef QIMG_FUZZ_COMMON_H
#define QIMG_FUZZ_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qimg/check.h"
#include "qimg/image.h"
#include "qimg/opts.h"

/* Inputs larger than this are ignored (seeds are well under 64 KiB). */
#define FUZZ_MAX_INPUT (1u << 20)
#define WALK_MAX_EXTENTS 4096
#define WALK_MAX_READ (4u << 20)  /* bytes of data read per input */
#define WALK_FULL_READ (8u << 20) /* images this small are read whole */
#define CHUNK (64u * 1024)

/* Write data to a fresh memfd (or an unlinked temp file); fill path with a
 * name that opens it.  Returns the fd or -1. */
static int fuzz_make_file(const uint8_t *data, size_t size, char *path,
			  size_t pathlen)
{
	size_t done = 0;
	int fd;

	fd = memfd_create("qimg-fuzz", MFD_CLOEXEC);
	if (fd < 0) {
		char tmpl[] = "/tmp/qimg-fuzz.XXXXXX";

		fd = mkstemp(tmpl);
		if (fd < 0)
			return -1;
		unlink(tmpl);
	}
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	snprintf(path, pathlen, "/proc/self/fd/%d", fd);
	return fd;
}

/* The input as a file (NULL when it is too large or cannot be made): path
 * names it, *fd must be closed by the caller. */
static __attribute__((unused)) int fuzz_input(const uint8_t *data, size_t size,
					      char *path, size_t pathlen)
{
	if (size > FUZZ_MAX_INPUT)
		return -1;
	return fuzz_make_file(data, size, path, pathlen);
}

/* Checker report lines are not looked at. */
static __attribute__((unused)) void fuzz_ignore_line(void *opaque,
						     const char *line)
{
	(void)opaque;
	(void)line;
}

static bool fuzz_wants_data_file(const char *path)
{
	uint8_t h[80];
	FILE *f = fopen(path, "rb");
	bool yes;

	if (!f)
		return false;
	yes = fread(h, 1, sizeof(h), f) == sizeof(h) && h[0] == 'Q' &&
	      h[1] == 'F' && h[2] == 'I' && h[3] == 0xfb && h[7] >= 3 &&
	      (h[79] & 4);
	fclose(f);
	return yes;
}

/* Open path with format (NULL: probe) and flags, never the backing chain
 * or locks, with one open option KEY=VALUE when key is not NULL.  Returns
 * the node or NULL.  Aborts when a failed open leaves a node or gives no
 * message (a first line, and qemu's hint lines after it where qemu-img
 * prints them): a broken API contract whatever the input. */
static struct qimg_node *fuzz_open_opt(const char *path, const char *format,
				       unsigned int flags, const char *key,
				       const char *value)
{
	struct qimg_open_args args;
	struct qimg_opts opts = { 0 };
	struct qimg_error err = { 0 };
	struct qimg_node *node = NULL;
	int r;

	memset(&args, 0, sizeof(args));
	args.filename = path;
	args.format = format;
	args.flags = flags | QIMG_OPEN_NO_BACKING | QIMG_OPEN_NO_LOCK;
	if (fuzz_wants_data_file(path)) {
		/* Reads as zeros, writes go nowhere. */
		if (qimg_opts_set(&opts, "data-file.driver", "null-co") < 0 ||
		    qimg_opts_set(&opts, "data-file.size", "1T") < 0 ||
		    qimg_opts_set(&opts, "data-file.read-zeroes", "on") < 0)
			abort();
	}
	if (key && qimg_opts_set(&opts, key, value) < 0)
		abort();
	args.opts = &opts;
	r = qimg_open(&args, &node, &err);
	qimg_opts_free(&opts);
	if (r < 0) {
		if (node || !qimg_error_isset(&err) || !err.msg[0] ||
		    err.msg[0] == '\n')
			abort();
		return NULL;
	}
	if (!node)
		abort();
	return node;
}

static struct qimg_node *fuzz_open(const char *path, const char *format,
				   unsigned int flags)
{
	return fuzz_open_opt(path, format, flags, NULL, NULL);
}

/* check (repair with flags), its report thrown away. */
static void fuzz_check(struct qimg_node *node, unsigned int flags)
{
	struct qimg_check_result res;
	struct qimg_error err = { 0 };

	memset(&res, 0, sizeof(res));
	qimg_check(node, flags, &res, fuzz_ignore_line, NULL, &err);
}

/* `check -r all` on the input, opened read-write as format. */
static __attribute__((unused)) void fuzz_repair(const char *path,
						const char *format)
{
	struct qimg_node *node;

	node = fuzz_open(path, format, QIMG_OPEN_RDWR | QIMG_OPEN_CHECK);
	if (node) {
		fuzz_check(node, QIMG_CHECK_FIX_LEAKS | QIMG_CHECK_FIX_ERRORS);
		qimg_close(node);
	}
}

static void read_at(struct qimg_node *node, uint64_t off, size_t len,
		    uint8_t *buf)
{
	struct qimg_error err = { 0 };
	uint64_t size = qimg_size(node);

	if (off >= size)
		return;
	if (len > size - off)
		len = (size_t)(size - off);
	if (len)
		qimg_read(node, off, buf, len, &err);
}

/* Block-status walk over the whole virtual size (bounded number of
 * extents) with reads of a bounded amount of the data found, then the whole
 * image read in chunks when it is small, plus reads at a few fixed places.  Aborts on an empty extent or one longer than asked
 * for, which is a bug whatever the input. */
static void fuzz_walk(struct qimg_node *node)
{
	uint64_t size = qimg_size(node), off = 0, read_total = 0;
	uint8_t *buf;
	int i;

	buf = malloc(CHUNK);
	if (!buf)
		return;
	for (i = 0; i < WALK_MAX_EXTENTS && off < size; i++) {
		struct qimg_error err = { 0 };
		struct qimg_extent ext;
		int r;

		memset(&ext, 0, sizeof(ext));
		r = qimg_block_status_above(node, NULL, off, size - off, &ext,
					    &err);
		if (r < 0)
			break;
		if (ext.len == 0 || ext.len > size - off)
			abort();
		if ((ext.flags & QIMG_BS_DATA) && read_total < WALK_MAX_READ) {
			size_t n = ext.len < CHUNK ? (size_t)ext.len : CHUNK;

			read_at(node, off, n, buf);
			read_total += n;
		}
		off += ext.len;
	}
	/* small images: every byte, in chunks */
	if (size <= WALK_FULL_READ)
		for (off = 0; off < size; off += CHUNK)
			read_at(node, off, CHUNK, buf);
	/* fixed places: start, an unaligned spot, the middle, the end */
	read_at(node, 0, CHUNK, buf);
	read_at(node, 511, 1025, buf);
	read_at(node, size / 2, CHUNK, buf);
	if (size > CHUNK)
		read_at(node, size - CHUNK + 1, CHUNK - 1, buf);
	free(buf);
}

/* What the read side of a harness does with the input (fuzz_read):
 * open it as the format and walk it; open it for `check` and check it
 * (FUZZ_CHECK); open it for info only (FUZZ_NO_IO); probe it and walk it
 * (FUZZ_PROBE); and make sure a read-write open is refused, for read-only
 * formats (FUZZ_REFUSE_RW). */
#define FUZZ_CHECK 1u
#define FUZZ_NO_IO 2u
#define FUZZ_PROBE 4u
#define FUZZ_REFUSE_RW 8u

static __attribute__((unused)) void
fuzz_read(const char *path, const char *format, unsigned int what)
{
	struct qimg_node *node;

	node = fuzz_open(path, format, 0);
	if (node) {
		fuzz_walk(node);
		qimg_close(node);
	}
	if (what & FUZZ_NO_IO) {
		node = fuzz_open(path, format, QIMG_OPEN_NO_IO);
		if (node)
			qimg_close(node);
	}
	if (what & FUZZ_CHECK) {
		node = fuzz_open(path, format, QIMG_OPEN_CHECK);
		if (node) {
			fuzz_check(node, 0);
			qimg_close(node);
		}
	}
	if (what & FUZZ_PROBE) {
		node = fuzz_open(path, NULL, 0);
		if (node) {
			fuzz_walk(node);
			qimg_close(node);
		}
	}
	if (what & FUZZ_REFUSE_RW) {
		struct qimg_open_args args;
		struct qimg_error err = { 0 };

		node = NULL;
		memset(&args, 0, sizeof(args));
		args.filename = path;
		args.format = format;
		args.flags = QIMG_OPEN_RDWR | QIMG_OPEN_NO_BACKING |
			     QIMG_OPEN_NO_LOCK;
		if (qimg_open(&args, &node, &err) == 0 || node ||
		    !qimg_error_isset(&err))
			abort();
	}
}

/* The writes of the read-write harnesses, at four places: the start, a
 * third of the way (sector-aligned when align), the middle plus mid, and
 * tail bytes before the end (sector-aligned when align).  At the even
 * places len_even bytes of data are written, at the odd ones len_odd;
 * then zeroes over the second half of each piece and, with discard, a
 * discard of its first third. */
struct fuzz_spots {
	size_t len_even, len_odd;
	uint64_t mid, tail;
	bool align, discard;
};

static __attribute__((unused)) void fuzz_write_spots(struct qimg_node *node,
						     const struct fuzz_spots *p)
{
	struct qimg_error err = { 0 };
	uint64_t size = qimg_size(node), spots[4];
	size_t buflen = p->len_even > p->len_odd ? p->len_even : p->len_odd;
	uint8_t *buf;
	size_t i;

	buf = malloc(buflen);
	if (!buf)
		return;
	memset(buf, 0x5a, buflen);
	spots[0] = 0;
	spots[1] = p->align ? size / 3 & ~511ull : size / 3;
	spots[2] = size / 2 + p->mid;
	spots[3] = size > p->tail ? size - p->tail : 0;
	if (p->align)
		spots[3] &= ~511ull;
	for (i = 0; i < 4; i++) {
		uint64_t off = spots[i], len = i % 2 ? p->len_odd : p->len_even;

		if (off >= size)
			continue;
		if (len > size - off)
			len = size - off;
		qimg_error_clear(&err);
		qimg_write(node, off, buf, len, &err);
		qimg_error_clear(&err);
		qimg_write_zeroes(node, off + len / 2, len / 2, 0, &err);
		if (p->discard) {
			qimg_error_clear(&err);
			qimg_discard(node, off, len / 3, &err);
		}
	}
	free(buf);
}

/* The read-write side of a harness (fuzz_rw): with FUZZ_REPAIR a
 * `check -r all` first; then the input opened read-write as the format,
 * written to by the harness's writes(), walked, checked (FUZZ_CHECK) and
 * closed; with FUZZ_REOPEN opened read-only again and walked. */
#define FUZZ_REPAIR 16u
#define FUZZ_REOPEN 32u

static __attribute__((unused)) void
fuzz_rw(const char *path, const char *format, unsigned int what,
	void (*writes)(struct qimg_node *node))
{
	struct qimg_node *node;

	if (what & FUZZ_REPAIR)
		fuzz_repair(path, format);
	node = fuzz_open(path, format, QIMG_OPEN_RDWR);
	if (node) {
		writes(node);
		fuzz_walk(node);
		if (what & FUZZ_CHECK)
			fuzz_check(node, 0);
		qimg_close(node);
	}
	if (what & FUZZ_REOPEN) {
		node = fuzz_open(path, format, 0);
		if (node) {
			fuzz_walk(node);
			qimg_close(node);
		}
	}
}

#endif
