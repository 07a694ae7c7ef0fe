/* The spawner with the real policy (gatewayd/core/spawn_policy.c), as a
 * compromised dispatcher sees it: raw records on its request socket, valid
 * ones built with spawn_msg_encode and invalid ones by hand. Each must get one
 * refusal reply, and after each the spawner must still be alive, still run a
 * valid CGI request and hold no more descriptors than before. Needs root (the
 * scripts run as www-data); CI runs the tests as root. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "gatewayd/core/server.h"
#include "gatewayd/core/spawn_policy.h"
#include "protocols/spawn_msg.h"
#include "spawner/client.h"
#include "spawner/exec_check.h"
#include "test/gatewayd/fixture.h"

#define MAX_SEEN 64

static pid_t spawner;
static int req_fd = -1, ev_fd = -1;
static char root[4096];
static int base_fds; /* the spawner's open descriptors when idle */
static pid_t seen[MAX_SEEN]; /* every pid the spawner reported starting */
static size_t nseen;
static volatile sig_atomic_t got_usr1;

static struct spawn_msg out_msg, in_msg;
static uint8_t out_buf[SPAWN_MSG_HEAD + 2 * SPAWN_MSG_MAX];
static uint8_t in_buf[SPAWN_MSG_HEAD + SPAWN_MSG_MAX];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *script(const char *name)
{
	static char ring[4][4200];
	static unsigned next;
	char *p = ring[next++ % 4];
	snprintf(p, sizeof ring[0], "%s/%s", root, name);
	return p;
}

static int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- records ------------------------------------------------------------ */

static void send_raw(const void *p, size_t len, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} u;
	cr_assert_leq(nfds, 16);
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		memset(&u, 0, sizeof u);
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	ssize_t n = sendmsg(req_fd, &mh, MSG_NOSIGNAL);
	cr_assert_eq(n, (ssize_t)len, "sendmsg of %zu bytes: %zd (%s)", len, n,
	             n < 0 ? strerror(errno) : "short");
}

static size_t encode(const struct spawn_msg *m)
{
	long len = spawn_msg_encode(m, out_buf, sizeof out_buf);
	cr_assert_gt(len, 0, "spawn_msg_encode");
	return (size_t)len;
}

/* The next record on fd within 5 s, decoded into in_msg. */
static const struct spawn_msg *recv_msg(int fd, enum spawn_msg_type type)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 5000), 1, "no %s within 5 s",
	             type == SPAWN_MSG_REPLY ? "reply" : "exit report");
	int fds[4];
	size_t nfds = 0;
	long n = spawn_recv_record(fd, in_buf, sizeof in_buf, fds, &nfds, 4);
	cr_assert_gt(n, 0, "spawn_recv_record: %s", strerror((int)-n));
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	const char *why = "";
	cr_assert_eq(spawn_msg_frame(in_buf, (size_t)n), n);
	cr_assert_eq(spawn_msg_decode(in_buf, (size_t)n, &in_msg, &why), 0, "decode: %s", why);
	cr_assert_eq(in_msg.type, type);
	return &in_msg;
}

static const struct spawn_msg *reply(void)
{
	const struct spawn_msg *r = recv_msg(req_fd, SPAWN_MSG_REPLY);
	if (r->status > 0 && nseen < MAX_SEEN)
		seen[nseen++] = (pid_t)r->status;
	return r;
}

/* The reply must refuse: a negative status and a reason in words. */
static const struct spawn_msg *refused(void)
{
	const struct spawn_msg *r = reply();
	cr_assert_lt(r->status, 0, "accepted (pid %lld)", (long long)r->status);
	cr_assert_not_null(r->text, "refused (%lld) without a reason", (long long)r->status);
	cr_assert_gt(strlen(r->text), 0);
	return r;
}

