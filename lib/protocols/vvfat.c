/* SPDX-License-Identifier: MIT */
/* The vvfat protocol: a host directory shown as a FAT12/FAT16 disk, read
 * only, laid out as QEMU 7.2 lays it out (same MBR, boot sector, FATs,
 * directory entries, short names and cluster order), so that
 * `qimg convert fat:DIR disk.img` gives qemu-img's bytes.  One difference
 * on purpose: the bytes of a file's last cluster past its end read as
 * zeros (QEMU's show whatever its cluster buffer held before).  The tree
 * is scanned once at open; file data is read from the host files when the
 * guest reads it.  Not supported: FAT32 (QEMU's is not a valid file system)
 * and "rw" (writing the guest's changes back to the directory). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/driver.h"
#include "protocols/vvfat-int.h"
#include "util/endian.h"
#include "protocols/vvfat.h"

#define DEFAULT_LABEL "QEMU VVFAT "
#define SERIAL 0xfabe1afdu

struct vvfat_state {
	struct vvfat_geom g;
	struct vvfat_tree tree;
	uint8_t mbr[VVFAT_SECTOR];
	uint8_t boot[VVFAT_SECTOR];
	uint8_t *fat;	/* one FAT, spf sectors */
	size_t *placed; /* items holding clusters, by first cluster */
	size_t nplaced;
};

