#include "gatewayd/fcgi_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd/log.h"
#include "gatewayd/request.h"
#include "gatewayd/server.h"
#include "gatewayd/spool.h"
#include "protocols/http1.h"
#include "protocols/fastcgi.h"

#define FCGI_MAX_REQS_PER_CONN 64
#define FCGI_PARAMS_MAX (64 * 1024)
#define FCGI_STDOUT_RECORD (32 * 1024)
/* STDIN a handler has no room for is parked (memory, then the spool file) up to
 * this much per request, so requests multiplexed behind it are still read;
 * past it the connection stops reading (backpressure). */
#define FCGI_PARK_MAX (16u << 20)

enum freq_phase {
	FREQ_PARAMS,  /* collecting FCGI_PARAMS */
	FREQ_STDIN,   /* the handler runs (or waits for a spooled body); STDIN flows */
	FREQ_ENDED,   /* END_REQUEST queued: freed once its output is written */
};

struct fcgi_conn;

struct fcgi_req {
	struct fcgi_conn *conn;
	uint16_t id;
	enum freq_phase phase;
	struct request *r;
	struct buf params;    /* the PARAMS stream joined: a pair may straddle records */
	bool started;         /* the handler has the request */
	bool spooling;        /* no CONTENT_LENGTH: STDIN collects until its end */
	bool stdin_done;
	bool handler_done;    /* the handler ended the request (or let go) */
	bool above_high;
	unsigned long long bytes_sent; /* response body bytes, for the access log */
	long long stdin_left; /* CONTENT_LENGTH bytes still expected */
	struct spool spool;
	struct spool overflow; /* STDIN the handler has no room for, while other
	                        * requests share the connection: they must not stall */
	struct buf out;       /* encoded records of this request, not yet written */
	struct fcgi_req *next;
};

struct fcgi_conn {
	int fd;
	ev_io rio;
	ev_io wio;
	ev_timer timer;
	bool send_stderr;           /* the listener's "stderr": a reload may free the listener */
	struct buf in;
	struct fcgi_req *reqs;
	size_t nreqs;
	struct fcgi_req mgmt;       /* management records (request id 0) */
	struct fcgi_req *writing;   /* a record is written whole before another starts */
	size_t writing_left;
	struct fcgi_req *rr;        /* round robin: the next request to write from */
	bool keep_conn;
	bool had_request;           /* without KEEP_CONN, close once requests are done */
	bool reading;
	bool closing;               /* close once the output is written */
	ev_tstamp last_read;
	ev_tstamp last_write;
	struct fcgi_conn *prev, *next;
};

static struct fcgi_conn *conns;

static void conn_close(struct fcgi_conn *c);
static void conn_want_write(struct fcgi_conn *c);
static void conn_kick(struct fcgi_conn *c);
static void conn_after_write(struct fcgi_conn *c);
static void conn_schedule_timer(struct fcgi_conn *c);

/* ---- output ------------------------------------------------------------ */

static void queue_stream(struct fcgi_req *fr, uint8_t type, const void *p, size_t n)
{
	size_t need = fcgi_stream_size(n);
	uint8_t *dst = (uint8_t *)buf_reserve(&fr->out, need);
	if (!dst)
		return;
	ssize_t w = fcgi_stream_encode(dst, need, type, fr->id, p, n);
	if (w > 0)
		buf_commit(&fr->out, (size_t)w);
	conn_want_write(fr->conn);
}

static void queue_end_request(struct fcgi_req *fr, uint32_t app_status, uint8_t protocol_status)
{
	uint8_t rec[16];
	fcgi_end_request_encode(rec, fr->id, app_status, protocol_status);
	buf_append(&fr->out, rec, sizeof rec);
	fr->phase = FREQ_ENDED;
	conn_want_write(fr->conn);
}

/* END_REQUEST for a request id that never got a request of ours. */
static void queue_refusal(struct fcgi_conn *c, uint16_t id, uint8_t protocol_status)
{
	uint8_t rec[16];
	fcgi_end_request_encode(rec, id, 0, protocol_status);
	buf_append(&c->mgmt.out, rec, sizeof rec);
	conn_want_write(c);
}

