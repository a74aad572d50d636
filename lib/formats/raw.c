/* SPDX-License-Identifier: MIT */
/* The raw format: guest bytes are the file's bytes.  The virtual size is the
 * file length rounded up to 512 (the tail reads as zeros).  When the format
 * was guessed, writes may not turn sector 0 into another format's header. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "formats/raw.h"

#define RAW_SECTOR 512u

/* offset= and size=: the image is a window of the file. */
struct raw_state {
	uint64_t offset;
	bool has_size; /* size= given: the window cannot be resized */
};

static const struct qimg_opt_desc raw_runtime_opts[] = {
	{ "offset", QIMG_OPT_SIZE, "offset in the disk where the image starts",
	  NULL },
	{ "size", QIMG_OPT_SIZE, "virtual disk size", NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const raw_strong_opts[] = { "offset", "size", NULL };

static const struct qimg_opt_desc raw_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ NULL, 0, NULL, NULL },
};

static int raw_probe(const uint8_t *head, size_t len, const char *filename)
{
	return 1;
}

static int raw_open(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err)
{
	struct raw_state *s = node->opaque;
	int64_t len = qimg_node_length(node->file, err);
	uint64_t size;

	if (len < 0)
		return (int)len;
	s->offset = qimg_opts_get_u64(opts, "offset", 0);
	s->has_size = qimg_opts_has(opts, "size");
	if (s->offset > (uint64_t)len)
		return qimg_error_set(err, EINVAL,
				      "Offset (%llu) cannot be greater than "
				      "size of the containing file (%lld)",
				      (unsigned long long)s->offset,
				      (long long)len);
	if (s->has_size) {
		size = qimg_opts_get_u64(opts, "size", 0);
		if (size > (uint64_t)len - s->offset)
			return qimg_error_set(
				err, EINVAL,
				"The sum of offset (%llu) and size (%llu) has "
				"to be smaller or equal to the  actual size of "
				"the containing file (%lld)",
				(unsigned long long)s->offset,
				(unsigned long long)size, (long long)len);
		if (size % RAW_SECTOR)
			return qimg_error_set(err, EINVAL,
					      "Specified size is not multiple "
					      "of %u",
					      RAW_SECTOR);
		node->size = size;
	} else {
		size = (uint64_t)len - s->offset;
		node->size =
			(size + RAW_SECTOR - 1) & ~(uint64_t)(RAW_SECTOR - 1);
	}
	node->zero_init = node->file->zero_init && !s->offset && !s->has_size;
	node->limits.request_align = node->file->limits.request_align;
	node->limits.mem_align = node->file->limits.mem_align;
	node->limits.max_transfer = node->file->limits.max_transfer;
	/* a guessed raw image is used in whole sectors, block 0 guarded */
	if (node->probed_raw)
		node->limits.export_align = RAW_SECTOR;
	return 0;
}

static void raw_close(struct qimg_node *node)
{
}

static int raw_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct raw_state *s = node->opaque;

	/* As QEMU's raw driver: blkdebug read_aio rules under raw fire. */
	qimg_debug_event(node->file, QIMG_EV_READ_AIO);
	return qimg_pread(node->file, s->offset + off, buf, len, err);
}

/* A guessed-raw image must not get a header of another format in sector 0,
 * or the next open would probe it as that format. */
static int raw_check_sector0(struct qimg_node *node, uint64_t off,
			     const void *buf, size_t len,
			     struct qimg_error *err)
{
	struct raw_state *s = node->opaque;
	uint8_t sec[RAW_SECTOR];
	const struct qimg_driver *d;
	size_t n;
	int r;

	if (!node->probed_raw || off >= RAW_SECTOR || s->offset)
		return 0;
	r = qimg_pread(node->file, 0, sec, sizeof(sec), err);
	if (r < 0)
		return r;
	n = RAW_SECTOR - (size_t)off;
	if (n > len)
		n = len;
	memcpy(sec + off, buf, n);
	d = qimg_driver_probe(sec, sizeof(sec), node->filename);
	if (d && d != &qimg_driver_raw)
		return qimg_error_set(err, EPERM,
				      "Writing a %s header to a probed raw "
				      "image is not allowed",
				      d->name);
	return 0;
}

static int raw_write(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err)
{
	struct raw_state *s = node->opaque;
	int r = raw_check_sector0(node, off, buf, len, err);

	if (r < 0)
		return r;
	qimg_debug_event(node->file, QIMG_EV_WRITE_AIO);
	return qimg_pwrite(node->file, s->offset + off, buf, len, err);
}

static int raw_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			    unsigned int flags, struct qimg_error *err)
{
	struct raw_state *s = node->opaque;

	/* The child's own zeroing, or -ENOTSUP for the core's fallback. */
	return qimg_write_zeroes(node->file, s->offset + off, len,
				 flags | QIMG_ZERO_NO_FALLBACK, err);
}

static int raw_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		       struct qimg_error *err)
{
	struct raw_state *s = node->opaque;

	return qimg_discard(node->file, s->offset + off, len, err);
}

