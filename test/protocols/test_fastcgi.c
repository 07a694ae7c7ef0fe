/* Tests for protocols/fastcgi.c.
 *
 * Every decoder input is decoded twice: whole, placed so that it ends right
 * before a PROT_NONE page, and fed one byte at a time to a reader that keeps
 * the bytes not yet decoded, those too placed right before the guard page
 * after each byte. A record (a name-value pair) must come out exactly when its
 * last byte arrives: every strict prefix gives FCGI_INCOMPLETE, never an error
 * or another answer, and no read goes past the bytes given.
 *
 * Conformance data: test/corpora/go-cgi-fcgi-cases/fcgi_vectors.json (Go's
 * net/http/fcgi test vectors), byte for byte, and the record flows of the
 * FastCGI specification's Appendix B (test/corpora/specs/fastcgi-spec.html),
 * written out as bytes below.
 *
 * Behaviour this file pins down beyond fastcgi.h's first contract:
 * - the version is judged once the 8 header bytes are there: fewer bytes are
 *   always FCGI_INCOMPLETE, and an error leaves 8 bytes to http1_looks_like_request;
 * - padding bytes and the reserved byte are skipped unread, any type and
 *   request id decode;
 * - a 4-byte name-value length need not be canonical: 80 00 00 00 is 0 and
 *   80 00 00 05 is 5 (libfcgi, Go and haproxy read them so);
 * - a zero-length name or value decodes: whether it is acceptable is the
 *   daemon's call;
 * - a name longer than max_len is refused before the value length arrives;
 * - BEGIN_REQUEST / END_REQUEST bodies are decoded whatever the record type. */
#include "protocols/http1.h"
#include "protocols/fastcgi.h"
#include "test/corpus.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Criterion ignores how a test's process exits once the test has reported, so
 * LeakSanitizer's exit-time report would fail nothing: every test ends with
 * this instead. Weak, so that a build without the sanitizer links. */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void assert_no_leaks(void)
{
	if (__lsan_do_recoverable_leak_check)
		cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked");
}

#define VECTORS "go-cgi-fcgi-cases/fcgi_vectors.json"
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- small helpers ------------------------------------------------------------ */

/* malloc'd bytes of a hex string. */
static uint8_t *unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex);
	uint8_t *out = malloc(n / 2 + 1);

	cr_assert(n % 2 == 0, "odd hex string");
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1, "bad hex at %zu", 2 * i);
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return out;
}

static uint8_t *json_hex(const json_t *obj, const char *key, size_t *len)
{
	const char *hex = json_string_value(json_object_get(obj, key));
	cr_assert_not_null(hex, "no %s in the vectors", key);
	return unhex(hex, len);
}

/* SHA-256 (FIPS 180-4), to compare a rebuilt byte string with the digest the
 * Go vectors give for it. Returns the digest in hex (static buffer). */
