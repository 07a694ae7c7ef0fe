/* uwsgi end to end: the real gatewayd binary with its uwsgi front end behind
 * the real nginx (uwsgi_pass, Debian's uwsgi_params), and as a uwsgi (and
 * FastCGI) client of pools of the real gatewayd-wsgi worker running real
 * applications: the wsgiref.validate-wrapped test applications of test/wsgi,
 * the Flask demo (examples/flask) and the Django demo (examples/django).
 *
 *  1. nginx -> gatewayd's uwsgi listener -> a CGI script, a uwsgi pool and a
 *     FastCGI pool: status, a header, SCRIPT_NAME/PATH_INFO/QUERY_STRING, a
 *     1 MiB POST body's CRC-32.
 *  2. gatewayd -> gatewayd-wsgi pools over both protocols: validate_app, Flask
 *     (pages, a 404, the form's POST and redirect, JSON), Django.
 *  3. Bad packets sent raw to the uwsgi listener: truncated then close,
 *     truncated then silent (408), an empty key and a size past the packet
 *     (400), HTTP text (closed, logged as HTTP), a body that stops (408); the
 *     daemon serves on and keeps no descriptor.
 *  4. Variables that do not fit a uwsgi packet (64 KiB) on the way to a uwsgi
 *     pool: 431 and a log line, never a cut packet (FastCGI takes them).
 *  5. Faults in the application: it raises (500, the traceback in the error
 *     log with the request id, the same worker serves on), it never reads a
 *     multi-MiB body, it streams 100 MiB (all of it arrives; gatewayd's memory
 *     stays small), it leaks (max_requests recycles it, no request fails).
 *
 * Fixtures: test/gw_fixtures/uwsgi (nginx.conf, cgi-bin/echo.py and its WSGI
 * twin echo_app.py) and the applications of test/wsgi and examples/.
 *
 * Every test stops nginx and gatewayd and checks that gatewayd exited 0 (under
 * ASan a leak makes that fail), and ends with gw_assert_no_leaks(). A missing
 * nginx, python3, Flask or Django fails the test that needs it, naming the
 * Debian package (CI installs them from .ci/deps). Every wait is bounded. */
#include "test/integration/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NGINX_BIN "/usr/sbin/nginx"
#define NGINX_UWSGI_PARAMS "/etc/nginx/uwsgi_params"
/* gatewayd-wsgi's #! line names Debian's python3 (and its python3-flask and
 * python3-django), whatever python3 comes first in the test runner's PATH. */
#define PYTHON_BIN "/usr/bin/python3"
#define PEER_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

static struct gw_proc G; /* the test's daemon */
static int UPORT;        /* its uwsgi listener (G.port is its HTTP listener) */

static struct gw_peer NGX = {.name = "nginx"};

/* ---- processes ------------------------------------------------------------ */

static void teardown(void)
{
	gw_peer_stop(&NGX);
	NGX = (struct gw_peer){.name = "nginx"};
	gw_cleanup(&G);
}

TestSuite(uwsgi, .fini = teardown, .timeout = 60);

static void dump_logs(void)
{
	gw_dump_file("error log of gatewayd", G.error_log, 6000);
	if (NGX.log[0])
		gw_dump_file("nginx's error log", NGX.log, 6000);
	if (NGX.out[0])
		gw_dump_file("nginx's output", NGX.out, 6000);
}

/* The end of every test: nginx stopped, then gatewayd, which must exit 0
 * (ASan: no leak), and no leak in the test itself. */
static void finish_ok(void)
{
	gw_peer_stop(&NGX);
	gw_stop_ok(&G, 15, dump_logs);
	gw_assert_no_leaks();
}

/* The worker runs Debian's python3: it must import the module. */
static void require_python_module(const char *module, const char *package)
{
	gw_require_file(PYTHON_BIN, "python3");
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		char code[200];
		snprintf(code, sizeof code, "import %s", module);
		char *env[] = {(char *)PEER_PATH, (char *)"LANG=C.UTF-8", NULL};
		execle(PYTHON_BIN, PYTHON_BIN, "-c", code, (char *)NULL, env);
		_exit(127);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "%s cannot import %s: this test needs the Debian package %s (CI installs it "
	          "from .ci/deps; here: apt-get install %s)", PYTHON_BIN, module, package, package);
}

/* gatewayd on json: an HTTP listener on @PORT@ (what the harness waits for)
 * and, where the config has one, a uwsgi listener on @UPORT@. */
static void start_gatewayd(const char *json)
{
	char uport[16];
	UPORT = gw_free_port();
	snprintf(uport, sizeof uport, "%d", UPORT);
	const char *pairs[] = {"@UPORT@", uport, NULL};
	char *text = gw_substitute(json, pairs);
	gw_start(&G, text);
	free(text);
}

static void start_nginx(void)
{
	gw_require_file(NGINX_BIN, "nginx-light");
	gw_require_file(NGINX_UWSGI_PARAMS, "nginx-light");
	char conf[400], template[4200];
	snprintf(template, sizeof template, "%s/uwsgi/nginx.conf", gw_fixtures());
	gw_peer_configure(&NGX, &G, UPORT, "nginx", template, NULL, conf);
	char *argv[] = {(char *)NGINX_BIN, (char *)"-c", conf, (char *)"-p", G.dir, NULL};
	char *envp[] = {(char *)PEER_PATH, (char *)"LANG=C", NULL};
	NGX.pid = gw_peer_spawn(argv, envp, NGX.out);
	gw_peer_wait_ready(&NGX, NULL, dump_logs);
}

/* ---- configs -------------------------------------------------------------- */

/* A pool of gatewayd-wsgi speaking proto, with --path dir, serving spec. No
 * bytecode caches: the gw_fixtures' directory stays as it was (make distcheck
 * ships test/gw_fixtures whole). */
static char *wsgi_pool(const char *proto, const char *dir, const char *spec, const char *extra)
{
	char *s = NULL;
	cr_assert(asprintf(&s, "{\"protocol\": \"%s\", \"command\": [\"@BUILD@/spawner/wsgi/gatewayd-wsgi\","
	                   " \"--protocol\", \"%s\", \"--path\", \"%s\", \"%s\"],"
	                   " \"env\": {\"PATH\": \"/usr/bin:/bin\", \"LANG\": \"C.UTF-8\","
	                   " \"PYTHONDONTWRITEBYTECODE\": \"1\"}%s%s}",
	                   proto, proto, dir, spec, extra && extra[0] ? ", " : "",
	                   extra ? extra : "") > 0);
	return s;
}

#define TESTAPPS "@SRC@/test/wsgi"
#define UWSGI_FIX "@FIX@/uwsgi"

/* A pool of gatewayd-wsgi workers: its name, protocol, --path and application
 * (wsgi_pool()'s), and more keys of the pool. */
struct pool_def {
	const char *name, *proto, *dir, *spec, *extra;
};

static void wait_idle(const char *pool, long long n, double timeout);

/* gatewayd on config, its "@POOLS@" the members for the pools of defs; then
 * each pool has its one worker idle. */
static void start_with_pools(const char *config, const struct pool_def *defs, size_t n)
{
	char *members = strdup("");
	for (size_t i = 0; i < n; i++) {
		char *more, *pool = wsgi_pool(defs[i].proto, defs[i].dir, defs[i].spec,
		                              defs[i].extra);
		cr_assert(asprintf(&more, "%s%s\"%s\": %s", members, i ? ", " : "", defs[i].name,
		                   pool) > 0);
		free(pool);
		free(members);
		members = more;
	}
	const char *pairs[] = {"@POOLS@", members, NULL};
	char *text = gw_substitute(config, pairs);
	start_gatewayd(text);
	free(text);
	free(members);
	for (size_t i = 0; i < n; i++)
		wait_idle(defs[i].name, 1, 15);
}

/* The echo application, one worker over uwsgi (echo_u), one over FastCGI (echo_f). */
static const struct pool_def ECHO_POOLS[] = {
	{"echo_u", "uwsgi", UWSGI_FIX, "echo_app:application", "\"processes\": 1"},
	{"echo_f", "fastcgi", UWSGI_FIX, "echo_app:application", "\"processes\": 1"},
};

/* ---- an HTTP client: sends while it reads, reads to the close ------------- */

struct reply {
	int status;
	char *head;     /* status line and fields (NUL-terminated) */
	char *body;     /* de-chunked (NUL-terminated) */
	size_t body_len;
	bool complete;  /* all of it by its framing (Content-Length, last chunk) */
};

static void reply_free(struct reply *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof *r);
}

