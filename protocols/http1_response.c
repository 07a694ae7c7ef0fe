/* The response side of HTTP/1.1: reason phrases, chunk headers, the status
 * line, and which fields belong to one connection only. Pure; see http1.h. */
#include "protocols/http1.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "protocols/http1_lex.h"

/* ---- responses ------------------------------------------------------------- */

const char *http1_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 103:
		return "Early Hints";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 203:
		return "Non-Authoritative Information";
	case 204:
		return "No Content";
	case 205:
		return "Reset Content";
	case 206:
		return "Partial Content";
	case 300:
		return "Multiple Choices";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 305:
		return "Use Proxy";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 402:
		return "Payment Required";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 407:
		return "Proxy Authentication Required";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 416:
		return "Range Not Satisfiable";
	case 417:
		return "Expectation Failed";
	case 421:
		return "Misdirected Request";
	case 422:
		return "Unprocessable Content";
	case 425:
		return "Too Early";
	case 426:
		return "Upgrade Required";
	case 428:
		return "Precondition Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
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
