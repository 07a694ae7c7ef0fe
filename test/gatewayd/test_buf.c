/* gatewayd/buf.c: every operation keeps start <= end <= cap and the unread
 * bytes what a plain model of them says, across growth, reclaiming the
 * consumed front, and printf that does not fit the room there is. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/core/buf.h"
#include "test/gatewayd/fixture.h"

TestSuite(buf, .init = fx_setup, .fini = fx_teardown);

/* The model: the bytes a buffer must hold. */
struct model {
	char *p;
	size_t len;
};

static void model_append(struct model *m, const void *p, size_t n)
{
	m->p = realloc(m->p, m->len + n + 1);
	cr_assert_not_null(m->p);
	memcpy(m->p + m->len, p, n);
	m->len += n;
}

static void model_consume(struct model *m, size_t n)
{
	memmove(m->p, m->p + n, m->len - n);
	m->len -= n;
}

static void check(const struct buf *b, const struct model *m, const char *what)
{
	cr_assert_leq(b->start, b->end, "%s: start %zu > end %zu", what, b->start, b->end);
	cr_assert_leq(b->end, b->cap, "%s: end %zu > cap %zu", what, b->end, b->cap);
	cr_assert_eq(buf_len(b), m->len, "%s: %zu bytes, want %zu", what, buf_len(b), m->len);
	if (m->len)
		cr_assert_eq(memcmp(buf_head(b), m->p, m->len), 0, "%s: other bytes", what);
	if (b->start == b->end)
		cr_assert_eq(b->start, 0, "%s: an empty buffer starts over at 0", what);
}

/* A pattern that tells where each byte came from. */
static void pattern(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (seed * 7 + i) % 26);
}

Test(buf, empty_buffer_owns_nothing)
{
	struct buf b = {0};
	cr_assert_eq(buf_len(&b), 0);
	cr_assert_eq(buf_append(&b, "x", 0), 0);
	cr_assert_null(b.data, "appending nothing allocates nothing");
	buf_free(&b);
	cr_assert_null(b.data);
}

Test(buf, reserve_commit_consume)
{
	struct buf b = {0};
	struct model m = {0};
	char *dst = buf_reserve(&b, 10);
	cr_assert_not_null(dst);
	cr_assert_geq(b.cap - b.end, 10);
	memcpy(dst, "0123456789", 10);
	buf_commit(&b, 4); /* fewer than reserved: only these count */
	model_append(&m, "0123", 4);
	check(&b, &m, "commit 4");
	buf_consume(&b, 3);
	model_consume(&m, 3);
	check(&b, &m, "consume 3");
	cr_assert_eq(b.start, 3);
	buf_consume(&b, 1);
	model_consume(&m, 1);
	check(&b, &m, "consume all");
	buf_free(&b);
	free(m.p);
}

/* The consumed front is reclaimed before the buffer grows. */
Test(buf, reserve_reclaims_the_front_before_growing)
{
	struct buf b = {0};
	struct model m = {0};
	char chunk[1024];
	pattern(chunk, sizeof chunk, 1);
	buf_append(&b, chunk, 1000);
	model_append(&m, chunk, 1000);
	size_t cap = b.cap;
	char *data = b.data;
	buf_consume(&b, 900);
	model_consume(&m, 900);
	cr_assert_not_null(buf_reserve(&b, cap - 100));
	check(&b, &m, "after reserve");
	cr_assert_eq(b.cap, cap, "room was there once the front was reclaimed");
	cr_assert_eq(b.data, data);
	cr_assert_eq(b.start, 0);
	/* One byte more than that room: it grows, keeping the bytes. */
	cr_assert_not_null(buf_reserve(&b, cap - 100 + 1));
	cr_assert_gt(b.cap, cap);
	check(&b, &m, "after growth");
	buf_free(&b);
	free(m.p);
}

Test(buf, reset_keeps_the_memory)
{
	struct buf b = {0};
	buf_append(&b, "hello", 5);
	size_t cap = b.cap;
	buf_reset(&b);
	cr_assert_eq(buf_len(&b), 0);
	cr_assert_eq(b.cap, cap);
	cr_assert_not_null(b.data);
	buf_free(&b);
	cr_assert_eq(b.cap, 0);
	cr_assert_eq(b.end, 0);
}

/* A long run of mixed operations against the model, sizes from tiny to past
 * several doublings. The sequence is fixed (a seeded generator); consumes
 * keep the buffer small, so the run is quick under ASan too. */
