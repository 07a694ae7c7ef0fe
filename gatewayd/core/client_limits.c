#include "gatewayd/core/client_limits.h"

#include <arpa/inet.h>
#include <math.h> /* HUGE_VAL */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- keys ---------------------------------------------------------------- */

static void key_v4(const void *addr4, struct client_key *k)
{
	memset(k->b, 0, 10);
	k->b[10] = k->b[11] = 0xff;
	memcpy(k->b + 12, addr4, 4);
}

static void key_v6(const uint8_t a[16], unsigned prefix, struct client_key *k)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (memcmp(a, mapped, 12) == 0) {
		key_v4(a + 12, k); /* a dual-stack socket's IPv4 client */
		return;
	}
	memset(k->b, 0, sizeof k->b);
	unsigned whole = prefix / 8, bits = prefix % 8;
	memcpy(k->b, a, whole);
	if (bits)
		k->b[whole] = (uint8_t)(a[whole] & (0xff << (8 - bits)));
}

int client_key_from_sockaddr(const struct sockaddr *sa, unsigned ipv6_prefix, struct client_key *k)
{
	if (sa->sa_family == AF_INET) {
		key_v4(&((const struct sockaddr_in *)sa)->sin_addr, k);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		key_v6(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, ipv6_prefix, k);
		return 0;
	}
	return -1;
}

int client_key_from_text(const char *addr, unsigned ipv6_prefix, struct client_key *k)
{
	uint8_t a[16];
	if (!addr)
		return -1;
	if (inet_pton(AF_INET, addr, a) == 1) {
		key_v4(a, k);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, a) == 1) {
		key_v6(a, ipv6_prefix, k);
		return 0;
	}
	return -1;
}

/* ---- the token bucket ------------------------------------------------------- */

/* Refills are sums of products of binary fractions: a token that is back on
 * paper may be 1e-12 short of it. */
#define TOKEN_SLACK 1e-9

void token_bucket_fill(struct token_bucket *b, double now)
{
	b->tokens = HUGE_VAL; /* cut to the burst by the first take */
	b->stamp = now;
}

unsigned token_bucket_take(struct token_bucket *b, double rate, unsigned burst, double now)
{
	if (now > b->stamp)
		b->tokens += (now - b->stamp) * rate;
	if (b->tokens > burst)
		b->tokens = burst; /* also a burst lowered by a reload */
	b->stamp = now;
	if (b->tokens >= 1 - TOKEN_SLACK) {
		b->tokens -= 1;
		return 0;
	}
	double wait = (1 - b->tokens) / rate - TOKEN_SLACK;
	if (wait <= 1)
		return 1;
	if (wait >= 86400)
		return 86400;
	unsigned whole = (unsigned)wait;
	return whole + (wait > whole); /* rounded up: asked back any sooner, it is refused again */
}

/* ---- the table ------------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Not a cryptographic hash, but keyed: without the seed, nobody can choose
 * addresses that share a chain. */
static uint32_t key_hash(const struct client_table *t, const struct client_key *k)
{
	uint64_t a, b;
	memcpy(&a, k->b, 8);
	memcpy(&b, k->b + 8, 8);
	return (uint32_t)mix64(mix64(a ^ t->seed[0]) ^ b ^ t->seed[1]) & t->mask;
}

struct client_table *client_table_new(uint32_t capacity, const uint64_t seed[2])
{
	struct client_table *t = calloc(1, sizeof *t);
	if (!t || capacity == 0 || capacity > (1u << 30))
		goto fail;
	uint32_t n = 1;
	while (n < capacity)
		n <<= 1;
	/* calloc: untouched entries cost no resident memory until the table fills. */
	t->e = calloc((size_t)capacity + 1, sizeof *t->e);
	t->heads = calloc(n, sizeof *t->heads);
	if (!t->e || !t->heads)
		goto fail;
	t->mask = n - 1;
	t->capacity = capacity;
	t->seed[0] = seed[0];
	t->seed[1] = seed[1];
	return t;
fail:
	client_table_free(t);
	return NULL;
}

void client_table_free(struct client_table *t)
{
	if (!t)
		return;
	free(t->e);
	free(t->heads);
	free(t);
}

struct client_entry *client_table_find(struct client_table *t, const struct client_key *k)
{
	for (uint32_t i = t->heads[key_hash(t, k)]; i; i = t->e[i].chain)
		if (memcmp(t->e[i].key.b, k->b, sizeof k->b) == 0)
			return &t->e[i];
	return NULL;
}

static void idle_unlink(struct client_table *t, uint32_t i)
{
	struct client_entry *e = &t->e[i];
	if (e->newer)
		t->e[e->newer].older = e->older;
	else
		t->newest = e->older;
	if (e->older)
		t->e[e->older].newer = e->newer;
	else
		t->oldest = e->newer;
	e->older = e->newer = 0;
}

static void idle_push(struct client_table *t, uint32_t i)
{
	struct client_entry *e = &t->e[i];
	e->newer = 0;
	e->older = t->newest;
	if (t->newest)
		t->e[t->newest].newer = i;
	else
		t->oldest = i;
	t->newest = i;
}

static void chain_unlink(struct client_table *t, uint32_t i)
{
	uint32_t *p = &t->heads[key_hash(t, &t->e[i].key)];
	while (*p != i)
		p = &t->e[*p].chain;
	*p = t->e[i].chain;
}

/* An entry for k: a fresh one, else the least recently seen idle one. */
static uint32_t entry_take(struct client_table *t, const struct client_key *k)
{
	uint32_t i;
	if (t->used < t->capacity) {
		i = ++t->used;
	} else {
		if (!(i = t->oldest))
			return 0;
		idle_unlink(t, i);
		chain_unlink(t, i);
		t->forgotten++;
	}
	struct client_entry *e = &t->e[i];
	memset(e, 0, sizeof *e);
	e->key = *k;
	uint32_t h = key_hash(t, k);
	e->chain = t->heads[h];
	t->heads[h] = i;
	idle_push(t, i);
	return i;
}

