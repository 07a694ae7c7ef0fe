/* Privilege separation end to end, as root: the real gatewayd binary, real
 * sockets, real users (www-data is 33, nobody 65534, daemon 1 on Debian).
 *
 * Started as root, gatewayd wants a top-level "user"; the dispatcher drops to
 * it, a privileged spawner (comm "gatewayd-spawn") starts every script after
 * suEXEC-style checks, in a sandbox and (where the host has one) a cgroup, and
 * kills a script's whole tree when it ends, is aborted, or the dispatcher dies.
 *
 * Each test's directory (G.dir, made 0755) holds cgi/ (the route's root, root
 * owned 0755: what the checks want), run/ (1777: scripts write pid files
 * there) and the logs. Every pid a script reports is remembered and SIGKILLed
 * in teardown if it is still alive, whatever the test did. These tests need
 * root: without it they are skipped (they say so). */
#include "test/integration/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

#define WWW 33
#define NOBODY 65534

static struct gw_proc G; /* the test's daemon; teardown() stops it whatever happened */

/* Pids of script trees the test saw, killed in teardown if still there. */
static void teardown(void)
{
	gw_cleanup(&G);
	gw_kill_remembered();
}

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("the security suite runs as root (it changes users and owners)");
}

/* G's directory, made before the config is written: 0755, with cgi/ (0755,
 * root) and run/ (1777). */
static void make_dirs(void)
{
	need_root();
	gw_write_config(&G, "{}");
	cr_assert_eq(chmod(G.dir, 0755), 0);
	char path[400];
	snprintf(path, sizeof path, "%s/cgi", G.dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(chmod(path, 0755), 0); /* whatever the umask */
	snprintf(path, sizeof path, "%s/run", G.dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(chmod(path, 01777), 0);
}

static void script(const char *rel, const char *text, mode_t mode, uid_t uid, gid_t gid)
{
	char path[400];
	snprintf(path, sizeof path, "cgi/%s", rel);
	gw_write_file(&G, path, text, mode, uid, gid);
}

/* What the identity test wants to see. */
static const char ID_SH[] = "#!/bin/sh\n"
                            "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                            "echo \"uid=$(id -u)\"\n"
                            "echo \"gid=$(id -g)\"\n"
                            "grep -E '^(CapEff|NoNewPrivs):' /proc/self/status | tr -d '\\t '\n"
                            "echo \"umask=$(umask)\"\n"
                            "echo \"nice=$(nice)\"\n"
                            "echo \"policy=$(chrt -p $$ | sed -n 's/.*policy: //p')\"\n";

/* A second cgi root, G.dir/cgi2 (0755, root), holding id.sh: routes with
 * other users or sandboxes get roots of their own (see
 * routes_sharing_a_root_run_as_their_own_users). */
static void make_root2(void)
{
	char dir[400];
	snprintf(dir, sizeof dir, "%s/cgi2", G.dir);
	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert_eq(chmod(dir, 0755), 0);
	gw_write_file(&G, "cgi2/id.sh", ID_SH, 0755, 0, 0);
}

/* GET path on a new connection; the response must come within timeout s. */
static void get_within(const char *path, double timeout, struct gw_response *r)
{
	char req[1024];
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0, "connect");
	gw_send_all(fd, req, strlen(req));
	int rc = gw_read_response(fd, false, timeout, r);
	close(fd);
	if (rc != 0)
		gw_dump_log(&G);
	cr_assert_eq(rc, 0, "no complete response to GET %s within %.1f s", path, timeout);
}

static void get(const char *path, struct gw_response *r)
{
	get_within(path, 20, r);
}

/* GET path; the status must be want. */
static void get_status(const char *path, int want, struct gw_response *r)
{
	get(path, r);
	if (r->status != want)
		gw_dump_log(&G);
	cr_assert_eq(r->status, want, "GET %s: %d, want %d; body: %s", path, r->status, want,
	             r->body);
}

/* The request id of the access log's (last) line for path: its last field. */
static char *access_rid(const char *path)
{
	char needle[300];
	snprintf(needle, sizeof needle, "\"GET %s HTTP/1.1\"", path);
	cr_assert(gw_log_contains(G.access_log, needle, 5), "no access log line for %s", path);
	char *line = gw_last_line_with(G.access_log, needle);
	cr_assert_not_null(line);
	char *sp = strrchr(line, ' ');
	cr_assert(sp && strlen(sp + 1) == 16, "no request id at the end of: %s", line);
	char *rid = strdup(sp + 1);
	free(line);
	return rid;
}

/* The audit line of request rid, its JSON parsed (the test fails without one). */
static json_t *audit_of(const char *rid)
{
	char tag[40];
	snprintf(tag, sizeof tag, "req=%s: exec {", rid);
	char *line = gw_log_line_with(G.error_log, tag, NULL, 5);
	if (!line)
		gw_dump_log(&G);
	cr_assert_not_null(line, "no audit line \"%s\"", tag);
	json_error_t err;
	json_t *j = json_loads(strstr(line, "exec {") + 5, 0, &err);
	cr_assert(json_is_object(j), "the audit line is not JSON (%s): %s", err.text, line);
	free(line);
	return j;
}

static long long int_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_integer(v), "audit: \"%s\" missing or not an integer", key);
	return json_integer_value(v);
}

/* A /proc/PID/status field ("Uid:", "CapEff:"): the rest of its line, the
 * leading blanks skipped; malloc'd or NULL. */
static char *proc_status(pid_t pid, const char *field)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	char *text = gw_read_file(path);
	char *v = text ? gw_field(text, field) : NULL;
	free(text);
	if (!v)
		return NULL;
	size_t skip = strspn(v, " \t"), n = strlen(v);
	while (n > skip && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		v[--n] = '\0'; /* "Groups:\t33 " */
	memmove(v, v + skip, n - skip + 1);
	return v;
}


