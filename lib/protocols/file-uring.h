/* SPDX-License-Identifier: MIT */
/* Asynchronous submission for the file protocol: a node's pool of
 * io_urings, one per concurrent caller, and requests split into pieces
 * that are in flight together.  Without liburing, or when the kernel
 * refuses io_uring (containers: ENOSYS, EPERM), every call answers
 * -ENOSYS and the caller does blocking pread/pwrite instead. */
#ifndef QIMG_PROTOCOLS_FILE_URING_H
#define QIMG_PROTOCOLS_FILE_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct file_uring_pool;

/* A pool for one open file; NULL when io_uring cannot be had (out of
 * memory, no liburing at build time, QIMG_NO_IO_URING set). */
struct file_uring_pool *file_uring_pool_new(void);
void file_uring_pool_free(struct file_uring_pool *p);

/* Read or write [off, off+len) of fd as pieces of `piece` bytes (a
 * multiple of the O_DIRECT alignment), all in flight at once on one of the
 * pool's rings.  Reads past EOF give zeros.  0, -errno of the I/O, or
 * -ENOSYS when no ring is available (the caller does the I/O itself). */
int file_uring_rw(struct file_uring_pool *p, int fd, bool write, uint64_t off,
		  void *buf, size_t len, size_t piece);

/* Blocking positional I/O of the whole range (reads past EOF give zeros):
 * 0 or -errno. */
int file_pread_all(int fd, uint64_t off, void *buf, size_t len);
int file_pwrite_all(int fd, uint64_t off, const void *buf, size_t len);

#endif
