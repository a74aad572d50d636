/* SPDX-License-Identifier: MIT */
/* The input of the vhdx harnesses, expanded to an image: a VHDX file is
 * at least 8 MiB (its fixed area, log, BAT and metadata each sit at their
 * own MiB), so the input holds only the pieces that matter, each copied
 * to its place in a sparse file, and a first byte of flags asking the
 * harness to make checksums right (a fuzzer cannot):
 *   byte 0: bit 0 header checksums, bit 1 region table checksums,
 *           bit 2 the checksum of a log entry at the log's start
 *   then 4 KiB pieces, in order: file identifier (at 0), header 1 (64 KiB),
 *   header 2 (128 KiB), region table 1 (192 KiB), region table 2
 *   (256 KiB), log (8 KiB at 1 MiB), BAT (2 MiB), metadata table (3 MiB),
 *   metadata items (3 MiB + 64 KiB); the rest goes to 8 MiB on. */
#ifndef QIMG_FUZZ_VHDX_H
#define QIMG_FUZZ_VHDX_H

#include "fuzz-common.h"
#include "util/crc32c.h"

#define VF_PIECES 9
#define VF_PAYLOAD (8u << 20)

static const struct {
	uint32_t file_off, len;
} vf_pieces[VF_PIECES] = {
	{ 0, 4096 },
	{ 64 << 10, 4096 },
	{ 128 << 10, 4096 },
	{ 192 << 10, 4096 },
	{ 256 << 10, 4096 },
	{ 1 << 20, 8192 },
	{ 2 << 20, 4096 },
	{ 3 << 20, 4096 },
	{ (3 << 20) + (64 << 10), 4096 },
};

static void vf_crc(uint8_t *p, size_t len, size_t at)
{
	uint32_t c;

	memset(p + at, 0, 4);
	c = qimg_crc32c(0, p, len);
	p[at] = (uint8_t)c;
	p[at + 1] = (uint8_t)(c >> 8);
	p[at + 2] = (uint8_t)(c >> 16);
	p[at + 3] = (uint8_t)(c >> 24);
}

static bool vf_write(int fd, const void *p, size_t len, uint64_t off)
{
	return pwrite(fd, p, len, (off_t)off) == (ssize_t)len;
}

/* The image the input describes, in a fresh memfd; path names it.
 * Returns the fd or -1. */
static int vhdx_fuzz_input(const uint8_t *data, size_t size, char *path,
			   size_t pathlen)
{
	static uint8_t rt[64 << 10];
	uint8_t piece[8192], flags;
	size_t pos = 1, i;
	int fd;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return -1;
	flags = data[0];
	fd = fuzz_make_file(NULL, 0, path, pathlen);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, VF_PAYLOAD) < 0)
		goto fail;
	for (i = 0; i < VF_PIECES && pos < size; i++) {
		size_t n = size - pos < vf_pieces[i].len ? size - pos
							 : vf_pieces[i].len;

		memset(piece, 0, sizeof(piece));
		memcpy(piece, data + pos, n);
		pos += n;
		if ((flags & 1) && (i == 1 || i == 2))
			vf_crc(piece, 4096, 4);
		if ((flags & 2) && (i == 3 || i == 4)) {
			memset(rt, 0, sizeof(rt));
			memcpy(rt, piece, 4096);
			vf_crc(rt, sizeof(rt), 4);
			if (!vf_write(fd, rt, sizeof(rt),
				      vf_pieces[i].file_off))
				goto fail;
			continue;
		}
		if ((flags & 4) && i == 5) {
			uint32_t len = (uint32_t)piece[8] | (uint32_t)piece[9]
								    << 8;

			/* Entry length (4 KiB or 8 KiB) as the piece holds. */
			if (len != 4096)
				len = 8192;
			vf_crc(piece, len, 4);
		}
		if (!vf_write(fd, piece, vf_pieces[i].len,
			      vf_pieces[i].file_off))
			goto fail;
	}
	if (pos < size && !vf_write(fd, data + pos, size - pos, VF_PAYLOAD))
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

#endif
