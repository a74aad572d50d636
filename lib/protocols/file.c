/* SPDX-License-Identifier: MIT */
/* The file protocol: regular files and host block devices.  Cache modes
 * (O_DIRECT with aligned bounce buffers, writethrough, unsafe), SEEK_DATA /
 * SEEK_HOLE block status, fallocate for zeroing and preallocation, and image
 * locks that interoperate with QEMU's OFD byte-range locks. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <linux/cdrom.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/driver.h"
#include "qimg/object.h"
#include "protocols/file-uring.h"
#include "protocols/file.h"

/* With io_uring, requests are cut into pieces in flight together. */
#define URING_PIECE (512u << 10)

enum file_aio {
	AIO_DEFAULT, /* blocking calls */
	AIO_THREADS, /* blocking calls in the callers' threads */
	AIO_NATIVE,  /* asks for O_DIRECT: blocking calls too */
	AIO_IO_URING,
};

struct file_state {
	int fd;
	bool blockdev;
	bool direct;	   /* O_DIRECT: I/O must be aligned */
	bool writethrough; /* sync after each write */
	bool unsafe;	   /* flush is a no-op */
	bool write_behind; /* start writeback of large writes at once */
	uint32_t align;	   /* alignment needed with O_DIRECT */
	unsigned int locked_perm, locked_unshared;
	bool nolock;	/* locking=off */
	bool chardev;	/* host_device over a character device: no size */
	bool no_medium; /* host_cdrom: the drive holds no disc */
	enum file_aio aio;
	struct file_uring_pool *uring; /* NULL: blocking calls only */
	/* Block status cache: the last data extent SEEK_DATA/SEEK_HOLE found,
	 * [bsc_start, bsc_end) (bsc_end 0: none), so that asking again
	 * inside it (a copy asks once per request) costs no lseek; SEEK_HOLE
	 * on tmpfs walks the page cache.  Only data: a write can turn a hole
	 * into data but not data into a hole; zeroing, discard and
	 * truncation drop it. */
	pthread_mutex_t bsc_lock;
	uint64_t bsc_start, bsc_end;
};

static const struct qimg_opt_desc file_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "nocow", QIMG_OPT_BOOL,
	  "Turn off copy-on-write (valid only on btrfs)", NULL },
	{ "preallocation", QIMG_OPT_STRING,
	  "Preallocation mode (allowed values: off, falloc, full)", NULL },
	{ "extent_size_hint", QIMG_OPT_SIZE,
	  "Extent size hint for the image file, 0 to disable", NULL },
	{ NULL, 0, NULL, NULL },
};

const struct qimg_opt_desc *qimg_file_create_opts(void)
{
	return file_create_opts;
}

static int file_open_fd(struct qimg_node *node, int oflags,
			struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	struct stat st;

	s->fd = open(node->filename, oflags | O_CLOEXEC, 0644);
	if (s->fd < 0 && (oflags & O_DIRECT) && errno == EINVAL)
		return qimg_error_set(err, EINVAL,
				      "Could not open '%s': Invalid argument",
				      node->filename);
	if (s->fd < 0)
		return qimg_error_set_errno(
			err, errno, "Could not %s '%s'",
			(oflags & O_CREAT) ? "create" : "open", node->filename);
	if (fstat(s->fd, &st) < 0) {
		int e = errno;

		close(s->fd);
		return qimg_error_set_errno(err, e, "Could not stat '%s'",
					    node->filename);
	}
	if (node->drv != &qimg_driver_file) {
		/* host_device, host_cdrom: devices only. */
		if (!S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode)) {
			close(s->fd);
			return qimg_error_set(err, EINVAL,
					      "'%s' driver requires '%s' to be "
					      "either a character or block "
					      "device",
					      node->drv->name, node->filename);
		}
		s->blockdev = S_ISBLK(st.st_mode);
		s->chardev = S_ISCHR(st.st_mode);
		/* a CD-ROM drive's image is its disc: none, no I/O */
		s->no_medium = node->drv == &qimg_driver_host_cdrom &&
			       ioctl(s->fd, CDROM_DRIVE_STATUS, CDSL_CURRENT) !=
				       CDS_DISC_OK;
		node->no_medium = s->no_medium;
	} else if (S_ISBLK(st.st_mode) && (oflags & O_CREAT)) {
		/* the file's create over a device: its truncation fails */
		s->blockdev = true;
	} else if (!S_ISREG(st.st_mode) && !(oflags & O_CREAT)) {
		close(s->fd);
		return qimg_error_set(err, EINVAL,
				      "'file' driver requires '%s' to be a "
				      "regular file",
				      node->filename);
	}
	return 0;
}

