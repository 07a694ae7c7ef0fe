/* HTTP/1.1 request codec (RFC 9112): request head parser, chunked decoder,
 * and the small helpers a response writer needs. Pure: no I/O, no allocation,
 * no mutable global state. See http1.h for the contracts. */
#include "protocols/http1.h"

#include <string.h>

/* ---- character classes --------------------------------------------------- */

/* Bit c of tchar_map[c >> 5] is set when c is a tchar (RFC 9110 §5.6.2). */
static const uint32_t tchar_map[8] = {
	0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff,
	0x00000000, 0x00000000, 0x00000000, 0x00000000,
};

bool http1_is_tchar(unsigned char c)
{
	return (tchar_map[c >> 5] >> (c & 31)) & 1;
}

static bool is_tchar(char c)
{
	return http1_is_tchar((unsigned char)c);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* VCHAR or obs-text: a byte of a request-target, of a field value but its
 * whitespace, of a chunk extension. No CTL, SP or DEL. */
static bool is_visible(char c)
{
	unsigned char u = (unsigned char)c;
	return u > 0x20 && u != 0x7f;
}

/* unreserved / sub-delims (RFC 3986 §2): the bytes of a reg-name but '%'. */
static bool is_host_char(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return true;
	return c != '\0' && strchr("-._~!$&'()*+,;=", c) != NULL;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* Does s[0..len) equal the string lit, ignoring ASCII case? */
static bool ieq(const char *s, size_t len, const char *lit)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (lit[i] == '\0' || ascii_lower(s[i]) != ascii_lower(lit[i]))
			return false;
	return lit[i] == '\0';
}

bool http1_str_ieq(struct http1_str s, const char *lit)
{
	return ieq(s.p, s.len, lit);
}

static struct http1_str mkstr(const char *p, const char *end)
{
	return (struct http1_str){ .p = p, .len = (size_t)(end - p) };
}

/* ---- lists: 1#element (RFC 9110 §5.6.1) -------------------------------- */

/* Next element of a comma-separated list at *pos, OWS trimmed; empty elements
 * are skipped. False at the end of the list. */
static bool next_element(const char **pos, const char *end, struct http1_str *elem)
{
	const char *s = *pos;

	while (s < end && (is_ows(*s) || *s == ','))
		s++;
	*pos = s;
	if (s == end)
		return false;
	const char *start = s;
	while (s < end && *s != ',')
		s++;
	const char *last = s;
	while (last > start && is_ows(last[-1]))
		last--;
	*elem = mkstr(start, last);
	*pos = s;
	return true;
}

static bool list_has(struct http1_str value, const char *lit)
{
	const char *pos = value.p;
	struct http1_str elem;

	while (next_element(&pos, value.p + value.len, &elem))
		if (http1_str_ieq(elem, lit))
			return true;
	return false;
}

/* ---- the request head ------------------------------------------------------ */

/* What the header fields say, gathered while parsing them. */
struct head_state {
	struct http1_request *req;
	const struct http1_limits *lim;
	struct http1_str authority; /* of an absolute-form target */
	bool has_length;
	uint64_t length;
	unsigned te_fields;
	unsigned chunked_count;
	bool chunked_last;
	bool te_other;
	bool conn_close;
	bool conn_keep_alive;
	bool expect_100;
	unsigned host_fields;
	struct http1_str content_type;
};

static ssize_t fail(struct http1_request *req, int status, const char *reason)
{
	req->error_status = status;
	req->error_reason = reason;
	return HTTP1_ERROR;
}

/* The bytes ran out before the head did: too large, or wait for more. */
static ssize_t out_of_bytes(struct head_state *st, size_t len)
{
	if (len > st->lim->max_head)
		return fail(st->req, 431, "request head too large");
	return HTTP1_INCOMPLETE;
}

/* host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2), no userinfo. */
static bool valid_authority(const char *p, size_t len, bool need_host, bool need_port)
{
	const char *s = p, *end = p + len;

	if (s < end && *s == '[') {
		/* IP-literal: IPv6address / IPvFuture, checked loosely */
		for (s++; s < end && *s != ']'; s++)
			if (!is_host_char(*s) && *s != ':')
				return false;
		if (s == end || s == p + 1)
			return false;
		s++;
	} else {
		while (s < end && *s != ':') {
			if (*s == '%') {
				if (end - s < 3 || hex_value(s[1]) < 0 || hex_value(s[2]) < 0)
					return false;
				s += 3;
			} else if (is_host_char(*s)) {
				s++;
			} else {
				return false;
			}
		}
		if (need_host && s == p)
			return false;
	}
	if (s == end)
		return !need_port;
	if (*s++ != ':' || (need_port && s == end))
		return false;
	for (; s < end; s++)
		if (!is_digit(*s))
			return false;
	return true;
}

/* path and query of a target, from p (a path or '?' or '#' or the end). */
static void split_path_query(struct http1_request *req, const char *p, const char *end)
{
	const char *s = p;

	while (s < end && *s != '?' && *s != '#')
		s++;
	req->path = mkstr(p, s);
	if (s < end && *s == '?') {
		const char *q = ++s;
		while (s < end && *s != '#')
			s++;
		req->query = mkstr(q, s);
	}
}

/* absolute-form: "http://" or "https://" authority [path-abempty] ["?" query] */
static ssize_t parse_absolute_form(struct head_state *st, struct http1_str t)
{
	const char *s = t.p, *end = t.p + t.len;
	size_t scheme = 0;

	if (t.len > 7 && ieq(s, 7, "http://"))
		scheme = 7;
	else if (t.len > 8 && ieq(s, 8, "https://"))
		scheme = 8;
	if (!scheme)
		return fail(st->req, 400, "invalid request-target");
	const char *auth = s + scheme;
	for (s = auth; s < end && *s != '/' && *s != '?' && *s != '#'; s++)
		;
	if (!valid_authority(auth, (size_t)(s - auth), true, false))
		return fail(st->req, 400, "invalid authority in request-target");
	st->authority = mkstr(auth, s);
	split_path_query(st->req, s, end);
	if (st->req->path.len == 0)
		st->req->path = (struct http1_str){ .p = "/", .len = 1 };
	return 0;
}

/* Which of the four forms (RFC 9112 §3.2) the target has, and is it allowed. */
static ssize_t classify_target(struct head_state *st)
{
	struct http1_request *req = st->req;
	struct http1_str t = req->target;
	bool connect = req->method.len == 7 && memcmp(req->method.p, "CONNECT", 7) == 0;
	bool options = req->method.len == 7 && memcmp(req->method.p, "OPTIONS", 7) == 0;

	if (connect) {
		if (!valid_authority(t.p, t.len, true, true))
			return fail(req, 400, "CONNECT needs an authority-form target");
		req->path = t;
		return 0;
	}
	if (t.p[0] == '/') {
		split_path_query(req, t.p, t.p + t.len);
		return 0;
	}
	if (t.len == 1 && t.p[0] == '*') {
		if (!options)
			return fail(req, 400, "asterisk-form target outside OPTIONS");
		req->path = t;
		return 0;
	}
	return parse_absolute_form(st, t);
}

/* method SP request-target SP HTTP-version, at line[0..end) (CRLF excluded). */
static ssize_t parse_request_line(struct head_state *st, const char *s, const char *end)
{
	struct http1_request *req = st->req;
	const char *start = s;

	while (s < end && is_tchar(*s))
		s++;
	if (s < end && *s == '\r')
		return fail(req, 400, "bare CR");
	if (s == start || s == end || *s != ' ')
		return fail(req, 400, "invalid request method");
	req->method = mkstr(start, s);

	start = ++s;
	while (s < end && is_visible(*s))
		s++;
	if (s == start)
		return fail(req, 400, "missing request-target");
	if (s == end)
		return fail(req, 400, "missing HTTP version");
	if (*s == '\r')
		return fail(req, 400, "bare CR");
	if (*s != ' ')
		return fail(req, 400, "invalid character in request-target");
	req->target = mkstr(start, s);

	s++;
	if (end - s != 8 || memcmp(s, "HTTP/", 5) != 0 || !is_digit(s[5]) || s[6] != '.' ||
	    !is_digit(s[7]))
		return fail(req, 400, "malformed HTTP version");
	if (s[5] != '1' || s[7] > '1')
		return fail(req, 505, "HTTP version not supported");
	req->minor_version = s[7] - '0';
	return classify_target(st);
}

/* 1*DIGIT, or a list of identical values such as "5, 5" (RFC 9110 §8.6). */
static ssize_t note_content_length(struct head_state *st, struct http1_str v)
{
	const char *s = v.p, *end = v.p + v.len;

	for (;;) {
		const char *digits = s;
		uint64_t n = 0;

		for (; s < end && is_digit(*s); s++) {
			unsigned d = (unsigned)(*s - '0');
			if (n > ((uint64_t)INT64_MAX - d) / 10)
				return fail(st->req, 400, "Content-Length too large");
			n = n * 10 + d;
		}
		if (s == digits)
			return fail(st->req, 400, "malformed Content-Length");
		if (st->has_length && st->length != n)
			return fail(st->req, 400, "conflicting Content-Length values");
		st->has_length = true;
		st->length = n;
		while (s < end && is_ows(*s))
			s++;
		if (s == end)
			return 0;
		if (*s++ != ',')
			return fail(st->req, 400, "malformed Content-Length");
		while (s < end && is_ows(*s))
			s++;
	}
}

/* Each field line adds its codings to the list (RFC 9112 §6.1). A coding with
 * parameters is never "chunked". */
static ssize_t note_transfer_encoding(struct head_state *st, struct http1_str v)
{
	const char *pos = v.p, *end = v.p + v.len;
	struct http1_str elem;

	st->te_fields++;
	while (next_element(&pos, end, &elem)) {
		size_t n = 0;

		while (n < elem.len && is_tchar(elem.p[n]))
			n++;
		if (n == 0)
			return fail(st->req, 400, "malformed Transfer-Encoding");
		if (n == elem.len && ieq(elem.p, n, "chunked")) {
			st->chunked_count++;
			st->chunked_last = true;
		} else {
			st->te_other = true;
			st->chunked_last = false;
		}
	}
	return 0;
}

static ssize_t note_host(struct head_state *st, struct http1_str v)
{
	if (++st->host_fields > 1)
		return fail(st->req, 400, "more than one Host field");
	if (!valid_authority(v.p, v.len, false, false))
		return fail(st->req, 400, "invalid Host field");
	st->req->host = v;
	return 0;
}

/* CONTENT_TYPE is one meta-variable: two different ones cannot both be passed on. */
static ssize_t note_content_type(struct head_state *st, struct http1_str v)
{
	struct http1_str *prev = &st->content_type;

	if (prev->p && (prev->len != v.len || memcmp(prev->p, v.p, v.len) != 0))
		return fail(st->req, 400, "conflicting Content-Type fields");
	*prev = v;
	return 0;
}

/* Take note of the fields that decide framing and connection handling. */
static ssize_t note_field(struct head_state *st, const struct http1_header *h)
{
	struct http1_str name = h->name, v = h->value;

	switch (name.len) {
	case 4:
		if (http1_str_ieq(name, "host"))
			return note_host(st, v);
		break;
	case 6:
		if (http1_str_ieq(name, "expect") && list_has(v, "100-continue"))
			st->expect_100 = true;
		break;
	case 10:
		if (http1_str_ieq(name, "connection")) {
			st->conn_close |= list_has(v, "close");
			st->conn_keep_alive |= list_has(v, "keep-alive");
		}
		break;
	case 12:
		if (http1_str_ieq(name, "content-type"))
			return note_content_type(st, v);
		break;
	case 14:
		if (http1_str_ieq(name, "content-length"))
			return note_content_length(st, v);
		break;
	case 17:
		if (http1_str_ieq(name, "transfer-encoding"))
			return note_transfer_encoding(st, v);
		break;
	}
	return 0;
}

/* field-name ":" OWS field-value OWS, at line[0..end) (CRLF excluded). */
static ssize_t parse_field_line(struct head_state *st, const char *s, const char *end,
                                struct http1_header *h)
{
	struct http1_request *req = st->req;
	const char *start = s;

	if (is_ows(*s))
		return fail(req, 400, "obs-fold or whitespace before a field line");
	while (s < end && is_tchar(*s))
		s++;
	if (s == end)
		return fail(req, 400, "field line without a colon");
	if (*s != ':') {
		if (is_ows(*s))
			return fail(req, 400, "whitespace between field name and colon");
		return fail(req, 400, *s == '\r' ? "bare CR" : "invalid character in field name");
	}
	if (s == start)
		return fail(req, 400, "empty field name");
	h->name = mkstr(start, s);

	for (s++; s < end && is_ows(*s); s++)
		;
	start = s;
	const char *last = s; /* just past the last field-vchar */
	for (; s < end; s++) {
		if (is_visible(*s))
			last = s + 1;
		else if (*s == '\r')
			return fail(req, 400, "bare CR");
		else if (!is_ows(*s))
			return fail(req, 400, "control character in field value");
	}
	h->value = mkstr(start, last);
	return note_field(st, h);
}

/* Message framing (RFC 9112 §6.3) and the rest of what needs every field. */
static ssize_t finish_head(struct head_state *st)
{
	struct http1_request *req = st->req;
	bool http11 = req->minor_version == 1;

	if (st->te_fields) {
		if (!http11)
			return fail(req, 400, "Transfer-Encoding in HTTP/1.0");
		if (st->has_length)
			return fail(req, 400, "both Content-Length and Transfer-Encoding");
		if (!st->chunked_last)
			return fail(req, 400, "final transfer coding is not chunked");
		if (st->chunked_count > 1)
			return fail(req, 400, "chunked applied more than once");
		if (st->te_other)
			return fail(req, 501, "unsupported transfer coding");
		req->body_kind = HTTP1_BODY_CHUNKED;
	} else if (st->has_length) {
		req->body_kind = HTTP1_BODY_LENGTH;
		req->content_length = st->length;
	}
	if (http11 && st->host_fields == 0)
		return fail(req, 400, "missing Host field");
	if (st->authority.p)
		req->host = st->authority; /* RFC 9112 §3.2.2: the target wins */
	req->keep_alive = http11 ? !st->conn_close : st->conn_keep_alive && !st->conn_close;
	req->expect_continue = http11 && st->expect_100; /* 1.0: ignored (RFC 9110 §10.1.1) */
	return 0;
}

/* The line starting at s, if its LF is before wend: *content_end excludes the
 * CRLF. A line of the head must end in CRLF: *bare_lf says it ended in LF alone. */
static const char *find_line(const char *s, const char *wend, const char **content_end,
                             bool *bare_lf)
{
	const char *lf = memchr(s, '\n', (size_t)(wend - s));

	if (lf) {
		*bare_lf = lf == s || lf[-1] != '\r';
		*content_end = *bare_lf ? lf : lf - 1;
	}
	return lf;
}

/* Find the end of the head. Before it is complete, only what cannot wait is
 * checked: the limits, and the request line (so that TLS, a PROXY header or other
 * junk is refused at once); the field lines are only counted. Only
 * buf[0..max_head) is looked at. Every decision is made at a byte position, in
 * order, so a prefix of the input gives HTTP1_INCOMPLETE or the same answer as
 * the whole. Returns the head's length; *fields is where its field lines start. */
static ssize_t scan_head(struct head_state *st, const char *buf, size_t len, const char **fields)
{
	const struct http1_limits *lim = st->lim;
	const char *p = buf, *wend = buf + (len < lim->max_head ? len : lim->max_head);
	const char *lf, *end;
	size_t count = 0;
	bool bare_lf;
	ssize_t rc;

	/* RFC 9112 §2.2: empty lines (CRLF) before the request line are ignored */
	while (wend - p >= 2 && p[0] == '\r' && p[1] == '\n')
		p += 2;
	if (p == wend || (*p == '\r' && p + 1 == wend))
		return out_of_bytes(st, len);
	if (*p == '\r')
		return fail(st->req, 400, "bare CR");
	if (*p == '\n')
		return fail(st->req, 400, "bare LF");
	if (!is_tchar(*p))
		return fail(st->req, 400, "invalid request method");

	lf = find_line(p, wend, &end, &bare_lf);
	if (!lf) {
		size_t have = (size_t)(wend - p) - (wend[-1] == '\r');
		if (have > lim->max_request_line)
			return fail(st->req, 414, "request line too long");
		return out_of_bytes(st, len);
	}
	if ((size_t)(end - p) > lim->max_request_line)
		return fail(st->req, 414, "request line too long");
	if ((rc = parse_request_line(st, p, end)) < 0)
		return rc;
	/* RFC 9112 §2.2 lets a recipient take a bare LF as a line end, but a proxy in
	 * front that does not frames the message differently: refused, as a bare CR */
	if (bare_lf)
		return fail(st->req, 400, "bare LF");

	*fields = lf + 1;
	for (p = lf + 1;; p = lf + 1) {
		lf = find_line(p, wend, &end, &bare_lf);
		if (!lf)
			return out_of_bytes(st, len);
		if (bare_lf)
			return fail(st->req, 400, "bare LF");
		if (end == p)
			return lf + 1 - buf;
		if (++count > lim->max_headers)
			return fail(st->req, 431, "too many header fields");
	}
}

/* The daemon calls again with the whole buffer each time bytes arrive: until the
 * head is complete, a call costs one request line and memchr over the rest. */
ssize_t http1_parse_request(const char *buf, size_t len, struct http1_request *req,
                            struct http1_header *headers, const struct http1_limits *lim)
{
	struct head_state st = { .req = req, .lim = lim };
	const char *p = NULL, *lf, *end = NULL;
	bool bare_lf;
	ssize_t head_len, rc;

	memset(req, 0, sizeof *req);
	req->headers = headers;
	if ((head_len = scan_head(&st, buf, len, &p)) < 0)
		return head_len;

	for (;; p = lf + 1) {
		lf = find_line(p, buf + head_len, &end, &bare_lf);
		if (end == p)
			break;
		if ((rc = parse_field_line(&st, p, end, &headers[req->num_headers])) < 0)
			return rc;
		req->num_headers++;
	}
	if ((rc = finish_head(&st)) < 0)
		return rc;
	return head_len;
}

const struct http1_header *http1_find_header(const struct http1_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->num_headers; i++)
		if (http1_str_ieq(req->headers[i].name, name))
			return &req->headers[i];
	return NULL;
}

