/* SPDX-License-Identifier: MIT */
/* Opening nodes from an options tree.  A filename, json:{...} or
 * --image-opts all become one dict per node; the protocol of a filename is
 * found through the driver table (a "PREFIX:" naming a protocol driver, else
 * the default protocol); a format node opens its "file" child first, is
 * probed over it when no driver is named, takes QEMU-compatible image locks,
 * and opens its backing chain (names resolved against the image that names
 * them, as qemu-img resolves them). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/driver.h"
#include "core/node.h"
#include "core/options.h"
#include "qimg/commit.h"
#include "qimg/node-names.h"
#include "util/vector.h"

#define PROBE_BYTES 4096
#define MAX_CHAIN_DEPTH 256

struct open_ctx {
	const struct qimg_open_args *args; /* the top-level call */
	int depth;			   /* backing depth */
	struct qimg_node_names *names;	   /* where nodes take their names */
	/* The nodes take the place of open ones (a reopen): a name in use
	 * passes to them. */
	bool take_over;
};

static int open_node(struct qimg_value *opts, const char *filename,
		     const char *format, unsigned int how, unsigned int flags,
		     enum qimg_cache_mode cache, const struct open_ctx *ctx,
		     struct qimg_node **out, struct qimg_error *err);

/* --- children ---------------------------------------------------------- */

static void set_shortcuts(struct qimg_node *n)
{
	n->file = qimg_node_child(n, "file");
	n->backing = qimg_node_child(n, "backing");
	n->data_file = qimg_node_child(n, "data-file");
}

static int add_child(struct qimg_node *parent, const char *role,
		     struct qimg_node *child, bool from_options)
{
	struct qimg_child *c;
	void *p = parent->children;
	size_t cap = parent->nchildren; /* grown one at a time: few children */
	char *r = strdup(role);

	if (!r ||
	    qimg_vector_grow(&p, &cap, parent->nchildren, 1, sizeof(*c)) < 0) {
		free(r);
		return -ENOMEM;
	}
	parent->children = p;
	c = &parent->children[parent->nchildren++];
	c->role = r;
	c->node = child;
	c->from_options = from_options;
	set_shortcuts(parent);
	return 0;
}

struct qimg_node *qimg_node_child(const struct qimg_node *node,
				  const char *role)
{
	size_t i;

	for (i = 0; i < node->nchildren; i++)
		if (!strcmp(node->children[i].role, role))
			return node->children[i].node;
	return NULL;
}

const char *qimg_node_name(const struct qimg_node *node)
{
	const struct qimg_value *v =
		node->options ? qimg_dict_get(node->options, "node-name")
			      : NULL;

	return v && qimg_value_type(v) == QIMG_VALUE_STR ? qimg_value_get_str(v)
							 : NULL;
}

void qimg_node_qemu_name(const struct qimg_node *node, unsigned int seq,
			 char *buf, size_t len)
{
	const char *s = qimg_node_name(node);

	if (s && *s)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "#block%u%02d", seq, (int)(getpid() % 100));
}

static void close_tree(struct qimg_node *node);

/* Close a node's children (last opened first) and free the node; its own
 * driver is closed by the caller if it was opened. */
static void free_tree(struct qimg_node *node)
{
	size_t i;

	for (i = node->nchildren; i-- > 0;) {
		close_tree(node->children[i].node);
		free(node->children[i].role);
	}
	free(node->children);
	node->children = NULL;
	node->nchildren = 0;
	node->file = node->backing = node->data_file = NULL;
	qimg_node_free(node);
}

/* Close a node and its children; not flushed. */
static void close_tree(struct qimg_node *node)
{
	if (!node)
		return;
	if (node->drv->close)
		node->drv->close(node);
	free_tree(node);
}

/* A node whose driver open failed: its children are closed, not itself. */
static void discard_failed(struct qimg_node *node)
{
	free_tree(node);
}

/* --- option helpers ---------------------------------------------------- */

/* Whether opts holds flat keys "role.X" beside its member "role" (a node
 * named by reference and described by options too: QEMU refuses that). */
static bool has_flat_under(const struct qimg_value *opts, const char *role)
{
	size_t i, n = strlen(role);
	const char *k;

	for (i = 0; opts && i < qimg_value_count(opts); i++) {
		qimg_value_at(opts, i, &k);
		if (!strncmp(k, role, n) && k[n] == '.')
			return true;
	}
	return false;
}

/* "backing": null asks for no backing node, which a driver without one
 * has not: nothing to do (QEMU drops it for every node, which then opens
 * as without its chain: other backing options are nobody's).  Whether
 * it was there. */
static bool drop_null_backing(struct qimg_value *opts)
{
	const struct qimg_value *b = qimg_dict_get(opts, "backing");

	if (!b || qimg_value_type(b) != QIMG_VALUE_NULL)
		return false;
	qimg_value_free(qimg_dict_take(opts, "backing"));
	return true;
}

static int reference_with_options(struct qimg_error *err)
{
	return qimg_error_set(err, EINVAL,
			      "Cannot reference an existing block device with "
			      "additional options or a new filename");
}

static const char *opt_str(const struct qimg_value *d, const char *key)
{
	return qimg_value_get_str(qimg_dict_get(d, key));
}

/* A boolean option as given (string "on"/"off"/... or JSON bool); def when
 * absent or unreadable (the driver-level check reports bad values). */
static bool opt_bool(const struct qimg_value *d, const char *key, bool def)
{
	const struct qimg_value *v = qimg_dict_get(d, key);
	const char *s;

	if (!v)
		return def;
	if (qimg_value_type(v) == QIMG_VALUE_BOOL)
		return qimg_value_get_bool(v);
	s = qimg_value_get_str(v);
	if (!s)
		return def;
	if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true") ||
	    !strcmp(s, "y"))
		return true;
	if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false") ||
	    !strcmp(s, "n"))
		return false;
	return def;
}

/* Copy the members of `from` that `into` lacks (explicit options win). */
static int merge_missing(struct qimg_value *into, const struct qimg_value *from)
{
	const char *key;
	size_t i;
	int r;

	for (i = 0; i < qimg_value_count(from); i++) {
		struct qimg_value *v = qimg_value_at(from, i, &key);
		struct qimg_value *have = qimg_dict_get(into, key);

		if (have) {
			if (qimg_value_type(have) == QIMG_VALUE_DICT &&
			    qimg_value_type(v) == QIMG_VALUE_DICT) {
				r = merge_missing(have, v);
				if (r < 0)
					return r;
			}
			continue;
		}
		r = qimg_dict_put(into, key, qimg_value_copy(v));
		if (r < 0)
			return r;
	}
	return 0;
}

/* --- protocols ---------------------------------------------------------- */

static const struct qimg_driver *default_protocol(void)
{
	const struct qimg_driver *const *list;
	size_t n, i;

	list = qimg_driver_list(&n);
	for (i = 0; i < n; i++)
		if (list[i]->kind == QIMG_DRIVER_PROTOCOL &&
		    list[i]->default_protocol)
			return list[i];
	return NULL;
}

static const struct qimg_driver *find_protocol(const char *prefix, size_t len)
{
	const struct qimg_driver *const *list;
	const char *const *p;
	size_t n, i;

	list = qimg_driver_list(&n);
	for (i = 0; i < n; i++) {
		for (p = list[i]->protocols; p && *p; p++)
			if (strlen(*p) == len && !strncmp(*p, prefix, len))
				return list[i];
	}
	return NULL;
}

