/* SPDX-License-Identifier: MIT */
/* qcow2 LUKS encryption (crypt_method 2): placeholder until the LUKS
 * header library lands. */

#include <errno.h>

#include "formats/qcow2/qcow2.h"

int qcow2_luks_open(struct qcow2_state *s, const uint8_t *secret, size_t len,
		    struct qimg_error *err)
{
	(void)s;
	(void)secret;
	(void)len;
	return qimg_error_set(err, ENOTSUP,
			      "LUKS encrypted qcow2 images are not supported "
			      "yet");
}

void qcow2_luks_close(struct qcow2_state *s)
{
	(void)s;
}

int qcow2_luks_check_opts(const struct qimg_opts *o, struct qimg_error *err)
{
	(void)o;
	return qimg_error_set(err, ENOTSUP,
			      "LUKS encrypted qcow2 images are not supported "
			      "yet");
}

int qcow2_luks_create(struct qcow2_state *s, const struct qimg_opts *o,
		      const uint8_t *secret, size_t len, struct qimg_error *err)
{
	(void)s;
	(void)o;
	(void)secret;
	(void)len;
	return qimg_error_set(err, ENOTSUP,
			      "LUKS encrypted qcow2 images are not supported "
			      "yet");
}
