/* A dispatcher's peer source over the pools' board (board_peers.c). */
#ifndef GW_BOARD_PEERS_H
#define GW_BOARD_PEERS_H

#include "gatewayd/upstream/peer.h"
#include "gatewayd/upstream/pool_board.h"

/* The workers of pool name that the master supervises, as peers, while
 * they speak protocol (the config's enum pool_protocol). */
struct peers *board_peers_start(struct ev_loop *loop, const char *name, int protocol,
                                const struct peer_hooks *hooks, void *owner);

#endif
