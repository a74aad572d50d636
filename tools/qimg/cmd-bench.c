/* SPDX-License-Identifier: MIT */
/* `qimg bench`: qemu-img's I/O benchmark.  COUNT requests of BUFFER_SIZE
 * bytes are read or (-w) written through the block layer with DEPTH of them
 * in flight at once: one worker thread per in-flight request, each issuing
 * blocking qimg_read/qimg_write calls (the library's model of parallelism).
 * Request i starts at OFFSET + i * STEP, wrapped modulo the image size;
 * writes may be followed by a flush every FLUSH_INTERVAL of them, after
 * draining the requests in flight unless --no-drain.  Options, header lines
 * and messages are qemu-img's; only the timing figure differs. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "qimg/size.h"

/* More threads than this are not started: a depth beyond it runs with
 * this many requests in flight (docs/DIFFERENCES.md). */
#define BENCH_MAX_THREADS 1024u

enum {
	OPT_FLUSH_INTERVAL = TOOL_OPT_FIRST_OWN,
	OPT_PATTERN,
	OPT_NO_DRAIN,
};

/* -i and -n, as qemu-img collects them: "native" is remembered whatever
 * -i follows it ("-i native -i threads" still asks for native AIO). */
#define AIO_NATIVE 0x1u
#define AIO_IO_URING 0x2u

struct bench {
	const struct tool *t;
	struct qimg_node *node;
	uint64_t size; /* virtual size, for the wrap */
	bool write;
	unsigned int count;
	size_t bufsize;
	uint64_t step;
	unsigned int flush_interval; /* 0: no flushes */
	bool drain;
	const uint8_t *pattern_buf; /* -w: shared by every writer, read only */

	pthread_mutex_t lock;
	pthread_cond_t resume; /* a drained flush is over, or a failure */
	unsigned int issued;   /* requests handed out */
	uint64_t next_off;     /* offset of the next request */
	unsigned int batch;    /* writes handed out since the last flush */
	unsigned int written;  /* writes completed since the last flush */
	bool flush_due;
	int ret; /* first failure (reported once) */
};

struct bench_worker {
	struct bench *b;
	pthread_t tid;
	uint8_t *buf; /* reads land here */
};

/* -c, -d, --pattern, --flush-interval: qemu-img reads them with strtoul
 * in base 0 (so "0x10" and "010" work, "-1" wraps and is refused) and
 * bounds them by `max`. */
