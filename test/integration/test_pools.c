/* Persistent worker pools end to end (issue 4, item 7): the real gatewayd
 * binary with real worker processes -- examples/hello.fcgi (libfcgi C),
 * php-cgi, and the Perl FCGI fixtures of test/fixtures/pools (worker.pl: pid
 * and request count, "?hang", "?sleep=S"; crash-at-start.pl: exits at once).
 *
 * Every test stops its daemon with SIGTERM and checks that it exited 0 (under
 * ASan a leak makes that fail) unless the test killed it, and ends with
 * gw_assert_no_leaks(). A test that fails half way leaves its daemon (and any
 * external worker it started) to teardown(). Every wait is bounded. */
#include "test/integration/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the daemon ----------------------------------------------------------- */

static struct gw_proc G;   /* the test's daemon */
static pid_t external_pid; /* an external worker the test started (spawn-fcgi) */

static void teardown(void)
{
	if (external_pid > 0) {
		kill(external_pid, SIGKILL);
		waitpid(external_pid, NULL, 0);
		external_pid = 0;
	}
	gw_cleanup(&G);
}

TestSuite(pools, .fini = teardown, .timeout = 45);

/* SIGTERM; the daemon must exit 0 (ASan: no leak). Then remove its directory. */
static void stop_ok(struct gw_proc *g)
{
	gw_stop_ok(g, 15, NULL);
}

/* Every config: the HTTP listener, and worker sockets in the test's own
 * directory (removed with it, even after a kill -9). */
#define BASE "\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}], \"temp_dir\": \"@DIR@\", "
#define HELLO_CMD "\"protocol\": \"fastcgi\", \"command\": [\"@BUILD@/examples/hello.fcgi\"], " \
	"\"stop_signal\": \"USR1\""
#define PERL_CMD "\"protocol\": \"fastcgi\", \"command\": [\"@FIX@/pools/worker.pl\"]"
#define PHP_CMD "\"protocol\": \"fastcgi\", \"command\": [\"php-cgi\"], " \
	"\"env\": {\"PHP_FCGI_CHILDREN\": \"0\", \"PHP_FCGI_MAX_REQUESTS\": \"0\", " \
	"\"PATH\": \"/usr/local/bin:/usr/bin:/bin\"}"

/* ---- an HTTP client of our own: thread-safe, several connections at once -- */

struct client {
	int fd;
	char *buf;
	size_t len, cap;
};

struct resp {
	int status;
	char *head;
	char *body;
	size_t body_len;
	bool closed;    /* the server said Connection: close, or closed */
	double took;    /* seconds from the request to the whole response */
};

static void resp_free(struct resp *r)
{
	free(r->head);
	free(r->body);
	r->head = r->body = NULL;
}

static int cl_open(struct client *c, int port)
{
	memset(c, 0, sizeof *c);
	c->fd = gw_connect(port);
	return c->fd >= 0 ? 0 : -1;
}

static void cl_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

static bool cl_fill(struct client *c, double deadline)
{
	if (c->cap - c->len < 8193) {
		size_t cap = c->cap * 2 + 16384;
		char *b = realloc(c->buf, cap);
		if (!b)
			return false;
		c->buf = b;
		c->cap = cap;
	}
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	double left = deadline - gw_now();
	if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
		return false;
	ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
	if (n <= 0)
		return false;
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return true;
}

static void cl_take(struct client *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
	c->buf[c->len] = '\0';
}

/* A header's value in head (case-insensitive), malloc'd, or NULL. */
static char *hdr(const char *head, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = head ? strstr(head, "\r\n") : NULL; p && *p;) {
		p += 2;
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			eol = p + strlen(p);
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			while (*v == ' ')
				v++;
			return strndup(v, (size_t)(eol - v));
		}
		p = eol;
	}
	return NULL;
}

static bool body_append(struct resp *r, const char *p, size_t n)
{
	char *b = realloc(r->body, r->body_len + n + 1);
	if (!b)
		return false;
	r->body = b;
	memcpy(b + r->body_len, p, n);
	r->body_len += n;
	b[r->body_len] = '\0';
	return true;
}

/* One response from c (Content-Length, chunked or to the close): 0, or -1 on
 * a timeout, a close before the end, or a malformed answer. */
static int cl_read(struct client *c, struct resp *r, double timeout)
{
	double deadline = gw_now() + timeout;
	char *end;
	memset(r, 0, sizeof *r);
	r->body = calloc(1, 1);
	while (!c->buf || !(end = strstr(c->buf, "\r\n\r\n")))
		if (!cl_fill(c, deadline))
			return -1;
	size_t hlen = (size_t)(end - c->buf) + 4;
	r->head = strndup(c->buf, hlen - 2);
	cl_take(c, hlen);
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		return -1;
	char *te = hdr(r->head, "Transfer-Encoding"), *cl = hdr(r->head, "Content-Length");
	char *conn = hdr(r->head, "Connection");
	int rc = 0;
	r->closed = conn && strcasecmp(conn, "close") == 0;
	if (te && strcasecmp(te, "chunked") == 0) {
		for (;;) {
			char *eol;
			while (!(eol = strstr(c->buf, "\r\n")))
				if (!cl_fill(c, deadline))
					goto bad;
			size_t size = strtoul(c->buf, NULL, 16);
			cl_take(c, (size_t)(eol - c->buf) + 2);
			while (c->len < size + 2)
				if (!cl_fill(c, deadline))
					goto bad;
			if (!body_append(r, c->buf, size))
				goto bad;
			cl_take(c, size + 2);
			if (size == 0)
				break;
		}
	} else if (cl) {
		size_t size = strtoul(cl, NULL, 10);
		while (c->len < size)
			if (!cl_fill(c, deadline))
				goto bad;
		if (!body_append(r, c->buf, size))
			goto bad;
		cl_take(c, size);
	} else {
		while (cl_fill(c, deadline))
			;
		body_append(r, c->buf ? c->buf : "", c->len);
		cl_take(c, c->len);
		r->closed = true;
	}
	goto out;
bad:
	rc = -1;
out:
	free(te);
	free(cl);
	free(conn);
	return rc;
}

static void cl_send_request(struct client *c, const char *method, const char *target,
                            const char *body, bool keep_alive)
{
	char *req = NULL;
	size_t blen = body ? strlen(body) : 0;
	int n = body ? asprintf(&req, "%s %s HTTP/1.1\r\nHost: test\r\n%sContent-Type: "
	                        "application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
	                        method, target, keep_alive ? "" : "Connection: close\r\n", blen, body)
	             : asprintf(&req, "%s %s HTTP/1.1\r\nHost: test\r\n%s\r\n", method, target,
	                        keep_alive ? "" : "Connection: close\r\n");
	if (n > 0)
		gw_send_all(c->fd, req, (size_t)n);
	free(req);
}

/* One request on a new connection: 0 and *r, or -1 (no complete answer). */
static int http(int port, const char *method, const char *target, const char *body,
                struct resp *r, double timeout)
{
	struct client c;
	double t0 = gw_now();
	memset(r, 0, sizeof *r);
	if (cl_open(&c, port) < 0)
		return -1;
	cl_send_request(&c, method, target, body, false);
	int rc = cl_read(&c, r, timeout);
	r->took = gw_now() - t0;
	cl_close(&c);
	return rc;
}

static int get(const char *target, struct resp *r)
{
	return http(G.port, "GET", target, NULL, r, 10);
}

/* GET that must answer status; returns the response for more checks. */
static void must_get(const char *target, int status, struct resp *r)
{
	int rc = get(target, r);
	if (rc != 0 || r->status != status)
		gw_dump_log(&G);
	cr_assert_eq(rc, 0, "no complete response to GET %s", target);
	cr_assert_eq(r->status, status, "GET %s: status %d, wanted %d; body: %s", target, r->status,
	             status, r->body);
}

/* A request in a thread of its own, for requests that must overlap. */
struct async {
	pthread_t t;
	int port;
	const char *method;   /* NULL: GET */
	const char *body;
	const char *raw; /* a whole request, sent as it is instead */
	char target[256];
	int rc;
	struct resp r;
	double started;
};

static void *async_run(void *arg)
{
	struct async *a = arg;
	a->started = gw_now();
	if (a->raw) {
		struct client c;
		a->rc = -1;
		if (cl_open(&c, a->port) == 0) {
			gw_send_all(c.fd, a->raw, strlen(a->raw));
			a->rc = cl_read(&c, &a->r, 30);
			cl_close(&c);
		}
		return NULL;
	}
	a->rc = http(a->port, a->method ? a->method : "GET", a->target, a->body, &a->r, 30);
	return NULL;
}

static void async_start(struct async *a, const char *target)
{
	memset(a, 0, sizeof *a);
	a->port = G.port;
	snprintf(a->target, sizeof a->target, "%s", target);
	cr_assert_eq(pthread_create(&a->t, NULL, async_run, a), 0);
}

/* A POST of body (kept by the caller until joined) to target, in a thread. */
static void async_post(struct async *a, const char *target, const char *body)
{
	memset(a, 0, sizeof *a);
	a->port = G.port;
	a->method = "POST";
	a->body = body;
	snprintf(a->target, sizeof a->target, "%s", target);
	cr_assert_eq(pthread_create(&a->t, NULL, async_run, a), 0);
}

static void async_join(struct async *a)
{
	pthread_join(a->t, NULL);
}

/* The number after prefix in text ("perl pid " -> the pid), or -1. */
static long num_after(const char *text, const char *prefix)
{
	const char *p = text ? strstr(text, prefix) : NULL;
	return p ? strtol(p + strlen(prefix), NULL, 10) : -1;
}

/* ---- status --------------------------------------------------------------- */

static json_t *status(void)
{
	return gw_status(G.port);
}

static long long pcount(json_t *pool, const char *state)
{
	return gw_ival(json_object_get(pool, "processes"), state);
}

/* Pids of the pool's workers (in state, or any but dead when state is NULL). */
static int worker_pids(json_t *pool, const char *state, pid_t *out, int max)
{
	size_t i;
	json_t *w;
	int n = 0;
	json_array_foreach(json_object_get(pool, "workers"), i, w) {
		const char *s = json_string_value(json_object_get(w, "state"));
		json_t *pid = json_object_get(w, "pid");
		if (!json_is_integer(pid) || (state ? strcmp(s, state) != 0 : strcmp(s, "dead") == 0))
			continue;
		if (n < max)
			out[n] = (pid_t)json_integer_value(pid);
		n++;
	}
	return n;
}

/* One pool's counts in one status snapshot. */
static long long pool_stat(const char *pool, const char *key)
{
	return gw_pool_stat(G.port, pool, key);
}

static long long pool_state(const char *pool, const char *state)
{
	json_t *st = status();
	long long v = pcount(gw_pool_of(st, pool), state);
	json_decref(st);
	return v;
}

struct state_probe {
	const char *pool;
	const char *state;
	long long n;
};

static bool state_is(void *arg)
{
	struct state_probe *p = arg;
	return pool_state(p->pool, p->state) == p->n;
}

/* Wait (bounded) until the pool has n workers in state. */
static void wait_state(const char *pool, const char *state, long long n, double timeout)
{
	struct state_probe p = {pool, state, n};
	bool ok = gw_wait_until(state_is, &p, timeout);
	if (!ok)
		gw_dump_log(&G);
	cr_assert(ok, "pool %s: never %lld %s within %.1f s (gw_now %lld)", pool, n, state, timeout,
	          pool_state(pool, state));
}

struct queue_probe {
	const char *pool;
	long long n;
};

/* For gw_wait_until: are n requests in the pool's queue? */
static bool queue_is(void *arg)
{
	struct queue_probe *q = arg;
	return pool_stat(q->pool, "queue_length") == q->n;
}

/* What must be idle once gatewayd is up: so many workers of the pool, within
 * so many seconds. */
struct idle_want {
	const char *pool;
	long long workers;
	double within;
};

/* gatewayd on config; then, for each of want (ended by {NULL}), the pool's
 * workers idle. */
static void start_idle(const char *config, const struct idle_want *want)
{
	gw_start(&G, config);
	for (; want->pool; want++)
		wait_state(want->pool, "idle", want->workers, want->within);
}

/* gatewayd with the one pool "perl" (test/fixtures/pools/worker.pl) under
 * /perl/: processes workers, more keys of the pool after them (", ..." or
 * ""), all idle. */
static void start_perl(int processes, const char *more)
{
	char config[2048];
	snprintf(config, sizeof config,
	         "{" BASE "\"pools\": {\"perl\": {" PERL_CMD ", \"processes\": %d%s}},"
	         "\"routes\": [{\"match\": \"/perl/\", \"pool\": \"perl\"}]}", processes, more);
	const struct idle_want perl[] = {{"perl", processes, 5}, {NULL}};
	start_idle(config, perl);
}

/* The three kinds of worker: the compiled hello (two), php-cgi (one, its
 * scripts under /php/) and the Perl fixture (two). */
#define THREE_POOLS                                                                              \
	"{" BASE "\"pools\": {"                                                                    \
	"\"hello\": {" HELLO_CMD ", \"processes\": 2},"                                            \
	"\"php\": {" PHP_CMD ", \"processes\": 1},"                                                \
	"\"perl\": {" PERL_CMD ", \"processes\": 2}},"                                             \
	"\"routes\": [{\"match\": \"=/hello\", \"pool\": \"hello\"},"                             \
	"{\"match\": \"/php/\", \"pool\": \"php\", \"root\": \"@FIX@/pools/php\"},"              \
	"{\"match\": \"/perl/\", \"pool\": \"perl\"}]}"
static const struct idle_want THREE_POOLS_IDLE[] = {
	{"hello", 2, 5}, {"php", 1, 5}, {"perl", 2, 5}, {NULL}};

/* The end of most tests: gatewayd stopped (it must exit 0), no leak in the test. */
static void finish_ok(void)
{
	stop_ok(&G);
	gw_assert_no_leaks();
}

struct pids_probe {
	const pid_t *pids;
	int n;
};

static bool all_dead(void *arg)
{
	struct pids_probe *p = arg;
	for (int i = 0; i < p->n; i++)
		if (gw_pid_alive(p->pids[i]))
			return false;
	return true;
}

static bool pids_dead_within(const pid_t *pids, int n, double timeout)
{
	struct pids_probe p = {pids, n};
	return gw_wait_until(all_dead, &p, timeout);
}

