/* SPDX-License-Identifier: MIT */
/* Unit tests for authorization objects (lib/util/authz.c) and their place
 * in the --object table (lib/util/object.c): who authz-simple and
 * authz-list let in (exact and glob rules, the first match, the default
 * policy), ",," in an identity, the checks in qemu-img's order, ids shared
 * with other objects, and the lookup qimg-nbd's --tls-authz makes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qimg/object.h"
#include "util/authz.h"

static struct qimg_authz *parse(const char *def)
{
	struct qimg_error err = { 0 };
	struct qimg_authz *a = NULL;

	assert_int_equal(qimg_authz_parse(def, &a, &err), 0);
	assert_non_null(a);
	return a;
}

/* def is refused with exactly msg. */
static void refused(const char *def, const char *msg)
{
	struct qimg_error err = { 0 };
	struct qimg_authz *a = NULL;

	assert_true(qimg_authz_parse(def, &a, &err) < 0);
	assert_null(a);
	assert_string_equal(err.msg, msg);
}

static void test_simple(void **state)
{
	struct qimg_authz *a = parse("authz-simple,id=a,identity=O=x,,CN=y");

	(void)state;
	assert_string_equal(a->id, "a");
	assert_true(qimg_authz_allows(a, "O=x,CN=y"));
	assert_false(qimg_authz_allows(a, "O=x,CN=y "));
	assert_false(qimg_authz_allows(a, "CN=y,O=x"));
	qimg_authz_free(a);
}

static void test_list(void **state)
{
	struct qimg_authz *a;

	(void)state;
	/* no rules: deny unless policy=allow */
	a = parse("authz-list,id=a");
	assert_false(qimg_authz_allows(a, "anyone"));
	qimg_authz_free(a);
	a = parse("authz-list,id=a,policy=allow");
	assert_true(qimg_authz_allows(a, "anyone"));
	qimg_authz_free(a);
	/* the first rule that matches decides; exact is the default */
	a = parse("authz-list,id=a,policy=deny,"
		  "rules.0.match=CN=bad*,rules.0.policy=deny,"
		  "rules.0.format=glob,"
		  "rules.1.match=CN=*,rules.1.policy=allow,"
		  "rules.1.format=glob,"
		  "rules.2.match=CN=x*,rules.2.policy=allow");
	assert_int_equal(a->nrules, 3);
	assert_false(qimg_authz_allows(a, "CN=badly"));
	assert_true(qimg_authz_allows(a, "CN=good"));
	assert_false(qimg_authz_allows(a, "O=x"));
	qimg_authz_free(a);
	a = parse("qom-type=authz-list,id=a,policy=allow,rules.0.match=CN=x*,"
		  "rules.0.policy=deny");
	assert_false(qimg_authz_allows(a, "CN=x*"));
	assert_true(qimg_authz_allows(a, "CN=xy"));
	qimg_authz_free(a);
}

static void test_refusals(void **state)
{
	(void)state;
	refused("authz-simple,identity=x", "Parameter 'id' is missing");
	refused("authz-simple,id=a", "Parameter 'identity' is missing");
	refused("authz-simple,id=a,identity=x,foo=1",
		"Parameter 'foo' is unexpected");
	refused("authz-list,id=a,policy=maybe",
		"Parameter 'policy' does not accept value 'maybe'");
	refused("authz-list,id=a,foo=1,policy=maybe",
		"Parameter 'policy' does not accept value 'maybe'");
	refused("authz-list,id=a,rules.0.match=x",
		"Parameter 'rules.0.policy' is missing");
	refused("authz-list,id=a,rules.0.policy=allow",
		"Parameter 'rules.0.match' is missing");
	refused("authz-list,id=a,rules.0.match=x,rules.0.policy=allow,"
		"rules.0.format=re",
		"Parameter 'format' does not accept value 're'");
	refused("authz-list,id=a,rules.0.match=x,rules.0.policy=allow,"
		"rules.0.x=1",
		"Parameter 'rules.0.x' is unexpected");
	refused("authz-list,id=a,rules.1.match=x",
		"Parameter 'rules.0' missing");
	refused("authz-list,id=a,rules.99999999999999999999.match=x",
		"Parameter 'rules.0' missing");
	refused("authz-list,id=a,rules=x",
		"Invalid parameter type for 'rules', expected: array");
	refused("authz-list,id=a,rules.0=x",
		"Invalid parameter type for 'rules.0', expected: object");
	refused("authz-pam,id=a,service=x", "invalid object type: authz-pam");
	refused("authz-listfile,id=a", "Parameter 'filename' is missing");
	refused("authz-simple,foo", "Expected '=' after parameter 'foo'");
}

static void test_table(void **state)
{
	struct qimg_objects *t = qimg_objects_new();
	struct qimg_error err = { 0 };

	(void)state;
	assert_non_null(t);
	assert_int_equal(qimg_objects_add(t, "secret,id=s,data=x", &err), 0);
	assert_int_equal(
		qimg_objects_add(t, "authz-simple,id=a,identity=n", &err), 0);
	assert_int_equal(qimg_objects_add(t, "authz-list,id=l", &err), 0);
	assert_true(qimg_objects_add(t, "authz-list,id=s", &err) < 0);
	assert_string_equal(err.msg, "attempt to add duplicate property 's' "
				     "to object (type 'container')");
	memset(&err, 0, sizeof(err));
	assert_true(qimg_objects_add(t, "secret,id=a,data=y", &err) < 0);
	memset(&err, 0, sizeof(err));
	assert_true(qimg_objects_add(t, "authz-simple,id=1a,identity=n", &err) <
		    0);
	assert_non_null(strstr(err.msg, "expects an identifier"));
	assert_int_equal(qimg_objects_add(t, "authz-list,help", &err),
			 QIMG_OBJECT_HELP_PROPS);
	assert_int_equal(qimg_objects_add(t, "authz-pam,help", &err),
			 QIMG_OBJECT_HELP_TYPES);
	memset(&err, 0, sizeof(err));
	assert_true(qimg_authz_allows(qimg_objects_authz(t, "a", &err), "n"));
	assert_non_null(qimg_objects_authz(t, "l", &err));
	assert_null(qimg_objects_authz(t, "s", &err));
	assert_string_equal(err.msg, "Object 's' is not a QAuthZ subclass");
	memset(&err, 0, sizeof(err));
	assert_null(qimg_objects_authz(t, "x", &err));
	assert_string_equal(err.msg, "Cannot find QAuthZ object ID x");
	qimg_objects_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
