/* SPDX-License-Identifier: MIT */
/* spawn: a bash loadable builtin (`enable -f spawn.so spawn`) that runs a
 * program the way a simple command does, but without forking the shell:
 *
 *     spawn [-C DIR] PROGRAM [ARG]...
 *
 * PROGRAM is found on the shell's PATH, gets the shell's exported
 * variables (and a command's prefix assignments), its open descriptors
 * (so `spawn prog >out 2>err` redirects as usual), its ignored signals and
 * its signal mask; with -C it starts in DIR.  The status is the program's
 * exit status, 128 + N when signal N ended it, 127 when it cannot be
 * found and 126 when it cannot be run.
 *
 * Why: bash forks itself for every external command, and on a virtual
 * machine whose page-table updates trap (this project's CI) a fork of the
 * shell costs about 2.5 ms of processor time: more than running a small
 * program.  posix_spawn (a vfork) shares the shell's memory until the exec
 * instead.  The interop suites (tests/interop/lib.sh) run every compared
 * command through it and fall back to a function doing the same with a
 * subshell when bash cannot load it.
 *
 * The few bash declarations below are the loadable-builtin interface of
 * bash 5 (its builtins.h, command.h, variables.h), declared here so that
 * building this needs no bash headers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct word_desc {
	char *word;
	int flags;
} WORD_DESC;

typedef struct word_list {
	struct word_list *next;
	WORD_DESC *word;
} WORD_LIST;

struct builtin {
	char *name;
	int (*function)(WORD_LIST *);
	int flags;
	char *const *long_doc;
	const char *short_doc;
	char *handle;
};

#define BUILTIN_ENABLED 0x01
#define EX_USAGE 258

extern char **export_env;
extern void maybe_make_export_env(void);
extern char *get_string_value(const char *);

/* find NAME on the shell's PATH as bash would run it: the first regular,
 * executable file; NULL (errno ENOENT or EACCES) when there is none */
static char *find_program(const char *name)
{
	const char *path = get_string_value("PATH");
	const char *p, *end;
	size_t nlen = strlen(name);
	int saw_eacces = 0;
	struct stat st;

	if (strchr(name, '/'))
		return strdup(name);
	if (!path)
		path = "/usr/bin:/bin";
	for (p = path;; p = end + 1) {
		size_t dlen;
		char *full;

		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		dlen = (size_t)(end - p);
		full = malloc(dlen + nlen + 3);
		if (!full)
			return NULL;
		if (dlen == 0)
			memcpy(full, ".", (dlen = 1));
		else
			memcpy(full, p, dlen);
		full[dlen] = '/';
		memcpy(full + dlen + 1, name, nlen + 1);
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(full, X_OK) == 0)
				return full;
			saw_eacces = 1;
		}
		free(full);
		if (*end == '\0')
			break;
	}
	errno = saw_eacces ? EACCES : ENOENT;
	return NULL;
}

static int spawn_builtin(WORD_LIST *list)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t chld, old;
	const char *dir = NULL;
	char **argv;
	char *prog;
	size_t n = 0, i;
	pid_t pid;
	int err, status, rc;
	WORD_LIST *l;

	if (list && strcmp(list->word->word, "-C") == 0) {
		if (!list->next) {
			fprintf(stderr, "spawn: -C: a directory is needed\n");
			return EX_USAGE;
		}
		dir = list->next->word->word;
		list = list->next->next;
	}
	if (list && strcmp(list->word->word, "--") == 0)
		list = list->next;
	if (!list) {
		fprintf(stderr, "usage: spawn [-C DIR] PROGRAM [ARG]...\n");
		return EX_USAGE;
	}
	for (l = list; l; l = l->next)
		n++;
	argv = calloc(n + 1, sizeof(*argv));
	if (!argv) {
		fprintf(stderr, "spawn: %s\n", strerror(ENOMEM));
		return 126;
	}
	for (i = 0, l = list; l; l = l->next)
		argv[i++] = l->word->word;

	prog = find_program(argv[0]);
	if (!prog) {
		rc = errno == ENOENT ? 127 : 126;
		fprintf(stderr, "spawn: %s: %s\n", argv[0],
			rc == 127 ? "command not found" : strerror(errno));
		free(argv);
		return rc;
	}

	/* the shell's handler must not reap the child before we do */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);

	posix_spawn_file_actions_init(&fa);
	if (dir)
		posix_spawn_file_actions_addchdir_np(&fa, dir);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &old);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	maybe_make_export_env();
	err = posix_spawn(&pid, prog, &fa, &attr, argv, export_env);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);

	if (err) {
		rc = err == ENOENT ? 127 : 126;
		fprintf(stderr, "spawn: %s%s%s: %s\n", dir ? dir : "",
			dir ? ": " : "", argv[0], strerror(err));
	} else {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status))
			rc = WEXITSTATUS(status);
		else if (WIFSIGNALED(status))
			rc = 128 + WTERMSIG(status);
		else
			rc = 126;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(prog);
	free(argv);
	return rc;
}

static char *const spawn_doc[] = {
	"Run PROGRAM without forking the shell.",
	"",
	"Like a simple command: PATH search, the exported variables, the",
	"shell's descriptors; -C DIR starts it in DIR.  Exit status: the",
	"program's, 128+N for signal N, 127 not found, 126 not runnable.",
	NULL,
};

struct builtin spawn_struct = {
	"spawn",
	spawn_builtin,
	BUILTIN_ENABLED,
	spawn_doc,
	"spawn [-C DIR] PROGRAM [ARG]...",
	NULL,
};
