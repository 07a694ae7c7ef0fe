/* GET /_gatewayd/live and /_gatewayd/ready, for balancers and orchestrators
 * (the verdict is core/health.c's). live: 200 whenever the loop answers.
 * ready: 200, or 503 with the reason in the body. Both answer any client
 * unless status.health_loopback_only, and neither reaches the access log: at
 * one probe a second per balancer they would be most of it, and a change of
 * verdict goes to the error log instead. */
#include <stdio.h>
#include <string.h>

#include "gatewayd/core/health.h"
#include "gatewayd/request/request.h"

#define TEXT_PLAIN "text/plain; charset=utf-8"

static void health_start(struct request *r)
{
	if (!request_self_allowed(r, r->cfg->status.health_loopback_only))
		return;
	r->no_access_log = true;
	if (strcmp(r->path, LIVE_PATH) == 0) {
		/* Answering at all is the answer: the loop turns. */
		request_send_text(r, 200, TEXT_PLAIN, "live\n", 5);
		return;
	}
	struct health h;
	char body[sizeof h.why + 32];
	health_check(&h, r->id);
	int n = h.state == HEALTH_READY
	                ? snprintf(body, sizeof body, "ready, %u%% idle\n", h.idle_percent)
	                : snprintf(body, sizeof body, "%s: %s\n", health_state_name(h.state),
	                           h.why);
	if (n < 0 || (size_t)n >= sizeof body)
		n = (int)strlen(body);
	request_send_text(r, h.state == HEALTH_READY ? 200 : 503, TEXT_PLAIN, body, (size_t)n);
}

/* clang-format off */
const struct handler_ops handler_health = {
	.name = "health", .start = health_start, .body = request_body_drop, .drained = request_nothing,
	.abort = request_nothing
};
/* clang-format on */
