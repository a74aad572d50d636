/* SPDX-License-Identifier: MIT */
/* qcow2 write bookkeeping shared by every write path: the guest clusters
 * being allocated right now (s->inflight, so two writers never allocate the
 * same cluster; waiters sleep on s->cond under s->lock), and what must
 * reach the disk before the first change (autoclear bits, dirty bit). */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

bool qcow2_inflight_overlaps(const struct qcow2_state *s, uint64_t c,
			     uint64_t n)
{
	size_t i;

	for (i = 0; i < s->inflight.len; i++) {
		const struct qcow2_range *r = &s->inflight.v[i];

		if (c < r->start + r->n && r->start < c + n)
			return true;
	}
	return false;
}

void qcow2_inflight_wait(struct qcow2_state *s, uint64_t c, uint64_t n)
{
	while (qcow2_inflight_overlaps(s, c, n))
		pthread_cond_wait(&s->cond, &s->lock);
}

int qcow2_inflight_add(struct qcow2_state *s, uint64_t c, uint64_t n)
{
	return qcow2_ranges_append(&s->inflight,
				   (struct qcow2_range){ .start = c, .n = n });
}

void qcow2_inflight_del(struct qcow2_state *s, uint64_t c)
{
	size_t i;

	for (i = 0; i < s->inflight.len; i++) {
		if (s->inflight.v[i].start == c) {
			s->inflight.v[i] = s->inflight.v[--s->inflight.len];
			break;
		}
	}
	pthread_cond_broadcast(&s->cond);
}

int qcow2_pre_write(struct qcow2_state *s, struct qimg_error *err)
{
	uint64_t keep;
	uint8_t b[8];
	int r;

	if (s->autoclear_done)
		return 0;
	/* Before the first change, clear the autoclear bits of what this
	 * open does not keep up to date, as the spec asks of such writers:
	 * every bit but the bitmaps' one while they are tracked
	 * (bitmap-track.c; it is cleared anyway when they could not be
	 * loaded, dropping them). */
	keep = qcow2_bitmaps_tracking(s) ? QCOW2_AUTOCLEAR_BITMAPS : 0;
	/* A raw data file is kept raw by every write (datafile.c). */
	if (s->data_raw)
		keep |= QCOW2_AUTOCLEAR_DATA_FILE_RAW;
	if ((s->h.autoclear_features & ~keep) && s->h.version >= 3) {
		qimg_store_be64(b, s->h.autoclear_features & keep);
		r = qimg_pwrite(s->file, QCOW2_HDR_AUTOCLEAR_OFF, b, sizeof(b),
				err);
		if (r < 0)
			return r;
		s->h.autoclear_features &= keep;
	}
	s->autoclear_done = true;
	return 0;
}

int qcow2_mark_dirty(struct qcow2_state *s, struct qimg_error *err)
{
	int r;

	r = qcow2_pre_write(s, err);
	if (r < 0)
		return r;
	if (!s->lazy || s->dirty_set)
		return 0;
	/* The bit must be on disk before any refcount update is skipped. */
	r = qcow2_write_incompat(
		s, s->h.incompatible_features | QCOW2_INCOMPAT_DIRTY, err);
	if (r < 0)
		return r;
	r = qimg_flush(s->file, err);
	if (r < 0)
		return r;
	s->dirty_set = true;
	return 0;
}
