/* Health for balancers: GET /_gatewayd/live and /_gatewayd/ready, the
 * HAProxy agent-check listener, the SIGTERM drain as a balancer sees it, and
 * real HAProxy (Debian's haproxy) following both.
 *
 * Every daemon lives in the file-global G, stopped by the fini hook whatever
 * happened; every wait is a poll with a deadline (a few seconds at most), and
 * every loop is bounded in count and in time. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "test/integration/harness.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define HAPROXY_BIN "/usr/sbin/haproxy"

static struct gw_proc G;
static pid_t HAPROXY; /* leader of its own process group */

static void haproxy_stop(void)
{
	if (HAPROXY <= 0)
		return;
	kill(-HAPROXY, SIGTERM);
	int st;
	for (int i = 0; i < 500 && waitpid(HAPROXY, &st, WNOHANG) == 0; i++)
		usleep(10000);
	kill(-HAPROXY, SIGKILL);
	waitpid(HAPROXY, &st, WNOHANG);
	HAPROXY = 0;
}

static void teardown(void)
{
	haproxy_stop();
	gw_cleanup(&G);
}

TestSuite(health, .fini = teardown, .timeout = 40);

/* ---- configs ------------------------------------------------------------- */

/* An HTTP listener and an agent one on port agent; cgi_opts go into the cgi
 * route's object; extra (a trailing part of the top object) may be "". */
static char *config(int agent, const char *cgi_opts, const char *extra)
{
	char *json = NULL;
	cr_assert(asprintf(&json,
	                   "{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"},"
	                   "  {\"agent\": \"127.0.0.1:%d\"}],"
	                   " \"temp_dir\": \"@DIR@\","
	                   " \"timeouts\": {\"header\": 2, \"keepalive\": 2, \"shutdown\": 5},"
	                   " \"routes\": [{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@FIX@/cgi-bin\""
	                   "%s%s}}]%s}",
	                   agent, cgi_opts[0] ? ", " : "", cgi_opts, extra) > 0);
	return json;
}

/* Start gatewayd on config(agent, cgi_opts, extra) with a free agent port: that port. */
static int start(const char *cgi_opts, const char *extra)
{
	int agent = gw_free_port();
	char *cfg = config(agent, cgi_opts, extra);
	gw_start(&G, cfg);
	free(cfg);
	return agent;
}

