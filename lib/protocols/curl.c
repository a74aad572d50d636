/* SPDX-License-Identifier: MIT */
/* The http, https, ftp and ftps protocol drivers: one remote file read
 * with byte-range requests through libcurl (loaded on first use).  Read
 * only, as qemu-img's curl driver.
 *
 * Open asks for the length (an HTTP HEAD, FTP SIZE) and, over HTTP, that
 * the server says "Accept-Ranges: bytes".  A read takes a free connection
 * of the node's pool (up to CURL_CONNS, made as needed and kept alive, so
 * that convert's workers fetch in parallel) and asks for its range.
 * Small reads fetch `readahead` more bytes, kept in a few segments: a
 * format's header, tables and neighbouring clusters then cost one round
 * trip, not one each.  Large reads go straight into the caller's buffer.
 *
 * Where qemu-img trusts the server, qimg checks it: an HTTP answer that is
 * not the range asked for (200 with the whole file, a short or long body)
 * is an error, never data from the wrong offset. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/driver.h"
#include "protocols/curl.h"
#include "protocols/libcurl-dl.h"
#include "qimg/object.h"

#define CURL_CONNS 8		    /* connections per node */
#define CURL_SEGS 8		    /* readahead segments per node */
#define CURL_DIRECT (1u << 20)	    /* reads this large skip the cache */
#define CURL_READAHEAD (256u << 10) /* qemu-img's default */
#define CURL_TIMEOUT 5		    /* seconds, qemu-img's default */
#define CURL_TIMEOUT_MAX 10000

struct curl_conn {
	CURL *h;
	bool busy;
	bool accept_ranges; /* set by the header callback of the HEAD */
	char errbuf[CURL_ERROR_SIZE];
};

/* Bytes [off, off + len) of the file, fetched by an earlier read. */
struct curl_seg {
	uint64_t off;
	size_t len;
	uint8_t *buf;
	uint64_t used; /* LRU tick */
};

struct curl_state {
	char *url;
	bool http; /* http:// or https://: ranges are checked */
	bool sslverify;
	long timeout;
	uint64_t readahead;
	char *cookie, *user, *password, *proxy_user, *proxy_password;
	uint64_t size;

	pthread_mutex_t lock; /* conns[].busy, segs */
	pthread_cond_t free_conn;
	struct curl_conn conns[CURL_CONNS];
	struct curl_seg segs[CURL_SEGS];
	uint64_t tick;
};

/* Where one transfer's body goes. */
struct curl_xfer {
	uint8_t *dst;
	size_t want, got;
	bool overflow; /* the server sent more than asked */
};

static const struct qimg_opt_desc curl_runtime_opts[] = {
	{ "url", QIMG_OPT_STRING, "URL to open", NULL },
	{ "readahead", QIMG_OPT_SIZE, "Readahead size", NULL },
	{ "sslverify", QIMG_OPT_BOOL, "Verify SSL certificate", NULL },
	{ "timeout", QIMG_OPT_NUMBER, "Curl timeout", NULL },
	{ "cookie", QIMG_OPT_STRING, "Pass the cookie or list of cookies",
	  NULL },
	{ "cookie-secret", QIMG_OPT_STRING,
	  "ID of secret used as cookie passed with each request", NULL },
	{ "username", QIMG_OPT_STRING, "Username for HTTP auth", NULL },
	{ "password-secret", QIMG_OPT_STRING,
	  "ID of secret used as password for HTTP auth", NULL },
	{ "proxy-username", QIMG_OPT_STRING, "Username for HTTP proxy auth",
	  NULL },
	{ "proxy-password-secret", QIMG_OPT_STRING,
	  "ID of secret used as password for HTTP proxy auth", NULL },
	{ NULL, 0, NULL, NULL },
};

/* Options that change what is read or who reads it: a node given one is
 * named by json:{...} (readahead and timeout are not among them). */
static const char *const curl_strong_opts[] = { "url",
						"sslverify",
						"cookie",
						"cookie-secret",
						"username",
						"password-secret",
						"proxy-username",
						"proxy-password-secret",
						NULL };

static const char *const http_protocols[] = { "http", NULL };
static const char *const https_protocols[] = { "https", NULL };
static const char *const ftp_protocols[] = { "ftp", NULL };
static const char *const ftps_protocols[] = { "ftps", NULL };

