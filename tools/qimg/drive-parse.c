/* SPDX-License-Identifier: MIT */
/* One -drive (or -hda, -cdrom, ...) checked and placed as QEMU 7.2 does
 * it, option by option in its order and words (observed on
 * qemu-system-x86_64): aliases, cache modes, bus/unit/index, media,
 * interface, id, error actions, then the options every drive has. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/keyval.h"
#include "util/throttle.h"
#include "drive-kv.h"

int drive_fail(const struct tool *t, const char *where, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", t->prog);
	if (where)
		fprintf(stderr, "%s: ", where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* ---- one drive ---- */

static const char *const if_names[DRIVE_IF_COUNT] = {
	[DRIVE_IF_NONE] = "none",     [DRIVE_IF_IDE] = "ide",
	[DRIVE_IF_SCSI] = "scsi",     [DRIVE_IF_FLOPPY] = "floppy",
	[DRIVE_IF_PFLASH] = "pflash", [DRIVE_IF_MTD] = "mtd",
	[DRIVE_IF_SD] = "sd",	      [DRIVE_IF_VIRTIO] = "virtio",
	[DRIVE_IF_XEN] = "xen",
};

const char *drive_if_name(enum drive_if type)
{
	return type < DRIVE_IF_COUNT ? if_names[type] : "?";
}

/* Units a bus of this kind holds (0: one bus of any number). */
static int if_max_units(const struct drive_set *set, enum drive_if type)
{
	return type == DRIVE_IF_IDE    ? set->machine->ide_units
	       : type == DRIVE_IF_SCSI ? 7
				       : 0;
}

/* The old -drive names and the block layer's for them. */
static const char *const aliases[][2] = {
	{ "iops", "throttling.iops-total" },
	{ "iops_rd", "throttling.iops-read" },
	{ "iops_wr", "throttling.iops-write" },
	{ "bps", "throttling.bps-total" },
	{ "bps_rd", "throttling.bps-read" },
	{ "bps_wr", "throttling.bps-write" },
	{ "iops_max", "throttling.iops-total-max" },
	{ "iops_rd_max", "throttling.iops-read-max" },
	{ "iops_wr_max", "throttling.iops-write-max" },
	{ "bps_max", "throttling.bps-total-max" },
	{ "bps_rd_max", "throttling.bps-read-max" },
	{ "bps_wr_max", "throttling.bps-write-max" },
	{ "iops_size", "throttling.iops-size" },
	{ "readonly", "read-only" },
};

/* QemuOpts' numbers: strtoull in any base; "-1" wraps and, cast to int,
 * means "not given", as in QEMU. */
static int get_number(const struct tool *t, const char *where, struct kvl *l,
		      const char *k, int def, int *out)
{
	const char *v = kvl_get(l, k);
	unsigned long long u;
	char *end;

	*out = def;
	if (!v)
		return 0;
	errno = 0;
	u = strtoull(v, &end, 0);
	if (!*v || *end || errno)
		return drive_fail(t, where, "Parameter '%s' expects a number",
				  k);
	*out = (int)u;
	kvl_del(l, k);
	return 0;
}

static int get_bool(const struct tool *t, const char *where, struct kvl *l,
		    const char *k, bool *out)
{
	const char *v = kvl_get(l, k);

	if (v && !qimg_kv_bool(v, out))
		return drive_fail(t, where,
				  "Parameter '%s' expects 'on' or 'off'", k);
	kvl_del(l, k);
	return 0;
}

static bool one_of(const char *v, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(v, *list))
			return true;
	return false;
}

struct drive *drive_at(const struct drive_set *set, enum drive_if type, int bus,
		       int unit)
{
	for (int i = 0; i < set->n; i++)
		if (set->v[i].type == type && set->v[i].bus == bus &&
		    set->v[i].unit == unit)
			return &set->v[i];
	return NULL;
}

/* Where a drive goes on its interface: index, or bus and unit, or the
 * first free unit. */
static int place(const struct tool *t, struct drive_set *set, struct drive *d,
		 int bus, int unit, int index)
{
	int max = if_max_units(set, d->type);

	if (index != -1) {
		if (bus != 0 || unit != -1)
			return drive_fail(
				t, d->where,
				"index cannot be used with bus and unit");
		bus = max ? index / max : 0;
		unit = max ? index % max : index;
	}
	if (unit == -1) {
		unit = 0;
		while (drive_at(set, d->type, bus, unit)) {
			unit++;
			if (max && unit >= max) {
				unit -= max;
				bus++;
			}
		}
	}
	if (max && unit >= max)
		return drive_fail(t, d->where, "unit %d too big (max is %d)",
				  unit, max - 1);
	if (drive_at(set, d->type, bus, unit))
		return drive_fail(
			t, d->where,
			"drive with bus=%d, unit=%d (index=%d) exists", bus,
			unit, max ? bus * max + unit : unit);
	d->bus = bus;
	d->unit = unit;
	return 0;
}

