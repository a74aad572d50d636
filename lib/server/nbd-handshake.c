/* SPDX-License-Identifier: MIT */
/* NBD negotiation, fixed newstyle: the greeting, then option haggling
 * until NBD_OPT_GO or NBD_OPT_EXPORT_NAME picks the export (transmission
 * begins) or the client aborts.  Every option's length is bounded and
 * checked against its contents; unknown options get NBD_REP_ERR_UNSUP. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/nbd-conn.h"

void nbds_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void nbds_put32(uint8_t *p, uint32_t v)
{
	nbds_put16(p, (uint16_t)(v >> 16));
	nbds_put16(p + 2, (uint16_t)v);
}

void nbds_put64(uint8_t *p, uint64_t v)
{
	nbds_put32(p, (uint32_t)(v >> 32));
	nbds_put32(p + 4, (uint32_t)v);
}

uint16_t nbds_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t nbds_get32(const uint8_t *p)
{
	return ((uint32_t)nbds_get16(p) << 16) | nbds_get16(p + 2);
}

uint64_t nbds_get64(const uint8_t *p)
{
	return ((uint64_t)nbds_get32(p) << 32) | nbds_get32(p + 4);
}

uint16_t nbds_tflags(const struct qimg_nbd_export *exp, bool structured)
{
	uint16_t f = NBDS_TF_HAS_FLAGS | NBDS_TF_SEND_FLUSH | NBDS_TF_SEND_FUA |
		     NBDS_TF_SEND_CACHE;

	/* DF only means something with structured replies. */
	if (structured)
		f |= NBDS_TF_SEND_DF;
	if (exp->readonly)
		f |= NBDS_TF_READ_ONLY;
	else
		f |= NBDS_TF_SEND_TRIM | NBDS_TF_SEND_WRITE_ZEROES |
		     NBDS_TF_SEND_FAST_ZERO;
	if (exp->multi_conn)
		f |= NBDS_TF_CAN_MULTI_CONN;
	return f;
}

const char *nbds_ctx_name(const struct qimg_nbd_export *exp, enum nbds_ctx id,
			  char *buf, size_t len)
{
	switch (id) {
	case NBDS_CTX_ALLOCATION:
		return "base:allocation";
	case NBDS_CTX_DEPTH:
		return exp->allocation_depth ? "qemu:allocation-depth" : "";
	default:
		if ((unsigned int)id - NBDS_CTX_BITMAP >= exp->nbitmaps)
			return "";
		snprintf(buf, len, "qemu:dirty-bitmap:%s",
			 exp->bitmaps[id - NBDS_CTX_BITMAP].name);
		return buf;
	}
}

/* One option reply. */
static int reply(struct nbds_conn *c, uint32_t opt, uint32_t type,
		 const void *data, uint32_t len)
{
	uint8_t h[20];
	int r;

	nbds_put64(h, NBDS_REP_MAGIC);
	nbds_put32(h + 8, opt);
	nbds_put32(h + 12, type);
	nbds_put32(h + 16, len);
	r = c->io->send(c->io->opaque, h, sizeof(h), len > 0);
	if (r == 0 && len)
		r = c->io->send(c->io->opaque, data, len, false);
	return r;
}

