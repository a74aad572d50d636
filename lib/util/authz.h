/* SPDX-License-Identifier: MIT */
/* Authorization objects (--object authz-simple and authz-list), as
 * qemu-img and qemu-nbd take them: checked when given, in their order and
 * with their words.  qimg-nbd asks one (--tls-authz) whether a client's
 * identity, the distinguished name of its x509 certificate or its PSK
 * user name, may connect.
 *
 * authz-simple,id=ID,identity=NAME: NAME only.
 * authz-list,id=ID[,policy=allow|deny][,rules.N.match=M,rules.N.policy=P
 * [,rules.N.format=exact|glob]]...: the first rule whose match fits the
 * identity (glob: fnmatch) decides; none: the list's policy (deny by
 * default). */
#ifndef QIMG_UTIL_AUTHZ_H
#define QIMG_UTIL_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

#include "qimg/error.h"

struct qimg_authz_rule {
	char *match;
	bool allow;
	bool glob;
};

struct qimg_authz {
	char *id;
	char *identity; /* authz-simple; NULL for a list */
	bool allow;	/* authz-list: the policy when no rule matches */
	struct qimg_authz_rule *rules;
	size_t nrules;
};

/* "authz-simple", "authz-list", "authz-listfile", "authz-pam" (the last
 * two refused by qimg_authz_parse as qemu-img 7.2 refuses them: "invalid
 * object type") or NULL (some other object). */
const char *qimg_authz_type(const char *def);
/* Parse and check a definition of one of those types; *out is freed with
 * qimg_authz_free. */
int qimg_authz_parse(const char *def, struct qimg_authz **out,
		     struct qimg_error *err);
void qimg_authz_free(struct qimg_authz *a);
bool qimg_authz_allows(const struct qimg_authz *a, const char *identity);

#endif
