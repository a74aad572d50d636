/* SPDX-License-Identifier: MIT */
/* Persistent dirty bitmaps, read side only: the bitmap directory listed
 * for `info` and sized for `measure`.  Bitmaps are not kept up to date by
 * this driver; a read-write open clears the autoclear bit instead. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"
#include "util/endian.h"

#define MAX_BITMAPS 65535
#define MAX_DIR_BYTES (64u << 20)

void qcow2_bitmaps_free(struct qcow2_bitmap *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(b[i].name);
	free(b);
}

int qcow2_bitmaps_read(struct qcow2_state *s, struct qcow2_bitmap **out,
		       size_t *nout, struct qimg_error *err)
{
	uint32_t nb;
	uint64_t dsize, doff, pos = 0;
	struct qcow2_bitmap *b;
	uint8_t *dir;
	size_t i;
	int r;

	*out = NULL;
	*nout = 0;
	if (!s->ext.has_bitmaps ||
	    !(s->h.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS))
		return 0;
	nb = qimg_load_be32(s->ext.bitmaps + QCOW2_EXT_BITMAPS_NB_OFF);
	dsize = qimg_load_be64(s->ext.bitmaps + QCOW2_EXT_BITMAPS_DIR_SIZE_OFF);
	doff = qimg_load_be64(s->ext.bitmaps +
			      QCOW2_EXT_BITMAPS_DIR_OFFSET_OFF);
	if (nb == 0 || nb > MAX_BITMAPS || dsize > MAX_DIR_BYTES ||
	    dsize < QCOW2_BMDIR_ENTRY_LEN || doff & (s->cluster_size - 1))
		return qimg_error_set(err, EUCLEAN,
				      "Invalid bitmaps "
				      "extension");
	dir = malloc(dsize);
	b = calloc(nb, sizeof(*b));
	if (!dir || !b) {
		free(dir);
		free(b);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = qimg_pread(s->file, doff, dir, dsize, err);
	for (i = 0; r == 0 && i < nb; i++) {
		uint64_t nlen, xlen;

		if (dsize - pos < QCOW2_BMDIR_ENTRY_LEN) {
			r = qimg_error_set(err, EUCLEAN,
					   "Bitmap directory "
					   "is truncated");
			break;
		}
		b[i].flags = qimg_load_be32(dir + pos + QCOW2_BMDIR_FLAGS_OFF);
		b[i].gran_bits = dir[pos + QCOW2_BMDIR_GRAN_BITS_OFF];
		nlen = qimg_load_be16(dir + pos + QCOW2_BMDIR_NAME_SIZE_OFF);
		xlen = qimg_load_be32(dir + pos + QCOW2_BMDIR_EXTRA_SIZE_OFF);
		if (xlen > dsize ||
		    QCOW2_BMDIR_ENTRY_LEN + xlen + nlen > dsize - pos ||
		    b[i].gran_bits < 9 || b[i].gran_bits > 31) {
			r = qimg_error_set(err, EUCLEAN,
					   "Invalid bitmap "
					   "directory entry");
			break;
		}
		b[i].name = malloc(nlen + 1);
		if (!b[i].name) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			break;
		}
		memcpy(b[i].name, dir + pos + QCOW2_BMDIR_ENTRY_LEN + xlen,
		       nlen);
		b[i].name[nlen] = '\0';
		/* Flags other than in_use and auto are reserved (QEMU 7.2
		 * reserves extra_data_compatible too): such a bitmap cannot
		 * be used. */
		if (b[i].flags & ~0x3u) {
			r = qimg_error_set(err, EINVAL,
					   "Bitmap '%s' doesn't satisfy the "
					   "constraints",
					   b[i].name);
			i++;
			break;
		}
		pos += (QCOW2_BMDIR_ENTRY_LEN + xlen + nlen + 7) & ~7ull;
	}
	free(dir);
	if (r < 0) {
		qcow2_bitmaps_free(b, nb);
		return r;
	}
	*out = b;
	*nout = nb;
	return 0;
}
