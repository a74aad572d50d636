/* SPDX-License-Identifier: MIT */
/* oracle-exec (built as tests/tools/qemu-img): the interop suites' qemu-img.
 * It runs the real one, $QIMG_ORACLE_QEMU_IMG, with kdfclock.so (beside
 * this program) preloaded, so that qemu-img's LUKS benchmark does not cost
 * 2.4 processor-s a command (kdfclock.c says why and what changes).  It is
 * static and execs the real program (same arguments, same argv[0]), so a
 * run costs one small exec more and nothing stays behind. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *real = getenv("QIMG_ORACLE_QEMU_IMG");
	const char *old = getenv("LD_PRELOAD");
	char self[PATH_MAX], *slash, *preload;
	ssize_t n;
	size_t len;

	(void)argc;
	if (!real || !*real) {
		fprintf(stderr,
			"oracle-exec: QIMG_ORACLE_QEMU_IMG is not set\n");
		return 127;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			slash[1] = '\0';
			len = strlen(self) + strlen("kdfclock.so") +
			      (old && *old ? strlen(old) + 1 : 0) + 1;
			preload = malloc(len);
			if (preload) {
				snprintf(preload, len, "%skdfclock.so%s%s",
					 self, old && *old ? ":" : "",
					 old && *old ? old : "");
				setenv("LD_PRELOAD", preload, 1);
			}
		}
	}
	execv(real, argv);
	fprintf(stderr, "oracle-exec: %s: %s\n", real, strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
