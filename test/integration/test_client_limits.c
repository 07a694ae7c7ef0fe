/* limits.per_client end to end, over real sockets: the real gatewayd, its
 * clients on 127.0.0.1, a second client on 127.0.0.2 (the whole of 127/8 is
 * loopback: a client socket bound to 127.0.0.2 before connect() is another
 * client address), and a flood from 127.0.x.y.
 *
 * Off by default (many requests and connections from one client all 200);
 * the connection limit (the connection past it answered 429 at once and
 * closed, the others served, a freed slot served again, another address
 * unaffected); the request rate (a burst of B+k gets B 200s, then 429 with
 * Retry-After and a log line with the request id and the address, and 200
 * again after waiting that long); the FastCGI and uwsgi front ends (the rate
 * is REMOTE_ADDR's, not the web server's, and no connection limit there); a
 * flood of distinct addresses (the table stays at its size, gatewayd's
 * resident memory stays put, every answer well-formed); and the CGI slots of
 * the issue: with max_children 2, one client at its connection limit cannot
 * take the slot another client's request needs (and without the limit, it
 * does). Every test stops gatewayd and checks it exited 0 (under ASan: no
 * leak). */
#include "test/integration/harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocols/fastcgi.h"
#include "protocols/uwsgi.h"

static struct gw_proc G;

static void teardown(void)
{
	gw_cleanup(&G);
}

static void stop_ok(void)
{
	int st = gw_stop(&G, 10);
	if (!(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		char *log = gw_read_file(G.error_log);
		cr_log_warn("error log:\n%s", log ? log : "(none)");
		free(log);
	}
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "gatewayd exit status %d", st);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* A TCP connection to gatewayd's port from the loopback address src. */
static int connect_from(const char *src, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in from = {.sin_family = AF_INET};
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	cr_assert(fd >= 0);
	cr_assert_eq(inet_pton(AF_INET, src, &from.sin_addr), 1);
	cr_assert_eq(inet_pton(AF_INET, "127.0.0.1", &to.sin_addr), 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof from), 0, "bind %s: %s", src,
	             strerror(errno));
	cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0, "connect from %s: %s", src,
	             strerror(errno));
	return fd;
}

/* GET path on fd (kept alive); the response in *resp; its status, -1 when none came. */
static int get(int fd, const char *path, struct gw_response *resp)
{
	char req[512];
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	gw_send_all(fd, req, strlen(req));
	if (gw_read_response(fd, false, 10, resp) < 0) {
		gw_response_free(resp);
		return -1;
	}
	return resp->status;
}

static int get_status(int fd, const char *path)
{
	struct gw_response r;
	int status = get(fd, path, &r);
	gw_response_free(&r);
	return status;
}

/* Retry-After of resp as a number, -1 when absent. */
static long retry_after(const struct gw_response *resp)
{
	char *v = gw_header(resp, "Retry-After");
	long n = v ? strtol(v, NULL, 10) : -1;
	free(v);
	return n;
}

/* The request id an error page names ("<small>request ID</small>"). */
static void page_rid(const struct gw_response *resp, char *out, size_t cap)
{
	const char *p = resp->body ? strstr(resp->body, "<small>request ") : NULL;
	cr_assert_not_null(p, "no request id in the page: %s", resp->body ? resp->body : "");
	p += strlen("<small>request ");
	size_t n = strcspn(p, "<");
	cr_assert(n < cap);
	memcpy(out, p, n);
	out[n] = '\0';
}

/* The status page as JSON, asked from 127.0.0.200 to .249 in turn: clients
 * of their own, that no test limits. */
static json_t *status_doc(void)
{
	static int turn;
	char src[32];
	snprintf(src, sizeof src, "127.0.0.%d", 200 + turn++ % 50);
	int fd = connect_from(src, G.port);
	struct gw_response r;
	cr_assert_eq(get(fd, "/_gatewayd/status", &r), 200, "status page: %d", r.status);
	close(fd);
	json_error_t e;
	json_t *doc = json_loads(r.body, 0, &e);
	cr_assert_not_null(doc, "status JSON: %s", e.text);
	gw_response_free(&r);
	return doc;
}

