/* The chunked transfer coding of request bodies (RFC 9112 §7.1), a byte-at-a-
 * time state machine. Pure; see http1.h. */
#include "protocols/http1.h"

#include "protocols/http1_lex.h"

/* ---- chunked transfer coding (RFC 9112 §7.1) ------------------------------- */

enum chunked_state {
	CH_SIZE_START = 0, /* the first hex digit of a chunk-size */
	CH_SIZE, /* more hex digits */
	CH_SIZE_BWS, /* whitespace after the size: only a ';' may follow */
	CH_EXT, /* a chunk extension: skipped */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START, /* a trailer field line, or the empty line that ends them */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_END_LF,
	CH_DONE,
	CH_FAILED,
};

/* A chunk-size line (size and extensions) longer than this is refused. */
#define CHUNK_LINE_MAX 4096
#define TRAILER_MAX_DEFAULT 8192

static enum chunked_state chunk_size_digit(struct http1_chunked *d, int v)
{
	if (d->remaining > ((uint64_t)INT64_MAX - (unsigned)v) / 16)
		return CH_FAILED;
	d->remaining = d->remaining * 16 + (unsigned)v;
	return CH_SIZE;
}

/* Every line of the coding (chunk-size lines, the CRLF after data, trailer field
 * lines and the empty line that ends them) must end in CRLF: a bare LF is refused,
 * since framing that other parsers read differently is how bodies are smuggled. */
static enum chunked_state chunk_step(struct http1_chunked *d, char c)
{
	switch ((enum chunked_state)d->state) {
	case CH_SIZE_START:
		d->remaining = 0;
		d->line_bytes = 0;
		return hex_value(c) < 0 ? CH_FAILED : chunk_size_digit(d, hex_value(c));
	case CH_SIZE:
		if (hex_value(c) >= 0)
			return chunk_size_digit(d, hex_value(c));
		/* fall through */
	case CH_SIZE_BWS:
		if (c == ';')
			return CH_EXT;
		if (is_ows(c))
			return CH_SIZE_BWS;
		if (c == '\r' && d->state == CH_SIZE)
			return CH_SIZE_LF;
		return CH_FAILED;
	case CH_EXT:
		if (c == '\r')
			return CH_SIZE_LF;
		return is_ows(c) || is_visible(c) ? CH_EXT : CH_FAILED;
	case CH_SIZE_LF:
		if (c != '\n')
			return CH_FAILED;
		d->trailer_bytes = 0;
		return d->remaining ? CH_DATA : CH_TRAILER_START;
	case CH_DATA_CR:
		return c == '\r' ? CH_DATA_LF : CH_FAILED;
	case CH_DATA_LF:
		return c == '\n' ? CH_SIZE_START : CH_FAILED;
	case CH_TRAILER_START:
		if (c == '\r')
			return CH_END_LF;
		return is_tchar(c) ? CH_TRAILER_NAME : CH_FAILED;
	case CH_TRAILER_NAME:
		if (c == ':')
			return CH_TRAILER_VALUE;
		return is_tchar(c) ? CH_TRAILER_NAME : CH_FAILED;
	case CH_TRAILER_VALUE:
		if (c == '\r')
			return CH_TRAILER_LF;
		return is_ows(c) || is_visible(c) ? CH_TRAILER_VALUE : CH_FAILED;
	case CH_TRAILER_LF:
		return c == '\n' ? CH_TRAILER_START : CH_FAILED;
	case CH_END_LF:
		return c == '\n' ? CH_DONE : CH_FAILED;
	case CH_DATA:
	case CH_DONE:
	case CH_FAILED:
		break;
	}
	return CH_FAILED;
}

/* Count the byte against the bound of the line or section it belongs to. */
static bool chunk_within_bounds(struct http1_chunked *d)
{
	size_t max_trailer = d->max_trailer ? d->max_trailer : TRAILER_MAX_DEFAULT;

	switch ((enum chunked_state)d->state) {
	case CH_SIZE:
	case CH_SIZE_BWS:
	case CH_EXT:
		return ++d->line_bytes < CHUNK_LINE_MAX;
	case CH_TRAILER_START:
	case CH_TRAILER_NAME:
	case CH_TRAILER_VALUE:
	case CH_TRAILER_LF:
	case CH_END_LF:
		return ++d->trailer_bytes <= max_trailer;
	default:
		return true;
	}
}

ssize_t http1_chunked_decode(struct http1_chunked *d, const char *buf, size_t len,
                             const char **data, size_t *data_len)
{
	size_t i = 0;

	*data = NULL;
	*data_len = 0;
	while (i < len && d->state != CH_DONE) {
		if (d->state == CH_FAILED)
			return HTTP1_ERROR;
		if (d->state == CH_DATA) {
			size_t n = len - i < d->remaining ? len - i : (size_t)d->remaining;
			*data = buf + i;
			*data_len = n;
			d->remaining -= n;
			if (d->remaining == 0)
				d->state = CH_DATA_CR;
			return (ssize_t)(i + n);
		}
		if (!chunk_within_bounds(d))
			d->state = CH_FAILED;
		else
			d->state = chunk_step(d, buf[i++]);
	}
	if (d->state == CH_FAILED)
		return HTTP1_ERROR;
	d->done = d->state == CH_DONE;
	return (ssize_t)i;
}
