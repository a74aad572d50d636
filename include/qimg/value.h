/* SPDX-License-Identifier: MIT */
/* A small typed value tree (dict, list, string, integer, bool) that drivers
 * fill for `info` and the tool renders as human text or JSON.  Dict members
 * keep their insertion order; the JSON and human renderers order them the way
 * qemu-img's QDict does (reference §1.11). */
#ifndef QIMG_VALUE_H
#define QIMG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum qimg_value_type {
	QIMG_VALUE_DICT,
	QIMG_VALUE_LIST,
	QIMG_VALUE_STR,
	QIMG_VALUE_INT,	 /* signed 64-bit */
	QIMG_VALUE_UINT, /* unsigned 64-bit (printed as unsigned) */
	QIMG_VALUE_BOOL,
	QIMG_VALUE_NULL, /* JSON null (options: "backing": null) */
	/* A JSON number no 64-bit integer holds (a fraction, an exponent,
	 * or too large): QEMU's double, kept as the text QEMU makes of it
	 * (printf's %.17g), which is what an option given one reads. */
	QIMG_VALUE_DOUBLE,
};

struct qimg_value;

/* Constructors return NULL only on allocation failure. */
struct qimg_value *qimg_value_dict(void);
struct qimg_value *qimg_value_list(void);
struct qimg_value *qimg_value_str(const char *s);
struct qimg_value *qimg_value_int(int64_t i);
struct qimg_value *qimg_value_uint(uint64_t u);
struct qimg_value *qimg_value_bool(bool b);
struct qimg_value *qimg_value_null(void);
struct qimg_value *qimg_value_double(double d);
/* A deep copy, or NULL on allocation failure (or when v is NULL). */
struct qimg_value *qimg_value_copy(const struct qimg_value *v);
void qimg_value_free(struct qimg_value *v);

/* Insert into a dict (takes ownership of val; replaces an existing key in
 * place).  Returns 0 or -ENOMEM (val is freed on failure). */
int qimg_dict_put(struct qimg_value *dict, const char *key,
		  struct qimg_value *val);
int qimg_dict_put_str(struct qimg_value *dict, const char *key, const char *s);
int qimg_dict_put_int(struct qimg_value *dict, const char *key, int64_t i);
int qimg_dict_put_uint(struct qimg_value *dict, const char *key, uint64_t u);
int qimg_dict_put_bool(struct qimg_value *dict, const char *key, bool b);
/* Remove key from a dict and return its value (the caller owns it), or
 * NULL when absent. */
struct qimg_value *qimg_dict_take(struct qimg_value *dict, const char *key);
/* Append to a list (takes ownership). */
int qimg_list_append(struct qimg_value *list, struct qimg_value *val);

/* Accessors. */
enum qimg_value_type qimg_value_type(const struct qimg_value *v);
const char *qimg_value_get_str(const struct qimg_value *v);
/* A double's text (NULL for any other type). */
const char *qimg_value_get_double_text(const struct qimg_value *v);
int64_t qimg_value_get_int(const struct qimg_value *v);
bool qimg_value_get_bool(const struct qimg_value *v);
size_t qimg_value_count(const struct qimg_value *v); /* dict/list members */
/* i-th member in *insertion* order; key is NULL for lists. */
struct qimg_value *qimg_value_at(const struct qimg_value *v, size_t i,
				 const char **key);
struct qimg_value *qimg_dict_get(const struct qimg_value *dict,
				 const char *key);

/* The order in which qemu's QDict iterates a dict's keys: fills idx[] (length
 * qimg_value_count(dict)) with member indices. */
void qimg_dict_qemu_order(const struct qimg_value *dict, size_t *idx);

/* Write v as JSON in QEMU's pretty layout (4-space indent, "key": value,
 * empty list "[\n<indent>]", non-ASCII escaped as \uXXXX), with dict keys in
 * QDict order, and no trailing newline. */
void qimg_value_print_json(FILE *fp, const struct qimg_value *v, int indent);

/* The same on one line, as QEMU writes json:{...} pseudo-filenames:
 * {"key": value, "key": {...}} (QDict order), [a, b].  Returns a malloc'd
 * string, or NULL on allocation failure. */
char *qimg_value_to_json_line(const struct qimg_value *v);

/* Parse JSON text in QEMU's dialect (strings may also be single-quoted,
 * with \' as an escape).  On failure returns NULL and writes QEMU's reason
 * ("JSON parse error, premature EOI", ...) into msg. */
struct qimg_value *qimg_json_parse(const char *text, char *msg, size_t msglen);

/* Human rendering of a "Format specific information" dict as qemu-img
 * prints it: "key: value" with '-' in keys replaced by ' ', nested dicts and
 * lists indented by 4 spaces per level, list items as "[i]:", an empty list
 * as a bare "key:" line.  indent is the starting indentation in spaces. */
void qimg_value_print_human(FILE *fp, const struct qimg_value *v, int indent);

#endif
