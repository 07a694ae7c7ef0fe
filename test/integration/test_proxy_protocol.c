/* The client behind a balancer: the PROXY protocol (v1, v2) on an HTTP
 * listener that enables it, trusted_proxies, X-Forwarded-For and Forwarded
 * from trusted peers, and a trusted balancer's X-Request-Id. The real binary,
 * real sockets; what the script sees is test/fixtures/cgi-bin/sub/env.pl's
 * "env:NAME=value" lines. An untrusted peer is this test's socket bound to
 * 127.0.0.2 (the whole of 127/8 is loopback). */
#include "test/integration/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct gw_proc G;

static void teardown(void)
{
	gw_stop_ok(&G, 5, NULL);
}

#define ROUTES                                                                                  \
	" \"routes\":[{\"match\":\"/cgi-bin/\",\"cgi\":{\"root\":\"@FIX@/cgi-bin\",\"timeout\":5}}]," \
	" \"timeouts\":{\"header\":1,\"body\":2,\"keepalive\":2,\"shutdown\":3}"

/* a PROXY listener; 127.0.0.1 trusted (and 10/8, for the walk) */
#define PP_CONFIG                                                                               \
	"{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\",\"proxy_protocol\":true}],"                \
	" \"trusted_proxies\":[\"127.0.0.1\",\"10.0.0.0/8\",\"2001:db8:ffff::/48\"]," ROUTES "}"
/* a plain listener, the same trust */
#define PLAIN_CONFIG                                                                            \
	"{\"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                                        \
	" \"trusted_proxies\":[\"127.0.0.1\",\"10.0.0.0/8\",\"2001:db8:ffff::/48\"]," ROUTES "}"

#define GET_ENV "GET /cgi-bin/sub/env.pl HTTP/1.1\r\nHost: a\r\n"
#define V2_SIG "\r\n\r\n\0\r\nQUIT\n"