static bool contains_pid(const pid_t *pids, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

struct busy_probe {
	const char *pool;
	const char *uri_part;
	pid_t pid;
};

/* A busy worker of the pool whose current_uri contains uri_part: its pid. */
static bool find_busy(void *arg)
{
	struct busy_probe *b = arg;
	json_t *st = status(), *w;
	size_t i;
	json_array_foreach(json_object_get(gw_pool_of(st, b->pool), "workers"), i, w) {
		const char *s = json_string_value(json_object_get(w, "state"));
		const char *uri = json_string_value(json_object_get(w, "current_uri"));
		if (strcmp(s, "busy") == 0 && uri && strstr(uri, b->uri_part)) {
			b->pid = (pid_t)json_integer_value(json_object_get(w, "pid"));
			break;
		}
	}
	json_decref(st);
	return b->pid > 0;
}

static pid_t busy_pid(const char *pool, const char *uri_part)
{
	struct busy_probe b = {pool, uri_part, 0};
	bool ok = gw_wait_until(find_busy, &b, 5);
	if (!ok)
		gw_dump_log(&G);
	cr_assert(ok, "pool %s: no busy worker serving %s", pool, uri_part);
	return b.pid;
}

/* ---- 1. normal traffic ---------------------------------------------------- */

Test(pools, normal_traffic_is_served_by_persistent_workers)
{
	start_idle(THREE_POOLS, THREE_POOLS_IDLE);
	json_t *st = status();
	pid_t hello_pids[2], php_pids[1], perl_pids[2];
	cr_assert_eq(worker_pids(gw_pool_of(st, "hello"), NULL, hello_pids, 2), 2);
	cr_assert_eq(worker_pids(gw_pool_of(st, "php"), NULL, php_pids, 1), 1);
	cr_assert_eq(worker_pids(gw_pool_of(st, "perl"), NULL, perl_pids, 2), 2);
	json_decref(st);
	/* Workers run SCHED_BATCH: their wakeups never preempt the dispatcher. */
	pid_t workers[] = { hello_pids[0], hello_pids[1], php_pids[0], perl_pids[0], perl_pids[1] };
	for (size_t i = 0; i < sizeof workers / sizeof workers[0]; i++)
		cr_expect_eq(sched_getscheduler(workers[i]), SCHED_BATCH, "worker %d runs policy %d",
		             (int)workers[i], sched_getscheduler(workers[i]));

	/* hello.fcgi: each answer names a worker of the pool; one process serves
	 * several requests, counting up. */
	struct resp r;
	long last_count[2] = {0, 0};
	bool repeated = false;
	for (int i = 0; i < 6; i++) {
		must_get(i % 2 ? "/hello?n=1" : "/hello", 200, &r);
		long pid = num_after(r.body, "Hello from C, pid ");
		long count = num_after(r.body, "request ");
		cr_assert(contains_pid(hello_pids, 2, (pid_t)pid), "hello: pid %ld is no worker: %s",
		          pid, r.body);
		int k = pid == hello_pids[0] ? 0 : 1;
		cr_assert_eq(count, last_count[k] + 1, "hello: worker %ld's count went %ld -> %ld", pid,
		             last_count[k], count);
		repeated |= count >= 2;
		last_count[k] = count;
		if (i % 2)
			cr_assert(strstr(r.body, "query: n=1"), "hello lost the query: %s", r.body);
		resp_free(&r);
	}
	cr_assert(repeated, "no hello worker served a second request");

	/* php-cgi: GET with a query, POST with a body, PATH_INFO, a directory's
	 * index.php; one interpreter process throughout. */
	must_get("/php/info.php?a=1&b=two", 200, &r);
	cr_assert_eq(num_after(r.body, "php pid "), php_pids[0], "php: %s", r.body);
	cr_assert(strstr(r.body, "method=GET\n") && strstr(r.body, "get[a]=1\n") &&
	          strstr(r.body, "get[b]=two\n") && strstr(r.body, "SCRIPT_NAME=/php/info.php\n"),
	          "php GET: %s", r.body);
	resp_free(&r);
	int rc = http(G.port, "POST", "/php/info.php", "hello=world", &r, 30);
	cr_assert_eq(rc, 0);
	cr_assert_eq(r.status, 200, "php POST: %d %s", r.status, r.body);
	cr_assert(strstr(r.body, "method=POST\n") &&
	          strstr(r.body, "body bytes=11 md5=9df8ae61707d4fabedbde18b4f7d2566 "),
	          "php POST: %s", r.body);
	cr_assert_eq(num_after(r.body, "php pid "), php_pids[0], "php: %s", r.body);
	resp_free(&r);
	must_get("/php/info.php/extra/path", 200, &r);
	cr_assert(strstr(r.body, "PATH_INFO=/extra/path\n") &&
	          strstr(r.body, "SCRIPT_NAME=/php/info.php\n"), "php PATH_INFO: %s", r.body);
	resp_free(&r);
	must_get("/php/dir/", 200, &r);
	cr_assert(strstr(r.body, "dir index, pid "), "php index.php: %s", r.body);
	cr_assert_eq(num_after(r.body, "dir index, pid "), php_pids[0], "php: %s", r.body);
	resp_free(&r);

	/* Perl FCGI: PATH_INFO under the mount, the count goes up. */
	long perl_first = -1;
	for (int i = 0; i < 3; i++) {
		must_get("/perl/app/x?q=3", 200, &r);
		long pid = num_after(r.body, "perl pid ");
		cr_assert(contains_pid(perl_pids, 2, (pid_t)pid), "perl: %s", r.body);
		cr_assert(strstr(r.body, "PATH_INFO=/app/x\n") && strstr(r.body, "query: q=3\n"),
		          "perl: %s", r.body);
		if (i == 0)
			perl_first = pid;
		else if (pid == perl_first)
			cr_assert_gt(num_after(r.body, " request "), 1, "perl count: %s", r.body);
		resp_free(&r);
	}

	/* Status: served counts per pool, and per worker adding up to them. */
	st = status();
	struct {
		const char *name;
		long long served;
	} want[] = {{"hello", 6}, {"php", 4}, {"perl", 3}};
	for (size_t k = 0; k < 3; k++) {
		json_t *p = gw_pool_of(st, want[k].name), *w;
		size_t i;
		long long sum = 0;
		cr_assert_eq(gw_ival(p, "requests_served"), want[k].served, "%s requests_served",
		             want[k].name);
		json_array_foreach(json_object_get(p, "workers"), i, w)
			sum += gw_ival(w, "requests");
		cr_assert_eq(sum, want[k].served, "%s: workers' requests add up to %lld", want[k].name,
		             sum);
		cr_assert_eq(gw_ival(p, "errors"), 0);
		cr_assert_eq(gw_ival(p, "crashes"), 0);
	}
	/* The hello workers' own counts agree with what they told the clients. */
	json_t *w;
	size_t i;
	json_array_foreach(json_object_get(gw_pool_of(st, "hello"), "workers"), i, w) {
		pid_t pid = (pid_t)gw_ival(w, "pid");
		cr_assert_eq(gw_ival(w, "requests"), last_count[pid == hello_pids[0] ? 0 : 1],
		             "hello worker %d", (int)pid);
	}
	json_decref(st);

	/* Server-Timing: a pooled request creates no process and waits for no one. */
	must_get("/hello", 200, &r);
	const char *st_line = strcasestr(r.head, "\nServer-Timing: ");
	double spawn = -1, queue = -1, app = -1, total = -1;
	cr_assert(st_line && sscanf(st_line, "\nServer-Timing: spawn;dur=%lf, queue;dur=%lf, app;dur=%lf, "
	                            "total;dur=%lf", &spawn, &queue, &app, &total) == 4,
	          "no well-formed Server-Timing from a pool: %s", r.head);
	cr_expect(spawn == 0 && queue == 0 && app > 0 && total >= app,
	          "spawn %.3f queue %.3f app %.3f total %.3f", spawn, queue, app, total);
	resp_free(&r);
	finish_ok();
}

/* ---- 1b. bodies both ways, bigger than any buffer, and a slow upload ------- */

static unsigned long crc32_of(const unsigned char *p, size_t n)
{
	unsigned long crc = 0xffffffffUL;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320UL & (0UL - (crc & 1)));
	}
	return crc ^ 0xffffffffUL;
}

/* POST len bytes of body to target in pieces of piece bytes, pause seconds
 * apart; the response, or -1. Sends are bounded (SO_SNDTIMEO): a daemon that
 * stops reading cannot hang the test. */
static int post_pieces(const char *target, const char *body, size_t len, size_t piece,
                       double pause, struct resp *r)
{
	struct client c;
	memset(r, 0, sizeof *r);
	if (cl_open(&c, G.port) < 0)
		return -1;
	struct timeval tv = {.tv_sec = 5};
	setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	char head[512];
	int n = snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
	                 "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
	                 target, len);
	double t0 = gw_now();
	gw_send_all(c.fd, head, (size_t)n);
	for (size_t off = 0; off < len; off += piece) {
		if (off && pause > 0)
			gw_sleep(pause);
		gw_send_all(c.fd, body + off, len - off < piece ? len - off : piece);
	}
	int rc = cl_read(&c, r, 5);
	r->took = gw_now() - t0;
	cl_close(&c);
	return rc;
}

Test(pools, bodies_bigger_than_any_buffer_stream_both_ways)
{
	static const struct idle_want idle[] = {{"php", 1, 5}, {"perl", 1, 5}, {NULL}};
	start_idle("{" BASE "\"pools\": {"
	           "\"php\": {" PHP_CMD ", \"processes\": 1},"
	           "\"perl\": {" PERL_CMD ", \"processes\": 1}},"
	           "\"routes\": [{\"match\": \"/php/\", \"pool\": \"php\", \"root\": \"@FIX@/pools/php\"},"
	           "{\"match\": \"/perl/\", \"pool\": \"perl\"}]}", idle);
	/* 5 MB out of a worker. */
	struct resp r;
	int rc = http(G.port, "GET", "/perl/big?big=5000000", NULL, &r, 10);
	cr_assert_eq(rc, 0, "no complete 5 MB response");
	cr_assert_eq(r.status, 200);
	const char *xs = strstr(r.body, "body bytes=0\n");
	cr_assert_not_null(xs, "%.200s", r.body);
	xs += strlen("body bytes=0\n");
	cr_assert_eq(r.body_len - (size_t)(xs - r.body), 5000000, "%zu bytes of the 5 MB body",
	             r.body_len - (size_t)(xs - r.body));
	resp_free(&r);

	/* 2 MB into php-cgi, sent as fast as the socket takes it: what arrives is
	 * what was sent. */
	size_t len = 2000000;
	char *body = malloc(len + 1);
	cr_assert_not_null(body);
	for (size_t i = 0; i < len; i++)
		body[i] = (char)('a' + (i * 7 + i / 4096) % 26);
	body[len] = '\0';
	rc = post_pieces("/php/info.php", body, len, len, 0, &r);
	if (rc != 0)
		gw_dump_log(&G);
	cr_assert_eq(rc, 0, "no answer to a 2 MB POST");
	cr_assert_eq(r.status, 200, "2 MB POST: %d %s", r.status, r.body);
	char want[96];
	snprintf(want, sizeof want, "body bytes=%zu md5=", len);
	cr_assert(strstr(r.body, want), "%s", r.body);
	cr_assert_eq((unsigned long)num_after(r.body, " crc32="), crc32_of((unsigned char *)body, len),
	             "the body php-cgi got differs from the one sent: %s", r.body);
	resp_free(&r);
	free(body);
	finish_ok();
}

/* A client uploads in two pieces with a pause between (any slow client, or a
 * body larger than one read): the worker gets the whole body, and the daemon
 * goes on serving everyone else meanwhile. */
Test(pools, a_slow_upload_is_streamed_and_blocks_no_one)
{
	start_perl(2, "");
	struct client c;
	cr_assert_eq(cl_open(&c, G.port), 0);
	const char *head = "POST /perl/upload HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
	                   "Content-Length: 20\r\n\r\n0123456789";
	gw_send_all(c.fd, head, strlen(head));
	busy_pid("perl", "/perl/upload");
	gw_sleep(0.3);
	/* Meanwhile, the daemon answers others. */
	struct resp r;
	int rc = http(G.port, "GET", "/perl/other", NULL, &r, 5);
	if (rc != 0 || r.status != 200)
		gw_dump_log(&G);
	cr_assert_eq(rc, 0, "the daemon stopped answering while a request body was on its way");
	cr_assert_eq(r.status, 200);
	resp_free(&r);
	gw_send_all(c.fd, "abcdefghij", 10);
	rc = cl_read(&c, &r, 5);
	cl_close(&c);
	cr_assert_eq(rc, 0, "no answer to the slow upload");
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "body bytes=20\n"), "%s", r.body);
	resp_free(&r);
	/* A body in 5 pieces, 0.1 s apart. */
	rc = post_pieces("/perl/pieces", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN", 50, 10,
	                 0.1, &r);
	cr_assert_eq(rc, 0, "no answer to a body sent in pieces");
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "body bytes=50\n"), "%s", r.body);
	resp_free(&r);
	finish_ok();
}

/* ---- 2. kill -9 a busy worker --------------------------------------------- */

