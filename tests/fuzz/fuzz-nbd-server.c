/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the NBD server (lib/server/): the input is what a
 * client sends, from the greeting on (negotiation options, then requests
 * with their payloads), served inline (no worker threads, so a run is
 * deterministic) over a 1 MiB raw image in memory, writable, with
 * qemu:allocation-depth offered.  Replies are checked for framing only:
 * the server must never crash, hang or read past the input. */
#include <unistd.h>

#include "fuzz-common.h"
#include "qimg/nbd-server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem_client {
	const uint8_t *in;
	size_t len, pos;
	uint64_t sent;
};

static int mem_recv(void *opaque, void *buf, size_t len)
{
	struct mem_client *m = opaque;

	if (len > m->len - m->pos)
		return -EPIPE;
	memcpy(buf, m->in + m->pos, len);
	m->pos += len;
	return 0;
}

static int mem_send(void *opaque, const void *buf, size_t len, bool more)
{
	struct mem_client *m = opaque;

	(void)buf;
	(void)more;
	m->sent += len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t zero[1 << 20];
	struct mem_client m = { .in = data, .len = size };
	struct qimg_nbd_io io = { .opaque = &m,
				  .recv = mem_recv,
				  .send = mem_send };
	struct qimg_nbd_export exp = {
		.name = "",
		.description = "fuzz",
		.allocation_depth = true,
		.discard = true,
		.detect_zeroes = QIMG_NBD_DZ_UNMAP,
	};
	struct qimg_open_args a = {
		.format = "raw", .flags = QIMG_OPEN_RDWR | QIMG_OPEN_NO_LOCK
	};
	struct qimg_error err = { 0 };
	char path[64];
	int fd;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	fd = fuzz_make_file(zero, sizeof(zero), path, sizeof(path));
	if (fd < 0)
		return 0;
	a.filename = path;
	if (qimg_open(&a, &exp.node, &err) == 0) {
		exp.size = qimg_size(exp.node);
		(void)qimg_nbd_serve(&exp, &io, &err);
		qimg_close(exp.node);
	}
	close(fd);
	return 0;
}