/* The O_DIRECT offset alignment a file system reports (statx), as
 * qemu-img finds it (512 on ext4 over 512-byte sectors: a file's tail is
 * then padded to 512 bytes, not 4096); 0 when it says nothing usable. */
static int dio_align(int fd)
{
#ifdef STATX_DIOALIGN
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) &&
	    stx.stx_dio_offset_align >= 512 &&
	    stx.stx_dio_offset_align <= 65536 &&
	    stx.stx_dio_mem_align <= stx.stx_dio_offset_align)
		return (int)stx.stx_dio_offset_align;
#endif
	return 0;
}

/* aio=threads|native|io_uring, with qemu-img's messages. */
static int parse_aio(struct qimg_node *node, const char *v,
		     struct qimg_error *err)
{
	struct file_state *s = node->opaque;

	s->aio = AIO_DEFAULT;
	if (!v)
		return 0;
	if (!strcmp(v, "threads"))
		s->aio = AIO_THREADS;
	else if (!strcmp(v, "native"))
		s->aio = AIO_NATIVE;
	else if (!strcmp(v, "io_uring"))
		s->aio = AIO_IO_URING;
	else
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", v);
	return 0;
}

/* The options after aio, in qemu-img's order: locking (on, off, auto),
 * the pr-manager named, then aio=native's need of O_DIRECT. */
static int check_opts(struct qimg_node *node, const struct qimg_opts *opts,
		      struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	const char *lk = qimg_opts_get_str(opts, "locking", "auto");
	const char *pr = qimg_opts_get_str(opts, "pr-manager", NULL);
	bool direct = node->cache == QIMG_CACHE_NONE ||
		      node->cache == QIMG_CACHE_DIRECTSYNC;
	int r;

	if (strcmp(lk, "on") && strcmp(lk, "off") && strcmp(lk, "auto"))
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", lk);
	s->nolock = !strcmp(lk, "off");
	if (pr) {
		r = qimg_objects_pr_manager(node->objects, pr, err);
		if (r < 0)
			return r;
	}
	if (s->aio == AIO_NATIVE && !direct)
		return qimg_error_set(err, EINVAL,
				      "aio=native was specified, but it "
				      "requires cache.direct=on, which was "
				      "not specified.");
	return 0;
}

static int file_open(struct qimg_node *node, const struct qimg_opts *opts,
		     struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	int oflags = (node->flags & QIMG_OPEN_RDWR) ? O_RDWR : O_RDONLY;
	int r;

	s->fd = -1;
	pthread_mutex_init(&s->bsc_lock, NULL);
	/* (the core refused a name that is empty or no text: needs_filename,
	 * as qemu-img does for "dd if=", "info ''"; creating one still
	 * fails with ENOENT) */
	r = parse_aio(node, qimg_opts_get_str(opts, "aio", NULL), err);
	if (r == 0)
		r = check_opts(node, opts, err);
	if (r < 0)
		return r;
	switch (node->cache) {
	case QIMG_CACHE_NONE:
		s->direct = true;
		break;
	case QIMG_CACHE_DIRECTSYNC:
		s->direct = true;
		s->writethrough = true;
		break;
	case QIMG_CACHE_WRITETHROUGH:
		s->writethrough = true;
		break;
	case QIMG_CACHE_UNSAFE:
		s->unsafe = true;
		break;
	case QIMG_CACHE_WRITEBACK:
		s->write_behind = true;
		break;
	}
	if (s->direct)
		oflags |= O_DIRECT;
	r = file_open_fd(node, oflags, err);
	if (r < 0)
		return r;
	s->align = 1;
	if (s->direct) {
		int bs = 0;

		s->align = 512;
		if (s->blockdev && ioctl(s->fd, BLKSSZGET, &bs) == 0 &&
		    bs >= 512 && bs <= 65536)
			s->align = bs;
		else if (!s->blockdev && (bs = dio_align(s->fd)) > 0)
			s->align = bs; /* what the file system says */
		else
			s->align = 4096; /* safe for 4Kn filesystems too */
	}
	/* With O_DIRECT the core pads requests and bounces buffers. */
	node->limits.request_align = s->align;
	node->limits.export_align = s->align;
	node->limits.mem_align = s->align;
	node->limits.grows = !s->blockdev && !s->chardev;
	node->zero_init = !s->blockdev && !s->chardev;
	/* Rings are made on first use, by the requests that take them.
	 * Only when asked: with O_DIRECT, 2 MiB writes cut into pieces on a
	 * ring measured no faster than blocking ones on this disk (and
	 * slower into a new qcow2: docs/ARCHITECTURE.md). */
	if (s->aio == AIO_IO_URING)
		s->uring = file_uring_pool_new();
	return 0;
}

