/* spawner/cgroup.c: a child's whole tree in one cgroup, killed, limited,
 * measured and removed; discovery from mountinfo and its fall-back. Every loop
 * is bounded; whatever a failed test leaves running is killed by pid in fini
 * (cgroups_close reads the members from cgroup.procs). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawner/cgroup.h"
#include "spawner/spawn.h"

static struct cgroups cg;
static bool cg_open;

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void setup(void)
{
	char err[256];
	/* Orphans (the setsid grandchild) come back to us, to be reaped by pid. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	cg_open = cgroups_open(&cg, "gwtest", err, sizeof err) == 0;
	if (!cg_open)
		cr_skip_test("no usable cgroup hierarchy: %s", err);
}

static void teardown(void)
{
	if (cg_open)
		cgroups_close(&cg);
	cg_open = false;
	/* Reap whatever came back to us; the group kill took care of the rest. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

TestSuite(cgroup, .init = setup, .fini = teardown);

static int enter(const void *arg)
{
	return child_cgroup_enter(arg);
}

/* Start a child in cc as the spawner does (born in the cgroup2 group where
 * the kernel can) that runs sh -c script; its stdout and stderr on *out_fd
 * (if not NULL), else /dev/null. */
static pid_t start_in(struct child_cgroup *cc, const char *script, int *out_fd)
{
	int p[2] = { -1, -1 };
	if (out_fd)
		cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct spawn_spec spec = { .path = "/bin/sh",
		                   .argv = argv,
		                   .envp = envp,
		                   .fd = { -1, p[1], p[1] },
		                   .in_child = enter,
		                   .in_child_arg = cc,
		                   .cgroup_fd = cc->birth_fd > 2 ? cc->birth_fd : 0 };
	pid_t pid = spawn_process(&spec);
	cr_assert_gt(pid, 0, "spawn: %s", strerror((int)-pid));
	child_cgroup_close_fds(cc);
	if (out_fd) {
		close(p[1]);
		*out_fd = p[0];
	}
	return pid;
}