/* Start gatewayd on a config of printf's format fmt. */
static void start_with(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void start_with(const char *fmt, ...)
{
	char *cfg = NULL;
	va_list ap;
	va_start(ap, fmt);
	cr_assert(vasprintf(&cfg, fmt, ap) > 0);
	va_end(ap);
	gw_start(&G, cfg);
	free(cfg);
}

/* The HTTP listener and an agent one (%d: its port), for start_with(). */
#define LISTEN_BOTH                                                                          \
	"\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}, {\"agent\": \"127.0.0.1:%d\"}],"      \
	" \"temp_dir\": \"@DIR@\""
/* An external pool on an address (%d: its port) that refuses connections. */
#define EXT_POOL                                                                             \
	"\"ext\": {\"protocol\": \"fastcgi\", \"addresses\": [\"127.0.0.1:%d\"],"               \
	" \"connections\": 1, \"queue_timeout\": 1}"

/* ---- helpers ------------------------------------------------------------- */

/* GET path on a new connection; the status, or -1. The body in body. */
static int get(const char *path, char *body, size_t len)
{
	char req[512];
	struct gw_response r;
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
	if (body && len)
		body[0] = '\0';
	if (gw_request(G.port, req, &r) < 0)
		return -1;
	int status = r.status;
	if (body && len)
		snprintf(body, len, "%s", r.body ? r.body : "");
	gw_response_free(&r);
	return status;
}

/* Poll path until it answers want (at most timeout seconds); the last body. */
static bool answers(const char *path, int want, double timeout, char *body, size_t len)
{
	double until = gw_now() + timeout;
	int got;
	while ((got = get(path, body, len)) != want && gw_now() < until)
		usleep(20000);
	return got == want;
}

/* The agent's line: connect, read to close. NULL when nothing listens. */
static char *agent_says(int port)
{
	int fd = gw_connect(port);
	if (fd < 0)
		return NULL;
	size_t n;
	char *line = gw_read_all(fd, 3, &n);
	close(fd);
	return line;
}

/* Poll the agent until its line is want (at most timeout seconds). */
static bool agent_becomes(int port, const char *want, double timeout, char *last, size_t len)
{
	double until = gw_now() + timeout;
	bool same = false;
	do {
		char *line = agent_says(port);
		same = line && strcmp(line, want) == 0;
		snprintf(last, len, "%s", line ? line : "(no connection)");
		free(line);
		if (!same)
			usleep(20000);
	} while (!same && gw_now() < until);
	return same;
}

/* A slow request in flight: its connection, the request sent. pidfile (or
 * NULL): sleep.sh writes its pid there once it runs. */
static int slow_request(double seconds, const char *pidfile, int port)
{
	char req[1024];
	int fd = gw_connect(port);
	cr_assert(fd >= 0);
	snprintf(req, sizeof req, "GET /cgi-bin/sleep.sh?%g%s%s HTTP/1.1\r\nHost: t\r\n\r\n", seconds,
	         pidfile ? "+" : "", pidfile ? pidfile : "");
	gw_send_all(fd, req, strlen(req));
	return fd;
}

static bool file_exists(void *path)
{
	return access(path, F_OK) == 0;
}

/* Wait for a running script's pid file. */
static void wait_running(const char *pidfile)
{
	cr_assert(gw_wait_until(file_exists, (void *)pidfile, 5), "sleep.sh did not start");
}

/* A slow request to port, its script running (sleep.sh writes G.dir/name
 * once it runs): its connection. */
static int slow_running(double seconds, const char *name, int port)
{
	char pidfile[400];
	snprintf(pidfile, sizeof pidfile, "%s/%s", G.dir, name);
	int fd = slow_request(seconds, pidfile, port);
	wait_running(pidfile);
	return fd;
}

/* Read a slow request's answer: 200 and its body. */
static void expect_slept(int fd, const char *body)
{
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, false, 10, &r), 0, "the slow request got no answer");
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, body);
	gw_response_free(&r);
	close(fd);
}

/* SIGTERM once and wait (not gw_stop: a second SIGTERM stops at once); exit 0. */
static void wait_exit_ok(double timeout)
{
	int st = -1;
	pid_t got = 0;
	double until = gw_now() + timeout;
	while ((got = waitpid(G.pid, &st, WNOHANG)) == 0 && gw_now() < until)
		usleep(20000);
	if (got != G.pid)
		gw_dump_file("error log", G.error_log, 3000);
	cr_assert_eq(got, G.pid, "gatewayd did not exit within %.0f s", timeout);
	G.pid = 0;
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "gatewayd exit status %d", st);
}

static void stop_ok(void)
{
	int st = gw_stop(&G, 6);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		gw_dump_file("error log", G.error_log, 3000);
	cr_expect(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "gatewayd exit status %d", st);
	gw_cleanup(&G);
}

/* The end of a test: gatewayd stops cleanly, and nothing leaked. */
static void finish(void)
{
	stop_ok();
	gw_assert_no_leaks();
}

/* ---- live and ready over HTTP ------------------------------------------------ */

