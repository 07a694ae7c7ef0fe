/* gatewayd under systemd (issue 12), with the real parts and no PID 1:
 *
 *   notify      a real AF_UNIX datagram socket as $NOTIFY_SOCKET, read with
 *               the sender's credentials as systemd reads it: READY=1 only
 *               once the listener accepts and the pools are up, STATUS= lines,
 *               RELOADING=1 + MONOTONIC_USEC= then READY=1 on SIGHUP,
 *               STOPPING=1 on SIGTERM, WATCHDOG=1 from $WATCHDOG_USEC;
 *   activation  Debian's systemd-socket-activate (TCP and unix sockets, named
 *               and not), and the test itself holding a socket across two
 *               gatewayd runs as systemd does across restarts;
 *   units       `make install` into a temporary prefix, then
 *               `systemd-analyze verify` on the installed units.
 *
 * Every test stops its daemon and checks it exited 0 (under ASan a leak makes
 * that fail), and every wait is bounded. */
#include "test/integration/harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ACTIVATE "/usr/bin/systemd-socket-activate"
#define ANALYZE "/usr/bin/systemd-analyze"

static struct gw_proc G;
static int notify_fd = -1;

static void teardown(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
	gw_cleanup(&G);
}

TestSuite(notify, .fini = teardown, .timeout = 60);
TestSuite(activation, .fini = teardown, .timeout = 60);
TestSuite(units, .fini = teardown, .timeout = 120);

static void dump_log(void)
{
	gw_dump_file("error log of gatewayd", G.error_log, 5000);
}

static void expect_exit(int st, int code)
{
	bool ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == code;
	if (!ok)
		dump_log();
	cr_assert(ok, "gatewayd did not exit %d (wait status %d%s)", code, st,
	          st == -1 ? ": still running" : "");
}

/* SIGTERM; gatewayd must exit 0. */
static void stop_ok(void)
{
	expect_exit(gw_stop(&G, 15), 0);
}

/* Start gatewayd -c G.config with nothing waited for: behind `pre` (NULL, or
 * systemd-socket-activate and its options), with env added ("NAME=value"; a
 * value "@PID@" becomes the child's own pid, as systemd sets LISTEN_PID),
 * and with fd3 (>= 0) as the child's fd 3, a socket the test holds as systemd
 * holds one. */
static void start(const char *const *pre, const char *const *env, int fd3)
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int log = open(G.error_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(126);
		for (size_t i = 0; env && env[i]; i++) {
			char name[64], value[32];
			const char *eq = strchr(env[i], '=');
			snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
			snprintf(value, sizeof value, "%d", (int)getpid());
			setenv(name, strcmp(eq + 1, "@PID@") == 0 ? value : eq + 1, 1);
		}
		if (fd3 >= 0 && (fd3 == 3 ? fcntl(3, F_SETFD, 0) : dup2(fd3, 3)) < 0)
			_exit(126);
		const char *argv[16];
		size_t n = 0;
		for (size_t i = 0; pre && pre[i] && n < 12; i++)
			argv[n++] = pre[i];
		argv[n++] = gw_binary();
		argv[n++] = "-c";
		argv[n++] = G.config;
		argv[n] = NULL;
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	G.pid = pid;
}

/* ---- the notification socket, as systemd reads it --------------------------- */

/* Bind a datagram socket at G.dir/notify, or at an abstract name when
 * abstract; SO_PASSCRED, so every message comes with its sender's pid. The
 * $NOTIFY_SOCKET value goes into env (at least 160 bytes). */
static void notify_open(bool abstract, char *env)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;
	int one = 1;
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(notify_fd >= 0);
	cr_assert(setsockopt(notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) == 0);
	if (abstract) {
		int n = snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "gwtest-notify-%d", (int)getpid());
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
		sprintf(env, "NOTIFY_SOCKET=@%s", sa.sun_path + 1);
	} else {
		int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/notify", G.dir);
		cr_assert(n > 0 && (size_t)n < sizeof sa.sun_path);
		len = sizeof sa;
		sprintf(env, "NOTIFY_SOCKET=%s", sa.sun_path);
	}
	cr_assert(bind(notify_fd, (struct sockaddr *)&sa, len) == 0, "bind: %s", strerror(errno));
}

/* The next message within timeout seconds into buf (NUL-terminated), its
 * sender's pid into *pid; false when none came. */
