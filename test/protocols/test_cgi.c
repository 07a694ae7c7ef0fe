/* Unit tests for protocols/cgi_env.c and protocols/cgi_response.c.
 *
 * Requests are split by a small splitter of this file's own, not by http1.c, so
 * that these tests depend on the CGI module alone. */
#include "protocols/cgi.h"
#include "test/corpus.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TEST_HEADERS 32

/* Criterion ignores how a test's process exits once the test has reported (and
 * an assertion in a .fini hook too), so LeakSanitizer's exit-time report would
 * fail nothing: every test ends with this instead. Weak, so that a build without
 * the sanitizer links. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void assert_no_leaks(void)
{
	if (__lsan_do_recoverable_leak_check)
		cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked");
}

/* ---- helpers ------------------------------------------------------------ */

struct test_request {
	struct http1_request req;
	struct http1_header headers[MAX_TEST_HEADERS];
};

static struct http1_str span(const char *p, const char *end)
{
	return (struct http1_str){ p, (size_t)(end - p) };
}

static bool str_is(struct http1_str s, const char *lit)
{
	return s.len == strlen(lit) && strncasecmp(s.p, lit, s.len) == 0;
}

/* Split "METHOD target HTTP/1.x" CRLF, then "Name: value" CRLF lines up to the
 * blank line. Every string is a view into text. */
static void split_request(struct test_request *t, const char *text)
{
	struct http1_request *req = &t->req;

	memset(t, 0, sizeof *t);
	req->headers = t->headers;
	const char *eol = strstr(text, "\r\n");
	cr_assert_not_null(eol, "no request line in %s", text);
	const char *sp1 = memchr(text, ' ', (size_t)(eol - text));
	cr_assert_not_null(sp1);
	const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	cr_assert_not_null(sp2);
	cr_assert_eq(strncmp(sp2 + 1, "HTTP/1.", 7), 0);

	req->method = span(text, sp1);
	req->target = span(sp1 + 1, sp2);
	const char *q = memchr(req->target.p, '?', req->target.len);
	req->path = span(req->target.p, q ? q : sp2);
	if (q)
		req->query = span(q + 1, sp2);
	req->minor_version = sp2[8] - '0';

	for (const char *p = eol + 2; strncmp(p, "\r\n", 2) != 0; p = eol + 2) {
		eol = strstr(p, "\r\n");
		cr_assert_not_null(eol, "unterminated header in %s", text);
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		cr_assert_not_null(colon);
		const char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		cr_assert_lt(req->num_headers, MAX_TEST_HEADERS);
		struct http1_header *h = &t->headers[req->num_headers++];
		h->name = span(p, colon);
		h->value = span(v, eol);
		if (str_is(h->name, "Host"))
			req->host = h->value;
	}
}

static struct cgi_http_input default_input(const struct http1_request *req)
{
	return (struct cgi_http_input){
		.req = req,
		.remote_addr = "1.2.3.4",
		.remote_port = 1234,
		.server_addr = "10.0.0.1",
		.server_port = 80,
		.server_name = "default.example",
		.server_software = "gatewayd/test",
		.content_length = -1,
	};
}

/* vars[count] == NULL, every var is NAME=value, bytes is their total length. */
static void check_env_invariants(const struct cgi_env *env)
{
	char *const *envp = cgi_env_envp(env);
	size_t bytes = 0, n = 0;

	cr_assert_not_null(envp);
	for (; envp[n]; n++) {
		cr_assert_not_null(strchr(envp[n], '='), "%s", envp[n]);
		cr_assert_neq(envp[n][0], '=');
		bytes += strlen(envp[n]);
	}
	cr_assert_eq(n, env->count);
	cr_assert_eq(bytes, env->bytes);
}

/* "NAME=value": NAME must be value; "!NAME": NAME must be unset. */
static void expect_var(const struct cgi_env *env, const char *spec, const char *case_name)
{
	if (spec[0] == '!') {
		const char *got = cgi_env_get(env, spec + 1);
		cr_expect_null(got, "%s: %s is set to \"%s\"", case_name, spec + 1, got);
		return;
	}
	const char *eq = strchr(spec, '=');
	char name[64];
	cr_assert_not_null(eq);
	snprintf(name, sizeof name, "%.*s", (int)(eq - spec), spec);
	const char *got = cgi_env_get(env, name);
	cr_expect_str_eq(got ? got : "(unset)", eq + 1, "%s: %s", case_name, name);
}

/* ---- the ordered set ---------------------------------------------------- */

Test(cgi_env, set_get_replace_unset_keep_order)
{
	struct cgi_env env;
	cgi_env_init(&env);

	cr_assert_eq(cgi_env_set(&env, "A", "1"), 0);
	cr_assert_eq(cgi_env_set(&env, "B", "22"), 0);
	cr_assert_eq(cgi_env_set(&env, "C", "333"), 0);
	check_env_invariants(&env);
	cr_assert_eq(env.bytes, strlen("A=1B=22C=333"));

	cr_assert_eq(cgi_env_set(&env, "B", "x"), 0);
	cr_assert_eq(env.count, 3);
	cr_assert_str_eq(env.vars[1], "B=x");
	cr_assert_str_eq(cgi_env_get(&env, "B"), "x");
	check_env_invariants(&env);

	cgi_env_unset(&env, "A");
	cr_assert_eq(env.count, 2);
	cr_assert_str_eq(env.vars[0], "B=x");
	cr_assert_str_eq(env.vars[1], "C=333");
	cr_assert_null(env.vars[2]);
	cr_assert_null(cgi_env_get(&env, "A"));
	check_env_invariants(&env);

	cgi_env_unset(&env, "missing");
	cr_assert_eq(env.count, 2);
	cr_assert_eq(cgi_env_set(&env, "A", ""), 0);
	cr_assert_str_eq(env.vars[2], "A=");
	cr_assert_str_eq(cgi_env_get(&env, "A"), "");
	check_env_invariants(&env);
	cgi_env_free(&env);
	cr_assert_eq(env.count, 0);
	cr_assert_null(env.vars);
	assert_no_leaks();
}

Test(cgi_env, names_match_whole)
{
	struct cgi_env env;
	cgi_env_init(&env);
	cr_assert_eq(cgi_env_set(&env, "PATH_INFO", "/a"), 0);
	cr_assert_eq(cgi_env_set(&env, "PATH", "/bin"), 0);
	cr_assert_null(cgi_env_get(&env, "PAT"));
	cr_assert_null(cgi_env_get(&env, "path"));
	cr_assert_str_eq(cgi_env_get(&env, "PATH"), "/bin");
	cr_assert_str_eq(cgi_env_get(&env, "PATH_INFO"), "/a");
	cgi_env_unset(&env, "PATH");
	cr_assert_str_eq(cgi_env_get(&env, "PATH_INFO"), "/a");
	cgi_env_free(&env);
	assert_no_leaks();
}