struct client_entry *client_table_get(struct client_table *t, const struct client_key *k,
                                      double now)
{
	struct client_entry *e = client_table_find(t, k);
	if (e) {
		uint32_t i = (uint32_t)(e - t->e);
		if (e->conns == 0 && t->newest != i) {
			idle_unlink(t, i);
			idle_push(t, i);
		}
		return e;
	}
	uint32_t i = entry_take(t, k);
	if (!i)
		return NULL;
	token_bucket_fill(&t->e[i].bucket, now);
	return &t->e[i];
}

void client_entry_hold(struct client_table *t, struct client_entry *e)
{
	if (e->conns++ == 0)
		idle_unlink(t, (uint32_t)(e - t->e));
}

void client_entry_release(struct client_table *t, struct client_entry *e)
{
	if (e->conns > 0 && --e->conns == 0)
		idle_push(t, (uint32_t)(e - t->e));
}

/* ---- the running limits ------------------------------------------------------ */

/* The table's size at most: 48 bytes an entry, so 48 MiB. */
#define CLIENTS_MAX (1u << 20)

static struct {
	struct client_table *table; /* NULL while both limits are off */
	struct per_client_cfg cfg;
	/* Bumped when the table is dropped: a slot counted in it is void. */
	unsigned epoch;
	unsigned long long refused, rate_limited, forgotten_before;
} cl;

static void random_seed(uint64_t seed[2])
{
	if (getrandom(seed, 2 * sizeof *seed, 0) == (ssize_t)(2 * sizeof *seed))
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed[0] = mix64((uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32);
	seed[1] = mix64(seed[0] ^ (uint64_t)ts.tv_sec);
}

static void table_drop(void)
{
	if (!cl.table)
		return;
	cl.forgotten_before += cl.table->forgotten;
	client_table_free(cl.table);
	cl.table = NULL;
}

/* A table of capacity holding the entries of old that hold connections (its
 * connections still count); the idle ones are forgotten. */
static struct client_table *table_remake(const struct client_table *old, uint32_t capacity)
{
	uint32_t held = 0;
	for (uint32_t i = 1; old && i <= old->used; i++)
		held += old->e[i].conns > 0;
	uint64_t seed[2];
	random_seed(seed);
	struct client_table *t = client_table_new(capacity > held ? capacity : held, seed);
	for (uint32_t i = 1; t && old && i <= old->used; i++) {
		const struct client_entry *o = &old->e[i];
		if (!o->conns)
			continue;
		struct client_entry *e = client_table_get(t, &o->key, o->bucket.stamp);
		e->bucket = o->bucket;
		client_entry_hold(t, e);
		e->conns = o->conns;
	}
	return t;
}

int client_limits_configure(const struct per_client_cfg *pc, size_t max_conns)
{
	if (!pc->connections && pc->requests_per_second <= 0) {
		if (cl.table)
			cl.epoch++;
		table_drop();
		cl.cfg = *pc;
		return 0;
	}
	/* Each address that holds a connection keeps its entry: with one entry
	 * per connection allowed, a new address always finds a place. */
	size_t want = pc->clients > max_conns ? pc->clients : max_conns;
	uint32_t capacity = want > CLIENTS_MAX ? CLIENTS_MAX : (uint32_t)want;
	if (!cl.table || cl.table->capacity != capacity) {
		struct client_table *t = table_remake(cl.table, capacity);
		if (!t)
			return -1;
		table_drop();
		cl.table = t;
	}
	cl.cfg = *pc;
	return 0;
}

void client_limits_free(void)
{
	table_drop();
	cl.epoch++;
}

bool client_conn_open(const struct sockaddr *peer, double now, struct client_slot *slot)
{
	slot->held = false;
	if (!cl.table || !cl.cfg.connections ||
	    client_key_from_sockaddr(peer, cl.cfg.ipv6_prefix, &slot->key) < 0)
		return true;
	struct client_entry *e = client_table_get(cl.table, &slot->key, now);
	if (!e)
		return true; /* every entry holds a connection: sized so that it cannot */
	if (e->conns >= cl.cfg.connections) {
		cl.refused++;
		return false;
	}
	client_entry_hold(cl.table, e);
	slot->held = true;
	slot->epoch = cl.epoch;
	return true;
}

void client_conn_closed(struct client_slot *slot)
{
	if (!slot->held)
		return;
	slot->held = false;
	if (!cl.table || slot->epoch != cl.epoch)
		return;
	struct client_entry *e = client_table_find(cl.table, &slot->key);
	if (e)
		client_entry_release(cl.table, e);
}

unsigned client_request(const char *addr, double now)
{
	struct client_key k;
	if (!cl.table || cl.cfg.requests_per_second <= 0 ||
	    client_key_from_text(addr, cl.cfg.ipv6_prefix, &k) < 0)
		return 0;
	struct client_entry *e = client_table_get(cl.table, &k, now);
	if (!e)
		return 0;
	unsigned wait =
	        token_bucket_take(&e->bucket, cl.cfg.requests_per_second, cl.cfg.burst, now);
	if (wait)
		cl.rate_limited++;
	return wait;
}

void client_limits_stats(struct client_limits_stats *out)
{
	out->connections_refused = cl.refused;
	out->rate_limited = cl.rate_limited;
	out->forgotten = cl.forgotten_before + (cl.table ? cl.table->forgotten : 0);
	out->tracked = cl.table ? cl.table->used : 0;
	out->capacity = cl.table ? cl.table->capacity : 0;
}
