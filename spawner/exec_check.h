/* suEXEC's checks, made by the privileged spawner before it runs a CGI script
 * as its route's user: the script lies below the route's root, nothing on the
 * way to it can be changed by anyone but that user or root, and the script is
 * a plain, non-setid file that user may execute.
 *
 * Race-free where it matters: the file system is walked one component at a
 * time from an fd on the root (openat with O_NOFOLLOW, symlinks expanded here,
 * ".." never above the root), every directory and the file are fstat'ed
 * through the fd that was opened, never looked up again by path; the kernel's
 * own openat2(RESOLVE_BENEATH) of the whole path must then reach the same file.
 * No fallback is needed where openat2 is missing (ENOSYS): the walk alone is
 * as safe, the cross-check is skipped.
 *
 * The race that remains: the spawner execve()s out->path after the check
 * (fexecve of a #! script would give the interpreter /dev/fd/N as $0, and
 * leak that fd into the script), so the kernel resolves the path once more.
 * A swap between check and exec needs a write to one of the directories
 * checked, i.e. the target user or root, who can run anything as that user
 * anyway. The contents of a file the target user owns can change too; that
 * is the same user again. */
#ifndef GW_SPAWNER_EXEC_CHECK_H
#define GW_SPAWNER_EXEC_CHECK_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What the config could default min_uid/min_gid to: Debian's www-data (33)
 * passes, the older system accounts below it (daemon 1, bin 2, sys 3, mail 8,
 * proxy 13...) do not. Apache's suEXEC defaults to 100 (AP_UID_MIN), which
 * would refuse www-data. */
#define EXEC_SUGGESTED_MIN_UID 33
#define EXEC_SUGGESTED_MIN_GID 33

/* The checks are made in this order: the pure ones (path text, target ids)
 * first, before any system call, then the walk from the root down. */
enum exec_check {
	EXEC_OK = 0,
	EXEC_NOT_ABSOLUTE, /* root or script */
	EXEC_DOTDOT, /* a ".." component in the script's path */
	EXEC_OUTSIDE_ROOT, /* not textually below root, or a symlink leading out */
	EXEC_NOT_FOUND, /* root or a component missing, not a directory, a symlink loop */
	EXEC_NOT_REGULAR, /* a directory, a device, a FIFO... */
	EXEC_NOT_EXECUTABLE, /* no x bit for the target (owner, else group, else other) */
	EXEC_FILE_WRITABLE, /* by group or others */
	EXEC_DIR_WRITABLE, /* a directory from the root (included) down, by group or others */
	EXEC_FILE_OWNER, /* neither the target uid nor root */
	EXEC_DIR_OWNER,
	EXEC_SETID, /* setuid or setgid bit */
	EXEC_UID_ROOT, /* target uid 0 and !root_allowed */
	EXEC_UID_LOW, /* target uid below min_uid */
	EXEC_GID_ROOT,
	EXEC_GID_LOW,
	EXEC_SYSTEM, /* the check itself failed (EMFILE, ENOMEM...): not the script's fault */
	EXEC_NCHECKS
};

/* A short stable name for logs and metrics, e.g. "file-writable"; "?" if out of range. */
const char *exec_check_name(enum exec_check c);

struct exec_target {
	uid_t uid;
	gid_t gid; /* the primary group; supplementary groups are not considered */
	uid_t min_uid;
	gid_t min_gid;
	bool root_allowed; /* uid 0 / gid 0 may run scripts (min_* then not applied to 0) */
};

struct exec_file {
	dev_t dev;
	ino_t ino;
	uid_t owner;
	mode_t mode;
	/* root, then the script's path below it with empty and "." components
	 * dropped; symlinks are left in it (a #! script sees this as $0): the
	 * path to give execve. */
	char path[PATH_MAX];
};

/* Check script (an absolute path) below root (an absolute directory) for the
 * target. Returns EXEC_OK and fills *out, or the first check that failed and,
 * when why is not NULL, one line in why naming the check, the file and the
 * uid, e.g. "file-writable: /srv/cgi/x.cgi is writable by group or others
 * (mode 0775) for uid 1001". Opens no fd that it does not close.
 *
 * Symlinks are followed while they stay below the root; an absolute one is
 * refused as EXEC_OUTSIDE_ROOT even if it points inside (as RESOLVE_BENEATH
 * does). Every directory the walk enters is checked, the root included:
 * stricter than suEXEC, which checks only the script's own directory. The
 * directories above the root are trusted (they are the admin's config). */
enum exec_check exec_check(const char *root, const char *script, const struct exec_target *t,
                           struct exec_file *out, char *why, size_t whylen);

#endif
