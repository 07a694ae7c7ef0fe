#include "gatewayd/uwsgi_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gatewayd/log.h"
#include "gatewayd/request.h"
#include "gatewayd/server.h"
#include "protocols/http1.h"
#include "protocols/uwsgi.h"

enum uconn_state {
	UCONN_PACKET,  /* waiting for the vars packet */
	UCONN_ACTIVE,  /* a handler has the request; the body may still come */
	UCONN_CLOSING, /* the answer is complete: close once it is written */
};

struct uwsgi_conn {
	int fd;
	ev_io rio;
	ev_io wio;
	ev_timer timer;
	enum uconn_state state;
	struct buf in;
	struct buf out;
	struct request *r;
	long long body_left;
	bool reading;
	bool resp_done;
	bool feeding;
	bool feed_again;
	bool resp_above_high;
	unsigned long long bytes_sent;
	ev_tstamp started;
	ev_tstamp last_read;
	ev_tstamp last_write;
	struct uwsgi_conn *prev, *next;
};

static struct uwsgi_conn *conns;

static void conn_close(struct uwsgi_conn *c);
static void conn_feed_body(struct uwsgi_conn *c);

static void conn_set_reading(struct uwsgi_conn *c, bool on)
{
	if (on == c->reading)
		return;
	c->reading = on;
	if (on)
		ev_io_start(gw->loop, &c->rio);
	else
		ev_io_stop(gw->loop, &c->rio);
}

static void conn_want_write(struct uwsgi_conn *c)
{
	if (!ev_is_active(&c->wio))
		ev_feed_event(gw->loop, &c->wio, EV_WRITE);
}

/* ---- front_ops: the answer as an HTTP response ------------------------ */

static struct uwsgi_conn *conn_of(struct request *r)
{
	return r->front_ctx;
}

static void front_send_head(struct request *r, const struct response_head *h)
{
	struct uwsgi_conn *c = conn_of(r);
	/* uwsgi answers are HTTP responses; the web server reframes them. */
	request_put_gateway_head(r, h, "HTTP/1.1 ", &c->out);
	conn_want_write(c);
}

static void front_send_body(struct request *r, const char *p, size_t n)
{
	struct uwsgi_conn *c = conn_of(r);
	buf_append(&c->out, p, n);
	c->bytes_sent += n;
	if (buf_len(&c->out) >= REQUEST_HIGH_WATER)
		c->resp_above_high = true;
	conn_want_write(c);
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
		buf_reset(&c->out);
	}
	conn_want_write(c);
}

static size_t front_backlog(struct request *r)
{
	return buf_len(&conn_of(r)->out);
}

static void front_body_more(struct request *r)
{
	struct uwsgi_conn *c = conn_of(r);
	conn_feed_body(c);
	if (c->r && !c->r->body_complete && buf_len(&c->r->body) < REQUEST_HIGH_WATER)
		conn_set_reading(c, true);
}

static const struct front_ops uwsgi_front = {
	.send_head = front_send_head,
	.send_body = front_send_body,
	.send_raw = front_send_raw,
	.send_end = front_send_end,
	.backlog = front_backlog,
	.body_more = front_body_more,
};

/* ---- reading the request ---------------------------------------------- */

static void conn_feed_body(struct uwsgi_conn *c)
{
	struct request *r = c->r;
	if (c->feeding) {
		c->feed_again = true;
		return;
	}
	c->feeding = true;
	do {
		c->feed_again = false;
		if (!r || c->state != UCONN_ACTIVE || r->body_complete)
			break;
		size_t n = buf_len(&c->in);
		if ((long long)n > c->body_left)
			n = (size_t)c->body_left;
		size_t have = buf_len(&r->body);
		size_t room = have < REQUEST_HIGH_WATER ? REQUEST_HIGH_WATER - have : 0;
		if (n > room)
			n = room;
		if (n > 0) {
			buf_append(&r->body, buf_head(&c->in), n);
			buf_consume(&c->in, n);
			c->body_left -= (long long)n;
		}
		if (c->body_left == 0)
			r->body_complete = true;
		if (n > 0 || r->body_complete)
			r->handler->body(r);
	} while (c->feed_again);
	c->feeding = false;
	if (c->r && !c->r->body_complete && buf_len(&c->r->body) >= REQUEST_HIGH_WATER)
		conn_set_reading(c, false);
}

