#include "spawner/exec_check.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Linux's own limit on symlinks followed in one lookup. */
#define MAX_LINKS 40

static const char *const names[EXEC_NCHECKS] = {
	[EXEC_OK] = "ok",
	[EXEC_NOT_ABSOLUTE] = "not-absolute",
	[EXEC_DOTDOT] = "dotdot",
	[EXEC_OUTSIDE_ROOT] = "outside-root",
	[EXEC_NOT_FOUND] = "not-found",
	[EXEC_NOT_REGULAR] = "not-regular",
	[EXEC_NOT_EXECUTABLE] = "not-executable",
	[EXEC_FILE_WRITABLE] = "file-writable",
	[EXEC_DIR_WRITABLE] = "dir-writable",
	[EXEC_FILE_OWNER] = "file-owner",
	[EXEC_DIR_OWNER] = "dir-owner",
	[EXEC_SETID] = "setid",
	[EXEC_UID_ROOT] = "uid-root",
	[EXEC_UID_LOW] = "uid-low",
	[EXEC_GID_ROOT] = "gid-root",
	[EXEC_GID_LOW] = "gid-low",
	[EXEC_SYSTEM] = "system",
};

const char *exec_check_name(enum exec_check c)
{
	if ((unsigned)c >= EXEC_NCHECKS)
		return "?";
	return names[c];
}

/* One walk's state. The fds are O_PATH: opening a FIFO or a device this way
 * has no side effect, and fstat works on them. */
struct walk {
	const struct exec_target *t;
	char *why;
	size_t whylen;
	int root; /* the root directory */
	int cur; /* the directory reached; may be root */
	int depth; /* directories entered below the root: ".." at 0 leads out */
	int links; /* symlinks followed */
	char at[PATH_MAX]; /* cur's path, symlinks resolved: for messages */
	char rest[PATH_MAX]; /* what is left to resolve, relative to cur */
};

/* Write why's one line, "<name>: <what> for uid N" (cut short if it must
 * be), and return c. */
__attribute__((format(printf, 3, 4))) static enum exec_check
refuse(struct walk *w, enum exec_check c, const char *fmt, ...)
{
	if (!w->why || w->whylen == 0)
		return c;
	int n = snprintf(w->why, w->whylen, "%s: ", exec_check_name(c));
	if (n < 0 || (size_t)n >= w->whylen)
		return c;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(w->why + n, w->whylen - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)(n + m) >= w->whylen)
		return c;
	snprintf(w->why + n + m, w->whylen - (size_t)(n + m), " for uid %lu",
	         (unsigned long)w->t->uid);
	return c;
}

/* An errno from a lookup: the script's path is wrong, or the check could not
 * be made at all. */
static enum exec_check lookup_failed(struct walk *w, const char *path, int err)
{
	enum exec_check c = EXEC_SYSTEM;
	if (err == ENOENT || err == ENOTDIR || err == ELOOP || err == ENAMETOOLONG || err == EACCES)
		c = EXEC_NOT_FOUND;
	return refuse(w, c, "%s: %s", path, strerror(err));
}

static enum exec_check check_dir(struct walk *w, int fd)
{
	const char *at = w->at[0] ? w->at : "/"; /* the root "/" is kept as "" */
	struct stat st;
	if (fstat(fd, &st) < 0)
		return lookup_failed(w, at, errno);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return refuse(w, EXEC_DIR_WRITABLE, "%s is writable by group or others (mode %04o)",
		              at, (unsigned)(st.st_mode & 07777));
	if (st.st_uid != w->t->uid && st.st_uid != 0)
		return refuse(w, EXEC_DIR_OWNER, "%s is owned by uid %lu", at,
		              (unsigned long)st.st_uid);
	return EXEC_OK;
}

static enum exec_check check_file(struct walk *w, const struct stat *st, const char *path)
{
	const struct exec_target *t = w->t;
	mode_t m = st->st_mode;

	if (!S_ISREG(m))
		return refuse(w, EXEC_NOT_REGULAR, "%s is not a regular file", path);
	if (m & (S_IWGRP | S_IWOTH))
		return refuse(w, EXEC_FILE_WRITABLE,
		              "%s is writable by group or others (mode %04o)", path,
		              (unsigned)(m & 07777));
	if (st->st_uid != t->uid && st->st_uid != 0)
		return refuse(w, EXEC_FILE_OWNER, "%s is owned by uid %lu", path,
		              (unsigned long)st->st_uid);
	if (m & (S_ISUID | S_ISGID))
		return refuse(w, EXEC_SETID, "%s has the setuid or setgid bit (mode %04o)", path,
		              (unsigned)(m & 07777));
	/* The kernel's order: the owner's bits alone if the target owns it,
	 * else the group's if its gid matches, else the others'. Root would
	 * get by with any x bit; asking for its own is stricter, and harmless. */
	mode_t x = S_IXOTH;
	if (st->st_uid == t->uid)
		x = S_IXUSR;
	else if (st->st_gid == t->gid)
		x = S_IXGRP;
	if (!(m & x))
		return refuse(w, EXEC_NOT_EXECUTABLE, "%s is not executable by it (mode %04o)",
		              path, (unsigned)(m & 07777));
	return EXEC_OK;
}

