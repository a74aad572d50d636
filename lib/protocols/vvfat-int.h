/* SPDX-License-Identifier: MIT */
/* vvfat: a read-only FAT12/FAT16 disk made up from a host directory, as
 * QEMU's "fat:" protocol shows it.  Internal to the driver: the geometry,
 * the tree of the directory as it was scanned (one item per file or
 * directory, in the order clusters are handed out), and the name rules. */
#ifndef QIMG_PROTOCOLS_VVFAT_INT_H
#define QIMG_PROTOCOLS_VVFAT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qimg/error.h"

#define VVFAT_SECTOR 512u
#define VVFAT_DIRENT 32u
#define VVFAT_ROOT_ENTRIES 512u
#define VVFAT_SECTORS_PER_CLUSTER 16u

/* The disk's shape, fixed by the FAT type and floppy-or-not. */
struct vvfat_geom {
	unsigned int fat_type; /* 12 or 16 */
	bool floppy;
	uint32_t cyls, heads, spt;
	uint32_t total;	       /* sectors of the disk */
	uint32_t boot;	       /* the boot sector (63 behind an MBR, or 0) */
	uint32_t part;	       /* sectors of the partition (total - boot) */
	uint32_t spf;	       /* sectors per FAT */
	uint32_t fat;	       /* first sector of the first FAT */
	uint32_t root;	       /* first sector of the root directory */
	uint32_t data;	       /* first sector of cluster 2 */
	uint32_t max_clusters; /* clusters the data area holds */
	uint32_t cluster_size; /* bytes */
};

/* One file or directory of the tree.  Item 0 is the root directory. */
struct vvfat_item {
	char *path; /* on the host */
	bool is_dir;
	uint64_t size;	/* bytes of a file */
	uint32_t first; /* first cluster, 0 for none */
	uint32_t count; /* clusters */
	size_t parent;	/* item of the directory holding it */
	size_t entry;	/* its short entry's byte offset there */
	/* Directories: the entries, count clusters' worth once placed. */
	uint8_t *dir;
	size_t dir_len;
};

struct vvfat_tree {
	struct vvfat_item *items;
	size_t n, cap;
	uint32_t next_cluster; /* the next free cluster */
};

int vvfat_geom_init(struct vvfat_geom *g, unsigned int fat_type, bool floppy);

/* Scan dir into t and give every item its clusters, as QEMU does: items
 * in the order they were found, each directory read when its turn comes.
 * Diagnostics (invalid names) go to err's notes. */
int vvfat_tree_build(struct vvfat_tree *t, const struct vvfat_geom *g,
		     const char *dir, const char *label,
		     struct qimg_error *err);
void vvfat_tree_free(struct vvfat_tree *t);

/* Names: the 8.3 name of a host name (11 bytes, space padded) unique in
 * the directory `entries` (n entries of 32 bytes), and the long-name
 * entries for it.  vvfat_lfn returns how many 32-byte entries it wrote to
 * out (room for 20), 0 when name is not valid UTF-8 (none then), or -1
 * when the name is longer than a long name can be. */
void vvfat_short_name(const char *name, const uint8_t *entries, size_t n,
		      uint8_t out[11]);
int vvfat_lfn(const char *name, const uint8_t shortname[11], uint8_t *out);

#endif
