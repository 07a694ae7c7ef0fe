#include "spawner/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t spawn_process(const struct spawn_spec *spec)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	pid_t pid = -1;
	int err;

	if ((err = posix_spawn_file_actions_init(&fa)) != 0)
		return -err;
	if ((err = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -err;
	}
	for (int i = 0; i < 3 && err == 0; i++) {
		if (spec->fd[i] >= 0)
			err = posix_spawn_file_actions_adddup2(&fa, spec->fd[i], i);
		else
			err = posix_spawn_file_actions_addopen(&fa, i, "/dev/null",
			                                       i == 0 ? O_RDONLY : O_WRONLY, 0);
	}
	/* Everything is close-on-exec already; this also covers descriptors a
	 * library opened without it. */
	if (err == 0)
		err = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (err == 0 && spec->cwd)
		err = posix_spawn_file_actions_addchdir_np(&fa, spec->cwd);

	/* exec resets caught signals by itself; only ignored ones survive it, and
	 * the daemon ignores just SIGPIPE. Naming every signal here would cost the
	 * child ~64 sigaction calls while the daemon waits in vfork. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	if (spec->new_process_group) {
		flags |= POSIX_SPAWN_SETPGROUP;
		if (err == 0)
			err = posix_spawnattr_setpgroup(&attr, 0);
	}
	if (err == 0)
		err = posix_spawnattr_setsigmask(&attr, &none);
	if (err == 0)
		err = posix_spawnattr_setsigdefault(&attr, &dfl);
	if (err == 0)
		err = posix_spawnattr_setflags(&attr, flags);
	if (err == 0)
		err = posix_spawn(&pid, spec->path, &fa, &attr, spec->argv, spec->envp);

	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return err ? -err : pid;
}

int spawn_signal_group(pid_t pgid, int sig)
{
	if (pgid <= 1)
		return -EINVAL;
	if (kill(-pgid, sig) < 0 && errno != ESRCH)
		return -errno;
	return 0;
}

int spawn_pipe(int fds[2], int parent_end)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	int fl = fcntl(fds[parent_end], F_GETFL);
	if (fl < 0 || fcntl(fds[parent_end], F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	return 0;
}

int spawn_reserve_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int nfd = open("/dev/null", O_RDWR);
		if (nfd < 0)
			return -errno;
		if (nfd != fd) {
			close(nfd);
			return -EBADF;
		}
	}
	return 0;
}

/* The child half of spawn_worker, between vfork and exec: only system calls,
 * no allocation, no stdio. Reports an errno through the pipe and exits. */
static void worker_child(const struct worker_spec *spec, pid_t parent, int report)
{
	sigset_t none;
	int err = 0;

	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	/* Die with the daemon; if it is already gone, go now. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	int null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(spec->listen_fd, 0) < 0 || dup2(null, 1) < 0 ||
	    dup2(spec->err_fd >= 0 ? spec->err_fd : null, 2) < 0)
		goto fail;
	if (spec->cwd && chdir(spec->cwd) < 0)
		goto fail;
	if (spec->gid != (gid_t)-1 && (setgroups(0, NULL) < 0 || setgid(spec->gid) < 0))
		goto fail;
	if (spec->uid != (uid_t)-1 && setuid(spec->uid) < 0)
		goto fail;
	if (report > 3)
		close_range(3, (unsigned)report - 1, 0);
	close_range((unsigned)report + 1, ~0U, 0);
	execve(spec->path, spec->argv, spec->envp);
fail:
	err = errno;
	if (write(report, &err, sizeof err) < 0)
		_exit(126);
	_exit(127);
}

pid_t spawn_worker(const struct worker_spec *spec)
{
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0)
		return -errno;
	pid_t parent = getpid();
	sigset_t all, old_mask;
	/* No handler of the daemon may run in the child, which shares its memory
	 * until exec: block everything across vfork; the child resets and unblocks. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old_mask);
	pid_t pid = vfork();
	if (pid == 0) {
		close(report[0]);
		/* report[1] is close-on-exec: a successful exec closes it unwritten. */
		int keep = report[1];
		if (keep < 3) {
			keep = fcntl(keep, F_DUPFD_CLOEXEC, 3);
			if (keep < 0)
				_exit(127);
		}
		struct worker_spec copy = *spec;
		worker_child(&copy, parent, keep);
	}
	int err = errno;
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	close(report[1]);
	if (pid < 0) {
		close(report[0]);
		return -err;
	}
	int child_err = 0;
	ssize_t n;
	do
		n = read(report[0], &child_err, sizeof child_err);
	while (n < 0 && errno == EINTR);
	close(report[0]);
	if (n == sizeof child_err) {
		waitpid(pid, NULL, 0);
		return -child_err;
	}
	return pid;
}