static long long limits_val(const char *key)
{
	json_t *doc = status_doc();
	json_t *cl = json_object_get(doc, "client_limits");
	cr_assert(json_is_object(cl), "no client_limits in the status page");
	long long v = gw_ival(cl, key);
	json_decref(doc);
	return v;
}

static bool only_the_status_connection(void *arg)
{
	json_t *doc = status_doc();
	long long n = gw_ival(doc, "connections");
	json_decref(doc);
	return n == 1;
}

/* gw_start() saw the port accept with a connection from 127.0.0.1: wait
 * until gatewayd has seen it close, or it holds one of 127.0.0.1's slots. */
static void start(const char *config)
{
	gw_start(&G, config);
	cr_assert(gw_wait_until(only_the_status_connection, NULL, 5),
	          "gatewayd still counts the start probe's connection");
}

static long vmrss_kib(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	char *text = gw_read_file(path);
	cr_assert_not_null(text);
	char *v = gw_field(text, "VmRSS:");
	cr_assert_not_null(v);
	long kib = strtol(v, NULL, 10);
	free(v);
	free(text);
	return kib;
}

/* Static files and the shared CGI fixtures; PER_CLIENT is the limits object. */
#define CONFIG(per_client)                                                                        \
	"{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}],"                                          \
	" \"limits\": {\"connections\": 64" per_client "},"                                          \
	" \"routes\": ["                                                                             \
	"  {\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@FIX@/cgi-bin\", \"timeout\": 10,"      \
	"   \"max_children\": 2, \"queue\": 0}},"                                                    \
	"  {\"match\": \"/\", \"static\": {\"root\": \"@FIX@/front/htdocs\"}}]}"

/* ---- off by default ---------------------------------------------------------- */

Test(http, off_by_default_one_client_is_served_everything, .fini = teardown, .timeout = 60)
{
	start(CONFIG(""));
	int fds[10];
	for (int i = 0; i < 10; i++)
		fds[i] = connect_from("127.0.0.1", G.port);
	int ok = 0;
	for (int round = 0; round < 20; round++)
		for (int i = 0; i < 10; i++)
			ok += get_status(fds[i], "/notes.txt") == 200;
	cr_expect_eq(ok, 200, "%d of 200 requests over 10 connections from one client were 200", ok);
	for (int i = 0; i < 10; i++)
		close(fds[i]);
	cr_expect_eq(limits_val("clients_max"), 0, "a table while the limits are off");
	cr_expect_eq(limits_val("connections_refused") + limits_val("rate_limited"), 0);
	stop_ok();
}

/* ---- the connection limit ---------------------------------------------------- */

