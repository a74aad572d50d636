/* SPDX-License-Identifier: MIT */
/* One NBD client connection: what negotiation agreed on, and the
 * transport with its send lock (replies of parallel requests never
 * interleave). */
#ifndef QIMG_NBD_CONN_H
#define QIMG_NBD_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "qimg/nbd-server.h"
#include "server/nbd-proto.h"

/* Largest request payload (qemu-nbd's too): bigger reads are refused,
 * bigger writes end the connection (their payload cannot be skipped
 * safely). */
#define NBDS_MAX_PAYLOAD (32u << 20)
/* Largest option a client may send during negotiation. */
#define NBDS_MAX_OPTION (64u << 10)
/* Bytes of request payload in flight per connection before the reader
 * waits for replies (bounded memory whatever the client does). */
#define NBDS_MAX_INFLIGHT (64u << 20)

/* Metadata contexts, by id (the id is the index). */
enum nbds_ctx {
	NBDS_CTX_ALLOCATION,
	NBDS_CTX_DEPTH,
	NBDS_CTX_BITMAP, /* bitmap i of the export: NBDS_CTX_BITMAP + i */
	NBDS_NCTX = NBDS_CTX_BITMAP + QIMG_NBD_MAX_BITMAPS,
};

struct nbds_conn {
	const struct qimg_nbd_export *exp;
	struct qimg_nbd_io *io;
	bool no_zeroes;	 /* client asked NBD_FLAG_C_NO_ZEROES */
	bool structured; /* structured replies negotiated */
	bool tls;	 /* the TLS session is up */
	bool ctx[NBDS_NCTX];
	pthread_mutex_t send_lock;
	int send_error; /* first failed send: the connection is over */
};

/* Negotiation: 0 entered transmission, 1 the client left (abort or end
 * of stream), negative on a fatal error (err set). */
int nbds_handshake(struct nbds_conn *c, struct qimg_error *err);

/* Transmission until the client disconnects. */
int nbds_transmit(struct nbds_conn *c, struct qimg_error *err);

/* The export's transmission flags (DF only with structured replies). */
uint16_t nbds_tflags(const struct qimg_nbd_export *exp, bool structured);

/* Wire helpers. */
void nbds_put16(uint8_t *p, uint16_t v);
void nbds_put32(uint8_t *p, uint32_t v);
void nbds_put64(uint8_t *p, uint64_t v);
uint16_t nbds_get16(const uint8_t *p);
uint32_t nbds_get32(const uint8_t *p);
uint64_t nbds_get64(const uint8_t *p);

/* The metadata context name of id, "" when the export has none. */
const char *nbds_ctx_name(const struct qimg_nbd_export *exp, enum nbds_ctx id,
			  char *buf, size_t len);

#endif
