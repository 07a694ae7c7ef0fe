/* "dispatchers": N end to end, as root: the real gatewayd binary started as a
 * master that runs N dispatchers (each with its own privileged spawner,
 * dropped to "user": "www-data"), real sockets, real signals.
 *
 * Each test's directory (G.dir, made 0755) holds cgi/ (root owned 0755: the
 * route's root), run/ (1777: scripts write pid files there) and the logs.
 * Every pid a test sees (dispatchers, spawners, scripts) is remembered and
 * SIGKILLed in teardown if still alive; load threads are stopped and joined
 * there too. Every loop is bounded in count and in time. Without root the
 * tests are skipped (they say so). */
#include "test/integration/harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

static struct gw_proc G;

static void load_stop(void);

static void teardown(void)
{
	load_stop();
	gw_cleanup(&G);
	gw_kill_remembered();
}

static void make_dirs(void)
{
	if (geteuid() != 0)
		cr_skip_test("the dispatchers suite runs as root (the master drops to www-data)");
	gw_write_config(&G, "{}");
	cr_assert_eq(chmod(G.dir, 0755), 0);
	char path[400];
	snprintf(path, sizeof path, "%s/cgi", G.dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(chmod(path, 0755), 0);
	snprintf(path, sizeof path, "%s/run", G.dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(chmod(path, 01777), 0);
}

static void script(const char *name, const char *text)
{
	char rel[200];
	snprintf(rel, sizeof rel, "cgi/%s", name);
	gw_write_file(&G, rel, text, 0755, 0, 0);
}

/* Prints the request id (which names the dispatcher), then sleeps
 * $QUERY_STRING seconds (a number the test chose). */
static const char S_SH[] = "#!/bin/sh\n"
                           "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                           "echo \"rid=$GATEWAY_REQUEST_ID\"\n"
                           "case \"$QUERY_STRING\" in [0-9]*) sleep \"$QUERY_STRING\";; esac\n"
                           "echo done\n";

/* Writes its pid to run/<q>.script, then sleeps 1 s and answers. */
static const char SLOW_SH[] =
        "#!/bin/sh\n"
        "q=$QUERY_STRING\n"
        "echo $$ > @DIR@/run/$q.script.tmp && mv @DIR@/run/$q.script.tmp @DIR@/run/$q.script\n"
        "sleep 1\n"
        "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
        "echo \"rid=$GATEWAY_REQUEST_ID\"\n";

/* Its pid to run/<q>.script, a grandchild in a session of its own that
 * writes its pid to run/<q>.gc and becomes sleep 600; then sleeps itself. */
static const char TREE_SH[] =
        "#!/bin/sh\n"
        "q=$QUERY_STRING\n"
        "echo $$ > @DIR@/run/$q.script.tmp && mv @DIR@/run/$q.script.tmp @DIR@/run/$q.script\n"
        "setsid sh -c 'echo $$ > \"$0.tmp\" && mv \"$0.tmp\" \"$0\" && exec sleep 600' "
        "@DIR@/run/$q.gc </dev/null >/dev/null 2>&1 &\n"
        "sleep 600\n";

#define CONFIG_N(n, more)                                                                        \
	"{\"user\":\"www-data\",\"dispatchers\":" n ","                                          \
	" \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                                          \
	" \"routes\":[" more "{\"match\":\"/cgi/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"timeout\":20}}]}"
#define CONFIG2 CONFIG_N("2", "")

/* ---- a raw client, safe in threads (no harness state) -------------------- */

enum outcome { OK, REFUSED, FAILED };

/* GET path (HTTP/1.0: no chunking, closed after) on a new connection; *status
 * and up to the 8 hex digits after "rid=" in prefix. */
static enum outcome fetch(int port, const char *path, double timeout, int *status,
                          char prefix[9], char **body_out)
{
	*status = 0;
	if (prefix)
		prefix[0] = '\0';
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0)
		return FAILED;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		close(fd);
		return e == ECONNREFUSED ? REFUSED : FAILED;
	}
	char req[512];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: t\r\n\r\n", path);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		close(fd);
		return FAILED;
	}
	char buf[16384];
	size_t len = 0;
	double deadline = gw_now() + timeout;
	bool eof = false;
	while (len < sizeof buf - 1) {
		double left = deadline - gw_now();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			break;
		ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
		if (r <= 0) {
			eof = r == 0;
			break;
		}
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	if (!eof || sscanf(buf, "HTTP/1.%*d %d", status) != 1)
		return FAILED;
	char *body = strstr(buf, "\r\n\r\n");
	char *rid = body ? strstr(body, "rid=") : NULL;
	if (body && !rid)
		rid = strstr(body, "rid "); /* backlog_app.py's answers */
	if (prefix && rid && strlen(rid + 4) >= 8) {
		memcpy(prefix, rid + 4, 8);
		prefix[8] = '\0';
	}
	if (body_out)
		*body_out = strdup(body ? body + 4 : "");
	return *status == 200 ? OK : FAILED;
}

/* ---- a bounded load: threads, a new connection per request --------------- */

#define LOAD_THREADS_MAX 16
#define LOAD_RESULTS_MAX 4096

struct result {
	enum outcome outcome;
	int status;
	char prefix[9];
	long pid, conn; /* backlog_app.py's /conn answers: the worker and its connection */
	double t; /* when it ended (gw_now) */
};

static struct {
	pthread_t threads[LOAD_THREADS_MAX];
	int nthreads;
	int port;
	char path[128];
	int max;          /* requests in all */
	double until;     /* and no request starts after this */
	double pause;     /* between two requests of one thread */
	atomic_int next;  /* requests started */
	atomic_bool stop; /* teardown's, or a test's that ends the load */
	struct result results[LOAD_RESULTS_MAX];
	atomic_int done;
} L;

static void *load_run(void *arg)
{
	(void)arg;
	for (;;) {
		if (atomic_load(&L.stop) || gw_now() >= L.until)
			break;
		int i = atomic_fetch_add(&L.next, 1);
		if (i >= L.max)
			break;
		struct result *r = &L.results[i];
		char *body = NULL;
		r->outcome = fetch(L.port, L.path, 10, &r->status, r->prefix, &body);
		const char *pid = body ? strstr(body, "pid ") : NULL;
		const char *conn = body ? strstr(body, "\nconn ") : NULL; /* its own line */
		r->pid = pid ? atol(pid + 4) : 0;
		r->conn = conn ? atol(conn + 6) : 0;
		free(body);
		r->t = gw_now();
		atomic_fetch_add(&L.done, 1);
		if (L.pause > 0)
			gw_sleep(L.pause);
	}
	return NULL;
}

static void load_start(int threads, const char *path, int max, double seconds, double pause)
{
	cr_assert(threads <= LOAD_THREADS_MAX && max <= LOAD_RESULTS_MAX);
	memset(L.results, 0, sizeof L.results);
	L.port = G.port;
	snprintf(L.path, sizeof L.path, "%s", path);
	L.max = max;
	L.until = gw_now() + seconds;
	L.pause = pause;
	atomic_store(&L.next, 0);
	atomic_store(&L.done, 0);
	atomic_store(&L.stop, false);
	L.nthreads = 0;
	for (int i = 0; i < threads; i++) {
		cr_assert_eq(pthread_create(&L.threads[i], NULL, load_run, NULL), 0);
		L.nthreads++;
	}
}

/* Join the threads (they end by count or time); the number of requests made. */
static int load_join(void)
{
	for (int i = 0; i < L.nthreads; i++)
		pthread_join(L.threads[i], NULL);
	L.nthreads = 0;
	int n = atomic_load(&L.next);
	return n < L.max ? n : L.max;
}

static void load_stop(void)
{
	atomic_store(&L.stop, true);
	load_join();
}

struct tally {
	int ok, refused, failed;
};

static struct tally load_tally(int n)
{
	struct tally t = {0};
	for (int i = 0; i < n; i++) {
		t.ok += L.results[i].outcome == OK;
		t.refused += L.results[i].outcome == REFUSED;
		t.failed += L.results[i].outcome == FAILED;
	}
	return t;
}

/* Say what the failures were: each distinct status (0: no answer) and how many. */
static void describe_failures(int n)
{
	int codes[16] = {0}, counts[16] = {0}, k = 0;
	for (int i = 0; i < n; i++) {
		if (L.results[i].outcome == OK)
			continue;
		int j = 0;
		while (j < k && codes[j] != L.results[i].status)
			j++;
		if (j == k && k < 16)
			codes[k++] = L.results[i].status;
		if (j < k)
			counts[j]++;
	}
	for (int j = 0; j < k; j++)
		cr_log_info("failed requests with status %d (0: no complete answer): %d", codes[j],
		            counts[j]);
}

/* ---- the status page ------------------------------------------------------ */

struct disp {
	int index, generation, pid;
	char state[16];
	bool self;
	char prefix[9];
	long long connections, requests;
};

struct status {
	int n;
	struct disp d[300];
	long long connections, requests;
};

static const char *str_of(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "";
}

/* GET /_gatewayd/status, parsed; false when it did not come (a dispatcher
 * killed under it), so that callers may ask again. */
static bool status_try(struct status *s)
{
	int code;
	char *body = NULL;
	memset(s, 0, sizeof *s);
	if (fetch(G.port, "/_gatewayd/status", 5, &code, NULL, &body) != OK) {
		free(body);
		return false;
	}
	json_error_t err;
	json_t *j = json_loads(body, 0, &err);
	free(body);
	if (!j)
		return false;
	s->connections = json_integer_value(json_object_get(j, "connections"));
	s->requests = json_integer_value(json_object_get(j, "requests"));
	json_t *a = json_object_get(j, "dispatchers"), *e;
	size_t i;
	json_array_foreach(a, i, e) {
		if (s->n >= 300)
			break;
		struct disp *d = &s->d[s->n++];
		d->index = (int)json_integer_value(json_object_get(e, "index"));
		d->generation = (int)json_integer_value(json_object_get(e, "generation"));
		d->pid = (int)json_integer_value(json_object_get(e, "pid"));
		snprintf(d->state, sizeof d->state, "%s", str_of(e, "state"));
		d->self = json_is_true(json_object_get(e, "self"));
		snprintf(d->prefix, sizeof d->prefix, "%s", str_of(e, "id_prefix"));
		d->connections = json_integer_value(json_object_get(e, "connections"));
		d->requests = json_integer_value(json_object_get(e, "requests"));
	}
	json_decref(j);
	return true;
}

static void status_get(struct status *s)
{
	for (int i = 0; i < 20; i++)
		if (status_try(s))
			return;
	gw_dump_log(&G);
	cr_assert_fail("no status page in 20 tries");
}

static const struct disp *self_of(const struct status *s)
{
	for (int i = 0; i < s->n; i++)
		if (s->d[i].self)
			return &s->d[i];
	return NULL;
}

/* Exactly n dispatchers listed, all of generation gen and ready: polled up to
 * timeout s; the last status in *s. */
static bool wait_ready(struct status *s, int n, int gen, double timeout)
{
	double until = gw_now() + timeout;
	do {
		if (status_try(s) && s->n == n) {
			int good = 0;
			for (int i = 0; i < s->n; i++)
				good += s->d[i].generation == gen && strcmp(s->d[i].state, "ready") == 0;
			if (good == n)
				return true;
		}
		usleep(20000);
	} while (gw_now() < until);
	return false;
}

static void start_ready(const char *config, int n, struct status *s)
{
	gw_start(&G, config);
	bool ok = wait_ready(s, n, 1, 10);
	if (!ok)
		gw_dump_log(&G);
	cr_assert(ok, "%d dispatchers of generation 1 not ready within 10 s (%d listed)", n, s->n);
	for (int i = 0; i < s->n; i++)
		gw_remember(s->d[i].pid);
}

/* The common start: the dirs, /cgi/s.sh, and CONFIG2's 2 dispatchers ready. */
static void start_two_with_s_sh(struct status *s)
{
	make_dirs();
	script("s.sh", S_SH);
	start_ready(CONFIG2, 2, s);
}

/* wait_ready, and every dispatcher it saw remembered (killed if left). */
static bool ready_remembered(struct status *s, int n, int gen, double timeout)
{
	bool ok = wait_ready(s, n, gen, timeout);
	for (int i = 0; i < s->n; i++)
		gw_remember(s->d[i].pid);
	return ok;
}

static void describe(const char *title, const struct status *s)
{
	char line[4096];
	size_t off = 0;
	for (int i = 0; i < s->n && off < sizeof line - 200; i++)
		off += (size_t)snprintf(line + off, sizeof line - off,
		                        " [index %d gen %d pid %d %s%s prefix %s conns %lld reqs %lld]",
		                        s->d[i].index, s->d[i].generation, s->d[i].pid, s->d[i].state,
		                        s->d[i].self ? " self" : "", s->d[i].prefix,
		                        s->d[i].connections, s->d[i].requests);
	line[off] = '\0';
	cr_log_info("%s: requests %lld connections %lld;%s", title, s->requests, s->connections,
	            line);
}

/* The dispatcher's child whose comm is gatewayd-spawn, polled up to 5 s; 0 if none. */
static pid_t spawner_of(pid_t dispatcher)
{
	double until = gw_now() + 5;
	do {
		pid_t found = gw_spawner_of(dispatcher);
		if (found)
			return found;
		usleep(20000);
	} while (gw_now() < until);
	return 0;
}

/* The distinct request-id prefixes of the access log's lines for needle, and
 * how many lines each; *bad: lines whose status is not 200. */