/* ---- requests ---------------------------------------------------------- */

static struct fcgi_req *req_find(struct fcgi_conn *c, uint16_t id)
{
	for (struct fcgi_req *fr = c->reqs; fr; fr = fr->next)
		if (fr->id == id)
			return fr;
	return NULL;
}

static void req_log_access(struct fcgi_req *fr)
{
	request_log_access(fr->r, fr->bytes_sent);
}

static void req_free(struct fcgi_req *fr)
{
	struct fcgi_conn *c = fr->conn;
	struct fcgi_req **pp = &c->reqs;
	while (*pp && *pp != fr)
		pp = &(*pp)->next;
	if (*pp)
		*pp = fr->next;
	if (c->writing == fr)
		c->writing = NULL;
	if (c->rr == fr)
		c->rr = fr->next;
	c->nreqs--;
	request_free(fr->r);
	buf_free(&fr->params);
	buf_free(&fr->out);
	spool_free(&fr->spool);
	spool_free(&fr->overflow);
	free(fr);
}

/* The handler lets go of the request (aborted by the web server or the connection). */
static void req_abort(struct fcgi_req *fr, const char *why)
{
	struct request *r = fr->r;
	if (fr->started && !fr->handler_done) {
		log_info(r->id, "%s; request aborted", why);
		if (!r->status)
			r->status = 499;
		if (r->handler)
			r->handler->abort(r);
		req_log_access(fr);
	}
	fr->handler_done = true;
	conn_kick(fr->conn);
}

static void conn_set_reading(struct fcgi_conn *c, bool on);

/* A request no longer takes body bytes: records queued behind its body must be
 * read again. Processing happens from the read callback, not inside the
 * handler's call that got us here. */
static void conn_kick(struct fcgi_conn *c)
{
	if (c->closing)
		return;
	conn_set_reading(c, true);
	ev_feed_event(gw->loop, &c->rio, EV_READ);
}

/* ---- front_ops: the handler's response as FCGI_STDOUT ----------------- */

static struct fcgi_req *freq_of(struct request *r)
{
	return r->front_ctx;
}

static void front_send_head(struct request *r, const struct response_head *h)
{
	struct fcgi_req *fr = freq_of(r);
	struct buf head = {0};
	request_put_gateway_head(r, h, "Status: ", &head);
	queue_stream(fr, FCGI_STDOUT, buf_head(&head), buf_len(&head));
	buf_free(&head);
}

static void front_send_body(struct request *r, const char *p, size_t n)
{
	struct fcgi_req *fr = freq_of(r);
	fr->bytes_sent += n;
	while (n > 0) {
		size_t piece = n < FCGI_STDOUT_RECORD ? n : FCGI_STDOUT_RECORD;
		queue_stream(fr, FCGI_STDOUT, p, piece);
		p += piece;
		n -= piece;
	}
	if (buf_len(&fr->out) >= REQUEST_HIGH_WATER)
		fr->above_high = true;
}

static void front_send_raw(struct request *r, const char *p, size_t n)
{
	r->head_sent = true;
	front_send_body(r, p, n);
}

static void front_send_stderr(struct request *r, const char *p, size_t n)
{
	struct fcgi_req *fr = freq_of(r);
	if (fr->conn->send_stderr)
		queue_stream(fr, FCGI_STDERR, p, n);
}

static void front_send_end(struct request *r, bool complete)
{
	struct fcgi_req *fr = freq_of(r);
	fr->handler_done = true;
	req_log_access(fr);
	conn_kick(fr->conn);
	if (!complete) {
		/* FastCGI has no way to say "cut short" but to drop the connection
		 * before END_REQUEST: the web server then fails the response. */
		log_warn(r->id, "response cut short: closing the FastCGI connection");
		fr->conn->closing = true;
		fr->phase = FREQ_ENDED;
		conn_want_write(fr->conn);
		return;
	}
	queue_stream(fr, FCGI_STDOUT, NULL, 0);
	queue_end_request(fr, (uint32_t)r->app_status, FCGI_REQUEST_COMPLETE);
}