static void file_close(struct qimg_node *node)
{
	struct file_state *s = node->opaque;

	file_uring_pool_free(s->uring);
	s->uring = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	pthread_mutex_destroy(&s->bsc_lock);
}

/* The end of the cached data extent holding off, or 0. */
static uint64_t bsc_lookup(struct file_state *s, uint64_t off)
{
	uint64_t end = 0;

	pthread_mutex_lock(&s->bsc_lock);
	if (off >= s->bsc_start && off < s->bsc_end)
		end = s->bsc_end;
	pthread_mutex_unlock(&s->bsc_lock);
	return end;
}

static void bsc_set(struct file_state *s, uint64_t start, uint64_t end)
{
	pthread_mutex_lock(&s->bsc_lock);
	s->bsc_start = start;
	s->bsc_end = end;
	pthread_mutex_unlock(&s->bsc_lock);
}

static int64_t file_length(struct qimg_node *node)
{
	struct file_state *s = node->opaque;
	struct stat st;

	if (s->blockdev) {
		uint64_t sz;

		if (ioctl(s->fd, BLKGETSIZE64, &sz) < 0)
			return -errno;
		return (int64_t)sz;
	}
	if (fstat(s->fd, &st) < 0)
		return -errno;
	return st.st_size;
}

static int64_t file_allocated_size(struct qimg_node *node)
{
	struct file_state *s = node->opaque;
	struct stat st;

	if (fstat(s->fd, &st) < 0)
		return -1;
	if (s->blockdev)
		return 0;
	return (int64_t)st.st_blocks * 512;
}

/* Through the ring when aio=io_uring asked for one (requests of 1 MiB
 * and more cut into pieces in flight together); otherwise, or when no
 * ring can be had, blocking calls. */
static int do_io(struct file_state *s, bool write, uint64_t off, void *buf,
		 size_t len)
{
	if (s->uring) {
		int r = file_uring_rw(s->uring, s->fd, write, off, buf, len,
				      URING_PIECE);

		if (r != -ENOSYS)
			return r;
	}
	return write ? file_pwrite_all(s->fd, off, buf, len)
		     : file_pread_all(s->fd, off, buf, len);
}

static int do_pread(struct file_state *s, uint64_t off, void *buf, size_t len)
{
	return do_io(s, false, off, buf, len);
}

static int do_pwrite(struct file_state *s, uint64_t off, const void *buf,
		     size_t len)
{
	return do_io(s, true, off, (void *)buf, len);
}

static int file_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	int r;

	r = do_pread(s, off, buf, len);
	if (r < 0)
		return qimg_error_set_errno(err, -r, "Could not read '%s'",
					    node->filename);
	return 0;
}

static int file_sync(struct file_state *s)
{
	if (s->unsafe)
		return 0;
	if (fdatasync(s->fd) < 0)
		return -errno;
	return 0;
}

/* Writes at least this long are data (a cluster or more), not metadata
 * that is rewritten in place soon after. */
#define WRITE_BEHIND_MIN (64u << 10)

