/* Tests for protocols/uwsgi.c.
 *
 * Every packet is decoded whole, placed so that it ends right before a
 * PROT_NONE page, and fed one byte at a time, each prefix too placed right
 * before the guard page: every strict prefix of a packet gives
 * UWSGI_INCOMPLETE, never an error, and the packet comes out exactly when its
 * last byte arrives. Its vars block is then iterated on its own, ending at the
 * guard page, and so is every strict prefix of it: those give the vars before
 * the cut, then the end exactly when the cut falls between two vars and
 * UWSGI_ERROR otherwise (a vars block is complete by the time it is iterated).
 *
 * Conformance data: the packets nginx 1.22 (Debian) sends with uwsgi_pass and
 * /etc/nginx/uwsgi_params for `curl http://localhost:53503/hello?name=world`
 * and for `curl -d 'a=1&b=2' http://localhost:53503/form`, captured from a
 * socket and written out below byte for byte.
 *
 * Behaviour this file pins down beyond uwsgi.h's first contract:
 * - the header is reported once its 4 bytes are there, also while the vars
 *   are not; any modifier1 and modifier2 decode; sizes are little-endian;
 * - the packet decoder never judges the vars: a packet with bad vars decodes,
 *   and the iterator refuses them;
 * - an empty value is valid, an empty key is not, and the iterator takes any
 *   bytes in keys and values (NUL, 0xff, CR LF): judging them is the daemon's
 *   call;
 * - the writer refuses an empty key as it refuses a var that does not fit,
 *   and once it has refused a var it writes nothing more: finish gives
 *   UWSGI_ERROR and the header stays unwritten, never a truncated packet. */
#include "protocols/http1.h"
#include "protocols/uwsgi.h"
#include "test/corpus.h"

#include <criterion/criterion.h>
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

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define BIG (2 * (UWSGI_HEADER_LEN + UWSGI_MAX_VARS))

/* ---- expected vars -------------------------------------------------------------- */

/* A var: its key is the name_value's name, its value the value. */
#define VAR(k, v) NAME_VALUE(k, v)

static size_t var_size(const struct name_value *v)
{
	return 4 + v->name_len + v->value_len;
}

/* Is the var at vars[off..) with these views exactly w? */
static void expect_var(const uint8_t *vars, size_t off, const uint8_t *key, size_t key_len,
                       const uint8_t *val, size_t val_len, const struct name_value *w,
                       const char *what, size_t i)
{
	cr_assert(key == vars + off + 2 && val == key + key_len + 2, "%s: var %zu: not views",
	          what, i);
	expect_name_value(key, key_len, val, val_len, w, "var", what, i);
}

/* Iterate vars[0..len) (placed by the caller); the vars must be w[0..n) and
 * the iteration must end with want_end. Returns the vars seen. */
static size_t iterate(const uint8_t *vars, size_t len, const struct name_value *w, size_t n,
                      int want_end, const char *what)
{
	const uint8_t *key, *val;
	size_t key_len, val_len, off = 0, i = 0;
	int rc;

	for (size_t prev = off; (rc = uwsgi_var_next(vars, len, &off, &key, &key_len, &val,
	                                             &val_len)) == 1; prev = off) {
		cr_assert_lt(i, n, "%s: more vars than expected", what);
		cr_assert_eq(off - prev, var_size(&w[i]), "%s: var %zu: %zu bytes", what, i,
		             off - prev);
		expect_var(vars, prev, key, key_len, val, val_len, &w[i], what, i);
		cr_assert_leq(off, len);
		i++;
	}
	cr_assert_eq(rc, want_end, "%s: ended with %d after %zu vars, want %d", what, rc, i,
	             want_end);
	cr_assert(key == NULL && val == NULL && key_len == 0 && val_len == 0,
	          "%s: views left set at the end", what);
	/* the end is sticky, and leaves the offset alone */
	size_t again = off;
	cr_assert_eq(uwsgi_var_next(vars, len, &again, &key, &key_len, &val, &val_len), rc);
	cr_assert_eq(again, off, "%s: the end moved the offset", what);
	if (rc == 0)
		cr_assert_eq(off, len, "%s: end before the block's end", what);
	return i;
}

/* A strict prefix of a large block is cut only near a var's edges, where the
 * answer changes: a guard-page copy of every prefix of 64 KiB is quadratic. */
static bool near_edge(const struct name_value *w, size_t n, size_t m)
{
	size_t b = 0;

	for (size_t i = 0; i <= n; i++) {
		if (m >= b && m - b < 8)
			return true;
		if (i == n)
			break;
		size_t key_end = b + 2 + w[i].name_len;
		if (m + 4 > key_end && m < key_end + 4)
			return true;
		b += var_size(&w[i]);
		if (m < b && b - m <= 4)
			return true;
	}
	return false;
}

/* vars[0..len) must be exactly w[0..n): whole before the guard page, and every
 * strict prefix gives the vars before the cut, then 0 at a boundary between
 * vars and UWSGI_ERROR elsewhere. */
static void check_vars(struct guard *g, const uint8_t *vars, size_t len,
                       const struct name_value *w, size_t n, const char *what)
{
	const uint8_t *at = guard_place(g, vars, len);
	char name[96];

	cr_assert_eq(iterate(at, len, w, n, 0, what), n, "%s: vars missing", what);

	size_t b = 0, i = 0; /* b: the end of the first i vars */
	for (size_t m = 0; m < len; m++) {
		while (i < n && b + var_size(&w[i]) <= m)
			b += var_size(&w[i++]);
		if (len > 4096 && !near_edge(w, n, m))
			continue;
		snprintf(name, sizeof name, "%s, %zu of %zu bytes", what, m, len);
		at = guard_place(g, vars, m);
		cr_assert_eq(iterate(at, m, w, i, m == b ? 0 : UWSGI_ERROR, name), i);
	}
}

