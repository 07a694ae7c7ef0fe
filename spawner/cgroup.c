#include "spawner/cgroup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How long a kill waits for a group to empty: rounds of 1 ms. */
#define KILL_ROUNDS 1000

static int write_str(const char *dir, const char *file, const char *s)
{
	char path[CGROUP_PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, s, strlen(s));
	int e = n < 0 ? -errno : 0;
	close(fd);
	return e;
}

/* The file's text, cut to cap - 1 bytes; length or -errno. */
static ssize_t read_str(const char *dir, const char *file, char *buf, size_t cap)
{
	char path[CGROUP_PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	ssize_t r;
	while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

static bool exists(const char *dir, const char *file)
{
	char path[CGROUP_PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

/* SIGKILL to every pid in dir/cgroup.procs; how many there were, or -errno.
 * Read in pieces: a group may hold more pids than one buffer. */
static int kill_members(const char *dir)
{
	char path[CGROUP_PATH_MAX + 64], buf[4096];
	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int count = 0;
	long pid = 0;
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < r; i++) {
			if (isdigit((unsigned char)buf[i])) {
				pid = pid * 10 + (buf[i] - '0');
			} else if (pid > 0) {
				kill((pid_t)pid, SIGKILL);
				count++;
				pid = 0;
			}
		}
	}
	if (pid > 0) {
		kill((pid_t)pid, SIGKILL);
		count++;
	}
	close(fd);
	return count;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ms * 1000000L };
	nanosleep(&ts, NULL);
}

/* Kill every member of one group and wait, bounded, until it is empty. */
static int kill_group(const char *dir, bool use_kill_file)
{
	if (use_kill_file && write_str(dir, "cgroup.kill", "1") < 0)
		use_kill_file = false;
	for (int round = 0; round < KILL_ROUNDS; round++) {
		int n;
		if (use_kill_file) {
			char buf[16];
			/* Members are gone once they exited; zombies are not listed. */
			n = read_str(dir, "cgroup.procs", buf, sizeof buf) > 0 ? 1 : 0;
		} else {
			/* New members (a fork racing the loop) are caught next round. */
			n = kill_members(dir);
		}
		if (n == 0 || n == -ENOENT)
			return 0;
		if (n < 0)
			return n;
		sleep_ms(1);
	}
	return -EBUSY;
}

/* Kill and remove dir's child groups, then dir itself. */
static int remove_tree(const char *dir, bool has_kill)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *e;
	char sub[CGROUP_PATH_MAX + 300];
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
		kill_group(sub, has_kill);
		/* rmdir may see members that exited a moment ago: a few tries. */
		for (int i = 0; i < 100 && rmdir(sub) < 0 && errno == EBUSY; i++)
			sleep_ms(1);
	}
	closedir(d);
	kill_group(dir, has_kill);
	return rmdir(dir) < 0 && errno != ENOENT ? -errno : 0;
}

/* A mountinfo field: octal escapes (\040 for a space) undone in place. */
static void unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* word in a list separated by sep ("rw,pids", "cpu memory pids"). */
static bool has_word(const char *list, const char *word, char sep)
{
	size_t len = strlen(word);
	for (const char *p = list; p; p = strchr(p, sep)) {
		if (*p == sep)
			p++;
		if (strncmp(p, word, len) == 0 &&
		    (p[len] == sep || p[len] == '\0' || p[len] == '\n'))
			return true;
	}
	return false;
}

static bool has_option(const char *opts, const char *opt)
{
	return has_word(opts, opt, ',');
}

/* Whether clone3 takes CLONE_INTO_CGROUP: asked with a descriptor that is not
 * open, so that a kernel that knows the flag fails with EBADF before making
 * anything; one without clone3 (or a filter refusing it) says ENOSYS, one
 * without the flag EINVAL. */
static bool can_clone_into_cgroup(void)
{
#if defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
	struct clone_args a = { .flags = CLONE_INTO_CGROUP,
		                .exit_signal = SIGCHLD,
		                .cgroup = (uint64_t)INT32_MAX };
	return syscall(SYS_clone3, &a, sizeof a) < 0 && errno == EBADF;
#else
	return false;
#endif
}

