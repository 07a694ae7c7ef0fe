/* gatewayd/router.c: URL paths to routes (exact, prefix by whole segments,
 * suffix; the first match wins) and resolved script files to the cgi route
 * whose root holds them. Routes come from a config read by config_load(). */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/request/router.h"
#include "gatewayd/core/server.h"
#include "test/gatewayd/fixture.h"

static void setup(void)
{
	static const char *const tree[] = {"cgi/", "cgi/sub/", "cgi-evil/", "htdocs/", NULL};
	fx_setup();
	fx_tree(tree);
}

TestSuite(router, .init = setup, .fini = fx_teardown);

#define LISTEN "\"listen\": [{\"http\": \"127.0.0.1:1\"}], "

struct path_case {
	const char *path;
	int route;         /* index in the config, -1: none */
	size_t prefix_len; /* the mount the route took */
};

/* The config's order is the point: "/app" before "*.php" before "/static/". */
static const char path_routes[] = "{" LISTEN "\"routes\": ["
	"{\"match\": \"=/exact\", \"static\": {\"root\": \"htdocs\"}},"
	"{\"match\": \"/app\", \"cgi\": {\"root\": \"cgi\"}},"
	"{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"cgi\"}},"
	"{\"match\": \"*.php\", \"cgi\": {\"root\": \"cgi\"}},"
	"{\"match\": \"/static/\", \"static\": {\"root\": \"htdocs\"}}]}";

static const struct path_case path_cases[] = {
	{"/exact", 0, 0},
	{"/exact/", -1, 0},        /* exact is exact */
	{"/exactly", -1, 0},
	{"/exact.php", 3, 0},
	{"/app", 1, 4},
	{"/app/", 1, 4},
	{"/app/x/y", 1, 4},
	{"/apple", -1, 0},         /* "/app" is a whole segment */
	{"/app.php", 3, 0},        /* not "/app", so the suffix route */
	{"/app/x.php", 1, 4},      /* first match wins */
	{"/cgi-bin/x", 2, 8},      /* the mount excludes the trailing slash */
	{"/cgi-bin/", 2, 8},
	{"/cgi-bin", -1, 0},       /* a prefix with a slash wants the slash */
	{"/cgi-binx/y", -1, 0},
	{"/x.php", 3, 0},
	{"/static/a.php", 3, 0},   /* the suffix route comes first */
	{"/x.phps", -1, 0},
	{"/php", -1, 0},
	{"/static/a.css", 4, 7},
	{"/", -1, 0},
	{"", -1, 0},
};

Test(router, paths)
{
	fx_server(path_routes);
	for (size_t i = 0; i < sizeof path_cases / sizeof path_cases[0]; i++) {
		const struct path_case *c = &path_cases[i];
		size_t prefix = 12345;
		struct route_cfg *r = router_match(gw->cfg, "", c->path, &prefix);
		if (c->route < 0) {
			cr_expect_null(r, "\"%s\" matched route %td", c->path, r ? r - gw->cfg->routes : -1);
			continue;
		}
		cr_expect_eq(r, &gw->cfg->routes[c->route], "\"%s\": route %td, want %d", c->path,
		             r ? r - gw->cfg->routes : -1, c->route);
		cr_expect_eq(prefix, c->prefix_len, "\"%s\": prefix %zu, want %zu", c->path, prefix,
		             c->prefix_len);
	}
}

Test(router, catch_all_takes_everything_with_an_empty_mount)
{
	fx_server("{" LISTEN "\"routes\": [{\"match\": \"/\", \"static\": {\"root\": \"htdocs\"}}]}");
	const char *paths[] = {"/", "/a", "/a/b/", "/x.php"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		size_t prefix = 99;
		cr_expect_eq(router_match(gw->cfg, "", paths[i], &prefix), &gw->cfg->routes[0], "%s", paths[i]);
		cr_expect_eq(prefix, 0, "%s", paths[i]);
	}
}

