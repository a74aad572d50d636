/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the LUKS1 header library (lib/crypto/luks.h): the
 * input is a LUKS area in memory; it is parsed and described without a
 * key, unlocked with the fixed passphrase "fuzz" and, when that opens it,
 * a key slot is erased by passphrase and by index (writes go to a copy).
 * A refusal must be one line.  Inputs whose iteration counts would make
 * PBKDF2 run long are skipped (a real header may ask for millions; that is
 * not a bug), so no input can time out. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/luks.h"

#define MAX_ITERS 20000u
#define HDR 592

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct area {
	uint8_t *buf;
	size_t len;
};

/* Past the end reads as zeros, as a file does. */
static int area_read(void *opaque, uint64_t off, void *buf, size_t len,
		     struct qimg_error *err)
{
	struct area *a = opaque;
	size_t n = off < a->len ? a->len - (size_t)off : 0;

	(void)err;
	if (n > len)
		n = len;
	if (n)
		memcpy(buf, a->buf + off, n);
	memset((uint8_t *)buf + n, 0, len - n);
	return 0;
}

static int area_write(void *opaque, uint64_t off, const void *buf, size_t len,
		      struct qimg_error *err)
{
	struct area *a = opaque;
	size_t n = off < a->len ? a->len - (size_t)off : 0;

	(void)err;
	if (n > len)
		n = len;
	if (n)
		memcpy(a->buf + off, buf, n);
	return 0;
}

static int area_flush(void *opaque, struct qimg_error *err)
{
	(void)opaque;
	(void)err;
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Iteration counts small enough to try every slot quickly. */
static int cheap(const uint8_t *d, size_t size)
{
	if (size < HDR)
		return 1; /* refused before any key derivation */
	if (be32(d + 164) > MAX_ITERS)
		return 0;
	for (int i = 0; i < 8; i++)
		if (be32(d + 208 + 48 * i + 4) > MAX_ITERS)
			return 0;
	return 1;
}

static void one_line(const struct qimg_error *err)
{
	if (!err->msg[0] || strchr(err->msg, '\n')) {
		fprintf(stderr, "not one line: '%s'\n", err->msg);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t pass[] = "fuzz";
	struct qimg_error err = { 0 };
	struct area a = { NULL, size };
	struct qimg_luks_io io = { &a, area_read, area_write, area_flush };
	struct qimg_luks *l = NULL;
	struct qimg_value *d;
	int r;

	if (size > (1u << 20) || !cheap(data, size))
		return 0;
	a.buf = malloc(size ? size : 1);
	if (!a.buf)
		return 0;
	memcpy(a.buf, data, size);

	r = qimg_luks_open(&io, NULL, 0, &l, &err);
	if (r < 0) {
		one_line(&err);
		free(a.buf);
		return 0;
	}
	d = qimg_value_dict();
	if (d && qimg_luks_describe(l, d, &err) < 0)
		abort();
	qimg_value_free(d);
	if (qimg_luks_payload_offset(l) < 4096 || qimg_luks_cipher(l))
		abort();
	qimg_luks_close(l);

	memset(&err, 0, sizeof(err));
	r = qimg_luks_open(&io, pass, 4, &l, &err);
	if (r < 0) {
		one_line(&err);
		free(a.buf);
		return 0;
	}
	if (!qimg_luks_cipher(l))
		abort();
	{
		struct qimg_luks_amend am = { .active = false,
					      .keyslot = -1,
					      .old_secret = pass,
					      .old_secret_len = 4 };

		memset(&err, 0, sizeof(err));
		if (qimg_luks_amend(l, &io, &am, &err) < 0)
			one_line(&err);
		am.old_secret = NULL;
		am.keyslot = (int)(size % 8);
		am.force = true;
		memset(&err, 0, sizeof(err));
		if (qimg_luks_amend(l, &io, &am, &err) < 0)
			one_line(&err);
	}
	qimg_luks_close(l);
	free(a.buf);
	return 0;
}
