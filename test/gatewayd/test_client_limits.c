/* gatewayd/core/client_limits.c without a loop or a socket: client keys
 * (IPv4, IPv4-mapped, IPv6 by prefix, what is no address), the token
 * bucket's arithmetic at given times, the table's least-recently-used
 * forgetting (never an entry holding a connection), and the running limits
 * that the front ends call (connection slots across a reconfigure, the rate,
 * the counters). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "gatewayd/core/client_limits.h"

static struct client_key key_of(const char *text, unsigned prefix)
{
	struct client_key k;
	cr_assert_eq(client_key_from_text(text, prefix, &k), 0, "\"%s\" is no address", text);
	return k;
}

static bool same(const char *a, const char *b, unsigned prefix)
{
	struct client_key ka = key_of(a, prefix), kb = key_of(b, prefix);
	return memcmp(&ka, &kb, sizeof ka) == 0;
}

Test(keys, ipv4_whole_ipv6_by_prefix)
{
	cr_expect(same("192.0.2.1", "::ffff:192.0.2.1", 64), "IPv4-mapped is the IPv4 client");
	cr_expect(!same("192.0.2.1", "192.0.2.2", 64), "IPv4: every address is its own client");
	cr_expect(same("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", 64), "one /64");
	cr_expect(!same("2001:db8:1:2::1", "2001:db8:1:3::1", 64), "the next /64");
	cr_expect(!same("2001:db8:1:2::1", "2001:db8:1:2::2", 128), "/128: each address");
	cr_expect(same("2001:db8:1:2::1", "2001:db8:1:3::1", 48), "/48: one site");
	/* A prefix that ends inside a byte: bit 65 is 0x80 of byte 8, bit 66 0x40. */
	cr_expect(same("2001:db8:0:1::", "2001:db8:0:1:8000::", 64));
	cr_expect(!same("2001:db8:0:1::", "2001:db8:0:1:8000::", 65));
	cr_expect(same("2001:db8:0:1::", "2001:db8:0:1:4000::", 65));
	cr_expect(!same("2001:db8:0:1::", "2001:db8:0:1:4000::", 66));
	cr_expect(!same("::ffff:192.0.2.1", "::1", 64), "IPv4-mapped is not ::/64");

	struct client_key k;
	const char *bad[] = {"", "localhost", "192.0.2", "fe80::1%eth0", "unix:/run/x.sock", NULL};
	for (int i = 0; bad[i]; i++)
		cr_expect_eq(client_key_from_text(bad[i], 64, &k), -1, "\"%s\" taken as an address",
		             bad[i]);
	cr_expect_eq(client_key_from_text(NULL, 64, &k), -1, "no REMOTE_ADDR");

	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(1234)};
	inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr);
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &s6.sin6_addr);
	struct client_key k4, k6, kt = key_of("192.0.2.1", 64);
	cr_assert_eq(client_key_from_sockaddr((struct sockaddr *)&s4, 64, &k4), 0);
	cr_assert_eq(client_key_from_sockaddr((struct sockaddr *)&s6, 64, &k6), 0);
	cr_expect(memcmp(&k4, &kt, sizeof k4) == 0, "a socket's IPv4 peer is its text's key");
	cr_expect(memcmp(&k6, &kt, sizeof k6) == 0, "a dual-stack socket's IPv4 peer too");
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	cr_expect_eq(client_key_from_sockaddr((struct sockaddr *)&su, 64, &k), -1,
	             "a unix socket's peer is no client");
}

Test(bucket, burst_then_rate_and_retry_after)
{
	struct token_bucket b;
	token_bucket_fill(&b, 1000.0);
	for (int i = 0; i < 5; i++)
		cr_expect_eq(token_bucket_take(&b, 1.0, 5, 1000.0), 0, "request %d of the burst", i + 1);
	cr_expect_eq(token_bucket_take(&b, 1.0, 5, 1000.0), 1, "past the burst: back in 1 s");
	cr_expect_eq(token_bucket_take(&b, 1.0, 5, 1000.4), 1, "0.6 s to go: still says 1");
	cr_expect_eq(token_bucket_take(&b, 1.0, 5, 1001.0), 0, "a token back after 1 s");
	cr_expect_eq(token_bucket_take(&b, 1.0, 5, 1001.0), 1, "and only one");
	/* A long pause fills the bucket up to the burst, no further. */
	for (int i = 0; i < 5; i++)
		cr_expect_eq(token_bucket_take(&b, 1.0, 5, 2000.0), 0, "after a pause, %d", i + 1);
	cr_expect_neq(token_bucket_take(&b, 1.0, 5, 2000.0), 0, "the burst is the most at once");
}

