/* SPDX-License-Identifier: MIT */
#ifndef QIMG_UTIL_GHASH_H
#define QIMG_UTIL_GHASH_H

#include <stddef.h>
#include <stdint.h>

/* Which unknown member QEMU names: its visitor keeps a struct's keys in a
 * glib hash table (inserted in QDict order), removes each as it is
 * visited, then names the first left in the table's slot order.  The
 * table is emulated here: its string hash, its slot and probe rules, and
 * its resizing (up, and down as keys leave), in place. */
struct qimg_ghash {
	unsigned int size, mod, mask, nnodes, noccupied;
	uint32_t *hash; /* 0 unused, 1 a removed key's, else the key's */
	size_t *key;	/* member index */
};

/* A table for up to nkeys keys; -ENOMEM. */
int qimg_ghash_init(struct qimg_ghash *g, size_t nkeys);
void qimg_ghash_free(struct qimg_ghash *g);
/* Key k (an index of the caller's) under its name; -ENOMEM. */
int qimg_ghash_insert(struct qimg_ghash *g, const char *name, size_t k);
/* Key k under its name taken out (nothing when absent); -ENOMEM. */
int qimg_ghash_remove(struct qimg_ghash *g, const char *name, size_t k);
/* The key in the first occupied slot, or none. */
size_t qimg_ghash_first(const struct qimg_ghash *g, size_t none);

#endif
