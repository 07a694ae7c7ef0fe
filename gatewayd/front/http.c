#include "gatewayd/front/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatewayd/core/client_limits.h"
#include "gatewayd/core/conn.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/core/spool.h"
#include "gatewayd/front/http_conn.h"
#include "gatewayd/request/request.h"
#include "gatewayd/request/response_head.h"
#include "protocols/http1.h"
#include "protocols/proxy_protocol.h"

#define LINGER_SECONDS 2.0
/* Stopping (or a reload's drain), an idle kept-alive connection stays open
 * this long: its client may be sending the next request this very moment,
 * and closing now would lose that request (clients retry only some, and
 * only some clients). What comes in time is served with Connection: close. */
#define STOP_IDLE_GRACE 0.5
#define LINGER_MAX_BYTES (1 << 20)

static void conn_process_input(struct http_conn *c);

/* ---- helpers ---------------------------------------------------------- */

static void sockaddr_text(const struct sockaddr *sa, char *out, size_t len, unsigned *port)
{
	out[0] = '\0';
	*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s->sin_addr, out, (socklen_t)len);
		*port = ntohs(s->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, out, (socklen_t)len);
		*port = ntohs(s->sin6_port);
	}
}

static char *strndup_view(struct http1_str s)
{
	return s.p ? strndup(s.p, s.len) : NULL;
}

/* ---- request life ----------------------------------------------------- */

static void conn_log_access(struct http_conn *c)
{
	struct request *r = c->req;
	if (r->no_access_log)
		return;
	struct access_entry e = {
		.remote_addr = c->req_addr[0] ? c->req_addr : c->remote_addr,
		.request_line = c->request_line,
		.status = r->status,
		.bytes_sent = c->resp_bytes,
		.referer = c->referer,
		.user_agent = c->user_agent,
		.seconds = ev_now(gw->loop) - r->started,
		.rid = r->id,
	};
	log_access(&e);
}

static void conn_clear_request(struct http_conn *c)
{
	request_free(c->req);
	c->req = NULL;
	free(c->request_line);
	free(c->referer);
	free(c->user_agent);
	c->request_line = c->referer = c->user_agent = NULL;
	c->req_addr[0] = '\0';
	c->req_port = 0;
	spool_free(&c->spool);
	c->resp_done = false;
	c->reject_pending = false;
	c->resp_above_high = false;
	c->resp_bytes = 0;
	c->body_kind = HTTP1_BODY_NONE;
	c->body_left = 0;
}

/* The client is gone or timed out: the handler lets go, the connection closes. */
static void conn_abort(struct http_conn *c, const char *why)
{
	struct request *r = c->req;
	if (r && !c->resp_done) {
		log_info(r->id, "%s; request aborted", why);
		if (!r->status)
			r->status = 499;
		if (r->handler)
			r->handler->abort(r);
		conn_log_access(c);
	}
	conn_close(&c->conn);
}

/* Close after a response. If the client may still be sending (an unread body,
 * pipelined bytes), closing at once could reset the connection and destroy the
 * response in flight: shut the write side and drain for a moment first. */
static void conn_start_linger(struct http_conn *c, bool unread)
{
	if (!unread) {
		conn_close(&c->conn);
		return;
	}
	if (c->conn.peer_closed || shutdown(c->conn.fd, SHUT_WR) < 0) {
		conn_close(&c->conn);
		return;
	}
	c->state = CONN_LINGER;
	c->linger_start = ev_now(gw->loop);
	buf_reset(&c->conn.in);
	conn_set_reading(&c->conn, true);
	conn_update_timer(&c->conn);
}

/* The response is out: log, free the request, and serve the next one or close. */
static void conn_finish_request(struct http_conn *c)
{
	conn_log_access(c);
	bool unread = body_pending(c) || c->reject_pending || buf_len(&c->conn.in) > 0;
	bool reusable = c->keep_alive && !gw->stopping && !body_pending(c) &&
	                !c->conn.peer_closed && !c->reject_pending;
	conn_clear_request(c);
	c->requests++;
	if (!reusable) {
		conn_start_linger(c, unread);
		return;
	}
	c->state = CONN_HEAD;
	c->idle_since = ev_now(gw->loop);
	c->head_start = 0;
	conn_set_reading(&c->conn, true);
	conn_update_timer(&c->conn);
	conn_process_input(c);
}