/* The host device driver surest of a plain name, or NULL (ties go to the
 * later one in the list: host_cdrom over host_device, as in QEMU). */
static const struct qimg_driver *probe_device(const char *filename)
{
	const struct qimg_driver *const *list, *best = NULL;
	int score, top = 0;
	size_t n, i;

	list = qimg_driver_list(&n);
	for (i = 0; i < n; i++) {
		if (!list[i]->probe_device)
			continue;
		score = list[i]->probe_device(filename);
		if (score > 0 && score >= top) {
			top = score;
			best = list[i];
		}
	}
	return best;
}

/* The protocol of a name taken as a plain file name (no prefix parsed): a
 * host device's, or the default. */
static const struct qimg_driver *plain_protocol(const char *filename)
{
	const struct qimg_driver *d = probe_device(filename);

	return d ? d : default_protocol();
}

int qimg_protocol_lookup(const char *filename, const struct qimg_driver **out,
			 struct qimg_error *err)
{
	const char *colon = strchr(filename, ':');
	const char *slash = strchr(filename, '/');

	*out = probe_device(filename);
	if (*out)
		return 0;
	/* "PREFIX:..." with the colon before any '/' names a protocol. */
	if (colon && colon != filename && (!slash || colon < slash)) {
		*out = find_protocol(filename, (size_t)(colon - filename));
		if (!*out)
			return qimg_error_set(
				err, ENOENT, "Unknown protocol '%.*s'",
				(int)(colon - filename), filename);
		return 0;
	}
	*out = default_protocol();
	if (!*out)
		return qimg_error_set(err, ENOENT, "No protocol driver");
	return 0;
}

/* The options of protocol `proto` (NULL: found from the name) for
 * `filename`, merged into opts (explicit options win). */
static int fill_protocol(struct qimg_value *opts, const char *filename,
			 const struct qimg_driver *proto,
			 const struct qimg_driver **used,
			 struct qimg_error *err)
{
	struct qimg_value *tmp;
	const char *const *p;
	const char *rest = filename;
	int r;

	if (!proto) {
		r = qimg_protocol_lookup(filename, &proto, err);
		if (r < 0)
			return r;
	}
	*used = proto;
	tmp = qimg_value_dict();
	if (!tmp)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (proto->parse_filename) {
		r = proto->parse_filename(filename, tmp, err);
		if (r < 0) {
			qimg_value_free(tmp);
			return r;
		}
		/* The name became the driver's options: as in QEMU, the node
		 * does not keep it as an option of its own. */
		if (opt_str(opts, "filename") &&
		    !strcmp(opt_str(opts, "filename"), filename))
			qimg_value_free(qimg_dict_take(opts, "filename"));
	} else {
		for (p = proto->protocols; p && *p; p++) {
			size_t n = strlen(*p);

			if (!strncmp(filename, *p, n) && filename[n] == ':') {
				rest = filename + n + 1;
				break;
			}
		}
		r = qimg_dict_put_str(tmp, "filename", rest);
		if (r < 0) {
			qimg_value_free(tmp);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
	}
	r = qimg_dict_put_str(tmp, "driver", proto->name);
	if (r == 0)
		r = merge_missing(opts, tmp);
	qimg_value_free(tmp);
	if (r < 0)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	return 0;
}

int qimg_filename_options(const char *filename, struct qimg_value *opts,
			  struct qimg_error *err)
{
	const struct qimg_driver *used;

	return fill_protocol(opts, filename, NULL, &used, err);
}

int qimg_protocol_resolve(const char *filename, const struct qimg_driver **drv,
			  char **path, struct qimg_error *err)
{
	struct qimg_value *d = qimg_value_dict();
	const char *fn;
	int r;

	*path = NULL;
	if (!d)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = fill_protocol(d, filename, NULL, drv, err);
	if (r == 0) {
		fn = opt_str(d, "filename");
		*path = strdup(fn ? fn : filename);
		if (!*path)
			r = qimg_error_set(err, ENOMEM, "Out of memory");
	}
	qimg_value_free(d);
	return r;
}

/* --- one node ----------------------------------------------------------- */

/* Flags and cache mode a node's own options imply. */
static void apply_common(const struct qimg_value *opts, unsigned int *flags,
			 enum qimg_cache_mode *cache)
{
	const struct qimg_value *c = qimg_dict_get(opts, "cache");
	bool direct, noflush;