struct found {
	char own[CG_NHIER][CGROUP_PATH_MAX]; /* our cgroup in each, from /proc/self/cgroup */
	bool in[CG_NHIER];
	char dir[CG_NHIER][CGROUP_PATH_MAX]; /* that cgroup's directory */
};

static void read_proc_cgroup(FILE *f, struct found *fd)
{
	char line[1024];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = *c2 = '\0';
		const char *ctrls = c1 + 1, *path = c2 + 1;
		int h = -1;
		if (strcmp(line, "0") == 0 && *ctrls == '\0')
			h = CG_V2;
		else if (has_option(ctrls, "pids"))
			h = CG_V1_PIDS;
		else if (has_option(ctrls, "memory"))
			h = CG_V1_MEMORY;
		if (h >= 0 && strlen(path) < CGROUP_PATH_MAX) {
			strcpy(fd->own[h], path);
			fd->in[h] = true;
		}
	}
}

/* The first mount of each hierarchy whose root holds our cgroup. */
static void read_mountinfo(FILE *f, struct found *fd)
{
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *field[6], *save = NULL, *sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		char *tail = sep + 3;
		int n = 0;
		for (char *t = strtok_r(line, " ", &save); t && n < 6;
		     t = strtok_r(NULL, " ", &save))
			field[n++] = t;
		char *fstype = strtok_r(tail, " ", &save);
		char *source = fstype ? strtok_r(NULL, " ", &save) : NULL;
		char *super = source ? strtok_r(NULL, " ", &save) : NULL;
		if (n < 5 || !super)
			continue;
		int h = -1;
		if (strcmp(fstype, "cgroup2") == 0)
			h = CG_V2;
		else if (strcmp(fstype, "cgroup") == 0 && has_option(super, "pids"))
			h = CG_V1_PIDS;
		else if (strcmp(fstype, "cgroup") == 0 && has_option(super, "memory"))
			h = CG_V1_MEMORY;
		if (h < 0 || !fd->in[h] || fd->dir[h][0])
			continue;
		char *root = field[3], *mnt = field[4];
		unescape(root);
		unescape(mnt);
		/* Our cgroup must be inside what is mounted: root "/" mounts all. */
		size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
		const char *own = fd->own[h];
		if (strncmp(own, root, rl) != 0 || (own[rl] != '/' && own[rl] != '\0'))
			continue;
		const char *rest = own + rl;
		if (strcmp(rest, "/") == 0)
			rest = "";
		int len = snprintf(fd->dir[h], CGROUP_PATH_MAX, "%s%s", mnt, rest);
		if (len < 0 || len >= CGROUP_PATH_MAX - 64)
			fd->dir[h][0] = '\0';
	}
}

