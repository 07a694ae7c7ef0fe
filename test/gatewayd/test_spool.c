/* gatewayd/spool.c: a body of unknown length stays in memory up to
 * limits.body_memory, then all of it moves to an unnamed file in temp_dir; it
 * reads back byte-exact either way, through spool_read() and through a
 * request it is handed to. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd/core/server.h"
#include "gatewayd/core/spool.h"
#include "test/gatewayd/fixture.h"

#define THRESHOLD 1000

static void setup(void)
{
	fx_setup();
	fx_mkdir("tmp");
	fx_mkdir("cgi");
	fx_server("{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"temp_dir\": \"tmp\","
	          " \"limits\": {\"body_memory\": 1000},"
	          " \"routes\": [{\"match\": \"/\", \"cgi\": {\"root\": \"cgi\"}}]}");
	cr_assert_eq(gw->cfg->limits.body_memory, THRESHOLD);
}

TestSuite(spool, .init = setup, .fini = fx_teardown);

static char *body_of(size_t n)
{
	char *p = malloc(n + 1);
	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * 131 + i / 256); /* every byte value, no period of 256 */
	return p;
}

/* Write body in pieces of step bytes. */
static void write_in_steps(struct spool *s, const char *body, size_t n, size_t step)
{
	for (size_t off = 0; off < n; off += step)
		cr_assert_eq(spool_write(s, body + off, n - off < step ? n - off : step, "rid"), 0);
}

static size_t files_in_temp_dir(void)
{
	DIR *d = opendir(fx_path("tmp"));
	cr_assert_not_null(d);
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

struct spool_case {
	size_t size;
	size_t write_step;
	size_t read_step;
	bool in_file;
};

static const struct spool_case spool_cases[] = {
	{0, 1, 1, false},
	{1, 1, 7, false},
	{THRESHOLD - 1, 100, 64, false},
	{THRESHOLD, 1, 1000, false},         /* at the threshold: still memory */
	{THRESHOLD, THRESHOLD, 1, false},
	{THRESHOLD + 1, 1, 333, true},       /* one byte over, written bytewise */
	{THRESHOLD + 1, THRESHOLD + 1, 4096, true}, /* one write past it at once */
	{THRESHOLD + 1, 500, 1, true},
	{300000, 7777, 65536, true},
	{300000, 300000, 1000, true},
};

Test(spool, reads_back_byte_exact)
{
	for (size_t i = 0; i < sizeof spool_cases / sizeof spool_cases[0]; i++) {
		const struct spool_case *c = &spool_cases[i];
		char *body = body_of(c->size), *back = malloc(c->size + 1);
		struct spool s;
		spool_init(&s);
		write_in_steps(&s, body, c->size, c->write_step);
		cr_expect_eq(s.size, c->size, "case %zu", i);
		cr_expect_eq(s.fd >= 0, c->in_file, "case %zu: fd %d", i, s.fd);
		if (c->in_file) {
			cr_expect_eq(buf_len(&s.mem), 0, "case %zu: memory still held", i);
			cr_expect_eq(files_in_temp_dir(), 0, "case %zu: the temp file has a name", i);
		}
		size_t got = 0, n;
		while ((n = spool_read(&s, back + got, c->read_step)) > 0) {
			cr_assert_leq(n, c->read_step);
			got += n;
			cr_assert_leq(got, c->size, "case %zu: more read than written", i);
		}
		cr_expect_eq(got, c->size, "case %zu: read %zu of %zu", i, got, c->size);
		cr_expect_eq(memcmp(body, back, c->size), 0, "case %zu: other bytes", i);
		cr_expect_eq(spool_pending(&s), 0, "case %zu", i);
		int fd = s.fd;
		spool_free(&s);
		if (fd >= 0)
			cr_expect_eq(fcntl(fd, F_GETFD), -1, "case %zu: the temp file stays open", i);
		free(body);
		free(back);
	}
}

/* An overflow queue: reads between writes see the bytes in order. */
Test(spool, reads_interleaved_with_writes)
{
	size_t size = 5000;
	char *body = body_of(size), *back = malloc(size);
	struct spool s;
	spool_init(&s);
	size_t written = 0, got = 0;
	while (written < size) {
		size_t n = size - written < 600 ? size - written : 600;
		cr_assert_eq(spool_write(&s, body + written, n, "rid"), 0);
		written += n;
		got += spool_read(&s, back + got, 250);
		cr_assert_eq(spool_pending(&s), written - got);
	}
	while (got < size) {
		size_t n = spool_read(&s, back + got, 999);
		cr_assert_gt(n, 0, "stuck at %zu of %zu", got, size);
		got += n;
	}
	cr_expect_eq(memcmp(body, back, size), 0);
	spool_free(&s);
	free(body);
	free(back);
}

static int body_calls;

static void count_body(struct request *r)
{
	body_calls++;
}

static const struct handler_ops counting_handler = {.name = "test", .body = count_body};

/* The body, taken from a request the way a handler takes it. */
static char *take_whole_body(struct request *r, size_t *len)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	cr_assert_not_null(f);
	for (int turns = 0; buf_len(&r->body) > 0; turns++) {
		cr_assert_lt(turns, 10000);
		size_t take = buf_len(&r->body) < 10000 ? buf_len(&r->body) : 10000;
		fwrite(buf_head(&r->body), 1, take, f);
		request_body_taken(r, take);
	}
	fclose(f);
	*len = n;
	return out;
}

static void hand_to_request(size_t size, bool in_file)
{
	struct recording rec;
	struct request *r = fx_request(&rec);
	r->handler = &counting_handler;
	char *body = body_of(size);
	struct spool s;
	spool_init(&s);
	write_in_steps(&s, body, size, 4096);
	cr_assert_eq(s.fd >= 0, in_file);
	spool_hand_to(&s, r);

	char want[32];
	snprintf(want, sizeof want, "%zu", size);
	cr_expect_str_eq(cgi_env_get(&r->env, "CONTENT_LENGTH"), want);
	cr_expect_eq(r->content_length, (long long)size);
	cr_expect_eq(s.size, 0);
	cr_expect_eq(s.fd, -1, "the request owns the file now");
	cr_expect_eq(r->spool_fd >= 0, in_file);
	cr_expect_leq(buf_len(&r->body), (size_t)REQUEST_HIGH_WATER, "the whole file read in at once");

	size_t got;
	char *back = take_whole_body(r, &got);
	cr_expect_eq(got, size);
	cr_expect_eq(memcmp(back, body, size), 0, "other bytes");
	cr_expect(r->body_complete);
	/* One-way body flow: a refill from the file lands in r->body for the
	 * handler's own loop; body() is never called back from inside it. */
	cr_expect_eq(body_calls, 0, "body() called back %d times from inside the handler's call",
	             body_calls);
	spool_free(&s);
	free(back);
	free(body);
	fx_request_free(r, &rec);
}

Test(spool, hands_memory_to_a_request)
{
	hand_to_request(THRESHOLD, false);
}

Test(spool, hands_a_file_to_a_request)
{
	hand_to_request(700000, true);
}

Test(spool, temp_dir_gone_fails_and_logs)
{
	cr_assert_eq(rmdir(fx_path("tmp")), 0);
	char *body = body_of(THRESHOLD + 1);
	struct spool s;
	spool_init(&s);
	cr_assert_eq(spool_write(&s, body, THRESHOLD, "rid"), 0, "memory needs no directory");
	cr_expect_eq(spool_write(&s, body + THRESHOLD, 1, "rid"), -1);
	cr_expect(fx_error_log_has("cannot spool the request body in"));
	spool_free(&s);
	free(body);
}
