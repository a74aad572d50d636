/* SPDX-License-Identifier: MIT */
/* Option strings (`-o a=b,c=d`) and typed option schemas, parsed exactly as
 * qemu-img parses them (see shared/reference/qemu-img.md §1.8). */
#ifndef QIMG_OPTS_H
#define QIMG_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qimg/error.h"

enum qimg_opt_type {
	QIMG_OPT_STRING, /* shown as <str> */
	QIMG_OPT_BOOL,	 /* <bool (on/off)>: on yes true y / off no false n */
	QIMG_OPT_NUMBER, /* <num>: strtoull base 0, no suffix */
	QIMG_OPT_SIZE,	 /* <size>: qimg_parse_size syntax */
};

/* One entry of a driver's option schema.  Schemas are arrays terminated by
 * an entry with name == NULL.  A name "prefix.*" stands for every name
 * starting "prefix." (lists of rules given as options). */
struct qimg_opt_desc {
	const char *name;
	enum qimg_opt_type type;
	const char *help;
	const char
		*def_str; /* default printed in the Formatting line, or NULL */
};

/* One parsed name=value pair.  `value` is the text as given (bools keep their
 * spelling, e.g. "yes"); after qimg_opts_validate the typed value is filled. */
struct qimg_opt {
	char *name;
	char *value;
	bool typed; /* set by validate */
	enum qimg_opt_type type;
	uint64_t u;		 /* NUMBER / SIZE value */
	bool b;			 /* BOOL value */
	bool hex_suffix_warning; /* set by validate: SIZE value like "0x1k"; the
				  * caller prints qemu-img's deprecation
				  * warning "Using a multiplier suffix on hex
				  * numbers is deprecated: VALUE" */
};

/* An ordered list of options; a later duplicate replaces the earlier value
 * in place (qemu-img: the last one wins).  Zero-initialise before use. */
struct qimg_opts {
	struct qimg_opt *v;
	size_t len, cap;
	bool help; /* "help" or "?" appeared */
	/* Every name=value element in order of appearance, including ones a
	 * later duplicate replaced: qemu-img type-checks each occurrence, so
	 * validate walks this log (private to lib/util/opts.c). */
	struct qimg_opt *log;
	size_t log_len, log_cap;
};

void qimg_opts_free(struct qimg_opts *o);

/* Validate one `-o` argument as qemu-img does before joining: rejects "",
 * a leading ',', an odd number of trailing commas.  Error text:
 * "Invalid option list: STR". */
int qimg_opts_check_list(const char *str, struct qimg_error *err);

/* Parse "a=b,c=d" and append to o.  ",," escapes a comma; an element
 * without '=' is a boolean flag ("x" -> x=on, "nox" -> x=off); "help"/"?"
 * set o->help; "id=..." is dropped. */
int qimg_opts_parse(struct qimg_opts *o, const char *str,
		    struct qimg_error *err);

/* Set (or replace) name=value. */
int qimg_opts_set(struct qimg_opts *o, const char *name, const char *value);

/* Remove name if present. */
void qimg_opts_del(struct qimg_opts *o, const char *name);

/* Find an option or NULL. */
const struct qimg_opt *qimg_opts_find(const struct qimg_opts *o,
				      const char *name);

/* Check every option against schema (several schemas may be given, NULL
 * terminated list of arrays) and fill typed values.  Errors use qemu-img's
 * texts: "Invalid parameter 'bogus'", "Parameter 'x' expects 'on' or 'off'",
 * "Parameter 'x' expects a number", "Parameter 'size' expects a non-negative
 * number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-,
 * giga-, tera-, peta-\nand exabytes, respectively.",
 * "Value 'X' is out of range for parameter 'NAME'". */
int qimg_opts_validate(struct qimg_opts *o,
		       const struct qimg_opt_desc *const *schemas,
		       struct qimg_error *err);

/* Typed getters (after validate).  Return def when the option is absent. */
const char *qimg_opts_get_str(const struct qimg_opts *o, const char *name,
			      const char *def);
bool qimg_opts_get_bool(const struct qimg_opts *o, const char *name, bool def);
uint64_t qimg_opts_get_u64(const struct qimg_opts *o, const char *name,
			   uint64_t def);
bool qimg_opts_has(const struct qimg_opts *o, const char *name);

/* Print `-o help` for the schemas in qemu-img's layout (sorted lines,
 * "  name=<type>" padded to 24 columns, " - help").  heading is e.g.
 * "Supported qcow2 options:"; trailer adds the two "The protocol level may
 * support further options." lines. Writes to the FILE* given as void* to keep
 * stdio out of this header's users' way. */
void qimg_opts_print_help(void *fp, const char *heading,
			  const struct qimg_opt_desc *const *schemas,
			  bool trailer);

#endif