Test(cgi_env, setn_takes_a_length_and_any_byte_but_nul)
{
	struct cgi_env env;
	cgi_env_init(&env);
	cr_assert_eq(cgi_env_setn(&env, "V", "abcdef", 3), 0);
	cr_assert_str_eq(cgi_env_get(&env, "V"), "abc");
	cr_assert_eq(cgi_env_setn(&env, "W", "\x01\t\xff=;", 5), 0);
	cr_assert_str_eq(cgi_env_get(&env, "W"), "\x01\t\xff=;");
	cr_assert_eq(cgi_env_setn(&env, "E", NULL, 0), 0);
	cr_assert_str_eq(cgi_env_get(&env, "E"), "");

	cr_assert_eq(cgi_env_setn(&env, "V", "a\0b", 3), -1);
	cr_assert_str_eq(cgi_env_get(&env, "V"), "abc", "a failed set leaves the old value");
	cr_assert_eq(cgi_env_set(&env, "A=B", "c"), -1);
	cr_assert_eq(cgi_env_set(&env, "", "c"), -1);
	cr_assert_eq(env.count, 3);
	check_env_invariants(&env);
	cgi_env_free(&env);
	assert_no_leaks();
}

/* The one way in for a web server's variables: table of name, value, verdict. */
Test(cgi_env, add_from_server_drops_httpoxy_and_uwsgi_refuses_bad_names)
{
	static const struct {
		const char *name;
		size_t name_len;
		const char *value;
		size_t value_len;
		enum cgi_var_verdict want;
	} cases[] = {
		{"HTTP_HOST", 9, "a", 1, CGI_VAR_SET},
		{"HTTP_PROXY", 10, "http://evil:1", 13, CGI_VAR_DROPPED},
		{"HTTP_PROXY_X", 12, "kept", 4, CGI_VAR_SET},
		{"HTTP_PROX", 9, "kept", 4, CGI_VAR_SET},
		{"UWSGI_SCRIPT", 12, "evil:app", 8, CGI_VAR_DROPPED},
		{"UWSGI_", 6, "", 0, CGI_VAR_DROPPED},
		{"UWSGI", 5, "kept", 4, CGI_VAR_SET},
		{"", 0, "x", 1, CGI_VAR_BAD_NAME},
		{"A=B", 3, "x", 1, CGI_VAR_BAD_NAME},
		{"A\0B", 3, "x", 1, CGI_VAR_BAD_NAME},
		{"EMPTY", 5, "", 0, CGI_VAR_SET},
		{"NUL", 3, "a\0b", 3, CGI_VAR_BAD_VALUE},
		/* not NUL-terminated: only name_len bytes count */
		{"QUERY_STRINGXXX", 12, "k=1yyy", 3, CGI_VAR_SET},
	};
	struct cgi_env env;
	cgi_env_init(&env);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(cgi_env_add_from_server(&env, cases[i].name, cases[i].name_len,
		                                     cases[i].value, cases[i].value_len),
		             cases[i].want, "%zu: %.*s", i, (int)cases[i].name_len, cases[i].name);
	cr_expect_str_eq(cgi_env_get(&env, "HTTP_HOST"), "a");
	cr_expect_null(cgi_env_get(&env, "HTTP_PROXY"));
	cr_expect_null(cgi_env_get(&env, "UWSGI_SCRIPT"));
	cr_expect_str_eq(cgi_env_get(&env, "HTTP_PROXY_X"), "kept");
	cr_expect_str_eq(cgi_env_get(&env, "QUERY_STRING"), "k=1");
	cr_expect_eq(env.count, 6);
	check_env_invariants(&env);
	cgi_env_free(&env);
	assert_no_leaks();
}

Test(cgi_env, envp_is_null_terminated_even_when_empty_or_grown)
{
	struct cgi_env env;
	cgi_env_init(&env);
	char *const *envp = cgi_env_envp(&env);
	cr_assert_not_null(envp);
	cr_assert_null(envp[0]);

	for (int i = 0; i < 200; i++) {
		char name[16], value[16];
		snprintf(name, sizeof name, "V%d", i);
		snprintf(value, sizeof value, "%d", i * 7);
		cr_assert_eq(cgi_env_set(&env, name, value), 0);
	}
	check_env_invariants(&env);
	cr_assert_eq(env.count, 200);
	cr_assert_str_eq(cgi_env_envp(&env)[0], "V0=0");
	cr_assert_str_eq(cgi_env_envp(&env)[199], "V199=1393");
	cr_assert_null(cgi_env_envp(&env)[200]);
	for (int i = 0; i < 200; i += 2) {
		char name[16];
		snprintf(name, sizeof name, "V%d", i);
		cgi_env_unset(&env, name);
	}
	cr_assert_eq(env.count, 100);
	cr_assert_str_eq(env.vars[0], "V1=7");
	check_env_invariants(&env);
	cgi_env_free(&env);
	assert_no_leaks();
}

/* The vars live in blocks of the env's: one bigger than a block, many that
 * fill several, and replacements, keep every value and its order. */
Test(cgi_env, values_bigger_than_a_block_and_many_replacements)
{
	struct cgi_env env;
	cgi_env_init(&env);
	size_t big_len = 100000;
	char *big = malloc(big_len + 1);
	memset(big, 'b', big_len);
	big[big_len] = '\0';
	cr_assert_eq(cgi_env_set(&env, "SMALL", "s"), 0);
	cr_assert_eq(cgi_env_set(&env, "BIG", big), 0);
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 40; i++) {
			char name[16], value[64];
			snprintf(name, sizeof name, "V%d", i);
			snprintf(value, sizeof value, "%d-%d-%040d", round, i, 0);
			cr_assert_eq(cgi_env_set(&env, name, value), 0);
		}
	}
	cr_assert_eq(env.count, 42);
	cr_assert_str_eq(cgi_env_get(&env, "SMALL"), "s");
	cr_assert_str_eq(cgi_env_get(&env, "BIG"), big);
	cr_assert_str_eq(env.vars[2], "V0=49-0-0000000000000000000000000000000000000000");
	cr_assert_str_eq(env.vars[41], "V39=49-39-0000000000000000000000000000000000000000");
	check_env_invariants(&env);
	cgi_env_unset(&env, "BIG");
	check_env_invariants(&env);
	cr_assert_eq(env.count, 41);
	/* Small vars between ones of a quarter block and more, which get blocks
	 * of their own: every value stays whole. */
	char mid[700];
	for (int i = 0; i < 100; i++) {
		char name[16];
		memset(mid, 'a' + i % 26, sizeof mid - 1);
		mid[sizeof mid - 1] = '\0';
		snprintf(name, sizeof name, "L%d", i);
		cr_assert_eq(cgi_env_set(&env, name, mid), 0);
		snprintf(name, sizeof name, "S%d", i);
		cr_assert_eq(cgi_env_set(&env, name, "x"), 0);
	}
	for (int i = 0; i < 100; i++) {
		char name[16];
		snprintf(name, sizeof name, "L%d", i);
		const char *v = cgi_env_get(&env, name);
		cr_assert(v && strlen(v) == sizeof mid - 1 && v[0] == 'a' + i % 26 &&
		                  v[sizeof mid - 2] == 'a' + i % 26,
		          "%s", name);
		snprintf(name, sizeof name, "S%d", i);
		cr_assert_str_eq(cgi_env_get(&env, name), "x");
	}
	check_env_invariants(&env);
	cgi_env_free(&env);
	free(big);
	assert_no_leaks();
}