/* A policy refusal: the check that refused and its name in the text. */
static void refused_by(unsigned check, const char *needle)
{
	const struct spawn_msg *r = refused();
	cr_assert_eq(r->status, -EACCES, "status %lld (%s)", (long long)r->status, r->text);
	cr_assert_eq(r->check, check, "check %llu, not %u: %s", (unsigned long long)r->check,
	             check, r->text);
	cr_assert_not_null(strstr(r->text, needle), "\"%s\" does not say \"%s\"", r->text, needle);
}

static void cgi_msg(const char *rt, const char *path, char *const *env, size_t nenv)
{
	memset(&out_msg, 0, sizeof out_msg);
	out_msg.type = SPAWN_MSG_CGI;
	out_msg.rid = "t1";
	out_msg.root = rt;
	out_msg.script = path;
	out_msg.fds = SPAWN_FD_STDIN | SPAWN_FD_STDOUT | SPAWN_FD_STDERR;
	for (size_t i = 0; i < nenv; i++)
		out_msg.env[i] = env[i];
	out_msg.nenv = nenv;
}

/* ---- a script run ------------------------------------------------------- */

struct run {
	int in[2], out[2], err[2];
};

static void run_pipes(struct run *r)
{
	cr_assert_eq(pipe2(r->in, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(r->out, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(r->err, O_CLOEXEC), 0);
}

/* Send out_msg with the child's ends of the three pipes. */
static void run_send(struct run *r, size_t len)
{
	int fds[3] = { r->in[0], r->out[1], r->err[1] };
	send_raw(out_buf, len, fds, 3);
	close(r->in[0]);
	close(r->out[1]);
	close(r->err[1]);
	close(r->in[1]); /* the script reads no body */
}

/* Read fd to its end (within 10 s). */
static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	double end = now_s() + 10;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		cr_assert_eq(poll(&p, 1, 1000 * (int)(end - now_s() + 1)), 1, "no end of output");
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		cr_assert_geq(n, 0);
		if (n == 0)
			break;
		len += (size_t)n;
		cr_assert_lt(len, cap - 1, "too much output");
	}
	buf[len] = '\0';
	return len;
}

/* The exit report for pid (earlier ones are skipped). */
static int exit_status(pid_t pid)
{
	for (int i = 0; i < 64; i++) {
		const struct spawn_msg *e = recv_msg(ev_fd, SPAWN_MSG_EXIT);
		if (e->pid == pid)
			return (int)e->status;
	}
	cr_assert_fail("no exit report for %d", (int)pid);
	return -1;
}

/* Run a script below the root with env; its stdout into out. Its pid. */
static pid_t run_script(const char *name, char *const *env, size_t nenv, char *out, size_t cap)
{
	struct run r;
	run_pipes(&r);
	cgi_msg(root, script(name), env, nenv);
	run_send(&r, encode(&out_msg));
	const struct spawn_msg *m = reply();
	cr_assert_gt(m->status, 0, "%s refused (%lld): %s", name, (long long)m->status,
	             m->text ? m->text : "");
	cr_assert_eq(m->uid, 33, "runs as uid %llu", (unsigned long long)m->uid);
	pid_t pid = (pid_t)m->status;
	read_all(r.out[0], out, cap);
	char err[4096];
	read_all(r.err[0], err, sizeof err);
	close(r.out[0]);
	close(r.err[0]);
	int st = exit_status(pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: wait status %#x, stderr: %s", name,
	          st, err);
	return pid;
}

/* The spawner is alive, runs a valid request, and holds what it held. */
static void still_serving(void)
{
	cr_assert_eq(waitpid(spawner, NULL, WNOHANG), 0, "the spawner is gone");
	cr_assert_eq(kill(spawner, 0), 0);
	char out[256];
	run_script("ok.sh", NULL, 0, out, sizeof out);
	cr_assert_str_eq(out, "ok\n");
	int n = -1;
	for (int i = 0; i < 300 && (n = count_fds(spawner)) != base_fds; i++)
		usleep(10000);
	cr_assert_eq(n, base_fds, "the spawner holds %d descriptors, %d before", n, base_fds);
}

