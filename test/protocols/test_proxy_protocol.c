/* Tests for protocols/proxy_protocol.c.
 *
 * Table-driven: every case is decoded whole, and fed split at every byte
 * (each prefix placed right before a PROT_NONE page, so a read past the
 * input faults):
 * - a valid header: every strict prefix is PROXY_INCOMPLETE, the whole gives
 *   exactly its length and the decoded addresses, and with a request after it
 *   the same length (the decoder never reads past the header);
 * - a malformed one: every prefix is INCOMPLETE until some byte, then
 *   PROXY_ERROR for that prefix and every longer one, the whole giving the
 *   expected reason.
 * The v2 cases are HAProxy's own bytes (send-proxy-v2, with and without its
 * TLVs) and hand-built ones. */
#include "protocols/proxy_protocol.h"
#include "test/corpus.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define SIG "\r\n\r\n\0\r\nQUIT\n"

struct ok_case {
	const char *name;
	const char *bytes;
	size_t len;
	int version;
	bool local;
	int family;
	const char *src, *dst;
	unsigned sport, dport;
};

#define B(s) s, sizeof(s) - 1

static const struct ok_case ok_cases[] = {
	{ "v1 tcp4", B("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"), 1, false, AF_INET,
	  "192.0.2.1", "198.51.100.2", 56324, 443 },
	{ "v1 tcp6", B("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"), 1, false, AF_INET6,
	  "2001:db8::1", "2001:db8::2", 1, 65535 },
	{ "v1 port 0", B("PROXY TCP4 10.0.0.1 10.0.0.2 0 80\r\n"), 1, false, AF_INET, "10.0.0.1",
	  "10.0.0.2", 0, 80 },
	{ "v1 unknown", B("PROXY UNKNOWN\r\n"), 1, true, 0, NULL, NULL, 0, 0 },
	{ "v1 unknown with addresses", B("PROXY UNKNOWN ffff:: ffff:: 65535 65535\r\n"), 1, true,
	  0, NULL, NULL, 0, 0 },
	{ "v1 longest", B("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
	  1, false, AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535 },
	{ "v2 tcp4", B(SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xdc\x04\x01\xbb"),
	  2, false, AF_INET, "192.0.2.1", "198.51.100.2", 56324, 443 },
	{ "v2 tcp6", B(SIG "\x21\x21\x00\x24"
	               "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	               "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
	               "\x30\x39\x00\x50"),
	  2, false, AF_INET6, "2001:db8::1", "2001:db8::2", 12345, 80 },
	/* HAProxy 2.x send-proxy-v2 with its TLVs: ALPN (0x01) and a NOOP
	 * padding (0x04); skipped. */
	{ "v2 tcp4 with TLVs", B(SIG "\x21\x11\x00\x18" "\x7f\x00\x00\x01" "\x7f\x00\x00\x01"
	                         "\x9c\x40\x1f\x90" "\x01\x00\x02h2" "\x04\x00\x04\0\0\0\0"),
	  2, false, AF_INET, "127.0.0.1", "127.0.0.1", 40000, 8080 },
	{ "v2 local", B(SIG "\x20\x00\x00\x00"), 2, true, 0, NULL, NULL, 0, 0 },
	{ "v2 local ignores addresses", B(SIG "\x20\x11\x00\x0c" "\1\2\3\4\5\6\7\x08\x09\x0a\x0b\x0c"),
	  2, true, 0, NULL, NULL, 0, 0 },
	{ "v2 proxy unspec", B(SIG "\x21\x00\x00\x00"), 2, true, 0, NULL, NULL, 0, 0 },
};

struct bad_case {
	const char *name;
	const char *bytes;
	size_t len;
	const char *error;
};

static const struct bad_case bad_cases[] = {
	{ "http request", B("GET / HTTP/1.1\r\n\r\n"), "not a PROXY protocol header" },
	{ "lower-case proxy", B("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), "not a PROXY protocol header" },
	{ "v1 LF only", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), "v1 header not ended by CRLF" },
	{ "v1 no protocol", B("PROXY \r\n"), "v1 header without a protocol" },
	{ "v1 udp", B("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), "v1 protocol not TCP4, TCP6 or UNKNOWN" },
	{ "v1 v6 in tcp4", B("PROXY TCP4 ::1 ::1 1 2\r\n"), "v1 bad source address" },
	{ "v1 bad dst", B("PROXY TCP4 1.2.3.4 5.6.7 1 2\r\n"), "v1 bad destination address" },
	{ "v1 port too big", B("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), "v1 bad source port" },
	{ "v1 leading zero", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n"), "v1 bad destination port" },
	{ "v1 missing dport", B("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), "v1 bad source port" },
	{ "v1 trailing field", B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), "v1 bad destination port" },
	{ "v1 double space", B("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), "v1 bad source address" },
	{ "v1 control byte", B("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n"), "v1 header with a control byte" },
	{ "v1 no end in 107 bytes",
	  B("PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxx\r\n"),
	  "v1 header over 107 bytes" },
	{ "v2 bad signature", B("\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x00"), "not a PROXY protocol header" },
	{ "v2 version 1", B(SIG "\x11\x11\x00\x0c"), "v2 header of an unknown version" },
	{ "v2 command 2", B(SIG "\x22\x11\x00\x0c"), "v2 header with an unknown command" },
	{ "v2 family 4", B(SIG "\x21\x41\x00\x0c"), "v2 header with an unknown family or transport" },
	{ "v2 too long", B(SIG "\x21\x11\x10\x01"), "v2 header over 4096 bytes" },
	{ "v2 ipv4 short", B(SIG "\x21\x11\x00\x0b"), "v2 IPv4 addresses cut short" },
	{ "v2 ipv6 short", B(SIG "\x21\x21\x00\x0c"), "v2 IPv6 addresses cut short" },
	{ "v2 udp", B(SIG "\x21\x12\x00\x0c" "\1\2\3\4\5\6\7\x08\x09\x0a\x0b\x0c"), "v2 transport not TCP" },
};

static void check_addr(int family, const uint8_t *got, const char *want, const char *name)
{
	uint8_t w[16];
	cr_assert_eq(inet_pton(family, want, w), 1);
	cr_assert(memcmp(got, w, family == AF_INET ? 4 : 16) == 0, "%s: address %s", name, want);
}

Test(proxy_protocol, valid_headers_at_every_split)
{
	struct guard g = guard_new(8192);
	for (size_t i = 0; i < NELEM(ok_cases); i++) {
		const struct ok_case *c = &ok_cases[i];
		struct proxy_header h;
		for (size_t k = 0; k < c->len; k++) {
			const uint8_t *at = guard_place(&g, c->bytes, k);
			cr_assert_eq(proxy_decode(at, k, &h), PROXY_INCOMPLETE, "%s: prefix %zu: %s",
			             c->name, k, h.error ? h.error : "");
		}
		const uint8_t *at = guard_place(&g, c->bytes, c->len);
		cr_assert_eq(proxy_decode(at, c->len, &h), (ssize_t)c->len, "%s: %s", c->name,
		             h.error ? h.error : "");
		cr_assert_eq(h.version, c->version, "%s", c->name);
		cr_assert_eq(h.local, c->local, "%s", c->name);
		cr_assert_eq(h.family, c->family, "%s", c->name);
		if (!c->local) {
			check_addr(c->family, h.src, c->src, c->name);
			check_addr(c->family, h.dst, c->dst, c->name);
			cr_assert_eq(h.src_port, c->sport, "%s", c->name);
			cr_assert_eq(h.dst_port, c->dport, "%s", c->name);
		}
		/* a request right after: the header alone is consumed */
		char more[8192];
		memcpy(more, c->bytes, c->len);
		memcpy(more + c->len, "GET / HTTP/1.1\r\n\r\n", 18);
		at = guard_place(&g, more, c->len + 18);
		cr_assert_eq(proxy_decode(at, c->len + 18, &h), (ssize_t)c->len, "%s", c->name);
	}
	guard_free(&g);
}

Test(proxy_protocol, malformed_headers_at_every_split)
{
	struct guard g = guard_new(8192);
	for (size_t i = 0; i < NELEM(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct proxy_header h;
		bool failed = false;
		for (size_t k = 0; k <= c->len; k++) {
			const uint8_t *at = guard_place(&g, c->bytes, k);
			ssize_t rc = proxy_decode(at, k, &h);
			if (failed)
				cr_assert_eq(rc, PROXY_ERROR, "%s: prefix %zu after an error", c->name, k);
			else
				cr_assert(rc == PROXY_INCOMPLETE || rc == PROXY_ERROR,
				          "%s: prefix %zu gave %zd", c->name, k, rc);
			failed = rc == PROXY_ERROR;
			if (rc == PROXY_ERROR)
				cr_assert_not_null(h.error);
		}
		cr_assert(failed, "%s: never refused", c->name);
		cr_assert_str_eq(h.error, c->error, "%s", c->name);
	}
	guard_free(&g);
}

/* A v2 body at the limit decodes; the TLVs are anything at all. */
Test(proxy_protocol, v2_largest_body)
{
	static uint8_t buf[PROXY_V2_HEADER + PROXY_V2_MAX_BODY];
	struct proxy_header h;
	memcpy(buf, SIG "\x21\x11", 14);
	buf[14] = PROXY_V2_MAX_BODY >> 8;
	buf[15] = PROXY_V2_MAX_BODY & 0xff;
	memset(buf + 16, 0xab, PROXY_V2_MAX_BODY);
	cr_assert_eq(proxy_decode(buf, sizeof buf - 1, &h), PROXY_INCOMPLETE);
	cr_assert_eq(proxy_decode(buf, sizeof buf, &h), (ssize_t)sizeof buf);
	cr_assert_eq(h.family, AF_INET);
	cr_assert_eq(h.src_port, 0xabab);
}
