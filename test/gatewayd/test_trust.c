/* Tests for gatewayd/core/trust.c: trusted_proxies' blocks, the walk of
 * X-Forwarded-For and Forwarded from the right, the X-Request-Id check. */
#include "gatewayd/core/config.h"
#include "gatewayd/core/trust.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static struct cidr blocks[4];
static struct config cfg = { .trusted = blocks, .ntrusted = 4 };

static void setup(void)
{
	static const char *const list[] = { "127.0.0.1", "10.0.0.0/8", "2001:db8:ffff::/48",
		                            "192.168.1.128/25" };
	for (size_t i = 0; i < NELEM(list); i++)
		cr_assert_eq(cidr_parse(list[i], &blocks[i]), 0, "%s", list[i]);
}

Test(trust, cidr_parse_refuses)
{
	static const char *const bad[] = { "",          "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/",
		                           "10.0.0.0/-1", "::1/129",  "lb.example",  "10.0.0.0/8x",
		                           "1.2.3",     "::1/+8" };
	struct cidr c;
	for (size_t i = 0; i < NELEM(bad); i++)
		cr_expect_eq(cidr_parse(bad[i], &c), -1, "%s accepted", bad[i]);
	cr_expect_eq(cidr_parse("0.0.0.0/0", &c), 0);
	cr_expect_eq(cidr_parse("::/0", &c), 0);
}

Test(trust, addresses, .init = setup)
{
	static const struct {
		const char *addr;
		bool trusted;
	} cases[] = {
		{ "127.0.0.1", true },          { "127.0.0.2", false },
		{ "10.255.0.1", true },         { "11.0.0.1", false },
		{ "::ffff:10.1.2.3", true },    { "2001:db8:ffff:1::1", true },
		{ "2001:db8:fffe::1", false },  { "192.168.1.128", true },
		{ "192.168.1.127", false },     { "192.168.1.255", true },
		{ "not an address", false },    { "", false },
	};
	for (size_t i = 0; i < NELEM(cases); i++)
		cr_expect_eq(trust_addr(&cfg, cases[i].addr), cases[i].trusted, "%s", cases[i].addr);
	struct config none = { 0 };
	cr_expect(!trust_addr(&none, "127.0.0.1"), "an empty list trusts no one");
}

Test(trust, walk, .init = setup)
{
	static const struct {
		const char *value;
		bool forwarded;
		const char *addr; /* NULL: no address */
		unsigned port;
	} cases[] = {
		{ "203.0.113.9", false, "203.0.113.9", 0 },
		{ "198.51.100.7, 203.0.113.9, 10.1.2.3", false, "203.0.113.9", 0 },
		{ "10.0.0.1,10.0.0.2", false, "10.0.0.1", 0 }, /* all trusted: the left-most */
		{ "198.51.100.7, junk, 10.0.0.1", false, "10.0.0.1", 0 },
		{ "junk", false, NULL, 0 },
		{ "", false, NULL, 0 },
		{ "  2001:db8::5 ", false, "2001:db8::5", 0 },
		{ "::ffff:203.0.113.9", false, "203.0.113.9", 0 },
		{ "for=192.0.2.60;proto=http;by=203.0.113.43", true, "192.0.2.60", 0 },
		{ "for=192.0.2.60, for=\"[2001:db8:cafe::17]:4711\"", true, "2001:db8:cafe::17", 4711 },
		{ "for=192.0.2.60:8080, for=\"[2001:db8:ffff::1]\"", true, "192.0.2.60", 8080 },
		{ "FOR=192.0.2.61", true, "192.0.2.61", 0 },
		{ "proto=https;for=\"192.0.2.62:443\"", true, "192.0.2.62", 443 },
		{ "for=unknown", true, NULL, 0 },
		{ "for=192.0.2.60, for=_hidden, for=10.0.0.1", true, "10.0.0.1", 0 },
		{ "by=10.0.0.1", true, NULL, 0 },
		{ "for=\"[2001:db8::1\"", true, NULL, 0 },
		{ "for=192.0.2.60:99999", true, NULL, 0 },
	};
	for (size_t i = 0; i < NELEM(cases); i++) {
		char addr[INET6_ADDRSTRLEN] = "";
		unsigned port = 12345;
		bool got = trust_walk(&cfg, cases[i].value, strlen(cases[i].value),
		                      cases[i].forwarded, addr, &port);
		cr_expect_eq(got, cases[i].addr != NULL, "%s", cases[i].value);
		if (got && cases[i].addr) {
			cr_expect_str_eq(addr, cases[i].addr, "%s", cases[i].value);
			cr_expect_eq(port, cases[i].port, "%s", cases[i].value);
		}
	}
}

Test(trust, request_id)
{
	char long_id[TRUST_REQUEST_ID_MAX + 2];
	memset(long_id, 'a', sizeof long_id);
	cr_expect(trust_request_id_valid("lb-7f3a.42:abc", 14));
	cr_expect(trust_request_id_valid("550e8400-e29b-41d4-a716-446655440000", 36));
	cr_expect(trust_request_id_valid(long_id, TRUST_REQUEST_ID_MAX));
	cr_expect(!trust_request_id_valid(long_id, TRUST_REQUEST_ID_MAX + 1));
	cr_expect(!trust_request_id_valid("", 0));
	cr_expect(!trust_request_id_valid("a b", 3));
	cr_expect(!trust_request_id_valid("a\0b", 3));
	cr_expect(!trust_request_id_valid("a\"b", 3));
	cr_expect(!trust_request_id_valid("a%0a", 4));
}
