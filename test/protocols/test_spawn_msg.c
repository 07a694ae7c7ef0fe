/* Tests for protocols/spawn_msg.c.
 *
 * The decoder is the privileged spawner's trust boundary, so every input is
 * placed so that it ends right before a PROT_NONE page (a read past it
 * faults), and so is every strict prefix of it: a prefix is incomplete per
 * spawn_msg_frame() (0, or more than the bytes there) and, handed to the
 * decoder anyway, refused.
 *
 * - round trip: each type with every field it allows (strings with newlines
 *   and high bytes, integers at their extremes) encodes, decodes back to the
 *   same values with views into the buffer, and encodes again to the same
 *   bytes;
 * - one message written out byte for byte pins the wire layout;
 * - malformed messages are a table, built field by field, one case per rule
 *   of spawn_msg.h, each refused with its own reason;
 * - the encoder refuses a required string left NULL, output that does not fit
 *   (every cap short of the message, writing nothing past cap), a list over
 *   SPAWN_MSG_MAX_LIST or with a NULL element, an unknown type, and a message
 *   over SPAWN_MSG_MAX; it writes only the fields the type allows, an
 *   optional integer only when present names it.
 *
 * Behaviour pinned down beyond spawn_msg.h's text:
 * - fields may come in any order and a list's elements may be interleaved
 *   with other fields (the encoder writes them in tag order);
 * - an empty string ("" and its NUL) is a string;
 * - on refusal *why is the reason; the struct's contents are unspecified. */
#include "protocols/spawn_msg.h"
#include "test/corpus.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#define H(t) SPAWN_HAS(SPAWN_TAG_##t)
/* Room for the largest message and a little more. */
#define ROOM (SPAWN_MSG_HEAD + SPAWN_MSG_MAX + 64)

/* ---- checks shared by every case ---------------------------------------------- */

/* Every strict prefix of msg[0..len), placed before the guard page: incomplete
 * per the framer, and refused by the decoder. */
static void check_prefixes(struct guard *g, const uint8_t *msg, size_t len, const char *what)
{
	static struct spawn_msg m;
	const char *why;

	for (size_t k = 0; k < len; k++) {
		/* (for a large message: the edges only, the middle is all alike) */
		if (len > 4096 && k > 64 && len - k > 64)
			continue;
		const uint8_t *at = guard_place(g, msg, k);
		long f = spawn_msg_frame(at, k);
		cr_assert(f == 0 || (f > 0 && (size_t)f > k), "%s: %zu of %zu bytes framed as %ld",
		          what, k, len, f);
		cr_assert_eq(f == 0, k < SPAWN_MSG_HEAD, "%s: %zu bytes", what, k);
		cr_assert_eq(spawn_msg_decode(at, k, &m, &why), -1, "%s: %zu of %zu bytes decoded",
		             what, k, len);
		cr_assert_not_null(why);
	}
}

/* Decode msg[0..len) placed before the guard page; returns where it is. */
static const uint8_t *decode_ok(struct guard *g, const uint8_t *msg, size_t len,
                                struct spawn_msg *m, const char *what)
{
	const uint8_t *at = guard_place(g, msg, len);
	const char *why = NULL;

	cr_assert_eq(spawn_msg_frame(at, len), (long)len, "%s: framed", what);
	cr_assert_eq(spawn_msg_decode(at, len, m, &why), 0, "%s: refused: %s", what,
	             why ? why : "");
	return at;
}

/* A decoded string: want's bytes, a view inside buf[0..len). */
static void expect_str(const char *got, const char *want, const uint8_t *buf, size_t len,
                       const char *what, const char *field)
{
	if (!want) {
		cr_assert_null(got, "%s: %s came", what, field);
		return;
	}
	cr_assert_not_null(got, "%s: %s missing", what, field);
	cr_assert_str_eq(got, want, "%s: %s", what, field);
	cr_assert((const uint8_t *)got >= buf && (const uint8_t *)got + strlen(got) < buf + len,
	          "%s: %s not a view into the buffer", what, field);
}

