/* SPDX-License-Identifier: MIT */
/* `qimg commit`: write an overlay's data into its backing file, or with -b
 * into an image further down the chain, then empty the overlay (not with
 * -d, nor with -b, which implies -d).  The chain's links are left as they
 * are, as qemu-img leaves them: after -b the images between base and the
 * overlay no longer read as they did. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

#include "common.h"
#include "qimg/commit.h"

/* The job's progress as qemu-img prints it: a float percentage. */
static void on_progress(void *opaque, uint64_t done, uint64_t total)
{
	struct tool_progress *p = opaque;

	progress_set(p, total ? (float)done / (float)total * 100.f : 0.f);
}

/* The image whose backing file is base (base is below top). */
static struct qimg_node *overlay_of(struct qimg_node *top,
				    struct qimg_node *base)
{
	while (top && qimg_node_backing(top) != base)
		top = qimg_node_backing(top);
	return top;
}

int cmd_commit(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,
		TOOL_LONGOPT_OBJECT,
		TOOL_LONGOPT_IMAGE_OPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *base_name = NULL, *filename;
	struct tool_opts so = { 0 };
	bool drop = false, progress = false;
	enum qimg_cache_mode cmode = QIMG_CACHE_WRITEBACK;
	struct qimg_node *node = NULL, *top, *base, *over;
	struct qimg_error err = { 0 };
	struct qimg_commit_opts co = { 0 };
	struct tool_progress prog;
	uint64_t rate;
	int c, r, ret = 1;

	while ((c = getopt_long(argc, argv, ":f:ht:b:dpqr:", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'b':
			base_name = optarg;
			drop = true; /* -b implies -d */
			break;
		case 'd':
			drop = true;
			break;
		case 'p':
			progress = true;
			break;
		case 'r':
			/* Parsed (and refused) as the option comes. */
			if (tool_parse_size(t, optarg, "rate limit", &rate) < 0)
				return 1;
			co.rate = rate;
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
	filename = argv[optind];
	if (tool_parse_cache(t, so.cache, false, &cmode) < 0)
		return 1;
	/* (QIMG_OPEN_UNMAP, as qemu-img: base clusters that the commit
	 * zeroes leave the file) */
	if (tool_open_image(t, filename, so.fmt, so.image_opts,
			    QIMG_OPEN_RDWR | QIMG_OPEN_UNMAP, cmode, &node) < 0)
		return 1;
	/* Through a filter (throttle), its image is committed. */
	top = qimg_node_image(node);
	progress_init(&prog, progress && !so.quiet, 1.0f);
	progress_set(&prog, 0.f);

	if (base_name) {
		base = qimg_chain_find(top, base_name);
		if (!base) {
			tool_err(t,
				 "Did not find '%s' in the backing chain of "
				 "'%s'",
				 base_name, filename);
			goto out;
		}
	} else {
		base = qimg_node_backing(top);
		if (!base) {
			tool_err(t, "Image does not have a backing file");
			goto out;
		}
	}

	r = qimg_commit_check(node, base, &err);
	if (r < 0) {
		tool_err(t, "%s", tool_errmsg(r, &err));
		goto out;
	}

	/* The base is opened read-only with the chain; writing into it
	 * needs it opened again read-write. */
	over = overlay_of(top, base);
	r = qimg_reopen_backing_rw(over, &err);
	if (r < 0) {
		tool_err(t, "%s", tool_errmsg(r, &err));
		goto out;
	}
	base = qimg_node_backing(over);

	co.progress = on_progress;
	co.opaque = &prog;
	r = qimg_commit(top, base, &co, &err);
	if (r < 0) {
		tool_err(t, "Block job failed: %s", tool_errdetail(r, &err));
		goto out;
	}
	progress_set(&prog, 100.f);

	/* qimg_commit flushed the base: only now may top let go of the
	 * data.  A format that cannot be emptied keeps it, silently. */
	if (!drop) {
		r = qimg_make_empty(node, &err);
		if (r < 0 && r != -ENOTSUP) {
			tool_err(t, "%s", tool_errmsg(r, &err));
			goto out;
		}
	}
	ret = 0;
out:
	progress_end(&prog);
	qimg_close(node);
	if (ret == 0 && !so.quiet)
		printf("Image committed.\n");
	return ret;
}
