#include "spawner/sandbox.h"
#include "spawner/seccomp.h"

#include <errno.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int limit(int resource, uint64_t soft, uint64_t hard)
{
	struct rlimit rl = { .rlim_cur = (rlim_t)soft, .rlim_max = (rlim_t)hard };
	return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

int sandbox_enter(const struct sandbox *sb)
{
	int err;

	/* Close-on-exec rather than closed: a report pipe to the spawner (already
	 * close-on-exec) must outlive a failing setuid or execve. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		if (errno != EINVAL)
			return -errno;
		if (close_range(3, ~0U, 0) < 0)
			return -errno;
	}
	if (sb->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (sb->umask >= 0)
		umask((mode_t)sb->umask & 0777);
	if ((err = limit(RLIMIT_CORE, 0, 0)) < 0)
		return err;
	/* CPU: soft below hard by a second. At the soft limit the kernel sends
	 * SIGXCPU (a script may catch it to log and exit), then SIGKILL at the hard
	 * one, so a handler that ignores it buys one second, no more. */
	if (sb->cpu_seconds && (err = limit(RLIMIT_CPU, sb->cpu_seconds, sb->cpu_seconds + 1)) < 0)
		return err;
	/* The others: soft = hard, so the child cannot raise them back. */
	if (sb->memory_bytes && (err = limit(RLIMIT_AS, sb->memory_bytes, sb->memory_bytes)) < 0)
		return err;
	if (sb->processes && (err = limit(RLIMIT_NPROC, sb->processes, sb->processes)) < 0)
		return err;
	if (sb->file_size && (err = limit(RLIMIT_FSIZE, sb->file_size, sb->file_size)) < 0)
		return err;
	if (sb->open_files && (err = limit(RLIMIT_NOFILE, sb->open_files, sb->open_files)) < 0)
		return err;
	/* Last: it would refuse nothing above, but nothing is left to refuse then. */
	if (sb->seccomp && (err = seccomp_deny_enter()) < 0 && err != -ENOSYS)
		return err;
	return 0;
}

size_t sandbox_describe(const struct sandbox *sb, char *out, size_t cap)
{
	static const struct {
		const char *name;
		size_t off;
	} limits[] = {
		{ "cpu", offsetof(struct sandbox, cpu_seconds) },
		{ "memory", offsetof(struct sandbox, memory_bytes) },
		{ "processes", offsetof(struct sandbox, processes) },
		{ "file_size", offsetof(struct sandbox, file_size) },
		{ "open_files", offsetof(struct sandbox, open_files) },
	};
	size_t n = 0;
	int r;

	/* Append, counting what would have been written once out is full. */
#define APPEND(...)                                                                         \
	do {                                                                                \
		r = snprintf(n < cap ? out + n : NULL, n < cap ? cap - n : 0, __VA_ARGS__); \
		n += r > 0 ? (size_t)r : 0;                                                 \
	} while (0)
	APPEND("{\"no_new_privs\":%s", sb->no_new_privs ? "true" : "false");
	if (sb->umask >= 0)
		APPEND(",\"umask\":\"%03o\"", (unsigned)sb->umask & 0777);
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		uint64_t v = *(const uint64_t *)((const char *)sb + limits[i].off);
		if (v)
			APPEND(",\"%s\":%llu", limits[i].name, (unsigned long long)v);
	}
	if (sb->seccomp && seccomp_deny_available())
		APPEND(",\"seccomp\":\"deny-list\"");
	APPEND(",\"core\":0}");
#undef APPEND
	return n;
}
