/* SPDX-License-Identifier: MIT */
/* quorum: a node over N children (children.0, children.1, ...) that writes
 * to all of them and reads what at least vote-threshold of them agree on
 * (read-pattern=quorum), or from the first that answers (fifo).  Opened
 * only by driver=quorum; it has no file of its own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/driver.h"
#include "protocols/quorum.h"

#define QUORUM_MAX_CHILDREN 32

struct quorum_state {
	struct qimg_node *child[QUORUM_MAX_CHILDREN];
	int n;
	int threshold;
	bool fifo;
};

static const char *const quorum_children[] = { "children.", NULL };
static const char *const quorum_strong_opts[] = { "vote-threshold", NULL };

static const struct qimg_opt_desc quorum_runtime_opts[] = {
	{ "vote-threshold", QIMG_OPT_NUMBER, NULL, NULL },
	{ "blkverify", QIMG_OPT_BOOL, NULL, NULL },
	{ "rewrite-corrupted", QIMG_OPT_BOOL, NULL, NULL },
	{ "read-pattern", QIMG_OPT_STRING, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

static int quorum_open(struct qimg_node *node, const struct qimg_opts *o,
		       struct qimg_error *err)
{
	struct quorum_state *s = node->opaque;
	const char *pattern = qimg_opts_get_str(o, "read-pattern", "quorum");
	struct qimg_value *kids = qimg_dict_get(node->options, "children");
	char role[32];
	int i, r, n;

	/* children given as a list (json) or as children.N subtrees. */
	if (kids && qimg_value_type(kids) == QIMG_VALUE_LIST) {
		struct qimg_value *list =
			qimg_dict_take(node->options, "children");

		for (i = 0; i < (int)qimg_value_count(list); i++) {
			snprintf(role, sizeof(role), "children.%d", i);
			if (qimg_dict_put(node->options, role,
					  qimg_value_copy(qimg_value_at(
						  list, (size_t)i, NULL))) <
			    0) {
				qimg_value_free(list);
				return qimg_error_set(err, ENOMEM,
						      "Out of memory");
			}
		}
		qimg_value_free(list);
	} else if (kids && qimg_value_type(kids) == QIMG_VALUE_DICT) {
		struct qimg_value *d =
			qimg_dict_take(node->options, "children");
		const char *k;

		for (i = 0; i < (int)qimg_value_count(d); i++) {
			struct qimg_value *v = qimg_value_at(d, (size_t)i, &k);

			snprintf(role, sizeof(role), "children.%s", k);
			if (qimg_dict_put(node->options, role,
					  qimg_value_copy(v)) < 0) {
				qimg_value_free(d);
				return qimg_error_set(err, ENOMEM,
						      "Out of memory");
			}
		}
		qimg_value_free(d);
	}
	/* As QEMU: the children are counted first, then the options are
	 * checked, then the children opened. */
	for (n = 0; n < QUORUM_MAX_CHILDREN; n++) {
		snprintf(role, sizeof(role), "children.%d", n);
		if (!qimg_dict_get(node->options, role))
			break;
	}
	if (n < 1)
		return qimg_error_set(err, EINVAL,
				      "Number of provided children must be 1 "
				      "or more");
	if (!qimg_opts_has(o, "vote-threshold") ||
	    qimg_opts_get_u64(o, "vote-threshold", 0) < 1)
		return qimg_error_set(err, EINVAL,
				      "Parameter 'vote-threshold' expects a "
				      "value >= 1");
	if (strcmp(pattern, "quorum") && strcmp(pattern, "fifo"))
		return qimg_error_set(err, EINVAL,
				      "Parameter 'read-pattern' does not "
				      "accept value '%s'",
				      pattern);
	s->fifo = !strcmp(pattern, "fifo");
	if (qimg_opts_get_bool(o, "blkverify", false))
		return qimg_error_set(err, ENOTSUP,
				      "blkverify mode is not supported yet");
	s->threshold = (int)qimg_opts_get_u64(o, "vote-threshold", 1);
	if (s->threshold > n)
		return qimg_error_set(err, EINVAL,
				      "threshold may not exceed children "
				      "count");
	for (s->n = 0; s->n < n; s->n++) {
		snprintf(role, sizeof(role), "children.%d", s->n);
		r = qimg_open_child(node, role, NULL, 0, 0, &s->child[s->n],
				    err);
		if (r < 0)
			return r;
	}
	node->size = s->child[0]->size;
	for (i = 1; i < s->n; i++)
		if (s->child[i]->size < node->size)
			node->size = s->child[i]->size;
	node->zero_init = false;
	return 0;
}

static void quorum_close(struct qimg_node *node)
{
}

