/* The dispatchers' table: one slot per dispatcher process in a memory
 * region the master makes (a memfd every dispatcher maps), so that any
 * dispatcher's status page shows them all. Each dispatcher writes its own
 * slot; the master assigns slots and marks them free. */
#ifndef GW_DISPATCHERS_H
#define GW_DISPATCHERS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <ev.h>

#define DISPATCHERS_MAX 512 /* slots: two generations of 256 during a reload */

enum dispatcher_state {
	DISPATCHER_FREE,
	DISPATCHER_STARTING,
	DISPATCHER_READY,
	DISPATCHER_DRAINING
};

/* A cache line each: a dispatcher writes its counters at every connection,
 * and its neighbours' slots are read as often. */
struct dispatcher_slot {
	_Alignas(64) _Atomic int state; /* enum dispatcher_state */
	_Atomic int pid;
	_Atomic unsigned generation;
	_Atomic unsigned index; /* 0..N-1 within its generation */
	_Atomic uint32_t id_prefix; /* the first 8 hex digits of its request ids */
	_Atomic unsigned bell_len; /* set after bell; 0: no bell */
	_Atomic uint64_t connections;
	_Atomic uint64_t requests;
	_Atomic uint64_t started_ms; /* CLOCK_REALTIME */
	char bell[16]; /* its bell's abstract unix address (the kernel names it) */
};
_Static_assert(sizeof(struct dispatcher_slot) == 64, "a slot is one cache line");

/* The master: a zeroed table of DISPATCHERS_MAX slots; its fd (inherited by
 * dispatchers, close-on-exec cleared by the caller), or -errno. */
int dispatchers_create(void);
struct dispatcher_slot *dispatchers_table(void);
/* The master: slot i is taken (the scans stop past the highest slot taken). */
void dispatchers_take(int i);
/* The master: slot i's dispatcher is gone; its requests still count. */
void dispatchers_retire(int i);

/* A dispatcher: map the table from $GATEWAYD_STATS_FD and take slot
 * $GATEWAYD_SLOT. false when not started by a master (one process). */
bool dispatchers_attach(void);
/* This process's slot, or NULL when it runs alone. */
struct dispatcher_slot *dispatcher_self(void);
/* Copy this dispatcher's counters into its slot (a timer calls it). */
void dispatcher_publish(void);

/* This dispatcher's slot index, or -1 when it runs alone. */
int dispatcher_index(void);

/* The bell: a datagram socket of each dispatcher, named by the kernel
 * (autobind, so that no other process can take the name first) and published
 * in its slot, which another dispatcher or the master rings when a worker a
 * request here waits for comes free. A dispatcher: listen on it and call
 * rang() on each ring; 0 or -errno (then the waiting falls back to polling). */
int dispatcher_bell_listen(struct ev_loop *loop, void (*rang)(void));
/* Ring slot i's bell; nothing when it has none. */
void dispatchers_ring(int slot);

/* Whether this dispatcher holds more connections (published as it goes)
 * than another ready one of its generation, by more than a slack of one:
 * then it leaves the next connection to that one. Every dispatcher wakes
 * for a connection on the shared socket, and the first awake took a burst
 * of kept-alive ones all (16 of 16 seen), leaving the others idle for as
 * long as they lived. false when alone. */
bool dispatcher_ahead(void);

/* The sum over live slots of connections and requests (the whole server's,
 * for the status page), or this process's own when it runs alone. */
void dispatchers_totals(uint64_t *connections, uint64_t *requests);

/* Every live dispatcher as a JSON array (index, generation, pid, state,
 * id_prefix, connections, requests, cpu_seconds), or NULL when alone. */
struct json_t *dispatchers_json(void);
/* The same as Prometheus lines (nothing when alone). */
void dispatchers_prometheus(FILE *f);

#endif
