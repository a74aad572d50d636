/* SPDX-License-Identifier: MIT */
/* blkdebug: a filter that injects I/O errors when chosen events happen,
 * as QEMU's iotests use it.  `blkdebug:[CONFIG]:IMAGE` or options: `image`
 * (the child), `config` (a file of [inject-error] and [set-state]
 * sections), `inject-error.N.{event,state,errno,sector,once,immediately,
 * iotype}`, `set-state.N.{event,state,new_state}`, and limits (`align`,
 * `max-transfer`, `opt-write-zero`, `max-write-zero`, `opt-discard`,
 * `max-discard`) that the node above must respect.
 *
 * A state number starts at 1.  When a format driver signals an event on
 * this node (qimg_debug_event), each inject-error rule for that event whose
 * state is 0 or the current one becomes armed; set-state rules for it move
 * the state.  Rules of event "none" are armed from the start.  An armed
 * rule fails the next request of its iotypes (all when none is given) that
 * covers its sector (any when none is given) with its errno; `once` rules
 * then disarm. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "protocols/blkdebug.h"

#define MAX_RULES 1024

enum iotype {
	IO_READ = 1,
	IO_WRITE = 2,
	IO_WRITE_ZEROES = 4,
	IO_DISCARD = 8,
	IO_FLUSH = 16,
	IO_BLOCK_STATUS = 32,
	IO_ALL = 63,
};

struct rule {
	bool inject; /* inject-error (else set-state) */
	int event;   /* enum qimg_debug_event, or -1 for "none" */
	long state;  /* 0: any (inject-error only) */
	long new_state;
	int err;
	int64_t sector; /* -1: any */
	bool once;
	unsigned int iotypes;
	bool armed;
};

struct blkdebug_state {
	pthread_mutex_t lock;
	struct rule *rules;
	size_t n;
	long state;
};

/* QEMU's event names, indexed by enum qimg_debug_event. */
static const char *const event_names[QIMG_EV__MAX] = {
	[QIMG_EV_L1_UPDATE] = "l1_update",
	[QIMG_EV_L1_GROW_ALLOC_TABLE] = "l1_grow_alloc_table",
	[QIMG_EV_L1_GROW_WRITE_TABLE] = "l1_grow_write_table",
	[QIMG_EV_L1_GROW_ACTIVATE_TABLE] = "l1_grow_activate_table",
	[QIMG_EV_L2_LOAD] = "l2_load",
	[QIMG_EV_L2_UPDATE] = "l2_update",
	[QIMG_EV_L2_UPDATE_COMPRESSED] = "l2_update_compressed",
	[QIMG_EV_L2_ALLOC_COW_READ] = "l2_alloc_cow_read",
	[QIMG_EV_L2_ALLOC_WRITE] = "l2_alloc_write",
	[QIMG_EV_READ_AIO] = "read_aio",
	[QIMG_EV_READ_BACKING_AIO] = "read_backing_aio",
	[QIMG_EV_READ_COMPRESSED] = "read_compressed",
	[QIMG_EV_WRITE_AIO] = "write_aio",
	[QIMG_EV_WRITE_COMPRESSED] = "write_compressed",
	[QIMG_EV_VMSTATE_LOAD] = "vmstate_load",
	[QIMG_EV_VMSTATE_SAVE] = "vmstate_save",
	[QIMG_EV_COW_READ] = "cow_read",
	[QIMG_EV_COW_WRITE] = "cow_write",
	[QIMG_EV_REFTABLE_LOAD] = "reftable_load",
	[QIMG_EV_REFTABLE_GROW] = "reftable_grow",
	[QIMG_EV_REFTABLE_UPDATE] = "reftable_update",
	[QIMG_EV_REFBLOCK_LOAD] = "refblock_load",
	[QIMG_EV_REFBLOCK_UPDATE] = "refblock_update",
	[QIMG_EV_REFBLOCK_UPDATE_PART] = "refblock_update_part",
	[QIMG_EV_REFBLOCK_ALLOC] = "refblock_alloc",
	[QIMG_EV_REFBLOCK_ALLOC_HOOKUP] = "refblock_alloc_hookup",
	[QIMG_EV_REFBLOCK_ALLOC_WRITE] = "refblock_alloc_write",
	[QIMG_EV_REFBLOCK_ALLOC_WRITE_BLOCKS] = "refblock_alloc_write_blocks",
	[QIMG_EV_REFBLOCK_ALLOC_WRITE_TABLE] = "refblock_alloc_write_table",
	[QIMG_EV_REFBLOCK_ALLOC_SWITCH_TABLE] = "refblock_alloc_switch_table",
	[QIMG_EV_CLUSTER_ALLOC] = "cluster_alloc",
	[QIMG_EV_CLUSTER_ALLOC_BYTES] = "cluster_alloc_bytes",
	[QIMG_EV_CLUSTER_FREE] = "cluster_free",
	[QIMG_EV_FLUSH_TO_OS] = "flush_to_os",
	[QIMG_EV_FLUSH_TO_DISK] = "flush_to_disk",
	[QIMG_EV_PWRITEV_RMW_HEAD] = "pwritev_rmw_head",
	[QIMG_EV_PWRITEV_RMW_AFTER_HEAD] = "pwritev_rmw_after_head",
	[QIMG_EV_PWRITEV_RMW_TAIL] = "pwritev_rmw_tail",
	[QIMG_EV_PWRITEV_RMW_AFTER_TAIL] = "pwritev_rmw_after_tail",
	[QIMG_EV_PWRITEV] = "pwritev",
	[QIMG_EV_PWRITEV_ZERO] = "pwritev_zero",
	[QIMG_EV_PWRITEV_DONE] = "pwritev_done",
	[QIMG_EV_EMPTY_IMAGE_PREPARE] = "empty_image_prepare",
	[QIMG_EV_L1_SHRINK_WRITE_TABLE] = "l1_shrink_write_table",
	[QIMG_EV_L1_SHRINK_FREE_L2_CLUSTERS] = "l1_shrink_free_l2_clusters",
	[QIMG_EV_COR_WRITE] = "cor_write",
	[QIMG_EV_CLUSTER_ALLOC_SPACE] = "cluster_alloc_space",
	[QIMG_EV_NONE] = "none",
};

