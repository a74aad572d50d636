/* SPDX-License-Identifier: MIT */
/* Creating VHDX images laid out byte for byte as qemu-img 7.2 lays them
 * out (GUIDs and the random first sequence number aside): the log at
 * 1 MiB, the BAT after it, the metadata region after the BAT, payload
 * from 5 MiB past the metadata region's start.  block_state_zero (the
 * default) marks every payload block ZERO; a fixed image is sized for
 * all its blocks and, with block_state_zero=off, has them FULLY_PRESENT. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "formats/vhdx/vhdx.h"
#include "util/endian.h"

const struct qimg_opt_desc vhdx_create_opts[] = {
	{ "size", QIMG_OPT_SIZE, "Virtual disk size; max of 64TB.", NULL },
	{ "log_size", QIMG_OPT_SIZE, "Log size; min 1MB.", "1048576" },
	{ "block_size", QIMG_OPT_SIZE,
	  "Block Size; min 1MB, max 256MB. 0 means auto-calculate based on "
	  "image size.",
	  "0" },
	{ "subformat", QIMG_OPT_STRING,
	  "VHDX format type, can be either 'dynamic' or 'fixed'. Default is "
	  "'dynamic'.",
	  NULL },
	{ "block_state_zero", QIMG_OPT_BOOL,
	  "Force use of payload blocks of type 'ZERO'. Non-standard, but "
	  "default.  Do not set to 'off' when using 'qemu-img convert' with "
	  "subformat=dynamic.",
	  NULL },
	{ NULL, 0, NULL, NULL },
};

/* The creator string of the file identifier, UTF-16LE. */
#define VHDX_CREATOR "QEMU v7.2.22"

uint32_t vhdx_default_block_size(uint64_t size)
{
	if (size > (UINT64_C(32) << 40))
		return 64u << 20;
	if (size > (UINT64_C(100) << 30))
		return 32u << 20;
	if (size > (UINT64_C(1) << 30))
		return 16u << 20;
	return 8u << 20;
}

/* The options as qemu-img turns them into a layout. */
struct layout {
	uint64_t size; /* rounded up to the logical sector */
	uint32_t block_size;
	uint32_t log_size;
	bool fixed, zero;
	uint64_t nentries, bat_off, bat_len, meta_off, data_off;
};

static int parse(const struct qimg_opts *o, struct layout *l,
		 struct qimg_error *err)
{
	const char *sub = qimg_opts_get_str(o, "subformat", "dynamic");
	uint64_t size = qimg_opts_get_u64(o, "size", 0);
	uint64_t log = qimg_opts_get_u64(o, "log_size", VHDX_MIB);
	uint64_t bs = qimg_opts_get_u64(o, "block_size", 0);

	if (size > VHDX_MAX_SIZE)
		return qimg_error_set(err, EINVAL,
				      "Image size too large; max of 64TB");
	if (!strcmp(sub, "dynamic"))
		l->fixed = false;
	else if (!strcmp(sub, "fixed"))
		l->fixed = true;
	else
		return qimg_error_set(err, EINVAL,
				      "Parameter 'subformat' does not accept "
				      "value '%s'",
				      sub);
	l->zero = qimg_opts_get_bool(o, "block_state_zero", true);
	l->size = (size + VHDX_SECTOR - 1) / VHDX_SECTOR * VHDX_SECTOR;