/* Is got (decoded from buf[0..len)) want, for the fields want's type allows? */
static void expect_msg(const struct spawn_msg *got, const struct spawn_msg *want,
                       uint32_t present, const uint8_t *buf, size_t len, const char *what)
{
	cr_assert_eq(got->type, want->type, "%s: type", what);
	cr_assert_eq(got->present, present, "%s: present %#x, want %#x", what, got->present,
	             present);
	expect_str(got->rid, want->rid, buf, len, what, "rid");
	expect_str(got->root, want->root, buf, len, what, "root");
	expect_str(got->script, want->script, buf, len, what, "script");
	expect_str(got->pool, want->pool, buf, len, what, "pool");
	expect_str(got->text, want->text, buf, len, what, "text");
	expect_str(got->cgroup, want->cgroup, buf, len, what, "cgroup");
	expect_str(got->limits, want->limits, buf, len, what, "limits");
	cr_assert_eq(got->nargs, want->nargs, "%s: nargs", what);
	for (size_t i = 0; i < want->nargs; i++)
		expect_str(got->args[i], want->args[i], buf, len, what, "arg");
	cr_assert_eq(got->nenv, want->nenv, "%s: nenv", what);
	for (size_t i = 0; i < want->nenv; i++)
		expect_str(got->env[i], want->env[i], buf, len, what, "env");
	cr_assert_eq(got->fds, want->fds, "%s: fds", what);
	cr_assert_eq(got->slot, want->slot, "%s: slot", what);
	cr_assert_eq(got->pid, want->pid, "%s: pid", what);
	cr_assert_eq(got->signal, want->signal, "%s: signal", what);
	cr_assert_eq(got->status, want->status, "%s: status", what);
	cr_assert_eq(got->check, want->check, "%s: check", what);
	cr_assert_eq(got->uid, want->uid, "%s: uid", what);
	cr_assert_eq(got->gid, want->gid, "%s: gid", what);
	cr_assert_eq(got->inode, want->inode, "%s: inode", what);
	cr_assert_eq(got->cpu_us, want->cpu_us, "%s: cpu_us", what);
	cr_assert_eq(got->maxrss_kb, want->maxrss_kb, "%s: maxrss_kb", what);
}

/* ---- round trip ------------------------------------------------------------------ */

/* Each type with every field it allows. */
static void full_msg(enum spawn_msg_type type, struct spawn_msg *m, uint32_t *present)
{
	memset(m, 0, sizeof *m);
	m->type = type;
	switch (type) {
	case SPAWN_MSG_CGI:
		m->rid = "req-42";
		m->root = "/srv/www/cgi-bin";
		m->script = "/srv/www/cgi-bin/t\xc3\xa9st.cgi";
		m->args[0] = "first";
		m->args[1] = "";
		m->args[2] = "with\nnewline";
		m->nargs = 3;
		m->env[0] = "PATH=/usr/bin:/bin";
		m->env[1] = "QUERY_STRING=a=1&b=\xff";
		m->nenv = 2;
		m->fds = SPAWN_FD_STDIN | SPAWN_FD_STDOUT | SPAWN_FD_STDERR;
		*present = H(RID) | H(ROOT) | H(SCRIPT) | H(ARG) | H(ENV) | H(FDS);
		break;
	case SPAWN_MSG_WORKER:
		m->pool = "php";
		m->slot = 7;
		*present = H(POOL) | H(SLOT);
		break;
	case SPAWN_MSG_SIGNAL:
		m->pid = -12345; /* a process group */
		m->signal = 15;
		*present = H(PID) | H(SIGNAL);
		break;
	case SPAWN_MSG_REOPEN_LOGS:
	case SPAWN_MSG_RELOAD:
		*present = 0;
		break;
	case SPAWN_MSG_REPLY:
		m->fds = 2;
		m->status = INT64_MIN;
		m->check = UINT64_MAX;
		m->text = "script not owned by its user\nsee the error log";
		m->uid = 33;
		m->gid = 0;
		m->inode = 0x0123456789abcdefull;
		m->cgroup = "/gatewayd.slice/cgi-1.scope";
		m->limits = "cpu 10s, as 512M";
		*present = H(FDS) | H(STATUS) | H(CHECK) | H(TEXT) | H(UID) | H(GID) | H(INODE) |
		           H(CGROUP) | H(LIMITS);
		break;
	case SPAWN_MSG_EXIT:
		m->pid = INT64_MAX;
		m->status = 0x0900; /* exited 9 */
		m->cpu_us = 1;
		m->maxrss_kb = UINT64_MAX;
		*present = H(PID) | H(STATUS) | H(CPU_US) | H(MAXRSS_KB);
		break;
	default:
		cr_assert_fail("no such type %d", type);
	}
	m->present = *present;
}

