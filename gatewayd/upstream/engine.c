/* The upstream engine. A job is one request on its way to a peer (a worker,
 * or an external address's slot: peer.h): queued, then sent to a peer on a
 * connection (exchange.c streams it both ways), retried on another peer when
 * that is safe, timed out, answered. */
#include "gatewayd/upstream/engine.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "gatewayd/core/admission.h"
#include "gatewayd/core/conn.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/request/cgi_output.h"
#include "gatewayd/request/request.h"
#include "gatewayd/upstream/exchange.h"
#include "gatewayd/upstream/peer.h"
#include "gatewayd/upstream/pools.h"
#include "gatewayd/upstream/upstream.h"

#define MAX_ATTEMPTS 3
/* Retries of a request no worker read whole (a kept connection closed, a
 * worker gone with it in its backlog, a reset) spend no attempt, up to this
 * many: a worker that leaves at a request limit of its own is no sign
 * against the request. */
#define MAX_UNREAD_RETRIES 8

static struct upstream_job *job_of_ticket(struct admission_ticket *t)
{
	return (struct upstream_job *)((char *)t - offsetof(struct upstream_job, ticket));
}

/* Waiting requests meet idle peers in upstream_dispatch, right after the
 * callback that freed a peer returns: libev runs the watcher fed last first,
 * so the worker gets its next request before the rest of this loop turn's
 * events are handled, not after them (2 workers a pool on 2 cores, medians
 * of 5 interleaved rounds: WSGI hello over uwsgi +25 %, over FastCGI +19 %,
 * php-cgi +14 %, hello.fcgi +4 %). */
static void dispatch_soon(struct pool_rt *rt)
{
	ev_feed_event(gw->loop, &rt->dispatch, EV_CUSTOM);
}

/* The peers learn how many requests wait (their sizing reads it). */
static void waiting_sync(struct pool_rt *rt)
{
	rt->peers->src->set_waiting(rt->peers, rt->waiting.waiting);
}

static unsigned peers_in(const struct pool_rt *rt, enum peer_state s)
{
	struct source_facts f;
	peers_facts(rt->peers, &f);
	return f.count[s];
}

/* A worker's record is freed right after its gone hook: look at the stop
 * condition once the spawner is done with it. */
static void on_stop_check(struct ev_loop *loop, ev_prepare *w, int revents)
{
	server_check_stopped();
}
static ev_prepare stop_check = { .cb = on_stop_check };
static bool job_try_assign(struct upstream_job *j, bool was_first);
static void job_orphaned(struct upstream_job *next);

/* j, failed by its peer, goes to another one. unread: the failed peer did
 * not read it whole, and the retry spends no attempt (MAX_UNREAD_RETRIES). */
static void job_retry(struct upstream_job *j, bool unread)
{
	if (unread && j->unread_retries < MAX_UNREAD_RETRIES) {
		j->unread_retries++;
		j->attempts--;
	}
	j->rt->retries++;
	ev_timer_stop(gw->loop, &j->timer);
	job_try_assign(j, false);
}
static void backlog_fill(struct pool_rt *rt);

/* ---- jobs -------------------------------------------------------------- */

static void job_free(struct upstream_job *j)
{
	j->rt->jobs--;
	admission_remove(&j->ticket);
	waiting_sync(j->rt);
	ev_timer_stop(gw->loop, &j->timer);
	cgi_output_free(&j->out);
	buf_free(&j->errline.buf);
	free(j);
}

/* The request goes its own way: what happens to the job now is only cleanup. */
void job_detach(struct upstream_job *j)
{
	if (j->r)
		j->r->handler_ctx = NULL;
	j->r = NULL;
}

/* The oldest job waiting for one of rt's workers, out of the queue; NULL. */
static struct upstream_job *queue_pop(struct pool_rt *rt)
{
	struct admission_ticket *t = admission_pop(&rt->waiting);
	waiting_sync(rt);
	return t ? job_of_ticket(t) : NULL;
}