/* ---- reading requests ------------------------------------------------- */

/* Answer c->req, which never reached a handler, and close after it: the rest
 * of the request may still be arriving (conn_finish_request lingers). */
static void conn_answer_and_close(struct http_conn *c, int status, const char *extra_header)
{
	c->keep_alive = false;
	c->reject_pending = true;
	c->state = CONN_ACTIVE;
	c->body_kind = HTTP1_BODY_NONE;
	conn_set_reading(&c->conn, false);
	request_error(c->req, status, extra_header);
}

/* Answer a request that never reached a handler, and close after it. */
static void conn_reject(struct http_conn *c, int status, const char *why)
{
	if (!c->req) {
		c->req = request_new(&http_front, c);
		if (!c->req) {
			conn_close(&c->conn);
			return;
		}
	}
	if (!c->request_line) {
		/* Log the request line when one arrived whole, as other servers do. */
		const char *p = buf_head(&c->conn.in), *eol = memchr(p, '\n', buf_len(&c->conn.in));
		if (eol && (size_t)(eol - p) <= gw->cfg->limits.request_line)
			c->request_line =
			        strndup(p, (size_t)(eol - p) - (eol > p && eol[-1] == '\r'));
	}
	log_info(c->req->id, "%d: %s (from %s:%u)", status, why, c->remote_addr, c->remote_port);
	conn_answer_and_close(c, status, NULL);
}

/* Over limits.per_client.connections: answered at once, before any request
 * comes (as a server may send 408 on an idle connection, RFC 9112 §9.5), then
 * closed after the linger. It never holds a slot: however many a client
 * opens, each is gone within the linger time (or the send timeout). */
static void conn_refuse_over_limit(struct http_conn *c)
{
	if (!(c->req = request_new(&http_front, c))) {
		conn_close(&c->conn);
		return;
	}
	log_warn(c->req->id,
	         "429: %s:%u is over limits.per_client.connections (%u open); "
	         "connection refused",
	         c->remote_addr, c->remote_port, gw->cfg->limits.per_client.connections);
	/* When a slot frees is unknown: a second is a polite pace to try again at. */
	conn_answer_and_close(c, 429, "Retry-After: 1");
}

/* Move Content-Length body bytes from the input buffer to the request, up to
 * its high-water mark, and tell the handler. The handler never calls back into
 * this: taking bytes only kicks the connection (front_body_more), and the loop
 * comes back here. */
static void conn_feed_body(struct http_conn *c)
{
	struct request *r = c->req;
	if (!r || c->state != CONN_ACTIVE || c->body_kind != HTTP1_BODY_LENGTH || r->body_complete)
		return;
	if (c->resp_done) {
		/* Nobody wants the rest: drop it to reach the end of the request. */
		size_t n = buf_len(&c->conn.in);
		if (n > c->body_left)
			n = (size_t)c->body_left;
		buf_consume(&c->conn.in, n);
		c->body_left -= n;
		return;
	}
	if (request_feed(r, &c->conn, &c->body_left) < 0)
		conn_abort(c, "out of memory taking the request body");
}

/* De-chunk into the spool; once the last chunk is in, start the handler with
 * CONTENT_LENGTH known, as CGI needs it. */
static void conn_spool_body(struct http_conn *c)
{
	struct request *r = c->req;
	while (buf_len(&c->conn.in) > 0 && !c->chunked.done) {
		const char *data;
		size_t dlen;
		ssize_t used = http1_chunked_decode(&c->chunked, buf_head(&c->conn.in),
		                                    buf_len(&c->conn.in), &data, &dlen);
		if (used < 0) {
			conn_reject(c, 400, "malformed chunked body");
			return;
		}
		if (c->spool.size + dlen > c->body_max) {
			conn_reject(c, 413, "chunked body over the route's max_body");
			return;
		}
		if (dlen && spool_write(&c->spool, data, dlen, r->id) < 0) {
			conn_reject(c, 500, "cannot spool the body");
			return;
		}
		buf_consume(&c->conn.in, (size_t)used);
		if (used == 0)
			break;
	}
	if (!c->chunked.done)
		return;
	spool_hand_to(&c->spool, r);
	c->body_kind = HTTP1_BODY_NONE;
	c->state = CONN_ACTIVE;
	conn_update_timer(&c->conn);
	request_start(r);
}

