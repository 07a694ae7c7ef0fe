/* HTTP/1.1 request codec (RFC 9112), pure: no I/O, no allocation while decoding.
 *
 * The parser is a function of the bytes received so far, in the manner of
 * picohttpparser: call it again with the whole buffer when more bytes arrive.
 * Every string it returns is a view into the caller's buffer. */
#ifndef GW_PROTOCOLS_HTTP1_H
#define GW_PROTOCOLS_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define HTTP1_ERROR (-1)
#define HTTP1_INCOMPLETE (-2)

struct http1_str {
	const char *p;
	size_t len;
};

struct http1_header {
	struct http1_str name;
	struct http1_str value; /* optional whitespace around it removed */
};

enum http1_body_kind {
	HTTP1_BODY_NONE, /* no Content-Length, no Transfer-Encoding */
	HTTP1_BODY_LENGTH, /* Content-Length: content_length bytes follow */
	HTTP1_BODY_CHUNKED, /* Transfer-Encoding: chunked (last coding) */
};

struct http1_limits {
	size_t max_request_line; /* bytes, CRLF excluded; over it: 414 */
	size_t max_head; /* request line + headers + blank line; over it: 431 */
	size_t max_headers; /* count; over it: 431 */
};

struct http1_request {
	struct http1_str method;
	struct http1_str target; /* request-target as sent */
	/* origin-form: target up to '?' or '#'; absolute-form: the path after the
	 * authority ("/" when empty: a static string, not a view into buf);
	 * authority-form (CONNECT) and asterisk-form (OPTIONS *): the whole target */
	struct http1_str path;
	struct http1_str query; /* after '?' up to '#', p == NULL when no '?' */
	int minor_version; /* HTTP/1.<minor>; 0 or 1 */

	struct http1_header *headers; /* caller's array, max_headers long */
	size_t num_headers;

	/* framing derived from the headers */
	enum http1_body_kind body_kind;
	uint64_t content_length;
	bool keep_alive; /* after this request: 1.1 unless "close", 1.0 only with
	                         "keep-alive" (Connection tokens, any case) */
	bool expect_continue; /* Expect: 100-continue (any case); never for HTTP/1.0 */
	/* Host header value, p == NULL if absent; for an absolute-form target its
	 * authority instead (RFC 9112 §3.2.2) */
	struct http1_str host;

	/* when the parser returns HTTP1_ERROR */
	int error_status; /* 400, 414, 431, 501 (unknown transfer coding), 505 */
	const char *error_reason; /* static text for the log, e.g. "missing Host field" */
};

/* Parse a request head at buf[0..len). lim is required; headers has
 * lim->max_headers entries.
 *
 * Returns the number of bytes of the head (request line, headers, blank line)
 * when it is complete, HTTP1_INCOMPLETE when more bytes are needed (and no limit
 * is exceeded yet), HTTP1_ERROR with req->error_status and req->error_reason set.
 * Only buf[0..max_head) is ever read. A prefix of some input gives either
 * HTTP1_INCOMPLETE or the same answer as the whole input. Limits (414, 431) and
 * the request line are checked as soon as the bytes are there; field lines once
 * the head is complete.
 * Leading empty lines (CRLF) before the request line are skipped (RFC 9112 §2.2);
 * they count towards max_head and the returned length.
 * Every line ends in CRLF: a bare LF (which RFC 9112 §2.2 lets a recipient accept,
 * and which a proxy in front may read differently) or a bare CR anywhere is 400.
 * Rejected (400): Content-Length with Transfer-Encoding, a Content-Length that is
 * not all digits, is over 2^63-1 or differs between repeats ("5, 5" is one
 * value, RFC 9110 §8.6), Transfer-Encoding in HTTP/1.0, a Transfer-Encoding
 * whose last coding is not chunked or that applies chunked twice, obs-fold,
 * whitespace between a field name and its colon, control characters, a target
 * that is not origin-form, absolute-form (http or https, no userinfo),
 * authority-form for CONNECT only or '*' for OPTIONS only, an HTTP/1.1 request
 * without Host, more than one Host, a Host that is not host[:port], two
 * different Content-Type fields. 501: a transfer coding other than chunked
 * (no gzip, no identity). A well-formed version other than 1.0 and 1.1: 505. */
