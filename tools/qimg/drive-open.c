/* SPDX-License-Identifier: MIT */
/* Opening the drives of a command line as qemu-system-x86_64 does for the
 * pc or q35 machine: each image (with a temporary qcow2 overlay under
 * -snapshot), then the machine's default empty drives, then what the
 * machine's devices refuse, in the order QEMU finds it. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qimg/create.h"
#include "qimg/object.h"
#include "util/throttle-group.h"
#include "qimg/value.h"
#include "drive.h"

void drive_cache_mode(const struct drive *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s",
		 d->writeback ? "writeback" : "writethrough",
		 d->direct ? ", direct" : "",
		 d->no_flush ? ", ignore flushes" : "");
}

static enum qimg_cache_mode cache_of(const struct drive *d)
{
	if (d->direct)
		return d->writeback ? QIMG_CACHE_NONE : QIMG_CACHE_DIRECTSYNC;
	if (d->no_flush)
		return QIMG_CACHE_UNSAFE;
	return d->writeback ? QIMG_CACHE_WRITEBACK : QIMG_CACHE_WRITETHROUGH;
}

/* The drive's block options as a tree, "filename" added when the image is
 * named by file=. */
static int opts_tree(const struct tool *t, struct drive *d,
		     struct qimg_value **out)
{
	struct qimg_error err = { 0 };
	int r;

	*out = NULL;
	if (!d->block_opts[0])
		*out = qimg_value_dict();
	else if ((r = qimg_options_parse(d->block_opts, out, &err)) < 0)
		return drive_fail(t, d->where, "%s", err.msg);
	if (!*out)
		return drive_fail(t, d->where, "Out of memory");
	return 0;
}

/* Open the image itself. */
static int open_image(const struct tool *t, struct drive *d, unsigned int flags,
		      enum qimg_cache_mode cache, struct qimg_node **out)
{
	struct qimg_value *o;
	struct qimg_error err = { 0 };
	struct qimg_open_args args = {
		.filename = d->file,
		.objects = t->objects,
		.names = t->names,
		.flags = flags,
		.cache = cache,
		.probed_raw = tool_warn_probed_raw,
		.warn = tool_warn_driver,
		.warn_opaque = (void *)t,
	};
	int r;

	if (opts_tree(t, d, &o))
		return 1;
	if (!d->file && !qimg_dict_get(o, "driver") &&
	    !qimg_dict_get(o, "file")) {
		qimg_value_free(o);
		return drive_fail(t, d->where,
				  "Must specify either driver or file");
	}
	args.options = o;
	r = qimg_open(&args, out, &err);
	if ((r == -EACCES || r == -EPERM || r == -EROFS) &&
	    (flags & QIMG_OPEN_RDWR)) {
		/* -drive opens its image with auto-read-only: what cannot be
		 * written is opened read-only, and then only a raw image
		 * under a device that does not write (if=none) will do. */
		const char *fmt =
			qimg_value_get_str(qimg_dict_get(o, "driver"));

		qimg_error_clear(&err);
		if (fmt && strcmp(fmt, "raw")) {
			qimg_value_free(o);
			return drive_fail(t, d->where,
					  "Block node is read-only");
		}
		args.flags &= ~QIMG_OPEN_RDWR;
		r = qimg_open(&args, out, &err);
		if (r == 0 && qimg_node_probed_raw(*out)) {
			/* The image is still the guest's to write: the
			 * warning of a writable probed image. */
			char *name = qimg_node_file(*out)
					     ? qimg_node_display_name(
						       qimg_node_file(*out))
					     : NULL;

			tool_warn_probed_raw(
				NULL, name ? name : qimg_node_filename(*out));
			free(name);
		}
		if (r == 0 && strcmp(qimg_node_format(*out), "raw")) {
			qimg_close(*out);
			*out = NULL;
			qimg_value_free(o);
			return drive_fail(t, d->where,
					  "Block node is read-only");
		}
		d->auto_ro = r == 0;
	}
	qimg_value_free(o);
	if (r < 0)
		return drive_fail(t, d->where, "%s", tool_errmsg(r, &err));
	return 0;
}

/* -snapshot / snapshot=on: a temporary qcow2 the size of the image takes
 * the writes, the image below it read-only (QEMU's vl.XXXXXX in $TMPDIR or
 * /var/tmp); the file is gone once open. */
