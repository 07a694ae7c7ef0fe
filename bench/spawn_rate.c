/* Spawns per second of /bin/true: bare posix_spawn + waitpid (the machine's
 * ceiling) against the same through a spawner (spawner/service.c) as the
 * dispatcher asks it, a CGI-style child with three pipes, its stdout read to
 * the end and its exit report read, with the sandbox off and on. Each
 * requester is a process of its own with a spawner of its own (the design:
 * one spawner per dispatcher, so spawning never serialises dispatchers); they
 * start together and the rate is all their spawns over the time until the
 * last is done. Not a test (the figures depend on the machine).
 * usage: spawn_rate [N [MAXPROCS]]  (N spawns per requester, default 2000;
 *        1 to MAXPROCS requesters, default 2; root for the cgroup rows) */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawner/client.h"
#include "spawner/service.h"

enum mode { BARE, SANDBOX_OFF, SANDBOX_ON, NMODES };
static const char *const mode_name[NMODES] = {
	"posix_spawn + waitpid",
	"spawner, sandbox off",
	"spawner, sandbox on",
};

static char *argv_true[] = { "/bin/true", NULL };
static char *envp_true[] = { "PATH=/usr/bin:/bin", NULL };
/* What a CGI request carries, roughly. */
static char *cgi_env[] = { "GATEWAY_INTERFACE=CGI/1.1",
	                   "SERVER_PROTOCOL=HTTP/1.1",
	                   "SERVER_SOFTWARE=gatewayd",
	                   "SERVER_NAME=localhost",
	                   "SERVER_PORT=8080",
	                   "REQUEST_METHOD=GET",
	                   "REQUEST_URI=/cgi-bin/true",
	                   "SCRIPT_NAME=/cgi-bin/true",
	                   "SCRIPT_FILENAME=/bin/true",
	                   "QUERY_STRING=",
	                   "REMOTE_ADDR=127.0.0.1",
	                   "REMOTE_PORT=40000",
	                   "HTTP_HOST=localhost:8080",
	                   "HTTP_USER_AGENT=spawn_rate",
	                   "HTTP_ACCEPT=*/*",
	                   NULL };

static bool sandbox_on;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the policy: /bin/true for any CGI request -------------------------- */

static int plan(const struct spawn_msg *m, struct spawn_plan *p)
{
	if (m->type != SPAWN_MSG_CGI) {
		p->check = 1;
		snprintf(p->why, sizeof p->why, "CGI only");
		return -EACCES;
	}
	snprintf(p->path, sizeof p->path, "/bin/true");
	size_t k = 0;
	for (size_t i = 0; i < m->nenv && k < SPAWN_PLAN_MAX_ENV - 1; i++)
		p->envp[k++] = (char *)m->env[i];
	p->envp[k++] = envp_true[0];
	p->envp[k] = NULL;
	p->spec.path = p->path;
	p->spec.argv = argv_true;
	p->spec.envp = p->envp;
	p->spec.new_process_group = true;
	p->spec.die_with_parent = true;
	if (sandbox_on) {
		p->sandbox = (struct sandbox){
			.no_new_privs = true,
			.umask = 022,
			.cpu_seconds = 10,
			.memory_bytes = 256 << 20,
			.processes = 1000,
			.file_size = 1 << 30,
			.open_files = 256,
		};
		p->cgroup = true;
		p->pids_max = 1000;
		p->memory_max = 256 << 20;
	} else {
		p->sandbox = (struct sandbox){ .umask = -1 };
	}
	return 0;
}

static const struct spawn_policy policy = {
	.plan = plan,
};

/* ---- one spawn ---------------------------------------------------------- */

static int bare_one(void)
{
	pid_t pid;
	int st;
	if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv_true, envp_true) != 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void exited(struct spawn_watch *w)
{
	*(bool *)w->data = true;
}