/* After data reached [off, off + len) (r: how that went): writethrough
 * syncs; write-behind starts the disk on it now, while the caller reads
 * and compares the next piece, instead of all of it waiting for the flush
 * that ends a commit or a rebase (only a hint: it promises neither
 * durability nor order, barriers remain flushes, and a failure shows at
 * the flush). */
static int written(struct qimg_node *node, uint64_t off, uint64_t len, int r,
		   struct qimg_error *err)
{
	struct file_state *s = node->opaque;

	if (r == 0 && s->writethrough)
		r = file_sync(s);
	if (r == 0 && s->write_behind && len >= WRITE_BEHIND_MIN)
		(void)sync_file_range(s->fd, (off_t)off, (off_t)len,
				      SYNC_FILE_RANGE_WRITE);
	if (r < 0)
		return qimg_error_set_errno(err, -r, "Could not write '%s'",
					    node->filename);
	return 0;
}

static int file_write(struct qimg_node *node, uint64_t off, const void *buf,
		      size_t len, struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	int r;

	r = do_pwrite(s, off, buf, len);
	return written(node, off, len, r, err);
}

/* Copy offload: the kernel moves the bytes (a reflink on file systems
 * that share extents, an in-kernel copy on others).  What it cannot do
 * between these two files (another file system, a device, a flag it
 * refuses) is -ENOTSUP for the caller's buffered copy; a failure to
 * write is the write's error. */
static int file_copy_range(struct qimg_node *node, uint64_t off,
			   struct qimg_node *src, uint64_t src_off,
			   uint64_t len, struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	struct file_state *ss = src->opaque;
	loff_t in = (loff_t)src_off, out = (loff_t)off;
	uint64_t left = len;
	ssize_t n;

	while (left > 0) {
		n = copy_file_range(
			ss->fd, &in, s->fd, &out,
			left < (1u << 30) ? (size_t)left : (size_t)1 << 30, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EIO || errno == ENOSPC ||
			      errno == EDQUOT || errno == EFBIG))
			return qimg_error_set_errno(err, errno,
						    "Could not write '%s'",
						    node->filename);
		if (n <= 0)
			return -ENOTSUP; /* refused, or the source ended */
		left -= (uint64_t)n;
	}
	return written(node, off, len, 0, err);
}

static int file_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	int r = file_sync(s);

	/* a character device that cannot sync (/dev/null) holds nothing a
	 * sync would keep */
	if (r == -EINVAL && s->chardev)
		r = 0;
	if (r < 0)
		return qimg_error_set_errno(err, -r, "Could not flush '%s'",
					    node->filename);
	return 0;
}

/* Write zeros the slow way, in bounded chunks. */
static int write_zero_buffer(struct qimg_node *node, uint64_t off, uint64_t len,
			     struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	size_t chunk = 1 << 20;
	void *z;
	int r = 0;

	if (posix_memalign(&z, 4096, chunk))
		return qimg_error_set(err, ENOMEM, "Out of memory");
	memset(z, 0, chunk);
	while (len > 0 && r == 0) {
		size_t n = len < chunk ? (size_t)len : chunk;

		r = do_pwrite(s, off, z, n);
		off += n;
		len -= n;
	}
	free(z);
	if (r < 0)
		return qimg_error_set_errno(err, -r, "Could not write '%s'",
					    node->filename);
	return 0;
}

static int file_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			     unsigned int flags, struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	int64_t flen = file_length(node);
	int r;

	bsc_set(s, 0, 0);
	if (s->blockdev) {
		uint64_t range[2] = { off, len };

		if (ioctl(s->fd, BLKZEROOUT, range) == 0)
			return 0;
	} else {
		/* Past EOF a file reads as zeros already: just extend. */
		if (flen >= 0 && off >= (uint64_t)flen) {
			if (ftruncate(s->fd, (off_t)(off + len)) == 0)
				return 0;
		}
		if (flags & QIMG_ZERO_MAY_UNMAP) {
			if (flen >= 0 && off + len > (uint64_t)flen &&
			    ftruncate(s->fd, (off_t)(off + len)) < 0)
				return qimg_error_set_errno(
					err, errno, "Could not resize '%s'",
					node->filename);
			r = fallocate(s->fd,
				      FALLOC_FL_PUNCH_HOLE |
					      FALLOC_FL_KEEP_SIZE,
				      (off_t)off, (off_t)len);
			if (r == 0)
				return 0;
		}
		if (fallocate(s->fd, FALLOC_FL_ZERO_RANGE, (off_t)off,
			      (off_t)len) == 0)
			return 0;
	}
	if (flags & QIMG_ZERO_NO_FALLBACK)
		return -ENOTSUP;
	return write_zero_buffer(node, off, len, err);
}