static int parse_uint(const char *s, unsigned long max, unsigned int *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (end == s || *end || errno || v > max)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

/* -s, -S, -o: qemu-img's size syntax bounded by `max`, with its messages
 * (the hex-suffix warning comes even for a value then refused). */
static int parse_size_max(const struct tool *t, const char *s, const char *what,
			  uint64_t max, uint64_t *out)
{
	int warn = 0;
	int r;

	r = qimg_parse_size(s, out, &warn);
	if (warn)
		tool_warn(t,
			  "Using a multiplier suffix on hex numbers is "
			  "deprecated: %s",
			  s);
	if (r == QIMG_SIZE_RANGE || (r == QIMG_SIZE_OK && *out > max)) {
		tool_err(t,
			 "Invalid %s specified. Must be between 0 and "
			 "%" PRIu64 ".",
			 what, max);
		return -EINVAL;
	}
	if (r != QIMG_SIZE_OK) {
		tool_err(t,
			 "Invalid %s specified. You may use k, M, G, T, P or "
			 "E suffixes for",
			 what);
		tool_err(t, "kilobytes, megabytes, gigabytes, terabytes, "
			    "petabytes and exabytes.");
		return -EINVAL;
	}
	return 0;
}

/* Record the first failure and wake everyone up to stop; lock held. */
static void bench_fail(struct bench *b, int r, const char *what,
		       struct qimg_error *err)
{
	if (!b->ret) {
		b->ret = r;
		tool_err(b->t, "%s: %s", what, tool_errdetail(r, err));
	}
	pthread_cond_broadcast(&b->resume);
}

/* One request at `off`.  The range is checked here, as the API asks of
 * its callers; outside the image qemu-img's block layer says EIO. */
static int bench_request(struct bench_worker *w, uint64_t off,
			 struct qimg_error *err)
{
	struct bench *b = w->b;

	if (off > b->size || b->bufsize > b->size - off)
		return -EIO;
	if (b->write)
		return qimg_write(b->node, off, b->pattern_buf, b->bufsize,
				  err);
	return qimg_read(b->node, off, w->buf, b->bufsize, err);
}

static void *bench_worker_main(void *opaque)
{
	struct bench_worker *w = opaque;
	struct bench *b = w->b;
	struct qimg_error err;
	uint64_t off;
	int r;

	pthread_mutex_lock(&b->lock);
	while (!b->ret) {
		if (b->flush_due) {
			/* Drained: the batch's writes are all complete and
			 * no new one starts until `batch` is reset.  With
			 * --no-drain the others go on meanwhile. */
			b->flush_due = false;
			pthread_mutex_unlock(&b->lock);
			memset(&err, 0, sizeof(err));
			r = qimg_flush(b->node, &err);
			pthread_mutex_lock(&b->lock);
			if (r < 0) {
				bench_fail(b, r, "Failed flush request", &err);
				break;
			}
			b->batch = 0;
			pthread_cond_broadcast(&b->resume);
			continue;
		}
		if (b->issued >= b->count)
			break;
		if (b->drain && b->flush_interval &&
		    b->batch == b->flush_interval) {
			pthread_cond_wait(&b->resume, &b->lock);
			continue;
		}
		off = b->next_off;
		/* qemu-img wraps modulo the size (a step larger than the
		 * image lands inside it again); an empty image, where it
		 * divides by zero, keeps the offset at 0. */
		b->next_off = b->size ? (off + b->step) % b->size : 0;
		b->issued++;
		if (b->write)
			b->batch++;
		pthread_mutex_unlock(&b->lock);

		memset(&err, 0, sizeof(err));
		r = bench_request(w, off, &err);

		pthread_mutex_lock(&b->lock);
		if (r < 0) {
			bench_fail(b, r, "Failed request", &err);
			break;
		}
		if (b->write && b->flush_interval &&
		    ++b->written == b->flush_interval) {
			b->written = 0;
			b->flush_due = true;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* Run the requests on `nthreads` workers; returns 0 or a negative errno
 * (already reported). */
static int bench_run(struct bench *b, unsigned int nthreads)
{
	struct bench_worker *w;
	unsigned int i, started = 0;
	void *m;
	int r = 0;

	w = calloc(nthreads ? nthreads : 1, sizeof(*w));
	if (!w) {
		tool_err(b->t, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	for (i = 0; i < nthreads; i++) {
		w[i].b = b;
		if (!b->write) {
			/* 4 KiB alignment: no bounce buffer with -t none. */
			if (posix_memalign(&m, 4096,
					   b->bufsize ? b->bufsize : 1)) {
				r = -ENOMEM;
				break;
			}
			w[i].buf = m;
		}
		if (pthread_create(&w[i].tid, NULL, bench_worker_main, &w[i])) {
			free(w[i].buf);
			r = -EAGAIN;
			break;
		}
		started++;
	}
	if (nthreads && !started) {
		tool_err(b->t, "Could not start worker threads: %s",
			 strerror(-r));
	} else {
		/* Fewer workers than asked only lowers the depth. */
		r = 0;
	}
	for (i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		free(w[i].buf);
	}
	free(w);
	return r < 0 ? r : b->ret;
}

/* -n / -i native: the library has no native AIO (requests are always
 * blocking calls from the worker pool), but what qemu-img refuses is
 * refused alike: native AIO on a host file needs O_DIRECT, which a node
 * opened so reports as a request alignment above 1. */
static int check_native_aio(const struct tool *t, struct qimg_node *node,
			    const char *filename)
{
	struct qimg_node *n = node;
	const char *drv;

	while (qimg_node_file(n))
		n = qimg_node_file(n);
	drv = qimg_node_format(n);
	if (strcmp(drv, "file") && strcmp(drv, "host_device") &&
	    strcmp(drv, "host_cdrom"))
		return 0;
	if (qimg_request_align(n) > 1)
		return 0;
	tool_err(t,
		 "Could not open '%s': aio=native was specified, but it "
		 "requires cache.direct=on, which was not specified.",
		 filename);
	return -EINVAL;
}

int cmd_bench(const struct tool *t, int argc, char **argv)
{
	/* qemu-img's order: getopt resolves abbreviations by it. */
	static const struct option longopts[] = {
		TOOL_LONGOPT_HELP,
		{ "flush-interval", required_argument, NULL,
		  OPT_FLUSH_INTERVAL },
		TOOL_LONGOPT_IMAGE_OPTS,
		{ "pattern", required_argument, NULL, OPT_PATTERN },
		{ "no-drain", no_argument, NULL, OPT_NO_DRAIN },
		TOOL_LONGOPT_FORCE_SHARE,
		{ NULL, 0, NULL, 0 },
	};
	struct tool_opts so = { 0 };
	struct bench b = { 0 };
	enum qimg_cache_mode cache = QIMG_CACHE_WRITEBACK;
	unsigned int count = 75000, depth = 64, pattern = 0, aio = 0;
	unsigned int flags, nthreads;
	uint64_t bufsize = 4096, step = 0, offset = 0;
	struct timespec t0, t1;
	uint8_t *pattern_buf = NULL;
	const char *filename;
	void *m;
	int c, r, ret = 1;

	b.drain = true;
	while ((c = getopt_long(argc, argv, ":hc:d:f:ni:o:qs:S:t:wU", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'c':
			if (parse_uint(optarg, INT_MAX, &count) < 0) {
				tool_err(t, "Invalid request count specified");
				return 1;
			}
			break;
		case 'd':
			if (parse_uint(optarg, INT_MAX, &depth) < 0) {
				tool_err(t, "Invalid queue depth specified");
				return 1;
			}
			break;
		case 'n':
			aio |= AIO_NATIVE;
			break;
		case 'i':
			/* "threads" adds nothing: it is what we always do.
			 * io_uring is accepted and runs on the same worker
			 * pool (docs/DIFFERENCES.md). */
			if (!strcmp(optarg, "native")) {
				aio |= AIO_NATIVE;
			} else if (!strcmp(optarg, "io_uring")) {
				aio |= AIO_IO_URING;
			} else if (strcmp(optarg, "threads")) {
				tool_err(t, "Invalid aio option: %s", optarg);
				return 1;
			}
			break;
		case 'o':
			if (parse_size_max(t, optarg, "offset", INT64_MAX,
					   &offset) < 0)
				return 1;
			break;
		case 's':
			if (parse_size_max(t, optarg, "buffer size", INT_MAX,
					   &bufsize) < 0)
				return 1;
			break;
		case 'S':
			if (parse_size_max(t, optarg, "step_size", INT_MAX,
					   &step) < 0)
				return 1;
			break;
		case 't':
			/* Checked at once, with bench's own message. */
			if (qimg_cache_mode_parse(optarg, &cache) < 0) {
				tool_err(t, "Invalid cache mode");
				return 1;
			}
			break;
		case 'w':
			b.write = true;
			break;
		case OPT_FLUSH_INTERVAL:
			if (parse_uint(optarg, INT_MAX, &b.flush_interval) <
			    0) {
				tool_err(t, "Invalid flush interval specified");
				return 1;
			}
			break;
		case OPT_PATTERN:
			if (parse_uint(optarg, 0xff, &pattern) < 0) {
				tool_err(t, "Invalid pattern byte specified");
				return 1;
			}
			break;
		case OPT_NO_DRAIN:
			b.drain = false;
			break;
		default:
			/* -q is accepted and, as in qemu-img, silences
			 * nothing. */
			r = tool_shared_opt(t, c, optarg, &so);
			if (r == TOOL_SHARED_OTHER)
				return tool_getopt_error(t, c, argv);
			if (r != TOOL_SHARED_DONE)
				return r == TOOL_SHARED_EXIT ? 0 : 1;
			break;
		}
	}
	if (optind != argc - 1)
		return tool_usage(t, "Expecting one image file name");
	filename = argv[optind];

	if (b.flush_interval && !b.write) {
		tool_err(t,
			 "--flush-interval is only available in write tests");
		return 1;
	}
	if (b.flush_interval && b.flush_interval < depth) {
		tool_err(t, "Flush interval can't be smaller than depth");
		return 1;
	}
	flags = b.write ? QIMG_OPEN_RDWR : 0;
	if (so.force_share)
		flags |= QIMG_OPEN_FORCE_SHARE;
	if (tool_open_image(t, filename, so.fmt, so.image_opts, flags, cache,
			    &b.node) < 0)
		return 1;
	if ((aio & AIO_NATIVE) && check_native_aio(t, b.node, filename) < 0)
		goto out;
	/* Here qemu-img would wait forever for requests it never sends;
	 * refusing is more useful (docs/DIFFERENCES.md). */
	if (depth == 0 && count > 0) {
		tool_err(t, "Invalid queue depth specified");
		goto out;
	}

	b.t = t;
	{
		struct qimg_error err = { 0 };

		if (qimg_length(b.node, &b.size, &err) < 0) {
			tool_err(t, "Failed to get size for '%s': %s", filename,
				 err.msg);
			goto out;
		}
	}
	b.count = count;
	b.bufsize = (size_t)bufsize;
	b.step = step ? step : bufsize;
	b.next_off = offset;
	if (b.write) {
		/* One buffer for every writer: they only read it.  Aligned
		 * for O_DIRECT, as the readers' are. */
		if (posix_memalign(&m, 4096, b.bufsize ? b.bufsize : 1)) {
			tool_err(t, "%s", strerror(ENOMEM));
			goto out;
		}
		pattern_buf = m;
		memset(pattern_buf, (int)pattern, b.bufsize);
		b.pattern_buf = pattern_buf;
	}

	printf("Sending %u %s requests, %u bytes each, %u in parallel "
	       "(starting at offset %" PRIu64 ", step size %" PRIu64 ")\n",
	       count, b.write ? "write" : "read", (unsigned int)bufsize, depth,
	       offset, b.step);
	if (b.flush_interval)
		printf("Sending flush every %u requests\n", b.flush_interval);

	nthreads = depth < count ? depth : count;
	if (nthreads > BENCH_MAX_THREADS)
		nthreads = BENCH_MAX_THREADS;
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.resume, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = bench_run(&b, nthreads);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_cond_destroy(&b.resume);
	pthread_mutex_destroy(&b.lock);
	if (r < 0)
		goto out;
	printf("Run completed in %3.3f seconds.\n",
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	ret = 0;
out:
	free(pattern_buf);
	qimg_close(b.node);
	return ret;
}
