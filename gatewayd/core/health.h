/* Health for balancers and orchestrators: one verdict, read by the HTTP
 * probes (/_gatewayd/live and /_gatewayd/ready, handlers/health.c) and by
 * HAProxy's agent-check (front/agent.c). It is computed when asked: a walk
 * over the running config's cgi routes and pools, no allocation, so a probe
 * every second from each balancer costs next to nothing. */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

enum health_state {
	HEALTH_READY, /* take traffic */
	HEALTH_NOT_READY, /* starting, at the connection limit, or a queue is full */
	HEALTH_DOWN, /* nothing to run a request on, busy or idle (the only
	                     pools are external ones that refuse) */
	HEALTH_STOPPING, /* a SIGTERM drain is under way */
};

struct health {
	enum health_state state;
	/* Capacity not in use (cgi slots and pool workers), 0-100; 100 when the
	 * config has neither. */
	unsigned idle_percent;
	char why[160]; /* not ready: the reason, short and stable; "" when ready */
};

/* The verdict now. A change from the previous one asked for is logged (info),
 * with rid, the id of the request that asked (NULL: none). */
void health_check(struct health *h, const char *rid);
/* "ready", "not ready", "down", "stopping". */
const char *health_state_name(enum health_state s);

#endif
