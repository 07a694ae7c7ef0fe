/* Out of memory on the request path, one allocation at a time. For every k,
 * test/fault/gatewayd-faulty (gatewayd with test/fault/alloc_fault.c) fails
 * the k-th allocation its own code makes after the first accepted connection,
 * while one request goes through a front end. Each time:
 *   - the request gets an error status or a closed connection, or its whole
 *     answer: never a 200 with a hole in it;
 *   - gatewayd stays up and serves the next request whole;
 *   - it stops cleanly on SIGTERM (exit 0; in the sanitizer build a leak or a
 *     use after free makes that fail).
 * k grows until the request no longer reaches it: every allocation on each
 * front end's path has failed once. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocols/fastcgi.h"
#include "protocols/uwsgi.h"
#include "test/integration/harness.h"

#define MAX_K 400 /* far past any path's allocations: a bound, not a guess */

static struct gw_proc G;
static int fport, uport;

static void teardown(void)
{
	if (G.pid > 0) {
		kill(G.pid, SIGKILL);
		waitpid(G.pid, NULL, 0);
		G.pid = 0;
	}
	gw_cleanup(&G);
}

TestSuite(oom, .fini = teardown, .timeout = 240);

static const char ANSWER[] = "short and stout\n"; /* test/fixtures/cgi-bin/status.sh */
static int want_status; /* 418 from status.sh, 200 from the hello.fcgi pool */

/* Is body the whole answer of the script (or of the pool's worker)? */
static bool whole_answer(const char *body)
{
	if (!body)
		return false;
	if (want_status == 418)
		return strcmp(body, ANSWER) == 0;
	const char *tail = " of this process\n";
	size_t n = strlen(body), t = strlen(tail);
	return strncmp(body, "Hello from C, pid ", 18) == 0 && n > t && strcmp(body + n - t, tail) == 0;
}

/* The pool only when the sweep goes to it: a worker to start and stop at every
 * k would make the other sweeps slow for nothing. */
static char *config(bool with_pool)
{
	char fp[16], up[16];
	snprintf(fp, sizeof fp, "%d", fport);
	snprintf(up, sizeof up, "%d", uport);
	const char *pairs[] = {"@FPORT@", fp, "@UPORT@", up, "@POOL@",
	                       with_pool ? ", \"pools\": {\"hello\": {\"protocol\": \"fastcgi\","
	                                   " \"command\": [\"@BUILD@/examples/hello.fcgi\"],"
	                                   " \"processes\": 1}}" : "",
	                       "@POOL_ROUTE@",
	                       with_pool ? ", {\"match\": \"/fcgi/\", \"pool\": \"hello\"}" : "", NULL};
	return gw_substitute(
	        "{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}, {\"fastcgi\": \"127.0.0.1:@FPORT@\"},"
	        "  {\"uwsgi\": \"127.0.0.1:@UPORT@\"}]@POOL@,"
	        " \"routes\": [{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@FIX@/cgi-bin\","
	        "   \"timeout\": 10}}@POOL_ROUTE@],"
	        " \"timeouts\": {\"header\": 3, \"body\": 3, \"keepalive\": 3, \"shutdown\": 5}}",
	        pairs);
}

/* ---- one request through each front end ------------------------------- */

/* Connect, send, read to the close; NULL (and *len 0) when gatewayd does not
 * take the connection: the sweep then says whether it is still alive. */
static char *exchange(int port, const void *raw, size_t rawlen, size_t *len)
{
	*len = 0;
	int fd = gw_connect(port);
	if (fd < 0)
		return NULL;
	gw_send_all(fd, raw, rawlen);
	char *out = gw_read_all(fd, 5, len);
	close(fd);
	return out;
}

struct outcome {
	int status;    /* 0: no answer (the connection closed or timed out) */
	bool whole;    /* the body is the script's whole answer */
};

static struct outcome over_http(const char *raw)
{
	struct outcome o = {0};
	struct gw_response r;
	if (gw_request(G.port, raw, &r) == 0) {
		o.status = r.status;
		o.whole = whole_answer(r.body);
	}
	gw_response_free(&r);
	return o;
}

