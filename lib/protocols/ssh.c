/* SPDX-License-Identifier: MIT */
/* The ssh protocol driver: one remote file over SFTP, with libssh.  Names
 * (ssh://[USER@]HOST[:PORT]/PATH[?host_key_check=...]) become the options
 * qemu-img's ssh driver takes; the TCP connection is made here (so that its
 * errors read as qemu-img's) and handed to libssh for the handshake, the
 * host key check (known_hosts, a fingerprint, or none), public key
 * authentication (agent, then default keys) and the SFTP channel. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/driver.h"
#include "util/uri.h"
#include "protocols/libssh-dl.h"
#include "protocols/ssh.h"
#include "util/value-check.h"

#define SSH_CHUNK (64u << 10) /* bytes per SFTP read/write request */

enum hkc_mode {
	HKC_KNOWN_HOSTS,
	HKC_NONE,
	HKC_HASH
};

struct ssh_state {
	ssh_session session;
	sftp_session sftp;
	sftp_file file;
	uint64_t size; /* the remote file's length as we know it */
	bool has_fsync;
	/* What the name is built from (exact_filename). */
	char *user, *host, *port, *path, *legacy_hkc;
};

/* The options of one connection, pointing into an options tree (or into
 * the buffers for numbers given as JSON numbers). */
struct ssh_conf {
	const char *host, *port, *path, *user, *legacy_hkc;
	enum hkc_mode mode;
	const char *hash_type, *hash;
	char buf[8][32]; /* host port path user legacy mode type hash */
};

static const char *const ssh_protocols[] = { "ssh", NULL };

/* The legacy "port" is a number as qemu-img's; server.port any text (the
 * connection refuses what is not numeric). */