	if (opt_bool(opts, "read-only", false))
		*flags &= ~QIMG_OPEN_RDWR;
	if (opt_bool(opts, "force-share", false))
		*flags |= QIMG_OPEN_FORCE_SHARE;
	if (!c || qimg_value_type(c) != QIMG_VALUE_DICT)
		return;
	direct = opt_bool(c, "direct",
			  *cache == QIMG_CACHE_NONE ||
				  *cache == QIMG_CACHE_DIRECTSYNC);
	noflush = opt_bool(c, "no-flush", *cache == QIMG_CACHE_UNSAFE);
	if (direct)
		*cache = QIMG_CACHE_NONE;
	else if (noflush)
		*cache = QIMG_CACHE_UNSAFE;
	else if (*cache == QIMG_CACHE_NONE || *cache == QIMG_CACHE_UNSAFE)
		*cache = QIMG_CACHE_WRITEBACK;
}

/* Take the options nobody takes out of o; *first: the one QEMU names (the
 * first of them in its dict's order). */
static int first_unknown(const struct qimg_driver *drv, struct qimg_opts *o,
			 char **first)
{
	struct qimg_value *d = qimg_value_dict();
	size_t *idx = NULL, n;
	const char *u, *k;
	char *name;
	int r = 0;

	while (d && r == 0 && (u = qimg_options_unknown(drv, o))) {
		name = strdup(u);
		if (!name)
			break;
		r = qimg_dict_put_bool(d, name, true);
		qimg_opts_del(o, name);
		free(name);
	}
	n = d ? qimg_value_count(d) : 0;
	if (r == 0 && n && (idx = calloc(n, sizeof(*idx)))) {
		qimg_dict_qemu_order(d, idx);
		qimg_value_at(d, idx[0], &k);
		*first = strdup(k);
	}
	free(idx);
	qimg_value_free(d);
	return *first ? 0 : -ENOMEM;
}

/* Of two option names, the one QEMU's dict lists first; NULL when out of
 * memory. */
static const char *qemu_order_first(const char *a, const char *b)
{
	struct qimg_value *d = qimg_value_dict();
	const char *first = NULL;
	size_t idx[2];

	if (d && qimg_dict_put_bool(d, a, true) == 0 &&
	    qimg_dict_put_bool(d, b, true) == 0 && qimg_value_count(d) == 2) {
		qimg_dict_qemu_order(d, idx);
		first = idx[0] == 0 ? a : b;
	}
	qimg_value_free(d);
	return first;
}

/* Take "backing" and "backing.X" out of o; whether there were any. */
static bool take_backing_opts(struct qimg_opts *o)
{
	bool any = false;
	size_t i = 0;

	while (i < o->len) {
		const char *k = o->v[i].name;
		char *name;

		if (strncmp(k, "backing", 7) || (k[7] && k[7] != '.')) {
			i++;
			continue;
		}
		name = strdup(k); /* (del frees the list's copy) */
		if (!name) {
			i++;
			continue;
		}
		qimg_opts_del(o, name);
		free(name);
		any = true;
	}
	return any;
}

/* Check the node's own options and call the driver's open.  As in QEMU,
 * an option nobody takes is refused only once the node opened (a missing
 * file or a wrong header is the error a user sees first), except by a
 * driver whose options are one typed record. */
static int driver_open(struct qimg_node *node, const struct open_ctx *ctx,
		       char **later, struct qimg_error *err)
{
	struct qimg_opts own = { 0 };
	char *unknown = NULL;
	const char *u, *name;
	bool backing_opts = false;
	int r;

	r = qimg_options_own(node->drv, node->options, &own);
	if (r < 0) {
		qimg_opts_free(&own);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	/* A node with no backing file to open takes no backing options;
	 * QEMU says so once the node opened, when it opens the chain,
	 * before it looks for options nobody took. */
	if (!node->drv->supports_backing &&
	    !(node->flags & QIMG_OPEN_NO_BACKING))
		backing_opts = take_backing_opts(&own);
	/* what the block layer checks of every node comes first */
	r = qimg_options_check_node(node->drv, node->options, &own, err);
	/* then its name is taken, as QEMU names a node before its driver
	 * opens it (a child opened by the driver comes after) */
	name = r == 0 ? qimg_node_name(node) : NULL;
	if (name && ctx->take_over) {
		r = qimg_node_names_take_over(ctx->names, name, node);
		if (r < 0)
			r = qimg_error_set(err, ENOMEM, "Out of memory");
	} else if (name) {
		r = qimg_node_names_claim(ctx->names, name, node, err);
	}
	node->name_claimed = name && r == 0;
	if (r < 0) {
		qimg_opts_free(&own);
		return r;
	}
	u = qimg_options_unknown(node->drv, &own);
	if (u && node->drv->typed_opts && node->drv->visit_opts) {
		/* A missing or mistyped member first, as QEMU's visit. */
		r = node->drv->visit_opts(node->options, err);
		if (r < 0) {
			qimg_opts_free(&own);
			return r;
		}
	}
	if (u && !node->drv->typed_opts) {
		r = first_unknown(node->drv, &own, &unknown);
		if (r < 0) {
			qimg_opts_free(&own);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
	}
	r = qimg_options_check(node->drv, &own, err);
	if (r == 0)
		r = node->drv->open(node, &own, err);
	if (r == 0 && backing_opts) {
		node->drv->close(node);
		r = qimg_error_set(err, EINVAL,
				   "Driver doesn't support backing files");
	} else if (r == 0 && unknown && later) {
		*later = unknown; /* the caller's to refuse, in its time */
		unknown = NULL;
	} else if (r == 0 && unknown) {
		node->drv->close(node);
		r = qimg_options_unknown_error(node->drv, unknown, err);
	}
	free(unknown);
	qimg_opts_free(&own);
	return r;
}

/* Lock the image file as QEMU would for this format and mode. */
static int take_locks(struct qimg_node *node, struct qimg_error *err)
{
	struct qimg_node *file = node->file;
	unsigned int perm = QIMG_PERM_CONSISTENT_READ, unshared = 0;

	if (!file || !file->drv->set_perm || (node->flags & QIMG_OPEN_NO_LOCK))
		return 0;
	if (node->flags & QIMG_OPEN_RDWR) {
		perm |= QIMG_PERM_WRITE;
		if (!node->drv->shares_file_writes)
			perm |= QIMG_PERM_RESIZE;
	}
	/* Formats keep metadata in the file, so they never share writes or
	 * resizes of it; raw does, unless the user of the image needs it
	 * stable (convert's sources, like qemu-img's BDRV_O_NO_SHARE). */
	if ((!node->drv->shares_file_writes ||
	     (node->flags & QIMG_OPEN_NO_SHARE)) &&
	    !(node->flags & QIMG_OPEN_FORCE_SHARE))
		unshared = QIMG_PERM_WRITE | QIMG_PERM_RESIZE;
	return file->drv->set_perm(file, perm, unshared, err);
}

static int open_protocol_node(const struct qimg_driver *drv,
			      struct qimg_value *opts, unsigned int flags,
			      enum qimg_cache_mode cache,
			      const struct open_ctx *ctx,
			      struct qimg_node **out, struct qimg_error *err)
{
	const char *fn = opt_str(opts, "filename");
	struct qimg_node *node;
	int r;

	node = qimg_node_new(drv, fn ? fn : drv->name, flags, cache);
	if (!node) {
		qimg_value_free(opts);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (drop_null_backing(opts))
		node->flags |= QIMG_OPEN_NO_BACKING;
	node->options = opts;
	node->objects = ctx->args->objects;
	node->names = qimg_node_names_ref(ctx->names);
	node->warn = ctx->args->warn;
	node->warn_opaque = ctx->args->warn_opaque;
	r = driver_open(node, ctx, NULL, err);
	if (r < 0) {
		discard_failed(node);
		return r;
	}
	/* A node opened from options alone is known by the name that
	 * describes it (a URL), as the extents of a vmdk report it. */
	if (!fn) {
		char *exact = qimg_node_exact_filename(node);

		if (exact) {
			free(node->filename);
			node->filename = exact;
		}
	}
	node->display_name = qimg_node_display_name(node);
	/* A protocol node's size is its length. */
	if (!node->size && drv->length) {
		int64_t len = drv->length(node);

		if (len > 0)
			node->size = (uint64_t)len;
	}
	*out = node;
	return 0;
}

static int probe_format(struct qimg_node *file, const char *name,
			const struct qimg_driver **drv, struct qimg_error *err)
{
	uint8_t head[PROBE_BYTES];
	int64_t len = qimg_node_length(file, err);
	const char *later;
	size_t n;
	int r;

	if (len < 0)
		return (int)len;
	n = len < PROBE_BYTES ? (size_t)len : PROBE_BYTES;
	r = qimg_pread(file, 0, head, n, err);
	if (r < 0)
		return r;
	*drv = qimg_driver_probe(head, n, name);
	if (!*drv || !strcmp((*drv)->name, "raw")) {
		later = qimg_later_format_probe(head, n, name);
		if (later)
			return qimg_error_set(err, ENOTSUP,
					      "Image format '%s' is not "
					      "supported yet",
					      later);
	}
	if (!*drv)
		return qimg_error_set(err, EINVAL,
				      "Could not determine the image format");
	return 0;
}

static void warn_probed_raw(const struct open_ctx *ctx, const char *name)
{
	if (ctx->args->probed_raw)
		ctx->args->probed_raw(ctx->args->warn_opaque, name);
}

static bool is_absolute_or_protocol(const char *name)
{
	const char *colon, *slash;

	if (name[0] == '/')
		return true;
	/* "proto:..." names (nbd:, json:) are not paths. */
	colon = strchr(name, ':');
	slash = strchr(name, '/');
	return colon && (!slash || colon < slash) && colon != name;
}

char *qimg_resolve_backing_name(const char *image, const char *backing)
{
	const char *slash = image ? strrchr(image, '/') : NULL;
	size_t dirlen;
	char *r;

	if (is_absolute_or_protocol(backing) || !slash)
		return strdup(backing);
	dirlen = (size_t)(slash - image) + 1;
	r = malloc(dirlen + strlen(backing) + 1);
	if (!r)
		return NULL;
	memcpy(r, image, dirlen);
	memcpy(r + dirlen, backing, strlen(backing) + 1);
	return r;
}

/* The plain path a relative backing name is resolved against: the
 * image's file when a plain name describes it. */
char *qimg_node_base_name(const struct qimg_node *n,
			  const struct qimg_node **last)
{
	char *exact = NULL;

	*last = n;
	while (n && !(exact = qimg_node_exact_filename(n))) {
		const struct qimg_node *next = qimg_node_child(n, "file");

		*last = n;
		n = next ? next : qimg_node_child(n, "image");
	}
	return exact;
}

static char *base_path(const struct qimg_node *node, const char *given,
		       const struct qimg_node **last)
{
	char *exact = qimg_node_base_name(node->file, last);

	if (exact || !given || !strncmp(given, "json:", 5))
		return exact;
	return strdup(given);
}

char *qimg_new_backing_name(const struct qimg_node *node, const char *backing,
			    struct qimg_error *err)
{
	const struct qimg_node *last;
	char *base, *r, *shown;

	if (!*backing || is_absolute_or_protocol(backing)) {
		r = strdup(backing);
		goto out;
	}
	base = base_path(node, node->filename, &last);
	if (!base) {
		shown = qimg_node_display_name(node);
		if (!shown)
			return qimg_error_set(err, ENOMEM, "Out of memory"),
			       NULL;
		qimg_error_set(err, EINVAL,
			       "Cannot use relative backing file names for "
			       "'%s'",
			       shown);
		free(shown);
		return NULL;
	}
	r = qimg_resolve_backing_name(base, backing);
	free(base);
out:
	if (!r)
		qimg_error_set(err, ENOMEM, "Out of memory");
	return r;
}

/* Whether backing options name the file themselves (file.filename, a node
 * reference, filename, or a json: name). */
static bool bopts_name_file(const struct qimg_value *bopts)
{
	const struct qimg_value *f = qimg_dict_get(bopts, "file");

	return qimg_dict_get(bopts, "filename") ||
	       (f &&
		(qimg_value_type(f) != QIMG_VALUE_DICT ||
		 qimg_dict_get(f, "filename") || qimg_dict_get(f, "driver")));
}

static int open_backing(struct qimg_node *node, struct qimg_value *bopts,
			const char *given, const struct open_ctx *ctx,
			struct qimg_error *err)
{
	struct qimg_open_args bargs = *ctx->args;
	struct open_ctx b = { .args = &bargs,
			      .depth = ctx->depth + 1,
			      .names = ctx->names,
			      .take_over = ctx->take_over };
	struct qimg_error berr = { 0 };
	struct qimg_node *bk = NULL;
	unsigned int flags;
	const char *name = NULL, *fmt = NULL;
	const struct qimg_node *last;
	char *base;
	int r;

	if (b.depth >= MAX_CHAIN_DEPTH) {
		qimg_value_free(bopts);
		return qimg_error_set(err, ELOOP,
				      "Backing chain is too long (a loop?)");
	}
	if (node->backing_filename && node->backing_filename[0]) {
		base = base_path(node, given, &last);
		/* A relative name under an image whose directory nothing
		 * tells (quorum): no actual path, as qemu-img says; and no
		 * backing file either. */
		if (!base && !is_absolute_or_protocol(node->backing_filename)) {
			qimg_value_free(bopts);
			if (node->flags & QIMG_OPEN_NO_BACKING)
				return 0;
			return qimg_error_set(err, EINVAL,
					      "Cannot generate a base "
					      "directory for %s nodes",
					      last ? last->drv->name
						   : node->drv->name);
		}
		node->full_backing_filename =
			qimg_resolve_backing_name(base, node->backing_filename);
		free(base);
		if (!node->full_backing_filename) {
			qimg_value_free(bopts);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
	}
	if (node->flags & QIMG_OPEN_NO_BACKING) {
		qimg_value_free(bopts);
		return 0;
	}
	if (!bopts) {
		if (!node->full_backing_filename)
			return 0;
		name = node->full_backing_filename;
		fmt = node->backing_format;
	} else if (!qimg_dict_get(bopts, "driver") && node->backing_format &&
		   !qimg_dict_get(bopts, "file")) {
		fmt = node->backing_format;
	}
	if (bopts && !bopts_name_file(bopts) && node->full_backing_filename) {
		/* Options for the backing node (backing.node-name=...) that
		 * do not say which file: the image's own backing file, with
		 * them, as QEMU opens it. */
		name = node->full_backing_filename;
		if (!qimg_dict_get(bopts, "driver"))
			fmt = node->backing_format;
	}
	bargs.probed_raw = NULL;
	flags = (node->flags & (QIMG_OPEN_FORCE_SHARE | QIMG_OPEN_NO_LOCK |
				QIMG_OPEN_NO_IO | QIMG_OPEN_UNMAP));
	r = open_node(bopts, name, fmt, 0, flags, node->cache, &b, &bk, &berr);
	if (r < 0)
		return qimg_error_set(
			err, -r, "Could not open backing file: %s", berr.msg);
	r = add_child(node, "backing", bk, bopts != NULL);
	if (r < 0) {
		close_tree(bk);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	return 0;
}

/* The backing option QEMU names first (its dict's order) among bopts
 * (flattened under "backing") and the flat "backing.X" keys of opts. */
static int backing_keys_first(const struct qimg_value *bopts,
			      const struct qimg_value *opts, char **first)
{
	struct qimg_opts o = { 0 };
	struct qimg_value *d = qimg_value_dict();
	size_t i, *idx = NULL;
	const char *k;
	int r = !d	? -ENOMEM
		: bopts ? qimg_options_flatten(&o, "backing", bopts)
			: 0;

	for (i = 0; r == 0 && i < o.len; i++)
		r = qimg_dict_put_bool(d, o.v[i].name, true);
	for (i = 0; r == 0 && i < qimg_value_count(opts); i++) {
		qimg_value_at(opts, i, &k);
		if (!strncmp(k, "backing.", 8))
			r = qimg_dict_put_bool(d, k, true);
	}
	*first = NULL;
	if (r == 0 && qimg_value_count(d) &&
	    (idx = calloc(qimg_value_count(d), sizeof(*idx)))) {
		qimg_dict_qemu_order(d, idx);
		qimg_value_at(d, idx[0], &k);
		*first = strdup(k);
	}
	free(idx);
	qimg_opts_free(&o);
	qimg_value_free(d);
	return *first ? 0 : -ENOMEM;
}

/* Open format drv (NULL: probe) over the open node `file` (taken over). */
static int format_over(const struct qimg_driver *drv, struct qimg_node *file,
		       struct qimg_value *opts, const char *given,
		       unsigned int flags, enum qimg_cache_mode cache,
		       const struct open_ctx *ctx, struct qimg_node **out,
		       struct qimg_error *err)
{
	struct qimg_value *bopts = NULL;
	struct qimg_node *node;
	bool probed = false, want_backing;
	char *late = NULL, *unknown = NULL;
	int r;

	if (!drv) {
		r = probe_format(file, given ? given : file->filename, &drv,
				 err);
		if (r == 0 && qimg_dict_put_str(opts, "driver", drv->name) < 0)
			r = qimg_error_set(err, ENOMEM, "Out of memory");
		if (r < 0) {
			close_tree(file);
			qimg_value_free(opts);
			return r;
		}
		probed = true;
	}
	if ((flags & QIMG_OPEN_FORCE_SHARE) && (flags & QIMG_OPEN_RDWR)) {
		close_tree(file);
		qimg_value_free(opts);
		return qimg_error_set(err, EINVAL,
				      "force-share=on can only be used with "
				      "read-only images");
	}
	node = qimg_node_new(drv, given ? given : file->filename, flags, cache);
	if (!node) {
		close_tree(file);
		qimg_value_free(opts);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (drv->supports_backing)
		bopts = qimg_dict_take(opts, "backing");
	else if (drop_null_backing(opts))
		node->flags |= QIMG_OPEN_NO_BACKING;
	if (bopts && qimg_value_type(bopts) == QIMG_VALUE_STR &&
	    !*qimg_value_get_str(bopts)) {
		/* QEMU's old spelling of null (open_format_node warned) */
		qimg_value_free(bopts);
		bopts = qimg_value_null();
		if (!bopts) {
			close_tree(file);
			qimg_node_free(node);
			qimg_value_free(opts);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
	}
	/* Backing options with no backing node to take them (none asked
	 * for, or none opened): refused once the node opened, as QEMU
	 * refuses what nobody took. */
	if (bopts && qimg_value_type(bopts) == QIMG_VALUE_NULL &&
	    has_flat_under(opts, "backing"))
		r = backing_keys_first(NULL, opts, &late);
	else if (bopts && (flags & QIMG_OPEN_NO_BACKING) &&
		 qimg_value_type(bopts) != QIMG_VALUE_NULL)
		r = backing_keys_first(bopts, opts, &late);
	else
		r = 0;
	if (r < 0) {
		qimg_value_free(bopts);
		close_tree(file);
		qimg_node_free(node);
		qimg_value_free(opts);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (late && qimg_value_type(bopts) != QIMG_VALUE_NULL) {
		qimg_value_free(bopts);
		bopts = NULL;
	}
	node->options = opts;
	node->objects = ctx->args->objects;
	node->names = qimg_node_names_ref(ctx->names);
	node->warn = ctx->args->warn;
	node->warn_opaque = ctx->args->warn_opaque;
	if (add_child(node, "file", file, false) < 0) {
		close_tree(file);
		qimg_value_free(bopts);
		qimg_node_free(node);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	node->probed_raw = probed && !strcmp(drv->name, "raw");
	r = take_locks(node, err);
	if (r == 0)
		r = driver_open(node, ctx, &unknown, err);
	if (r < 0) {
		free(late);
		qimg_value_free(bopts);
		discard_failed(node);
		return r;
	}
	if (node->probed_raw && (flags & QIMG_OPEN_RDWR) && ctx->depth == 0) {
		/* qemu-img names the image as its file node is named (an
		 * NBD URI as the driver rewrites it); a node only json:{...}
		 * describes (rbd) by that */
		char *exact = qimg_node_exact_filename(file);
		char *shown = exact ? NULL : qimg_node_display_name(file);
		const char *name = exact ? exact : shown;

		warn_probed_raw(ctx, name ? name : node->filename);
		free(exact);
		free(shown);
	}
	if (bopts && qimg_value_type(bopts) == QIMG_VALUE_STR &&
	    has_flat_under(opts, "backing")) {
		free(unknown);
		qimg_value_free(bopts);
		close_tree(node);
		return qimg_error_set(err, EINVAL,
				      "Could not open backing file: Cannot "
				      "reference an existing block device with "
				      "additional options or a new filename");
	}
	if (bopts && qimg_value_type(bopts) == QIMG_VALUE_STR) {
		r = qimg_error_set(err, ENOENT,
				   "Could not open backing file: Cannot find "
				   "device='%s' nor node-name='%s'",
				   qimg_value_get_str(bopts),
				   qimg_value_get_str(bopts));
		free(unknown);
		qimg_value_free(bopts);
		close_tree(node);
		return r;
	}
	want_backing = !bopts || qimg_value_type(bopts) != QIMG_VALUE_NULL;
	if (!want_backing) {
		/* "backing": null: the image is opened without its chain. */
		qimg_value_free(bopts);
		bopts = NULL;
		node->flags |= QIMG_OPEN_NO_BACKING;
	}
	r = open_backing(node, bopts, given, ctx, err);
	if (r == 0 && (late || unknown)) {
		/* what nobody took, once the chain opened: QEMU names the
		 * first in its dict's order */
		const char *name = !late      ? unknown
				   : !unknown ? late
					      : qemu_order_first(late, unknown);

		r = name ? qimg_options_unknown_error(drv, name, err)
			 : qimg_error_set(err, ENOMEM, "Out of memory");
	}
	free(late);
	free(unknown);
	if (r < 0) {
		close_tree(node);
		return r;
	}
	node->display_name = qimg_node_display_name(node);
	*out = node;
	return 0;
}

static int open_format_node(const struct qimg_driver *drv,
			    struct qimg_value *opts, const char *given,
			    unsigned int flags, enum qimg_cache_mode cache,
			    const struct open_ctx *ctx, struct qimg_node **out,
			    struct qimg_error *err)
{
	struct qimg_value *fopts = qimg_dict_take(opts, "file");
	struct qimg_node *file = NULL;
	int r;

	if (!fopts) {
		qimg_value_free(opts);
		/* A child named by neither (a quorum's children.0.filename=
		 * alone is probed, so it needs one) */
		if (!drv)
			return qimg_error_set(err, EINVAL,
					      "Must specify either driver or "
					      "file");
		/* A driver whose options are one typed record has `file` as
		 * a member of it (QEMU's copy-before-write). */
		if (drv->typed_opts)
			return qimg_error_set(err, EINVAL,
					      "Parameter 'file' is missing");
		return qimg_error_set(err, EINVAL,
				      "A block device must be specified for "
				      "\"file\"");
	}
	if (qimg_value_type(fopts) == QIMG_VALUE_STR &&
	    has_flat_under(opts, "file")) {
		qimg_value_free(fopts);
		qimg_value_free(opts);
		return reference_with_options(err);
	}
	if (qimg_value_type(fopts) == QIMG_VALUE_STR) {
		r = qimg_error_set(err, ENOENT,
				   "Cannot find device='%s' nor node-name='%s'",
				   qimg_value_get_str(fopts),
				   qimg_value_get_str(fopts));
		qimg_value_free(fopts);
		qimg_value_free(opts);
		return r;
	}
	r = open_node(fopts, NULL, NULL, QIMG_CHILD_PROTOCOL, flags, cache, ctx,
		      &file, err);
	if (r < 0) {
		qimg_value_free(opts);
		return r;
	}
	return format_over(drv, file, opts, given, flags, cache, ctx, out, err);
}

/* Open one node (and what it needs below it) from opts (taken over; NULL
 * for none) and/or filename.  `format` forces the driver. */
static int open_node(struct qimg_value *opts, const char *filename,
		     const char *format, unsigned int how, unsigned int flags,
		     enum qimg_cache_mode cache, const struct open_ctx *ctx,
		     struct qimg_node **out, struct qimg_error *err)
{
	const struct qimg_driver *drv = NULL;
	const char *given = filename;
	const char *drvname;
	int r;

	*out = NULL;
	if (!opts)
		opts = qimg_value_dict();
	if (!opts)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	if (filename && !strncmp(filename, "json:", 5)) {
		struct qimg_value *j;

		r = qimg_options_from_json(filename + 5, &j, err);
		if (r == 0) {
			r = merge_missing(opts, j);
			qimg_value_free(j);
			if (r < 0)
				r = qimg_error_set(err, ENOMEM,
						   "Out of memory");
		}
		if (r < 0)
			goto fail;
		filename = NULL;
		if (!opt_str(opts, "driver") && !qimg_dict_get(opts, "file") &&
		    !(how & QIMG_CHILD_PROTOCOL)) {
			r = qimg_error_set(err, EINVAL,
					   "Must specify either driver or "
					   "file");
			goto fail;
		}
	}
	drvname = format ? format : opt_str(opts, "driver");
	if (drvname) {
		drv = qimg_driver_find(drvname);
		if (!drv) {
			r = qimg_format_missing_error(drvname, true, err);
			goto fail;
		}
		if (format && qimg_dict_put_str(opts, "driver", format) < 0) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto fail;
		}
	}
	{
		/* QEMU's old spelling of "backing": null, read (and warned
		 * of) once the driver is known, before anything opens */
		const struct qimg_value *bk = qimg_dict_get(opts, "backing");

		if (bk && qimg_value_type(bk) == QIMG_VALUE_STR &&
		    !*qimg_value_get_str(bk)) {
			if (ctx->args->warn)
				ctx->args->warn(ctx->args->warn_opaque,
						"Use of \"backing\": \"\" is "
						"deprecated; use \"backing\": "
						"null instead");
			if (qimg_dict_put(opts, "backing", qimg_value_null()) <
			    0) {
				r = qimg_error_set(err, ENOMEM,
						   "Out of memory");
				goto fail;
			}
		}
	}
	if (filename) {
		if ((drv && drv->kind == QIMG_DRIVER_FORMAT) ||
		    (!drv && !(how & QIMG_CHILD_PROTOCOL))) {
			struct qimg_value *f = qimg_dict_get(opts, "file");
			const struct qimg_driver *used;

			if (!f) {
				r = qimg_dict_put(opts, "file",
						  qimg_value_dict());
				f = qimg_dict_get(opts, "file");
				if (r < 0 || !f) {
					r = qimg_error_set(err, ENOMEM,
							   "Out of memory");
					goto fail;
				}
			}
			if (qimg_value_type(f) == QIMG_VALUE_DICT) {
				r = fill_protocol(f, filename, NULL, &used,
						  err);
				if (r < 0)
					goto fail;
			}
		} else {
			r = fill_protocol(opts, filename, drv, &drv, err);
			if (r < 0)
				goto fail;
		}
	} else if (!drv && (how & QIMG_CHILD_PROTOCOL)) {
		const char *fn = opt_str(opts, "filename");

		if (!fn) {
			r = qimg_error_set(err, EINVAL,
					   "A block device must be specified "
					   "for \"file\"");
			goto fail;
		}
		/* A name given as an option is a plain file name, as in
		 * QEMU: only a name given as text has its protocol prefix
		 * parsed ("nbd:..." here is a file called so). */
		r = fill_protocol(opts, fn, plain_protocol(fn), &drv, err);
		if (r < 0)
			goto fail;
	}
	apply_common(opts, &flags, &cache);
	if (drv && drv->kind == QIMG_DRIVER_PROTOCOL)
		return open_protocol_node(drv, opts, flags, cache, ctx, out,
					  err);
	return open_format_node(drv, opts, given, flags, cache, ctx, out, err);
fail:
	qimg_value_free(opts);
	return r;
}

/* --- public entry points ------------------------------------------------ */

/* A reference to the name set an open uses: the one given, or a new one
 * for this open's nodes alone. */
static struct qimg_node_names *names_for(struct qimg_node_names *given)
{
	return given ? qimg_node_names_ref(given) : qimg_node_names_new();
}

static int open_top(const struct qimg_open_args *args,
		    struct qimg_node_names *names, struct qimg_node **out,
		    struct qimg_error *err)
{
	struct open_ctx ctx = { .args = args, .depth = 0, .names = names };
	struct qimg_value *opts = NULL;
	unsigned int flags = args->flags;
	int r;

	if ((flags & QIMG_OPEN_FORCE_SHARE) && (flags & QIMG_OPEN_RDWR))
		return qimg_error_set(err, EINVAL,
				      "force-share=on can only be used with "
				      "read-only images");
	if (args->options) {
		opts = qimg_value_copy(args->options);
		if (!opts || qimg_options_normalize(opts) < 0) {
			qimg_value_free(opts);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
	}
	if (!args->filename && !opts)
		return qimg_error_set(err, EINVAL,
				      "Must specify either driver or file");
	if (args->opts && args->opts->len) {
		/* Extra driver options given as a flat list (-o style). */
		size_t i;

		if (!opts)
			opts = qimg_value_dict();
		for (i = 0; opts && i < args->opts->len; i++)
			if (qimg_dict_put_str(opts, args->opts->v[i].name,
					      args->opts->v[i].value) < 0)
				break;
		if (!opts || qimg_options_normalize(opts) < 0) {
			qimg_value_free(opts);
			return qimg_error_set(err, ENOMEM, "Out of memory");
		}
	}
	r = open_node(opts, args->filename, args->format, 0, flags, args->cache,
		      &ctx, out, err);
	if (r == 0 && (*out)->drv->kind == QIMG_DRIVER_PROTOCOL &&
	    (*out)->drv->set_perm && !(flags & QIMG_OPEN_NO_LOCK)) {
		/* A protocol opened as the image: locked as raw locks it. */
		struct qimg_node *n = *out;
		unsigned int perm = QIMG_PERM_CONSISTENT_READ;

		if (n->flags & QIMG_OPEN_RDWR)
			perm |= QIMG_PERM_WRITE;
		r = n->drv->set_perm(
			n, perm,
			(flags & QIMG_OPEN_NO_SHARE) &&
					!(flags & QIMG_OPEN_FORCE_SHARE)
				? QIMG_PERM_WRITE | QIMG_PERM_RESIZE
				: 0,
			err);
		if (r < 0) {
			close_tree(n);
			*out = NULL;
		}
	}
	/* A protocol opened as the image is seen in whole sectors, as QEMU
	 * sees every node: an odd-sized file's tail reads as zeros. */
	if (r == 0 && (*out)->drv->kind == QIMG_DRIVER_PROTOCOL)
		(*out)->size = (((*out)->size + 511) / 512) * 512;
	return r;
}

int qimg_open(const struct qimg_open_args *args, struct qimg_node **out,
	      struct qimg_error *err)
{
	struct qimg_node_names *names = names_for(args->names);
	int r;

	*out = NULL;
	if (!names)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = open_top(args, names, out, err);
	qimg_node_names_unref(names);
	return r;
}

int qimg_open_child(struct qimg_node *parent, const char *role,
		    const char *filename, unsigned int how, unsigned int flags,
		    struct qimg_node **out, struct qimg_error *err)
{
	struct qimg_open_args args = { .filename = filename,
				       .objects = parent->objects,
				       .warn = parent->warn,
				       .warn_opaque = parent->warn_opaque };
	struct open_ctx ctx = { .args = &args, .depth = 0 };
	struct qimg_value *sub = qimg_dict_take(parent->options, role);
	struct qimg_node *child = NULL;
	bool from_options = sub != NULL;
	int r;

	*out = NULL;
	if (sub && qimg_value_type(sub) == QIMG_VALUE_STR &&
	    has_flat_under(parent->options, role)) {
		qimg_value_free(sub);
		return reference_with_options(err);
	}
	if (sub && qimg_value_type(sub) == QIMG_VALUE_STR) {
		r = qimg_error_set(err, ENOENT,
				   "Cannot find device='%s' nor node-name='%s'",
				   qimg_value_get_str(sub),
				   qimg_value_get_str(sub));
		qimg_value_free(sub);
		return r;
	}
	if (!sub && !filename) {
		if (how & QIMG_CHILD_OPTIONAL)
			return 0;
		return qimg_error_set(err, EINVAL,
				      "A block device must be specified for "
				      "\"%s\"",
				      role);
	}
	if (!sub && (how & QIMG_CHILD_PLAIN_NAME)) {
		const struct qimg_driver *used;

		sub = qimg_value_dict();
		if (!sub)
			return qimg_error_set(err, ENOMEM, "Out of memory");
		r = fill_protocol(sub, filename, plain_protocol(filename),
				  &used, err);
		if (r < 0) {
			qimg_value_free(sub);
			return r;
		}
		filename = NULL;
	}
	ctx.names = names_for(parent->names);
	if (!ctx.names) {
		qimg_value_free(sub);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = open_node(sub, sub ? NULL : filename, NULL,
		      how & QIMG_CHILD_PROTOCOL,
		      (parent->flags & (QIMG_OPEN_RDWR | QIMG_OPEN_FORCE_SHARE |
					QIMG_OPEN_NO_LOCK | QIMG_OPEN_NO_IO |
					QIMG_OPEN_UNMAP)) |
			      flags,
		      parent->cache, &ctx, &child, err);
	qimg_node_names_unref(ctx.names);
	if (r < 0)
		return r;
	if ((how & QIMG_CHILD_LOCK_DATA) && child->drv->set_perm &&
	    !(child->flags & QIMG_OPEN_NO_LOCK)) {
		unsigned int unshared = child->flags & QIMG_OPEN_FORCE_SHARE
						? 0
						: QIMG_PERM_RESIZE;

		/* Read first, then what a writer needs: QEMU attaches the
		 * child before its parent's writers, so a resize another
		 * process uses is the conflict it names first. */
		r = child->drv->set_perm(child, QIMG_PERM_CONSISTENT_READ,
					 unshared, err);
		if (r == 0 && (child->flags & QIMG_OPEN_RDWR))
			r = child->drv->set_perm(child,
						 QIMG_PERM_CONSISTENT_READ |
							 QIMG_PERM_WRITE |
							 QIMG_PERM_RESIZE,
						 unshared, err);
		if (r < 0) {
			close_tree(child);
			return r;
		}
	}
	r = add_child(parent, role, child, from_options);
	if (r < 0) {
		close_tree(child);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	*out = child;
	return 0;
}

int qimg_open_over(struct qimg_node *file, const char *format,
		   unsigned int flags, struct qimg_node **out,
		   struct qimg_error *err)
{
	struct qimg_value *opts = qimg_value_dict();
	int r;

	if (!opts ||
	    (format && qimg_dict_put_str(opts, "driver", format) < 0)) {
		qimg_value_free(opts);
		*out = NULL;
		close_tree(file);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = qimg_open_over_opts(file, opts, file->objects, flags, out, err);
	qimg_value_free(opts);
	return r;
}

int qimg_open_over_opts(struct qimg_node *file,
			const struct qimg_value *options,
			const struct qimg_objects *objects, unsigned int flags,
			struct qimg_node **out, struct qimg_error *err)
{
	struct qimg_open_args args = { .filename = file->filename,
				       .objects = objects };
	struct open_ctx ctx = { .args = &args, .depth = 0 };
	const struct qimg_driver *drv = NULL;
	struct qimg_value *opts =
		options ? qimg_value_copy(options) : qimg_value_dict();
	const char *format;
	int r;

	*out = NULL;
	if (!opts) {
		close_tree(file);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	format = qimg_value_get_str(qimg_dict_get(opts, "driver"));
	if (format) {
		drv = qimg_driver_find(format);
		if (!drv || drv->kind != QIMG_DRIVER_FORMAT) {
			qimg_value_free(opts);
			close_tree(file);
			return qimg_format_missing_error(format, true, err);
		}
	}
	file->objects = objects;
	ctx.names = names_for(file->names);
	if (!ctx.names) {
		qimg_value_free(opts);
		close_tree(file);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = format_over(drv, file, opts, NULL, flags, file->cache, &ctx, out,
			err);
	qimg_node_names_unref(ctx.names);
	return r;
}

int qimg_protocol_open(const char *filename, unsigned int flags,
		       enum qimg_cache_mode cache, struct qimg_node **out,
		       struct qimg_error *err)
{
	struct qimg_open_args args = { .filename = filename };
	struct open_ctx ctx = { .args = &args, .names = names_for(NULL) };
	int r;

	*out = NULL;
	if (!ctx.names)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = open_node(NULL, filename, NULL, QIMG_CHILD_PROTOCOL, flags, cache,
		      &ctx, out, err);
	qimg_node_names_unref(ctx.names);
	return r;
}

void qimg_protocol_close(struct qimg_node *file)
{
	close_tree(file);
}

void qimg_close(struct qimg_node *node)
{
	if (!node)
		return;
	if (node->drv->kind == QIMG_DRIVER_FORMAT &&
	    (node->flags & QIMG_OPEN_RDWR))
		(void)qimg_flush(node, NULL);
	close_tree(node);
}

/* --- a backing file opened again, read-write ------------------------------- */

/* The options that open `node` again as it is: its own, with those of its
 * children (the backing chain aside) under their roles.  NULL on
 * allocation failure, and for numbered children (quorum's), which only a
 * list could name. */
static struct qimg_value *reopen_options(const struct qimg_node *node)
{
	struct qimg_value *d = qimg_value_copy(node->options);
	size_t i;

	for (i = 0; d && i < node->nchildren; i++) {
		const struct qimg_child *c = &node->children[i];
		struct qimg_value *cd;

		if (!strcmp(c->role, "backing"))
			continue;
		cd = strchr(c->role, '.') ? NULL : reopen_options(c->node);
		if (!cd || qimg_dict_put(d, c->role, cd) < 0) {
			qimg_value_free(d);
			return NULL;
		}
	}
	return d;
}

/* Move the child `role` of `from` (if any) to the end of `to`'s list;
 * -ENOMEM leaves it with `from`. */
static int move_child(struct qimg_node *from, struct qimg_node *to,
		      const char *role)
{
	size_t i;

	for (i = 0; i < from->nchildren; i++) {
		if (strcmp(from->children[i].role, role))
			continue;
		if (add_child(to, role, from->children[i].node,
			      from->children[i].from_options) < 0)
			return -ENOMEM;
		free(from->children[i].role);
		memmove(&from->children[i], &from->children[i + 1],
			(from->nchildren - i - 1) * sizeof(from->children[0]));
		from->nchildren--;
		set_shortcuts(from);
		break;
	}
	return 0;
}

static void swap_str(char **a, char **b)
{
	char *t = *a;

	*a = *b;
	*b = t;
}

/* Give every named node of the tree its name back (after a failed
 * reopen); the backing chain, never reopened, keeps its own. */
static void retake_names(struct qimg_node *node)
{
	size_t i;

	if (node->name_claimed)
		(void)qimg_node_names_take_over(node->names,
						qimg_node_name(node), node);
	for (i = 0; i < node->nchildren; i++)
		if (strcmp(node->children[i].role, "backing"))
			retake_names(node->children[i].node);
}

int qimg_reopen_backing_rw(struct qimg_node *overlay, struct qimg_error *err)
{
	struct qimg_node *old = overlay->backing, *nn = NULL;
	struct qimg_open_args args = { .objects = overlay->objects,
				       .warn = overlay->warn,
				       .warn_opaque = overlay->warn_opaque };
	struct open_ctx ctx = { .args = &args, .depth = 0 };
	struct qimg_value *opts;
	size_t i;
	int r;

	if (!old || (old->flags & QIMG_OPEN_RDWR))
		return 0;
	if (old->drv->kind != QIMG_DRIVER_FORMAT || !old->file)
		return qimg_error_set(err, EPERM, "Block node is read-only");
	opts = reopen_options(old);
	if (!opts)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	/* Asked for, as qemu-img's commit asks: the node's own read-only=on
	 * gives way (its file's does not). */
	qimg_value_free(qimg_dict_take(opts, "read-only"));
	/* Our read-only descriptor forbids writers: it stops doing so while
	 * the new one takes the write lock (OFD locks of one process on two
	 * descriptors conflict as another process's would). */
	if (old->file->drv->set_perm && !(old->flags & QIMG_OPEN_NO_LOCK))
		(void)old->file->drv->set_perm(
			old->file, QIMG_PERM_CONSISTENT_READ, 0, NULL);
	/* So does its data file's (it forbids resizing). */
	if (old->data_file && old->data_file->drv->set_perm &&
	    !(old->data_file->flags & QIMG_OPEN_NO_LOCK))
		(void)old->data_file->drv->set_perm(
			old->data_file, QIMG_PERM_CONSISTENT_READ, 0, NULL);
	/* the new nodes take the old ones' names */
	ctx.names = names_for(old->names);
	ctx.take_over = true;
	if (!ctx.names) {
		qimg_value_free(opts);
		(void)take_locks(old, NULL);
		return qimg_error_set(err, ENOMEM, "Out of memory");
	}
	r = open_node(opts, NULL, NULL, 0,
		      (old->flags & ~QIMG_OPEN_PROBED) | QIMG_OPEN_RDWR |
			      QIMG_OPEN_NO_BACKING,
		      old->cache, &ctx, &nn, err);
	qimg_node_names_unref(ctx.names);
	if (r == 0 && (!(nn->flags & QIMG_OPEN_RDWR) ||
		       !(nn->file->flags & QIMG_OPEN_RDWR))) {
		/* Its options say read-only (file.read-only=on). */
		close_tree(nn);
		r = qimg_error_set(err, EPERM, "Block node is read-only");
	}
	if (r == 0 && move_child(old, nn, "backing") < 0) {
		close_tree(nn);
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	}
	if (r < 0) {
		/* the names the new nodes took are the old ones' again */
		retake_names(old);
		(void)take_locks(old, NULL);
		if (old->data_file && old->data_file->drv->set_perm &&
		    !(old->data_file->flags & QIMG_OPEN_NO_LOCK))
			(void)old->data_file->drv->set_perm(
				old->data_file, QIMG_PERM_CONSISTENT_READ,
				old->data_file->flags & QIMG_OPEN_FORCE_SHARE
					? 0
					: QIMG_PERM_RESIZE,
				NULL);
		return r;
	}
	/* The new node takes the old one's place, names and backing chain. */
	nn->flags = (nn->flags & ~QIMG_OPEN_NO_BACKING) |
		    (old->flags & QIMG_OPEN_NO_BACKING);
	nn->probed_raw = old->probed_raw;
	swap_str(&nn->filename, &old->filename);
	swap_str(&nn->display_name, &old->display_name);
	swap_str(&nn->full_backing_filename, &old->full_backing_filename);
	for (i = 0; i < overlay->nchildren; i++)
		if (overlay->children[i].node == old)
			overlay->children[i].node = nn;
	set_shortcuts(overlay);
	close_tree(old);
	return 0;
}

/* --- names ---------------------------------------------------------------- */

char *qimg_node_exact_filename(const struct qimg_node *node)
{
	const char *fn;
	size_t i;

	if (node->drv->exact_filename)
		return node->drv->exact_filename((struct qimg_node *)node);
	/* A filter (throttle, compress, preallocate) is named by its
	 * options, as QEMU names it, even over a plain file. */
	if (node->drv->is_filter ||
	    qimg_options_strong(node->drv, node->options))
		return NULL;
	if (node->drv->kind == QIMG_DRIVER_PROTOCOL) {
		fn = opt_str(node->options, "filename");
		return fn ? strdup(fn) : NULL;
	}
	for (i = 0; i < node->nchildren; i++) {
		const struct qimg_child *c = &node->children[i];

		if (strcmp(c->role, "file") && c->from_options)
			return NULL;
	}
	/* (only a protocol's name: raw over a qcow2 is its options) */
	return node->file && node->file->drv->kind == QIMG_DRIVER_PROTOCOL
		       ? qimg_node_exact_filename(node->file)
		       : NULL;
}

/* Put v under key, nested dicts and lists flattened to "key.sub" (as
 * qemu-img writes a node's own options in a json:{...} name). */
static int put_flat(struct qimg_value *d, const char *key,
		    const struct qimg_value *v)
{
	enum qimg_value_type t = qimg_value_type(v);
	const char *k;
	char *name;
	size_t i;
	int r;

	if (t != QIMG_VALUE_DICT && t != QIMG_VALUE_LIST)
		return qimg_dict_put(d, key, qimg_value_copy(v));
	for (i = 0; i < qimg_value_count(v); i++) {
		const struct qimg_value *m = qimg_value_at(v, i, &k);

		r = k ? asprintf(&name, "%s.%s", key, k)
		      : asprintf(&name, "%s.%zu", key, i);
		if (r < 0)
			return -ENOMEM;
		r = put_flat(d, name, m);
		free(name);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The options that describe node: its own, with "driver", and those of
 * its file child and of children given by options. */
static struct qimg_value *full_options(const struct qimg_node *node)
{
	struct qimg_value *d = qimg_value_dict();
	const char *const *k;
	size_t i;

	/* The driver, the options that change what the node reads (and a
	 * protocol's file name), and the children. */
	if (!d || qimg_dict_put_str(d, "driver", node->drv->name) < 0)
		goto fail;
	for (k = node->drv->strong_opts; k && *k; k++) {
		struct qimg_value *v = qimg_options_get_path(node->options, *k);

		if (v && put_flat(d, *k, v) < 0)
			goto fail;
	}
	if (node->drv->kind == QIMG_DRIVER_PROTOCOL &&
	    qimg_dict_get(node->options, "filename") &&
	    qimg_dict_put(d, "filename",
			  qimg_value_copy(qimg_dict_get(node->options,
							"filename"))) < 0)
		goto fail;
	for (i = 0; i < node->nchildren; i++) {
		const struct qimg_child *c = &node->children[i];
		struct qimg_value *cd;
		const char *dot;

		if (strcmp(c->role, "file") && !c->from_options)
			continue;
		cd = full_options(c->node);
		if (!cd)
			goto fail;
		dot = strrchr(c->role, '.');
		if (dot && dot[1] &&
		    strspn(dot + 1, "0123456789") == strlen(dot + 1)) {
			/* children.0, children.1, ...: one list, as qemu-img
			 * writes it. */
			char *base = strndup(c->role, (size_t)(dot - c->role));
			struct qimg_value *l =
				base ? qimg_dict_get(d, base) : NULL;

			if (base && !l &&
			    qimg_dict_put(d, base, qimg_value_list()) == 0)
				l = qimg_dict_get(d, base);
			free(base);
			if (!l || qimg_list_append(l, cd) < 0)
				goto fail;
			continue;
		}
		if (qimg_dict_put(d, c->role, cd) < 0)
			goto fail;
	}
	return d;
fail:
	qimg_value_free(d);
	return NULL;
}

char *qimg_node_display_name(const struct qimg_node *node)
{
	struct qimg_value *d;
	char *exact = qimg_node_exact_filename(node), *line, *r;

	if (exact)
		return exact;
	d = full_options(node);
	if (!d)
		return NULL;
	line = qimg_value_to_json_line(d);
	qimg_value_free(d);
	if (!line)
		return NULL;
	if (asprintf(&r, "json:%s", line) < 0)
		r = NULL;
	free(line);
	return r;
}