Test(spawn_msg_roundtrip, every_type_with_every_field)
{
	struct guard g = guard_new(8192);
	static struct spawn_msg want, got, again;
	static uint8_t enc[4096], enc2[4096];
	char what[64];

	for (int t = SPAWN_MSG_CGI; t < SPAWN_MSG_NTYPES; t++) {
		uint32_t present;
		full_msg((enum spawn_msg_type)t, &want, &present);
		snprintf(what, sizeof what, "type %d", t);
		long n = spawn_msg_encode(&want, enc, sizeof enc);
		cr_assert_gt(n, 0, "%s: not encoded", what);

		const uint8_t *at = decode_ok(&g, enc, (size_t)n, &got, what);
		expect_msg(&got, &want, present, at, (size_t)n, what);

		/* the decoding encodes to the same bytes */
		cr_assert_eq(spawn_msg_encode(&got, enc2, sizeof enc2), n, "%s: again", what);
		cr_assert(memcmp(enc, enc2, (size_t)n) == 0, "%s: other bytes", what);
		decode_ok(&g, enc2, (size_t)n, &again, what);
		cr_assert_eq(again.present, got.present);

		check_prefixes(&g, enc, (size_t)n, what);
	}
	guard_free(&g);
	assert_no_leaks();
}

/* The wire layout, byte for byte: a SIGNAL with pid 1234 and signal 15. */
Test(spawn_msg_roundtrip, wire_layout)
{
	static const uint8_t wire[] = {
		0x24, 0x00, 0x00, 0x00, /* length: 36 */
		0x03, 0x01, 0x02, 0x00, /* SIGNAL, version 1, 2 fields */
		0x09, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, /* PID, 8 bytes */
		0xd2, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 1234 */
		0x0a, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, /* SIGNAL, 8 bytes */
		0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 15 */
	};
	struct spawn_msg m = { .type = SPAWN_MSG_SIGNAL, .pid = 1234, .signal = 15 };
	uint8_t out[64];
	struct guard g = guard_new(4096);

	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), (long)sizeof wire);
	cr_assert(memcmp(out, wire, sizeof wire) == 0);
	decode_ok(&g, wire, sizeof wire, &m, "wire");
	cr_assert_eq(m.pid, 1234);
	cr_assert_eq(m.signal, 15);
	cr_assert_eq(m.present, H(PID) | H(SIGNAL));
	guard_free(&g);
	assert_no_leaks();
}

/* ---- messages built field by field ---------------------------------------------- */

struct fld {
	unsigned tag;
	const char *bytes;
	size_t len;
	uint8_t reserved[3];
	uint32_t claim; /* the length written, if not 0 (bytes still len) */
};
/* A string and its NUL; an 8-byte integer of 1; any bytes. */
#define S(t, s) { SPAWN_TAG_##t, s, sizeof(s), { 0 }, 0 }
#define I(t) { SPAWN_TAG_##t, "\1\0\0\0\0\0\0\0", 8, { 0 }, 0 }
#define RAW(t, s) { SPAWN_TAG_##t, s, sizeof(s) - 1, { 0 }, 0 }

