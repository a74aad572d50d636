/* SPDX-License-Identifier: MIT */
/* `qimg create`: option help, the checks of qemu-img's image creation in
 * their order (format, options, size, backing file), the Formatting line
 * in the driver's option order, and the call to qimg_create. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "qimg/create.h"
#include "qimg/opts.h"

/* True if the -o string asks for help ("help" or "?" element). */
static bool wants_help(const char *options)
{
	struct qimg_opts o = { 0 };
	bool help;

	if (!options)
		return false;
	if (qimg_opts_parse(&o, options, NULL) < 0) {
		qimg_opts_free(&o);
		return false;
	}
	help = o.help;
	qimg_opts_free(&o);
	return help;
}

int tool_print_create_help(const struct tool *t, const char *filename,
			   const char *fmt)
{
	const struct qimg_opt_desc *schemas[3] = { NULL, NULL, NULL };
	bool can_create = false, known = false;

	schemas[0] = qimg_format_create_opts(fmt, &can_create, &known);
	if (!known) {
		struct qimg_error err = { 0 };

		qimg_format_missing_error(fmt, false, &err);
		tool_err(t, "%s", tool_errmsg(-EIO, &err));
		return 1;
	}
	if (!can_create || !schemas[0]) {
		tool_err(t,
			 "Format driver '%s' does not support image "
			 "creation",
			 fmt);
		return 1;
	}
	if (filename) {
		struct qimg_error err = { 0 };

		/* The options of the protocol the filename names. */
		schemas[1] = qimg_protocol_create_opts_for(filename, &err);
		if (!schemas[1]) {
			tool_err(t, "%s", tool_errmsg(-EIO, &err));
			return 1;
		}
		qimg_opts_print_help(stdout, "Supported options:", schemas,
				     false);
	} else {
		char heading[128];

		snprintf(heading, sizeof(heading),
			 "Supported %s options:", fmt);
		qimg_opts_print_help(stdout, heading, schemas, true);
	}
	return 0;
}

