/* SPDX-License-Identifier: MIT */
/* The parallels BAT through a page cache (parallels-bat.h). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/parallels-bat.h"
#include "util/endian.h"

#define SECTOR 512u

void par_bat_init(struct par_bat *b, struct qimg_node *file, uint64_t off,
		  uint64_t entries)
{
	memset(b, 0, sizeof(*b));
	b->file = file;
	b->off = off;
	b->entries = entries;
	pthread_mutex_init(&b->lock, NULL);
}

void par_bat_free(struct par_bat *b)
{
	size_t k;

	for (k = 0; k < PAR_BAT_SLOTS; k++) {
		free(b->slot[k].buf);
		b->slot[k].buf = NULL;
		b->slot[k].page = 0;
	}
	pthread_mutex_destroy(&b->lock);
}

/* Lock held: the cached page holding entry i (< entries), loaded into the
 * least recently used slot when it is not there. */
static int page_of(struct par_bat *b, uint64_t i, uint8_t **out,
		   struct qimg_error *err)
{
	uint64_t p = i / PAR_BAT_PAGE, first = p * PAR_BAT_PAGE, n;
	size_t k, pick = 0;
	uint8_t *buf;
	int r;

	b->tick++;
	for (k = 0; k < PAR_BAT_SLOTS; k++) {
		if (b->slot[k].page == p + 1) {
			b->slot[k].last = b->tick;
			*out = b->slot[k].buf;
			return 0;
		}
		if (b->slot[k].last < b->slot[pick].last)
			pick = k;
	}
	if (!b->slot[pick].buf) {
		b->slot[pick].buf = malloc(PAR_BAT_PAGE * 4);
		if (!b->slot[pick].buf)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	buf = b->slot[pick].buf;
	b->slot[pick].page = 0;
	n = b->entries - first < PAR_BAT_PAGE ? b->entries - first
					      : PAR_BAT_PAGE;
	memset(buf + n * 4, 0, (PAR_BAT_PAGE - n) * 4);
	r = qimg_pread(b->file, b->off + first * 4, buf, (size_t)n * 4, err);
	if (r < 0)
		return r;
	b->slot[pick].page = p + 1;
	b->slot[pick].last = b->tick;
	*out = buf;
	return 0;
}

int par_bat_read(struct par_bat *b, uint64_t first, uint32_t *out, size_t n,
		 struct qimg_error *err)
{
	size_t k = 0;
	int r = 0;

	pthread_mutex_lock(&b->lock);
	while (r == 0 && k < n) {
		uint64_t i = first + k;
		uint8_t *pg;
		size_t m;

		if (i >= b->entries) {
			out[k++] = 0;
			continue;
		}
		r = page_of(b, i, &pg, err);
		m = PAR_BAT_PAGE - i % PAR_BAT_PAGE;
		if (m > n - k)
			m = n - k;
		if (m > b->entries - i)
			m = (size_t)(b->entries - i);
		for (; r == 0 && m; m--, k++, i++)
			out[k] = qimg_load_le32(pg + (i % PAR_BAT_PAGE) * 4);
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

int par_bat_get(struct par_bat *b, uint64_t i, uint32_t *e,
		struct qimg_error *err)
{
	return par_bat_read(b, i, e, 1, err);
}

/* Lock held: entry i set to v; *old: what it was. */
static int set_entry(struct par_bat *b, uint64_t i, uint32_t v, uint32_t *old,
		     struct qimg_error *err)
{
	uint8_t *pg;
	int r = page_of(b, i, &pg, err);

	if (r < 0)
		return r;
	if (old)
		*old = qimg_load_le32(pg + (i % PAR_BAT_PAGE) * 4);
	qimg_store_le32(pg + (i % PAR_BAT_PAGE) * 4, v);
	return 0;
}

/* Lock held: the file's bytes [sec, sec + SECTOR) as far as the table
 * goes, into buf; *len: how many. */
static int sector_bytes(struct par_bat *b, const uint8_t *head, uint64_t sec,
			uint8_t *buf, size_t *len, struct qimg_error *err)
{
	uint64_t pos = sec, end = sec + SECTOR;
	int r;

	for (; pos < end && pos < b->off; pos++)
		buf[pos - sec] = head[pos];
	while (pos < end && (pos - b->off) / 4 < b->entries) {
		uint64_t i = (pos - b->off) / 4;
		uint8_t *pg;

		r = page_of(b, i, &pg, err);
		if (r < 0)
			return r;
		memcpy(buf + (pos - sec), pg + (i % PAR_BAT_PAGE) * 4, 4);
		pos += 4;
	}
	*len = (size_t)(pos - sec);
	return 0;
}

int par_bat_commit(struct par_bat *b, const uint8_t *head, const uint64_t *idx,
		   const uint32_t *e, size_t n, struct qimg_error *err)
{
	uint32_t old[SECTOR / 4];
	uint8_t buf[SECTOR];
	size_t k = 0, j, m, len;
	int r = 0;

	pthread_mutex_lock(&b->lock);
	while (r == 0 && k < n) {
		uint64_t sec = (b->off + idx[k] * 4) / SECTOR * SECTOR;

		/* the entries of this sector, set in the cache (the page just
		 * changed is the most recently used: loading the other page
		 * a sector may reach into does not evict it) */
		for (j = k, m = 0;
		     j < n && (b->off + idx[j] * 4) / SECTOR * SECTOR == sec &&
		     m < SECTOR / 4;
		     j++, m++) {
			r = set_entry(b, idx[j], e[j], &old[m], err);
			if (r < 0)
				break;
		}
		if (r == 0)
			r = sector_bytes(b, head, sec, buf, &len, err);
		if (r == 0)
			r = qimg_pwrite(b->file, sec, buf, len, err);
		if (r < 0) {
			/* not on the disk: forgotten (the caller's clusters
			 * are leaked, never named) */
			while (m--)
				(void)set_entry(b, idx[k + m], old[m], NULL,
						&(struct qimg_error){ 0 });
			break;
		}
		k = j;
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}