static size_t front_backlog(struct request *r)
{
	return buf_len(&freq_of(r)->out);
}

static void conn_set_reading(struct fcgi_conn *c, bool on)
{
	if (on == c->reading || c->closing)
		return;
	c->reading = on;
	if (on)
		ev_io_start(gw->loop, &c->rio);
	else
		ev_io_stop(gw->loop, &c->rio);
}

static void conn_process_input(struct fcgi_conn *c);

/* Move overflowed STDIN back into the request's body as the handler takes it. */
static void refill_from_overflow(struct fcgi_req *fr)
{
	struct request *r = fr->r;
	while (spool_pending(&fr->overflow) > 0 && buf_len(&r->body) < REQUEST_HIGH_WATER) {
		char *dst = buf_reserve(&r->body, 65536);
		if (!dst)
			return;
		size_t n = spool_read(&fr->overflow, dst, 65536);
		if (n == 0)
			break;
		buf_commit(&r->body, n);
	}
	if (fr->stdin_done && spool_pending(&fr->overflow) == 0)
		r->body_complete = true;
}

static void front_body_more(struct request *r)
{
	struct fcgi_req *fr = freq_of(r);
	struct fcgi_conn *c = fr->conn;
	refill_from_overflow(fr);
	if (!c->reading && buf_len(&r->body) < REQUEST_LOW_WATER)
		conn_kick(c);
}

static const struct front_ops fcgi_front = {
	.send_head = front_send_head,
	.send_body = front_send_body,
	.send_raw = front_send_raw,
	.send_stderr = front_send_stderr,
	.send_end = front_send_end,
	.backlog = front_backlog,
	.body_more = front_body_more,
};

/* ---- from params to a running request -------------------------------- */

/* Answer a request that never reached a handler. */
static void req_fail(struct fcgi_req *fr, int status, const char *why)
{
	log_warn(fr->r->id, "%d: %s", status, why);
	fr->started = true;
	request_error(fr->r, status, NULL);
}

/* Returns 0, or the status to answer (400 for a malformed pair). */
static int params_to_env(struct fcgi_req *fr)
{
	const uint8_t *p = (const uint8_t *)buf_head(&fr->params);
	size_t left = buf_len(&fr->params);
	while (left > 0) {
		const uint8_t *name, *value;
		size_t nlen, vlen;
		ssize_t n = fcgi_nv_decode(p, left, FCGI_PARAMS_MAX, &name, &nlen, &value, &vlen);
		if (n <= 0) {
			log_warn(fr->r->id, "malformed FastCGI name-value pair: 400");
			return 400;
		}
		int st = request_add_server_var(fr->r, name, nlen, value, vlen);
		if (st)
			return st;
		p += n;
		left -= (size_t)n;
	}
	buf_free(&fr->params);
	return 0;
}

static void req_start_handler(struct fcgi_req *fr)
{
	fr->started = true;
	request_start(fr->r);
}

/* The PARAMS stream ended: the request is complete but for its body. */
static void req_params_done(struct fcgi_req *fr)
{
	struct request *r = fr->r;
	fr->phase = FREQ_STDIN;
	int st = params_to_env(fr);
	if (st) {
		fr->started = true;
		request_error(r, st, NULL);
		return;
	}
	long long cl;
	const char *why;
	int status = request_from_cgi_vars(r, &cl, &why);
	if (status) {
		req_fail(fr, status, why);
		return;
	}
	if (cl >= 0) {
		fr->stdin_left = cl;
		req_start_handler(fr);
		return;
	}
	/* No CONTENT_LENGTH (Apache streams chunked uploads so): spool the whole
	 * STDIN, then start with CONTENT_LENGTH set. */
	fr->spooling = true;
}

