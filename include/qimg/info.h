/* SPDX-License-Identifier: MIT */
/* What `qimg info` shows of one image. */
#ifndef QIMG_INFO_H
#define QIMG_INFO_H

#include <stdbool.h>
#include <stdint.h>

#include "qimg/error.h"
#include "qimg/value.h"

struct qimg_node;

struct qimg_image_info {
	char *filename; /* as given / as resolved */
	char *format;	/* driver name */
	uint64_t virtual_size;
	int64_t actual_size;   /* -1: unavailable */
	bool has_info;	       /* driver answered: cluster size, dirty */
	uint32_t cluster_size; /* 0: none */
	bool encrypted;
	bool dirty;
	char *backing_filename;	     /* as stored in the image, or NULL */
	char *full_backing_filename; /* resolved path, or NULL */
	char *backing_format;	     /* as stored, or NULL */
	struct qimg_value
		*format_specific;     /* {"type":..,"data":{..}} or NULL */
	struct qimg_value *snapshots; /* list of SnapshotInfo or NULL */
};

int qimg_get_image_info(struct qimg_node *node, struct qimg_image_info *out,
			struct qimg_error *err);
void qimg_image_info_free(struct qimg_image_info *info);

#endif
