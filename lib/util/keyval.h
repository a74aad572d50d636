/* SPDX-License-Identifier: MIT */
/* An --object definition split into key=value pieces, as QEMU's keyval
 * syntax writes them: pieces separated by ',', ",," a comma inside a
 * value, and a first piece without '=' naming the type (qom-type). */
#ifndef QIMG_UTIL_KEYVAL_H
#define QIMG_UTIL_KEYVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "qimg/error.h"

struct qimg_kv {
	size_t n;
	char **k, **v; /* n keys and their values, in the order given */
	char *buf;
};

/* EINVAL "Expected '=' after parameter 'KEY'" for a later piece without
 * '='.  Free with qimg_kv_free (also after a failure). */
int qimg_kv_split(const char *def, struct qimg_kv *kv, struct qimg_error *err);
void qimg_kv_free(struct qimg_kv *kv);
/* The value of key k (the last one given wins), or NULL. */
const char *qimg_kv_get(const struct qimg_kv *kv, const char *k);
/* A QOM identifier: a letter, then letters, digits, '-', '.', '_'. */
bool qimg_kv_is_identifier(const char *s);
/* EINVAL with qemu-img's two-line message for an id that is not one. */
int qimg_kv_bad_identifier(struct qimg_error *err);
/* Whether a piece of a definition (between commas) is "help" or "?". */
bool qimg_kv_asks_help(const char *def);
/* QEMU's booleans: on/yes/true, off/no/false. */
bool qimg_kv_bool(const char *v, bool *out);

#endif
