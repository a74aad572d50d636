/* SPDX-License-Identifier: MIT */
/* vvfat's disk shapes (observed on QEMU 7.2): a hard disk of 16 heads and
 * 63 sectors a track, 1024 cylinders for FAT16 and 64 for FAT12, with an
 * MBR and the partition from sector 63; a floppy of 80 cylinders and 2
 * heads, 18 sectors a track for an explicit FAT12 (1.44 MB) and 36 for the
 * rest (2.88 MB; a floppy defaults to FAT12), the boot sector first.
 * Clusters are 16 sectors, the root directory 512 entries, the FATs two. */
#include "protocols/vvfat-int.h"

int vvfat_geom_init(struct vvfat_geom *g, unsigned int fat_type, bool floppy)
{
	uint32_t per_fat;

	g->floppy = floppy;
	if (floppy) {
		g->cyls = 80;
		g->heads = 2;
		g->spt = fat_type == 12 ? 18 : 36;
		g->boot = 0;
		g->fat_type = fat_type ? fat_type : 12;
	} else {
		g->fat_type = fat_type ? fat_type : 16;
		g->cyls = g->fat_type == 12 ? 64 : 1024;
		g->heads = 16;
		g->spt = 63;
		g->boot = 63;
	}
	if (g->fat_type != 12 && g->fat_type != 16)
		return -1;
	g->total = g->cyls * g->heads * g->spt;
	g->part = g->total - g->boot;
	g->cluster_size = VVFAT_SECTORS_PER_CLUSTER * VVFAT_SECTOR;
	/* Sectors of clusters one FAT sector maps (plus one), as QEMU sizes
	 * the FAT. */
	per_fat = 1 + g->cluster_size * 8 / g->fat_type;
	g->spf = (g->part + per_fat) / per_fat;
	g->fat = g->boot + 1;
	g->root = g->fat + 2 * g->spf;
	g->data = g->root + VVFAT_ROOT_ENTRIES * VVFAT_DIRENT / VVFAT_SECTOR;
	g->max_clusters = (g->part - g->data) / VVFAT_SECTORS_PER_CLUSTER;
	return 0;
}
