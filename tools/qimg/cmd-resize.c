/* SPDX-License-Identifier: MIT */
/* `qimg resize`: change an image's virtual size.  As in qemu-img the last
 * argument is the size, taken before the options are parsed (so `-1G` is
 * a size, not an option): `+N` and `-N` are relative to the current size,
 * `N` is absolute, with the `-o size=` parser's messages.  Shrinking needs
 * --shrink; --preallocation only grows. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "qimg/opts.h"

enum {
	OPT_PREALLOCATION = TOOL_OPT_FIRST_OWN,
	OPT_SHRINK,
};

/* The size argument (after any sign) as qemu-img's "size" option parses
 * it; prints the error and returns -EINVAL when it is not a size. */
static int parse_size(const struct tool *t, const char *s, uint64_t *out)
{
	static const struct qimg_opt_desc size_opt[] = {
		{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
		{ NULL, 0, NULL, NULL },
	};
	const struct qimg_opt_desc *schemas[2] = { size_opt, NULL };
	struct qimg_error err = { 0 };
	struct qimg_opts o = { 0 };
	int r;

	r = qimg_opts_set(&o, "size", s);
	if (r == 0)
		r = qimg_opts_validate(&o, schemas, &err);
	if (r < 0) {
		tool_err(t, "%s", tool_errmsg(r, &err));
		qimg_opts_free(&o);
		return -EINVAL;
	}
	tool_warn_hex_sizes(t, &o);
	*out = qimg_opts_get_u64(&o, "size", 0);
	qimg_opts_free(&o);
	return 0;
}

int cmd_resize(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,
		TOOL_LONGOPT_OBJECT,
		TOOL_LONGOPT_IMAGE_OPTS,
		{ "preallocation", required_argument, NULL, OPT_PREALLOCATION },
		{ "shrink", no_argument, NULL, OPT_SHRINK },
		{ NULL, 0, NULL, 0 },
	};
	const char *prealloc = NULL, *size_arg, *filename;
	struct tool_opts so = { 0 };
	bool allow_shrink = false;
	struct qimg_error err = { 0 };
	struct qimg_node *node = NULL;
	uint64_t n, cur;
	int64_t total;
	int c, r, sign = 0, ret = 1;

	/* The size is the last argument, whatever it looks like. */
	if (argc < 3)
		return tool_usage(t, "Not enough arguments");
	size_arg = argv[--argc];

	while ((c = getopt_long(argc, argv, ":f:hq", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PREALLOCATION:
			if (!qimg_prealloc_mode_known(optarg)) {
				tool_err(t, "Invalid preallocation mode '%s'",
					 optarg);
				return 1;
			}
			prealloc = optarg;
			break;
		case OPT_SHRINK:
			allow_shrink = true;
			break;
		default:
			r = tool_shared_opt(t, c, optarg, &so);
			if (r == TOOL_SHARED_OTHER)
				return tool_getopt_error(t, c, argv);
			if (r != TOOL_SHARED_DONE)
				return r == TOOL_SHARED_EXIT ? 0 : 1;
			break;
		}
	}
	if (optind != argc - 1)
		return tool_usage(t, "Expecting image file name and size");
	filename = argv[optind];

	if (size_arg[0] == '+' || size_arg[0] == '-')
		sign = size_arg[0] == '+' ? 1 : -1;
	if (parse_size(t, size_arg + (sign != 0), &n) < 0)
		return 1;

	if (tool_open_image(t, filename, so.fmt, so.image_opts, QIMG_OPEN_RDWR,
			    QIMG_CACHE_WRITEBACK, &node) < 0)
		return 1;
	if (qimg_length(node, &cur, &err) < 0) {
		tool_err(t, "Failed to inquire current image length: %s",
			 err.msg);
		qimg_close(node);
		return 1;
	}
	/* qemu-img's int64 arithmetic: 8E and beyond come out negative. */
	if (sign > 0)
		total = (int64_t)(cur + n);
	else if (sign < 0)
		total = (int64_t)(cur - n);
	else
		total = (int64_t)n;
	if (total <= 0) {
		tool_err(t, "New image size must be positive");
		goto out;
	}
	if (prealloc && strcmp(prealloc, "off") && (uint64_t)total <= cur) {
		tool_err(t,
			 "Preallocation can only be used for growing images");
		goto out;
	}
	if ((uint64_t)total < cur && !allow_shrink) {
		tool_err(t, "Use the --shrink option to perform a shrink "
			    "operation.");
		tool_warn(t, "Shrinking an image will delete all data beyond "
			     "the shrunken image's end. Before performing such "
			     "an operation, make sure there is no important "
			     "data there.");
		goto out;
	}
	r = qimg_truncate(node, (uint64_t)total,
			  QIMG_TRUNCATE_EXACT |
				  (allow_shrink ? QIMG_TRUNCATE_SHRINK : 0),
			  prealloc, &err);
	if (r == 0)
		r = qimg_flush(node, &err);
	if (r < 0) {
		tool_err(t, "%s", tool_errmsg(r, &err));
		goto out;
	}
	if (!so.quiet)
		printf("Image resized.\n");
	ret = 0;
out:
	qimg_close(node);
	return ret;
}
