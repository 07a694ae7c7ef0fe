/* The cgi mode end to end: the real gatewayd binary, real sockets, and the
 * fixture scripts of test/fixtures/cgi-bin (one job each, named after it) and
 * test/fixtures/cgi/go (Go's test.cgi, for the go-cgi-fcgi-cases corpus).
 *
 * Every test stops its daemon and checks that it exited 0 (under ASan a leak
 * makes that fail), and ends with gw_assert_no_leaks(). A test that fails half
 * way leaves its daemon to teardown(), which kills it. */
#include "test/integration/harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

static struct gw_proc G; /* the test's daemon; teardown() stops it whatever happened */

static void teardown(void)
{
	gw_cleanup(&G);
}

/* SIGTERM; the daemon must exit 0 (ASan: no leak). Then remove its directory. */
static void stop_ok(struct gw_proc *g)
{
	gw_stop_ok(g, 10, NULL);
}

/* One request on a new connection; the response must come. */
static void must_request(const char *raw, struct gw_response *r)
{
	int rc = gw_request(G.port, raw, r);
	if (rc != 0)
		gw_dump_log(&G);
	cr_assert_eq(rc, 0, "no complete response to: %.80s", raw);
}

/* The start of most tests: gatewayd on config, and one request to it. */
static void start_and_request(const char *config, const char *raw, struct gw_response *r)
{
	gw_start(&G, config);
	must_request(raw, r);
}

/* The end of every test: the response freed (when given), gatewayd stopped
 * (it must exit 0), and no leak in the test itself. */
static void finish_ok(struct gw_response *r)
{
	if (r)
		gw_response_free(r);
	stop_ok(&G);
	gw_assert_no_leaks();
}

/* A client waiting on a script that sleeps: its connection, left open, and
 * the pids of sleep.sh and of its child (gatewayd's grandchild). */
struct sleeper {
	int fd;
	pid_t script, child;
};

/* GET <route>sleep.sh?<seconds>+<pid file> on a new connection, with the
 * header fields extra ("" for none), the pid file named after name in the
 * test's directory; the test fails unless the script and its child start. */
static struct sleeper start_sleeper(const char *route, int seconds, const char *name,
                                    const char *extra)
{
	char pidfile[400], childfile[420], req[1024];
	snprintf(pidfile, sizeof pidfile, "%s/%s.pid", G.dir, name);
	snprintf(childfile, sizeof childfile, "%s.child", pidfile);
	struct sleeper s = {.fd = gw_connect(G.port)};
	cr_assert(s.fd >= 0);
	snprintf(req, sizeof req, "GET %ssleep.sh?%d+%s HTTP/1.1\r\nHost: t\r\n%s\r\n", route, seconds,
	         pidfile, extra);
	gw_send_all(s.fd, req, strlen(req));
	s.script = gw_wait_pidfile(pidfile, 5);
	s.child = gw_wait_pidfile(childfile, 1);
	cr_assert(s.script > 0 && s.child > 0, "sleep.sh (%s) did not start", name);
	return s;
}

/* After the one SIGTERM the test sent (a second one means "stop now", so not
 * gw_stop), gatewayd's wait status once it exits by itself, or -1. */
static int exit_after_sigterm(double timeout)
{
	int st = gw_wait_exit(&G, timeout);
	if (st == -1)
		gw_dump_log(&G);
	return st;
}

/* Assert that the line prefix+... exists in text and holds exactly want. */
#define expect_field(text, prefix, want) gw_expect_field(NULL, text, prefix, want)
#define expect_no_field(text, prefix) gw_expect_field(NULL, text, prefix, NULL)

/* The request id an error page carries ("request <16 hex>"); malloc'd or NULL. */
static char *page_rid(const char *body)
{
	const char *p = body ? strstr(body, "request ") : NULL;
	if (!p)
		return NULL;
	p += 8;
	size_t n = strspn(p, "0123456789abcdef");
	return n == 16 ? strndup(p, n) : NULL;
}

/* Does the log have a line with "req=<rid>:" and needle? */
static bool log_has_rid(const char *path, const char *rid, const char *needle, double timeout)
{
	char tag[40];
	snprintf(tag, sizeof tag, "req=%s:", rid);
	char *line = gw_log_line_with(path, tag, needle, timeout);
	free(line);
	return line != NULL;
}

/* The daemon's fd count once it stopped changing (10 equal samples, 20 ms apart). */
static int settled_fds(pid_t pid)
{
	int last = -1, same = 0;
	double until = gw_now() + 3;
	while (gw_now() < until) {
		int n = gw_count_fds(pid);
		if (n == last && ++same >= 10)
			return n;
		if (n != last)
			same = 0;
		last = n;
		usleep(20000);
	}
	return last;
}

static bool socket_closed(int fd, double timeout)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;
	if (poll(&p, 1, (int)(timeout * 1000)) <= 0)
		return false;
	return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

static int local_port(int fd)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof a;
	cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	if (a.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
	return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

static int connect6(int port)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
	                         .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* realpath of SRC/rel, in a static buffer per call site's copy. */
static void src_real(const char *rel, char out[PATH_MAX])
{
	char joined[PATH_MAX * 2];
	snprintf(joined, sizeof joined, "%s/%s", gw_srcdir(), rel);
	cr_assert_not_null(realpath(joined, out), "realpath %s", joined);
}

/* ---- request bodies, sent while the response is read (full duplex) ------- */

/* The body byte at offset i: depends on both bytes of i's low 16 bits and on
 * the MiB, so a dropped, doubled or shifted block shows in the checksum. */
static void gen_bytes(char *buf, uint64_t off, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		uint64_t i = off + k;
		buf[k] = (char)((i >> 8) * 31 + (i & 0xff) * 7 + (i >> 20) * 13 + 1);
	}
}

/* The stream mem[0..mem_len) then gen_len generated bytes, into buf. */
static size_t stream_fill(char *buf, size_t cap, uint64_t pos, const char *mem, size_t mem_len,
                          uint64_t gen_len)
{
	size_t n = 0;
	if (pos < mem_len) {
		n = mem_len - (size_t)pos < cap ? mem_len - (size_t)pos : cap;
		memcpy(buf, mem + pos, n);
	}
	uint64_t gpos = pos + n - mem_len;
	if (n < cap && gpos < gen_len) {
		size_t g = gen_len - gpos < cap - n ? (size_t)(gen_len - gpos) : cap - n;
		gen_bytes(buf + n, gpos, g);
		n += g;
	}
	return n;
}

/* Send mem then gen_len generated bytes on fd while reading all the server
 * sends, until it closes or timeout s pass. A server that stops reading is not
 * an error here: the answer decides. Returns the bytes read (malloc'd). */
static char *duplex(int fd, const char *mem, size_t mem_len, uint64_t gen_len, double timeout,
                    size_t *out_len, uint64_t *sent_out)
{
	cr_assert(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
	size_t cap = 1 << 20, n = 0;
	char *out = malloc(cap);
	static char chunk[256 * 1024];
	size_t chunk_len = 0, chunk_off = 0;
	uint64_t total = mem_len + gen_len, sent = 0;
	bool sending = total > 0;
	double deadline = gw_now() + timeout;
	cr_assert_not_null(out);
	out[0] = '\0';
	for (;;) {
		double left = deadline - gw_now();
		if (left <= 0)
			break;
		struct pollfd p = {.fd = fd, .events = POLLIN | (sending ? POLLOUT : 0)};
		int pr = poll(&p, 1, (int)(left * 1000) + 1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (cap - n < 65537) {
				cap *= 2;
				out = realloc(out, cap);
				cr_assert_not_null(out);
			}
			ssize_t r = recv(fd, out + n, cap - n - 1, 0);
			if (r > 0) {
				n += (size_t)r;
				out[n] = '\0';
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				break;
			}
		}
		if (sending && (p.revents & POLLOUT)) {
			if (chunk_off == chunk_len) {
				chunk_len = stream_fill(chunk, sizeof chunk, sent, mem, mem_len, gen_len);
				chunk_off = 0;
			}
			ssize_t w = send(fd, chunk + chunk_off, chunk_len - chunk_off, MSG_NOSIGNAL);
			if (w > 0) {
				chunk_off += (size_t)w;
				sent += (uint64_t)w;
				sending = sent < total;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				sending = false; /* the server closed: its answer decides */
			}
		}
	}
	*out_len = n;
	if (sent_out)
		*sent_out = sent;
	return out;
}

/* Split a whole response read to the close: head, de-chunked body. 0 or -1. */
static int parse_raw(const char *raw, size_t len, struct gw_response *resp)
{
	memset(resp, 0, sizeof *resp);
	const char *end = memmem(raw, len, "\r\n\r\n", 4);
	if (!end)
		return -1;
	resp->head = strndup(raw, (size_t)(end - raw) + 2);
	if (sscanf(resp->head, "HTTP/1.%*d %d", &resp->status) != 1)
		return -1;
	const char *b = end + 4;
	size_t blen = len - (size_t)(b - raw), n = 0;
	resp->body = malloc(blen + 1);
	char *te = gw_header(resp, "Transfer-Encoding"), *cl = gw_header(resp, "Content-Length");
	int rc = 0;
	if (te && strcasecmp(te, "chunked") == 0) {
		resp->chunked = true;
		const char *p = b, *stop = b + blen;
		for (;;) {
			char *eol;
			unsigned long size = strtoul(p, &eol, 16);
			const char *crlf = memmem(p, (size_t)(stop - p), "\r\n", 2);
			if (!crlf || (size_t)(stop - crlf) < 2 + size + 2) {
				rc = -1;
				break;
			}
			memcpy(resp->body + n, crlf + 2, size);
			n += size;
			p = crlf + 2 + size + 2;
			if (size == 0)
				break;
		}
	} else if (cl) {
		size_t want = strtoul(cl, NULL, 10);
		if (want > blen)
			rc = -1;
		else
			memcpy(resp->body, b, n = want);
	} else {
		memcpy(resp->body, b, n = blen);
		resp->closed = true;
	}
	resp->body[n] = '\0';
	resp->body_len = n;
	free(te);
	free(cl);
	return rc;
}

/* sha256 (hex) of mem then gen_len generated bytes, by sha256sum. */
static void sha256_of(const char *mem, size_t mem_len, uint64_t gen_len, char out[65])
{
	char cmd[512], path[400];
	snprintf(path, sizeof path, "%s/expected.sum", G.dir);
	snprintf(cmd, sizeof cmd, "sha256sum > '%s'", path);
	FILE *p = popen(cmd, "w");
	cr_assert_not_null(p);
	static char buf[256 * 1024];
	for (uint64_t pos = 0; pos < mem_len + gen_len;) {
		size_t n = stream_fill(buf, sizeof buf, pos, mem, mem_len, gen_len);
		cr_assert_eq(fwrite(buf, 1, n, p), n);
		pos += n;
	}
	cr_assert_eq(pclose(p), 0);
	char *sum = gw_read_file(path);
	cr_assert(sum && strlen(sum) >= 64);
	memcpy(out, sum, 64);
	out[64] = '\0';
	free(sum);
}

/* ---- 1. the meta-variables ----------------------------------------------- */

#define ENV_CONFIG                                                                              \
	"{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                                        \
	" \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@FIX@/cgi-bin\",\"timeout\":5}}," \
	"  {\"match\":\"/auth-cgi/\",\"cgi\":{\"root\":\"@FIX@/cgi-bin\",\"timeout\":5,"         \
	"    \"pass_authorization\":true}},"                                                    \
	"  {\"match\":\"/\",\"static\":{\"root\":\"@SRC@/examples/htdocs\"}}],"                  \
	" \"timeouts\":{\"header\":2,\"body\":2,\"keepalive\":2,\"shutdown\":3}}"

/* What a script may find in its environment: RFC 3875 4.1, the extensions
 * gatewayd documents, PATH, and HTTP_*. Anything else leaked from the daemon. */
static const char *const allowed_vars[] = {
	"AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "GATEWAY_INTERFACE", "PATH_INFO",
	"PATH_TRANSLATED", "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_IDENT",
	"REMOTE_USER", "REQUEST_METHOD", "SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT",
	"SERVER_PROTOCOL", "SERVER_SOFTWARE",
	"REQUEST_URI", "SCRIPT_FILENAME", "DOCUMENT_ROOT", "REMOTE_PORT", "GATEWAY_REQUEST_ID",
	"SERVER_ADDR", "HTTPS", "REDIRECT_STATUS", "PATH", NULL,
};

static void expect_only_allowed_vars(const char *body)
{
	int count = 0;
	for (const char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, "env:", 4) != 0)
			continue;
		count++;
		size_t n = strcspn(p + 4, "=\n");
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)n, p + 4);
		bool ok = strncmp(name, "HTTP_", 5) == 0;
		for (const char *const *a = allowed_vars; !ok && *a; a++)
			ok = strcmp(*a, name) == 0;
		cr_expect(ok, "the script's environment holds %s: not built from scratch", name);
	}
	cr_expect_gt(count, 15, "the env dumper printed only %d variables", count);
}

