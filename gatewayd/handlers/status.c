/* GET /_gatewayd/status: the pools as JSON, or as Prometheus text with
 * ?format=prometheus. Loopback clients only unless the config says otherwise. */
#include <stdlib.h>
#include <string.h>

#include "gatewayd/core/server.h"
#include "gatewayd/request/request.h"
#include "gatewayd/upstream/pools.h"

static void status_start(struct request *r)
{
	if (!request_self_allowed(r, gw->cfg->status.loopback_only))
		return;
	bool prom = r->query && strstr(r->query, "format=prometheus");
	char *text = prom ? pools_status_prometheus() : pools_status_json();
	if (!text) {
		request_error(r, 500, NULL);
		return;
	}
	request_send_text(r, 200, prom ? "text/plain; version=0.0.4" : "application/json", text,
	                  strlen(text));
	free(text);
}

/* clang-format off */
const struct handler_ops handler_status = {
	.name = "status", .start = status_start, .body = request_body_drop, .drained = request_nothing,
	.abort = request_nothing
};
/* clang-format on */
