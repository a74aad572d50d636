/* SPDX-License-Identifier: MIT */
/* Helpers shared by the qimg commands: message prefixes, usage errors,
 * getopt error texts, the "Could not open" wrapper, size/output/-o argument
 * parsing, relative path resolution and the -p progress printer. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "util/authz.h"
#include "util/object-types.h"
#include "util/throttle-group.h"
#include "util/tls-creds.h"
#include "qimg/opts.h"
#include "qimg/size.h"
#include "qimg/value.h"

static __attribute__((format(printf, 3, 0))) void
vmsg(const struct tool *t, const char *what, const char *fmt, va_list ap)
{
	/* stdout is deliberately not flushed first: qemu-img does not either,
	 * so merged stdout+stderr captures interleave the same way.  The
	 * line is one unit: convert's workers may report at the same time. */
	flockfile(stderr);
	fprintf(stderr, "%s: %s", t->prog, what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

/* The library's diagnostics (a format's corruption report, ...) go out
 * first, as lines of their own, as qemu-img prints them. */
static void print_notes(struct qimg_error *err)
{
	char notes[QIMG_ERROR_MSG_MAX], *line, *nl;

	qimg_error_take_notes(err, notes, sizeof(notes));
	if (!notes[0])
		return;
	for (line = notes; line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		/* A report line goes under the program's name (argv[0]'s
		 * base name, as tool_err prints it). */
		if (line[0] == QIMG_NOTE_REPORT[0])
			fprintf(stderr, "%s: %s\n",
				program_invocation_short_name, line + 1);
		else
			fprintf(stderr, "%s\n", line);
	}
}

void tool_print_notes(const struct tool *t, struct qimg_error *err)
{
	char notes[QIMG_ERROR_MSG_MAX], *line, *save = NULL;

	qimg_error_take_notes(err, notes, sizeof(notes));
	for (line = strtok_r(notes, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == QIMG_NOTE_REPORT[0])
			tool_err(t, "%s", line + 1);
		else
			fprintf(stderr, "%s\n", line);
	}
}

const char *tool_errdetail(int r, struct qimg_error *err)
{
	print_notes(err);
	if (err && (err->errnum == EUCLEAN || err->errnum == EREMOTEIO) &&
	    err->msg[0])
		return err->msg;
	return strerror(r < 0 ? -r : r);
}

const char *tool_errmsg(int r, struct qimg_error *err)
{
	print_notes(err);
	if (err && err->errnum && err->msg[0])
		return err->msg;
	return strerror(r < 0 ? -r : r ? r : EIO);
}

void tool_err(const struct tool *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(t, "", fmt, ap);
	va_end(ap);
}

void tool_warn(const struct tool *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(t, "warning: ", fmt, ap);
	va_end(ap);
}

int tool_usage(const struct tool *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(t, "", fmt, ap);
	va_end(ap);
	/* Literal on purpose: qemu-img hard-codes it whatever argv[0] is. */
	fputs("Try 'qemu-img --help' for more information\n", stderr);
	return TOOL_EXIT_USAGE;
}

int tool_getopt_error(const struct tool *t, int c, char **argv)
{
	const char *opt = optind > 0 ? argv[optind - 1] : "";

	if (c == ':')
		return tool_usage(t, "missing argument for option '%s'", opt);
	return tool_usage(t, "unrecognized option '%s'", opt);
}

/* The raw-probing WARNING, as qemu-img prints it: no program prefix, and
 * even with -q. */
/* A driver's warning ("qimg: warning: ..."); opaque is the tool. */
void tool_warn_driver(void *opaque, const char *msg)
{
	tool_warn(opaque, "%s", msg);
}

void tool_warn_probed_raw(void *opaque, const char *filename)
{
	fprintf(stderr,
		"WARNING: Image format was not specified for '%s' and probing "
		"guessed raw.\n"
		"         Automatically detecting the format is dangerous for "
		"raw images, write operations on block 0 will be restricted.\n"
		"         Specify the 'raw' format explicitly to remove the "
		"restrictions.\n",
		filename);
}

int tool_open(const struct tool *t, const char *filename, const char *fmt,
	      unsigned int flags, enum qimg_cache_mode cache,
	      struct qimg_node **out)
{
	struct qimg_open_args args = {
		.filename = filename,
		.format = fmt,
		.flags = flags,
		.cache = cache,
		.objects = t->objects,
		.names = t->names,
		.probed_raw = tool_warn_probed_raw,
		.warn = tool_warn_driver,
		.warn_opaque = (void *)t,
	};
	struct qimg_error err = { 0 };
	int r;

	r = qimg_open(&args, out, &err);
	if (r < 0) {
		*out = NULL;
		tool_err(t, "Could not open '%s': %s", filename,
			 tool_errmsg(r, &err));
	} else {
		print_notes(&err); /* (vvfat's invalid names) */
	}
	return r;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

int tool_open_created(const struct tool *t, const char *arg, const char *fmt,
		      bool image_opts, const struct qimg_opts *co,
		      unsigned int flags, enum qimg_cache_mode cache,
		      struct qimg_node **out)
{
	struct qimg_opts secrets = { 0 };
	struct qimg_error err = { 0 };
	size_t i;
	int r;

	*out = NULL;
	for (i = 0; co && !image_opts && i < co->len; i++) {
		if (!ends_with(co->v[i].name, "key-secret"))
			continue;
		if (qimg_opts_set(&secrets, co->v[i].name, co->v[i].value) <
		    0) {
			qimg_opts_free(&secrets);
			tool_err(t, "%s", strerror(ENOMEM));
			return -ENOMEM;
		}
	}
	if (!secrets.len)
		return tool_open_image(t, arg, fmt, image_opts, flags, cache,
				       out);
	{
		struct qimg_open_args args = {
			.filename = arg,
			.format = fmt,
			.flags = flags,
			.cache = cache,
			.objects = t->objects,
			.names = t->names,
			.opts = &secrets,
			.probed_raw = tool_warn_probed_raw,
			.warn = tool_warn_driver,
			.warn_opaque = (void *)t,
		};

		r = qimg_open(&args, out, &err);
	}
	qimg_opts_free(&secrets);
	if (r < 0) {
		*out = NULL;
		tool_err(t, "Could not open '%s': %s", arg,
			 tool_errmsg(r, &err));
	}
	return r;
}

int tool_parse_size(const struct tool *t, const char *s, const char *what,
		    uint64_t *out)
{
	int warn = 0;
	int r;

	r = qimg_parse_size(s, out, &warn);
	/* qemu-img warns even when the value is then refused ("0x1kz"). */
	if (warn)
		tool_warn(t,
			  "Using a multiplier suffix on hex numbers is "
			  "deprecated: %s",
			  s);
	if (r == QIMG_SIZE_RANGE || (r == QIMG_SIZE_OK && *out > INT64_MAX)) {
		tool_err(t,
			 "Invalid %s specified. Must be between 0 and "
			 "9223372036854775807.",
			 what);
		return -EINVAL;
	}
	if (r != QIMG_SIZE_OK) {
		tool_err(t,
			 "Invalid %s specified. You may use k, M, G, T, P "
			 "or E suffixes for",
			 what);
		tool_err(t, "kilobytes, megabytes, gigabytes, terabytes, "
			    "petabytes and exabytes.");
		return -EINVAL;
	}
	return 0;
}

int tool_parse_output(const struct tool *t, const char *s, bool *json)
{
	if (!strcmp(s, "json")) {
		*json = true;
		return 0;
	}
	if (!strcmp(s, "human")) {
		*json = false;
		return 0;
	}
	tool_err(t, "--output must be used with human or json as argument.");
	return -EINVAL;
}

char *tool_strdup(const char *s)
{
	char *p = strdup(s);

	if (!p) {
		fputs("qimg: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

int tool_add_opts(const struct tool *t, char **acc, const char *arg)
{
	struct qimg_error err = { 0 };
	size_t a, b;
	char *n;

	if (qimg_opts_check_list(arg, &err) < 0) {
		tool_err(t, "%s", tool_errmsg(-EIO, &err));
		return -EINVAL;
	}
	if (!*acc) {
		*acc = tool_strdup(arg);
		return 0;
	}
	a = strlen(*acc);
	b = strlen(arg);
	n = realloc(*acc, a + b + 2);
	if (!n) {
		tool_err(t, "out of memory");
		return -ENOMEM;
	}
	n[a] = ',';
	memcpy(n + a + 1, arg, b + 1);
	*acc = n;
	return 0;
}

void progress_init(struct tool_progress *p, bool on, float step)
{
	p->on = on;
	p->step = step;
	p->cur = 0;
	p->last = 0;
}

void progress_set(struct tool_progress *p, float pct)
{
	p->cur = pct;
	if (!p->on)
		return;
	if (pct > p->last + p->step || pct < p->last - p->step || pct == 0 ||
	    pct == 100) {
		p->last = pct;
		printf("    (%3.2f/100%%)\r", (double)pct);
		fflush(stdout);
	}
}

void progress_add(struct tool_progress *p, float delta)
{
	progress_set(p, p->cur + delta / 100 * 100);
}

void progress_end(struct tool_progress *p)
{
	if (!p->on)
		return;
	putchar('\n');
	fflush(stdout);
}

/* throttle-group's properties, as qemu-img lists them (sorted). */
static void print_throttle_help(void)
{
	static const char *const kinds[] = { "bps-read", "bps-total",
					     "bps-write" };
	static const char *const iops[] = { "iops-read", "iops-size",
					    "iops-total", "iops-write" };
	size_t i;

	printf("throttle-group options:\n  limits=<ThrottleLimits>\n");
	for (i = 0; i < 3; i++)
		printf("  x-%s-max-length=<int>\n  x-%s-max=<int>\n"
		       "  x-%s=<int>\n",
		       kinds[i], kinds[i], kinds[i]);
	for (i = 0; i < 4; i++) {
		if (!strcmp(iops[i], "iops-size")) {
			printf("  x-iops-size=<int>\n");
			continue;
		}
		printf("  x-%s-max-length=<int>\n  x-%s-max=<int>\n"
		       "  x-%s=<int>\n",
		       iops[i], iops[i], iops[i]);
	}
}

int tool_object(const struct tool *t, const char *arg)
{
	struct qimg_error err = { 0 };
	int r = qimg_objects_add(t->objects, arg, &err);

	switch (r) {
	case 0:
		/* a warning on the way ("0x1k" as a size) */
		tool_print_notes(t, &err);
		return 0;
	case QIMG_OBJECT_HELP_TYPES:
		qimg_object_types_print_list(qimg_objects_tool(t->objects));
		return 1;
	case QIMG_OBJECT_HELP_PROPS:
		if (qimg_object_type_print_help(arg,
						qimg_objects_tool(t->objects)))
			;
		else if (qimg_authz_type(arg) &&
			 !strcmp(qimg_authz_type(arg), "authz-simple"))
			printf("authz-simple options:\n  identity=<string>\n");
		else if (qimg_authz_type(arg))
			printf("authz-list options:\n"
			       "  policy=<QAuthZListPolicy>\n"
			       "  rules=<QAuthZListRule>\n");
		else if (qimg_throttle_group_type(arg))
			print_throttle_help();
		else if (qimg_tls_creds_type(arg) &&
			 !strcmp(qimg_tls_creds_type(arg), "tls-creds-psk"))
			printf("tls-creds-psk options:\n  dir=<string>\n"
			       "  endpoint=<QCryptoTLSCredsEndpoint>\n"
			       "  priority=<string>\n  username=<string>\n"
			       "  verify-peer=<bool>\n");
		else if (qimg_tls_creds_type(arg) &&
			 !strcmp(qimg_tls_creds_type(arg), "tls-creds-anon"))
			printf("tls-creds-anon options:\n  dir=<string>\n"
			       "  endpoint=<QCryptoTLSCredsEndpoint>\n"
			       "  priority=<string>\n  verify-peer=<bool>\n");
		else if (qimg_tls_creds_type(arg))
			printf("tls-creds-x509 options:\n  dir=<string>\n"
			       "  endpoint=<QCryptoTLSCredsEndpoint>\n"
			       "  passwordid=<string>\n  priority=<string>\n"
			       "  sanity-check=<bool>\n  verify-peer=<bool>\n");
		else if (qimg_secret_keyring_type(arg))
			printf("secret_keyring options:\n"
			       "  format=<QCryptoSecretFormat>\n"
			       "  iv=<string>\n  keyid=<string>\n"
			       "  serial=<int32_t>\n");
		else
			printf("secret options:\n"
			       "  data=<string>\n  file=<string>\n"
			       "  format=<QCryptoSecretFormat>\n"
			       "  iv=<string>\n  keyid=<string>\n");
		return 1;
	default:
		tool_err(t, "%s", tool_errmsg(-EIO, &err));
		return r;
	}
}

int tool_parse_snapshot_param(const struct tool *t, const char *arg, char **id,
			      char **name)
{
	struct qimg_error err = { 0 };
	struct qimg_opts o = { 0 };
	size_t i;
	int r = 0;

	*id = *name = NULL;
	if (strncmp(arg, "snapshot.", 9)) {
		*id = tool_strdup(arg);
		*name = tool_strdup(arg);
		return 0;
	}
	if (qimg_opts_parse(&o, arg, &err) < 0) {
		tool_err(t, "%s", tool_errmsg(-EIO, &err));
		r = -EINVAL;
	}
	for (i = 0; !r && i < o.len; i++) {
		if (!strcmp(o.v[i].name, "snapshot.id")) {
			free(*id);
			*id = tool_strdup(o.v[i].value);
		} else if (!strcmp(o.v[i].name, "snapshot.name")) {
			free(*name);
			*name = tool_strdup(o.v[i].value);
		} else {
			tool_err(t, "Invalid parameter '%s'", o.v[i].name);
			r = -EINVAL;
		}
	}
	if (r) {
		tool_err(t, "Failed in parsing snapshot param '%s'", arg);
		free(*id);
		free(*name);
		*id = *name = NULL;
	}
	qimg_opts_free(&o);
	return r;
}

int tool_load_snapshot(const struct tool *t, struct qimg_node *node,
		       const char *param, const char *id, const char *name)
{
	struct qimg_error err = { 0 };
	int r;

	if (strncmp(param, "snapshot.", 9)) {
		/* A bare word: an ID first, then a name. */
		r = qimg_snapshot_load_tmp(node, param, NULL, &err);
		if (r == -ENOENT) {
			qimg_error_clear(&err);
			r = qimg_snapshot_load_tmp(node, NULL, param, &err);
		}
	} else {
		r = qimg_snapshot_load_tmp(node, id, name, &err);
	}
	if (r < 0)
		tool_err(t, "Failed to load snapshot: %s",
			 tool_errmsg(-EIO, &err));
	return r;
}

void tool_warn_hex_sizes(const struct tool *t, const struct qimg_opts *o)
{
	uint64_t v;
	size_t i;
	int warn;

	for (i = 0; i < o->len; i++) {
		if (!o->v[i].typed || o->v[i].type != QIMG_OPT_SIZE)
			continue;
		warn = 0;
		if (qimg_parse_size(o->v[i].value, &v, &warn) == QIMG_SIZE_OK &&
		    warn)
			tool_warn(t,
				  "Using a multiplier suffix on hex numbers "
				  "is deprecated: %s",
				  o->v[i].value);
	}
}

/* -U with a force-share= option: qemu-img accepts only "force-share=on"
 * (not even "yes" or "true") and calls anything else a conflict. */
static bool force_share_conflicts(const struct qimg_value *v)
{
	if (!v)
		return false;
	if (qimg_value_type(v) == QIMG_VALUE_BOOL)
		return !qimg_value_get_bool(v);
	return qimg_value_type(v) != QIMG_VALUE_STR ||
	       strcmp(qimg_value_get_str(v), "on") != 0;
}

/* --image-opts: the argument is an options tree for the library. */
int tool_open_image(const struct tool *t, const char *arg, const char *fmt,
		    bool image_opts, unsigned int flags,
		    enum qimg_cache_mode cache, struct qimg_node **out)
{
	struct qimg_error err = { 0 };
	struct qimg_value *opts = NULL;
	int r;

	*out = NULL;
	if (!image_opts)
		return tool_open(t, arg, fmt, flags, cache, out);
	if (fmt) {
		tool_err(t, "--image-opts and --format are mutually exclusive");
		return -EINVAL;
	}
	r = qimg_options_parse(arg, &opts, &err);
	if (r < 0) {
		tool_err(t, "Could not open '%s': %s", arg,
			 tool_errmsg(-EIO, &err));
		return r;
	}
	if (force_share_conflicts(qimg_dict_get(opts, "force-share")) &&
	    (flags & QIMG_OPEN_FORCE_SHARE)) {
		tool_err(t, "--force-share/-U conflicts with image options");
		qimg_value_free(opts);
		return -EINVAL;
	}
	{
		struct qimg_open_args args = {
			.options = opts,
			.flags = flags,
			.cache = cache,
			.objects = t->objects,
			.names = t->names,
			.probed_raw = tool_warn_probed_raw,
			.warn = tool_warn_driver,
			.warn_opaque = (void *)t,
		};

		r = qimg_open(&args, out, &err);
	}
	qimg_value_free(opts);
	if (r < 0) {
		*out = NULL;
		tool_err(t, "Could not open '%s': %s", arg,
			 tool_errmsg(r, &err));
	} else {
		print_notes(&err);
	}
	return r;
}
