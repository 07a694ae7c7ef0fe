/* Pools of long-lived workers: start, watch, recycle, replace.
 *
 * Each worker gets a listening unix socket of its own as fd 0 (the FastCGI
 * convention, FCGI_LISTENSOCK_FILENO), so unmodified php-cgi and libfcgi
 * programs run as they are. The pool knows every worker's state; the
 * dispatcher takes an idle worker per request and gives it back, so it always
 * knows which worker holds which request. */
#ifndef GW_SPAWNER_POOL_H
#define GW_SPAWNER_POOL_H

#include <ev.h>
#include <stdbool.h>
#include <sys/types.h>

enum worker_state {
	WORKER_STARTING, /* spawned; not yet seen accepting (a probe connection waits) */
	WORKER_IDLE,
	WORKER_BUSY,
	WORKER_DRAINING, /* told to stop (recycled, idle too long, reload); exit awaited */
	WORKER_DEAD,     /* its process is gone; the record goes once the dispatcher lets go */
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
	 * (a worker blocked reading a kept-alive connection cannot see a signal). */
	void (*stopping)(struct pool *p, struct worker *w);
	/* A line the worker wrote to its stderr (NULL: the pool logs it as a warning). */
	void (*stderr_line)(struct pool *p, struct worker *w, const char *line, size_t len);
	/* A worker's process is gone. w->job is what it held (NULL if none). */
	void (*exited)(struct pool *p, struct worker *w, int wait_status);
};

struct pool_settings {
	const char *name;
	const char *socket_name; /* the socket file prefix: unique across reloads */
	char *const *argv;     /* NULL: an external pool (addresses, nothing spawned) */
	char *const *envp;
	const char *cwd;
	uid_t uid;
	gid_t gid;
	enum pool_sizing sizing;
	int start;             /* static: the count; dynamic: how many at start */
	int min_spare;
	int max_spare;
	int max;
	double idle_timeout;   /* ondemand */
	unsigned max_requests; /* 0: never recycled */
	int stop_signal;
	double start_timeout;  /* a worker not ready by then is killed */
	char *const *addresses; /* external: "host:port" or "unix:/path" */
	int connections;       /* external: slots per address */
	const char *socket_dir; /* where worker sockets go */
};

struct worker {
	struct pool *pool;
	unsigned slot;         /* "name#slot" in logs and status */
	pid_t pid;             /* 0 for an external slot */
	enum worker_state state;
	char address[128];     /* "unix:/path" or "host:port": where the dispatcher connects */
	unsigned long requests;
	ev_tstamp started_at;
	ev_tstamp state_since;
	ev_child child_w;
	ev_timer timer;        /* start timeout, or the grace after the stop signal */
	int listen_fd;         /* the worker's listening socket, kept to watch it accept */
	int probe_fd;          /* a connection waiting to be accepted: readiness */
	ev_timer probe_w;
	int err_fd;            /* the worker's stderr, logged line by line */
	ev_io err_w;
	char errline[512];
	size_t errlen;
	void *conn;            /* the dispatcher's connection to it */
	void *job;             /* the request it serves */
	void *next_job;        /* a request sent on behind job, waiting in its socket's backlog */
	bool kill_requested;   /* we killed it: not a crash */
	struct worker *next;
};

struct pool {
	struct pool_settings set;
	const struct pool_hooks *hooks;
	void *owner;           /* the dispatcher's */
	struct ev_loop *loop;
	struct worker *workers;
	unsigned next_slot;
	unsigned count[WORKER_NSTATES];
	unsigned long spawns;
	unsigned long crashes;
	unsigned long served;
	double backoff;        /* seconds to wait before the next spawn; 0: none */
	ev_tstamp next_spawn_at;
	unsigned waiting;      /* requests queued for a worker (set by the dispatcher) */
	ev_timer maintain;
	bool draining;         /* no more spawns; stop everything */
};

/* Start the pool's initial workers. -1 with a logged reason on a start-up error. */
int pool_start(struct pool *p, struct ev_loop *loop, const struct pool_settings *set,
               const struct pool_hooks *hooks, void *owner);
/* An idle worker, now busy with job; NULL if none (the pool may spawn one). */
struct worker *pool_take_idle(struct pool *p, void *job);
/* A busy spawned worker that may take one more request behind the one it
 * serves (not draining, not due for recycling within two requests, the pool
 * at its full size), the one busy longest; now w->next_job is job. NULL if none. */
struct worker *pool_take_busy(struct pool *p, void *job);
/* The job is done with w: the next job becomes w's, or w is idle again, or
 * recycled after max_requests. */
void pool_release(struct pool *p, struct worker *w);
/* w's next_job ended before it became w's job (served: the worker got it). */
void pool_drop_next(struct pool *p, struct worker *w, bool served);
/* w was taken but the job never reached it: idle again, neither counted as
 * served nor toward max_requests. */
void pool_untake(struct pool *p, struct worker *w);
/* Kill w's process group now (timeout, protocol failure); it is replaced. */
void pool_kill(struct pool *p, struct worker *w, const char *why);
/* An external slot failed to connect: out of service for a while. */
void pool_slot_failed(struct pool *p, struct worker *w);
/* Requests are waiting: let the pool grow if its sizing allows. */
void pool_demand(struct pool *p);
/* Stop: idle workers now, busy ones when released. */
void pool_drain(struct pool *p);
/* Workers still alive (any state but DEAD). */
unsigned pool_alive(const struct pool *p);
/* Free a drained pool with no worker left. */
void pool_free(struct pool *p);
/* SIGKILL every worker's group (shutdown deadline). */
void pool_kill_all(struct pool *p);

#endif
