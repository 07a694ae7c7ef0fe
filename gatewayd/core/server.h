/* The dispatcher's process-wide state: one loop, one config, the connections. */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatewayd/core/config.h"

#define GW_SERVER_SOFTWARE "gatewayd/" PACKAGE_VERSION

struct listener;

struct server {
	struct ev_loop *loop;
	struct config *cfg;
	struct listener *listeners;
	size_t nlisteners;
	size_t nconns;
	size_t max_conns; /* the config's, lowered to what the fd limit allows */
	uint64_t requests; /* served so far: the low part of request ids */
	uint32_t id_prefix; /* random per start, so ids differ across restarts */
	bool stopping;
	ev_tstamp stop_deadline;
};

extern struct server *gw;

/* A new request id, 16 hex digits, into out (at least 17 bytes). */
void server_next_request_id(char *out);
/* Listeners may accept again (a connection closed, or the fd pause ended). */
void server_conn_closed(void);
/* Something finished during shutdown: stop the loop once nothing is left. */
void server_check_stopped(void);
/* SIGTERM, SIGINT, SIGHUP and SIGUSR1 held back (blocked) while gatewayd
 * starts, and let through once their watchers are started: one that comes
 * while the listeners, the spawner and the pools start waits for them instead
 * of killing the process half started (children reset their masks). */
void server_hold_signals(bool hold);

#endif
