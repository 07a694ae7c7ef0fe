/* A CGI-style response as a stream of bytes (a script's stdout, FastCGI
 * STDOUT): the header block parsed, then the body passed on, with local
 * redirects and NPH handled the same for every handler. */
#ifndef GW_CGI_OUTPUT_H
#define GW_CGI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "gatewayd/core/buf.h"

struct request;

enum cgi_output_result {
	CGI_OUT_MORE, /* taken; feed more */
	CGI_OUT_REDIRECT, /* a local redirect: *location (malloc'd) to re-dispatch */
	CGI_OUT_BAD, /* malformed or oversized header block (logged): answer 502 */
};

struct cgi_output {
	struct buf head; /* the header block as it arrives */
	bool head_done;
	bool nph; /* pass everything through raw */
	const char *who; /* for log lines: the script or the worker */
	int status; /* > 0: an HTTP status line came first (cgi_output_set_status) */
	char reason[64];
};

/* The output is an HTTP response whose status line was read: the header block
 * that follows is its fields, the status standing as a Status field would. */
void cgi_output_set_status(struct cgi_output *o, int status, const char *reason, size_t len);

/* Feed n bytes of output for r. */
enum cgi_output_result cgi_output_feed(struct cgi_output *o, struct request *r, const char *p,
                                       size_t n, char **location);
/* The output ended before its header block did: log why (the caller answers 502). */
void cgi_output_log_incomplete(const struct cgi_output *o, const char *rid);
void cgi_output_free(struct cgi_output *o);

#endif
