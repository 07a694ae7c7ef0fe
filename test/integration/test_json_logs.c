/* "log": {"format": "json"} end to end: the real gatewayd, real sockets, and
 * traffic that makes every kind of line (a CGI script's stderr with quotes, a
 * tab, a backslash, bytes that are not UTF-8, a 10 KiB line and a last line
 * with no newline; a 404; a request that is no HTTP; a pool worker's stderr;
 * the daemon's own lines; SIGUSR1's reopening). Then every line of both logs,
 * before and after the reopening, must parse with jansson as one object with
 * the members gatewayd.json(5) gives; the script's bytes come back exactly by
 * the documented unescaping (json_unescape_bytes()), the 10 KiB line from its
 * three parts in order. And the text format, unchanged but for the parts. */
#include "test/integration/harness.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "protocols/json_escape.h"

static struct gw_proc G;

static void teardown(void)
{
	gw_cleanup(&G);
}

/* The 10 KiB line json-stderr.sh writes. */
#define LONG_LINE 10240
static char *long_line(void)
{
	char *s = malloc(LONG_LINE);
	cr_assert_not_null(s);
	for (int i = 0; i < LONG_LINE; i++)
		s[i] = (char)('a' + (i * 7) % 26);
	return s;
}

static void must_get(const char *path, int status, struct gw_response *r)
{
	char raw[512];
	snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
	int rc = gw_request(G.port, raw, r);
	if (rc != 0)
		gw_dump_log(&G);
	cr_assert_eq(rc, 0, "no response to GET %s", path);
	cr_assert_eq(r->status, status, "GET %s: %d", path, r->status);
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool is_rid(const char *s)
{
	return s && strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

/* The original bytes of a JSON log string, by the documented unescaping. */
static char *bytes_of(json_t *s, size_t *n)
{
	cr_assert(json_is_string(s));
	char *out = malloc(json_string_length(s) + 1);
	*n = json_unescape_bytes(out, json_string_value(s), json_string_length(s));
	cr_assert_neq(*n, (size_t)-1, "not unescapable: %s", json_string_value(s));
	return out;
}

static void expect_bytes(json_t *s, const char *want, size_t want_len, const char *what)
{
	size_t n;
	char *got = bytes_of(s, &n);
	cr_expect(n == want_len && memcmp(got, want, n) == 0, "%s: got %zu bytes \"%.*s\"", what, n,
	          (int)(n > 200 ? 200 : n), got);
	free(got);
}

/* The access log entry whose request line is request (the last one). */
static json_t *access_for(json_t *acc, const char *request)
{
	json_t *v, *found = NULL;
	size_t i;
	json_array_foreach(acc, i, v) {
		const char *rq = str(v, "request");
		if (rq && strcmp(rq, request) == 0)
			found = v;
	}
	cr_assert_not_null(found, "no access log entry for \"%s\"", request);
	return found;
}

#define CGI_ROUTE "{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"@FIX@/cgi-bin\"}}"
#define WSGI_POOL                                                                                \
	"\"w\": {\"protocol\": \"uwsgi\", \"command\": [\"@BUILD@/spawner/wsgi/gatewayd-wsgi\","    \
	" \"--path\", \"@FIX@/pools\", \"backlog_app:application\"], \"processes\": 1,"              \
	" \"request_timeout\": 20, \"env\": {\"PATH\": \"/usr/bin:/bin\"}}"

Test(json_logs, every_line_parses_and_carries_the_bytes, .fini = teardown, .timeout = 60)
{
	gw_start(&G, "{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}], \"temp_dir\": \"@DIR@\","
	             " \"log\": {\"error\": \"@DIR@/error.log\", \"access\": \"@DIR@/access.log\","
	             "  \"level\": \"debug\", \"format\": \"json\"},"
	             " \"pools\": {" WSGI_POOL "},"
	             " \"routes\": [" CGI_ROUTE ", {\"match\": \"/w/\", \"pool\": \"w\"}]}");
	struct gw_response r;
	must_get("/cgi-bin/json-stderr.sh", 200, &r);
	gw_response_free(&r);
	must_get("/cgi-bin/no-such-script.sh", 404, &r);
	gw_response_free(&r);
	must_get("/w/stderr", 200, &r); /* the request waits for the worker to start */
	gw_response_free(&r);
	size_t len;
	char *bad = gw_exchange(G.port, "NOT HTTP\r\n\r\n", 12, 5, &len);
	cr_expect(bad && strncmp(bad, "HTTP/1.1 400", 12) == 0, "%s", bad ? bad : "(none)");
	free(bad);
	cr_assert(gw_log_contains(G.error_log, "the last line, no newline", 5));
	cr_assert(gw_log_contains(G.error_log, "raw line on fd 2", 5));

	/* SIGUSR1 after the files were moved: new files, JSON as well. */
	char old_err[400], old_acc[400];
	snprintf(old_err, sizeof old_err, "%s.1", G.error_log);
	snprintf(old_acc, sizeof old_acc, "%s.1", G.access_log);
	cr_assert_eq(rename(G.error_log, old_err), 0);
	cr_assert_eq(rename(G.access_log, old_acc), 0);
	kill(G.pid, SIGUSR1);
	cr_assert(gw_log_contains(G.error_log, "logs reopened", 5));
	must_get("/cgi-bin/stderr.sh", 200, &r);
	gw_response_free(&r);
	cr_assert(gw_log_contains(G.error_log, "stderr line two from stderr.sh", 5));
	int st = gw_stop(&G, 10);
	if (st != 0)
		gw_dump_log(&G);
	cr_expect_eq(st, 0, "gatewayd's exit status %d", st);

	json_t *err = json_array(), *acc = json_array();
	gw_json_lines(old_err, err);
	gw_json_lines(G.error_log, err); /* includes the stop's lines */
	gw_json_lines(old_acc, acc);
	gw_json_lines(G.access_log, acc);

	/* The access log: every member, of its type. */
	json_t *v;
	size_t i;
	json_array_foreach(acc, i, v) {
		cr_expect(gw_is_log_time(str(v, "time")), "access %zu: time", i);
		cr_expect_str_eq(str(v, "remote_addr"), "127.0.0.1");
		cr_expect(json_is_string(json_object_get(v, "request")), "access %zu: request", i);
		cr_expect(json_is_integer(json_object_get(v, "status")), "access %zu: status", i);
		cr_expect(json_is_integer(json_object_get(v, "bytes_sent")), "access %zu: bytes", i);
		cr_expect(json_is_null(json_object_get(v, "referer")), "access %zu: referer", i);
		cr_expect(json_is_null(json_object_get(v, "user_agent")), "access %zu: ua", i);
		cr_expect(json_is_number(json_object_get(v, "duration")), "access %zu: duration", i);
		cr_expect(is_rid(str(v, "request_id")), "access %zu: request_id", i);
		cr_expect_eq(json_object_size(v), 9, "access %zu: %zu members", i, json_object_size(v));
	}
	cr_expect_eq(json_array_size(acc), 5, "%zu access lines", json_array_size(acc));
	json_t *cgi = access_for(acc, "GET /cgi-bin/json-stderr.sh HTTP/1.1");
	cr_expect_eq(json_integer_value(json_object_get(cgi, "status")), 200);
	cr_expect_eq(json_integer_value(json_object_get(cgi, "bytes_sent")), 3);
	json_t *missing = access_for(acc, "GET /cgi-bin/no-such-script.sh HTTP/1.1");
	cr_expect_eq(json_integer_value(json_object_get(missing, "status")), 404);
	json_t *wsgi = access_for(acc, "GET /w/stderr HTTP/1.1");
	cr_expect_eq(json_integer_value(json_object_get(wsgi, "status")), 200);
	bool saw_400 = false;
	json_array_foreach(acc, i, v) saw_400 |= json_integer_value(json_object_get(v, "status")) == 400;
	cr_expect(saw_400, "no access log entry for the bad request");
	const char *cgi_rid = str(cgi, "request_id"), *wsgi_rid = str(wsgi, "request_id");

	/* The error log: every line's members; the script's lines in order. */
	json_t *script = json_array();
	bool saw_worker = false, saw_reopen = false;
	json_array_foreach(err, i, v) {
		cr_expect(gw_is_log_time(str(v, "time")), "error %zu: time", i);
		const char *level = str(v, "level");
		cr_expect(level && strstr(" error warn info debug ", level), "error %zu: level", i);
		cr_expect(json_is_string(json_object_get(v, "message")), "error %zu: message", i);
		json_t *rid = json_object_get(v, "request_id");
		cr_expect(!rid || is_rid(json_string_value(rid)), "error %zu: request_id", i);
		cr_expect_null(json_object_get(v, "cut"), "error %zu: cut", i);
		const char *source = str(v, "source");
		const char *msg = str(v, "message");
		if (source && strlen(source) > 15 &&
		    strcmp(source + strlen(source) - 15, "/json-stderr.sh") == 0) {
			cr_expect_str_eq(str(v, "request_id"), cgi_rid);
			cr_expect_str_eq(level, "warn");
			json_array_append(script, v);
		}
		if (source && strncmp(source, "w#0 (pid ", 9) == 0 && msg &&
		    strcmp(msg, "untagged line from the app") == 0) {
			cr_expect_str_eq(str(v, "request_id"), wsgi_rid, "the worker's tag taken");
			saw_worker = true;
		}
		saw_reopen |= msg && strcmp(msg, "logs reopened") == 0;
	}
	cr_expect(saw_worker, "no line of the worker's stderr");
	cr_expect(saw_reopen);

	cr_assert_eq(json_array_size(script), 6, "%zu lines from json-stderr.sh",
	             json_array_size(script));
	static const char quoted[] = "say \"hi\"\tand a back\\slash";
	static const char bytes[] = "bad bytes: \xff \xc0\xaf \xed\xa0\x80 caf\xc3\xa9";
	json_t *m0 = json_object_get(json_array_get(script, 0), "message");
	cr_expect_str_eq(json_string_value(m0), "say \"hi\"\tand a back\\\\slash");
	expect_bytes(m0, quoted, sizeof quoted - 1, "quotes, tab, backslash");
	json_t *m1 = json_object_get(json_array_get(script, 1), "message");
	cr_expect_str_eq(json_string_value(m1),
	                 "bad bytes: \\xff \\xc0\\xaf \\xed\\xa0\\x80 caf\xc3\xa9");
	expect_bytes(m1, bytes, sizeof bytes - 1, "invalid UTF-8");
	for (int k = 0; k < 2; k++)
		cr_expect_null(json_object_get(json_array_get(script, (size_t)k), "part"));

	/* The 10 KiB line: parts 1, 2, 3, continued on all but the last. */
	char *want = long_line(), *got = malloc(LONG_LINE + 1);
	size_t at = 0;
	for (int k = 0; k < 3; k++) {
		json_t *p = json_array_get(script, (size_t)(2 + k));
		cr_expect_eq(json_integer_value(json_object_get(p, "part")), k + 1);
		cr_expect(json_is_boolean(json_object_get(p, "continued")) &&
		                  json_boolean_value(json_object_get(p, "continued")) == (k < 2),
		          "part %d: continued", k + 1);
		size_t n;
		char *b = bytes_of(json_object_get(p, "message"), &n);
		cr_expect(n <= 4096, "part %d: %zu bytes", k + 1, n);
		if (at + n <= LONG_LINE)
			memcpy(got + at, b, n);
		at += n;
		free(b);
	}
	cr_expect(at == LONG_LINE && memcmp(got, want, LONG_LINE) == 0,
	          "the parts do not make the line (%zu bytes)", at);
	free(want);
	free(got);
	json_t *last = json_array_get(script, 5);
	cr_expect_str_eq(str(last, "message"), "the last line, no newline");
	cr_expect_null(json_object_get(last, "part"));

	json_decref(script);
	json_decref(err);
	json_decref(acc);
	gw_cleanup(&G);
	gw_assert_no_leaks();
}

/* The default format: the lines as they were; a long line's parts marked. */
Test(json_logs, text_format_unchanged, .fini = teardown, .timeout = 30)
{
	gw_start(&G, "{\"listen\": [{\"http\": \"127.0.0.1:@PORT@\"}], \"routes\": [" CGI_ROUTE "]}");
	struct gw_response r;
	must_get("/cgi-bin/json-stderr.sh", 200, &r);
	gw_response_free(&r);
	cr_assert(gw_log_contains(G.error_log, "the last line, no newline", 5));
	cr_assert(gw_log_contains(G.access_log, "json-stderr.sh", 5));
	char *acc = gw_last_line_with(G.access_log, "json-stderr.sh");
	cr_assert_not_null(acc);
	cr_expect(strncmp(acc, "127.0.0.1 - - [", 15) == 0, "%s", acc);
	cr_expect(strstr(acc, "] \"GET /cgi-bin/json-stderr.sh HTTP/1.1\" 200 3 \"-\" \"-\" "), "%s",
	          acc);
	char *rid = strrchr(acc, ' ');
	cr_assert(rid && is_rid(rid + 1), "%s", acc);
	char want[200];
	snprintf(want, sizeof want, " [warn] req=%s: ", rid + 1);
	char *line = gw_last_line_with(G.error_log, "say \"hi\"");
	cr_assert_not_null(line);
	cr_expect(strstr(line, want) && strstr(line, "/json-stderr.sh: say \"hi\"\tand a back\\slash"),
	          "%s", line);
	cr_expect_neq(line[0], '{');
	free(line);
	line = gw_last_line_with(G.error_log, "(part 1, continued): ahovcjqx");
	cr_expect_not_null(line, "no first part");
	free(line);
	line = gw_last_line_with(G.error_log, "(part 3): ");
	cr_expect_not_null(line, "no last part");
	free(line);
	free(acc);
	gw_stop_ok(&G, 10, NULL);
	gw_assert_no_leaks();
}
