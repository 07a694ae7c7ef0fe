/* A job's bytes on its connection to a peer: the request's head and body
 * out, the answer in and on to the client, with backpressure both ways. The
 * connection's events (struct conn_ops) come here; what they mean for the
 * job (finished, failed, retried) is engine.c's. */
#include "gatewayd/upstream/exchange.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/request/request.h"
#include "gatewayd/upstream/engine.h"
#include "gatewayd/upstream/peer.h"
#include "gatewayd/upstream/pools.h"

#define READ_CHUNK (64 * 1024)

static const struct conn_ops upstream_conn_ops;

struct upstream_conn *exchange_open(struct peer *pe, bool primary)
{
	bool connected;
	int fd = peer_connect(pe->address, &connected);
	if (fd < 0) {
		log_warn(NULL, "%s: connect %s: %s", pe->who, pe->address, strerror(-fd));
		return NULL;
	}
	struct upstream_conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return NULL;
	}
	conn_init(&c->conn, fd, &upstream_conn_ops, false);
	ev_set_priority(&c->conn.rio, UPSTREAM_PRIORITY);
	ev_set_priority(&c->conn.wio, UPSTREAM_PRIORITY);
	c->conn.read_chunk = READ_CHUNK;
	c->conn.connecting = !connected;
	c->pe = pe;
	if (primary)
		pe->conn = c;
	conn_want_write(&c->conn);
	return c;
}

/* The rest of j's answer is not wanted (its request let go). With a job
 * behind it on the connection, j goes on to its end, the answer dropped, as
 * when its client leaves: closing the connection would cost the one behind.
 * Else it ends now. false: it ended. */
static bool job_let_go(struct upstream_job *j)
{
	if (j->conn && j->conn->behind && job_tell_let_go(j))
		return true;
	job_finish(j, false);
	return false;
}

/* Answer bytes (CGI-style output) on to the client. false: the job ended. */
static bool upstream_output(struct upstream_job *j, const char *p, size_t n)
{
	struct request *r = j->r;
	char *location = NULL;
	j->state = JOB_RECEIVING;
	if (!r)
		return true; /* the client left: the peer finishes, its answer is dropped */
	switch (cgi_output_feed(&j->out, r, p, n, &location)) {
	case CGI_OUT_MORE:
		return true;
	case CGI_OUT_REDIRECT: {
		job_detach(j);
		bool on = job_let_go(j);
		request_follow_redirect(r, location);
		return on;
	}
	case CGI_OUT_BAD:
		break;
	}
	j->rt->errors++;
	job_fail(j, 502, NULL);
	return job_let_go(j);
}

/* The answer is complete: the response ends, the job is over. */
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

/* A body of a known length up to BODY_KEPT_MAX (whole in r->body once it
 * has all come) is sent without being consumed until the peer's first byte
 * back, and a spooled one can be read again from its file: a peer that
 * fails before it answers leaves either to another (engine.c's
 * job_may_retry). A longer body streams from its client and cannot be sent
 * again: kept, it would sit in memory twice (r->body and the connection's
 * buffer) for as long as the peer takes to answer. */
#define BODY_KEPT_MAX (64 * 1024)

static bool length_kept(const struct request *r)
{
	return r->spool_fd < 0 && r->content_length >= 0 && r->content_length <= BODY_KEPT_MAX;
}

static bool body_keeps(const struct upstream_job *j, const struct request *r)
{
	return !j->body_taken && length_kept(r);
}

bool exchange_body_whole_again(const struct request *r)
{
	return r->body_complete && (length_kept(r) || (r->spool_fd < 0 && buf_len(&r->body) == 0));
}

static void body_let_go(struct upstream_job *j)
{
	if (j->r && j->body_sent > 0) {
		size_t n = j->body_sent;
		j->body_sent = 0;
		j->body_taken = true;
		request_body_taken(j->r, n);
	}
}

bool exchange_pump(struct upstream_job *j)
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
	bool keep = body_keeps(j, r);
	while (buf_len(&r->body) > j->body_sent && buf_len(&c->conn.out) < REQUEST_HIGH_WATER) {
		size_t n = buf_len(&r->body) - j->body_sent;
		if (n > 32768)
			n = 32768;
		j->rt->proto->encode_body(j, &c->conn.out, buf_head(&r->body) + j->body_sent, n);
		if (keep) {
			j->body_sent += n;
			continue;
		}
		if (r->spool_fd >= 0)
			j->body_rewind = true;
		else
			j->body_taken = true;
		request_body_taken(r, n);
	}
	if (!j->body_ended && r->body_complete && buf_len(&r->body) == j->body_sent) {
		j->rt->proto->encode_body(j, &c->conn.out, NULL, 0);
		j->body_ended = true;
	}
	if (buf_len(&c->conn.out) > 0)
		conn_want_write(&c->conn);
	return true;
}

/* ---- connection events (struct conn_ops) ------------------------------- */

static struct upstream_conn *upstream_of(struct conn *conn)
{
	return (struct upstream_conn *)conn;
}

