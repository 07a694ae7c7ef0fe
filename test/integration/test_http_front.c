/* Integration tests of the HTTP/1.1 front end, the static handler, config
 * checking and the command line, through the real gatewayd binary.
 *
 * Every test that starts a daemon keeps it in the file-global G, so that the
 * fini hook stops it even when an assertion ends the test early; a test that
 * gets to its end stops the daemon itself and asserts a clean exit (status 0:
 * under ASan a leak makes it non-zero). Timeouts in the configs are short
 * (1 s) so the timing tests stay quick; no test uses a sleep as an assertion:
 * every wait is a poll with a deadline for an event that must (or must not)
 * happen. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "test/integration/harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static struct gw_proc G;

static void teardown(void)
{
	gw_cleanup(&G); /* SIGTERMs a daemon a failed test left running */
}

TestSuite(front, .fini = teardown, .timeout = 40);

/* ---- configs ------------------------------------------------------------ */

#define LISTEN "\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
#define LIMITS "\"limits\":{\"request_line\":1024,\"header_size\":4096,\"headers\":20,\"body\":\"10M\"},"
#define TIMEOUTS_FAST \
	"\"timeouts\":{\"header\":1,\"body\":1,\"keepalive\":1,\"send\":5,\"shutdown\":3}"

/* Scripts, a route with a small max_body, the compiled hello of the build tree,
 * and the fixture's static files at "/". */
static const char *const CFG =
	"{" LISTEN
	"\"routes\":["
	"{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@SRC@/examples/cgi-bin\",\"timeout\":5}},"
	"{\"match\":\"/small/\",\"max_body\":1000,\"cgi\":{\"root\":\"@SRC@/examples/cgi-bin\"}},"
	"{\"match\":\"/built-cgi/\",\"cgi\":{\"root\":\"@BUILD@/examples/cgi-bin\"}},"
	"{\"match\":\"/\",\"static\":{\"root\":\"@FIX@/front/htdocs\"}}],"
	LIMITS TIMEOUTS_FAST "}";

/* The shipped demo's static files at "/". */
static const char *const CFG_DEMO =
	"{" LISTEN
	"\"routes\":["
	"{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@SRC@/examples/cgi-bin\",\"timeout\":5}},"
	"{\"match\":\"/\",\"static\":{\"root\":\"@SRC@/examples/htdocs\"}}],"
	LIMITS TIMEOUTS_FAST "}";

/* No catch-all route: anything outside /cgi-bin/ and /static/ has no route. */
static const char *const CFG_NO_CATCHALL =
	"{" LISTEN
	"\"routes\":["
	"{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@SRC@/examples/cgi-bin\",\"timeout\":5}},"
	"{\"match\":\"/static/\",\"static\":{\"root\":\"@FIX@/front/htdocs\"}}],"
	LIMITS TIMEOUTS_FAST "}";

/* ---- small helpers ------------------------------------------------------ */

static char *path_in(const char *base, const char *rel)
{
	char *p = NULL;
	cr_assert(asprintf(&p, "%s/%s", base, rel) > 0);
	return p;
}

/* Stop the daemon of G, assert it exited 0 (in time), remove its directory. */
static void stop_ok(void)
{
	int st = gw_stop(&G, 6);
	char *log = gw_read_file(G.error_log);
	cr_expect(st != -1, "gatewayd did not exit within 6 s of SIGTERM");
	cr_expect(st == -1 || (WIFEXITED(st) && WEXITSTATUS(st) == 0),
	          "gatewayd exited with status %d (signal %d); error log:\n%s",
	          WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0,
	          log ? log : "(none)");
	free(log);
	gw_cleanup(&G);
}

static void send_str(int fd, const char *s)
{
	gw_send_all(fd, s, strlen(s));
}

/* The end of most tests: gatewayd stopped (it must exit 0), no leak in the test. */
static void finish_ok(void)
{
	stop_ok();
	gw_assert_no_leaks();
}

/* One request on a new connection: its answer, which must come, with status want. */
static void expect_status(const char *raw, int want, struct gw_response *r)
{
	cr_assert_eq(gw_request(G.port, raw, r), 0, "no answer to %.60s", raw);
	cr_expect_eq(r->status, want, "%.60s: status %d, want %d", raw, r->status, want);
}

/* The request raw (a GET of /notes.txt) on the open connection fd: 200 and
 * the fixture's text. what says what the connection has been through. */
static void expect_notes_on(int fd, const char *raw, const char *what)
{
	struct gw_response r;
	send_str(fd, raw);
	cr_assert_eq(gw_read_response(fd, false, 5, &r), 0, "%s: no answer", what);
	cr_expect_eq(r.status, 200, "%s: status %d", what, r.status);
	cr_expect_str_eq(r.body, "FRONT-FIXTURE-TEXT\n", "%s", what);
	gw_response_free(&r);
}

/* Wait for fd to become readable; true when it did within timeout. */
static bool readable(int fd, double timeout)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n;
	do
		n = poll(&p, 1, (int)(timeout * 1000));
	while (n < 0 && errno == EINTR);
	return n > 0;
}

/* Does the peer close fd (EOF or reset) within timeout, with no more data first? */
static bool peer_closes(int fd, double timeout)
{
	char b[256];
	double until = gw_now() + timeout;
	while (gw_now() < until) {
		if (!readable(fd, until - gw_now()))
			return false;
		ssize_t n = recv(fd, b, sizeof b, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n > 0)
			return false; /* unexpected bytes */
	}
	return false;
}

/* Read raw bytes until needle has arrived (or timeout); malloc'd. */
static char *read_until(int fd, const char *needle, double timeout)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	cr_assert_not_null(buf);
	buf[0] = '\0';
	double until = gw_now() + timeout;
	while (!strstr(buf, needle) && gw_now() < until && n + 1 < cap) {
		if (!readable(fd, until - gw_now()))
			break;
		ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = '\0';
	}
	return buf;
}

/* GET path on a fresh connection: the daemon still serves. */
static void expect_serving(int port, const char *path, const char *body_has)
{
	char raw[512];
	struct gw_response r;
	snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
	cr_assert_eq(gw_request(port, raw, &r), 0, "no answer to GET %s after the bad request", path);
	cr_expect_eq(r.status, 200, "GET %s after the bad request: %d", path, r.status);
	if (body_has)
		cr_expect(strstr(r.body, body_has), "GET %s: body lacks %s", path, body_has);
	gw_response_free(&r);
}

/* The first line of the log file that contains every word; malloc'd or NULL. */
static char *log_line_with(const char *path, const char *const words[])
{
	char *text = gw_read_file(path), *found = NULL;
	for (char *line = text, *eol; line && *line && !found; line = eol ? eol + 1 : NULL) {
		eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		bool all = true;
		for (const char *const *w = words; *w && all; w++)
			all = strstr(line, *w) != NULL;
		if (all)
			found = strdup(line);
		if (!eol)
			break;
	}
	free(text);
	return found;
}

/* Poll the log for such a line up to timeout seconds. */
static char *wait_log_line(const char *path, const char *const words[], double timeout)
{
	double until = gw_now() + timeout;
	for (;;) {
		char *line = log_line_with(path, words);
		if (line || gw_now() >= until)
			return line;
		usleep(20000);
	}
}

