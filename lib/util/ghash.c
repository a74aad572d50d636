/* SPDX-License-Identifier: MIT */
/* The order in which glib's string hash table keeps its keys
 * (util/ghash.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/ghash.h"

/* The largest prime below 2^shift (glib's moduli). */
static const unsigned int gt_primes[] = {
	1,     2,      3,      7,      13,	31,	 61,	  127,
	251,   509,    1021,   2039,   4093,	8191,	 16381,	  32749,
	65521, 131071, 262139, 524287, 1048573, 2097143, 4194301, 8388593,
};

static uint32_t gt_str_hash(const char *s)
{
	uint32_t h = 5381;

	for (; *s; s++)
		h = h * 33 + (uint32_t)(int32_t)(signed char)*s;
	return h > 1 ? h : 2;
}

static unsigned int gt_slot(const struct qimg_ghash *g, uint32_t h)
{
	return (h * 11) % g->mod;
}

static void gt_set_shift(struct qimg_ghash *g, unsigned int want)
{
	unsigned int shift = 0;

	for (; want; want >>= 1)
		shift++;
	if (shift < 3)
		shift = 3;
	if (shift >= sizeof(gt_primes) / sizeof(gt_primes[0]))
		shift = sizeof(gt_primes) / sizeof(gt_primes[0]) - 1;
	g->size = 1u << shift;
	g->mod = gt_primes[shift];
	g->mask = g->size - 1;
}

/* Every key moved to its slot under the new size, in place: slots in
 * order, a key displacing the one in its slot, which moves on in turn.
 * (The arrays hold the largest size the keys can need.) */
static int gt_resize(struct qimg_ghash *g)
{
	unsigned int old = g->size, i, pos, step;
	uint32_t h, rh;
	size_t k, rk;
	uint8_t *moved;

	gt_set_shift(g, (unsigned int)(g->nnodes * 1.333));
	moved = calloc(old > g->size ? old : g->size, 1);
	if (!moved)
		return -ENOMEM;
	for (i = 0; i < old; i++) {
		h = g->hash[i];
		if (h > 1 && moved[i])
			continue;
		g->hash[i] = 0;
		for (k = g->key[i]; h > 1; h = rh, k = rk) {
			pos = gt_slot(g, h);
			for (step = 0; moved[pos];)
				pos = (pos + ++step) & g->mask;
			moved[pos] = 1;
			rh = g->hash[pos];
			rk = g->key[pos];
			g->hash[pos] = h;
			g->key[pos] = k;
		}
	}
	free(moved);
	g->noccupied = g->nnodes;
	return 0;
}

static int gt_maybe_resize(struct qimg_ghash *g)
{
	if ((g->size > g->nnodes * 4 && g->size > 8) ||
	    g->size <= g->noccupied + g->noccupied / 16)
		return gt_resize(g);
	return 0;
}

int qimg_ghash_insert(struct qimg_ghash *g, const char *name, size_t k)
{
	uint32_t h = gt_str_hash(name);
	unsigned int pos = gt_slot(g, h), step = 0, tomb = 0;
	bool have_tomb = false;

	while (g->hash[pos]) {
		if (g->hash[pos] == 1 && !have_tomb) {
			tomb = pos;
			have_tomb = true;
		}
		pos = (pos + ++step) & g->mask;
	}
	if (have_tomb)
		pos = tomb;
	g->hash[pos] = h;
	g->key[pos] = k;
	g->nnodes++;
	if (have_tomb)
		return 0;
	g->noccupied++;
	return gt_maybe_resize(g);
}

int qimg_ghash_remove(struct qimg_ghash *g, const char *name, size_t k)
{
	uint32_t h = gt_str_hash(name);
	unsigned int pos = gt_slot(g, h), step = 0;

	while (g->hash[pos]) {
		if (g->hash[pos] == h && g->key[pos] == k) {
			g->hash[pos] = 1;
			g->nnodes--;
			return gt_maybe_resize(g);
		}
		pos = (pos + ++step) & g->mask;
	}
	return 0;
}

int qimg_ghash_init(struct qimg_ghash *g, size_t nkeys)
{
	memset(g, 0, sizeof(*g));
	gt_set_shift(g, 0);
	/* (a size is at most 8, or 2 * 1.333 times the keys) */
	g->hash = calloc(8 + 4 * nkeys, sizeof(*g->hash));
	g->key = calloc(8 + 4 * nkeys, sizeof(*g->key));
	if (!g->hash || !g->key) {
		qimg_ghash_free(g);
		return -ENOMEM;
	}
	return 0;
}

void qimg_ghash_free(struct qimg_ghash *g)
{
	free(g->hash);
	free(g->key);
	g->hash = NULL;
	g->key = NULL;
}

size_t qimg_ghash_first(const struct qimg_ghash *g, size_t none)
{
	unsigned int i;

	for (i = 0; i < g->size; i++)
		if (g->hash[i] > 1)
			return g->key[i];
	return none;
}