static void req_stdin(struct fcgi_req *fr, const uint8_t *p, size_t n)
{
	struct request *r = fr->r;
	if (fr->stdin_done) {
		log_warn(r->id, "FCGI_STDIN after its end: ignored");
		return;
	}
	if (n == 0) {
		fr->stdin_done = true;
		if (fr->spooling && !fr->started) {
			if (fr->spool.size > 0)
				spool_hand_to(&fr->spool, r);
			else
				r->body_complete = true;
			req_start_handler(fr);
		} else if (fr->started && !fr->handler_done && !r->body_complete) {
			if (fr->stdin_left > 0)
				log_warn(r->id, "STDIN ended %lld bytes short of CONTENT_LENGTH",
				         fr->stdin_left);
			r->body_complete = spool_pending(&fr->overflow) == 0;
			r->handler->body(r);
		}
		return;
	}
	if (fr->spooling && !fr->started) {
		if (fr->spool.size + n > r->route->max_body) {
			req_fail(fr, 413, "FastCGI body over the route's max_body");
			return;
		}
		if (spool_write(&fr->spool, (const char *)p, n, r->id) < 0)
			req_fail(fr, 500, "cannot spool the body");
		return;
	}
	if (!fr->started || fr->handler_done || r->body_complete)
		return; /* nobody wants it */
	if ((long long)n > fr->stdin_left) {
		log_warn(r->id, "STDIN longer than CONTENT_LENGTH: the excess is dropped");
		n = (size_t)fr->stdin_left;
	}
	fr->stdin_left -= (long long)n;
	if (spool_pending(&fr->overflow) > 0 || buf_len(&r->body) >= REQUEST_HIGH_WATER) {
		/* Park it: requests behind this one on the connection must not wait. */
		if (spool_write(&fr->overflow, (const char *)p, n, r->id) < 0)
			req_abort(fr, "cannot park the request body");
		return;
	}
	buf_append(&r->body, p, n);
	if (fr->stdin_left == 0)
		r->body_complete = true;
	r->handler->body(r);
}

/* ---- records ----------------------------------------------------------- */

static void on_begin_request(struct fcgi_conn *c, const struct fcgi_record *rec)
{
	struct fcgi_begin_request b;
	if (rec->request_id == 0 || fcgi_begin_request_decode(rec, &b) < 0) {
		log_warn(NULL, "FastCGI: malformed BEGIN_REQUEST (id %u): ignored", rec->request_id);
		return;
	}
	if (req_find(c, rec->request_id)) {
		log_warn(NULL, "FastCGI: BEGIN_REQUEST for request id %u, which is busy: ignored",
		         rec->request_id);
		return;
	}
	c->keep_conn = b.flags & FCGI_KEEP_CONN;
	c->had_request = true;
	if (b.role != FCGI_RESPONDER) {
		log_info(NULL, "FastCGI: role %u for request id %u: only the responder role is served",
		         b.role, rec->request_id);
		queue_refusal(c, rec->request_id, FCGI_UNKNOWN_ROLE);
		return;
	}
	if (c->nreqs >= FCGI_MAX_REQS_PER_CONN || gw->stopping) {
		queue_refusal(c, rec->request_id, FCGI_OVERLOADED);
		return;
	}
	struct fcgi_req *fr = calloc(1, sizeof *fr);
	if (!fr || !(fr->r = request_new(&fcgi_front, fr))) {
		free(fr);
		queue_refusal(c, rec->request_id, FCGI_OVERLOADED);
		return;
	}
	fr->conn = c;
	fr->id = rec->request_id;
	fr->phase = FREQ_PARAMS;
	spool_init(&fr->spool);
	spool_init(&fr->overflow);
	fr->next = c->reqs;
	c->reqs = fr;
	c->nreqs++;
}

static void on_params(struct fcgi_conn *c, struct fcgi_req *fr, const struct fcgi_record *rec)
{
	if (fr->phase != FREQ_PARAMS) {
		log_warn(fr->r->id, "FastCGI: PARAMS after the params stream ended: ignored");
		return;
	}
	if (rec->content_length == 0) {
		req_params_done(fr);
		return;
	}
	if (buf_len(&fr->params) + rec->content_length > FCGI_PARAMS_MAX) {
		buf_free(&fr->params);
		fr->phase = FREQ_STDIN;
		req_fail(fr, 431, "FastCGI params over 64 KiB");
		return;
	}
	buf_append(&fr->params, rec->content, rec->content_length);
}

