/* SPDX-License-Identifier: MIT */
/* The rbd protocol driver: a Ceph RBD image through librados and librbd
 * (loaded on first use).  The options are checked as qemu-img checks them
 * (a typed record: pool, namespace, image, conf, snapshot, encrypt, user,
 * auth-client-required, key-secret, server), then the cluster is joined
 * in qemu-img's order with its words for each failure: the configuration
 * file (given, or librados's default search), the legacy name's Ceph
 * settings, the monitors, the key, the connection, the pool, the
 * namespace, the image (a snapshot of it read-only).
 *
 * librbd's calls are synchronous and safe from any thread on one image
 * handle, so requests go straight to it (QIMG_THREADS_PARALLEL); only the
 * size is kept here, under a lock.  Block status asks the object map
 * (rbd_diff_iterate2 by whole objects) when the image has a valid
 * fast-diff map; otherwise everything is data, as qemu-img says. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/node.h"
#include "qimg/object.h"
#include "protocols/librbd-dl.h"
#include "protocols/rbd.h"
#include "util/value-check.h"

#define RBD_MIN_OBJECT 4096u
#define RBD_MAX_SNAPS_START 32

struct rbd_conf {
	const char *pool, *ns, *image, *conf, *snapshot, *user, *key_secret;
	const char *enc_format, *enc_secret;
	const struct qimg_value *auth, *server, *pairs;
	char buf[9][32]; /* the text of members given as numbers */
};

struct rbd_state {
	rados_t cluster;
	rados_ioctx_t io;
	rbd_image_t img;
	bool have_cluster, have_io, have_img;
	pthread_mutex_t lock; /* size */
	bool have_lock;
	uint64_t size;
	uint64_t obj_size;
	char *given_name; /* json's "filename": the node's name */
};

static const char *const rbd_protocols[] = { "rbd", NULL };

static const struct qimg_opt_desc rbd_runtime_opts[] = {
	{ "pool", QIMG_OPT_STRING, NULL, NULL },
	{ "namespace", QIMG_OPT_STRING, NULL, NULL },
	{ "image", QIMG_OPT_STRING, NULL, NULL },
	{ "conf", QIMG_OPT_STRING, NULL, NULL },
	{ "filename", QIMG_OPT_STRING, NULL, NULL }, /* deprecated */
	{ "snapshot", QIMG_OPT_STRING, NULL, NULL },
	{ "encrypt", QIMG_OPT_STRING, NULL, NULL },
	{ "encrypt.*", QIMG_OPT_STRING, NULL, NULL },
	{ "user", QIMG_OPT_STRING, NULL, NULL },
	{ "auth-client-required", QIMG_OPT_STRING, NULL, NULL },
	{ "auth-client-required.*", QIMG_OPT_STRING, NULL, NULL },
	{ "key-secret", QIMG_OPT_STRING, NULL, NULL },
	{ "server", QIMG_OPT_STRING, NULL, NULL },
	{ "server.*", QIMG_OPT_STRING, NULL, NULL },
	{ QIMG_RBD_PAIRS, QIMG_OPT_STRING, NULL, NULL },
	{ QIMG_RBD_PAIRS ".*", QIMG_OPT_STRING, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static const struct qimg_opt_desc rbd_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size", NULL },
	{ "cluster_size", QIMG_OPT_SIZE, "RBD object size", NULL },
	{ "encrypt.format", QIMG_OPT_STRING,
	  "Encrypt the image, format choices: 'luks', 'luks2'", NULL },
	{ "encrypt.cipher-alg", QIMG_OPT_STRING,
	  "Name of encryption cipher algorithm (allowed values: aes-128, "
	  "aes-256)",
	  NULL },
	{ "encrypt.key-secret", QIMG_OPT_STRING,
	  "ID of secret providing LUKS passphrase", NULL },
	{ "password-secret", QIMG_OPT_STRING,
	  "ID of secret providing the password", NULL },
	{ NULL, 0, NULL, NULL },
};

/* What names an rbd node in a json:{...} name (the key and the Ceph
 * settings of a legacy name do not show). */
static const char *const rbd_strong_opts[] = { "pool",	 "namespace", "image",
					       "conf",	 "snapshot",  "user",
					       "server", NULL };

/* --- options -------------------------------------------------------------- */

static int missing(struct qimg_error *err, const char *name)
{
	return qimg_error_set(err, EINVAL, "Parameter '%s' is missing", name);
}

static int wrong_type(struct qimg_error *err, const char *name,
		      const char *want)
{
	return qimg_error_set(err, EINVAL,
			      "Invalid parameter type for '%s', expected: %s",
			      name, want);
}

/* A scalar's text: qemu-img turns every scalar of the options into text
 * before it reads them (a port given as a JSON number is taken); buf
 * (32 bytes) holds a number's.  NULL for a dict or a list. */
static const char *text(const struct qimg_value *v, char *buf)
{
	return qimg_value_text(v, buf, true);
}

/* Optional string member `key` of d into *out (NULL when absent); buf
 * (32 bytes) may hold its text. */
static int str_member(const struct qimg_value *d, const char *key,
		      const char *shown, const char **out, char *buf,
		      struct qimg_error *err)
{
	const struct qimg_value *v = qimg_dict_get(d, key);

	*out = NULL;
	if (!v)
		return 0;
	*out = text(v, buf);
	if (!*out)
		return wrong_type(err, shown ? shown : key, "string");
	return 0;
}

/* A list given as a JSON array, or as a dict "0", "1", ... (the dotted
 * keys of --image-opts: server.0.host). */
static bool is_list(const struct qimg_value *v)
{
	char want[24];
	size_t i;

	if (qimg_value_type(v) == QIMG_VALUE_LIST)
		return true;
	if (qimg_value_type(v) != QIMG_VALUE_DICT)
		return false;
	for (i = 0; i < qimg_value_count(v); i++) {
		snprintf(want, sizeof(want), "%zu", i);
		if (!qimg_dict_get(v, want))
			return false;
	}
	return true;
}

static const struct qimg_value *item(const struct qimg_value *v, size_t i)
{
	char key[24];

	if (qimg_value_type(v) == QIMG_VALUE_LIST)
		return qimg_value_at(v, i, NULL);
	snprintf(key, sizeof(key), "%zu", i);
	return qimg_dict_get(v, key);
}

static int check_encrypt(const struct qimg_value *e, struct rbd_conf *c,
			 struct qimg_error *err)
{
	static const char *const keys[] = { "format", "key-secret", "parent",
					    NULL };
	int r;

	if (qimg_value_type(e) != QIMG_VALUE_DICT)
		return wrong_type(err, "encrypt", "object");
	r = str_member(e, "format", "encrypt.format", &c->enc_format, c->buf[0],
		       err);
	if (r < 0)
		return r;
	if (!c->enc_format)
		return missing(err, "encrypt.format");
	/* luks-any needs a librbd newer than Debian 12's: qemu-img 7.2
	 * built there does not know the word */
	if (!strcmp(c->enc_format, "luks-any"))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'format' does not accept "
				      "value 'luks-any'");
	if (strcmp(c->enc_format, "luks") && strcmp(c->enc_format, "luks2"))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'encrypt.format' does not "
				      "accept value '%s'",
				      c->enc_format);
	r = str_member(e, "key-secret", "encrypt.key-secret", &c->enc_secret,
		       c->buf[1], err);
	if (r < 0)
		return r;
	if (!c->enc_secret)
		return missing(err, "encrypt.key-secret");
	if (qimg_dict_get(e, "parent"))
		return qimg_error_set(err, EINVAL,
				      "Encrypted parent images are not "
				      "supported");
	return qimg_dict_only_keys(e, "encrypt", keys, err);
}

