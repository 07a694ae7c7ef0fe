/* Inside the HTTP front end (front/http.c reads requests and runs the
 * connection; front/http_response.c frames what the handler sends): one
 * connection's state, shared by the two. Not for the rest of gatewayd. */
#ifndef GW_FRONT_HTTP_CONN_H
#define GW_FRONT_HTTP_CONN_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>

#include "gatewayd/core/client_limits.h"
#include "gatewayd/core/conn.h"
#include "gatewayd/core/spool.h"
#include "gatewayd/request/request.h"
#include "protocols/http1.h"

enum conn_state {
	CONN_PROXY, /* a proxy_protocol listener: waiting for the PROXY header */
	CONN_HEAD, /* waiting for (the rest of) a request head */
	CONN_SPOOL, /* de-chunking a body before the handler starts */
	CONN_ACTIVE, /* a handler has the request; body may still stream in */
	CONN_LINGER, /* response sent, write side shut: draining until close */
};

struct http_conn {
	struct conn conn; /* first: the allocation */
	enum conn_state state;
	unsigned requests;

	struct request *req;
	int minor;
	bool keep_alive;
	bool head_only;
	enum http1_body_kind body_kind;
	uint64_t body_left; /* Content-Length bytes still to come */
	uint64_t body_max;
	struct http1_chunked chunked;
	struct spool spool; /* a chunked body, de-chunked */

	bool reject_pending; /* a malformed request: its rest may still arrive */
	/* Accepted during a SIGTERM drain, which keeps the listener open for the
	 * balancers' probes: gatewayd's own paths only, 503 to anything else. */
	bool drain_only;

	bool resp_chunked;
	bool resp_no_body;
	long long resp_left; /* identity framing: bytes still owed, -1 if none */
	bool resp_done; /* the handler ended the request */
	bool resp_above_high;
	unsigned long long resp_bytes;

	ev_tstamp idle_since; /* keep-alive: since the last response */
	ev_tstamp close_idle_at; /* stopping: an idle connection closes then (0: not stopping) */
	ev_tstamp head_start; /* first byte of the current head */
	ev_tstamp linger_start;
	size_t linger_bytes;

	char *request_line;
	char *referer;
	char *user_agent;
	/* The client: the TCP peer, or what its PROXY header said. */
	char remote_addr[INET6_ADDRSTRLEN];
	unsigned remote_port;
	/* The TCP peer, whom trusted_proxies judges for the header fields. */
	char peer_addr[INET6_ADDRSTRLEN];
	unsigned peer_port;
	/* This request's client: remote_addr, or the address X-Forwarded-For or
	 * Forwarded names when they come from trusted proxies. */
	char req_addr[INET6_ADDRSTRLEN];
	unsigned req_port;
	char local_addr[INET6_ADDRSTRLEN];
	unsigned local_port;
	struct client_slot slot; /* its share of limits.per_client.connections */
};

static inline struct http_conn *conn_of(struct request *r)
{
	return r->front_ctx;
}

/* Is part of the request's body still to come? */
static inline bool body_pending(const struct http_conn *c)
{
	if (c->state == CONN_SPOOL)
		return true;
	return c->body_kind == HTTP1_BODY_LENGTH && c->body_left > 0;
}

/* http_response.c: the front end's side of a request (send_head, send_body...). */
extern const struct front_ops http_front;

#endif
