/* SPDX-License-Identifier: MIT */
/* qimg run [--object OBJ] [--] EMULATOR ARGS...: a guest whose disks are
 * served by qimg.  The storage options of the emulator's command line are
 * resolved and opened as QEMU would (drive-*.c: formats, -snapshot
 * overlays, cache modes, copy-on-read); each drive with an image is then
 * served over NBD on a Unix socket of its own, and the emulator is started
 * with every storage option replaced by a -drive that connects to it, in
 * the same place (interface, bus, unit, id, media, read-only, error
 * actions).  Everything else on its command line passes unchanged.  When
 * the emulator ends, the images are flushed and closed and its exit status
 * is qimg's. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qimg/nbd-server.h"
#include "../qimg-nbd/nbd.h"
#include "drive.h"

struct conn {
	struct export *ex;
	int fd;
	pthread_t tid;
	struct conn *next;
};

/* One drive's server: a listening socket and its clients. */
struct export
{
	struct qimg_nbd_export exp;
	char path[108];
	int lfd;
	pthread_t tid;
	bool started;
	pthread_mutex_t lock;
	struct conn *conns;
};

static int conn_recv(void *opaque, void *buf, size_t len)
{
	return nbd_fd_recv(((struct conn *)opaque)->fd, buf, len);
}

static int conn_send(void *opaque, const void *buf, size_t len, bool more)
{
	return nbd_fd_send(((struct conn *)opaque)->fd, buf, len, more);
}

static void *conn_main(void *opaque)
{
	struct conn *c = opaque;
	struct qimg_error err = { 0 };
	struct qimg_nbd_io io = {
		.opaque = c,
		.recv = conn_recv,
		.send = conn_send,
	};

	(void)qimg_nbd_serve(&c->ex->exp, &io, &err);
	shutdown(c->fd, SHUT_RDWR);
	return NULL;
}

/* Accept until the listening socket is shut down. */
static void *accept_main(void *opaque)
{
	struct export *ex = opaque;

	for (;;) {
		int fd = accept4(ex->lfd, NULL, NULL, SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->ex = ex;
		c->fd = fd;
		pthread_mutex_lock(&ex->lock);
		if (pthread_create(&c->tid, NULL, conn_main, c)) {
			close(fd);
			free(c);
		} else {
			c->next = ex->conns;
			ex->conns = c;
		}
		pthread_mutex_unlock(&ex->lock);
	}
}

static int export_start(const struct tool *t, struct export *ex,
			const struct drive *d, const char *dir, int i)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	ex->lfd = -1;
	pthread_mutex_init(&ex->lock, NULL);
	ex->exp.name = "";
	ex->exp.node = d->node;
	ex->exp.size = qimg_size(d->node);
	ex->exp.readonly = d->readonly;
	ex->exp.discard = d->discard;
	ex->exp.detect_zeroes = !d->detect_zeroes ? QIMG_NBD_DZ_OFF
				: !strcmp(d->detect_zeroes, "unmap")
					? QIMG_NBD_DZ_UNMAP
					: QIMG_NBD_DZ_ON;
	ex->exp.workers = 4;
	if ((size_t)snprintf(ex->path, sizeof(ex->path), "%s/%d.sock", dir,
			     i) >= sizeof(ex->path)) {
		tool_err(t, "socket path '%s/%d.sock' is too long", dir, i);
		return 1;
	}
	strcpy(sa.sun_path, ex->path);
	ex->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ex->lfd < 0 || bind(ex->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(ex->lfd, 8)) {
		tool_err(t, "Failed to serve drive '%s' on %s: %s", d->id,
			 ex->path, strerror(errno));
		return 1;
	}
	if (pthread_create(&ex->tid, NULL, accept_main, ex)) {
		tool_err(t, "Failed to start a thread: %s", strerror(errno));
		return 1;
	}
	ex->started = true;
	return 0;
}

static void export_stop(struct export *ex)
{
	struct conn *c, *n;

	if (ex->lfd >= 0)
		shutdown(ex->lfd, SHUT_RDWR);
	if (ex->started)
		pthread_join(ex->tid, NULL);
	if (ex->lfd >= 0)
		close(ex->lfd);
	for (c = ex->conns; c; c = n) {
		n = c->next;
		shutdown(c->fd, SHUT_RD);
		pthread_join(c->tid, NULL);
		close(c->fd);
		free(c);
	}
	if (ex->path[0])
		unlink(ex->path);
	pthread_mutex_destroy(&ex->lock);
}

