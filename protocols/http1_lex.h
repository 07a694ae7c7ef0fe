/* Character classes and list elements of HTTP/1.1 (RFC 9110 §5.6), shared by
 * the codec's files. Internal to protocols/: not part of http1.h. */
#ifndef GW_PROTOCOLS_HTTP1_LEX_H
#define GW_PROTOCOLS_HTTP1_LEX_H

#include <string.h>

#include "protocols/http1.h"

static inline bool is_tchar(char c)
{
	return http1_is_tchar((unsigned char)c);
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static inline int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* VCHAR or obs-text: a byte of a request-target, of a field value but its
 * whitespace, of a chunk extension. No CTL, SP or DEL. */
static inline bool is_visible(char c)
{
	unsigned char u = (unsigned char)c;
	return u > 0x20 && u != 0x7f;
}

static inline struct http1_str mkstr(const char *p, const char *end)
{
	return (struct http1_str){ .p = p, .len = (size_t)(end - p) };
}

/* Next element of a comma-separated list (1#element) at *pos, OWS trimmed;
 * empty elements are skipped. False at the end of the list. */
static inline bool next_element(const char **pos, const char *end, struct http1_str *elem)
{
	const char *s = *pos;

	while (s < end && (is_ows(*s) || *s == ','))
		s++;
	*pos = s;
	if (s == end)
		return false;
	const char *start = s;
	while (s < end && *s != ',')
		s++;
	const char *last = s;
	while (last > start && is_ows(last[-1]))
		last--;
	*elem = mkstr(start, last);
	*pos = s;
	return true;
}

static inline bool list_has(struct http1_str value, const char *lit)
{
	const char *pos = value.p;
	struct http1_str elem;

	while (next_element(&pos, value.p + value.len, &elem))
		if (http1_str_ieq(elem, lit))
			return true;
	return false;
}

#endif
