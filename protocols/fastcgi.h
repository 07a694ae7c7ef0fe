/* FastCGI 1.0 records, both roles (responder and client), as a pure codec on
 * libfcgi's fastcgi.h definitions. No I/O, no allocation while decoding.
 *
 *   record:  version(1) type(1) requestId(2) contentLength(2) paddingLength(1)
 *            reserved(1) | content[contentLength] | padding[paddingLength]
 *   name-value pair lengths: 1 byte if < 128, else 4 bytes with the top bit set. */
#ifndef GW_PROTOCOLS_FASTCGI_H
#define GW_PROTOCOLS_FASTCGI_H

#include <fastcgi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FCGI_INCOMPLETE 0 /* decoders: need more bytes */
#define FCGI_ERROR (-1) /* decoders: malformed; encoders: no room */
/* The most bytes one record can span: a buffer this large always holds one. */
#define FCGI_RECORD_MAX (FCGI_HEADER_LEN + FCGI_MAX_LENGTH + 255)

struct fcgi_record {
	uint8_t version;
	uint8_t type;
	uint16_t request_id;
	uint16_t content_length;
	uint8_t padding_length;
	const uint8_t *content; /* view into the caller's buffer */
};

/* Decode one whole record (header, content, padding) at buf[0..len).
 * Returns the bytes it spans, FCGI_INCOMPLETE (0) when it is not all there,
 * or FCGI_ERROR when the version byte is not FCGI_VERSION_1 (rec->version
 * still holds what was seen). The version is judged only once the 8 header
 * bytes are there, so fewer than 8 bytes always give FCGI_INCOMPLETE (and an
 * error leaves at least 8 bytes for http1_looks_like_request()). Whenever the
 * header is there, rec holds its fields; rec->content is set (buf + 8) only
 * on success, NULL otherwise. Padding is skipped, its bytes and the reserved
 * byte unchecked; any type and request id decode. */
ssize_t fcgi_record_decode(const uint8_t *buf, size_t len, struct fcgi_record *rec);

/* Write a record header into out[0..8). */
void fcgi_header_encode(uint8_t out[FCGI_HEADER_LEN], uint8_t type, uint16_t request_id,
                        uint16_t content_length, uint8_t padding_length);

/* Append a stream (STDOUT, STDERR, STDIN, PARAMS...) of data as records of at
 * most FCGI_MAX_LENGTH content bytes, into out[0..cap). len 0 writes the empty
 * end-of-stream record. Returns the bytes written, or FCGI_ERROR when cap is
 * too small (nothing is written then). fcgi_stream_size() says how much.
 * No padding; for len > 0 no end-of-stream record either (the caller ends the
 * stream with a call of len 0). fcgi_stream_size() is SIZE_MAX on overflow. */
ssize_t fcgi_stream_encode(uint8_t *out, size_t cap, uint8_t type, uint16_t request_id,
                           const void *data, size_t len);
size_t fcgi_stream_size(size_t len);

/* 16-byte records. */
void fcgi_begin_request_encode(uint8_t out[16], uint16_t request_id, uint16_t role, uint8_t flags);
void fcgi_end_request_encode(uint8_t out[16], uint16_t request_id, uint32_t app_status,
                             uint8_t protocol_status);
void fcgi_unknown_type_encode(uint8_t out[16], uint8_t type);
void fcgi_abort_request_encode(uint8_t out[8], uint16_t request_id);

struct fcgi_begin_request {
	uint16_t role;
	uint8_t flags;
};
struct fcgi_end_request {
	uint32_t app_status;
	uint8_t protocol_status;
};
/* Content of a BEGIN_REQUEST / END_REQUEST record; -1 when it is not 8 bytes.
 * 0 on success. rec->type is not checked: the caller dispatched on it. */
int fcgi_begin_request_decode(const struct fcgi_record *rec, struct fcgi_begin_request *out);
int fcgi_end_request_decode(const struct fcgi_record *rec, struct fcgi_end_request *out);

/* One name-value pair at buf[0..len): returns the bytes it spans, 0 when
 * incomplete (a pair may straddle records: the caller joins the content of a
 * stream's records before decoding), FCGI_ERROR when a length is absurd
 * (name_len + value_len over max_len; a name over max_len is refused before
 * the value length is there). Views into buf; outputs set on success only.
 * A 4-byte length need not be canonical (80 00 00 00 is 0, as libfcgi and Go
 * read it). A zero-length name or value decodes: judging it is the caller's. */
ssize_t fcgi_nv_decode(const uint8_t *buf, size_t len, size_t max_len, const uint8_t **name,
                       size_t *name_len, const uint8_t **value, size_t *value_len);
/* Encode one pair into out[0..cap); returns bytes written or FCGI_ERROR (no
 * room, or a length over 0x7fffffff; nothing written then). Lengths are
 * written canonically. fcgi_nv_size() is SIZE_MAX for a pair that cannot be
 * encoded. */
ssize_t fcgi_nv_encode(uint8_t *out, size_t cap, const void *name, size_t name_len,
                       const void *value, size_t value_len);
size_t fcgi_nv_size(size_t name_len, size_t value_len);
/* Encode a length as 1 or 4 bytes into out; returns 1 or 4. n must be at most
 * 0x7fffffff (the 31 low bits are written). */
size_t fcgi_nv_length_encode(uint8_t out[4], size_t n);

#endif
