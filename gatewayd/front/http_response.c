/* The HTTP front end's side of a request (struct front_ops): the response
 * head framed for the client (Content-Length, chunked or to the close,
 * keep-alive or not), the body in that framing, the end. Finishing happens in
 * the connection's write callback (http.c), never inside the handler's call. */
#include <stdio.h>

#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/front/http_conn.h"
#include "gatewayd/request/response_head.h"

/* ---- the front end's side of the request (front_ops) -------------------- */

static void front_send_head(struct request *r, const struct response_head *h)
{
	struct http_conn *c = conn_of(r);
	long long cl = response_content_length(h);

	c->resp_no_body = c->head_only || h->status < 200 || h->status == 204 || h->status == 304;
	c->resp_chunked = false;
	c->resp_left = -1;
	if (c->resp_no_body) {
		/* nothing follows */
	} else if (cl >= 0) {
		c->resp_left = cl;
	} else if (c->minor >= 1) {
		c->resp_chunked = true;
	} else {
		c->keep_alive = false; /* HTTP/1.0: the end of the body is the close */
	}
	/* An answer before the whole body came (an error, a script that answers
	 * first): the rest may still be arriving, and the connection is closed
	 * after the answer (conn_finish_request), so the head says so. */
	if (gw->stopping || body_pending(c))
		c->keep_alive = false;
	struct head_framing f = {
		.status_prefix = "HTTP/1.1 ",
		.to_client = true,
		.content_length = cl,
		.chunked = c->resp_chunked,
		.close = !c->keep_alive,
		.keep_alive = c->keep_alive && c->minor == 0,
	};
	response_put_head(r, h, &f, &c->conn.out);
	conn_want_write(&c->conn);
}

static void front_send_body(struct request *r, const char *p, size_t n)
{
	struct http_conn *c = conn_of(r);
	if (c->resp_no_body || n == 0)
		return;
	if (c->resp_left >= 0) {
		if ((long long)n > c->resp_left) {
			log_warn(r->id, "response body longer than its Content-Length; cut at %lld",
			         (long long)c->resp_bytes + c->resp_left);
			n = (size_t)c->resp_left;
			c->keep_alive = false;
		}
		c->resp_left -= (long long)n;
	}
	if (c->resp_chunked) {
		char hdr[24];
		size_t hl = http1_chunk_header(hdr, n);
		buf_append(&c->conn.out, hdr, hl);
		buf_append(&c->conn.out, p, n);
		buf_append(&c->conn.out, "\r\n", 2);
	} else {
		buf_append(&c->conn.out, p, n);
	}
	c->resp_bytes += n;
	if (buf_len(&c->conn.out) >= REQUEST_HIGH_WATER)
		c->resp_above_high = true;
	conn_want_write(&c->conn);
}

static void front_send_raw(struct request *r, const char *p, size_t n)
{
	struct http_conn *c = conn_of(r);
	r->head_sent = true;
	c->keep_alive = false;
	c->resp_no_body = false;
	c->resp_chunked = false;
	c->resp_left = -1;
	buf_append(&c->conn.out, p, n);
	c->resp_bytes += n;
	if (buf_len(&c->conn.out) >= REQUEST_HIGH_WATER)
		c->resp_above_high = true;
	conn_want_write(&c->conn);
}

static void front_send_end(struct request *r, bool complete)
{
	struct http_conn *c = conn_of(r);
	if (!complete || c->resp_left > 0) {
		if (c->resp_left > 0)
			log_warn(r->id, "response body %lld bytes short of its Content-Length",
			         c->resp_left);
		c->keep_alive = false;
		c->resp_chunked = false; /* no last-chunk: the client sees the cut */
	}
	if (c->resp_chunked)
		buf_append(&c->conn.out, "0\r\n\r\n", 5);
	c->resp_done = true;
	/* Finishing happens in the write callback, never inside the handler's call. */
	conn_want_write(&c->conn);
}

static size_t front_backlog(struct request *r)
{
	return buf_len(&conn_of(r)->conn.out);
}

/* The handler took body bytes: feed it more from the loop (conn_kick), never
 * from inside its call. */
static void front_body_more(struct request *r)
{
	request_feed_later(r, &conn_of(r)->conn);
}

/* clang-format off */
const struct front_ops http_front = {
	.send_head = front_send_head, .send_body = front_send_body, .send_raw = front_send_raw,
	.send_end = front_send_end, .backlog = front_backlog, .body_more = front_body_more
};
/* clang-format on */