/* Siblings <name>-<pid> of a spawner that is gone: kill what they hold. */
static void remove_stale(const char *parent, const char *name, bool has_kill)
{
	DIR *d = opendir(parent);
	if (!d)
		return;
	size_t nl = strlen(name);
	struct dirent *e;
	char path[CGROUP_PATH_MAX + 300];
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || strncmp(e->d_name, name, nl) != 0 ||
		    e->d_name[nl] != '-')
			continue;
		char *end;
		errno = 0;
		long pid = strtol(e->d_name + nl + 1, &end, 10);
		if (errno || *end || end == e->d_name + nl + 1 || pid <= 0 || pid == getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
		remove_tree(path, has_kill);
	}
	closedir(d);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int cgroups_open_from(struct cgroups *cg, const char *name, const char *mountinfo,
                      const char *proc_cgroup, char *err, size_t errlen)
{
	struct found fd;
	memset(cg, 0, sizeof *cg);
	memset(&fd, 0, sizeof fd);

	FILE *f = fopen(proc_cgroup, "re");
	if (!f) {
		set_err(err, errlen, "%s: %s", proc_cgroup, strerror(errno));
		return -1;
	}
	read_proc_cgroup(f, &fd);
	fclose(f);
	if (!(f = fopen(mountinfo, "re"))) {
		set_err(err, errlen, "%s: %s", mountinfo, strerror(errno));
		return -1;
	}
	read_mountinfo(f, &fd);
	fclose(f);

	char why[256] = "no cgroup2, v1 pids or v1 memory hierarchy holding our cgroup is mounted";
	for (int h = 0; h < CG_NHIER; h++) {
		if (!fd.dir[h][0])
			continue;
		/* v1 only for what the cgroup2 tree cannot do (a controller is in one
		 * hierarchy at a time, so this is decided once cgroup2 is set up). */
		if ((h == CG_V1_PIDS && cg->v2_pids) || (h == CG_V1_MEMORY && cg->v2_memory))
			continue;
		bool kill_file = h == CG_V2;
		remove_stale(fd.dir[h], name, kill_file);
		char *base = cg->base[h];
		snprintf(base, CGROUP_PATH_MAX, "%s/%s-%ld", fd.dir[h], name, (long)getpid());
		if (mkdir(base, 0755) < 0 && errno != EEXIST) {
			snprintf(why, sizeof why, "mkdir %s: %s", base, strerror(errno));
			base[0] = '\0';
			continue;
		}
		if (h != CG_V2)
			continue;
		/* Controllers for the children: ours must pass them to the base, the
		 * base to its children. Either may be refused; what is on is read back. */
		char ctl[256];
		if (read_str(fd.dir[h], "cgroup.controllers", ctl, sizeof ctl) > 0) {
			if (has_word(ctl, "pids", ' '))
				write_str(fd.dir[h], "cgroup.subtree_control", "+pids");
			if (has_word(ctl, "memory", ' '))
				write_str(fd.dir[h], "cgroup.subtree_control", "+memory");
		}
		write_str(base, "cgroup.subtree_control", "+pids");
		write_str(base, "cgroup.subtree_control", "+memory");
		if (read_str(base, "cgroup.subtree_control", ctl, sizeof ctl) >= 0) {
			cg->v2_pids = has_word(ctl, "pids", ' ');
			cg->v2_memory = has_word(ctl, "memory", ' ');
		}
		cg->v2_kill = exists(base, "cgroup.kill");
		cg->v2_birth = can_clone_into_cgroup();
	}
	for (int h = 0; h < CG_NHIER; h++)
		if (cg->base[h][0])
			return 0;
	set_err(err, errlen, "%s", why);
	return -1;
}

int cgroups_open(struct cgroups *cg, const char *name, char *err, size_t errlen)
{
	return cgroups_open_from(cg, name, "/proc/self/mountinfo", "/proc/self/cgroup", err,
	                         errlen);
}

void cgroups_close(struct cgroups *cg)
{
	for (int h = 0; h < CG_NHIER; h++) {
		if (cg->base[h][0])
			remove_tree(cg->base[h], h == CG_V2 && cg->v2_kill);
		cg->base[h][0] = '\0';
	}
}

