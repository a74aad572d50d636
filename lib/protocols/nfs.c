/* SPDX-License-Identifier: MIT */
/* The nfs protocol driver: one file on an NFSv3 server, with libnfs
 * (loaded on first use).  Names (nfs://HOST[:PORT]/EXPORT/FILE?PARAMS) are
 * split here, with qemu-img's checks and words, into the options qemu-img's
 * nfs driver takes (server.host, path, user, group, ...).  Open mounts the
 * directory part of the path and opens its last component, as qemu-img
 * does; a create makes the file (mode 0600) and empties it.
 *
 * Concurrency: one libnfs context per node, shared by every thread that
 * calls in (convert's workers).  A request becomes READ/WRITE calls of at
 * most `chunk` bytes, NFS_INFLIGHT of them at once per request, submitted
 * under the node's lock.  The context's socket is polled by one thread at
 * a time (the lock released meanwhile); it runs every completion and wakes
 * the others, whose calls may have finished too.  A submitter wakes the
 * poller through a pipe so that it polls for the new calls' output.  A
 * connection that breaks is torn down under the lock (libnfs then fails
 * every call in flight) and the node fails from then on. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/driver.h"
#include "util/uri.h"
#include "protocols/libnfs-dl.h"
#include "protocols/nfs.h"
#include "util/value-check.h"

#define NFS_CHUNK_MAX (1u << 20) /* bytes per READ/WRITE call at most */
#define NFS_INFLIGHT 8		 /* calls of one request at once */
/* qemu-img's bounds for its options (values above are lowered). */
#define NFS_MAX_READAHEAD (1u << 20)
#define NFS_MAX_PAGECACHE 2048u /* pages */
#define NFS_MAX_DEBUG 2
#define NFS_CREATE_MODE 0600

enum nfs_call_kind {
	CALL_READ,
	CALL_WRITE,
	CALL_FSYNC,
	CALL_TRUNC,
	CALL_STAT
};

/* One call on the wire; filled by call_done (under the node's lock). */
struct nfs_call {
	enum nfs_call_kind kind;
	uint8_t *buf;
	uint64_t off;
	size_t len;
	bool busy; /* submitted, not yet seen done */
	bool done;
	int status; /* bytes, 0, or -errno */
	struct nfs_stat_64 st;
	char msg[256];
};

struct nfs_state {
	struct nfs_context *ctx;
	struct nfsfh *fh;
	pthread_mutex_t lock; /* ctx, polling, size */
	pthread_cond_t round; /* a poll round ended */
	bool sync_init;
	bool polling;	/* a thread polls the socket, unlocked */
	int wake[2];	/* pipe: new calls for the poller */
	char lost[256]; /* why the connection was dropped */
	uint64_t size;
	uint32_t chunk;
	/* What the name is built from (exact_filename). */
	char *host, *path;
	int64_t uid, gid;
};

/* The numeric options, in the order qemu-img checks them. */
enum {
	OPT_USER,
	OPT_GROUP,
	OPT_SYNCNT,
	OPT_READAHEAD,
	OPT_PAGECACHE,
	OPT_DEBUG,
	OPT_N
};
static const char *const num_opts[OPT_N] = {
	"user",		  "group",	     "tcp-syn-count",
	"readahead-size", "page-cache-size", "debug"
};
/* The same, as URL query parameters. */
static const char *const url_params[OPT_N] = { "uid",	     "gid",
					       "tcp-syncnt", "readahead",
					       "pagecache",  "debug" };

struct nfs_conf {
	const char *host, *path;
	bool has[OPT_N];
	int64_t v[OPT_N];
	char buf[2][32];
};

static const char *const nfs_protocols[] = { "nfs", NULL };

/* Every value is checked by get_conf against the tree, which keeps JSON
 * types (qemu-img's "expects integer"). */