/* The -drive that puts drive d (served on sock, or empty) where it was. */
static char *replacement(const struct drive *d, const char *sock)
{
	char *s = NULL, *place = NULL, *extra = NULL;
	int r;

	if (d->type == DRIVE_IF_NONE)
		r = asprintf(&place, "if=none");
	else
		r = asprintf(&place, "if=%s,bus=%d,unit=%d",
			     drive_if_name(d->type), d->bus, d->unit);
	if (r < 0)
		return NULL;
	r = asprintf(&extra, "%s%s%s%s%s%s%s%s", d->cdrom ? ",media=cdrom" : "",
		     d->readonly && !d->cdrom ? ",read-only=on" : "",
		     d->writeback ? "" : ",cache.writeback=off",
		     d->discard ? ",discard=unmap" : "",
		     d->werror ? ",werror=" : "", d->werror ? d->werror : "",
		     d->rerror ? ",rerror=" : "", d->rerror ? d->rerror : "");
	if (r < 0) {
		free(place);
		return NULL;
	}
	if (sock)
		r = asprintf(&s,
			     "driver=nbd,server.type=unix,server.path=%s,%s,"
			     "id=%s%s",
			     sock, place, d->id, extra);
	else
		r = asprintf(&s, "%s,id=%s%s", place, d->id, extra);
	free(place);
	free(extra);
	return r < 0 ? NULL : s;
}

/* The one piece of process-wide state: the signal handler that passes ^C,
 * TERM and HUP on to the emulator has no other way to learn its pid (as
 * qimg-nbd's sig_pipe_w).  Set while the emulator runs, 0 otherwise. */
static pid_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

static int run_emulator(const struct tool *t, char **argv)
{
	struct sigaction sa = { .sa_handler = forward }, old_int, old_term,
			 old_hup;
	int status;
	pid_t pid;

	/* A ^C reaches the guest's emulator, which ends; qimg waits for it
	 * and then closes the images cleanly. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	pid = fork();
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGHUP, &old_hup, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "%s: Could not run '%s': %s\n", t->prog,
			argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		tool_err(t, "Could not run '%s': %s", argv[0], strerror(errno));
		return 1;
	}
	child_pid = pid;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = 1 << 8;
			break;
		}
	child_pid = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void usage(void)
{
	printf("usage: qimg run [--object objectdef] [--] emulator "
	       "[qemu-system-options...]\n"
	       "\n"
	       "Run a QEMU guest whose drives qimg serves: the storage "
	       "options (-hda..-hdd,\n"
	       "-cdrom, -fda, -fdb, -drive, -snapshot, a bare image name) are "
	       "resolved and\n"
	       "opened as 'qimg drives' shows them, each drive is served over "
	       "NBD on a Unix\n"
	       "socket, and the emulator is started with -drive options "
	       "that connect to them.\n"
	       "The exit status is the emulator's.\n");
}

int cmd_run(const struct tool *t, int argc, char **argv)
{
	struct drive_set set;
	struct export *ex = NULL;
	char dir[] = "/tmp/qimg-run.XXXXXX", **nargv = NULL, **made = NULL;
	int i = 1, r, k, n = 0, d = 0, nmade = 0;
	bool have_dir = false;

	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage();
			return 0;
		}
		if (!strcmp(argv[i], "--object") && i + 1 < argc) {
			if (tool_object(t, argv[++i]))
				return 1;
			continue;
		}
		break;
	}
	if (i >= argc)
		return tool_usage(t, "Expecting an emulator to run");
	r = drive_set_parse(t, argc - i - 1, argv + i + 1, &set);
	if (r == 0)
		r = drive_set_open(t, &set);
	if (r == 0) {
		ex = calloc((size_t)set.n + 1, sizeof(*ex));
		nargv = calloc((size_t)set.nrest + 2, 2 * sizeof(*nargv));
		made = calloc((size_t)set.n + 1, sizeof(*made));
		have_dir = mkdtemp(dir) != NULL;
		if (!ex || !nargv || !made || !have_dir)
			r = 1, tool_err(t, "Could not prepare: %s",
					strerror(errno ? errno : ENOMEM));
	}
	for (k = 0; r == 0 && k < set.n; k++) {
		ex[k].lfd = -1;
		if (set.v[k].node)
			r = export_start(t, &ex[k], &set.v[k], dir, k);
	}
	if (r == 0) {
		nargv[n++] = argv[i];
		for (k = 0; k < set.nrest && r == 0; k++) {
			struct drive *dv;

			if (set.rest[k]) {
				nargv[n++] = set.rest[k];
				continue;
			}
			dv = &set.v[d];
			nargv[n++] = "-drive";
			nargv[n] = made[nmade++] =
				replacement(dv, dv->node ? ex[d].path : NULL);
			if (!nargv[n++])
				r = 1, tool_err(t, "Out of memory");
			d++;
		}
	}
	if (r == 0)
		r = run_emulator(t, nargv);
	for (k = 0; ex && k < set.n; k++)
		if (ex[k].started || ex[k].lfd >= 0)
			export_stop(&ex[k]);
	drive_set_free(&set);
	if (have_dir)
		rmdir(dir);
	for (k = 0; k < nmade; k++)
		free(made[k]);
	free(made);
	free(nargv);
	free(ex);
	return r;
}
