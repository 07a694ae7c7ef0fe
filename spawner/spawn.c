#include "spawner/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

pid_t spawn_process(const struct spawn_spec *spec)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
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

	sigemptyset(&none);
	sigfillset(&all);
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	if (spec->new_process_group) {
		flags |= POSIX_SPAWN_SETPGROUP;
		if (err == 0)
			err = posix_spawnattr_setpgroup(&attr, 0);
	}
	if (err == 0)
		err = posix_spawnattr_setsigmask(&attr, &none);
	if (err == 0)
		err = posix_spawnattr_setsigdefault(&attr, &all);
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