static const struct qimg_opt_desc ssh_runtime_opts[] = {
	{ "server", QIMG_OPT_STRING, NULL, NULL },
	{ "server.*", QIMG_OPT_STRING, NULL, NULL },
	{ "path", QIMG_OPT_STRING, NULL, NULL },
	{ "user", QIMG_OPT_STRING, NULL, NULL },
	{ "host-key-check", QIMG_OPT_STRING, NULL, NULL },
	{ "host-key-check.*", QIMG_OPT_STRING, NULL, NULL },
	{ "host", QIMG_OPT_STRING, NULL, NULL },
	{ "port", QIMG_OPT_NUMBER, NULL, NULL },
	{ "host_key_check", QIMG_OPT_STRING, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct qimg_opt_desc ssh_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const ssh_strong_opts[] = { "server", "host", "port",
					       "path",	 "user", NULL };

/* --- names ---------------------------------------------------------------- */

/* Put the decoded s[0..n) under key (a dotted key goes below a dict). */
static int put_decoded(struct qimg_value *o, const char *key, const char *s,
		       size_t n)
{
	const char *dot = strchr(key, '.');
	struct qimg_value *d = o;
	char *v = qimg_uri_decode(s, n);
	int r;

	if (!v)
		return -ENOMEM;
	if (dot) {
		d = qimg_dict_get(o, "server");
		if (!d && qimg_dict_put(o, "server", qimg_value_dict()) == 0)
			d = qimg_dict_get(o, "server");
		key = dot + 1;
	}
	r = d ? qimg_dict_put_str(d, key, v) : -ENOMEM;
	free(v);
	return r;
}

/* ssh://[USER@]HOST[:PORT]/PATH[?host_key_check=X][#...].  A port that is
 * no number from 1 to 65535 makes the whole name unusable: nothing is put,
 * and open then misses the server, as qemu-img does. */
static int ssh_parse_filename(const char *name, struct qimg_value *o,
			      struct qimg_error *err)
{
	const char *a, *a_end, *at, *h, *colon = NULL, *path, *p_end, *q;
	char port[8] = "22";
	int r = 0;

	/* QEMU's order: a name that is no URI gives no options at all (the
	 * open then misses the server), then the scheme, then the host. */
	if (strncmp(name, "ssh://", 6)) {
		if (!qimg_uri_valid(name))
			return 0;
		if (!qimg_uri_scheme_is(name, "ssh"))
			return qimg_error_set(err, EINVAL,
					      "URI scheme must be 'ssh'");
		return qimg_error_set(err, EINVAL, "missing hostname in URI");
	}
	a = name + 6;
	a_end = a + strcspn(a, "/?#");
	for (at = NULL, h = a; h < a_end; h++)
		if (*h == '@')
			at = h;
	h = at ? at + 1 : a;
	if (*h == '[') {
		const char *close = memchr(h, ']', (size_t)(a_end - h));

		if (close && close + 1 < a_end && close[1] == ':')
			colon = close + 1;
	} else {
		colon = memchr(h, ':', (size_t)(a_end - h));
	}
	if (colon) {
		size_t n = (size_t)(a_end - colon - 1), i;
		unsigned long v = 0;

		for (i = 0; i < n && v <= 65535; i++) {
			if (colon[1 + i] < '0' || colon[1 + i] > '9')
				return 0;
			v = v * 10 + (unsigned long)(colon[1 + i] - '0');
		}
		if (!n || v > 65535)
			return 0;
		if (v)
			snprintf(port, sizeof(port), "%lu", v);
	}
	if ((colon ? colon : a_end) == h)
		return qimg_error_set(err, EINVAL, "missing hostname in URI");
	path = a_end;
	p_end = path + strcspn(path, "?#");
	if (p_end == path)
		return qimg_error_set(err, EINVAL,
				      "missing remote path in URI");
	if (at)
		r |= put_decoded(o, "user", a, (size_t)(at - a));
	r |= put_decoded(o, "server.host", h,
			 (size_t)((colon ? colon : a_end) - h));
	r |= put_decoded(o, "server.port", port, strlen(port));
	r |= put_decoded(o, "path", path, (size_t)(p_end - path));
	/* Of the query only host_key_check counts (the last one given). */
	for (q = *p_end == '?' ? p_end + 1 : NULL; q && *q && *q != '#';) {
		size_t n = strcspn(q, "&#");

		if (n >= 14 && !strncmp(q, "host_key_check", 14) &&
		    (n == 14 || q[14] == '='))
			r |= put_decoded(o, "host_key_check",
					 q + (n > 14 ? 15 : 14),
					 n > 14 ? n - 15 : 0);
		q += n;
		if (*q == '&')
			q++;
	}
	if (r < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

/* --- options -------------------------------------------------------------- */

/* An option's text whatever its JSON type; buf holds numbers. */
static const char *text(const struct qimg_value *v, char *buf)
{
	return qimg_value_text(v, buf, true);
}

static int missing(struct qimg_error *err, const char *name)
{
	return qimg_error_set(err, EINVAL, "Parameter '%s' is missing", name);
}

static int bad_value(struct qimg_error *err, const char *name, const char *v)
{
	return qimg_error_set(err, EINVAL,
			      "Parameter '%s' does not accept value '%s'", name,
			      v);
}

static int not_object(struct qimg_error *err, const char *name)
{
	return qimg_error_set(err, EINVAL,
			      "Invalid parameter type for '%s', expected: "
			      "object",
			      name);
}

static int parse_legacy_hkc(struct ssh_conf *c, struct qimg_error *err)
{
	static const char *const types[] = { "md5", "sha1", "sha256" };
	const char *v = c->legacy_hkc, *colon = strchr(v, ':');
	size_t i;

	if (!strcmp(v, "no")) {
		c->mode = HKC_NONE;
		return 0;
	}
	if (!strcmp(v, "yes")) {
		c->mode = HKC_KNOWN_HOSTS;
		return 0;
	}
	for (i = 0; colon && i < 3; i++) {
		if (strlen(types[i]) == (size_t)(colon - v) &&
		    !strncmp(v, types[i], (size_t)(colon - v))) {
			c->mode = HKC_HASH;
			c->hash_type = types[i];
			c->hash = colon + 1;
			return 0;
		}
	}
	return qimg_error_set(err, EINVAL,
			      "unknown host_key_check setting (%s)", v);
}

static int parse_hkc(const struct qimg_value *d, struct ssh_conf *c,
		     struct qimg_error *err)
{
	static const char *const none_keys[] = { "mode", NULL };
	static const char *const hash_keys[] = { "mode", "type", "hash", NULL };
	const char *mode, *type;

	if (qimg_value_type(d) != QIMG_VALUE_DICT)
		return not_object(err, "host-key-check");
	mode = text(qimg_dict_get(d, "mode"), c->buf[5]);
	type = text(qimg_dict_get(d, "type"), c->buf[6]);
	if (c->legacy_hkc) {
		/* The legacy setting replaces what the dict says. */
	} else if (!mode) {
		return missing(err, "host-key-check.mode");
	} else if (!strcmp(mode, "none")) {
		c->mode = HKC_NONE;
	} else if (!strcmp(mode, "known_hosts")) {
		c->mode = HKC_KNOWN_HOSTS;
	} else if (!strcmp(mode, "hash")) {
		c->mode = HKC_HASH;
		if (!type)
			return missing(err, "host-key-check.type");
		if (strcmp(type, "md5") && strcmp(type, "sha1") &&
		    strcmp(type, "sha256"))
			return bad_value(err, "type", type);
		c->hash_type = type;
		c->hash = text(qimg_dict_get(d, "hash"), c->buf[7]);
		if (!c->hash)
			return missing(err, "host-key-check.hash");
	} else {
		return bad_value(err, "mode", mode);
	}
	return qimg_dict_only_keys(d, "host-key-check",
				   c->mode == HKC_HASH ? hash_keys : none_keys,
				   err);
}

/* The connection's settings from an options tree, checked in the order
 * qemu-img checks them. */
static int get_conf(const struct qimg_value *o, struct ssh_conf *c,
		    struct qimg_error *err)
{
	static const char *const server_keys[] = {
		"host", "port",	      "numeric", "to", "ipv4",
		"ipv6", "keep-alive", "mptcp",	 NULL
	};
	const struct qimg_value *srv = qimg_dict_get(o, "server");
	const struct qimg_value *hkc = qimg_dict_get(o, "host-key-check");
	const char *lport = text(qimg_dict_get(o, "port"), c->buf[1]);
	int r;

	c->host = text(qimg_dict_get(o, "host"), c->buf[0]);
	c->path = text(qimg_dict_get(o, "path"), c->buf[2]);
	c->user = text(qimg_dict_get(o, "user"), c->buf[3]);
	c->legacy_hkc = text(qimg_dict_get(o, "host_key_check"), c->buf[4]);
	c->mode = HKC_KNOWN_HOSTS;
	if (lport && !c->host)
		return qimg_error_set(err, EINVAL,
				      "port may not be used without host");
	if (c->legacy_hkc) {
		r = parse_legacy_hkc(c, err);
		if (r < 0)
			return r;
	}
	if (c->host) {
		c->port = lport ? lport : "22";
	} else if (!srv) {
		return missing(err, "server");
	} else if (qimg_value_type(srv) != QIMG_VALUE_DICT) {
		return not_object(err, "server");
	} else {
		c->host = text(qimg_dict_get(srv, "host"), c->buf[0]);
		c->port = text(qimg_dict_get(srv, "port"), c->buf[1]);
		if (!c->host)
			return missing(err, "server.host");
		if (!c->port)
			return missing(err, "server.port");
		r = qimg_dict_only_keys(srv, "server", server_keys, err);
		if (r < 0)
			return r;
	}
	if (!c->path)
		return missing(err, "path");
	return hkc ? parse_hkc(hkc, c, err) : 0;
}

/* --- connecting ----------------------------------------------------------- */

/* qemu-img takes as a port what reads as an int (negative or not). */
static bool numeric_port(const char *s, int *port)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || *end || errno || (long long)v < -2147483648LL ||
	    (long long)v > 4294967295LL)
		return false;
	*port = (int)(long long)v;
	return true;
}

static int connect_tcp(const char *host, const char *port,
		       struct qimg_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_family = AF_UNSPEC };
	struct addrinfo *res, *ai;
	int fd = -1, e = ECONNREFUSED, one = 1;
	int g = getaddrinfo(host, port, &hints, &res);

	if (g != 0)
		return qimg_error_set(err, EINVAL,
				      "address resolution failed for %s:%s: %s",
				      host, port, gai_strerror(g));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			/* Each SFTP request waits for its reply: no Nagle. */
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
					 sizeof(one));
			break;
		}
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return qimg_error_set(err, e,
				      "Failed to connect to '%s:%s': %s", host,
				      port, strerror(e));
	return fd;
}

