/* SPDX-License-Identifier: MIT */
/* qimg-nbd: listening, the clients' threads, --fork and the signals that
 * end the server.  State lives in struct server, on main's stack; the
 * signal handler only writes a byte to a pipe the accept loop polls. */

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "nbd.h"

#define MAX_LISTEN 8
/* Request memory of all clients together (each alone: 64 MiB). */
#define SERVER_BUDGET (256u << 20)

struct client {
	struct server *srv;
	int fd;
	void *tls; /* the TLS session once STARTTLS is done */
	pthread_t tid;
	bool done;
	struct client *next;
};

struct server {
	struct nbd_tool *nt;
	struct qimg_nbd_export exp;
	int lfd[MAX_LISTEN];
	int nlfd;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct client *clients;
	struct qimg_nbd_budget budget;
	int active;
	bool served_one;
	int wake[2]; /* a client that ends writes a byte: the loop looks */
	/* the socket file bound (-k), removed at the end only if the name
	 * still is that file: one removed and made again by someone else
	 * meanwhile is not ours */
	bool sock_made;
	dev_t sock_dev;
	ino_t sock_ino;
};

/* The signal pipe's write end: the one thing a handler may touch. */
static int sig_pipe_w = -1;

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig_pipe_w >= 0)
		(void)!write(sig_pipe_w, &c, 1);
	errno = saved;
}

/* ---- the transport over a socket ---- */

static int sock_recv(void *opaque, void *buf, size_t len)
{
	struct client *cl = opaque;

#ifdef QIMG_HAVE_GNUTLS
	if (cl->tls)
		return nbd_tls_recv(cl->tls, buf, len);
#endif
	return nbd_fd_recv(cl->fd, buf, len);
}

static int sock_send(void *opaque, const void *buf, size_t len, bool more)
{
	struct client *cl = opaque;

#ifdef QIMG_HAVE_GNUTLS
	if (cl->tls)
		return nbd_tls_send(cl->tls, buf, len, more);
#endif
	return nbd_fd_send(cl->fd, buf, len, more);
}

static int sock_starttls(void *opaque, struct qimg_error *err)
{
	struct client *cl = opaque;

#ifdef QIMG_HAVE_GNUTLS
	const struct nbd_tool *nt = cl->srv->nt;
	int r = nbd_tls_start(nt->tls, nt->authz, cl->fd, &cl->tls, err);

	/* A refused client is logged, as qemu-nbd logs it. */
	if (r < 0)
		nbd_err(nt, "option negotiation failed: %s", err->msg);
	return r;
#else
	(void)cl;
	return qimg_error_set(err, ENOTSUP, "no TLS");
#endif
}

static void *client_main(void *opaque)
{
	struct client *cl = opaque;
	struct server *srv = cl->srv;
	struct qimg_error err = { 0 };
	struct qimg_nbd_io io = {
		.opaque = cl,
		.recv = sock_recv,
		.send = sock_send,
		.starttls = srv->nt->tls ? sock_starttls : NULL,
	};
	int r = qimg_nbd_serve(&srv->exp, &io, &err);

#ifdef QIMG_HAVE_GNUTLS
	if (cl->tls) {
		nbd_tls_end(cl->tls);
		cl->tls = NULL;
	}
#endif
	if (r < 0 && srv->nt->o.verbose)
		nbd_err(srv->nt, "client: %s", err.msg);
	pthread_mutex_lock(&srv->lock);
	shutdown(cl->fd, SHUT_RDWR);
	cl->done = true;
	/* Only a client that got through negotiation ends a server
	 * without -t. */
	if (io.negotiated)
		srv->served_one = true;
	srv->active--;
	pthread_cond_broadcast(&srv->changed);
	pthread_mutex_unlock(&srv->lock);
	(void)!write(srv->wake[1], "", 1);
	return NULL;
}

/* Join and free the clients that ended. */
static void reap(struct server *srv, bool all)
{
	struct client **p, *cl;

	pthread_mutex_lock(&srv->lock);
	for (p = &srv->clients; (cl = *p);) {
		if (!cl->done && !all) {
			p = &cl->next;
			continue;
		}
		*p = cl->next;
		pthread_mutex_unlock(&srv->lock);
		pthread_join(cl->tid, NULL);
		close(cl->fd);
		free(cl);
		pthread_mutex_lock(&srv->lock);
	}
	pthread_mutex_unlock(&srv->lock);
}

