/* FastCGI 1.0 record codec. Pure: no I/O, no allocation, no mutable global
 * state. See fastcgi.h for the contracts.
 *
 * All multi-byte integers on the wire are big-endian. */
#include "protocols/fastcgi.h"

#include <limits.h>
#include <string.h>

/* The largest length a name-value pair can carry: 31 bits. */
#define NV_LENGTH_MAX 0x7fffffffu

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- records ------------------------------------------------------------- */

/*   0         1      2       3       4        5        6         7
 * +---------+------+-------+-------+--------+--------+---------+----------+
 * | version | type | reqIdB1 reqIdB0 | contLenB1 contLenB0 | padLen | reserved |
 * +---------+------+-------+-------+--------+--------+---------+----------+
 * | content[contentLength] | padding[paddingLength]                       |
 *
 * The version is judged once the whole header is there, so that a caller that
 * then asks http1_looks_like_request() has at least 8 bytes ("OPTIONS " and
 * "CONNECT " are 8). The reserved byte is ignored, any type and request id
 * are accepted: answering them is the caller's business. */
ssize_t fcgi_record_decode(const uint8_t *buf, size_t len, struct fcgi_record *rec)
{
	memset(rec, 0, sizeof *rec);
	if (len < FCGI_HEADER_LEN)
		return FCGI_INCOMPLETE;
	rec->version = buf[0];
	rec->type = buf[1];
	rec->request_id = get16(buf + 2);
	rec->content_length = get16(buf + 4);
	rec->padding_length = buf[6];
	if (rec->version != FCGI_VERSION_1)
		return FCGI_ERROR;

	size_t span = FCGI_HEADER_LEN + (size_t)rec->content_length + rec->padding_length;
	if (len < span)
		return FCGI_INCOMPLETE;
	rec->content = buf + FCGI_HEADER_LEN;
	return (ssize_t)span;
}

void fcgi_header_encode(uint8_t out[FCGI_HEADER_LEN], uint8_t type, uint16_t request_id,
                        uint16_t content_length, uint8_t padding_length)
{
	out[0] = FCGI_VERSION_1;
	out[1] = type;
	put16(out + 2, request_id);
	put16(out + 4, content_length);
	out[6] = padding_length;
	out[7] = 0;
}

/* Records a stream of len bytes takes: at least one (the empty record). */
static size_t stream_records(size_t len)
{
	return len == 0 ? 1 : len / FCGI_MAX_LENGTH + (len % FCGI_MAX_LENGTH != 0);
}

/* SIZE_MAX when it does not fit in a size_t. */
size_t fcgi_stream_size(size_t len)
{
	size_t records = stream_records(len);

	if (records > (SIZE_MAX - len) / FCGI_HEADER_LEN)
		return SIZE_MAX;
	return len + records * FCGI_HEADER_LEN;
}

/* header | content (at most 65535) | header | content | ...   no padding. */
ssize_t fcgi_stream_encode(uint8_t *out, size_t cap, uint8_t type, uint16_t request_id,
                           const void *data, size_t len)
{
	size_t need = fcgi_stream_size(len);
	const uint8_t *src = data;
	size_t pos = 0;

	if (need > cap || need > SSIZE_MAX)
		return FCGI_ERROR;
	if (len == 0) {
		fcgi_header_encode(out, type, request_id, 0, 0);
		return FCGI_HEADER_LEN;
	}
	while (len > 0) {
		uint16_t n = len > FCGI_MAX_LENGTH ? FCGI_MAX_LENGTH : (uint16_t)len;
		fcgi_header_encode(out + pos, type, request_id, n, 0);
		memcpy(out + pos + FCGI_HEADER_LEN, src, n);
		pos += FCGI_HEADER_LEN + n;
		src += n;
		len -= n;
	}
	return (ssize_t)pos;
}

/* header(type 1, content 8) | roleB1 roleB0 | flags | reserved[5] */
void fcgi_begin_request_encode(uint8_t out[16], uint16_t request_id, uint16_t role, uint8_t flags)
{
	fcgi_header_encode(out, FCGI_BEGIN_REQUEST, request_id, 8, 0);
	put16(out + 8, role);
	out[10] = flags;
	memset(out + 11, 0, 5);
}

/* header(type 3, content 8) | appStatusB3..B0 | protocolStatus | reserved[3] */
void fcgi_end_request_encode(uint8_t out[16], uint16_t request_id, uint32_t app_status,
                             uint8_t protocol_status)
{
	fcgi_header_encode(out, FCGI_END_REQUEST, request_id, 8, 0);
	put32(out + 8, app_status);
	out[12] = protocol_status;
	memset(out + 13, 0, 3);
}

