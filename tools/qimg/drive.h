/* SPDX-License-Identifier: MIT */
/* QEMU's storage command line (-hda…-hdd, -cdrom, -fda/-fdb, -sd, -mtdblock,
 * -pflash, -drive, -snapshot, -nodefaults, a bare image name) resolved as
 * qemu-system-x86_64 7.2 resolves it for its default machine (pc): every
 * drive's interface, bus, unit and id, the default empty drives, and each
 * image opened through the block layer with the drive's cache mode,
 * read-only state and -snapshot overlay.  `qimg drives` prints the result
 * (what QEMU's `info block` shows); `qimg run` serves it to a real guest. */
#ifndef QIMG_TOOL_DRIVE_H
#define QIMG_TOOL_DRIVE_H

#include <stdbool.h>

#include "common.h"

enum drive_if {
	DRIVE_IF_NONE,
	DRIVE_IF_IDE,
	DRIVE_IF_SCSI,
	DRIVE_IF_FLOPPY,
	DRIVE_IF_PFLASH,
	DRIVE_IF_MTD,
	DRIVE_IF_SD,
	DRIVE_IF_VIRTIO,
	DRIVE_IF_XEN,
	DRIVE_IF_COUNT,
};

const char *drive_if_name(enum drive_if type);

struct drive {
	char *where; /* the option as typed: "-drive file=a,if=ide" */
	char *id;    /* given or made: "ide0-hd0", "virtio1", "x" */
	enum drive_if type;
	int bus, unit;
	bool cdrom;	     /* media=cdrom */
	bool is_default;     /* one of the machine's default empty drives */
	bool snapshot;	     /* a temporary overlay takes the writes */
	bool readonly;	     /* read-only=on, or a cdrom */
	bool auto_ro;	     /* writable, but its image opened read-only (QEMU's
		       * auto-read-only: a read-only file, vvfat) */
	bool writeback;	     /* cache.writeback: the guest sees a write cache */
	bool direct;	     /* cache.direct */
	bool no_flush;	     /* cache.no-flush */
	char *detect_zeroes; /* NULL: off */
	bool discard;	     /* discard=unmap: guest discards free space */
	char *werror, *rerror; /* error actions given, or NULL */
	/* throttling.*: the limits ("limits.bps-total=N,..." for a
	 * throttle-group) and the group's name, or NULL: none. */
	char *throttle_limits, *throttle_group;
	unsigned long long thr[13];    /* as info block prints them */
	unsigned long long thr_len[6]; /* burst lengths (bps, .., iops_wr) */
	char *file;		/* the image, NULL: none named by file= */
	bool empty;		/* no image: a cdrom without a disc */
	char *node_name;	/* node-name=, or NULL */
	char *block_opts;	/* the rest, for the block layer ("k=v,...") */
	struct qimg_node *node; /* the image (its overlay with snapshot) */
	char *overlay;		/* the -snapshot overlay's file name */
};

/* A machine whose drives are resolved: pc (i440FX: two IDE buses of two
 * units, a default floppy drive) and q35 (six AHCI ports of one unit, no
 * default floppy). */
struct drive_machine {
	const char *name;
	int ide_buses, ide_units;
	bool default_floppy;
};

/* What the command line says about storage. */
struct drive_set {
	const struct drive_machine *machine; /* -machine (default pc) */
	struct drive *v;
	int n;
	bool snapshot;	 /* -snapshot */
	bool nodefaults; /* -nodefaults */
	/* `qimg run`: the emulator's other arguments, in order, with a NULL
	 * entry where each of v[] stood; then NULL. */
	char **rest;
	int nrest;
	void *lists; /* each drive's options until drive_prepare */
	int nlists;
};

/* Sort the arguments of a qemu-system command line: storage options into
 * *set (in order, each checked and placed as QEMU places it), the others
 * into set->rest (a -machine other than pc is refused).
 * Errors and warnings are printed in QEMU's words with the option as
 * typed in front; returns 0 or 1 (the exit code). */
int drive_set_parse(const struct tool *t, int argc, char **argv,
		    struct drive_set *set);

/* Check and place drive i (QEMU's -drive processing); 0 or 1 (printed). */
int drive_prepare(const struct tool *t, struct drive_set *set, int i);
/* Free what drive_set_parse kept for drive_prepare. */
void drive_set_done_parsing(struct drive_set *set);

/* Open every drive's image (the overlay too under -snapshot), add the
 * machine's default drives and check what the machine's devices refuse.
 * Returns 0 or 1 with the error printed. */
int drive_set_open(const struct tool *t, struct drive_set *set);

/* Close the images (flushing them) and free everything. */
void drive_set_free(struct drive_set *set);

/* The placed drive at (type, bus, unit), or NULL. */
struct drive *drive_at(const struct drive_set *set, enum drive_if type, int bus,
		       int unit);

/* Check and place one drive from its options (drive-parse.c). */
struct kvl;
int drive_new(const struct tool *t, struct drive_set *set, struct drive *d,
	      struct kvl *l);

/* "prog: WHERE: message" on stderr (WHERE: the option as typed, or
 * NULL); returns 1. */
int drive_fail(const struct tool *t, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Image-file permissions between drives (drive-perm.c): taken when a
 * drive opens, and when its device attaches (where: the option to name in
 * an error, or NULL); 0 or 1 with QEMU's error printed. */
struct perm_state;
struct perm_state *drive_perm_new(void);
void drive_perm_free(struct perm_state *ps);
int drive_perm_open(const struct tool *t, struct perm_state *ps,
		    const struct drive *d);
int drive_perm_attach(const struct tool *t, struct perm_state *ps,
		      const struct drive *d, const char *where);

/* A drive as QMP's query-block shows it (drive-json.c); group_setter: the
 * drive whose limits its throttle group has; auto_name: the node name
 * shown when none was given. */
struct qimg_value *drive_to_value(const struct drive *d,
				  const struct drive *group_setter,
				  const char *auto_name);

/* "writeback", "writethrough, direct, ignore flushes", ... */
void drive_cache_mode(const struct drive *d, char *buf, size_t len);

#endif
