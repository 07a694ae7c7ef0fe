#include "gatewayd/front/uwsgi.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gatewayd/core/conn.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/request/request.h"
#include "gatewayd/request/response_head.h"
#include "protocols/http1.h"
#include "protocols/uwsgi.h"

enum uconn_state {
	UCONN_PACKET, /* waiting for the vars packet */
	UCONN_ACTIVE, /* a handler has the request; the body may still come */
	UCONN_CLOSING, /* the answer is complete: close once it is written */
};

struct uwsgi_conn {
	struct conn conn; /* first: the allocation */
	enum uconn_state state;
	struct request *r;
	uint64_t body_left;
	bool resp_done;
	bool resp_above_high;
	unsigned long long bytes_sent;
	ev_tstamp started;
};

static void conn_feed_body(struct uwsgi_conn *c);

/* ---- front_ops: the answer as an HTTP response ------------------------ */

static struct uwsgi_conn *conn_of(struct request *r)
{
	return r->front_ctx;
}

static void front_send_head(struct request *r, const struct response_head *h)
{
	struct uwsgi_conn *c = conn_of(r);
	/* uwsgi answers are HTTP responses; the web server reframes them. */
	struct head_framing f = { .status_prefix = "HTTP/1.1 ",
		                  .content_length = response_content_length(h) };
	response_put_head(r, h, &f, &c->conn.out);
	conn_want_write(&c->conn);
}

static void front_send_body(struct request *r, const char *p, size_t n)
{
	struct uwsgi_conn *c = conn_of(r);
	buf_append(&c->conn.out, p, n);
	c->bytes_sent += n;
	if (buf_len(&c->conn.out) >= REQUEST_HIGH_WATER)
		c->resp_above_high = true;
	conn_want_write(&c->conn);
}

static void front_send_raw(struct request *r, const char *p, size_t n)
{
	r->head_sent = true;
	front_send_body(r, p, n);
}

static void front_send_end(struct request *r, bool complete)
{
	struct uwsgi_conn *c = conn_of(r);
	c->resp_done = true;
	c->state = UCONN_CLOSING;
	request_log_access(r, c->bytes_sent);
	if (!complete) {
		/* The close is the end of a uwsgi answer: cut short, close at once so
		 * the web server sees an answer shorter than its Content-Length. */
		log_warn(r->id, "response cut short: closing the uwsgi connection");
		buf_reset(&c->conn.out);
	}
	conn_want_write(&c->conn);
}

static size_t front_backlog(struct request *r)
{
	return buf_len(&conn_of(r)->conn.out);
}

/* The handler took body bytes: feed it more from the loop, not inside its call. */
static void front_body_more(struct request *r)
{
	request_feed_later(r, &conn_of(r)->conn);
}

/* clang-format off */
static const struct front_ops uwsgi_front = {
	.send_head = front_send_head, .send_body = front_send_body, .send_raw = front_send_raw,
	.send_end = front_send_end, .backlog = front_backlog, .body_more = front_body_more
};
/* clang-format on */

/* ---- reading the request ---------------------------------------------- */

/* The handler lets go: the web server or the shutdown ended the request. */
static void abort_request(struct uwsgi_conn *c, const char *why)
{
	if (c->r && !c->resp_done) {
		log_info(c->r->id, "%s; request aborted", why);
		if (!c->r->status)
			c->r->status = 499;
		if (c->r->handler)
			c->r->handler->abort(c->r);
	}
	conn_close(&c->conn);
}

/* The body bytes that came, up to the request's high-water mark, to the
 * handler (which only kicks the connection when it takes them). */
static void conn_feed_body(struct uwsgi_conn *c)
{
	struct request *r = c->r;
	if (!r || c->state != UCONN_ACTIVE || r->body_complete)
		return;
	if (request_feed(r, &c->conn, &c->body_left) < 0)
		abort_request(c, "out of memory taking the request body");
}

