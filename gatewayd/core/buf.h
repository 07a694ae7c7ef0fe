/* A byte buffer with a consumed front and a free tail.
 *
 * Invariants: start <= end <= cap; bytes [start, end) are unread data.
 * The owner frees it with buf_free(); data is NULL until the first append.
 *
 * Out of memory is sticky: an append or reserve that cannot grow the buffer
 * sets failed, which stays set until buf_free(). Writers need not check each
 * append; whoever flushes the buffer (a connection's write loop, a queue
 * handed on) checks failed once and fails that one request, so a response
 * never goes out with a silent hole in it. */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t start;
	size_t end;
	size_t cap;
	bool failed; /* an append did not fit: the contents have a hole */
};

static inline size_t buf_len(const struct buf *b)
{
	return b->end - b->start;
}
static inline char *buf_head(const struct buf *b)
{
	return b->data + b->start;
}

/* Make room for at least n bytes after end; returns the writable tail, or
 * NULL (and failed set) when memory runs out. */
char *buf_reserve(struct buf *b, size_t n);
/* n bytes were written into the tail returned by buf_reserve(). */
void buf_commit(struct buf *b, size_t n);
/* 0, or -1 with failed set. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
/* v in decimal (http1_decimal). */
int buf_append_uint(struct buf *b, unsigned long long v);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keep the first n bytes (what was appended after them is dropped). */
void buf_truncate(struct buf *b, size_t n);
/* Drop n bytes from the front. */
void buf_consume(struct buf *b, size_t n);
/* Empty it (failed stays: what was lost is still lost). */
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