Test(cgi_env, meta_variables, .fini = teardown, .timeout = 30)
{
	struct gw_response r;
	char scripts[PATH_MAX], docroot[PATH_MAX], portstr[16], my_port[16];

	/* In the daemon's environment, so it would leak into an inherited one. */
	cr_assert_eq(setenv("GW_SECRET_TEST", "1", 1), 0);
	gw_start(&G, ENV_CONFIG);
	src_real("test/fixtures/cgi-bin", scripts);
	src_real("examples/htdocs", docroot);
	snprintf(portstr, sizeof portstr, "%d", G.port);

	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	snprintf(my_port, sizeof my_port, "%d", local_port(fd));
	const char *req =
		"POST /cgi-bin/sub/env.pl/a/b%20c?x=1&y=%20 HTTP/1.1\r\n"
		"Host: example.test:8080\r\n"
		"User-Agent: gw-test/1\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 5\r\n"
		"X-Dup: one\r\n"
		"Accept: text/plain\r\n"
		"X-Dup: two\r\n"
		"Proxy: http://evil.example:3128/\r\n"
		"Authorization: Basic dXNlcjpwYXNz\r\n"
		"Proxy-Authorization: Basic cHJveHk6cGFzcw==\r\n"
		"X-Real: genuine\r\n"
		"X_Real: spoofed\r\n"
		"X_Only_Underscore: dropped\r\n"
		"Connection: close\r\n"
		"\r\n"
		"hello";
	gw_send_all(fd, req, strlen(req));
	cr_assert_eq(gw_read_response(fd, false, 10, &r), 0);
	close(fd);
	cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);
	const char *b = r.body;

	char *server = gw_header(&r, "Server");
	cr_assert_not_null(server);
	cr_expect(strncmp(server, "gatewayd", 8) == 0, "Server: %s", server);
	char *translated = NULL, *filename = NULL, *cwd = NULL;
	cr_assert(asprintf(&translated, "%s/a/b c", docroot) > 0);
	cr_assert(asprintf(&filename, "%s/sub/env.pl", scripts) > 0);
	cr_assert(asprintf(&cwd, "%s/sub", scripts) > 0);
	const struct gw_field_want meta_variables[] = {
		/* RFC 3875 4.1.1-4.1.17 */
		{"env:AUTH_TYPE=", NULL}, /* nobody authenticated: unset (4.1.1) */
		{"env:CONTENT_LENGTH=", "5"},
		{"env:CONTENT_TYPE=", "text/plain"},
		{"env:GATEWAY_INTERFACE=", "CGI/1.1"},
		{"env:PATH_INFO=", "/a/b c"},
		{"env:PATH_TRANSLATED=", translated},
		{"env:QUERY_STRING=", "x=1&y=%20"},
		{"env:REMOTE_ADDR=", "127.0.0.1"},
		{"env:REMOTE_HOST=", "127.0.0.1"}, /* no DNS: the address (4.1.9) */
		{"env:REMOTE_IDENT=", NULL},
		{"env:REMOTE_USER=", NULL},
		{"env:REQUEST_METHOD=", "POST"},
		{"env:SCRIPT_NAME=", "/cgi-bin/sub/env.pl"},
		{"env:SERVER_NAME=", "example.test"},
		{"env:SERVER_PORT=", portstr},
		{"env:SERVER_PROTOCOL=", "HTTP/1.1"},
		{"env:SERVER_SOFTWARE=", server},
		/* the extensions */
		{"env:REQUEST_URI=", "/cgi-bin/sub/env.pl/a/b%20c?x=1&y=%20"},
		{"env:SCRIPT_FILENAME=", filename},
		{"env:DOCUMENT_ROOT=", docroot},
		{"env:REMOTE_PORT=", my_port},
		{"env:SERVER_ADDR=", "127.0.0.1"},
		/* 4.1.18: HTTP_*, duplicates merged, httpoxy, credentials withheld, '_' names dropped */
		{"env:HTTP_HOST=", "example.test:8080"},
		{"env:HTTP_USER_AGENT=", "gw-test/1"},
		{"env:HTTP_ACCEPT=", "text/plain"},
		{"env:HTTP_X_DUP=", "one, two"},
		{"env:HTTP_X_REAL=", "genuine"},
		{"env:HTTP_X_ONLY_UNDERSCORE=", NULL},
		{"env:HTTP_PROXY=", NULL},
		{"env:HTTP_AUTHORIZATION=", NULL},
		{"env:HTTP_PROXY_AUTHORIZATION=", NULL},
		{"env:HTTP_CONTENT_LENGTH=", NULL},
		{"env:HTTP_CONTENT_TYPE=", NULL},
		{"env:HTTP_CONNECTION=", NULL},
		/* from scratch, cwd, the body */
		{"env:GW_SECRET_TEST=", NULL},
		{"cwd:", cwd},
		{"argc:", "0"},
		{"stdin-bytes:", "5"},
		{NULL},
	};
	gw_expect_fields("a POST with path info, a query and many fields", b, meta_variables);
	expect_only_allowed_vars(b);
	free(server);
	free(translated);
	free(filename);
	free(cwd);

	/* The request id: 16 hex digits, in the error log (the script's stderr
	 * line) and at the end of the access log line. */
	char *rid = gw_field(b, "env:GATEWAY_REQUEST_ID=");
	cr_assert_not_null(rid);
	cr_assert_eq(strlen(rid), 16);
	cr_assert_eq(strspn(rid, "0123456789abcdef"), 16, "GATEWAY_REQUEST_ID=%s", rid);
	cr_expect(log_has_rid(G.error_log, rid, "env.pl ran", 3),
	          "the error log has no line req=%s: ... env.pl ran", rid);
	char tail[40];
	snprintf(tail, sizeof tail, " %s", rid);
	char *acc = gw_log_line_with(G.access_log, "POST /cgi-bin/sub/env.pl/a/b%20c", tail, 3);
	cr_expect_not_null(acc, "the access log has no line for the request with id %s", rid);
	cr_expect(acc && strlen(acc) > strlen(tail) && strcmp(acc + strlen(acc) - strlen(tail), tail) == 0,
	          "access log line: %s", acc);
	free(acc);
	gw_response_free(&r);

	/* No query, no path info, HTTP/1.0: QUERY_STRING is still set, empty. */
	must_request("GET /cgi-bin/sub/env.pl HTTP/1.0\r\n\r\n", &r);
	cr_assert_eq(r.status, 200);
	static const struct gw_field_want bare_get[] = {
		{"env:QUERY_STRING=", ""},
		{"env:PATH_INFO=", ""},
		{"env:PATH_TRANSLATED=", NULL},
		{"env:CONTENT_LENGTH=", NULL},
		{"env:SERVER_PROTOCOL=", "HTTP/1.0"},
		{"env:REQUEST_METHOD=", "GET"},
		{"env:SERVER_NAME=", "localhost"}, /* no Host: server_name */
		{"stdin-bytes:", "0"},
		{NULL},
	};
	gw_expect_fields("an HTTP/1.0 GET without query or path info", r.body, bare_get);
	char *rid2 = gw_field(r.body, "env:GATEWAY_REQUEST_ID=");
	cr_expect(rid2 && strcmp(rid2, rid) != 0, "a second request has its own id");
	free(rid2);
	free(rid);
	gw_response_free(&r);

	stop_ok(&G);
	unsetenv("GW_SECRET_TEST");
	gw_assert_no_leaks();
}

