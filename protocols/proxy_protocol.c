#include "protocols/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	                            0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
static const char v1_sig[] = "PROXY ";

static ssize_t fail(struct proxy_header *h, const char *why)
{
	h->error = why;
	return PROXY_ERROR;
}

/* A decimal port, 0..65535, no sign, no leading zero. */
static bool parse_port(const char *p, size_t n, uint16_t *out)
{
	unsigned v = 0;
	if (n == 0 || n > 5 || (n > 1 && p[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

static bool parse_addr(int family, const char *p, size_t n, uint8_t *out)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	if (n == 0 || n >= sizeof tmp)
		return false;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	return inet_pton(family, tmp, out) == 1;
}

/* The next space-separated field of line[*off..end); false if empty. */
static bool field(const char *line, size_t end, size_t *off, const char **f, size_t *flen,
                  bool last)
{
	size_t i = *off;
	while (i < end && line[i] != ' ')
		i++;
	*f = line + *off;
	*flen = i - *off;
	if (*flen == 0 || (last ? i != end : i == end))
		return false;
	*off = last ? i : i + 1;
	return true;
}

static ssize_t decode_v1(const uint8_t *buf, size_t len, struct proxy_header *h)
{
	size_t cmp = len < sizeof v1_sig - 1 ? len : sizeof v1_sig - 1;
	if (memcmp(buf, v1_sig, cmp) != 0)
		return fail(h, "not a PROXY protocol header");
	const uint8_t *lf = memchr(buf, '\n', len < PROXY_V1_MAX ? len : PROXY_V1_MAX);
	if (!lf)
		return len >= PROXY_V1_MAX ? fail(h, "v1 header over 107 bytes") : PROXY_INCOMPLETE;
	size_t total = (size_t)(lf - buf) + 1;
	if (total < 2 || buf[total - 2] != '\r')
		return fail(h, "v1 header not ended by CRLF");
	const char *line = (const char *)buf;
	size_t end = total - 2, off = sizeof v1_sig - 1;
	for (size_t i = 0; i < end; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return fail(h, "v1 header with a control byte");
	h->version = 1;
	if (end - off >= 7 && memcmp(line + off, "UNKNOWN", 7) == 0 &&
	    (end - off == 7 || line[off + 7] == ' ')) {
		h->local = true;
		return (ssize_t)total;
	}
	const char *f;
	size_t flen;
	if (!field(line, end, &off, &f, &flen, false))
		return fail(h, "v1 header without a protocol");
	if (flen == 4 && memcmp(f, "TCP4", 4) == 0)
		h->family = AF_INET;
	else if (flen == 4 && memcmp(f, "TCP6", 4) == 0)
		h->family = AF_INET6;
	else
		return fail(h, "v1 protocol not TCP4, TCP6 or UNKNOWN");
	if (!field(line, end, &off, &f, &flen, false) || !parse_addr(h->family, f, flen, h->src))
		return fail(h, "v1 bad source address");
	if (!field(line, end, &off, &f, &flen, false) || !parse_addr(h->family, f, flen, h->dst))
		return fail(h, "v1 bad destination address");
	if (!field(line, end, &off, &f, &flen, false) || !parse_port(f, flen, &h->src_port))
		return fail(h, "v1 bad source port");
	if (!field(line, end, &off, &f, &flen, true) || !parse_port(f, flen, &h->dst_port))
		return fail(h, "v1 bad destination port");
	return (ssize_t)total;
}

static ssize_t decode_v2(const uint8_t *buf, size_t len, struct proxy_header *h)
{
	size_t cmp = len < sizeof v2_sig ? len : sizeof v2_sig;
	if (memcmp(buf, v2_sig, cmp) != 0)
		return fail(h, "not a PROXY protocol header");
	if (len < 13)
		return PROXY_INCOMPLETE;
	if ((buf[12] >> 4) != 2)
		return fail(h, "v2 header of an unknown version");
	if ((buf[12] & 0x0f) > 1)
		return fail(h, "v2 header with an unknown command");
	if (len < 14)
		return PROXY_INCOMPLETE;
	unsigned fam = buf[13] >> 4, proto = buf[13] & 0x0f;
	if (fam > 3 || proto > 2)
		return fail(h, "v2 header with an unknown family or transport");
	if (len < PROXY_V2_HEADER)
		return PROXY_INCOMPLETE;
	size_t body = (size_t)buf[14] << 8 | buf[15];
	if (body > PROXY_V2_MAX_BODY)
		return fail(h, "v2 header over 4096 bytes");
	bool cmd_proxy = (buf[12] & 0x0f) == 1;
	if (cmd_proxy && fam == 1 && body < 12)
		return fail(h, "v2 IPv4 addresses cut short");
	if (cmd_proxy && fam == 2 && body < 36)
		return fail(h, "v2 IPv6 addresses cut short");
	if (cmd_proxy && fam == 3 && body < 216)
		return fail(h, "v2 unix addresses cut short");
	if (len < PROXY_V2_HEADER + body)
		return PROXY_INCOMPLETE;
	h->version = 2;
	const uint8_t *a = buf + PROXY_V2_HEADER;
	if (!cmd_proxy || fam == 0 || fam == 3) {
		h->local = true;
	} else if (proto != 1) {
		return fail(h, "v2 transport not TCP");
	} else if (fam == 1) {
		h->family = AF_INET;
		memcpy(h->src, a, 4);
		memcpy(h->dst, a + 4, 4);
		h->src_port = (uint16_t)(a[8] << 8 | a[9]);
		h->dst_port = (uint16_t)(a[10] << 8 | a[11]);
	} else {
		h->family = AF_INET6;
		memcpy(h->src, a, 16);
		memcpy(h->dst, a + 16, 16);
		h->src_port = (uint16_t)(a[32] << 8 | a[33]);
		h->dst_port = (uint16_t)(a[34] << 8 | a[35]);
	}
	return (ssize_t)(PROXY_V2_HEADER + body);
}

ssize_t proxy_decode(const uint8_t *buf, size_t len, struct proxy_header *h)
{
	memset(h, 0, sizeof *h);
	if (len == 0)
		return PROXY_INCOMPLETE;
	if (buf[0] == 'P')
		return decode_v1(buf, len, h);
	if (buf[0] == 0x0d)
		return decode_v2(buf, len, h);
	return fail(h, "not a PROXY protocol header");
}