struct msg_case {
	const char *name;
	unsigned type;
	unsigned version;
	struct fld f[8]; /* up to the first without bytes */
	int count_adj; /* added to the count of fields written */
	const char *tail; /* bytes after the fields */
	size_t tail_len;
	const char *why; /* NULL: it decodes */
};
#define T(t) .type = SPAWN_MSG_##t, .version = SPAWN_MSG_VERSION

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* c's bytes into out; returns their length. */
static size_t build(const struct msg_case *c, uint8_t *out, size_t cap)
{
	size_t len = SPAWN_MSG_HEAD + 4, n = 0;

	for (; n < NELEM(c->f) && c->f[n].bytes; n++) {
		const struct fld *f = &c->f[n];
		cr_assert_leq(len + 8 + f->len, cap);
		out[len] = (uint8_t)f->tag;
		memcpy(out + len + 1, f->reserved, 3);
		put32(out + len + 4, f->claim ? f->claim : (uint32_t)f->len);
		memcpy(out + len + 8, f->bytes, f->len);
		len += 8 + f->len;
	}
	cr_assert_leq(len + c->tail_len, cap);
	if (c->tail_len)
		memcpy(out + len, c->tail, c->tail_len);
	len += c->tail_len;
	put32(out, (uint32_t)(len - SPAWN_MSG_HEAD));
	out[4] = (uint8_t)c->type;
	out[5] = (uint8_t)c->version;
	uint16_t count = (uint16_t)((int)n + c->count_adj);
	out[6] = (uint8_t)count;
	out[7] = (uint8_t)(count >> 8);
	return len;
}

#define CGI_REQUIRED S(ROOT, "/r"), S(SCRIPT, "/r/s"), I(FDS)