static char *hdr(const struct reply *r, const char *name)
{
	struct gw_response g = {.head = r->head};
	return gw_header(&g, name);
}

/* Connect, send all of out (nonblocking, reading at the same time, so a server
 * that answers before it has the whole body cannot deadlock us), and read
 * until the server closes; the bytes, or NULL on a timeout. */
static char *xfer(int port, const void *out, size_t outlen, double timeout, size_t *inlen)
{
	int fd = gw_connect(port);
	cr_assert(fd >= 0, "cannot connect to port %d", port);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	size_t sent = 0, n = 0, cap = 65536;
	char *in = malloc(cap + 1);
	cr_assert_not_null(in);
	double deadline = gw_now() + timeout;
	bool sending = outlen > 0, done = false;
	while (!done) {
		double left = deadline - gw_now();
		if (left <= 0) {
			free(in);
			close(fd);
			return NULL;
		}
		struct pollfd p = {.fd = fd, .events = (short)(POLLIN | (sending ? POLLOUT : 0))};
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		if (sending && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t k = send(fd, (const char *)out + sent, outlen - sent, MSG_NOSIGNAL);
			if (k > 0)
				sent += (size_t)k;
			else if (k < 0 && errno != EAGAIN && errno != EINTR)
				sending = false; /* the server stopped reading: its answer tells why */
			if (sent == outlen)
				sending = false;
		}
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			if (cap - n < 65536) {
				cap *= 2;
				in = realloc(in, cap + 1);
				cr_assert_not_null(in);
			}
			ssize_t k = recv(fd, in + n, cap - n, 0);
			if (k > 0)
				n += (size_t)k;
			else if (k == 0 || (errno != EAGAIN && errno != EINTR))
				done = true;
		}
	}
	close(fd);
	in[n] = '\0';
	*inlen = n;
	return in;
}

/* Split raw into status, head and (de-chunked) body. */
static int parse_reply(const char *raw, size_t n, struct reply *r)
{
	memset(r, 0, sizeof *r);
	const char *end = raw ? strstr(raw, "\r\n\r\n") : NULL;
	if (!end)
		return -1;
	size_t hlen = (size_t)(end - raw) + 2;
	r->head = strndup(raw, hlen);
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		return -1;
	const char *p = end + 4, *stop = raw + n;
	char *cl = hdr(r, "Content-Length"), *te = hdr(r, "Transfer-Encoding");
	r->body = malloc((size_t)(stop - p) + 1);
	cr_assert_not_null(r->body);
	if (te && strcasecmp(te, "chunked") == 0) {
		for (;;) {
			const char *eol = memmem(p, (size_t)(stop - p), "\r\n", 2);
			if (!eol)
				break;
			size_t size = strtoul(p, NULL, 16);
			p = eol + 2;
			if (size == 0) {
				r->complete = true;
				break;
			}
			if ((size_t)(stop - p) < size + 2) {
				size_t have = (size_t)(stop - p);
				memcpy(r->body + r->body_len, p, have);
				r->body_len += have;
				break;
			}
			memcpy(r->body + r->body_len, p, size);
			r->body_len += size;
			p += size + 2;
		}
	} else {
		size_t have = (size_t)(stop - p);
		if (cl) {
			size_t want = strtoul(cl, NULL, 10);
			r->complete = have >= want;
			if (have > want)
				have = want;
		} else {
			r->complete = true; /* to the close */
		}
		memcpy(r->body, p, have);
		r->body_len = have;
	}
	r->body[r->body_len] = '\0';
	free(cl);
	free(te);
	return 0;
}

/* One HTTP/1.1 request ("Connection: close") with extra header lines (each
 * ending in \r\n) and a body; 0 and *r, or -1 (no answer). */
static int http(int port, const char *method, const char *target, const char *headers,
                const void *body, size_t blen, double timeout, struct reply *r)
{
	char *head = NULL, length[64] = "";
	if (body)
		snprintf(length, sizeof length, "Content-Length: %zu\r\n", blen);
	int hn = asprintf(&head, "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test_uwsgi\r\n"
	                  "Connection: close\r\n%s%s\r\n", method, target, headers ? headers : "",
	                  length);
	cr_assert(hn > 0);
	char *req = malloc((size_t)hn + blen);
	cr_assert_not_null(req);
	memcpy(req, head, (size_t)hn);
	if (blen)
		memcpy(req + hn, body, blen);
	free(head);
	size_t n;
	char *raw = xfer(port, req, (size_t)hn + blen, timeout, &n);
	free(req);
	int rc = raw ? parse_reply(raw, n, r) : (memset(r, 0, sizeof *r), -1);
	free(raw);
	return rc;
}

/* A request that must answer want; the answer for more checks. */
static void must(int port, const char *method, const char *target, const char *headers,
                 const void *body, size_t blen, int want, struct reply *r)
{
	int rc = http(port, method, target, headers, body, blen, 30, r);
	if (rc != 0 || r->status != want)
		dump_logs();
	cr_assert_eq(rc, 0, "no answer to %s %s", method, target);
	cr_assert_eq(r->status, want, "%s %s: status %d, want %d\n%s\n%.2000s", method, target,
	             r->status, want, r->head, r->body);
}

static void must_get(const char *target, int want, struct reply *r)
{
	must(G.port, "GET", target, NULL, NULL, 0, want, r);
}

#define expect_field(text, prefix, want, what) gw_expect_field(what, text, prefix, want)

static long num_field(const char *text, const char *prefix)
{
	char *v = gw_field(text, prefix);
	long n = v ? strtol(v, NULL, 10) : -1;
	free(v);
	return n;
}

/* ---- bodies and checksums ---------------------------------------------------- */

static uint32_t crc_table[256];

static uint32_t crc32_of(const void *data, size_t n)
{
	if (!crc_table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
			crc_table[i] = c;
		}
	const unsigned char *p = data;
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

/* n pseudo-random bytes, NULs and CRs included: a binary body. */
static unsigned char *binary_body(size_t n, uint32_t seed)
{
	unsigned char *b = malloc(n);
	cr_assert_not_null(b);
	uint32_t x = seed;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)(x >> 16);
	}
	return b;
}

/* ---- status, logs ------------------------------------------------------------ */

static json_t *status(void)
{
	return gw_status(G.port);
}

static long long pool_stat(const char *pool, const char *key)
{
	return gw_pool_stat(G.port, pool, key);
}

/* The pids of the pool's live workers (up to max); how many there are. */
static int pool_pids(const char *pool, pid_t *out, int max)
{
	json_t *st = status(), *w;
	size_t i;
	int n = 0;
	json_array_foreach(json_object_get(gw_pool_of(st, pool), "workers"), i, w) {
		const char *s = json_string_value(json_object_get(w, "state"));
		json_t *pid = json_object_get(w, "pid");
		if (!json_is_integer(pid) || !s || strcmp(s, "dead") == 0)
			continue;
		if (n < max)
			out[n] = (pid_t)json_integer_value(pid);
		n++;
	}
	json_decref(st);
	return n;
}

struct idle_probe {
	const char *pool;
	long long n;
};

static bool idle_is(void *arg)
{
	struct idle_probe *p = arg;
	json_t *st = status();
	long long v = gw_ival(json_object_get(gw_pool_of(st, p->pool), "processes"), "idle");
	json_decref(st);
	return v == p->n;
}

/* Python applications take a moment to import (Django most). */
static void wait_idle(const char *pool, long long n, double timeout)
{
	struct idle_probe p = {pool, n};
	bool ok = gw_wait_until(idle_is, &p, timeout);
	if (!ok)
		dump_logs();
	cr_assert(ok, "pool %s: not %lld idle workers within %.0f s", pool, n, timeout);
}

/* Does some line of the log hold both a and b? */
static bool log_line_with(const char *path, const char *a, const char *b)
{
	char *text = gw_read_file(path);
	bool found = false;
	for (char *line = text, *next; line && *line && !found; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		found = strstr(line, a) && strstr(line, b);
		if (!next)
			break;
	}
	free(text);
	return found;
}

struct pair_probe {
	const char *path, *a, *b;
};

static bool pair_logged(void *arg)
{
	struct pair_probe *p = arg;
	return log_line_with(p->path, p->a, p->b);
}

static bool log_has_line_with(const char *path, const char *a, const char *b, double timeout)
{
	struct pair_probe p = {path, a, b};
	return gw_wait_until(pair_logged, &p, timeout);
}

