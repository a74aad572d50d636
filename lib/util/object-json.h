/* SPDX-License-Identifier: MIT */
/* --object '{"qom-type": ..., ...}', QEMU's JSON form of a definition:
 * the members' JSON types checked against what each property takes
 * (qemu-img's "Invalid parameter type for 'X', expected: T"), then the
 * definition written as key=value text (nested members as dotted keys,
 * commas doubled, booleans on/off) for the same parsers as the text form.
 */
#ifndef QIMG_UTIL_OBJECT_JSON_H
#define QIMG_UTIL_OBJECT_JSON_H

#include "qimg/error.h"

/* *out (malloc'd) is the key=value text of the JSON definition def. */
int qimg_object_json_text(const char *def, char **out, struct qimg_error *err);
/* A message about the text form, with list members named as the JSON
 * form names them: 'rules.0.policy' becomes 'rules[0].policy'. */
void qimg_object_json_msg(struct qimg_error *err);

#endif
