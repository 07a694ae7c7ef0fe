/* libFuzzer target: the FastCGI record and name-value pair decoders, and the
 * encoders they pair with. The input is read as a sequence of records, as the
 * daemon reads a connection. Properties checked beyond "no crash":
 * - a decoder never claims more bytes than it was given, and a record spans
 *   exactly its header, content and padding, its content a view right after
 *   the header; a strict prefix of a record or a pair is incomplete;
 * - an error is a version other than 1;
 * - the content of PARAMS records (each record alone, and the joined stream
 *   of the first request id) decodes as pairs whose views lie inside it, with
 *   the answer (pair, incomplete, error) a reference decoder gives; a pair
 *   whose lengths were canonically encoded re-encodes to the same bytes, and
 *   any pair re-encodes to bytes that decode to the same name and value;
 * - BEGIN_REQUEST / END_REQUEST bodies re-encode to the same field bytes;
 * - the input as a stream's data encodes to records that decode back to it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/fastcgi.h"
#include "test/fuzz/fuzz.h"

/* A length, the slow way: bytes taken (0: not all there). */
static size_t ref_length(const uint8_t *p, size_t len, size_t *n)
{
	if (len == 0)
		return 0;
	if (p[0] < 0x80) {
		*n = p[0];
		return 1;
	}
	if (len < 4)
		return 0;
	*n = ((size_t)(p[0] & 0x7f) << 24) + ((size_t)p[1] << 16) + ((size_t)p[2] << 8) + p[3];
	return 4;
}

/* What fcgi_nv_decode() must answer at p[0..len). */
static ssize_t ref_pair(const uint8_t *p, size_t len, size_t max_len)
{
	size_t nl, vl, a, b;

	a = ref_length(p, len, &nl);
	if (a == 0)
		return FCGI_INCOMPLETE;
	if (nl > max_len)
		return FCGI_ERROR;
	b = ref_length(p + a, len - a, &vl);
	if (b == 0)
		return FCGI_INCOMPLETE;
	if (nl + vl > max_len)
		return FCGI_ERROR;
	return a + b + nl + vl <= len ? (ssize_t)(a + b + nl + vl) : FCGI_INCOMPLETE;
}

/* Decode buf[0..len) as pairs bounded by max_len; check each. */
static void check_pairs(const uint8_t *buf, size_t len, size_t max_len)
{
	size_t off = 0;

	while (off < len) {
		const uint8_t *name, *value;
		size_t name_len, value_len;
		ssize_t rc = fcgi_nv_decode(buf + off, len - off, max_len, &name, &name_len, &value,
		                            &value_len);
		CHECK(rc == ref_pair(buf + off, len - off, max_len));
		if (rc <= 0)
			return;
		size_t used = (size_t)rc;
		CHECK(used <= len - off);
		CHECK(name_len + value_len <= max_len);
		CHECK(name >= buf + off && name + name_len <= buf + off + used);
		CHECK(value == name + name_len && value + value_len == buf + off + used);
		size_t head = used - name_len - value_len;
		CHECK(head == 2 || head == 5 || head == 8);

		/* a strict prefix is incomplete */
		const uint8_t *n2, *v2;
		size_t nl2, vl2;
		CHECK(fcgi_nv_decode(buf + off, used - 1, max_len, &n2, &nl2, &v2, &vl2) ==
		      FCGI_INCOMPLETE);
		CHECK(fcgi_nv_decode(buf + off, head, max_len, &n2, &nl2, &v2, &vl2) ==
		      (name_len + value_len ? FCGI_INCOMPLETE : (ssize_t)head));

		/* re-encode */
		size_t size = fcgi_nv_size(name_len, value_len);
		CHECK(size <= used);
		uint8_t *enc = malloc(size);
		CHECK(fcgi_nv_encode(enc, size, name, name_len, value, value_len) == (ssize_t)size);
		if (size == used) /* canonical lengths: the very same bytes */
			CHECK(memcmp(enc, buf + off, used) == 0);
		CHECK(fcgi_nv_decode(enc, size, name_len + value_len, &n2, &nl2, &v2, &vl2) ==
		      (ssize_t)size);
		CHECK(nl2 == name_len && vl2 == value_len);
		CHECK(name_len == 0 || memcmp(n2, name, name_len) == 0);
		CHECK(value_len == 0 || memcmp(v2, value, value_len) == 0);
		free(enc);
		off += used;
	}
}