static int open_snapshot(const struct tool *t, struct drive *d)
{
	struct qimg_node *img = NULL;
	struct qimg_value *o = NULL, *top = NULL, *file = NULL;
	struct qimg_error err = { 0 };
	struct qimg_opts copts = { 0 };
	const char *dir = getenv("TMPDIR");
	char size[32], *path = NULL;
	int fd, r;

	if (open_image(t, d, 0, cache_of(d), &img))
		return 1;
	snprintf(size, sizeof(size), "%llu",
		 (unsigned long long)qimg_size(img));
	qimg_close(img);
	if (asprintf(&path, "%s/vl.XXXXXX", dir && *dir ? dir : "/var/tmp") < 0)
		return drive_fail(t, d->where, "Out of memory");
	fd = mkstemp(path);
	if (fd < 0) {
		r = drive_fail(t, d->where,
			       "Could not get temporary filename: %s",
			       strerror(errno));
		free(path);
		return r;
	}
	close(fd);
	r = qimg_opts_set(&copts, "size", size);
	if (r == 0)
		r = qimg_create(path, "qcow2", &copts, &err);
	qimg_opts_free(&copts);
	if (r < 0) {
		unlink(path);
		free(path);
		return drive_fail(t, d->where,
				  "Could not create temporary overlay: %s",
				  tool_errmsg(r, &err));
	}
	if (opts_tree(t, d, &o)) {
		unlink(path);
		free(path);
		return 1;
	}
	qimg_value_free(qimg_dict_take(o, "read-only"));
	/* The image keeps O_DIRECT under the overlay, which has none. */
	if (d->direct) {
		struct qimg_value *c = qimg_value_dict();

		if (!c || qimg_dict_put_bool(c, "direct", true) ||
		    qimg_dict_put(o, "cache", c)) {
			qimg_value_free(o);
			unlink(path);
			free(path);
			return drive_fail(t, d->where, "Out of memory");
		}
	}
	if (d->file) {
		/* The drive's file name is text: its protocol prefix counts
		 * (an option's filename would be a plain file name). */
		struct qimg_value *f = qimg_value_dict();

		r = f ? qimg_filename_options(d->file, f, &err) : -ENOMEM;
		if (r < 0 || qimg_dict_put(o, "file", f)) {
			if (r < 0 && f)
				qimg_value_free(f);
			qimg_value_free(o);
			unlink(path);
			free(path);
			return drive_fail(t, d->where, "%s",
					  r < 0 ? tool_errmsg(r, &err)
						: "Out of memory");
		}
	}
	top = qimg_value_dict();
	file = qimg_value_dict();
	if (!top || !file || qimg_dict_put_str(file, "driver", "file") ||
	    qimg_dict_put_str(file, "filename", path) ||
	    qimg_dict_put_str(top, "driver", "qcow2") ||
	    qimg_dict_put(top, "file", file) ||
	    qimg_dict_put(top, "backing", o)) {
		qimg_value_free(top);
		unlink(path);
		free(path);
		return drive_fail(t, d->where, "Out of memory");
	}
	{
		struct qimg_open_args args = {
			.options = top,
			.objects = t->objects,
			.names = t->names,
			.flags = QIMG_OPEN_RDWR,
			.cache =
				d->direct ? QIMG_CACHE_NONE : QIMG_CACHE_UNSAFE,
		};

		r = qimg_open(&args, &d->node, &err);
	}
	qimg_value_free(top);
	unlink(path);
	d->overlay = path;
	if (r < 0)
		return drive_fail(t, d->where, "%s", tool_errmsg(r, &err));
	/* The overlay's writes are thrown away: flushes are pointless, and
	 * its own file is cached. */
	d->no_flush = true;
	d->direct = false;
	return 0;
}