static bool notify_recv(double timeout, char *buf, size_t len, pid_t *pid)
{
	struct pollfd pfd = {.fd = notify_fd, .events = POLLIN};
	if (poll(&pfd, 1, (int)(timeout * 1000)) <= 0)
		return false;
	char ctl[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = {.iov_base = buf, .iov_len = len - 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
	                    .msg_controllen = sizeof ctl};
	ssize_t n = recvmsg(notify_fd, &mh, 0);
	cr_assert(n >= 0, "recvmsg: %s", strerror(errno));
	buf[n] = '\0';
	*pid = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
			*pid = ((struct ucred *)CMSG_DATA(c))->pid;
	return true;
}

/* Is line one of msg's newline-separated lines? A line ending in '=' ("STATUS=")
 * matches any assignment to that name. */
static bool has_line(const char *msg, const char *line)
{
	size_t n = strlen(line);
	bool prefix = n > 0 && line[n - 1] == '=';
	for (const char *p = msg; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (prefix || p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* Read messages until one has line (within timeout); it is left in buf. Each
 * must come from the daemon's own pid (NotifyAccess=main). */
static bool notify_wait(const char *line, double timeout, char *buf, size_t len)
{
	double until = gw_now() + timeout;
	pid_t pid;
	while (notify_recv(until - gw_now(), buf, len, &pid)) {
		cr_assert_eq(pid, G.pid, "\"%s\" came from pid %d, not gatewayd's %d", buf, (int)pid,
		             (int)G.pid);
		if (has_line(buf, line))
			return true;
	}
	return false;
}

static void must_notify(const char *line, double timeout, char *buf, size_t len)
{
	if (!notify_wait(line, timeout, buf, len))
		dump_log();
	cr_assert(has_line(buf, line), "no %s from gatewayd within %.0f s", line, timeout);
}

/* ---- requests and status ------------------------------------------------------ */

static int get(int port, const char *path, struct gw_response *r)
{
	char raw[512];
	snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
	return gw_request(port, raw, r);
}

static void must_get(int port, const char *path, struct gw_response *r)
{
	int rc = get(port, path, r);
	if (rc != 0 || r->status != 200)
		dump_log();
	cr_assert(rc == 0 && r->status == 200, "GET %s: %d", path, rc ? -1 : r->status);
}

/* How many of the pool's workers are in state, from /_gatewayd/status. */
static long long workers_in(const char *pool, const char *state)
{
	struct gw_response r;
	must_get(G.port, "/_gatewayd/status", &r);
	json_error_t err;
	json_t *j = json_loads(r.body, 0, &err);
	cr_assert_not_null(j, "status is not JSON: %s", r.body);
	long long n = gw_ival(json_object_get(gw_pool_of(j, pool), "processes"), state);
	json_decref(j);
	gw_response_free(&r);
	return n;
}

/* The worker's first line ("sleep 2" first: READY must wait for it). */
#define SLOW_POOL(name)                                                                      \
	"\"" name "\": {\"protocol\": \"fastcgi\", \"stop_signal\": \"USR1\", \"processes\": 1, " \
	"\"command\": [\"/bin/sh\", \"-c\", \"sleep 2; exec @BUILD@/examples/hello.fcgi\"]}"

static const char *const CONFIG_SLOW =
	"{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}],"
	" \"status\": {\"enabled\": true},"
	" \"pools\": {" SLOW_POOL("slow") "},"
	" \"routes\": [{\"match\": \"=/hello\", \"pool\": \"slow\"},"
	"              {\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@SRC@/examples/cgi-bin\"}}]}";

static const char *const CONFIG_FAST =
	"{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}],"
	" \"status\": {\"enabled\": true},"
	" \"pools\": {\"fast\": {\"protocol\": \"fastcgi\", \"stop_signal\": \"USR1\","
	"   \"processes\": 1, \"command\": [\"@BUILD@/examples/hello.fcgi\"]}},"
	" \"routes\": [{\"match\": \"=/hello\", \"pool\": \"fast\"}]}";

/* The daemon with $NOTIFY_SOCKET (and env), READY=1 awaited. */
static void start_notified(const char *config, const char *const *env, char *msg, size_t len)
{
	char notify[200];
	const char *all[8] = {notify};
	for (size_t i = 0; env && env[i] && i < 6; i++)
		all[i + 1] = env[i];
	gw_write_config(&G, config);
	notify_open(false, notify);
	start(NULL, all, -1);
	must_notify("READY=1", 10, msg, len);
}

/* ---- notify ------------------------------------------------------------------ */

Test(notify, ready_only_once_the_listener_accepts_and_the_pools_are_up)
{
	char notify[200], msg[2048];
	pid_t pid;
	gw_write_config(&G, CONFIG_SLOW);
	notify_open(false, notify);
	start(NULL, (const char *const[]){notify, NULL}, -1);
	/* The port accepts at once; the pool's worker sleeps 2 s first. */
	double until = gw_now() + 5;
	int fd;
	while ((fd = gw_connect(G.port)) < 0 && gw_now() < until)
		gw_sleep(0.01);
	cr_assert(fd >= 0, "gatewayd does not listen");
	close(fd);
	/* No READY so far, and the worker is still starting after that: READY
	 * was not sent while a pool was not up. */
	bool early = notify_recv(0, msg, sizeof msg, &pid) && has_line(msg, "READY=1");
	cr_assert_not(early, "READY=1 before the pool was up: %s", msg);
	cr_assert_eq(workers_in("slow", "starting"), 1);

	must_notify("READY=1", 10, msg, sizeof msg);
	cr_expect_eq(workers_in("slow", "starting"), 0);
	cr_expect_eq(workers_in("slow", "idle"), 1, "the worker is not up at READY=1");
	char *status = gw_field(msg, "STATUS=");
	cr_expect(status && strstr(status, "0 cgi running, pool slow 0 busy 1 idle, "),
	          "READY=1 comes with a STATUS= line: %s", msg);
	free(status);
	struct gw_response r;
	must_get(G.port, "/hello", &r);
	gw_response_free(&r);
	stop_ok();
	gw_assert_no_leaks();
}

Test(notify, status_lines_say_connections_workers_and_requests_per_second)
{
	char msg[2048];
	start_notified(CONFIG_FAST, NULL, msg, sizeof msg);
	for (int i = 0; i < 20; i++) {
		struct gw_response r;
		must_get(G.port, "/hello", &r);
		gw_response_free(&r);
	}
	int idle = gw_connect(G.port); /* open, no request yet: one connection */
	cr_assert(idle >= 0);
	/* The next STATUS= line comes at most 5 s after the start. */
	must_notify("STATUS=", 8, msg, sizeof msg);
	char *status = gw_field(msg, "STATUS=");
	unsigned long conns = 99, cgi = 99, busy = 99, idle_workers = 99;
	double rate = -1;
	int n = sscanf(status, "%lu connections, %lu cgi running, pool fast %lu busy %lu idle, %lf req/s",
	               &conns, &cgi, &busy, &idle_workers, &rate);
	cr_assert_eq(n, 5, "STATUS=%s", status);
	cr_expect_eq(conns, 1, "STATUS=%s", status);
	cr_expect_eq(cgi, 0);
	cr_expect_eq(busy, 0);
	cr_expect_eq(idle_workers, 1);
	/* 20 requests since READY=1, at most 5 s before. */
	cr_expect(rate >= 3.0 && rate <= 2000, "STATUS=%s", status);
	free(status);
	close(idle);
	stop_ok();
	gw_assert_no_leaks();
}

static unsigned long long monotonic_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}

Test(notify, a_reload_says_reloading_then_ready_once_its_new_pool_is_up)
{
	char msg[2048];
	pid_t pid;
	start_notified(CONFIG_FAST, NULL, msg, sizeof msg);
	gw_write_config(&G,
	                "{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}],"
	                " \"status\": {\"enabled\": true},"
	                " \"pools\": {\"fast\": {\"protocol\": \"fastcgi\", \"stop_signal\": \"USR1\","
	                "   \"processes\": 1, \"command\": [\"@BUILD@/examples/hello.fcgi\"]},"
	                "   " SLOW_POOL("slow") "},"
	                " \"routes\": [{\"match\": \"=/hello\", \"pool\": \"fast\"},"
	                "              {\"match\": \"=/slow\", \"pool\": \"slow\"}]}");
	unsigned long long before = monotonic_usec();
	kill(G.pid, SIGHUP);
	must_notify("RELOADING=1", 5, msg, sizeof msg);
	unsigned long long after = monotonic_usec();
	char *mono = gw_field(msg, "MONOTONIC_USEC=");
	cr_assert_not_null(mono, "RELOADING=1 without MONOTONIC_USEC=: %s", msg);
	unsigned long long at = strtoull(mono, NULL, 10);
	cr_expect(at >= before && at <= after, "MONOTONIC_USEC=%llu, not between %llu and %llu", at,
	          before, after);
	free(mono);
	/* Not ready again while the new pool's worker is starting. */
	bool early = notify_recv(0, msg, sizeof msg, &pid) && has_line(msg, "READY=1");
	cr_assert_not(early, "READY=1 before the new pool was up: %s", msg);
	cr_assert_eq(workers_in("slow", "starting"), 1);
	must_notify("READY=1", 10, msg, sizeof msg);
	cr_expect_eq(workers_in("slow", "idle"), 1, "the new pool is not up at READY=1");
	struct gw_response r;
	must_get(G.port, "/slow", &r);
	gw_response_free(&r);
	stop_ok();
	gw_assert_no_leaks();
}

Test(notify, a_refused_reload_is_ready_again_on_the_running_config)
{
	char msg[2048];
	start_notified(CONFIG_FAST, NULL, msg, sizeof msg);
	FILE *f = fopen(G.config, "w");
	cr_assert_not_null(f);
	fputs("{\"listen\": [", f);
	fclose(f);
	kill(G.pid, SIGHUP);
	must_notify("RELOADING=1", 5, msg, sizeof msg);
	must_notify("READY=1", 5, msg, sizeof msg);
	cr_expect(gw_log_contains(G.error_log, "keeping the running config", 2));
	struct gw_response r;
	must_get(G.port, "/hello", &r);
	gw_response_free(&r);
	stop_ok();
	gw_assert_no_leaks();
}

Test(notify, stopping_when_told_to_stop)
{
	char msg[2048];
	start_notified(CONFIG_FAST, NULL, msg, sizeof msg);
	kill(G.pid, SIGTERM);
	must_notify("STOPPING=1", 5, msg, sizeof msg);
	char *status = gw_field(msg, "STATUS=");
	cr_expect(status && strncmp(status, "stopping: ", 10) == 0, "%s", msg);
	free(status);
	expect_exit(gw_wait_exit(&G, 15), 0);
	gw_assert_no_leaks();
}

/* WATCHDOG=1 messages within seconds (others are skipped). */
static int count_pings(double seconds)
{
	char msg[2048];
	pid_t pid;
	int n = 0;
	double until = gw_now() + seconds;
	while (gw_now() < until && notify_recv(until - gw_now(), msg, sizeof msg, &pid))
		n += has_line(msg, "WATCHDOG=1");
	return n;
}

Test(notify, watchdog_pings_at_half_the_interval_while_the_loop_turns)
{
	char msg[2048];
	start_notified(CONFIG_FAST, (const char *const[]){"WATCHDOG_USEC=200000", "WATCHDOG_PID=@PID@", NULL},
	               msg, sizeof msg);
	int n = count_pings(1.0);
	cr_expect(n >= 5 && n <= 12, "%d WATCHDOG=1 in 1 s, every 0.1 s expected", n);
	/* A stopped process sends none; let it go on and they come again. */
	kill(G.pid, SIGSTOP);
	gw_sleep(0.05);
	count_pings(0.05); /* one sent as it stopped */
	cr_expect_eq(count_pings(0.5), 0, "WATCHDOG=1 while gatewayd was stopped");
	kill(G.pid, SIGCONT);
	cr_expect_gt(count_pings(0.5), 0);
	stop_ok();
	gw_assert_no_leaks();
}

Test(notify, no_watchdog_pings_when_watchdog_pid_names_another_process)
{
	char msg[2048];
	start_notified(CONFIG_FAST, (const char *const[]){"WATCHDOG_USEC=100000", "WATCHDOG_PID=1", NULL},
	               msg, sizeof msg);
	cr_expect_eq(count_pings(0.6), 0);
	stop_ok();
	gw_assert_no_leaks();
}

Test(notify, a_full_queue_delays_the_ready_after_a_reload_but_does_not_lose_it)
{
	char msg[2048];
	/* A ping every millisecond, unread: the queue is full in a few (its
	 * length is net.unix.max_dgram_qlen, 10 unless systemd raised it). */
	start_notified(CONFIG_FAST, (const char *const[]){"WATCHDOG_USEC=2000", NULL}, msg, sizeof msg);
	gw_sleep(0.3);
	kill(G.pid, SIGHUP);
	cr_assert(gw_log_contains(G.error_log, "reloaded", 5));
	gw_sleep(0.3);
	must_notify("READY=1", 5, msg, sizeof msg);
	cr_expect(gw_log_contains(G.error_log, "cannot notify systemd (NOTIFY_SOCKET): Resource "
	                                       "temporarily unavailable", 1));
	stop_ok();
	gw_assert_no_leaks();
}

Test(notify, an_abstract_socket_name)
{
	char notify[200], msg[2048];
	gw_write_config(&G, CONFIG_FAST);
	notify_open(true, notify);
	cr_assert(strncmp(notify, "NOTIFY_SOCKET=@", 15) == 0);
	start(NULL, (const char *const[]){notify, NULL}, -1);
	must_notify("READY=1", 10, msg, sizeof msg);
	kill(G.pid, SIGTERM);
	must_notify("STOPPING=1", 5, msg, sizeof msg);
	expect_exit(gw_wait_exit(&G, 15), 0);
	gw_assert_no_leaks();
}

Test(notify, a_malformed_notify_socket_or_watchdog_is_a_start_up_error)
{
	gw_write_config(&G, CONFIG_FAST);
	start(NULL, (const char *const[]){"NOTIFY_SOCKET=run/notify", NULL}, -1);
	expect_exit(gw_wait_exit(&G, 5), 1);
	cr_expect(gw_log_contains(G.error_log,
	                          "NOTIFY_SOCKET=\"run/notify\": not an absolute path or @abstract name", 1));
	start(NULL, (const char *const[]){"WATCHDOG_USEC=soon", NULL}, -1);
	expect_exit(gw_wait_exit(&G, 5), 1);
	cr_expect(gw_log_contains(G.error_log, "WATCHDOG_USEC=\"soon\": not a number", 1));
	gw_assert_no_leaks();
}

/* ---- activation ------------------------------------------------------------- */

/* Listening TCP sockets on port, from /proc/net/tcp. The kernel lists
 * listening sockets first: reading stops at the first other one, since the
 * whole table (thousands of TIME_WAIT from the other suites) takes seconds. */
static int listening_on(int port)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512];
	unsigned lport, st;
	int n = 0;
	cr_assert_not_null(f);
	if (!fgets(line, sizeof line, f))
		line[0] = '\0'; /* the header */
	while (fgets(line, sizeof line, f) &&
	       sscanf(line, " %*d: %*x:%x %*x:%*x %x", &lport, &st) == 2 && st == 0x0A)
		n += (int)lport == port;
	fclose(f);
	return n;
}

/* The socket inode behind the daemon's fd: "socket:[N]". */
static char *fd_target(int fd)
{
	char path[64], target[128];
	snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)G.pid, fd);
	ssize_t n = readlink(path, target, sizeof target - 1);
	cr_assert(n > 0, "%s: %s", path, strerror(errno));
	target[n] = '\0';
	return strdup(target);
}