Test(bucket, retry_after_is_rounded_up_whole_seconds)
{
	static const struct {
		double rate;
		unsigned want;
	} cases[] = {{0.2, 5}, {0.5, 2}, {1.0 / 3, 3}, {3.0, 1}, {100.0, 1}, {0.4, 3}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct token_bucket b;
		token_bucket_fill(&b, 10.0);
		cr_assert_eq(token_bucket_take(&b, cases[i].rate, 1, 10.0), 0);
		unsigned wait = token_bucket_take(&b, cases[i].rate, 1, 10.0);
		cr_expect_eq(wait, cases[i].want, "rate %g: Retry-After %u, want %u", cases[i].rate, wait,
		             cases[i].want);
		/* Coming back after Retry-After always finds a token. */
		cr_expect_eq(token_bucket_take(&b, cases[i].rate, 1, 10.0 + wait), 0,
		             "rate %g: refused again after its Retry-After", cases[i].rate);
	}
}

Test(bucket, fractions_add_up_exactly)
{
	/* 10 per second, asked every 0.1 s: a tenth is no binary fraction, so
	 * each refill is a hair off one token; every request must still pass. */
	struct token_bucket b;
	token_bucket_fill(&b, 0.0);
	double t = 0;
	for (int i = 0; i < 200; i++, t += 0.1)
		cr_assert_eq(token_bucket_take(&b, 10.0, 1, t), 0, "refused at t=%.17g", t);
	cr_expect_neq(token_bucket_take(&b, 10.0, 1, t - 0.1), 0, "and only one per tenth");
	/* Exactly a third of a second after a take at 3/s, the next one passes. */
	token_bucket_fill(&b, 50.0);
	cr_assert_eq(token_bucket_take(&b, 3.0, 1, 50.0), 0);
	cr_expect_eq(token_bucket_take(&b, 3.0, 1, 50.0 + 1.0 / 3), 0, "1/3 s later at 3/s");
	cr_expect_neq(token_bucket_take(&b, 3.0, 1, 50.0 + 1.0 / 3), 0);
}

Test(bucket, clock_going_back_costs_nothing_and_freezes_nothing)
{
	struct token_bucket b;
	token_bucket_fill(&b, 1000.0);
	cr_assert_eq(token_bucket_take(&b, 1.0, 1, 1000.0), 0);
	/* Wall time stepped back an hour: no token appears from it... */
	cr_expect_neq(token_bucket_take(&b, 1.0, 1, -2600.0), 0, "a step back made a token");
	/* ...and the refill goes on from the new time, not from the old one. */
	cr_expect_eq(token_bucket_take(&b, 1.0, 1, -2599.0), 0, "a step back froze the bucket");
}

Test(bucket, lowered_burst_cuts_saved_tokens)
{
	struct token_bucket b;
	token_bucket_fill(&b, 0.0);
	cr_assert_eq(token_bucket_take(&b, 1.0, 10, 0.0), 0); /* 9 left */
	int served = 0;
	while (served < 20 && token_bucket_take(&b, 1.0, 2, 0.0) == 0)
		served++;
	cr_expect_eq(served, 2, "a reload to burst 2: %d served at once", served);
}

static const uint64_t SEED[2] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};

static struct client_key nth(unsigned i)
{
	char text[32];
	snprintf(text, sizeof text, "10.%u.%u.%u", i >> 16 & 255, i >> 8 & 255, i & 255);
	return key_of(text, 64);
}