/* ---- the world ---------------------------------------------------------- */

static void usr1(int sig)
{
	got_usr1++;
}

static void setup(void)
{
	cr_assert_eq(geteuid(), 0, "these tests need root");
	/* Orphans come to us (and are reaped here) if the spawner leaves any;
	 * a group of our own so a stray group signal hits nobody else. */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	setpgid(0, 0);
	signal(SIGUSR1, usr1);
	fx_setup();
	cr_assert_eq(chmod(fx_dir(), 0755), 0); /* www-data walks through it */
	fx_mkdir("cgi");
	fx_write("cgi/ok.sh", "#!/bin/sh\necho ok\n", 0755);
	fx_write("cgi/env.sh", "#!/bin/sh\nenv\n", 0755);
	fx_write("cgi/ww.sh", "#!/bin/sh\necho ww\n", 0777);
	fx_write("cgi/other.sh", "#!/bin/sh\necho other\n", 0755);
	cr_assert_eq(chown(fx_path("cgi/other.sh"), 1000, 1000), 0);
	fx_write("cgi/suid.sh", "#!/bin/sh\necho suid\n", 04755);
	fx_write("cgi/sleeper.sh",
	         "#!/bin/sh\nsetsid sleep 600 &\necho $!\nsleep 600 &\necho $!\nwait\n", 0755);
	fx_write("outside.sh", "#!/bin/sh\necho outside\n", 0755);
	cr_assert_not_null(realpath(fx_path("cgi"), root));
	fx_server("{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"user\": \"www-data\","
	          " \"pools\": {\"app\": {\"protocol\": \"fastcgi\","
	          " \"command\": [\"/bin/sleep\", \"600\"]}},"
	          " \"routes\": [{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"cgi\"}},"
	          " {\"match\": \"/app/\", \"pool\": \"app\"}]}");
	spawner = spawn_policy_fork(gw->cfg, &req_fd, &ev_fd);
	cr_assert_gt(spawner, 0, "spawn_policy_fork: %s", strerror((int)-spawner));
	/* Its first spawn opens what it keeps open (cgroups): then count. */
	char out[256];
	run_script("ok.sh", NULL, 0, out, sizeof out);
	cr_assert_str_eq(out, "ok\n");
	/* The spawner reports an exit before it closes that child's
	 * descriptors: count once the number holds still. */
	base_fds = -1;
	for (int same = 0, i = 0; same < 10 && i < 300; i++) {
		int n = count_fds(spawner);
		same = n == base_fds ? same + 1 : 0;
		base_fds = n;
		usleep(10000);
	}
	cr_assert_gt(base_fds, 0);
}

/* Everything the spawner started, and anything orphaned to us, is gone:
 * true, or false after seconds. */
static bool all_gone(double seconds)
{
	double end = now_s() + seconds;
	for (;;) {
		while (waitpid(-1, NULL, WNOHANG) > 0) {
		}
		size_t alive = 0;
		for (size_t i = 0; i < nseen; i++)
			alive += kill(seen[i], 0) == 0 || errno != ESRCH;
		if (!alive)
			return true;
		if (now_s() > end) {
			fprintf(stderr, "%zu of the spawner's children still there\n", alive);
			return false;
		}
		usleep(10000);
	}
}

/* An assertion in .fini does not fail a test; a crash does. */
static void teardown(void)
{
	bool ok = true;
	if (req_fd >= 0)
		close(req_fd);
	if (ev_fd >= 0)
		close(ev_fd);
	req_fd = ev_fd = -1;
	if (spawner > 0) {
		pid_t got = 0;
		double end = now_s() + 5;
		while ((got = waitpid(spawner, NULL, WNOHANG)) == 0 && now_s() < end)
			usleep(10000);
		if (got != spawner) {
			fprintf(stderr, "the spawner did not exit within 5 s of the hangup\n");
			kill(spawner, SIGKILL);
			waitpid(spawner, NULL, 0);
			ok = false;
		}
		spawner = 0;
	}
	ok &= all_gone(5);
	if (got_usr1) {
		fprintf(stderr, "the test process got SIGUSR1\n");
		ok = false;
	}
	fx_teardown();
	if (!ok)
		abort();
}