/* The request id the access log gives the request whose line holds needle. */
static char *rid_of(const char *needle)
{
	cr_assert(gw_log_contains(G.access_log, needle, 5), "no access log line with %s", needle);
	char *line = gw_last_line_with(G.access_log, needle);
	cr_assert_not_null(line);
	char *sp = strrchr(line, ' ');
	cr_assert_not_null(sp, "access log line without a request id: %s", line);
	char *rid = strdup(sp + 1);
	free(line);
	cr_assert(rid[0] && strcmp(rid, "-") != 0, "no request id in the access log line");
	return rid;
}

static long vm_kib(pid_t pid, const char *key)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	char *text = gw_read_file(path);
	long v = -1;
	const char *p = text ? strstr(text, key) : NULL;
	if (p)
		v = strtol(p + strlen(key), NULL, 10);
	free(text);
	return v;
}

static void expect_fds_back(int before, const char *after)
{
	struct gw_fd_probe p = {G.pid, before};
	bool ok = gw_wait_until(gw_fds_at_most, &p, 5);
	int n = gw_count_fds(G.pid);
	if (!ok) {
		char cmd[100];
		snprintf(cmd, sizeof cmd, "ls -l /proc/%d/fd >&2", (int)G.pid);
		if (system(cmd) != 0)
			cr_log_warn("could not list the descriptors");
	}
	cr_expect(ok, "after %s gatewayd holds %d descriptors, %d before", after, n, before);
}

/* ---- uwsgi packets built by hand --------------------------------------------- */

struct bytes {
	unsigned char *p;
	size_t n, cap;
};

static void put(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 256;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put16(struct bytes *b, unsigned v)
{
	unsigned char x[2] = {(unsigned char)(v & 0xff), (unsigned char)(v >> 8)};
	put(b, x, 2);
}

static void uw_var(struct bytes *vars, const char *k, const char *v)
{
	put16(vars, (unsigned)strlen(k));
	put(vars, k, strlen(k));
	put16(vars, (unsigned)strlen(v));
	put(vars, v, strlen(v));
}

/* A header (modifier1 0, datasize as given) and the vars. */
static void uw_packet(struct bytes *out, const struct bytes *vars, unsigned datasize)
{
	unsigned char h[4] = {0, (unsigned char)(datasize & 0xff), (unsigned char)(datasize >> 8), 0};
	put(out, h, 4);
	put(out, vars->p, vars->n);
}

/* The vars nginx's uwsgi_params would send for a request of this URI. */
static void uw_request_vars(struct bytes *vars, const char *method, const char *uri,
                            const char *content_length)
{
	const char *q = strchr(uri, '?');
	char path[1024];
	snprintf(path, sizeof path, "%.*s", (int)(q ? (size_t)(q - uri) : strlen(uri)), uri);
	uw_var(vars, "QUERY_STRING", q ? q + 1 : "");
	uw_var(vars, "REQUEST_METHOD", method);
	uw_var(vars, "CONTENT_TYPE", content_length ? "application/octet-stream" : "");
	uw_var(vars, "CONTENT_LENGTH", content_length ? content_length : "");
	uw_var(vars, "REQUEST_URI", uri);
	uw_var(vars, "PATH_INFO", path);
	uw_var(vars, "SERVER_PROTOCOL", "HTTP/1.1");
	uw_var(vars, "REQUEST_SCHEME", "http");
	uw_var(vars, "REMOTE_ADDR", "127.0.0.1");
	uw_var(vars, "REMOTE_PORT", "40000");
	uw_var(vars, "SERVER_PORT", "80");
	uw_var(vars, "SERVER_NAME", "localhost");
	uw_var(vars, "HTTP_HOST", "localhost");
}

/* Read until the peer closes (or timeout): the bytes, and whether it closed. */
static char *read_to_close(int fd, double timeout, size_t *n, bool *closed)
{
	size_t cap = 65536;
	char *in = malloc(cap + 1);
	cr_assert_not_null(in);
	*n = 0;
	*closed = false;
	double deadline = gw_now() + timeout;
	for (;;) {
		double left = deadline - gw_now();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			break;
		if (cap - *n < 4096) {
			cap *= 2;
			in = realloc(in, cap + 1);
			cr_assert_not_null(in);
		}
		ssize_t k = recv(fd, in + *n, cap - *n, 0);
		if (k > 0) {
			*n += (size_t)k;
			continue;
		}
		if (k == 0 || errno == ECONNRESET) {
			*closed = true;
			break;
		}
		if (errno != EINTR && errno != EAGAIN)
			break;
	}
	in[*n] = '\0';
	return in;
}

/* A GET of uri straight to gatewayd's uwsgi listener, its vars those of
 * uw_request_vars() and then the pairs more (NULL-terminated, or NULL); the
 * answer, which must come, in r. what names the request. */
static void uwsgi_get(const char *what, const char *uri, const char *const *more, struct reply *r)
{
	struct bytes vars = {0}, pkt = {0};
	uw_request_vars(&vars, "GET", uri, NULL);
	for (; more && *more; more += 2)
		uw_var(&vars, more[0], more[1]);
	uw_packet(&pkt, &vars, (unsigned)vars.n);
	size_t n;
	char *raw = xfer(UPORT, pkt.p, pkt.n, 20, &n);
	int rc = raw ? parse_reply(raw, n, r) : -1;
	if (rc != 0)
		dump_logs();
	cr_assert_eq(rc, 0, "%s: no answer to a uwsgi request: %.300s", what,
	             raw ? raw : "(timeout)");
	free(raw);
	free(vars.p);
	free(pkt.p);
}

/* A good request over raw uwsgi to the CGI echo: 200 and its answer. */
static void expect_uwsgi_serves(const char *after)
{
	char what[200];
	snprintf(what, sizeof what, "a good request after %s", after);
	struct reply r;
	uwsgi_get(what, "/cgi-bin/echo.py/after?n=1", NULL, &r);
	if (r.status != 200)
		dump_logs();
	cr_expect_eq(r.status, 200, "%s: status %d", what, r.status);
	expect_field(r.body, "PATH_INFO=", "/after", what);
	expect_field(r.body, "QUERY_STRING=", "n=1", what);
	reply_free(&r);
}

/* ============================================================================
 * 1. nginx uwsgi_pass -> gatewayd's uwsgi listener -> CGI and WSGI pools
 * ========================================================================== */

struct echo_target {
	const char *url;         /* what the client asks nginx for (before the suffix) */
	const char *app;         /* "cgi" or "wsgi" */
	const char *script_name; /* what the application must see */
	const char *path_prefix; /* PATH_INFO before the suffix's */
};

Test(uwsgi, nginx_uwsgi_pass_to_cgi_and_to_wsgi_pools)
{
	require_python_module("wsgiref.validate", "python3");
	start_with_pools("{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"},"
	                 " {\"uwsgi\": \"127.0.0.1:@UPORT@\"}], \"temp_dir\": \"@DIR@\","
	                 " \"pools\": {@POOLS@},"
	                 " \"routes\": ["
	                 "  {\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"" UWSGI_FIX "/cgi-bin\","
	                 "   \"timeout\": 20}},"
	                 "  {\"match\": \"/front-cgi/\", \"cgi\": {\"root\": \"@FIX@/cgi-bin\"}},"
	                 "  {\"match\": \"/wsgi/\", \"pool\": \"echo_u\"},"
	                 "  {\"match\": \"/wsgi-fcgi/\", \"pool\": \"echo_f\"}]}",
	                 ECHO_POOLS, 2);
	start_nginx();
	pid_t wsgi_pid[2] = {0, 0};
	cr_assert_eq(pool_pids("echo_u", &wsgi_pid[0], 1), 1);
	cr_assert_eq(pool_pids("echo_f", &wsgi_pid[1], 1), 1);

	static const struct echo_target targets[] = {
		{"/cgi-bin/echo.py", "cgi", "/cgi-bin/echo.py", ""},
		{"/wsgi/echo", "wsgi", "/wsgi", "/echo"},
		{"/wsgi-fcgi/echo", "wsgi", "/wsgi-fcgi", "/echo"},
	};
	size_t blen = 1 << 20;
	unsigned char *body = binary_body(blen, 42);
	char crc[16];
	snprintf(crc, sizeof crc, "%08x", crc32_of(body, blen));
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		const struct echo_target *t = &targets[i];
		char url[512], what[600], want[512];
		struct reply r;

		/* GET with PATH_INFO (one segment percent-encoded) and a query. */
		snprintf(url, sizeof url, "%s/extra%%20dir/x?q=a%%20b&c=1", t->url);
		snprintf(what, sizeof what, "via nginx GET %s", url);
		/* httpoxy: nginx passes a client's Proxy header as HTTP_PROXY */
		must(NGX.port, "GET", url, "Proxy: http://127.0.0.1:1\r\nX-Client: 1\r\n", NULL, 0,
		     200, &r);
		char *echo = hdr(&r, "X-Echo");
		cr_expect(echo && strcmp(echo, t->app) == 0, "%s: X-Echo: %s, want %s", what,
		          echo ? echo : "(absent)", t->app);
		free(echo);
		char *ctype = hdr(&r, "Content-Type");
		cr_expect(ctype && strcmp(ctype, "text/plain") == 0, "%s: Content-Type %s", what,
		          ctype ? ctype : "(absent)");
		free(ctype);
		expect_field(r.body, "app=", t->app, what);
		expect_field(r.body, "REQUEST_METHOD=", "GET", what);
		expect_field(r.body, "SCRIPT_NAME=", t->script_name, what);
		snprintf(want, sizeof want, "%s/extra dir/x", t->path_prefix);
		expect_field(r.body, "PATH_INFO=", want, what);
		expect_field(r.body, "QUERY_STRING=", "q=a%20b&c=1", what);
		expect_field(r.body, "REQUEST_URI=", url, what);
		expect_field(r.body, "body_len=", "0", what);
		expect_field(r.body, "HTTP_PROXY=", "(unset)", what);
		expect_field(r.body, "HTTP_X_CLIENT=", "1", what);
		if (strcmp(t->app, "wsgi") == 0)
			cr_expect_eq(num_field(r.body, "pid="), wsgi_pid[i - 1],
			             "%s: not the pool's worker: %s", what, r.body);
		reply_free(&r);

		/* POST 1 MiB of binary body: all of it arrives, unchanged. */
		snprintf(url, sizeof url, "%s/upload?size=%zu", t->url, blen);
		snprintf(what, sizeof what, "via nginx POST %s", url);
		must(NGX.port, "POST", url, "Content-Type: application/octet-stream\r\n", body, blen,
		     200, &r);
		expect_field(r.body, "REQUEST_METHOD=", "POST", what);
		expect_field(r.body, "CONTENT_LENGTH=", "1048576", what);
		expect_field(r.body, "CONTENT_TYPE=", "application/octet-stream", what);
		expect_field(r.body, "body_len=", "1048576", what);
		expect_field(r.body, "body_crc32=", crc, what);
		snprintf(want, sizeof want, "%s/upload", t->path_prefix);
		expect_field(r.body, "PATH_INFO=", want, what);
		reply_free(&r);
	}
	free(body);

	/* No route: gatewayd's 404 comes back through nginx. */
	struct reply r;
	must(NGX.port, "GET", "/no/such/route", NULL, NULL, 0, 404, &r);
	reply_free(&r);
	/* The pools' workers served everything (persistent: the same pids). */
	pid_t again;
	cr_expect(pool_pids("echo_u", &again, 1) == 1 && again == wsgi_pid[0]);
	cr_expect(pool_pids("echo_f", &again, 1) == 1 && again == wsgi_pid[1]);
	cr_expect_eq(pool_stat("echo_u", "requests_served"), 2);
	cr_expect_eq(pool_stat("echo_f", "requests_served"), 2);
	cr_expect_eq(pool_stat("echo_u", "errors"), 0);
	char *bad = gw_last_line_with(G.error_log, "AssertionError");
	cr_expect_null(bad, "wsgiref.validate complained: %s", bad);
	free(bad);
	/* UWSGI_* variables (uWSGI's per-request switches) from a web server or a
	 * client never reach a worker; the request is served without them. */
	{
		static const char *const switches[] = {"UWSGI_SCRIPT", "evil:app",
		                                       "UWSGI_CHDIR", "/tmp",
		                                       "HTTP_PROXY", "http://127.0.0.1:1", NULL};
		struct reply kr;
		uwsgi_get("UWSGI_ vars from the web server", "/wsgi/keys?k=1", switches, &kr);
		cr_expect_eq(kr.status, 200);
		expect_field(kr.body, "uwsgi_keys=", "none", "UWSGI_ vars from the web server");
		expect_field(kr.body, "QUERY_STRING=", "k=1", "UWSGI_ vars from the web server");
		expect_field(kr.body, "HTTP_PROXY=", "(unset)", "HTTP_PROXY from the web server");
		reply_free(&kr);
	}
	/* The hop-by-hop fields a script prints never reach the web server (the
	 * HTTP and FastCGI suites send the same script through theirs). */
	{
		struct reply hr;
		uwsgi_get("hop.sh over uwsgi", "/front-cgi/hop.sh", NULL, &hr);
		cr_expect_eq(hr.status, 200);
		gw_expect_hop_by_hop_dropped(hr.head, hr.body, "uwsgi");
		reply_free(&hr);
	}
	finish_ok();
}

