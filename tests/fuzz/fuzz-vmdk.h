/* SPDX-License-Identifier: MIT */
/* What fuzz-vmdk and fuzz-vmdk-rw take: monolithic files only. */
#ifndef QIMG_FUZZ_VMDK_H
#define QIMG_FUZZ_VMDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz-common.h"

static uint64_t fuzz_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* A hosted sparse header with a capacity (or its directory at the end)
 * or a COWD header: the file is the one extent.  Anything else would be
 * read as a descriptor naming files. */
static bool fuzz_vmdk_monolithic(const uint8_t *data, size_t size)
{
	if (size < 64)
		return false;
	if (!memcmp(data, "COWD", 4))
		return true;
	if (memcmp(data, "KDMV", 4))
		return false;
	return fuzz_le64(data + 12) != 0 || fuzz_le64(data + 56) == UINT64_MAX;
}

#endif
