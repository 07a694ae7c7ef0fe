/* gatewayd/core/conn.c: the one connection type, over a real socketpair and
 * the real loop: input handed to the owner, EOF, the optimistic write loop
 * with a full socket and the owner refilling, one lazily re-armed deadline,
 * a kick, the deferred free (c->closed readable inside the callback that
 * closed it), the client registry and its count. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gatewayd/core/conn.h"
#include "gatewayd/core/server.h"
#include "test/gatewayd/fixture.h"
#include "test/test_loop.h"

static const char config[] = "{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"routes\": []}";

static void setup(void)
{
	fx_setup();
	fx_server(config);
}

TestSuite(conn, .init = setup, .fini = fx_teardown);

/* A test owner, embedding struct conn first: what its callbacks do. */
struct owner {
	struct conn conn;
	size_t refill;        /* bytes written() appends, once, when out ran empty */
	ev_tstamp deadline;   /* what deadline() answers */
	bool close_on_input;  /* conn_close() from inside input() */
};

/* What the owners heard, kept outside them: a closed owner is freed when its
 * loop turn ends, so the tests read this, never the owner, after a close. */
static struct {
	int inputs, eofs, eof_err, write_errors, written, timeouts, shutdowns, releases;
	bool closed_seen; /* c->closed right after conn_close(), inside the callback */
	size_t refill_left;
} heard;

static struct owner *of(struct conn *c)
{
	return (struct owner *)c;
}

static void on_input(struct conn *c)
{
	heard.inputs++;
	if (of(c)->close_on_input) {
		conn_close(c);
		heard.closed_seen = c->closed; /* the memory is still ours to read */
	}
}

static void on_eof(struct conn *c, int err)
{
	heard.eofs++;
	heard.eof_err = err;
}

static void on_write_error(struct conn *c, int err)
{
	heard.write_errors++;
	conn_close(c);
}

static void on_written(struct conn *c)
{
	struct owner *o = of(c);
	heard.written++;
	if (o->refill && buf_len(&c->out) == 0) {
		char *p = buf_reserve(&c->out, o->refill);
		cr_assert_not_null(p);
		memset(p, 'r', o->refill);
		buf_commit(&c->out, o->refill);
		o->refill = 0;
	}
	heard.refill_left = o->refill;
}

static ev_tstamp on_deadline(struct conn *c)
{
	return of(c)->deadline;
}

static void on_timeout(struct conn *c)
{
	heard.timeouts++;
	of(c)->deadline = 0;
}

static void on_shutdown(struct conn *c)
{
	heard.shutdowns++;
}

static void on_abort(struct conn *c)
{
	conn_close(c);
}

static void on_release(struct conn *c)
{
	heard.releases++;
}

/* clang-format off */
static const struct conn_ops test_ops = {
	.name = "test", .input = on_input, .eof = on_eof, .write_error = on_write_error,
	.written = on_written, .deadline = on_deadline, .timeout = on_timeout,
	.shutdown = on_shutdown, .abort = on_abort, .release = on_release
};
/* clang-format on */

static int peer; /* the test's end of the socketpair */

/* A client connection over a socketpair; the test keeps the other end. The
 * owner is freed by the deferred free, after the loop turn that closed it:
 * the tests read what it heard only while it is open, or through counters
 * copied out before. */
static struct owner *open_conn(size_t read_chunk)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	peer = sv[1];
	struct owner *o = (struct owner *)conn_accepted(sv[0], sizeof *o, &test_ops, read_chunk, false);
	cr_assert_not_null(o);
	conn_start(&o->conn);
	memset(&heard, 0, sizeof heard);
	return o;
}

static int want_inputs;
static bool inputs_reached(void)
{
	return heard.inputs >= want_inputs;
}

Test(conn, input_reaches_the_owner_and_counts_as_a_client)
{
	size_t before = gw->nconns;
	struct owner *o = open_conn(4);
	cr_expect_eq(gw->nconns, before + 1);
	cr_assert_eq(write(peer, "hello world", 11), 11);
	want_inputs = 1;
	cr_assert(test_loop_until(gw->loop, inputs_reached, 2));
	cr_expect_eq(buf_len(&o->conn.in), 4, "one read of read_chunk bytes a turn");
	cr_expect_eq(o->conn.last_n, 4);
	want_inputs = 3;
	cr_assert(test_loop_until(gw->loop, inputs_reached, 2));
	cr_expect_eq(buf_len(&o->conn.in), 11);
	cr_expect_eq(memcmp(buf_head(&o->conn.in), "hello world", 11), 0);
	conn_close(&o->conn);
	cr_expect_eq(gw->nconns, before);
	conns_reap();
	close(peer);
}

static bool eof_seen(void)
{
	return heard.eofs > 0;
}

