/* trusted_proxies: the balancers whose word about the client is taken (a
 * PROXY protocol header, X-Forwarded-For, Forwarded, X-Request-Id). */
#ifndef GW_TRUST_H
#define GW_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned bits;
};

/* "10.0.0.0/8", "::1", "2001:db8::/32": 0 or -1. The bits past the prefix
 * must be zero (a typo such as 10.0.0.1/8 is refused, not widened). */
int cidr_parse(const char *s, struct cidr *out);
/* Whether the numeric address text is within one of cfg's trusted_proxies
 * (an IPv4-mapped IPv6 address counts as its IPv4 address). */
bool trust_addr(const struct config *cfg, const char *addr);

/* The client address behind trusted proxies, from the X-Forwarded-For or
 * Forwarded field values (all fields of the name joined by ", ", in order).
 * Walks the list from the right: each address that is itself trusted is a
 * hop to look past; the first that is not is the client. An entry that is
 * not an address (Forwarded's "unknown" or an obfuscated "_name", garbage)
 * stops the walk at the last address reached; a list of trusted addresses
 * only gives its left-most. forwarded: the value is RFC 7239 syntax (the
 * for= parameter of each element), else X-Forwarded-For's plain list.
 * Returns true with addr (INET6_ADDRSTRLEN) and *port (0 when the entry had
 * none) set, false when the list gave no address. */
bool trust_walk(const struct config *cfg, const char *value, size_t len, bool forwarded, char *addr,
                unsigned *port);

/* An X-Request-Id a balancer sent: 1 to 64 bytes of [A-Za-z0-9._:@+=/-]. */
#define TRUST_REQUEST_ID_MAX 64
bool trust_request_id_valid(const char *p, size_t len);

#endif