/* Returns false when the connection was closed. */
static bool conn_begin_request(struct uwsgi_conn *c, const uint8_t *vars, size_t len)
{
	struct request *r = request_new(&uwsgi_front, c);
	if (!r) {
		conn_close(c);
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
		log_warn(r->id, "malformed uwsgi vars (a size past the packet, or an empty key): 400");
		status = 400;
	}
	if (status) {
		request_error(r, status, NULL);
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
	c->body_left = cl > 0 ? cl : 0;
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
	const uint8_t *p = (const uint8_t *)buf_head(&c->in);
	size_t n = buf_len(&c->in);
	if (n >= 4 && http1_looks_like_request(p, n)) {
		log_warn(NULL, "uwsgi port received HTTP (\"%.*s\"): point HTTP clients at an http "
		         "listener; closing", (int)log_line_len((const char *)p, n, 60), p);
		conn_close(c);
		return;
	}
	struct uwsgi_header hdr;
	ssize_t used = uwsgi_packet_decode(p, n, &hdr);
	/* A packet that is not modifier1 0 is refused now, not after its datasize. */
	if (used == UWSGI_INCOMPLETE && (n < UWSGI_HEADER_LEN || hdr.modifier1 == 0))
		return;
	if (used < 0 || hdr.modifier1 != 0) {
		log_warn(NULL, "uwsgi packet with modifier1 %u (only 0, WSGI/CGI variables, is "
		         "served): closing", hdr.modifier1);
		conn_close(c);
		return;
	}
	/* The vars stay in c->in while they are copied into the request. */
	if (!conn_begin_request(c, p + UWSGI_HEADER_LEN, hdr.datasize))
		return;
	buf_consume(&c->in, (size_t)used);
	if (c->state == UCONN_ACTIVE)
		conn_feed_body(c);
}

static void conn_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct uwsgi_conn *c = w->data;
	char *dst = buf_reserve(&c->in, 65536 + 8);
	ssize_t n = dst ? read(c->fd, dst, 65536 + 8) : -1;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_set_reading(c, false);
		if (c->r && !c->resp_done && c->state == UCONN_ACTIVE &&
		    !(c->r->body_complete && n == 0)) {
			/* The web server gave up on the request. */
			log_info(c->r->id, "the web server closed the uwsgi connection; request aborted");
			if (!c->r->status)
				c->r->status = 499;
			if (c->r->handler)
				c->r->handler->abort(c->r);
			conn_close(c);
		} else if (!c->r) {
			conn_close(c);
		}
		return; /* a half-close after the body: the answer still goes out */
	}
	buf_commit(&c->in, (size_t)n);
	c->last_read = ev_now(loop);
	conn_process_input(c);
}

static void conn_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct uwsgi_conn *c = w->data;
	while (buf_len(&c->out) > 0) {
		ssize_t n = write(c->fd, buf_head(&c->out), buf_len(&c->out));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!ev_is_active(&c->wio))
				ev_io_start(loop, &c->wio);
			return;
		}
		if (n < 0) {
			if (c->r && !c->resp_done && c->r->handler) {
				log_info(c->r->id, "writing to the web server failed; request aborted");
				c->r->handler->abort(c->r);
			}
			conn_close(c);
			return;
		}
		buf_consume(&c->out, (size_t)n);
		c->last_write = ev_now(loop);
	}
	ev_io_stop(loop, &c->wio);
	if (c->resp_done) {
		conn_close(c);
		return;
	}
	if (c->resp_above_high && buf_len(&c->out) < REQUEST_LOW_WATER) {
		c->resp_above_high = false;
		if (c->r && c->r->handler && c->r->handler->drained)
			c->r->handler->drained(c->r);
	}
}