/* The whole name is the URL. */
static int curl_parse_filename(const char *filename, struct qimg_value *opts,
			       struct qimg_error *err)
{
	if (qimg_dict_put_str(opts, "url", filename) < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

/* --- transfers ------------------------------------------------------------ */

static size_t body_cb(char *data, size_t size, size_t n, void *opaque)
{
	struct curl_xfer *x = opaque;
	size_t len = size * n, take = len;

	if (take > x->want - x->got) {
		take = x->want - x->got;
		x->overflow = true;
	}
	memcpy(x->dst + x->got, data, take);
	x->got += take;
	/* Less than offered stops the transfer (CURLE_WRITE_ERROR). */
	return take;
}

/* Whatever comes as body of the length probe (FTP's made-up headers). */
static size_t discard_cb(char *data, size_t size, size_t n, void *opaque)
{
	(void)data;
	(void)opaque;
	return size * n;
}

/* "Accept-Ranges: bytes" (names are case-insensitive). */
static size_t header_cb(char *data, size_t size, size_t n, void *opaque)
{
	struct curl_conn *c = opaque;
	size_t len = size * n, i;
	static const char name[] = "accept-ranges:";

	if (len > sizeof(name) - 1 &&
	    !strncasecmp(data, name, sizeof(name) - 1)) {
		i = sizeof(name) - 1;
		while (i < len && (data[i] == ' ' || data[i] == '\t'))
			i++;
		if (len - i >= 5 && !strncmp(data + i, "bytes", 5)) {
			i += 5;
			while (i < len && (data[i] == ' ' || data[i] == '\t' ||
					   data[i] == '\r' || data[i] == '\n'))
				i++;
			if (i == len)
				c->accept_ranges = true;
		}
	}
	return len;
}

/* What libcurl said of the last failure on c. */
static const char *conn_error(struct curl_conn *c, CURLcode rc)
{
	return c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
}

/* A new handle with every per-node setting. */
static int conn_init(struct curl_state *s, struct curl_conn *c,
		     struct qimg_error *err)
{
	CURL *h = curl_easy_init();
	CURLcode rc = CURLE_OK;

	if (!h)
		return qimg_error_set(err, ENOMEM,
				      "CURL: curl_easy_init failed");
#define SET(opt, v)                                                            \
	if (rc == CURLE_OK)                                                    \
	rc = curl_easy_setopt(h, opt, v)
	SET(CURLOPT_URL, s->url);
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_AUTOREFERER, 1L);
	SET(CURLOPT_FAILONERROR, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https,ftp,ftps");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https,ftp,ftps");
	SET(CURLOPT_SSL_VERIFYPEER, s->sslverify ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, s->sslverify ? 2L : 0L);
	/* No progress for `timeout` seconds is a failure; a long transfer
	 * that keeps moving is not. */
	if (s->timeout > 0) {
		SET(CURLOPT_CONNECTTIMEOUT, s->timeout);
		SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
		SET(CURLOPT_LOW_SPEED_TIME, s->timeout);
	}
	if (s->cookie)
		SET(CURLOPT_COOKIE, s->cookie);
	if (s->user)
		SET(CURLOPT_USERNAME, s->user);
	if (s->password)
		SET(CURLOPT_PASSWORD, s->password);
	if (s->proxy_user)
		SET(CURLOPT_PROXYUSERNAME, s->proxy_user);
	if (s->proxy_password)
		SET(CURLOPT_PROXYPASSWORD, s->proxy_password);
	SET(CURLOPT_WRITEFUNCTION, discard_cb);
#undef SET
	if (rc != CURLE_OK) {
		curl_easy_cleanup(h);
		return qimg_error_set(err, EINVAL, "CURL: %s",
				      curl_easy_strerror(rc));
	}
	c->h = h;
	return 0;
}

/* A connection of the pool in *out, marked busy (waits while all are). */
static int conn_get(struct curl_state *s, struct curl_conn **out,
		    struct qimg_error *err)
{
	struct curl_conn *c = NULL;
	size_t i;
	int r;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		for (i = 0; i < CURL_CONNS && !c; i++)
			if (s->conns[i].h && !s->conns[i].busy)
				c = &s->conns[i];
		for (i = 0; i < CURL_CONNS && !c; i++)
			if (!s->conns[i].h && !s->conns[i].busy)
				c = &s->conns[i];
		if (c)
			break;
		pthread_cond_wait(&s->free_conn, &s->lock);
	}
	c->busy = true;
	pthread_mutex_unlock(&s->lock);
	if (!c->h && (r = conn_init(s, c, err)) < 0) {
		pthread_mutex_lock(&s->lock);
		c->busy = false;
		pthread_cond_signal(&s->free_conn);
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	*out = c;
	return 0;
}

static void conn_put(struct curl_state *s, struct curl_conn *c)
{
	pthread_mutex_lock(&s->lock);
	c->busy = false;
	pthread_cond_signal(&s->free_conn);
	pthread_mutex_unlock(&s->lock);
}

/* Fetch bytes [off, off + len) into dst, all of them or an error.  The
 * errors are EREMOTEIO: a command that reports a failed read by its errno
 * (convert, as qemu-img does) prints their text instead. */
static int fetch(struct qimg_node *node, uint64_t off, uint8_t *dst, size_t len,
		 struct qimg_error *err)
{
	struct curl_state *s = node->opaque;
	struct curl_xfer x = { .dst = dst, .want = len };
	struct curl_conn *c;
	char range[48];
	CURLcode rc;
	long code = 0;
	int r = conn_get(s, &c, err);