Test(pools, a_worker_killed_mid_request_costs_that_request_only)
{
	start_perl(2, "");
	long long spawns0 = pool_stat("perl", "spawns");
	cr_assert_eq(spawns0, 2);

	struct async victim, other;
	async_start(&victim, "/perl/victim?hang");
	pid_t pid = busy_pid("perl", "/perl/victim");
	/* The other worker serves meanwhile, and has a request in flight when
	 * its neighbour dies. */
	struct resp r;
	must_get("/perl/before", 200, &r);
	cr_assert_neq(num_after(r.body, "perl pid "), pid);
	resp_free(&r);
	async_start(&other, "/perl/other?sleep=1");
	pid_t other_pid = busy_pid("perl", "/perl/other");
	cr_assert_neq(other_pid, pid);

	cr_assert_eq(kill(pid, SIGKILL), 0);
	async_join(&victim);
	cr_assert_eq(victim.rc, 0, "no answer to the killed worker's request");
	cr_assert_eq(victim.r.status, 502, "the killed worker's request: %d", victim.r.status);
	async_join(&other);
	cr_assert_eq(other.rc, 0);
	cr_assert_eq(other.r.status, 200, "the neighbour's request: %d %s", other.r.status,
	             other.r.body);
	cr_assert_eq(num_after(other.r.body, "perl pid "), other_pid);
	resp_free(&victim.r);
	resp_free(&other.r);

	/* Replaced: two live workers again, the dead pid not among them. The
	 * replacement may be up before gatewayd has handled the dead one's exit
	 * (it is listed, draining, until then). */
	wait_state("perl", "idle", 2, 5);
	wait_state("perl", "draining", 0, 5);
	json_t *st = status();
	json_t *p = gw_pool_of(st, "perl");
	pid_t pids[4];
	cr_assert_eq(worker_pids(p, NULL, pids, 4), 2);
	cr_assert(!contains_pid(pids, 2, pid), "the killed worker %d is still listed", (int)pid);
	cr_assert(contains_pid(pids, 2, other_pid));
	cr_assert_eq(gw_ival(p, "spawns"), spawns0 + 1);
	cr_assert_eq(gw_ival(p, "crashes"), 1);
	cr_assert_eq(gw_ival(p, "errors"), 1);
	json_decref(st);
	cr_assert(gw_log_contains(G.error_log, "killed by signal 9", 2));
	for (int i = 0; i < 4; i++) {
		must_get("/perl/after", 200, &r);
		cr_assert_neq(num_after(r.body, "perl pid "), pid);
		resp_free(&r);
	}
	finish_ok();
}

/* A client gives up on a request its worker is still working on. That worker
 * is not idle: the next request goes to a free one, and request_timeout still
 * reaches the abandoned work (the worker killed and replaced). */
Test(pools, a_client_that_gives_up_leaves_its_worker_busy_not_idle)
{
	start_perl(2, ", \"request_timeout\": 2");
	struct client c;
	cr_assert_eq(cl_open(&c, G.port), 0);
	cl_send_request(&c, "GET", "/perl/abandoned?hang", NULL, false);
	pid_t hung = busy_pid("perl", "/perl/abandoned");
	double t0 = gw_now();
	cl_close(&c);
	gw_sleep(0.2);
	struct resp r;
	int rc = http(G.port, "GET", "/perl/next", NULL, &r, 5);
	if (rc != 0 || r.status != 200 || r.took > 1)
		gw_dump_log(&G);
	cr_assert_eq(rc, 0);
	cr_assert_eq(r.status, 200, "the next request, with a worker idle: %d after %.2f s", r.status,
	             r.took);
	cr_assert_lt(r.took, 1.0, "the next request waited %.2f s with a worker idle", r.took);
	cr_assert_neq(num_after(r.body, "perl pid "), hung, "given to the worker still on the "
	              "abandoned request");
	resp_free(&r);
	cr_assert(pids_dead_within(&hung, 1, 2 + 2.5 - (gw_now() - t0)),
	          "the abandoned hung worker %d outlived request_timeout (2 s)", (int)hung);
	wait_state("perl", "idle", 2, 5);
	finish_ok();
}

/* ---- 3. a crash loop backs off ------------------------------------------- */

Test(pools, a_worker_that_exits_at_start_backs_off)
{
	gw_start(&G, "{" BASE "\"pools\": {"
	             "\"crashy\": {\"protocol\": \"fastcgi\", \"command\": [\"@FIX@/pools/crash-at-start.pl\"],"
	             " \"processes\": 1, \"queue\": 4, \"queue_timeout\": 1},"
	             "\"hello\": {" HELLO_CMD ", \"processes\": 1}},"
	             "\"routes\": [{\"match\": \"=/crash\", \"pool\": \"crashy\"},"
	             "{\"match\": \"=/hello\", \"pool\": \"hello\"}]}");
	double t0 = gw_now();
	/* A request meanwhile waits out the queue deadline, then 503; the other
	 * pool answers at once. */
	struct async waiting;
	async_start(&waiting, "/crash");
	struct resp r;
	for (int i = 0; i < 3; i++) {
		must_get("/hello", 200, &r);
		cr_assert_lt(r.took, 0.8, "the healthy pool took %.2f s", r.took);
		resp_free(&r);
	}
	async_join(&waiting);
	cr_assert_eq(waiting.rc, 0);
	cr_assert_eq(waiting.r.status, 503, "a request to the crashing pool: %d", waiting.r.status);
	cr_assert(waiting.r.took > 0.8 && waiting.r.took < 3.0,
	          "503 after %.2f s, the queue deadline is 1 s", waiting.r.took);
	char *retry = hdr(waiting.r.head, "Retry-After");
	cr_assert_not_null(retry, "503 without Retry-After: %s", waiting.r.head);
	free(retry);
	resp_free(&waiting.r);

	/* Four seconds of a crash loop: a handful of spawns, not hundreds. */
	double left = 4.0 - (gw_now() - t0);
	if (left > 0)
		gw_sleep(left);
	json_t *st = status();
	json_t *p = gw_pool_of(st, "crashy");
	long long spawns = gw_ival(p, "spawns"), crashes = gw_ival(p, "crashes");
	cr_assert(spawns >= 3 && spawns <= 8, "%lld spawns in 4 s of a crash loop", spawns);
	cr_assert_geq(crashes, spawns - 1, "%lld crashes for %lld spawns", crashes, spawns);
	cr_assert_geq(gw_ival(p, "rejected"), 1);
	json_decref(st);

	/* The log shows the back-off, each delay longer than the one before. */
	char *log = gw_read_file(G.error_log);
	cr_assert_not_null(log);
	double delays[64];
	int n = 0;
	for (const char *q = log; (q = strstr(q, "crashy: worker died young; next spawn in ")) && n < 64;) {
		q += strlen("crashy: worker died young; next spawn in ");
		delays[n++] = strtod(q, NULL);
	}
	free(log);
	cr_assert_geq(n, 3, "%d back-off lines in the log", n);
	for (int i = 1; i < n; i++)
		cr_assert(delays[i] > delays[i - 1] || delays[i] >= 30,
		          "back-off did not grow: %.2f s then %.2f s", delays[i - 1], delays[i]);

	/* The daemon is fine: the other pool, and status, answer. */
	must_get("/hello", 200, &r);
	resp_free(&r);
	finish_ok();
}

/* ---- 4. a hanging worker: 504, killed, replaced ---------------------------- */

Test(pools, a_hanging_worker_times_out_and_is_replaced)
{
	start_perl(1, ", \"request_timeout\": 1");
	json_t *st = status();
	pid_t old;
	cr_assert_eq(worker_pids(gw_pool_of(st, "perl"), NULL, &old, 1), 1);
	json_decref(st);

	struct resp r;
	must_get("/perl/stuck?hang", 504, &r);
	cr_assert(r.took > 0.8 && r.took < 3.0, "504 after %.2f s, request_timeout is 1 s", r.took);
	resp_free(&r);
	cr_assert(pids_dead_within(&old, 1, 3), "the hung worker %d was not killed", (int)old);

	/* The killed one is listed (draining) until gatewayd has handled its
	 * exit, which its replacement need not wait for. */
	wait_state("perl", "idle", 1, 5);
	wait_state("perl", "draining", 0, 5);
	st = status();
	json_t *p = gw_pool_of(st, "perl");
	pid_t fresh;
	cr_assert_eq(worker_pids(p, NULL, &fresh, 1), 1);
	cr_assert_neq(fresh, old);
	cr_assert_eq(gw_ival(p, "timeouts"), 1);
	cr_assert_eq(gw_ival(p, "spawns"), 2);
	json_decref(st);
	must_get("/perl/next", 200, &r);
	cr_assert_eq(num_after(r.body, "perl pid "), fresh, "%s", r.body);
	cr_assert(strstr(r.body, " request 1\n"), "%s", r.body);
	resp_free(&r);
	finish_ok();
}

/* ---- 5. saturation: the queue and its deadline ----------------------------- */

Test(pools, saturation_gives_503_with_retry_after)
{
	start_perl(2, ", \"queue\": 1, \"queue_timeout\": 1");
	struct async slow[2], queued;
	async_start(&slow[0], "/perl/slow?sleep=2.5");
	async_start(&slow[1], "/perl/slow?sleep=2.5");
	wait_state("perl", "busy", 2, 5);
	async_start(&queued, "/perl/queued");
	struct queue_probe q = {"perl", 1};
	cr_assert(gw_wait_until(queue_is, &q, 3), "the third request is not queued");

	/* Beyond the queue: 503 at once. */
	struct resp r;
	must_get("/perl/beyond", 503, &r);
	cr_assert_lt(r.took, 0.5, "a request beyond the queue waited %.2f s", r.took);
	char *retry = hdr(r.head, "Retry-After");
	cr_assert_not_null(retry, "503 without Retry-After");
	free(retry);
	resp_free(&r);

	/* Queued: 503 at the deadline, while both workers are still busy. */
	async_join(&queued);
	cr_assert_eq(queued.rc, 0);
	cr_assert_eq(queued.r.status, 503, "the queued request: %d %s", queued.r.status,
	             queued.r.body);
	cr_assert(queued.r.took > 0.8 && queued.r.took < 2.0, "queued 503 after %.2f s",
	          queued.r.took);
	retry = hdr(queued.r.head, "Retry-After");
	cr_assert_not_null(retry, "503 without Retry-After");
	free(retry);
	resp_free(&queued.r);

	for (int i = 0; i < 2; i++) {
		async_join(&slow[i]);
		cr_assert_eq(slow[i].rc, 0);
		cr_assert_eq(slow[i].r.status, 200, "a slow request: %d", slow[i].r.status);
		resp_free(&slow[i].r);
	}
	cr_assert_eq(pool_stat("perl", "rejected"), 2);
	cr_assert_eq(pool_stat("perl", "queue_length"), 0);
	must_get("/perl/after", 200, &r);
	resp_free(&r);
	finish_ok();
}

/* ---- 6. 10,000 requests with max_requests 100 ------------------------------ */

#define LOAD_THREADS 4
#define LOAD_REQUESTS 10000

struct loader {
	pthread_t t;
	int port;
	const char *target;
	const char *expect; /* in every answer's body; NULL: hello.fcgi's */
	const char *body; /* POSTed; NULL: a GET */
	const struct loader *odd; /* odd-numbered clients do as this says instead */
	int count;        /* requests to make; 0: until stop_at, or until *stop when set */
	double stop_at;
	const atomic_bool *stop;
	int ok, failed;
	atomic_int reconnects; /* read while it runs */
	char first_failure[256];
};

/* Requests over a kept-alive connection, a new one when the server closes it. */
static void *load_run(void *arg)
{
	struct loader *l = arg;
	struct client c = {.fd = -1};
	for (int i = 0; l->count ? i < l->count
	                         : l->stop ? !atomic_load(l->stop) : gw_now() < l->stop_at;
	     i++) {
		if (c.fd < 0 && cl_open(&c, l->port) < 0) {
			l->failed++;
			snprintf(l->first_failure, sizeof l->first_failure, "connect: %s", strerror(errno));
			continue;
		}
		struct resp r;
		cl_send_request(&c, l->body ? "POST" : "GET", l->target, l->body, true);
		int rc = cl_read(&c, &r, 10);
		if (rc == 0 && r.status == 200 &&
		    strstr(r.body, l->expect ? l->expect : "Hello from C, pid ")) {
			l->ok++;
		} else {
			if (!l->failed)
				snprintf(l->first_failure, sizeof l->first_failure, "request %d: rc %d status %d %.100s",
				         i, rc, r.status, r.body ? r.body : "");
			l->failed++;
			r.closed = true;
		}
		if (r.closed) {
			cl_close(&c);
			atomic_fetch_add(&l->reconnects, 1);
		}
		resp_free(&r);
	}
	cl_close(&c);
	return NULL;
}

/* LOAD_THREADS clients as like says (target, count or stop_at, expect,
 * body; like.odd for every other one), started. */
static void loaders_start(struct loader *l, struct loader like)
{
	for (int i = 0; i < LOAD_THREADS; i++) {
		l[i] = i % 2 && like.odd ? *like.odd : like;
		l[i].port = G.port;
		cr_assert_eq(pthread_create(&l[i].t, NULL, load_run, &l[i]), 0);
	}
}

/* They are done: their counts added up, each client with failures logged. */
static struct loader loaders_join(struct loader *l)
{
	struct loader sum = {0};
	for (int i = 0; i < LOAD_THREADS; i++) {
		pthread_join(l[i].t, NULL);
		sum.ok += l[i].ok;
		sum.failed += l[i].failed;
		sum.reconnects += l[i].reconnects;
		if (l[i].failed)
			cr_log_error("client %d: %d failed, first: %s", i, l[i].failed, l[i].first_failure);
	}
	return sum;
}

Test(pools, ten_thousand_requests_recycled_every_hundred)
{
	gw_start(&G, "{" BASE "\"pools\": {\"hello\": {" HELLO_CMD ", \"processes\": 2,"
	             " \"max_requests\": 100}},"
	             "\"routes\": [{\"match\": \"=/hello\", \"pool\": \"hello\"}]}");
	wait_state("hello", "idle", 2, 5);
	int baseline = gw_count_fds(G.pid);
	cr_assert_gt(baseline, 0);

	double t0 = gw_now();
	struct loader l[LOAD_THREADS];
	loaders_start(l, (struct loader){.target = "/hello", .count = LOAD_REQUESTS / LOAD_THREADS});
	struct loader sum = loaders_join(l);
	int ok = sum.ok, failed = sum.failed;
	double took = gw_now() - t0;
	cr_log_info("%d requests in %.2f s (%.0f/s)", ok + failed, took, (ok + failed) / took);
	if (failed)
		gw_dump_log(&G);
	cr_assert_eq(failed, 0, "%d of %d requests failed", failed, LOAD_REQUESTS);
	cr_assert_eq(ok, LOAD_REQUESTS);

	wait_state("hello", "idle", 2, 5);
	json_t *st = status();
	json_t *p = gw_pool_of(st, "hello"), *w;
	cr_assert_eq(gw_ival(p, "requests_served"), LOAD_REQUESTS);
	long long spawns = gw_ival(p, "spawns");
	cr_assert(spawns >= 100 && spawns <= 102, "%lld spawns for %d requests at 100 each", spawns,
	          LOAD_REQUESTS);
	cr_assert_eq(gw_ival(p, "crashes"), 0);
	cr_assert_eq(gw_ival(p, "errors"), 0);
	size_t i;
	json_array_foreach(json_object_get(p, "workers"), i, w)
		cr_assert_lt(gw_ival(w, "requests"), 100, "a worker past max_requests");
	json_decref(st);

	/* No leak: the descriptors back to where they were (plus at most one
	 * kept-alive connection per worker), and no zombie. */
	struct gw_fd_probe limit = {G.pid, baseline + 2};
	bool fds_ok = gw_wait_until(gw_fds_at_most, &limit, 3);
	cr_assert(fds_ok, "gatewayd has %d descriptors, %d before the load", gw_count_fds(G.pid),
	          baseline);
	bool kids_ok = gw_wait_children(G.pid, 2, 6);
	int z, kids = gw_count_children(G.pid, &z);
	cr_assert(kids_ok, "gatewayd has %d children (%d zombies), wanted 2 workers", kids, z);
	finish_ok();
}

