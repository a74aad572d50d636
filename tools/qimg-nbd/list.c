/* SPDX-License-Identifier: MIT */
/* qimg-nbd -L: connect to an NBD server as a client and list its exports
 * as qemu-nbd -L prints them: for each, its description, size,
 * transmission flags, block size constraints and metadata contexts.  With
 * --tls-creds it asks for TLS first (NBD_OPT_STARTTLS) and lists over the
 * session; a server's refusals are told in qemu-nbd's words. */

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "nbd.h"
#include "server/nbd-conn.h"

#define MAX_REPLY (1u << 20)
#define MAX_EXPORTS 4096
#define MAX_CONTEXTS 256

/* The connection: the socket, and the TLS session once there is one. */
struct lconn {
	const struct nbd_list_io *io; /* instead of fd (the fuzz harness) */
	int fd;
	void *tls;
	const struct nbd_tool *nt;
	bool told;	 /* a failure was already told */
	bool oldstyle;	 /* an old-style server: one export, no options */
	bool structured; /* structured replies agreed: contexts to ask */
	char *hostname;	 /* the name the server's certificate must have */
};

struct lexport {
	char *name, *desc;
	uint64_t size;
	uint16_t flags;
	bool has_info, has_block;
	uint32_t min_block, opt_block, max_block;
	char *ctx[MAX_CONTEXTS];
	unsigned int nctx;
};

static int rd(struct lconn *c, void *buf, size_t len)
{
	if (c->io)
		return c->io->recv(c->io->opaque, buf, len);
#ifdef QIMG_HAVE_GNUTLS
	if (c->tls)
		return nbd_tls_recv(c->tls, buf, len);
#endif
	return nbd_fd_recv(c->fd, buf, len);
}

static int wr(struct lconn *c, const void *buf, size_t len)
{
	if (c->io)
		return c->io->send(c->io->opaque, buf, len);
#ifdef QIMG_HAVE_GNUTLS
	if (c->tls)
		return nbd_tls_send(c->tls, buf, len, false);
#endif
	return nbd_fd_send(c->fd, buf, len, false);
}

static int send_opt(struct lconn *fd, uint32_t opt, const void *data,
		    uint32_t len)
{
	uint8_t *h = malloc(16 + (size_t)len);
	int r;

	/* one send, so that a TLS session makes one record of it */
	if (!h)
		return -ENOMEM;
	memcpy(h, "IHAVEOPT", 8);
	nbds_put32(h + 8, opt);
	nbds_put32(h + 12, len);
	if (len)
		memcpy(h + 16, data, len);
	r = wr(fd, h, 16 + (size_t)len);
	free(h);
	return r;
}

/* One option reply: *type, the data (malloc'd) in *data, *len. */
static int recv_reply(struct lconn *fd, uint32_t *type, uint8_t **data,
		      uint32_t *len)
{
	uint8_t h[20];
	int r = rd(fd, h, sizeof(h));

	if (r < 0) {
		/* as qemu-nbd tells a transport's failure */
		if (r == -EPIPE)
			nbd_err(fd->nt, "Failed to read option reply: "
					"Unexpected end-of-file before all "
					"data were read");
		else
			nbd_err(fd->nt, "Failed to read option reply: %s: %s",
				fd->tls ? "Cannot read from TLS channel"
					: "Unable to read from socket",
				strerror(-r));
		fd->told = true;
		return r;
	}
	if (nbds_get64(h) != NBDS_REP_MAGIC)
		return -EPROTO;
	*type = nbds_get32(h + 12);
	*len = nbds_get32(h + 16);
	if (*len > MAX_REPLY)
		return -EPROTO;
	*data = malloc(*len + 1);
	if (!*data)
		return -ENOMEM;
	r = *len ? rd(fd, *data, *len) : 0;
	(*data)[*len] = 0;
	if (r < 0) {
		free(*data);
		*data = NULL;
	}
	return r;
}

