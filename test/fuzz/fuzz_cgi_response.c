/* libFuzzer target: the CGI response header parser, and url decoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/cgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http1_header headers[16];
	struct cgi_response resp;
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	ssize_t n = cgi_response_parse(buf, size, &resp, headers, 16);
	if (n > (ssize_t)size)
		abort();
	if (n > 0 && (resp.status < 100 || resp.status > 599))
		abort();
	char *dec = malloc(size + 1);
	ssize_t d = cgi_url_decode(dec, buf, size);
	if (d > (ssize_t)size)
		abort();
	char **argv = NULL;
	if (cgi_isindex_argv(buf, size, "x", &argv, 8) > 0)
		cgi_argv_free(argv);
	free(dec);
	free(buf);
	return 0;
}