/* raw[0..len) starts with a packet of plen bytes whose vars are w[0..n) (any
 * bytes after it are the body or the next packet). */
static void check_packet(struct guard *g, const uint8_t *raw, size_t len, size_t plen,
                         const struct name_value *w, size_t n, const char *what)
{
	struct uwsgi_header h;
	const uint8_t *at = guard_place(g, raw, len);

	cr_assert_geq(plen, (size_t)UWSGI_HEADER_LEN);
	cr_assert_eq(uwsgi_packet_decode(at, len, &h), (ssize_t)plen, "%s: whole", what);
	cr_assert_eq(h.modifier1, raw[0]);
	cr_assert_eq(h.datasize, plen - UWSGI_HEADER_LEN);
	cr_assert_eq(h.modifier2, raw[3]);
	cr_assert_eq(iterate(at + UWSGI_HEADER_LEN, h.datasize, w, n, 0, what), n);

	for (size_t k = 0; k <= plen; k++) {
		/* (for a large packet: in place, the decoder reading only 4 bytes) */
		if (plen <= 4096 || k < 64 || plen - k < 64)
			at = guard_place(g, raw, k);
		else
			at = g->end - plen;
		memset(&h, 0xa5, sizeof h);
		ssize_t rc = uwsgi_packet_decode(at, k, &h);
		if (k < plen)
			cr_assert_eq(rc, UWSGI_INCOMPLETE, "%s: %zu of %zu bytes gave %zd", what, k,
			             plen, rc);
		else
			cr_assert_eq(rc, (ssize_t)plen, "%s: all %zu bytes gave %zd", what, plen, rc);
		if (k < UWSGI_HEADER_LEN)
			cr_assert(h.modifier1 == 0 && h.datasize == 0 && h.modifier2 == 0,
			          "%s: a header from %zu bytes", what, k);
		else
			cr_assert(h.modifier1 == raw[0] && h.datasize == plen - UWSGI_HEADER_LEN &&
			          h.modifier2 == raw[3], "%s: %zu bytes: header %u %u %u", what, k,
			          h.modifier1, h.datasize, h.modifier2);
	}
	check_vars(g, raw + UWSGI_HEADER_LEN, plen - UWSGI_HEADER_LEN, w, n, what);
}

/* Encode w[0..n) into a malloc'd buffer of exactly the packet's size. */
static uint8_t *encode(const struct name_value *w, size_t n, size_t *len)
{
	size_t need = UWSGI_HEADER_LEN;
	struct uwsgi_writer wr;

	for (size_t i = 0; i < n; i++)
		need += var_size(&w[i]);
	uint8_t *buf = malloc(need);
	uwsgi_writer_init(&wr, buf, need);
	for (size_t i = 0; i < n; i++)
		uwsgi_writer_var(&wr, w[i].name, w[i].name_len, w[i].value, w[i].value_len);
	ssize_t rc = uwsgi_writer_finish(&wr);
	cr_assert_eq(rc, (ssize_t)need, "encode: %zd, want %zu", rc, need);
	cr_assert_eq(wr.len, need);
	cr_assert(!wr.overflow);
	*len = need;
	return buf;
}

/* ---- nginx's packets --------------------------------------------------------------- */

/* GET /hello?name=world HTTP/1.1, from curl; datasize 0x0171. */
static const char nginx_get[] =
	"\x00\x71\x01\x00"
	"\x0c\x00" "QUERY_STRING" "\x0a\x00" "name=world"
	"\x0e\x00" "REQUEST_METHOD" "\x03\x00" "GET"
	"\x0c\x00" "CONTENT_TYPE" "\x00\x00" ""
	"\x0e\x00" "CONTENT_LENGTH" "\x00\x00" ""
	"\x0b\x00" "REQUEST_URI" "\x11\x00" "/hello?name=world"
	"\x09\x00" "PATH_INFO" "\x06\x00" "/hello"
	"\x0d\x00" "DOCUMENT_ROOT" "\x0d\x00" "/var/www/html"
	"\x0f\x00" "SERVER_PROTOCOL" "\x08\x00" "HTTP/1.1"
	"\x0e\x00" "REQUEST_SCHEME" "\x04\x00" "http"
	"\x0b\x00" "REMOTE_ADDR" "\x09\x00" "127.0.0.1"
	"\x0b\x00" "REMOTE_PORT" "\x05\x00" "52064"
	"\x0b\x00" "SERVER_PORT" "\x05\x00" "53503"
	"\x0b\x00" "SERVER_NAME" "\x09\x00" "localhost"
	"\x09\x00" "HTTP_HOST" "\x09\x00" "localhost"
	"\x0f\x00" "HTTP_USER_AGENT" "\x0b\x00" "curl/7.88.1"
	"\x0b\x00" "HTTP_ACCEPT" "\x03\x00" "*/*";

static const struct name_value nginx_get_vars[] = {
	VAR("QUERY_STRING", "name=world"),
	VAR("REQUEST_METHOD", "GET"),
	VAR("CONTENT_TYPE", ""),
	VAR("CONTENT_LENGTH", ""),
	VAR("REQUEST_URI", "/hello?name=world"),
	VAR("PATH_INFO", "/hello"),
	VAR("DOCUMENT_ROOT", "/var/www/html"),
	VAR("SERVER_PROTOCOL", "HTTP/1.1"),
	VAR("REQUEST_SCHEME", "http"),
	VAR("REMOTE_ADDR", "127.0.0.1"),
	VAR("REMOTE_PORT", "52064"),
	VAR("SERVER_PORT", "53503"),
	VAR("SERVER_NAME", "localhost"),
	VAR("HTTP_HOST", "localhost"), /* uwsgi_params' $host: nginx then skips the Host header */
	VAR("HTTP_USER_AGENT", "curl/7.88.1"),
	VAR("HTTP_ACCEPT", "*/*"),
};