/* ============================================================================
 * 2. gatewayd -> gatewayd-wsgi pools over uwsgi and FastCGI: validate_app,
 *    Flask, Django
 * ========================================================================== */

static void expect_in(const struct reply *r, const char *needle, const char *what)
{
	cr_expect(r->body && strstr(r->body, needle), "%s: no \"%s\" in:\n%.1500s", what, needle,
	          r->body ? r->body : "");
}

/* GET target: status want, and a body that holds needle (when not NULL). */
static void expect_get(const char *target, int want, const char *needle)
{
	struct reply r;
	must_get(target, want, &r);
	if (needle)
		expect_in(&r, needle, target);
	reply_free(&r);
}

/* The body of r as JSON (json_decref it); the test fails when it is not. */
static json_t *json_body(const struct reply *r, const char *what)
{
	json_error_t err;
	json_t *j = json_loads(r->body, 0, &err);
	cr_assert_not_null(j, "%s: not JSON (%s): %s", what, err.text, r->body);
	return j;
}

static void run_demo_apps(const char *proto)
{
	require_python_module("wsgiref.validate", "python3");
	require_python_module("flask", "python3-flask");
	require_python_module("django", "python3-django");
	const struct pool_def pools[] = {
		{"v", proto, TESTAPPS, "validate_app:application", "\"processes\": 1"},
		{"flask", proto, "@SRC@/examples/flask", "app:app", "\"processes\": 1"},
		{"django", proto, "@SRC@/examples/django", "demo.wsgi:application",
		 "\"processes\": 1"},
	};
	start_with_pools("{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}],"
	                 " \"temp_dir\": \"@DIR@\", \"pools\": {@POOLS@},"
	                 " \"routes\": [{\"match\": \"/v/\", \"pool\": \"v\"},"
	                 "  {\"match\": \"/flask/\", \"pool\": \"flask\"},"
	                 "  {\"match\": \"/django/\", \"pool\": \"django\"}]}",
	                 pools, 3);
	struct reply r;

	/* ---- the validated test applications ---- */
	expect_get("/v/hello", 200, "Hello from WSGI, pid ");
	must_get("/v/env/some/path?a=1&b=%20x", 200, &r);
	{
		json_t *j = json_body(&r, "/v/env");
		json_t *cgi = json_object_get(j, "cgi");
		cr_expect_str_eq(json_string_value(json_object_get(cgi, "SCRIPT_NAME")), "/v/env");
		cr_expect_str_eq(json_string_value(json_object_get(cgi, "PATH_INFO")), "/some/path");
		cr_expect_str_eq(json_string_value(json_object_get(cgi, "QUERY_STRING")),
		                 "a=1&b=%20x");
		cr_expect_str_eq(json_string_value(json_object_get(cgi, "REQUEST_METHOD")), "GET");
		cr_expect_str_eq(json_string_value(json_object_get(cgi, "SERVER_PROTOCOL")),
		                 "HTTP/1.1");
		json_decref(j);
	}
	reply_free(&r);
	size_t blen = 300000;
	unsigned char *body = binary_body(blen, 7);
	must(G.port, "POST", "/v/env?read=sized", "Content-Type: application/octet-stream\r\n",
	     body, blen, 200, &r);
	{
		json_t *j = json_body(&r, "/v/env POST");
		cr_expect_eq(json_integer_value(json_object_get(j, "body_len")), (json_int_t)blen,
		             "%s", r.body);
		json_decref(j);
	}
	reply_free(&r);
	free(body);
	must_get("/v/write", 200, &r);
	cr_expect_str_eq(r.body, "written 1\nwritten 2\nreturned 3\n");
	reply_free(&r);
	must_get("/v/file?bytes=200000", 200, &r);
	cr_expect_eq(r.body_len, 200000);
	cr_expect(r.body_len == 200000 && memcmp(r.body + 199990, "0123456789", 10) == 0);
	reply_free(&r);
	must_get("/v/exc-before", 503, &r);
	expect_in(&r, "the application's own error page", "/v/exc-before");
	char *replaced = hdr(&r, "X-Replaced");
	cr_expect(replaced && strcmp(replaced, "yes") == 0, "X-Replaced: %s", replaced);
	free(replaced);
	reply_free(&r);
	expect_get("/v/nothing-here", 404, NULL);

	/* ---- Flask ---- */
	must_get("/flask/", 200, &r);
	expect_in(&r, "Hello from Flask", "flask /");
	char *ct = hdr(&r, "Content-Type");
	cr_expect(ct && strncmp(ct, "text/html", 9) == 0, "flask /: Content-Type %s", ct);
	free(ct);
	reply_free(&r);
	expect_get("/flask/no/such/page", 404, "No page at /no/such/page");
	/* url_for() under the mount: SCRIPT_NAME came through. */
	expect_get("/flask/form", 200, "action=\"/flask/form\"");
	const char *form = "name=gatewayd&message=signed+over+the+pool";
	must(G.port, "POST", "/flask/form", "Content-Type: application/x-www-form-urlencoded\r\n",
	     form, strlen(form), 303, &r);
	char *loc = hdr(&r, "Location");
	cr_expect(loc && strlen(loc) >= 7 && strcmp(loc + strlen(loc) - 7, "/flask/") == 0,
	          "flask POST /form: Location %s", loc ? loc : "(absent)");
	free(loc);
	reply_free(&r);
	expect_get("/flask/", 200, "signed over the pool");
	const char *empty = "name=&message=";
	must(G.port, "POST", "/flask/form", "Content-Type: application/x-www-form-urlencoded\r\n",
	     empty, strlen(empty), 400, &r);
	expect_in(&r, "Both fields, please.", "flask POST /form, empty");
	reply_free(&r);
	must_get("/flask/api/info?x=1", 200, &r);
	{
		json_t *j = json_body(&r, "flask /api/info");
		cr_expect_str_eq(json_string_value(json_object_get(j, "script_root")), "/flask");
		cr_expect_str_eq(json_string_value(json_object_get(j, "path")), "/api/info");
		cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "args"), "x")),
		                 "1");
		json_decref(j);
	}
	reply_free(&r);
	const char *jbody = "{\"n\": [1, 2, 3], \"s\": \"caf\\u00e9\"}";
	must(G.port, "POST", "/flask/api/echo", "Content-Type: application/json\r\n", jbody,
	     strlen(jbody), 200, &r);
	{
		json_t *j = json_body(&r, "flask /api/echo");
		json_t *n = json_object_get(json_object_get(j, "received"), "n");
		cr_expect(json_is_array(n) && json_array_size(n) == 3 &&
		          json_integer_value(json_array_get(n, 2)) == 3, "flask echo: %s", r.body);
		cr_expect_eq(json_integer_value(json_object_get(j, "length")),
		             (json_int_t)strlen(jbody));
		json_decref(j);
	}
	reply_free(&r);

	/* ---- Django ---- */
	must_get("/django/?name=gatewayd", 200, &r);
	expect_in(&r, "Hello, gatewayd, from Django", "django /");
	expect_in(&r, "path /django/ (mounted at \"/django\")", "django /");
	long pid1 = -1, pid2 = -1;
	const char *p = strstr(r.body, "Worker pid ");
	if (p)
		pid1 = strtol(p + 11, NULL, 10);
	reply_free(&r);
	must_get("/django/?name=%3Cb%3E", 200, &r);
	expect_in(&r, "Hello, &lt;b&gt;, from Django", "django / escaped");
	expect_in(&r, ", request 2,", "django / second");
	p = strstr(r.body, "Worker pid ");
	if (p)
		pid2 = strtol(p + 11, NULL, 10);
	cr_expect(pid1 > 0 && pid1 == pid2, "django: pids %ld then %ld", pid1, pid2);
	reply_free(&r);
	expect_get("/django/no/such/page", 404, NULL);
	/* Django's logger says so, through a StreamHandler that kept the
	 * sys.stderr it found at start: the line is this request's ("req=ID: ",
	 * from the uwsgi tag or the FastCGI STDERR record), not an untagged one. */
	char *rid = rid_of("/django/no/such/page");
	char tagged[64];
	snprintf(tagged, sizeof tagged, "req=%s: ", rid);
	cr_expect(log_has_line_with(G.error_log, tagged, "Not Found: /django/no/such/page", 5),
	          "%s pools: Django's log line is not tagged %s", proto, tagged);
	free(rid);

	/* wsgiref.validate and the applications had nothing to say. */
	static const char *const bad[] = {"AssertionError", "WSGIWarning", "Traceback", NULL};
	for (int i = 0; bad[i]; i++) {
		char *line = gw_last_line_with(G.error_log, bad[i]);
		cr_expect_null(line, "%s pools: the error log says: %s", proto, line);
		free(line);
	}
	cr_expect_eq(pool_stat("v", "errors") + pool_stat("flask", "errors") +
	             pool_stat("django", "errors"), 0);
	cr_expect_eq(pool_stat("flask", "crashes") + pool_stat("django", "crashes") +
	             pool_stat("v", "crashes"), 0);
	finish_ok();
}