/* clang-format off */
static const struct msg_case cases[] = {
	/* decoded */
	{ "cgi, required only", T(CGI), { CGI_REQUIRED } },
	{ "cgi, any order", T(CGI), { I(FDS), S(SCRIPT, "/r/s"), S(ROOT, "/r") } },
	{ "cgi, list interleaved", T(CGI), { S(ARG, "a"), CGI_REQUIRED, S(ARG, "b") } },
	{ "cgi, empty strings", T(CGI), { S(ROOT, ""), S(SCRIPT, ""), I(FDS), S(ARG, "") } },
	{ "reopen, no fields", T(REOPEN_LOGS), { { 0 } } },
	{ "reply, status only", T(REPLY), { I(STATUS) } },
	/* a field running past the end */
	{ "field length past the end", T(CGI), { CGI_REQUIRED, { SPAWN_TAG_RID, "x", 2, { 0 }, 3 } },
	  .why = "field running past the end" },
	{ "field length 2^32 - 1", T(CGI), { CGI_REQUIRED, { SPAWN_TAG_RID, "x", 2, { 0 }, 0xffffffff } },
	  .why = "field running past the end" },
	{ "count over the fields", T(CGI), { CGI_REQUIRED }, .count_adj = 1,
	  .why = "field running past the end" },
	{ "field head cut", T(CGI), { CGI_REQUIRED }, .count_adj = 1, .tail = "\1\0\0\0\0\0\0", .tail_len = 7,
	  .why = "field running past the end" },
	{ "count under the fields", T(CGI), { CGI_REQUIRED, S(RID, "r") }, .count_adj = -1,
	  .why = "bytes after the last field" },
	{ "a byte after the fields", T(RELOAD), { { 0 } }, .tail = "", .tail_len = 1,
	  .why = "bytes after the last field" },
	/* unknown type */
	{ "type 0", .type = 0, .version = 1, { { 0 } }, .why = "unknown type" },
	{ "type 8", .type = SPAWN_MSG_NTYPES, .version = 1, { { 0 } }, .why = "unknown type" },
	{ "type 255", .type = 255, .version = 1, { { 0 } }, .why = "unknown type" },
	/* wrong version */
	{ "version 0", .type = SPAWN_MSG_RELOAD, .version = 0, { { 0 } }, .why = "unknown version" },
	{ "version 2", .type = SPAWN_MSG_CGI, .version = 2, { CGI_REQUIRED }, .why = "unknown version" },
	/* unknown tag */
	{ "tag 0", T(CGI), { CGI_REQUIRED, { 0, "x", 2, { 0 }, 0 } }, .why = "unknown tag" },
	{ "tag 22", T(CGI), { CGI_REQUIRED, { SPAWN_TAG_NTAGS, "x", 2, { 0 }, 0 } }, .why = "unknown tag" },
	{ "tag 255", T(REPLY), { I(STATUS), { 255, "x", 2, { 0 }, 0 } }, .why = "unknown tag" },
	/* tag refused for the type */
	{ "worker with a root", T(WORKER), { S(POOL, "p"), S(ROOT, "/") },
	  .why = "tag not allowed for the type" },
	{ "reload with a rid", T(RELOAD), { S(RID, "r") }, .why = "tag not allowed for the type" },
	{ "exit with fds", T(EXIT), { I(PID), I(STATUS), I(FDS) }, .why = "tag not allowed for the type" },
	{ "signal with an env", T(SIGNAL), { I(PID), I(SIGNAL), S(ENV, "A=1") },
	  .why = "tag not allowed for the type" },
	/* repeated scalar */
	{ "root twice", T(CGI), { CGI_REQUIRED, S(ROOT, "/r") }, .why = "repeated field" },
	{ "fds twice", T(CGI), { CGI_REQUIRED, I(FDS) }, .why = "repeated field" },
	{ "status twice", T(REPLY), { I(STATUS), I(STATUS) }, .why = "repeated field" },
	/* missing required */
	{ "cgi without fds", T(CGI), { S(ROOT, "/r"), S(SCRIPT, "/r/s") }, .why = "required field missing" },
	{ "cgi without script", T(CGI), { S(ROOT, "/r"), I(FDS) }, .why = "required field missing" },
	{ "worker without pool", T(WORKER), { I(SLOT) }, .why = "required field missing" },
	{ "signal without signal", T(SIGNAL), { I(PID) }, .why = "required field missing" },
	{ "reply without status", T(REPLY), { S(TEXT, "t") }, .why = "required field missing" },
	{ "exit without pid", T(EXIT), { I(STATUS) }, .why = "required field missing" },
	/* integer field not 8 bytes */
	{ "fds of 4 bytes", T(CGI), { S(ROOT, "/r"), S(SCRIPT, "/r/s"), RAW(FDS, "\7\0\0\0") },
	  .why = "integer field not 8 bytes" },
	{ "pid of 9 bytes", T(EXIT), { RAW(PID, "\1\0\0\0\0\0\0\0\0"), I(STATUS) },
	  .why = "integer field not 8 bytes" },
	{ "status of 0 bytes", T(REPLY), { RAW(STATUS, "") }, .why = "integer field not 8 bytes" },
	/* string without its NUL, or with one inside */
	{ "root without NUL", T(CGI), { RAW(ROOT, "/r"), S(SCRIPT, "/r/s"), I(FDS) },
	  .why = "string without its NUL" },
	{ "empty field for a string", T(WORKER), { RAW(POOL, "") }, .why = "string without its NUL" },
	{ "arg without NUL", T(CGI), { CGI_REQUIRED, RAW(ARG, "ab") }, .why = "string without its NUL" },
	{ "script with a NUL inside", T(CGI), { S(ROOT, "/r"), S(SCRIPT, "/r/s\0/x"), I(FDS) },
	  .why = "string with a NUL inside" },
	{ "env NUL first", T(CGI), { CGI_REQUIRED, S(ENV, "\0A=1") }, .why = "string with a NUL inside" },
	/* reserved bytes */
	{ "reserved u8 not 0", T(CGI), { CGI_REQUIRED, { SPAWN_TAG_RID, "r", 2, { 1, 0, 0 }, 0 } },
	  .why = "reserved byte not 0" },
	{ "reserved u16 high byte", T(EXIT), { I(PID), { SPAWN_TAG_STATUS, "\0\0\0\0\0\0\0", 8, { 0, 0, 0x80 }, 0 } },
	  .why = "reserved byte not 0" },
};
/* clang-format on */

Test(spawn_msg_decode, table)
{
	struct guard g = guard_new(8192);
	static uint8_t buf[4096];
	static struct spawn_msg m;

	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct msg_case *c = &cases[i];
		size_t len = build(c, buf, sizeof buf);
		const uint8_t *at = guard_place(&g, buf, len);
		const char *why = NULL;

		cr_assert_eq(spawn_msg_frame(at, len), (long)len, "%s: framed", c->name);
		int rc = spawn_msg_decode(at, len, &m, &why);
		if (c->why) {
			cr_assert_eq(rc, -1, "%s: decoded", c->name);
			cr_assert_str_eq(why, c->why, "%s", c->name);
		} else {
			cr_assert_eq(rc, 0, "%s: refused: %s", c->name, why ? why : "");
			cr_assert_eq(m.type, c->type, "%s", c->name);
		}
		check_prefixes(&g, buf, len, c->name);
	}
	guard_free(&g);
	assert_no_leaks();
}