bool http1_looks_like_request(const uint8_t *buf, size_t len)
{
	static const char *const methods[] = {
		"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PRI",
	};

	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		size_t n = strlen(methods[i]);
		if (len > n && memcmp(buf, methods[i], n) == 0 && buf[n] == ' ')
			return true;
	}
	return false;
}

/* ---- chunked transfer coding (RFC 9112 §7.1) ------------------------------- */

enum chunked_state {
	CH_SIZE_START = 0, /* the first hex digit of a chunk-size */
	CH_SIZE,           /* more hex digits */
	CH_SIZE_BWS,       /* whitespace after the size: only a ';' may follow */
	CH_EXT,            /* a chunk extension: skipped */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START, /* a trailer field line, or the empty line that ends them */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_END_LF,
	CH_DONE,
	CH_FAILED,
};

/* A chunk-size line (size and extensions) longer than this is refused. */
#define CHUNK_LINE_MAX 4096
#define TRAILER_MAX_DEFAULT 8192

static enum chunked_state chunk_size_digit(struct http1_chunked *d, int v)
{
	if (d->remaining > ((uint64_t)INT64_MAX - (unsigned)v) / 16)
		return CH_FAILED;
	d->remaining = d->remaining * 16 + (unsigned)v;
	return CH_SIZE;
}

