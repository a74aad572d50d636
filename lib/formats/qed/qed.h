/* SPDX-License-Identifier: MIT */
/* QED (QEMU Enhanced Disk) images: private declarations shared by the
 * driver's files.  Layout (little endian): a 64-byte header in the first
 * header_size clusters (the backing file name follows it there), an L1
 * table of table_size clusters, L2 tables of the same size, data
 * clusters; L2 entry 0 = unallocated, 1 = zero cluster, else the host
 * offset of the cluster. */
#ifndef QIMG_FORMATS_QED_H
#define QIMG_FORMATS_QED_H

#include <stdbool.h>
#include <stdint.h>

#include "core/driver.h"
#include "formats/table-cache.h"

#define QED_MAGIC "QED\0"
#define QED_HEADER_LEN 64u
#define QED_MIN_CLUSTER 4096u
#define QED_MAX_CLUSTER (64u * 1024 * 1024)
#define QED_DEFAULT_CLUSTER 65536u
#define QED_MAX_TABLE 16u
#define QED_DEFAULT_TABLE 4u

#define QED_F_BACKING_FILE 0x1u
#define QED_F_NEED_CHECK 0x2u
#define QED_F_BACKING_FORMAT_NO_PROBE 0x4u
#define QED_F_ALL                                                              \
	(QED_F_BACKING_FILE | QED_F_NEED_CHECK | QED_F_BACKING_FORMAT_NO_PROBE)

#define QED_ZERO_CLUSTER 1u

/* Header field offsets. */
#define QED_OFF_CLUSTER 4
#define QED_OFF_TABLE 8
#define QED_OFF_HEADER 12
#define QED_OFF_FEATURES 16
#define QED_OFF_COMPAT 24
#define QED_OFF_AUTOCLEAR 32
#define QED_OFF_L1 40
#define QED_OFF_SIZE 48
#define QED_OFF_BACKING_OFF 56
#define QED_OFF_BACKING_LEN 60

#define QED_L2_CACHE 8	/* L2 tables cached */
#define QED_L2_PAGES 16 /* and 64 KiB pages of each: 8 MiB at most */

struct qed_header {
	uint32_t cluster_size;
	uint32_t table_size;
	uint32_t header_size;
	uint64_t features;
	uint64_t compat_features;
	uint64_t autoclear_features;
	uint64_t l1_table_offset;
	uint64_t image_size;
	uint32_t backing_off;
	uint32_t backing_len;
};

/* An L2 table, read a page at a time (a table is up to 16 MiB in an
 * image that can hold data, 1 GiB in an empty one: 64 MiB clusters, 16
 * per table). */
struct qed_l2_slot {
	uint64_t off; /* 0: empty */
	uint64_t used;
	bool init; /* tc initialised */
	struct qimg_tcache tc;
};

/* SERIAL driver: the core holds node->lock around every call. */
struct qed_state {
	struct qimg_node *file;
	struct qed_header h;
	uint32_t cluster_bits;
	uint64_t table_bytes; /* table_size * cluster_size */
	uint64_t entries;     /* entries per table */
	struct qimg_tcache l1;
	bool l1_init;
	uint64_t file_size; /* allocation end, cluster aligned */
	struct qed_l2_slot cache[QED_L2_CACHE];
	uint64_t tick;
	bool read_only;
	bool need_check_set; /* we set NEED_CHECK and must clear it */
};

extern const struct qimg_opt_desc qed_create_opts[];

/* qed.c */
void qed_header_store(const struct qed_header *h, uint8_t *buf);
uint64_t qed_max_image_size(uint32_t cluster_size, uint32_t table_size);
bool qed_cluster_ok(const struct qed_state *s, uint64_t off);
bool qed_table_ok(const struct qed_state *s, uint64_t off);
/* L1 entry i (the offset of an L2 table or 0). */
int qed_l1_get(struct qed_state *s, uint64_t i, uint64_t *l2off,
	       struct qimg_error *err);
/* The L2 table at `off` (cached; owned by the cache). */
int qed_l2_get(struct qed_state *s, uint64_t off, struct qimg_tcache **out,
	       struct qimg_error *err);
/* Drop a table from the cache (after a check rewrote it on disk). */
void qed_l2_forget(struct qed_state *s, uint64_t off);
int qed_write_header(struct qed_state *s, struct qimg_error *err);

/* write.c */
int qed_write(struct qimg_node *node, uint64_t off, const void *buf, size_t len,
	      struct qimg_error *err);
int qed_write_zeroes(struct qimg_node *node, uint64_t off, uint64_t len,
		     unsigned int flags, struct qimg_error *err);
int qed_flush(struct qimg_node *node, struct qimg_error *err);
int qed_truncate(struct qimg_node *node, uint64_t size, unsigned flags,
		 const char *prealloc, struct qimg_error *err);
int qed_change_backing(struct qimg_node *node, const char *file,
		       const char *fmt, struct qimg_error *err);
/* Clear NEED_CHECK (after everything else reached the disk). */
int qed_mark_clean(struct qed_state *s, struct qimg_error *err);

/* check.c */
int qed_check(struct qimg_node *node, unsigned int fix,
	      struct qimg_check_result *res, qimg_report_fn report,
	      void *opaque, struct qimg_error *err);
int qed_check_run(struct qed_state *s, uint64_t image_size, bool fix,
		  struct qimg_check_result *res, struct qimg_error *err);

/* create.c */
int qed_create_validate(const struct qimg_opts *o, struct qimg_error *err);
int qed_create(struct qimg_node *file, const struct qimg_opts *o,
	       struct qimg_error *err);

extern const struct qimg_driver qimg_driver_qed;

#endif