/* Move cur to fd (a directory one level down, or up for ".."), closing the
 * old one unless it is the root. */
static void enter(struct walk *w, int fd)
{
	if (w->cur != w->root)
		close(w->cur);
	w->cur = fd;
}

/* Take the next component off w->rest into name; false when none is left. */
static bool next_component(struct walk *w, char *name, size_t size)
{
	char *p = w->rest;
	while (*p == '/')
		p++;
	size_t n = strcspn(p, "/");
	if (n == 0)
		return false;
	if (n >= size)
		n = size - 1; /* NAME_MAX + 1 bytes: openat will say ENAMETOOLONG */
	memcpy(name, p, n);
	name[n] = '\0';
	p += strcspn(p, "/");
	memmove(w->rest, p, strlen(p) + 1);
	return true;
}

static bool rest_is_empty(const struct walk *w)
{
	return w->rest[strspn(w->rest, "/")] == '\0';
}

/* Replace the symlink just taken off rest by its target. */
static enum exec_check follow(struct walk *w, int fd, const char *name)
{
	char target[PATH_MAX];
	if (++w->links > MAX_LINKS)
		return lookup_failed(w, name, ELOOP);
	/* An O_PATH fd on a symlink reads it with an empty path (Linux 2.6.39). */
	ssize_t n = readlinkat(fd, "", target, sizeof target);
	if (n < 0)
		return lookup_failed(w, name, errno);
	if ((size_t)n >= sizeof target)
		return lookup_failed(w, name, ENAMETOOLONG);
	target[n] = '\0';
	if (target[0] == '/')
		return refuse(w, EXEC_OUTSIDE_ROOT, "%s/%s is a symlink to an absolute path (%s)",
		              w->at, name, target);
	size_t rlen = strlen(w->rest);
	if ((size_t)n + 1 + rlen >= sizeof w->rest)
		return lookup_failed(w, name, ENAMETOOLONG);
	memmove(w->rest + n + 1, w->rest, rlen + 1);
	memcpy(w->rest, target, (size_t)n);
	w->rest[n] = '/';
	return EXEC_OK;
}

/* The walk itself, from w->root through w->rest; on EXEC_OK *st is the
 * file's, and *fd_out its O_PATH fd. */
static enum exec_check walk(struct walk *w, const char *path, struct stat *st, int *fd_out)
{
	char name[NAME_MAX + 2];
	enum exec_check c;

	while (next_component(w, name, sizeof name)) {
		bool last = rest_is_empty(w);
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			if (name[1] == '.') {
				/* Only a symlink's target gets here: the script's
				 * own ".." were refused before. */
				if (w->depth == 0)
					return refuse(w, EXEC_OUTSIDE_ROOT,
					              "%s: a symlink leads above the root %s", path,
					              w->at);
				int up = openat(w->cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (up < 0)
					return lookup_failed(w, w->at, errno);
				enter(w, up);
				w->depth--;
				*strrchr(w->at, '/') = '\0';
				if ((c = check_dir(w, w->cur)) != EXEC_OK)
					return c;
			}
			if (last)
				return refuse(w, EXEC_NOT_REGULAR, "%s resolves to directory %s",
				              path, w->at);
			continue;
		}
		int fd = openat(w->cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return lookup_failed(w, path, errno);
		if (fstat(fd, st) < 0) {
			c = lookup_failed(w, path, errno);
			close(fd);
			return c;
		}
		if (S_ISLNK(st->st_mode)) {
			c = follow(w, fd, name);
			close(fd);
			if (c != EXEC_OK)
				return c;
			continue;
		}
		if (last) {
			*fd_out = fd;
			return EXEC_OK;
		}
		size_t len = strlen(w->at);
		if (!S_ISDIR(st->st_mode) || len + 1 + strlen(name) >= sizeof w->at) {
			close(fd);
			return lookup_failed(w, path,
			                     S_ISDIR(st->st_mode) ? ENAMETOOLONG : ENOTDIR);
		}
		enter(w, fd);
		w->depth++;
		snprintf(w->at + len, sizeof w->at - len, "/%s", name);
		if ((c = check_dir(w, w->cur)) != EXEC_OK)
			return c;
	}
	/* Nothing left but slashes: the root itself, or a symlink to a
	 * directory with a trailing slash. */
	return refuse(w, EXEC_NOT_REGULAR, "%s resolves to directory %s", path, w->at);
}

/* The kernel's word on the same path: openat2 with RESOLVE_BENEATH must
 * reach the file the walk checked. EXEC_OK too where there is no openat2 to
 * ask: the walk alone is race-free. */
static enum exec_check cross_check(struct walk *w, const char *rel, const char *path,
                                   const struct stat *st)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = -1;
	/* EAGAIN: a rename or a mount somewhere raced with the lookup. */
	for (int i = 0; i < 4; i++) {
		fd = syscall(SYS_openat2, w->root, rel, &how, sizeof how);
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd < 0) {
		if (errno == ENOSYS)
			return EXEC_OK;
		if (errno == EXDEV)
			return refuse(w, EXEC_OUTSIDE_ROOT, "%s leads out of the root", path);
		return lookup_failed(w, path, errno);
	}
	struct stat st2;
	int err = fstat((int)fd, &st2) < 0 ? errno : 0;
	close((int)fd);
	if (err)
		return lookup_failed(w, path, err);
	if (st2.st_dev != st->st_dev || st2.st_ino != st->st_ino)
		return refuse(w, EXEC_NOT_FOUND, "%s was replaced while being checked", path);
	return EXEC_OK;
}

