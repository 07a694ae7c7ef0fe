/* gatewayd/log.c: one line per message, with level and request id, cut to
 * one line when too long; the access log's quoting; log_line_len(). In JSON:
 * every line an object jansson parses, with the members and escapes the
 * manual page gives, a part's marks, and a cut line still one object. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/core/log.h"
#include "test/gatewayd/fixture.h"
#include "test/integration/harness.h"

TestSuite(log, .init = fx_setup, .fini = fx_teardown);

static char *error_log(void)
{
	char *text = gw_read_file(fx_path("error.log"));
	cr_assert_not_null(text);
	return text;
}

Test(log, level_and_request_id)
{
	cr_assert_eq(log_open_error(fx_path("error.log"), LOG_INFO), 0);
	errno = EPIPE;
	log_info("00000000000000ab", "hello %d", 42);
	cr_expect_eq(errno, EPIPE, "logging keeps errno");
	log_warn(NULL, "no request");
	log_debug(NULL, "filtered out");
	char *text = error_log();
	cr_expect(strstr(text, " [info] req=00000000000000ab: hello 42\n"), "%s", text);
	cr_expect(strstr(text, " [warn] gatewayd: no request\n"), "%s", text);
	cr_expect_null(strstr(text, "filtered out"));
	free(text);
}

Test(log, a_long_message_is_one_cut_line)
{
	char *big = malloc(20000);
	memset(big, 'x', 19999);
	big[19999] = '\0';
	log_error(NULL, "%s", big);
	log_error(NULL, "after");
	char *text = error_log();
	char *nl = strchr(text, '\n');
	cr_assert_not_null(nl);
	cr_expect_eq(nl - text, 8190, "the first line is %td bytes", nl - text);
	cr_expect(strstr(nl + 1, "after\n"), "the next line stands alone");
	free(text);
	free(big);
}

Test(log, level_names)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++) {
		enum log_level l = LOG_ERROR;
		cr_expect_eq(log_level_parse(names[i], &l), 0, "%s", names[i]);
		cr_expect_eq(l, (enum log_level)i, "%s", names[i]);
	}
	enum log_level l;
	cr_expect_eq(log_level_parse("loud", &l), -1);
	cr_expect_eq(log_level_parse("INFO", &l), -1);
}

Test(log, line_len)
{
	static const struct {
		const char *p;
		size_t max, want;
	} cases[] = {
		{"abc", 10, 3}, {"abc\r\ndef", 10, 3}, {"abc\ndef", 10, 3},
		{"abcdef", 4, 4}, {"\nabc", 10, 0}, {"", 10, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(log_line_len(cases[i].p, strlen(cases[i].p), cases[i].max), cases[i].want,
		             "case %zu", i);
}

/* What a client may send: a quote, a backslash, a control byte, a byte that
 * is not UTF-8, a newline; no referer. */
static const struct access_entry hostile = {
	.remote_addr = "127.0.0.1",
	.request_line = "GET /\"a\\b\x01\xff HTTP/1.1",
	.status = 404,
	.bytes_sent = 12,
	.referer = NULL,
	.user_agent = "evil\nline",
	.seconds = 0.5,
	.rid = "00000000000000cd",
};

Test(log, access_line_quotes_what_the_client_sent)
{
	cr_assert_eq(log_open_access(fx_path("access.log")), 0);
	log_access(&hostile);
	char *text = gw_read_file(fx_path("access.log"));
	cr_assert_not_null(text);
	cr_expect(strstr(text, "127.0.0.1 - - ["), "%s", text);
	cr_expect(strstr(text, "] \"GET /\\\"a\\\\b\\x01\xff HTTP/1.1\" 404 12 \"-\" \"evil\\x0aline\" "
	                       "0.500000 00000000000000cd\n"), "%s", text);
	cr_expect_eq(strchr(text, '\n'), text + strlen(text) - 1, "one line");
	free(text);
}

/* ---- "format": "json" ---- */

/* Every line of path as a JSON object; *count set; the array freed by the caller. */
static json_t *json_lines(const char *path, size_t *count)
{
	json_t *all = json_array();
	gw_json_lines(path, all);
	*count = json_array_size(all);
	return all;
}

