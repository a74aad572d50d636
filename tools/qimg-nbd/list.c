/* SPDX-License-Identifier: MIT */
/* qimg-nbd -L: connect to an NBD server as a client and list its exports
 * as qemu-nbd -L prints them: for each, its description, size,
 * transmission flags, block size constraints and metadata contexts. */

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

struct lexport {
	char *name, *desc;
	uint64_t size;
	uint16_t flags;
	bool has_info, has_block;
	uint32_t min_block, opt_block, max_block;
	char *ctx[MAX_CONTEXTS];
	unsigned int nctx;
};

static int rd(int fd, void *buf, size_t len)
{
	return nbd_fd_recv(fd, buf, len);
}

static int wr(int fd, const void *buf, size_t len)
{
	return nbd_fd_send(fd, buf, len, false);
}

static int send_opt(int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t h[16];
	int r;

	memcpy(h, "IHAVEOPT", 8);
	nbds_put32(h + 8, opt);
	nbds_put32(h + 12, len);
	r = wr(fd, h, sizeof(h));
	return r == 0 && len ? wr(fd, data, len) : r;
}

/* One option reply: *type, the data (malloc'd) in *data, *len. */
static int recv_reply(int fd, uint32_t *type, uint8_t **data, uint32_t *len)
{
	uint8_t h[20];
	int r = rd(fd, h, sizeof(h));

	if (r < 0)
		return r;
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

static char *strndup_safe(const uint8_t *p, uint32_t n)
{
	char *s = malloc((size_t)n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = 0;
	}
	return s;
}

static int connect_to(const struct nbd_tool *nt, int *out)
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
	*out = fd;
	return 0;
}

/* Send option opt for export `name`: its length and bytes, then tail. */
static int send_named_opt(int fd, uint32_t opt, const char *name,
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
static int info(int fd, struct lexport *x)
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
			free(d);
			return type == NBDS_REP_ACK ? 0 : -EPROTO;
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
static int contexts(int fd, struct lexport *x)
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

static void print_export(const struct lexport *x)
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
	printf("  available meta contexts: %u\n", x->nctx);
	for (i = 0; i < x->nctx; i++)
		printf("   %s\n", x->ctx[i]);
}

int nbd_list(struct nbd_tool *nt)
{
	struct lexport *x = NULL;
	unsigned int nx = 0, i, k;
	uint8_t hello[18], *d = NULL, cf[4];
	uint32_t type, len;
	int fd, r;

	r = connect_to(nt, &fd);
	if (r < 0)
		return r;
	r = rd(fd, hello, sizeof(hello));
	if (r == 0 && (nbds_get64(hello) != NBDS_MAGIC ||
		       nbds_get64(hello + 8) != NBDS_IHAVEOPT))
		r = -EPROTO;
	if (r == 0) {
		nbds_put32(cf, NBDS_FLAG_C_FIXED_NEWSTYLE |
				       (hello[17] & NBDS_FLAG_NO_ZEROES
						? NBDS_FLAG_C_NO_ZEROES
						: 0));
		r = wr(fd, cf, 4);
	}
	/* Structured replies first, so that the flags say what a client
	 * that asks for them gets. */
	if (r == 0)
		r = send_opt(fd, NBDS_OPT_STRUCTURED_REPLY, NULL, 0);
	if (r == 0) {
		r = recv_reply(fd, &type, &d, &len);
		free(d);
	}
	if (r == 0)
		r = send_opt(fd, NBDS_OPT_LIST, NULL, 0);
	while (r == 0) {
		d = NULL;
		r = recv_reply(fd, &type, &d, &len);
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
		free(d);
		if (type != NBDS_REP_ACK)
			r = -EPROTO;
		break;
	}
	for (i = 0; r == 0 && i < nx; i++) {
		r = info(fd, &x[i]);
		if (r == 0)
			r = contexts(fd, &x[i]);
	}
	if (r == 0) {
		(void)send_opt(fd, NBDS_OPT_ABORT, NULL, 0);
		printf("exports available: %u\n", nx);
		for (i = 0; i < nx; i++)
			print_export(&x[i]);
	} else {
		nbd_err(nt, "Unable to list exports: %s", strerror(-r));
	}
	close(fd);
	for (i = 0; i < nx; i++) {
		free(x[i].name);
		free(x[i].desc);
		for (k = 0; k < x[i].nctx; k++)
			free(x[i].ctx[k]);
	}
	free(x);
	return r;
}
