/* gatewayd/upstream/peer.h: the engine's one way to a peer, over both
 * sources, against real processes: spawned workers (workers.c over the
 * spawner, the demo's hello.fcgi answering a real FastCGI request at the
 * address a peer names) and external addresses (external.c: a listening
 * socket of the test's, and a port nothing listens on). */
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
#include <sys/wait.h>
#include <unistd.h>

#include "test/test_loop.h"
#include "test/test_spawner.h"
#include "gatewayd/core/log.h"
#include "gatewayd/upstream/external.h"
#include "gatewayd/upstream/peer.h"
#include "gatewayd/upstream/workers.h"
#include "protocols/fastcgi.h"

static struct ev_loop *loop;
static char dir[64];
static char hello[4096];
static char *argv_hello[] = {hello, NULL};
static struct peers *ps;

/* What the engine would have heard. */
static struct {
	int idle, stopping, gone;
	struct peer *stopping_peer, *gone_peer;
	int gone_status;
} heard;

static void on_idle(void *owner)
{
	cr_assert_eq(owner, &heard, "a hook without its owner");
	heard.idle++;
}

static bool on_stopping(void *owner, struct peer *pe)
{
	heard.stopping++;
	heard.stopping_peer = pe;
	return true;
}

static void on_gone(void *owner, struct peer *pe, int st)
{
	heard.gone++;
	heard.gone_peer = pe;
	heard.gone_status = st;
	if (pe)
		cr_assert_null(pe->job, "a gone peer still holds the engine's job");
}

static const struct peer_hooks hooks = {.idle = on_idle, .stopping = on_stopping, .gone = on_gone};

static void setup(void)
{
	loop = EV_DEFAULT;
	memset(&heard, 0, sizeof heard);
	snprintf(dir, sizeof dir, "/tmp/gw-test-peers.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	const char *b = getenv("GW_BUILDDIR");
	snprintf(hello, sizeof hello, "%s/examples/hello.fcgi", b ? b : ".");
	cr_assert_eq(access(hello, X_OK), 0, "%s: %s", hello, strerror(errno));
	log_open_error(NULL, LOG_WARN);
}

static bool run_until(bool (*cond)(void), double seconds)
{
	return test_loop_until(loop, cond, seconds);
}

static struct source_facts facts(void)
{
	struct source_facts f;
	peers_facts(ps, &f);
	return f;
}

static unsigned want_idle;
static bool idle_reached(void)
{
	return facts().count[PEER_IDLE] >= want_idle;
}

static bool none_alive(void)
{
	return facts().alive == 0;
}

static void teardown(void)
{
	if (ps) {
		ps->src->drain(ps);
		ps->src->kill_all(ps);
		run_until(none_alive, 5);
		cr_expect_eq(facts().alive, 0, "processes outlived the test");
		ps->src->free(ps);
		ps = NULL;
	}
	test_spawner_stop();
	cr_expect_eq(waitpid(-1, NULL, WNOHANG), -1, "a child is left unreaped");
	rmdir(dir);
}

TestSuite(peers, .init = setup, .fini = teardown);

/* ---- spawned workers ------------------------------------------------------ */

static void start_workers(int n, unsigned max_requests, enum pool_sizing sizing, int max)
{
	struct pool_settings set = {
		.name = "w", .socket_name = "w", .sizing = sizing, .start = n, .max = max,
		.max_spare = max, .max_requests = max_requests, .stop_signal = SIGTERM,
		.start_timeout = 10, .socket_dir = dir,
	};
	test_spawner_start(loop, "w", argv_hello);
	cr_assert_eq(workers_start(&ps, loop, &set, &hooks, &heard), 0);
	cr_assert_str_eq(ps->src->kind, "workers");
	want_idle = (unsigned)n;
	cr_assert(run_until(idle_reached, 10), "%d workers not idle", n);
}

/* One FastCGI request to address, blocking; the STDOUT text (static). */
static const char *fastcgi_get(const char *address)
{
	bool done;
	int fd = peer_connect(address, &done);
	cr_assert_geq(fd, 0, "connect %s: %s", address, strerror(-fd));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	uint8_t req[64];
	size_t n = 16;
	fcgi_begin_request_encode(req, 1, FCGI_RESPONDER, 0);
	n += (size_t)fcgi_stream_encode(req + n, sizeof req - n, FCGI_PARAMS, 1, NULL, 0);
	n += (size_t)fcgi_stream_encode(req + n, sizeof req - n, FCGI_STDIN, 1, NULL, 0);
	cr_assert_eq(write(fd, req, n), (ssize_t)n);
	static uint8_t in[65536];
	static char out[4096];
	size_t have = 0, olen = 0;
	bool ended = false;
	while (!ended) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		cr_assert_eq(poll(&p, 1, 5000), 1, "no answer from %s", address);
		ssize_t r = read(fd, in + have, sizeof in - have);
		cr_assert_gt(r, 0, "%s closed before END_REQUEST", address);
		have += (size_t)r;
		struct fcgi_record rec;
		ssize_t used;
		while ((used = fcgi_record_decode(in, have, &rec)) > 0) {
			if (rec.type == FCGI_STDOUT && olen + rec.content_length < sizeof out) {
				memcpy(out + olen, rec.content, rec.content_length);
				olen += rec.content_length;
			}
			ended |= rec.type == FCGI_END_REQUEST;
			memmove(in, in + used, have - (size_t)used);
			have -= (size_t)used;
		}
		cr_assert_geq(used, 0);
	}
	close(fd);
	out[olen] = '\0';
	return out;
}

