/* The dispatcher's side of a pool: its peers (spawned workers or external
 * addresses), the protocol, the queue of requests waiting for a peer,
 * counters. Shared by the upstream engine (engine.c) and the pool runtime
 * (pools.c). */
#ifndef GW_POOLS_H
#define GW_POOLS_H

#include <ev.h>

#include "gatewayd/core/admission.h"
#include "gatewayd/core/config.h"
#include "gatewayd/upstream/peer.h"
#include "gatewayd/upstream/upstream.h"

struct pool_rt {
	struct pool_cfg *cfg;
	struct config *gen; /* the generation cfg lives in (a reference) */
	unsigned generation; /* in worker socket names: unique across reloads */
	char name_gen[96]; /* "name.generation", the socket name prefix */
	unsigned jobs; /* jobs that point here, queued or running */
	bool retired; /* replaced by a reload: draining, freed when empty */
	unsigned retired_at; /* the master: the last dispatcher generation routed here */
	struct peers *peers; /* workers.c or external.c: the engine's one way to either */
	const struct upstream_proto *proto;
	struct admission waiting; /* requests waiting for a worker, oldest first */
	ev_prepare dispatch; /* never started, only fed (dispatch_soon): idle workers to
	                      * waiting requests, outside other callbacks */
	unsigned long errors; /* 502s */
	unsigned long timeouts; /* 504s */
	unsigned long rejected; /* 503s */
	unsigned long retries;
	struct pool_rt *next;
};

extern struct pool_rt *pool_runtimes;
/* Set in the master of several dispatchers: its pools' workers go onto the
 * pools' board (board_master.c) instead of to an engine of its own. */
extern bool pools_for_board;

/* The master of several dispatchers: may a retired pool still get requests
 * (a dispatcher of a generation that routed to it is alive)? NULL elsewhere. */
extern bool (*pools_retired_wanted)(const struct pool_rt *rt);
/* Free retired pools that have no worker and no job left, and that nothing
 * may still ask for. */
void pools_collect(void);
/* Are the pools of the running config up: in each one that starts workers,
 * none still starting and at least one accepting? (The readiness that
 * systemd is told: a crash-looping pool keeps gatewayd from being ready.) */
bool pools_up(void);

/* Start every pool of cfg. -1 with a logged reason. */
int pools_start(struct config *cfg);
/* SIGHUP: pools of cfg whose worker settings did not change keep their
 * workers; the others start; pools no longer wanted drain. */
int pools_reload(struct config *cfg);
/* Shutdown: stop idle workers now, busy ones after their request. */
void pools_drain(void);
/* Shutdown deadline: kill every worker. */
void pools_kill(void);
/* Workers still alive, across pools. */
size_t pools_alive(void);
/* Free drained pools. */
void pools_free(void);

/* The status of every pool as JSON text (malloc'd), or Prometheus text. */
char *pools_status_json(void);
char *pools_status_prometheus(void);

#endif
