/* The uwsgi front end: gatewayd behind nginx uwsgi_pass. One request per
 * connection (the uwsgi way): a packet of CGI variables, the body, and an HTTP
 * response ended by closing the connection. */
#ifndef GW_UWSGI_CONN_H
#define GW_UWSGI_CONN_H

#include "gatewayd/core/config.h"

void uwsgi_conn_start(int fd, const struct listen_cfg *lc);

#endif
