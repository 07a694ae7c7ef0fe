/* Inside the upstream engine: a job and its connection, shared by engine.c
 * (jobs: the queue, peers, retries, timeouts) and exchange.c (a job's bytes
 * on its connection). Declares the engine.c functions exchange.c calls; what
 * the rest of gatewayd asks of the engine is upstream.h. */
#ifndef GW_UPSTREAM_ENGINE_H
#define GW_UPSTREAM_ENGINE_H

#include <ev.h>

#include "gatewayd/core/admission.h"
#include "gatewayd/core/buf.h"
#include "gatewayd/core/conn.h"
#include "gatewayd/request/cgi_output.h"
#include "gatewayd/request/request.h"
#include "gatewayd/upstream/upstream.h"

struct peer;

/* Where a job is. Standing behind (its peer's next_job, not its job) is a
 * pointer, not a state: such a job sends and hears as the peer's own job
 * does. The request's body may still be going out in any state but QUEUED
 * (a peer may answer before it read everything). */
enum job_state {
	JOB_QUEUED, /* in its pool's queue, on no peer */
	JOB_BEHIND, /* sent on to a busy peer: in its socket's backlog, not taken yet */
	JOB_SENDING, /* its peer's own job: the request going out, no answer yet */
	JOB_RECEIVING, /* the answer has begun: the job is this peer's for good */
};

struct upstream_conn {
	struct conn conn; /* first: the allocation */
	struct peer *pe;
	struct upstream_job *job; /* NULL: idle, kept alive for the peer's next request */
	/* Sent on behind job, to a peer that multiplexes (peer.h): it becomes
	 * the job when job ends; its answer may begin first. */
	struct upstream_job *behind;
	/* A job behind left before its answer ended: its request id may still
	 * bring records, so the connection is closed once job ends. */
	bool stray_id;
};

struct upstream_job {
	struct request *r; /* NULL once let go */
	struct pool_rt *rt;
	enum job_state state;
	struct peer *pe;
	struct upstream_conn *conn;
	struct cgi_output out;
	struct stderr_line errline;
	ev_timer timer; /* queue deadline, then request_timeout */
	int attempts;
	int unread_retries; /* retries that spent no attempt (engine.c's job_retry) */
	size_t body_sent; /* bytes at the head of r->body sent but kept (exchange.c's body_keeps) */
	bool body_taken; /* body bytes left r->body for a connection: no retry can resend them */
	bool body_rewind; /* the spooled body was read on: a retry reads it again from the start */
	bool heard; /* a byte came back on its connection */
	bool body_ended; /* the request's end is in its connection's out buffer */
	unsigned request_id; /* upstream_job_request_id */
	union upstream_proto_state proto; /* the protocol's (reinit) */
	char who[160]; /* its peer's: "php#3 (pid 123)" */
	struct admission_ticket ticket; /* while it waits for a peer */
};

/* The request goes its own way: what happens to the job now is only cleanup. */
void job_detach(struct upstream_job *j);
/* Answer status and let go (request_error cuts a response whose head is out). */
void job_fail(struct upstream_job *j, int status, const char *extra);
/* The job is over: give the peer back (its kept-alive connection with it,
 * when keep is set and the connection is clean), free the job. */
void job_finish(struct upstream_job *j, bool keep);
/* j's request is let go: its peer is told as the protocol allows (abort).
 * true: j goes on to the end of the answer, which is dropped; false: only
 * closing says it, and the caller ends j. */
bool job_tell_let_go(struct upstream_job *j);
/* pe (of rt) said whether it multiplexes: a request waiting may go behind
 * its job now. */
void peer_multiplexes(struct pool_rt *rt, struct peer *pe, bool yes);
/* The peer would not take j, sent behind its job on its connection (why:
 * the protocol's reason): j goes to another peer, and this one is sent
 * nothing behind again. */
void job_refused_behind(struct upstream_job *j, int why);
/* The connection failed under a job (err: an errno, 0 for a close): retry
 * elsewhere when the peer cannot have acted on it, else 502. */
void job_conn_failed(struct upstream_job *j, int err);

#endif
