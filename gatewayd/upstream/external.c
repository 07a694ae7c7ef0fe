/* External addresses as peers: N slots per address, in the order the
 * addresses were given, the first idle one taken. */
#include "gatewayd/upstream/external.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/core/log.h"

struct slot {
	struct peer peer; /* first */
	struct external *ext;
	unsigned n; /* "name#n" in logs and status */
	enum peer_state state; /* idle, busy, or dead: resting after a failure, or drained */
	char address[128];
	unsigned long requests;
	ev_tstamp started_at;
	ev_tstamp state_since;
	ev_timer rest; /* out of service until it fires */
	struct slot *next;
};

struct external {
	struct peers ps; /* first */
	char *name;
	double rest;
	struct slot *slots;
	unsigned count[PEER_NSTATES];
	unsigned long served;
	unsigned waiting;
	bool draining;
};

static struct external *external_of(const struct peers *ps)
{
	return (struct external *)ps;
}

static struct slot *slot_of(const struct peer *pe)
{
	return pe->own;
}

static void set_state(struct external *x, struct slot *s, enum peer_state st)
{
	x->count[s->state]--;
	s->state = st;
	x->count[st]++;
	s->state_since = ev_now(x->ps.loop);
}

/* A rest is over: the slot is back in service. */
static void on_rest(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct slot *s = t->data;
	struct external *x = s->ext;
	if (s->state != PEER_DEAD || x->draining)
		return;
	set_state(x, s, PEER_IDLE);
	x->ps.hooks->idle(x->ps.owner);
}

/* ---- get and free ------------------------------------------------------ */

static struct peer *take(struct peers *ps)
{
	struct external *x = external_of(ps);
	for (struct slot *s = x->slots; s; s = s->next) {
		if (s->state == PEER_IDLE) {
			set_state(x, s, PEER_BUSY);
			return &s->peer;
		}
	}
	return NULL;
}

static void served(struct peers *ps, struct peer *pe)
{
	slot_of(pe)->requests++;
	external_of(ps)->served++;
}

/* Seconds left of the rest of another slot of s's address; 0 if none rests. */
static double address_resting(const struct external *x, const struct slot *s)
{
	for (const struct slot *o = x->slots; o; o = o->next)
		if (o != s && o->state == PEER_DEAD && ev_is_active(&o->rest) &&
		    strcmp(o->address, s->address) == 0)
			return ev_timer_remaining(x->ps.loop, (ev_timer *)&o->rest);
	return 0;
}

static void release(struct peers *ps, struct peer *pe)
{
	struct external *x = external_of(ps);
	struct slot *s = slot_of(pe);
	if (s->state != PEER_BUSY)
		return;
	if (x->draining && x->waiting == 0) {
		set_state(x, s, PEER_DEAD);
		return;
	}
	/* Busy while its address failed (its own request cut short, say): it
	 * rests with the others, or a waiting request would try it, be
	 * refused, and spend one of its attempts. */
	double left = address_resting(x, s);
	if (left > 0) {
		set_state(x, s, PEER_DEAD);
		ev_timer_set(&s->rest, left, 0);
		ev_timer_start(ps->loop, &s->rest);
		return;
	}
	set_state(x, s, PEER_IDLE);
	x->ps.hooks->idle(x->ps.owner);
}

/* The address failed: its slots rest, pe's and every idle one; a busy slot
 * of the address finds out for itself. */
static void failed(struct peers *ps, struct peer *pe, const char *why)
{
	struct external *x = external_of(ps);
	const char *address = pe->address;
	log_warn(NULL, "%s: %s failed: out of service for %g s", x->name, address, x->rest);
	for (struct slot *s = x->slots; s; s = s->next) {
		if (strcmp(s->address, address) != 0 || s->state == PEER_DEAD)
			continue;
		if (&s->peer != pe && s->state == PEER_BUSY)
			continue;
		set_state(x, s, PEER_DEAD);
		ev_timer_stop(ps->loop, &s->rest);
		ev_timer_set(&s->rest, x->rest, 0);
		ev_timer_start(ps->loop, &s->rest);
	}
}