/* No worker came within queue_timeout (the ticket is out of the queue). */
static void on_worker_wait_expired(struct admission_ticket *t)
{
	struct upstream_job *j = job_of_ticket(t);
	struct pool_rt *rt = j->rt;
	waiting_sync(rt);
	rt->rejected++;
	log_warn(j->r ? j->r->id : NULL,
	         "pool %s: no worker within %.1f s (%u busy, %u queued): 503", rt->cfg->name,
	         rt->cfg->queue_timeout, peers_in(rt, PEER_BUSY), rt->waiting.waiting);
	if (j->r) {
		struct request *r = j->r;
		job_detach(j);
		admission_refuse(r);
	}
	job_free(j);
}

/* The peer is done with the job before j: j is the peer's own job now, and
 * its request_timeout starts; the peer has room for another behind it. */
static void job_promote(struct upstream_job *j)
{
	struct pool_rt *rt = j->rt;
	struct peer *pe = j->pe;
	pe->job = j;
	pe->next_job = NULL;
	pe->busy_since = ev_now(gw->loop);
	if (j->state == JOB_BEHIND)
		j->state = JOB_SENDING;
	if (j->conn && !pe->conn)
		pe->conn = j->conn;
	if (j->r)
		request_timing_app(j->r, 0);
	ev_timer_stop(gw->loop, &j->timer);
	ev_timer_set(&j->timer, rt->cfg->request_timeout, 0);
	ev_timer_start(gw->loop, &j->timer);
	if (rt->waiting.head)
		dispatch_soon(rt);
}

/* Methods a worker may see twice (RFC 9110 §9.2.2): only these are sent to
 * another worker when the one they waited behind died, or when one reset the
 * connection without a byte of answer, since it may have started them in the
 * moment before. */
static bool request_idempotent(const struct request *r)
{
	static const char *const safe[] = { "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE" };
	for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
		if (r->method && strcmp(r->method, safe[i]) == 0)
			return true;
	return false;
}

/* Is j waiting behind its peer's own job? */
static bool job_behind(const struct upstream_job *j)
{
	return j->pe && j->pe->next_job == j;
}

/* May the job go to another peer after this one failed it? Only if this
 * one cannot have acted on it: no answer came, and nothing reached it (its
 * own job) or it never took it (behind, and the method is one a worker may
 * see twice). What the connection said, err, tells more once the request
 * was sent with not a byte back (stderr included):
 *   EAGAIN      the worker is dead and the connection still open: it waits,
 *               never accepted, in the backlog of the socket the pool holds
 *   ECONNRESET  the worker closed it with the request not all read: it
 *               left at a request limit of its own (php-cgi's
 *               PHP_FCGI_MAX_REQUESTS) just as the request came, or crashed
 *               while reading; a method a worker may see twice goes on, as
 *               nginx retries one, and any method once the worker is known
 *               to have left (peer_left: the master closed the socket the
 *               request waited in, never accepted)
 *   0, other    it read the request, then failed: 502
 * A request sent behind it on its connection leaves nothing to tell. */
static bool job_may_retry(const struct upstream_job *j, int err)
{
	/* body bytes streamed to the failed connection are gone from r->body:
	 * another peer would get the request with a hole in it (a small body is
	 * kept, a spooled one read again: exchange.c's body_keeps) */
	if (!j->r || j->body_taken)
		return false;
	switch (j->state) {
	case JOB_BEHIND:
		return !j->heard && request_idempotent(j->r);
	case JOB_SENDING:
		if (!j->conn || j->conn->behind)
			return false; /* a reset may be the unread request behind it */
		if (!j->conn->conn.wrote_any)
			return true;
		return !j->heard &&
		       (err == EAGAIN || (err == ECONNRESET && (request_idempotent(j->r) ||
		                                                (j->pe && peer_left(j->pe)))));
	case JOB_QUEUED:
	case JOB_RECEIVING:
		break;
	}
	return false;
}

/* The job behind c's job loses its place there (c closes under it): off c
 * and off its peer, for the caller to orphan once the job before it is
 * dealt with. NULL if none. */
static struct upstream_job *behind_detach(struct upstream_conn *c)
{
	struct upstream_job *b = c ? c->behind : NULL;
	if (!b)
		return NULL;
	c->behind = NULL;
	b->conn = NULL;
	if (b->pe && b->pe->next_job == b)
		b->pe->next_job = NULL;
	return b;
}