/* The route's pass_authorization passes the credentials (Apache's CGIPassAuth). */
Test(cgi_env, pass_authorization, .fini = teardown, .timeout = 30)
{
	struct gw_response r;
	start_and_request(ENV_CONFIG, "GET /auth-cgi/sub/env.pl HTTP/1.1\r\nHost: t\r\n"
	             "Authorization: Basic dXNlcjpwYXNz\r\nConnection: close\r\n\r\n", &r);
	cr_assert_eq(r.status, 200);
	expect_field(r.body, "env:SCRIPT_NAME=", "/auth-cgi/sub/env.pl");
	expect_field(r.body, "env:HTTP_AUTHORIZATION=", "Basic dXNlcjpwYXNz");
	expect_no_field(r.body, "env:AUTH_TYPE=");
	gw_response_free(&r);
	/* ...and only on that route. */
	must_request("GET /cgi-bin/sub/env.pl HTTP/1.1\r\nHost: t\r\n"
	             "Authorization: Basic dXNlcjpwYXNz\r\nConnection: close\r\n\r\n", &r);
	cr_assert_eq(r.status, 200);
	expect_no_field(r.body, "env:HTTP_AUTHORIZATION=");
	finish_ok(&r);
}

/* ---- 2. go-cgi-fcgi-cases end to end -------------------------------------- */

/* Where gatewayd answers differently from Go's net/http/cgi host on purpose.
 * case "" = every case. ours: the value we check instead (@...@ expanded per
 * request), or NULL when the key is checked another way (see the reason). */
struct go_diff {
	const char *case_prefix;
	const char *key;
	const char *ours;
	const char *reason;
};

static const struct go_diff go_diffs[] = {
	{"", "env-SERVER_SOFTWARE", "@SOFTWARE@",
	 "Go's host says \"go\"; ours names gatewayd and its version (= the Server header)"},
	{"", "env-REMOTE_ADDR", "@PEER@",
	 "Go's test fakes the peer (1.2.3.4, [2000::3000]); ours is the real loopback peer"},
	{"", "env-REMOTE_HOST", "@PEER@", "as REMOTE_ADDR: no reverse DNS, the address (4.1.9)"},
	{"", "env-REMOTE_PORT", "@PEER_PORT@",
	 "Go's fake peer port (1234, 12345); ours is the client socket's real port"},
	{"", "env-SERVER_PORT", "@PORT@",
	 "Go takes it from the Host header (default 80); RFC 3875 4.1.15 and ours: the port "
	 "the request came in on, the listener's"},
};

/* Whole cases gatewayd answers differently, and what is checked instead. */
static const struct {
	const char *case_prefix;
	const char *reason;
} go_case_notes[] = {
	{"TestPathInfoNoRoot",
	 "Go mounts one program at the server root (SCRIPT_NAME \"\", PATH_INFO = the whole path); "
	 "gatewayd maps URLs to files under a root directory, like Apache's ScriptAlias, so /bar "
	 "names a file that does not exist: checked: 404 and no script run"},
	{"TestCGIPostChunked",
	 "Go refuses a chunked body with 400; gatewayd de-chunks it and sets CONTENT_LENGTH "
	 "(the issue asks for that): checked: 200, CONTENT_LENGTH=15, param-postfoo=postbar"},
	{"TestInternalRedirect",
	 "Go's test checks its base handler saw /foo; here /foo is another script (foo links to "
	 "test.cgi): checked: 200 (no 3xx), and it saw SCRIPT_NAME=/foo, REQUEST_URI=/foo, GET"},
	{"TestHandlerStderr",
	 "checked: the stderr line is in the error log with the request's id, not in the body"},
	{"TestCopyError",
	 "checked: after 5000 body bytes the client closes; the script (X-CGI-Pid) is killed "
	 "within 3 s"},
};

static const char *go_case_note(const char *name)
{
	for (size_t i = 0; i < sizeof go_case_notes / sizeof *go_case_notes; i++)
		if (strncmp(name, go_case_notes[i].case_prefix, strlen(go_case_notes[i].case_prefix)) == 0)
			return go_case_notes[i].reason;
	return NULL;
}

static const struct go_diff *go_diff_for(const char *name, const char *key)
{
	for (size_t i = 0; i < sizeof go_diffs / sizeof *go_diffs; i++)
		if (strncmp(name, go_diffs[i].case_prefix, strlen(go_diffs[i].case_prefix)) == 0 &&
		    strcmp(key, go_diffs[i].key) == 0)
			return &go_diffs[i];
	return NULL;
}

/* "key=value" lines of test.cgi's body ("env-X", "param-y", "test"). */
static char *go_value(const char *body, const char *key)
{
	char prefix[256];
	snprintf(prefix, sizeof prefix, "%s=", key);
	return gw_field(body, prefix);
}

/* test.cgi's key must be want (NULL: absent); name is the Go test's. */
static void expect_go_value(const char *name, const char *body, const char *key, const char *want)
{
	char *got = go_value(body, key);
	if (want)
		cr_expect(got && strcmp(got, want) == 0, "%s: %s = \"%s\", want \"%s\"", name, key,
		          got ? got : "(absent)", want);
	else
		cr_expect_null(got, "%s: %s must be absent, is \"%s\"", name, key, got);
	free(got);
}

#define GO_CONFIG                                                                               \
	"{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"},{\"http\":\"[::1]:@PORT@\"}],"            \
	" \"routes\":[{\"match\":\"/\",\"cgi\":{\"root\":\"@FIX@/cgi/go\",\"timeout\":10}}],"    \
	" \"timeouts\":{\"header\":2,\"body\":2,\"keepalive\":2,\"shutdown\":3}}"

static void go_run_case(json_t *c, const char *goroot, int *checked)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *raw = json_string_value(json_object_get(c, "request"));
	json_t *remote = json_object_get(c, "remote_addr");
	int want_status = (int)json_integer_value(json_object_get(c, "expect_status"));
	const char *note = go_case_note(name);
	bool v6 = remote && strchr(json_string_value(remote), '[');
	struct gw_response r;
	cr_assert(name && raw);
	if (note)
		cr_log_info("%s: %s", name, note);

	int fd = v6 ? connect6(G.port) : gw_connect(G.port);
	cr_assert(fd >= 0, "%s: connect", name);
	int my_port = local_port(fd);
	gw_send_all(fd, raw, strlen(raw));
	bool head_only_then_close = strncmp(name, "TestCopyError", 13) == 0;
	if (head_only_then_close) {
		/* Read the head and 5000 body bytes, then hang up. */
		char buf[16384];
		size_t n = 0;
		double until = gw_now() + 10;
		char *end = NULL;
		while (gw_now() < until && n < sizeof buf - 1) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			if (poll(&p, 1, 1000) <= 0)
				continue;
			ssize_t k = recv(fd, buf + n, sizeof buf - 1 - n, 0);
			if (k <= 0)
				break;
			n += (size_t)k;
			buf[n] = '\0';
			end = strstr(buf, "\r\n\r\n");
			if (end && n - (size_t)(end + 4 - buf) >= 5000)
				break;
		}
		cr_assert_not_null(end, "%s: no response head", name);
		cr_assert(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%s: %.40s", name, buf);
		char *pidh = strcasestr(buf, "\r\nX-CGI-Pid: ");
		cr_assert_not_null(pidh, "%s: no X-CGI-Pid", name);
		pid_t pid = (pid_t)strtol(pidh + 13, NULL, 10);
		cr_assert_gt(pid, 0);
		close(fd);
		cr_expect(gw_wait_gone(pid, 3), "%s: the script (pid %d) still runs 3 s after the client left",
		          name, (int)pid);
		(*checked)++;
		return;
	}
	cr_assert_eq(gw_read_response(fd, false, 15, &r), 0, "%s: no response", name);
	close(fd);

	if (strncmp(name, "TestPathInfoNoRoot", 18) == 0) {
		cr_expect_eq(r.status, 404, "%s: status %d", name, r.status);
		(*checked)++;
		gw_response_free(&r);
		return;
	}
	if (strncmp(name, "TestCGIPostChunked", 18) == 0) {
		cr_expect_eq(r.status, 200, "%s: status %d", name, r.status);
		expect_go_value(name, r.body, "env-CONTENT_LENGTH", "15");
		expect_go_value(name, r.body, "param-postfoo", "postbar");
		(*checked)++;
		gw_response_free(&r);
		return;
	}
	cr_expect_eq(r.status, want_status, "%s: status %d, want %d", name, r.status, want_status);

	/* expect_headers */
	const char *hname;
	json_t *hval;
	json_object_foreach(json_object_get(c, "expect_headers"), hname, hval) {
		char *got = gw_header(&r, hname);
		cr_expect(got && strcmp(got, json_string_value(hval)) == 0, "%s: header %s: %s, want %s",
		          name, hname, got, json_string_value(hval));
		free(got);
		(*checked)++;
	}

	/* expect: every key, through the differences table */
	char script[PATH_MAX * 2], *script_name = go_value(r.body, "env-SCRIPT_NAME");
	snprintf(script, sizeof script, "%s%s", goroot, script_name ? script_name : "");
	free(script_name);
	char *software = gw_header(&r, "Server");
	const char *key;
	json_t *val;
	json_object_foreach(json_object_get(c, "expect"), key, val) {
		const char *want = json_string_value(val);
		char buf[PATH_MAX * 2];
		const struct go_diff *d = go_diff_for(name, key);
		if (d) {
			if (strcmp(d->ours, "@SOFTWARE@") == 0)
				snprintf(buf, sizeof buf, "%s", software ? software : "(no Server header)");
			else if (strcmp(d->ours, "@PEER@") == 0)
				snprintf(buf, sizeof buf, "%s", v6 ? "::1" : "127.0.0.1");
			else if (strcmp(d->ours, "@PEER_PORT@") == 0)
				snprintf(buf, sizeof buf, "%d", my_port);
			else if (strcmp(d->ours, "@PORT@") == 0)
				snprintf(buf, sizeof buf, "%d", G.port);
			cr_log_info("%s: %s: corpus \"%s\", ours \"%s\": %s", name, key, want, buf, d->reason);
			want = buf;
		} else if (strcmp(want, "<path of the CGI program>") == 0) {
			want = script; /* the placeholder, not a difference */
		}
		expect_go_value(name, r.body, key, want);
		(*checked)++;
	}
	size_t i;
	json_array_foreach(json_object_get(c, "expect_absent"), i, val) {
		expect_go_value(name, r.body, json_string_value(val), NULL);
		(*checked)++;
	}
	if (strncmp(name, "TestInternalRedirect", 20) == 0) {
		expect_go_value(name, r.body, "env-SCRIPT_NAME", "/foo");
		expect_go_value(name, r.body, "env-REQUEST_URI", "/foo");
		expect_go_value(name, r.body, "env-REQUEST_METHOD", "GET");
		(*checked)++;
	}
	if (strncmp(name, "TestHandlerStderr", 17) == 0) {
		char *rid = go_value(r.body, "env-GATEWAY_REQUEST_ID");
		cr_assert_not_null(rid, "%s: no request id", name);
		cr_expect(log_has_rid(G.error_log, rid, "Hello, stderr!", 3),
		          "%s: no error log line req=%s: ... Hello, stderr!", name, rid);
		cr_expect_null(strstr(r.body, "Hello, stderr!"), "%s: stderr went into the body", name);
		free(rid);
		(*checked)++;
	}
	if (r.status == 200) {
		/* cwd is the script's directory, for every case that ran one */
		expect_go_value(name, r.body, "cwd", goroot);
	}
	free(software);
	gw_response_free(&r);
}

