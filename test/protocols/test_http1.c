/* Tests for protocols/http1.c.
 *
 * Every input is parsed whole and at every prefix length, each prefix copied
 * right before a PROT_NONE page so that any read past the bytes given faults.
 * A prefix must give HTTP1_INCOMPLETE or the same answer as the whole input.
 * Chunked bodies are decoded whole, in two pieces split at every byte, and one
 * byte at a time; each way must give the same bytes.
 *
 * Conformance data (test/corpora, see its README): gunicorn-requests,
 * picohttpparser-cases, lighttpd-cases/test_request.json. Where gatewayd
 * answers differently from the origin, the case is listed with the reason in a
 * table next to its test; the tests check that each listed case does differ in
 * exactly the listed way, so the tables cannot go stale. */
#include "protocols/http1.h"
#include "test/corpus.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_HEADERS 100

/* gunicorn's defaults: limit_request_line 4094, limit_request_fields 100; its
 * per-field limit of 8190 becomes the limit of the whole head here. */
static const struct http1_limits default_limits = {
	.max_request_line = 4094,
	.max_head = 8190,
	.max_headers = MAX_HEADERS,
};

/* ---- small helpers ------------------------------------------------------------ */

static bool str_is(struct http1_str s, const char *p, size_t n)
{
	return s.p && s.len == n && memcmp(s.p, p, n) == 0;
}

static bool str_eq(struct http1_str s, const char *lit)
{
	return str_is(s, lit, strlen(lit));
}

static bool str_ieq(struct http1_str s, const char *lit)
{
	return s.p && s.len == strlen(lit) && strncasecmp(s.p, lit, s.len) == 0;
}

/* s as a string for a message (one of four static buffers, so four per message). */
static char *show(struct http1_str s)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ & 3];

	if (!s.p)
		return strcpy(b, "(null)");
	snprintf(b, sizeof bufs[0], "%.*s", (int)(s.len < 500 ? s.len : 500), s.p);
	return b;
}

/* The manifests hold raw bytes as Latin-1 code points in their UTF-8 strings. */
static char *latin1(const json_t *s, size_t *len)
{
	const unsigned char *u = (const unsigned char *)json_string_value(s);
	size_t n = json_string_length(s), o = 0;
	char *out = malloc(n + 1);

	cr_assert_not_null(u);
	for (size_t i = 0; i < n;) {
		if (u[i] < 0x80) {
			out[o++] = (char)u[i++];
			continue;
		}
		cr_assert((u[i] & 0xfe) == 0xc2 && i + 1 < n, "not a Latin-1 code point");
		out[o++] = (char)(((u[i] & 0x1f) << 6) | (u[i + 1] & 0x3f));
		i += 2;
	}
	out[o] = '\0';
	*len = o;
	return out;
}

/* ---- parsing with every prefix ----------------------------------------------- */

struct parsed {
	ssize_t rc;
	struct http1_request req;
	struct http1_header headers[MAX_HEADERS];
	bool prefixes_ok; /* every prefix: HTTP1_INCOMPLETE or the same answer */
	size_t bad_prefix;
	ssize_t bad_rc;
};

static bool same_answer(ssize_t rc, const struct http1_request *req, const struct parsed *whole)
{
	if (rc != whole->rc)
		return false;
	if (rc == HTTP1_ERROR)
		return req->error_status == whole->req.error_status &&
		       strcmp(req->error_reason, whole->req.error_reason) == 0;
	if (rc >= 0)
		return req->num_headers == whole->req.num_headers &&
		       req->body_kind == whole->req.body_kind &&
		       req->content_length == whole->req.content_length;
	return true;
}

static bool within(struct http1_str s, const char *buf, size_t len)
{
	return s.p == NULL || (s.p >= buf && s.p + s.len <= buf + len);
}

/* Every view of a parsed request lies inside the head (the one exception:
 * the "/" of an absolute-form target with an empty path). */
static void expect_views_inside(const struct http1_request *req, const char *buf, size_t len)
{
	cr_expect(within(req->method, buf, len) && within(req->target, buf, len) &&
	          within(req->query, buf, len) && within(req->host, buf, len));
	cr_expect(within(req->path, buf, len) || str_eq(req->path, "/"));
	for (size_t i = 0; i < req->num_headers; i++)
		cr_expect(within(req->headers[i].name, buf, len) &&
		          within(req->headers[i].value, buf, len));
}

static void parse_checked(struct guard *g, const char *buf, size_t len,
                          const struct http1_limits *lim, struct parsed *out)
{
	struct http1_request req;
	struct http1_header headers[MAX_HEADERS];

	out->rc = http1_parse_request(buf, len, &out->req, out->headers, lim);
	out->prefixes_ok = true;
	if (out->rc >= 0)
		expect_views_inside(&out->req, buf, (size_t)out->rc);
	for (size_t k = 0; k <= len; k++) {
		const char *copy = guard_place(g, buf, k);
		ssize_t rc = http1_parse_request(copy, k, &req, headers, lim);
		if ((rc == HTTP1_INCOMPLETE && k < len) || same_answer(rc, &req, out))
			continue;
		out->prefixes_ok = false;
		out->bad_prefix = k;
		out->bad_rc = rc;
		break;
	}
}

static void expect_prefixes_ok(const struct parsed *p, const char *name)
{
	cr_expect(p->prefixes_ok, "%s: a prefix of %zu bytes gave %zd, the whole input %zd (%d %s)",
	          name, p->bad_prefix, p->bad_rc, p->rc, p->req.error_status,
	          p->rc == HTTP1_ERROR ? p->req.error_reason : "");
}

/* ---- chunked decoding in pieces ---------------------------------------------- */

/* Feed buf[0..len) to a fresh decoder: first [0, cut), then the rest in pieces
 * of step bytes (0: at once), each piece right before the guard page. Returns
 * the bytes consumed when done, HTTP1_ERROR, or HTTP1_INCOMPLETE. */
static ssize_t dechunk(struct guard *g, const char *buf, size_t len, size_t cut, size_t step,
                       size_t max_trailer, char *out, size_t *out_len)
{
	struct http1_chunked d = { .max_trailer = max_trailer };
	size_t pos = 0;

	*out_len = 0;
	while (pos < len) {
		size_t n = pos < cut ? cut - pos : step ? step : len - pos;
		if (n > len - pos)
			n = len - pos;
		const char *piece = guard_place(g, buf + pos, n);
		size_t off = 0;
		while (off < n && !d.done) {
			const char *data;
			size_t data_len;
			ssize_t rc;

			rc = http1_chunked_decode(&d, piece + off, n - off, &data, &data_len);
			if (rc < 0)
				return rc;
			cr_assert_leq((size_t)rc, n - off);
			if (data_len) {
				const char *at = piece + off;
				cr_assert(data >= at && data + data_len <= at + rc);
				memcpy(out + *out_len, data, data_len);
				*out_len += data_len;
			}
			if (rc == 0)
				break;
			off += (size_t)rc;
		}
		if (d.done)
			return (ssize_t)(pos + off);
		cr_assert_eq(off, n, "the decoder kept bytes back without being done");
		pos += n;
	}
	return HTTP1_INCOMPLETE;
}

struct dechunked {
	ssize_t rc;
	char *data; /* malloc'd */
	size_t len;
};

/* Decode whole, split in two at every byte, and byte by byte: all must agree. */
static struct dechunked check_chunked(struct guard *g, const char *buf, size_t len,
                                      size_t max_trailer, const char *name)
{
	struct dechunked whole = { .data = malloc(len + 1) };
	char *other = malloc(len + 1);
	size_t other_len;

	whole.rc = dechunk(g, buf, len, len, 0, max_trailer, whole.data, &whole.len);
	for (size_t cut = 0; cut <= len; cut++) {
		size_t step = cut == 0 ? 1 : 0; /* cut 0: one byte at a time */
		ssize_t rc = dechunk(g, buf, len, cut, step, max_trailer, other, &other_len);
		cr_assert_eq(rc, whole.rc, "%s: chunked split at %zu gave %zd, whole %zd", name,
		             cut, rc, whole.rc);
		if (rc == HTTP1_ERROR)
			continue;
		cr_assert(other_len == whole.len && memcmp(other, whole.data, other_len) == 0,
		          "%s: chunked split at %zu decoded other bytes", name, cut);
	}
	free(other);
	return whole;
}

/* ---- gunicorn-requests ------------------------------------------------------------
 *
 * manifest.json: per case the requests a parser must produce (valid/) or the
 * class of error it must raise (invalid/). Valid cases may hold several
 * pipelined requests: they are parsed in sequence for as long as the previous
 * one keeps the connection alive, bodies included.
 *
 * HTTP/1.1 without Host: RFC 9112 §3.2 says a server MUST answer 400, and
 * gatewayd does; gunicorn accepts it, so many of its cases have no Host. Such a
 * case is first checked to be refused with "missing Host field", then parsed
 * again with "Host: gunicorn.test" inserted after the request line, and must
 * then give what the manifest says (with that field first). The cases this
 * happens to are listed in gunicorn_host_added[].
 *
 * cfg limits: gunicorn bounds the request line and each field line; gatewayd
 * bounds the request line and the whole head. limit_request_line maps to
 * max_request_line, limit_request_fields to max_headers, and a
 * limit_request_field_size of F to max_head = max_request_line + F + 4 (a head
 * holding one request line and one field line at their limits). */

#define HOST_LINE "Host: gunicorn.test\r\n"

enum deviation {
	DEV_NONE,
	DEV_REJECTED,        /* valid there, refused here with .status */
	DEV_ACCEPTED,        /* invalid there, accepted here */
	DEV_AT_EOF,          /* invalid there because the input stops early: incomplete here */
	DEV_OTHER_STATUS,    /* invalid there, refused here with .status for another reason */
	DEV_PROXY_HEADER,    /* needs the PROXY protocol: refused as is, checked without it */
	DEV_METHOD_AS_SENT,  /* the origin upper-cases the method, gatewayd keeps it as sent */
	DEV_UNDERSCORE_KEPT, /* the origin drops fields with '_' in the name, gatewayd keeps them */
	DEV_NO_TRAILERS,     /* the origin returns trailer fields, gatewayd discards them */
	DEV_TRUNCATED_BODY,  /* the file holds less body than declared: incomplete here */
};

struct gunicorn_deviation {
	const char *name;
	enum deviation kind;
	int status;
	const char *why;
};

