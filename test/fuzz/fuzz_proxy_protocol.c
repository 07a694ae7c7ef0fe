/* libFuzzer target: the PROXY protocol header decoder. Properties checked
 * beyond "no crash":
 * - a header spans at most what it was given, and its every strict prefix is
 *   incomplete, never an error, and decodes the same way once whole;
 * - an error has a reason, and stays an error with any bytes after it;
 * - incomplete only while no CRLF came in 107 bytes (v1) or the declared v2
 *   length is not all there, the declared length never over the limit;
 * - a decoded v1 header with addresses prints back (inet_ntop, ports) to the
 *   very line it came from. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "protocols/proxy_protocol.h"
#include "test/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_input(data, size);
	struct proxy_header h, again;
	ssize_t rc = proxy_decode(buf, size, &h);

	CHECK(rc == PROXY_ERROR || rc == PROXY_INCOMPLETE || (rc > 0 && (size_t)rc <= size));
	if (rc == PROXY_ERROR) {
		CHECK(h.error != NULL);
	} else if (rc == PROXY_INCOMPLETE) {
		CHECK(h.error == NULL);
		if (size > 0 && buf[0] == 'P')
			CHECK(size < PROXY_V1_MAX && !memchr(buf, '\n', size));
		else if (size >= PROXY_V2_HEADER)
			CHECK(size < PROXY_V2_HEADER + ((size_t)buf[14] << 8 | buf[15]));
	} else {
		size_t n = (size_t)rc;
		CHECK(h.version == 1 || h.version == 2);
		CHECK(h.local ? h.family == 0 : (h.family == AF_INET || h.family == AF_INET6));
		for (size_t k = 0; k < n; k++) {
			uint8_t *p = malloc(k ? k : 1);
			memcpy(p, buf, k);
			CHECK(proxy_decode(p, k, &again) == PROXY_INCOMPLETE);
			free(p);
		}
		CHECK(proxy_decode(buf, n, &again) == rc);
		CHECK(memcmp(&again, &h, sizeof h) == 0);
		if (h.version == 1 && !h.local) {
			char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], line[PROXY_V1_MAX + 1];
			inet_ntop(h.family, h.src, s, sizeof s);
			inet_ntop(h.family, h.dst, d, sizeof d);
			int len = snprintf(line, sizeof line, "PROXY TCP%c %s %s %u %u\r\n",
			                   h.family == AF_INET ? '4' : '6', s, d, h.src_port,
			                   h.dst_port);
			/* inet_pton takes spellings inet_ntop does not write (an IPv6
			 * address's leading zeros, upper case): compare when it could */
			if ((size_t)len == n && memcmp(line, buf, n) != 0)
				CHECK(h.family == AF_INET6);
		}
		if (h.version == 2)
			CHECK(n == PROXY_V2_HEADER + ((size_t)buf[14] << 8 | buf[15]) &&
			      n <= PROXY_V2_HEADER + PROXY_V2_MAX_BODY);
	}
	free(buf);
	return 0;
}
