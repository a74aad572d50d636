/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for qimg-nbd -L's client (tools/qimg-nbd/list.c): the
 * input is what the server sends, from its greeting on (option replies to
 * the structured-reply request, the list, each export's information and
 * metadata contexts).  What the client sends is dropped; its output goes
 * to /dev/null.  It must never crash, hang or read past a reply. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem_server {
	const uint8_t *in;
	size_t len, pos;
};

static int mem_recv(void *opaque, void *buf, size_t len)
{
	struct mem_server *m = opaque;

	if (len > m->len - m->pos)
		return -EPIPE;
	memcpy(buf, m->in + m->pos, len);
	m->pos += len;
	return 0;
}

static int mem_send(void *opaque, const void *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	(void)len;
	return 0;
}

/* qimg-nbd's messages (image.c's, not linked here): formatted, dropped. */
void nbd_err(const struct nbd_tool *nt, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	(void)nt;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	struct mem_server m = { .in = data, .len = size };
	struct nbd_list_io io = { .opaque = &m,
				  .recv = mem_recv,
				  .send = mem_send };
	struct nbd_tool nt;

	if (!quiet) {
		quiet = freopen("/dev/null", "w", stdout) != NULL;
		if (!quiet)
			return 0;
	}
	memset(&nt, 0, sizeof(nt));
	nt.prog = "qimg-nbd";
	nt.o.list = true;
	(void)nbd_list_over(&nt, &io);
	fflush(stdout);
	return 0;
}