static int access_prefixes(const char *needle, char prefixes[][9], int counts[], int max,
                           int *bad)
{
	char *text = gw_read_file(G.access_log);
	int n = 0;
	*bad = 0;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strstr(line, needle)) {
			char *sp = strrchr(line, ' ');
			char *q = strstr(line, "\" ");
			if (q && atoi(q + 2) != 200)
				(*bad)++;
			if (sp && strlen(sp + 1) == 16) {
				int k = 0;
				while (k < n && strncmp(prefixes[k], sp + 1, 8) != 0)
					k++;
				if (k == n && n < max) {
					memcpy(prefixes[n], sp + 1, 8);
					prefixes[n][8] = '\0';
					counts[n++] = 0;
				}
				if (k < n)
					counts[k]++;
			}
		}
		if (!next)
			break;
	}
	free(text);
	return n;
}

/* ---- 1, 2, 9. requests spread; status aggregates; no zombies or fds left -- */

struct zprobe {
	pid_t pids[8];
	int n;
};

static bool no_zombies(void *arg)
{
	struct zprobe *z = arg;
	for (int i = 0; i < z->n; i++) {
		int zombies = 0;
		gw_count_children(z->pids[i], &zombies);
		if (zombies)
			return false;
	}
	return true;
}

Test(dispatchers, requests_spread_and_status_adds_up, .fini = teardown, .timeout = 90)
{
	struct status s;
	start_two_with_s_sh(&s);
	describe("before the load", &s);
	cr_assert_eq(s.n, 2);
	cr_assert_neq(s.d[0].pid, s.d[1].pid);
	cr_assert_str_neq(s.d[0].prefix, s.d[1].prefix);
	int idx_seen = (1 << s.d[0].index) | (1 << s.d[1].index);
	cr_expect_eq(idx_seen, 3, "indexes %d and %d, want 0 and 1", s.d[0].index, s.d[1].index);
	/* fds before the load (9), each dispatcher and the master */
	pid_t dpids[2] = {s.d[0].pid, s.d[1].pid};
	int fds_before[3] = {gw_count_fds(G.pid), gw_count_fds(dpids[0]), gw_count_fds(dpids[1])};
	long long reqs_before = s.requests;

	/* 1. 200 requests from 16 threads, a new connection each, 5 ms of script. */
	double t0 = gw_now();
	load_start(16, "/cgi/s.sh?0.005", 200, 60, 0);
	int n = load_join();
	double took = gw_now() - t0;
	struct tally t = load_tally(n);
	cr_log_info("200 requests from 16 connections took %.2f s: %d ok, %d refused, %d failed",
	            took, t.ok, t.refused, t.failed);
	cr_expect_eq(n, 200);
	cr_expect_eq(t.ok, 200, "%d of 200 ok (%d refused, %d failed)", t.ok, t.refused, t.failed);
	int by_body[2] = {0, 0};
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 2; k++)
			by_body[k] += strcmp(L.results[i].prefix, s.d[k].prefix) == 0;
	cr_log_info("responses by dispatcher (from the scripts' GATEWAY_REQUEST_ID): %s %d, %s %d",
	            s.d[0].prefix, by_body[0], s.d[1].prefix, by_body[1]);
	cr_expect_eq(by_body[0] + by_body[1], t.ok, "request ids of neither dispatcher");

	gw_sleep(0.3); /* a dispatcher publishes its counters every 0.1 s */
	struct status after;
	status_get(&after);
	describe("after the load", &after);
	cr_assert_eq(after.n, 2);
	for (int i = 0; i < 2; i++)
		cr_expect_gt(after.d[i].requests, 0, "dispatcher %d (pid %d) took no request",
		             after.d[i].index, after.d[i].pid);
	char prefixes[8][9];
	int counts[8], bad;
	int np = access_prefixes("\"GET /cgi/s.sh?0.005 ", prefixes, counts, 8, &bad);
	cr_expect_eq(bad, 0, "%d access log lines not 200", bad);
	int lines = 0;
	for (int i = 0; i < np; i++) {
		lines += counts[i];
		cr_log_info("access log: prefix %s on %d lines", prefixes[i], counts[i]);
	}
	cr_expect_eq(lines, 200, "%d access log lines for the load", lines);
	cr_expect_eq(np, 2, "%d distinct request-id prefixes in the access log, want 2", np);
	for (int k = 0; k < 2; k++) {
		bool found = false;
		for (int i = 0; i < np; i++)
			found |= strcmp(prefixes[i], s.d[k].prefix) == 0;
		cr_expect(found, "dispatcher %d's id_prefix %s is not in the access log", s.d[k].index,
		          s.d[k].prefix);
	}

	/* 2. The top level is the sum, and within what was sent; several asks land
	 * on different dispatchers, and each lists both. */
	bool selves[2] = {false, false};
	int asks = 0;
	for (; asks < 60 && !(selves[0] && selves[1]); asks++) {
		struct status q;
		status_get(&q);
		cr_assert_eq(q.n, 2, "ask %d: %d dispatchers listed", asks, q.n);
		long long sum = 0;
		int nself = 0;
		for (int i = 0; i < 2; i++) {
			sum += q.d[i].requests;
			nself += q.d[i].self;
			cr_expect(q.d[i].pid == dpids[0] || q.d[i].pid == dpids[1]);
		}
		cr_expect_eq(nself, 1, "ask %d: %d entries say self", asks, nself);
		/* The non-answering one's counters may be 0.1 s old: in a quiet
		 * server, the sum still matches; the requests since the first
		 * status are this load's 200 and the status asks (after's and
		 * this loop's). */
		cr_expect_eq(q.requests, sum, "ask %d: top-level requests %lld, sum %lld", asks,
		             q.requests, sum);
		long long since = q.requests - reqs_before;
		cr_expect(since >= 200 && since <= 200 + 2 + asks + 2,
		          "ask %d: %lld requests since before the load (200 sent + %d asks)", asks,
		          since, asks + 2);
		const struct disp *me = self_of(&q);
		for (int k = 0; me && k < 2; k++)
			if (me->pid == dpids[k])
				selves[k] = true;
		usleep(20000);
	}
	/* Serial connections to an idle server may all wake the same
	 * dispatcher first: the load above showed both serving; here each
	 * answer had to list both, whoever gave it. */
	if (selves[0] && selves[1])
		cr_log_info("both dispatchers answered the status after %d asks", asks);
	else
		cr_log_info("%d status asks, one at a time, all answered by one dispatcher", asks);

	/* The Prometheus form has a line per dispatcher. */
	{
		int code;
		char *body = NULL;
		cr_assert_eq(fetch(G.port, "/_gatewayd/status?format=prometheus", 5, &code, NULL,
		                   &body),
		             OK);
		for (int k = 0; k < 2; k++) {
			char want[96];
			snprintf(want, sizeof want, "gatewayd_dispatcher_requests_total{pid=\"%d\",index=\"%d\"}",
			         s.d[k].pid, s.d[k].index);
			cr_expect(strstr(body, want), "no \"%s\" in:\n%s", want, body);
		}
		free(body);
	}

	/* 9. No zombies under the dispatchers (their spawners' children count) or
	 * the master; no descriptor more than before the load. */
	struct zprobe z = {.pids = {G.pid, dpids[0], dpids[1]}, .n = 3};
	cr_expect(gw_wait_until(no_zombies, &z, 3), "zombies left after the load");
	pid_t all[3] = {G.pid, dpids[0], dpids[1]};
	for (int i = 0; i < 3; i++) {
		struct gw_fd_probe p = {all[i], fds_before[i]};
		bool ok = gw_wait_until(gw_fds_at_most, &p, 3);
		cr_expect(ok, "%s %d: %d descriptors, %d before the load", i ? "dispatcher" : "master",
		          (int)all[i], gw_count_fds(all[i]), fds_before[i]);
		int zombies = 0;
		int kids = gw_count_children(all[i], &zombies);
		cr_log_info("%s %d: %d fds (before %d), %d children, %d zombies",
		            i ? "dispatcher" : "master", (int)all[i], gw_count_fds(all[i]),
		            fds_before[i], kids, zombies);
	}
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* The dispatcher (index into s->d) that holds fd, from the "self" entry of
 * the status page asked over it; -1 if neither. */
static int holder_of(int fd, const struct status *s, int i)
{
	static const char req[] = "GET /_gatewayd/status HTTP/1.1\r\nHost: t\r\n\r\n";
	gw_send_all(fd, req, sizeof req - 1);
	struct gw_response r;
	cr_assert_eq(gw_read_response(fd, false, 5, &r), 0, "connection %d", i);
	cr_assert_eq(r.status, 200);
	json_t *j = json_loads(r.body, 0, NULL);
	cr_assert_not_null(j);
	json_t *a = json_object_get(j, "dispatchers"), *e;
	size_t k;
	int holder = -1;
	json_array_foreach(a, k, e) {
		if (!json_is_true(json_object_get(e, "self")))
			continue;
		int pid = (int)json_integer_value(json_object_get(e, "pid"));
		for (int d = 0; d < 2; d++)
			if (pid == s->d[d].pid)
				holder = d;
	}
	json_decref(j);
	gw_response_free(&r);
	return holder;
}

/* A burst of kept-alive connections, as a benchmark or a balancer opens
 * them, is shared: every dispatcher wakes for each, and the first awake took
 * all 16 once (dispatchers.h: dispatcher_ahead). Each connection asks the
 * status page, whose "self" entry names the dispatcher holding it.
 *
 * One that is ahead steps back for only a millisecond (listener.c): when the
 * other is off the CPU longer (a loaded machine), it takes the connection
 * after all, and may end with most of a burst. So up to 6 bursts, each on
 * fresh connections once the last burst's are closed, and 3 shared ones
 * pass: neither dispatcher holding more than 10 of the 16. (Measured on 2
 * cores: with the rule, each of some 160 bursts split 7/9 or 8/8, beside CPU
 * hogs too; without it, most put 13 to 16 on one, but about 1 in 9 split
 * 6/10 or better by chance, some runs more: a broken rule passed 1 in 10
 * runs asking 2 of 5 bursts, none of 20 asking 3 of 6.) */
Test(dispatchers, kept_alive_burst_is_shared, .fini = teardown, .timeout = 90)
{
	make_dirs();
	struct status s;
	start_ready(CONFIG2, 2, &s);
	enum { CONNS = 16, BURSTS = 6, WANT = 3, MOST = 10 };
	int on[2] = {0, 0}, burst = 0, shared = 0;
	for (; burst < BURSTS && shared < WANT; burst++) {
		if (burst > 0) {
			/* The last burst's connections closed, as both dispatchers
			 * count them (the status request's own aside). */
			double until = gw_now() + 5;
			struct status q;
			bool idle = false;
			while (!idle && gw_now() < until) {
				idle = status_try(&q) && q.n == 2 && q.connections <= 1;
				if (!idle)
					usleep(20000);
			}
			if (!idle)
				describe("not idle", &q);
			cr_assert(idle, "burst %d: the last burst's connections still counted after 5 s",
			          burst);
		}
		int fds[CONNS];
		for (int i = 0; i < CONNS; i++) {
			fds[i] = gw_connect(G.port);
			cr_assert(fds[i] >= 0, "burst %d, connect %d", burst, i);
		}
		for (int round = 0; round < 2; round++) {
			int got[2] = {0, 0};
			for (int i = 0; i < CONNS; i++) {
				int d = holder_of(fds[i], &s, i);
				if (d >= 0)
					got[d]++;
			}
			cr_assert_eq(got[0] + got[1], CONNS, "burst %d: answers from neither dispatcher",
			             burst);
			if (round == 0) {
				on[0] = got[0];
				on[1] = got[1];
			} else {
				cr_expect(got[0] == on[0] && got[1] == on[1], "burst %d: connections moved",
				          burst);
			}
		}
		for (int i = 0; i < CONNS; i++)
			close(fds[i]);
		shared += on[0] <= MOST && on[1] <= MOST;
		cr_log_info("burst %d, 16 kept-alive connections: %d on pid %d, %d on pid %d", burst,
		            on[0], s.d[0].pid, on[1], s.d[1].pid);
	}
	cr_expect(shared >= WANT, "%d of %d bursts shared (neither dispatcher holding more than %d of "
	          "16), want %d", shared, burst, MOST, WANT);
	gw_stop_ok(&G, 10, NULL);
}

Test(dispatchers, auto_is_online_cpus, .fini = teardown, .timeout = 60)
{
	make_dirs();
	script("s.sh", S_SH);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = cpus < 1 ? 1 : cpus > 256 ? 256 : (int)cpus;
	if (want < 2) {
		/* One dispatcher: no master, and no "dispatchers" array. */
		gw_start(&G, CONFIG_N("\"auto\"", ""));
		json_t *st = gw_status(G.port);
		cr_expect_null(json_object_get(st, "dispatchers"));
		json_decref(st);
		gw_stop_ok(&G, 15, NULL);
		return;
	}
	struct status s;
	start_ready(CONFIG_N("\"auto\"", ""), want, &s);
	cr_log_info("\"auto\": %d dispatchers, %ld online CPUs", s.n, cpus);
	cr_expect_eq(s.n, want);
	gw_stop_ok(&G, 20, NULL);
	gw_assert_no_leaks();
}

/* ---- 3. CGI spawns in parallel --------------------------------------------- */

struct slow_req {
	pthread_t t;
	enum outcome o;
	int status;
	char prefix[9];
	double took;
};

static void *slow_run(void *arg)
{
	struct slow_req *r = arg;
	double t0 = gw_now();
	r->o = fetch(G.port, "/cgi/s.sh?1", 10, &r->status, r->prefix, NULL);
	r->took = gw_now() - t0;
	return NULL;
}