static int raw_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_extent *ext, struct qimg_error *err)
{
	ext->len = len;
	ext->flags = QIMG_BS_RAW | QIMG_BS_OFFSET_VALID;
	ext->map = ((struct raw_state *)node->opaque)->offset + off;
	ext->file = node->file;
	return 0;
}

/* Guest bytes are the file's: a write goes where it says (except over
 * a guessed raw image's block 0, which is checked on every write). */
static int raw_write_map(struct qimg_node *node, uint64_t off, uint64_t len,
			 struct qimg_node **file, uint64_t *host, uint64_t *n,
			 struct qimg_error *err)
{
	struct raw_state *s = node->opaque;

	if (node->probed_raw && off < RAW_SECTOR)
		return -ENOTSUP;
	*file = node->file;
	*host = s->offset + off;
	*n = len;
	return 0;
}

static int raw_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			const char *prealloc, struct qimg_error *err)
{
	struct raw_state *s = node->opaque;
	int r;

	if (s->has_size)
		return qimg_error_set(err, ENOTSUP,
				      "Cannot resize fixed-size raw disks");
	if (prealloc && !strcmp(prealloc, "metadata"))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported preallocation mode: "
				      "metadata");
	r = qimg_truncate(node->file, s->offset + size, flags, prealloc, err);
	if (r == 0)
		node->size = size;
	return r;
}

/* raw answers as its file does (a file does, null-co does not). */
static int raw_get_info(struct qimg_node *node, struct qimg_image_info *info,
			struct qimg_error *err)
{
	int r = qimg_child_info(node->file, info, err);

	/* qemu-img 7.2's raw shows no section of its file's (rbd's) */
	qimg_value_free(info->format_specific);
	info->format_specific = NULL;
	return r;
}

static int raw_create(struct qimg_node *file, const struct qimg_opts *o,
		      struct qimg_error *err)
{
	uint64_t size = qimg_opts_get_u64(o, "size", 0);
	const char *prealloc = qimg_opts_get_str(o, "preallocation", "off");
	uint8_t zero[4096] = { 0 };
	size_t n;
	int r;

	size = (size + RAW_SECTOR - 1) & ~(uint64_t)(RAW_SECTOR - 1);
	if (!file->drv->truncate)
		return qimg_error_set(err, ENOTSUP,
				      "Protocol driver '%s' does not support "
				      "image creation",
				      file->drv->name);
	/* A node of fixed size (a device, an NBD export, an iSCSI LUN) is
	 * used as it is when it is large enough: only a file is sized. */
	if (file->limits.grows || strcmp(prealloc, "off") ||
	    (int64_t)size > qimg_node_length(file, err)) {
		r = qimg_truncate(file, size, QIMG_TRUNCATE_SHRINK, prealloc,
				  err);
		if (r < 0)
			return r;
	}
	/* Like qemu-img, allocate the first block of a file so that later
	 * opens with O_DIRECT can find the alignment (it also shows in map
	 * and disk size, which we match).  On a device, as qemu-img, only the
	 * first sector is zeroed, so that no old format is probed there. */
	n = file->limits.grows ? sizeof(zero) : RAW_SECTOR;
	r = 0;
	if (size > 0 && strcmp(prealloc, "full") &&
	    !file->drv->create_writes_content)
		r = qimg_pwrite(file, 0, zero, size < n ? (size_t)size : n,
				err);
	return r;
}

static int raw_create_validate(const struct qimg_opts *o,
			       struct qimg_error *err)
{
	const char *p = qimg_opts_get_str(o, "preallocation", "off");

	/* qemu-img's two wordings: a word that is no mode at all, and a mode
	 * it knows but raw cannot do. */
	if (!qimg_prealloc_mode_known(p))
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", p);
	if (!strcmp(p, "metadata"))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported preallocation mode: %s", p);
	return 0;
}

static int raw_measure(struct qimg_opts *o, struct qimg_node *in, uint64_t size,
		       const struct qimg_objects *objects,
		       struct qimg_measure *out, struct qimg_error *err)
{
	(void)objects;
	if (in)
		size = qimg_size(in);
	size = (size + RAW_SECTOR - 1) & ~(uint64_t)(RAW_SECTOR - 1);
	out->required = size;
	out->fully_allocated = size;
	return 0;
}

const struct qimg_driver qimg_driver_raw = {
	.name = "raw",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct raw_state),
	.create_opts = raw_create_opts,
	.runtime_opts = raw_runtime_opts,
	.strong_opts = raw_strong_opts,
	.probe = raw_probe,
	.open = raw_open,
	.close = raw_close,
	.create_validate = raw_create_validate,
	.create_file_first = true,
	.create = raw_create,
	.read = raw_read,
	.write = raw_write,
	.write_zeroes = raw_write_zeroes,
	.discard = raw_discard,
	.block_status = raw_block_status,
	.write_map = raw_write_map,
	.truncate = raw_truncate,
	.get_info = raw_get_info,
	.measure = raw_measure,
	.shares_file_writes = true,
};
