#include "gatewayd/core/systemd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gatewayd/core/dispatchers.h"
#include "gatewayd/core/log.h"
#include "gatewayd/core/sd_notify.h"
#include "gatewayd/core/server.h"
#include "gatewayd/request/request.h"
#include "gatewayd/upstream/peer.h"
#include "gatewayd/upstream/pools.h"

#define STATUS_INTERVAL 5.0 /* seconds between STATUS= lines */
#define RELOAD_READY_MAX 30.0 /* a reload's new pools get this long (their start timeout) */
#define RETRY_INTERVAL 0.1 /* a state message that met a full queue is sent again */

static struct ev_loop *loop;
static ev_prepare ready_w; /* runs every loop iteration until READY=1 is sent */
static ev_tstamp ready_deadline; /* after a reload: READY=1 by then, pools up or not */
static ev_timer status_w;
static ev_timer watchdog_w;
static double watchdog_interval; /* seconds; 0: no watchdog */
static uint64_t last_requests; /* for requests/s */
static ev_tstamp last_at;
static int last_errno; /* a failing send is logged once per errno */
static char pending[1024]; /* the state message waiting for room, or "" */
static ev_timer retry_w;

static int send_msg(const char *msg)
{
	int rc = sd_notify_send(msg);
	if (rc < 0 && -rc != last_errno)
		log_warn(NULL, "cannot notify systemd (NOTIFY_SOCKET): %s", strerror(-rc));
	last_errno = rc < 0 ? -rc : 0;
	return rc;
}

static void on_retry(struct ev_loop *l, ev_timer *w, int revents)
{
	if (send_msg(pending) != -EAGAIN) {
		ev_timer_stop(l, w);
		pending[0] = '\0';
	}
}

/* READY, RELOADING, STOPPING: systemd acts on these, so one that finds the
 * receive queue full is sent again until it fits (the latest state wins).
 * A lost STATUS= or WATCHDOG=1 is not retried: the next one follows. */
static void send_state(const char *msg)
{
	ev_timer_stop(loop, &retry_w);
	pending[0] = '\0';
	if (send_msg(msg) == -EAGAIN) {
		snprintf(pending, sizeof pending, "%s", msg);
		ev_timer_init(&retry_w, on_retry, RETRY_INTERVAL, RETRY_INTERVAL);
		ev_timer_start(loop, &retry_w);
	}
}

/* Append to out[*n..len) like snprintf; a line that does not fit ends in "...". */
static void append(char *out, size_t len, size_t *n, const char *fmt, ...)
{
	if (*n >= len)
		return;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(out + *n, len - *n, fmt, ap);
	va_end(ap);
	*n += w > 0 ? (size_t)w : 0;
	if (*n >= len)
		memcpy(out + len - 4, "...", 4);
}

/* "STATUS=" and one line about now; resets the requests/s interval. */
static void status_line(char *out, size_t len)
{
	ev_tstamp now = ev_now(loop);
	uint64_t conns, requests; /* every dispatcher's, under a master */
	dispatchers_totals(&conns, &requests);
	double rate = now > last_at ? (double)(requests - last_requests) / (now - last_at) : 0;
	size_t n = 0;
	last_requests = requests;
	last_at = now;
	append(out, len, &n, "STATUS=%s%llu connections, %zu cgi running",
	       gw->stopping ? "stopping: " : "", (unsigned long long)conns, cgi_children_alive());
	for (const struct pool_rt *rt = pool_runtimes; rt; rt = rt->next) {
		struct source_facts f;
		if (rt->retired)
			continue;
		rt->peers->src->facts(rt->peers, &f);
		append(out, len, &n, ", pool %s %u busy %u idle", rt->cfg->name, f.count[PEER_BUSY],
		       f.count[PEER_IDLE]);
	}
	append(out, len, &n, ", %.1f req/s", rate);
}

static void on_ready_check(struct ev_loop *l, ev_prepare *w, int revents)
{
	bool up = pools_up();
	if (!up && !(ready_deadline > 0 && ev_now(l) >= ready_deadline))
		return;
	if (!up)
		log_warn(NULL,
		         "reload: a pool is not up after %.0f s; telling systemd ready anyway",
		         RELOAD_READY_MAX);
	ev_prepare_stop(l, w);
	char msg[1024];
	memcpy(msg, "READY=1\n", 8);
	status_line(msg + 8, sizeof msg - 8);
	send_state(msg);
	log_debug(NULL, "told systemd: ready");
}

static void on_status(struct ev_loop *l, ev_timer *w, int revents)
{
	char msg[1024];
	status_line(msg, sizeof msg);
	send_msg(msg);
}

static void on_watchdog(struct ev_loop *l, ev_timer *w, int revents)
{
	send_msg("WATCHDOG=1");
}

/* $WATCHDOG_USEC, for this process unless $WATCHDOG_PID names another. */
static int watchdog_init(char *err, size_t errlen)
{
	const char *usec_s = getenv("WATCHDOG_USEC"), *pid_s = getenv("WATCHDOG_PID");
	int rc = 0;
	char *end;
	if (usec_s && (!pid_s || strtol(pid_s, &end, 10) == (long)getpid())) {
		errno = 0;
		unsigned long long usec = strtoull(usec_s, &end, 10);
		if (*usec_s == '\0' || *end || errno || usec == 0 || usec_s[0] == '-') {
			snprintf(err, errlen, "WATCHDOG_USEC=\"%s\": not a number of microseconds",
			         usec_s);
			rc = -1;
		}
		watchdog_interval = rc == 0 ? (double)usec / 2e6 : 0;
	}
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return rc;
}

int systemd_init(char *err, size_t errlen)
{
	if (sd_notify_open(err, errlen) < 0)
		return -1;
	return watchdog_init(err, errlen);
}

void systemd_start(struct ev_loop *l)
{
	if (!sd_notify_enabled())
		return;
	loop = l;
	last_at = ev_now(loop);
	last_requests = gw->requests;
	ev_prepare_init(&ready_w, on_ready_check);
	ev_prepare_start(loop, &ready_w);
	ev_timer_init(&status_w, on_status, STATUS_INTERVAL, STATUS_INTERVAL);
	ev_timer_start(loop, &status_w);
	if (watchdog_interval > 0) {
		ev_timer_init(&watchdog_w, on_watchdog, watchdog_interval, watchdog_interval);
		ev_timer_start(loop, &watchdog_w);
		log_info(NULL, "systemd watchdog: a ping every %.3f s", watchdog_interval);
	}
}

void systemd_reloading(void)
{
	if (!sd_notify_enabled())
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char msg[96];
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ULL +
	                 (unsigned long long)ts.tv_nsec / 1000);
	send_state(msg);
	ev_now_update(loop);
	ready_deadline = ev_now(loop) + RELOAD_READY_MAX;
	ev_prepare_start(loop, &ready_w);
}

void systemd_stopping(void)
{
	if (!sd_notify_enabled())
		return;
	ev_prepare_stop(loop, &ready_w);
	char msg[1024];
	memcpy(msg, "STOPPING=1\n", 11);
	status_line(msg + 11, sizeof msg - 11);
	send_state(msg);
}

void systemd_stop(void)
{
	if (loop) {
		ev_prepare_stop(loop, &ready_w);
		ev_timer_stop(loop, &status_w);
		ev_timer_stop(loop, &watchdog_w);
		ev_timer_stop(loop, &retry_w);
	}
	sd_notify_close();
}
