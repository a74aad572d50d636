/* SPDX-License-Identifier: MIT */
/* qimg-nbd: serve an image over NBD, as qemu-nbd 7.2 does (its options,
 * messages and exit codes).  The main thread listens (a TCP port or a
 * unix socket) and accepts up to -e clients at a time; each client gets a
 * thread that negotiates and serves it (lib/server/).  Without -t the
 * server ends when its last client leaves; SIGTERM, SIGINT and SIGHUP end
 * it at any time: the clients' sockets are shut, what they had sent is
 * served, the image is flushed and closed. */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd.h"
#include "util/object-json.h"
#include "util/object-types.h"

static void usage_hint(const struct nbd_tool *nt, bool prefix)
{
	fprintf(stderr, "%s%sTry `%s --help' for more information.\n",
		prefix ? nt->prog : "", prefix ? ": " : "", nt->argv0);
}

static void print_help(const struct nbd_tool *nt)
{
	printf("Usage: %s [OPTIONS] FILE\n"
	       "Export a disk image over the Network Block Device protocol.\n"
	       "\n"
	       "  -h, --help                this text\n"
	       "  -V, --version             the version\n"
	       "\n"
	       "Where clients connect:\n"
	       "  -p, --port=PORT           TCP port (10809)\n"
	       "  -b, --bind=IFACE          address to listen on (0.0.0.0)\n"
	       "  -k, --socket=PATH         a unix socket instead\n"
	       "  -e, --shared=NUM          clients served at once (1; 0: any)\n"
	       "  -t, --persistent          keep serving after the last "
	       "client leaves\n"
	       "  -v, --verbose             say more\n"
	       "  -x, --export-name=NAME    the export's name (\"\")\n"
	       "  -D, --description=TEXT    the export's description\n"
	       "\n"
	       "What is exported:\n"
	       "  -o, --offset=OFFSET       start the export there\n"
	       "  -A, --allocation-depth    offer qemu:allocation-depth\n"
	       "  -B, --bitmap=NAME         offer the persistent dirty "
	       "bitmap NAME\n"
	       "\n"
	       "General:\n"
	       "  -L, --list                list the exports of the server "
	       "at -k or -b/-p\n"
	       "  --object secret,id=ID,... a secret (encryption keys)\n"
	       "  --tls-creds=ID            TLS with the credentials object "
	       "ID\n"
	       "  --tls-authz=ID            the clients TLS lets in (an authz "
	       "object)\n"
	       "  --tls-hostname=NAME       -L: the name the server's "
	       "certificate must\n"
	       "                            have (default: -b's)\n"
	       "  --fork                    run in the background once "
	       "listening\n"
	       "  --pid-file=PATH           write the server's process ID "
	       "there\n"
	       "\n"
	       "The image:\n"
	       "  -f, --format=FORMAT       its format (probed if absent)\n"
	       "  -r, --read-only           refuse writes\n"
	       "  -s, --snapshot            writes go to a temporary overlay, "
	       "dropped at exit\n"
	       "  -l, --load-snapshot=SNAPSHOT_PARAM\n"
	       "                            export an internal snapshot, "
	       "read-only\n"
	       "                            ('snapshot.id=ID,snapshot.name="
	       "NAME' or 'ID_OR_NAME')\n"
	       "  -n, --nocache             the same as --cache=none\n"
	       "      --cache=MODE          none, writeback (default), "
	       "writethrough,\n"
	       "                            directsync or unsafe\n"
	       "      --aio=MODE            threads, native or io_uring\n"
	       "      --discard=MODE        ignore (default) or unmap\n"
	       "      --detect-zeroes=MODE  off (default), on or unmap\n"
	       "      --image-opts          FILE is a set of image options\n",
	       nt->argv0);
}