static int quorum_read(struct qimg_node *node, uint64_t off, void *buf,
		       size_t len, struct qimg_error *err)
{
	struct quorum_state *s = node->opaque;
	uint8_t *bufs[QUORUM_MAX_CHILDREN] = { 0 };
	bool ok[QUORUM_MAX_CHILDREN] = { 0 };
	int i, j, best = -1, best_votes = 0, r = 0;

	if (s->fifo) {
		for (i = 0; i < s->n; i++) {
			qimg_error_clear(err);
			r = qimg_pread(s->child[i], off, buf, len, err);
			if (r == 0)
				return 0;
		}
		return r;
	}
	for (i = 0; i < s->n; i++) {
		struct qimg_error e = { 0 };

		bufs[i] = malloc(len ? len : 1);
		if (!bufs[i]) {
			r = qimg_error_set(err, ENOMEM, "Out of memory");
			goto out;
		}
		ok[i] = qimg_pread(s->child[i], off, bufs[i], len, &e) == 0;
	}
	/* The version most children agree on, if enough do. */
	for (i = 0; i < s->n; i++) {
		int votes = 0;

		if (!ok[i])
			continue;
		for (j = 0; j < s->n; j++)
			if (ok[j] && !memcmp(bufs[i], bufs[j], len))
				votes++;
		if (votes > best_votes) {
			best_votes = votes;
			best = i;
		}
	}
	if (best < 0 || best_votes < s->threshold) {
		r = qimg_error_set(err, EIO, "%s", strerror(EIO));
		goto out;
	}
	memcpy(buf, bufs[best], len);
out:
	for (i = 0; i < s->n; i++)
		free(bufs[i]);
	return r;
}

/* Run op on every child; success when at least vote-threshold succeed. */
#define FOR_ALL(call)                                                          \
	do {                                                                   \
		int i_, good_ = 0, last_ = 0;                                  \
		for (i_ = 0; i_ < s->n; i_++) {                                \
			struct qimg_error e_ = { 0 };                          \
			struct qimg_node *c_ = s->child[i_];                   \
			int r_ = (call);                                       \
			if (r_ == 0)                                           \
				good_++;                                       \
			else {                                                 \
				last_ = r_;                                    \
				if (!qimg_error_isset(err))                    \
					*err = e_;                             \
			}                                                      \
		}                                                              \
		if (good_ >= s->threshold) {                                   \
			qimg_error_clear(err);                                 \
			return 0;                                              \
		}                                                              \
		return last_ ? last_ : -EIO;                                   \
	} while (0)

static int quorum_write(struct qimg_node *node, uint64_t off, const void *buf,
			size_t len, struct qimg_error *err)
{
	struct quorum_state *s = node->opaque;

	FOR_ALL(qimg_pwrite(c_, off, buf, len, &e_));
}

static int quorum_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
			 unsigned int flags, struct qimg_error *err)
{
	struct quorum_state *s = node->opaque;

	FOR_ALL(qimg_write_zeroes(c_, off, len, flags, &e_));
}

static int quorum_discard(struct qimg_node *node, uint64_t off, uint64_t len,
			  struct qimg_error *err)
{
	struct quorum_state *s = node->opaque;

	FOR_ALL(qimg_discard(c_, off, len, &e_));
}

static int quorum_flush(struct qimg_node *node, struct qimg_error *err)
{
	/* The core flushes every child after this. */
	return 0;
}

/* Zeros where every child reads as zeros, else data; no host offset (the
 * data lives in several places), as qemu-img map shows it. */
static int quorum_block_status(struct qimg_node *node, uint64_t off,
			       uint64_t len, struct qimg_extent *ext,
			       struct qimg_error *err)
{
	struct quorum_state *s = node->opaque;
	bool zero = true;
	int i, r;

	ext->len = len;
	for (i = 0; i < s->n; i++) {
		struct qimg_extent ce;

		r = qimg_block_status_above(s->child[i], NULL, off, ext->len,
					    &ce, err);
		if (r < 0)
			return r;
		if (ce.len < ext->len)
			ext->len = ce.len;
		if (!(ce.flags & QIMG_BS_ZERO))
			zero = false;
	}
	ext->flags = zero ? QIMG_BS_ZERO : QIMG_BS_DATA;
	ext->file = NULL;
	return 0;
}

static int64_t quorum_allocated_size(struct qimg_node *node)
{
	struct quorum_state *s = node->opaque;
	int64_t sum = 0, n;
	int i;

	for (i = 0; i < s->n; i++) {
		n = qimg_allocated_size(s->child[i]);
		if (n < 0)
			return n;
		sum += n;
	}
	return sum;
}

static int64_t quorum_length(struct qimg_node *node)
{
	return (int64_t)node->size;
}

const struct qimg_driver qimg_driver_quorum = {
	.name = "quorum",
	.kind = QIMG_DRIVER_PROTOCOL,
	.threads = QIMG_THREADS_PARALLEL,
	.state_size = sizeof(struct quorum_state),
	.runtime_opts = quorum_runtime_opts,
	.strong_opts = quorum_strong_opts,
	.child_roles = quorum_children,
	.open = quorum_open,
	.close = quorum_close,
	.read = quorum_read,
	.write = quorum_write,
	.write_zeroes = quorum_zeroes,
	.discard = quorum_discard,
	.flush = quorum_flush,
	.block_status = quorum_block_status,
	.length = quorum_length,
	.allocated_size = quorum_allocated_size,
};