/* What a job hears: no retry now, what it kept is done. */
static void job_heard(struct upstream_job *j)
{
	if (!j->heard) {
		j->heard = true;
		body_let_go(j);
	}
}

/* The job an event is for: c's job, or the one behind it (by request id);
 * NULL for a stray (a job behind that already left). */
static struct upstream_job *event_job(struct upstream_conn *c, const struct upstream_event *ev)
{
	struct upstream_job *j = c->job;
	if (ev->request_id && ev->request_id != j->request_id)
		j = c->behind && ev->request_id == c->behind->request_id ? c->behind : NULL;
	if (j && ev->type != UPSTREAM_REFUSED)
		job_heard(j); /* a refusal: it never ran, its body may go elsewhere */
	return j;
}

/* Is j's client slow: its answer piling up unsent? */
static bool client_slow(const struct upstream_job *j)
{
	return j && j->r && j->r->front->backlog(j->r) >= REQUEST_HIGH_WATER;
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
		struct upstream_event ev = { .type = UPSTREAM_NONE };
		j = c->job; /* the one behind, once the one before it ended */
		if (!j) {
			conn_close(&c->conn); /* the worker said something unasked */
			return;
		}
		ssize_t used =
		        j->rt->proto->decode(j, buf_head(&c->conn.in), buf_len(&c->conn.in), &ev);
		if (used < 0) {
			log_error(j->r ? j->r->id : NULL, "%s: malformed %s response", j->who,
			          j->rt->proto->name);
			j->rt->errors++;
			job_fail(j, 502, NULL);
			job_finish(j, false);
			return;
		}
		if (used == 0) {
			job_heard(j); /* part of a unit: the peer is at it */
			break;
		}
		/* Consumed first: the views stay valid, and a job that ends on this
		 * event leaves a clean connection to keep. */
		buf_consume(&c->conn.in, (size_t)used);
		if (ev.type == UPSTREAM_MULTIPLEXES) {
			if (c->pe)
				peer_multiplexes(j->rt, c->pe, ev.status);
			continue;
		}
		if (ev.type == UPSTREAM_NONE || !(j = event_job(c, &ev)))
			continue;
		switch (ev.type) {
		case UPSTREAM_NONE:
		case UPSTREAM_MULTIPLEXES:
			break;
		case UPSTREAM_STATUS:
			j->state = JOB_RECEIVING;
			cgi_output_set_status(&j->out, ev.status, ev.data, ev.len);
			break;
		case UPSTREAM_OUTPUT:
			upstream_output(j, ev.data, ev.len);
			break;
		case UPSTREAM_STDERR:
			request_stderr_feed(j->r, j->r ? j->r->id : NULL, j->who, &j->errline,
			                    ev.data, ev.len);
			break;
		case UPSTREAM_END:
			upstream_end(j, ev.app_status);
			break;
		case UPSTREAM_REFUSED:
			if (c->behind == j)
				job_refused_behind(j, ev.status);
			else
				upstream_end(j, ev.app_status); /* no head: 502 */
			break;
		}
		if (c->conn.closed || !c->job)
			return; /* closed, or the job ended and c is idle, kept for the next one */
	}
	/* Backpressure: a slow client pauses reading from the worker (the
	 * client of the job behind too, whose answer may come first). */
	j = c->job;
	if (client_slow(j) || client_slow(c->behind))
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
	job_conn_failed(j, err);
}

static void on_write_error(struct conn *conn, int err)
{
	struct upstream_conn *c = upstream_of(conn);
	struct upstream_job *j = c->job;
	if (j && err == ENOMEM) {
		/* Our memory, not the worker's fault: no retry, no worker killed. */
		log_error(j->r ? j->r->id : NULL, "out of memory building the request for %s: 500",
		          j->who);
		job_fail(j, 500, NULL);
		job_finish(j, false);
	} else if (j) {
		job_conn_failed(j, err);
	} else {
		conn_close(&c->conn);
	}
}

static void on_written(struct conn *conn)
{
	struct upstream_conn *c = upstream_of(conn);
	if (!c->job || buf_len(&c->conn.out) > 0)
		return;
	/* the body behind may have stopped at the high-water mark too */
	if (exchange_pump(c->job) && !c->conn.closed && c->behind)
		exchange_pump(c->behind);
}

/* The job times the request (queue_timeout, request_timeout), not the conn. */
static ev_tstamp on_deadline(struct conn *conn)
{
	return 0;
}

static void on_release(struct conn *conn)
{
	struct upstream_conn *c = upstream_of(conn);
	if (c->pe && c->pe->conn == c)
		c->pe->conn = NULL;
	if (c->job && c->job->conn == c)
		c->job->conn = NULL;
	if (c->behind && c->behind->conn == c)
		c->behind->conn = NULL;
}

/* clang-format off */
static const struct conn_ops upstream_conn_ops = {
	.name = "upstream", .input = on_input, .eof = on_eof, .write_error = on_write_error,
	.written = on_written, .deadline = on_deadline, .release = on_release
};
/* clang-format on */
