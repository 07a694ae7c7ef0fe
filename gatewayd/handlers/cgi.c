/* The cgi handler (RFC 3875): one process per request.
 *
 * The script's stdin, stdout and stderr are three pipes watched at once, so
 * the body goes in while the answer comes out (full duplex): a script may
 * answer before it reads, or never read at all. A job outlives its request
 * when the request ends first (client gone, timeout): it then only waits to
 * reap the child it killed. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gatewayd/core/admission.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/request/cgi_output.h"
#include "gatewayd/request/request.h"
#include "gatewayd/request/router.h"
#include "gatewayd/request/script.h"
#include "spawner/client.h"
#include "spawner/spawn.h"

#define CGI_MAX_ARGS 64
#define CGI_READ_CHUNK (64 * 1024)
#define CGI_DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

enum job_state { JOB_QUEUED, JOB_RUNNING };

struct cgi_route_state {
	int running;
	struct admission waiting; /* for a slot under max_children */
};

struct cgi_job {
	struct request *r; /* NULL once the request was let go */
	struct config *cfg; /* route and rs live in it: held until the child is reaped */
	struct route_cfg *route;
	struct cgi_route_state *rs;
	enum job_state state;
	char rid[REQUEST_ID_LEN]; /* the job may outlive r and still logs */
	char *script;
	char *root; /* the route's, or the user's (userdir) */
	struct cgi_output out;

	pid_t pid;
	int in_fd, out_fd, err_fd;
	ev_io in_w, out_w, err_w;
	struct spawn_watch watch; /* its exit, reported by the spawner */
	ev_timer timer; /* run timeout, then the SIGKILL grace */

	struct stderr_line errline; /* a stderr line not yet ended */
	bool out_paused;
	bool exited;
	bool killing;
	int wait_status;
	ev_tstamp spawned_at;

	struct admission_ticket ticket; /* while it waits for a slot */
	struct cgi_job *prev, *next; /* jobs with a live child */
};

static struct cgi_job *job_of_ticket(struct admission_ticket *t)
{
	return (struct cgi_job *)((char *)t - offsetof(struct cgi_job, ticket));
}

static struct cgi_job *live_jobs;
static size_t live_children;

static void job_run(struct cgi_job *j);
static void job_maybe_free(struct cgi_job *j);

size_t cgi_children_alive(void)
{
	return live_children;
}

void cgi_kill_all(int sig)
{
	for (struct cgi_job *j = live_jobs; j; j = j->next)
		if (!j->exited)
			spawn_client_signal(j->pid, sig);
}

void cgi_route_load(const struct route_cfg *route, unsigned *running, unsigned *waiting)
{
	const struct cgi_route_state *rs = route->state; /* NULL until its first request */
	*running = rs && rs->running > 0 ? (unsigned)rs->running : 0;
	*waiting = rs ? rs->waiting.waiting : 0;
}

static struct cgi_route_state *route_state(struct route_cfg *route)
{
	if (!route->state)
		route->state = calloc(1, sizeof(struct cgi_route_state));
	return route->state;
}

/* ---- resolving the script ------------------------------------------- */

static int script_check(struct request *r, const char *root, const char *file)
{
	char real[PATH_MAX];
	struct stat st;
	if (!realpath(file, real) || !router_path_below(root, real)) {
		log_warn(r->id, "%s resolves outside the cgi root %s", file, root);
		return 404;
	}
	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_info(r->id, "%s is not a regular file", file);
		return 403;
	}
	if (access(real, X_OK) < 0) {
		log_info(r->id, "%s is not executable", file);
		return 403;
	}
	return 0;
}

/* The root this request's script lies under: the route's, or for a userdir
 * route ("/~NAME/rest") NAME's home + userdir, with the mount moved past
 * "NAME" so that the rest is walked below it. 0 or a status. */
static int request_root(struct request *r, char *root, size_t cap)
{
	const struct cgi_cfg *cgi = &r->route->cgi;
	if (!cgi->userdir) {
		snprintf(root, cap, "%s", cgi->root ? cgi->root : "");
		return 0;
	}
	const char *name = r->path + r->route_prefix;
	size_t n = strcspn(name, "/");
	char user[33];
	if (n == 0 || n >= sizeof user || name[0] == '.')
		return 404;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return 404;
	memcpy(user, name, n);
	user[n] = '\0';
	struct passwd *pw = getpwnam(user);
	char dir[PATH_MAX];
	if (!pw ||
	    snprintf(dir, sizeof dir, "%s/%s", pw->pw_dir, cgi->userdir) >= (int)sizeof dir ||
	    !realpath(dir, root)) {
		log_info(r->id, "no user directory for ~%s", user);
		return 404;
	}
	r->route_prefix += n;
	return 0;
}