/* ---- listening ---- */

static int listen_unix(struct server *srv, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		nbd_err(srv->nt, "UNIX socket path '%s' is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0) {
		int e = errno;

		nbd_err(srv->nt, "Failed to bind socket to %s: %s", path,
			strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	srv->lfd[srv->nlfd++] = fd;
	if (stat(path, &st) == 0) {
		srv->sock_made = true;
		srv->sock_dev = st.st_dev;
		srv->sock_ino = st.st_ino;
	}
	return 0;
}

static int listen_tcp(struct server *srv, const char *host, const char *port)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE,
				  .ai_socktype = SOCK_STREAM },
			*res, *ai;
	int fd, one = 1, r, e = 0;

	r = getaddrinfo(host, port, &hints, &res);
	if (r) {
		nbd_err(srv->nt, "address resolution failed for %s:%s: %s",
			host, port, gai_strerror(r));
		return -EINVAL;
	}
	for (ai = res; ai && srv->nlfd < MAX_LISTEN; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				   sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, 16) < 0) {
			e = errno;
			close(fd);
			continue;
		}
		srv->lfd[srv->nlfd++] = fd;
	}
	freeaddrinfo(res);
	if (!srv->nlfd) {
		nbd_err(srv->nt, "Failed to bind socket: %s", strerror(e));
		return -e;
	}
	return 0;
}

static int write_pid_file(struct server *srv, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		nbd_err(srv->nt, "Could not create '%s': %s", path,
			strerror(errno));
		return -EIO;
	}
	if (fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f)) {
		nbd_err(srv->nt, "Failed to write pid file '%s': %s", path,
			strerror(errno));
		return -EIO;
	}
	return 0;
}

/* ---- --fork: the parent waits until the child listens ---- */

/* Returns in the child (with *report the pipe to close when ready);
 * the parent exits here with the child's verdict. */
