/* The spawner's message codec. Pure: no I/O, no allocation, no mutable global
 * state. See spawn_msg.h for the contracts.
 *
 * The decoder is the privileged spawner's trust boundary: every length is
 * checked against what is left before it is used, and a message is refused
 * rather than repaired. */
#include "protocols/spawn_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define BODY_HEAD 4 /* type, version, field count */
#define FIELD_HEAD 8 /* tag, 3 reserved bytes, length */
#define INT_LEN 8

#define HAS(t) SPAWN_HAS(SPAWN_TAG_##t)

/* Which tags each type allows and which of them it requires (the table in
 * spawn_msg.h, column by column). */
struct rule {
	uint32_t allowed;
	uint32_t required;
};

/* clang-format off */
static const struct rule rules[SPAWN_MSG_NTYPES] = {
	[SPAWN_MSG_CGI] = { HAS(RID) | HAS(ROOT) | HAS(SCRIPT) | HAS(ARG) | HAS(ENV) | HAS(FDS) |
	                    HAS(ROUTE),
	                    HAS(ROOT) | HAS(SCRIPT) | HAS(FDS) },
	[SPAWN_MSG_WORKER] = { HAS(POOL) | HAS(SLOT), HAS(POOL) },
	[SPAWN_MSG_SIGNAL] = { HAS(PID) | HAS(SIGNAL), HAS(PID) | HAS(SIGNAL) },
	[SPAWN_MSG_REOPEN_LOGS] = { 0, 0 },
	[SPAWN_MSG_RELOAD] = { 0, 0 },
	[SPAWN_MSG_REPLY] = { HAS(FDS) | HAS(STATUS) | HAS(CHECK) | HAS(TEXT) | HAS(UID) |
	                      HAS(GID) | HAS(INODE) | HAS(CGROUP) | HAS(LIMITS), HAS(STATUS) },
	[SPAWN_MSG_EXIT] = { HAS(PID) | HAS(STATUS) | HAS(CPU_US) | HAS(MAXRSS_KB),
	                     HAS(PID) | HAS(STATUS) },
};
/* clang-format on */

/* What a tag carries and where it lives in struct spawn_msg (for a list: the
 * array; its count is at count). */
enum kind { KIND_STR = 1, KIND_LIST, KIND_INT };
struct field {
	enum kind kind;
	size_t off;
	size_t count;
};

/* clang-format off */
#define STR(f) { KIND_STR, offsetof(struct spawn_msg, f), 0 }
#define LIST(f, n) { KIND_LIST, offsetof(struct spawn_msg, f), offsetof(struct spawn_msg, n) }
#define INT(f) { KIND_INT, offsetof(struct spawn_msg, f), 0 }

static const struct field fields[SPAWN_TAG_NTAGS] = {
	[SPAWN_TAG_RID] = STR(rid), [SPAWN_TAG_ROOT] = STR(root),
	[SPAWN_TAG_SCRIPT] = STR(script), [SPAWN_TAG_ARG] = LIST(args, nargs),
	[SPAWN_TAG_ENV] = LIST(env, nenv), [SPAWN_TAG_FDS] = INT(fds),
	[SPAWN_TAG_POOL] = STR(pool), [SPAWN_TAG_SLOT] = INT(slot),
	[SPAWN_TAG_PID] = INT(pid), [SPAWN_TAG_SIGNAL] = INT(signal),
	[SPAWN_TAG_STATUS] = INT(status), [SPAWN_TAG_CHECK] = INT(check),
	[SPAWN_TAG_TEXT] = STR(text), [SPAWN_TAG_UID] = INT(uid),
	[SPAWN_TAG_GID] = INT(gid), [SPAWN_TAG_INODE] = INT(inode),
	[SPAWN_TAG_CGROUP] = STR(cgroup), [SPAWN_TAG_LIMITS] = STR(limits),
	[SPAWN_TAG_CPU_US] = INT(cpu_us), [SPAWN_TAG_MAXRSS_KB] = INT(maxrss_kb),
	[SPAWN_TAG_ROUTE] = INT(route),
};
/* clang-format on */

/* A member of m by its offset. The int64_t members (pid, signal, status) are
 * reached as uint64_t: a type and its unsigned counterpart may alias, and the
 * wire holds the two's complement bits either way. */
static void *slot(struct spawn_msg *m, size_t off)
{
	return (char *)m + off;
}