/* What every script gets from its route, however it was found. */
static int script_route_env(struct request *r)
{
	struct cgi_env *env = &r->env;
	int rc = 0;

	if (!r->route->cgi.pass_authorization) {
		cgi_env_unset(env, "HTTP_AUTHORIZATION");
		cgi_env_unset(env, "HTTP_PROXY_AUTHORIZATION");
	}
	/* php-cgi refuses to run without it (cgi.force_redirect). */
	rc |= cgi_env_set(env, "REDIRECT_STATUS", "200");
	bool has_path = false;
	for (size_t i = 0; i < r->route->cgi.nenv; i++) {
		const char *kv = r->route->cgi.env[i];
		const char *eq = strchr(kv, '=');
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)(eq - kv), kv);
		has_path |= strcmp(name, "PATH") == 0;
		rc |= cgi_env_set(env, name, eq + 1);
	}
	if (!has_path && !cgi_env_get(env, "PATH"))
		rc |= cgi_env_set(env, "PATH", CGI_DEFAULT_PATH + 5);
	return rc ? 500 : 0;
}

/* ---- the job's life ----------------------------------------------------- */

static void job_stop_io(struct cgi_job *j)
{
	if (j->in_fd >= 0) {
		ev_io_stop(gw->loop, &j->in_w);
		close(j->in_fd);
		j->in_fd = -1;
	}
	if (j->out_fd >= 0) {
		ev_io_stop(gw->loop, &j->out_w);
		close(j->out_fd);
		j->out_fd = -1;
	}
}

/* The request goes its own way; the job only reaps what it started. */
static void job_detach(struct cgi_job *j)
{
	if (j->r)
		j->r->handler_ctx = NULL;
	j->r = NULL;
}

static void job_kill(struct cgi_job *j)
{
	if (j->state != JOB_RUNNING || j->exited || j->killing)
		return;
	j->killing = true;
	spawn_client_signal(j->pid, SIGTERM);
	ev_timer_stop(gw->loop, &j->timer);
	ev_timer_set(&j->timer, j->route->cgi.kill_grace, 0);
	ev_timer_start(gw->loop, &j->timer);
}

/* Answer and let go (request_error cuts a response whose head is out). */
static void job_fail(struct cgi_job *j, int status, const char *extra)
{
	struct request *r = j->r;
	if (!r)
		return;
	job_detach(j);
	request_error(r, status, extra);
}

static void read_stderr(struct cgi_job *j)
{
	char chunk[4096];
	for (;;) {
		ssize_t n = read(j->err_fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			request_stderr_flush(j->r, j->rid, j->script, &j->errline);
			ev_io_stop(gw->loop, &j->err_w);
			close(j->err_fd);
			j->err_fd = -1;
			return;
		}
		request_stderr_feed(j->r, j->rid, j->script, &j->errline, chunk, (size_t)n);
	}
}

static void on_stderr(struct ev_loop *loop, ev_io *w, int revents)
{
	read_stderr(w->data);
}

static void job_free(struct cgi_job *j)
{
	admission_remove(&j->ticket);
	spawn_watch_stop(&j->watch);
	ev_timer_stop(gw->loop, &j->timer);
	job_stop_io(j);
	if (j->err_fd >= 0) {
		read_stderr(j);
		if (j->err_fd >= 0) {
			request_stderr_flush(j->r, j->rid, j->script, &j->errline);
			ev_io_stop(gw->loop, &j->err_w);
			close(j->err_fd);
		}
	}
	if (j->state == JOB_RUNNING) {
		if (j->prev)
			j->prev->next = j->next;
		else
			live_jobs = j->next;
		if (j->next)
			j->next->prev = j->prev;
	}
	cgi_output_free(&j->out);
	buf_free(&j->errline.buf);
	free(j->script);
	free(j->root);
	config_unref(j->cfg);
	free(j);
}