	if (r < 0)
		return r;
	snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->h, CURLOPT_NOBODY, 0L);
	if (s->http)
		curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, NULL);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c->h, CURLOPT_RANGE, range);
	rc = curl_easy_perform(c->h);
	if (s->http)
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && x.overflow)) {
		r = qimg_error_set(err, EREMOTEIO, "Could not read '%s': %s",
				   s->url, conn_error(c, rc));
	} else if (s->http && code != 206 && !(code == 200 && off == 0)) {
		/* A server that ignores the range sends the file from its
		 * start: those bytes are not the ones asked for. */
		r = qimg_error_set(err, EREMOTEIO,
				   "Could not read '%s': the server answered "
				   "a byte-range request with HTTP %ld",
				   s->url, code);
	} else if (x.got != len || (x.overflow && code == 206)) {
		r = qimg_error_set(err, EREMOTEIO,
				   "Could not read '%s': the server sent %s "
				   "bytes than the %zu asked for at offset "
				   "%llu",
				   s->url, x.overflow ? "more" : "fewer", len,
				   (unsigned long long)off);
	}
	conn_put(s, c);
	return r;
}

/* --- the read cache ------------------------------------------------------- */

/* Copy what a segment holds of [*off, ...) and advance; false when no
 * segment holds *off.  Called with the lock held. */
static bool from_cache(struct curl_state *s, uint64_t *off, uint8_t **buf,
		       size_t *len)
{
	size_t i, n;

	for (i = 0; i < CURL_SEGS; i++) {
		struct curl_seg *g = &s->segs[i];

		if (!g->buf || *off < g->off || *off >= g->off + g->len)
			continue;
		n = (size_t)(g->off + g->len - *off);
		if (n > *len)
			n = *len;
		memcpy(*buf, g->buf + (*off - g->off), n);
		g->used = ++s->tick;
		*off += n;
		*buf += n;
		*len -= n;
		return true;
	}
	return false;
}

/* Keep buf (len bytes at off) in place of the least recently used
 * segment; the cache owns buf from here. */
static void cache_put(struct curl_state *s, uint64_t off, uint8_t *buf,
		      size_t len)
{
	struct curl_seg *victim = &s->segs[0];
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < CURL_SEGS; i++) {
		if (!s->segs[i].buf) {
			victim = &s->segs[i];
			break;
		}
		if (s->segs[i].used < victim->used)
			victim = &s->segs[i];
	}
	free(victim->buf);
	victim->off = off;
	victim->len = len;
	victim->buf = buf;
	victim->used = ++s->tick;
	pthread_mutex_unlock(&s->lock);
}

