/* SPDX-License-Identifier: MIT */
/* object-types.h: the ObjectType table (members, types and which are
 * required, from QEMU's QMP reference), the keyval and JSON visit of a
 * definition against it, and the types qemu-img (qemu-nbd) has.  The
 * behaviours were learnt by running qemu-img 7.2, qemu-nbd and qemu-io;
 * tests/interop/objects.sh shows each. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "qimg/size.h"
#include "qimg/value.h"
#include "util/keyval.h"
#include "util/ghash.h"
#include "util/object-types.h"
#include "util/vector.h"

/* ---- the schema -------------------------------------------------------- */

enum kind {
	K_STR,
	K_BOOL,
	K_INT, /* int64 */
	K_U64,
	K_U32,
	K_U16,
	K_SIZE,
	K_ENUM,
	K_U16LIST,
	K_SOCKET, /* SocketAddress: a union on "type" */
};

struct member {
	const char *name;
	unsigned char kind;
	bool req;
	const char *const *values; /* K_ENUM's, NULL-terminated */
};

#define M(n, k)                                                                \
	{                                                                      \
		n, k, false, NULL                                              \
	}
#define REQ(n, k)                                                              \
	{                                                                      \
		n, k, true, NULL                                               \
	}
#define ENUM(n, v)                                                             \
	{                                                                      \
		n, K_ENUM, false, v                                            \
	}
#define END                                                                    \
	{                                                                      \
		NULL, 0, false, NULL                                           \
	}

static const char *const net_direction[] = { "all", "rx", "tx", NULL };
static const char *const net_insert[] = { "before", "behind", NULL };
static const char *const grab_keys[] = { "ctrl-ctrl",	"alt-alt",
					 "shift-shift", "meta-meta",
					 "scrolllock",	"ctrl-scrolllock",
					 NULL };
static const char *const mem_policy[] = { "default", "preferred", "bind",
					  "interleave", NULL };
static const char *const tls_endpoint[] = { "client", "server", NULL };
static const char *const socket_types[] = { "inet", "unix", "vsock", "fd",
					    NULL };

/* Members in schema order; a type's base struct comes first. */
static const struct member m_none[] = { END };
static const struct member m_socketcan[] = { REQ("if", K_STR),
					     REQ("canbus", K_STR), END };
static const struct member m_colo[] = {
	REQ("primary_in", K_STR),	REQ("secondary_in", K_STR),
	REQ("outdev", K_STR),		REQ("iothread", K_STR),
	M("notify_dev", K_STR),		M("compare_timeout", K_U64),
	M("expired_scan_cycle", K_U32), M("max_queue_size", K_U32),
	M("vnet_hdr_support", K_BOOL),	END
};
static const struct member m_cryptodev[] = { M("queues", K_U32), END };
static const struct member m_vhost_user[] = { REQ("chardev", K_STR), END };
static const struct member m_dbus[] = { REQ("addr", K_STR), M("id-list", K_STR),
					END };
static const struct member m_netfilter[] = {
	REQ("netdev", K_STR), ENUM("queue", net_direction), M("status", K_STR),
	M("position", K_STR), ENUM("insert", net_insert),   END
};
static const struct member m_buffer[] = { REQ("interval", K_U32), END };
static const struct member m_dump[] = { REQ("file", K_STR), M("maxlen", K_U32),
					END };
static const struct member m_mirror[] = { REQ("outdev", K_STR),
					  M("vnet_hdr_support", K_BOOL), END };
static const struct member m_redirector[] = { M("indev", K_STR),
					      M("outdev", K_STR),
					      M("vnet_hdr_support", K_BOOL),
					      END };
static const struct member m_rewriter[] = { M("vnet_hdr_support", K_BOOL),
					    END };
static const struct member m_barrier[] = {
	REQ("name", K_STR),   M("server", K_STR),
	M("port", K_STR),     M("x-origin", K_STR),
	M("y-origin", K_STR), M("width", K_STR),
	M("height", K_STR),   END
};
static const struct member m_input_linux[] = {
	REQ("evdev", K_STR), M("grab_all", K_BOOL), M("repeat", K_BOOL),
	ENUM("grab-toggle", grab_keys), END
};
static const struct member m_event_loop[] = { M("aio-max-batch", K_INT),
					      M("thread-pool-min", K_INT),
					      M("thread-pool-max", K_INT),
					      END };
static const struct member m_iothread[] = { M("poll-max-ns", K_INT),
					    M("poll-grow", K_INT),
					    M("poll-shrink", K_INT), END };
static const struct member m_memory[] = {
	M("dump", K_BOOL),
	M("host-nodes", K_U16LIST),
	M("merge", K_BOOL),
	ENUM("policy", mem_policy),
	M("prealloc", K_BOOL),
	M("prealloc-threads", K_U32),
	M("prealloc-context", K_STR),
	M("share", K_BOOL),
	M("reserve", K_BOOL),
	REQ("size", K_SIZE),
	M("x-use-canonical-path-for-ramblock-id", K_BOOL),
	END
};
static const struct member m_memory_file[] = {
	M("align", K_SIZE), M("discard-data", K_BOOL), REQ("mem-path", K_STR),
	M("pmem", K_BOOL),  M("readonly", K_BOOL),     END
};
static const struct member m_memfd[] = { M("hugetlb", K_BOOL),
					 M("hugetlbsize", K_SIZE),
					 M("seal", K_BOOL), END };
static const struct member m_pr_helper[] = { REQ("path", K_STR), END };
static const struct member m_qtest[] = { REQ("chardev", K_STR), M("log", K_STR),
					 END };
static const struct member m_rng[] = { M("opened", K_BOOL), END };
static const struct member m_rng_egd[] = { REQ("chardev", K_STR), END };
static const struct member m_rng_random[] = { M("filename", K_STR), END };
static const struct member m_sev[] = { M("sev-device", K_STR),
				       M("dh-cert-file", K_STR),
				       M("session-file", K_STR),
				       M("policy", K_U32),
				       M("handle", K_U32),
				       M("cbitpos", K_U32),
				       REQ("reduced-phys-bits", K_U32),
				       M("kernel-hashes", K_BOOL),
				       END };
static const struct member m_thread_context[] = { M("cpu-affinity", K_U16LIST),
						  M("node-affinity", K_U16LIST),
						  END };