/* GET path on the first connection: retried while the activator is not yet
 * listening; the connection is what wakes it. */
static void first_get(int port, const char *path, struct gw_response *r)
{
	double until = gw_now() + 5;
	int rc;
	while ((rc = get(port, path, r)) != 0 && gw_now() < until)
		gw_sleep(0.02);
	if (rc != 0 || r->status != 200)
		dump_log();
	cr_assert(rc == 0 && r->status == 200, "GET %s: %d", path, rc ? -1 : r->status);
}

static const char *const FORBIDDEN[] = {"NOTIFY_SOCKET=", "LISTEN_FDS=", "LISTEN_PID=",
                                        "LISTEN_FDNAMES=", "WATCHDOG_USEC=", "WATCHDOG_PID=", NULL};

static void expect_no_systemd_env(const char *who, const char *env)
{
	for (size_t i = 0; FORBIDDEN[i]; i++)
		cr_expect(!gw_field(env, FORBIDDEN[i]), "%s sees %s...:\n%s", who, FORBIDDEN[i], env);
}

Test(activation, a_tcp_socket_from_systemd_socket_activate_is_served_and_kept_across_reload)
{
	gw_require_file(ACTIVATE, "systemd");
	char notify[200], msg[2048], addr[64], want[160];
	gw_write_config(&G,
	                "{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}],"
	                " \"status\": {\"enabled\": true},"
	                " \"pools\": {\"env\": {\"protocol\": \"fastcgi\", \"stop_signal\": \"USR1\","
	                "   \"processes\": 1, \"command\": [\"/bin/sh\", \"-c\","
	                "   \"env > @DIR@/worker.env; exec @BUILD@/examples/hello.fcgi\"]}},"
	                " \"routes\": [{\"match\": \"=/hello\", \"pool\": \"env\"},"
	                "   {\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@SRC@/examples/cgi-bin\"}}]}");
	notify_open(false, notify);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", G.port);
	/* The activator passes on only the variables -E names (and its LISTEN_*). */
	start((const char *const[]){ACTIVATE, "-l", addr, "--fdname=web", "-E", "NOTIFY_SOCKET", "-E",
	                             "WATCHDOG_USEC", NULL},
	      (const char *const[]){notify, "WATCHDOG_USEC=60000000", NULL}, -1);
	/* The activator execs gatewayd in its place on the first connection,
	 * which gatewayd then answers. */
	struct gw_response r;
	first_get(G.port, "/cgi-bin/env.sh", &r);
	expect_no_systemd_env("a CGI script", r.body);
	cr_expect(gw_field(r.body, "GATEWAY_INTERFACE="), "not the env dump: %s", r.body);
	gw_response_free(&r);
	must_notify("READY=1", 10, msg, sizeof msg); /* from G.pid: the same process */
	snprintf(want, sizeof want, "listening for http on %s (socket from systemd: fd 3, \"web\")", addr);
	cr_expect(gw_log_contains(G.error_log, want, 2), "no \"%s\" in the log", want);
	cr_expect_eq(listening_on(G.port), 1, "one listening socket on the port: the inherited one");

	char worker_env[400];
	snprintf(worker_env, sizeof worker_env, "%s/worker.env", G.dir);
	char *env = gw_read_file(worker_env);
	cr_assert_not_null(env, "the pool's worker wrote no %s", worker_env);
	expect_no_systemd_env("a pool worker", env);
	free(env);

	char *sock = fd_target(3);
	kill(G.pid, SIGHUP);
	must_notify("RELOADING=1", 5, msg, sizeof msg);
	must_notify("READY=1", 10, msg, sizeof msg);
	cr_expect(gw_log_contains(G.error_log, "reloaded", 2));
	char *again = fd_target(3);
	cr_expect_str_eq(again, sock, "fd 3 changed across the reload");
	cr_expect_eq(listening_on(G.port), 1);
	must_get(G.port, "/hello", &r);
	gw_response_free(&r);
	free(sock);
	free(again);
	kill(G.pid, SIGTERM);
	must_notify("STOPPING=1", 5, msg, sizeof msg);
	expect_exit(gw_wait_exit(&G, 15), 0);
	gw_assert_no_leaks();
}

