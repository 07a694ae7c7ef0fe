/* The FastCGI front end: gatewayd as a responder behind Apache mod_proxy_fcgi,
 * nginx fastcgi_pass or cgi-fcgi. One connection carries one or many requests
 * (FCGI_KEEP_CONN, multiplexing), each fed to the same router and handlers as
 * an HTTP request. */
#ifndef GW_FCGI_CONN_H
#define GW_FCGI_CONN_H

#include "gatewayd/core/config.h"

/* Take ownership of an accepted, non-blocking, close-on-exec socket. */
void fcgi_conn_start(int fd, const struct listen_cfg *lc);

#endif
