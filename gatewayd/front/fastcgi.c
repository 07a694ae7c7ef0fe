#include "gatewayd/front/fastcgi.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd/core/conn.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/core/spool.h"
#include "gatewayd/request/request.h"
#include "gatewayd/request/response_head.h"
#include "protocols/fastcgi.h"
#include "protocols/http1.h"

#define FCGI_MAX_REQS_PER_CONN 64
#define FCGI_PARAMS_MAX (64 * 1024)
#define FCGI_STDOUT_RECORD (32 * 1024)
/* STDIN a handler has no room for is parked (memory, then the spool file) up to
 * this much per request, so requests multiplexed behind it are still read;
 * past it the connection stops reading (backpressure). */
#define FCGI_PARK_MAX (16u << 20)

enum freq_phase {
	FREQ_PARAMS, /* collecting FCGI_PARAMS */
	FREQ_STDIN, /* the handler runs (or waits for a spooled body); STDIN flows */
	FREQ_ENDED, /* END_REQUEST queued: freed once its output is written */
};

struct fcgi_conn;

struct fcgi_req {
	struct fcgi_conn *conn;
	uint16_t id;
	enum freq_phase phase;
	struct request *r;
	struct buf params; /* the PARAMS stream joined: a pair may straddle records */
	bool started; /* the handler has the request */
	bool spooling; /* no CONTENT_LENGTH: STDIN collects until its end */
	bool stdin_done;
	bool handler_done; /* the handler ended the request (or let go) */
	bool above_high;
	unsigned long long bytes_sent; /* response body bytes, for the access log */
	long long stdin_left; /* CONTENT_LENGTH bytes still expected */
	struct spool spool;
	struct spool overflow; /* STDIN the handler has no room for, while other
	                        * requests share the connection: they must not stall */
	struct buf out; /* encoded records of this request, not yet written */
	struct fcgi_req *next;
};

/* Each request queues whole records in its own out buffer; the connection
 * takes one request's queue at a time into conn.out (a swap, no copy) once
 * conn.out is empty, so records of different requests never interleave and
 * requests take turns (round robin). */
struct fcgi_conn {
	struct conn conn; /* first: the allocation */
	bool send_stderr; /* the listener's "stderr": a reload may free the listener */
	struct fcgi_req *reqs;
	size_t nreqs;
	struct fcgi_req mgmt; /* management records (request id 0) */
	struct fcgi_req *on_wire; /* whose records conn.out holds, or NULL */
	struct fcgi_req *rr; /* round robin: the next request to write from */
	bool keep_conn;
	bool had_request; /* without KEEP_CONN, close once requests are done */
	bool closing; /* close once the output is written */
};

static void fcgi_kick(struct fcgi_conn *c);
static void conn_after_write(struct fcgi_conn *c);

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
	conn_want_write(&fr->conn->conn);
}

static void queue_end_request(struct fcgi_req *fr, uint32_t app_status, uint8_t protocol_status)
{
	uint8_t rec[16];
	fcgi_end_request_encode(rec, fr->id, app_status, protocol_status);
	buf_append(&fr->out, rec, sizeof rec);
	fr->phase = FREQ_ENDED;
	conn_want_write(&fr->conn->conn);
}

/* END_REQUEST for a request id that never got a request of ours. */
static void queue_refusal(struct fcgi_conn *c, uint16_t id, uint8_t protocol_status)
{
	uint8_t rec[16];
	fcgi_end_request_encode(rec, id, 0, protocol_status);
	buf_append(&c->mgmt.out, rec, sizeof rec);
	conn_want_write(&c->conn);
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
	if (c->on_wire == fr)
		c->on_wire = NULL;
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
	fcgi_kick(fr->conn);
}

/* A request no longer takes body bytes: records queued behind its body must be
 * read again. Processing happens from the read callback, not inside the
 * handler's call that got us here. */
static void fcgi_kick(struct fcgi_conn *c)
{
	if (c->closing)
		return;
	conn_set_reading(&c->conn, true);
	conn_kick(&c->conn);
}

/* ---- front_ops: the handler's response as FCGI_STDOUT ----------------- */

/* What the request has queued: its own records and those on the wire. */
static size_t req_backlog(const struct fcgi_req *fr)
{
	size_t n = buf_len(&fr->out);
	if (fr->conn->on_wire == fr)
		n += buf_len(&fr->conn->conn.out);
	return n;
}

static struct fcgi_req *freq_of(struct request *r)
{
	return r->front_ctx;
}

