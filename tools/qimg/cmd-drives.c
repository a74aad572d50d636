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

/* The node name info block shows: node-name=, or one of qimg's own in
 * QEMU's form (its counter and two more digits). */
static void node_name(const struct drive *d, int seq, char *buf, size_t len)
{
	if (d->node_name)
		snprintf(buf, len, "%s", d->node_name);
	else
		snprintf(buf, len, "#block%d%02d", seq * 2 + 1,
			 (seq * 37 + 11) % 100);
}

static void print_drive(const struct drive_set *set, const struct drive *d,
			int seq)
{
	char nn[256];

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
	node_name(d, seq, nn, sizeof(nn));
	printf("%s (%s): %s (%s%s%s)\n", d->id, nn, name ? name : "?",
	       qimg_node_format(img), d->readonly ? ", read-only" : "",
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

static int print_json(const struct drive_set *set)
{
	struct qimg_value *list = qimg_value_list();
	char nn[256];
	int seq = 0;

	for (int j = 0; list && j < set->n; j++) {
		const struct drive *d = &set->v[j];
		struct qimg_value *v;

		node_name(d, d->node ? seq++ : seq, nn, sizeof(nn));
		v = drive_to_value(
			d, d->throttle_limits ? group_setter(set, d) : NULL,
			nn);
		if (!v || qimg_list_append(list, v)) {
			qimg_value_free(list);
			list = NULL;
		}
	}
	if (!list) {
		fprintf(stderr, "qimg: Out of memory\n");
		return 1;
	}
	qimg_value_print_json(stdout, list, 0);
	printf("\n");
	qimg_value_free(list);
	return 0;
}

static void usage(const struct tool *t)
{
	(void)t;
	printf("usage: qimg drives [--object objectdef] [--output=ofmt] [--] "
	       "qemu-system-options...\n"
	       "\n"
	       "Resolve the storage options of a qemu-system-x86_64 command "
	       "line (-hda..-hdd,\n"
	       "-cdrom, -fda, -fdb, -drive, -snapshot, -nodefaults, a bare "
	       "image name) for the\n"
	       "pc or q35 machine (-M) as QEMU 7.2 does, open every image, "
	       "and print the drives\n"
	       "as QEMU's monitor command 'info block' shows them "
	       "(--output=json: as QMP's\n"
	       "query-block).  Other options are ignored.\n");
}

int cmd_drives(const struct tool *t, int argc, char **argv)
{
	struct drive_set set;
	bool json = false;
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
		if (!strncmp(argv[i], "--output=", 9) ||
		    (!strcmp(argv[i], "--output") && i + 1 < argc)) {
			const char *o =
				argv[i][8] == '=' ? argv[i] + 9 : argv[++i];

			if (tool_parse_output(t, o, &json))
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
	if (r == 0 && json)
		r = print_json(&set);
	else if (r == 0)
		for (int j = 0, seq = 0; j < set.n; j++) {
			if (j)
				printf("\n");
			print_drive(&set, &set.v[j],
				    set.v[j].node ? seq++ : seq);
		}
	drive_set_free(&set);
	return r;
}
