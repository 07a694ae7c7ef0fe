/* gatewayd/log.c: one line per message, with level and request id, cut to
 * one line when too long; the access log's quoting; log_line_len(). */
#include <criterion/criterion.h>
#include <errno.h>
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

Test(log, access_line_quotes_what_the_client_sent)
{
	cr_assert_eq(log_open_access(fx_path("access.log")), 0);
	struct access_entry e = {
		.remote_addr = "127.0.0.1",
		.request_line = "GET /\"a\\b\x01 HTTP/1.1",
		.status = 404,
		.bytes_sent = 12,
		.referer = NULL,
		.user_agent = "evil\nline",
		.seconds = 0.5,
		.rid = "00000000000000cd",
	};
	log_access(&e);
	char *text = gw_read_file(fx_path("access.log"));
	cr_assert_not_null(text);
	cr_expect(strstr(text, "127.0.0.1 - - ["), "%s", text);
	cr_expect(strstr(text, "] \"GET /\\\"a\\\\b\\x01 HTTP/1.1\" 404 12 \"-\" \"evil\\x0aline\" "
	                       "0.500000 00000000000000cd\n"), "%s", text);
	cr_expect_eq(strchr(text, '\n'), text + strlen(text) - 1, "one line");
	free(text);
}
