/* SPDX-License-Identifier: MIT */
/* Creating vmdk images as qemu-img 7.2 lays them out: every subformat
 * (monolithicSparse, monolithicFlat, twoGbMaxExtentSparse,
 * twoGbMaxExtentFlat, streamOptimized), the descriptor text, hosted sparse
 * extents with a redundant grain directory and all grain tables reserved,
 * flat extents as sparse files of their size. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "formats/vmdk/vmdk.h"
#include "qimg/opts.h"
#include "util/endian.h"

#define GRAIN 128u
#define GTES 512u
#define DESC_SECTORS 20u
#define DESC_FORMAT                                                            \
	"# Disk DescriptorFile\n"                                              \
	"version=1\n"                                                          \
	"CID=%x\n"                                                             \
	"parentCID=%x\n"                                                       \
	"createType=\"%s\"\n"                                                  \
	"%s\n"                                                                 \
	"# Extent description\n"                                               \
	"%s\n"                                                                 \
	"# The Disk Data Base\n"                                               \
	"#DDB\n"                                                               \
	"\n"                                                                   \
	"ddb.virtualHWVersion = \"%s\"\n"                                      \
	"ddb.geometry.cylinders = \"%llu\"\n"                                  \
	"ddb.geometry.heads = \"%d\"\n"                                        \
	"ddb.geometry.sectors = \"63\"\n"                                      \
	"ddb.adapterType = \"%s\"\n"                                           \
	"ddb.toolsVersion = \"%s\"\n"
#define SPLIT_SECTORS UINT64_C(4194304) /* 2 GiB */