static size_t count_lines(const char *path)
{
	char *text = gw_read_file(path);
	size_t n = 0;
	for (char *p = text; p && *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* Run a program (path, or a name looked up in PATH) to completion, with
 * stdout and stderr into *out (malloc'd). Not gw_run/gw_read_all: those read
 * with recv(), which fails on a pipe (ENOTSOCK), so the output is lost and the
 * child dies of SIGPIPE. */
static int run_prog(const char *const argv[], char **out)
{
	int p[2];
	cr_assert(pipe2(p, O_CLOEXEC) == 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	cr_assert_eq(rc, 0, "cannot run %s: %s", argv[0], strerror(rc));
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	cr_assert_not_null(buf);
	double until = gw_now() + 20;
	while (gw_now() < until) {
		if (!readable(p[0], until - gw_now()))
			break;
		if (cap - n < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		ssize_t r = read(p[0], buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	close(p[0]);
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* gatewayd with args (NULL-terminated). */
static int run_gatewayd(const char *const args[], char **out)
{
	const char *argv[16] = {gw_binary()};
	size_t n = 1;
	for (; args[n - 1] && n < 15; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	return run_prog(argv, out);
}

/* curl with the common options first; up to 16 more arguments. */
#define CURL(out, ...) \
	run_prog((const char *const[]){"curl", "-sS", "--noproxy", "*", "--max-time", "10", \
	                               __VA_ARGS__, NULL}, out)

static char *url(const char *path)
{
	char *u = NULL;
	cr_assert(asprintf(&u, "http://127.0.0.1:%d%s", G.port, path) > 0);
	return u;
}

/* curl (CURL's common options, then opts, then the URL of path): its output
 * (malloc'd); curl must exit 0. */
static char *curl_ok(const char *path, const char *const *opts)
{
	const char *argv[24] = {"curl", "-sS", "--noproxy", "*", "--max-time", "10"};
	size_t n = 6;
	for (; *opts && n < 22; opts++)
		argv[n++] = *opts;
	char *u = url(path), *out;
	argv[n++] = u;
	argv[n] = NULL;
	int rc = run_prog(argv, &out);
	cr_expect_eq(rc, 0, "curl %s: exit %d: %s", path, rc, out);
	free(u);
	return out;
}
#define CURL_OK(path, ...) curl_ok(path, (const char *const[]){__VA_ARGS__, NULL})

/* ---- 1. the command line and config checking ---------------------------- */

Test(front, cli_version)
{
	char *out;
	int rc = run_gatewayd((const char *const[]){"-V", NULL}, &out);
	cr_expect_eq(rc, 0, "-V exit %d", rc);
	cr_expect(strncmp(out, "gatewayd/", 9) == 0 && out[9] >= '0' && out[9] <= '9',
	          "-V printed: %s", out);
	cr_expect(strchr(out, '\n') && strchr(out, '\n')[1] == '\0', "-V: one line: %s", out);
	free(out);
	gw_assert_no_leaks();
}

Test(front, cli_help)
{
	char *out;
	int rc = run_gatewayd((const char *const[]){"-h", NULL}, &out);
	cr_expect_eq(rc, 0, "-h exit %d", rc);
	cr_expect(strstr(out, "usage: gatewayd"), "-h: %s", out);
	cr_expect(strstr(out, "-c FILE") && strstr(out, "-t") && strstr(out, "-V"), "-h: %s", out);
	free(out);
	/* An unknown option is a usage error, not a start. */
	rc = run_gatewayd((const char *const[]){"-Z", NULL}, &out);
	cr_expect(rc != 0, "-Z exit %d", rc);
	cr_expect(strstr(out, "usage: gatewayd"), "-Z: %s", out);
	free(out);
	gw_assert_no_leaks();
}

/* The shipped config names the built hello.fcgi as ../examples/hello.fcgi: in
 * an out-of-tree build (make distcheck) it is in the build tree, so a copy
 * with that one path (and the others made absolute) is checked instead. */
static char *shipped_config_for_this_build(void)
{
	char *cfg = path_in(gw_srcdir(), "etc/gatewayd.json");
	char real_src[4096], real_build[4096];
	if (!realpath(gw_srcdir(), real_src) || !realpath(gw_builddir(), real_build) ||
	    strcmp(real_src, real_build) == 0)
		return cfg;
	char *text = gw_read_file(cfg);
	cr_assert_not_null(text, "cannot read %s", cfg);
	struct buf_out {
		char *p;
		size_t n;
	} out = {0};
	FILE *f = open_memstream(&out.p, &out.n);
	/* The built worker is in the build tree; every other relative path
	 * (examples, the WSGI worker) is in the source tree. */
	static const char built[] = "\"../examples/hello.fcgi\"", shipped[] = "\"../";
	for (const char *p = text; *p;) {
		if (strncmp(p, built, strlen(built)) == 0) {
			fprintf(f, "\"%s/examples/hello.fcgi\"", real_build);
			p += strlen(built);
		} else if (strncmp(p, shipped, strlen(shipped)) == 0) {
			fprintf(f, "\"%s/", real_src);
			p += strlen(shipped);
		} else {
			fputc(*p++, f);
		}
	}
	fclose(f);
	static char copy[] = "/tmp/gwshipped.XXXXXX";
	int fd = mkstemp(copy);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, out.p, out.n), (ssize_t)out.n);
	close(fd);
	free(out.p);
	free(text);
	free(cfg);
	return strdup(copy);
}

Test(front, cli_check_shipped_config)
{
	char *cfg = shipped_config_for_this_build(), *out;
	int rc = run_gatewayd((const char *const[]){"-t", "-c", cfg, NULL}, &out);
	cr_expect_eq(rc, 0, "-t on %s: exit %d: %s", cfg, rc, out);
	cr_expect(strstr(out, "test is successful"), "-t: %s", out);
	if (strncmp(cfg, "/tmp/gwshipped.", 15) == 0)
		unlink(cfg);
	free(out);
	free(cfg);
	gw_assert_no_leaks();
}

Test(front, cli_missing_config_file)
{
	char *out;
	int rc = run_gatewayd((const char *const[]){"-t", "-c", "/nonexistent/gatewayd.json", NULL}, &out);
	cr_expect_eq(rc, 1, "exit %d: %s", rc, out);
	cr_expect(strstr(out, "/nonexistent/gatewayd.json"), "%s", out);
	cr_expect(strstr(out, "test failed"), "%s", out);
	free(out);
	gw_assert_no_leaks();
}

/* gatewayd -t -c <fixture>: exit 1 and a message containing every word. */
static void check_fixture_fails(const char *fixture, const char *const words[])
{
	char *cfg = path_in(gw_srcdir(), fixture), *out;
	int rc = run_gatewayd((const char *const[]){"-t", "-c", cfg, NULL}, &out);
	cr_expect_eq(rc, 1, "-t on %s: exit %d: %s", fixture, rc, out);
	for (const char *const *w = words; *w; w++)
		cr_expect(strstr(out, *w), "-t on %s: the message lacks '%s': %s", fixture, *w, out);
	cr_expect(!strstr(out, "test is successful"), "%s", out);
	free(out);
	free(cfg);
}

Test(front, cli_syntax_error_names_line_and_column)
{
	/* The stray comma before '}' on line 3: jansson reports column 58. */
	check_fixture_fails("test/fixtures/front/syntax-error.json",
	                    (const char *const[]){"syntax-error.json:3:58:", "test failed", NULL});
	gw_assert_no_leaks();
}

Test(front, cli_unknown_key_names_json_path)
{
	check_fixture_fails("test/fixtures/front/unknown-key.json",
	                    (const char *const[]){"unknown-key.json",
	                                          "routes[0]: unknown key \"roots\"", NULL});
	gw_assert_no_leaks();
}

Test(front, cli_missing_directory_names_json_path)
{
	/* The format of the issue: routes[1].cgi.root: no such directory "…" */
	check_fixture_fails("test/fixtures/front/missing-dir.json",
	                    (const char *const[]){"missing-dir.json",
	                                          "routes[1].cgi.root: no such directory",
	                                          "no-such-cgi-bin", NULL});
	gw_assert_no_leaks();
}

/* Write json (placeholders expanded) into a temp dir, run -t on it. */
static int check_config_text(const char *json, char **out)
{
	struct gw_proc t = {0};
	gw_write_config(&t, json);
	int rc = run_gatewayd((const char *const[]){"-t", "-c", t.config, NULL}, out);
	gw_cleanup(&t);
	return rc;
}

/* The message names the JSON path: "a.b.key" or "a.b: \"key\"". */
static bool names_path(const char *out, const char *where, const char *key)
{
	char dotted[200], quoted[200];
	snprintf(dotted, sizeof dotted, "%s.%s", where, key);
	snprintf(quoted, sizeof quoted, "%s: \"%s\"", where, key);
	return strstr(out, dotted) || strstr(out, quoted);
}

#define ROUTE_OK "\"routes\":[{\"match\":\"/\",\"static\":{\"root\":\"@FIX@/front/htdocs\"}}]"

Test(front, cli_wrong_types)
{
	static const struct {
		const char *json, *where, *key;
	} cases[] = {
		{"{" LISTEN ROUTE_OK ",\"timeouts\":{\"header\":\"fast\"}}", "timeouts", "header"},
		{"{" LISTEN ROUTE_OK ",\"limits\":{\"headers\":\"many\"}}", "limits", "headers"},
		{"{" LISTEN ROUTE_OK ",\"limits\":{\"body\":true}}", "limits", "body"},
		{"{" LISTEN ROUTE_OK ",\"server_name\":42}", "server_name", "server_name"},
		{"{" LISTEN "\"routes\":[{\"match\":7,\"static\":{\"root\":\"@FIX@/front/htdocs\"}}]}",
		 "routes[0]", "match"},
		{"{" LISTEN "\"routes\":[{\"match\":\"/\",\"cgi\":{\"root\":\"@FIX@/front/htdocs\","
		 "\"timeout\":\"30\"}}]}", "routes[0].cgi", "timeout"},
		{"{" LISTEN "\"routes\":[{\"match\":\"/\",\"cgi\":{\"root\":\"@FIX@/front/htdocs\","
		 "\"max_children\":1.5}}]}", "routes[0].cgi", "max_children"},
		{"{" LISTEN "\"routes\":[{\"match\":\"/\",\"static\":{\"root\":\"@FIX@/front/htdocs\","
		 "\"index\":\"index.html\"}}]}", "routes[0].static", "index"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out;
		int rc = check_config_text(cases[i].json, &out);
		cr_expect_eq(rc, 1, "case %zu: exit %d: %s", i, rc, out);
		cr_expect(names_path(out, cases[i].where, cases[i].key),
		          "case %zu: the message does not name %s.%s: %s", i, cases[i].where,
		          cases[i].key, out);
		free(out);
	}
	/* The listen list and routes list themselves of the wrong type. */
	char *out;
	int rc = check_config_text("{\"listen\":{\"http\":\"127.0.0.1:1\"}," ROUTE_OK "}", &out);
	cr_expect_eq(rc, 1, "listen as an object: exit %d: %s", rc, out);
	cr_expect(strstr(out, "listen"), "%s", out);
	free(out);
	gw_assert_no_leaks();
}

Test(front, cli_bad_listen_address)
{
	/* Each is refused by -t, with listen[0] named. The daemon binds numeric
	 * addresses only (AI_NUMERICHOST), so a name or a malformed IPv4 address
	 * must fail the check, not the start. */
	static const char *const bad[] = {"127.0.0.1", "127.0.0.1:99999", "127.0.0.1:80x",
	                                  "127.0.0.1:", "localhost:8080", "999.1.1.1:80",
	                                  "[::1:8080"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char json[512], *out;
		snprintf(json, sizeof json, "{\"listen\":[{\"http\":\"%s\"}]," ROUTE_OK "}", bad[i]);
		int rc = check_config_text(json, &out);
		cr_expect_eq(rc, 1, "listen \"%s\": -t exit %d: %s", bad[i], rc, out);
		cr_expect(strstr(out, "listen[0]"), "listen \"%s\": %s", bad[i], out);
		free(out);
	}
	char *out;
	int rc = check_config_text("{\"listen\":[{\"gopher\":\"127.0.0.1:9000\"}]," ROUTE_OK "}",
	                           &out);
	cr_expect_eq(rc, 1, "unknown listener kind: exit %d: %s", rc, out);
	cr_expect(strstr(out, "listen[0]") && strstr(out, "gopher"), "%s", out);
	free(out);
	/* A good one passes, so the failures above are about the address. */
	rc = check_config_text("{\"listen\":[{\"http\":\"127.0.0.1:8080\"},{\"http\":\"[::1]:8080\"}],"
	                       ROUTE_OK "}", &out);
	cr_expect_eq(rc, 0, "good listen: exit %d: %s", rc, out);
	free(out);
	gw_assert_no_leaks();
}

Test(front, cli_bad_size_string)
{
	static const struct {
		const char *json, *where, *key, *value;
	} cases[] = {
		{"{" LISTEN ROUTE_OK ",\"limits\":{\"body\":\"10X\"}}", "limits", "body", "10X"},
		{"{" LISTEN ROUTE_OK ",\"limits\":{\"body\":\"-5M\"}}", "limits", "body", "-5M"},
		{"{" LISTEN ROUTE_OK ",\"limits\":{\"body\":\"M\"}}", "limits", "body", "M"},
		{"{" LISTEN ROUTE_OK ",\"limits\":{\"header_size\":\"4KB\"}}", "limits", "header_size",
		 "4KB"},
		{"{" LISTEN "\"routes\":[{\"match\":\"/\",\"max_body\":\"10 M\","
		 "\"static\":{\"root\":\"@FIX@/front/htdocs\"}}]}", "routes[0]", "max_body", "10 M"},
		{"{" LISTEN "\"routes\":[{\"match\":\"/\",\"max_body\":\"99999999999999999999G\","
		 "\"static\":{\"root\":\"@FIX@/front/htdocs\"}}]}", "routes[0]", "max_body",
		 "99999999999999999999G"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out;
		int rc = check_config_text(cases[i].json, &out);
		cr_expect_eq(rc, 1, "size \"%s\": exit %d: %s", cases[i].value, rc, out);
		cr_expect(names_path(out, cases[i].where, cases[i].key),
		          "size \"%s\": does not name %s.%s: %s", cases[i].value, cases[i].where,
		          cases[i].key, out);
		cr_expect(strstr(out, cases[i].value), "size \"%s\": value not quoted: %s",
		          cases[i].value, out);
		free(out);
	}
	char *out;
	int rc = check_config_text("{" LISTEN ROUTE_OK ",\"limits\":{\"body\":\"10M\","
	                           "\"header_size\":\"8k\",\"request_line\":2048}}", &out);
	cr_expect_eq(rc, 0, "good sizes: exit %d: %s", rc, out);
	free(out);
	gw_assert_no_leaks();
}

/* ---- 2. HTTP/1.1 basics ---------------------------------------------------- */

Test(front, keepalive_curl_reuses_connection)
{
	gw_start(&G, CFG_DEMO);
	char *u1 = url("/"), *u2 = url("/style.css"), *u3 = url("/cgi-bin/hello.sh"), *out;
	int rc = CURL(&out, "-v", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", u1, u2,
	              u3);
	cr_expect_eq(rc, 0, "curl exit %d: %s", rc, out);
	/* One connect, then the same connection #0 twice again. */
	size_t connects = 0, reuses = 0;
	for (char *p = out; (p = strstr(p, "* Connected to")); p++)
		connects++;
	for (char *p = out; (p = strstr(p, "Re-using existing connection")); p++)
		reuses++;
	cr_expect_eq(connects, 1, "curl connected %zu times:\n%s", connects, out);
	cr_expect_eq(reuses, 2, "curl re-used the connection %zu times:\n%s", reuses, out);
	cr_expect(!strstr(out, "Connection: close") && !strstr(out, "connection: close"),
	          "the server asked to close:\n%s", out);
	free(out);
	free(u1);
	free(u2);
	free(u3);
	finish_ok();
}

Test(front, keepalive_raw_socket)
{
	gw_start(&G, CFG);
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	static const char *const paths[] = {"/", "/notes.txt", "/cgi-bin/hello.sh?one",
	                                    "/style.css", "/built-cgi/hello.cgi?two"};
	static const char *const expect[] = {"FRONT-FIXTURE-INDEX", "FRONT-FIXTURE-TEXT",
	                                     "query: one", "FRONT-FIXTURE-CSS", "Hello from C"};
	for (size_t i = 0; i < 5; i++) {
		char raw[256];
		snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", paths[i]);
		gw_send_all(fd, raw, strlen(raw));
		struct gw_response r;
		cr_assert_eq(gw_read_response(fd, false, 10, &r), 0, "request %zu (%s) on the kept "
		             "connection got no response", i, paths[i]);
		cr_expect_eq(r.status, 200, "%s: %d", paths[i], r.status);
		cr_expect(strstr(r.body, expect[i]), "%s: body %s", paths[i], r.body);
		char *conn = gw_header(&r, "Connection");
		cr_expect(!conn || strcasecmp(conn, "close") != 0, "%s: Connection: close", paths[i]);
		free(conn);
		gw_response_free(&r);
	}
	close(fd);
	finish_ok();
}

/* One-way body flow with a handler that answers at once, inside its start,
 * before any of the body is read (the static handler's 405): the front end
 * drops the unread body from the loop, never from inside the handler's call.
 * The request behind it is then served, or, when the body had not all come
 * when the answer was out, the answer said Connection: close. */
Test(front, body_behind_an_answer_given_at_once_then_pipelined_request)
{
	gw_start(&G, CFG);
	size_t blen = 1 << 20;
	char *raw = NULL;
	int hlen = asprintf(&raw, "POST /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
	                    blen);
	cr_assert(hlen > 0);
	const char next[] = "GET /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	size_t total = (size_t)hlen + blen + sizeof next - 1;
	raw = realloc(raw, total);
	cr_assert_not_null(raw);
	memset(raw + hlen, 'b', blen);
	memcpy(raw + hlen + blen, next, sizeof next - 1);
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	gw_send_all(fd, raw, total);
	free(raw);
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, false, 10, &r), 0, "no answer to the POST");
	cr_expect_eq(r.status, 405, "POST to a static file: %d", r.status);
	bool closing = r.head && strcasestr(r.head, "\r\nConnection: close");
	gw_response_free(&r);
	if (gw_read_response(fd, false, 10, &r) == 0) {
		cr_expect_eq(r.status, 200);
		cr_expect(r.body && strstr(r.body, "FRONT-FIXTURE-CSS"), "the request behind the body: %s",
		          r.body ? r.body : "");
		gw_response_free(&r);
	} else {
		cr_expect(closing, "the connection closed after an answer that did not say so");
	}
	close(fd);
	expect_serving(G.port, "/", "FRONT-FIXTURE-INDEX");
	stop_ok();
	gw_assert_no_leaks();
}

Test(front, pipelining_three_in_one_write)
{
	gw_start(&G, CFG);
	const char raw[] = "GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n"
	                   "GET /cgi-bin/hello.sh?second HTTP/1.1\r\nHost: t\r\n\r\n"
	                   "GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n";
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	gw_send_all(fd, raw, sizeof raw - 1);
	static const char *const expect[] = {"FRONT-FIXTURE-TEXT", "query: second",
	                                     "FRONT-FIXTURE-CSS"};
	for (int i = 0; i < 3; i++) {
		struct gw_response r;
		cr_assert_eq(gw_read_response(fd, false, 10, &r), 0, "pipelined response %d missing", i);
		cr_expect_eq(r.status, 200, "response %d: %d", i, r.status);
		cr_expect(strstr(r.body, expect[i]), "response %d out of order: %s", i, r.body);
		if (i == 1)
			cr_expect(r.chunked, "a script's answer without a length goes out chunked to 1.1");
		gw_response_free(&r);
	}
	/* And the connection is still usable after the three. */
	const char more[] = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	gw_send_all(fd, more, sizeof more - 1);
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, false, 10, &r), 0);
	cr_expect_eq(r.status, 200);
	gw_response_free(&r);
	cr_expect(peer_closes(fd, 3), "Connection: close was not honoured");
	close(fd);
	finish_ok();
}

Test(front, head_has_length_and_no_body)
{
	gw_start(&G, CFG);
	char *file = path_in(gw_srcdir(), "test/fixtures/front/htdocs/index.html");
	struct stat st;
	cr_assert(stat(file, &st) == 0);
	free(file);
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	const char head[] = "HEAD /index.html HTTP/1.1\r\nHost: t\r\n\r\n";
	gw_send_all(fd, head, sizeof head - 1);
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, true, 5, &r), 0);
	cr_expect_eq(r.status, 200);
	char *cl = gw_header(&r, "Content-Length"), *ct = gw_header(&r, "Content-Type");
	cr_expect(cl && strtoll(cl, NULL, 10) == (long long)st.st_size,
	          "HEAD Content-Length %s, file %lld", cl ? cl : "(none)", (long long)st.st_size);
	cr_expect(ct && strncmp(ct, "text/html", 9) == 0, "HEAD Content-Type %s", ct ? ct : "-");
	free(cl);
	free(ct);
	gw_response_free(&r);
	/* No body followed: the next bytes on the connection are the next status line. */
	expect_notes_on(fd, "GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n",
	                "after a HEAD (bytes left behind?)");
	close(fd);

	/* HEAD of a script: headers only, even though the script prints a body. */
	expect_status("HEAD /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n"
	              "Connection: close\r\n\r\n", 200, &r);
	gw_response_free(&r);
	size_t len;
	const char head_cgi[] = "HEAD /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	char *all = gw_exchange(G.port, head_cgi, sizeof head_cgi - 1, 5, &len);
	char *end = strstr(all, "\r\n\r\n");
	cr_expect(end && end[4] == '\0', "HEAD of a script sent a body: %s", all);
	free(all);

	/* curl -I agrees. */
	char *out = CURL_OK("/style.css", "-I");
	cr_expect(strstr(out, "HTTP/1.1 200") && strcasestr(out, "Content-Length: ") &&
	          strcasestr(out, "Content-Type: text/css"), "%s", out);
	free(out);
	finish_ok();
}

Test(front, http10_client)
{
	gw_start(&G, CFG);
	/* A script's answer without a length: it ends by the close, never chunked. */
	struct gw_response r;
	expect_status("GET /cgi-bin/hello.sh?old HTTP/1.0\r\n\r\n", 200, &r);
	cr_expect(!r.chunked, "chunked to an HTTP/1.0 client");
	cr_expect(r.closed, "the body should end by the close");
	cr_expect(strstr(r.body, "Hello from sh") && strstr(r.body, "query: old"), "%s", r.body);
	char *te = gw_header(&r, "Transfer-Encoding");
	cr_expect_null(te, "Transfer-Encoding to 1.0: %s", te);
	free(te);
	gw_response_free(&r);

	/* Without keep-alive: a static file, then the close. */
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	send_str(fd, "GET /notes.txt HTTP/1.0\r\n\r\n");
	cr_assert_eq(gw_read_response(fd, false, 5, &r), 0);
	cr_expect_eq(r.status, 200);
	char *conn = gw_header(&r, "Connection");
	cr_expect(conn && strcasecmp(conn, "close") == 0, "Connection: %s", conn ? conn : "-");
	free(conn);
	gw_response_free(&r);
	cr_expect(peer_closes(fd, 3), "1.0 without keep-alive: not closed");
	close(fd);

	/* With keep-alive asked for and a length known: kept, said so. */
	fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	const char ka[] = "GET /notes.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	gw_send_all(fd, ka, sizeof ka - 1);
	cr_assert_eq(gw_read_response(fd, false, 5, &r), 0);
	cr_expect_eq(r.status, 200);
	conn = gw_header(&r, "Connection");
	cr_expect(conn && strcasecmp(conn, "keep-alive") == 0, "Connection: %s", conn ? conn : "-");
	free(conn);
	gw_response_free(&r);
	expect_notes_on(fd, ka, "the kept 1.0 connection");
	close(fd);

	/* curl -0 too. */
	char *out = CURL_OK("/cgi-bin/hello.sh", "-0", "-i");
	cr_expect(strstr(out, "HTTP/1.1 200") && strstr(out, "Hello from sh") &&
	          !strcasestr(out, "Transfer-Encoding"), "%s", out);
	free(out);
	finish_ok();
}

Test(front, expect_100_continue)
{
	gw_start(&G, CFG);
	const char body[] = "name=Grace&message=continue";
	char head[256];
	snprintf(head, sizeof head, "POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\n"
	         "Content-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\n"
	         "Content-Length: %zu\r\n\r\n", sizeof body - 1);
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	gw_send_all(fd, head, strlen(head));
	/* The interim answer comes before any body byte is sent. */
	char *interim = read_until(fd, "\r\n\r\n", 3);
	cr_expect_str_eq(interim, "HTTP/1.1 100 Continue\r\n\r\n");
	free(interim);
	gw_send_all(fd, body, sizeof body - 1);
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, false, 10, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect(strstr(r.body, "<dt>name</dt><dd>Grace</dd>") &&
	          strstr(r.body, "<dt>message</dt><dd>continue</dd>"), "%s", r.body);
	gw_response_free(&r);
	close(fd);

	/* Over the route's max_body: a final 413 instead of the 100. */
	fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	const char big[] = "POST /small/form.py HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
	                   "Content-Length: 5000\r\n\r\n";
	gw_send_all(fd, big, sizeof big - 1);
	char *first = read_until(fd, "\r\n\r\n", 3);
	cr_expect(strncmp(first, "HTTP/1.1 413 ", 13) == 0, "answer: %s", first);
	free(first);
	close(fd);

	/* curl waits for the 100 too (it sends Expect for a large body). */
	char *out = CURL_OK("/cgi-bin/form.py", "-H", "Expect: 100-continue", "-d", "name=Linus");
	cr_expect(strstr(out, "<dd>Linus</dd>"), "%s", out);
	free(out);
	finish_ok();
}

Test(front, request_bodies_length_and_chunked)
{
	gw_start(&G, CFG);
	/* Content-Length */
	char *out = CURL_OK("/cgi-bin/form.py", "-d", "name=Ada&message=hello+there");
	cr_expect(strstr(out, "<dt>name</dt><dd>Ada</dd>") &&
	          strstr(out, "<dt>message</dt><dd>hello there</dd>"), "%s", out);
	free(out);
	/* chunked, from curl */
	out = CURL_OK("/cgi-bin/form.py", "-H", "Transfer-Encoding: chunked", "-d",
	              "name=Bob&message=chunks");
	cr_expect(strstr(out, "<dt>name</dt><dd>Bob</dd>") &&
	          strstr(out, "<dt>message</dt><dd>chunks</dd>"), "%s", out);
	free(out);

	/* chunked by hand: several chunks, an extension, a trailer, then the
	 * connection is reused for a Content-Length POST. */
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	const char chunked[] = "POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\n"
	                       "Transfer-Encoding: chunked\r\n\r\n"
	                       "5\r\nname=\r\n"
	                       "4;ext=1\r\nCarl\r\n"
	                       "A\r\n&message=x\r\n"
	                       "0\r\nX-Trailer: yes\r\n\r\n";
	gw_send_all(fd, chunked, sizeof chunked - 1);
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, false, 10, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect(strstr(r.body, "<dd>Carl</dd>") && strstr(r.body, "<dt>message</dt><dd>x</dd>"),
	          "%s", r.body);
	gw_response_free(&r);
	const char cl[] = "POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n"
	                  "name=Dora";
	gw_send_all(fd, cl, sizeof cl - 1);
	cr_assert_eq(gw_read_response(fd, false, 10, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect(strstr(r.body, "<dd>Dora</dd>"), "%s", r.body);
	gw_response_free(&r);
	close(fd);
	finish_ok();
}

/* ---- 3. bad input ------------------------------------------------------- */

/* Send raw on a new connection of a daemon running cfg: the answer is status,
 * the connection is closed after it when must_close, a log line with the
 * request id holds every word of why, and the daemon serves the next request. */
static void expect_rejected(const char *cfg, const char *raw, size_t len, int status,
                            bool must_close, const char *const why[])
{
	gw_start(&G, cfg);
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	gw_send_all(fd, raw, len);
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, strncmp(raw, "HEAD ", 5) == 0, 5, &r), 0,
	             "no (complete) response; expected %d", status);
	cr_expect_eq(r.status, status, "status %d, expected %d:\n%s", r.status, status, r.head);
	if (must_close) {
		char *conn = gw_header(&r, "Connection");
		cr_expect(conn && strcasecmp(conn, "close") == 0, "no Connection: close with the %d",
		          r.status);
		free(conn);
		cr_expect(peer_closes(fd, 3), "the connection stayed open after the %d", r.status);
	}
	gw_response_free(&r);
	close(fd);
	char *line = wait_log_line(G.error_log, why, 2);
	char *log = line ? NULL : gw_read_file(G.error_log);
	cr_expect_not_null(line, "no log line with '%s'%s%s; log:\n%s", why[0],
	                   why[1] ? " and '" : "", why[1] ? why[1] : "", log ? log : "");
	cr_expect(!line || strstr(line, " req="), "the log line has no request id: %s", line);
	free(line);
	free(log);
	/* CFG_NO_CATCHALL has its static files under /static/ */
	expect_serving(G.port, cfg == CFG_NO_CATCHALL ? "/static/" : "/", "FRONT-FIXTURE-INDEX");
	stop_ok();
}

#define REJECT(name, cfg, raw, status, closes, ...)                                         \
	Test(front, bad_##name)                                                              \
	{                                                                                    \
		static const char req[] = raw;                                               \
		expect_rejected(cfg, req, sizeof req - 1, status, closes,                     \
		                (const char *const[]){__VA_ARGS__, NULL});                  \
		gw_assert_no_leaks();                                                        \
	}

REJECT(malformed_request_line, CFG, "GET /index.html HTTP/1.1 junk\r\nHost: t\r\n\r\n", 400, true,
       "400", "HTTP version")
REJECT(malformed_request_line_no_target, CFG, "GET\r\nHost: t\r\n\r\n", 400, true, "400",
       "request")
REJECT(content_length_and_transfer_encoding, CFG,
       "POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
       "Transfer-Encoding: chunked\r\n\r\n5\r\nname=\r\n0\r\n\r\n",
       400, true, "400", "Content-Length", "Transfer-Encoding")
REJECT(two_different_content_lengths, CFG,
       "POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
       "Content-Length: 6\r\n\r\nname=x",
       400, true, "400", "Content-Length")
REJECT(malformed_content_length, CFG,
       "POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\nContent-Length: 5x\r\n\r\nname=",
       400, true, "400", "Content-Length")
REJECT(bad_chunk_size, CFG,
       "POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "zz\r\nname=x\r\n0\r\n\r\n",
       400, true, "400", "chunk")
REJECT(obs_fold, CFG, "GET / HTTP/1.1\r\nHost: t\r\nX-Long: first\r\n  folded\r\n\r\n", 400,
       true, "400", "obs-fold")
REJECT(whitespace_before_colon, CFG, "GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400, true, "400",
       "whitespace")
REJECT(control_character_in_value, CFG, "GET / HTTP/1.1\r\nHost: t\r\nX-Bad: a\x01z\r\n\r\n",
       400, true, "400", "control character")
REJECT(bare_cr_in_header, CFG, "GET / HTTP/1.1\r\nHost: t\r\nX-Bad: a\rb\r\n\r\n", 400, true,
       "400", "bare CR")
REJECT(bare_cr_in_request_line, CFG, "GET /\r HTTP/1.1\r\nHost: t\r\n\r\n", 400, true, "400",
       "bare CR")
/* A bare LF: a proxy in front that does not end lines there sees one header
 * "Dummy: x\nContent-Length: 23" and forwards the body as the next request. */
REJECT(bare_lf_smuggling, CFG,
       "POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\nDummy: x\nContent-Length: 23\r\n\r\n"
       "GET /admin HTTP/1.1\r\n\r\n",
       400, true, "400", "bare LF")
REJECT(bare_lf_ends_the_head, CFG, "GET / HTTP/1.1\nHost: t\n\n", 400, true, "400", "bare LF")
REJECT(bare_lf_in_chunked_trailer, CFG,
       "POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nname=\r\n0\r\nX: y\n\r\n",
       400, true, "400", "chunk")
REJECT(missing_host_11, CFG, "GET / HTTP/1.1\r\n\r\n", 400, true, "400", "Host")
REJECT(unsupported_version, CFG, "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, false, "505",
       "version")
REJECT(unknown_transfer_coding, CFG,
       "POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
       "0\r\n\r\n",
       501, false, "501", "coding")
REJECT(body_over_max_body_content_length, CFG,
       "POST /small/form.py HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n", 413, false,
       "413", "max_body")
REJECT(nul_in_path, CFG, "GET /index.html%00.txt HTTP/1.1\r\nHost: t\r\n\r\n", 400, true,
       "400", "path")
REJECT(bad_percent_escape, CFG, "GET /index%zz.html HTTP/1.1\r\nHost: t\r\n\r\n", 400, true,
       "400", "path")
REJECT(no_route, CFG_NO_CATCHALL, "GET /elsewhere/index.html HTTP/1.1\r\nHost: t\r\n\r\n", 404,
       false, "no route", "/elsewhere/index.html")

/* Over-limit heads are built at run time. */
static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);
	cr_assert_not_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* expect_rejected() on CFG, the connection left open, for a request built at
 * run time (freed here). */
static void expect_built_rejected(char *raw, int status, const char *const *words)
{
	expect_rejected(CFG, raw, strlen(raw), status, false, words);
	free(raw);
	gw_assert_no_leaks();
}

Test(front, bad_request_line_over_limit)
{
	char *a = repeat('a', 1100), *raw = NULL;
	cr_assert(asprintf(&raw, "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n", a) > 0);
	free(a);
	expect_built_rejected(raw, 414, (const char *const[]){"414", "request line", NULL});
}

Test(front, bad_header_block_over_limit)
{
	char *a = repeat('v', 1500), *raw = NULL;
	cr_assert(asprintf(&raw, "GET / HTTP/1.1\r\nHost: t\r\nX-A: %s\r\nX-B: %s\r\nX-C: %s\r\n\r\n",
	                   a, a, a) > 0);
	free(a);
	expect_built_rejected(raw, 431, (const char *const[]){"431", "head", NULL});
}

Test(front, bad_too_many_headers)
{
	char raw[2048];
	size_t n = (size_t)snprintf(raw, sizeof raw, "GET / HTTP/1.1\r\nHost: t\r\n");
	for (int i = 0; i < 25; i++)
		n += (size_t)snprintf(raw + n, sizeof raw - n, "X-H%d: %d\r\n", i, i);
	n += (size_t)snprintf(raw + n, sizeof raw - n, "\r\n");
	expect_rejected(CFG, raw, n, 431, false,
	                (const char *const[]){"431", "header fields", NULL});
	gw_assert_no_leaks();
}

Test(front, bad_chunked_body_over_max_body)
{
	/* 1500 bytes in 100-byte chunks to a route with max_body 1000. */
	char raw[4096];
	size_t n = (size_t)snprintf(raw, sizeof raw, "POST /small/form.py HTTP/1.1\r\nHost: t\r\n"
	                            "Transfer-Encoding: chunked\r\n\r\n");
	char *chunk = repeat('q', 100);
	for (int i = 0; i < 15; i++)
		n += (size_t)snprintf(raw + n, sizeof raw - n, "64\r\n%s\r\n", chunk);
	n += (size_t)snprintf(raw + n, sizeof raw - n, "0\r\n\r\n");
	free(chunk);
	expect_rejected(CFG, raw, n, 413, false,
	                (const char *const[]){"413", "max_body", NULL});
	gw_assert_no_leaks();
}

/* A client that stops mid-request: 408 after the timeout (1 s), not before,
 * and the connection closed. */
static void expect_408(const char *raw, const char *word)
{
	gw_start(&G, CFG);
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	double t0 = gw_now();
	gw_send_all(fd, raw, strlen(raw));
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, false, 5, &r), 0, "no answer to a stalled request");
	double took = gw_now() - t0;
	cr_expect_eq(r.status, 408, "status %d:\n%s", r.status, r.head);
	cr_expect(took >= 0.8 && took < 3.5, "408 after %.2f s; the timeout is 1 s", took);
	char *conn = gw_header(&r, "Connection");
	cr_expect(conn && strcasecmp(conn, "close") == 0, "no Connection: close with the 408");
	free(conn);
	gw_response_free(&r);
	cr_expect(peer_closes(fd, 3), "the connection stayed open after the 408");
	close(fd);
	char *line = wait_log_line(G.error_log, (const char *const[]){"408", word, NULL}, 2);
	cr_expect_not_null(line, "no log line for the 408 with '%s'", word);
	cr_expect(!line || strstr(line, " req="), "no request id: %s", line);
	free(line);
	expect_serving(G.port, "/", "FRONT-FIXTURE-INDEX");
	finish_ok();
}

Test(front, bad_slow_headers)
{
	expect_408("GET /index.html HTTP/1.1\r\nHost: t\r\nX-Half: ", "head");
}

Test(front, bad_slow_body_content_length)
{
	expect_408("POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
	           "name=slow", "body");
}

Test(front, bad_slow_body_chunked)
{
	expect_408("POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	           "9\r\nname=slow\r\n", "body");
}

/* The head arrives a byte at a time, each within the header timeout but the
 * whole past it: timed from the first byte, not reset per read. */
Test(front, bad_slow_headers_trickled)
{
	gw_start(&G, CFG);
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	const char raw[] = "GET /index.html HTTP/1.1\r\nHost: t\r\nX-Trickle: abcdefghijklmnop\r\n\r\n";
	double t0 = gw_now();
	bool answered = false;
	for (size_t i = 0; i < sizeof raw - 1 && gw_now() - t0 < 4; i++) {
		gw_send_all(fd, raw + i, 1);
		if (readable(fd, 0.1)) {
			answered = true;
			break;
		}
	}
	cr_expect(answered, "a head trickled over %.1f s was never cut off", gw_now() - t0);
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, false, 3, &r), 0);
	cr_expect_eq(r.status, 408, "status %d", r.status);
	cr_expect(gw_now() - t0 < 2.5, "cut off after %.2f s; the header timeout is 1 s", gw_now() - t0);
	gw_response_free(&r);
	close(fd);
	finish_ok();
}

