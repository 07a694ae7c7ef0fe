/* spawner/sandbox.c: what a child execs with after sandbox_enter(), as the
 * exec'd shell reports it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawner/sandbox.h"
#include "spawner/seccomp.h"

/* Fork a child that applies *sb and execs sh -c script with stdout on a pipe;
 * returns the output (static) and the status. Fd 7 is left open in the child,
 * not close-on-exec, for the script to look for. */
static char *run_sandboxed(const struct sandbox *sb, const char *script, int *status)
{
	int out[2];
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (dup2(out[1], 1) < 0 || dup2(out[1], 7) < 0)
			_exit(120);
		int err = sandbox_enter(sb);
		if (err < 0) {
			dprintf(1, "sandbox_enter: %d\n", err);
			_exit(121);
		}
		char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
		char *envp[] = { "PATH=/usr/bin:/bin", NULL };
		execve("/bin/sh", argv, envp);
		_exit(122);
	}
	close(out[1]);
	static char buf[4096];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof buf - 1 && (r = read(out[0], buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(out[0]);
	cr_assert_eq(waitpid(pid, status, 0), pid);
	return buf;
}

Test(sandbox, limits_umask_no_new_privs_and_fds_as_the_child_sees_them)
{
	struct sandbox sb = {
		.no_new_privs = true, .umask = 027, .cpu_seconds = 10,
		.memory_bytes = 512ULL << 20, .processes = 300, .file_size = 1 << 20,
		.open_files = 64,
	};
	int st;
	char *out = run_sandboxed(&sb,
	                          "grep NoNewPrivs /proc/self/status; umask; "
	                          "echo cpu $(ulimit -t) $(ulimit -H -t); echo as $(ulimit -v); "
	                          "echo nproc $(ulimit -p); echo fsize $(ulimit -f); "
	                          "echo nofile $(ulimit -n); echo core $(ulimit -c) $(ulimit -H -c); "
	                          "echo fds $(exec ls /proc/self/fd)",
	                          &st);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st, out);
	cr_assert(strstr(out, "NoNewPrivs:\t1\n"), "%s", out);
	cr_assert(strstr(out, "\n0027\n"), "%s", out);
	cr_assert(strstr(out, "cpu 10 11\n"), "%s", out);
	cr_assert(strstr(out, "as 524288\n"), "%s", out);
	cr_assert(strstr(out, "nproc 300\n"), "%s", out);
	cr_assert(strstr(out, "fsize 2048\n"), "%s", out); /* 512-byte blocks */
	cr_assert(strstr(out, "nofile 64\n"), "%s", out);
	cr_assert(strstr(out, "core 0 0\n"), "%s", out);
	/* ls's own fds: 0-2 and the directory it reads (3); fd 7 is gone. */
	cr_assert(strstr(out, "fds 0 1 2 3\n"), "%s", out);
}

Test(sandbox, zero_leaves_limits_inherited_and_core_is_always_off)
{
	struct rlimit nofile;
	getrlimit(RLIMIT_NOFILE, &nofile);
	struct sandbox sb = { .umask = -1 };
	int st;
	char *out = run_sandboxed(&sb,
	                          "grep NoNewPrivs /proc/self/status; echo nofile $(ulimit -n); "
	                          "echo cpu $(ulimit -t); echo core $(ulimit -c)",
	                          &st);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", out);
	cr_assert(strstr(out, "NoNewPrivs:\t0\n"), "%s", out);
	char want[64];
	snprintf(want, sizeof want, "nofile %llu\n", (unsigned long long)nofile.rlim_cur);
	cr_assert(strstr(out, want), "%s", out);
	cr_assert(strstr(out, "cpu unlimited\n"), "%s", out);
	cr_assert(strstr(out, "core 0\n"), "%s", out);
}

/* The spawner's report pipe survives sandbox_enter until exec: a failing
 * setuid or execve can still be reported. */
Test(sandbox, descriptors_are_close_on_exec_not_closed_before_exec)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sandbox sb = { .umask = -1 };
		if (sandbox_enter(&sb) < 0)
			_exit(1);
		int fl = fcntl(p[1], F_GETFD);
		_exit(fl >= 0 && (fl & FD_CLOEXEC) && write(p[1], "x", 1) == 1 ? 0 : 2);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	char c;
	cr_assert_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
}

/* A limit the kernel refuses: the error comes back, the child does not exec. */
Test(sandbox, a_refused_limit_is_returned)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Above fs.nr_open: EPERM, even for root. */
		struct sandbox sb = { .umask = -1, .open_files = 1ULL << 40 };
		int err = sandbox_enter(&sb);
		_exit(err == -EPERM ? 0 : 1);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}

Test(sandbox, describe_names_what_is_applied)
{
	char buf[256];
	struct sandbox sb = { .no_new_privs = true, .umask = 022, .cpu_seconds = 10,
		              .memory_bytes = 268435456 };
	size_t n = sandbox_describe(&sb, buf, sizeof buf);
	const char *want = "{\"no_new_privs\":true,\"umask\":\"022\",\"cpu\":10,"
	                   "\"memory\":268435456,\"core\":0}";
	cr_assert_str_eq(buf, want);
	cr_assert_eq(n, strlen(want));

	struct sandbox all = { .umask = -1, .processes = 1, .file_size = 2, .open_files = 3 };
	sandbox_describe(&all, buf, sizeof buf);
	cr_assert_str_eq(buf, "{\"no_new_privs\":false,\"processes\":1,\"file_size\":2,"
	                      "\"open_files\":3,\"core\":0}");
}

Test(sandbox, describe_cut_short_says_how_much_it_needed)
{
	char buf[16];
	struct sandbox sb = { .no_new_privs = true, .umask = 077, .cpu_seconds = 5 };
	char full[128];
	size_t need = sandbox_describe(&sb, full, sizeof full);
	cr_assert_eq(sandbox_describe(&sb, buf, sizeof buf), need);
	cr_assert_eq(strlen(buf), sizeof buf - 1);
	cr_assert_eq(strncmp(buf, full, sizeof buf - 1), 0);
	cr_assert_eq(sandbox_describe(&sb, NULL, 0), need);
}

/* The seccomp deny-list: what it lists fails with EPERM (unshare, mount,
 * ptrace through strace-like use), the rest of a script runs. */
Test(sandbox, seccomp_denies_its_list_and_allows_the_rest)
{
	if (!seccomp_deny_available())
		cr_skip_test("no seccomp on this kernel");
	struct sandbox sb = { .umask = -1, .no_new_privs = true, .seccomp = true };
	int st;
	char *out = run_sandboxed(&sb,
	                          "unshare -U true 2>/dev/null && echo unshare-ran;"
	                          "python3 -c 'import ctypes,os; l=ctypes.CDLL(None,use_errno=True);"
	                          " r=l.mount(b\"none\",b\"/tmp\",b\"tmpfs\",0,None);"
	                          " print(\"mount\", r, os.strerror(ctypes.get_errno()))';"
	                          "grep Seccomp: /proc/self/status; echo still-running",
	                          &st);
	cr_expect_null(strstr(out, "unshare-ran"), "unshare ran under the deny-list: %s", out);
	cr_expect(strstr(out, "mount -1 Operation not permitted"), "mount: %s", out);
	cr_expect(strstr(out, "Seccomp:\t2"), "no filter in the child: %s", out);
	cr_expect(strstr(out, "still-running"), "the script itself did not run on: %s", out);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	char desc[256];
	sandbox_describe(&sb, desc, sizeof desc);
	cr_expect(strstr(desc, "\"seccomp\":\"deny-list\""), "%s", desc);
}