/* POST /form with a 7-byte form body, which follows the vars; datasize 0x01cb.
 * nginx passes Content-Type and Content-Length as HTTP_* vars too. */
static const char nginx_post[] =
	"\x00\xcb\x01\x00"
	"\x0c\x00" "QUERY_STRING" "\x00\x00" ""
	"\x0e\x00" "REQUEST_METHOD" "\x04\x00" "POST"
	"\x0c\x00" "CONTENT_TYPE" "\x21\x00" "application/x-www-form-urlencoded"
	"\x0e\x00" "CONTENT_LENGTH" "\x01\x00" "7"
	"\x0b\x00" "REQUEST_URI" "\x05\x00" "/form"
	"\x09\x00" "PATH_INFO" "\x05\x00" "/form"
	"\x0d\x00" "DOCUMENT_ROOT" "\x0d\x00" "/var/www/html"
	"\x0f\x00" "SERVER_PROTOCOL" "\x08\x00" "HTTP/1.1"
	"\x0e\x00" "REQUEST_SCHEME" "\x04\x00" "http"
	"\x0b\x00" "REMOTE_ADDR" "\x09\x00" "127.0.0.1"
	"\x0b\x00" "REMOTE_PORT" "\x05\x00" "37870"
	"\x0b\x00" "SERVER_PORT" "\x05\x00" "53503"
	"\x0b\x00" "SERVER_NAME" "\x09\x00" "localhost"
	"\x09\x00" "HTTP_HOST" "\x09\x00" "localhost"
	"\x0f\x00" "HTTP_USER_AGENT" "\x0b\x00" "curl/7.88.1"
	"\x0b\x00" "HTTP_ACCEPT" "\x03\x00" "*/*"
	"\x13\x00" "HTTP_CONTENT_LENGTH" "\x01\x00" "7"
	"\x11\x00" "HTTP_CONTENT_TYPE" "\x21\x00" "application/x-www-form-urlencoded"
	"a=1&b=2";

static const struct name_value nginx_post_vars[] = {
	VAR("QUERY_STRING", ""),
	VAR("REQUEST_METHOD", "POST"),
	VAR("CONTENT_TYPE", "application/x-www-form-urlencoded"),
	VAR("CONTENT_LENGTH", "7"),
	VAR("REQUEST_URI", "/form"),
	VAR("PATH_INFO", "/form"),
	VAR("DOCUMENT_ROOT", "/var/www/html"),
	VAR("SERVER_PROTOCOL", "HTTP/1.1"),
	VAR("REQUEST_SCHEME", "http"),
	VAR("REMOTE_ADDR", "127.0.0.1"),
	VAR("REMOTE_PORT", "37870"),
	VAR("SERVER_PORT", "53503"),
	VAR("SERVER_NAME", "localhost"),
	VAR("HTTP_HOST", "localhost"),
	VAR("HTTP_USER_AGENT", "curl/7.88.1"),
	VAR("HTTP_ACCEPT", "*/*"),
	VAR("HTTP_CONTENT_LENGTH", "7"),
	VAR("HTTP_CONTENT_TYPE", "application/x-www-form-urlencoded"),
};

Test(uwsgi_nginx, get)
{
	struct guard g = guard_new(4096);
	size_t len = sizeof nginx_get - 1;

	cr_assert_eq(len, 373u);
	check_packet(&g, (const uint8_t *)nginx_get, len, len, nginx_get_vars,
	             NELEM(nginx_get_vars), "nginx GET");
	guard_free(&g);
	assert_no_leaks();
}

Test(uwsgi_nginx, post_then_body)
{
	struct guard g = guard_new(4096);
	const uint8_t *raw = (const uint8_t *)nginx_post;
	size_t len = sizeof nginx_post - 1, plen = UWSGI_HEADER_LEN + 0x01cb;
	struct uwsgi_header h;

	check_packet(&g, raw, len, plen, nginx_post_vars, NELEM(nginx_post_vars), "nginx POST");

	/* the body is what follows the packet, CONTENT_LENGTH bytes */
	const uint8_t *at = guard_place(&g, raw, len), *key, *val;
	size_t key_len, val_len, off = 0, content_length = 0;
	ssize_t rc = uwsgi_packet_decode(at, len, &h);
	cr_assert_eq(rc, (ssize_t)plen);
	while (uwsgi_var_next(at + UWSGI_HEADER_LEN, h.datasize, &off, &key, &key_len, &val,
	                      &val_len) == 1)
		if (bytes_eq(key, key_len, "CONTENT_LENGTH", 14))
			for (size_t i = 0; i < val_len; i++)
				content_length = content_length * 10 + (size_t)(val[i] - '0');
	cr_assert_eq(content_length, 7u);
	cr_assert_eq(len - plen, content_length);
	cr_assert(memcmp(at + plen, "a=1&b=2", 7) == 0);
	guard_free(&g);
	assert_no_leaks();
}

/* The writer, given nginx's vars, writes nginx's bytes. */
Test(uwsgi_nginx, writer_writes_the_same_bytes)
{
	static const struct {
		const char *raw;
		size_t plen;
		const struct name_value *vars;
		size_t n;
	} cases[] = {
		{ nginx_get, sizeof nginx_get - 1, nginx_get_vars, NELEM(nginx_get_vars) },
		{ nginx_post, UWSGI_HEADER_LEN + 0x01cb, nginx_post_vars, NELEM(nginx_post_vars) },
	};

	for (size_t i = 0; i < NELEM(cases); i++) {
		size_t len;
		uint8_t *buf = encode(cases[i].vars, cases[i].n, &len);
		cr_assert_eq(len, cases[i].plen, "case %zu: %zu bytes", i, len);
		cr_assert(memcmp(buf, cases[i].raw, len) == 0, "case %zu: other bytes", i);
		free(buf);
	}
	assert_no_leaks();
}