static const struct qimg_opt_desc nfs_runtime_opts[] = {
	{ "server", QIMG_OPT_STRING, NULL, NULL },
	{ "server.*", QIMG_OPT_STRING, NULL, NULL },
	{ "path", QIMG_OPT_STRING, NULL, NULL },
	{ "user", QIMG_OPT_STRING, NULL, NULL },
	{ "group", QIMG_OPT_STRING, NULL, NULL },
	{ "tcp-syn-count", QIMG_OPT_STRING, NULL, NULL },
	{ "readahead-size", QIMG_OPT_STRING, NULL, NULL },
	{ "page-cache-size", QIMG_OPT_STRING, NULL, NULL },
	{ "debug", QIMG_OPT_STRING, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct qimg_opt_desc nfs_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const nfs_strong_opts[] = { "server", "path", "user",
					       "group", NULL };

/* --- names ---------------------------------------------------------------- */

/* RFC 3986: unreserved and sub-delims, plus the characters of `extra`. */
static bool uri_char(int c, const char *extra)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && (strchr("-._~!$&'()*+,;=", c) || strchr(extra, c));
}

/* s[0..n) is made of URI characters (and %HH escapes). */
static bool uri_chars(const char *s, size_t n, const char *extra)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || qimg_hex_digit(s[i + 1]) < 0 ||
			    qimg_hex_digit(s[i + 2]) < 0)
				return false;
			i += 2;
		} else if (!uri_char((unsigned char)s[i], extra)) {
			return false;
		}
	}
	return true;
}

/* [USERINFO@]HOST[:PORT]: *h and *hn are the host's text. */
static bool authority_ok(const char *a, size_t n, const char **h, size_t *hn)
{
	const char *at = memchr(a, '@', n), *end = a + n, *hend;
	unsigned long port = 0;

	if (at && !uri_chars(a, (size_t)(at - a), ":"))
		return false;
	*h = at ? at + 1 : a;
	if (*h < end && **h == '[') {
		const char *close = memchr(*h, ']', (size_t)(end - *h));

		if (!close || !uri_chars(*h + 1, (size_t)(close - *h - 1), ":"))
			return false;
		hend = close + 1;
	} else {
		hend = memchr(*h, ':', (size_t)(end - *h));
		if (!hend)
			hend = end;
		if (!uri_chars(*h, (size_t)(hend - *h), ""))
			return false;
	}
	*hn = (size_t)(hend - *h);
	if (hend == end)
		return true;
	/* A port: digits, at most 65535 (checked, then not used). */
	if (*hend != ':' || hend + 1 == end)
		return false;
	for (hend++; hend < end; hend++) {
		if (*hend < '0' || *hend > '9')
			return false;
		port = port * 10 + (unsigned long)(*hend - '0');
		if (port > 65535)
			return false;
	}
	return true;
}

/* An unsigned number as qemu-img takes a query parameter's: base 0, no
 * sign, nothing after it. */
static bool parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		s++;
	if (*s == '-' || !*s)
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return false;
	*out = v;
	return true;
}

/* One query parameter (name decoded; value NULL when it has no '='). */
static int put_param(struct qimg_value *o, const char *name, const char *value,
		     struct qimg_error *err)
{
	char num[24];
	uint64_t v;
	size_t i;

