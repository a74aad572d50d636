/* SPDX-License-Identifier: MIT */
/* Helpers shared by the qimg commands: the program-name prefix on messages,
 * usage errors, getopt error reporting, opening images with qemu-img's
 * "Could not open" wrapping, size/cache/output argument parsing and the -p
 * progress printer. */
#ifndef QIMG_TOOL_COMMON_H
#define QIMG_TOOL_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "qimg/error.h"
#include "qimg/image.h"
#include "qimg/info.h"
#include "qimg/node-names.h"
#include "qimg/object.h"

/* Per-invocation context handed to every command. */
struct tool {
	const char *prog;	      /* basename(argv[0]): message prefix */
	struct qimg_objects *objects; /* --object definitions */
	/* The names the command's open nodes and drives hold. */
	struct qimg_node_names *names;
};

/* Exit code used by every usage error. */
#define TOOL_EXIT_USAGE 1

/* "prog: message\n" on stderr. */
/* The text after "...: " for a failed request: qemu-img's strerror()
 * wording, except for damaged metadata (EUCLEAN) and a remote server's
 * failure (EREMOTEIO), where the driver's message says what is wrong and
 * where. */
const char *tool_errdetail(int r, struct qimg_error *err);
/* The text for a failed call: the library's message, or strerror(-r)
 * when it set none.  Both this and tool_errdetail first print the
 * library's notes (its diagnostics) on stderr, so call them as an argument
 * of the tool_err that reports the failure. */
const char *tool_errmsg(int r, struct qimg_error *err);
/* Print the library's notes now: report lines (QIMG_NOTE_REPORT) as
 * "prog: line", the others as they are. */
