/* One upstream engine for every pool protocol (DESIGN.md; STYLE.md 4-5): it
 * picks an idle worker, keeps connections alive, streams bodies both ways
 * with backpressure, queues when every worker is busy, retries on another
 * worker only when nothing was sent, and times requests out. A protocol
 * (FastCGI, uwsgi) is a small table of codec hooks. */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "gatewayd/buf.h"
#include "gatewayd/config.h"

struct upstream_job;
struct request;

struct upstream_event {
	enum {
		UPSTREAM_NONE,
		UPSTREAM_STATUS, /* an HTTP status line: status, reason in data/len */
		UPSTREAM_OUTPUT, /* CGI-style output (header block, then body) */
		UPSTREAM_STDERR,
		UPSTREAM_END,    /* app_status */
	} type;
	const char *data;
	size_t len;
	int status;
	int app_status;
};

struct upstream_proto {
	const char *name;
	/* The response ends when the worker closes the connection (uwsgi); the
	 * connection is then never kept for another request. */
	bool ends_at_close;
	/* The request's meta-variables, framed, into out. 0, or -1 (too large: 431). */
	int (*encode_head)(struct upstream_job *j, struct buf *out);
	/* Body bytes framed into out; n == 0 ends the body. */
	void (*encode_body)(struct upstream_job *j, struct buf *out, const char *p, size_t n);
	/* One unit of the response at p[0..n): its size, 0 when incomplete, -1 on
	 * a protocol error; *ev says what it held (views into p). */
	ssize_t (*decode)(struct upstream_job *j, const char *p, size_t n, struct upstream_event *ev);
};

extern const struct upstream_proto upstream_fastcgi;
extern const struct upstream_proto upstream_uwsgi;

/* The request a job carries (NULL once let go): what a protocol encodes. */
struct request *upstream_job_request(struct upstream_job *j);
/* May the connection stay open for the worker's next request? */
bool upstream_job_keeps_connection(struct upstream_job *j);
/* A word of per-job state for the protocol's decoder, 0 at each request. */
int *upstream_job_proto_state(struct upstream_job *j);

/* Start every pool of cfg. -1 with a logged reason. */
int pools_start(struct config *cfg);
/* SIGHUP: pools of cfg whose worker settings did not change keep their
 * workers; the others start; pools no longer wanted drain. */
int pools_reload(struct config *cfg);
/* Shutdown: stop idle workers now, busy ones after their request. */
void pools_drain(void);
/* Shutdown deadline: kill every worker. */
void pools_kill(void);
/* Workers still alive, across pools. */
size_t pools_alive(void);
/* Free drained pools. */
void pools_free(void);

/* The status of every pool as JSON text (malloc'd), or Prometheus text. */
char *pools_status_json(void);
char *pools_status_prometheus(void);

#endif