/* "prog: FILENAME: message" (+ optional hint text printed verbatim). */
static int create_fail(const struct tool *t, const char *filename,
		       const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int create_fail(const struct tool *t, const char *filename,
		       const char *hint, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s: ", t->prog, filename);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (hint)
		fputs(hint, stderr);
	return 1;
}

static void print_escaped(const char *s)
{
	for (; *s; s++) {
		if (*s == ',')
			putchar(',');
		putchar(*s);
	}
}

/* The Formatting line: every schema option that was set or has a default,
 * in schema order (format first, then protocol, duplicates skipped). */
static void print_formatting(const char *filename, const char *fmt,
			     const struct qimg_opt_desc *const *schemas,
			     const struct qimg_opts *o)
{
	const struct qimg_opt_desc *d;
	const struct qimg_opt *opt;
	const char *sep = "";
	size_t i, j;

	printf("Formatting '%s', fmt=%s ", filename, fmt);
	for (i = 0; schemas[i]; i++) {
		for (d = schemas[i]; d->name; d++) {
			bool dup = false;

			for (j = 0; j < i && !dup; j++) {
				const struct qimg_opt_desc *e;

				for (e = schemas[j]; e->name; e++)
					if (!strcmp(e->name, d->name))
						dup = true;
			}
			if (dup)
				continue;
			opt = qimg_opts_find(o, d->name);
			if (!opt && !d->def_str)
				continue;
			printf("%s%s=", sep, d->name);
			sep = " ";
			if (!opt) {
				if (d->type == QIMG_OPT_STRING)
					print_escaped(d->def_str);
				else
					fputs(d->def_str, stdout);
			} else if (d->type == QIMG_OPT_STRING) {
				print_escaped(opt->value);
			} else if ((d->type == QIMG_OPT_SIZE ||
				    d->type == QIMG_OPT_NUMBER) &&
				   opt->typed) {
				/* qemu-img prints these signed. */
				printf("%" PRId64, (int64_t)opt->u);
			} else {
				fputs(opt->value, stdout);
			}
		}
	}
	putchar('\n');
	fflush(stdout);
}

struct create_args {
	const char *filename;
	const char *fmt;
	const char *base_filename;
	const char *base_fmt;
	const char *options;
	bool have_size;
	uint64_t size;
	bool unsafe;
	bool quiet;
};

/* True if the schema gives `name` a non-zero default. */
static bool has_default(const struct qimg_opt_desc *d, const char *name)
{
	for (; d && d->name; d++)
		if (!strcmp(d->name, name))
			return d->def_str && strcmp(d->def_str, "0");
	return false;
}

static int do_create(const struct tool *t, const struct create_args *a)
{
	const struct qimg_opt_desc *schemas[3] = { NULL, NULL, NULL };
	const char *fn = a->filename, *fmt = a->fmt;
	const char *backing_file, *backing_fmt;
	bool can_create = false, known = false, have_size;
	struct qimg_error err = { 0 };
	struct qimg_opts o = { 0 };
	const struct qimg_opt *cs;
	char num[32];
	uint64_t size;
	int r, ret = 1;

	schemas[0] = qimg_format_create_opts(fmt, &can_create, &known);
	if (!known) {
		qimg_format_missing_error(fmt, false, &err);
		return create_fail(t, fn, NULL, "%s", tool_errmsg(-EIO, &err));
	}
	if (!can_create || !schemas[0])
		return create_fail(t, fn, NULL,
				   "Format driver '%s' does not "
				   "support image creation",
				   fmt);
	schemas[1] = qimg_protocol_create_opts_for(fn, &err);
	if (!schemas[1])
		return create_fail(t, fn, NULL, "%s", tool_errmsg(-EIO, &err));

	if (a->options && (qimg_opts_parse(&o, a->options, &err) < 0 ||
			   qimg_opts_validate(&o, schemas, &err) < 0)) {
		create_fail(t, fn, NULL, "%s", tool_errmsg(-EIO, &err));
		goto out;
	}
	tool_warn_hex_sizes(t, &o);
	if (a->have_size) {
		if (qimg_opts_has(&o, "size")) {
			create_fail(t, fn, NULL,
				    "The image size must be "
				    "specified only once");
			goto out;
		}
		snprintf(num, sizeof(num), "%" PRIu64, a->size);
		if (qimg_opts_set(&o, "size", num) < 0)
			goto out_nomem;
	}
	if (a->base_filename) {
		if (!qimg_format_supports_backing(fmt)) {
			create_fail(t, fn, NULL,
				    "Backing file not supported "
				    "for file format '%s'",
				    fmt);
			goto out;
		}
		if (qimg_opts_set(&o, "backing_file", a->base_filename) < 0)
			goto out_nomem;
	}
	if (a->base_fmt) {
		if (!qimg_format_supports_backing(fmt)) {
			create_fail(t, fn, NULL,
				    "Backing file format not "
				    "supported for file format '%s'",
				    fmt);
			goto out;
		}
		if (qimg_opts_set(&o, "backing_fmt", a->base_fmt) < 0)
			goto out_nomem;
	}
	/* Type the values set above. */
	if (qimg_opts_validate(&o, schemas, &err) < 0) {
		create_fail(t, fn, NULL, "%s", tool_errmsg(-EIO, &err));
		goto out;
	}

	backing_file = qimg_opts_get_str(&o, "backing_file", NULL);
	backing_fmt = qimg_opts_get_str(&o, "backing_fmt", NULL);
	if (backing_file && !strcmp(fn, backing_file)) {
		create_fail(t, fn, NULL,
			    "Error: Trying to create an image "
			    "with the same filename as the backing file");
		goto out;
	}
	if (backing_file && !backing_file[0]) {
		create_fail(t, fn, NULL,
			    "Expected backing file name, got "
			    "empty string");
		goto out;
	}
	have_size = qimg_opts_has(&o, "size");
	size = qimg_opts_get_u64(&o, "size", 0);

	if (backing_file && !a->unsafe) {
		struct qimg_open_args oa = { 0 };
		struct qimg_node *bnode = NULL;
		char hint[160];
		char *full;

		/* Relative names are relative to the new image's directory. */
		full = qimg_resolve_backing_name(fn, backing_file);
		if (!full)
			goto out_nomem;
		oa.filename = full;
		oa.format = backing_fmt;
		oa.flags = QIMG_OPEN_NO_IO | QIMG_OPEN_NO_BACKING |
			   QIMG_OPEN_FORCE_SHARE;
		r = qimg_open(&oa, &bnode, &err);
		free(full);
		if (r < 0) {
			create_fail(t, fn, "Could not open backing image.\n",
				    "%s", tool_errmsg(r, &err));
			goto out;
		}
		if (!backing_fmt) {
			/* No newline after the hint, exactly as qemu-img. */
			snprintf(hint, sizeof(hint), "Detected format of %s.",
				 qimg_node_format(bnode));
			qimg_close(bnode);
			create_fail(t, fn, hint,
				    "Backing file specified "
				    "without backing format");
			goto out;
		}
		if (!have_size) {
			size = qimg_size(bnode);
			snprintf(num, sizeof(num), "%" PRIu64, size);
			have_size = true;
			if (qimg_opts_set(&o, "size", num) < 0 ||
			    qimg_opts_validate(&o, schemas, &err) < 0) {
				qimg_close(bnode);
				goto out_nomem;
			}
		}
		qimg_close(bnode);
	} else if (backing_file && !backing_fmt) {
		create_fail(t, fn, NULL,
			    "Backing file specified without "
			    "backing format");
		goto out;
	}
	if (!have_size) {
		create_fail(t, fn, NULL,
			    "Image creation needs a size "
			    "parameter");
		goto out;
	}

	if (!a->quiet)
		print_formatting(fn, fmt, schemas, &o);

	/* qemu-img parses the options a second time when creating. */
	tool_warn_hex_sizes(t, &o);
	qimg_error_clear(&err);
	r = qimg_create_objects(fn, fmt, &o, t->objects, &err);
	if (r == -EFBIG) {
		/* The hint comes when a cluster size is set or the format
		 * has a default one (qemu-img reads the option's default). */
		cs = qimg_opts_find(&o, "cluster_size");
		create_fail(t, fn, NULL,
			    "The image size is too large for file "
			    "format '%s'%s",
			    fmt,
			    (cs && cs->typed && cs->u) ||
					    (!cs && has_default(schemas[0],
								"cluster_size"))
				    ? " (try using a larger cluster size)"
				    : "");
		goto out;
	}
	if (r < 0) {
		create_fail(t, fn, NULL, "%s", tool_errmsg(r, &err));
		goto out;
	}
	ret = 0;
	goto out;
out_nomem:
	create_fail(t, fn, NULL, "%s", strerror(ENOMEM));
out:
	qimg_opts_free(&o);
	return ret;
}

int cmd_create(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,
		TOOL_LONGOPT_OBJECT,
		{ NULL, 0, NULL, 0 },
	};
	struct create_args a = { 0 };
	struct tool_opts so = { 0 };
	char *options = NULL;
	const char *filename;
	int c, r;

	while ((c = getopt_long(argc, argv, ":F:b:f:ho:qu", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'F':
			a.base_fmt = optarg;
			break;
		case 'b':
			a.base_filename = optarg;
			break;
		case 'o':
			if (tool_add_opts(t, &options, optarg) < 0) {
				free(options);
				return 1;
			}
			break;
		case 'u':
			a.unsafe = true;
			break;
		default:
			r = tool_shared_opt(t, c, optarg, &so);
			if (r == TOOL_SHARED_DONE)
				break;
			free(options);
			if (r == TOOL_SHARED_OTHER)
				return tool_getopt_error(t, c, argv);
			return r == TOOL_SHARED_EXIT ? 0 : 1;
		}
	}
	a.fmt = so.fmt ? so.fmt : "raw";
	a.quiet = so.quiet;

	filename = optind < argc ? argv[optind] : NULL;
	if (wants_help(options)) {
		r = tool_print_create_help(t, filename, a.fmt);
		free(options);
		return r;
	}
	if (!filename) {
		free(options);
		return tool_usage(t, "Expecting image file name");
	}
	optind++;
	if (optind < argc) {
		if (tool_parse_size(t, argv[optind], "image size", &a.size) <
		    0) {
			free(options);
			return 1;
		}
		a.have_size = true;
		optind++;
	}
	if (optind != argc) {
		free(options);
		return tool_usage(t, "Unexpected argument: %s", argv[optind]);
	}
	a.filename = filename;
	a.options = options;
	r = do_create(t, &a);
	free(options);
	return r;
}