/* What the interleaved list decoded to, in order, as views. */
Test(spawn_msg_decode, list_in_order)
{
	static const struct msg_case c = { "list", T(CGI),
		                           { S(ARG, "a"), S(ENV, "E=1"), CGI_REQUIRED, S(ARG, "b"),
		                             S(ENV, "F=2") } };
	static uint8_t buf[512];
	static struct spawn_msg m;
	struct guard g = guard_new(4096);
	size_t len = build(&c, buf, sizeof buf);
	const uint8_t *at = decode_ok(&g, buf, len, &m, "list");

	cr_assert_eq(m.nargs, 2);
	cr_assert_str_eq(m.args[0], "a");
	cr_assert_str_eq(m.args[1], "b");
	cr_assert_eq(m.nenv, 2);
	cr_assert_str_eq(m.env[0], "E=1");
	cr_assert_str_eq(m.env[1], "F=2");
	cr_assert_eq((const uint8_t *)m.args[0], at + 8 + 8);
	cr_assert_eq(m.present, H(ARG) | H(ENV) | H(ROOT) | H(SCRIPT) | H(FDS));
	cr_assert_eq(m.fds, 1);
	guard_free(&g);
	assert_no_leaks();
}

/* The length prefix: over SPAWN_MSG_MAX is refused by the framer and the
 * decoder alike; a len that is not the frame's is refused. */
Test(spawn_msg_decode, length_prefix)
{
	static const uint8_t over[] = { 0x01, 0x00, 0x10, 0x00, 0x05, 0x01, 0x00, 0x00 };
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0x05, 0x01, 0x00, 0x00 };
	static const uint8_t reload[] = { 0x04, 0x00, 0x00, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00 };
	static const uint8_t short_body[] = { 0x03, 0x00, 0x00, 0x00, 0x05, 0x01, 0x00 };
	static struct spawn_msg m;
	const char *why;
	struct guard g = guard_new(4096);
	const uint8_t *at;

	for (size_t k = SPAWN_MSG_HEAD; k <= sizeof over; k++) {
		at = guard_place(&g, over, k);
		cr_assert_eq(spawn_msg_frame(at, k), -1);
		cr_assert_eq(spawn_msg_decode(at, k, &m, &why), -1);
		cr_assert_str_eq(why, "length over SPAWN_MSG_MAX");
		at = guard_place(&g, huge, k);
		cr_assert_eq(spawn_msg_frame(at, k), -1);
		cr_assert_eq(spawn_msg_decode(at, k, &m, &why), -1);
	}
	/* the largest announced length is framed */
	at = guard_place(&g, "\x00\x00\x10\x00", 4);
	cr_assert_eq(spawn_msg_frame(at, 4), SPAWN_MSG_HEAD + (long)SPAWN_MSG_MAX);

	/* a RELOAD with a byte more than the frame: refused, the frame alone decodes */
	at = guard_place(&g, reload, sizeof reload);
	cr_assert_eq(spawn_msg_frame(at, sizeof reload), 8);
	cr_assert_eq(spawn_msg_decode(at, sizeof reload, &m, &why), -1);
	cr_assert_str_eq(why, "length prefix not the message's length");
	at = guard_place(&g, reload, 8);
	cr_assert_eq(spawn_msg_decode(at, 8, &m, &why), 0);
	cr_assert_eq(m.type, SPAWN_MSG_RELOAD);

	/* a body shorter than type, version and count */
	at = guard_place(&g, short_body, sizeof short_body);
	cr_assert_eq(spawn_msg_frame(at, sizeof short_body), (long)sizeof short_body);
	cr_assert_eq(spawn_msg_decode(at, sizeof short_body, &m, &why), -1);
	cr_assert_str_eq(why, "message shorter than its head");
	guard_free(&g);
	assert_no_leaks();
}