static const void *cslot(const struct spawn_msg *m, size_t off)
{
	return (const char *)m + off;
}

static bool type_known(unsigned type)
{
	return type >= SPAWN_MSG_CGI && type < SPAWN_MSG_NTYPES;
}

static bool tag_known(unsigned tag)
{
	return tag >= SPAWN_TAG_RID && tag < SPAWN_TAG_NTAGS;
}

static uint16_t get16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64le(const uint8_t *p)
{
	return (uint64_t)get32le(p) | (uint64_t)get32le(p + 4) << 32;
}

static void put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32le(uint8_t *p, uint32_t v)
{
	put16le(p, (uint16_t)v);
	put16le(p + 2, (uint16_t)(v >> 16));
}

static void put64le(uint8_t *p, uint64_t v)
{
	put32le(p, (uint32_t)v);
	put32le(p + 4, (uint32_t)(v >> 32));
}

/* ---- decoding ---------------------------------------------------------------- */

long spawn_msg_frame(const uint8_t *buf, size_t len)
{
	if (len < SPAWN_MSG_HEAD)
		return 0;
	uint32_t n = get32le(buf);
	if (n > SPAWN_MSG_MAX)
		return -1;
	return SPAWN_MSG_HEAD + (long)n;
}

static int refuse(const char **why, const char *reason)
{
	*why = reason;
	return -1;
}

/* A string field: its bytes, a final NUL and no other. */
static const char *check_string(const uint8_t *p, size_t n, const char **why)
{
	if (n == 0 || p[n - 1] != '\0') {
		*why = "string without its NUL";
		return NULL;
	}
	if (memchr(p, '\0', n - 1)) {
		*why = "string with a NUL inside";
		return NULL;
	}
	return (const char *)p;
}

/* One field, p[0..n) its bytes (inside the message, checked by the caller). */
static int take_field(struct spawn_msg *m, unsigned tag, const uint8_t *p, size_t n,
                      const char **why)
{
	if (!tag_known(tag))
		return refuse(why, "unknown tag");
	if (!(rules[m->type].allowed & SPAWN_HAS(tag)))
		return refuse(why, "tag not allowed for the type");
	const struct field *f = &fields[tag];
	if (f->kind != KIND_LIST && (m->present & SPAWN_HAS(tag)))
		return refuse(why, "repeated field");

	if (f->kind == KIND_INT) {
		if (n != INT_LEN)
			return refuse(why, "integer field not 8 bytes");
		*(uint64_t *)slot(m, f->off) = get64le(p);
	} else {
		const char *s = check_string(p, n, why);
		if (!s)
			return -1;
		if (f->kind == KIND_STR) {
			*(const char **)slot(m, f->off) = s;
		} else {
			size_t *count = slot(m, f->count);
			if (*count >= SPAWN_MSG_MAX_LIST)
				return refuse(why, "list over SPAWN_MSG_MAX_LIST elements");
			((const char **)slot(m, f->off))[(*count)++] = s;
		}
	}
	m->present |= SPAWN_HAS(tag);
	return 0;
}

/*   0       4      5         6             8
 * +--------+------+---------+-------------+--------------------------+
 * | length | type | version | field count | fields ...               |
 * +--------+------+---------+-------------+--------------------------+
 * a field:
 * +-----+----------+----------+--------+-------------+
 * | tag | reserved | reserved | length | bytes ...   |
 * | u8  | u8 (0)   | u16 (0)  | u32    |             |
 * +-----+----------+----------+--------+-------------+ */
int spawn_msg_decode(const uint8_t *buf, size_t len, struct spawn_msg *m, const char **why)
{
	memset(m, 0, sizeof *m);
	*why = NULL;

	long span = spawn_msg_frame(buf, len);
	if (span < 0)
		return refuse(why, "length over SPAWN_MSG_MAX");
	if (span == 0 || (size_t)span != len)
		return refuse(why, "length prefix not the message's length");
	if (len < SPAWN_MSG_HEAD + BODY_HEAD)
		return refuse(why, "message shorter than its head");
	if (!type_known(buf[4]))
		return refuse(why, "unknown type");
	if (buf[5] != SPAWN_MSG_VERSION)
		return refuse(why, "unknown version");
	m->type = (enum spawn_msg_type)buf[4];

	size_t nfields = get16le(buf + 6), pos = SPAWN_MSG_HEAD + BODY_HEAD;
	for (size_t i = 0; i < nfields; i++) {
		if (len - pos < FIELD_HEAD)
			return refuse(why, "field running past the end");
		const uint8_t *h = buf + pos;
		if (h[1] || h[2] || h[3])
			return refuse(why, "reserved byte not 0");
		size_t n = get32le(h + 4);
		pos += FIELD_HEAD;
		if (n > len - pos)
			return refuse(why, "field running past the end");
		if (take_field(m, h[0], buf + pos, n, why) < 0)
			return -1;
		pos += n;
	}
	/* nothing may hide after the fields the count names */
	if (pos != len)
		return refuse(why, "bytes after the last field");
	if (rules[m->type].required & ~m->present)
		return refuse(why, "required field missing");
	return 0;
}

