/* One upstream engine for every pool protocol (DESIGN.md; STYLE.md 4-5): it
 * picks an idle worker, keeps connections alive, streams bodies both ways
 * with backpressure, queues when every worker is busy, retries on another
 * worker only when nothing was sent, and times requests out. A protocol
 * (FastCGI, uwsgi) is a small table of codec hooks. */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <ev.h>

#include "gatewayd/core/buf.h"
#include "gatewayd/core/config.h"

struct upstream_job;
struct request;

struct upstream_event {
	enum {
		UPSTREAM_NONE,
		UPSTREAM_STATUS, /* an HTTP status line: status, reason in data/len */
		UPSTREAM_OUTPUT, /* CGI-style output (header block, then body) */
		UPSTREAM_STDERR,
		UPSTREAM_END, /* app_status */
		UPSTREAM_MULTIPLEXES, /* the peer's answer to encode_probe: status 1 yes, 0 no */
		UPSTREAM_REFUSED, /* the peer would not take the request (FastCGI's
		                   * CANT_MPX_CONN, OVERLOADED, UNKNOWN_ROLE): status */
	} type;
	const char *data;
	size_t len;
	int status;
	int app_status;
	/* Whose it is, where the protocol's units carry a request id (FastCGI):
	 * a job's upstream_job_request_id; 0: the connection's job's. */
	unsigned request_id;
};

/* What a protocol keeps per job: zeroed by the engine, set anew by reinit
 * each time the job starts on a worker (the first, or another after a
 * failure). */
union upstream_proto_state {
	struct {
		bool first_line_read; /* the answer's first line was looked at */
	} uwsgi;
};

/* What the engine does when the client leaves mid-request. */
enum upstream_abort {
	UPSTREAM_ABORT_CLOSE, /* closing the connection says it all: the job ends now */
	UPSTREAM_ABORT_FINISH, /* what abort appended tells the worker; it stays busy (and
	                        * timed) until its answer ends, and the answer is dropped */
};

/* A protocol is data the engine reads and hooks it calls (nginx's
 * create_request, reinit_request, process_header; STYLE.md 4). */
struct upstream_proto {
	const char *name;
	/* A connection may carry the worker's next request (FastCGI's KEEP_CONN).
	 * Without it each request has a connection of its own, so one may be sent
	 * to a busy worker and wait in its socket's backlog. */
	bool keeps_connection;
	/* The worker ends its answer by closing the connection (uwsgi). */
	bool response_ends_at_close;
	/* The job starts on a worker, the first or another: its state anew
	 * (optional). */
	void (*reinit)(struct upstream_job *j);
	/* The request's meta-variables, framed, into out. 0, or the status to
	 * answer: 431 (too large for the protocol), 500 (out of memory). */
	int (*encode_head)(struct upstream_job *j, struct buf *out);
	/* Body bytes framed into out; n == 0 ends the body (once per start). */
	void (*encode_body)(struct upstream_job *j, struct buf *out, const char *p, size_t n);
	/* One unit of the response at p[0..n): its size, 0 when incomplete, -1 on
	 * a protocol error; *ev says what it held (views into p). */
	ssize_t (*decode)(struct upstream_job *j, const char *p, size_t n,
	                  struct upstream_event *ev);
	/* The client left while the worker has the request: append to out what
	 * the worker should be told, say how the job ends. */
	enum upstream_abort (*abort)(struct upstream_job *j, struct buf *out);
	/* Optional, for a protocol that keeps connections: ask a new
	 * connection's peer whether it takes a request behind the one it serves
	 * on that connection (FastCGI: FCGI_GET_VALUES for FCGI_MPXS_CONNS); its
	 * answer decodes as UPSTREAM_MULTIPLEXES. */
	void (*encode_probe)(struct buf *out);
};

extern const struct upstream_proto upstream_fastcgi;
extern const struct upstream_proto upstream_uwsgi;

/* The request a job carries (NULL once let go): what a protocol encodes. */
struct request *upstream_job_request(struct upstream_job *j);
/* May the connection stay open for the worker's next request? */
bool upstream_job_keeps_connection(struct upstream_job *j);
/* The job's request id on its connection, for a protocol whose units carry
 * one: 1, or 2 while the job before it on the connection has 1. */
unsigned upstream_job_request_id(const struct upstream_job *j);
/* Is the end of the job's request body in its connection (sent by the
 * engine, or by abort)? */
bool upstream_job_body_ended(const struct upstream_job *j);
/* The protocol's state for this job (see reinit). */
union upstream_proto_state *upstream_job_proto(struct upstream_job *j);

/* ---- jobs: what the pool handler asks of the engine ------------------------ */

struct pool_rt;
/* Take r to one of rt's workers: started now, queued, or answered (503, 500). */
void upstream_submit(struct pool_rt *rt, struct request *r);
/* r->body has more bytes (or body_complete became true). */
void upstream_job_body(struct upstream_job *j);
/* The front end's backlog fell: read the worker's answer again. */
void upstream_job_drained(struct upstream_job *j);
/* The request lets go (client gone, timeout): the job ends as the protocol allows. */
void upstream_job_abort(struct upstream_job *j);

/* ---- what the pools (pools.c) and the peers tell the engine --------------- */

struct peer_hooks;
/* For every peer source: a peer idle, stopping, gone (peer.h). The owner
 * given to a source is its struct pool_rt. */
extern const struct peer_hooks upstream_peer_hooks;
/* The libev priority of the connections to workers and of a pool's dispatch:
 * of the events one epoll_wait returns, a worker's answer is handled (and the
 * worker given its next request) before the clients' events, which then
 * wait a few microseconds while the worker works (2 workers on 2 cores,
 * medians of 5 interleaved rounds: php-cgi +22 %, hello.fcgi +14 %, WSGI
 * hello over uwsgi +10 %, over FastCGI +6 %). Every pending event is still
 * handled in the same loop turn: nothing starves. */
#define UPSTREAM_PRIORITY 1
/* Idle peers meet waiting requests (the pool's dispatch watcher, fed when a
 * peer frees up: it runs outside other callbacks). */
void upstream_dispatch(struct ev_loop *loop, ev_prepare *w, int revents);
/* The request URI of a job (a peer's job or next_job), for status; NULL if none. */
const char *upstream_job_uri(const struct upstream_job *j);
/* Move the requests waiting in from's queue to the end of to's. */
void upstream_requeue(struct pool_rt *from, struct pool_rt *to);

#endif