TestSuite(spawner_policy, .init = setup, .fini = teardown, .timeout = 60);

/* ---- what comes in ------------------------------------------------------ */

Test(spawner_policy, valid_request_runs_as_www_data)
{
	still_serving();
}

Test(spawner_policy, garbage_bytes)
{
	static const char junk[] = "GET / HTTP/1.1\r\nHost: spawner\r\n\r\n";
	send_raw(junk, sizeof junk - 1, NULL, 0);
	cr_assert_eq(refused()->status, -EPROTO);
	still_serving();
	uint8_t zeros[64] = { 0 };
	send_raw(zeros, sizeof zeros, NULL, 0);
	cr_assert_eq(refused()->status, -EPROTO);
	still_serving();
}

Test(spawner_policy, truncated_message)
{
	cgi_msg(root, script("ok.sh"), NULL, 0);
	size_t len = encode(&out_msg);
	send_raw(out_buf, len / 2, NULL, 0);
	cr_assert_eq(refused()->status, -EPROTO);
	still_serving();
	send_raw(out_buf, 2, NULL, 0); /* not even the length */
	cr_assert_eq(refused()->status, -EPROTO);
	still_serving();
}

Test(spawner_policy, record_over_max)
{
	/* Ours may send more than the spawner's buffer holds. */
	int size = 4 * SPAWN_MSG_MAX;
	cr_assert_eq(setsockopt(req_fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size), 0);
	static const size_t lens[] = { SPAWN_MSG_HEAD + SPAWN_MSG_MAX + 1,
		                       SPAWN_MSG_HEAD + 2 * SPAWN_MSG_MAX };
	for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
		/* A true prefix (over the limit), then a CGI request's head. */
		memset(out_buf, 'A', lens[i]);
		uint32_t body = (uint32_t)(lens[i] - SPAWN_MSG_HEAD);
		memcpy(out_buf, &body, 4);
		out_buf[4] = SPAWN_MSG_CGI;
		out_buf[5] = SPAWN_MSG_VERSION;
		send_raw(out_buf, lens[i], NULL, 0);
		const struct spawn_msg *r = refused();
		cr_assert_eq(r->status, -EPROTO, "%zu bytes: %lld %s", lens[i], (long long)r->status,
		             r->text);
		still_serving();
	}
	/* At the limit exactly, the whole record is read and decoded: a REPLY
	 * with a text filling it is refused as no request, not as cut short. */
	static char text[SPAWN_MSG_MAX];
	memset(&out_msg, 0, sizeof out_msg);
	out_msg.type = SPAWN_MSG_REPLY;
	out_msg.text = "x";
	size_t overhead = encode(&out_msg) - 1;
	memset(text, 'x', SPAWN_MSG_HEAD + SPAWN_MSG_MAX - overhead);
	out_msg.text = text;
	cr_assert_eq(encode(&out_msg), SPAWN_MSG_HEAD + SPAWN_MSG_MAX);
	send_raw(out_buf, SPAWN_MSG_HEAD + SPAWN_MSG_MAX, NULL, 0);
	cr_assert_str_eq(refused()->text, "not a request");
	still_serving();
}

Test(spawner_policy, length_prefix_that_lies)
{
	cgi_msg(root, script("ok.sh"), NULL, 0);
	size_t len = encode(&out_msg);
	uint32_t body = (uint32_t)(len - SPAWN_MSG_HEAD);
	const uint32_t lies[] = { body + 1, body - 1, body + 1000, 0, SPAWN_MSG_MAX,
		                  SPAWN_MSG_MAX + 1, UINT32_MAX };
	for (size_t i = 0; i < sizeof lies / sizeof *lies; i++) {
		struct run r;
		run_pipes(&r);
		memcpy(out_buf, &lies[i], 4);
		run_send(&r, len); /* with its descriptors: they must be closed */
		cr_assert_eq(refused()->status, -EPROTO, "prefix %u for %u bytes", lies[i], body);
		/* Nothing ran: the spawner let go of the write ends. */
		char out[16];
		cr_assert_eq(read_all(r.out[0], out, sizeof out), 0);
		close(r.out[0]);
		close(r.err[0]);
		still_serving();
	}
}

