/* gatewayd/cgi_output.c: a script's output (or FastCGI STDOUT) as it arrives
 * from a pipe or a socket, in pieces of any size. Each case is fed whole, a
 * byte at a time, in other steps and cut in two at every byte; the front end
 * must see the same response every time. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/request/cgi_output.h"
#include "test/gatewayd/fixture.h"

static void setup(void)
{
	fx_setup();
	fx_mkdir("cgi");
	fx_server("{\"listen\": [{\"http\": \"127.0.0.1:1\"}],"
	          " \"routes\": [{\"match\": \"/\", \"cgi\": {\"root\": \"cgi\"}}]}");
}

TestSuite(cgi_output, .init = setup, .fini = fx_teardown);

struct output_case {
	const char *what;
	const char *out;
	bool nph;
	enum cgi_output_result result; /* after the last byte, or at the first non-MORE */
	int status;                    /* the response's (r->status for NPH); 0: no head */
	const char *reason;
	const char *fields;            /* as the recording writes them */
	const char *body;              /* NPH: the raw bytes */
	const char *location;          /* a local redirect's */
};

static const struct output_case cases[] = {
	{"a plain document", "Content-Type: text/plain\n\nhello", false, CGI_OUT_MORE, 200, "",
	 "Content-Type: text/plain\n", "hello", NULL},
	{"CRLF lines and a Status", "Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n<p>gone</p>",
	 false, CGI_OUT_MORE, 404, "Not Found", "Content-Type: text/html\n", "<p>gone</p>", NULL},
	{"a Status without a reason", "Status: 201\r\nX-A: 1\r\n\r\n", false, CGI_OUT_MORE, 201, "",
	 "X-A: 1\n", "", NULL},
	{"Status after the other fields", "Content-Type: text/plain\nStatus: 202 Taken\n\nok", false,
	 CGI_OUT_MORE, 202, "Taken", "Content-Type: text/plain\n", "ok", NULL},
	{"no body", "Content-Type: text/plain\n\n", false, CGI_OUT_MORE, 200, "",
	 "Content-Type: text/plain\n", "", NULL},
	{"a body that looks like a head", "Content-Type: a/b\n\n\nStatus: 500\n\nX: y\n", false,
	 CGI_OUT_MORE, 200, "", "Content-Type: a/b\n", "\nStatus: 500\n\nX: y\n", NULL},
	{"binary body", "Content-Type: a/b\r\n\r\n\x01\xff\r\n", false, CGI_OUT_MORE, 200, "",
	 "Content-Type: a/b\n", "\x01\xff\r\n", NULL},
	{"a local redirect", "Location: /other?x=1\n\n", false, CGI_OUT_REDIRECT, 0, NULL, NULL, "",
	 "/other?x=1"},
	{"a local redirect, body ignored", "Location: /o\r\n\r\nignored", false, CGI_OUT_REDIRECT, 0,
	 NULL, NULL, "", "/o"},
	{"a client redirect", "Location: https://example.com/x\n\n", false, CGI_OUT_MORE, 302, "",
	 "Location: https://example.com/x\n", "", NULL},
	{"a redirect with a Status is no local one", "Status: 301 Moved\nLocation: /x\n\n", false,
	 CGI_OUT_MORE, 301, "Moved", "Location: /x\n", "", NULL},
	{"a line with no colon", "garbage\n\n", false, CGI_OUT_BAD, 0, NULL, NULL, "", NULL},
	{"a bad line before the block ends", "garbage\nContent-Type: a/b\n", false, CGI_OUT_BAD, 0,
	 NULL, NULL, "", NULL},
	{"no Content-Type, Location or Status", "X-Foo: bar\n\n", false, CGI_OUT_BAD, 0, NULL, NULL,
	 "", NULL},
	{"Status twice", "Status: 200\nStatus: 404\nContent-Type: a/b\n\n", false, CGI_OUT_BAD, 0,
	 NULL, NULL, "", NULL},
	{"a block that never ends", "Content-Type: text/plain\n", false, CGI_OUT_MORE, 0, NULL, NULL,
	 "", NULL},
	{"NPH, passed through", "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nx", true,
	 CGI_OUT_MORE, 404, NULL, NULL, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nx",
	 NULL},
	{"NPH, HTTP/1.0", "HTTP/1.0 503 Busy\r\n\r\n", true, CGI_OUT_MORE, 503, NULL, NULL,
	 "HTTP/1.0 503 Busy\r\n\r\n", NULL},
	{"NPH, no status line", "garbage, as it is", true, CGI_OUT_MORE, 200, NULL, NULL,
	 "garbage, as it is", NULL},
};

