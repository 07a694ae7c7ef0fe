/* Fails one allocation of gatewayd's own code on purpose, for
 * test/integration/test_oom.c: linked into test/fault/gatewayd-faulty with
 * -Wl,--wrap for malloc, calloc, realloc, strdup and strndup, so only the
 * calls gatewayd's sources make are counted (libc's, libev's and jansson's
 * own allocations are not). Counting starts at the first accepted
 * connection (gw_fault_point(), a weak hook the listener calls), so start-up
 * is never the victim; GW_FAIL_ALLOC=k fails the k-th allocation after it,
 * once, and says so on stderr at that moment ("alloc_fault: allocation k
 * failed"), so the test knows whether its request reached the k-th. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void gw_fault_point(void);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t m, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__real_malloc(size_t n);
void *__real_calloc(size_t m, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

static long fail_at = -1; /* the k-th counted allocation fails; -1: never */
static long counted;
static bool armed, failed;

void gw_fault_point(void)
{
	if (armed)
		return;
	armed = true;
	const char *k = getenv("GW_FAIL_ALLOC");
	fail_at = k ? atol(k) : -1;
}

static bool fail_now(void)
{
	if (!armed || failed)
		return false;
	if (++counted != fail_at)
		return false;
	failed = true;
	char line[64]; /* no allocation here: snprintf into the stack, one write */
	int n = snprintf(line, sizeof line, "alloc_fault: allocation %ld failed\n", fail_at);
	if (n > 0 && write(2, line, (size_t)n) < 0)
		failed = true;
	return true;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t m, size_t n)
{
	return fail_now() ? NULL : __real_calloc(m, n);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}
