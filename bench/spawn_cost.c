/* What each layer of confinement costs a spawn: /bin/true started and waited
 * for N times in each mode, the mean per spawn printed in microseconds. Not a
 * test (the figures depend on the machine); for the README's cost table.
 * usage: spawn_cost [N]  (default 2000; needs root for the cgroup rows) */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawner/cgroup.h"
#include "spawner/sandbox.h"

enum mode { POSIX_SPAWN, FORK_EXEC, SANDBOX, CGROUP, CGROUP_KILL, NMODES };
static const char *const mode_name[NMODES] = {
	"posix_spawn + waitpid",
	"fork + execve + waitpid",
	"  + no_new_privs, rlimits, close_range",
	"  + cgroup create/enter/remove",
	"  + cgroup kill",
};

static char *argv_true[] = { "/bin/true", NULL };
static char *envp[] = { "PATH=/usr/bin:/bin", NULL };
static const struct sandbox sb = {
	.no_new_privs = true,
	.umask = 022,
	.cpu_seconds = 10,
	.memory_bytes = 256 << 20,
	.processes = 1000,
	.file_size = 1 << 30,
	.open_files = 256,
};

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int wait_ok(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int one(enum mode m, struct cgroups *cg, unsigned long id)
{
	struct child_cgroup cc;
	pid_t pid;

	if (m == POSIX_SPAWN) {
		if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv_true, envp) != 0)
			return -1;
		return wait_ok(pid);
	}
	if (m >= CGROUP && child_cgroup_create(cg, id, NULL, &cc) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (m >= CGROUP && child_cgroup_enter(&cc) < 0)
			_exit(126);
		if (m >= SANDBOX && sandbox_enter(&sb) < 0)
			_exit(126);
		execve("/bin/true", argv_true, envp);
		_exit(127);
	}
	if (m >= CGROUP)
		child_cgroup_close_fds(&cc);
	int r = pid < 0 ? -1 : wait_ok(pid);
	if (m == CGROUP_KILL)
		child_cgroup_kill(&cc);
	if (m >= CGROUP)
		for (int i = 0; i < 1000 && child_cgroup_remove(&cc) == -EBUSY; i++)
			usleep(100);
	return r;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	struct cgroups cg;
	char err[256];
	bool have_cg = cgroups_open(&cg, "gatewayd-bench", err, sizeof err) == 0;

	if (have_cg) {
		static const char *const hier[CG_NHIER] = { "cgroup2", "v1 pids", "v1 memory" };
		for (int h = 0; h < CG_NHIER; h++)
			if (cg.base[h][0])
				printf("# %s: %s\n", hier[h], cg.base[h]);
		printf("# cgroup2 controllers: pids %s, memory %s; cgroup.kill %s\n",
		       cg.v2_pids ? "yes" : "no", cg.v2_memory ? "yes" : "no",
		       cg.v2_kill ? "yes" : "no");
	} else {
		printf("# no cgroups: %s\n", err);
	}
	printf("# %d spawns of /bin/true per mode, mean per spawn\n", n);
	unsigned long id = 0;
	for (int m = 0; m < NMODES; m++) {
		if (m >= CGROUP && !have_cg)
			continue;
		for (int i = 0; i < n / 20 + 1; i++) /* warm up */
			one((enum mode)m, &cg, id++);
		double t0 = now_us();
		int failed = 0;
		for (int i = 0; i < n; i++)
			failed += one((enum mode)m, &cg, id++) < 0;
		double per = (now_us() - t0) / n;
		printf("%-42s %8.1f us%s\n", mode_name[m], per, failed ? " (some failed)" : "");
		fflush(stdout);
	}
	if (have_cg)
		cgroups_close(&cg);
	return 0;
}
