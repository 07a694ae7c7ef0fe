#include "gatewayd/upstream/pool_board.h"

#include "gatewayd/core/config.h"
#include "gatewayd/core/dispatchers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BOARD_BYTES (sizeof(struct board_pool) * BOARD_POOLS)

static struct board_pool *board;
static int fd = -1;
static bool attached; /* a dispatcher's view of the master's board */

int board_create(void)
{
	int f = memfd_create("gatewayd-pools", MFD_CLOEXEC);
	if (f < 0)
		return -errno;
	void *p = MAP_FAILED;
	if (ftruncate(f, (off_t)BOARD_BYTES) == 0)
		p = mmap(NULL, BOARD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		close(f);
		return -e;
	}
	board = p;
	fd = f;
	return f;
}

bool board_attach(void)
{
	const char *s = getenv("GATEWAYD_BOARD_FD");
	int f = s ? atoi(s) : -1;
	if (f < 3)
		return false;
	void *p = mmap(NULL, BOARD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	close(f);
	if (p == MAP_FAILED)
		return false;
	board = p;
	attached = true;
	return true;
}

bool board_attached(void)
{
	return attached;
}

int board_fd(void)
{
	return fd;
}

struct board_pool *board_new_pool(const char *name, int protocol)
{
	for (int i = 0; i < BOARD_POOLS; i++) {
		struct board_pool *bp = &board[i];
		if (bp->used)
			continue;
		memset(bp, 0, sizeof *bp);
		snprintf(bp->name, sizeof bp->name, "%s", name);
		bp->protocol = protocol;
		bp->used = 1;
		return bp;
	}
	return NULL;
}

struct board_pool *board_find(const char *name, int protocol)
{
	struct board_pool *older = NULL;
	for (int i = 0; board && i < BOARD_POOLS; i++) {
		struct board_pool *bp = &board[i];
		if (!bp->used || strcmp(bp->name, name) != 0 || bp->protocol != protocol)
			continue;
		if (!bp->retired)
			return bp;
		older = bp;
	}
	return older;
}

void board_set_state(struct board_worker *bw, enum board_state s, uint32_t flags)
{
	uint32_t w = atomic_load(&bw->word), want;
	do
		want = BOARD_WORD(s, w & BOARD_CLAIMS) | flags | (w & BOARD_KILL);
	while (!atomic_compare_exchange_weak(&bw->word, &w, want));
}

_Static_assert(BOARD_DISPATCHERS == DISPATCHERS_MAX, "one waiter bit per dispatcher slot");
_Static_assert(BOARD_WORKERS >= SHARED_POOL_WORKERS && BOARD_POOLS >= 2 * SHARED_POOLS,
               "the config's limits fit the board");
_Static_assert(BOARD_DISPATCHERS < BOARD_CLAIMS, "a dispatcher's mark fits the claim bits");

bool board_claim(struct board_worker *bw, int d)
{
	if (d < 0 || d >= BOARD_DISPATCHERS)
		return false;
	uint32_t free_word = BOARD_WORD(BOARD_READY, 0);
	return atomic_compare_exchange_strong(&bw->word, &free_word, free_word + (uint32_t)d + 1);
}

void board_release(struct board_worker *bw, uint32_t flags)
{
	uint32_t w = atomic_load(&bw->word), want;
	do
		want = (w & ~BOARD_CLAIMS) | flags;
	while (!atomic_compare_exchange_weak(&bw->word, &w, want));
}

void board_set_waiting(struct board_pool *bp, int d, unsigned n)
{
	if (d < 0 || d >= BOARD_DISPATCHERS)
		return;
	uint16_t v = (uint16_t)(n < 0xffff ? n : 0xffff);
	if (atomic_load(&bp->waiting_by[d]) != v)
		atomic_store(&bp->waiting_by[d], v);
	/* Only this dispatcher changes its bit: a locked write only when it does. */
	uint64_t bit = (uint64_t)1 << (d % 64);
	bool set = atomic_load(&bp->waiters[d / 64]) & bit;
	if (n && !set)
		atomic_fetch_or(&bp->waiters[d / 64], bit);
	else if (!n && set)
		atomic_fetch_and(&bp->waiters[d / 64], ~bit);
}

unsigned board_waiting(const struct board_pool *bp)
{
	unsigned n = 0;
	for (int i = 0; i < BOARD_DISPATCHERS / 64; i++) {
		uint64_t w = atomic_load(&bp->waiters[i]);
		for (; w; w &= w - 1)
			n += atomic_load(&bp->waiting_by[i * 64 + __builtin_ctzll(w)]);
	}
	return n;
}

void board_forget_dispatcher(int d)
{
	if (!board || d < 0 || d >= BOARD_DISPATCHERS)
		return;
	for (int p = 0; p < BOARD_POOLS; p++) {
		struct board_pool *bp = &board[p];
		if (!bp->used)
			continue;
		board_set_waiting(bp, d, 0);
		for (int i = 0, top = bp->top; i < top; i++) {
			struct board_worker *bw = &bp->w[i];
			uint32_t w = atomic_load(&bw->word);
			while ((w & BOARD_CLAIMS) == (uint32_t)d + 1 &&
			       !atomic_compare_exchange_weak(&bw->word, &w,
			                                     (w & ~BOARD_CLAIMS) | BOARD_KILL)) {
			}
		}
	}
}

bool board_others_wait(const struct board_pool *bp, int self)
{
	for (int i = 0; i < BOARD_DISPATCHERS / 64; i++) {
		uint64_t w = atomic_load(&bp->waiters[i]);
		if (self >= 0 && self / 64 == i)
			w &= ~((uint64_t)1 << (self % 64));
		if (w)
			return true;
	}
	return false;
}

void board_ring_waiter(struct board_pool *bp, const struct board_worker *bw, int except)
{
	static unsigned turn;
	if (atomic_load(&bw->word) != BOARD_WORD(BOARD_READY, 0) || !board_others_wait(bp, except))
		return;
	for (unsigned k = 0; k < BOARD_DISPATCHERS; k++) {
		int d = (int)((turn + k) % BOARD_DISPATCHERS);
		if (d != except && (atomic_load(&bp->waiters[d / 64]) >> (d % 64) & 1)) {
			turn = (unsigned)d + 1;
			dispatchers_ring(d);
			return;
		}
	}
}

void board_take_kill(struct board_worker *bw)
{
	uint32_t w = atomic_load(&bw->word), want;
	do
		want = BOARD_WORD(BOARD_DRAINING, w & BOARD_CLAIMS) | BOARD_RETIRE;
	while (!atomic_compare_exchange_weak(&bw->word, &w, want));
}

bool board_stop_unclaimed(struct board_worker *bw)
{
	uint32_t w = atomic_load(&bw->word), want;
	do {
		if (w & BOARD_CLAIMS)
			return false;
		want = BOARD_WORD(BOARD_DRAINING, 0) | BOARD_RETIRE | (w & BOARD_KILL);
	} while (!atomic_compare_exchange_weak(&bw->word, &w, want));
	return true;
}