static void on_get_values(struct fcgi_conn *c, const struct fcgi_record *rec)
{
	uint8_t reply[512] = {0};
	size_t n = 0;
	const uint8_t *p = rec->content;
	size_t left = rec->content_length;
	while (left > 0) {
		const uint8_t *name, *value;
		size_t nlen, vlen;
		ssize_t used = fcgi_nv_decode(p, left, 1024, &name, &nlen, &value, &vlen);
		if (used <= 0)
			break;
		char val[32] = "";
		if (nlen == 14 && memcmp(name, FCGI_MAX_CONNS, 14) == 0)
			snprintf(val, sizeof val, "%zu", gw->max_conns);
		else if (nlen == 13 && memcmp(name, FCGI_MAX_REQS, 13) == 0)
			snprintf(val, sizeof val, "%zu", gw->max_conns * FCGI_MAX_REQS_PER_CONN);
		else if (nlen == 15 && memcmp(name, FCGI_MPXS_CONNS, 15) == 0)
			snprintf(val, sizeof val, "1");
		if (val[0]) {
			ssize_t w = fcgi_nv_encode(reply + n, sizeof reply - n, name, nlen, val, strlen(val));
			if (w > 0)
				n += (size_t)w;
		}
		p += used;
		left -= (size_t)used;
	}
	/* One record (possibly empty) holds the whole answer. */
	queue_stream(&c->mgmt, FCGI_GET_VALUES_RESULT, reply, n);
}

/* Returns false when the connection was closed. */
static bool on_record(struct fcgi_conn *c, const struct fcgi_record *rec)
{
	if (rec->request_id == 0) {
		if (rec->type == FCGI_GET_VALUES) {
			on_get_values(c, rec);
		} else {
			uint8_t out[16];
			fcgi_unknown_type_encode(out, rec->type);
			buf_append(&c->mgmt.out, out, sizeof out);
			conn_want_write(c);
		}
		return true;
	}
	if (rec->type == FCGI_BEGIN_REQUEST) {
		on_begin_request(c, rec);
		return true;
	}
	struct fcgi_req *fr = req_find(c, rec->request_id);
	if (!fr || fr->phase == FREQ_ENDED)
		return true; /* records for an inactive id are ignored (spec §3.3) */
	switch (rec->type) {
	case FCGI_PARAMS:
		on_params(c, fr, rec);
		break;
	case FCGI_STDIN:
		if (fr->phase == FREQ_PARAMS) {
			log_warn(fr->r->id, "FastCGI: STDIN before the params ended: ignored");
			break;
		}
		req_stdin(fr, rec->content, rec->content_length);
		break;
	case FCGI_ABORT_REQUEST:
		req_abort(fr, "the web server sent FCGI_ABORT_REQUEST");
		if (fr->phase != FREQ_ENDED)
			queue_end_request(fr, 0, FCGI_REQUEST_COMPLETE);
		break;
	case FCGI_DATA:
		break; /* the filter role's stream: not served */
	default:
		log_warn(fr->r->id, "FastCGI: record type %u for a request: ignored", rec->type);
	}
	return true;
}

static void conn_process_input(struct fcgi_conn *c)
{
	for (;;) {
		struct fcgi_record rec;
		ssize_t n = fcgi_record_decode((const uint8_t *)buf_head(&c->in), buf_len(&c->in), &rec);
		if (n == FCGI_INCOMPLETE)
			return;
		if (n < 0) {
			if (http1_looks_like_request((const uint8_t *)buf_head(&c->in), buf_len(&c->in)))
				log_warn(NULL, "FastCGI port received HTTP (\"%.*s\"): point HTTP clients "
				         "at an http listener; closing",
				         (int)log_line_len(buf_head(&c->in), buf_len(&c->in), 60),
				         buf_head(&c->in));
			else
				log_warn(NULL, "FastCGI: record with version %u, not 1: closing the connection",
				         rec.version);
			conn_close(c);
			return;
		}
		struct fcgi_req *busy = NULL;
		for (struct fcgi_req *fr = c->reqs; fr; fr = fr->next)
			if (fr->id == rec.request_id)
				busy = fr;
		/* Backpressure: a request whose body the handler has not taken yet
		 * holds the rest of the input until body_more(). */
		if (busy && rec.type == FCGI_STDIN && busy->started && !busy->handler_done &&
		    buf_len(&busy->r->body) >= REQUEST_HIGH_WATER &&
		    spool_pending(&busy->overflow) >= FCGI_PARK_MAX) {
			conn_set_reading(c, false);
			return;
		}
		on_record(c, &rec);
		buf_consume(&c->in, (size_t)n);
	}
}

