/* SPDX-License-Identifier: MIT */
/* A qemu-system command line sorted: its storage options (-hda..-hdd,
 * -cdrom, -fda, -fdb, -sd, -mtdblock, -pflash, -drive, a bare image name,
 * -snapshot, -nodefaults) into drives, everything else kept in order for
 * the emulator. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/util/keyval.h"
#include "drive-kv.h"

/* qemu-system options that take no argument (the others take one). */
static const char *const flags[] = {
	"h",
	"help",
	"version",
	"S",
	"s",
	"snapshot",
	"nographic",
	"full-screen",
	"win2k-hack",
	"no-fd-bootchk",
	"no-acpi",
	"no-hpet",
	"enable-kvm",
	"no-reboot",
	"no-shutdown",
	"daemonize",
	"only-migratable",
	"nodefaults",
	"no-user-config",
	"nouserconfig",
	"async-teardown",
	"enable-sync-profile",
	"preconfig",
	"usb",
	"singlestep",
	"mem-prealloc",
	"xen-attach",
	"xen-domid-restrict",
	"audio-help",
	"no-quit",
	"alt-grab",
	"ctrl-grab",
	"no-frame",
	"sdl",
	"curses",
	"semihosting",
	"rtc-td-hack",
	"no-kvm-pit-reinjection",
	"no-kvm",
	"no-kvm-irqchip",
	NULL,
};

struct legacy {
	const char *opt;
	const char *fmt; /* the -drive options it stands for */
};

static const struct legacy legacy[] = {
	{ "hda", "index=0,media=disk" },    { "hdb", "index=1,media=disk" },
	{ "hdc", "index=2,media=disk" },    { "hdd", "index=3,media=disk" },
	{ "cdrom", "index=2,media=cdrom" }, { "fda", "if=floppy,index=0" },
	{ "fdb", "if=floppy,index=1" },	    { "sd", "if=sd,index=0" },
	{ "mtdblock", "if=mtd,index=0" },   { "pflash", "if=pflash" },
};

static struct drive *new_drive(struct drive_set *set, const char *where)
{
	struct drive *v = realloc(set->v, (size_t)(set->n + 1) * sizeof(*v));

	if (!v)
		return NULL;
	set->v = v;
	v = &set->v[set->n];
	memset(v, 0, sizeof(*v));
	v->type = DRIVE_IF_COUNT; /* not placed yet */
	v->bus = v->unit = -1;
	v->where = strdup(where);
	return v->where ? v : NULL;
}

