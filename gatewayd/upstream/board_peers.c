/* A dispatcher's side of the pools' board (pool_board.h): the workers the
 * master supervises, as peers. Taking one is a claim on the board, so no
 * request here waits while a worker of the pool is idle, whichever
 * dispatcher's it was last; a connection is not kept past its request (a
 * worker serves one connection at a time, and the next claim may be another
 * dispatcher's). While requests wait here, this dispatcher's bit is set in
 * the pool's waiters, and whoever frees a worker (another dispatcher giving
 * one back, the master starting one) rings its bell (core/dispatchers.h);
 * the board is also looked at every 2 ms, in case a ring went to a
 * dispatcher that no longer needed it. */
#include "gatewayd/upstream/board_peers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/core/dispatchers.h"
#include "gatewayd/core/log.h"

#define POLL_EVERY 0.002

struct bpeer {
	struct peer pe; /* first */
	int index;
	uint32_t incarnation;
	bool held; /* taken, not yet given back */
	bool stale; /* its slot has another process now: freed when given back */
};

struct board_peers {
	struct peers ps; /* first */
	char name[64];
	struct bpeer *peers[BOARD_WORKERS];
	unsigned waiting;
	ev_timer poll;
	struct board_peers *next; /* every source of this dispatcher, for the bell */
};

static struct board_peers *all;

/* Our bell rang: a worker came free somewhere; every pool with requests
 * waiting looks. */
static void on_rang(void)
{
	for (struct board_peers *bs = all; bs; bs = bs->next)
		if (bs->waiting)
			bs->ps.hooks->idle(bs->ps.owner);
}

static struct board_peers *of(const struct peers *ps)
{
	return (struct board_peers *)ps;
}

/* The live entry: a reload may have put a new one for this name. */
static struct board_pool *entry(const struct board_peers *bs)
{
	return board_find(bs->name);
}

static struct bpeer *peer_for(struct board_peers *bs, struct board_pool *bp, int i)
{
	struct board_worker *bw = &bp->w[i];
	struct bpeer *b = bs->peers[i];
	if (b && b->pe.own == bw && b->incarnation == bw->incarnation)
		return b; /* the same process in the same entry (a reload makes a new one) */
	if (b) {
		if (b->held)
			b->stale = true;
		else
			free(b);
	}
	b = calloc(1, sizeof *b);
	bs->peers[i] = b;
	if (!b)
		return NULL;
	b->index = i;
	b->incarnation = bw->incarnation;
	b->pe.from = &bs->ps;
	b->pe.own = bw;
	b->pe.address = bw->address;
	/* One process on a socket of its own: a uwsgi request may wait in its
	 * backlog behind the one it serves (engine.c), under the same claim. */
	b->pe.has_backlog = true;
	snprintf(b->pe.who, sizeof b->pe.who, "%s#%d (pid %d)", bs->name, i, (int)bw->pid);
	return b;
}

static struct peer *take(struct peers *ps)
{
	struct board_peers *bs = of(ps);
	struct board_pool *bp = entry(bs);
	for (int i = 0, top = bp ? bp->top : 0; i < top; i++) {
		if (!board_claim(&bp->w[i]))
			continue;
		struct bpeer *b = peer_for(bs, bp, i);
		if (!b) {
			board_release(&bp->w[i], 0);
			return NULL;
		}
		b->held = true;
		return &b->pe;
	}
	return NULL;
}

static void served(struct peers *ps, struct peer *pe)
{
	atomic_fetch_add(&((struct board_worker *)pe->own)->served, 1);
}

static void give_back(struct peers *ps, struct peer *pe, bool kill)
{
	struct bpeer *b = (struct bpeer *)pe;
	struct board_worker *bw = pe->own;
	const struct board_pool *bp = entry(of(ps));
	/* Served its max_requests: no one takes it again; the master recycles it. */
	bool used_up = bp && bp->max_requests && bw->served >= bp->max_requests;
	board_release(bw, (kill ? BOARD_KILL : 0) | (used_up ? BOARD_RETIRE : 0));
	b->held = false;
	if (b->stale)
		free(b);
	ps->hooks->idle(ps->owner); /* a request here may take it at once */
	/* Our own waiting requests take it (on the next loop turn); else one
	 * waiting elsewhere. */
	struct board_pool *live = entry(of(ps));
	if (live && !kill && !used_up && !of(ps)->waiting)
		board_ring_waiter(live, bw, dispatcher_index());
}

static void release(struct peers *ps, struct peer *pe)
{
	give_back(ps, pe, false);
}

/* The master kills and replaces it. */
static void kill_it(struct peers *ps, struct peer *pe, const char *why)
{
	log_warn(NULL, "%s: %s; the master replaces it", pe->who, why);
	give_back(ps, pe, true);
}

