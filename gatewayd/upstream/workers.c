/* Spawned workers as peers. The spawner knows processes, the engine knows
 * peers: a worker's peer is made when the worker is first idle (so every
 * worker the engine can take has one) and freed when its process is gone. */
#include "gatewayd/upstream/workers.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/core/log.h"

struct workers {
	struct peers ps; /* first */
	struct pool pool;
};

static struct workers *workers_of(const struct peers *ps)
{
	return (struct workers *)ps;
}

static struct worker *worker_of(const struct peer *pe)
{
	return pe->own;
}

/* ---- what the spawner reports ------------------------------------------ */

static void hook_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg((enum log_level)level, NULL, fmt, ap);
	va_end(ap);
}

static struct peer *peer_new(struct workers *ws, struct worker *w)
{
	struct peer *pe = calloc(1, sizeof *pe);
	if (!pe)
		return NULL;
	pe->from = &ws->ps;
	pe->own = w;
	pe->address = w->address;
	pe->keeps_connection = true;
	pe->has_backlog = true;
	snprintf(pe->who, sizeof pe->who, "%s#%u (pid %d)", ws->pool.set.name, w->slot,
	         (int)w->pid);
	return pe;
}

static void hook_idle(struct pool *p, struct worker *w)
{
	struct workers *ws = p->owner;
	if (!w->peer && !(w->peer = peer_new(ws, w))) {
		pool_kill(p, w, "out of memory for its peer"); /* replaced */
		return;
	}
	ws->ps.hooks->idle(ws->ps.owner);
}

static bool hook_stopping(struct pool *p, struct worker *w)
{
	struct workers *ws = p->owner;
	return !w->peer || ws->ps.hooks->stopping(ws->ps.owner, w->peer);
}

static void hook_exiting(struct pool *p, struct worker *w)
{
	struct workers *ws = p->owner;
	if (ws->ps.hooks->exiting)
		ws->ps.hooks->exiting(ws->ps.owner);
}

static void hook_exited(struct pool *p, struct worker *w, int wait_status)
{
	struct workers *ws = p->owner;
	ws->ps.hooks->gone(ws->ps.owner, w->peer, wait_status);
	free(w->peer);
	w->peer = NULL;
}

/* A worker's stderr line goes to the error log with the id of the request it
 * belongs to when the worker names it ("[id] text": gatewayd-wsgi does). No
 * guess from the request the worker serves: the pipe is not in step with the
 * socket, and a late line would carry the next request's id. The later parts
 * of a split line carry the id its first part named. */
static void hook_stderr_line(struct pool *p, struct worker *w, const char *line, size_t len,
                             unsigned part, bool more)
{
	char *rid = w->errrid;
	if (part <= 1) {
		rid[0] = '\0';
		if (len > 3 && line[0] == '[') {
			size_t k = 1;
			while (k < len && k < sizeof w->errrid &&
			       (isalnum((unsigned char)line[k]) || line[k] == '-'))
				k++;
			if (k > 1 && k < sizeof w->errrid && k + 1 < len && line[k] == ']' &&
			    line[k + 1] == ' ') {
				memcpy(rid, line + 1, k - 1);
				rid[k - 1] = '\0';
				line += k + 2;
				len -= k + 2;
			}
		}
	}
	char who[160];
	snprintf(who, sizeof who, "%s#%u (pid %d)", p->set.name, w->slot, (int)w->pid);
	log_source(LOG_WARN, rid[0] ? rid : NULL, who, line, len, part, more);
}

/* clang-format off */
static const struct pool_hooks pool_hooks = {
	.log = hook_log, .idle = hook_idle, .stopping = hook_stopping,
	.stderr_line = hook_stderr_line, .exiting = hook_exiting, .exited = hook_exited
};
/* clang-format on */

/* ---- get and free ------------------------------------------------------ */

static struct peer *take(struct peers *ps)
{
	struct worker *w = pool_take(&workers_of(ps)->pool);
	return w ? w->peer : NULL; /* an idle worker has its peer (hook_idle) */
}