/* The same, polled up to 5 s: the port accepts before the spawner is forked. */
static pid_t spawner_of(pid_t dispatcher)
{
	pid_t sp = 0;
	double until = gw_now() + 5;
	while (!(sp = gw_spawner_of(dispatcher)) && gw_now() < until)
		usleep(20000);
	return sp;
}

/* Write text as the config at G.config, exactly (no "user" or log added). */
static void write_raw_config(const char *text)
{
	char port[16];
	snprintf(port, sizeof port, "%d", G.port);
	const char *pairs[] = {"@PORT@", port, "@DIR@", G.dir, NULL};
	char *filled = gw_substitute(text, pairs);
	FILE *f = fopen(G.config, "w");
	cr_assert_not_null(f);
	fputs(filled, f);
	cr_assert_eq(fclose(f), 0);
	free(filled);
}

/* The end of every test that started a daemon: it must exit 0 on SIGTERM. */
static void finish_ok(void)
{
	gw_stop_ok(&G, 10, NULL);
	gw_assert_no_leaks();
}

/* ---- 1. root refused by default ---------------------------------------- */

#define NO_USER_CONFIG                                                                          \
	"{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                                        \
	" \"log\":{\"error\":\"@DIR@/error.log\",\"access\":\"@DIR@/access.log\"},"             \
	" \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@DIR@/cgi\"}}]}"

