/* HAProxy's agent-check (a listen entry {"agent": "host:port"}): each
 * connection is answered with one line in the agent's grammar, the health
 * verdict of core/health.c, and closed. */
#ifndef GW_AGENT_H
#define GW_AGENT_H

void agent_conn_start(int fd);

#endif
