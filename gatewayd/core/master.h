/* The master process of "dispatchers" above 1 (master.c). */
#ifndef GW_MASTER_H
#define GW_MASTER_H

#include "gatewayd/core/config.h"

/* Bind cfg's listeners and run its dispatchers until stopped (gw->cfg and
 * gw->loop are set, the logs open). Returns the exit status. */
int master_run(struct config *cfg);

#endif
