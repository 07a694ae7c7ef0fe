/* The pool handler: a request for a pool's workers. It sets the variables the
 * worker needs and hands the request to the upstream engine (upstream.c),
 * which queues it, starts it on a worker and streams it both ways. */
#include <stdlib.h>
#include <string.h>

#include "gatewayd/core/server.h"
#include "gatewayd/request/request.h"
#include "gatewayd/request/script.h"
#include "gatewayd/upstream/pools.h"
#include "gatewayd/upstream/upstream.h"

static int pool_env(struct request *r)
{
	struct cgi_env *env = &r->env;
	int rc = 0;
	if (r->route->pool_root && !r->script_filename) {
		static const char *const index[] = { "index.php", "index.html", NULL };
		struct script_match m;
		int st = script_find(r, r->route->pool_root, index, &m);
		if (st)
			return st;
		if ((st = script_location_env(r, &m)) != 0)
			return st;
	} else if (r->script_filename) {
		/* The web server named it; the worker runs the file routing checked
		 * (resolved, under this pool's root), not the name as sent. */
		rc |= cgi_env_set(env, "SCRIPT_FILENAME", r->script_filename);
	} else {
		/* The application is the mount point; the rest of the path is PATH_INFO. */
		size_t mount =
		        r->route->match_kind == MATCH_PREFIX ? r->route_prefix : strlen(r->path);
		rc |= cgi_env_setn(env, "SCRIPT_NAME", r->path, mount);
		rc |= cgi_env_set(env, "PATH_INFO", r->path + mount);
		rc |= cgi_env_set(env, "DOCUMENT_ROOT", gw->cfg->document_root);
	}
	/* php-cgi refuses to run without it (cgi.force_redirect). */
	rc |= cgi_env_set(env, "REDIRECT_STATUS", "200");
	return rc ? 500 : 0;
}

static void pool_handler_start(struct request *r)
{
	int st = pool_env(r);
	if (st) {
		request_error(r, st, NULL);
		return;
	}
	upstream_submit(r->route->pool->state, r);
}

static void pool_handler_body(struct request *r)
{
	if (r->handler_ctx)
		upstream_job_body(r->handler_ctx);
}

static void pool_handler_drained(struct request *r)
{
	if (r->handler_ctx)
		upstream_job_drained(r->handler_ctx);
}

static void pool_handler_abort(struct request *r)
{
	if (r->handler_ctx)
		upstream_job_abort(r->handler_ctx);
}

/* clang-format off */
const struct handler_ops handler_pool = {
	.name = "pool", .start = pool_handler_start, .body = pool_handler_body,
	.drained = pool_handler_drained, .abort = pool_handler_abort
};
/* clang-format on */