static const char *const blkdebug_protocols[] = { "blkdebug", NULL };
static const char *const blkdebug_strong_opts[] = {
	"config",	  "align",	 "max-transfer", "opt-write-zero",
	"max-write-zero", "opt-discard", "max-discard",	 "inject-error",
	"set-state",	  NULL
};
static const char *const blkdebug_children[] = { "image", NULL };

static const struct qimg_opt_desc blkdebug_runtime_opts[] = {
	{ "config", QIMG_OPT_STRING, NULL, NULL },
	{ "x-image", QIMG_OPT_STRING, NULL, NULL },
	{ "align", QIMG_OPT_SIZE, NULL, NULL },
	{ "max-transfer", QIMG_OPT_SIZE, NULL, NULL },
	{ "opt-write-zero", QIMG_OPT_SIZE, NULL, NULL },
	{ "max-write-zero", QIMG_OPT_SIZE, NULL, NULL },
	{ "opt-discard", QIMG_OPT_SIZE, NULL, NULL },
	{ "max-discard", QIMG_OPT_SIZE, NULL, NULL },
	{ "inject-error.*", QIMG_OPT_STRING, NULL, NULL },
	{ "set-state.*", QIMG_OPT_STRING, NULL, NULL },
	{ "take-child-perms.*", QIMG_OPT_STRING, NULL, NULL },
	{ "unshare-child-perms.*", QIMG_OPT_STRING, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

/* blkdebug:[CONFIG]:IMAGE, or IMAGE alone */
static int blkdebug_parse_filename(const char *name, struct qimg_value *o,
				   struct qimg_error *err)
{
	const char *p = name + strlen("blkdebug:"), *c;
	char *config;
	int r;

	/* Without the prefix the whole name is the image (the rules come
	 * from options), as QEMU takes it. */
	if (strncmp(name, "blkdebug:", 9))
		return qimg_dict_put_str(o, "x-image", name) < 0
			       ? qimg_error_set(err, ENOMEM, "Out of memory")
			       : 0;
	c = strchr(p, ':');
	if (!c)
		return qimg_error_set(err, EINVAL, "Could not parse filename");
	config = strndup(p, (size_t)(c - p));
	if (!config)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	r = 0;
	if (*config)
		r = qimg_dict_put_str(o, "config", config);
	free(config);
	if (r == 0)
		r = qimg_dict_put_str(o, "x-image", c + 1);
	return r < 0 ? qimg_error_set(err, ENOMEM, "Out of memory") : 0;
}

static int find_event(const char *name)
{
	int i;

	for (i = 0; i < QIMG_EV__MAX; i++)
		if (event_names[i] && !strcmp(event_names[i], name))
			return i;
	return -2;
}

static bool parse_long(const char *s, long *out)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtol(s, &end, 0);
	return !errno && !*end;
}

static bool parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "yes")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "no")) {
		*out = false;
		return true;
	}
	return false;
}