/* Every line of the coding (chunk-size lines, the CRLF after data, trailer field
 * lines and the empty line that ends them) must end in CRLF: a bare LF is refused,
 * since framing that other parsers read differently is how bodies are smuggled. */
static enum chunked_state chunk_step(struct http1_chunked *d, char c)
{
	switch ((enum chunked_state)d->state) {
	case CH_SIZE_START:
		d->remaining = 0;
		d->line_bytes = 0;
		return hex_value(c) < 0 ? CH_FAILED : chunk_size_digit(d, hex_value(c));
	case CH_SIZE:
		if (hex_value(c) >= 0)
			return chunk_size_digit(d, hex_value(c));
		/* fall through */
	case CH_SIZE_BWS:
		if (c == ';')
			return CH_EXT;
		if (is_ows(c))
			return CH_SIZE_BWS;
		if (c == '\r' && d->state == CH_SIZE)
			return CH_SIZE_LF;
		return CH_FAILED;
	case CH_EXT:
		if (c == '\r')
			return CH_SIZE_LF;
		return is_ows(c) || is_visible(c) ? CH_EXT : CH_FAILED;
	case CH_SIZE_LF:
		if (c != '\n')
			return CH_FAILED;
		d->trailer_bytes = 0;
		return d->remaining ? CH_DATA : CH_TRAILER_START;
	case CH_DATA_CR:
		return c == '\r' ? CH_DATA_LF : CH_FAILED;
	case CH_DATA_LF:
		return c == '\n' ? CH_SIZE_START : CH_FAILED;
	case CH_TRAILER_START:
		if (c == '\r')
			return CH_END_LF;
		return is_tchar(c) ? CH_TRAILER_NAME : CH_FAILED;
	case CH_TRAILER_NAME:
		if (c == ':')
			return CH_TRAILER_VALUE;
		return is_tchar(c) ? CH_TRAILER_NAME : CH_FAILED;
	case CH_TRAILER_VALUE:
		if (c == '\r')
			return CH_TRAILER_LF;
		return is_ows(c) || is_visible(c) ? CH_TRAILER_VALUE : CH_FAILED;
	case CH_TRAILER_LF:
		return c == '\n' ? CH_TRAILER_START : CH_FAILED;
	case CH_END_LF:
		return c == '\n' ? CH_DONE : CH_FAILED;
	case CH_DATA:
	case CH_DONE:
	case CH_FAILED:
		break;
	}
	return CH_FAILED;
}