/* The head is a view into c->conn.in: copy what the access log needs of it
 * before it is consumed. */
static void keep_log_fields(struct http_conn *c, const struct http1_request *h, size_t head_len)
{
	const char *eol = memchr(h->method.p, '\n', head_len);
	size_t rl = eol ? (size_t)(eol - h->method.p) : 0;
	if (rl && h->method.p[rl - 1] == '\r')
		rl--;
	c->request_line = strndup(h->method.p, rl);
	const struct http1_header *f = http1_find_header(h, "Referer");
	c->referer = f ? strndup_view(f->value) : NULL;
	f = http1_find_header(h, "User-Agent");
	c->user_agent = f ? strndup_view(f->value) : NULL;
}

/* All the fields named name, joined by ", " (RFC 9110 §5.3), into out. */
static size_t joined_field(const struct http1_request *h, const char *name, char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < h->num_headers; i++) {
		const struct http1_header *f = &h->headers[i];
		if (f->name.len != strlen(name) || strncasecmp(f->name.p, name, f->name.len) != 0)
			continue;
		if (n && n + 2 <= cap) {
			memcpy(out + n, ", ", 2);
			n += 2;
		}
		size_t k = f->value.len < cap - n ? f->value.len : cap - n;
		memcpy(out + n, f->value.p, k);
		n += k;
	}
	return n;
}

/* REMOTE_ADDR for this request: the connection's client, or, when that is a
 * trusted proxy, the right-most address of Forwarded (if any, else
 * X-Forwarded-For) that is not itself trusted (core/trust.h, trust_walk). */
static void client_behind_proxies(struct http_conn *c, const struct http1_request *h)
{
	memcpy(c->req_addr, c->remote_addr, sizeof c->req_addr);
	c->req_port = c->remote_port;
	if (!gw->cfg->ntrusted || !trust_addr(gw->cfg, c->remote_addr))
		return;
	char list[8192], addr[INET6_ADDRSTRLEN];
	unsigned port;
	bool fwd = true;
	size_t n = joined_field(h, "Forwarded", list, sizeof list);
	if (!n) {
		fwd = false;
		n = joined_field(h, "X-Forwarded-For", list, sizeof list);
	}
	if (n && trust_walk(gw->cfg, list, n, fwd, addr, &port)) {
		memcpy(c->req_addr, addr, sizeof c->req_addr);
		c->req_port = port;
	}
}

/* The request's CGI variables (RFC 3875 §4.1) and its decoded path. Returns 0,
 * or the status to answer with *why for the log. */
static int set_request_vars(struct http_conn *c, struct request *r, const struct http1_request *h,
                            const char **why)
{
	client_behind_proxies(c, h);
	struct cgi_http_input in = {
		.req = h,
		.remote_addr = c->req_addr,
		.remote_port = c->req_port,
		.server_addr = c->local_addr,
		.server_port = c->local_port,
		.server_name = gw->cfg->server_name,
		.server_software = GW_SERVER_SOFTWARE,
		.request_id = r->id,
		/* Kept in the internal request; each handler withholds it unless its
		 * route allows (the route is not known yet). */
		.pass_authorization = true,
		.content_length =
		        h->body_kind == HTTP1_BODY_LENGTH ? (long long)h->content_length : -1,
	};
	int status = 0;
	r->content_length = in.content_length;
	if (cgi_env_from_http(&r->env, &in) < 0) {
		*why = "out of memory";
		return 500;
	}
	r->method = cgi_env_get(&r->env, "REQUEST_METHOD");
	r->query = cgi_env_get(&r->env, "QUERY_STRING");
	if (h->path.len == 1 && h->path.p[0] == '*') {
		*why = "asterisk-form target";
		return 400;
	}
	if ((status = request_set_path(r, h->path.p, h->path.len)) != 0)
		*why = status == 500 ? "out of memory"
		                     : "malformed path (bad escape, NUL or above the root)";
	return status;
}