Test(http, connection_limit_refuses_the_extra_one_only, .fini = teardown, .timeout = 60)
{
	start(CONFIG(", \"per_client\": {\"connections\": 3}"));
	int held[3];
	for (int i = 0; i < 3; i++) {
		held[i] = connect_from("127.0.0.1", G.port);
		cr_assert_eq(get_status(held[i], "/notes.txt"), 200, "connection %d", i + 1);
	}
	/* The fourth is answered 429 with Retry-After, and closed. */
	int extra = connect_from("127.0.0.1", G.port);
	struct gw_response r;
	cr_assert_eq(get(extra, "/notes.txt", &r), 429, "the 4th connection: %d", r.status);
	cr_expect_geq(retry_after(&r), 1, "no Retry-After on the 429: %s", r.head);
	char *conn = gw_header(&r, "Connection");
	cr_expect(conn && strcasecmp(conn, "close") == 0, "Connection: %s", conn ? conn : "(none)");
	free(conn);
	char rid[32];
	page_rid(&r, rid, sizeof rid);
	gw_response_free(&r);
	cr_expect(gw_closed_within(extra, 5), "the refused connection stayed open");
	close(extra);
	char needle[128];
	snprintf(needle, sizeof needle, "req=%s: 429: 127.0.0.1:", rid);
	cr_expect(gw_log_contains(G.error_log, needle, 2), "no log line \"%s\"", needle);
	cr_expect(gw_log_contains(G.error_log, "over limits.per_client.connections (3 open)", 1));

	/* The three are still served, and another address is not affected. */
	for (int i = 0; i < 3; i++)
		cr_expect_eq(get_status(held[i], "/notes.txt"), 200, "held connection %d after", i + 1);
	int other[4];
	for (int i = 0; i < 4; i++) {
		other[i] = connect_from("127.0.0.2", G.port);
		cr_expect_eq(get_status(other[i], "/notes.txt"), i < 3 ? 200 : 429,
		             "127.0.0.2's connection %d", i + 1);
	}
	for (int i = 0; i < 4; i++)
		close(other[i]);

	/* One closes: a new one is served. gatewayd sees the close in its own
	 * time, so the new connection may come first: a few tries, 50 ms apart. */
	close(held[0]);
	int status = 0, tries = 0;
	while (tries++ < 40) {
		held[0] = connect_from("127.0.0.1", G.port);
		status = get_status(held[0], "/notes.txt");
		if (status == 200)
			break;
		close(held[0]);
		gw_sleep(0.05);
	}
	cr_expect_eq(status, 200, "after a close, a new connection got %d (%d tries)", status, tries);
	long long refused = limits_val("connections_refused");
	cr_expect_eq(refused, 1 + 1 + (tries - 1), "connections_refused %lld", refused);
	for (int i = 0; i < 3; i++)
		close(held[i]);
	stop_ok();
}

/* ---- reloads -------------------------------------------------------------------- */

static int count_in_log(const char *needle)
{
	char *log = gw_read_file(G.error_log);
	int n = 0;
	for (const char *p = log; p && (p = strstr(p, needle)); p++)
		n++;
	free(log);
	return n;
}

struct reloads {
	int want;
};

static bool reloaded(void *arg)
{
	return count_in_log("] gatewayd: reloaded ") >= ((struct reloads *)arg)->want;
}

static void reload(const char *config)
{
	struct reloads r = {count_in_log("] gatewayd: reloaded ") + 1};
	gw_write_config(&G, config);
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	cr_assert(gw_wait_until(reloaded, &r, 5), "no reload within 5 s");
}

/* SIGHUP sets the limits, resizes the table and lifts them again. */
Test(http, reload_sets_resizes_and_lifts_the_limits, .fini = teardown, .timeout = 60)
{
	start(CONFIG(""));
	int before = connect_from("127.0.0.1", G.port);
	cr_expect_eq(get_status(before, "/notes.txt"), 200);
	reload(CONFIG(", \"per_client\": {\"connections\": 1, \"requests_per_second\": 0.5,"
	              " \"burst\": 2}"));
	/* A connection opened while the limits were off is not counted. */
	int in = connect_from("127.0.0.1", G.port);
	cr_expect_eq(get_status(in, "/notes.txt"), 200);
	cr_expect_eq(get_status(before, "/notes.txt"), 200, "the rate is the address's");
	cr_expect_eq(get_status(in, "/notes.txt"), 429, "burst 2 over two connections");
	int over = connect_from("127.0.0.1", G.port);
	cr_expect_eq(get_status(over, "/notes.txt"), 429, "a second counted connection");
	close(over);
	/* A new table size: the connection counted before still counts. */
	reload(CONFIG(", \"per_client\": {\"connections\": 1, \"requests_per_second\": 0.5,"
	              " \"burst\": 2, \"clients\": 100}"));
	over = connect_from("127.0.0.1", G.port);
	cr_expect_eq(get_status(over, "/notes.txt"), 429, "the count was lost in the resize");
	close(over);
	reload(CONFIG(""));
	over = connect_from("127.0.0.1", G.port);
	cr_expect_eq(get_status(over, "/notes.txt"), 200, "limits lifted: a third connection");
	cr_expect_eq(get_status(in, "/notes.txt"), 200, "limits lifted: the rate too");
	close(over);
	close(in);
	close(before);
	stop_ok();
}