static void served(struct peers *ps, struct peer *pe)
{
	pool_served(&workers_of(ps)->pool, worker_of(pe));
}

static void release(struct peers *ps, struct peer *pe)
{
	pool_release(&workers_of(ps)->pool, worker_of(pe));
}

/* A worker that fails a connection, or a request's time, is killed: it is
 * replaced, and what it held ends when its exit is seen (hooks->gone). */
static void kill_it(struct peers *ps, struct peer *pe, const char *why)
{
	pool_kill(&workers_of(ps)->pool, worker_of(pe), why);
}

/* ---- facts --------------------------------------------------------------- */

static enum peer_state state_of(enum worker_state s)
{
	switch (s) {
	case WORKER_STARTING:
		return PEER_STARTING;
	case WORKER_IDLE:
		return PEER_IDLE;
	case WORKER_BUSY:
		return PEER_BUSY;
	case WORKER_DRAINING:
		return PEER_DRAINING;
	case WORKER_DEAD:
	case WORKER_NSTATES:
		break;
	}
	return PEER_DEAD;
}

static void each(const struct peers *ps, peer_facts_fn *fn, void *arg)
{
	for (struct worker *w = workers_of(ps)->pool.workers; w; w = w->next) {
		struct peer_facts f = {
			.slot = w->slot,
			.state = state_of(w->state),
			.address = w->address,
			.pid = w->pid,
			.requests = w->requests,
			.started_at = w->started_at,
			.state_since = w->state_since,
			.peer = w->peer,
		};
		fn(&f, arg);
	}
}

static void facts(const struct peers *ps, struct source_facts *f)
{
	const struct pool *p = &workers_of(ps)->pool;
	memset(f, 0, sizeof *f);
	for (int s = 0; s < WORKER_NSTATES; s++)
		f->count[state_of((enum worker_state)s)] += p->count[s];
	f->served = p->served;
	f->spawns = p->spawns;
	f->crashes = p->crashes;
	f->max_requests = p->set.max_requests;
	f->alive = pool_alive(p);
	f->grows = !pool_at_full_size(p);
	f->draining = p->draining;
}

/* ---- demand and life ------------------------------------------------------ */

static void set_waiting(struct peers *ps, unsigned n)
{
	workers_of(ps)->pool.waiting = n;
}

static void demand(struct peers *ps)
{
	pool_demand(&workers_of(ps)->pool);
}

static void drain(struct peers *ps)
{
	pool_drain(&workers_of(ps)->pool);
}

static void kill_all(struct peers *ps)
{
	pool_kill_all(&workers_of(ps)->pool);
}

static void free_all(struct peers *ps)
{
	struct workers *ws = workers_of(ps);
	for (struct worker *w = ws->pool.workers; w; w = w->next) {
		free(w->peer);
		w->peer = NULL;
	}
	pool_free(&ws->pool);
	free(ws);
}

/* clang-format off */
static const struct peer_source workers_source = {
	.kind = "workers", .take = take, .served = served, .release = release, .failed = kill_it,
	.abandon = kill_it, .each = each, .facts = facts, .set_waiting = set_waiting,
	.demand = demand, .drain = drain, .kill_all = kill_all, .free = free_all
};
/* clang-format on */

int workers_start(struct peers **out, struct ev_loop *loop, const struct pool_settings *set,
                  const struct peer_hooks *hooks, void *owner)
{
	struct workers *ws = calloc(1, sizeof *ws);
	*out = NULL;
	if (!ws)
		return -1;
	ws->ps = (struct peers){
		.src = &workers_source, .hooks = hooks, .owner = owner, .loop = loop
	};
	*out = &ws->ps;
	return pool_start(&ws->pool, loop, set, &pool_hooks, ws);
}

void workers_adopt(struct peers *ps, const struct pool_settings *set)
{
	struct pool *p = &workers_of(ps)->pool;
	p->set.name = set->name;
}

struct pool *workers_pool(struct peers *ps)
{
	return &workers_of(ps)->pool;
}
