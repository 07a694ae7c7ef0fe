#include "gatewayd/request/cgi_output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/core/log.h"
#include "gatewayd/request/request.h"

#define CGI_MAX_HEAD (64 * 1024)
#define CGI_MAX_HEADERS 100

/* An NPH script's status line is read this far, for the access log. */
#define NPH_STATUS_LINE_MAX 32

/* "HTTP/x.y NNN ...": NNN, else 200. Reads p[0..n) only. */
static int nph_status(const char *p, size_t n)
{
	const char *sp = n >= 5 && memcmp(p, "HTTP/", 5) == 0 ? memchr(p, ' ', n) : NULL;
	int status = 0;
	if (!sp || (size_t)(sp - p) + 4 > n)
		return 200;
	for (int i = 1; i <= 3; i++) {
		if (sp[i] < '0' || sp[i] > '9')
			return 200;
		status = status * 10 + (sp[i] - '0');
	}
	return status >= 100 ? status : 200;
}

/* NPH: the bytes go to the client as they come. The status line may come in
 * pieces (a pipe read ends anywhere): its start is kept in o->head until it
 * holds a line end or NPH_STATUS_LINE_MAX bytes, the status read again each time. */
static void nph_feed(struct cgi_output *o, struct request *r, const char *p, size_t n)
{
	size_t have = buf_len(&o->head);
	if (have < NPH_STATUS_LINE_MAX && (have == 0 || !memchr(buf_head(&o->head), '\n', have))) {
		size_t take = n < NPH_STATUS_LINE_MAX - have ? n : NPH_STATUS_LINE_MAX - have;
		if (buf_append(&o->head, p, take) == 0)
			r->status = nph_status(buf_head(&o->head), buf_len(&o->head));
	}
	o->head_done = true;
	r->front->send_raw(r, p, n);
}

/* reason[0..len), cut to fit, as a string (no printf: once per answer). */
static void copy_reason(char *dst, size_t cap, const char *reason, size_t len)
{
	if (len > cap - 1)
		len = cap - 1;
	const char *nul = len ? memchr(reason, '\0', len) : NULL;
	if (nul)
		len = (size_t)(nul - reason);
	if (len)
		memcpy(dst, reason, len);
	dst[len] = '\0';
}

static enum cgi_output_result send_head(struct cgi_output *o, struct request *r, size_t head_len,
                                        const struct cgi_response *resp, char **location)
{
	if (resp->local_redirect) {
		/* RFC 3875 §6.2.2: the server answers as if the client asked for it. */
		*location = strndup(resp->location.p, resp->location.len);
		return CGI_OUT_REDIRECT;
	}
	char reason[128];
	copy_reason(reason, sizeof reason, resp->reason.p, resp->reason.len);
	struct response_head h = {
		.status = resp->status,
		.reason = reason[0] ? reason : NULL,
		.headers = resp->headers,
		.num_headers = resp->num_headers,
		.content_length = -1,
	};
	r->front->send_head(r, &h);
	if (buf_len(&o->head) > head_len)
		r->front->send_body(r, buf_head(&o->head) + head_len, buf_len(&o->head) - head_len);
	buf_free(&o->head);
	return CGI_OUT_MORE;
}

enum cgi_output_result cgi_output_feed(struct cgi_output *o, struct request *r, const char *p,
                                       size_t n, char **location)
{
	if (o->nph) {
		nph_feed(o, r, p, n);
		return CGI_OUT_MORE;
	}
	if (o->head_done) {
		r->front->send_body(r, p, n);
		return CGI_OUT_MORE;
	}
	if (buf_append(&o->head, p, n) < 0)
		return CGI_OUT_BAD;
	struct http1_header headers[CGI_MAX_HEADERS];
	struct cgi_response resp;
	struct http1_str reason = { o->reason, strlen(o->reason) };
	ssize_t used = o->status ? cgi_response_parse_fields(buf_head(&o->head), buf_len(&o->head),
	                                                     o->status, reason, &resp, headers,
	                                                     CGI_MAX_HEADERS)
	                         : cgi_response_parse(buf_head(&o->head), buf_len(&o->head), &resp,
	                                              headers, CGI_MAX_HEADERS);
	if (used == CGI_INCOMPLETE) {
		if (buf_len(&o->head) <= CGI_MAX_HEAD)
			return CGI_OUT_MORE;
		log_error(r->id, "%s: header block over %d bytes", o->who, CGI_MAX_HEAD);
		return CGI_OUT_BAD;
	}
	if (used < 0) {
		log_error(r->id, "%s printed a malformed header: %s", o->who,
		          resp.error_reason ? resp.error_reason : "unparsable");
		return CGI_OUT_BAD;
	}
	o->head_done = true;
	return send_head(o, r, (size_t)used, &resp, location);
}

void cgi_output_set_status(struct cgi_output *o, int status, const char *reason, size_t len)
{
	o->status = status;
	copy_reason(o->reason, sizeof o->reason, reason, len);
}

void cgi_output_log_incomplete(const struct cgi_output *o, const char *rid)
{
	size_t n = buf_len(&o->head);
	if (n == 0)
		log_error(rid, "%s produced no output", o->who);
	else
		log_error(rid, "%s ended inside its header block: %.*s", o->who,
		          (int)(n > 200 ? 200 : n), buf_head(&o->head));
}

void cgi_output_free(struct cgi_output *o)
{
	buf_free(&o->head);
}