/* ---- the request rate ----------------------------------------------------------- */

/* rate 0.5/s, burst 4: a burst of 4 + 3 requests on one connection. The 200s
 * are exactly the burst when the burst takes under 2 s (one token back);
 * more may pass only for the tokens that came back meanwhile. */
Test(http, rate_burst_then_429_with_retry_after_then_200, .fini = teardown, .timeout = 60)
{
	start(CONFIG(", \"per_client\": {\"requests_per_second\": 0.5, \"burst\": 4}"));
	int fd = connect_from("127.0.0.1", G.port);
	int ok = 0, limited = 0;
	long wait = -1;
	char rid[32] = "";
	double t0 = gw_now();
	for (int i = 0; i < 7; i++) {
		struct gw_response r;
		int status = get(fd, "/notes.txt", &r);
		cr_assert(status == 200 || status == 429, "request %d: %d", i + 1, status);
		if (i < 4)
			cr_expect_eq(status, 200, "request %d of the burst: %d", i + 1, status);
		if (status == 429) {
			limited++;
			wait = retry_after(&r);
			cr_expect(wait >= 1 && wait <= 2, "Retry-After %ld at 0.5/s", wait);
			char *conn = gw_header(&r, "Connection");
			cr_expect(!conn, "a 429 with nothing more to come closed (Connection: %s)", conn);
			free(conn);
			if (!rid[0])
				page_rid(&r, rid, sizeof rid);
		} else {
			ok++;
		}
		gw_response_free(&r);
	}
	double elapsed = gw_now() - t0;
	int tolerance = (int)(elapsed * 0.5);
	cr_expect(ok >= 4 && ok <= 4 + tolerance, "%d 200s in %.2f s, want 4 (+%d)", ok, elapsed,
	          tolerance);
	cr_assert_geq(limited, 1, "no 429 at all");
	char needle[160];
	snprintf(needle, sizeof needle,
	         "req=%s: 429: 127.0.0.1 is over limits.per_client.requests_per_second", rid);
	cr_expect(gw_log_contains(G.error_log, needle, 2), "no log line \"%s\"", needle);

	/* Another address has its own bucket. */
	int other = connect_from("127.0.0.2", G.port);
	cr_expect_eq(get_status(other, "/notes.txt"), 200, "127.0.0.2 limited by 127.0.0.1's rate");
	close(other);

	/* The same connection, after waiting what Retry-After said: served. */
	gw_sleep((double)wait);
	cr_expect_eq(get_status(fd, "/notes.txt"), 200, "still refused %ld s after the 429", wait);
	close(fd);
	cr_expect_eq(limits_val("rate_limited"), limited);

	/* Prometheus says the same. */
	int pf = connect_from("127.0.0.199", G.port);
	struct gw_response r;
	cr_assert_eq(get(pf, "/_gatewayd/status?format=prometheus", &r), 200);
	char line[96];
	snprintf(line, sizeof line, "\ngatewayd_client_rate_limited_total %d\n", limited);
	cr_expect(strstr(r.body, line), "no \"%s\" in:\n%s", line + 1, r.body);
	gw_response_free(&r);
	close(pf);
	stop_ok();
}

/* ---- FastCGI and uwsgi: the rate is REMOTE_ADDR's -------------------------------- */

static void put(char **buf, size_t *len, const void *p, size_t n)
{
	*buf = realloc(*buf, *len + n);
	cr_assert_not_null(*buf);
	memcpy(*buf + *len, p, n);
	*len += n;
}

static void fcgi_param(char **params, size_t *len, const char *name, const char *value)
{
	uint8_t tmp[8200];
	ssize_t n = fcgi_nv_encode(tmp, sizeof tmp, name, strlen(name), value, strlen(value));
	cr_assert_gt(n, 0);
	put(params, len, tmp, (size_t)n);
}

