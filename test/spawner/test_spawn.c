/* spawner/spawn.c: the fd table, environment, cwd, process group and signal
 * state a child starts with. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawner/spawn.h"

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void no_leaks(void)
{
	if (__lsan_do_recoverable_leak_check)
		cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked");
}

/* Run sh -c script with the given env and cwd; returns its stdout. */
static char *run_sh(const char *script, char *const envp[], const char *cwd, int *status)
{
	int out[2];
	cr_assert_eq(spawn_pipe(out, 0), 0);
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	struct spawn_spec spec = {
		.path = "/bin/sh", .argv = argv, .envp = envp, .cwd = cwd,
		.fd = {-1, out[1], -1}, .new_process_group = true,
	};
	pid_t pid = spawn_process(&spec);
	cr_assert_gt(pid, 0, "spawn: %s", strerror((int)-pid));
	close(out[1]);
	int fl = fcntl(out[0], F_GETFL);
	fcntl(out[0], F_SETFL, fl & ~O_NONBLOCK);
	static char buf[8192];
	size_t n = 0;
	ssize_t r;
	while ((r = read(out[0], buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(out[0]);
	cr_assert_eq(waitpid(pid, status, 0), pid);
	return buf;
}

Test(spawn, environment_is_exactly_what_was_given)
{
	setenv("GW_SHOULD_NOT_LEAK", "1", 1);
	char *envp[] = {"ONLY=this", NULL};
	int st;
	char *out = run_sh("env", envp, NULL, &st);
	cr_assert(strstr(out, "ONLY=this"));
	cr_assert_null(strstr(out, "GW_SHOULD_NOT_LEAK"), "inherited: %s", out);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	no_leaks();
}

Test(spawn, child_gets_only_fds_0_1_2)
{
	/* A descriptor the parent holds open (close-on-exec) must not reach the child. */
	int extra = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(extra, 3);
	char *envp[] = {NULL};
	int st;
	char *out = run_sh("ls /proc/self/fd | sort -n | tr '\\n' ' '", envp, NULL, &st);
	/* 0, 1, 2 and the fd ls itself opens on /proc/self/fd (3). */
	cr_assert_str_eq(out, "0 1 2 3 ", "child fds: %s", out);
	close(extra);
	no_leaks();
}

Test(spawn, cwd_and_process_group)
{
	char *envp[] = {NULL};
	int st;
	char *out = run_sh("pwd; ps -o pgid= -p $$ | tr -d ' '; echo $$", envp, "/tmp", &st);
	char cwd[64];
	long pgid, pid;
	cr_assert_eq(sscanf(out, "%63s %ld %ld", cwd, &pgid, &pid), 3, "%s", out);
	cr_assert_str_eq(cwd, "/tmp");
	cr_assert_eq(pgid, pid, "the child leads its own group");
	no_leaks();
}

Test(spawn, signals_reset_to_default)
{
	/* The daemon ignores SIGPIPE; a script must not inherit that. */
	signal(SIGPIPE, SIG_IGN);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	char *envp[] = {NULL};
	int st;
	char *out = run_sh("grep -E '^(SigIgn|SigBlk)' /proc/self/status", envp, NULL, &st);
	unsigned long long ign = 0, blk = 0;
	const char *p = strstr(out, "SigIgn:");
	const char *b = strstr(out, "SigBlk:");
	cr_assert(p && b, "%s", out);
	ign = strtoull(p + 7, NULL, 16);
	blk = strtoull(b + 7, NULL, 16);
	cr_assert_eq(ign & (1ULL << (SIGPIPE - 1)), 0, "SIGPIPE still ignored: %s", out);
	cr_assert_eq(blk & (1ULL << (SIGTERM - 1)), 0, "SIGTERM still blocked: %s", out);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	no_leaks();
}

Test(spawn, exec_failure_is_returned)
{
	char *argv[] = {"/nonexistent/prog", NULL};
	char *envp[] = {NULL};
	struct spawn_spec spec = {.path = "/nonexistent/prog", .argv = argv, .envp = envp,
	                          .fd = {-1, -1, -1}};
	pid_t pid = spawn_process(&spec);
	cr_assert_eq(pid, -ENOENT);
	no_leaks();
}

Test(spawn, signal_group_reaches_grandchildren)
{
	int out[2];
	cr_assert_eq(spawn_pipe(out, 0), 0);
	char *argv[] = {"/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL};
	char *envp[] = {NULL};
	struct spawn_spec spec = {.path = "/bin/sh", .argv = argv, .envp = envp,
	                          .fd = {-1, out[1], -1}, .new_process_group = true};
	pid_t pid = spawn_process(&spec);
	cr_assert_gt(pid, 0);
	close(out[1]);
	int fl = fcntl(out[0], F_GETFL);
	fcntl(out[0], F_SETFL, fl & ~O_NONBLOCK);
	char buf[32] = "";
	cr_assert_gt(read(out[0], buf, sizeof buf - 1), 0);
	pid_t grandchild = (pid_t)atol(buf);
	cr_assert_gt(grandchild, 0);
	cr_assert_eq(spawn_signal_group(pid, SIGKILL), 0);
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFSIGNALED(st));
	/* The grandchild was in the group: it is gone or a zombie of init soon. */
	int alive = 1;
	for (int i = 0; i < 100 && alive; i++) {
		char path[64], state = 0;
		snprintf(path, sizeof path, "/proc/%d/stat", (int)grandchild);
		FILE *f = fopen(path, "r");
		if (!f) {
			alive = 0;
			break;
		}
		if (fscanf(f, "%*d %*s %c", &state) != 1)
			state = 0;
		fclose(f);
		alive = state != 'Z' && state != 0;
		if (alive)
			usleep(10000);
	}
	cr_assert_eq(alive, 0, "grandchild %d survived", (int)grandchild);
	close(out[0]);
	no_leaks();
}

Test(spawn, pipe_ends)
{
	int p[2];
	cr_assert_eq(spawn_pipe(p, 1), 0);
	cr_assert(fcntl(p[1], F_GETFL) & O_NONBLOCK, "the daemon's end is non-blocking");
	cr_assert_not(fcntl(p[0], F_GETFL) & O_NONBLOCK, "the child's end blocks");
	cr_assert(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
	cr_assert(fcntl(p[1], F_GETFD) & FD_CLOEXEC);
	close(p[0]);
	close(p[1]);
	no_leaks();
}
