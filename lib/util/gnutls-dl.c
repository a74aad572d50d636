/* SPDX-License-Identifier: MIT */
/* Loading GnuTLS on first use (gnutls-dl.h), through dl.c. */
#define QIMG_GNUTLS_DL_IMPL 1
#include "protocols/dl.h"
#include "util/gnutls-dl.h"

static struct qimg_gnutls table;
static const char *const names[] = {
#define QIMG_NAME(f) #f,
	QIMG_GNUTLS_FUNCS(QIMG_NAME)
#undef QIMG_NAME
};
_Static_assert(sizeof(table) ==
		       sizeof(names) / sizeof(names[0]) * sizeof(void *),
	       "one pointer per name");

static struct qimg_dl_lib lib =
	QIMG_DL_LIB("libgnutls.so.30", "GnuTLS", names, &table, NULL);

int qimg_gnutls_load(struct qimg_error *err)
{
	return qimg_dl_load(&lib, err);
}

const struct qimg_gnutls *qimg_gnutls(void)
{
	return &table;
}