int child_cgroup_create(const struct cgroups *cg, uint64_t id,
                        const struct child_cgroup_limits *limits, struct child_cgroup *cc)
{
	char num[32];
	int err = 0;

	memset(cc, 0, sizeof *cc);
	cc->memory_hier = -1;
	for (int h = 0; h < CG_NHIER; h++)
		cc->procs_fd[h] = -1;
	cc->birth_fd = -1;
	for (int h = 0; h < CG_NHIER && err == 0; h++) {
		if (!cg->base[h][0])
			continue;
		/* A v1 hierarchy only holds a limit: without one it costs a mkdir,
		 * an open, a write and an rmdir per child for nothing (cgroup2
		 * alone kills the tree and counts its CPU). */
		if ((h == CG_V1_PIDS && !(limits && limits->pids_max)) ||
		    (h == CG_V1_MEMORY && !(limits && limits->memory_max)))
			continue;
		int len = snprintf(cc->dir[h], CGROUP_PATH_MAX, "%s/c%" PRIu64, cg->base[h], id);
		if (len >= CGROUP_PATH_MAX) {
			cc->dir[h][0] = '\0';
			err = -ENAMETOOLONG;
			break;
		}
		if (mkdir(cc->dir[h], 0755) < 0) {
			err = -errno;
			cc->dir[h][0] = '\0';
			break;
		}
		bool pids = h == CG_V1_PIDS || (h == CG_V2 && cg->v2_pids);
		bool memory = h == CG_V1_MEMORY || (h == CG_V2 && cg->v2_memory);
		if (pids && limits && limits->pids_max) {
			snprintf(num, sizeof num, "%" PRIu64, limits->pids_max);
			if ((err = write_str(cc->dir[h], "pids.max", num)) < 0)
				break;
			cc->pids_limited = true;
		}
		if (memory && limits && limits->memory_max) {
			snprintf(num, sizeof num, "%" PRIu64, limits->memory_max);
			err = write_str(cc->dir[h],
			                h == CG_V2 ? "memory.max" : "memory.limit_in_bytes", num);
			if (err < 0)
				break;
			cc->memory_limited = true;
		}
		if (memory && cc->memory_hier < 0)
			cc->memory_hier = h;
		if (h == CG_V2 && cg->v2_birth) {
			cc->birth_fd = open(cc->dir[h], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (cc->birth_fd < 0)
				err = -errno;
			continue;
		}
		char path[CGROUP_PATH_MAX + 16];
		snprintf(path, sizeof path, "%s/cgroup.procs", cc->dir[h]);
		if ((cc->procs_fd[h] = open(path, O_WRONLY | O_CLOEXEC)) < 0)
			err = -errno;
	}
	if (err < 0) {
		child_cgroup_close_fds(cc);
		for (int h = 0; h < CG_NHIER; h++)
			if (cc->dir[h][0])
				rmdir(cc->dir[h]);
		memset(cc->dir, 0, sizeof cc->dir);
		return err;
	}
	cc->has_kill = cc->dir[CG_V2][0] && cg->v2_kill;
	return 0;
}

int child_cgroup_enter(const struct child_cgroup *cc)
{
	for (int h = 0; h < CG_NHIER; h++)
		if (cc->procs_fd[h] >= 0 && write(cc->procs_fd[h], "0", 1) < 0)
			return -errno;
	return 0;
}

void child_cgroup_close_fds(struct child_cgroup *cc)
{
	for (int h = 0; h < CG_NHIER; h++) {
		if (cc->procs_fd[h] >= 0)
			close(cc->procs_fd[h]);
		cc->procs_fd[h] = -1;
	}
	if (cc->birth_fd >= 0)
		close(cc->birth_fd);
	cc->birth_fd = -1;
}

int child_cgroup_kill(struct child_cgroup *cc)
{
	/* Every hierarchy holds the same processes: one group is enough. */
	for (int h = 0; h < CG_NHIER; h++)
		if (cc->dir[h][0])
			return kill_group(cc->dir[h], h == CG_V2 && cc->has_kill);
	return 0;
}

static uint64_t stat_field(const char *text, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtoull(p + kl + 1, NULL, 10);
	return CGROUP_STAT_UNKNOWN;
}

int child_cgroup_stats(const struct child_cgroup *cc, uint64_t *cpu_us, uint64_t *maxrss_kb)
{
	char buf[1024];
	*cpu_us = *maxrss_kb = CGROUP_STAT_UNKNOWN;
	if (cc->dir[CG_V2][0] && read_str(cc->dir[CG_V2], "cpu.stat", buf, sizeof buf) > 0)
		*cpu_us = stat_field(buf, "usage_usec");
	int h = cc->memory_hier;
	if (h >= 0 && read_str(cc->dir[h], h == CG_V2 ? "memory.peak" : "memory.max_usage_in_bytes",
	                       buf, sizeof buf) > 0)
		*maxrss_kb = strtoull(buf, NULL, 10) / 1024;
	return *cpu_us == CGROUP_STAT_UNKNOWN && *maxrss_kb == CGROUP_STAT_UNKNOWN ? -ENOENT : 0;
}

int child_cgroup_remove(struct child_cgroup *cc)
{
	int err = 0;
	child_cgroup_close_fds(cc);
	for (int h = 0; h < CG_NHIER; h++) {
		if (!cc->dir[h][0])
			continue;
		if (rmdir(cc->dir[h]) < 0 && errno != ENOENT) {
			err = -errno;
			continue;
		}
		cc->dir[h][0] = '\0';
	}
	return err;
}