static int file_discard(struct qimg_node *node, uint64_t off, uint64_t len,
			struct qimg_error *err)
{
	struct file_state *s = node->opaque;

	bsc_set(s, 0, 0);
	if (s->blockdev) {
		uint64_t range[2] = { off, len };

		(void)ioctl(s->fd, BLKDISCARD, range);
		return 0;
	}
	/* Discard is advisory: a filesystem without hole punching keeps the
	 * data, which is allowed. */
	(void)fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			(off_t)off, (off_t)len);
	return 0;
}

static int file_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			     struct qimg_extent *ext, struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	int64_t flen;
	off_t data, hole;
	uint64_t end;

	ext->map = off;
	ext->file = node;
	ext->len = len;
	end = s->blockdev ? 0 : bsc_lookup(s, off);
	if (end) {
		ext->len = end - off < len ? end - off : len;
		ext->flags =
			QIMG_BS_DATA | QIMG_BS_OFFSET_VALID | QIMG_BS_ALLOCATED;
		return 0;
	}
	flen = file_length(node);
	if (flen < 0 || s->blockdev) {
		ext->flags =
			QIMG_BS_DATA | QIMG_BS_OFFSET_VALID | QIMG_BS_ALLOCATED;
		return 0;
	}
	if (off >= (uint64_t)flen) {
		ext->flags = QIMG_BS_ZERO | QIMG_BS_OFFSET_VALID |
			     QIMG_BS_ALLOCATED | QIMG_BS_EOF;
		return 0;
	}
	data = lseek(s->fd, (off_t)off, SEEK_DATA);
	if (data < 0 && errno == ENXIO) {
		/* A hole up to EOF. */
		data = flen;
	} else if (data < 0) {
		ext->flags =
			QIMG_BS_DATA | QIMG_BS_OFFSET_VALID | QIMG_BS_ALLOCATED;
		return 0;
	}
	if ((uint64_t)data > off) {
		uint64_t n = (uint64_t)data - off;

		ext->len = n < len ? n : len;
		ext->flags =
			QIMG_BS_ZERO | QIMG_BS_OFFSET_VALID | QIMG_BS_ALLOCATED;
		if ((uint64_t)data >= (uint64_t)flen && ext->len == n)
			ext->flags |= QIMG_BS_EOF;
		return 0;
	}
	hole = lseek(s->fd, (off_t)off, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole <= off)
		hole = flen;
	{
		uint64_t n = (uint64_t)hole - off;

		/* With O_DIRECT no request covers part of a block: data
		 * ending in a partial block at EOF takes the whole block. */
		if (s->align > 1 && (uint64_t)hole == (uint64_t)flen &&
		    n % s->align)
			n += s->align - n % s->align;
		ext->len = n < len ? n : len;
		bsc_set(s, off, (uint64_t)hole);
	}
	ext->flags = QIMG_BS_DATA | QIMG_BS_OFFSET_VALID | QIMG_BS_ALLOCATED;
	return 0;
}

