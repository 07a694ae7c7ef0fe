/* The internal request: CGI meta-variables plus a body stream, the one shape
 * every front end produces and every handler consumes (DESIGN.md, "The flow").
 *
 * Ownership: the front end allocates and frees a request. The handler owns
 * handler_ctx and ends every request exactly once with front->send_end() (or
 * request_error()); after that call it must not touch the request, which the
 * front end may free at any later moment. front->abort goes the other way: the
 * front end tells the handler to let go (client gone, timeout) and the handler
 * never calls the front end again for it. */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gatewayd/core/buf.h"
#include "gatewayd/core/config.h"
#include "protocols/cgi.h"

/* Above this many bytes queued, a producer pauses (request body or response). */
#define REQUEST_HIGH_WATER (256 * 1024)
#define REQUEST_LOW_WATER (64 * 1024)
/* A request id: ours, or a trusted balancer's X-Request-Id (core/trust.h: 64 at most). */
#define REQUEST_ID_LEN 65

struct request;

struct response_head {
	int status;
	const char *reason; /* NULL: the standard phrase */
	const struct http1_header *headers; /* views; Status and hop-by-hop fields excluded */
	size_t num_headers;
	long long content_length; /* -1: unknown (the front end frames it) */
};

struct front_ops {
	void (*send_head)(struct request *r, const struct response_head *h);
	void (*send_body)(struct request *r, const char *p, size_t n);
	/* NPH: bytes go to the client as they are; the connection closes after. */
	void (*send_raw)(struct request *r, const char *p, size_t n);
	/* complete false: the response was cut short; the client must see it fail. */
	void (*send_end)(struct request *r, bool complete);
	/* A line the script wrote to stderr (already in the error log); NULL: the
	 * front end has nowhere else to put it. */
	void (*send_stderr)(struct request *r, const char *p, size_t n);
	/* Response bytes queued and not yet written. */
	size_t (*backlog)(struct request *r);
	/* The handler took body bytes: the front end may read more from its peer. */
	void (*body_more)(struct request *r);
};

struct handler_ops {
	const char *name;
	void (*start)(struct request *r);
	/* Body bytes arrived in r->body, or r->body_complete became true. */
	void (*body)(struct request *r);
	/* The front end's backlog fell below REQUEST_LOW_WATER. */
	void (*drained)(struct request *r);
	/* Let go of the request: free what belongs to it, stop any child. */
	void (*abort)(struct request *r);
};

/* Where a request's time goes, for the Server-Timing header (seconds, all
 * from ev_time(): ev_now() is per loop turn, and drifts from ev_time()). */
struct request_timing {
	ev_tstamp start; /* the request was complete enough to dispatch */
	ev_tstamp queued_at; /* > 0: waiting for a CGI slot or a pool worker since */
	double queue;
	double spawn; /* creating the process that runs it (CGI) */
	ev_tstamp app_at; /* > 0: handed to the application then */
};

struct request {
	char id[REQUEST_ID_LEN]; /* ours (16 hex digits) or a trusted balancer's X-Request-Id */
	struct config *cfg; /* the generation it was routed in (a reference) */
	struct cgi_env env;
	char *path; /* decoded, dot segments removed, no query */
	const char *query; /* points into env's QUERY_STRING value */
	const char *method; /* points into env's REQUEST_METHOD value */
	struct route_cfg *route;
	size_t route_prefix; /* bytes of path the route's match took (the mount) */
	/* The script a web server named (FastCGI SCRIPT_FILENAME), resolved; NULL
	 * when the script is found by walking path under the route's root. */
	char *script_filename;
	int app_status; /* the script's exit status, for FastCGI END_REQUEST */
	int redirects;

	long long content_length; /* -1: no body */
	struct buf body; /* body bytes the handler has not taken yet */
	bool body_complete;
	int spool_fd; /* >= 0: the body continues in this file */
	off_t spool_size;
	off_t spool_off;

	const struct front_ops *front;
	void *front_ctx;
	bool head_sent;
	int status; /* answered status, for the access log */
	bool no_access_log; /* a health probe: not in the access log */

	const struct handler_ops *handler;
	void *handler_ctx;

	ev_tstamp started;
	struct request_timing timing;
};

struct request *request_new(const struct front_ops *front, void *front_ctx);
/* The front end frees a request after send_end or after handler->abort. */
void request_free(struct request *r);

/* Match the route for r->path. Returns 0, or the status to answer (404). */
int request_route(struct request *r);
/* Start the routed handler. */
void request_start(struct request *r);
/* Route a request whose script file is known: to the first cgi route whose
 * root holds it. Returns 0, 404 (no such file) or 403 (outside every root). */
int request_route_script(struct request *r, const char *script_filename);
/* One variable a web server sent (a FastCGI param, a uwsgi var), through
 * cgi_env_add_from_server(): 0 when set or deliberately dropped, else the status
 * to answer (400 for a malformed name or value, 500 out of memory), logged with
 * the name. */
int request_add_server_var(struct request *r, const void *name, size_t name_len, const void *value,
                           size_t value_len);
/* For requests that arrive as CGI variables (FastCGI, uwsgi): fill the
 * defaults, drop empty CONTENT_* (nginx sends them), pick the script the web
 * server names (SCRIPT_FILENAME, Apache's proxy:fcgi:// form, DOCUMENT_ROOT +
 * SCRIPT_NAME) or route the URL path, and read CONTENT_LENGTH (-1: none).
 * Returns 0, or an HTTP status with *why for the log. */