static void check_record(const uint8_t *at, const struct fcgi_record *r, size_t used)
{
	CHECK(r->version == FCGI_VERSION_1);
	CHECK(used == FCGI_HEADER_LEN + (size_t)r->content_length + r->padding_length);
	CHECK(r->content == at + FCGI_HEADER_LEN);

	struct fcgi_record again;
	CHECK(fcgi_record_decode(at, used - 1, &again) == FCGI_INCOMPLETE);

	uint8_t hdr[FCGI_HEADER_LEN];
	fcgi_header_encode(hdr, r->type, r->request_id, r->content_length, r->padding_length);
	CHECK(memcmp(hdr, at, 7) == 0);

	uint8_t out[16];
	struct fcgi_begin_request br;
	struct fcgi_end_request er;
	int b = fcgi_begin_request_decode(r, &br), e = fcgi_end_request_decode(r, &er);
	CHECK(b == e && b == (r->content_length == 8 ? 0 : -1));
	if (b == 0) {
		fcgi_begin_request_encode(out, r->request_id, br.role, br.flags);
		CHECK(memcmp(out + 8, r->content, 3) == 0);
		fcgi_end_request_encode(out, r->request_id, er.app_status, er.protocol_status);
		CHECK(memcmp(out + 8, r->content, 5) == 0);
	}
	if (r->type == FCGI_PARAMS)
		check_pairs(r->content, r->content_length, r->content_length);
}

/* The input as the data of a STDOUT stream: encode, decode, compare. */
static void check_stream(const uint8_t *data, size_t size)
{
	size_t need = fcgi_stream_size(size);
	uint8_t *enc = malloc(need);
	struct fcgi_record r;
	size_t off = 0, got = 0;

	CHECK(fcgi_stream_encode(enc, need - 1, FCGI_STDOUT, 9, data, size) == FCGI_ERROR);
	CHECK(fcgi_stream_encode(enc, need, FCGI_STDOUT, 9, data, size) == (ssize_t)need);
	while (off < need) {
		ssize_t rc = fcgi_record_decode(enc + off, need - off, &r);
		CHECK(rc > 0);
		CHECK(r.type == FCGI_STDOUT && r.request_id == 9 && r.padding_length == 0);
		CHECK(r.content_length > 0 || size == 0);
		CHECK(r.content_length == 0 || memcmp(r.content, data + got, r.content_length) == 0);
		got += r.content_length;
		off += (size_t)rc;
	}
	CHECK(off == need && got == size);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_input(data, size);
	uint8_t *params = malloc(size ? size : 1);
	size_t params_len = 0, off = 0;
	uint16_t params_id = 0;
	bool have_params = false;

	while (off < size) {
		struct fcgi_record r;
		ssize_t rc = fcgi_record_decode(buf + off, size - off, &r);
		if (rc == FCGI_ERROR) {
			CHECK(size - off >= FCGI_HEADER_LEN && r.version != FCGI_VERSION_1);
			CHECK(r.version == buf[off] && r.content == NULL);
			break;
		}
		if (rc == FCGI_INCOMPLETE) {
			CHECK(r.content == NULL);
			if (size - off >= FCGI_HEADER_LEN)
				CHECK(size - off < FCGI_HEADER_LEN + (size_t)r.content_length +
				                           r.padding_length);
			break;
		}
		CHECK((size_t)rc <= size - off);
		check_record(buf + off, &r, (size_t)rc);
		/* the PARAMS stream of the first request id seen, joined */
		if (r.type == FCGI_PARAMS && (!have_params || r.request_id == params_id)) {
			have_params = true;
			params_id = r.request_id;
			memcpy(params + params_len, r.content, r.content_length);
			params_len += r.content_length;
		}
		off += (size_t)rc;
	}
	if (have_params) {
		uint8_t *joined = malloc(params_len ? params_len : 1);
		memcpy(joined, params, params_len);
		check_pairs(joined, params_len, 100);
		free(joined);
	}
	check_stream(buf, size);
	free(params);
	free(buf);
	return 0;
}
