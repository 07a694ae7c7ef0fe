/* CGI/1.1 response header block (RFC 3875 §6): one pass over the lines,
 * views into the caller's buffer, no allocation. */
#include "protocols/cgi.h"

#include <string.h>

/* What the block said so far, beyond what struct cgi_response holds. */
struct block_state {
	bool has_status;
	size_t max_headers;
};

static ssize_t fail(struct cgi_response *resp, const char *reason)
{
	resp->error_reason = reason;
	return CGI_ERROR;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static ssize_t check_name(struct cgi_response *resp, struct http1_str name)
{
	if (name.len == 0)
		return fail(resp, "empty field name");
	if (is_ows(name.p[name.len - 1]))
		return fail(resp, "whitespace before colon");
	for (size_t i = 0; i < name.len; i++) {
		if (!http1_is_tchar((unsigned char)name.p[i]))
			return fail(resp, "field name is not a token");
	}
	return 0;
}

static struct http1_str trim_ows(const char *p, const char *end)
{
	while (p < end && is_ows(*p))
		p++;
	while (end > p && is_ows(end[-1]))
		end--;
	return (struct http1_str){ p, (size_t)(end - p) };
}

/* HTAB is the only control character a field value may hold. */
static bool has_ctl(struct http1_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return true;
	}
	return false;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "404", "404 Not Found": three digits in 100..599, then whitespace and a reason. */
static ssize_t parse_status(struct cgi_response *resp, struct http1_str v)
{
	if (v.len < 3 || !is_digit(v.p[0]) || !is_digit(v.p[1]) || !is_digit(v.p[2]))
		return fail(resp, "invalid Status");
	int code = (v.p[0] - '0') * 100 + (v.p[1] - '0') * 10 + (v.p[2] - '0');
	if (code < 100 || code > 599)
		return fail(resp, "invalid Status");
	if (v.len > 3 && !is_ows(v.p[3]))
		return fail(resp, "invalid Status");

	resp->status = code;
	resp->reason = trim_ows(v.p + 3, v.p + v.len);
	if (resp->reason.len == 0)
		resp->reason.p = NULL;
	return 0;
}

static ssize_t add_header(struct cgi_response *resp, const struct block_state *st,
                          struct http1_str name, struct http1_str value)
{
	if (resp->num_headers == st->max_headers)
		return fail(resp, "too many header fields");
	resp->headers[resp->num_headers].name = name;
	resp->headers[resp->num_headers].value = value;
	resp->num_headers++;
	return 0;
}

/* One field line, its end of line removed. */
static ssize_t parse_field(struct cgi_response *resp, struct block_state *st, const char *line,
                           size_t len)
{
	const char *colon = memchr(line, ':', len);
	if (!colon)
		return fail(resp, "line with no colon");
	struct http1_str name = { line, (size_t)(colon - line) };
	if (check_name(resp, name) < 0)
		return CGI_ERROR;
	struct http1_str value = trim_ows(colon + 1, line + len);
	if (has_ctl(value))
		return fail(resp, "control character in field value");
	/* §6.3: "A NULL field value is equivalent to a field not being sent." */
	if (value.len == 0)
		return 0;

	/* §6.3: each CGI field at most once */
	if (http1_str_ieq(name, "Status")) {
		if (st->has_status)
			return fail(resp, "duplicate Status");
		st->has_status = true;
		return parse_status(resp, value);
	}
	if (http1_str_ieq(name, "Location")) {
		if (resp->location.p)
			return fail(resp, "duplicate Location");
		resp->location = value;
	} else if (http1_str_ieq(name, "Content-Type")) {
		if (resp->has_content_type)
			return fail(resp, "duplicate Content-Type");
		resp->has_content_type = true;
	}
	return add_header(resp, st, name, value);
}

/* Once the block is whole: what kind of response it is (§6.2). */
static ssize_t classify(struct cgi_response *resp, const struct block_state *st)
{
	if (!st->has_status && !resp->location.p && !resp->has_content_type)
		return fail(resp, "no Content-Type, Location or Status");
	if (resp->location.p && !st->has_status) {
		if (resp->location.p[0] == '/')
			resp->local_redirect = true;
		else
			resp->status = 302;
	}
	return 0;
}

static void response_init(struct cgi_response *resp, struct http1_header *headers)
{
	memset(resp, 0, sizeof *resp);
	resp->status = 200;
	resp->headers = headers;
}

static ssize_t parse_block(struct block_state *st, const char *buf, size_t len,
                           struct cgi_response *resp)
{
	size_t pos = 0;

	while (pos < len) {
		const char *lf = memchr(buf + pos, '\n', len - pos);
		if (!lf)
			break;
		size_t next = (size_t)(lf - buf) + 1;
		size_t end = next - 1;
		if (end > pos && buf[end - 1] == '\r')
			end--;
		if (end == pos)
			return classify(resp, st) < 0 ? CGI_ERROR : (ssize_t)next;
		if (parse_field(resp, st, buf + pos, end - pos) < 0)
			return CGI_ERROR;
		pos = next;
	}
	return CGI_INCOMPLETE;
}

ssize_t cgi_response_parse(const char *buf, size_t len, struct cgi_response *resp,
                           struct http1_header *headers, size_t max_headers)
{
	struct block_state st = { .has_status = false, .max_headers = max_headers };

	response_init(resp, headers);
	return parse_block(&st, buf, len, resp);
}

ssize_t cgi_response_parse_fields(const char *buf, size_t len, int status, struct http1_str reason,
                                  struct cgi_response *resp, struct http1_header *headers,
                                  size_t max_headers)
{
	struct block_state st = { .has_status = true, .max_headers = max_headers };

	response_init(resp, headers);
	resp->status = status;
	resp->reason = reason;
	return parse_block(&st, buf, len, resp);
}