Test(dispatchers, cgi_spawns_in_parallel, .fini = teardown, .timeout = 60)
{
	struct status s;
	start_two_with_s_sh(&s);
	pid_t sp[2];
	for (int i = 0; i < 2; i++) {
		sp[i] = spawner_of(s.d[i].pid);
		gw_remember(sp[i]);
		cr_expect_gt(sp[i], 0, "dispatcher %d has no gatewayd-spawn child", s.d[i].pid);
	}
	cr_expect_neq(sp[0], sp[1], "the two dispatchers share spawner %d", sp[0]);
	cr_log_info("dispatchers %d and %d, spawners %d and %d", s.d[0].pid, s.d[1].pid, sp[0],
	            sp[1]);
	/* Which dispatcher accepts is the kernel's choice (one that wakes takes a
	 * whole burst: its accept loop): up to 2 rounds, until
	 * one round lands on both; every round must take ~1 s, not 2: one after
	 * the other, the second would end 2 s after it was sent or later, so
	 * 1.9 s leaves a loaded machine 0.9 s for the two spawns. */
	bool split = false;
	int rounds = 0;
	for (; rounds < 2 && !split; rounds++) {
		struct slow_req r[2];
		memset(r, 0, sizeof r);
		double t0 = gw_now();
		for (int i = 0; i < 2; i++)
			cr_assert_eq(pthread_create(&r[i].t, NULL, slow_run, &r[i]), 0);
		for (int i = 0; i < 2; i++)
			pthread_join(r[i].t, NULL);
		double all = gw_now() - t0;
		for (int i = 0; i < 2; i++) {
			cr_expect_eq(r[i].o, OK, "request %d: status %d", i, r[i].status);
			cr_expect_lt(r[i].took, 1.9, "request %d took %.2f s", i, r[i].took);
		}
		cr_expect_lt(all, 1.9, "the two took %.2f s in all", all);
		split = strcmp(r[0].prefix, r[1].prefix) != 0;
		cr_log_info("round %d, two 1 s scripts at once: %.2f s and %.2f s (%.2f s in all), "
		            "served by %s and %s", rounds, r[0].took, r[1].took, all, r[0].prefix,
		            r[1].prefix);
	}
	if (!split)
		cr_log_info("in %d rounds both requests always went to one dispatcher", rounds);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* Sockets pid holds (its /proc/pid/fd links to "socket:"), or -1. */
static int count_sockets(pid_t pid)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	int n = 0;
	for (int fd = 0; fd < 1024; fd++) {
		char path[96], link[64];
		snprintf(path, sizeof path, "%s/%d", dir, fd);
		ssize_t len = readlink(path, link, sizeof link - 1);
		if (len > 0) {
			link[len] = '\0';
			n += strncmp(link, "socket:", 7) == 0;
		}
	}
	return gw_count_fds(pid) < 0 ? -1 : n;
}

/* ---- 4. a dispatcher killed under load ------------------------------------ */

