/* SPDX-License-Identifier: MIT */
/* Loading libcurl on first use (libcurl-dl.h), through dl.c. */
#define QIMG_LIBCURL_DL_IMPL 1
#include "protocols/dl.h"
#include "protocols/libcurl-dl.h"

static struct qimg_libcurl table;
static const char *const names[] = {
#define QIMG_NAME(f) #f,
	QIMG_LIBCURL_FUNCS(QIMG_NAME)
#undef QIMG_NAME
};
_Static_assert(sizeof(table) ==
		       sizeof(names) / sizeof(names[0]) * sizeof(void *),
	       "one pointer per name");

/* Once per process, before any handle and before other threads use
 * libcurl (this runs under the loader's lock). */
static const char *curl_init(void)
{
	return table.curl_global_init(CURL_GLOBAL_ALL) != 0
		       ? "curl_global_init failed"
		       : NULL;
}

static struct qimg_dl_lib lib =
	QIMG_DL_LIB("libcurl-gnutls.so.4", "curl", names, &table, curl_init);

int qimg_libcurl_load(struct qimg_error *err)
{
	return qimg_dl_load(&lib, err);
}

const struct qimg_libcurl *qimg_libcurl(void)
{
	return &table;
}