static int add_default(struct drive_set *set, enum drive_if type, int bus,
		       int unit, bool cdrom, const char *id)
{
	struct drive *v;

	if (drive_at(set, type, bus, unit))
		return 0;
	v = realloc(set->v, (size_t)(set->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	set->v = v;
	v = &set->v[set->n++];
	memset(v, 0, sizeof(*v));
	v->type = type;
	v->bus = bus;
	v->unit = unit;
	v->cdrom = cdrom;
	v->readonly = cdrom;
	v->is_default = true;
	v->empty = true;
	v->writeback = true;
	v->id = strdup(id);
	v->block_opts = strdup("");
	return v->id && v->block_opts ? 0 : -ENOMEM;
}

/* What the machine's boards and devices refuse: IDE and floppy devices
 * while the board is built, then drives no device took, then virtio-blk
 * devices. */
/* The pc board's firmware flash: pflash0, then pflash1 below it, each a
 * non-zero multiple of 4 KiB, 8 MiB at most together. */
static int check_pflash(const struct tool *t, const struct drive_set *set)
{
	const struct drive *unit[2] = { NULL, NULL };
	uint64_t total = 0;
	int i;

	for (i = 0; i < set->n; i++) {
		const struct drive *d = &set->v[i];

		if (d->type == DRIVE_IF_PFLASH && d->bus == 0 && d->unit >= 0 &&
		    d->unit < 2)
			unit[d->unit] = d;
	}
	for (i = 0; i < 2 && unit[i]; i++) {
		/* QEMU sees a raw file's length rounded up to sectors. */
		uint64_t size;

		if (!unit[i]->node)
			return drive_fail(t, NULL,
					  "can't get size of block device "
					  "pflash%d: No medium found",
					  i);
		size = (qimg_size(unit[i]->node) + 511) & ~(uint64_t)511;
		if (!size || size % 4096) {
			fprintf(stderr,
				"%s: system firmware block device pflash%d has "
				"invalid size %llu\n%s: info: its size must be "
				"a non-zero multiple of 0x1000\n",
				t->prog, i, (unsigned long long)size, t->prog);
			return 1;
		}
		total += size;
		if (total > 8388608)
			return drive_fail(t, NULL,
					  "combined size of system firmware "
					  "exceeds 8388608 bytes");
	}
	if (!unit[0] && unit[1])
		return drive_fail(t, NULL, "pflash1 requires pflash0");
	return 0;
}

static bool machine_takes(const struct drive_set *set, const struct drive *d)
{
	switch (d->type) {
	case DRIVE_IF_NONE:
	case DRIVE_IF_VIRTIO:
		return true;
	case DRIVE_IF_IDE:
		return d->bus >= 0 && d->bus < set->machine->ide_buses;
	case DRIVE_IF_FLOPPY:
	case DRIVE_IF_PFLASH:
		return d->bus == 0 && d->unit >= 0 && d->unit < 2;
	default:
		return false;
	}
}

/* The devices of the machine in the order QEMU creates them: firmware
 * flash, floppies and IDE disks while the board is built (their errors
 * name no option), then a drive no device took is an error, then the
 * virtio-blk devices (whose errors name their -drive). */
static int check_devices(const struct tool *t, const struct drive_set *set,
			 struct perm_state *ps)
{
	const struct drive_machine *m = set->machine;
	const struct drive *d;
	int i, u;

	if (check_pflash(t, set))
		return 1;
	for (u = 0; u < 2; u++)
		if ((d = drive_at(set, DRIVE_IF_PFLASH, 0, u)) &&
		    drive_perm_attach(t, ps, d, NULL))
			return 1;
	for (u = 0; u < 2; u++) {
		d = drive_at(set, DRIVE_IF_FLOPPY, 0, u);
		if (d && d->auto_ro)
			return drive_fail(t, NULL, "Block node is read-only");
		if (d && drive_perm_attach(t, ps, d, NULL))
			return 1;
	}
	for (i = 0; i < m->ide_buses * m->ide_units; i++) {
		d = drive_at(set, DRIVE_IF_IDE, i / m->ide_units,
			     i % m->ide_units);
		if (!d)
			continue;
		if (!d->cdrom && !d->node)
			return drive_fail(
				t, NULL,
				"Device needs media, but drive is empty");
		if (!d->cdrom && (d->readonly || d->auto_ro))
			return drive_fail(t, NULL, "Block node is read-only");
		if (drive_perm_attach(t, ps, d, NULL))
			return 1;
	}
	for (i = 0; i < set->n; i++) {
		d = &set->v[i];
		if (!machine_takes(set, d) && !d->is_default)
			return drive_fail(t, d->where,
					  "machine type does not support "
					  "if=%s,bus=%d,unit=%d",
					  drive_if_name(d->type), d->bus,
					  d->unit);
	}
	for (i = 0; i < set->n; i++) {
		d = &set->v[i];
		if (d->type != DRIVE_IF_VIRTIO)
			continue;
		if (!d->node)
			return drive_fail(
				t, d->where,
				"Device needs media, but drive is empty");
		if (d->auto_ro)
			return drive_fail(t, d->where,
					  "Block node is read-only");
		if (drive_perm_attach(t, ps, d, d->where))
			return 1;
	}
	return 0;
}

/* throttling.*: the drive's node behind a throttle filter of its group
 * (made from the drive's limits unless an earlier drive or -object made
 * it). */
static int open_throttle(const struct tool *t, struct drive *d)
{
	struct qimg_error err = { 0 };
	struct qimg_value *o = qimg_value_dict();
	struct qimg_node *top = NULL;
	struct qimg_throttle_group *g, *tmp = NULL;
	char *def = NULL;
	int r;

	if (!o || qimg_dict_put_str(o, "driver", "throttle") ||
	    qimg_dict_put_str(o, "throttle-group", d->throttle_group)) {
		qimg_value_free(o);
		return drive_fail(t, d->where, "Out of memory");
	}
	if (asprintf(&def, "throttle-group,id=%s,%s", d->throttle_group,
		     d->throttle_limits) < 0)
		def = NULL;
	g = qimg_objects_throttle_group(t->objects, d->throttle_group, &err);
	err = (struct qimg_error){ 0 };
	if (!def)
		r = -ENOMEM;
	else if (!g)
		r = qimg_objects_add(t->objects, def, &err);
	else if ((r = qimg_throttle_group_parse(def, &tmp, &err)) == 0) {
		/* The group's limits are the last drive's. */
		qimg_throttle_group_set_config(g, &tmp->cfg);
		qimg_throttle_group_free(tmp);
	}
	free(def);
	if (r < 0) {
		qimg_value_free(o);
		return drive_fail(t, d->where, "%s", tool_errmsg(r, &err));
	}
	r = qimg_open_over_opts(
		d->node, o, t->objects,
		d->readonly && !d->snapshot ? 0 : QIMG_OPEN_RDWR, &top, &err);
	qimg_value_free(o);
	d->node = top;
	if (r < 0)
		return drive_fail(t, d->where, "%s", tool_errmsg(r, &err));
	return 0;
}

/* The drive's id is a device name, which no open node may have. */
static int add_device_name(const struct tool *t, struct drive *d)
{
	struct qimg_error err = { 0 };

	if (qimg_node_names_add_device(t->names, d->id, &err) < 0)
		return drive_fail(t, d->where, "%s", err.msg);
	return 0;
}

/* So are the machine's default drives' ids (ide1-cd0, floppy0, sd0).  QEMU
 * 7.2 aborts when a node took one ("Unexpected error in monitor_add_blk()"
 * and a core dump): qimg says so as an error. */
static int add_default_names(const struct tool *t, struct drive_set *set)
{
	struct qimg_error err = { 0 };
	int i;

	for (i = 0; i < set->n; i++)
		if (set->v[i].is_default &&
		    qimg_node_names_add_device(t->names, set->v[i].id, &err) <
			    0)
			return drive_fail(t, NULL, "%s", err.msg);
	return 0;
}

int drive_set_open(const struct tool *t, struct drive_set *set)
{
	struct perm_state *ps = drive_perm_new();
	const struct drive_machine *m = set->machine;
	char cd_id[32];
	int i, r;

	if (!ps)
		return drive_fail(t, NULL, "Out of memory");
	/* The default cdrom is index 2 of the IDE interface. */
	snprintf(cd_id, sizeof(cd_id), "ide%d-cd%d", 2 / m->ide_units,
		 2 % m->ide_units);
	for (i = 0; i < set->n; i++) {
		struct drive *d = &set->v[i];

		if (drive_prepare(t, set, i)) {
			drive_perm_free(ps);
			return 1;
		}
		if (d->empty)
			r = 0;
		else if (d->snapshot)
			r = open_snapshot(t, d);
		else
			r = open_image(t, d, d->readonly ? 0 : QIMG_OPEN_RDWR,
				       cache_of(d), &d->node);
		if (r == 0 && !d->empty && d->throttle_limits)
			r = open_throttle(t, d);
		if (r == 0)
			r = add_device_name(t, d);
		if (r || (!d->empty && drive_perm_open(t, ps, d))) {
			drive_perm_free(ps);
			return 1;
		}
	}
	drive_set_done_parsing(set);
	if (!set->nodefaults &&
	    (add_default(set, DRIVE_IF_IDE, 2 / m->ide_units, 2 % m->ide_units,
			 true, cd_id) ||
	     (m->default_floppy &&
	      add_default(set, DRIVE_IF_FLOPPY, 0, 0, false, "floppy0")) ||
	     add_default(set, DRIVE_IF_SD, 0, 0, false, "sd0")))
		r = drive_fail(t, NULL, "Out of memory");
	else
		r = add_default_names(t, set);
	if (r == 0)
		r = check_devices(t, set, ps);
	drive_perm_free(ps);
	return r;
}

void drive_set_free(struct drive_set *set)
{
	struct qimg_error err = { 0 };

	for (int i = 0; i < set->n; i++) {
		struct drive *d = &set->v[i];

		if (d->node) {
			if (!d->readonly && !d->snapshot)
				(void)qimg_flush(d->node, &err);
			qimg_close(d->node);
		}
		free(d->where);
		free(d->id);
		free(d->detect_zeroes);
		free(d->file);
		free(d->node_name);
		free(d->werror);
		free(d->throttle_limits);
		free(d->throttle_group);
		free(d->rerror);
		free(d->block_opts);
		free(d->overlay);
	}
	drive_set_done_parsing(set);
	free(set->v);
	free(set->rest);
	memset(set, 0, sizeof(*set));
}