static int file_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			 const char *prealloc, struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	int64_t old = file_length(node);

	bsc_set(s, 0, 0);
	if (old < 0)
		return qimg_error_set_errno(err, (int)-old,
					    "Could not get size of '%s'",
					    node->filename);
	if (s->no_medium)
		return qimg_error_set(err, ENOMEDIUM, "No medium inserted");
	if (s->blockdev || s->chardev) {
		if (prealloc && strcmp(prealloc, "off"))
			return qimg_error_set(
				err, ENOTSUP,
				"Preallocation mode '%s' "
				"unsupported for this non-regular "
				"file",
				prealloc);
		if ((flags & QIMG_TRUNCATE_EXACT) && size != (uint64_t)old)
			return qimg_error_set(err, ENOTSUP,
					      "Cannot resize device files");
		if (size > (uint64_t)old)
			return qimg_error_set(err, EINVAL,
					      "Cannot grow device files");
		return 0;
	}
	if (size > (uint64_t)INT64_MAX)
		return qimg_error_set(err, EFBIG,
				      "Could not resize file: "
				      "File too large");
	if (size < (uint64_t)old && !(flags & QIMG_TRUNCATE_SHRINK))
		return qimg_error_set(err, EINVAL,
				      "Cannot shrink without --shrink");
	if (!prealloc || !strcmp(prealloc, "off") || size <= (uint64_t)old) {
		if (ftruncate(s->fd, (off_t)size) < 0)
			return qimg_error_set_errno(err, errno,
						    "Could not resize file");
		return 0;
	}
	if (!strcmp(prealloc, "falloc")) {
		int r = posix_fallocate(s->fd, (off_t)old,
					(off_t)(size - (uint64_t)old));

		if (r)
			return qimg_error_set_errno(
				err, r, "Could not preallocate new data");
		return 0;
	}
	if (!strcmp(prealloc, "full")) {
		if (ftruncate(s->fd, (off_t)size) < 0)
			return qimg_error_set_errno(err, errno,
						    "Could not resize file");
		return write_zero_buffer(node, (uint64_t)old,
					 size - (uint64_t)old, err);
	}
	return qimg_error_set(err, EINVAL,
			      "Unsupported preallocation mode '%s'", prealloc);
}

/* Image locking, compatible with QEMU: per permission bit i, a shared OFD
 * lock on byte 100+i says "I use it" and on byte 200+i "nobody else may".
 * Conflicts are tested with F_OFD_GETLK for an exclusive lock. */
#define LOCK_PERM_BASE 100
#define LOCK_SHARED_BASE 200
#define NPERM 4

static const char *const perm_names[NPERM] = {
	"consistent read",
	"write",
	"write unchanged",
	"resize",
};

static int lock_byte(int fd, int byte, bool lock)
{
	struct flock fl = {
		.l_type = lock ? F_RDLCK : F_UNLCK,
		.l_whence = SEEK_SET,
		.l_start = byte,
		.l_len = 1,
	};

	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return -errno;
	return 0;
}

static bool byte_is_locked_by_others(int fd, int byte)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = byte,
		.l_len = 1,
	};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return false;
	return fl.l_type != F_UNLCK;
}

/* Whether another open file holds what perm/unshared cannot share. */
static bool conflict(struct file_state *s, unsigned int perm,
		     unsigned int unshared)
{
	int i;

	for (i = 0; i < NPERM; i++)
		if (((perm & (1u << i)) &&
		     byte_is_locked_by_others(s->fd, LOCK_SHARED_BASE + i)) ||
		    ((unshared & (1u << i)) &&
		     byte_is_locked_by_others(s->fd, LOCK_PERM_BASE + i)))
			return true;
	return false;
}