/* Returns false when the connection was closed. */
static bool conn_begin_request(struct uwsgi_conn *c, const uint8_t *vars, size_t len)
{
	struct request *r = request_new(&uwsgi_front, c);
	if (!r) {
		conn_close(&c->conn);
		return false;
	}
	c->r = r;
	size_t off = 0;
	const uint8_t *k, *v;
	size_t kl, vl;
	int rc;
	int status = 0;
	while (!status && (rc = uwsgi_var_next(vars, len, &off, &k, &kl, &v, &vl)) == 1)
		status = request_add_server_var(r, k, kl, v, vl);
	c->state = UCONN_ACTIVE;
	if (!status && rc < 0) {
		log_warn(r->id,
		         "malformed uwsgi vars (a size past the packet, or an empty key): 400");
		status = 400;
	}
	char retry_after[REQUEST_RETRY_AFTER_LEN];
	if (status || request_over_rate(r, retry_after)) {
		/* The peer is the web server: the rate is its client's (REMOTE_ADDR). */
		request_error(r, status ? status : 429, status ? NULL : retry_after);
		return true;
	}
	long long cl;
	const char *why;
	status = request_from_cgi_vars(r, &cl, &why);
	if (status) {
		log_info(r->id, "%d: %s", status, why);
		request_error(r, status, NULL);
		return true;
	}
	c->body_left = cl > 0 ? (uint64_t)cl : 0;
	if (cl <= 0)
		r->body_complete = true;
	request_start(r);
	return true;
}

static void conn_process_input(struct uwsgi_conn *c)
{
	if (c->state == UCONN_ACTIVE) {
		conn_feed_body(c);
		return;
	}
	if (c->state != UCONN_PACKET)
		return;
	const uint8_t *p = (const uint8_t *)buf_head(&c->conn.in);
	size_t n = buf_len(&c->conn.in);
	if (n >= 4 && http1_looks_like_request(p, n)) {
		log_warn(NULL,
		         "uwsgi port received HTTP (\"%.*s\"): point HTTP clients at an http "
		         "listener; closing",
		         (int)log_line_len((const char *)p, n, 60), p);
		conn_close(&c->conn);
		return;
	}
	struct uwsgi_header hdr;
	ssize_t used = uwsgi_packet_decode(p, n, &hdr);
	/* A packet that is not modifier1 0 is refused now, not after its datasize. */
	if (used == UWSGI_INCOMPLETE && (n < UWSGI_HEADER_LEN || hdr.modifier1 == 0))
		return;
	if (used < 0 || hdr.modifier1 != 0) {
		log_warn(NULL,
		         "uwsgi packet with modifier1 %u (only 0, WSGI/CGI variables, is "
		         "served): closing",
		         hdr.modifier1);
		conn_close(&c->conn);
		return;
	}
	/* The vars stay in c->conn.in while they are copied into the request. */
	if (!conn_begin_request(c, p + UWSGI_HEADER_LEN, hdr.datasize))
		return;
	buf_consume(&c->conn.in, (size_t)used);
	if (c->state == UCONN_ACTIVE)
		conn_feed_body(c);
}

/* ---- connection events (struct conn_ops) ------------------------------- */

static struct uwsgi_conn *uwsgi_of(struct conn *conn)
{
	return (struct uwsgi_conn *)conn;
}

static void on_input(struct conn *conn)
{
	struct uwsgi_conn *c = uwsgi_of(conn);
	conn_process_input(c);
}

static void on_eof(struct conn *conn, int err)
{
	struct uwsgi_conn *c = uwsgi_of(conn);
	if (!c->r) {
		conn_close(&c->conn);
		return;
	}
	/* A half-close after the whole body: the answer still goes out. */
	if (c->resp_done || c->state != UCONN_ACTIVE || (c->r->body_complete && !err))
		return;
	abort_request(c, "the web server closed the uwsgi connection");
}