/* ---- encoding ---------------------------------------------------------------- */

/* Appends into out[0..cap); ok turns false for good once something does not
 * fit there or in SPAWN_MSG_MAX, and nothing more is written. */
struct writer {
	uint8_t *out;
	size_t cap;
	size_t len;
	unsigned nfields;
	bool ok;
};

/* Room for a field of n bytes, its head included; n < SPAWN_MSG_MAX. */
static uint8_t *put_field(struct writer *w, unsigned tag, size_t n)
{
	size_t need = FIELD_HEAD + n;
	if (!w->ok || need > w->cap - w->len || need > SPAWN_MSG_MAX - (w->len - SPAWN_MSG_HEAD)) {
		w->ok = false;
		return NULL;
	}
	uint8_t *p = w->out + w->len;
	p[0] = (uint8_t)tag;
	p[1] = p[2] = p[3] = 0;
	put32le(p + 4, (uint32_t)n);
	w->len += need;
	w->nfields++;
	return p + FIELD_HEAD;
}

static void put_str(struct writer *w, unsigned tag, const char *s)
{
	/* bounded: a string this long can never fit, whatever the cap */
	size_t n = strnlen(s, SPAWN_MSG_MAX);
	if (n >= SPAWN_MSG_MAX) {
		w->ok = false;
		return;
	}
	uint8_t *p = put_field(w, tag, n + 1);
	if (p)
		memcpy(p, s, n + 1);
}

static void put_int(struct writer *w, unsigned tag, uint64_t v)
{
	uint8_t *p = put_field(w, tag, INT_LEN);
	if (p)
		put64le(p, v);
}

/* The field(s) of one tag the type allows, as spawn_msg.h says which. */
static void put_tag(struct writer *w, const struct spawn_msg *m, unsigned tag, bool required)
{
	const struct field *f = &fields[tag];

	switch (f->kind) {
	case KIND_STR: {
		const char *s = *(const char *const *)cslot(m, f->off);
		if (s)
			put_str(w, tag, s);
		else if (required)
			w->ok = false;
		break;
	}
	case KIND_LIST: {
		size_t n = *(const size_t *)cslot(m, f->count);
		const char *const *v = cslot(m, f->off);
		if (n > SPAWN_MSG_MAX_LIST)
			w->ok = false;
		for (size_t i = 0; i < n && w->ok; i++) {
			if (v[i])
				put_str(w, tag, v[i]);
			else
				w->ok = false;
		}
		break;
	}
	case KIND_INT:
		if (required || (m->present & SPAWN_HAS(tag)))
			put_int(w, tag, *(const uint64_t *)cslot(m, f->off));
		break;
	}
}

long spawn_msg_encode(const struct spawn_msg *m, uint8_t *out, size_t cap)
{
	struct writer w = { out, cap, SPAWN_MSG_HEAD + BODY_HEAD, 0, true };

	if (!type_known(m->type) || cap < w.len)
		return -1;
	const struct rule *r = &rules[m->type];
	for (unsigned tag = SPAWN_TAG_RID; tag < SPAWN_TAG_NTAGS && w.ok; tag++)
		if (r->allowed & SPAWN_HAS(tag))
			put_tag(&w, m, tag, (r->required & SPAWN_HAS(tag)) != 0);
	if (!w.ok)
		return -1;

	/* at most 2 * SPAWN_MSG_MAX_LIST + a tag each: the count fits its u16 */
	put32le(out, (uint32_t)(w.len - SPAWN_MSG_HEAD));
	out[4] = (uint8_t)m->type;
	out[5] = SPAWN_MSG_VERSION;
	put16le(out + 6, (uint16_t)w.nfields);
	return (long)w.len;
}
