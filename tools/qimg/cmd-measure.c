/* SPDX-License-Identifier: MIT */
/* `qimg measure`: how large a new image of the -O format would be, for a
 * given --size or for the content of one input image (through its chain).
 * Keeps qemu-img's getopt quirk: no leading ':' in the option string, so
 * getopt itself reports a bad option under the name "measure" and the help
 * is printed with exit code 0. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "qimg/create.h"
#include "qimg/opts.h"
#include "qimg/value.h"

enum {
	OPT_OUTPUT = TOOL_OPT_FIRST_OWN,
	OPT_SIZE,
};

static int print_result(const struct qimg_measure *m, bool json)
{
	struct qimg_value *d;
	int r = 0;

	if (!json) {
		printf("required size: %" PRIu64 "\n", m->required);
		printf("fully allocated size: %" PRIu64 "\n",
		       m->fully_allocated);
		if (m->has_bitmaps)
			printf("bitmaps size: %" PRIu64 "\n", m->bitmaps);
		return 0;
	}
	d = qimg_value_dict();
	if (!d)
		return -ENOMEM;
	r |= qimg_dict_put_uint(d, "required", m->required);
	r |= qimg_dict_put_uint(d, "fully-allocated", m->fully_allocated);
	if (m->has_bitmaps)
		r |= qimg_dict_put_uint(d, "bitmaps", m->bitmaps);
	if (!r) {
		qimg_value_print_json(stdout, d, 0);
		putchar('\n');
	}
	qimg_value_free(d);
	return r ? -ENOMEM : 0;
}

static int measure(const struct tool *t, const char *out_fmt,
		   const char *options, struct qimg_node *in, bool have_size,
		   uint64_t size, bool json)
{
	const struct qimg_opt_desc *schemas[3] = { NULL, NULL, NULL };
	bool can_create = false, known = false;
	struct qimg_error err = { 0 };
	struct qimg_opts o = { 0 };
	struct qimg_measure m;
	char num[32];
	int r, ret = 1;

	schemas[0] = qimg_format_create_opts(out_fmt, &can_create, &known);
	if (!known) {
		qimg_format_missing_error(out_fmt, false, &err);
		tool_err(t, "%s", tool_errmsg(-EIO, &err));
		return 1;
	}
	if (!can_create || !schemas[0]) {
		tool_err(t,
			 "Format driver '%s' does not support image "
			 "creation",
			 out_fmt);
		return 1;
	}
	schemas[1] = qimg_protocol_create_opts();
	if (options && (qimg_opts_parse(&o, options, &err) < 0 ||
			qimg_opts_validate(&o, schemas, &err) < 0)) {
		tool_err(t, "%s", tool_errmsg(-EIO, &err));
		tool_err(t, "Invalid options for file format '%s'", out_fmt);
		goto out;
	}
	tool_warn_hex_sizes(t, &o);
	if (have_size) {
		snprintf(num, sizeof(num), "%" PRIu64, size);
		if (qimg_opts_set(&o, "size", num) < 0 ||
		    qimg_opts_validate(&o, schemas, &err) < 0) {
			tool_err(t, "%s",
				 err.errnum ? err.msg : "out of memory");
			goto out;
		}
	}
	memset(&m, 0, sizeof(m));
	r = qimg_measure_objects(out_fmt, &o, t->objects, in, size, &m, &err);
	if (r == -ENOTSUP && !err.errnum) {
		tool_err(t,
			 "Block driver '%s' does not support size "
			 "measurement",
			 out_fmt);
		goto out;
	}
	if (r < 0) {
		tool_err(t, "%s", tool_errmsg(r, &err));
		goto out;
	}
	if (print_result(&m, json) < 0) {
		tool_err(t, "out of memory");
		goto out;
	}
	ret = 0;
out:
	qimg_opts_free(&o);
	return ret;
}

int cmd_measure(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,
		TOOL_LONGOPT_IMAGE_OPTS,
		TOOL_LONGOPT_OBJECT,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "size", required_argument, NULL, OPT_SIZE },
		TOOL_LONGOPT_FORCE_SHARE,
		{ NULL, 0, NULL, 0 },
	};
	const char *out_fmt = "raw", *snapshot = NULL, *filename = NULL;
	struct tool_opts so = { 0 };
	bool json = false, have_size = false;
	struct qimg_node *in = NULL;
	char *options = NULL;
	uint64_t size = 0;
	int c, r, ret = 1;

	while ((c = getopt_long(argc, argv, "hf:O:o:l:U", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'O':
			out_fmt = optarg;
			break;
		case 'o':
			if (tool_add_opts(t, &options, optarg) < 0)
				goto out;
			break;
		case 'l':
			/* qemu-img checks snapshot.* parameters here, before
			 * it looks at the rest of the command line (iotest
			 * 178). */
			if (!strncmp(optarg, "snapshot.", 9)) {
				char *id = NULL, *name = NULL;

				r = tool_parse_snapshot_param(t, optarg, &id,
							      &name);
				free(id);
				free(name);
				if (r < 0)
					goto out;
			}
			snapshot = optarg;
			break;
		case OPT_OUTPUT:
			if (tool_parse_output(t, optarg, &json) < 0)
				goto out;
			break;
		case OPT_SIZE:
			if (tool_parse_size(t, optarg, "image size", &size) < 0)
				goto out;
			have_size = true;
			break;
		default:
			r = tool_shared_opt(t, c, optarg, &so);
			/* '?': getopt has already named a bad option itself. */
			if (r == TOOL_SHARED_OTHER)
				tool_print_help(t);
			if (r != TOOL_SHARED_DONE) {
				ret = r == TOOL_SHARED_ERROR ? 1 : 0;
				goto out;
			}
			break;
		}
	}

	if (argc - optind > 1) {
		tool_err(t, "At most one filename argument is allowed.");
		goto out;
	}
	if (argc - optind == 1)
		filename = argv[optind];
	if (!filename && (so.image_opts || so.fmt || snapshot)) {
		tool_err(t, "--image-opts, -f, and -l require a filename "
			    "argument.");
		goto out;
	}
	if (filename && have_size) {
		tool_err(t, "--size N cannot be used together with a "
			    "filename.");
		goto out;
	}
	if (!filename && !have_size) {
		tool_err(t, "Either --size N or one filename must be "
			    "specified.");
		goto out;
	}
	if (filename) {
		if (tool_open_image(t, filename, so.fmt, so.image_opts,
				    so.force_share ? QIMG_OPEN_FORCE_SHARE : 0,
				    QIMG_CACHE_WRITEBACK, &in) < 0)
			goto out;
		if (snapshot) {
			char *id = NULL, *name = NULL;

			r = tool_parse_snapshot_param(t, snapshot, &id, &name);
			if (r == 0)
				r = tool_load_snapshot(t, in, snapshot, id,
						       name);
			free(id);
			free(name);
			if (r < 0)
				goto out;
		}
	}
	ret = measure(t, out_fmt, options, in, have_size, size, json);
out:
	qimg_close(in);
	free(options);
	return ret;
}