static int unix_get(const char *path, const char *uri, struct gw_response *r)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	char raw[512];
	snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", uri);
	gw_send_all(fd, raw, strlen(raw));
	int rc = gw_read_response(fd, false, 10, r);
	close(fd);
	return rc;
}

Test(activation, a_unix_socket_is_served_never_chmodded_and_never_unlinked)
{
	gw_require_file(ACTIVATE, "systemd");
	char path[400], want[600];
	struct stat before, now;
	gw_write_config(&G, "{\"listen\": [{\"http\": \"unix:@DIR@/http.sock\", \"mode\": \"0600\"}],"
	                    " \"routes\": [{\"match\": \"/cgi-bin/\","
	                    "   \"cgi\": {\"root\": \"@SRC@/examples/cgi-bin\"}}]}");
	snprintf(path, sizeof path, "%s/http.sock", G.dir);
	start((const char *const[]){ACTIVATE, "-l", path, NULL}, NULL, -1);
	double until = gw_now() + 5;
	while (stat(path, &before) < 0 && gw_now() < until)
		gw_sleep(0.01);
	cr_assert(S_ISSOCK(before.st_mode), "the activator made no socket at %s", path);

	struct gw_response r;
	int rc;
	while ((rc = unix_get(path, "/cgi-bin/hello.sh", &r)) != 0 && gw_now() < until)
		gw_sleep(0.02);
	cr_assert(rc == 0 && r.status == 200, "GET over %s: %d", path, rc ? -1 : r.status);
	gw_response_free(&r);
	snprintf(want, sizeof want, "listening for http on unix:%s (socket from systemd: fd 3)", path);
	cr_expect(gw_log_contains(G.error_log, want, 2), "no \"%s\" in the log", want);
	cr_assert(stat(path, &now) == 0);
	cr_expect_eq(now.st_ino, before.st_ino, "the socket file was replaced");
	cr_expect_eq(now.st_mode, before.st_mode, "the config's mode was applied to systemd's socket");

	kill(G.pid, SIGHUP);
	cr_expect(gw_log_contains(G.error_log, "reloaded", 5));
	cr_assert(stat(path, &now) == 0);
	cr_expect_eq(now.st_ino, before.st_ino, "the socket file was replaced by the reload");
	cr_assert(unix_get(path, "/cgi-bin/hello.sh", &r) == 0 && r.status == 200);
	gw_response_free(&r);
	stop_ok();
	cr_expect(stat(path, &now) == 0 && now.st_ino == before.st_ino,
	          "gatewayd unlinked the socket file it was given");
	gw_assert_no_leaks();
}

