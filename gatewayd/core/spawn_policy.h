/* The spawner's policy over the config (spawn_policy.c) and its start. */
#ifndef GW_SPAWN_POLICY_H
#define GW_SPAWN_POLICY_H

#include <sys/types.h>

#include "gatewayd/core/config.h"
#include "spawner/service.h"

/* Fork the spawner with its own reference to c (and the logs); returns its
 * pid with the dispatcher's two sockets, or -errno. */
pid_t spawn_policy_fork(struct config *c, int *request_fd, int *event_fd);

#endif
