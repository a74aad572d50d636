/* SPDX-License-Identifier: MIT */
/* The gluster protocol driver: one file on a GlusterFS volume, through
 * libgfapi (loaded on first use).  A name (gluster[+T]://HOST/VOL/PATH)
 * or the options (volume, path, server list, debug, logfile) are checked
 * with qemu-img's words and order, a glfs_t is set up with every server,
 * libgfapi's log level and log file (qemu-img's defaults: level 4, "-",
 * which is stderr: what the library logs shows as it does with qemu-img),
 * and the file is opened.  I/O is blocking glfs_pread/glfs_pwrite from any
 * thread on one descriptor (libgfapi is thread-safe). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/driver.h"
#include "core/node.h"
#include "protocols/gluster-dl.h"
#include "protocols/gluster.h"
#include "util/uri.h"
#include "util/value-check.h"

#define GL_DEFAULT_PORT "24007"
#define GL_DEFAULT_DEBUG 4
#define GL_MAX_DEBUG 9
#define GL_DEFAULT_LOGFILE "-"
#define GL_MAX_SERVERS 64
#define GL_CHUNK (64u << 20) /* bytes per glfs call at most */

#define GL_URL_USAGE                                                           \
	"Usage: file=gluster[+transport]://[host[:port]]volume/path"           \
	"[?socket=...][,file.debug=N][,file.logfile=/path/filename.log]"
#define GL_JSON_USAGE                                                          \
	"Usage: -drive driver=qcow2,file.driver=gluster,file.volume=testvol,"  \
	"file.path=/path/a.qcow2[,file.debug=9][,file.logfile=/path/"          \
	"filename.log],file.server.0.type=inet,file.server.0.host=1.2.3.4,"    \
	"file.server.0.port=24007,file.server.1.transport=unix,"               \
	"file.server.1.path=/var/run/glusterd.socket ..."

struct gl_server {
	bool is_unix;
	char *addr; /* host, or the socket's path */
	char *port; /* inet: as given */
};

/* Where and what to open, from a name or from the options. */
struct gl_conf {
	const char *url; /* the name it came from (not owned), or NULL */
	bool rdma;
	char *volume, *path, *logfile;
	int debug;
	size_t n;
	struct gl_server srv[GL_MAX_SERVERS];
};

struct gl_state {
	glfs_t *fs;
	glfs_fd_t *fd;
	bool seek_ok; /* SEEK_DATA/SEEK_HOLE answer */
};

static const char *const gl_protocols[] = { "gluster", "gluster+tcp",
					    "gluster+unix", "gluster+rdma",
					    NULL };

static const struct qimg_opt_desc gl_runtime_opts[] = {
	{ "filename", QIMG_OPT_STRING, NULL, NULL },
	{ "volume", QIMG_OPT_STRING, NULL, NULL },
	{ "path", QIMG_OPT_STRING, NULL, NULL },
	{ "server", QIMG_OPT_STRING, NULL, NULL },
	{ "server.*", QIMG_OPT_STRING, NULL, NULL },
	{ "debug", QIMG_OPT_STRING, NULL, NULL },
	{ "logfile", QIMG_OPT_STRING, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

/* In qemu-img's order (its "Formatting" line; -o help sorts by name). */
static const struct qimg_opt_desc gl_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "preallocation", QIMG_OPT_STRING,
	  "Preallocation mode (allowed values: off, falloc, full)", NULL },
	{ "debug", QIMG_OPT_NUMBER, "Gluster log level, valid range is 0-9",
	  NULL },
	{ "logfile", QIMG_OPT_STRING, "Logfile path of libgfapi", NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const gl_strong_opts[] = { "volume", "path", "server",
					      NULL };

static void conf_free(struct gl_conf *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->srv[i].addr);
		free(c->srv[i].port);
	}
	free(c->volume);
	free(c->path);
	free(c->logfile);
	memset(c, 0, sizeof(*c));
}

/* --- names ---------------------------------------------------------------- */