/* A listening socket on 127.0.0.1:G.port that the test holds, as systemd does. */
static int hold_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)G.port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert(fd >= 0);
	cr_assert(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
	cr_assert(listen(fd, 16) == 0);
	return fd;
}

static const char *const LISTEN_ENV[] = {"LISTEN_FDS=1", "LISTEN_PID=@PID@", "LISTEN_FDNAMES=web",
                                         NULL};

static const char *const CONFIG_CGI =
	"{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}],"
	" \"routes\": [{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@SRC@/examples/cgi-bin\"}}]}";

Test(activation, a_restart_loses_no_connection_while_the_socket_stays_with_its_holder)
{
	gw_write_config(&G, CONFIG_CGI);
	int ls = hold_socket();
	/* Without the socket, gatewayd cannot have the address: what serves below
	 * is the inherited socket. */
	start(NULL, NULL, -1);
	expect_exit(gw_wait_exit(&G, 5), 1);
	cr_expect(gw_log_contains(G.error_log, "Address already in use", 1));

	start(NULL, LISTEN_ENV, ls);
	struct gw_response r;
	must_get(G.port, "/cgi-bin/hello.sh", &r);
	gw_response_free(&r);
	stop_ok();

	/* No gatewayd runs: a client connects and asks all the same. */
	int c = gw_connect(G.port);
	cr_assert(c >= 0, "the held socket refused a connection");
	const char *req = "GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	gw_send_all(c, req, strlen(req));
	struct pollfd pfd = {.fd = c, .events = POLLIN};
	cr_assert_eq(poll(&pfd, 1, 300), 0, "an answer while no gatewayd ran");
	start(NULL, LISTEN_ENV, ls);
	cr_assert_eq(gw_read_response(c, false, 10, &r), 0, "the waiting client got no answer");
	cr_expect_eq(r.status, 200);
	gw_response_free(&r);
	close(c);
	stop_ok();
	close(ls);
	gw_assert_no_leaks();
}

