/* Per-client abuse limits (limits.per_client, off by default): how many HTTP
 * connections one client may hold open, and how many requests per second it
 * may make, so that one client cannot take every CGI slot. Over either, the
 * front end answers 429.
 *
 * A client is an address: IPv4 whole (an IPv4-mapped IPv6 address counts as
 * its IPv4 one), IPv6 by its first ipv6_prefix bits (a /64 by default: one
 * host or one home usually holds a whole /64, so counting its addresses one
 * by one would limit nothing). The rate is a token bucket per client (burst
 * tokens, one back every 1/rate seconds), kept as a count and a timestamp:
 * no timer per client. Clients live in one table of a fixed size (a hash
 * with a keyed hash function, and a least-recently-used list): when it is
 * full, the address seen least recently that holds no connection is
 * forgotten (it starts with a full bucket if it comes back), so a flood of
 * distinct addresses costs no more memory than the table.
 *
 * The pure part (keys, the bucket, the table) takes the time as an argument;
 * the process-wide part below it holds the running config's table. */
#ifndef GW_CLIENT_LIMITS_H
#define GW_CLIENT_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gatewayd/core/config.h"

/* ---- keys ---------------------------------------------------------------- */

struct client_key {
	uint8_t b[16]; /* IPv6, masked to the prefix; IPv4 as ::ffff:a.b.c.d */
};

/* An AF_INET or AF_INET6 address to its key: 0, or -1 for another family (a
 * unix socket's peer is no client address: it is never limited). */
int client_key_from_sockaddr(const struct sockaddr *sa, unsigned ipv6_prefix, struct client_key *k);
/* A numeric address as REMOTE_ADDR holds it: 0, or -1 when it is none. */
int client_key_from_text(const char *addr, unsigned ipv6_prefix, struct client_key *k);

/* ---- the token bucket ------------------------------------------------------- */

struct token_bucket {
	double tokens;
	double stamp; /* when tokens was last brought up to date */
};

/* A new client's: full, whatever the burst. */
void token_bucket_fill(struct token_bucket *b, double now);
/* One request at now: 0 when it took a token, else the whole seconds (at
 * least 1, rounded up) until a token is back, for Retry-After. A refused
 * request takes nothing, as nginx's limit_req: a client that keeps asking is
 * served again as soon as it waits. A clock that went back counts as no time. */
unsigned token_bucket_take(struct token_bucket *b, double rate, unsigned burst, double now);

/* ---- the table ------------------------------------------------------------ */

struct client_entry {
	struct client_key key;
	struct token_bucket bucket;
	unsigned conns; /* HTTP connections it holds open */
	uint32_t chain; /* the next entry in its hash chain (indices from 1; 0: none) */
	uint32_t older, newer; /* the idle list: entries holding no connection */
};

struct client_table {
	struct client_entry *e; /* e[1..capacity]; e[1..used] have been handed out */
	uint32_t *heads; /* hash chains */
	uint32_t mask;
	uint32_t capacity, used;
	uint32_t newest, oldest; /* the idle list, most recently seen first */
	uint64_t seed[2];
	unsigned long long forgotten;
};

/* NULL when memory runs out. seed keys the hash (random in gatewayd), so that
 * nobody can pick addresses that all fall in one chain. */
struct client_table *client_table_new(uint32_t capacity, const uint64_t seed[2]);
void client_table_free(struct client_table *t);
/* k's entry, or NULL. */
struct client_entry *client_table_find(struct client_table *t, const struct client_key *k);
/* k's entry, made the most recently seen; a new one (full bucket at now)
 * when k has none, taking the place of the least recently seen entry that
 * holds no connection when the table is full. NULL when every entry holds a
 * connection (gatewayd sizes the table so that this cannot happen). */
struct client_entry *client_table_get(struct client_table *t, const struct client_key *k,
                                      double now);
/* One more, one fewer connection held by e: an entry that holds any is never
 * forgotten. */
void client_entry_hold(struct client_table *t, struct client_entry *e);
void client_entry_release(struct client_table *t, struct client_entry *e);

/* ---- the running limits (what the front ends call) ----------------------------- */

/* The limits pc, at start and on every reload: the table is made, kept, or
 * remade with the connections counted so far, with room for max_conns
 * addresses at least. -1 (the previous limits kept) when memory runs out. */
int client_limits_configure(const struct per_client_cfg *pc, size_t max_conns);
/* At exit. */
void client_limits_free(void);

/* What an HTTP connection holds of its client's connection limit. */
struct client_slot {
	struct client_key key;
	unsigned epoch; /* the table it was counted in */
	bool held;
};

/* A new HTTP connection from peer: true when within the client's connection
 * limit (or none applies), counted in *slot; false when over it. */
bool client_conn_open(const struct sockaddr *peer, double now, struct client_slot *slot);
/* The connection closed: its slot is free. Idempotent. */
void client_conn_closed(struct client_slot *slot);
/* A request from addr (REMOTE_ADDR: the HTTP peer, or the client a web
 * server names) at now: 0 within the client's rate (or none applies, or addr
 * is not a numeric address), else the Retry-After seconds. */
unsigned client_request(const char *addr, double now);

struct client_limits_stats {
	unsigned long long connections_refused; /* answered 429 at accept */
	unsigned long long rate_limited; /* requests answered 429 */
	unsigned long long forgotten; /* addresses dropped from a full table */
	unsigned tracked; /* addresses remembered now */
	unsigned capacity; /* at most; 0 while the limits are off */
};
void client_limits_stats(struct client_limits_stats *out);

#endif