/* ---- packets: bad, odd, and at the limits ----------------------------------------------- */

struct packet_case {
	const char *raw;
	size_t len;
	ssize_t rc;
	uint8_t modifier1;
	uint16_t datasize;
	uint8_t modifier2;
};

#define PACKET(raw, rc, m1, size, m2) { raw, sizeof(raw) - 1, rc, m1, size, m2 }
#define SHORT(raw) PACKET(raw, UWSGI_INCOMPLETE, 0, 0, 0)

static const struct packet_case packet_cases[] = {
	/* the header truncated: nothing reported */
	SHORT(""),
	SHORT("\x00"),
	SHORT("\x00\x05"),
	SHORT("\x00\x05\x00"),
	SHORT("GET"),
	/* the header is there, the vars are not (datasize beyond the data) */
	PACKET("\x00\x05\x00\x00", UWSGI_INCOMPLETE, 0, 5, 0),
	PACKET("\x00\x05\x00\x00" "abcd", UWSGI_INCOMPLETE, 0, 5, 0),
	PACKET("\x00\xff\xff\x00" "\x01\x00" "a\x00\x00", UWSGI_INCOMPLETE, 0, 65535, 0),
	/* little-endian: 00 01 is 256, not 1 */
	PACKET("\x00\x00\x01\x00" "\x01\x00" "a\x00\x00", UWSGI_INCOMPLETE, 0, 256, 0),
	/* HTTP read as a header: modifier1 'G', datasize "ET" = 0x5445 */
	PACKET("GET / HTTP/1.1\r\n", UWSGI_INCOMPLETE, 'G', 0x5445, ' '),
	PACKET("POST /x HTTP/1.1\r\n", UWSGI_INCOMPLETE, 'P', 0x534f, 'T'),
	/* an empty vars block */
	PACKET("\x00\x00\x00\x00", 4, 0, 0, 0),
	/* more after the packet: the body, or the next packet */
	PACKET("\x00\x00\x00\x00" "body", 4, 0, 0, 0),
	PACKET("\x00\x05\x00\x00" "\x01\x00" "a\x00\x00" "\x00\x00\x00\x00", 9, 0, 5, 0),
	/* any modifier decodes */
	PACKET("\x05\x05\x00\x07" "\x01\x00" "a\x00\x00", 9, 5, 5, 7),
	PACKET("\xff\x00\x00\xff", 4, 255, 0, 255),
	/* the vars are not judged here: a zero-length key, a stray byte */
	PACKET("\x00\x04\x00\x00" "\x00\x00\x00\x00", 8, 0, 4, 0),
	PACKET("\x00\x01\x00\x00" "\x00", 5, 0, 1, 0),
	PACKET("\x00\x02\x00\x00" "\xff\xff", 6, 0, 2, 0),
};

Test(uwsgi_packet, table)
{
	struct guard g = guard_new(4096);

	for (size_t i = 0; i < NELEM(packet_cases); i++) {
		const struct packet_case *c = &packet_cases[i];
		for (size_t k = 0; k <= c->len; k++) {
			const uint8_t *at = guard_place(&g, c->raw, k);
			struct uwsgi_header h;
			memset(&h, 0xa5, sizeof h);
			ssize_t rc = uwsgi_packet_decode(at, k, &h);
			ssize_t want = c->rc > 0 && k < (size_t)c->rc ? UWSGI_INCOMPLETE : c->rc;
			cr_assert_eq(rc, want, "case %zu, %zu bytes: %zd, want %zd", i, k, rc, want);
			if (k < UWSGI_HEADER_LEN)
				cr_assert(h.modifier1 == 0 && h.datasize == 0 && h.modifier2 == 0,
				          "case %zu, %zu bytes: a header", i, k);
			else
				cr_assert(h.modifier1 == c->modifier1 && h.datasize == c->datasize &&
				                  h.modifier2 == c->modifier2,
				          "case %zu, %zu bytes: header %u %u %u", i, k, h.modifier1,
				          h.datasize, h.modifier2);
		}
	}
	guard_free(&g);
	assert_no_leaks();
}

/* A packet whose datasize is 0: valid, with no vars. */
Test(uwsgi_packet, empty_vars_block)
{
	struct guard g = guard_new(4096);
	uint8_t buf[UWSGI_HEADER_LEN];
	struct uwsgi_writer w;

	check_packet(&g, (const uint8_t *)"\x00\x00\x00\x00", 4, 4, NULL, 0, "empty");
	check_packet(&g, (const uint8_t *)"\x00\x00\x00\x00" "\x00\x00\x00\x00", 8, 4, NULL, 0,
	             "empty, twice");

	/* an empty block iterates to its end at once, wherever it points */
	const uint8_t *key, *val;
	size_t key_len, val_len, off = 0;
	cr_assert_eq(uwsgi_var_next(g.end, 0, &off, &key, &key_len, &val, &val_len), 0);
	cr_assert_eq(off, 0u);

	/* the writer with no vars writes just that, in a buffer of exactly 4 bytes */
	memset(buf, 0xa5, sizeof buf);
	uwsgi_writer_init(&w, buf, sizeof buf);
	cr_assert_eq(uwsgi_writer_finish(&w), UWSGI_HEADER_LEN);
	cr_assert(memcmp(buf, "\x00\x00\x00\x00", 4) == 0);
	guard_free(&g);
	assert_no_leaks();
}

/* ---- vars: bad and odd blocks ------------------------------------------------------------ */

struct vars_case {
	const char *raw;
	size_t len;
	int end;           /* how the iteration ends */
	size_t n;          /* the vars before it */
	struct name_value want[2];
};