Test(activation, a_socket_no_listen_entry_serves_is_refused)
{
	gw_require_file(ACTIVATE, "systemd");
	char addr[64], want[600];
	gw_write_config(&G, CONFIG_CGI);
	int other = gw_free_port();
	snprintf(addr, sizeof addr, "127.0.0.1:%d", other);
	start((const char *const[]){ACTIVATE, "-l", addr, "--fdname=stray", NULL}, NULL, -1);
	double until = gw_now() + 5;
	int fd;
	while ((fd = gw_connect(other)) < 0 && gw_now() < until)
		gw_sleep(0.02);
	cr_assert(fd >= 0);
	expect_exit(gw_wait_exit(&G, 10), 1);
	close(fd);
	snprintf(want, sizeof want, "the socket systemd passed as fd 3 (stray, %s) matches no \"listen\" "
	         "entry of %s", addr, G.config);
	cr_expect(gw_log_contains(G.error_log, want, 1), "no \"%s\" in the log", want);
	gw_assert_no_leaks();
}

Test(activation, a_reload_that_drops_an_inherited_socket_is_refused)
{
	char config[512], want[300];
	gw_write_config(&G, CONFIG_CGI);
	int ls = hold_socket(), other = gw_free_port();
	start(NULL, LISTEN_ENV, ls);
	struct gw_response r;
	must_get(G.port, "/cgi-bin/hello.sh", &r);
	gw_response_free(&r);
	snprintf(config, sizeof config,
	         "{\"listen\": [{\"http\": \"127.0.0.1:%d\"}],"
	         " \"routes\": [{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@SRC@/examples/cgi-bin\"}}]}",
	         other);
	gw_write_config(&G, config);
	kill(G.pid, SIGHUP);
	snprintf(want, sizeof want, "reload: the socket systemd passed as fd 3 (web, 127.0.0.1:%d) "
	         "matches no \"listen\" entry", G.port);
	cr_expect(gw_log_contains(G.error_log, want, 5), "no \"%s\" in the log", want);
	must_get(G.port, "/cgi-bin/hello.sh", &r);
	gw_response_free(&r);
	cr_expect_eq(gw_connect(other), -1, "the refused config's address listens");
	stop_ok();
	close(ls);
	gw_assert_no_leaks();
}

