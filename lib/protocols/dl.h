/* SPDX-License-Identifier: MIT */
/* A client library loaded on first use (dlopen), its functions resolved
 * into a table of pointers: what lib*-dl.c share.  A library is loaded at
 * most once per process, under its own lock; the table is only read once
 * qimg_dl_load has succeeded. */
#ifndef QIMG_PROTOCOLS_DL_H
#define QIMG_PROTOCOLS_DL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "qimg/error.h"

struct qimg_dl_lib {
	const char *soname;	  /* "libnbd.so.0" */
	const char *what;	  /* "NBD": "NBD is not available: ..." */
	const char *const *names; /* the functions, in the table's order */
	void **slots;		  /* the table, as an array of pointers */
	size_t n;
	/* Run once after loading (curl_global_init), or NULL: 0 or an
	 * error text. */
	const char *(*init)(void);
	pthread_mutex_t lock;
	bool tried;
	char error[256];
};

#define QIMG_DL_LIB(soname_, what_, names_, table_, init_)                     \
	{                                                                      \
		.soname = (soname_), .what = (what_), .names = (names_),       \
		.slots = (void **)(table_),                                    \
		.n = sizeof(names_) / sizeof((names_)[0]), .init = (init_),    \
		.lock = PTHREAD_MUTEX_INITIALIZER                              \
	}

/* Load lib (once): 0, or ENOTSUP with the reason ("WHAT is not
 * available: dlopen's words"). */
int qimg_dl_load(struct qimg_dl_lib *lib, struct qimg_error *err);

#endif