const struct qimg_opt_desc vmdk_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "adapter_type", QIMG_OPT_STRING,
	  "Virtual adapter type, can be one of ide (default), lsilogic, "
	  "buslogic or legacyESX",
	  NULL },
	{ "backing_file", QIMG_OPT_STRING, "File name of a base image", NULL },
	{ "backing_fmt", QIMG_OPT_STRING, "Must be 'vmdk' if present", NULL },
	{ "compat6", QIMG_OPT_BOOL, "VMDK version 6 image", "off" },
	{ "hwversion", QIMG_OPT_STRING, "VMDK hardware version", "undefined" },
	{ "toolsversion", QIMG_OPT_STRING, "VMware guest tools version", NULL },
	{ "subformat", QIMG_OPT_STRING,
	  "VMDK flat extent format, can be one of {monolithicSparse "
	  "(default) | monolithicFlat | twoGbMaxExtentSparse | "
	  "twoGbMaxExtentFlat | streamOptimized} ",
	  NULL },
	{ "zeroed_grain", QIMG_OPT_BOOL,
	  "Enable efficient zero writes using the zeroed-grain GTE feature",
	  NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const subformats[] = {
	"monolithicSparse",   "monolithicFlat",	 "twoGbMaxExtentSparse",
	"twoGbMaxExtentFlat", "streamOptimized",
};

int vmdk_create_validate(const struct qimg_opts *o, struct qimg_error *err)
{
	const char *adapter = qimg_opts_get_str(o, "adapter_type", "ide");
	const char *sub = qimg_opts_get_str(o, "subformat", "monolithicSparse");
	const char *fmt = qimg_opts_get_str(o, "backing_fmt", NULL);
	bool ok = false;
	size_t i;

	if (strcmp(adapter, "ide") && strcmp(adapter, "lsilogic") &&
	    strcmp(adapter, "buslogic") && strcmp(adapter, "legacyESX"))
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", adapter);
	for (i = 0; i < sizeof(subformats) / sizeof(subformats[0]); i++)
		ok |= !strcmp(sub, subformats[i]);
	if (!ok)
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", sub);
	if (qimg_opts_get_bool(o, "compat6", false) &&
	    qimg_opts_has(o, "hwversion") &&
	    strcmp(qimg_opts_get_str(o, "hwversion", ""), "undefined"))
		return qimg_error_set(err, EINVAL,
				      "compat6 cannot be enabled with "
				      "hwversion set");
	if (qimg_opts_get_bool(o, "zeroed_grain", false) &&
	    (!strcmp(sub, "monolithicFlat") ||
	     !strcmp(sub, "twoGbMaxExtentFlat")))
		return qimg_error_set(err, ENOTSUP,
				      "Flat image can't enable zeroed grain");
	if (fmt && strcmp(fmt, "vmdk"))
		return qimg_error_set(err, EINVAL,
				      "backing_file must be a vmdk image");
	return 0;
}

/* A hosted sparse extent of `cap` sectors into the empty node f, with
 * `desc` (or nothing) in its 20 descriptor sectors. */
static int write_sparse(struct qimg_node *f, uint64_t cap, bool zeroed,
			bool stream, const char *desc, struct qimg_error *err)
{
	uint64_t l1 =
		(cap + (uint64_t)GRAIN * GTES - 1) / ((uint64_t)GRAIN * GTES);
	uint64_t gd_sectors = (l1 * 4 + VMDK_SECTOR - 1) / VMDK_SECTOR;
	uint64_t gt_sectors = l1 * (GTES * 4 / VMDK_SECTOR);
	uint64_t rgd = 1 + DESC_SECTORS, gd = rgd + gd_sectors + gt_sectors;
	uint64_t over = gd + gd_sectors + gt_sectors, i;
	uint8_t hdr[VMDK_SECTOR] = { 0 };
	uint32_t *t;
	int r;

	over = (over + GRAIN - 1) / GRAIN * GRAIN;
	qimg_store_le32(hdr, VMDK_MAGIC_KDMV);
	qimg_store_le32(hdr + 4, stream ? 3 : zeroed ? 2 : 1);
	qimg_store_le32(
		hdr + 8,
		VMDK_FLAG_NL_DETECT | VMDK_FLAG_RGD |
			(zeroed ? VMDK_FLAG_ZERO_GRAIN : 0) |
			(stream ? VMDK_FLAG_COMPRESS | VMDK_FLAG_MARKER : 0));
	qimg_store_le64(hdr + 12, cap);
	qimg_store_le64(hdr + 20, GRAIN);
	qimg_store_le64(hdr + 28, 1);
	qimg_store_le64(hdr + 36, DESC_SECTORS);
	qimg_store_le32(hdr + 44, GTES);
	qimg_store_le64(hdr + 48, rgd);
	qimg_store_le64(hdr + 56, gd);
	qimg_store_le64(hdr + 64, over);
	memcpy(hdr + 73, "\n \r\n", 4);
	qimg_store_le16(hdr + 77, stream ? 1 : 0);

	/* A stream ends with an end-of-stream marker (a zero sector): ESXi's
	 * import refuses one without (qemu-img 7.2 leaves it out when no
	 * grain follows; DIFFERENCES.md). */
	r = qimg_truncate(f, (over + stream) * VMDK_SECTOR, 0, NULL, err);
	if (r < 0)
		return r;
	r = qimg_pwrite(f, 0, hdr, sizeof(hdr), err);
	if (r == 0 && desc)
		r = qimg_pwrite(f, VMDK_SECTOR, desc, strlen(desc), err);
	if (r < 0 || !l1)
		return r;
	t = calloc(1, (size_t)gd_sectors * VMDK_SECTOR);
	if (!t)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	for (i = 0; i < l1; i++)
		qimg_store_le32(&t[i], (uint32_t)(rgd + gd_sectors + i * 4));
	r = qimg_pwrite(f, rgd * VMDK_SECTOR, t,
			(size_t)gd_sectors * VMDK_SECTOR, err);
	for (i = 0; r == 0 && i < l1; i++)
		qimg_store_le32(&t[i], (uint32_t)(gd + gd_sectors + i * 4));
	if (r == 0)
		r = qimg_pwrite(f, gd * VMDK_SECTOR, t,
				(size_t)gd_sectors * VMDK_SECTOR, err);
	free(t);
	return r;
}

/* The CID of the vmdk image `name` (resolved against `image`). */
static int backing_cid(const char *image, const char *name, uint32_t *cid,
		       struct qimg_error *err)
{
	char *path = qimg_resolve_backing_name(image, name);
	struct qimg_open_args a = { 0 };
	struct qimg_node *b = NULL;
	int r;

	if (!path)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	a.filename = path;
	a.flags = QIMG_OPEN_NO_BACKING | QIMG_OPEN_FORCE_SHARE;
	r = qimg_open(&a, &b, err);
	if (r < 0) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		r = qimg_error_set(err, -r, "Could not open '%s': %s", path,
				   msg);
		free(path);
		return r;
	}
	free(path);
	if (b->drv != &qimg_driver_vmdk) {
		qimg_close(b);
		return qimg_error_set(err, EINVAL,
				      "backing_file must be a vmdk image");
	}
	*cid = ((struct vmdk_state *)b->opaque)->cid;
	qimg_close(b);
	return 0;
}