Test(cgi_env, zeroed_struct_is_initialised)
{
	struct cgi_env env = { 0 };
	cr_assert_null(cgi_env_get(&env, "X"));
	cgi_env_unset(&env, "X");
	cr_assert_eq(cgi_env_set(&env, "X", "1"), 0);
	check_env_invariants(&env);
	cgi_env_free(&env);
	cgi_env_free(&env); /* free leaves an empty env, freeing it again is harmless */
	assert_no_leaks();
}

/* ---- cgi_env_from_http: own cases --------------------------------------- */

struct env_case {
	const char *name;
	const char *request;
	bool pass_authorization;
	bool https;
	bool length_known;
	long long content_length;
	const char *auth_user, *auth_type, *request_id;
	const char *expect[24]; /* "NAME=value" or "!NAME" */
};

static const struct env_case env_cases[] = {
	{ "basics",
	  "GET /cgi-bin/x.cgi/p?a=1&b HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n\r\n",
	  .expect = { "GATEWAY_INTERFACE=CGI/1.1", "SERVER_PROTOCOL=HTTP/1.1",
		      "SERVER_SOFTWARE=gatewayd/test", "SERVER_NAME=example.com",
		      "SERVER_ADDR=10.0.0.1", "SERVER_PORT=80", "REMOTE_ADDR=1.2.3.4",
		      "REMOTE_HOST=1.2.3.4", "REMOTE_PORT=1234", "REQUEST_METHOD=GET",
		      "REQUEST_URI=/cgi-bin/x.cgi/p?a=1&b", "QUERY_STRING=a=1&b",
		      "HTTP_HOST=example.com", "HTTP_USER_AGENT=t/1", "!HTTPS",
		      "!AUTH_TYPE", "!REMOTE_USER", "!GATEWAY_REQUEST_ID", "!CONTENT_LENGTH",
		      "!CONTENT_TYPE", "!SCRIPT_NAME", "!PATH_INFO", "!SCRIPT_FILENAME" } },
	{ "httpoxy: Proxy never becomes HTTP_PROXY",
	  "GET / HTTP/1.1\r\nHost: a\r\nProxy: http://evil:8080/\r\nproxy: x\r\nX-Ok: 1\r\n\r\n",
	  .pass_authorization = true,
	  .expect = { "!HTTP_PROXY", "HTTP_X_OK=1" } },
	{ "names with '_' or '.' are dropped, not aliased onto '-'",
	  "GET / HTTP/1.1\r\nHost: a\r\nX_Foo: spoof\r\nX.Foo: dot\r\nX-Foo: real\r\n"
	  "Proxy_Auth: z\r\n\r\n",
	  .expect = { "HTTP_X_FOO=real", "!HTTP_PROXY_AUTH" } },
	{ "Authorization withheld by default",
	  "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic dTpw\r\n"
	  "Proxy-Authorization: Basic cDpx\r\n\r\n",
	  .expect = { "!HTTP_AUTHORIZATION", "!HTTP_PROXY_AUTHORIZATION" } },
	{ "Authorization passed when the route allows it",
	  "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic dTpw\r\n"
	  "Proxy-Authorization: Basic cDpx\r\n\r\n",
	  .pass_authorization = true,
	  .expect = { "HTTP_AUTHORIZATION=Basic dTpw", "HTTP_PROXY_AUTHORIZATION=Basic cDpx" } },
	{ "repeats merged with \", \" whatever their case and position",
	  "GET / HTTP/1.1\r\nAccept: a\r\nHost: h\r\nACCEPT: b\r\nX-E:\r\naccept: c\r\n\r\n",
	  .expect = { "HTTP_ACCEPT=a, b, c", "HTTP_X_E=", "HTTP_HOST=h" } },
	{ "Cookie merged with \"; \"",
	  "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nX: y\r\ncookie: b=2; c=3\r\n\r\n",
	  .expect = { "HTTP_COOKIE=a=1; b=2; c=3", "HTTP_X=y" } },
	{ "hop-by-hop fields and Connection nominees dropped",
	  "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\n"
	  "Connection:  X-Two ,x-three\r\nX-Secret: s\r\nX-Two: 2\r\nX-Three: 3\r\n"
	  "X-Kept: k\r\nKeep-Alive: 5\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\n"
	  "Proxy-Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
	  .expect = { "!HTTP_CONNECTION", "!HTTP_X_SECRET", "!HTTP_X_TWO", "!HTTP_X_THREE",
		      "HTTP_X_KEPT=k", "!HTTP_KEEP_ALIVE", "!HTTP_TE", "!HTTP_TRAILER",
		      "!HTTP_UPGRADE", "!HTTP_PROXY_CONNECTION", "!HTTP_TRANSFER_ENCODING",
		      "!CONTENT_LENGTH", "HTTP_HOST=h" } },
	{ "a Connection token is matched whole",
	  "GET / HTTP/1.1\r\nHost: h\r\nConnection: x-a-b\r\nX-A: 1\r\n\r\n",
	  .expect = { "HTTP_X_A=1" } },
	{ "CONTENT_LENGTH and CONTENT_TYPE, not as HTTP_*",
	  "POST /f HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain; charset=utf-8\r\n"
	  "Content-Length: 5\r\n\r\n",
	  .length_known = true, .content_length = 5,
	  .expect = { "CONTENT_LENGTH=5", "CONTENT_TYPE=text/plain; charset=utf-8",
		      "!HTTP_CONTENT_LENGTH", "!HTTP_CONTENT_TYPE", "REQUEST_METHOD=POST" } },
	{ "CONTENT_LENGTH=0 is a length",
	  "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
	  .length_known = true, .content_length = 0,
	  .expect = { "CONTENT_LENGTH=0", "!CONTENT_TYPE" } },
	{ "a length the daemon learnt after de-chunking",
	  "POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
	  .length_known = true, .content_length = 123456789012LL,
	  .expect = { "CONTENT_LENGTH=123456789012", "!HTTP_TRANSFER_ENCODING" } },
	{ "QUERY_STRING empty without '?'",
	  "GET /x HTTP/1.1\r\nHost: h\r\n\r\n",
	  .expect = { "QUERY_STRING=", "REQUEST_URI=/x" } },
	{ "QUERY_STRING empty after a bare '?'",
	  "GET /x? HTTP/1.1\r\nHost: h\r\n\r\n",
	  .expect = { "QUERY_STRING=", "REQUEST_URI=/x?" } },
	{ "REQUEST_URI and QUERY_STRING as sent, not decoded",
	  "GET /a%20b?q=%41+b HTTP/1.1\r\nHost: h\r\n\r\n",
	  .expect = { "QUERY_STRING=q=%41+b", "REQUEST_URI=/a%20b?q=%41+b" } },
	{ "HTTP/1.0 without Host: SERVER_NAME from the config",
	  "GET / HTTP/1.0\r\n\r\n",
	  .expect = { "SERVER_PROTOCOL=HTTP/1.0", "SERVER_NAME=default.example", "!HTTP_HOST" } },
	{ "an empty Host: SERVER_NAME from the config",
	  "GET / HTTP/1.0\r\nHost:\r\n\r\n",
	  .expect = { "SERVER_NAME=default.example", "HTTP_HOST=" } },
	{ "Host port stripped; SERVER_PORT is the listener's",
	  "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
	  .expect = { "SERVER_NAME=example.com", "SERVER_PORT=80", "HTTP_HOST=example.com:8080" } },
	{ "IPv6 Host with port keeps its brackets",
	  "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n",
	  .expect = { "SERVER_NAME=[2001:db8::1]", "HTTP_HOST=[2001:db8::1]:8080" } },
	{ "IPv6 Host without port",
	  "GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n",
	  .expect = { "SERVER_NAME=[::1]" } },
	{ "HTTPS, auth and request id when given",
	  "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
	  .https = true, .auth_user = "alice", .auth_type = "Basic", .request_id = "r-42",
	  .expect = { "HTTPS=on", "REMOTE_USER=alice", "AUTH_TYPE=Basic",
		      "GATEWAY_REQUEST_ID=r-42" } },
	{ "obs-text in a value is passed as is",
	  "GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\t!\r\n\r\n",
	  .expect = { "HTTP_X_NAME=caf\xc3\xa9\t!" } },
};

