/* gatewayd/core/config.c: every error names where it is; defaults are sane. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gatewayd/core/config.h"
#include "test/gatewayd/fixture.h"

static char err[1024];

static void setup(void)
{
	fx_setup();
	fx_mkdir("scripts");
	fx_mkdir("htdocs");
}

static struct config *load(const char *json)
{
	return fx_config_load(json, err, sizeof err);
}

TestSuite(config, .init = setup, .fini = fx_teardown);

#define GOOD_ROUTES "\"routes\": [{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"scripts\"}}," \
	"{\"match\": \"/\", \"static\": {\"root\": \"htdocs\"}}]"

Test(config, minimal_valid_with_defaults)
{
	struct config *c = load("{\"listen\": [{\"http\": \"127.0.0.1:8080\"}], " GOOD_ROUTES "}");
	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(c->nlisten, 1);
	cr_assert_str_eq(c->listen[0].host, "127.0.0.1");
	cr_assert_str_eq(c->listen[0].port, "8080");
	cr_assert_eq(c->nroutes, 2);
	cr_assert_eq(c->routes[0].kind, ROUTE_CGI);
	cr_assert_eq(c->routes[0].match_kind, MATCH_PREFIX);
	/* Relative roots are relative to the config file's directory. */
	char real[4096];
	cr_assert_not_null(realpath(fx_path("scripts"), real));
	cr_assert_str_eq(c->routes[0].cgi.root, real);
	cr_assert_eq(c->routes[0].cgi.timeout, 30);
	cr_assert_eq(c->limits.headers, 100);
	cr_assert_eq(c->routes[1].stat.nindex, 1);
	cr_assert_str_eq(c->routes[1].stat.index[0], "index.html");
	/* DOCUMENT_ROOT defaults to the first static root. */
	cr_assert_not_null(realpath(fx_path("htdocs"), real));
	cr_assert_str_eq(c->document_root, real);
	config_free(c);
}

/* A master's dispatcher loads the bytes the master read (config_load_fd),
 * whatever the file at the path holds now; relative paths still start at
 * the path's folder. */
Test(config, the_masters_copy_not_the_file)
{
	static const char text[] = "{\"listen\": [{\"http\": \"127.0.0.1:8081\"}], " GOOD_ROUTES "}";
	struct config *c = load("{\"listen\": [{\"http\": \"127.0.0.1:8080\"}], " GOOD_ROUTES "}");
	cr_assert_not_null(c, "%s", err);
	char path[4096];
	snprintf(path, sizeof path, "%s", c->path);
	config_free(c);
	FILE *f = tmpfile();
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
	fflush(f);
	c = config_load_fd(path, fileno(f), err, sizeof err);
	fclose(f);
	cr_assert_not_null(c, "%s", err);
	cr_expect_str_eq(c->listen[0].port, "8081");
	cr_expect_str_eq(c->path, path);
	cr_expect_eq(c->text_len, sizeof text - 1);
	char real[4096];
	cr_assert_not_null(realpath(fx_path("scripts"), real));
	cr_expect_str_eq(c->routes[0].cgi.root, real);
	config_free(c);
	/* A broken copy says so, with the path. */
	f = tmpfile();
	fputs("{\"listen\": [", f);
	fflush(f);
	c = config_load_fd(path, fileno(f), err, sizeof err);
	fclose(f);
	cr_expect_null(c);
	cr_expect(strstr(err, "/gw.json:1:"), "\"%s\"", err);
	config_free(c);
}

/* The board's limits apply beside other dispatchers only. */
Test(config, shared_pool_limits_with_dispatchers_only)
{
	struct config *c = load("{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"pools\": {\"p\": "
	                        "{\"protocol\": \"fastcgi\", \"command\": [\"/bin/true\"], "
	                        "\"processes\": 4096}}, " GOOD_ROUTES "}");
	cr_expect_not_null(c, "%s", err);
	config_free(c);
	c = load("{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"dispatchers\": 2, \"pools\": {\"p\": "
	         "{\"protocol\": \"fastcgi\", \"command\": [\"/bin/true\"], \"processes\": 128}, "
	         "\"x\": {\"protocol\": \"fastcgi\", \"addresses\": [\"127.0.0.1:9\"], \"connections\": 1000}}, "
	         GOOD_ROUTES "}");
	cr_expect_not_null(c, "%s", err);
	config_free(c);
}

Test(config, ipv6_listen_and_sizes)
{
	struct config *c = load("{\"listen\": [{\"http\": \"[::1]:0\"}], \"limits\": {\"body\": \"10M\","
	                        " \"header_size\": 2048}, " GOOD_ROUTES "}");
	cr_assert_not_null(c, "%s", err);
	cr_assert_str_eq(c->listen[0].host, "::1");
	cr_assert_eq(c->limits.body, 10u << 20);
	cr_assert_eq(c->limits.head, 2048);
	cr_assert_eq(c->routes[0].max_body, 10u << 20, "routes inherit limits.body");
	config_free(c);
}