/* True if path has a ".." component. */
static bool has_dotdot(const char *path)
{
	for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return true;
	return false;
}

/* out->path: root (without trailing slashes), then rest's components less
 * the empty and "." ones. false if it does not fit. */
static bool join_path(char *dst, size_t size, const char *root, size_t rootlen, const char *rest)
{
	if (rootlen >= size)
		return false;
	memcpy(dst, root, rootlen);
	size_t n = rootlen;
	while (*rest) {
		rest += strspn(rest, "/");
		size_t len = strcspn(rest, "/");
		if (len == 0 || (len == 1 && rest[0] == '.')) {
			rest += len;
			continue;
		}
		if (n + 1 + len >= size)
			return false;
		dst[n++] = '/';
		memcpy(dst + n, rest, len);
		n += len;
		rest += len;
	}
	dst[n] = '\0';
	return true;
}

enum exec_check exec_check(const char *root, const char *script, const struct exec_target *t,
                           struct exec_file *out, char *why, size_t whylen)
{
	/* Large (two PATH_MAX buffers): static would not be reentrant, and
	 * the spawner's stack has room. */
	struct walk w = { .t = t, .why = why, .whylen = whylen, .root = -1, .cur = -1 };
	enum exec_check c;

	if (why && whylen)
		why[0] = '\0';
	if (root[0] != '/')
		return refuse(&w, EXEC_NOT_ABSOLUTE, "root %s is not an absolute path", root);
	if (script[0] != '/')
		return refuse(&w, EXEC_NOT_ABSOLUTE, "%s is not an absolute path", script);
	if (has_dotdot(script))
		return refuse(&w, EXEC_DOTDOT, "%s has a \"..\" component", script);
	/* "/srv/cgi/" and "/srv/cgi" are the same root; "/" is "". */
	size_t rootlen = strlen(root);
	while (rootlen > 0 && root[rootlen - 1] == '/')
		rootlen--;
	const char *rel = script + rootlen;
	if (strncmp(script, root, rootlen) != 0 || rel[0] != '/' || rel[strspn(rel, "/")] == '\0')
		return refuse(&w, EXEC_OUTSIDE_ROOT, "%s is not below the root %.*s/", script,
		              (int)rootlen, root);
	rel += strspn(rel, "/");

	if (t->uid == 0 && !t->root_allowed)
		return refuse(&w, EXEC_UID_ROOT, "%s would run as root", script);
	if (t->uid < t->min_uid && !(t->uid == 0 && t->root_allowed))
		return refuse(&w, EXEC_UID_LOW, "%s: below min_uid %lu", script,
		              (unsigned long)t->min_uid);
	if (t->gid == 0 && !t->root_allowed)
		return refuse(&w, EXEC_GID_ROOT, "%s would run with gid 0", script);
	if (t->gid < t->min_gid && !(t->gid == 0 && t->root_allowed))
		return refuse(&w, EXEC_GID_LOW, "%s: gid %lu below min_gid %lu", script,
		              (unsigned long)t->gid, (unsigned long)t->min_gid);

	if (!join_path(out->path, sizeof out->path, root, rootlen, rel) ||
	    strlen(rel) >= sizeof w.rest)
		return lookup_failed(&w, script, ENAMETOOLONG);
	memcpy(w.at, root, rootlen);
	w.at[rootlen] = '\0';
	strcpy(w.rest, rel);

	/* The root's own path is followed, symlinks and all: it is config. */
	w.root = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (w.root < 0)
		return lookup_failed(&w, root, errno);
	w.cur = w.root;
	int fd = -1;
	struct stat st;
	if ((c = check_dir(&w, w.root)) != EXEC_OK)
		goto done;
	if ((c = walk(&w, out->path, &st, &fd)) != EXEC_OK)
		goto done;
	if ((c = check_file(&w, &st, out->path)) != EXEC_OK)
		goto done;
	if ((c = cross_check(&w, out->path + rootlen + 1, out->path, &st)) != EXEC_OK)
		goto done;
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	out->owner = st.st_uid;
	out->mode = st.st_mode;

done:
	if (fd >= 0)
		close(fd);
	enter(&w, -1);
	close(w.root);
	return c;
}