	if (!value)
		return qimg_error_set(err, EINVAL,
				      "Value for NFS parameter expected: %s",
				      name);
	if (!parse_u64(value, &v))
		return qimg_error_set(err, EINVAL,
				      "Illegal value for NFS parameter: %s",
				      name);
	for (i = 0; i < OPT_N && strcmp(name, url_params[i]); i++)
		;
	if (i == OPT_N)
		return qimg_error_set(err, EINVAL,
				      "Unknown NFS parameter name: %s", name);
	snprintf(num, sizeof(num), "%" PRIu64, v);
	if (qimg_dict_put_str(o, num_opts[i], num) < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

/* The query q[0..n), split as qemu-img splits it: at '&', or at ';' when
 * no '&' follows; "=value" is skipped; a parameter named by nothing but
 * "=" takes the rest of the query as its name. */
static int parse_query(struct qimg_value *o, const char *q, size_t n,
		       struct qimg_error *err)
{
	const char *end_all = q + n;
	int r = 0;

	while (r == 0 && q < end_all) {
		const char *end = memchr(q, '&', (size_t)(end_all - q));
		const char *eq;
		char *name = NULL, *value = NULL;

		if (!end)
			end = memchr(q, ';', (size_t)(end_all - q));
		if (!end)
			end = end_all;
		eq = memchr(q, '=', (size_t)(end - q));
		if (end == q || (eq == q && eq + 1 != end)) {
			/* empty, or "=value": skipped */
		} else if (!eq) {
			name = qimg_uri_decode(q, (size_t)(end - q));
			r = name ? put_param(o, name, NULL, err) : -ENOMEM;
		} else {
			if (eq == q)
				name = qimg_uri_decode(q,
						       (size_t)(end_all - q));
			else
				name = qimg_uri_decode(q, (size_t)(eq - q));
			value = qimg_uri_decode(eq + 1, (size_t)(end - eq - 1));
			r = name && value ? put_param(o, name, value, err)
					  : -ENOMEM;
		}
		free(name);
		free(value);
		q = end < end_all ? end + 1 : end_all;
	}
	if (r == -ENOMEM && !qimg_error_isset(err))
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return r;
}

static int nfs_parse_filename(const char *name, struct qimg_value *o,
			      struct qimg_error *err)
{
	const char *p = name + 4, *auth = NULL, *h = NULL, *path, *path_end;
	const char *q = NULL, *q_end, *frag;
	size_t an = 0, hn = 0;
	struct qimg_value *srv;
	char *host, *file;
	int r;

	if (strncmp(name, "nfs:", 4))
		return qimg_error_set(err, EINVAL,
				      qimg_uri_valid(name)
					      ? "URI scheme must be 'nfs'"
					      : "Invalid URI specified");
	if (p[0] == '/' && p[1] == '/') {
		auth = p + 2;
		an = strcspn(auth, "/?#");
		p = auth + an;
	}
	path = p;
	path_end = path + strcspn(path, "?#");
	q_end = path_end;
	if (*path_end == '?') {
		q = path_end + 1;
		q_end = q + strcspn(q, "#");
	}
	frag = *q_end == '#' ? q_end + 1 : NULL;
	if ((auth && !authority_ok(auth, an, &h, &hn)) ||
	    !uri_chars(path, (size_t)(path_end - path), ":@/") ||
	    (q && !uri_chars(q, (size_t)(q_end - q), ":@/?")) ||
	    (frag && !uri_chars(frag, strlen(frag), ":@/?")))
		return qimg_error_set(err, EINVAL, "Invalid URI specified");
	if (!hn)
		return qimg_error_set(err, EINVAL, "missing hostname in URI");
	if (path == path_end)
		return qimg_error_set(err, EINVAL, "missing file path in URI");
	host = qimg_uri_decode(h, hn);
	file = qimg_uri_decode(path, (size_t)(path_end - path));
	srv = qimg_value_dict();
	r = host && file && srv ? 0 : -ENOMEM;
	if (r == 0)
		r = qimg_dict_put_str(srv, "type", "inet");
	if (r == 0)
		r = qimg_dict_put_str(srv, "host", host);
	if (r == 0) {
		r = qimg_dict_put(o, "server", srv);
		srv = NULL;
	}
	if (r == 0)
		r = qimg_dict_put_str(o, "path", file);
	qimg_value_free(srv);
	free(host);
	free(file);
	if (r < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return q ? parse_query(o, q, (size_t)(q_end - q), err) : 0;
}

/* --- options -------------------------------------------------------------- */

/* A string option's text (numbers given as JSON numbers too). */
static const char *text(const struct qimg_value *v, char *buf)
{
	return qimg_value_text(v, buf, false);
}

/* An integer option: a JSON integer or a text that reads as one. */
static bool integer(const struct qimg_value *v, int64_t *out)
{
	const char *s;
	long long x;
	char *end;

	if (qimg_value_type(v) == QIMG_VALUE_INT) {
		*out = qimg_value_get_int(v);
		return true;
	}
	if (qimg_value_type(v) != QIMG_VALUE_STR)
		return false;
	s = qimg_value_get_str(v);
	errno = 0;
	x = strtoll(s, &end, 0);
	if (errno || end == s || *end)
		return false;
	*out = x;
	return true;
}

static int missing(struct qimg_error *err, const char *name)
{
	return qimg_error_set(err, EINVAL, "Parameter '%s' is missing", name);
}

/* The connection's settings from the options tree, checked in qemu-img's
 * order (the server, its members, then the others). */
static int get_conf(const struct qimg_value *o, struct nfs_conf *c,
		    struct qimg_error *err)
{
	const struct qimg_value *srv = qimg_dict_get(o, "server");
	const char *type, *key;
	size_t i;

	memset(c, 0, sizeof(*c));
	if (!srv)
		return missing(err, "server");
	if (qimg_value_type(srv) != QIMG_VALUE_DICT)
		return qimg_error_set(err, EINVAL,
				      "Invalid parameter type for 'server', "
				      "expected: object");
	type = text(qimg_dict_get(srv, "type"), c->buf[0]);
	if (!type)
		return missing(err, "server.type");
	if (strcmp(type, "inet"))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'type' does not accept value "
				      "'%s'",
				      type);
	c->host = text(qimg_dict_get(srv, "host"), c->buf[0]);
	if (!c->host)
		return missing(err, "server.host");
	for (i = 0; i < qimg_value_count(srv); i++) {
		qimg_value_at(srv, i, &key);
		if (strcmp(key, "type") && strcmp(key, "host"))
			return qimg_error_set(err, EINVAL,
					      "Parameter 'server.%s' is "
					      "unexpected",
					      key);
	}
	c->path = text(qimg_dict_get(o, "path"), c->buf[1]);
	if (!c->path)
		return missing(err, "path");
	for (i = 0; i < OPT_N; i++) {
		const struct qimg_value *v = qimg_dict_get(o, num_opts[i]);

		if (!v)
			continue;
		if (!integer(v, &c->v[i]))
			return qimg_error_set(err, EINVAL,
					      "Parameter '%s' expects integer",
					      num_opts[i]);
		c->has[i] = true;
	}
	return 0;
}

/* --- the event loop --------------------------------------------------------- */

/* Drop the connection (s->lock held): libnfs fails what is in flight. */
static void drop(struct nfs_state *s)
{
	snprintf(s->lost, sizeof(s->lost), "%s", nfs_get_error(s->ctx));
	nfs_destroy_context(s->ctx);
	s->ctx = NULL;
	s->fh = NULL;
}

/* One round of the event loop, s->lock held: the first thread in polls
 * (unlocked) and runs the completions; the others wait for its end. */
static void service_round(struct nfs_state *s)
{
	struct pollfd p[2];
	char junk[64];
	int n;

	if (s->polling) {
		pthread_cond_wait(&s->round, &s->lock);
		return;
	}
	if (!s->ctx)
		return;
	s->polling = true;
	p[0].fd = nfs_get_fd(s->ctx);
	p[0].events = (short)nfs_which_events(s->ctx);
	p[1].fd = s->wake[0];
	p[1].events = POLLIN;
	p[0].revents = p[1].revents = 0;
	pthread_mutex_unlock(&s->lock);
	n = poll(p, 2, 1000);
	pthread_mutex_lock(&s->lock);
	if (n > 0 && (p[1].revents & POLLIN))
		while (read(s->wake[0], junk, sizeof(junk)) > 0)
			;
	if (nfs_service(s->ctx, n > 0 ? p[0].revents : 0) < 0)
		drop(s);
	s->polling = false;
	pthread_cond_broadcast(&s->round);
}

/* New calls were queued: a thread polling without them learns of them. */
static void wake_poller(struct nfs_state *s)
{
	if (s->polling)
		(void)!write(s->wake[1], "", 1);
}

static void call_done(int status, struct nfs_context *ctx, void *data,
		      void *opaque)
{
	struct nfs_call *c = opaque;

	c->status = status;
	/* libnfs's words are in the context (data may hold none). */
	if (status < 0)
		snprintf(c->msg, sizeof(c->msg), "%s", nfs_get_error(ctx));
	else if (c->kind == CALL_READ && status > 0)
		memcpy(c->buf, data,
		       (size_t)status < c->len ? (size_t)status : c->len);
	else if (c->kind == CALL_STAT && data)
		c->st = *(const struct nfs_stat_64 *)data;
	c->done = true;
}

/* Queue call c (s->lock held, s->ctx set): 0, or -1 (nfs_get_error). */
static int submit(struct nfs_state *s, struct nfs_call *c)
{
	int r;

	c->done = false;
	c->status = 0;
	switch (c->kind) {
	case CALL_READ:
		r = nfs_pread_async(s->ctx, s->fh, c->off, c->len, call_done,
				    c);
		break;
	case CALL_WRITE:
		r = nfs_pwrite_async(s->ctx, s->fh, c->off, c->len, c->buf,
				     call_done, c);
		break;
	case CALL_FSYNC:
		r = nfs_fsync_async(s->ctx, s->fh, call_done, c);
		break;
	case CALL_TRUNC:
		r = nfs_ftruncate_async(s->ctx, s->fh, c->off, call_done, c);
		break;
	default:
		r = nfs_fstat64_async(s->ctx, s->fh, call_done, c);
		break;
	}
	if (r == 0) {
		c->busy = true;
		wake_poller(s);
	}
	return r;
}

static int lost(struct nfs_state *s, struct qimg_error *err)
{
	return qimg_error_set(err, EIO, "NFS: the connection was lost: %s",
			      s->lost);
}

/* A failed call: qemu-img reports libnfs's words on a line of their own
 * ("NFS Error: ..."), then fails the request with the errno. */
static int call_error(struct nfs_call *c, struct qimg_error *err)
{
	int e = -c->status;

	if (e <= 0)
		e = EIO;
	if (!qimg_error_isset(err))
		qimg_error_note(err, QIMG_NOTE_REPORT "NFS Error: %s", c->msg);
	return qimg_error_set(err, e, "%s", strerror(e));
}

/* Run call c to its end (s->lock held). */
static int run_call(struct nfs_state *s, struct nfs_call *c,
		    struct qimg_error *err)
{
	if (!s->ctx)
		return lost(s, err);
	if (submit(s, c) < 0)
		return qimg_error_set(err, EIO, "NFS Error: %s",
				      nfs_get_error(s->ctx));
	while (!c->done && s->ctx)
		service_round(s);
	c->busy = false;
	if (!c->done)
		return lost(s, err);
	return c->status < 0 ? call_error(c, err) : 0;
}

/* A read or write as calls of at most s->chunk bytes, NFS_INFLIGHT at
 * once.  A failure stops the submitting; what is in flight is waited for,
 * so that no completion lands in buf after this returns.  A short answer
 * goes on from where it stopped; a read at the end of the file reads the
 * rest as zeros. */
static int transfer(struct nfs_state *s, bool write, uint64_t off, uint8_t *buf,
		    size_t len, struct qimg_error *err)
{
	struct nfs_call c[NFS_INFLIGHT];
	size_t next = 0, i;
	int inflight = 0, r = 0;

	memset(c, 0, sizeof(c));
	pthread_mutex_lock(&s->lock);
	if (!s->ctx)
		r = lost(s, err);
	while ((r == 0 && next < len) || inflight > 0) {
		for (i = 0; i < NFS_INFLIGHT && r == 0 && next < len; i++) {
			size_t l = len - next;

			if (c[i].busy)
				continue;
			if (!s->ctx) {
				r = lost(s, err);
				break;
			}
			c[i].kind = write ? CALL_WRITE : CALL_READ;
			c[i].off = off + next;
			c[i].buf = buf + next;
			c[i].len = l < s->chunk ? l : s->chunk;
			if (submit(s, &c[i]) < 0) {
				r = qimg_error_set(err, EIO, "NFS Error: %s",
						   nfs_get_error(s->ctx));
				break;
			}
			next += c[i].len;
			inflight++;
		}
		if (inflight == 0)
			break;
		/* Calls libnfs answered at once (from its page cache) need
		 * no round. */
		for (i = 0; i < NFS_INFLIGHT && !(c[i].busy && c[i].done); i++)
			;
		if (i == NFS_INFLIGHT)
			service_round(s);
		for (i = 0; i < NFS_INFLIGHT; i++) {
			size_t n;

			if (!c[i].busy || (!c[i].done && s->ctx))
				continue;
			c[i].busy = false;
			inflight--;
			if (!c[i].done) {
				r = r ? r : lost(s, err);
				continue;
			}
			if (c[i].status < 0) {
				r = r ? r : call_error(&c[i], err);
				continue;
			}
			n = (size_t)c[i].status < c[i].len ? (size_t)c[i].status
							   : c[i].len;
			if (write && c[i].off + n > s->size)
				s->size = c[i].off + n;
			if (n == c[i].len || r)
				continue;
			if (!write && n == 0) {
				memset(c[i].buf, 0, c[i].len);
				continue;
			}
			if (n == 0) {
				r = qimg_error_set(err, EIO, "%s",
						   strerror(EIO));
				continue;
			}
			c[i].off += n;
			c[i].buf += n;
			c[i].len -= n;
			if (!s->ctx) {
				r = lost(s, err);
			} else if (submit(s, &c[i]) < 0) {
				r = qimg_error_set(err, EIO, "NFS Error: %s",
						   nfs_get_error(s->ctx));
			} else {
				inflight++;
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* --- connecting ------------------------------------------------------------ */

static void disconnect(struct nfs_state *s)
{
	if (s->ctx) {
		if (s->fh)
			nfs_close(s->ctx, s->fh);
		nfs_destroy_context(s->ctx);
	}
	s->ctx = NULL;
	s->fh = NULL;
	if (s->wake[0] >= 0) {
		close(s->wake[0]);
		close(s->wake[1]);
	}
	s->wake[0] = s->wake[1] = -1;
	if (s->sync_init) {
		pthread_cond_destroy(&s->round);
		pthread_mutex_destroy(&s->lock);
	}
	s->sync_init = false;
	free(s->host);
	free(s->path);
	s->host = s->path = NULL;
}

/* The settings of c on the new context, with qemu-img's bounds. */
static void apply_conf(struct nfs_state *s, const struct nfs_conf *c)
{
	if (c->has[OPT_USER])
		nfs_set_uid(s->ctx, (int)c->v[OPT_USER]);
	if (c->has[OPT_GROUP])
		nfs_set_gid(s->ctx, (int)c->v[OPT_GROUP]);
	if (c->has[OPT_SYNCNT])
		nfs_set_tcp_syncnt(s->ctx, (int)c->v[OPT_SYNCNT]);
	if (c->has[OPT_READAHEAD])
		nfs_set_readahead(s->ctx,
				  (uint64_t)c->v[OPT_READAHEAD] >
						  NFS_MAX_READAHEAD
					  ? NFS_MAX_READAHEAD
					  : (uint32_t)c->v[OPT_READAHEAD]);
	if (c->has[OPT_PAGECACHE])
		nfs_set_pagecache(s->ctx,
				  (uint64_t)c->v[OPT_PAGECACHE] >
						  NFS_MAX_PAGECACHE
					  ? NFS_MAX_PAGECACHE
					  : (uint32_t)c->v[OPT_PAGECACHE]);
	if (c->has[OPT_DEBUG])
		nfs_set_debug(s->ctx, c->v[OPT_DEBUG] > NFS_MAX_DEBUG
					      ? NFS_MAX_DEBUG
					      : (int)c->v[OPT_DEBUG]);
}

/* Mount the directory of the path the options tree `o` names and open
 * (or, create: make and empty) its last component; unwinds itself. */
static int nfs_start(struct qimg_node *node, const struct qimg_value *o,
		     bool create, struct qimg_error *err)
{
	struct nfs_state *s = node->opaque;
	struct nfs_stat_64 st;
	struct nfs_conf c;
	const char *slash;
	char *export = NULL;
	uint64_t rmax, wmax;
	int r;

	s->wake[0] = s->wake[1] = -1;
	r = get_conf(o, &c, err);
	if (r < 0)
		return r;
	slash = strrchr(c.path, '/');
	if (!slash)
		return qimg_error_set(err, EINVAL, "Invalid URL specified");
	r = qimg_libnfs_load(err);
	if (r < 0)
		return r;
	if (pthread_mutex_init(&s->lock, NULL))
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (pthread_cond_init(&s->round, NULL)) {
		pthread_mutex_destroy(&s->lock);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	s->sync_init = true;
	s->host = strdup(c.host);
	s->path = strdup(c.path);
	export = strndup(c.path, (size_t)(slash - c.path));
	if (!s->host || !s->path || !export) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto fail;
	}
	s->uid = c.has[OPT_USER] ? c.v[OPT_USER] : 0;
	s->gid = c.has[OPT_GROUP] ? c.v[OPT_GROUP] : 0;
	if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = qimg_error_set_errno(err, errno, "Could not create a pipe");
		s->wake[0] = s->wake[1] = -1;
		goto fail;
	}
	s->ctx = nfs_init_context();
	if (!s->ctx) {
		r = qimg_error_set(err, ENOMEM, "Failed to init NFS context");
		goto fail;
	}
	apply_conf(s, &c);
	if (nfs_mount(s->ctx, c.host, export)) {
		r = qimg_error_set(err, EIO, "Failed to mount nfs share: %s",
				   nfs_get_error(s->ctx));
		goto fail;
	}
	if (create) {
		if (nfs_creat(s->ctx, slash, NFS_CREATE_MODE, &s->fh)) {
			r = qimg_error_set(err, EIO,
					   "Failed to create file: %s",
					   nfs_get_error(s->ctx));
			goto fail;
		}
		if (nfs_ftruncate(s->ctx, s->fh, 0)) {
			r = qimg_error_set(err, EIO,
					   "Failed to truncate file: %s",
					   nfs_get_error(s->ctx));
			goto fail;
		}
	} else if (nfs_open(s->ctx, slash,
			    (node->flags & QIMG_OPEN_RDWR) ? O_RDWR : O_RDONLY,
			    &s->fh)) {
		r = qimg_error_set(err, EIO, "Failed to open file : %s",
				   nfs_get_error(s->ctx));
		goto fail;
	}
	if (nfs_fstat64(s->ctx, s->fh, &st)) {
		r = qimg_error_set(err, EIO, "Failed to fstat file: %s",
				   nfs_get_error(s->ctx));
		goto fail;
	}
	s->size = st.nfs_size;
	node->zero_init = S_ISREG(st.nfs_mode);
	rmax = nfs_get_readmax(s->ctx);
	wmax = nfs_get_writemax(s->ctx);
	s->chunk = NFS_CHUNK_MAX;
	if (rmax && rmax < s->chunk)
		s->chunk = (uint32_t)rmax;
	if (wmax && wmax < s->chunk)
		s->chunk = (uint32_t)wmax;
	free(export);
	return 0;
fail:
	free(export);
	disconnect(s);
	return r;
}

/* --- the driver ----------------------------------------------------------- */

static int nfs_node_open(struct qimg_node *node, const struct qimg_opts *opts,
			 struct qimg_error *err)
{
	struct nfs_state *s = node->opaque;
	int r;

	(void)opts; /* validated; the tree keeps nesting and JSON types */
	r = nfs_start(node, node->options, false, err);
	if (r < 0)
		return r;
	node->size = s->size;
	node->limits.grows = true;
	return 0;
}

static void nfs_node_close(struct qimg_node *node)
{
	disconnect(node->opaque);
}

static int nfs_node_read(struct qimg_node *node, uint64_t off, void *buf,
			 size_t len, struct qimg_error *err)
{
	return transfer(node->opaque, false, off, buf, len, err);
}

static int nfs_node_write(struct qimg_node *node, uint64_t off, const void *buf,
			  size_t len, struct qimg_error *err)
{
	return transfer(node->opaque, true, off, (uint8_t *)buf, len, err);
}

static int nfs_node_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct nfs_state *s = node->opaque;
	struct nfs_call c = { .kind = CALL_FSYNC };
	int r;

	if (node->cache == QIMG_CACHE_UNSAFE)
		return 0;
	pthread_mutex_lock(&s->lock);
	r = run_call(s, &c, err);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Any size, up or down; preallocation only "off", as qemu-img. */
static int nfs_node_truncate(struct qimg_node *node, uint64_t size,
			     unsigned flags, const char *prealloc,
			     struct qimg_error *err)
{
	struct nfs_state *s = node->opaque;
	struct nfs_call c = { .kind = CALL_TRUNC, .off = size };
	int r = qimg_truncate_prealloc_off(prealloc, err);

	(void)flags;
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	r = run_call(s, &c, err);
	if (r == 0)
		s->size = size;
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int64_t nfs_node_length(struct qimg_node *node)
{
	struct nfs_state *s = node->opaque;
	uint64_t size;

	pthread_mutex_lock(&s->lock);
	size = s->size;
	pthread_mutex_unlock(&s->lock);
	return (int64_t)size;
}

/* What the server says the file takes (its blocks, asked now). */
static int64_t nfs_node_allocated_size(struct qimg_node *node)
{
	struct nfs_state *s = node->opaque;
	struct nfs_call c = { .kind = CALL_STAT };
	struct qimg_error ignored = { 0 };
	int r;

	pthread_mutex_lock(&s->lock);
	r = run_call(s, &c, &ignored);
	pthread_mutex_unlock(&s->lock);
	if (r < 0 || c.st.nfs_blocks > INT64_MAX / 512)
		return -1;
	return (int64_t)(c.st.nfs_blocks * 512);
}

/* Make (or empty) the file the name says.  The node is not open: its name
 * is all there is to go by; the format's create sizes the file. */
static int nfs_node_create(struct qimg_node *node, const struct qimg_opts *o,
			   struct qimg_error *err)
{
	struct qimg_value *d = qimg_value_dict();
	int r;

	(void)o;
	if (!d)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = nfs_parse_filename(node->filename, d, err);
	if (r == 0)
		r = nfs_start(node, d, true, err);
	qimg_value_free(d);
	if (r == 0)
		disconnect(node->opaque);
	return r;
}

/* nfs://HOST/PATH as qemu-img names an nfs node, with the uid and gid when
 * they are not 0 (its other settings do not show). */
static char *nfs_node_exact_filename(struct qimg_node *node)
{
	struct nfs_state *s = node->opaque;
	char ids[64] = "";
	char *r;

	if (!s->host)
		return NULL;
	if (s->uid && s->gid)
		snprintf(ids, sizeof(ids), "?uid=%" PRId64 "&gid=%" PRId64,
			 s->uid, s->gid);
	else if (s->uid)
		snprintf(ids, sizeof(ids), "?uid=%" PRId64, s->uid);
	else if (s->gid)
		snprintf(ids, sizeof(ids), "?gid=%" PRId64, s->gid);
	if (asprintf(&r, "nfs://%s%s%s", s->host, s->path, ids) < 0)
		return NULL;
	return r;
}

/* The options checked as QEMU visits them, nothing done. */
static int nfs_visit_opts(const struct qimg_value *o, struct qimg_error *err)
{
	struct nfs_conf c;

	return get_conf(o, &c, err);
}

const struct qimg_driver qimg_driver_nfs = {
	.name = "nfs",
	.kind = QIMG_DRIVER_PROTOCOL,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct nfs_state),
	.create_opts = nfs_create_opts,
	.protocols = nfs_protocols,
	.parse_filename = nfs_parse_filename,
	.runtime_opts = nfs_runtime_opts,
	.strong_opts = nfs_strong_opts,
	.typed_opts = true,
	.visit_opts = nfs_visit_opts,
	.exact_filename = nfs_node_exact_filename,
	.open = nfs_node_open,
	.close = nfs_node_close,
	.create = nfs_node_create,
	.read = nfs_node_read,
	.write = nfs_node_write,
	.flush = nfs_node_flush,
	.truncate = nfs_node_truncate,
	.length = nfs_node_length,
	.allocated_size = nfs_node_allocated_size,
};