static int curl_read(struct qimg_node *node, uint64_t off, void *buf,
		     size_t len, struct qimg_error *err)
{
	struct curl_state *s = node->opaque;
	uint8_t *p = buf, *seg;
	size_t n;
	int r;

	/* The node counts whole sectors: past the file's end are zeros. */
	if (off + len > s->size) {
		n = off >= s->size ? len : (size_t)(off + len - s->size);
		memset(p + len - n, 0, n);
		len -= n;
	}
	pthread_mutex_lock(&s->lock);
	while (len > 0 && from_cache(s, &off, &p, &len))
		;
	pthread_mutex_unlock(&s->lock);
	if (len == 0)
		return 0;
	if (len >= CURL_DIRECT || s->readahead == 0)
		return fetch(node, off, p, len, err);
	n = len + (size_t)s->readahead;
	if (n > s->size - off)
		n = (size_t)(s->size - off);
	seg = malloc(n);
	if (!seg)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = fetch(node, off, seg, n, err);
	if (r < 0) {
		free(seg);
		return r;
	}
	memcpy(p, seg, len);
	cache_put(s, off, seg, n);
	return 0;
}

/* --- open and close -------------------------------------------------------- */

/* A secret's text as a C string (malloc'd) in *out. */
static int secret_str(struct qimg_node *node, const char *id, char **out,
		      struct qimg_error *err)
{
	uint8_t *data;
	size_t len;
	int r = qimg_secret_get_utf8(node->objects, id, &data, &len, err);

	if (r < 0)
		return r;
	*out = malloc(len + 1);
	if (*out) {
		memcpy(*out, data, len);
		(*out)[len] = '\0';
	}
	qimg_secret_free(data, len);
	return *out ? 0 : qimg_error_set(err, ENOMEM, "Out of memory");
}

static char *dup_opt(const struct qimg_opts *opts, const char *name)
{
	const char *v = qimg_opts_get_str(opts, name, NULL);

	return v ? strdup(v) : NULL;
}

/* Settings, checked in qemu-img's order. */
static int curl_settings(struct qimg_node *node, const struct qimg_opts *opts,
			 struct qimg_error *err)
{
	struct curl_state *s = node->opaque;
	const char *url, *cookie_secret, *secret, *proto = node->drv->name;
	uint64_t timeout;
	size_t plen = strlen(proto);
	int r;

	if (node->flags & QIMG_OPEN_RDWR)
		return qimg_error_set(err, EROFS,
				      "curl driver does not support writes");
	s->readahead = qimg_opts_get_u64(opts, "readahead", CURL_READAHEAD);
	if (s->readahead % 512)
		return qimg_error_set(err, EINVAL,
				      "HTTP_READAHEAD_SIZE %lld is not a "
				      "multiple of 512",
				      (long long)s->readahead);
	timeout = qimg_opts_get_u64(opts, "timeout", CURL_TIMEOUT);
	if (timeout > CURL_TIMEOUT_MAX)
		return qimg_error_set(err, EINVAL,
				      "timeout parameter is too large or "
				      "negative");
	s->timeout = (long)timeout;
	s->sslverify = qimg_opts_get_bool(opts, "sslverify", true);
	s->cookie = dup_opt(opts, "cookie");
	cookie_secret = qimg_opts_get_str(opts, "cookie-secret", NULL);
	if (s->cookie && cookie_secret)
		return qimg_error_set(err, EINVAL,
				      "curl driver cannot handle both cookie "
				      "and cookie secret");
	if (cookie_secret) {
		r = secret_str(node, cookie_secret, &s->cookie, err);
		if (r < 0)
			return r;
	}
	url = qimg_opts_get_str(opts, "url", NULL);
	if (!url)
		return qimg_error_set(err, EINVAL,
				      "curl block driver requires an 'url' "
				      "option");
	if (strncmp(url, proto, plen) || strncmp(url + plen, "://", 3))
		return qimg_error_set(err, EINVAL,
				      "%s curl driver cannot handle the URL "
				      "'%s' (does not start with '%s://')",
				      proto, url, proto);
	s->url = strdup(url);
	if (!s->url)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	s->http = !strcmp(proto, "http") || !strcmp(proto, "https");
	s->user = dup_opt(opts, "username");
	secret = qimg_opts_get_str(opts, "password-secret", NULL);
	if (secret && (r = secret_str(node, secret, &s->password, err)) < 0)
		return r;
	s->proxy_user = dup_opt(opts, "proxy-username");
	secret = qimg_opts_get_str(opts, "proxy-password-secret", NULL);
	if (secret &&
	    (r = secret_str(node, secret, &s->proxy_password, err)) < 0)
		return r;
	return 0;
}