Test(config, per_client_limits_off_by_default_burst_defaults_to_a_second)
{
	struct config *c = load("{\"listen\": [{\"http\": \"127.0.0.1:1\"}], " GOOD_ROUTES "}");
	cr_assert_not_null(c, "%s", err);
	const struct per_client_cfg *pc = &c->limits.per_client;
	cr_expect(pc->connections == 0 && pc->requests_per_second == 0, "limits on by default");
	cr_expect_eq(pc->ipv6_prefix, 64);
	cr_expect_eq(pc->clients, 65536);
	config_free(c);
	c = load("{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"limits\": {\"per_client\": "
	         "{\"connections\": 4, \"requests_per_second\": 2.5}}, " GOOD_ROUTES "}");
	cr_assert_not_null(c, "%s", err);
	cr_expect_eq(c->limits.per_client.connections, 4);
	cr_expect_eq(c->limits.per_client.requests_per_second, 2.5);
	cr_expect_eq(c->limits.per_client.burst, 3, "burst: one second's worth, rounded up");
	config_free(c);
	c = load("{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"limits\": {\"per_client\": "
	         "{\"requests_per_second\": 0.2, \"burst\": 7, \"ipv6_prefix\": 56, "
	         "\"clients\": 1000}}, " GOOD_ROUTES "}");
	cr_assert_not_null(c, "%s", err);
	cr_expect_eq(c->limits.per_client.burst, 7);
	cr_expect_eq(c->limits.per_client.ipv6_prefix, 56);
	cr_expect_eq(c->limits.per_client.clients, 1000);
	config_free(c);
}

Test(config, match_kinds)
{
	struct config *c = load("{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"routes\": ["
	                        "{\"match\": \"*.php\", \"cgi\": {\"root\": \"scripts\"}},"
	                        "{\"match\": \"=/exact\", \"cgi\": {\"root\": \"scripts\"}},"
	                        "{\"match\": \"/app\", \"static\": {\"root\": \"htdocs\"}}]}");
	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(c->routes[0].match_kind, MATCH_SUFFIX);
	cr_assert_str_eq(c->routes[0].match_text, ".php");
	cr_assert_eq(c->routes[1].match_kind, MATCH_EXACT);
	cr_assert_str_eq(c->routes[1].match_text, "/exact");
	cr_assert_eq(c->routes[2].match_kind, MATCH_PREFIX);
	config_free(c);
}

Test(config, agent_listener_and_health_keys)
{
	struct config *c = load("{\"listen\": [{\"http\": \"127.0.0.1:8080\"},"
	                        " {\"agent\": \"127.0.0.1:9999\"}], " GOOD_ROUTES "}");
	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(c->nlisten, 2);
	cr_assert_eq(c->listen[1].proto, LISTEN_AGENT);
	cr_assert_str_eq(c->listen[1].port, "9999");
	/* live and ready answer any client by default; status only loopback ones. */
	cr_assert(c->status.enabled && c->status.loopback_only);
	cr_assert_not(c->status.health_loopback_only);
	config_free(c);
	c = load("{\"listen\": [{\"http\": \"127.0.0.1:8080\"}], \"status\": "
	         "{\"health_loopback_only\": true}, " GOOD_ROUTES "}");
	cr_assert_not_null(c, "%s", err);
	cr_assert(c->status.health_loopback_only);
	config_free(c);
}

struct bad_case {
	const char *json;
	const char *expect; /* substring of the error */
};

