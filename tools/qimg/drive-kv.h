/* SPDX-License-Identifier: MIT */
/* Key=value lists for the -drive code (drive-kv.c). */
#ifndef QIMG_TOOL_DRIVE_KV_H
#define QIMG_TOOL_DRIVE_KV_H

#include <stddef.h>

#include "drive.h"

struct kvl {
	char **k, **v; /* in the order given */
	int n;
};

void kvl_free(struct kvl *l);
int kvl_add(struct kvl *l, const char *k, size_t klen, const char *v);
/* The value given last for k, or NULL. */
const char *kvl_get(const struct kvl *l, const char *k);
/* Drop every k. */
void kvl_del(struct kvl *l, const char *k);
/* A copy of the value given last for k, and k dropped; NULL if absent. */
char *kvl_take(struct kvl *l, const char *k);
/* Split text (the option as typed is `where`, for the warning a
 * short-form boolean gets) onto l; 0 or -ENOMEM. */
int kvl_split(const struct tool *t, const char *where, const char *text,
	      struct kvl *l);
/* The list back as QemuOpts text (commas doubled); NULL: no memory. */
char *join_opts(const struct kvl *l);

#endif
