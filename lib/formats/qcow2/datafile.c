/* SPDX-License-Identifier: MIT */
/* qcow2 external data files: finding and opening the data file of an
 * image (incompatible bit 2, header extension 0x44415441), metadata
 * preallocation over it (L2 entries at the guest's own offsets), resizing
 * it with the image, and giving back the clusters the image drops. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "formats/qcow2/qcow2.h"

/* The data-file child named by the node's options, or by the image. */
static int open_child(struct qimg_node *node, struct qcow2_state *s,
		      struct qimg_error *err)
{
	struct qimg_node *df = NULL;
	int r;

	/* Options first: a data file given there is opened (and its errors
	 * reported) before the image's feature bits are looked at, as
	 * qemu-img does. */
	r = qimg_open_child(node, "data-file", NULL,
			    QIMG_CHILD_OPTIONAL | QIMG_CHILD_PROTOCOL |
				    QIMG_CHILD_LOCK_DATA,
			    0, &df, err);
	if (r < 0)
		return r;
	if (!s->ext_data) {
		if (df)
			return qimg_error_set(err, EINVAL,
					      "'data-file' can only be set "
					      "for images with an external "
					      "data file");
		return 0;
	}
	if (!df && s->ext.data_file) {
		/* The stored name is a file name and nothing else: no
		 * json:{...}, no protocol (qemu-img 7.2 stopped parsing
		 * them for names read from an image). */
		r = qimg_open_child(node, "data-file", s->ext.data_file,
				    QIMG_CHILD_PROTOCOL |
					    QIMG_CHILD_PLAIN_NAME |
					    QIMG_CHILD_LOCK_DATA,
				    0, &df, err);
		if (r < 0)
			return r;
	}
	if (!df)
		return qimg_error_set(err, EINVAL,
				      "'data-file' is required for this image");
	s->data = df;
	return 0;
}

int qcow2_data_file_open(struct qimg_node *node, struct qcow2_state *s,
			 struct qimg_error *err)
{
	s->ext_data = s->h.incompatible_features & QCOW2_INCOMPAT_DATA_FILE;
	s->data_raw = s->ext_data &&
		      (s->h.autoclear_features & QCOW2_AUTOCLEAR_DATA_FILE_RAW);
	s->data = s->file;
	if (node->flags & QIMG_OPEN_NO_IO) {
		/* Metadata only: the data file stays closed, whatever the
		 * options name (qemu-img info opens nothing but the image). */
		qimg_value_free(qimg_dict_take(node->options, "data-file"));
		return 0;
	}
	if (!s->ext_data &&
	    (s->h.autoclear_features & QCOW2_AUTOCLEAR_DATA_FILE_RAW))
		return qimg_error_set(err, EINVAL,
				      "data-file-raw requires a data file");
	if (node->data_file) { /* create hands its data file over */
		s->data = node->data_file;
		return 0;
	}
	return open_child(node, s, err);
}

int qcow2_data_file_prealloc(struct qcow2_state *s, uint64_t c_from,
			     uint64_t c_to, struct qimg_error *err)
{
	uint64_t *ent, i, first, last, k, l2_off, e, b;
	uint8_t *tbl;
	int r = 0;

	if (c_from >= c_to)
		return 0;
	ent = malloc(s->l2_entries * sizeof(uint64_t));
	if (!ent)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (i = c_from >> s->l2_bits; r == 0 && i <= (c_to - 1) >> s->l2_bits;
	     i++) {
		first = i << s->l2_bits;
		last = first + s->l2_entries;
		if (first < c_from)
			first = c_from;
		if (last > c_to)
			last = c_to;
		r = qcow2_l2_prepare(s, first << s->cluster_bits, &l2_off, err);
		if (r == 0)
			r = qcow2_l2_load(s, l2_off, &tbl, err);
		for (k = 0; r == 0 && k < last - first; k++) {
			/* A cluster mapped already (growing from a partial
			 * last cluster) keeps its entry. */
			qcow2_l2_entry(s, tbl,
				       (first + k) & (s->l2_entries - 1), &e,
				       &b);
			ent[k] = qcow2_entry_has_host(s, e)
					 ? e
					 : ((first + k) << s->cluster_bits) |
						   QCOW2_OFLAG_COPIED;
		}
		/* With subclusters the bitmaps stay 0, as in the image file:
		 * the clusters are reserved, not data yet. */
		if (r == 0)
			r = qcow2_l2_set(s, l2_off, first & (s->l2_entries - 1),
					 last - first, ent, NULL, err);
	}
	free(ent);
	return r;
}

int qcow2_data_file_truncate(struct qcow2_state *s, uint64_t size,
			     const char *prealloc, struct qimg_error *err)
{
	const char *mode = "off";
	int64_t len;

	/* After a preallocation (always with a raw data file) the data file
	 * reaches the end of the last mapped cluster, and is only ever
	 * lengthened; otherwise it gets the image's size exactly (longer
	 * or shorter), as qemu-img sizes it. */
	if (s->data_raw || (prealloc && strcmp(prealloc, "off"))) {
		size = (size + s->cluster_size - 1) & ~(s->cluster_size - 1);
		len = qimg_node_length(s->data, err);
		if (len < 0)
			return (int)len;
		if ((uint64_t)len >= size)
			return 0;
	}

	if (prealloc &&
	    (!strcmp(prealloc, "falloc") || !strcmp(prealloc, "full")))
		mode = prealloc;
	return qimg_truncate(s->data, size, QIMG_TRUNCATE_SHRINK, mode, err);
}

void qcow2_data_file_release(struct qcow2_state *s, uint64_t off, uint64_t len)
{
	struct qimg_error ignored = { 0 };

	(void)qimg_discard(s->data, off, len, &ignored);
}
