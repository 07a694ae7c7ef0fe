#include "gatewayd/core/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gatewayd/core/server.h"

static struct conn *registry; /* client connections */
static struct conn *to_free; /* closed, freed once the loop turn is over */
static ev_prepare reaper;

void conn_read_soon(struct conn *c)
{
	if (!c->closed && c->reading)
		ev_feed_event(gw->loop, &c->rio, EV_READ);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents);
static void on_writable(struct ev_loop *loop, ev_io *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

void conn_init(struct conn *c, int fd, const struct conn_ops *ops, bool front)
{
	c->fd = fd;
	c->ops = ops;
	c->read_chunk = 16384;
	c->last_read = ev_now(gw->loop);
	ev_io_init(&c->rio, on_readable, fd, EV_READ);
	ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
	ev_init(&c->timer, on_timer);
	c->rio.data = c->wio.data = c->timer.data = c;
	c->front = front;
	if (front) {
		c->next = registry;
		if (registry)
			registry->prev = c;
		registry = c;
		gw->nconns++;
	}
}

struct conn *conn_accepted(int fd, size_t size, const struct conn_ops *ops, size_t read_chunk,
                           bool tcp)
{
	struct conn *c = calloc(1, size);
	if (!c) {
		close(fd);
		return NULL;
	}
	int one = 1;
	if (tcp)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	conn_init(c, fd, ops, true);
	c->read_chunk = read_chunk;
	return c;
}

void conn_start(struct conn *c)
{
	conn_set_reading(c, true);
	conn_update_timer(c);
}

void conn_set_reading(struct conn *c, bool on)
{
	if (c->closed || on == c->reading || (on && c->peer_closed))
		return;
	c->reading = on;
	if (on)
		ev_io_start(gw->loop, &c->rio);
	else
		ev_io_stop(gw->loop, &c->rio);
	conn_update_timer(c); /* a wait for input starts or ends */
}

void conn_want_write(struct conn *c)
{
	if (c->closed || ev_is_active(&c->wio))
		return;
	if (c->connecting)
		ev_io_start(gw->loop, &c->wio);
	else
		ev_feed_event(gw->loop, &c->wio, EV_WRITE);
}

void conn_kick(struct conn *c)
{
	if (c->closed)
		return;
	c->kicked = true;
	ev_feed_event(gw->loop, &c->rio, EV_READ);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	bool kicked = c->kicked;

	c->kicked = false;
	if (c->peer_closed) { /* only a kick gets here */
		if (kicked && buf_len(&c->in) > 0)
			c->ops->input(c);
		return;
	}
	char *dst = buf_reserve(&c->in, c->read_chunk);
	ssize_t n = dst ? read(c->fd, dst, c->read_chunk) : -1;
	int err = dst ? errno : ENOMEM;
	if (n < 0 && (err == EAGAIN || err == EINTR)) {
		if (kicked && buf_len(&c->in) > 0)
			c->ops->input(c);
		return;
	}
	if (n <= 0) {
		conn_set_reading(c, false);
		c->peer_closed = true;
		c->ops->eof(c, n < 0 ? err : 0);
		return;
	}
	buf_commit(&c->in, (size_t)n);
	c->last_n = (size_t)n;
	c->last_read = ev_now(loop);
	c->ops->input(c);
	conn_update_timer(c);
}

/* Write until c->out is empty or the socket is full; let the owner refill
 * between passes. */
static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		c->connecting = false;
		if (err) {
			ev_io_stop(loop, &c->wio);
			c->ops->write_error(c, err);
			return;
		}
	}
	for (;;) {
		bool full = false;
		if (c->out.failed) { /* what is queued has a hole: never send it */
			ev_io_stop(loop, &c->wio);
			c->ops->write_error(c, ENOMEM);
			return;
		}
		while (buf_len(&c->out) > 0) {
			ssize_t n = write(c->fd, buf_head(&c->out), buf_len(&c->out));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN) {
				full = true;
				break;
			}
			if (n < 0) {
				int err = errno;
				ev_io_stop(loop, &c->wio);
				c->ops->write_error(c, err);
				return;
			}
			buf_consume(&c->out, (size_t)n);
			c->wrote_any = true;
			c->last_write = ev_now(loop);
		}
		if (full) {
			if (!ev_is_active(&c->wio))
				ev_io_start(loop, &c->wio);
		} else {
			ev_io_stop(loop, &c->wio);
		}
		if (c->ops->written)
			c->ops->written(c);
		if (c->closed)
			return;
		if (full || buf_len(&c->out) == 0) {
			conn_update_timer(c); /* a send wait starts or ends */
			return;
		}
	}
}

/* ---- one deadline timer, re-armed lazily --------------------------------- */

static void arm(struct conn *c, ev_tstamp at)
{
	ev_tstamp after = at - ev_now(gw->loop);
	ev_timer_stop(gw->loop, &c->timer);
	ev_timer_set(&c->timer, after > 0.001 ? after : 0.001, 0);
	ev_timer_start(gw->loop, &c->timer);
	c->timer_at = at;
}

void conn_update_timer(struct conn *c)
{
	if (c->closed || !c->ops->deadline)
		return;
	ev_tstamp at = c->ops->deadline(c);
	if (at == 0) {
		ev_timer_stop(gw->loop, &c->timer);
		c->timer_at = 0;
	} else if (!c->timer_at || at < c->timer_at) {
		arm(c, at);
	}
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;
	c->timer_at = 0;
	ev_tstamp at = c->ops->deadline(c);
	if (at == 0)
		return;
	if (at > ev_now(loop)) {
		arm(c, at);
		return;
	}
	c->ops->timeout(c);
}

/* ---- closing ------------------------------------------------------------- */

void conns_reap(void)
{
	if (ev_is_active(&reaper))
		ev_prepare_stop(gw->loop, &reaper);
	while (to_free) {
		struct conn *c = to_free;
		to_free = c->free_next;
		free(c);
	}
}

static void on_reap(struct ev_loop *loop, ev_prepare *w, int revents)
{
	conns_reap();
}

void conn_close(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	if (c->ops->release)
		c->ops->release(c);
	ev_io_stop(gw->loop, &c->rio);
	ev_io_stop(gw->loop, &c->wio);
	ev_timer_stop(gw->loop, &c->timer);
	close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
	buf_free(&c->out);
	c->free_next = to_free;
	to_free = c;
	if (!ev_is_active(&reaper)) {
		ev_prepare_init(&reaper, on_reap);
		ev_prepare_start(gw->loop, &reaper);
	}
	if (!c->front)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		registry = c->next;
	if (c->next)
		c->next->prev = c->prev;
	gw->nconns--;
	server_conn_closed();
	server_check_stopped();
}

void conns_shutdown_all(void)
{
	struct conn *c = registry, *next;
	for (; c; c = next) {
		next = c->next;
		c->ops->shutdown(c);
	}
}

void conns_abort_all(void)
{
	struct conn *c = registry, *next;
	for (; c; c = next) {
		next = c->next;
		c->ops->abort(c);
	}
}