/* Path traversal never reaches a file outside the root. */
Test(front, bad_path_traversal)
{
	gw_start(&G, CFG);
	static const char *const targets[] = {
		"/../secret.txt", "/../../etc/passwd", "/sub/../../secret.txt",
		"/%2e%2e/secret.txt", "/%2E%2E/%2E%2E/etc/passwd", "/sub/%2e%2e/%2e%2e/secret.txt",
		"/..%2fsecret.txt", "/cgi-bin/../../../etc/passwd",
	};
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		char raw[512];
		snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		         targets[i]);
		size_t len;
		char *all = gw_exchange(G.port, raw, strlen(raw), 5, &len);
		cr_expect(strncmp(all, "HTTP/1.1 400 ", 13) == 0, "%s: %.40s", targets[i], all);
		cr_expect(!strstr(all, "FRONT-FIXTURE-SECRET") && !strstr(all, "root:x:0:0"),
		          "%s: a file outside the root came back", targets[i]);
		free(all);
	}
	char *line = wait_log_line(G.error_log, (const char *const[]){" req=", "400", "path", NULL}, 2);
	cr_expect_not_null(line, "no log line with a request id saying why the traversal got 400");
	free(line);
	/* curl --path-as-is sends the dots unresolved. */
	char *out = CURL_OK("/../../etc/passwd", "--path-as-is", "-i");
	cr_expect(strstr(out, "HTTP/1.1 400") && !strstr(out, "root:x:0:0"), "%s", out);
	free(out);
	/* Dots that stay inside the root are fine. */
	struct gw_response r;
	expect_status("GET /sub/../notes.txt HTTP/1.1\r\nHost: t\r\n"
	              "Connection: close\r\n\r\n", 200, &r);
	cr_expect_str_eq(r.body, "FRONT-FIXTURE-TEXT\n");
	gw_response_free(&r);
	expect_serving(G.port, "/", "FRONT-FIXTURE-INDEX");
	finish_ok();
}

