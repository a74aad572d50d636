/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the cloop driver: the input is opened as a cloop
 * image (read-only) and walked with block status and reads, then probed;
 * a refused open must give a one-line message, and a read-write open must
 * always be refused. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Open read-write as cloop: always refused ("Image is read-only"), with
 * nothing left behind. */
static void refuse_rw(const char *path)
{
	struct qimg_open_args args;
	struct qimg_error err = { 0 };
	struct qimg_node *node = NULL;

	memset(&args, 0, sizeof(args));
	args.filename = path;
	args.format = "cloop";
	args.flags = QIMG_OPEN_RDWR | QIMG_OPEN_NO_BACKING | QIMG_OPEN_NO_LOCK;
	if (qimg_open(&args, &node, &err) == 0 || node ||
	    !qimg_error_isset(&err))
		abort();
}

/* Open read-only as cloop; a refusal is one line of text. */
static struct qimg_node *open_cloop(const char *path)
{
	struct qimg_open_args args;
	struct qimg_error err = { 0 };
	struct qimg_node *node = NULL;

	memset(&args, 0, sizeof(args));
	args.filename = path;
	args.format = "cloop";
	args.flags = QIMG_OPEN_NO_BACKING | QIMG_OPEN_NO_LOCK;
	if (qimg_open(&args, &node, &err) < 0) {
		if (node || !qimg_error_isset(&err) || !err.msg[0] ||
		    strchr(err.msg, '\n'))
			abort();
		return NULL;
	}
	if (!node)
		abort();
	return node;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qimg_node *node;
	char path[64];
	int fd;

	fd = fuzz_input(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;

	node = open_cloop(path);
	if (node) {
		fuzz_walk(node);
		qimg_close(node);
	}
	node = fuzz_open(path, NULL, 0);
	if (node) {
		fuzz_walk(node);
		qimg_close(node);
	}
	refuse_rw(path);
	close(fd);
	return 0;
}
