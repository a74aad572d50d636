/* SPDX-License-Identifier: MIT */
/* The one table of drivers, in probe order, and lookups over it.  This is
 * the only file of lib/core that names format or protocol drivers. */

#include <string.h>

#include "core/driver.h"
#include "formats/raw.h"
#include "protocols/file.h"
#ifdef QIMG_HAVE_QCOW2
#include "formats/qcow2/qcow2.h"
#endif

static const struct qimg_driver *const drivers[] = {
#ifdef QIMG_HAVE_QCOW2
	&qimg_driver_qcow2,
#endif
	&qimg_driver_raw,
	&qimg_driver_file,
};

const struct qimg_driver *const *qimg_driver_list(size_t *n)
{
	*n = sizeof(drivers) / sizeof(drivers[0]);
	return drivers;
}

const struct qimg_driver *qimg_driver_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (!strcmp(drivers[i]->name, name))
			return drivers[i];
	return NULL;
}

const struct qimg_driver *qimg_driver_probe(const uint8_t *head, size_t len,
					    const char *filename)
{
	const struct qimg_driver *best = NULL;
	int best_score = 0;
	size_t i;

	for (i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
		const struct qimg_driver *d = drivers[i];
		int score;

		if (d->kind != QIMG_DRIVER_FORMAT || !d->probe)
			continue;
		score = d->probe(head, len, filename);
		if (score > best_score) {
			best_score = score;
			best = d;
		}
	}
	return best;
}
