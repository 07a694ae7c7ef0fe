/* The privileged spawner's process: one poll loop over its dispatcher's
 * request socket, the exit reports it owes, and SIGCHLD. */
#include "spawner/service.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawner/cgroup.h"
#include "spawner/client.h"
#include "spawner/seccomp.h"

#define MAX_FDS 4
#define OUT_QUEUE_MAX 65536 /* exit reports waiting for a slow dispatcher */
#define DRAIN_SECONDS 5 /* after the dispatcher left: SIGKILL, then wait this long */
#define SPAWNER_PRIORITY_BOOST 10 /* nice levels ahead of the scripts (spawn.h) */

/* A child we started: alive, or gone with its cgroup not yet removed. */
struct child {
	pid_t pid;
	bool exited;
	bool has_cgroup;
	struct child_cgroup cg;
	struct spawn_audit audit;
	struct child *next;
};

struct out_record {
	size_t len;
	struct out_record *next;
	uint8_t data[];
};

static struct {
	const struct spawn_policy *pol;
	int req_fd, ev_fd, sig_fd;
	struct child *children;
	struct out_record *out_head, *out_tail;
	size_t out_count;
	struct cgroups cgroups;
	bool have_cgroups;
	bool holds_seccomp; /* the deny-list is ours: children inherit it */
	bool leaving; /* the dispatcher is gone */
} sv;

static uint8_t in_buf[SPAWN_MSG_HEAD + SPAWN_MSG_MAX];
static uint8_t out_buf[SPAWN_MSG_HEAD + 8192];
static struct spawn_msg in_msg;
static struct spawn_plan plan;

#define LOG(level, rid, ...) log_line(level, rid, __VA_ARGS__)