Test(security_root, no_user_refused_by_t, .fini = teardown, .timeout = 30)
{
	make_dirs();
	write_raw_config(NO_USER_CONFIG);
	char *out;
	int rc = gw_run_for((char *[]){"-t", "-c", G.config, NULL}, 10, &out);
	cr_expect_eq(rc, 1, "gatewayd -t without \"user\": exit %d, want 1; output: %s", rc, out);
	cr_expect(strstr(out, "no \"user\""), "-t does not name the key \"user\": %s", out);
	cr_expect(strstr(out, "test failed"), "-t does not say the test failed: %s", out);
	free(out);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

Test(security_root, no_user_refused_at_start, .fini = teardown, .timeout = 30)
{
	make_dirs();
	write_raw_config(NO_USER_CONFIG);
	char *out;
	int rc = gw_run_for((char *[]){"-c", G.config, NULL}, 5, &out);
	cr_expect_eq(rc, 1, "gatewayd without \"user\": exit %d (-2: still running), want 1; "
	             "output: %s", rc, out);
	cr_expect(strstr(out, "no \"user\"") && strstr(out, "started as root"),
	          "the message does not name the key \"user\": %s", out);
	free(out);
	/* It did not listen either. */
	int fd = gw_connect(G.port);
	cr_expect(fd < 0, "something listens on the port after the refusal");
	if (fd >= 0)
		close(fd);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

Test(security_root, user_root_warns, .fini = teardown, .timeout = 30)
{
	make_dirs();
	write_raw_config("{\"user\":\"root\",\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	                 " \"log\":{\"error\":\"@DIR@/error.log\",\"access\":\"@DIR@/access.log\"},"
	                 " \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@DIR@/cgi\"}}]}");
	char *out;
	int rc = gw_run_for((char *[]){"-t", "-c", G.config, NULL}, 10, &out);
	cr_expect_eq(rc, 0, "-t with \"user\": \"root\": exit %d; output: %s", rc, out);
	cr_expect(strstr(out, "gatewayd: warning: \"user\": \"root\""),
	          "no warning about \"user\": \"root\": %s", out);
	cr_expect(strstr(out, "test is successful"), "%s", out);
	free(out);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* ---- 2, 3. who runs what ------------------------------------------------ */

/* /www/ names its user, /top/ takes the top level's. */
#define WWW_CONFIG                                                                               \
	"{\"user\":\"www-data\",\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                    \
	" \"routes\":["                                                                          \
	"  {\"match\":\"/www/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"user\":\"www-data\",\"timeout\":10}}," \
	"  {\"match\":\"/top/\",\"cgi\":{\"root\":\"@DIR@/cgi2\",\"timeout\":10}}]}"

/* Three routes, one root. */
#define ID_CONFIG                                                                                \
	"{\"user\":\"www-data\",\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                    \
	" \"routes\":["                                                                          \
	"  {\"match\":\"/www/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"user\":\"www-data\",\"timeout\":10}}," \
	"  {\"match\":\"/nobody/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"user\":\"nobody\",\"timeout\":10}}," \
	"  {\"match\":\"/top/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"timeout\":10}}]}"

Test(security_identity, script_runs_unprivileged, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("id.sh", ID_SH, 0755, 0, 0);
	script("mine.sh", ID_SH, 0755, WWW, WWW); /* owned by the target user: also fine */
	make_root2();
	gw_start(&G, WWW_CONFIG);
	static const char *const paths[] = {"/www/id.sh", "/www/mine.sh", "/top/id.sh"};
	for (size_t i = 0; i < 3; i++) {
		struct gw_response r;
		get_status(paths[i], 200, &r);
		static const struct gw_field_want want[] = {
			{"uid=", "33"}, {"gid=", "33"},         {"CapEff:", "0000000000000000"},
			{"NoNewPrivs:", "1"}, {"umask=", "0022"}, {NULL, NULL}};
		gw_expect_fields(paths[i], r.body, want);
		gw_response_free(&r);
	}
	finish_ok();
}

/* Two routes, one user each, each its own root. */
Test(security_identity, routes_run_as_their_own_users, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("id.sh", ID_SH, 0755, 0, 0);
	make_root2();
	gw_start(&G, "{\"user\":\"www-data\",\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	             " \"routes\":["
	             "  {\"match\":\"/www/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"user\":\"www-data\"}},"
	             "  {\"match\":\"/nobody/\",\"cgi\":{\"root\":\"@DIR@/cgi2\",\"user\":\"nobody\"}}]}");
	struct gw_response r;
	get_status("/nobody/id.sh", 200, &r);
	static const struct gw_field_want nobody[] = {
		{"uid=", "65534"}, {"gid=", "65534"}, {"CapEff:", "0000000000000000"},
		{"NoNewPrivs:", "1"}, {NULL, NULL}};
	gw_expect_fields("/nobody/", r.body, nobody);
	gw_response_free(&r);
	get_status("/www/id.sh", 200, &r);
	gw_expect_field("/www/", r.body, "uid=", "33");
	gw_response_free(&r);
	finish_ok();
}

/* Two routes with the same cgi root and different users: each runs as its
 * own (the request names its route's index beside the root; the spawner
 * found the route by its root alone once, and ran /nobody/ as www-data). */
Test(security_identity, routes_sharing_a_root_run_as_their_own_users, .fini = teardown,
     .timeout = 30)
{
	make_dirs();
	script("id.sh", ID_SH, 0755, 0, 0);
	gw_start(&G, ID_CONFIG);
	struct gw_response r;
	get_status("/nobody/id.sh", 200, &r);
	static const struct gw_field_want nobody[] = {
		{"uid=", "65534"}, {"gid=", "65534"}, {NULL, NULL}};
	gw_expect_fields("/nobody/ (root shared with /www/)", r.body, nobody);
	gw_response_free(&r);
	get_status("/www/id.sh", 200, &r);
	gw_expect_field("/www/", r.body, "uid=", "33");
	gw_response_free(&r);
	finish_ok();
}

Test(security_identity, dispatcher_dropped_spawner_root, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("id.sh", ID_SH, 0755, 0, 0);
	make_root2();
	gw_start(&G, WWW_CONFIG);
	/* A connection held open: this process is the one serving clients. */
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	struct gw_response r;
	get_status("/www/id.sh", 200, &r); /* started and serving */
	gw_response_free(&r);
	char *uid = proc_status(G.pid, "Uid:"), *gid = proc_status(G.pid, "Gid:");
	char *cap = proc_status(G.pid, "CapEff:"), *prm = proc_status(G.pid, "CapPrm:");
	char *nnp = proc_status(G.pid, "NoNewPrivs:"), *groups = proc_status(G.pid, "Groups:");
	cr_expect_str_eq(uid, "33\t33\t33\t33", "dispatcher Uid: %s", uid);
	cr_expect_str_eq(gid, "33\t33\t33\t33", "dispatcher Gid: %s", gid);
	cr_expect_str_eq(cap, "0000000000000000", "dispatcher CapEff: %s", cap);
	cr_expect_str_eq(prm, "0000000000000000", "dispatcher CapPrm: %s", prm);
	cr_expect_str_eq(nnp, "1", "dispatcher NoNewPrivs: %s", nnp);
	cr_expect(groups && strcmp(groups, "33") == 0, "dispatcher Groups: \"%s\"", groups);
	free(uid), free(gid), free(cap), free(prm), free(nnp), free(groups);

	pid_t sp = spawner_of(G.pid);
	cr_assert(sp > 0, "no gatewayd-spawn child of %d", (int)G.pid);
	uid = proc_status(sp, "Uid:");
	cr_expect_str_eq(uid, "0\t0\t0\t0", "spawner Uid: %s", uid);
	free(uid);
	close(fd);
	finish_ok();
}

/* A process's nice value: field 19 of /proc/PID/stat, after the ")" that ends
 * its name. */
static int nice_of(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	cr_assert_not_null(f, "%s", path);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	cr_assert_not_null(p);
	/* Fields 3..18, then the nice value. */
	for (int field = 3; field <= 19 && p; field++)
		p = strchr(p + 1, ' ');
	cr_assert_not_null(p);
	return atoi(p + 1);
}

/* The spawner runs 10 nice levels ahead of the scripts (so that a spawn does
 * not queue behind the scripts it started), and each script gets back the
 * niceness gatewayd was started with. */
Test(security_identity, spawner_ahead_of_scripts, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("id.sh", ID_SH, 0755, 0, 0);
	make_root2();
	gw_start(&G, WWW_CONFIG);
	struct gw_response r;
	get_status("/www/id.sh", 200, &r);
	int ours = nice_of(getpid());
	char want[16];
	snprintf(want, sizeof want, "%d", ours);
	gw_expect_field("script", r.body, "nice=", want);
	/* Unlike a pool's workers (test_pools), a script runs once: it keeps
	 * the ordinary policy. */
	gw_expect_field("script", r.body, "policy=", "SCHED_OTHER");
	gw_response_free(&r);
	cr_expect_eq(nice_of(G.pid), ours, "the dispatcher keeps gatewayd's niceness");
	pid_t sp = spawner_of(G.pid);
	cr_assert(sp > 0);
	int ahead = ours - 10 < -20 ? -20 : ours - 10;
	cr_expect_eq(nice_of(sp), ahead, "spawner nice %d, wanted %d", nice_of(sp), ahead);
	finish_ok();
}

/* The seccomp deny-list: on by default, taken once by the spawner when every
 * sandbox has it (its children inherit it); a route that turns it off gets
 * scripts without it, and then the spawner holds none. */
static const char SECCOMP_SH[] = "#!/bin/sh\n"
                                 "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                                 "grep '^Seccomp:' /proc/self/status | tr -d '\\t '\n";

static void expect_seccomp(const char *path, const char *mode)
{
	struct gw_response r;
	get_status(path, 200, &r);
	gw_expect_field(path, r.body, "Seccomp:", mode);
	gw_response_free(&r);
}

/* The spawner's own seccomp mode, as /proc says it. */
static void expect_spawner_seccomp(const char *mode, const char *why)
{
	pid_t sp = spawner_of(G.pid);
	cr_assert(sp > 0);
	char *got = proc_status(sp, "Seccomp:");
	cr_expect_str_eq(got, mode, "%s: the spawner's Seccomp is %s", why, got);
	free(got);
}

Test(security_identity, seccomp_held_by_the_spawner, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("sc.sh", SECCOMP_SH, 0755, 0, 0);
	make_root2();
	gw_start(&G, WWW_CONFIG);
	expect_seccomp("/www/sc.sh", "2");
	expect_spawner_seccomp("2", "it holds the deny-list");
	finish_ok();
}

Test(security_identity, seccomp_off_for_one_route, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("sc.sh", SECCOMP_SH, 0755, 0, 0);
	make_root2();
	gw_write_file(&G, "cgi2/sc.sh", SECCOMP_SH, 0755, 0, 0);
	gw_start(&G, "{\"user\":\"www-data\",\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	             " \"routes\":["
	             "  {\"match\":\"/on/\",\"cgi\":{\"root\":\"@DIR@/cgi\"}},"
	             "  {\"match\":\"/off/\",\"cgi\":{\"root\":\"@DIR@/cgi2\","
	             "   \"sandbox\":{\"seccomp\":false}}}]}");
	expect_seccomp("/on/sc.sh", "2");
	expect_seccomp("/off/sc.sh", "0");
	expect_spawner_seccomp("0", "a route without it: it holds none");
	finish_ok();
}

/* ---- 4. the checks ------------------------------------------------------ */

#define CHECK_CONFIG                                                                             \
	"{\"user\":\"www-data\",\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                    \
	" \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"timeout\":10}}]}"

/* A script that leaves a mark (run/ran) when it runs at all. */
static const char MARK_SH[] = "#!/bin/sh\n"
                              "touch @DIR@/run/ran\n"
                              "printf 'Content-Type: text/plain\\r\\n\\r\\nran\\n'\n";

static bool ran(void)
{
	char path[400];
	snprintf(path, sizeof path, "%s/run/ran", G.dir);
	return access(path, F_OK) == 0;
}

/* GET /cgi-bin/<rel>: a 403, the script did not run, and the error log says
 * "refused to run <file>: <check>: ... for uid 33" for that request. */
static void expect_refused(const char *rel, const char *check)
{
	char path[300], file[400], want[500];
	snprintf(path, sizeof path, "/cgi-bin/%s", rel);
	struct gw_response r;
	get_status(path, 403, &r);
	gw_response_free(&r);
	cr_expect(!ran(), "%s ran although refused", rel);
	char *rid = access_rid(path);
	char tag[40];
	snprintf(tag, sizeof tag, "req=%s:", rid);
	snprintf(file, sizeof file, "%s/cgi/%s", G.dir, rel);
	snprintf(want, sizeof want, "refused to run %s: %s: ", file, check);
	char *line = gw_log_line_with(G.error_log, tag, want, 5);
	if (!line)
		gw_dump_log(&G);
	cr_expect_not_null(line, "no line \"%s...\" for request %s", want, rid);
	cr_expect(line && strstr(line, " for uid 33"), "the line does not name uid 33: %s", line);
	cr_expect(line && strstr(line, "[error]"), "not at error level: %s", line);
	free(line);
	free(rid);
}

Test(security_checks, world_writable_script, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("ww.sh", MARK_SH, 0757, 0, 0);
	gw_start(&G, CHECK_CONFIG);
	expect_refused("ww.sh", "file-writable");
	finish_ok();
}

Test(security_checks, group_writable_dir, .fini = teardown, .timeout = 30)
{
	make_dirs();
	char path[400];
	snprintf(path, sizeof path, "%s/cgi/sub", G.dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(chmod(path, 0775), 0);
	script("sub/mark.sh", MARK_SH, 0755, 0, 0);
	gw_start(&G, CHECK_CONFIG);
	expect_refused("sub/mark.sh", "dir-writable");
	finish_ok();
}

Test(security_checks, foreign_owner, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("theirs.sh", MARK_SH, 0755, NOBODY, NOBODY);
	gw_start(&G, CHECK_CONFIG);
	expect_refused("theirs.sh", "file-owner");
	finish_ok();
}

Test(security_checks, setuid_bit, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("suid.sh", MARK_SH, 04755, 0, 0);
	struct stat st;
	char path[400];
	snprintf(path, sizeof path, "%s/cgi/suid.sh", G.dir);
	cr_assert(stat(path, &st) == 0 && (st.st_mode & S_ISUID), "the setuid bit did not stick");
	gw_start(&G, CHECK_CONFIG);
	expect_refused("suid.sh", "setid");
	finish_ok();
}

Test(security_checks, setgid_bit, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("sgid.sh", MARK_SH, 02755, 0, 0);
	gw_start(&G, CHECK_CONFIG);
	expect_refused("sgid.sh", "setid");
	finish_ok();
}

/* A symlink whose target is outside the root never reaches the spawner: the
 * dispatcher's own realpath check answers 404 ("resolves outside the cgi
 * root"). An absolute symlink, even one back into the root, reaches the
 * spawner, whose walk refuses it: outside-root, 403. */
Test(security_checks, symlink_out_of_root, .fini = teardown, .timeout = 30)
{
	make_dirs();
	gw_write_file(&G, "outside.sh", MARK_SH, 0755, 0, 0);
	script("real.sh", MARK_SH, 0755, 0, 0);
	char target[400], link[400];
	snprintf(target, sizeof target, "%s/outside.sh", G.dir);
	snprintf(link, sizeof link, "%s/cgi/out.sh", G.dir);
	cr_assert_eq(symlink(target, link), 0);
	snprintf(link, sizeof link, "%s/cgi/up.sh", G.dir);
	cr_assert_eq(symlink("../outside.sh", link), 0);
	snprintf(target, sizeof target, "%s/cgi/real.sh", G.dir);
	snprintf(link, sizeof link, "%s/cgi/abs.sh", G.dir);
	cr_assert_eq(symlink(target, link), 0);
	gw_start(&G, CHECK_CONFIG);

	static const char *const out[] = {"/cgi-bin/out.sh", "/cgi-bin/up.sh"};
	for (size_t i = 0; i < 2; i++) {
		struct gw_response r;
		get_status(out[i], 404, &r);
		gw_response_free(&r);
		char *rid = access_rid(out[i]);
		char tag[40];
		snprintf(tag, sizeof tag, "req=%s:", rid);
		char *line = gw_log_line_with(G.error_log, tag, "resolves outside the cgi root", 5);
		cr_expect_not_null(line, "%s: no \"resolves outside the cgi root\" line", out[i]);
		free(line);
		free(rid);
	}
	cr_expect(!ran(), "the script outside the root ran");
	expect_refused("abs.sh", "outside-root");
	/* The message says why. */
	cr_expect(gw_log_contains(G.error_log, "is a symlink to an absolute path", 1));
	finish_ok();
}

/* uid below min_uid: the spawner's uid-low check is not reached; the config
 * itself is refused, by -t and at start, naming min_uid. */
Test(security_checks, uid_below_min_refused_at_config, .fini = teardown, .timeout = 30)
{
	make_dirs();
	write_raw_config(
	        "{\"user\":\"www-data\",\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	        " \"log\":{\"error\":\"@DIR@/error.log\",\"access\":\"@DIR@/access.log\"},"
	        " \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@DIR@/cgi\","
	        "   \"user\":\"daemon\"}}]}");
	char *out;
	int rc = gw_run_for((char *[]){"-t", "-c", G.config, NULL}, 10, &out);
	cr_expect_eq(rc, 1, "-t with a route as daemon: exit %d, want 1; output: %s", rc, out);
	cr_expect(strstr(out, "routes[0].cgi") && strstr(out, "uid 1 / gid 1 is below \"min_uid\" 33"),
	          "the message does not name the route and min_uid: %s", out);
	free(out);
	rc = gw_run_for((char *[]){"-c", G.config, NULL}, 5, &out);
	cr_expect_eq(rc, 1, "started with a route as daemon: exit %d (-2: still running); %s", rc,
	             out);
	cr_expect(strstr(out, "below \"min_uid\""), "%s", out);
	free(out);
	/* "min_uid": 1 and "min_gid": 1 let it through. */
	write_raw_config(
	        "{\"user\":\"www-data\",\"min_uid\":1,\"min_gid\":1,"
	        " \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	        " \"log\":{\"error\":\"@DIR@/error.log\",\"access\":\"@DIR@/access.log\"},"
	        " \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@DIR@/cgi\","
	        "   \"user\":\"daemon\"}}]}");
	rc = gw_run_for((char *[]){"-t", "-c", G.config, NULL}, 10, &out);
	cr_expect_eq(rc, 0, "-t with min_uid 1: exit %d; %s", rc, out);
	free(out);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

Test(security_checks, root_owned_script_accepted, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("mark.sh", MARK_SH, 0755, 0, 0);
	gw_start(&G, CHECK_CONFIG);
	struct gw_response r;
	get_status("/cgi-bin/mark.sh", 200, &r);
	cr_expect_str_eq(r.body, "ran\n");
	gw_response_free(&r);
	cr_expect(ran());
	finish_ok();
}

/* ---- 5. whole-tree kills ------------------------------------------------ */

/* The script writes its pid to run/<q>.script, starts a grandchild in a
 * session of its own that writes its pid to run/<q>.gc and becomes sleep
 * 600, then sleeps itself. */
static const char TREE_SH[] =
        "#!/bin/sh\n"
        "q=$QUERY_STRING\n"
        "echo $$ > @DIR@/run/$q.script.tmp && mv @DIR@/run/$q.script.tmp @DIR@/run/$q.script\n"
        "setsid sh -c 'echo $$ > \"$0.tmp\" && mv \"$0.tmp\" \"$0\" && exec sleep 600' "
        "@DIR@/run/$q.gc </dev/null >/dev/null 2>&1 &\n"
        "sleep 600\n";

static const char TREE_CONFIG_ON[] =
        "{\"user\":\"www-data\",\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
        " \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"timeout\":1,"
        "   \"kill_grace\":1}}]}";
static const char TREE_CONFIG_OFF[] =
        "{\"user\":\"www-data\",\"sandbox\":{\"cgroup\":false},"
        " \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
        " \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"timeout\":1,"
        "   \"kill_grace\":1}}]}";

struct tree {
	int fd; /* the client's connection */
	pid_t script, gc;
};

/* Start tree.sh?<name> on a new connection; the script and its grandchild
 * must report within 5 s, in their own session for the grandchild. */
static struct tree start_tree(const char *name)
{
	char path[400], req[300];
	struct tree t = {.fd = gw_connect(G.port)};
	cr_assert(t.fd >= 0);
	snprintf(req, sizeof req, "GET /cgi-bin/tree.sh?%s HTTP/1.1\r\nHost: t\r\n\r\n", name);
	gw_send_all(t.fd, req, strlen(req));
	snprintf(path, sizeof path, "%s/run/%s.script", G.dir, name);
	t.script = gw_wait_pidfile(path, 5);
	gw_remember(t.script);
	snprintf(path, sizeof path, "%s/run/%s.gc", G.dir, name);
	t.gc = gw_wait_pidfile(path, 5);
	gw_remember(t.gc);
	if (!(t.script > 0 && t.gc > 0))
		gw_dump_log(&G);
	cr_assert(t.script > 0 && t.gc > 0, "tree.sh (%s) did not start its grandchild", name);
	cr_assert(gw_pid_alive(t.gc));
	cr_assert_eq(getsid(t.gc), t.gc, "the grandchild is not in a session of its own");
	cr_assert_neq(getpgid(t.gc), getpgid(t.script));
	return t;
}

/* The script's cgroup as the audit line will name it, from /proc/PID/cgroup
 * of the grandchild: whether it is in one of gatewayd's. */
static bool in_gatewayd_cgroup(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	char *text = gw_read_file(path);
	bool yes = text && strstr(text, "/gatewayd-");
	free(text);
	return yes;
}

static void tree_timeout(const char *config, bool cgroup)
{
	make_dirs();
	script("tree.sh", TREE_SH, 0755, 0, 0);
	gw_start(&G, config);
	struct tree t = start_tree("to");
	cr_expect_eq(in_gatewayd_cgroup(t.gc), cgroup, "the grandchild's cgroup (want %s)",
	             cgroup ? "gatewayd's" : "none of gatewayd's");
	double t0 = gw_now();
	struct gw_response r;
	int rc = gw_read_response(t.fd, false, 6, &r);
	cr_expect_eq(rc, 0, "no response after the script's timeout");
	cr_expect_eq(r.status, 504, "status %d after the timeout", r.status);
	gw_response_free(&r);
	cr_expect(gw_wait_gone(t.script, 3), "the script outlived its timeout");
	cr_expect(gw_wait_gone(t.gc, 3), "the grandchild (own session) outlived the timeout");
	cr_expect(gw_now() - t0 < 6, "took %.1f s", gw_now() - t0);
	close(t.fd);
	/* The spawner writes it once it reaped the script. */
	char *rid = access_rid("/cgi-bin/tree.sh?to");
	json_t *a = audit_of(rid);
	cr_expect(json_is_integer(json_object_get(a, "signal")), "the audit line has no signal");
	cr_expect_eq(json_is_string(json_object_get(a, "cgroup")), cgroup);
	json_decref(a);
	free(rid);
	finish_ok();
}

static void tree_client_closes(const char *config)
{
	make_dirs();
	script("tree.sh", TREE_SH, 0755, 0, 0);
	gw_start(&G, config);
	struct tree t = start_tree("cc");
	close(t.fd);
	cr_expect(gw_wait_gone(t.script, 3), "the script outlived its client");
	cr_expect(gw_wait_gone(t.gc, 3), "the grandchild (own session) outlived the client");
	finish_ok();
}

static void tree_dispatcher_killed(const char *config)
{
	make_dirs();
	script("tree.sh", TREE_SH, 0755, 0, 0);
	gw_start(&G, config);
	pid_t sp = spawner_of(G.pid);
	cr_assert(sp > 0);
	gw_remember(sp);
	struct tree t = start_tree("k9");
	cr_assert_eq(kill(G.pid, SIGKILL), 0);
	cr_assert_neq(gw_wait_exit(&G, 2), -1, "gatewayd survived SIGKILL");
	double t0 = gw_now();
	cr_expect(gw_wait_gone(t.gc, 2), "the grandchild outlived the dispatcher by 2 s");
	cr_expect(gw_wait_gone(t.script, 2 - (gw_now() - t0) + 0.1),
	          "the script outlived the dispatcher by 2 s");
	cr_expect(gw_wait_gone(sp, 2), "the spawner outlived its dispatcher by 2 s");
	close(t.fd);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

Test(security_tree, timeout_cgroup, .fini = teardown, .timeout = 30)
{
	tree_timeout(TREE_CONFIG_ON, true);
}

Test(security_tree, timeout_no_cgroup, .fini = teardown, .timeout = 30)
{
	tree_timeout(TREE_CONFIG_OFF, false);
}

Test(security_tree, client_closes_cgroup, .fini = teardown, .timeout = 30)
{
	tree_client_closes(TREE_CONFIG_ON);
}

Test(security_tree, client_closes_no_cgroup, .fini = teardown, .timeout = 30)
{
	tree_client_closes(TREE_CONFIG_OFF);
}

Test(security_tree, dispatcher_killed_cgroup, .fini = teardown, .timeout = 30)
{
	tree_dispatcher_killed(TREE_CONFIG_ON);
}

Test(security_tree, dispatcher_killed_no_cgroup, .fini = teardown, .timeout = 30)
{
	tree_dispatcher_killed(TREE_CONFIG_OFF);
}

/* ---- 6. a fork bomb ----------------------------------------------------- */

/* Forks up to 200 children that become sleep 30, counting the forks that
 * fail; writes "<forked> <failed> <pid>..." to run/bomb and holds on. */
static const char BOMB_PY[] =
        "#!/usr/bin/python3\n"
        "import os, time\n"
        "pids, failed = [], 0\n"
        "for i in range(200):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        failed += 1\n"
        "        continue\n"
        "    if pid == 0:\n"
        "        try:\n"
        "            os.execv('/bin/sleep', ['sleep', '30'])\n"
        "        finally:\n"
        "            os._exit(127)\n"
        "    pids.append(pid)\n"
        "with open('@DIR@/run/bomb.tmp', 'w') as f:\n"
        "    f.write('%d %d %d %s\\n' % (os.getpid(), len(pids), failed, ' '.join(map(str, pids))))\n"
        "os.rename('@DIR@/run/bomb.tmp', '@DIR@/run/bomb')\n"
        "time.sleep(30)\n";

/* The bomb's route and the other one have roots of their own: see
 * routes_sharing_a_root_run_as_their_own_users. Without a cgroup,
 * "processes" is RLIMIT_NPROC, which counts every process of the user on the
 * host: the dispatcher and any other www-data process (another gatewayd, this
 * suite's other bomb running in parallel) would eat into it, or make the
 * exec itself fail with EAGAIN. That bomb runs as nobody. */
static void fork_bomb(bool cgroup)
{
	make_dirs();
	script("bomb.py", BOMB_PY, 0755, 0, 0);
	make_root2();
	char *config = NULL;
	cr_assert(asprintf(&config,
	                   "{\"user\":\"www-data\",\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	                   " \"routes\":["
	                   "  {\"match\":\"/bomb/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"timeout\":3,"
	                   "    \"kill_grace\":1,\"user\":\"%s\","
	                   "    \"sandbox\":{\"processes\":20,\"cgroup\":%s}}},"
	                   "  {\"match\":\"/ok/\",\"cgi\":{\"root\":\"@DIR@/cgi2\",\"timeout\":10}}]}",
	                   cgroup ? "www-data" : "nobody", cgroup ? "true" : "false") > 0);
	gw_start(&G, config);
	free(config);
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	static const char req[] = "GET /bomb/bomb.py HTTP/1.1\r\nHost: t\r\n\r\n";
	gw_send_all(fd, req, sizeof req - 1);
	char path[400];
	snprintf(path, sizeof path, "%s/run/bomb", G.dir);
	double until = gw_now() + 10;
	char *text = NULL;
	while (!text && gw_now() < until) {
		text = gw_read_file(path);
		if (!text)
			usleep(20000);
	}
	if (!text)
		gw_dump_log(&G);
	cr_assert_not_null(text, "bomb.py did not report within 10 s");
	int bomb = 0, forked = 0, failed = 0, off = 0;
	cr_assert_eq(sscanf(text, "%d %d %d%n", &bomb, &forked, &failed, &off), 3, "%s", text);
	gw_remember(bomb);
	pid_t kids[200];
	int nkids = 0;
	for (char *p = text + off, *end; nkids < 200; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		kids[nkids++] = (pid_t)pid;
		gw_remember((pid_t)pid);
	}
	free(text);
	cr_log_info("the bomb (cgroup %s) forked %d, %d forks failed", cgroup ? "on" : "off",
	            forked, failed);
	cr_expect_eq(nkids, forked);
	cr_expect_eq(forked + failed, 200);
	/* 20 processes at most, the script itself one of them: pids.max with a
	 * cgroup; without, RLIMIT_NPROC (fewer if the host runs other processes
	 * as nobody). */
	cr_expect(forked <= 19, "the bomb forked %d children under \"processes\": 20", forked);
	cr_expect(forked >= 10, "only %d forks: the limit is lower than asked", forked);

	/* Meanwhile, another route answers while the bomb still runs (not
	 * once its timeout has killed it): the bomb holds no slot another
	 * script needs. Its liveness, not a wall-clock bound, says "meanwhile". */
	double t0 = gw_now();
	struct gw_response r;
	get_within("/ok/id.sh", 2.5, &r);
	cr_expect_eq(r.status, 200, "another route: %d %s", r.status, r.body);
	cr_expect(gw_pid_alive(bomb), "another route answered only after the bomb was killed "
	                              "(%.2f s)",
	          gw_now() - t0);
	gw_response_free(&r);

	/* The bomb's timeout (3 s, 1 s grace): its whole tree goes. */
	cr_expect(gw_wait_gone(bomb, 8), "the bomb outlived its timeout");
	for (int i = 0; i < nkids; i++)
		cr_expect(gw_wait_gone(kids[i], 2), "the bomb's child %d outlived it", kids[i]);
	close(fd);
	/* The audit line follows the reaping, a moment after the pid is gone. */
	char *line = gw_log_line_with(G.error_log, "/bomb.py\"", "\"cpu_us\"", 5);
	cr_expect(line && strstr(line, cgroup ? "\"pids_max\":20" : "\"processes\":20"), "audit: %s",
	          line);
	free(line);
	finish_ok();
}

Test(security_limits, fork_bomb_contained_cgroup, .fini = teardown, .timeout = 40)
{
	fork_bomb(true);
}

Test(security_limits, fork_bomb_contained_no_cgroup, .fini = teardown, .timeout = 40)
{
	fork_bomb(false);
}

/* ---- 7. a memory hog ---------------------------------------------------- */

/* Touches 1 GiB before printing anything. */
static const char HOG_PY[] = "#!/usr/bin/python3\n"
                             "import sys\n"
                             "b = bytearray(1 << 30)\n"
                             "for i in range(0, len(b), 4096):\n"
                             "    b[i] = 1\n"
                             "sys.stdout.write('Content-Type: text/plain\\r\\n\\r\\nallocated\\n')\n";

/* What happens, as seen here: with a cgroup, memory.max (v1:
 * memory.limit_in_bytes) holds the limit and the kernel's OOM killer ends the
 * script, SIGKILL in the audit line; without one, RLIMIT_AS makes Python's
 * allocation fail: MemoryError on stderr (in the error log), exit 1. Either
 * way the client gets a 502 and no "allocated", and the daemon goes on.
 * (The audit line's "limits" drop "memory" when the cgroup holds it; its
 * "memory_max" says 64M then.) */
static void memory_hog(bool cgroup)
{
	make_dirs();
	script("hog.py", HOG_PY, 0755, 0, 0);
	make_root2();
	char *config = NULL;
	cr_assert(asprintf(&config,
	                   "{\"user\":\"www-data\",\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	                   " \"routes\":["
	                   "  {\"match\":\"/hog/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"timeout\":20,"
	                   "    \"sandbox\":{\"memory\":\"64M\",\"cgroup\":%s}}},"
	                   "  {\"match\":\"/ok/\",\"cgi\":{\"root\":\"@DIR@/cgi2\",\"timeout\":10}}]}",
	                   cgroup ? "true" : "false") > 0);
	gw_start(&G, config);
	free(config);
	struct gw_response r;
	get("/hog/hog.py", &r);
	cr_expect_eq(r.status, 502, "the hog got %d: %s", r.status, r.body);
	cr_expect_null(strstr(r.body, "allocated"), "the hog allocated 1 GiB under 64M");
	gw_response_free(&r);
	char *rid = access_rid("/hog/hog.py");
	json_t *a = audit_of(rid);
	char *dump = json_dumps(a, JSON_COMPACT);
	cr_log_info("the hog's audit: %s", dump);
	json_t *limits = json_object_get(a, "limits");
	if (cgroup) {
		cr_expect_eq(int_field(a, "signal"), SIGKILL, "%s", dump);
		cr_expect_null(json_object_get(a, "exit"), "%s", dump);
		cr_expect(json_is_string(json_object_get(a, "cgroup")), "%s", dump);
	} else {
		cr_expect_eq(int_field(a, "exit"), 1, "%s", dump);
		cr_expect_null(json_object_get(a, "signal"), "%s", dump);
		cr_expect_eq(int_field(limits, "memory"), 64 << 20, "%s", dump);
		char tag[40];
		snprintf(tag, sizeof tag, "req=%s:", rid);
		char *line = gw_log_line_with(G.error_log, tag, "MemoryError", 5);
		cr_expect_not_null(line, "no MemoryError in the error log");
		free(line);
	}
	/* The tree's peak stayed near the limit: nowhere near 1 GiB. */
	cr_expect_lt(int_field(a, "maxrss_kb"), 256 * 1024, "%s", dump);
	free(dump);
	json_decref(a);
	free(rid);
	/* Still serving. */
	get_status("/ok/id.sh", 200, &r);
	gw_response_free(&r);
	finish_ok();
}

Test(security_limits, memory_hog_cgroup, .fini = teardown, .timeout = 60)
{
	memory_hog(true);
}

Test(security_limits, memory_hog_no_cgroup, .fini = teardown, .timeout = 60)
{
	memory_hog(false);
}

/* ---- 8. the audit line -------------------------------------------------- */

static void audit(bool cgroup)
{
	make_dirs();
	script("id.sh", ID_SH, 0755, 0, 0);
	gw_start(&G, cgroup ? CHECK_CONFIG
	                    : "{\"user\":\"www-data\",\"sandbox\":{\"cgroup\":false},"
	                      " \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	                      " \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@DIR@/cgi\","
	                      "   \"timeout\":10}}]}");
	struct gw_response r;
	get_status("/cgi-bin/id.sh", 200, &r);
	gw_response_free(&r);
	char *rid = access_rid("/cgi-bin/id.sh");
	json_t *a = audit_of(rid);
	char *dump = json_dumps(a, JSON_COMPACT);
	cr_log_info("audit: %s", dump);

	cr_expect_str_eq(json_string_value(json_object_get(a, "rid")), rid, "%s", dump);
	cr_expect_gt(int_field(a, "pid"), 1);
	cr_expect_eq(int_field(a, "uid"), WWW);
	cr_expect_eq(int_field(a, "gid"), WWW);
	char path[400];
	snprintf(path, sizeof path, "%s/cgi/id.sh", G.dir);
	cr_expect_str_eq(json_string_value(json_object_get(a, "path")), path, "%s", dump);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(int_field(a, "inode"), (long long)st.st_ino);
	cr_expect_eq(int_field(a, "exit"), 0);
	cr_expect_null(json_object_get(a, "signal"), "%s", dump);
	cr_expect_gt(int_field(a, "cpu_us"), 0);
	cr_expect_gt(int_field(a, "maxrss_kb"), 0);
	cr_expect_eq(int_field(a, "pids_max"), 0);
	json_t *limits = json_object_get(a, "limits");
	cr_expect(json_is_object(limits), "%s", dump);
	cr_expect(json_is_true(json_object_get(limits, "no_new_privs")), "%s", dump);
	cr_expect_str_eq(json_string_value(json_object_get(limits, "umask")), "022", "%s", dump);
	json_t *cg = json_object_get(a, "cgroup");
	if (cgroup)
		cr_expect(json_is_string(cg) && strstr(json_string_value(cg), "/gatewayd-"),
		          "cgroup: %s", dump);
	else
		cr_expect(json_is_null(cg), "cgroup: %s", dump);
	/* The line is at info level and carries the request's tag. */
	char tag[40];
	snprintf(tag, sizeof tag, " [info] req=%s: exec {", rid);
	cr_expect(gw_log_contains(G.error_log, tag, 1), "no \"%s\"", tag);
	free(dump);
	json_decref(a);
	free(rid);
	finish_ok();
}

Test(security_audit, fields_cgroup, .fini = teardown, .timeout = 30)
{
	audit(true);
}

Test(security_audit, fields_no_cgroup, .fini = teardown, .timeout = 30)
{
	audit(false);
}

/* ---- 9. USR1 after the drop --------------------------------------------- */

Test(security_logs, usr1_reopens_after_drop, .fini = teardown, .timeout = 30)
{
	make_dirs();
	script("id.sh", ID_SH, 0755, 0, 0);
	gw_start(&G, CHECK_CONFIG);
	struct gw_response r;
	get_status("/cgi-bin/id.sh?one", 200, &r);
	gw_response_free(&r);
	char *rid1 = access_rid("/cgi-bin/id.sh?one");
	json_decref(audit_of(rid1));
	char old_err[400], old_acc[400];
	snprintf(old_err, sizeof old_err, "%s.1", G.error_log);
	snprintf(old_acc, sizeof old_acc, "%s.1", G.access_log);
	cr_assert_eq(rename(G.error_log, old_err), 0);
	cr_assert_eq(rename(G.access_log, old_acc), 0);
	cr_assert_eq(kill(G.pid, SIGUSR1), 0);
	/* The dispatcher (uid 33) could not create a file in this root-owned
	 * directory: the spawner did, as root. */
	cr_assert(gw_log_contains(G.error_log, "logs reopened", 5), "no new error log");
	get_status("/cgi-bin/id.sh?two", 200, &r);
	gw_response_free(&r);
	char *rid2 = access_rid("/cgi-bin/id.sh?two");
	json_t *a = audit_of(rid2); /* the spawner's line, in the new file */
	json_decref(a);
	char *old = gw_read_file(old_err);
	cr_expect(old && strstr(old, rid1) && !strstr(old, rid2), "the old error log: %s", old);
	free(old);
	old = gw_read_file(old_acc);
	cr_expect(old && strstr(old, rid1) && !strstr(old, rid2), "the old access log: %s", old);
	free(old);
	struct stat st;
	cr_expect(stat(G.error_log, &st) == 0 && st.st_uid == 0, "the new error log's owner");
	free(rid1);
	free(rid2);
	finish_ok();
}
