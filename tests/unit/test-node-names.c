/* SPDX-License-Identifier: MIT */
/* Unit tests of the set of node and device names (lib/core/node-names.c)
 * and of its use by opens: a name two open nodes would share is refused,
 * a node's name is free again once it closes (or its open failed), a
 * device name and a node name may not be alike, a reopen keeps the names
 * of the nodes it replaces. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "qimg/commit.h"
#include "qimg/create.h"
#include "qimg/image.h"
#include "qimg/node-names.h"
#include "qimg/value.h"

static char dir[] = "/tmp/qimg-test-names-XXXXXX";

/* err emptied: the first message set is the one an error keeps */
static struct qimg_error *fresh(struct qimg_error *err)
{
	qimg_error_clear(err);
	return err;
}

static void test_claims(void **state)
{
	struct qimg_node_names *s = qimg_node_names_new();
	struct qimg_error err = { 0 };
	int a, b;

	(void)state;
	assert_non_null(s);
	assert_int_equal(qimg_node_names_claim(s, "n", &a, fresh(&err)), 0);
	assert_int_equal(qimg_node_names_claim(s, "n", &b, fresh(&err)),
			 -EEXIST);
	assert_string_equal(err.msg, "Duplicate nodes with node-name='n'");
	/* only the holder gives it back */
	qimg_node_names_release(s, "n", &b);
	assert_int_equal(qimg_node_names_claim(s, "n", &b, fresh(&err)),
			 -EEXIST);
	qimg_node_names_release(s, "n", &a);
	assert_int_equal(qimg_node_names_claim(s, "n", &b, fresh(&err)), 0);
	/* a reopen's node takes the name over; the old holder's release
	 * then leaves it */
	assert_int_equal(qimg_node_names_take_over(s, "n", &a), 0);
	qimg_node_names_release(s, "n", &b);
	assert_int_equal(qimg_node_names_claim(s, "n", &b, fresh(&err)),
			 -EEXIST);
	/* a name that fits, then one that does not; a duplicate is named
	 * before the length */
	assert_int_equal(
		qimg_node_names_claim(s, "a234567890123456789012345678901", &a,
				      fresh(&err)),
		0);
	assert_int_equal(
		qimg_node_names_claim(s, "a2345678901234567890123456789012", &a,
				      fresh(&err)),
		-EINVAL);
	assert_string_equal(err.msg, "Node name too long");
	/* device names against node names, both ways */
	assert_int_equal(qimg_node_names_add_device(s, "n", fresh(&err)),
			 -EEXIST);
	assert_string_equal(err.msg,
			    "Device name 'n' conflicts with an existing node "
			    "name");
	assert_int_equal(qimg_node_names_add_device(s, "d", fresh(&err)), 0);
	assert_int_equal(qimg_node_names_claim(s, "d", &a, fresh(&err)),
			 -EEXIST);
	assert_string_equal(err.msg,
			    "node-name=d is conflicting with a device id");
	/* a device's name is no node's: no release takes it */
	qimg_node_names_release(s, "d", NULL);
	assert_int_equal(qimg_node_names_claim(s, "d", &a, fresh(&err)),
			 -EEXIST);
	/* the set lives while a reference does */
	assert_ptr_equal(qimg_node_names_ref(s), s);
	qimg_node_names_unref(s);
	assert_int_equal(qimg_node_names_claim(s, "e", &a, fresh(&err)), 0);
	qimg_node_names_unref(s);
	qimg_node_names_unref(NULL);
}

static void make(const char *name, const char *fmt, const char *backing)
{
	struct qimg_opts o = { 0 };
	struct qimg_error err = { 0 };
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(qimg_opts_set(&o, "size", "1M"), 0);
	if (backing) {
		assert_int_equal(qimg_opts_set(&o, "backing_file", backing), 0);
		assert_int_equal(qimg_opts_set(&o, "backing_fmt", "qcow2"), 0);
	}
	assert_int_equal(qimg_create(p, fmt, &o, &err), 0);
	qimg_opts_free(&o);
}

/* Open `name` with options text, in set s (NULL: its own). */
static int open_named(struct qimg_node_names *s, const char *text,
		      unsigned int flags, struct qimg_node **n,
		      struct qimg_error *err)
{
	struct qimg_value *o = NULL;
	struct qimg_open_args a = { .names = s, .flags = flags };
	int r;

	assert_int_equal(qimg_options_parse(text, &o, err), 0);
	a.options = o;
	r = qimg_open(&a, n, err);
	qimg_value_free(o);
	return r;
}

static void test_opens(void **state)
{
	struct qimg_node_names *s = qimg_node_names_new();
	struct qimg_error err = { 0 };
	struct qimg_node *x = NULL, *y = NULL;
	char a[512], b[512], t[512];
	int owner;

	(void)state;
	make("a.qcow2", "qcow2", NULL);
	make("b.qcow2", "qcow2", NULL);
	make("t.qcow2", "qcow2", "a.qcow2");
	snprintf(a, sizeof(a),
		 "driver=qcow2,node-name=n,file.filename=%s/a.qcow2", dir);
	snprintf(b, sizeof(b),
		 "driver=qcow2,node-name=n,file.filename=%s/b.qcow2", dir);
	/* a node and its own file */
	snprintf(t, sizeof(t),
		 "driver=qcow2,node-name=n,file.filename=%s/a.qcow2,"
		 "file.node-name=n",
		 dir);
	assert_int_equal(open_named(NULL, t, 0, &x, fresh(&err)), -EEXIST);
	assert_null(x);
	assert_string_equal(err.msg, "Duplicate nodes with node-name='n'");
	/* two images of one set; apart in two sets */
	assert_int_equal(open_named(s, a, 0, &x, fresh(&err)), 0);
	assert_int_equal(open_named(s, b, 0, &y, fresh(&err)), -EEXIST);
	assert_null(y);
	assert_int_equal(open_named(NULL, b, 0, &y, fresh(&err)), 0);
	qimg_close(y);
	/* free once the holder closed */
	qimg_close(x);
	assert_int_equal(open_named(s, b, 0, &y, fresh(&err)), 0);
	qimg_close(y);
	/* a failed open gives its names back (the file's too) */
	snprintf(
		t, sizeof(t),
		"driver=qcow2,node-name=n,discard=bad,file.filename=%s/a.qcow2,"
		"file.node-name=f",
		dir);
	assert_int_equal(open_named(s, t, 0, &x, fresh(&err)), -EINVAL);
	assert_int_equal(qimg_node_names_claim(s, "f", &owner, fresh(&err)), 0);
	qimg_node_names_release(s, "f", &owner);
	/* a reopen (commit's) keeps the names of the nodes it replaces */
	snprintf(t, sizeof(t),
		 "driver=qcow2,node-name=top,file.filename=%s/t.qcow2,"
		 "backing.node-name=bk,backing.file.node-name=bkf",
		 dir);
	assert_int_equal(open_named(s, t, QIMG_OPEN_RDWR, &x, fresh(&err)), 0);
	assert_int_equal(qimg_reopen_backing_rw(x, &err), 0);
	assert_int_equal(qimg_node_names_claim(s, "bk", &owner, fresh(&err)),
			 -EEXIST);
	assert_int_equal(qimg_node_names_claim(s, "bkf", &owner, fresh(&err)),
			 -EEXIST);
	qimg_close(x);
	assert_int_equal(qimg_node_names_claim(s, "bk", &owner, fresh(&err)),
			 0);
	assert_int_equal(qimg_node_names_claim(s, "top", &owner, fresh(&err)),
			 0);
	qimg_node_names_unref(s);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_opens),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