static const struct gunicorn_deviation gunicorn_deviations[] = {
	{ "valid/009", DEV_REJECTED, 400,
	  "Transfer-Encoding with Content-Length is refused, not resolved (RFC 9112 §6.3: "
	  "'ought to be handled as an error'; request smuggling)" },
	{ "valid/025", DEV_REJECTED, 501,
	  "gzip, chunked: chunked is the only transfer coding gatewayd implements; any other "
	  "coding gets 501 (RFC 9112 §6.1)" },
	{ "valid/025_line", DEV_REJECTED, 501, "as valid/025, in one field line" },
	{ "valid/029", DEV_REJECTED, 501,
	  "identity, chunked: identity is no transfer coding since RFC 7230; 501 as valid/025" },
	{ "valid/030", DEV_REJECTED, 501, "as valid/029" },
	{ "valid/rfc9112_smuggle_gzip_chunked_01", DEV_REJECTED, 501, "as valid/025" },
	{ "valid/rfc9112_smuggle_te_identity_chunked_01", DEV_REJECTED, 501, "as valid/029" },
	{ "valid/rfc9112_target_absolute_userinfo_01", DEV_REJECTED, 400,
	  "userinfo in an http(s) target is refused (RFC 9110 §4.2.4: a recipient SHOULD "
	  "treat it as an error; it hides the authority)" },
	{ "valid/099", DEV_TRUNCATED_BODY, 0,
	  "Content-Length is 17914 but the file holds 8599 body bytes, which gunicorn's "
	  "reader takes to EOF; here the body is incomplete, and the bytes there are checked" },
	{ "valid/028", DEV_REJECTED, 400,
	  "cfg strip_header_spaces: whitespace between field name and colon MUST be refused "
	  "(RFC 9112 §5.1); there is no option to strip it" },
	{ "valid/compat_obs_fold", DEV_REJECTED, 400,
	  "cfg permit_obsolete_folding: obs-fold is refused with 400 (RFC 9112 §5.2 allows it)" },
	{ "valid/compat_obs_fold_huge", DEV_REJECTED, 400, "as valid/compat_obs_fold" },
	{ "valid/pp_01", DEV_PROXY_HEADER, 400,
	  "cfg proxy_protocol: a PROXY header belongs to the listener, not to HTTP; as a "
	  "request line it is refused" },
	{ "valid/pp_02", DEV_PROXY_HEADER, 400, "as valid/pp_01" },
	{ "valid/pp_04", DEV_PROXY_HEADER, 400, "as valid/pp_01 (PROXY v2, binary)" },
	{ "valid/pp_05", DEV_PROXY_HEADER, 400, "as valid/pp_01 (PROXY v2, binary)" },
	{ "valid/031compat", DEV_METHOD_AS_SENT, 0,
	  "cfg casefold_http_method: methods are case-sensitive (RFC 9110 §9.1), kept as sent" },
	{ "valid/040", DEV_UNDERSCORE_KEPT, 0,
	  "the codec keeps every field; the CGI builder drops names with '_' (they would "
	  "collide with '-' in HTTP_* variables), which is what valid/040_compat expects here" },
	{ "valid/012", DEV_NO_TRAILERS, 0,
	  "trailer fields are checked for syntax and discarded (RFC 9110 §6.5.1 allows it)" },
	{ "invalid/001", DEV_AT_EOF, 0,
	  "NoMoreData: the head never ends; the codec says incomplete, the daemon answers 400 "
	  "when the peer closes" },
	{ "invalid/rfc9112_chunked_missing_final_crlf_01", DEV_AT_EOF, 0,
	  "as invalid/001: the decoder waits for the trailer section's end" },
	{ "invalid/003c", DEV_ACCEPTED, 0,
	  "any token is a method (RFC 9110 §9.1); which methods get 501 is the daemon's choice" },
	{ "invalid/010", DEV_ACCEPTED, 0,
	  "cfg limit_request_field_size 10: no per-field limit, only max_head (mapping above)" },
	{ "invalid/012", DEV_ACCEPTED, 0, "as invalid/010, limit_request_field_size 98" },
	{ "invalid/013", DEV_OTHER_STATUS, 400,
	  "cfg limit_request_field_size 14 maps to a max_head the head fits in; refused for "
	  "its obs-fold instead" },
	{ "invalid/019", DEV_ACCEPTED, 0,
	  "cfg forwarded_allow_ips: X-Forwarded-* fields are not interpreted by the codec" },
	{ "invalid/040", DEV_ACCEPTED, 0,
	  "cfg header_map refuse: fields with '_' are accepted; the CGI builder drops them" },
	{ "invalid/chunked_07", DEV_ACCEPTED, 0, "as invalid/040" },
	{ "invalid/rfc9110_trailer_forbidden_cl_01", DEV_ACCEPTED, 0,
	  "trailer fields are discarded, never merged into the header section, so a "
	  "Content-Length there cannot change framing" },
	{ "invalid/rfc9110_trailer_forbidden_host_01", DEV_ACCEPTED, 0,
	  "as rfc9110_trailer_forbidden_cl_01: a Host there cannot change routing" },
	{ "invalid/rfc9110_trailer_forbidden_te_01", DEV_ACCEPTED, 0,
	  "as rfc9110_trailer_forbidden_cl_01" },
	{ "invalid/rfc9112_smuggle_cl_list_form_01", DEV_ACCEPTED, 0,
	  "Content-Length: 5, 5 is the value 5 (RFC 9110 §8.6 allows either answer)" },
};

/* HTTP/1.1 cases without Host, refused and then parsed with HOST_LINE added. */
static const char *const gunicorn_host_added[] = {
	"valid/004", "valid/005", "valid/006", "valid/007", "valid/010", "valid/011",
	"valid/012", "valid/013", "valid/014", "valid/018", "valid/021", "valid/022",
	"valid/023", "valid/031", "valid/031compat", "valid/031compat2", "valid/100",
	"valid/pp_02", "invalid/003c", "invalid/010", "invalid/019", "invalid/chunked_01",
	"invalid/chunked_07", "invalid/chunked_09", "invalid/chunked_10", "invalid/chunked_11",
	"invalid/chunked_12", "invalid/chunked_13", "invalid/chunked_14", NULL,
};

static const struct gunicorn_deviation *gunicorn_deviation(const char *name)
{
	for (size_t i = 0; i < sizeof gunicorn_deviations / sizeof gunicorn_deviations[0]; i++)
		if (strcmp(gunicorn_deviations[i].name, name) == 0)
			return &gunicorn_deviations[i];
	return NULL;
}

static bool gunicorn_host_listed(const char *name)
{
	for (size_t i = 0; gunicorn_host_added[i]; i++)
		if (strcmp(gunicorn_host_added[i], name) == 0)
			return true;
	return false;
}

enum outcome {
	OUT_ACCEPTED,   /* every request, bodies included, parsed */
	OUT_HEAD_ERROR, /* a head was refused: status, reason */
	OUT_BODY_ERROR, /* a chunked body was refused */
	OUT_AT_EOF,     /* the input ended inside a head or a body */
};

struct gunicorn_run {
	char name[128];
	char *buf;
	size_t len;
	struct http1_limits lim;
	const json_t *expect; /* expect_requests; NULL for an invalid case */
	enum deviation dev;
	bool host_added;
	enum outcome outcome;
	int status;
	const char *reason;
	size_t requests;
};

static struct http1_limits gunicorn_limits(const json_t *cfg)
{
	struct http1_limits lim = default_limits;
	json_int_t v;

	if ((v = json_integer_value(json_object_get(cfg, "limit_request_line"))) > 0)
		lim.max_request_line = (size_t)v;
	if ((v = json_integer_value(json_object_get(cfg, "limit_request_fields"))) > 0)
		lim.max_headers = (size_t)v;
	if ((v = json_integer_value(json_object_get(cfg, "limit_request_field_size"))) > 0)
		lim.max_head = lim.max_request_line + (size_t)v + 4;
	cr_assert_leq(lim.max_headers, MAX_HEADERS);
	return lim;
}

/* Insert HOST_LINE after the request line of the request at off. */
static void add_host(struct gunicorn_run *r, size_t off)
{
	const char *p = r->buf + off, *end = r->buf + r->len;

	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	cr_assert_not_null(lf);
	size_t at = (size_t)(lf + 1 - r->buf), add = strlen(HOST_LINE);
	char *buf = malloc(r->len + add + 1);
	memcpy(buf, r->buf, at);
	memcpy(buf + at, HOST_LINE, add);
	memcpy(buf + at + add, r->buf + at, r->len - at + 1);
	free(r->buf);
	r->buf = buf;
	r->len += add;
	r->host_added = true;
}

/* Remove a PROXY protocol v1 line or v2 header from the start of the input. */
static void strip_proxy_header(struct gunicorn_run *r)
{
	static const char v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";
	size_t skip;

	if (r->len >= 16 && memcmp(r->buf, v2_sig, 12) == 0) {
		skip = 16 + ((size_t)(unsigned char)r->buf[14] << 8 | (unsigned char)r->buf[15]);
	} else {
		cr_assert(r->len > 6 && memcmp(r->buf, "PROXY ", 6) == 0, "%s: no PROXY header",
		          r->name);
		const char *lf = memchr(r->buf, '\n', r->len);
		cr_assert_not_null(lf);
		skip = (size_t)(lf + 1 - r->buf);
	}
	cr_assert_leq(skip, r->len);
	memmove(r->buf, r->buf + skip, r->len - skip + 1);
	r->len -= skip;
}