Test(cgi_corpus, go_cgi_host_cases, .fini = teardown, .timeout = 40)
{
	char path[PATH_MAX], goroot[PATH_MAX];
	json_error_t err;
	snprintf(path, sizeof path, "%s/test/corpora/go-cgi-fcgi-cases/cgi_host_cases.json",
	         gw_srcdir());
	json_t *root = json_load_file(path, 0, &err);
	cr_assert_not_null(root, "%s:%d: %s", path, err.line, err.text);
	src_real("test/fixtures/cgi/go", goroot);
	gw_start(&G, GO_CONFIG);

	json_t *cases = json_object_get(root, "cases"), *c;
	size_t i;
	int checked = 0;
	cr_assert_eq(json_array_size(cases), 13, "the corpus changed: %zu cases", json_array_size(cases));
	json_array_foreach(cases, i, c)
		go_run_case(c, goroot, &checked);
	cr_expect_gt(checked, 60, "only %d expectations checked", checked);
	json_decref(root);
	finish_ok(NULL);
}

/* ---- 3. full duplex ----------------------------------------------------- */

#define DUPLEX_CONFIG                                                                           \
	"{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                                        \
	" \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@FIX@/cgi-bin\",\"timeout\":50}},"\
	"   {\"match\":\"/go/\",\"cgi\":{\"root\":\"@FIX@/cgi/go\",\"timeout\":50}}],"       \
	" \"limits\":{\"body\":\"200M\"},"                                                      \
	" \"timeouts\":{\"header\":5,\"body\":10,\"keepalive\":2,\"shutdown\":3}}"

static void post_generated(const char *path, uint64_t len, double timeout, struct gw_response *r,
                           uint64_t *sent)
{
	char head[512];
	int hl = snprintf(head, sizeof head,
	                  "POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
	                  "Content-Length: %llu\r\nConnection: close\r\n\r\n",
	                  path, (unsigned long long)len);
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	size_t n;
	char *raw = duplex(fd, head, (size_t)hl, len, timeout, &n, sent);
	close(fd);
	int rc = parse_raw(raw, n, r);
	if (rc != 0)
		gw_dump_log(&G);
	cr_assert_eq(rc, 0, "POST %s: incomplete response (%zu bytes): %.200s", path, n, raw);
	free(raw);
}

Test(cgi_duplex, post_100_mib_checksum, .fini = teardown, .timeout = 60)
{
	const uint64_t len = 100ULL << 20;
	char want[65], expect[128];
	struct gw_response r;
	uint64_t sent;
	gw_start(&G, DUPLEX_CONFIG);
	sha256_of(NULL, 0, len, want);
	post_generated("/cgi-bin/sha256.sh", len, 50, &r, &sent);
	cr_assert_eq(sent, len + strlen("POST /cgi-bin/sha256.sh HTTP/1.1\r\nHost: t\r\n"
	                                "Content-Type: application/octet-stream\r\n"
	                                "Content-Length: 104857600\r\nConnection: close\r\n\r\n"));
	cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);
	snprintf(expect, sizeof expect, "104857600 %s\n", want);
	cr_expect_str_eq(r.body, expect);
	finish_ok(&r);
}

Test(cgi_duplex, writes_before_reading, .fini = teardown, .timeout = 30)
{
	const uint64_t len = 1 << 20;
	char want[65];
	struct gw_response r;
	gw_start(&G, DUPLEX_CONFIG);
	sha256_of(NULL, 0, len, want);
	post_generated("/cgi-bin/write-first.sh", len, 20, &r, NULL);
	cr_assert_eq(r.status, 200, "status %d", r.status);
	cr_assert_eq(r.body_len, (1 << 20) + 1 + 64 + 1, "body of %zu bytes", r.body_len);
	cr_expect_eq(strspn(r.body, "x"), 1 << 20);
	cr_expect(memcmp(r.body + (1 << 20) + 1, want, 64) == 0, "the script saw another body: %.64s",
	          r.body + (1 << 20) + 1);
	finish_ok(&r);
}

Test(cgi_duplex, never_reads_body, .fini = teardown, .timeout = 30)
{
	struct gw_response r;
	char *want = NULL;
	size_t wlen = 0;
	FILE *m = open_memstream(&want, &wlen);
	for (int i = 0; i < 1000; i++)
		fprintf(m, "line %d of an answer that does not wait for its body\n", i);
	fclose(m);
	gw_start(&G, DUPLEX_CONFIG);
	/* 1 MiB: far more than a pipe holds */
	post_generated("/cgi-bin/no-read.sh", 1 << 20, 20, &r, NULL);
	cr_assert_eq(r.status, 200, "status %d", r.status);
	cr_expect_eq(r.body_len, wlen, "body of %zu bytes, want %zu", r.body_len, wlen);
	cr_expect(r.body_len == wlen && memcmp(r.body, want, wlen) == 0, "the answer was cut or changed");
	gw_response_free(&r);
	free(want);
	/* The daemon is fine afterwards. */
	must_request("GET /cgi-bin/argv.sh HTTP/1.0\r\n\r\n", &r);
	cr_expect_eq(r.status, 200);
	finish_ok(&r);
}

/* A 17 MiB answer streams through to a client that reads it all. */
Test(cgi_duplex, large_response, .fini = teardown, .timeout = 30)
{
	struct gw_response r;
	start_and_request(DUPLEX_CONFIG, "GET /go/test.cgi?bigresponse=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
	cr_assert_eq(r.status, 200);
	cr_expect(r.chunked);
	cr_assert_eq(r.body_len, (size_t)17 * 1024 * 1026, "%zu bytes", r.body_len);
	size_t bad = 0;
	for (size_t line = 0; line < 17 * 1024; line++) {
		const char *p = r.body + line * 1026;
		bad += strspn(p, "A") != 1024 || p[1024] != '\r' || p[1025] != '\n';
	}
	cr_expect_eq(bad, 0, "%zu damaged lines", bad);
	finish_ok(&r);
}

/* ---- 4. chunked request bodies ------------------------------------------- */

/* A chunked request for sha256.sh carrying len generated bytes in odd chunk sizes. */
static char *chunked_request(uint64_t len, size_t *out_len)
{
	static const size_t sizes[] = {1, 7, 4093, 65537, 333, 12345, 2, 30000, 99};
	char *req = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&req, &n);
	fprintf(m, "POST /cgi-bin/sha256.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
	           "Connection: close\r\n\r\n");
	char *buf = malloc(65537);
	uint64_t off = 0;
	for (size_t k = 0; off < len; k++) {
		size_t s = sizes[k % (sizeof sizes / sizeof *sizes)];
		if (s > len - off)
			s = (size_t)(len - off);
		gen_bytes(buf, off, s);
		fprintf(m, k % 2 ? "%zx\r\n" : "%zX\r\n", s);
		fwrite(buf, 1, s, m);
		fputs("\r\n", m);
		off += s;
	}
	fputs("0\r\n\r\n", m);
	fclose(m);
	free(buf);
	*out_len = n;
	return req;
}

