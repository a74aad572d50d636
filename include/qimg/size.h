/* SPDX-License-Identifier: MIT */
/* Size arguments ("1.5G", "0x1000", "64k") and human-readable sizes
 * ("64 MiB"), byte for byte as qemu-img parses and prints them. */
#ifndef QIMG_SIZE_H
#define QIMG_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Result codes of qimg_parse_size. */
#define QIMG_SIZE_OK 0
#define QIMG_SIZE_INVALID (-22) /* -EINVAL: bad syntax */
#define QIMG_SIZE_RANGE (-34)	/* -ERANGE: does not fit in 64 bits */

/* Parse a size as qemu_strtosz does (reference §1.9): optional leading
 * whitespace and '+', decimal or 0x hex, optional fraction (only with a
 * suffix other than b/B), one optional suffix bBkKmMgGtTpPeE (default unit
 * 1), nothing after.  *hex_suffix_warning is set to 1 when a suffix follows a
 * hex number (the caller prints the deprecation warning; qemu-img prints it
 * even when the result is then invalid or out of range, e.g. "0x1kz").
 * Returns QIMG_SIZE_OK / QIMG_SIZE_INVALID / QIMG_SIZE_RANGE. */
int qimg_parse_size(const char *str, uint64_t *out, int *hex_suffix_warning);

/* Format like qemu's size_to_str ("0 B", "1.5 KiB", "1e+03 KiB", "64 MiB")
 * into buf (at least 32 bytes). Returns buf. */
char *qimg_human_size(uint64_t val, char *buf, size_t buflen);

#endif