static const char *opt_name(uint32_t opt)
{
	static const char *const names[] = {
		[NBDS_OPT_EXPORT_NAME] = "export name",
		[NBDS_OPT_ABORT] = "abort",
		[NBDS_OPT_LIST] = "list",
		[4] = "peek export",
		[NBDS_OPT_STARTTLS] = "starttls",
		[NBDS_OPT_INFO] = "info",
		[NBDS_OPT_GO] = "go",
		[NBDS_OPT_STRUCTURED_REPLY] = "structured reply",
		[NBDS_OPT_LIST_META_CONTEXT] = "list meta context",
		[NBDS_OPT_SET_META_CONTEXT] = "set meta context",
	};

	return opt < sizeof(names) / sizeof(names[0]) && names[opt]
		       ? names[opt]
		       : "<unknown>";
}

/* A server's error reply `type` to option opt, with the message it sent
 * (msg, len bytes), told as qemu-nbd tells it: what was refused, a hint,
 * then the server's words. */
static int reply_error(const struct nbd_tool *nt, struct lconn *c, uint32_t opt,
		       uint32_t type, const uint8_t *msg, uint32_t len)
{
	const char *what;
	bool with_opt = true; /* followed by " option N (name)" */

	switch (type) {
	case NBDS_REP_ERR_UNSUP:
		with_opt = opt != NBDS_OPT_STARTTLS && opt != NBDS_OPT_LIST;
		what = opt == NBDS_OPT_STARTTLS ? "Server does not support "
						  "STARTTLS"
		       : opt == NBDS_OPT_LIST	? "Server does not support "
						  "export lists"
						: "Unsupported";
		break;
	case NBDS_REP_ERR_POLICY:
		what = "Denied by server for";
		break;
	case NBDS_REP_ERR_INVALID:
		what = "Invalid parameters for";
		break;
	case NBDS_REP_ERR_PLATFORM:
		what = "Server lacks support for";
		break;
	case NBDS_REP_ERR_TLS_REQD:
		what = "TLS negotiation required before";
		break;
	case NBDS_REP_ERR_UNKNOWN:
		what = "Requested export not available";
		with_opt = false;
		break;
	case NBDS_REP_ERR_SHUTDOWN:
		what = "Server shutting down before";
		break;
	case NBDS_REP_ERR_BLOCK_SIZE_REQD:
		what = "Server requires INFO_BLOCK_SIZE for";
		break;
	default:
		what = type & (1u << 31) ? "Unknown error code when asking for"
					 : "Unexpected reply to";
	}
	if (with_opt)
		nbd_err(nt, "%s option %u (%s)", what, opt, opt_name(opt));
	else
		nbd_err(nt, "%s", what);
	if (type == NBDS_REP_ERR_TLS_REQD)
		fprintf(stderr, "Did you forget a valid tls-creds?\n");
	if (len && type & (1u << 31))
		fprintf(stderr, "server reported: %.*s\n", (int)len,
			(const char *)msg);
	c->told = true;
	return -EPROTO;
}

static char *strndup_safe(const uint8_t *p, uint32_t n)
{
	char *s = malloc((size_t)n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = 0;
	}
	return s;
}

