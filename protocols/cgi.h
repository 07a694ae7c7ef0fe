/* CGI/1.1 (RFC 3875): the meta-variables of a request and the response header
 * block a script prints. Pure: no I/O. The request side owns its strings;
 * the response parser returns views into the caller's buffer and never allocates. */
#ifndef GW_PROTOCOLS_CGI_H
#define GW_PROTOCOLS_CGI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "http1.h"

/* ---- meta-variables ---------------------------------------------------- */

/* An ordered set of NAME=value strings, each stored as one "NAME=value" string,
 * so that cgi_env_envp() is the execve() environment as it is. The strings
 * live in blocks the env owns (a request's 30-odd vars cost a malloc or two,
 * not one each); a var replaced or unset keeps its bytes there until
 * cgi_env_free(). */
struct cgi_env_block;
struct cgi_env {
	char **vars; /* "NAME=value", NULL-terminated (vars[count] == NULL) */
	size_t count;
	size_t cap;
	size_t bytes; /* sum of strlen of every var: for limits */
	struct cgi_env_block *blocks; /* the newest first */
};

void cgi_env_init(struct cgi_env *env);
void cgi_env_free(struct cgi_env *env);
/* Set name to value (value_len bytes, may hold no NUL), replacing an existing one
 * in place (the order is kept). A zeroed struct is an initialised one.
 * 0 on success, -1 on allocation failure, an empty name or one holding '=', or
 * a value holding a NUL. */
int cgi_env_setn(struct cgi_env *env, const char *name, const char *value, size_t value_len);
int cgi_env_set(struct cgi_env *env, const char *name, const char *value);

/* The one way in for a variable a web server sends (FastCGI params, uwsgi vars):
 * bytes as they came, no NUL terminator needed. Refuses an empty name, a name
 * holding '=' or NUL and a value holding NUL (the front end answers 400); drops
 * HTTP_PROXY (httpoxy: a client's Proxy header, as nginx and Apache pass it) and
 * UWSGI_* (uWSGI's per-request switches); sets anything else. */
enum cgi_var_verdict {
	CGI_VAR_SET,
	CGI_VAR_DROPPED,
	CGI_VAR_BAD_NAME,
	CGI_VAR_BAD_VALUE,
	CGI_VAR_NO_MEMORY,
};
enum cgi_var_verdict cgi_env_add_from_server(struct cgi_env *env, const void *name, size_t name_len,
                                             const void *value, size_t value_len);
/* A few words for a log line. */
const char *cgi_var_verdict_text(enum cgi_var_verdict v);
void cgi_env_unset(struct cgi_env *env, const char *name);
/* The value of name (NUL-terminated, owned by env) or NULL. */
const char *cgi_env_get(const struct cgi_env *env, const char *name);
/* The environment for execve(): env->vars, or an array of one NULL when empty. */
char *const *cgi_env_envp(const struct cgi_env *env);

/* What the HTTP front end knows of a request, for cgi_env_from_http(). */
struct cgi_http_input {
	const struct http1_request *req; /* parsed head */
	const char *remote_addr; /* numeric, no brackets */
	unsigned remote_port;
	const char *server_addr; /* the local address the request came in on */
	unsigned server_port;
	const char *server_name; /* default SERVER_NAME when no Host header */
	const char *server_software; /* e.g. "gatewayd/0.1.0" */
	const char *request_id; /* GATEWAY_REQUEST_ID */
	bool https;
	bool pass_authorization; /* route allows HTTP_AUTHORIZATION */
	const char *auth_user; /* REMOTE_USER and AUTH_TYPE only if non-NULL */
	const char *auth_type;
	long long content_length; /* -1: unknown yet (set later for chunked bodies) */
};

