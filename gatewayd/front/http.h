/* The HTTP/1.1 front end: one connection, many requests in sequence
 * (keep-alive, pipelining), bodies streamed both ways with backpressure. */
#ifndef GW_HTTP_CONN_H
#define GW_HTTP_CONN_H

#include <stdbool.h>
#include <sys/socket.h>

/* Take ownership of an accepted, non-blocking, close-on-exec socket. */
void http_conn_start(int fd, const struct sockaddr *peer, const struct sockaddr *local,
                     bool proxy_protocol);

#endif
