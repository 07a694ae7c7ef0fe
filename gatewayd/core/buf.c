#include "gatewayd/core/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/http1.h"

char *buf_reserve(struct buf *b, size_t n)
{
	if (b->cap - b->end >= n)
		return b->data + b->end;
	size_t len = buf_len(b);
	if (b->start > 0 && b->cap - len >= n) {
		/* Enough room once the consumed front is reclaimed. */
		memmove(b->data, b->data + b->start, len);
		b->start = 0;
		b->end = len;
		return b->data + b->end;
	}
	size_t cap = b->cap ? b->cap : 1024;
	while (cap - len < n) {
		if (cap > SIZE_MAX / 2) {
			b->failed = true;
			return NULL;
		}
		cap *= 2;
	}
	char *p = malloc(cap);
	if (!p) {
		b->failed = true;
		return NULL;
	}
	if (len)
		memcpy(p, b->data + b->start, len);
	free(b->data);
	b->data = p;
	b->start = 0;
	b->end = len;
	b->cap = cap;
	return b->data + b->end;
}

void buf_commit(struct buf *b, size_t n)
{
	b->end += n;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	char *dst = buf_reserve(b, n);
	if (!dst)
		return -1;
	memcpy(dst, p, n);
	b->end += n;
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_uint(struct buf *b, unsigned long long v)
{
	char digits[20];
	return buf_append(b, digits, http1_decimal(digits, v));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	/* Format once into the room there is (a header line fits); again only
	 * when it did not fit. */
	char *dst = buf_reserve(b, 256);
	if (!dst)
		return -1;
	size_t room = b->cap - b->end;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return -1;
	}
	if ((size_t)n >= room) {
		if (!(dst = buf_reserve(b, (size_t)n + 1)))
			return -1;
		va_start(ap, fmt);
		vsnprintf(dst, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->end += (size_t)n;
	return 0;
}

void buf_truncate(struct buf *b, size_t n)
{
	if (n < buf_len(b))
		b->end = b->start + n;
}

void buf_consume(struct buf *b, size_t n)
{
	b->start += n;
	if (b->start == b->end)
		b->start = b->end = 0;
}

void buf_reset(struct buf *b)
{
	b->start = b->end = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->start = b->end = b->cap = 0;
	b->failed = false;
}