enum {
	OPT_OBJECT = 256,
	OPT_CACHE,
	OPT_AIO,
	OPT_DISCARD,
	OPT_DETECT_ZEROES,
	OPT_IMAGE_OPTS,
	OPT_FORK,
	OPT_PID_FILE,
	OPT_TLS_CREDS,
	OPT_TLS_AUTHZ,
	OPT_TLS_HOSTNAME,
	OPT_SELINUX_LABEL,
};

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "bind", required_argument, NULL, 'b' },
	{ "port", required_argument, NULL, 'p' },
	{ "socket", required_argument, NULL, 'k' },
	{ "offset", required_argument, NULL, 'o' },
	{ "read-only", no_argument, NULL, 'r' },
	{ "allocation-depth", no_argument, NULL, 'A' },
	{ "bitmap", required_argument, NULL, 'B' },
	{ "connect", required_argument, NULL, 'c' },
	{ "disconnect", no_argument, NULL, 'd' },
	{ "list", no_argument, NULL, 'L' },
	{ "snapshot", no_argument, NULL, 's' },
	{ "load-snapshot", required_argument, NULL, 'l' },
	{ "nocache", no_argument, NULL, 'n' },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "aio", required_argument, NULL, OPT_AIO },
	{ "discard", required_argument, NULL, OPT_DISCARD },
	{ "detect-zeroes", required_argument, NULL, OPT_DETECT_ZEROES },
	{ "shared", required_argument, NULL, 'e' },
	{ "format", required_argument, NULL, 'f' },
	{ "persistent", no_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "object", required_argument, NULL, OPT_OBJECT },
	{ "export-name", required_argument, NULL, 'x' },
	{ "description", required_argument, NULL, 'D' },
	{ "tls-creds", required_argument, NULL, OPT_TLS_CREDS },
	{ "tls-authz", required_argument, NULL, OPT_TLS_AUTHZ },
	{ "tls-hostname", required_argument, NULL, OPT_TLS_HOSTNAME },
	{ "image-opts", no_argument, NULL, OPT_IMAGE_OPTS },
	{ "trace", required_argument, NULL, 'T' },
	{ "fork", no_argument, NULL, OPT_FORK },
	{ "pid-file", required_argument, NULL, OPT_PID_FILE },
	{ "selinux-label", required_argument, NULL, OPT_SELINUX_LABEL },
	{ NULL, 0, NULL, 0 },
};

/* --tls-creds, --tls-authz and --tls-hostname together, in qemu-nbd's
 * order: a list (-L) is a client's (its credentials a client endpoint's,
 * no authz, a host name to check the server's certificate against), a
 * server's are a server endpoint's, never for -c. */
static int tls_args(struct nbd_tool *nt)
{
	const struct nbd_opts *o = &nt->o;

	if (o->tls_authz && !o->tls_creds) {
		nbd_err(nt, "--tls-authz is not permitted without "
			    "--tls-creds");
		return -EINVAL;
	}
	if (!o->tls_creds) {
		if (o->tls_hostname) {
			nbd_err(nt, "--tls-hostname is not permitted without "
				    "--tls-creds");
			return -EINVAL;
		}
		return 0;
	}
	if (o->device) {
		nbd_err(nt, "TLS is not supported with a host device");
		return -EINVAL;
	}
	if (o->tls_authz && o->list) {
		nbd_err(nt, "TLS authorization is incompatible with export "
			    "list");
		return -EINVAL;
	}
	if (o->tls_hostname && !o->list) {
		nbd_err(nt, "TLS hostname is only supported with export list");
		return -EINVAL;
	}
	return nbd_tls_setup(nt);
}

/* One --object, to the table (JSON as it is: the table checks its values'
 * JSON types), which checks every object's id against the others'; TLS
 * credentials are then loaded here too. */
static int object_arg(struct nbd_tool *nt, const char *def)
{
	struct qimg_error err = { 0 };
	char *text = NULL;
	int r;

	r = tool_object(&nt->t, def);
	if (r != 0)
		return r;
	if (def[0] == '{') {
		r = qimg_object_json_text(def, &text, &err);
		if (r < 0) {
			free(text);
			return 0; /* the table took it: no TLS credentials */
		}
		def = text;
	}
	if (nbd_tls_is_object(def))
		r = nbd_tls_object(nt, def);
	free(text);
	return r;
}

