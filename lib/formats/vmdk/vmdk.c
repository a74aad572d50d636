/* SPDX-License-Identifier: MIT */
/* The vmdk driver: probe, open (descriptor and extents), read, block
 * status, info and the driver table. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/node.h"
#include "formats/vmdk/vmdk.h"
#include "util/endian.h"

/* A line of text: blanks skipped, then `version=N` (N 1..3) ending the
 * line, after any comment and blank lines: a text descriptor. */
static bool probe_text(const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;

	while (p < end) {
		const uint8_t *q = p;

		while (q < end &&
		       (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
			q++;
		if (q >= end)
			return false;
		if (*q == '#') {
			while (q < end && *q != '\n')
				q++;
			p = q;
			continue;
		}
		if (end - q < 9 || memcmp(q, "version=", 8) || q[8] < '1' ||
		    q[8] > '3')
			return false;
		q += 9;
		if (q < end && *q == '\n')
			return true;
		return end - q >= 2 && q[0] == '\r' && q[1] == '\n';
	}
	return false;
}

static int vmdk_probe(const uint8_t *head, size_t len, const char *filename)
{
	(void)filename;
	if (len >= 4 && (qimg_load_le32(head) == VMDK_MAGIC_KDMV ||
			 qimg_load_le32(head) == VMDK_MAGIC_COWD))
		return 100;
	return probe_text(head, len) ? 100 : 0;
}

/* qemu-img takes a descriptor's createType (and parentFileNameHint) as
 * the text from two characters after the key's first occurrence up to the
 * next double quote. */
static char *desc_quoted(const char *desc, const char *key)
{
	const char *p = strstr(desc, key), *end;
	char *out;

	if (!p)
		return NULL;
	p += strlen(key);
	if (!p[0] || !p[1])
		return NULL;
	p += 2;
	end = strchr(p, '"');
	if (!end)
		return NULL;
	out = malloc((size_t)(end - p) + 1);
	if (out) {
		memcpy(out, p, (size_t)(end - p));
		out[end - p] = 0;
	}
	return out;
}

static void read_ids(struct vmdk_state *s)
{
	const char *p;

	s->cid = 0xffffffffu;
	s->parent_cid = 0xffffffffu;
	/* "CID" at a line start (parentCID holds it too). */
	for (p = s->desc; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (!strncmp(p, "CID=", 4))
			vmdk_desc_get_u32hex(p, "CID", &s->cid);
		else if (!strncmp(p, "parentCID=", 10))
			vmdk_desc_get_u32hex(p, "parentCID", &s->parent_cid);
		if (!*p)
			break;
	}
}

static int add_extent(struct vmdk_state *s, struct vmdk_extent **out,
		      struct qimg_error *err)
{
	struct vmdk_extent *n = realloc(s->ext, (s->n + 1) * sizeof(*n));

	if (!n)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	s->ext = n;
	memset(&n[s->n], 0, sizeof(n[0]));
	*out = &n[s->n++];
	return 0;
}

/* Open a sparse extent's file header and dispatch on its magic. */
static int open_sparse_file(struct qimg_node *node, struct vmdk_extent *e,
			    bool se, bool monolithic, struct qimg_error *err)
{
	uint8_t hdr[VMDK_SECTOR];
	int64_t len = qimg_node_length(e->file, err);
	int r;

	if (len < 0)
		return (int)len;
	e->file_len = (uint64_t)len;
	r = vmdk_file_read(node, e, 0, hdr, sizeof(hdr), err);
	if (r < 0)
		return r;
	if (se)
		return vmdk_open_sesparse(node, e, hdr, err);
	if (qimg_load_le32(hdr) == VMDK_MAGIC_KDMV)
		return vmdk_open_sparse(node, e, hdr, monolithic, err);
	if (qimg_load_le32(hdr) == VMDK_MAGIC_COWD)
		return vmdk_open_cowd(node, e, hdr, err);
	return qimg_error_set(err, EINVAL, "Image not in VMDK format");
}

struct ext_line {
	char access[11], type[11], fname[512];
	int64_t sectors, offset;
	int matches;
};

/* One extent line as qemu-img reads it: ACCESS SECTORS TYPE "NAME"
 * [OFFSET], blanks before each field.  Returns the fields matched. */
static int scan_line(const char *p, const char *eol, struct ext_line *l)
{
	char tmp[1024];
	size_t n = (size_t)(eol - p);
	int m;

	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	memcpy(tmp, p, n);
	tmp[n] = 0;
	m = sscanf(tmp, "%10s %" SCNd64 " %10s \"%511[^\n\r\"]\" %" SCNd64,
		   l->access, &l->sectors, l->type, l->fname, &l->offset);
	l->matches = m < 0 ? 0 : m;
	return l->matches;
}

/* An extent's file name resolved against the descriptor's directory,
 * found down the file's file/image children (a filter such as blkdebug
 * has no name of its own); qemu-img's refusal when none has one. */
static int extent_path(struct qimg_node *node, const char *fname, char **out,
		       struct qimg_error *err)
{
	const struct qimg_node *last;
	char *exact = qimg_node_base_name(node->file, &last);

	if (!exact && fname[0] != '/')
		return qimg_error_set(
			err, EINVAL,
			"Cannot use relative paths with VMDK descriptor file "
			"'%s': Cannot generate a base directory for %s nodes",
			node->file->display_name ? node->file->display_name
						 : node->file->filename,
			last->drv->name);
	*out = qimg_resolve_backing_name(exact ? exact : node->file->filename,
					 fname);
	free(exact);
	if (!*out)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

static int open_extent_line(struct qimg_node *node, struct vmdk_state *s,
			    const struct ext_line *l, const char *line,
			    size_t linelen, uint64_t *total,
			    struct qimg_error *err)
{
	static const char *const types[] = { "FLAT", "SPARSE",	   "ZERO",
					     "VMFS", "VMFSSPARSE", "SESPARSE" };
	struct vmdk_extent *e = NULL;
	char role[32], *path;
	bool flat, valid = false;
	size_t i;
	int r;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		valid |= !strcmp(l->type, types[i]);
	flat = !strcmp(l->type, "FLAT") || !strcmp(l->type, "VMFS");
	/* Only FLAT takes an offset, and needs one. */
	if (!valid ||
	    (!strcmp(l->type, "FLAT") ? l->matches != 5 : l->matches != 4) ||
	    (l->matches == 5 && l->offset < 0))
		return qimg_error_set(err, EINVAL, "Invalid extent line: %.*s",
				      (int)linelen, line);
	if (l->sectors <= 0 || !strcmp(l->type, "ZERO"))
		return 0;
	r = add_extent(s, &e, err);
	if (r < 0)
		return r;
	e->type = strdup(l->type);
	if (!e->type)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = extent_path(node, l->fname, &path, err);
	if (r < 0)
		return r;
	snprintf(role, sizeof(role), "extents.%zu", s->n - 1);
	r = qimg_open_child(node, role, path, QIMG_CHILD_PROTOCOL, 0, &e->file,
			    err);
	free(path);
	if (r < 0)
		return r;
	if (flat) {
		int64_t len = qimg_node_length(e->file, err);

		if (len < 0)
			return (int)len;
		e->kind = VMDK_EXT_FLAT;
		e->file_len = (uint64_t)len;
		e->sectors = (uint64_t)l->sectors;
		e->flat_offset =
			l->matches == 5 ? (uint64_t)l->offset * 512 : 0;
	} else {
		r = open_sparse_file(node, e, !strcmp(l->type, "SESPARSE"),
				     false, err);
		if (r < 0)
			return r;
	}
	if (e->sectors > (UINT64_MAX >> 9) - *total)
		return qimg_error_set(err, EFBIG, "Image too large");
	*total += e->sectors;
	e->end_sector = *total;
	return 0;
}

static int parse_extents(struct qimg_node *node, struct vmdk_state *s,
			 struct qimg_error *err)
{
	const char *p = s->desc;
	uint64_t total = 0;
	int r;

	while (*p) {
		const char *eol = strchr(p, '\n');
		struct ext_line l;

		if (!eol)
			eol = p + strlen(p);
		if (scan_line(p, eol, &l) >= 4 && !strcmp(l.access, "RW")) {
			size_t n = (size_t)(eol - p);

			if (n && p[n - 1] == '\r')
				n--;
			r = open_extent_line(node, s, &l, p, n, &total, err);
			if (r < 0)
				return r;
		}
		p = *eol ? eol + 1 : eol;
	}
	return 0;
}

static int open_descriptor(struct qimg_node *node, struct vmdk_state *s,
			   struct qimg_error *err)
{
	static const char *const kinds[] = {
		"monolithicFlat",	"vmfs",
		"vmfsSparse",		"seSparse",
		"twoGbMaxExtentSparse", "twoGbMaxExtentFlat",
	};
	bool ok = false;
	size_t i;

	free(s->create_type);
	s->create_type = desc_quoted(s->desc, "createType");
	if (!s->create_type)
		return qimg_error_set(err, EINVAL,
				      "invalid VMDK image descriptor");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		ok |= !strcmp(s->create_type, kinds[i]);
	if (!ok)
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported image type '%s'",
				      s->create_type);
	read_ids(s);
	return parse_extents(node, s, err);
}

static int read_text(struct qimg_node *node, uint64_t off, uint64_t size,
		     char **out, struct qimg_error *err)
{
	char *t;
	int r;

	if (size > VMDK_DESC_MAX)
		size = VMDK_DESC_MAX;
	t = malloc((size_t)size + 1);
	if (!t)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = qimg_pread(node->file, off, t, (size_t)size, err);
	if (r < 0) {
		free(t);
		return r;
	}
	t[size] = 0;
	*out = t;
	return 0;
}

static int open_monolithic(struct qimg_node *node, struct vmdk_state *s,
			   const uint8_t *hdr, uint64_t flen,
			   struct qimg_error *err)
{
	struct vmdk_extent *e = NULL;
	int r;

	if (qimg_load_le32(hdr) == VMDK_MAGIC_KDMV) {
		uint64_t doff = qimg_load_le64(hdr + 28);
		uint64_t dsize = qimg_load_le64(hdr + 36);

		/* qemu-img reads the text at sector 1 when the header
		 * names none, and refuses a file without any (a split
		 * image's bare -s001 extent). */
		if (!doff)
			doff = 1;
		if (!dsize)
			dsize = 20;
		if (dsize > VMDK_DESC_MAX / VMDK_SECTOR)
			dsize = VMDK_DESC_MAX / VMDK_SECTOR;
		if (doff < flen / VMDK_SECTOR) {
			r = read_text(node, doff * VMDK_SECTOR,
				      dsize * VMDK_SECTOR, &s->desc, err);
			if (r < 0)
				return r;
			s->desc_embedded = true;
			s->desc_offset = doff * VMDK_SECTOR;
			s->desc_size = dsize * VMDK_SECTOR;
		}
		/* No capacity: the descriptor is all there is. */
		if (!qimg_load_le64(hdr + 12) &&
		    qimg_load_le64(hdr + 56) != VMDK_GD_AT_END) {
			if (!s->desc)
				return qimg_error_set(
					err, EINVAL,
					"invalid VMDK image descriptor");
			return open_descriptor(node, s, err);
		}
	}
	if (!s->desc) {
		s->desc = strdup("");
		if (!s->desc)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	read_ids(s);
	s->monolithic = true;
	r = add_extent(s, &e, err);
	if (r < 0)
		return r;
	e->file = node->file;
	e->type = strdup("");
	if (!e->type)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = open_sparse_file(node, e, false, true, err);
	if (r < 0)
		return r;
	if (!s->desc[0])
		return qimg_error_set(err, EINVAL,
				      "Could not open '%s': Invalid argument",
				      node->file->filename);
	e->end_sector = e->sectors;
	/* What qemu-img shows comes from the extent, not the text. */
	s->create_type = strdup(e->kind == VMDK_EXT_COWD ? "vmfsSparse"
				: e->compressed		 ? "streamOptimized"
							 : "monolithicSparse");
	if (!s->create_type)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

static void vmdk_close(struct qimg_node *node)
{
	struct vmdk_state *s = node->opaque;
	size_t i;

	for (i = 0; i < s->n; i++)
		vmdk_extent_free(&s->ext[i]);
	free(s->ext);
	free(s->create_type);
	free(s->desc);
	memset(s, 0, sizeof(*s));
}

static int vmdk_open(struct qimg_node *node, const struct qimg_opts *opts,
		     struct qimg_error *err)
{
	struct vmdk_state *s = node->opaque;
	uint8_t hdr[VMDK_SECTOR];
	int64_t len;
	size_t i;
	int r;

	(void)opts;
	len = qimg_node_length(node->file, err);
	if (len < 0)
		return (int)len;
	/* A descriptor file may be shorter than a sector. */
	memset(hdr, 0, sizeof(hdr));
	r = qimg_pread(node->file, 0, hdr,
		       (uint64_t)len < sizeof(hdr) ? (size_t)len : sizeof(hdr),
		       err);
	if (r < 0)
		return r;
	if (qimg_load_le32(hdr) == VMDK_MAGIC_KDMV ||
	    qimg_load_le32(hdr) == VMDK_MAGIC_COWD) {
		r = open_monolithic(node, s, hdr, (uint64_t)len, err);
	} else {
		r = read_text(node, 0, (uint64_t)len, &s->desc, err);
		if (r == 0)
			r = open_descriptor(node, s, err);
	}
	if (r < 0)
		goto fail;
	for (i = 0; i < s->n; i++) {
		struct vmdk_extent *e = &s->ext[i];

		if ((node->flags & QIMG_OPEN_RDWR) && e->gd_at_end) {
			r = qimg_error_set(err, EACCES,
					   "%s: a stream with its grain "
					   "directory at the end can only be "
					   "opened read-only",
					   e->file->filename);
			goto fail;
		}
		if (e->read_only && (node->flags & QIMG_OPEN_RDWR) &&
		    e->kind != VMDK_EXT_SPARSE) {
			r = qimg_error_set(err, EACCES,
					   "%s: this VMDK extent can only be "
					   "opened read-only",
					   e->file->filename);
			goto fail;
		}
	}
	node->size = s->n ? s->ext[s->n - 1].end_sector * VMDK_SECTOR : 0;
	node->limits.request_align = VMDK_SECTOR;
	if (s->n && s->ext[0].kind != VMDK_EXT_FLAT)
		node->cluster_size =
			(uint32_t)(s->ext[0].grain_sectors * VMDK_SECTOR);
	node->zero_init = true;
	for (i = 0; i < s->n; i++) {
		struct vmdk_extent *e = &s->ext[i];

		if (e->kind == VMDK_EXT_SPARSE && e->compressed)
			node->needs_compressed_writes = true;
		/* Zeros are whole zeroed grains; the core writes the head
		 * and tail of a zero write as data, as qemu's block layer. */
		if (e->kind == VMDK_EXT_SPARSE && e->zeroed_grain &&
		    !node->limits.zeroes_align)
			node->limits.zeroes_align =
				(uint32_t)(e->grain_sectors * VMDK_SECTOR);
	}
	{
		char *hint = desc_quoted(s->desc, "parentFileNameHint");

		if (hint && *hint) {
			node->backing_filename = hint;
			node->backing_format = strdup("vmdk");
		} else {
			free(hint);
		}
	}
	return 0;
fail:
	vmdk_close(node);
	return r;
}

/* The extent holding guest byte off, and off within it. */
static struct vmdk_extent *find_extent(struct vmdk_state *s, uint64_t off,
				       uint64_t *rel)
{
	uint64_t sector = off / VMDK_SECTOR, start = 0;
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (sector < s->ext[i].end_sector) {
			*rel = off - start * VMDK_SECTOR;
			return &s->ext[i];
		}
		start = s->ext[i].end_sector;
	}
	return NULL;
}

int vmdk_read_backing(struct qimg_node *node, uint64_t off, void *buf,
		      size_t len, struct qimg_error *err)
{
	struct vmdk_state *s = node->opaque;
	struct qimg_node *b = node->backing;

	/* qemu-img reads nothing through a vmdk parent whose CID is not the
	 * parentCID the child was made against. */
	if (b && b->drv == &qimg_driver_vmdk &&
	    ((struct vmdk_state *)b->opaque)->cid != s->parent_cid)
		return qimg_error_set(err, EINVAL, "Invalid argument");
	return qimg_read_backing(node, off, buf, len, err);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int vmdk_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	struct vmdk_state *s = node->opaque;
	uint8_t *p = buf;
	int r;

	while (len) {
		uint64_t rel, host, n, ext_end;
		enum vmdk_grain_state st;
		struct vmdk_extent *e = find_extent(s, off, &rel);

		if (!e)
			return qimg_error_set(err, EIO, "Input/output error");
		ext_end = e->sectors * VMDK_SECTOR;
		n = min_u64(len, ext_end - rel);
		if (e->kind == VMDK_EXT_FLAT) {
			r = vmdk_file_read(node, e, e->flat_offset + rel, p,
					   (size_t)n, err);
			if (r < 0)
				return r;
			goto next;
		}
		r = vmdk_lookup_run(node, e, rel, n, &st, &host, &n, err);
		if (r < 0)
			return r;
		switch (st) {
		case VMDK_GRAIN_UNALLOC:
			r = vmdk_read_backing(node, off, p, (size_t)n, err);
			break;
		case VMDK_GRAIN_ZERO:
			memset(p, 0, (size_t)n);
			break;
		case VMDK_GRAIN_DATA:
			r = vmdk_file_read(
				node, e,
				host + rel % (e->grain_sectors * VMDK_SECTOR),
				p, (size_t)n, err);
			break;
		case VMDK_GRAIN_COMPRESSED:
			r = vmdk_read_compressed(
				node, e, host,
				rel % (e->grain_sectors * VMDK_SECTOR), p,
				(size_t)n, err);
			break;
		}
		if (r < 0)
			return r;
	next:
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

static int vmdk_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			     struct qimg_extent *ext, struct qimg_error *err)
{
	struct vmdk_state *s = node->opaque;
	uint64_t rel, host, g, n, done;
	enum vmdk_grain_state st;
	struct vmdk_extent *e = find_extent(s, off, &rel);
	int r;

	memset(ext, 0, sizeof(*ext));
	if (!e)
		return qimg_error_set(err, EIO, "Input/output error");
	n = min_u64(len, e->sectors * VMDK_SECTOR - rel);
	if (e->kind == VMDK_EXT_FLAT) {
		ext->len = n;
		ext->flags = QIMG_BS_DATA | QIMG_BS_ALLOCATED |
			     QIMG_BS_OFFSET_VALID | QIMG_BS_RECURSE;
		ext->map = e->flat_offset + rel;
		ext->file = e->file;
		return 0;
	}
	g = e->grain_sectors * VMDK_SECTOR;
	r = vmdk_lookup_run(node, e, rel, n, &st, &host, &done, err);
	if (r < 0)
		return r;
	host += rel % g;
	ext->len = done;
	switch (st) {
	case VMDK_GRAIN_UNALLOC:
		break;
	case VMDK_GRAIN_ZERO:
		ext->flags = QIMG_BS_ZERO | QIMG_BS_ALLOCATED;
		break;
	case VMDK_GRAIN_DATA:
		ext->flags =
			QIMG_BS_DATA | QIMG_BS_ALLOCATED | QIMG_BS_OFFSET_VALID;
		ext->map = host;
		ext->file = e->file;
		break;
	case VMDK_GRAIN_COMPRESSED:
		ext->flags = QIMG_BS_DATA | QIMG_BS_ALLOCATED;
		break;
	}
	return 0;
}

static int put_extent(struct vmdk_extent *e, struct qimg_value *list)
{
	struct qimg_value *d = qimg_value_dict();
	int r;

	if (!d)
		return -ENOMEM;
	r = 0;
	if (e->compressed)
		r = qimg_dict_put_bool(d, "compressed", true);
	if (r == 0)
		r = qimg_dict_put_int(d, "virtual-size",
				      (int64_t)(e->sectors * VMDK_SECTOR));
	if (r == 0)
		r = qimg_dict_put_str(d, "filename", e->file->filename);
	if (r == 0 && e->kind != VMDK_EXT_FLAT)
		r = qimg_dict_put_int(
			d, "cluster-size",
			(int64_t)(e->grain_sectors * VMDK_SECTOR));
	if (r == 0)
		r = qimg_dict_put_str(d, "format", e->type);
	if (r == 0)
		r = qimg_list_append(list, d);
	else
		qimg_value_free(d);
	return r;
}

static int vmdk_get_info(struct qimg_node *node, struct qimg_image_info *info,
			 struct qimg_error *err)
{
	struct vmdk_state *s = node->opaque;
	struct qimg_value *top = qimg_value_dict(), *data = qimg_value_dict();
	struct qimg_value *list = qimg_value_list();
	size_t i;
	int r = top && data && list ? 0 : -ENOMEM;

	/* qemu-img answers for the image only when every extent is of one
	 * kind and grain size. */
	info->has_info = true;
	for (i = 1; i < s->n; i++)
		if ((s->ext[i].kind == VMDK_EXT_FLAT) !=
			    (s->ext[0].kind == VMDK_EXT_FLAT) ||
		    s->ext[i].grain_sectors != s->ext[0].grain_sectors)
			info->has_info = false;
	info->cluster_size = info->has_info ? node->cluster_size : 0;
	if (r == 0)
		r = qimg_dict_put_str(top, "type", "vmdk");
	if (r == 0)
		r = qimg_dict_put_int(data, "cid", s->cid);
	if (r == 0)
		r = qimg_dict_put_int(data, "parent-cid", s->parent_cid);
	if (r == 0 && s->create_type)
		r = qimg_dict_put_str(data, "create-type", s->create_type);
	for (i = 0; r == 0 && i < s->n; i++)
		r = put_extent(&s->ext[i], list);
	if (r == 0) {
		r = qimg_dict_put(data, "extents", list);
		list = NULL;
	}
	if (r == 0) {
		r = qimg_dict_put(top, "data", data);
		data = NULL;
	}
	qimg_value_free(list);
	qimg_value_free(data);
	if (r < 0) {
		qimg_value_free(top);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	info->format_specific = top;
	return 0;
}

/* The descriptor's file and every extent file. */
static int64_t vmdk_allocated_size(struct qimg_node *node)
{
	struct vmdk_state *s = node->opaque;
	int64_t total = qimg_allocated_size(node->file), n;
	size_t i;

	for (i = 0; total >= 0 && i < s->n; i++) {
		if (s->ext[i].file == node->file)
			continue;
		n = qimg_allocated_size(s->ext[i].file);
		if (n < 0)
			return n;
		total += n;
	}
	return total;
}

static const char *const vmdk_child_roles[] = { "extents.", NULL };

const struct qimg_driver qimg_driver_vmdk = {
	.name = "vmdk",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct vmdk_state),
	.child_roles = vmdk_child_roles,
	.create_opts = vmdk_create_opts,
	.create_validate = vmdk_create_validate,
	.create = vmdk_create,
	.probe = vmdk_probe,
	.open = vmdk_open,
	.close = vmdk_close,
	.read = vmdk_read,
	.write = vmdk_write,
	.write_zeroes = vmdk_write_zeroes,
	.compress = vmdk_compress,
	.write_compressed = vmdk_write_compressed,
	.flush = vmdk_flush,
	.block_status = vmdk_block_status,
	.get_info = vmdk_get_info,
	.check = vmdk_check,
	.allocated_size = vmdk_allocated_size,
	.supports_backing = true,
};
