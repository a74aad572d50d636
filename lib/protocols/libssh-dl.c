/* SPDX-License-Identifier: MIT */
/* Loading libssh on first use (libssh-dl.h), through dl.c. */
#define QIMG_LIBSSH_DL_IMPL 1
#include "protocols/dl.h"
#include "protocols/libssh-dl.h"

static struct qimg_libssh table;
static const char *const names[] = {
#define QIMG_NAME(f) #f,
	QIMG_LIBSSH_FUNCS(QIMG_NAME)
#undef QIMG_NAME
};
_Static_assert(sizeof(table) ==
		       sizeof(names) / sizeof(names[0]) * sizeof(void *),
	       "one pointer per name");

static struct qimg_dl_lib lib =
	QIMG_DL_LIB("libssh.so.4", "SSH", names, &table, NULL);

int qimg_libssh_load(struct qimg_error *err)
{
	return qimg_dl_load(&lib, err);
}

const struct qimg_libssh *qimg_libssh(void)
{
	return &table;
}
