/* The master's side of the pools' board (pool_board.h): its pools run as a
 * lone gatewayd runs them (pools.c, workers.c, spawner/pool.c, a spawner of
 * its own), with these hooks in place of the engine's: each worker's state
 * goes onto the board as it changes, and every few milliseconds what the
 * dispatchers did (claims, requests served, kills asked for) comes back as
 * the take, served, release and kill a lone gatewayd's engine would make. */
#include "gatewayd/upstream/board_master.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/upstream/pool_board.h"
#include "gatewayd/upstream/pools.h"
#include "gatewayd/upstream/workers.h"

#define SYNC_BUSY 0.002 /* while a worker is claimed or a request waits */
#define SYNC_IDLE 0.05

/* Which board slot each worker has, per pool runtime (owner). */
struct board_map {
	struct pool_rt *rt;
	struct board_pool *bp;
	struct worker *by_index[BOARD_WORKERS];
	uint64_t served_seen[BOARD_WORKERS];
	struct board_map *next;
};

static struct board_map *maps;
static ev_timer sync_timer;

static struct board_map *map_of(struct pool_rt *rt)
{
	for (struct board_map *m = maps; m; m = m->next)
		if (m->rt == rt)
			return m;
	struct board_map *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->rt = rt;
	m->bp = board_new_pool(rt->cfg->name, (int)rt->cfg->protocol);
	if (!m->bp) {
		/* Asked again at every look (a retired entry may free room): said once. */
		static const struct pool_rt *told;
		if (told != rt)
			log_error(NULL, "pool %s: no room on the pools' board", rt->cfg->name);
		told = rt;
		free(m);
		return NULL;
	}
	/* The pool's limit (php-cgi's own, spawner/pool.c): it changes only when
	 * a worker that left teaches another (hook_gone). The hooks that get
	 * here come after workers_start has set rt->peers. */
	m->bp->max_requests = workers_pool(rt->peers)->set.max_requests;
	m->next = maps;
	maps = m;
	return m;
}

static int index_of(struct board_map *m, const struct worker *w)
{
	for (int i = 0; i < BOARD_WORKERS; i++)
		if (m->by_index[i] == w)
			return i;
	return -1;
}

static enum board_state board_state_of(enum worker_state s)
{
	switch (s) {
	case WORKER_STARTING:
		return BOARD_STARTING;
	case WORKER_IDLE:
	case WORKER_BUSY:
		return BOARD_READY;
	case WORKER_DRAINING:
		return BOARD_DRAINING;
	default:
		return BOARD_DEAD;
	}
}

/* Every worker of rt's pool onto the board, as it is now. */
static void publish(struct pool_rt *rt)
{
	struct board_map *m = map_of(rt);
	struct pool *p = rt->peers ? workers_pool(rt->peers) : NULL;
	if (!m || !p)
		return;
	for (struct worker *w = p->workers; w; w = w->next) {
		int i = index_of(m, w);
		if (i < 0 && w->state != WORKER_DEAD) {
			for (i = 0; i < BOARD_WORKERS; i++) {
				uint32_t word = m->bp->w[i].word;
				if (!m->by_index[i] && (word & BOARD_CLAIMS) == 0)
					break;
			}
			if (i == BOARD_WORKERS)
				continue; /* more workers than slots: this one serves no one */
			struct board_worker *bw = &m->bp->w[i];
			m->by_index[i] = w;
			bw->served = 0; /* a new process: its own count, toward max_requests */
			m->served_seen[i] = 0;
			snprintf(bw->address, sizeof bw->address, "%s", w->address);
			bw->pid = w->pid;
			bw->started_at = w->started_at;
			bw->incarnation++;
			bw->word = BOARD_WORD(BOARD_STARTING, 0);
			if (i >= m->bp->top)
				m->bp->top = i + 1;
		}
		if (i < 0)
			continue;
		struct board_worker *bw = &m->bp->w[i];
		enum board_state s = board_state_of(w->state);
		/* A worker a dispatcher found used up stays retired until the next
		 * look recycles it. */
		bool used_up = m->bp->max_requests && bw->served >= m->bp->max_requests;
		bool retire = w->state == WORKER_DRAINING || w->state == WORKER_DEAD ||
		              (used_up && (bw->word & BOARD_RETIRE));
		if (BOARD_STATE(bw->word) != s || retire != !!(bw->word & BOARD_RETIRE)) {
			board_set_state(bw, s, retire ? BOARD_RETIRE : 0);
			bw->state_since = w->state_since;
			board_ring_waiter(m->bp, bw, -1); /* a worker ready for a waiting request */
		}
	}
	m->bp->spawns = p->spawns;
	m->bp->crashes = p->crashes;
	m->bp->served = p->served;
	m->bp->grows = !pool_at_full_size(p);
	m->bp->draining = p->draining;
}

static void hook_idle(void *owner)
{
	publish(owner);
}

/* The pool decided from what it last saw on the board: the worker stops
 * only if no dispatcher has claimed it since (one compare-and-swap), so no
 * request is sent to a worker that is told to stop. */
static bool hook_stopping(void *owner, struct peer *pe)
{
	struct board_map *m = map_of(owner);
	int i = m ? index_of(m, pe->own) : -1;
	return i < 0 || board_stop_unclaimed(&m->bp->w[i]);
}

