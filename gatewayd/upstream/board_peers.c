/* A dispatcher's side of the pools' board (pool_board.h): the workers the
 * master supervises, as peers. Taking one is a claim on the board, so no
 * request here waits while a worker of the pool is idle, whichever
 * dispatcher's it was last; a connection is not kept past its request (a
 * worker serves one connection at a time, and the next claim may be another
 * dispatcher's), except from one request to the next waiting here while no
 * other dispatcher waits for the pool: then the claim, and the connection
 * with it, go on to that request (kept). While requests wait here, this
 * dispatcher's bit is set in
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
	bool kept; /* held for the next request waiting here, its connection open */
	bool stale; /* its slot has another process now: freed when given back */
};

struct board_peers {
	struct peers ps; /* first */
	char name[64];
	int protocol;
	struct bpeer *peers[BOARD_WORKERS];
	unsigned waiting;
	struct board_pool *waiting_on; /* the entry that has our count (record_waiting) */
	unsigned nkept; /* peers kept (give_back): take() looks for them first */
	ev_timer poll;
	ev_check let_go; /* after the loop turn that could have used a kept peer */
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
	return board_find(bs->name, bs->protocol);
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
	b->pe.keeps_connection = true; /* while it is kept (give_back) */
	snprintf(b->pe.who, sizeof b->pe.who, "%s#%d (pid %d)", bs->name, i, (int)bw->pid);
	return b;
}