/* The pool's max_requests as status shows it: the one in effect. */
static long long pool_max_requests(const char *pool)
{
	json_t *st = status();
	json_t *limits = json_object_get(gw_pool_of(st, pool), "limits");
	long long v = json_integer_value(json_object_get(limits, "max_requests"));
	json_decref(st);
	return v;
}

/* 4 clients, 60 requests each over kept-alive connections, every other one
 * POSTing 3,000 bytes (a method no worker may see twice, whose body must
 * still be whole to go to another worker), to a pool of 2 workers that each
 * leave after 5 requests: none fails, no leave is counted as a crash, and
 * most workers were replaced. */
static void leaving_workers_cost_nothing(const char *pool, const char *target,
                                         const char *get_expect, const char *post_expect,
                                         const char *dispatchers)
{
	char body[3001];
	memset(body, 'x', 3000);
	body[3000] = '\0';
	struct loader post = {.target = target, .count = 60, .body = body, .expect = post_expect};
	struct loader l[LOAD_THREADS];
	loaders_start(l, (struct loader){.target = target, .count = 60, .expect = get_expect,
	                                 .odd = &post});
	struct loader sum = loaders_join(l);
	int ok = sum.ok, failed = sum.failed;
	wait_state(pool, "idle", 2, 5);
	long long spawns = pool_stat(pool, "spawns"), crashes = pool_stat(pool, "crashes");
	cr_log_info("%s dispatcher(s): %d ok, %d failed; %lld spawns, %lld crashes", dispatchers, ok,
	            failed, spawns, crashes);
	if (failed || crashes)
		gw_dump_log(&G);
	cr_expect_eq(failed, 0, "%d of %d requests failed", failed, LOAD_THREADS * 60);
	cr_expect_eq(crashes, 0, "workers that left at their own limit counted as %lld crashes",
	             crashes);
	/* 240 requests, 5 a worker: most workers were replaced. */
	cr_expect_geq(spawns, 30, "only %lld spawns: the workers did not leave", spawns);
	finish_ok();
}

/* php-cgi as Debian ships it leaves after PHP_FCGI_MAX_REQUESTS (500; 5
 * here) and closes its kept connection as it goes: a request sent on it in
 * that moment is lost to it. gatewayd reads the limit from the pool's env
 * and recycles each php-cgi at that count itself (status shows it as
 * max_requests), so no request goes to one that is leaving. One dispatcher,
 * then two (a worker claimed from the board). */
static void php_leaving_costs_nothing(const char *dispatchers)
{
	char config[2048];
	snprintf(config, sizeof config,
	         "{" BASE "\"dispatchers\": %s, \"pools\": {\"php\": {\"protocol\": \"fastcgi\","
	         " \"command\": [\"php-cgi\"], \"processes\": 2,"
	         " \"env\": {\"PHP_FCGI_CHILDREN\": \"0\", \"PHP_FCGI_MAX_REQUESTS\": \"5\","
	         " \"PATH\": \"/usr/local/bin:/usr/bin:/bin\"}}},"
	         "\"routes\": [{\"match\": \"/php/\", \"pool\": \"php\","
	         " \"root\": \"@FIX@/pools/php\"}]}",
	         dispatchers);
	gw_start(&G, config);
	wait_state("php", "idle", 2, 5);
	cr_expect_eq(pool_max_requests("php"), 5, "php-cgi's own limit is not max_requests");
	leaving_workers_cost_nothing("php", "/php/info.php", "method=GET\n",
	                             "body bytes=3000 md5=33d7ac42e3aa0f3146843833c23e4365",
	                             dispatchers);
}

Test(pools, php_cgi_leaving_at_its_own_limit_costs_no_request)
{
	php_leaving_costs_nothing("1");
}

Test(pools, php_cgi_leaving_at_its_own_limit_costs_no_request_with_2_dispatchers)
{
	php_leaving_costs_nothing("2");
}

/* php-cgi's own limit from its pool's env, as status shows it: Debian's 500
 * without the variable; the config's when lower; none with children of its
 * own, none for 0, and none for what php-cgi would not take as a count (a
 * word, a number past INT_MAX). */
Test(pools, php_cgi_limit_read_from_the_env)
{
#define PHP_POOL(name, env, more)                                                                  	"\"" name "\": {\"protocol\": \"fastcgi\", \"command\": [\"php-cgi\"], \"processes\": 1" more 	", \"env\": {\"PATH\": \"/usr/bin:/bin\"" env "}}"
	static const struct {
		const char *pool;
		long long want;
	} cases[] = {
		{ "unset", 500 },  { "seven", 7 },   { "config_lower", 100 }, { "children", 0 },
		{ "zero", 0 },     { "word", 0 },    { "huge", 0 },
	};
	static const struct idle_want idle[] = {
		{ "unset", 1, 10 }, { "seven", 1, 10 }, { "config_lower", 1, 10 }, { "children", 1, 10 },
		{ "zero", 1, 10 },  { "word", 1, 10 },  { "huge", 1, 10 },          { NULL }
	};
	start_idle("{" BASE "\"pools\": {" PHP_POOL("unset", "", "") ","
	           PHP_POOL("seven", ", \"PHP_FCGI_MAX_REQUESTS\": \"7\"", "") ","
	           PHP_POOL("config_lower", ", \"PHP_FCGI_MAX_REQUESTS\": \"500\"",
	                    ", \"max_requests\": 100") ","
	           PHP_POOL("children", ", \"PHP_FCGI_CHILDREN\": \"2\"", "") ","
	           PHP_POOL("zero", ", \"PHP_FCGI_MAX_REQUESTS\": \"0\"", "") ","
	           PHP_POOL("word", ", \"PHP_FCGI_MAX_REQUESTS\": \"many\"", "") ","
	           PHP_POOL("huge", ", \"PHP_FCGI_MAX_REQUESTS\": \"99999999999\"", "") "},"
	           "\"routes\": [{\"match\": \"/php/\", \"pool\": \"unset\","
	           " \"root\": \"@FIX@/pools/php\"}]}",
	           idle);
#undef PHP_POOL
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(pool_max_requests(cases[i].pool), cases[i].want,
		             "pool %s: max_requests %lld, want %lld", cases[i].pool,
		             pool_max_requests(cases[i].pool), cases[i].want);
	finish_ok();
}

/* A worker of any kind that leaves after N requests by itself (exit 0, no
 * limit gatewayd could know) teaches its pool: the next ones are recycled
 * at N. Until the first leave is seen, only a request a worker may see
 * twice is safe on the connection it closes, so the pool learns on GETs
 * first; then the half-POST load loses nothing. */
static void perl_leaving_is_learnt(const char *dispatchers)
{
	char config[2048];
	snprintf(config, sizeof config,
	         "{" BASE "\"dispatchers\": %s, \"pools\": {\"perl\": {" PERL_CMD ","
	         " \"processes\": 2, \"env\": {\"WORKER_LEAVES_AFTER\": \"5\"}}},"
	         "\"routes\": [{\"match\": \"/perl/\", \"pool\": \"perl\"}]}",
	         dispatchers);
	gw_start(&G, config);
	wait_state("perl", "idle", 2, 5);
	cr_expect_eq(pool_max_requests("perl"), 0);
	int gets = 0;
	for (; gets < 40 && pool_max_requests("perl") == 0; gets++) {
		struct resp r;
		cr_assert_eq(http(G.port, "GET", "/perl/warm-up", NULL, &r, 10), 0);
		cr_expect_eq(r.status, 200, "GET %d: %d before any leave was learnt", gets, r.status);
		resp_free(&r);
	}
	/* 5; or 4 when the exit was seen before the last answer was counted: a
	 * worker recycled one request early costs nothing (one late would). */
	long long learnt = pool_max_requests("perl");
	cr_assert(learnt == 5 || learnt == 4, "%lld learnt after %d GETs, not 5", learnt, gets);
	leaving_workers_cost_nothing("perl", "/perl/load", "perl pid ", "body bytes=3000\n",
	                             dispatchers);
}

Test(pools, a_worker_leaving_by_itself_teaches_its_pool)
{
	perl_leaving_is_learnt("1");
}

Test(pools, a_worker_leaving_by_itself_teaches_its_pool_with_2_dispatchers)
{
	perl_leaving_is_learnt("2");
}

/* Before any leave is learnt, POSTs one after another, each on a new
 * connection, with two dispatchers: the one sent to a worker as it leaves
 * waits in its socket, never accepted, and is reset when the master closes
 * that socket, having marked the worker as one that left: it goes to
 * another worker whole. */
Test(pools, a_post_waiting_at_a_worker_that_left_goes_to_another)
{
	gw_start(&G, "{" BASE "\"dispatchers\": 2, \"pools\": {\"perl\": {" PERL_CMD ","
	             " \"processes\": 2, \"env\": {\"WORKER_LEAVES_AFTER\": \"5\"}}},"
	             "\"routes\": [{\"match\": \"/perl/\", \"pool\": \"perl\"}]}");
	wait_state("perl", "idle", 2, 5);
	int ok = 0;
	for (int i = 0; i < 12; i++) {
		struct resp r;
		cr_assert_eq(http(G.port, "POST", "/perl/one-by-one", "a=1&b=2", &r, 10), 0);
		ok += r.status == 200 && r.body && strstr(r.body, "body bytes=7\n");
		if (r.status != 200)
			cr_log_error("POST %d: %d", i, r.status);
		resp_free(&r);
	}
	if (ok != 12)
		gw_dump_log(&G);
	cr_expect_eq(ok, 12, "%d of 12 POSTs answered whole", ok);
	cr_expect_geq(pool_stat("perl", "spawns"), 3, "no worker left");
	finish_ok();
}

/* A POST waits, never accepted, in the socket of a worker that is stopped;
 * the worker is killed. The request goes to its replacement with its body
 * whole: a small body stays in gatewayd until an answer begins, a spooled
 * one (chunked, over limits.body_memory here) is read from its file again. */
static void unread_post_goes_on_whole(bool chunked)
{
	gw_start(&G, "{" BASE "\"limits\": {\"body_memory\": 1024},"
	             " \"pools\": {\"perl\": {" PERL_CMD ", \"processes\": 1}},"
	             "\"routes\": [{\"match\": \"/perl/\", \"pool\": \"perl\"}]}");
	wait_state("perl", "idle", 1, 5);
	json_t *st = status();
	pid_t victim;
	cr_assert_eq(worker_pids(gw_pool_of(st, "perl"), NULL, &victim, 1), 1);
	json_decref(st);
	cr_assert_eq(kill(victim, SIGSTOP), 0);
	/* Stopped for sure: one that wakes to the signal could still accept. */
	int victim_id = victim;
	cr_assert(gw_wait_until(gw_pid_stopped, &victim_id, 2), "worker %d did not stop", victim);
	char body[3001], raw[3200];
	memset(body, 'x', 3000);
	body[3000] = '\0';
	struct async a;
	memset(&a, 0, sizeof a);
	a.port = G.port;
	a.method = "POST";
	a.body = body;
	snprintf(a.target, sizeof a.target, "/perl/unread");
	if (chunked) {
		snprintf(raw, sizeof raw,
		         "POST /perl/unread HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
		         "Transfer-Encoding: chunked\r\n\r\n7d0\r\n%.2000s\r\n3e8\r\n%.1000s\r\n0\r\n\r\n",
		         body, body);
		a.raw = raw;
	}
	cr_assert_eq(pthread_create(&a.t, NULL, async_run, &a), 0);
	cr_assert_eq(busy_pid("perl", "/perl/unread"), victim);
	cr_assert_eq(kill(victim, SIGKILL), 0);
	async_join(&a);
	cr_assert_eq(a.rc, 0);
	if (a.r.status != 200)
		gw_dump_log(&G);
	cr_expect_eq(a.r.status, 200, "the POST its killed worker never took: %d", a.r.status);
	cr_expect(a.r.body && strstr(a.r.body, "body bytes=3000\n"), "answer: %s",
	          a.r.body ? a.r.body : "");
	long by = num_after(a.r.body, "perl pid ");
	cr_expect(by > 0 && by != victim, "answered by %ld, the killed worker was %d", by,
	          (int)victim);
	resp_free(&a.r);
	finish_ok();
}

Test(pools, a_post_its_killed_worker_never_took_goes_to_another_whole)
{
	unread_post_goes_on_whole(false);
}

Test(pools, a_spooled_post_its_killed_worker_never_took_goes_to_another_whole)
{
	unread_post_goes_on_whole(true);
}

/* php-cgi accepts the readiness probe, then waits 5 s for its first bytes,
 * deaf to the stop signal: a worker stopped while starting has its probe
 * closed, and exits at once instead of being killed 5 s later. SIGTERM
 * lands at a few points of the workers' start, from 5 ms after gatewayd
 * listens (a signal before its watchers run waits for them: it drains, and
 * exits 0). */
