/* SPDX-License-Identifier: MIT */
/* `qimg bitmap`: change one persistent dirty bitmap of an image with one or
 * more actions, run in command-line order (--add, --remove, --clear,
 * --enable, --disable, --merge SOURCE), as qemu-img 7.2's.  The image is
 * opened read-write without its backing chain; -b names another image
 * (opened read-only) that --merge takes its source bitmap from.  An action
 * that fails stops the rest; what the earlier ones did is kept (written
 * when the image is closed), as in qemu-img. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "qimg/bitmap.h"

enum {
	OPT_ADD = TOOL_OPT_FIRST_OWN,
	OPT_REMOVE,
	OPT_CLEAR,
	OPT_ENABLE,
	OPT_DISABLE,
	OPT_MERGE,
};

struct action {
	int op;		 /* OPT_* */
	const char *src; /* --merge: the source bitmap */
};

static const char *op_name(int op)
{
	switch (op) {
	case OPT_ADD:
		return "add";
	case OPT_REMOVE:
		return "remove";
	case OPT_CLEAR:
		return "clear";
	case OPT_ENABLE:
		return "enable";
	case OPT_DISABLE:
		return "disable";
	default:
		return "merge";
	}
}

static int run(struct qimg_node *node, struct qimg_node *src,
	       const char *bitmap, const struct action *a, int64_t gran,
	       struct qimg_error *err)
{
	switch (a->op) {
	case OPT_ADD:
		/* qemu-img hands the granularity on as 32 bits: 4G becomes
		 * 0 (refused), 4G+512 becomes 512. */
		return qimg_bitmap_add(node, bitmap, gran != 0, (uint32_t)gran,
				       false, err);
	case OPT_REMOVE:
		return qimg_bitmap_remove(node, bitmap, err);
	case OPT_CLEAR:
		return qimg_bitmap_clear(node, bitmap, err);
	case OPT_ENABLE:
	case OPT_DISABLE:
		return qimg_bitmap_enable(node, bitmap, a->op == OPT_ENABLE,
					  err);
	default:
		return qimg_bitmap_merge(node, bitmap, src, a->src, err);
	}
}

int cmd_bitmap(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,
		TOOL_LONGOPT_OBJECT,
		TOOL_LONGOPT_IMAGE_OPTS,
		{ "add", no_argument, NULL, OPT_ADD },
		{ "remove", no_argument, NULL, OPT_REMOVE },
		{ "clear", no_argument, NULL, OPT_CLEAR },
		{ "enable", no_argument, NULL, OPT_ENABLE },
		{ "disable", no_argument, NULL, OPT_DISABLE },
		{ "merge", required_argument, NULL, OPT_MERGE },
		{ "granularity", required_argument, NULL, 'g' },
		{ "source-file", required_argument, NULL, 'b' },
		{ "source-format", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	const char *src_file = NULL, *src_fmt = NULL, *filename, *bitmap;
	struct qimg_node *node = NULL, *src = NULL;
	struct tool_opts so = { 0 };
	struct action *acts;
	bool add = false, merge = false;
	size_t nact = 0, i;
	int64_t gran = 0;
	uint64_t v;
	int c, r, ret = 1;

	acts = calloc((size_t)argc, sizeof(*acts));
	if (!acts) {
		tool_err(t, "%s", strerror(ENOMEM));
		return 1;
	}
	while ((c = getopt_long(argc, argv, ":b:f:F:g:h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'b':
			src_file = optarg;
			break;
		case 'F':
			src_fmt = optarg;
			break;
		case 'g':
			if (tool_parse_size(t, optarg, "granularity", &v) < 0)
				goto out;
			gran = (int64_t)v;
			break;
		case OPT_ADD:
		case OPT_REMOVE:
		case OPT_CLEAR:
		case OPT_ENABLE:
		case OPT_DISABLE:
		case OPT_MERGE:
			acts[nact].op = c;
			acts[nact++].src = c == OPT_MERGE ? optarg : NULL;
			add |= c == OPT_ADD;
			merge |= c == OPT_MERGE;
			break;
		default:
			r = tool_shared_opt(t, c, optarg, &so);
			if (r == TOOL_SHARED_OTHER) {
				free(acts);
				return tool_getopt_error(t, c, argv);
			}
			if (r != TOOL_SHARED_DONE) {
				free(acts);
				return r == TOOL_SHARED_EXIT ? 0 : 1;
			}
			break;
		}
	}
	/* qemu-img's checks, in its order, without the usage hint. */
	if (!nact) {
		tool_err(t, "Need at least one of --add, --remove, --clear, "
			    "--enable, --disable, or --merge");
		goto out;
	}
	if (gran && !add) {
		tool_err(t, "granularity only supported with --add");
		goto out;
	}
	if (src_fmt && !src_file) {
		tool_err(t, "-F only supported with -b");
		goto out;
	}
	if (src_file && !merge) {
		tool_err(t, "Merge bitmap source file only supported with "
			    "--merge");
		goto out;
	}
	if (optind != argc - 2) {
		tool_err(t, "Expecting filename and bitmap name");
		goto out;
	}
	filename = argv[optind];
	bitmap = argv[optind + 1];

	/* The bitmaps are the image's own: no backing chain. */
	if (tool_open_image(t, filename, so.fmt, so.image_opts,
			    QIMG_OPEN_RDWR | QIMG_OPEN_NO_BACKING,
			    QIMG_CACHE_WRITEBACK, &node) < 0)
		goto out;
	if (src_file &&
	    tool_open_image(t, src_file, src_fmt, false, QIMG_OPEN_NO_BACKING,
			    QIMG_CACHE_WRITEBACK, &src) < 0)
		goto out;
	for (i = 0; i < nact; i++) {
		struct qimg_error err = { 0 };

		r = run(node, src ? src : node, bitmap, &acts[i], gran, &err);
		if (r < 0) {
			tool_err(t, "Operation %s on bitmap %s failed: %s",
				 op_name(acts[i].op), bitmap,
				 tool_errmsg(r, &err));
			goto out;
		}
	}
	ret = 0;
out:
	qimg_close(src);
	qimg_close(node);
	free(acts);
	return ret;
}