void tool_print_notes(const struct tool *t, struct qimg_error *err);
void tool_err(const struct tool *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "prog: warning: message\n" on stderr. */
void tool_warn(const struct tool *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* -T [enable=]PATTERN[,events=FILE][,file=FILE] (trace-arg.c): there are
 * no trace events, so a pattern "does not exist" (qemu's warning) and
 * help lists none.  1 for help (exit 0), -1 after an error (exit 1),
 * else 0. */
int tool_trace_arg(const struct tool *t, const char *spec);
/* "prog: message\n" + the literal "Try 'qemu-img --help'..." line;
 * returns TOOL_EXIT_USAGE. */
int tool_usage(const struct tool *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Report a getopt ':' (missing argument) or '?' (unknown option) result as
 * qemu-img does; returns TOOL_EXIT_USAGE. */
int tool_getopt_error(const struct tool *t, int c, char **argv);
/* Print the full --help text to stdout. */
void tool_print_help(const struct tool *t);

/* The options most commands share (opts-common.c), as tool_shared_opt
 * fills them.  Zero-initialise; pointers are into argv. */
struct tool_opts {
	const char *fmt;       /* -f FMT, --format */
	const char *cache;     /* -t CACHE, checked by tool_parse_cache */
	const char *src_cache; /* -T SRC_CACHE, likewise */
	bool quiet;	       /* -q */
	bool force_share;      /* -U, --force-share */
	bool image_opts;       /* --image-opts */
};

/* getopt values of the shared long options that have no letter; a
 * command numbers its own long-only options from TOOL_OPT_FIRST_OWN. */
enum {
	TOOL_OPT_OBJECT = 256,
	TOOL_OPT_IMAGE_OPTS,
	TOOL_OPT_FIRST_OWN,
};

/* The shared long options, for the commands' own struct option arrays.
 * Each command lists only those qemu-img's same command accepts, in
 * qemu-img's order (getopt names ambiguous abbreviations in that order). */
#define TOOL_LONGOPT_HELP                                                      \
	{                                                                      \
		"help", no_argument, NULL, 'h'                                 \
	}
#define TOOL_LONGOPT_FORMAT                                                    \
	{                                                                      \
		"format", required_argument, NULL, 'f'                         \
	}
#define TOOL_LONGOPT_OBJECT                                                    \
	{                                                                      \
		"object", required_argument, NULL, TOOL_OPT_OBJECT             \
	}
#define TOOL_LONGOPT_IMAGE_OPTS                                                \
	{                                                                      \
		"image-opts", no_argument, NULL, TOOL_OPT_IMAGE_OPTS           \
	}
#define TOOL_LONGOPT_FORCE_SHARE                                               \
	{                                                                      \
		"force-share", no_argument, NULL, 'U'                          \
	}

enum tool_shared_status {
	TOOL_SHARED_DONE,  /* a shared option, stored in the tool_opts */
	TOOL_SHARED_OTHER, /* not a shared option: the command's own, or
			    * getopt's ':' / '?' for tool_getopt_error */
	TOOL_SHARED_EXIT,  /* help printed (-h, --object help): exit 0 */
	TOOL_SHARED_ERROR, /* error printed (bad --object): the command
			    * exits with its failure code */
};

/* Handle getopt's result `c` (with its optarg `arg`) if it is one of the
 * shared options: -h/--help, -f/--format, -q, -U/--force-share, -t, -T,
 * --object, --image-opts.  getopt only returns what the command's option
 * strings list, so a command accepts exactly the shared options it lists
 * there.  Call it for every option the command does not handle itself. */
enum tool_shared_status tool_shared_opt(const struct tool *t, int c,
					const char *arg, struct tool_opts *o);

/* Parse a -t (src false) or -T (src true) argument into *mode; a NULL arg
 * leaves *mode (the command's default) alone.  A bad mode prints
 * "Invalid cache option: ARG" or "Invalid source cache option: ARG" and
 * returns -EINVAL.  Commands call it where qemu-img checks the mode,
 * after their argument checks. */
int tool_parse_cache(const struct tool *t, const char *arg, bool src,
		     enum qimg_cache_mode *mode);

/* Open an image; on failure prints "prog: Could not open 'NAME': reason"
 * and returns a negative errno. */
/* qemu-img's three-line warning for a raw format guessed on a read-write
 * open (a qimg_open_args.probed_raw callback). */
void tool_warn_probed_raw(void *opaque, const char *filename);
void tool_warn_driver(void *opaque, const char *msg);
int tool_open(const struct tool *t, const char *filename, const char *fmt,
	      unsigned int flags, enum qimg_cache_mode cache,
	      struct qimg_node **out);

/* Like tool_open, but with image_opts `arg` is an --image-opts option
 * string (driver=, file.filename=, file.driver=file, force-share=). */
int tool_open_image(const struct tool *t, const char *arg, const char *fmt,
		    bool image_opts, unsigned int flags,
		    enum qimg_cache_mode cache, struct qimg_node **out);

/* Open an image this command has just created with the create options
 * `co`: like tool_open_image, with every option of co whose name ends in
 * "key-secret" (encrypt.key-secret=ID, key-secret=ID) passed to the open,
 * as qemu-img passes them, so that an encrypted image opens. */
int tool_open_created(const struct tool *t, const char *arg, const char *fmt,
		      bool image_opts, const struct qimg_opts *co,
		      unsigned int flags, enum qimg_cache_mode cache,
		      struct qimg_node **out);

/* Parse a size argument the way qemu-img's positional sizes are parsed.
 * `what` names it in the message ("image size", "offset", ...).  Prints the
 * two-line "Invalid WHAT specified. You may use k, M, ..." error or
 * "Invalid WHAT specified. Must be between 0 and 9223372036854775807." and
 * returns -EINVAL; prints the hex-suffix deprecation warning. */
int tool_parse_size(const struct tool *t, const char *s, const char *what,
		    uint64_t *out);

/* "human" or "json" into *json; else prints the --output error and returns
 * -EINVAL. */
int tool_parse_output(const struct tool *t, const char *s, bool *json);

/* Append one -o argument to *acc (joined with ','), validating it first.
 * Prints "Invalid option list: ..." and returns -EINVAL on bad input. */
int tool_add_opts(const struct tool *t, char **acc, const char *arg);

/* The hex-with-suffix deprecation warning for every <size> option of o
 * written that way ("0x1k"); qemu-img prints it each time it parses the
 * options, so callers call this once per such parse. */
struct qimg_opts;
void tool_warn_hex_sizes(const struct tool *t, const struct qimg_opts *o);

/* A growable string used for option lists. */
char *tool_strdup(const char *s);

/* The -p progress printer (qemu-img's layout: "    (%3.2f/100%)\r").
 * Single precision on purpose: the printed values (49.95, 99.90, ...) are
 * those of qemu-img's float arithmetic. */
struct tool_progress {
	bool on;
	float step; /* minimum change between two printed updates */
	float cur;  /* 0..100 */
	float last; /* value at the last print */
};

void progress_init(struct tool_progress *p, bool on, float step);
/* Set the progress to `pct` (0..100), or advance it by `delta` percent;
 * prints if it moved by more than the step or is exactly 0 or 100. */
void progress_set(struct tool_progress *p, float pct);
void progress_add(struct tool_progress *p, float delta);
/* Terminate the progress line with "\n" (only if on). */
void progress_end(struct tool_progress *p);

/* --object TYPE,id=ID,...: added to t->objects (only 'secret' exists),
 * checked as qemu-img checks it.  Returns 0 to continue, 1 when help was
 * printed (exit 0), negative errno after printing an error. */
int tool_object(const struct tool *t, const char *arg);

/* -l SNAPSHOT_PARAM: "snapshot.id=ID,snapshot.name=NAME" or a bare ID or
 * name.  Fills *id and *name (malloc'd; a bare word goes to both, ID tried
 * first).  Prints qemu-img's errors and returns -EINVAL on bad keys. */
int tool_parse_snapshot_param(const struct tool *t, const char *arg, char **id,
			      char **name);
/* Make the (read-only) image read as the snapshot -l PARAM names (id and
 * name as tool_parse_snapshot_param filled them).  Prints "Failed to load
 * snapshot: ..." and returns -errno on failure. */
int tool_load_snapshot(const struct tool *t, struct qimg_node *node,
		       const char *param, const char *id, const char *name);

/* `-o help` for creating a `fmt` image (cmd-create.c): "Supported FMT
 * options:" + trailer without a file name, "Supported options:" with the
 * protocol's options merged in with one.  Returns the exit code. */
int tool_print_create_help(const struct tool *t, const char *filename,
			   const char *fmt);

/* Render one image's info (output.c).  Human: the §2.2 layout.  JSON: the
 * ImageInfo dict built in schema order (a chain is printed as a list). */
struct qimg_value *tool_info_to_value(const struct qimg_image_info *info);
void tool_print_info_human(FILE *fp, const struct qimg_image_info *info);
/* Snapshot table ("Snapshot list:" + header + rows), shared with info. */
void tool_print_snapshots(FILE *fp, const struct qimg_value *snapshots);

/* Commands: argc/argv start at the command name (argv[0]). Return the
 * process exit code. */
int cmd_bench(const struct tool *t, int argc, char **argv);
int cmd_amend(const struct tool *t, int argc, char **argv);
int cmd_create(const struct tool *t, int argc, char **argv);
int cmd_info(const struct tool *t, int argc, char **argv);
int cmd_bitmap(const struct tool *t, int argc, char **argv);
int cmd_check(const struct tool *t, int argc, char **argv);
int cmd_commit(const struct tool *t, int argc, char **argv);
int cmd_map(const struct tool *t, int argc, char **argv);
int cmd_measure(const struct tool *t, int argc, char **argv);
int cmd_compare(const struct tool *t, int argc, char **argv);
int cmd_convert(const struct tool *t, int argc, char **argv);
int cmd_dd(const struct tool *t, int argc, char **argv);
int cmd_drives(const struct tool *t, int argc, char **argv);
int cmd_run(const struct tool *t, int argc, char **argv);
int cmd_rebase(const struct tool *t, int argc, char **argv);
int cmd_resize(const struct tool *t, int argc, char **argv);
int cmd_snapshot(const struct tool *t, int argc, char **argv);
int cmd_unsupported(const struct tool *t, int argc, char **argv);

#endif
