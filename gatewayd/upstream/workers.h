/* A pool of spawned workers as a peer source: the spawner supervises the
 * processes (spawner/pool.c), this adapter hands them to the engine as peers
 * and passes on what the spawner reports. */
#ifndef GW_UPSTREAM_WORKERS_H
#define GW_UPSTREAM_WORKERS_H

#include "gatewayd/upstream/peer.h"
#include "spawner/pool.h"

/* Start set's workers as *out. -1 with a logged reason on a start-up error;
 * *out is set even then (the workers that did start run on), unless it is
 * NULL (out of memory). */
int workers_start(struct peers **out, struct ev_loop *loop, const struct pool_settings *set,
                  const struct peer_hooks *hooks, void *owner);
/* The same workers under a new generation of the config: its strings' homes. */
void workers_adopt(struct peers *ps, const struct pool_settings *set);
/* The supervisor under ps (the master's board reads and drives it). */
struct pool *workers_pool(struct peers *ps);

#endif
