/* SPDX-License-Identifier: MIT */
/* The NBD client protocol driver, over libnbd.  Names as qemu-img takes
 * them (nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH,
 * nbd:HOST:PORT[:exportname=X], nbd:unix:PATH[:exportname=X]) become the
 * options server.type/host/port/path and export; the socket is connected
 * here (so that errors read as qemu-img's) and handed to libnbd, which does
 * the handshake, structured replies and block status.  With x-dirty-bitmap
 * the named metadata context is read as if it were base:allocation, as
 * QEMU's client does (qemu:allocation-depth shows that way in map). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/driver.h"
#include "protocols/libnbd-dl.h"
#include "qimg/object.h"
#include "util/uri.h"
#include "util/tls-creds.h"
#include "protocols/nbd.h"

#define NBD_DEFAULT_PORT "10809"
#define NBD_MAX_STATUS (1u << 30) /* block status query length */

struct nbd_state {
	struct nbd_handle *h;
	char *context; /* metadata context read as allocation (x-dirty-bitmap) */
	bool has_context;
	uint64_t size; /* the export's own, node->size is it in sectors */
};

static const char *const nbd_protocols[] = { "nbd", "nbd+tcp", "nbd+unix",
					     NULL };

static const struct qimg_opt_desc nbd_runtime_opts[] = {
	{ "server.type", QIMG_OPT_STRING, NULL, NULL },
	{ "server.host", QIMG_OPT_STRING, NULL, NULL },
	{ "server.port", QIMG_OPT_STRING, NULL, NULL },
	{ "server.path", QIMG_OPT_STRING, NULL, NULL },
	{ "server.ipv4", QIMG_OPT_BOOL, NULL, NULL },
	{ "server.ipv6", QIMG_OPT_BOOL, NULL, NULL },
	{ "server.numeric", QIMG_OPT_BOOL, NULL, NULL },
	{ "server.keep-alive", QIMG_OPT_BOOL, NULL, NULL },
	{ "host", QIMG_OPT_STRING, NULL, NULL },
	{ "port", QIMG_OPT_STRING, NULL, NULL },
	{ "path", QIMG_OPT_STRING, NULL, NULL },
	{ "export", QIMG_OPT_STRING, NULL, NULL },
	{ "tls-creds", QIMG_OPT_STRING, NULL, NULL },
	{ "tls-hostname", QIMG_OPT_STRING, NULL, NULL },
	{ "x-dirty-bitmap", QIMG_OPT_STRING, NULL, NULL },
	{ "reconnect-delay", QIMG_OPT_NUMBER, NULL, NULL },
	{ "open-timeout", QIMG_OPT_NUMBER, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

/* "Creating" on an export only uses it: these are what qemu-img takes. */
static const struct qimg_opt_desc nbd_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "preallocation", QIMG_OPT_STRING,
	  "Preallocation mode (allowed values: off)", NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const nbd_strong_opts[] = {
	"server", "host", "port", "path", "export", "x-dirty-bitmap", NULL
};

/* --- names ---------------------------------------------------------------- */

static int put(struct qimg_value *o, const char *k, const char *v,
	       struct qimg_error *err)
{
	if (qimg_dict_put_str(o, k, v) < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

static int put_server(struct qimg_value *o, const char *type, const char *host,
		      const char *port, const char *path,
		      struct qimg_error *err)
{
	struct qimg_value *srv = qimg_value_dict();
	int r = 0;

	if (!srv)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r |= qimg_dict_put_str(srv, "type", type);
	if (host)
		r |= qimg_dict_put_str(srv, "host", host);
	if (port)
		r |= qimg_dict_put_str(srv, "port", port);
	if (path)
		r |= qimg_dict_put_str(srv, "path", path);
	if (r < 0) {
		qimg_value_free(srv);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (qimg_dict_put(o, "server", srv) < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

static int parse_uri(const char *name, struct qimg_value *o,
		     struct qimg_error *err)
{
	const char *rest, *auth, *path_start, *q;
	char *host = NULL, *port = NULL, *export = NULL, *sock = NULL;
	bool is_unix;
	int r = -EINVAL;

	if (!strncmp(name, "nbd://", 6)) {
		is_unix = false;
		rest = name + 6;
	} else if (!strncmp(name, "nbd+tcp://", 10)) {
		is_unix = false;
		rest = name + 10;
	} else if (!strncmp(name, "nbd+unix://", 11)) {
		is_unix = true;
		rest = name + 11;
	} else {
		goto bad;
	}
	auth = rest;
	path_start = auth + strcspn(auth, "/?");
	q = strchr(path_start, '?');
	/* The export is the path without its leading '/'. */
	if (*path_start == '/') {
		const char *pe = q ? q : path_start + strlen(path_start);

		export = qimg_uri_decode(path_start + 1,
					 (size_t)(pe - path_start - 1));
		if (!export)
			goto nomem;
	}
	if (is_unix) {
		/* nbd+unix:///EXPORT?socket=PATH: no authority. */
		if (path_start != auth || !q || strncmp(q + 1, "socket=", 7) ||
		    strchr(q + 8, '&'))
			goto bad;
		sock = qimg_uri_decode(q + 8, strlen(q + 8));
		if (!sock)
			goto nomem;
		r = put_server(o, "unix", NULL, NULL, sock, err);
	} else {
		const char *a_end = path_start, *colon;

		if (q && q < path_start)
			a_end = q;
		if (q)
			goto bad; /* no query for TCP */
		if (a_end == auth)
			goto bad;
		if (*auth == '[') {
			const char *close =
				memchr(auth, ']', (size_t)(a_end - auth));

			if (!close)
				goto bad;
			host = strndup(auth + 1, (size_t)(close - auth - 1));
			colon = close + 1 < a_end && close[1] == ':' ? close + 1
								     : NULL;
		} else {
			colon = memchr(auth, ':', (size_t)(a_end - auth));
			host = strndup(
				auth, (size_t)((colon ? colon : a_end) - auth));
		}
		if (!host)
			goto nomem;
		if (colon) {
			const char *c;

			port = strndup(colon + 1, (size_t)(a_end - colon - 1));
			if (!port)
				goto nomem;
			for (c = port; *c; c++)
				if (*c < '0' || *c > '9')
					goto bad;
			if (!*port) {
				free(port);
				port = NULL;
			}
		}
		r = put_server(o, "inet", host, port ? port : NBD_DEFAULT_PORT,
			       NULL, err);
	}
	if (r == 0 && export && *export)
		r = put(o, "export", export, err);
	goto out;
bad:
	r = qimg_error_set(err, EINVAL, "No valid URL specified");
	goto out;
nomem:
	r = qimg_error_set(err, ENOMEM, "Out of memory");
out:
	free(host);
	free(port);
	free(export);
	free(sock);
	return r;
}

/* nbd:unix:PATH[:exportname=X] and nbd:HOST:PORT[:exportname=X]. */
static int parse_legacy(const char *name, struct qimg_value *o,
			struct qimg_error *err)
{
	const char *spec = name + 4, *ex = strstr(spec, ":exportname=");
	char *addr = strndup(spec, ex ? (size_t)(ex - spec) : strlen(spec));
	char *colon;
	int r;

	if (!addr)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	/* An empty exportname= is refused as qemu-img refuses it. */
	if (!*addr || (ex && !ex[12])) {
		free(addr);
		return qimg_error_set(err, EINVAL,
				      "NBD server address missing");
	}
	if (!strncmp(addr, "unix:", 5)) {
		r = put_server(o, "unix", NULL, NULL, addr + 5, err);
	} else {
		colon = strrchr(addr, ':');
		if (!colon || colon == addr || !colon[1]) {
			r = qimg_error_set(err, EINVAL,
					   "error parsing address '%s'", addr);
			free(addr);
			return r;
		}
		*colon = '\0';
		r = put_server(o, "inet", addr, colon + 1, NULL, err);
	}
	free(addr);
	if (r == 0 && ex && ex[12])
		r = put(o, "export", ex + 12, err);
	return r;
}

static int nbd_parse_filename(const char *name, struct qimg_value *o,
			      struct qimg_error *err)
{
	if (strstr(name, "://"))
		return parse_uri(name, o, err);
	if (!strncmp(name, "nbd:", 4))
		return parse_legacy(name, o, err);
	return qimg_error_set(err, EINVAL,
			      "File name string for NBD must start with "
			      "'nbd:'");
}

/* The server's address from the options (server.* or the legacy keys). */
struct addr {
	const char *type, *host, *port, *path;
};

static int get_addr(const struct qimg_opts *o, struct addr *a,
		    struct qimg_error *err)
{
	const char *lh = qimg_opts_get_str(o, "host", NULL);
	const char *lp = qimg_opts_get_str(o, "port", NULL);
	const char *lpath = qimg_opts_get_str(o, "path", NULL);

	a->type = qimg_opts_get_str(o, "server.type", NULL);
	a->host = qimg_opts_get_str(o, "server.host", NULL);
	a->port = qimg_opts_get_str(o, "server.port", NULL);
	a->path = qimg_opts_get_str(o, "server.path", NULL);
	if ((lh || lp || lpath) && a->type)
		return qimg_error_set(err, EINVAL,
				      "Cannot use 'server' and path/host/port "
				      "at the same time");
	if (lpath && lh)
		return qimg_error_set(err, EINVAL,
				      "path and host may not be used at the "
				      "same time");
	if (lpath) {
		a->type = "unix";
		a->path = lpath;
	} else if (lh) {
		a->type = "inet";
		a->host = lh;
		a->port = lp ? lp : NBD_DEFAULT_PORT;
	} else if (lp) {
		return qimg_error_set(err, EINVAL,
				      "port may not be used without host");
	}
	if (!a->type)
		return qimg_error_set(err, EINVAL,
				      "NBD server address missing");
	if (!strcmp(a->type, "unix")) {
		if (!a->path)
			return qimg_error_set(err, EINVAL,
					      "Parameter 'path' is missing");
	} else if (!strcmp(a->type, "inet")) {
		if (!a->host)
			return qimg_error_set(err, EINVAL,
					      "Parameter 'host' is missing");
		if (!a->port)
			return qimg_error_set(err, EINVAL,
					      "Parameter 'port' is missing");
	} else {
		return qimg_error_set(err, EINVAL,
				      "Parameter 'type' does not accept value "
				      "'%s'",
				      a->type);
	}
	return 0;
}

static int connect_socket(const struct addr *a, struct qimg_error *err)
{
	int fd, e;

	if (!strcmp(a->type, "unix")) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		if (strlen(a->path) >= sizeof(sun.sun_path))
			return qimg_error_set(err, ENAMETOOLONG,
					      "UNIX socket path '%s' is too "
					      "long",
					      a->path);
		strcpy(sun.sun_path, a->path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return qimg_error_set_errno(err, errno,
						    "Failed to create socket");
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			e = errno;
			close(fd);
			return qimg_error_set(err, e,
					      "Failed to connect to '%s': %s",
					      a->path, strerror(e));
		}
		return fd;
	} else {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
					  .ai_family = AF_UNSPEC };
		struct addrinfo *res, *ai;
		int g = getaddrinfo(a->host, a->port, &hints, &res);

		if (g != 0)
			return qimg_error_set(err, EINVAL,
					      "address resolution failed for "
					      "%s:%s: %s",
					      a->host, a->port,
					      gai_strerror(g));
		e = ECONNREFUSED;
		fd = -1;
		for (ai = res; ai; ai = ai->ai_next) {
			fd = socket(ai->ai_family,
				    ai->ai_socktype | SOCK_CLOEXEC,
				    ai->ai_protocol);
			if (fd < 0) {
				e = errno;
				continue;
			}
			if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
				break;
			e = errno;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		if (fd < 0)
			return qimg_error_set(
				err, e, "Failed to connect to '%s:%s': %s",
				a->host, a->port, strerror(e));
		return fd;
	}
}

/* libnbd's last error as a message. */
static int nbd_fail(struct qimg_node *node, const char *what,
		    struct qimg_error *err)
{
	int e = nbd_get_errno();
	const char *m = nbd_get_error();

	if (!e)
		e = EIO;
	return qimg_error_set(err, e, "%s '%s': %s", what, node->filename,
			      m ? m : strerror(e));
}

/* What TLS credentials tc can do on address a (tls-hostname: host,
 * NULL when not given).  qemu-img checks a server's certificate against
 * tls-hostname, else the host= it connects to; libnbd 1.14 can check it
 * only against the host it connects to over TCP, and over a Unix socket
 * not at all (it accepts a certificate from any CA there).  So that a
 * certificate is never taken unchecked, a check it cannot make is
 * refused. */
static int tls_check(const struct qimg_tls_creds *tc, const struct addr *a,
		     const char *host, struct qimg_error *err)
{
	if (tc->server)
		return qimg_error_set(err, EINVAL,
				      "Expected TLS credentials for a client "
				      "endpoint");
	if (tc->psk || !tc->verify_peer)
		return 0;
	if (!strcmp(a->type, "unix")) {
		if (!host)
			return qimg_error_set(err, EINVAL,
					      "No hostname for certificate "
					      "validation");
		return qimg_error_set(err, ENOTSUP,
				      "Cannot check the server's certificate "
				      "against '%s' over a Unix socket "
				      "(libnbd checks certificates on TCP "
				      "connections only): use host= and "
				      "port=, or verify-peer=off",
				      host);
	}
	if (host && strcmp(host, a->host))
		return qimg_error_set(err, ENOTSUP,
				      "Cannot check the server's certificate "
				      "against '%s': libnbd checks it against "
				      "the host it connects to, '%s'",
				      host, a->host);
	return 0;
}

/* nbd_connect_tcp, with the address resolved first and a failed connection
 * said as connect_socket says it: 0, 1 when the handshake failed (libnbd's
 * error for the caller to word), or < 0 with err set. */
static int tcp_connect_tls(struct nbd_handle *h, const struct addr *a,
			   struct qimg_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_family = AF_UNSPEC };
	struct addrinfo *res;
	const char *m;
	int g = getaddrinfo(a->host, a->port, &hints, &res), e;

	if (g != 0)
		return qimg_error_set(err, EINVAL,
				      "address resolution failed for %s:%s: %s",
				      a->host, a->port, gai_strerror(g));
	freeaddrinfo(res);
	if (nbd_connect_tcp(h, a->host, a->port) == 0)
		return 0;
	m = nbd_get_error();
	e = nbd_get_errno() ? nbd_get_errno() : EIO;
	if (m && strstr(m, "could not connect to remote host"))
		return qimg_error_set(err, e,
				      "Failed to connect to '%s:%s': %s",
				      a->host, a->port, strerror(e));
	return 1; /* connected; the handshake failed: libnbd's error */
}

/* Ask libnbd for TLS with the credentials tc (-1 with libnbd's error). */
static int tls_setup(struct nbd_handle *h, const struct qimg_tls_creds *tc)
{
	char path[4096];

	if (nbd_set_tls(h, LIBNBD_TLS_REQUIRE) < 0)
		return -1;
	if (tc->psk) {
		snprintf(path, sizeof(path), "%s/keys.psk", tc->dir);
		if (nbd_set_tls_psk_file(h, path) < 0 ||
		    nbd_set_tls_username(h, tc->username) < 0)
			return -1;
		return 0;
	}
	if (nbd_set_tls_certificates(h, tc->dir) < 0 ||
	    nbd_set_tls_verify_peer(h, tc->verify_peer) < 0)
		return -1;
	return 0;
}

static int nbd_open(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err)
{
	struct nbd_state *s = node->opaque;
	const char *export = qimg_opts_get_str(opts, "export", "");
	const char *tls = qimg_opts_get_str(opts, "tls-creds", NULL);
	const struct qimg_tls_creds *tc = NULL;
	struct addr a;
	int64_t size;
	int fd, r;

	r = get_addr(opts, &a, err);
	if (r < 0)
		return r;
	if (tls) {
		tc = qimg_objects_tls(node->objects, tls, err);
		if (!tc)
			return -(err && err->errnum ? err->errnum : ENOENT);
		/* libnbd's TLS has certificates and PSK, no anonymous mode */
		if (tc->anon)
			return qimg_error_set(err, ENOTSUP,
					      "Anonymous TLS credentials "
					      "('%s') are not supported by "
					      "the NBD client: use "
					      "tls-creds-x509 or tls-creds-psk",
					      tls);
		r = tls_check(tc, &a,
			      qimg_opts_get_str(opts, "tls-hostname", NULL),
			      err);
		if (r < 0)
			return r;
	}
	if (qimg_opts_has(opts, "x-dirty-bitmap")) {
		s->context =
			strdup(qimg_opts_get_str(opts, "x-dirty-bitmap", ""));
		if (!s->context)
			return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = qimg_libnbd_load(err);
	if (r < 0)
		return r;
	s->h = nbd_create();
	if (!s->h)
		return qimg_error_set(err, ENOMEM, "%s", nbd_get_error());
	if (nbd_set_export_name(s->h, export) < 0 ||
	    nbd_add_meta_context(
		    s->h, s->context ? s->context
				     : LIBNBD_CONTEXT_BASE_ALLOCATION) < 0) {
		r = nbd_fail(node, "Could not set up", err);
		goto fail;
	}
	if (tc && tls_setup(s->h, tc) < 0) {
		r = nbd_fail(node, "Could not set up TLS for", err);
		goto fail;
	}
	if (tc && !tc->psk && tc->verify_peer) {
		/* libnbd checks a certificate's name only against the host
		 * it connected to itself; its connection errors in qemu-img's
		 * words */
		r = tcp_connect_tls(s->h, &a, err);
		if (r < 0)
			goto fail;
		fd = r ? -1 : 0;
	} else {
		fd = connect_socket(&a, err);
		if (fd < 0) {
			r = fd;
			goto fail;
		}
		fd = nbd_connect_socket(s->h, fd);
	}
	if (fd < 0) {
		const char *m = nbd_get_error();

		/* The server refused the export: qemu-img's two lines. */
		if (m && strstr(m, "requires TLS encryption first")) {
			r = qimg_error_set(err, EPERM,
					   "The server requires TLS: did you "
					   "forget a valid tls-creds?");
		} else if (!m || !strstr(m, "has no export named")) {
			r = qimg_error_set(err, EIO, "%s", m);
		} else {
			r = qimg_error_set(err, ENOENT,
					   "Requested export not available\n"
					   "server reported: export '%s' not "
					   "present",
					   export);
		}
		goto fail;
	}
	size = nbd_get_size(s->h);
	if (size < 0) {
		r = nbd_fail(node, "Could not get the size of", err);
		goto fail;
	}
	s->has_context =
		nbd_can_meta_context(
			s->h, s->context ? s->context
					 : LIBNBD_CONTEXT_BASE_ALLOCATION) > 0;
	if (s->context && !s->has_context) {
		r = qimg_error_set(err, EINVAL,
				   "Could not open image: Invalid argument");
		goto fail;
	}
	if ((node->flags & QIMG_OPEN_RDWR) && nbd_is_read_only(s->h) > 0) {
		r = qimg_error_set(err, EACCES,
				   "Could not open image: Permission denied");
		goto fail;
	}
	/* Seen in whole sectors, as QEMU's client shows an export: the
	 * tail past an odd-sized export's end reads as zeros. */
	s->size = (uint64_t)size;
	node->size = ((uint64_t)size + 511) / 512 * 512;
	node->zero_init = false;
	node->limits.max_transfer = 32u << 20; /* NBD's usual maximum */
	return 0;
fail:
	nbd_close(s->h);
	s->h = NULL;
	free(s->context);
	s->context = NULL;
	return r;
}

static void nbd_close_node(struct qimg_node *node)
{
	struct nbd_state *s = node->opaque;

	if (s->h) {
		nbd_shutdown(s->h, 0);
		nbd_close(s->h);
	}
	s->h = NULL;
	free(s->context);
	s->context = NULL;
}

static int nbd_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct nbd_state *s = node->opaque;

	if (off + len > s->size) { /* the sector's tail past the export */
		size_t in = off < s->size ? (size_t)(s->size - off) : 0;

		memset((char *)buf + in, 0, len - in);
		len = in;
	}
	if (len && nbd_pread(s->h, buf, len, off, 0) < 0)
		return nbd_fail(node, "Could not read", err);
	return 0;
}

static int nbd_write(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err)
{
	struct nbd_state *s = node->opaque;

	if (nbd_pwrite(s->h, buf, len, off, 0) < 0)
		return nbd_fail(node, "Could not write", err);
	return 0;
}

static int nbd_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		      unsigned int flags, struct qimg_error *err)
{
	struct nbd_state *s = node->opaque;
	uint32_t f =
		(flags & QIMG_ZERO_MAY_UNMAP) ? 0 : LIBNBD_CMD_FLAG_NO_HOLE;

	if (nbd_can_zero(s->h) <= 0)
		return -ENOTSUP;
	while (len > 0) {
		uint64_t n = len < (1u << 30) ? len : (1u << 30);

		if (nbd_zero(s->h, n, off, f) < 0)
			return nbd_fail(node, "Could not write zeroes to", err);
		off += n;
		len -= n;
	}
	return 0;
}

static int nbd_discard_node(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_error *err)
{
	struct nbd_state *s = node->opaque;

	if (nbd_can_trim(s->h) <= 0)
		return -ENOTSUP;
	while (len > 0) {
		uint64_t n = len < (1u << 30) ? len : (1u << 30);

		if (nbd_trim(s->h, n, off, 0) < 0)
			return nbd_fail(node, "Could not discard", err);
		off += n;
		len -= n;
	}
	return 0;
}

static int nbd_flush_node(struct qimg_node *node, struct qimg_error *err)
{
	struct nbd_state *s = node->opaque;

	if (nbd_can_flush(s->h) <= 0)
		return 0;
	if (nbd_flush(s->h, 0) < 0)
		return nbd_fail(node, "Could not flush", err);
	return 0;
}

struct status_cb {
	const char *context;
	uint64_t len;
	uint32_t flags;
	bool got;
};

static int status_extent(void *opaque, const char *metacontext, uint64_t offset,
			 uint32_t *entries, size_t nr, int *error)
{
	struct status_cb *c = opaque;

	if (strcmp(metacontext, c->context) || nr < 2 || c->got)
		return 0;
	c->len = entries[0];
	/* Other contexts read as base:allocation's two bits; larger values
	 * (allocation depths past 2) count as 2, as QEMU's client does. */
	c->flags = entries[1] > 3 ? 2 : entries[1];
	c->got = true;
	return 0;
}

static int nbd_block_status_node(struct qimg_node *node, uint64_t off,
				 uint64_t len, struct qimg_extent *ext,
				 struct qimg_error *err)
{
	struct nbd_state *s = node->opaque;
	struct status_cb c = {
		.context = s->context ? s->context
				      : LIBNBD_CONTEXT_BASE_ALLOCATION,
	};
	uint64_t q;

	ext->map = off;
	ext->file = node;
	if (off >= s->size) { /* the sector's tail past the export */
		ext->len = len;
		ext->flags = QIMG_BS_ZERO;
		return 0;
	}
	if (len > s->size - off)
		len = s->size - off;
	q = len < NBD_MAX_STATUS ? len : NBD_MAX_STATUS;
	ext->len = len;
	ext->flags = QIMG_BS_DATA | QIMG_BS_OFFSET_VALID;
	if (!s->has_context)
		return 0;
	if (nbd_block_status(s->h, q, off,
			     (nbd_extent_callback){ .callback = status_extent,
						    .user_data = &c },
			     0) < 0)
		return nbd_fail(node, "Could not get block status of", err);
	if (!c.got || !c.len)
		return 0;
	ext->len = c.len < len ? c.len : len;
	/* base:allocation bits: 1 = hole, 2 = reads as zeros. */
	ext->flags = QIMG_BS_OFFSET_VALID;
	if (!(c.flags & LIBNBD_STATE_HOLE))
		ext->flags |= QIMG_BS_DATA;
	if (c.flags & LIBNBD_STATE_ZERO)
		ext->flags |= QIMG_BS_ZERO;
	return 0;
}

/* An export has the size its server gives.  A size within it is taken
 * (what a preallocating format asks for is there already) unless the
 * caller wants that exact size (qemu-img resize), as QEMU's client does. */
static int nbd_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			const char *prealloc, struct qimg_error *err)
{
	if ((flags & QIMG_TRUNCATE_EXACT) && size != node->size)
		return qimg_error_set(err, ENOTSUP, "Cannot resize NBD nodes");
	if (size > node->size)
		return qimg_error_set(err, ENOTSUP, "Cannot grow NBD nodes");
	return 0;
}

static int64_t nbd_length(struct qimg_node *node)
{
	struct nbd_state *s = node->opaque;
	int64_t n = nbd_get_size(s->h);

	return n < 0 ? -EIO : n;
}

static int64_t nbd_allocated_size(struct qimg_node *node)
{
	return -1;
}

/* An option's text whatever its JSON type (json:{"path": 42} names the
 * socket "42"); buf holds numbers. */
static const char *text(const struct qimg_value *v, char *buf)
{
	if (!v)
		return NULL;
	switch (qimg_value_type(v)) {
	case QIMG_VALUE_STR:
		return qimg_value_get_str(v);
	case QIMG_VALUE_INT:
	case QIMG_VALUE_UINT:
		snprintf(buf, 32, "%lld", (long long)qimg_value_get_int(v));
		return buf;
	case QIMG_VALUE_DOUBLE:
		return qimg_value_get_double_text(v);
	default:
		return NULL;
	}
}

static char *nbd_exact_filename(struct qimg_node *node)
{
	const struct qimg_value *o = node->options;
	const struct qimg_value *srv = qimg_dict_get(o, "server");
	const char *type, *host, *port, *path, *export;
	char *r = NULL;

	char bt[32], bh[32], bp[32], bpa[32], be[32];

	export = text(qimg_dict_get(o, "export"), be);
	if (srv) {
		type = text(qimg_dict_get(srv, "type"), bt);
		host = text(qimg_dict_get(srv, "host"), bh);
		port = text(qimg_dict_get(srv, "port"), bp);
		path = text(qimg_dict_get(srv, "path"), bpa);
	} else {
		host = text(qimg_dict_get(o, "host"), bh);
		port = text(qimg_dict_get(o, "port"), bp);
		path = text(qimg_dict_get(o, "path"), bpa);
		type = path ? "unix" : "inet";
		if (!port)
			port = NBD_DEFAULT_PORT;
	}
	if (qimg_dict_get(o, "x-dirty-bitmap") || !type)
		return NULL;
	if (!export)
		export = "";
	if (!strcmp(type, "unix") && path) {
		if (asprintf(&r, "nbd+unix://%s%s?socket=%s",
			     *export ? "/" : "", export, path) < 0)
			return NULL;
	} else if (!strcmp(type, "inet") && host && port) {
		bool v6 = strchr(host, ':') != NULL;

		if (asprintf(&r, "nbd://%s%s%s:%s%s%s", v6 ? "[" : "", host,
			     v6 ? "]" : "", port, *export ? "/" : "",
			     export) < 0)
			return NULL;
	}
	return r;
}

const struct qimg_driver qimg_driver_nbd = {
	.name = "nbd",
	.kind = QIMG_DRIVER_PROTOCOL,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct nbd_state),
	.create_opts = nbd_create_opts,
	.protocols = nbd_protocols,
	.parse_filename = nbd_parse_filename,
	.runtime_opts = nbd_runtime_opts,
	.strong_opts = nbd_strong_opts,
	.exact_filename = nbd_exact_filename,
	.open = nbd_open,
	.close = nbd_close_node,
	.read = nbd_read,
	.write = nbd_write,
	.write_zeroes = nbd_zeroes,
	.discard = nbd_discard_node,
	.flush = nbd_flush_node,
	.block_status = nbd_block_status_node,
	.truncate = nbd_truncate,
	.length = nbd_length,
	.allocated_size = nbd_allocated_size,
};
