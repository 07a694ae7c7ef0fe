/* A job's bytes on its connection to a peer (exchange.c). */
#ifndef GW_UPSTREAM_EXCHANGE_H
#define GW_UPSTREAM_EXCHANGE_H

#include <stdbool.h>

struct peer;
struct request;
struct upstream_job;
struct upstream_conn;

/* A connection to pe (NULL, logged, if it cannot be made); primary: pe's own
 * (pe->conn), else one for a job sent on behind pe's. */
struct upstream_conn *exchange_open(struct peer *pe, bool primary);
/* Push request bytes into the job's connection while it has room. false:
 * the job ended (freed). */
bool exchange_pump(struct upstream_job *j);
/* Has r's body all come, and would a peer that fails before it answers
 * leave it whole for another (none, or kept: a known length up to
 * BODY_KEPT_MAX, in memory)? */
bool exchange_body_whole_again(const struct request *r);

#endif
