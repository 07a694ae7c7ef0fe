/* The upstream engine and the pool handler. A job is one request on its way
 * to a worker: queued, then running on a worker's connection. */
#include "gatewayd/upstream/upstream.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gatewayd/core/admission.h"
#include "gatewayd/request/cgi_output.h"
#include "gatewayd/core/conn.h"
#include "gatewayd/core/log.h"
#include "gatewayd/upstream/pools.h"
#include "gatewayd/request/request.h"
#include "gatewayd/core/server.h"
#include "spawner/spawn.h"

#define MAX_ATTEMPTS 3
#define READ_CHUNK (64 * 1024)

/* Where a job is. Where it stands behind (its worker's next_job, not its
 * job) is a pointer, not a state: it sends and hears exactly as the worker's
 * own job does. The request's body may still be going out in any state but
 * QUEUED (a worker may answer before it read everything). */
enum job_state {
	JOB_QUEUED,    /* in its pool's queue, on no worker */
	JOB_BEHIND,    /* sent on to a busy worker: in its socket's backlog, not taken yet */
	JOB_SENDING,   /* its worker's own job: the request going out, no answer yet */
	JOB_RECEIVING, /* the answer has begun: the job is this worker's for good */
};

struct upstream_conn {
	struct conn conn;         /* first: the allocation */
	struct worker *w;
	struct upstream_job *job; /* NULL: idle, kept alive for the worker's next request */
};

struct upstream_job {
	struct request *r;  /* NULL once let go */
	struct pool_rt *rt;
	enum job_state state;
	struct worker *w;
	struct upstream_conn *conn;
	struct cgi_output out;
	struct buf errline;
	ev_timer timer;     /* queue deadline, then request_timeout */
	int attempts;
	union upstream_proto_state proto; /* the protocol's (reinit) */
	char who[200];      /* "php#3 (pid 123)" */
	struct admission_ticket ticket; /* while it waits for a worker */
};

static struct upstream_job *job_of_ticket(struct admission_ticket *t)
{
	return (struct upstream_job *)((char *)t - offsetof(struct upstream_job, ticket));
}

/* The worker record is freed right after the exit hook: look at the stop
 * condition once the pool is done with it. */
static void on_stop_check(struct ev_loop *loop, ev_prepare *w, int revents)
{
	server_check_stopped();
}
static ev_prepare stop_check = {.cb = on_stop_check};
static void job_try_assign(struct upstream_job *j);
static void backlog_fill(struct pool_rt *rt);

/* ---- connections ------------------------------------------------------- */

/* A non-blocking socket connected, or connecting (*done false), to address;
 * -errno on failure. A unix socket connects at once when the worker's backlog
 * has room: then no readiness wait is needed before the first write. */