/* The job is over: give the peer back (its kept-alive connection with it,
 * when keep is set and the connection is clean), free the job. The job
 * behind it on the connection, if any, has it next. */
void job_finish(struct upstream_job *j, bool keep)
{
	struct peer *pe = j->pe;
	struct upstream_conn *c = j->conn;
	struct upstream_job *orphan = NULL;
	if (c && c->behind == j) {
		/* Behind, and over first: the connection stays the job before's. */
		c->behind = NULL;
		c->stray_id |= !keep;
	} else if (c) {
		bool keeps = keep && upstream_job_keeps_connection(j) && !c->stray_id;
		c->job = NULL;
		if (keeps && c->behind) {
			c->job = c->behind; /* its bytes may be in either buffer */
			c->behind = NULL;
		} else if (!keeps || buf_len(&c->conn.in) > 0 || buf_len(&c->conn.out) > 0) {
			orphan = behind_detach(c);
			conn_close(&c->conn);
		} else {
			conn_set_reading(&c->conn,
			                 true); /* notice if the peer closes it while idle */
		}
	}
	j->conn = NULL;
	j->pe = NULL;
	if (pe && pe->job == j) {
		pe->job = NULL;
		peer_served(pe);
		if (pe->next_job)
			job_promote(pe->next_job);
		else
			peer_release(pe);
	} else if (pe && pe->next_job == j) {
		pe->next_job = NULL;
		peer_served(pe); /* it finished first: events came in that order */
	}
	job_free(j);
	if (orphan)
		job_orphaned(orphan);
}

/* Answer status and let go (request_error cuts a response whose head is out). */
void job_fail(struct upstream_job *j, int status, const char *extra)
{
	struct request *r = j->r;
	if (r) {
		job_detach(j);
		request_error(r, status, extra);
	}
}

static void on_job_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct upstream_job *j = t->data;
	struct pool_rt *rt = j->rt;
	struct peer *pe = j->pe;
	rt->timeouts++;
	log_error(j->r ? j->r->id : NULL, "%s ran over request_timeout (%.1f s): 504, killing it",
	          j->who, rt->cfg->request_timeout);
	job_fail(j, 504, NULL);
	struct upstream_job *orphan = behind_detach(j->conn);
	if (j->conn)
		conn_close(&j->conn->conn);
	j->pe = NULL;
	if (pe) {
		pe->job = NULL;
		peer_abandon(pe, "request_timeout"); /* a worker is replaced once it is gone */
	}
	job_free(j);
	if (orphan)
		job_orphaned(orphan);
}

/* The head into j's connection c. false: it cannot be framed (431: too large
 * for the protocol; 500: out of memory), and nothing went to the peer: the
 * connection (and any part of the head in it) goes, the peer is let go
 * uncounted, the job ends. */
static bool job_send_head(struct upstream_job *j, struct upstream_conn *c, bool behind)
{
	struct peer *pe = j->pe;
	bool shared = behind && c->job; /* behind c's job on c */
	size_t mark = buf_len(&c->conn.out);
	if (shared) {
		c->behind = j;
	} else {
		c->job = j;
		c->conn.wrote_any = false;
	}
	j->conn = c;
	int refused = j->rt->proto->encode_head(j, &c->conn.out);
	if (!refused)
		return true;
	j->conn = NULL;
	if (shared) {
		c->behind = NULL;
		buf_truncate(&c->conn.out, mark); /* the job before it goes on as it was */
	} else {
		c->job = NULL;
		conn_close(&c->conn);
	}
	j->pe = NULL;
	if (behind) {
		pe->next_job = NULL;
	} else {
		pe->job = NULL;
		peer_release(pe);
	}
	job_fail(j, refused, NULL);
	job_free(j);
	return false;
}

/* Send j to pe: pe's own job, or (behind) the one after the job pe serves,
 * on a connection of its own or, to a peer that multiplexes, on the job's.
 * false: behind, and pe could not be reached; j is as it was, to queue again. */