Test(cgi_chunked, dechunked_with_content_length, .fini = teardown, .timeout = 30)
{
	/* body_memory 4096: the small body stays in memory, the large one spools to a file */
	static const uint64_t lens[] = {3000, 600 * 1024 + 17};
	gw_start(&G, "{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	             " \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@FIX@/cgi-bin\",\"timeout\":10}}],"
	             " \"limits\":{\"body_memory\":4096},"
	             " \"timeouts\":{\"header\":2,\"body\":5,\"keepalive\":2,\"shutdown\":3}}");
	struct gw_response r;
	must_request("GET /cgi-bin/argv.sh HTTP/1.0\r\n\r\n", &r); /* warm up */
	gw_response_free(&r);
	int fds_before = settled_fds(G.pid);
	for (size_t k = 0; k < 2; k++) {
		char want[65], expect[128];
		size_t rlen, n;
		char *req = chunked_request(lens[k], &rlen);
		sha256_of(NULL, 0, lens[k], want);
		int fd = gw_connect(G.port);
		cr_assert(fd >= 0);
		char *raw = duplex(fd, req, rlen, 0, 20, &n, NULL);
		close(fd);
		cr_assert_eq(parse_raw(raw, n, &r), 0, "incomplete response: %.200s", raw);
		cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);
		snprintf(expect, sizeof expect, "%llu %s\n", (unsigned long long)lens[k], want);
		cr_expect_str_eq(r.body, expect, "chunked body of %llu bytes", (unsigned long long)lens[k]);
		gw_response_free(&r);
		free(raw);
		free(req);
	}
	/* The spool file is closed once the request is over. */
	struct gw_fd_probe probe = {G.pid, fds_before};
	cr_expect(gw_wait_until(gw_fds_are, &probe, 5), "gatewayd holds %d fds, %d before the bodies",
	          gw_count_fds(G.pid), fds_before);
	finish_ok(NULL);
}

/* ---- 5. the response ---------------------------------------------------- */

#define CGI_CONFIG                                                                              \
	"{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                                        \
	" \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@FIX@/cgi-bin\",\"timeout\":10,"  \
	"   \"kill_grace\":1}}],"                                                               \
	" \"timeouts\":{\"header\":2,\"body\":2,\"keepalive\":2,\"shutdown\":3}}"