static void front_send_head(struct request *r, const struct response_head *h)
{
	struct fcgi_req *fr = freq_of(r);
	struct buf head = { 0 };
	struct head_framing f = { .status_prefix = "Status: ",
		                  .content_length = response_content_length(h) };
	response_put_head(r, h, &f, &head);
	if (head.failed)
		fr->out.failed = true; /* the connection's write loop fails the request */
	else
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
	if (req_backlog(fr) >= REQUEST_HIGH_WATER)
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
	fcgi_kick(fr->conn);
	if (!complete) {
		/* FastCGI has no way to say "cut short" but to drop the connection
		 * before END_REQUEST: the web server then fails the response. */
		log_warn(r->id, "response cut short: closing the FastCGI connection");
		fr->conn->closing = true;
		fr->phase = FREQ_ENDED;
		conn_want_write(&fr->conn->conn);
		return;
	}
	queue_stream(fr, FCGI_STDOUT, NULL, 0);
	queue_end_request(fr, (uint32_t)r->app_status, FCGI_REQUEST_COMPLETE);
}

static size_t front_backlog(struct request *r)
{
	return req_backlog(freq_of(r));
}

static void conn_process_input(struct fcgi_conn *c);

/* Move overflowed STDIN back into the request's body as the handler takes it. */
static void refill_from_overflow(struct fcgi_req *fr)
{
	struct request *r = fr->r;
	while (spool_pending(&fr->overflow) > 0 && buf_len(&r->body) < REQUEST_HIGH_WATER) {
		char *dst = buf_reserve(&r->body, 65536);
		if (!dst)
			return; /* r->body.failed: the handler fails the request */
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
	if (!c->conn.reading && buf_len(&r->body) < REQUEST_LOW_WATER)
		fcgi_kick(c);
}

/* clang-format off */
static const struct front_ops fcgi_front = {
	.send_head = front_send_head, .send_body = front_send_body, .send_raw = front_send_raw,
	.send_stderr = front_send_stderr, .send_end = front_send_end, .backlog = front_backlog,
	.body_more = front_body_more
};
/* clang-format on */

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
	char retry_after[REQUEST_RETRY_AFTER_LEN];
	if (st || request_over_rate(r, retry_after)) {
		/* The peer is the web server: the rate is its client's (REMOTE_ADDR). */
		fr->started = true;
		request_error(r, st ? st : 429, st ? NULL : retry_after);
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
	if (buf_append(&r->body, p, n) < 0) {
		req_abort(fr, "out of memory taking the request body");
		return;
	}
	if (fr->stdin_left == 0)
		r->body_complete = true;
	r->handler->body(r);
}

/* ---- records ----------------------------------------------------------- */

static void on_begin_request(struct fcgi_conn *c, const struct fcgi_record *rec)
{
	struct fcgi_begin_request b;
	if (rec->request_id == 0 || fcgi_begin_request_decode(rec, &b) < 0) {
		log_warn(NULL, "FastCGI: malformed BEGIN_REQUEST (id %u): ignored",
		         rec->request_id);
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
		log_info(NULL,
		         "FastCGI: role %u for request id %u: only the responder role is served",
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
	if (buf_append(&fr->params, rec->content, rec->content_length) < 0) {
		buf_free(&fr->params);
		fr->phase = FREQ_STDIN;
		req_fail(fr, 500, "out of memory collecting the FastCGI params");
	}
}

static void on_get_values(struct fcgi_conn *c, const struct fcgi_record *rec)
{
	uint8_t reply[512] = { 0 };
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
			ssize_t w = fcgi_nv_encode(reply + n, sizeof reply - n, name, nlen, val,
			                           strlen(val));
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
			conn_want_write(&c->conn);
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
		ssize_t n = fcgi_record_decode((const uint8_t *)buf_head(&c->conn.in),
		                               buf_len(&c->conn.in), &rec);
		if (n == FCGI_INCOMPLETE)
			return;
		if (n < 0) {
			if (http1_looks_like_request((const uint8_t *)buf_head(&c->conn.in),
			                             buf_len(&c->conn.in)))
				log_warn(
				        NULL,
				        "FastCGI port received HTTP (\"%.*s\"): point HTTP clients "
				        "at an http listener; closing",
				        (int)log_line_len(buf_head(&c->conn.in),
				                          buf_len(&c->conn.in), 60),
				        buf_head(&c->conn.in));
			else
				log_warn(
				        NULL,
				        "FastCGI: record with version %u, not 1: closing the connection",
				        rec.version);
			conn_close(&c->conn);
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
			conn_set_reading(&c->conn, false);
			return;
		}
		on_record(c, &rec);
		buf_consume(&c->conn.in, (size_t)n);
	}
}

/* ---- connection events (struct conn_ops) ------------------------------- */

static struct fcgi_conn *fcgi_of(struct conn *conn)
{
	return (struct fcgi_conn *)conn;
}

static void on_input(struct conn *conn)
{
	conn_process_input(fcgi_of(conn));
}

/* The web server hung up (or only shut its side, as cgi-fcgi does): requests
 * still running are over; answers already queued go out. */
static void on_eof(struct conn *conn, int err)
{
	struct fcgi_conn *c = fcgi_of(conn);
	c->closing = true;
	for (struct fcgi_req *fr = c->reqs; fr; fr = fr->next)
		req_abort(fr, "the web server closed the FastCGI connection");
	conn_after_write(c);
}

static void on_write_error(struct conn *conn, int err)
{
	struct fcgi_conn *c = fcgi_of(conn);
	char why[128];
	snprintf(why, sizeof why,
	         err == ENOMEM ? "out of memory building the response"
	                       : "writing to the web server failed: %s",
	         strerror(err));
	for (struct fcgi_req *fr = c->reqs; fr; fr = fr->next)
		req_abort(fr, why);
	conn_close(&c->conn);
}

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
		if (fr->phase == FREQ_ENDED && buf_len(&fr->out) == 0 && c->on_wire != fr) {
			req_free(fr);
			continue;
		}
		if (fr->above_high && req_backlog(fr) < REQUEST_LOW_WATER) {
			fr->above_high = false;
			if (!fr->handler_done && fr->r->handler && fr->r->handler->drained)
				fr->r->handler->drained(fr->r);
		}
	}
	bool idle = !c->reqs && buf_len(&c->mgmt.out) == 0;
	bool done = c->closing || (c->had_request && !c->keep_conn) || gw->stopping;
	if (idle && done && !c->on_wire) {
		conn_close(&c->conn);
		return;
	}
	bool pending = buf_len(&c->mgmt.out) > 0;
	for (fr = c->reqs; fr && !pending; fr = fr->next)
		pending = buf_len(&fr->out) > 0;
	if (c->closing && !c->on_wire && !pending) {
		for (fr = c->reqs; fr; fr = fr->next)
			req_abort(fr, "FastCGI connection closing");
		conn_close(&c->conn);
		return;
	}
	conn_update_timer(&c->conn);
}

