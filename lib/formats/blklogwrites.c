/* SPDX-License-Identifier: MIT */
/* blklogwrites: a filter that passes everything to its `file` child and
 * records each write, zero write, discard and flush in its `log` child, in
 * the dm-log-writes format (Linux Documentation/admin-guide/device-mapper/
 * log-writes.rst) as QEMU writes it: sector numbers and counts in units of
 * the log's sector size, zero writes logged with their zeros as data. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "formats/blklogwrites.h"
#include "util/endian.h"
#include "util/overflow.h"

#define LOG_MAGIC 0x6a736677736872ULL /* "rhswfsj" */
#define LOG_VERSION 1
#define LOG_FLUSH 0x1u
#define LOG_FUA 0x2u
#define LOG_DISCARD 0x4u
#define LOG_MARK 0x8u
#define LOG_KNOWN_FLAGS (LOG_FLUSH | LOG_FUA | LOG_DISCARD | LOG_MARK)
#define ENTRY_BYTES 32 /* sector, nr_sectors, flags, data_len: le64 each */
#define SUPER_BYTES 28 /* magic, version, nr_entries: le64; sectorsize: le32 */

struct logw_state {
	uint32_t ss;	    /* log sector size */
	unsigned int bits;  /* log2(ss) */
	uint64_t cur;	    /* next free log sector */
	uint64_t nr;	    /* entries in the log */
	uint64_t interval;  /* the superblock is rewritten every this many */
	uint64_t write_gen; /* writes done, for flushes that have work */
	uint64_t flushed_gen;
	unsigned char *sector; /* one zeroed log sector (entry, superblock) */
};

static const struct qimg_opt_desc logw_runtime_opts[] = {
	{ "log-append", QIMG_OPT_BOOL, "Append to an existing log", NULL },
	{ "log-sector-size", QIMG_OPT_SIZE, "Log sector size", NULL },
	{ "log-super-update-interval", QIMG_OPT_NUMBER,
	  "Log superblock update interval (# of write requests)", NULL },
	{ NULL, 0, NULL, NULL },
};

/* What the log looks like depends on these: they name the node. */
static const char *const logw_strong_opts[] = { "log-append", "log-sector-size",
						NULL };
static const char *const logw_children[] = { "log", NULL };

static struct qimg_node *log_of(struct qimg_node *node)
{
	return qimg_node_child(node, "log");
}

/* Sector sizes the format can hold: a power of two that fits an entry
 * header, below 16 MiB (qemu-img's bounds). */
static bool sector_size_ok(uint64_t ss)
{
	return qimg_is_power_of_2(ss) && ss >= ENTRY_BYTES && ss < (1u << 24);
}

/* Read from the log; past its end it reads as zeros. */
static int log_read(struct qimg_node *log, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	size_t n = 0;

	if (log->limits.grows)
		return qimg_pread(log, off, buf, len, err);
	if (off < log->size)
		n = log->size - off < len ? (size_t)(log->size - off) : len;
	memset((char *)buf + n, 0, len - n);
	return n ? qimg_pread(log, off, buf, n, err) : 0;
}

/* log-append: take the sector size and entry count from the superblock
 * and find the end of the last entry it counts.  An empty log is a new
 * one. */
static int find_log_end(struct qimg_node *node, struct qimg_error *err)
{
	struct logw_state *s = node->opaque;
	struct qimg_node *log = log_of(node);
	unsigned char b[ENTRY_BYTES];
	int64_t len = qimg_node_length(log, err);
	uint64_t v, i, at, step;
	int r;

	if (len < 0)
		return (int)len;
	s->ss = 512;
	s->cur = 1;
	s->nr = 0;
	if (len == 0)
		return 0;
	r = log_read(log, 0, b, SUPER_BYTES, err);
	if (r < 0)
		return r;
	if (qimg_load_le64(b) != LOG_MAGIC)
		return qimg_error_set(err, EINVAL,
				      "Invalid log superblock magic");
	v = qimg_load_le64(b + 8);
	if (v != LOG_VERSION)
		return qimg_error_set(err, EINVAL,
				      "Unsupported log version %" PRIu64, v);
	s->nr = qimg_load_le64(b + 16);
	v = qimg_load_le32(b + 24);
	if (!sector_size_ok(v))
		return qimg_error_set(err, EINVAL,
				      "Invalid log sector size %" PRIu64, v);
	s->ss = (uint32_t)v;
	for (i = 0; i < s->nr; i++) {
		if (qimg_mul_overflow(s->cur, (uint64_t)s->ss, &at))
			return qimg_error_set(err, EUCLEAN,
					      "Log entry %" PRIu64
					      " lies beyond 2^64 bytes",
					      i);
		if (at >= (uint64_t)len) {
			/* Past the end every entry reads as zeros: one
			 * sector each. */
			if (qimg_add_overflow(s->cur, s->nr - i, &s->cur))
				return qimg_error_set(err, EUCLEAN,
						      "Log entry %" PRIu64
						      " lies beyond 2^64 bytes",
						      i);
			break;
		}
		r = log_read(log, at, b, ENTRY_BYTES, err);
		if (r < 0)
			return r;
		v = qimg_load_le64(b + 16);
		if (v & ~(uint64_t)LOG_KNOWN_FLAGS)
			return qimg_error_set(err, EINVAL,
					      "Invalid flags 0x%" PRIx64
					      " in log entry %" PRIu64,
					      v, i);
		/* A discard's sectors are a range, not data. */
		step = v & LOG_DISCARD ? 0 : qimg_load_le64(b + 8);
		if (qimg_add_overflow(s->cur, step, &s->cur) ||
		    qimg_add_overflow(s->cur, (uint64_t)1, &s->cur))
			return qimg_error_set(err, EUCLEAN,
					      "Log entry %" PRIu64
					      " lies beyond 2^64 bytes",
					      i);
	}
	return 0;
}