Test(cgi_response, status_header, .fini = teardown, .timeout = 30)
{
	struct gw_response r;
	start_and_request(CGI_CONFIG, "GET /cgi-bin/status.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
	cr_expect_eq(r.status, 418);
	cr_expect(strncmp(r.head, "HTTP/1.1 418 I'm a teapot\r\n", 27) == 0, "status line: %.40s", r.head);
	cr_expect_null(strcasestr(r.head, "\r\nStatus:"), "the Status gw_field must not go out");
	cr_expect_str_eq(r.body, "short and stout\n");
	finish_ok(&r);
}

/* One hop-by-hop list for every front end (the FastCGI and uwsgi suites send
 * the same script through theirs). */
Test(cgi_response, hop_by_hop_fields_dropped, .fini = teardown, .timeout = 30)
{
	struct gw_response r;
	start_and_request(CGI_CONFIG, "GET /cgi-bin/hop.sh HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	cr_expect_eq(r.status, 200);
	gw_expect_hop_by_hop_dropped(r.head, r.body, "HTTP");
	/* the script's "Connection: close" is its own hop's: the client keeps its connection */
	cr_expect_null(strcasestr(r.head, "Connection: close"), "%s", r.head);
	finish_ok(&r);
}

Test(cgi_response, local_redirect_is_a_get, .fini = teardown, .timeout = 30)
{
	struct gw_response r;
	start_and_request(CGI_CONFIG, "POST /cgi-bin/redirect.sh?orig=1 HTTP/1.1\r\nHost: t\r\n"
	             "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n"
	             "Connection: close\r\n\r\na=1", &r);
	cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);
	char *loc = gw_header(&r, "Location");
	cr_expect_null(loc, "a local redirect is not shown to the client: Location: %s", loc);
	free(loc);
	expect_field(r.body, "env:SCRIPT_NAME=", "/cgi-bin/sub/env.pl");
	expect_field(r.body, "env:REQUEST_METHOD=", "GET");
	expect_field(r.body, "env:QUERY_STRING=", "redirected=yes");
	expect_field(r.body, "env:REQUEST_URI=", "/cgi-bin/sub/env.pl?redirected=yes");
	expect_no_field(r.body, "env:CONTENT_LENGTH=");
	expect_no_field(r.body, "env:CONTENT_TYPE=");
	expect_field(r.body, "stdin-bytes:", "0");
	finish_ok(&r);
}

Test(cgi_response, redirect_loop_capped, .fini = teardown, .timeout = 30)
{
	struct gw_response r;
	char req[600], runs[400];
	gw_start(&G, CGI_CONFIG);
	snprintf(runs, sizeof runs, "%s/loop-runs", G.dir);
	snprintf(req, sizeof req, "GET /cgi-bin/loop.sh?%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
	         runs);
	must_request(req, &r);
	cr_assert_eq(r.status, 500, "status %d", r.status);
	char *rid = page_rid(r.body);
	cr_assert_not_null(rid, "no request id in the error page");
	cr_expect(log_has_rid(G.error_log, rid, "more than 10 local redirects", 3),
	          "the error log does not say why (req=%s)", rid);
	/* The first run and 10 redirects, no more. */
	char *text = gw_read_file(runs);
	int n = 0;
	for (char *p = text; p && (p = strstr(p, "run\n")); p += 4)
		n++;
	cr_expect_eq(n, 11, "loop.sh ran %d times", n);
	free(text);
	free(rid);
	finish_ok(&r);
}

Test(cgi_response, client_redirect_302, .fini = teardown, .timeout = 30)
{
	struct gw_response r;
	start_and_request(CGI_CONFIG, "GET /cgi-bin/client-redirect.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
	cr_expect_eq(r.status, 302);
	char *loc = gw_header(&r, "Location");
	cr_expect(loc && strcmp(loc, "http://example.com/elsewhere?x=1") == 0, "Location: %s", loc);
	free(loc);
	finish_ok(&r);
}

Test(cgi_response, nph_passed_through_raw, .fini = teardown, .timeout = 30)
{
	static const char want[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Nph: raw\r\n"
	                           "connection: close\r\n\r\nraw body from nph\n";
	size_t n;
	gw_start(&G, CGI_CONFIG);
	const char *req = "GET /cgi-bin/nph-raw.sh HTTP/1.1\r\nHost: t\r\n\r\n";
	char *raw = gw_exchange(G.port, req, strlen(req), 10, &n);
	cr_expect_eq(n, strlen(want), "got %zu bytes: %s", n, raw);
	cr_expect_str_eq(raw, want, "NPH output must pass unchanged");
	free(raw);
	finish_ok(NULL);
}

/* nolength.sh's answer, as the framing of its protocol carries it: chunked on
 * HTTP/1.1, else to the close; never a Content-Length, the body whole. */
static void expect_nolength_answer(const char *what, const struct gw_response *r, bool chunked)
{
	cr_expect_eq(r->status, 200, "%s: status %d", what, r->status);
	if (chunked)
		cr_expect(r->chunked, "%s: without a length must be chunked: %s", what, r->head);
	else
		cr_expect(!r->chunked && r->closed, "%s: %s", what, r->head);
	char *cl = gw_header(r, "Content-Length");
	cr_expect_null(cl, "%s: Content-Length %s", what, cl);
	free(cl);
	cr_expect_str_eq(r->body, "first piece\nsecond piece\nthird piece\n", "%s", what);
}

Test(cgi_response, no_length_chunked_or_close, .fini = teardown, .timeout = 30)
{
	struct gw_response r;
	gw_start(&G, CGI_CONFIG);

	/* HTTP/1.1: chunked, and the connection stays usable */
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	const char *req11 = "GET /cgi-bin/nolength.sh HTTP/1.1\r\nHost: t\r\n\r\n";
	for (int k = 0; k < 2; k++) {
		gw_send_all(fd, req11, strlen(req11));
		cr_assert_eq(gw_read_response(fd, false, 10, &r), 0, "response %d on one connection", k);
		expect_nolength_answer("HTTP/1.1", &r, true);
		gw_response_free(&r);
	}
	close(fd);

	/* HTTP/1.0, even asking for keep-alive: no framing, the close ends the body */
	static const char *const http10[][2] = {
		{"HTTP/1.0", "GET /cgi-bin/nolength.sh HTTP/1.0\r\n\r\n"},
		{"HTTP/1.0 keep-alive", "GET /cgi-bin/nolength.sh HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
	};
	for (size_t k = 0; k < sizeof http10 / sizeof http10[0]; k++) {
		size_t n;
		char *raw = gw_exchange(G.port, http10[k][1], strlen(http10[k][1]), 10, &n);
		cr_assert_eq(parse_raw(raw, n, &r), 0, "%s: %s", http10[k][0], raw);
		expect_nolength_answer(http10[k][0], &r, false);
		gw_response_free(&r);
		free(raw);
	}

	/* HEAD: the head only, and the connection goes on */
	fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	const char *head = "HEAD /cgi-bin/nolength.sh HTTP/1.1\r\nHost: t\r\n\r\n";
	gw_send_all(fd, head, strlen(head));
	cr_assert_eq(gw_read_response(fd, true, 10, &r), 0);
	cr_expect_eq(r.status, 200);
	gw_response_free(&r);
	gw_send_all(fd, req11, strlen(req11));
	cr_assert_eq(gw_read_response(fd, false, 10, &r), 0, "no answer after a HEAD");
	/* a body sent for the HEAD would show here */
	expect_nolength_answer("HTTP/1.1 after a HEAD", &r, true);
	gw_response_free(&r);
	close(fd);
	finish_ok(NULL);
}

/* Pipelined requests, a body among them, answered in order on one connection. */
Test(cgi_response, pipelined_keepalive, .fini = teardown, .timeout = 30)
{
	static const char reqs[] =
		"GET /cgi-bin/argv.sh?one HTTP/1.1\r\nHost: t\r\n\r\n"
		"POST /cgi-bin/sha256.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world"
		"GET /cgi-bin/nolength.sh HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /cgi-bin/argv.sh?four HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	static const char *const want[] = {
		"argc=1\n[one]\n",
		"11 b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9\n",
		"first piece\nsecond piece\nthird piece\n",
		"argc=1\n[four]\n",
	};
	gw_start(&G, CGI_CONFIG);
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	gw_send_all(fd, reqs, strlen(reqs));
	for (int k = 0; k < 4; k++) {
		struct gw_response r;
		cr_assert_eq(gw_read_response(fd, false, 10, &r), 0, "pipelined response %d", k);
		cr_expect_eq(r.status, 200, "response %d: %d", k, r.status);
		cr_expect_str_eq(r.body, want[k], "response %d", k);
		gw_response_free(&r);
	}
	cr_expect(socket_closed(fd, 3), "Connection: close was not honoured");
	close(fd);
	finish_ok(NULL);
}

/* 502 with the request id, and a log line about it that says why. */
static void expect_502(const char *script, const char *why)
{
	struct gw_response r;
	char req[256];
	snprintf(req, sizeof req, "GET /cgi-bin/%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", script);
	must_request(req, &r);
	cr_expect_eq(r.status, 502, "%s: status %d", script, r.status);
	char *rid = page_rid(r.body);
	cr_expect_not_null(rid, "%s: no request id in the error page", script);
	if (rid)
		cr_expect(log_has_rid(G.error_log, rid, why, 3), "%s: no log line req=%s: ...%s", script,
		          rid, why);
	free(rid);
	gw_response_free(&r);
}

Test(cgi_response, bad_scripts_502, .fini = teardown, .timeout = 30)
{
	gw_start(&G, CGI_CONFIG);
	expect_502("malformed.sh", "malformed header: ");
	/* ...and the line names the reason after the colon */
	char *line = gw_log_line_with(G.error_log, "malformed header: ", NULL, 1);
	cr_assert_not_null(line);
	const char *why = strstr(line, "malformed header: ") + 18;
	cr_expect(strlen(why) > 3, "no reason given: %s", line);
	free(line);
	expect_502("silent.sh", "produced no output");
	expect_502("crash.sh", "killed by signal 11");
	finish_ok(NULL);
}

/* ---- 6. stderr ------------------------------------------------------------ */

Test(cgi_stderr, lines_in_error_log_with_request_id, .fini = teardown, .timeout = 30)
{
	gw_start(&G, CGI_CONFIG);
	char *rids[2];
	for (int k = 0; k < 2; k++) {
		struct gw_response r;
		must_request("GET /cgi-bin/stderr.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
		cr_assert_eq(r.status, 200);
		cr_expect_null(strstr(r.body, "stderr line"), "stderr went into the body");
		rids[k] = gw_field(r.body, "");
		cr_assert(rids[k] && strlen(rids[k]) == 16, "request id: %s", rids[k]);
		gw_response_free(&r);
	}
	cr_expect_str_neq(rids[0], rids[1]);
	for (int k = 0; k < 2; k++) {
		cr_expect(log_has_rid(G.error_log, rids[k], "stderr line one from stderr.sh", 3),
		          "line one not logged with req=%s", rids[k]);
		cr_expect(log_has_rid(G.error_log, rids[k], "stderr line two from stderr.sh", 3),
		          "line two not logged with req=%s", rids[k]);
		free(rids[k]);
	}
	finish_ok(NULL);
}

/* ---- 7. timeouts ------------------------------------------------------------ */

Test(cgi_timeout, killed_504_then_sigkill, .fini = teardown, .timeout = 30)
{
	char pa[400], pb[400], ca[420], cb[420], req[1024];
	gw_start(&G, "{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	             " \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@FIX@/cgi-bin\",\"timeout\":1,"
	             "   \"kill_grace\":1}}],"
	             " \"timeouts\":{\"header\":2,\"body\":2,\"keepalive\":2,\"shutdown\":3}}");
	snprintf(pa, sizeof pa, "%s/slow.pid", G.dir);
	snprintf(pb, sizeof pb, "%s/stubborn.pid", G.dir);
	snprintf(ca, sizeof ca, "%s.child", pa);
	snprintf(cb, sizeof cb, "%s.child", pb);

	/* Both at once: sleep.sh dies of SIGTERM, ignore-term.sh needs SIGKILL. */
	int fa = gw_connect(G.port), fb = gw_connect(G.port);
	cr_assert(fa >= 0 && fb >= 0);
	snprintf(req, sizeof req, "GET /cgi-bin/sleep.sh?30+%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", pa);
	gw_send_all(fa, req, strlen(req));
	snprintf(req, sizeof req, "GET /cgi-bin/ignore-term.sh?%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", pb);
	gw_send_all(fb, req, strlen(req));
	pid_t a = gw_wait_pidfile(pa, 5), b = gw_wait_pidfile(pb, 5);
	pid_t a2 = gw_wait_pidfile(ca, 1), b2 = gw_wait_pidfile(cb, 1);
	cr_assert(a > 0 && b > 0 && a2 > 0 && b2 > 0, "the scripts did not start");

	struct gw_response r;
	double t0 = gw_now();
	cr_assert_eq(gw_read_response(fa, false, 10, &r), 0);
	cr_expect_eq(r.status, 504);
	char *rid_a = page_rid(r.body);
	gw_response_free(&r);
	cr_assert_eq(gw_read_response(fb, false, 10, &r), 0);
	cr_expect_eq(r.status, 504);
	char *rid_b = page_rid(r.body);
	gw_response_free(&r);
	close(fa);
	close(fb);
	cr_expect_lt(gw_now() - t0, 3, "the 504s took %.1f s with a 1 s timeout", gw_now() - t0);
	cr_assert(rid_a && rid_b);
	cr_expect(log_has_rid(G.error_log, rid_a, "ran over its 1.0 s timeout", 2));

	/* SIGTERM to the group: the script and its grandchild go at once. */
	cr_expect(gw_wait_gone(a, 2), "sleep.sh (pid %d) outlived its timeout", (int)a);
	cr_expect(gw_wait_gone(a2, 2), "sleep.sh's grandchild (pid %d) outlived its timeout", (int)a2);
	/* SIGTERM ignored: SIGKILL after kill_grace, grandchild included. */
	cr_expect(gw_wait_gone(b, 4), "ignore-term.sh (pid %d) survived SIGKILL", (int)b);
	cr_expect(gw_wait_gone(b2, 4), "ignore-term.sh's grandchild (pid %d) survived", (int)b2);
	cr_expect(log_has_rid(G.error_log, rid_b, "ignored SIGTERM for 1.0 s: SIGKILL", 2),
	          "no SIGKILL log line for req=%s", rid_b);
	free(rid_a);
	free(rid_b);
	finish_ok(NULL);
}

/* ---- 8. client disconnect ------------------------------------------------------- */

Test(cgi_disconnect, client_gone_script_killed, .fini = teardown, .timeout = 30)
{
	gw_start(&G, CGI_CONFIG);
	struct sleeper gone = start_sleeper("/cgi-bin/", 30, "gone", "");
	close(gone.fd);
	cr_expect(gw_wait_gone(gone.script, 3), "the script (pid %d) still runs 3 s after its client left",
	          (int)gone.script);
	cr_expect(gw_wait_gone(gone.child, 3), "its grandchild (pid %d) still runs", (int)gone.child);
	/* ...and the daemon still answers. */
	struct gw_response r;
	must_request("GET /cgi-bin/argv.sh HTTP/1.0\r\n\r\n", &r);
	cr_expect_eq(r.status, 200);
	finish_ok(&r);
}

/* ---- 9. the concurrency limit ----------------------------------------------- */

/* The route /one/: one script at a time, a queue of queue waiting queue_timeout s at most. */
#define ONE_SLOT_ROUTE(queue, queue_timeout)                                                    \
	"{\"match\":\"/one/\",\"cgi\":{\"root\":\"@FIX@/cgi-bin\",\"timeout\":10,"                \
	"\"max_children\":1,\"queue\":" #queue ",\"queue_timeout\":" #queue_timeout "}}"

Test(cgi_limit, full_queue_and_queue_timeout_503, .fini = teardown, .timeout = 30)
{
	gw_start(&G, "{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	             " \"routes\":[" ONE_SLOT_ROUTE(1, 1) "],"
	             " \"timeouts\":{\"header\":5,\"body\":2,\"keepalive\":2,\"shutdown\":3}}");
	int fa = start_sleeper("/one/", 3, "busy", "Connection: close\r\n").fd;

	/* Two more: one waits in the queue (then times out), one finds it full. */
	int fb = gw_connect(G.port), fc = gw_connect(G.port);
	cr_assert(fb >= 0 && fc >= 0);
	const char *quick = "GET /one/argv.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	double t0 = gw_now();
	gw_send_all(fb, quick, strlen(quick));
	gw_send_all(fc, quick, strlen(quick));
	struct pollfd p[2] = {{.fd = fb, .events = POLLIN}, {.fd = fc, .events = POLLIN}};
	double when[2] = {0, 0};
	for (int k = 0; k < 100 && (!when[0] || !when[1]); k++) {
		if (poll(p, 2, 50) < 0)
			break;
		for (int i = 0; i < 2; i++)
			if (!when[i] && (p[i].revents & POLLIN)) {
				when[i] = gw_now() - t0;
				p[i].events = 0;
			}
	}
	cr_assert(when[0] > 0 && when[1] > 0, "no answer within 5 s");
	int fds[2] = {fb, fc};
	for (int i = 0; i < 2; i++) {
		struct gw_response r;
		cr_assert_eq(gw_read_response(fds[i], false, 5, &r), 0);
		cr_expect_eq(r.status, 503, "status %d", r.status);
		char *ra = gw_header(&r, "Retry-After");
		cr_expect_not_null(ra, "503 without Retry-After");
		free(ra);
		gw_response_free(&r);
		close(fds[i]);
	}
	double fast = when[0] < when[1] ? when[0] : when[1];
	double slow = when[0] < when[1] ? when[1] : when[0];
	cr_expect_lt(fast, 0.8, "the full queue answered after %.2f s", fast);
	cr_expect(slow >= 0.9 && slow < 2.5, "the queued request answered after %.2f s (queue_timeout 1)",
	          slow);
	cr_expect(gw_log_contains(G.error_log, "running and 1 waiting: 503", 2));
	cr_expect(gw_log_contains(G.error_log, "no cgi slot within 1.0 s", 2));

	/* A client that leaves while queued: its place is given up cleanly. */
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	gw_send_all(fd, quick, strlen(quick));
	close(fd);

	/* The running one is not disturbed. */
	struct gw_response r;
	cr_assert_eq(gw_read_response(fa, false, 10, &r), 0);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "slept 3\n");
	gw_response_free(&r);
	close(fa);
	/* The slot is free again. */
	must_request("GET /one/argv.sh?again HTTP/1.0\r\n\r\n", &r);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "argc=1\n[again]\n");
	finish_ok(&r);
}

/* ---- 10. ISINDEX ---------------------------------------------------------------- */

Test(cgi_isindex, query_becomes_argv, .fini = teardown, .timeout = 30)
{
	static const struct {
		const char *request, *argv, *why;
	} cases[] = {
		{"GET /cgi-bin/argv.sh?foo+bar%21 HTTP/1.0\r\n\r\n", "argc=2\n[foo]\n[bar!]\n",
		 "an ISINDEX query: its words, decoded"},
		{"GET /cgi-bin/argv.sh?foo=bar+baz HTTP/1.0\r\n\r\n", "argc=0\n",
		 "a query with '=' is not ISINDEX"},
		{"GET /cgi-bin/argv.sh HTTP/1.0\r\n\r\n", "argc=0\n", "no query"},
	};
	gw_start(&G, CGI_CONFIG);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct gw_response r;
		must_request(cases[i].request, &r);
		cr_expect_eq(r.status, 200, "%s: status %d", cases[i].why, r.status);
		cr_expect_str_eq(r.body, cases[i].argv, "%s", cases[i].why);
		gw_response_free(&r);
	}
	finish_ok(NULL);
}

/* ---- 11. scripts that cannot run ------------------------------------------------- */

Test(cgi_resolve, missing_not_executable_escaping_directory, .fini = teardown, .timeout = 30)
{
	char root[400], path[500], target[PATH_MAX];
	/* A root of the test's own, with a symlink out of it and one inside it. */
	gw_write_config(&G, "{}");
	snprintf(root, sizeof root, "%s/root", G.dir);
	cr_assert_eq(mkdir(root, 0755), 0);
	snprintf(path, sizeof path, "%s/real.sh", root);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\ninside\\n'\n", f);
	fclose(f);
	cr_assert_eq(chmod(path, 0755), 0);
	snprintf(path, sizeof path, "%s/inside.sh", root);
	cr_assert_eq(symlink("real.sh", path), 0);
	src_real("test/fixtures/cgi-bin/argv.sh", target); /* executable, outside this root */
	snprintf(path, sizeof path, "%s/escape.sh", root);
	cr_assert_eq(symlink(target, path), 0);

	gw_start(&G, "{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	             " \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@FIX@/cgi-bin\"}},"
	             "   {\"match\":\"/own/\",\"cgi\":{\"root\":\"@DIR@/root\"}}],"
	             " \"timeouts\":{\"header\":2,\"body\":2,\"keepalive\":2,\"shutdown\":3}}");
	static const struct {
		const char *path;
		int status;
		const char *log;
	} cases[] = {
		{"/cgi-bin/nope.sh", 404, "no script"},
		{"/cgi-bin/nope/deeper.sh", 404, "no script"},
		{"/cgi-bin/not-executable.sh", 403, "is not executable"},
		{"/own/escape.sh", 404, "resolves outside the cgi root"},
		{"/cgi-bin/sub/", 403, "is a directory"},
		{"/cgi-bin/sub", 403, "is a directory"},
		{"/own/inside.sh", 200, NULL},
		{"/own/real.sh", 200, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct gw_response r;
		char req[256];
		snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", cases[i].path);
		must_request(req, &r);
		cr_expect_eq(r.status, cases[i].status, "%s: status %d, want %d", cases[i].path, r.status,
		             cases[i].status);
		if (cases[i].log) {
			char *rid = page_rid(r.body);
			cr_expect(rid && log_has_rid(G.error_log, rid, cases[i].log, 2),
			          "%s: no log line \"%s\" for req=%s", cases[i].path, cases[i].log, rid);
			free(rid);
		} else {
			cr_expect_str_eq(r.body, "inside\n");
		}
		gw_response_free(&r);
	}
	finish_ok(NULL);
}

/* ---- 12. load: no zombie, no child, no descriptor left ----------------------------- */

Test(cgi_load, sequential_and_concurrent_leave_nothing, .fini = teardown, .timeout = 60)
{
	struct gw_response r;
	gw_start(&G, "{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	             " \"routes\":[{\"match\":\"/ex/\",\"cgi\":{\"root\":\"@BUILD@/examples/cgi-bin\","
	             "   \"timeout\":20,\"max_children\":64,\"queue\":64,\"queue_timeout\":20}}],"
	             " \"timeouts\":{\"header\":5,\"body\":5,\"keepalive\":5,\"shutdown\":3}}");
	must_request("GET /ex/hello.cgi HTTP/1.0\r\n\r\n", &r); /* warm up */
	cr_assert_eq(r.status, 200);
	gw_response_free(&r);
	int fds_before = settled_fds(G.pid);
	cr_assert_gt(fds_before, 0);

	/* 1000 sequential: 800 on one keep-alive connection, 200 on new ones */
	const char *ka = "GET /ex/hello.cgi?ka HTTP/1.1\r\nHost: t\r\n\r\n";
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	for (int i = 0; i < 800; i++) {
		gw_send_all(fd, ka, strlen(ka));
		cr_assert_eq(gw_read_response(fd, false, 10, &r), 0, "keep-alive request %d", i);
		cr_assert_eq(r.status, 200, "keep-alive request %d: %d", i, r.status);
		cr_assert(strncmp(r.body, "Hello from C", 12) == 0, "request %d: %s", i, r.body);
		gw_response_free(&r);
	}
	close(fd);
	for (int i = 0; i < 200; i++) {
		must_request("GET /ex/hello.cgi?new HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
		cr_assert_eq(r.status, 200, "request %d on a new connection: %d", i, r.status);
		gw_response_free(&r);
	}

	/* 64 at once: all connected, all sent, then all read */
	int conns[64];
	const char *req = "GET /ex/hello.cgi?concurrent HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	for (int i = 0; i < 64; i++) {
		conns[i] = gw_connect(G.port);
		cr_assert(conns[i] >= 0, "connection %d", i);
	}
	for (int i = 0; i < 64; i++)
		gw_send_all(conns[i], req, strlen(req));
	int ok = 0;
	for (int i = 0; i < 64; i++) {
		if (gw_read_response(conns[i], false, 20, &r) == 0 && r.status == 200 &&
		    strncmp(r.body, "Hello from C", 12) == 0)
			ok++;
		gw_response_free(&r);
		close(conns[i]);
	}
	cr_expect_eq(ok, 64, "%d of 64 concurrent requests answered 200", ok);

	/* Nothing left: children reaped, descriptors back to where they were. */
	pid_t pid = G.pid;
	cr_expect(gw_wait_until(gw_no_children, &pid, 5), "gatewayd still has %d children",
	          gw_count_children(pid, NULL));
	int zombies = -1;
	cr_expect_eq(gw_count_children(pid, &zombies), 0);
	cr_expect_eq(zombies, 0, "%d zombies", zombies);
	struct gw_fd_probe probe = {pid, fds_before};
	cr_expect(gw_wait_until(gw_fds_are, &probe, 5), "gatewayd holds %d fds, %d before the load",
	          gw_count_fds(pid), fds_before);
	finish_ok(NULL);
}

/* ---- 13. SIGTERM with a request in flight ---------------------------------------- */

Test(cgi_shutdown, sigterm_finishes_in_flight, .fini = teardown, .timeout = 30)
{
	gw_start(&G, CGI_CONFIG);
	struct sleeper inflight = start_sleeper("/cgi-bin/", 1, "inflight", "");

	cr_assert_eq(kill(G.pid, SIGTERM), 0);
	struct gw_response r;
	cr_assert_eq(gw_read_response(inflight.fd, false, 10, &r), 0,
	             "the in-flight request got no answer");
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body, "slept 1\n");
	char *conn = gw_header(&r, "Connection");
	cr_expect(conn && strcasecmp(conn, "close") == 0, "a stopping server closes: Connection: %s", conn);
	free(conn);
	gw_response_free(&r);
	cr_expect(socket_closed(inflight.fd, 3), "the connection was not closed after the answer");
	close(inflight.fd);

	/* It exits by itself, 0, with no child behind. */
	int st = exit_after_sigterm(5);
	cr_assert(st != -1, "gatewayd did not exit within 5 s of SIGTERM");
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "gatewayd exit status %d", st);
	cr_expect(!gw_pid_alive(inflight.script) && !gw_pid_alive(inflight.child),
	          "a script process outlived gatewayd");
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* A script slower than the shutdown deadline is killed, and gatewayd still exits 0. */
Test(cgi_shutdown, deadline_kills_slow_script, .fini = teardown, .timeout = 30)
{
	gw_start(&G, "{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	             " \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@FIX@/cgi-bin\",\"timeout\":20,"
	             "   \"kill_grace\":1}}],"
	             " \"timeouts\":{\"header\":2,\"body\":2,\"keepalive\":2,\"shutdown\":1}}");
	struct sleeper slow = start_sleeper("/cgi-bin/", 30, "slow", "");

	double t0 = gw_now();
	cr_assert_eq(kill(G.pid, SIGTERM), 0);
	int st = exit_after_sigterm(6);
	cr_assert(st != -1, "gatewayd did not exit within 6 s of SIGTERM (shutdown deadline 1 s)");
	cr_expect_lt(gw_now() - t0, 4, "exit took %.1f s", gw_now() - t0);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "gatewayd exit status %d", st);
	cr_expect(gw_wait_gone(slow.script, 2) && gw_wait_gone(slow.child, 2),
	          "the script outlived gatewayd");
	cr_expect(socket_closed(slow.fd, 2), "the client's connection was left open");
	close(slow.fd);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* ---- 12. Server-Timing -------------------------------------------------------- */

struct server_timing {
	double spawn, queue, app, total;
};

/* Parse "spawn;dur=A, queue;dur=B, app;dur=C, total;dur=D" from resp. */
static bool server_timing_of(const struct gw_response *resp, struct server_timing *t)
{
	char *v = gw_header(resp, "Server-Timing");
	if (!v)
		return false;
	int n = sscanf(v, "spawn;dur=%lf, queue;dur=%lf, app;dur=%lf, total;dur=%lf", &t->spawn,
	               &t->queue, &t->app, &t->total);
	if (n != 4)
		cr_log_warn("Server-Timing: %s", v);
	free(v);
	return n == 4;
}

Test(server_timing, on_cgi_queued_static_and_error_responses, .fini = teardown, .timeout = 30)
{
	char req[1024];
	gw_start(&G, "{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	             " \"routes\":[" ONE_SLOT_ROUTE(4, 5) ","
	             "  {\"match\":\"/\",\"static\":{\"root\":\"@FIX@/front/htdocs\"}}]}");
	struct server_timing t;
	struct gw_response r;

	/* A CGI script: a process was created, the script took its time. */
	must_request("GET /one/argv.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
	cr_expect_eq(r.status, 200);
	cr_assert(server_timing_of(&r, &t), "no well-formed Server-Timing on a CGI response");
	cr_expect_gt(t.spawn, 0, "spawn %.3f ms", t.spawn);
	cr_expect_gt(t.app, 0, "app %.3f ms", t.app);
	cr_expect_eq(t.queue, 0, "queue %.3f ms with a free slot", t.queue);
	cr_expect_geq(t.total + 0.001, t.spawn + t.app, "total %.3f < spawn %.3f + app %.3f", t.total,
	              t.spawn, t.app);
	gw_response_free(&r);

	/* The only slot is busy for 1 s: the next request's wait shows as queue. */
	int fa = start_sleeper("/one/", 1, "busy", "Connection: close\r\n").fd;
	must_request("GET /one/argv.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
	cr_expect_eq(r.status, 200);
	cr_assert(server_timing_of(&r, &t));
	cr_expect(t.queue > 300 && t.queue < 3000, "queue %.3f ms behind a 1 s script", t.queue);
	cr_expect_geq(t.total + 0.001, t.queue + t.spawn + t.app, "total %.3f < queue %.3f + spawn %.3f + app %.3f",
	              t.total, t.queue, t.spawn, t.app);
	gw_response_free(&r);
	cr_assert_eq(gw_read_response(fa, false, 5, &r), 0);
	cr_assert(server_timing_of(&r, &t));
	cr_expect(t.app > 500, "app %.3f ms for a script that slept 1 s", t.app);
	gw_response_free(&r);
	close(fa);

	/* A static file and a 404: nothing spawned, no application. */
	const char *paths[] = {"/index.html", "/no-such-file"};
	const int statuses[] = {200, 404};
	for (int i = 0; i < 2; i++) {
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", paths[i]);
		must_request(req, &r);
		cr_expect_eq(r.status, statuses[i], "%s: %d", paths[i], r.status);
		cr_assert(server_timing_of(&r, &t), "no Server-Timing on %s", paths[i]);
		cr_expect(t.spawn == 0 && t.app == 0 && t.queue == 0, "%s: spawn %.3f app %.3f queue %.3f",
		          paths[i], t.spawn, t.app, t.queue);
		cr_expect_geq(t.total, 0);
		gw_response_free(&r);
	}
	finish_ok(NULL);
}

/* ---- virtual hosts and per-user directories ------------------------------ */

/* path (under G.dir) holding text, mode; owned by uid:gid. */
static void put_file(const char *path, const char *text, mode_t mode, uid_t uid, gid_t gid)
{
	char full[512];
	snprintf(full, sizeof full, "%s/%s", G.dir, path);
	FILE *f = fopen(full, "w");
	cr_assert_not_null(f, "%s: %s", full, strerror(errno));
	fputs(text, f);
	fclose(f);
	cr_assert_eq(chmod(full, mode), 0);
	cr_assert_eq(chown(full, uid, gid), 0);
}

static void put_dir(const char *path, uid_t uid, gid_t gid)
{
	char full[512];
	snprintf(full, sizeof full, "%s/%s", G.dir, path);
	cr_assert_eq(mkdir(full, 0755), 0, "%s: %s", full, strerror(errno));
	cr_assert_eq(chown(full, uid, gid), 0);
}

/* "host" routes: the Host header (less its port) picks them, case aside;
 * "*.b.test" takes the names under b.test; other hosts fall through. */
Test(cgi_vhosts, host_header_picks_the_route, .fini = teardown, .timeout = 30)
{
	gw_write_config(&G, "{}");
	const char *names[] = {"a", "b", "any"};
	for (int i = 0; i < 3; i++) {
		char dir[64], file[80], text[16];
		snprintf(dir, sizeof dir, "%s", names[i]);
		put_dir(dir, 0, 0);
		snprintf(file, sizeof file, "%s/who.txt", names[i]);
		snprintf(text, sizeof text, "site %s\n", names[i]);
		put_file(file, text, 0644, 0, 0);
	}
	gw_start(&G, "{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}], \"routes\": ["
	             "{\"match\": \"/\", \"host\": \"a.test\", \"static\": {\"root\": \"@DIR@/a\"}},"
	             "{\"match\": \"/\", \"host\": [\"*.b.test\"], \"static\": {\"root\": \"@DIR@/b\"}},"
	             "{\"match\": \"/\", \"static\": {\"root\": \"@DIR@/any\"}}]}");
	static const struct {
		const char *host, *site;
	} cases[] = {
		{"a.test", "site a"}, {"A.TEST:8080", "site a"}, {"www.b.test", "site b"},
		{"b.test", "site any"}, {"c.test", "site any"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char raw[256];
		struct gw_response r;
		snprintf(raw, sizeof raw, "GET /who.txt HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
		         cases[i].host);
		must_request(raw, &r);
		cr_expect_eq(r.status, 200, "%s: %d", cases[i].host, r.status);
		cr_expect(r.body && strstr(r.body, cases[i].site), "Host %s: got %s, want %s",
		          cases[i].host, r.body, cases[i].site);
		gw_response_free(&r);
	}
	finish_ok(NULL);
}

static char userdir_user[32];

static void userdir_teardown(void)
{
	gw_cleanup(&G);
	if (userdir_user[0]) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "userdel %s 2>/dev/null", userdir_user);
		cr_expect_eq(system(cmd), 0, "userdel %s", userdir_user);
		userdir_user[0] = '\0';
	}
}

/* suEXEC's userdir mode: /~NAME/x.cgi runs NAME's script as NAME (the
 * dispatcher runs as www-data); no such user or no directory: 404; a script
 * there owned by someone else: 403. */
Test(cgi_userdir, scripts_run_as_their_user, .fini = userdir_teardown, .timeout = 30)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (useradd, and gatewayd drops to www-data)");
	gw_write_config(&G, "{}");
	cr_assert_eq(chmod(G.dir, 0755), 0);
	snprintf(userdir_user, sizeof userdir_user, "gwu%d", (int)getpid() % 100000);
	char cmd[512];
	snprintf(cmd, sizeof cmd, "useradd -M -d %s/home -s /usr/sbin/nologin %s", G.dir,
	         userdir_user);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	struct passwd *pw = getpwnam(userdir_user);
	cr_assert_not_null(pw);
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	put_dir("home", uid, gid);
	put_dir("home/public_html", uid, gid);
	put_dir("home/public_html/cgi-bin", uid, gid);
	put_file("home/public_html/cgi-bin/id.cgi",
	         "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nuid=%s gid=%s\\n' \"$(id -u)\" "
	         "\"$(id -g)\"\n",
	         0755, uid, gid);
	put_file("home/public_html/cgi-bin/foreign.cgi", "#!/bin/sh\necho\n", 0755, 65534, 65534);
	gw_start(&G, "{\"user\": \"www-data\", \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	             " \"routes\": [{\"match\": \"/~\", \"cgi\": {\"userdir\": \"public_html/cgi-bin\"}}]}");
	char raw[256], want[64];
	struct gw_response r;
	snprintf(raw, sizeof raw, "GET /~%s/id.cgi HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
	         userdir_user);
	must_request(raw, &r);
	snprintf(want, sizeof want, "uid=%u gid=%u", (unsigned)uid, (unsigned)gid);
	cr_expect_eq(r.status, 200, "/~%s/id.cgi: %d %s", userdir_user, r.status, r.body);
	cr_expect(r.body && strstr(r.body, want), "got %s, want %s", r.body, want);
	gw_response_free(&r);

	snprintf(raw, sizeof raw,
	         "GET /~%s/foreign.cgi HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
	         userdir_user);
	must_request(raw, &r);
	cr_expect_eq(r.status, 403, "a script owned by nobody in %s's directory: %d", userdir_user,
	             r.status);
	gw_response_free(&r);
	cr_expect(gw_log_contains(G.error_log, "file-owner", 2), "no file-owner check in the log");

	const char *missing[] = {"/~gw-no-such-user/id.cgi", "/~root/id.cgi", "/~/id.cgi",
	                         "/~..%2f/id.cgi"};
	for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
		snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		         missing[i]);
		must_request(raw, &r);
		cr_expect(r.status == 404 || r.status == 403, "%s: %d", missing[i], r.status);
		gw_response_free(&r);
	}
	finish_ok(NULL);
}
