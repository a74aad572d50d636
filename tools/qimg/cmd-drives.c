/* SPDX-License-Identifier: MIT */
/* qimg drives [--object OBJ] [--] QEMU-ARGS...: the drives a qemu-system
 * command line gives the guest, as QEMU's monitor shows them (`info
 * block`), opened and checked as QEMU would open them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qimg/info.h"
#include "drive.h"

/* A throttle group's limits are the last drive's that names it. */
static const struct drive *group_setter(const struct drive_set *set,
					const struct drive *d)
{
	const struct drive *last = d;

	for (int i = 0; i < set->n; i++)
		if (set->v[i].throttle_group && set->v[i].throttle_limits &&
		    !strcmp(set->v[i].throttle_group, d->throttle_group))
			last = &set->v[i];
	return last;
}

static void print_drive(const struct drive_set *set, const struct drive *d,
			int seq)
{
	struct qimg_node *img = d->node ? qimg_node_image(d->node) : NULL;
	bool removable = d->cdrom || d->type == DRIVE_IF_FLOPPY ||
			 d->type == DRIVE_IF_SD || d->type == DRIVE_IF_NONE;
	struct qimg_image_info info = { 0 };
	struct qimg_error err = { 0 };
	char cache[64], *name;
	int depth = 0;

	if (!img) {
		printf("%s: [not inserted]\n", d->id);
		if (removable)
			printf("    Removable device: not locked, tray closed\n");
		return;
	}
	name = qimg_node_display_name(img);
	(void)qimg_get_image_info(img, &info, &err);
	printf("%s (", d->id);
	if (d->node_name)
		printf("%s", d->node_name);
	else
		printf("#block%d%02d", seq * 2 + 1, (seq * 37 + 11) % 100);
	printf("): %s (%s%s%s)\n", name ? name : "?", qimg_node_format(img),
	       d->readonly ? ", read-only" : "",
	       info.encrypted ? ", encrypted" : "");
	free(name);
	if (removable)
		printf("    Removable device: not locked, tray closed\n");
	drive_cache_mode(d, cache, sizeof(cache));
	printf("    Cache mode:       %s\n", cache);
	for (struct qimg_node *b = qimg_node_backing(img); b;
	     b = qimg_node_backing(qimg_node_image(b)))
		depth++;
	if (depth) {
		struct qimg_node *b = qimg_node_image(qimg_node_backing(img));
		char *bname = qimg_node_display_name(b);

		printf("    Backing file:     %s (chain depth: %d)\n",
		       bname ? bname : "?", depth);
		free(bname);
	}
	if (d->detect_zeroes)
		printf("    Detect zeroes:    %s\n", d->detect_zeroes);
	if (d->throttle_limits) {
		const struct drive *g = group_setter(set, d);

		printf("    I/O throttling:   bps=%llu bps_rd=%llu bps_wr=%llu "
		       "bps_max=%llu bps_rd_max=%llu bps_wr_max=%llu iops=%llu "
		       "iops_rd=%llu iops_wr=%llu iops_max=%llu "
		       "iops_rd_max=%llu iops_wr_max=%llu iops_size=%llu "
		       "group=%s\n",
		       g->thr[0], g->thr[1], g->thr[2], g->thr[3], g->thr[4],
		       g->thr[5], g->thr[6], g->thr[7], g->thr[8], g->thr[9],
		       g->thr[10], g->thr[11], g->thr[12], d->throttle_group);
	}
	qimg_image_info_free(&info);
}

static void usage(const struct tool *t)
{
	(void)t;
	printf("usage: qimg drives [--object objectdef] [--] "
	       "qemu-system-options...\n"
	       "\n"
	       "Resolve the storage options of a qemu-system-x86_64 command "
	       "line (-hda..-hdd,\n"
	       "-cdrom, -fda, -fdb, -drive, -snapshot, -nodefaults, a bare "
	       "image name) for the\n"
	       "pc machine as QEMU 7.2 does, open every image, and print the "
	       "drives as QEMU's\n"
	       "monitor command 'info block' shows them.  Other options are "
	       "ignored.\n");
}

int cmd_drives(const struct tool *t, int argc, char **argv)
{
	struct drive_set set;
	int i = 1, r;

	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(t);
			return 0;
		}
		if (!strcmp(argv[i], "--object") && i + 1 < argc) {
			if (tool_object(t, argv[++i]))
				return 1;
			continue;
		}
		if (!strncmp(argv[i], "--object=", 9)) {
			if (tool_object(t, argv[i] + 9))
				return 1;
			continue;
		}
		break;
	}
	r = drive_set_parse(t, argc - i, argv + i, &set);
	if (r == 0)
		r = drive_set_open(t, &set);
	if (r == 0)
		for (int j = 0, seq = 0; j < set.n; j++) {
			if (j)
				printf("\n");
			print_drive(&set, &set.v[j],
				    set.v[j].node ? seq++ : seq);
		}
	drive_set_free(&set);
	return r;
}
