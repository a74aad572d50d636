/* SPDX-License-Identifier: MIT */
/* The file protocol's io_uring submission.  Each open file has a pool of
 * rings; a caller (a convert worker, say) takes a free ring for the length
 * of one request, so rings are never shared by two threads at once and
 * there is no global state.  A request is cut into pieces that are all in
 * flight at once: one 2 MiB write becomes four 512 KiB writes the device
 * works on together (docs/ARCHITECTURE.md, "Blocking calls and io_uring").
 * Short transfers and interrupted pieces are finished with blocking calls;
 * a kernel that refuses io_uring leaves the pool dead and every request to
 * the blocking path. */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef QIMG_HAVE_URING
#include <liburing.h>
#endif

#include "protocols/file-uring.h"

int file_pread_all(int fd, uint64_t off, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int file_pwrite_all(int fd, uint64_t off, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

#ifdef QIMG_HAVE_URING

/* Pieces in flight on one ring, and rings in one pool (more callers than
 * that do blocking I/O). */
#define RING_DEPTH 16
#define POOL_MAX 32

struct file_uring_pool {
	pthread_mutex_t lock;
	bool dead; /* the kernel refused io_uring_setup */
	size_t n, nfree;
	struct io_uring *all[POOL_MAX];
	struct io_uring *free[POOL_MAX];
};

struct file_uring_pool *file_uring_pool_new(void)
{
	const char *off = getenv("QIMG_NO_IO_URING");
	struct file_uring_pool *p;

	if (off && *off && strcmp(off, "0"))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void file_uring_pool_free(struct file_uring_pool *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++) {
		io_uring_queue_exit(p->all[i]);
		free(p->all[i]);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static struct io_uring *ring_get(struct file_uring_pool *p)
{
	struct io_uring *r = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->nfree) {
		r = p->free[--p->nfree];
	} else if (!p->dead && p->n < POOL_MAX) {
		r = malloc(sizeof(*r));
		if (r && io_uring_queue_init(RING_DEPTH, r, 0) < 0) {
			/* ENOSYS, EPERM (seccomp, io_uring_disabled),
			 * ENOMEM (locked memory): blocking I/O it is. */
			if (!p->n)
				p->dead = true;
			free(r);
			r = NULL;
		}
		if (r)
			p->all[p->n++] = r;
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

static void ring_put(struct file_uring_pool *p, struct io_uring *r)
{
	pthread_mutex_lock(&p->lock);
	p->free[p->nfree++] = r;
	pthread_mutex_unlock(&p->lock);
}

/* A ring whose submission failed may hold stale entries: drop it. */
static void ring_drop(struct file_uring_pool *p, struct io_uring *r)
{
	size_t i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++) {
		if (p->all[i] == r) {
			p->all[i] = p->all[--p->n];
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	io_uring_queue_exit(r);
	free(r);
}

/* The rest of a piece after a short or interrupted transfer. */
static int finish(int fd, bool write, uint64_t off, char *buf, size_t len)
{
	return write ? file_pwrite_all(fd, off, buf, len)
		     : file_pread_all(fd, off, buf, len);
}

int file_uring_rw(struct file_uring_pool *p, int fd, bool write, uint64_t off,
		  void *buf, size_t len, size_t piece)
{
	char *b = buf;
	struct io_uring *ring;
	bool broken = false;
	int ret = 0;

	if (!p)
		return -ENOSYS;
	ring = ring_get(p);
	if (!ring)
		return -ENOSYS;
	if (!piece)
		piece = len;
	while (len > 0 && !broken) {
		size_t plen[RING_DEPTH];
		unsigned int n = 0, sub = 0, i;

		/* Queue up to RING_DEPTH pieces. */
		for (n = 0; n < RING_DEPTH && n * piece < len; n++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			size_t l = len - n * piece < piece ? len - n * piece
							   : piece;

			if (!sqe)
				break;
			plen[n] = l;
			if (write)
				io_uring_prep_write(sqe, fd, b + n * piece,
						    (unsigned int)l,
						    off + n * piece);
			else
				io_uring_prep_read(sqe, fd, b + n * piece,
						   (unsigned int)l,
						   off + n * piece);
			io_uring_sqe_set_data64(sqe, n);
		}
		while (sub < n) {
			int s = io_uring_submit(ring);

			if (s <= 0) {
				broken = true;
				break;
			}
			sub += (unsigned int)s;
		}
		/* Reap what the kernel took; what it did not take is done
		 * with blocking calls. */
		{
			size_t got[RING_DEPTH];
			int res[RING_DEPTH];
			bool seen[RING_DEPTH];

			memset(seen, 0, sizeof(seen));
			for (i = 0; i < sub; i++) {
				struct io_uring_cqe *cqe;
				int w = io_uring_wait_cqe(ring, &cqe);
				uint64_t k;

				if (w == -EINTR) {
					i--;
					continue;
				}
				if (w < 0) {
					/* Cannot wait: the pieces in flight
					 * are lost to us; never reuse. */
					broken = true;
					ret = ret ? ret : w;
					sub = i;
					break;
				}
				k = io_uring_cqe_get_data64(cqe);
				if (k < n) {
					res[k] = cqe->res;
					seen[k] = true;
				}
				io_uring_cqe_seen(ring, cqe);
			}
			for (i = 0; i < n; i++) {
				uint64_t o = off + (uint64_t)i * piece;
				char *q = b + (size_t)i * piece;
				int r = 0;

				got[i] = 0;
				if (seen[i] && res[i] < 0 && res[i] != -EINTR &&
				    res[i] != -EAGAIN) {
					r = res[i];
				} else {
					if (seen[i] && res[i] > 0)
						got[i] = (size_t)res[i];
					if (got[i] < plen[i])
						r = finish(fd, write,
							   o + got[i],
							   q + got[i],
							   plen[i] - got[i]);
				}
				if (r < 0 && !ret)
					ret = r;
			}
		}
		if (ret < 0)
			break;
		b += (size_t)n * piece < len ? (size_t)n * piece : len;
		off += (uint64_t)n * piece;
		len -= (size_t)n * piece < len ? (size_t)n * piece : len;
	}
	/* What a broken ring left undone. */
	if (ret == 0 && len > 0)
		ret = finish(fd, write, off, b, len);
	if (broken)
		ring_drop(p, ring);
	else
		ring_put(p, ring);
	return ret;
}

#else /* !QIMG_HAVE_URING */

struct file_uring_pool *file_uring_pool_new(void)
{
	return NULL;
}

void file_uring_pool_free(struct file_uring_pool *p)
{
}

int file_uring_rw(struct file_uring_pool *p, int fd, bool write, uint64_t off,
		  void *buf, size_t len, size_t piece)
{
	return -ENOSYS;
}

#endif