static int keep(struct drive_set *set, char *arg)
{
	char **r = realloc(set->rest, (size_t)(set->nrest + 2) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	set->rest = r;
	r[set->nrest++] = arg;
	r[set->nrest] = NULL;
	return 0;
}

/* An id QEMU takes: a letter, then letters, digits, '-', '.', '_'. */
static int check_id(const struct tool *t, const char *where,
		    struct drive_set *set, int upto, const char *id)
{
	if (!qimg_kv_is_identifier(id))
		return drive_fail(
			t, where,
			"Parameter 'id' expects an identifier\n"
			"Identifiers consist of letters, digits, '-', "
			"'.', '_', starting with a letter.");
	for (int i = 0; i < upto; i++) {
		const char *o = set->v[i].id;

		if (o && !strcmp(o, id))
			return drive_fail(t, where,
					  "Duplicate ID '%s' for drive", id);
	}
	return 0;
}

/* -object definitions the images may need (secrets, TLS credentials,
 * throttle groups) qimg makes too; the emulator gets every one. */
static bool qimg_knows_object(const char *val)
{
	static const char *const types[] = {
		"secret",	  "secret_keyring",
		"tls-creds-x509", "tls-creds-psk",
		"throttle-group", "authz-list",
		"authz-simple",	  NULL,
	};
	const char *ty = val, *p;
	size_t n;

	if ((p = strstr(val, "qom-type=")) && (p == val || p[-1] == ','))
		ty = p + 9;
	n = strcspn(ty, ",");
	for (int i = 0; types[i]; i++)
		if (strlen(types[i]) == n && !strncmp(ty, types[i], n))
			return true;
	return false;
}

static const struct drive_machine machines[] = {
	{ "pc", 2, 2, true },
	{ "q35", 6, 1, false },
};

/* -machine's type: pc or q35, or one of their versions (pc-i440fx-7.2,
 * pc-q35-7.2); NULL for another machine. */
static const struct drive_machine *machine_of(const char *val)
{
	const char *ty = val, *p;
	size_t n;

	if ((p = strstr(val, "type=")) && (p == val || p[-1] == ','))
		ty = p + 5;
	else if (strchr(val, '=') && strchr(val, '=') < strchrnul(val, ','))
		return &machines[0]; /* properties only: the default machine */
	n = strcspn(ty, ",");
	if ((n == 2 && !strncmp(ty, "pc", 2)) ||
	    !strncmp(ty, "pc-i440fx-", 10) || !strncmp(ty, "pc-1.", 5))
		return &machines[0];
	if ((n == 3 && !strncmp(ty, "q35", 3)) || !strncmp(ty, "pc-q35-", 7))
		return &machines[1];
	return NULL;
}

int drive_set_parse(const struct tool *t, int argc, char **argv,
		    struct drive_set *set)
{
	struct kvl *lists = NULL;
	int i, r = 0, npflash = 0;

	memset(set, 0, sizeof(*set));
	set->machine = &machines[0];
	lists = calloc((size_t)argc + 1, sizeof(*lists));
	if (!lists)
		return drive_fail(t, NULL, "Out of memory");
	/* First the whole command line, as QEMU reads it: each drive's text
	 * split (and its id checked) in order. */
	for (i = 0; i < argc && r == 0; i++) {
		const char *a = argv[i], *o = a + 1, *val = NULL;
		struct drive *d;
		char where[4096];
		size_t j;

		if (a[0] != '-' || !a[1]) {
			/* A bare image name: the first hard disk. */
			d = new_drive(set, a);
			if (!d ||
			    kvl_split(t, a, "index=0,media=disk",
				      &lists[set->n]) ||
			    kvl_add(&lists[set->n], "file", 4, a)) {
				r = drive_fail(t, NULL, "Out of memory");
				break;
			}
			set->n++;
			keep(set, NULL);
			continue;
		}
		if (o[0] == '-')
			o++;
		for (j = 0; flags[j] && strcmp(flags[j], o); j++)
			;
		if (flags[j]) {
			/* -snapshot is qimg's to apply; the rest is the
			 * emulator's (-nodefaults too: it is also about other
			 * devices). */
			if (!strcmp(o, "snapshot")) {
				set->snapshot = true;
				continue;
			}
			if (!strcmp(o, "nodefaults"))
				set->nodefaults = true;
			if (keep(set, argv[i]))
				r = drive_fail(t, NULL, "Out of memory");
			continue;
		}
		if (i + 1 >= argc) {
			r = drive_fail(t, NULL, "%s: requires an argument", a);
			break;
		}
		val = argv[++i];
		snprintf(where, sizeof(where), "%s %s", a, val);
		for (j = 0; j < sizeof(legacy) / sizeof(legacy[0]); j++)
			if (!strcmp(o, legacy[j].opt))
				break;
		if (j < sizeof(legacy) / sizeof(legacy[0]) ||
		    !strcmp(o, "drive")) {
			struct kvl *l = &lists[set->n];
			char idx[32];

			d = new_drive(set, where);
			if (!d) {
				r = drive_fail(t, NULL, "Out of memory");
				break;
			}
			if (!strcmp(o, "drive")) {
				if (kvl_split(t, d->where, val, l))
					r = drive_fail(t, NULL,
						       "Out of memory");
			} else {
				kvl_split(t, d->where, legacy[j].fmt, l);
				if (!strcmp(o, "pflash")) {
					snprintf(idx, sizeof(idx), "%d",
						 npflash++);
					kvl_add(l, "index", 5, idx);
				}
				kvl_add(l, "file", 4, val);
			}
			if (r == 0 && kvl_get(l, "id")) {
				r = check_id(t, d->where, set, set->n,
					     kvl_get(l, "id"));
				d->id = strdup(kvl_get(l, "id"));
			}
			set->n++;
			keep(set, NULL);
			continue;
		}
		if ((!strcmp(o, "M") || !strcmp(o, "machine")) &&
		    !(set->machine = machine_of(val)))
			r = drive_fail(t, where,
				       "qimg resolves drives for the pc and "
				       "q35 machines only");
		else if (!strcmp(o, "object") && qimg_knows_object(val) &&
			 tool_object(t, val))
			r = 1;
		else if (keep(set, argv[i - 1]) || keep(set, argv[i]))
			r = drive_fail(t, NULL, "Out of memory");
	}
	set->lists = lists;
	set->nlists = argc + 1;
	return r;
}

int drive_prepare(const struct tool *t, struct drive_set *set, int i)
{
	struct kvl *l = &((struct kvl *)set->lists)[i];

	free(set->v[i].id);
	set->v[i].id = NULL;
	/* -snapshot is every drive's snapshot=on unless it says otherwise. */
	if (set->snapshot && !kvl_get(l, "snapshot") &&
	    kvl_add(l, "snapshot", 8, "on"))
		return drive_fail(t, NULL, "Out of memory");
	return drive_new(t, set, &set->v[i], l);
}

void drive_set_done_parsing(struct drive_set *set)
{
	struct kvl *lists = set->lists;

	for (int i = 0; lists && i < set->nlists; i++)
		kvl_free(&lists[i]);
	free(lists);
	set->lists = NULL;
	set->nlists = 0;
}
