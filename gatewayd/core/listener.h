/* Listening sockets and accepting, paused before descriptors run out. */
#ifndef GW_LISTENER_H
#define GW_LISTENER_H

#include <ev.h>

#include "gatewayd/core/config.h"

struct listener {
	int fd;
	ev_io w;
	const struct listen_cfg *cfg;
};

/* Bind every listen address of cfg into gw->listeners. -1 with a logged reason. */
int listeners_open(struct config *cfg);
void listeners_start(void);
void listeners_stop(void);
void listeners_close(void);
/* SIGHUP: keep the sockets cfg still lists, open the new ones, close the
 * rest. -1 (and nothing changed) when a new one cannot be opened. */
int listeners_reload(struct config *cfg);

#endif
