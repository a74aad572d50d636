/* SPDX-License-Identifier: MIT */
/* qimg_nbd_serve: one client, negotiation then transmission (or
 * transmission alone, for the kernel's client). */

#include <string.h>

#include "server/nbd-conn.h"

/* One connection: negotiation first unless `direct`. */
static int serve(const struct qimg_nbd_export *exp, struct qimg_nbd_io *io,
		 bool direct, struct qimg_error *err)
{
	struct nbds_conn c;
	int r = 0;

	memset(&c, 0, sizeof(c));
	c.exp = exp;
	c.io = io;
	pthread_mutex_init(&c.send_lock, NULL);
	if (!direct)
		r = nbds_handshake(&c, err);
	if (r == 0) {
		io->negotiated = true;
		r = nbds_transmit(&c, err);
	} else if (r > 0)
		r = 0; /* the client left during negotiation */
	pthread_mutex_destroy(&c.send_lock);
	return r;
}

int qimg_nbd_serve(const struct qimg_nbd_export *exp, struct qimg_nbd_io *io,
		   struct qimg_error *err)
{
	return serve(exp, io, false, err);
}

int qimg_nbd_serve_transmission(const struct qimg_nbd_export *exp,
				struct qimg_nbd_io *io, struct qimg_error *err)
{
	return serve(exp, io, true, err);
}

uint16_t qimg_nbd_export_flags(const struct qimg_nbd_export *exp)
{
	return nbds_tflags(exp, false);
}