static int logw_open(struct qimg_node *node, const struct qimg_opts *opts,
		     struct qimg_error *err)
{
	struct logw_state *s = node->opaque;
	struct qimg_node *log;
	uint64_t ss;
	int r;

	r = qimg_open_child(node, "log", NULL, QIMG_CHILD_PROTOCOL, 0, &log,
			    err);
	if (r < 0)
		return r;
	if (qimg_opts_get_bool(opts, "log-append", false)) {
		if (qimg_opts_has(opts, "log-sector-size"))
			return qimg_error_set(err, EINVAL,
					      "log-append and log-sector-size "
					      "are mutually exclusive");
		r = find_log_end(node, err);
		if (r < 0)
			return r;
	} else {
		ss = qimg_opts_get_u64(opts, "log-sector-size", 512);
		if (!sector_size_ok(ss))
			return qimg_error_set(
				err, EINVAL, "Invalid log sector size %" PRIu64,
				ss);
		s->ss = (uint32_t)ss;
		s->cur = 1;
	}
	s->interval =
		qimg_opts_get_u64(opts, "log-super-update-interval", 4096);
	if (!s->interval)
		return qimg_error_set(err, EINVAL,
				      "Invalid log superblock update "
				      "interval 0");
	s->bits = (unsigned int)__builtin_ctz(s->ss);
	s->sector = calloc(1, s->ss);
	if (!s->sector)
		return qimg_error_set(err, ENOMEM, "Out of memory");

	node->size = node->file->size;
	node->limits.request_align = node->file->limits.request_align;
	if (node->limits.request_align < s->ss)
		node->limits.request_align = s->ss;
	node->limits.mem_align = node->file->limits.mem_align;
	if (node->limits.mem_align < log->limits.mem_align)
		node->limits.mem_align = log->limits.mem_align;
	node->limits.max_transfer = node->file->limits.max_transfer;
	/* A format above may grow its file through the filter. */
	node->limits.grows = node->file->limits.grows;
	node->cluster_size = node->file->cluster_size;
	node->zero_init = node->file->zero_init;
	return 0;
}

static void logw_close(struct qimg_node *node)
{
	struct logw_state *s = node->opaque;

	free(s->sector);
	s->sector = NULL;
}

static int write_super(struct qimg_node *node, struct qimg_error *err)
{
	struct logw_state *s = node->opaque;

	memset(s->sector, 0, s->ss);
	qimg_store_le64(s->sector, LOG_MAGIC);
	qimg_store_le64(s->sector + 8, LOG_VERSION);
	qimg_store_le64(s->sector + 16, s->nr);
	qimg_store_le32(s->sector + 24, s->ss);
	return qimg_pwrite(log_of(node), 0, s->sector, s->ss, err);
}

/* What an entry carries after its header. */
enum payload {
	NONE,
	DATA,
	ZEROS
};

/* Append one entry (its header sector, then its data) and rewrite the
 * superblock when a flush or the update interval asks for it. */
static int log_entry(struct qimg_node *node, uint64_t flags, uint64_t off,
		     uint64_t len, enum payload what, const void *buf,
		     struct qimg_error *err)
{
	struct logw_state *s = node->opaque;
	struct qimg_node *log = log_of(node);
	uint64_t nsec = len >> s->bits, at, next;
	int r;

