/* SPDX-License-Identifier: MIT */
/* qimg-nbd -c DEV: the image as a block device through the kernel's NBD
 * client.  One end of a socket pair goes to the kernel (NBD_SET_SOCK,
 * after the size, block size and flags), which then speaks transmission
 * with simple replies; the other end is served here.  NBD_DO_IT runs in
 * a thread until the device is disconnected (-d DEV elsewhere, or a
 * signal here, which disconnects it).  -d DEV disconnects a device. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/nbd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nbd.h"

#define KERNEL_BLOCK 512u

struct kconn {
	int dev, sock;
	int ret;
};

static int k_recv(void *opaque, void *buf, size_t len)
{
	return nbd_fd_recv(*(int *)opaque, buf, len);
}

static int k_send(void *opaque, const void *buf, size_t len, bool more)
{
	return nbd_fd_send(*(int *)opaque, buf, len, more);
}

/* The kernel's side: returns when the device is disconnected. */
static void *do_it(void *opaque)
{
	struct kconn *k = opaque;

	if (ioctl(k->dev, NBD_DO_IT) < 0 && errno != EPIPE)
		k->ret = -errno;
	ioctl(k->dev, NBD_CLEAR_QUE);
	ioctl(k->dev, NBD_CLEAR_SOCK);
	/* ends the server's side */
	shutdown(k->sock, SHUT_RDWR);
	return NULL;
}

struct kserve {
	const struct qimg_nbd_export *exp;
	int fd;
	int r;
};

static void *serve_side(void *opaque)
{
	struct kserve *ks = opaque;
	struct qimg_error err = { 0 };
	struct qimg_nbd_io io = { .opaque = &ks->fd,
				  .recv = k_recv,
				  .send = k_send };

	ks->r = qimg_nbd_serve_transmission(ks->exp, &io, &err);
	return NULL;
}

int nbd_kernel_serve(struct nbd_tool *nt, const struct qimg_nbd_export *exp,
		     int sig_r, int *report)
{
	const char *dev = nt->o.device;
	struct kconn k = { .dev = -1 };
	struct kserve ks = { .exp = exp };
	pthread_t kt, st;
	bool served = false;
	int sv[2], r = 0;
	struct pollfd pf;

	k.dev = open(dev, O_RDWR | O_CLOEXEC);
	if (k.dev < 0) {
		r = -errno;
		nbd_err(nt, "Failed to open %s: %s", dev, strerror(errno));
		return r;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		nbd_err(nt, "Failed to create a socket pair: %s",
			strerror(errno));
		close(k.dev);
		return r;
	}
	k.sock = sv[1];
	ks.fd = sv[1];
	if (ioctl(k.dev, NBD_SET_BLKSIZE, (unsigned long)KERNEL_BLOCK) < 0 ||
	    ioctl(k.dev, NBD_SET_SIZE_BLOCKS,
		  (unsigned long)(exp->size / KERNEL_BLOCK)) < 0 ||
	    ioctl(k.dev, NBD_SET_FLAGS,
		  (unsigned long)qimg_nbd_export_flags(exp)) < 0 ||
	    ioctl(k.dev, NBD_CLEAR_SOCK) < 0 ||
	    ioctl(k.dev, NBD_SET_SOCK, (unsigned long)sv[0]) < 0) {
		r = -errno;
		nbd_err(nt, "Failed to set up NBD device %s: %s", dev,
			strerror(errno));
		goto out;
	}
	if (exp->size % KERNEL_BLOCK)
		fprintf(stderr,
			"%s: warning: the device ends at a multiple of %u "
			"bytes: %" PRIu64 " bytes of the image are not on it\n",
			nt->prog, KERNEL_BLOCK, exp->size % KERNEL_BLOCK);
	if (pthread_create(&st, NULL, serve_side, &ks)) {
		r = -EAGAIN;
		goto out;
	}
	if (pthread_create(&kt, NULL, do_it, &k)) {
		shutdown(sv[1], SHUT_RDWR);
		pthread_join(st, NULL);
		r = -EAGAIN;
		goto out;
	}
	if (*report >= 0) {
		dup2(*report, STDERR_FILENO);
		close(*report);
		*report = -1;
	}
	/* Until a signal (then disconnect the device) or the device is
	 * disconnected by someone else (the server side ends). */
	pf.fd = sig_r;
	pf.events = POLLIN;
	for (;;) {
		int n = poll(&pf, 1, 200);

		if (n > 0) {
			ioctl(k.dev, NBD_DISCONNECT);
			break;
		}
		if (pthread_tryjoin_np(st, NULL) == 0) {
			served = true;
			break;
		}
	}
	pthread_join(kt, NULL);
	if (!served)
		pthread_join(st, NULL);
	r = k.ret ? k.ret : ks.r;
out:
	close(sv[0]);
	close(sv[1]);
	close(k.dev);
	return r;
}

int nbd_kernel_disconnect(struct nbd_tool *nt, const char *dev)
{
	int fd = open(dev, O_RDWR | O_CLOEXEC), r = 0;

	if (fd < 0) {
		r = -errno;
		nbd_err(nt, "Cannot open %s: %s", dev, strerror(errno));
		return r;
	}
	if (ioctl(fd, NBD_DISCONNECT) < 0 || ioctl(fd, NBD_CLEAR_SOCK) < 0) {
		r = -errno;
		nbd_err(nt, "Failed to disconnect %s: %s", dev,
			strerror(errno));
	} else {
		printf("%s disconnected\n", dev);
	}
	close(fd);
	return r;
}