static bool is_empty_lines(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

static void check_gunicorn_request(const struct gunicorn_run *r, const struct http1_request *req,
                                   bool host_added_here)
{
	const json_t *e = json_array_get(r->expect, r->requests);
	const char *name = r->name;
	size_t n;

	cr_expect_not_null(e, "%s: request %zu is not in the manifest", name, r->requests + 1);
	if (!e)
		return;
	const char *method = json_string_value(json_object_get(e, "method"));
	if (r->dev == DEV_METHOD_AS_SENT)
		cr_expect(str_ieq(req->method, method) && !str_eq(req->method, method),
		          "%s: method %s", name, show(req->method));
	else
		cr_expect(str_eq(req->method, method), "%s: method %s, want %s", name,
		          show(req->method), method);

	char *uri = latin1(json_object_get(json_object_get(e, "uri"), "raw"), &n);
	cr_expect(str_is(req->target, uri, n), "%s: target %s, want %s", name,
	          show(req->target), uri);
	free(uri);

	const json_t *version = json_object_get(e, "version");
	cr_expect(json_integer_value(json_array_get(version, 0)) == 1 &&
	          json_integer_value(json_array_get(version, 1)) == req->minor_version,
	          "%s: HTTP/1.%d", name, req->minor_version);

	const json_t *want = json_object_get(e, "headers");
	size_t i = 0, j;
	if (host_added_here) {
		cr_expect(req->num_headers > 0 && str_eq(req->headers[0].name, "Host") &&
		          str_eq(req->headers[0].value, "gunicorn.test"), "%s: added Host", name);
		i = 1;
	}
	for (j = 0; i < req->num_headers; i++) {
		const struct http1_header *h = &req->headers[i];
		if (r->dev == DEV_UNDERSCORE_KEPT && memchr(h->name.p, '_', h->name.len))
			continue;
		const json_t *w = json_array_get(want, j++);
		cr_expect_not_null(w, "%s: extra field %s", name, show(h->name));
		if (!w)
			return;
		char *value = latin1(json_array_get(w, 1), &n);
		cr_expect(str_ieq(h->name, json_string_value(json_array_get(w, 0))) &&
		          str_is(h->value, value, n), "%s: field %zu is %s: %s, want %s: %s", name,
		          i, show(h->name), show(h->value),
		          json_string_value(json_array_get(w, 0)), value);
		free(value);
	}
	cr_expect_eq(j, json_array_size(want), "%s: %zu fields, want %zu", name, j,
	             json_array_size(want));
	if (r->dev == DEV_UNDERSCORE_KEPT)
		cr_expect_gt(req->num_headers, j, "%s: no field with '_' was kept", name);
	if (r->dev != DEV_NO_TRAILERS)
		cr_expect_null(json_object_get(e, "trailers"), "%s: trailers expected", name);
}

static void check_gunicorn_body(const struct gunicorn_run *r, const char *body, size_t len)
{
	const json_t *e = json_object_get(json_array_get(r->expect, r->requests), "body");
	size_t n;

	if (!json_is_string(e))
		e = json_object_get(e, "text");
	char *want = latin1(e, &n);
	cr_expect(len == n && memcmp(body, want, n) == 0, "%s: body of %zu bytes, want %zu",
	          r->name, len, n);
	free(want);
}

/* The body of the request just parsed, at *off. False when it ends the run. */
static bool take_body(struct guard *g, struct gunicorn_run *r, const struct http1_request *req,
                      size_t *off)
{
	const char *body = r->buf + *off;
	size_t len = 0;
	struct dechunked d = { 0 };

	switch (req->body_kind) {
	case HTTP1_BODY_NONE:
		break;
	case HTTP1_BODY_LENGTH:
		if (req->content_length > r->len - *off) {
			if (r->expect && r->dev == DEV_TRUNCATED_BODY) {
				check_gunicorn_body(r, body, r->len - *off);
				r->requests++;
			}
			r->outcome = OUT_AT_EOF;
			return false;
		}
		len = (size_t)req->content_length;
		*off += len;
		break;
	case HTTP1_BODY_CHUNKED:
		d = check_chunked(g, body, r->len - *off, 0, r->name);
		if (d.rc < 0) {
			r->outcome = d.rc == HTTP1_ERROR ? OUT_BODY_ERROR : OUT_AT_EOF;
			free(d.data);
			return false;
		}
		*off += (size_t)d.rc;
		body = d.data;
		len = d.len;
		break;
	}
	if (r->expect)
		check_gunicorn_body(r, body, len);
	free(d.data);
	return true;
}

static void run_gunicorn(struct guard *g, struct gunicorn_run *r)
{
	size_t off = 0;
	bool host_added_here = false;
	struct parsed *p = malloc(sizeof *p);

	r->outcome = OUT_ACCEPTED;
	while (off < r->len && !is_empty_lines(r->buf + off, r->len - off)) {
		parse_checked(g, r->buf + off, r->len - off, &r->lim, p);
		expect_prefixes_ok(p, r->name);
		bool no_host = p->rc == HTTP1_ERROR &&
		               strcmp(p->req.error_reason, "missing Host field") == 0;
		if (no_host && !host_added_here) {
			add_host(r, off);
			host_added_here = true;
			continue;
		}
		if (p->rc < 0) {
			r->outcome = p->rc == HTTP1_ERROR ? OUT_HEAD_ERROR : OUT_AT_EOF;
			r->status = p->req.error_status;
			r->reason = p->req.error_reason;
			break;
		}
		if (r->expect)
			check_gunicorn_request(r, &p->req, host_added_here);
		host_added_here = false;
		off += (size_t)p->rc;
		if (!take_body(g, r, &p->req, &off))
			break;
		r->requests++;
		if (!p->req.keep_alive)
			break;
	}
	free(p);
}

static void gunicorn_start(struct gunicorn_run *r, const json_t *c)
{
	const char *raw = json_string_value(json_object_get(c, "raw"));
	char rel[256];

	memset(r, 0, sizeof *r);
	cr_assert(raw && strncmp(raw, "converted/", 10) == 0);
	snprintf(rel, sizeof rel, "gunicorn-requests/%s", raw + 10);
	snprintf(r->name, sizeof r->name, "%s/%s", json_string_value(json_object_get(c, "kind")),
	         json_string_value(json_object_get(c, "name")));
	r->buf = corpus_file(rel, &r->len);
	r->lim = gunicorn_limits(json_object_get(c, "cfg"));
	const struct gunicorn_deviation *dev = gunicorn_deviation(r->name);
	r->dev = dev ? dev->kind : DEV_NONE;
	r->status = dev ? dev->status : 0;
}

static const char *outcome_name(enum outcome o)
{
	static const char *const names[] = { "accepted", "head refused", "body refused",
		                             "incomplete at EOF" };
	return names[o];
}

/* Every case of the manifest of that kind ("valid", "invalid") run through the
 * parser (gunicorn_start(), then check(), which runs it), its Host addition
 * as listed; how many there were. */
static size_t gunicorn_each(const char *kind,
                            void (*check)(struct guard *g, struct gunicorn_run *r, const json_t *c))
{
	json_t *m = corpus_json("gunicorn-requests/manifest.json");
	struct guard g = guard_new(64 * 1024);
	size_t i, cases = 0;
	const json_t *c;

	json_array_foreach(m, i, c) {
		struct gunicorn_run r;

		if (strcmp(json_string_value(json_object_get(c, "kind")), kind) != 0)
			continue;
		gunicorn_start(&r, c);
		cases++;
		check(&g, &r, c);
		cr_expect_eq(r.host_added, gunicorn_host_listed(r.name),
		             "%s: Host added %d, listed %d", r.name, r.host_added,
		             gunicorn_host_listed(r.name));
		free(r.buf);
	}
	guard_free(&g);
	json_decref(m);
	return cases;
}

static void check_valid(struct guard *g, struct gunicorn_run *r, const json_t *c)
{
	int dev_status = r->status;

	r->expect = json_object_get(c, "expect_requests");
	if (r->dev == DEV_PROXY_HEADER) {
		struct parsed *p = malloc(sizeof *p);
		parse_checked(g, r->buf, r->len, &r->lim, p);
		cr_expect(p->rc == HTTP1_ERROR && p->req.error_status == dev_status,
		          "%s: the PROXY header was not refused", r->name);
		free(p);
		strip_proxy_header(r);
	}
	run_gunicorn(g, r);
	if (r->dev == DEV_REJECTED) {
		cr_expect(r->outcome == OUT_HEAD_ERROR && r->status == dev_status,
		          "%s: listed as refused with %d, got %s %d %s", r->name, dev_status,
		          outcome_name(r->outcome), r->status, r->reason ? r->reason : "");
	} else {
		enum outcome want = r->dev == DEV_TRUNCATED_BODY ? OUT_AT_EOF : OUT_ACCEPTED;
		cr_expect(r->outcome == want, "%s: %s %d %s", r->name, outcome_name(r->outcome),
		          r->status, r->reason ? r->reason : "");
		cr_expect_eq(r->requests, json_array_size(r->expect), "%s: %zu requests, want %zu",
		             r->name, r->requests, json_array_size(r->expect));
	}
}

Test(gunicorn, valid_requests_parse_to_the_manifest)
{
	cr_expect_eq(gunicorn_each("valid", check_valid), 63);
}

/* The answer gatewayd gives for each of gunicorn's error classes. */
static bool gunicorn_class_matches(const char *class, const struct gunicorn_run *r)
{
	if (strcmp(class, "LimitRequestLine") == 0)
		return r->outcome == OUT_HEAD_ERROR && r->status == 414;
	if (strcmp(class, "LimitRequestHeaders") == 0)
		return r->outcome == OUT_HEAD_ERROR && r->status == 431;
	if (strcmp(class, "InvalidHTTPVersion") == 0)
		return r->outcome == OUT_HEAD_ERROR && (r->status == 400 || r->status == 505);
	if (strcmp(class, "InvalidChunkSize") == 0 || strcmp(class, "InvalidChunkExtension") == 0)
		return r->outcome == OUT_BODY_ERROR;
	return r->outcome == OUT_HEAD_ERROR && r->status == 400;
}

static void check_invalid(struct guard *g, struct gunicorn_run *r, const json_t *c)
{
	int dev_status = r->status;
	const char *class = json_string_value(json_object_get(c, "expect_error"));

	run_gunicorn(g, r);
	switch (r->dev) {
	case DEV_ACCEPTED:
		cr_expect(r->outcome == OUT_ACCEPTED, "%s: listed as accepted, got %s %d %s",
		          r->name, outcome_name(r->outcome), r->status, r->reason ? r->reason : "");
		break;
	case DEV_AT_EOF:
		cr_expect(r->outcome == OUT_AT_EOF, "%s: listed as incomplete, got %s", r->name,
		          outcome_name(r->outcome));
		break;
	case DEV_OTHER_STATUS:
		cr_expect(r->outcome == OUT_HEAD_ERROR && r->status == dev_status,
		          "%s: listed as %d, got %s %d", r->name, dev_status,
		          outcome_name(r->outcome), r->status);
		break;
	default:
		cr_expect(gunicorn_class_matches(class, r), "%s (%s): got %s %d %s", r->name, class,
		          outcome_name(r->outcome), r->status, r->reason ? r->reason : "");
		break;
	}
}

Test(gunicorn, invalid_requests_are_refused)
{
	cr_expect_eq(gunicorn_each("invalid", check_invalid), 74);
}

Test(gunicorn, every_listed_case_exists)
{
	json_t *m = corpus_json("gunicorn-requests/manifest.json");
	size_t i, k;
	const json_t *c;

	for (k = 0; k < sizeof gunicorn_deviations / sizeof gunicorn_deviations[0]; k++) {
		bool found = false;
		json_array_foreach(m, i, c) {
			char name[128];
			snprintf(name, sizeof name, "%s/%s",
			         json_string_value(json_object_get(c, "kind")),
			         json_string_value(json_object_get(c, "name")));
			found |= strcmp(name, gunicorn_deviations[k].name) == 0;
		}
		cr_expect(found, "%s is listed but not in the manifest",
		          gunicorn_deviations[k].name);
	}
	json_decref(m);
}

/* ---- picohttpparser-cases -----------------------------------------------------------
 *
 * manifest.json, expect: 0 parses (the whole input is the head), -1 refused,
 * -2 incomplete. Sections:
 *  request:  fed as they are.
 *  headers:  phr_parse_headers() cases, a field block without a request line:
 *            fed after "GET / HTTP/1.0\r\n".
 *  response: status lines; gatewayd parses no responses. They are fed to the
 *            request parser, which must never accept one: refused once a line
 *            is complete, incomplete before.
 *  chunked:  the chunked decoder. picohttpparser can stop after the last chunk
 *            (consume_trailer = 0); gatewayd's decoder always reads the trailer
 *            section, so those cases must decode everything and wait, and be
 *            done once "\r\n" is added. */

struct pico_deviation {
	const char *raw;
	int ours;
	const char *why;
};

static const struct pico_deviation pico_deviations[] = {
	{ "request/004.raw", -1, "obs-fold is refused (RFC 9112 §5.2 allows either)" },
	{ "request/033.raw", -1,
	  "one SP between request-line parts (RFC 9112 §3); more is refused, not tolerated" },
	{ "headers/003.raw", -2,
	  "field lines are checked once the head is complete (the request line and the limits "
	  "at once): a head with no end yet is incomplete, whatever its fields hold" },
	{ "chunked/010.raw", -1,
	  "the empty line that ends the trailer section is a bare LF: refused, as everywhere "
	  "a line ends (RFC 9112 §2.2 allows either; a proxy in front may frame it otherwise)" },
	{ "chunked/011.raw", -1, "trailer field lines end in a bare LF: refused, as above" },
	{ "chunked/013.raw", -1,
	  "a chunk size over 2^63-1 is refused (http1.h); picohttpparser takes up to 2^64-1" },
};

static int pico_deviation(const char *raw, int expect)
{
	for (size_t i = 0; i < sizeof pico_deviations / sizeof pico_deviations[0]; i++)
		if (strcmp(pico_deviations[i].raw, raw) == 0)
			return pico_deviations[i].ours;
	return expect;
}

static char *pico_file(const json_t *c, size_t *len, const char **raw)
{
	char rel[256];

	*raw = json_string_value(json_object_get(c, "raw"));
	cr_assert(*raw && strncmp(*raw, "converted/", 10) == 0);
	*raw += 10;
	snprintf(rel, sizeof rel, "picohttpparser-cases/%s", *raw);
	return corpus_file(rel, len);
}

/* One case of picohttpparser's manifest: the case, its file's name and bytes
 * (room for 3 more at the end), the guard to place them at and what a driver
 * passes on. */
struct pico_case {
	const json_t *c;
	const char *raw;
	char *file;
	size_t len;
	struct guard *g;
	const void *arg;
};

/* Every case of the manifest's section through check(); how many there were. */
static size_t pico_each(const char *section, void (*check)(struct pico_case *pc),
                        const void *arg)
{
	json_t *m = corpus_json("picohttpparser-cases/manifest.json");
	struct guard g = guard_new(64 * 1024);
	size_t i, cases = 0;
	const json_t *c;

	json_array_foreach(m, i, c) {
		if (strcmp(json_string_value(json_object_get(c, "section")), section) != 0)
			continue;
		struct pico_case pc = {.c = c, .g = &g, .arg = arg};
		char *file = pico_file(c, &pc.len, &pc.raw);
		pc.file = malloc(pc.len + 3);
		memcpy(pc.file, file, pc.len);
		free(file);
		cases++;
		check(&pc);
		free(pc.file);
	}
	guard_free(&g);
	json_decref(m);
	return cases;
}

/* A case of the requests or headers section, after the prefix pc->arg. */
static void check_pico_head(struct pico_case *pc)
{
	const char *prefix = pc->arg, *raw = pc->raw;
	size_t plen = strlen(prefix), len = plen + pc->len;
	char *buf = malloc(len + 1);
	struct parsed *p = malloc(sizeof *p);
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, pc->file, pc->len);
	int expect = (int)json_integer_value(json_object_get(pc->c, "expect"));
	int want = pico_deviation(raw, expect);

	parse_checked(pc->g, buf, len, &default_limits, p);
	expect_prefixes_ok(p, raw);
	int ours = p->rc >= 0 ? 0 : (int)p->rc;
	cr_expect_eq(ours, want, "%s (%s): %d, want %d (%d %s)", raw,
	             json_string_value(json_object_get(pc->c, "comment")), ours, want,
	             p->req.error_status, p->rc == HTTP1_ERROR ? p->req.error_reason : "");
	if (ours == 0)
		cr_expect_eq((size_t)p->rc, len, "%s: the head is the whole input", raw);
	if (ours == -1)
		cr_expect(p->req.error_status >= 400 && p->req.error_status <= 505);
	free(p);
	free(buf);
}