static struct outcome http_get(void)
{
	return over_http("GET /cgi-bin/status.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
}

static struct outcome http_pool_get(void)
{
	return over_http("GET /fcgi/hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
}

static struct outcome http_post(void)
{
	return over_http("POST /cgi-bin/status.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
	                 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
}

/* The CGI answer inside a reply's STDOUT records: "Status: 418 ...". */
static struct outcome cgi_answer(const char *out, size_t n)
{
	struct outcome o = {0};
	if (n == 0)
		return o;
	const char *st = strstr(out, "Status: ");
	o.status = st ? atoi(st + 8) : 200;
	const char *body = strstr(out, "\r\n\r\n");
	o.whole = body && whole_answer(body + 4);
	return o;
}

static void put_pair(uint8_t *buf, size_t *n, const char *k, const char *v)
{
	ssize_t w = fcgi_nv_encode(buf + *n, 4096 - *n, k, strlen(k), v, strlen(v));
	cr_assert(w > 0);
	*n += (size_t)w;
}

static struct outcome fastcgi_get(void)
{
	uint8_t req[8192], pairs[4096];
	size_t n = 0, np = 0;
	char file[4200];
	snprintf(file, sizeof file, "%s/cgi-bin/status.sh", gw_fixtures());
	put_pair(pairs, &np, "SCRIPT_FILENAME", file);
	put_pair(pairs, &np, "REQUEST_METHOD", "GET");
	put_pair(pairs, &np, "REQUEST_URI", "/cgi-bin/status.sh");
	fcgi_begin_request_encode(req, 1, FCGI_RESPONDER, 0);
	n = 16;
	n += (size_t)fcgi_stream_encode(req + n, sizeof req - n, FCGI_PARAMS, 1, pairs, np);
	n += (size_t)fcgi_stream_encode(req + n, sizeof req - n, FCGI_PARAMS, 1, NULL, 0);
	n += (size_t)fcgi_stream_encode(req + n, sizeof req - n, FCGI_STDIN, 1, NULL, 0);
	size_t len;
	char *raw = exchange(fport, req, n, &len);
	/* Gather STDOUT: records are whole, one request id. */
	char out[8192];
	size_t on = 0;
	for (size_t p = 0; raw && p + 8 <= len;) {
		size_t clen = ((size_t)(uint8_t)raw[p + 4] << 8) | (uint8_t)raw[p + 5];
		size_t plen = (uint8_t)raw[p + 6];
		if (p + 8 + clen + plen > len)
			break;
		if (raw[p + 1] == FCGI_STDOUT && on + clen < sizeof out) {
			memcpy(out + on, raw + p + 8, clen);
			on += clen;
		}
		p += 8 + clen + plen;
	}
	out[on] = '\0';
	free(raw);
	return cgi_answer(out, on);
}

static struct outcome uwsgi_get(void)
{
	uint8_t pkt[4096];
	struct uwsgi_writer w;
	uwsgi_writer_init(&w, pkt, sizeof pkt);
	static const char *const vars[] = {"REQUEST_METHOD", "GET", "REQUEST_URI",
	                                   "/cgi-bin/status.sh", "QUERY_STRING", "", NULL};
	for (size_t i = 0; vars[i]; i += 2)
		uwsgi_writer_var(&w, vars[i], strlen(vars[i]), vars[i + 1], strlen(vars[i + 1]));
	ssize_t n = uwsgi_writer_finish(&w);
	cr_assert(n > 0);
	size_t len;
	char *raw = exchange(uport, pkt, (size_t)n, &len);
	struct outcome o = {0};
	if (raw && len > 12 && strncmp(raw, "HTTP/1.1 ", 9) == 0) {
		o.status = atoi(raw + 9);
		const char *body = strstr(raw, "\r\n\r\n");
		o.whole = body && whole_answer(body + 4);
	}
	free(raw);
	return o;
}

/* ---- the sweep -------------------------------------------------------- */

/* Did allocation k fail while the request went through? (alloc_fault.c
 * writes its line the moment it fails one.) */
static bool fault_fired(int k)
{
	char line[64];
	snprintf(line, sizeof line, "alloc_fault: allocation %d failed", k);
	return gw_log_contains(G.error_log, line, 0.2);
}

/* A listening TCP socket on 127.0.0.1:port. */
static int listen_on_port(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0, "bind %d: %s", port,
	             strerror(errno));
	cr_assert_eq(listen(fd, 64), 0);
	return fd;
}

static void sweep(const char *front, struct outcome (*send)(void), int status)
{
	want_status = status;
	fport = gw_free_port();
	uport = gw_free_port();
	char bin[4200];
	snprintf(bin, sizeof bin, "%s/test/fault/gatewayd-faulty", gw_builddir());
	gw_require_file(bin, "the build (make check builds it)");
	setenv("GW_BINARY", bin, 1);
	char *cfg = config(status == 200);
	/* The sweep's three addresses stay bound here from start to end, handed
	 * to each gatewayd in turn: another test picking a free port while none
	 * of them runs cannot take one. */
	gw_write_config(&G, cfg);
	int held[3] = { listen_on_port(G.port), listen_on_port(fport), listen_on_port(uport) };
	gw_hand_over(held, 3);
	int k;
	for (k = 1; k <= MAX_K; k++) {
		char kk[16];
		snprintf(kk, sizeof kk, "%d", k);
		setenv("GW_FAIL_ALLOC", kk, 1);
		gw_start(&G, cfg);
		struct outcome o = send();
		bool fired = fault_fired(k);
		if (!gw_pid_alive(G.pid)) {
			char *log = gw_read_file(G.error_log);
			cr_assert_fail("%s, allocation %d failed: gatewayd is gone:\n%s", front, k,
			               log ? log : "");
		}
		if (fired) {
			cr_expect(o.status != 200 || o.whole,
			          "%s, allocation %d failed: a 200 answer with a hole in it", front, k);
			cr_expect(o.status == 0 || o.status == want_status || o.status >= 500,
			          "%s, allocation %d failed: status %d", front, k, o.status);
			struct outcome next = send();
			cr_expect(next.status == want_status && next.whole,
			          "%s, allocation %d failed: the next request got %d%s", front, k,
			          next.status, next.whole ? "" : " without the whole answer");
		} else {
			/* past the request's last allocation: it went through whole */
			cr_expect(o.status == want_status && o.whole, "%s: with no allocation failed: %d", front,
			          o.status);
		}
		int st = gw_stop(&G, 10);
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			char *log = gw_read_file(G.error_log);
			cr_expect_fail("%s, allocation %d failed: gatewayd did not stop cleanly (wait "
			               "status %d):\n%s", front, k, st, log ? log : "");
			free(log);
		}
		/* The same directory and ports for the whole sweep: ports picked once
		 * cannot meet another test's picked meanwhile. */
		if (!fired)
			break;
	}
	gw_cleanup(&G);
	gw_hand_over(NULL, 0);
	for (int i = 0; i < 3; i++)
		close(held[i]);
	unsetenv("GW_FAIL_ALLOC");
	unsetenv("GW_BINARY");
	free(cfg);
	cr_expect(k > 1 && k <= MAX_K, "%s: %d allocations on the path", front, k - 1);
	cr_log_info("%s: %d allocations failed one at a time", front, k - 1);
}

Test(oom, every_allocation_of_an_http_get)
{
	sweep("HTTP GET", http_get, 418);
}

Test(oom, every_allocation_of_an_http_chunked_post)
{
	sweep("HTTP chunked POST", http_post, 418);
}

Test(oom, every_allocation_of_a_fastcgi_request)
{
	sweep("FastCGI", fastcgi_get, 418);
}

Test(oom, every_allocation_of_a_uwsgi_request)
{
	sweep("uwsgi", uwsgi_get, 418);
}

Test(oom, every_allocation_of_an_http_request_to_a_pool)
{
	sweep("HTTP to a FastCGI pool", http_pool_get, 200);
}
