#include "spawner/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawner/client.h"
#include "spawner/spawn.h"

#define YOUNG_SECONDS 2.0 /* a worker dying sooner counts toward back-off */
#define BACKOFF_FIRST 0.25
#define BACKOFF_MAX 30.0
#define STOP_GRACE 5.0
#define MAINTAIN_EVERY 1.0

#define LOG(p, level, ...) ((p)->hooks->log(level, __VA_ARGS__))

static const char *state_names[] = { "starting", "idle", "busy", "draining", "dead" };

const char *worker_state_name(enum worker_state s)
{
	return s < WORKER_NSTATES ? state_names[s] : "?";
}

static void maintain_soon(struct pool *p, double after);

static void set_state(struct pool *p, struct worker *w, enum worker_state s)
{
	p->count[w->state]--;
	w->state = s;
	p->count[s]++;
	w->state_since = ev_now(p->loop);
}

static struct worker *worker_new(struct pool *p, enum worker_state s)
{
	struct worker *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->pool = p;
	w->slot = p->next_slot++;
	w->state = s;
	w->err_fd = -1;
	w->listen_fd = -1;
	w->probe_fd = -1;
	w->started_at = w->state_since = ev_now(p->loop);
	p->count[s]++;
	struct worker **pp = &p->workers;
	while (*pp)
		pp = &(*pp)->next;
	*pp = w;
	return w;
}

static void worker_unlink(struct pool *p, struct worker *w)
{
	struct worker **pp = &p->workers;
	while (*pp && *pp != w)
		pp = &(*pp)->next;
	if (*pp)
		*pp = w->next;
	p->count[w->state]--;
}

/* Hand on what errline holds: a whole line (more false, no part before) or
 * one part of one. */
static void emit_errline(struct worker *w, bool more)
{
	unsigned part = more || w->errparts ? ++w->errparts : 0;
	if (!more)
		w->errparts = 0;
	if (w->pool->hooks->stderr_line)
		w->pool->hooks->stderr_line(w->pool, w, w->errline, w->errlen, part, more);
	else
		LOG(w->pool, 1, "%s#%u: %.*s", w->pool->set.name, w->slot, (int)w->errlen,
		    w->errline);
	w->errlen = 0;
}

static void flush_errline(struct worker *w)
{
	if (w->errlen || w->errparts)
		emit_errline(w, false);
}

static void read_worker_stderr(struct worker *w)
{
	char chunk[1024];
	for (;;) {
		ssize_t n = read(w->err_fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			flush_errline(w);
			ev_io_stop(w->pool->loop, &w->err_w);
			close(w->err_fd);
			w->err_fd = -1;
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '\n') {
				flush_errline(w);
			} else if (chunk[i] != '\r') {
				/* full: a part, once the line goes on */
				if (w->errlen == sizeof w->errline)
					emit_errline(w, true);
				w->errline[w->errlen++] = chunk[i];
			}
		}
	}
}

static void on_worker_stderr(struct ev_loop *loop, ev_io *io, int revents)
{
	read_worker_stderr(io->data);
}

static void probe_stop(struct pool *p, struct worker *w)
{
	ev_timer_stop(p->loop, &w->probe_w);
	if (w->probe_fd >= 0)
		close(w->probe_fd);
	w->probe_fd = -1;
}

static void worker_free(struct pool *p, struct worker *w)
{
	ev_timer_stop(p->loop, &w->timer);
	probe_stop(p, w);
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	spawn_watch_stop(&w->watch);
	if (w->err_fd >= 0) {
		read_worker_stderr(w);
		if (w->err_fd >= 0) {
			ev_io_stop(p->loop, &w->err_w);
			close(w->err_fd);
		}
	}
	if (strncmp(w->address, "unix:", 5) == 0)
		unlink(w->address + 5);
	worker_unlink(p, w);
	free(w);
}

/* ---- stopping ---------------------------------------------------------- */

static void on_worker_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;
	struct pool *p = w->pool;
	if (w->state == WORKER_STARTING) {
		LOG(p, 1, "%s#%u (pid %d) not accepting after %.0f s: killed", p->set.name, w->slot,
		    (int)w->pid, p->set.start_timeout);
		pool_kill(p, w, NULL);
		return;
	}
	LOG(p, 1, "%s#%u (pid %d) still running %.0f s after the stop signal: SIGKILL", p->set.name,
	    w->slot, (int)w->pid, STOP_GRACE);
	w->kill_requested = true;
	spawn_client_signal(w->pid, SIGKILL);
}