Test(uwsgi, demo_apps_over_uwsgi_pools) { run_demo_apps("uwsgi"); }
Test(uwsgi, demo_apps_over_fastcgi_pools) { run_demo_apps("fastcgi"); }

/* ============================================================================
 * 3. Bad packets on the uwsgi listener
 * ========================================================================== */

static const char RAW_CONFIG[] =
	"{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}, {\"uwsgi\": \"127.0.0.1:@UPORT@\"}],"
	" \"timeouts\": {\"header\": 1, \"body\": 1},"
	" \"routes\": [{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"" UWSGI_FIX "/cgi-bin\","
	"  \"timeout\": 20, \"kill_grace\": 1}}]}";

/* Connect to the uwsgi port, send raw, optionally half-close, read the answer
 * to the close (bounded). */
static char *uw_raw(const void *raw, size_t n, bool half_close, double timeout, size_t *got,
                    bool *closed)
{
	int fd = gw_connect(UPORT);
	cr_assert(fd >= 0, "cannot connect to the uwsgi port");
	gw_send_all(fd, raw, n);
	if (half_close)
		shutdown(fd, SHUT_WR);
	double t0 = gw_now();
	char *out = read_to_close(fd, timeout, got, closed);
	cr_log_info("uwsgi raw: %zu bytes in, %zu out, %s after %.2f s", n, *got,
	            *closed ? "closed" : "still open", gw_now() - t0);
	close(fd);
	return out;
}

static void expect_status_and_close(const char *what, const char *out, size_t n, bool closed,
                                    int want)
{
	int status = 0;
	if (n >= 12)
		sscanf(out, "HTTP/1.%*d %d", &status);
	cr_expect(closed, "%s: the connection was not closed", what);
	cr_expect_eq(status, want, "%s: answered %d, want %d: %.300s", what, status, want, out);
}

/* Bytes sent raw that gatewayd must refuse: answered want (waiting timeout s
 * at most) and closed, the log line logged (when not NULL), and the daemon
 * serves on. How long the answer took. */
static double expect_refused(const char *what, const void *raw, size_t n, double timeout, int want,
                             const char *logged)
{
	size_t got;
	bool closed;
	double t0 = gw_now();
	char *out = uw_raw(raw, n, false, timeout, &got, &closed);
	double took = gw_now() - t0;
	expect_status_and_close(what, out, got, closed, want);
	free(out);
	if (logged)
		cr_expect(gw_log_contains(G.error_log, logged, 2), "%s: no log line \"%s\"", what,
		          logged);
	expect_uwsgi_serves(what);
	return took;
}

