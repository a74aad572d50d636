/* SPDX-License-Identifier: MIT */
/* vvfat: the directory tree as FAT directories and clusters.  Items are
 * kept in the order they are found (the root's entries in readdir order,
 * then each directory's as its turn comes), and clusters are handed out in
 * that order: a directory when it has been read, a file by its size.  Every
 * entry carries stat()'s times (symbolic links followed; a name that cannot
 * be stat'ed is left out): the creation field holds st_ctime, the access
 * date st_atime, the write time st_mtime, in local time. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "protocols/vvfat-int.h"
#include "util/endian.h"

#define LFN_MAX 20 /* long-name entries of a 255-character name */

struct dirbuf {
	uint8_t *b;
	size_t n, cap; /* entries */
};

static int dirbuf_room(struct dirbuf *d, size_t more)
{
	if (d->n + more > d->cap) {
		size_t cap = d->cap ? d->cap : 64;
		uint8_t *b;

		while (cap < d->n + more)
			cap *= 2;
		b = realloc(d->b, cap * VVFAT_DIRENT);
		if (!b)
			return -ENOMEM;
		memset(b + d->cap * VVFAT_DIRENT, 0,
		       (cap - d->cap) * VVFAT_DIRENT);
		d->b = b;
		d->cap = cap;
	}
	return 0;
}

/* FAT's time and date of t, in local time.  Years outside 1980..2107
 * wrap in the 16-bit field as they do in QEMU. */
static void fat_time(time_t t, uint16_t *time_out, uint16_t *date_out)
{
	struct tm tm;

	if (!localtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	*time_out = (uint16_t)((unsigned int)tm.tm_hour << 11 |
			       (unsigned int)tm.tm_min << 5 |
			       (unsigned int)tm.tm_sec / 2);
	*date_out = (uint16_t)((unsigned int)(tm.tm_year + 1900 - 1980) << 9 |
			       (unsigned int)(tm.tm_mon + 1) << 5 |
			       (unsigned int)tm.tm_mday);
}

/* A short entry with st's times (zeros when st is NULL). */
static void short_entry(uint8_t *e, const uint8_t name[11], uint8_t attr,
			const struct stat *st, uint32_t size)
{
	uint16_t t, d;

	memset(e, 0, VVFAT_DIRENT);
	memcpy(e, name, 11);
	e[11] = attr;
	if (st) {
		fat_time(st->st_ctime, &t, &d);
		qimg_store_le16(e + 14, (uint16_t)t);
		qimg_store_le16(e + 16, (uint16_t)d);
		fat_time(st->st_atime, &t, &d);
		qimg_store_le16(e + 18, (uint16_t)d);
		fat_time(st->st_mtime, &t, &d);
		qimg_store_le16(e + 22, (uint16_t)t);
		qimg_store_le16(e + 24, (uint16_t)d);
	}
	qimg_store_le32(e + 28, size);
}

static int add_item(struct vvfat_tree *t, char *path, bool is_dir,
		    uint64_t size, size_t parent, size_t entry)
{
	struct vvfat_item *it;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;

		it = realloc(t->items, cap * sizeof(*it));
		if (!it)
			return -ENOMEM;
		t->items = it;
		t->cap = cap;
	}
	it = &t->items[t->n++];
	memset(it, 0, sizeof(*it));
	it->path = path;
	it->is_dir = is_dir;
	it->size = size;
	it->parent = parent;
	it->entry = entry;
	return 0;
}

static char *join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

/* "." and ".." of a directory other than the root, with the times of
 * path/. and path/.. (the parent's cluster is known: it was placed
 * before). */
static int dot_entries(struct dirbuf *d, const char *path, uint32_t up)
{
	static const char *const names[2] = { ".", ".." };
	struct stat st;

	if (dirbuf_room(d, 2))
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		uint8_t name[11];
		char *p = join(path, names[i]);
		bool ok;

		if (!p)
			return -ENOMEM;
		ok = stat(p, &st) == 0;
		free(p);
		memset(name, ' ', 11);
		memcpy(name, names[i], strlen(names[i]));
		short_entry(d->b + d->n * VVFAT_DIRENT, name, 0x10,
			    ok ? &st : NULL, 0);
		if (i == 1)
			qimg_store_le16(d->b + d->n * VVFAT_DIRENT + 26,
					(uint16_t)up);
		d->n++;
	}
	return 0;
}

/* Read directory item i: its entries into a buffer, its children appended
 * to the tree. */
static int read_dir(struct vvfat_tree *t, size_t i, const char *label,
		    struct qimg_error *err)
{
	struct dirbuf d = { 0 };
	const char *path = t->items[i].path;
	struct dirent *de;
	DIR *dh;
	int r = 0;

