/* SPDX-License-Identifier: MIT */
/* Opening images: the protocol node, format probing, the format node, image
 * locks, and the backing chain (names resolved relative to the image that
 * refers to them, as qemu-img resolves them). */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "core/node.h"
#include "protocols/file.h"

#define PROBE_BYTES 4096
#define MAX_CHAIN_DEPTH 256

struct qimg_node *qimg_node_new(const struct qimg_driver *drv,
				const char *filename, unsigned int flags,
				enum qimg_cache_mode cache)
{
	struct qimg_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->drv = drv;
	n->flags = flags;
	n->cache = cache;
	n->request_align = 1;
	n->filename = strdup(filename);
	if (drv->state_size)
		n->opaque = calloc(1, drv->state_size);
	if (!n->filename || (drv->state_size && !n->opaque)) {
		free(n->filename);
		free(n->opaque);
		free(n);
		return NULL;
	}
	pthread_mutex_init(&n->lock, NULL);
	return n;
}

/* Free a node whose driver is not open (or was closed). */
void qimg_node_free(struct qimg_node *n)
{
	if (!n)
		return;
	pthread_mutex_destroy(&n->lock);
	free(n->opaque);
	free(n->filename);
	free(n->backing_filename);
	free(n->backing_format);
	free(n->full_backing_filename);
	free(n);
}

int qimg_cache_mode_parse(const char *s, enum qimg_cache_mode *out)
{
	static const struct {
		const char *name;
		enum qimg_cache_mode mode;
	} modes[] = {
		{ "writeback", QIMG_CACHE_WRITEBACK },
		{ "none", QIMG_CACHE_NONE },
		{ "off", QIMG_CACHE_NONE },
		{ "writethrough", QIMG_CACHE_WRITETHROUGH },
		{ "directsync", QIMG_CACHE_DIRECTSYNC },
		{ "unsafe", QIMG_CACHE_UNSAFE },
	};
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(s, modes[i].name)) {
			*out = modes[i].mode;
			return 0;
		}
	}
	return -EINVAL;
}

/* Open the protocol layer for `filename`. */
int qimg_protocol_open(const char *filename, unsigned int flags,
		       enum qimg_cache_mode cache, struct qimg_node **out,
		       struct qimg_error *err)
{
	struct qimg_node *file =
		qimg_node_new(&qimg_driver_file, filename, flags, cache);
	int r;

	*out = NULL;
	if (!file)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = file->drv->open(file, NULL, err);
	if (r < 0) {
		qimg_node_free(file);
		return r;
	}
	*out = file;
	return 0;
}

void qimg_protocol_close(struct qimg_node *file)
{
	if (!file)
		return;
	file->drv->close(file);
	qimg_node_free(file);
}

/* Lock the image file as QEMU would for this format and mode. */
static int take_locks(struct qimg_node *node, struct qimg_error *err)
{
	struct qimg_node *file = node->file;
	unsigned int perm = QIMG_PERM_CONSISTENT_READ, unshared = 0;

	if (!file->drv->set_perm || (node->flags & QIMG_OPEN_NO_LOCK))
		return 0;
	if (node->flags & QIMG_OPEN_RDWR) {
		perm |= QIMG_PERM_WRITE;
		if (!node->drv->shares_file_writes)
			perm |= QIMG_PERM_RESIZE;
	}
	/* Formats keep metadata in the file, so they never share writes or
	 * resizes of it; raw does, unless the user of the image needs it
	 * stable (convert's sources, like qemu-img's BDRV_O_NO_SHARE). */
	if ((!node->drv->shares_file_writes ||
	     (node->flags & QIMG_OPEN_NO_SHARE)) &&
	    !(node->flags & QIMG_OPEN_FORCE_SHARE))
		unshared = QIMG_PERM_WRITE | QIMG_PERM_RESIZE;
	return file->drv->set_perm(file, perm, unshared, err);
}

static bool is_absolute_or_protocol(const char *name)
{
	const char *colon, *slash;

	if (name[0] == '/')
		return true;
	/* "proto:..." names (nbd:, json:) are not paths. */
	colon = strchr(name, ':');
	slash = strchr(name, '/');
	return colon && (!slash || colon < slash) && colon != name;
}

/* The backing file's path as seen from the directory of `image`. */
static char *resolve_backing(const char *image, const char *backing)
{
	const char *slash = strrchr(image, '/');
	size_t dirlen;
	char *r;

	if (is_absolute_or_protocol(backing) || !slash)
		return strdup(backing);
	dirlen = (size_t)(slash - image) + 1;
	r = malloc(dirlen + strlen(backing) + 1);
	if (!r)
		return NULL;
	memcpy(r, image, dirlen);
	memcpy(r + dirlen, backing, strlen(backing) + 1);
	return r;
}

static int open_chain(const struct qimg_open_args *args, int depth,
		      struct qimg_node **out, struct qimg_error *err);

static int open_backing(struct qimg_node *node,
			const struct qimg_open_args *args, int depth,
			struct qimg_error *err)
{
	struct qimg_open_args b = *args;
	struct qimg_error berr = { 0 };
	int r;

	if (depth >= MAX_CHAIN_DEPTH)
		return qimg_error_set(err, ELOOP,
				      "Backing chain is too long (a loop?)");
	b.filename = node->full_backing_filename;
	b.format = node->backing_format;
	b.flags = (args->flags & (QIMG_OPEN_FORCE_SHARE | QIMG_OPEN_NO_LOCK)) |
		  QIMG_OPEN_NO_IO * !!(args->flags & QIMG_OPEN_NO_IO);
	b.opts = NULL;
	b.warn = NULL;
	r = open_chain(&b, depth + 1, &node->backing, &berr);
	if (r < 0)
		return qimg_error_set(
			err, -r, "Could not open backing file: %s", berr.msg);
	return 0;
}

