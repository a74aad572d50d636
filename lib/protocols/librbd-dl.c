/* SPDX-License-Identifier: MIT */
/* Loading librados and librbd on first use (librbd-dl.h), through dl.c:
 * librados first, as librbd needs it. */
#define QIMG_LIBRBD_DL_IMPL 1
#include "protocols/dl.h"
#include "protocols/librbd-dl.h"

static struct qimg_librados rados_table;
static struct qimg_librbd rbd_table;
static const char *const rados_names[] = {
#define QIMG_NAME(f) #f,
	QIMG_LIBRADOS_FUNCS(QIMG_NAME)
};
static const char *const rbd_names[] = { QIMG_LIBRBD_FUNCS(QIMG_NAME)
#undef QIMG_NAME
};
_Static_assert(sizeof(rados_table) == sizeof(rados_names) /
					      sizeof(rados_names[0]) *
					      sizeof(void *),
	       "one pointer per name");
_Static_assert(sizeof(rbd_table) == sizeof(rbd_names) / sizeof(rbd_names[0]) *
					    sizeof(void *),
	       "one pointer per name");

static struct qimg_dl_lib rados_lib =
	QIMG_DL_LIB("librados.so.2", "RBD", rados_names, &rados_table, NULL);
static struct qimg_dl_lib rbd_lib =
	QIMG_DL_LIB("librbd.so.1", "RBD", rbd_names, &rbd_table, NULL);

int qimg_librbd_load(struct qimg_error *err)
{
	int r = qimg_dl_load(&rados_lib, err);

	return r < 0 ? r : qimg_dl_load(&rbd_lib, err);
}

const struct qimg_librados *qimg_librados(void)
{
	return &rados_table;
}

const struct qimg_librbd *qimg_librbd(void)
{
	return &rbd_table;
}
