/* SPDX-License-Identifier: MIT */
/* kdfclock.so: preloaded into qemu-img by the interop suites (through
 * oracle-exec), it makes a thread's CPU clock as read by getrusage
 * (RUSAGE_THREAD) run 100 times faster.
 *
 * Why: qemu-img times PBKDF2 before every LUKS key derivation it does
 * (create, convert -O luks, amend of a key slot) and runs it for about
 * half a second of processor time at least twice, whatever iter-time
 * asks: 2.4 processor-s a command, most of the encrypted suites' time.
 * With the clock sped up its benchmark ends at the first round and it
 * uses the format's minimum iteration count.  The iteration counts are
 * the only thing that changes; they depend on the machine anyway, and
 * the suites mask them.  Other programs do not call it this way (qimg
 * does not call getrusage at all). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/time.h>

enum {
	SPEEDUP = 100
};

static void speed_up(struct timeval *t)
{
	unsigned long long us = (unsigned long long)t->tv_sec * 1000000ULL +
				(unsigned long long)t->tv_usec;

	us *= SPEEDUP;
	t->tv_sec = (time_t)(us / 1000000ULL);
	t->tv_usec = (suseconds_t)(us % 1000000ULL);
}

int getrusage(int who, struct rusage *usage)
{
	static int (*real_getrusage)(int, struct rusage *);
	int rc;

	if (!real_getrusage) {
		real_getrusage = (int (*)(int, struct rusage *))dlsym(
			RTLD_NEXT, "getrusage");
		if (!real_getrusage)
			return -1;
	}
	rc = real_getrusage(who, usage);
	if (rc == 0 && who == RUSAGE_THREAD) {
		speed_up(&usage->ru_utime);
		speed_up(&usage->ru_stime);
	}
	return rc;
}
