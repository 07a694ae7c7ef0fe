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
		UPSTREAM_END,    /* app_status */
	} type;
	const char *data;
	size_t len;
	int status;
	int app_status;
};

struct upstream_proto {
	const char *name;
	/* The response ends when the worker closes the connection (uwsgi); the
	 * connection is then never kept for another request. */
	bool ends_at_close;
	/* The request's meta-variables, framed, into out. 0, or the status to
	 * answer: 431 (too large for the protocol), 500 (out of memory). */
	int (*encode_head)(struct upstream_job *j, struct buf *out);
	/* Body bytes framed into out; n == 0 ends the body. */
	void (*encode_body)(struct upstream_job *j, struct buf *out, const char *p, size_t n);
	/* One unit of the response at p[0..n): its size, 0 when incomplete, -1 on
	 * a protocol error; *ev says what it held (views into p). */
	ssize_t (*decode)(struct upstream_job *j, const char *p, size_t n, struct upstream_event *ev);
};

extern const struct upstream_proto upstream_fastcgi;
extern const struct upstream_proto upstream_uwsgi;

/* The request a job carries (NULL once let go): what a protocol encodes. */
struct request *upstream_job_request(struct upstream_job *j);
/* May the connection stay open for the worker's next request? */
bool upstream_job_keeps_connection(struct upstream_job *j);
/* A word of per-job state for the protocol's decoder, 0 at each request. */
int *upstream_job_proto_state(struct upstream_job *j);

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

/* ---- what the pools (pools.c) tell the engine --------------------------- */

struct pool;
struct worker;
void upstream_worker_stopping(struct pool *p, struct worker *w);
void upstream_worker_exited(struct pool *p, struct worker *w, int wait_status);
/* Idle workers meet waiting requests (an ev_prepare of the pool's, outside callbacks). */
void upstream_dispatch(struct ev_loop *loop, ev_prepare *w, int revents);
/* The request URI of a worker's job (w->job, w->next_job), for status; NULL if none. */
const char *upstream_job_uri(const void *job);
/* Move the requests waiting in from's queue to the end of to's. */
void upstream_requeue(struct pool_rt *from, struct pool_rt *to);

#endif
