/* The pools' board: what every dispatcher knows of the workers the master
 * supervises, in memory they all map (a memfd the master makes). One entry
 * per pool generation, one slot per worker. Each slot's state and claims are
 * one atomic word, so that a dispatcher's claim and the master's decision to
 * stop an idle worker cannot both win:
 *
 *   bits 0-15   claim: the dispatcher's slot + 1 (0: idle), so that the
 *               claims of a dispatcher that died can be found and undone
 *   bits 16-19  state (enum board_state), written by the master
 *   bit  20     retire: take no more (recycling, draining), set by the master
 *   bit  21     kill: a dispatcher gave up on it (request_timeout, a broken
 *               connection); the master kills and replaces it
 *
 * A dispatcher claims a READY slot with no claim and neither flag, by a
 * compare-and-swap from that word to one with its own mark; it releases by
 * clearing the mark. The master polls the board (core/master.c's timer) and turns what
 * it sees into spawner/pool.c's take, served and release, so pool.c sizes,
 * recycles and backs off as it does for a lone dispatcher. */
#ifndef GW_POOL_BOARD_H
#define GW_POOL_BOARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BOARD_POOLS 64
#define BOARD_WORKERS 128
#define BOARD_DISPATCHERS 512 /* core/dispatchers.h's DISPATCHERS_MAX */

enum board_state { BOARD_EMPTY, BOARD_STARTING, BOARD_READY, BOARD_DRAINING, BOARD_DEAD };

#define BOARD_CLAIMS 0xffffu
#define BOARD_STATE(w) (((w) >> 16) & 0xfu)
#define BOARD_RETIRE (1u << 20)
#define BOARD_KILL (1u << 21)
#define BOARD_WORD(state, claims) (((uint32_t)(state) << 16) | (claims))

struct board_worker {
	_Atomic uint32_t word;
	_Atomic uint64_t served; /* requests finished on it, counted by dispatchers */
	_Atomic int pid;
	_Atomic uint32_t incarnation; /* a new process in this slot: a new peer */
	/* The last incarnation that left of its own accord (spawner/pool.h's
	 * left), set before its socket is closed: a connection waiting there
	 * is reset, never taken (board_peers.c's left). */
	_Atomic uint32_t left_incarnation;
	double started_at;
	double state_since;
	char address[128]; /* "unix:/path", as spawner/pool.h's worker has it */
};

struct board_pool {
	_Atomic int used;
	_Atomic int retired; /* a reload replaced it: new dispatchers use the new entry */
	char name[64];
	int protocol; /* the config's enum pool_protocol: a dispatcher speaks it */
	_Atomic int top; /* slots at and past it were never used: scans stop there */
	/* Requests waiting for a worker, by dispatcher slot: each sets its own
	 * (never adds), so a dispatcher that moved to a reload's new entry or
	 * died leaves nothing behind once its count is cleared. */
	_Atomic uint16_t waiting_by[BOARD_DISPATCHERS];
	/* Which dispatchers have requests waiting (waiting_by above 0): one of
	 * them is rung when a worker comes free (board_ring_waiter). */
	_Atomic uint64_t waiters[BOARD_DISPATCHERS / 64];
	_Atomic uint64_t spawns, crashes, served;
	/* The pool's, or php-cgi's own, or what its workers left at (spawner/pool.c). */
	_Atomic unsigned max_requests;
	_Atomic bool grows;
	_Atomic bool draining;
	struct board_worker w[BOARD_WORKERS];
};

/* The master: make the board; its fd (close-on-exec), or -errno. */
int board_create(void);
/* A dispatcher: map it from $GATEWAYD_BOARD_FD; false without one. */
bool board_attach(void);
bool board_attached(void);
int board_fd(void);

/* The master: a free entry for pool name (retiring none), or NULL. */
struct board_pool *board_new_pool(const char *name, int protocol);
/* A dispatcher: the live entry of pool name whose workers speak protocol.
 * When a reload changed the protocol, a dispatcher of the old generation
 * must not send the new workers what they do not read: it gets the entry
 * the reload retired, whose workers (while they last) speak its protocol and
 * are kept, though draining, while it has requests waiting; NULL when there
 * is none. */
struct board_pool *board_find(const char *name, int protocol);

/* Set slot's state, keeping its claims; flags as given (0, BOARD_RETIRE). */
void board_set_state(struct board_worker *bw, enum board_state s, uint32_t flags);
/* Dispatcher slot d: claim bw if it is ready and free; true if claimed. */
bool board_claim(struct board_worker *bw, int d);
/* Give a claim back, adding flags: BOARD_KILL (the master kills the
 * worker), BOARD_RETIRE (no one takes it again: it served max_requests). */
void board_release(struct board_worker *bw, uint32_t flags);
/* Dispatcher slot d has n requests waiting for a worker of bp. */
void board_set_waiting(struct board_pool *bp, int d, unsigned n);
/* The requests waiting for a worker of bp, over all dispatchers. */
unsigned board_waiting(const struct board_pool *bp);
/* The master: dispatcher slot d is gone. Its waiting requests no longer
 * count, and each worker it held is given back to be killed: it may still
 * be running a request no one will read, for as long as it likes. */
void board_forget_dispatcher(int d);
/* Whether a dispatcher other than slot `self` has requests waiting for bp. */
bool board_others_wait(const struct board_pool *bp, int self);
/* bw is idle: ring one dispatcher other than `except` (a slot, or -1) that
 * waits for a worker of bp, taking them in turn. */
void board_ring_waiter(struct board_pool *bp, const struct board_worker *bw, int except);

/* The master: a dispatcher asked for bw to be killed; it is draining and
 * retired from here on (in one step: no claim fits between the two). */
void board_take_kill(struct board_worker *bw);
/* The master: bw is told to stop (draining, retired); false if a claim got
 * there first. */
bool board_stop_unclaimed(struct board_worker *bw);

#endif