static int file_set_perm(struct qimg_node *node, unsigned int perm,
			 unsigned int unshared, struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	int i, k, r;

	if (s->nolock)
		return 0;
	for (i = 0; i < NPERM; i++) {
		bool want = perm & (1u << i), had = s->locked_perm & (1u << i);

		if (want != had) {
			r = lock_byte(s->fd, LOCK_PERM_BASE + i, want);
			if (r < 0)
				goto failed;
		}
		want = unshared & (1u << i);
		had = s->locked_unshared & (1u << i);
		if (want != had) {
			r = lock_byte(s->fd, LOCK_SHARED_BASE + i, want);
			if (r < 0)
				goto failed;
		}
	}
	s->locked_perm = perm;
	s->locked_unshared = unshared;
	/* A conflict is looked at again for up to 50 ms: a holder that was
	 * just killed releases its locks only when the kernel has closed its
	 * files, which a short-lived tool started right after it can beat. */
	for (k = 0; k < 5 && conflict(s, perm, unshared); k++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	for (i = 0; i < NPERM; i++) {
		if ((perm & (1u << i)) &&
		    byte_is_locked_by_others(s->fd, LOCK_SHARED_BASE + i))
			return qimg_error_set(err, EAGAIN,
					      "Failed to get \"%s\" lock\n"
					      "Is another process using the "
					      "image [%s]?",
					      perm_names[i], node->filename);
	}
	for (i = 0; i < NPERM; i++) {
		if ((unshared & (1u << i)) &&
		    byte_is_locked_by_others(s->fd, LOCK_PERM_BASE + i))
			return qimg_error_set(err, EAGAIN,
					      "Failed to get shared \"%s\" "
					      "lock\nIs another process using "
					      "the image [%s]?",
					      perm_names[i], node->filename);
	}
	return 0;
failed:
	return qimg_error_set_errno(err, -r, "Failed to lock byte %d",
				    i + LOCK_PERM_BASE);
}

static int file_create(struct qimg_node *node, const struct qimg_opts *o,
		       struct qimg_error *err)
{
	struct file_state *s = node->opaque;
	int r;

	r = file_open_fd(node, O_RDWR | O_CREAT, err);
	if (r < 0)
		return r;
	if (ftruncate(s->fd, 0) < 0) {
		r = qimg_error_set_errno(err, errno, "Could not resize file");
		close(s->fd);
		return r;
	}
	if (qimg_opts_get_bool(o, "nocow", false)) {
		int attr = 0;

		/* Only meaningful on btrfs; ignored elsewhere, as qemu-img
		 * does. */
		if (ioctl(s->fd, FS_IOC_GETFLAGS, &attr) == 0) {
			attr |= FS_NOCOW_FL;
			(void)ioctl(s->fd, FS_IOC_SETFLAGS, &attr);
		}
	}
	close(s->fd);
	s->fd = -1;
	return 0;
}

/* What the file's create refuses, in its order: a word that is no
 * preallocation mode, an extent size hint past 32 bits, then a mode a
 * file has not (metadata).  `prealloc`: the mode is the file's to judge
 * (the format has none of its own). */
static int file_create_check(const struct qimg_opts *o, bool prealloc,
			     struct qimg_error *err)
{
	const char *p =
		prealloc ? qimg_opts_get_str(o, "preallocation", NULL) : NULL;

	if (p && !qimg_prealloc_mode_known(p))
		return qimg_error_set(err, EINVAL,
				      "invalid parameter value: %s", p);
	if (qimg_opts_get_u64(o, "extent_size_hint", 0) > UINT32_MAX)
		return qimg_error_set(err, EINVAL,
				      "Extent size hint is too large");
	if (p && !strcmp(p, "metadata"))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported preallocation mode: %s", p);
	return 0;
}

static const char *const file_protocols[] = { "file", NULL };

/* A file answers info (no cluster size, never dirty), as QEMU's does. */
static int file_get_info(struct qimg_node *node, struct qimg_image_info *info,
			 struct qimg_error *err)
{
	info->has_info = true;
	return 0;
}

/* Options of a file node besides "filename": accepted as qemu-img accepts
 * them; locking=off turns the image locks off. */
static const struct qimg_opt_desc file_runtime_opts[] = {
	{ "filename", QIMG_OPT_STRING, NULL, NULL },
	{ "locking", QIMG_OPT_STRING, NULL, NULL },
	{ "aio", QIMG_OPT_STRING, NULL, NULL },
	{ "aio-max-batch", QIMG_OPT_NUMBER, NULL, NULL },
	{ "pr-manager", QIMG_OPT_STRING, NULL, NULL },
	{ "x-check-cache-dropped", QIMG_OPT_BOOL, NULL, NULL },
	{ "drop-cache", QIMG_OPT_BOOL, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

/* A relative name with a colon before any slash would read as a protocol
 * prefix: qemu-img shows it as "./NAME". */
static char *file_exact_filename(struct qimg_node *node)
{
	const char *fn =
		qimg_value_get_str(qimg_dict_get(node->options, "filename"));
	const char *colon, *slash;
	char *r;

	if (!fn)
		return NULL;
	colon = strchr(fn, ':');
	slash = strchr(fn, '/');
	if (fn[0] != '/' && colon && (!slash || colon < slash)) {
		if (asprintf(&r, "./%s", fn) < 0)
			return NULL;
		return r;
	}
	return strdup(fn);
}

const struct qimg_driver qimg_driver_file = {
	.name = "file",
	.kind = QIMG_DRIVER_PROTOCOL,
	.protocols = file_protocols,
	.default_protocol = true,
	.needs_filename = true,
	.runtime_opts = file_runtime_opts,
	.exact_filename = file_exact_filename,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct file_state),
	.create_opts = file_create_opts,
	.open = file_open,
	.close = file_close,
	.create = file_create,
	.create_check = file_create_check,
	.read = file_read,
	.write = file_write,
	.write_zeroes = file_write_zeroes,
	.discard = file_discard,
	.flush = file_flush,
	.block_status = file_block_status,
	.copy_range = file_copy_range,
	.truncate = file_truncate,
	.allocated_size = file_allocated_size,
	.length = file_length,
	.set_perm = file_set_perm,
	.get_info = file_get_info,
};

/* Host block and character devices: the same I/O as files, but the node
 * must be a device (size by ioctl, no growth, not zero-initialised). */
static const char *const host_device_protocols[] = { "host_device", NULL };
static const char *const host_cdrom_protocols[] = { "host_cdrom", NULL };

/* A device is made as QEMU makes an image on a protocol that cannot create
 * (core/create.c): opened, sized, its first sector zeroed. */
static const struct qimg_opt_desc host_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "preallocation", QIMG_OPT_STRING,
	  "Preallocation mode (allowed values: off)", NULL },
	{ NULL, 0, NULL, NULL },
};

