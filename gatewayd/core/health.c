#include "gatewayd/core/health.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gatewayd/core/listener.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/server.h"
#include "gatewayd/request/request.h"
#include "gatewayd/upstream/peer.h"
#include "gatewayd/upstream/pools.h"

/* What the running config's cgi routes and pools can take now. */
struct tally {
	unsigned long slots, busy; /* capacity, and how much of it is in use */
	bool serves; /* some route has something to run a request on, busy or not */
	char full[128]; /* the first route or pool that would refuse one now (503) */
};

/* Every pool that starts with workers has had one accepting: the start is
 * over. A reload does not reset it: a pool it starts anew gets requests in
 * its queue meanwhile, and the host stays ready (no gap across a SIGHUP). */
static bool started;

/* A cgi route refuses a request when every child slot is taken and its
 * queue is full too (handlers/cgi.c, cgi_start). */
static void tally_cgi(struct tally *t, const struct route_cfg *r)
{
	unsigned running, waiting, max = (unsigned)r->cgi.max_children;
	cgi_route_load(r, &running, &waiting);
	t->slots += max;
	t->busy += running < max ? running : max;
	t->serves = true;
	if (running >= max && waiting >= (unsigned)r->cgi.queue && !t->full[0])
		snprintf(t->full, sizeof t->full,
		         "route %s full: max_children %d running, queue %d waiting", r->match,
		         r->cgi.max_children, r->cgi.queue);
}

/* A pool refuses a request when no worker is idle and its queue is full
 * (upstream/engine.c, job_try_assign). A pool gatewayd runs can always serve
 * in time: it starts workers (ondemand ones when asked), and requests wait in
 * its queue meanwhile. An external pool none of whose addresses answers is
 * left out: the other hosts behind the balancer most likely share it, so
 * taking this one out would not help; the status page shows it. */
static void tally_pool(struct tally *t, const struct pool_rt *rt)
{
	const struct pool_cfg *c = rt->cfg;
	struct source_facts f;
	rt->peers->src->facts(rt->peers, &f);
	unsigned idle = f.count[PEER_IDLE], busy = f.count[PEER_BUSY];
	bool external = !c->ncommand;
	if (external && idle + busy == 0)
		return;
	unsigned max = (unsigned)(c->mode == POOL_STATIC ? c->processes : c->max_processes);
	t->slots += external ? idle + busy : max;
	t->busy += busy;
	t->serves = true;
	if (idle == 0 && rt->waiting.waiting >= (unsigned)c->queue && !t->full[0])
		snprintf(t->full, sizeof t->full, "pool %s full: no worker idle, queue %d waiting",
		         c->name, c->queue);
}

/* The first pool that starts with workers and has none accepting yet, or NULL. */
static const char *pool_starting(void)
{
	for (const struct pool_rt *rt = pool_runtimes; rt; rt = rt->next) {
		const struct pool_cfg *c = rt->cfg;
		struct source_facts f;
		if (rt->retired || !c->ncommand || c->mode == POOL_ONDEMAND || c->processes == 0)
			continue;
		rt->peers->src->facts(rt->peers, &f);
		if (f.count[PEER_IDLE] + f.count[PEER_BUSY] == 0)
			return c->name;
	}
	return NULL;
}

const char *health_state_name(enum health_state s)
{
	static const char *const names[] = { "ready", "not ready", "down", "stopping" };
	return names[s];
}

/* Log a change of verdict once, whichever probe sees it first. */
static void note_change(const struct health *h, const char *rid)
{
	static enum health_state last = HEALTH_READY;
	static char last_why[sizeof h->why];
	if (h->state == last && strcmp(h->why, last_why) == 0)
		return;
	if (h->state == HEALTH_READY)
		log_info(rid, "health: ready");
	else
		log_info(rid, "health: %s: %s", health_state_name(h->state), h->why);
	last = h->state;
	memcpy(last_why, h->why, sizeof last_why);
}

static void verdict(struct health *h, const struct tally *t)
{
	const char *pool = NULL;
	if (!started && !(pool = pool_starting()))
		started = true;
	if (gw->stopping) {
		h->state = HEALTH_STOPPING;
		snprintf(h->why, sizeof h->why, "requests in flight finish; new ones get 503");
	} else if (!started) {
		h->state = HEALTH_NOT_READY;
		snprintf(h->why, sizeof h->why, "starting: pool %s has no worker accepting yet",
		         pool);
	} else if (!t->serves) {
		/* Not busy: unable (its only pools are external ones that refuse). */
		h->state = HEALTH_DOWN;
		snprintf(h->why, sizeof h->why, "no route can take a request");
	} else if (t->full[0]) {
		h->state = HEALTH_NOT_READY;
		snprintf(h->why, sizeof h->why, "%s", t->full);
	} else if (!listeners_accepting()) {
		h->state = HEALTH_NOT_READY;
		snprintf(h->why, sizeof h->why,
		         "not accepting connections (at the connection limit, "
		         "or out of descriptors)");
	} else {
		h->state = HEALTH_READY;
	}
}

void health_check(struct health *h, const char *rid)
{
	struct tally t = { 0 };
	memset(h, 0, sizeof *h);
	for (size_t i = 0; i < gw->cfg->nroutes; i++) {
		const struct route_cfg *r = &gw->cfg->routes[i];
		if (r->kind == ROUTE_CGI)
			tally_cgi(&t, r);
		else if (r->kind == ROUTE_STATIC)
			t.serves = true;
	}
	for (const struct pool_rt *rt = pool_runtimes; rt; rt = rt->next)
		if (!rt->retired)
			tally_pool(&t, rt);
	if (t.busy > t.slots)
		t.busy = t.slots;
	h->idle_percent = t.slots ? (unsigned)((t.slots - t.busy) * 100 / t.slots) : 100;
	verdict(h, &t);
	note_change(h, rid);
}