static int connect_to(const struct nbd_tool *nt, struct lconn *c)
{
	const struct nbd_opts *o = &nt->o;
	char where[512];
	int fd = -1, e = 0;

	if (o->socket) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		snprintf(where, sizeof(where), "%s", o->socket);
		if (strlen(o->socket) >= sizeof(sa.sun_path)) {
			e = ENAMETOOLONG;
		} else {
			strcpy(sa.sun_path, o->socket);
			fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0 ||
			    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
				e = errno;
		}
	} else {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res,
				*ai;
		const char *host = o->bind ? o->bind : "0.0.0.0";
		int g;

		snprintf(where, sizeof(where), "%s:%s", host, o->port);
		g = getaddrinfo(host, o->port, &hints, &res);
		if (g) {
			nbd_err(nt, "address resolution failed for %s: %s",
				where, gai_strerror(g));
			return -EINVAL;
		}
		e = ECONNREFUSED;
		for (ai = res; ai; ai = ai->ai_next) {
			fd = socket(ai->ai_family,
				    ai->ai_socktype | SOCK_CLOEXEC,
				    ai->ai_protocol);
			if (fd >= 0 &&
			    connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
				e = 0;
				break;
			}
			e = errno;
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
	}
	if (e) {
		if (fd >= 0)
			close(fd);
		nbd_err(nt, "Failed to connect to '%s': %s", where,
			strerror(e));
		return -e;
	}
	/* --tls-hostname, else the host connected to (none on a socket) */
	if (o->tls_hostname || !o->socket) {
		c->hostname = strdup(o->tls_hostname ? o->tls_hostname
				     : o->bind	     ? o->bind
						     : "0.0.0.0");
		if (!c->hostname) {
			close(fd);
			nbd_err(nt, "Out of memory");
			return -ENOMEM;
		}
	}
	c->fd = fd;
	return 0;
}

/* Send option opt for export `name`: its length and bytes, then tail. */
static int send_named_opt(struct lconn *fd, uint32_t opt, const char *name,
			  const uint8_t *tail, size_t tail_len)
{
	size_t n = strlen(name);
	uint8_t *req = malloc(4 + n + tail_len);
	int r;

	if (!req)
		return -ENOMEM;
	nbds_put32(req, (uint32_t)n);
	memcpy(req + 4, name, n);
	memcpy(req + 4 + n, tail, tail_len);
	r = send_opt(fd, opt, req, (uint32_t)(4 + n + tail_len));
	free(req);
	return r;
}

/* NBD_OPT_INFO for one export (after the list). */
static int info(struct nbd_tool *nt, struct lconn *fd, struct lexport *x)
{
	/* two requests: the description and the block sizes */
	static const uint8_t want[] = { 0, 2,
					0, NBDS_INFO_DESCRIPTION,
					0, NBDS_INFO_BLOCK_SIZE };
	uint8_t *d = NULL;
	uint32_t type, len;
	int r;

	r = send_named_opt(fd, NBDS_OPT_INFO, x->name, want, sizeof(want));
	while (r == 0) {
		r = recv_reply(fd, &type, &d, &len);
		if (r < 0)
			break;
		if (type != NBDS_REP_INFO) {
			r = type == NBDS_REP_ACK
				    ? 0
				    : reply_error(nt, fd, NBDS_OPT_INFO, type,
						  d, len);
			free(d);
			return r;
		}
		if (len >= 12 && d[0] == 0 && d[1] == NBDS_INFO_EXPORT) {
			x->size = nbds_get64(d + 2);
			x->flags = (uint16_t)(d[10] << 8 | d[11]);
			x->has_info = true;
		} else if (len >= 2 && d[0] == 0 &&
			   d[1] == NBDS_INFO_DESCRIPTION && !x->desc) {
			x->desc = strndup_safe(d + 2, len - 2);
		} else if (len >= 14 && d[0] == 0 &&
			   d[1] == NBDS_INFO_BLOCK_SIZE) {
			x->min_block = nbds_get32(d + 2);
			x->opt_block = nbds_get32(d + 6);
			x->max_block = nbds_get32(d + 10);
			x->has_block = true;
		}
		free(d);
	}
	return r;
}

/* NBD_OPT_LIST_META_CONTEXT with no query: every context. */
static int contexts(struct lconn *fd, struct lexport *x)
{
	static const uint8_t no_queries[4] = { 0 };
	uint8_t *d = NULL;
	uint32_t type, len;
	int r;

	r = send_named_opt(fd, NBDS_OPT_LIST_META_CONTEXT, x->name, no_queries,
			   sizeof(no_queries));
	while (r == 0) {
		r = recv_reply(fd, &type, &d, &len);
		if (r < 0)
			break;
		if (type != NBDS_REP_META_CONTEXT) {
			free(d);
			return 0; /* ACK, or not supported: none */
		}
		if (len >= 4 && x->nctx < MAX_CONTEXTS)
			x->ctx[x->nctx++] = strndup_safe(d + 4, len - 4);
		free(d);
	}
	return r;
}