/* Build a CGI with nargs arguments "a" (and nenv "E=" entries) on the wire. */
static size_t cgi_with_lists(uint8_t *buf, size_t cap, size_t nargs, size_t nenv)
{
	static const struct msg_case head = { "lists", T(CGI), { CGI_REQUIRED } };
	size_t len = build(&head, buf, cap);

	for (size_t i = 0; i < nargs + nenv; i++) {
		bool arg = i < nargs;
		cr_assert_leq(len + 12, cap);
		memcpy(buf + len, arg ? "\x04\0\0\0\x02\0\0\0a\0" : "\x05\0\0\0\x03\0\0\0E=\0",
		       arg ? 10 : 11);
		len += arg ? 10 : 11;
	}
	put32(buf, (uint32_t)(len - SPAWN_MSG_HEAD));
	size_t count = 3 + nargs + nenv;
	buf[6] = (uint8_t)count;
	buf[7] = (uint8_t)(count >> 8);
	return len;
}

Test(spawn_msg_decode, list_limit)
{
	static uint8_t buf[64 * 1024];
	static struct spawn_msg m;
	const char *why;
	struct guard g = guard_new(sizeof buf);

	/* SPAWN_MSG_MAX_LIST of each: decoded */
	size_t len = cgi_with_lists(buf, sizeof buf, SPAWN_MSG_MAX_LIST, SPAWN_MSG_MAX_LIST);
	decode_ok(&g, buf, len, &m, "at the limit");
	cr_assert_eq(m.nargs, SPAWN_MSG_MAX_LIST);
	cr_assert_eq(m.nenv, SPAWN_MSG_MAX_LIST);
	cr_assert_str_eq(m.args[SPAWN_MSG_MAX_LIST - 1], "a");
	cr_assert_str_eq(m.env[SPAWN_MSG_MAX_LIST - 1], "E=");

	/* one more of either: refused */
	size_t over[2][2] = { { SPAWN_MSG_MAX_LIST + 1, 0 }, { 0, SPAWN_MSG_MAX_LIST + 1 } };
	for (size_t i = 0; i < 2; i++) {
		len = cgi_with_lists(buf, sizeof buf, over[i][0], over[i][1]);
		const uint8_t *at = guard_place(&g, buf, len);
		cr_assert_eq(spawn_msg_frame(at, len), (long)len);
		cr_assert_eq(spawn_msg_decode(at, len, &m, &why), -1);
		cr_assert_str_eq(why, "list over SPAWN_MSG_MAX_LIST elements");
		check_prefixes(&g, buf, len, "over the limit");
	}
	guard_free(&g);
	assert_no_leaks();
}

/* ---- the encoder's refusals --------------------------------------------------------- */

Test(spawn_msg_encode, required_string_null)
{
	static struct spawn_msg m;
	uint32_t present;
	uint8_t out[4096];

	full_msg(SPAWN_MSG_CGI, &m, &present);
	m.root = NULL;
	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);
	full_msg(SPAWN_MSG_CGI, &m, &present);
	m.script = NULL;
	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);
	full_msg(SPAWN_MSG_WORKER, &m, &present);
	m.pool = NULL;
	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);
	/* an optional one NULL is simply left out */
	full_msg(SPAWN_MSG_CGI, &m, &present);
	m.rid = NULL;
	cr_assert_gt(spawn_msg_encode(&m, out, sizeof out), 0);
	assert_no_leaks();
}

/* Every cap short of the message is refused, and nothing is written past cap
 * (the output ends at the guard page). */
Test(spawn_msg_encode, output_that_does_not_fit)
{
	static struct spawn_msg m;
	uint32_t present;
	uint8_t full[4096];
	struct guard g = guard_new(8192);

	for (int t = SPAWN_MSG_CGI; t < SPAWN_MSG_NTYPES; t++) {
		full_msg((enum spawn_msg_type)t, &m, &present);
		long n = spawn_msg_encode(&m, full, sizeof full);
		cr_assert_gt(n, 0);
		for (size_t cap = 0; cap < (size_t)n; cap++)
			cr_assert_eq(spawn_msg_encode(&m, g.end - cap, cap), -1, "type %d, cap %zu",
			             t, cap);
		cr_assert_eq(spawn_msg_encode(&m, g.end - n, (size_t)n), n);
		cr_assert(memcmp(g.end - n, full, (size_t)n) == 0);
	}
	guard_free(&g);
	assert_no_leaks();
}