static void stop_worker(struct pool *p, struct worker *w, const char *why)
{
	if (w->state == WORKER_DRAINING)
		return;
	bool idle = w->state == WORKER_IDLE || w->state == WORKER_STARTING;
	if (!p->hooks->stopping(p, w)) {
		LOG(p, 2, "%s#%u (pid %d) not stopped: taken meanwhile", p->set.name, w->slot,
		    (int)w->pid);
		if (w->state == WORKER_IDLE)
			set_state(p, w, WORKER_BUSY);
		return;
	}
	LOG(p, 2, "%s#%u (pid %d) stopping: %s", p->set.name, w->slot, (int)w->pid, why);
	/* A starting worker may have accepted the readiness probe and wait for
	 * its first bytes (php-cgi polls 5 s, deaf to the signal): close it. */
	probe_stop(p, w);
	set_state(p, w, WORKER_DRAINING);
	spawn_client_signal(w->pid, p->set.stop_signal);
	if (idle) {
		/* Many workers (php-cgi) only note the signal and go back to accept():
		 * a connection wakes them to see it. */
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", w->address + 5);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
				LOG(p, 3, "%s#%u: wake-up connect: %s", p->set.name, w->slot,
				    strerror(errno));
			close(fd);
		}
	}
	ev_timer_stop(p->loop, &w->timer);
	ev_timer_set(&w->timer, STOP_GRACE, 0);
	ev_timer_start(p->loop, &w->timer);
}

void pool_kill(struct pool *p, struct worker *w, const char *why)
{
	if (why)
		LOG(p, 1, "%s#%u (pid %d) killed: %s", p->set.name, w->slot, (int)w->pid, why);
	w->kill_requested = true;
	if (w->state != WORKER_DEAD)
		set_state(p, w, WORKER_DRAINING);
	spawn_client_signal(w->pid, SIGKILL);
}

/* ---- spawning ---------------------------------------------------------- */

static void on_worker_exit(struct spawn_watch *sw)
{
	struct worker *w = sw->data;
	struct pool *p = w->pool;
	struct ev_loop *loop = p->loop;
	int st = sw->status;
	ev_tstamp lived = ev_now(loop) - w->started_at;
	if (p->hooks->exiting)
		p->hooks->exiting(p, w);
	bool expected = w->kill_requested || w->state == WORKER_DRAINING;
	/* Status 0 after serving: it left at a request limit of its own
	 * (php-cgi's PHP_FCGI_MAX_REQUESTS): replaced at once, like a worker
	 * recycled after max_requests, not a crash to back off from. Its exit
	 * is often seen before the end of its last answer, which is still
	 * being read (busy, that request not yet counted). */
	bool left = !expected && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
	            (w->requests > 0 || w->state == WORKER_BUSY);
	w->left = left;

	if (left) {
		LOG(p, 2, "%s#%u (pid %d) left after %lu requests; replacing it", p->set.name,
		    w->slot, (int)w->pid, w->requests);
		/* It will not be the last: a request sent to the next one just as
		 * it leaves is lost (unread, but a reset cannot prove it), so its
		 * successors are recycled at that count instead (the count may
		 * lag its last answer by one: early is harmless, late is not). */
		if (w->requests > 0 &&
		    (!p->set.max_requests || w->requests < p->set.max_requests)) {
			p->set.max_requests = (unsigned)w->requests;
			LOG(p, 1,
			    "%s: workers leave after %lu requests by themselves: recycled "
			    "at that count from now on",
			    p->set.name, w->requests);
		}
	} else if (!expected) {
		p->crashes++;
		if (WIFSIGNALED(st))
			LOG(p, 0, "%s#%u (pid %d) killed by signal %d (%s) after %.1f s",
			    p->set.name, w->slot, (int)w->pid, WTERMSIG(st),
			    strsignal(WTERMSIG(st)), lived);
		else
			LOG(p, 0, "%s#%u (pid %d) exited with status %d after %.1f s", p->set.name,
			    w->slot, (int)w->pid, WEXITSTATUS(st), lived);
		if (lived < YOUNG_SECONDS) {
			p->backoff = p->backoff ? p->backoff * 2 : BACKOFF_FIRST;
			if (p->backoff > BACKOFF_MAX)
				p->backoff = BACKOFF_MAX;
			p->next_spawn_at = ev_now(loop) + p->backoff;
			LOG(p, 1, "%s: worker died young; next spawn in %.2f s", p->set.name,
			    p->backoff);
		}
	} else {
		LOG(p, 3, "%s#%u (pid %d) exited", p->set.name, w->slot, (int)w->pid);
	}
	if ((lived >= YOUNG_SECONDS && !expected) || left)
		p->backoff = 0;
	set_state(p, w, WORKER_DEAD);
	p->hooks->exited(p, w, st);
	worker_free(p, w);
	maintain_soon(p, 0);
}

