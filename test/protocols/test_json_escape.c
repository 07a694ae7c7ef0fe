/* Tests for protocols/json_escape.c.
 *
 * A table of inputs and the exact JSON string body each must give: plain
 * text, every short escape, NUL and DEL, valid UTF-8 of every length (kept),
 * and what is not UTF-8 (stray continuation bytes, overlong forms, encoded
 * surrogates, code points above U+10FFFF, sequences cut short, 0xc0, 0xc1 and
 * 0xf5-0xff), each invalid byte as \\xHH. For every case, the input placed
 * right before a guard page: the output parses with jansson as a JSON string,
 * and json_unescape_bytes() of what jansson decodes gives back the input byte
 * for byte. Then a full output: only whole escapes and whole sequences. */
#include "protocols/json_escape.h"
#include "test/corpus.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) lit, sizeof lit - 1

static const struct {
	const char *in;
	size_t n;
	const char *want;
} cases[] = {
	{S(""), ""},
	{S("plain text"), "plain text"},
	{S("say \"hi\""), "say \\\"hi\\\""},
	{S("back\\slash"), "back\\\\\\\\slash"}, /* decoded: back\\slash */
	{S("a\tb\nc\rd\be\ff"), "a\\tb\\nc\\rd\\be\\ff"},
	{S("nul\0end"), "nul\\\\x00end"},
	{S("\x01\x1f"), "\\u0001\\u001f"},
	{S("del\x7f"), "del\\u007f"},
	{S("\x0b"), "\\u000b"},
	{S("caf\xc3\xa9"), "caf\xc3\xa9"},                   /* U+00E9 */
	{S("\xe2\x82\xac"), "\xe2\x82\xac"},                 /* U+20AC */
	{S("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80"},         /* U+1F600 */
	{S("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf"},         /* U+10FFFF */
	{S("\xed\x9f\xbf"), "\xed\x9f\xbf"},                 /* U+D7FF */
	{S("\xee\x80\x80"), "\xee\x80\x80"},                 /* U+E000 */
	{S("\x80"), "\\\\x80"},                             /* stray continuation */
	{S("a\xbf" "b"), "a\\\\xbfb"},
	{S("\xc0\xaf"), "\\\\xc0\\\\xaf"},                  /* overlong '/' */
	{S("\xc1\xbf"), "\\\\xc1\\\\xbf"},
	{S("\xe0\x80\xaf"), "\\\\xe0\\\\x80\\\\xaf"},       /* overlong, 3 bytes */
	{S("\xf0\x80\x80\xaf"), "\\\\xf0\\\\x80\\\\x80\\\\xaf"},
	{S("\xed\xa0\x80"), "\\\\xed\\\\xa0\\\\x80"},       /* U+D800 */
	{S("\xed\xbf\xbf"), "\\\\xed\\\\xbf\\\\xbf"},       /* U+DFFF */
	{S("\xf4\x90\x80\x80"), "\\\\xf4\\\\x90\\\\x80\\\\x80"}, /* U+110000 */
	{S("\xf5\x80\x80\x80"), "\\\\xf5\\\\x80\\\\x80\\\\x80"},
	{S("\xff\xfe"), "\\\\xff\\\\xfe"},
	{S("\xc3"), "\\\\xc3"},                             /* cut short at the end */
	{S("\xe2\x82"), "\\\\xe2\\\\x82"},
	{S("\xe2\x82x"), "\\\\xe2\\\\x82x"},                /* cut short before ASCII */
	{S("\xc3\xc3\xa9"), "\\\\xc3\xc3\xa9"},             /* a bad lead, then a good one */
	{S("\\x41"), "\\\\\\\\x41"},    /* text that looks like an escape stays text */
	{S("\xc3\xa9\\\x80\""), "\xc3\xa9\\\\\\\\\\\\x80\\\""},
};

Test(json_escape, table)
{
	struct guard g = guard_new(64);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *in = guard_place(&g, cases[i].in, cases[i].n);
		char out[256];
		size_t used = 12345;
		size_t len = json_escape(out, sizeof out, in, cases[i].n, &used);
		cr_expect_eq(used, cases[i].n, "case %zu: used %zu", i, used);
		cr_expect(bytes_eq(out, len, cases[i].want, strlen(cases[i].want)),
		          "case %zu: got \"%.*s\", want \"%s\"", i, (int)len, out, cases[i].want);
		cr_expect_leq(len, JSON_ESCAPE_MAX(cases[i].n), "case %zu", i);

		/* A JSON string a parser takes, and the bytes back from it. */
		char doc[300];
		int dn = snprintf(doc, sizeof doc, "[\"%.*s\"]", (int)len, out);
		json_error_t err;
		json_t *v = json_loadb(doc, (size_t)dn, 0, &err);
		cr_assert_not_null(v, "case %zu: jansson: %s in %s", i, err.text, doc);
		json_t *s = json_array_get(v, 0);
		char back[64];
		size_t bn = json_unescape_bytes(back, json_string_value(s), json_string_length(s));
		cr_expect(bytes_eq(back, bn, cases[i].in, cases[i].n), "case %zu: not reversible", i);
		json_decref(v);
	}
	guard_free(&g);
}

/* Stopped by a full output, it never writes part of an escape or of a UTF-8
 * sequence, and says how far it got: escaping the rest continues exactly. */
Test(json_escape, full_output_stops_between_units)
{
	static const char in[] = "a\"\xc3\xa9\x80\\\xf0\x9f\x98\x80\x01z";
	size_t n = sizeof in - 1;
	char whole[128];
	size_t wlen = json_escape(whole, sizeof whole, in, n, NULL);
	for (size_t cap = 0; cap <= wlen; cap++) {
		char out[128];
		size_t used;
		size_t len = json_escape(out, cap, in, n, &used);
		cr_expect_leq(len, cap);
		char rest[128];
		size_t used2;
		size_t rlen = json_escape(rest, sizeof rest, in + used, n - used, &used2);
		cr_expect_eq(used + used2, n);
		cr_expect_eq(len + rlen, wlen, "cap %zu", cap);
		cr_expect(memcmp(out, whole, len) == 0 && memcmp(rest, whole + len, rlen) == 0,
		          "cap %zu: a unit was split", cap);
	}
}

Test(json_escape, unescape_refuses_a_lone_backslash)
{
	char out[8];
	cr_expect_eq(json_unescape_bytes(out, "a\\", 2), (size_t)-1);
	cr_expect_eq(json_unescape_bytes(out, "\\x4", 3), (size_t)-1);
	cr_expect_eq(json_unescape_bytes(out, "\\n", 2), (size_t)-1);
	cr_expect_eq(json_unescape_bytes(out, "\\xFF", 4), 1);
	cr_expect_eq((unsigned char)out[0], 0xff);
}