/* A child started in cc lists cc's cgroup2 group as its own; cc is removed. */
static void expect_child_in(struct child_cgroup *cc)
{
	int out;
	pid_t child = start_in(cc, "cat /proc/self/cgroup", &out);
	char buf[4096];
	ssize_t n, len = 0;
	while (len < (ssize_t)sizeof buf - 1 && (n = read(out, buf + len, sizeof buf - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	close(out);
	cr_assert_eq(waitpid(child, NULL, 0), child);
	const char *leaf = strrchr(cc->dir[CG_V2], '/');
	char want[CGROUP_PATH_MAX + 8];
	snprintf(want, sizeof want, "%s\n", leaf);
	cr_assert(strstr(buf, want), "child's cgroups:\n%s\nwanted ...%s", buf, leaf);
	cr_assert_eq(child_cgroup_remove(cc), 0);
}

/* Where the kernel can, a child is born in its group: it never ran outside. */
Test(cgroup, born_in_its_group)
{
	if (!cg.v2_birth)
		cr_skip_test("clone3 cannot start a child in a cgroup here");
	struct child_cgroup cc;
	cr_assert_eq(child_cgroup_create(&cg, 6, NULL, &cc), 0);
	cr_assert_geq(cc.birth_fd, 0);
	cr_assert_lt(cc.procs_fd[CG_V2], 0, "no migration for cgroup2");
	expect_child_in(&cc);
}

/* Where the kernel refuses a birth (here: a directory that is no cgroup),
 * that spawn fails cleanly and later children move in by cgroup.procs. */
Test(cgroup, refused_birth_moves_in)
{
	if (!cg.v2_birth)
		cr_skip_test("clone3 cannot start a child in a cgroup here");
	int notcg = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(notcg, 3);
	char *argv[] = { "/bin/true", NULL };
	char *envp[] = { NULL };
	struct spawn_spec bad = { .path = "/bin/true", .argv = argv, .envp = envp,
		                  .fd = { -1, -1, -1 }, .cgroup_fd = notcg };
	pid_t pid = spawn_process(&bad);
	cr_expect_lt(pid, 0, "a child started in /tmp as its cgroup");
	if (pid > 0)
		waitpid(pid, NULL, 0);
	close(notcg);

	struct child_cgroup cc;
	cr_assert_eq(child_cgroup_create(&cg, 7, NULL, &cc), 0);
	expect_child_in(&cc);
}

/* The group's members, from the first hierarchy it is in. */
static int members(const struct child_cgroup *cc, pid_t *pids, int max)
{
	for (int h = 0; h < CG_NHIER; h++) {
		if (!cc->dir[h][0])
			continue;
		char path[CGROUP_PATH_MAX + 16];
		snprintf(path, sizeof path, "%s/cgroup.procs", cc->dir[h]);
		FILE *f = fopen(path, "re");
		cr_assert_not_null(f, "%s: %s", path, strerror(errno));
		int n = 0;
		long pid;
		while (fscanf(f, "%ld", &pid) == 1)
			if (n < max)
				pids[n++] = (pid_t)pid;
		fclose(f);
		return n;
	}
	return 0;
}

static bool is_sleep(pid_t pid)
{
	char path[64], comm[32] = "";
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool yes = fgets(comm, sizeof comm, f) && strcmp(comm, "sleep\n") == 0;
	fclose(f);
	return yes;
}

/* waitpid with a deadline: true once reaped. */
static bool reap(pid_t pid, int *status, long ms)
{
	for (long t = 0; t <= ms; t += 5) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0)
			return false;
		sleep_ms(5);
	}
	return false;
}

static bool gone(const char *dir)
{
	struct stat st;
	return stat(dir, &st) < 0 && errno == ENOENT;
}

Test(cgroup, kill_takes_the_setsid_grandchild_too)
{
	struct child_cgroup cc;
	cr_assert_eq(child_cgroup_create(&cg, 1, NULL, &cc), 0);
	pid_t child = start_in(&cc, "setsid sleep 600 & sleep 600", NULL);

	pid_t pids[16], sleeps[2];
	int nsleep = 0;
	for (int i = 0; i < 400 && nsleep < 2; i++) {
		int n = members(&cc, pids, 16);
		nsleep = 0;
		for (int k = 0; k < n && nsleep < 2; k++)
			if (is_sleep(pids[k]))
				sleeps[nsleep++] = pids[k];
		if (nsleep < 2)
			sleep_ms(5);
	}
	cr_assert_eq(nsleep, 2, "the two sleeps never showed up in the group");
	/* One of them left the child's session: a process group kill misses it. */
	cr_assert(getsid(sleeps[0]) != getsid(child) || getsid(sleeps[1]) != getsid(child));

	cr_assert_eq(child_cgroup_kill(&cc), 0);
	int st;
	cr_assert(reap(child, &st, 2000));
	/* Reparented to us (the subreaper) and reaped here, or reaped already by
	 * the kernel when it died before the shell: either way gone in 2 s. */
	for (int k = 0; k < 2; k++) {
		int i = 0;
		for (; i < 400 && kill(sleeps[k], 0) == 0; i++) {
			waitpid(sleeps[k], NULL, WNOHANG);
			sleep_ms(5);
		}
		cr_assert_eq(kill(sleeps[k], 0), -1, "sleep %d still there", (int)sleeps[k]);
		cr_assert_eq(errno, ESRCH);
	}
	cr_assert_eq(members(&cc, pids, 16), 0);
	cr_assert_eq(child_cgroup_remove(&cc), 0);
	for (int h = 0; h < CG_NHIER; h++)
		cr_assert(!cc.dir[h][0]);
}

Test(cgroup, pids_max_refuses_the_fork_past_it)
{
	struct child_cgroup_limits lim = { .pids_max = 10 };
	struct child_cgroup cc;
	cr_assert_eq(child_cgroup_create(&cg, 2, &lim, &cc), 0);
	if (!cc.pids_limited)
		cr_skip_test("no pids controller in any hierarchy");
	int out;
	pid_t child = start_in(&cc,
	                       "i=0; while [ $i -lt 50 ]; do sleep 600 >/dev/null 2>&1 & "
	                       "i=$((i+1)); done; echo all started",
	                       &out);
	int st;
	bool exited = reap(child, &st, 10000);
	pid_t pids[64];
	int n = members(&cc, pids, 64);
	cr_assert_eq(child_cgroup_kill(&cc), 0);
	if (!exited)
		cr_assert(reap(child, &st, 2000));
	char buf[512] = "";
	ssize_t r = read(out, buf, sizeof buf - 1);
	buf[r > 0 ? r : 0] = '\0';
	close(out);
	cr_assert(exited, "the shell started 50 sleeps and did not stop");
	cr_assert_null(strstr(buf, "all started"), "%s", buf);
	cr_assert(n >= 1 && n <= 10, "%d members", n);
	for (int k = 0; k < n; k++)
		reap(pids[k], NULL, 2000);
	for (int i = 0; i < 100 && child_cgroup_remove(&cc) == -EBUSY; i++)
		sleep_ms(10);
	cr_assert(gone(cc.dir[CG_V2][0] ? cc.dir[CG_V2] : "/nonexistent"));
}

Test(cgroup, stats_count_a_busy_loop)
{
	struct child_cgroup_limits lim = { .memory_max = 256 << 20 };
	struct child_cgroup cc;
	cr_assert_eq(child_cgroup_create(&cg, 3, &lim, &cc), 0);
	pid_t child = start_in(&cc, "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done", NULL);
	int st;
	bool exited = reap(child, &st, 20000);
	if (!exited) {
		child_cgroup_kill(&cc);
		reap(child, &st, 2000);
	}
	cr_assert(exited && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	uint64_t cpu_us, rss_kb;
	cr_assert_eq(child_cgroup_stats(&cc, &cpu_us, &rss_kb), 0);
	if (cc.dir[CG_V2][0])
		cr_assert(cpu_us != CGROUP_STAT_UNKNOWN && cpu_us >= 10000, "cpu %llu us",
		          (unsigned long long)cpu_us);
	if (cc.memory_hier >= 0)
		cr_assert(rss_kb != CGROUP_STAT_UNKNOWN && rss_kb > 0);
	cr_assert_eq(child_cgroup_remove(&cc), 0);
}

Test(cgroup, remove_is_ebusy_until_the_members_are_gone)
{
	struct child_cgroup cc;
	cr_assert_eq(child_cgroup_create(&cg, 4, NULL, &cc), 0);
	char dirs[CG_NHIER][CGROUP_PATH_MAX];
	memcpy(dirs, cc.dir, sizeof dirs);
	pid_t child = start_in(&cc, "exec sleep 600", NULL);
	pid_t pids[4];
	for (int i = 0; i < 400 && members(&cc, pids, 4) == 0; i++)
		sleep_ms(5);
	cr_assert_eq(child_cgroup_remove(&cc), -EBUSY);
	cr_assert_eq(child_cgroup_kill(&cc), 0);
	cr_assert(reap(child, NULL, 2000));
	cr_assert_eq(child_cgroup_remove(&cc), 0);
	for (int h = 0; h < CG_NHIER; h++)
		if (dirs[h][0])
			cr_assert(gone(dirs[h]), "%s left", dirs[h]);
}

Test(cgroup, close_leaves_no_directory_behind)
{
	struct child_cgroup cc;
	cr_assert_eq(child_cgroup_create(&cg, 5, NULL, &cc), 0);
	pid_t child = start_in(&cc, "exec sleep 600", NULL);
	pid_t pids[4];
	for (int i = 0; i < 400 && members(&cc, pids, 4) == 0; i++)
		sleep_ms(5);
	char bases[CG_NHIER][CGROUP_PATH_MAX];
	memcpy(bases, cg.base, sizeof bases);
	/* Not killed nor removed by the caller: close does both. */
	cgroups_close(&cg);
	cg_open = false;
	cr_assert(reap(child, NULL, 2000));
	for (int h = 0; h < CG_NHIER; h++)
		if (bases[h][0])
			cr_assert(gone(bases[h]), "%s left", bases[h]);
}

/* A dead spawner's base (and a child group in it) goes at the next open. */
Test(cgroup, open_removes_the_stale_base_of_a_dead_pid)
{
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	cr_assert(reap(dead, NULL, 2000));
	int h = cg.base[CG_V2][0] ? CG_V2 : cg.base[CG_V1_PIDS][0] ? CG_V1_PIDS : CG_V1_MEMORY;
	char parent[CGROUP_PATH_MAX], stale[CGROUP_PATH_MAX + 32], sub[CGROUP_PATH_MAX + 40];
	strcpy(parent, cg.base[h]);
	dirname(parent);
	snprintf(stale, sizeof stale, "%s/gwtest-%d", parent, (int)dead);
	snprintf(sub, sizeof sub, "%s/c9", stale);
	cr_assert_eq(mkdir(stale, 0755), 0, "%s: %s", stale, strerror(errno));
	cr_assert_eq(mkdir(sub, 0755), 0);

	struct cgroups again;
	char err[256];
	cr_assert_eq(cgroups_open(&again, "gwtest", err, sizeof err), 0, "%s", err);
	cr_assert(gone(stale), "%s left", stale);
	cgroups_close(&again); /* the same base as cg's: both are gone now */
}

/* Discovery from files: a cgroup2 "mount" on an ordinary directory, with a
 * mount root and an escaped space; and the fall-backs. */
Test(cgroup_discovery, paths_come_from_mountinfo_and_proc_cgroup)
{
	char tmp[] = "/tmp/gwcg.XXXXXX";
	cr_assert_not_null(mkdtemp(tmp));
	char dir[128], mi[128], pc[128], path[300];
	snprintf(dir, sizeof dir, "%s/my cg", tmp);
	cr_assert_eq(mkdir(dir, 0755), 0);
	snprintf(path, sizeof path, "%s/own", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(mi, sizeof mi, "%s/mountinfo", tmp);
	snprintf(pc, sizeof pc, "%s/cgroup", tmp);
	FILE *f = fopen(mi, "w");
	fprintf(f, "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	           "41 31 0:38 /delegated %s/my\\040cg rw,relatime shared:9 - cgroup2 cgroup2 rw\n",
	        tmp);
	fclose(f);
	f = fopen(pc, "w");
	fprintf(f, "4:memory:/x\n0::/delegated/own\n");
	fclose(f);

	struct cgroups c;
	char err[256];
	cr_assert_eq(cgroups_open_from(&c, "gwtest", mi, pc, err, sizeof err), 0, "%s", err);
	snprintf(path, sizeof path, "%s/my cg/own/gwtest-%d", tmp, (int)getpid());
	cr_assert_str_eq(c.base[CG_V2], path);
	cr_assert_eq(c.base[CG_V1_PIDS][0], '\0');
	cr_assert_eq(c.base[CG_V1_MEMORY][0], '\0'); /* no memory mount listed */
	cr_assert(!c.v2_pids && !c.v2_memory);
	cgroups_close(&c);
	cr_assert(gone(path));

	/* Our cgroup outside the mounted root: not usable, and said why. */
	f = fopen(pc, "w");
	fprintf(f, "0::/elsewhere\n");
	fclose(f);
	cr_assert_eq(cgroups_open_from(&c, "gwtest", mi, pc, err, sizeof err), -1);
	cr_assert(strstr(err, "no cgroup2"), "%s", err);

	cr_assert_eq(cgroups_open_from(&c, "gwtest", "/nonexistent/mountinfo", pc, err,
	                               sizeof err),
	             -1);
	cr_assert(strstr(err, "/nonexistent/mountinfo"), "%s", err);

	snprintf(path, sizeof path, "rm -rf '%s'", tmp);
	cr_assert_eq(system(path), 0);
}
