/* The agent answers what core/health.c decides, in HAProxy's words
 * (configuration.txt, "agent-check"):
 *
 *   ready       "up ready 75%": the idle capacity as the weight, at least 1%
 *               (busy but still queueing is not out). "up" undoes an earlier
 *               "down", which only the agent can; "ready" undoes a "drain"
 *               a previous gatewayd left behind.
 *   not ready   "ready 0%": a full queue, the connection limit, the start;
 *               weight 0 takes the server out of the farm without a health
 *               word, so the HTTP check (/_gatewayd/ready, 503 too) decides
 *               up or down, not the agent ("up" would reset its count).
 *   down        "down #why": nothing to run a request on (being busy is
 *               not being down: that is "not ready").
 *   stopping    "drain": no new traffic, the requests in flight finish.
 *
 * Whatever HAProxy sends first (agent-send) is read and dropped. After the
 * line the write side is shut and the connection waits for HAProxy to close
 * (a close with its bytes unread could reset the line away), at most
 * AGENT_LINGER seconds. */
#include "gatewayd/front/agent.h"

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

#include "gatewayd/core/conn.h"
#include "gatewayd/core/health.h"
#include "gatewayd/core/server.h"

#define AGENT_LINGER 1.0

struct agent_conn {
	struct conn conn; /* first: the allocation */
	ev_tstamp started;
	bool shut; /* the line is out and the write side shut */
};

/* The line for the verdict now, "\n" included, into out; its length. */
static int agent_line(char *out, size_t len)
{
	struct health h;
	int n;
	health_check(&h, NULL);
	switch (h.state) {
	case HEALTH_READY:
		n = snprintf(out, len, "up ready %u%%\n", h.idle_percent ? h.idle_percent : 1);
		break;
	case HEALTH_NOT_READY:
		n = snprintf(out, len, "ready 0%%\n");
		break;
	case HEALTH_DOWN:
		n = snprintf(out, len, "down #%s\n", h.why);
		break;
	default:
		n = snprintf(out, len, "drain\n");
		break;
	}
	if (n < 0 || (size_t)n >= len) { /* a long reason: cut, the line still ends */
		n = len > 1 ? (int)len - 1 : 0;
		if (n > 0)
			out[n - 1] = '\n';
	}
	return n;
}

static struct agent_conn *agent_of(struct conn *c)
{
	return (struct agent_conn *)c;
}

static void on_input(struct conn *c)
{
	buf_reset(&c->in);
}

static void on_done(struct conn *c, int err)
{
	conn_close(c);
}

static void on_written(struct conn *c)
{
	struct agent_conn *a = agent_of(c);
	if (!a->shut && buf_len(&c->out) == 0) {
		a->shut = true;
		if (shutdown(c->fd, SHUT_WR) < 0)
			conn_close(c);
	}
}

static ev_tstamp on_deadline(struct conn *c)
{
	return agent_of(c)->started + AGENT_LINGER;
}

static void on_close(struct conn *c)
{
	conn_close(c);
}

static void on_shutdown(struct conn *c)
{
	/* Its line is written already, or about to be: it ends by itself. */
}

/* clang-format off */
static const struct conn_ops agent_conn_ops = {
	.name = "agent", .input = on_input, .eof = on_done, .write_error = on_done,
	.written = on_written, .deadline = on_deadline, .timeout = on_close,
	.shutdown = on_shutdown, .abort = on_close
};
/* clang-format on */

void agent_conn_start(int fd)
{
	struct conn *c = conn_accepted(fd, sizeof(struct agent_conn), &agent_conn_ops, 512,
	                               false); /* one line, then the close: Nagle never waits */
	if (!c)
		return;
	char line[256];
	int n = agent_line(line, sizeof line);
	agent_of(c)->started = ev_now(gw->loop);
	buf_append(&c->out, line, (size_t)n);
	conn_start(c);
	conn_want_write(c);
}
