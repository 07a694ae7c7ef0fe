#include "gatewayd/core/admission.h"

#include "gatewayd/core/server.h"
#include "gatewayd/request/request.h"

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct admission_ticket *t = w->data;
	admission_remove(t);
	t->expired(t);
}

static void arm(struct admission_ticket *t, struct admission *q, double timeout,
                admission_expired_fn *expired)
{
	t->queue = q;
	t->expired = expired;
	q->waiting++;
	ev_timer_stop(gw->loop, &t->deadline);
	ev_timer_init(&t->deadline, on_deadline, timeout, 0);
	t->deadline.data = t;
	ev_timer_start(gw->loop, &t->deadline);
}

bool admission_enqueue(struct admission *q, struct admission_ticket *t, unsigned max,
                       double timeout, admission_expired_fn *expired)
{
	if (q->waiting >= max)
		return false;
	t->next = NULL;
	if (q->tail)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
	arm(t, q, timeout, expired);
	return true;
}

void admission_push_front(struct admission *q, struct admission_ticket *t, double timeout,
                          admission_expired_fn *expired)
{
	t->next = q->head;
	q->head = t;
	if (!q->tail)
		q->tail = t;
	arm(t, q, timeout, expired);
}

struct admission_ticket *admission_pop(struct admission *q)
{
	struct admission_ticket *t = q->head;
	if (t)
		admission_remove(t);
	return t;
}

void admission_remove(struct admission_ticket *t)
{
	struct admission *q = t->queue;
	if (!q)
		return;
	struct admission_ticket **pp = &q->head, *prev = NULL;
	while (*pp && *pp != t) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp) {
		*pp = t->next;
		if (q->tail == t)
			q->tail = prev;
		q->waiting--;
	}
	t->next = NULL;
	t->queue = NULL;
	ev_timer_stop(gw->loop, &t->deadline);
}

void admission_move_all(struct admission *from, struct admission *to)
{
	while (from->head) {
		struct admission_ticket *t = from->head;
		from->head = t->next;
		t->next = NULL;
		t->queue = to;
		if (to->tail)
			to->tail->next = t;
		else
			to->head = t;
		to->tail = t;
		to->waiting++;
	}
	from->tail = NULL;
	from->waiting = 0;
}

void admission_refuse(struct request *r)
{
	request_error(r, 503, "Retry-After: 1");
}
