#include "gatewayd/request/response_head.h"

#include <time.h>

#include "gatewayd/core/server.h"
#include "gatewayd/request/request.h"
#include "protocols/http1.h"

long long response_content_length(const struct response_head *h)
{
	if (h->content_length >= 0)
		return h->content_length;
	for (size_t i = 0; i < h->num_headers; i++) {
		const struct http1_header *f = &h->headers[i];
		if (!http1_str_ieq(f->name, "Content-Length") || f->value.len == 0 ||
		    f->value.len > 18)
			continue;
		long long n = 0;
		for (size_t k = 0; k < f->value.len; k++) {
			char ch = f->value.p[k];
			if (ch < '0' || ch > '9')
				return -1;
			n = n * 10 + (ch - '0');
		}
		return n;
	}
	return -1;
}

/* The Date line is made once a second, not once a response. */
static const char *date_now(void)
{
	static char date[40];
	static time_t date_of;
	time_t now = (time_t)ev_now(gw->loop);
	if (now != date_of || !date[0]) {
		http1_format_date(date, now);
		date_of = now;
	}
	return date;
}

static void put_line(struct buf *o, const char *name, const char *value)
{
	buf_append_str(o, name);
	buf_append_str(o, value);
	buf_append(o, "\r\n", 2);
}

void response_put_head(struct request *r, const struct response_head *h,
                       const struct head_framing *f, struct buf *o)
{
	bool has_date = false, has_server = false;
	bool may_have_body = h->status >= 200 && h->status != 204 && h->status != 304;

	r->head_sent = true;
	r->status = h->status;
	buf_append_str(o, f->status_prefix);
	buf_append_uint(o, (unsigned)h->status);
	buf_append(o, " ", 1);
	buf_append_str(o, h->reason && h->reason[0] ? h->reason : http1_reason(h->status));
	buf_append(o, "\r\n", 2);
	for (size_t i = 0; i < h->num_headers; i++) {
		const struct http1_header *field = &h->headers[i];
		if (http1_is_hop_by_hop(field->name, h->headers, h->num_headers) ||
		    http1_str_ieq(field->name, "Content-Length"))
			continue;
		has_date |= http1_str_ieq(field->name, "Date");
		has_server |= http1_str_ieq(field->name, "Server");
		buf_append(o, field->name.p, field->name.len);
		buf_append(o, ": ", 2);
		buf_append(o, field->value.p, field->value.len);
		buf_append(o, "\r\n", 2);
	}
	if (f->to_client && !has_date)
		put_line(o, "Date: ", date_now());
	if (f->to_client && !has_server)
		put_line(o, "Server: ", GW_SERVER_SOFTWARE);
	request_put_server_timing(r, o);
	if (f->content_length >= 0 && may_have_body) {
		buf_append_str(o, "Content-Length: ");
		buf_append_uint(o, (unsigned long long)f->content_length);
		buf_append(o, "\r\n", 2);
	}
	if (f->chunked)
		buf_append_str(o, "Transfer-Encoding: chunked\r\n");
	if (f->close)
		buf_append_str(o, "Connection: close\r\n");
	else if (f->keep_alive)
		buf_append_str(o, "Connection: keep-alive\r\n");
	buf_append(o, "\r\n", 2);
}
