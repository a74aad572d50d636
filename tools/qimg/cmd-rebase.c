/* SPDX-License-Identifier: MIT */
/* `qimg rebase`: point an image at another backing file.  -u only rewrites
 * the name and format.  The safe mode first makes the image read the same
 * over the new backing file (rebase-copy.c), then flushes it before the
 * header names the new file.  As in qemu-img, a missing -F is found only
 * after that copy. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "qimg/create.h"
#include "rebase.h"

int cmd_rebase(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,	 TOOL_LONGOPT_OBJECT,
		TOOL_LONGOPT_IMAGE_OPTS, TOOL_LONGOPT_FORCE_SHARE,
		{ NULL, 0, NULL, 0 },
	};
	const char *backing = NULL, *bfmt = NULL, *filename;
	struct tool_opts so = { 0 };
	bool unsafe = false, progress = false;
	enum qimg_cache_mode cmode = QIMG_CACHE_WRITEBACK;
	enum qimg_cache_mode smode = QIMG_CACHE_WRITEBACK;
	struct qimg_node *node = NULL, *nb = NULL;
	struct qimg_error err = { 0 };
	struct tool_progress prog;
	int c, r, ret = 1;

	while ((c = getopt_long(argc, argv, ":hf:F:b:upt:T:qU", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'F':
			bfmt = optarg;
			break;
		case 'b':
			backing = optarg;
			break;
		case 'u':
			unsafe = true;
			break;
		case 'p':
			progress = true;
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
		return tool_usage(t, "Expecting one image file name");
	if (!unsafe && !backing)
		return tool_usage(t, "Must specify backing file (-b) or use "
				     "unsafe mode (-u)");
	filename = argv[optind];
	if (bfmt && !qimg_driver_known(bfmt)) {
		tool_err(t, "Invalid format name: '%s'", bfmt);
		return 1;
	}
	if (tool_parse_cache(t, so.cache, false, &cmode) < 0 ||
	    tool_parse_cache(t, so.src_cache, true, &smode) < 0)
		return 1;
	if (!backing)
		backing = "";

	if (tool_open_image(t, filename, so.fmt, so.image_opts,
			    QIMG_OPEN_RDWR |
				    (unsafe ? QIMG_OPEN_NO_BACKING : 0),
			    cmode, &node) < 0)
		return 1;
	progress_init(&prog, progress && !so.quiet, 1.0f);
	progress_set(&prog, 0); /* qemu-img's first line, in every mode */

	if (!unsafe) {
		if (*backing) {
			char *path = qimg_new_backing_name(node, backing, &err);
			struct qimg_open_args a = {
				.filename = path,
				.format = bfmt,
				.objects = t->objects,
				.names = t->names,
				.flags = so.force_share ? QIMG_OPEN_FORCE_SHARE
							: 0,
				.cache = smode,
			};

			if (!path) {
				tool_err(t,
					 "Could not resolve backing filename: "
					 "%s",
					 tool_errmsg(-EINVAL, &err));
				goto out;
			}
			r = qimg_open(&a, &nb, &err);
			free(path);
			if (r < 0) {
				tool_err(t,
					 "Could not open new backing file "
					 "'%s': %s",
					 backing, tool_errmsg(r, &err));
				goto out;
			}
		}
		r = rebase_copy(t, node,
				qimg_node_backing(qimg_node_image(node)), nb,
				&prog);
		if (r < 0)
			goto out;
	}

	if (*backing && !bfmt) {
		tool_err(t,
			 "Could not change the backing file to '%s': backing "
			 "format must be specified",
			 backing);
		goto out;
	}
	/* What the copy wrote reaches the disk before the header that makes
	 * the image depend on it (ARCHITECTURE's write ordering rule). */
	r = unsafe ? 0 : qimg_flush(node, &err);
	if (r == 0)
		r = qimg_change_backing(node, backing, bfmt, &err);
	if (r == 0)
		r = qimg_flush(node, &err);
	if (r < 0) {
		tool_err(t, "Could not change the backing file to '%s': %s",
			 backing, tool_errmsg(r, &err));
		goto out;
	}
	progress_set(&prog, 100);
	ret = 0;
out:
	progress_end(&prog);
	qimg_close(nb);
	qimg_close(node);
	return ret;
}