/* One FastCGI request (id 1, keep the connection) for status.sh from
 * remote_addr; the Status of its answer (200 when the script printed none). */
static int fcgi_call(int fd, const char *remote_addr, long *retry)
{
	char *params = NULL, *out = NULL;
	size_t plen = 0, olen = 0;
	char script[4200];
	snprintf(script, sizeof script, "%s/cgi-bin/status.sh", gw_fixtures());
	fcgi_param(&params, &plen, "SCRIPT_FILENAME", script);
	fcgi_param(&params, &plen, "REQUEST_METHOD", "GET");
	fcgi_param(&params, &plen, "REMOTE_ADDR", remote_addr);
	uint8_t rec[16 + 8 + 8200 + 8 + 8];
	size_t n = 0;
	fcgi_begin_request_encode(rec, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
	n += 16;
	ssize_t m = fcgi_stream_encode(rec + n, sizeof rec - n, FCGI_PARAMS, 1, params, plen);
	cr_assert_gt(m, 0);
	n += (size_t)m;
	n += (size_t)fcgi_stream_encode(rec + n, sizeof rec - n, FCGI_PARAMS, 1, NULL, 0);
	n += (size_t)fcgi_stream_encode(rec + n, sizeof rec - n, FCGI_STDIN, 1, NULL, 0);
	gw_send_all(fd, rec, n);
	free(params);
	/* Records until END_REQUEST; STDOUT kept. */
	double deadline = gw_now() + 10;
	char *in = NULL;
	size_t ilen = 0;
	bool ended = false;
	while (!ended && gw_now() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		cr_assert_gt(poll(&p, 1, 1000), -1);
		char buf[8192];
		ssize_t got = read(fd, buf, sizeof buf);
		cr_assert_gt(got, 0, "gatewayd closed the FastCGI connection");
		put(&in, &ilen, buf, (size_t)got);
		struct fcgi_record r;
		ssize_t used;
		while ((used = fcgi_record_decode((uint8_t *)in, ilen, &r)) > 0) {
			if (r.type == FCGI_STDOUT)
				put(&out, &olen, r.content, r.content_length);
			ended |= r.type == FCGI_END_REQUEST;
			memmove(in, in + used, ilen - (size_t)used);
			ilen -= (size_t)used;
		}
		cr_assert_neq(used, FCGI_ERROR, "a malformed record from gatewayd");
	}
	cr_assert(ended, "no END_REQUEST within 10 s");
	put(&out, &olen, "", 1);
	int status = 200;
	char *s = gw_field(out, "Status: ");
	if (s)
		status = atoi(s);
	char *ra = gw_field(out, "Retry-After: ");
	*retry = ra ? strtol(ra, NULL, 10) : -1;
	free(s);
	free(ra);
	free(in);
	free(out);
	return status;
}

#define PROXIED_CONFIG(proto)                                                                    \
	"{\"listen\": [{\"" proto "\": \"127.0.0.1:@PORT@\"}],"                                    \
	" \"limits\": {\"per_client\": {\"connections\": 1, \"requests_per_second\": 0.5,"          \
	"  \"burst\": 2}},"                                                                          \
	" \"routes\": [{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@FIX@/cgi-bin\"}}]}"

Test(fastcgi, rate_applies_to_remote_addr_not_to_the_web_server, .fini = teardown, .timeout = 60)
{
	gw_start(&G, PROXIED_CONFIG("fastcgi"));
	/* Three connections from one web server: no connection limit here. */
	int fd[3];
	for (int i = 0; i < 3; i++)
		fd[i] = connect_from("127.0.0.1", G.port);
	long retry;
	cr_expect_eq(fcgi_call(fd[0], "203.0.113.5", &retry), 418);
	cr_expect_eq(fcgi_call(fd[1], "203.0.113.5", &retry), 418);
	/* The third of 203.0.113.5's, on yet another connection: over its rate. */
	cr_expect_eq(fcgi_call(fd[2], "203.0.113.5", &retry), 429);
	cr_expect(retry >= 1 && retry <= 2, "Retry-After %ld at 0.5/s", retry);
	cr_expect(gw_log_contains(G.error_log, "429: 203.0.113.5 is over", 2));
	/* Other clients of the same web server are served, on every connection. */
	for (int i = 0; i < 3; i++)
		cr_expect_eq(fcgi_call(fd[i], i == 2 ? "2001:db8::1" : "203.0.113.6", &retry), 418,
		             "another client on connection %d", i + 1);
	/* An IPv6 client is its /64. */
	cr_expect_eq(fcgi_call(fd[0], "2001:db8::2", &retry), 418);
	cr_expect_eq(fcgi_call(fd[1], "2001:db8::3", &retry), 429, "the same /64 has one bucket");
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	stop_ok();
}

/* One uwsgi request for status.sh from remote_addr: its status line's code. */
static int uwsgi_call(const char *remote_addr, long *retry)
{
	uint8_t pkt[4096];
	struct uwsgi_writer w;
	uwsgi_writer_init(&w, pkt, sizeof pkt);
	const char *vars[] = {"REQUEST_METHOD", "GET", "SCRIPT_NAME", "/cgi-bin/status.sh",
	                      "REQUEST_URI", "/cgi-bin/status.sh", "REMOTE_ADDR", remote_addr, NULL};
	for (int i = 0; vars[i]; i += 2)
		uwsgi_writer_var(&w, vars[i], strlen(vars[i]), vars[i + 1], strlen(vars[i + 1]));
	ssize_t n = uwsgi_writer_finish(&w);
	cr_assert_gt(n, 0);
	int fd = connect_from("127.0.0.1", G.port);
	gw_send_all(fd, pkt, (size_t)n);
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, false, 10, &r), 0, "no answer over uwsgi");
	close(fd);
	*retry = retry_after(&r);
	int status = r.status;
	gw_response_free(&r);
	return status;
}