Test(buf, mixed_operations_match_the_model)
{
	struct buf b = {0};
	struct model m = {0};
	char chunk[70000], what[64];
	uint32_t x = 12345;
	size_t max_cap = 0;

	for (int step = 0; step < 4000; step++) {
		x = x * 1103515245u + 12345u;
		unsigned op = (x >> 16) % 5;
		size_t n = (x >> 4) % (op == 4 ? 70000 : 300);
		snprintf(what, sizeof what, "step %d op %u n %zu", step, op, n);
		pattern(chunk, n, (unsigned)step);
		switch (op) {
		case 0:
		case 4:
			cr_assert_eq(buf_append(&b, chunk, n), 0);
			model_append(&m, chunk, n);
			break;
		case 1: {
			char *dst = buf_reserve(&b, n + 1);
			cr_assert_not_null(dst);
			cr_assert_geq(b.cap - b.end, n + 1);
			memcpy(dst, chunk, n);
			buf_commit(&b, n);
			model_append(&m, chunk, n);
			break;
		}
		case 2: /* anything up to all of it, so the length stays tens of KiB */
			n = (x >> 4) % (m.len + 1);
			buf_consume(&b, n);
			model_consume(&m, n);
			break;
		case 3:
			cr_assert_eq(buf_printf(&b, "<%d:%.*s>", step, (int)n, chunk), 0);
			char *text;
			int len = asprintf(&text, "<%d:%.*s>", step, (int)n, chunk);
			cr_assert_geq(len, 0);
			model_append(&m, text, (size_t)len);
			free(text);
			break;
		}
		check(&b, &m, what);
		max_cap = b.cap > max_cap ? b.cap : max_cap;
	}
	cr_expect_geq(max_cap, 128 * 1024, "the run never grew the buffer far");
	buf_free(&b);
	free(m.p);
}

/* buf_printf formats into the room there is and formats again when the text
 * did not fit: lengths around that room, and far past it. */
struct printf_case {
	size_t before; /* bytes appended first, so the room left varies */
	size_t len;    /* length of the formatted text */
};

static const struct printf_case printf_cases[] = {
	{0, 0},       {0, 1},        {0, 255},      {0, 256},    {0, 257},
	{0, 1023},    {0, 1024},     {0, 1025},     {1000, 23},  {1000, 24},
	{1000, 25},   {1023, 1},     {1024, 0},     {1024, 1},   {700, 324},
	{700, 325},   {0, 100000},   {5000, 70000}, {1, 1 << 20},
};

Test(buf, printf_fits_or_grows)
{
	for (size_t i = 0; i < sizeof printf_cases / sizeof printf_cases[0]; i++) {
		const struct printf_case *c = &printf_cases[i];
		struct buf b = {0};
		struct model m = {0};
		char *text = malloc(c->len + 2), what[64];
		char *before = malloc(c->before + 1);
		pattern(text, c->len, (unsigned)i);
		text[c->len] = '\0';
		pattern(before, c->before, 99);
		buf_append(&b, before, c->before);
		model_append(&m, before, c->before);
		snprintf(what, sizeof what, "case %zu (%zu then %zu)", i, c->before, c->len);
		cr_assert_eq(buf_printf(&b, "%s", text), 0, "%s", what);
		model_append(&m, text, c->len);
		check(&b, &m, what);
		/* A width makes the text too, with no argument as long. */
		cr_assert_eq(buf_printf(&b, "%*d", (int)c->len, 7), 0, "%s", what);
		size_t width = c->len ? c->len : 1;
		memset(text, ' ', width - 1);
		text[width - 1] = '7';
		model_append(&m, text, width);
		check(&b, &m, what);
		buf_free(&b);
		free(m.p);
		free(text);
		free(before);
	}
}

Test(buf, printf_after_consume)
{
	struct buf b = {0};
	buf_append(&b, "abcdef", 6);
	buf_consume(&b, 6);
	cr_assert_eq(buf_printf(&b, "%s=%d", "n", 42), 0);
	cr_assert_eq(buf_len(&b), 4);
	cr_assert_eq(memcmp(buf_head(&b), "n=42", 4), 0);
	buf_free(&b);
}

Test(buf, append_uint_and_str)
{
	struct buf b = {0};
	const unsigned long long values[] = { 0, 7, 10, 99, 100, 4294967296ULL,
		                              18446744073709551615ULL };
	const char *want = "0 7 10 99 100 4294967296 18446744073709551615 ";
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		cr_assert_eq(buf_append_uint(&b, values[i]), 0);
		cr_assert_eq(buf_append_str(&b, " "), 0);
	}
	cr_assert_eq(buf_len(&b), strlen(want));
	cr_assert_eq(memcmp(buf_head(&b), want, strlen(want)), 0, "%.*s", (int)buf_len(&b),
	             buf_head(&b));
	buf_free(&b);
}
