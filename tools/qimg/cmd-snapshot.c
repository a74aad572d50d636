/* SPDX-License-Identifier: MIT */
/* `qimg snapshot`: list (-l), create (-c), apply (-a) or delete (-d) the
 * internal snapshots of an image, with qemu-img's messages.  -l prints the
 * same table as `info` (nothing when there are none); the others print
 * nothing on success. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "qimg/info.h"

enum action {
	ACT_NONE,
	ACT_LIST,
	ACT_APPLY,
	ACT_CREATE,
	ACT_DELETE
};

static int list(const struct tool *t, struct qimg_node *node)
{
	struct qimg_image_info info;
	struct qimg_error err = { 0 };
	int r;

	r = qimg_get_image_info(node, &info, &err);
	if (r < 0) {
		tool_err(t, "%s", tool_errmsg(r, &err));
		return 1;
	}
	if (info.snapshots && qimg_value_count(info.snapshots))
		tool_print_snapshots(stdout, info.snapshots);
	qimg_image_info_free(&info);
	return 0;
}

int cmd_snapshot(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,	 TOOL_LONGOPT_OBJECT,
		TOOL_LONGOPT_IMAGE_OPTS, TOOL_LONGOPT_FORCE_SHARE,
		{ NULL, 0, NULL, 0 },
	};
	static const char *const verb[] = { "", "list", "apply", "create",
					    "delete" };
	enum action act = ACT_NONE;
	const char *name = NULL, *filename;
	struct tool_opts so = { 0 }; /* -q: nothing to quieten */
	struct qimg_error err = { 0 };
	struct qimg_node *node = NULL;
	unsigned int flags;
	int c, r, ret = 1;

	while ((c = getopt_long(argc, argv, ":la:c:d:hqU", longopts, NULL)) !=
	       -1) {
		enum action a = ACT_NONE;

		switch (c) {
		case 'l':
			a = ACT_LIST;
			break;
		case 'a':
			a = ACT_APPLY;
			break;
		case 'c':
			a = ACT_CREATE;
			break;
		case 'd':
			a = ACT_DELETE;
			break;
		default:
			r = tool_shared_opt(t, c, optarg, &so);
			if (r == TOOL_SHARED_OTHER)
				return tool_getopt_error(t, c, argv);
			if (r != TOOL_SHARED_DONE)
				return r == TOOL_SHARED_EXIT ? 0 : 1;
			break;
		}
		if (a != ACT_NONE) {
			if (act != ACT_NONE)
				return tool_usage(t, "Cannot mix '-l', '-a', "
						     "'-c', '-d'");
			act = a;
			if (a != ACT_LIST)
				name = optarg;
		}
	}
	if (optind != argc - 1)
		return tool_usage(t, "Expecting one image file name");
	filename = argv[optind];

	flags = act == ACT_LIST || act == ACT_NONE ? 0 : QIMG_OPEN_RDWR;
	if (so.force_share)
		flags |= QIMG_OPEN_FORCE_SHARE;
	if (tool_open_image(t, filename, NULL, so.image_opts, flags,
			    QIMG_CACHE_WRITEBACK, &node) < 0)
		return 1;

	switch (act) {
	case ACT_NONE:
		ret = 0;
		goto out;
	case ACT_LIST:
		ret = list(t, node);
		goto out;
	case ACT_CREATE:
		r = qimg_snapshot_create(node, name, &err);
		break;
	case ACT_APPLY:
		r = qimg_snapshot_goto(node, name, &err);
		if (qimg_snapshot_on_file(node)) {
			/* qemu-img opens the image again after the file's
			 * goto (probing, and warning, again) */
			int fr = r == 0 ? qimg_flush(node, &err) : 0;

			qimg_close(node);
			node = NULL;
			if (tool_open_image(t, filename, NULL, so.image_opts,
					    flags, QIMG_CACHE_WRITEBACK,
					    &node) < 0)
				goto out;
			r = r ? r : fr;
		}
		break;
	case ACT_DELETE:
		r = qimg_snapshot_delete(node, name, &err);
		break;
	}
	if (r == 0)
		r = qimg_flush(node, &err);
	if (r == 0) {
		ret = 0;
	} else if (act == ACT_CREATE) {
		/* qemu-img prints the errno only (after what the driver
		 * reported) */
		tool_print_notes(t, &err);
		tool_err(t, "Could not create snapshot '%s': %d (%s)", name, r,
			 strerror(-r));
	} else if (r == -ENOTSUP && !err.errnum) {
		if (act == ACT_APPLY) {
			/* qemu-img reopens the image (probing, and warning,
			 * again) before it gives up */
			qimg_close(node);
			node = NULL;
			if (tool_open_image(t, filename, NULL, so.image_opts,
					    flags, QIMG_CACHE_WRITEBACK,
					    &node) < 0)
				goto out;
			tool_err(t,
				 "Could not apply snapshot '%s': Block "
				 "driver does not support snapshots",
				 name);
		} else {
			tool_err(t,
				 "Could not delete snapshot '%s': snapshot "
				 "not found",
				 name);
		}
	} else {
		tool_print_notes(t, &err);
		tool_err(t, "Could not %s snapshot '%s': %s", verb[act], name,
			 tool_errmsg(r, &err));
	}
out:
	qimg_close(node);
	return ret;
}
