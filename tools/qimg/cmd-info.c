/* SPDX-License-Identifier: MIT */
/* `qimg info`: open an image without I/O and without its backing chain,
 * and print what the library reports about it (human or JSON), optionally
 * following the backing chain with loop detection. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "qimg/info.h"
#include "qimg/value.h"

enum {
	OPT_OUTPUT = TOOL_OPT_FIRST_OWN,
	OPT_BACKING_CHAIN,
};

struct info_list {
	struct qimg_image_info *v;
	size_t len;
};

static void info_list_free(struct info_list *l)
{
	size_t i;

	for (i = 0; i < l->len; i++)
		qimg_image_info_free(&l->v[i]);
	free(l->v);
}

static bool seen(const struct info_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->len; i++)
		if (!strcmp(l->v[i].filename, name))
			return true;
	return false;
}

/* Collect the info of `filename` and, with chain, of every image below
 * it.  Names are compared as qemu-img does: the full backing file name of
 * one image is the file name of the next. */
static int collect(const struct tool *t, const char *filename, const char *fmt,
		   bool image_opts, bool chain, bool force_share,
		   struct info_list *l)
{
	unsigned int flags = QIMG_OPEN_NO_IO | QIMG_OPEN_NO_BACKING;
	char *name = tool_strdup(filename);
	char *format = fmt ? tool_strdup(fmt) : NULL;
	struct qimg_error err = { 0 };
	struct qimg_image_info *info, *nv;
	struct qimg_node *node;
	int r = 0;

	if (force_share)
		flags |= QIMG_OPEN_FORCE_SHARE;
	while (name) {
		if (seen(l, name)) {
			tool_err(t,
				 "Backing file '%s' creates an infinite "
				 "loop.",
				 name);
			r = -ELOOP;
			break;
		}
		/* Only the top image may be given as --image-opts. */
		r = tool_open_image(t, name, format, image_opts && !l->len,
				    flags, QIMG_CACHE_WRITEBACK, &node);
		if (r < 0)
			break;
		nv = realloc(l->v, (l->len + 1) * sizeof(*l->v));
		if (!nv) {
			qimg_close(node);
			tool_err(t, "out of memory");
			r = -ENOMEM;
			break;
		}
		l->v = nv;
		info = &l->v[l->len];
		memset(info, 0, sizeof(*info));
		r = qimg_get_image_info(node, info, &err);
		qimg_close(node);
		if (r < 0) {
			qimg_image_info_free(info);
			tool_err(t, "%s", tool_errmsg(-EIO, &err));
			break;
		}
		l->len++;
		free(name);
		free(format);
		name = NULL;
		format = NULL;
		if (!chain)
			break;
		if (info->full_backing_filename) {
			name = tool_strdup(info->full_backing_filename);
		} else if (info->backing_filename) {
			tool_err(t,
				 "Could not determine absolute backing "
				 "filename, but backing filename '%s' present",
				 info->backing_filename);
			r = -EINVAL;
			break;
		}
		if (info->backing_format)
			format = tool_strdup(info->backing_format);
	}
	free(name);
	free(format);
	return r;
}

static int print_json(const struct info_list *l, bool chain)
{
	struct qimg_value *v, *list = NULL;
	size_t i;

	if (!chain) {
		v = tool_info_to_value(&l->v[0]);
		if (!v)
			return -ENOMEM;
		qimg_value_print_json(stdout, v, 0);
		qimg_value_free(v);
		putchar('\n');
		return 0;
	}
	list = qimg_value_list();
	if (!list)
		return -ENOMEM;
	for (i = 0; i < l->len; i++) {
		v = tool_info_to_value(&l->v[i]);
		if (!v || qimg_list_append(list, v) < 0) {
			qimg_value_free(list);
			return -ENOMEM;
		}
	}
	qimg_value_print_json(stdout, list, 0);
	qimg_value_free(list);
	putchar('\n');
	return 0;
}

int cmd_info(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,
		TOOL_LONGOPT_FORMAT,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "backing-chain", no_argument, NULL, OPT_BACKING_CHAIN },
		TOOL_LONGOPT_OBJECT,
		TOOL_LONGOPT_IMAGE_OPTS,
		TOOL_LONGOPT_FORCE_SHARE,
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL, *filename;
	struct tool_opts so = { 0 };
	bool chain = false, json = false;
	struct info_list l = { 0 };
	size_t i;
	int c, r;

	while ((c = getopt_long(argc, argv, ":f:hU", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_OUTPUT:
			output = optarg;
			break;
		case OPT_BACKING_CHAIN:
			chain = true;
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
	if (output && tool_parse_output(t, output, &json) < 0)
		return 1;

	r = collect(t, filename, so.fmt, so.image_opts, chain, so.force_share,
		    &l);
	if (r < 0) {
		info_list_free(&l);
		return 1;
	}
	if (json) {
		r = print_json(&l, chain);
	} else {
		for (i = 0; i < l.len; i++) {
			if (i)
				putchar('\n');
			tool_print_info_human(stdout, &l.v[i]);
		}
	}
	info_list_free(&l);
	if (r < 0) {
		tool_err(t, "out of memory");
		return 1;
	}
	return 0;
}
