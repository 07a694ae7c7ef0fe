/* Shared by the fuzz targets of the binary protocols (FastCGI, uwsgi). */
#ifndef GW_TEST_FUZZ_H
#define GW_TEST_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/http1.h"

#define CHECK(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

/* The input as the target reads it: a copy of exactly size bytes (malloc'd),
 * so that ASan sees any over-read. What looks like HTTP sent where records
 * are expected starts with an upper-case letter (so never with a FastCGI
 * version of 1 or a uwsgi modifier1 of 0). */
static inline uint8_t *fuzz_input(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	if (http1_looks_like_request(buf, size))
		CHECK(buf[0] >= 'A' && buf[0] <= 'Z');
	return buf;
}

#endif
