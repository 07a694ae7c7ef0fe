#include "gatewayd/core/server.h"

#include <stdio.h>

#include "gatewayd/request/request.h"
#include "gatewayd/upstream/pools.h"

static struct server the_server;
struct server *gw = &the_server;

void server_next_request_id(char *out)
{
	snprintf(out, 17, "%08x%08x", gw->id_prefix, (unsigned)(++gw->requests & 0xffffffffu));
}

void server_check_stopped(void)
{
	if (gw->stopping && gw->nconns == 0 && cgi_children_alive() == 0 && pools_alive() == 0)
		ev_break(gw->loop, EVBREAK_ALL);
}