static const struct bad_case bad_cases[] = {
	{"{\"listen\": [{\"http\": \"127.0.0.1:8080\"}],\n \"routes\": [,]}", ":2:"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:8080\"}], " GOOD_ROUTES ", \"lisen\": 1}",
	 "(top): unknown key \"lisen\""},
	{"{\"listen\": [{\"http\": \"127.0.0.1:8080\"}], \"routes\": [{\"match\": \"/\", "
	 "\"cgi\": {\"roots\": \"scripts\"}}]}", "routes[0].cgi: unknown key \"roots\""},
	{"{\"listen\": [{\"http\": \"127.0.0.1:8080\"}], \"routes\": [{\"match\": \"/\", "
	 "\"static\": {\"root\": \"htdocs\"}}, {\"match\": \"/x/\", \"cgi\": {\"root\": \"nope\"}}]}",
	 "routes[1].cgi.root: no such directory \"nope\""},
	{"{\"listen\": [{\"http\": \"127.0.0.1\"}], " GOOD_ROUTES "}", "listen[0]: \"127.0.0.1\" is not host:port"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:99999\"}], " GOOD_ROUTES "}", "listen[0]: \"127.0.0.1:99999\": bad port"},
	{"{\"listen\": [{\"http\": \"localhost:80\"}], " GOOD_ROUTES "}",
	 "listen[0]: \"localhost:80\": the host must be a numeric IPv4 address"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"limits\": {\"body\": \"M\"}, " GOOD_ROUTES "}",
	 "limits: \"body\": \"M\" is not a size"},
	{"{\"listen\": [], " GOOD_ROUTES "}", "listen: must be a non-empty array"},
	{"{" GOOD_ROUTES "}", "listen: is required"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"limits\": {\"body\": \"12Q\"}, " GOOD_ROUTES "}",
	 "limits: \"body\": \"12Q\" is not a size"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"timeouts\": {\"header\": -1}, " GOOD_ROUTES "}",
	 "timeouts: \"header\" must be a number of seconds"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"routes\": [{\"match\": \"/\"}]}",
	 "routes[0]: needs exactly one handler"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"routes\": [{\"match\": \"x\", \"static\": {\"root\": \"htdocs\"}}]}",
	 "routes[0]: match \"x\""},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"routes\": [{\"match\": \"/\", \"cgi\": {\"root\": \"scripts\", \"max_children\": 0}}]}",
	 "routes[0].cgi: \"max_children\" must be an integer"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"log\": {\"level\": \"loud\"}, " GOOD_ROUTES "}",
	 "log.level: \"loud\""},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"listen\": [], " GOOD_ROUTES "}", "duplicate"},
	{"[1, 2]", "(top): must be an object"},
	{"{\"listen\": [{\"agent\": \"127.0.0.1:1\", \"http\": \"127.0.0.1:2\"}], " GOOD_ROUTES "}",
	 "listen[0]: must name one protocol"},
	{"{\"listen\": [{\"agent\": \"127.0.0.1:1\", \"stderr\": true}], " GOOD_ROUTES "}",
	 "listen[0]: \"stderr\" applies to fastcgi listeners only"},
	{"{\"listen\": [{\"fastcgi\": \"127.0.0.1:1\", \"proxy_protocol\": true}], " GOOD_ROUTES "}",
	 "listen[0]: \"proxy_protocol\" applies to http listeners only"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\", \"proxy_protocol\": 1}], " GOOD_ROUTES "}",
	 "proxy_protocol"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"trusted_proxies\": \"10.0.0.1\", "
	 GOOD_ROUTES "}", "trusted_proxies: must be an array"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"trusted_proxies\": [\"10.0.0.1/8\"], "
	 GOOD_ROUTES "}", "trusted_proxies[0]: must be a numeric address or CIDR block"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"trusted_proxies\": [\"::1\", \"lb.example\"], "
	 GOOD_ROUTES "}", "trusted_proxies[1]"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"trusted_proxies\": [\"10.0.0.0/33\"], "
	 GOOD_ROUTES "}", "trusted_proxies[0]"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"status\": {\"health_loopback_only\": 1}, "
	 GOOD_ROUTES "}", "health_loopback_only"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"limits\": {\"per_client\": {\"burst\": 5}}, "
	 GOOD_ROUTES "}", "limits.per_client: \"burst\" needs \"requests_per_second\""},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"limits\": {\"per_client\": "
	 "{\"requests_per_second\": -1}}, " GOOD_ROUTES "}",
	 "limits.per_client: \"requests_per_second\" must be a number in [0, 1e+06]"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"limits\": {\"per_client\": "
	 "{\"conections\": 2}}, " GOOD_ROUTES "}", "limits.per_client: unknown key \"conections\""},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"limits\": {\"per_client\": "
	 "{\"ipv6_prefix\": 8}}, " GOOD_ROUTES "}", "limits.per_client: \"ipv6_prefix\" must be an integer in [16, 128]"},
	/* Beside other dispatchers a spawned pool lives on the master's board:
	 * no room for more (4096 is fine with one dispatcher, below). */
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"dispatchers\": 2, \"pools\": {\"p\": "
	 "{\"protocol\": \"fastcgi\", \"command\": [\"/bin/true\"], \"processes\": "
	 "{\"mode\": \"dynamic\", \"max\": 129}}}, " GOOD_ROUTES "}",
	 "pools.p.processes: at most 128 workers when \"dispatchers\" is above 1"},
	{"{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"dispatchers\": 2, \"pools\": {\"p\": "
	 "{\"protocol\": \"fastcgi\", \"command\": [\"/bin/true\"], \"processes\": 200}}, "
	 GOOD_ROUTES "}", "pools.p.processes: at most 128 workers"},
};

Test(config, every_error_says_where)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		struct config *c = load(bad_cases[i].json);
		cr_expect_null(c, "case %zu accepted", i);
		config_free(c);
		cr_expect(strstr(err, bad_cases[i].expect), "case %zu: \"%s\" lacks \"%s\"", i, err,
		          bad_cases[i].expect);
		cr_expect(strstr(err, "/gw.json"), "case %zu: no file name in \"%s\"", i, err);
	}
}

Test(config, missing_file)
{
	struct config *c = config_load("/nonexistent/gw.json", err, sizeof err);
	cr_assert_null(c);
	cr_assert(strstr(err, "/nonexistent/gw.json: No such file"), "%s", err);
}
