#include "spawner/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* The child half of spawn_process, between vfork and exec: only system calls,
 * no allocation, no stdio. Reports an errno through the pipe and exits. */
static void child(const struct spawn_spec *spec, pid_t parent, int report)
{
	sigset_t none;
	int err = 0;

	/* exec resets caught signals but keeps ignored ones (the daemon ignores
	 * SIGPIPE, the spawner more): every disposition back to the default. */
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (spec->new_process_group && setpgid(0, 0) < 0)
		goto fail;
	/* Die with the spawner; if it is already gone, go now. */
	if (spec->die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
		_exit(127);
	int null = -1;
	for (int i = 0; i < 3; i++) {
		if (spec->fd[i] < 0 && null < 0 && (null = open("/dev/null", O_RDWR)) < 0)
			goto fail;
		if (dup2(spec->fd[i] >= 0 ? spec->fd[i] : null, i) < 0)
			goto fail;
	}
	if (spec->cwd && chdir(spec->cwd) < 0)
		goto fail;
	if (spec->in_child && (err = -spec->in_child(spec->in_child_arg)) != 0)
		goto report;
	if (spec->set_ids &&
	    (setgroups(1, &spec->gid) < 0 || setgid(spec->gid) < 0 || setuid(spec->uid) < 0))
		goto fail;
	if (report > 3)
		close_range(3, (unsigned)report - 1, 0);
	close_range((unsigned)report + 1, ~0U, 0);
	execve(spec->path, spec->argv, spec->envp);
fail:
	err = errno;
report:
	if (write(report, &err, sizeof err) < 0)
		_exit(126);
	_exit(127);
}

pid_t spawn_process(const struct spawn_spec *spec)
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
		child(spec, parent, keep);
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
