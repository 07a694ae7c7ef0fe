/* What gatewayd tells systemd about itself, and when (sd_notify.c carries it):
 *
 *   READY=1      once the listeners are open and the pools are up (pools_up()),
 *                at start and again after each reload;
 *   STATUS=...   with READY=1, then every few seconds: connections, CGI scripts
 *                running, busy and idle workers per pool, requests per second;
 *   RELOADING=1  with MONOTONIC_USEC= when SIGHUP arrives (what systemd's
 *                Type=notify-reload expects; older systemd shows "reloading");
 *   STOPPING=1   when SIGTERM or SIGINT arrives;
 *   WATCHDOG=1   every half $WATCHDOG_USEC, from a timer of the event loop, so
 *                a loop that stops turning stops the pings and systemd acts.
 *
 * Without $NOTIFY_SOCKET every call here does nothing. */
#ifndef GW_SYSTEMD_H
#define GW_SYSTEMD_H

#include <ev.h>
#include <stddef.h>

/* Take $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID out of the
 * environment (scripts and workers never see them). -1 with the reason in
 * err when one is malformed. */
int systemd_init(char *err, size_t errlen);
/* The daemon listens: start the timers; READY=1 follows once the pools are up. */
void systemd_start(struct ev_loop *loop);
/* SIGHUP: RELOADING=1 now, READY=1 once the running config (new or, when
 * the reload failed, the old) is up, at most 30 s later. */
void systemd_reloading(void);
void systemd_stopping(void);
/* Stop the timers and close the socket (at exit). */
void systemd_stop(void);

#endif