/* A slow request is not a dead address, and the process is not ours to
 * kill: the engine closed the connection; the slot is free again. */
static void abandon(struct peers *ps, struct peer *pe, const char *why)
{
	served(ps, pe);
	release(ps, pe);
}

/* ---- facts --------------------------------------------------------------- */

static void each(const struct peers *ps, peer_facts_fn *fn, void *arg)
{
	for (struct slot *s = external_of(ps)->slots; s; s = s->next) {
		struct peer_facts f = {
			.slot = s->n,
			.state = s->state,
			.address = s->address,
			.requests = s->requests,
			.started_at = s->started_at,
			.state_since = s->state_since,
			.peer = &s->peer,
		};
		fn(&f, arg);
	}
}

static void facts(const struct peers *ps, struct source_facts *f)
{
	const struct external *x = external_of(ps);
	memset(f, 0, sizeof *f);
	memcpy(f->count, x->count, sizeof f->count);
	f->served = x->served;
	f->draining = x->draining;
}

/* ---- demand and life ------------------------------------------------------ */

static void set_waiting(struct peers *ps, unsigned n)
{
	external_of(ps)->waiting = n;
}

static void demand(struct peers *ps)
{
	/* Nothing to start: the addresses are what they are. */
}

static void drain(struct peers *ps)
{
	struct external *x = external_of(ps);
	x->draining = true;
	for (struct slot *s = x->slots; s; s = s->next) {
		ev_timer_stop(ps->loop, &s->rest);
		if (s->state == PEER_IDLE)
			set_state(x, s, PEER_DEAD);
	}
}

static void kill_all(struct peers *ps)
{
	/* No process here is ours. */
}

static void free_all(struct peers *ps)
{
	struct external *x = external_of(ps);
	while (x->slots) {
		struct slot *s = x->slots;
		x->slots = s->next;
		ev_timer_stop(ps->loop, &s->rest);
		free(s);
	}
	free(x->name);
	free(x);
}

/* clang-format off */
static const struct peer_source external_source = {
	.kind = "external", .take = take, .served = served, .release = release, .failed = failed,
	.abandon = abandon, .each = each, .facts = facts, .set_waiting = set_waiting,
	.demand = demand, .drain = drain, .kill_all = kill_all, .free = free_all
};
/* clang-format on */

/* Slot n for address, at *tail. */
static struct slot *slot_new(struct external *x, const char *address, unsigned n,
                             struct slot ***tail)
{
	struct slot *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->ext = x;
	s->n = n;
	snprintf(s->address, sizeof s->address, "%s", address);
	s->state = PEER_IDLE;
	x->count[PEER_IDLE]++;
	s->started_at = s->state_since = ev_now(x->ps.loop);
	ev_init(&s->rest, on_rest);
	s->rest.data = s;
	s->peer = (struct peer){ .from = &x->ps, .own = s, .address = s->address };
	snprintf(s->peer.who, sizeof s->peer.who, "%s#%u (%s)", x->name, n, address);
	**tail = s;
	*tail = &s->next;
	return s;
}

struct peers *external_start(struct ev_loop *loop, const char *name, char *const *addresses,
                             int connections, double rest, const struct peer_hooks *hooks,
                             void *owner)
{
	struct external *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	x->ps = (struct peers){
		.src = &external_source, .hooks = hooks, .owner = owner, .loop = loop
	};
	x->rest = rest;
	x->name = strdup(name);
	struct slot **tail = &x->slots;
	unsigned n = 0;
	bool ok = x->name != NULL;
	for (char *const *a = addresses; ok && a && *a; a++)
		for (int i = 0; ok && i < connections; i++)
			ok = slot_new(x, *a, n++, &tail) != NULL;
	if (!ok) {
		free_all(&x->ps);
		return NULL;
	}
	return &x->ps;
}