int request_from_cgi_vars(struct request *r, long long *content_length, const char **why);
/* Route and start: what a front end calls once the head is in. */
void request_dispatch(struct request *r);

/* Is the client (REMOTE_ADDR) on a loopback address? */
bool request_from_loopback(struct request *r);
/* gatewayd's own paths (status, health) answer GET and HEAD, from loopback
 * clients only when loopback_only. false: r was answered (403, 405). */
bool request_self_allowed(struct request *r, bool loopback_only);
/* Answer status with the whole of text (type: its Content-Type), not to be
 * cached, and end the request: what gatewayd says about itself. */
void request_send_text(struct request *r, int status, const char *type, const char *text,
                       size_t len);

/* For the handlers that answer at once (status, health): a body is dropped;
 * nothing to do when drained or aborted. */
void request_body_drop(struct request *r);
void request_nothing(struct request *r);

/* Answer status with a short HTML page and end the request. extra: more header
 * lines ("Retry-After: 5\r\n"-free form: "Retry-After: 5"), or NULL. */
void request_error(struct request *r, int status, const char *extra_header);

/* The per-client request rate (core/client_limits.h) for r's REMOTE_ADDR:
 * false within it; true over it, the refusal logged with the address and
 * retry_after set to the header line to answer 429 with. A front end asks
 * before routing, so a refused request costs no script lookup. */
#define REQUEST_RETRY_AFTER_LEN 32
bool request_over_rate(struct request *r, char retry_after[REQUEST_RETRY_AFTER_LEN]);

/* Re-dispatch r as a GET of location (a local path with optional query), as
 * RFC 3875 §6.2.2 says: the body is dropped. Returns 0, or -1 when the
 * redirect cap is reached (the caller answers 500). */
int request_internal_redirect(struct request *r, const char *location);
/* A handler's local redirect (location malloc'd, taken; NULL: none could be
 * read): re-dispatched, or 500 past the cap. */
void request_follow_redirect(struct request *r, char *location);

/* Set r->path from a raw (percent-encoded) path: decoded, dot segments removed.
 * Returns 0, or 400 for a malformed escape, a NUL or a climb above the root. */
int request_set_path(struct request *r, const char *path, size_t len);

/* The body is complete in fd (size bytes, read from offset 0): hand it out from there. */
void request_use_spool(struct request *r, int fd, off_t size);
/* A spooled body from its start again, for a handler that sends it anew. */
void request_body_rewind(struct request *r);

/* A program's stderr, line by line: each whole line goes to the error log
 * with rid (the request may already be gone: r NULL) and to the front end's
 * send_stderr. line holds a line not yet ended; a line longer than 4 KiB is
 * logged in 4 KiB parts marked as such (log_source()), no byte lost, and
 * reaches send_stderr whole, its newline after its last part.
 * request_stderr_flush() emits what is left at the end. */
struct stderr_line {
	struct buf buf;
	unsigned parts; /* parts of the current line already logged */
};
void request_stderr_feed(struct request *r, const char *rid, const char *who,
                         struct stderr_line *line, const char *p, size_t n);
void request_stderr_flush(struct request *r, const char *rid, const char *who,
                          struct stderr_line *line);

/* An access log line for a request that came as CGI variables (FastCGI,
 * uwsgi): the request line is rebuilt from them. */
void request_log_access(struct request *r, unsigned long long bytes_sent);

/* The request waits for a CGI slot or a pool worker. */
void request_timing_queued(struct request *r);
/* The request goes to the application now. began: when its turn came (the
 * queue wait ends there); for CGI the time from then to now is the spawn. 0:
 * now, and no spawn (a pool's worker was already running). */
void request_timing_app(struct request *r, ev_tstamp began);
/* Append "Server-Timing: spawn;dur=…, queue;dur=…, app;dur=…, total;dur=…"
 * (milliseconds, up to now) and CRLF: every front end puts it on every
 * response head, so a browser shows where the time of one request went. */
void request_put_server_timing(const struct request *r, struct buf *o);

/* A front end's body bytes in c->in (up to *left of them) into r->body, up to
 * its high-water mark, then handler->body(): the handler never calls back into
 * this (it only asks for more, request_feed_later). Reading c stops while
 * r->body is full. -1 when r->body cannot grow (the caller aborts r). */
struct conn;
int request_feed(struct request *r, struct conn *c, uint64_t *left);

/* A front end's body_more over a connection c that carries one request's
 * body: read more from the peer when r->body has room, and come back to the
 * front end from the loop (conn_kick), never from inside the handler's call. */
void request_feed_later(struct request *r, struct conn *c);

/* The handler consumed n bytes from the front of r->body. */
void request_body_taken(struct request *r, size_t n);

/* root + r->path less the route's mount, into out. -1 when it does not fit. */
int request_map_path(const struct request *r, const char *root, char *out, size_t outlen);

extern const struct handler_ops handler_cgi;
extern const struct handler_ops handler_static;
extern const struct handler_ops handler_pool;
extern const struct handler_ops handler_status;
extern const struct handler_ops handler_health;

#define STATUS_PATH "/_gatewayd/status"
#define LIVE_PATH "/_gatewayd/live"
#define READY_PATH "/_gatewayd/ready"

/* CGI children still alive (also after their requests ended), for shutdown. */
size_t cgi_children_alive(void);
void cgi_kill_all(int sig);
/* A cgi route's children running and requests waiting for one, in the
 * generation the route belongs to. */
void cgi_route_load(const struct route_cfg *route, unsigned *running, unsigned *waiting);

#endif