Test(table, full_table_forgets_the_least_recently_seen)
{
	struct client_table *t = client_table_new(4, SEED);
	cr_assert_not_null(t);
	struct client_key k[6];
	for (unsigned i = 0; i < 6; i++)
		k[i] = nth(i);
	for (unsigned i = 0; i < 4; i++)
		cr_assert_not_null(client_table_get(t, &k[i], i));
	cr_expect_eq(t->used, 4);
	/* k[0] seen again: now k[1] is the least recently seen. */
	struct client_entry *e0 = client_table_get(t, &k[0], 10);
	cr_assert_not_null(e0);
	cr_expect(memcmp(&e0->key, &k[0], sizeof k[0]) == 0);
	cr_assert_not_null(client_table_get(t, &k[4], 11));
	cr_expect_null(client_table_find(t, &k[1]), "k[1] should have been forgotten");
	cr_expect_not_null(client_table_find(t, &k[0]), "k[0] was seen recently");
	cr_expect_eq(t->forgotten, 1);
	cr_expect_eq(t->used, 4, "the table never grows past its size");
	client_table_free(t);
}

Test(table, entries_holding_connections_are_never_forgotten)
{
	struct client_table *t = client_table_new(3, SEED);
	cr_assert_not_null(t);
	struct client_key a = nth(1), b = nth(2), c = nth(3);
	struct client_entry *ea = client_table_get(t, &a, 0);
	client_entry_hold(t, ea);
	client_entry_hold(t, client_table_get(t, &b, 0));
	client_entry_hold(t, client_table_get(t, &c, 0));
	/* Every entry holds a connection: no room, nothing forgotten. */
	struct client_key d = nth(4);
	cr_expect_null(client_table_get(t, &d, 1));
	cr_expect_not_null(client_table_find(t, &a));
	cr_expect_eq(t->forgotten, 0);
	/* a lets go (twice held, once released: still held). */
	client_entry_hold(t, ea);
	client_entry_release(t, ea);
	cr_expect_null(client_table_get(t, &d, 2), "a still holds one connection");
	client_entry_release(t, ea);
	cr_expect_not_null(client_table_get(t, &d, 3), "a's place, now idle, goes to d");
	cr_expect_null(client_table_find(t, &a));
	cr_expect_not_null(client_table_find(t, &b));
	cr_expect_not_null(client_table_find(t, &c));
	client_entry_release(t, client_table_find(t, &d)); /* never held: a no-op */
	client_table_free(t);
}

Test(table, flood_of_addresses_stays_in_the_table)
{
	struct client_table *t = client_table_new(1000, SEED);
	cr_assert_not_null(t);
	for (unsigned i = 0; i < 100000; i++) {
		struct client_key k = nth(i);
		cr_assert_not_null(client_table_get(t, &k, i * 0.001));
	}
	cr_expect_eq(t->used, 1000);
	cr_expect_eq(t->forgotten, 99000);
	/* The last 1000 are those remembered. */
	for (unsigned i = 99000; i < 100000; i++) {
		struct client_key k = nth(i);
		cr_expect_not_null(client_table_find(t, &k), "address %u forgotten", i);
	}
	client_table_free(t);
}

/* ---- the running limits ---------------------------------------------------- */

static struct sockaddr_in peer(const char *text)
{
	struct sockaddr_in s = {.sin_family = AF_INET};
	cr_assert_eq(inet_pton(AF_INET, text, &s.sin_addr), 1);
	return s;
}

Test(running, off_by_default_limits_nothing)
{
	struct per_client_cfg pc = {.ipv6_prefix = 64, .clients = 100};
	cr_assert_eq(client_limits_configure(&pc, 10), 0);
	struct sockaddr_in p = peer("127.0.0.1");
	struct client_slot s[50];
	for (int i = 0; i < 50; i++)
		cr_expect(client_conn_open((struct sockaddr *)&p, 0, &s[i]));
	for (int i = 0; i < 50; i++)
		cr_expect_eq(client_request("127.0.0.1", 0), 0);
	struct client_limits_stats st;
	client_limits_stats(&st);
	cr_expect_eq(st.capacity, 0, "no table while off");
	for (int i = 0; i < 50; i++)
		client_conn_closed(&s[i]);
	client_limits_free();
}