static int bad_url(const char *name, struct qimg_error *err)
{
	return qimg_error_set(err, EINVAL, "invalid URI %s\n" GL_URL_USAGE,
			      name);
}

/* The one non-empty parameter of the query [*q, *qend) (split at '&' and
 * ';'), which *q and *qend then delimit; false when there are more. */
static bool one_param(const char **q, const char **qend)
{
	const char *p = *q, *found = NULL, *found_end = NULL;

	while (p < *qend) {
		const char *e = p + strcspn(p, "&;#");

		if (e > *qend)
			e = *qend;
		if (e > p) {
			if (found)
				return false;
			found = p;
			found_end = e;
		}
		p = e + 1;
	}
	if (!found)
		return false;
	*q = found;
	*qend = found_end;
	return true;
}

/* gluster[+tcp|+unix|+rdma]://[USER@][HOST[:PORT]]/VOLUME/PATH[?socket=S]
 * [#FRAGMENT], split as qemu-img splits it: the volume is the path's first
 * component, the image's path what follows its slashes; unix takes exactly
 * a socket parameter and no host; tcp takes no parameter. */
static int parse_url(const char *name, struct gl_conf *c,
		     struct qimg_error *err)
{
	const char *p, *auth, *host, *hend, *aend, *path, *pend, *q = NULL;
	const char *qend, *vend, *img;
	bool is_unix = false;
	unsigned long port = 0;
	size_t hn;