static void print_export(const struct lexport *x, bool contexts)
{
	static const char *const names[] = {
		NULL,	      "readonly", "flush",  "fua",
		"rotational", "trim",	  "zeroes", "df",
		"multi",      "resize",	  "cache",  "fast-zero",
	};
	unsigned int i;

	printf(" export: '%s'\n", x->name);
	if (x->desc && *x->desc)
		printf("  description: %s\n", x->desc);
	if (x->has_info) {
		printf("  size:  %" PRIu64 "\n", x->size);
		printf("  flags: 0x%x (", x->flags);
		for (i = 1; i < sizeof(names) / sizeof(names[0]); i++)
			if (x->flags & (1u << i))
				printf(" %s", names[i]);
		printf(" )\n");
	}
	if (x->has_block) {
		printf("  min block: %u\n", x->min_block);
		printf("  opt block: %u\n", x->opt_block);
		printf("  max block: %u\n", x->max_block);
	}
	if (!contexts)
		return;
	printf("  available meta contexts: %u\n", x->nctx);
	for (i = 0; i < x->nctx; i++)
		printf("   %s\n", x->ctx[i]);
}

/* The old-style greeting's second magic number (after NBDMAGIC). */
#define OLDSTYLE_MAGIC 0x00420281861253ull

/* A failure told in qemu-nbd's words. */
static int told(struct lconn *c, const char *msg)
{
	nbd_err(c->nt, "%s", msg);
	c->told = true;
	return -EPROTO;
}

/* The greeting, the client's flags, and TLS when asked for: the session
 * set up over c->fd once the server agrees. */
static int start(struct nbd_tool *nt, struct lconn *c, struct lexport *old)
{
	uint8_t hello[18], cf[4], *d = NULL, tail[136];
	uint32_t type, len;
	int r;

	r = rd(c, hello, 16);
	if (r == 0 && nbds_get64(hello) != NBDS_MAGIC)
		r = -EPROTO;
	if (r == 0 && nbds_get64(hello + 8) == OLDSTYLE_MAGIC) {
		/* an old-style server: its one export's size and flags
		 * follow, no options (and so no TLS) */
		if (nt->tls)
			return told(c, "Server does not support STARTTLS");
		r = rd(c, tail, sizeof(tail));
		if (r == 0) {
			old->size = nbds_get64(tail);
			old->flags = (uint16_t)nbds_get32(tail + 8);
			old->has_info = true;
			c->oldstyle = true;
		}
		return r;
	}
	if (r == 0 && nbds_get64(hello + 8) != NBDS_IHAVEOPT)
		r = -EPROTO;
	if (r == 0)
		r = rd(c, hello + 16, 2);
	if (r == 0 && !(hello[17] & NBDS_FLAG_FIXED_NEWSTYLE))
		return told(c,
			    nt->tls ? "Server does not support STARTTLS"
				    : "Server does not support export lists");
	if (r == 0) {
		nbds_put32(cf, NBDS_FLAG_C_FIXED_NEWSTYLE |
				       (hello[17] & NBDS_FLAG_NO_ZEROES
						? NBDS_FLAG_C_NO_ZEROES
						: 0));
		r = wr(c, cf, 4);
	}
	if (r < 0 || !nt->tls)
		return r;
	r = send_opt(c, NBDS_OPT_STARTTLS, NULL, 0);
	if (r == 0)
		r = recv_reply(c, &type, &d, &len);
	if (r == 0 && type != NBDS_REP_ACK)
		r = reply_error(nt, c, NBDS_OPT_STARTTLS, type, d, len);
	free(d);
#ifdef QIMG_HAVE_GNUTLS
	if (r == 0) {
		struct qimg_error err = { 0 };

		r = nbd_tls_client_start(nt->tls, c->fd, c->hostname, &c->tls,
					 &err);
		if (r < 0) {
			nbd_err(nt, "%s", err.msg);
			c->told = true;
		}
	}
#endif
	return r;
}

