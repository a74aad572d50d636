/* SPDX-License-Identifier: MIT */
/* User-created objects (--object TYPE,id=ID,...), kept in a table that the
 * block layer consults when an option names one (key-secret=ID,
 * tls-creds=ID, --tls-authz=ID, throttle-group=ID): `secret`,
 * `tls-creds-x509`, `tls-creds-psk`, `authz-simple`, `authz-list` and
 * `throttle-group`. */
#ifndef QIMG_OBJECT_H
#define QIMG_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qimg/error.h"

struct qimg_objects;
struct qimg_tls_creds;	    /* lib/util/tls-creds.h */
struct qimg_authz;	    /* lib/util/authz.h */
struct qimg_throttle_group; /* lib/util/throttle-group.h */

struct qimg_objects *qimg_objects_new(void);
/* Frees the table; secret bytes are wiped first.  NULL is allowed. */
void qimg_objects_free(struct qimg_objects *t);

/* Parse one --object definition and add the object.  Returns 0, or
 * QIMG_OBJECT_HELP_TYPES ("help": the caller lists the types) or
 * QIMG_OBJECT_HELP_PROPS ("TYPE,help": the caller lists TYPE's properties),
 * or a negative errno with qemu-img's text in err ("Parameter 'qom-type' is
 * missing", "Either 'file' or 'data' must be provided", "attempt to add
 * duplicate property 'ID' to object (type 'container')", ...). */
#define QIMG_OBJECT_HELP_TYPES 1
#define QIMG_OBJECT_HELP_PROPS 2
int qimg_objects_add(struct qimg_objects *t, const char *def,
		     struct qimg_error *err);

/* A copy of the bytes of secret `id` (decoded from base64 when
 * format=base64; a file's contents for file=), to be released with
 * qimg_secret_free (which wipes it).  ENOENT "No secret with id 'ID'" when
 * there is none. */
int qimg_secret_get(const struct qimg_objects *t, const char *id,
		    uint8_t **data, size_t *len, struct qimg_error *err);
void qimg_secret_free(uint8_t *data, size_t len);
/* Whether an --object definition is a secret_keyring (for its help). */
bool qimg_secret_keyring_type(const char *def);
/* The TLS credentials `id`, or NULL with qemu-img's words in err ("No TLS
 * credentials with id 'ID'", "Object with id 'ID' is not TLS
 * credentials"). */
const struct qimg_tls_creds *qimg_objects_tls(const struct qimg_objects *t,
					      const char *id,
					      struct qimg_error *err);
/* The authorization object `id`, or NULL with qemu-nbd's words in err
 * ("Cannot find QAuthZ object ID ID", "Object 'ID' is not a QAuthZ
 * subclass"). */
const struct qimg_authz *qimg_objects_authz(const struct qimg_objects *t,
					    const char *id,
					    struct qimg_error *err);
/* The throttle group `id` (its limits are shared by every node naming it:
 * the group is not const), or NULL with qemu-img's words in err ("Throttle
 * group 'ID' does not exist", also when ID is another kind of object). */
struct qimg_throttle_group *
qimg_objects_throttle_group(const struct qimg_objects *t, const char *id,
			    struct qimg_error *err);
/* 0 when `id` is a persistent reservation manager (pr-manager-helper),
 * else -ENOENT or -EINVAL with qemu-img's words in err ("No persistent
 * reservation manager with id 'ID'", "Object with id 'ID' is not a
 * persistent reservation manager"). */
int qimg_objects_pr_manager(const struct qimg_objects *t, const char *id,
			    struct qimg_error *err);
/* qimg_secret_get for a secret used as text (a LUKS passphrase): EINVAL
 * "Data from secret ID is not valid UTF-8" (qemu-img's words) when the
 * bytes are not UTF-8. */
int qimg_secret_get_utf8(const struct qimg_objects *t, const char *id,
			 uint8_t **data, size_t *len, struct qimg_error *err);

#endif