/* An SFTP failure: qemu-img's wording with libssh's codes. */
__attribute__((format(printf, 3, 4))) static int
sftp_fail(struct ssh_state *s, struct qimg_error *err, const char *fmt, ...)
{
	int code = s->sftp ? sftp_get_error(s->sftp) : 0;
	int e = code == SSH_FX_NO_SUCH_FILE	   ? ENOENT
		: code == SSH_FX_PERMISSION_DENIED ? EACCES
						   : EIO;
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return qimg_error_set(err, e,
			      "%s: %s (libssh error code: %d, sftp error "
			      "code: %d)",
			      what, ssh_get_error(s->session),
			      ssh_get_error_code(s->session), code);
}

/* Compare a fingerprint given in hex (any case, colons allowed) with the
 * one computed. */
static bool same_hash(const char *given, const char *hex)
{
	for (; *given; given++) {
		if (*given == ':')
			continue;
		if (!*hex || tolower((unsigned char)*given) != *hex)
			return false;
		hex++;
	}
	return !*hex;
}

static int check_hash(struct ssh_state *s, const struct ssh_conf *c,
		      struct qimg_error *err)
{
	enum ssh_publickey_hash_type t =
		!strcmp(c->hash_type, "md5")	? SSH_PUBLICKEY_HASH_MD5
		: !strcmp(c->hash_type, "sha1") ? SSH_PUBLICKEY_HASH_SHA1
						: SSH_PUBLICKEY_HASH_SHA256;
	unsigned char *hash = NULL;
	char hex[2 * 64 + 1];
	ssh_key key = NULL;
	size_t len = 0, i;
	int r = 0;

