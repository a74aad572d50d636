/* SPDX-License-Identifier: MIT */
/* Two drives of one guest on one image file: what QEMU's block-layer
 * permissions allow, as qemu-system-x86_64 7.2 shows it.  Each user of a
 * file may hold "write" (it writes) and "no write" (it forbids other
 * writers):
 *   - when a drive opens, an image format other than raw takes both when
 *     read-write and "no write" when read-only, without looking at what
 *     others hold first; the images of its backing chain take "no write";
 *   - when the guest's device attaches (floppies, then IDE by bus and
 *     unit, while the board is built; then virtio devices in command-line
 *     order), a raw image takes both (read-write) or "no write" (read-only),
 *     and a -snapshot drive's image "no write".
 * Taking "write" where another forbids it fails with 'Failed to get
 * "write" lock'; forbidding writes another holds with 'Failed to get
 * shared "write" lock'.  Without this, qimg would let two drives write one
 * qcow2 file, which corrupts it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "drive.h"

struct holder {
	dev_t dev;
	ino_t ino;
	bool w, u;
};

struct perm_state {
	struct holder *h;
	int n;
};

/* The protocol file under an image node, NULL if it is no local file. */
static bool file_id(struct qimg_node *img, struct stat *st, const char **name)
{
	struct qimg_node *f = qimg_node_file(img);

	if (!f || strcmp(qimg_node_format(f), "file"))
		return false;
	*name = qimg_node_filename(f);
	return *name && stat(*name, st) == 0;
}

static int conflict(const struct tool *t, const char *where, bool shared,
		    const char *name)
{
	fprintf(stderr, "%s: ", t->prog);
	if (where)
		fprintf(stderr, "%s: ", where);
	fprintf(stderr,
		"Failed to get %s\"write\" lock\nIs another process using the "
		"image [%s]?\n",
		shared ? "shared " : "", name);
	return 1;
}

/* img takes w and/or u; check: look at the others first. */
static int take(const struct tool *t, struct perm_state *ps,
		struct qimg_node *img, bool w, bool u, bool check,
		const char *where)
{
	struct holder *nh;
	const char *name;
	struct stat st;

	if (!img || !file_id(img, &st, &name))
		return 0;
	for (int i = 0; i < ps->n; i++) {
		struct holder *h = &ps->h[i];

		if (h->dev != st.st_dev || h->ino != st.st_ino)
			continue;
		if (w && h->u)
			return conflict(t, where, false, name);
		if (check && u && h->w)
			return conflict(t, where, true, name);
	}
	nh = realloc(ps->h, (size_t)(ps->n + 1) * sizeof(*nh));
	if (!nh)
		return drive_fail(t, NULL, "Out of memory");
	ps->h = nh;
	ps->h[ps->n++] = (struct holder){ st.st_dev, st.st_ino, w, u };
	return 0;
}

static bool is_raw(struct qimg_node *img)
{
	return !strcmp(qimg_node_format(img), "raw");
}

/* The image a drive's device sees (below filters; under -snapshot, the
 * image below the overlay). */
static struct qimg_node *drive_image(const struct drive *d)
{
	struct qimg_node *img = qimg_node_image(d->node);

	if (d->snapshot && qimg_node_backing(img))
		img = qimg_node_image(qimg_node_backing(img));
	return img;
}

struct perm_state *drive_perm_new(void)
{
	return calloc(1, sizeof(struct perm_state));
}

void drive_perm_free(struct perm_state *ps)
{
	if (ps)
		free(ps->h);
	free(ps);
}

int drive_perm_open(const struct tool *t, struct perm_state *ps,
		    const struct drive *d)
{
	struct qimg_node *img = drive_image(d), *b;

	if (!d->snapshot && !is_raw(img) &&
	    take(t, ps, img, !d->readonly, true, false, d->where))
		return 1;
	for (b = qimg_node_backing(img); b; b = qimg_node_backing(b)) {
		b = qimg_node_image(b);
		if (take(t, ps, b, false, true, false, d->where))
			return 1;
	}
	return 0;
}

int drive_perm_attach(const struct tool *t, struct perm_state *ps,
		      const struct drive *d, const char *where)
{
	struct qimg_node *img;

	if (!d->node)
		return 0;
	img = drive_image(d);
	if (d->snapshot)
		return take(t, ps, img, false, true, true, where);
	if (!is_raw(img))
		return 0;
	return take(t, ps, img, !d->readonly, true, d->readonly, where);
}