static int bind_worker_socket(struct pool *p, struct worker *w)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s-%u.sock", p->set.socket_dir,
	                 p->set.socket_name ? p->set.socket_name : p->set.name, w->slot);
	if (n < 0 || (size_t)n >= sizeof sa.sun_path) {
		LOG(p, 0, "%s: socket path under %s too long", p->set.name, p->set.socket_dir);
		return -1;
	}
	unlink(sa.sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
		LOG(p, 0, "%s: worker socket %s: %s", p->set.name, sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (p->set.socket_owned && (chown(sa.sun_path, p->set.socket_uid, p->set.socket_gid) < 0 ||
	                            chmod(sa.sun_path, 0660) < 0)) {
		LOG(p, 0, "%s: worker socket %s: %s", p->set.name, sa.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	snprintf(w->address, sizeof w->address, "unix:%s", sa.sun_path);
	return fd;
}

static void set_ready(struct pool *p, struct worker *w)
{
	if (w->state != WORKER_STARTING)
		return;
	probe_stop(p, w);
	ev_timer_stop(p->loop, &w->timer);
	set_state(p, w, WORKER_IDLE);
	LOG(p, 3, "%s#%u (pid %d) accepting", p->set.name, w->slot, (int)w->pid);
	p->hooks->idle(p, w);
}

/* Ready is "its socket accepts": the probe connection sits in the listening
 * socket's queue (readable) until the worker accepts it. */
static void on_probe(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;
	struct pollfd pfd = { .fd = w->listen_fd, .events = POLLIN };
	if (poll(&pfd, 1, 0) == 0)
		set_ready(w->pool, w);
}

static void probe_start(struct pool *p, struct worker *w)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", w->address + 5);
	w->probe_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (w->probe_fd < 0 || connect(w->probe_fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		LOG(p, 1, "%s#%u: probe connect: %s", p->set.name, w->slot, strerror(errno));
		probe_stop(p, w);
		return; /* the start timeout decides */
	}
	ev_timer_init(&w->probe_w, on_probe, 0.002, 0.01);
	w->probe_w.data = w;
	ev_timer_start(p->loop, &w->probe_w);
}

static int spawn_one(struct pool *p)
{
	if (!spawn_client_ready())
		return -1; /* the spawner is gone, and gatewayd stops (its lost hook) */
	struct worker *w = worker_new(p, WORKER_STARTING);
	int err[2] = { -1, -1 };
	if (!w)
		return -1;
	int fd = bind_worker_socket(p, w);
	if (fd < 0 || spawn_pipe(err, 0) < 0) {
		if (fd >= 0)
			close(fd);
		worker_free(p, w);
		return -1;
	}
	struct spawn_result res;
	pid_t pid = spawn_client_worker(p->set.name, w->slot, fd, err[1], &res);
	w->listen_fd = fd; /* kept (close-on-exec) to see the worker accept */
	close(err[1]);
	p->spawns++;
	if (pid < 0) {
		LOG(p, 0, "%s: cannot start a worker: %s", p->set.name,
		    res.text[0] ? res.text : strerror((int)-pid));
		close(err[0]);
		p->crashes++;
		p->backoff = p->backoff ? p->backoff * 2 : BACKOFF_FIRST;
		if (p->backoff > BACKOFF_MAX)
			p->backoff = BACKOFF_MAX;
		p->next_spawn_at = ev_now(p->loop) + p->backoff;
		worker_free(p, w);
		return -1;
	}
	w->pid = pid;
	w->err_fd = err[0];
	ev_io_init(&w->err_w, on_worker_stderr, w->err_fd, EV_READ);
	w->err_w.data = w;
	ev_io_start(p->loop, &w->err_w);
	w->watch = (struct spawn_watch){ .pid = pid, .exited = on_worker_exit, .data = w };
	spawn_watch_start(&w->watch);
	ev_init(&w->timer, on_worker_timer);
	w->timer.data = w;
	ev_timer_set(&w->timer, p->set.start_timeout, 0);
	ev_timer_start(p->loop, &w->timer);
	LOG(p, 3, "%s#%u started, pid %d, on %s", p->set.name, w->slot, (int)pid, w->address);
	probe_start(p, w);
	return 0;
}

/* ---- sizing ------------------------------------------------------------ */

static unsigned live(const struct pool *p)
{
	return p->count[WORKER_STARTING] + p->count[WORKER_IDLE] + p->count[WORKER_BUSY];
}

/* How many more workers the pool wants now (negative: idle ones to stop). */
static int wanted(const struct pool *p)
{
	int alive = (int)live(p);
	int spare = (int)(p->count[WORKER_STARTING] + p->count[WORKER_IDLE]);
	int want = 0;
	switch (p->set.sizing) {
	case POOL_SIZE_STATIC:
		want = p->set.start - alive;
		break;
	case POOL_SIZE_DYNAMIC:
		if (alive < p->set.start)
			want = p->set.start - alive;
		else if (spare < p->set.min_spare || (int)p->waiting > spare)
			want = (p->set.min_spare > (int)p->waiting ? p->set.min_spare
			                                           : (int)p->waiting) -
			       spare;
		else if (spare > p->set.max_spare)
			want = p->set.max_spare - spare;
		break;
	case POOL_SIZE_ONDEMAND:
		want = (int)p->waiting - spare;
		if (want < 0)
			want = 0;
		break;
	}
	if (want > 0 && alive + want > p->set.max)
		want = p->set.max - alive;
	return want;
}

/* A worker's resident set in KiB, from /proc (readable whoever it runs as). */
static uint64_t rss_kb(pid_t pid)
{
	char path[64];
	unsigned long long size = 0, resident = 0;
	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	int n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	return n == 2 ? resident * (uint64_t)(sysconf(_SC_PAGESIZE) / 1024) : 0;
}

/* max_rss: an idle worker over it stops now, a busy one once its request is done. */
static void check_memory(struct pool *p)
{
	if (!p->set.max_rss_kb)
		return;
	for (struct worker *w = p->workers; w; w = w->next) {
		if ((w->state != WORKER_IDLE && w->state != WORKER_BUSY) || w->recycle)
			continue;
		uint64_t kb = rss_kb(w->pid);
		if (kb <= p->set.max_rss_kb)
			continue;
		LOG(p, 2, "%s#%u (pid %d) resident memory %llu KiB over max_rss %llu KiB",
		    p->set.name, w->slot, (int)w->pid, (unsigned long long)kb,
		    (unsigned long long)p->set.max_rss_kb);
		if (w->state == WORKER_IDLE)
			stop_worker(p, w, "recycled: resident memory over max_rss");
		else
			w->recycle = true;
	}
}

static void maintain(struct pool *p)
{
	if (p->draining)
		return;
	check_memory(p);
	ev_tstamp now = ev_now(p->loop);
	int want = wanted(p);
	if (want > 0 && now < p->next_spawn_at) {
		maintain_soon(p, p->next_spawn_at - now);
		return;
	}
	/* While backing off, one at a time: a crash loop never forks in a burst. */
	if (want > 0 && p->backoff > 0)
		want = 1;
	for (int i = 0; i < want; i++)
		if (spawn_one(p) < 0)
			break;
	if (want < 0) {
		for (struct worker *w = p->workers; w && want < 0; w = w->next) {
			if (w->state == WORKER_IDLE) {
				stop_worker(p, w, "more spare workers than max_spare");
				want++;
			}
		}
	}
	if (p->set.sizing == POOL_SIZE_ONDEMAND) {
		for (struct worker *w = p->workers; w; w = w->next)
			if (w->state == WORKER_IDLE && now - w->state_since >= p->set.idle_timeout)
				stop_worker(p, w, "idle past idle_timeout");
	}
	maintain_soon(p, MAINTAIN_EVERY);
}

static void on_maintain(struct ev_loop *loop, ev_timer *t, int revents)
{
	maintain(t->data);
}

static void maintain_soon(struct pool *p, double after)
{
	if (p->draining)
		return;
	ev_tstamp at = ev_now(p->loop) + after;
	if (ev_is_active(&p->maintain) &&
	    ev_now(p->loop) + ev_timer_remaining(p->loop, &p->maintain) <= at)
		return;
	ev_timer_stop(p->loop, &p->maintain);
	ev_timer_set(&p->maintain, after > 0.001 ? after : 0.001, 0);
	ev_timer_start(p->loop, &p->maintain);
}

/* ---- the supervisor's life --------------------------------------------- */

int pool_start(struct pool *p, struct ev_loop *loop, const struct pool_settings *set,
               const struct pool_hooks *hooks, void *owner)
{
	memset(p, 0, sizeof *p);
	p->set = *set;
	p->hooks = hooks;
	p->owner = owner;
	p->loop = loop;
	ev_init(&p->maintain, on_maintain);
	p->maintain.data = p;
	for (int i = 0; i < set->start; i++)
		if (spawn_one(p) < 0)
			return -1;
	maintain_soon(p, MAINTAIN_EVERY);
	return 0;
}

void pool_drain(struct pool *p)
{
	p->draining = true;
	ev_timer_stop(p->loop, &p->maintain);
	for (struct worker *w = p->workers; w; w = w->next)
		if (w->state == WORKER_IDLE || w->state == WORKER_STARTING)
			stop_worker(p, w, "pool draining");
}

unsigned pool_alive(const struct pool *p)
{
	return p->count[WORKER_STARTING] + p->count[WORKER_IDLE] + p->count[WORKER_BUSY] +
	       p->count[WORKER_DRAINING];
}

void pool_kill_all(struct pool *p)
{
	for (struct worker *w = p->workers; w; w = w->next) {
		if (w->pid && w->state != WORKER_DEAD) {
			w->kill_requested = true;
			spawn_client_signal(w->pid, SIGKILL);
		}
	}
}

void pool_free(struct pool *p)
{
	ev_timer_stop(p->loop, &p->maintain);
	while (p->workers)
		worker_free(p, p->workers);
}

/* ---- the peer interface ------------------------------------------------- */

struct worker *pool_take(struct pool *p)
{
	for (struct worker *w = p->workers; w; w = w->next) {
		if (w->state == WORKER_IDLE) {
			set_state(p, w, WORKER_BUSY);
			if (p->set.sizing == POOL_SIZE_DYNAMIC)
				maintain_soon(p, 0);
			return w;
		}
	}
	return NULL;
}

void pool_claim(struct pool *p, struct worker *w)
{
	if (w->state != WORKER_IDLE)
		return;
	set_state(p, w, WORKER_BUSY);
	if (p->set.sizing == POOL_SIZE_DYNAMIC)
		maintain_soon(p, 0);
}

void pool_served(struct pool *p, struct worker *w)
{
	w->requests++;
	p->served++;
}

void pool_release(struct pool *p, struct worker *w)
{
	if (w->state != WORKER_BUSY)
		return;
	if (p->draining && p->waiting == 0) {
		stop_worker(p, w, "pool draining");
		return;
	}
	if (w->recycle) {
		stop_worker(p, w, "recycled: resident memory over max_rss");
		maintain_soon(p, 0);
		return;
	}
	if (p->set.max_requests && w->requests >= p->set.max_requests) {
		char why[64];
		snprintf(why, sizeof why, "recycled after %lu requests", w->requests);
		stop_worker(p, w, why);
		maintain_soon(p, 0);
		return;
	}
	set_state(p, w, WORKER_IDLE);
	p->hooks->idle(p, w);
}

void pool_demand(struct pool *p)
{
	/* Draining, it still serves what waits for it: beside other
	 * dispatchers, one of the old generation may take a request for it
	 * after its last worker stopped, until the new generation takes over.
	 * One worker, stopped once nobody waits (pool_release). */
	if (p->draining) {
		if (p->waiting > 0 && live(p) == 0 && ev_now(p->loop) >= p->next_spawn_at)
			spawn_one(p);
		return;
	}
	if (p->set.sizing != POOL_SIZE_STATIC)
		maintain_soon(p, 0);
}

/* ---- facts -------------------------------------------------------------- */

bool pool_at_full_size(const struct pool *p)
{
	return p->set.sizing == POOL_SIZE_STATIC || (int)live(p) >= p->set.max;
}
