/* SPDX-License-Identifier: MIT */
/* Loading a client library on first use (dl.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "protocols/dl.h"

static void load(struct qimg_dl_lib *lib)
{
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	const char *e;
	size_t i;

	if (!h) {
		snprintf(lib->error, sizeof(lib->error),
			 "%s is not available: %s", lib->what, dlerror());
		return;
	}
	for (i = 0; i < lib->n; i++) {
		lib->slots[i] = dlsym(h, lib->names[i]);
		if (!lib->slots[i]) {
			snprintf(lib->error, sizeof(lib->error),
				 "%s is not available: %s lacks %s", lib->what,
				 lib->soname, lib->names[i]);
			return;
		}
	}
	if (lib->init && (e = lib->init()))
		snprintf(lib->error, sizeof(lib->error),
			 "%s is not available: %s", lib->what, e);
}

int qimg_dl_load(struct qimg_dl_lib *lib, struct qimg_error *err)
{
	pthread_mutex_lock(&lib->lock);
	if (!lib->tried) {
		load(lib);
		lib->tried = true;
	}
	pthread_mutex_unlock(&lib->lock);
	if (lib->error[0])
		return qimg_error_set(err, ENOTSUP, "%s", lib->error);
	return 0;
}