/* The list over a connection: the greeting on, printed as qemu-nbd -L
 * prints it. */
static int list(struct nbd_tool *nt, struct lconn *cp)
{
	struct lconn c = *cp;
	struct lexport *x = NULL, old = { 0 };
	unsigned int nx = 0, i, k;
	uint8_t *d = NULL;
	uint32_t type, len;
	int r;

	r = start(nt, &c, &old);
	if (r == 0 && c.oldstyle) {
		/* the one export an old-style server has, nameless */
		x = calloc(1, sizeof(*x));
		if (!x || !(old.name = strdup("")))
			r = -ENOMEM;
		else
			x[nx++] = old;
	}
	/* Structured replies first, so that the flags say what a client
	 * that asks for them gets (a refusal is no matter: a server that
	 * wants TLS first says so again to the list); without them there
	 * are no metadata contexts to ask about. */
	if (r == 0 && !c.oldstyle)
		r = send_opt(&c, NBDS_OPT_STRUCTURED_REPLY, NULL, 0);
	if (r == 0 && !c.oldstyle) {
		r = recv_reply(&c, &type, &d, &len);
		c.structured = r == 0 && type == NBDS_REP_ACK;
		free(d);
	}
	if (r == 0 && !c.oldstyle)
		r = send_opt(&c, NBDS_OPT_LIST, NULL, 0);
	while (r == 0 && !c.oldstyle) {
		d = NULL;
		r = recv_reply(&c, &type, &d, &len);
		if (r < 0)
			break;
		if (type == NBDS_REP_SERVER && len >= 4 &&
		    nbds_get32(d) <= len - 4 && nx < MAX_EXPORTS) {
			struct lexport *nxp = realloc(x, (nx + 1) * sizeof(*x));

			if (!nxp) {
				r = -ENOMEM;
			} else {
				x = nxp;
				memset(&x[nx], 0, sizeof(*x));
				x[nx].name = strndup_safe(d + 4, nbds_get32(d));
				nx++;
			}
			free(d);
			continue;
		}
		if (type != NBDS_REP_ACK)
			r = reply_error(nt, &c, NBDS_OPT_LIST, type, d, len);
		free(d);
		break;
	}
	for (i = 0; r == 0 && !c.oldstyle && i < nx; i++) {
		r = info(nt, &c, &x[i]);
		if (r == 0 && c.structured)
			r = contexts(&c, &x[i]);
	}
	if (r == 0) {
		if (!c.oldstyle)
			(void)send_opt(&c, NBDS_OPT_ABORT, NULL, 0);
		printf("exports available: %u\n", nx);
		for (i = 0; i < nx; i++)
			print_export(&x[i], c.structured);
	} else if (!c.told) {
		nbd_err(nt, "Unable to list exports: %s", strerror(-r));
	}
#ifdef QIMG_HAVE_GNUTLS
	if (c.tls)
		nbd_tls_end(c.tls);
#endif
	for (i = 0; i < nx; i++) {
		free(x[i].name);
		free(x[i].desc);
		for (k = 0; k < x[i].nctx; k++)
			free(x[i].ctx[k]);
	}
	free(x);
	return r;
}

int nbd_list(struct nbd_tool *nt)
{
	struct lconn c = { .fd = -1, .nt = nt };
	int r = connect_to(nt, &c);

	if (r < 0)
		return r;
	r = list(nt, &c);
	close(c.fd);
	free(c.hostname);
	return r;
}

int nbd_list_over(struct nbd_tool *nt, const struct nbd_list_io *io)
{
	struct lconn c = { .io = io, .fd = -1, .nt = nt };

	return list(nt, &c);
}