static void worker_row(const struct peer_facts *f, void *arg)
{
	struct peer_facts *want = arg;
	if (f->peer == want->peer)
		*want = *f;
}

/* The facts each() reports of pe. */
static struct peer_facts facts_of(struct peer *pe)
{
	struct peer_facts f = {.peer = pe, .slot = ~0u};
	ps->src->each(ps, worker_row, &f);
	cr_assert_neq(f.slot, ~0u, "each() does not list the peer %s", pe->who);
	return f;
}

Test(peers, a_worker_is_a_peer_at_an_address_where_it_answers)
{
	start_workers(2, 0, POOL_SIZE_STATIC, 2);
	struct peer *pe = peer_take(ps);
	cr_assert_not_null(pe);
	cr_assert_eq(pe->from, ps);
	cr_assert(pe->keeps_connection && pe->has_backlog);
	cr_assert_eq(strncmp(pe->address, "unix:", 5), 0, "%s", pe->address);
	struct peer_facts f = facts_of(pe);
	cr_assert_eq(f.state, PEER_BUSY);
	cr_assert_gt(f.pid, 0);
	char pid[32];
	snprintf(pid, sizeof pid, "(pid %d)", (int)f.pid);
	cr_assert(strstr(pe->who, pid), "%s names no pid %d", pe->who, (int)f.pid);
	const char *out = fastcgi_get(pe->address);
	char want[64];
	snprintf(want, sizeof want, "Hello from C, pid %d, request 1 ", (int)f.pid);
	cr_assert(strstr(out, want), "the peer's address is not its worker's: %s", out);
	peer_served(pe);
	peer_release(pe);
	f = facts_of(pe);
	cr_assert_eq(f.state, PEER_IDLE);
	cr_assert_eq(f.requests, 1);
	struct source_facts sf = facts();
	cr_assert_eq(sf.served, 1);
	cr_assert_eq(sf.spawns, 2);
	cr_assert_eq(sf.alive, 2);
	cr_assert(!sf.grows && !sf.draining);
	cr_assert_eq(heard.idle, 3, "idle heard %d times (2 ready, 1 released)", heard.idle);
}

Test(peers, each_idle_worker_is_taken_once)
{
	start_workers(3, 0, POOL_SIZE_STATIC, 3);
	struct peer *got[3];
	for (int i = 0; i < 3; i++) {
		got[i] = peer_take(ps);
		cr_assert_not_null(got[i]);
		for (int k = 0; k < i; k++)
			cr_assert_neq(got[i], got[k], "one worker taken twice");
	}
	cr_assert_null(peer_take(ps));
	cr_assert_eq(facts().count[PEER_BUSY], 3);
	peer_release(got[1]);
	cr_assert_eq(peer_take(ps), got[1]);
}

static bool gone_and_replaced(void)
{
	return heard.gone == 1 && facts().count[PEER_IDLE] == 1;
}

Test(peers, a_failed_worker_is_killed_gone_with_its_peer_and_replaced)
{
	start_workers(1, 0, POOL_SIZE_STATIC, 1);
	struct peer *pe = peer_take(ps);
	pid_t pid = facts_of(pe).pid;
	peer_failed(pe, "test: connect failed");
	cr_assert(run_until(gone_and_replaced, 10), "gone %d, idle %u", heard.gone,
	          facts().count[PEER_IDLE]);
	cr_assert_eq(heard.gone_peer, pe, "gone reported another peer");
	cr_assert(WIFSIGNALED(heard.gone_status) && WTERMSIG(heard.gone_status) == SIGKILL);
	cr_assert_neq(kill(pid, 0), 0, "the failed worker %d lives on", (int)pid);
	struct peer *next = peer_take(ps);
	cr_assert_neq(facts_of(next).pid, pid);
	cr_assert_eq(facts().crashes, 0);
	cr_assert_eq(facts().spawns, 2);
}