/* A plain name of a block or character device is a host_device's; one
 * under /dev/cdrom is, less surely, too (host_cdrom's when the drive
 * answers). */
static int host_device_probe(const char *filename)
{
	struct stat st;

	if (!strncmp(filename, "/dev/cdrom", 10))
		return 50;
	if (stat(filename, &st) == 0 &&
	    (S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode)))
		return 100;
	return 0;
}

/* A CD-ROM drive (a block device) answers its drive status request. */
static int host_cdrom_probe(const char *filename)
{
	struct stat st;
	int fd, r;

	if (stat(filename, &st) < 0 || !S_ISBLK(st.st_mode))
		return 0;
	fd = open(filename, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	r = ioctl(fd, CDROM_DRIVE_STATUS, CDSL_CURRENT);
	close(fd);
	return r >= 0 ? 100 : 0;
}

#define HOST_DRIVER(ident, drvname, protos, probe_fn, info_fn)                 \
	const struct qimg_driver ident = {                                     \
		.name = drvname,                                               \
		.kind = QIMG_DRIVER_PROTOCOL,                                  \
		.protocols = protos,                                           \
		.probe_device = probe_fn,                                      \
		.create_opts = host_create_opts,                               \
		.needs_filename = true,                                        \
		.runtime_opts = file_runtime_opts,                             \
		.exact_filename = file_exact_filename,                         \
		.threads = QIMG_THREADS_PARALLEL,                              \
		.state_size = sizeof(struct file_state),                       \
		.open = file_open,                                             \
		.close = file_close,                                           \
		.read = file_read,                                             \
		.write = file_write,                                           \
		.write_zeroes = file_write_zeroes,                             \
		.discard = file_discard,                                       \
		.flush = file_flush,                                           \
		.block_status = file_block_status,                             \
		.copy_range = file_copy_range,                                 \
		.truncate = file_truncate,                                     \
		.allocated_size = file_allocated_size,                         \
		.length = file_length,                                         \
		.set_perm = file_set_perm,                                     \
		.get_info = info_fn,                                           \
	}

/* QEMU's host_cdrom answers no info (no dirty flag in info's JSON). */
HOST_DRIVER(qimg_driver_host_device, "host_device", host_device_protocols,
	    host_device_probe, file_get_info);
HOST_DRIVER(qimg_driver_host_cdrom, "host_cdrom", host_cdrom_protocols,
	    host_cdrom_probe, NULL);