	if (log > UINT32_MAX - VHDX_MIB)
		return qimg_error_set(err, EINVAL,
				      "Log size must be smaller than 4 GB");
	log = (log + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
	if (!log)
		return qimg_error_set(err, EINVAL,
				      "Log size must be a multiple of 1 MB");
	l->log_size = (uint32_t)log;

	if (!bs)
		bs = vhdx_default_block_size(l->size);
	if (bs > VHDX_BLOCK_MAX)
		bs = VHDX_BLOCK_MAX;
	bs = (bs + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
	if (bs & (bs - 1))
		return qimg_error_set(err, EINVAL,
				      "Block size must be a power of two");
	l->block_size = (uint32_t)bs;

	l->nentries = vhdx_bat_entries(l->size, l->block_size, VHDX_SECTOR);
	l->bat_off = VHDX_MIB + l->log_size;
	l->bat_len = (l->nentries * 8 + VHDX_MIB - 1) & ~(VHDX_MIB - 1);
	/* (qemu-img fails the write and leaves the file; qimg makes none) */
	if (l->bat_len > VHDX_BAT_MAX_BYTES)
		return qimg_error_set(err, EIO, "Failed to write the BAT: %s",
				      strerror(EIO));
	l->meta_off = l->bat_off + l->bat_len;
	l->data_off = l->meta_off + 5 * VHDX_MIB;
	return 0;
}

int vhdx_create_validate(const struct qimg_opts *o, struct qimg_error *err)
{
	struct layout l;

	return parse(o, &l, err);
}

static int write_headers(struct qimg_node *file, const struct layout *l,
			 struct qimg_error *err)
{
	uint8_t h[VHDX_HEADER_SIZE] = { 0 };
	uint32_t seq;
	int r;

	memcpy(h, "head", 4);
	if (getrandom(&seq, sizeof(seq), 0) != sizeof(seq))
		return qimg_error_set_errno(err, errno,
					    "Could not generate a sequence "
					    "number");
	r = vhdx_guid_generate(h + VHDX_H_FILE_GUID, err);
	if (r >= 0)
		r = vhdx_guid_generate(h + VHDX_H_DATA_GUID, err);
	if (r < 0)
		return r;
	qimg_store_le16(h + VHDX_H_LOG_VERSION, 0);
	qimg_store_le16(h + VHDX_H_VERSION, 1);
	qimg_store_le32(h + VHDX_H_LOG_LEN, l->log_size);
	qimg_store_le64(h + VHDX_H_LOG_OFF, VHDX_MIB);

	qimg_store_le64(h + VHDX_H_SEQ, seq);
	vhdx_checksum_set(h, sizeof(h), VHDX_H_CRC);
	r = qimg_pwrite(file, VHDX_HEADER1_OFF, h, sizeof(h), err);
	if (r < 0)
		return r;
	qimg_store_le64(h + VHDX_H_SEQ, (uint64_t)seq + 1);
	vhdx_checksum_set(h, sizeof(h), VHDX_H_CRC);
	return qimg_pwrite(file, VHDX_HEADER2_OFF, h, sizeof(h), err);
}

static int write_region_tables(struct qimg_node *file, const struct layout *l,
			       struct qimg_error *err)
{
	uint8_t *t = calloc(1, VHDX_RT_SIZE);
	int r;

	if (!t)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	memcpy(t, "regi", 4);
	qimg_store_le32(t + 8, 2);
	memcpy(t + 16, vhdx_guid_bat, 16);
	qimg_store_le64(t + 32, l->bat_off);
	qimg_store_le32(t + 40, (uint32_t)l->bat_len);
	memcpy(t + 48, vhdx_guid_metadata, 16);
	qimg_store_le64(t + 64, l->meta_off);
	qimg_store_le32(t + 72, (uint32_t)VHDX_MIB);
	vhdx_checksum_set(t, VHDX_RT_SIZE, 4);
	r = qimg_pwrite(file, VHDX_RT1_OFF, t, VHDX_RT_SIZE, err);
	if (r >= 0)
		r = qimg_pwrite(file, VHDX_RT2_OFF, t, VHDX_RT_SIZE, err);
	free(t);
	return r;
}

static void meta_entry(uint8_t *e, const uint8_t *guid, uint32_t off,
		       uint32_t len, uint32_t flags)
{
	memcpy(e, guid, 16);
	qimg_store_le32(e + 16, off);
	qimg_store_le32(e + 20, len);
	qimg_store_le32(e + 24, flags);
}

static int write_metadata(struct qimg_node *file, const struct layout *l,
			  struct qimg_error *err)
{
	const uint32_t vd = VHDX_META_IS_VIRTUAL_DISK | VHDX_META_IS_REQUIRED;
	const uint32_t base = VHDX_META_TABLE_SIZE;
	uint8_t *t = calloc(1, VHDX_META_TABLE_SIZE + 4096);
	uint8_t *items;
	int r;

	if (!t)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	items = t + VHDX_META_TABLE_SIZE;
	memcpy(t, "metadata", 8);
	qimg_store_le16(t + 10, 5);
	meta_entry(t + 32, vhdx_guid_file_params, base, 8,
		   VHDX_META_IS_REQUIRED);
	meta_entry(t + 64, vhdx_guid_disk_size, base + 8, 8, vd);
	meta_entry(t + 96, vhdx_guid_page83, base + 16, 16, vd);
	meta_entry(t + 128, vhdx_guid_logical_sector, base + 32, 4, vd);
	meta_entry(t + 160, vhdx_guid_physical_sector, base + 36, 4, vd);

	qimg_store_le32(items, l->block_size);
	qimg_store_le32(items + 4, l->fixed ? VHDX_PARAMS_LEAVE_ALLOCATED : 0);
	qimg_store_le64(items + 8, l->size);
	r = vhdx_guid_generate(items + 16, err);
	if (r >= 0) {
		qimg_store_le32(items + 32, VHDX_SECTOR);
		qimg_store_le32(items + 36, VHDX_SECTOR);
		r = qimg_pwrite(file, l->meta_off, t,
				VHDX_META_TABLE_SIZE + 4096, err);
	}
	free(t);
	return r;
}

/* The BAT: ZERO payload entries (block_state_zero), FULLY_PRESENT ones of
 * a fixed image, or nothing written at all. */
static int write_bat(struct qimg_node *file, const struct layout *l,
		     struct qimg_error *err)
{
	const size_t chunk = VHDX_MIB;
	uint32_t ratio =
		(uint32_t)((UINT64_C(1) << 23) * VHDX_SECTOR / l->block_size);
	uint64_t nblocks = (l->size + l->block_size - 1) / l->block_size;
	uint64_t done, b = 0;
	uint8_t *buf;
	int r = 0;

	if (!l->zero && !l->fixed)
		return 0;
	buf = malloc(chunk);
	if (!buf)
		return qimg_error_set(err, ENOMEM, "Out of memory");
	/* Up to the last block's entry, on a new file: the rest of the
	 * region, below the metadata already written, reads as zeros. */
	for (done = 0;
	     done < l->bat_len && r >= 0 && (b < nblocks || !file->zero_init);
	     done += chunk) {
		uint64_t first = done / 8, i;

		memset(buf, 0, chunk);
		for (i = first; i < first + chunk / 8 && b < nblocks; i++) {
			uint64_t e;

			if (i != b + b / ratio)
				continue; /* a sector-bitmap entry */
			if (l->zero)
				e = VHDX_PAYLOAD_ZERO;
			else
				e = (l->data_off + b * l->block_size) |
				    VHDX_PAYLOAD_FULLY_PRESENT;
			qimg_store_le64(buf + (i - first) * 8, e);
			b++;
		}
		r = qimg_pwrite(file, l->bat_off + done, buf, chunk, err);
	}
	free(buf);
	return r;
}

int vhdx_create(struct qimg_node *file, const struct qimg_opts *o,
		struct qimg_error *err)
{
	uint8_t ident[4096] = { 0 };
	struct layout l;
	size_t i;
	int r;

	r = parse(o, &l, err);
	if (r < 0)
		return r;
	memcpy(ident, "vhdxfile", 8);
	for (i = 0; VHDX_CREATOR[i]; i++)
		ident[8 + 2 * i] = (uint8_t)VHDX_CREATOR[i];
	r = qimg_pwrite(file, 0, ident, sizeof(ident), err);
	if (r >= 0)
		r = write_headers(file, &l, err);
	if (r >= 0)
		r = write_region_tables(file, &l, err);
	if (r >= 0)
		r = write_metadata(file, &l, err);
	if (r >= 0)
		r = write_bat(file, &l, err);
	if (r >= 0)
		r = qimg_truncate(file, l.data_off + (l.fixed ? l.size : 0), 0,
				  NULL, err);
	if (r >= 0)
		r = qimg_flush(file, err);
	return r;
}
