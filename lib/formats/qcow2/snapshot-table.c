/* SPDX-License-Identifier: MIT */
/* Encoding the qcow2 snapshot table (see snapshot-table.h). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/snapshot-table.h"
#include "util/endian.h"

static uint32_t kept_extra(const struct qcow2_sn_entry *e)
{
	uint32_t x = e->extra_size;

	if (x > QCOW2_SN_MAX_EXTRA)
		x = QCOW2_SN_MAX_EXTRA;
	return x < QCOW2_SN_EXTRA_NOW ? QCOW2_SN_EXTRA_NOW : x;
}

size_t qcow2_sn_encoded_size(const struct qcow2_sn_entry *e)
{
	size_t n = QCOW2_SN_HEADER + kept_extra(e) + e->id_len + e->name_len;

	return (n + 7) & ~(size_t)7;
}

static void encode_one(const struct qcow2_sn_entry *e, uint64_t disk_size,
		       uint8_t *p)
{
	uint32_t stored = e->extra_size < QCOW2_SN_MAX_EXTRA
				  ? e->extra_size
				  : QCOW2_SN_MAX_EXTRA;
	uint32_t x = kept_extra(e);
	uint8_t *xp = p + QCOW2_SN_HEADER;

	qimg_store_be64(p, e->l1_offset);
	qimg_store_be32(p + 8, e->l1_size);
	qimg_store_be16(p + 12, e->id_len);
	qimg_store_be16(p + 14, e->name_len);
	qimg_store_be32(p + 16, e->date_sec);
	qimg_store_be32(p + 20, e->date_nsec);
	qimg_store_be64(p + 24, e->vm_clock_ns);
	qimg_store_be32(p + 32, e->vm_state_size32);
	qimg_store_be32(p + 36, x);

	/* the known fields, then whatever else the entry carried */
	qimg_store_be64(xp, e->vm_state_size32);
	qimg_store_be64(xp + 8, disk_size);
	qimg_store_be64(xp + 16, UINT64_MAX);
	if (e->extra && stored)
		memcpy(xp, e->extra, stored);
	memcpy(xp + x, e->id, e->id_len);
	memcpy(xp + x + e->id_len, e->name, e->name_len);
}

int qcow2_sn_encode(const struct qcow2_sn_entry *e, size_t n,
		    uint64_t disk_size, uint8_t **buf, size_t *len)
{
	size_t total = 0, i;
	uint8_t *b, *p;

	for (i = 0; i < n; i++)
		total += qcow2_sn_encoded_size(&e[i]);
	b = calloc(1, total ? total : 1);
	if (!b)
		return -ENOMEM;
	for (p = b, i = 0; i < n; i++) {
		encode_one(&e[i], disk_size, p);
		p += qcow2_sn_encoded_size(&e[i]);
	}
	*buf = b;
	/* the last entry's padding is not stored (as QEMU writes it) */
	if (n)
		total -= qcow2_sn_encoded_size(&e[n - 1]) -
			 (QCOW2_SN_HEADER + kept_extra(&e[n - 1]) +
			  e[n - 1].id_len + e[n - 1].name_len);
	*len = total;
	return 0;
}

void qcow2_sn_entries_clear(struct qcow2_sn_entry *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(e[i].id);
		free(e[i].name);
		free(e[i].extra);
		e[i].id = e[i].name = NULL;
		e[i].extra = NULL;
	}
}