Test(spawner_policy, reply_and_exit_are_no_requests)
{
	memset(&out_msg, 0, sizeof out_msg);
	out_msg.type = SPAWN_MSG_REPLY;
	out_msg.status = 1;
	struct run r;
	run_pipes(&r);
	run_send(&r, encode(&out_msg));
	cr_assert_str_eq(refused()->text, "not a request");
	close(r.out[0]);
	close(r.err[0]);
	still_serving();

	memset(&out_msg, 0, sizeof out_msg);
	out_msg.type = SPAWN_MSG_EXIT;
	out_msg.pid = spawner;
	out_msg.status = 0;
	send_raw(out_buf, encode(&out_msg), NULL, 0);
	cr_assert_str_eq(refused()->text, "not a request");
	still_serving();
}

/* ---- what the policy refuses -------------------------------------------- */

static void cgi_refused(const char *rt, const char *path, unsigned check, const char *needle)
{
	struct run r;
	run_pipes(&r);
	cgi_msg(rt, path, NULL, 0);
	run_send(&r, encode(&out_msg));
	refused_by(check, needle);
	char out[64];
	cr_assert_eq(read_all(r.out[0], out, sizeof out), 0, "it ran: %s", out);
	close(r.out[0]);
	close(r.err[0]);
	still_serving();
}

Test(spawner_policy, script_outside_the_root)
{
	cgi_refused(root, fx_path("outside.sh"), EXEC_OUTSIDE_ROOT, "outside");
	cgi_refused(root, "/bin/sh", EXEC_OUTSIDE_ROOT, "outside");
	char sibling[4200]; /* the root's name as a prefix of another directory's */
	snprintf(sibling, sizeof sibling, "%s2/ok.sh", root);
	cgi_refused(root, sibling, EXEC_OUTSIDE_ROOT, "outside");
}

Test(spawner_policy, dotdot)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/../outside.sh", root);
	cgi_refused(root, path, EXEC_DOTDOT, "..");
	snprintf(path, sizeof path, "%s/../cgi/ok.sh", root);
	cgi_refused(root, path, EXEC_DOTDOT, "..");
}

Test(spawner_policy, root_no_route_has)
{
	/* The directory above ours, and a root of a script of our own. */
	cgi_refused(fx_dir(), fx_path("outside.sh"), EXEC_NCHECKS + 1, "no cgi route");
	cgi_refused("/bin", "/bin/sh", EXEC_NCHECKS + 1, "no cgi route");
}

Test(spawner_policy, world_writable_script)
{
	cgi_refused(root, script("ww.sh"), EXEC_FILE_WRITABLE, "writable");
}

Test(spawner_policy, script_of_another_uid)
{
	cgi_refused(root, script("other.sh"), EXEC_FILE_OWNER, "owner");
}

Test(spawner_policy, setuid_script)
{
	cgi_refused(root, script("suid.sh"), EXEC_SETID, "set");
}