static struct peer *take(struct peers *ps)
{
	struct board_peers *bs = of(ps);
	for (int i = 0; bs->nkept && i < BOARD_WORKERS; i++) {
		struct bpeer *b = bs->peers[i];
		if (b && b->kept) {
			b->kept = false;
			bs->nkept--;
			return &b->pe;
		}
	}
	struct board_pool *bp = entry(bs);
	for (int i = 0, top = bp ? bp->top : 0; i < top; i++) {
		if (!board_claim(&bp->w[i], dispatcher_index()))
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

/* Whether this dispatcher may keep one more worker while others wait too:
 * the workers it holds, this one included, are within its share of the
 * ready ones among the dispatchers waiting. */
static bool within_share(const struct board_peers *bs, const struct board_pool *bp)
{
	int ready = 0, held = 0, waiters = 0;
	for (int i = 0, top = bp->top; i < top; i++) {
		uint32_t w = bp->w[i].word;
		ready += BOARD_STATE(w) == BOARD_READY && !(w & (BOARD_RETIRE | BOARD_KILL));
		held += bs->peers[i] && bs->peers[i]->held;
	}
	for (int i = 0; i < BOARD_DISPATCHERS / 64; i++)
		waiters += __builtin_popcountll(atomic_load(&bp->waiters[i]));
	return waiters > 0 && held * waiters <= ready;
}

static void give_back(struct peers *ps, struct peer *pe, bool kill, bool may_keep)
{
	struct board_peers *bs = of(ps);
	struct bpeer *b = (struct bpeer *)pe;
	struct board_worker *bw = pe->own;
	struct board_pool *bp = entry(bs);
	/* Served its max_requests: no one takes it again; the master recycles it. */
	bool used_up = bp && bp->max_requests && bw->served >= bp->max_requests;
	bool others = bp && board_others_wait(bp, dispatcher_index());
	if (may_keep && !kill && !used_up && !b->stale && bp && bs->waiting &&
	    (!others || within_share(bs, bp))) {
		if (!b->kept)
			bs->nkept++;
		b->kept = true; /* take() hands it to the next request here */
		ev_check_start(ps->loop, &bs->let_go);
		ps->hooks->idle(ps->owner);
		return;
	}
	/* A worker serves one connection at a time: ours goes before the claim. */
	ps->hooks->stopping(ps->owner, pe);
	if (b->kept)
		bs->nkept--;
	b->kept = false;
	board_release(bw, (kill ? BOARD_KILL : 0) | (used_up ? BOARD_RETIRE : 0));
	b->held = false;
	if (b->stale)
		free(b);
	if (bp && !kill && !used_up && others)
		board_ring_waiter(bp, bw, dispatcher_index()); /* its turn: past our share */
	else
		ps->hooks->idle(ps->owner); /* a request here may take it at once */
}

/* A kept peer no request here took (it left, or timed out): let it go. */
static void on_let_go(struct ev_loop *loop, ev_check *w, int revents)
{
	struct board_peers *bs = w->data;
	ev_check_stop(loop, w);
	for (int i = 0; bs->nkept && i < BOARD_WORKERS; i++) {
		struct bpeer *b = bs->peers[i];
		if (b && b->kept) {
			give_back(&bs->ps, &b->pe, false, false);
		}
	}
}

static void release(struct peers *ps, struct peer *pe)
{
	give_back(ps, pe, false, true);
}

/* The master kills and replaces it. */
static void kill_it(struct peers *ps, struct peer *pe, const char *why)
{
	log_warn(NULL, "%s: %s; the master replaces it", pe->who, why);
	give_back(ps, pe, true, false);
}

static enum peer_state state_of(uint32_t word)
{
	switch (BOARD_STATE(word)) {
	case BOARD_STARTING:
		return PEER_STARTING;
	case BOARD_READY:
		if (word & BOARD_CLAIMS)
			return PEER_BUSY;
		/* Retired (used up) or to be killed, not yet stopped by the master:
		 * no claim can take it. Counted idle, it kept the engine's dispatch
		 * loop going round the queue until the master's next look. */
		return (word & (BOARD_RETIRE | BOARD_KILL)) ? PEER_DRAINING : PEER_IDLE;
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
		bool kept = bs->peers[i] && bs->peers[i]->kept;
		struct peer_facts f = {
			.slot = (unsigned)i,
			.state = kept ? PEER_IDLE : state_of(word),
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
		bool kept = of(ps)->peers[i] && of(ps)->peers[i]->kept;
		f->count[kept ? PEER_IDLE : state_of(word)]++;
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

/* Our count of waiting requests onto the live entry; off the one that had
 * it, when a reload put a new entry in its place. */
static void record_waiting(struct board_peers *bs)
{
	struct board_pool *bp = entry(bs);
	/* The entry that had it may have been collected and taken by another
	 * pool since: then our count there went with it. */
	struct board_pool *was = bs->waiting_on;
	if (was && was != bp && was->used && strcmp(was->name, bs->name) == 0)
		board_set_waiting(was, dispatcher_index(), 0);
	if (bp)
		board_set_waiting(bp, dispatcher_index(), bs->waiting);
	bs->waiting_on = bs->waiting ? bp : NULL;
}

static void on_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct board_peers *bs = t->data;
	record_waiting(bs);
	bs->ps.hooks->idle(bs->ps.owner);
}

static void set_waiting(struct peers *ps, unsigned n)
{
	struct board_peers *bs = of(ps);
	bs->waiting = n;
	record_waiting(bs);
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
	ev_check_stop(ps->loop, &bs->let_go);
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
/* The master marks a slot's process that left before it closes that
 * process's socket, so this is already true when the reset arrives. */
static bool left(const struct peers *ps, const struct peer *pe)
{
	const struct bpeer *b = (const struct bpeer *)pe;
	return ((const struct board_worker *)pe->own)->left_incarnation == b->incarnation;
}

static const struct peer_source board_source = {
	.kind = "workers", .take = take, .served = served, .release = release, .failed = kill_it,
	.abandon = kill_it, .each = each, .facts = facts, .set_waiting = set_waiting,
	.demand = nothing, .drain = nothing, .kill_all = nothing, .free = free_all, .left = left
};
/* clang-format on */

struct peers *board_peers_start(struct ev_loop *loop, const char *name, int protocol,
                                const struct peer_hooks *hooks, void *owner)
{
	struct board_peers *bs = calloc(1, sizeof *bs);
	if (!bs)
		return NULL;
	bs->ps = (struct peers){
		.src = &board_source, .hooks = hooks, .owner = owner, .loop = loop
	};
	snprintf(bs->name, sizeof bs->name, "%s", name);
	bs->protocol = protocol;
	ev_timer_init(&bs->poll, on_poll, POLL_EVERY, POLL_EVERY);
	bs->poll.data = bs;
	ev_check_init(&bs->let_go, on_let_go);
	bs->let_go.data = bs;
	int rc = dispatcher_bell_listen(loop, on_rang);
	if (rc < 0 && rc != -ENOENT)
		log_warn(NULL, "pool %s: no bell (%s): waiting requests look every %.0f ms", name,
		         strerror(-rc), POLL_EVERY * 1000);
	bs->next = all;
	all = bs;
	return &bs->ps;
}