Test(uwsgi, bad_packets_get_their_answer_and_the_daemon_serves_on)
{
	gw_require_file(PYTHON_BIN, "python3");
	start_gatewayd(RAW_CONFIG);
	expect_uwsgi_serves("start");
	int fds = gw_count_fds(G.pid);
	cr_assert_gt(fds, 0);
	size_t n;
	bool closed;
	char *out;

	/* (a) The header promises 100 bytes of vars, 10 come, then the web server
	 * half-closes: nothing can be a request; closed, no answer (as HTTP). */
	{
		struct bytes vars = {0}, pkt = {0};
		uw_var(&vars, "REQUEST_METHOD", "GET");
		uw_packet(&pkt, &vars, 100);
		out = uw_raw(pkt.p, 4 + 10, true, 5, &n, &closed);
		cr_expect(closed, "truncated packet, then EOF: not closed");
		cr_expect_eq(n, 0, "truncated packet, then EOF: answered %.200s", out);
		free(out);
		/* The same, closed outright. */
		int fd = gw_connect(UPORT);
		cr_assert(fd >= 0);
		gw_send_all(fd, pkt.p, 4 + 10);
		close(fd);
		cr_expect(gw_pid_alive(G.pid), "gatewayd died of a truncated packet");
		expect_uwsgi_serves("a truncated packet and a close");

		/* Just 2 bytes of the header, then EOF. */
		out = uw_raw(pkt.p, 2, true, 5, &n, &closed);
		cr_expect(closed && n == 0, "half a header, then EOF: %s, %zu bytes",
		          closed ? "closed" : "open", n);
		free(out);

		/* (b) The same, and the web server just waits: the header timeout (1 s)
		 * answers 408 and closes. */
		double took = expect_refused("truncated packet, then silence", pkt.p, 4 + 10, 5, 408,
		                             "408: the uwsgi packet did not come whole");
		cr_expect(took < 4, "the 408 took %.1f s (header timeout 1 s)", took);
		free(vars.p);
		free(pkt.p);
	}

	/* (c) A var whose key length is zero: 400, closed. */
	{
		struct bytes vars = {0}, pkt = {0};
		uw_request_vars(&vars, "GET", "/cgi-bin/echo.py", NULL);
		put16(&vars, 0);
		put16(&vars, 5);
		put(&vars, "value", 5);
		uw_packet(&pkt, &vars, (unsigned)vars.n);
		expect_refused("a zero-length key", pkt.p, pkt.n, 5, 400, "malformed uwsgi vars");
		free(vars.p);
		free(pkt.p);
	}

	/* (d) A value whose size runs past the packet: 400, closed. The bytes
	 * after the packet (what the size would take in) are the "body". */
	{
		struct bytes vars = {0}, pkt = {0};
		uw_request_vars(&vars, "GET", "/cgi-bin/echo.py", NULL);
		put16(&vars, 9);
		put(&vars, "HTTP_X_LONG", 9);
		put16(&vars, 500);
		put(&vars, "short", 5);
		uw_packet(&pkt, &vars, (unsigned)vars.n);
		char tail[600];
		memset(tail, 'z', sizeof tail);
		put(&pkt, tail, sizeof tail);
		expect_refused("a value past the packet", pkt.p, pkt.n, 5, 400, NULL);
		/* And a key size past it. */
		vars.n = 0;
		pkt.n = 0;
		uw_var(&vars, "REQUEST_METHOD", "GET");
		put16(&vars, 4000);
		put(&vars, "KEY", 3);
		uw_packet(&pkt, &vars, (unsigned)vars.n);
		expect_refused("a key past the packet", pkt.p, pkt.n, 5, 400, NULL);
		free(vars.p);
		free(pkt.p);
	}

	/* (e) HTTP sent to the uwsgi port: closed, and the log says it was HTTP. */
	{
		const char *req = "GET /cgi-bin/echo.py HTTP/1.1\r\nHost: localhost\r\n\r\n";
		out = uw_raw(req, strlen(req), false, 5, &n, &closed);
		cr_expect(closed, "HTTP on the uwsgi port: not closed");
		cr_expect_eq(n, 0, "HTTP on the uwsgi port: answered %.200s", out);
		free(out);
		bool logged = gw_log_contains(G.error_log, "GET /cgi-bin/echo.py HTTP/1.1", 3);
		char *line = logged ? gw_last_line_with(G.error_log, "GET /cgi-bin/echo.py HTTP/1.1") : NULL;
		cr_expect(line && strstr(line, "HTTP") && strstr(line, "uwsgi port"),
		          "the log does not say HTTP came to the uwsgi port: %s", line ? line : "(none)");
		free(line);
		expect_uwsgi_serves("HTTP text");
		/* A POST line too (the method is not what is checked). */
		req = "POST /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n";
		out = uw_raw(req, strlen(req), false, 5, &n, &closed);
		cr_expect(closed && n == 0, "HTTP POST on the uwsgi port: %s, %zu bytes",
		          closed ? "closed" : "open", n);
		free(out);
		cr_expect(gw_log_contains(G.error_log, "received HTTP (\"POST /x HTTP/1.0\")", 3),
		          "the POST line is not in the log");
	}

	/* (f) A packet whose body stops: CONTENT_LENGTH 1000, 10 bytes, silence.
	 * The body timeout (1 s) answers 408 (the CGI script has written
	 * nothing yet), closes, and the script is gone. */
	{
		struct bytes vars = {0}, pkt = {0};
		uw_request_vars(&vars, "POST", "/cgi-bin/echo.py/slow-body", "1000");
		uw_packet(&pkt, &vars, (unsigned)vars.n);
		put(&pkt, "0123456789", 10);
		double took = expect_refused("a body that stops", pkt.p, pkt.n, 6, 408,
		                             "408: the request body did not come");
		cr_expect(took < 5, "the 408 took %.1f s (body timeout 1 s)", took);
		free(vars.p);
		free(pkt.p);
	}

	/* (g) A modifier1 other than 0: closed at once, logged. */
	{
		unsigned char pkt[] = {5, 4, 0, 0, 'a', 'b', 'c', 'd'};
		out = uw_raw(pkt, sizeof pkt, false, 5, &n, &closed);
		cr_expect(closed && n == 0, "modifier1 5: %s, %zu bytes", closed ? "closed" : "open", n);
		free(out);
		cr_expect(gw_log_contains(G.error_log, "modifier1 5", 2), "modifier1 5 not logged");
	}

	cr_expect(gw_pid_alive(G.pid), "gatewayd died");
	expect_uwsgi_serves("all of it");
	expect_fds_back(fds, "the bad packets");
	/* CGI only: every script reaped (one just answered may be a zombie for a
	 * moment). */
	int zombies = 0;
	bool none = gw_wait_children(G.pid, 0, 5);
	int kids = gw_count_children(G.pid, &zombies);
	cr_expect(none, "%d children (%d zombies) left", kids, zombies);
	finish_ok();
}

/* ============================================================================
 * 4. Variables that do not fit a uwsgi packet: 431, never a cut packet
 * ========================================================================== */

static char *big_header(const char *name, size_t n, char fill)
{
	char *h = malloc(strlen(name) + n + 8);
	cr_assert_not_null(h);
	size_t k = (size_t)sprintf(h, "%s: ", name);
	memset(h + k, fill, n);
	memcpy(h + k + n, "\r\n", 3);
	return h;
}

