/* SPDX-License-Identifier: MIT */
/* `qimg check`: run the format's consistency checker, optionally repair
 * (-r leaks|all) and double-check on a freshly reopened image, and print
 * the summary (human or JSON) with qemu-img's exit codes 0/1/2/3/63. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "qimg/check.h"
#include "qimg/value.h"

enum {
	OPT_OUTPUT = TOOL_OPT_FIRST_OWN,
};

/* Detail lines from the checker go to stderr, whatever -q/--output say. */
static void report_line(void *opaque, const char *line)
{
	const struct tool *t = opaque;
	size_t n = strlen(QIMG_CHECK_TOOL_MSG);

	if (!strncmp(line, QIMG_CHECK_TOOL_MSG, n))
		fprintf(stderr, "%s: %s\n", t->prog, line + n);
	else
		fprintf(stderr, "%s\n", line);
}

static void print_human(const struct qimg_check_result *res)
{
	if (!res->corruptions && !res->leaks && !res->check_errors) {
		printf("No errors were found on the image.\n");
	} else {
		if (res->corruptions)
			printf("\n%d errors were found on the image.\n"
			       "Data may be corrupted, or further writes to "
			       "the image may corrupt it.\n",
			       res->corruptions);
		if (res->leaks)
			printf("\n%d leaked clusters were found on the image.\n"
			       "This means waste of disk space, but no harm to "
			       "data.\n",
			       res->leaks);
		if (res->check_errors)
			printf("\n%d internal errors have occurred during the "
			       "check.\n",
			       res->check_errors);
	}
	if (res->total_clusters && res->allocated_clusters)
		printf("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, %0.2f%% "
		       "fragmented, %0.2f%% compressed clusters\n",
		       res->allocated_clusters, res->total_clusters,
		       res->allocated_clusters * 100.0 / res->total_clusters,
		       res->fragmented_clusters * 100.0 /
			       res->allocated_clusters,
		       res->compressed_clusters * 100.0 /
			       res->allocated_clusters);
	if (res->image_end_offset)
		printf("Image end offset: %" PRId64 "\n",
		       res->image_end_offset);
}

/* ImageCheck members in QAPI schema order; zero counts are left out
 * except check-errors. */
static int print_json(const struct qimg_check_result *res, const char *filename,
		      const char *format)
{
	struct qimg_value *d = qimg_value_dict();
	int r = 0;

	if (!d)
		return -ENOMEM;
	r |= qimg_dict_put_str(d, "filename", filename);
	r |= qimg_dict_put_str(d, "format", format);
	r |= qimg_dict_put_int(d, "check-errors", res->check_errors);
	if (res->image_end_offset)
		r |= qimg_dict_put_int(d, "image-end-offset",
				       res->image_end_offset);
	if (res->corruptions)
		r |= qimg_dict_put_int(d, "corruptions", res->corruptions);
	if (res->leaks)
		r |= qimg_dict_put_int(d, "leaks", res->leaks);
	if (res->corruptions_fixed)
		r |= qimg_dict_put_int(d, "corruptions-fixed",
				       res->corruptions_fixed);
	if (res->leaks_fixed)
		r |= qimg_dict_put_int(d, "leaks-fixed", res->leaks_fixed);
	if (res->total_clusters)
		r |= qimg_dict_put_uint(d, "total-clusters",
					res->total_clusters);
	if (res->allocated_clusters)
		r |= qimg_dict_put_uint(d, "allocated-clusters",
					res->allocated_clusters);
	if (res->fragmented_clusters)
		r |= qimg_dict_put_uint(d, "fragmented-clusters",
					res->fragmented_clusters);
	if (res->compressed_clusters)
		r |= qimg_dict_put_uint(d, "compressed-clusters",
					res->compressed_clusters);
	if (!r) {
		qimg_value_print_json(stdout, d, 0);
		putchar('\n');
	}
	qimg_value_free(d);
	return r ? -ENOMEM : 0;
}