static size_t out_len(const struct output_case *c)
{
	return strlen(c->out);
}

static size_t body_len(const struct output_case *c)
{
	return strlen(c->body);
}

/* Feed c's output in the pieces cuts[] says (offsets where a piece ends). */
static void feed_and_check(const struct output_case *c, const size_t *ends, size_t nends,
                           const char *how)
{
	struct recording rec;
	struct request *r = fx_request(&rec);
	struct cgi_output o = {.nph = c->nph, .who = "x.cgi"};
	enum cgi_output_result res = CGI_OUT_MORE;
	char *location = NULL;
	size_t len = out_len(c), off = 0;

	for (size_t i = 0; i < nends && res == CGI_OUT_MORE; i++) {
		cr_assert(ends[i] > off && ends[i] <= len);
		res = cgi_output_feed(&o, r, c->out + off, ends[i] - off, &location);
		off = ends[i];
	}
	fx_recording_sync(&rec);
	cr_expect_eq(res, c->result, "%s, %s: result %d, want %d", c->what, how, res, c->result);
	if (c->result == CGI_OUT_REDIRECT)
		cr_expect(location && strcmp(location, c->location) == 0, "%s, %s: location \"%s\"",
		          c->what, how, location);
	else
		cr_expect_null(location, "%s, %s", c->what, how);
	if (c->nph) {
		cr_expect_eq(r->status, c->status, "%s, %s: status %d, want %d", c->what, how, r->status,
		             c->status);
		cr_expect_eq(rec.raw_len, len, "%s, %s", c->what, how);
		cr_expect_eq(memcmp(rec.raw, c->body, len), 0, "%s, %s", c->what, how);
		cr_expect_eq(rec.heads, 0, "%s, %s", c->what, how);
		cr_expect(o.head_done, "%s, %s: NPH output is all body", c->what, how);
	} else if (c->status) {
		cr_expect_eq(rec.heads, 1, "%s, %s: %d heads", c->what, how, rec.heads);
		cr_expect_eq(rec.status, c->status, "%s, %s: status %d", c->what, how, rec.status);
		cr_expect_str_eq(rec.reason, c->reason, "%s, %s", c->what, how);
		cr_expect_str_eq(rec.fields, c->fields, "%s, %s", c->what, how);
		cr_expect_eq(rec.content_length, -1, "%s, %s: the length is unknown", c->what, how);
		cr_expect_eq(rec.body_len, body_len(c), "%s, %s: body of %zu", c->what, how, rec.body_len);
		cr_expect_eq(memcmp(rec.body, c->body, body_len(c)), 0, "%s, %s: body", c->what, how);
		cr_expect(o.head_done, "%s, %s", c->what, how);
	} else {
		cr_expect_eq(rec.heads, 0, "%s, %s: a head was sent", c->what, how);
		cr_expect_eq(rec.body_len, 0, "%s, %s: a body was sent", c->what, how);
		cr_expect_eq(rec.raw_len, 0, "%s, %s", c->what, how);
		cr_expect_not(o.head_done && c->result != CGI_OUT_REDIRECT, "%s, %s", c->what, how);
	}
	free(location);
	cgi_output_free(&o);
	fx_request_free(r, &rec);
}

static void feed_in_steps(const struct output_case *c, size_t step)
{
	size_t len = out_len(c), n = 0, *ends = malloc((len / step + 2) * sizeof *ends);
	for (size_t off = step; off < len; off += step)
		ends[n++] = off;
	ends[n++] = len;
	char how[32];
	snprintf(how, sizeof how, "in steps of %zu", step);
	feed_and_check(c, ends, n, how);
	free(ends);
}

Test(cgi_output, any_pieces_same_response)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct output_case *c = &cases[i];
		size_t len = out_len(c);
		feed_and_check(c, &len, 1, "whole");
		for (size_t step = 1; step <= 7; step++)
			feed_in_steps(c, step);
		for (size_t cut = 1; cut < len; cut++) {
			size_t ends[2] = {cut, len};
			char how[32];
			snprintf(how, sizeof how, "cut at %zu", cut);
			feed_and_check(c, ends, 2, how);
		}
	}
}