static bool job_start_on(struct upstream_job *j, struct peer *pe, bool behind)
{
	struct request *r = j->r;
	bool shared = behind && j->rt->proto->keeps_connection;
	struct upstream_conn *c = !behind || shared ? pe->conn : NULL;
	bool opened = false;
	j->heard = false;
	j->body_sent = 0;
	j->body_ended = false;
	if (j->body_rewind && r)
		request_body_rewind(r);
	j->body_rewind = false;
	if (!c && !shared)
		opened = (c = exchange_open(pe, !behind)) != NULL;
	if (!c && behind)
		return false;
	j->attempts++;
	if (!c) {
		/* Nothing was sent: the next peer may do. */
		peer_failed(pe, "connect failed");
		j->rt->retries++;
		job_try_assign(j, false);
		return true;
	}
	j->state = behind ? JOB_BEHIND : JOB_SENDING;
	if (j->rt->proto->reinit)
		j->rt->proto->reinit(j);
	j->pe = pe;
	_Static_assert(sizeof j->who == sizeof pe->who, "a job names its peer as the peer does");
	memcpy(j->who, pe->who, sizeof j->who);
	j->out.who = j->who;
	j->request_id = shared ? 3 - c->job->request_id : 1;
	if (behind) {
		pe->next_job = j;
	} else {
		pe->job = j;
		pe->busy_since = ev_now(gw->loop);
	}
	if (opened && j->rt->proto->encode_probe && pe->keeps_connection && !pe->asked) {
		pe->asked = true;
		j->rt->proto->encode_probe(&c->conn.out); /* answered before the request */
	}
	if (!job_send_head(j, c, behind) || !exchange_pump(j))
		return true;
	conn_set_reading(&c->conn, true);
	ev_timer_stop(gw->loop, &j->timer);
	if (!behind) {
		if (r)
			request_timing_app(r, 0);
		ev_timer_set(&j->timer, j->rt->cfg->request_timeout, 0);
		ev_timer_start(gw->loop, &j->timer);
	}
	log_debug(r ? r->id : NULL, "to %s%s", j->who,
	          behind ? ", behind its current request" : "");
	return true;
}

/* A worker, or a place in the queue (back at its head if was_first: it was
 * just popped from there), or 503. false: queued. */
static bool job_try_assign(struct upstream_job *j, bool was_first)
{
	struct pool_rt *rt = j->rt;
	if (!j->r) {
		job_free(j);
		return true;
	}
	if (j->attempts >= MAX_ATTEMPTS) {
		rt->errors++;
		log_error(j->r->id, "pool %s: %d workers failed to take the request: 502",
		          rt->cfg->name, j->attempts);
		job_fail(j, 502, NULL);
		job_free(j);
		return true;
	}
	struct peer *pe = peer_take(rt->peers);
	if (pe) {
		job_start_on(j, pe, false);
		return true;
	}
	j->state = JOB_QUEUED;
	if (was_first) {
		admission_push_front(&rt->waiting, &j->ticket, rt->cfg->queue_timeout,
		                     on_worker_wait_expired);
	} else if (!admission_enqueue(&rt->waiting, &j->ticket, (unsigned)rt->cfg->queue,
	                              rt->cfg->queue_timeout, on_worker_wait_expired)) {
		rt->rejected++;
		log_warn(j->r->id, "pool %s: %u busy and %u queued: 503", rt->cfg->name,
		         peers_in(rt, PEER_BUSY), rt->waiting.waiting);
		struct request *r = j->r;
		job_detach(j);
		job_free(j);
		admission_refuse(r);
		return true;
	}
	waiting_sync(rt);
	if (!was_first)
		request_timing_queued(j->r); /* its wait goes on from when it began */
	rt->peers->src->demand(rt->peers);
	backlog_fill(rt);
	return false;
}

struct behind_pick {
	unsigned long max_requests;
	bool shared; /* on the job's connection (a protocol that keeps them) */
	struct peer *best;
};

/* May pe take a request behind its job: in its socket's backlog, or on its
 * job's connection, all of that job's request written there, kept after it
 * (FCGI_KEEP_CONN), no stray answer to come on it. */
static bool takes_behind(const struct behind_pick *k, struct peer *pe)
{
	if (!k->shared)
		return pe->has_backlog;
	struct upstream_job *j = pe->job;
	struct upstream_conn *c = j->conn;
	return pe->multiplexes && c && c == pe->conn && c->job == j && !c->behind && !c->stray_id &&
	       j->body_ended && upstream_job_keeps_connection(j);
}

