/* SPDX-License-Identifier: MIT */
/* The one table of drivers, in probe order, and lookups over it.  This is
 * the only file of lib/core that names format or protocol drivers. */

#include <errno.h>
#include <stdbool.h>
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

/* Formats qemu-img 7.2 has that qimg does not have yet, and whether
 * qemu-img can create them.  Only used to word the refusal. */
static const struct {
	const char *name;
	bool creatable;
} later_formats[] = {
	{ "qcow", true },   { "qed", true },    { "vdi", true },
	{ "vmdk", true },   { "vpc", true },    { "vhdx", true },
	{ "luks", true },   { "parallels", true }, { "dmg", false },
	{ "bochs", false }, { "cloop", false }, { "vvfat", false },
};

int qimg_format_missing_error(const char *format, bool open,
			      struct qimg_error *err)
{
	size_t i;

	for (i = 0; i < sizeof(later_formats) / sizeof(later_formats[0]);
	     i++) {
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
 * refused by name instead of being guessed raw (and read as garbage). */
static bool has(const uint8_t *head, size_t len, size_t off, const void *m,
		size_t n)
{
	return len >= off + n && !memcmp(head + off, m, n);
}

const char *qimg_later_format_probe(const uint8_t *head, size_t len,
				    const char *filename)
{
	size_t fl = filename ? strlen(filename) : 0;

	static const uint8_t vdi_sig[4] = { 0x7f, 0x10, 0xda, 0xbe };
	static const uint8_t luks[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };

	if (has(head, len, 0, "QFI\xfb\0\0\0\x01", 8))
		return "qcow";
	if (has(head, len, 0, "QED\0", 4))
		return "qed";
	if (has(head, len, 0x40, vdi_sig, 4))
		return "vdi";
	if (has(head, len, 0, "KDMV", 4) || has(head, len, 0, "COWD", 4) ||
	    has(head, len, 0, "# Disk DescriptorFile", 21))
		return "vmdk";
	if (has(head, len, 0, "conectix", 8))
		return "vpc";
	if (has(head, len, 0, "vhdxfile", 8))
		return "vhdx";
	if (has(head, len, 0, luks, 6))
		return "luks";
	if (has(head, len, 0, "WithoutFreeSpace", 16) ||
	    has(head, len, 0, "WithouFreSpacExt", 16))
		return "parallels";
	if (has(head, len, 0, "Bochs Virtual HD Image", 22))
		return "bochs";
	if (has(head, len, 0, "#!/bin/sh\n#V2.0 Format\n", 23))
		return "cloop";
	/* dmg has its signature at the end; qemu-img goes by the name. */
	if (fl > 4 && !strcmp(filename + fl - 4, ".dmg"))
		return "dmg";
	return NULL;
}