Test(peers, an_abandoned_worker_is_killed_and_replaced)
{
	start_workers(1, 0, POOL_SIZE_STATIC, 1);
	struct peer *pe = peer_take(ps);
	peer_abandon(pe, "test: request_timeout");
	cr_assert(run_until(gone_and_replaced, 10));
	cr_assert_eq(heard.gone_peer, pe);
}

Test(peers, a_worker_is_recycled_after_max_requests_through_release)
{
	start_workers(1, 2, POOL_SIZE_STATIC, 1);
	cr_assert_eq(facts().max_requests, 2);
	struct peer *pe = peer_take(ps);
	const char *addr = pe->address;
	cr_assert(strstr(fastcgi_get(addr), "request 1 "));
	peer_served(pe);
	peer_release(pe);
	cr_assert_eq(peer_take(ps), pe);
	cr_assert(strstr(fastcgi_get(addr), "request 2 "));
	peer_served(pe);
	peer_release(pe);
	cr_assert_eq(heard.stopping, 1, "recycling did not say it stops the worker");
	cr_assert_eq(heard.stopping_peer, pe);
	cr_assert_eq(facts_of(pe).state, PEER_DRAINING);
	cr_assert_null(peer_take(ps), "a recycled worker was taken");
	cr_assert(run_until(gone_and_replaced, 10));
	struct peer *next = peer_take(ps);
	cr_assert(strstr(fastcgi_get(next->address), "request 1 "), "not a fresh worker");
	cr_assert_eq(facts().crashes, 0);
}

Test(peers, a_source_that_may_grow_says_so)
{
	start_workers(1, 0, POOL_SIZE_DYNAMIC, 2);
	cr_assert(facts().grows);
	peer_take(ps);
	ps->src->set_waiting(ps, 1);
	ps->src->demand(ps);
	want_idle = 1;
	cr_assert(run_until(idle_reached, 10), "no worker started on demand");
	ps->src->set_waiting(ps, 0);
	cr_assert(!facts().grows, "at its max and still growing");
}

Test(peers, draining_workers_stop_idle_now_and_busy_on_release)
{
	start_workers(2, 0, POOL_SIZE_STATIC, 2);
	struct peer *busy = peer_take(ps);
	ps->src->drain(ps);
	cr_assert(facts().draining);
	cr_assert_eq(facts_of(busy).state, PEER_BUSY);
	cr_assert_eq(facts().count[PEER_DRAINING], 1);
	peer_served(busy);
	peer_release(busy);
	cr_assert(run_until(none_alive, 5));
	cr_assert_eq(heard.gone, 2);
}

/* ---- external addresses ---------------------------------------------------- */

/* A port on 127.0.0.1 that listens (the fd) or, closed at once, does not. */
static int tcp_port(int *listening)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	if (listening) {
		cr_assert_eq(listen(fd, 8), 0);
		*listening = fd;
	} else {
		close(fd);
	}
	return ntohs(a.sin_port);
}

static int live_fd = -1;
static char live[32], dead[32];

static void start_external(int connections, double rest)
{
	snprintf(dead, sizeof dead, "127.0.0.1:%d", tcp_port(NULL));
	snprintf(live, sizeof live, "127.0.0.1:%d", tcp_port(&live_fd));
	char *addresses[] = {dead, live, NULL};
	ps = external_start(loop, "ext", addresses, connections, rest, &hooks, &heard);
	cr_assert_not_null(ps);
	cr_assert_str_eq(ps->src->kind, "external");
}

struct slot_list {
	struct peer_facts f[8];
	int n;
};

static void list_slot(const struct peer_facts *f, void *arg)
{
	struct slot_list *l = arg;
	if (l->n < 8)
		l->f[l->n++] = *f;
}

static struct slot_list slots(void)
{
	struct slot_list l = {.n = 0};
	ps->src->each(ps, list_slot, &l);
	return l;
}