/* One timer: the packet and the body must keep coming; the answer must keep going. */
static void conn_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct uwsgi_conn *c = w->data;
	struct config *cfg = gw->cfg;
	ev_tstamp now = ev_now(loop), deadline = 0;
	if (buf_len(&c->out) > 0)
		deadline = (c->last_write > c->started ? c->last_write : c->started) + cfg->timeouts.send;
	else if (c->state == UCONN_PACKET)
		deadline = c->started + cfg->timeouts.header;
	else if (c->r && !c->r->body_complete && c->reading)
		deadline = c->last_read + cfg->timeouts.body;
	if (deadline == 0 || deadline > now) {
		ev_timer_set(w, deadline ? deadline - now : 1.0, 0);
		ev_timer_start(loop, w);
		return;
	}
	/* The web server is too slow with the packet (some of it came) or the
	 * body, and nothing of the answer is out yet: 408, as over HTTP. */
	bool packet = c->state == UCONN_PACKET && buf_len(&c->in) > 0;
	bool body = c->state == UCONN_ACTIVE && c->r && !c->resp_done && !c->r->head_sent &&
		    buf_len(&c->out) == 0;
	if (packet || body) {
		if (!c->r && !(c->r = request_new(&uwsgi_front, c))) {
			conn_close(c);
			return;
		}
		struct request *r = c->r;
		if (packet)
			log_info(r->id, "408: the uwsgi packet did not come whole within %.0f s (%zu bytes)",
			         cfg->timeouts.header, buf_len(&c->in));
		else
			log_info(r->id, "408: the request body did not come within %.0f s; request aborted",
			         cfg->timeouts.body);
		if (r->handler) {
			r->handler->abort(r);
			r->handler = NULL;
		}
		conn_set_reading(c, false);
		c->state = UCONN_ACTIVE;
		request_error(r, 408, NULL);
		if (c->state == UCONN_CLOSING && buf_len(&c->out) > 0) {
			ev_timer_set(w, cfg->timeouts.send, 0);
			ev_timer_start(loop, w);
		}
		return;
	}
	if (c->r && !c->resp_done) {
		log_info(c->r->id, "uwsgi connection timed out; request aborted");
		if (c->r->handler)
			c->r->handler->abort(c->r);
	}
	conn_close(c);
}

void uwsgi_conn_start(int fd, const struct listen_cfg *lc)
{
	struct uwsgi_conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	int one = 1;
	if (!lc->unix_path)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	c->started = c->last_read = ev_now(gw->loop);
	ev_io_init(&c->rio, conn_on_read, fd, EV_READ);
	ev_io_init(&c->wio, conn_on_write, fd, EV_WRITE);
	ev_timer_init(&c->timer, conn_on_timer, gw->cfg->timeouts.header, 0);
	c->rio.data = c->wio.data = c->timer.data = c;
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	gw->nconns++;
	conn_set_reading(c, true);
	ev_timer_start(gw->loop, &c->timer);
}

static void conn_close(struct uwsgi_conn *c)
{
	ev_io_stop(gw->loop, &c->rio);
	ev_io_stop(gw->loop, &c->wio);
	ev_timer_stop(gw->loop, &c->timer);
	close(c->fd);
	request_free(c->r);
	buf_free(&c->in);
	buf_free(&c->out);
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

void uwsgi_conn_shutdown_all(void)
{
	struct uwsgi_conn *c = conns, *next;
	for (; c; c = next) {
		next = c->next;
		if (!c->r)
			conn_close(c);
	}
}

void uwsgi_conn_abort_all(void)
{
	struct uwsgi_conn *c = conns, *next;
	for (; c; c = next) {
		next = c->next;
		if (c->r && !c->resp_done && c->r->handler)
			c->r->handler->abort(c->r);
		conn_close(c);
	}
}