	if (i == 0) {
		uint8_t name[11];

		memset(name, ' ', 11);
		memcpy(name, label, strlen(label));
		if (dirbuf_room(&d, 1))
			return -ENOMEM;
		short_entry(d.b, name, 0x28, NULL, 0);
		d.n = 1;
	} else {
		size_t up = t->items[i].parent;

		r = dot_entries(&d, path, up ? t->items[up].first : 0);
		if (r)
			goto fail_nomem;
	}
	dh = opendir(path);
	if (!dh) {
		free(d.b);
		return qimg_error_set(err, EIO, "Could not read directory %s",
				      path);
	}
	while ((de = readdir(dh))) {
		uint8_t sn[11], lfn[LFN_MAX * VVFAT_DIRENT];
		struct stat st;
		char *p;
		int k;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		p = join(path, de->d_name);
		if (!p) {
			r = -ENOMEM;
			break;
		}
		if (stat(p, &st) < 0) {
			free(p);
			continue;
		}
		vvfat_short_name(de->d_name, d.b, d.n, sn);
		k = vvfat_lfn(de->d_name, sn, lfn);
		if (k == 0)
			qimg_error_note(err, "vvfat: invalid UTF-8 name: %s",
					de->d_name);
		if (k < 0)
			k = 0;
		if (i == 0 && d.n + (size_t)k + 1 > VVFAT_ROOT_ENTRIES) {
			free(p);
			qimg_error_note(err,
					"Too many entries in root directory");
			r = qimg_error_set(err, EIO,
					   "Could not read directory %s", path);
			break;
		}
		if (dirbuf_room(&d, (size_t)k + 1)) {
			free(p);
			r = -ENOMEM;
			break;
		}
		memcpy(d.b + d.n * VVFAT_DIRENT, lfn, (size_t)k * VVFAT_DIRENT);
		d.n += (size_t)k;
		short_entry(d.b + d.n * VVFAT_DIRENT, sn,
			    S_ISDIR(st.st_mode) ? 0x10 : 0x20, &st,
			    S_ISDIR(st.st_mode) ? 0 : (uint32_t)st.st_size);
		r = add_item(t, p, S_ISDIR(st.st_mode),
			     S_ISDIR(st.st_mode) ? 0 : (uint64_t)st.st_size, i,
			     d.n * VVFAT_DIRENT);
		if (r) {
			free(p);
			break;
		}
		d.n++;
	}
	closedir(dh);
	if (r) {
		free(d.b);
		return r == -ENOMEM
			       ? qimg_error_set(err, ENOMEM, "Out of memory")
			       : r;
	}
	t->items[i].dir = d.b;
	t->items[i].dir_len = d.n * VVFAT_DIRENT;
	return 0;
fail_nomem:
	free(d.b);
	return qimg_error_set(err, ENOMEM, "Out of memory");
}

/* Give item i its clusters, and tell its directory entry (and a
 * directory's "." entry) where they start. */
static int place(struct vvfat_tree *t, size_t i, const struct vvfat_geom *g,
		 struct qimg_error *err)
{
	struct vvfat_item *it = &t->items[i];
	uint64_t bytes = it->is_dir ? it->dir_len : it->size;
	uint64_t count = (bytes + g->cluster_size - 1) / g->cluster_size;
	uint8_t *pe;

	if (!count)
		return 0;
	if (count > g->max_clusters ||
	    t->next_cluster - 2 + count > g->max_clusters)
		return qimg_error_set(err, ENOSPC,
				      "Directory does not fit in FAT%u "
				      "(capacity %.2f MB)",
				      g->fat_type,
				      (double)g->part * VVFAT_SECTOR /
					      (1000.0 * 1024.0));
	it->first = t->next_cluster;
	it->count = (uint32_t)count;
	t->next_cluster += (uint32_t)count;
	pe = t->items[it->parent].dir + it->entry;
	qimg_store_le16(pe + 26, (uint16_t)it->first);
	if (it->is_dir) {
		uint8_t *b = realloc(it->dir, count * g->cluster_size);

		if (!b)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		memset(b + it->dir_len, 0,
		       count * g->cluster_size - it->dir_len);
		it->dir = b;
		qimg_store_le16(b + 26, (uint16_t)it->first); /* "." */
	}
	return 0;
}

int vvfat_tree_build(struct vvfat_tree *t, const struct vvfat_geom *g,
		     const char *dir, const char *label, struct qimg_error *err)
{
	char *root = strdup(dir);
	int r;

	memset(t, 0, sizeof(*t));
	t->next_cluster = 2;
	if (!root || add_item(t, root, true, 0, 0, 0)) {
		free(root);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = read_dir(t, 0, label, err);
	if (r)
		goto fail;
	{
		/* The root directory has its own area, VVFAT_ROOT_ENTRIES big. */
		uint8_t *b = realloc(t->items[0].dir,
				     VVFAT_ROOT_ENTRIES * VVFAT_DIRENT);

		if (!b) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto fail;
		}
		memset(b + t->items[0].dir_len, 0,
		       VVFAT_ROOT_ENTRIES * VVFAT_DIRENT - t->items[0].dir_len);
		t->items[0].dir = b;
	}
	for (size_t i = 1; i < t->n; i++) {
		if (t->items[i].is_dir) {
			r = read_dir(t, i, label, err);
			if (r)
				goto fail;
		}
		r = place(t, i, g, err);
		if (r)
			goto fail;
	}
	return 0;
fail:
	vvfat_tree_free(t);
	return r;
}

void vvfat_tree_free(struct vvfat_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->items[i].path);
		free(t->items[i].dir);
	}
	free(t->items);
	memset(t, 0, sizeof(*t));
}
