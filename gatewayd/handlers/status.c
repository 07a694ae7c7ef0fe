/* GET /_gatewayd/status: the pools as JSON, or as Prometheus text with
 * ?format=prometheus. Loopback clients only unless the config says otherwise. */
#include <stdlib.h>
#include <string.h>

#include "gatewayd/core/log.h"
#include "gatewayd/request/request.h"
#include "gatewayd/core/server.h"
#include "gatewayd/upstream/pools.h"

static bool is_loopback(const char *addr)
{
	return addr && (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
	                strncmp(addr, "::ffff:127.", 11) == 0);
}

static void status_start(struct request *r)
{
	if (gw->cfg->status.loopback_only && !is_loopback(cgi_env_get(&r->env, "REMOTE_ADDR"))) {
		log_warn(r->id, "status asked for by %s, not a loopback client: 403",
		         cgi_env_get(&r->env, "REMOTE_ADDR"));
		request_error(r, 403, NULL);
		return;
	}
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		request_error(r, 405, "Allow: GET, HEAD");
		return;
	}
	bool prom = r->query && strstr(r->query, "format=prometheus");
	char *text = prom ? pools_status_prometheus() : pools_status_json();
	if (!text) {
		request_error(r, 500, NULL);
		return;
	}
	const char *type = prom ? "text/plain; version=0.0.4" : "application/json";
	struct http1_header h[2] = {
		{{"Content-Type", 12}, {type, strlen(type)}},
		{{"Cache-Control", 13}, {"no-store", 8}},
	};
	size_t len = strlen(text);
	struct response_head head = {.status = 200, .headers = h, .num_headers = 2,
	                             .content_length = (long long)len};
	r->front->send_head(r, &head);
	r->front->send_body(r, text, len);
	free(text);
	r->front->send_end(r, true);
}

static void status_body(struct request *r)
{
	request_body_taken(r, buf_len(&r->body));
}

static void status_noop(struct request *r)
{
}

const struct handler_ops handler_status = {
	.name = "status", .start = status_start, .body = status_body, .drained = status_noop,
	.abort = status_noop
};
