/* SPDX-License-Identifier: MIT */
/* `qimg amend`: change an image's format options in place, with qemu-img
 * 7.2's checks in its order: -o required, one file name (none needed for
 * -f FMT -o help), the cache mode, the open (a dirty image's refcounts
 * repaired first, the repair reported as qemu-img's open reports it), the
 * format's support and the options, then the amendment with -p progress. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "qimg/amend.h"
#include "qimg/check.h"
#include "qimg/create.h"
#include "qimg/info.h"
#include "qimg/opts.h"
#include "qimg/size.h"

enum {
	OPT_FORCE = TOOL_OPT_FIRST_OWN,
};

static void print_help(const char *fmt, const struct qimg_opt_desc *schema)
{
	const struct qimg_opt_desc *schemas[2] = { schema, NULL };
	char heading[128];

	snprintf(heading, sizeof(heading), "Amend options for '%s':", fmt);
	qimg_opts_print_help(stdout, heading, schemas, false);
}

/* The library's notes, a line each; those marked as the tool's own
 * messages get the program name ("qimg: Snapshot L1 table offset
 * invalid"), as qemu-img prints them. */
static void print_notes(const struct tool *t, struct qimg_error *err)
{
	size_t mark = strlen(QIMG_CHECK_TOOL_MSG);
	char notes[QIMG_ERROR_MSG_MAX], *line, *next;

	qimg_error_take_notes(err, notes, sizeof(notes));
	for (line = notes; *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (!strncmp(line, QIMG_CHECK_TOOL_MSG, mark))
			fprintf(stderr, "%s: %s\n", t->prog, line + mark);
		else
			fprintf(stderr, "%s\n", line);
	}
}

static void report_line(void *opaque, const char *line)
{
	const struct tool *t = opaque;
	size_t n = strlen(QIMG_CHECK_TOOL_MSG);

	if (!strncmp(line, QIMG_CHECK_TOOL_MSG, n))
		fprintf(stderr, "%s: %s\n", t->prog, line + n);
	else
		fprintf(stderr, "%s\n", line);
}

/* qemu-img opens the image read-write, which repairs the refcounts of an
 * image left dirty by lazy refcounts and prints what the repair found
 * (iotest 061).  qimg's open repairs silently, so a dirty image is
 * repaired here first through the checker, reporting as it goes; any
 * failure is left to the real open to report. */
static void repair_if_dirty(const struct tool *t, const char *arg,
			    const char *fmt, bool image_opts,
			    enum qimg_cache_mode cache)
{
	struct qimg_open_args args = {
		.format = fmt,
		.objects = t->objects,
		.names = t->names,
		.flags =
			QIMG_OPEN_RDWR | QIMG_OPEN_CHECK | QIMG_OPEN_NO_BACKING,
		.cache = cache,
	};
	struct qimg_error err = { 0 };
	struct qimg_value *opts = NULL;
	struct qimg_image_info info;
	struct qimg_check_result res;
	struct qimg_node *node = NULL;

	if (image_opts) {
		if (fmt || qimg_options_parse(arg, &opts, &err) < 0)
			return;
		args.format = NULL;
		args.options = opts;
	} else {
		args.filename = arg;
	}
	if (qimg_open(&args, &node, &err) < 0) {
		qimg_value_free(opts);
		return;
	}
	memset(&info, 0, sizeof(info));
	if (!strcmp(qimg_node_format(node), "qcow2") &&
	    qimg_get_image_info(node, &info, &err) == 0 && info.dirty)
		(void)qimg_check(node,
				 QIMG_CHECK_FIX_LEAKS | QIMG_CHECK_FIX_ERRORS,
				 &res, report_line, (void *)t, &err);
	qimg_image_info_free(&info);
	qimg_close(node);
	qimg_value_free(opts);
}

static const struct qimg_opt_desc *find_desc(const struct qimg_opt_desc *d,
					     const char *name)
{
	for (; d && d->name; d++)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

/* qemu-img's hex-suffix warnings for a refused list: its amend parse
 * warns for the sizes before the first bad element, then it parses the
 * list again as create options (to word the hint) and warns again for the
 * sizes before the first element that is bad there.  (Repeated names
 * count once here: docs/DIFFERENCES.md.) */
static void warn_hex_refused(const struct tool *t, const struct qimg_opts *o,
			     const struct qimg_opt_desc *amend,
			     const struct qimg_opt_desc *create)
{
	const struct qimg_opt_desc *d;
	size_t i, pass;
	uint64_t v;
	int warn, r;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < o->len; i++) {
			d = find_desc(pass ? create : amend, o->v[i].name);
			if (!d)
				break;
			if (d->type != QIMG_OPT_SIZE)
				continue;
			warn = 0;
			r = qimg_parse_size(o->v[i].value, &v, &warn);
			if (r != QIMG_SIZE_OK)
				break;
			if (warn)
				tool_warn(t,
					  "Using a multiplier suffix on hex "
					  "numbers is deprecated: %s",
					  o->v[i].value);
		}
	}
}