#define VARS(raw, end, n, ...) { raw, sizeof(raw) - 1, end, n, { __VA_ARGS__ } }
#define NOVAR { NULL, 0, NULL, 0 }

static const struct vars_case vars_cases[] = {
	/* good */
	VARS("", 0, 0, NOVAR),
	VARS("\x01\x00" "a" "\x00\x00", 0, 1, VAR("a", "")),
	VARS("\x01\x00" "a" "\x01\x00" "b", 0, 1, VAR("a", "b")),
	VARS("\x01\x00" "a" "\x00\x00" "\x01\x00" "b" "\x02\x00" "cd", 0, 2, VAR("a", ""),
	     VAR("b", "cd")),
	/* any bytes in keys and values */
	VARS("\x02\x00" "\x00\xff" "\x02\x00" "\r\n", 0, 1, VAR("\x00\xff", "\r\n")),
	VARS("\x01\x00" " " "\x03\x00" "\x00\x00\x00", 0, 1, VAR(" ", "\x00\x00\x00")),
	/* an odd trailing byte */
	VARS("\x00", UWSGI_ERROR, 0, NOVAR),
	VARS("\x01", UWSGI_ERROR, 0, NOVAR),
	VARS("\x01\x00" "a" "\x00\x00" "\x00", UWSGI_ERROR, 1, VAR("a", "")),
	VARS("\x01\x00" "a" "\x00\x00" "\x05", UWSGI_ERROR, 1, VAR("a", "")),
	/* a zero-length key */
	VARS("\x00\x00\x00\x00", UWSGI_ERROR, 0, NOVAR),
	VARS("\x00\x00\x01\x00" "v", UWSGI_ERROR, 0, NOVAR),
	VARS("\x00\x00", UWSGI_ERROR, 0, NOVAR),
	VARS("\x01\x00" "a" "\x00\x00" "\x00\x00\x00\x00", UWSGI_ERROR, 1, VAR("a", "")),
	/* a key size beyond the block */
	VARS("\x05\x00" "abc", UWSGI_ERROR, 0, NOVAR),
	VARS("\xff\xff" "abc", UWSGI_ERROR, 0, NOVAR),
	VARS("\x00\x01" "a" "\x00\x00", UWSGI_ERROR, 0, NOVAR), /* 256, little-endian */
	VARS("\x01\x00" "a" "\x00\x00" "\x02\x00" "b", UWSGI_ERROR, 1, VAR("a", "")),
	/* the key, then no room for the value's size */
	VARS("\x01\x00" "a", UWSGI_ERROR, 0, NOVAR),
	VARS("\x01\x00" "a" "\x00", UWSGI_ERROR, 0, NOVAR),
	VARS("\x03\x00" "abc" "\x00", UWSGI_ERROR, 0, NOVAR),
	/* a value size beyond the block */
	VARS("\x01\x00" "a" "\x02\x00" "b", UWSGI_ERROR, 0, NOVAR),
	VARS("\x01\x00" "a" "\x00\x01" "b", UWSGI_ERROR, 0, NOVAR),
	VARS("\x01\x00" "a" "\xff\xff", UWSGI_ERROR, 0, NOVAR),
	VARS("\x01\x00" "a" "\x00\x00" "\x01\x00" "b" "\x03\x00" "cd", UWSGI_ERROR, 1,
	     VAR("a", "")),
};

Test(uwsgi_vars, table)
{
	struct guard g = guard_new(4096);

	for (size_t i = 0; i < NELEM(vars_cases); i++) {
		const struct vars_case *c = &vars_cases[i];
		char name[32];
		snprintf(name, sizeof name, "vars case %zu", i);
		const uint8_t *at = guard_place(&g, c->raw, c->len);
		cr_assert_eq(iterate(at, c->len, c->want, c->n, c->end, name), c->n);

		/* the same block inside a packet: the packet decodes, the vars do not */
		uint8_t pkt[64];
		cr_assert_leq(c->len, sizeof pkt - UWSGI_HEADER_LEN);
		memcpy(pkt, "\x00\x00\x00\x00", 4);
		pkt[1] = (uint8_t)c->len;
		memcpy(pkt + 4, c->raw, c->len);
		if (c->end == 0) {
			check_packet(&g, pkt, c->len + 4, c->len + 4, c->want, c->n, name);
		} else {
			struct uwsgi_header h;
			at = guard_place(&g, pkt, c->len + 4);
			cr_assert_eq(uwsgi_packet_decode(at, c->len + 4, &h), (ssize_t)c->len + 4);
			cr_assert_eq(iterate(at + 4, h.datasize, c->want, c->n, UWSGI_ERROR, name),
			             c->n);
			/* every prefix too: any answer, but no read past it */
			for (size_t m = 0; m < c->len; m++) {
				const uint8_t *key, *val;
				size_t key_len, val_len, off = 0;
				at = guard_place(&g, c->raw, m);
				while (uwsgi_var_next(at, m, &off, &key, &key_len, &val, &val_len) == 1)
					cr_assert_leq(off, m);
			}
		}
	}
	guard_free(&g);
	assert_no_leaks();
}

/* An error leaves the offset where it was and the views cleared; an offset
 * past the block is an error. */
Test(uwsgi_vars, error_leaves_state)
{
	static const char raw[] = "\x01\x00" "a" "\x01\x00" "b" "\x05\x00" "abc";
	struct guard g = guard_new(4096);
	const uint8_t *at = guard_place(&g, raw, sizeof raw - 1), *key, *val;
	size_t key_len, val_len, off = 0;

	cr_assert_eq(uwsgi_var_next(at, sizeof raw - 1, &off, &key, &key_len, &val, &val_len), 1);
	cr_assert_eq(off, 6u);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(uwsgi_var_next(at, sizeof raw - 1, &off, &key, &key_len, &val, &val_len),
		             UWSGI_ERROR);
		cr_assert_eq(off, 6u);
		cr_assert(key == NULL && val == NULL && key_len == 0 && val_len == 0);
	}
	off = sizeof raw;
	cr_assert_eq(uwsgi_var_next(at, sizeof raw - 1, &off, &key, &key_len, &val, &val_len),
	             UWSGI_ERROR);
	cr_assert_eq(off, sizeof raw);
	guard_free(&g);
	assert_no_leaks();
}

