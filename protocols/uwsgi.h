/* The uwsgi binary protocol (as nginx uwsgi_pass and uWSGI speak it), both
 * roles, as a pure codec: no I/O, no allocation while decoding.
 *
 *   header: modifier1 (u8) | datasize (u16, little-endian) | modifier2 (u8)
 *   vars (modifier1 0): repeated  key_size (u16 LE) key  val_size (u16 LE) val
 *   then the request body, CONTENT_LENGTH bytes, raw.
 * The answer is a plain HTTP response ("HTTP/1.1 200 OK\r\n...") or CGI-style
 * ("Status: 200 OK\r\n..."), ended by closing the connection. */
#ifndef GW_PROTOCOLS_UWSGI_H
#define GW_PROTOCOLS_UWSGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UWSGI_HEADER_LEN 4
#define UWSGI_MAX_VARS 65535 /* datasize is a u16 */
#define UWSGI_INCOMPLETE 0
#define UWSGI_ERROR (-1)

struct uwsgi_header {
	uint8_t modifier1;
	uint16_t datasize;
	uint8_t modifier2;
};

/* Decode the 4-byte header and check that the whole vars block is there.
 * Returns UWSGI_HEADER_LEN + datasize when it is, UWSGI_INCOMPLETE otherwise;
 * never UWSGI_ERROR: any modifier decodes, judging it is the caller's call.
 * *hdr is zeroed, then filled as soon as the 4 header bytes are there (also
 * when the vars are not), so a caller can refuse a modifier1 it does not
 * serve, or a datasize, without waiting for the vars. */
ssize_t uwsgi_packet_decode(const uint8_t *buf, size_t len, struct uwsgi_header *hdr);

/* Iterate the vars block (vars[0..len) = datasize bytes after the header).
 * *off starts at 0. Returns 1 with views into vars set and *off past the var,
 * 0 at the end, UWSGI_ERROR when a size runs past the block, a key is empty or
 * a single byte trails the last var. On 0 and UWSGI_ERROR the views are NULL
 * and 0 and *off is left as it was. An empty value is valid. */
int uwsgi_var_next(const uint8_t *vars, size_t len, size_t *off, const uint8_t **key,
                   size_t *key_len, const uint8_t **val, size_t *val_len);

/* HTTP sent to a uwsgi port: "GET " read as a uwsgi header is modifier1 'G'
 * and a datasize of 21573, so ask http1_looks_like_request() once the 4 header
 * bytes are in and modifier1 is not one served, rather than waiting for the
 * vars. A packet whose modifier1 is 0 never looks like HTTP. */

/* Encoding a request: reserve the header, append vars, then finish. */
struct uwsgi_writer {
	uint8_t *buf; /* caller's */
	size_t cap;
	size_t len; /* bytes written so far, header included */
	bool overflow; /* a var did not fit, the vars passed 65535 bytes, a key
	                 * was empty, or cap < UWSGI_HEADER_LEN; stays set */
};
void uwsgi_writer_init(struct uwsgi_writer *w, uint8_t *buf, size_t cap);
/* Append one var; sets overflow (and writes nothing) when it does not fit in
 * cap or in the 65535 bytes of vars, or when key_len is 0. */
void uwsgi_writer_var(struct uwsgi_writer *w, const char *key, size_t key_len, const char *val,
                      size_t val_len);
/* Write the header (modifier1 0, modifier2 0); returns the packet length, or
 * UWSGI_ERROR when anything overflowed (a request whose vars exceed 64 KiB is
 * refused, never truncated). */
ssize_t uwsgi_writer_finish(struct uwsgi_writer *w);

#endif