	if (ssh_get_server_publickey(s->session, &key) != SSH_OK)
		return qimg_error_set(err, EIO,
				      "failed to read remote host key");
	if (ssh_get_publickey_hash(key, t, &hash, &len) != 0 || len > 64) {
		ssh_key_free(key);
		ssh_clean_pubkey_hash(&hash);
		return qimg_error_set(err, EIO, "failed to hash the host key");
	}
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", hash[i]);
	hex[2 * len] = '\0';
	if (!same_hash(c->hash, hex))
		r = qimg_error_set(err, EPERM,
				   "remote host %s key fingerprint '%s:%s' "
				   "does not match host_key_check '%s:%s'",
				   ssh_key_type_to_char(ssh_key_type(key)),
				   c->hash_type, hex, c->hash_type, c->hash);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return r;
}

static int check_known_hosts(struct ssh_state *s, struct qimg_error *err)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	char *fp = NULL;
	size_t len = 0;
	int r;

	switch (ssh_session_is_known_server(s->session)) {
	case SSH_KNOWN_HOSTS_OK:
		return 0;
	case SSH_KNOWN_HOSTS_CHANGED:
		if (ssh_get_server_publickey(s->session, &key) == SSH_OK &&
		    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256,
					   &hash, &len) == 0)
			fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256,
						      hash, len);
		r = qimg_error_set(err, EPERM,
				   "host key (%s key with fingerprint %s) "
				   "does not match the one in known_hosts; "
				   "this may be a possible attack",
				   ssh_key_type_to_char(ssh_key_type(key)),
				   fp ? fp : "?");
		ssh_string_free_char(fp);
		ssh_clean_pubkey_hash(&hash);
		ssh_key_free(key);
		return r;
	case SSH_KNOWN_HOSTS_OTHER:
		return qimg_error_set(err, EPERM,
				      "host key for this server not found, "
				      "another type exists");
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		return qimg_error_set(err, EPERM,
				      "no host key was found in known_hosts");
	case SSH_KNOWN_HOSTS_ERROR:
	default:
		return qimg_error_set(err, EIO,
				      "error while checking the host: %s",
				      ssh_get_error(s->session));
	}
}

