/* SPDX-License-Identifier: MIT */
/* qimg-nbd's parts: the parsed command line (main.c), opening the image
 * (image.c), listening and serving (listen.c) and -L (list.c). */
#ifndef QIMG_NBD_TOOL_H
#define QIMG_NBD_TOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "qimg/nbd-server.h"

#define QIMG_NBD_VERSION "7.2.0 (qimg)"

struct nbd_opts {
	const char *file, *fmt, *bind, *port, *socket;
	const char *export_name, *description, *load_snapshot;
	const char *bitmaps[QIMG_NBD_MAX_BITMAPS];
	unsigned int nbitmaps;
	const char *aio, *pid_file, *tls_creds, *tls_authz, *device;
	const char
		*tls_hostname; /* -L: the name the server's certificate has */
	uint64_t offset;
	int shared;
	enum qimg_cache_mode cache;
	enum qimg_nbd_detect_zeroes detect_zeroes;
	bool readonly, snapshot, allocation_depth, discard, persistent;
	bool verbose, image_opts, fork, list, disconnect;
};

struct nbd_tls;

struct nbd_tool {
	const char *argv0, *prog;
	struct tool t; /* message prefix and --object table */
	struct nbd_opts o;
	struct qimg_node *node;
	struct qimg_nbd_bitmap bitmaps[QIMG_NBD_MAX_BITMAPS];
	struct nbd_tls *tls_objects;	/* --object tls-creds-x509/-psk */
	const struct nbd_tls *tls;	/* --tls-creds: the one in use */
	const struct qimg_authz *authz; /* --tls-authz, or NULL */
};

/* sockio.c: all of len bytes, or -EPIPE at the end of the stream /
 * -errno (send: more, further bytes follow at once). */
int nbd_fd_recv(int fd, void *buf, size_t len);
int nbd_fd_send(int fd, const void *buf, size_t len, bool more);

/* "prog: message" on stderr. */
void nbd_err(const struct nbd_tool *nt, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

int nbd_parse_offset(const struct nbd_tool *nt, const char *s, uint64_t *out);

/* Open the image as the options say (-f, -r, -s, -l, --cache, --aio,
 * --image-opts, -o); prints qemu-nbd's message on failure. */
int nbd_open_image(struct nbd_tool *nt, struct qimg_nbd_export *exp);

/* tls-creds.c: --object tls-creds-x509 and tls-creds-psk definitions
 * (loaded as they come), --tls-creds. */
bool nbd_tls_is_object(const char *def);
int nbd_tls_object(struct nbd_tool *nt, const char *def);
int nbd_tls_setup(struct nbd_tool *nt);
/* --tls-authz: the object, found and fit for the credentials in use. */
int nbd_tls_authz_setup(struct nbd_tool *nt);
void nbd_tls_free(struct nbd_tool *nt);
/* tls.c: sessions; a client that authz (when not NULL) does not allow
 * is refused with EACCES. */
int nbd_tls_start(const struct nbd_tls *c, const struct qimg_authz *authz,
		  int fd, void **session, struct qimg_error *err);
/* -L: a client's session with the server on fd, its certificate checked
 * against hostname (x509 with verify-peer; NULL: none to check). */
int nbd_tls_client_start(const struct nbd_tls *c, int fd, const char *hostname,
			 void **session, struct qimg_error *err);
int nbd_tls_recv(void *session, void *buf, size_t len);
int nbd_tls_send(void *session, const void *buf, size_t len, bool more);
void nbd_tls_end(void *session);

/* kernel.c: -c DEV (served until the device is disconnected or a
 * signal comes on sig_r; *report, the --fork pipe, is closed once the
 * device is connected) and -d DEV. */
int nbd_kernel_serve(struct nbd_tool *nt, const struct qimg_nbd_export *exp,
		     int sig_r, int *report);
int nbd_kernel_disconnect(struct nbd_tool *nt, const char *dev);

/* -L: list another server's exports. */
int nbd_list(struct nbd_tool *nt);
/* The same over a transport of the caller's (no TLS): the fuzz harness
 * plays the server. */
struct nbd_list_io {
	void *opaque;
	int (*recv)(void *opaque, void *buf, size_t len);
	int (*send)(void *opaque, const void *buf, size_t len);
};
int nbd_list_over(struct nbd_tool *nt, const struct nbd_list_io *io);

/* Listen, fork if asked, serve until done; the exit status's sign. */
int nbd_run(struct nbd_tool *nt);

#endif
