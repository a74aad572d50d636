/* SPDX-License-Identifier: MIT */
/* qimg-nbd: opening the exported image.  -s puts a temporary qcow2
 * overlay over it (created in $TMPDIR or /var/tmp, unlinked once open, so
 * nothing is left behind whatever happens); -l exports an internal
 * snapshot read-only; -o starts the export at an offset. */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nbd.h"
#include "qimg/bitmap.h"
#include "qimg/create.h"
#include "qimg/opts.h"
#include "qimg/value.h"

void nbd_err(const struct nbd_tool *nt, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", nt->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int nbd_parse_offset(const struct nbd_tool *nt, const char *s, uint64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || *end) {
		nbd_err(nt, "Invalid offset '%s'", s);
		return -EINVAL;
	}
	if (v < 0) {
		nbd_err(nt, "Parameter 'offset' expects a non-negative number "
			    "below 2^64");
		fprintf(stderr,
			"Optional suffix k, M, G, T, P or E means kilo-, "
			"mega-, giga-, tera-, peta-\nand exabytes, "
			"respectively.\n");
		return -EINVAL;
	}
	*out = (uint64_t)v;
	return 0;
}

static int open_plain(struct nbd_tool *nt, const char *name, const char *fmt,
		      unsigned int flags, struct qimg_node **out)
{
	struct nbd_opts *o = &nt->o;
	struct qimg_error err = { 0 };
	struct qimg_value *tree = NULL;
	struct qimg_opts extra = { 0 };
	int r = 0;

	if (o->aio)
		r = qimg_opts_set(&extra,
				  o->image_opts ? "file.aio" : "file.aio",
				  o->aio);
	if (r == 0 && o->image_opts) {
		r = qimg_options_parse(name, &tree, &err);
		if (r < 0) {
			nbd_err(nt, "Failed to blk_new_open '%s': %s", name,
				tool_errmsg(r, &err));
			qimg_opts_free(&extra);
			return r;
		}
	}
	{
		struct qimg_open_args a = {
			.filename = o->image_opts ? NULL : name,
			.format = o->image_opts ? NULL : fmt,
			.options = tree,
			.objects = nt->t.objects,
			.names = nt->t.names,
			.flags = flags,
			.cache = o->cache,
			.opts = extra.len ? &extra : NULL,
			/* as qemu-nbd: a guessed raw image opened for
			 * writing is warned of, and drivers' warnings */
			.probed_raw = tool_warn_probed_raw,
			.warn = tool_warn_driver,
			.warn_opaque = &nt->t,
		};

		r = qimg_open(&a, out, &err);
	}
	qimg_value_free(tree);
	qimg_opts_free(&extra);
	if (r < 0) {
		const char *why = tool_errmsg(r, &err);

		/* A missing file reads "Could not open 'F': ..." inside
		 * qemu-nbd's own wrapper. */
		if (err.msg[0] && strncmp(why, "Could not open", 14) &&
		    (r == -ENOENT || r == -EACCES || r == -EISDIR))
			nbd_err(nt,
				"Failed to blk_new_open '%s': Could not "
				"open '%s': %s",
				name, name, why);
		else if (!err.msg[0])
			nbd_err(nt,
				"Failed to blk_new_open '%s': Could not "
				"open '%s': %s",
				name, name, strerror(-r));
		else
			nbd_err(nt, "Failed to blk_new_open '%s': %s", name,
				why);
	}
	return r;
}

