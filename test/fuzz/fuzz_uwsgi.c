/* libFuzzer target: the uwsgi packet decoder, the vars iterator and the
 * writer they pair with. The input is read as a sequence of packets, as the
 * daemon reads a connection (each packet's body taken as empty), and also as
 * one bare vars block. Properties checked beyond "no crash":
 * - a packet spans exactly its header and datasize, never more than it was
 *   given; a strict prefix of it is incomplete, never an error; the header is
 *   reported from its 4 bytes on, and an incomplete answer with the header
 *   there means the vars are not all there;
 * - the iterator gives the answer (var, end, error) a reference decoder gives,
 *   with views inside the block, a non-empty key and the offset moving past
 *   exactly the var; an error or the end leaves the offset alone;
 * - the vars of a valid packet, re-encoded with the writer, give the same
 *   bytes (the header's modifiers aside when they are not 0), and a byte less
 *   room makes the writer refuse, not truncate;
 * - what looks like HTTP starts with an upper-case letter, so never with a
 *   modifier1 of 0. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/uwsgi.h"
#include "test/fuzz/fuzz.h"

static size_t le16(const uint8_t *p)
{
	return (size_t)p[0] | (size_t)p[1] << 8;
}

/* What uwsgi_var_next() must answer at off in vars[0..len), the slow way. */
static int ref_var(const uint8_t *vars, size_t len, size_t off, size_t *next)
{
	if (off == len)
		return 0;
	if (off + 2 > len)
		return UWSGI_ERROR;
	size_t k = le16(vars + off);
	if (k == 0 || off + 2 + k + 2 > len)
		return UWSGI_ERROR;
	size_t v = le16(vars + off + 2 + k);
	if (off + 4 + k + v > len)
		return UWSGI_ERROR;
	*next = off + 4 + k + v;
	return 1;
}

/* Iterate vars[0..len) against the reference, re-encoding into w (may be
 * NULL). Returns how the iteration ended. */
static int check_vars(const uint8_t *vars, size_t len, struct uwsgi_writer *w)
{
	size_t off = 0;

	for (;;) {
		const uint8_t *key, *val;
		size_t key_len, val_len, next = 0, before = off;
		int rc = uwsgi_var_next(vars, len, &off, &key, &key_len, &val, &val_len);
		CHECK(rc == ref_var(vars, len, before, &next));
		if (rc != 1) {
			CHECK(off == before);
			CHECK(key == NULL && val == NULL && key_len == 0 && val_len == 0);
			CHECK(rc == UWSGI_ERROR || off == len);
			return rc;
		}
		CHECK(off == next && off <= len);
		CHECK(key_len > 0);
		CHECK(key == vars + before + 2 && key + key_len <= vars + len);
		CHECK(val == key + key_len + 2 && val + val_len == vars + off);
		CHECK(le16(key - 2) == key_len && le16(val - 2) == val_len);
		if (w) {
			size_t was = w->len;
			uwsgi_writer_var(w, (const char *)key, key_len, (const char *)val, val_len);
			CHECK(!w->overflow && w->len == was + 4 + key_len + val_len);
		}
	}
}

/* buf[0..plen) is a whole packet. */
static void check_packet(const uint8_t *buf, size_t plen, const struct uwsgi_header *h)
{
	struct uwsgi_header again;
	struct uwsgi_writer w;
	uint8_t *enc = malloc(plen), *small = malloc(plen);

	CHECK(plen == UWSGI_HEADER_LEN + (size_t)h->datasize);
	CHECK(h->modifier1 == buf[0] && h->modifier2 == buf[3] && h->datasize == le16(buf + 1));
	CHECK(uwsgi_packet_decode(buf, plen - 1, &again) == UWSGI_INCOMPLETE);
	if (plen - 1 >= UWSGI_HEADER_LEN)
		CHECK(again.modifier1 == h->modifier1 && again.datasize == h->datasize &&
		      again.modifier2 == h->modifier2);
	else
		CHECK(again.modifier1 == 0 && again.datasize == 0 && again.modifier2 == 0);
	CHECK(uwsgi_packet_decode(buf, UWSGI_HEADER_LEN - 1, &again) == UWSGI_INCOMPLETE);

	uwsgi_writer_init(&w, enc, plen);
	if (check_vars(buf + UWSGI_HEADER_LEN, h->datasize, &w) == 0) {
		CHECK(uwsgi_writer_finish(&w) == (ssize_t)plen);
		CHECK(enc[0] == 0 && enc[3] == 0);
		CHECK(memcmp(enc + 1, buf + 1, 2) == 0);
		CHECK(memcmp(enc + UWSGI_HEADER_LEN, buf + UWSGI_HEADER_LEN, h->datasize) == 0);
		if (h->modifier1 == 0 && h->modifier2 == 0)
			CHECK(memcmp(enc, buf, plen) == 0);

		/* a byte less room: refused */
		struct uwsgi_writer s;
		size_t off = 0;
		const uint8_t *key, *val;
		size_t key_len, val_len;
		uwsgi_writer_init(&s, small, plen - 1);
		while (uwsgi_var_next(buf + UWSGI_HEADER_LEN, h->datasize, &off, &key, &key_len,
		                      &val, &val_len) == 1)
			uwsgi_writer_var(&s, (const char *)key, key_len, (const char *)val, val_len);
		CHECK(uwsgi_writer_finish(&s) == UWSGI_ERROR);
	}
	free(small);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_input(data, size);
	size_t off = 0;

	while (off < size) {
		struct uwsgi_header h;
		ssize_t rc = uwsgi_packet_decode(buf + off, size - off, &h);
		CHECK(rc != UWSGI_ERROR);
		if (rc == UWSGI_INCOMPLETE) {
			if (size - off < UWSGI_HEADER_LEN)
				CHECK(h.modifier1 == 0 && h.datasize == 0 && h.modifier2 == 0);
			else
				CHECK(size - off < UWSGI_HEADER_LEN + (size_t)h.datasize);
			break;
		}
		CHECK((size_t)rc <= size - off);
		check_packet(buf + off, (size_t)rc, &h);
		off += (size_t)rc;
	}

	/* the input as a bare vars block */
	check_vars(buf, size, NULL);
	free(buf);
	return 0;
}