/* Block options back into QemuOpts text (commas doubled). */

/* Cache mode names into cache.writeback / cache.direct / cache.no-flush;
 * explicit cache.* options win. */
static int apply_cache(const struct tool *t, struct drive *d, struct kvl *l)
{
	static const struct {
		const char *name;
		bool wb, direct, noflush;
	} modes[] = {
		{ "writeback", true, false, false },
		{ "none", true, true, false },
		{ "off", true, true, false },
		{ "writethrough", false, false, false },
		{ "directsync", false, true, false },
		{ "unsafe", true, false, true },
	};
	const char *c = kvl_get(l, "cache");
	bool wb = true, direct = false, noflush = false;

	if (c) {
		size_t i;

		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			if (!strcmp(c, modes[i].name))
				break;
		if (i == sizeof(modes) / sizeof(modes[0]))
			return drive_fail(t, d->where, "invalid cache option");
		wb = modes[i].wb;
		direct = modes[i].direct;
		noflush = modes[i].noflush;
		kvl_del(l, "cache");
	}
	if (get_bool(t, d->where, l, "cache.writeback", &wb) ||
	    get_bool(t, d->where, l, "cache.direct", &direct) ||
	    get_bool(t, d->where, l, "cache.no-flush", &noflush))
		return 1;
	d->writeback = wb;
	d->direct = direct;
	d->no_flush = noflush;
	return 0;
}

static int error_action(const struct tool *t, struct drive *d, struct kvl *l,
			const char *k, bool write)
{
	static const char *const w[] = { "ignore", "report", "stop", "enospc",
					 NULL };
	char *v = kvl_take(l, k);
	int r = 0;

	if (!v)
		return 0;
	if (write) {
		free(d->werror);
		d->werror = v;
	} else {
		free(d->rerror);
		d->rerror = v;
	}
	if (d->type != DRIVE_IF_IDE && d->type != DRIVE_IF_SCSI &&
	    d->type != DRIVE_IF_VIRTIO && d->type != DRIVE_IF_NONE)
		r = drive_fail(t, d->where,
			       "%s is not supported by this bus type", k);
	else if (!one_of(v, w) || (!write && !strcmp(v, "enospc")))
		r = drive_fail(t, d->where, "'%s' invalid %s error action", v,
			       write ? "write" : "read");
	return r;
}

/* A file name the file protocol opens (no "proto:" before a '/', no
 * json:). */
static bool local_file(const char *f)
{
	const char *colon = f ? strchr(f, ':') : NULL;

	return f && *f &&
	       (!colon || (strchr(f, '/') && strchr(f, '/') < colon));
}

static bool has_prefix(const struct kvl *l, const char *prefix)
{
	for (int i = 0; i < l->n; i++)
		if (!strncmp(l->k[i], prefix, strlen(prefix)))
			return true;
	return false;
}

/* -drive throttling.* names, their bucket and what they set (0: rate,
 * 1: burst rate, 2: burst length), and where info block shows them. */
static const struct {
	const char *name;
	int bucket, what, shown;
} thr_opts[] = {
	{ "bps-total", QIMG_THR_BPS_TOTAL, 0, 0 },
	{ "bps-read", QIMG_THR_BPS_READ, 0, 1 },
	{ "bps-write", QIMG_THR_BPS_WRITE, 0, 2 },
	{ "bps-total-max", QIMG_THR_BPS_TOTAL, 1, 3 },
	{ "bps-read-max", QIMG_THR_BPS_READ, 1, 4 },
	{ "bps-write-max", QIMG_THR_BPS_WRITE, 1, 5 },
	{ "iops-total", QIMG_THR_OPS_TOTAL, 0, 6 },
	{ "iops-read", QIMG_THR_OPS_READ, 0, 7 },
	{ "iops-write", QIMG_THR_OPS_WRITE, 0, 8 },
	{ "iops-total-max", QIMG_THR_OPS_TOTAL, 1, 9 },
	{ "iops-read-max", QIMG_THR_OPS_READ, 1, 10 },
	{ "iops-write-max", QIMG_THR_OPS_WRITE, 1, 11 },
	{ "bps-total-max-length", QIMG_THR_BPS_TOTAL, 2, -1 },
	{ "bps-read-max-length", QIMG_THR_BPS_READ, 2, -1 },
	{ "bps-write-max-length", QIMG_THR_BPS_WRITE, 2, -1 },
	{ "iops-total-max-length", QIMG_THR_OPS_TOTAL, 2, -1 },
	{ "iops-read-max-length", QIMG_THR_OPS_READ, 2, -1 },
	{ "iops-write-max-length", QIMG_THR_OPS_WRITE, 2, -1 },
	{ "iops-size", -1, 3, 12 },
};