/* ---- socket events ----------------------------------------------------- */

static void conn_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fcgi_conn *c = w->data;
	char *dst = buf_reserve(&c->in, 65536 + 16);
	if (!dst) {
		conn_close(c);
		return;
	}
	ssize_t n = read(c->fd, dst, 65536 + 16);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		if (buf_len(&c->in) > 0)
			conn_process_input(c); /* a kick: records already buffered */
		return;
	}
	if (n <= 0) {
		/* The web server hung up (or only shut its side, as cgi-fcgi does):
		 * requests still running are over; answers already queued go out. */
		ev_io_stop(loop, &c->rio);
		c->reading = false;
		c->closing = true;
		for (struct fcgi_req *fr = c->reqs; fr; fr = fr->next)
			req_abort(fr, "the web server closed the FastCGI connection");
		conn_after_write(c);
		return;
	}
	buf_commit(&c->in, (size_t)n);
	c->last_read = ev_now(loop);
	conn_process_input(c);
}

/* A request's queue holds whole records only: one turn writes all of it, and
 * the next request's records start only after the last byte of this turn, so
 * records of different requests never interleave. */

static struct fcgi_req *pick_writer(struct fcgi_conn *c)
{
	if (buf_len(&c->mgmt.out) > 0)
		return &c->mgmt;
	struct fcgi_req *start = c->rr ? c->rr : c->reqs;
	struct fcgi_req *fr = start;
	if (!fr)
		return NULL;
	do {
		if (buf_len(&fr->out) > 0) {
			c->rr = fr->next ? fr->next : c->reqs;
			return fr;
		}
		fr = fr->next ? fr->next : c->reqs;
	} while (fr != start);
	return NULL;
}

/* After writing: wake producers, free finished requests, close when done. */
static void conn_after_write(struct fcgi_conn *c)
{
	struct fcgi_req *fr = c->reqs, *next;
	for (; fr; fr = next) {
		next = fr->next;
		if (fr->phase == FREQ_ENDED && buf_len(&fr->out) == 0 && c->writing != fr) {
			req_free(fr);
			continue;
		}
		if (fr->above_high && buf_len(&fr->out) < REQUEST_LOW_WATER) {
			fr->above_high = false;
			if (!fr->handler_done && fr->r->handler && fr->r->handler->drained)
				fr->r->handler->drained(fr->r);
		}
	}
	bool idle = !c->reqs && buf_len(&c->mgmt.out) == 0;
	bool done = c->closing || (c->had_request && !c->keep_conn) || gw->stopping;
	if (idle && done && !c->writing) {
		conn_close(c);
		return;
	}
	if (c->closing && !c->writing) {
		bool pending = buf_len(&c->mgmt.out) > 0;
		for (fr = c->reqs; fr && !pending; fr = fr->next)
			pending = buf_len(&fr->out) > 0;
		if (!pending) {
			for (fr = c->reqs; fr; fr = fr->next)
				req_abort(fr, "FastCGI connection closing");
			conn_close(c);
			return;
		}
	}
	conn_schedule_timer(c);
}

static void conn_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fcgi_conn *c = w->data;
	for (;;) {
		if (!c->writing) {
			c->writing = pick_writer(c);
			if (!c->writing)
				break;
			c->writing_left = buf_len(&c->writing->out);
		}
		struct buf *out = &c->writing->out;
		ssize_t n = write(c->fd, buf_head(out), c->writing_left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!ev_is_active(&c->wio))
				ev_io_start(loop, &c->wio);
			break;
		}
		if (n < 0) {
			for (struct fcgi_req *fr = c->reqs; fr; fr = fr->next)
				req_abort(fr, "writing to the web server failed");
			conn_close(c);
			return;
		}
		buf_consume(out, (size_t)n);
		c->writing_left -= (size_t)n;
		c->last_write = ev_now(loop);
		if (c->writing_left == 0)
			c->writing = NULL;
	}
	if (!c->writing && !pick_writer(c))
		ev_io_stop(loop, &c->wio);
	conn_after_write(c);
}