static const struct member m_tls_creds[] = { M("verify-peer", K_BOOL),
					     M("dir", K_STR),
					     ENUM("endpoint", tls_endpoint),
					     M("priority", K_STR), END };
static const struct member m_remote[] = { REQ("fd", K_STR), REQ("devid", K_STR),
					  END };
static const struct member m_vfio_user[] = { REQ("socket", K_SOCKET),
					     REQ("device", K_STR), END };

/* SocketAddress's branches, in socket_types' order. */
static const struct member m_inet[] = {
	REQ("host", K_STR),	 REQ("port", K_STR), M("numeric", K_BOOL),
	M("to", K_U16),		 M("ipv4", K_BOOL),  M("ipv6", K_BOOL),
	M("keep-alive", K_BOOL), M("mptcp", K_BOOL), END
};
static const struct member m_unix[] = { REQ("path", K_STR),
					M("abstract", K_BOOL),
					M("tight", K_BOOL), END };
static const struct member m_vsock[] = { REQ("cid", K_STR), REQ("port", K_STR),
					 END };
static const struct member m_fd[] = { REQ("str", K_STR), END };
static const struct member *const socket_branches[] = { m_inet, m_unix, m_vsock,
							m_fd };
static const struct member socket_type = { "type", K_ENUM, true, socket_types };

/* Where a type is made: object.c's own parsers, or the tools that have
 * it (none: "invalid object type"). */
#define ELSEWHERE 1
#define IN_IMG 2
#define IN_NBD 4

struct otype {
	const char *name;
	const struct member *base, *own;
	unsigned char where;
};

/* QEMU 7.2's ObjectType, in its order. */
static const struct otype types[] = {
	{ "authz-list", NULL, NULL, ELSEWHERE },
	{ "authz-listfile", NULL, NULL, ELSEWHERE },
	{ "authz-pam", NULL, NULL, ELSEWHERE },
	{ "authz-simple", NULL, NULL, ELSEWHERE },
	{ "can-bus", m_none, m_none, 0 },
	{ "can-host-socketcan", m_socketcan, m_none, 0 },
	{ "colo-compare", m_colo, m_none, 0 },
	{ "cryptodev-backend", m_cryptodev, m_none, 0 },
	{ "cryptodev-backend-builtin", m_cryptodev, m_none, 0 },
	{ "cryptodev-backend-lkcf", m_cryptodev, m_none, 0 },
	{ "cryptodev-vhost-user", m_cryptodev, m_vhost_user, 0 },
	{ "dbus-vmstate", m_dbus, m_none, 0 },
	{ "filter-buffer", m_netfilter, m_buffer, 0 },
	{ "filter-dump", m_netfilter, m_dump, 0 },
	{ "filter-mirror", m_netfilter, m_mirror, 0 },
	{ "filter-redirector", m_netfilter, m_redirector, 0 },
	{ "filter-replay", m_netfilter, m_none, 0 },
	{ "filter-rewriter", m_netfilter, m_rewriter, 0 },
	{ "input-barrier", m_barrier, m_none, 0 },
	{ "input-linux", m_input_linux, m_none, 0 },
	{ "iothread", m_event_loop, m_iothread, IN_NBD },
	{ "main-loop", m_event_loop, m_none, IN_IMG | IN_NBD },
	{ "memory-backend-epc", m_memory, m_none, 0 },
	{ "memory-backend-file", m_memory, m_memory_file, 0 },
	{ "memory-backend-memfd", m_memory, m_memfd, 0 },
	{ "memory-backend-ram", m_memory, m_none, 0 },
	{ "pef-guest", m_none, m_none, 0 },
	{ "pr-manager-helper", m_pr_helper, m_none, IN_IMG | IN_NBD },
	{ "qtest", m_qtest, m_none, 0 },
	{ "rng-builtin", m_rng, m_none, 0 },
	{ "rng-egd", m_rng, m_rng_egd, 0 },
	{ "rng-random", m_rng, m_rng_random, 0 },
	{ "secret", NULL, NULL, ELSEWHERE },
	{ "secret_keyring", NULL, NULL, ELSEWHERE },
	{ "sev-guest", m_sev, m_none, 0 },
	{ "thread-context", m_thread_context, m_none, IN_IMG | IN_NBD },
	{ "s390-pv-guest", m_none, m_none, 0 },
	{ "throttle-group", NULL, NULL, ELSEWHERE },
	{ "tls-creds-anon", NULL, NULL, ELSEWHERE },
	{ "tls-creds-psk", NULL, NULL, ELSEWHERE },
	{ "tls-creds-x509", NULL, NULL, ELSEWHERE },
	{ "tls-cipher-suites", m_tls_creds, m_none, IN_IMG | IN_NBD },
	{ "x-remote-object", m_remote, m_none, 0 },
	{ "x-vfio-user-server", m_vfio_user, m_none, 0 },
};

static const struct otype *find_type(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(types[i].name, name))
			return &types[i];
	return NULL;
}

static unsigned char tool_bit(enum qimg_object_tool tool)
{
	return tool == QIMG_OBJECT_TOOL_NBD ? IN_NBD : IN_IMG;
}

/* ---- keyval text to a tree --------------------------------------------- */

#define FRAGMENT_MAX 127

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A key of n bytes: fragments joined by '.', each a name (a letter, then
 * letters, digits, '-' and '_') or, after the first, an index (digits);
 * then each fragment's length. */
static int kv_key_check(const char *k, size_t n, struct qimg_error *err)
{
	size_t i = 0, start;

	for (;;) {
		if (i < n && is_alpha(k[i])) {
			while (++i < n && (is_alpha(k[i]) || is_digit(k[i]) ||
					   k[i] == '-' || k[i] == '_'))
				;
		} else if (i > 0 && i < n && is_digit(k[i])) {
			while (++i < n && is_digit(k[i]))
				;
		} else {
			break;
		}
		if (i == n)
			goto lengths;
		if (k[i++] != '.')
			break;
	}
	return qimg_error_set(err, EINVAL, "Invalid parameter '%.*s'", (int)n,
			      k);
lengths:
	for (start = 0; start < n; start = i + 1) {
		for (i = start; i < n && k[i] != '.'; i++)
			;
		if (i - start <= FRAGMENT_MAX)
			continue;
		if (start == 0 && i == n)
			return qimg_error_set(err, EINVAL,
					      "Parameter '%.*s' is too long",
					      (int)n, k);
		return qimg_error_set(err, EINVAL,
				      "Parameter fragment '%.*s' is too long",
				      (int)(i - start), k + start);
	}
	return 0;
}

