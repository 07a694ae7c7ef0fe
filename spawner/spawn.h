/* Starting processes: a prepared fd table, a fresh environment, a working
 * directory and a process group, with posix_spawn (vfork semantics in glibc,
 * so the cost does not grow with the daemon's size). */
#ifndef GW_SPAWNER_SPAWN_H
#define GW_SPAWNER_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct spawn_spec {
	const char *path; /* the executable */
	char *const *argv;
	char *const *envp; /* the complete environment; nothing is inherited */
	const char *cwd; /* NULL: the daemon's */
	int fd[3]; /* become the child's 0, 1, 2; -1: /dev/null. Must be > 2. */
	bool new_process_group; /* the child leads a group of its own, so a timeout
	                         * can kill everything the script started */
	bool die_with_parent; /* PR_SET_PDEATHSIG: SIGKILL when the spawning process dies */
	/* SCHED_BATCH: a long-lived worker, woken by every request, whose wakeups
	 * must not preempt the dispatcher that wakes it (measured with 2 workers
	 * on 2 cores: +14 % for WSGI over uwsgi, the dispatcher switched out 0.49
	 * times a request instead of 0.75). Scripts stay SCHED_OTHER: a script
	 * runs once, and batching it cost CGI 5 %. Only from SCHED_OTHER: a
	 * policy gatewayd was started with stays. */
	bool batch;
	bool set_ids; /* become uid and gid (gid the only group): needs root */
	uid_t uid;
	gid_t gid;
	/* Runs in the child after its fds and cwd are in place and before the uid
	 * changes: a sandbox, a cgroup to join. Async-signal-safe only (the child
	 * shares the parent's memory until exec). 0, or -errno to fail the spawn. */
	int (*in_child)(const void *arg);
	const void *in_child_arg;
	/* A cgroup2 directory the child is born in (clone3 CLONE_INTO_CGROUP:
	 * it never runs outside it, and no migration is paid) or, once the
	 * kernel refused that, moves into first thing (its cgroup.procs); 0:
	 * none (0-2 are stdio, never a cgroup, so a zeroed spec asks for none). */
	int cgroup_fd;
};

/* Returns the child's pid, or -errno (ENOENT, EACCES, ENOEXEC... from exec, or
 * from in_child). The child gets only fds 0-2 and default signal dispositions
 * with nothing blocked. vfork semantics: the cost does not grow with the
 * daemon's size, and the call returns once the child has exec'd or failed.
 * One call at a time per process (the child of a cgroup birth runs on one
 * static stack while the caller waits). */
pid_t spawn_process(const struct spawn_spec *spec);

/* Run this process `by` nice levels ahead of the children it starts, which
 * get back the niceness it had before exec. Between vfork and exec a child
 * runs this process's code while this process waits: at the scripts' own
 * priority that wait was a place in the run queue behind the very scripts
 * (measured: a third of CGI throughput on a busy 2-core machine). Needs
 * CAP_SYS_NICE for by > 0. 0 or -errno. */
int spawn_boost_priority(int by);

/* SIGTERM/SIGKILL to a child's whole process group; ESRCH is not an error. */
int spawn_signal_group(pid_t pgid, int sig);

/* pipe2(O_CLOEXEC) with O_NONBLOCK on the daemon's end only: the child's end
 * stays blocking, as scripts expect. parent_end 0: the daemon reads, 1: writes. */
int spawn_pipe(int fds[2], int parent_end);

/* Make fds 0, 1 and 2 valid (on /dev/null) so no later descriptor lands there. */
int spawn_reserve_stdio(void);

#endif