/* ---- the 64 KiB cap ---------------------------------------------------------------------- */

/* 255 vars of 257 bytes: VAR_nnnn (8) and a value of 245 bytes, 65535 bytes in
 * all. Keys and values live in store (255 * 253 bytes). */
static void fill_255(struct name_value *v, char *store)
{
	for (size_t i = 0; i < 255; i++) {
		char *k = store + i * 253;
		snprintf(k, 9, "VAR_%04zu", i);
		memset(k + 8, 'a' + (int)(i % 26), 245);
		v[i] = (struct name_value){ k, 8, k + 8, 245 };
	}
}

Test(uwsgi_limits, vars_of_exactly_65535_bytes)
{
	struct guard g = guard_new(BIG);
	struct name_value *many = malloc(255 * sizeof *many);
	char *store = malloc(255 * 253), *big = malloc(UWSGI_MAX_VARS);
	uint8_t *buf;
	size_t len;

	/* one var */
	memset(big, 'v', UWSGI_MAX_VARS);
	struct name_value one = { "K", 1, big, UWSGI_MAX_VARS - 5 };
	buf = encode(&one, 1, &len);
	cr_assert_eq(len, UWSGI_HEADER_LEN + UWSGI_MAX_VARS);
	cr_assert(memcmp(buf, "\x00\xff\xff\x00" "\x01\x00" "K" "\xfa\xff", 9) == 0);
	check_packet(&g, buf, len, len, &one, 1, "one var of 65535 bytes");
	free(buf);

	/* one var, the key taking it all */
	struct name_value key = { big, UWSGI_MAX_VARS - 4, "", 0 };
	buf = encode(&key, 1, &len);
	cr_assert_eq(len, UWSGI_HEADER_LEN + UWSGI_MAX_VARS);
	check_packet(&g, buf, len, len, &key, 1, "a key of 65531 bytes");
	free(buf);

	/* 255 vars */
	fill_255(many, store);
	buf = encode(many, 255, &len);
	cr_assert_eq(len, UWSGI_HEADER_LEN + UWSGI_MAX_VARS);
	check_packet(&g, buf, len, len, many, 255, "255 vars of 257 bytes");
	free(buf);

	free(big);
	free(store);
	free(many);
	guard_free(&g);
	assert_no_leaks();
}

/* What the writer left after refusing: nothing past len, no header. */
static void expect_refused(struct uwsgi_writer *w, const uint8_t *buf, size_t len,
                           size_t cap, const char *what)
{
	cr_assert(w->overflow, "%s: no overflow", what);
	cr_assert_eq(w->len, len, "%s: len %zu, want %zu", what, w->len, len);
	cr_assert_eq(uwsgi_writer_finish(w), UWSGI_ERROR, "%s", what);
	if (cap >= UWSGI_HEADER_LEN)
		cr_assert(memcmp(buf, "\x00\x00\x00\x00", 4) == 0, "%s: a header written", what);
	for (size_t i = len; i < cap; i++)
		cr_assert_eq(buf[i], 0xa5, "%s: byte %zu written", what, i);
}

Test(uwsgi_limits, vars_of_65536_bytes_are_refused)
{
	size_t cap = BIG;
	uint8_t *buf = malloc(cap);
	struct name_value *many = malloc(255 * sizeof *many);
	char *store = malloc(255 * 253), *big = malloc(UWSGI_MAX_VARS + 1);
	struct uwsgi_writer w;

	memset(big, 'v', UWSGI_MAX_VARS + 1);
	fill_255(many, store);

	/* one var of 65536 bytes, cap to spare */
	memset(buf, 0xa5, cap);
	uwsgi_writer_init(&w, buf, cap);
	uwsgi_writer_var(&w, "K", 1, big, UWSGI_MAX_VARS - 4);
	expect_refused(&w, buf, UWSGI_HEADER_LEN, cap, "one var of 65536");

	/* a key of 65532 */
	memset(buf, 0xa5, cap);
	uwsgi_writer_init(&w, buf, cap);
	uwsgi_writer_var(&w, big, UWSGI_MAX_VARS - 3, "", 0);
	expect_refused(&w, buf, UWSGI_HEADER_LEN, cap, "a key of 65532");

	/* 65535 bytes of vars, then the smallest var there is */
	memset(buf, 0xa5, cap);
	uwsgi_writer_init(&w, buf, cap);
	for (size_t i = 0; i < 255; i++)
		uwsgi_writer_var(&w, many[i].name, many[i].name_len, many[i].value,
		                 many[i].value_len);
	cr_assert(!w.overflow);
	uwsgi_writer_var(&w, "K", 1, "", 0);
	/* and once refused, nothing more is written, even a var that would fit */
	uwsgi_writer_var(&w, "", 0, "", 0);
	expect_refused(&w, buf, UWSGI_HEADER_LEN + UWSGI_MAX_VARS, cap, "65535 + 5");

	/* 254 vars, then one a byte too large, then one that would fit */
	memset(buf, 0xa5, cap);
	uwsgi_writer_init(&w, buf, cap);
	for (size_t i = 0; i < 254; i++)
		uwsgi_writer_var(&w, many[i].name, many[i].name_len, many[i].value,
		                 many[i].value_len);
	size_t before = w.len;
	uwsgi_writer_var(&w, "KEY", 3, big, 257 - 4 - 3 + 1);
	uwsgi_writer_var(&w, "K", 1, "", 0);
	expect_refused(&w, buf, before, cap, "65534 + 258");

	/* sizes that would wrap a size_t sum */
	memset(buf, 0xa5, cap);
	uwsgi_writer_init(&w, buf, cap);
	uwsgi_writer_var(&w, "K", 1, big, SIZE_MAX);
	expect_refused(&w, buf, UWSGI_HEADER_LEN, cap, "SIZE_MAX value");
	uwsgi_writer_init(&w, buf, cap);
	uwsgi_writer_var(&w, big, SIZE_MAX - 3, "", 0);
	expect_refused(&w, buf, UWSGI_HEADER_LEN, cap, "SIZE_MAX key");

	free(big);
	free(store);
	free(many);
	free(buf);
	assert_no_leaks();
}

