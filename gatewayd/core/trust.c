#include "gatewayd/core/trust.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "gatewayd/core/config.h"

int cidr_parse(const char *s, struct cidr *out)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	size_t n = strlen(s);
	if (n >= sizeof tmp)
		return -1;
	memcpy(tmp, s, n + 1);
	char *slash = strchr(tmp, '/');
	memset(out, 0, sizeof *out);
	if (slash)
		*slash = '\0';
	out->family = strchr(tmp, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(out->family, tmp, out->addr) != 1)
		return -1;
	unsigned max = out->family == AF_INET ? 32 : 128;
	out->bits = max;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || b < 0 || b > (long)max || slash[1] == '+' ||
		    slash[1] == '-')
			return -1;
		out->bits = (unsigned)b;
	}
	for (unsigned i = out->bits; i < max; i++)
		if (out->addr[i / 8] & (0x80 >> (i % 8)))
			return -1;
	return 0;
}

static bool cidr_match(const struct cidr *c, int family, const uint8_t *a)
{
	if (c->family != family)
		return false;
	unsigned full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->addr, a, full) != 0)
		return false;
	return !rest || ((c->addr[full] ^ a[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static bool parse_ip(const char *addr, int *family, uint8_t *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (inet_pton(AF_INET, addr, a) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, addr, a) != 1)
		return false;
	*family = AF_INET6;
	if (memcmp(a, mapped, 12) == 0) {
		memmove(a, a + 12, 4);
		*family = AF_INET;
	}
	return true;
}

bool trust_addr(const struct config *cfg, const char *addr)
{
	int family;
	uint8_t a[16];
	if (!cfg->ntrusted || !parse_ip(addr, &family, a))
		return false;
	for (size_t i = 0; i < cfg->ntrusted; i++)
		if (cidr_match(&cfg->trusted[i], family, a))
			return true;
	return false;
}

/* One entry, trimmed of spaces: an address, maybe with a port (Forwarded's
 * "192.0.2.1:80", "[2001:db8::1]:80", or X-Forwarded-For's bare address).
 * Writes the address's canonical text; false if it is none. */
static bool entry_addr(const char *p, size_t n, char *addr, unsigned *port)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	const char *host = p, *ps = NULL;
	size_t hn = n;
	*port = 0;
	if (n && p[0] == '[') {
		const char *close = memchr(p, ']', n);
		if (!close)
			return false;
		host = p + 1;
		hn = (size_t)(close - host);
		if ((size_t)(close + 1 - p) < n) {
			if (close[1] != ':')
				return false;
			ps = close + 2;
		}
	} else {
		const char *colon = memchr(p, ':', n);
		if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - p))) {
			hn = (size_t)(colon - p); /* IPv4:port */
			ps = colon + 1;
		}
	}
	if (ps) {
		size_t pn = n - (size_t)(ps - p);
		unsigned v = 0;
		if (pn == 0 || pn > 5)
			return false;
		for (size_t i = 0; i < pn; i++) {
			if (ps[i] < '0' || ps[i] > '9')
				return false;
			v = v * 10 + (unsigned)(ps[i] - '0');
		}
		if (v > 65535)
			return false;
		*port = v;
	}
	if (hn == 0 || hn >= sizeof tmp)
		return false;
	memcpy(tmp, host, hn);
	tmp[hn] = '\0';
	int family;
	uint8_t a[16];
	if (!parse_ip(tmp, &family, a))
		return false;
	inet_ntop(family, a, addr, INET6_ADDRSTRLEN);
	return true;
}

static void trim(const char **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t'))
		(*p)++, (*n)--;
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* Forwarded: the for= value of one element (pairs split on ';'), unquoted
 * in place into out. False if the element has none. */
static bool forwarded_for(const char *p, size_t n, char *out, size_t outlen, size_t *outn)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		bool q = false;
		while (j < n && (q || p[j] != ';')) {
			if (p[j] == '"')
				q = !q;
			j++;
		}
		const char *pair = p + i;
		size_t pn = j - i;
		trim(&pair, &pn);
		if (pn > 4 && strncasecmp(pair, "for=", 4) == 0) {
			const char *v = pair + 4;
			size_t vn = pn - 4;
			if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"')
				v++, vn -= 2;
			if (vn >= outlen)
				return false;
			size_t k = 0;
			for (size_t m = 0; m < vn; m++) {
				if (v[m] == '\\' && m + 1 < vn)
					m++;
				out[k++] = v[m];
			}
			*outn = k;
			return true;
		}
		i = j + 1;
	}
	return false;
}

bool trust_walk(const struct config *cfg, const char *value, size_t len, bool forwarded, char *addr,
                unsigned *port)
{
	bool found = false;
	size_t end = len;
	/* right to left over the comma-separated entries (quotes respected) */
	while (end > 0) {
		bool q = false;
		/* the last comma before end, outside quotes */
		size_t start, last_comma = (size_t)-1;
		for (size_t i = 0; i < end; i++) {
			if (value[i] == '"')
				q = !q;
			else if (value[i] == ',' && !q)
				last_comma = i;
		}
		start = last_comma == (size_t)-1 ? 0 : last_comma + 1;
		const char *e = value + start;
		size_t en = end - start;
		trim(&e, &en);
		char buf[INET6_ADDRSTRLEN + 16], a[INET6_ADDRSTRLEN];
		unsigned pt;
		size_t bn = 0;
		if (forwarded) {
			if (!forwarded_for(e, en, buf, sizeof buf, &bn))
				return found;
			e = buf;
			en = bn;
		}
		if (!entry_addr(e, en, a, &pt))
			return found;
		memcpy(addr, a, sizeof a);
		*port = pt;
		found = true;
		if (!trust_addr(cfg, a))
			return true;
		if (start == 0)
			break;
		end = start - 1;
	}
	return found;
}

bool trust_request_id_valid(const char *p, size_t len)
{
	if (len == 0 || len > TRUST_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = p[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || (ch && strchr("._:@+=/-", ch))))
			return false;
	}
	return true;
}