int cmd_check(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,
		TOOL_LONGOPT_FORMAT,
		{ "repair", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		TOOL_LONGOPT_OBJECT,
		TOOL_LONGOPT_IMAGE_OPTS,
		TOOL_LONGOPT_FORCE_SHARE,
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL, *filename;
	struct tool_opts so = { 0 };
	bool json = false;
	enum qimg_cache_mode cmode = QIMG_CACHE_WRITEBACK;
	struct qimg_check_result res;
	struct qimg_error err = { 0 };
	struct qimg_node *node = NULL;
	unsigned int fix = 0, flags;
	int corruptions_fixed, leaks_fixed;
	char *format = NULL;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":hf:r:T:qU", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'r':
			if (!strcmp(optarg, "leaks"))
				fix = QIMG_CHECK_FIX_LEAKS;
			else if (!strcmp(optarg, "all"))
				fix = QIMG_CHECK_FIX_LEAKS |
				      QIMG_CHECK_FIX_ERRORS;
			else
				return tool_usage(t,
						  "Unknown option value for "
						  "-r (expecting 'leaks' or "
						  "'all'): %s",
						  optarg);
			break;
		case OPT_OUTPUT:
			output = optarg;
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
	if (tool_parse_cache(t, so.src_cache, true, &cmode) < 0)
		return 1;

	flags = QIMG_OPEN_CHECK;
	if (fix)
		flags |= QIMG_OPEN_RDWR;
	if (so.force_share)
		flags |= QIMG_OPEN_FORCE_SHARE;
	if (tool_open_image(t, filename, so.fmt, so.image_opts, flags, cmode,
			    &node) < 0)
		return 1;
	format = tool_strdup(qimg_node_format(node));

	memset(&res, 0, sizeof(res));
	r = qimg_check(node, fix, &res, report_line, (void *)t, &err);
	if (r == -ENOTSUP) {
		tool_err(t, "This image format does not support checks");
		ret = 63;
		goto out;
	}

	if (r == 0 && (res.corruptions_fixed || res.leaks_fixed)) {
		corruptions_fixed = res.corruptions_fixed;
		leaks_fixed = res.leaks_fixed;
		if (!json && !so.quiet)
			printf("The following inconsistencies were found and "
			       "repaired:\n\n"
			       "    %d leaked clusters\n"
			       "    %d corruptions\n\n"
			       "Double checking the fixed image now...\n",
			       leaks_fixed, corruptions_fixed);
		/* qemu-img cannot double-check an image its repair marked
		 * corrupt (its node is gone) */
		if (res.unusable) {
			r = -ENOMEDIUM;
		} else {
			/* Double-check what is on disk now, not what the
			 * repairing pass believes: close, reopen read-only,
			 * check again. */
			qimg_close(node);
			node = NULL;
			flags &= ~QIMG_OPEN_RDWR;
			if (tool_open_image(
				    t, filename, so.image_opts ? NULL : format,
				    so.image_opts, flags, cmode, &node) < 0) {
				ret = 1;
				goto out;
			}
			memset(&res, 0, sizeof(res));
			qimg_error_clear(&err);
			r = qimg_check(node, 0, &res, report_line, (void *)t,
				       &err);
		}
		res.corruptions_fixed = corruptions_fixed;
		res.leaks_fixed = leaks_fixed;
	}

	if (r == 0 && !so.quiet) {
		if (json) {
			if (print_json(&res, filename, format) < 0) {
				tool_err(t, "out of memory");
				ret = 1;
				goto out;
			}
		} else {
			print_human(&res);
		}
	}
	if (r < 0 || res.check_errors) {
		if (r < 0)
			tool_err(t, "Check failed: %s", strerror(-r));
		else
			tool_err(t, "Check failed");
		ret = 1;
		goto out;
	}
	if (res.corruptions)
		ret = 2;
	else if (res.leaks)
		ret = 3;
	else
		ret = 0;
out:
	fflush(stdout);
	qimg_close(node);
	free(format);
	return ret;
}