/* The policy's log, or stderr for errors when it has none (tests, benches). */
static void log_line(int level, const char *rid, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void log_line(int level, const char *rid, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (sv.pol->log)
		sv.pol->log(level, rid, "%s", line);
	else if (level == 0)
		fprintf(stderr, "%s\n", line);
}

static struct child *child_find(pid_t pid)
{
	for (struct child *c = sv.children; c; c = c->next)
		if (c->pid == pid)
			return c;
	return NULL;
}

static void child_free(struct child *c)
{
	for (struct child **p = &sv.children; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	free(c);
}

/* ---- sending ------------------------------------------------------------ */

static int send_now(int fd, const uint8_t *p, size_t len, const int *fds, size_t nfds)
{
	return spawn_send_record(fd, p, len, fds, nfds, MSG_DONTWAIT);
}

static void reply(const struct spawn_msg *m, const int *fds, size_t nfds)
{
	long len = spawn_msg_encode(m, out_buf, sizeof out_buf);
	if (len < 0) {
		LOG(0, NULL, "spawner: cannot encode a reply");
		return;
	}
	/* The dispatcher waits for it: a full socket here means it is gone. */
	int rc = send_now(sv.req_fd, out_buf, (size_t)len, fds, nfds);
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
		LOG(0, NULL, "spawner: reply: %s", strerror(-rc));
}

static void reply_status(int64_t status, const char *text)
{
	struct spawn_msg m = { .type = SPAWN_MSG_REPLY, .status = status, .text = text };
	reply(&m, NULL, 0);
}

static void flush_events(void)
{
	while (sv.out_head) {
		struct out_record *o = sv.out_head;
		int rc = send_now(sv.ev_fd, o->data, o->len, NULL, 0);
		if (rc == -EAGAIN)
			return;
		sv.out_head = o->next;
		if (!sv.out_head)
			sv.out_tail = NULL;
		sv.out_count--;
		free(o);
		if (rc < 0)
			return; /* gone: the request socket says so too */
	}
}

static void queue_event(const struct spawn_msg *m)
{
	uint8_t buf[512];
	long len = spawn_msg_encode(m, buf, sizeof buf);
	if (len < 0)
		return;
	if (!sv.out_head && send_now(sv.ev_fd, buf, (size_t)len, NULL, 0) != -EAGAIN)
		return;
	struct out_record *o =
	        sv.out_count < OUT_QUEUE_MAX ? malloc(sizeof *o + (size_t)len) : NULL;
	if (!o) {
		LOG(0, NULL, "spawner: exit report for pid %lld lost (dispatcher not reading)",
		    (long long)m->pid);
		return;
	}
	o->len = (size_t)len;
	memcpy(o->data, buf, (size_t)len);
	o->next = NULL;
	if (sv.out_tail)
		sv.out_tail->next = o;
	else
		sv.out_head = o;
	sv.out_tail = o;
	sv.out_count++;
}

/* ---- killing trees ------------------------------------------------------ */

static void tree_kill(struct child *c, int sig)
{
	if (sig == SIGKILL && c->has_cgroup)
		child_cgroup_kill(&c->cg);
	spawn_signal_group(c->pid, sig);
}

static bool pgid_is_live_child(pid_t pgid)
{
	struct child *c = child_find(pgid);
	return c && !c->exited;
}

/* Without cgroups: our children that we did not start were adopted (we are a
 * subreaper) when their parent died. One still in a live child's process
 * group belongs to it; any other escaped its script: kill it. */
static void sweep_orphans(void)
{
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	size_t n = fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[n] = '\0';
	for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n")) {
		pid_t pid = (pid_t)atol(tok);
		if (pid <= 0 || child_find(pid))
			continue;
		pid_t pgid = getpgid(pid);
		if (pgid > 0 && pgid_is_live_child(pgid))
			continue;
		kill(pid, SIGKILL);
		if (pgid > 1 && pgid != getpgrp())
			kill(-pgid, SIGKILL);
	}
}

/* ---- children ------------------------------------------------------------ */

static void try_remove(struct child *c)
{
	if (!c->exited)
		return;
	if (c->has_cgroup) {
		if (child_cgroup_remove(&c->cg) == -EBUSY)
			return; /* members not reaped yet: again after the next reap */
		c->has_cgroup = false;
	}
	child_free(c);
}

static const char *cgroup_name(const struct child *c)
{
	if (!c->has_cgroup)
		return NULL;
	for (int h = 0; h < CG_NHIER; h++)
		if (c->cg.dir[h][0])
			return c->cg.dir[h];
	return NULL;
}

static void child_exited(struct child *c, int status, const struct rusage *ru)
{
	uint64_t cpu_us = (uint64_t)ru->ru_utime.tv_sec * 1000000 + (uint64_t)ru->ru_utime.tv_usec +
	                  (uint64_t)ru->ru_stime.tv_sec * 1000000 + (uint64_t)ru->ru_stime.tv_usec;
	uint64_t maxrss_kb = (uint64_t)ru->ru_maxrss;
	char cgroup[CGROUP_PATH_MAX] = "";
	c->exited = true;
	if (c->has_cgroup) {
		uint64_t cg_cpu, cg_rss;
		if (child_cgroup_stats(&c->cg, &cg_cpu, &cg_rss) == 0) {
			if (cg_cpu != CGROUP_STAT_UNKNOWN && cg_cpu > cpu_us)
				cpu_us = cg_cpu;
			if (cg_rss != CGROUP_STAT_UNKNOWN && cg_rss > maxrss_kb)
				maxrss_kb = cg_rss;
		}
		snprintf(cgroup, sizeof cgroup, "%s", cgroup_name(c));
		/* What the child started dies with it: an empty group is removed
		 * at once, one with members left is killed (and removed later). */
		if (child_cgroup_remove(&c->cg) == -EBUSY)
			child_cgroup_kill(&c->cg);
	}
	spawn_signal_group(c->pid, SIGKILL);
	struct spawn_msg m = { .type = SPAWN_MSG_EXIT,
		               .pid = c->pid,
		               .status = status,
		               .cpu_us = cpu_us,
		               .maxrss_kb = maxrss_kb,
		               .present = SPAWN_HAS(SPAWN_TAG_CPU_US) |
		                          SPAWN_HAS(SPAWN_TAG_MAXRSS_KB) };
	if (!sv.leaving)
		queue_event(&m);
	if (sv.pol->audit)
		sv.pol->audit(&c->audit, c->pid, cgroup[0] ? cgroup : NULL, status, cpu_us,
		              maxrss_kb);
	try_remove(c);
}

static void reap(void)
{
	int status;
	struct rusage ru;
	pid_t pid;
	bool any = false;
	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		any = true;
		struct child *c = child_find(pid);
		if (c && !c->exited)
			child_exited(c, status, &ru);
	}
	if (!any)
		return;
	for (struct child *c = sv.children, *next; c; c = next) {
		next = c->next;
		try_remove(c);
	}
	sweep_orphans();
}

