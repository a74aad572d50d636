/* SPDX-License-Identifier: MIT */
/* A small LRU cache of cluster-sized metadata tables (L2 tables, refcount
 * blocks), keyed by host offset.  Callers hold the image's metadata lock;
 * write-back of dirty refcount blocks is the owner's business.  A slot's
 * table is allocated when the slot is first used (a slot holding a table,
 * off != 0, always has one): an image that needs few tables, as most
 * commands on small images do, allocates few. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"

int qcow2_cache_init(struct qcow2_cache *c, size_t n, size_t cluster_size)
{
	memset(c, 0, sizeof(*c));
	c->slot = calloc(n, sizeof(*c->slot));
	if (!c->slot)
		return -ENOMEM;
	c->n = n;
	c->cluster_size = cluster_size;
	return 0;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
	size_t i;

	if (!c->slot)
		return;
	for (i = 0; i < c->n; i++)
		free(c->slot[i].buf);
	free(c->slot);
	memset(c, 0, sizeof(*c));
}

struct qcow2_cache_slot *qcow2_cache_find(struct qcow2_cache *c, uint64_t off)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (c->slot[i].off == off) {
			qcow2_cache_touch(c, &c->slot[i]);
			return &c->slot[i];
		}
	}
	return NULL;
}

struct qcow2_cache_slot *qcow2_cache_victim(struct qcow2_cache *c)
{
	struct qcow2_cache_slot *best = &c->slot[0];
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (!c->slot[i].off) {
			best = &c->slot[i];
			break;
		}
		if (c->slot[i].lru < best->lru)
			best = &c->slot[i];
	}
	if (!best->buf) {
		best->buf = malloc(c->cluster_size);
		if (!best->buf)
			return NULL;
	}
	return best;
}

void qcow2_cache_touch(struct qcow2_cache *c, struct qcow2_cache_slot *sl)
{
	sl->lru = ++c->clock;
}

void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (c->slot[i].off == off) {
			c->slot[i].off = 0;
			c->slot[i].dirty = false;
		}
	}
}