/* The length, and over HTTP the promise of byte ranges. */
static int curl_probe_length(struct curl_state *s, struct qimg_error *err)
{
	struct curl_conn *c = &s->conns[0];
	curl_off_t len = -1;
	CURLcode rc;
	int r;

	r = conn_init(s, c, err);
	if (r < 0)
		return r;
	curl_easy_setopt(c->h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, NULL);
	rc = curl_easy_perform(c->h);
	if (rc != CURLE_OK)
		return qimg_error_set(err, EIO, "CURL: Error opening file: %s",
				      conn_error(c, rc));
	if (curl_easy_getinfo(c->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) !=
		    CURLE_OK ||
	    len < 0)
		return qimg_error_set(err, EIO,
				      "CURL: Error opening file: Server "
				      "didn't report file size.");
	if (s->http && !c->accept_ranges)
		return qimg_error_set(err, ENOTSUP,
				      "CURL: Error opening file: Server does "
				      "not support 'range' (byte ranges).");
	s->size = (uint64_t)len;
	return 0;
}

static void curl_free_state(struct curl_state *s)
{
	size_t i;

	for (i = 0; i < CURL_CONNS; i++)
		if (s->conns[i].h)
			curl_easy_cleanup(s->conns[i].h);
	for (i = 0; i < CURL_SEGS; i++)
		free(s->segs[i].buf);
	free(s->url);
	free(s->cookie);
	free(s->user);
	free(s->proxy_user);
	/* Wipe what came from secrets. */
	if (s->password)
		explicit_bzero(s->password, strlen(s->password));
	if (s->proxy_password)
		explicit_bzero(s->proxy_password, strlen(s->proxy_password));
	free(s->password);
	free(s->proxy_password);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->free_conn);
	memset(s, 0, sizeof(*s));
}

static int curl_open(struct qimg_node *node, const struct qimg_opts *opts,
		     struct qimg_error *err)
{
	struct curl_state *s = node->opaque;
	int r;

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->free_conn, NULL);
	r = curl_settings(node, opts, err);
	if (r == 0)
		r = qimg_libcurl_load(err);
	if (r == 0)
		r = curl_probe_length(s, err);
	if (r < 0) {
		curl_free_state(s);
		return r;
	}
	/* Whole sectors, as qemu-img counts a protocol's length. */
	node->size =
		s->size + 511 < s->size ? s->size : (s->size + 511) & ~511ull;
	return 0;
}

static void curl_close(struct qimg_node *node)
{
	curl_free_state(node->opaque);
}

static int64_t curl_length(struct qimg_node *node)
{
	struct curl_state *s = node->opaque;

	return (int64_t)s->size;
}

/* The URL when nothing else changes what is read. */
static char *curl_exact_filename(struct qimg_node *node)
{
	struct curl_state *s = node->opaque;
	size_t i;

	/* sslverify counts when it turns the check off (qemu-img's rule). */
	for (i = 1; curl_strong_opts[i]; i++)
		if (qimg_dict_get(node->options, curl_strong_opts[i]) &&
		    (strcmp(curl_strong_opts[i], "sslverify") || !s->sslverify))
			return NULL;
	return s->url ? strdup(s->url) : NULL;
}

#define CURL_DRIVER(ident, drvname, protos)                                    \
	const struct qimg_driver ident = {                                     \
		.name = drvname,                                               \
		.kind = QIMG_DRIVER_PROTOCOL,                                  \
		.threads = QIMG_THREADS_PARALLEL,                              \
		.state_size = sizeof(struct curl_state),                       \
		.protocols = protos,                                           \
		.parse_filename = curl_parse_filename,                         \
		.runtime_opts = curl_runtime_opts,                             \
		.strong_opts = curl_strong_opts,                               \
		.exact_filename = curl_exact_filename,                         \
		.open = curl_open,                                             \
		.close = curl_close,                                           \
		.read = curl_read,                                             \
		.length = curl_length,                                         \
	}

CURL_DRIVER(qimg_driver_http, "http", http_protocols);
CURL_DRIVER(qimg_driver_https, "https", https_protocols);
CURL_DRIVER(qimg_driver_ftp, "ftp", ftp_protocols);
CURL_DRIVER(qimg_driver_ftps, "ftps", ftps_protocols);