Test(pools, workers_stopped_while_starting_exit_at_once, .timeout = 60)
{
	static const double after[] = { 0.005, 0.015, 0.025, 0.035 };
	for (size_t k = 0; k < sizeof after / sizeof after[0]; k++) {
		gw_start(&G, "{" BASE "\"pools\": {\"php\": {" PHP_CMD ", \"processes\": 4}},"
		             "\"routes\": [{\"match\": \"/php/\", \"pool\": \"php\","
		             " \"root\": \"@FIX@/pools/php\"}]}");
		gw_sleep(after[k]);
		double t0 = gw_now();
		int st = gw_stop(&G, 10);
		double took = gw_now() - t0;
		char *log = gw_read_file(G.error_log);
		bool killed = log && strstr(log, "after the stop signal: SIGKILL");
		bool clean = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
		if (killed || took > 3 || !clean)
			gw_dump_log(&G);
		cr_expect(!killed, "SIGTERM %.3f s after start: a worker was SIGKILLed", after[k]);
		cr_expect_lt(took, 3, "SIGTERM %.3f s after start: %.1f s to stop", after[k], took);
		cr_expect(clean, "SIGTERM %.3f s after start: wait status %#x", after[k], st);
		free(log);
		gw_cleanup(&G);
	}
	gw_assert_no_leaks();
}

static int loaders_reconnects(struct loader *l)
{
	int n = 0;
	for (int i = 0; i < LOAD_THREADS; i++)
		n += atomic_load(&l[i].reconnects);
	return n;
}

/* Reloads under clients that keep their connections: each reload stops the
 * dispatchers holding them, and a request sent the moment one stops must
 * still be answered (served with Connection: close, not lost to the close).
 * The old dispatchers are told to drain only once the new generation is
 * ready (the master logs "generation N ready"), and a generation a newer
 * SIGHUP overtakes before it is ready never takes over: so each reload waits
 * for its handover before the next, and the load goes on until the clients
 * have met the last one, however long the dispatchers take to start. */
Test(pools, reloads_lose_no_request_on_kept_alive_connections)
{
	const char *config = "{" BASE "\"dispatchers\": 2, \"pools\": {\"hello\": {" HELLO_CMD
	                     ", \"processes\": 2}},"
	                     "\"routes\": [{\"match\": \"=/hello\", \"pool\": \"hello\"}]}";
	gw_start(&G, config);
	wait_state("hello", "idle", 2, 5);
	struct loader l[LOAD_THREADS];
	atomic_bool stop = false;
	loaders_start(l, (struct loader){.target = "/hello", .stop = &stop});
	int handovers = 0;
	for (int k = 0; k < 4; k++) {
		gw_sleep(0.6);
		if (kill(G.pid, SIGHUP) != 0)
			break;
		char ready[64];
		snprintf(ready, sizeof ready, "generation %d ready: the older ones drain", k + 2);
		if (!gw_log_contains(G.error_log, ready, 5))
			break;
		handovers++;
	}
	/* Each handover closes every client's connection (at its next request):
	 * the load goes on at least 0.5 s more, and until they all met it. */
	double until = gw_now() + 5;
	gw_sleep(0.5);
	while (loaders_reconnects(l) < LOAD_THREADS * handovers && gw_now() < until)
		gw_sleep(0.02);
	atomic_store(&stop, true);
	struct loader sum = loaders_join(l);
	int ok = sum.ok, failed = sum.failed, reconnects = sum.reconnects;
	cr_log_info("%d reloads under %d kept-alive clients: %d ok, %d failed, %d reconnects",
	            handovers, LOAD_THREADS, ok, failed, reconnects);
	if (handovers < 4)
		gw_dump_log(&G);
	cr_assert_eq(handovers, 4, "reload %d: no handover to generation %d within 5 s",
	             handovers + 1, handovers + 2);
	cr_expect_eq(failed, 0, "%d requests failed across the reloads", failed);
	/* Every reload closed the connections of the dispatchers it stopped. */
	cr_expect_geq(reconnects, LOAD_THREADS * 4 - 1, "only %d reconnects for 4 reloads",
	              reconnects);
	cr_expect_gt(ok, 0);
	finish_ok();
}

/* ---- 7. kill -9 gatewayd: no worker survives ------------------------------- */

Test(pools, workers_die_with_a_killed_gatewayd)
{
	start_idle(THREE_POOLS, THREE_POOLS_IDLE);
	/* One worker busy on a request that never ends. */
	struct client c;
	cr_assert_eq(cl_open(&c, G.port), 0);
	cl_send_request(&c, "GET", "/perl/forever?hang", NULL, false);
	busy_pid("perl", "/perl/forever");

	json_t *st = status();
	pid_t pids[8];
	int n = 0;
	n += worker_pids(gw_pool_of(st, "hello"), NULL, pids + n, 8 - n);
	n += worker_pids(gw_pool_of(st, "perl"), NULL, pids + n, 8 - n);
	n += worker_pids(gw_pool_of(st, "php"), NULL, pids + n, 8 - n);
	json_decref(st);
	cr_assert_eq(n, 5);
	for (int i = 0; i < n; i++)
		cr_assert(gw_pid_alive(pids[i]));

	cr_assert_eq(kill(G.pid, SIGKILL), 0);
	int ws;
	cr_assert_eq(waitpid(G.pid, &ws, 0), G.pid);
	G.pid = 0;
	double t0 = gw_now();
	bool gone = pids_dead_within(pids, n, 2.0);
	for (int i = 0; i < n && !gone; i++)
		if (gw_pid_alive(pids[i]))
			cr_log_error("worker %d alive %.1f s after gatewayd was killed", (int)pids[i],
			             gw_now() - t0);
	cr_assert(gone, "workers outlived a SIGKILLed gatewayd by 2 s");
	cl_close(&c);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* ---- 8. SIGTERM with a request in flight ------------------------------------ */

Test(pools, sigterm_lets_the_request_in_flight_finish)
{
	static const struct idle_want idle[] = {{"perl", 2, 5}, {"hello", 1, 5}, {NULL}};
	start_idle("{" BASE "\"pools\": {"
	           "\"perl\": {" PERL_CMD ", \"processes\": 2},"
	           "\"hello\": {" HELLO_CMD ", \"processes\": 1}},"
	           "\"routes\": [{\"match\": \"/perl/\", \"pool\": \"perl\"},"
	           "{\"match\": \"=/hello\", \"pool\": \"hello\"}]}", idle);
	json_t *st = status();
	pid_t pids[3];
	int n = worker_pids(gw_pool_of(st, "perl"), NULL, pids, 2);
	n += worker_pids(gw_pool_of(st, "hello"), NULL, pids + n, 1);
	json_decref(st);
	cr_assert_eq(n, 3);

	struct async inflight;
	async_start(&inflight, "/perl/inflight?sleep=1.5");
	busy_pid("perl", "/perl/inflight");
	cr_assert_eq(kill(G.pid, SIGTERM), 0);
	async_join(&inflight);
	cr_assert_eq(inflight.rc, 0, "the request in flight got no complete answer");
	cr_assert_eq(inflight.r.status, 200, "the request in flight: %d %s", inflight.r.status,
	             inflight.r.body);
	cr_assert(strstr(inflight.r.body, "perl pid "), "%s", inflight.r.body);
	resp_free(&inflight.r);

	int ws = gw_wait_exit(&G, 10);
	if (ws == -1 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		gw_dump_log(&G);
	cr_assert(ws != -1, "gatewayd still running 10 s after SIGTERM");
	cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "gatewayd exit status %d", ws);
	cr_assert(pids_dead_within(pids, n, 1.0), "a worker outlived gatewayd's orderly stop");
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* SIGTERM with one request running and one queued behind it: both are
 * requests the daemon accepted, and a drain finishes them, promptly. */
Test(pools, sigterm_serves_the_queued_request_too)
{
	start_perl(1, ", \"queue_timeout\": 5");
	struct async running, queued;
	async_start(&running, "/perl/running?sleep=1");
	busy_pid("perl", "/perl/running");
	async_start(&queued, "/perl/queued");
	struct queue_probe q = {"perl", 1};
	cr_assert(gw_wait_until(queue_is, &q, 3), "the second request is not queued");
	double t0 = gw_now();
	cr_assert_eq(kill(G.pid, SIGTERM), 0);
	async_join(&running);
	async_join(&queued);
	int ws = gw_wait_exit(&G, 15);
	double took = gw_now() - t0;
	if (queued.r.status != 200 || took > 4)
		gw_dump_log(&G);
	cr_assert_eq(running.rc, 0);
	cr_assert_eq(running.r.status, 200, "the running request: %d", running.r.status);
	cr_assert_eq(queued.rc, 0, "the queued request got no answer");
	cr_assert_eq(queued.r.status, 200, "the queued request: %d after %.2f s", queued.r.status,
	             queued.r.took);
	resp_free(&running.r);
	resp_free(&queued.r);
	cr_assert(ws != -1, "gatewayd still running 15 s after SIGTERM");
	cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "gatewayd exit status %d", ws);
	cr_assert_lt(took, 4.0, "the stop took %.1f s for 1 s of work", took);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* ---- 9. sizing: ondemand and dynamic ---------------------------------------- */

/* How many workers, in any state, status lists for the pool. */
static size_t workers_listed(const char *pool)
{
	json_t *st = status();
	size_t n = json_array_size(json_object_get(gw_pool_of(st, pool), "workers"));
	json_decref(st);
	return n;
}

static bool no_workers_listed(void *pool)
{
	return workers_listed(pool) == 0;
}

Test(pools, ondemand_starts_on_request_and_stops_when_idle)
{
	gw_start(&G, "{" BASE "\"pools\": {\"perl\": {" PERL_CMD ", \"processes\":"
	             " {\"mode\": \"ondemand\", \"max\": 2, \"idle_timeout\": 1}}},"
	             "\"routes\": [{\"match\": \"/perl/\", \"pool\": \"perl\"}]}");
	gw_sleep(0.3);
	json_t *st = status();
	json_t *p = gw_pool_of(st, "perl");
	cr_assert_eq(json_array_size(json_object_get(p, "workers")), 0, "ondemand started workers");
	cr_assert_eq(gw_ival(p, "spawns"), 0);
	cr_assert_eq(pcount(p, "idle") + pcount(p, "starting"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "limits"), "mode")),
	                 "ondemand");
	json_decref(st);
	int z;
	cr_assert_eq(gw_count_children(G.pid, &z), 0);

	struct resp r;
	must_get("/perl/first", 200, &r);
	pid_t pid = (pid_t)num_after(r.body, "perl pid ");
	cr_assert_gt(pid, 0, "%s", r.body);
	resp_free(&r);
	st = status();
	p = gw_pool_of(st, "perl");
	cr_assert_eq(gw_ival(p, "spawns"), 1);
	pid_t listed;
	cr_assert_eq(worker_pids(p, NULL, &listed, 1), 1);
	cr_assert_eq(listed, pid);
	json_decref(st);
	cr_assert(gw_pid_alive(pid), "the worker went before idle_timeout");

	/* idle_timeout 1 s: gone within a few seconds, and the pool empty. A
	 * stopped worker is listed (draining) until gatewayd has handled its
	 * exit, which comes after it is dead to pids_dead_within (a zombie). */
	cr_assert(pids_dead_within(&pid, 1, 4), "the idle ondemand worker %d still runs", (int)pid);
	cr_assert(gw_wait_until(no_workers_listed, "perl", 3), "pool perl still lists %zu workers",
	          workers_listed("perl"));
	cr_assert(gw_wait_children(G.pid, 0, 3), "gatewayd has %d children after the idle stop",
	          gw_count_children(G.pid, NULL));

	/* And the next request starts another. */
	must_get("/perl/second", 200, &r);
	cr_assert_neq(num_after(r.body, "perl pid "), pid);
	cr_assert(strstr(r.body, " request 1\n"), "%s", r.body);
	resp_free(&r);
	cr_assert_eq(pool_stat("perl", "spawns"), 2);
	finish_ok();
}

Test(pools, dynamic_grows_to_max_and_shrinks_to_max_spare)
{
	gw_start(&G, "{" BASE "\"pools\": {\"perl\": {" PERL_CMD ", \"processes\":"
	             " {\"mode\": \"dynamic\", \"start\": 2, \"min_spare\": 1, \"max_spare\": 2,"
	             " \"max\": 4}}},"
	             "\"routes\": [{\"match\": \"/perl/\", \"pool\": \"perl\"}]}");
	wait_state("perl", "idle", 2, 5);
	struct async a[4];
	for (int i = 0; i < 4; i++)
		async_start(&a[i], "/perl/slow?sleep=2");
	/* Watch it while the four run: never more than four live workers. */
	long long most_live = 0, most_busy = 0;
	double until = gw_now() + 6;
	bool done = false;
	while (!done && gw_now() < until) {
		json_t *st = status();
		json_t *p = gw_pool_of(st, "perl");
		long long live = pcount(p, "starting") + pcount(p, "idle") + pcount(p, "busy");
		long long busy = pcount(p, "busy");
		json_decref(st);
		cr_assert_leq(live, 4, "%lld live workers, max is 4", live);
		most_live = live > most_live ? live : most_live;
		most_busy = busy > most_busy ? busy : most_busy;
		done = most_busy == 4 && busy == 0;
		gw_sleep(0.05);
	}
	pid_t served_by[4];
	for (int i = 0; i < 4; i++) {
		async_join(&a[i]);
		cr_assert_eq(a[i].rc, 0);
		cr_assert_eq(a[i].r.status, 200, "slow request %d: %d %s", i, a[i].r.status, a[i].r.body);
		served_by[i] = (pid_t)num_after(a[i].r.body, "perl pid ");
		resp_free(&a[i].r);
	}
	cr_assert_eq(most_busy, 4, "the pool never ran four requests at once (most %lld)", most_busy);
	cr_assert_eq(most_live, 4);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < i; k++)
			cr_assert_neq(served_by[i], served_by[k], "two overlapping requests on one worker");
	cr_assert_leq(pool_stat("perl", "spawns"), 4);

	/* Afterwards: back to max_spare idle workers, the others gone. */
	wait_state("perl", "idle", 2, 5);
	wait_state("perl", "draining", 0, 7);
	cr_assert(gw_wait_children(G.pid, 2, 3), "gatewayd has %d children",
	          gw_count_children(G.pid, NULL));
	finish_ok();
}

/* ---- 10. an external pool ------------------------------------------------- */