static void progress_cb(void *opaque, uint64_t done, uint64_t total)
{
	/* qemu-img's float arithmetic, for the same printed values */
	progress_set(opaque, 100.f * (float)done / (float)total);
}

int cmd_amend(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,
		TOOL_LONGOPT_OBJECT,
		TOOL_LONGOPT_IMAGE_OPTS,
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	enum qimg_cache_mode cache = QIMG_CACHE_WRITEBACK;
	const struct qimg_opt_desc *schema;
	struct qimg_amend_opts ao = { 0 };
	struct qimg_error err = { 0 };
	struct qimg_opts o = { 0 };
	struct qimg_node *node = NULL;
	struct tool_opts so = { 0 };
	struct tool_progress prog;
	char *options = NULL;
	const char *filename;
	bool progress = false, help;
	int c, r, ret = 1;

	while ((c = getopt_long(argc, argv, ":ho:f:t:pq", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'o':
			if (tool_add_opts(t, &options, optarg) < 0)
				goto out_free;
			break;
		case 'p':
			progress = true;
			break;
		case OPT_FORCE:
			ao.force = true;
			break;
		default:
			r = tool_shared_opt(t, c, optarg, &so);
			if (r == TOOL_SHARED_OTHER) {
				ret = tool_getopt_error(t, c, argv);
				goto out_free;
			}
			if (r != TOOL_SHARED_DONE) {
				ret = r == TOOL_SHARED_EXIT ? 0 : 1;
				goto out_free;
			}
			break;
		}
	}
	if (!options) {
		ret = tool_usage(t, "Must specify options (-o)");
		goto out_free;
	}
	/* From here on every exit ends the progress line, as qemu-img. */
	progress_init(&prog, progress && !so.quiet, 1.f);
	if (qimg_opts_parse(&o, options, &err) < 0) {
		tool_err(t, "%s", tool_errmsg(-EINVAL, &err));
		goto out;
	}
	help = o.help;
	filename = optind == argc - 1 ? argv[optind] : NULL;
	if (help && so.fmt) {
		schema = qimg_format_amend_opts(so.fmt, &err);
		if (!schema) {
			tool_err(t, "%s", tool_errmsg(-ENOTSUP, &err));
			goto out;
		}
		print_help(so.fmt, schema);
		ret = 0;
		goto out;
	}
	if (!filename) {
		tool_err(t, "Expecting one image file name");
		goto out;
	}
	if (tool_parse_cache(t, so.cache, false, &cache) < 0)
		goto out;

	repair_if_dirty(t, filename, so.fmt, so.image_opts, cache);
	if (tool_open_image(t, filename, so.fmt, so.image_opts, QIMG_OPEN_RDWR,
			    cache, &node) < 0)
		goto out;
	schema = qimg_node_amend_opts(node, &err);
	if (!schema) {
		tool_err(t, "%s", tool_errmsg(-ENOTSUP, &err));
		goto out;
	}
	if (help) {
		print_help(qimg_node_format(node), schema);
		ret = 0;
		goto out;
	}
	r = qimg_amend_validate(node, &o, NULL, &err);
	if (r < 0) {
		bool known;

		warn_hex_refused(t, &o, schema,
				 qimg_format_create_opts(qimg_node_format(node),
							 NULL, &known));
		tool_err(t, "%s", tool_errmsg(r, &err));
		goto out;
	}
	tool_warn_hex_sizes(t, &o);

	ao.progress = progress_cb;
	ao.opaque = &prog;
	progress_set(&prog, 0);
	r = qimg_amend(node, &o, &ao, &err);
	if (r == 0)
		r = qimg_flush(node, &err);
	progress_set(&prog, 100);
	if (r < 0) {
		print_notes(t, &err);
		tool_err(t, "%s", tool_errmsg(r, &err));
		goto out;
	}
	ret = 0;
out:
	progress_end(&prog);
	qimg_close(node);
	qimg_opts_free(&o);
out_free:
	free(options);
	return ret;
}
