/* Where the upstream engine sends requests: peers, taken when idle and given
 * back, as nginx's upstream gets and frees a peer. A peer is one place a
 * request can go: a worker the spawner supervises (workers.c), or one of the
 * N slots of an external address, a process someone else runs (external.c).
 * The engine reaches either kind through one table, struct peer_source, and
 * never asks which kind it holds.
 *
 * A source owns its peers (it makes and frees them); the engine owns what it
 * hangs on them (the request each serves, a connection kept alive) and tells
 * the source, through take / served / release / failed / abandon, what
 * happened. The source tells the engine, through struct peer_hooks, when a
 * peer is idle, about to stop, or gone. */
#ifndef GW_UPSTREAM_PEER_H
#define GW_UPSTREAM_PEER_H

#include <ev.h>
#include <stdbool.h>
#include <sys/types.h>

struct upstream_job;
struct upstream_conn;
struct peers;

/* A peer's state as status shows it (the spawner's words: an external slot
 * is idle, busy, or dead while it rests after a failure). */
enum peer_state { PEER_STARTING, PEER_IDLE, PEER_BUSY, PEER_DRAINING, PEER_DEAD, PEER_NSTATES };

struct peer {
	/* The source's, set when it makes the peer. */
	struct peers *from;
	void *own; /* the source's record of it (a struct worker, a slot) */
	const char *address; /* "unix:/path" or "host:port" */
	char who[160]; /* "php#3 (pid 123)", "ext#0 (127.0.0.1:9000)", for logs */
	bool keeps_connection; /* a connection may stay open for its next request */
	bool has_backlog; /* one process on a socket of its own: a connection made
	                            * while it is busy waits in that socket's backlog for it */
	/* The engine's; the source never reads them. */
	struct upstream_job *job; /* the request it serves */
	struct upstream_job *next_job; /* one sent on behind job: in its socket's backlog
	                                * on a connection of its own, or behind job on
	                                * job's connection (multiplexes) */
	struct upstream_conn *conn; /* a connection kept alive to it */
	bool multiplexes; /* it said it takes a request behind another on one
	                   * connection (FCGI_MPXS_CONNS): next_job goes there */
	bool asked; /* whether it multiplexes (once, on a connection to be kept) */
	ev_tstamp busy_since; /* when job became its job */
};

/* What a source knows of one of its records, whether or not the engine
 * ever took it: a line of status, and the facts the engine's choices read. */
struct peer_facts {
	unsigned slot;
	enum peer_state state;
	const char *address;
	pid_t pid; /* 0: no process of ours */
	unsigned long requests; /* served so far */
	ev_tstamp started_at;
	ev_tstamp state_since;
	struct peer *peer; /* NULL: never taken */
};

/* What a source knows of itself. */
struct source_facts {
	unsigned count[PEER_NSTATES];
	unsigned long served; /* requests its peers finished */
	unsigned long spawns;
	unsigned long crashes;
	unsigned long max_requests; /* a peer goes after serving so many; 0: never */
	unsigned alive; /* processes of ours still alive */
	bool grows; /* it may start a peer for a waiting request */
	bool draining;
};

typedef void peer_facts_fn(const struct peer_facts *f, void *arg);

/* What the engine hears. owner is the one given to the source at its start. */
struct peer_hooks {
	/* A peer is idle (ready, released, back in service): a waiting request may take it. */
	void (*idle)(void *owner);
	/* pe is about to be told to stop: drop a connection kept idle to it (a
	 * worker blocked reading one cannot see its signal). false: a dispatcher
	 * claimed it since the master last looked (board_master.c); it is not
	 * stopped. */
	bool (*stopping)(void *owner, struct peer *pe);
	/* A process of the source's is gone and about to be judged (optional):
	 * count what was served on it now (board_master.c). */
	void (*exiting)(void *owner);
	/* A process of the source's is gone (wait status); pe is its peer, NULL
	 * if it was never taken, freed when this returns. */
	void (*gone)(void *owner, struct peer *pe, int wait_status);
};

struct peer_source {
	const char *kind; /* "workers", "external" */
	/* ---- get and free ---- */
	/* An idle peer, now busy; NULL if none. */
	struct peer *(*take)(struct peers *ps);
	/* pe finished a request (counted, toward recycling too). */
	void (*served)(struct peers *ps, struct peer *pe);
	/* The engine is done with pe: idle again, or whatever the source does
	 * with a peer it lets go (recycle a worker after max_requests). */
	void (*release)(struct peers *ps, struct peer *pe);
	/* pe could not be reached, or broke off before it took the request: a
	 * worker is killed and replaced, an address rests out of service. */
	void (*failed)(struct peers *ps, struct peer *pe, const char *why);
	/* The engine gives up on the request pe holds (request_timeout): a worker
	 * is killed and replaced; an external process is not ours to kill, its
	 * slot is released (counted) once the engine has closed the connection. */
	void (*abandon)(struct peers *ps, struct peer *pe, const char *why);
	/* pe's process left of its own accord (a request limit of its own)
	 * with a connection waiting in its socket: the reset that connection
	 * got says it was never taken (optional: a source whose gone hook
	 * comes first, as workers.c's does, needs none). */
	bool (*left)(const struct peers *ps, const struct peer *pe);
	/* ---- facts ---- */
	/* fn for each record the source has (taken or not), in slot order. */
	void (*each)(const struct peers *ps, peer_facts_fn *fn, void *arg);
	void (*facts)(const struct peers *ps, struct source_facts *f);
	/* ---- demand and life ---- */
	/* n requests wait for a peer now. */
	void (*set_waiting)(struct peers *ps, unsigned n);
	/* Requests wait: grow if the source can. */
	void (*demand)(struct peers *ps);
	/* Stop: idle peers now, busy ones when released. */
	void (*drain)(struct peers *ps);
	/* Shutdown deadline: SIGKILL every process of ours. */
	void (*kill_all)(struct peers *ps);
	/* Free the source and its records (no job holds a peer of it any more). */
	void (*free)(struct peers *ps);
};

/* The part every source starts with. */
struct peers {
	const struct peer_source *src;
	const struct peer_hooks *hooks;
	void *owner;
	struct ev_loop *loop;
};

static inline struct peer *peer_take(struct peers *ps)
{
	return ps->src->take(ps);
}
static inline void peer_served(struct peer *pe)
{
	pe->from->src->served(pe->from, pe);
}
static inline void peer_release(struct peer *pe)
{
	pe->from->src->release(pe->from, pe);
}
static inline void peer_failed(struct peer *pe, const char *why)
{
	pe->from->src->failed(pe->from, pe, why);
}
static inline void peer_abandon(struct peer *pe, const char *why)
{
	pe->from->src->abandon(pe->from, pe, why);
}
static inline bool peer_left(const struct peer *pe)
{
	return pe->from->src->left && pe->from->src->left(pe->from, pe);
}
static inline void peers_facts(const struct peers *ps, struct source_facts *f)
{
	ps->src->facts(ps, f);
}

const char *peer_state_name(enum peer_state s);
/* A non-blocking socket connected, or connecting (*done false), to address
 * ("unix:/path", "host:port", "[v6]:port"); -errno on failure. */
int peer_connect(const char *address, bool *done);

#endif