/* Build the request's meta-variables (RFC 3875 §4.1) into env (initialised;
 * a variable already there is replaced):
 * GATEWAY_INTERFACE, SERVER_PROTOCOL, SERVER_SOFTWARE ("gatewayd" if NULL),
 * SERVER_NAME (Host without port, IPv6 brackets kept, else server_name, else
 * server_addr), SERVER_PORT (the listener's),
 * SERVER_ADDR, REMOTE_ADDR, REMOTE_HOST (= REMOTE_ADDR), REMOTE_PORT, REQUEST_METHOD,
 * REQUEST_URI (the target as sent), QUERY_STRING (always, "" if none),
 * CONTENT_LENGTH and CONTENT_TYPE (only when present), HTTPS=on, GATEWAY_REQUEST_ID,
 * and HTTP_* for the other headers (§4.1.18): name upper-cased, '-' to '_';
 * repeats joined with ", " (Cookie with "; "); a name holding anything but
 * letters, digits and '-' dropped ('_' or '.' would alias '-'); Proxy never passed
 * (httpoxy); Authorization and Proxy-Authorization only when pass_authorization;
 * Content-Length, Content-Type, and the hop-by-hop fields (Connection and its
 * nominees, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade) not passed as HTTP_*. The script-dependent variables (SCRIPT_NAME,
 * PATH_INFO, SCRIPT_FILENAME, PATH_TRANSLATED, DOCUMENT_ROOT) are set by the handler.
 * Returns 0, or -1 on allocation failure. */
int cgi_env_from_http(struct cgi_env *env, const struct cgi_http_input *in);

/* Percent-decode src[0..len) into dst (at least len+1 bytes; may be src),
 * NUL-terminated. '+' stays '+' (that is form decoding, not URL decoding).
 * Returns the decoded length, or -1 on a malformed or truncated escape or a NUL. */
ssize_t cgi_url_decode(char *dst, const char *src, size_t len);

/* ISINDEX (RFC 3875 §4.4; the caller checks the method is GET or HEAD): if query
 * holds no unencoded '=', split it at '+' and url-decode each word into argv
 * (after a copy of argv0, NULL-terminated). Empty words ("a++b") are kept, as
 * Apache does. Returns the number of words, 0 when the query is not an ISINDEX
 * query (or empty), -1 on a malformed escape, more than max_args words or
 * allocation failure: a list that cannot be built whole is not built (§4.4).
 * *argv_out is set only when the return is > 0, else NULL. The strings are
 * allocated; free with cgi_argv_free() (NULL is fine). */
int cgi_isindex_argv(const char *query, size_t len, const char *argv0, char ***argv_out,
                     int max_args);
void cgi_argv_free(char **argv);

/* ---- response ---------------------------------------------------------- */

#define CGI_ERROR (-1)
#define CGI_INCOMPLETE (-2)

struct cgi_response {
	int status; /* from Status:, else 302 for a Location not
	                             * starting with '/', else 200 */
	struct http1_str reason; /* from Status: after the code; {NULL, 0} if none */
	struct http1_str location; /* p == NULL if none */
	bool local_redirect; /* Location is a local path ("/...") and no Status */
	bool has_content_type;
	struct http1_header *headers; /* caller's array: every field but Status, in order */
	size_t num_headers;
	const char *error_reason; /* static text when CGI_ERROR */
};

/* Parse the header block a script printed, at buf[0..len).
 * Lines end in LF or CRLF; the block ends at an empty line. Returns the bytes of
 * the block (the body starts there), CGI_INCOMPLETE, or CGI_ERROR with
 * error_reason set: a line with no colon, a field name that is not a token or
 * has whitespace before the colon, a control character, a Status that is not
 * three digits in 100..599 (optionally followed by whitespace and a reason),
 * Status, Location or Content-Type given twice (§6.3), more than max_headers
 * fields, or a block with neither Content-Type, Location nor Status (§6.2).
 * A field with an empty value counts as not sent (§6.3). Errors in complete
 * lines are reported before the block is whole. Linear in len. */
ssize_t cgi_response_parse(const char *buf, size_t len, struct cgi_response *resp,
                           struct http1_header *headers, size_t max_headers);
/* The same for the fields of an HTTP response whose status line was read
 * already (a uwsgi worker answers with one): status and reason stand as a
 * Status field would, so a Status field among the fields is a duplicate. */
ssize_t cgi_response_parse_fields(const char *buf, size_t len, int status, struct http1_str reason,
                                  struct cgi_response *resp, struct http1_header *headers,
                                  size_t max_headers);

#endif
