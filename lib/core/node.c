/* SPDX-License-Identifier: MIT */
/* Nodes: allocation, cache modes and the accessors of the public API.
 * Opening is in open.c. */

#include <stdio.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "core/node.h"
#include "qimg/node-names.h"

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
	n->limits.request_align = 1;
	n->limits.mem_align = 1;
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
	pthread_mutex_init(&n->reqs_lock, NULL);
	pthread_cond_init(&n->reqs_cond, NULL);
	return n;
}

/* Free a node whose driver is not open (or was closed). */
void qimg_node_free(struct qimg_node *n)
{
	if (!n)
		return;
	if (n->name_claimed)
		qimg_node_names_release(n->names, qimg_node_name(n), n);
	qimg_node_names_unref(n->names);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->reqs_lock);
	pthread_cond_destroy(&n->reqs_cond);
	free(n->opaque);
	free(n->filename);
	free(n->display_name);
	free(n->backing_filename);
	free(n->backing_format);
	free(n->full_backing_filename);
	qimg_value_free(n->options);
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

uint64_t qimg_size(const struct qimg_node *node)
{
	return node->size;
}

/* Whether every node from here down has its medium. */
static bool inserted(const struct qimg_node *node)
{
	size_t i;

	if (node->no_medium)
		return false;
	for (i = 0; i < node->nchildren; i++)
		if (node->children[i].node && !inserted(node->children[i].node))
			return false;
	return true;
}

int qimg_length(const struct qimg_node *node, uint64_t *out,
		struct qimg_error *err)
{
	if (!inserted(node))
		return qimg_error_set(err, ENOMEDIUM, "No medium found");
	*out = qimg_size(node);
	return 0;
}

const char *qimg_node_filename(const struct qimg_node *node)
{
	return node->display_name ? node->display_name : node->filename;
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

struct qimg_node *qimg_node_image(const struct qimg_node *node)
{
	while (node->drv->is_filter && node->file)
		node = node->file;
	return (struct qimg_node *)node;
}

uint32_t qimg_cluster_size(const struct qimg_node *node)
{
	return node->cluster_size;
}

bool qimg_needs_compressed_writes(const struct qimg_node *node)
{
	return node->needs_compressed_writes;
}

bool qimg_has_zero_init(const struct qimg_node *node)
{
	return node->zero_init && !node->backing && !node->backing_filename;
}

void qimg_node_warn(const struct qimg_node *node, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!node->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	node->warn(node->warn_opaque, msg);
}

bool qimg_node_probed_raw(const struct qimg_node *node)
{
	return node->probed_raw;
}

uint32_t qimg_node_export_align(const struct qimg_node *node)
{
	return node->limits.export_align ? node->limits.export_align : 1;
}

uint32_t qimg_request_align(const struct qimg_node *node)
{
	return node->limits.request_align ? node->limits.request_align : 1;
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
