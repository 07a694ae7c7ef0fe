/* What a child is confined to before it execs: no new privileges, a umask and
 * resource limits. Core dumps are always off (a script's memory may hold
 * another user's request).
 *
 * Where it goes in the child, between fork and exec:
 *   fds 0-2 in place -> child_cgroup_enter() -> sandbox_enter() -> setgroups/
 *   setgid/setuid -> execve
 * i.e. BEFORE the uid change, as root, on purpose:
 *  - RLIMIT_NPROC counts the processes of the real uid, and setuid() checks it:
 *    when the route's user already has that many, the kernel marks the process
 *    and execve() fails with EAGAIN. Set before setuid, the limit holds from the
 *    first exec (the spawner sees EAGAIN: "user over its process limit");
 *    set after, only the script's own forks would be refused.
 *  - root may set any hard limit; a user could only lower them.
 *  - entering a cgroup needs root (write access to cgroup.procs).
 * RLIMIT_NPROC is per user, not per child, and does not apply to root: the
 * per-child tree limit is the cgroup's pids.max (spawner/cgroup.h). */
#ifndef GW_SPAWNER_SANDBOX_H
#define GW_SPAWNER_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sandbox {
	bool no_new_privs; /* PR_SET_NO_NEW_PRIVS: setuid binaries and file
	                    * capabilities no longer raise privileges */
	int umask; /* -1: leave the daemon's */
	/* 0 in each: leave the inherited limit. */
	uint64_t cpu_seconds; /* RLIMIT_CPU: SIGXCPU at this many, SIGKILL one later */
	uint64_t memory_bytes; /* RLIMIT_AS (address space, not resident memory) */
	uint64_t processes; /* RLIMIT_NPROC (the user's, see above) */
	uint64_t file_size; /* RLIMIT_FSIZE: SIGXFSZ, then EFBIG */
	uint64_t open_files; /* RLIMIT_NOFILE */
	bool seccomp; /* spawner/seccomp.h's deny-list, installed last, where the kernel has it */
};

/* Apply *sb to the calling process. For the child between fork and exec: only
 * async-signal-safe system calls, no allocation, no locks.
 * Every descriptor above 2 is closed: marked close-on-exec here
 * (close_range CLOSE_RANGE_CLOEXEC), so the spawner's error-report pipe still
 * works until execve and none survives it; on a kernel without that flag
 * (< 5.11) they are closed at once. Returns 0 or -errno (the first failure;
 * the child should report it and _exit, not exec half-confined). */
int sandbox_enter(const struct sandbox *sb);

/* A JSON object of what sandbox_enter applies, for the audit log, e.g.
 * {"no_new_privs":true,"umask":"022","cpu":10,"memory":268435456,"core":0}
 * (limits left inherited are not named). Writes at most cap bytes including
 * the NUL; returns the length it needed, as snprintf does (>= cap: cut). */
size_t sandbox_describe(const struct sandbox *sb, char *out, size_t cap);

#endif