static void on_write_error(struct conn *conn, int err)
{
	char why[128];
	snprintf(why, sizeof why,
	         err == ENOMEM ? "out of memory building the response"
	                       : "writing to the web server failed: %s",
	         strerror(err));
	abort_request(uwsgi_of(conn), why);
}

static void on_written(struct conn *conn)
{
	struct uwsgi_conn *c = uwsgi_of(conn);
	if (buf_len(&c->conn.out) > 0)
		return;
	if (c->resp_done) {
		conn_close(&c->conn);
		return;
	}
	if (c->resp_above_high && buf_len(&c->conn.out) < REQUEST_LOW_WATER) {
		c->resp_above_high = false;
		if (c->r && c->r->handler && c->r->handler->drained)
			c->r->handler->drained(c->r);
	}
}

/* The packet and the body must keep coming; the answer must keep going. */
static ev_tstamp on_deadline(struct conn *conn)
{
	struct uwsgi_conn *c = uwsgi_of(conn);
	struct config *cfg = gw->cfg;
	if (buf_len(&c->conn.out) > 0)
		return (c->conn.last_write > c->started ? c->conn.last_write : c->started) +
		       cfg->timeouts.send;
	if (c->state == UCONN_PACKET)
		return c->started + cfg->timeouts.header;
	if (c->r && !c->r->body_complete && c->conn.reading)
		return c->conn.last_read + cfg->timeouts.body;
	return 0;
}

static void on_timeout(struct conn *conn)
{
	struct uwsgi_conn *c = uwsgi_of(conn);
	struct config *cfg = gw->cfg;
	/* The web server is too slow with the packet (some of it came) or the
	 * body, and nothing of the answer is out yet: 408, as over HTTP. */
	bool packet = c->state == UCONN_PACKET && buf_len(&c->conn.in) > 0;
	bool body = c->state == UCONN_ACTIVE && c->r && !c->resp_done && !c->r->head_sent &&
	            buf_len(&c->conn.out) == 0;
	if (!packet && !body) {
		abort_request(c, "uwsgi connection timed out");
		return;
	}
	if (!c->r && !(c->r = request_new(&uwsgi_front, c))) {
		conn_close(&c->conn);
		return;
	}
	struct request *r = c->r;
	if (packet)
		log_info(r->id,
		         "408: the uwsgi packet did not come whole within %.0f s (%zu bytes)",
		         cfg->timeouts.header, buf_len(&c->conn.in));
	else
		log_info(r->id, "408: the request body did not come within %.0f s; request aborted",
		         cfg->timeouts.body);
	if (r->handler) {
		r->handler->abort(r);
		r->handler = NULL;
	}
	conn_set_reading(&c->conn, false);
	c->state = UCONN_ACTIVE;
	request_error(r, 408, NULL);
	conn_update_timer(&c->conn);
}

static void on_shutdown(struct conn *conn)
{
	struct uwsgi_conn *c = uwsgi_of(conn);
	if (!c->r)
		conn_close(&c->conn);
}

static void on_abort(struct conn *conn)
{
	abort_request(uwsgi_of(conn), "shutting down");
}

static void on_release(struct conn *conn)
{
	struct uwsgi_conn *c = uwsgi_of(conn);
	request_free(c->r);
	c->r = NULL;
}

/* clang-format off */
static const struct conn_ops uwsgi_conn_ops = {
	.name = "uwsgi", .input = on_input, .eof = on_eof, .write_error = on_write_error,
	.written = on_written, .deadline = on_deadline, .timeout = on_timeout,
	.shutdown = on_shutdown, .abort = on_abort, .release = on_release
};
/* clang-format on */

void uwsgi_conn_start(int fd, const struct listen_cfg *lc)
{
	struct uwsgi_conn *c = (struct uwsgi_conn *)conn_accepted(fd, sizeof *c, &uwsgi_conn_ops,
	                                                          65536 + 8, !lc->unix_path);
	if (!c)
		return;
	c->started = ev_now(gw->loop);
	conn_start(&c->conn);
}