static int oom(struct qimg_error *err)
{
	return qimg_error_set(err, ENOMEM, "Out of memory");
}

/* Store val under the dotted key k (n bytes, checked) in root.  The tree
 * is at most KEY_DEPTH deep, for the recursions over it: a deeper key's
 * last level holds the rest of it, dots and all (no member is that deep:
 * only the errors on absurd keys can differ from qemu-img's). */
#define KEY_DEPTH 64
static int kv_put(struct qimg_value *root, const char *k, size_t n,
		  const char *val, struct qimg_error *err)
{
	struct qimg_value *cur = root, *child;
	char *frag = malloc(n + 1);
	size_t i = 0, len, depth = 0;
	int r = 0;

	if (!frag)
		return oom(err);
	for (;;) {
		for (len = 0; i + len < n && k[i + len] != '.'; len++)
			;
		if (++depth == KEY_DEPTH)
			len = n - i;
		memcpy(frag, k + i, len);
		frag[len] = 0;
		child = qimg_dict_get(cur, frag);
		if (i + len == n)
			break;
		if (child && qimg_value_type(child) != QIMG_VALUE_DICT) {
			r = qimg_error_set(err, EINVAL,
					   "Parameters '%.*s.*' used "
					   "inconsistently",
					   (int)(i + len), k);
			goto out;
		}
		if (!child && qimg_dict_put(cur, frag, qimg_value_dict()) < 0) {
			r = oom(err);
			goto out;
		}
		cur = qimg_dict_get(cur, frag);
		i += len + 1;
	}
	if (child && qimg_value_type(child) == QIMG_VALUE_DICT)
		r = qimg_error_set(err, EINVAL,
				   "Parameters '%.*s.*' used inconsistently",
				   (int)n, k);
	else if (qimg_dict_put_str(cur, frag, val) < 0)
		r = oom(err);
out:
	free(frag);
	return r;
}

/* The value after '=': up to a ',' that is not ",,", which stands for
 * ','.  *pp moves past the value and its ','. */
static char *kv_value(const char **pp)
{
	const char *p = *pp;
	char *v = malloc(strlen(p) + 1), *o = v;

	if (!v)
		return NULL;
	for (; *p; p++) {
		if (*p == ',' && p[1] != ',')
			break;
		if (*p == ',')
			p++;
		*o++ = *p;
	}
	*o = 0;
	*pp = *p ? p + 1 : p;
	return v;
}

static int listify(struct qimg_value *dict, const char *path,
		   struct qimg_error *err);

/* The index an index key names; past n (or too big) is n. */
static size_t key_index(const char *k, size_t n)
{
	unsigned long long x;

	errno = 0;
	x = strtoull(k, NULL, 10);
	return errno || x >= n ? n : (size_t)x;
}

/* A dict of n index keys as QEMU makes it a list: the members, taken in
 * QDict order, fill slots 0..n-1 (a later one with the same index wins);
 * an empty slot before a filled one, or an index past n, is "missing". */
static int to_list(struct qimg_value *v, const char *path,
		   struct qimg_value **out, struct qimg_error *err)
{
	size_t n = qimg_value_count(v), *idx, *slot, i, j, last = 0;
	bool beyond = false;
	const char *k;
	int r = 0;

	idx = calloc(n, sizeof(*idx));
	slot = calloc(n, sizeof(*slot));
	*out = qimg_value_list();
	if (!idx || !slot || !*out)
		r = oom(err);
	if (r == 0)
		qimg_dict_qemu_order(v, idx);
	for (i = 0; r == 0 && i < n; i++) {
		qimg_value_at(v, idx[i], &k);
		j = key_index(k, n);
		if (j == n)
			beyond = true;
		else
			slot[j] = idx[i] + 1; /* 0: empty */
		if (j < n && j + 1 > last)
			last = j + 1;
	}
	for (i = 0; r == 0 && i < n && (i < last || beyond); i++)
		if (!slot[i])
			r = qimg_error_set(err, EINVAL,
					   "Parameter '%s.%zu' missing", path,
					   i);
	for (i = 0; r == 0 && i < last; i++)
		if (qimg_list_append(*out, qimg_value_copy(qimg_value_at(
						   v, slot[i] - 1, NULL))) < 0)
			r = oom(err);
	free(idx);
	free(slot);
	if (r < 0) {
		qimg_value_free(*out);
		*out = NULL;
	}
	return r;
}

static int listify_member(struct qimg_value *dict, size_t i, const char *path,
			  struct qimg_error *err)
{
	struct qimg_value *v, *list;
	const char *k;
	char sub[512];
	size_t j, n, found;
	int r;

	v = qimg_value_at(dict, i, &k);
	if (qimg_value_type(v) != QIMG_VALUE_DICT)
		return 0;
	snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
	r = listify(v, sub, err);
	n = qimg_value_count(v);
	for (j = 0, found = 0; r == 0 && j < n; j++) {
		qimg_value_at(v, j, &k);
		found += is_digit(*k); /* an index */
	}
	if (r < 0 || found == 0)
		return r;
	if (found != n)
		return qimg_error_set(err, EINVAL,
				      "Parameters '%s.*' used inconsistently",
				      sub);
	r = to_list(v, sub, &list, err);
	if (r < 0)
		return r;
	qimg_value_at(dict, i, &k);
	return qimg_dict_put(dict, k, list) < 0 ? oom(err) : 0;
}

/* Each dict below dict whose keys are indexes made a list. */
static int listify(struct qimg_value *dict, const char *path,
		   struct qimg_error *err)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < qimg_value_count(dict); i++)
		r = listify_member(dict, i, path, err);
	return r;
}

/* One piece "key=value" at *pp. */
static int kv_piece(struct qimg_value *root, const char **pp,
		    struct qimg_error *err)
{
	const char *p = *pp;
	size_t n = strcspn(p, "=,");
	char *v;
	int r;

