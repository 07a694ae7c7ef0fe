/* spawner/exec_check.c: one test per refusal, on a tree made under /tmp with
 * numeric owners (no real users needed). Root only: chown needs it, and the
 * spawner that makes these checks runs as root. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spawner/exec_check.h"

#define UID 1234
#define GID 1234
#define OTHER 4321

static char tree[64]; /* the temp dir; the route's root is tree/root */
static char root[128];

static void mk(const char *rel, mode_t mode, uid_t uid, gid_t gid, bool dir)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", root, rel);
	if (dir) {
		cr_assert_eq(mkdir(p, 0700), 0, "mkdir %s: %m", p);
	} else {
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		cr_assert_geq(fd, 0, "create %s: %m", p);
		cr_assert_eq(write(fd, "#!/bin/sh\n", 10), 10);
		close(fd);
	}
	/* chown first: it clears the setuid and setgid bits. */
	cr_assert_eq(chown(p, uid, gid), 0, "chown %s: %m", p);
	cr_assert_eq(chmod(p, mode), 0, "chmod %s: %m", p);
}

static void mkdir_(const char *rel, mode_t mode, uid_t uid)
{
	mk(rel, mode, uid, GID, true);
}

static void mkfile(const char *rel, mode_t mode, uid_t uid)
{
	mk(rel, mode, uid, GID, false);
}

static void mklink(const char *target, const char *rel)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", root, rel);
	cr_assert_eq(symlink(target, p), 0, "symlink %s: %m", p);
}

/* A sound tree: root/ (root's, 0755), root/ok.cgi (the user's, 0755),
 * root/sub/ (the user's) and root/sub/deep/ok.cgi. */
static void setup(void)
{
	if (geteuid() != 0)
		return;
	strcpy(tree, "/tmp/gw-exec-check.XXXXXX");
	cr_assert_not_null(mkdtemp(tree), "mkdtemp: %m");
	snprintf(root, sizeof root, "%s/root", tree);
	cr_assert_eq(mkdir(root, 0755), 0);
	cr_assert_eq(chmod(root, 0755), 0); /* whatever the umask */
	mkfile("ok.cgi", 0755, UID);
	mkdir_("sub", 0755, UID);
	mkdir_("sub/deep", 0755, UID);
	mkfile("sub/deep/ok.cgi", 0700, UID);
}

static int rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	if (tree[0])
		nftw(tree, rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("exec_check's tests chown files to other uids: run them as root");
}

static const struct exec_target user = {
	.uid = UID, .gid = GID, .min_uid = 100, .min_gid = 100, .root_allowed = false,
};

static struct exec_file out;
static char why[512];

/* exec_check on root/rel (rel NULL: script as given). */
static enum exec_check check_as(const char *rel, const struct exec_target *t)
{
	char script[256];
	snprintf(script, sizeof script, "%s/%s", root, rel);
	memset(&out, 0, sizeof out);
	return exec_check(root, script, t, &out, why, sizeof why);
}

static enum exec_check check(const char *rel)
{
	return check_as(rel, &user);
}

#define expect(rel, want)                                                                   \
	do {                                                                                \
		enum exec_check got_ = check(rel);                                          \
		cr_assert_eq(got_, want, "%s: got %s, want %s (%s)", rel,                   \
		             exec_check_name(got_), exec_check_name(want), why);            \
		if (want != EXEC_OK)                                                        \
			cr_assert(strncmp(why, exec_check_name(want),                       \
			                  strlen(exec_check_name(want))) == 0 &&            \
			                  strstr(why, "for uid 1234"),                      \
			          "why: %s", why);                                          \
	} while (0)

TestSuite(exec_check, .init = setup, .fini = teardown);

Test(exec_check, sound_script_accepted)
{
	need_root();
	expect("ok.cgi", EXEC_OK);
	char want[256];
	snprintf(want, sizeof want, "%s/ok.cgi", root);
	cr_assert_str_eq(out.path, want);
	struct stat st;
	cr_assert_eq(stat(want, &st), 0);
	cr_assert_eq(out.dev, st.st_dev);
	cr_assert_eq(out.ino, st.st_ino);
	cr_assert_eq(out.owner, UID);
	cr_assert_eq(out.mode, S_IFREG | 0755);
	expect("sub/deep/ok.cgi", EXEC_OK);
}