static void run_env_case(const struct env_case *c)
{
	struct test_request t;
	struct cgi_env env;

	split_request(&t, c->request);
	struct cgi_http_input in = default_input(&t.req);
	in.pass_authorization = c->pass_authorization;
	in.https = c->https;
	in.content_length = c->length_known ? c->content_length : -1;
	in.auth_user = c->auth_user;
	in.auth_type = c->auth_type;
	in.request_id = c->request_id;

	cgi_env_init(&env);
	cr_assert_eq(cgi_env_from_http(&env, &in), 0, "%s", c->name);
	check_env_invariants(&env);
	for (size_t i = 0; c->expect[i]; i++)
		expect_var(&env, c->expect[i], c->name);
	cgi_env_free(&env);
}

Test(cgi_env_from_http, own_cases)
{
	for (size_t i = 0; i < sizeof env_cases / sizeof *env_cases; i++)
		run_env_case(&env_cases[i]);
	assert_no_leaks();
}

Test(cgi_env_from_http, replaces_what_env_held)
{
	struct test_request t;
	struct cgi_env env;

	split_request(&t, "GET /?new HTTP/1.1\r\nHost: h\r\nX-A: new\r\n\r\n");
	struct cgi_http_input in = default_input(&t.req);
	cgi_env_init(&env);
	cr_assert_eq(cgi_env_set(&env, "QUERY_STRING", "old"), 0);
	cr_assert_eq(cgi_env_set(&env, "HTTP_X_A", "old"), 0);
	cr_assert_eq(cgi_env_set(&env, "PATH", "/bin"), 0);
	cr_assert_eq(cgi_env_from_http(&env, &in), 0);
	cr_assert_str_eq(cgi_env_get(&env, "QUERY_STRING"), "new");
	cr_assert_str_eq(cgi_env_get(&env, "HTTP_X_A"), "new");
	cr_assert_str_eq(cgi_env_get(&env, "PATH"), "/bin");
	cr_assert_str_eq(env.vars[0], "QUERY_STRING=new");
	check_env_invariants(&env);
	cgi_env_free(&env);
	assert_no_leaks();
}

Test(cgi_env_from_http, defaults_for_missing_inputs)
{
	struct test_request t;
	struct cgi_env env;

	split_request(&t, "GET / HTTP/1.0\r\n\r\n");
	struct cgi_http_input in = { .req = &t.req, .content_length = -1 };
	cgi_env_init(&env);
	cr_assert_eq(cgi_env_from_http(&env, &in), 0);
	cr_assert_str_eq(cgi_env_get(&env, "SERVER_SOFTWARE"), "gatewayd");
	cr_assert_str_eq(cgi_env_get(&env, "SERVER_NAME"), "");
	cr_assert_str_eq(cgi_env_get(&env, "REMOTE_ADDR"), "");
	cr_assert_str_eq(cgi_env_get(&env, "SERVER_PORT"), "0");
	cr_assert_null(cgi_env_get(&env, "SERVER_ADDR"));
	check_env_invariants(&env);
	cgi_env_free(&env);

	in.server_addr = "192.0.2.1";
	cgi_env_init(&env);
	cr_assert_eq(cgi_env_from_http(&env, &in), 0);
	cr_assert_str_eq(cgi_env_get(&env, "SERVER_NAME"), "192.0.2.1");
	cgi_env_free(&env);
	assert_no_leaks();
}

/* ---- cgi_env_from_http: the Go net/http/cgi corpus ---------------------- */

/* Where gatewayd deliberately differs from Go's net/http/cgi on a corpus case's
 * meta-variable. Each entry must be met by a case, so the table cannot go stale.
 *
 * Not env differences, so not in this table (checked elsewhere):
 * - SERVER_PORT: Go takes the Host header's port (default 80); gatewayd the
 *   listener's. The corpus' Hosts carry :80 or no port and this test's listener
 *   is 80, so no case differs.
 * - TestCGIPostChunked: Go answers 400; gatewayd de-chunks the body and the daemon
 *   sets CONTENT_LENGTH once it is known (here content_length = -1: unset).
 *   The answer itself is the integration test's.
 * - TestRedirect, TestInternalRedirect: the response side, see the cgi_response
 *   cases "client redirect" and "local redirect" below; the re-dispatch is the
 *   daemon's.
 * - TestHandlerStderr, TestCopyError, and every "param-*" / "test" expectation:
 *   what the script prints and how the daemon copies it; integration tests.
 * - SCRIPT_FILENAME: the corpus holds a placeholder; set by the CGI handler. */
static struct deviation {
	const char *case_name;
	const char *var;
	const char *ours;
	const char *reason;
	bool met;
} deviations[] = {
	{ "TestCGIBasicGet", "SERVER_SOFTWARE", "gatewayd/test",
	  "Go's host says \"go\"; gatewayd says its configured server_software", false },
	{ "TestCGIEnvIPv6", "SERVER_SOFTWARE", "gatewayd/test",
	  "Go's host says \"go\"; gatewayd says its configured server_software", false },
};

static struct deviation *find_deviation(const char *case_name, const char *var)
{
	for (size_t i = 0; i < sizeof deviations / sizeof *deviations; i++) {
		struct deviation *d = &deviations[i];
		if (strcmp(d->case_name, case_name) == 0 && strcmp(d->var, var) == 0)
			return d;
	}
	return NULL;
}

/* "1.2.3.4:1234" or "[2000::3000]:12345" as Go's RemoteAddr. */
static void split_remote(const char *remote, char *addr, size_t addr_size, unsigned *port)
{
	const char *colon = strrchr(remote, ':');
	cr_assert_not_null(colon);
	const char *start = remote, *end = colon;
	if (*start == '[') {
		start++;
		end--;
		cr_assert_eq(*end, ']');
	}
	snprintf(addr, addr_size, "%.*s", (int)(end - start), start);
	*port = (unsigned)strtoul(colon + 1, NULL, 10);
}