	r = kv_key_check(p, n, err);
	if (r < 0)
		return r;
	if (p[n] != '=')
		return qimg_error_set(err, EINVAL,
				      "Expected '=' after parameter '%.*s'",
				      (int)n, p);
	*pp = p + n + 1;
	v = kv_value(pp);
	if (!v)
		return oom(err);
	r = kv_put(root, p, n, v, err);
	free(v);
	return r;
}

/* QEMU's keyval syntax with "qom-type" as the implied first key: a tree
 * of dicts, lists and strings; "help" and "?" pieces set *help. */
static int kv_parse(const char *def, struct qimg_value **out, bool *help,
		    struct qimg_error *err)
{
	struct qimg_value *root = qimg_value_dict();
	const char *p = def;
	bool first = true;
	size_t n;
	int r = 0;

	*help = false;
	if (!root)
		return oom(err);
	while (r == 0 && *p) {
		n = strcspn(p, ",");
		if ((n == 4 && !strncmp(p, "help", 4)) ||
		    (n == 1 && *p == '?')) {
			*help = true;
			p += n + (p[n] == ',');
		} else if (first && strcspn(p, "=,") == n && n) {
			/* the type, its value taken up to the first ',' */
			char *t = strndup(p, n);

			r = t && qimg_dict_put_str(root, "qom-type", t) == 0
				    ? 0
				    : oom(err);
			free(t);
			p += n + (p[n] == ',');
		} else {
			r = kv_piece(root, &p, err);
		}
		first = false;
	}
	if (r == 0)
		r = listify(root, "", err);
	if (r < 0) {
		qimg_value_free(root);
		return r;
	}
	*out = root;
	return 0;
}

/* ---- the visit --------------------------------------------------------- */

struct visit {
	bool json; /* typed JSON values; else keyval text */
	struct qimg_error *err;
};

static int bad_type(struct visit *vs, const char *path, const char *what)
{
	return qimg_error_set(vs->err, EINVAL,
			      "Invalid parameter type for '%s', expected: %s",
			      path, what);
}

/* A scalar's text (keyval); a dict or list there is refused. */
static const char *kv_text(struct visit *vs, const struct qimg_value *v,
			   const char *path)
{
	if (qimg_value_type(v) == QIMG_VALUE_STR)
		return qimg_value_get_str(v);
	qimg_error_set(vs->err, EINVAL, "Parameters '%s.*' are unexpected",
		       path);
	return NULL;
}

/* QEMU's booleans in keyval text. */
static bool parse_bool(const char *s)
{
	static const char *const words[] = { "on",  "yes", "true",  "y",
					     "off", "no",  "false", "n" };
	size_t i;

	for (i = 0; i < 8; i++)
		if (!strcmp(s, words[i]))
			return true;
	return false;
}

/* A keyval integer: strtoll's or (is_unsigned) strtoull's, whose '-'
 * wraps as QEMU's unsigned keyval numbers do; the whole text. */
static bool parse_num(const char *s, bool is_unsigned, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = is_unsigned ? strtoull(s, &end, 0)
			   : (uint64_t)strtoll(s, &end, 0);
	return !errno && end != s && !*end;
}

/* An unsigned member: uint64 (or a size), then its own width. */
static int visit_uint(struct visit *vs, const struct qimg_value *v,
		      unsigned char kind, const char *path, const char *name)
{
	enum qimg_value_type t = qimg_value_type(v);
	uint64_t u = 0;
	const char *s;
	int hexw = 0;

	if (vs->json) {
		if (t != QIMG_VALUE_INT && t != QIMG_VALUE_UINT)
			return qimg_error_set(vs->err, EINVAL,
					      "Parameter '%s' expects uint64",
					      path);
		u = (uint64_t)qimg_value_get_int(v);
	} else if (!(s = kv_text(vs, v, path))) {
		return -EINVAL;
	} else if (kind == K_SIZE) {
		int r = qimg_parse_size(s, &u, &hexw);

		if (hexw)
			qimg_error_note(vs->err,
					QIMG_NOTE_REPORT
					"warning: Using a multiplier suffix on "
					"hex numbers is deprecated: %s",
					s);
		if (r != QIMG_SIZE_OK)
			return qimg_error_set(vs->err, EINVAL,
					      "Parameter '%s' expects size",
					      path);
	} else if (!parse_num(s, true, &u)) {
		return qimg_error_set(vs->err, EINVAL,
				      "Parameter '%s' expects integer", path);
	}
	if (kind == K_U32 && u > UINT32_MAX)
		return qimg_error_set(vs->err, EINVAL,
				      "Parameter '%s' expects uint32_t", name);
	if (kind == K_U16 && u > UINT16_MAX)
		return qimg_error_set(vs->err, EINVAL,
				      "Parameter '%s' expects uint16_t", name);
	return 0;
}

/* A scalar member at path; name is what QEMU's range and enum errors
 * call it (the member's own name; "null" in a list). */
static int visit_scalar(struct visit *vs, const struct qimg_value *v,
			const struct member *m, const char *path,
			const char *name)
{
	enum qimg_value_type t = qimg_value_type(v);
	const char *s = NULL, *const * e;
	uint64_t i;

	if (m->kind != K_STR && m->kind != K_BOOL && m->kind != K_INT &&
	    m->kind != K_ENUM)
		return visit_uint(vs, v, m->kind, path, name);
	if (vs->json) {
		if (m->kind == K_BOOL)
			return t == QIMG_VALUE_BOOL
				       ? 0
				       : bad_type(vs, path, "boolean");
		if (m->kind == K_INT)
			return t == QIMG_VALUE_INT
				       ? 0
				       : bad_type(vs, path, "integer");
		if (t != QIMG_VALUE_STR)
			return bad_type(vs, path, "string");
		s = qimg_value_get_str(v);
	} else if (!(s = kv_text(vs, v, path))) {
		return -EINVAL;
	} else if (m->kind == K_BOOL && !parse_bool(s)) {
		return qimg_error_set(vs->err, EINVAL,
				      "Parameter '%s' expects 'on' or 'off'",
				      path);
	} else if (m->kind == K_INT && !parse_num(s, false, &i)) {
		return qimg_error_set(vs->err, EINVAL,
				      "Parameter '%s' expects integer", path);
	}
	if (m->kind != K_ENUM)
		return 0;
	for (e = m->values; *e && strcmp(*e, s); e++)
		;
	return *e ? 0
		  : qimg_error_set(vs->err, EINVAL,
				   "Parameter '%s' does not accept value '%s'",
				   name, s);
}