static const char *sha256_hex(const uint8_t *msg, size_t len)
{
	static const uint32_t k[64] = {
		0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
		0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
		0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
		0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
		0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
		0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
		0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
		0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
		0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
		0xc67178f2,
	};
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		          0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	static char out[65];
	size_t total = (len + 9 + 63) / 64 * 64;

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
	for (size_t off = 0; off < total; off += 64) {
		uint8_t blk[64];
		uint32_t w[64], a[8];
		for (size_t i = 0; i < 64; i++) {
			size_t p = off + i;
			blk[i] = p < len ? msg[p] : p == len ? 0x80 : 0;
			if (p >= total - 8)
				blk[i] = (uint8_t)((uint64_t)len * 8 >> (8 * (total - 1 - p)));
		}
		for (int i = 0; i < 16; i++)
			w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
			       (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
		for (int i = 16; i < 64; i++) {
			uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
			uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
			w[i] = w[i - 16] + s0 + w[i - 7] + s1;
		}
		memcpy(a, h, sizeof a);
		for (int i = 0; i < 64; i++) {
			uint32_t t1 = a[7] + (ROR(a[4], 6) ^ ROR(a[4], 11) ^ ROR(a[4], 25)) +
			              ((a[4] & a[5]) ^ (~a[4] & a[6])) + k[i] + w[i];
			uint32_t t2 = (ROR(a[0], 2) ^ ROR(a[0], 13) ^ ROR(a[0], 22)) +
			              ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
			memmove(a + 1, a, 7 * sizeof a[0]);
			a[4] += t1;
			a[0] = t1 + t2;
		}
		for (int i = 0; i < 8; i++)
			h[i] += a[i];
	}
#undef ROR
	for (int i = 0; i < 8; i++)
		snprintf(out + 8 * i, 9, "%08x", h[i]);
	return out;
}

/* ---- expected records ------------------------------------------------------------ */

struct want {
	uint8_t type;
	uint16_t id;
	const void *content; /* NULL: BEGIN/END, checked through their decoders */
	size_t len;
	uint8_t pad;
	uint32_t a; /* BEGIN_REQUEST: role; END_REQUEST: app status */
	uint8_t b;  /* BEGIN_REQUEST: flags; END_REQUEST: protocol status */
};

#define REC(type, id, str, pad) { type, id, str, sizeof(str) - 1, pad, 0, 0 }
#define BEGIN(id, role, flags, pad) { FCGI_BEGIN_REQUEST, id, NULL, 8, pad, role, flags }
#define END(id, status, proto, pad) { FCGI_END_REQUEST, id, NULL, 8, pad, status, proto }

/* Does r (decoded from at) match w? With check_pad false the padding is not
 * compared (our encoders never pad where other peers do). */
static void expect_record(const struct fcgi_record *r, const uint8_t *at, const struct want *w,
                          bool check_pad, const char *name, size_t i)
{
	cr_assert_eq(r->version, FCGI_VERSION_1, "%s: record %zu: version %u", name, i, r->version);
	cr_assert_eq(r->type, w->type, "%s: record %zu: type %u, want %u", name, i, r->type, w->type);
	cr_assert_eq(r->request_id, w->id, "%s: record %zu: id %u, want %u", name, i, r->request_id,
	             w->id);
	cr_assert_eq(r->content_length, w->len, "%s: record %zu: content %u, want %zu", name, i,
	             r->content_length, w->len);
	if (check_pad)
		cr_assert_eq(r->padding_length, w->pad, "%s: record %zu: padding %u, want %u", name,
		             i, r->padding_length, w->pad);
	cr_assert(r->content == at + FCGI_HEADER_LEN, "%s: record %zu: content not a view", name,
	          i);
	if (w->content) {
		cr_assert(bytes_eq(r->content, r->content_length, w->content, w->len),
		          "%s: record %zu: other content", name, i);
	} else if (w->type == FCGI_BEGIN_REQUEST) {
		struct fcgi_begin_request br;
		cr_assert_eq(fcgi_begin_request_decode(r, &br), 0, "%s: record %zu", name, i);
		cr_assert(br.role == w->a && br.flags == w->b, "%s: record %zu: role %u flags %u",
		          name, i, br.role, br.flags);
	} else {
		struct fcgi_end_request er;
		cr_assert_eq(fcgi_end_request_decode(r, &er), 0, "%s: record %zu", name, i);
		cr_assert(er.app_status == w->a && er.protocol_status == w->b,
		          "%s: record %zu: status %u/%u", name, i, er.app_status, er.protocol_status);
	}
}

/* A decoder under test, one unit (a record, a pair) at a time: decode()
 * answers as the codec does (> 0: the bytes of a whole unit), check() compares
 * the unit it just decoded at at with the i-th one wanted. */
struct unit_decoder {
	const char *unit; /* "record", "pair": for failure messages */
	ssize_t (*decode)(struct unit_decoder *d, const uint8_t *at, size_t len);
	void (*check)(struct unit_decoder *d, const uint8_t *at, ssize_t rc, size_t i);
};

/* buf[0..len) must decode to exactly n units: whole, right before the guard
 * page, then one byte at a time (see the top of the file). */
static void check_units(struct guard *g, const uint8_t *buf, size_t len, size_t n,
                        struct unit_decoder *d, const char *name)
{
	const uint8_t *at = guard_place(g, buf, len);
	size_t off = 0, i = 0;

	while (off < len) {
		ssize_t rc = d->decode(d, at + off, len - off);
		cr_assert_gt(rc, 0, "%s: whole: %s %zu at %zu gave %zd", name, d->unit, i, off, rc);
		cr_assert_lt(i, n, "%s: whole: more %ss than expected", name, d->unit);
		cr_assert_leq((size_t)rc, len - off);
		d->check(d, at + off, rc, i);
		i++;
		off += (size_t)rc;
	}
	cr_assert_eq(i, n, "%s: whole: %zu %ss, want %zu", name, i, d->unit, n);

	/* pending bytes are buf[start..k) */
	size_t start = 0;
	i = 0;
	for (size_t k = 0; k <= len; k++) {
		at = guard_place(g, buf + start, k - start);
		ssize_t rc = d->decode(d, at, k - start);
		if (rc == FCGI_INCOMPLETE)
			continue;
		cr_assert_eq(rc, (ssize_t)(k - start), "%s: bytewise: %zu of %s %zu's bytes gave %zd",
		             name, k - start, d->unit, i, rc);
		cr_assert_lt(i, n, "%s: bytewise: more %ss than expected", name, d->unit);
		d->check(d, at, rc, i);
		i++;
		start = k;
	}
	cr_assert_eq(start, len, "%s: bytewise: %zu bytes left undecoded", name, len - start);
	cr_assert_eq(i, n, "%s: bytewise: %zu %ss, want %zu", name, i, d->unit, n);
}

struct record_decoder {
	struct unit_decoder d; /* first: the decoder's own fields follow */
	struct fcgi_record r;
	const struct want *w;
	bool check_pad;
	const char *name;
};

static ssize_t record_decode(struct unit_decoder *d, const uint8_t *at, size_t len)
{
	struct record_decoder *rd = (struct record_decoder *)d;
	return fcgi_record_decode(at, len, &rd->r);
}

static void record_check(struct unit_decoder *d, const uint8_t *at, ssize_t rc, size_t i)
{
	struct record_decoder *rd = (struct record_decoder *)d;
	cr_assert_eq((size_t)rc, FCGI_HEADER_LEN + rd->r.content_length + rd->r.padding_length);
	expect_record(&rd->r, at, &rd->w[i], rd->check_pad, rd->name, i);
}

/* buf[0..len) must decode to exactly the records w[0..n) (check_units()). */
static void check_records_pad(struct guard *g, const uint8_t *buf, size_t len,
                              const struct want *w, size_t n, bool check_pad, const char *name)
{
	struct record_decoder rd = {{"record", record_decode, record_check}, .w = w,
	                            .check_pad = check_pad, .name = name};
	check_units(g, buf, len, n, &rd.d, name);
}

static void check_records(struct guard *g, const uint8_t *buf, size_t len, const struct want *w,
                          size_t n, const char *name)
{
	check_records_pad(g, buf, len, w, n, true, name);
}

/* The content of the records of (type, id) in buf, joined; malloc'd. */
static uint8_t *join_stream(const uint8_t *buf, size_t len, uint8_t type, uint16_t id,
                            size_t *out_len)
{
	uint8_t *out = malloc(len + 1);
	struct fcgi_record r;
	ssize_t rc;

	*out_len = 0;
	for (size_t off = 0; off < len; off += (size_t)rc) {
		rc = fcgi_record_decode(buf + off, len - off, &r);
		cr_assert_gt(rc, 0);
		if (r.type == type && r.request_id == id) {
			memcpy(out + *out_len, r.content, r.content_length);
			*out_len += r.content_length;
		}
	}
	return out;
}

/* ---- expected name-value pairs ------------------------------------------------------ */

#define PAIR(n, v) NAME_VALUE(n, v)

static void expect_pair(const uint8_t *at, ssize_t rc, const uint8_t *name, size_t name_len,
                        const uint8_t *value, size_t value_len, const struct name_value *w,
                        const char *what, size_t i)
{
	size_t head = (size_t)rc - name_len - value_len;

	cr_assert(head == 2 || head == 5 || head == 8, "%s: pair %zu: %zu length bytes", what, i,
	          head);
	cr_assert(name == at + head && value == name + name_len, "%s: pair %zu: not views", what, i);
	expect_name_value(name, name_len, value, value_len, w, "pair", what, i);
}

struct pair_decoder {
	struct unit_decoder d; /* first: the decoder's own fields follow */
	size_t max_len;
	const uint8_t *name, *value;
	size_t name_len, value_len;
	const struct name_value *w;
	const char *what;
};

static ssize_t pair_decode(struct unit_decoder *d, const uint8_t *at, size_t len)
{
	struct pair_decoder *pd = (struct pair_decoder *)d;
	return fcgi_nv_decode(at, len, pd->max_len, &pd->name, &pd->name_len, &pd->value,
	                      &pd->value_len);
}

static void pair_check(struct unit_decoder *d, const uint8_t *at, ssize_t rc, size_t i)
{
	struct pair_decoder *pd = (struct pair_decoder *)d;
	expect_pair(at, rc, pd->name, pd->name_len, pd->value, pd->value_len, &pd->w[i], pd->what,
	            i);
}

/* buf[0..len) (a stream's joined content) must decode to the pairs w[0..n),
 * whole and byte by byte, each time right before the guard page. */
static void check_pairs(struct guard *g, const uint8_t *buf, size_t len, size_t max_len,
                        const struct name_value *w, size_t n, const char *what)
{
	struct pair_decoder pd = {{"pair", pair_decode, pair_check}, .max_len = max_len, .w = w,
	                          .what = what};
	check_units(g, buf, len, n, &pd.d, what);
}

/* ---- Go's net/http/fcgi vectors ---------------------------------------------------------- */

Test(fastcgi_go, name_value_length_encoding)
{
	json_t *v = corpus_json(VECTORS);
	json_t *cases = json_object_get(v, "name_value_length_encoding"), *c;
	struct guard g = guard_new(4096);
	size_t idx;

	cr_assert(json_array_size(cases) >= 5);
	json_array_foreach(cases, idx, c) {
		size_t size = (size_t)json_integer_value(json_object_get(c, "size"));
		size_t hex_len;
		uint8_t *hex = json_hex(c, "hex", &hex_len);
		uint8_t out[4] = { 0 };
		char what[64];

		snprintf(what, sizeof what, "length %zu", size);
		/* encode */
		cr_expect_eq(fcgi_nv_length_encode(out, size), hex_len, "%s", what);
		cr_expect(bytes_eq(out, hex_len, hex, hex_len), "%s: other bytes", what);
		cr_expect_eq(fcgi_nv_size(size, 0), hex_len + 1 + size, "%s", what);

		/* decode, as the name length of a pair with an empty value: the bytes
		 * are read as exactly `size` (max_len size: incomplete, one less: too
		 * long) without any name bytes there */
		uint8_t head[5];
		const uint8_t *name, *value;
		size_t name_len, value_len;
		memcpy(head, hex, hex_len);
		head[hex_len] = 0;
		const uint8_t *at = guard_place(&g, head, hex_len + 1);
		if (size > 0) {
			cr_expect_eq(fcgi_nv_decode(at, hex_len + 1, size, &name, &name_len, &value,
			                            &value_len), FCGI_INCOMPLETE, "%s", what);
			cr_expect_eq(fcgi_nv_decode(at, hex_len + 1, size - 1, &name, &name_len, &value,
			                            &value_len), FCGI_ERROR, "%s", what);
		}

		/* and whole: a name of `size` bytes, value "v" (its length after) */
		size_t pair_len = hex_len + 1 + size + 1;
		uint8_t *pair = malloc(pair_len);
		memcpy(pair, hex, hex_len);
		pair[hex_len] = 1;
		memset(pair + hex_len + 1, 'n', size);
		pair[pair_len - 1] = 'v';
		ssize_t rc = fcgi_nv_decode(pair, pair_len, size + 1, &name, &name_len, &value,
		                            &value_len);
		cr_expect_eq(rc, (ssize_t)pair_len, "%s", what);
		cr_expect(name == pair + hex_len + 1 && name_len == size, "%s", what);
		cr_expect(value == pair + pair_len - 1 && value_len == 1, "%s", what);
		/* and what we encode is those bytes */
		uint8_t *enc = malloc(pair_len);
		cr_expect_eq(fcgi_nv_encode(enc, pair_len, pair + hex_len + 1, size, "v", 1),
		             (ssize_t)pair_len, "%s", what);
		cr_expect(memcmp(enc, pair, pair_len) == 0, "%s: encoded other bytes", what);
		free(enc);
		free(pair);
		free(hex);
	}
	guard_free(&g);
	json_decref(v);
	assert_no_leaks();
}

static const uint8_t zeros[FCGI_MAX_LENGTH];

Test(fastcgi_go, empty_stdout_record)
{
	json_t *v = corpus_json(VECTORS);
	json_t *c = json_array_get(json_object_get(v, "streams"), 0);
	struct guard g = guard_new(4096);
	size_t raw_len;
	uint8_t *raw = json_hex(c, "raw_hex", &raw_len);
	uint8_t type = (uint8_t)json_integer_value(json_object_get(c, "type"));
	uint16_t id = (uint16_t)json_integer_value(json_object_get(c, "request_id"));
	uint8_t out[16];

	cr_assert_eq(json_integer_value(json_object_get(c, "content_len")), 0);
	cr_assert_eq(type, FCGI_STDOUT);
	cr_expect_eq(fcgi_stream_size(0), 8);
	cr_assert_eq(fcgi_stream_encode(out, sizeof out, type, id, NULL, 0), 8);
	cr_expect(bytes_eq(out, 8, raw, raw_len), "the empty STDOUT record differs");
	uint8_t header[FCGI_HEADER_LEN];
	fcgi_header_encode(header, type, id, 0, 0);
	cr_expect(bytes_eq(header, 8, raw, raw_len));

	const struct want w[] = { REC(FCGI_STDOUT, 1, "", 0) };
	check_records(&g, raw, raw_len, w, NELEM(w), "empty STDOUT");
	free(raw);
	guard_free(&g);
	json_decref(v);
	assert_no_leaks();
}

/* 66000 bytes of STDIN. Go pads every record's content to a multiple of 8
 * (65535 + 1, 465 + 7) and its vector includes the end-of-stream record:
 * 66032 bytes. gatewayd never pads and fcgi_stream_encode() leaves the end
 * record to a separate call: 8 + 65535 + 8 + 465 = 66016 bytes, then 8 more
 * for the end. So Go's bytes are rebuilt (headers_hex, zero content, zero
 * padding), checked against Go's length and SHA-256, and decoded; ours are
 * checked to split the same way without the padding. */
Test(fastcgi_go, stdin_66000_bytes)
{
	json_t *v = corpus_json(VECTORS);
	json_t *c = json_array_get(json_object_get(v, "streams"), 1);
	json_t *headers = json_object_get(c, "headers_hex"), *h;
	size_t content_len = (size_t)json_integer_value(json_object_get(c, "content_len"));
	size_t go_len = (size_t)json_integer_value(json_object_get(c, "raw_len"));
	uint16_t id = (uint16_t)json_integer_value(json_object_get(c, "request_id"));
	struct guard g = guard_new(go_len);
	uint8_t *go = calloc(1, go_len);
	size_t off = 0, idx;

	cr_assert_eq(content_len, 66000);
	cr_assert_eq(id, 300);
	json_array_foreach(headers, idx, h) {
		size_t n;
		uint8_t *hdr = unhex(json_string_value(h), &n);
		cr_assert_eq(n, FCGI_HEADER_LEN);
		cr_assert_leq(off + n, go_len);
		memcpy(go + off, hdr, n);
		off += n + (size_t)(hdr[4] << 8 | hdr[5]) + hdr[6];
		free(hdr);
	}
	cr_assert_eq(off, go_len, "the rebuilt stream is %zu bytes, Go's %zu", off, go_len);
	cr_expect_str_eq(sha256_hex(go, go_len),
	                 json_string_value(json_object_get(c, "raw_hex_sha256")));

	const struct want go_w[] = {
		{ FCGI_STDIN, 300, zeros, 65535, 1, 0, 0 },
		{ FCGI_STDIN, 300, zeros, 465, 7, 0, 0 },
		REC(FCGI_STDIN, 300, "", 0),
	};
	check_records(&g, go, go_len, go_w, NELEM(go_w), "Go's 66000 bytes of STDIN");

	/* ours: the same records, unpadded, and no end record */
	uint8_t *data = calloc(1, content_len);
	size_t ours_len = fcgi_stream_size(content_len);
	cr_assert_eq(ours_len, 66016);
	uint8_t *ours = malloc(ours_len + FCGI_HEADER_LEN);
	cr_assert_eq(fcgi_stream_encode(ours, ours_len, FCGI_STDIN, id, data, content_len),
	             (ssize_t)ours_len);
	cr_assert_eq(fcgi_stream_encode(ours + ours_len, FCGI_HEADER_LEN, FCGI_STDIN, id, NULL, 0),
	             FCGI_HEADER_LEN);
	uint8_t h1[8], h2[8], h3[8];
	fcgi_header_encode(h1, FCGI_STDIN, 300, 65535, 0);
	fcgi_header_encode(h2, FCGI_STDIN, 300, 465, 0);
	fcgi_header_encode(h3, FCGI_STDIN, 300, 0, 0);
	cr_expect(memcmp(ours, "\x01\x05\x01\x2c\xff\xff\x00\x00", 8) == 0 &&
	          memcmp(ours, h1, 8) == 0);
	cr_expect(memcmp(ours + 8 + 65535, "\x01\x05\x01\x2c\x01\xd1\x00\x00", 8) == 0 &&
	          memcmp(ours + 8 + 65535, h2, 8) == 0);
	cr_expect(memcmp(ours + ours_len, go + go_len - 8, 8) == 0 &&
	          memcmp(ours + ours_len, h3, 8) == 0, "the end record is Go's");
	const struct want our_w[] = {
		{ FCGI_STDIN, 300, zeros, 65535, 0, 0, 0 },
		{ FCGI_STDIN, 300, zeros, 465, 0, 0, 0 },
		REC(FCGI_STDIN, 300, "", 0),
	};
	check_records(&g, ours, ours_len + FCGI_HEADER_LEN, our_w, NELEM(our_w),
	              "our 66000 bytes of STDIN");
	free(data);
	free(ours);
	free(go);
	guard_free(&g);
	json_decref(v);
	assert_no_leaks();
}

Test(fastcgi_go, get_values_reply)
{
	json_t *v = corpus_json(VECTORS);
	struct guard g = guard_new(4096);
	size_t len;
	uint8_t *raw = json_hex(v, "get_values_reply_hex", &len);
	const struct want w[] = {
		REC(FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, "\x0f\x01" "FCGI_MPXS_CONNS1", 6),
		REC(FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, "", 0),
	};
	const struct name_value pairs[] = { PAIR(FCGI_MPXS_CONNS, "1") };
	struct fcgi_record r;

	check_records(&g, raw, len, w, NELEM(w), "GET_VALUES_RESULT");
	cr_assert_eq(fcgi_record_decode(raw, len, &r), 8 + 18 + 6);
	check_pairs(&g, r.content, r.content_length, 64, pairs, NELEM(pairs), "GET_VALUES_RESULT");
	free(raw);
	guard_free(&g);
	json_decref(v);
	assert_no_leaks();
}

/* BEGIN_REQUEST, PARAMS {REQUEST_METHOD: GET}, {SERVER_PROTOCOL: HTTP/1.1},
 * end of PARAMS, 16 bytes of STDIN; then ABORT_REQUEST or nothing. */
static const struct want go_request[] = {
	BEGIN(1, FCGI_RESPONDER, 0, 0),
	REC(FCGI_PARAMS, 1, "\x0e\x03" "REQUEST_METHOD" "GET", 0),
	REC(FCGI_PARAMS, 1, "\x0f\x08" "SERVER_PROTOCOL" "HTTP/1.1", 0),
	REC(FCGI_PARAMS, 1, "", 0),
	REC(FCGI_STDIN, 1, "0123456789abcdef", 0),
	REC(FCGI_ABORT_REQUEST, 1, "", 0),
};
static const struct name_value go_params[] = {
	PAIR("REQUEST_METHOD", "GET"),
	PAIR("SERVER_PROTOCOL", "HTTP/1.1"),
};

static void check_go_request(struct guard *g, const uint8_t *raw, size_t len, bool aborted,
                             const char *name)
{
	size_t params_len, stdin_len;

	check_records(g, raw, len, go_request, NELEM(go_request) - !aborted, name);
	uint8_t *params = join_stream(raw, len, FCGI_PARAMS, 1, &params_len);
	check_pairs(g, params, params_len, 1024, go_params, NELEM(go_params), name);
	uint8_t *in = join_stream(raw, len, FCGI_STDIN, 1, &stdin_len);
	cr_expect(bytes_eq(in, stdin_len, "0123456789abcdef", 16));
	free(params);
	free(in);
}

Test(fastcgi_go, begin_request_then_stdin)
{
	json_t *v = corpus_json(VECTORS);
	struct guard g = guard_new(4096);
	size_t len;
	uint8_t *raw = json_hex(v, "begin_request_then_stdin_hex", &len);

	check_go_request(&g, raw, len, false, "begin_request_then_stdin");
	free(raw);
	guard_free(&g);
	json_decref(v);
	assert_no_leaks();
}

Test(fastcgi_go, cleanup_cases)
{
	json_t *v = corpus_json(VECTORS);
	json_t *cases = json_object_get(v, "cleanup_cases"), *c;
	struct guard g = guard_new(4096);
	size_t idx, seen_abort = 0, seen_eof = 0;

	json_array_foreach(cases, idx, c) {
		const char *desc = json_string_value(json_object_get(c, "desc"));
		size_t len;
		uint8_t *raw = json_hex(c, "raw_hex", &len);
		bool aborted = strstr(desc, "ABORT_REQUEST") != NULL;

		cr_assert(aborted || strstr(desc, "EOF"), "%s: neither abort nor EOF", desc);
		seen_abort += aborted;
		seen_eof += !aborted;
		check_go_request(&g, raw, len, aborted, desc);
		/* what we encode for an abort is Go's last record */
		if (aborted) {
			uint8_t abort_rec[8];
			fcgi_abort_request_encode(abort_rec, 1);
			cr_expect(memcmp(raw + len - 8, abort_rec, 8) == 0);
		}
		free(raw);
	}
	cr_expect(seen_abort == 1 && seen_eof == 1);
	guard_free(&g);
	json_decref(v);
	assert_no_leaks();
}

/* ---- the specification's Appendix B ------------------------------------------------------
 *
 * Each flow as the bytes of each direction, in the order the application
 * experiences them. A string shown ending in " ... " is written without it.
 * Records to the application are padded to a multiple of 8, as the spec
 * recommends (§3.3); the application's answers are not padded, except in B.3,
 * whose padding bytes are not zero (padding is skipped, never read). */

#define SPEC_PARAMS "\013\002SERVER_PORT80\013\016SERVER_ADDR199.170.183.42"
#define SPEC_PAGE "Content-type: text/html\r\n\r\n<html>\n<head>"

/* 1. A simple request with no data on stdin, and a successful response. */
static const char b1_in[] =
	/* {FCGI_BEGIN_REQUEST,   1, {FCGI_RESPONDER, 0}} */
	"\x01\x01\x00\x01\x00\x08\x00\x00" "\x00\x01\x00\x00\x00\x00\x00\x00"
	/* {FCGI_PARAMS,          1, "\013\002SERVER_PORT80\013\016SERVER_ADDR199.170.183.42"} */
	"\x01\x04\x00\x01\x00\x2a\x06\x00" SPEC_PARAMS "\0\0\0\0\0\0"
	/* {FCGI_PARAMS,          1, ""} */
	"\x01\x04\x00\x01\x00\x00\x00\x00"
	/* {FCGI_STDIN,           1, ""} */
	"\x01\x05\x00\x01\x00\x00\x00\x00";
static const char b1_out[] =
	/* {FCGI_STDOUT,      1, "Content-type: text/html\r\n\r\n<html>\n<head>"} */
	"\x01\x06\x00\x01\x00\x28\x00\x00" SPEC_PAGE
	/* {FCGI_STDOUT,      1, ""} */
	"\x01\x06\x00\x01\x00\x00\x00\x00"
	/* {FCGI_END_REQUEST, 1, {0, FCGI_REQUEST_COMPLETE}} */
	"\x01\x03\x00\x01\x00\x08\x00\x00" "\x00\x00\x00\x00\x00\x00\x00\x00";
static const struct want b1_in_w[] = {
	BEGIN(1, FCGI_RESPONDER, 0, 0),
	REC(FCGI_PARAMS, 1, SPEC_PARAMS, 6),
	REC(FCGI_PARAMS, 1, "", 0),
	REC(FCGI_STDIN, 1, "", 0),
};
static const struct want b1_out_w[] = {
	REC(FCGI_STDOUT, 1, SPEC_PAGE, 0),
	REC(FCGI_STDOUT, 1, "", 0),
	END(1, 0, FCGI_REQUEST_COMPLETE, 0),
};

/* 2. With data on stdin; the parameters in more PARAMS records, a pair
 * straddling two of them. */
static const char b2_in[] =
	/* {FCGI_BEGIN_REQUEST,   1, {FCGI_RESPONDER, 0}} */
	"\x01\x01\x00\x01\x00\x08\x00\x00" "\x00\x01\x00\x00\x00\x00\x00\x00"
	/* {FCGI_PARAMS,          1, "\013\002SERVER_PORT80\013\016SER"} */
	"\x01\x04\x00\x01\x00\x14\x04\x00" "\013\002SERVER_PORT80\013\016SER" "\0\0\0\0"
	/* {FCGI_PARAMS,          1, "VER_ADDR199.170.183.42"} */
	"\x01\x04\x00\x01\x00\x16\x02\x00" "VER_ADDR199.170.183.42" "\0\0"
	/* {FCGI_PARAMS,          1, ""} */
	"\x01\x04\x00\x01\x00\x00\x00\x00"
	/* {FCGI_STDIN,           1, "quantity=100&item=3047936"} */
	"\x01\x05\x00\x01\x00\x19\x07\x00" "quantity=100&item=3047936" "\0\0\0\0\0\0\0"
	/* {FCGI_STDIN,           1, ""} */
	"\x01\x05\x00\x01\x00\x00\x00\x00";
static const struct want b2_in_w[] = {
	BEGIN(1, FCGI_RESPONDER, 0, 0),
	REC(FCGI_PARAMS, 1, "\013\002SERVER_PORT80\013\016SER", 4),
	REC(FCGI_PARAMS, 1, "VER_ADDR199.170.183.42", 2),
	REC(FCGI_PARAMS, 1, "", 0),
	REC(FCGI_STDIN, 1, "quantity=100&item=3047936", 7),
	REC(FCGI_STDIN, 1, "", 0),
};
/* the response is B.1's */

/* 3. The application logs to stderr, sends the page in more STDOUT records
 * and exits with status 938. The request is B.1's. */
static const char b3_out[] =
	/* {FCGI_STDOUT,      1, "Content-type: text/html\r\n\r\n<ht"} */
	"\x01\x06\x00\x01\x00\x1e\x02\x00" "Content-type: text/html\r\n\r\n<ht" "\xff\xff"
	/* {FCGI_STDERR,      1, "config error: missing SI_UID\n"} */
	"\x01\x07\x00\x01\x00\x1d\x03\x00" "config error: missing SI_UID\n" "\x01\x01\x08"
	/* {FCGI_STDOUT,      1, "ml>\n<head>"} */
	"\x01\x06\x00\x01\x00\x0a\x06\x00" "ml>\n<head>" "\x01\x06\x00\x01\x00\x00"
	/* {FCGI_STDOUT,      1, ""} */
	"\x01\x06\x00\x01\x00\x00\x00\x00"
	/* {FCGI_STDERR,      1, ""} */
	"\x01\x07\x00\x01\x00\x00\x00\x00"
	/* {FCGI_END_REQUEST, 1, {938, FCGI_REQUEST_COMPLETE}} */
	"\x01\x03\x00\x01\x00\x08\x00\x00" "\x00\x00\x03\xaa\x00\x00\x00\x00";
static const struct want b3_out_w[] = {
	REC(FCGI_STDOUT, 1, "Content-type: text/html\r\n\r\n<ht", 2),
	REC(FCGI_STDERR, 1, "config error: missing SI_UID\n", 3),
	REC(FCGI_STDOUT, 1, "ml>\n<head>", 6),
	REC(FCGI_STDOUT, 1, "", 0),
	REC(FCGI_STDERR, 1, "", 0),
	END(1, 938, FCGI_REQUEST_COMPLETE, 0),
};

/* 4. Two instances of B.1 multiplexed on one connection, answered out of
 * order. */
static const char b4_in[] =
	/* {FCGI_BEGIN_REQUEST,   1, {FCGI_RESPONDER, FCGI_KEEP_CONN}} */
	"\x01\x01\x00\x01\x00\x08\x00\x00" "\x00\x01\x01\x00\x00\x00\x00\x00"
	/* {FCGI_PARAMS,          1, "\013\002SERVER_PORT80\013\016SERVER_ADDR199.170.183.42"} */
	"\x01\x04\x00\x01\x00\x2a\x06\x00" SPEC_PARAMS "\0\0\0\0\0\0"
	/* {FCGI_PARAMS,          1, ""} */
	"\x01\x04\x00\x01\x00\x00\x00\x00"
	/* {FCGI_BEGIN_REQUEST,   2, {FCGI_RESPONDER, FCGI_KEEP_CONN}} */
	"\x01\x01\x00\x02\x00\x08\x00\x00" "\x00\x01\x01\x00\x00\x00\x00\x00"
	/* {FCGI_PARAMS,          2, "\013\002SERVER_PORT80\013\016SERVER_ADDR199.170.183.42"} */
	"\x01\x04\x00\x02\x00\x2a\x06\x00" SPEC_PARAMS "\0\0\0\0\0\0"
	/* {FCGI_STDIN,           1, ""} */
	"\x01\x05\x00\x01\x00\x00\x00\x00"
	/* {FCGI_PARAMS,          2, ""} */
	"\x01\x04\x00\x02\x00\x00\x00\x00"
	/* {FCGI_STDIN,           2, ""} */
	"\x01\x05\x00\x02\x00\x00\x00\x00";
static const char b4_out[] =
	/* {FCGI_STDOUT,      1, "Content-type: text/html\r\n\r\n"} */
	"\x01\x06\x00\x01\x00\x1b\x00\x00" "Content-type: text/html\r\n\r\n"
	/* {FCGI_STDOUT,      2, "Content-type: text/html\r\n\r\n<html>\n<head>"} */
	"\x01\x06\x00\x02\x00\x28\x00\x00" SPEC_PAGE
	/* {FCGI_STDOUT,      2, ""} */
	"\x01\x06\x00\x02\x00\x00\x00\x00"
	/* {FCGI_END_REQUEST, 2, {0, FCGI_REQUEST_COMPLETE}} */
	"\x01\x03\x00\x02\x00\x08\x00\x00" "\x00\x00\x00\x00\x00\x00\x00\x00"
	/* {FCGI_STDOUT,      1, "<html>\n<head>"} */
	"\x01\x06\x00\x01\x00\x0d\x00\x00" "<html>\n<head>"
	/* {FCGI_STDOUT,      1, ""} */
	"\x01\x06\x00\x01\x00\x00\x00\x00"
	/* {FCGI_END_REQUEST, 1, {0, FCGI_REQUEST_COMPLETE}} */
	"\x01\x03\x00\x01\x00\x08\x00\x00" "\x00\x00\x00\x00\x00\x00\x00\x00";
static const struct want b4_in_w[] = {
	BEGIN(1, FCGI_RESPONDER, FCGI_KEEP_CONN, 0),
	REC(FCGI_PARAMS, 1, SPEC_PARAMS, 6),
	REC(FCGI_PARAMS, 1, "", 0),
	BEGIN(2, FCGI_RESPONDER, FCGI_KEEP_CONN, 0),
	REC(FCGI_PARAMS, 2, SPEC_PARAMS, 6),
	REC(FCGI_STDIN, 1, "", 0),
	REC(FCGI_PARAMS, 2, "", 0),
	REC(FCGI_STDIN, 2, "", 0),
};
static const struct want b4_out_w[] = {
	REC(FCGI_STDOUT, 1, "Content-type: text/html\r\n\r\n", 0),
	REC(FCGI_STDOUT, 2, SPEC_PAGE, 0),
	REC(FCGI_STDOUT, 2, "", 0),
	END(2, 0, FCGI_REQUEST_COMPLETE, 0),
	REC(FCGI_STDOUT, 1, "<html>\n<head>", 0),
	REC(FCGI_STDOUT, 1, "", 0),
	END(1, 0, FCGI_REQUEST_COMPLETE, 0),
};

static const struct name_value spec_pairs[] = {
	PAIR("SERVER_PORT", "80"),
	PAIR("SERVER_ADDR", "199.170.183.42"),
};

struct flow {
	const char *name;
	const uint8_t *raw;
	size_t len;
	const struct want *w;
	size_t n;
};

#define FLOW(name, raw, w) { name, (const uint8_t *)raw, sizeof(raw) - 1, w, NELEM(w) }

static const struct flow spec_flows[] = {
	FLOW("B.1 to the application", b1_in, b1_in_w),
	FLOW("B.1 from the application", b1_out, b1_out_w),
	FLOW("B.2 to the application", b2_in, b2_in_w),
	FLOW("B.2 from the application", b1_out, b1_out_w),
	FLOW("B.3 to the application", b1_in, b1_in_w),
	FLOW("B.3 from the application", b3_out, b3_out_w),
	FLOW("B.4 to the application", b4_in, b4_in_w),
	FLOW("B.4 from the application", b4_out, b4_out_w),
};

Test(fastcgi_spec, appendix_b_records)
{
	struct guard g = guard_new(4096);

	for (size_t i = 0; i < NELEM(spec_flows); i++)
		check_records(&g, spec_flows[i].raw, spec_flows[i].len, spec_flows[i].w,
		              spec_flows[i].n, spec_flows[i].name);
	guard_free(&g);
	assert_no_leaks();
}

/* The streams of each flow joined: the parameters (in B.2 a pair straddles
 * two records), stdin, stdout and stderr. */
Test(fastcgi_spec, appendix_b_streams)
{
	struct guard g = guard_new(4096);
	static const struct {
		const struct flow *flow;
		uint8_t type;
		uint16_t id;
		const char *content;
	} streams[] = {
		{ &spec_flows[1], FCGI_STDOUT, 1, SPEC_PAGE },
		{ &spec_flows[2], FCGI_STDIN, 1, "quantity=100&item=3047936" },
		{ &spec_flows[5], FCGI_STDOUT, 1, SPEC_PAGE },
		{ &spec_flows[5], FCGI_STDERR, 1, "config error: missing SI_UID\n" },
		{ &spec_flows[7], FCGI_STDOUT, 1, SPEC_PAGE },
		{ &spec_flows[7], FCGI_STDOUT, 2, SPEC_PAGE },
	};
	static const struct {
		const struct flow *flow;
		uint16_t id;
	} params[] = {
		{ &spec_flows[0], 1 }, { &spec_flows[2], 1 }, { &spec_flows[6], 1 },
		{ &spec_flows[6], 2 },
	};
	size_t len;

	for (size_t i = 0; i < NELEM(streams); i++) {
		uint8_t *s = join_stream(streams[i].flow->raw, streams[i].flow->len, streams[i].type,
		                         streams[i].id, &len);
		cr_expect(bytes_eq(s, len, streams[i].content, strlen(streams[i].content)),
		          "%s: stream %u of %u: %.*s", streams[i].flow->name, streams[i].type,
		          streams[i].id, (int)len, (const char *)s);
		free(s);
	}
	for (size_t i = 0; i < NELEM(params); i++) {
		uint8_t *p = join_stream(params[i].flow->raw, params[i].flow->len, FCGI_PARAMS,
		                         params[i].id, &len);
		check_pairs(&g, p, len, 1024, spec_pairs, NELEM(spec_pairs), params[i].flow->name);
		free(p);
	}

	/* B.2's first PARAMS record alone: one pair, then one that is not all there */
	struct fcgi_record r;
	const uint8_t *name, *value;
	size_t name_len, value_len;
	const uint8_t *b2 = (const uint8_t *)b2_in;
	ssize_t first = fcgi_record_decode(b2, sizeof b2_in - 1, &r);
	cr_assert_eq(first, 16);
	cr_assert_eq(fcgi_record_decode(b2 + first, sizeof b2_in - 1 - (size_t)first, &r), 32);
	const uint8_t *at = guard_place(&g, r.content, r.content_length);
	ssize_t rc = fcgi_nv_decode(at, r.content_length, 1024, &name, &name_len, &value,
	                            &value_len);
	cr_assert_eq(rc, 15);
	cr_expect_eq(fcgi_nv_decode(at + rc, r.content_length - (size_t)rc, 1024, &name, &name_len,
	                            &value, &value_len), FCGI_INCOMPLETE);
	guard_free(&g);
	assert_no_leaks();
}

/* Our encoders write the flows of B.1 and B.3 as the table does but for the
 * padding. */
Test(fastcgi_spec, encoders_write_appendix_b)
{
	struct guard g = guard_new(4096);
	uint8_t in[256], out[256];
	size_t in_len = 0, out_len = 0;
	ssize_t rc;

	fcgi_begin_request_encode(in, 1, FCGI_RESPONDER, 0);
	in_len += 16;
	rc = fcgi_stream_encode(in + in_len, sizeof in - in_len, FCGI_PARAMS, 1, SPEC_PARAMS,
	                        sizeof SPEC_PARAMS - 1);
	cr_assert_eq(rc, 8 + 42);
	in_len += (size_t)rc;
	rc = fcgi_stream_encode(in + in_len, sizeof in - in_len, FCGI_PARAMS, 1, NULL, 0);
	in_len += (size_t)rc;
	rc = fcgi_stream_encode(in + in_len, sizeof in - in_len, FCGI_STDIN, 1, "", 0);
	in_len += (size_t)rc;
	cr_assert_eq(in_len, sizeof b1_in - 1 - 6, "B.1 less its 6 padding bytes");
	check_records_pad(&g, in, in_len, b1_in_w, NELEM(b1_in_w), false, "our B.1 request");

	static const char *const parts[][2] = {
		{ "\6", "Content-type: text/html\r\n\r\n<ht" },
		{ "\7", "config error: missing SI_UID\n" },
		{ "\6", "ml>\n<head>" },
		{ "\6", "" },
		{ "\7", "" },
	};
	for (size_t i = 0; i < NELEM(parts); i++) {
		rc = fcgi_stream_encode(out + out_len, sizeof out - out_len, (uint8_t)parts[i][0][0],
		                        1, parts[i][1], strlen(parts[i][1]));
		cr_assert_eq(rc, (ssize_t)(8 + strlen(parts[i][1])));
		out_len += (size_t)rc;
	}
	fcgi_end_request_encode(out + out_len, 1, 938, FCGI_REQUEST_COMPLETE);
	out_len += 16;
	cr_assert_eq(out_len, sizeof b3_out - 1 - 2 - 3 - 6);
	check_records_pad(&g, out, out_len, b3_out_w, NELEM(b3_out_w), false, "our B.3 response");
	/* the END_REQUEST record is the table's byte for byte */
	cr_expect(memcmp(out + out_len - 16, b3_out + sizeof b3_out - 1 - 16, 16) == 0);
	guard_free(&g);
	assert_no_leaks();
}

/* ---- records: bad, odd, and at the limits ---------------------------------------------- */

struct record_case {
	const char *raw;
	size_t len;
	ssize_t rc;
	uint8_t version, type;
	uint16_t id, content_length;
	uint8_t padding_length;
};

#define RECORD(raw, rc, v, t, id, cl, pl) { raw, sizeof(raw) - 1, rc, v, t, id, cl, pl }
#define SHORT(raw) RECORD(raw, FCGI_INCOMPLETE, 0, 0, 0, 0, 0)

static const struct record_case record_cases[] = {
	/* truncated: nothing is judged before the header is there */
	SHORT(""),
	SHORT("\x01"),
	SHORT("\x01\x06\x00\x01\x00\x05\x00"),
	SHORT("\x02\x06\x00\x01\x00\x05\x00"),
	SHORT("GET / H"),
	/* the header is there but not the content or the padding: the header is
	 * reported, the content not */
	RECORD("\x01\x06\x00\x01\x00\x05\x00\x00" "abc", FCGI_INCOMPLETE, 1, 6, 1, 5, 0),
	RECORD("\x01\x06\x00\x01\x00\x03\x04\x00" "abc\0\0\0", FCGI_INCOMPLETE, 1, 6, 1, 3, 4),
	RECORD("\x01\x06\x00\x01\xff\xff\xff\x00", FCGI_INCOMPLETE, 1, 6, 1, 65535, 255),
	/* the version */
	RECORD("\x00\x06\x00\x01\x00\x00\x00\x00", FCGI_ERROR, 0, 6, 1, 0, 0),
	RECORD("\x02\x06\x00\x01\x00\x00\x00\x00", FCGI_ERROR, 2, 6, 1, 0, 0),
	RECORD("\xff\x06\x00\x01\x00\x03\x00\x00" "abc", FCGI_ERROR, 255, 6, 1, 3, 0),
	RECORD("\x02\x06\x00\x01\x00\x03\x00\x00", FCGI_ERROR, 2, 6, 1, 3, 0),
	RECORD("GET / HTTP/1.1\r\n", FCGI_ERROR, 'G', 'E', 0x5420, 0x2f20, 'H'),
	/* anything else goes */
	RECORD("\x01\x00\x00\x00\x00\x00\x00\x00", 8, 1, 0, 0, 0, 0),
	RECORD("\x01\xff\xff\xff\x00\x00\x00\x00", 8, 1, 255, 65535, 0, 0),
	RECORD("\x01\x06\x00\x01\x00\x00\x00\xff", 8, 1, 6, 1, 0, 0),
	RECORD("\x01\x06\x00\x01\x00\x00\x02\x00" "\xff\xfe", 10, 1, 6, 1, 0, 2),
	RECORD("\x01\x06\x00\x01\x00\x01\x01\x00" "a\x01", 10, 1, 6, 1, 1, 1),
	/* one record of several */
	RECORD("\x01\x06\x00\x01\x00\x01\x00\x00" "a\x01\x06\x00\x01\x00\x00\x00\x00", 9, 1, 6, 1,
	       1, 0),
	RECORD("\x01\x06\x00\x01\x00\x01\x00\x00" "a\x02", 9, 1, 6, 1, 1, 0),
};

/* Every prefix: FCGI_INCOMPLETE, or once the answer is known the same answer;
 * a record exactly when its last byte is there. */
static void check_record_case(struct guard *g, const uint8_t *raw, size_t len, ssize_t want_rc,
                              const struct fcgi_record *want, const char *name)
{
	struct fcgi_record r;

	for (size_t k = 0; k <= len; k++) {
		const uint8_t *at = guard_place(g, raw, k);
		ssize_t rc = fcgi_record_decode(at, k, &r);
		bool whole = k == len;
		if (rc == FCGI_INCOMPLETE && !whole && (want_rc <= 0 || k < (size_t)want_rc))
			continue;
		cr_assert_eq(rc, want_rc, "%s: %zu bytes gave %zd, want %zd", name, k, rc, want_rc);
		if (want_rc > 0)
			cr_assert_geq(k, (size_t)want_rc, "%s: a record before its end", name);
		if (want_rc == FCGI_INCOMPLETE && k < FCGI_HEADER_LEN)
			continue;
		cr_assert(r.version == want->version && r.type == want->type &&
		          r.request_id == want->request_id &&
		          r.content_length == want->content_length &&
		          r.padding_length == want->padding_length,
		          "%s: %zu bytes: header %u %u %u %u %u", name, k, r.version, r.type,
		          r.request_id, r.content_length, r.padding_length);
		if (want_rc > 0)
			cr_assert(r.content == at + FCGI_HEADER_LEN);
		else
			cr_assert_null(r.content, "%s: content without a record", name);
	}
}

Test(fastcgi_record, table)
{
	struct guard g = guard_new(4096);

	for (size_t i = 0; i < NELEM(record_cases); i++) {
		const struct record_case *c = &record_cases[i];
		struct fcgi_record want = { .version = c->version, .type = c->type,
			                    .request_id = c->id, .content_length = c->content_length,
			                    .padding_length = c->padding_length };
		char name[32];
		snprintf(name, sizeof name, "record case %zu", i);
		check_record_case(&g, (const uint8_t *)c->raw, c->len, c->rc, &want, name);
	}
	guard_free(&g);
	assert_no_leaks();
}

/* The largest record: 65535 content bytes and 255 of padding. */
Test(fastcgi_record, largest)
{
	struct guard g = guard_new(2 * FCGI_RECORD_MAX);
	uint8_t *raw = malloc(FCGI_RECORD_MAX + 8);
	uint8_t *content = malloc(FCGI_MAX_LENGTH);

	cr_assert_eq(FCGI_RECORD_MAX, 8 + 65535 + 255);
	for (size_t i = 0; i < FCGI_MAX_LENGTH; i++)
		content[i] = (uint8_t)(i * 7);
	fcgi_header_encode(raw, FCGI_STDOUT, 65535, 65535, 255);
	memcpy(raw + 8, content, FCGI_MAX_LENGTH);
	memset(raw + 8 + FCGI_MAX_LENGTH, 0xee, 255);
	fcgi_header_encode(raw + FCGI_RECORD_MAX, FCGI_STDOUT, 65535, 0, 0);

	const struct want w[] = {
		{ FCGI_STDOUT, 65535, content, 65535, 255, 0, 0 },
		REC(FCGI_STDOUT, 65535, "", 0),
	};
	check_records(&g, raw, FCGI_RECORD_MAX + 8, w, NELEM(w), "largest record");
	free(raw);
	free(content);
	guard_free(&g);
	assert_no_leaks();
}

/* BEGIN_REQUEST and END_REQUEST bodies are 8 bytes: any other size is -1. */
Test(fastcgi_record, begin_end_of_the_wrong_size)
{
	static const uint16_t sizes[] = { 0, 1, 7, 9, 16, 65535 };
	uint8_t *raw = calloc(1, 8 + 65535);
	struct fcgi_record r;
	struct fcgi_begin_request br = { 0 };
	struct fcgi_end_request er = { 0 };

	for (size_t i = 0; i < NELEM(sizes); i++) {
		fcgi_header_encode(raw, FCGI_BEGIN_REQUEST, 1, sizes[i], 0);
		cr_assert_eq(fcgi_record_decode(raw, 8 + sizes[i], &r), 8 + sizes[i]);
		cr_expect_eq(fcgi_begin_request_decode(&r, &br), -1, "%u bytes", sizes[i]);
		fcgi_header_encode(raw, FCGI_END_REQUEST, 1, sizes[i], 0);
		cr_assert_eq(fcgi_record_decode(raw, 8 + sizes[i], &r), 8 + sizes[i]);
		cr_expect_eq(fcgi_end_request_decode(&r, &er), -1, "%u bytes", sizes[i]);
	}
	/* 8 bytes, every bit of the fields */
	fcgi_header_encode(raw, FCGI_BEGIN_REQUEST, 1, 8, 0);
	/* a record not all there has no content to decode */
	cr_assert_eq(fcgi_record_decode(raw, 15, &r), FCGI_INCOMPLETE);
	cr_expect_eq(r.content_length, 8);
	cr_expect_eq(fcgi_begin_request_decode(&r, &br), -1);
	cr_expect_eq(fcgi_end_request_decode(&r, &er), -1);
	memcpy(raw + 8, "\xff\xfe\xfd\xff\xff\xff\xff\xff", 8);
	cr_assert_eq(fcgi_record_decode(raw, 16, &r), 16);
	cr_expect_eq(fcgi_begin_request_decode(&r, &br), 0);
	cr_expect(br.role == 0xfffe && br.flags == 0xfd);
	cr_expect_eq(fcgi_end_request_decode(&r, &er), 0);
	cr_expect(er.app_status == 0xfffefdff && er.protocol_status == 0xff);
	free(raw);
	assert_no_leaks();
}

/* ---- name-value pairs: bad, odd, and at the limits ------------------------------------- */

struct nv_case {
	const char *raw;
	size_t len;
	size_t max_len;
	ssize_t rc;
	struct name_value pair;
};

#define NV(raw, max, rc, n, v) { raw, sizeof(raw) - 1, max, rc, PAIR(n, v) }
#define NV_NONE(raw, max, rc) { raw, sizeof(raw) - 1, max, rc, { NULL, 0, NULL, 0 } }

static const struct nv_case nv_cases[] = {
	NV("\x04\x03" "NAMEval", 64, 9, "NAME", "val"),
	NV("\x0b\x02" "SERVER_PORT80", 13, 15, "SERVER_PORT", "80"),
	/* empty values, empty names: they decode, the daemon judges them */
	NV("\x01\x00" "a", 64, 3, "a", ""),
	NV("\x00\x01" "v", 64, 3, "", "v"),
	NV("\x00\x00", 64, 2, "", ""),
	NV("\x00\x00", 0, 2, "", ""),
	/* 4-byte lengths need not be canonical: 80 00 00 00 is 0 */
	NV("\x80\x00\x00\x00\x00", 64, 5, "", ""),
	NV("\x80\x00\x00\x00\x80\x00\x00\x00", 0, 8, "", ""),
	NV("\x80\x00\x00\x04\x80\x00\x00\x03" "NAMEval", 64, 15, "NAME", "val"),
	NV("\x04\x80\x00\x00\x03" "NAMEval", 64, 12, "NAME", "val"),
	/* the top bit of a 4-byte length is not part of it */
	NV("\x80\x00\x00\x01\x01" "ab", 2, 7, "a", "b"),
	/* what follows is the next pair's */
	NV("\x01\x01" "ab\x05", 64, 4, "a", "b"),
	NV("\x01\x01" "ab\x01\x01" "cd", 64, 4, "a", "b"),
	/* incomplete: lengths, name, value; a pair straddling a record's end */
	NV_NONE("", 64, FCGI_INCOMPLETE),
	NV_NONE("\x04", 64, FCGI_INCOMPLETE),
	NV_NONE("\x80", 64, FCGI_INCOMPLETE),
	NV_NONE("\x80\x00\x00", 64, FCGI_INCOMPLETE),
	NV_NONE("\x80\x00\x00\x00", 64, FCGI_INCOMPLETE),
	NV_NONE("\x04\x80\x00", 64, FCGI_INCOMPLETE),
	NV_NONE("\x04\x03" "NAM", 64, FCGI_INCOMPLETE),
	NV_NONE("\x04\x03" "NAMEva", 64, FCGI_INCOMPLETE),
	NV_NONE("\x0b\x0e" "SER", 64, FCGI_INCOMPLETE),
	/* lengths that fit in max_len but not in the bytes given (nor in memory) */
	NV_NONE("\xff\xff\xff\xff\xff\xff\xff\xff", SIZE_MAX, FCGI_INCOMPLETE),
	NV_NONE("\x7f\x7f", 254, FCGI_INCOMPLETE),
	/* over max_len: name_len + value_len > max_len */
	NV_NONE("\x7f\x7f", 253, FCGI_ERROR),
	NV("\x02\x03" "abxyz", 5, 7, "ab", "xyz"),
	NV_NONE("\x02\x03" "abxyz", 4, FCGI_ERROR),
	NV_NONE("\x01\x00" "a", 0, FCGI_ERROR),
	NV_NONE("\x00\x01" "v", 0, FCGI_ERROR),
	NV_NONE("\x80\x00\x00\x80\x00", 127, FCGI_ERROR),
	NV_NONE("\x00\x80\x00\x00\x80", 127, FCGI_ERROR),
	NV_NONE("\xff\xff\xff\xff\x00", 1 << 20, FCGI_ERROR),
	NV_NONE("\x00\xff\xff\xff\xff", 1 << 20, FCGI_ERROR),
	/* a name over max_len is refused before the value length is there */
	NV_NONE("\x05", 4, FCGI_ERROR),
	NV_NONE("\x05\x80", 4, FCGI_ERROR),
	NV_NONE("\xff\xff\xff\xff", 1 << 20, FCGI_ERROR),
};

Test(fastcgi_nv, table)
{
	struct guard g = guard_new(4096);

	for (size_t i = 0; i < NELEM(nv_cases); i++) {
		const struct nv_case *c = &nv_cases[i];
		const uint8_t *name, *value;
		size_t name_len, value_len;
		bool errored = false;

		for (size_t k = 0; k <= c->len; k++) {
			const uint8_t *at = guard_place(&g, c->raw, k);
			ssize_t rc = fcgi_nv_decode(at, k, c->max_len, &name, &name_len, &value,
			                            &value_len);
			if (rc == FCGI_INCOMPLETE && k < c->len && !errored &&
			    (c->rc <= 0 || k < (size_t)c->rc))
				continue;
			cr_assert_eq(rc, c->rc, "case %zu: %zu bytes gave %zd, want %zd", i, k, rc,
			             c->rc);
			errored = rc == FCGI_ERROR;
			if (rc > 0) {
				cr_assert_geq(k, (size_t)rc, "case %zu: a pair before its end", i);
				expect_pair(at, rc, name, name_len, value, value_len, &c->pair, "nv case",
				            i);
			}
		}
	}
	guard_free(&g);
	assert_no_leaks();
}

/* ---- round trips ----------------------------------------------------------------------- */

Test(fastcgi_roundtrip, pairs)
{
	static const size_t lens[] = { 0, 1, 2, 127, 128, 129, 255, 256, 1000, 65535, 70000 };
	struct guard g = guard_new(4096);
	uint8_t *name = malloc(70000), *value = malloc(70000);
	uint8_t *buf = malloc(2 * 70000 + 16);

	for (size_t i = 0; i < 70000; i++) {
		name[i] = (uint8_t)('A' + i % 26);
		value[i] = (uint8_t)i;
	}
	for (size_t i = 0; i < NELEM(lens); i++) {
		for (size_t j = 0; j < NELEM(lens); j++) {
			size_t nl = lens[i], vl = lens[j];
			size_t size = fcgi_nv_size(nl, vl);
			size_t head = (nl < 128 ? 1 : 4) + (vl < 128 ? 1 : 4);
			const uint8_t *n, *v;
			size_t n_len, v_len;

			cr_assert_eq(size, head + nl + vl);
			/* no room: an error, nothing written */
			memset(buf, 0xaa, size);
			cr_assert_eq(fcgi_nv_encode(buf, size - 1, name, nl, value, vl), FCGI_ERROR);
			for (size_t k = 0; k < size; k++)
				cr_assert_eq(buf[k], 0xaa, "written with no room");
			cr_assert_eq(fcgi_nv_encode(buf, size, name, nl, value, vl), (ssize_t)size);
			/* lengths canonically encoded */
			uint8_t lb[4];
			size_t ll = fcgi_nv_length_encode(lb, nl);
			cr_assert(ll == (nl < 128 ? 1u : 4u) && memcmp(buf, lb, ll) == 0);
			cr_assert_eq(fcgi_nv_decode(buf, size, nl + vl, &n, &n_len, &v, &v_len),
			             (ssize_t)size, "%zu/%zu", nl, vl);
			cr_assert(bytes_eq(n, n_len, name, nl) && bytes_eq(v, v_len, value, vl));
			if (nl + vl > 0)
				cr_assert_eq(fcgi_nv_decode(buf, size, nl + vl - 1, &n, &n_len, &v,
				                            &v_len), FCGI_ERROR);
			if (size < 600) {
				const struct name_value w = { (const char *)name, nl,
				                               (const char *)value, vl };
				check_pairs(&g, buf, size, nl + vl, &w, 1, "round trip");
			}
		}
	}
	/* lengths of more than 31 bits cannot be sent: nothing is read or written */
	cr_expect_eq(fcgi_nv_size(0x80000000u, 0), SIZE_MAX);
	cr_expect_eq(fcgi_nv_size(0, 0x80000000u), SIZE_MAX);
	cr_expect_eq(fcgi_nv_size(0x7fffffff, 0), 0x7fffffffu + 5);
	cr_expect_eq(fcgi_nv_encode(buf, 16, "a", 0x80000000u, "b", 1), FCGI_ERROR);
	cr_expect_eq(fcgi_nv_encode(buf, SIZE_MAX, "a", 1, "b", 0x80000000u), FCGI_ERROR);
	cr_expect_eq(fcgi_nv_size(SIZE_MAX, SIZE_MAX), SIZE_MAX);
	/* the largest length */
	uint8_t lb[4];
	cr_expect_eq(fcgi_nv_length_encode(lb, 0x7fffffff), 4);
	cr_expect(memcmp(lb, "\xff\xff\xff\xff", 4) == 0);
	free(name);
	free(value);
	free(buf);
	guard_free(&g);
	assert_no_leaks();
}

Test(fastcgi_roundtrip, streams)
{
	static const size_t lens[] = { 0, 1, 7, 8, 9, 65534, 65535, 65536, 131069, 131070, 131071,
		                       200000 };
	uint8_t *data = malloc(200000), *buf = malloc(200000 + 8 * 4);
	struct fcgi_record r;

	for (size_t i = 0; i < 200000; i++)
		data[i] = (uint8_t)(i * 31 + i / 256);
	for (size_t i = 0; i < NELEM(lens); i++) {
		size_t len = lens[i];
		size_t records = len == 0 ? 1 : (len + 65534) / 65535;
		size_t size = fcgi_stream_size(len);

		cr_assert_eq(size, len + 8 * records, "%zu", len);
		memset(buf, 0xaa, size);
		cr_assert_eq(fcgi_stream_encode(buf, size - 1, FCGI_STDERR, 7, data, len), FCGI_ERROR);
		for (size_t k = 0; k < size; k++)
			cr_assert_eq(buf[k], 0xaa, "written with no room");
		cr_assert_eq(fcgi_stream_encode(buf, size, FCGI_STDERR, 7, data, len), (ssize_t)size);

		size_t off = 0, got = 0, n = 0;
		while (off < size) {
			ssize_t rc = fcgi_record_decode(buf + off, size - off, &r);
			cr_assert_gt(rc, 0);
			cr_assert(r.type == FCGI_STDERR && r.request_id == 7 && r.padding_length == 0);
			cr_assert(r.content_length == (len - got > 65535 ? 65535 : len - got),
			          "%zu: record %zu of %u bytes", len, n, r.content_length);
			cr_assert(memcmp(r.content, data + got, r.content_length) == 0);
			got += r.content_length;
			off += (size_t)rc;
			n++;
		}
		cr_assert(got == len && n == records, "%zu: %zu records", len, n);
	}
	/* a size that does not fit is SIZE_MAX, and refused */
	cr_expect_eq(fcgi_stream_size(SIZE_MAX), SIZE_MAX);
	cr_expect_eq(fcgi_stream_size(SIZE_MAX - 100), SIZE_MAX);
	cr_expect_eq(fcgi_stream_encode(buf, SIZE_MAX, FCGI_STDIN, 1, data, SIZE_MAX - 100),
	             FCGI_ERROR);
	free(data);
	free(buf);
	assert_no_leaks();
}

Test(fastcgi_roundtrip, headers)
{
	static const struct {
		uint8_t type;
		uint16_t id, content_length;
		uint8_t padding_length;
	} cases[] = {
		{ 0, 0, 0, 0 },     { FCGI_STDOUT, 1, 1, 7 }, { 255, 65535, 65535, 255 },
		{ 12, 0x1234, 0x5678, 0x9a }, { FCGI_DATA, 256, 256, 1 },
	};
	uint8_t *buf = calloc(1, FCGI_RECORD_MAX);
	struct fcgi_record r;

	for (size_t i = 0; i < NELEM(cases); i++) {
		fcgi_header_encode(buf, cases[i].type, cases[i].id, cases[i].content_length,
		                   cases[i].padding_length);
		cr_expect_eq(buf[0], 1);
		cr_expect_eq(buf[7], 0);
		size_t span = 8 + (size_t)cases[i].content_length + cases[i].padding_length;
		cr_assert_eq(fcgi_record_decode(buf, FCGI_RECORD_MAX, &r), (ssize_t)span);
		cr_expect(r.version == 1 && r.type == cases[i].type && r.request_id == cases[i].id &&
		          r.content_length == cases[i].content_length &&
		          r.padding_length == cases[i].padding_length && r.content == buf + 8);
	}
	free(buf);
	assert_no_leaks();
}

Test(fastcgi_roundtrip, management_records)
{
	struct guard g = guard_new(4096);
	uint8_t out[16];
	struct fcgi_record r;
	/* BEGIN_REQUEST (a: role, b: flags) and END_REQUEST (a: app status, b:
	 * protocol status) bodies, and the record each encodes to. */
	static const struct {
		struct want w;
		const char *bytes;
	} bodies[] = {
		{ BEGIN(1, FCGI_RESPONDER, 0, 0),
		  "\x01\x01\x00\x01\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" },
		{ BEGIN(2, FCGI_RESPONDER, FCGI_KEEP_CONN, 0),
		  "\x01\x01\x00\x02\x00\x08\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00" },
		{ BEGIN(0xabcd, FCGI_AUTHORIZER, 0, 0),
		  "\x01\x01\xab\xcd\x00\x08\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00" },
		{ BEGIN(65535, FCGI_FILTER, 0xff, 0),
		  "\x01\x01\xff\xff\x00\x08\x00\x00\x00\x03\xff\x00\x00\x00\x00\x00" },
		{ END(1, 0, FCGI_REQUEST_COMPLETE, 0),
		  "\x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" },
		{ END(1, 938, FCGI_REQUEST_COMPLETE, 0),
		  "\x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x03\xaa\x00\x00\x00\x00" },
		{ END(7, 0xffffffff, FCGI_CANT_MPX_CONN, 0),
		  "\x01\x03\x00\x07\x00\x08\x00\x00\xff\xff\xff\xff\x01\x00\x00\x00" },
		{ END(0x100, 0x01020304, FCGI_OVERLOADED, 0),
		  "\x01\x03\x01\x00\x00\x08\x00\x00\x01\x02\x03\x04\x02\x00\x00\x00" },
		{ END(9, 1, FCGI_UNKNOWN_ROLE, 0),
		  "\x01\x03\x00\x09\x00\x08\x00\x00\x00\x00\x00\x01\x03\x00\x00\x00" },
	};

	for (size_t i = 0; i < NELEM(bodies); i++) {
		const struct want *w = &bodies[i].w;
		bool begin = w->type == FCGI_BEGIN_REQUEST;
		memset(out, 0xaa, sizeof out);
		if (begin)
			fcgi_begin_request_encode(out, w->id, (uint16_t)w->a, w->b);
		else
			fcgi_end_request_encode(out, w->id, w->a, w->b);
		cr_expect(memcmp(out, bodies[i].bytes, 16) == 0, "%s %zu", begin ? "begin" : "end", i);
		check_records(&g, out, 16, w, 1, begin ? "BEGIN_REQUEST" : "END_REQUEST");
	}
	for (unsigned type = 0; type < 256; type += 17) {
		memset(out, 0xaa, sizeof out);
		fcgi_unknown_type_encode(out, (uint8_t)type);
		uint8_t want[16] = { 1, FCGI_UNKNOWN_TYPE, 0, 0, 0, 8, 0, 0, (uint8_t)type };
		cr_expect(memcmp(out, want, 16) == 0, "unknown type %u", type);
		cr_assert_eq(fcgi_record_decode(out, 16, &r), 16);
		cr_expect(r.type == FCGI_UNKNOWN_TYPE && r.request_id == FCGI_NULL_REQUEST_ID &&
		          r.content_length == 8 && r.content[0] == type);
	}
	static const uint16_t ids[] = { 0, 1, 300, 65535 };
	for (size_t i = 0; i < NELEM(ids); i++) {
		memset(out, 0xaa, sizeof out);
		fcgi_abort_request_encode(out, ids[i]);
		const uint8_t want[8] = { 1, FCGI_ABORT_REQUEST, (uint8_t)(ids[i] >> 8),
			                  (uint8_t)ids[i], 0, 0, 0, 0 };
		cr_expect(memcmp(out, want, 8) == 0);
		cr_expect_eq(out[8], 0xaa, "abort wrote past 8 bytes");
		const struct want w = REC(FCGI_ABORT_REQUEST, ids[i], "", 0);
		check_records(&g, out, 8, &w, 1, "ABORT_REQUEST");
	}
	guard_free(&g);
	assert_no_leaks();
}

/* ---- HTTP sent to the FastCGI port --------------------------------------------------------- */

Test(fastcgi_misc, looks_like_http)
{
	static const struct {
		const char *bytes;
		bool http;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n", true }, { "POST /x HTTP/1.1", true }, { "HEAD / ", true },
		{ "PUT /", true }, { "DELETE /", true }, { "OPTIONS * HTTP/1.1", true },
		{ "PATCH /", true }, { "CONNECT a:443 HTTP/1.1", true }, { "TRACE /", true },
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", true }, { "GET ", true },
		{ "", false }, { "G", false }, { "GET", false }, { "OPTIONS", false },
		{ "get / HTTP/1.1", false }, { "GETX / HTTP/1.1", false }, { "GET\t/", false },
		{ " GET /", false }, { "PROPFIND / HTTP/1.1", false }, { "BREW /", false },
		{ "\x01\x01\x00\x01\x00\x08\x00\x00", false }, { "\x16\x03\x01\x02\x00", false },
	};
	struct guard g = guard_new(4096);

	for (size_t i = 0; i < NELEM(cases); i++) {
		size_t len = strlen(cases[i].bytes);
		const uint8_t *at = guard_place(&g, cases[i].bytes, len);
		cr_expect_eq(http1_looks_like_request(at, len), cases[i].http, "%s", cases[i].bytes);
	}
	/* when the record decoder refuses an HTTP request, its 8 bytes are enough */
	static const char *const requests[] = {
		"GET / HTTP/1.1\r\n", "POST / HTTP/1.1\r\n", "HEAD / HTTP/1.1\r\n",
		"PUT / HTTP/1.1\r\n", "DELETE / HTTP/1.1\r\n", "OPTIONS * HTTP/1.1\r\n",
		"PATCH / HTTP/1.1\r\n", "CONNECT a:1 HTTP/1.1\r\n", "TRACE / HTTP/1.1\r\n",
		"PRI * HTTP/2.0\r\n",
	};
	for (size_t i = 0; i < NELEM(requests); i++) {
		struct fcgi_record r;
		size_t k;
		for (k = 0; k <= strlen(requests[i]); k++) {
			const uint8_t *at = guard_place(&g, requests[i], k);
			if (fcgi_record_decode(at, k, &r) != FCGI_INCOMPLETE)
				break;
		}
		cr_expect_eq(k, FCGI_HEADER_LEN, "%s", requests[i]);
		cr_expect_eq(r.version, (uint8_t)requests[i][0]);
		const uint8_t *at = guard_place(&g, requests[i], k);
		cr_expect(http1_looks_like_request(at, k), "%s", requests[i]);
	}
	guard_free(&g);
	assert_no_leaks();
}