ssize_t http1_parse_request(const char *buf, size_t len, struct http1_request *req,
                            struct http1_header *headers, const struct http1_limits *lim);

/* Case-insensitive lookup of the first header called name; NULL if none. */
const struct http1_header *http1_find_header(const struct http1_request *req, const char *name);
/* Does buf look like the start of an HTTP request? True when it starts with
 * GET, POST, HEAD, PUT, DELETE, OPTIONS, PATCH, CONNECT, TRACE or PRI
 * (case-sensitive) and a space: up to 8 bytes are needed. For a clear log line
 * when someone points HTTP at a FastCGI or uwsgi port. */
bool http1_looks_like_request(const uint8_t *buf, size_t len);
/* Is s the token lit, ignoring ASCII case (a field name, say)? */
bool http1_str_ieq(struct http1_str s, const char *lit);

/* Chunked transfer coding decoder (RFC 9112 §7.1), resumable at any byte. */
struct http1_chunked {
	int state; /* private */
	uint64_t remaining; /* private: bytes left in the current chunk */
	size_t line_bytes; /* private: bytes of the current chunk-size line */
	size_t trailer_bytes; /* private: total trailer bytes seen */
	size_t max_trailer; /* set by the caller before the first call; 0 means 8192 */
	bool done; /* set once the last chunk and the trailer section are consumed */
};

/* Decode from buf[0..len). Returns the number of bytes consumed (0..len), or
 * HTTP1_ERROR on a malformed chunk size (not hex, over 2^63-1, whitespace not
 * followed by ';'), a size line over 4096 bytes, missing CRLF after data, a
 * malformed trailer field or a trailer section over max_trailer. Every line
 * (size lines, the line end after data, trailer lines and the final empty line)
 * must end in CRLF: a bare LF there is an error, as in the head. When the
 * consumed bytes held body data, *data and *data_len give one contiguous span of
 * it (a view into buf), and the call returns right after it; otherwise *data_len
 * is 0. Every byte is consumed until done, so no input need be kept back. Call
 * again with the rest while the return is > 0 and !done. Chunk extensions are
 * skipped; trailers are checked for syntax only and discarded. */
ssize_t http1_chunked_decode(struct http1_chunked *d, const char *buf, size_t len,
                             const char **data, size_t *data_len);

/* Reason phrase for a status code ("OK", "Not Found", ...); "Unknown" if none. */
const char *http1_reason(int status);

/* The status line of a response ("HTTP/1.1 200 OK" CRLF or LF) at buf[0..len),
 * looking at most max bytes for its end. Returns the line's length with its
 * line end, HTTP1_INCOMPLETE (no LF yet within max), or HTTP1_ERROR (not
 * HTTP-version SP 3DIGIT [SP reason], a status under 100, a control byte in the
 * reason, or no LF within max). *status and *reason (a view, may be empty) are
 * set on success. */
ssize_t http1_parse_status_line(const char *buf, size_t len, size_t max, int *status,
                                struct http1_str *reason);

/* Is the field called name one that belongs to this connection only (RFC 9110
 * §7.6.1): Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding,
 * Upgrade, or one that a Connection field among fields[0..n) names? A proxy or
 * gateway never forwards these. */
bool http1_is_hop_by_hop(struct http1_str name, const struct http1_header *fields, size_t n);

/* Write "<hex>\r\n" (lower-case hex, NUL-terminated) for a chunk of n bytes into
 * out (at least 20 bytes); returns its length without the NUL. */
size_t http1_chunk_header(char *out, size_t n);
/* v in decimal (a Content-Length, a port) into out (at least 20 bytes, no NUL
 * written); returns the number of digits. No printf: heads and CGI variables
 * are written for every request. */
size_t http1_decimal(char *out, unsigned long long v);

/* Format an IMF-fixdate (RFC 9110 §5.6.7) into out (at least 30 bytes), NUL-terminated. */
void http1_format_date(char *out, time_t t);
/* Parse an IMF-fixdate (also RFC 850 and asctime forms), exactly len bytes, no
 * surrounding whitespace; -1 if malformed. RFC 850's two-digit year is read as
 * RFC 9110 §5.6.7 says, relative to the current year. */
time_t http1_parse_date(const char *s, size_t len);

/* Is c a tchar (RFC 9110 §5.6.2)? */
bool http1_is_tchar(unsigned char c);

#endif