Test(log, json_error_lines)
{
	log_set_format(LOG_JSON);
	cr_assert_eq(log_open_error(fx_path("error.log"), LOG_INFO), 0);
	errno = EPIPE;
	log_info("00000000000000ab", "say \"%s\"\tnow", "hi");
	cr_expect_eq(errno, EPIPE, "logging keeps errno");
	log_warn(NULL, "no request");
	log_debug(NULL, "filtered out");
	log_source(LOG_WARN, "00000000000000ab", "/cgi-bin/x.sh", "a\\b\x80", 4, 0, false);
	log_source(LOG_WARN, NULL, "pool#1 (pid 7)", "first half", 10, 1, true);
	log_source(LOG_WARN, NULL, "pool#1 (pid 7)", "second half", 11, 2, false);
	size_t n;
	json_t *lines = json_lines(fx_path("error.log"), &n);
	cr_assert_eq(n, 5, "%zu lines", n);
	json_t *l;
	size_t i;
	json_array_foreach(lines, i, l) {
		cr_expect(gw_is_log_time(json_string_value(json_object_get(l, "time"))), "line %zu", i);
		cr_expect_str_eq(json_string_value(json_object_get(l, "level")), i == 0 ? "info" : "warn");
		cr_expect_null(json_object_get(l, "cut"));
	}
	l = json_array_get(lines, 0);
	cr_expect_str_eq(json_string_value(json_object_get(l, "request_id")), "00000000000000ab");
	cr_expect_str_eq(json_string_value(json_object_get(l, "message")), "say \"hi\"\tnow");
	cr_expect_null(json_object_get(l, "source"));
	l = json_array_get(lines, 1);
	cr_expect_null(json_object_get(l, "request_id"), "no request, no member");
	cr_expect_str_eq(json_string_value(json_object_get(l, "message")), "no request");
	l = json_array_get(lines, 2);
	cr_expect_str_eq(json_string_value(json_object_get(l, "source")), "/cgi-bin/x.sh");
	cr_expect_str_eq(json_string_value(json_object_get(l, "message")), "a\\\\b\\x80");
	cr_expect_null(json_object_get(l, "part"), "a whole line has no part");
	l = json_array_get(lines, 3);
	cr_expect_str_eq(json_string_value(json_object_get(l, "source")), "pool#1 (pid 7)");
	cr_expect_eq(json_integer_value(json_object_get(l, "part")), 1);
	cr_expect(json_is_true(json_object_get(l, "continued")));
	l = json_array_get(lines, 4);
	cr_expect_eq(json_integer_value(json_object_get(l, "part")), 2);
	cr_expect(json_is_false(json_object_get(l, "continued")));
	json_decref(lines);
	log_set_format(LOG_TEXT);
}

/* Too long for one line: cut at a whole escape, marked, still one object. */
Test(log, json_a_long_message_is_one_cut_object)
{
	log_set_format(LOG_JSON);
	char *big = malloc(60000);
	memset(big, 1, 60000); /* each byte escapes to six */
	log_source(LOG_ERROR, NULL, "x", big, 60000, 0, false);
	memset(big, 'x', 19999);
	big[19999] = '\0';
	log_error(NULL, "%s", big);
	log_error(NULL, "after");
	size_t n;
	json_t *lines = json_lines(fx_path("error.log"), &n);
	cr_assert_eq(n, 3);
	for (size_t i = 0; i < 2; i++)
		cr_expect(json_is_true(json_object_get(json_array_get(lines, i), "cut")), "line %zu", i);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(lines, 2), "message")),
	                 "after");
	json_decref(lines);
	free(big);
	log_set_format(LOG_TEXT);
}

Test(log, json_access_line)
{
	log_set_format(LOG_JSON);
	cr_assert_eq(log_open_access(fx_path("access.log")), 0);
	log_access(&hostile);
	size_t n;
	json_t *lines = json_lines(fx_path("access.log"), &n);
	cr_assert_eq(n, 1);
	json_t *l = json_array_get(lines, 0);
	cr_expect(gw_is_log_time(json_string_value(json_object_get(l, "time"))));
	cr_expect_str_eq(json_string_value(json_object_get(l, "remote_addr")), "127.0.0.1");
	cr_expect_str_eq(json_string_value(json_object_get(l, "request")),
	                 "GET /\"a\\\\b\x01\\xff HTTP/1.1");
	cr_expect_eq(json_integer_value(json_object_get(l, "status")), 404);
	cr_expect_eq(json_integer_value(json_object_get(l, "bytes_sent")), 12);
	cr_expect(json_is_null(json_object_get(l, "referer")));
	cr_expect_str_eq(json_string_value(json_object_get(l, "user_agent")), "evil\nline");
	cr_expect_float_eq(json_real_value(json_object_get(l, "duration")), 0.5, 1e-9);
	cr_expect_str_eq(json_string_value(json_object_get(l, "request_id")), "00000000000000cd");
	json_decref(lines);
	log_set_format(LOG_TEXT);
}

Test(log, format_names)
{
	enum log_format f = LOG_JSON;
	cr_expect_eq(log_format_parse("text", &f), 0);
	cr_expect_eq(f, LOG_TEXT);
	cr_expect_eq(log_format_parse("json", &f), 0);
	cr_expect_eq(f, LOG_JSON);
	cr_expect_eq(log_format_parse("JSON", &f), -1);
	cr_expect_eq(log_format_parse("", &f), -1);
}