/* Write optimistically (see http_conn.c): arm the watcher only when full. */
static void conn_want_write(struct fcgi_conn *c)
{
	if (!ev_is_active(&c->wio))
		ev_feed_event(gw->loop, &c->wio, EV_WRITE);
}

/* ---- timeouts ---------------------------------------------------------- */

static ev_tstamp conn_deadline(struct fcgi_conn *c)
{
	struct config *cfg = gw->cfg;
	if (ev_is_active(&c->wio))
		return (c->last_write > c->last_read ? c->last_write : c->last_read) + cfg->timeouts.send;
	bool waiting_input = false;
	for (struct fcgi_req *fr = c->reqs; fr; fr = fr->next)
		waiting_input |= fr->phase == FREQ_PARAMS || (fr->phase == FREQ_STDIN && !fr->stdin_done &&
		                                              c->reading);
	if (waiting_input)
		return c->last_read + cfg->timeouts.body;
	if (!c->reqs)
		return c->last_read + cfg->timeouts.keepalive;
	return 0;
}

static void conn_schedule_timer(struct fcgi_conn *c)
{
	ev_tstamp d = conn_deadline(c);
	ev_timer_stop(gw->loop, &c->timer);
	if (d == 0)
		return;
	ev_tstamp after = d - ev_now(gw->loop);
	ev_timer_set(&c->timer, after > 0.001 ? after : 0.001, 0);
	ev_timer_start(gw->loop, &c->timer);
}

static void conn_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fcgi_conn *c = w->data;
	ev_tstamp d = conn_deadline(c);
	if (d == 0)
		return;
	if (d > ev_now(loop)) {
		conn_schedule_timer(c);
		return;
	}
	for (struct fcgi_req *fr = c->reqs; fr; fr = fr->next)
		req_abort(fr, "FastCGI connection timed out");
	conn_close(c);
}

/* ---- connection life --------------------------------------------------- */

void fcgi_conn_start(int fd, const struct listen_cfg *lc)
{
	struct fcgi_conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	int one = 1;
	if (!lc->unix_path)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	c->send_stderr = lc->fcgi_stderr;
	c->mgmt.conn = c;
	c->last_read = ev_now(gw->loop);
	ev_io_init(&c->rio, conn_on_read, fd, EV_READ);
	ev_io_init(&c->wio, conn_on_write, fd, EV_WRITE);
	ev_init(&c->timer, conn_on_timer);
	c->rio.data = c->wio.data = c->timer.data = c;
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	gw->nconns++;
	conn_set_reading(c, true);
	conn_schedule_timer(c);
}

static void conn_close(struct fcgi_conn *c)
{
	/* Aborting requests may kick the connection (feed a read event): with
	 * closing set it does not, and stopping the watchers after the aborts
	 * clears anything still pending for memory about to be freed. */
	c->closing = true;
	while (c->reqs) {
		req_abort(c->reqs, "FastCGI connection closed");
		req_free(c->reqs);
	}
	ev_io_stop(gw->loop, &c->rio);
	ev_io_stop(gw->loop, &c->wio);
	ev_timer_stop(gw->loop, &c->timer);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->mgmt.out);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	gw->nconns--;
	server_conn_closed();
	server_check_stopped();
}

void fcgi_conn_shutdown_all(void)
{
	struct fcgi_conn *c = conns, *next;
	for (; c; c = next) {
		next = c->next;
		c->keep_conn = false;
		if (!c->reqs && buf_len(&c->mgmt.out) == 0)
			conn_close(c);
	}
}

void fcgi_conn_abort_all(void)
{
	struct fcgi_conn *c = conns, *next;
	for (; c; c = next) {
		next = c->next;
		conn_close(c);
	}
}