Test(exec_check, path_normalised_in_out)
{
	need_root();
	char root_slash[160], script[256], want[256];
	snprintf(root_slash, sizeof root_slash, "%s/", root);
	snprintf(script, sizeof script, "%s//sub/./deep//ok.cgi", root);
	snprintf(want, sizeof want, "%s/sub/deep/ok.cgi", root);
	cr_assert_eq(exec_check(root_slash, script, &user, &out, why, sizeof why), EXEC_OK, "%s",
	             why);
	cr_assert_str_eq(out.path, want);
}

Test(exec_check, root_owned_script_accepted)
{
	need_root();
	mkfile("root.cgi", 0755, 0);
	expect("root.cgi", EXEC_OK);
	cr_assert_eq(out.owner, 0);
}

Test(exec_check, world_writable_script)
{
	need_root();
	mkfile("ww.cgi", 0757, UID);
	expect("ww.cgi", EXEC_FILE_WRITABLE);
	cr_assert(strstr(why, "mode 0757"), "%s", why);
}

Test(exec_check, group_writable_script)
{
	need_root();
	mkfile("gw.cgi", 0775, UID);
	expect("gw.cgi", EXEC_FILE_WRITABLE);
	char want[512];
	snprintf(want, sizeof want,
	         "file-writable: %s/gw.cgi is writable by group or others (mode 0775) for uid 1234",
	         root);
	cr_assert_str_eq(why, want);
}

Test(exec_check, group_writable_script_dir)
{
	need_root();
	mkdir_("gw", 0775, UID);
	mkfile("gw/x.cgi", 0755, UID);
	expect("gw/x.cgi", EXEC_DIR_WRITABLE);
	cr_assert(strstr(why, "/gw is writable"), "%s", why);
}

Test(exec_check, group_writable_intermediate_dir)
{
	need_root();
	mkdir_("a", 0775, UID);
	mkdir_("a/b", 0755, UID);
	mkfile("a/b/x.cgi", 0755, UID);
	expect("a/b/x.cgi", EXEC_DIR_WRITABLE);
	cr_assert(strstr(why, "/a is writable"), "%s", why);
}

Test(exec_check, world_writable_root)
{
	need_root();
	cr_assert_eq(chmod(root, 01777), 0);
	expect("ok.cgi", EXEC_DIR_WRITABLE);
}

Test(exec_check, foreign_owner_of_file)
{
	need_root();
	mkfile("foreign.cgi", 0755, OTHER);
	expect("foreign.cgi", EXEC_FILE_OWNER);
	cr_assert(strstr(why, "owned by uid 4321"), "%s", why);
}

Test(exec_check, foreign_owner_of_dir)
{
	need_root();
	mkdir_("foreign", 0755, OTHER);
	mkfile("foreign/x.cgi", 0755, UID);
	expect("foreign/x.cgi", EXEC_DIR_OWNER);
	cr_assert(strstr(why, "owned by uid 4321"), "%s", why);
}

Test(exec_check, setuid_bit)
{
	need_root();
	mkfile("suid.cgi", 04755, UID);
	expect("suid.cgi", EXEC_SETID);
}

Test(exec_check, setgid_bit)
{
	need_root();
	mkfile("sgid.cgi", 02755, UID);
	expect("sgid.cgi", EXEC_SETID);
}

