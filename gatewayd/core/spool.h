/* A request body of unknown length, collected before the handler starts (CGI
 * needs CONTENT_LENGTH): in memory up to limits.body_memory, past that all of
 * it in an unnamed temporary file. */
#ifndef GW_SPOOL_H
#define GW_SPOOL_H

#include <stdint.h>

#include "gatewayd/core/buf.h"

struct request;

struct spool {
	struct buf mem;
	int fd; /* -1 while in memory */
	uint64_t size; /* bytes written */
	uint64_t read; /* bytes taken back with spool_read() */
	uint64_t file_start; /* the byte the file starts with: what was read before it */
};

void spool_init(struct spool *s);
/* Append n bytes; -1 (logged with rid) when the temp file fails. */
int spool_write(struct spool *s, const char *p, size_t n, const char *rid);
/* The body is complete: give it to r as its body, set CONTENT_LENGTH, leave s empty. */
void spool_hand_to(struct spool *s, struct request *r);
/* Take up to cap bytes back, in order (an overflow queue); returns how many. */
size_t spool_read(struct spool *s, char *dst, size_t cap);
static inline uint64_t spool_pending(const struct spool *s)
{
	return s->size - s->read;
}
void spool_free(struct spool *s);

#endif