static int fork_server(struct nbd_tool *nt, int *report)
{
	int p[2];
	pid_t pid;
	char buf[1024];
	ssize_t n;
	bool errors = false;

	if (pipe(p) < 0) {
		nbd_err(nt, "Failed to create pipe: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		nbd_err(nt, "Failed to fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		*report = dup(STDERR_FILENO);
		dup2(p[1], STDERR_FILENO);
		close(p[1]);
		return 0;
	}
	close(p[1]);
	/* Anything the child says before it is ready is an error. */
	while ((n = read(p[0], buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		errors = true;
		(void)!write(STDERR_FILENO, buf, (size_t)n);
	}
	_exit(errors ? 1 : 0);
}

/* The accept loop: until a signal, or (without -t) the last client
 * gone. */
static void serve_loop(struct server *srv, int sig_r)
{
	struct nbd_opts *o = &srv->nt->o;
	struct pollfd pf[MAX_LISTEN + 2];
	int i, n;
	char drain[64];

	for (;;) {
		bool full;

		reap(srv, false);
		pthread_mutex_lock(&srv->lock);
		if (!o->persistent && srv->served_one && !srv->active) {
			pthread_mutex_unlock(&srv->lock);
			return;
		}
		full = o->shared && srv->active >= o->shared;
		pthread_mutex_unlock(&srv->lock);
		pf[0] = (struct pollfd){ .fd = sig_r, .events = POLLIN };
		for (i = 0; i < srv->nlfd; i++)
			pf[i + 1] = (struct pollfd){
				.fd = srv->lfd[i],
				.events = full ? 0 : POLLIN,
			};
		/* a client that left wakes the loop at once: the last one
		 * ends a server without -t before another is taken, and a
		 * full server takes the next */
		pf[srv->nlfd + 1] =
			(struct pollfd){ .fd = srv->wake[0], .events = POLLIN };
		n = poll(pf, (nfds_t)srv->nlfd + 2, -1);
		if (n < 0 && errno != EINTR)
			return;
		if (n <= 0)
			continue;
		if (pf[0].revents)
			return;
		if (pf[srv->nlfd + 1].revents) {
			(void)!read(srv->wake[0], drain, sizeof(drain));
			continue;
		}
		for (i = 0; i < srv->nlfd; i++) {
			struct client *cl;
			int fd, one = 1;

			if (!(pf[i + 1].revents & POLLIN))
				continue;
			fd = accept4(srv->lfd[i], NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			cl = calloc(1, sizeof(*cl));
			if (!cl) {
				close(fd);
				continue;
			}
			cl->srv = srv;
			cl->fd = fd;
			pthread_mutex_lock(&srv->lock);
			srv->active++;
			cl->next = srv->clients;
			srv->clients = cl;
			if (pthread_create(&cl->tid, NULL, client_main, cl)) {
				srv->clients = cl->next;
				srv->active--;
				close(fd);
				free(cl);
			}
			pthread_mutex_unlock(&srv->lock);
		}
	}
}

int nbd_run(struct nbd_tool *nt)
{
	struct nbd_opts *o = &nt->o;
	struct server srv;
	struct client *cl;
	struct sigaction sa;
	int sig[2] = { -1, -1 }, report = -1, r, i;
	struct qimg_error err = { 0 };
	struct stat st;

	memset(&srv, 0, sizeof(srv));
	srv.nt = nt;
	srv.wake[0] = srv.wake[1] = -1;
	pthread_mutex_init(&srv.budget.lock, NULL);
	pthread_cond_init(&srv.budget.cond, NULL);
	srv.budget.cap = SERVER_BUDGET;
	pthread_mutex_init(&srv.lock, NULL);
	pthread_cond_init(&srv.changed, NULL);
	/* -c serves in the background unless -v, as qemu-nbd. */
	if (o->fork || (o->device && !o->verbose)) {
		r = fork_server(nt, &report);
		if (r < 0)
			return r;
	}
	r = nbd_open_image(nt, &srv.exp);
	srv.exp.budget = &srv.budget;
	if (r == 0 && !o->device)
		r = o->socket ? listen_unix(&srv, o->socket)
			      : listen_tcp(&srv, o->bind ? o->bind : "0.0.0.0",
					   o->port);
	if (r == 0 && o->pid_file)
		r = write_pid_file(&srv, o->pid_file);
	if (r == 0 && pipe2(sig, O_CLOEXEC) < 0)
		r = -errno;
	if (r == 0 && pipe2(srv.wake, O_CLOEXEC | O_NONBLOCK) < 0)
		r = -errno;
	if (r == 0) {
		sig_pipe_w = sig[1];
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
	}
	if (r == 0 && o->device)
		r = nbd_kernel_serve(nt, &srv.exp, sig[0], &report);
	if (report >= 0) {
		/* Ready (or failed, said on the pipe): let the parent go. */
		dup2(report, STDERR_FILENO);
		close(report);
	}
	if (r == 0 && !o->device)
		serve_loop(&srv, sig[0]);

	/* The end: no more clients; those connected are cut off once what
	 * they sent is served; then the image is flushed and closed. */
	for (i = 0; i < srv.nlfd; i++)
		close(srv.lfd[i]);
	pthread_mutex_lock(&srv.lock);
	for (cl = srv.clients; cl; cl = cl->next)
		shutdown(cl->fd, SHUT_RD);
	pthread_mutex_unlock(&srv.lock);
	reap(&srv, true);
	if (nt->node) {
		if (!o->readonly || o->snapshot)
			(void)qimg_flush(nt->node, &err);
		qimg_close(nt->node);
		nt->node = NULL;
	}
	if (o->socket && srv.sock_made && lstat(o->socket, &st) == 0 &&
	    st.st_dev == srv.sock_dev && st.st_ino == srv.sock_ino)
		unlink(o->socket);
	sig_pipe_w = -1;
	if (sig[0] >= 0) {
		close(sig[0]);
		close(sig[1]);
	}
	if (srv.wake[0] >= 0) {
		close(srv.wake[0]);
		close(srv.wake[1]);
	}
	pthread_cond_destroy(&srv.budget.cond);
	pthread_mutex_destroy(&srv.budget.lock);
	pthread_cond_destroy(&srv.changed);
	pthread_mutex_destroy(&srv.lock);
	return r;
}
