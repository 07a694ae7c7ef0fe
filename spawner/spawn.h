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
};

/* Returns the child's pid, or -errno (ENOENT, EACCES, ENOEXEC... from exec). The
 * child gets only fds 0-2: every other descriptor of the daemon is close-on-exec.
 * Signal dispositions and the signal mask are reset to the defaults. */
pid_t spawn_process(const struct spawn_spec *spec);

/* SIGTERM/SIGKILL to a child's whole process group; ESRCH is not an error. */
int spawn_signal_group(pid_t pgid, int sig);

/* pipe2(O_CLOEXEC) with O_NONBLOCK on the daemon's end only: the child's end
 * stays blocking, as scripts expect. parent_end 0: the daemon reads, 1: writes. */
int spawn_pipe(int fds[2], int parent_end);

/* Make fds 0, 1 and 2 valid (on /dev/null) so no later descriptor lands there. */
int spawn_reserve_stdio(void);

#endif

/* A long-lived worker: like spawn_process, plus fd 0 is its listening socket
 * (FCGI_LISTENSOCK_FILENO), it may run as another user, and it dies with the
 * daemon (PR_SET_PDEATHSIG), even when the daemon is SIGKILLed. */
struct worker_spec {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *cwd; /* NULL: the daemon's */
	int listen_fd; /* becomes fd 0 */
	int err_fd; /* becomes fd 2 (-1: /dev/null); fd 1 is /dev/null */
	uid_t uid; /* (uid_t)-1: unchanged */
	gid_t gid; /* (gid_t)-1: unchanged */
};
pid_t spawn_worker(const struct worker_spec *spec);