/* ---- requests ----------------------------------------------------------- */

static int in_child(const void *arg)
{
	const struct child *c = arg;
	if (c->has_cgroup) {
		int rc = child_cgroup_enter(&c->cg);
		if (rc < 0)
			return rc;
	}
	return sandbox_enter(&plan.sandbox);
}

/* Place the request's descriptors: CGI stdin (if any), stdout, stderr;
 * a worker's listening socket (fd 0) and stderr. -1 if they do not match. */
static int place_fds(const struct spawn_msg *m, const int *fds, size_t nfds)
{
	plan.spec.fd[0] = plan.spec.fd[1] = plan.spec.fd[2] = -1;
	if (m->type == SPAWN_MSG_WORKER) {
		if (nfds != 2)
			return -1;
		plan.spec.fd[0] = fds[0];
		plan.spec.fd[2] = fds[1];
		return 0;
	}
	/* stdin is optional; stdout and stderr always come (spawn_msg.h). */
	if ((m->fds & (SPAWN_FD_STDOUT | SPAWN_FD_STDERR)) != (SPAWN_FD_STDOUT | SPAWN_FD_STDERR))
		return -1;
	size_t k = 0;
	for (unsigned i = 0; i < 3; i++)
		if (m->fds & (1u << i)) {
			if (k >= nfds)
				return -1;
			plan.spec.fd[i] = fds[k++];
		}
	return k == nfds && (m->fds & ~7u) == 0 ? 0 : -1;
}

static void do_spawn(const struct spawn_msg *m, const int *fds, size_t nfds)
{
	struct spawn_msg r = { .type = SPAWN_MSG_REPLY };
	memset(&plan, 0, sizeof plan);
	int rc = sv.pol->plan(m, &plan);
	/* Inherited: the child need not compile a filter of its own. */
	bool seccomp = plan.sandbox.seccomp || sv.holds_seccomp;
	if (sv.holds_seccomp)
		plan.sandbox.seccomp = false;
	if (rc == 0 && place_fds(m, fds, nfds) < 0) {
		rc = -EBADF;
		snprintf(plan.why, sizeof plan.why, "descriptors do not match the request");
	}
	struct child *c = rc == 0 ? calloc(1, sizeof *c) : NULL;
	if (rc == 0 && !c)
		rc = -ENOMEM;
	if (rc == 0 && plan.cgroup && sv.have_cgroups) {
		static uint64_t serial;
		struct child_cgroup_limits lim = { .pids_max = plan.pids_max,
			                           .memory_max = plan.memory_max };
		int cr = child_cgroup_create(&sv.cgroups, ++serial, &lim, &c->cg);
		if (cr == 0) {
			c->has_cgroup = true;
			/* The cgroup holds the tree's limits: the per-user and
			 * per-address-space ones would count the wrong things. */
			if (c->cg.pids_limited)
				plan.sandbox.processes = 0;
			if (c->cg.memory_limited)
				plan.sandbox.memory_bytes = 0;
		} else {
			LOG(1, plan.rid, "spawner: no cgroup for %s: %s", plan.path, strerror(-cr));
		}
	}
	pid_t pid = -1;
	if (rc == 0) {
		plan.spec.in_child = in_child;
		plan.spec.in_child_arg = c;
		plan.spec.cgroup_fd = c->has_cgroup ? c->cg.birth_fd : 0;
		pid = spawn_process(&plan.spec);
		if (c->has_cgroup)
			child_cgroup_close_fds(&c->cg);
		if (pid < 0) {
			rc = (int)pid;
			if (!plan.why[0])
				snprintf(plan.why, sizeof plan.why, "cannot run %.300s: %s",
				         plan.path, strerror(-rc));
		}
	}
	if (rc == 0) {
		c->pid = pid;
		struct spawn_audit *a = &c->audit;
		snprintf(a->rid, sizeof a->rid, "%s", plan.rid ? plan.rid : "");
		snprintf(a->path, sizeof a->path, "%s", plan.path);
		a->uid = plan.spec.uid;
		a->gid = plan.spec.gid;
		a->inode = plan.inode;
		a->sandbox = plan.sandbox;
		a->sandbox.seccomp = seccomp;
		a->pids_max = plan.pids_max;
		a->memory_max = plan.memory_max;
		c->next = sv.children;
		sv.children = c;
	} else if (c) {
		if (c->has_cgroup)
			child_cgroup_remove(&c->cg);
		free(c);
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	r.status = rc == 0 ? pid : rc;
	r.check = plan.check;
	r.text = plan.why[0] ? plan.why : NULL;
	r.uid = plan.spec.uid;
	r.gid = plan.spec.gid;
	r.inode = plan.inode;
	r.present = SPAWN_HAS(SPAWN_TAG_CHECK) | SPAWN_HAS(SPAWN_TAG_UID) |
	            SPAWN_HAS(SPAWN_TAG_GID) | SPAWN_HAS(SPAWN_TAG_INODE);
	reply(&r, NULL, 0);
}

static void do_signal(const struct spawn_msg *m)
{
	struct child *c = m->pid > 1 ? child_find((pid_t)m->pid) : NULL;
	if (!c || m->signal <= 0 || m->signal >= NSIG) {
		/* Also a child reaped a moment before its dispatcher asked: debug. */
		LOG(c ? 1 : 3, NULL,
		    "spawner: refused to signal pid %lld (not a child of ours, or "
		    "signal %lld)",
		    (long long)m->pid, (long long)m->signal);
		reply_status(-ESRCH, "not a child of this spawner");
		return;
	}
	if (!c->exited || (int)m->signal == SIGKILL)
		tree_kill(c, (int)m->signal);
	reply_status(0, NULL);
}

static void do_reopen(void)
{
	int fds[2] = { -1, -1 }, send[2];
	size_t n = 0;
	struct spawn_msg r = { .type = SPAWN_MSG_REPLY, .present = SPAWN_HAS(SPAWN_TAG_FDS) };
	r.status = sv.pol->reopen_logs ? sv.pol->reopen_logs(fds) : 0;
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0) {
			r.fds |= 1u << i;
			send[n++] = fds[i];
		}
	reply(&r, send, n);
	for (size_t i = 0; i < n; i++)
		close(send[i]);
}