Test(exec_check, symlink_out_of_root)
{
	need_root();
	char outside[256];
	snprintf(outside, sizeof outside, "%s/outside.cgi", tree);
	int fd = open(outside, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(chown(outside, UID, GID), 0);
	cr_assert_eq(chmod(outside, 0755), 0);
	mklink("../outside.cgi", "rel-out.cgi");
	expect("rel-out.cgi", EXEC_OUTSIDE_ROOT);
	/* Deeper, through a directory symlink: sub/up -> ../.. */
	mklink("../..", "sub/up");
	expect("sub/up/outside.cgi", EXEC_OUTSIDE_ROOT);
	/* Absolute, even to a file inside: RESOLVE_BENEATH refuses those too. */
	mklink(outside, "abs-out.cgi");
	expect("abs-out.cgi", EXEC_OUTSIDE_ROOT);
	char inside[256];
	snprintf(inside, sizeof inside, "%s/ok.cgi", root);
	mklink(inside, "abs-in.cgi");
	expect("abs-in.cgi", EXEC_OUTSIDE_ROOT);
}

Test(exec_check, symlink_inside_root_accepted)
{
	need_root();
	mklink("ok.cgi", "link.cgi");
	expect("link.cgi", EXEC_OK);
	char want[256];
	snprintf(want, sizeof want, "%s/link.cgi", root);
	cr_assert_str_eq(out.path, want, "the path as given, symlink and all");
	cr_assert_eq(out.owner, UID);
	/* Through a directory symlink with "..", and a chain of two. */
	mklink("../sub/deep", "sub/d");
	expect("sub/d/ok.cgi", EXEC_OK);
	mklink("sub/d/ok.cgi", "chain.cgi");
	expect("chain.cgi", EXEC_OK);
}

Test(exec_check, symlink_through_unsafe_dir)
{
	need_root();
	/* The directory a symlink leads through is checked like any other. */
	mkdir_("open", 0777, UID);
	mkfile("open/x.cgi", 0755, UID);
	mklink("open/x.cgi", "via.cgi");
	expect("via.cgi", EXEC_DIR_WRITABLE);
}

Test(exec_check, symlink_loop)
{
	need_root();
	mklink("loop2.cgi", "loop1.cgi");
	mklink("loop1.cgi", "loop2.cgi");
	expect("loop1.cgi", EXEC_NOT_FOUND);
}

Test(exec_check, dotdot)
{
	need_root();
	expect("sub/../ok.cgi", EXEC_DOTDOT);
	expect("..", EXEC_DOTDOT);
	/* Names that merely contain dots are fine. */
	mkfile("..x.cgi", 0755, UID);
	expect("..x.cgi", EXEC_OK);
}

Test(exec_check, not_under_root)
{
	need_root();
	char script[256];
	snprintf(script, sizeof script, "%s/outside.cgi", tree);
	cr_assert_eq(exec_check(root, script, &user, &out, why, sizeof why), EXEC_OUTSIDE_ROOT);
	/* A sibling whose name begins with the root's. */
	snprintf(script, sizeof script, "%s2/x.cgi", root);
	cr_assert_eq(exec_check(root, script, &user, &out, why, sizeof why), EXEC_OUTSIDE_ROOT);
	/* The root itself is not below it. */
	cr_assert_eq(exec_check(root, root, &user, &out, why, sizeof why), EXEC_OUTSIDE_ROOT);
}

Test(exec_check, not_absolute)
{
	need_root();
	cr_assert_eq(exec_check(root, "ok.cgi", &user, &out, why, sizeof why), EXEC_NOT_ABSOLUTE);
	cr_assert_eq(exec_check("tmp", "/tmp/x", &user, &out, why, sizeof why), EXEC_NOT_ABSOLUTE);
}

Test(exec_check, uid_0)
{
	need_root();
	struct exec_target t = user;
	t.uid = 0;
	cr_assert_eq(check_as("ok.cgi", &t), EXEC_UID_ROOT);
	t.root_allowed = true;
	mkfile("root.cgi", 0755, 0);
	cr_assert_eq(check_as("root.cgi", &t), EXEC_OK, "%s", why);
}

Test(exec_check, gid_0)
{
	need_root();
	struct exec_target t = user;
	t.gid = 0;
	cr_assert_eq(check_as("ok.cgi", &t), EXEC_GID_ROOT);
}

Test(exec_check, uid_below_min)
{
	need_root();
	struct exec_target t = user;
	t.min_uid = 2000;
	cr_assert_eq(check_as("ok.cgi", &t), EXEC_UID_LOW);
	t = user;
	t.min_gid = 2000;
	cr_assert_eq(check_as("ok.cgi", &t), EXEC_GID_LOW);
}

Test(exec_check, www_data_passes_suggested_minimum)
{
	need_root();
	struct exec_target t = {
		.uid = 33, .gid = 33, .min_uid = EXEC_SUGGESTED_MIN_UID,
		.min_gid = EXEC_SUGGESTED_MIN_GID,
	};
	mkfile("www.cgi", 0755, 0);
	cr_assert_eq(check_as("www.cgi", &t), EXEC_OK, "%s", why);
	t.uid = 8; /* mail */
	cr_assert_eq(check_as("www.cgi", &t), EXEC_UID_LOW);
}

Test(exec_check, not_executable)
{
	need_root();
	mkfile("noexec.cgi", 0644, UID);
	expect("noexec.cgi", EXEC_NOT_EXECUTABLE);
	/* Owned by the target: its own x bit counts, not the group's or others'. */
	mkfile("other-x.cgi", 0655, UID);
	expect("other-x.cgi", EXEC_NOT_EXECUTABLE);
	/* Root's file: the group's x bit if the gid matches, else the others'. */
	mk("group-x.cgi", 0750, 0, GID, false);
	expect("group-x.cgi", EXEC_OK);
	mk("group-x-other.cgi", 0750, 0, OTHER, false);
	expect("group-x-other.cgi", EXEC_NOT_EXECUTABLE);
}

Test(exec_check, directory_instead_of_file)
{
	need_root();
	expect("sub", EXEC_NOT_REGULAR);
	mklink("sub/", "dirlink");
	expect("dirlink", EXEC_NOT_REGULAR);
}

Test(exec_check, fifo_not_opened)
{
	need_root();
	char p[256];
	snprintf(p, sizeof p, "%s/fifo.cgi", root);
	cr_assert_eq(mkfifo(p, 0755), 0);
	/* O_PATH: the check must not block waiting for a writer. */
	expect("fifo.cgi", EXEC_NOT_REGULAR);
}

Test(exec_check, missing_file)
{
	need_root();
	expect("missing.cgi", EXEC_NOT_FOUND);
	expect("ok.cgi/x", EXEC_NOT_FOUND); /* a file as a directory */
	mklink("nowhere.cgi", "dangling.cgi");
	expect("dangling.cgi", EXEC_NOT_FOUND);
}

Test(exec_check, names_are_all_set)
{
	for (int c = 0; c < EXEC_NCHECKS; c++) {
		const char *n = exec_check_name(c);
		cr_assert(n && n[0] && strcmp(n, "?") != 0, "check %d has no name", c);
	}
	cr_assert_str_eq(exec_check_name(EXEC_FILE_WRITABLE), "file-writable");
	cr_assert_str_eq(exec_check_name(EXEC_NCHECKS), "?");
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

Test(exec_check, no_fd_leaks)
{
	need_root();
	mkfile("gw.cgi", 0775, UID);
	mkdir_("gw", 0775, UID);
	mkfile("gw/x.cgi", 0755, UID);
	mkdir_("foreign", 0755, OTHER);
	mkfile("foreign/x.cgi", 0755, UID);
	mkfile("noexec.cgi", 0644, UID);
	mklink("../..", "sub/up");
	mklink("ok.cgi", "link.cgi");
	mklink("loop.cgi", "loop.cgi");
	const char *const cases[] = {
		"ok.cgi", "sub/deep/ok.cgi", "gw.cgi", "gw/x.cgi", "foreign/x.cgi",
		"noexec.cgi", "sub/up/x", "link.cgi", "loop.cgi", "missing.cgi", "sub",
		"sub/deep/missing/x.cgi",
	};
	int before = count_fds();
	for (int i = 0; i < 10; i++)
		for (size_t j = 0; j < sizeof cases / sizeof cases[0]; j++)
			check(cases[j]);
	cr_assert_eq(count_fds(), before, "fds before %d, after %d", before, count_fds());
}