Test(peers, external_addresses_have_n_slots_each_in_order)
{
	start_external(2, 5);
	struct slot_list l = slots();
	cr_assert_eq(l.n, 4);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(l.f[i].slot, (unsigned)i);
		cr_assert_str_eq(l.f[i].address, i < 2 ? dead : live);
		cr_assert_eq(l.f[i].state, PEER_IDLE);
		cr_assert_eq(l.f[i].pid, 0, "an external slot with a pid");
		cr_assert_not_null(l.f[i].peer);
	}
	struct peer *pe = peer_take(ps);
	cr_assert_eq(pe, l.f[0].peer, "not the first slot first");
	cr_assert(!pe->keeps_connection && !pe->has_backlog);
	char who[64];
	snprintf(who, sizeof who, "ext#0 (%s)", dead);
	cr_assert_str_eq(pe->who, who);
	struct source_facts f = facts();
	cr_assert(f.alive == 0 && f.spawns == 0 && f.crashes == 0 && !f.grows);
	cr_assert_eq(f.count[PEER_BUSY], 1);
	cr_assert_eq(f.count[PEER_IDLE], 3);
	/* The live address accepts, as the engine's connect would. */
	bool done;
	int fd = peer_connect(l.f[2].peer->address, &done);
	cr_assert_geq(fd, 0);
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	cr_assert_eq(poll(&p, 1, 2000), 1);
	int err = -1;
	socklen_t len = sizeof err;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	cr_assert_eq(err, 0, "connect to the live address: %s", strerror(err));
	close(fd);
	close(live_fd);
}

static bool rested(void)
{
	return facts().count[PEER_DEAD] == 0;
}

Test(peers, a_failed_address_rests_its_idle_slots_and_comes_back)
{
	start_external(2, 0.3);
	struct peer *pe = peer_take(ps);
	cr_assert_str_eq(pe->address, dead);
	peer_failed(pe, "connection refused");
	struct slot_list l = slots();
	cr_assert(l.f[0].state == PEER_DEAD && l.f[1].state == PEER_DEAD,
	          "the failed address's slots are %s and %s", peer_state_name(l.f[0].state),
	          peer_state_name(l.f[1].state));
	cr_assert(l.f[2].state == PEER_IDLE && l.f[3].state == PEER_IDLE);
	struct peer *a = peer_take(ps), *b = peer_take(ps);
	cr_assert_str_eq(a->address, live);
	cr_assert_str_eq(b->address, live);
	cr_assert_null(peer_take(ps), "a resting slot was taken");
	heard.idle = 0;
	peer_served(a);
	peer_release(a);
	cr_assert_eq(heard.idle, 1);
	cr_assert(run_until(rested, 3), "the address never came back");
	cr_assert_eq(heard.idle, 3, "back in service, unheard (%d)", heard.idle);
	cr_assert_eq(peer_take(ps), pe, "the first slot, back, is not taken first");
	cr_assert_eq(facts().served, 1);
	cr_assert_eq(slots().f[2].requests, 1);
	close(live_fd);
}

Test(peers, a_busy_slot_of_a_failed_address_finds_out_for_itself)
{
	start_external(2, 5);
	struct peer *a = peer_take(ps), *b = peer_take(ps);
	cr_assert_str_eq(b->address, dead);
	peer_failed(a, "connection refused");
	struct slot_list l = slots();
	cr_assert_eq(l.f[0].state, PEER_DEAD);
	cr_assert_eq(l.f[1].state, PEER_BUSY, "a busy slot was taken out from under its request");
	close(live_fd);
}

Test(peers, an_abandoned_external_slot_is_counted_and_free_again)
{
	start_external(1, 5);
	struct peer *pe = peer_take(ps);
	peer_abandon(pe, "request_timeout");
	struct slot_list l = slots();
	cr_assert_eq(l.f[0].state, PEER_IDLE, "not ours to kill, but it is free again");
	cr_assert_eq(l.f[0].requests, 1);
	cr_assert_eq(heard.gone, 0);
	close(live_fd);
}

Test(peers, draining_external_slots_end_idle_now_and_busy_on_release)
{
	start_external(1, 5);
	struct peer *busy = peer_take(ps);
	ps->src->drain(ps);
	cr_assert(facts().draining);
	struct slot_list l = slots();
	cr_assert_eq(l.f[0].state, PEER_BUSY);
	cr_assert_eq(l.f[1].state, PEER_DEAD);
	peer_release(busy);
	cr_assert_eq(slots().f[0].state, PEER_DEAD);
	cr_assert_null(peer_take(ps));
	close(live_fd);
}
