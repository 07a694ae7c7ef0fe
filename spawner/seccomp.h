/* A seccomp deny-list for scripts and workers: the system calls no CGI
 * script or interpreter needs and an attacker in one wants (ptrace, mount,
 * namespaces, kernel modules, kexec, bpf, perf, keyrings, userfaultfd...)
 * fail with EPERM. Everything else is allowed: a deny-list, not a profile,
 * so that unknown old scripts keep running. */
#ifndef GW_SPAWNER_SECCOMP_H
#define GW_SPAWNER_SECCOMP_H

#include <stdbool.h>

/* Whether this kernel and architecture take the filter (checked at run
 * time: PR_GET_SECCOMP, and an architecture the filter knows). */
bool seccomp_deny_available(void);

/* Install the filter in the calling process (the child between fork and
 * exec: async-signal-safe, no allocation). 0, -ENOSYS where not available
 * (nothing installed), or -errno. */
int seccomp_deny_enter(void);

#endif
