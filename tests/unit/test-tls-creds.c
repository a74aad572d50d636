/* SPDX-License-Identifier: MIT */
/* Unit tests for TLS credential definitions (lib/util/tls-creds.c) and
 * their place in the --object table (lib/util/object.c): defaults, ",,"
 * in a value, the checks in their order, the files an endpoint needs, a
 * PSK client's user, ids shared with secrets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "qimg/object.h"
#include "util/tls-creds.h"

static char dir[] = "/tmp/qimg-tls-XXXXXX";
static char comma[4096]; /* a directory whose name holds a comma */

static void put(const char *d, const char *name, const char *text)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", d, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(comma, sizeof(comma), "%s/a,b", dir);
	if (mkdir(comma, 0700) < 0)
		return -1;
	put(dir, "ca-cert.pem", "x\n");
	put(dir, "keys.psk", "alice:00ff\nqemu:1234\n");
	put(comma, "ca-cert.pem", "x\n");
	put(comma, "keys.psk", "bob:00ff\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[4200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* parse def; on failure the message must be want */
static struct qimg_tls_creds *parse(const char *def, const char *want)
{
	struct qimg_error err = { 0 };
	struct qimg_tls_creds *c = NULL;
	int r = qimg_tls_creds_parse(def, &c, &err);

	if (want) {
		assert_true(r < 0);
		assert_null(c);
		assert_string_equal(err.msg, want);
		return NULL;
	}
	if (r < 0)
		fail_msg("%s: %s", def, err.msg);
	assert_non_null(c);
	return c;
}

static void test_defaults(void **state)
{
	char def[8192], msg[8192];
	struct qimg_error err = { 0 };
	struct qimg_tls_creds *c;

	(void)state;
	snprintf(def, sizeof(def), "tls-creds-x509,id=t,dir=%s", dir);
	assert_int_equal(qimg_tls_creds_parse_props(def, &c, &err), 0);
	assert_string_equal(c->id, "t");
	assert_string_equal(c->dir, dir);
	assert_false(c->psk);
	assert_false(c->server);
	assert_true(c->verify_peer);
	assert_true(c->sanity_check);
	assert_null(c->priority);
	assert_null(c->username);
	qimg_tls_creds_free(c);
	/* the sanity check reads the certificates: "x" is none */
	snprintf(msg, sizeof(msg),
		 "Unable to import CA certificate list %s/ca-cert.pem", dir);
	parse(def, msg);
	snprintf(def, sizeof(def),
		 "tls-creds-x509,id=t,dir=%s,sanity-check=off", dir);
	c = parse(def, NULL);
	assert_false(c->sanity_check);
	qimg_tls_creds_free(c);

	/* a PSK client is "qemu" unless it says otherwise */
	snprintf(def, sizeof(def),
		 "qom-type=tls-creds-psk,id=p,dir=%s,verify-peer=off,"
		 "priority=NORMAL:-VERS-TLS1.3",
		 dir);
	c = parse(def, NULL);
	assert_true(c->psk);
	assert_false(c->verify_peer);
	assert_string_equal(c->username, "qemu");
	assert_string_equal(c->priority, "NORMAL:-VERS-TLS1.3");
	qimg_tls_creds_free(c);
}

static void test_comma_in_dir(void **state)
{
	char def[16640], esc[8192];
	const char *s;
	char *o = esc;
	struct qimg_tls_creds *c;

	(void)state;
	for (s = comma; *s; s++) {
		if (*s == ',')
			*o++ = ',';
		*o++ = *s;
	}
	*o = 0;
	snprintf(def, sizeof(def), "tls-creds-psk,id=p,dir=%s,username=bob",
		 esc);
	c = parse(def, NULL);
	assert_string_equal(c->dir, comma);
	assert_string_equal(c->username, "bob");
	qimg_tls_creds_free(c);
}

static void test_refused(void **state)
{
	char def[8192], want[8192];

	(void)state;
	parse("tls-creds-x509,id=t,foo", "Expected '=' after parameter 'foo'");
	parse("tls-creds-x509,foo=1", "Parameter 'id' is missing");
	parse("tls-creds-x509,id=t,endpoint=both,foo=1",
	      "Parameter 'endpoint' does not accept value 'both'");
	parse("tls-creds-x509,id=t,verify-peer=maybe",
	      "Parameter 'verify-peer' expects 'on' or 'off'");
	parse("tls-creds-x509,id=t,username=a",
	      "Parameter 'username' is unexpected");
	parse("tls-creds-psk,id=t,sanity-check=on",
	      "Parameter 'sanity-check' is unexpected");
	parse("tls-creds-psk,id=t", "Missing 'dir' property value");
	snprintf(def, sizeof(def), "tls-creds-x509,id=t,dir=%s,endpoint=server",
		 dir);
	snprintf(want, sizeof(want),
		 "Unable to access credentials %s/server-cert.pem: No such "
		 "file or directory",
		 dir);
	parse(def, want);
	snprintf(def, sizeof(def), "tls-creds-psk,id=t,dir=%s,username=carol",
		 dir);
	snprintf(want, sizeof(want),
		 "Username carol not found in PSK file %s/keys.psk", dir);
	parse(def, want);
	snprintf(def, sizeof(def),
		 "tls-creds-psk,id=t,dir=%s,endpoint=server,username=alice",
		 dir);
	parse(def, "username should not be set when endpoint=server");
	/* "al" is no user, though "alice" begins with it */
	snprintf(def, sizeof(def), "tls-creds-psk,id=t,dir=%s,username=al",
		 dir);
	snprintf(want, sizeof(want),
		 "Username al not found in PSK file %s/keys.psk", dir);
	parse(def, want);
}

static void test_table(void **state)
{
	struct qimg_objects *t = qimg_objects_new();
	struct qimg_error err = { 0 };
	char def[8192];

	(void)state;
	assert_non_null(t);
	snprintf(def, sizeof(def),
		 "tls-creds-x509,id=c,dir=%s,sanity-check=off", dir);
	assert_int_equal(qimg_objects_add(t, def, &err), 0);
	assert_int_equal(qimg_objects_add(t, "secret,id=s,data=x", &err), 0);
	assert_non_null(qimg_objects_tls(t, "c", &err));
	assert_int_equal(err.errnum, 0);
	assert_null(qimg_objects_tls(t, "s", &err));
	assert_string_equal(err.msg,
			    "Object with id 's' is not TLS credentials");
	memset(&err, 0, sizeof(err));
	assert_null(qimg_objects_tls(t, "z", &err));
	assert_string_equal(err.msg, "No TLS credentials with id 'z'");
	memset(&err, 0, sizeof(err));
	assert_true(qimg_objects_add(t, "secret,id=c,data=y", &err) < 0);
	assert_string_equal(err.msg, "attempt to add duplicate property 'c' "
				     "to object (type 'container')");
	memset(&err, 0, sizeof(err));
	snprintf(def, sizeof(def), "tls-creds-psk,id=s,dir=%s", dir);
	assert_true(qimg_objects_add(t, def, &err) < 0);
	assert_string_equal(err.msg, "attempt to add duplicate property 's' "
				     "to object (type 'container')");
	assert_int_equal(qimg_objects_add(t, "tls-creds-psk,help", &err),
			 QIMG_OBJECT_HELP_PROPS);
	qimg_objects_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_comma_in_dir),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
