/* The uwsgi client side of the upstream engine: a request is one packet of
 * vars, then the body raw; the answer is an HTTP response (or CGI-style
 * Status:) ended by the worker closing the connection. */
#include <stdio.h>
#include <string.h>

#include "gatewayd/core/log.h"
#include "gatewayd/request/request.h"
#include "gatewayd/upstream/upstream.h"
#include "protocols/http1.h"
#include "protocols/uwsgi.h"

#define STATUS_LINE_MAX 8192

static int uwsgi_encode_head(struct upstream_job *j, struct buf *out)
{
	struct request *r = upstream_job_request(j);
	size_t cap = UWSGI_HEADER_LEN + UWSGI_MAX_VARS;
	uint8_t *dst = (uint8_t *)buf_reserve(out, cap);
	if (!dst)
		return 500;
	struct uwsgi_writer w;
	uwsgi_writer_init(&w, dst, cap);
	for (size_t i = 0; i < r->env.count; i++) {
		const char *kv = r->env.vars[i];
		const char *eq = strchr(kv, '=');
		uwsgi_writer_var(&w, kv, (size_t)(eq - kv), eq + 1, strlen(eq + 1));
	}
	ssize_t n = uwsgi_writer_finish(&w);
	if (n < 0) {
		/* A packet never carries a cut set of variables. */
		log_warn(r->id, "the request's variables pass the uwsgi packet's 64 KiB: 431");
		return 431;
	}
	buf_commit(out, (size_t)n);
	return 0;
}

static void uwsgi_reinit(struct upstream_job *j)
{
	upstream_job_proto(j)->uwsgi.first_line_read = false;
}

static void uwsgi_encode_body(struct upstream_job *j, struct buf *out, const char *p, size_t n)
{
	/* The body follows the packet raw; the worker reads CONTENT_LENGTH bytes. */
	buf_append(out, p, n);
}

/* The answer is an HTTP response (a status line, then fields as a CGI header
 * block) or, from some workers, a CGI-style answer with Status: (no status
 * line). The status line is passed on parsed, so the one CGI-style reader
 * serves every protocol. */
static ssize_t uwsgi_decode(struct upstream_job *j, const char *p, size_t n,
                            struct upstream_event *ev)
{
	bool *first_line_read = &upstream_job_proto(j)->uwsgi.first_line_read;
	if (!*first_line_read) {
		if (!memchr(p, '\n', n))
			return n > STATUS_LINE_MAX ? -1 : 0;
		*first_line_read = true;
		if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
			struct http1_str reason;
			ssize_t line = http1_parse_status_line(p, n, STATUS_LINE_MAX, &ev->status,
			                                       &reason);
			if (line < 0)
				return -1;
			ev->type = UPSTREAM_STATUS;
			ev->data = reason.p;
			ev->len = reason.len;
			return line;
		}
	}
	ev->type = UPSTREAM_OUTPUT;
	ev->data = p;
	ev->len = n;
	return (ssize_t)n;
}

/* A uwsgi request has no end of its own to send: the worker reads
 * CONTENT_LENGTH bytes. Closing is the only way to say it; the worker
 * notices when it writes. */
static enum upstream_abort uwsgi_abort(struct upstream_job *j, struct buf *out)
{
	return UPSTREAM_ABORT_CLOSE;
}

/* clang-format off */
const struct upstream_proto upstream_uwsgi = {
	.name = "uwsgi", .response_ends_at_close = true, .reinit = uwsgi_reinit,
	.encode_head = uwsgi_encode_head, .encode_body = uwsgi_encode_body, .decode = uwsgi_decode,
	.abort = uwsgi_abort
};
/* clang-format on */
