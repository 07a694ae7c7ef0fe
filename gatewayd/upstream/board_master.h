/* The master's side of the pools' board (board_master.c). */
#ifndef GW_BOARD_MASTER_H
#define GW_BOARD_MASTER_H

#include "gatewayd/upstream/peer.h"

/* The hooks pools.c gives its peer sources in the master. */
extern const struct peer_hooks board_master_hooks;

/* Look at the board every few ms (what dispatchers claimed, served, gave up). */
void board_master_start(void);
void board_master_stop(void);
/* Look at the board now (after a reload: old entries retired at once). */
void board_master_sync_now(void);

#endif
