/* SPDX-License-Identifier: MIT */
/* Loading libcurl on first use (libcurl-dl.h).  The table is written
 * once, under pthread_once, and only read after. */
#define QIMG_LIBCURL_DL_IMPL 1
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "protocols/libcurl-dl.h"

#define SONAME "libcurl-gnutls.so.4"

static struct qimg_libcurl table;
static char load_error[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	void *h = dlopen(SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(load_error, sizeof(load_error),
			 "curl is not available: %s", dlerror());
		return;
	}
#define LOAD(f)                                                                \
	if (!load_error[0] && !(*(void **)&table.f = dlsym(h, #f)))            \
		snprintf(load_error, sizeof(load_error),                       \
			 "curl is not available: " SONAME " lacks " #f);
	QIMG_LIBCURL_FUNCS(LOAD)
#undef LOAD
	/* Once per process, before any handle and before other threads use
	 * libcurl (this runs under pthread_once). */
	if (!load_error[0] && table.curl_global_init(CURL_GLOBAL_ALL) != 0)
		snprintf(load_error, sizeof(load_error),
			 "curl is not available: curl_global_init failed");
}

int qimg_libcurl_load(struct qimg_error *err)
{
	pthread_once(&once, load);
	if (load_error[0])
		return qimg_error_set(err, ENOTSUP, "%s", load_error);
	return 0;
}

const struct qimg_libcurl *qimg_libcurl(void)
{
	return &table;
}