Test(health, live_and_ready_answer_and_stay_out_of_the_access_log)
{
	char body[256];
	start("", "");
	cr_assert_eq(get("/_gatewayd/live", body, sizeof body), 200);
	cr_expect_str_eq(body, "live\n");
	cr_assert_eq(get("/_gatewayd/ready", body, sizeof body), 200, "ready: %s", body);
	cr_expect_str_eq(body, "ready, 100% idle\n");

	/* HEAD works, other methods do not; the answers are not to be cached. */
	struct gw_response r;
	cr_assert_eq(gw_request(G.port, "HEAD /_gatewayd/ready HTTP/1.1\r\nHost: t\r\n"
	                                "Connection: close\r\n\r\n", &r), 0);
	cr_expect_eq(r.status, 200);
	char *cc = gw_header(&r, "Cache-Control");
	cr_expect(cc && strcmp(cc, "no-store") == 0, "Cache-Control: %s", cc);
	free(cc);
	gw_response_free(&r);
	cr_assert_eq(gw_request(G.port, "POST /_gatewayd/ready HTTP/1.1\r\nHost: t\r\n"
	                                "Content-Length: 0\r\nConnection: close\r\n\r\n", &r), 0);
	cr_expect_eq(r.status, 405);
	gw_response_free(&r);

	/* A request that is not a probe is logged; the probes are not. */
	cr_assert_eq(get("/cgi-bin/status.sh", NULL, 0), 418);
	cr_assert(gw_log_contains(G.access_log, "/cgi-bin/status.sh", 3), "no access log line at all");
	char *log = gw_read_file(G.access_log);
	cr_expect(log && !strstr(log, "/_gatewayd/live") && !strstr(log, "GET /_gatewayd/ready"),
	          "a probe reached the access log:\n%s", log);
	free(log);
	stop_ok();

	/* status.enabled false: the paths are routed like any other (no route: 404). */
	start("", ", \"status\": {\"enabled\": false}");
	cr_expect_eq(get("/_gatewayd/ready", NULL, 0), 404);
	cr_expect_eq(get("/_gatewayd/live", NULL, 0), 404);
	finish();
}

/* One child slot and one place in the queue: a running request and a waiting
 * one fill the route, and ready says so (as a third request finds: 503). */
Test(health, ready_is_503_while_a_cgi_queue_is_full)
{
	char body[256], line[256];
	int agent = start("\"max_children\": 1, \"queue\": 1, \"queue_timeout\": 10", "");
	int a = slow_running(3, "a.pid", G.port);
	cr_expect_eq(get("/_gatewayd/ready", body, sizeof body), 200, "one running, none queued: %s",
	             body);
	int b = slow_request(0.1, NULL, G.port);
	cr_assert(answers("/_gatewayd/ready", 503, 3, body, sizeof body), "still ready: %s", body);
	cr_expect_str_eq(body, "not ready: route /cgi-bin/ full: max_children 1 running, "
	                       "queue 1 waiting\n");
	cr_expect(agent_becomes(agent, "ready 0%\n", 1, line, sizeof line), "agent: %s", line);
	cr_expect_eq(get("/cgi-bin/sleep.sh?0", NULL, 0), 503, "the full route took a third request");

	/* The queue empties: ready again. */
	expect_slept(a, "slept 3\n");
	expect_slept(b, "slept 0.1\n");
	cr_expect(answers("/_gatewayd/ready", 200, 3, body, sizeof body), "not ready again: %s", body);
	cr_expect(gw_log_contains(G.error_log, "health: not ready: route /cgi-bin/ full", 1),
	          "the change was not logged");
	cr_expect(gw_log_contains(G.error_log, "health: ready", 1), "the way back was not logged");
	finish();
}

/* ---- the drain --------------------------------------------------------------- */

/* SIGTERM with a slow request in flight: the HTTP listener stays open for the
 * balancers, ready is 503 at once, live still 200, other requests on new
 * connections 503 + Retry-After, the agent says drain; the request in flight
 * finishes, and gatewayd exits once it has. */