static void do_reload(void)
{
	char why[512] = "";
	int rc = -1;
	if (sv.pol->reload)
		rc = sv.pol->reload(why, sizeof why);
	else
		snprintf(why, sizeof why, "this spawner has no config to reload");
	if (rc == 0 && sv.holds_seccomp && !sv.pol->every_child_seccomp())
		LOG(1, NULL,
		    "spawner: \"seccomp\": false takes a restart when every sandbox had it "
		    "on (the spawner holds the deny-list and every child inherits it)");
	reply_status(rc < 0 ? -EINVAL : 0, rc < 0 ? why : NULL);
}

static void on_request(void)
{
	int fds[MAX_FDS];
	size_t nfds = 0;
	long n = spawn_recv_record(sv.req_fd, in_buf, sizeof in_buf, fds, &nfds, MAX_FDS);
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n == -ECONNRESET || n == -ENOTCONN || n == -EBADF) {
		sv.leaving = true;
		return;
	}
	const char *why = "cut short";
	if (n < 0 || spawn_msg_frame(in_buf, (size_t)n) != n ||
	    spawn_msg_decode(in_buf, (size_t)n, &in_msg, &why) < 0) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		LOG(0, NULL, "spawner: refused a malformed request (%ld bytes): %s", n, why);
		reply_status(-EPROTO, why);
		return;
	}
	switch (in_msg.type) {
	case SPAWN_MSG_CGI:
	case SPAWN_MSG_WORKER:
		do_spawn(&in_msg, fds, nfds);
		return;
	case SPAWN_MSG_SIGNAL:
		do_signal(&in_msg);
		break;
	case SPAWN_MSG_REOPEN_LOGS:
		do_reopen();
		break;
	case SPAWN_MSG_RELOAD:
		do_reload();
		break;
	default:
		LOG(0, NULL, "spawner: refused a message of type %d", (int)in_msg.type);
		reply_status(-EPROTO, "not a request");
		break;
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}

/* ---- the process -------------------------------------------------------- */