/* Virtual hosts: a route with "host" takes only those; the first match wins. */
Test(router, host_routes_take_their_hosts_only)
{
	fx_server("{" LISTEN "\"routes\": ["
	          "{\"match\": \"/\", \"host\": \"a.example\", \"static\": {\"root\": \"htdocs\"}},"
	          "{\"match\": \"/\", \"host\": [\"*.b.example\", \"b.example\"],"
	          " \"static\": {\"root\": \"htdocs\"}},"
	          "{\"match\": \"/\", \"static\": {\"root\": \"htdocs\"}}]}");
	static const struct {
		const char *host;
		int route;
	} cases[] = {
		{"a.example", 0}, {"A.Example", 0}, {"b.example", 1}, {"www.b.example", 1},
		{"x.y.b.example", 1}, {"xb.example", 2}, {"a.example.evil", 2}, {"", 2},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t prefix;
		struct route_cfg *r = router_match(gw->cfg, cases[i].host, "/x", &prefix);
		cr_expect_eq(r, &gw->cfg->routes[cases[i].route], "host \"%s\": route %td, want %d",
		             cases[i].host, r ? r - gw->cfg->routes : -1, cases[i].route);
	}
}

struct script_case {
	const char *file; /* relative to the test's directory, or absolute */
	int route;        /* -1: none */
};

/* cgi/sub is a root of its own, after cgi: cgi's route wins for both. */
static const char script_routes[] = "{" LISTEN "\"routes\": ["
	"{\"match\": \"/s/\", \"static\": {\"root\": \"htdocs\"}},"
	"{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"cgi\"}},"
	"{\"match\": \"/sub/\", \"cgi\": {\"root\": \"cgi/sub\"}}]}";

static const struct script_case script_cases[] = {
	{"cgi/x.sh", 1},
	{"cgi/sub/y.sh", 1},  /* first match wins */
	{"cgi/", 1},
	{"cgi", -1},          /* the root itself is no script in it */
	{"cgi-evil/x.sh", -1},/* a sibling that shares the root's spelling */
	{"cgix", -1},
	{"htdocs/x.sh", -1},  /* a static root is no cgi root */
	{"x.sh", -1},
	{"/", -1},
	{"", -1},
};

Test(router, scripts_by_root)
{
	fx_server(script_routes);
	for (size_t i = 0; i < sizeof script_cases / sizeof script_cases[0]; i++) {
		const struct script_case *c = &script_cases[i];
		char real_dir[PATH_MAX], file[PATH_MAX + 64];
		/* The config's roots are resolved: so are the files the router sees. */
		cr_assert_not_null(realpath(fx_dir(), real_dir));
		if (c->file[0] == '/' || !c->file[0])
			snprintf(file, sizeof file, "%s", c->file);
		else
			snprintf(file, sizeof file, "%s/%s", real_dir, c->file);
		struct route_cfg *r = router_match_script(gw->cfg, file);
		if (c->route < 0)
			cr_expect_null(r, "%s matched route %td", file, r ? r - gw->cfg->routes : -1);
		else
			cr_expect_eq(r, &gw->cfg->routes[c->route], "%s: route %td, want %d", file,
			             r ? r - gw->cfg->routes : -1, c->route);
	}
}

/* A root of "/" holds every file (config_load accepts it). */
Test(router, root_slash_holds_every_file)
{
	fx_server("{" LISTEN "\"routes\": [{\"match\": \"/\", \"cgi\": {\"root\": \"/\"}}]}");
	cr_assert_str_eq(gw->cfg->routes[0].cgi.root, "/");
	cr_expect_eq(router_match_script(gw->cfg, "/usr/lib/cgi-bin/x"), &gw->cfg->routes[0]);
	cr_expect_eq(router_match_script(gw->cfg, "/x"), &gw->cfg->routes[0]);
	cr_expect_null(router_match_script(gw->cfg, "/"), "the root itself is no script");
}

struct below_case {
	const char *root, *path;
	bool below;
};

static const struct below_case below_cases[] = {
	{"/srv/cgi", "/srv/cgi/x", true},
	{"/srv/cgi", "/srv/cgi/a/b", true},
	{"/srv/cgi", "/srv/cgi", false},
	{"/srv/cgi", "/srv/cgi-evil/x", false},
	{"/srv/cgi", "/srv/cgix", false},
	{"/srv/cgi", "/srv/cg", false},
	{"/srv/cgi", "/srv", false},
	{"/srv/cgi", "/other/srv/cgi/x", false},
	{"/", "/x", true},
	{"/", "/", false},
	{"", "/x", false},
};

/* The one test of "inside a root" that the router and both handlers use. */
Test(router, path_below_root)
{
	for (size_t i = 0; i < sizeof below_cases / sizeof below_cases[0]; i++) {
		const struct below_case *c = &below_cases[i];
		cr_expect_eq(router_path_below(c->root, c->path), c->below, "\"%s\" below \"%s\": %d",
		             c->path, c->root, !c->below);
	}
}
