/* Routes are tried in the order the config lists them; the first match wins. */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <stdbool.h>

#include "gatewayd/core/config.h"

/* The route for a decoded path, or NULL. *prefix_len: how much of the path the
 * route's match consumed (the mount point, for SCRIPT_NAME). */
/* The first route for host (the request's, lowercase, no port; "" if none)
 * and path. */
struct route_cfg *router_match(struct config *cfg, const char *host, const char *path,
                               size_t *prefix_len);

/* The one rule for "is this resolved path inside that resolved root": path is
 * strictly below root (never root itself; root "/" holds every other absolute
 * path). Callers that want a file check that it is one. */
bool router_path_below(const char *root, const char *path);

/* The first cgi route, or pool route with a root, whose root holds the
 * resolved path real, or NULL. */
struct route_cfg *router_match_script(struct config *cfg, const char *real);

#endif