Test(uwsgi, oversized_vars_431_never_a_cut_packet)
{
	require_python_module("wsgiref.validate", "python3");
	/* The HTTP front takes header blocks up to 256 KiB here, so the uwsgi
	 * packet's 64 KiB is the limit that trips. */
	start_with_pools("{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"},"
	                 " {\"uwsgi\": \"127.0.0.1:@UPORT@\"}], \"temp_dir\": \"@DIR@\","
	                 " \"limits\": {\"header_size\": 262144, \"request_line\": 131072},"
	                 " \"pools\": {@POOLS@},"
	                 " \"routes\": [{\"match\": \"/wsgi/\", \"pool\": \"echo_u\"},"
	                 "  {\"match\": \"/wsgi-fcgi/\", \"pool\": \"echo_f\"}]}",
	                 ECHO_POOLS, 2);
	pid_t worker;
	cr_assert_eq(pool_pids("echo_u", &worker, 1), 1);
	struct reply r;
	/* One request to each pool first: gatewayd keeps its FastCGI connection. */
	must_get("/wsgi/echo?warm-up", 200, &r);
	reply_free(&r);
	must_get("/wsgi-fcgi/echo?warm-up", 200, &r);
	reply_free(&r);
	int fds = gw_count_fds(G.pid);

	/* One header of 70000 bytes: HTTP_X_BIG alone passes 64 KiB. */
	char *h = big_header("X-Big", 70000, 'a');
	must(G.port, "GET", "/wsgi/echo?one-big", h, NULL, 0, 431, &r);
	reply_free(&r);
	char *rid = rid_of("/wsgi/echo?one-big");
	cr_expect(log_has_line_with(G.error_log, rid, "64 KiB: 431", 3),
	          "no error log line for request %s saying why 431", rid);
	free(rid);
	/* Through FastCGI the same request is fine: the cap is uwsgi's. */
	must(G.port, "GET", "/wsgi-fcgi/echo?one-big", h, NULL, 0, 200, &r);
	cr_expect_eq(num_field(r.body, "x_big_len="), 70000, "FastCGI: %s", r.body);
	reply_free(&r);
	free(h);

	/* Two headers of 33000: each fits, together they do not. */
	char *h1 = big_header("X-Big-One", 33000, 'b'), *h2 = big_header("X-Big-Two", 33000, 'c');
	char *both = NULL;
	cr_assert(asprintf(&both, "%s%s", h1, h2) > 0);
	must(G.port, "GET", "/wsgi/echo?two-big", both, NULL, 0, 431, &r);
	reply_free(&r);
	rid = rid_of("/wsgi/echo?two-big");
	cr_expect(log_has_line_with(G.error_log, rid, "64 KiB: 431", 3),
	          "no error log line for request %s saying why 431", rid);
	free(rid);
	free(h1);
	free(h2);
	free(both);

	/* A POST whose vars do not fit: 431 too, its body notwithstanding. */
	h = big_header("X-Big", 66000, 'd');
	unsigned char *body = binary_body(200000, 3);
	must(G.port, "POST", "/wsgi/echo?big-post", h, body, 200000, 431, &r);
	reply_free(&r);
	free(body);
	free(h);

	/* Just under the cap: the whole value arrives, not a byte short. */
	h = big_header("X-Big", 60000, 'e');
	must(G.port, "GET", "/wsgi/echo?fits", h, NULL, 0, 200, &r);
	cr_expect_eq(num_field(r.body, "x_big_len="), 60000, "%s", r.body);
	cr_expect_eq(num_field(r.body, "pid="), worker, "%s", r.body);
	reply_free(&r);
	free(h);

	/* Through the uwsgi front: a packet that fits as it comes (65535 bytes of
	 * vars, the most there can be) no longer does once gatewayd adds its own
	 * (SCRIPT_NAME, GATEWAY_REQUEST_ID, ...) for the pool: 431 over uwsgi. */
	{
		struct bytes vars = {0}, pkt = {0};
		uw_request_vars(&vars, "GET", "/wsgi/echo?via-uwsgi-front", NULL);
		size_t fill = 65535 - vars.n - 4 - strlen("HTTP_X_BIG");
		char *v = malloc(fill + 1);
		cr_assert_not_null(v);
		memset(v, 'f', fill);
		v[fill] = '\0';
		uw_var(&vars, "HTTP_X_BIG", v);
		free(v);
		cr_assert_eq(vars.n, 65535);
		uw_packet(&pkt, &vars, (unsigned)vars.n);
		size_t n;
		bool closed;
		char *out = uw_raw(pkt.p, pkt.n, false, 10, &n, &closed);
		expect_status_and_close("vars that outgrow the packet on the way to the pool", out, n,
		                        closed, 431);
		free(out);
		free(vars.p);
		free(pkt.p);
	}

	/* No cut packet ever reached the worker: it never complained, it served
	 * only the three requests that fit, and it is the same process. */
	must_get("/wsgi/echo?after", 200, &r);
	cr_expect_eq(num_field(r.body, "pid="), worker, "%s", r.body);
	reply_free(&r);
	cr_expect_eq(pool_stat("echo_u", "requests_served"), 3,
	             "the uwsgi pool counted requests that never reached it");
	expect_fds_back(fds, "the 431s");
	static const char *const worker_complaints[] = {"uwsgi: truncated", "uwsgi: malformed",
	                                                "Traceback", NULL};
	for (int i = 0; worker_complaints[i]; i++) {
		char *line = gw_last_line_with(G.error_log, worker_complaints[i]);
		cr_expect_null(line, "the worker got a bad packet: %s", line);
		free(line);
	}
	pid_t again;
	cr_expect(pool_pids("echo_u", &again, 1) == 1 && again == worker);
	finish_ok();
}

/* ============================================================================
 * 5. Faults in the application
 * ========================================================================== */

/* The validated test application as the pool "v" under /v/, its worker idle. */
static void start_validate_pool(const char *proto, const char *extra)
{
	require_python_module("wsgiref.validate", "python3");
	const struct pool_def v = {"v", proto, TESTAPPS, "validate_app:application", extra};
	start_with_pools("{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}],"
	                 " \"temp_dir\": \"@DIR@\", \"pools\": {@POOLS@},"
	                 " \"routes\": [{\"match\": \"/v/\", \"pool\": \"v\"}]}", &v, 1);
}

/* GET /v/env: the worker's pid. */
static long env_pid(const char *what)
{
	struct reply r;
	must_get("/v/env", 200, &r);
	json_t *j = json_body(&r, what);
	long pid = (long)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	reply_free(&r);
	return pid;
}

static void run_raises(const char *proto)
{
	require_python_module("wsgiref.validate", "python3");
	const struct pool_def pools[] = {
		{"v", proto, TESTAPPS, "validate_app:application", "\"processes\": 1"},
		{"m", proto, TESTAPPS, "misbehave_app:application", "\"processes\": 1"},
	};
	start_with_pools("{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}],"
	                 " \"temp_dir\": \"@DIR@\", \"pools\": {@POOLS@},"
	                 " \"routes\": [{\"match\": \"/v/\", \"pool\": \"v\"},"
	                 "  {\"match\": \"/m/\", \"pool\": \"m\"}]}", pools, 2);
	long pid = env_pid("before");
	cr_assert_gt(pid, 0);
	int fds = gw_count_fds(G.pid);
	struct reply r;
	char url[100];
	snprintf(url, sizeof url, "/v/raise?tag=raise-%s", proto);
	expect_get(url, 500, "Internal Server Error");
	char *rid = rid_of(url);
	/* The traceback is in gatewayd's error log, on lines with the request id
	 * where every error log line has it ("req=ID: "), for both protocols. */
	char tagged[64];
	snprintf(tagged, sizeof tagged, "req=%s: ", rid);
	cr_expect(log_has_line_with(G.error_log, tagged, "Traceback (most recent call last)", 5),
	          "%s: no traceback line tagged %s", proto, tagged);
	cr_expect(log_has_line_with(G.error_log, rid,
	                            "RuntimeError: raised on purpose by test/wsgi/raises.py", 5),
	          "%s: no exception line with request id %s", proto, rid);
	cr_expect(log_has_line_with(G.error_log, rid, "raises.py\", line", 5),
	          "%s: no frame of raises.py with request id %s", proto, rid);
	free(rid);
	if (!log_line_with(G.error_log, "Traceback", "RuntimeError"))
		cr_log_info("(the traceback spans lines, each with the request id)");
	/* The same worker serves the next request. */
	cr_expect_eq(env_pid("after the exception"), pid, "%s: another worker after a raise", proto);

	/* An exception after the headers went out (no Content-Length): the
	 * worker cuts the response. Over FastCGI that is a close without
	 * END_REQUEST, and gatewayd cuts the chunked answer (no last chunk). A
	 * uwsgi answer ends with the close in any case: nothing tells gatewayd,
	 * so the client gets what was sent as if whole (a limit of the protocol;
	 * with a Content-Length the shortfall shows, below). */
	snprintf(url, sizeof url, "/v/after?tag=after-%s", proto);
	int rc = http(G.port, "GET", url, NULL, NULL, 0, 10, &r);
	cr_expect_eq(rc, 0, "%s: no answer", url);
	cr_expect_eq(r.status, 200, "%s: %d", url, r.status);
	if (strcmp(proto, "fastcgi") == 0)
		cr_expect(!r.complete, "%s: a cut response looked complete: %s", url, r.body);
	cr_expect(r.body && strcmp(r.body, "first block\n") == 0, "%s: %s", url, r.body);
	reply_free(&r);
	rid = rid_of(url);
	cr_expect(log_has_line_with(G.error_log, rid, "raised on purpose after the headers", 5),
	          "%s: the exception after the headers is not logged with %s", proto, rid);
	free(rid);
	cr_expect_eq(env_pid("after a cut response"), pid, "%s: another worker after a cut", proto);

	/* A response cut short of its Content-Length (misbehave_app's "short":
	 * 10 of the 100 bytes declared): the client sees the shortfall. */
	wait_idle("m", 1, 15);
	rc = http(G.port, "GET", "/m/?case=short", NULL, NULL, 0, 10, &r);
	cr_expect_eq(rc, 0, "/m/?case=short: no answer");
	cr_expect_eq(r.status, 200);
	cr_expect(!r.complete, "%s: a response short of its Content-Length looked complete", proto);
	cr_expect(r.body && strcmp(r.body, "only ten b") == 0, "%s: %s", proto, r.body);
	reply_free(&r);
	must_get("/m/?case=fine", 200, &r);
	cr_expect_str_eq(r.body, "fine\n");
	reply_free(&r);
	pid_t pids[2];
	cr_expect_eq(pool_pids("v", pids, 2), 1);
	cr_expect_eq(pids[0], pid);
	cr_expect_eq(pool_stat("v", "crashes"), 0);
	cr_expect_eq(pool_stat("v", "spawns"), 1);
	/* No descriptor left behind by the exceptions and the cuts (over FastCGI
	 * gatewayd gw_now also keeps a connection to the second pool's worker). */
	expect_fds_back(fds + (strcmp(proto, "fastcgi") == 0 ? 1 : 0), "exceptions and cuts");
	finish_ok();
}

