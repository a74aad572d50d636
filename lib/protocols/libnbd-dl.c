/* SPDX-License-Identifier: MIT */
/* Loading libnbd on first use (libnbd-dl.h).  The table is written once,
 * under pthread_once, and only read after. */
#define QIMG_LIBNBD_DL_IMPL 1
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "protocols/libnbd-dl.h"

#define SONAME "libnbd.so.0"

static struct qimg_libnbd table;
static char load_error[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	void *h = dlopen(SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(load_error, sizeof(load_error),
			 "NBD is not available: %s", dlerror());
		return;
	}
#define LOAD(f)                                                                \
	if (!load_error[0] && !(*(void **)&table.f = dlsym(h, #f)))            \
		snprintf(load_error, sizeof(load_error),                       \
			 "NBD is not available: " SONAME " lacks " #f);
	QIMG_LIBNBD_FUNCS(LOAD)
#undef LOAD
}

int qimg_libnbd_load(struct qimg_error *err)
{
	pthread_once(&once, load);
	if (load_error[0])
		return qimg_error_set(err, ENOTSUP, "%s", load_error);
	return 0;
}

const struct qimg_libnbd *qimg_libnbd(void)
{
	return &table;
}