static uint32_t new_cid(void)
{
	uint32_t c = 0;

	do {
		if (getrandom(&c, sizeof(c), 0) != sizeof(c))
			c = (uint32_t)rand();
	} while (c >= 0xfffffffeu);
	return c;
}

/* "dir/name.ext" -> dir "dir/" (or ""), prefix "name", postfix ".ext". */
static void split_name(const char *fn, char **base, char **postfix)
{
	const char *slash = strrchr(fn, '/'), *b = slash ? slash + 1 : fn;
	const char *dot = strrchr(b, '.');

	if (!dot)
		dot = b + strlen(b);
	*base = strndup(b, (size_t)(dot - b));
	*postfix = strdup(dot);
}

struct extent_file {
	char *path; /* to remove on failure */
};

static int create_extent(const char *image, const char *name, uint64_t sectors,
			 bool flat, bool zeroed, const struct qimg_opts *o,
			 char **remove, struct qimg_error *err)
{
	char *path = qimg_resolve_backing_name(image, name);
	struct qimg_node *f = NULL;
	int r;

	if (!path)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_create_aux_file(path, o, &f, remove, err);
	free(path);
	if (r < 0)
		return r;
	if (flat) {
		/* A flat extent is made as a raw file is: sparse, with its
		 * first 4 KiB allocated (as qemu-img: map and disk size show
		 * it). */
		static const uint8_t zero[4096];
		uint64_t len = sectors * VMDK_SECTOR;

		r = qimg_truncate(f, len, 0, NULL, err);
		if (r == 0 && len > 0)
			r = qimg_pwrite(f, 0, zero,
					len < sizeof(zero) ? (size_t)len
							   : sizeof(zero),
					err);
	} else
		r = write_sparse(f, sectors, zeroed, false, NULL, err);
	if (r == 0)
		r = qimg_flush(f, err);
	qimg_close(f);
	return r;
}

int vmdk_create(struct qimg_node *file, const struct qimg_opts *o,
		struct qimg_error *err)
{
	const char *adapter = qimg_opts_get_str(o, "adapter_type", "ide");
	const char *sub = qimg_opts_get_str(o, "subformat", "monolithicSparse");
	const char *hw = qimg_opts_get_str(o, "hwversion", "undefined");
	const char *tools = qimg_opts_get_str(o, "toolsversion", "2147483647");
	const char *backing = qimg_opts_get_str(o, "backing_file", NULL);
	bool zeroed = qimg_opts_get_bool(o, "zeroed_grain", false);
	bool compat6 = qimg_opts_get_bool(o, "compat6", false);
	uint64_t size = qimg_opts_get_u64(o, "size", 0);
	uint64_t cap = (size + VMDK_SECTOR - 1) / VMDK_SECTOR, left, n;
	bool flat = !strcmp(sub, "monolithicFlat") ||
		    !strcmp(sub, "twoGbMaxExtentFlat");
	bool split = !strncmp(sub, "twoGb", 5);
	bool stream = !strcmp(sub, "streamOptimized");
	bool mono = stream || !strcmp(sub, "monolithicSparse");
	char *base = NULL, *post = NULL, *lines = NULL, *desc = NULL;
	char *removes[1024] = { 0 };
	char parent[1100] = "", name[1200], hwbuf[32];
	uint32_t pcid = 0xffffffffu;
	size_t nlines = 0, cap_lines = 0, nrem = 0, i;
	unsigned idx;
	int r = 0;