static void behind_consider(const struct peer_facts *f, void *arg)
{
	struct behind_pick *k = arg;
	struct peer *pe = f->peer;
	if (!pe || f->state != PEER_BUSY || !pe->job || pe->next_job || !takes_behind(k, pe))
		return;
	if (k->max_requests && f->requests + 2 > k->max_requests)
		return; /* due for recycling before it would come to a request behind */
	if (!k->best || pe->busy_since < k->best->busy_since)
		k->best = pe;
}

/* A busy peer that may take one more request behind the one it serves: one
 * process on a socket of its own, in service, not due for recycling within
 * two requests, of a source that will start no peer for a waiting request
 * (it would serve it sooner); the one busy longest. NULL if none. */
static struct peer *behind_pick(struct pool_rt *rt)
{
	struct source_facts f;
	peers_facts(rt->peers, &f);
	if (f.draining || f.grows)
		return NULL;
	struct behind_pick k = { .max_requests = f.max_requests,
		                 .shared = rt->proto->keeps_connection };
	rt->peers->src->each(rt->peers, behind_consider, &k);
	return k.best;
}

/* A worker serves one request at a time. Sending it the next while it
 * still serves one lets it start on that the moment it is done, instead of
 * waiting for the dispatcher's turn (the hand-off bubble): a uwsgi worker
 * finds it in its socket's backlog, a FastCGI one that multiplexes (as
 * gatewayd-wsgi says it does) behind the current request on the kept
 * connection, whole and kept (its body all come, in memory, small enough to
 * go to another worker if this one refuses it). One deep: a queue in the
 * dispatcher still goes to whichever worker frees up first. */
static bool sendable_behind(const struct pool_rt *rt)
{
	struct upstream_job *j = job_of_ticket(rt->waiting.head);
	return !rt->proto->keeps_connection || (j->r && exchange_body_whole_again(j->r));
}

static void backlog_fill(struct pool_rt *rt)
{
	struct peer *pe;
	while (rt->waiting.head && sendable_behind(rt) && (pe = behind_pick(rt))) {
		struct upstream_job *j = queue_pop(rt);
		if (!job_start_on(j, pe, true)) {
			admission_push_front(&rt->waiting, &j->ticket, rt->cfg->queue_timeout,
			                     on_worker_wait_expired);
			waiting_sync(rt);
			return;
		}
	}
}

/* The connection failed under a job: retry elsewhere when the peer cannot
 * have acted on it, else 502. */
void job_conn_failed(struct upstream_job *j, int err)
{
	struct pool_rt *rt = j->rt;
	struct peer *pe = j->pe;
	const char *why = err ? strerror(err) : "connection closed";
	bool behind = job_behind(j), retry = job_may_retry(j, err);
	const char *before = behind                    ? "it took the request"
	                     : j->conn->conn.wrote_any ? "it read the whole request"
	                                               : "the request was sent";
	struct upstream_job *orphan = behind_detach(j->conn);
	conn_close(&j->conn->conn);
	j->conn = NULL;
	j->pe = NULL;
	if (pe && behind)
		pe->next_job = NULL;
	else if (pe)
		pe->job = NULL;
	if (retry) {
		log_warn(j->r->id, "%s: %s before %s: trying another worker", j->who, why, before);
		if (pe && !behind)
			peer_failed(pe, why);
		job_retry(j, !behind); /* its own job: not read whole (job_may_retry) */
		if (orphan)
			job_orphaned(orphan);
		return;
	}
	if (j->r) {
		log_error(j->r->id, "%s: %s in mid-request: 502", j->who, why);
		rt->errors++;
		job_fail(j, 502, NULL);
	}
	if (pe && !behind && pe->next_job) {
		peer_abandon(pe, why); /* the request behind goes elsewhere once it is gone */
	} else if (pe && !behind) {
		peer_served(pe);
		peer_release(pe);
	}
	job_free(j);
	if (orphan)
		job_orphaned(orphan);
}

void peer_multiplexes(struct pool_rt *rt, struct peer *pe, bool yes)
{
	pe->multiplexes = yes;
	if (yes && rt->waiting.head)
		dispatch_soon(rt);
}

