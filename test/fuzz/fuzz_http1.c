/* libFuzzer target: the HTTP/1.1 request parser and the chunked decoder.
 * Properties checked beyond "no crash": a complete head is never longer than
 * the input, and feeding the chunked decoder byte by byte yields the same
 * body as feeding it whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/http1.h"

static size_t dechunk(const char *buf, size_t len, size_t step, char *out, int *err)
{
	struct http1_chunked d = {0};
	size_t n = 0, off = 0;
	*err = 0;
	while (off < len && !d.done) {
		size_t avail = len - off < step ? len - off : step;
		const char *data;
		size_t dlen;
		ssize_t used = http1_chunked_decode(&d, buf + off, avail, &data, &dlen);
		if (used < 0) {
			*err = 1;
			break;
		}
		/* No body bytes in this call: data may be NULL, which memcpy may not get. */
		if (dlen)
			memcpy(out + n, data, dlen);
		n += dlen;
		off += (size_t)used;
		if (used == 0 && avail == len - off)
			break;
		if (used == 0)
			step++;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http1_header headers[32];
	struct http1_request req;
	struct http1_limits lim = {.max_request_line = 1024, .max_head = 4096, .max_headers = 32};
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);

	ssize_t n = http1_parse_request(buf, size, &req, headers, &lim);
	if (n > (ssize_t)size)
		abort();
	if (n > 0 && req.num_headers > lim.max_headers)
		abort();

	char *whole = malloc(size + 1), *bytewise = malloc(size + 1);
	int e1, e2;
	size_t a = dechunk(buf, size, size ? size : 1, whole, &e1);
	size_t b = dechunk(buf, size, 1, bytewise, &e2);
	if (!e1 && !e2 && (a != b || memcmp(whole, bytewise, a) != 0))
		abort();
	free(whole);
	free(bytewise);
	free(buf);
	return 0;
}
