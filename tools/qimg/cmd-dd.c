/* SPDX-License-Identifier: MIT */
/* `qimg dd`: dd-style operands (bs=, count=, skip=, if=, of=) parsed and
 * checked in qemu-img's order, then the output image is created with the
 * size of what is copied and filled block by block with plain writes (no
 * sparse detection: qemu-img's output is fully allocated too). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "qimg/create.h"
#include "qimg/opts.h"
#include "qimg/size.h"
#include "util/buf.h"

#define DD_DEFAULT_BS 512u
#define DD_MAX_BS 2147483647u
/* qemu-img allocates one buffer of bs bytes (up to 2 GiB); ours is at most
 * this, and a larger block is copied in pieces of it. */
#define DD_BUF_MAX (16u << 20)

struct dd_opts {
	struct tool_opts shared; /* -f, -U, --image-opts */
	const char *out_fmt;
	const char *in, *out;
	uint64_t bs, count, skip;
	bool has_count, has_skip;
};

static int parse_args(const struct tool *t, int argc, char **argv,
		      struct dd_opts *o)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,	 TOOL_LONGOPT_OBJECT,
		TOOL_LONGOPT_IMAGE_OPTS, TOOL_LONGOPT_FORCE_SHARE,
		{ NULL, 0, NULL, 0 },
	};
	int c, r;

	while ((c = getopt_long(argc, argv, ":hf:O:U", longopts, NULL)) != -1) {
		if (c == 'O') {
			o->out_fmt = optarg;
			continue;
		}
		r = tool_shared_opt(t, c, optarg, &o->shared);
		if (r == TOOL_SHARED_OTHER) {
			tool_getopt_error(t, c, argv);
			return -1;
		}
		if (r != TOOL_SHARED_DONE)
			return r == TOOL_SHARED_EXIT ? 1 : -1;
	}
	return 0;
}

/* A bs=, count= or skip= value: qemu-img's size syntax, its two messages
 * (syntax; range [min, max]).  The hex-suffix warning comes first, even
 * when the value is then refused ("count=0x1kz"). */
static int parse_number(const struct tool *t, const char *what, const char *s,
			uint64_t min, uint64_t max, uint64_t *out)
{
	int warn = 0;
	int r;

	r = qimg_parse_size(s, out, &warn);
	if (warn)
		tool_warn(t,
			  "Using a multiplier suffix on hex numbers is "
			  "deprecated: %s",
			  s);
	if (r == QIMG_SIZE_RANGE ||
	    (r == QIMG_SIZE_OK && (*out < min || *out > max))) {
		tool_err(t,
			 "Invalid %s specified. Must be between %" PRIu64
			 " and %" PRIu64 ".",
			 what, min, max);
		return -EINVAL;
	}
	if (r != QIMG_SIZE_OK) {
		tool_err(t,
			 "Invalid %s specified. You may use k, M, G, T, P or E "
			 "suffixes for",
			 what);
		tool_err(t, "kilobytes, megabytes, gigabytes, terabytes, "
			    "petabytes and exabytes.");
		return -EINVAL;
	}
	return 0;
}

/* True if `arg` is "NAME=...". */
static bool is_operand(const char *arg, const char *eq, const char *name)
{
	size_t n = strlen(name);

	return eq && (size_t)(eq - arg) == n && !strncmp(arg, name, n);
}

static int parse_operand(const struct tool *t, const char *arg,
			 struct dd_opts *o)
{
	const char *eq = strchr(arg, '=');

	if (is_operand(arg, eq, "bs"))
		return parse_number(t, "bs", eq + 1, 1, DD_MAX_BS, &o->bs);
	if (is_operand(arg, eq, "count")) {
		o->has_count = true;
		return parse_number(t, "count", eq + 1, 0, INT64_MAX,
				    &o->count);
	}
	if (is_operand(arg, eq, "skip")) {
		o->has_skip = true;
		return parse_number(t, "skip", eq + 1, 0, INT64_MAX, &o->skip);
	}
	if (is_operand(arg, eq, "if")) {
		o->in = eq + 1;
		return 0;
	}
	if (is_operand(arg, eq, "of")) {
		o->out = eq + 1;
		return 0;
	}
	/* The name only ("foo" of "foo=1"); "bs" without '=' is unknown
	 * too. */
	tool_err(t, "unrecognized operand %.*s",
		 (int)(eq ? (size_t)(eq - arg) : strlen(arg)), arg);
	return -EINVAL;
}

/* The operands, in command-line order; the first bad one ends it.  A
 * repeated operand overrides the earlier one, as in qemu-img. */
static int parse_operands(const struct tool *t, int n, char **args,
			  struct dd_opts *o)
{
	int i;

	for (i = 0; i < n; i++)
		if (parse_operand(t, args[i], o) < 0)
			return -1;
	if (!o->in || !o->out) {
		tool_err(t, "Must specify both input and output files");
		return -1;
	}
	return 0;
}

/* The output format checks qemu-img makes before creating anything.
 * *create_fmt is the format driver to create with: the file protocol
 * named as a format writes the bytes as they are, which is what raw
 * creates. */