Test(spawner_policy, worker_for_no_such_pool)
{
	int sp[2], err[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
	memset(&out_msg, 0, sizeof out_msg);
	out_msg.type = SPAWN_MSG_WORKER;
	out_msg.pool = "nosuch";
	int fds[2] = { sp[0], err[1] };
	send_raw(out_buf, encode(&out_msg), fds, 2);
	refused_by(EXEC_NCHECKS + 2, "nosuch");
	close(sp[0]);
	close(sp[1]);
	close(err[0]);
	close(err[1]);
	still_serving();
}

Test(spawner_policy, signal_to_pid_1_and_to_us)
{
	/* SIGCONT to pid 1: harmless even if it went through. */
	const struct { pid_t pid; int sig; } cases[] = { { 1, SIGCONT }, { getpid(), SIGUSR1 },
		                                         { getppid(), SIGCONT }, { 0, SIGUSR1 },
		                                         { -1, SIGCONT } };
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		memset(&out_msg, 0, sizeof out_msg);
		out_msg.type = SPAWN_MSG_SIGNAL;
		out_msg.pid = cases[i].pid;
		out_msg.signal = cases[i].sig;
		send_raw(out_buf, encode(&out_msg), NULL, 0);
		const struct spawn_msg *r = refused();
		cr_assert_eq(r->status, -ESRCH, "pid %d: %lld", (int)cases[i].pid,
		             (long long)r->status);
		cr_assert_not_null(strstr(r->text, "not a child"), "%s", r->text);
		still_serving();
	}
	cr_assert_eq(kill(1, 0), 0);
	cr_assert_eq(got_usr1, 0, "the spawner signalled the test process");
}

Test(spawner_policy, fds_bitmask_does_not_match)
{
	/* Three bits, two descriptors; one bit, three descriptors; bits past
	 * the three. */
	const struct { uint64_t bits; size_t n; } cases[] = { { 7, 2 }, { 2, 3 }, { 6, 1 },
		                                              { 7 | 8, 3 }, { 0, 0 } };
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct run r;
		run_pipes(&r);
		cgi_msg(root, script("ok.sh"), NULL, 0);
		out_msg.fds = cases[i].bits;
		int fds[3] = { r.in[0], r.out[1], r.err[1] };
		send_raw(out_buf, encode(&out_msg), fds, cases[i].n);
		const struct spawn_msg *m = reply();
		cr_assert_lt(m->status, 0, "bits %llu with %zu fds: accepted (pid %lld)",
		             (unsigned long long)cases[i].bits, cases[i].n, (long long)m->status);
		cr_assert_not_null(m->text);
		cr_assert_eq(m->status, -EBADF, "bits %llu with %zu fds: %lld %s",
		             (unsigned long long)cases[i].bits, cases[i].n, (long long)m->status,
		             m->text);
		cr_assert_not_null(strstr(m->text, "descriptors"), "%s", m->text);
		close(r.in[0]);
		close(r.in[1]);
		close(r.out[1]);
		close(r.err[1]);
		char out[16];
		cr_assert_eq(read_all(r.out[0], out, sizeof out), 0, "it ran: %s", out);
		close(r.out[0]);
		close(r.err[0]);
		still_serving();
	}
}

Test(spawner_policy, more_descriptors_than_announced)
{
	/* Four (the most a request carries) and sixteen for three bits. */
	const size_t counts[] = { 4, 16 };
	for (size_t i = 0; i < 2; i++) {
		int fds[16];
		for (size_t k = 0; k < counts[i]; k++)
			cr_assert_geq(fds[k] = open("/dev/null", O_RDWR | O_CLOEXEC), 0);
		cgi_msg(root, script("ok.sh"), NULL, 0);
		send_raw(out_buf, encode(&out_msg), fds, counts[i]);
		const struct spawn_msg *m = refused();
		cr_assert(m->status == -EBADF || m->status == -EPROTO, "%zu fds: %lld %s", counts[i],
		          (long long)m->status, m->text);
		for (size_t k = 0; k < counts[i]; k++)
			close(fds[k]);
		still_serving();
	}
}

