/* SPDX-License-Identifier: MIT */
/* Measures what io_uring would give the block layer: O_DIRECT reads and
 * writes of BS-byte blocks at random aligned offsets of FILE, DEPTH
 * requests in flight, done (a) by DEPTH threads each issuing blocking
 * pread/pwrite (qimg's model: a worker pool) and (b) by one thread keeping
 * DEPTH requests in flight on an io_uring.  Prints MB/s and CPU seconds of
 * each.  Usage: aio-depth FILE SIZE_MIB BS_KIB DEPTH SECONDS [write] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct job {
	int fd;
	uint64_t blocks, bs;
	double secs;
	bool write;
	uint64_t done;
	unsigned int seed;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void *worker(void *opaque)
{
	struct job *j = opaque;
	void *buf;
	double end = now() + j->secs;

	if (posix_memalign(&buf, 4096, j->bs))
		return NULL;
	memset(buf, 0x5a, j->bs);
	while (now() < end) {
		off_t off = (off_t)(rand_r(&j->seed) % j->blocks) * j->bs;
		ssize_t n = j->write ? pwrite(j->fd, buf, j->bs, off)
				     : pread(j->fd, buf, j->bs, off);

		if (n != (ssize_t)j->bs) {
			perror("pread/pwrite");
			break;
		}
		j->done++;
	}
	free(buf);
	return NULL;
}

static uint64_t run_threads(int fd, uint64_t blocks, uint64_t bs, int depth,
			    double secs, bool write)
{
	pthread_t th[256];
	struct job jobs[256];
	uint64_t total = 0;
	int i;

	for (i = 0; i < depth; i++) {
		jobs[i] = (struct job){
			fd, blocks, bs, secs, write, 0, (unsigned int)i + 1
		};
		pthread_create(&th[i], NULL, worker, &jobs[i]);
	}
	for (i = 0; i < depth; i++) {
		pthread_join(th[i], NULL);
		total += jobs[i].done;
	}
	return total;
}

static uint64_t run_uring(int fd, uint64_t blocks, uint64_t bs, int depth,
			  double secs, bool write)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	void *bufs[256];
	unsigned int seed = 1;
	uint64_t done = 0;
	double end = now() + secs;
	int i, inflight = 0;

	if (io_uring_queue_init((unsigned int)depth, &ring, 0) < 0) {
		fprintf(stderr, "io_uring_queue_init failed\n");
		return 0;
	}
	for (i = 0; i < depth; i++) {
		if (posix_memalign(&bufs[i], 4096, bs))
			return 0;
		memset(bufs[i], 0x5a, bs);
	}
	for (i = 0; i < depth; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		off_t off = (off_t)(rand_r(&seed) % blocks) * bs;

		if (write)
			io_uring_prep_write(sqe, fd, bufs[i], bs, off);
		else
			io_uring_prep_read(sqe, fd, bufs[i], bs, off);
		io_uring_sqe_set_data(sqe, bufs[i]);
		inflight++;
	}
	io_uring_submit(&ring);
	while (inflight) {
		if (io_uring_wait_cqe(&ring, &cqe) < 0)
			break;
		if (cqe->res != (int)bs) {
			fprintf(stderr, "io_uring: %s\n", strerror(-cqe->res));
			break;
		}
		void *b = io_uring_cqe_get_data(cqe);

		io_uring_cqe_seen(&ring, cqe);
		inflight--;
		done++;
		if (now() < end) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			off_t off = (off_t)(rand_r(&seed) % blocks) * bs;

			if (write)
				io_uring_prep_write(sqe, fd, b, bs, off);
			else
				io_uring_prep_read(sqe, fd, b, bs, off);
			io_uring_sqe_set_data(sqe, b);
			io_uring_submit(&ring);
			inflight++;
		}
	}
	io_uring_queue_exit(&ring);
	for (i = 0; i < depth; i++)
		free(bufs[i]);
	return done;
}

int main(int argc, char **argv)
{
	uint64_t size, bs, blocks, n;
	double t0, c0, secs;
	bool write;
	int depth, fd;

	if (argc < 6) {
		fprintf(stderr,
			"usage: %s FILE SIZE_MIB BS_KIB DEPTH SECONDS [write]\n",
			argv[0]);
		return 2;
	}
	size = strtoull(argv[2], NULL, 10) << 20;
	bs = strtoull(argv[3], NULL, 10) << 10;
	depth = atoi(argv[4]);
	secs = atof(argv[5]);
	write = argc > 6 && !strcmp(argv[6], "write");
	if (depth < 1 || depth > 256 || !bs || size < bs)
		return 2;
	blocks = size / bs;
	fd = open(argv[1], (write ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	t0 = now();
	c0 = cpu();
	n = run_threads(fd, blocks, bs, depth, secs, write);
	printf("%s bs=%lluK depth=%d threads: %.0f MB/s, cpu %.2f s\n",
	       write ? "write" : "read", (unsigned long long)(bs >> 10), depth,
	       n * bs / (now() - t0) / 1e6, cpu() - c0);
	t0 = now();
	c0 = cpu();
	n = run_uring(fd, blocks, bs, depth, secs, write);
	printf("%s bs=%lluK depth=%d io_uring: %.0f MB/s, cpu %.2f s\n",
	       write ? "write" : "read", (unsigned long long)(bs >> 10), depth,
	       n * bs / (now() - t0) / 1e6, cpu() - c0);
	close(fd);
	return 0;
}
