/* SPDX-License-Identifier: MIT */
/* qimg's entry point: the top-level options (-h, -V, -T), the --help text
 * (qemu-img's structure, our version and format list) and dispatch to the
 * commands. */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define QIMG_VERSION "0.1.0"

struct command {
	const char *name;
	int (*fn)(const struct tool *t, int argc, char **argv);
};

static const struct command commands[] = {
	{ "amend", cmd_amend },	    { "bench", cmd_bench },
	{ "bitmap", cmd_bitmap },   { "check", cmd_check },
	{ "commit", cmd_commit },   { "compare", cmd_compare },
	{ "convert", cmd_convert }, { "create", cmd_create },
	{ "dd", cmd_dd },	    { "drives", cmd_drives },
	{ "info", cmd_info },	    { "map", cmd_map },
	{ "measure", cmd_measure }, { "snapshot", cmd_snapshot },
	{ "rebase", cmd_rebase },   { "resize", cmd_resize },
	{ "run", cmd_run },
};

static const char help_syntax[] =
	"Command syntax:\n"
	"  amend [--object objectdef] [--image-opts] [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename\n"
	"  bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n] [--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] [-S step_size] [-t cache] [-w] [-U] filename\n"
	"  bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]] [-g granularity] [--object objectdef] [--image-opts | -f fmt] filename bitmap\n"
	"  check [--object objectdef] [--image-opts] [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename\n"
	"  commit [--object objectdef] [--image-opts] [-q] [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p] filename\n"
	"  compare [--object objectdef] [--image-opts] [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2\n"
	"  convert [--object objectdef] [--image-opts] [--target-image-opts] [--target-is-zero] [--bitmaps] [-U] [-C] [-c] [-p] [-q] [-n] [-f fmt] [-t cache] [-T src_cache] [-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] [-l snapshot_param] [-S sparse_size] [-r rate_limit] [-m num_coroutines] [-W] [--salvage] filename [filename2 [...]] output_filename\n"
	"  create [--object objectdef] [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]\n"
	"  dd [--image-opts] [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] [skip=blocks] if=input of=output\n"
	"  info [--object objectdef] [--image-opts] [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename\n"
	"  map [--object objectdef] [--image-opts] [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename\n"
	"  measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [--object objectdef] [--image-opts] [-f fmt] [-l snapshot_param] filename]\n"
	"  snapshot [--object objectdef] [--image-opts] [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename\n"
	"  rebase [--object objectdef] [--image-opts] [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] -b backing_file [-F backing_fmt] filename\n"
	"  resize [--object objectdef] [--image-opts] [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size\n"
	"\n";

static const char help_params[] =
	"Command parameters:\n"
	"  'filename' is a disk image filename\n"
	"  'objectdef' is a QEMU user creatable object definition. See the qemu(1)\n"
	"    manual page for a description of the object properties. The most common\n"
	"    object type is a 'secret', which is used to supply passwords and/or\n"
	"    encryption keys.\n"
	"  'fmt' is the disk image format. It is guessed automatically in most cases\n"
	"  'cache' is the cache mode used to write the output disk image, the valid\n"
	"    options are: 'none', 'writeback' (default, except for convert), 'writethrough',\n"
	"    'directsync' and 'unsafe' (default for convert)\n"
	"  'src_cache' is the cache mode used to read input disk images, the valid\n"
	"    options are the same as for the 'cache' option\n"
	"  'size' is the disk image size in bytes. Optional suffixes\n"
	"    'k' or 'K' (kilobyte, 1024), 'M' (megabyte, 1024k), 'G' (gigabyte, 1024M),\n"
	"    'T' (terabyte, 1024G), 'P' (petabyte, 1024T) and 'E' (exabyte, 1024P)  are\n"
	"    supported. 'b' is ignored.\n"
	"  'output_filename' is the destination disk image filename\n"
	"  'output_fmt' is the destination format\n"
	"  'options' is a comma separated list of format specific options in a\n"
	"    name=value format. Use -o help for an overview of the options supported by\n"
	"    the used format\n"
	"  'snapshot_param' is param used for internal snapshot, format\n"
	"    is 'snapshot.id=[ID],snapshot.name=[NAME]', or\n"
	"    '[ID_OR_NAME]'\n"
	"  '-c' indicates that target image must be compressed (qcow format only)\n"
	"  '-u' allows unsafe backing chains. For rebasing, it is assumed that old and\n"
	"       new backing file match exactly. The image doesn't need a working\n"
	"       backing file before rebasing in this case (useful for renaming the\n"
	"       backing file). For image creation, allow creating without attempting\n"
	"       to open the backing file.\n"
	"  '-h' with or without a command shows this help and lists the supported formats\n"
	"  '-p' show progress of command (only certain commands)\n"
	"  '-q' use Quiet mode - do not print any output (except errors)\n"
	"  '-S' indicates the consecutive number of bytes (defaults to 4k) that must\n"
	"       contain only zeros for qemu-img to create a sparse image during\n"
	"       conversion. If the number of bytes is 0, the source will not be scanned for\n"
	"       unallocated or zero sectors, and the destination image will always be\n"
	"       fully allocated\n"
	"  '--output' takes the format in which the output must be done (human or json)\n"
	"  '-n' skips the target volume creation (useful if the volume is created\n"
	"       prior to running qemu-img)\n"
	"\n"
	"Parameters to bitmap subcommand:\n"
	"  'bitmap' is the name of the bitmap to manipulate, through one or more\n"
	"       actions from '--add', '--remove', '--clear', '--enable', '--disable',\n"
	"       or '--merge source'\n"
	"  '-g granularity' sets the granularity for '--add' actions\n"
	"  '-b source' and '-F src_fmt' tell '--merge' actions to find the source\n"
	"       bitmaps from an alternative file\n"
	"\n"
	"Parameters to check subcommand:\n"
	"  '-r' tries to repair any inconsistencies that are found during the check.\n"
	"       '-r leaks' repairs only cluster leaks, whereas '-r all' fixes all\n"
	"       kinds of errors, with a higher risk of choosing the wrong fix or\n"
	"       hiding corruption that has already occurred.\n"
	"\n"
	"Parameters to convert subcommand:\n"
	"  '--bitmaps' copies all top-level persistent bitmaps to destination\n"
	"  '-m' specifies how many coroutines work in parallel during the convert\n"
	"       process (defaults to 8)\n"
	"  '-W' allow to write to the target out of order rather than sequential\n"
	"\n"
	"Parameters to snapshot subcommand:\n"
	"  'snapshot' is the name of the snapshot to create, apply or delete\n"
	"  '-a' applies a snapshot (revert disk to saved state)\n"
	"  '-c' creates a snapshot\n"
	"  '-d' deletes a snapshot\n"
	"  '-l' lists all snapshots in the given image\n"
	"\n"
	"Parameters to compare subcommand:\n"
	"  '-f' first image format\n"
	"  '-F' second image format\n"
	"  '-s' run in Strict mode - fail on different image size or sector allocation\n"
	"\n"
	"Parameters to dd subcommand:\n"
	"  'bs=BYTES' read and write up to BYTES bytes at a time (default: 512)\n"
	"  'count=N' copy only N input blocks\n"
	"  'if=FILE' read from FILE\n"
	"  'of=FILE' write to FILE\n"
	"  'skip=N' skip N bs-sized blocks at the start of input\n"
	"\n";