Test(uwsgi, rate_applies_to_remote_addr, .fini = teardown, .timeout = 60)
{
	gw_start(&G, PROXIED_CONFIG("uwsgi"));
	long retry;
	cr_expect_eq(uwsgi_call("198.51.100.9", &retry), 418);
	cr_expect_eq(uwsgi_call("198.51.100.9", &retry), 418);
	cr_expect_eq(uwsgi_call("198.51.100.9", &retry), 429);
	cr_expect(retry >= 1 && retry <= 2, "Retry-After %ld", retry);
	cr_expect_eq(uwsgi_call("198.51.100.10", &retry), 418, "another client of the web server");
	stop_ok();
}

/* ---- a flood of distinct addresses ----------------------------------------------- */

/* Each address: connect, one request, close. Every answer must be a whole
 * 200 with the file (a fresh address has a full bucket). */
static void flood(int from, int to)
{
	for (int i = from; i < to; i++) {
		char src[32];
		snprintf(src, sizeof src, "127.0.%d.%d", 1 + i / 250, 1 + i % 250);
		int fd = connect_from(src, G.port);
		struct gw_response r;
		int status = get(fd, "/notes.txt", &r);
		cr_assert_eq(status, 200, "%s: %d", src, status);
		cr_assert(r.body_len > 0 && strstr(r.body, "FRONT-FIXTURE-TEXT"), "%s: a short body", src);
		gw_response_free(&r);
		close(fd);
	}
}