/* The route is known: refuse a body over its max_body, say 100 Continue when
 * asked, and start the handler (a chunked body is de-chunked first). */
static void begin_body(struct http_conn *c, struct request *r, bool expect)
{
	c->body_max = r->route->max_body;
	if (c->body_kind == HTTP1_BODY_LENGTH && c->body_left > c->body_max) {
		conn_reject(c, 413, "Content-Length over the route's max_body");
		return;
	}
	bool has_body = c->body_kind == HTTP1_BODY_CHUNKED ||
	                (c->body_kind == HTTP1_BODY_LENGTH && c->body_left > 0);
	if (expect && has_body && c->minor >= 1) {
		buf_append(&c->conn.out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		conn_want_write(&c->conn);
	}
	if (c->body_kind == HTTP1_BODY_CHUNKED) {
		c->state = CONN_SPOOL;
		conn_update_timer(&c->conn);
		return;
	}
	if (!has_body) {
		r->body_complete = true;
		c->body_kind = HTTP1_BODY_NONE;
	}
	c->state = CONN_ACTIVE;
	conn_update_timer(&c->conn);
	request_start(r);
}

/* Answer a whole head without a handler (no route, over the rate): the
 * connection stays open unless a body is still to come. */
static void answer_unrouted(struct http_conn *c, struct request *r, int status,
                            const char *extra_header)
{
	if (body_pending(c) || c->body_kind == HTTP1_BODY_CHUNKED) {
		c->keep_alive = false;
		c->reject_pending = true; /* the unread body may still be arriving */
	}
	c->state = CONN_ACTIVE;
	c->body_kind = HTTP1_BODY_NONE;
	request_error(r, status, extra_header);
}

/* A trusted balancer's X-Request-Id becomes the request's id, so that the id
 * it logged is the one in gatewayd's logs and the script's
 * GATEWAY_REQUEST_ID. The balancer is the TCP peer: it wrote the field. An
 * invalid one keeps our own id, with a log line; from anyone else it is only
 * HTTP_X_REQUEST_ID. */
static void take_request_id(struct http_conn *c, struct request *r, const struct http1_request *h)
{
	const struct http1_header *f = http1_find_header(h, "X-Request-Id");
	if (!f || !gw->cfg->ntrusted || !trust_addr(gw->cfg, c->peer_addr))
		return;
	if (!trust_request_id_valid(f->value.p, f->value.len)) {
		log_warn(r->id,
		         "X-Request-Id from %s:%u refused (1 to %d bytes of A-Z a-z 0-9 . _ : @ + "
		         "= / -); using %s",
		         c->peer_addr, c->peer_port, TRUST_REQUEST_ID_MAX, r->id);
		return;
	}
	memcpy(r->id, f->value.p, f->value.len);
	r->id[f->value.len] = '\0';
}

static void conn_begin_request(struct http_conn *c, struct http1_request *h, size_t head_len)
{
	struct request *r = request_new(&http_front, c);
	if (!r) {
		conn_close(&c->conn);
		return;
	}
	c->req = r;
	r->started = c->head_start ? c->head_start : ev_now(gw->loop);
	take_request_id(c, r, h);
	c->minor = h->minor_version;
	c->keep_alive = h->keep_alive;
	c->head_only = h->method.len == 4 && memcmp(h->method.p, "HEAD", 4) == 0;
	c->body_kind = h->body_kind;
	c->body_left = h->body_kind == HTTP1_BODY_LENGTH ? h->content_length : 0;
	memset(&c->chunked, 0, sizeof c->chunked);
	keep_log_fields(c, h, head_len);

	const char *why = NULL;
	bool expect = h->expect_continue;
	int status = set_request_vars(c, r, h, &why);
	buf_consume(&c->conn.in, head_len);
	if (status) {
		conn_reject(c, status, why);
		return;
	}
	char retry_after[REQUEST_RETRY_AFTER_LEN];
	if (request_over_rate(r, retry_after)) {
		answer_unrouted(c, r, 429, retry_after);
		return;
	}
	status = request_route(r);
	if (!status && c->drain_only && r->route->kind != ROUTE_HEALTH &&
	    r->route->kind != ROUTE_STATUS) {
		log_info(r->id, "stopping: a new connection gets gatewayd's own paths only: 503");
		answer_unrouted(c, r, 503, "Retry-After: 1");
		return;
	}
	if (status) {
		answer_unrouted(c, r, status, NULL);
		return;
	}
	begin_body(c, r, expect);
}

static const struct http1_limits *conn_limits(void)
{
	static struct http1_limits lim;
	lim.max_request_line = gw->cfg->limits.request_line;
	lim.max_head = gw->cfg->limits.head;
	lim.max_headers = gw->cfg->limits.headers;
	return &lim;
}

/* Refuse a PROXY header: a 400 (the bytes may not have been HTTP, but a
 * client that sent HTTP by mistake reads it) and close. */
static void conn_refuse_proxy(struct http_conn *c, const char *why)
{
	if (!(c->req = request_new(&http_front, c))) {
		conn_close(&c->conn);
		return;
	}
	log_warn(c->req->id, "400: PROXY protocol header from %s:%u refused: %s; connection closed",
	         c->peer_addr, c->peer_port, why);
	buf_reset(&c->conn.in);
	conn_answer_and_close(c, 400, NULL);
}

/* CONN_PROXY: decode the header that comes first; true once it is taken
 * (the state is CONN_HEAD), false while it is incomplete or was refused. */
static bool conn_take_proxy_header(struct http_conn *c)
{
	if (buf_len(&c->conn.in) == 0)
		return false;
	if (!trust_addr(gw->cfg, c->peer_addr)) {
		conn_refuse_proxy(c, "the peer is not in trusted_proxies");
		return false;
	}
	struct proxy_header ph;
	ssize_t n = proxy_decode((const uint8_t *)buf_head(&c->conn.in), buf_len(&c->conn.in), &ph);
	if (n == PROXY_INCOMPLETE)
		return false;
	if (n < 0) {
		conn_refuse_proxy(c, ph.error);
		return false;
	}
	buf_consume(&c->conn.in, (size_t)n);
	if (!ph.local) {
		inet_ntop(ph.family, ph.src, c->remote_addr, sizeof c->remote_addr);
		c->remote_port = ph.src_port;
	}
	log_debug(NULL, "PROXY v%d header from %s:%u: client %s:%u", ph.version, c->peer_addr,
	          c->peer_port, c->remote_addr, c->remote_port);
	c->state = CONN_HEAD;
	c->head_start = 0;
	conn_update_timer(&c->conn);
	return true;
}

static void conn_process_input(struct http_conn *c)
{
	for (;;) {
		switch (c->state) {
		case CONN_PROXY:
			if (!conn_take_proxy_header(c))
				return;
			continue;
		case CONN_HEAD: {
			if (buf_len(&c->conn.in) == 0)
				return;
			struct http1_header headers[gw->cfg->limits.headers];
			struct http1_request h;
			if (!c->head_start) {
				c->head_start = ev_now(gw->loop);
				conn_update_timer(&c->conn);
			}
			ssize_t n = http1_parse_request(buf_head(&c->conn.in), buf_len(&c->conn.in),
			                                &h, headers, conn_limits());
			if (n == HTTP1_INCOMPLETE)
				return;
			if (n < 0) {
				conn_reject(c, h.error_status ? h.error_status : 400,
				            h.error_reason ? h.error_reason : "malformed request");
				return;
			}
			conn_begin_request(c, &h, (size_t)n);
			if (c->state == CONN_HEAD)
				return; /* closed or reset */
			continue; /* body bytes may have come with the head */
		}
		case CONN_SPOOL:
			conn_spool_body(c);
			return;
		case CONN_ACTIVE:
			conn_feed_body(c);
			/* Pipelined requests wait in c->conn.in; don't buffer without bound. */
			if (c->req && c->req->body_complete &&
			    buf_len(&c->conn.in) >= gw->cfg->limits.head)
				conn_set_reading(&c->conn, false);
			return;
		case CONN_LINGER:
			buf_reset(&c->conn.in);
			return;
		}
	}
}

/* ---- connection events (struct conn_ops) ------------------------------- */

static struct http_conn *http_of(struct conn *conn)
{
	return (struct http_conn *)conn;
}

static void on_input(struct conn *conn)
{
	struct http_conn *c = http_of(conn);
	if (c->state == CONN_LINGER) {
		c->linger_bytes += buf_len(&c->conn.in);
		buf_reset(&c->conn.in);
		if (c->linger_bytes > LINGER_MAX_BYTES)
			conn_close(&c->conn);
		return;
	}
	conn_process_input(c);
}

static void on_eof(struct conn *conn, int err)
{
	struct http_conn *c = http_of(conn);
	if (c->state == CONN_PROXY && buf_len(&c->conn.in) > 0)
		log_warn(NULL,
		         "PROXY protocol header from %s:%u cut short (%zu bytes); "
		         "connection closed",
		         c->peer_addr, c->peer_port, buf_len(&c->conn.in));
	if (c->state == CONN_LINGER || c->state == CONN_PROXY ||
	    (c->state == CONN_HEAD && !c->req)) {
		conn_close(&c->conn);
		return;
	}
	/* The client may close as soon as it has the whole answer it was told
	 * to expect: the script finishes undisturbed, then the connection closes. */
	if (c->req && (c->resp_done || (c->req->head_sent && c->resp_left == 0)))
		return;
	conn_abort(c, err ? "client connection failed" : "client closed the connection");
}

static void on_write_error(struct conn *conn, int err)
{
	struct http_conn *c = http_of(conn);
	char why[128];
	if (err == ENOMEM) {
		snprintf(why, sizeof why, "out of memory building the response");
	} else {
		c->conn.peer_closed = true;
		snprintf(why, sizeof why,
		         err == EPIPE || err == ECONNRESET ? "client went away"
		                                           : "write to client failed: %s",
		         strerror(err));
	}
	conn_abort(c, why);
}

static void on_written(struct conn *conn)
{
	struct http_conn *c = http_of(conn);
	if (c->req && c->resp_done && buf_len(&c->conn.out) == 0) {
		conn_finish_request(c);
		return;
	}
	if (c->req && c->resp_above_high && buf_len(&c->conn.out) < REQUEST_LOW_WATER) {
		c->resp_above_high = false;
		if (c->req->handler && c->req->handler->drained)
			c->req->handler->drained(c->req);
	}
}

/* ---- timeouts: timestamps, one timer per connection re-armed lazily ---- */

/* An idle connection's deadline: keep-alive (or the first head's), earlier
 * while stopping (STOP_IDLE_GRACE). */
static ev_tstamp idle_deadline(const struct http_conn *c)
{
	const struct config *cfg = gw->cfg;
	ev_tstamp at =
	        c->idle_since + (c->requests ? cfg->timeouts.keepalive : cfg->timeouts.header);
	return c->close_idle_at && c->close_idle_at < at ? c->close_idle_at : at;
}

/* When the connection's current wait expires; 0 if it has none (the handler
 * times its own work). *status: what to answer then (408), or 0. */
static ev_tstamp wait_deadline(struct http_conn *c, int *status)
{
	struct config *cfg = gw->cfg;
	*status = 0;
	if (buf_len(&c->conn.out) > 0)
		return (c->conn.last_write > 0 ? c->conn.last_write : ev_now(gw->loop)) +
		       cfg->timeouts.send;
	switch (c->state) {
	case CONN_PROXY:
		return c->idle_since + cfg->timeouts.header;
	case CONN_HEAD:
		if (c->head_start) {
			*status = 408;
			return c->head_start + cfg->timeouts.header;
		}
		return idle_deadline(c);
	case CONN_SPOOL:
		*status = 408;
		return c->conn.last_read + cfg->timeouts.body;
	case CONN_ACTIVE:
		if (c->req && !c->req->body_complete && c->conn.reading && !c->resp_done) {
			*status = 408;
			return c->conn.last_read + cfg->timeouts.body;
		}
		return 0;
	case CONN_LINGER:
		return c->linger_start + LINGER_SECONDS;
	}
	return 0;
}

static ev_tstamp on_deadline(struct conn *conn)
{
	int status;
	return wait_deadline(http_of(conn), &status);
}

static void on_timeout(struct conn *conn)
{
	struct http_conn *c = http_of(conn);
	int status;
	wait_deadline(c, &status);
	if (c->state == CONN_PROXY) {
		log_warn(NULL,
		         "PROXY protocol header from %s:%u not whole within timeouts.header "
		         "(%zu bytes); connection closed",
		         c->peer_addr, c->peer_port, buf_len(&c->conn.in));
		conn_close(&c->conn);
		return;
	}
	if (c->state == CONN_HEAD && !c->head_start) {
		conn_close(&c->conn); /* idle keep-alive connection: close quietly */
		return;
	}
	if (status == 408 && !(c->req && c->req->head_sent)) {
		if (c->req && c->req->handler && !c->resp_done)
			c->req->handler->abort(c->req);
		if (c->req)
			c->req->handler = NULL;
		conn_reject(c, 408,
		            c->state == CONN_HEAD ? "request head too slow"
		                                  : "request body too slow");
		conn_update_timer(&c->conn);
		return;
	}
	conn_abort(c, c->state == CONN_LINGER ? "linger time over" : "send timeout");
}

/* ---- connection life -------------------------------------------------- */

static void on_shutdown(struct conn *conn)
{
	struct http_conn *c = http_of(conn);
	if (c->state == CONN_PROXY) {
		conn_close(&c->conn);
		return;
	}
	c->keep_alive = false;
	if (c->state == CONN_HEAD && !c->head_start) { /* idle */
		c->close_idle_at = ev_now(gw->loop) + STOP_IDLE_GRACE;
		conn_update_timer(&c->conn);
	}
}

static void on_abort(struct conn *conn)
{
	conn_abort(http_of(conn), "shutting down");
}

static void on_release(struct conn *conn)
{
	conn_clear_request(http_of(conn));
	client_conn_closed(&http_of(conn)->slot);
}

/* clang-format off */
static const struct conn_ops http_conn_ops = {
	.name = "http", .input = on_input, .eof = on_eof, .write_error = on_write_error,
	.written = on_written, .deadline = on_deadline, .timeout = on_timeout,
	.shutdown = on_shutdown, .abort = on_abort, .release = on_release
};
/* clang-format on */

void http_conn_start(int fd, const struct sockaddr *peer, const struct sockaddr *local,
                     bool proxy_protocol)
{
	struct http_conn *c = (struct http_conn *)conn_accepted(fd, sizeof *c, &http_conn_ops,
	                                                        16384, local->sa_family != AF_UNIX);
	if (!c)
		return;
	spool_init(&c->spool);
	c->drain_only = gw->stopping;
	if (gw->stopping) /* a probe's: it sends at once, or is closed soon */
		c->close_idle_at = ev_now(gw->loop) + STOP_IDLE_GRACE;
	c->state = proxy_protocol ? CONN_PROXY : CONN_HEAD;
	c->idle_since = ev_now(gw->loop);
	sockaddr_text(peer, c->remote_addr, sizeof c->remote_addr, &c->remote_port);
	memcpy(c->peer_addr, c->remote_addr, sizeof c->peer_addr);
	c->peer_port = c->remote_port;
	sockaddr_text(local, c->local_addr, sizeof c->local_addr, &c->local_port);
	bool within = client_conn_open(peer, ev_now(gw->loop), &c->slot);
	conn_start(&c->conn);
	if (!within)
		conn_refuse_over_limit(c);
}