	memset(c, 0, sizeof(*c));
	c->url = name;
	if (!qimg_uri_valid(name))
		return bad_url(name, err);
	if (!strncmp(name, "gluster://", 10) ||
	    !strncmp(name, "gluster+tcp://", 14)) {
		p = strstr(name, "://") + 3;
	} else if (!strncmp(name, "gluster+unix://", 15)) {
		is_unix = true;
		p = name + 15;
	} else if (!strncmp(name, "gluster+rdma://", 15)) {
		c->rdma = true;
		p = name + 15;
	} else {
		return bad_url(name, err);
	}
	auth = p;
	aend = auth + strcspn(auth, "/?#");
	path = aend;
	pend = path + strcspn(path, "?#");
	qend = pend;
	if (*pend == '?') {
		q = pend + 1;
		qend = q + strcspn(q, "#");
		if (q == qend)
			q = NULL; /* an empty query is none */
	}
	/* [USER@]HOST[:PORT] */
	host = memchr(auth, '@', (size_t)(aend - auth));
	host = host ? host + 1 : auth;
	if (*host == '[') {
		hend = memchr(host, ']', (size_t)(aend - host));
		if (!hend)
			return bad_url(name, err);
		hend++;
	} else {
		hend = memchr(host, ':', (size_t)(aend - host));
		if (!hend)
			hend = aend;
	}
	if (hend < aend) {
		const char *d;

		if (*hend != ':' || hend + 1 == aend)
			return bad_url(name, err);
		for (d = hend + 1; d < aend; d++) {
			if (*d < '0' || *d > '9')
				return bad_url(name, err);
			port = port * 10 + (unsigned long)(*d - '0');
			if (port > 65535)
				return bad_url(name, err);
		}
	}
	hn = (size_t)(hend - host);
	/* /VOLUME/PATH */
	if (path == pend || *path != '/')
		return bad_url(name, err);
	path++;
	vend = memchr(path, '/', (size_t)(pend - path));
	if (!vend || vend == path)
		return bad_url(name, err);
	img = vend + strspn(vend, "/");
	if (img >= pend)
		return bad_url(name, err);
	/* The query: one parameter, socket, for unix (and then neither a
	 * host nor a port); none for tcp.  "socket" without a value is no
	 * socket, refused when the server is set up. */
	if (is_unix) {
		if (!q || hn || port || hend < aend || !one_param(&q, &qend) ||
		    qend - q < 6 || strncmp(q, "socket", 6) ||
		    (q + 6 < qend && q[6] != '='))
			return bad_url(name, err);
	} else if (q) {
		return bad_url(name, err);
	}
	c->n = 1;
	c->srv[0].is_unix = is_unix;
	if (is_unix) {
		if (q + 6 < qend)
			c->srv[0].addr =
				qimg_uri_decode(q + 7, (size_t)(qend - q - 7));
	} else {
		char num[16];

		/* port 0 is no port: the default */
		snprintf(num, sizeof(num), "%lu", port);
		c->srv[0].addr =
			hn ? qimg_uri_decode(host, hn) : strdup("localhost");
		c->srv[0].port = strdup(port ? num : GL_DEFAULT_PORT);
	}
	c->volume = qimg_uri_decode(path, (size_t)(vend - path));
	c->path = qimg_uri_decode(img, (size_t)(pend - img));
	if ((!c->srv[0].addr && (!is_unix || q + 6 < qend)) ||
	    (!is_unix && !c->srv[0].port) || !c->volume || !c->path) {
		conf_free(c);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	return 0;
}

/* The name becomes option "filename", read (and checked) at open, as
 * qemu-img reads it. */
static int gl_parse_filename(const char *name, struct qimg_value *o,
			     struct qimg_error *err)
{
	if (qimg_dict_put_str(o, "filename", name) < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

/* --- options -------------------------------------------------------------- */

/* A list given as a JSON array, or as a dict "0", "1", ... (the dotted
 * keys of --image-opts: server.0.host). */
static const struct qimg_value *item(const struct qimg_value *v, size_t i)
{
	char key[24];

	if (qimg_value_type(v) == QIMG_VALUE_LIST)
		return qimg_value_at(v, i, NULL);
	snprintf(key, sizeof(key), "%zu", i);
	return qimg_dict_get(v, key);
}

static size_t list_len(const struct qimg_value *v)
{
	size_t n = 0;

	if (qimg_value_type(v) == QIMG_VALUE_LIST)
		return qimg_value_count(v);
	if (qimg_value_type(v) != QIMG_VALUE_DICT)
		return 0;
	while (item(v, n))
		n++;
	return n;
}

static char *member(const struct qimg_value *d, const char *key)
{
	char buf[32];
	const char *s = qimg_value_text(qimg_dict_get(d, key), buf, false);

	return s ? strdup(s) : NULL;
}

static int json_missing(struct qimg_error *err, const char *what)
{
	return qimg_error_set(
		err, EINVAL, "Parameter '%s' is missing\n" GL_JSON_USAGE, what);
}

static int server_error(struct qimg_error *err, size_t i, const char *msg)
{
	return qimg_error_set(err, EINVAL,
			      "%s\nhint: check in 'server' array index "
			      "'%zu'\n" GL_JSON_USAGE,
			      msg, i);
}

/* The json form: the server list first, then volume, path, then each
 * server's members (qemu-img's order). */
static int parse_json(const struct qimg_value *o, struct gl_conf *c,
		      struct qimg_error *err)
{
	const struct qimg_value *srv = qimg_dict_get(o, "server");
	size_t i, n = srv ? list_len(srv) : 0;

	memset(c, 0, sizeof(*c));
	if (!n)
		return json_missing(err, "server");
	if (n > GL_MAX_SERVERS)
		n = GL_MAX_SERVERS;
	c->volume = member(o, "volume");
	if (!c->volume)
		return json_missing(err, "volume");
	c->path = member(o, "path");
	if (!c->path)
		return json_missing(err, "path");
	for (i = 0; i < n; i++) {
		const struct qimg_value *s = item(srv, i);
		struct gl_server *g = &c->srv[i];
		char *type = member(s, "type");

		c->n = i + 1;
		if (!type)
			return server_error(err, i,
					    "Parameter 'type' is missing");
		if (strcmp(type, "inet") && strcmp(type, "unix")) {
			free(type);
			return server_error(err, i,
					    "Parameter 'type' may be 'inet' "
					    "or 'unix'");
		}
		g->is_unix = !strcmp(type, "unix");
		free(type);
		if (g->is_unix) {
			g->addr = member(s, "path");
			if (!g->addr)
				return server_error(
					err, i, "Parameter 'path' is missing");
			continue;
		}
		g->addr = member(s, "host");
		if (!g->addr)
			return server_error(err, i,
					    "Parameter 'host' is missing");
		g->port = member(s, "port");
		if (!g->port)
			return server_error(err, i,
					    "Parameter 'port' is missing");
	}
	return 0;
}

/* debug and logfile, whichever form named the file. */
static int parse_log(const struct qimg_value *o, struct gl_conf *c,
		     struct qimg_error *err)
{
	const struct qimg_value *v = qimg_dict_get(o, "debug");
	char buf[32];

	c->debug = GL_DEFAULT_DEBUG;
	if (v) {
		const char *s = qimg_value_text(v, buf, false);
		long long d;
		char *end;

		errno = 0;
		d = s ? strtoll(s, &end, 0) : 0;
		if (!s || !*s || errno || *end)
			return qimg_error_set(err, EINVAL,
					      "Parameter 'debug' expects a "
					      "number");
		c->debug = d < 0 ? 0 : d > GL_MAX_DEBUG ? GL_MAX_DEBUG : (int)d;
	}
	c->logfile = member(o, "logfile");
	if (!c->logfile)
		c->logfile = strdup(GL_DEFAULT_LOGFILE);
	if (!c->logfile)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

/* The whole configuration: the options tree o, or a name. */
static int get_conf(const struct qimg_value *o, const char *name,
		    struct gl_conf *c, struct qimg_error *err)
{
	char buf[32];
	const char *fn =
		qimg_value_text(qimg_dict_get(o, "filename"), buf, false);
	struct gl_conf log = { 0 };
	int r;

	r = parse_log(o, &log, err);
	if (r < 0) {
		conf_free(&log);
		return r;
	}
	if (!fn)
		fn = name;
	r = fn ? parse_url(fn, c, err) : parse_json(o, c, err);
	if (r < 0) {
		conf_free(&log);
		conf_free(c);
		return r;
	}
	c->debug = log.debug;
	c->logfile = log.logfile;
	log.logfile = NULL;
	conf_free(&log);
	return 0;
}

/* --- connecting ------------------------------------------------------------ */

static bool port_ok(const char *s, int *port)
{
	long v;
	char *end;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 65535)
		return false;
	*port = (int)v;
	return true;
}

static int connect_failed(const struct gl_conf *c, struct qimg_error *err)
{
	char hint[QIMG_ERROR_MSG_MAX] = "";
	size_t i, used = 0;

	for (i = 0; i < c->n && used < sizeof(hint); i++) {
		int n;

		if (c->srv[i].is_unix)
			n = snprintf(hint + used, sizeof(hint) - used,
				     "hint: failed on socket %s ",
				     c->srv[i].addr);
		else
			n = snprintf(hint + used, sizeof(hint) - used,
				     "hint: failed on host %s and port %s ",
				     c->srv[i].addr, c->srv[i].port);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return qimg_error_set(
		err, EIO,
		"Gluster connection for volume %s, path %s failed "
		"to connect\n%sPlease refer to gluster logs for "
		"more info",
		c->volume, c->path, hint);
}

/* A failure without words of its own: qemu-img's two wordings, the block
 * layer's for a name, the driver's for the options. */
static int open_fail(const struct gl_conf *c, int e, struct qimg_error *err)
{
	if (c->url)
		return qimg_error_set(err, e, "Could not open '%s': %s", c->url,
				      strerror(e));
	return qimg_error_set_errno(err, e, "Could not open image");
}

/* A glfs_t for c, initialised (connected), or an error. */
static int gl_connect(struct qimg_node *node, const struct gl_conf *c,
		      glfs_t **out, struct qimg_error *err)
{
	glfs_t *fs;
	size_t i;
	int r;

	*out = NULL;
	r = qimg_gfapi_load(err);
	if (r < 0)
		return r;
	if (c->rdma)
		qimg_node_warn(node, "rdma feature is not supported, falling "
				     "back to tcp");
	fs = glfs_new(c->volume);
	if (!fs)
		return open_fail(c, errno ? errno : ENOMEM, err);
	for (i = 0; i < c->n; i++) {
		int port = 0;

		if (!c->srv[i].is_unix && !port_ok(c->srv[i].port, &port)) {
			r = qimg_error_set(err, EINVAL,
					   "'%s' is not a valid port number",
					   c->srv[i].port);
			goto fail;
		}
		if (!c->srv[i].addr) { /* "?socket" without a value */
			r = open_fail(c, EINVAL, err);
			goto fail;
		}
		if (glfs_set_volfile_server(fs,
					    c->srv[i].is_unix ? "unix" : "tcp",
					    c->srv[i].addr, port) < 0) {
			r = open_fail(c, errno ? errno : EINVAL, err);
			goto fail;
		}
	}
	if (glfs_set_logging(fs, c->logfile, c->debug) < 0) {
		r = open_fail(c, errno ? errno : EINVAL, err);
		goto fail;
	}
	if (glfs_init(fs) < 0) {
		r = connect_failed(c, err);
		goto fail;
	}
	/* As qemu-img: a write that failed is retried at the next fsync,
	 * not dropped from the write-behind cache. */
	glfs_set_xlator_option(fs, "*-write-behind",
			       "resync-failed-syncs-after-fsync", "on");
	*out = fs;
	return 0;
fail:
	glfs_fini(fs);
	return r;
}

static void gl_disconnect(struct gl_state *s)
{
	if (s->fd)
		glfs_close(s->fd);
	if (s->fs)
		glfs_fini(s->fs);
	s->fd = NULL;
	s->fs = NULL;
}

/* --- the driver ----------------------------------------------------------- */

static int gl_open(struct qimg_node *node, const struct qimg_opts *opts,
		   struct qimg_error *err)
{
	struct gl_state *s = node->opaque;
	struct gl_conf c;
	off_t end;
	int r;

	(void)opts; /* validated; the tree keeps nesting */
	r = get_conf(node->options, NULL, &c, err);
	if (r < 0)
		return r;
	r = gl_connect(node, &c, &s->fs, err);
	if (r < 0)
		goto out;
	s->fd = glfs_open(s->fs, c.path,
			  (node->flags & QIMG_OPEN_RDWR) ? O_RDWR : O_RDONLY);
	if (!s->fd) {
		r = open_fail(&c, errno ? errno : EIO, err);
		gl_disconnect(s);
		goto out;
	}
	/* SEEK_DATA at the end of the file answers ENXIO where the server
	 * supports it (older ones answer with the offset). */
	end = glfs_lseek(s->fd, 0, SEEK_END);
	s->seek_ok = end >= 0 && glfs_lseek(s->fd, end, SEEK_DATA) < 0 &&
		     errno == ENXIO;
	if (end < 0) {
		r = qimg_error_set_errno(err, errno, "Could not get the size");
		gl_disconnect(s);
		goto out;
	}
	node->size = (uint64_t)end;
	node->limits.grows = true;
	/* qemu-img's gluster driver works in 512-byte units (a qcow2 it
	 * creates ends on one) and fails a short read: so do we write. */
	node->limits.request_align = 512;
	node->limits.max_transfer = GL_CHUNK;
	node->zero_init = true;
	r = 0;
out:
	conf_free(&c);
	return r;
}

static void gl_close(struct qimg_node *node)
{
	gl_disconnect(node->opaque);
}

static int gl_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		   struct qimg_error *err)
{
	struct gl_state *s = node->opaque;
	uint8_t *p = buf;

	while (len) {
		ssize_t n = glfs_pread(s->fd, p, len, (off_t)off, 0, NULL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return qimg_error_set_errno(err, errno, "Read failed");
		if (n == 0) {
			memset(p, 0, len); /* past the end: zeros */
			break;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int gl_write(struct qimg_node *node, uint64_t off, const void *buf,
		    size_t len, struct qimg_error *err)
{
	struct gl_state *s = node->opaque;
	const uint8_t *p = buf;

	while (len) {
		ssize_t n =
			glfs_pwrite(s->fd, p, len, (off_t)off, 0, NULL, NULL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return qimg_error_set_errno(err, n < 0 ? errno : EIO,
						    "Write failed");
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int gl_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct gl_state *s = node->opaque;

	if (node->cache == QIMG_CACHE_UNSAFE)
		return 0;
	if (glfs_fsync(s->fd, NULL, NULL) < 0)
		return qimg_error_set_errno(err, errno, "Flush failed");
	return 0;
}

static int gl_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			   unsigned int flags, struct qimg_error *err)
{
	struct gl_state *s = node->opaque;

	(void)flags;
	if (glfs_zerofill(s->fd, (off_t)off, (off_t)len) < 0) {
		if (errno == ENOTSUP || errno == EOPNOTSUPP || errno == ENOSYS)
			return -ENOTSUP;
		return qimg_error_set_errno(err, errno, "Write zeroes failed");
	}
	return 0;
}

static int gl_discard(struct qimg_node *node, uint64_t off, uint64_t len,
		      struct qimg_error *err)
{
	struct gl_state *s = node->opaque;

	if (glfs_discard(s->fd, (off_t)off, (size_t)len) < 0) {
		if (errno == ENOTSUP || errno == EOPNOTSUPP || errno == ENOSYS)
			return -ENOTSUP;
		return qimg_error_set_errno(err, errno, "Discard failed");
	}
	return 0;
}

static int64_t gl_length(struct qimg_node *node)
{
	struct gl_state *s = node->opaque;
	struct stat st;

	if (glfs_fstat(s->fd, &st) < 0)
		return -1;
	return (int64_t)st.st_size;
}

static int64_t gl_allocated_size(struct qimg_node *node)
{
	struct gl_state *s = node->opaque;
	struct stat st;

	if (glfs_fstat(s->fd, &st) < 0 || st.st_blocks < 0 ||
	    st.st_blocks > INT64_MAX / 512)
		return -1;
	return (int64_t)st.st_blocks * 512;
}

/* SEEK_DATA/SEEK_HOLE on the file, as the file protocol answers. */
static int gl_block_status(struct qimg_node *node, uint64_t off, uint64_t len,
			   struct qimg_extent *ext, struct qimg_error *err)
{
	struct gl_state *s = node->opaque;
	int64_t flen = gl_length(node);
	off_t data, hole;
	uint64_t n;

	(void)err;
	ext->map = off;
	ext->file = node;
	ext->len = len;
	ext->flags = QIMG_BS_DATA | QIMG_BS_OFFSET_VALID | QIMG_BS_ALLOCATED;
	if (!s->seek_ok || flen < 0)
		return 0;
	if (off >= (uint64_t)flen) {
		ext->flags = QIMG_BS_ZERO | QIMG_BS_OFFSET_VALID |
			     QIMG_BS_ALLOCATED | QIMG_BS_EOF;
		return 0;
	}
	data = glfs_lseek(s->fd, (off_t)off, SEEK_DATA);
	if (data < 0 && errno == ENXIO)
		data = flen; /* a hole up to the end */
	else if (data < 0)
		return 0;
	if ((uint64_t)data > off) {
		n = (uint64_t)data - off;
		ext->len = n < len ? n : len;
		ext->flags =
			QIMG_BS_ZERO | QIMG_BS_OFFSET_VALID | QIMG_BS_ALLOCATED;
		if (data >= flen && ext->len == n)
			ext->flags |= QIMG_BS_EOF;
		return 0;
	}
	hole = glfs_lseek(s->fd, (off_t)off, SEEK_HOLE);
	if (hole < 0 || (uint64_t)hole <= off)
		hole = flen;
	n = (uint64_t)hole - off;
	ext->len = n < len ? n : len;
	return 0;
}

/* Grow or shrink; falloc allocates the new part, full writes it with
 * zeros (qemu-img's three modes). */
static int gl_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
		       const char *prealloc, struct qimg_error *err)
{
	struct gl_state *s = node->opaque;
	int64_t old = gl_length(node);

	(void)flags;
	if (old < 0)
		return qimg_error_set_errno(err, errno,
					    "Could not resize file");
	if (!prealloc)
		prealloc = "off";
	if (strcmp(prealloc, "off") && strcmp(prealloc, "falloc") &&
	    strcmp(prealloc, "full"))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported preallocation mode: %s",
				      prealloc);
	if (!strcmp(prealloc, "falloc") && size > (uint64_t)old) {
		if (glfs_fallocate(s->fd, 0, (off_t)old,
				   (size_t)(size - (uint64_t)old)) < 0)
			return qimg_error_set_errno(
				err, errno, "Could not preallocate data");
		return 0;
	}
	if (glfs_ftruncate(s->fd, (off_t)size, NULL, NULL) < 0)
		return qimg_error_set_errno(err, errno,
					    "Could not resize file");
	if (!strcmp(prealloc, "full") && size > (uint64_t)old &&
	    glfs_zerofill(s->fd, (off_t)old, (off_t)(size - (uint64_t)old)) < 0)
		return qimg_error_set_errno(err, errno,
					    "Could not zerofill the new area");
	return 0;
}

/* Make (or empty) the file; the format's create sizes it.  The node is
 * not open: its name, or its options, are all there is to go by. */
static int gl_create(struct qimg_node *node, const struct qimg_opts *o,
		     struct qimg_error *err)
{
	struct gl_state *s = node->opaque;
	const struct qimg_value *opts = node->options;
	struct qimg_value *empty = NULL;
	struct gl_conf c;
	const char *v;
	int r;

	if (!opts)
		opts = empty = qimg_value_dict();
	if (!opts)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = get_conf(opts,
		     qimg_dict_get(opts, "volume") ? NULL : node->filename, &c,
		     err);
	qimg_value_free(empty);
	if (r < 0)
		return r;
	if ((v = qimg_opts_get_str(o, "logfile", NULL))) {
		char *l = strdup(v);

		if (!l) {
			conf_free(&c);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
		free(c.logfile);
		c.logfile = l;
	}
	if (qimg_opts_get_str(o, "debug", NULL)) {
		uint64_t d = qimg_opts_get_u64(o, "debug", GL_DEFAULT_DEBUG);

		c.debug = d > GL_MAX_DEBUG ? GL_MAX_DEBUG : (int)d;
	}
	r = gl_connect(node, &c, &s->fs, err);
	if (r == 0) {
		s->fd = glfs_creat(s->fs, c.path, O_WRONLY | O_CREAT | O_TRUNC,
				   S_IRUSR | S_IWUSR);
		if (!s->fd)
			r = qimg_error_set_errno(err, errno ? errno : EIO,
						 "Could not create image");
	}
	gl_disconnect(s);
	conf_free(&c);
	return r;
}

const struct qimg_driver qimg_driver_gluster = {
	.name = "gluster",
	.kind = QIMG_DRIVER_PROTOCOL,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct gl_state),
	.create_opts = gl_create_opts,
	.protocols = gl_protocols,
	.parse_filename = gl_parse_filename,
	.runtime_opts = gl_runtime_opts,
	.strong_opts = gl_strong_opts,
	.open = gl_open,
	.close = gl_close,
	.create = gl_create,
	.read = gl_read,
	.write = gl_write,
	.write_zeroes = gl_write_zeroes,
	.discard = gl_discard,
	.flush = gl_flush,
	.block_status = gl_block_status,
	.truncate = gl_truncate,
	.length = gl_length,
	.allocated_size = gl_allocated_size,
};