Test(conn, eof_stops_reading_and_a_kick_still_hands_over_what_is_buffered)
{
	struct owner *o = open_conn(16384);
	cr_assert_eq(write(peer, "last", 4), 4);
	shutdown(peer, SHUT_WR);
	cr_assert(test_loop_until(gw->loop, eof_seen, 2));
	cr_expect_eq(heard.eof_err, 0);
	cr_expect(o->conn.peer_closed);
	cr_expect_not(o->conn.reading);
	int inputs = heard.inputs;
	conn_kick(&o->conn); /* from outside a callback: handled in the loop */
	cr_expect_eq(heard.inputs, inputs, "a kick is never a nested call");
	want_inputs = inputs + 1;
	cr_assert(test_loop_until(gw->loop, inputs_reached, 2));
	conn_close(&o->conn);
	conns_reap();
	close(peer);
}

static size_t drained_from_peer, drain_until;
static bool all_drained(void)
{
	char b[65536];
	ssize_t n;
	while ((n = read(peer, b, sizeof b)) > 0)
		drained_from_peer += (size_t)n;
	return drained_from_peer >= drain_until;
}

Test(conn, write_loop_waits_on_a_full_socket_and_the_owner_refills)
{
	struct owner *o = open_conn(16384);
	size_t big = 4 << 20; /* more than a socketpair's buffers hold */
	char *p = buf_reserve(&o->conn.out, big);
	cr_assert_not_null(p);
	memset(p, 'w', big);
	buf_commit(&o->conn.out, big);
	o->refill = 1000;
	conn_want_write(&o->conn);
	cr_expect_gt(buf_len(&o->conn.out), 0, "nothing is written inside the call");
	drained_from_peer = 0;
	drain_until = big + 1000;
	cr_assert(test_loop_until(gw->loop, all_drained, 10), "%zu of %zu bytes", drained_from_peer,
	          drain_until);
	cr_expect_eq(drained_from_peer, big + 1000, "every byte, the refill after the rest");
	cr_expect_eq(heard.refill_left, 0);
	cr_expect_gt(heard.written, 1, "a pass ended on the full socket before the last");
	cr_expect(o->conn.wrote_any);
	cr_expect_eq(heard.write_errors, 0);
	conn_close(&o->conn);
	conns_reap();
	close(peer);
}

Test(conn, a_buffer_that_lost_bytes_is_never_sent)
{
	struct owner *o = open_conn(16384);
	buf_append(&o->conn.out, "partial", 7);
	o->conn.out.failed = true; /* as buf_reserve() sets it when memory runs out */
	conn_want_write(&o->conn);
	for (int i = 0; i < 10 && !heard.write_errors; i++)
		ev_run(gw->loop, EVRUN_NOWAIT);
	cr_expect_eq(heard.write_errors, 1);
	char b[16];
	cr_expect_leq(read(peer, b, sizeof b), 0, "none of the buffer went out");
	conns_reap();
	close(peer);
}

static bool timed_out(void)
{
	return heard.timeouts > 0;
}

Test(conn, one_deadline_fires_once_and_a_later_one_waits)
{
	struct owner *o = open_conn(16384);
	o->deadline = ev_now(gw->loop) + 0.05;
	conn_update_timer(&o->conn);
	ev_tstamp armed = o->conn.timer_at;
	cr_expect_gt(armed, 0);
	o->deadline = ev_now(gw->loop) + 0.2; /* later: no re-arm, noticed when it fires */
	conn_update_timer(&o->conn);
	cr_expect_eq(o->conn.timer_at, armed);
	ev_tstamp t0 = ev_time();
	cr_assert(test_loop_until(gw->loop, timed_out, 2));
	cr_expect_geq(ev_time() - t0, 0.15, "the later deadline counted");
	cr_expect_eq(heard.timeouts, 1);
	o->deadline = 0;
	conn_update_timer(&o->conn);
	cr_expect_eq(o->conn.timer_at, 0, "no deadline: no timer");
	conn_close(&o->conn);
	conns_reap();
	close(peer);
}

Test(conn, closing_inside_a_callback_leaves_the_memory_until_the_turn_ends)
{
	struct owner *o = open_conn(16384);
	o->close_on_input = true;
	cr_assert_eq(write(peer, "x", 1), 1);
	want_inputs = 1;
	cr_assert(test_loop_until(gw->loop, inputs_reached, 2));
	cr_expect(heard.closed_seen, "c->closed readable right after conn_close()");
	cr_expect_eq(heard.releases, 1);
	char b[4];
	cr_expect_eq(read(peer, b, sizeof b), 0, "the socket closed at once");
	conns_reap();
	close(peer);
}

Test(conn, shutdown_and_abort_reach_every_client_connection)
{
	open_conn(16384);
	int pa = peer;
	open_conn(16384); /* heard is reset here: count from now on */
	int pb = peer;
	conns_shutdown_all();
	cr_expect_eq(heard.shutdowns, 2);
	size_t before = gw->nconns;
	conns_abort_all();
	cr_expect_eq(gw->nconns, before - 2);
	cr_expect_eq(heard.releases, 2);
	conns_reap();
	close(pa);
	close(pb);
}