static const struct {
	const char *name;
	unsigned int bit;
} iotypes[] = {
	{ "read", IO_READ },
	{ "write", IO_WRITE },
	{ "write-zeroes", IO_WRITE_ZEROES },
	{ "discard", IO_DISCARD },
	{ "flush", IO_FLUSH },
	{ "block-status", IO_BLOCK_STATUS },
};

/* One property of a rule; name and value as text. */
static int rule_set(struct rule *r, const char *name, const char *value,
		    struct qimg_error *err)
{
	long v;
	size_t i;

	if (!strcmp(name, "event")) {
		r->event = find_event(value);
		if (r->event == QIMG_EV_NONE)
			r->event = -1;
		if (r->event == -2)
			return qimg_error_set(err, EINVAL,
					      "invalid parameter value: %s",
					      value);
		return 0;
	}
	if (!strcmp(name, "iotype") || !strncmp(name, "iotype.", 7)) {
		for (i = 0; i < sizeof(iotypes) / sizeof(iotypes[0]); i++)
			if (!strcmp(iotypes[i].name, value)) {
				r->iotypes |= iotypes[i].bit;
				return 0;
			}
		return qimg_error_set(err, EINVAL,
				      "Parameter 'iotype' does not accept "
				      "value '%s'",
				      value);
	}
	if (!strcmp(name, "once") || !strcmp(name, "immediately")) {
		bool b;

		if (!parse_bool(value, &b))
			return qimg_error_set(err, EINVAL,
					      "Parameter '%s' expects 'on' or "
					      "'off'",
					      name);
		if (!strcmp(name, "once"))
			r->once = b;
		return 0;
	}
	if (!parse_long(value, &v))
		return qimg_error_set(err, EINVAL,
				      "Parameter '%s' expects a number", name);
	if (!strcmp(name, "state"))
		r->state = v;
	else if (!strcmp(name, "new_state"))
		r->new_state = v;
	else if (!strcmp(name, "errno"))
		r->err = (int)v;
	else if (!strcmp(name, "sector"))
		r->sector = v;
	else
		return qimg_error_set(err, EINVAL, "Invalid parameter '%s'",
				      name);
	return 0;
}

static struct rule *new_rule(struct blkdebug_state *s, bool inject,
			     struct qimg_error *err)
{
	struct rule *n, *r;

	if (s->n >= MAX_RULES) {
		qimg_error_set(err, EINVAL, "Too many blkdebug rules");
		return NULL;
	}
	n = realloc(s->rules, (s->n + 1) * sizeof(*s->rules));
	if (!n) {
		qimg_error_set(err, ENOMEM, "Out of memory");
		return NULL;
	}
	s->rules = n;
	r = &s->rules[s->n++];
	memset(r, 0, sizeof(*r));
	r->inject = inject;
	r->event = -2;
	r->err = EIO;
	r->sector = -1;
	return r;
}

static int check_rule(const struct rule *r, struct qimg_error *err)
{
	if (r->event == -2)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'event' is missing");
	if (!r->inject && !r->new_state)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'new_state' is missing");
	return 0;
}

