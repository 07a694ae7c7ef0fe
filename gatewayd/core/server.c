#include "gatewayd/core/server.h"

#include <signal.h>
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

void server_hold_signals(bool hold)
{
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGUSR1);
	sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &stop, NULL);
}