Test(http, flood_of_addresses_keeps_memory_bounded, .fini = teardown, .timeout = 120)
{
	/* Under AddressSanitizer freed memory waits in a quarantine (256 MiB):
	 * without it, resident memory is what gatewayd holds. */
	const char *asan = getenv("ASAN_OPTIONS");
	char opts[1024];
	snprintf(opts, sizeof opts, "%s%squarantine_size_mb=0", asan ? asan : "", asan ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	start(CONFIG(", \"per_client\": {\"connections\": 2, \"requests_per_second\": 1,"
	                    " \"clients\": 256}"));
	/* The first thousand fill the table and warm the allocator up. */
	flood(0, 1000);
	long before = vmrss_kib(G.pid);
	flood(1000, 3000);
	long after = vmrss_kib(G.pid);
	cr_log_info("VmRSS %ld KiB after 1000 addresses, %ld KiB after 3000", before, after);
	/* 2000 more addresses: a leak of 512 bytes each would be 1000 KiB. */
	cr_expect_lt(after - before, 1000, "VmRSS grew %ld KiB (%ld -> %ld) over 2000 addresses",
	             after - before, before, after);
	long long tracked = limits_val("clients_tracked"), max = limits_val("clients_max");
	cr_expect_eq(max, 256, "clients_max %lld", max);
	cr_expect_leq(tracked, max, "%lld addresses remembered in a table of %lld", tracked, max);
	long long forgotten = limits_val("clients_forgotten");
	cr_expect_geq(forgotten, 3000 - 256, "only %lld forgotten", forgotten);
	/* And the limits still hold for whoever is remembered. */
	int fd = connect_from("127.0.0.1", G.port);
	cr_expect_eq(get_status(fd, "/notes.txt"), 200);
	cr_expect_eq(get_status(fd, "/notes.txt"), 429, "rate 1, burst 1: the second at once");
	close(fd);
	stop_ok();
}

/* ---- the CGI slots ----------------------------------------------------------------- */

static bool file_exists(void *path)
{
	return access(path, F_OK) == 0;
}

/* Client A (127.0.0.1) starts a 2-second script on each of three connections
 * (waiting until each one that was let in runs); then client B (127.0.0.2)
 * asks for one. With max_children 2 and no queue, B gets 503 whenever A holds
 * both children. Returns B's status. */
static int slots_scenario(bool limited)
{
	int a[3];
	for (int i = 0; i < 3; i++) {
		char pidfile[400], req[600];
		snprintf(pidfile, sizeof pidfile, "%s/a%d.pid", G.dir, i);
		snprintf(req, sizeof req, "GET /cgi-bin/sleep.sh?2+%s HTTP/1.1\r\nHost: t\r\n\r\n",
		         pidfile);
		a[i] = connect_from("127.0.0.1", G.port);
		gw_send_all(a[i], req, strlen(req));
		if (limited && i > 0) {
			struct gw_response r;
			int st = gw_read_response(a[i], false, 5, &r) == 0 ? r.status : -1;
			gw_response_free(&r);
			cr_expect_eq(st, 429, "A's connection %d past its limit: %d", i + 1, st);
			continue;
		}
		if (i < 2)
			cr_assert(gw_wait_until(file_exists, pidfile, 5), "A's script %d never ran", i + 1);
	}
	double t0 = gw_now();
	int b = connect_from("127.0.0.2", G.port);
	int status = get_status(b, "/cgi-bin/sleep.sh?1");
	double took = gw_now() - t0;
	close(b);
	if (status == 200)
		cr_expect_lt(took, 1.9, "B waited %.2f s: for A's script, not its own", took);
	for (int i = 0; i < 3; i++)
		close(a[i]);
	return status;
}

Test(cgi, one_client_at_its_limit_leaves_a_slot_for_another, .fini = teardown, .timeout = 60)
{
	start(CONFIG(", \"per_client\": {\"connections\": 1}"));
	cr_expect_eq(slots_scenario(true), 200, "B was not served beside A at its limit");
	stop_ok();
}

/* The same without the limit: A takes both children and B is refused, so the
 * test above shows the limit at work, not a slot that was free anyway. */
Test(cgi, without_the_limit_one_client_takes_every_slot, .fini = teardown, .timeout = 60)
{
	start(CONFIG(""));
	cr_expect_eq(slots_scenario(false), 503, "B was served: A never held both children");
	stop_ok();
}
