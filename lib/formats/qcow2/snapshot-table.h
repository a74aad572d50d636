/* SPDX-License-Identifier: MIT */
/* One entry of the qcow2 snapshot table as it is stored
 * (docs/interop/qcow2.txt, "Snapshots"), and its encoder.  Pure data code
 * with no driver state, shared by the driver and the checker. */
#ifndef QIMG_QCOW2_SNAPSHOT_TABLE_H
#define QIMG_QCOW2_SNAPSHOT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define QCOW2_SN_HEADER 40u	 /* fixed part of an entry */
#define QCOW2_SN_MAX_EXTRA 1024u /* longest extra data kept */
#define QCOW2_SN_EXTRA_NOW 24u	 /* the extra data current writers store */
#define QCOW2_SN_MAX_COUNT 65536u

struct qcow2_sn_entry {
	uint64_t l1_offset;
	uint32_t l1_size;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_ns;
	uint32_t vm_state_size32; /* the fixed part's 32-bit field */
	uint32_t extra_size;	  /* extra_data_size as stored */
	uint8_t *extra; /* min(extra_size, QCOW2_SN_MAX_EXTRA) bytes, or NULL */
	uint16_t id_len, name_len;
	char *id, *name; /* NUL-terminated copies */
};

/* Bytes entry `e` takes once encoded (padding included). */
size_t qcow2_sn_encoded_size(const struct qcow2_sn_entry *e);

/* Encode n entries into a new buffer (*buf; free()); *len is what to
 * store: everything but the padding after the last entry.  Every entry
 * gets at least QCOW2_SN_EXTRA_NOW bytes of extra data: a missing 64-bit
 * VM state size is the 32-bit one, a missing disk size is `disk_size`, a
 * missing instruction count is -1 ("none").  Extra data beyond those
 * fields is kept up to QCOW2_SN_MAX_EXTRA bytes.  Returns 0 or -ENOMEM. */
int qcow2_sn_encode(const struct qcow2_sn_entry *e, size_t n,
		    uint64_t disk_size, uint8_t **buf, size_t *len);

/* Free the strings and extra data of n entries (not the array). */
void qcow2_sn_entries_clear(struct qcow2_sn_entry *e, size_t n);

#endif
