/* SPDX-License-Identifier: MIT */
/* Loading libiscsi on first use (libiscsi-dl.h), through dl.c. */
#define QIMG_LIBISCSI_DL_IMPL 1
#include "protocols/dl.h"
#include "protocols/libiscsi-dl.h"

static struct qimg_libiscsi table;
static const char *const names[] = {
#define QIMG_NAME(f) #f,
	QIMG_LIBISCSI_FUNCS(QIMG_NAME)
#undef QIMG_NAME
};
_Static_assert(sizeof(table) ==
		       sizeof(names) / sizeof(names[0]) * sizeof(void *),
	       "one pointer per name");

static struct qimg_dl_lib lib =
	QIMG_DL_LIB("libiscsi.so.7", "iSCSI", names, &table, NULL);

int qimg_libiscsi_load(struct qimg_error *err)
{
	return qimg_dl_load(&lib, err);
}

const struct qimg_libiscsi *qimg_libiscsi(void)
{
	return &table;
}