/* Count the byte against the bound of the line or section it belongs to. */
static bool chunk_within_bounds(struct http1_chunked *d)
{
	size_t max_trailer = d->max_trailer ? d->max_trailer : TRAILER_MAX_DEFAULT;

	switch ((enum chunked_state)d->state) {
	case CH_SIZE:
	case CH_SIZE_BWS:
	case CH_EXT:
		return ++d->line_bytes < CHUNK_LINE_MAX;
	case CH_TRAILER_START:
	case CH_TRAILER_NAME:
	case CH_TRAILER_VALUE:
	case CH_TRAILER_LF:
	case CH_END_LF:
		return ++d->trailer_bytes <= max_trailer;
	default:
		return true;
	}
}

ssize_t http1_chunked_decode(struct http1_chunked *d, const char *buf, size_t len,
                             const char **data, size_t *data_len)
{
	size_t i = 0;

	*data = NULL;
	*data_len = 0;
	while (i < len && d->state != CH_DONE) {
		if (d->state == CH_FAILED)
			return HTTP1_ERROR;
		if (d->state == CH_DATA) {
			size_t n = len - i < d->remaining ? len - i : (size_t)d->remaining;
			*data = buf + i;
			*data_len = n;
			d->remaining -= n;
			if (d->remaining == 0)
				d->state = CH_DATA_CR;
			return (ssize_t)(i + n);
		}
		if (!chunk_within_bounds(d))
			d->state = CH_FAILED;
		else
			d->state = chunk_step(d, buf[i++]);
	}
	if (d->state == CH_FAILED)
		return HTTP1_ERROR;
	d->done = d->state == CH_DONE;
	return (ssize_t)i;
}