/* throttling.*: checked as QEMU checks a drive's limits, then kept for a
 * throttle group of the drive's own (or throttling.group's). */
static int throttling(const struct tool *t, struct drive *d, struct kvl *l)
{
	struct qimg_throttle_config c;
	struct qimg_error err = { 0 };
	struct kvl lim = { 0 };
	bool any = false;

	qimg_throttle_config_init(&c);
	for (int b = 0; b < 6; b++)
		d->thr_len[b] = 1;
	for (size_t i = 0; i < sizeof(thr_opts) / sizeof(thr_opts[0]); i++) {
		char key[64], *end;
		const char *v;
		unsigned long long u;

		snprintf(key, sizeof(key), "throttling.%s", thr_opts[i].name);
		v = kvl_get(l, key);
		if (!v)
			continue;
		errno = 0;
		u = strtoull(v, &end, 0);
		if (!*v || *end || errno) {
			kvl_free(&lim);
			return drive_fail(t, d->where,
					  "Parameter '%s' expects a number",
					  key);
		}
		if (thr_opts[i].what == 0)
			c.b[thr_opts[i].bucket].avg = (double)u;
		else if (thr_opts[i].what == 1)
			c.b[thr_opts[i].bucket].max = (double)u;
		else if (thr_opts[i].what == 2)
			c.b[thr_opts[i].bucket].burst_length = u;
		else
			c.op_size = u;
		if (thr_opts[i].shown >= 0)
			d->thr[thr_opts[i].shown] = u;
		else
			d->thr_len[thr_opts[i].bucket] = u;
		if (u && thr_opts[i].what != 2)
			any = true;
		snprintf(key, sizeof(key), "limits.%s", thr_opts[i].name);
		kvl_add(&lim, key, strlen(key), v);
		snprintf(key, sizeof(key), "throttling.%s", thr_opts[i].name);
		kvl_del(l, key);
	}
	if (qimg_throttle_config_check(&c, &err) < 0) {
		kvl_free(&lim);
		return drive_fail(t, d->where, "%s", err.msg);
	}
	d->throttle_group = kvl_take(l, "throttling.group");
	if (any) {
		d->throttle_limits = join_opts(&lim);
		if (!d->throttle_group)
			d->throttle_group = strdup(d->id);
		if (!d->throttle_limits || !d->throttle_group) {
			kvl_free(&lim);
			return drive_fail(t, d->where, "Out of memory");
		}
	}
	kvl_free(&lim);
	return 0;
}

/* One drive's options, in the order QEMU 7.2 checks them. */
int drive_new(const struct tool *t, struct drive_set *set, struct drive *d,
	      struct kvl *l)
{
	static const char *const aio[] = { "threads", "native", "io_uring",
					   NULL };
	static const char *const dz[] = { "off", "on", "unmap", NULL };
	const char *v;
	char *s;
	int bus, unit, index, r = 0;
	bool ro = false, cor = false;

	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		char *old = kvl_take(l, aliases[i][0]);