/* What the CGI handler does with its mount (Go's Handler.Root): SCRIPT_NAME is the
 * mount without trailing '/', PATH_INFO the rest of the path. */
static void set_script_vars(struct cgi_env *env, const char *mount, struct http1_str path)
{
	size_t root_len = strlen(mount);
	while (root_len > 0 && mount[root_len - 1] == '/')
		root_len--;
	cr_assert_geq(path.len, root_len);
	cr_assert_eq(memcmp(path.p, mount, root_len), 0);
	cr_assert_eq(cgi_env_setn(env, "SCRIPT_NAME", mount, root_len), 0);
	cr_assert_eq(cgi_env_setn(env, "PATH_INFO", path.p + root_len, path.len - root_len), 0);
}

static long long content_length_of(const struct http1_request *req)
{
	for (size_t i = 0; i < req->num_headers; i++) {
		if (str_is(req->headers[i].name, "Content-Length"))
			return strtoll(req->headers[i].value.p, NULL, 10);
	}
	return -1;
}

static const char *json_str(json_t *obj, const char *key, const char *dflt)
{
	json_t *v = json_object_get(obj, key);
	return v ? json_string_value(v) : dflt;
}

static size_t check_go_expectations(const struct cgi_env *env, json_t *c, const char *name)
{
	json_t *expect = json_object_get(c, "expect"), *val;
	const char *key;
	size_t checked = 0;

	json_object_foreach(expect, key, val) {
		if (strncmp(key, "env-", 4) != 0)
			continue;
		const char *var = key + 4, *want = json_string_value(val);
		struct deviation *d = find_deviation(name, var);
		if (d) {
			d->met = true;
			want = d->ours;
		} else if (strcmp(var, "SCRIPT_FILENAME") == 0) {
			continue;
		}
		const char *got = cgi_env_get(env, var);
		cr_expect_str_eq(got ? got : "(unset)", want, "%s: %s", name, var);
		checked++;
	}
	json_t *absent = json_object_get(c, "expect_absent");
	size_t i;
	json_array_foreach(absent, i, val) {
		const char *var = json_string_value(val) + 4;
		cr_expect_null(cgi_env_get(env, var), "%s: %s is set", name, var);
		checked++;
	}
	return checked;
}

static size_t run_go_case(json_t *c)
{
	const char *name = json_str(c, "name", NULL);
	const char *request = json_str(c, "request", NULL);
	const char *mount = json_str(c, "mount", "");
	char addr[64];
	unsigned port;
	struct test_request t;
	struct cgi_env env;

	cr_assert(name && request);
	split_request(&t, request);
	split_remote(json_str(c, "remote_addr", "1.2.3.4:1234"), addr, sizeof addr, &port);
	struct cgi_http_input in = default_input(&t.req);
	in.remote_addr = addr;
	in.remote_port = port;
	in.content_length = content_length_of(&t.req);

	cgi_env_init(&env);
	cr_assert_eq(cgi_env_from_http(&env, &in), 0, "%s", name);
	set_script_vars(&env, mount, t.req.path);
	check_env_invariants(&env);
	/* whatever the case: never these */
	expect_var(&env, "!HTTP_PROXY", name);
	expect_var(&env, "!HTTP_CONTENT_LENGTH", name);
	expect_var(&env, "!HTTP_CONTENT_TYPE", name);
	expect_var(&env, "!HTTP_TRANSFER_ENCODING", name);
	if (in.content_length < 0)
		expect_var(&env, "!CONTENT_LENGTH", name);
	size_t checked = check_go_expectations(&env, c, name);
	cgi_env_free(&env);
	return checked;
}

Test(cgi_env_from_http, go_host_cases)
{
	json_t *root = corpus_json("go-cgi-fcgi-cases/cgi_host_cases.json");
	json_t *cases = json_object_get(root, "cases"), *c;
	size_t i, checked = 0;

	cr_assert_eq(json_array_size(cases), 13);
	json_array_foreach(cases, i, c)
		checked += run_go_case(c);
	/* 53 env-* expectations, less 7 SCRIPT_FILENAME placeholders, and 1 absent */
	cr_expect_eq(checked, 47);
	for (i = 0; i < sizeof deviations / sizeof *deviations; i++)
		cr_expect(deviations[i].met, "deviation %s/%s met by no case",
			  deviations[i].case_name, deviations[i].var);
	json_decref(root);
	assert_no_leaks();
}

/* ---- url decoding ------------------------------------------------------- */

struct decode_case {
	const char *in;
	size_t len;      /* 0: strlen(in) */
	const char *out; /* NULL: rejected */
};

static const struct decode_case decode_cases[] = {
	{ "", 0, "" },
	{ "abc", 0, "abc" },
	{ "%41%42", 0, "AB" },
	{ "%4a%4A%6f", 0, "JJo" },
	{ "a+b", 0, "a+b" }, /* '+' is space only in form decoding */
	{ "%2B", 0, "+" },
	{ "%20", 0, " " },
	{ "100%25", 0, "100%" },
	{ "%2541", 0, "%41" }, /* decoded once, not twice */
	{ "%ff%C3%a9", 0, "\xff\xc3\xa9" },
	{ "/a/%2F/b", 0, "/a///b" },
	{ "%", 0, NULL },
	{ "a%", 0, NULL },
	{ "%4", 0, NULL },
	{ "a%4", 0, NULL },
	{ "%g1", 0, NULL },
	{ "%1g", 0, NULL },
	{ "%%41", 0, NULL },
	{ "% 1", 0, NULL },
	{ "%00", 0, NULL },
	{ "a%00b", 0, NULL },
	{ "a\0b", 3, NULL },
	{ "%41%42", 4, NULL }, /* the escape ends past len */
	{ "%41%42", 3, "A" }, /* len ends between escapes */
};

Test(cgi_url_decode, table)
{
	for (size_t i = 0; i < sizeof decode_cases / sizeof *decode_cases; i++) {
		const struct decode_case *c = &decode_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		char *src = malloc(len ? len : 1); /* exact size: ASan sees an over-read */
		char *dst = malloc(len + 1);
		memcpy(src, c->in, len);
		ssize_t n = cgi_url_decode(dst, src, len);
		if (c->out) {
			cr_expect_eq(n, (ssize_t)strlen(c->out), "\"%s\"", c->in);
			if (n >= 0)
				cr_expect_str_eq(dst, c->out, "\"%s\"", c->in);
		} else {
			cr_expect_eq(n, -1, "\"%s\" should be rejected", c->in);
		}
		free(src);
		free(dst);
	}
	assert_no_leaks();
}

Test(cgi_url_decode, stops_at_len_and_decodes_in_place)
{
	char buf[] = "%41%42%43rest";
	cr_assert_eq(cgi_url_decode(buf, buf, 6), 2);
	cr_assert_str_eq(buf, "AB");

	char buf2[] = "x%2fy%3Dz";
	cr_assert_eq(cgi_url_decode(buf2, buf2, strlen(buf2)), 5);
	cr_assert_str_eq(buf2, "x/y=z");
	assert_no_leaks();
}

