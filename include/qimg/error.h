/* SPDX-License-Identifier: MIT */
/* Error reporting: every fallible qimg function returns a negative errno and
 * fills a caller-owned struct qimg_error with a one-line message. */
#ifndef QIMG_ERROR_H
#define QIMG_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define QIMG_ERROR_MSG_MAX 1024

struct qimg_error {
	int errnum;		      /* positive errno; 0 = no error set */
	char msg[QIMG_ERROR_MSG_MAX]; /* one line, no trailing newline */
	/* Diagnostics reported on the way, whatever the outcome (a format's
	 * corruption report, a failed clean-up): lines separated by '\n',
	 * for the caller to print as they are before its own message.  They
	 * survive qimg_error_clear; qimg_error_take_notes empties them. */
	char notes[QIMG_ERROR_MSG_MAX];
};

/* Set the error (only if none is set yet: the first error wins).  errnum is
 * a positive errno.  err may be NULL.  Returns -errnum, so a failing branch is
 * `return qimg_error_set(err, EINVAL, "...");`. */
int qimg_error_set(struct qimg_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int qimg_error_setv(struct qimg_error *err, int errnum, const char *fmt,
		    va_list ap) __attribute__((format(printf, 3, 0)));

/* Like qimg_error_set, with ": strerror(errnum)" appended. */
int qimg_error_set_errno(struct qimg_error *err, int errnum, const char *fmt,
			 ...) __attribute__((format(printf, 3, 4)));

/* Prepend context to an already set message ("ctx: old message").  If no
 * error is set, sets one from errnum's strerror. */
void qimg_error_prefix(struct qimg_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A note line that starts with this byte is an error report of its own:
 * the program prints it under its name ("prog: line"), as it prints its
 * errors.  Other note lines are printed as they are. */
#define QIMG_NOTE_REPORT "\x1f"

/* Append one diagnostic line to the notes (dropped if they are full). */
void qimg_error_note(struct qimg_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Copy the notes to buf (empty string if none) and empty them. */
void qimg_error_take_notes(struct qimg_error *err, char *buf, size_t len);

/* Reset to "no error" (the notes stay). */
void qimg_error_clear(struct qimg_error *err);

/* True if an error is set. */
int qimg_error_isset(const struct qimg_error *err);

#endif