/* A connection from source (127.0.0.1 or 127.0.0.2) to 127.0.0.1:port, or -1. */
static int try_connect_from(const char *source, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0)
		return -1;
	if (inet_pton(AF_INET, source, &src.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_from(const char *source, int port)
{
	int fd = try_connect_from(source, port);
	cr_assert(fd >= 0, "connect from %s to port %d", source, port);
	return fd;
}

/* Send raw (len bytes) from source and read one response. */
static void exchange_from(const char *source, const void *raw, size_t len, struct gw_response *r)
{
	int fd = connect_from(source, G.port);
	gw_send_all(fd, raw, len);
	cr_assert_eq(gw_read_response(fd, false, 10, r), 0, "no response");
	close(fd);
}

/* Send raw from source: the answer is a 400 and the connection closes. */
static void expect_refused(const char *what, const char *source, const void *raw, size_t len)
{
	struct gw_response r;
	int fd = connect_from(source, G.port);
	gw_send_all(fd, raw, len);
	cr_assert_eq(gw_read_response(fd, false, 10, &r), 0, "%s: no response", what);
	cr_expect_eq(r.status, 400, "%s: status %d", what, r.status);
	char *conn = gw_header(&r, "Connection");
	cr_expect(conn && strcmp(conn, "close") == 0, "%s: Connection: %s", what, conn);
	free(conn);
	cr_expect(gw_closed_within(fd, 5), "%s: not closed", what);
	close(fd);
	gw_response_free(&r);
}

/* The access log's last line for the script holds want (the client, the id). */
static void expect_access(const char *want)
{
	char *line = NULL;
	for (int i = 0; i < 100 && !(line = gw_last_line_with(G.access_log, want)); i++)
		gw_sleep(0.02);
	cr_expect(line != NULL, "no access log line with \"%s\"", want);
	free(line);
}

/* The script ran and saw the client addr (and port, unless NULL), and the
 * access log names that client. */
static void expect_client(const char *what, const struct gw_response *r, const char *addr,
                          const char *port)
{
	char want[128];
	cr_expect_eq(r->status, 200, "%s: status %d", what, r->status);
	gw_expect_field(what, r->body, "env:REMOTE_ADDR=", addr);
	if (port)
		gw_expect_field(what, r->body, "env:REMOTE_PORT=", port);
	snprintf(want, sizeof want, "%s - - [", addr);
	expect_access(want);
}

static const char v2_tcp4[] = V2_SIG "\x21\x11\x00\x0c"
                                     "\xc0\x00\x02\x01" /* 192.0.2.1 */
                                     "\xc6\x33\x64\x02" /* 198.51.100.2 */
                                     "\xdc\x04\x01\xbb"; /* 56324, 443 */
static const char v2_tcp6[] = V2_SIG "\x21\x21\x00\x29" /* 36 + a 5-byte TLV */
                                     "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
                                     "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02"
                                     "\x30\x39\x00\x50" /* 12345, 80 */
                                     "\x01\x00\x02h2"; /* ALPN, skipped */

struct pp_case {
	const char *name;
	const char *header;
	size_t len;
	const char *addr, *port;
};

static const struct pp_case pp_cases[] = {
	{ "v1 TCP4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", 0, "192.0.2.1", "56324" },
	{ "v1 TCP6", "PROXY TCP6 2001:db8::1 2001:db8::2 12345 80\r\n", 0, "2001:db8::1", "12345" },
	{ "v2 TCP4", v2_tcp4, sizeof v2_tcp4 - 1, "192.0.2.1", "56324" },
	{ "v2 TCP6", v2_tcp6, sizeof v2_tcp6 - 1, "2001:db8::1", "12345" },
	{ "v2 LOCAL", V2_SIG "\x20\x00\x00\x00", 16, "127.0.0.1", NULL },
	{ "v1 UNKNOWN", "PROXY UNKNOWN\r\n", 0, "127.0.0.1", NULL },
};

/* Each header, then a request in the same write: the script's REMOTE_ADDR and
 * REMOTE_PORT are the header's source (LOCAL and UNKNOWN: the real peer), and
 * so is the access log's client. */
Test(proxy_protocol, headers_set_remote_addr, .fini = teardown, .timeout = 60)
{
	gw_start(&G, PP_CONFIG);
	for (size_t i = 0; i < sizeof pp_cases / sizeof pp_cases[0]; i++) {
		const struct pp_case *c = &pp_cases[i];
		size_t hl = c->len ? c->len : strlen(c->header);
		char raw[512];
		memcpy(raw, c->header, hl);
		memcpy(raw + hl, GET_ENV "Connection: close\r\n\r\n", sizeof GET_ENV + 21);
		struct gw_response r;
		exchange_from("127.0.0.1", raw, hl + sizeof GET_ENV - 1 + 21, &r);
		expect_client(c->name, &r, c->addr, c->port);
		gw_response_free(&r);
	}
}

/* The header in pieces, a byte a write: taken whole all the same. Then
 * keep-alive: three requests after one v2 header all come from its client. */
Test(proxy_protocol, split_header_and_keep_alive, .fini = teardown, .timeout = 60)
{
	gw_start(&G, PP_CONFIG);
	int fd = connect_from("127.0.0.1", G.port);
	for (size_t i = 0; i < sizeof v2_tcp6 - 1; i++) {
		gw_send_all(fd, v2_tcp6 + i, 1);
		gw_sleep(0.002);
	}
	for (int k = 0; k < 3; k++) {
		struct gw_response r;
		gw_send_all(fd, GET_ENV "\r\n", sizeof GET_ENV + 1);
		cr_assert_eq(gw_read_response(fd, false, 10, &r), 0, "request %d", k);
		cr_expect_eq(r.status, 200);
		cr_expect(!r.closed);
		gw_expect_field("keep-alive", r.body, "env:REMOTE_ADDR=", "2001:db8::1");
		gw_expect_field("keep-alive", r.body, "env:REMOTE_PORT=", "12345");
		gw_response_free(&r);
	}
	close(fd);
}

/* A header from a peer outside trusted_proxies: 400, closed, a log line
 * naming the peer and the reason. */
Test(proxy_protocol, untrusted_peer_refused, .fini = teardown, .timeout = 30)
{
	gw_start(&G, PP_CONFIG);
	static const char raw[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" GET_ENV "\r\n";
	expect_refused("untrusted", "127.0.0.2", raw, sizeof raw - 1);
	cr_expect(gw_log_contains(G.error_log,
	                          "PROXY protocol header from 127.0.0.2:", 2));
	cr_expect(gw_log_contains(G.error_log, "the peer is not in trusted_proxies", 2));
	expect_access("127.0.0.2 - - [");
}

struct bad_case {
	const char *name;
	const char *raw;
	size_t len;
	const char *why;
};

/* Malformed headers: 400, closed, the reason in the log. */
Test(proxy_protocol, malformed_refused, .fini = teardown, .timeout = 60)
{
	static const struct bad_case cases[] = {
		{ "no header", GET_ENV "\r\n", 0, "not a PROXY protocol header" },
		{ "v1 bad address", "PROXY TCP4 192.0.2 198.51.100.2 1 2\r\n" GET_ENV "\r\n", 0,
		  "v1 bad source address" },
		{ "v1 LF only", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n" GET_ENV "\r\n", 0,
		  "v1 header not ended by CRLF" },
		{ "v1 UDP", "PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n", 0,
		  "v1 protocol not TCP4, TCP6 or UNKNOWN" },
		{ "v2 command 3", V2_SIG "\x23\x11\x00\x0c", 16, "v2 header with an unknown command" },
		{ "v2 IPv4 short", V2_SIG "\x21\x11\x00\x04" "abcd", 20, "v2 IPv4 addresses cut short" },
	};
	gw_start(&G, PP_CONFIG);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct bad_case *c = &cases[i];
		expect_refused(c->name, "127.0.0.1", c->raw, c->len ? c->len : strlen(c->raw));
		cr_expect(gw_log_contains(G.error_log, c->why, 2), "%s: no log line \"%s\"",
		          c->name, c->why);
	}
}

/* A header cut short: the peer closing mid-header, and one that stops
 * coming (closed at timeouts.header, 1 s here, with a log line). */
Test(proxy_protocol, truncated_and_timed_out, .fini = teardown, .timeout = 30)
{
	gw_start(&G, PP_CONFIG);
	int fd = connect_from("127.0.0.1", G.port);
	gw_send_all(fd, V2_SIG "\x21\x11\x00\x0c\xc0\x00", 18);
	shutdown(fd, SHUT_WR);
	cr_expect(gw_closed_within(fd, 3));
	close(fd);
	cr_expect(gw_log_contains(G.error_log, "cut short (18 bytes)", 2));

	fd = connect_from("127.0.0.1", G.port);
	gw_send_all(fd, "PROXY TCP4 192.0.2.1 19", 23);
	double t0 = gw_now();
	cr_expect(gw_closed_within(fd, 4), "not closed at the header timeout");
	cr_expect_gt(gw_now() - t0, 0.5, "closed before the header timeout");
	close(fd);
	cr_expect(gw_log_contains(G.error_log, "not whole within timeouts.header (23 bytes)", 2));
}

/* Without proxy_protocol, a PROXY line is a malformed request line: 400. */
Test(proxy_protocol, plain_listener_400, .fini = teardown, .timeout = 30)
{
	gw_start(&G, PLAIN_CONFIG);
	static const char raw[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" GET_ENV "\r\n";
	struct gw_response r;
	exchange_from("127.0.0.1", raw, sizeof raw - 1, &r);
	cr_expect_eq(r.status, 400);
	gw_response_free(&r);
}

struct fwd_case {
	const char *name;
	const char *source;
	const char *fields;
	const char *addr, *port;
};

/* X-Forwarded-For and Forwarded: from a trusted peer, the right-most
 * address not itself trusted; from another, nothing changes. Either way the
 * fields still reach the script as HTTP_*. */
Test(proxy_protocol, forwarded_fields, .fini = teardown, .timeout = 60)
{
	static const struct fwd_case cases[] = {
		{ "XFF trusted", "127.0.0.1", "X-Forwarded-For: 203.0.113.9\r\n", "203.0.113.9", NULL },
		{ "XFF trusted hops skipped", "127.0.0.1",
		  "X-Forwarded-For: 198.51.100.7, 203.0.113.9, 10.1.2.3\r\n", "203.0.113.9", NULL },
		{ "XFF two fields", "127.0.0.1",
		  "X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n",
		  "198.51.100.7", NULL },
		{ "XFF garbage stops the walk", "127.0.0.1",
		  "X-Forwarded-For: 198.51.100.7, junk, 10.0.0.1\r\n", "10.0.0.1", NULL },
		{ "XFF untrusted", "127.0.0.2", "X-Forwarded-For: 203.0.113.9\r\n", "127.0.0.2", NULL },
		{ "Forwarded trusted", "127.0.0.1",
		  "Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, "
		  "for=\"[2001:db8:cafe::17]:4711\"\r\n",
		  "2001:db8:cafe::17", "4711" },
		{ "Forwarded trusted hop skipped", "127.0.0.1",
		  "Forwarded: for=192.0.2.60:8080, for=\"[2001:db8:ffff::1]\"\r\n", "192.0.2.60",
		  "8080" },
		{ "Forwarded over XFF", "127.0.0.1",
		  "X-Forwarded-For: 203.0.113.9\r\nForwarded: for=192.0.2.61\r\n", "192.0.2.61", NULL },
		{ "Forwarded unknown", "127.0.0.1", "Forwarded: for=unknown\r\n", "127.0.0.1", NULL },
		{ "Forwarded untrusted", "127.0.0.2", "Forwarded: for=192.0.2.60\r\n", "127.0.0.2",
		  NULL },
	};
	gw_start(&G, PLAIN_CONFIG);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct fwd_case *c = &cases[i];
		char raw[1024];
		int n = snprintf(raw, sizeof raw, GET_ENV "%sConnection: close\r\n\r\n", c->fields);
		struct gw_response r;
		exchange_from(c->source, raw, (size_t)n, &r);
		expect_client(c->name, &r, c->addr, c->port);
		if (strstr(c->fields, "X-Forwarded-For"))
			cr_expect(strstr(r.body, "env:HTTP_X_FORWARDED_FOR="), "%s", c->name);
		if (strstr(c->fields, "Forwarded: "))
			cr_expect(strstr(r.body, "env:HTTP_FORWARDED="), "%s", c->name);
		gw_response_free(&r);
	}
}

/* X-Forwarded-For after a PROXY header: its client (192.0.2.1) is not
 * trusted, so the field, which that client may have written, changes nothing. */
Test(proxy_protocol, forwarded_after_proxy_header, .fini = teardown, .timeout = 30)
{
	gw_start(&G, PP_CONFIG);
	static const char raw[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" GET_ENV
	                          "X-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n";
	struct gw_response r;
	exchange_from("127.0.0.1", raw, sizeof raw - 1, &r);
	cr_expect_eq(r.status, 200);
	gw_expect_field(NULL, r.body, "env:REMOTE_ADDR=", "192.0.2.1");
	gw_response_free(&r);
}

/* X-Request-Id: a trusted peer's becomes the id (the script's
 * GATEWAY_REQUEST_ID, the access log's); an untrusted peer's is only
 * HTTP_X_REQUEST_ID; an invalid one is replaced by our own, with a log line. */
Test(proxy_protocol, request_id, .fini = teardown, .timeout = 30)
{
	static const char with_id[] = GET_ENV "X-Request-Id: lb-7f3a.42:abc\r\nConnection: close\r\n\r\n";
	static const char bad_id[] = GET_ENV "X-Request-Id: bad id;<x>\r\nConnection: close\r\n\r\n";
	struct gw_response r;
	gw_start(&G, PLAIN_CONFIG);

	exchange_from("127.0.0.1", with_id, sizeof with_id - 1, &r);
	cr_expect_eq(r.status, 200);
	gw_expect_field("trusted", r.body, "env:GATEWAY_REQUEST_ID=", "lb-7f3a.42:abc");
	expect_access(" lb-7f3a.42:abc");
	gw_response_free(&r);

	exchange_from("127.0.0.2", with_id, sizeof with_id - 1, &r);
	cr_expect_eq(r.status, 200);
	gw_expect_field("untrusted", r.body, "env:HTTP_X_REQUEST_ID=", "lb-7f3a.42:abc");
	char *id = gw_field(r.body, "env:GATEWAY_REQUEST_ID=");
	cr_expect(id && strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16,
	          "untrusted: GATEWAY_REQUEST_ID %s", id ? id : "(absent)");
	free(id);
	gw_response_free(&r);

	exchange_from("127.0.0.1", bad_id, sizeof bad_id - 1, &r);
	cr_expect_eq(r.status, 200);
	id = gw_field(r.body, "env:GATEWAY_REQUEST_ID=");
	cr_expect(id && strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16,
	          "invalid: GATEWAY_REQUEST_ID %s", id ? id : "(absent)");
	char want[128];
	snprintf(want, sizeof want, "X-Request-Id from 127.0.0.1:");
	cr_expect(gw_log_contains(G.error_log, want, 2));
	snprintf(want, sizeof want, "using %s", id ? id : "?");
	cr_expect(gw_log_contains(G.error_log, want, 2));
	free(id);
	gw_response_free(&r);
}

/* Through real HAProxy (send-proxy-v2 and option forwardfor): the script
 * sees the client's address (127.0.0.2, bound by this test), not HAProxy's. */
Test(proxy_protocol, through_haproxy, .fini = teardown, .timeout = 60)
{
	static const char haproxy[] = "/usr/sbin/haproxy";
	if (access(haproxy, X_OK) != 0)
		cr_skip_test("HAProxy not installed (%s)", haproxy);
	gw_start(&G, PP_CONFIG);
	int hport = gw_free_port();
	char cfgpath[400], cfg[1024];
	snprintf(cfgpath, sizeof cfgpath, "%s/haproxy.cfg", G.dir);
	snprintf(cfg, sizeof cfg,
	         "global\n  log stderr local0 warning\n"
	         "defaults\n  mode http\n  timeout connect 5s\n  timeout client 10s\n"
	         "  timeout server 10s\n"
	         "frontend fe\n  bind 127.0.0.1:%d\n  default_backend be\n"
	         "backend be\n  server gw 127.0.0.1:%d send-proxy-v2\n",
	         hport, G.port);
	FILE *f = fopen(cfgpath, "w");
	cr_assert(f);
	fputs(cfg, f);
	fclose(f);
	pid_t test = getpid(), pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		gw_peer_child_setup(test);
		execl(haproxy, "haproxy", "-db", "-f", cfgpath, (char *)NULL);
		_exit(127);
	}
	int fd = -1;
	for (int i = 0; i < 250 && (fd = try_connect_from("127.0.0.2", hport)) < 0; i++)
		gw_sleep(0.02);
	cr_assert(fd >= 0, "HAProxy did not come up");
	struct gw_response r;
	gw_send_all(fd, GET_ENV "Connection: close\r\n\r\n", sizeof GET_ENV + 20);
	int rc = gw_read_response(fd, false, 10, &r);
	close(fd);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	cr_assert_eq(rc, 0, "no response through HAProxy");
	expect_client("haproxy", &r, "127.0.0.2", NULL);
	gw_response_free(&r);
}