		if (!old)
			continue;
		if (kvl_get(l, aliases[i][1])) {
			free(old);
			return drive_fail(
				t, d->where,
				"'%s' and its alias '%s' can't be used "
				"at the same time",
				aliases[i][1], aliases[i][0]);
		}
		if (kvl_add(l, aliases[i][1], strlen(aliases[i][1]), old)) {
			free(old);
			return drive_fail(t, d->where, "Out of memory");
		}
		free(old);
	}
	if (apply_cache(t, d, l))
		return 1;
	if (get_number(t, d->where, l, "bus", 0, &bus) ||
	    get_number(t, d->where, l, "unit", -1, &unit) ||
	    get_number(t, d->where, l, "index", -1, &index))
		return 1;
	v = kvl_get(l, "media");
	if (v) {
		if (!strcmp(v, "cdrom"))
			d->cdrom = true;
		else if (strcmp(v, "disk"))
			return drive_fail(t, d->where, "'%s' invalid media", v);
		kvl_del(l, "media");
	}
	if (get_bool(t, d->where, l, "read-only", &ro) ||
	    get_bool(t, d->where, l, "copy-on-read", &cor))
		return 1;
	d->readonly = ro || d->cdrom;
	if (d->readonly && cor) {
		fprintf(stderr,
			"%s: %s: warning: disabling copy-on-read on read-only "
			"drive\n",
			t->prog, d->where);
		cor = false;
	}
	d->type = DRIVE_IF_IDE; /* pc's and q35's default */
	v = kvl_get(l, "if");
	if (v) {
		int i;

		for (i = 0; i < DRIVE_IF_COUNT; i++)
			if (!strcmp(v, if_names[i]))
				break;
		if (i == DRIVE_IF_COUNT)
			return drive_fail(t, d->where,
					  "unsupported bus type '%s'", v);
		d->type = (enum drive_if)i;
		kvl_del(l, "if");
	}
	if (place(t, set, d, bus, unit, index))
		return 1;
	s = kvl_take(l, "id");
	if (s)
		d->id = s;
	else if (if_max_units(set, d->type))
		r = asprintf(&d->id, "%s%d%s%d", if_names[d->type], d->bus,
			     d->cdrom ? "-cd" : "-hd", d->unit);
	else
		r = asprintf(&d->id, "%s%d", if_names[d->type], d->unit);
	if (r < 0 || !d->id)
		return drive_fail(t, d->where, "Out of memory");
	d->file = kvl_take(l, "file");
	if (error_action(t, d, l, "werror", true) ||
	    error_action(t, d, l, "rerror", false))
		return 1;
	/* blockdev_init: the options every drive has. */
	if (get_bool(t, d->where, l, "snapshot", &d->snapshot))
		return 1;
	v = kvl_get(l, "aio");
	if (v && !one_of(v, aio))
		return drive_fail(t, d->where, "invalid aio option");
	v = kvl_get(l, "detect-zeroes");
	if (v && !one_of(v, dz))
		return drive_fail(t, d->where, "invalid parameter value: %s",
				  v);
	if (v && strcmp(v, "off")) {
		d->detect_zeroes = strdup(v);
		if (!d->detect_zeroes)
			return drive_fail(t, d->where, "Out of memory");
	}
	s = kvl_take(l, "format");
	if (s) {
		if (kvl_get(l, "driver")) {
			free(s);
			return drive_fail(t, d->where,
					  "Cannot specify both 'driver' and "
					  "'format'");
		}
		kvl_add(l, "driver", 6, s);
		free(s);
	}
	if (throttling(t, d, l))
		return 1;
	for (int i = 0; i < l->n; i++)
		if (!strncmp(l->k[i], "stats-", 6))
			return drive_fail(t, d->where,
					  "qimg does not keep '%s' (a drive's "
					  "I/O statistics)",
					  l->k[i]);
	v = kvl_get(l, "discard");
	if (v && strcmp(v, "ignore") && strcmp(v, "off") &&
	    strcmp(v, "unmap") && strcmp(v, "on"))
		return drive_fail(t, d->where, "Invalid discard option");
	d->discard = v && (!strcmp(v, "unmap") || !strcmp(v, "on"));
	/* Nothing to open: an empty drive (a cdrom without a disc). */
	d->empty = (!d->file || !d->file[0]) && !l->n;
	s = kvl_take(l, "node-name");
	if (s) {
		d->node_name = s;
		kvl_add(l, "node-name", 9, s);
	}
	if (cor)
		kvl_add(l, "copy-on-read", 12, "on");
	if (d->readonly)
		kvl_add(l, "read-only", 9, "on");
	/* aio is the file protocol's (QEMU: a flag for whichever protocol);
	 * detect-zeroes is applied by whoever serves the drive. */
	s = kvl_take(l, "aio");
	if (s && !strcmp(s, "native") && !d->direct) {
		free(s);
		return drive_fail(t, d->where,
				  "aio=native was specified, but it requires "
				  "cache.direct=on, which was not specified.");
	}
	v = kvl_get(l, "driver");
	if (s && v && !strcmp(v, "file"))
		kvl_add(l, "aio", 3, s);
	else if (s && local_file(d->file) && !has_prefix(l, "file."))
		kvl_add(l, "file.aio", 8, s);
	free(s);
	kvl_del(l, "detect-zeroes");
	d->block_opts = join_opts(l);
	if (!d->block_opts)
		return drive_fail(t, d->where, "Out of memory");
	return 0;
}
