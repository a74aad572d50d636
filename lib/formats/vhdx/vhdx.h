/* SPDX-License-Identifier: MIT */
/* VHDX (MS-VHDX v1.0) as qemu-img 7.2 reads and writes it: private
 * layout constants and the open image's state, shared by vhdx.c (open,
 * read, write, info, check), create.c and log.c (the metadata log). */
#ifndef QIMG_FORMATS_VHDX_VHDX_H
#define QIMG_FORMATS_VHDX_VHDX_H

#include <stdbool.h>
#include <stdint.h>

#include "core/driver.h"
#include "formats/table-cache.h"

#define VHDX_MIB (UINT64_C(1) << 20)
#define VHDX_SECTOR 512u
#define VHDX_LOG_SECTOR 4096u

/* The fixed area: file identifier, two headers, two region tables. */
#define VHDX_HEADER1_OFF (64u * 1024)
#define VHDX_HEADER2_OFF (128u * 1024)
#define VHDX_RT1_OFF (192u * 1024)
#define VHDX_RT2_OFF (256u * 1024)
#define VHDX_HEADER_SIZE 4096u
#define VHDX_RT_SIZE (64u * 1024)
#define VHDX_RT_MAX_ENTRIES 2047u
#define VHDX_META_TABLE_SIZE (64u * 1024)
#define VHDX_META_MAX_ENTRIES 2047u
#define VHDX_META_MAX_ITEM VHDX_MIB

/* Header fields. */
#define VHDX_H_SIG 0
#define VHDX_H_CRC 4
#define VHDX_H_SEQ 8
#define VHDX_H_FILE_GUID 16
#define VHDX_H_DATA_GUID 32
#define VHDX_H_LOG_GUID 48
#define VHDX_H_LOG_VERSION 64
#define VHDX_H_VERSION 66
#define VHDX_H_LOG_LEN 68
#define VHDX_H_LOG_OFF 72

/* Block sizes and the largest disk qemu-img takes. */
#define VHDX_BLOCK_MIN VHDX_MIB
#define VHDX_BLOCK_MAX (256u * 1024 * 1024)
#define VHDX_MAX_SIZE (UINT64_C(64) << 40)

/* BAT entry states (bits 0-2) and the offset (bits 20-63). */
#define VHDX_BAT_STATE(e) ((unsigned int)((e)&7))
#define VHDX_BAT_OFFSET(e) ((e) & ~UINT64_C(0xfffff))
#define VHDX_PAYLOAD_NOT_PRESENT 0u
#define VHDX_PAYLOAD_UNDEFINED 1u
#define VHDX_PAYLOAD_ZERO 2u
#define VHDX_PAYLOAD_UNMAPPED 3u
#define VHDX_PAYLOAD_UNMAPPED_V095 5u
#define VHDX_PAYLOAD_FULLY_PRESENT 6u
#define VHDX_PAYLOAD_PARTIALLY_PRESENT 7u

/* File parameter flags. */
#define VHDX_PARAMS_LEAVE_ALLOCATED 0x1u
#define VHDX_PARAMS_HAS_PARENT 0x2u

/* Metadata entry flags. */
#define VHDX_META_IS_USER 0x1u
#define VHDX_META_IS_VIRTUAL_DISK 0x2u
#define VHDX_META_IS_REQUIRED 0x4u

/* Region and metadata item GUIDs, as stored. */
extern const uint8_t vhdx_guid_bat[16];
extern const uint8_t vhdx_guid_metadata[16];
extern const uint8_t vhdx_guid_file_params[16];
extern const uint8_t vhdx_guid_disk_size[16];
extern const uint8_t vhdx_guid_page83[16];
extern const uint8_t vhdx_guid_logical_sector[16];
extern const uint8_t vhdx_guid_physical_sector[16];
extern const uint8_t vhdx_guid_parent_locator[16];

struct vhdx_state {
	uint64_t file_len; /* the file's length rounded up to 512 (qemu) */
	uint8_t hdr[VHDX_HEADER_SIZE]; /* the current header */
	unsigned int cur_hdr;	       /* its slot: 0 or 1 */

	uint64_t log_off;
	uint32_t log_len;
	uint64_t bat_off;
	uint32_t bat_len;
	uint64_t meta_off;
	uint32_t meta_len;

	uint32_t block_size;
	uint32_t params_flags;
	uint64_t disk_size;
	uint32_t logical_sector;
	uint32_t physical_sector;
	uint8_t page83[16];
	uint64_t size_item; /* file offset of the Virtual Disk Size item */

	uint32_t chunk_ratio; /* payload blocks per sector-bitmap block */
	uint64_t nblocks;     /* payload blocks */
	uint64_t nentries;    /* BAT entries */
	/* The BAT, a page at a time (a 64 TiB disk of 1 MiB blocks has a
	 * 513 MiB BAT); bat_open once it is set up. */
	struct qimg_tcache bat;
	bool bat_open;

	bool data_guid_done; /* the first guest write renewed DataWriteGuid */
	bool log_replayed;   /* open replayed the log (check reports it) */
};

/* BAT index of payload block b. */
static inline uint64_t vhdx_bat_index(const struct vhdx_state *s, uint64_t b)
{
	return b + b / s->chunk_ratio;
}

/* Fill 16 random bytes shaped as an RFC 4122 version 4 UUID. */
int vhdx_guid_generate(uint8_t guid[16], struct qimg_error *err);

/* Set the checksum field (at crc_off) of buf[0..len) to its CRC-32C. */
void vhdx_checksum_set(uint8_t *buf, size_t len, size_t crc_off);
/* Whether the checksum field of buf[0..len) matches. */
bool vhdx_checksum_ok(const uint8_t *buf, size_t len, size_t crc_off);

/* Write the current header into the other slot with the next sequence
 * number (and a new FileWriteGuid / DataWriteGuid when asked, and
 * log_guid as the LogGuid, NULL: zero), flush, and make it current. */
int vhdx_header_update(struct qimg_node *node, bool new_file_guid,
		       bool new_data_guid, const uint8_t *log_guid,
		       struct qimg_error *err);

/* log.c: replay the log the current header names into the file (the node
 * is read-write), then clear its LogGuid in both headers. */
int vhdx_log_replay(struct qimg_node *node, struct qimg_error *err);
/* Whether the current header names a log to replay. */
bool vhdx_log_dirty(const struct vhdx_state *s);

/* create.c */
extern const struct qimg_opt_desc vhdx_create_opts[];
int vhdx_create_validate(const struct qimg_opts *o, struct qimg_error *err);
int vhdx_create(struct qimg_node *file, const struct qimg_opts *o,
		struct qimg_error *err);
/* The block size qemu-img picks for a disk of `size` bytes. */
uint32_t vhdx_default_block_size(uint64_t size);
/* BAT entries of a disk (with qemu's 32-bit count of sector-bitmap
 * entries), for block size bs and 512-byte logical sectors. */
uint64_t vhdx_bat_entries(uint64_t size, uint32_t bs, uint32_t lss);
/* The entries that can hold anything: vhdx_bat_entries, but none for an
 * empty disk (whose BAT region QEMU still sizes for its 32-bit count). */
uint64_t vhdx_bat_used(uint64_t size, uint32_t bs, uint32_t lss);
/* QEMU's largest single request: a BAT region larger than this is one
 * qemu-img can neither write (create) nor read (open). */
#define VHDX_BAT_MAX_BYTES UINT64_C(0x7ffffe00)

#endif