void job_refused_behind(struct upstream_job *j, int why)
{
	struct peer *pe = j->pe;
	if (pe)
		pe->multiplexes = false;
	if (j->state == JOB_RECEIVING || j->heard || j->body_taken) {
		/* it answered, or took body bytes no other worker could get */
		if (j->r) {
			log_error(j->r->id,
			          "%s refused this request (FastCGI status %d) after it began: 502",
			          j->who, why);
			j->rt->errors++;
			job_fail(j, 502, NULL);
		}
		job_finish(j, true); /* the refusal ended it cleanly on the connection */
		return;
	}
	log_warn(j->r ? j->r->id : NULL,
	         "%s would not take this request behind another (FastCGI status %d): trying "
	         "it elsewhere",
	         j->who, why);
	behind_detach(j->conn);
	j->pe = NULL;
	if (!j->r) {
		job_free(j);
		return;
	}
	job_retry(j, true); /* it never ran: no attempt spent */
}

/* ---- what the peers tell the engine (struct peer_hooks) ------------------ */

static void on_peer_idle(void *owner)
{
	struct pool_rt *rt = owner;
	if (rt->waiting.head)
		dispatch_soon(rt);
}

static bool on_peer_stopping(void *owner, struct peer *pe)
{
	struct upstream_conn *c = pe->conn;
	if (c && !c->job)
		conn_close(&c->conn);
	return true;
}

/* The job behind a peer that is gone: to another peer if it may, or 502. */
static void job_orphaned(struct upstream_job *next)
{
	struct pool_rt *rt = next->rt;
	bool retry = job_may_retry(next, 0);
	next->pe = NULL;
	if (next->conn && next->conn->behind == next) {
		next->conn->stray_id = true; /* the job before it goes on alone */
		behind_detach(next->conn);
	} else if (next->conn) {
		conn_close(&next->conn->conn);
	}
	if (retry) {
		log_warn(next->r->id,
		         "%s is gone before it took this request: trying another worker",
		         next->who);
		job_retry(next, false);
		return;
	}
	if (next->r) {
		log_error(next->r->id, "%s is gone with this request in its backlog: 502",
		          next->who);
		rt->errors++;
		job_fail(next, 502, NULL);
	}
	job_free(next);
}

/* What a dead peer left on c (job_may_retry): EAGAIN while it waits in the
 * socket's backlog, ECONNRESET if the peer closed it with what was sent not
 * all read (the kernel says so at once), 0 for a close or an answer. */
