/* SPDX-License-Identifier: MIT */
/* The options most commands share (-f, -q, -U, -t, -T, --object,
 * --image-opts, -h): one handler the commands' getopt loops call for what
 * they do not handle themselves, and the -t/-T cache mode check. */
#include <errno.h>
#include <stdio.h>

#include "common.h"

enum tool_shared_status tool_shared_opt(const struct tool *t, int c,
					const char *arg, struct tool_opts *o)
{
	int r;

	switch (c) {
	case 'h':
		tool_print_help(t);
		return TOOL_SHARED_EXIT;
	case 'f':
		o->fmt = arg;
		break;
	case 'q':
		o->quiet = true;
		break;
	case 'U':
		o->force_share = true;
		break;
	case 't':
		o->cache = arg;
		break;
	case 'T':
		o->src_cache = arg;
		break;
	case TOOL_OPT_OBJECT:
		/* Objects are defined as they come: "--object help" ends the
		 * command at once, as in qemu-img. */
		r = tool_object(t, arg);
		if (r)
			return r > 0 ? TOOL_SHARED_EXIT : TOOL_SHARED_ERROR;
		break;
	case TOOL_OPT_IMAGE_OPTS:
		o->image_opts = true;
		break;
	default:
		return TOOL_SHARED_OTHER;
	}
	return TOOL_SHARED_DONE;
}

int tool_parse_cache(const struct tool *t, const char *arg, bool src,
		     enum qimg_cache_mode *mode)
{
	if (!arg || qimg_cache_mode_parse(arg, mode) == 0)
		return 0;
	tool_err(t, "Invalid %scache option: %s", src ? "source " : "", arg);
	return -EINVAL;
}
