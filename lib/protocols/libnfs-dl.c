/* SPDX-License-Identifier: MIT */
/* Loading libnfs on first use (libnfs-dl.h), through dl.c. */
#define QIMG_LIBNFS_DL_IMPL 1
#include "protocols/dl.h"
#include "protocols/libnfs-dl.h"

static struct qimg_libnfs table;
static const char *const names[] = {
#define QIMG_NAME(f) #f,
	QIMG_LIBNFS_FUNCS(QIMG_NAME)
#undef QIMG_NAME
};
_Static_assert(sizeof(table) ==
		       sizeof(names) / sizeof(names[0]) * sizeof(void *),
	       "one pointer per name");

static struct qimg_dl_lib lib =
	QIMG_DL_LIB("libnfs.so.13", "NFS", names, &table, NULL);

int qimg_libnfs_load(struct qimg_error *err)
{
	return qimg_dl_load(&lib, err);
}

const struct qimg_libnfs *qimg_libnfs(void)
{
	return &table;
}