/* A worker is gone: its slot says so until another process takes it. */
static void hook_gone(void *owner, struct peer *pe, int wait_status)
{
	struct board_map *m = map_of(owner);
	struct pool *p = workers_pool(((struct pool_rt *)owner)->peers);
	if (!m)
		return;
	for (int i = 0; i < BOARD_WORKERS; i++) {
		struct worker *w = m->by_index[i];
		bool listed = false;
		for (struct worker *x = p->workers; x && !listed; x = x->next)
			listed = x == w && x->state != WORKER_DEAD;
		if (w && !listed) {
			if (w->left) {
				m->bp->w[i].left_incarnation = m->bp->w[i].incarnation;
				m->bp->max_requests = p->set.max_requests; /* what it taught, now */
			}
			board_set_state(&m->bp->w[i], BOARD_DEAD, BOARD_RETIRE);
			m->bp->w[i].word &= ~BOARD_KILL;
			m->by_index[i] = NULL;
		}
	}
}

/* The requests dispatchers finished on slot i since the last look, counted
 * (toward max_requests too). */
static void count_served(struct board_map *m, struct pool *p, int i)
{
	uint64_t served = m->bp->w[i].served;
	for (; m->served_seen[i] < served; m->served_seen[i]++)
		pool_served(p, m->by_index[i]);
}

/* A worker is gone: what it served counts before its exit is judged (one
 * that served may leave on its own; one that did not crashed). */
static void hook_exiting(void *owner)
{
	struct board_map *m = map_of(owner);
	struct pool *p = workers_pool(((struct pool_rt *)owner)->peers);
	for (int i = 0; m && i < BOARD_WORKERS; i++)
		if (m->by_index[i])
			count_served(m, p, i);
}

const struct peer_hooks board_master_hooks = {
	.idle = hook_idle,
	.stopping = hook_stopping,
	.exiting = hook_exiting,
	.gone = hook_gone,
};

/* What the dispatchers did since the last look. */
static bool sync_pool(struct board_map *m)
{
	struct pool *p = workers_pool(m->rt->peers);
	bool busy = false;
	for (int i = 0; i < BOARD_WORKERS; i++) {
		struct worker *w = m->by_index[i];
		struct board_worker *bw = &m->bp->w[i];
		if (!w)
			continue;
		uint32_t word = bw->word;
		uint64_t seen_before = m->served_seen[i];
		count_served(m, p, i);
		if (word & BOARD_KILL) {
			board_take_kill(bw);
			if (w->state != WORKER_DEAD && w->state != WORKER_DRAINING)
				pool_kill(p, w, "a dispatcher gave up on it");
			continue;
		}
		unsigned claims = word & BOARD_CLAIMS;
		bool served_since = m->served_seen[i] > seen_before;
		busy |= claims > 0;
		/* Taken and given back between two looks (or used up, retired by
		 * the dispatcher): pool.c sees a take and a release all the same,
		 * so that it recycles. */
		if (claims == 0 && w->state == WORKER_IDLE &&
		    (served_since || (word & BOARD_RETIRE)))
			pool_claim(p, w);
		if (claims > 0 && w->state == WORKER_IDLE)
			pool_claim(p, w);
		else if (claims == 0 && w->state == WORKER_BUSY)
			pool_release(p, w); /* idle again, or recycled: published by the hooks */
	}
	unsigned waiting = board_waiting(m->bp);
	p->waiting = waiting;
	if (waiting > 0)
		pool_demand(p);
	else if (p->draining && p->count[WORKER_IDLE])
		pool_drain(p); /* one kept for a request that waited, and no longer does */
	publish(m->rt);
	return busy || waiting > 0;
}

static void on_sync(struct ev_loop *loop, ev_timer *t, int revents)
{
	bool busy = false;
	pools_collect();
	/* Every live pool has its entry, workers or not: an ondemand pool with
	 * none yet learns of its first request from the entry's waiting count. */
	for (struct pool_rt *rt = pool_runtimes; rt; rt = rt->next)
		if (rt->cfg->ncommand && rt->peers && !rt->retired)
			map_of(rt);
	for (struct board_map **mm = &maps; *mm;) {
		struct board_map *m = *mm;
		bool live = false;
		for (struct pool_rt *rt = pool_runtimes; rt && !live; rt = rt->next)
			live = rt == m->rt;
		if (!live) { /* collected: its entry goes too */
			m->bp->used = 0;
			*mm = m->next;
			free(m);
			continue;
		}
		m->bp->retired = m->rt->retired;
		busy |= sync_pool(m);
		mm = &m->next;
	}
	ev_timer_set(t, busy ? SYNC_BUSY : SYNC_IDLE, 0);
	ev_timer_start(loop, t);
}

void board_master_sync_now(void)
{
	ev_timer_stop(gw->loop, &sync_timer);
	on_sync(gw->loop, &sync_timer, 0);
}

void board_master_start(void)
{
	ev_init(&sync_timer, on_sync);
	ev_timer_set(&sync_timer, SYNC_IDLE, 0);
	ev_timer_start(gw->loop, &sync_timer);
}

void board_master_stop(void)
{
	ev_timer_stop(gw->loop, &sync_timer);
	while (maps) {
		struct board_map *m = maps;
		maps = m->next;
		free(m);
	}
}