static bool port_accepts(void *arg)
{
	int fd = gw_connect(*(int *)arg);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* An external worker: spawn-fcgi -n binds 127.0.0.1:port and execs dir/worker
 * (one process) in this very child, external_pid, which teardown kills. */
static void start_spawn_fcgi(int port, const char *dir, const char *worker)
{
	char port_arg[16], path[4200];
	snprintf(port_arg, sizeof port_arg, "%d", port);
	snprintf(path, sizeof path, "%s/%s", dir, worker);
	external_pid = fork();
	cr_assert_geq(external_pid, 0);
	if (external_pid == 0) {
		execl("/usr/bin/spawn-fcgi", "spawn-fcgi", "-n", "-p", port_arg, "-a", "127.0.0.1",
		      "-F", "1", "--", path, (char *)NULL);
		_exit(127);
	}
	cr_assert(gw_wait_until(port_accepts, &port, 5), "spawn-fcgi is not listening on %d", port);
}

Test(pools, an_external_pool_skips_a_dead_address)
{
	int live = gw_free_port(), dead = gw_free_port();
	start_spawn_fcgi(live, gw_builddir(), "examples/hello.fcgi");

	char cfg[2048];
	/* The dead address first: the first request tries it, and goes on. */
	snprintf(cfg, sizeof cfg, "{" BASE "\"pools\": {\"ext\": {\"protocol\": \"fastcgi\","
	         " \"addresses\": [\"127.0.0.1:%d\", \"127.0.0.1:%d\"], \"connections\": 1}},"
	         "\"routes\": [{\"match\": \"=/ext\", \"pool\": \"ext\"}]}", dead, live);
	gw_start(&G, cfg);
	struct resp r;
	for (int i = 0; i < 10; i++) {
		must_get("/ext", 200, &r);
		cr_assert_eq(num_after(r.body, "Hello from C, pid "), external_pid, "%s", r.body);
		cr_assert_eq(num_after(r.body, "request "), i + 1, "%s", r.body);
		resp_free(&r);
	}
	char needle[64];
	snprintf(needle, sizeof needle, "127.0.0.1:%d failed", dead);
	cr_assert(gw_log_contains(G.error_log, needle, 1), "no log line about the dead address");

	json_t *st = status();
	json_t *p = gw_pool_of(st, "ext"), *w;
	size_t i;
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "limits"), "mode")),
	                 "external");
	cr_assert_eq(gw_ival(p, "spawns"), 0);
	cr_assert_eq(gw_ival(p, "requests_served"), 10);
	cr_assert_geq(gw_ival(p, "retries"), 1);
	cr_assert_eq(json_array_size(json_object_get(p, "workers")), 2);
	char dead_addr[32], live_addr[32];
	snprintf(dead_addr, sizeof dead_addr, "127.0.0.1:%d", dead);
	snprintf(live_addr, sizeof live_addr, "127.0.0.1:%d", live);
	json_array_foreach(json_object_get(p, "workers"), i, w) {
		const char *addr = json_string_value(json_object_get(w, "address"));
		const char *state = json_string_value(json_object_get(w, "state"));
		cr_assert_null(json_object_get(w, "pid"), "an external slot with a pid");
		if (strcmp(addr, dead_addr) == 0) {
			cr_assert_str_eq(state, "dead", "the dead address is %s", state);
			cr_assert_eq(gw_ival(w, "requests"), 0);
		} else {
			cr_assert_str_eq(addr, live_addr);
			cr_assert_eq(gw_ival(w, "requests"), 10);
		}
	}
	json_decref(st);
	stop_ok(&G);
	/* Nothing spawned, so nothing of the external worker's was touched. */
	cr_assert(gw_pid_alive(external_pid), "gatewayd's stop killed the external worker");
	kill(external_pid, SIGKILL);
	waitpid(external_pid, NULL, 0);
	external_pid = 0;
	gw_assert_no_leaks();
}

/* An external address served by one single-threaded process (spawn-fcgi -F 1,
 * or php-fpm with fewer children than "connections"), under concurrent
 * requests. The worker serves one connection at a time; requests beyond it
 * wait in its listen backlog and are served in turn. Nothing may hold the
 * process to an idle connection meanwhile. */
Test(pools, an_external_worker_serves_concurrent_requests_in_turn)
{
	int live = gw_free_port();
	start_spawn_fcgi(live, gw_srcdir(), "test/fixtures/pools/worker.pl");
	char cfg[2048];
	/* "connections" left at its default: more slots than the address has processes. */
	snprintf(cfg, sizeof cfg, "{" BASE "\"pools\": {\"ext\": {\"protocol\": \"fastcgi\","
	         " \"addresses\": [\"127.0.0.1:%d\"], \"request_timeout\": 3}},"
	         "\"routes\": [{\"match\": \"/ext/\", \"pool\": \"ext\"}]}", live);
	gw_start(&G, cfg);
	struct resp r;
	must_get("/ext/first", 200, &r);
	resp_free(&r);

	struct async a[3];
	for (int i = 0; i < 3; i++)
		async_start(&a[i], "/ext/concurrent?sleep=0.3");
	int bad = 0;
	for (int i = 0; i < 3; i++) {
		async_join(&a[i]);
		if (a[i].rc != 0 || a[i].r.status != 200 || a[i].r.took > 2.5) {
			cr_log_error("concurrent request %d: rc %d, status %d after %.2f s", i, a[i].rc,
			             a[i].r.status, a[i].r.took);
			bad++;
		}
		resp_free(&a[i].r);
	}
	if (bad)
		gw_dump_log(&G);
	cr_assert_eq(bad, 0, "%d of 3 concurrent requests to a one-process external worker failed "
	             "or waited past 2.5 s (the worker serves each in 0.3 s)", bad);
	/* And the address is still in service. */
	must_get("/ext/after", 200, &r);
	cr_assert_lt(r.took, 1.0, "a request after them took %.2f s", r.took);
	resp_free(&r);
	stop_ok(&G);
	kill(external_pid, SIGKILL);
	waitpid(external_pid, NULL, 0);
	external_pid = 0;
	gw_assert_no_leaks();
}

/* ---- 11. status ------------------------------------------------------------ */

Test(pools, status_reports_pools_as_json_and_prometheus)
{
	gw_start(&G, "{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}], \"temp_dir\": \"@DIR@\","
	             "\"pools\": {\"st\": {" HELLO_CMD ", \"processes\": 3, \"max_requests\": 50,"
	             " \"request_timeout\": 7, \"queue\": 5, \"queue_timeout\": 2}},"
	             "\"routes\": [{\"match\": \"=/hello\", \"pool\": \"st\"}]}");
	wait_state("st", "idle", 3, 5);
	struct resp r;
	must_get("/hello", 200, &r);
	resp_free(&r);

	json_t *st = status();
	cr_assert_eq(gw_ival(st, "pid"), G.pid);
	cr_assert(json_is_string(json_object_get(st, "server")));
	cr_assert_eq(json_array_size(json_object_get(st, "pools")), 1);
	json_t *p = gw_pool_of(st, "st"), *lim = json_object_get(p, "limits");
	cr_assert_str_eq(json_string_value(json_object_get(p, "protocol")), "fastcgi");
	cr_assert_str_eq(json_string_value(json_object_get(lim, "mode")), "static");
	cr_assert_eq(gw_ival(lim, "start"), 3);
	cr_assert_eq(gw_ival(lim, "max"), 3);
	cr_assert_eq(gw_ival(lim, "max_requests"), 50);
	cr_assert_eq(gw_ival(lim, "queue"), 5);
	cr_assert_float_eq(json_number_value(json_object_get(lim, "request_timeout")), 7.0, 1e-9);
	cr_assert_float_eq(json_number_value(json_object_get(lim, "queue_timeout")), 2.0, 1e-9);
	static const char *const states[] = {"starting", "idle", "busy", "draining", "dead"};
	long long total = 0;
	for (int s = 0; s < 5; s++)
		total += pcount(p, states[s]);
	cr_assert_eq(total, 3);
	cr_assert_eq(pcount(p, "idle"), 3);
	static const char *const counters[] = {"queue_length", "errors", "timeouts", "rejected",
	                                       "crashes"};
	for (int k = 0; k < 5; k++)
		cr_assert_eq(gw_ival(p, counters[k]), 0, "%s", counters[k]);
	cr_assert_eq(gw_ival(p, "requests_served"), 1);
	cr_assert_eq(gw_ival(p, "spawns"), 3);
	json_t *workers = json_object_get(p, "workers"), *w;
	cr_assert_eq(json_array_size(workers), 3);
	size_t i;
	long long sum = 0;
	json_array_foreach(workers, i, w) {
		pid_t pid = (pid_t)gw_ival(w, "pid");
		cr_assert(gw_pid_alive(pid), "worker %d is not running", (int)pid);
		cr_assert_geq(gw_ival(w, "slot"), 0);
		cr_assert_str_eq(json_string_value(json_object_get(w, "state")), "idle");
		cr_assert(json_is_null(json_object_get(w, "current_uri")));
		cr_assert_gt(gw_ival(w, "rss_kib"), 0);
		json_t *rs = json_object_get(w, "running_seconds");
		cr_assert(json_is_number(rs) && json_number_value(rs) >= 0 &&
		          json_number_value(rs) < 30);
		sum += gw_ival(w, "requests");
	}
	cr_assert_eq(sum, 1);
	json_decref(st);

	/* Prometheus text: the same numbers. */
	must_get("/_gatewayd/status?format=prometheus", 200, &r);
	char *type = hdr(r.head, "Content-Type");
	cr_assert(type && strncmp(type, "text/plain", 10) == 0, "Content-Type %s", type);
	free(type);
	cr_assert(strstr(r.body, "gatewayd_pool_processes{pool=\"st\",state=\"idle\"} 3\n"), "%s",
	          r.body);
	cr_assert(strstr(r.body, "gatewayd_pool_processes{pool=\"st\",state=\"busy\"} 0\n"));
	cr_assert(strstr(r.body, "gatewayd_pool_requests_served_total{pool=\"st\"} 1\n"), "%s",
	          r.body);
	cr_assert(strstr(r.body, "gatewayd_pool_spawns_total{pool=\"st\"} 3\n"));
	cr_assert(strstr(r.body, "# TYPE gatewayd_pool_processes gauge\n"));
	resp_free(&r);

	/* loopback_only, for a client that is not on loopback: test_health asks as
	 * one through a uwsgi REMOTE_ADDR, so no test connects beyond 127.0.0.1. */
	stop_ok(&G);
	gw_start(&G, "{" BASE "\"status\": {\"enabled\": false},"
	             "\"pools\": {\"st\": {" HELLO_CMD ", \"processes\": 1}},"
	             "\"routes\": [{\"match\": \"=/hello\", \"pool\": \"st\"}]}");
	must_get("/_gatewayd/status", 404, &r);
	resp_free(&r);
	must_get("/_gatewayd/status?format=prometheus", 404, &r);
	resp_free(&r);
	finish_ok();
}

/* ---- 12. SIGHUP under load ------------------------------------------------- */

#define RELOAD_POOLS(perl) "\"pools\": {" \
	"\"hello\": {" HELLO_CMD ", \"processes\": 2}," \
	"\"perl\": {" PERL_CMD ", " perl "}},"
#define RELOAD_BEFORE "{" BASE RELOAD_POOLS("\"processes\": 2") \
	"\"routes\": [{\"match\": \"=/hello\", \"pool\": \"hello\"}," \
	"{\"match\": \"/perl/\", \"pool\": \"perl\"}]}"
static const struct idle_want RELOAD_BEFORE_IDLE[] = {{"hello", 2, 5}, {"perl", 2, 5}, {NULL}};
/* perl changed (processes, max_requests), hello as it was, a route added. */
#define RELOAD_AFTER "{" BASE RELOAD_POOLS("\"processes\": 3, \"max_requests\": 5000") \
	"\"routes\": [{\"match\": \"=/hello\", \"pool\": \"hello\"}," \
	"{\"match\": \"=/hello2\", \"pool\": \"hello\"}," \
	"{\"match\": \"/perl/\", \"pool\": \"perl\"}]}"
/* perl changed again. */
#define RELOAD_AGAIN "{" BASE RELOAD_POOLS("\"processes\": 1, \"max_requests\": 4000") \
	"\"routes\": [{\"match\": \"=/hello\", \"pool\": \"hello\"}," \
	"{\"match\": \"=/hello2\", \"pool\": \"hello\"}," \
	"{\"match\": \"/perl/\", \"pool\": \"perl\"}]}"

struct reload_loader {
	pthread_t t;
	int port;
	const char *target;
	const char *expect;
	double stop_at;
	int ok, failed;
	char first_failure[256];
};

/* A new connection per request: any failure is the server's, none a race
 * with a kept-alive connection closing. */
static void *reload_load_run(void *arg)
{
	struct reload_loader *l = arg;
	for (int i = 0; i < 100000 && gw_now() < l->stop_at; i++) {
		struct resp r;
		int rc = http(l->port, "GET", l->target, NULL, &r, 10);
		if (rc == 0 && r.status == 200 && strstr(r.body, l->expect)) {
			l->ok++;
		} else {
			if (!l->failed)
				snprintf(l->first_failure, sizeof l->first_failure, "%s #%d: rc %d status %d %.100s",
				         l->target, i, rc, r.status, r.body ? r.body : "");
			l->failed++;
		}
		resp_free(&r);
	}
	return NULL;
}

/* Three clients for seconds: hello (fast), and two on perl with a little
 * sleep each, so that two workers are busy and requests queue at any moment. */
static void reload_load_start(struct reload_loader *l, double seconds)
{
	double until = gw_now() + seconds;
	l[0] = (struct reload_loader){.port = G.port, .target = "/hello",
	                              .expect = "Hello from C, pid ", .stop_at = until};
	l[1] = (struct reload_loader){.port = G.port, .target = "/perl/load?sleep=0.03",
	                              .expect = "perl pid ", .stop_at = until};
	l[2] = (struct reload_loader){.port = G.port, .target = "/perl/load?sleep=0.05",
	                              .expect = "perl pid ", .stop_at = until};
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pthread_create(&l[i].t, NULL, reload_load_run, &l[i]), 0);
}

static int reload_load_join(struct reload_loader *l, int *ok)
{
	int failed = 0;
	*ok = 0;
	for (int i = 0; i < 3; i++) {
		pthread_join(l[i].t, NULL);
		*ok += l[i].ok;
		failed += l[i].failed;
		if (l[i].failed)
			cr_log_error("client %s: %d failed, first: %s", l[i].target, l[i].failed,
			             l[i].first_failure);
	}
	if (failed)
		gw_dump_log(&G);
	return failed;
}

/* Load (reload_load_start()'s, for 3 s) and one long request in flight on the
 * perl pool, across what the test does to the daemon. */