/* Both the output's end and the child's exit are needed to finish. */
static void job_maybe_finish(struct cgi_job *j)
{
	if (j->out_fd >= 0 || !j->exited)
		return;
	struct request *r = j->r;
	/* The child is gone: what it wrote to stderr is all in the pipe, and goes
	 * with the request (FastCGI STDERR) before its end, whatever order the
	 * descriptors became readable in. */
	if (r && j->err_fd >= 0)
		read_stderr(j);
	if (r) {
		if (!j->out.head_done) {
			cgi_output_log_incomplete(&j->out, j->rid);
			job_fail(j, 502, NULL);
		} else {
			int st = j->wait_status;
			r->app_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			job_detach(j);
			r->front->send_end(r, true);
		}
	}
	job_maybe_free(j);
}

static void job_maybe_free(struct cgi_job *j)
{
	if (!j->r && j->exited)
		job_free(j);
}

static void log_exit(struct cgi_job *j)
{
	int st = j->wait_status;
	if (WIFSIGNALED(st) && !j->killing)
		log_error(j->rid, "%s killed by signal %d (%s)%s", j->script, WTERMSIG(st),
		          strsignal(WTERMSIG(st)), WCOREDUMP(st) ? ", core dumped" : "");
	else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		log_info(j->rid, "%s exited with status %d", j->script, WEXITSTATUS(st));
}

static void on_child(struct spawn_watch *w)
{
	struct cgi_job *j = w->data;
	j->exited = true;
	j->wait_status = w->status;
	live_children--;
	log_exit(j);
	/* The slot is free once the process is gone: start a waiting request. */
	j->rs->running--;
	struct cgi_route_state *rs = j->rs;
	struct admission_ticket *t;
	while (rs->running < j->route->cgi.max_children && (t = admission_pop(&rs->waiting)))
		job_run(job_of_ticket(t)); /* frees a job whose client left while it waited */
	if (!j->r) {
		job_free(j);
	} else {
		/* Grandchildren may hold stdout open: the run timeout still bounds them. */
		job_maybe_finish(j);
	}
	server_check_stopped();
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cgi_job *j = w->data;
	if (j->killing) {
		log_warn(j->rid, "%s ignored SIGTERM for %.1f s: SIGKILL", j->script,
		         j->route->cgi.kill_grace);
		spawn_client_signal(j->pid, SIGKILL);
		return;
	}
	log_error(j->rid, "%s ran over its %.1f s timeout: 504, SIGTERM to its process group",
	          j->script, j->route->cgi.timeout);
	job_stop_io(j);
	job_fail(j, 504, NULL);
	if (j->exited) {
		/* Only descendants holding stdout are left: no grace for them. */
		spawn_client_signal(j->pid, SIGKILL);
		job_free(j);
		return;
	}
	job_kill(j);
}

/* ---- stdin: the request body ------------------------------------------ */

static void stdin_close(struct cgi_job *j)
{
	if (j->in_fd < 0)
		return;
	ev_io_stop(gw->loop, &j->in_w);
	close(j->in_fd);
	j->in_fd = -1;
}

static void pump_stdin(struct cgi_job *j)
{
	struct request *r = j->r;
	if (!r || j->state != JOB_RUNNING)
		return;
	if (r->body.failed) {
		log_error(j->rid, "the request body has a hole (out of memory): 500");
		job_stop_io(j);
		job_fail(j, 500, NULL);
		job_kill(j);
		return;
	}
	while (buf_len(&r->body) > 0) {
		if (j->in_fd < 0) {
			/* The script closed its stdin: it gets no more, the rest is dropped. */
			request_body_taken(r, buf_len(&r->body));
			continue;
		}
		ssize_t n = write(j->in_fd, buf_head(&r->body), buf_len(&r->body));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			ev_io_start(gw->loop, &j->in_w);
			break;
		}
		if (n < 0) {
			if (errno != EPIPE)
				log_warn(j->rid, "writing the body to %s: %s", j->script,
				         strerror(errno));
			stdin_close(j);
			continue;
		}
		request_body_taken(r, (size_t)n);
	}
	if (r->body_complete && buf_len(&r->body) == 0)
		stdin_close(j);
}

static void on_stdin(struct ev_loop *loop, ev_io *w, int revents)
{
	struct cgi_job *j = w->data;
	ev_io_stop(loop, w);
	pump_stdin(j);
}