/* An error reply with a message for the client to show. */
static int reply_err(struct nbds_conn *c, uint32_t opt, uint32_t type,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int reply_err(struct nbds_conn *c, uint32_t opt, uint32_t type,
		     const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply(c, opt, type, msg, (uint32_t)strlen(msg));
}

/* Read and drop n bytes (an option too long to hold). */
static int discard_bytes(struct nbds_conn *c, uint64_t n)
{
	uint8_t junk[4096];
	int r = 0;

	while (r == 0 && n > 0) {
		size_t k = n < sizeof(junk) ? (size_t)n : sizeof(junk);

		r = c->io->recv(c->io->opaque, junk, k);
		n -= k;
	}
	return r;
}

/* A cursor over one option's data. */
struct cursor {
	const uint8_t *p;
	uint32_t left;
};

static bool take32(struct cursor *cu, uint32_t *v)
{
	if (cu->left < 4)
		return false;
	*v = nbds_get32(cu->p);
	cu->p += 4;
	cu->left -= 4;
	return true;
}

static bool take16(struct cursor *cu, uint16_t *v)
{
	if (cu->left < 2)
		return false;
	*v = nbds_get16(cu->p);
	cu->p += 2;
	cu->left -= 2;
	return true;
}

/* A length-prefixed string: points into the option data. */
static bool take_str(struct cursor *cu, const char **s, uint32_t *len)
{
	if (!take32(cu, len) || *len > cu->left)
		return false;
	*s = (const char *)cu->p;
	cu->p += *len;
	cu->left -= *len;
	return true;
}

static bool is_export(const struct nbds_conn *c, const char *name, uint32_t len)
{
	return strlen(c->exp->name) == len && !memcmp(c->exp->name, name, len);
}

static int info_reply(struct nbds_conn *c, uint32_t opt, uint16_t type,
		      const void *body, uint32_t len)
{
	uint8_t buf[2 + 4096];

	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	nbds_put16(buf, type);
	memcpy(buf + 2, body, len);
	return reply(c, opt, NBDS_REP_INFO, buf, len + 2);
}

/* NBD_OPT_INFO and NBD_OPT_GO: 1 = enter transmission (GO accepted). */
static int opt_info(struct nbds_conn *c, uint32_t opt, struct cursor *cu)
{
	const struct qimg_nbd_export *exp = c->exp;
	bool want_name = false, want_desc = false, want_bs = false;
	uint32_t align;
	const char *name;
	uint32_t nlen;
	uint16_t nreq, t = 0, i;
	uint8_t b[12];
	int r;

	if (!take_str(cu, &name, &nlen) || !take16(cu, &nreq) ||
	    cu->left != 2u * nreq)
		return reply_err(c, opt, NBDS_REP_ERR_INVALID,
				 "request data has the wrong length");
	for (i = 0; i < nreq; i++) {
		take16(cu, &t);
		want_name |= t == NBDS_INFO_NAME;
		want_desc |= t == NBDS_INFO_DESCRIPTION;
		want_bs |= t == NBDS_INFO_BLOCK_SIZE;
	}
	if (!is_export(c, name, nlen))
		return reply_err(c, opt, NBDS_REP_ERR_UNKNOWN,
				 "export '%.*s' not present",
				 (int)(nlen > 200 ? 200 : nlen), name);
	r = 0;
	if (want_name)
		r = info_reply(c, opt, NBDS_INFO_NAME, exp->name,
			       (uint32_t)strlen(exp->name));
	if (r == 0 && want_desc && exp->description)
		r = info_reply(c, opt, NBDS_INFO_DESCRIPTION, exp->description,
			       (uint32_t)strlen(exp->description));
	if (r == 0) {
		/* Any alignment is served (the block layer pads); the image's
		 * own alignment, as QEMU keeps it, is told to a client that
		 * asks for block sizes (or only asks, NBD_OPT_INFO) and will
		 * keep to it; an export with an offset is a raw node. */
		align = exp->offset ? 1 : qimg_node_export_align(exp->node);
		if (opt != NBDS_OPT_INFO && !want_bs)
			align = 1;
		nbds_put32(b, align);
		nbds_put32(b + 4, align > 4096 ? align : 4096);
		nbds_put32(b + 8, NBDS_MAX_PAYLOAD);
		r = info_reply(c, opt, NBDS_INFO_BLOCK_SIZE, b, 12);
	}
	if (r == 0) {
		nbds_put64(b, exp->size);
		nbds_put16(b + 8, nbds_tflags(exp, c->structured));
		r = info_reply(c, opt, NBDS_INFO_EXPORT, b, 10);
	}
	if (r == 0)
		r = reply(c, opt, NBDS_REP_ACK, NULL, 0);
	return r < 0 ? r : opt == NBDS_OPT_GO;
}

/* Does the query select context id?  A namespace alone ("base:",
 * "qemu:", "qemu:dirty-bitmap:") lists all of it, in LIST only. */
static bool query_matches(const struct qimg_nbd_export *exp, enum nbds_ctx id,
			  const char *q, uint32_t qlen, bool list)
{
	char buf[1100];
	const char *name = nbds_ctx_name(exp, id, buf, sizeof(buf));
	size_t n = strlen(name);

	if (!n)
		return false;
	if (qlen == n && !memcmp(q, name, n))
		return true;
	if (!list || qlen >= n || memcmp(q, name, qlen))
		return false;
	/* A prefix: only a whole namespace counts. */
	return q[qlen - 1] == ':' &&
	       (qlen == 5 || (qlen == 18 && id >= NBDS_CTX_BITMAP));
}

static int meta_reply(struct nbds_conn *c, uint32_t opt, enum nbds_ctx id)
{
	char buf[1100];
	uint8_t out[4 + 1100];
	const char *name = nbds_ctx_name(c->exp, id, buf, sizeof(buf));
	size_t n = strlen(name);

	nbds_put32(out, (uint32_t)id);
	memcpy(out + 4, name, n);
	return reply(c, opt, NBDS_REP_META_CONTEXT, out, (uint32_t)(4 + n));
}

static int opt_meta(struct nbds_conn *c, uint32_t opt, struct cursor *cu)
{
	bool list = opt == NBDS_OPT_LIST_META_CONTEXT;
	bool sel[NBDS_NCTX] = { false };
	const char *name, *q;
	uint32_t nlen, nq, qlen, i;
	int id, r = 0;

	if (!list && !c->structured)
		return reply_err(c, opt, NBDS_REP_ERR_INVALID,
				 "request structured replies first");
	if (!take_str(cu, &name, &nlen) || !take32(cu, &nq))
		return reply_err(c, opt, NBDS_REP_ERR_INVALID,
				 "request data has the wrong length");
	/* Parse every query before answering any. */
	{
		struct cursor scan = *cu;

		for (i = 0; i < nq; i++)
			if (!take_str(&scan, &q, &qlen))
				return reply_err(c, opt, NBDS_REP_ERR_INVALID,
						 "query %u has the wrong "
						 "length",
						 i);
		if (scan.left)
			return reply_err(c, opt, NBDS_REP_ERR_INVALID,
					 "request data has the wrong length");
	}
	if (!is_export(c, name, nlen))
		return reply_err(c, opt, NBDS_REP_ERR_UNKNOWN,
				 "export '%.*s' not present",
				 (int)(nlen > 200 ? 200 : nlen), name);
	if (list && nq == 0) {
		char buf[1100];

		for (id = 0; id < NBDS_NCTX; id++)
			sel[id] = *nbds_ctx_name(c->exp, (enum nbds_ctx)id, buf,
						 sizeof(buf));
	}
	for (i = 0; i < nq; i++) {
		take_str(cu, &q, &qlen);
		for (id = 0; id < NBDS_NCTX; id++)
			if (query_matches(c->exp, (enum nbds_ctx)id, q, qlen,
					  list))
				sel[id] = true;
	}
	for (id = 0; r == 0 && id < NBDS_NCTX; id++)
		if (sel[id])
			r = meta_reply(c, opt, (enum nbds_ctx)id);
	if (!list)
		memcpy(c->ctx, sel, sizeof(sel));
	return r < 0 ? r : reply(c, opt, NBDS_REP_ACK, NULL, 0);
}

static int opt_list(struct nbds_conn *c, uint32_t opt, uint32_t len)
{
	const struct qimg_nbd_export *exp = c->exp;
	size_t n = strlen(exp->name);
	size_t d = exp->description ? strlen(exp->description) : 0;
	uint8_t *buf;
	int r;

	if (len)
		return reply_err(c, opt, NBDS_REP_ERR_INVALID,
				 "no data expected");
	buf = malloc(4 + n + d);
	if (!buf)
		return -ENOMEM;
	nbds_put32(buf, (uint32_t)n);
	memcpy(buf + 4, exp->name, n);
	if (d)
		memcpy(buf + 4 + n, exp->description, d);
	r = reply(c, opt, NBDS_REP_SERVER, buf, (uint32_t)(4 + n + d));
	free(buf);
	return r < 0 ? r : reply(c, opt, NBDS_REP_ACK, NULL, 0);
}

/* NBD_OPT_EXPORT_NAME: no error reply exists; a wrong name ends the
 * connection.  1 = transmission. */
static int opt_export_name(struct nbds_conn *c, const uint8_t *data,
			   uint32_t len, struct qimg_error *err)
{
	uint8_t b[10 + 124] = { 0 };

	if (!is_export(c, (const char *)data, len))
		return qimg_error_set(err, ENOENT,
				      "client asked for an unknown export");
	nbds_put64(b, c->exp->size);
	nbds_put16(b + 8, nbds_tflags(c->exp, c->structured));
	return c->io->send(c->io->opaque, b, c->no_zeroes ? 10 : sizeof(b),
			   false) < 0
		       ? qimg_error_set(err, EPIPE, "client went away")
		       : 1;
}

int nbds_handshake(struct nbds_conn *c, struct qimg_error *err)
{
	uint8_t hello[18], h[16];
	uint8_t *data = NULL;
	uint32_t flags, opt, len;
	int r;

	nbds_put64(hello, NBDS_MAGIC);
	nbds_put64(hello + 8, NBDS_IHAVEOPT);
	nbds_put16(hello + 16, NBDS_FLAG_FIXED_NEWSTYLE | NBDS_FLAG_NO_ZEROES);
	if (c->io->send(c->io->opaque, hello, sizeof(hello), false) < 0 ||
	    c->io->recv(c->io->opaque, h, 4) < 0)
		return 1;
	flags = nbds_get32(h);
	if (flags & ~(NBDS_FLAG_C_FIXED_NEWSTYLE | NBDS_FLAG_C_NO_ZEROES))
		return qimg_error_set(err, EINVAL,
				      "client sent unknown flags %#x", flags);
	c->no_zeroes = flags & NBDS_FLAG_C_NO_ZEROES;

	for (;;) {
		struct cursor cu;

		free(data);
		data = NULL;
		if (c->io->recv(c->io->opaque, h, 16) < 0)
			return 1;
		if (nbds_get64(h) != NBDS_IHAVEOPT) {
			r = qimg_error_set(err, EINVAL,
					   "client sent a bad option magic");
			break;
		}
		opt = nbds_get32(h + 8);
		len = nbds_get32(h + 12);
		if (len > NBDS_MAX_OPTION) {
			if (opt == NBDS_OPT_EXPORT_NAME ||
			    discard_bytes(c, len) < 0 ||
			    reply_err(c, opt, NBDS_REP_ERR_TOO_BIG,
				      "option too long") < 0) {
				r = qimg_error_set(err, EINVAL,
						   "client sent an option of "
						   "%u bytes",
						   len);
				break;
			}
			continue;
		}
		data = malloc(len ? len : 1);
		if (!data) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			break;
		}
		if (len && c->io->recv(c->io->opaque, data, len) < 0) {
			r = 2; /* the client left */
			break;
		}
		cu.p = data;
		cu.left = len;
		/* With TLS required, nothing but STARTTLS and ABORT before it;
		 * EXPORT_NAME, which has no error reply, hangs up. */
		if (c->io->starttls && !c->tls && opt != NBDS_OPT_STARTTLS &&
		    opt != NBDS_OPT_ABORT) {
			if (opt == NBDS_OPT_EXPORT_NAME) {
				r = qimg_error_set(err, EPERM,
						   "client asked for an export "
						   "before TLS");
				break;
			}
			r = reply_err(c, opt, NBDS_REP_ERR_TLS_REQD,
				      "Option 0x%x not permitted before TLS",
				      opt);
			if (r != 0)
				break;
			continue;
		}
		switch (opt) {
		case NBDS_OPT_EXPORT_NAME:
			r = opt_export_name(c, data, len, err);
			break;
		case NBDS_OPT_ABORT:
			(void)reply(c, opt, NBDS_REP_ACK, NULL, 0);
			r = 2;
			break;
		case NBDS_OPT_LIST:
			r = opt_list(c, opt, len);
			break;
		case NBDS_OPT_STARTTLS:
			if (!c->io->starttls)
				r = reply_err(c, opt, NBDS_REP_ERR_POLICY,
					      "TLS not configured");
			else if (len)
				r = reply_err(c, opt, NBDS_REP_ERR_INVALID,
					      "no data expected");
			else if (c->tls)
				r = reply_err(c, opt, NBDS_REP_ERR_INVALID,
					      "TLS already started");
			else {
				r = reply(c, opt, NBDS_REP_ACK, NULL, 0);
				if (r == 0)
					r = c->io->starttls(c->io->opaque, err);
				if (r == 0)
					c->tls = true;
				else if (!qimg_error_isset(err))
					qimg_error_set(err, EPROTO,
						       "TLS handshake failed");
			}
			break;
		case NBDS_OPT_INFO:
		case NBDS_OPT_GO:
			r = opt_info(c, opt, &cu);
			break;
		case NBDS_OPT_STRUCTURED_REPLY:
			if (len)
				r = reply_err(c, opt, NBDS_REP_ERR_INVALID,
					      "no data expected");
			else if (c->structured)
				r = reply_err(c, opt, NBDS_REP_ERR_INVALID,
					      "structured replies already "
					      "negotiated");
			else {
				c->structured = true;
				r = reply(c, opt, NBDS_REP_ACK, NULL, 0);
			}
			break;
		case NBDS_OPT_LIST_META_CONTEXT:
		case NBDS_OPT_SET_META_CONTEXT:
			r = opt_meta(c, opt, &cu);
			break;
		default:
			r = reply_err(c, opt, NBDS_REP_ERR_UNSUP,
				      "option %u not supported", opt);
			break;
		}
		if (r != 0)
			break;
	}
	free(data);
	if (r == 2)
		return 1;
	if (r < 0 && !qimg_error_isset(err))
		qimg_error_set(err, -r, "negotiation failed");
	return r == 1 ? 0 : r;
}
