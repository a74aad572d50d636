/* SPDX-License-Identifier: MIT */
/* CRC-32C (Castagnoli), as VHDX checksums its headers, region tables and
 * log entries: reflected polynomial 0x82F63B78, initial value 0xFFFFFFFF,
 * final complement. */
#ifndef QIMG_UTIL_CRC32C_H
#define QIMG_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC-32C: start with crc = 0 for a fresh checksum; the result
 * of one call can be passed to the next for data in pieces. */
uint32_t qimg_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
