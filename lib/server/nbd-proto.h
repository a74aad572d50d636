/* SPDX-License-Identifier: MIT */
/* NBD wire constants (the NBD protocol document, "fixed newstyle"
 * negotiation, structured replies, metadata contexts).  Everything on the
 * wire is big-endian. */
#ifndef QIMG_NBD_PROTO_H
#define QIMG_NBD_PROTO_H

#include <stdint.h>

/* Negotiation. */
#define NBDS_MAGIC 0x4e42444d41474943ull    /* "NBDMAGIC" */
#define NBDS_IHAVEOPT 0x49484156454f5054ull /* "IHAVEOPT" */
#define NBDS_REP_MAGIC 0x0003e889045565a9ull

#define NBDS_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBDS_FLAG_NO_ZEROES (1u << 1)
#define NBDS_FLAG_C_FIXED_NEWSTYLE (1u << 0)
#define NBDS_FLAG_C_NO_ZEROES (1u << 1)

enum {
	NBDS_OPT_EXPORT_NAME = 1,
	NBDS_OPT_ABORT = 2,
	NBDS_OPT_LIST = 3,
	NBDS_OPT_STARTTLS = 5,
	NBDS_OPT_INFO = 6,
	NBDS_OPT_GO = 7,
	NBDS_OPT_STRUCTURED_REPLY = 8,
	NBDS_OPT_LIST_META_CONTEXT = 9,
	NBDS_OPT_SET_META_CONTEXT = 10,
};

#define NBDS_REP_ERR(n) ((1u << 31) | (n))
enum {
	NBDS_REP_ACK = 1,
	NBDS_REP_SERVER = 2,
	NBDS_REP_INFO = 3,
	NBDS_REP_META_CONTEXT = 4,
	NBDS_REP_ERR_UNSUP = NBDS_REP_ERR(1),
	NBDS_REP_ERR_POLICY = NBDS_REP_ERR(2),
	NBDS_REP_ERR_INVALID = NBDS_REP_ERR(3),
	NBDS_REP_ERR_PLATFORM = NBDS_REP_ERR(4),
	NBDS_REP_ERR_TLS_REQD = NBDS_REP_ERR(5),
	NBDS_REP_ERR_UNKNOWN = NBDS_REP_ERR(6),
	NBDS_REP_ERR_SHUTDOWN = NBDS_REP_ERR(7),
	NBDS_REP_ERR_BLOCK_SIZE_REQD = NBDS_REP_ERR(8),
	NBDS_REP_ERR_TOO_BIG = NBDS_REP_ERR(9),
};

enum {
	NBDS_INFO_EXPORT = 0,
	NBDS_INFO_NAME = 1,
	NBDS_INFO_DESCRIPTION = 2,
	NBDS_INFO_BLOCK_SIZE = 3,
};

/* Transmission flags. */
#define NBDS_TF_HAS_FLAGS (1u << 0)
#define NBDS_TF_READ_ONLY (1u << 1)
#define NBDS_TF_SEND_FLUSH (1u << 2)
#define NBDS_TF_SEND_FUA (1u << 3)
#define NBDS_TF_ROTATIONAL (1u << 4)
#define NBDS_TF_SEND_TRIM (1u << 5)
#define NBDS_TF_SEND_WRITE_ZEROES (1u << 6)
#define NBDS_TF_SEND_DF (1u << 7)
#define NBDS_TF_CAN_MULTI_CONN (1u << 8)
#define NBDS_TF_SEND_CACHE (1u << 10)
#define NBDS_TF_SEND_FAST_ZERO (1u << 11)

/* Transmission. */
#define NBDS_REQUEST_MAGIC 0x25609513u
#define NBDS_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBDS_STRUCTURED_REPLY_MAGIC 0x668e33efu

enum {
	NBDS_CMD_READ = 0,
	NBDS_CMD_WRITE = 1,
	NBDS_CMD_DISC = 2,
	NBDS_CMD_FLUSH = 3,
	NBDS_CMD_TRIM = 4,
	NBDS_CMD_CACHE = 5,
	NBDS_CMD_WRITE_ZEROES = 6,
	NBDS_CMD_BLOCK_STATUS = 7,
};

#define NBDS_CMD_FLAG_FUA (1u << 0)
#define NBDS_CMD_FLAG_NO_HOLE (1u << 1)
#define NBDS_CMD_FLAG_DF (1u << 2)
#define NBDS_CMD_FLAG_REQ_ONE (1u << 3)
#define NBDS_CMD_FLAG_FAST_ZERO (1u << 4)

#define NBDS_REPLY_FLAG_DONE (1u << 0)
enum {
	NBDS_REPLY_TYPE_NONE = 0,
	NBDS_REPLY_TYPE_OFFSET_DATA = 1,
	NBDS_REPLY_TYPE_OFFSET_HOLE = 2,
	NBDS_REPLY_TYPE_BLOCK_STATUS = 5,
	NBDS_REPLY_TYPE_ERROR = (1 << 15) + 1,
	NBDS_REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2,
};

/* Errors on the wire (the protocol's own numbers). */
enum {
	NBDS_EPERM = 1,
	NBDS_EIO = 5,
	NBDS_ENOMEM = 12,
	NBDS_EINVAL = 22,
	NBDS_ENOSPC = 28,
	NBDS_EOVERFLOW = 75,
	NBDS_ENOTSUP = 95,
	NBDS_ESHUTDOWN = 108,
};

/* base:allocation flags. */
#define NBDS_STATE_HOLE (1u << 0)
#define NBDS_STATE_ZERO (1u << 1)

/* Sizes of the fixed parts. */
#define NBDS_REQUEST_SIZE 28
#define NBDS_SIMPLE_REPLY_SIZE 16
#define NBDS_CHUNK_HEADER_SIZE 20

#endif