/* ---- ISINDEX ------------------------------------------------------------ */

struct isindex_case {
	const char *query;
	int max_args;
	int words;               /* the return */
	const char *argv[6];     /* after argv0 */
};

static const struct isindex_case isindex_cases[] = {
	{ "a+b+c", 10, 3, { "a", "b", "c" } },
	{ "word", 10, 1, { "word" } },
	{ "a=b", 10, 0, { NULL } },
	{ "x+y=1", 10, 0, { NULL } },
	{ "a%3Db", 10, 1, { "a=b" } }, /* only an unencoded '=' makes it a form query */
	{ "%41+b", 10, 2, { "A", "b" } },
	{ "a+%2B+b", 10, 3, { "a", "+", "b" } },
	{ "caf%C3%A9+na%C3%AFve", 10, 2, { "caf\xc3\xa9", "na\xc3\xafve" } },
	{ "a%20b", 10, 1, { "a b" } },
	{ "a++b", 10, 3, { "a", "", "b" } },
	{ "+", 10, 2, { "", "" } },
	{ "", 10, 0, { NULL } },
	{ "%zz", 10, -1, { NULL } },
	{ "a+%4", 10, -1, { NULL } },
	{ "a+%00", 10, -1, { NULL } },
	{ "a+b+c", 3, 3, { "a", "b", "c" } },
	{ "a+b+c", 2, -1, { NULL } }, /* §4.4: all or nothing, never truncated */
	{ "a", 0, -1, { NULL } },
	{ "=", 0, 0, { NULL } },
};

static void run_isindex_case(const struct isindex_case *c)
{
	size_t len = strlen(c->query);
	char *query = malloc(len ? len : 1); /* exact size, not NUL-terminated */
	char **argv = (char **)&argv; /* anything but NULL, to see it reset */

	memcpy(query, c->query, len);
	int n = cgi_isindex_argv(query, len, "/srv/cgi/search.cgi", &argv, c->max_args);
	cr_expect_eq(n, c->words, "\"%s\" max %d: %d words", c->query, c->max_args, n);
	if (n <= 0) {
		cr_expect_null(argv, "\"%s\": argv set", c->query);
	} else {
		cr_assert_not_null(argv);
		cr_expect_str_eq(argv[0], "/srv/cgi/search.cgi");
		for (int i = 0; i < n && i < c->words; i++)
			cr_expect_str_eq(argv[i + 1], c->argv[i], "\"%s\" word %d", c->query, i);
		cr_expect_null(argv[n + 1]);
	}
	cgi_argv_free(n > 0 ? argv : NULL);
	free(query);
}

Test(cgi_isindex_argv, table)
{
	for (size_t i = 0; i < sizeof isindex_cases / sizeof *isindex_cases; i++)
		run_isindex_case(&isindex_cases[i]);
	assert_no_leaks();
}

Test(cgi_isindex_argv, only_len_bytes_are_the_query)
{
	char **argv = NULL;
	const char *query = "a+b=c";
	cr_assert_eq(cgi_isindex_argv(query, 3, "s", &argv, 10), 2);
	cr_assert_str_eq(argv[1], "a");
	cr_assert_str_eq(argv[2], "b");
	cgi_argv_free(argv);
	cgi_argv_free(NULL);
	assert_no_leaks();
}

/* ---- the response header block ------------------------------------------ */

#define MAX_RESP_HEADERS 8
#define BODY "\r\n<p>body</p>\n"

struct good_response {
	const char *name;
	const char *block;    /* the header block, blank line included */
	int status;
	const char *reason;   /* NULL: none */
	const char *location; /* NULL: none */
	bool local_redirect;
	bool has_content_type;
	const char *headers;  /* each field of headers[] as "Name: value\n", in order */
};

static const struct good_response good_responses[] = {
	{ "LF", "Content-Type: text/html\n\n",
	  200, NULL, NULL, false, true, "Content-Type: text/html\n" },
	{ "CRLF", "Content-Type: text/html\r\n\r\n",
	  200, NULL, NULL, false, true, "Content-Type: text/html\n" },
	{ "LF and CRLF mixed", "Content-Type: a\r\nX-A: b\n\r\n",
	  200, NULL, NULL, false, true, "Content-Type: a\nX-A: b\n" },
	{ "Status with reason", "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n",
	  404, "Not Found", NULL, false, true, "Content-Type: text/plain\n" },
	{ "Status alone, no reason", "Status: 404\n\n",
	  404, NULL, NULL, false, false, "" },
	{ "Status without OWS, reason trimmed", "Status:500   Internal  Error \t\n\n",
	  500, "Internal  Error", NULL, false, false, "" },
	{ "Status with a tab", "Status: 204\tNo Content\n\n",
	  204, "No Content", NULL, false, false, "" },
	{ "Status 100", "Status: 100 Continue\n\n", 100, "Continue", NULL, false, false, "" },
	{ "Status 599", "Status: 599\n\n", 599, NULL, NULL, false, false, "" },
	{ "names are case-insensitive", "content-type: x\nSTATUS: 201 Created\n\n",
	  201, "Created", NULL, false, true, "content-type: x\n" },
	{ "client redirect (Go TestRedirect)", "Location: http://foo.com/\r\n\r\n",
	  302, NULL, "http://foo.com/", false, false, "Location: http://foo.com/\n" },
	{ "client redirect with fragment", "Location: https://x.example:8443/a?b#c\n\n",
	  302, NULL, "https://x.example:8443/a?b#c", false, false,
	  "Location: https://x.example:8443/a?b#c\n" },
	{ "client redirect with document",
	  "Location: http://a/\nContent-Type: text/html\n\n",
	  302, NULL, "http://a/", false, true, "Location: http://a/\nContent-Type: text/html\n" },
	{ "relative Location: a client redirect too, as Apache and Go do",
	  "Location: other.html\n\n",
	  302, NULL, "other.html", false, false, "Location: other.html\n" },
	{ "local redirect (Go TestInternalRedirect)", "Location: /foo?x=1\n\n",
	  200, NULL, "/foo?x=1", true, false, "Location: /foo?x=1\n" },
	{ "Location with Status first: only a header", "Status: 301 Moved\nLocation: /new\n\n",
	  301, "Moved", "/new", false, false, "Location: /new\n" },
	{ "Location with Status after", "Location: /new\nStatus: 303 See Other\n\n",
	  303, "See Other", "/new", false, false, "Location: /new\n" },
	{ "OWS trimmed around values", "Content-Type: \t text/html \t\r\nX:y\r\n\r\n",
	  200, NULL, NULL, false, true, "Content-Type: text/html\nX: y\n" },
	{ "order and repeats of other fields kept",
	  "X-One: 1\nContent-Type: t\nSet-Cookie: a=1\nSet-Cookie: b=2\n\n",
	  200, NULL, NULL, false, true,
	  "X-One: 1\nContent-Type: t\nSet-Cookie: a=1\nSet-Cookie: b=2\n" },
	{ "obs-text and inner tabs in a value", "Content-Type: t\nX-N: caf\xc3\xa9\tx\n\n",
	  200, NULL, NULL, false, true, "Content-Type: t\nX-N: caf\xc3\xa9\tx\n" },
	{ "an empty value is a field not sent (RFC 3875 6.3)",
	  "X-Empty:\nStatus: \t\nContent-Type: t\nLocation:\n\n",
	  200, NULL, NULL, false, true, "Content-Type: t\n" },
	{ "every tchar in a name", "X!#$%&'*+-.^_`|~9: v\nContent-Type: t\n\n",
	  200, NULL, NULL, false, true, "X!#$%&'*+-.^_`|~9: v\nContent-Type: t\n" },
	{ "colons in a value", "Location: http://a:8080/x:y\n\n",
	  302, NULL, "http://a:8080/x:y", false, false, "Location: http://a:8080/x:y\n" },
	{ "max_headers fields, Status not counted",
	  "Status: 200 OK\nContent-Type: t\nA: 1\nB: 2\nC: 3\nD: 4\nE: 5\nF: 6\nG: 7\n\n",
	  200, "OK", NULL, false, true,
	  "Content-Type: t\nA: 1\nB: 2\nC: 3\nD: 4\nE: 5\nF: 6\nG: 7\n" },
};

