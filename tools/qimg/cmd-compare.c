/* SPDX-License-Identifier: MIT */
/* `qimg compare`: compare the guest-visible content of two images (through
 * their backing chains) block-status range by range, reading only what must
 * be read, and report the first differing 512-byte sector as qemu-img does.
 * Exit codes: 0 identical, 1 different or usage error, 2 open error, 3
 * block-status error, 4 read error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "util/buf.h"

#define CMP_BUF_SIZE (2u << 20)
#define CMP_SECTOR 512u
/* The bits of a status word that strict mode compares (EOF too: qemu-img
 * reports a mismatch where only one range reaches the end of its image). */
#define CMP_STATUS_MASK                                                        \
	(QIMG_BS_DATA | QIMG_BS_ZERO | QIMG_BS_OFFSET_VALID |                  \
	 QIMG_BS_ALLOCATED | QIMG_BS_EOF)

struct side {
	const char *name;
	struct qimg_node *node;
	uint64_t size;
	/* The last extent asked for, from last_off: the other side's
	 * shorter extents are compared inside it without asking again (an
	 * empty qcow2 answers for the rest of the image at once, and asking
	 * that again at every block of the other image is quadratic). */
	struct qimg_extent last;
	uint64_t last_off;
};

struct cmp {
	const struct tool *t;
	bool quiet;
	/* Not strict: only the bytes count, so a driver's status that
	 * qemu-img has not (vhdx's blocks that read as zeros) may skip
	 * reading them. */
	bool copy_status;
	uint8_t *buf1, *buf2;
};