/* The config file: sections [inject-error] / [set-state], lines
 * key = "value" (quotes optional), '#' comments. */
static int read_config(struct blkdebug_state *s, const char *path,
		       struct qimg_error *err)
{
	FILE *fp = fopen(path, "r");
	char line[1024];
	struct rule *cur = NULL;
	int r = 0;

	if (!fp)
		return qimg_error_set(err, errno,
				      "Could not read blkdebug config file: "
				      "%s",
				      strerror(errno));
	while (r == 0 && fgets(line, sizeof(line), fp)) {
		char *p = line, *eq, *k, *v, *e;

		while (isspace((unsigned char)*p))
			p++;
		e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (!*p || *p == '#')
			continue;
		if (*p == '[') {
			if (cur)
				r = check_rule(cur, err);
			if (r)
				break;
			if (!strcmp(p, "[inject-error]"))
				cur = new_rule(s, true, err);
			else if (!strcmp(p, "[set-state]"))
				cur = new_rule(s, false, err);
			else
				r = qimg_error_set(err, EINVAL,
						   "Invalid section '%s' in "
						   "blkdebug config",
						   p);
			if (!cur && !r)
				r = -ENOMEM;
			continue;
		}
		eq = strchr(p, '=');
		if (!eq || !cur) {
			r = qimg_error_set(err, EINVAL,
					   "Invalid line in blkdebug config: "
					   "%s",
					   p);
			break;
		}
		*eq = '\0';
		k = p;
		e = eq;
		while (e > k && isspace((unsigned char)e[-1]))
			*--e = '\0';
		v = eq + 1;
		while (isspace((unsigned char)*v))
			v++;
		e = v + strlen(v);
		if (*v == '"' && e > v + 1 && e[-1] == '"') {
			v++;
			e[-1] = '\0';
		}
		r = rule_set(cur, k, v, err);
	}
	if (r == 0 && cur)
		r = check_rule(cur, err);
	fclose(fp);
	return r;
}

/* inject-error.N.KEY and set-state.N.KEY options. */
static int read_option_rules(struct blkdebug_state *s,
			     const struct qimg_opts *o, const char *prefix,
			     bool inject, struct qimg_error *err)
{
	size_t plen = strlen(prefix), i;
	long want;
	int r;

	for (want = 0;; want++) {
		struct rule *rule = NULL;
		char pre[64];
		size_t n;

		n = (size_t)snprintf(pre, sizeof(pre), "%s%ld.", prefix, want);
		for (i = 0; i < o->len; i++) {
			if (strncmp(o->v[i].name, pre, n))
				continue;
			if (!rule) {
				rule = new_rule(s, inject, err);
				if (!rule)
					return -EINVAL;
			}
			r = rule_set(rule, o->v[i].name + n, o->v[i].value,
				     err);
			if (r < 0)
				return r;
		}
		if (!rule)
			break;
		r = check_rule(rule, err);
		if (r < 0)
			return r;
	}
	(void)plen;
	return 0;
}

static int blkdebug_open(struct qimg_node *node, const struct qimg_opts *o,
			 struct qimg_error *err)
{
	struct blkdebug_state *s = node->opaque;
	struct qimg_node *image;
	const char *config = qimg_opts_get_str(o, "config", NULL);
	uint64_t align;
	size_t i;
	int r;

