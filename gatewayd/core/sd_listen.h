/* Listening sockets handed over by the service manager (socket activation,
 * sd_listen_fds(3), without libsystemd): $LISTEN_FDS of them from fd 3 on,
 * meant for this process when $LISTEN_PID is its pid, named by
 * $LISTEN_FDNAMES. Each must be a listening stream socket, TCP or unix.
 *
 * The config stays the one truth about where gatewayd serves: an inherited
 * socket is served by the listen entry whose address is the socket's own
 * (getsockname(): the same IP and port, or the same unix path); names are
 * only for log lines. gatewayd never binds such an address again, never
 * chowns, chmods or unlinks such a socket file, and keeps the socket across
 * reloads, as the service manager keeps it across restarts.
 *
 * An inherited socket that no listen entry serves is an error (gatewayd does
 * not start; a reload is refused) rather than closed: the service manager
 * keeps its own copy listening, so clients would queue there unanswered,
 * while an error names the mismatch in `systemctl status`. */
#ifndef GW_SD_LISTEN_H
#define GW_SD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "gatewayd/core/config.h"

/* Take the inherited sockets (close-on-exec and non-blocking from now on) and
 * remove LISTEN_* from the environment. -1 with the reason in err when one
 * is not a listening stream socket or the variables are malformed. */
int sd_listen_take(char *err, size_t errlen);
/* The inherited socket bound to l's address, or -1. */
int sd_listen_find(const struct listen_cfg *l);
/* Is fd an inherited socket? */
bool sd_listen_owns(int fd);
/* Its name from LISTEN_FDNAMES ("" when unnamed), or NULL if not inherited. */
const char *sd_listen_name(int fd);
/* Does every inherited socket have a listen entry in cfg? 0, or -1 with
 * the first one left over named in err. */
int sd_listen_check(const struct config *cfg, char *err, size_t errlen);
/* How many sockets were inherited. */
size_t sd_listen_count(void);
/* Close the inherited sockets (at exit). */
void sd_listen_close(void);

#endif
