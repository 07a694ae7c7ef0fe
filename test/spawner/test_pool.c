/* spawner/pool.c as a process supervisor: it starts real workers (the demo's
 * hello.fcgi, /bin/sh, /bin/sleep), sees them accept, exit and write to
 * stderr, recycles them, backs off, and hands them out through its small
 * peer interface (take, served, release, kill) without knowing what they
 * serve. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/test_loop.h"
#include "spawner/pool.h"
#include "test/test_spawner.h"

static struct ev_loop *loop;
static char dir[64];
static char hello[4096];
static struct pool P;

/* What the hooks saw. */
static struct {
	int idle, stopping, exited, stderr_lines;
	int refuse_stops; /* the stopping hook says "taken meanwhile" this many times */
	int last_status;
	void *last_peer;
	pid_t last_pid;
	char last_line[256];
} seen;

static void hook_log(int level, const char *fmt, ...)
{
	va_list ap;
	if (level > 1)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "pool log %d: ", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void hook_idle(struct pool *p, struct worker *w)
{
	seen.idle++;
}

static bool hook_stopping(struct pool *p, struct worker *w)
{
	if (seen.refuse_stops > 0) {
		seen.refuse_stops--;
		return false;
	}
	seen.stopping++;
	return true;
}

static void hook_stderr(struct pool *p, struct worker *w, const char *line, size_t len,
                        unsigned part, bool more)
{
	seen.stderr_lines++;
	snprintf(seen.last_line, sizeof seen.last_line, "%.*s", (int)len, line);
}

static void hook_exited(struct pool *p, struct worker *w, int st)
{
	seen.exited++;
	seen.last_status = st;
	seen.last_peer = w->peer;
	seen.last_pid = w->pid;
}

static const struct pool_hooks hooks = {
	.log = hook_log,
	.idle = hook_idle,
	.stopping = hook_stopping,
	.stderr_line = hook_stderr,
	.exited = hook_exited,
};

static void setup(void)
{
	loop = EV_DEFAULT;
	memset(&seen, 0, sizeof seen);
	snprintf(dir, sizeof dir, "/tmp/gw-test-pool.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	const char *b = getenv("GW_BUILDDIR");
	snprintf(hello, sizeof hello, "%s/examples/hello.fcgi", b ? b : ".");
	cr_assert_eq(access(hello, X_OK), 0, "%s: %s", hello, strerror(errno));
}

static bool run_until(bool (*cond)(void), double seconds)
{
	return test_loop_until(loop, cond, seconds);
}

static unsigned want_idle;
static bool idle_reached(void)
{
	return P.count[WORKER_IDLE] >= want_idle;
}

static bool none_alive(void)
{
	return pool_alive(&P) == 0;
}

static void teardown(void)
{
	if (P.loop) {
		pool_drain(&P);
		pool_kill_all(&P);
		run_until(none_alive, 5);
		cr_expect_eq(pool_alive(&P), 0, "workers outlived the test");
		pool_free(&P);
		memset(&P, 0, sizeof P);
	}
	test_spawner_stop();
	cr_expect_eq(waitpid(-1, NULL, WNOHANG), -1, "a child is left unreaped");
	rmdir(dir);
}

/* The pool keeps pointers to its settings' strings: they live as long. */
static char *argv_hello[] = {hello, NULL};

static struct pool_settings settings(char *const *argv, int start)
{
	test_spawner_start(loop, "t", argv);
	return (struct pool_settings){
		.name = "t", .socket_name = "t", .sizing = POOL_SIZE_STATIC, .start = start,
		.max = start, .stop_signal = SIGTERM, .start_timeout = 10, .socket_dir = dir,
	};
}

static void start_hello(int n, unsigned max_requests)
{
	struct pool_settings set = settings(argv_hello, n);
	set.max_requests = max_requests;
	cr_assert_eq(pool_start(&P, loop, &set, &hooks, NULL), 0);
	want_idle = (unsigned)n;
	cr_assert(run_until(idle_reached, 10), "%d workers not idle: %u", n, P.count[WORKER_IDLE]);
}

TestSuite(pool, .init = setup, .fini = teardown);

Test(pool, workers_start_on_a_socket_of_their_own_and_are_seen_accepting)
{
	start_hello(2, 0);
	cr_assert_eq(P.spawns, 2);
	cr_assert_eq(seen.idle, 2, "the idle hook ran %d times", seen.idle);
	for (struct worker *w = P.workers; w; w = w->next) {
		struct stat st;
		cr_assert_eq(kill(w->pid, 0), 0, "worker %d is not running", (int)w->pid);
		cr_assert_eq(strncmp(w->address, "unix:", 5), 0, "%s", w->address);
		cr_assert_eq(stat(w->address + 5, &st), 0, "%s", w->address);
		cr_assert(S_ISSOCK(st.st_mode));
		cr_assert_null(w->peer, "the pool set the dispatcher's pointer");
	}
	cr_assert(pool_at_full_size(&P));
}

Test(pool, take_and_release_hand_out_each_idle_worker_once)
{
	start_hello(2, 0);
	struct worker *a = pool_take(&P), *b = pool_take(&P);
	cr_assert(a && b && a != b);
	cr_assert_null(pool_take(&P), "a third worker out of two");
	cr_assert_eq(a->state, WORKER_BUSY);
	cr_assert_eq(P.count[WORKER_BUSY], 2);
	pool_served(&P, a);
	pool_release(&P, a);
	pool_release(&P, b); /* taken but never reached: not counted */
	cr_assert_eq(a->state, WORKER_IDLE);
	cr_assert_eq(a->requests, 1);
	cr_assert_eq(b->requests, 0);
	cr_assert_eq(P.served, 1);
	cr_assert_eq(seen.idle, 4);
	cr_assert_eq(pool_take(&P), a, "the first idle worker is taken first");
}

static bool replaced_and_reaped(void)
{
	return idle_reached() && seen.exited >= 1;
}

Test(pool, a_worker_is_recycled_after_max_requests_and_replaced)
{
	start_hello(1, 2);
	struct worker *w = pool_take(&P);
	pid_t first = w->pid;
	pool_served(&P, w);
	pool_release(&P, w);
	cr_assert_eq(w->state, WORKER_IDLE, "recycled after 1 of 2 requests");
	w = pool_take(&P);
	pool_served(&P, w);
	pool_release(&P, w);
	cr_assert_eq(w->state, WORKER_DRAINING, "not stopping after its max_requests");
	cr_assert_eq(seen.stopping, 1);
	want_idle = 1;
	/* The replacement may be ready before the old worker's exit is reaped:
	 * wait for both, in either order. */
	cr_assert(run_until(replaced_and_reaped, 10), "no replacement, or the old worker not reaped");
	cr_assert_eq(seen.exited, 1);
	cr_assert_eq(seen.last_pid, first);
	/* Told by the stop signal (libfcgi's worker exits 0 on it, woken by a connection). */
	cr_assert((WIFSIGNALED(seen.last_status) && WTERMSIG(seen.last_status) == SIGTERM) ||
	          (WIFEXITED(seen.last_status) && WEXITSTATUS(seen.last_status) == 0),
	          "status %#x: not the stop signal's", seen.last_status);
	cr_assert_eq(P.crashes, 0, "a recycled worker counted as a crash");
	cr_assert_eq(P.spawns, 2);
	cr_assert_neq(P.workers->pid, first);
	cr_assert_eq(P.workers->requests, 0);
}

Test(pool, a_killed_worker_exits_with_the_dispatchers_pointer_and_is_replaced)
{
	start_hello(1, 0);
	struct worker *w = pool_take(&P);
	int marker;
	w->peer = &marker;
	pid_t pid = w->pid;
	pool_kill(&P, w, "test");
	want_idle = 1;
	cr_assert(run_until(replaced_and_reaped, 10), "no replacement, or the killed one not reaped");
	cr_assert_eq(seen.exited, 1);
	cr_assert_eq(seen.last_peer, &marker, "the exit hook lost the dispatcher's pointer");
	cr_assert_eq(seen.last_pid, pid);
	cr_assert(WIFSIGNALED(seen.last_status) && WTERMSIG(seen.last_status) == SIGKILL);
	cr_assert_eq(P.crashes, 0, "a kill asked for is no crash");
	cr_assert_null(P.workers->peer);
}

static bool crashed_and_replaced(void)
{
	return P.crashes == 1 && P.count[WORKER_IDLE] == 1;
}

Test(pool, a_worker_killed_from_outside_is_a_crash_and_replaced)
{
	start_hello(1, 0);
	pid_t pid = P.workers->pid;
	cr_assert_eq(kill(pid, SIGKILL), 0);
	cr_assert(run_until(crashed_and_replaced, 10), "no replacement");
	cr_assert(WIFSIGNALED(seen.last_status) && WTERMSIG(seen.last_status) == SIGKILL);
	cr_assert_eq(P.crashes, 1);
	cr_assert_neq(P.workers->pid, pid);
}

static bool backed_off(void)
{
	return P.crashes >= 3;
}

Test(pool, workers_that_die_young_back_off_exponentially)
{
	static char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
	struct pool_settings set = settings(argv, 1);
	cr_assert_eq(pool_start(&P, loop, &set, &hooks, NULL), 0);
	ev_tstamp t0 = ev_time();
	cr_assert(run_until(backed_off, 10), "%lu crashes", P.crashes);
	/* 0.25 s, then 0.5 s between the spawns: never a burst. */
	cr_assert_geq(ev_time() - t0, 0.7, "three crashes in %.2f s", ev_time() - t0);
	cr_assert_geq(P.backoff, 1.0, "back-off %.2f after 3 crashes", P.backoff);
	cr_assert(WIFEXITED(seen.last_status) && WEXITSTATUS(seen.last_status) == 3);
	cr_assert_leq(P.spawns, P.crashes + 1);
}

static bool first_gone(void)
{
	return seen.exited >= 1;
}

Test(pool, a_worker_not_accepting_by_start_timeout_is_killed)
{
	static char *argv[] = {"/bin/sleep", "30", NULL};
	struct pool_settings set = settings(argv, 1);
	set.start_timeout = 0.3;
	cr_assert_eq(pool_start(&P, loop, &set, &hooks, NULL), 0);
	cr_assert_eq(P.workers->state, WORKER_STARTING);
	cr_assert_null(pool_take(&P), "a starting worker was handed out");
	cr_assert(run_until(first_gone, 5), "the sleeper outlived its start_timeout");
	cr_assert(WIFSIGNALED(seen.last_status) && WTERMSIG(seen.last_status) == SIGKILL);
	cr_assert_eq(seen.idle, 0);
}

static bool got_line(void)
{
	return seen.stderr_lines > 0;
}

Test(pool, a_workers_stderr_comes_line_by_line)
{
	static char script[4200];
	snprintf(script, sizeof script, "echo 'hello on stderr' >&2; exec %s", hello);
	static char *argv[] = {"/bin/sh", "-c", script, NULL};
	struct pool_settings set = settings(argv, 1);
	cr_assert_eq(pool_start(&P, loop, &set, &hooks, NULL), 0);
	cr_assert(run_until(got_line, 5));
	cr_assert_str_eq(seen.last_line, "hello on stderr");
	want_idle = 1;
	cr_assert(run_until(idle_reached, 10), "the exec'd worker is not accepting");
}

Test(pool, drain_stops_idle_workers_now_and_busy_ones_when_released)
{
	start_hello(2, 0);
	struct worker *busy = pool_take(&P);
	pool_drain(&P);
	cr_assert_eq(busy->state, WORKER_BUSY, "a busy worker stopped under its request");
	cr_assert_eq(P.count[WORKER_DRAINING], 1);
	cr_assert_eq(seen.stopping, 1);
	cr_assert(!run_until(none_alive, 0.5), "the busy worker exited before its release");
	pool_served(&P, busy);
	pool_release(&P, busy);
	cr_assert_eq(busy->state, WORKER_DRAINING);
	cr_assert(run_until(none_alive, 5), "%u alive after the drain", pool_alive(&P));
	cr_assert_eq(P.crashes, 0);
}

/* The pools' board: the master drains from what it last saw, and a
 * dispatcher may have claimed an idle worker since. The stopping hook says
 * so; the worker is left running, busy, and stops when released. */
Test(pool, a_worker_taken_meanwhile_is_not_stopped_until_released)
{
	start_hello(2, 0);
	seen.refuse_stops = 1;
	pool_drain(&P);
	struct worker *taken = P.workers->state == WORKER_BUSY ? P.workers : P.workers->next;
	cr_assert_eq(taken->state, WORKER_BUSY, "the worker taken meanwhile is not busy");
	cr_assert_eq(P.count[WORKER_DRAINING], 1);
	cr_assert_eq(seen.stopping, 1);
	cr_assert(!run_until(none_alive, 0.5), "the worker taken meanwhile exited");
	cr_assert_eq(kill(taken->pid, 0), 0, "worker %d was signalled", (int)taken->pid);
	pool_served(&P, taken);
	pool_release(&P, taken);
	cr_assert_eq(taken->state, WORKER_DRAINING);
	cr_assert(run_until(none_alive, 5), "%u alive after the drain", pool_alive(&P));
	cr_assert_eq(P.crashes, 0);
}

Test(pool, a_pool_that_may_grow_is_not_at_full_size)
{
	struct pool_settings set = settings(argv_hello, 1);
	set.sizing = POOL_SIZE_DYNAMIC;
	set.max = 2;
	set.min_spare = 0;
	set.max_spare = 2;
	cr_assert_eq(pool_start(&P, loop, &set, &hooks, NULL), 0);
	want_idle = 1;
	cr_assert(run_until(idle_reached, 10));
	cr_assert(!pool_at_full_size(&P), "one of two, and at full size");
	pool_take(&P);
	P.waiting = 1;
	pool_demand(&P);
	want_idle = 1;
	cr_assert(run_until(idle_reached, 10), "no worker started for the waiting request");
	cr_assert_eq(P.spawns, 2);
	cr_assert(pool_at_full_size(&P));
	P.waiting = 0;
}