static int check_output(const struct tool *t, const struct dd_opts *o,
			const char **create_fmt)
{
	struct qimg_error err = { 0 };
	bool can_create = false, known = false;

	*create_fmt = o->out_fmt;
	qimg_format_create_opts(o->out_fmt, &can_create, &known);
	if (!strcmp(o->out_fmt, "file")) {
		*create_fmt = "raw";
	} else if (!known && !qimg_driver_known(o->out_fmt)) {
		/* qemu-img names no format here; our "not supported yet"
		 * for the formats qemu-img has and we lack says more. */
		if (qimg_format_missing_error(o->out_fmt, false, &err) ==
		    -EINVAL)
			tool_err(t, "Unknown file format");
		else
			tool_err(t, "%s", err.msg);
		return -1;
	} else if (!known || !can_create) {
		tool_err(t,
			 "Format driver '%s' does not support image creation",
			 o->out_fmt);
		return -1;
	}
	if (!qimg_protocol_create_opts_for(o->out, &err)) {
		tool_err(t, "%s", tool_errmsg(-EINVAL, &err));
		return -1;
	}
	return 0;
}

static int create_output(const struct tool *t, const char *filename,
			 const char *fmt, uint64_t size)
{
	struct qimg_error err = { 0 };
	struct qimg_opts co = { 0 };
	char num[32];
	int r;

	snprintf(num, sizeof(num), "%" PRIu64, size);
	r = qimg_opts_set(&co, "size", num);
	if (r == 0)
		r = qimg_create(filename, fmt, &co, &err);
	qimg_opts_free(&co);
	if (r < 0) {
		tool_err(t, "%s: error while creating output image: %s",
			 filename, tool_errmsg(r, &err));
		return r;
	}
	return 0;
}

/* Copy [off, off + size) of in to [0, size) of out, bs bytes at a time
 * (the last block shorter): each block read whole, then written. */
static int copy_blocks(const struct tool *t, struct qimg_node *in,
		       struct qimg_node *out, uint64_t off, uint64_t size,
		       uint64_t bs)
{
	struct qimg_error err = { 0 };
	uint64_t pos, blk, done, n;
	size_t buflen;
	uint8_t *buf;
	int r = 0;

	if (!size)
		return 0;
	buflen = (size_t)(bs < DD_BUF_MAX ? bs : DD_BUF_MAX);
	if (buflen > size)
		buflen = (size_t)size;
	buf = qimg_buf_alloc(buflen);
	if (!buf) {
		tool_err(t, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	for (pos = 0; pos < size; pos += blk) {
		blk = size - pos < bs ? size - pos : bs;
		for (done = 0; done < blk; done += n) {
			n = blk - done < buflen ? blk - done : buflen;
			r = qimg_read(in, off + pos + done, buf, (size_t)n,
				      &err);
			if (r < 0) {
				tool_err(t,
					 "error while reading from input image "
					 "file: %s",
					 tool_errdetail(r, &err));
				goto out;
			}
			r = qimg_write(out, pos + done, buf, (size_t)n, &err);
			if (r < 0) {
				tool_err(t,
					 "error while writing to output image "
					 "file: %s",
					 tool_errdetail(r, &err));
				goto out;
			}
		}
	}
out:
	free(buf);
	return r < 0 ? r : 0;
}

int cmd_dd(const struct tool *t, int argc, char **argv)
{
	struct dd_opts o = { .bs = DD_DEFAULT_BS };
	struct qimg_node *in = NULL, *out = NULL;
	struct qimg_error err = { 0 };
	const char *create_fmt;
	uint64_t size, off = 0;
	bool skip_ok = true;
	unsigned int flags;
	int r, ret = 1;

	r = parse_args(t, argc, argv, &o);
	if (r)
		return r > 0 ? 0 : 1;
	if (parse_operands(t, argc - optind, argv + optind, &o) < 0)
		return 1;
	if (!o.out_fmt)
		o.out_fmt = "raw";

	flags = o.shared.force_share ? QIMG_OPEN_FORCE_SHARE : 0;
	if (tool_open_image(t, o.in, o.shared.fmt, o.shared.image_opts, flags,
			    QIMG_CACHE_WRITEBACK, &in) < 0)
		return 1;
	if (check_output(t, &o, &create_fmt) < 0)
		goto out;

	if (qimg_length(in, &size, &(struct qimg_error){ 0 }) < 0) {
		tool_err(t, "Failed to get size for '%s'", o.in);
		goto out;
	}
	/* count= shortens the input only when count * bs fits in 63 bits;
	 * skip= is measured against what count= left, and a skip past it
	 * (or one that overflows) leaves an empty output: qemu-img reports
	 * that only after creating the output, and exits 0. */
	if (o.has_count && o.count <= INT64_MAX / o.bs && o.count * o.bs < size)
		size = o.count * o.bs;
	if (o.has_skip) {
		if (o.skip > INT64_MAX / o.bs || o.skip * o.bs > size) {
			skip_ok = false;
			size = 0;
		} else {
			off = o.skip * o.bs;
			size -= off;
		}
	}

	if (create_output(t, o.out, create_fmt, size) < 0)
		goto out;
	if (tool_open(t, o.out, o.out_fmt, QIMG_OPEN_RDWR, QIMG_CACHE_WRITEBACK,
		      &out) < 0)
		goto out;
	if (!skip_ok) {
		tool_err(t, "%s: cannot skip to specified offset", o.in);
		ret = 0;
		goto out;
	}
	if (copy_blocks(t, in, out, off, size, o.bs) < 0)
		goto out;
	r = qimg_flush(out, &err);
	if (r < 0) {
		tool_err(t, "error while writing to output image file: %s",
			 tool_errdetail(r, &err));
		goto out;
	}
	ret = 0;
out:
	qimg_close(out);
	qimg_close(in);
	return ret;
}