static int conn_left_error(struct upstream_conn *c)
{
	char b;
	if (c->conn.closed || recv(c->conn.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0)
		return 0;
	return errno == EWOULDBLOCK ? EAGAIN : errno;
}

static void on_peer_gone(void *owner, struct peer *pe, int st)
{
	struct pool_rt *rt = owner;
	if (gw->stopping)
		ev_feed_event(gw->loop, &stop_check, EV_CUSTOM);
	if (!pe)
		return;
	/* Its exit is often seen before the end of its connection is read: the
	 * connection says how the job ends. */
	struct upstream_job *j = pe->job;
	int err = j && j->conn ? conn_left_error(j->conn) : 0;
	if (j && j->conn && err != EAGAIN) {
		struct upstream_conn *c = j->conn;
		c->pe = NULL;
		if (pe->conn == c)
			pe->conn = NULL;
		pe->job = NULL;
		j->pe = NULL;
		/* The reset the peek took; else what it sent (its whole answer,
		 * often), then its close. */
		if (err)
			job_conn_failed(j, err);
		else
			conn_read_soon(&c->conn);
	} else if (j && j->conn && job_may_retry(j, err)) {
		log_warn(j->r->id,
		         "%s exited before it read any of the request: trying another worker",
		         j->who);
		conn_close(&j->conn->conn); /* and off pe and j (exchange.c's on_release) */
		j->pe = NULL;
		pe->job = NULL;
		job_retry(j, true); /* never accepted (job_may_retry) */
	}
	if (pe->conn) {
		struct upstream_conn *c = pe->conn;
		c->pe = NULL;
		c->job = NULL;
		conn_close(&c->conn);
	}
	if (pe->next_job) {
		struct upstream_job *next = pe->next_job;
		pe->next_job = NULL;
		job_orphaned(next);
	}
	j = pe->job;
	if (!j)
		return;
	pe->job = NULL;
	j->pe = NULL;
	j->conn = NULL;
	if (j->r) {
		if (WIFSIGNALED(st))
			log_error(j->r->id, "%s died of signal %d while serving this request: 502",
			          j->who, WTERMSIG(st));
		else
			log_error(j->r->id, "%s exited (status %d) while serving this request: 502",
			          j->who, WEXITSTATUS(st));
		rt->errors++;
		job_fail(j, 502, NULL);
	}
	job_free(j);
}

const struct peer_hooks upstream_peer_hooks = {
	.idle = on_peer_idle,
	.stopping = on_peer_stopping,
	.gone = on_peer_gone,
};

/* Idle peers meet waiting requests here, outside any other callback. */
void upstream_dispatch(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct pool_rt *rt = w->data;
	struct upstream_job *j;
	while (peers_in(rt, PEER_IDLE) > 0 && (j = queue_pop(rt)))
		if (!job_try_assign(j, true))
			break; /* the idle one was taken meanwhile: j waits first again */
	backlog_fill(rt);
}

struct request *upstream_job_request(struct upstream_job *j)
{
	return j->r;
}

bool upstream_job_body_ended(const struct upstream_job *j)
{
	return j->body_ended;
}

unsigned upstream_job_request_id(const struct upstream_job *j)
{
	return j->request_id;
}

bool upstream_job_keeps_connection(struct upstream_job *j)
{
	return j->rt->proto->keeps_connection && j->pe && j->pe->keeps_connection;
}

union upstream_proto_state *upstream_job_proto(struct upstream_job *j)
{
	return &j->proto;
}

void upstream_requeue(struct pool_rt *from, struct pool_rt *to)
{
	for (struct admission_ticket *t = from->waiting.head; t; t = t->next) {
		struct upstream_job *j = job_of_ticket(t);
		from->jobs--;
		to->jobs++;
		j->rt = to;
	}
	admission_move_all(&from->waiting, &to->waiting);
	waiting_sync(from);
	waiting_sync(to);
	to->peers->src->demand(to->peers);
	if (peers_in(to, PEER_IDLE))
		dispatch_soon(to);
}

const char *upstream_job_uri(const struct upstream_job *j)
{
	return j && j->r ? cgi_env_get(&j->r->env, "REQUEST_URI") : NULL;
}

/* ---- the job API the pool handler uses ----------------------------------- */

void upstream_submit(struct pool_rt *rt, struct request *r)
{
	struct upstream_job *j = calloc(1, sizeof *j);
	if (!j) {
		request_error(r, 500, NULL);
		return;
	}
	j->r = r;
	j->rt = rt;
	rt->jobs++;
	ev_init(&j->timer, on_job_timer);
	j->timer.data = j;
	r->handler_ctx = j;
	job_try_assign(j, false);
}

void upstream_job_body(struct upstream_job *j)
{
	switch (j->state) {
	case JOB_QUEUED:
		/* the body waits in the request until a worker takes the job; whole,
		 * the job may go behind another (backlog_fill) */
		if (j->r->body_complete)
			backlog_fill(j->rt);
		break;
	case JOB_BEHIND:
	case JOB_SENDING:
	case JOB_RECEIVING:
		exchange_pump(j);
		break;
	}
}

void upstream_job_drained(struct upstream_job *j)
{
	if (j->conn)
		conn_set_reading(&j->conn->conn, true);
}

bool job_tell_let_go(struct upstream_job *j)
{
	if (!j->conn || j->rt->proto->abort(j, &j->conn->conn.out) == UPSTREAM_ABORT_CLOSE)
		return false;
	j->body_ended = true; /* what abort appended told the worker */
	conn_want_write(&j->conn->conn);
	conn_set_reading(&j->conn->conn, true);
	return true;
}

void upstream_job_abort(struct upstream_job *j)
{
	job_detach(j);
	switch (j->state) {
	case JOB_QUEUED:
		job_free(j);
		return;
	case JOB_BEHIND:
	case JOB_SENDING:
	case JOB_RECEIVING:
		break;
	}
	if (!job_tell_let_go(j))
		job_finish(j, false);
}