static int spawner_one(struct ev_loop *loop)
{
	int in[2], out[2], err[2];
	if (spawn_pipe(in, 1) < 0 || spawn_pipe(out, 0) < 0 || spawn_pipe(err, 0) < 0)
		return -1;
	int fd[3] = { in[0], out[1], err[1] };
	struct spawn_result res;
	pid_t pid = spawn_client_cgi("bench", 0, "/", "/bin/true", NULL, cgi_env, fd, &res);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	close(in[1]);
	int rc = 0;
	if (pid < 0) {
		fprintf(stderr, "spawn refused: %s\n", res.text);
		rc = -1;
	} else {
		/* Its output to the end (nothing), as a CGI job reads it. */
		char buf[256];
		for (;;) {
			ssize_t n = read(out[0], buf, sizeof buf);
			if (n > 0)
				continue;
			if (n == 0)
				break;
			if (errno == EAGAIN) {
				fd_set r;
				FD_ZERO(&r);
				FD_SET(out[0], &r);
				select(out[0] + 1, &r, NULL, NULL, NULL);
				continue;
			}
			if (errno != EINTR)
				break;
		}
		bool done = false;
		struct spawn_watch w = { .pid = pid, .exited = exited, .data = &done };
		spawn_watch_start(&w);
		while (!done && spawn_client_ready())
			ev_run(loop, EVRUN_ONCE);
		if (!done || !WIFEXITED(w.status) || WEXITSTATUS(w.status) != 0)
			rc = -1;
	}
	close(out[0]);
	close(err[0]);
	return rc;
}

/* ---- a requester -------------------------------------------------------- */

/* In its own process: set up, say ready, wait for go, spawn n times, say
 * done (with the count that failed), tear down. */
static void requester(enum mode m, int n, int ready_fd, int go_fd, int done_fd)
{
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	pid_t sp = 0;
	if (m != BARE) {
		sandbox_on = m == SANDBOX_ON;
		int req, ev;
		sp = spawner_fork(&policy, NULL, 0, &req, &ev);
		if (sp < 0) {
			fprintf(stderr, "spawner_fork: %s\n", strerror((int)-sp));
			_exit(1);
		}
		spawn_client_init(loop, req, ev, NULL);
		for (int i = 0; i < n / 20 + 1; i++) /* warm up */
			spawner_one(loop);
	} else {
		for (int i = 0; i < n / 20 + 1; i++)
			bare_one();
	}
	char c = 'r';
	if (write(ready_fd, &c, 1) != 1)
		_exit(1);
	while (read(go_fd, &c, 1) < 0 && errno == EINTR) {
	}
	int failed = 0;
	for (int i = 0; i < n; i++)
		failed += (m == BARE ? bare_one() : spawner_one(loop)) < 0;
	if (write(done_fd, &failed, sizeof failed) != sizeof failed)
		_exit(1);
	if (sp > 0) {
		spawn_client_close();
		waitpid(sp, NULL, 0);
	}
	_exit(0);
}

/* Spawns per second of procs requesters at once, n each; -1 if any failed. */
static double run(enum mode m, int n, int procs)
{
	int ready[2], go[2], done[2];
	if (pipe(ready) < 0 || pipe(go) < 0 || pipe(done) < 0)
		return -1;
	pid_t pids[64];
	for (int i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			close(done[0]);
			requester(m, n, ready[1], go[0], done[1]);
		}
	}
	close(ready[1]);
	close(go[0]);
	close(done[1]);
	char c;
	for (int i = 0; i < procs; i++)
		if (read(ready[0], &c, 1) != 1)
			return -1;
	double t0 = now_s();
	close(go[1]); /* go: each read sees the end */
	int failed = 0, f;
	for (int i = 0; i < procs; i++) {
		if (read(done[0], &f, sizeof f) != sizeof f)
			return -1;
		failed += f;
	}
	double t = now_s() - t0;
	for (int i = 0; i < procs; i++)
		waitpid(pids[i], NULL, 0);
	close(ready[0]);
	close(done[0]);
	if (failed)
		fprintf(stderr, "%s, %d requesters: %d spawns failed\n", mode_name[m], procs, failed);
	return failed ? -1 : (double)n * procs / t;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	int maxprocs = argc > 2 ? atoi(argv[2]) : 2;
	if (n < 1 || maxprocs < 1 || maxprocs > 64) {
		fprintf(stderr, "usage: %s [N [MAXPROCS]]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	double ceiling[65];
	printf("# %d spawns of /bin/true per requester; %ld CPUs online\n", n,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-24s %10s %10s %8s\n", "mode", "requesters", "spawns/s", "ceiling");
	for (int m = 0; m < NMODES; m++) {
		for (int p = 1; p <= maxprocs; p++) {
			double r = run((enum mode)m, n, p);
			if (m == BARE)
				ceiling[p] = r;
			printf("%-24s %10d %10.0f %8.2f\n", mode_name[m], p, r,
			       ceiling[p] > 0 ? r / ceiling[p] : 0);
			fflush(stdout);
		}
	}
	return 0;
}