static void render_headers(char *out, size_t size, const struct cgi_response *resp)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < resp->num_headers && used < size; i++) {
		const struct http1_header *h = &resp->headers[i];
		used += (size_t)snprintf(out + used, size - used, "%.*s: %.*s\n",
					 (int)h->name.len, h->name.p, (int)h->value.len, h->value.p);
	}
}

/* A view into copy as the same view into buf. */
static void rebase(const char **p, const char *copy, const char *buf)
{
	if (*p)
		*p = buf + (*p - copy);
}

/* Parse buf[0..len) from a copy of exactly len bytes, so ASan catches an over-read;
 * the views in resp are handed back pointing into buf. */
static ssize_t parse_exact(const char *buf, size_t len, struct cgi_response *resp,
			   struct http1_header *headers, size_t max_headers)
{
	char *copy = malloc(len ? len : 1);
	cr_assert_not_null(copy);
	memcpy(copy, buf, len);
	ssize_t n = cgi_response_parse(copy, len, resp, headers, max_headers);
	rebase(&resp->reason.p, copy, buf);
	rebase(&resp->location.p, copy, buf);
	for (size_t i = 0; i < resp->num_headers; i++) {
		rebase(&resp->headers[i].name.p, copy, buf);
		rebase(&resp->headers[i].value.p, copy, buf);
	}
	free(copy);
	return n;
}

static void check_good_response(const struct good_response *c)
{
	char input[512], rendered[512];
	struct http1_header headers[MAX_RESP_HEADERS];
	struct cgi_response resp;
	size_t block_len = strlen(c->block);

	snprintf(input, sizeof input, "%s%s", c->block, BODY);
	ssize_t n = parse_exact(input, strlen(input), &resp, headers, MAX_RESP_HEADERS);
	cr_assert_eq(n, (ssize_t)block_len, "%s: returned %zd (%s)", c->name, n,
		     n == CGI_ERROR ? resp.error_reason : "");
	cr_expect_str_eq(input + n, BODY, "%s: body", c->name);
	cr_expect_eq(resp.status, c->status, "%s: status %d", c->name, resp.status);
	if (c->reason) {
		cr_expect_eq(resp.reason.len, strlen(c->reason), "%s: reason", c->name);
		cr_expect_eq(strncmp(resp.reason.p, c->reason, resp.reason.len), 0, "%s", c->name);
	} else {
		cr_expect_eq(resp.reason.len, 0, "%s: reason", c->name);
		cr_expect_null(resp.reason.p, "%s: reason", c->name);
	}
	if (c->location) {
		cr_assert_not_null(resp.location.p, "%s: location", c->name);
		cr_expect_eq(resp.location.len, strlen(c->location), "%s: location", c->name);
		cr_expect_eq(strncmp(resp.location.p, c->location, resp.location.len), 0,
			     "%s: location", c->name);
	} else {
		cr_expect_null(resp.location.p, "%s: location", c->name);
	}
	cr_expect_eq(resp.local_redirect, c->local_redirect, "%s: local_redirect", c->name);
	cr_expect_eq(resp.has_content_type, c->has_content_type, "%s: content type", c->name);
	cr_expect_eq(resp.headers, headers, "%s", c->name);
	render_headers(rendered, sizeof rendered, &resp);
	cr_expect_str_eq(rendered, c->headers, "%s: headers", c->name);
}

Test(cgi_response_parse, good_blocks)
{
	for (size_t i = 0; i < sizeof good_responses / sizeof *good_responses; i++)
		check_good_response(&good_responses[i]);
	assert_no_leaks();
}

Test(cgi_response_parse, every_strict_prefix_of_a_good_block_is_incomplete)
{
	struct http1_header headers[MAX_RESP_HEADERS];
	struct cgi_response resp;

	for (size_t i = 0; i < sizeof good_responses / sizeof *good_responses; i++) {
		const struct good_response *c = &good_responses[i];
		char input[512];
		size_t block_len = strlen(c->block);
		snprintf(input, sizeof input, "%s%s", c->block, BODY);
		for (size_t len = 0; len < block_len; len++) {
			ssize_t n = parse_exact(input, len, &resp, headers, MAX_RESP_HEADERS);
			cr_expect_eq(n, CGI_INCOMPLETE, "%s: prefix of %zu bytes gave %zd",
				     c->name, len, n);
		}
		for (size_t len = block_len; len <= strlen(input); len++) {
			ssize_t n = parse_exact(input, len, &resp, headers, MAX_RESP_HEADERS);
			cr_expect_eq(n, (ssize_t)block_len, "%s: %zu bytes", c->name, len);
		}
	}
	assert_no_leaks();
}

struct bad_response {
	const char *block;
	size_t len; /* 0: strlen(block) */
	const char *reason;
};

