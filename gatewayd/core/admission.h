/* The one admission queue: requests waiting for something to run them (a CGI
 * route's child slot, a pool's worker), bounded in length and in time. A
 * request that finds it full, or whose deadline passes in it, is answered 503
 * with Retry-After. The owner embeds a ticket in its job and gets it back from
 * admission_pop() (or in its expired callback) to find the job again. */
#ifndef GW_ADMISSION_H
#define GW_ADMISSION_H

#include <ev.h>
#include <stdbool.h>

struct request;
struct admission_ticket;

typedef void admission_expired_fn(struct admission_ticket *t);

struct admission_ticket {
	struct admission_ticket *next;
	struct admission *queue; /* the queue it waits in, NULL when it waits in none */
	ev_timer deadline;
	admission_expired_fn *expired;
};

struct admission {
	struct admission_ticket *head, *tail;
	unsigned waiting;
};

/* Queue t at the tail when fewer than max wait, with timeout seconds to get
 * out; expired(t) runs if it does not (t already out of the queue). false:
 * the queue is full, t is not queued. */
bool admission_enqueue(struct admission *q, struct admission_ticket *t, unsigned max,
                       double timeout, admission_expired_fn *expired);
/* Put t back at the head (it was taken, but could not be started), with a
 * fresh timeout. */
void admission_push_front(struct admission *q, struct admission_ticket *t, double timeout,
                          admission_expired_fn *expired);
/* The oldest waiting ticket, out of the queue (its deadline stopped); NULL. */
struct admission_ticket *admission_pop(struct admission *q);
/* Take t out of whatever queue it waits in (no-op when none). */
void admission_remove(struct admission_ticket *t);
/* Every ticket of from to the tail of to, in order, deadlines running on. */
void admission_move_all(struct admission *from, struct admission *to);

/* Answer r 503 with Retry-After, as every refusal to queue or to wait longer does. */
void admission_refuse(struct request *r);

#endif
