/* SPDX-License-Identifier: MIT */
/* The --object types of QEMU 7.2's QAPI ObjectType enum that the table in
 * object.c does not parse itself (it keeps secret, secret_keyring,
 * tls-creds-*, authz-* and throttle-group): each definition, keyval text
 * or JSON, is checked as qemu-img's QAPI visitor checks it, in its order
 * and with its words (key syntax, each member's type in schema order,
 * required members, unknown members); then the types built into the tool
 * (main-loop, thread-context, tls-cipher-suites, pr-manager-helper, and
 * iothread in qemu-nbd) are made as it makes them, the others refused as it
 * refuses them: "invalid object type: TYPE".  qimg keeps the objects for
 * their ids only: it does not use them further. */
#ifndef QIMG_UTIL_OBJECT_TYPES_H
#define QIMG_UTIL_OBJECT_TYPES_H

#include <stdbool.h>

#include "qimg/error.h"
#include "qimg/object.h"

/* Which tool's --object is emulated: they differ in the types they have
 * and in when their main loop exists. */
enum qimg_object_tool {
	QIMG_OBJECT_TOOL_IMG, /* qemu-img */
	QIMG_OBJECT_TOOL_NBD, /* qemu-nbd: iothread too; no main loop yet */
};

/* qimg_object_type_parse's answer for a definition that is not one of
 * these types (secret, secret_keyring, tls-creds-*, authz-*,
 * throttle-group; a JSON text that does not parse or names no type): the
 * caller's own parser takes it. */
#define QIMG_OBJECT_NOT_OURS 3

struct qimg_object_plain;

/* Parse and check definition def (text, or JSON when it starts with '{')
 * and set its properties in the order qemu-img sets them.  Returns 0 with
 * *out (free with qimg_object_plain_free), QIMG_OBJECT_HELP_TYPES or
 * QIMG_OBJECT_HELP_PROPS for "help" and "TYPE,help",
 * QIMG_OBJECT_NOT_OURS, or a negative errno with qemu-img's message in
 * err.  A warning qemu-img prints on the way (a size such as "0x1k") is
 * left in err's notes as a report line.  The text's key syntax is checked
 * whatever its type, as qemu-img checks it first. */
int qimg_object_type_parse(const char *def, enum qimg_object_tool tool,
			   struct qimg_object_plain **out,
			   struct qimg_error *err);
/* The last step, which qemu-img takes after it has made sure the id is
 * new: "only one main-loop instance allowed" (main_loop: one exists
 * already), the thread affinity set, the cipher suites' priority required,
 * the persistent-reservation helper connected to (and its greeting read). */
int qimg_object_plain_complete(struct qimg_object_plain *o, bool main_loop,
			       struct qimg_error *err);
void qimg_object_plain_free(struct qimg_object_plain *o);
const char *qimg_object_plain_id(const struct qimg_object_plain *o);
/* The QOM type name ("main-loop", ...). */
const char *qimg_object_plain_type(const struct qimg_object_plain *o);

/* "List of user creatable objects:" and the tool's types, on stdout. */
void qimg_object_types_print_list(enum qimg_object_tool tool);
/* For "TYPE,help" when TYPE is one of the types above (or qemu-img's
 * authz-list-file): "TYPE options:" and its properties on stdout, and
 * true; false (nothing printed) for another type. */
bool qimg_object_type_print_help(const char *def, enum qimg_object_tool tool);

/* The tool an object table emulates (object.c; IMG by default). */
void qimg_objects_set_tool(struct qimg_objects *t, enum qimg_object_tool tool);
enum qimg_object_tool qimg_objects_tool(const struct qimg_objects *t);

#endif