/* The dispatcher is gone: nothing we started outlives it. */
static void leave(void)
{
	for (struct child *c = sv.children; c; c = c->next)
		tree_kill(c, SIGKILL);
	sweep_orphans();
	for (int i = 0; i < DRAIN_SECONDS * 20 && sv.children; i++) {
		struct pollfd p = { .fd = sv.sig_fd, .events = POLLIN };
		poll(&p, 1, 50);
		struct signalfd_siginfo si;
		while (read(sv.sig_fd, &si, sizeof si) > 0) {
		}
		reap();
		for (struct child *c = sv.children; c; c = c->next)
			tree_kill(c, SIGKILL);
	}
	if (sv.have_cgroups)
		cgroups_close(&sv.cgroups);
}

static void serve(void)
{
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = sv.req_fd, .events = POLLIN },
			{ .fd = sv.sig_fd, .events = POLLIN },
			{ .fd = sv.ev_fd, .events = sv.out_head ? POLLOUT : 0 },
		};
		bool lingering = false;
		for (struct child *c = sv.children; c; c = c->next)
			lingering |= c->exited;
		if (poll(p, 3, lingering ? 100 : -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sv.sig_fd, &si, sizeof si) > 0) {
			}
		}
		reap();
		if (p[2].revents & (POLLOUT | POLLERR | POLLHUP))
			flush_events();
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			on_request();
		if (sv.leaving)
			break;
	}
	leave();
}

static void close_others(const int *keep, size_t nkeep)
{
	DIR *d = opendir("/proc/self/fd");
	int dfd = d ? dirfd(d) : -1;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (fd <= 2 || fd == dfd || e->d_name[0] == '.')
			continue;
		bool kept = false;
		for (size_t i = 0; i < nkeep; i++)
			kept |= keep[i] == fd;
		if (!kept)
			close(fd);
	}
	if (d)
		closedir(d);
}

pid_t spawner_fork(const struct spawn_policy *policy, const int *keep, size_t nkeep,
                   int *request_fd, int *event_fd)
{
	int req[2], ev[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, req) < 0)
		return -errno;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ev) < 0) {
		int e = errno;
		close(req[0]);
		close(req[1]);
		return -e;
	}
	/* A CGI request's environment can be large: as root, past wmem_max. */
	int size = SPAWN_MSG_HEAD + SPAWN_MSG_MAX + 4096;
	for (int i = 0; i < 2; i++)
		if (setsockopt(req[i], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
			setsockopt(req[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(req[0]);
		close(req[1]);
		close(ev[0]);
		close(ev[1]);
		return -e;
	}
	if (pid > 0) {
		close(req[1]);
		close(ev[1]);
		*request_fd = req[0];
		*event_fd = ev[0];
		return pid;
	}

	/* The spawner. */
	int mine[16];
	size_t n = 0;
	for (size_t i = 0; i < nkeep && n < 14; i++)
		mine[n++] = keep[i];
	mine[n++] = req[1];
	mine[n++] = ev[1];
	close_others(mine, n);
	prctl(PR_SET_NAME, "gatewayd-spawn");
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	/* Signals meant for the daemon (a terminal's ^C, systemd's SIGTERM to the
	 * whole unit) are not for us: we stop when the dispatcher hangs up. */
	int ignored[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE, SIGQUIT };
	for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
		signal(ignored[i], SIG_IGN);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	sv.pol = policy;
	sv.req_fd = req[1];
	sv.ev_fd = ev[1];
	sv.sig_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	int rc = spawn_boost_priority(SPAWNER_PRIORITY_BOOST);
	if (rc < 0)
		LOG(2, NULL,
		    "spawner: cannot run ahead of its children (%s): spawns queue behind busy scripts",
		    strerror(-rc));
	if (sv.pol->every_child_seccomp && sv.pol->every_child_seccomp()) {
		rc = seccomp_deny_enter();
		sv.holds_seccomp = rc == 0;
		if (rc < 0 && rc != -ENOSYS)
			LOG(1, NULL, "spawner: seccomp: %s: each child installs its own",
			    strerror(-rc));
	}
	char err[256];
	if (cgroups_open(&sv.cgroups, "gatewayd", err, sizeof err) == 0)
		sv.have_cgroups = true;
	else
		LOG(2, NULL,
		    "spawner: no cgroups (%s): a tree is killed by its process group and "
		    "adopted orphans",
		    err);
	if (sv.sig_fd < 0) {
		LOG(0, NULL, "spawner: signalfd: %s", strerror(errno));
		_exit(1);
	}
	serve();
	_exit(0);
}
