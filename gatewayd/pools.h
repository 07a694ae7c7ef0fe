/* The dispatcher's side of a pool: the spawner's pool, the protocol, the
 * queue of requests waiting for a worker, counters. Shared by the upstream
 * engine (upstream.c) and the pool runtime (pools.c). */
#ifndef GW_POOLS_H
#define GW_POOLS_H

#include <ev.h>

#include "gatewayd/config.h"
#include "gatewayd/upstream.h"
#include "spawner/pool.h"

struct pool_rt {
	struct pool_cfg *cfg;
	struct config *gen;          /* the generation cfg lives in (a reference) */
	unsigned generation;         /* in worker socket names: unique across reloads */
	char name_gen[96];           /* "name.generation", the socket name prefix */
	unsigned jobs;               /* jobs that point here, queued or running */
	bool retired;                /* replaced by a reload: draining, freed when empty */
	struct pool pool;
	const struct upstream_proto *proto;
	char **envp;                 /* the workers' environment */
	struct upstream_job *qhead;  /* requests waiting for a worker, oldest first */
	struct upstream_job *qtail;
	unsigned queued;
	ev_prepare dispatch;         /* hands idle workers to waiting requests, outside callbacks */
	unsigned long errors;        /* 502s */
	unsigned long timeouts;      /* 504s */
	unsigned long rejected;      /* 503s */
	unsigned long retries;
	struct pool_rt *next;
};

extern struct pool_rt *pool_runtimes;

/* Free retired pools that have no worker and no job left. */
void pools_collect(void);
/* Are the pools of the running config up: in each one that starts workers,
 * none still starting and at least one accepting? (The readiness that
 * systemd is told: a crash-looping pool keeps gatewayd from being ready.) */
bool pools_up(void);

/* upstream.c */
void upstream_worker_stopping(struct pool *p, struct worker *w);
void upstream_worker_exited(struct pool *p, struct worker *w, int wait_status);
void upstream_dispatch(struct ev_loop *loop, ev_prepare *w, int revents);
/* The request URI of a worker's job (w->job, w->next_job), for status; NULL if none. */
const char *upstream_job_uri(const void *job);
/* Move the requests waiting in from's queue to the end of to's. */
void upstream_requeue(struct pool_rt *from, struct pool_rt *to);

#endif
