/* The response side of HTTP/1.1: reason phrases, chunk headers, the status
 * line, and which fields belong to one connection only. Pure; see http1.h. */
#include "protocols/http1.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "protocols/http1_lex.h"

/* ---- responses ------------------------------------------------------------- */

/* RFC 9110 §15's phrases, by code. */
static const struct {
	int status;
	const char *reason;
} reasons[] = {
	{ 100, "Continue" },
	{ 101, "Switching Protocols" },
	{ 103, "Early Hints" },
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 203, "Non-Authoritative Information" },
	{ 204, "No Content" },
	{ 205, "Reset Content" },
	{ 206, "Partial Content" },
	{ 300, "Multiple Choices" },
	{ 301, "Moved Permanently" },
	{ 302, "Found" },
	{ 303, "See Other" },
	{ 304, "Not Modified" },
	{ 305, "Use Proxy" },
	{ 307, "Temporary Redirect" },
	{ 308, "Permanent Redirect" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 402, "Payment Required" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" },
	{ 407, "Proxy Authentication Required" },
	{ 408, "Request Timeout" },
	{ 409, "Conflict" },
	{ 410, "Gone" },
	{ 411, "Length Required" },
	{ 412, "Precondition Failed" },
	{ 413, "Content Too Large" },
	{ 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" },
	{ 416, "Range Not Satisfiable" },
	{ 417, "Expectation Failed" },
	{ 421, "Misdirected Request" },
	{ 422, "Unprocessable Content" },
	{ 425, "Too Early" },
	{ 426, "Upgrade Required" },
	{ 428, "Precondition Required" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
	{ 505, "HTTP Version Not Supported" },
};

const char *http1_reason(int status)
{
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
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

size_t http1_decimal(char *out, unsigned long long v)
{
	char digits[20];
	size_t k = 0, len = 0;

	do {
		digits[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (k)
		out[len++] = digits[--k];
	return len;
}

/* ---- the status line (RFC 9112 §4) ------------------------------------------ */

ssize_t http1_parse_status_line(const char *buf, size_t len, size_t max, int *status,
                                struct http1_str *reason)
{
	const char *lf = memchr(buf, '\n', len < max ? len : max);
	if (!lf)
		return len >= max ? HTTP1_ERROR : HTTP1_INCOMPLETE;
	const char *end = lf > buf && lf[-1] == '\r' ? lf - 1 : lf;
	/* HTTP-version SP 3DIGIT SP [reason]: "HTTP/1.1 200 OK" */
	if (end - buf < 12 || memcmp(buf, "HTTP/", 5) != 0 || !is_digit(buf[5]) || buf[6] != '.' ||
	    !is_digit(buf[7]) || buf[8] != ' ' || !is_digit(buf[9]) || !is_digit(buf[10]) ||
	    !is_digit(buf[11]) || buf[9] == '0')
		return HTTP1_ERROR;
	if (end - buf > 12 && buf[12] != ' ')
		return HTTP1_ERROR;
	*status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	const char *r = end - buf > 12 ? buf + 13 : end;
	for (const char *p = r; p < end; p++)
		if (!is_ows(*p) && !is_visible(*p))
			return HTTP1_ERROR;
	*reason = mkstr(r, end);
	return lf + 1 - buf;
}

/* ---- fields of one connection only (RFC 9110 §7.6.1) ----------------------- */

static bool names_in_connection(struct http1_str name, const struct http1_header *fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!http1_str_ieq(fields[i].name, "Connection"))
			continue;
		const char *pos = fields[i].value.p, *end = pos + fields[i].value.len;
		struct http1_str elem;
		while (next_element(&pos, end, &elem))
			if (elem.len == name.len && strncasecmp(elem.p, name.p, name.len) == 0)
				return true;
	}
	return false;
}

bool http1_is_hop_by_hop(struct http1_str name, const struct http1_header *fields, size_t n)
{
	static const char *const hop[] = {
		"Connection", "Proxy-Connection",  "Keep-Alive",
		"TE",         "Transfer-Encoding", "Upgrade",
	};
	for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
		if (http1_str_ieq(name, hop[i]))
			return true;
	return names_in_connection(name, fields, n);
}