	pthread_mutex_init(&s->lock, NULL);
	s->state = 1;
	r = config ? read_config(s, config, err) : 0;
	if (r == 0)
		r = read_option_rules(s, o, "inject-error.", true, err);
	if (r == 0)
		r = read_option_rules(s, o, "set-state.", false, err);
	for (i = 0; r == 0 && i < s->n; i++) {
		if (!s->rules[i].iotypes)
			s->rules[i].iotypes = IO_ALL;
		s->rules[i].armed =
			s->rules[i].inject && s->rules[i].event == -1;
	}
	if (r == 0)
		/* a protocol, as blkdebug itself is (image.filename=X is a
		 * file, not probed) */
		r = qimg_open_child(node, "image",
				    qimg_opts_get_str(o, "x-image", NULL),
				    QIMG_CHILD_PROTOCOL, 0, &image, err);
	if (r < 0) {
		free(s->rules);
		s->rules = NULL;
		pthread_mutex_destroy(&s->lock);
		return r;
	}
	node->size = image->size;
	node->zero_init = image->zero_init;
	/* Writes past the end reach the image, which may grow (a qcow2
	 * image over blkdebug allocates there, as over its file). */
	node->limits = image->limits;
	align = qimg_opts_get_u64(o, "align", 0);
	if (align && align > node->limits.request_align)
		node->limits.request_align = (uint32_t)align;
	node->limits.export_align = (uint32_t)align; /* its own, or bytes */
	if (qimg_opts_has(o, "max-transfer"))
		node->limits.max_transfer =
			qimg_opts_get_u64(o, "max-transfer", 0);
	if (qimg_opts_has(o, "opt-write-zero"))
		node->limits.zeroes_align =
			(uint32_t)qimg_opts_get_u64(o, "opt-write-zero", 0);
	if (qimg_opts_has(o, "max-write-zero"))
		node->limits.max_zeroes =
			qimg_opts_get_u64(o, "max-write-zero", 0);
	if (qimg_opts_has(o, "opt-discard"))
		node->limits.discard_align =
			(uint32_t)qimg_opts_get_u64(o, "opt-discard", 0);
	if (qimg_opts_has(o, "max-discard"))
		node->limits.max_discard =
			qimg_opts_get_u64(o, "max-discard", 0);
	return 0;
}

static void blkdebug_close(struct qimg_node *node)
{
	struct blkdebug_state *s = node->opaque;

	free(s->rules);
	s->rules = NULL;
	pthread_mutex_destroy(&s->lock);
}

static void blkdebug_event(struct qimg_node *node, enum qimg_debug_event ev)
{
	struct blkdebug_state *s = node->opaque;
	long next;
	size_t i;

	pthread_mutex_lock(&s->lock);
	next = s->state;
	for (i = 0; i < s->n; i++) {
		struct rule *r = &s->rules[i];

		if (r->event != (int)ev)
			continue;
		if (r->inject && (!r->state || r->state == s->state))
			r->armed = true;
		if (!r->inject && r->state == s->state)
			next = r->new_state;
	}
	s->state = next;
	pthread_mutex_unlock(&s->lock);
}

/* The errno an armed rule gives this request, or 0. */
static int injected(struct qimg_node *node, unsigned int type, uint64_t off,
		    uint64_t len)
{
	struct blkdebug_state *s = node->opaque;
	int e = 0;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n && !e; i++) {
		struct rule *r = &s->rules[i];
		uint64_t sec;

		if (!r->inject || !r->armed || !(r->iotypes & type))
			continue;
		if (r->sector >= 0) {
			sec = (uint64_t)r->sector * 512;
			if (sec + 512 <= off || sec >= off + (len ? len : 1))
				continue;
		}
		e = r->err ? r->err : EIO;
		if (r->once)
			r->armed = false;
	}
	pthread_mutex_unlock(&s->lock);
	return e;
}

static struct qimg_node *image_of(struct qimg_node *node)
{
	return qimg_node_child(node, "image");
}

static int fail(struct qimg_node *node, int e, struct qimg_error *err)
{
	return qimg_error_set(err, e, "%s", strerror(e));
}

static int blkdebug_read(struct qimg_node *node, uint64_t off, void *buf,
			 size_t len, struct qimg_error *err)
{
	int e = injected(node, IO_READ, off, len);

	return e ? fail(node, e, err)
		 : qimg_pread(image_of(node), off, buf, len, err);
}

static int blkdebug_write(struct qimg_node *node, uint64_t off, const void *buf,
			  size_t len, struct qimg_error *err)
{
	int e = injected(node, IO_WRITE, off, len);

	return e ? fail(node, e, err)
		 : qimg_pwrite(image_of(node), off, buf, len, err);
}

