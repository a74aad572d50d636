/* SPDX-License-Identifier: MIT */
/* Loading libgfapi on first use (gluster-dl.h), through dl.c. */
#define QIMG_GLUSTER_DL_IMPL 1
#include "protocols/dl.h"
#include "protocols/gluster-dl.h"

static struct qimg_gfapi gfapi_table;
static const char *const gfapi_names[] = {
#define QIMG_NAME(f) #f,
	QIMG_GFAPI_FUNCS(QIMG_NAME)
#undef QIMG_NAME
};
_Static_assert(sizeof(gfapi_table) == sizeof(gfapi_names) /
					      sizeof(gfapi_names[0]) *
					      sizeof(void *),
	       "one pointer per name");

static struct qimg_dl_lib gfapi_lib = QIMG_DL_LIB(
	"libgfapi.so.0", "GlusterFS", gfapi_names, &gfapi_table, NULL);

int qimg_gfapi_load(struct qimg_error *err)
{
	return qimg_dl_load(&gfapi_lib, err);
}

const struct qimg_gfapi *qimg_gfapi(void)
{
	return &gfapi_table;
}
