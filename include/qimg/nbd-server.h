/* SPDX-License-Identifier: MIT */
/* The NBD server (qimg-nbd): one export over the block layer, served to
 * one client per call of qimg_nbd_serve over a byte transport the caller
 * gives (a socket, or memory for the fuzz harness). */
#ifndef QIMG_NBD_SERVER_H
#define QIMG_NBD_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qimg/error.h"
#include "qimg/image.h"

enum qimg_nbd_detect_zeroes {
	QIMG_NBD_DZ_OFF,
	QIMG_NBD_DZ_ON,
	QIMG_NBD_DZ_UNMAP,
};

/* Most -B bitmaps one export offers. */
#define QIMG_NBD_MAX_BITMAPS 64

/* A bitmap offered as qemu:dirty-bitmap:NAME, and the node of the chain
 * that holds it. */
struct qimg_nbd_bitmap {
	const char *name;
	struct qimg_node *node;
};

/* Memory that the request payloads and read buffers of all connections
 * may hold at once (a connection waits before reading more); the caller
 * initialises the lock and condition.  cap must be at least 32 MiB (one
 * request of the largest size). */
struct qimg_nbd_budget {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t used, cap;
};

struct qimg_nbd_export {
	const char *name;	 /* -x (default "") */
	const char *description; /* -D, NULL: none */
	struct qimg_node *node;	 /* the image */
	uint64_t offset;	 /* -o: the export starts there */
	uint64_t size;		 /* bytes exported (node size - offset) */
	/* Block status of the image's own layer only, as qemu-nbd shows it
	 * with -o (a raw node over the image): backing data is a hole and
	 * allocation depth 0 or 1. */
	bool layer_status;
	bool readonly;			       /* -r, -l */
	bool allocation_depth;		       /* -A: qemu:allocation-depth */
	const struct qimg_nbd_bitmap *bitmaps; /* -B NAME (repeatable) */
	unsigned int nbitmaps;
	bool discard; /* --discard=unmap: TRIM frees space */
	enum qimg_nbd_detect_zeroes detect_zeroes;
	bool multi_conn;		/* advertise CAN_MULTI_CONN */
	unsigned int workers;		/* threads per connection, 0: inline */
	struct qimg_nbd_budget *budget; /* shared by all connections, or
					 * NULL: each connection's own cap */
};

/* The client's bytes.  recv fills exactly len bytes or fails (-EPIPE at
 * end of stream); send writes all of them (more: further bytes follow at
 * once, so they may be held back and sent together). */
struct qimg_nbd_io {
	void *opaque;
	int (*recv)(void *opaque, void *buf, size_t len);
	int (*send)(void *opaque, const void *buf, size_t len, bool more);
	/* Non-NULL: the server requires TLS (--tls-creds).  Called after
	 * NBD_OPT_STARTTLS is acknowledged: do the TLS handshake, after
	 * which recv and send go through the session; 0 or negative with
	 * err set (the connection is then dropped). */
	int (*starttls)(void *opaque, struct qimg_error *err);
	/* Set by the server once the client completed negotiation (a client
	 * that left before, a port probe, was never served: qemu-nbd without
	 * -t keeps waiting for a real one). */
	bool negotiated;
};

/* Negotiate with one client and serve its requests until it disconnects
 * (NBD_CMD_DISC, end of stream, or a protocol violation that leaves the
 * stream unusable).  Every acknowledged write is in the image (flushed
 * when FUA or FLUSH asked for it) when this returns.  0 on a clean end;
 * negative with err set otherwise (the caller may log it). */
int qimg_nbd_serve(const struct qimg_nbd_export *exp, struct qimg_nbd_io *io,
		   struct qimg_error *err);

/* The export's transmission flags for a client without structured
 * replies (the kernel's: NBD_SET_FLAGS). */
uint16_t qimg_nbd_export_flags(const struct qimg_nbd_export *exp);

/* The same without negotiation, for the kernel's NBD client (which is
 * handed the socket with the size and flags set by ioctl and starts in
 * transmission, with simple replies and no metadata contexts). */
int qimg_nbd_serve_transmission(const struct qimg_nbd_export *exp,
				struct qimg_nbd_io *io, struct qimg_error *err);

#endif
