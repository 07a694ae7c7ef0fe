/* External addresses as a peer source: processes someone else runs (php-fpm,
 * uWSGI, another host). Nothing is spawned; each address has a number of
 * slots ("connections"), each slot one request at a time. An address that
 * fails to connect rests out of service for a while, all its idle slots
 * with it. */
#ifndef GW_UPSTREAM_EXTERNAL_H
#define GW_UPSTREAM_EXTERNAL_H

#include "gatewayd/upstream/peer.h"

#define EXTERNAL_REST 5.0 /* seconds a failed address is out of service */

/* connections slots for each of addresses ("host:port", "[v6]:port",
 * "unix:/path"); rest: the seconds a failed address rests. NULL: out of memory. */
struct peers *external_start(struct ev_loop *loop, const char *name, char *const *addresses,
                             int connections, double rest, const struct peer_hooks *hooks,
                             void *owner);

#endif