/* The caller's buffer: a packet exactly its size fits, a byte less does not. */
Test(uwsgi_limits, writer_cap)
{
	uint8_t buf[64];
	struct uwsgi_writer w;

	for (size_t cap = 0; cap <= 20; cap++) {
		char what[32];
		snprintf(what, sizeof what, "cap %zu", cap);
		memset(buf, 0xa5, sizeof buf);
		uwsgi_writer_init(&w, buf, cap);
		uwsgi_writer_var(&w, "AB", 2, "cd", 2);  /* 8 bytes */
		uwsgi_writer_var(&w, "E", 1, "", 0);     /* 5 bytes */
		if (cap >= 17) {
			cr_assert_eq(uwsgi_writer_finish(&w), 17, "%s", what);
			cr_assert(memcmp(buf, "\x00\x0d\x00\x00" "\x02\x00" "AB" "\x02\x00" "cd"
			                      "\x01\x00" "E" "\x00\x00", 17) == 0, "%s", what);
			cr_assert_eq(buf[17], 0xa5);
		} else if (cap >= 12) {
			expect_refused(&w, buf, 12, cap, what);
		} else if (cap >= 4) {
			expect_refused(&w, buf, 4, cap, what);
		} else {
			expect_refused(&w, buf, 0, cap, what);
			cr_assert_eq(buf[0], 0xa5, "%s: written", what);
		}
	}
	/* no buffer at all */
	uwsgi_writer_init(&w, NULL, 0);
	uwsgi_writer_var(&w, "K", 1, "v", 1);
	cr_assert(w.overflow);
	cr_assert_eq(uwsgi_writer_finish(&w), UWSGI_ERROR);
	assert_no_leaks();
}

/* An empty key would make a packet the decoder refuses: the writer refuses it. */
Test(uwsgi_limits, writer_refuses_an_empty_key)
{
	uint8_t buf[64];
	struct uwsgi_writer w;

	memset(buf, 0xa5, sizeof buf);
	uwsgi_writer_init(&w, buf, sizeof buf);
	uwsgi_writer_var(&w, "A", 1, "b", 1);
	uwsgi_writer_var(&w, "", 0, "v", 1);
	expect_refused(&w, buf, 10, sizeof buf, "empty key");
	assert_no_leaks();
}

/* ---- round trips: writer, then decoder ------------------------------------------------- */

Test(uwsgi_roundtrip, var_lists)
{
	static const struct name_value single[] = { VAR("A", "") };
	static const struct name_value empty_values[] = { VAR("QUERY_STRING", ""), VAR("X", ""),
		                                   VAR("CONTENT_LENGTH", "") };
	static const struct name_value binary[] = { VAR("\x00K", "\xff\x00v"),
		                                    VAR("\xff", "\r\n\r\n"),
		                                    VAR("UWSGI_SCRIPT", "app:application") };
	static const struct name_value le[] = { VAR("K", "0123456789012345678901234567890123456789"
	                                          "0123456789012345678901234567890123456789"
	                                          "0123456789012345678901234567890123456789"
	                                          "0123456789012345678901234567890123456789"
	                                          "0123456789012345678901234567890123456789"
	                                          "0123456789012345678901234567890123456789"
	                                          "0123456789012") }; /* datasize 0x0102 */
	struct name_value *many = malloc(300 * sizeof *many);
	char *store = calloc(300, 16), *long_val = malloc(1000);
	struct guard g = guard_new(BIG);

	for (size_t i = 0; i < 300; i++) {
		char *k = store + i * 16;
		snprintf(k, 16, "HTTP_X_%zu", i);
		many[i] = (struct name_value){ k, strlen(k), k + 5, i % 7 };
	}
	memset(long_val, 'x', 1000);
	struct name_value long_one[] = { VAR("HTTP_COOKIE", ""), VAR("PATH_INFO", "/") };
	long_one[0].value = long_val;
	long_one[0].value_len = 1000;

	const struct {
		const struct name_value *vars;
		size_t n;
		const char *what;
	} lists[] = {
		{ NULL, 0, "no vars" },
		{ single, NELEM(single), "one var" },
		{ empty_values, NELEM(empty_values), "empty values" },
		{ binary, NELEM(binary), "binary" },
		{ le, NELEM(le), "datasize 258" },
		{ nginx_get_vars, NELEM(nginx_get_vars), "nginx GET" },
		{ nginx_post_vars, NELEM(nginx_post_vars), "nginx POST" },
		{ many, 300, "300 vars" },
		{ long_one, NELEM(long_one), "a value of 1000 bytes" },
	};

	for (size_t i = 0; i < NELEM(lists); i++) {
		size_t len;
		uint8_t *buf = encode(lists[i].vars, lists[i].n, &len);
		cr_assert(buf[0] == 0 && buf[3] == 0, "%s: modifiers", lists[i].what);
		cr_assert_eq((size_t)(buf[1] | buf[2] << 8), len - UWSGI_HEADER_LEN);
		check_packet(&g, buf, len, len, lists[i].vars, lists[i].n, lists[i].what);

		/* a byte less room: refused, never truncated */
		if (len > UWSGI_HEADER_LEN) {
			struct uwsgi_writer w;
			uint8_t *small = malloc(len - 1);
			uwsgi_writer_init(&w, small, len - 1);
			for (size_t j = 0; j < lists[i].n; j++) {
				const struct name_value *v = &lists[i].vars[j];
				uwsgi_writer_var(&w, v->name, v->name_len, v->value, v->value_len);
			}
			cr_assert(w.overflow, "%s", lists[i].what);
			cr_assert_eq(uwsgi_writer_finish(&w), UWSGI_ERROR, "%s", lists[i].what);
			free(small);
		}
		free(buf);
	}
	{
		size_t len;
		uint8_t *buf = encode(le, 1, &len);
		cr_assert(memcmp(buf, "\x00\x02\x01\x00" "\x01\x00" "K" "\xfd\x00", 9) == 0,
		          "datasize and sizes little-endian");
		free(buf);
	}
	free(long_val);
	free(store);
	free(many);
	guard_free(&g);
	assert_no_leaks();
}