Test(health, sigterm_turns_ready_503_while_the_request_in_flight_drains)
{
	char body[256], line[256];
	int agent = start("", "");
	int fd = slow_running(2, "slow.pid", G.port);
	cr_assert_eq(get("/_gatewayd/ready", body, sizeof body), 200, "%s", body);

	double t0 = gw_now();
	cr_assert_eq(kill(G.pid, SIGTERM), 0);
	cr_assert(answers("/_gatewayd/ready", 503, 1, body, sizeof body), "ready after SIGTERM: %s",
	          body);
	cr_expect_lt(gw_now() - t0, 1.0);
	cr_expect_str_eq(body, "stopping: requests in flight finish; new ones get 503\n");
	cr_expect_eq(get("/_gatewayd/live", NULL, 0), 200, "live during the drain");

	struct gw_response r;
	cr_assert_eq(gw_request(G.port, "GET /cgi-bin/sleep.sh?0 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 0);
	cr_expect_eq(r.status, 503, "a new request during the drain: %d", r.status);
	char *retry = gw_header(&r, "Retry-After"), *conn = gw_header(&r, "Connection");
	cr_expect(retry && strcmp(retry, "1") == 0, "Retry-After: %s", retry);
	cr_expect(conn && strcasecmp(conn, "close") == 0, "Connection: %s", conn);
	free(retry);
	free(conn);
	gw_response_free(&r);
	cr_expect(agent_becomes(agent, "drain\n", 1, line, sizeof line), "agent: %s", line);

	expect_slept(fd, "slept 2\n");
	wait_exit_ok(5);
	cr_expect_eq(gw_connect(G.port), -1, "something still listens after the exit");
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* ---- reload -------------------------------------------------------------------- */

#define PERL_POOL(gen)                                                                      \
	", \"pools\": {\"app\": {\"protocol\": \"fastcgi\","                                \
	"   \"command\": [\"@FIX@/pools/worker.pl\"], \"env\": {\"GEN\": \"" gen "\"},"    \
	"   \"processes\": 1}}"

/* Probes on new connections, one after another, while SIGHUP reloads a config
 * whose pool changes each time (a new pool starts, the old one drains): every
 * probe gets 200, none a refused connection. The first probes may see the
 * start ("starting: pool app has no worker accepting yet"). */
Test(health, ready_stays_200_across_sighup)
{
	int agent = gw_free_port();
	const char *gens[] = {PERL_POOL("1"), PERL_POOL("2")};
	char body[256];
	char *cfg = config(agent, "", gens[0]);
	gw_start(&G, cfg);
	free(cfg);
	cr_assert(answers("/_gatewayd/ready", 200, 5, body, sizeof body), "never ready: %s", body);

	int probes = 0, reloads = 0, bad = 0;
	double until = gw_now() + 20; /* 150 probes take 2 s here: room for a loaded machine */
	for (; probes < 150 && gw_now() < until; probes++) {
		if (probes % 30 == 15) {
			cfg = config(agent, "", gens[++reloads % 2]);
			gw_write_config(&G, cfg);
			free(cfg);
			cr_assert_eq(kill(G.pid, SIGHUP), 0);
		}
		int st = get("/_gatewayd/ready", body, sizeof body);
		if (st != 200 && bad++ == 0)
			cr_log_error("probe %d after %d reload(s): %d %s", probes, reloads, st, body);
		usleep(10000);
	}
	cr_expect_eq(bad, 0, "%d of %d probes were not 200", bad, probes);
	cr_expect_geq(reloads, 3, "only %d reloads in %d probes", reloads, probes);
	cr_expect(gw_log_contains(G.error_log, "reload: pool app starts", 1), "no pool was replaced");
	finish();
}

/* ---- the agent ----------------------------------------------------------------- */

/* Four child slots: the weight is the idle share, 100% - 25% per running
 * script. Whatever HAProxy sends first (agent-send) does not disturb it. */
Test(health, agent_weight_follows_idle_capacity)
{
	char line[256];
	int agent = start("\"max_children\": 4", "");
	cr_assert(agent_becomes(agent, "up ready 100%\n", 1, line, sizeof line), "agent: %s", line);

	int fd = gw_connect(agent);
	cr_assert(fd >= 0);
	gw_send_all(fd, "web/gw\n", 7);
	size_t n;
	char *got = gw_read_all(fd, 3, &n);
	close(fd);
	cr_expect_str_eq(got, "up ready 100%\n", "after agent-send bytes");
	free(got);

	int a = slow_running(3, "one.pid", G.port);
	cr_expect(agent_becomes(agent, "up ready 75%\n", 1, line, sizeof line), "one busy: %s", line);
	int b = slow_running(3, "two.pid", G.port);
	cr_expect(agent_becomes(agent, "up ready 50%\n", 1, line, sizeof line), "two busy: %s", line);
	char body[256];
	cr_expect_eq(get("/_gatewayd/ready", body, sizeof body), 200);
	cr_expect_str_eq(body, "ready, 50% idle\n");
	expect_slept(a, "slept 3\n");
	expect_slept(b, "slept 3\n");
	cr_expect(agent_becomes(agent, "up ready 100%\n", 2, line, sizeof line), "idle again: %s",
	          line);
	finish();
}

/* ---- pools ----------------------------------------------------------------------- */

/* An ondemand pool with no worker serves (it starts one when asked); an
 * external pool whose address refuses shows dead in the status page but does
 * not take the host out. With nothing else to serve, that host is down. */
Test(health, ondemand_serves_and_one_dead_external_pool_does_not_take_the_host_out)
{
	int agent = gw_free_port(), nobody = gw_free_port();
	char body[256], line[256];
	start_with("{" LISTEN_BOTH ", \"pools\": {\"od\": {\"protocol\": \"fastcgi\","
	           "   \"command\": [\"@FIX@/pools/worker.pl\"],"
	           "   \"processes\": {\"mode\": \"ondemand\", \"max\": 2}}, " EXT_POOL "},"
	           " \"routes\": [{\"match\": \"/ext/\", \"pool\": \"ext\"},"
	           "  {\"match\": \"/od/\", \"pool\": \"od\"},"
	           "  {\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@FIX@/cgi-bin\"}}]}",
	           agent, nobody);
	cr_assert(answers("/_gatewayd/ready", 200, 3, body, sizeof body), "%s", body);
	cr_expect_str_eq(body, "ready, 100% idle\n", "an ondemand pool of none counts as idle");

	int st = get("/ext/x", NULL, 0);
	cr_expect(st == 502 || st == 503, "a request to the dead pool: %d", st);
	char status[16384];
	cr_assert_eq(get("/_gatewayd/status", status, sizeof status), 200);
	cr_expect(strstr(status, "\"dead\": 1"), "the dead external pool is not in the status:\n%s",
	          status);
	cr_expect_eq(get("/_gatewayd/ready", body, sizeof body), 200, "one dead pool: %s", body);
	cr_expect(agent_becomes(agent, "up ready 100%\n", 1, line, sizeof line), "agent: %s", line);
	stop_ok();

	/* Only the dead external pool: nothing can serve. */
	start_with("{" LISTEN_BOTH ", \"pools\": {" EXT_POOL "},"
	           " \"routes\": [{\"match\": \"/\", \"pool\": \"ext\"}]}", agent, nobody);
	st = get("/x", NULL, 0);
	cr_expect(st == 502 || st == 503, "a request to the dead pool: %d", st);
	cr_expect_eq(get("/_gatewayd/ready", body, sizeof body), 503);
	cr_expect_str_eq(body, "down: no route can take a request\n");
	cr_expect(agent_becomes(agent, "down #no route can take a request\n", 1, line, sizeof line),
	          "agent: %s", line);
	finish();
}

/* ---- who may ask ------------------------------------------------------------------ */

/* A uwsgi request (as nginx would send it) from REMOTE_ADDR; the status line. */
static int uwsgi_get(int port, const char *path, const char *remote, char *line, size_t len)
{
	const char *vars[][2] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", path},
	                         {"PATH_INFO", path},       {"QUERY_STRING", ""},
	                         {"SERVER_PROTOCOL", "HTTP/1.1"}, {"REMOTE_ADDR", remote},
	                         {"SERVER_NAME", "t"},      {"SERVER_PORT", "80"}};
	unsigned char pkt[1024];
	size_t n = 4;
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		for (int k = 0; k < 2; k++) {
			size_t l = strlen(vars[i][k]);
			pkt[n++] = (unsigned char)(l & 0xff);
			pkt[n++] = (unsigned char)(l >> 8);
			memcpy(pkt + n, vars[i][k], l);
			n += l;
		}
	}
	pkt[0] = 0;
	pkt[1] = (unsigned char)((n - 4) & 0xff);
	pkt[2] = (unsigned char)((n - 4) >> 8);
	pkt[3] = 0;
	size_t got;
	char *out = gw_exchange(port, (const char *)pkt, n, 5, &got);
	int status = -1;
	if (sscanf(out, "HTTP/1.%*d %d", &status) != 1 && sscanf(out, "Status: %d", &status) != 1)
		status = -1;
	snprintf(line, len, "%.*s", (int)strcspn(out, "\r\n"), out);
	free(out);
	return status;
}

/* live and ready answer a balancer on another host; the status page does
 * not (loopback_only, the default) unless loopback_only is false;
 * health_loopback_only closes the probes too. The other host is a
 * REMOTE_ADDR a web server passes on (uwsgi), so no traffic leaves 127.0.0.1. */
Test(health, probes_answer_remote_clients_unlike_the_status_page)
{
	int uw = gw_free_port();
	const char *const statuses[] = {"", ", \"status\": {\"health_loopback_only\": true}",
	                                ", \"status\": {\"loopback_only\": false}"};
	char line[256];
	for (int k = 0; k < 3; k++) {
		char *cfg = NULL;
		cr_assert(asprintf(&cfg, "{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"},"
		                   " {\"uwsgi\": \"127.0.0.1:%d\"}], \"routes\": [{\"match\": \"/cgi-bin/\","
		                   " \"cgi\": {\"root\": \"@FIX@/cgi-bin\"}}]%s}", uw,
		                   statuses[k]) > 0);
		gw_start(&G, cfg);
		free(cfg);
		cr_expect_eq(uwsgi_get(uw, "/_gatewayd/ready", "192.0.2.7", line, sizeof line),
		             k == 1 ? 403 : 200, "%s", line);
		cr_expect_eq(uwsgi_get(uw, "/_gatewayd/live", "192.0.2.7", line, sizeof line),
		             k == 1 ? 403 : 200, "%s", line);
		cr_expect_eq(uwsgi_get(uw, "/_gatewayd/live", "127.0.0.1", line, sizeof line), 200,
		             "%s", line);
		cr_expect_eq(uwsgi_get(uw, "/_gatewayd/status", "192.0.2.7", line, sizeof line),
		             k == 2 ? 200 : 403, "%s", line);
		cr_expect_eq(uwsgi_get(uw, "/_gatewayd/status", "127.0.0.1", line, sizeof line), 200,
		             "%s", line);
		stop_ok();
	}
	gw_assert_no_leaks();
}