Test(dispatchers, crashed_dispatcher_is_replaced, .fini = teardown, .timeout = 90)
{
	struct status s;
	start_two_with_s_sh(&s);
	/* Dispatcher 0's sockets when idle (listener, spawner, ...). */
	int idle_sockets = 0;
	for (int i = 0; i < s.n; i++)
		if (s.d[i].index == 0)
			idle_sockets = count_sockets(s.d[i].pid);
	/* 6 clients, 0.1 s scripts, 20 ms between requests, for 3 s. */
	load_start(6, "/cgi/s.sh?0.1", LOAD_RESULTS_MAX, 3, 0.02);
	gw_sleep(1.0);
	/* The victim: index 0. Its in-flight connections, read just before the
	 * kill (a status answered by the other shows counters up to 0.1 s old:
	 * the largest of the last few reads is taken). */
	int victim = -1, victim_pid = 0;
	long long inflight = 0;
	char victim_prefix[9] = "", other_prefix[9] = "";
	for (int k = 0; k < 5; k++) {
		struct status q;
		status_get(&q);
		for (int i = 0; i < q.n; i++)
			if (q.d[i].index == 0) {
				victim = i;
				victim_pid = q.d[i].pid;
				snprintf(victim_prefix, sizeof victim_prefix, "%s", q.d[i].prefix);
				if (q.d[i].connections > inflight)
					inflight = q.d[i].connections;
			} else {
				snprintf(other_prefix, sizeof other_prefix, "%s", q.d[i].prefix);
			}
		if (k == 4)
			describe("just before the kill", &q);
	}
	cr_assert(victim >= 0 && victim_pid > 0);
	pid_t victim_spawner = spawner_of(victim_pid);
	gw_remember(victim_spawner);
	/* The status counters lag by up to 0.1 s: the victim's client sockets
	 * counted in /proc are the other measure, taken with the victim stopped
	 * so that it takes no connection between the count and the kill (one
	 * arriving meanwhile waits in the shared socket for the other). */
	cr_assert_eq(kill(victim_pid, SIGSTOP), 0);
	int victim_id = victim_pid;
	cr_assert(gw_wait_until(gw_pid_stopped, &victim_id, 2), "dispatcher %d did not stop", victim_pid);
	int sockets = count_sockets(victim_pid) - idle_sockets;
	if (sockets > inflight)
		inflight = sockets;
	int done_before = atomic_load(&L.done);
	double killed_at = gw_now();
	cr_assert_eq(kill(victim_pid, SIGKILL), 0);
	/* The replacement: index 0, another pid, in the table within 1 s; ready later. */
	double seen = -1, ready = -1;
	int new_pid = 0;
	while (gw_now() - killed_at < 3 && ready < 0) {
		struct status q;
		if (status_try(&q))
			for (int i = 0; i < q.n; i++)
				if (q.d[i].index == 0 && q.d[i].pid != victim_pid && q.d[i].pid > 0) {
					if (seen < 0)
						seen = gw_now() - killed_at;
					new_pid = q.d[i].pid;
					if (strcmp(q.d[i].state, "ready") == 0)
						ready = gw_now() - killed_at;
				}
		usleep(10000);
	}
	gw_remember(new_pid);
	int n = load_join();
	struct tally t = load_tally(n);
	cr_log_info("kill -9 of dispatcher %d (%lld connections just before, %d client sockets "
	            "in /proc): replacement %d in "
	            "status after %.3f s, ready after %.3f s; load: %d requests (%d before the kill), "
	            "%d ok, %d refused, %d failed",
	            victim_pid, inflight, sockets, new_pid, seen, ready, n, done_before, t.ok, t.refused,
	            t.failed);
	cr_expect(seen >= 0 && seen <= 1.0, "no new dispatcher 0 in status within 1 s (%.3f s)",
	          seen);
	cr_expect(ready >= 0, "the new dispatcher 0 was not ready within 3 s");
	describe_failures(n);
	cr_expect_eq(t.refused, 0, "%d connections refused", t.refused);
	cr_expect_leq(t.failed, inflight, "%d requests failed, the victim held %lld connections",
	              t.failed, inflight);
	/* Every failure is the victim's: all the other's access log lines are 200,
	 * and all of them came back to the clients. */
	int other_ok = 0;
	for (int i = 0; i < n; i++)
		other_ok += L.results[i].outcome == OK && strcmp(L.results[i].prefix, other_prefix) == 0;
	char prefixes[8][9];
	int counts[8], bad;
	int np = access_prefixes("\"GET /cgi/s.sh?0.1 ", prefixes, counts, 8, &bad);
	int other_lines = 0;
	for (int i = 0; i < np; i++) {
		if (strcmp(prefixes[i], other_prefix) == 0)
			other_lines = counts[i];
		cr_log_info("access log: prefix %s on %d lines", prefixes[i], counts[i]);
	}
	cr_expect_eq(bad, 0, "%d access log lines not 200", bad);
	cr_expect_eq(other_ok, other_lines,
	             "the surviving dispatcher logged %d requests, %d came back ok", other_lines,
	             other_ok);
	cr_expect_gt(other_ok, 0);
	cr_expect(gw_wait_gone(victim_spawner, 2), "the killed dispatcher's spawner %d is left",
	          victim_spawner);
	/* Both serve afterwards. */
	cr_expect(wait_ready(&s, 2, 1, 3), "not 2 ready dispatchers after the crash");
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* ---- 5. SIGHUP under load ------------------------------------------------- */

Test(dispatchers, reload_under_load, .fini = teardown, .timeout = 90)
{
	struct status s;
	start_two_with_s_sh(&s);
	pid_t gen1[2] = {s.d[0].pid, s.d[1].pid};
	/* 6 clients, a new connection per request, 10 ms scripts, for 3 s. */
	load_start(6, "/cgi/s.sh?0.01", LOAD_RESULTS_MAX, 3, 0);
	gw_sleep(1.0);
	gw_write_config(&G, CONFIG_N("2", "{\"match\":\"/added/\",\"cgi\":{\"root\":\"@DIR@/cgi\"}},"));
	double hup_at = gw_now();
	int done_before = atomic_load(&L.done);
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	int n = load_join();
	struct tally t = load_tally(n);
	int after_hup = 0;
	for (int i = 0; i < n; i++)
		after_hup += L.results[i].t > hup_at;
	cr_log_info("SIGHUP under load: %d requests (%d done before the HUP, %d ended after it), "
	            "%d ok, %d refused, %d failed",
	            n, done_before, after_hup, t.ok, t.refused, t.failed);
	describe_failures(n);
	/* Whose were the failures? The access log's non-200 lines by request-id
	 * prefix, against generation 1's. */
	{
		char prefixes[8][9];
		int counts[8], bad;
		char needle[] = "\" 503 ";
		int np = access_prefixes(needle, prefixes, counts, 8, &bad);
		for (int i = 0; i < np; i++)
			cr_log_info("access log: %d lines with 503 from prefix %s (generation 1: %s, %s)",
			            counts[i], prefixes[i], s.d[0].prefix, s.d[1].prefix);
	}
	cr_expect_eq(t.refused, 0, "%d connections refused", t.refused);
	/* An old dispatcher told to drain by the reload accepts nothing more
	 * from the shared socket (it used to keep taking HTTP connections for
	 * the balancers' probes, and answer them 503). */
	cr_expect_eq(t.failed, 0, "%d requests failed", t.failed);
	cr_expect_gt(after_hup, 0);
	bool ok = wait_ready(&s, 2, 2, 5);
	describe("after the reload", &s);
	cr_expect(ok, "not exactly 2 ready dispatchers of generation 2 within 5 s");
	for (int i = 0; i < s.n; i++) {
		gw_remember(s.d[i].pid);
		cr_expect(s.d[i].pid != gen1[0] && s.d[i].pid != gen1[1]);
	}
	cr_expect(gw_wait_gone(gen1[0], 5) && gw_wait_gone(gen1[1], 5),
	          "generation 1's dispatchers are left");
	int code;
	char prefix[9];
	cr_expect_eq(fetch(G.port, "/added/s.sh", 5, &code, prefix, NULL), OK,
	             "the added route: %d", code);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 5a. A reload drains the old generation only once every dispatcher of the
 * new one is ready: in the error log, the master's handover line follows
 * every new dispatcher's "started" line (each writes it before it is ready),
 * and status, read as often as it answers, never shows an old dispatcher
 * draining beside a new one still starting. (Before, the old ones were told
 * at once, and for the 20-odd ms the new ones took to start no one took
 * connections off the shared socket.) */
Test(dispatchers, reload_drains_the_old_only_once_the_new_are_ready, .fini = teardown,
     .timeout = 60)
{
	make_dirs();
	struct status s;
	start_ready(CONFIG_N("3", ""), 3, &s);
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	int looks = 0, starting_seen = 0, bad = 0;
	double until = gw_now() + 3;
	bool done = false;
	while (!done && gw_now() < until) {
		struct status q;
		if (!status_try(&q)) {
			usleep(2000);
			continue;
		}
		looks++;
		bool old_draining = false, new_starting = false;
		int new_ready = 0;
		for (int i = 0; i < q.n; i++) {
			gw_remember(q.d[i].pid);
			if (q.d[i].generation == 1 && strcmp(q.d[i].state, "draining") == 0)
				old_draining = true;
			if (q.d[i].generation == 2 && strcmp(q.d[i].state, "starting") == 0)
				new_starting = true;
			new_ready += q.d[i].generation == 2 && strcmp(q.d[i].state, "ready") == 0;
		}
		starting_seen += new_starting;
		if (old_draining && new_starting) {
			if (!bad)
				describe("an old one draining beside a new one starting", &q);
			bad++;
		}
		done = new_ready == 3 && !new_starting && q.n == 3;
	}
	cr_log_info("reload: %d looks at status, %d with a new dispatcher starting, %d with an old "
	            "one draining beside it",
	            looks, starting_seen, bad);
	cr_expect_eq(bad, 0, "%d looks saw an old dispatcher draining beside a new one starting",
	             bad);
	cr_expect(wait_ready(&s, 3, 2, 5), "not 3 ready dispatchers of generation 2");
	/* Status looks may all fall before or after the handover on a fast
	 * machine; the log's order does not depend on when the test looks. */
	char *log = gw_read_file(G.error_log);
	cr_assert(log);
	const char *handover = strstr(log, "generation 2 ready: the older ones drain");
	cr_expect(handover, "no handover line in the error log");
	for (int i = 0; handover && i < s.n; i++) {
		char started[64];
		snprintf(started, sizeof started, " started, pid %d,", (int)s.d[i].pid);
		const char *at = strstr(log, started);
		cr_expect(at && at < handover, "dispatcher %d of generation 2: %s", (int)s.d[i].pid,
		          at ? "started after the old generation was told to drain" : "no started line");
	}
	free(log);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 5a'. Two reloads faster than dispatchers start: the generation the first
 * started, which never took over, goes at once; the first generation serves
 * until the third is ready; no request fails. */
Test(dispatchers, back_to_back_reloads_leave_the_newest, .fini = teardown, .timeout = 60)
{
	struct status s;
	start_two_with_s_sh(&s);
	load_start(4, "/cgi/s.sh?0", LOAD_RESULTS_MAX, 2, 0.01);
	gw_sleep(0.5);
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	/* The second SIGHUP once the master has taken the first (its reload
	 * logs this at its end): two sent before it runs its loop are pending
	 * as one, and make one reload. Generation 2's dispatchers still take
	 * some 20 ms to be ready, so the second reload comes while they start
	 * (unless this test is held off the CPU as long: then generation 2 took
	 * over, which is logged below). */
	double t0 = gw_now();
	bool first = gw_log_contains(G.error_log, ": generation 2, 2 dispatcher(s)", 5);
	double took = gw_now() - t0;
	if (!first)
		gw_dump_log(&G);
	cr_assert(first, "the first reload was not logged within 5 s");
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	bool ok = ready_remembered(&s, 2, 3, 10);
	describe("after two reloads", &s);
	if (!ok)
		gw_dump_log(&G);
	cr_expect(ok, "not exactly 2 ready dispatchers of generation 3");
	int n = load_join();
	struct tally t = load_tally(n);
	describe_failures(n);
	bool took_over = gw_log_contains(G.error_log, "generation 2 ready", 0);
	cr_log_info("two reloads under load, the second %.3f s after the first (once it was "
	            "logged): generation 2 %s; %d requests, %d ok, %d refused, %d failed",
	            took, took_over ? "took over before the second (a slow run)" : "never took over",
	            n, t.ok, t.refused, t.failed);
	cr_expect_eq(t.refused + t.failed, 0, "%d refused, %d failed", t.refused, t.failed);
	/* Nothing of generations 1 and 2 left. */
	double until = gw_now() + 5;
	int left = -1;
	while (left != 0 && gw_now() < until) {
		struct status q;
		if (status_try(&q)) {
			left = 0;
			for (int i = 0; i < q.n; i++)
				left += q.d[i].generation != 3;
		}
		usleep(20000);
	}
	cr_expect_eq(left, 0, "%d dispatchers of older generations left after 5 s", left);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 5b. An upgrade replaced the binary under a running master (as dpkg does:
 * a new file renamed over it): a crashed dispatcher is still replaced, and
 * a reload still starts a new generation, from the program the master runs.
 * (Before, they exec'd "/proc/self/exe", which then reads ".../gatewayd
 * (deleted)": every new dispatcher failed, and a reload stopped the old
 * ones with none to follow.) */
Test(dispatchers, binary_replaced_under_the_master, .fini = teardown, .timeout = 60)
{
	make_dirs();
	char bin[400], tmp[420], cmd[2200];
	snprintf(bin, sizeof bin, "%s/gatewayd", G.dir);
	snprintf(tmp, sizeof tmp, "%s.new", bin);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", gw_binary(), bin);
	cr_assert_eq(system(cmd), 0);
	setenv("GW_BINARY", bin, 1);
	struct status s;
	start_ready(CONFIG2, 2, &s);
	unsetenv("GW_BINARY");
	/* The upgrade: another file in its place (here a copy with a byte more). */
	snprintf(cmd, sizeof cmd, "cp '%s' '%s' && echo >> '%s' && mv '%s' '%s'", bin, tmp, tmp, tmp,
	         bin);
	cr_assert_eq(system(cmd), 0);
	int victim = s.d[0].pid;
	cr_assert_eq(kill(victim, SIGKILL), 0);
	cr_assert(gw_wait_gone(victim, 2));
	bool ok = ready_remembered(&s, 2, 1, 5);
	describe("after the kill", &s);
	if (!ok)
		gw_dump_log(&G);
	cr_expect(ok, "the killed dispatcher was not replaced within 5 s");
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	ok = ready_remembered(&s, 2, 2, 5);
	describe("after the reload", &s);
	if (!ok)
		gw_dump_log(&G);
	cr_expect(ok, "no 2 ready dispatchers of generation 2 within 5 s of the reload");
	/* Named after the program, whatever the kernel makes of an exec by fd. */
	for (int i = 0; i < s.n; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/comm", s.d[i].pid);
		char *comm = gw_read_file(path);
		cr_expect(comm && strcmp(comm, "gatewayd\n") == 0, "dispatcher %d is named %s",
		          s.d[i].pid, comm ? comm : "(gone)");
		free(comm);
	}
	int code;
	cr_expect_eq(fetch(G.port, "/_gatewayd/live", 5, &code, NULL, NULL), OK, "live: %d", code);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 5d. A dispatcher started after the config file was edited (no SIGHUP
 * yet: an edit in progress, a typo) runs the config the master runs, not
 * the file. (Before, the replacement of a crashed one read the file again:
 * broken, it could not start, and the master retried for ever.) */
Test(dispatchers, replacement_runs_the_masters_config_not_the_edited_file, .fini = teardown,
     .timeout = 60)
{
	struct status s;
	start_two_with_s_sh(&s);
	FILE *f = fopen(G.config, "w");
	cr_assert(f);
	fputs("{\"listen\": [ half an edit", f);
	fclose(f);
	int victim = s.d[0].pid;
	cr_assert_eq(kill(victim, SIGKILL), 0);
	cr_assert(gw_wait_gone(victim, 2));
	bool ok = ready_remembered(&s, 2, 1, 5);
	describe("after the kill", &s);
	if (!ok)
		gw_dump_log(&G);
	cr_expect(ok, "the killed dispatcher was not replaced within 5 s");
	/* Both serve the running config's route, whichever takes the connection. */
	for (int i = 0; i < 6; i++) {
		int code;
		char prefix[9];
		cr_expect_eq(fetch(G.port, "/cgi/s.sh?0", 5, &code, prefix, NULL), OK,
		             "request %d: %d", i, code);
	}
	/* A reload reads the file, and refuses it: the dispatchers are looked
	 * at once the master said so (after a fixed wait, a master slow to
	 * take the signal left them unchanged whatever it then did). */
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	bool refused = gw_log_contains(G.error_log, "; keeping the running config", 5);
	if (!refused)
		gw_dump_log(&G);
	cr_expect(refused, "the reload of a broken file was not refused within 5 s");
	cr_expect(wait_ready(&s, 2, 1, 2), "the refused reload changed the dispatchers");
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 5c. A reload that keeps a unix socket's path for another protocol: the
 * new socket is there and answers. (The old one's release unlinked the path
 * after the new one was bound on it: every client then got ENOENT.) */
#define UNIX_CONFIG(proto)                                                                          \
	"{\"user\":\"www-data\",\"dispatchers\":2,"                                                 \
	" \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"},{\"" proto "\":\"unix:@DIR@/run/s.sock\"}],"   \
	" \"routes\":[{\"match\":\"/cgi/\",\"cgi\":{\"root\":\"@DIR@/cgi\",\"timeout\":20}}]}"

/* A connection to the unix socket at path, or -1. */
static int unix_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static bool unix_connects(const char *path)
{
	int fd = unix_connect(path);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

Test(dispatchers, reload_keeps_a_unix_path_for_another_protocol, .fini = teardown, .timeout = 60)
{
	make_dirs();
	struct status s;
	start_ready(UNIX_CONFIG("http"), 2, &s);
	char path[400];
	snprintf(path, sizeof path, "%s/run/s.sock", G.dir);
	cr_assert(unix_connects(path), "unix:%s does not answer at start", path);
	gw_write_config(&G, UNIX_CONFIG("fastcgi"));
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	bool ok = ready_remembered(&s, 2, 2, 5);
	cr_expect(ok, "no 2 ready dispatchers of generation 2 within 5 s");
	struct stat st;
	cr_expect(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "unix:%s is gone after the reload",
	          path);
	cr_expect(unix_connects(path), "unix:%s does not answer after the reload", path);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 5c'. The same reload refused (a later address cannot be had): the unix
 * socket still answers, and still speaks HTTP. (The new socket used to be
 * bound on the path before the refusal, then closed: the path led nowhere
 * until a reload that succeeded.) Before: a regular file where the socket
 * should be is refused by name, never replaced. */
static bool unix_speaks_http(const char *path)
{
	int fd = unix_connect(path);
	if (fd < 0)
		return false;
	static const char req[] = "GET /_gatewayd/live HTTP/1.0\r\n\r\n";
	size_t n = 0;
	gw_send_all(fd, req, sizeof req - 1);
	char *got = gw_read_all(fd, 5, &n);
	close(fd);
	bool ok = got && strncmp(got, "HTTP/1.1 200 ", 13) == 0;
	free(got);
	return ok;
}

Test(dispatchers, refused_reload_leaves_a_unix_socket_answering, .fini = teardown,
     .timeout = 60)
{
	make_dirs();
	char path[400];
	snprintf(path, sizeof path, "%s/run/s.sock", G.dir);
	/* A regular file on the path: refused by name, and left alone. */
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fputs("not a socket\n", f);
	fclose(f);
	gw_write_config(&G, UNIX_CONFIG("http"));
	char *out = NULL;
	int st = gw_run_for((char *const[]){"-c", G.config, NULL}, 10, &out);
	free(out);
	cr_expect_neq(st, 0, "gatewayd started with a regular file on its unix path");
	cr_expect(gw_log_contains(G.error_log, "s.sock: exists and is not a socket", 2),
	          "no reason logged");
	char *text = gw_read_file(path);
	cr_expect(text && strcmp(text, "not a socket\n") == 0, "the file was replaced");
	free(text);
	cr_assert_eq(unlink(path), 0);

	struct status s;
	start_ready(UNIX_CONFIG("http"), 2, &s);
	cr_assert(unix_speaks_http(path), "unix:%s does not answer HTTP at start", path);
	/* A port someone else holds, after the unix entry. */
	int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof in;
	cr_assert(busy >= 0 && bind(busy, (struct sockaddr *)&in, sizeof in) == 0 &&
	          listen(busy, 1) == 0 && getsockname(busy, (struct sockaddr *)&in, &len) == 0);
	char cfg[1024];
	snprintf(cfg, sizeof cfg,
	         "{\"user\":\"www-data\",\"dispatchers\":2,"
	         " \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"},"
	         "  {\"fastcgi\":\"unix:@DIR@/run/s.sock\"},{\"http\":\"127.0.0.1:%d\"}],"
	         " \"routes\":[{\"match\":\"/cgi/\",\"cgi\":{\"root\":\"@DIR@/cgi\"}}]}",
	         ntohs(in.sin_port));
	gw_write_config(&G, cfg);
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	cr_assert(gw_log_contains(G.error_log, "keeping the running config", 5),
	          "the reload was not refused");
	close(busy);
	cr_expect(unix_speaks_http(path), "unix:%s no longer answers HTTP after a refused reload",
	          path);
	char staged[420];
	snprintf(staged, sizeof staged, "%s~", path);
	cr_expect(access(staged, F_OK) < 0, "%s left behind", staged);
	/* A reload that can have everything: the path speaks FastCGI now. */
	gw_write_config(&G, UNIX_CONFIG("fastcgi"));
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	cr_expect(ready_remembered(&s, 2, 2, 5), "no 2 ready dispatchers of generation 2");
	cr_expect(unix_connects(path) && !unix_speaks_http(path),
	          "unix:%s does not take the new socket", path);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* ---- 6. kill -9 of the master ---------------------------------------------- */

Test(dispatchers, master_killed_takes_everything, .fini = teardown, .timeout = 60)
{
	make_dirs();
	script("tree.sh", TREE_SH);
	struct status s;
	start_ready(CONFIG2, 2, &s);
	pid_t pids[8];
	const char *what[8];
	int n = 0;
	for (int i = 0; i < 2; i++) {
		pids[n] = s.d[i].pid;
		what[n++] = "dispatcher";
		pids[n] = spawner_of(s.d[i].pid);
		gw_remember(pids[n]);
		cr_assert_gt(pids[n], 0);
		what[n++] = "spawner";
	}
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	const char req[] = "GET /cgi/tree.sh?k9 HTTP/1.1\r\nHost: t\r\n\r\n";
	gw_send_all(fd, req, strlen(req));
	char path[400];
	snprintf(path, sizeof path, "%s/run/k9.script", G.dir);
	pids[n] = gw_wait_pidfile(path, 5);
	gw_remember(pids[n]);
	what[n++] = "script";
	snprintf(path, sizeof path, "%s/run/k9.gc", G.dir);
	pids[n] = gw_wait_pidfile(path, 5);
	gw_remember(pids[n]);
	what[n++] = "grandchild";
	if (!(pids[4] > 0 && pids[5] > 0))
		gw_dump_log(&G);
	cr_assert(pids[4] > 0 && pids[5] > 0, "tree.sh did not start its grandchild");
	cr_assert_eq(getsid(pids[5]), pids[5], "the grandchild is not in a session of its own");
	cr_assert_eq(kill(G.pid, SIGKILL), 0);
	double t0 = gw_now();
	cr_assert_neq(gw_wait_exit(&G, 2), -1, "the master survived SIGKILL");
	for (int i = 0; i < n; i++) {
		double left = 2 - (gw_now() - t0);
		bool gone = gw_wait_gone(pids[i], left > 0 ? left : 0.01);
		cr_expect(gone, "the %s %d outlived the master by 2 s", what[i], (int)pids[i]);
	}
	double all_gone = gw_now() - t0;
	cr_log_info("kill -9 of the master: dispatchers, spawners, script and grandchild gone "
	            "after %.3f s", all_gone);
	int c = gw_connect(G.port);
	cr_expect(c < 0, "something still listens on the port");
	if (c >= 0)
		close(c);
	close(fd);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* ---- 7. SIGTERM drains all ---------------------------------------------------- */

Test(dispatchers, sigterm_drains_all, .fini = teardown, .timeout = 60)
{
	make_dirs();
	script("slow.sh", SLOW_SH);
	struct status s;
	start_ready(CONFIG2, 2, &s);
	pid_t pids[4];
	for (int i = 0; i < 2; i++) {
		pids[2 * i] = s.d[i].pid;
		pids[2 * i + 1] = spawner_of(s.d[i].pid);
		gw_remember(pids[2 * i + 1]);
	}
	int fd = gw_connect(G.port);
	cr_assert(fd >= 0);
	const char req[] = "GET /cgi/slow.sh?t HTTP/1.1\r\nHost: t\r\n\r\n";
	gw_send_all(fd, req, strlen(req));
	char path[400];
	snprintf(path, sizeof path, "%s/run/t.script", G.dir);
	pid_t sc = gw_wait_pidfile(path, 5);
	gw_remember(sc);
	cr_assert_gt(sc, 0, "slow.sh did not start");
	double t0 = gw_now();
	cr_assert_eq(kill(G.pid, SIGTERM), 0);
	struct gw_response r;
	int rc = gw_read_response(fd, false, 5, &r);
	double answered = gw_now() - t0;
	cr_expect_eq(rc, 0, "no response to the in-flight request after SIGTERM");
	cr_expect_eq(r.status, 200, "in-flight request after SIGTERM: %d", r.status);
	gw_response_free(&r);
	close(fd);
	int st = gw_wait_exit(&G, 8);
	double exited = gw_now() - t0;
	if (!(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
		gw_dump_log(&G);
	cr_expect(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	          "the master: wait status %d (-1: still running after 8 s)", st);
	cr_log_info("SIGTERM: in-flight answered after %.2f s, master exited after %.2f s",
	            answered, exited);
	for (int i = 0; i < 4; i++)
		cr_expect(gw_wait_gone(pids[i], 2), "%s %d is left", i % 2 ? "spawner" : "dispatcher",
		          (int)pids[i]);
	cr_expect(gw_wait_gone(sc, 2), "the script %d is left", (int)sc);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* ---- 8. -t: spawned pools accepted with N > 1 (the master runs them) ------- */

Test(dispatchers, spawned_and_external_pools_accepted, .fini = teardown, .timeout = 30)
{
	make_dirs();
	gw_write_config(&G, "{\"user\":\"www-data\",\"dispatchers\":2,"
	                    " \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	                    " \"pools\":{\"spawnme\":{\"protocol\":\"fastcgi\","
	                    "   \"command\":[\"/bin/cat\"],\"processes\":1}},"
	                    " \"routes\":[{\"match\":\"/p/\",\"pool\":\"spawnme\"}]}");
	char *out;
	int rc = gw_run_for((char *[]){"-t", "-c", G.config, NULL}, 10, &out);
	cr_log_info("-t, a spawned pool: exit %d: %s", rc, out);
	cr_expect_eq(rc, 0, "-t with a spawned pool and 2 dispatchers: exit %d; %s", rc, out);
	cr_expect(strstr(out, "test is successful"), "%s", out);
	free(out);
	gw_write_config(&G, "{\"user\":\"www-data\",\"dispatchers\":2,"
	                    " \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	                    " \"pools\":{\"ext\":{\"protocol\":\"fastcgi\","
	                    "   \"addresses\":[\"127.0.0.1:9\"]}},"
	                    " \"routes\":[{\"match\":\"/p/\",\"pool\":\"ext\"}]}");
	rc = gw_run_for((char *[]){"-t", "-c", G.config, NULL}, 10, &out);
	cr_expect_eq(rc, 0, "-t with an external pool and 2 dispatchers: exit %d; %s", rc, out);
	cr_expect(strstr(out, "test is successful"), "%s", out);
	free(out);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* ---- 10-16. a pool the master runs, shared by both dispatchers -------------
 *
 * Pool "w": gatewayd-wsgi (uwsgi) running test/fixtures/pools/backlog_app.py
 * (/w/sleep?S answers after S s, anything else at once; every answer says
 * "pid <worker> ... rid <request id>"), its sockets in the test's directory. */

#define POOL_CONFIG_R(procs, more, routes)                                                         \
	"{\"user\":\"www-data\",\"dispatchers\":2,\"temp_dir\":\"@DIR@\","                        \
	" \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                                          \
	" \"pools\":{\"w\":{\"protocol\":\"uwsgi\","                                              \
	"   \"command\":[\"@BUILD@/spawner/wsgi/gatewayd-wsgi\",\"--path\",\"@FIX@/pools\","      \
	"     \"backlog_app:application\"],"                                                      \
	"   \"env\":{\"PATH\":\"/usr/bin:/bin\"},\"processes\":" procs more "}},"                 \
	" \"routes\":[" routes "{\"match\":\"/w/\",\"pool\":\"w\"}]}"
#define POOL_CONFIG(procs, more) POOL_CONFIG_R(procs, more, "")

struct pworker {
	int slot, pid;
	char state[16];
	long long requests;
};

/* Pool w as one dispatcher's status page shows it, and which dispatcher. */
struct pstat {
	int n;
	struct pworker w[32];
	long long spawns, crashes, served;
	int self_index, self_generation;
	char self_prefix[9];
};

static bool pool_try(struct pstat *ps)
{
	int code;
	char *body = NULL;
	memset(ps, 0, sizeof *ps);
	ps->self_index = -1;
	if (fetch(G.port, "/_gatewayd/status", 5, &code, NULL, &body) != OK) {
		free(body);
		return false;
	}
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	if (!j)
		return false;
	json_t *pool = NULL, *e;
	size_t i;
	json_array_foreach(json_object_get(j, "pools"), i, e)
		if (strcmp(str_of(e, "name"), "w") == 0 && !json_is_true(json_object_get(e, "retired")))
			pool = e;
	json_array_foreach(json_object_get(j, "dispatchers"), i, e)
		if (json_is_true(json_object_get(e, "self"))) {
			ps->self_index = (int)json_integer_value(json_object_get(e, "index"));
			ps->self_generation = (int)json_integer_value(json_object_get(e, "generation"));
			snprintf(ps->self_prefix, sizeof ps->self_prefix, "%s", str_of(e, "id_prefix"));
		}
	if (!pool) {
		json_decref(j);
		return false;
	}
	ps->spawns = json_integer_value(json_object_get(pool, "spawns"));
	ps->crashes = json_integer_value(json_object_get(pool, "crashes"));
	ps->served = json_integer_value(json_object_get(pool, "requests_served"));
	json_array_foreach(json_object_get(pool, "workers"), i, e) {
		if (ps->n >= 32)
			break;
		struct pworker *w = &ps->w[ps->n++];
		w->slot = (int)json_integer_value(json_object_get(e, "slot"));
		w->pid = (int)json_integer_value(json_object_get(e, "pid"));
		snprintf(w->state, sizeof w->state, "%s", str_of(e, "state"));
		w->requests = json_integer_value(json_object_get(e, "requests"));
	}
	json_decref(j);
	return true;
}

static void pool_describe(const char *title, const struct pstat *ps)
{
	char line[2048];
	size_t off = 0;
	for (int i = 0; i < ps->n && off < sizeof line - 100; i++)
		off += (size_t)snprintf(line + off, sizeof line - off, " [slot %d pid %d %s reqs %lld]",
		                        ps->w[i].slot, ps->w[i].pid, ps->w[i].state, ps->w[i].requests);
	line[off] = '\0';
	cr_log_info("%s (seen from dispatcher %d, %s): spawns %lld crashes %lld served %lld;%s",
	            title, ps->self_index, ps->self_prefix, ps->spawns, ps->crashes, ps->served,
	            line);
}

static bool serves(const struct pworker *w)
{
	return w->pid > 0 && (strcmp(w->state, "idle") == 0 || strcmp(w->state, "busy") == 0);
}

/* The pids of the workers that serve (idle or busy), and how many. */
static int serving(const struct pstat *ps, pid_t pids[], int max)
{
	int n = 0;
	for (int i = 0; i < ps->n; i++)
		if (serves(&ps->w[i])) {
			if (n < max)
				pids[n] = ps->w[i].pid;
			n++;
		}
	return n;
}

static bool has_pid(const pid_t *pids, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/* Polled up to timeout s: exactly n workers that serve, none starting, all
 * idle when idle; their pids remembered. The last look in *ps. */
static bool wait_workers(struct pstat *ps, int n, bool idle, double timeout)
{
	double until = gw_now() + timeout;
	do {
		if (pool_try(ps)) {
			int good = 0, other = 0;
			for (int i = 0; i < ps->n; i++) {
				if (serves(&ps->w[i]) && (!idle || strcmp(ps->w[i].state, "idle") == 0))
					good++;
				else if (strcmp(ps->w[i].state, "dead") != 0)
					other++;
			}
			if (good == n && other == 0) {
				for (int i = 0; i < ps->n; i++)
					gw_remember(ps->w[i].pid);
				return true;
			}
		}
		usleep(20000);
	} while (gw_now() < until);
	return false;
}

/* gatewayd with config, 2 dispatchers ready and pool w's procs workers idle. */
static void start_pool(const char *config, int procs, struct pstat *ps)
{
	struct status s;
	start_ready(config, 2, &s);
	bool ok = wait_workers(ps, procs, true, 10);
	if (!ok) {
		pool_describe("not ready", ps);
		gw_dump_log(&G);
	}
	cr_assert(ok, "pool w: not %d idle workers within 10 s", procs);
	pool_describe("started", ps);
}

/* A busy worker's pid, polled up to timeout s; 0 if none. */
static pid_t wait_busy(double timeout)
{
	double until = gw_now() + timeout;
	do {
		struct pstat ps;
		if (pool_try(&ps))
			for (int i = 0; i < ps.n; i++)
				if (strcmp(ps.w[i].state, "busy") == 0 && ps.w[i].pid > 0)
					return ps.w[i].pid;
		usleep(5000);
	} while (gw_now() < until);
	return 0;
}

/* Whether process *arg sleeps in the kernel's nanosleep (the app's
 * time.sleep: the worker has read its request and runs it). */
static bool in_nanosleep(void *arg)
{
	char path[64], wchan[64] = "";
	snprintf(path, sizeof path, "/proc/%d/wchan", *(int *)arg);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, wchan, sizeof wchan - 1) : -1;
	if (fd >= 0)
		close(fd);
	return n > 0 && strstr(wchan, "nanosleep") != NULL;
}

/* One request in a thread: outcome, status, request-id prefix, worker pid. */
struct wreq {
	pthread_t t;
	const char *path;
	enum outcome o;
	int status;
	char prefix[9];
	long pid;
	double took;
};

static long pid_in(const char *body)
{
	const char *p = body ? strstr(body, "pid ") : NULL;
	return p ? strtol(p + 4, NULL, 10) : -1;
}

static void *wreq_run(void *arg)
{
	struct wreq *r = arg;
	char *body = NULL;
	double t0 = gw_now();
	r->o = fetch(G.port, r->path, 15, &r->status, r->prefix, &body);
	r->took = gw_now() - t0;
	r->pid = pid_in(body);
	free(body);
	return NULL;
}

/* n requests for path at once, each on a connection of its own. */
static void at_once(struct wreq *r, int n, const char *path)
{
	memset(r, 0, sizeof *r * (size_t)n);
	for (int i = 0; i < n; i++) {
		r[i].path = path;
		cr_assert_eq(pthread_create(&r[i].t, NULL, wreq_run, &r[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(r[i].t, NULL);
}

/* One request now; its status (0: no answer) and the worker's pid. */
static int one(const char *path, long *pid, char prefix[9])
{
	struct wreq r = {.path = path};
	wreq_run(&r);
	if (pid)
		*pid = r.pid;
	if (prefix)
		memcpy(prefix, r.prefix, 9);
	return r.status;
}

/* 10. Two workers serve two slow requests at once, whichever dispatcher took
 * them (one dispatcher included); a third waits for one of them. */
Test(dispatchers, shared_pool_serves_two_at_once_from_either_dispatcher, .fini = teardown,
     .timeout = 90)
{
	make_dirs();
	struct pstat ps;
	start_pool(POOL_CONFIG("2", ",\"request_timeout\":20"), 2, &ps);
	bool same = false, split = false;
	int rounds = 0;
	/* Which dispatcher accepts is the kernel's choice: up to 8 rounds, until
	 * one landed on one dispatcher and one on both (at least 3). Each of two
	 * at once under 1.9 s: served one after the other, the second would take
	 * 2 s or more. */
	for (; rounds < 8 && (rounds < 3 || !same || !split); rounds++) {
		struct wreq r[2];
		at_once(r, 2, "/w/sleep?1");
		for (int i = 0; i < 2; i++) {
			cr_expect_eq(r[i].o, OK, "round %d, request %d: status %d", rounds, i, r[i].status);
			cr_expect_lt(r[i].took, 1.9, "round %d, request %d took %.2f s", rounds, i,
			             r[i].took);
		}
		cr_expect_neq(r[0].pid, r[1].pid, "round %d: both served by worker %ld", rounds,
		              r[0].pid);
		bool one_disp = r[0].prefix[0] && strcmp(r[0].prefix, r[1].prefix) == 0;
		same |= one_disp;
		split |= !one_disp;
		cr_log_info("round %d, two /w/sleep?1 at once: %.2f s and %.2f s, dispatchers %s and "
		            "%s, workers %ld and %ld",
		            rounds, r[0].took, r[1].took, r[0].prefix, r[1].prefix, r[0].pid, r[1].pid);
	}
	if (!same)
		cr_log_info("in %d rounds the two requests never went to one dispatcher", rounds);
	/* A third at once: no third worker, it waits ~1 s for one, then runs its
	 * own 1 s. The three end 2 s after they were sent or later (timed from
	 * before the threads start: the last one's own time is shorter when its
	 * thread started late); under 4 s, loaded or not. */
	struct wreq r[3];
	double t0 = gw_now();
	at_once(r, 3, "/w/sleep?1");
	double all = gw_now() - t0;
	double t[3] = {r[0].took, r[1].took, r[2].took};
	for (int i = 0; i < 3; i++)
		for (int k = i + 1; k < 3; k++)
			if (t[k] < t[i]) {
				double x = t[i];
				t[i] = t[k];
				t[k] = x;
			}
	for (int i = 0; i < 3; i++)
		cr_expect_eq(r[i].o, OK, "three at once, request %d: status %d", i, r[i].status);
	cr_log_info("three /w/sleep?1 at once: %.2f s, %.2f s, %.2f s, %.2f s in all (dispatchers "
	            "%s %s %s)",
	            t[0], t[1], t[2], all, r[0].prefix, r[1].prefix, r[2].prefix);
	cr_expect_lt(t[1], 1.9, "the second of three took %.2f s", t[1]);
	cr_expect(all > 1.8 && all < 4.0, "three at once took %.2f s in all (the last %.2f s), want ~2 s",
	          all, t[2]);
	cr_expect(wait_workers(&ps, 2, true, 3), "not 2 idle workers after the load");
	cr_expect_eq(ps.spawns, 2, "spawns %lld: a worker was replaced", ps.spawns);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

struct ask {
	pthread_t t;
	bool ok;
	struct pstat ps;
};

static void *ask_run(void *arg)
{
	struct ask *a = arg;
	a->ok = pool_try(&a->ps);
	return NULL;
}

/* 11. Both dispatchers' status pages list the same two workers, and their
 * request counts add up to what was sent. */
Test(dispatchers, shared_pool_status_from_both_dispatchers, .fini = teardown, .timeout = 60)
{
	make_dirs();
	struct pstat ps;
	start_pool(POOL_CONFIG("2", ",\"request_timeout\":20"), 2, &ps);
	int sent = 0, ok = 0;
	for (int i = 0; i < 10; i++, sent++)
		ok += one("/w/quick", NULL, NULL) == 200;
	struct wreq r[4];
	at_once(r, 4, "/w/sleep?0.3");
	for (int i = 0; i < 4; i++, sent++)
		ok += r[i].o == OK;
	cr_expect_eq(ok, sent, "%d of %d requests ok", ok, sent);
	/* requests_served is the master's count, published every 50 ms when idle. */
	double until = gw_now() + 5;
	while ((!pool_try(&ps) || ps.served != sent) && gw_now() < until)
		usleep(20000);
	/* Ask until each dispatcher answered at least twice: asks one after
	 * another tend to land on one dispatcher, so 4 at once, up to 50 times
	 * and 15 s (on a loaded machine one dispatcher may take every ask of a
	 * round: the one ahead steps back for only a millisecond). */
	pid_t seen[2][2] = {{0}};
	int asked[2] = {0}, rounds = 0;
	until = gw_now() + 15;
	for (; rounds < 50 && gw_now() < until && (asked[0] < 2 || asked[1] < 2); rounds++) {
		struct ask q[4];
		for (int a = 0; a < 4; a++)
			cr_assert_eq(pthread_create(&q[a].t, NULL, ask_run, &q[a]), 0);
		for (int a = 0; a < 4; a++)
			pthread_join(q[a].t, NULL);
		for (int a = 0; a < 4; a++) {
			struct pstat *qs = &q[a].ps;
			if (!q[a].ok || qs->self_index < 0 || qs->self_index > 1)
				continue;
			int d = qs->self_index;
			if (asked[d]++ == 0)
				pool_describe("after the load", qs);
			pid_t pids[4];
			int n = serving(qs, pids, 4);
			cr_expect_eq(n, 2, "dispatcher %d lists %d workers", d, n);
			long long sum = 0;
			for (int i = 0; i < qs->n; i++) {
				cr_expect_gt(qs->w[i].pid, 0, "dispatcher %d: slot %d without a pid", d,
				             qs->w[i].slot);
				sum += qs->w[i].requests;
			}
			cr_expect_eq(sum, sent,
			             "dispatcher %d: the workers' requests add up to %lld, %d sent", d,
			             sum, sent);
			cr_expect_eq(qs->served, sent, "dispatcher %d: requests_served %lld, %d sent",
			             d, qs->served, sent);
			if (n >= 2) {
				if (!seen[d][0]) {
					seen[d][0] = pids[0];
					seen[d][1] = pids[1];
				}
				cr_expect(has_pid(pids, 2, seen[d][0]) && has_pid(pids, 2, seen[d][1]),
				          "dispatcher %d: workers %d and %d, then %d and %d", d,
				          seen[d][0], seen[d][1], pids[0], pids[1]);
			}
		}
	}
	cr_log_info("status asked 4 at once %d times: %d answered by dispatcher 0, %d by 1", rounds,
	            asked[0], asked[1]);
	cr_expect(asked[0] > 0 && asked[1] > 0,
	          "one dispatcher answered all %d asks (4 at once, %d times)", 4 * rounds, rounds);
	if (asked[0] && asked[1])
		cr_expect(has_pid(seen[1], 2, seen[0][0]) && has_pid(seen[1], 2, seen[0][1]),
		          "dispatcher 0 sees workers %d and %d, dispatcher 1 %d and %d", seen[0][0],
		          seen[0][1], seen[1][0], seen[1][1]);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 12. request_timeout: 504, and that worker (not the other) is replaced. */
Test(dispatchers, shared_pool_request_timeout_replaces_that_worker, .fini = teardown,
     .timeout = 60)
{
	make_dirs();
	struct pstat ps;
	start_pool(POOL_CONFIG("2", ",\"request_timeout\":1"), 2, &ps);
	pid_t before[2];
	cr_assert_eq(serving(&ps, before, 2), 2);
	struct wreq r = {.path = "/w/sleep?5"};
	cr_assert_eq(pthread_create(&r.t, NULL, wreq_run, &r), 0);
	pid_t victim = wait_busy(3);
	pthread_join(r.t, NULL);
	double answered = gw_now();
	cr_assert(victim > 0, "no busy worker in status during /w/sleep?5");
	pid_t other = victim == before[0] ? before[1] : before[0];
	cr_expect_eq(r.status, 504, "/w/sleep?5 with request_timeout 1: %d", r.status);
	/* After the 1 s timeout (not at once), and not after the script's 5 s:
	 * the upper bound leaves a loaded machine 3 s of slack. */
	cr_expect(r.took > 0.8 && r.took < 4.0, "504 after %.2f s", r.took);
	/* The victim gone from the pool, the other kept, a new one beside it:
	 * a kill, a reap, a spawn, a Python start and a readiness probe, which
	 * start_pool allows 10 s; 6 s here (a loaded machine: seconds). */
	double replaced = -1;
	pid_t now[4];
	int n = 0;
	while (gw_now() - answered < 6 && replaced < 0) {
		if (pool_try(&ps)) {
			n = serving(&ps, now, 4);
			if (n == 2 && !has_pid(now, 2, victim) && has_pid(now, 2, other))
				replaced = gw_now() - answered;
		}
		usleep(10000);
	}
	for (int i = 0; i < n && i < 4; i++)
		gw_remember(now[i]);
	pool_describe("after the timeout", &ps);
	cr_log_info("request_timeout: 504 after %.2f s; worker %d (the other %d) replaced %.3f s "
	            "after it",
	            r.took, victim, other, replaced);
	cr_expect(replaced >= 0, "worker %d not replaced (the other %d kept) within 6 s of the 504",
	          victim, other);
	cr_expect(gw_wait_gone(victim, 5), "the timed-out worker %d is still running", victim);
	cr_expect(gw_pid_alive(other), "the other worker %d is gone", other);
	for (int i = 0; i < 6; i++) {
		long pid;
		cr_expect_eq(one("/w/quick", &pid, NULL), 200, "request %d after the timeout", i);
		cr_expect_neq(pid, victim);
	}
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 13. A worker killed mid-request: that request 502, the next ones 200, the
 * worker replaced. Killed before it read its request (stopped, the request
 * waiting in its socket), the request goes to the other worker: 200. */
Test(dispatchers, shared_pool_worker_killed_mid_request, .fini = teardown, .timeout = 60)
{
	make_dirs();
	struct pstat ps;
	start_pool(POOL_CONFIG("2", ",\"request_timeout\":20"), 2, &ps);
	pid_t before[2];
	cr_assert_eq(serving(&ps, before, 2), 2);
	struct wreq r = {.path = "/w/sleep?2"};
	cr_assert_eq(pthread_create(&r.t, NULL, wreq_run, &r), 0);
	pid_t victim = wait_busy(3);
	/* Busy on the board is claimed: the kill waits until the app runs. */
	int victim_id = victim;
	cr_expect(victim > 0 && gw_wait_until(in_nanosleep, &victim_id, 3),
	          "worker %d is not running /w/sleep", victim);
	if (victim > 0)
		kill(victim, SIGKILL);
	double killed = gw_now();
	pthread_join(r.t, NULL);
	cr_assert(victim > 0, "no busy worker in status during /w/sleep?2");
	pid_t other = victim == before[0] ? before[1] : before[0];
	cr_expect_eq(r.status, 502, "the killed worker's request: %d", r.status);
	/* Requests that reach the worker's socket in the instant it dies fail
	 * with it (a connection in its backlog is reset): the next ones are sent
	 * once the master has seen it go (up to 6 s). */
	for (double until = gw_now() + 6; gw_now() < until;) {
		pid_t live[4];
		int nl = pool_try(&ps) ? serving(&ps, live, 4) : -1;
		if (nl >= 0 && !has_pid(live, nl < 4 ? nl : 4, victim))
			break;
		usleep(10000);
	}
	int ok = 0, last_bad = 0;
	for (int i = 0; i < 6; i++) {
		int st = one("/w/quick", NULL, NULL);
		ok += st == 200;
		last_bad = st == 200 ? last_bad : st;
	}
	if (ok != 6)
		gw_dump_log(&G);
	cr_expect_eq(ok, 6, "%d of 6 requests after the kill ok (one got %d)", ok, last_bad);
	double replaced = -1;
	pid_t now[4];
	int n = 0;
	/* A kill, a reap, a spawn, a Python start and a readiness probe, which
	 * start_pool allows 10 s; 6 s here (a loaded machine: seconds). */
	while (gw_now() - killed < 6 && replaced < 0) {
		if (pool_try(&ps)) {
			n = serving(&ps, now, 4);
			if (n == 2 && !has_pid(now, 2, victim) && has_pid(now, 2, other))
				replaced = gw_now() - killed;
		}
		usleep(10000);
	}
	for (int i = 0; i < n && i < 4; i++)
		gw_remember(now[i]);
	pool_describe("after the kill", &ps);
	cr_log_info("kill -9 of worker %d mid-request: %d after %.2f s; replaced %.3f s after the "
	            "kill",
	            victim, r.status, r.took, replaced);
	cr_expect(replaced >= 0, "worker %d not replaced within 6 s of the kill", victim);
	cr_expect_eq(ps.crashes, 1, "crashes %lld", ps.crashes);
	/* Now one stopped: the request it is given waits in its socket, unread;
	 * killed, the worker never ran it, and the other one answers. */
	if (n == 2) {
		pid_t stopped = now[0], live = now[1];
		cr_assert_eq(kill(stopped, SIGSTOP), 0);
		struct wreq w[4];
		memset(w, 0, sizeof w);
		int sent = 0;
		pid_t busy = 0;
		for (; sent < 4 && busy != stopped; sent++) { /* until one goes to it */
			w[sent].path = "/w/quick";
			cr_assert_eq(pthread_create(&w[sent].t, NULL, wreq_run, &w[sent]), 0);
			gw_sleep(0.2);
			busy = wait_busy(1);
		}
		cr_expect_eq(busy, stopped, "no request went to the stopped worker %d", stopped);
		kill(stopped, SIGKILL);
		for (int i = 0; i < sent; i++) {
			pthread_join(w[i].t, NULL);
			cr_expect_eq(w[i].status, 200, "request %d, unread by the killed worker: %d", i,
			             w[i].status);
			cr_expect_eq(w[i].pid, live, "request %d answered by %ld", i, w[i].pid);
		}
	}
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 13b. kill -9 of the dispatcher whose request a worker runs: that worker
 * is not lost to the pool (its claim died with the dispatcher: the master
 * has it killed and replaced, as it may run the orphan for as long as it
 * likes), and two slow requests are then served at once again. (Before,
 * the claim stayed for good: the pool served one request at a time.) */
Test(dispatchers, shared_pool_dispatcher_killed_mid_request, .fini = teardown, .timeout = 60)
{
	make_dirs();
	struct pstat ps;
	start_pool(POOL_CONFIG("2", ",\"request_timeout\":30"), 2, &ps);
	struct wreq r = {.path = "/w/sleep?20"};
	cr_assert_eq(pthread_create(&r.t, NULL, wreq_run, &r), 0);
	pid_t worker = wait_busy(3);
	int worker_id = worker;
	cr_assert(worker > 0 && gw_wait_until(in_nanosleep, &worker_id, 3),
	          "worker %d is not running /w/sleep", worker);
	/* The dispatcher holding it: the one with a connection open that is
	 * not the status request's own. Its counters lag by up to 0.1 s. */
	int victim = 0;
	for (int k = 0; k < 50 && !victim; k++) {
		struct status q;
		int found = 0, pid = 0;
		if (status_try(&q))
			for (int i = 0; i < q.n; i++)
				if (q.d[i].connections > (q.d[i].self ? 1 : 0)) {
					found++;
					pid = q.d[i].pid;
				}
		if (found == 1) /* the counters lag: both may show one for a moment */
			victim = pid;
		else
			usleep(20000);
	}
	cr_assert(victim > 0, "no dispatcher shows the slow request's connection");
	double killed = gw_now();
	cr_assert_eq(kill(victim, SIGKILL), 0);
	pthread_join(r.t, NULL);
	cr_expect_neq(r.status, 200, "the killed dispatcher's request was answered");
	struct status s;
	cr_expect(wait_ready(&s, 2, 1, 3), "not 2 ready dispatchers after the kill");
	/* The worker it held: killed and replaced, not busy for ever. */
	bool replaced = wait_workers(&ps, 2, true, 5);
	pid_t now[4];
	int n = serving(&ps, now, 4);
	pool_describe("after the dispatcher's kill", &ps);
	cr_expect(replaced, "not 2 idle workers 5 s after the kill");
	cr_expect(!has_pid(now, n < 4 ? n : 4, worker), "worker %d, held by the dead dispatcher, "
	          "still serves", worker);
	/* Both workers serve again: two slow requests at once take 1 s each
	 * (under 1.9 s; one after the other, the second would take 2 s). */
	struct wreq w[2];
	at_once(w, 2, "/w/sleep?1");
	for (int i = 0; i < 2; i++) {
		cr_expect_eq(w[i].o, OK, "request %d after the kill: status %d", i, w[i].status);
		cr_expect_lt(w[i].took, 1.9, "request %d after the kill took %.2f s", i, w[i].took);
	}
	cr_log_info("kill -9 of dispatcher %d holding worker %d: the request got %d; two "
	            "/w/sleep?1 at once then took %.2f s and %.2f s, %.2f s after the kill",
	            victim, worker, r.status, w[0].took, w[1].took, gw_now() - killed);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* The gatewayd-wsgi processes below root (its descendants). */
static int wsgi_workers_under(pid_t root)
{
	char path[64];
	int n = 0;
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)root, (int)root);
	char *list = gw_read_file(path);
	for (char *p = list, *end; p && *p; p = end) {
		long child = strtol(p, &end, 10);
		if (end == p)
			break;
		snprintf(path, sizeof path, "/proc/%ld/comm", child);
		char *comm = gw_read_file(path);
		n += comm && strncmp(comm, "gatewayd-wsgi", 13) == 0;
		free(comm);
		n += wsgi_workers_under((pid_t)child);
	}
	free(list);
	return n;
}

/* 13c. A pool that a reload adds to a master that had none is shared too:
 * one set of workers, the master's, not one per dispatcher. (Before, the
 * board and the master's spawner came only with a pool at start: each
 * dispatcher started its own 2 workers, 4 in all.) */
Test(dispatchers, pool_added_by_a_reload_is_shared, .fini = teardown, .timeout = 60)
{
	make_dirs();
	struct status s;
	start_ready(CONFIG2, 2, &s);
	gw_write_config(&G, POOL_CONFIG("2", ""));
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	cr_assert(ready_remembered(&s, 2, 2, 10), "no 2 ready dispatchers of generation 2");
	struct pstat ps;
	bool ok = wait_workers(&ps, 2, true, 10);
	pool_describe("after the reload", &ps);
	cr_expect(ok, "pool w: not 2 idle workers within 10 s of the reload");
	struct wreq r[2];
	at_once(r, 2, "/w/sleep?1");
	for (int i = 0; i < 2; i++)
		cr_expect_eq(r[i].o, OK, "request %d: %d", i, r[i].status);
	int n = wsgi_workers_under(G.pid);
	cr_log_info("after a reload that added pool w (2 processes): %d gatewayd-wsgi processes "
	            "under the master; two /w/sleep?1 at once: %.2f s, %.2f s",
	            n, r[0].took, r[1].took);
	cr_expect_eq(n, 2, "%d gatewayd-wsgi processes under the master, want 2", n);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 13d. A reload that changes a pool's protocol: a request still waiting in
 * an old dispatcher (which speaks the old one) is not sent to the new
 * workers but to the old one, kept for it. gatewayd-wsgi without
 * --protocol speaks what its first connection speaks: a uwsgi request from
 * the old generation taught the new worker uwsgi, and every FastCGI request
 * after the reload failed. */
#define PROTO_POOL_CONFIG(proto)                                                                    \
	"{\"user\":\"www-data\",\"dispatchers\":2,\"temp_dir\":\"@DIR@\","                          \
	" \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                                            \
	" \"pools\":{\"w\":{\"protocol\":\"" proto "\","                                             \
	"   \"command\":[\"@BUILD@/spawner/wsgi/gatewayd-wsgi\",\"--path\",\"@FIX@/pools\","        \
	"     \"backlog_app:application\"],"                                                        \
	"   \"env\":{\"PATH\":\"/usr/bin:/bin\"},\"processes\":1,\"queue_timeout\":10}},"              \
	" \"routes\":[{\"match\":\"/w/\",\"pool\":\"w\"}]}"

Test(dispatchers, reload_that_changes_a_pools_protocol, .fini = teardown, .timeout = 60)
{
	make_dirs();
	struct pstat ps;
	start_pool(PROTO_POOL_CONFIG("uwsgi"), 1, &ps);
	struct wreq slow = {.path = "/w/sleep?2"}, w[2];
	cr_assert_eq(pthread_create(&slow.t, NULL, wreq_run, &slow), 0);
	cr_assert(wait_busy(3) > 0, "the slow request is not running");
	memset(w, 0, sizeof w);
	for (int i = 0; i < 2; i++) {
		w[i].path = "/w/quick";
		cr_assert_eq(pthread_create(&w[i].t, NULL, wreq_run, &w[i]), 0);
	}
	gw_sleep(0.3); /* one behind the slow one in its worker's backlog, one waiting */
	gw_write_config(&G, PROTO_POOL_CONFIG("fastcgi"));
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	struct status s;
	cr_expect(ready_remembered(&s, 2, 2, 10), "no 2 ready dispatchers of generation 2");
	pthread_join(slow.t, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i].t, NULL);
	cr_log_info("before the reload: /w/sleep?2 %d, /w/quick %d and %d (%.2f s, %.2f s)",
	            slow.status, w[0].status, w[1].status, w[0].took, w[1].took);
	cr_expect_eq(slow.status, 200, "the slow request: %d", slow.status);
	/* The old generation's waiting request goes to the old worker, kept
	 * (though its pool drains) while a request waits for it. */
	for (int i = 0; i < 2; i++)
		cr_expect_eq(w[i].status, 200, "a request of the old generation: %d", w[i].status);
	/* The new generation's requests, over FastCGI, all served. */
	int ok = 0, last = 0;
	for (int i = 0; i < 6; i++) {
		last = one("/w/quick", NULL, NULL);
		ok += last == 200;
	}
	if (ok != 6)
		gw_dump_log(&G);
	cr_expect_eq(ok, 6, "%d of 6 requests after the reload ok (the last: %d)", ok, last);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 13d'. The same under load: reloads that switch the pool's protocol back
 * and forth while clients keep asking; every request served. An old
 * dispatcher's requests go to the old pool, which starts a worker for them
 * if its last one already stopped, and is kept (with its board entry) while
 * such a dispatcher lives. (Before, 2 or 3 requests in about half the runs
 * waited for an entry the master had freed, or for a drained pool that
 * started nothing, until queue_timeout: 503.) */
Test(dispatchers, protocol_switching_reloads_under_load_fail_nothing, .fini = teardown,
     .timeout = 60)
{
	make_dirs();
	struct pstat ps;
	start_pool(PROTO_POOL_CONFIG("uwsgi"), 1, &ps);
	load_start(4, "/w/quick", LOAD_RESULTS_MAX, 30, 0.002);
	gw_sleep(0.3);
	int handovers = 0;
	for (int gen = 2; gen <= 5; gen++) {
		gw_write_config(&G, gen % 2 ? PROTO_POOL_CONFIG("uwsgi") : PROTO_POOL_CONFIG("fastcgi"));
		cr_assert_eq(kill(G.pid, SIGHUP), 0);
		char line[64];
		snprintf(line, sizeof line, "generation %d ready: the older ones drain", gen);
		handovers += gw_log_contains(G.error_log, line, 10);
		gw_sleep(0.2); /* requests on the new generation before the next switch */
	}
	atomic_store(&L.stop, true);
	int n = load_join();
	struct tally t = load_tally(n);
	describe_failures(n);
	cr_log_info("4 reloads switching the protocol: %d handovers, %d requests, %d ok, %d refused, "
	            "%d failed",
	            handovers, n, t.ok, t.refused, t.failed);
	if (t.failed + t.refused)
		gw_dump_log(&G);
	cr_expect_eq(handovers, 4, "%d of 4 reloads took over", handovers);
	cr_expect_gt(t.ok, 100, "only %d requests", t.ok);
	cr_expect_eq(t.refused + t.failed, 0, "%d refused, %d failed", t.refused, t.failed);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 13e. Requests waiting across a reload are counted on the entry that has
 * them: an ondemand pool started by the reload spawns a worker for the next
 * request. (Each dispatcher added its change to the sum of whichever entry
 * was live: requests that waited before the reload and were served after it
 * took their count off the new entry, which then stood below zero, and the
 * new pool started no worker: the next request got 503.) */
#define ONDEMAND_POOL_CONFIG(idle)                                                                  \
	"{\"user\":\"www-data\",\"dispatchers\":2,\"temp_dir\":\"@DIR@\","                          \
	" \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                                            \
	" \"pools\":{\"w\":{\"protocol\":\"uwsgi\","                                                 \
	"   \"command\":[\"@BUILD@/spawner/wsgi/gatewayd-wsgi\",\"--path\",\"@FIX@/pools\","        \
	"     \"backlog_app:application\"],\"env\":{\"PATH\":\"/usr/bin:/bin\"},\"queue_timeout\":5,"  \
	"   \"processes\":{\"mode\":\"ondemand\",\"max\":1,\"idle_timeout\":" idle "}}},"           \
	" \"routes\":[{\"match\":\"/w/\",\"pool\":\"w\"}]}"

Test(dispatchers, requests_waiting_across_a_reload_are_counted_once, .fini = teardown,
     .timeout = 60)
{
	make_dirs();
	struct status s;
	start_ready(ONDEMAND_POOL_CONFIG("30"), 2, &s);
	gw_sleep(0.2); /* the master has looked at the board once */
	struct wreq slow = {.path = "/w/sleep?1.5"}, w[3];
	cr_assert_eq(pthread_create(&slow.t, NULL, wreq_run, &slow), 0);
	pid_t first = wait_busy(5);
	if (first <= 0)
		gw_dump_log(&G);
	cr_assert(first > 0, "the ondemand worker did not start");
	memset(w, 0, sizeof w);
	for (int i = 0; i < 3; i++) {
		w[i].path = "/w/quick";
		cr_assert_eq(pthread_create(&w[i].t, NULL, wreq_run, &w[i]), 0);
	}
	gw_sleep(0.3);
	gw_write_config(&G, ONDEMAND_POOL_CONFIG("20")); /* a changed pool: a new entry */
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	cr_expect(ready_remembered(&s, 2, 2, 10), "no 2 ready dispatchers of generation 2");
	pthread_join(slow.t, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(w[i].t, NULL);
	cr_log_info("before the reload: /w/sleep?1.5 %d; /w/quick %d %d %d", slow.status,
	            w[0].status, w[1].status, w[2].status);
	cr_expect_eq(slow.status, 200, "the slow request: %d", slow.status);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(w[i].status, 200, "request %d, waiting across the reload: %d", i,
		             w[i].status);
	/* Let the old pool's last worker go, then ask the new one. */
	gw_sleep(0.5);
	int ok = 0, last = 0;
	for (int i = 0; i < 3; i++) {
		last = one("/w/quick", NULL, NULL);
		ok += last == 200;
	}
	if (ok != 3)
		gw_dump_log(&G);
	cr_expect_eq(ok, 3, "%d of 3 requests after the reload ok (the last: %d)", ok, last);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 14. max_requests 5: twelve requests over new connections (both
 * dispatchers') all served; no worker answers more than 5; the workers are
 * recycled. (It found that a claim and release between two of the master's
 * looks went unseen, and that a new process inherited its slot's count.) */
Test(dispatchers, shared_pool_max_requests_recycles, .fini = teardown, .timeout = 60)
{
	make_dirs();
	struct pstat ps;
	start_pool(POOL_CONFIG("2", ",\"request_timeout\":20,\"max_requests\":5"), 2, &ps);
	long pids[12];
	char prefixes[12][9];
	int ok = 0;
	for (int i = 0; i < 12; i++) {
		int st = one("/w/quick", &pids[i], prefixes[i]);
		ok += st == 200;
		cr_expect_eq(st, 200, "request %d: %d", i, st);
		gw_remember((pid_t)pids[i]);
	}
	/* Per worker pid, how many answers it gave. */
	long distinct[12];
	int count[12], nd = 0, on_first = 0;
	for (int i = 0; i < 12; i++) {
		on_first += strcmp(prefixes[i], prefixes[0]) == 0;
		int k = 0;
		while (k < nd && distinct[k] != pids[i])
			k++;
		if (k == nd) {
			distinct[nd] = pids[i];
			count[nd++] = 0;
		}
		count[k]++;
	}
	for (int k = 0; k < nd; k++) {
		cr_log_info("max_requests 5: worker %ld answered %d of 12", distinct[k], count[k]);
		cr_expect_leq(count[k], 5, "worker %ld answered %d requests, max_requests is 5",
		              distinct[k], count[k]);
	}
	cr_log_info("%d of 12 on dispatcher %s, the rest on the other", on_first, prefixes[0]);
	cr_expect_gt(nd, 2, "only %d worker pids answered", nd);
	double until = gw_now() + 3;
	while (pool_try(&ps) ? ps.spawns <= 2 : true) {
		if (gw_now() > until)
			break;
		usleep(20000);
	}
	wait_workers(&ps, 2, true, 3);
	pool_describe("after 12 requests", &ps);
	cr_expect_gt(ps.spawns, 2, "spawns %lld after 12 requests with max_requests 5", ps.spawns);
	/* Each live worker's requests in status are its own. */
	for (int i = 0; i < ps.n; i++) {
		if (!serves(&ps.w[i]))
			continue;
		int mine = 0;
		for (int k = 0; k < nd; k++)
			if (distinct[k] == ps.w[i].pid)
				mine = count[k];
		cr_expect_eq(ps.w[i].requests, mine,
		             "worker %d (slot %d): status says %lld requests, it answered %d",
		             ps.w[i].pid, ps.w[i].slot, ps.w[i].requests, mine);
	}
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 14b. The same pool over FastCGI: a dispatcher keeps its connection to a
 * worker for the next request waiting there, within its share of the
 * workers, instead of a connection per request. */
#define FCGI_POOL_CONFIG                                                                           \
	"{\"user\":\"www-data\",\"dispatchers\":2,\"temp_dir\":\"@DIR@\","                        \
	" \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"                                          \
	" \"pools\":{\"w\":{\"protocol\":\"fastcgi\","                                            \
	"   \"command\":[\"@BUILD@/spawner/wsgi/gatewayd-wsgi\",\"--protocol\",\"fastcgi\","      \
	"     \"--path\",\"@FIX@/pools\",\"backlog_app:application\"],"                              \
	"   \"env\":{\"PATH\":\"/usr/bin:/bin\"},\"processes\":2,\"request_timeout\":20}},"       \
	" \"routes\":[{\"match\":\"/w/\",\"pool\":\"w\"}]}"

Test(dispatchers, shared_pool_keeps_fastcgi_connections, .fini = teardown, .timeout = 90)
{
	make_dirs();
	struct pstat ps;
	start_pool(FCGI_POOL_CONFIG, 2, &ps);
	enum { N = 200 };
	load_start(8, "/w/conn?0.002", N, 60, 0);
	int n = load_join();
	struct tally t = load_tally(n);
	cr_expect_eq(t.ok, N, "%d of %d ok (%d refused, %d failed)", t.ok, N, t.refused, t.failed);
	long seen[N][2];
	int distinct = 0, unnamed = 0;
	for (int i = 0; i < n; i++) {
		if (L.results[i].outcome != OK)
			continue;
		if (!L.results[i].conn) {
			unnamed++;
			continue;
		}
		int k = 0;
		while (k < distinct &&
		       (seen[k][0] != L.results[i].pid || seen[k][1] != L.results[i].conn))
			k++;
		if (k == distinct) {
			seen[k][0] = L.results[i].pid;
			seen[k][1] = L.results[i].conn;
			distinct++;
		}
	}
	cr_log_info("%d requests over FastCGI came on %d connections", t.ok, distinct);
	cr_expect_eq(unnamed, 0, "%d answers named no connection", unnamed);
	cr_expect_lt(distinct, N / 2, "%d connections for %d requests: not kept", distinct, t.ok);
	pool_describe("after the load", &ps);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* A dispatcher's bell: the abstract name (without its leading NUL) of the
 * kernel-named datagram socket among pid's descriptors; false if none. */
static bool bell_of(pid_t pid, char name[16])
{
	char dir[64], link[64], line[512];
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "%s", dir);
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		char path[400];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		ssize_t n = readlink(path, link, sizeof link - 1);
		unsigned long inode;
		if (n <= 0 || (link[n] = '\0', sscanf(link, "socket:[%lu]", &inode) != 1))
			continue;
		FILE *f = fopen("/proc/net/unix", "re");
		cr_assert_not_null(f);
		while (!found && fgets(line, sizeof line, f)) {
			unsigned long ino;
			unsigned type;
			char at[64];
			/* Num RefCount Protocol Flags Type St Inode Path */
			if (sscanf(line, "%*s %*s %*s %*s %x %*s %lu %63s", &type, &ino, at) == 3 &&
			    ino == inode && type == SOCK_DGRAM && at[0] == '@' && strlen(at) < 16) {
				memcpy(name, at + 1, strlen(at)); /* its NUL too: shorter than 16 */
				found = true;
			}
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

/* 14c. Anyone on the host may send to a bell (its name is in /proc/net/unix):
 * junk, big or many, costs a wakeup and nothing else. */
Test(dispatchers, bell_takes_junk, .fini = teardown, .timeout = 90)
{
	make_dirs();
	struct pstat ps;
	start_pool(FCGI_POOL_CONFIG, 2, &ps);
	struct status s;
	status_get(&s);
	cr_assert_eq(s.n, 2);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	static char junk[60000];
	memset(junk, 0xff, sizeof junk);
	int bells = 0, sent = 0;
	for (int k = 0; k < 2; k++) {
		char name[16];
		if (!bell_of(s.d[k].pid, name))
			continue;
		bells++;
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		size_t len = strlen(name);
		memcpy(a.sun_path + 1, name, len);
		socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
		for (int i = 0; i < 2000; i++) {
			size_t size = i % 2 ? sizeof junk : (size_t)(i % 7);
			sent += sendto(fd, junk, size, MSG_DONTWAIT, (struct sockaddr *)&a, alen) >= 0;
		}
	}
	close(fd);
	cr_log_info("%d bells found, %d datagrams of junk taken", bells, sent);
	cr_assert_eq(bells, 2, "a dispatcher of a shared pool without a bell");
	cr_expect_gt(sent, 0);
	load_start(8, "/w/conn?0.001", 100, 30, 0);
	int n = load_join();
	struct tally t = load_tally(n);
	cr_expect_eq(t.ok, 100, "%d of 100 ok after the junk (%d refused, %d failed)", t.ok,
	             t.refused, t.failed);
	struct status after;
	status_get(&after);
	cr_assert_eq(after.n, 2);
	for (int k = 0; k < 2; k++)
		cr_expect(after.d[k].pid == s.d[0].pid || after.d[k].pid == s.d[1].pid,
		          "dispatcher %d is new: one died of the junk", after.d[k].pid);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}

/* 15. kill -9 of the master takes the pool's workers with it. */
Test(dispatchers, shared_pool_master_killed_takes_workers, .fini = teardown, .timeout = 60)
{
	make_dirs();
	struct pstat ps;
	start_pool(POOL_CONFIG("2", ",\"request_timeout\":20"), 2, &ps);
	pid_t w[2];
	cr_assert_eq(serving(&ps, w, 2), 2);
	cr_assert_eq(kill(G.pid, SIGKILL), 0);
	double t0 = gw_now();
	cr_assert_neq(gw_wait_exit(&G, 2), -1, "the master survived SIGKILL");
	for (int i = 0; i < 2; i++) {
		double left = 2 - (gw_now() - t0);
		/* Gone: no such process, or a zombie not running anything (reaped by
		 * whoever inherits it once the spawner that killed it is gone too). */
		bool gone = gw_wait_gone(w[i], left > 0 ? left : 0.01);
		cr_expect(gone, "worker %d outlived the master by 2 s", (int)w[i]);
	}
	cr_log_info("kill -9 of the master: workers %d and %d gone after %.3f s", w[0], w[1],
	            gw_now() - t0);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* 15b. kill -9 of the spawner that runs the pool's workers (the master's;
 * a lone gatewayd's own), as www-data, libfcgi's hello, which does not
 * watch its parent: the workers die with it, and gatewayd, which can start
 * nothing more, stops at once and exits 1. (Their parent-death signal was
 * set before they took their user, and the kernel clears it on that change:
 * they outlived it; and gatewayd waited for their exits, which only the
 * spawner reports: the master for ever, a lone gatewayd until its deadline.) */
static void spawner_killed_takes_workers(const char *dispatchers)
{
	make_dirs(); /* run/ (1777): a lone gatewayd makes its socket directory as www-data */
	struct pstat ps;
	char config[1024];
	snprintf(config, sizeof config,
	         "{\"user\":\"www-data\",\"dispatchers\":%s,\"temp_dir\":\"@DIR@/run\","
	         " \"listen\":[{\"http\":\"127.0.0.1:@PORT@\"}],"
	         " \"pools\":{\"w\":{\"protocol\":\"fastcgi\","
	         "   \"command\":[\"@BUILD@/examples/hello.fcgi\"],\"processes\":2}},"
	         " \"routes\":[{\"match\":\"/w/\",\"pool\":\"w\"}]}",
	         dispatchers);
	if (strcmp(dispatchers, "1") == 0) { /* a lone gatewayd: no dispatcher table */
		gw_start(&G, config);
		cr_assert(wait_workers(&ps, 2, true, 10), "pool w: not 2 idle workers within 10 s");
	} else {
		start_pool(config, 2, &ps);
	}
	pid_t w[2];
	cr_assert_eq(serving(&ps, w, 2), 2);
	for (int i = 0; i < 2; i++)
		gw_remember(w[i]);
	pid_t spawner = spawner_of(G.pid);
	cr_assert_gt(spawner, 0);
	gw_remember(spawner);
	cr_assert_eq(kill(spawner, SIGKILL), 0);
	double t0 = gw_now();
	for (int i = 0; i < 2; i++) {
		double left = 2 - (gw_now() - t0);
		bool gone = gw_wait_gone(w[i], left > 0 ? left : 0.01);
		cr_expect(gone, "worker %d outlived its spawner by 2 s", (int)w[i]);
	}
	cr_log_info("%s dispatcher(s), kill -9 of the workers' spawner: workers %d and %d gone "
	            "after %.3f s",
	            dispatchers, w[0], w[1], gw_now() - t0);
	double t1 = gw_now();
	int st = gw_wait_exit(&G, 5);
	cr_expect_neq(st, -1, "gatewayd runs on without its spawner");
	cr_log_info("gatewayd stopped %.2f s after its spawner was killed", gw_now() - t1);
	/* A failure, for a service manager to restart from. */
	cr_expect(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "wait status %#x", st);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

Test(dispatchers, shared_pool_spawner_killed_takes_workers, .fini = teardown, .timeout = 60)
{
	spawner_killed_takes_workers("2");
}

Test(dispatchers, lone_spawner_killed_takes_workers, .fini = teardown, .timeout = 60)
{
	spawner_killed_takes_workers("1");
}

/* 16. SIGHUP: the pool unchanged keeps its workers; changed (2 -> 3), it is
 * replaced by one of 3 with no request failing under a light load. */
/* (It found requests failing on old-pool workers stopped just as a
 * dispatcher claimed them: a reload now reads the claims before it drains,
 * stops a worker only if no claim got there first, and retires the old
 * entry at once.) */
Test(dispatchers, shared_pool_reload, .fini = teardown, .timeout = 90)
{
	make_dirs();
	struct pstat ps;
	start_pool(POOL_CONFIG("2", ",\"request_timeout\":20"), 2, &ps);
	pid_t gen1[2];
	cr_assert_eq(serving(&ps, gen1, 2), 2);
	/* Unchanged pool, a route added. */
	gw_write_config(&G, POOL_CONFIG_R("2", ",\"request_timeout\":20",
	                                  "{\"match\":\"/x/\",\"pool\":\"w\"},"));
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	struct status s;
	bool ready = ready_remembered(&s, 2, 2, 8);
	if (!ready)
		gw_dump_log(&G);
	cr_assert(ready, "no 2 ready dispatchers of generation 2 within 8 s");
	cr_expect(wait_workers(&ps, 2, true, 3), "not 2 idle workers after the first reload");
	pool_describe("after a reload, the pool unchanged", &ps);
	pid_t now[4];
	int n = serving(&ps, now, 4);
	cr_expect(n == 2 && has_pid(now, 2, gen1[0]) && has_pid(now, 2, gen1[1]),
	          "workers %d and %d before the reload, %d listed after", gen1[0], gen1[1], n);
	cr_expect_eq(ps.spawns, 2, "spawns %lld after a reload that kept the pool", ps.spawns);
	cr_expect_eq(one("/x/quick", NULL, NULL), 200, "the added route");
	/* Changed: 3 processes, under 2 clients' light load. */
	load_start(2, "/w/sleep?0.05", LOAD_RESULTS_MAX, 4, 0.02);
	gw_sleep(1.0);
	gw_write_config(&G, POOL_CONFIG_R("3", ",\"request_timeout\":20",
	                                  "{\"match\":\"/x/\",\"pool\":\"w\"},"));
	double hup_at = gw_now();
	cr_assert_eq(kill(G.pid, SIGHUP), 0);
	ready = ready_remembered(&s, 2, 3, 8);
	bool three = wait_workers(&ps, 3, false, 5);
	double three_at = gw_now() - hup_at;
	int total = load_join();
	struct tally t = load_tally(total);
	int after = 0;
	for (int i = 0; i < total; i++)
		after += L.results[i].t > hup_at;
	pool_describe("after a reload to 3 processes", &ps);
	cr_log_info("reload 2 -> 3 processes under load: %d requests (%d ended after the HUP), %d ok, "
	            "%d refused, %d failed; 3 workers after %.2f s",
	            total, after, t.ok, t.refused, t.failed, three_at);
	describe_failures(total);
	if (!ready || !three || t.failed + t.refused)
		gw_dump_log(&G);
	cr_expect(ready, "no 2 ready dispatchers of generation 3 within 8 s");
	cr_expect(three, "the new pool has not 3 workers within 5 s");
	cr_expect_eq(t.failed + t.refused, 0, "%d failed, %d refused during the reload", t.failed,
	             t.refused);
	cr_expect_gt(after, 0);
	cr_expect(gw_wait_gone(gen1[0], 5) && gw_wait_gone(gen1[1], 5),
	          "the old pool's workers %d and %d are left", gen1[0], gen1[1]);
	gw_stop_ok(&G, 15, NULL);
	gw_assert_no_leaks();
}