struct under_load {
	struct reload_loader loaders[3];
	struct async longer;
	pid_t long_pid; /* the worker serving the long request */
};

static void load_begin(struct under_load *u)
{
	reload_load_start(u->loaders, 3.0);
	async_start(&u->longer, "/perl/long?sleep=1.5");
	u->long_pid = busy_pid("perl", "/perl/long");
}

/* The load over: no request of it failed across what (the reload, say), enough
 * went through, and the long request was answered by its own worker. */
static void load_end_ok(struct under_load *u, const char *what)
{
	int ok, failed = reload_load_join(u->loaders, &ok);
	async_join(&u->longer);
	cr_assert_eq(failed, 0, "%d of %d requests failed across %s", failed, ok + failed, what);
	cr_assert_gt(ok, 30, "only %d requests in 3 s", ok);
	cr_assert_eq(u->longer.rc, 0, "the request in flight across %s got no answer", what);
	cr_assert_eq(u->longer.r.status, 200, "the request in flight across %s: %d %s", what,
	             u->longer.r.status, u->longer.r.body);
	cr_assert_eq(num_after(u->longer.r.body, "perl pid "), u->long_pid, "%s", u->longer.r.body);
	resp_free(&u->longer.r);
}

/* Write config over the running one's file and SIGHUP the daemon. */
static void reload(const char *config)
{
	gw_write_config(&G, config);
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
}

static int live_pool_count(void)
{
	json_t *st = status(), *p;
	size_t i;
	int n = 0;
	json_array_foreach(json_object_get(st, "pools"), i, p)
		n++;
	json_decref(st);
	return n;
}

static bool no_retired_pool(void *arg)
{
	return live_pool_count() == *(int *)arg;
}

Test(pools, sighup_under_load_fails_no_request)
{
	start_idle(RELOAD_BEFORE, RELOAD_BEFORE_IDLE);
	json_t *st = status();
	pid_t old_hello[2], old_perl[2];
	cr_assert_eq(worker_pids(gw_pool_of(st, "hello"), NULL, old_hello, 2), 2);
	cr_assert_eq(worker_pids(gw_pool_of(st, "perl"), NULL, old_perl, 2), 2);
	json_decref(st);
	struct resp r;
	must_get("/hello2", 404, &r);
	resp_free(&r);

	/* A long request on the pool about to change: in flight across the reload. */
	struct under_load load;
	load_begin(&load);
	gw_sleep(0.5);
	reload(RELOAD_AFTER);
	load_end_ok(&load, "the reload");

	/* The new config is in force: the new route, and the changed pool's
	 * workers are new processes, the old ones gone. */
	must_get("/hello2", 200, &r);
	resp_free(&r);
	wait_state("perl", "idle", 3, 5);
	st = status();
	json_t *p = gw_pool_of(st, "perl");
	pid_t new_perl[3];
	cr_assert_eq(worker_pids(p, NULL, new_perl, 3), 3);
	cr_assert_eq(gw_ival(json_object_get(p, "limits"), "max_requests"), 5000);
	for (int i = 0; i < 3; i++)
		cr_assert(!contains_pid(old_perl, 2, new_perl[i]),
		          "perl worker %d survived a change of its pool", (int)new_perl[i]);
	/* The unchanged pool kept its workers. */
	pid_t hello_now[2];
	cr_assert_eq(worker_pids(gw_pool_of(st, "hello"), NULL, hello_now, 2), 2);
	for (int i = 0; i < 2; i++)
		cr_assert(contains_pid(old_hello, 2, hello_now[i]),
		          "the unchanged hello pool's workers were replaced");
	json_decref(st);
	cr_assert(pids_dead_within(old_perl, 2, 7), "the old perl workers did not exit");
	int pools = 2;
	cr_assert(gw_wait_until(no_retired_pool, &pools, 3), "the drained pool is still listed");
	for (int i = 0; i < 3; i++) {
		must_get("/perl/after", 200, &r);
		cr_assert(contains_pid(new_perl, 3, (pid_t)num_after(r.body, "perl pid ")), "%s",
		          r.body);
		resp_free(&r);
	}
	cr_assert(gw_wait_children(G.pid, 5, 3), "gatewayd has %d children, wanted 5",
	          gw_count_children(G.pid, NULL));
	finish_ok();
}

Test(pools, back_to_back_reloads_and_a_bad_config_fail_no_request)
{
	start_idle(RELOAD_BEFORE, RELOAD_BEFORE_IDLE);
	json_t *st = status();
	pid_t old_perl[2];
	cr_assert_eq(worker_pids(gw_pool_of(st, "perl"), NULL, old_perl, 2), 2);
	json_decref(st);

	struct under_load load;
	load_begin(&load);
	gw_sleep(0.3);
	/* Two reloads 0.3 s apart (the first generation still draining at the
	 * second), then a config that does not load: the running one stays. */
	reload(RELOAD_AFTER);
	gw_sleep(0.3);
	reload(RELOAD_AGAIN);
	gw_sleep(0.5);
	FILE *f = fopen(G.config, "w");
	cr_assert_not_null(f);
	fputs("{\"listen\": [", f);
	fclose(f);
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	load_end_ok(&load, "the reloads");
	cr_assert(gw_log_contains(G.error_log, "keeping the running config", 2),
	          "no word in the log about the config that did not load");

	/* The last good config is in force; every older generation drained. */
	struct resp r;
	must_get("/hello2", 200, &r);
	resp_free(&r);
	wait_state("perl", "idle", 1, 5);
	st = status();
	json_t *p = gw_pool_of(st, "perl");
	cr_assert_eq(gw_ival(json_object_get(p, "limits"), "max_requests"), 4000);
	pid_t now_perl;
	cr_assert_eq(worker_pids(p, NULL, &now_perl, 1), 1);
	cr_assert(!contains_pid(old_perl, 2, now_perl));
	json_decref(st);
	cr_assert(pids_dead_within(old_perl, 2, 7), "the first perl workers did not exit");
	int pools = 2;
	cr_assert(gw_wait_until(no_retired_pool, &pools, 7), "drained pools are still listed (%d)",
	          live_pool_count());
	cr_assert(gw_wait_children(G.pid, 3, 3), "gatewayd has %d children, wanted 3",
	          gw_count_children(G.pid, NULL));
	must_get("/perl/after", 200, &r);
	cr_assert_eq(num_after(r.body, "perl pid "), now_perl, "%s", r.body);
	resp_free(&r);
	/* Put a good config back so nothing else trips on the broken file. */
	gw_write_config(&G, RELOAD_AGAIN);
	finish_ok();
}

/* ---- uwsgi: the next request waits in a busy worker's backlog ------------- */

/* Pool "w": one gatewayd-wsgi worker of backlog_app.py over proto, with more keys. */
#define BACKLOG_POOL_WITH(proto, keys) "\"w\": {\"protocol\": \"" proto "\", \"command\": [\"@BUILD@/spawner/wsgi/gatewayd-wsgi\"," \
	" \"--protocol\", \"" proto "\", \"--path\", \"@FIX@/pools\", \"backlog_app:application\"]," \
	" \"processes\": 1, " keys ", \"env\": {\"PATH\": \"/usr/bin:/bin\"}}"
#define BACKLOG_POOL(proto) BACKLOG_POOL_WITH(proto, "\"request_timeout\": 20")
#define BACKLOG_ROUTES "\"routes\": [{\"match\": \"/w/\", \"pool\": \"w\"}]}"

/* gatewayd with the pool "w" of BACKLOG_POOL under /w/, its worker idle:
 * over uwsgi, or over FastCGI (gatewayd-wsgi takes a request behind
 * another on its connection: FCGI_MPXS_CONNS=1). */
static void start_backlog_pool_over(bool fastcgi)
{
	static const struct idle_want w[] = {{"w", 1, 10}, {NULL}};
	if (fastcgi)
		start_idle("{" BASE "\"pools\": {" BACKLOG_POOL("fastcgi") "}," BACKLOG_ROUTES, w);
	else
		start_idle("{" BASE "\"pools\": {" BACKLOG_POOL("uwsgi") "}," BACKLOG_ROUTES, w);
}

static void start_backlog_pool(void)
{
	start_backlog_pool_over(false);
}

struct uri_probe {
	const char *key; /* "current_uri" or "next_uri" */
	const char *uri;
};

static bool worker_has_uri(void *arg)
{
	struct uri_probe *p = arg;
	json_t *st = status(), *w;
	size_t i;
	bool found = false;
	json_array_foreach(json_object_get(gw_pool_of(st, "w"), "workers"), i, w) {
		const char *u = json_string_value(json_object_get(w, p->key));
		found |= u && strcmp(u, p->uri) == 0;
	}
	json_decref(st);
	return found;
}

static void wait_uri(const char *key, const char *uri)
{
	struct uri_probe p = {key, uri};
	bool ok = gw_wait_until(worker_has_uri, &p, 5);
	if (!ok)
		gw_dump_log(&G);
	cr_assert(ok, "no worker of pool w shows %s %s", key, uri);
}

struct served_probe {
	long long served, errors;         /* wanted */
	long long got_served, got_errors; /* seen last */
};

static bool w_served_is(void *arg)
{
	struct served_probe *p = arg;
	json_t *st = status();
	json_t *pool = gw_pool_of(st, "w");
	p->got_served = gw_ival(pool, "requests_served");
	p->got_errors = gw_ival(pool, "errors");
	json_decref(st);
	return p->got_served == p->served && p->got_errors == p->errors;
}

/* Pool w served so many requests, with so many errors, within 3 s: a
 * request is counted once its worker's answer has ended, which over uwsgi
 * is when the worker closes the connection, and over FastCGI its
 * END_REQUEST: either may come after the client read the whole answer
 * (Content-Length). */
static void expect_w_served(long served, long errors)
{
	struct served_probe p = {served, errors, -1, -1};
	gw_wait_until(w_served_is, &p, 3);
	cr_expect_eq(p.got_served, served, "pool w: %lld requests served, want %ld", p.got_served,
	             served);
	cr_expect_eq(p.got_errors, errors, "pool w: %lld errors, want %ld", p.got_errors, errors);
}

/* Pool w's one idle worker (its pid returned) gets front, then behind sent
 * on behind it (status shows both, the dispatcher's queue stays empty): a
 * GET, or a POST of body; both answered, in a and b. */
static pid_t one_in_front_one_behind(struct async *a, const char *front, struct async *b,
                                     const char *behind, const char *body)
{
	pid_t first;
	json_t *st = status();
	cr_assert_eq(worker_pids(gw_pool_of(st, "w"), "idle", &first, 1), 1);
	json_decref(st);
	async_start(a, front);
	wait_uri("current_uri", front);
	if (body)
		async_post(b, behind, body);
	else
		async_start(b, behind);
	wait_uri("next_uri", behind);
	cr_expect_eq(pool_stat("w", "queue_length"), 0, "the waiting request is in the dispatcher's queue");
	async_join(a);
	async_join(b);
	return first;
}

/* One worker: a request that comes while it is busy is sent on at once and
 * waits in the worker's socket backlog (status shows it as next_uri, the
 * dispatcher's queue stays empty); the worker takes it when it is done. */
Test(pools, a_uwsgi_worker_holds_the_next_request_in_its_backlog, .timeout = 40)
{
	start_backlog_pool();
	struct async a, b;
	one_in_front_one_behind(&a, "/w/sleep?1", &b, "/w/quick", NULL);
	cr_assert(a.rc == 0 && b.rc == 0 && a.r.status == 200 && b.r.status == 200,
	          "statuses %d %d", a.r.status, b.r.status);
	long pa = num_after(a.r.body, "pid "), pb = num_after(b.r.body, "pid ");
	cr_expect(pa > 0 && pa == pb, "served by pids %ld and %ld, not the one worker", pa, pb);
	const char *timing = strcasestr(b.r.head, "\nServer-Timing: ");
	double spawn = -1, queue = -1;
	cr_assert(timing && sscanf(timing, "\nServer-Timing: spawn;dur=%lf, queue;dur=%lf", &spawn, &queue) == 2);
	cr_expect(queue > 300, "the wait behind a 1 s request shows as queue %.3f ms", queue);
	resp_free(&a.r);
	resp_free(&b.r);

	expect_w_served(2, 0);
	finish_ok();
}

/* One FastCGI worker that multiplexes: a request that comes while it is
 * busy is sent on at once, behind the one it serves on the same kept
 * connection (status shows it as next_uri, the dispatcher's queue stays
 * empty); the worker serves it when it is done. */
Test(pools, a_fastcgi_worker_that_multiplexes_takes_the_next_request_on_its_connection,
     .timeout = 40)
{
	start_backlog_pool_over(true);
	struct async a, b;
	one_in_front_one_behind(&a, "/w/conn?1", &b, "/w/conn", NULL);
	cr_assert(a.rc == 0 && b.rc == 0 && a.r.status == 200 && b.r.status == 200,
	          "statuses %d %d", a.r.status, b.r.status);
	long pa = num_after(a.r.body, "pid "), pb = num_after(b.r.body, "pid ");
	long ca = num_after(a.r.body, "\nconn "), cb = num_after(b.r.body, "\nconn ");
	cr_expect(pa > 0 && pa == pb, "served by pids %ld and %ld, not the one worker", pa, pb);
	cr_expect(ca > 0 && ca == cb, "served on connections %ld and %ld, not one", ca, cb);
	resp_free(&a.r);
	resp_free(&b.r);

	/* Ten at once, one worker: every one answered, the connection kept. */
	struct async many[10];
	for (int i = 0; i < 10; i++)
		async_start(&many[i], "/w/conn");
	for (int i = 0; i < 10; i++) {
		async_join(&many[i]);
		cr_expect(many[i].rc == 0 && many[i].r.status == 200, "request %d: %d", i,
		          many[i].r.status);
		cr_expect_eq(num_after(many[i].r.body, "\nconn "), ca, "request %d on another connection", i);
		resp_free(&many[i].r);
	}
	expect_w_served(12, 0);
	finish_ok();
}

/* The worker dies with a request sent on behind its current one, which it
 * never took: a GET goes to the replacement; a POST (the worker might have
 * begun it in the instant before) gets 502, as its own request does. */
