/* Pools of long-lived workers: a process supervisor. It starts workers,
 * watches them (ready, exited, stderr), recycles them after max_requests,
 * backs off when they die young, sizes the pool and reports.
 *
 * Each worker gets a listening unix socket of its own as fd 0 (the FastCGI
 * convention, FCGI_LISTENSOCK_FILENO), so unmodified php-cgi and libfcgi
 * programs run as they are.
 *
 * The dispatcher uses workers through a small peer interface, as nginx's
 * upstream uses get/free peer: it takes an idle worker, says when one
 * request is served, and releases the worker (or has it killed). What it
 * sends and to which busy worker is its own business: the pool holds no
 * request, only an opaque pointer the dispatcher hangs on each worker. */
#ifndef GW_SPAWNER_POOL_H
#define GW_SPAWNER_POOL_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "spawner/client.h"

enum worker_state {
	WORKER_STARTING, /* spawned; not yet seen accepting (a probe connection waits) */
	WORKER_IDLE,
	WORKER_BUSY,
	WORKER_DRAINING, /* told to stop (recycled, idle too long, reload); exit awaited */
	WORKER_DEAD, /* its process is gone; the record goes once the dispatcher lets go */
	WORKER_NSTATES
};

const char *worker_state_name(enum worker_state s);

enum pool_sizing { POOL_SIZE_STATIC, POOL_SIZE_DYNAMIC, POOL_SIZE_ONDEMAND };

struct pool;
struct worker;

struct pool_hooks {
	/* level: 0 error, 1 warn, 2 info, 3 debug. */
	void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	/* A worker is idle (ready, or done with a request): a waiting request may take it. */
	void (*idle)(struct pool *p, struct worker *w);
	/* A worker is about to be told to stop: drop any idle connection to it
	 * (a worker blocked reading a kept-alive connection cannot see a signal).
	 * false: another process took it since the pool last knew (the pools'
	 * board); it is not stopped, and counts as busy until released. */
	bool (*stopping)(struct pool *p, struct worker *w);
	/* A line the worker wrote to its stderr (NULL: the pool logs it as a
	 * warning). A line longer than the buffer comes in parts: part 1, 2, ...
	 * with more set on all but the last; part 0 is a whole line. */
	void (*stderr_line)(struct pool *p, struct worker *w, const char *line, size_t len,
	                    unsigned part, bool more);
	/* A worker's process is gone, before the pool judges how (optional):
	 * bring w->requests up to date where others count them (the pools'
	 * board), since a worker that served requests may leave on its own. */
	void (*exiting)(struct pool *p, struct worker *w);
	/* A worker's process is gone (w->peer is still the dispatcher's); the
	 * record is freed when this returns. */
	void (*exited)(struct pool *p, struct worker *w, int wait_status);
};

struct pool_settings {
	const char *name; /* the spawner knows the pool's command, user and sandbox by it */
	const char *socket_name; /* the socket file prefix: unique across reloads */
	enum pool_sizing sizing;
	int start; /* static: the count; dynamic: how many at start */
	int min_spare;
	int max_spare;
	int max;
	double idle_timeout; /* ondemand */
	unsigned max_requests; /* 0: never recycled */
	uint64_t max_rss_kb; /* a worker whose resident memory passes it is recycled; 0: never */
	int stop_signal;
	double start_timeout; /* a worker not ready by then is killed */
	const char *socket_dir; /* where worker sockets go */
	bool socket_owned; /* chown each socket to socket_uid:socket_gid, mode 0660 */
	uid_t socket_uid; /* (dispatchers in other processes connect to them) */
	gid_t socket_gid;
};

struct worker {
	struct pool *pool;
	unsigned slot; /* "name#slot" in logs and status */
	pid_t pid;
	enum worker_state state;
	char address[128]; /* "unix:/path": where the dispatcher connects */
	unsigned long requests;
	ev_tstamp started_at;
	ev_tstamp state_since;
	struct spawn_watch watch; /* its exit, reported by the spawner */
	ev_timer timer; /* start timeout, or the grace after the stop signal */
	int listen_fd; /* the worker's listening socket, kept to watch it accept */
	int probe_fd; /* a connection waiting to be accepted: readiness */
	ev_timer probe_w;
	int err_fd; /* the worker's stderr, logged line by line */
	ev_io err_w;
	char errline[4096];
	size_t errlen;
	unsigned errparts; /* parts of the current line already handed on */
	char errrid[24]; /* the dispatcher's: the request id of a split line's first part */
	void *peer; /* the dispatcher's, opaque here: set, read and freed by it */
	bool kill_requested; /* we killed it: not a crash */
	bool left; /* it exited 0 after serving, unasked: at a request limit of its own */
	bool recycle; /* stop it once its request is done (max_rss) */
	struct worker *next;
};

struct pool {
	struct pool_settings set;
	const struct pool_hooks *hooks;
	void *owner; /* the dispatcher's */
	struct ev_loop *loop;
	struct worker *workers;
	unsigned next_slot;
	unsigned count[WORKER_NSTATES];
	unsigned long spawns;
	unsigned long crashes;
	unsigned long served;
	double backoff; /* seconds to wait before the next spawn; 0: none */
	ev_tstamp next_spawn_at;
	unsigned waiting; /* requests waiting for a worker (the dispatcher sets it) */
	ev_timer maintain;
	bool draining; /* no more spawns; stop everything */
};

/* Start the pool's initial workers. -1 with a logged reason on a start-up error. */
int pool_start(struct pool *p, struct ev_loop *loop, const struct pool_settings *set,
               const struct pool_hooks *hooks, void *owner);

/* ---- the peer interface: take, count, release -------------------------- */

/* An idle worker, now busy; NULL if none (pool_demand lets the pool grow). */
struct worker *pool_take(struct pool *p);
/* This idle worker, now busy (another process chose it: the pools' board). */
void pool_claim(struct pool *p, struct worker *w);
/* w finished a request: counted, toward max_requests too. */
void pool_served(struct pool *p, struct worker *w);
/* The dispatcher is done with w: idle again, or told to stop (recycled after
 * max_requests; the pool draining with no request waiting). A worker no
 * longer busy (killed meanwhile) is left as it is. */
void pool_release(struct pool *p, struct worker *w);
/* Kill w's process group now (timeout, protocol failure); it is replaced. */
void pool_kill(struct pool *p, struct worker *w, const char *why);
/* Requests are waiting (p->waiting): let the pool grow if its sizing allows. */
void pool_demand(struct pool *p);

/* ---- facts for the dispatcher's choices --------------------------------- */

/* The pool starts no worker for a waiting request: static, or at its max. */
bool pool_at_full_size(const struct pool *p);

/* ---- the supervisor's life ----------------------------------------------- */

/* Stop: idle workers now, busy ones when released. */
void pool_drain(struct pool *p);
/* Workers still alive (any state but DEAD). */
unsigned pool_alive(const struct pool *p);
/* Free a drained pool with no worker left. */
void pool_free(struct pool *p);
/* SIGKILL every worker's group (shutdown deadline). */
void pool_kill_all(struct pool *p);

#endif