/* ---- stdout: the response ------------------------------------------- */

/* Returns false when the job let go of its request. */
static bool take_output(struct cgi_job *j, const char *p, size_t n)
{
	struct request *r = j->r;
	char *location = NULL;
	switch (cgi_output_feed(&j->out, r, p, n, &location)) {
	case CGI_OUT_MORE:
		return true;
	case CGI_OUT_REDIRECT:
		job_detach(j);
		job_stop_io(j);
		request_follow_redirect(r, location);
		return false;
	case CGI_OUT_BAD:
		break;
	}
	job_stop_io(j);
	job_fail(j, 502, NULL);
	job_kill(j);
	return false;
}

static void on_stdout(struct ev_loop *loop, ev_io *w, int revents)
{
	struct cgi_job *j = w->data;
	char chunk[CGI_READ_CHUNK];
	for (int turns = 0; turns < 16; turns++) {
		struct request *r = j->r;
		if (!r) {
			job_stop_io(j);
			break;
		}
		if (r->front->backlog(r) >= REQUEST_HIGH_WATER) {
			/* The client reads slower than the script writes: wait for drained(). */
			ev_io_stop(loop, &j->out_w);
			j->out_paused = true;
			return;
		}
		ssize_t n = read(j->out_fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			if (n < 0)
				log_warn(j->rid, "reading from %s: %s", j->script, strerror(errno));
			ev_io_stop(loop, &j->out_w);
			close(j->out_fd);
			j->out_fd = -1;
			job_maybe_finish(j);
			return;
		}
		if (!take_output(j, chunk, (size_t)n))
			break;
	}
	if (!j->r)
		job_maybe_free(j);
}

/* ---- start ------------------------------------------------------------ */

static int spawn_script(struct cgi_job *j)
{
	struct request *r = j->r;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	bool has_body = r->content_length > 0;
	char **argv = NULL;
	int rc;

	if ((has_body && (rc = spawn_pipe(in, 1)) < 0) || (rc = spawn_pipe(out, 0)) < 0 ||
	    (rc = spawn_pipe(err, 0)) < 0) {
		log_error(j->rid, "pipe: %s", strerror(-rc));
		goto fail;
	}
	/* RFC 3875 §4.4: an ISINDEX query ("a+b", no '=') becomes the arguments. */
	if (r->query &&
	    cgi_isindex_argv(r->query, strlen(r->query), j->script, &argv, CGI_MAX_ARGS) <= 0)
		argv = NULL;

	int fd[3] = { in[0], out[1], err[1] };
	struct spawn_result res;
	pid_t pid =
	        spawn_client_cgi(j->rid, (unsigned)(j->route - j->cfg->routes), j->root, j->script,
	                         argv ? argv + 1 : NULL, cgi_env_envp(&r->env), fd, &res);
	cgi_argv_free(argv);
	if (pid < 0) {
		rc = (int)pid;
		if (res.check)
			log_error(j->rid, "refused to run %s: %s", j->script, res.text);
		else
			log_error(j->rid, "cannot run %s: %s", j->script,
			          res.text[0] ? res.text : strerror(-rc));
		goto fail;
	}
	if (in[0] >= 0)
		close(in[0]);
	close(out[1]);
	close(err[1]);
	j->pid = pid;
	j->in_fd = in[1];
	j->out_fd = out[0];
	j->err_fd = err[0];
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return rc;
}

/* No slot came within queue_timeout (the ticket is out of the queue). */
static void on_slot_wait_expired(struct admission_ticket *t)
{
	struct cgi_job *j = job_of_ticket(t);
	log_warn(j->rid, "no cgi slot within %.1f s (%d running); 503", j->route->cgi.queue_timeout,
	         j->rs->running);
	if (j->r) {
		struct request *r = j->r;
		job_detach(j);
		admission_refuse(r);
	}
	job_free(j);
}