/* ---- responses ------------------------------------------------------------- */

const char *http1_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 305: return "Use Proxy";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 425: return "Too Early";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

size_t http1_chunk_header(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char digits[16];
	size_t k = 0, len = 0;

	do {
		digits[k++] = hex[n & 15];
		n >>= 4;
	} while (n);
	while (k)
		out[len++] = digits[--k];
	out[len++] = '\r';
	out[len++] = '\n';
	out[len] = '\0';
	return len;
}

/* ---- dates (RFC 9110 §5.6.7) ---------------------------------------------- */

static const char *const day_names[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const long_day_names[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
};
static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static char *put_digits(char *out, int v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		out[i] = (char)('0' + v % 10);
	return out + width;
}

static char *put_text(char *out, const char *s)
{
	while (*s)
		*out++ = *s++;
	return out;
}

void http1_format_date(char *out, time_t t)
{
	struct tm tm;

	/* a year outside 0..9999 has no IMF-fixdate: say 1970 rather than overflow */
	if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	char *o = put_text(out, day_names[tm.tm_wday]);
	o = put_text(o, ", ");
	o = put_digits(o, tm.tm_mday, 2);
	*o++ = ' ';
	o = put_text(o, month_names[tm.tm_mon]);
	*o++ = ' ';
	o = put_digits(o, tm.tm_year + 1900, 4);
	*o++ = ' ';
	o = put_digits(o, tm.tm_hour, 2);
	*o++ = ':';
	o = put_digits(o, tm.tm_min, 2);
	*o++ = ':';
	o = put_digits(o, tm.tm_sec, 2);
	o = put_text(o, " GMT");
	*o = '\0';
}

/* A cursor over the date text; once a take_* fails, ok stays false. */
struct date_cursor {
	const char *p, *end;
	bool ok;
};

static void take_text(struct date_cursor *c, const char *lit)
{
	size_t n = strlen(lit);

	if (c->ok && (size_t)(c->end - c->p) >= n && memcmp(c->p, lit, n) == 0)
		c->p += n;
	else
		c->ok = false;
}

static int take_number(struct date_cursor *c, int width)
{
	int v = 0;

	if (!c->ok || c->end - c->p < width) {
		c->ok = false;
		return 0;
	}
	for (int i = 0; i < width; i++, c->p++) {
		if (!is_digit(*c->p))
			c->ok = false;
		v = v * 10 + (*c->p - '0');
	}
	return v;
}

static int take_name(struct date_cursor *c, const char *const *names, int count)
{
	for (int i = 0; i < count && c->ok; i++) {
		size_t n = strlen(names[i]);
		if ((size_t)(c->end - c->p) >= n && memcmp(c->p, names[i], n) == 0) {
			c->p += n;
			return i;
		}
	}
	c->ok = false;
	return 0;
}

static void take_time(struct date_cursor *c, struct tm *tm)
{
	tm->tm_hour = take_number(c, 2);
	take_text(c, ":");
	tm->tm_min = take_number(c, 2);
	take_text(c, ":");
	tm->tm_sec = take_number(c, 2);
}

static bool is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static time_t date_value(const struct date_cursor *c, struct tm *tm, int year)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (!c->ok || c->p != c->end)
		return -1;
	int mdays = days[tm->tm_mon] + (tm->tm_mon == 1 && is_leap(year));
	if (tm->tm_mday < 1 || tm->tm_mday > mdays || tm->tm_hour > 23 || tm->tm_min > 59 ||
	    tm->tm_sec > 60)
		return -1;
	tm->tm_year = year - 1900;
	return timegm(tm);
}

