/* HTTP/1.1 request head parser (RFC 9112). Pure: no I/O, no allocation, no
 * mutable global state. See http1.h for the contracts; the chunked coding,
 * the response side and dates live in http1_chunked.c, http1_response.c and
 * http1_date.c. */
#include "protocols/http1.h"

#include <string.h>

#include "protocols/http1_lex.h"

/* Bit c of tchar_map[c >> 5] is set when c is a tchar (RFC 9110 §5.6.2). */
static const uint32_t tchar_map[8] = {
	0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff,
	0x00000000, 0x00000000, 0x00000000, 0x00000000,
};

bool http1_is_tchar(unsigned char c)
{
	return (tchar_map[c >> 5] >> (c & 31)) & 1;
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
		"GET",     "POST",  "HEAD",    "PUT",   "DELETE",
		"OPTIONS", "PATCH", "CONNECT", "TRACE", "PRI",
	};

	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		size_t n = strlen(methods[i]);
		if (len > n && memcmp(buf, methods[i], n) == 0 && buf[n] == ' ')
			return true;
	}
	return false;
}
