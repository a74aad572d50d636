/* SPDX-License-Identifier: MIT */
/* Loading libnbd on first use (libnbd-dl.h), through dl.c. */
#define QIMG_LIBNBD_DL_IMPL 1
#include "protocols/dl.h"
#include "protocols/libnbd-dl.h"

static struct qimg_libnbd table;
static const char *const names[] = {
#define QIMG_NAME(f) #f,
	QIMG_LIBNBD_FUNCS(QIMG_NAME)
#undef QIMG_NAME
};
_Static_assert(sizeof(table) ==
		       sizeof(names) / sizeof(names[0]) * sizeof(void *),
	       "one pointer per name");

static struct qimg_dl_lib lib =
	QIMG_DL_LIB("libnbd.so.0", "NBD", names, &table, NULL);

int qimg_libnbd_load(struct qimg_error *err)
{
	return qimg_dl_load(&lib, err);
}

const struct qimg_libnbd *qimg_libnbd(void)
{
	return &table;
}