static int visit_members(struct visit *vs, const struct qimg_value *dict,
			 const struct member *m, const char *prefix);

/* Whether member list l, or the NULL-ended names, name k. */
static bool known_key(const char *k, const struct member *const *lists,
		      size_t nlists, const char *const *names)
{
	const struct member *m;
	size_t l;

	for (; *names; names++)
		if (!strcmp(*names, k))
			return true;
	for (l = 0; l < nlists; l++)
		for (m = lists[l]; m->name; m++)
			if (!strcmp(m->name, k))
				return true;
	return false;
}

/* The member of dict QEMU reports as unexpected (*out; n when none): the
 * table filled in QDict order, the known keys removed in visit order (the
 * names, then the lists' members). */
static int first_unknown(const struct qimg_value *dict,
			 const struct member *const *lists, size_t nlists,
			 const char *const *names, size_t *out)
{
	size_t n = qimg_value_count(dict), *idx, i, l;
	struct qimg_ghash g;
	const struct member *m;
	const char *k;
	int r = 0;

	*out = n;
	idx = calloc(n + 1, sizeof(*idx));
	r = qimg_ghash_init(&g, n);
	if (r == 0 && !idx)
		r = -ENOMEM;
	if (r == 0 && n)
		qimg_dict_qemu_order(dict, idx);
	for (i = 0; r == 0 && i < n; i++) {
		qimg_value_at(dict, idx[i], &k);
		r = qimg_ghash_insert(&g, k, idx[i]);
	}
	/* (each known key present is removed once, in visit order) */
	for (i = 0; r == 0 && names[i]; i++)
		for (l = 0; r == 0 && l < n; l++)
			if (qimg_value_at(dict, l, &k) && !strcmp(k, names[i]))
				r = qimg_ghash_remove(&g, k, l);
	for (l = 0; r == 0 && l < nlists; l++)
		for (m = lists[l]; r == 0 && m->name; m++)
			for (i = 0; r == 0 && i < n; i++)
				if (qimg_value_at(dict, i, &k) &&
				    !strcmp(k, m->name))
					r = qimg_ghash_remove(&g, k, i);
	if (r == 0)
		*out = qimg_ghash_first(&g, n);
	qimg_ghash_free(&g);
	free(idx);
	return r;
}

/* "Parameter 'K' is unexpected" for a member of dict that neither the
 * member lists nor the NULL-ended names know. */
static int check_unexpected(struct visit *vs, const struct qimg_value *dict,
			    const struct member *const *lists, size_t nlists,
			    const char *const *names, const char *prefix)
{
	size_t i, n = qimg_value_count(dict);
	const char *k;
	bool any = false;

	for (i = 0; i < n && !any; i++) {
		qimg_value_at(dict, i, &k);
		any = !known_key(k, lists, nlists, names);
	}
	if (!any)
		return 0;
	if (first_unknown(dict, lists, nlists, names, &i) < 0 || i == n)
		return oom(vs->err);
	qimg_value_at(dict, i, &k);
	return qimg_error_set(vs->err, EINVAL,
			      "Parameter '%s%s%s' is unexpected", prefix,
			      *prefix ? "." : "", k);
}

/* SocketAddress: its type, that type's members, nothing else. */
static int visit_socket(struct visit *vs, const struct qimg_value *v,
			const char *path)
{
	static const char *const disc[] = { "type", NULL };
	const struct member *branch;
	const struct qimg_value *t;
	char sub[544]; /* path, and more */
	size_t i;
	int r;

	if (qimg_value_type(v) != QIMG_VALUE_DICT)
		return bad_type(vs, path, "object");
	t = qimg_dict_get(v, "type");
	snprintf(sub, sizeof(sub), "%s.type", path);
	if (!t)
		return qimg_error_set(vs->err, EINVAL,
				      "Parameter '%s' is missing", sub);
	r = visit_scalar(vs, t, &socket_type, sub, "type");
	if (r < 0)
		return r;
	for (i = 0; strcmp(socket_types[i], qimg_value_get_str(t)); i++)
		;
	branch = socket_branches[i];
	r = visit_members(vs, v, branch, path);
	return r < 0 ? r : check_unexpected(vs, v, &branch, 1, disc, path);
}

static int visit_list(struct visit *vs, const struct qimg_value *v,
		      const char *path)
{
	static const struct member elem = { "null", K_U16, true, NULL };
	char sub[544]; /* path, and more */
	size_t i;
	int r = 0;

	if (qimg_value_type(v) != QIMG_VALUE_LIST)
		return bad_type(vs, path, "array");
	for (i = 0; r == 0 && i < qimg_value_count(v); i++) {
		snprintf(sub, sizeof(sub), vs->json ? "%s[%zu]" : "%s.%zu",
			 path, i);
		r = visit_scalar(vs, qimg_value_at(v, i, NULL), &elem, sub,
				 "null");
	}
	return r;
}

static int visit_members(struct visit *vs, const struct qimg_value *dict,
			 const struct member *m, const char *prefix)
{
	const struct qimg_value *v;
	char path[512];
	int r = 0;

	for (; r == 0 && m->name; m++) {
		snprintf(path, sizeof(path), "%s%s%s", prefix,
			 *prefix ? "." : "", m->name);
		v = qimg_dict_get(dict, m->name);
		if (!v)
			r = m->req ? qimg_error_set(vs->err, EINVAL,
						    "Parameter '%s' is missing",
						    path)
				   : 0;
		else if (m->kind == K_U16LIST)
			r = visit_list(vs, v, path);
		else if (m->kind == K_SOCKET)
			r = visit_socket(vs, v, path);
		else
			r = visit_scalar(vs, v, m, path, m->name);
	}
	return r;
}

/* ---- the objects qemu-img makes ---------------------------------------- */

QIMG_VECTOR(cpu_list, unsigned int)

struct qimg_object_plain {
	char *id;
	const struct otype *type;
	enum qimg_object_tool tool;
	int fd;			    /* pr-manager-helper's connection */
	char *path;		    /* pr-manager-helper's socket */
	int64_t pool_min, pool_max; /* an event loop's thread pool */
	bool priority;		    /* tls-cipher-suites: priority given */
	bool by_cpu, by_node;	    /* thread-context: which affinity */
	struct cpu_list cpus;	    /* ... and its CPUs */
};