static enum peer_state state_of(uint32_t word)
{
	switch (BOARD_STATE(word)) {
	case BOARD_STARTING:
		return PEER_STARTING;
	case BOARD_READY:
		return (word & BOARD_CLAIMS) ? PEER_BUSY : PEER_IDLE;
	case BOARD_DRAINING:
		return PEER_DRAINING;
	default:
		return PEER_DEAD;
	}
}

static void each(const struct peers *ps, peer_facts_fn *fn, void *arg)
{
	const struct board_peers *bs = of(ps);
	const struct board_pool *bp = entry(bs);
	for (int i = 0, top = bp ? bp->top : 0; i < top; i++) {
		const struct board_worker *bw = &bp->w[i];
		uint32_t word = bw->word;
		if (BOARD_STATE(word) == BOARD_EMPTY || BOARD_STATE(word) == BOARD_DEAD)
			continue;
		struct peer_facts f = {
			.slot = (unsigned)i,
			.state = state_of(word),
			.address = bw->address,
			.pid = bw->pid,
			.requests = (unsigned long)bw->served,
			.started_at = bw->started_at,
			.state_since = bw->state_since,
			.peer = bs->peers[i] ? &bs->peers[i]->pe : NULL,
		};
		fn(&f, arg);
	}
}

static void facts(const struct peers *ps, struct source_facts *f)
{
	const struct board_pool *bp = entry(of(ps));
	memset(f, 0, sizeof *f);
	for (int i = 0, top = bp ? bp->top : 0; i < top; i++) {
		uint32_t word = bp->w[i].word;
		if (BOARD_STATE(word) == BOARD_EMPTY || BOARD_STATE(word) == BOARD_DEAD)
			continue;
		f->count[state_of(word)]++;
	}
	/* alive counts processes of ours: these are the master's, and a
	 * dispatcher's stop must not wait for them. */
	if (!bp)
		return;
	f->served = bp->served;
	f->spawns = bp->spawns;
	f->crashes = bp->crashes;
	f->max_requests = bp->max_requests;
	f->grows = bp->grows;
	f->draining = bp->draining;
}

static void on_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct board_peers *bs = t->data;
	bs->ps.hooks->idle(bs->ps.owner);
}

static void set_waiting(struct peers *ps, unsigned n)
{
	struct board_peers *bs = of(ps);
	struct board_pool *bp = entry(bs);
	if (bp) {
		atomic_fetch_add(&bp->waiting, (int)n - (int)bs->waiting);
		if (!n != !bs->waiting)
			board_set_waiter(bp, dispatcher_index(), n > 0);
	}
	bs->waiting = n;
	if (n > 0 && !ev_is_active(&bs->poll))
		ev_timer_start(ps->loop, &bs->poll);
	else if (n == 0)
		ev_timer_stop(ps->loop, &bs->poll);
}

/* The master grows, drains and kills: nothing of that is a dispatcher's. */
static void nothing(struct peers *ps) {}

static void free_all(struct peers *ps)
{
	struct board_peers *bs = of(ps);
	set_waiting(ps, 0);
	for (struct board_peers **p = &all; *p; p = &(*p)->next)
		if (*p == bs) {
			*p = bs->next;
			break;
		}
	for (int i = 0; i < BOARD_WORKERS; i++)
		free(bs->peers[i]);
	free(bs);
}

/* clang-format off */
static const struct peer_source board_source = {
	.kind = "workers", .take = take, .served = served, .release = release, .failed = kill_it,
	.abandon = kill_it, .each = each, .facts = facts, .set_waiting = set_waiting,
	.demand = nothing, .drain = nothing, .kill_all = nothing, .free = free_all
};
/* clang-format on */

struct peers *board_peers_start(struct ev_loop *loop, const char *name,
                                const struct peer_hooks *hooks, void *owner)
{
	struct board_peers *bs = calloc(1, sizeof *bs);
	if (!bs)
		return NULL;
	bs->ps = (struct peers){
		.src = &board_source, .hooks = hooks, .owner = owner, .loop = loop
	};
	snprintf(bs->name, sizeof bs->name, "%s", name);
	ev_timer_init(&bs->poll, on_poll, POLL_EVERY, POLL_EVERY);
	bs->poll.data = bs;
	int rc = dispatcher_bell_listen(loop, on_rang);
	if (rc < 0 && rc != -ENOENT)
		log_warn(NULL, "pool %s: no bell (%s): waiting requests look every %.0f ms", name,
		         strerror(-rc), POLL_EVERY * 1000);
	bs->next = all;
	all = bs;
	return &bs->ps;
}