Test(uwsgi, app_raises_500_traceback_logged_same_worker_over_uwsgi) { run_raises("uwsgi"); }
Test(uwsgi, app_raises_500_traceback_logged_same_worker_over_fastcgi) { run_raises("fastcgi"); }

static void run_ignored_body(const char *proto)
{
	start_validate_pool(proto, "\"processes\": 1");
	long pid = env_pid("before");
	size_t blen = 8 << 20;
	unsigned char *body = binary_body(blen, 11);
	for (int i = 0; i < 2; i++) {
		struct reply r;
		must(G.port, "POST", "/v/ignore-body", "Content-Type: application/octet-stream\r\n", body,
		     blen, 200, &r);
		cr_expect_str_eq(r.body, "ignored a body of 8388608 bytes\n");
		reply_free(&r);
		cr_expect_eq(env_pid("after an ignored body"), pid, "%s: another worker", proto);
	}
	free(body);
	/* A body that is read, after them, arrives whole. */
	size_t small = 100000;
	body = binary_body(small, 12);
	struct reply r;
	must(G.port, "POST", "/v/env?read=all", "Content-Type: application/octet-stream\r\n", body,
	     small, 200, &r);
	json_t *j = json_body(&r, "/v/env?read=all");
	cr_expect_eq(json_integer_value(json_object_get(j, "body_len")), (json_int_t)small);
	cr_expect_eq(json_integer_value(json_object_get(j, "pid")), pid);
	json_decref(j);
	reply_free(&r);
	free(body);
	cr_expect_eq(pool_stat("v", "errors"), 0);
	cr_expect_eq(pool_stat("v", "crashes"), 0);
	finish_ok();
}

Test(uwsgi, app_ignores_a_big_body_next_request_served_over_uwsgi) { run_ignored_body("uwsgi"); }
Test(uwsgi, app_ignores_a_big_body_next_request_served_over_fastcgi)
{
	run_ignored_body("fastcgi");
}

/* GET target; read the head, wait pause s (the worker keeps producing), then
 * read the body to its Content-Length, checking stream.py's pattern. */
static void stream_and_check(const char *target, size_t want, double pause)
{
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	char req[300];
	int k = snprintf(req, sizeof req,
	                 "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
	                 target);
	gw_send_all(fd, req, (size_t)k);
	static const char pattern[] = "0123456789abcdef";
	size_t cap = 1 << 20, have = 0;
	char *buf = malloc(cap);
	cr_assert_not_null(buf);
	double deadline = gw_now() + 40;
	char *end = NULL;
	while (!end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		double left = deadline - gw_now();
		cr_assert(left > 0 && poll(&p, 1, (int)(left * 1000) + 1) > 0, "no head");
		ssize_t n = recv(fd, buf + have, cap - have - 1, 0);
		cr_assert_gt(n, 0, "closed before the head");
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	int status = 0;
	sscanf(buf, "HTTP/1.%*d %d", &status);
	cr_assert_eq(status, 200, "%s: %.300s", target, buf);
	struct reply hr = {.head = strndup(buf, (size_t)(end - buf) + 2)};
	char *cl = hdr(&hr, "Content-Length");
	cr_expect(cl && strtoull(cl, NULL, 10) == want, "Content-Length %s, want %zu", cl, want);
	free(cl);
	free(hr.head);
	size_t got = 0, bad_at = SIZE_MAX;
	size_t first = have - (size_t)(end + 4 - buf);
	for (size_t i = 0; i < first; i++)
		if (end[4 + i] != pattern[(got + i) & 15] && bad_at == SIZE_MAX)
			bad_at = got + i;
	got += first;
	gw_sleep(pause);
	while (got < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		double left = deadline - gw_now();
		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			break;
		ssize_t n = recv(fd, buf, cap, 0);
		if (n <= 0)
			break;
		if (bad_at == SIZE_MAX)
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != pattern[(got + (size_t)i) & 15]) {
					bad_at = got + (size_t)i;
					break;
				}
		got += (size_t)n;
	}
	close(fd);
	free(buf);
	cr_expect_eq(got, want, "%s: %zu bytes of %zu arrived", target, got, want);
	cr_expect_eq(bad_at, SIZE_MAX, "%s: byte %zu is not the pattern's", target, bad_at);
}

static void run_stream(const char *proto)
{
	start_validate_pool(proto, "\"processes\": 1");
	struct reply r;
	must_get("/v/hello", 200, &r);
	reply_free(&r);
	long before = vm_kib(G.pid, "VmHWM:");
	cr_assert_gt(before, 0);
	double t0 = gw_now();
	/* The client waits 1 s after the head: unless gatewayd stops reading the
	 * worker while the client is behind, the worker's 100 MiB would pile up
	 * in gatewayd by then. */
	stream_and_check("/v/stream", (size_t)100 << 20, 1.0);
	double took = gw_now() - t0;
	long after = vm_kib(G.pid, "VmHWM:");
	cr_log_info("%s: 100 MiB in %.2f s; gatewayd VmHWM %ld KiB before, %ld KiB after", proto,
	            took, before, after);
	cr_expect_lt(after - before, 32 * 1024, "%s: gatewayd's peak RSS grew by %ld KiB for a "
	             "streamed response", proto, after - before);
	cr_expect_lt(after, 64 * 1024, "%s: gatewayd's peak RSS is %ld KiB", proto, after);
	/* The worker serves on. */
	must_get("/v/hello", 200, &r);
	reply_free(&r);
	cr_expect_eq(pool_stat("v", "errors"), 0);
	finish_ok();
}

Test(uwsgi, app_streams_100_mib_all_arrives_memory_bounded_over_uwsgi) { run_stream("uwsgi"); }
Test(uwsgi, app_streams_100_mib_all_arrives_memory_bounded_over_fastcgi)
{
	run_stream("fastcgi");
}

Test(uwsgi, leaking_app_recycled_after_max_requests_no_request_fails)
{
	start_validate_pool("uwsgi", "\"processes\": 1, \"max_requests\": 3");
	long pids[8];
	long blocks[8];
	for (int i = 0; i < 8; i++) {
		struct reply r;
		char url[64];
		snprintf(url, sizeof url, "/v/leak?kib=2048&i=%d", i);
		must_get(url, 200, &r);
		const char *p = strstr(r.body, "pid ");
		const char *h = strstr(r.body, " holds ");
		cr_assert(p && h, "leak: %s", r.body);
		pids[i] = strtol(p + 4, NULL, 10);
		blocks[i] = strtol(h + 7, NULL, 10);
		reply_free(&r);
	}
	/* 3 requests per process: pids A A A B B B C C, each one's hoard 1 2 3. */
	for (int i = 0; i < 8; i++) {
		cr_expect_eq(blocks[i], i % 3 + 1, "request %d: %ld blocks held (pid %ld)", i, blocks[i],
		             pids[i]);
		if (i % 3)
			cr_expect_eq(pids[i], pids[i - 1], "request %d: pid %ld after %ld", i, pids[i],
			             pids[i - 1]);
		else if (i)
			cr_expect_neq(pids[i], pids[i - 1], "request %d: still pid %ld after 3 requests", i,
			              pids[i]);
	}
	cr_expect_neq(pids[6], pids[0]);
	/* The recycled workers are gone (reaped, not zombies), and none crashed. */
	for (int i = 0; i < 6; i += 3) {
		pid_t old = (pid_t)pids[i];
		cr_expect(gw_wait_until(gw_pid_gone, &old, 5), "worker %ld still runs after its "
		          "max_requests", pids[i]);
	}
	int zombies = 0;
	bool one = gw_wait_children(G.pid, 1, 5);
	int kids = gw_count_children(G.pid, &zombies);
	cr_expect(one, "gatewayd has %d children (%d zombies), not one worker", kids, zombies);
	cr_expect_eq(pool_stat("v", "crashes"), 0);
	cr_expect_eq(pool_stat("v", "errors"), 0);
	cr_expect_eq(pool_stat("v", "spawns"), 3);
	finish_ok();
}