static void dies_with_one_behind(bool fastcgi)
{
	start_backlog_pool_over(fastcgi);
	struct async a, b;
	pid_t first = one_in_front_one_behind(&a, "/w/crash?2", &b, "/w/after", NULL);
	cr_expect(a.rc == 0 && a.r.status == 502, "the crashing request: %d", a.r.status);
	cr_assert(b.rc == 0 && b.r.status == 200, "the GET behind it: %d %s", b.r.status, b.r.body);
	long pb = num_after(b.r.body, "pid ");
	cr_expect(pb > 0 && pb != first, "the GET was served by pid %ld (the dead one was %d)", pb, (int)first);
	cr_expect(gw_log_contains(G.error_log, "is gone before it took this request: trying another worker", 2));
	resp_free(&a.r);
	resp_free(&b.r);

	wait_state("w", "idle", 1, 10);
	one_in_front_one_behind(&a, "/w/crash?2", &b, "/w/form", "x=1");
	cr_expect(a.rc == 0 && a.r.status == 502, "the crashing request: %d", a.r.status);
	cr_expect(b.rc == 0 && b.r.status == 502, "the POST behind it: %d %s", b.r.status, b.r.body);
	cr_expect(gw_log_contains(G.error_log, "is gone with this request in its backlog: 502", 2));
	resp_free(&a.r);
	resp_free(&b.r);

	/* And the pool serves on. */
	wait_state("w", "idle", 1, 10);
	struct resp r;
	must_get("/w/end", 200, &r);
	resp_free(&r);
	finish_ok();
}

/* A request whose client leaves, sent to a FastCGI worker that multiplexes
 * while it is behind another one or in front of one: the worker still
 * serves it (its answer is dropped) and the other is answered. */
Test(pools, a_client_that_leaves_with_its_request_behind_another_costs_no_other_answer,
     .timeout = 40)
{
	start_backlog_pool_over(true);
	static const char *const firsts[] = {"/w/sleep?1", "/w/sleep?0.8"};
	for (int round = 0; round < 2; round++) {
		/* round 0: the request behind leaves; round 1: the one in front */
		const char *first = firsts[round];
		int fd = -1;
		struct async a = {0}, b = {0};
		char req[256];
		if (round == 0)
			async_start(&a, first);
		else {
			fd = gw_connect(G.port);
			snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", first);
			gw_send_all(fd, req, strlen(req));
		}
		wait_uri("current_uri", first);
		if (round == 0) {
			fd = gw_connect(G.port);
			snprintf(req, sizeof req, "GET /w/left HTTP/1.1\r\nHost: t\r\n\r\n");
			gw_send_all(fd, req, strlen(req));
			wait_uri("next_uri", "/w/left");
		} else {
			async_start(&b, "/w/conn");
			wait_uri("next_uri", "/w/conn");
		}
		close(fd);
		struct async *kept = round == 0 ? &a : &b;
		async_join(kept);
		cr_expect(kept->rc == 0 && kept->r.status == 200, "round %d: the one that stayed: %d",
		          round, kept->r.status);
		resp_free(&kept->r);
	}
	wait_state("w", "idle", 1, 10);
	struct resp r;
	must_get("/w/end", 200, &r);
	resp_free(&r);
	expect_w_served(5, 0);
	finish_ok();
}

/* The debug log's line that says the request answered with r (its id named
 * in the answer, as backlog_app.py does) was sent on behind another one;
 * malloc'd, or NULL. Written before the request went on, so before r came. */
static char *sent_behind(const struct resp *r)
{
	const char *at = r->body ? strstr(r->body, " rid ") : NULL;
	cr_assert(at, "no request id in the answer: %s", r->body);
	char req[128];
	snprintf(req, sizeof req, "req=%.*s: ", (int)strcspn(at + 5, "\n"), at + 5);
	return gw_log_line_with(G.error_log, req, "behind its current request", 0);
}

/* Behind a request whose answer gatewayd refuses (more header fields than it
 * takes: 502), a POST is still served: the one in front is read to its end
 * and dropped, not cut off with the connection under the one behind. And a
 * 60 KB body goes behind a 400 KB one the worker reads late, and both are
 * served (the body behind may stop at the connection's high-water mark:
 * it goes on as the connection drains, whichever job that wakes); a body
 * over 64 KiB waits its turn in the queue instead, since a worker that
 * refused it could not pass it whole to another. */
Test(pools, the_request_behind_outlives_a_refused_answer_and_a_full_connection, .timeout = 40)
{
	start_backlog_pool_over(true);
	struct async a, b;
	one_in_front_one_behind(&a, "/w/many-headers?2", &b, "/w/form", "x=1");
	cr_expect(a.rc == 0 && a.r.status == 502, "the refused answer: %d", a.r.status);
	cr_expect(b.rc == 0 && b.r.status == 200, "the POST behind it: %d %s", b.r.status, b.r.body);
	cr_expect(gw_log_contains(G.error_log, "header", 2), "no log line about the refused head");
	resp_free(&a.r);
	resp_free(&b.r);

	static char big_a[400 * 1024 + 1], big_b[60 * 1024 + 1];
	memset(big_a, 'a', sizeof big_a - 1);
	memset(big_b, 'b', sizeof big_b - 1);
	async_post(&a, "/w/late-read?1", big_a);
	wait_uri("current_uri", "/w/late-read?1");
	usleep(300000); /* its body all sent on, part still in the dispatcher */
	async_post(&b, "/w/form", big_b);
	wait_uri("next_uri", "/w/form");
	async_join(&a);
	async_join(&b);
	cr_expect(a.rc == 0 && a.r.status == 200, "the late reader: %d", a.r.status);
	cr_expect(b.rc == 0 && b.r.status == 200, "the 60 KB POST behind it: %d", b.r.status);
	char *line = sent_behind(&b.r);
	cr_expect_not_null(line, "the 60 KB POST was not logged as sent behind");
	free(line);
	resp_free(&a.r);
	resp_free(&b.r);

	static char big_c[100 * 1024 + 1];
	memset(big_c, 'c', sizeof big_c - 1);
	async_start(&a, "/w/sleep?3");
	wait_uri("current_uri", "/w/sleep?3");
	async_post(&b, "/w/form", big_c);
	struct queue_probe q = {"w", 1};
	cr_expect(gw_wait_until(queue_is, &q, 2), "a 100 KB body did not wait in the queue");
	async_join(&a);
	async_join(&b);
	cr_expect(a.rc == 0 && b.rc == 0 && a.r.status == 200 && b.r.status == 200,
	          "statuses %d %d", a.r.status, b.r.status);
	/* Any request waits in the queue while its body comes, even one on its
	 * way behind: this one waited there to the end, never sent behind. */
	line = sent_behind(&b.r);
	cr_expect_null(line, "a 100 KB body went behind: %s", line);
	free(line);
	resp_free(&a.r);
	resp_free(&b.r);
	expect_w_served(6, 1);
	finish_ok();
}

/* How many lines of the file at path hold needle. */
static int lines_with(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

/* A FastCGI worker that multiplexes and answers in its own order
 * (test/fixtures/pools/fcgi_mux.py, as Go's net/http/fcgi may): the request
 * behind is answered first, while the one in front still runs; each answer
 * reaches its own client, and the connection goes on for the next pair. */
Test(pools, answers_out_of_order_on_one_connection_reach_their_own_clients, .timeout = 40)
{
	static const struct idle_want w[] = {{"w", 1, 10}, {NULL}};
	start_idle("{" BASE "\"pools\": {\"w\": {\"protocol\": \"fastcgi\", \"command\":"
	           " [\"@FIX@/pools/fcgi_mux.py\"], \"processes\": 1, \"request_timeout\": 20}},"
	           BACKLOG_ROUTES, w);
	long conn = -1;
	for (int round = 0; round < 3; round++) {
		struct async a, b;
		async_start(&a, "/w/slow?1");
		wait_uri("current_uri", "/w/slow?1");
		async_start(&b, "/w/quick");
		async_join(&b);
		double b_took = gw_now() - b.started;
		async_join(&a);
		cr_assert(a.rc == 0 && b.rc == 0 && a.r.status == 200 && b.r.status == 200,
		          "round %d: statuses %d %d", round, a.r.status, b.r.status);
		cr_expect(strstr(a.r.body, "uri /w/slow?1"), "round %d: %s", round, a.r.body);
		cr_expect(strstr(b.r.body, "uri /w/quick"), "round %d: %s", round, b.r.body);
		cr_expect(strstr(b.r.body, " open 2 "), "round %d: the one behind was not sent while"
		          " the one in front ran: %s", round, b.r.body);
		cr_expect(b_took < 0.7, "round %d: the answer behind took %.2f s", round, b_took);
		long ca = num_after(a.r.body, "conn "), cb = num_after(b.r.body, "conn ");
		cr_expect(ca > 0 && ca == cb, "round %d: connections %ld and %ld", round, ca, cb);
		if (conn < 0)
			conn = ca;
		cr_expect_eq(ca, conn, "round %d: the connection was not kept", round);
		cr_expect_neq(num_after(a.r.body, " id "), num_after(b.r.body, " id "),
		              "round %d: one request id for both", round);
		resp_free(&a.r);
		resp_free(&b.r);
	}

	/* It refuses one behind (FCGI_OVERLOADED): that request waits its turn
	 * and is answered after the one in front; nothing goes behind again. */
	for (int round = 0; round < 2; round++) {
		struct async a, b;
		async_start(&a, "/w/slow?0.5");
		wait_uri("current_uri", "/w/slow?0.5");
		async_start(&b, "/w/refuse");
		async_join(&b);
		async_join(&a);
		cr_assert(a.rc == 0 && b.rc == 0 && a.r.status == 200 && b.r.status == 200,
		          "refusal round %d: statuses %d %d", round, a.r.status, b.r.status);
		cr_expect(strstr(b.r.body, " open 1 "), "refusal round %d: %s", round, b.r.body);
		resp_free(&a.r);
		resp_free(&b.r);
	}
	cr_expect(gw_log_contains(G.error_log, "would not take this request behind another", 2));
	cr_expect_eq(lines_with(G.error_log, "would not take this request behind another"), 1,
	             "a request went behind again after a refusal");
	expect_w_served(10, 0);
	finish_ok();
}

/* The request in front runs over request_timeout: 504, the worker is
 * killed, and the GET sent on behind it goes to the replacement. */
Test(pools, request_timeout_in_front_sends_the_request_behind_to_another_worker, .timeout = 40)
{
	static const struct idle_want w[] = {{"w", 1, 10}, {NULL}};
	start_idle("{" BASE "\"pools\": {" BACKLOG_POOL_WITH("fastcgi", "\"request_timeout\": 1") "},"
	           BACKLOG_ROUTES, w);
	struct async a, b;
	pid_t first = one_in_front_one_behind(&a, "/w/sleep?5", &b, "/w/conn", NULL);
	cr_expect(a.rc == 0 && a.r.status == 504, "the slow request: %d", a.r.status);
	cr_expect(b.rc == 0 && b.r.status == 200, "the GET behind it: %d", b.r.status);
	long pb = num_after(b.r.body, "pid ");
	cr_expect(pb > 0 && pb != first, "served by pid %ld (the killed one was %d)", pb, (int)first);
	cr_expect(gw_log_contains(G.error_log, "is gone before it took this request: trying another worker", 2));
	resp_free(&a.r);
	resp_free(&b.r);
	finish_ok();
}

Test(pools, a_uwsgi_worker_that_dies_retries_only_an_idempotent_request_behind_it, .timeout = 60)
{
	dies_with_one_behind(false);
}

Test(pools, a_fastcgi_worker_that_dies_retries_only_an_idempotent_request_behind_it,
     .timeout = 60)
{
	dies_with_one_behind(true);
}

/* What an application prints to sys.stderr (not wsgi.errors) reaches the
 * error log with its request's id: gatewayd-wsgi tags it ("[id] ") and
 * gatewayd takes the tag; a bracket that is no id is left in the text. A line
 * written to fd 2 past Python is logged too, with no id to give it. */
Test(pools, a_workers_stderr_lines_carry_the_request_id, .timeout = 30)
{
	start_backlog_pool();
	struct resp r;
	must_get("/w/stderr", 200, &r);
	const char *at = strstr(r.body, " rid ");
	char *rid = at ? strndup(at + 5, strcspn(at + 5, "\n")) : NULL;
	long pid = num_after(r.body, "pid ");
	cr_assert(rid && rid[0] && pid > 0, "no request id in %s", r.body);
	resp_free(&r);
	char want[256];
	snprintf(want, sizeof want, "req=%s: w#0 (pid %ld): untagged line from the app", rid, pid);
	cr_expect(gw_log_contains(G.error_log, want, 3), "no \"%s\" in the error log", want);
	snprintf(want, sizeof want, "req=%s: w#0 (pid %ld): [not an id] a bracket that is no tag", rid,
	         pid);
	cr_expect(gw_log_contains(G.error_log, want, 3), "no \"%s\" in the error log", want);
	cr_expect(gw_log_contains(G.error_log, "xxxxxxxxxx] too long to be an id", 3));
	snprintf(want, sizeof want, "w#0 (pid %ld): raw line on fd 2", pid);
	cr_expect(gw_log_contains(G.error_log, want, 3), "no \"%s\" in the error log", want);
	free(rid);
	finish_ok();
}

/* max_rss: a worker that grew past it is replaced after its request, and
 * the requests go on to the new one. */
Test(pools, a_worker_over_max_rss_is_recycled, .timeout = 30)
{
	static const struct idle_want w[] = {{"w", 1, 10}, {NULL}};
	start_idle("{" BASE "\"pools\": {" BACKLOG_POOL_WITH("uwsgi", "\"max_rss\": \"48M\"") "},"
	           BACKLOG_ROUTES, w);
	struct resp r;
	must_get("/w/grow", 200, &r);
	long first = num_after(r.body, "pid ");
	resp_free(&r);
	cr_assert_gt(first, 0);
	long now = first;
	for (int i = 0; i < 50 && now == first; i++) {
		usleep(100000);
		if (get("/w/", &r) == 0 && r.status == 200)
			now = num_after(r.body, "pid ");
		resp_free(&r);
	}
	cr_expect_neq(now, first, "the worker over max_rss still serves after 5 s");
	cr_expect_gt(now, 0, "no answer from a new worker");
	cr_expect(gw_log_contains(G.error_log, "over max_rss", 3), "no max_rss line in the error log");
	finish_ok();
}