/* header(type 11, request id 0, content 8) | type | reserved[7] */
void fcgi_unknown_type_encode(uint8_t out[16], uint8_t type)
{
	fcgi_header_encode(out, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, 8, 0);
	out[8] = type;
	memset(out + 9, 0, 7);
}

/* header(type 2, content 0) */
void fcgi_abort_request_encode(uint8_t out[8], uint16_t request_id)
{
	fcgi_header_encode(out, FCGI_ABORT_REQUEST, request_id, 0, 0);
}

/* The record's type is not checked: the caller dispatched on it. */
int fcgi_begin_request_decode(const struct fcgi_record *rec, struct fcgi_begin_request *out)
{
	if (rec->content_length != 8 || rec->content == NULL)
		return -1;
	out->role = get16(rec->content);
	out->flags = rec->content[2];
	return 0;
}

int fcgi_end_request_decode(const struct fcgi_record *rec, struct fcgi_end_request *out)
{
	if (rec->content_length != 8 || rec->content == NULL)
		return -1;
	out->app_status = get32(rec->content);
	out->protocol_status = rec->content[4];
	return 0;
}

/* ---- name-value pairs ------------------------------------------------------ */

/* A length at buf[0..len): 0 when incomplete, else the bytes it takes (1 or 4)
 * with the length in *n. A 4-byte length need not be canonical: 80 00 00 05
 * is 5, as libfcgi, Go and haproxy read it. */
static size_t nv_length_decode(const uint8_t *buf, size_t len, size_t *n)
{
	if (len < 1)
		return 0;
	if (!(buf[0] & 0x80)) {
		*n = buf[0];
		return 1;
	}
	if (len < 4)
		return 0;
	*n = get32(buf) & NV_LENGTH_MAX;
	return 4;
}

/* nameLength(1|4) | valueLength(1|4) | name[nameLength] | value[valueLength]
 *
 * A name longer than max_len is refused as soon as its length is read, before
 * the value length is there. */
ssize_t fcgi_nv_decode(const uint8_t *buf, size_t len, size_t max_len, const uint8_t **name,
                       size_t *name_len, const uint8_t **value, size_t *value_len)
{
	size_t nlen, vlen, pos, used;

	used = nv_length_decode(buf, len, &nlen);
	if (used == 0)
		return FCGI_INCOMPLETE;
	if (nlen > max_len)
		return FCGI_ERROR;
	pos = used;
	used = nv_length_decode(buf + pos, len - pos, &vlen);
	if (used == 0)
		return FCGI_INCOMPLETE;
	if (vlen > max_len - nlen)
		return FCGI_ERROR;
	pos += used;
	/* pos <= 8 and nlen + vlen <= max_len: bound the sum before adding */
	if (nlen + vlen > len - pos)
		return FCGI_INCOMPLETE;
	if (pos + nlen + vlen > SSIZE_MAX)
		return FCGI_ERROR;
	*name = buf + pos;
	*name_len = nlen;
	*value = buf + pos + nlen;
	*value_len = vlen;
	return (ssize_t)(pos + nlen + vlen);
}

size_t fcgi_nv_length_encode(uint8_t out[4], size_t n)
{
	if (n < 128) {
		out[0] = (uint8_t)n;
		return 1;
	}
	put32(out, (uint32_t)(n & NV_LENGTH_MAX) | 0x80000000u);
	return 4;
}

/* SIZE_MAX when a length does not fit in 31 bits (the pair cannot be sent). */
size_t fcgi_nv_size(size_t name_len, size_t value_len)
{
	if (name_len > NV_LENGTH_MAX || value_len > NV_LENGTH_MAX)
		return SIZE_MAX;
	size_t head = (name_len < 128 ? 1 : 4) + (value_len < 128 ? 1 : 4);
	if (name_len > SIZE_MAX - head - value_len)
		return SIZE_MAX;
	return head + name_len + value_len;
}

ssize_t fcgi_nv_encode(uint8_t *out, size_t cap, const void *name, size_t name_len,
                       const void *value, size_t value_len)
{
	size_t need = fcgi_nv_size(name_len, value_len);
	size_t pos;

	if (need == SIZE_MAX || need > cap || need > SSIZE_MAX)
		return FCGI_ERROR;
	pos = fcgi_nv_length_encode(out, name_len);
	pos += fcgi_nv_length_encode(out + pos, value_len);
	if (name_len)
		memcpy(out + pos, name, name_len);
	pos += name_len;
	if (value_len)
		memcpy(out + pos, value, value_len);
	return (ssize_t)(pos + value_len);
}