/* The body after the head goes on as it comes, each piece at once; NUL bytes
 * are body bytes like any other, also in the piece that ends the head. */
Test(cgi_output, body_streams_after_the_head)
{
	static const char first[] = "Content-Type: a/b\n\nfirst\0", second[] = "sec\0ond";
	struct recording rec;
	struct request *r = fx_request(&rec);
	struct cgi_output o = {.who = "x.cgi"};
	char *location = NULL;
	cr_assert_eq(cgi_output_feed(&o, r, first, sizeof first - 1, &location), CGI_OUT_MORE);
	fx_recording_sync(&rec);
	cr_expect_eq(rec.body_len, 6);
	cr_expect_eq(buf_len(&o.head), 0, "the head buffer is let go once sent");
	cr_assert_eq(cgi_output_feed(&o, r, second, sizeof second - 1, &location), CGI_OUT_MORE);
	fx_recording_sync(&rec);
	cr_expect_eq(rec.body_len, 13);
	cr_expect_eq(memcmp(rec.body, "first\0sec\0ond", 13), 0);
	cgi_output_free(&o);
	fx_request_free(r, &rec);
}

/* The status is read from the n bytes given, not from what follows them in
 * the caller's buffer (a pipe read lands in a reused buffer). */
Test(cgi_output, nph_status_reads_only_the_bytes_given)
{
	static const char out[] = "HTTP/1.1 40499 stale bytes";
	struct recording rec;
	struct request *r = fx_request(&rec);
	struct cgi_output o = {.nph = true, .who = "nph-x.cgi"};
	char *location = NULL;
	cgi_output_feed(&o, r, out, 12, &location);
	cr_expect_eq(r->status, 404);
	cgi_output_free(&o);
	fx_request_free(r, &rec);
}

/* A header block that never ends is refused once past 64 KiB, not held. */
Test(cgi_output, header_block_over_the_limit)
{
	size_t len = 70000;
	char *out = malloc(len);
	memcpy(out, "Content-Type: text/plain\nX-Big: ", 32);
	memset(out + 32, 'a', len - 32);
	struct recording rec;
	struct request *r = fx_request(&rec);
	struct cgi_output o = {.who = "x.cgi"};
	char *location = NULL;
	enum cgi_output_result res = CGI_OUT_MORE;
	size_t off = 0;
	for (; off < len && res == CGI_OUT_MORE; off += 4096)
		res = cgi_output_feed(&o, r, out + off, len - off < 4096 ? len - off : 4096, &location);
	cr_expect_eq(res, CGI_OUT_BAD);
	cr_expect_leq(off, 64 * 1024 + 4096, "refused late, at %zu", off);
	cr_expect_gt(off, 64 * 1024, "refused early, at %zu", off);
	cr_expect_eq(rec.heads, 0);
	cr_expect(fx_error_log_has("x.cgi: header block over 65536 bytes"));
	cgi_output_free(&o);
	fx_request_free(r, &rec);
	free(out);
}

Test(cgi_output, malformed_head_is_logged)
{
	struct recording rec;
	struct request *r = fx_request(&rec);
	struct cgi_output o = {.who = "x.cgi"};
	char *location = NULL;
	cr_assert_eq(cgi_output_feed(&o, r, "oops\n\n", 6, &location), CGI_OUT_BAD);
	cr_expect(fx_error_log_has("x.cgi printed a malformed header"));
	cgi_output_free(&o);
	fx_request_free(r, &rec);
}

Test(cgi_output, incomplete_output_is_logged)
{
	struct cgi_output o = {.who = "x.cgi"};
	cgi_output_log_incomplete(&o, "0000000000000001");
	cr_expect(fx_error_log_has("x.cgi produced no output"));
	struct recording rec;
	struct request *r = fx_request(&rec);
	char *location = NULL;
	cgi_output_feed(&o, r, "Content-Type: te", 16, &location);
	cgi_output_log_incomplete(&o, r->id);
	cr_expect(fx_error_log_has("x.cgi ended inside its header block: Content-Type: te"));
	cgi_output_free(&o);
	fx_request_free(r, &rec);
}