	if (qimg_mul_overflow(s->cur, (uint64_t)s->ss, &at) ||
	    qimg_add_overflow(s->cur, 1 + (what == NONE ? 0 : nsec), &next))
		return qimg_error_set(err, ENOSPC, "The log is full");
	memset(s->sector, 0, s->ss);
	qimg_store_le64(s->sector, off >> s->bits);
	qimg_store_le64(s->sector + 8, nsec);
	qimg_store_le64(s->sector + 16, flags);
	r = qimg_pwrite(log, at, s->sector, s->ss, err);
	if (r == 0 && what == DATA)
		r = qimg_pwrite(log, at + s->ss, buf, (size_t)len, err);
	else if (r == 0 && what == ZEROS)
		r = qimg_write_zeroes(log, at + s->ss, len, 0, err);
	if (r < 0)
		return r;
	s->cur = next;
	s->nr++;
	if (s->nr % s->interval == 0 || (flags & LOG_FLUSH))
		r = write_super(node, err);
	return r;
}

/* A flush records an entry only when there was a write since the last
 * one, and not at all with cache=unsafe (QEMU flushes nothing then). */
static int log_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct logw_state *s = node->opaque;

	if (node->cache == QIMG_CACHE_UNSAFE || s->write_gen == s->flushed_gen)
		return 0;
	s->flushed_gen = s->write_gen;
	return log_entry(node, LOG_FLUSH, 0, 0, NONE, NULL, err);
}

/* A write is done: with a write-through cache QEMU flushes after each
 * one, before counting it (so the first write of a run has no flush
 * entry of its own; tests/interop/blklogwrites.sh). */
static int write_done(struct qimg_node *node, int r, struct qimg_error *err)
{
	struct logw_state *s = node->opaque;

	if (r == 0 && (node->cache == QIMG_CACHE_WRITETHROUGH ||
		       node->cache == QIMG_CACHE_DIRECTSYNC))
		r = log_flush(node, err);
	s->write_gen++;
	return r;
}

static int logw_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	return qimg_pread(node->file, off, buf, len, err);
}

static int logw_write(struct qimg_node *node, uint64_t off, const void *buf,
		      size_t len, struct qimg_error *err)
{
	int r = log_entry(node, 0, off, len, DATA, buf, err);

	if (r == 0)
		r = qimg_pwrite(node->file, off, buf, len, err);
	return write_done(node, r, err);
}

static int logw_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			     unsigned int flags, struct qimg_error *err)
{
	int r;

	/* Without a fallback the file may decline: then nothing happened
	 * and nothing is logged (the caller writes zeros as data). */
	if (flags & QIMG_ZERO_NO_FALLBACK) {
		r = qimg_write_zeroes(node->file, off, len, flags, err);
		if (r == 0)
			r = log_entry(node, 0, off, len, ZEROS, NULL, err);
		return r == -ENOTSUP && !qimg_error_isset(err)
			       ? r
			       : write_done(node, r, err);
	}
	r = log_entry(node, 0, off, len, ZEROS, NULL, err);
	if (r == 0)
		r = qimg_write_zeroes(node->file, off, len, flags, err);
	return write_done(node, r, err);
}

static int logw_discard(struct qimg_node *node, uint64_t off, uint64_t len,
			struct qimg_error *err)
{
	struct logw_state *s = node->opaque;
	int r = log_entry(node, LOG_DISCARD, off, len, NONE, NULL, err);

	if (r == 0)
		r = qimg_discard(node->file, off, len, err);
	s->write_gen++;
	return r;
}

static int logw_flush(struct qimg_node *node, struct qimg_error *err)
{
	/* The core flushes the children after this. */
	return log_flush(node, err);
}

static int logw_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			 const char *prealloc, struct qimg_error *err)
{
	struct logw_state *s = node->opaque;
	int r = qimg_truncate(node->file, size, flags, prealloc, err);

	/* Not logged itself, but it counts as a write: the next flush is
	 * logged, as in QEMU. */
	if (r == 0) {
		node->size = node->file->size;
		s->write_gen++;
	}
	return r;
}

const struct qimg_driver qimg_driver_blklogwrites = {
	.name = "blklogwrites",
	.kind = QIMG_DRIVER_FORMAT,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct logw_state),
	.runtime_opts = logw_runtime_opts,
	.strong_opts = logw_strong_opts,
	.child_roles = logw_children,
	.open = logw_open,
	.close = logw_close,
	.read = logw_read,
	.write = logw_write,
	.write_zeroes = logw_write_zeroes,
	.discard = logw_discard,
	.flush = logw_flush,
	.block_status = qimg_filter_block_status,
	.truncate = logw_truncate,
	.get_info = qimg_filter_get_info,
	.is_filter = true,
};
