/* SPDX-License-Identifier: MIT */
/* tlimit [-P LIB] SECONDS PROGRAM [ARG]...: run PROGRAM with an alarm set
 * to go off after SECONDS; a run still going then is ended by SIGALRM (exit
 * status 142 in the shell).  -P puts LIB first in LD_PRELOAD for PROGRAM
 * (and what it runs).  The interop suites bound every qimg run with it.
 * Unlike timeout(1) it does not stay behind as a parent: it arms the alarm
 * (which exec keeps) and becomes the program, so a bounded run costs one
 * small static exec more than an unbounded one instead of a fork and a
 * dynamic exec.  Children the program forks are not bounded (a fork
 * clears the alarm). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	sigset_t set;
	char *end, *preload;
	const char *old;
	unsigned long secs;
	size_t len;

	if (argc >= 3 && !strcmp(argv[1], "-P")) {
		old = getenv("LD_PRELOAD");
		len = strlen(argv[2]) + (old ? strlen(old) + 1 : 0) + 1;
		preload = malloc(len);
		if (!preload || setenv("LD_PRELOAD", argv[2], 1) < 0) {
			fprintf(stderr, "tlimit: out of memory\n");
			return 125;
		}
		if (old && *old) {
			snprintf(preload, len, "%s:%s", argv[2], old);
			setenv("LD_PRELOAD", preload, 1);
		}
		free(preload);
		argc -= 2;
		argv += 2;
	}
	if (argc < 3) {
		fprintf(stderr,
			"usage: tlimit [-P LIB] SECONDS PROGRAM [ARG]...\n");
		return 125;
	}
	errno = 0;
	secs = strtoul(argv[1], &end, 10);
	if (errno || end == argv[1] || *end || secs == 0 || secs > 86400) {
		fprintf(stderr, "tlimit: invalid number of seconds '%s'\n",
			argv[1]);
		return 125;
	}
	/* the program must die of the alarm, whatever this process was
	 * given: the default action, unblocked */
	signal(SIGALRM, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	alarm((unsigned int)secs);
	execvp(argv[2], argv + 2);
	fprintf(stderr, "tlimit: %s: %s\n", argv[2], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
