/*
 * Postern's executable: bin/sendmail (and mailq, newaliases, ... as links to it).
 *
 * A "#!/usr/bin/env node" script cannot be a sendmail drop-in: the kernel's
 * shebang handling replaces argv[0] with the script path, and sendmail picks
 * its mode from the basename of argv[0] and prints argv[0] as given in its
 * error messages.  This launcher keeps the caller's argv[0] by handing it to
 * node as node's own argv[0] (Node exposes it as process.argv0 and finds its
 * executable through /proc/self/exe, not argv[0]).
 *
 * The package root is two levels above the real path of this executable
 * (<root>/bin/sendmail), so a symlink such as /usr/sbin/sendmail -> it works.
 * Nothing here is set-id; the launcher refuses to run if it finds itself so.
 *
 * The caller's NODE_OPTIONS is dropped: sendmail is not a Node program to
 * whoever calls it.  A V8 flag there (--max-old-space-size, common where
 * Node applications run) makes V8 refuse the command's code cache, which
 * costs every submission about 14 ms; --require or --inspect would run in
 * every cron job's sendmail; and an option Node does not accept stops it
 * before it starts (exit 9).  The processes the daemon starts get a fixed
 * environment anyway (src/mta/supervisor.ts).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef POSTERN_NODE
#define POSTERN_NODE "/usr/bin/node"
#endif

#define ENTRY_RELATIVE "/dist/bundle/boot.cjs"
#define EX_OSERR 71
#define EX_SOFTWARE 70

static const char *progname(const char *argv0) {
	return argv0 != NULL && argv0[0] != '\0' ? argv0 : "sendmail";
}

int main(int argc, char **argv) {
	char exe[PATH_MAX];
	char entry[PATH_MAX + sizeof ENTRY_RELATIVE];
	char *slash;
	char **nargv;
	int i;

	if (getuid() != geteuid() || getgid() != getegid()) {
		fprintf(stderr, "%s: refusing to run set-user-ID or set-group-ID\n", progname(argv[0]));
		return EX_SOFTWARE;
	}
	if (realpath("/proc/self/exe", exe) == NULL) {
		fprintf(stderr, "%s: cannot resolve /proc/self/exe: %s\n", progname(argv[0]), strerror(errno));
		return EX_OSERR;
	}
	/* strip "/bin/sendmail" to reach the package root */
	for (i = 0; i < 2; i++) {
		slash = strrchr(exe, '/');
		if (slash == NULL) {
			fprintf(stderr, "%s: unexpected executable path %s\n", progname(argv[0]), exe);
			return EX_SOFTWARE;
		}
		*slash = '\0';
	}
	snprintf(entry, sizeof entry, "%s%s", exe, ENTRY_RELATIVE);

	nargv = calloc((size_t)argc + 2, sizeof *nargv);
	if (nargv == NULL) {
		fprintf(stderr, "%s: out of memory\n", progname(argv[0]));
		return EX_OSERR;
	}
	nargv[0] = (char *)progname(argv[0]);
	nargv[1] = entry;
	for (i = 1; i < argc; i++)
		nargv[i + 1] = argv[i];
	nargv[argc + 1] = NULL;

	if (unsetenv("NODE_OPTIONS") != 0) {
		fprintf(stderr, "%s: cannot clear NODE_OPTIONS: %s\n", progname(argv[0]), strerror(errno));
		return EX_OSERR;
	}
	execv(POSTERN_NODE, nargv);
	fprintf(stderr, "%s: cannot execute %s: %s\n", progname(argv[0]), POSTERN_NODE, strerror(errno));
	return EX_OSERR;
}
