/* A cgroup per child, so that everything it starts (a setsid() grandchild, a
 * double fork) can be killed and measured as one: a process group cannot
 * follow a child that leaves it, a cgroup can.
 *
 * cgroups_open() finds the hierarchies from /proc/self/mountinfo and
 * /proc/self/cgroup (no path is assumed) and makes a base directory of ours in
 * each usable one, <mount><our cgroup>/<name>-<pid>:
 *  - cgroup2, where the children get cgroup.kill and cpu.stat even with no
 *    controller enabled; "+pids +memory" are tried in the subtree_control of
 *    our cgroup and of the base. (In a non-root cgroup that holds processes,
 *    the daemon itself included, the kernel refuses: on a systemd host with
 *    Delegate=yes the controllers come only when our own cgroup delegates them.)
 *  - cgroup v1 "pids" and "memory" hierarchies, for whichever of the two the
 *    cgroup2 tree lacks.
 * Nothing usable: -1 and a reason; the caller runs children without cgroups.
 *
 * Leftovers: cgroups_close() kills what is left and removes the base. A
 * spawner that crashed cannot, so cgroups_open() removes every <name>-<pid>
 * sibling whose pid is no longer alive (killing its remaining members first):
 * a restarted spawner cleans up after the one before. (The pid is checked in
 * our pid namespace: two spawners sharing one cgroup tree from different pid
 * namespaces need different names.)
 *
 * Per child, in the spawner:
 *   child_cgroup_create()        mkdir, limits; the cgroup2 directory opened
 *                                (birth_fd) where the kernel can start a child
 *                                in it (clone3 CLONE_INTO_CGROUP, Linux 5.7),
 *                                cgroup.procs opened where it cannot
 *   spawn (spawn_spec.cgroup_fd = birth_fd); in the child:
 *                                child_cgroup_enter() (as root, before
 *                                sandbox_enter and the uid change), exec
 *   child_cgroup_close_fds()     in the parent once forked
 *   ... child_cgroup_stats() after it exited, child_cgroup_remove(), and
 *   child_cgroup_kill() only if members remain (-EBUSY): retry later.
 *
 * Born in its group, a child never migrates: writing cgroup.procs takes the
 * kernel's cgroup-wide migration lock for writing (an RCU grace period when
 * it is cold), which made every spawn wait. */
#ifndef GW_SPAWNER_CGROUP_H
#define GW_SPAWNER_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CGROUP_PATH_MAX 512

/* The hierarchies a child is put in; an empty path: not used. */
enum cgroup_hier { CG_V2, CG_V1_PIDS, CG_V1_MEMORY, CG_NHIER };

struct cgroups {
	char base[CG_NHIER][CGROUP_PATH_MAX]; /* the directories we made */
	bool v2_pids, v2_memory; /* enabled in base's cgroup.subtree_control */
	bool v2_kill; /* cgroup.kill (Linux 5.14) */
	bool v2_birth; /* clone3 can start a child in a cgroup2 group */
};

struct child_cgroup_limits {
	uint64_t pids_max; /* 0: none */
	uint64_t memory_max; /* bytes; 0: none */
};

struct child_cgroup {
	char dir[CG_NHIER][CGROUP_PATH_MAX];
	int procs_fd[CG_NHIER]; /* cgroup.procs, open from create to close_fds; -1 */
	int birth_fd; /* the cgroup2 directory to be born in, same lifetime; -1 */
	bool has_kill; /* dir[CG_V2]/cgroup.kill */
	bool pids_limited, memory_limited; /* which limits were applied */
	int memory_hier; /* where the peak memory is read; -1: nowhere */
};

/* Find and set up the hierarchies: base directories <name>-<getpid()>.
 * Returns 0, or -1 with a reason in err. */
int cgroups_open(struct cgroups *cg, const char *name, char *err, size_t errlen);
/* The same, reading the given files instead of /proc/self/{mountinfo,cgroup}
 * (for tests). */
int cgroups_open_from(struct cgroups *cg, const char *name, const char *mountinfo,
                      const char *proc_cgroup, char *err, size_t errlen);
/* Kill and remove every child group left, then the base directories. */
void cgroups_close(struct cgroups *cg);

/* A group "c<id>" in each hierarchy, the limits written where a controller is
 * (a limit that has no controller is left out: see pids_limited and
 * memory_limited). Returns 0 or -errno; nothing is left behind on failure. */
int child_cgroup_create(const struct cgroups *cg, uint64_t id,
                        const struct child_cgroup_limits *limits, struct child_cgroup *cc);
/* In the child between fork and exec: moves the calling process into every
 * group it was not born in (writes "0" to each open cgroup.procs).
 * Async-signal-safe. 0 or -errno. */
int child_cgroup_enter(const struct child_cgroup *cc);
/* In the parent once the child is forked: the cgroup.procs and birth
 * descriptors. */
void child_cgroup_close_fds(struct child_cgroup *cc);
/* SIGKILL to every member: cgroup.kill where there is one, else a loop over
 * cgroup.procs until it is empty (at most ~1 s). 0, or -EBUSY if members
 * remain (a fork bomb outrunning the loop: try again). */
int child_cgroup_kill(struct child_cgroup *cc);
/* CPU time used by the whole tree (cgroup2 cpu.stat usage_usec) and its peak
 * memory (cgroup2 memory.peak or v1 memory.max_usage_in_bytes: page cache
 * included, so not quite a max RSS); CGROUP_STAT_UNKNOWN where not available.
 * 0, or -ENOENT when neither is. */
#define CGROUP_STAT_UNKNOWN UINT64_MAX
int child_cgroup_stats(const struct child_cgroup *cc, uint64_t *cpu_us, uint64_t *maxrss_kb);
/* rmdir each group. -EBUSY while members remain (zombies not reaped yet
 * included in v1): call again later; 0 once all are gone. */
int child_cgroup_remove(struct child_cgroup *cc);

#endif
