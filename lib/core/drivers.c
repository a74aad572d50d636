/* SPDX-License-Identifier: MIT */
/* The one table of drivers, in probe order, and lookups over it.  This is
 * the only file of lib/core that names format or protocol drivers. */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/driver.h"
#include "formats/blklogwrites.h"
#include "formats/bochs.h"
#include "formats/cloop.h"
#include "formats/compress.h"
#include "formats/copy-before-write.h"
#include "formats/copy-on-read.h"
#include "formats/dmg.h"
#include "formats/luks.h"
#include "formats/parallels.h"
#include "formats/preallocate.h"
#include "formats/qcow.h"
#include "formats/qed/qed.h"
#include "formats/raw.h"
#include "formats/replication.h"
#include "formats/snapshot-access.h"
#include "formats/throttle.h"
#include "formats/vdi.h"
#include "formats/vhdx.h"
#include "formats/vmdk/vmdk.h"
#include "formats/vpc.h"
#include "protocols/blkdebug.h"
#include "protocols/blkverify.h"
#include "protocols/curl.h"
#include "protocols/file.h"
#include "protocols/iscsi.h"
#include "protocols/nbd.h"
#include "protocols/nfs.h"
#include "protocols/rbd.h"
#include "protocols/null.h"
#include "protocols/vvfat.h"
#include "protocols/quorum.h"
#include "protocols/ssh.h"
#ifdef QIMG_HAVE_QCOW2
#include "formats/qcow2/qcow2.h"
#endif
#ifdef QIMG_HAVE_GLUSTER
#include "protocols/gluster.h"
#endif

static const struct qimg_driver *const drivers[] = {
#ifdef QIMG_HAVE_QCOW2
	&qimg_driver_qcow2,
#endif
	&qimg_driver_raw,
	&qimg_driver_file,
	&qimg_driver_host_device,
	&qimg_driver_host_cdrom,
	&qimg_driver_blkdebug,
	&qimg_driver_nbd,
	&qimg_driver_ssh,
	&qimg_driver_null_co,
	&qimg_driver_null_aio,
	&qimg_driver_quorum,
	&qimg_driver_bochs,
	&qimg_driver_vdi,
	&qimg_driver_qed,
	&qimg_driver_vhdx,
	&qimg_driver_dmg,
	&qimg_driver_vmdk,
	&qimg_driver_qcow,
	&qimg_driver_parallels,
	&qimg_driver_vpc,
	&qimg_driver_cloop,
	&qimg_driver_luks,
	&qimg_driver_http,
	&qimg_driver_https,
	&qimg_driver_ftp,
	&qimg_driver_ftps,
	&qimg_driver_iscsi,
	&qimg_driver_iser,
	&qimg_driver_throttle,
	&qimg_driver_nfs,
	&qimg_driver_compress,
	&qimg_driver_preallocate,
	&qimg_driver_copy_on_read,
	&qimg_driver_blkverify,
	&qimg_driver_blklogwrites,
	&qimg_driver_vvfat,
	&qimg_driver_rbd,
	&qimg_driver_copy_before_write,
	&qimg_driver_snapshot_access,
	&qimg_driver_replication,
#ifdef QIMG_HAVE_GLUSTER
	&qimg_driver_gluster,
#endif
};

const struct qimg_driver *const *qimg_driver_list(size_t *n)
{
	*n = sizeof(drivers) / sizeof(drivers[0]);
	return drivers;
}

const char *qimg_driver_name(size_t i)
{
	return i < sizeof(drivers) / sizeof(drivers[0]) ? drivers[i]->name
							: NULL;
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

bool qimg_qemu_driver_name(const char *name, bool schema)
{
	/* QEMU's that qimg has not: nvme needs VFIO; blkreplay (a record
	 * and replay run) is in the schema, not in qemu-img */
	if (!strcmp(name, "nvme"))
		return true;
	if (!strcmp(name, "blkreplay"))
		return schema;
	if (schema && !strcmp(name, "iser"))
		return false;
	return qimg_driver_find(name) != NULL;
}

/* Formats qemu-img 7.2 has that qimg does not have yet, and whether
 * qemu-img can create them.  Only used to word the refusal. */
static const struct {
	const char *name;
	bool creatable;
} later_formats[] = {
	{ "vvfat", false },
};

int qimg_format_missing_error(const char *format, bool open,
			      struct qimg_error *err)
{
	size_t i;

	for (i = 0; i < sizeof(later_formats) / sizeof(later_formats[0]); i++) {
		if (strcmp(later_formats[i].name, format))
			continue;
		if (!open && !later_formats[i].creatable)
			return qimg_error_set(err, ENOTSUP,
					      "Format driver '%s' does not "
					      "support image creation",
					      format);
		return qimg_error_set(err, ENOTSUP,
				      "Format '%s' is not supported yet",
				      format);
	}
	if (open)
		return qimg_error_set(err, EINVAL, "Unknown driver '%s'",
				      format);
	return qimg_error_set(err, EINVAL, "Unknown file format '%s'", format);
}

/* Signatures of the formats above, so that an image of one of them is
 * refused by name instead of being guessed raw (and read as garbage).  None
 * left: vvfat is a directory, not a signature. */
const char *qimg_later_format_probe(const uint8_t *head, size_t len,
				    const char *filename)
{
	(void)head;
	(void)len;
	(void)filename;
	return NULL;
}