const char *qimg_object_plain_id(const struct qimg_object_plain *o)
{
	return o->id;
}

const char *qimg_object_plain_type(const struct qimg_object_plain *o)
{
	return o->type->name;
}

void qimg_object_plain_free(struct qimg_object_plain *o)
{
	if (!o)
		return;
	if (o->fd >= 0)
		close(o->fd);
	free(o->cpus.v);
	free(o->path);
	free(o->id);
	free(o);
}

static bool is_type(const struct qimg_object_plain *o, const char *name)
{
	return !strcmp(o->type->name, name);
}

static int not_ready(struct qimg_error *err)
{
	return qimg_error_set(err, EINVAL, "qemu aio context not ready");
}

/* The thread pool's limits, as the event loop takes them. */
static int pool_check(const struct qimg_object_plain *o, struct qimg_error *err)
{
	if (o->pool_min > o->pool_max || o->pool_max == 0 ||
	    o->pool_max > INT_MAX)
		return qimg_error_set(err, EINVAL,
				      "bad thread-pool-min/thread-pool-max "
				      "values");
	return 0;
}

/* An event loop's integer property.  qemu-img's main loop runs already and
 * takes the pool's limits at once; qemu-nbd's does not run yet; an
 * iothread takes them when it starts. */
static int set_event_loop(struct qimg_object_plain *o, const char *name,
			  int64_t v, struct qimg_error *err)
{
	if (v < 0)
		return qimg_error_set(err, EINVAL,
				      "%s value must be in range [0, %" PRId64
				      "]",
				      name, INT64_MAX);
	if (!strcmp(name, "thread-pool-min"))
		o->pool_min = v;
	else if (!strcmp(name, "thread-pool-max"))
		o->pool_max = v;
	if (!is_type(o, "main-loop"))
		return 0;
	if (o->tool == QIMG_OBJECT_TOOL_NBD)
		return not_ready(err);
	return strncmp(name, "thread-pool-", 12) ? 0 : pool_check(o, err);
}

/* Node n's CPUs (none when there is no such node). */
static int node_cpus(unsigned int n, struct cpu_list *cpus,
		     struct qimg_error *err)
{
	char path[64];
	unsigned int a, b;
	FILE *fp;
	int c, r = 0;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%u/cpulist",
		 n);
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	while (r == 0 && fscanf(fp, "%u", &a) == 1) {
		b = a;
		c = fgetc(fp);
		if (c == '-' && fscanf(fp, "%u", &b) == 1)
			c = fgetc(fp);
		for (; r == 0 && a <= b && b - a < 65536; a++)
			r = cpu_list_append(cpus, a) < 0 ? oom(err) : 0;
		if (c != ',')
			break;
	}
	fclose(fp);
	return r;
}

static unsigned int list_u16(const struct qimg_value *v, bool json)
{
	uint64_t u = 0;

	if (json)
		return (unsigned int)qimg_value_get_int(v);
	parse_num(qimg_value_get_str(v), true, &u);
	return (unsigned int)u;
}

/* thread-context's two lists: checked as they are set; the CPUs are bound
 * when the object is complete. */
static int set_affinity(struct qimg_object_plain *o, bool node,
			const struct qimg_value *list, bool json,
			struct qimg_error *err)
{
	size_t i, n = qimg_value_count(list);
	unsigned int x;
	int r = 0;

	if (o->by_cpu || o->by_node)
		return qimg_error_set(err, EINVAL,
				      "Mixing CPU and node affinity not "
				      "supported");
	if (!n)
		return qimg_error_set(err, EINVAL, "%s list is empty",
				      node ? "Node" : "CPU");
	for (i = 0; r == 0 && i < n; i++) {
		x = list_u16(qimg_value_at(list, i, NULL), json);
		if (node)
			r = node_cpus(x, &o->cpus, err);
		else if (cpu_list_append(&o->cpus, x) < 0)
			r = oom(err);
	}
	if (r == 0 && node && !o->cpus.len)
		r = qimg_error_set(err, EINVAL, "The nodes select no CPUs");
	o->by_cpu = !node;
	o->by_node = node;
	return r;
}

/* One given property of a type qemu-img has, as its setter takes it. */
static int set_prop(struct qimg_object_plain *o, const char *name,
		    const struct qimg_value *v, bool json,
		    struct qimg_error *err)
{
	uint64_t i = 0;

	if (is_type(o, "main-loop") || is_type(o, "iothread")) {
		if (json)
			i = (uint64_t)qimg_value_get_int(v);
		else
			parse_num(qimg_value_get_str(v), false, &i);
		return set_event_loop(o, name, (int64_t)i, err);
	}
	if (is_type(o, "thread-context"))
		return set_affinity(o, !strcmp(name, "node-affinity"), v, json,
				    err);
	if (is_type(o, "tls-cipher-suites"))
		o->priority |= !strcmp(name, "priority");
	if (is_type(o, "pr-manager-helper") && !strcmp(name, "path")) {
		free(o->path);
		o->path = strdup(qimg_value_get_str(v));
		if (!o->path)
			return oom(err);
	}
	return 0;
}

/* The given properties in the order QEMU sets them: that of a QDict
 * filled in schema order. */
static int set_props(struct qimg_object_plain *o, const struct qimg_value *root,
		     bool json, struct qimg_error *err)
{
	const struct member *lists[2] = { o->type->base, o->type->own }, *m;
	struct qimg_value *d = qimg_value_dict();
	size_t n, *idx = NULL, i, l;
	const char *k;
	int r = d ? 0 : -ENOMEM;

	for (l = 0; r == 0 && l < 2; l++)
		for (m = lists[l]; r == 0 && m->name; m++)
			if (qimg_dict_get(root, m->name))
				r = qimg_dict_put_int(d, m->name, 0);
	n = qimg_value_count(d);
	if (r == 0 && n && !(idx = calloc(n, sizeof(*idx))))
		r = -ENOMEM;
	if (r < 0) {
		qimg_value_free(d);
		return oom(err);
	}
	if (n)
		qimg_dict_qemu_order(d, idx);
	for (i = 0; r == 0 && i < n; i++) {
		qimg_value_at(d, idx[i], &k);
		r = set_prop(o, k, qimg_dict_get(root, k), json, err);
	}
	free(idx);
	qimg_value_free(d);
	return r;
}