static int blkdebug_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			   unsigned int flags, struct qimg_error *err)
{
	int e = injected(node, IO_WRITE_ZEROES, off, len);

	return e ? fail(node, e, err)
		 : qimg_write_zeroes(image_of(node), off, len,
				     flags | QIMG_ZERO_NO_FALLBACK, err);
}

static int blkdebug_discard(struct qimg_node *node, uint64_t off, uint64_t len,
			    struct qimg_error *err)
{
	int e = injected(node, IO_DISCARD, off, len);

	return e ? fail(node, e, err)
		 : qimg_discard(image_of(node), off, len, err);
}

static int blkdebug_flush(struct qimg_node *node, struct qimg_error *err)
{
	int e = injected(node, IO_FLUSH, 0, 0);

	/* The core flushes the child after this. */
	return e ? fail(node, e, err) : 0;
}

static int blkdebug_block_status(struct qimg_node *node, uint64_t off,
				 uint64_t len, struct qimg_extent *ext,
				 struct qimg_error *err)
{
	int e = injected(node, IO_BLOCK_STATUS, off, len);

	if (e)
		return fail(node, e, err);
	/* A filter: the image decides. */
	ext->len = len;
	ext->flags = QIMG_BS_RAW | QIMG_BS_OFFSET_VALID;
	ext->map = off;
	ext->file = image_of(node);
	return 0;
}

static int64_t blkdebug_length(struct qimg_node *node)
{
	return (int64_t)image_of(node)->size;
}

/* blkdebug:CONFIG:IMAGE while nothing but the config file and the image
 * were given; else json:{...}. */
static char *blkdebug_exact_filename(struct qimg_node *node)
{
	const struct qimg_value *o = node->options;
	const struct qimg_value *cfg = qimg_dict_get(o, "config");
	char *img, *r = NULL, num[32];
	const char *key, *c = "";
	size_t i;

	for (i = 0; i < qimg_value_count(o); i++) {
		qimg_value_at(o, i, &key);
		if (strcmp(key, "config") && strcmp(key, "x-image") &&
		    strcmp(key, "driver"))
			return NULL;
	}
	if (cfg && qimg_value_type(cfg) == QIMG_VALUE_STR) {
		c = qimg_value_get_str(cfg);
	} else if (cfg && (qimg_value_type(cfg) == QIMG_VALUE_INT ||
			   qimg_value_type(cfg) == QIMG_VALUE_UINT)) {
		snprintf(num, sizeof(num), "%lld",
			 (long long)qimg_value_get_int(cfg));
		c = num;
	}
	img = image_of(node) ? qimg_node_exact_filename(image_of(node)) : NULL;
	if (!img)
		return NULL;
	if (asprintf(&r, "blkdebug:%s:%s", c, img) < 0)
		r = NULL;
	free(img);
	return r;
}

/* As QEMU asks a filter: its image's cluster size and dirty flag, no
 * format-specific section. */
static int blkdebug_get_info(struct qimg_node *node,
			     struct qimg_image_info *info,
			     struct qimg_error *err)
{
	int r = qimg_child_info(image_of(node), info, err);

	qimg_value_free(info->format_specific);
	info->format_specific = NULL;
	return r;
}

const struct qimg_driver qimg_driver_blkdebug = {
	.name = "blkdebug",
	.kind = QIMG_DRIVER_PROTOCOL,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct blkdebug_state),
	.protocols = blkdebug_protocols,
	.parse_filename = blkdebug_parse_filename,
	.runtime_opts = blkdebug_runtime_opts,
	.child_roles = blkdebug_children,
	.strong_opts = blkdebug_strong_opts,
	.exact_filename = blkdebug_exact_filename,
	.open = blkdebug_open,
	.close = blkdebug_close,
	.read = blkdebug_read,
	.write = blkdebug_write,
	.write_zeroes = blkdebug_zeroes,
	.discard = blkdebug_discard,
	.flush = blkdebug_flush,
	.block_status = blkdebug_block_status,
	.length = blkdebug_length,
	.get_info = blkdebug_get_info,
	.debug_event = blkdebug_event,
};