Test(spawner_policy, dangerous_environment_dropped)
{
	/* A name past any buffer a check might copy it into. */
	static char long_func[400] = "BASH_FUNC_";
	memset(long_func + 10, 'f', 300);
	strcpy(long_func + 310, "%%=() { echo pwned; }");
	char *env[] = { long_func,
		        "LD_PRELOAD=/tmp/x.so",
		        "BASH_ENV=/tmp/x.sh",
		        "PYTHONPATH=/tmp",
		        "EVIL=() { :; }; echo pwned",
		        "BASH_FUNC_f%%=() { echo pwned; }",
		        "GLIBC_TUNABLES=glibc.malloc.check=3",
		        "PATH=/tmp",
		        "HTTP_X=1",
		        "GATEWAY_INTERFACE=CGI/1.1" };
	char out[8192];
	run_script("env.sh", env, sizeof env / sizeof *env, out, sizeof out);
	cr_assert_not_null(strstr(out, "HTTP_X=1\n"), "%s", out);
	cr_assert_not_null(strstr(out, "GATEWAY_INTERFACE=CGI/1.1\n"), "%s", out);
	static const char *const never[] = { "LD_PRELOAD", "BASH_ENV",       "PYTHONPATH",
		                             "() {",       "BASH_FUNC",      "GLIBC_TUNABLES",
		                             "EVIL",       "PATH=/tmp\n",    "pwned" };
	for (size_t i = 0; i < sizeof never / sizeof *never; i++)
		cr_assert_null(strstr(out, never[i]), "the script saw %s:\n%s", never[i], out);
	cr_assert_not_null(strstr(out, "PATH=/usr/local/bin:/usr/bin:/bin\n"), "%s", out);
	still_serving();
}

/* ---- the dispatcher goes away ------------------------------------------- */

static bool gone(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

Test(spawner_policy, hangup_kills_every_tree)
{
	struct run r;
	run_pipes(&r);
	cgi_msg(root, script("sleeper.sh"), NULL, 0);
	run_send(&r, encode(&out_msg));
	const struct spawn_msg *m = reply();
	cr_assert_gt(m->status, 0, "%s", m->text ? m->text : "");
	pid_t pids[3] = { (pid_t)m->status };
	/* Its two sleeps: the setsid one, then the other. */
	char line[64];
	size_t len = 0;
	double end = now_s() + 5;
	while (!memchr(line, '\n', len) || memchr(line, '\n', len) == memrchr(line, '\n', len)) {
		struct pollfd p = { .fd = r.out[0], .events = POLLIN };
		cr_assert_eq(poll(&p, 1, 1000 * (int)(end - now_s() + 1)), 1, "no pids printed");
		ssize_t n = read(r.out[0], line + len, sizeof line - 1 - len);
		cr_assert_gt(n, 0);
		len += (size_t)n;
	}
	line[len] = '\0';
	cr_assert_eq(sscanf(line, "%d\n%d", &pids[1], &pids[2]), 2, "%s", line);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(kill(pids[i], 0), 0, "pid %d not running", (int)pids[i]);
	/* setsid runs in the child the shell forked: give it a moment. */
	for (int i = 0; i < 200 && getsid(pids[1]) == getsid(pids[0]); i++)
		usleep(10000);
	cr_assert_neq(getsid(pids[1]), getsid(pids[0]), "setsid did not make a session");

	double t0 = now_s();
	close(req_fd);
	req_fd = -1;
	pid_t got = 0;
	while ((got = waitpid(spawner, NULL, WNOHANG)) == 0 && now_s() - t0 < 2)
		usleep(5000);
	double took = now_s() - t0;
	cr_assert_eq(got, spawner, "the spawner still runs %.1f s after the hangup", took);
	spawner = 0;
	/* Reap what was orphaned to us (only zombies can be reaped). */
	while (now_s() - t0 < 2 && !(gone(pids[0]) && gone(pids[1]) && gone(pids[2]))) {
		while (waitpid(-1, NULL, WNOHANG) > 0) {
		}
		usleep(5000);
	}
	for (int i = 0; i < 3; i++)
		cr_assert(gone(pids[i]), "pid %d still there 2 s after the hangup", (int)pids[i]);
	char out[64];
	cr_assert_eq(read_all(r.out[0], out, sizeof out), 0);
	close(r.out[0]);
	close(r.err[0]);
	cr_log_info("spawner gone %.3f s after the hangup", took);
}