static void job_run(struct cgi_job *j)
{
	struct request *r = j->r;
	ev_timer_stop(gw->loop, &j->timer);
	if (!r) {
		job_free(j);
		return;
	}
	j->state = JOB_RUNNING;
	j->spawned_at = ev_now(gw->loop);
	ev_tstamp t0 = ev_time();
	int rc = spawn_script(j);
	request_timing_app(r, t0);
	if (rc < 0) {
		j->state = JOB_QUEUED; /* not in the live list */
		job_fail(j, rc == -EACCES ? 403 : 502, NULL);
		job_free(j);
		return;
	}
	j->rs->running++;
	live_children++;
	j->next = live_jobs;
	if (live_jobs)
		live_jobs->prev = j;
	live_jobs = j;

	ev_io_init(&j->out_w, on_stdout, j->out_fd, EV_READ);
	ev_io_init(&j->err_w, on_stderr, j->err_fd, EV_READ);
	ev_io_init(&j->in_w, on_stdin, j->in_fd, EV_WRITE);
	j->out_w.data = j->err_w.data = j->in_w.data = j;
	j->watch = (struct spawn_watch){ .pid = j->pid, .exited = on_child, .data = j };
	spawn_watch_start(&j->watch);
	ev_io_start(gw->loop, &j->out_w);
	ev_io_start(gw->loop, &j->err_w);
	ev_timer_set(&j->timer, j->route->cgi.timeout, 0);
	ev_timer_start(gw->loop, &j->timer);
	if (j->in_fd >= 0)
		pump_stdin(j);
}

static void cgi_start(struct request *r)
{
	struct script_match m;
	char root[PATH_MAX];
	int status = request_root(r, root, sizeof root);
	if (!status && r->script_filename) {
		/* A web server named the script (FastCGI): its variables stand as sent. */
		snprintf(m.file, sizeof m.file, "%s", r->script_filename);
	} else if (!status) {
		status = script_find(r, root, NULL, &m);
		if (!status)
			status = script_location_env(r, &m);
	}
	if (!status)
		status = script_check(r, root, m.file);
	if (!status)
		status = script_route_env(r);
	if (status) {
		request_error(r, status, NULL);
		return;
	}
	struct cgi_job *j = calloc(1, sizeof *j);
	struct cgi_route_state *rs = route_state(r->route);
	if (!j || !rs || !(j->script = strdup(m.file)) || !(j->root = strdup(root))) {
		if (j)
			free(j->script);
		free(j);
		request_error(r, 500, NULL);
		return;
	}
	const char *base = strrchr(m.file, '/');
	j->out.nph = base && strncmp(base + 1, "nph-", 4) == 0;
	j->out.who = j->script;
	j->r = r;
	j->cfg = config_ref(r->cfg);
	j->route = r->route;
	j->rs = rs;
	j->in_fd = j->out_fd = j->err_fd = -1;
	snprintf(j->rid, sizeof j->rid, "%s", r->id);
	ev_init(&j->timer, on_timer);
	j->timer.data = j;
	r->handler_ctx = j;

	if (rs->running < r->route->cgi.max_children) {
		job_run(j);
		return;
	}
	j->state = JOB_QUEUED;
	if (!admission_enqueue(&rs->waiting, &j->ticket, (unsigned)r->route->cgi.queue,
	                       r->route->cgi.queue_timeout, on_slot_wait_expired)) {
		log_warn(r->id, "%d cgi children running and %u waiting: 503", rs->running,
		         rs->waiting.waiting);
		job_detach(j);
		job_free(j);
		admission_refuse(r);
		return;
	}
	request_timing_queued(r);
}

static void cgi_body(struct request *r)
{
	struct cgi_job *j = r->handler_ctx;
	if (j)
		pump_stdin(j);
}

static void cgi_drained(struct request *r)
{
	struct cgi_job *j = r->handler_ctx;
	if (j && j->out_paused && j->out_fd >= 0) {
		j->out_paused = false;
		ev_io_start(gw->loop, &j->out_w);
	}
}

static void cgi_abort(struct request *r)
{
	struct cgi_job *j = r->handler_ctx;
	if (!j)
		return;
	job_detach(j);
	if (j->state == JOB_QUEUED) {
		/* It stays queued without a request: whichever comes first, its queue
		 * timer or a free slot (job_run), frees it. */
		return;
	}
	job_stop_io(j);
	job_kill(j);
	job_maybe_free(j);
}

/* clang-format off */
const struct handler_ops handler_cgi = {
	.name = "cgi", .start = cgi_start, .body = cgi_body, .drained = cgi_drained,
	.abort = cgi_abort
};
/* clang-format on */