/* A symlink inside the root that points outside it is not followed. */
Test(front, bad_symlink_out_of_root)
{
	static const char cfg[] =
		"{" LISTEN "\"routes\":[{\"match\":\"/\",\"static\":{\"root\":\"@DIR@/www\"}}],"
		LIMITS TIMEOUTS_FAST "}";
	gw_write_config(&G, cfg); /* makes G.dir */
	char *www = path_in(G.dir, "www"), *link = path_in(G.dir, "www/escape.txt");
	char *secret = path_in(gw_srcdir(), "test/fixtures/front/secret.txt");
	char *ok = path_in(G.dir, "www/ok.txt");
	cr_assert(mkdir(www, 0755) == 0);
	char *abs = realpath(secret, NULL);
	cr_assert_not_null(abs);
	cr_assert(symlink(abs, link) == 0);
	FILE *f = fopen(ok, "w");
	cr_assert_not_null(f);
	fputs("inside\n", f);
	fclose(f);
	gw_start(&G, cfg);
	struct gw_response r;
	cr_assert_eq(gw_request(G.port, "GET /escape.txt HTTP/1.1\r\nHost: t\r\n"
	                                 "Connection: close\r\n\r\n", &r), 0);
	cr_expect_eq(r.status, 404, "a symlink out of the root: %d", r.status);
	cr_expect(!strstr(r.body, "FRONT-FIXTURE-SECRET"), "served through the symlink");
	gw_response_free(&r);
	expect_serving(G.port, "/ok.txt", "inside");
	free(www);
	free(link);
	free(secret);
	free(ok);
	free(abs);
	finish_ok();
}

