/* Listening sockets and accepting, paused before descriptors run out. */
#ifndef GW_LISTENER_H
#define GW_LISTENER_H

#include <ev.h>
#include <stdbool.h>

#include "gatewayd/core/config.h"

struct listener {
	int fd;
	ev_io w;
	const struct listen_cfg *cfg;
};

/* Bind every listen address of cfg into gw->listeners. -1 with a logged reason. */
int listeners_open(struct config *cfg);
/* Accept on every listener that may accept now: all of them, or once a stop
 * began only those listeners_drain() kept, or none after listeners_shut(). */
void listeners_start(void);
/* Stop accepting for now (connection limit, descriptors, reload). */
void listeners_stop(void);
/* A SIGTERM drain began: stop accepting, except on the listeners that answer
 * the balancers while in-flight requests finish: agents, and HTTP when the
 * health paths are on (every other request there gets 503, front/http.c). */
void listeners_drain(void);
/* The drain is over (its deadline, a second signal): accept nowhere. */
void listeners_shut(void);
/* Accepting every kind of connection (not stopping, not paused, under the
 * connection limit)? What /_gatewayd/ready calls "accepting". */
bool listeners_accepting(void);
void listeners_close(void);
/* SIGHUP: keep the sockets cfg still lists, open the new ones, close the
 * rest. -1 (and nothing changed) when a new one cannot be opened. */
int listeners_reload(struct config *cfg);

#endif
