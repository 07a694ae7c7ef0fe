/* gatewayd/script.c: walking a URL path below a root to the script it names
 * (the rest is PATH_INFO), a directory's index, and the location variables;
 * real files under a temporary directory. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gatewayd/request/script.h"
#include "gatewayd/core/server.h"
#include "test/gatewayd/fixture.h"

static char root[PATH_MAX];

static void setup(void)
{
	static const char *const tree[] = {"cgi/", "cgi/sub/", "cgi/empty/", "htdocs/", "cgi/x.sh",
	                                   "cgi/sub/y.sh", "cgi/sub/index.cgi", NULL};
	fx_setup();
	fx_tree(tree);
	cr_assert_eq(mkfifo(fx_path("cgi/fifo"), 0600), 0);
	fx_server("{\"listen\": [{\"http\": \"127.0.0.1:1\"}], \"routes\": ["
	          "{\"match\": \"/cgi-bin/\", \"cgi\": {\"root\": \"cgi\"}},"
	          "{\"match\": \"/\", \"static\": {\"root\": \"htdocs\"}}]}");
	cr_assert_not_null(realpath(fx_path("cgi"), root));
}

TestSuite(script, .init = setup, .fini = fx_teardown);

struct find_case {
	const char *path;
	bool with_index;
	int status;
	const char *file; /* below the root */
	const char *script_name;
	const char *path_info;
};

static const struct find_case find_cases[] = {
	{"/cgi-bin/x.sh", false, 0, "/x.sh", "/cgi-bin/x.sh", ""},
	{"/cgi-bin/x.sh/a/b", false, 0, "/x.sh", "/cgi-bin/x.sh", "/a/b"},
	{"/cgi-bin/sub/y.sh/", false, 0, "/sub/y.sh", "/cgi-bin/sub/y.sh", "/"},
	{"/cgi-bin/sub/", true, 0, "/sub/index.cgi", "/cgi-bin/sub/index.cgi", ""},
	{"/cgi-bin/sub", true, 403, NULL, NULL, NULL},   /* a directory named without its slash */
	{"/cgi-bin/sub/", false, 403, NULL, NULL, NULL},
	{"/cgi-bin/empty/", true, 403, NULL, NULL, NULL},
	{"/cgi-bin/", true, 403, NULL, NULL, NULL},
	{"/cgi-bin/nope", false, 404, NULL, NULL, NULL},
	{"/cgi-bin/nope/x.sh", false, 404, NULL, NULL, NULL},
	{"/cgi-bin/x.sh.bak", false, 404, NULL, NULL, NULL},
	{"/cgi-bin/fifo", false, 403, NULL, NULL, NULL},  /* neither a file nor a directory */
};

static struct request *request_for(struct recording *rec, const char *path)
{
	struct request *r = fx_request(rec);
	cr_assert_eq(request_set_path(r, path, strlen(path)), 0);
	cr_assert_eq(request_route(r), 0);
	return r;
}

Test(script, find)
{
	static const char *const index[] = {"index.html", "index.cgi", NULL};
	for (size_t i = 0; i < sizeof find_cases / sizeof find_cases[0]; i++) {
		const struct find_case *c = &find_cases[i];
		struct recording rec;
		struct request *r = request_for(&rec, c->path);
		cr_assert_eq(r->route_prefix, 8);
		struct script_match *m = malloc(sizeof *m);
		int st = script_find(r, root, c->with_index ? index : NULL, m);
		cr_expect_eq(st, c->status, "%s: %d, want %d", c->path, st, c->status);
		if (st == 0 && c->status == 0) {
			char file[PATH_MAX + 64];
			snprintf(file, sizeof file, "%s%s", root, c->file);
			cr_expect_str_eq(m->file, file, "%s", c->path);
			cr_expect_str_eq(m->script_name, c->script_name, "%s", c->path);
			cr_expect_str_eq(m->path_info, c->path_info, "%s", c->path);
		}
		free(m);
		fx_request_free(r, &rec);
	}
}

Test(script, too_long_is_414)
{
	char path[PATH_MAX + 64] = "/cgi-bin/";
	memset(path + 9, 'a', PATH_MAX);
	path[9 + PATH_MAX] = '\0';
	struct recording rec;
	struct request *r = request_for(&rec, path);
	struct script_match *m = malloc(sizeof *m);
	cr_expect_eq(script_find(r, root, NULL, m), 414);
	free(m);
	fx_request_free(r, &rec);
}

Test(script, location_variables)
{
	struct recording rec;
	struct request *r = request_for(&rec, "/cgi-bin/x.sh/more/info");
	struct script_match *m = malloc(sizeof *m);
	cr_assert_eq(script_find(r, root, NULL, m), 0);
	cr_assert_eq(script_location_env(r, m), 0);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "%s/x.sh", root);
	cr_expect_str_eq(cgi_env_get(&r->env, "SCRIPT_FILENAME"), want);
	cr_expect_str_eq(cgi_env_get(&r->env, "SCRIPT_NAME"), "/cgi-bin/x.sh");
	cr_expect_str_eq(cgi_env_get(&r->env, "PATH_INFO"), "/more/info");
	/* DOCUMENT_ROOT: the first static root, as config_load() chose it. */
	cr_expect_str_eq(cgi_env_get(&r->env, "DOCUMENT_ROOT"), gw->cfg->document_root);
	snprintf(want, sizeof want, "%s/more/info", gw->cfg->document_root);
	cr_expect_str_eq(cgi_env_get(&r->env, "PATH_TRANSLATED"), want);

	/* Found again without PATH_INFO: PATH_TRANSLATED goes. */
	cr_assert_eq(request_set_path(r, "/cgi-bin/x.sh", 13), 0);
	cr_assert_eq(script_find(r, root, NULL, m), 0);
	cr_assert_eq(script_location_env(r, m), 0);
	cr_expect_str_eq(cgi_env_get(&r->env, "PATH_INFO"), "");
	cr_expect_null(cgi_env_get(&r->env, "PATH_TRANSLATED"));
	free(m);
	fx_request_free(r, &rec);
}
