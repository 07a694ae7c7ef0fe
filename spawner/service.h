/* The privileged spawner: a small process that keeps root (or whoever started
 * gatewayd) while the dispatcher that parses client bytes runs without it. It
 * takes only well-formed requests (protocols/spawn_msg.h) from its dispatcher,
 * has each checked by a policy working from its own copy of the config, and
 * starts, signals and reaps the children; it reports every exit.
 *
 * Everything a child starts dies with it: each child gets a cgroup of its own
 * where the host lets us make one (cgroup.kill ends the whole tree, a setsid()
 * grandchild included); without one, the spawner is a child subreaper and
 * kills what the child's process group left behind once the child is gone.
 * When its dispatcher goes away (exit, crash, kill -9), it kills every child's
 * tree, reaps them and exits. */
#ifndef GW_SPAWNER_SERVICE_H
#define GW_SPAWNER_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "protocols/spawn_msg.h"
#include "spawner/sandbox.h"
#include "spawner/spawn.h"

#define SPAWN_PLAN_MAX_ARGS 64
#define SPAWN_PLAN_MAX_ENV 512

/* What the policy decided to run: the spec spawn_process takes, the sandbox,
 * and what the audit line says. Strings point into the policy's own memory or
 * into the request (valid until the spawn is done). */
struct spawn_plan {
	struct spawn_spec spec;
	struct sandbox sandbox;
	bool cgroup; /* a cgroup of its own, if the host has a usable hierarchy */
	uint64_t pids_max; /* the cgroup's limits (0: none) */
	uint64_t memory_max;
	const char *rid;
	char path[4096]; /* the file executed */
	uint64_t inode;
	unsigned check; /* nonzero: refused; why says which check and why */
	char why[512];
	char *argv[SPAWN_PLAN_MAX_ARGS + 2];
	char *envp[SPAWN_PLAN_MAX_ENV + 1];
	char env_store[8192]; /* variables the policy adds (PATH...) */
};

/* Only plan is required: without reload the spawner refuses to, without
 * reopen_logs it hands over none, without audit it writes none, without log
 * it writes its errors to stderr. */
/* What the audit line says of a child, kept from its spawn until it is gone. */
struct spawn_audit {
	char rid[32];
	char path[4096];
	uid_t uid;
	gid_t gid;
	uint64_t inode;
	struct sandbox sandbox; /* as applied: less what its cgroup holds */
	uint64_t pids_max;
	uint64_t memory_max;
};

struct spawn_policy {
	/* Decide on a request (m->type CGI or WORKER): fill plan, or set
	 * plan->check and plan->why. Returns 0, or -errno (EACCES for a refusal). */
	int (*plan)(const struct spawn_msg *m, struct spawn_plan *plan);
	/* Read the config again: 0, or -1 with why. */
	int (*reload)(char *why, size_t cap);
	/* Whether every script and worker the config can start has the seccomp
	 * deny-list: then the spawner takes it itself, once, and its children
	 * inherit it (installed per child it cost ~90 us of CPU per spawn, to
	 * compile the filter). */
	bool (*every_child_seccomp)(void);
	/* Reopen the logs: fds[0] error, fds[1] access (-1: stderr or none; the
	 * spawner keeps its own and hands over these). 0 or -errno. */
	int (*reopen_logs)(int fds[2]);
	/* One line per exec, once the child is gone. */
	void (*audit)(const struct spawn_audit *a, pid_t pid, const char *cgroup, int status,
	              uint64_t cpu_us, uint64_t maxrss_kb);
	/* level: 0 error ... 3 debug. */
	void (*log)(int level, const char *rid, const char *fmt, ...)
	        __attribute__((format(printf, 3, 4)));
};

/* Fork the spawner. In the parent: its pid, with *request_fd and *event_fd the
 * dispatcher's ends (spawner/client.h); -errno on failure. In the child:
 * closes every descriptor but keep[] (the logs) and its two sockets, serves
 * until the dispatcher hangs up, and exits (it never returns). */
pid_t spawner_fork(const struct spawn_policy *policy, const int *keep, size_t nkeep,
                   int *request_fd, int *event_fd);

#endif