/* ---- real HAProxy ------------------------------------------------------------------ */

/* One command on HAProxy's stats socket; its whole answer (malloc'd) or NULL. */
static char *haproxy_cmd(const char *sock, const char *cmd)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return NULL;
	}
	gw_send_all(fd, cmd, strlen(cmd));
	size_t n;
	char *out = gw_read_all(fd, 3, &n);
	close(fd);
	return out;
}

/* A field of server web/gw in "show stat" (CSV, the header names the fields). */
static bool server_field(const char *sock, const char *field, char *out, size_t len)
{
	char *csv = haproxy_cmd(sock, "show stat\n");
	bool found = false;
	out[0] = '\0';
	if (!csv || strncmp(csv, "# ", 2) != 0) {
		free(csv);
		return false;
	}
	int col = -1, i = 0;
	char *save, *hdr_end = strchr(csv, '\n'), *row = strstr(csv, "\nweb,gw,");
	if (!hdr_end || !row) {
		free(csv);
		return false;
	}
	*hdr_end = '\0';
	for (char *f = strtok_r(csv + 2, ",", &save); f; f = strtok_r(NULL, ",", &save), i++)
		if (strcmp(f, field) == 0)
			col = i;
	row++;
	char *eol = strchr(row, '\n');
	if (eol)
		*eol = '\0';
	/* strsep: empty fields count */
	char *p = row, *tok;
	for (i = 0; (tok = strsep(&p, ",")) && col >= 0; i++) {
		if (i == col) {
			snprintf(out, len, "%s", tok);
			found = true;
			break;
		}
	}
	free(csv);
	return found;
}