static void result(const struct cmp *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A result line on stdout (suppressed by -q). */
static void result(const struct cmp *c, const char *fmt, ...)
{
	va_list ap;

	if (c->quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static int read_side(const struct cmp *c, const struct side *s, uint64_t off,
		     void *buf, size_t len)
{
	struct qimg_error err = { 0 };
	int r;

	r = qimg_read(s->node, off, buf, len, &err);
	if (r < 0) {
		tool_err(c->t,
			 "Error while reading offset %" PRIu64 " of %s: "
			 "%s",
			 off, s->name, tool_errdetail(r, &err));
		return 4;
	}
	return 0;
}

/* The allocated side of a range must read as zeros. */
static int check_empty(const struct cmp *c, const struct side *s, uint64_t off,
		       size_t len)
{
	size_t i, n;
	int r;

	r = read_side(c, s, off, c->buf1, len);
	if (r)
		return r;
	for (i = 0; i < len; i += CMP_SECTOR) {
		n = len - i < CMP_SECTOR ? len - i : CMP_SECTOR;
		if (!qimg_is_zero(c->buf1 + i, n)) {
			result(c, "Content mismatch at offset %" PRIu64 "!\n",
			       off + i);
			return 1;
		}
	}
	return 0;
}

static int compare_data(const struct cmp *c, const struct side *a,
			const struct side *b, uint64_t off, size_t len)
{
	size_t i, n;
	int r;

	r = read_side(c, a, off, c->buf1, len);
	if (!r)
		r = read_side(c, b, off, c->buf2, len);
	if (r)
		return r;
	for (i = 0; i < len; i += CMP_SECTOR) {
		n = len - i < CMP_SECTOR ? len - i : CMP_SECTOR;
		if (memcmp(c->buf1 + i, c->buf2 + i, n)) {
			result(c, "Content mismatch at offset %" PRIu64 "!\n",
			       off + i);
			return 1;
		}
	}
	return 0;
}

static int status(const struct cmp *c, struct side *s, uint64_t off,
		  uint64_t len, struct qimg_extent *ext)
{
	struct qimg_error err = { 0 };
	int r;

	if (s->last.len && off >= s->last_off &&
	    off - s->last_off < s->last.len) {
		uint64_t skip = off - s->last_off;

		*ext = s->last;
		ext->len -= skip;
		if (ext->flags & QIMG_BS_OFFSET_VALID)
			ext->map += skip;
		if (ext->len > len)
			ext->len = len;
	} else {
		memset(ext, 0, sizeof(*ext));
		r = c->copy_status ? qimg_block_status_for_copy(
					     s->node, NULL, off, len, ext, &err)
				   : qimg_block_status_above(s->node, NULL, off,
							     len, ext, &err);
		if (r < 0 || ext->len == 0 || ext->len > len) {
			tool_err(c->t, "Sector allocation test failed for %s",
				 s->name);
			return 3;
		}
		s->last = *ext;
		s->last_off = off;
	}
	/* EOF means "this range ends where the (top) image ends", whatever
	 * layer answered. */
	ext->flags &= ~QIMG_BS_EOF;
	if (off + ext->len == s->size)
		ext->flags |= QIMG_BS_EOF;
	return 0;
}

static int run(struct cmp *c, struct side *s1, struct side *s2, bool strict,
	       struct tool_progress *prog)
{
	uint64_t total = s1->size < s2->size ? s1->size : s2->size;
	uint64_t base = s1->size > s2->size ? s1->size : s2->size;
	struct qimg_extent e1, e2;
	uint64_t off = 0, chunk;
	bool alloc1, alloc2;
	struct side *over;
	int r;

	progress_set(prog, 0);
	if (strict && s1->size != s2->size) {
		result(c, "Strict mode: Image size mismatch!\n");
		return 1;
	}
	while (off < total) {
		r = status(c, s1, off, s1->size - off, &e1);
		if (r)
			return r;
		r = status(c, s2, off, s2->size - off, &e2);
		if (r)
			return r;
		alloc1 = e1.flags & QIMG_BS_ALLOCATED;
		alloc2 = e2.flags & QIMG_BS_ALLOCATED;
		chunk = e1.len < e2.len ? e1.len : e2.len;
		if (chunk > total - off)
			chunk = total - off;

		if (strict && (e1.flags & CMP_STATUS_MASK) !=
				      (e2.flags & CMP_STATUS_MASK)) {
			result(c,
			       "Strict mode: Offset %" PRIu64
			       " block status mismatch!\n",
			       off);
			return 1;
		}
		if ((e1.flags & QIMG_BS_ZERO) && (e2.flags & QIMG_BS_ZERO)) {
			/* equal */
		} else if (alloc1 == alloc2) {
			if (alloc1) {
				if (chunk > CMP_BUF_SIZE)
					chunk = CMP_BUF_SIZE;
				r = compare_data(c, s1, s2, off, chunk);
				if (r)
					return r;
			}
		} else {
			if (chunk > CMP_BUF_SIZE)
				chunk = CMP_BUF_SIZE;
			r = check_empty(c, alloc1 ? s1 : s2, off, chunk);
			if (r)
				return r;
		}
		off += chunk;
		progress_add(prog, ((float)chunk / base) * 100);
	}

	if (s1->size != s2->size) {
		result(c, "Warning: Image size mismatch!\n");
		over = s1->size > s2->size ? s1 : s2;
		while (off < base) {
			r = status(c, over, off, base - off, &e1);
			if (r)
				return r;
			chunk = e1.len;
			if ((e1.flags & QIMG_BS_ALLOCATED) &&
			    !(e1.flags & QIMG_BS_ZERO)) {
				if (chunk > CMP_BUF_SIZE)
					chunk = CMP_BUF_SIZE;
				r = check_empty(c, over, off, chunk);
				if (r)
					return r;
			}
			off += chunk;
			progress_add(prog, ((float)chunk / base) * 100);
		}
	}
	result(c, "Images are identical.\n");
	return 0;
}

int cmd_compare(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,	 TOOL_LONGOPT_OBJECT,
		TOOL_LONGOPT_IMAGE_OPTS, TOOL_LONGOPT_FORCE_SHARE,
		{ NULL, 0, NULL, 0 },
	};
	const char *fmt2 = NULL;
	struct tool_opts so = { 0 };
	bool progress = false, strict = false;
	enum qimg_cache_mode cmode = QIMG_CACHE_WRITEBACK;
	struct side s1 = { 0 }, s2 = { 0 };
	struct tool_progress prog;
	struct cmp c = { .t = t };
	unsigned int flags;
	int ch, r, ret;

	while ((ch = getopt_long(argc, argv, ":hf:F:T:pqsU", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'F':
			fmt2 = optarg;
			break;
		case 'p':
			progress = true;
			break;
		case 's':
			strict = true;
			break;
		default:
			r = tool_shared_opt(t, ch, optarg, &so);
			if (r == TOOL_SHARED_OTHER)
				return tool_getopt_error(t, ch, argv);
			/* A bad --object is exit 2, as a failed open. */
			if (r != TOOL_SHARED_DONE)
				return r == TOOL_SHARED_EXIT ? 0 : 2;
			break;
		}
	}
	if (so.quiet)
		progress = false;
	if (optind != argc - 2)
		return tool_usage(t, "Expecting two image file names");
	s1.name = argv[optind];
	s2.name = argv[optind + 1];
	progress_init(&prog, progress, 2.0f);

	if (tool_parse_cache(t, so.src_cache, true, &cmode) < 0) {
		ret = 2;
		goto out;
	}
	flags = so.force_share ? QIMG_OPEN_FORCE_SHARE : 0;
	/* --image-opts applies to both names; -f names the first's format. */
	if (tool_open_image(t, s1.name, so.fmt, so.image_opts, flags, cmode,
			    &s1.node) < 0 ||
	    tool_open_image(t, s2.name, fmt2, so.image_opts, flags, cmode,
			    &s2.node) < 0) {
		ret = 2;
		goto out;
	}
	{
		struct qimg_error lerr = { 0 };
		const char *which = NULL;

		if (qimg_length(s1.node, &s1.size, &lerr) < 0)
			which = s1.name;
		else if (qimg_length(s2.node, &s2.size, &lerr) < 0)
			which = s2.name;
		if (which) {
			tool_err(t, "Can't get size of %s: %s", which,
				 lerr.msg);
			ret = 4;
			goto out;
		}
	}

	c.quiet = so.quiet;
	c.buf1 = qimg_buf_alloc(CMP_BUF_SIZE);
	c.buf2 = qimg_buf_alloc(CMP_BUF_SIZE);
	if (!c.buf1 || !c.buf2) {
		tool_err(t, "%s", strerror(ENOMEM));
		ret = 1;
		goto out;
	}
	c.copy_status = !strict;
	ret = run(&c, &s1, &s2, strict, &prog);
out:
	progress_end(&prog);
	free(c.buf1);
	free(c.buf2);
	qimg_close(s1.node);
	qimg_close(s2.node);
	return ret;
}
