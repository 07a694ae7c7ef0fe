/* Bytes as the inside of a JSON string, reversibly: see json_escape.h. */
#include "protocols/json_escape.h"

#include "protocols/http1_lex.h" /* hex_value() */

static const char hex[] = "0123456789abcdef";

/* The length of the valid UTF-8 sequence at p[0..n) (RFC 3629 table 3.7 of
 * Unicode), or 0 if the byte at p starts none. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

size_t json_escape(char *out, size_t cap, const char *in, size_t n, size_t *used)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, o = 0;
	while (i < n) {
		char e[8];
		size_t elen = 0, take = 1;
		unsigned char c = p[i];
		if (c == '"') {
			e[0] = '\\', e[1] = '"', elen = 2;
		} else if (c == '\\') {
			e[0] = e[1] = e[2] = e[3] = '\\', elen = 4;
		} else if (c == 0) { /* as a byte: many parsers refuse \u0000 */
			e[0] = e[1] = '\\', e[2] = 'x', e[3] = e[4] = '0', elen = 5;
		} else if (c < 0x20 || c == 0x7f) {
			static const char short_esc[] = "btn\0fr"; /* 0x08..0x0d */
			if (c >= 0x08 && c <= 0x0d && short_esc[c - 0x08]) {
				e[0] = '\\', e[1] = short_esc[c - 0x08], elen = 2;
			} else {
				e[0] = '\\', e[1] = 'u', e[2] = '0', e[3] = '0';
				e[4] = hex[c >> 4], e[5] = hex[c & 15], elen = 6;
			}
		} else if (c >= 0x80 && (take = utf8_len(p + i, n - i)) == 0) {
			take = 1;
			e[0] = e[1] = '\\', e[2] = 'x';
			e[3] = hex[c >> 4], e[4] = hex[c & 15], elen = 5;
		}
		if (elen == 0) {
			if (cap - o < take)
				break;
			for (size_t k = 0; k < take; k++)
				out[o++] = (char)p[i + k];
		} else {
			if (cap - o < elen)
				break;
			for (size_t k = 0; k < elen; k++)
				out[o++] = e[k];
		}
		i += take;
	}
	if (used)
		*used = i;
	return o;
}

size_t json_unescape_bytes(char *out, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		if (i + 1 < n && s[i + 1] == '\\') {
			out[o++] = '\\';
			i++;
		} else if (i + 3 < n && s[i + 1] == 'x' && hex_value(s[i + 2]) >= 0 &&
		           hex_value(s[i + 3]) >= 0) {
			out[o++] = (char)(hex_value(s[i + 2]) << 4 | hex_value(s[i + 3]));
			i += 3;
		} else {
			return (size_t)-1;
		}
	}
	return o;
}