/* Two packets back to back, fed a byte at a time to a reader that keeps what
 * it has not decoded: each comes out exactly at its last byte. */
Test(uwsgi_roundtrip, packets_back_to_back)
{
	struct guard g = guard_new(4096);
	size_t a_len, b_len;
	uint8_t *a = encode(nginx_get_vars, NELEM(nginx_get_vars), &a_len);
	uint8_t *b = encode(NULL, 0, &b_len);
	uint8_t *stream = malloc(a_len + b_len);
	size_t ends[] = { a_len, a_len + b_len }, n = 0, start = 0;

	memcpy(stream, a, a_len);
	memcpy(stream + a_len, b, b_len);
	for (size_t k = 0; k <= a_len + b_len; k++) {
		struct uwsgi_header h;
		const uint8_t *at = guard_place(&g, stream + start, k - start);
		ssize_t rc = uwsgi_packet_decode(at, k - start, &h);
		if (rc == UWSGI_INCOMPLETE)
			continue;
		cr_assert_lt(n, NELEM(ends));
		cr_assert_eq(k, ends[n], "a packet at %zu", k);
		cr_assert_eq((size_t)rc, k - start);
		n++;
		start = k;
	}
	cr_assert_eq(n, 2u);
	free(stream);
	free(b);
	free(a);
	guard_free(&g);
	assert_no_leaks();
}

/* ---- HTTP sent to the uwsgi port ---------------------------------------------------------- */

Test(uwsgi_misc, looks_like_http)
{
	static const char *const requests[] = {
		"GET / HTTP/1.1\r\n",         "POST /x HTTP/1.1\r\n",   "HEAD / HTTP/1.0\r\n",
		"PUT /a HTTP/1.1\r\n",        "DELETE /a HTTP/1.1\r\n", "OPTIONS * HTTP/1.1\r\n",
		"PATCH /a HTTP/1.1\r\n",      "CONNECT a:443 HTTP/1.1\r\n",
		"TRACE / HTTP/1.1\r\n",       "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	};
	static const struct {
		const char *bytes;
		size_t len;
	} not_http[] = {
		{ "", 0 }, { "G", 1 }, { "GET", 3 }, { "OPTIONS", 7 }, { "get / HTTP/1.1", 14 },
		{ "GETX / HTTP/1.1", 15 }, { "GET\t/", 5 }, { " GET /", 6 },
		{ "PROPFIND / HTTP/1.1", 19 }, { "BREW /", 6 }, { "\x16\x03\x01\x02\x00", 5 },
		{ "\x00\x00\x00\x00", 4 }, { "\x00\x47\x45\x54 ", 5 }, { "\x05\x20\x00\x00", 4 },
		{ "\x00\x47\x00\x00" "GET / HTTP/1.1", 18 },
	};
	struct guard g = guard_new(4096);

	for (size_t i = 0; i < NELEM(requests); i++) {
		const char *r = requests[i];
		size_t len = strlen(r), method = strcspn(r, " ");
		struct uwsgi_header h;
		/* the request line, and any prefix holding the method and its space */
		for (size_t k = 0; k <= len; k++) {
			const uint8_t *at = guard_place(&g, r, k);
			cr_assert_eq(http1_looks_like_request(at, k), k > method, "%s, %zu bytes", r, k);
		}
		/* read as a uwsgi header: a modifier1 no one serves, and a datasize the
		 * request will never fill, so the daemon asks before waiting */
		const uint8_t *at = guard_place(&g, r, len);
		cr_assert_eq(uwsgi_packet_decode(at, len, &h), UWSGI_INCOMPLETE, "%s", r);
		cr_assert_eq(h.modifier1, (uint8_t)r[0]);
		cr_assert_eq(h.datasize, (uint16_t)((uint8_t)r[1] | (uint8_t)r[2] << 8));
		cr_assert_gt(h.datasize, 0x4000, "%s", r);
	}
	for (size_t i = 0; i < NELEM(not_http); i++) {
		const uint8_t *at = guard_place(&g, not_http[i].bytes, not_http[i].len);
		cr_expect(!http1_looks_like_request(at, not_http[i].len), "case %zu", i);
	}
	/* real uwsgi packets, and every prefix of them */
	static const struct {
		const char *raw;
		size_t len;
	} packets[] = {
		{ nginx_get, sizeof nginx_get - 1 },
		{ nginx_post, sizeof nginx_post - 1 },
	};
	for (size_t i = 0; i < NELEM(packets); i++)
		for (size_t k = 0; k <= packets[i].len; k++) {
			const uint8_t *at = guard_place(&g, packets[i].raw, k);
			cr_assert(!http1_looks_like_request(at, k), "packet %zu, %zu bytes", i, k);
		}
	guard_free(&g);
	assert_no_leaks();
}