Test(running, connection_slots)
{
	struct per_client_cfg pc = {.connections = 2, .ipv6_prefix = 64, .clients = 16};
	cr_assert_eq(client_limits_configure(&pc, 4), 0);
	struct sockaddr_in a = peer("127.0.0.1"), b = peer("127.0.0.2");
	struct client_slot s1, s2, s3, sb;
	cr_expect(client_conn_open((struct sockaddr *)&a, 0, &s1));
	cr_expect(client_conn_open((struct sockaddr *)&a, 0, &s2));
	cr_expect(!client_conn_open((struct sockaddr *)&a, 0, &s3), "a third from one address");
	cr_expect(client_conn_open((struct sockaddr *)&b, 0, &sb), "another address is not affected");
	client_conn_closed(&s3); /* never held: no-op */
	client_conn_closed(&s1);
	client_conn_closed(&s1); /* idempotent */
	cr_expect(client_conn_open((struct sockaddr *)&a, 0, &s3), "a slot freed");
	struct client_slot s4;
	cr_expect(!client_conn_open((struct sockaddr *)&a, 0, &s4));

	/* A reload that resizes the table keeps the count... */
	pc.clients = 64;
	cr_assert_eq(client_limits_configure(&pc, 4), 0);
	cr_expect(!client_conn_open((struct sockaddr *)&a, 0, &s4), "the count survived a resize");
	client_conn_closed(&s2);
	cr_expect(client_conn_open((struct sockaddr *)&a, 0, &s4), "a slot counted before the resize");

	/* ...limits off and on again start from nothing, and the connections of
	 * before closing later take nothing from the new count. */
	struct per_client_cfg off = {.ipv6_prefix = 64, .clients = 64};
	cr_assert_eq(client_limits_configure(&off, 4), 0);
	cr_assert_eq(client_limits_configure(&pc, 4), 0);
	struct client_slot n1, n2, n3;
	cr_expect(client_conn_open((struct sockaddr *)&a, 0, &n1));
	cr_expect(client_conn_open((struct sockaddr *)&a, 0, &n2));
	client_conn_closed(&s3);
	client_conn_closed(&s4);
	cr_expect(!client_conn_open((struct sockaddr *)&a, 0, &n3), "an old slot freed a new one");

	struct client_limits_stats st;
	client_limits_stats(&st);
	cr_expect_eq(st.connections_refused, 4);
	cr_expect_eq(st.capacity, 64);
	client_conn_closed(&n1);
	client_conn_closed(&n2);
	client_conn_closed(&sb);
	client_limits_free();
}

Test(running, table_has_room_for_every_connection)
{
	/* clients below the connections allowed: raised, so an address that
	 * holds a connection always has its entry. */
	struct per_client_cfg pc = {.connections = 1, .ipv6_prefix = 64, .clients = 16};
	cr_assert_eq(client_limits_configure(&pc, 40), 0);
	struct client_limits_stats st;
	client_limits_stats(&st);
	cr_expect_eq(st.capacity, 40);
	struct client_slot s[40];
	for (int i = 0; i < 40; i++) {
		char text[32];
		snprintf(text, sizeof text, "127.0.1.%d", i + 1);
		struct sockaddr_in p = peer(text);
		cr_expect(client_conn_open((struct sockaddr *)&p, 0, &s[i]));
		cr_expect(!client_conn_open((struct sockaddr *)&p, 0, &(struct client_slot){0}),
		          "%s: a second connection", text);
	}
	for (int i = 0; i < 40; i++)
		client_conn_closed(&s[i]);
	client_limits_free();
}

Test(running, request_rate_per_address)
{
	struct per_client_cfg pc = {.requests_per_second = 2, .burst = 3, .ipv6_prefix = 64,
	                            .clients = 16};
	cr_assert_eq(client_limits_configure(&pc, 4), 0);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(client_request("198.51.100.7", 100.0), 0, "request %d", i + 1);
	cr_expect_eq(client_request("198.51.100.7", 100.0), 1);
	cr_expect_eq(client_request("198.51.100.8", 100.0), 0, "another address");
	cr_expect_eq(client_request("2001:db8::1", 100.0), 0);
	cr_expect_eq(client_request("2001:db8::2", 100.0), 0);
	cr_expect_eq(client_request("2001:db8::3", 100.0), 0);
	cr_expect_eq(client_request("2001:db8::4", 100.0), 1, "the same /64 shares one bucket");
	cr_expect_eq(client_request("198.51.100.7", 100.5), 0, "half a second at 2/s");
	cr_expect_eq(client_request("", 100.5), 0, "no address: not limited");
	cr_expect_eq(client_request(NULL, 100.5), 0);
	struct client_limits_stats st;
	client_limits_stats(&st);
	cr_expect_eq(st.rate_limited, 2);
	cr_expect_eq(st.tracked, 3);
	client_limits_free();
}