static int authenticate(struct ssh_state *s, struct qimg_error *err)
{
	int r = ssh_userauth_none(s->session, NULL);

	if (r == SSH_AUTH_SUCCESS)
		return 0;
	if (r != SSH_AUTH_ERROR &&
	    (ssh_userauth_list(s->session, NULL) & SSH_AUTH_METHOD_PUBLICKEY) &&
	    ssh_userauth_publickey_auto(s->session, NULL, NULL) ==
		    SSH_AUTH_SUCCESS)
		return 0;
	return qimg_error_set(err, EPERM,
			      "failed to authenticate using publickey "
			      "authentication and the identities held by your "
			      "ssh-agent");
}

static void disconnect(struct ssh_state *s)
{
	if (s->file)
		sftp_close(s->file);
	if (s->sftp)
		sftp_free(s->sftp);
	if (s->session) {
		ssh_disconnect(s->session);
		ssh_free(s->session);
	}
	s->file = NULL;
	s->sftp = NULL;
	s->session = NULL;
	free(s->user);
	free(s->host);
	free(s->port);
	free(s->path);
	free(s->legacy_hkc);
	s->user = s->host = s->port = s->path = s->legacy_hkc = NULL;
}

/* Connect as the options tree `o` says and open the remote file with
 * `oflags`; unwinds itself on failure. */
