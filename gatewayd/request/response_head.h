/* The one writer of a response head, for every front end: the status line (or
 * CGI's Status field), the application's fields less the hop-by-hop ones (RFC
 * 9110 §7.6.1, http1_is_hop_by_hop) and less Content-Length, then what the
 * front end's framing adds. */
#ifndef GW_RESPONSE_HEAD_H
#define GW_RESPONSE_HEAD_H

#include <stdbool.h>

#include "gatewayd/core/buf.h"

struct request;
struct response_head;

struct head_framing {
	const char *status_prefix; /* "HTTP/1.1 " (a client; a uwsgi web server) or "Status: " */
	bool to_client; /* add Date and Server when the application did not */
	long long content_length; /* -1: none (chunked, or the close ends the body) */
	bool chunked; /* Transfer-Encoding: chunked */
	bool close; /* Connection: close */
	bool keep_alive; /* Connection: keep-alive (an HTTP/1.0 client) */
};

/* The body length the application gave: h->content_length, else a valid
 * Content-Length field among its fields; -1 when neither. */
long long response_content_length(const struct response_head *h);

/* Write r's response head into o as f frames it, with Server-Timing; marks the
 * head sent and records the status for the access log. */
void response_put_head(struct request *r, const struct response_head *h,
                       const struct head_framing *f, struct buf *o);

#endif