static const struct qimg_opt_desc vvfat_runtime_opts[] = {
	{ "dir", QIMG_OPT_STRING, "Host directory to map to the vvfat device",
	  NULL },
	{ "fat-type", QIMG_OPT_NUMBER, "FAT type (12, 16 or 32)", NULL },
	{ "floppy", QIMG_OPT_BOOL, "Create a floppy rather than a hard disk",
	  NULL },
	{ "label", QIMG_OPT_STRING, "Use a volume label other than QEMU VVFAT",
	  NULL },
	{ "rw", QIMG_OPT_BOOL, "Make the image writable", NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const vvfat_protocols[] = { "fat", NULL };
/* All of them name the node (json:{...}), as in qemu-img. */
static const char *const vvfat_strong_opts[] = { "dir",	  "fat-type", "floppy",
						 "label", "rw",	      NULL };

/* "fat:" then any of ":floppy:", ":rw:", ":32:", ":16:", ":12:" (32 wins
 * over 16 over 12), the directory after the last colon. */
static int vvfat_parse_filename(const char *filename, struct qimg_value *o,
				struct qimg_error *err)
{
	int type = 0;

	if (strncmp(filename, "fat:", 4))
		return qimg_error_set(err, EINVAL,
				      "File name string must start with "
				      "'fat:'");
	if (strstr(filename, ":32:"))
		type = 32;
	else if (strstr(filename, ":16:"))
		type = 16;
	else if (strstr(filename, ":12:"))
		type = 12;
	if (qimg_dict_put_str(o, "dir", strrchr(filename, ':') + 1) ||
	    qimg_dict_put_int(o, "fat-type", type) ||
	    qimg_dict_put_bool(o, "floppy", strstr(filename, ":floppy:")) ||
	    qimg_dict_put_bool(o, "rw", strstr(filename, ":rw:")))
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

static void chs(uint8_t *p, const struct vvfat_geom *g, uint32_t lba)
{
	uint32_t c = lba / (g->heads * g->spt);

	p[0] = (uint8_t)(lba / g->spt % g->heads);
	p[1] = (uint8_t)((lba % g->spt + 1) | ((c >> 2) & 0xc0));
	p[2] = (uint8_t)c;
}

static void make_mbr(uint8_t *m, const struct vvfat_geom *g)
{
	uint8_t *pe = m + 0x1be;

	memset(m, 0, VVFAT_SECTOR);
	qimg_store_le32(m + 0x1b8, 0xbe1afdfau);
	pe[0] = 0x80;
	chs(pe + 1, g, g->boot);
	pe[4] = g->fat_type == 12 ? 0x01 : 0x06;
	chs(pe + 5, g, g->total - 1);
	qimg_store_le32(pe + 8, g->boot);
	qimg_store_le32(pe + 12, g->part);
	m[510] = 0x55;
	m[511] = 0xaa;
}

static void make_boot(uint8_t *b, const struct vvfat_geom *g, const char *label)
{
	memset(b, 0, VVFAT_SECTOR);
	memcpy(b, "\xeb\x3e\x90MSWIN4.1", 11);
	qimg_store_le16(b + 11, (uint16_t)VVFAT_SECTOR);
	b[13] = VVFAT_SECTORS_PER_CLUSTER;
	qimg_store_le16(b + 14, 1);
	b[16] = 2;
	qimg_store_le16(b + 17, (uint16_t)VVFAT_ROOT_ENTRIES);
	qimg_store_le16(b + 19, (uint16_t)(g->part < 0x10000 ? g->part : 0));
	b[21] = g->floppy ? 0xf0 : 0xf8;
	qimg_store_le16(b + 22, (uint16_t)g->spf);
	qimg_store_le16(b + 24, (uint16_t)g->spt);
	qimg_store_le16(b + 26, (uint16_t)g->heads);
	qimg_store_le32(b + 28, g->boot);
	qimg_store_le32(b + 32, g->part < 0x10000 ? 0 : g->part);
	b[36] = g->floppy ? 0x00 : 0x80;
	b[38] = 0x29;
	qimg_store_le32(b + 39, SERIAL);
	memset(b + 43, ' ', 11);
	memcpy(b + 43, label, strlen(label));
	memcpy(b + 54, g->fat_type == 12 ? "FAT12   " : "FAT16   ", 8);
	b[510] = 0x55;
	b[511] = 0xaa;
}

static void fat_set(uint8_t *fat, unsigned int type, uint32_t n, uint32_t v)
{
	if (type == 16) {
		qimg_store_le16(fat + 2 * n, (uint16_t)v);
	} else {
		uint8_t *p = fat + n * 3 / 2;

		if (n & 1) {
			p[0] = (uint8_t)((p[0] & 0x0f) | (v << 4 & 0xf0));
			p[1] = (uint8_t)(v >> 4);
		} else {
			p[0] = (uint8_t)v;
			p[1] = (uint8_t)((p[1] & 0xf0) | (v >> 8 & 0x0f));
		}
	}
}

static int make_fat(struct vvfat_state *s)
{
	const struct vvfat_geom *g = &s->g;
	uint32_t eoc = g->fat_type == 16 ? 0xffff : 0xfff;

	s->fat = calloc(g->spf, VVFAT_SECTOR);
	s->placed = calloc(s->tree.n ? s->tree.n : 1, sizeof(*s->placed));
	if (!s->fat || !s->placed)
		return -ENOMEM;
	fat_set(s->fat, g->fat_type, 0,
		(g->floppy ? 0xf0 : 0xf8) | (eoc & ~0xffu));
	fat_set(s->fat, g->fat_type, 1, eoc);
	for (size_t i = 1; i < s->tree.n; i++) {
		const struct vvfat_item *it = &s->tree.items[i];

		if (!it->count)
			continue;
		for (uint32_t c = 0; c < it->count; c++)
			fat_set(s->fat, g->fat_type, it->first + c,
				c + 1 < it->count ? it->first + c + 1 : eoc);
		s->placed[s->nplaced++] = i;
	}
	return 0;
}

static void vvfat_free(struct vvfat_state *s)
{
	vvfat_tree_free(&s->tree);
	free(s->fat);
	free(s->placed);
	s->fat = NULL;
	s->placed = NULL;
}

static int vvfat_open(struct qimg_node *node, const struct qimg_opts *opts,
		      struct qimg_error *err)
{
	struct vvfat_state *s = node->opaque;
	const char *dir = qimg_opts_get_str(opts, "dir", NULL);
	const char *label = qimg_opts_get_str(opts, "label", DEFAULT_LABEL);
	uint64_t type = qimg_opts_get_u64(opts, "fat-type", 0);
	bool floppy = qimg_opts_get_bool(opts, "floppy", false);
	bool rw = qimg_opts_get_bool(opts, "rw", false);
	int r;

	if (!dir)
		return qimg_error_set(err, EINVAL,
				      "vvfat block driver requires a 'dir' "
				      "option");
	if (type != 0 && type != 12 && type != 16 && type != 32)
		return qimg_error_set(err, EINVAL,
				      "Valid FAT types are only 12, 16 and 32");
	if (strlen(label) > 11)
		return qimg_error_set(err, EINVAL,
				      "vvfat label cannot be longer than 11 "
				      "bytes");
	if (type == 32)
		return qimg_error_set(err, ENOTSUP,
				      "FAT32 is not supported (the FAT32 disk "
				      "qemu-img makes is not a valid file "
				      "system): use FAT12 or FAT16");
	if (rw && !(node->flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EACCES,
				      "Unable to set VVFAT to 'rw' when drive "
				      "is read-only");
	if (rw)
		return qimg_error_set(err, ENOTSUP,
				      "vvfat 'rw' (writing the guest's changes "
				      "back to the directory) is not "
				      "supported");
	if (node->flags & QIMG_OPEN_RDWR)
		return qimg_error_set(err, EACCES, "Image is read-only");
	vvfat_geom_init(&s->g, (unsigned int)type, floppy);
	r = vvfat_tree_build(&s->tree, &s->g, dir, label, err);
	if (r)
		return r;
	if (make_fat(s)) {
		vvfat_free(s);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	make_mbr(s->mbr, &s->g);
	make_boot(s->boot, &s->g, label);
	node->size = (uint64_t)s->g.total * VVFAT_SECTOR;
	node->limits.request_align = 1;
	return 0;
}

static void vvfat_close(struct qimg_node *node)
{
	vvfat_free(node->opaque);
}

/* The item whose clusters hold cluster c, or NULL. */
static const struct vvfat_item *item_at(const struct vvfat_state *s, uint32_t c)
{
	size_t lo = 0, hi = s->nplaced;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct vvfat_item *it = &s->tree.items[s->placed[mid]];

		if (c < it->first)
			hi = mid;
		else if (c >= it->first + it->count)
			lo = mid + 1;
		else
			return it;
	}
	return NULL;
}

/* Bytes [off, off+len) of a host file; past its end (as scanned, or as it
 * is now if it shrank) zeros. */
static int read_file(const struct vvfat_item *it, uint64_t off, uint8_t *buf,
		     size_t len, struct qimg_error *err)
{
	size_t done = 0, want = 0;
	int fd;

	if (off < it->size)
		want = it->size - off < len ? (size_t)(it->size - off) : len;
	if (want) {
		fd = open(it->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return qimg_error_set_errno(
				err, errno, "Could not read %s", it->path);
		while (done < want) {
			ssize_t n = pread(fd, buf + done, want - done,
					  (off_t)(off + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				int e = errno;

				close(fd);
				return qimg_error_set_errno(err, e,
							    "Could not read "
							    "%s",
							    it->path);
			}
			if (n == 0)
				break;
			done += (size_t)n;
		}
		close(fd);
	}
	memset(buf + done, 0, len - done);
	return 0;
}

/* Copy from a buffer of blen bytes at [off, off+len), zeros past it. */
static void from_buf(uint8_t *out, const uint8_t *b, size_t blen, uint64_t off,
		     size_t len)
{
	size_t n = off < blen ? blen - (size_t)off : 0;

	if (n > len)
		n = len;
	memcpy(out, b + off, n);
	memset(out + n, 0, len - n);
}

static int vvfat_read(struct qimg_node *node, uint64_t off, void *buf,
		      size_t len, struct qimg_error *err)
{
	const struct vvfat_state *s = node->opaque;
	const struct vvfat_geom *g = &s->g;
	const uint64_t S = VVFAT_SECTOR;
	uint8_t *out = buf;

	while (len) {
		uint64_t sec = off / S, in = off % S, n;
		int r = 0;

		if (sec < g->boot) {
			n = g->boot * S - off;
			if (n > len)
				n = len;
			from_buf(out, s->mbr, sec ? 0 : S, off, (size_t)n);
		} else if (sec == g->boot) {
			n = S - in < len ? S - in : len;
			memcpy(out, s->boot + in, (size_t)n);
		} else if (sec < g->root) {
			uint64_t fo = off - (uint64_t)g->fat * S;
			uint64_t fl = (uint64_t)g->spf * S;

			n = fl - fo % fl;
			if (n > len)
				n = len;
			memcpy(out, s->fat + fo % fl, (size_t)n);
		} else if (sec < g->data) {
			uint64_t ro = off - (uint64_t)g->root * S;

			n = (uint64_t)g->data * S - off;
			if (n > len)
				n = len;
			memcpy(out, s->tree.items[0].dir + ro, (size_t)n);
		} else {
			uint64_t d = off - (uint64_t)g->data * S;
			uint64_t c = d / g->cluster_size + 2;
			const struct vvfat_item *it =
				c <= UINT32_MAX ? item_at(s, (uint32_t)c)
						: NULL;

			if (!it) {
				n = g->cluster_size - d % g->cluster_size;
				if (n > len)
					n = len;
				memset(out, 0, (size_t)n);
			} else {
				uint64_t io = d - (uint64_t)(it->first - 2) *
							  g->cluster_size;

				n = (uint64_t)it->count * g->cluster_size - io;
				if (n > len)
					n = len;
				if (it->is_dir)
					from_buf(out, it->dir,
						 (size_t)it->count *
							 g->cluster_size,
						 io, (size_t)n);
				else
					r = read_file(it, io, out, (size_t)n,
						      err);
			}
		}
		if (r)
			return r;
		out += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Data everywhere, at no offset of any file (qemu-img's map shows the same). */
static int vvfat_block_status(struct qimg_node *node, uint64_t off,
			      uint64_t len, struct qimg_extent *ext,
			      struct qimg_error *err)
{
	ext->len = len;
	ext->flags = QIMG_BS_DATA | QIMG_BS_ALLOCATED;
	return 0;
}

static int64_t vvfat_allocated_size(struct qimg_node *node)
{
	return -1;
}

/* Always named by its options, as QEMU names it. */
static char *vvfat_exact_filename(struct qimg_node *node)
{
	return NULL;
}

const struct qimg_driver qimg_driver_vvfat = {
	.name = "vvfat",
	.kind = QIMG_DRIVER_PROTOCOL,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct vvfat_state),
	.protocols = vvfat_protocols,
	.parse_filename = vvfat_parse_filename,
	.runtime_opts = vvfat_runtime_opts,
	.strong_opts = vvfat_strong_opts,
	.exact_filename = vvfat_exact_filename,
	.open = vvfat_open,
	.close = vvfat_close,
	.read = vvfat_read,
	.block_status = vvfat_block_status,
	.allocated_size = vvfat_allocated_size,
};
