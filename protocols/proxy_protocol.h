/* The PROXY protocol (HAProxy's spec, versions 1 and 2) as a pure codec: the
 * header a balancer sends first on a connection to say whom it is relaying.
 * No I/O, no allocation, no global state.
 *
 *   v1: "PROXY TCP4 src dst sport dport\r\n" (TCP6, or "PROXY UNKNOWN ...\r\n"),
 *       107 bytes at most, CRLF included.
 *   v2: the 12-byte signature \r\n\r\n\0\r\nQUIT\n, version/command (0x20 LOCAL,
 *       0x21 PROXY), family/transport, a big-endian u16 length, then the
 *       addresses (12 bytes for TCP over IPv4, 36 for IPv6) and TLVs, which
 *       are skipped. */
#ifndef GW_PROTOCOLS_PROXY_PROTOCOL_H
#define GW_PROTOCOLS_PROXY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROXY_INCOMPLETE 0
#define PROXY_ERROR (-1)
#define PROXY_V1_MAX 107 /* the spec's bound, CRLF included */
#define PROXY_V2_HEADER 16 /* signature, ver/cmd, fam, len */
#define PROXY_V2_MAX_BODY 4096 /* addresses + TLVs: more is refused */

struct proxy_header {
	int version; /* 1 or 2 */
	/* No address to take: v2's LOCAL command (a balancer's own health
	 * check), v1's UNKNOWN, or a v2 family other than TCP over IPv4/IPv6
	 * (AF_UNSPEC, unix). The connection's own addresses stay. */
	bool local;
	int family; /* AF_INET or AF_INET6 when !local, else 0 */
	uint8_t src[16], dst[16]; /* network order; 4 bytes used for AF_INET */
	uint16_t src_port, dst_port;
	const char *error; /* why, on PROXY_ERROR: a static string */
};

/* Decode the header at buf[0..len). Returns the bytes it spans (> 0) once it
 * is all there, PROXY_INCOMPLETE while every byte so far may still begin one,
 * PROXY_ERROR (h->error set) as soon as they cannot: a first byte that begins
 * neither signature is an error at once. A strict prefix of a valid header is
 * always PROXY_INCOMPLETE. *h is zeroed first and filled on success. */
ssize_t proxy_decode(const uint8_t *buf, size_t len, struct proxy_header *h);

#endif
