#include "gatewayd/request/router.h"

#include <string.h>
#include <strings.h>

static bool route_matches(const struct route_cfg *r, const char *path, size_t len,
                          size_t *prefix_len)
{
	size_t n = strlen(r->match_text);
	switch (r->match_kind) {
	case MATCH_EXACT:
		*prefix_len = 0;
		return len == n && memcmp(path, r->match_text, n) == 0;
	case MATCH_SUFFIX:
		*prefix_len = 0;
		return len >= n && memcmp(path + len - n, r->match_text, n) == 0;
	case MATCH_PREFIX:
		if (len < n || memcmp(path, r->match_text, n) != 0)
			return false;
		/* "/app" is a whole segment: it takes "/app" and "/app/x", not "/apple";
		 * "/~" takes "/~alice/..." (userdir). */
		if (r->match_text[n - 1] != '/' && r->match_text[n - 1] != '~' && len > n &&
		    path[n] != '/')
			return false;
		*prefix_len = r->match_text[n - 1] == '/' ? n - 1 : n;
		return true;
	}
	return false;
}

/* host: lowercase, no port; a route with no hosts takes any. */
static bool host_matches(const struct route_cfg *r, const char *host)
{
	if (r->nhosts == 0)
		return true;
	size_t hl = strlen(host);
	for (size_t i = 0; i < r->nhosts; i++) {
		const char *h = r->hosts[i];
		if (strncmp(h, "*.", 2) == 0) {
			size_t sl = strlen(h + 1); /* ".example.org" */
			if (hl > sl && strcasecmp(host + hl - sl, h + 1) == 0)
				return true;
		} else if (strcasecmp(host, h) == 0) {
			return true;
		}
	}
	return false;
}

struct route_cfg *router_match(struct config *cfg, const char *host, const char *path,
                               size_t *prefix_len)
{
	size_t len = strlen(path);
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (host_matches(&cfg->routes[i], host) &&
		    route_matches(&cfg->routes[i], path, len, prefix_len))
			return &cfg->routes[i];
	return NULL;
}

bool router_path_below(const char *root, const char *path)
{
	size_t n = strlen(root);
	if (n == 0)
		return false;
	while (n > 0 && root[n - 1] == '/') /* "/" holds every absolute path */
		n--;
	return strncmp(root, path, n) == 0 && path[n] == '/' && (n > 0 || path[1] != '\0');
}

struct route_cfg *router_match_script(struct config *cfg, const char *real)
{
	for (size_t i = 0; i < cfg->nroutes; i++) {
		struct route_cfg *r = &cfg->routes[i];
		if (r->kind == ROUTE_CGI && r->cgi.root && router_path_below(r->cgi.root, real))
			return r;
		/* A pool's scripts (php) go to the pool whose root holds them, never
		 * to another pool's workers (and user) by the URL a web server sent. */
		if (r->kind == ROUTE_POOL && r->pool_root && router_path_below(r->pool_root, real))
			return r;
	}
	return NULL;
}