static void pico_parse_section(const char *section, const char *prefix, size_t want_cases)
{
	cr_expect_eq(pico_each(section, check_pico_head, prefix), want_cases);
}

Test(picohttpparser, requests)
{
	pico_parse_section("request", "", 34);
}

Test(picohttpparser, header_blocks_after_a_request_line)
{
	pico_parse_section("headers", "GET / HTTP/1.0\r\n", 4);
}

static void check_pico_response(struct pico_case *pc)
{
	struct parsed *p = malloc(sizeof *p);

	parse_checked(pc->g, pc->file, pc->len, &default_limits, p);
	expect_prefixes_ok(p, pc->raw);
	if (memchr(pc->file, '\n', pc->len))
		cr_expect(p->rc == HTTP1_ERROR && p->req.error_status == 400, "%s: %zd", pc->raw,
		          p->rc);
	else
		cr_expect_eq(p->rc, HTTP1_INCOMPLETE, "%s: %zd", pc->raw, p->rc);
	free(p);
}

Test(picohttpparser, responses_are_never_requests)
{
	cr_expect_eq(pico_each("response", check_pico_response, NULL), 29);
}

static void check_pico_chunked(struct pico_case *pc)
{
	const char *raw = pc->raw;
	char *buf = pc->file;
	size_t len = pc->len;

	const json_t *failure = json_object_get(pc->c, "failure_expect");
	if (failure || pico_deviation(raw, 0) != 0) {
		int want = pico_deviation(raw, (int)json_integer_value(failure));
		struct dechunked d = check_chunked(pc->g, buf, len, 0, raw);
		cr_expect_eq(d.rc, want, "%s: %zd, want %d", raw, d.rc, want);
		free(d.data);
		return;
	}

	const char *decoded = json_string_value(json_object_get(pc->c, "decoded"));
	bool consume_trailer = json_integer_value(json_object_get(pc->c, "consume_trailer"));
	const json_t *expect = json_object_get(pc->c, "expect_leftover_or_status");
	long leftover = strtol(json_string_value(expect), NULL, 10);
	if (!consume_trailer) {
		cr_expect_eq(leftover, 0);
		struct dechunked d = check_chunked(pc->g, buf, len, 0, raw);
		cr_expect_eq(d.rc, HTTP1_INCOMPLETE, "%s: %zd before the trailer end", raw, d.rc);
		free(d.data);
		memcpy(buf + len, "\r\n", 2);
		len += 2;
		leftover = 0;
	}
	struct dechunked d = check_chunked(pc->g, buf, len, 0, raw);
	if (leftover == HTTP1_INCOMPLETE)
		cr_expect_eq(d.rc, HTTP1_INCOMPLETE, "%s: %zd, want incomplete", raw, d.rc);
	else
		cr_expect_eq(d.rc, (ssize_t)len - leftover, "%s: consumed %zd of %zu", raw, d.rc,
		             len);
	cr_expect(d.len == strlen(decoded) && memcmp(d.data, decoded, d.len) == 0,
	          "%s: decoded %.*s", raw, (int)d.len, d.data);
	free(d.data);
}

Test(picohttpparser, chunked)
{
	cr_expect_eq(pico_each("chunked", check_pico_chunked, NULL), 22);
}

/* ---- lighttpd-cases/test_request.json ---------------------------------------------
 *
 * lighttpd's request tests, with the status lighttpd answers (0: accepted).
 * The codec answers for the syntax and framing of HTTP; lighttpd folds in
 * server policy (which methods, which host names, whether a body is required).
 * Where the two differ, the case is listed here by its line in test_request.c. */

struct lighttpd_deviation {
	int line;
	int ours;
	const char *why;
};

static const struct lighttpd_deviation lighttpd_deviations[] = {
	{ 146, 400, "\"GET/\" is not a token ('/' is no tchar): a bad request line, not a method" },
	{ 210, 0, "\".jsdh.sfdg.sdfg.\" is a reg-name (RFC 3986); name policy is the router's" },
	{ 223, 0, "as line 210" },
	{ 229, 0, "as line 210" },
	{ 247, 0, "\":80\": an empty reg-name with a port is valid host syntax" },
	{ 266, 0, "as line 210" },
	{ 272, 0, "as line 210" },
	{ 278, 0, "as line 210 (a reg-name that is not an IPv4 address)" },
	{ 284, 0, "as line 278" },
	{ 333, 400, "obs-fold is refused (RFC 9112 §5.2)" },
	{ 344, 400, "as line 333" },
	{ 355, 400, "as line 333" },
	{ 402, 0, "any token is a method; the daemon answers 501 for those it does not serve" },
	{ 407, 505, "HTTP/1.3 is a well-formed version gatewayd does not speak: 505" },
	{ 439, 400, "as line 333" },
	{ 448, 0, "411 for a POST without framing is the daemon's decision, not syntax" },
	{ 515, 0, "repeated If-Modified-Since is not framing; it reaches the application" },
	{ 522, 0, "GET with content is valid syntax (RFC 9110 §9.3.1); refusing it is policy" },
	{ 529, 0, "as line 522, for HEAD" },
	{ 542, 400, "HTTP/1.1 without Host MUST get 400, absolute-form or not (RFC 9112 §3.2)" },
	{ 559, 0, "the absolute-form authority replaces Host (RFC 9112 §3.2.2); no mismatch" },
	{ 579, 0, "as line 515" },
};

Test(lighttpd, request_statuses)
{
	json_t *m = corpus_json("lighttpd-cases/test_request.json");
	struct guard g = guard_new(64 * 1024);
	struct parsed *p = malloc(sizeof *p);
	size_t i, k, cases = 0, deviations_seen = 0;
	const json_t *c;

	json_array_foreach(m, i, c) {
		const char *raw = json_string_value(json_object_get(c, "raw"));
		int line = (int)json_integer_value(json_object_get(c, "line"));
		int want = (int)json_integer_value(json_object_get(c, "expect_status"));
		char rel[256];
		size_t len;

		cr_assert(raw && strncmp(raw, "converted/", 10) == 0);
		snprintf(rel, sizeof rel, "lighttpd-cases/%s", raw + 10);
		char *buf = corpus_file(rel, &len);
		for (k = 0; k < sizeof lighttpd_deviations / sizeof lighttpd_deviations[0]; k++)
			if (lighttpd_deviations[k].line == line) {
				cr_expect_neq(lighttpd_deviations[k].ours, want,
				              "line %d is no deviation", line);
				want = lighttpd_deviations[k].ours;
				deviations_seen++;
			}
		cases++;
		parse_checked(&g, buf, len, &default_limits, p);
		expect_prefixes_ok(p, raw);
		int ours = p->rc >= 0 ? 0 : p->rc == HTTP1_ERROR ? p->req.error_status : -2;
		cr_expect_eq(ours, want, "line %d (%s): %d %s, want %d", line,
		             json_string_value(json_object_get(c, "desc")), ours,
		             p->rc == HTTP1_ERROR ? p->req.error_reason : "", want);
		free(buf);
	}
	cr_expect_eq(cases, 81);
	cr_expect_eq(deviations_seen, sizeof lighttpd_deviations / sizeof lighttpd_deviations[0]);
	free(p);
	guard_free(&g);
	json_decref(m);
}

/* ---- gatewayd's own cases ------------------------------------------------------------ */

struct head_case {
	const char *raw;
	size_t len;
	int status; /* 0: accepted */
	const char *reason;
};

#define REQ(raw, status, reason) { raw, sizeof(raw) - 1, status, reason }

#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"
#define POST11 "POST / HTTP/1.1\r\nHost: a\r\n"
#define H10 "GET / HTTP/1.0\r\n"