/* Parse the command line into nt->o; 0 to serve, 2 to list (-L), 3 to
 * disconnect a device (-d), 1 to exit 0 (help, version), negative to exit
 * 1 (message printed). */
static int parse_args(struct nbd_tool *nt, int argc, char **argv)
{
	struct nbd_opts *o = &nt->o;
	bool seen_cache = false, seen_discard = false;
	char *end;
	long v;
	int c, r;

	o->port = "10809";
	o->shared = 1;
	o->export_name = "";
	while ((c = getopt_long(argc, argv,
				"hVb:o:p:rsnc:dvk:e:f:tl:x:T:D:AB:L", long_opts,
				NULL)) != -1) {
		switch (c) {
		case 'h':
			print_help(nt);
			return 1;
		case 'V':
			printf("%s %s\n", nt->prog, QIMG_NBD_VERSION);
			return 1;
		case 'b':
			o->bind = optarg;
			break;
		case 'p':
			o->port = optarg;
			break;
		case 'k':
			o->socket = optarg;
			break;
		case 'o':
			r = nbd_parse_offset(nt, optarg, &o->offset);
			if (r < 0)
				return r;
			break;
		case 'r':
			o->readonly = true;
			break;
		case 'A':
			o->allocation_depth = true;
			break;
		case 'B':
			if (o->nbitmaps == QIMG_NBD_MAX_BITMAPS) {
				nbd_err(nt, "Too many bitmaps (at most %d)",
					QIMG_NBD_MAX_BITMAPS);
				return -EINVAL;
			}
			o->bitmaps[o->nbitmaps++] = optarg;
			break;
		case 'c':
			o->device = optarg;
			break;
		case 'd':
			o->disconnect = true;
			break;
		case 'L':
			o->list = true;
			break;
		case 's':
			o->snapshot = true;
			break;
		case 'l':
			o->load_snapshot = optarg;
			o->readonly = true;
			break;
		case 'n':
			optarg = "none";
			__attribute__((fallthrough));
		case OPT_CACHE:
			if (seen_cache) {
				nbd_err(nt, "-n and --cache can only be "
					    "specified once");
				return -EINVAL;
			}
			seen_cache = true;
			if (qimg_cache_mode_parse(optarg, &o->cache) < 0) {
				nbd_err(nt, "Invalid cache mode `%s'", optarg);
				return -EINVAL;
			}
			break;
		case OPT_AIO:
			if (strcmp(optarg, "threads") &&
			    strcmp(optarg, "native") &&
			    strcmp(optarg, "io_uring")) {
				nbd_err(nt, "Invalid aio mode '%s'", optarg);
				return -EINVAL;
			}
			o->aio = optarg;
			break;
		case OPT_DISCARD:
			seen_discard = true;
			if (!strcmp(optarg, "ignore") || !strcmp(optarg, "off"))
				o->discard = false;
			else if (!strcmp(optarg, "unmap") ||
				 !strcmp(optarg, "on"))
				o->discard = true;
			else {
				nbd_err(nt, "Invalid discard mode `%s'",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_DETECT_ZEROES:
			if (!strcmp(optarg, "off"))
				o->detect_zeroes = QIMG_NBD_DZ_OFF;
			else if (!strcmp(optarg, "on"))
				o->detect_zeroes = QIMG_NBD_DZ_ON;
			else if (!strcmp(optarg, "unmap"))
				o->detect_zeroes = QIMG_NBD_DZ_UNMAP;
			else {
				nbd_err(nt,
					"Failed to parse detect_zeroes mode: "
					"invalid parameter value: %s",
					optarg);
				return -EINVAL;
			}
			if (o->detect_zeroes == QIMG_NBD_DZ_UNMAP &&
			    !o->discard) {
				nbd_err(nt, "setting detect-zeroes to unmap is "
					    "not allowed without setting "
					    "discard operation to unmap");
				return -EINVAL;
			}
			break;
		case 'e':
			errno = 0;
			v = strtol(optarg, &end, 0);
			/* 0: any number of clients */
			if (errno || *end || v < 0 || v > INT_MAX) {
				nbd_err(nt, "Invalid shared device number '%s'",
					optarg);
				return -EINVAL;
			}
			o->shared = (int)v;
			break;
		case 'f':
			o->fmt = optarg;
			break;
		case 't':
			o->persistent = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case OPT_OBJECT:
			r = object_arg(nt, optarg);
			if (r)
				return r > 0 ? 1 : r;
			break;
		case 'x':
			o->export_name = optarg;
			break;
		case 'D':
			o->description = optarg;
			break;
		case OPT_TLS_CREDS:
			o->tls_creds = optarg;
			break;
		case OPT_TLS_AUTHZ:
			o->tls_authz = optarg;
			break;
		case OPT_TLS_HOSTNAME:
			o->tls_hostname = optarg;
			break;
		case OPT_IMAGE_OPTS:
			o->image_opts = true;
			break;
		case 'T':
			r = tool_trace_arg(&nt->t, optarg);
			if (r)
				return r > 0 ? 1 : -EINVAL;
			break;
		case OPT_SELINUX_LABEL:
			break; /* SELinux: nothing to set */
		case OPT_FORK:
			o->fork = true;
			break;
		case OPT_PID_FILE:
			o->pid_file = optarg;
			break;
		default:
			/* getopt printed what was wrong */
			usage_hint(nt, true);
			return -EINVAL;
		}
	}
	if (o->list) {
		if (argc != optind) {
			nbd_err(nt, "List mode is incompatible with a file "
				    "name");
			return -EINVAL;
		}
		if (*o->export_name || o->description || o->offset ||
		    o->device || o->disconnect || o->fmt || o->load_snapshot ||
		    o->nbitmaps || o->allocation_depth || o->aio ||
		    seen_discard || seen_cache || o->readonly || o->snapshot ||
		    o->image_opts) {
			nbd_err(nt, "List mode is incompatible with per-device "
				    "settings");
			return -EINVAL;
		}
		if (o->fork) {
			nbd_err(nt, "List mode is incompatible with forking");
			return -EINVAL;
		}
	} else {
		if (argc - optind != 1) {
			nbd_err(nt, "Invalid number of arguments");
			usage_hint(nt, false);
			return -EINVAL;
		}
		o->file = argv[optind];
	}
	r = tls_args(nt);
	if (r < 0)
		return r;
	if (o->list)
		return 2;
	if (o->tls_authz) {
		r = nbd_tls_authz_setup(nt);
		if (r < 0)
			return r;
	}
	if (o->disconnect)
		return 3; /* FILE is the device */
	if (o->image_opts && o->fmt) {
		nbd_err(nt, "--image-opts and -f are mutually exclusive");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct nbd_tool nt;
	const char *slash = strrchr(argv[0], '/');
	int r;

	memset(&nt, 0, sizeof(nt));
	nt.argv0 = argv[0];
	nt.prog = slash ? slash + 1 : argv[0];
	nt.t.prog = nt.prog;
	nt.t.objects = qimg_objects_new();
	nt.t.names = qimg_node_names_new();
	if (!nt.t.objects || !nt.t.names) {
		qimg_objects_free(nt.t.objects);
		qimg_node_names_unref(nt.t.names);
		nbd_err(&nt, "Out of memory");
		return 1;
	}
	qimg_objects_set_tool(nt.t.objects, QIMG_OBJECT_TOOL_NBD);
	r = parse_args(&nt, argc, argv);
	if (r == 2)
		r = nbd_list(&nt);
	else if (r == 3)
		r = nbd_kernel_disconnect(&nt, nt.o.file);
	else if (r == 0)
		r = nbd_run(&nt);
	nbd_tls_free(&nt);
	qimg_objects_free(nt.t.objects);
	qimg_node_names_unref(nt.t.names);
	return r < 0 ? 1 : 0;
}