Test(spawn_msg_encode, lists)
{
	static struct spawn_msg m;
	static uint8_t out[64 * 1024];
	uint32_t present;

	full_msg(SPAWN_MSG_CGI, &m, &present);
	for (size_t i = 0; i < SPAWN_MSG_MAX_LIST; i++)
		m.args[i] = "x";
	m.nargs = SPAWN_MSG_MAX_LIST;
	cr_assert_gt(spawn_msg_encode(&m, out, sizeof out), 0);
	m.nargs = SPAWN_MSG_MAX_LIST + 1;
	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);
	m.nargs = 3;
	m.args[1] = NULL;
	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);
	full_msg(SPAWN_MSG_CGI, &m, &present);
	m.nenv = SPAWN_MSG_MAX_LIST + 1;
	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);
	assert_no_leaks();
}

Test(spawn_msg_encode, unknown_type)
{
	struct spawn_msg m = { .type = 0 };
	uint8_t out[64];

	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);
	m.type = SPAWN_MSG_NTYPES;
	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);
	m.type = (enum spawn_msg_type)-1;
	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);
	assert_no_leaks();
}

/* A string over SPAWN_MSG_MAX, or strings that add up to more, are refused
 * whatever the room; the largest message that fits decodes. */
Test(spawn_msg_encode, over_the_maximum)
{
	static struct spawn_msg m;
	static uint8_t out[ROOM];
	static char big[SPAWN_MSG_MAX + 2];
	struct guard g = guard_new(ROOM);

	memset(big, 'x', sizeof big - 1);
	m.type = SPAWN_MSG_WORKER;
	m.pool = big; /* SPAWN_MSG_MAX + 1 bytes */
	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);

	/* exactly SPAWN_MSG_MAX after the prefix: the body's head, a field's, the NUL */
	size_t fit = SPAWN_MSG_MAX - 4 - 8 - 1;
	big[fit] = '\0';
	long n = spawn_msg_encode(&m, out, sizeof out);
	cr_assert_eq(n, SPAWN_MSG_HEAD + (long)SPAWN_MSG_MAX);
	decode_ok(&g, out, (size_t)n, &m, "largest");
	cr_assert_eq(strlen(m.pool), fit);
	check_prefixes(&g, out, (size_t)n, "largest");

	/* a byte more: refused */
	m.pool = big;
	big[fit] = 'x';
	big[fit + 1] = '\0';
	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);

	/* two fields that fit alone but not together */
	memset(&m, 0, sizeof m);
	big[SPAWN_MSG_MAX / 2] = '\0';
	m.type = SPAWN_MSG_CGI;
	m.root = big;
	m.script = big;
	cr_assert_eq(spawn_msg_encode(&m, out, sizeof out), -1);
	guard_free(&g);
	assert_no_leaks();
}

/* Fields the type refuses are not written; an optional integer only when
 * present names it, a required one always. */
Test(spawn_msg_encode, writes_what_the_type_allows)
{
	static struct spawn_msg m, got;
	uint8_t out[4096];
	struct guard g = guard_new(8192);

	m.type = SPAWN_MSG_WORKER;
	m.pool = "p";
	m.root = "/not/for/a/worker";
	m.pid = 5;
	m.slot = 3; /* present does not name it */
	m.present = H(PID);
	long n = spawn_msg_encode(&m, out, sizeof out);
	cr_assert_gt(n, 0);
	decode_ok(&g, out, (size_t)n, &got, "worker");
	cr_assert_eq(got.present, H(POOL));
	cr_assert_null(got.root);
	cr_assert_eq(got.pid, 0);
	cr_assert_eq(got.slot, 0);

	memset(&m, 0, sizeof m);
	m.type = SPAWN_MSG_EXIT; /* pid and status required, present empty */
	m.pid = 9;
	n = spawn_msg_encode(&m, out, sizeof out);
	decode_ok(&g, out, (size_t)n, &got, "exit");
	cr_assert_eq(got.present, H(PID) | H(STATUS));
	cr_assert_eq(got.pid, 9);
	cr_assert_eq(got.status, 0);
	guard_free(&g);
	assert_no_leaks();
}