/* conn.out ran empty (or the socket is full): the next request's records go
 * on the wire whole. */
static void on_written(struct conn *conn)
{
	struct fcgi_conn *c = fcgi_of(conn);
	if (buf_len(&c->conn.out) == 0) {
		c->on_wire = pick_writer(c);
		if (c->on_wire) {
			struct buf swap = c->conn.out;
			c->conn.out = c->on_wire->out;
			c->on_wire->out = swap;
			return; /* the write loop goes on */
		}
	}
	conn_after_write(c);
}

/* ---- timeouts ---------------------------------------------------------- */

static ev_tstamp on_deadline(struct conn *conn)
{
	struct fcgi_conn *c = fcgi_of(conn);
	struct config *cfg = gw->cfg;
	if (ev_is_active(&c->conn.wio))
		return (c->conn.last_write > c->conn.last_read ? c->conn.last_write
		                                               : c->conn.last_read) +
		       cfg->timeouts.send;
	bool waiting_input = false;
	for (struct fcgi_req *fr = c->reqs; fr; fr = fr->next)
		waiting_input |= fr->phase == FREQ_PARAMS ||
		                 (fr->phase == FREQ_STDIN && !fr->stdin_done && c->conn.reading);
	if (waiting_input)
		return c->conn.last_read + cfg->timeouts.body;
	if (!c->reqs)
		return c->conn.last_read + cfg->timeouts.keepalive;
	return 0;
}

static void on_timeout(struct conn *conn)
{
	struct fcgi_conn *c = fcgi_of(conn);
	for (struct fcgi_req *fr = c->reqs; fr; fr = fr->next)
		req_abort(fr, "FastCGI connection timed out");
	conn_close(&c->conn);
}

/* ---- connection life --------------------------------------------------- */

static void on_shutdown(struct conn *conn)
{
	struct fcgi_conn *c = fcgi_of(conn);
	c->keep_conn = false;
	if (!c->reqs && buf_len(&c->mgmt.out) == 0 && !c->on_wire)
		conn_close(&c->conn);
}

static void on_abort(struct conn *conn)
{
	conn_close(conn);
}

/* Aborting requests may kick the connection: with closing set it does not. */
static void on_release(struct conn *conn)
{
	struct fcgi_conn *c = fcgi_of(conn);
	c->closing = true;
	while (c->reqs) {
		req_abort(c->reqs, "FastCGI connection closed");
		req_free(c->reqs);
	}
	buf_free(&c->mgmt.out);
}

/* clang-format off */
static const struct conn_ops fcgi_conn_ops = {
	.name = "fastcgi", .input = on_input, .eof = on_eof, .write_error = on_write_error,
	.written = on_written, .deadline = on_deadline, .timeout = on_timeout,
	.shutdown = on_shutdown, .abort = on_abort, .release = on_release
};
/* clang-format on */

void fcgi_conn_start(int fd, const struct listen_cfg *lc)
{
	struct fcgi_conn *c = (struct fcgi_conn *)conn_accepted(fd, sizeof *c, &fcgi_conn_ops,
	                                                        65536 + 16, !lc->unix_path);
	if (!c)
		return;
	c->send_stderr = lc->fcgi_stderr;
	c->mgmt.conn = c;
	conn_start(&c->conn);
}