static const struct bad_response bad_responses[] = {
	{ "Content-Type text/html\n\n", 0, "line with no colon" },
	{ "Content-Type: text/html\n  charset=x\n\n", 0, "line with no colon" },
	{ "Content-Type: t\n\r\r\n", 0, "line with no colon" },
	{ "Content-Type : text/html\n\n", 0, "whitespace before colon" },
	{ "Content-Type\t: text/html\n\n", 0, "whitespace before colon" },
	{ ": foo\nContent-Type: t\n\n", 0, "empty field name" },
	{ "Content Type: x\n\n", 0, "field name is not a token" },
	{ "Content-Type: t\n X-Fold: y\n\n", 0, "field name is not a token" },
	{ "X@Y: z\nContent-Type: t\n\n", 0, "field name is not a token" },
	{ "(X): v\nContent-Type: t\n\n", 0, "field name is not a token" },
	{ "Con\rtent-Type: x\n\n", 0, "field name is not a token" },
	{ "X\xc3\xa9: v\nContent-Type: t\n\n", 0, "field name is not a token" },
	{ "Content-Type: te\x01xt\n\n", 0, "control character in field value" },
	{ "Content-Type: a\rb\r\n\r\n", 0, "control character in field value" },
	{ "Content-Type: t\nX: a\x7f\n\n", 0, "control character in field value" },
	{ "Content-Type: a\0b\n\n", 20, "control character in field value" },
	{ "Content-Type: t\nX: \x1b[31m\n\n", 0, "control character in field value" },
	{ "Status: abc\n\n", 0, "invalid Status" },
	{ "Status: 20\n\n", 0, "invalid Status" },
	{ "Status: 2000\n\n", 0, "invalid Status" },
	{ "Status: 099 Low\n\n", 0, "invalid Status" },
	{ "Status: 600 High\n\n", 0, "invalid Status" },
	{ "Status: 200OK\n\n", 0, "invalid Status" },
	{ "Status: -20\n\n", 0, "invalid Status" },
	{ "Status: 20x\nContent-Type: t\n\n", 0, "invalid Status" },
	{ "Status: +200\n\n", 0, "invalid Status" },
	{ "Status: 200\nStatus: 404\n\n", 0, "duplicate Status" },
	{ "Location: /a\nlocation: /b\n\n", 0, "duplicate Location" },
	{ "Content-Type: a\ncontent-type: b\n\n", 0, "duplicate Content-Type" },
	{ "X-Foo: bar\n\n", 0, "no Content-Type, Location or Status" },
	{ "\n", 0, "no Content-Type, Location or Status" },
	{ "\r\n", 0, "no Content-Type, Location or Status" },
	{ "Content-Type:\nLocation: \t\n\n", 0, "no Content-Type, Location or Status" },
	{ "Content-Type: t\nA: 1\nB: 2\nC: 3\nD: 4\nE: 5\nF: 6\nG: 7\nH: 8\n\n", 0,
	  "too many header fields" },
	{ "HTTP/1.1 200 OK\r\nContent-Type: t\r\n\r\n", 0, "line with no colon" }, /* NPH */
};

Test(cgi_response_parse, bad_blocks)
{
	struct http1_header headers[MAX_RESP_HEADERS];
	struct cgi_response resp;

	for (size_t i = 0; i < sizeof bad_responses / sizeof *bad_responses; i++) {
		const struct bad_response *c = &bad_responses[i];
		size_t len = c->len ? c->len : strlen(c->block);
		ssize_t n = parse_exact(c->block, len, &resp, headers, MAX_RESP_HEADERS);
		cr_expect_eq(n, CGI_ERROR, "case %zu: returned %zd", i, n);
		if (n == CGI_ERROR)
			cr_expect_str_eq(resp.error_reason, c->reason, "case %zu", i);
		/* no prefix of a bad block is a good one */
		for (size_t cut = 0; cut < len; cut++) {
			n = parse_exact(c->block, cut, &resp, headers, MAX_RESP_HEADERS);
			cr_expect(n == CGI_INCOMPLETE || n == CGI_ERROR,
				  "case %zu: %zu bytes gave %zd", i, cut, n);
		}
	}
	assert_no_leaks();
}

Test(cgi_response_parse, errors_come_before_the_block_ends)
{
	struct http1_header headers[MAX_RESP_HEADERS];
	struct cgi_response resp;
	const char *start = "Bad Name: x\nContent-Type: t\n";

	cr_expect_eq(cgi_response_parse(start, strlen(start), &resp, headers, 8), CGI_ERROR);
	cr_expect_str_eq(resp.error_reason, "field name is not a token");
	assert_no_leaks();
}

Test(cgi_response_parse, never_writes_past_max_headers)
{
	struct http1_header headers[3];
	struct cgi_response resp;
	const char *block = "Content-Type: t\nA: 1\nB: 2\n\n";

	memset(headers, 0, sizeof headers);
	headers[2].name.p = "guard";
	cr_assert_eq(cgi_response_parse(block, strlen(block), &resp, headers, 2), CGI_ERROR);
	cr_expect_str_eq(resp.error_reason, "too many header fields");
	cr_expect_str_eq(headers[2].name.p, "guard");

	/* Status is not stored: no array needed for it */
	cr_assert_eq(cgi_response_parse("Status: 204\n\n", 13, &resp, NULL, 0), 13);
	cr_expect_eq(resp.status, 204);
	cr_expect_eq(resp.num_headers, 0);
	assert_no_leaks();
}

Test(cgi_response_parse, large_blocks_in_linear_time, .timeout = 5)
{
	const size_t lines = 200000;
	const char *line = "X-Header-Line: some value here\r\n";
	size_t line_len = strlen(line), len = lines * line_len;
	char *buf = malloc(len + 64);
	struct http1_header *headers = malloc((lines + 1) * sizeof *headers);
	struct cgi_response resp;

	for (size_t i = 0; i < lines; i++)
		memcpy(buf + i * line_len, line, line_len);
	/* no blank line yet */
	cr_expect_eq(cgi_response_parse(buf, len, &resp, headers, lines + 1), CGI_INCOMPLETE);
	memcpy(buf + len, "Content-Type: t\r\n\r\n", 19);
	cr_expect_eq(cgi_response_parse(buf, len + 19, &resp, headers, lines + 1),
		     (ssize_t)(len + 19));
	cr_expect_eq(resp.num_headers, lines + 1);
	/* one line with no LF at all */
	memset(buf, 'a', len);
	cr_expect_eq(cgi_response_parse(buf, len, &resp, headers, lines + 1), CGI_INCOMPLETE);
	free(headers);
	free(buf);
	assert_no_leaks();
}

/* The fields of an HTTP response whose status line was read (a uwsgi worker's
 * answer): the status stands as a Status field. */
Test(cgi_response_parse, fields_after_a_status_line)
{
	struct http1_header headers[MAX_RESP_HEADERS];
	struct cgi_response resp;
	struct http1_str reason = {"Moved", 5};
	const char *moved = "Location: /elsewhere\r\n\r\nbody";
	ssize_t n = cgi_response_parse_fields(moved, strlen(moved), 301, reason, &resp, headers,
	                                      MAX_RESP_HEADERS);
	cr_expect_eq(n, (ssize_t)strlen(moved) - 4);
	cr_expect_eq(resp.status, 301);
	cr_expect(resp.reason.len == 5 && memcmp(resp.reason.p, "Moved", 5) == 0);
	cr_expect_not(resp.local_redirect, "a status was given: the client gets the redirect");
	/* no Content-Type, Location or Status field: the status line is enough */
	n = cgi_response_parse_fields("\r\n", 2, 204, (struct http1_str){"", 0}, &resp, headers,
	                              MAX_RESP_HEADERS);
	cr_expect_eq(n, 2);
	cr_expect_eq(resp.status, 204);
	/* a Status field as well is a duplicate */
	const char *twice = "Status: 200 OK\r\nContent-Type: t\r\n\r\n";
	n = cgi_response_parse_fields(twice, strlen(twice), 200, reason, &resp, headers,
	                              MAX_RESP_HEADERS);
	cr_expect_eq(n, CGI_ERROR);
	cr_expect_str_eq(resp.error_reason, "duplicate Status");
}