/* RFC 850's two-digit year: the most recent year with those digits that is
 * not more than 50 years in the future (RFC 9110 §5.6.7). */
static int rfc850_year(int yy)
{
	time_t now = time(NULL);
	struct tm tm;
	int this_year = gmtime_r(&now, &tm) ? tm.tm_year + 1900 : 1970;
	int year = this_year - this_year % 100 + yy;

	return year > this_year + 50 ? year - 100 : year;
}

/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
static time_t parse_imf_fixdate(struct date_cursor *c)
{
	struct tm tm = { 0 };
	int year;

	take_name(c, day_names, 7);
	take_text(c, ", ");
	tm.tm_mday = take_number(c, 2);
	take_text(c, " ");
	tm.tm_mon = take_name(c, month_names, 12);
	take_text(c, " ");
	year = take_number(c, 4);
	take_text(c, " ");
	take_time(c, &tm);
	take_text(c, " GMT");
	return date_value(c, &tm, year);
}

/* rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT */
static time_t parse_rfc850_date(struct date_cursor *c)
{
	struct tm tm = { 0 };
	int yy;

	take_name(c, long_day_names, 7);
	take_text(c, ", ");
	tm.tm_mday = take_number(c, 2);
	take_text(c, "-");
	tm.tm_mon = take_name(c, month_names, 12);
	take_text(c, "-");
	yy = take_number(c, 2);
	take_text(c, " ");
	take_time(c, &tm);
	take_text(c, " GMT");
	return c->ok ? date_value(c, &tm, rfc850_year(yy)) : -1;
}

/* asctime-date: Sun Nov  6 08:49:37 1994 */
static time_t parse_asctime_date(struct date_cursor *c)
{
	struct tm tm = { 0 };
	int year;

	take_name(c, day_names, 7);
	take_text(c, " ");
	tm.tm_mon = take_name(c, month_names, 12);
	take_text(c, " ");
	if (c->ok && c->p < c->end && *c->p == ' ') {
		c->p++;
		tm.tm_mday = take_number(c, 1);
	} else {
		tm.tm_mday = take_number(c, 2);
	}
	take_text(c, " ");
	take_time(c, &tm);
	take_text(c, " ");
	year = take_number(c, 4);
	return date_value(c, &tm, year);
}

time_t http1_parse_date(const char *s, size_t len)
{
	struct date_cursor c = { .p = s, .end = s + len, .ok = true };

	if (len >= 4 && s[3] == ',')
		return parse_imf_fixdate(&c);
	if (len >= 4 && s[3] == ' ')
		return parse_asctime_date(&c);
	return parse_rfc850_date(&c);
}