/* Poll web/gw's field until it starts with one of the prefixes (NULL-ended). */
static bool server_becomes(const char *sock, const char *field, const char *const *prefixes,
                           double timeout, char *last, size_t len)
{
	double until = gw_now() + timeout;
	do {
		if (server_field(sock, field, last, len))
			for (const char *const *p = prefixes; *p; p++)
				if (strncmp(last, *p, strlen(*p)) == 0)
					return true;
		usleep(50000);
	} while (gw_now() < until);
	return false;
}

static void haproxy_start(const char *cfg_path, const char *log_path)
{
	pid_t test = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		gw_peer_child_setup(test);
		FILE *f = freopen(log_path, "a", stdout);
		if (f)
			dup2(fileno(stdout), 2);
		execl(HAPROXY_BIN, "haproxy", "-db", "-f", cfg_path, (char *)NULL);
		_exit(127);
	}
	HAPROXY = pid;
}

/* HAProxy in front of gatewayd with the checks a deployment would use
 * (option httpchk GET /_gatewayd/ready; agent-check, agent-inter 200ms):
 * HAProxy starts first and sees the server down, then UP once gatewayd runs,
 * the agent's weight while a script runs, then DRAIN/DOWN as soon as a
 * SIGTERM drain begins (while the request in flight still runs, and
 * finishes through HAProxy), and UP again, weight back, once a new gatewayd
 * says ready (its "ready" undoes the old one's "drain"). */