struct bind_job {
	cpu_set_t *set;
	size_t size;
	int e;
};

static void *bind_thread(void *arg)
{
	struct bind_job *j = arg;

	j->e = sched_setaffinity(0, j->size, j->set) < 0 ? errno : 0;
	return NULL;
}

/* The CPUs bound to a thread of its own, as thread-context does: the
 * kernel's verdict is the error. */
static int bind_cpus(const struct cpu_list *cpus, struct qimg_error *err)
{
	struct bind_job j = { 0 };
	unsigned int max = 0;
	pthread_t th;
	size_t i;
	int e;

	for (i = 0; i < cpus->len; i++)
		max = cpus->v[i] > max ? cpus->v[i] : max;
	j.set = CPU_ALLOC(max + 1);
	if (!j.set)
		return oom(err);
	j.size = CPU_ALLOC_SIZE(max + 1);
	CPU_ZERO_S(j.size, j.set);
	for (i = 0; i < cpus->len; i++)
		CPU_SET_S(cpus->v[i], j.size, j.set);
	e = pthread_create(&th, NULL, bind_thread, &j);
	if (e == 0)
		pthread_join(th, NULL);
	else
		j.e = e;
	CPU_FREE(j.set);
	if (j.e)
		return qimg_error_set(err, j.e,
				      "Setting CPU affinity failed: %s",
				      strerror(j.e));
	return 0;
}

/* How long the helper has to greet: qemu-img waits for ever on a socket
 * that never speaks (a hang; DIFFERENCES.md). */
#define PR_GREET_SECONDS 5

/* qemu-pr-helper's greeting: it sends 4 bytes of flags, the client
 * answers with its own (none). */
static int pr_greet(int fd, const char *path, struct qimg_error *err)
{
	struct timeval tv = { .tv_sec = PR_GREET_SECONDS };
	uint8_t buf[4];
	size_t got = 0;
	ssize_t n;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got < sizeof(buf)) {
		n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return qimg_error_set(err, ETIMEDOUT,
					      "No greeting from '%s' in %d "
					      "seconds: not a qemu-pr-helper "
					      "socket?",
					      path, PR_GREET_SECONDS);
		if (n < 0)
			return qimg_error_set(err, errno,
					      "Unable to read from socket: %s",
					      strerror(errno));
		if (n == 0)
			return qimg_error_set(err, EIO,
					      "Unexpected end-of-file before "
					      "all data were read");
		got += (size_t)n;
	}
	memset(buf, 0, sizeof(buf));
	for (got = 0; got < sizeof(buf); got += (size_t)n) {
		n = send(fd, buf + got, sizeof(buf) - got, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			n = 0;
		else if (n < 0)
			return qimg_error_set(err, errno,
					      "Unable to write to socket: %s",
					      strerror(errno));
	}
	return 0;
}

/* pr-manager-helper: the helper's socket connected to (the whole
 * sockaddr_un, as QEMU passes it: an empty path names an abstract socket
 * nobody has). */