static const struct head_case rejections[] = {
	/* framing (RFC 9112 §6) */
	REQ(POST11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	  "both Content-Length and Transfer-Encoding"),
	REQ(POST11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400,
	  "both Content-Length and Transfer-Encoding"),
	REQ(POST11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
	  "conflicting Content-Length values"),
	REQ(POST11 "Content-Length: 5, 6\r\n\r\n", 400, "conflicting Content-Length values"),
	REQ(POST11 "Content-Length: 5\r\nContent-Length: 5, 7\r\n\r\n", 400,
	  "conflicting Content-Length values"),
	REQ(POST11 "Content-Length:\r\n\r\n", 400, "malformed Content-Length"),
	REQ(POST11 "Content-Length: -1\r\n\r\n", 400, "malformed Content-Length"),
	REQ(POST11 "Content-Length: +1\r\n\r\n", 400, "malformed Content-Length"),
	REQ(POST11 "Content-Length: 1 2\r\n\r\n", 400, "malformed Content-Length"),
	REQ(POST11 "Content-Length: 0x10\r\n\r\n", 400, "malformed Content-Length"),
	REQ(POST11 "Content-Length: 1.0\r\n\r\n", 400, "malformed Content-Length"),
	REQ(POST11 "Content-Length: 5,\r\n\r\n", 400, "malformed Content-Length"),
	REQ(POST11 "Content-Length: ,5\r\n\r\n", 400, "malformed Content-Length"),
	REQ(POST11 "Content-Length: 5,,5\r\n\r\n", 400, "malformed Content-Length"),
	REQ(POST11 "Content-Length: 9223372036854775808\r\n\r\n", 400, "Content-Length too large"),
	REQ(POST11 "Content-Length: 99999999999999999999999\r\n\r\n", 400,
	  "Content-Length too large"),
	REQ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	  "Transfer-Encoding in HTTP/1.0"),
	REQ(POST11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 400,
	  "final transfer coding is not chunked"),
	REQ(POST11 "Transfer-Encoding: identity\r\n\r\n", 400,
	  "final transfer coding is not chunked"),
	REQ(POST11 "Transfer-Encoding:\r\n\r\n", 400, "final transfer coding is not chunked"),
	REQ(POST11 "Transfer-Encoding: chunked;x=1\r\n\r\n", 400,
	  "final transfer coding is not chunked"),
	REQ(POST11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 400,
	  "chunked applied more than once"),
	REQ(POST11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	  "chunked applied more than once"),
	REQ(POST11 "Transfer-Encoding: \"chunked\"\r\n\r\n", 400, "malformed Transfer-Encoding"),
	REQ(POST11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported transfer coding"),
	REQ(POST11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501,
	  "unsupported transfer coding"),
	/* field lines (RFC 9112 §5) */
	REQ(H11 "Long: one\r\n two\r\n\r\n", 400, "obs-fold or whitespace before a field line"),
	REQ(H11 "Long: one\r\n\ttwo\r\n\r\n", 400, "obs-fold or whitespace before a field line"),
	REQ("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "obs-fold or whitespace before a field line"),
	REQ(H11 "Name : v\r\n\r\n", 400, "whitespace between field name and colon"),
	REQ(H11 "Name\t: v\r\n\r\n", 400, "whitespace between field name and colon"),
	REQ(H11 "Na me: v\r\n\r\n", 400, "whitespace between field name and colon"),
	REQ(H11 "Name v\r\n\r\n", 400, "whitespace between field name and colon"),
	REQ(H11 "Name\r\n\r\n", 400, "field line without a colon"),
	REQ(H11 ": v\r\n\r\n", 400, "empty field name"),
	REQ(H11 "Na@me: v\r\n\r\n", 400, "invalid character in field name"),
	REQ(H11 "Na\x80me: v\r\n\r\n", 400, "invalid character in field name"),
	REQ(H11 "Name: a\x01z\r\n\r\n", 400, "control character in field value"),
	REQ(H11 "Name: a\x7fz\r\n\r\n", 400, "control character in field value"),
	REQ(H11 "Name: a\x1b\r\n\r\n", 400, "control character in field value"),
	REQ(H11 "Name: a\0z\r\n\r\n", 400, "control character in field value"),
	REQ(H11 "Name: a\x0bz\r\n\r\n", 400, "control character in field value"),
	/* bare CR (RFC 9112 §2.2) */
	REQ(H11 "Name: a\rz\r\n\r\n", 400, "bare CR"),
	REQ(H11 "Name: a\r\r\n\r\n", 400, "bare CR"),
	REQ(H11 "Na\rme: a\r\n\r\n", 400, "bare CR"),
	REQ("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare CR"),
	REQ("GET\r/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare CR"),
	REQ("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare CR"),
	REQ("\r\n\rxGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare CR"),
	REQ(H11 "\r\r\n\r\n", 400, "bare CR"),
	/* bare LF (RFC 9112 §2.2 allows it; a proxy in front may not: smuggling) */
	REQ("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare LF"),
	REQ("GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF"),
	REQ(H11 "Dummy: x\nContent-Length: 23\r\n\r\n", 400, "bare LF"),
	REQ("GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare LF"),
	REQ(H11 "\n", 400, "bare LF"),
	REQ("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare LF"),
	REQ("\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare LF"),
	/* Host (RFC 9112 §3.2) */
	REQ("GET / HTTP/1.1\r\n\r\n", 400, "missing Host field"),
	REQ("GET / HTTP/1.1\r\nhost: a\r\nHOST: a\r\n\r\n", 400, "more than one Host field"),
	REQ(H10 "Host: a\r\nHost: b\r\n\r\n", 400, "more than one Host field"),
	REQ(H10 "Host: a b\r\n\r\n", 400, "invalid Host field"),
	REQ(H10 "Host: user@a\r\n\r\n", 400, "invalid Host field"),
	REQ(H10 "Host: a:b\r\n\r\n", 400, "invalid Host field"),
	REQ(H10 "Host: a/b\r\n\r\n", 400, "invalid Host field"),
	REQ(H10 "Host: [::1\r\n\r\n", 400, "invalid Host field"),
	REQ(H10 "Host: []\r\n\r\n", 400, "invalid Host field"),
	REQ(H10 "Host: [::1]x\r\n\r\n", 400, "invalid Host field"),
	REQ(H10 "Host: a%4\r\n\r\n", 400, "invalid Host field"),
	REQ(H10 "Host: a%zz\r\n\r\n", 400, "invalid Host field"),
	REQ(H10 "Content-Type: a\r\nContent-Type: b\r\n\r\n", 400, "conflicting Content-Type fields"),
	/* request line (RFC 9112 §3) */
	REQ("GET / HTTP/2.0\r\n\r\n", 505, "HTTP version not supported"),
	REQ("GET / HTTP/1.2\r\n\r\n", 505, "HTTP version not supported"),
	REQ("GET / HTTP/0.9\r\n\r\n", 505, "HTTP version not supported"),
	REQ("GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, "HTTP version not supported"),
	REQ("GET / HTTP/1.10\r\n\r\n", 400, "malformed HTTP version"),
	REQ("GET / HTTP/11\r\n\r\n", 400, "malformed HTTP version"),
	REQ("GET / http/1.1\r\n\r\n", 400, "malformed HTTP version"),
	REQ("GET / HTTP/1.1 \r\n\r\n", 400, "malformed HTTP version"),
	REQ("GET / HTTP/1.x\r\n\r\n", 400, "malformed HTTP version"),
	REQ("GET / \r\n\r\n", 400, "malformed HTTP version"),
	REQ("GET /\r\n\r\n", 400, "missing HTTP version"),
	REQ("GET  / HTTP/1.1\r\n\r\n", 400, "missing request-target"),
	REQ("GET /  HTTP/1.1\r\n\r\n", 400, "malformed HTTP version"),
	REQ("GET\t/ HTTP/1.1\r\n\r\n", 400, "invalid request method"),
	REQ("GET /\tHTTP/1.1\r\n\r\n", 400, "invalid character in request-target"),
	REQ("GET /a\x01 HTTP/1.1\r\n\r\n", 400, "invalid character in request-target"),
	REQ("GET /a\x7f HTTP/1.1\r\n\r\n", 400, "invalid character in request-target"),
	REQ("G@T / HTTP/1.1\r\n\r\n", 400, "invalid request method"),
	REQ("GET\r\n\r\n", 400, "invalid request method"),
	REQ(" GET / HTTP/1.1\r\n\r\n", 400, "invalid request method"),
	REQ("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "invalid request method"),
	REQ("GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request-target"),
	REQ("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request-target"),
	REQ("GET a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request-target"),
	REQ("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "asterisk-form target outside OPTIONS"),
	REQ("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "asterisk-form target outside OPTIONS"),
	REQ("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request-target"),
	REQ("GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid authority in request-target"),
	REQ("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400,
	  "invalid authority in request-target"),
	REQ("GET http://a:x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400,
	  "invalid authority in request-target"),
	REQ("CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", 400, "CONNECT needs an authority-form target"),
	REQ("CONNECT a: HTTP/1.1\r\nHost: a\r\n\r\n", 400, "CONNECT needs an authority-form target"),
	REQ("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "CONNECT needs an authority-form target"),
	REQ("CONNECT http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400,
	  "CONNECT needs an authority-form target"),
};

static const struct head_case acceptances[] = {
	REQ(H10 "\r\n", 0, NULL),
	REQ(H11 "\r\n", 0, NULL),
	REQ("get / HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL),
	REQ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL),
	REQ("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 0, NULL),
	REQ("CONNECT [::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL),
	REQ("GET http://a HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL),
	REQ("GET HTTPS://a:8443/p?q HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL),
	REQ("GET /\xa0\xff?\x80 HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL),
	REQ("GET /\"{}|\\^` HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL),
	REQ(H11 "Name: a\tb \x80\xff\r\n\r\n", 0, NULL),
	REQ(H11 "Name:\r\n\r\n", 0, NULL),
	REQ(H11 "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", 0, NULL),
	REQ(H10 "Host:\r\n\r\n", 0, NULL),
	REQ(H10 "Host: [v1.x]:80\r\n\r\n", 0, NULL),
	REQ(H10 "Host: a%41.b:\r\n\r\n", 0, NULL),
	REQ(H10 "Host: 127.0.0.1:8080\r\n\r\n", 0, NULL),
	REQ(H10 "Content-Type: a\r\nContent-Type: a\r\n\r\n", 0, NULL),
	REQ(POST11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 0, NULL),
	REQ(POST11 "Content-Length: 5, 5\r\n\r\n", 0, NULL),
	REQ(POST11 "Content-Length: 5,5 ,\t5\r\n\r\n", 0, NULL),
	REQ(POST11 "Content-Length: 9223372036854775807\r\n\r\n", 0, NULL),
	REQ(POST11 "Content-Length: 005\r\nContent-Length: 5\r\n\r\n", 0, NULL),
	REQ(POST11 "Transfer-Encoding: CHUNKED\r\n\r\n", 0, NULL),
	REQ(POST11 "Transfer-Encoding: ,chunked , \r\n\r\n", 0, NULL),
	REQ(POST11 "Content-Type: a\r\nTransfer-Encoding:\tchunked\t\r\n\r\n", 0, NULL),
};

static void check_head_cases(const struct head_case *cases, size_t n)
{
	struct guard g = guard_new(64 * 1024);
	struct parsed *p = malloc(sizeof *p);

	for (size_t i = 0; i < n; i++) {
		const struct head_case *c = &cases[i];
		size_t len = c->len;

		parse_checked(&g, c->raw, len, &default_limits, p);
		expect_prefixes_ok(p, c->raw);
		if (c->status == 0) {
			cr_expect_eq(p->rc, (ssize_t)len, "%s: %zd %s", c->raw, p->rc,
			             p->rc == HTTP1_ERROR ? p->req.error_reason : "");
			continue;
		}
		cr_expect(p->rc == HTTP1_ERROR && p->req.error_status == c->status &&
		          strcmp(p->req.error_reason, c->reason) == 0,
		          "%s: %zd %d %s, want %d %s", c->raw, p->rc, p->req.error_status,
		          p->rc == HTTP1_ERROR ? p->req.error_reason : "", c->status, c->reason);
	}
	free(p);
	guard_free(&g);
}

Test(http1_parse, rejections)
{
	check_head_cases(rejections, sizeof rejections / sizeof rejections[0]);
}

Test(http1_parse, acceptances)
{
	check_head_cases(acceptances, sizeof acceptances / sizeof acceptances[0]);
}

/* Parse a complete head with the default limits; the test fails unless it is accepted. */
static void parse_ok(struct guard *g, const char *raw, struct parsed *p)
{
	parse_checked(g, raw, strlen(raw), &default_limits, p);
	expect_prefixes_ok(p, raw);
	cr_assert_eq(p->rc, (ssize_t)strlen(raw), "%s: %zd %s", raw, p->rc,
	             p->rc == HTTP1_ERROR ? p->req.error_reason : "");
}

struct flag_case {
	const char *raw;
	bool want;
};

/* Each request of cases parses whole, and its flag(req) is the case's want. */
static void expect_flag_cases(const struct flag_case *cases, size_t n,
                              bool (*flag)(const struct http1_request *req))
{
	struct guard g = guard_new(4096);
	struct parsed *p = malloc(sizeof *p);

	for (size_t i = 0; i < n; i++) {
		parse_ok(&g, cases[i].raw, p);
		cr_expect_eq(flag(&p->req), cases[i].want, "%s", cases[i].raw);
	}
	free(p);
	guard_free(&g);
}

static bool keep_alive_of(const struct http1_request *req)
{
	return req->keep_alive;
}

static bool expect_continue_of(const struct http1_request *req)
{
	return req->expect_continue;
}

Test(http1_parse, keep_alive)
{
	static const struct flag_case cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, CLOSE\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: te,close,x\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: Close\r\n\r\n",
		  false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX-Connection: close\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\n\r\n", false },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\nConnection: foo , keep-alive\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false },
		{ "GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false },
		{ "GET / HTTP/1.0\r\nKeep-Alive: 300\r\n\r\n", false },
	};
	expect_flag_cases(cases, sizeof cases / sizeof cases[0], keep_alive_of);
}

Test(http1_parse, expect_continue)
{
	static const struct flag_case cases[] = {
		{ "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n", false },
		{ "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", true },
		{ "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n", true },
		{ "PUT / HTTP/1.1\r\nHost: a\r\nexpect:\t100-CONTINUE \r\n\r\n", true },
		{ "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", false },
		{ "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continued\r\n\r\n", false },
		/* RFC 9110 §10.1.1: a 1.0 request's expectation MUST be ignored */
		{ "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", false },
	};
	expect_flag_cases(cases, sizeof cases / sizeof cases[0], expect_continue_of);
}

Test(http1_parse, path_query_and_host)
{
	static const struct {
		const char *line; /* request line, Host: h follows */
		const char *path, *query, *host; /* query/host NULL: absent */
	} cases[] = {
		{ "GET / HTTP/1.1", "/", NULL, "h" },
		{ "GET /a/b?x=1&y=2 HTTP/1.1", "/a/b", "x=1&y=2", "h" },
		{ "GET /a? HTTP/1.1", "/a", "", "h" },
		{ "GET /a?b?c HTTP/1.1", "/a", "b?c", "h" },
		{ "GET /a#frag HTTP/1.1", "/a", NULL, "h" },
		{ "GET /a?q#f?g HTTP/1.1", "/a", "q", "h" },
		{ "GET /a#f?x HTTP/1.1", "/a", NULL, "h" },
		{ "GET //a//b HTTP/1.1", "//a//b", NULL, "h" },
		{ "GET /%2e%2E/x?%20 HTTP/1.1", "/%2e%2E/x", "%20", "h" },
		{ "GET http://example.com/p?q HTTP/1.1", "/p", "q", "example.com" },
		{ "GET http://example.com HTTP/1.1", "/", NULL, "example.com" },
		{ "GET https://example.com:8443?q HTTP/1.1", "/", "q", "example.com:8443" },
		{ "GET http://[::1]:8080/x HTTP/1.1", "/x", NULL, "[::1]:8080" },
		{ "OPTIONS * HTTP/1.1", "*", NULL, "h" },
		{ "CONNECT example.com:443 HTTP/1.1", "example.com:443", NULL, "h" },
	};
	struct guard g = guard_new(4096);
	struct parsed *p = malloc(sizeof *p);
	char raw[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(raw, sizeof raw, "%s\r\nHost: h\r\n\r\n", cases[i].line);
		parse_ok(&g, raw, p);
		cr_expect(str_eq(p->req.path, cases[i].path), "%s: path %s", raw,
		          show(p->req.path));
		if (cases[i].query)
			cr_expect(str_eq(p->req.query, cases[i].query), "%s: query %s", raw,
			          show(p->req.query));
		else
			cr_expect_null(p->req.query.p, "%s: query %s", raw, show(p->req.query));
		cr_expect(str_eq(p->req.host, cases[i].host), "%s: host %s", raw,
		          show(p->req.host));
	}
	free(p);
	guard_free(&g);
}

Test(http1_parse, fields_and_framing)
{
	static const char raw[] = "POST /up?x HTTP/1.1\r\n"
	                          "Host: example.com:80\r\n"
	                          "X-Empty:\r\n"
	                          "X-Pad: \t v a l \t \r\n"
	                          "content-LENGTH: 42\r\n"
	                          "X-Dup: 1\r\n"
	                          "x-dup: 2\r\n"
	                          "\r\n"
	                          "body";
	struct guard g = guard_new(4096);
	struct parsed *p = malloc(sizeof *p);
	const struct http1_request *req = &p->req;

	parse_checked(&g, raw, sizeof raw - 1, &default_limits, p);
	expect_prefixes_ok(p, raw);
	cr_assert_eq(p->rc, (ssize_t)(sizeof raw - 1 - 4));
	cr_expect(str_eq(req->method, "POST"));
	cr_expect(str_eq(req->target, "/up?x"));
	cr_expect_eq(req->minor_version, 1);
	cr_expect_eq(req->num_headers, 6);
	cr_expect_eq(req->headers, p->headers);
	cr_expect(str_eq(req->headers[1].name, "X-Empty") && req->headers[1].value.len == 0);
	cr_expect(str_eq(req->headers[2].value, "v a l"));
	cr_expect_eq(req->body_kind, HTTP1_BODY_LENGTH);
	cr_expect_eq(req->content_length, 42);
	cr_expect(str_eq(req->host, "example.com:80"));
	cr_expect(req->keep_alive && !req->expect_continue);

	const struct http1_header *h = http1_find_header(req, "x-DUP");
	cr_expect(h == &req->headers[4] && str_eq(h->value, "1"));
	cr_expect_eq(http1_find_header(req, "Content-Length"), &req->headers[3]);
	cr_expect_null(http1_find_header(req, "X-Du"));
	cr_expect_null(http1_find_header(req, "X-Dupe"));
	cr_expect_null(http1_find_header(req, ""));

	parse_ok(&g, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", p);
	cr_expect_eq(req->body_kind, HTTP1_BODY_CHUNKED);
	parse_ok(&g, "POST / HTTP/1.1\r\nHost: a\r\n\r\n", p);
	cr_expect_eq(req->body_kind, HTTP1_BODY_NONE);
	cr_expect_eq(req->num_headers, 1);
	parse_ok(&g, "POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n", p);
	cr_expect_eq(req->body_kind, HTTP1_BODY_LENGTH);
	cr_expect_eq(req->content_length, 0);
	cr_expect_eq(req->minor_version, 0);
	cr_expect_null(req->host.p);
	parse_ok(&g, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n",
	         p);
	cr_expect_eq(req->content_length, (uint64_t)INT64_MAX);
	parse_ok(&g, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n\r\n", p);
	cr_expect_eq(req->content_length, 7);
	parse_ok(&g, "GET / HTTP/1.1\r\nHost:\r\n\r\n", p);
	cr_expect(req->host.p != NULL && req->host.len == 0);
	free(p);
	guard_free(&g);
}

Test(http1_parse, leading_empty_lines_are_skipped)
{
	static const char *const cases[] = {
		"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	};
	struct guard g = guard_new(4096);
	struct parsed *p = malloc(sizeof *p);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		parse_ok(&g, cases[i], p);
		cr_expect(str_eq(p->req.method, "GET"));
		cr_expect(p->req.method.p == strchr(cases[i], 'G'));
	}
	/* only empty lines so far: wait for more */
	cr_expect_eq(http1_parse_request("\r\n\r\n\r", 5, &p->req, p->headers, &default_limits),
	             HTTP1_INCOMPLETE);
	free(p);
	guard_free(&g);
}

/* Before the head is complete, the request line and the limits are checked,
 * the field lines only counted: what a prefix can already tell. */
Test(http1_parse, what_an_unfinished_head_is_checked_for)
{
	static const struct head_case cases[] = {
		REQ("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", 400, "malformed HTTP version"),
		REQ("HTTP/1.1 200 OK\r\n", 400, "invalid request method"),
		REQ("GET / HTTP/2.0\r\n", 505, "HTTP version not supported"),
		REQ("GET foo HTTP/1.1\r\nHost: a\r\n", 400, "invalid request-target"),
		REQ("\x16\x03\x01", 400, "invalid request method"),
		REQ("GET / HTTP/1.1\r\nNo colon\r\n", HTTP1_INCOMPLETE, NULL),
		REQ("GET / HTTP/1.1\r\nA: \x01\r\n", HTTP1_INCOMPLETE, NULL),
		REQ("GET / HTTP/1.1\r\nA: 1\r\n fold\r\n", HTTP1_INCOMPLETE, NULL),
	};
	struct parsed *p = malloc(sizeof *p);
	struct guard g = guard_new(4096);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		parse_checked(&g, cases[i].raw, cases[i].len, &default_limits, p);
		expect_prefixes_ok(p, cases[i].raw);
		if (cases[i].status == HTTP1_INCOMPLETE)
			cr_expect_eq(p->rc, HTTP1_INCOMPLETE, "%s: %zd", cases[i].raw, p->rc);
		else
			cr_expect(p->rc == HTTP1_ERROR && p->req.error_status == cases[i].status &&
			          strcmp(p->req.error_reason, cases[i].reason) == 0,
			          "%s: %zd %d", cases[i].raw, p->rc, p->req.error_status);
	}
	free(p);
	guard_free(&g);
}

Test(http1_parse, pipelined_requests_are_parsed_one_at_a_time)
{
	static const char raw[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
	                          "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
	struct parsed *p = malloc(sizeof *p);
	ssize_t rc = http1_parse_request(raw, sizeof raw - 1, &p->req, p->headers, &default_limits);

	cr_assert_eq(rc, (ssize_t)(sizeof raw - 1) / 2);
	cr_expect(str_eq(p->req.target, "/1"));
	rc = http1_parse_request(raw + rc, sizeof raw - 1 - (size_t)rc, &p->req, p->headers,
	                         &default_limits);
	cr_assert_eq(rc, (ssize_t)(sizeof raw - 1) / 2);
	cr_expect(str_eq(p->req.target, "/2"));
	free(p);
}

/* ---- limits ------------------------------------------------------------------------- */

static char *repeat(const char *head, char c, size_t n, const char *tail)
{
	size_t h = strlen(head), t = strlen(tail);
	char *s = malloc(h + n + t + 1);

	memcpy(s, head, h);
	memset(s + h, c, n);
	memcpy(s + h + n, tail, t + 1);
	return s;
}

static void expect_parse(struct guard *g, const char *raw, const struct http1_limits *lim,
                         ssize_t rc, int status)
{
	struct parsed *p = malloc(sizeof *p);

	parse_checked(g, raw, strlen(raw), lim, p);
	expect_prefixes_ok(p, "limits");
	cr_expect_eq(p->rc, rc, "%zu bytes: %zd %s, want %zd", strlen(raw), p->rc,
	             p->rc == HTTP1_ERROR ? p->req.error_reason : "", rc);
	if (rc == HTTP1_ERROR)
		cr_expect_eq(p->req.error_status, status);
	free(p);
}

/* An input built at run time, head + n times fill + tail (repeat()), and what
 * the parser must answer: rc (WHOLE_INPUT: the whole input is the head) and,
 * with HTTP1_ERROR, the status. */
struct limit_case {
	const char *head, *tail;
	char fill;
	size_t n;
	ssize_t rc;
	int status;
};
#define WHOLE_INPUT SSIZE_MAX

static void expect_limit_cases(struct guard *g, const struct http1_limits *lim,
                               const struct limit_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct limit_case *c = &cases[i];
		char *raw = repeat(c->head, c->fill, c->n, c->tail);
		expect_parse(g, raw, lim, c->rc == WHOLE_INPUT ? (ssize_t)strlen(raw) : c->rc,
		             c->status);
		free(raw);
	}
}

Test(http1_limits, request_line)
{
	const struct http1_limits lim = { .max_request_line = 100, .max_head = 1000,
		                          .max_headers = 10 };
	/* "GET /" + n + " HTTP/1.0": 14 + n bytes */
	static const struct limit_case cases[] = {
		{ "GET /", " HTTP/1.0\r\n\r\n", 'a', 86, WHOLE_INPUT, 0 },
		{ "GET /", " HTTP/1.0\r\n\r\n", 'a', 87, HTTP1_ERROR, 414 },
		{ "GET /", " HTTP/1.0\n\n", 'a', 87, HTTP1_ERROR, 414 },
		/* 101 bytes and no line end yet: 414 at once */
		{ "GET /", "", 'a', 96, HTTP1_ERROR, 414 },
		/* 100 bytes and a CR: the line may still end in time */
		{ "GET /", "\r", 'a', 95, HTTP1_INCOMPLETE, 0 },
	};
	struct guard g = guard_new(4096);
	expect_limit_cases(&g, &lim, cases, sizeof cases / sizeof cases[0]);
	guard_free(&g);
}

Test(http1_limits, head_size)
{
	const struct http1_limits lim = { .max_request_line = 100, .max_head = 200,
		                          .max_headers = 10 };
	/* 19 + n + 4 bytes */
	static const struct limit_case cases[] = {
		{ "GET / HTTP/1.0\r\nX: ", "\r\n\r\n", 'v', 177, WHOLE_INPUT, 0 },
		{ "GET / HTTP/1.0\r\nX: ", "\r\n\r\n", 'v', 178, HTTP1_ERROR, 431 },
		/* its bare LF (byte 199) comes before the limit (byte 200): 400 first */
		{ "GET / HTTP/1.0\r\nX: ", "\n\n", 'v', 180, HTTP1_ERROR, 400 },
		{ "GET / HTTP/1.0\r\nX: ", "", 'v', 182, HTTP1_ERROR, 431 },
		{ "GET / HTTP/1.0\r\nX: ", "", 'v', 181, HTTP1_INCOMPLETE, 0 },
	};
	struct guard g = guard_new(4096);
	expect_limit_cases(&g, &lim, cases, sizeof cases / sizeof cases[0]);
	char *empty_lines = malloc(203); /* 101 CRLFs: past max_head before any request line */
	for (int i = 0; i < 101; i++)
		memcpy(empty_lines + 2 * i, "\r\n", 3);
	expect_parse(&g, empty_lines, &lim, HTTP1_ERROR, 431);
	free(empty_lines);
	guard_free(&g);
}

Test(http1_limits, header_count)
{
	const struct http1_limits lim = { .max_request_line = 100, .max_head = 1000,
		                          .max_headers = 3 };
	struct guard g = guard_new(4096);

	expect_parse(&g, "GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &lim, 36, 0);
	expect_parse(&g, "GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", &lim,
	             HTTP1_ERROR, 431);
	/* the fourth field line is complete, the head is not: 431 already */
	expect_parse(&g, "GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n", &lim,
	             HTTP1_ERROR, 431);
	expect_parse(&g, "GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4", &lim,
	             HTTP1_INCOMPLETE, 0);

	const struct http1_limits none = { .max_request_line = 100, .max_head = 1000,
		                           .max_headers = 0 };
	expect_parse(&g, "GET / HTTP/1.0\r\n\r\n", &none, 18, 0);
	expect_parse(&g, "GET / HTTP/1.0\r\nA: 1\r\n\r\n", &none, HTTP1_ERROR, 431);
	guard_free(&g);
}

/* The parser reads nothing past max_head, whatever len says. */
Test(http1_limits, nothing_past_max_head_is_read)
{
	const struct http1_limits lim = { .max_request_line = 100, .max_head = 64,
		                          .max_headers = 10 };
	struct guard g = guard_new(4096);
	struct parsed *p = malloc(sizeof *p);
	char *head = repeat("GET / HTTP/1.1\r\nHost: a\r\nX: ", 'x', 64 - 29, "");
	const char *at_guard = guard_place(&g, head, 64);

	cr_assert_eq(http1_parse_request(at_guard, 1 << 20, &p->req, p->headers, &lim),
	             HTTP1_ERROR);
	cr_expect_eq(p->req.error_status, 431);
	free(head);
	free(p);
	guard_free(&g);
}

/* ---- chunked decoder ------------------------------------------------------------------ */

struct chunked_case {
	const char *raw;
	size_t len;
	ssize_t rc;          /* bytes consumed when done, HTTP1_ERROR or HTTP1_INCOMPLETE */
	const char *decoded; /* all of it when done; what came before the end otherwise */
	size_t decoded_len;
};

#define BODY(raw, rc, decoded) { raw, sizeof(raw) - 1, rc, decoded, sizeof(decoded) - 1 }
#define BODY_ALL(raw, decoded) BODY(raw, sizeof(raw) - 1, decoded)

static const struct chunked_case chunked_cases[] = {
	BODY_ALL("0\r\n\r\n", ""),
	BODY_ALL("5\r\nhello\r\n0\r\n\r\n", "hello"),
	BODY_ALL("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"),
	BODY_ALL("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij"),
	BODY_ALL("0005\r\nhello\r\n000\r\n\r\n", "hello"),
	BODY_ALL("5;a=b;c=\"d e\"\r\nhello\r\n0;last\r\n\r\n", "hello"),
	BODY_ALL("5 \t;x\r\nhello\r\n0\r\n\r\n", "hello"),
	BODY_ALL("5;\x80\xff\r\nhello\r\n0\r\n\r\n", "hello"),
	BODY_ALL("1\r\n\0\r\n0\r\n\r\n", "\0"),
	BODY_ALL("5\r\nhello\r\n0\r\nA: b\r\nCc:\r\nD:\t e \x80\r\n\r\n", "hello"),
	/* the body ends at the last CRLF: what follows is the next request */
	BODY("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 15, "hello"),
	BODY("0\r\n\r\n\r\n", 5, ""),
	/* incomplete */
	BODY("", HTTP1_INCOMPLETE, ""),
	BODY("5", HTTP1_INCOMPLETE, ""),
	BODY("5\r\nhel", HTTP1_INCOMPLETE, "hel"),
	BODY("5\r\nhello\r", HTTP1_INCOMPLETE, "hello"),
	BODY("5\r\nhello\r\n0\r\n", HTTP1_INCOMPLETE, "hello"),
	BODY("5\r\nhello\r\n0\r\nA: b\r\n", HTTP1_INCOMPLETE, "hello"),
	BODY("7fffffffffffffff\r\nabc", HTTP1_INCOMPLETE, "abc"),
	/* malformed sizes */
	BODY("\r\nhello\r\n0\r\n\r\n", HTTP1_ERROR, ""),
	BODY(" 5\r\nhello\r\n0\r\n\r\n", HTTP1_ERROR, ""),
	BODY("5 \r\nhello\r\n0\r\n\r\n", HTTP1_ERROR, ""),
	BODY("-5\r\nhello\r\n", HTTP1_ERROR, ""),
	BODY("+5\r\nhello\r\n", HTTP1_ERROR, ""),
	BODY("0x5\r\nhello\r\n", HTTP1_ERROR, ""),
	BODY("5_0\r\nhello\r\n", HTTP1_ERROR, ""),
	BODY(";x\r\nhello\r\n", HTTP1_ERROR, ""),
	BODY("8000000000000000\r\n", HTTP1_ERROR, ""),
	BODY("10000000000000000\r\n", HTTP1_ERROR, ""),
	BODY_ALL("00000000000000000000000000000005\r\nhello\r\n0\r\n\r\n", "hello"),
	/* line ends */
	BODY("5\nhello\r\n0\r\n\r\n", HTTP1_ERROR, ""),
	BODY("5\r\nhello\n0\r\n\r\n", HTTP1_ERROR, "hello"),
	BODY("5\r\nhello\r\n0\n\r\n", HTTP1_ERROR, "hello"),
	BODY("5\rX\nhello\r\n", HTTP1_ERROR, ""),
	BODY("5;a\rb\r\nhello\r\n", HTTP1_ERROR, ""),
	BODY("5;a\nhello\r\n", HTTP1_ERROR, ""),
	BODY("5;a\x01\r\nhello\r\n", HTTP1_ERROR, ""),
	BODY("5;a\x7f\r\nhello\r\n", HTTP1_ERROR, ""),
	BODY("5\r\nhelloX\r\n0\r\n\r\n", HTTP1_ERROR, "hello"),
	BODY("5\r\nhello\r\r\n0\r\n\r\n", HTTP1_ERROR, "hello"),
	/* trailer section */
	BODY("0\r\n A: b\r\n\r\n", HTTP1_ERROR, ""),
	BODY("0\r\nA: b\r\n c\r\n\r\n", HTTP1_ERROR, ""),
	BODY("0\r\nA b\r\n\r\n", HTTP1_ERROR, ""),
	BODY("0\r\nA\r\n\r\n", HTTP1_ERROR, ""),
	BODY("0\r\n: b\r\n\r\n", HTTP1_ERROR, ""),
	BODY("0\r\nA: b\x01\r\n\r\n", HTTP1_ERROR, ""),
	BODY("0\r\nA: b\rc\r\n\r\n", HTTP1_ERROR, ""),
	BODY("0\r\n\rX", HTTP1_ERROR, ""),
	/* trailer lines end in CRLF too */
	BODY("5\r\nhello\r\n0\r\nA: b\nC: d\r\n\r\n", HTTP1_ERROR, "hello"),
	BODY("5\r\nhello\r\n0\r\nA: b\r\n\n", HTTP1_ERROR, "hello"),
	BODY("0\r\n\n", HTTP1_ERROR, ""),
};

Test(http1_chunked, table)
{
	struct guard g = guard_new(4096);

	for (size_t i = 0; i < sizeof chunked_cases / sizeof chunked_cases[0]; i++) {
		const struct chunked_case *c = &chunked_cases[i];
		struct dechunked d = check_chunked(&g, c->raw, c->len, 0, c->raw);

		cr_expect_eq(d.rc, c->rc, "%s: %zd, want %zd", c->raw, d.rc, c->rc);
		if (d.rc != HTTP1_ERROR)
			cr_expect(d.len == c->decoded_len && memcmp(d.data, c->decoded, d.len) == 0,
			          "%s: decoded %.*s", c->raw, (int)d.len, d.data);
		free(d.data);
	}
	guard_free(&g);
}

/* A chunked body built at run time, head + n times fill + tail (repeat()), and
 * what the decoder (max_trailer, 0: the default) must answer: the whole body
 * (WHOLE_INPUT) or HTTP1_ERROR. */
struct bound_case {
	const char *what, *head, *tail;
	char fill;
	size_t n;
	size_t max_trailer;
	ssize_t rc;
};

static void expect_bound_cases(size_t room, const struct bound_case *cases, size_t n)
{
	struct guard g = guard_new(room);

	for (size_t i = 0; i < n; i++) {
		const struct bound_case *c = &cases[i];
		char *raw = repeat(c->head, c->fill, c->n, c->tail);
		ssize_t want = c->rc == WHOLE_INPUT ? (ssize_t)strlen(raw) : c->rc;
		struct dechunked d = check_chunked(&g, raw, strlen(raw), c->max_trailer, c->what);
		cr_expect_eq(d.rc, want, "%s: %zd, want %zd", c->what, d.rc, want);
		free(d.data);
		free(raw);
	}
	guard_free(&g);
}

Test(http1_chunked, size_line_is_bounded)
{
	static const struct bound_case cases[] = {
		{ "4000-byte extension", "5;", "\r\nhello\r\n0\r\n\r\n", 'x', 4000, 0,
		  WHOLE_INPUT },
		{ "5000-byte extension", "5;", "\r\nhello\r\n0\r\n\r\n", 'x', 5000, 0,
		  HTTP1_ERROR },
		{ "5000 zeros", "", "5\r\nhello\r\n0\r\n\r\n", '0', 5000, 0, HTTP1_ERROR },
	};
	expect_bound_cases(16384, cases, sizeof cases / sizeof cases[0]);
}

Test(http1_chunked, trailer_section_is_bounded)
{
	/* trailer section: "X: " + n + "\r\n" + "\r\n" = n + 7 bytes */
	static const struct bound_case cases[] = {
		{ "at max_trailer", "0\r\nX: ", "\r\n\r\n", 'v', 93, 100, WHOLE_INPUT },
		{ "over max_trailer", "0\r\nX: ", "\r\n\r\n", 'v', 94, 100, HTTP1_ERROR },
		{ "at the default", "0\r\nX: ", "\r\n\r\n", 'v', 8192 - 7, 0, WHOLE_INPUT },
		{ "over the default", "0\r\nX: ", "\r\n\r\n", 'v', 8192, 0, HTTP1_ERROR },
	};
	expect_bound_cases(32768, cases, sizeof cases / sizeof cases[0]);
}

Test(http1_chunked, contract)
{
	struct http1_chunked d = { 0 };
	const char *data = (const char *)1;
	size_t data_len = 99;
	static const char body[] = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT";

	/* one data span per call, returned right after it */
	cr_assert_eq(http1_chunked_decode(&d, body, sizeof body - 1, &data, &data_len), 6);
	cr_expect(data == body + 3 && data_len == 3 && !d.done);
	cr_assert_eq(http1_chunked_decode(&d, body + 6, sizeof body - 7, &data, &data_len), 7);
	cr_expect(data == body + 11 && data_len == 2 && !d.done);
	cr_assert_eq(http1_chunked_decode(&d, body + 13, sizeof body - 14, &data, &data_len), 7);
	cr_expect(data == NULL && data_len == 0 && d.done);
	cr_expect(memcmp(body + 20, "NEXT", 4) == 0);
	/* once done, nothing more is taken */
	cr_expect_eq(http1_chunked_decode(&d, "NEXT", 4, &data, &data_len), 0);
	cr_expect(d.done && data_len == 0);
	/* nothing in, nothing out */
	struct http1_chunked fresh = { 0 };
	cr_expect_eq(http1_chunked_decode(&fresh, body, 0, &data, &data_len), 0);
	cr_expect(!fresh.done && data_len == 0);
	/* an error sticks */
	struct http1_chunked bad = { 0 };
	cr_expect_eq(http1_chunked_decode(&bad, "z", 1, &data, &data_len), HTTP1_ERROR);
	cr_expect_eq(http1_chunked_decode(&bad, "0\r\n\r\n", 5, &data, &data_len), HTTP1_ERROR);
	cr_expect_eq(http1_chunked_decode(&bad, "", 0, &data, &data_len), HTTP1_ERROR);
	cr_expect(!bad.done);
}

/* ---- small helpers of the API ----------------------------------------------------------- */

Test(http1_misc, is_tchar)
{
	static const char tchars[] = "!#$%&'*+-.^_`|~0123456789"
	                             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	for (int c = 0; c < 256; c++)
		cr_expect_eq(http1_is_tchar((unsigned char)c), c != 0 && strchr(tchars, c) != NULL,
		             "0x%02x", c);
}

Test(http1_misc, reason)
{
	static const struct {
		int status;
		const char *reason;
	} cases[] = {
		{ 100, "Continue" }, { 101, "Switching Protocols" }, { 200, "OK" },
		{ 201, "Created" }, { 202, "Accepted" }, { 203, "Non-Authoritative Information" },
		{ 204, "No Content" }, { 205, "Reset Content" }, { 206, "Partial Content" },
		{ 301, "Moved Permanently" }, { 302, "Found" }, { 303, "See Other" },
		{ 304, "Not Modified" }, { 305, "Use Proxy" }, { 307, "Temporary Redirect" },
		{ 308, "Permanent Redirect" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 402, "Payment Required" }, { 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
		{ 407, "Proxy Authentication Required" }, { 408, "Request Timeout" },
		{ 409, "Conflict" }, { 410, "Gone" }, { 411, "Length Required" },
		{ 412, "Precondition Failed" }, { 413, "Content Too Large" },
		{ 414, "URI Too Long" },
		{ 415, "Unsupported Media Type" }, { 416, "Range Not Satisfiable" },
		{ 417, "Expectation Failed" }, { 421, "Misdirected Request" },
		{ 422, "Unprocessable Content" }, { 426, "Upgrade Required" },
		{ 429, "Too Many Requests" }, { 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" },
		{ 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
		{ 505, "HTTP Version Not Supported" }, { 0, "Unknown" }, { 299, "Unknown" },
		{ 306, "Unknown" }, { 600, "Unknown" }, { -1, "Unknown" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_str_eq(http1_reason(cases[i].status), cases[i].reason, "%d",
		                 cases[i].status);
}

Test(http1_misc, chunk_header)
{
	static const struct {
		size_t n;
		const char *text;
	} cases[] = {
		{ 0, "0\r\n" }, { 1, "1\r\n" }, { 15, "f\r\n" }, { 16, "10\r\n" },
		{ 4096, "1000\r\n" }, { 0xdeadbeef, "deadbeef\r\n" },
		{ SIZE_MAX, "ffffffffffffffff\r\n" },
	};
	char out[20];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(out, 'X', sizeof out);
		cr_expect_eq(http1_chunk_header(out, cases[i].n), strlen(cases[i].text));
		cr_expect_str_eq(out, cases[i].text);
	}
	/* what it writes, the decoder reads */
	struct http1_chunked d = { 0 };
	const char *data;
	size_t data_len;
	size_t len = http1_chunk_header(out, 3);
	cr_expect_eq(http1_chunked_decode(&d, out, len, &data, &data_len), (ssize_t)len);
	cr_expect_eq(d.remaining, 3);
}

Test(http1_misc, format_date)
{
	char out[30];

	http1_format_date(out, 784111777);
	cr_expect_str_eq(out, "Sun, 06 Nov 1994 08:49:37 GMT");
	http1_format_date(out, 0);
	cr_expect_str_eq(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	http1_format_date(out, 951782400);
	cr_expect_str_eq(out, "Tue, 29 Feb 2000 00:00:00 GMT");
	http1_format_date(out, 253402300799);
	cr_expect_str_eq(out, "Fri, 31 Dec 9999 23:59:59 GMT");
	/* no IMF-fixdate past 9999: 1970 rather than a malformed date */
	http1_format_date(out, 253402300800);
	cr_expect_str_eq(out, "Thu, 01 Jan 1970 00:00:00 GMT");
	for (time_t t = 0; t < 4000000000; t += 86400 * 7 + 3661) {
		http1_format_date(out, t);
		cr_assert_eq(strlen(out), 29);
		cr_assert_eq(http1_parse_date(out, 29), t, "%s", out);
	}
}

Test(http1_misc, parse_date)
{
	static const struct {
		const char *text;
		time_t t;
	} cases[] = {
		/* RFC 9110 §5.6.7's three forms of one instant */
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 },
		{ "Sunday, 06-Nov-94 08:49:37 GMT", 784111777 },
		{ "Sun Nov  6 08:49:37 1994", 784111777 },
		{ "Sun Nov 16 08:49:37 1994", 784111777 + 10 * 86400 },
		{ "Thu, 01 Jan 1970 00:00:00 GMT", 0 },
		{ "Tue, 29 Feb 2000 12:00:00 GMT", 951825600 },
		{ "Wednesday, 01-Jan-20 00:00:00 GMT", 1577836800 },
		{ "Sat, 31 Dec 2005 23:59:60 GMT", 1136073600 },
		/* malformed */
		{ "", -1 },
		{ "Sun, 06 Nov 1994 08:49:37 UTC", -1 },
		{ "Sun, 06 Nov 1994 08:49:37 gmt", -1 },
		{ "sun, 06 Nov 1994 08:49:37 GMT", -1 },
		{ "Sun, 6 Nov 1994 08:49:37 GMT", -1 },
		{ "Sun, 06 Nov 94 08:49:37 GMT", -1 },
		{ "Sun, 06 nov 1994 08:49:37 GMT", -1 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT ", -1 },
		{ " Sun, 06 Nov 1994 08:49:37 GMT", -1 },
		{ "Sun, 06 Nov 1994 8:49:37 GMT", -1 },
		{ "Sun, 06 Nov 1994 24:00:00 GMT", -1 },
		{ "Sun, 06 Nov 1994 08:60:00 GMT", -1 },
		{ "Sun, 06 Nov 1994 08:49:61 GMT", -1 },
		{ "Sun, 00 Nov 1994 08:49:37 GMT", -1 },
		{ "Sun, 31 Nov 1994 08:49:37 GMT", -1 },
		{ "Thu, 29 Feb 1900 08:49:37 GMT", -1 },
		{ "Sun, 06 Nov 1994 08:49:37", -1 },
		{ "Xyz, 06 Nov 1994 08:49:37 GMT", -1 },
		{ "Sun, 06-Nov-94 08:49:37 GMT", -1 },
		{ "Sunday, 06 Nov 1994 08:49:37 GMT", -1 },
		{ "Sunday, 06-Nov-1994 08:49:37 GMT", -1 },
		{ "Sun Nov 6 08:49:37 1994", -1 },
		{ "Sun Nov  6 08:49:37 94", -1 },
		{ "Sun Nov 06 08:49:37 1994 GMT", -1 },
		{ "784111777", -1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(http1_parse_date(cases[i].text, strlen(cases[i].text)), cases[i].t,
		             "%s: %lld", cases[i].text,
		             (long long)http1_parse_date(cases[i].text, strlen(cases[i].text)));
	/* only len bytes are read */
	cr_expect_eq(http1_parse_date("Sun, 06 Nov 1994 08:49:37 GMTxyz", 29), 784111777);
}

/* ---- guard page ------------------------------------------------------------------------ */

/* Requests that reach every path of the parser, each parsed at every prefix
 * length right before a PROT_NONE page: a read past the bytes given faults. */
Test(http1_guard, every_prefix_before_a_guard_page)
{
	static const char *const requests[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		("\r\n\r\nPOST /p?q=1#f HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 5, 5\r\n"
		 "Connection: keep-alive, close\r\nExpect: 100-continue\r\n\r\nhello"),
		"PUT http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET https://a:1/x HTTP/1.1\r\nHost: a%41\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"OPTIONS * HTTP/1.0\r\nX: \x80\xff\t\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n fold\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX",
		"GET / HTTP/1.1\r",
		"\r",
		"G",
	};
	struct guard g = guard_new(4096);
	struct parsed *p = malloc(sizeof *p);

	for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
		parse_checked(&g, requests[i], strlen(requests[i]), &default_limits, p);
		expect_prefixes_ok(p, requests[i]);
		/* and with limits that end inside the input */
		for (size_t max = 1; max < strlen(requests[i]); max += 7) {
			const struct http1_limits lim = { .max_request_line = max, .max_head = max,
				                          .max_headers = 2 };
			parse_checked(&g, requests[i], strlen(requests[i]), &lim, p);
			expect_prefixes_ok(p, requests[i]);
		}
	}
	free(p);
	guard_free(&g);
}

/* ---- the response side -------------------------------------------------- */

Test(http1_status_line, table)
{
	static const struct {
		const char *in;
		ssize_t rc; /* > 0: the line's length */
		int status;
		const char *reason;
	} cases[] = {
		{"HTTP/1.1 200 OK\r\nX: y", 17, 200, "OK"},
		{"HTTP/1.0 404 Not Found\n", 23, 404, "Not Found"},
		{"HTTP/1.1 204\r\n", 14, 204, ""},
		{"HTTP/1.1 204 \r\n", 15, 204, ""},
		{"HTTP/1.1 599 Own Reason, with commas\r\n", 38, 599, "Own Reason, with commas"},
		{"HTTP/1.1 200 OK", HTTP1_INCOMPLETE, 0, NULL},
		{"HTTP/1.1 2", HTTP1_INCOMPLETE, 0, NULL},
		{"HTTP/1.1 099 Low\r\n", HTTP1_ERROR, 0, NULL},
		{"HTTP/1.1 20 OK\r\n", HTTP1_ERROR, 0, NULL},
		{"HTTP/1.1 2000 OK\r\n", HTTP1_ERROR, 0, NULL},
		{"HTTP/1.1  200 OK\r\n", HTTP1_ERROR, 0, NULL},
		{"HTTP/11 200 OK\r\n", HTTP1_ERROR, 0, NULL},
		{"http/1.1 200 OK\r\n", HTTP1_ERROR, 0, NULL},
		{"Status: 200 OK\r\n", HTTP1_ERROR, 0, NULL},
		{"HTTP/1.1 200 O\x01K\r\n", HTTP1_ERROR, 0, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int status = 0;
		struct http1_str reason = {0};
		ssize_t rc = http1_parse_status_line(cases[i].in, strlen(cases[i].in), 64, &status,
		                                     &reason);
		cr_expect_eq(rc, cases[i].rc, "%zu \"%s\": %zd, want %zd", i, cases[i].in, rc,
		             cases[i].rc);
		if (rc > 0) {
			cr_expect_eq(status, cases[i].status, "%zu: status %d", i, status);
			cr_expect(str_eq(reason, cases[i].reason), "%zu: reason \"%.*s\"", i,
			          (int)reason.len, reason.p);
		}
	}
	/* no line end within max: an error, not a wait without end */
	int status;
	struct http1_str reason;
	cr_expect_eq(http1_parse_status_line("HTTP/1.1 200 OK", 15, 10, &status, &reason),
	             HTTP1_ERROR);
}

Test(http1_hop_by_hop, rfc9110_list_and_connection_nominees)
{
	static const struct http1_header fields[] = {
		{ {"Connection", 10}, {"X-Private, close", 16} },
		{ {"connection", 10}, {" x-other ", 9} },
	};
	static const struct {
		const char *name;
		bool hop;
	} cases[] = {
		{"Connection", true}, {"Proxy-Connection", true}, {"keep-alive", true},
		{"TE", true}, {"Transfer-Encoding", true}, {"Upgrade", true},
		{"X-Private", true}, {"x-private", true}, {"X-Other", true}, {"close", true},
		{"Trailer", false}, {"Content-Length", false}, {"X-Privat", false},
		{"X-Private-2", false}, {"Date", false},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http1_str name = {cases[i].name, strlen(cases[i].name)};
		cr_expect_eq(http1_is_hop_by_hop(name, fields, 2), cases[i].hop, "%s", cases[i].name);
	}
	struct http1_str xp = {"X-Private", 9};
	cr_expect_not(http1_is_hop_by_hop(xp, fields, 0), "no Connection field: no nominees");
}