Test(health, haproxy_follows_ready_and_the_agent)
{
	gw_require_file(HAPROXY_BIN, "haproxy");
	int agent = gw_free_port(), front = gw_free_port();
	char *cfg = config(agent, "\"max_children\": 4", "");
	gw_write_config(&G, cfg); /* the temp dir and gatewayd's port, before HAProxy */
	char hcfg[400], hlog[400], sock[400], last[128];
	snprintf(hcfg, sizeof hcfg, "%s/haproxy.cfg", G.dir);
	snprintf(hlog, sizeof hlog, "%s/haproxy.log", G.dir);
	snprintf(sock, sizeof sock, "%s/haproxy.sock", G.dir);
	FILE *f = fopen(hcfg, "w");
	cr_assert_not_null(f);
	fprintf(f,
	        "global\n"
	        "    stats socket %s mode 600 level admin\n"
	        "    log stderr format raw local0 info\n"
	        "defaults\n"
	        "    mode http\n"
	        "    log global\n"
	        "    option log-health-checks\n"
	        "    timeout connect 1s\n"
	        "    timeout client 10s\n"
	        "    timeout server 10s\n"
	        "    timeout check 1s\n"
	        "listen web\n"
	        "    bind 127.0.0.1:%d\n"
	        "    option httpchk GET /_gatewayd/ready\n"
	        "    server gw 127.0.0.1:%d check inter 200ms fall 2 rise 1 weight 100"
	        " agent-check agent-port %d agent-inter 200ms\n",
	        sock, front, G.port, agent);
	fclose(f);
	haproxy_start(hcfg, hlog);

	static const char *const down[] = {"DOWN", NULL}, *const up[] = {"UP", NULL};
	static const char *const drained[] = {"DRAIN", "DOWN", NULL};
	bool ok = server_becomes(sock, "status", down, 5, last, sizeof last);
	if (!ok)
		gw_dump_file("haproxy", hlog, 3000);
	cr_assert(ok, "HAProxy never saw the server down before gatewayd ran: %s", last);

	gw_start(&G, cfg);
	ok = server_becomes(sock, "status", up, 5, last, sizeof last);
	if (!ok)
		gw_dump_file("haproxy", hlog, 3000);
	cr_assert(ok, "HAProxy did not mark gatewayd up: %s", last);
	static const char *const w100[] = {"100", NULL}, *const w75[] = {"75", NULL};
	cr_expect(server_becomes(sock, "weight", w100, 2, last, sizeof last), "weight %s", last);

	/* A slow request through HAProxy: one slot of four busy, weight 75. */
	int fd = slow_running(2.5, "lb.pid", front);
	cr_expect(server_becomes(sock, "weight", w75, 2, last, sizeof last), "weight %s", last);

	/* The drain: HAProxy takes the server out while the request still runs. */
	cr_assert_eq(kill(G.pid, SIGTERM), 0);
	ok = server_becomes(sock, "status", drained, 2, last, sizeof last);
	cr_expect(ok, "HAProxy still has the draining server as %s", last);
	cr_log_info("HAProxy has the draining server as %s", last);
	cr_expect(gw_pid_alive(G.pid), "gatewayd exited before HAProxy saw the drain");
	expect_slept(fd, "slept 2.5\n");
	wait_exit_ok(5);
	if (!ok)
		gw_dump_file("haproxy", hlog, 3000);

	/* A new gatewayd on the same ports: up again, full weight. */
	gw_start(&G, cfg);
	free(cfg);
	cr_expect(server_becomes(sock, "status", up, 5, last, sizeof last), "after the restart: %s",
	          last);
	cr_expect(server_becomes(sock, "weight", w100, 2, last, sizeof last), "weight %s", last);
	stop_ok();
	haproxy_stop();
	gw_assert_no_leaks();
}
