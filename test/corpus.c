#include "test/corpus.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char *corpus_path(const char *rel)
{
	static char path[4096];
	const char *src = getenv("GW_SRCDIR");
	snprintf(path, sizeof path, "%s/test/corpora/%s", src ? src : ".", rel);
	return path;
}

json_t *corpus_json(const char *rel)
{
	json_error_t err;
	json_t *j = json_load_file(corpus_path(rel), 0, &err);
	if (!j)
		cr_assert_fail("cannot load %s: %s:%d: %s", rel, err.source, err.line, err.text);
	return j;
}

char *corpus_file(const char *rel, size_t *len)
{
	FILE *f = fopen(corpus_path(rel), "rb");
	if (!f)
		cr_assert_fail("cannot open %s", corpus_path(rel));
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

struct guard guard_new(size_t room)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (room + page - 1) / page * page;
	struct guard g = {.map_len = data + page};

	g.map = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(g.map, MAP_FAILED);
	g.end = g.map + data;
	cr_assert_eq(mprotect(g.end, page, PROT_NONE), 0);
	return g;
}

void guard_free(struct guard *g)
{
	munmap(g->map, g->map_len);
	g->map = NULL;
}

const void *guard_place(struct guard *g, const void *src, size_t n)
{
	cr_assert_leq(n, (size_t)(g->end - g->map), "input larger than the guard buffer");
	unsigned char *dst = g->end - n;
	if (n)
		memmove(dst, src, n);
	return dst;
}

bool bytes_eq(const void *a, size_t a_len, const void *b, size_t b_len)
{
	return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

void expect_name_value(const uint8_t *name, size_t name_len, const uint8_t *value,
                       size_t value_len, const struct name_value *want, const char *unit,
                       const char *what, size_t i)
{
	cr_assert(bytes_eq(name, name_len, want->name, want->name_len), "%s: %s %zu: name %.*s",
	          what, unit, i, (int)name_len, (const char *)name);
	cr_assert(bytes_eq(value, value_len, want->value, want->value_len),
	          "%s: %s %zu: value %.*s", what, unit, i, (int)value_len, (const char *)value);
}
