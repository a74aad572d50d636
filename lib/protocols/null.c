/* SPDX-License-Identifier: MIT */
/* null-co and null-aio: a protocol with no storage, as QEMU's iotests and
 * benchmarks use it.  Writes vanish, reads give zeros.  QEMU leaves the
 * caller's buffer untouched unless read-zeroes=on; qimg always fills zeros
 * (it never hands back memory it did not write) and only the block status
 * differs: with read-zeroes the node reads as allocated zeros, without it
 * as unallocated. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/driver.h"
#include "protocols/null.h"

#define NULL_DEFAULT_SIZE (1ull << 30)

struct null_state {
	bool read_zeroes;
	uint64_t latency_ns;
};

static const struct qimg_opt_desc null_runtime_opts[] = {
	{ "size", QIMG_OPT_SIZE, "size of the null block", NULL },
	{ "latency-ns", QIMG_OPT_NUMBER, "nanoseconds of delay per request",
	  NULL },
	{ "read-zeroes", QIMG_OPT_BOOL, "report reads as zeros", NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const null_strong_opts[] = { "size", "read-zeroes", NULL };
static const char *const null_co_protocols[] = { "null-co", NULL };
static const char *const null_aio_protocols[] = { "null-aio", NULL };

/* The only name either driver takes is its own "NAME://". */
static int null_parse_filename(const char *filename, struct qimg_value *opts,
			       const char *name, struct qimg_error *err)
{
	size_t n = strlen(name);

	if (strncmp(filename, name, n) || strcmp(filename + n, "://"))
		return qimg_error_set(err, EINVAL,
				      "The only allowed filename for this "
				      "driver is '%s://'",
				      name);
	return 0;
}

static int null_co_parse(const char *filename, struct qimg_value *opts,
			 struct qimg_error *err)
{
	return null_parse_filename(filename, opts, "null-co", err);
}

static int null_aio_parse(const char *filename, struct qimg_value *opts,
			  struct qimg_error *err)
{
	return null_parse_filename(filename, opts, "null-aio", err);
}

static int null_open(struct qimg_node *node, const struct qimg_opts *opts,
		     struct qimg_error *err)
{
	struct null_state *s = node->opaque;
	uint64_t size = qimg_opts_get_u64(opts, "size", NULL_DEFAULT_SIZE);

	s->read_zeroes = qimg_opts_get_bool(opts, "read-zeroes", false);
	s->latency_ns = qimg_opts_get_u64(opts, "latency-ns", 0);
	/* Sizes are whole sectors, as qemu-img reports them. */
	if (size > UINT64_MAX - 511)
		return qimg_error_set(err, EINVAL, "Invalid size");
	node->size = (size + 511) & ~511ull;
	node->zero_init = true;
	return 0;
}

static void null_close(struct qimg_node *node)
{
}

static void delay(const struct null_state *s)
{
	struct timespec ts;

	if (!s->latency_ns)
		return;
	ts.tv_sec = (time_t)(s->latency_ns / 1000000000u);
	ts.tv_nsec = (long)(s->latency_ns % 1000000000u);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int null_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	delay(node->opaque);
	memset(buf, 0, len);
	return 0;
}

static int null_write(struct qimg_node *node, uint64_t off, const void *buf,
		      size_t len, struct qimg_error *err)
{
	delay(node->opaque);
	return 0;
}

static int null_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			     unsigned int flags, struct qimg_error *err)
{
	delay(node->opaque);
	return 0;
}

static int null_discard(struct qimg_node *node, uint64_t off, uint64_t len,
			struct qimg_error *err)
{
	delay(node->opaque);
	return 0;
}

static int null_flush(struct qimg_node *node, struct qimg_error *err)
{
	delay(node->opaque);
	return 0;
}

static int null_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			     struct qimg_extent *ext, struct qimg_error *err)
{
	const struct null_state *s = node->opaque;

	ext->len = len;
	ext->flags = 0;
	if (s->read_zeroes) {
		ext->flags =
			QIMG_BS_ZERO | QIMG_BS_ALLOCATED | QIMG_BS_OFFSET_VALID;
		ext->map = off;
		ext->file = node;
	}
	return 0;
}

static int64_t null_allocated_size(struct qimg_node *node)
{
	return 0;
}

static char *null_exact_filename(struct qimg_node *node)
{
	char *r;

	if (qimg_dict_get(node->options, "size") ||
	    qimg_dict_get(node->options, "read-zeroes"))
		return NULL;
	if (asprintf(&r, "%s://", node->drv->name) < 0)
		return NULL;
	return r;
}

#define NULL_DRIVER(ident, drvname, protos, parse)                             \
	const struct qimg_driver ident = {                                     \
		.name = drvname,                                               \
		.kind = QIMG_DRIVER_PROTOCOL,                                  \
		.threads = QIMG_THREADS_PARALLEL,                              \
		.state_size = sizeof(struct null_state),                       \
		.protocols = protos,                                           \
		.parse_filename = parse,                                       \
		.runtime_opts = null_runtime_opts,                             \
		.strong_opts = null_strong_opts,                               \
		.exact_filename = null_exact_filename,                         \
		.open = null_open,                                             \
		.close = null_close,                                           \
		.read = null_read,                                             \
		.write = null_write,                                           \
		.write_zeroes = null_write_zeroes,                             \
		.discard = null_discard,                                       \
		.flush = null_flush,                                           \
		.block_status = null_block_status,                             \
		.allocated_size = null_allocated_size,                         \
	}

NULL_DRIVER(qimg_driver_null_co, "null-co", null_co_protocols, null_co_parse);
NULL_DRIVER(qimg_driver_null_aio, "null-aio", null_aio_protocols,
	    null_aio_parse);
