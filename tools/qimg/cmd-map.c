/* SPDX-License-Identifier: MIT */
/* `qimg map`: walk the guest address space through the backing chain with
 * qimg_block_status_above, merge adjacent compatible ranges and print them
 * in qemu-img's human table or its one-entry-per-line JSON. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

enum {
	OPT_OUTPUT = TOOL_OPT_FIRST_OWN,
};

struct map_entry {
	uint64_t start, length;
	uint64_t offset;
	int depth;
	bool data, zero, present, has_offset;
	const char *filename; /* owned by an open node */
};

static bool mergeable(const struct map_entry *a, const struct map_entry *b)
{
	if (a->length == 0)
		return false;
	if (a->zero != b->zero || a->data != b->data || a->depth != b->depth ||
	    a->present != b->present || a->has_offset != b->has_offset ||
	    !a->filename != !b->filename)
		return false;
	if (a->filename && strcmp(a->filename, b->filename))
		return false;
	if (a->has_offset && a->offset + a->length != b->offset)
		return false;
	return true;
}

/* Print e; `next` is the entry that follows (NULL for the last one). */
static int dump_entry(const struct tool *t, bool json,
		      const struct map_entry *e, struct map_entry *next)
{
	if (json) {
		printf("{ \"start\": %" PRIu64 ", \"length\": %" PRIu64
		       ", \"depth\": %d, \"present\": %s, \"zero\": %s, "
		       "\"data\": %s",
		       e->start, e->length, e->depth,
		       e->present ? "true" : "false",
		       e->zero ? "true" : "false", e->data ? "true" : "false");
		if (e->has_offset)
			printf(", \"offset\": %" PRIu64, e->offset);
		putchar('}');
		if (next)
			puts(",");
		return 0;
	}
	if (e->data && !e->has_offset) {
		tool_err(t, "File contains external, encrypted or compressed "
			    "clusters.");
		return -EINVAL;
	}
	if (e->data && !e->zero)
		printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
		       e->start, e->length, e->has_offset ? e->offset : 0,
		       e->filename ? e->filename : "");
	/* The table does not tell zero, unallocated and zero+data apart, so
	 * such ranges are folded together to coalesce more (as qemu-img). */
	if (next && (!next->data || next->zero)) {
		next->data = false;
		next->zero = true;
	}
	return 0;
}

static int get_status(struct qimg_node *node, uint64_t off, uint64_t len,
		      struct map_entry *e, struct qimg_error *err)
{
	struct qimg_extent ext;
	int r;

	memset(&ext, 0, sizeof(ext));
	r = qimg_block_status_above(node, NULL, off, len, &ext, err);
	if (r < 0)
		return r;
	if (ext.len == 0 || ext.len > len)
		return -EIO;
	memset(e, 0, sizeof(*e));
	e->start = off;
	e->length = ext.len;
	e->depth = ext.depth;
	e->data = ext.flags & QIMG_BS_DATA;
	e->zero = ext.flags & QIMG_BS_ZERO;
	e->present = ext.flags & QIMG_BS_ALLOCATED;
	e->has_offset = ext.flags & QIMG_BS_OFFSET_VALID;
	e->offset = e->has_offset ? ext.map : 0;
	e->filename =
		e->has_offset && ext.file ? qimg_node_filename(ext.file) : NULL;
	return 0;
}

int cmd_map(const struct tool *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,
		TOOL_LONGOPT_FORMAT,
		{ "output", required_argument, NULL, OPT_OUTPUT },
		TOOL_LONGOPT_OBJECT,
		TOOL_LONGOPT_IMAGE_OPTS,
		TOOL_LONGOPT_FORCE_SHARE,
		{ "start-offset", required_argument, NULL, 's' },
		{ "max-length", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL, *filename;
	struct tool_opts so = { 0 };
	bool json = false;
	uint64_t start = 0, max_len = INT64_MAX, end, size, off;
	struct map_entry curr, next;
	struct qimg_error err = { 0 };
	struct qimg_node *node;
	unsigned int flags;
	int c, r;

	while ((c = getopt_long(argc, argv, ":f:s:l:hU", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			if (tool_parse_size(t, optarg, "start offset", &start) <
			    0)
				return 1;
			break;
		case 'l':
			if (tool_parse_size(t, optarg, "max length", &max_len) <
			    0)
				return 1;
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

	flags = so.force_share ? QIMG_OPEN_FORCE_SHARE : 0;
	if (tool_open_image(t, filename, so.fmt, so.image_opts, flags,
			    QIMG_CACHE_WRITEBACK, &node) < 0)
		return 1;

	if (json)
		putchar('[');
	else
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to",
		       "File");

	/* (the header is out before the size is asked for, as qemu-img's) */
	if (qimg_length(node, &size, &(struct qimg_error){ 0 }) < 0) {
		fflush(stdout);
		tool_err(t, "Failed to get size for '%s'", filename);
		qimg_close(node);
		return 1;
	}
	/* Both are at most INT64_MAX, so the sum cannot wrap. */
	end = start + max_len < size ? start + max_len : size;

	memset(&curr, 0, sizeof(curr));
	curr.start = start;
	r = 0;
	while (curr.start + curr.length < end) {
		off = curr.start + curr.length;
		r = get_status(node, off, end - off, &next, &err);
		if (r < 0) {
			tool_err(t, "Could not read file metadata: %s",
				 tool_errdetail(r, &err));
			goto out;
		}
		if (mergeable(&curr, &next)) {
			curr.length += next.length;
			continue;
		}
		if (curr.length > 0) {
			r = dump_entry(t, json, &curr, &next);
			if (r < 0)
				goto out;
		}
		curr = next;
	}
	r = dump_entry(t, json, &curr, NULL);
	if (json)
		puts("]");
out:
	qimg_close(node);
	return r < 0 ? 1 : 0;
}