/* ---- 4. static files -------------------------------------------------------- */

Test(front, static_index_and_types)
{
	gw_start(&G, CFG);
	char *file = path_in(gw_srcdir(), "test/fixtures/front/htdocs/index.html");
	char *want = gw_read_file(file);
	cr_assert_not_null(want);
	struct gw_response r;
	expect_status("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200, &r);
	cr_expect_str_eq(r.body, want, "/ is not index.html");
	char *ct = gw_header(&r, "Content-Type");
	cr_expect(ct && strncmp(ct, "text/html", 9) == 0, "Content-Type %s", ct ? ct : "-");
	free(ct);
	gw_response_free(&r);

	expect_status("GET /sub/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200, &r);
	cr_expect(strstr(r.body, "FRONT-FIXTURE-SUB-INDEX"), "%s", r.body);
	gw_response_free(&r);

	static const struct {
		const char *path, *type;
	} types[] = {{"/index.html", "text/html"}, {"/style.css", "text/css"},
	             {"/notes.txt", "text/plain"}};
	for (size_t i = 0; i < 3; i++) {
		char raw[256];
		snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		         types[i].path);
		cr_assert_eq(gw_request(G.port, raw, &r), 0);
		cr_expect_eq(r.status, 200, "%s: %d", types[i].path, r.status);
		ct = gw_header(&r, "Content-Type");
		cr_expect(ct && strncmp(ct, types[i].type, strlen(types[i].type)) == 0,
		          "%s: Content-Type %s", types[i].path, ct ? ct : "-");
		free(ct);
		gw_response_free(&r);
	}
	/* The shipped demo through curl. */
	stop_ok();
	gw_start(&G, CFG_DEMO);
	char *out = CURL_OK("/", "-i");
	cr_expect(strstr(out, "HTTP/1.1 200") && strcasestr(out, "Content-Type: text/html"),
	          "%.300s", out);
	free(out);
	free(file);
	free(want);
	finish_ok();
}

Test(front, static_last_modified_and_if_modified_since)
{
	gw_start(&G, CFG);
	struct gw_response r;
	expect_status("GET /style.css HTTP/1.1\r\nHost: t\r\n"
	              "Connection: close\r\n\r\n", 200, &r);
	char *lm = gw_header(&r, "Last-Modified");
	cr_assert_not_null(lm, "no Last-Modified");
	struct tm tm = {0};
	char *end = strptime(lm, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	cr_expect(end && *end == '\0', "Last-Modified is not an IMF-fixdate: %s", lm);
	gw_response_free(&r);

	/* The same date: 304, no body, no Content-Length of a body. */
	char raw[512];
	snprintf(raw, sizeof raw, "GET /style.css HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: %s\r\n"
	         "Connection: close\r\n\r\n", lm);
	size_t len;
	char *all = gw_exchange(G.port, raw, strlen(raw), 5, &len);
	cr_expect(strncmp(all, "HTTP/1.1 304 ", 13) == 0, "%s", all);
	char *blank = strstr(all, "\r\n\r\n");
	cr_expect(blank && blank[4] == '\0', "a 304 with a body: %s", all);
	free(all);

	/* A later date: 304 too. An older one, or garbage: 200 with the file. */
	static const char *const older[] = {"Thu, 01 Jan 1998 00:00:00 GMT", "not a date"};
	for (int i = 0; i < 2; i++) {
		snprintf(raw, sizeof raw, "GET /style.css HTTP/1.1\r\nHost: t\r\n"
		         "If-Modified-Since: %s\r\nConnection: close\r\n\r\n", older[i]);
		cr_assert_eq(gw_request(G.port, raw, &r), 0);
		cr_expect_eq(r.status, 200, "If-Modified-Since %s: %d", older[i], r.status);
		cr_expect(strstr(r.body, "FRONT-FIXTURE-CSS"), "%s", r.body);
		gw_response_free(&r);
	}
	expect_status("GET /style.css HTTP/1.1\r\nHost: t\r\n"
	              "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n"
	              "Connection: close\r\n\r\n", 304, &r);
	gw_response_free(&r);

	/* curl -z with the date gets the 304 as well. */
	char *out = CURL_OK("/style.css", "-i", "-z", lm);
	cr_expect(strstr(out, "HTTP/1.1 304"), "%s", out);
	free(out);
	free(lm);
	finish_ok();
}

Test(front, static_head_redirect_missing_and_method)
{
	gw_start(&G, CFG);
	struct gw_response r;
	/* HEAD: the GET's headers, no body. */
	expect_status("HEAD /notes.txt HTTP/1.1\r\nHost: t\r\n"
	              "Connection: close\r\n\r\n", 200, &r);
	char *cl = gw_header(&r, "Content-Length"), *lm = gw_header(&r, "Last-Modified");
	cr_expect(cl && strcmp(cl, "19") == 0, "Content-Length %s", cl ? cl : "-");
	cr_expect_not_null(lm);
	free(cl);
	free(lm);
	gw_response_free(&r);

	/* A directory without its slash: 301 to the slash (query kept). */
	expect_status("GET /sub HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 301, &r);
	char *loc = gw_header(&r, "Location");
	cr_expect(loc && strcmp(loc, "/sub/") == 0, "Location %s", loc ? loc : "-");
	free(loc);
	gw_response_free(&r);
	expect_status("GET /sub?a=1 HTTP/1.1\r\nHost: t\r\n"
	              "Connection: close\r\n\r\n", 301, &r);
	loc = gw_header(&r, "Location");
	cr_expect(loc && strcmp(loc, "/sub/?a=1") == 0, "Location %s", loc ? loc : "-");
	free(loc);
	gw_response_free(&r);
	char *out = CURL_OK("/sub", "-L");
	cr_expect(strstr(out, "FRONT-FIXTURE-SUB-INDEX"), "curl -L /sub: %s", out);
	free(out);

	/* Missing: 404, and the connection stays usable. */
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	send_str(fd, "GET /nothing-here.html HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert_eq(gw_read_response(fd, false, 5, &r), 0);
	cr_expect_eq(r.status, 404);
	gw_response_free(&r);
	send_str(fd, "GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert_eq(gw_read_response(fd, false, 5, &r), 0, "connection gone after the 404");
	cr_expect_eq(r.status, 200);
	gw_response_free(&r);
	close(fd);

	/* POST, PUT, DELETE to a static file: 405 with Allow. */
	static const char *const methods[] = {"POST", "PUT", "DELETE"};
	for (int i = 0; i < 3; i++) {
		char raw[256];
		snprintf(raw, sizeof raw, "%s /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
		         "Connection: close\r\n\r\nabc", methods[i]);
		cr_assert_eq(gw_request(G.port, raw, &r), 0);
		cr_expect_eq(r.status, 405, "%s: %d", methods[i], r.status);
		char *allow = gw_header(&r, "Allow");
		cr_expect(allow && strstr(allow, "GET") && strstr(allow, "HEAD"), "%s: Allow %s",
		          methods[i], allow ? allow : "-");
		free(allow);
		gw_response_free(&r);
	}
	finish_ok();
}

/* ---- 5. idle keep-alive -------------------------------------------------- */

Test(front, keepalive_idle_closed_after_timeout)
{
	gw_start(&G, CFG); /* keepalive: 1 s */
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	send_str(fd, "GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, false, 5, &r), 0);
	cr_expect_eq(r.status, 200);
	gw_response_free(&r);
	double t0 = gw_now();
	cr_expect(peer_closes(fd, 1 + 2), "an idle keep-alive connection outlived the timeout");
	double took = gw_now() - t0;
	cr_expect(took >= 0.8, "closed after %.2f s, before the 1 s keep-alive timeout", took);
	close(fd);
	/* A connection that never sends anything is closed too (header timeout). */
	fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	cr_expect(peer_closes(fd, 1 + 2), "a silent connection stayed open");
	close(fd);
	expect_serving(G.port, "/", NULL);
	finish_ok();
}

/* ---- 6. logs -------------------------------------------------------------- */

Test(front, access_log_and_request_ids)
{
	gw_start(&G, CFG);
	char *out = CURL_OK("/", "-A", "front-test/1", "-e", "http://referer.example/");
	free(out);
	struct gw_response r;
	expect_status("GET /missing.html?q=1 HTTP/1.1\r\nHost: t\r\n"
	              "User-Agent: raw\r\nConnection: close\r\n\r\n", 404, &r);
	/* The error page names the request id. */
	char id404[17] = "";
	char *p = strstr(r.body, "<small>request ");
	cr_expect(p && sscanf(p, "<small>request %16[0-9a-f]", id404) == 1, "no id in %s", r.body);
	gw_response_free(&r);
	expect_status("GET / HTTP/1.1\r\nHost: t\r\nX-Bad : 1\r\n\r\n", 400, &r);
	char id400[17] = "";
	p = strstr(r.body, "<small>request ");
	cr_expect(p && sscanf(p, "<small>request %16[0-9a-f]", id400) == 1, "no id in %s", r.body);
	gw_response_free(&r);
	expect_status("POST /cgi-bin/form.py HTTP/1.1\r\nHost: t\r\n"
	              "Content-Length: 8\r\nConnection: close\r\n\r\nname=Log", 200, &r);
	size_t post_bytes = r.body_len;
	gw_response_free(&r);

	/* Four requests, four lines (the last is written after its response). */
	double until = gw_now() + 3;
	while (count_lines(G.access_log) < 4 && gw_now() < until)
		usleep(20000);
	char *text = gw_read_file(G.access_log);
	cr_assert_not_null(text, "no access log");
	cr_expect_eq(count_lines(G.access_log), 4, "access log:\n%s", text);
	char *file = path_in(gw_srcdir(), "test/fixtures/front/htdocs/index.html");
	struct stat st;
	cr_assert(stat(file, &st) == 0);
	free(file);
	char re1[512], re2[512], re3[512], re4[512];
	snprintf(re1, sizeof re1, "^127\\.0\\.0\\.1 - - \\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9:]{8} "
	         "[-+][0-9]{4}\\] \"GET / HTTP/1\\.1\" 200 %lld \"http://referer\\.example/\" "
	         "\"front-test/1\" [0-9]+\\.[0-9]+ [0-9a-f]{16}$", (long long)st.st_size);
	snprintf(re2, sizeof re2, "^127\\.0\\.0\\.1 - - \\[[^]]+\\] \"GET /missing\\.html\\?q=1 "
	         "HTTP/1\\.1\" 404 [0-9]+ \"-\" \"raw\" [0-9]+\\.[0-9]+ %s$", id404);
	snprintf(re3, sizeof re3, "^127\\.0\\.0\\.1 - - \\[[^]]+\\] \"GET / HTTP/1\\.1\" 400 "
	         "[0-9]+ \"-\" \"-\" [0-9]+\\.[0-9]+ %s$", id400);
	snprintf(re4, sizeof re4, "^127\\.0\\.0\\.1 - - \\[[^]]+\\] \"POST /cgi-bin/form\\.py "
	         "HTTP/1\\.1\" 200 %zu \"-\" \"-\" [0-9]+\\.[0-9]+ [0-9a-f]{16}$", post_bytes);
	const char *res[] = {re1, re2, re3, re4};
	char *line = text;
	for (int i = 0; i < 4 && line && *line; i++) {
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		regex_t re;
		cr_assert_eq(regcomp(&re, res[i], REG_EXTENDED | REG_NOSUB), 0, "%s", res[i]);
		cr_expect_eq(regexec(&re, line, 0, NULL, 0), 0, "access line %d:\n%s\ndoes not match\n%s",
		             i + 1, line, res[i]);
		regfree(&re);
		line = eol ? eol + 1 : NULL;
	}
	free(text);

	/* The error log: the 400's reason under the same request id; every line
	 * is "<time> [<level>] req=<id>: ..." or "<time> [<level>] gatewayd: ...". */
	char needle[64];
	snprintf(needle, sizeof needle, "req=%s: 400", id400);
	cr_expect(gw_log_contains(G.error_log, needle, 2), "no '%s' in the error log", needle);
	text = gw_read_file(G.error_log);
	cr_assert_not_null(text);
	regex_t re;
	cr_assert_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z \\[(error|warn|info|debug)\\] "
	                          "(req=[0-9a-f]{16}|gatewayd): ", REG_EXTENDED | REG_NOSUB), 0);
	line = text;
	while (line && *line) {
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		cr_expect_eq(regexec(&re, line, 0, NULL, 0), 0, "error log line: %s", line);
		line = eol ? eol + 1 : NULL;
	}
	regfree(&re);
	free(text);
	finish_ok();
}

/* ---- 7. connection limit and shutdown ------------------------------------- */

/* The fixture's static files at "/" and nothing else, then more (limits, timeouts). */
#define STATIC_ONLY(more)                                                                        \
	"{" LISTEN "\"routes\":[{\"match\":\"/\",\"static\":{\"root\":\"@FIX@/front/htdocs\"}}],"    \
	more "}"

/* A new connection that has been served once (GET /notes.txt) and is idle. */
static int served_connection(int i)
{
	char what[64];
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	snprintf(what, sizeof what, "connection %d", i);
	expect_notes_on(fd, "GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n", what);
	return fd;
}

Test(front, connection_limit)
{
	gw_start(&G, STATIC_ONLY("\"limits\":{\"connections\":4},"
	                         "\"timeouts\":{\"header\":10,\"body\":10,\"keepalive\":10,"
	                         "\"send\":5,\"shutdown\":3}"));
	/* Four connections, each served once and then idle. gw_start's probe
	 * connection is closed already; make sure the daemon has seen that by
	 * serving these one at a time. */
	int fds[4];
	for (int i = 0; i < 4; i++)
		fds[i] = served_connection(i);
	/* The fifth waits. */
	int fifth = gw_connect(G.port); /* the kernel's backlog completes the handshake */
	cr_assert(fifth >= 0);
	send_str(fifth, "GET /notes.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	cr_expect(!readable(fifth, 0.7), "a fifth connection was served over the limit of 4");
	/* One closes: the fifth is served. */
	close(fds[0]);
	struct gw_response r;
	cr_assert_eq(gw_read_response(fifth, false, 3, &r), 0,
	             "the fifth connection was not served after one closed");
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "FRONT-FIXTURE-TEXT\n");
	gw_response_free(&r);
	close(fifth);
	/* The others are still alive and served. */
	for (int i = 1; i < 4; i++) {
		char what[64];
		snprintf(what, sizeof what, "connection %d, after the fifth", i);
		expect_notes_on(fds[i], "GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n", what);
		close(fds[i]);
	}
	finish_ok();
}

Test(front, sigterm_with_idle_keepalive_connections)
{
	gw_start(&G, STATIC_ONLY("\"timeouts\":{\"header\":30,\"body\":30,\"keepalive\":30,"
	                         "\"send\":30,\"shutdown\":20}"));
	int fds[4];
	for (int i = 0; i < 3; i++)
		fds[i] = served_connection(i);
	fds[3] = gw_connect(G.port); /* the last one never sends anything */
	cr_assert(fds[3] >= 0);
	double t0 = gw_now();
	cr_assert_eq(kill(G.pid, SIGTERM), 0);
	/* A client that sends its next request as the stop comes (a moment
	 * after gatewayd took the signal: nothing tells the client) gets it
	 * served, and the connection closed. */
	cr_assert(gw_log_contains(G.error_log, "signal 15: stopping", 2), "SIGTERM not logged");
	send_str(fds[0], "GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	struct gw_response r;
	cr_expect_eq(gw_read_response(fds[0], false, 2, &r), 0,
	             "a request sent on an idle connection after SIGTERM got no answer");
	cr_expect_eq(r.status, 200);
	cr_expect(r.head && strcasestr(r.head, "\r\nConnection: close\r\n"),
	          "the answer after SIGTERM does not say Connection: close: %s", r.head);
	gw_response_free(&r);
	/* Idle connections do not hold the stop for the 20 s shutdown timeout. */
	int st = gw_wait_exit(&G, 5.0);
	double took = gw_now() - t0;
	if (st == -1)
		gw_dump_log(&G);
	cr_expect(st != -1, "gatewayd did not exit within 5 s of SIGTERM with idle connections");
	cr_expect(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
	cr_expect(took < 5.0, "exit took %.2f s", took);
	for (int i = 0; i < 4; i++) {
		cr_expect(peer_closes(fds[i], 1), "connection %d not closed at shutdown", i);
		close(fds[i]);
	}
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* ---- 8. corpora of bad requests ------------------------------------------ */

struct probe {
	char *name;
	bool must_reject; /* an invalid request by its corpus' manifest */
	int fd;
	char *data;
	size_t len, cap;
	bool done;
};

/* Every response in data has a sane status line; returns how many, or -1. */
static int check_responses(const char *data, size_t len, int *first_status)
{
	int n = 0;
	*first_status = 0;
	for (const char *p = data; p && p < data + len; p++) {
		p = strstr(p, "HTTP/1.");
		if (!p)
			break;
		if (p != data && !(p[-1] == '\n'))
			continue; /* inside a body */
		int status;
		if (sscanf(p, "HTTP/1.%*1[01] %3d ", &status) != 1 || status < 100 || status > 599)
			return -1;
		if (!n)
			*first_status = status;
		n++;
	}
	return n;
}

static size_t corpus_dir(const char *rel, struct probe *out, size_t max, bool must_reject)
{
	char *dir = path_in(gw_srcdir(), rel);
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "no corpus at %s", dir);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".raw") != 0)
			continue;
		out[n].must_reject = must_reject;
		out[n++].name = path_in(dir, e->d_name);
	}
	closedir(d);
	free(dir);
	return n;
}

Test(front, corpora_of_bad_requests, .timeout = 60)
{
	gw_start(&G, CFG);
	static struct probe probes[400];
	/* gunicorn's invalid/ are all bad requests: each must get a 4xx or 5xx
	 * first. lighttpd's cases mix good and bad, and gatewayd's policy differs
	 * from lighttpd's on purpose in places (obs-fold refused, a Host value
	 * not checked against DNS syntax): any sane answer will do there. */
	size_t n = corpus_dir("test/corpora/gunicorn-requests/invalid", probes, 200, true);
	n += corpus_dir("test/corpora/lighttpd-cases/test_request", probes + n, 200, false);
	cr_assert(n > 100, "only %zu corpus files", n);
	size_t batch = 50, silent = 0, bad = 0, answered = 0;
	/* Batches of concurrent connections: a stalled request gets its 408 after
	 * the 1 s header timeout, a served one its close after the 1 s keep-alive. */
	for (size_t b0 = 0; b0 < n; b0 += batch) {
		size_t b1 = b0 + batch < n ? b0 + batch : n;
		for (size_t i = b0; i < b1; i++) {
			struct stat st;
			char *raw = gw_read_file(probes[i].name);
			cr_assert(raw && stat(probes[i].name, &st) == 0, "cannot read %s", probes[i].name);
			size_t len = (size_t)st.st_size;
			probes[i].fd = gw_connect(G.port);
			cr_assert(probes[i].fd >= 0, "cannot connect for %s: is gatewayd alive?",
			          probes[i].name);
			gw_send_all(probes[i].fd, raw, len);
			free(raw);
			probes[i].cap = 4096;
			probes[i].data = malloc(probes[i].cap);
			cr_assert_not_null(probes[i].data);
		}
		double until = gw_now() + 6;
		size_t open_left = b1 - b0;
		while (open_left > 0 && gw_now() < until) {
			struct pollfd pfd[64];
			size_t map[64], k = 0;
			for (size_t i = b0; i < b1; i++)
				if (!probes[i].done) {
					pfd[k] = (struct pollfd){.fd = probes[i].fd, .events = POLLIN};
					map[k++] = i;
				}
			if (poll(pfd, k, 200) <= 0)
				continue;
			for (size_t j = 0; j < k; j++) {
				if (!pfd[j].revents)
					continue;
				struct probe *pr = &probes[map[j]];
				if (pr->cap - pr->len < 4096) {
					pr->cap *= 2;
					pr->data = realloc(pr->data, pr->cap);
					cr_assert_not_null(pr->data);
				}
				ssize_t r = recv(pr->fd, pr->data + pr->len, pr->cap - pr->len - 1, 0);
				if (r > 0) {
					pr->len += (size_t)r;
				} else {
					pr->done = true;
					open_left--;
				}
			}
		}
		for (size_t i = b0; i < b1; i++) {
			struct probe *pr = &probes[i];
			pr->data[pr->len] = '\0';
			int first;
			int count = check_responses(pr->data, pr->len, &first);
			cr_expect(pr->done, "%s: the connection was neither answered-and-closed nor "
			          "timed out within 6 s (got %zu bytes)", pr->name, pr->len);
			cr_expect(count != -1, "%s: a malformed status line: %.80s", pr->name, pr->data);
			if (count == 0)
				silent++;
			else if (count > 0)
				answered++;
			if (count > 0 && first >= 500 && first != 501 && first != 505)
				bad++;
			cr_expect(count != 0, "%s: closed without any response", pr->name);
			cr_expect(!pr->must_reject || count <= 0 || first >= 400,
			          "%s: an invalid request was answered %d", pr->name, first);
			cr_expect(!(count > 0 && first >= 500 && first != 501 && first != 505),
			          "%s: a server error (%d) for client input", pr->name, first);
			close(pr->fd);
			free(pr->data);
			free(pr->name);
		}
		cr_assert(gw_pid_alive(G.pid), "gatewayd died in batch starting at %zu", b0);
	}
	cr_expect_eq(answered, n, "%zu answered, %zu silent, %zu 5xx of %zu", answered, silent, bad, n);
	expect_serving(G.port, "/", "FRONT-FIXTURE-INDEX");
	cr_expect(gw_pid_alive(G.pid));
	finish_ok();
}
