/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for vvfat (lib/protocols/vvfat*.c): the input is a
 * directory's host names, one a line.  Each gets its 8.3 name and
 * long-name entries as the scan gives them, and the harness aborts when a
 * rule breaks: an 8.3 name with a character FAT does not allow, lower
 * case, a gap, or one already in the directory; long-name entries that do
 * not spell the host name back (UTF-16 to UTF-8), a wrong sequence number
 * or checksum.  Then the names become a real directory (a name ending in
 * '/' a subdirectory, each file holding its name, a '#' in a name sizes
 * the file by the number after it), and the driver opens it as a 1.44 MB
 * floppy and the whole disk is read. */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz-text.h"
#include "protocols/vvfat-int.h"
#include "qimg/image.h"
#include "qimg/value.h"

#define MAX_TEXT 16384
#define MAX_NAMES 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_short(const uint8_t sn[11])
{
	for (int part = 0; part < 2; part++) {
		int from = part ? 8 : 0, to = part ? 11 : 8;
		bool pad = false;

		for (int i = from; i < to; i++) {
			uint8_t c = sn[i];

			if (c == ' ') {
				pad = true;
				continue;
			}
			if (pad || (c >= 'a' && c <= 'z') || c < 0x21 ||
			    c > 0x7e || strchr("\"*+,./:;<=>?[\\]|", c))
				abort();
		}
	}
}

/* The UTF-8 of the long name in n entries back into out. */
static size_t lfn_decode(const uint8_t *e, int n, const uint8_t sn[11],
			 char *out)
{
	static const uint8_t slot[13] = { 1,  3,  5,  7,  9,  14, 16,
					  18, 20, 22, 24, 28, 30 };
	unsigned long u[20 * 13];
	size_t nu = 0, len = 0;
	uint8_t sum = 0;
	bool end = false;

	for (int i = 0; i < 11; i++)
		sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + sn[i]);
	for (int k = n - 1; k >= 0; k--) {
		const uint8_t *x = e + (size_t)k * 32;
		int seq = n - k;

		if (x[0] != (seq | (k == 0 ? 0x40 : 0)) || x[11] != 0x0f ||
		    x[13] != sum)
			abort();
		for (int j = 0; j < 13; j++) {
			unsigned long c = x[slot[j]] | x[slot[j] + 1] << 8;

			if (end && c != 0xffff)
				abort();
			if (c == 0)
				end = true;
			if (!end)
				u[nu++] = c;
		}
	}
	for (size_t i = 0; i < nu; i++) {
		unsigned long c = u[i];

		if (c >= 0xd800 && c <= 0xdbff) {
			if (i + 1 == nu || u[i + 1] < 0xdc00 ||
			    u[i + 1] > 0xdfff)
				abort();
			c = 0x10000 + ((c - 0xd800) << 10) + (u[++i] - 0xdc00);
		}
		if (c < 0x80) {
			out[len++] = (char)c;
		} else if (c < 0x800) {
			out[len++] = (char)(0xc0 | c >> 6);
			out[len++] = (char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			out[len++] = (char)(0xe0 | c >> 12);
			out[len++] = (char)(0x80 | (c >> 6 & 0x3f));
			out[len++] = (char)(0x80 | (c & 0x3f));
		} else {
			out[len++] = (char)(0xf0 | c >> 18);
			out[len++] = (char)(0x80 | (c >> 12 & 0x3f));
			out[len++] = (char)(0x80 | (c >> 6 & 0x3f));
			out[len++] = (char)(0x80 | (c & 0x3f));
		}
	}
	out[len] = '\0';
	return len;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Make the names under a fresh directory, open it as vvfat, read it all. */
static void scan_tree(const char *text)
{
	char tmpl[] = "/tmp/qimg-fuzz-vvfat.XXXXXX", *s, *p, *next;
	struct qimg_value *o;
	struct qimg_node *node = NULL;
	struct qimg_error err = { 0 };
	static uint8_t buf[1 << 16];
	int made = 0;

	if (!mkdtemp(tmpl))
		return;
	s = strdup(text);
	for (p = s; p && made < 64; p = next) {
		char path[600], *hash;
		size_t len;
		int fd;

		next = strchr(p, '\n');
		if (next)
			*next++ = '\0';
		len = strlen(p);
		if (!len || len > 200 || !strcmp(p, "/") || strstr(p, "..") ||
		    (strchr(p, '/') && strchr(p, '/') != p + len - 1))
			continue; /* one level of names, nothing outside */
		snprintf(path, sizeof(path), "%s/%s", tmpl, p);
		made++;
		if (p[len - 1] == '/') {
			mkdir(path, 0755);
			continue;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			continue;
		hash = strchr(p, '#');
		if (hash && ftruncate(fd, (off_t)(strtoul(hash + 1, NULL, 10) %
						  (3u << 20))))
			(void)0;
		if (!hash && write(fd, p, len) < 0)
			(void)0;
		close(fd);
	}
	free(s);
	o = qimg_value_dict();
	if (o && !qimg_dict_put_str(o, "driver", "vvfat") &&
	    !qimg_dict_put_str(o, "dir", tmpl) &&
	    !qimg_dict_put_bool(o, "floppy", true) &&
	    !qimg_dict_put_int(o, "fat-type", 12)) {
		struct qimg_open_args a = { .options = o };

		if (qimg_open(&a, &node, &err) == 0) {
			uint64_t size = qimg_size(node);

			for (uint64_t off = 0; off < size; off += sizeof(buf)) {
				size_t n = size - off < sizeof(buf)
						   ? (size_t)(size - off)
						   : sizeof(buf);

				if (qimg_read(node, off, buf, n, &err) < 0)
					abort(); /* a readable tree reads */
			}
			qimg_close(node);
		}
	}
	qimg_value_free(o);
	nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *dir = calloc(MAX_NAMES, 32);
	char *s = fuzz_text(data, size, MAX_TEXT), *p, *next;
	size_t n = 0;

	if (!s || !dir) {
		free(s);
		free(dir);
		return 0;
	}
	for (p = s; p && n < MAX_NAMES; p = next) {
		uint8_t sn[11], lfn[20 * 32];
		char back[1200];
		int k;

		next = strchr(p, '\n');
		if (next)
			*next++ = '\0';
		if (!*p || strlen(p) > 255)
			continue;
		vvfat_short_name(p, dir, n, sn);
		check_short(sn);
		for (size_t i = 0; i < n; i++)
			if (!memcmp(dir + i * 32, sn, 11))
				abort();
		k = vvfat_lfn(p, sn, lfn);
		if (k > 20)
			abort();
		if (k > 0 && (lfn_decode(lfn, k, sn, back), strcmp(back, p)))
			abort();
		memset(dir + n * 32, 0, 32);
		memcpy(dir + n * 32, sn, 11);
		dir[n * 32 + 11] = 0x20;
		n++;
	}
	free(dir);
	if (size <= 4096)
		scan_tree(s);
	free(s);
	return 0;
}