/* -s: a qcow2 overlay over the image, in the temporary directory. */
static int open_snapshot(struct nbd_tool *nt, struct qimg_node **out)
{
	struct nbd_opts *o = &nt->o;
	struct qimg_error err = { 0 };
	struct qimg_opts co = { 0 };
	struct qimg_node *base = NULL;
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX], *abs = NULL, size[32];
	int fd, r;

	r = open_plain(nt, o->file, o->fmt, 0, &base);
	if (r < 0)
		return r;
	snprintf(size, sizeof(size), "%" PRIu64, qimg_size(base));
	snprintf(path, sizeof(path), "%s/vl.XXXXXX",
		 tmp && *tmp ? tmp : "/var/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		r = -errno;
		nbd_err(nt, "Could not create temporary overlay '%s': %s", path,
			strerror(errno));
		qimg_close(base);
		return r;
	}
	close(fd);
	abs = o->image_opts ? NULL : realpath(o->file, NULL);
	r = qimg_opts_set(&co, "size", size);
	if (r == 0)
		r = qimg_opts_set(&co, "backing_file",
				  abs ? abs : qimg_node_filename(base));
	if (r == 0)
		r = qimg_opts_set(&co, "backing_fmt", qimg_node_format(base));
	qimg_close(base);
	if (r == 0)
		r = qimg_create(path, "qcow2", &co, &err);
	qimg_opts_free(&co);
	free(abs);
	if (r == 0) {
		struct qimg_open_args a = {
			.filename = path,
			.format = "qcow2",
			.objects = nt->t.objects,
			.names = nt->t.names,
			.flags = QIMG_OPEN_RDWR |
				 (o->discard ? QIMG_OPEN_UNMAP : 0),
			.cache = o->cache,
		};

		r = qimg_open(&a, out, &err);
	}
	unlink(path);
	if (r < 0)
		nbd_err(nt, "Failed to blk_new_open '%s': %s", path,
			tool_errmsg(r, &err));
	return r;
}

/* -B NAME: the bitmap in the image, or else in its backing chain (as
 * qemu-nbd looks for it). */
static int find_bitmap(struct nbd_tool *nt, const char *name,
		       struct qimg_nbd_bitmap *out)
{
	struct qimg_node *n;
	uint64_t run;
	bool dirty;
	int r = -ENOENT;

	for (n = nt->node; n; n = qimg_node_backing(n)) {
		struct qimg_error err = { 0 };

		r = qimg_bitmap_status(n, name, 0, 1, &dirty, &run, &err);
		if (r == 0) {
			out->name = name;
			out->node = n;
			return 0;
		}
		if (r != -ENOENT) {
			nbd_err(nt, "%s", err.msg);
			return r;
		}
	}
	nbd_err(nt, "Bitmap '%s' is not found", name);
	return r;
}

int nbd_open_image(struct nbd_tool *nt, struct qimg_nbd_export *exp)
{
	struct nbd_opts *o = &nt->o;
	uint64_t size;
	unsigned int i;
	int r;

	if (o->snapshot)
		r = open_snapshot(nt, &nt->node);
	else
		r = open_plain(nt, o->file, o->fmt,
			       (o->readonly ? 0 : QIMG_OPEN_RDWR) |
				       (o->discard ? QIMG_OPEN_UNMAP : 0),
			       &nt->node);
	if (r < 0)
		return r;
	if (o->load_snapshot) {
		char *id = NULL, *name = NULL;

		r = tool_parse_snapshot_param(&nt->t, o->load_snapshot, &id,
					      &name);
		if (r == 0)
			r = tool_load_snapshot(&nt->t, nt->node,
					       o->load_snapshot, id, name);
		free(id);
		free(name);
		if (r < 0)
			return r;
	}
	size = qimg_size(nt->node);
	if (o->offset > size) {
		nbd_err(nt,
			"Offset (%" PRIu64 ") cannot be greater than size "
			"of the containing file (%" PRIu64 ")",
			o->offset, size);
		return -EINVAL;
	}
	/* (Offered last -B first, as qemu-nbd lists them.) */
	for (i = 0; i < o->nbitmaps; i++) {
		r = find_bitmap(nt, o->bitmaps[i],
				&nt->bitmaps[o->nbitmaps - 1 - i]);
		if (r < 0)
			return r;
	}
	memset(exp, 0, sizeof(*exp));
	exp->name = o->export_name;
	exp->description = o->description;
	exp->node = nt->node;
	exp->offset = o->offset;
	exp->size = size - o->offset;
	exp->layer_status = o->offset != 0;
	exp->readonly = o->readonly;
	exp->allocation_depth = o->allocation_depth;
	exp->bitmaps = nt->bitmaps;
	exp->nbitmaps = o->nbitmaps;
	exp->discard = o->discard;
	exp->detect_zeroes = o->detect_zeroes;
	/* As qemu-nbd: multi-conn when several clients may connect (they
	 * share one open image, so each sees the others' writes). */
	exp->multi_conn = o->shared != 1; /* 0: no limit */
	exp->workers = 8;
	return 0;
}
