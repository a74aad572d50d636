/* SPDX-License-Identifier: MIT */
/* Loading libiscsi on first use (libiscsi-dl.h).  The table is written
 * once, under pthread_once, and only read after. */
#define QIMG_LIBISCSI_DL_IMPL 1
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "protocols/libiscsi-dl.h"

#define SONAME "libiscsi.so.7"

static struct qimg_libiscsi table;
static char load_error[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	void *h = dlopen(SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(load_error, sizeof(load_error),
			 "iSCSI is not available: %s", dlerror());
		return;
	}
#define LOAD(f)                                                                \
	if (!load_error[0] && !(*(void **)&table.f = dlsym(h, #f)))            \
		snprintf(load_error, sizeof(load_error),                       \
			 "iSCSI is not available: " SONAME " lacks " #f);
	QIMG_LIBISCSI_FUNCS(LOAD)
#undef LOAD
}

int qimg_libiscsi_load(struct qimg_error *err)
{
	pthread_once(&once, load);
	if (load_error[0])
		return qimg_error_set(err, ENOTSUP, "%s", load_error);
	return 0;
}

const struct qimg_libiscsi *qimg_libiscsi(void)
{
	return &table;
}
