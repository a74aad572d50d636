/* SPDX-License-Identifier: MIT */
/* struct qimg_error helpers: the first error set wins, messages are one line
 * capped at QIMG_ERROR_MSG_MAX, and each layer may prefix its own context. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qimg/error.h"

/* Callers pass positive errnos; tolerate a negative one (a forwarded return
 * value) and never record "no error" for a failure. */
static int norm_errnum(int errnum)
{
	if (errnum < 0)
		errnum = -errnum;
	return errnum ? errnum : EIO;
}

int qimg_error_setv(struct qimg_error *err, int errnum, const char *fmt,
		    va_list ap)
{
	errnum = norm_errnum(errnum);
	if (!err || err->errnum)
		return -errnum;
	err->errnum = errnum;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return -errnum;
}

int qimg_error_set(struct qimg_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = qimg_error_setv(err, errnum, fmt, ap);
	va_end(ap);
	return r;
}

int qimg_error_set_errno(struct qimg_error *err, int errnum, const char *fmt,
			 ...)
{
	char ebuf[128];
	const char *es;
	size_t n;
	va_list ap;

	errnum = norm_errnum(errnum);
	if (!err || err->errnum)
		return -errnum;
	va_start(ap, fmt);
	qimg_error_setv(err, errnum, fmt, ap);
	va_end(ap);
	es = strerror_r(errnum, ebuf, sizeof(ebuf));
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", es);
	return -errnum;
}

void qimg_error_prefix(struct qimg_error *err, const char *fmt, ...)
{
	char old[QIMG_ERROR_MSG_MAX];
	char ebuf[128];
	size_t n;
	va_list ap;

	if (!err)
		return;
	if (!err->errnum)
		err->errnum = EIO;
	if (err->msg[0])
		memcpy(old, err->msg, sizeof(old));
	else
		snprintf(old, sizeof(old), "%s",
			 strerror_r(err->errnum, ebuf, sizeof(ebuf)));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", old);
}

void qimg_error_clear(struct qimg_error *err)
{
	if (!err)
		return;
	err->errnum = 0;
	err->msg[0] = '\0';
}

int qimg_error_isset(const struct qimg_error *err)
{
	return err && err->errnum != 0;
}

void qimg_error_note(struct qimg_error *err, const char *fmt, ...)
{
	size_t n, room;
	va_list ap;
	int w;

	if (!err)
		return;
	n = strlen(err->notes);
	if (n && n + 1 < sizeof(err->notes))
		err->notes[n++] = '\n';
	room = sizeof(err->notes) - n;
	if (room <= 1) {
		err->notes[n - 1] = '\0';
		return;
	}
	va_start(ap, fmt);
	w = vsnprintf(err->notes + n, room, fmt, ap);
	va_end(ap);
	/* A line that does not fit is dropped whole, not cut. */
	if (w < 0 || (size_t)w >= room)
		err->notes[n ? n - 1 : 0] = '\0';
}

void qimg_error_take_notes(struct qimg_error *err, char *buf, size_t len)
{
	if (len)
		buf[0] = '\0';
	if (!err)
		return;
	if (len)
		snprintf(buf, len, "%s", err->notes);
	err->notes[0] = '\0';
}