static int ssh_start(struct qimg_node *node, const struct qimg_value *o,
		     int oflags, struct qimg_error *err)
{
	struct ssh_state *s = node->opaque;
	struct ssh_conf c;
	sftp_attributes st;
	char *user = NULL;
	int port, fd, r;

	r = get_conf(o, &c, err);
	if (r < 0)
		return r;
	if (!numeric_port(c.port, &port))
		return qimg_error_set(err, EINVAL,
				      "Use only numeric port value");
	r = qimg_libssh_load(err);
	if (r < 0)
		return r;
	fd = connect_tcp(c.host, c.port, err);
	if (fd < 0)
		return fd;
	s->session = ssh_new();
	if (!s->session) {
		close(fd);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	/* libssh owns the socket from here on (ssh_free closes it). */
	if (ssh_options_set(s->session, SSH_OPTIONS_FD, &fd) < 0 ||
	    ssh_options_set(s->session, SSH_OPTIONS_HOST, c.host) < 0 ||
	    ssh_options_set(s->session, SSH_OPTIONS_PORT, &port) < 0 ||
	    (c.user &&
	     ssh_options_set(s->session, SSH_OPTIONS_USER, c.user) < 0)) {
		r = qimg_error_set(err, EINVAL, "%s",
				   ssh_get_error(s->session));
		goto fail;
	}
	if (ssh_connect(s->session) != SSH_OK) {
		r = qimg_error_set(err, EIO,
				   "failed to establish SSH session: %s "
				   "(libssh error code: %d)",
				   ssh_get_error(s->session),
				   ssh_get_error_code(s->session));
		goto fail;
	}
	r = c.mode == HKC_NONE	 ? 0
	    : c.mode == HKC_HASH ? check_hash(s, &c, err)
				 : check_known_hosts(s, err);
	if (r == 0)
		r = authenticate(s, err);
	if (r < 0)
		goto fail;
	s->sftp = sftp_new(s->session);
	if (!s->sftp) {
		r = qimg_error_set(err, EIO,
				   "failed to create sftp handle: %s (libssh "
				   "error code: %d)",
				   ssh_get_error(s->session),
				   ssh_get_error_code(s->session));
		goto fail;
	}
	if (sftp_init(s->sftp) < 0) {
		r = sftp_fail(s, err, "failed to initialize sftp handle");
		goto fail;
	}
	s->file = sftp_open(s->sftp, c.path, oflags, 0644);
	if (!s->file) {
		r = sftp_fail(s, err, "failed to open remote file '%s'",
			      c.path);
		goto fail;
	}
	st = sftp_fstat(s->file);
	if (!st) {
		r = sftp_fail(s, err, "failed to read file attributes of '%s'",
			      c.path);
		goto fail;
	}
	s->size = st->size;
	node->zero_init = st->type == SSH_FILEXFER_TYPE_REGULAR;
	sftp_attributes_free(st);
	s->has_fsync =
		sftp_extension_supported(s->sftp, "fsync@openssh.com", "1") > 0;
	/* The user libssh logs in as (the local one unless given). */
	if (ssh_options_get(s->session, SSH_OPTIONS_USER, &user) == SSH_OK) {
		s->user = strdup(user);
		ssh_string_free_char(user);
	}
	s->host = strdup(c.host);
	s->port = strdup(c.port);
	s->path = strdup(c.path);
	s->legacy_hkc = c.legacy_hkc ? strdup(c.legacy_hkc) : NULL;
	if (!s->user || !s->host || !s->port || !s->path ||
	    (c.legacy_hkc && !s->legacy_hkc)) {
		r = qimg_error_set(err, ENOMEM, "Out of memory");
		goto fail;
	}
	return 0;
fail:
	disconnect(s);
	return r;
}

/* --- the driver ----------------------------------------------------------- */

static int ssh_open(struct qimg_node *node, const struct qimg_opts *opts,
		    struct qimg_error *err)
{
	struct ssh_state *s = node->opaque;
	int r;

	(void)opts; /* validated; the tree keeps nesting and JSON types */
	r = ssh_start(node, node->options,
		      (node->flags & QIMG_OPEN_RDWR) ? O_RDWR : O_RDONLY, err);
	if (r < 0)
		return r;
	node->size = s->size;
	node->limits.grows = true;
	/* qemu-img's ssh driver does I/O in whole sectors: so do we, for the
	 * same file lengths after writes past the end. */
	node->limits.request_align = 512;
	return 0;
}

static void ssh_close(struct qimg_node *node)
{
	disconnect(node->opaque);
}

static int ssh_read(struct qimg_node *node, uint64_t off, void *buf, size_t len,
		    struct qimg_error *err)
{
	struct ssh_state *s = node->opaque;
	char *p = buf;

	if (sftp_seek64(s->file, off) < 0)
		return sftp_fail(s, err, "Could not read '%s'", node->filename);
	while (len > 0) {
		ssize_t n = sftp_read(s->file, p,
				      len < SSH_CHUNK ? len : SSH_CHUNK);

		if (n < 0)
			return sftp_fail(s, err, "Could not read '%s'",
					 node->filename);
		if (n == 0) {
			/* Past the end of the remote file: zeros. */
			memset(p, 0, len);
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int ssh_write(struct qimg_node *node, uint64_t off, const void *buf,
		     size_t len, struct qimg_error *err)
{
	struct ssh_state *s = node->opaque;
	const char *p = buf;
	uint64_t end = off + len;

	if (sftp_seek64(s->file, off) < 0)
		return sftp_fail(s, err, "Could not write '%s'",
				 node->filename);
	while (len > 0) {
		ssize_t n = sftp_write(s->file, p,
				       len < SSH_CHUNK ? len : SSH_CHUNK);

		if (n <= 0)
			return sftp_fail(s, err, "Could not write '%s'",
					 node->filename);
		p += n;
		len -= (size_t)n;
	}
	if (end > s->size)
		s->size = end;
	return 0;
}

/* Without the server's fsync extension there is nothing to wait for. */
static int ssh_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct ssh_state *s = node->opaque;

	if (!s->has_fsync || node->cache == QIMG_CACHE_UNSAFE)
		return 0;
	if (sftp_fsync(s->file) < 0)
		return sftp_fail(s, err, "Could not flush '%s'",
				 node->filename);
	return 0;
}

/* A remote file only grows (qemu-img's ssh driver refuses to shrink). */
static int ssh_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
			const char *prealloc, struct qimg_error *err)
{
	struct ssh_state *s = node->opaque;
	struct sftp_attributes_struct attr = { 0 };
	int r;

	(void)flags;
	r = qimg_truncate_prealloc_off(prealloc, err);
	if (r < 0)
		return r;
	if (size < s->size)
		return qimg_error_set(err, ENOTSUP,
				      "ssh driver does not support shrinking "
				      "files");
	if (size == s->size)
		return 0;
	attr.flags = SSH_FILEXFER_ATTR_SIZE;
	attr.size = size;
	if (sftp_setstat(s->sftp, s->path, &attr) < 0)
		return sftp_fail(s, err, "Could not resize '%s'",
				 node->filename);
	s->size = size;
	return 0;
}

static int64_t ssh_length(struct qimg_node *node)
{
	struct ssh_state *s = node->opaque;

	return (int64_t)s->size;
}

/* Create (or empty) the remote file.  The node is not open: its name is
 * all there is to go by.  The format's create sizes it (raw grows it). */
static int ssh_create(struct qimg_node *node, const struct qimg_opts *o,
		      struct qimg_error *err)
{
	struct qimg_value *d = qimg_value_dict();
	int r;

	(void)o;
	if (!d)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = ssh_parse_filename(node->filename, d, err);
	if (r == 0)
		r = ssh_start(node, d, O_WRONLY | O_CREAT | O_TRUNC, err);
	qimg_value_free(d);
	if (r == 0)
		disconnect(node->opaque);
	return r;
}

/* ssh://USER@HOST:PORT/PATH as qemu-img names an ssh node, with the legacy
 * host_key_check when one was given. */
static char *ssh_exact_filename(struct qimg_node *node)
{
	struct ssh_state *s = node->opaque;
	char *r;

	if (!s->host ||
	    asprintf(&r, "ssh://%s@%s:%s%s%s%s", s->user, s->host, s->port,
		     s->path, s->legacy_hkc ? "?host_key_check=" : "",
		     s->legacy_hkc ? s->legacy_hkc : "") < 0)
		return NULL;
	return r;
}

/* The options checked as QEMU visits them, nothing done. */
static int ssh_visit_opts(const struct qimg_value *o, struct qimg_error *err)
{
	struct ssh_conf c;

	return get_conf(o, &c, err);
}

const struct qimg_driver qimg_driver_ssh = {
	.name = "ssh",
	.kind = QIMG_DRIVER_PROTOCOL,
	.threads = QIMG_THREADS_SERIAL,
	.state_size = sizeof(struct ssh_state),
	.create_opts = ssh_create_opts,
	.protocols = ssh_protocols,
	.parse_filename = ssh_parse_filename,
	.runtime_opts = ssh_runtime_opts,
	.strong_opts = ssh_strong_opts,
	.typed_opts = true,
	.visit_opts = ssh_visit_opts,
	.exact_filename = ssh_exact_filename,
	.open = ssh_open,
	.close = ssh_close,
	.create = ssh_create,
	.read = ssh_read,
	.write = ssh_write,
	.flush = ssh_flush,
	.truncate = ssh_truncate,
	.length = ssh_length,
};