	if (backing) {
		r = backing_cid(file->filename, backing, &pcid, err);
		if (r < 0)
			return r;
		snprintf(parent, sizeof(parent), "parentFileNameHint=\"%s\"",
			 backing);
	}
	if (!strcmp(hw, "undefined"))
		hw = compat6 ? "6" : "4";
	snprintf(hwbuf, sizeof(hwbuf), "%s", hw);
	split_name(file->filename, &base, &post);
	if (!base || !post) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto out;
	}
	/* The extent lines (and their files). */
	left = cap;
	for (idx = 1; r == 0 && (idx == 1 || left); idx++) {
		char line[1400];
		size_t l;

		n = split && left > SPLIT_SECTORS ? SPLIT_SECTORS : left;
		if (mono) {
			const char *slash = strrchr(file->filename, '/');

			snprintf(name, sizeof(name), "%s",
				 slash ? slash + 1 : file->filename);
		} else if (split) {
			snprintf(name, sizeof(name), "%s-%c%03u%s", base,
				 flat ? 'f' : 's', idx, post);
		} else {
			snprintf(name, sizeof(name), "%s-flat%s", base, post);
		}
		if (flat)
			snprintf(line, sizeof(line), "RW %llu FLAT \"%s\" 0\n",
				 (unsigned long long)n, name);
		else
			snprintf(line, sizeof(line), "RW %llu SPARSE \"%s\"\n",
				 (unsigned long long)n, name);
		l = strlen(line);
		if (nlines + l + 1 > cap_lines) {
			char *nl = realloc(lines, cap_lines * 2 + l + 64);

			if (!nl) {
				r = qimg_error_set(err, ENOMEM,
						   "Out of memory");
				break;
			}
			lines = nl;
			cap_lines = cap_lines * 2 + l + 64;
		}
		memcpy(lines + nlines, line, l + 1);
		nlines += l;
		if (!mono) {
			if (nrem >= sizeof(removes) / sizeof(removes[0])) {
				r = qimg_error_set(err, EFBIG,
						   "Too many extents");
				break;
			}
			r = create_extent(file->filename, name, n, flat, zeroed,
					  o, &removes[nrem], err);
			nrem++;
		}
		left -= n;
		if (!split)
			break;
	}
	if (r < 0)
		goto out;
	{

		int heads = strcmp(adapter, "ide") ? 255 : 16;
		unsigned long long cyl = cap / ((uint64_t)heads * 63);
		size_t dl = strlen(DESC_FORMAT) + strlen(sub) + strlen(parent) +
			    nlines + strlen(hwbuf) + strlen(adapter) +
			    strlen(tools) + 64;

		desc = malloc(dl);
		if (!desc) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto out;
		}
		snprintf(desc, dl, DESC_FORMAT, new_cid(), pcid, sub, parent,
			 lines ? lines : "", hwbuf, cyl, heads, adapter, tools);
	}
	if (mono) {
		if (strlen(desc) > DESC_SECTORS * VMDK_SECTOR) {
			r = qimg_error_set(err, EINVAL, "Descriptor too long");
			goto out;
		}
		r = write_sparse(file, cap, zeroed, stream, desc, err);
	} else {
		r = qimg_pwrite(file, 0, desc, strlen(desc), err);
	}
out:
	if (r < 0)
		for (i = 0; i < nrem; i++)
			qimg_remove_aux_file(removes[i]);
	else
		for (i = 0; i < nrem; i++)
			free(removes[i]);
	free(base);
	free(post);
	free(lines);
	free(desc);
	return r;
}