static int pr_connect(struct qimg_object_plain *o, struct qimg_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(o->path);
	int e;

	if (len > sizeof(sa.sun_path))
		return qimg_error_set(err, ENAMETOOLONG,
				      "UNIX socket path '%s' is too long\n"
				      "Path must be less than %zu bytes",
				      o->path, sizeof(sa.sun_path));
	memcpy(sa.sun_path, o->path, len);
	o->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (o->fd < 0)
		return qimg_error_set(err, errno, "Failed to create socket: %s",
				      strerror(errno));
	if (connect(o->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		return qimg_error_set(err, e, "Failed to connect to '%s': %s",
				      o->path, strerror(e));
	}
	return pr_greet(o->fd, o->path, err);
}

int qimg_object_plain_complete(struct qimg_object_plain *o, bool main_loop,
			       struct qimg_error *err)
{
	if (is_type(o, "main-loop")) {
		if (o->tool == QIMG_OBJECT_TOOL_NBD)
			return not_ready(err);
		if (main_loop)
			return qimg_error_set(err, EINVAL,
					      "only one main-loop instance "
					      "allowed");
	}
	if (is_type(o, "iothread"))
		return pool_check(o, err);
	if (is_type(o, "thread-context") && o->cpus.len)
		return bind_cpus(&o->cpus, err);
	if (is_type(o, "tls-cipher-suites") && !o->priority)
		return qimg_error_set(err, EINVAL,
				      "'priority' property is not set");
	if (is_type(o, "pr-manager-helper"))
		return pr_connect(o, err);
	return 0;
}

/* ---- definitions ------------------------------------------------------- */

/* A JSON definition naming one of our types (*root); else NOT_OURS. */
static int json_root(const char *def, struct qimg_value **root)
{
	const struct qimg_value *qt;
	const struct otype *ot;
	char msg[256];

	*root = qimg_json_parse(def, msg, sizeof(msg));
	if (!*root)
		return QIMG_OBJECT_NOT_OURS;
	qt = qimg_value_type(*root) == QIMG_VALUE_DICT
		     ? qimg_dict_get(*root, "qom-type")
		     : NULL;
	if (qt && qimg_value_type(qt) == QIMG_VALUE_STR &&
	    (!(ot = find_type(qimg_value_get_str(qt))) ||
	     !(ot->where & ELSEWHERE)))
		return 0;
	qimg_value_free(*root);
	*root = NULL;
	return QIMG_OBJECT_NOT_OURS;
}

/* The help lines of the types of ours that a tool lists. */
struct help {
	const char *name;
	unsigned char tools;
	const char *text;
};

static const struct help helps[] = {
	{ "authz-list-file", IN_IMG | IN_NBD,
	  "  filename=<string>\n  refresh=<bool>\n" },
	{ "iothread", IN_NBD,
	  "  aio-max-batch=<int>\n  poll-grow=<int>\n  poll-max-ns=<int>\n"
	  "  poll-shrink=<int>\n  thread-pool-max=<int>\n"
	  "  thread-pool-min=<int>\n" },
	{ "main-loop", IN_IMG | IN_NBD,
	  "  aio-max-batch=<int>\n  thread-pool-max=<int>\n"
	  "  thread-pool-min=<int>\n" },
	{ "pr-manager-helper", IN_IMG | IN_NBD, "  path=<string>\n" },
	{ "thread-context", IN_IMG | IN_NBD,
	  "  cpu-affinity=<int>\n  node-affinity=<int>\n" },
	{ "tls-cipher-suites", IN_IMG | IN_NBD,
	  "  dir=<string>\n  endpoint=<QCryptoTLSCredsEndpoint>\n"
	  "  priority=<string>\n  verify-peer=<bool>\n" },
};

static const struct help *find_help(const char *name,
				    enum qimg_object_tool tool)
{
	size_t i;

	for (i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if (!strcmp(helps[i].name, name) &&
		    (helps[i].tools & tool_bit(tool)))
			return &helps[i];
	return NULL;
}

/* "help": the type's properties when it is one of ours, the list
 * otherwise; the secrets' help is object.c's. */
static int help_answer(const struct qimg_value *qt, enum qimg_object_tool tool)
{
	const char *t;

	if (!qt || qimg_value_type(qt) != QIMG_VALUE_STR)
		return QIMG_OBJECT_HELP_TYPES;
	t = qimg_value_get_str(qt);
	if (!strcmp(t, "secret") || !strcmp(t, "secret_keyring"))
		return QIMG_OBJECT_NOT_OURS;
	return find_help(t, tool) ? QIMG_OBJECT_HELP_PROPS
				  : QIMG_OBJECT_HELP_TYPES;
}

/* The visit of ObjectOptions: qom-type, id, the type's members, nothing
 * else; *ot is the type (NULL and NOT_OURS: one object.c parses). */
static int visit_object(struct visit *vs, const struct qimg_value *root,
			const struct otype **ot)
{
	static const char *const top[] = { "qom-type", "id", NULL };
	const struct qimg_value *qt = qimg_dict_get(root, "qom-type");
	const struct qimg_value *id = qimg_dict_get(root, "id");
	const struct member *lists[2];
	int r;

	*ot = NULL;
	if (!qt)
		return qimg_error_set(vs->err, EINVAL,
				      "Parameter 'qom-type' is missing");
	if (!kv_text(vs, qt, "qom-type"))
		return -EINVAL;
	*ot = find_type(qimg_value_get_str(qt));
	if (!*ot)
		return qimg_error_set(vs->err, EINVAL,
				      "Parameter 'qom-type' does not accept "
				      "value '%s'",
				      qimg_value_get_str(qt));
	if ((*ot)->where & ELSEWHERE) {
		*ot = NULL;
		return QIMG_OBJECT_NOT_OURS;
	}
	if (!id)
		return qimg_error_set(vs->err, EINVAL,
				      "Parameter 'id' is missing");
	if (vs->json && qimg_value_type(id) != QIMG_VALUE_STR)
		return bad_type(vs, "id", "string");
	if (!kv_text(vs, id, "id"))
		return -EINVAL;
	lists[0] = (*ot)->base;
	lists[1] = (*ot)->own;
	r = visit_members(vs, root, lists[0], "");
	if (r == 0)
		r = visit_members(vs, root, lists[1], "");
	return r < 0 ? r : check_unexpected(vs, root, lists, 2, top, "");
}

/* A checked definition of a type the tool has, made and its properties
 * set. */
static int make(const struct otype *ot, const struct qimg_value *root,
		bool json, enum qimg_object_tool tool,
		struct qimg_object_plain **out, struct qimg_error *err)
{
	struct qimg_object_plain *o = calloc(1, sizeof(*o));
	int r;

	if (!o)
		return oom(err);
	o->type = ot;
	o->tool = tool;
	o->fd = -1;
	o->pool_max = 64;
	o->id = strdup(qimg_value_get_str(qimg_dict_get(root, "id")));
	r = o->id ? set_props(o, root, json, err) : oom(err);
	if (r < 0) {
		qimg_object_plain_free(o);
		return r;
	}
	*out = o;
	return 0;
}

int qimg_object_type_parse(const char *def, enum qimg_object_tool tool,
			   struct qimg_object_plain **out,
			   struct qimg_error *err)
{
	struct visit vs = { .json = def[0] == '{', .err = err };
	struct qimg_value *root = NULL;
	const struct otype *ot = NULL;
	bool help = false;
	int r;

	*out = NULL;
	r = vs.json ? json_root(def, &root) : kv_parse(def, &root, &help, err);
	if (r != 0)
		return r;
	if (help)
		r = help_answer(qimg_dict_get(root, "qom-type"), tool);
	else
		r = visit_object(&vs, root, &ot);
	if (r == 0 && !qimg_kv_is_identifier(
			      qimg_value_get_str(qimg_dict_get(root, "id"))))
		r = qimg_kv_bad_identifier(err);
	else if (r == 0 && !(ot->where & tool_bit(tool)))
		r = qimg_error_set(err, EINVAL, "invalid object type: %s",
				   ot->name);
	if (r == 0)
		r = make(ot, root, vs.json, tool, out, err);
	qimg_value_free(root);
	return r;
}

void qimg_object_types_print_list(enum qimg_object_tool tool)
{
	static const char *const img[] = {
		"authz-list",	     "authz-list-file",	  "authz-simple",
		"main-loop",	     "pr-manager-helper", "secret",
		"secret_keyring",    "thread-context",	  "throttle-group",
		"tls-cipher-suites", "tls-creds-anon",	  "tls-creds-psk",
		"tls-creds-x509",
	};
	size_t i;

	printf("List of user creatable objects:\n");
	for (i = 0; i < sizeof(img) / sizeof(img[0]); i++) {
		/* qemu-nbd has iothread too, in its alphabetical place */
		if (tool == QIMG_OBJECT_TOOL_NBD &&
		    !strcmp(img[i], "main-loop"))
			printf("  iothread\n");
		printf("  %s\n", img[i]);
	}
}

bool qimg_object_type_print_help(const char *def, enum qimg_object_tool tool)
{
	struct qimg_value *root = NULL;
	const struct qimg_value *qt;
	const struct help *h = NULL;
	bool help;

	if (kv_parse(def, &root, &help, NULL) < 0)
		return false;
	qt = qimg_dict_get(root, "qom-type");
	if (qt && qimg_value_type(qt) == QIMG_VALUE_STR)
		h = find_help(qimg_value_get_str(qt), tool);
	if (h)
		printf("%s options:\n%s", h->name, h->text);
	qimg_value_free(root);
	return h != NULL;
}
