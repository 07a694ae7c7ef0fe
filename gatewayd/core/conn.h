/* One connection, whatever speaks over it: the three front ends (HTTP,
 * FastCGI, uwsgi) and the upstream engine's connections to workers. A conn
 * owns the socket, its two watchers, the in/out buffers, the optimistic write
 * loop and one deadline timer; its owner (the protocol) gets events through a
 * small table and keeps only its protocol state.
 *
 * Lifetime: conn_close() stops everything and closes the socket at once, but
 * the memory is freed later, outside every callback (as nginx posts its
 * events): code that called something that may have closed c tests c->closed
 * instead of guarding with flags of its own. The owner embeds struct conn as
 * its first member and allocates the whole with malloc; the deferred free
 * frees that block. */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "gatewayd/core/buf.h"

struct conn;

struct conn_ops {
	const char *name; /* "http", "fastcgi", "uwsgi", "upstream": for logs */
	/* Bytes arrived in c->in (or a conn_kick() asked to look at them again). */
	void (*input)(struct conn *c);
	/* The peer closed (err 0) or reading failed (errno): reading has stopped. */
	void (*eof)(struct conn *c, int err);
	/* Writing (or a connect in progress) failed with errno err. */
	void (*write_error)(struct conn *c, int err);
	/* A write pass ended (c->out is empty, or the socket is full): the owner
	 * may append more (then the loop writes again) or wake its producers. */
	void (*written)(struct conn *c);
	/* When the current wait ends (ev_now() time), 0 for none. */
	ev_tstamp (*deadline)(struct conn *c);
	/* The deadline passed. */
	void (*timeout)(struct conn *c);
	/* Graceful shutdown began: take no new work; close if idle. */
	void (*shutdown)(struct conn *c);
	/* Shutdown deadline: let go of everything and close. */
	void (*abort)(struct conn *c);
	/* c is closing: free what the owner holds (requests, queues). Called once,
	 * before the socket closes; the conn's own buffers are freed after it. */
	void (*release)(struct conn *c);
};

struct conn {
	int fd;
	ev_io rio;
	ev_io wio;
	ev_timer timer;
	ev_tstamp timer_at; /* when the armed timer fires; 0: not armed */
	const struct conn_ops *ops;
	struct buf in;
	struct buf out;
	size_t read_chunk; /* bytes asked of each read() */
	size_t last_n; /* bytes the last read() gave: a short one is a hint */
	ev_tstamp last_read;
	ev_tstamp last_write;
	bool reading;
	bool peer_closed; /* read saw EOF or an error */
	bool connecting; /* a non-blocking connect is in progress */
	bool wrote_any; /* a byte reached the socket since conn_mark_unwritten() */
	bool kicked; /* conn_kick(): look at c->in even if no byte comes */
	bool closed; /* conn_close() ran: only c->closed may be read now */
	bool front; /* a client connection: counted, and in the registry */
	struct conn *prev, *next;
	struct conn *free_next;
};

/* Set c up over a connected (or connecting) non-blocking socket; front: a
 * client connection (counted in gw->nconns, reached by conns_shutdown_all()).
 * Reading is off until conn_set_reading(). */
void conn_init(struct conn *c, int fd, const struct conn_ops *ops, bool front);
/* A client connection of an accepted socket: allocates size zeroed bytes (the
 * owner's struct, struct conn first), turns Nagle off when tcp (a unix
 * socket has none to turn off) and sets c up.
 * NULL (and the socket closed) when memory runs out. The owner fills its
 * fields, then calls conn_start(). */
struct conn *conn_accepted(int fd, size_t size, const struct conn_ops *ops, size_t read_chunk,
                           bool tcp);
/* Start reading, with the first deadline. */
void conn_start(struct conn *c);
void conn_set_reading(struct conn *c, bool on);
/* Write c->out: at once in this loop turn (the watcher is armed only when the
 * socket is full, saving two epoll_ctl per response) or after a connect. */
void conn_want_write(struct conn *c);
/* Look at c->in again from the loop, not from inside the caller's call. */
void conn_kick(struct conn *c);
/* Try a read in this loop turn without waiting for readiness (the peer has
 * likely sent more, or closed, already). */
void conn_read_soon(struct conn *c);
/* Re-arm the deadline timer from ops->deadline (lazily: a later deadline is
 * noticed when the armed one fires). */
void conn_update_timer(struct conn *c);
/* Close now (release, socket, watchers); free after the current callbacks.
 * Idempotent. */
void conn_close(struct conn *c);

/* Every client connection. */
void conns_shutdown_all(void);
void conns_abort_all(void);
/* Free the closed connections now (at exit, once the loop has stopped). */
void conns_reap(void);

#endif
