/* The FastCGI client side of the upstream engine: a request is BEGIN_REQUEST
 * (keep the connection), PARAMS, STDIN; the answer is STDOUT, STDERR and
 * END_REQUEST. A connection carries request id 1, and id 2 behind it for a
 * peer that said FCGI_MPXS_CONNS=1 (asked with FCGI_GET_VALUES on each new
 * connection). */
#include <string.h>

#include "gatewayd/core/log.h"
#include "gatewayd/request/request.h"
#include "gatewayd/upstream/upstream.h"
#include "protocols/fastcgi.h"

#define FCGI_PARAMS_LIMIT (1 << 20)

static void append_stream(struct buf *out, uint8_t type, unsigned id, const void *p, size_t n)
{
	size_t need = fcgi_stream_size(n);
	uint8_t *dst = (uint8_t *)buf_reserve(out, need);
	if (!dst)
		return;
	ssize_t w = fcgi_stream_encode(dst, need, type, (uint16_t)id, p, n);
	if (w > 0)
		buf_commit(out, (size_t)w);
}

static int fcgi_encode_head(struct upstream_job *j, struct buf *out)
{
	struct request *r = upstream_job_request(j);
	unsigned id = upstream_job_request_id(j);
	struct buf pairs = { 0 };
	uint8_t begin[16];
	fcgi_begin_request_encode(begin, (uint16_t)id, FCGI_RESPONDER,
	                          upstream_job_keeps_connection(j) ? FCGI_KEEP_CONN : 0);
	buf_append(out, begin, sizeof begin);
	for (size_t i = 0; i < r->env.count; i++) {
		const char *kv = r->env.vars[i];
		const char *eq = strchr(kv, '=');
		size_t nlen = (size_t)(eq - kv), vlen = strlen(eq + 1);
		size_t need = fcgi_nv_size(nlen, vlen);
		if (buf_len(&pairs) + need > FCGI_PARAMS_LIMIT) {
			log_warn(r->id,
			         "the request's variables pass the FastCGI params limit: 431");
			buf_free(&pairs);
			return 431;
		}
		uint8_t *dst = (uint8_t *)buf_reserve(&pairs, need);
		if (!dst) {
			buf_free(&pairs);
			return 500;
		}
		buf_commit(&pairs, (size_t)fcgi_nv_encode(dst, need, kv, nlen, eq + 1, vlen));
	}
	append_stream(out, FCGI_PARAMS, id, buf_head(&pairs), buf_len(&pairs));
	append_stream(out, FCGI_PARAMS, id, NULL, 0);
	buf_free(&pairs);
	return out->failed ? 500 : 0;
}

static void fcgi_encode_body(struct upstream_job *j, struct buf *out, const char *p, size_t n)
{
	append_stream(out, FCGI_STDIN, upstream_job_request_id(j), p, n);
}

/* The worker stays busy until its END_REQUEST, so no request waits behind
 * abandoned work unseen; its body ends here, short. (FCGI_ABORT_REQUEST is
 * the protocol's word for it, but few applications act on it.) */
static enum upstream_abort fcgi_abort(struct upstream_job *j, struct buf *out)
{
	if (!upstream_job_body_ended(j))
		fcgi_encode_body(j, out, NULL, 0);
	return UPSTREAM_ABORT_FINISH;
}

/* The question each new connection carries (encode_probe). */
static void fcgi_probe(struct buf *out)
{
	uint8_t pair[2 + sizeof FCGI_MPXS_CONNS - 1];
	ssize_t n = fcgi_nv_encode(pair, sizeof pair, FCGI_MPXS_CONNS, sizeof FCGI_MPXS_CONNS - 1,
	                           "", 0);
	if (n > 0)
		append_stream(out, FCGI_GET_VALUES, 0, pair, (size_t)n);
}

/* FCGI_MPXS_CONNS in a GET_VALUES_RESULT: "1" says a request may go behind
 * another on one connection. */
static void decode_values(const struct fcgi_record *rec, struct upstream_event *ev)
{
	const uint8_t *p = rec->content;
	size_t left = rec->content_length;
	while (left > 0) {
		const uint8_t *name, *value;
		size_t nlen, vlen;
		ssize_t used = fcgi_nv_decode(p, left, left, &name, &nlen, &value, &vlen);
		if (used <= 0)
			return;
		if (nlen == sizeof FCGI_MPXS_CONNS - 1 &&
		    memcmp(name, FCGI_MPXS_CONNS, nlen) == 0) {
			ev->type = UPSTREAM_MULTIPLEXES;
			ev->status = vlen == 1 && value[0] == '1';
		}
		p += used;
		left -= (size_t)used;
	}
}

static ssize_t fcgi_decode(struct upstream_job *j, const char *p, size_t n,
                           struct upstream_event *ev)
{
	struct fcgi_record rec;
	ssize_t used = fcgi_record_decode((const uint8_t *)p, n, &rec);
	if (used <= 0)
		return used;
	if (rec.request_id == 0) {
		if (rec.type == FCGI_GET_VALUES_RESULT)
			decode_values(&rec, ev);
		return used; /* other management records: nothing for a job */
	}
	ev->request_id = rec.request_id; /* the engine finds its job, or drops a stray */
	switch (rec.type) {
	case FCGI_STDOUT:
		if (rec.content_length) {
			ev->type = UPSTREAM_OUTPUT;
			ev->data = (const char *)rec.content;
			ev->len = rec.content_length;
		}
		break;
	case FCGI_STDERR:
		if (rec.content_length) {
			ev->type = UPSTREAM_STDERR;
			ev->data = (const char *)rec.content;
			ev->len = rec.content_length;
		}
		break;
	case FCGI_END_REQUEST: {
		struct fcgi_end_request end;
		if (fcgi_end_request_decode(&rec, &end) < 0)
			return -1;
		ev->type = end.protocol_status == FCGI_REQUEST_COMPLETE ? UPSTREAM_END
		                                                        : UPSTREAM_REFUSED;
		ev->app_status = (int)end.app_status;
		ev->status = end.protocol_status;
		break;
	}
	default:
		break;
	}
	return used;
}

/* clang-format off */
const struct upstream_proto upstream_fastcgi = {
	.name = "FastCGI", .keeps_connection = true,
	.encode_head = fcgi_encode_head, .encode_body = fcgi_encode_body, .decode = fcgi_decode,
	.abort = fcgi_abort, .encode_probe = fcgi_probe
};
/* clang-format on */