static int connect_address(const char *address, bool *done)
{
	int fd;
	*done = false;
	if (strncmp(address, "unix:", 5) == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", address + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			*done = true;
		else if (errno != EINPROGRESS && errno != EAGAIN) {
			int e = errno;
			close(fd);
			return -e;
		}
		return fd;
	}
	char host[128];
	snprintf(host, sizeof host, "%s", address);
	char *colon = strrchr(host, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	char *h = host;
	if (h[0] == '[') {
		h++;
		h[strlen(h) - 1] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	if (getaddrinfo(h, colon + 1, &hints, &ai) != 0)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fd = -errno;
	else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		*done = true;
	else if (errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		fd = -e;
	}
	freeaddrinfo(ai);
	return fd;
}

static const struct conn_ops upstream_conn_ops;

/* primary: the worker's connection (w->conn); else one for its next job. */
static struct upstream_conn *conn_open(struct worker *w, bool primary)
{
	bool connected;
	int fd = connect_address(w->address, &connected);
	if (fd < 0) {
		log_warn(NULL, "%s#%u: connect %s: %s", w->pool->set.name, w->slot, w->address,
		         strerror(-fd));
		return NULL;
	}
	struct upstream_conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return NULL;
	}
	conn_init(&c->conn, fd, &upstream_conn_ops, false);
	c->conn.read_chunk = READ_CHUNK;
	c->conn.connecting = !connected;
	c->w = w;
	if (primary)
		w->conn = c;
	conn_want_write(&c->conn);
	return c;
}

/* ---- jobs -------------------------------------------------------------- */

static void job_free(struct upstream_job *j)
{
	j->rt->jobs--;
	admission_remove(&j->ticket);
	j->rt->pool.waiting = j->rt->waiting.waiting;
	ev_timer_stop(gw->loop, &j->timer);
	cgi_output_free(&j->out);
	buf_free(&j->errline);
	free(j);
}

/* The request goes its own way: what happens to the job now is only cleanup. */
static void job_detach(struct upstream_job *j)
{
	if (j->r)
		j->r->handler_ctx = NULL;
	j->r = NULL;
}

/* The oldest job waiting for one of rt's workers, out of the queue; NULL. */
static struct upstream_job *queue_pop(struct pool_rt *rt)
{
	struct admission_ticket *t = admission_pop(&rt->waiting);
	rt->pool.waiting = rt->waiting.waiting;
	return t ? job_of_ticket(t) : NULL;
}

/* No worker came within queue_timeout (the ticket is out of the queue). */
static void on_worker_wait_expired(struct admission_ticket *t)
{
	struct upstream_job *j = job_of_ticket(t);
	struct pool_rt *rt = j->rt;
	rt->pool.waiting = rt->waiting.waiting;
	rt->rejected++;
	log_warn(j->r ? j->r->id : NULL, "pool %s: no worker within %.1f s (%u busy, %u queued): 503",
	         rt->cfg->name, rt->cfg->queue_timeout, rt->pool.count[WORKER_BUSY],
	         rt->waiting.waiting);
	if (j->r) {
		struct request *r = j->r;
		job_detach(j);
		admission_refuse(r);
	}
	job_free(j);
}

/* The worker is done with the job before j: j is the worker's now, and its
 * request_timeout starts; the worker has room for another behind it. */
static void job_promote(struct upstream_job *j)
{
	struct pool_rt *rt = j->rt;
	if (j->state == JOB_BEHIND)
		j->state = JOB_SENDING;
	if (j->conn && !j->w->conn)
		j->w->conn = j->conn;
	if (j->r)
		request_timing_app(j->r, 0);
	ev_timer_stop(gw->loop, &j->timer);
	ev_timer_set(&j->timer, rt->cfg->request_timeout, 0);
	ev_timer_start(gw->loop, &j->timer);
	if (rt->waiting.head)
		ev_prepare_start(gw->loop, &rt->dispatch);
}

/* Methods a worker may see twice (RFC 9110 §9.2.2): only these are sent to
 * another worker when the one they waited behind died, since it may have
 * started them in the moment before. */
static bool request_idempotent(const struct request *r)
{
	static const char *const safe[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
	for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
		if (r->method && strcmp(r->method, safe[i]) == 0)
			return true;
	return false;
}

/* Is j waiting behind its worker's own job? */
static bool job_behind(const struct upstream_job *j)
{
	return j->w && j->w->next_job == j;
}

/* May the job go to another worker after this one failed it? Only if this
 * one cannot have acted on it: no answer came, and nothing reached it (its
 * own job) or it never took it (behind, and the method is one a worker may
 * see twice). */
static bool job_may_retry(const struct upstream_job *j)
{
	if (!j->r)
		return false;
	switch (j->state) {
	case JOB_BEHIND:
		return request_idempotent(j->r);
	case JOB_SENDING:
		return j->conn && !j->conn->conn.wrote_any;
	case JOB_QUEUED:
	case JOB_RECEIVING:
		break;
	}
	return false;
}

/* The job is over: give the worker back (its kept-alive connection with it,
 * when keep is set and the connection is clean), free the job. */
static void job_finish(struct upstream_job *j, bool keep)
{
	struct worker *w = j->w;
	struct upstream_conn *c = j->conn;
	if (c) {
		c->job = NULL;
		/* External workers (php-fpm) serve one connection at a time: a kept one
		 * would hold the worker while other slots wait in its backlog. */
		if (!keep || !upstream_job_keeps_connection(j) || buf_len(&c->conn.in) > 0 ||
		    buf_len(&c->conn.out) > 0)
			conn_close(&c->conn);
		else
			conn_set_reading(&c->conn, true); /* notice if the worker closes it while idle */
	}
	j->conn = NULL;
	if (w) {
		j->w = NULL;
		if (w->job == j) {
			pool_release(&j->rt->pool, w);
			if (w->job)
				job_promote(w->job);
		} else if (w->next_job == j) {
			pool_drop_next(&j->rt->pool, w, true); /* it finished first: events came in that order */
		}
	}
	job_free(j);
}

/* Answer status and let go (request_error cuts a response whose head is out). */
static void job_fail(struct upstream_job *j, int status, const char *extra)
{
	struct request *r = j->r;
	if (r) {
		job_detach(j);
		request_error(r, status, extra);
	}
}

static bool upstream_output(struct upstream_job *j, const char *p, size_t n)
{
	struct request *r = j->r;
	char *location = NULL;
	j->state = JOB_RECEIVING;
	if (!r)
		return true; /* the client left: the worker finishes, its answer is dropped */
	switch (cgi_output_feed(&j->out, r, p, n, &location)) {
	case CGI_OUT_MORE:
		return true;
	case CGI_OUT_REDIRECT:
		job_detach(j);
		job_finish(j, false);
		if (!location || request_internal_redirect(r, location) < 0)
			request_error(r, 500, NULL);
		free(location);
		return false;
	case CGI_OUT_BAD:
		break;
	}
	j->rt->errors++;
	job_fail(j, 502, NULL);
	job_finish(j, false);
	return false;
}

static void upstream_end(struct upstream_job *j, int app_status)
{
	struct request *r = j->r;
	request_stderr_flush(r, r ? r->id : NULL, j->who, &j->errline);
	if (r) {
		if (!j->out.head_done) {
			cgi_output_log_incomplete(&j->out, r->id);
			j->rt->errors++;
			job_fail(j, 502, NULL);
		} else {
			r->app_status = app_status;
			job_detach(j);
			r->front->send_end(r, true);
		}
	}
	job_finish(j, true);
}

/* Push request bytes into the connection while it has room. */
/* Returns false when the job ended (freed). */
static bool job_pump_body(struct upstream_job *j)
{
	struct request *r = j->r;
	struct upstream_conn *c = j->conn;
	if (!r || !c)
		return true;
	if (r->body.failed) {
		log_error(r->id, "the request body has a hole (out of memory): 500");
		job_fail(j, 500, NULL);
		job_finish(j, false);
		return false;
	}
	while (buf_len(&r->body) > 0 && buf_len(&c->conn.out) < REQUEST_HIGH_WATER) {
		size_t n = buf_len(&r->body);
		if (n > 32768)
			n = 32768;
		j->rt->proto->encode_body(j, &c->conn.out, buf_head(&r->body), n);
		request_body_taken(r, n);
	}
	if (r->body_complete && buf_len(&r->body) == 0)
		j->rt->proto->encode_body(j, &c->conn.out, NULL, 0); /* once: the protocol knows */
	if (buf_len(&c->conn.out) > 0)
		conn_want_write(&c->conn);
	return true;
}

static void on_job_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct upstream_job *j = t->data;
	struct pool_rt *rt = j->rt;
	rt->timeouts++;
	log_error(j->r ? j->r->id : NULL, "%s ran over request_timeout (%.1f s): 504, killing it",
	          j->who, rt->cfg->request_timeout);
	job_fail(j, 504, NULL);
	struct worker *w = j->w;
	if (j->conn)
		conn_close(&j->conn->conn);
	j->w = NULL;
	if (w && w->pid) {
		w->job = NULL;
		pool_kill(&rt->pool, w, "request_timeout"); /* replaced once it is gone */
	} else if (w) {
		pool_release(&rt->pool, w); /* a slow request is not a dead address */
	}
	job_free(j);
}

/* Send j to w: w's own job, or (behind) the one after the job w serves.
 * false: behind, and w could not be reached; j is as it was, to queue again. */
static bool job_start_on(struct upstream_job *j, struct worker *w, bool behind)
{
	struct request *r = j->r;
	struct upstream_conn *c = behind ? NULL : w->conn;
	if (!c)
		c = conn_open(w, !behind);
	if (!c && behind) {
		pool_drop_next(&j->rt->pool, w, false);
		return false;
	}
	j->state = behind ? JOB_BEHIND : JOB_SENDING;
	j->rt->proto->reinit(j);
	j->w = w;
	j->attempts++;
	if (w->pid)
		snprintf(j->who, sizeof j->who, "%s#%u (pid %d)", w->pool->set.name, w->slot, (int)w->pid);
	else
		snprintf(j->who, sizeof j->who, "%s#%u (%s)", w->pool->set.name, w->slot, w->address);
	j->out.who = j->who;
	if (!c) {
		/* Nothing was sent: the next worker may do. */
		w->job = NULL;
		j->w = NULL;
		pool_kill(&j->rt->pool, w, "connect failed");
		j->rt->retries++;
		job_try_assign(j);
		return true;
	}
	c->job = j;
	c->conn.wrote_any = false;
	j->conn = c;
	if (j->rt->proto->encode_head(j, &c->conn.out) < 0) {
		/* Nothing went to the worker (the connection, and any part of the
		 * head in it, goes): this was no request of the worker's. */
		c->job = NULL;
		j->conn = NULL;
		conn_close(&c->conn);
		j->w = NULL;
		if (behind) {
			pool_drop_next(&j->rt->pool, w, false);
		} else {
			w->job = NULL;
			pool_untake(&j->rt->pool, w);
		}
		job_fail(j, 431, NULL);
		job_free(j);
		return true;
	}
	if (!job_pump_body(j))
		return true;
	conn_set_reading(&c->conn, true);
	ev_timer_stop(gw->loop, &j->timer);
	if (!behind) {
		if (r)
			request_timing_app(r, 0);
		ev_timer_set(&j->timer, j->rt->cfg->request_timeout, 0);
		ev_timer_start(gw->loop, &j->timer);
	}
	log_debug(r ? r->id : NULL, "to %s%s", j->who, behind ? ", behind its current request" : "");
	return true;
}

/* A worker, or a place in the queue, or 503. */
static void job_try_assign(struct upstream_job *j)
{
	struct pool_rt *rt = j->rt;
	if (!j->r) {
		job_free(j);
		return;
	}
	if (j->attempts >= MAX_ATTEMPTS) {
		rt->errors++;
		log_error(j->r->id, "pool %s: %d workers failed to take the request: 502", rt->cfg->name,
		          j->attempts);
		job_fail(j, 502, NULL);
		job_free(j);
		return;
	}
	struct worker *w = pool_take_idle(&rt->pool, j);
	if (w) {
		job_start_on(j, w, false);
		return;
	}
	j->state = JOB_QUEUED;
	if (!admission_enqueue(&rt->waiting, &j->ticket, (unsigned)rt->cfg->queue,
	                       rt->cfg->queue_timeout, on_worker_wait_expired)) {
		rt->rejected++;
		log_warn(j->r->id, "pool %s: %u busy and %u queued: 503", rt->cfg->name,
		         rt->pool.count[WORKER_BUSY], rt->waiting.waiting);
		struct request *r = j->r;
		job_detach(j);
		job_free(j);
		admission_refuse(r);
		return;
	}
	rt->pool.waiting = rt->waiting.waiting;
	request_timing_queued(j->r);
	pool_demand(&rt->pool);
	backlog_fill(rt);
}

/* A uwsgi worker takes one connection at a time from its socket. Sending
 * the next request while it still serves one puts that request in the
 * socket's backlog, so the worker starts on it the moment it is done instead
 * of waiting for the dispatcher's turn (the hand-off bubble). One deep: a
 * queue in the dispatcher still goes to whichever worker frees up first. */
static void backlog_fill(struct pool_rt *rt)
{
	if (rt->proto->keeps_connection)
		return;
	while (rt->waiting.head) {
		struct upstream_job *j = job_of_ticket(rt->waiting.head);
		struct worker *w = pool_take_busy(&rt->pool, j);
		if (!w)
			return;
		queue_pop(rt);
		if (!job_start_on(j, w, true)) {
			j->state = JOB_QUEUED;
			admission_push_front(&rt->waiting, &j->ticket, rt->cfg->queue_timeout,
			                     on_worker_wait_expired);
			rt->pool.waiting = rt->waiting.waiting;
			return;
		}
	}
}

/* The connection failed under a job: retry elsewhere when nothing was sent
 * or received, else 502. */
static void job_conn_failed(struct upstream_job *j, const char *why)
{
	struct pool_rt *rt = j->rt;
	struct worker *w = j->w;
	bool behind = job_behind(j), retry = job_may_retry(j);
	conn_close(&j->conn->conn);
	j->conn = NULL;
	j->w = NULL;
	if (w && behind)
		pool_drop_next(&rt->pool, w, false);
	else if (w)
		w->job = NULL;
	if (retry) {
		log_warn(j->r->id, "%s: %s before %s: trying another worker", j->who, why,
		         behind ? "it took the request" : "the request was sent");
		if (w && !behind)
			pool_kill(&rt->pool, w, why);
		rt->retries++;
		ev_timer_stop(gw->loop, &j->timer);
		job_try_assign(j);
		return;
	}
	if (j->r) {
		log_error(j->r->id, "%s: %s in mid-request: 502", j->who, why);
		rt->errors++;
		job_fail(j, 502, NULL);
	}
	if (w && !behind && w->state == WORKER_BUSY) {
		if (w->next_job)
			pool_kill(&rt->pool, w, why); /* the request behind goes elsewhere once it is gone */
		else
			pool_release(&rt->pool, w);
	}
	job_free(j);
}

/* ---- connection events (struct conn_ops) ------------------------------- */

static struct upstream_conn *upstream_of(struct conn *conn)
{
	return (struct upstream_conn *)conn;
}

static void on_input(struct conn *conn)
{
	struct upstream_conn *c = upstream_of(conn);
	struct upstream_job *j = c->job;
	if (!j) {
		conn_close(&c->conn); /* the worker said something unasked */
		return;
	}
	while (buf_len(&c->conn.in) > 0) {
		struct upstream_event ev = {.type = UPSTREAM_NONE};
		ssize_t used = j->rt->proto->decode(j, buf_head(&c->conn.in), buf_len(&c->conn.in), &ev);
		if (used < 0) {
			log_error(j->r ? j->r->id : NULL, "%s: malformed %s response", j->who,
			          j->rt->proto->name);
			j->rt->errors++;
			job_fail(j, 502, NULL);
			job_finish(j, false);
			return;
		}
		if (used == 0)
			break;
		/* Consumed first: the views stay valid, and a job that ends on this
		 * event leaves a clean connection to keep. */
		buf_consume(&c->conn.in, (size_t)used);
		if (ev.type == UPSTREAM_STATUS) {
			j->state = JOB_RECEIVING;
			cgi_output_set_status(&j->out, ev.status, ev.data, ev.len);
		} else if (ev.type == UPSTREAM_OUTPUT)
			upstream_output(j, ev.data, ev.len);
		else if (ev.type == UPSTREAM_STDERR)
			request_stderr_feed(j->r, j->r ? j->r->id : NULL, j->who, &j->errline, ev.data,
			                    ev.len);
		else if (ev.type == UPSTREAM_END)
			upstream_end(j, ev.app_status);
		if (c->conn.closed || c->job != j)
			return; /* closed, or the job ended and c is idle, kept for the next one */
	}
	/* Backpressure: a slow client pauses reading from the worker. */
	if (j->r && j->r->front->backlog(j->r) >= REQUEST_HIGH_WATER)
		conn_set_reading(&c->conn, false);
	/* A worker that ends its answer by closing has usually closed already
	 * when a short read comes: look for the end now rather than after
	 * another trip through epoll (which also re-arms the hung-up fd). */
	else if (c->conn.last_n < READ_CHUNK && j->rt->proto->response_ends_at_close)
		conn_read_soon(&c->conn);
}

static void on_eof(struct conn *conn, int err)
{
	struct upstream_conn *c = upstream_of(conn);
	struct upstream_job *j = c->job;
	if (!j) {
		conn_close(&c->conn); /* the worker closed its idle connection */
		return;
	}
	if (!err && j->rt->proto->response_ends_at_close && j->state == JOB_RECEIVING) {
		/* The worker closed: that is the end of its answer. Anything the
		 * decoder still holds (a partial status line) is passed on first. */
		if (buf_len(&c->conn.in) > 0 &&
		    !upstream_output(j, buf_head(&c->conn.in), buf_len(&c->conn.in)))
			return;
		upstream_end(j, 0);
		return;
	}
	job_conn_failed(j, err ? strerror(err) : "connection closed");
}

static void on_write_error(struct conn *conn, int err)
{
	struct upstream_conn *c = upstream_of(conn);
	if (c->job)
		job_conn_failed(c->job, strerror(err));
	else
		conn_close(&c->conn);
}

static void on_written(struct conn *conn)
{
	struct upstream_conn *c = upstream_of(conn);
	if (c->job && buf_len(&c->conn.out) == 0)
		job_pump_body(c->job);
}

/* The job times the request (queue_timeout, request_timeout), not the conn. */
static ev_tstamp on_deadline(struct conn *conn)
{
	return 0;
}

static void on_release(struct conn *conn)
{
	struct upstream_conn *c = upstream_of(conn);
	if (c->w && c->w->conn == c)
		c->w->conn = NULL;
	if (c->job && c->job->conn == c)
		c->job->conn = NULL;
}

static const struct conn_ops upstream_conn_ops = {
	.name = "upstream",
	.input = on_input,
	.eof = on_eof,
	.write_error = on_write_error,
	.written = on_written,
	.deadline = on_deadline,
	.release = on_release,
};

/* ---- pool hooks --------------------------------------------------------- */

void upstream_worker_stopping(struct pool *p, struct worker *w)
{
	struct upstream_conn *c = w->conn;
	if (c && !c->job)
		conn_close(&c->conn);
}

void upstream_worker_exited(struct pool *p, struct worker *w, int st)
{
	struct pool_rt *rt = p->owner;
	struct upstream_job *j = w->job;
	if (gw->stopping)
		ev_feed_event(gw->loop, &stop_check, EV_CUSTOM);
	if (w->conn) {
		struct upstream_conn *c = w->conn;
		c->w = NULL;
		c->job = NULL;
		conn_close(&c->conn);
	}
	struct upstream_job *next = w->next_job;
	if (next) {
		bool retry = job_may_retry(next);
		w->next_job = NULL;
		next->w = NULL;
		if (next->conn)
			conn_close(&next->conn->conn);
		if (retry) {
			log_warn(next->r->id, "%s is gone before it took this request: trying another worker",
			         next->who);
			rt->retries++;
			job_try_assign(next);
		} else {
			if (next->r) {
				log_error(next->r->id, "%s is gone with this request in its backlog: 502",
				          next->who);
				rt->errors++;
				job_fail(next, 502, NULL);
			}
			job_free(next);
		}
	}
	if (!j)
		return;
	w->job = NULL;
	j->w = NULL;
	j->conn = NULL;
	if (j->r) {
		if (WIFSIGNALED(st))
			log_error(j->r->id, "%s died of signal %d while serving this request: 502", j->who,
			          WTERMSIG(st));
		else
			log_error(j->r->id, "%s exited (status %d) while serving this request: 502", j->who,
			          WEXITSTATUS(st));
		rt->errors++;
		job_fail(j, 502, NULL);
	}
	job_free(j);
}

/* Idle workers meet waiting requests here, outside any other callback. */
void upstream_dispatch(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct pool_rt *rt = w->data;
	ev_prepare_stop(loop, w);
	struct upstream_job *j;
	while (rt->pool.count[WORKER_IDLE] > 0 && (j = queue_pop(rt)))
		job_try_assign(j);
	backlog_fill(rt);
}

struct request *upstream_job_request(struct upstream_job *j)
{
	return j->r;
}

bool upstream_job_keeps_connection(struct upstream_job *j)
{
	return j->rt->proto->keeps_connection && j->w && j->w->pid;
}

union upstream_proto_state *upstream_job_proto(struct upstream_job *j)
{
	return &j->proto;
}

void upstream_requeue(struct pool_rt *from, struct pool_rt *to)
{
	for (struct admission_ticket *t = from->waiting.head; t; t = t->next) {
		struct upstream_job *j = job_of_ticket(t);
		from->jobs--;
		to->jobs++;
		j->rt = to;
	}
	admission_move_all(&from->waiting, &to->waiting);
	from->pool.waiting = 0;
	to->pool.waiting = to->waiting.waiting;
	pool_demand(&to->pool);
	if (to->pool.count[WORKER_IDLE])
		ev_prepare_start(gw->loop, &to->dispatch);
}

const char *upstream_job_uri(const void *job)
{
	const struct upstream_job *j = job;
	return j && j->r ? cgi_env_get(&j->r->env, "REQUEST_URI") : NULL;
}

/* ---- the job API the pool handler uses ----------------------------------- */

void upstream_submit(struct pool_rt *rt, struct request *r)
{
	struct upstream_job *j = calloc(1, sizeof *j);
	if (!j) {
		request_error(r, 500, NULL);
		return;
	}
	j->r = r;
	j->rt = rt;
	rt->jobs++;
	ev_init(&j->timer, on_job_timer);
	j->timer.data = j;
	r->handler_ctx = j;
	job_try_assign(j);
}

void upstream_job_body(struct upstream_job *j)
{
	switch (j->state) {
	case JOB_QUEUED:
		break; /* the body waits in the request until a worker takes the job */
	case JOB_BEHIND:
	case JOB_SENDING:
	case JOB_RECEIVING:
		job_pump_body(j);
		break;
	}
}

void upstream_job_drained(struct upstream_job *j)
{
	if (j->conn)
		conn_set_reading(&j->conn->conn, true);
}

void upstream_job_abort(struct upstream_job *j)
{
	job_detach(j);
	switch (j->state) {
	case JOB_QUEUED:
		job_free(j);
		return;
	case JOB_BEHIND:
	case JOB_SENDING:
	case JOB_RECEIVING:
		break;
	}
	if (!j->conn || j->rt->proto->abort(j, &j->conn->conn.out) == UPSTREAM_ABORT_CLOSE) {
		job_finish(j, false);
		return;
	}
	conn_want_write(&j->conn->conn);
	conn_set_reading(&j->conn->conn, true);
}
