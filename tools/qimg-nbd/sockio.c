/* SPDX-License-Identifier: MIT */
/* Whole reads and writes on a socket, for every qimg-nbd transport. */

#include <errno.h>
#include <sys/socket.h>

#include "nbd.h"

int nbd_fd_recv(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int nbd_fd_send(int fd, const void *buf, size_t len, bool more)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n =
			send(fd, p, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