static int open_chain(const struct qimg_open_args *args, int depth,
		      struct qimg_node **out, struct qimg_error *err)
{
	const struct qimg_driver *drv = NULL;
	struct qimg_node *file, *node;
	bool probed = false;
	int r;

	*out = NULL;
	if ((args->flags & QIMG_OPEN_FORCE_SHARE) &&
	    (args->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EINVAL,
				      "force-share=on can only be used with "
				      "read-only images");
	if (args->format) {
		drv = qimg_driver_find(args->format);
		if (!drv || drv->kind != QIMG_DRIVER_FORMAT)
			return qimg_format_missing_error(args->format, true,
							 err);
	}
	r = qimg_protocol_open(args->filename, args->flags, args->cache, &file,
			       err);
	if (r < 0)
		return r;
	if (!args->format) {
		uint8_t head[PROBE_BYTES];
		int64_t len = qimg_node_length(file, err);
		size_t n;

		if (len < 0) {
			qimg_protocol_close(file);
			return (int)len;
		}
		n = len < PROBE_BYTES ? (size_t)len : PROBE_BYTES;
		r = qimg_pread(file, 0, head, n, err);
		if (r < 0) {
			qimg_protocol_close(file);
			return r;
		}
		drv = qimg_driver_probe(head, n, args->filename);
		probed = true;
		if (!drv || !strcmp(drv->name, "raw")) {
			const char *later = qimg_later_format_probe(
				head, n, args->filename);

			if (later) {
				qimg_protocol_close(file);
				return qimg_error_set(err, ENOTSUP,
						      "Image format '%s' is "
						      "not supported yet",
						      later);
			}
		}
		if (!drv) {
			qimg_protocol_close(file);
			return qimg_error_set(err, EINVAL,
					      "Could not determine the image "
					      "format");
		}
	}
	node = qimg_node_new(drv, args->filename, args->flags, args->cache);
	if (!node) {
		qimg_protocol_close(file);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	node->file = file;
	node->probed_raw = probed && !strcmp(drv->name, "raw");
	r = take_locks(node, err);
	if (r < 0)
		goto out_free;
	r = drv->open(node, args->opts, err);
	if (r < 0)
		goto out_free;
	if (node->probed_raw && (args->flags & QIMG_OPEN_RDWR) && args->warn) {
		char msg[PATH_MAX + 512];

		snprintf(
			msg, sizeof(msg),
			"WARNING: Image format was not specified for '%s' and "
			"probing guessed raw.\n         Automatically "
			"detecting the format is dangerous for raw images, "
			"write operations on block 0 will be restricted.\n"
			"         Specify the 'raw' format explicitly to remove "
			"the restrictions.",
			args->filename);
		args->warn(args->warn_opaque, msg);
	}
	if (node->backing_filename && node->backing_filename[0]) {
		node->full_backing_filename =
			resolve_backing(args->filename, node->backing_filename);
		if (!node->full_backing_filename) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto out_close;
		}
		if (!(args->flags & QIMG_OPEN_NO_BACKING)) {
			r = open_backing(node, args, depth, err);
			if (r < 0)
				goto out_close;
		}
	}
	*out = node;
	return 0;
out_close:
	drv->close(node);
out_free:
	node->file = NULL;
	qimg_protocol_close(file);
	qimg_node_free(node);
	return r;
}

int qimg_open(const struct qimg_open_args *args, struct qimg_node **out,
	      struct qimg_error *err)
{
	return open_chain(args, 0, out, err);
}

void qimg_close(struct qimg_node *node)
{
	while (node) {
		struct qimg_node *backing = node->backing;

		if (node->drv->kind == QIMG_DRIVER_FORMAT &&
		    (node->flags & QIMG_OPEN_RDWR))
			(void)qimg_flush(node, NULL);
		node->drv->close(node);
		if (node->data_file)
			qimg_protocol_close(node->data_file);
		qimg_protocol_close(node->file);
		qimg_node_free(node);
		node = backing;
	}
}

uint64_t qimg_size(const struct qimg_node *node)
{
	return node->size;
}

const char *qimg_node_filename(const struct qimg_node *node)
{
	return node->filename;
}

const char *qimg_node_format(const struct qimg_node *node)
{
	return node->drv->name;
}

struct qimg_node *qimg_node_backing(const struct qimg_node *node)
{
	return node->backing;
}

struct qimg_node *qimg_node_file(const struct qimg_node *node)
{
	return node->file;
}

uint32_t qimg_cluster_size(const struct qimg_node *node)
{
	return node->cluster_size;
}

bool qimg_has_zero_init(const struct qimg_node *node)
{
	return node->zero_init && !node->backing && !node->backing_filename;
}

uint32_t qimg_request_align(const struct qimg_node *node)
{
	return node->request_align ? node->request_align : 1;
}

int64_t qimg_allocated_size(struct qimg_node *node)
{
	int64_t total = 0, n;

	if (node->drv->allocated_size)
		return node->drv->allocated_size(node);
	if (node->drv->kind == QIMG_DRIVER_PROTOCOL)
		return -1;
	n = qimg_allocated_size(node->file);
	if (n < 0)
		return n;
	total += n;
	if (node->data_file) {
		n = qimg_allocated_size(node->data_file);
		if (n < 0)
			return n;
		total += n;
	}
	return total;
}

int64_t qimg_node_length(struct qimg_node *node, struct qimg_error *err)
{
	int64_t len;

	if (!node->drv->length)
		return (int64_t)node->size;
	len = node->drv->length(node);
	if (len < 0)
		return qimg_error_set_errno(err, (int)-len,
					    "Could not get size of '%s'",
					    node->filename);
	return len;
}