Test(activation, accepted_connections_are_refused)
{
	gw_require_file(ACTIVATE, "systemd");
	char addr[64];
	gw_write_config(&G, CONFIG_CGI);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", G.port);
	/* --accept: a gatewayd per connection, given the connection (Accept=yes). */
	start((const char *const[]){ACTIVATE, "--accept", "-l", addr, NULL}, NULL, -1);
	double until = gw_now() + 5;
	int fd;
	while ((fd = gw_connect(G.port)) < 0 && gw_now() < until)
		gw_sleep(0.02);
	cr_assert(fd >= 0);
	size_t len;
	char *answer = gw_read_all(fd, 5, &len);
	cr_expect_eq(len, 0, "an answer over an accepted connection: %s", answer);
	free(answer);
	close(fd);
	cr_expect(gw_log_contains(G.error_log, "a connection, not a listening socket", 5));
	gw_stop(&G, 5); /* the activator */
	gw_assert_no_leaks();
}

/* ---- units ------------------------------------------------------------------ */

/* Run cmd with sh; its exit status, and its stdout+stderr in *out (malloc'd). */
static int run(const char *cmd, char **out)
{
	char *full = NULL;
	cr_assert(asprintf(&full, "(%s) 2>&1", cmd) > 0);
	FILE *p = popen(full, "r");
	cr_assert_not_null(p);
	size_t len;
	*out = gw_read_all(fileno(p), 90, &len);
	int st = pclose(p);
	free(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(units, installed_units_pass_systemd_analyze_verify)
{
	gw_require_file(ANALYZE, "systemd");
	char *cmd = NULL, *out = NULL, unit[400], sock[400], want[800];
	snprintf(G.dir, sizeof G.dir, "/tmp/gwtest.XXXXXX");
	cr_assert_not_null(mkdtemp(G.dir));
	/* The make of this build tree, not the one running make check. */
	cr_assert(asprintf(&cmd, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C '%s' install "
	                   "prefix='%s/usr' systemdsystemunitdir='%s/units'",
	                   gw_builddir(), G.dir, G.dir) > 0);
	int rc = run(cmd, &out);
	cr_assert_eq(rc, 0, "%s:\n%s", cmd, out);
	free(cmd);
	free(out);

	snprintf(unit, sizeof unit, "%s/units/gatewayd.service", G.dir);
	snprintf(sock, sizeof sock, "%s/units/gatewayd-fastcgi.socket", G.dir);
	char *text = gw_read_file(unit), *socket_text = gw_read_file(sock);
	cr_assert_not_null(text, "make install wrote no %s", unit);
	cr_assert_not_null(socket_text, "make install wrote no %s", sock);
	cr_expect(!strchr(text, '@') || !strstr(text, "dir@"), "a placeholder is left:\n%s", text);
	cr_expect(has_line(text, "Type=notify"));
	cr_expect(has_line(text, "ExecReload=/bin/kill -HUP $MAINPID"));
	snprintf(want, sizeof want, "ExecStart=%s/usr/bin/gatewayd -c %s/usr/etc/gatewayd.json", G.dir,
	         G.dir);
	cr_expect(has_line(text, want), "no \"%s\" in\n%s", want, text);
	cr_expect(has_line(socket_text, "ListenStream=/run/gatewayd/fcgi.sock"));
	cr_expect(has_line(socket_text, "Service=gatewayd.service"));

	/* systemd's own check; it also finds the ExecStart= program missing. */
	cr_assert(asprintf(&cmd, ANALYZE " verify '%s' '%s'", unit, sock) > 0);
	rc = run(cmd, &out);
	cr_expect(rc == 0 && out[0] == '\0', "%s: exit %d:\n%s", cmd, rc, out);
	free(cmd);
	free(out);

	/* The unit's ExecStartPre= line, run as it stands. */
	char *pre = gw_field(text, "ExecStartPre=");
	cr_assert_not_null(pre);
	rc = run(pre, &out);
	cr_expect(rc == 0 && strstr(out, "test is successful"), "%s: exit %d:\n%s", pre, rc, out);
	free(pre);
	free(out);

	/* The check does catch a broken unit. */
	cr_assert(asprintf(&cmd, "mkdir '%s/bad' && sed 's/^Type=notify$/Type=notify-when-ready/' '%s' "
	                   "> '%s/bad/gatewayd.service' && " ANALYZE " verify '%s/bad/gatewayd.service'",
	                   G.dir, unit, G.dir, G.dir) > 0);
	rc = run(cmd, &out);
	cr_expect(strstr(out, "Failed to parse service type"), "%s: exit %d:\n%s", cmd, rc, out);
	free(cmd);
	free(out);

	cr_assert(asprintf(&cmd, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C '%s' uninstall "
	                   "prefix='%s/usr' systemdsystemunitdir='%s/units'",
	                   gw_builddir(), G.dir, G.dir) > 0);
	rc = run(cmd, &out);
	cr_expect_eq(rc, 0, "%s:\n%s", cmd, out);
	cr_expect(access(unit, F_OK) < 0 && access(sock, F_OK) < 0, "make uninstall left a unit");
	free(cmd);
	free(out);
	free(text);
	free(socket_text);
	gw_assert_no_leaks();
}