static int check_server(const struct qimg_value *l, struct qimg_error *err)
{
	static const char *const keys[] = { "host", "port", NULL };
	char name[48], buf[32];
	size_t i;
	int r;

	if (!is_list(l))
		return wrong_type(err, "server", "array");
	for (i = 0; i < qimg_value_count(l); i++) {
		const struct qimg_value *s = item(l, i);
		const char *v;

		snprintf(name, sizeof(name), "server[%zu]", i);
		if (qimg_value_type(s) != QIMG_VALUE_DICT)
			return wrong_type(err, name, "object");
		snprintf(name, sizeof(name), "server[%zu].host", i);
		r = str_member(s, "host", name, &v, buf, err);
		if (r == 0 && !v) {
			/* qemu-img names a missing one in its flat form */
			snprintf(name, sizeof(name), "server.%zu.host", i);
			r = missing(err, name);
		}
		if (r < 0)
			return r;
		snprintf(name, sizeof(name), "server[%zu].port", i);
		r = str_member(s, "port", name, &v, buf, err);
		if (r == 0 && !v) {
			/* qemu-img names a missing one in its flat form */
			snprintf(name, sizeof(name), "server.%zu.port", i);
			r = missing(err, name);
		}
		if (r < 0)
			return r;
		snprintf(name, sizeof(name), "server[%zu]", i);
		r = qimg_dict_only_keys(s, name, keys, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int check_auth(const struct qimg_value *l, struct qimg_error *err)
{
	char buf[32];
	size_t i;

	if (!is_list(l))
		return wrong_type(err, "auth-client-required", "array");
	for (i = 0; i < qimg_value_count(l); i++) {
		const char *v = text(item(l, i), buf);

		if (!v)
			return wrong_type(err, "null", "string");
		/* qemu-img names a list member 'null' here */
		if (strcmp(v, "cephx") && strcmp(v, "none"))
			return qimg_error_set(err, EINVAL,
					      "Parameter 'null' does not "
					      "accept value '%s'",
					      v);
	}
	return 0;
}

/* The record from the options tree, in the order qemu-img visits it. */
static int get_conf(const struct qimg_value *o, struct rbd_conf *c,
		    struct qimg_error *err)
{
	static const char *const keys[] = { "pool",
					    "namespace",
					    "image",
					    "conf",
					    "snapshot",
					    "encrypt",
					    "user",
					    "auth-client-required",
					    "key-secret",
					    "server",
					    QIMG_RBD_PAIRS,
					    "driver",
					    NULL };
	const struct qimg_value *e;
	int r;

	memset(c, 0, sizeof(*c));
	r = str_member(o, "pool", NULL, &c->pool, c->buf[2], err);
	if (r == 0 && !c->pool)
		r = missing(err, "pool");
	if (r == 0)
		r = str_member(o, "namespace", NULL, &c->ns, c->buf[3], err);
	if (r == 0)
		r = str_member(o, "image", NULL, &c->image, c->buf[4], err);
	if (r == 0 && !c->image)
		r = missing(err, "image");
	if (r == 0)
		r = str_member(o, "conf", NULL, &c->conf, c->buf[5], err);
	if (r == 0)
		r = str_member(o, "snapshot", NULL, &c->snapshot, c->buf[6],
			       err);
	e = qimg_dict_get(o, "encrypt");
	if (r == 0 && e)
		r = check_encrypt(e, c, err);
	if (r == 0)
		r = str_member(o, "user", NULL, &c->user, c->buf[7], err);
	c->auth = qimg_dict_get(o, "auth-client-required");
	if (r == 0 && c->auth)
		r = check_auth(c->auth, err);
	if (r == 0)
		r = str_member(o, "key-secret", NULL, &c->key_secret, c->buf[8],
			       err);
	c->server = qimg_dict_get(o, "server");
	if (r == 0 && c->server)
		r = check_server(c->server, err);
	c->pairs = qimg_dict_get(o, QIMG_RBD_PAIRS);
	if (r == 0 && c->pairs && qimg_value_type(c->pairs) != QIMG_VALUE_LIST)
		r = wrong_type(err, QIMG_RBD_PAIRS, "array");
	if (r == 0) {
		const char *key;
		size_t i;

		for (i = 0; i < qimg_value_count(o); i++) {
			const char *const *k;

			qimg_value_at(o, i, &key);
			for (k = keys; *k && strcmp(*k, key); k++)
				;
			if (!*k)
				return qimg_error_set(err, EINVAL,
						      "Parameter '%s' is "
						      "unexpected",
						      key);
		}
	}
	return r;
}

/* --- joining the cluster -------------------------------------------------- */

static void disconnect(struct rbd_state *s)
{
	if (s->have_img)
		rbd_close(s->img);
	if (s->have_io)
		rados_ioctx_destroy(s->io);
	if (s->have_cluster)
		rados_shutdown(s->cluster);
	s->have_img = s->have_io = s->have_cluster = false;
}

/* A librbd/librados failure (a negative errno) in qemu-img's words. */
#define FAIL(err, r, ...) qimg_error_set_errno((err), -(r), __VA_ARGS__)

/* The monitors of a server list: "HOST:PORT;HOST:PORT" ([HOST] when the
 * host has a ':'). */
static char *mon_host(const struct qimg_value *l)
{
	size_t i, cap = 1;
	char *r, hb[32], pb[32];

	for (i = 0; i < qimg_value_count(l); i++) {
		const struct qimg_value *s = item(l, i);

		cap += strlen(text(qimg_dict_get(s, "host"), hb)) +
		       strlen(text(qimg_dict_get(s, "port"), pb)) + 4;
	}
	r = calloc(1, cap);
	if (!r)
		return NULL;
	for (i = 0; i < qimg_value_count(l); i++) {
		const struct qimg_value *s = item(l, i);
		const char *h = text(qimg_dict_get(s, "host"), hb);
		const char *p = text(qimg_dict_get(s, "port"), pb);
		size_t n = strlen(r);

		snprintf(r + n, cap - n, "%s%s%s%s:%s", i ? ";" : "",
			 strchr(h, ':') ? "[" : "", h,
			 strchr(h, ':') ? "]" : "", p);
	}
	return r;
}

/* The key: the secret's bytes as base64, which is how Ceph takes a key. */
static int set_key(struct rbd_state *s, const struct qimg_objects *objects,
		   const char *id, struct qimg_error *err)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789+/";
	uint8_t *data;
	size_t len, i, j = 0;
	char *txt;
	int r = qimg_secret_get(objects, id, &data, &len, err);

	if (r < 0)
		return r;
	txt = malloc((len + 2) / 3 * 4 + 1);
	if (!txt) {
		qimg_secret_free(data, len);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		txt[j++] = b64[v >> 18 & 63];
		txt[j++] = b64[v >> 12 & 63];
		txt[j++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		txt[j++] = i + 2 < len ? b64[v & 63] : '=';
	}
	txt[j] = '\0';
	qimg_secret_free(data, len);
	r = rados_conf_set(s->cluster, "key", txt);
	qimg_secret_free((uint8_t *)txt, j);
	if (r < 0)
		return FAIL(err, r, "invalid conf option %s", "key");
	return 0;
}

static int set_auth(struct rbd_state *s, const struct qimg_value *l,
		    struct qimg_error *err)
{
	char buf[256] = "";
	size_t i;
	int r;

	for (i = 0; i < qimg_value_count(l); i++) {
		size_t n = strlen(buf);
		char tb[32];

		snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ";" : "",
			 text(item(l, i), tb));
	}
	r = rados_conf_set(s->cluster, "auth_client_required", buf);
	if (r < 0)
		return FAIL(err, r, "invalid conf option %s",
			    "auth_client_required");
	return 0;
}

/* Join the cluster and open the pool (and namespace) of c. */
static int connect_pool(struct rbd_state *s, const struct rbd_conf *c,
			const struct qimg_objects *objects,
			struct qimg_error *err)
{
	size_t i;
	int r = qimg_librbd_load(err);

	if (r < 0)
		return r;
	r = rados_create(&s->cluster, c->user);
	if (r < 0)
		return FAIL(err, r, "error initializing");
	s->have_cluster = true;
	if (c->conf) {
		r = rados_conf_read_file(s->cluster, c->conf);
		if (r < 0)
			return FAIL(err, r, "error reading conf file %s",
				    c->conf);
	} else {
		/* the default places; none there is no error */
		rados_conf_read_file(s->cluster, NULL);
	}
	for (i = 0; c->pairs && i + 1 < qimg_value_count(c->pairs); i += 2) {
		const char *k =
			qimg_value_get_str(qimg_value_at(c->pairs, i, NULL));
		const char *v = qimg_value_get_str(
			qimg_value_at(c->pairs, i + 1, NULL));

		if (!k || !v)
			return wrong_type(err, QIMG_RBD_PAIRS, "string");
		r = rados_conf_set(s->cluster, k, v);
		if (r < 0)
			return FAIL(err, r, "invalid conf option %s", k);
	}
	if (c->server && qimg_value_count(c->server)) {
		char *m = mon_host(c->server);

		if (!m)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		r = rados_conf_set(s->cluster, "mon_host", m);
		free(m);
		if (r < 0)
			return FAIL(err, r, "invalid conf option %s",
				    "mon_host");
	}
	if (c->key_secret) {
		r = set_key(s, objects, c->key_secret, err);
		if (r < 0)
			return r;
	}
	if (c->auth && qimg_value_count(c->auth)) {
		r = set_auth(s, c->auth, err);
		if (r < 0)
			return r;
	}
	r = rados_connect(s->cluster);
	if (r < 0)
		return FAIL(err, r, "error connecting");
	r = rados_ioctx_create(s->cluster, c->pool, &s->io);
	if (r < 0)
		return FAIL(err, r, "error opening pool %s", c->pool);
	s->have_io = true;
	if (c->ns && *c->ns) {
		bool exists = false;

		r = rbd_namespace_exists(s->io, c->ns, &exists);
		if (r < 0)
			return FAIL(err, r, "error checking namespace");
		if (!exists)
			return qimg_error_set(err, ENOENT,
					      "namespace '%s' does not exist",
					      c->ns);
	}
	rados_ioctx_set_namespace(s->io, c->ns ? c->ns : "");
	return 0;
}

/* The passphrase of secret id, as text. */
static int passphrase(const struct qimg_objects *objects, const char *id,
		      uint8_t **pw, size_t *len, struct qimg_error *err)
{
	return qimg_secret_get_utf8(objects, id, pw, len, err);
}

static int load_encryption(struct rbd_state *s, const struct rbd_conf *c,
			   const struct qimg_objects *objects,
			   struct qimg_error *err)
{
	uint8_t *pw;
	size_t len;
	int r;

	r = passphrase(objects, c->enc_secret, &pw, &len, err);
	if (r < 0)
		return r;
	if (!strcmp(c->enc_format, "luks")) {
		rbd_encryption_luks1_format_options_t o = {
			.passphrase = (const char *)pw, .passphrase_size = len
		};

		r = rbd_encryption_load(s->img, RBD_ENCRYPTION_FORMAT_LUKS1, &o,
					sizeof(o));
	} else {
		rbd_encryption_luks2_format_options_t o = {
			.passphrase = (const char *)pw, .passphrase_size = len
		};

		r = rbd_encryption_load(s->img, RBD_ENCRYPTION_FORMAT_LUKS2, &o,
					sizeof(o));
	}
	qimg_secret_free(pw, len);
	if (r < 0)
		return FAIL(err, r, "encryption load fail");
	return 0;
}

/* --- the driver ----------------------------------------------------------- */

/* A "filename" among json:{...} options (qemu-img's deprecated form):
 * its values override the explicit ones, and it goes from the dict. */
static int apply_filename(struct qimg_value *o, struct qimg_error *err)
{
	struct qimg_value *fn = qimg_dict_take(o, "filename");
	struct qimg_value *d;
	size_t i;
	int r;

	if (!fn)
		return 0;
	if (qimg_value_type(fn) != QIMG_VALUE_STR) {
		qimg_value_free(fn); /* not a name: qemu-img looks past it */
		return 0;
	}
	d = qimg_value_dict();
	r = d ? qimg_rbd_parse_filename(qimg_value_get_str(fn), d, err)
	      : qimg_error_set(err, ENOMEM, "Out of memory");
	qimg_value_free(fn);
	for (i = 0; r == 0 && i < qimg_value_count(d); i++) {
		const char *k;
		struct qimg_value *v = qimg_value_at(d, i, &k);

		if (qimg_dict_put(o, k, qimg_value_copy(v)) < 0)
			r = qimg_error_set(err, ENOMEM, "Out of memory");
	}
	qimg_value_free(d);
	return r;
}

static int take_filename(struct qimg_node *node, struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	const char *fn =
		qimg_value_get_str(qimg_dict_get(node->options, "filename"));

	if (!fn)
		return apply_filename(node->options, err);
	free(s->given_name);
	s->given_name = strdup(fn);
	if (!s->given_name)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	qimg_node_warn(node, "RBD options encoded in the filename as keyvalue "
			     "pairs is deprecated");
	return apply_filename(node->options, err);
}

static int rbd_node_open(struct qimg_node *node, const struct qimg_opts *opts,
			 struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	bool rw = node->flags & QIMG_OPEN_RDWR;
	rbd_image_info_t st;
	struct rbd_conf c;
	int r;

	(void)opts; /* validated; the tree keeps nesting and JSON types */
	r = take_filename(node, err);
	if (r == 0)
		r = get_conf(node->options, &c, err);
	if (r < 0) {
		free(s->given_name);
		s->given_name = NULL;
		return r;
	}
	if (pthread_mutex_init(&s->lock, NULL))
		return qimg_error_set(err, ENOMEM, "Out of memory");
	s->have_lock = true;
	r = connect_pool(s, &c, node->objects, err);
	if (r < 0)
		goto out;
	if (rw)
		r = rbd_open(s->io, c.image, &s->img, c.snapshot);
	else
		r = rbd_open_read_only(s->io, c.image, &s->img, c.snapshot);
	if (r < 0) {
		r = FAIL(err, r, "error reading header from %s", c.image);
		goto out;
	}
	s->have_img = true;
	if (c.snapshot && rw) { /* known to exist by now, as qemu-img */
		r = qimg_error_set(err, EROFS, "rbd snapshots are read-only");
		goto out;
	}
	if (c.enc_format) {
		r = load_encryption(s, &c, node->objects, err);
		if (r < 0)
			goto out;
	}
	r = rbd_get_size(s->img, &s->size);
	if (r < 0) {
		r = FAIL(err, r, "error getting image size");
		goto out;
	}
	r = rbd_stat(s->img, &st, sizeof(st));
	if (r < 0) {
		r = FAIL(err, r, "error getting image info");
		goto out;
	}
	s->obj_size = st.obj_size;
	node->size = s->size;
	node->cluster_size =
		st.obj_size <= UINT32_MAX ? (uint32_t)st.obj_size : 0;
	node->zero_init = true;
	return 0;
out:
	disconnect(s);
	pthread_mutex_destroy(&s->lock);
	s->have_lock = false;
	free(s->given_name);
	s->given_name = NULL;
	return r;
}

static void rbd_node_close(struct qimg_node *node)
{
	struct rbd_state *s = node->opaque;

	disconnect(s);
	if (s->have_lock)
		pthread_mutex_destroy(&s->lock);
	free(s->given_name);
	s->given_name = NULL;
}

static int io_error(struct qimg_error *err, int r, const char *what,
		    uint64_t off)
{
	return qimg_error_set_errno(err, -r, "rbd %s at offset %" PRIu64, what,
				    off);
}

static int rbd_node_read(struct qimg_node *node, uint64_t off, void *buf,
			 size_t len, struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	uint8_t *p = buf;

	while (len) {
		ssize_t n = rbd_read2(s->img, off, len, (char *)p, 0);

		if (n < 0)
			return io_error(err, (int)n, "read", off);
		if (n == 0) {
			/* past the image's end: zeros */
			memset(p, 0, len);
			break;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int rbd_node_write(struct qimg_node *node, uint64_t off, const void *buf,
			  size_t len, struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	const char *p = buf;

	while (len) {
		ssize_t n = rbd_write2(s->img, off, len, p, 0);

		if (n < 0)
			return io_error(err, (int)n, "write", off);
		if (n == 0)
			return qimg_error_set(err, EIO,
					      "rbd write at offset %" PRIu64
					      ": nothing written",
					      off);
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int rbd_node_write_zeroes(struct qimg_node *node, uint64_t off,
				 uint64_t len, unsigned int flags,
				 struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	int zflags = flags & QIMG_ZERO_MAY_UNMAP
			     ? 0
			     : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION;

	while (len) {
		size_t n = len > (1u << 30) ? (1u << 30) : (size_t)len;
		ssize_t w = rbd_write_zeroes(s->img, off, n, zflags, 0);

		if (w < 0)
			return io_error(err, (int)w, "write zeroes", off);
		off += n;
		len -= n;
	}
	return 0;
}

static int rbd_node_discard(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	int r = rbd_discard(s->img, off, len);

	return r < 0 ? io_error(err, r, "discard", off) : 0;
}

static int rbd_node_flush(struct qimg_node *node, struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	int r;

	if (node->cache == QIMG_CACHE_UNSAFE)
		return 0;
	r = rbd_flush(s->img);
	return r < 0 ? qimg_error_set_errno(err, -r, "rbd flush") : 0;
}

/* Any size, up or down; preallocation only "off", as qemu-img. */
static int rbd_node_truncate(struct qimg_node *node, uint64_t size,
			     unsigned flags, const char *prealloc,
			     struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	int r;

	(void)flags;
	if (prealloc && strcmp(prealloc, "off"))
		return qimg_error_set(err, ENOTSUP,
				      "Unsupported preallocation mode '%s'",
				      prealloc);
	r = rbd_resize(s->img, size);
	if (r < 0)
		return qimg_error_set_errno(err, -r,
					    "failed to resize rbd image");
	pthread_mutex_lock(&s->lock);
	s->size = size;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int64_t rbd_node_length(struct qimg_node *node)
{
	struct rbd_state *s = node->opaque;
	uint64_t size;

	pthread_mutex_lock(&s->lock);
	size = s->size;
	pthread_mutex_unlock(&s->lock);
	return (int64_t)size;
}

/* Ceph does not say what an image takes ("disk size: unavailable"). */
static int64_t rbd_node_allocated_size(struct qimg_node *node)
{
	(void)node;
	return -1;
}

/* The first object that exists at or after the query's start. */
struct diff_walk {
	uint64_t start, end; /* the query */
	uint64_t data_off, data_len;
	bool found;
};

static int diff_cb(uint64_t off, size_t len, int exists, void *arg)
{
	struct diff_walk *w = arg;

	if (!exists)
		return 0;
	if (!w->found) {
		w->found = true;
		w->data_off = off;
		w->data_len = len;
		return 0;
	}
	if (off == w->data_off + w->data_len) {
		w->data_len += len; /* the next object: one extent */
		return 0;
	}
	return -EEXIST; /* a gap: enough */
}

/* A clone: the object map knows only the child's own objects, so every
 * byte counts as data (as qemu-img reports it). */
static bool has_parent(struct rbd_state *s)
{
	rbd_linked_image_spec_t img;
	rbd_snap_spec_t snap;

	if (rbd_get_parent(s->img, &img, &snap) < 0)
		return false;
	rbd_linked_image_spec_cleanup(&img);
	rbd_snap_spec_cleanup(&snap);
	return true;
}

static int rbd_node_block_status(struct qimg_node *node, uint64_t off,
				 uint64_t len, struct qimg_extent *ext,
				 struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	struct diff_walk w = { .start = off, .end = off + len };
	uint64_t features = 0, flags = 0;
	int r;

	ext->map = off;
	ext->file = node;
	ext->len = len;
	ext->flags = QIMG_BS_DATA | QIMG_BS_OFFSET_VALID;
	if (rbd_get_features(s->img, &features) < 0 ||
	    !(features & RBD_FEATURE_FAST_DIFF) ||
	    rbd_get_flags(s->img, &flags) < 0 ||
	    (flags & RBD_FLAG_FAST_DIFF_INVALID) || has_parent(s))
		return 0;
	r = rbd_diff_iterate2(s->img, NULL, off, len, 1, 1, diff_cb, &w);
	if (r < 0 && r != -EEXIST)
		return qimg_error_set_errno(
			err, -r, "rbd block status at offset %" PRIu64, off);
	if (!w.found || w.data_off >= w.end) {
		ext->flags = QIMG_BS_ZERO | QIMG_BS_OFFSET_VALID;
		return 0;
	}
	if (w.data_off > off) {
		ext->len = w.data_off - off;
		ext->flags = QIMG_BS_ZERO | QIMG_BS_OFFSET_VALID;
		return 0;
	}
	if (w.data_off + w.data_len < w.end)
		ext->len = w.data_off + w.data_len - off;
	return 0;
}

/* The image's snapshots, as qemu-img lists them: the name as id and tag,
 * the image's size at the time as the VM state size, no dates. */
static int get_snapshots(struct rbd_state *s, struct qimg_value **out,
			 struct qimg_error *err)
{
	int max = RBD_MAX_SNAPS_START, n, i, r = 0;
	rbd_snap_info_t *sn = NULL;
	struct qimg_value *list;

	*out = NULL;
	for (;;) {
		free(sn);
		sn = calloc((size_t)max, sizeof(*sn));
		if (!sn)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		n = rbd_snap_list(s->img, sn, &max);
		if (n != -ERANGE)
			break;
	}
	if (n < 0) {
		free(sn);
		return qimg_error_set_errno(err, -n, "error listing snapshots");
	}
	list = n ? qimg_value_list() : NULL;
	for (i = 0; i < n && r == 0; i++) {
		struct qimg_value *d = list ? qimg_value_dict() : NULL;

		r = d ? 0 : -ENOMEM;
		if (r == 0)
			r = qimg_dict_put_str(d, "id", sn[i].name);
		if (r == 0)
			r = qimg_dict_put_str(d, "name", sn[i].name);
		if (r == 0)
			r = qimg_dict_put_int(d, "vm-state-size",
					      (int64_t)sn[i].size);
		if (r == 0)
			r = qimg_dict_put_int(d, "date-sec", 0);
		if (r == 0)
			r = qimg_dict_put_int(d, "date-nsec", 0);
		if (r == 0)
			r = qimg_dict_put_int(d, "vm-clock-sec", 0);
		if (r == 0)
			r = qimg_dict_put_int(d, "vm-clock-nsec", 0);
		if (r == 0)
			r = qimg_dict_put_int(d, "icount", 0);
		if (r == 0)
			r = qimg_list_append(list, d);
		else
			qimg_value_free(d);
	}
	if (n > 0)
		rbd_snap_list_end(sn);
	free(sn);
	if (r < 0) {
		qimg_value_free(list);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	*out = list;
	return 0;
}

static int rbd_node_get_info(struct qimg_node *node,
			     struct qimg_image_info *info,
			     struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;

	struct qimg_value *top = qimg_value_dict();
	struct qimg_value *data = qimg_value_dict();

	info->has_info = true;
	info->cluster_size = node->cluster_size;
	/* an empty section of its own, as qemu-img shows for rbd */
	if (!top || !data || qimg_dict_put_str(top, "type", "rbd") < 0 ||
	    qimg_dict_put(top, "data", data) < 0) {
		qimg_value_free(top);
		qimg_value_free(data);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	info->format_specific = top;
	return get_snapshots(s, &info->snapshots, err);
}

static int rbd_node_snapshot_create(struct qimg_node *node, const char *name,
				    struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	int r;

	if (!name || !*name)
		return -EINVAL; /* rbd snapshots need a name */
	r = rbd_snap_create(s->img, name);
	if (r < 0) {
		qimg_error_note(err,
				QIMG_NOTE_REPORT "failed to create snap: %s",
				strerror(-r));
		return r;
	}
	return 0;
}

static int rbd_node_snapshot_delete(struct qimg_node *node, const char *name,
				    struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	int r = rbd_snap_remove(s->img, name);

	if (r == -ENOENT)
		return qimg_error_set(err, ENOENT, "snapshot not found");
	if (r < 0)
		return qimg_error_set_errno(err, -r,
					    "Failed to remove the snapshot");
	return 0;
}

static int rbd_node_snapshot_goto(struct qimg_node *node, const char *name,
				  struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	int r = rbd_snap_rollback(s->img, name);

	if (r < 0)
		return qimg_error_set_errno(err, -r, "Failed to load snapshot");
	return 0;
}

/* The create options, checked before anything is touched. */
static int rbd_node_create_validate(const struct qimg_opts *o,
				    struct qimg_error *err)
{
	uint64_t obj = qimg_opts_get_u64(o, "cluster_size", 0);
	const char *fmt = qimg_opts_get_str(o, "encrypt.format", NULL);
	const char *alg = qimg_opts_get_str(o, "encrypt.cipher-alg", NULL);

	if (obj) { /* 0: librbd's default */
		if (obj & (obj - 1))
			return qimg_error_set(err, EINVAL,
					      "obj size needs to be power of "
					      "2");
		if (obj < RBD_MIN_OBJECT)
			return qimg_error_set(err, EINVAL,
					      "obj size too small");
	}
	/* qemu-img names the members without their "encrypt." */
	if (fmt && strcmp(fmt, "luks") && strcmp(fmt, "luks2"))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'format' does not accept "
				      "value '%s'",
				      fmt);
	if (alg) {
		/* QEMU's cipher names, in the order of its list: librbd
		 * takes the two AES ones, the others fail by their index */
		static const char *const algs[] = {
			"aes-128",     "aes-192",     "aes-256",
			"des",	       "3des",	      "cast5-128",
			"serpent-128", "serpent-192", "serpent-256",
			"twofish-128", "twofish-192", "twofish-256"
		};
		size_t i;

		for (i = 0;
		     i < sizeof(algs) / sizeof(algs[0]) && strcmp(algs[i], alg);
		     i++)
			;
		if (i == sizeof(algs) / sizeof(algs[0]))
			return qimg_error_set(err, EINVAL,
					      "Parameter 'cipher-alg' does "
					      "not accept value '%s'",
					      alg);
		if (strcmp(alg, "aes-128") && strcmp(alg, "aes-256"))
			return qimg_error_set(err, ENOTSUP,
					      "unknown encryption algorithm: "
					      "%zu: Operation not supported",
					      i);
	}
	if (fmt && !qimg_opts_get_str(o, "encrypt.key-secret", NULL))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'key-secret' is missing");
	return 0;
}

static int format_encryption(struct rbd_state *s, const struct qimg_opts *o,
			     const struct qimg_objects *objects,
			     struct qimg_error *err)
{
	uint64_t size = qimg_opts_get_u64(o, "size", 0), now = 0;
	const char *fmt = qimg_opts_get_str(o, "encrypt.format", NULL);
	const char *alg = qimg_opts_get_str(o, "encrypt.cipher-alg", NULL);
	rbd_encryption_algorithm_t a =
		alg && !strcmp(alg, "aes-128")
			? RBD_ENCRYPTION_ALGORITHM_AES128
			: RBD_ENCRYPTION_ALGORITHM_AES256;
	uint8_t *pw;
	size_t len;
	int r = passphrase(objects,
			   qimg_opts_get_str(o, "encrypt.key-secret", ""), &pw,
			   &len, err);

	if (r < 0)
		return r;
	if (!strcmp(fmt, "luks")) {
		rbd_encryption_luks1_format_options_t lo = {
			.alg = a,
			.passphrase = (const char *)pw,
			.passphrase_size = len
		};

		r = rbd_encryption_format(s->img, RBD_ENCRYPTION_FORMAT_LUKS1,
					  &lo, sizeof(lo));
	} else {
		rbd_encryption_luks2_format_options_t lo = {
			.alg = a,
			.passphrase = (const char *)pw,
			.passphrase_size = len
		};

		r = rbd_encryption_format(s->img, RBD_ENCRYPTION_FORMAT_LUKS2,
					  &lo, sizeof(lo));
	}
	qimg_secret_free(pw, len);
	if (r < 0)
		return FAIL(err, r, "encryption format fail");
	/* The header takes room from the image: grown so that what the
	 * guest sees (the size as librbd reports it now) is what was asked
	 * for, as qemu-img's images are. */
	r = rbd_get_size(s->img, &now);
	if (r == 0 && now < size)
		r = rbd_resize(s->img, size + (size - now));
	if (r < 0)
		return FAIL(err, r, "%s", "failed to resize rbd image");
	return 0;
}

/* Make the image the name says.  The node is not open: its name is all
 * there is to go by. */
static int rbd_node_create(struct qimg_node *node, const struct qimg_opts *o,
			   struct qimg_error *err)
{
	struct rbd_state *s = node->opaque;
	struct qimg_value *d = qimg_value_dict();
	uint64_t obj = qimg_opts_get_u64(o, "cluster_size", 0);
	rbd_image_options_t io_opts;
	struct rbd_conf c;
	int r;

	if (!d)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = rbd_node_create_validate(o, err);
	if (r == 0)
		r = qimg_rbd_parse_filename(node->filename, d, err);
	if (r == 0)
		r = get_conf(d, &c, err);
	/* as qemu-img: a snapshot in the name is ignored */
	if (r == 0 && qimg_opts_has(o, "password-secret"))
		c.key_secret = qimg_opts_get_str(o, "password-secret", NULL);
	if (r == 0)
		r = connect_pool(s, &c, node->objects, err);
	if (r < 0)
		goto out;
	rbd_image_options_create(&io_opts);
	if (obj) {
		uint64_t order = 0;

		while ((1ull << order) < obj)
			order++;
		rbd_image_options_set_uint64(io_opts, RBD_IMAGE_OPTION_ORDER,
					     order);
	}
	r = rbd_create4(s->io, c.image, qimg_opts_get_u64(o, "size", 0),
			io_opts);
	rbd_image_options_destroy(io_opts);
	if (r < 0) {
		r = FAIL(err, r, "error rbd create");
		goto out;
	}
	if (qimg_opts_get_str(o, "encrypt.format", NULL)) {
		r = rbd_open(s->io, c.image, &s->img, NULL);
		if (r < 0) {
			r = FAIL(err, r, "error reading header from %s",
				 c.image);
			goto out;
		}
		s->have_img = true;
		r = format_encryption(s, o, node->objects, err);
		if (r < 0) {
			/* no half-made image left behind (qemu-img leaves
			 * it) */
			rbd_close(s->img);
			s->have_img = false;
			rbd_remove(s->io, c.image);
		}
	}
out:
	disconnect(s);
	qimg_value_free(d);
	return r;
}

/* The options checked as QEMU visits them, nothing done. */
static int rbd_visit_opts(const struct qimg_value *o, struct qimg_error *err)
{
	struct rbd_conf c;
	struct qimg_value *m;
	int r;

	if (!qimg_dict_get(o, "filename"))
		return get_conf(o, &c, err);
	m = qimg_value_copy(o);
	if (!m)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = apply_filename(m, err);
	if (r == 0)
		r = get_conf(m, &c, err);
	qimg_value_free(m);
	return r;
}

/* Only json:{...} names an rbd node, as in qemu-img. */
static char *rbd_node_exact_filename(struct qimg_node *node)
{
	struct rbd_state *s = node->opaque;

	return s->given_name ? strdup(s->given_name) : NULL;
}

const struct qimg_driver qimg_driver_rbd = {
	.name = "rbd",
	.kind = QIMG_DRIVER_PROTOCOL,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct rbd_state),
	.create_opts = rbd_create_opts,
	.protocols = rbd_protocols,
	.parse_filename = qimg_rbd_parse_filename,
	.runtime_opts = rbd_runtime_opts,
	.strong_opts = rbd_strong_opts,
	.typed_opts = true,
	.visit_opts = rbd_visit_opts,
	.exact_filename = rbd_node_exact_filename,
	.open = rbd_node_open,
	.close = rbd_node_close,
	.create_validate = rbd_node_create_validate,
	.create = rbd_node_create,
	.read = rbd_node_read,
	.write = rbd_node_write,
	.write_zeroes = rbd_node_write_zeroes,
	.discard = rbd_node_discard,
	.flush = rbd_node_flush,
	.block_status = rbd_node_block_status,
	.truncate = rbd_node_truncate,
	.allocated_size = rbd_node_allocated_size,
	.length = rbd_node_length,
	.get_info = rbd_node_get_info,
	.snapshot_create = rbd_node_snapshot_create,
	.snapshot_delete = rbd_node_snapshot_delete,
	.snapshot_goto = rbd_node_snapshot_goto,
	.create_writes_content = true,
};