static void print_version(const struct tool *t)
{
	printf("%s version " QIMG_VERSION "\n"
	       "Copyright (c) 2025 the qimg developers\n",
	       t->prog);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void tool_print_help(const struct tool *t)
{
	const char **names;
	size_t n, i;

	print_version(t);
	printf("usage: %s [standard options] command [command options]\n"
	       "QEMU disk image utility\n"
	       "\n"
	       "    '-h', '--help'       display this help and exit\n"
	       "    '-V', '--version'    output version information and exit\n"
	       "    '-T', '--trace'      [[enable=]<pattern>][,events=<file>][,file=<file>]\n"
	       "                         specify tracing options\n"
	       "\n",
	       t->prog);
	fputs(help_syntax, stdout);
	fputs(help_params, stdout);

	/* The format list comes from the library's driver table, sorted as
	 * qemu-img sorts its own. */
	fputs("Supported formats:", stdout);
	for (n = 0; qimg_driver_name(n); n++)
		;
	names = calloc(n ? n : 1, sizeof(*names));
	if (names) {
		for (i = 0; i < n; i++)
			names[i] = qimg_driver_name(i);
		qsort(names, n, sizeof(*names), cmp_name);
		for (i = 0; i < n; i++)
			printf(" %s", names[i]);
		free(names);
	}
	fputs("\n\n"
	      "qimg is a reimplementation of qemu-img; see its documentation\n"
	      "for the meaning of every command and option.\n"
	      "Commands qemu-img does not have:\n"
	      "  drives [--object objectdef] [--] qemu-system-options...\n"
	      "  run [--object objectdef] [--] emulator "
	      "[qemu-system-options...]\n",
	      stdout);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "trace", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct tool t = { 0 };
	const char *slash;
	size_t i;
	int c;

	t.prog = argv[0] ? argv[0] : "qimg";
	slash = strrchr(t.prog, '/');
	if (slash)
		t.prog = slash + 1;

	/* A closed pipe must give a write error, not kill us. */
	signal(SIGPIPE, SIG_IGN);

	if (argc < 2)
		return tool_usage(&t, "Not enough arguments");

	while ((c = getopt_long(argc, argv, "+:hVT:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			tool_print_help(&t);
			return 0;
		case 'V':
			print_version(&t);
			return 0;
		case 'T':
			c = tool_trace_arg(&t, optarg);
			if (c)
				return c > 0 ? 0 : 1;
			break;
		default:
			return tool_getopt_error(&t, c, argv);
		}
	}
	if (optind >= argc)
		return 0;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[optind], commands[i].name)) {
			int cargc = argc - optind;
			char **cargv = argv + optind;

			/* Restart getopt for the command's own options. */
			optind = 0;
			t.objects = qimg_objects_new();
			t.names = qimg_node_names_new();
			if (!t.objects || !t.names) {
				qimg_objects_free(t.objects);
				qimg_node_names_unref(t.names);
				tool_err(&t, "out of memory");
				return 1;
			}
			c = commands[i].fn(&t, cargc, cargv);
			qimg_objects_free(t.objects);
			qimg_node_names_unref(t.names);
			return c;
		}
	}
	return tool_usage(&t, "Command not found: %s", argv[optind]);
}
