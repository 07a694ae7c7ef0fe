/* libFuzzer target: the spawner's message codec, whose decoder is the
 * privileged spawner's trust boundary. The input is framed as the spawner
 * frames its channel, and decoded both as the framed message and as a whole.
 * Properties checked beyond "no crash":
 * - the framer answers 0 below 4 bytes, else -1 or 4 + the prefix, never over
 *   4 + SPAWN_MSG_MAX; the decoder refuses a len other than the frame's, and
 *   gives a reason whenever it refuses;
 * - a decoded message has its strings inside the buffer, NUL-terminated
 *   there, at most SPAWN_MSG_MAX_LIST elements a list, and present naming
 *   exactly the fields that are set;
 * - re-encoded, it takes exactly the bytes it came in (a byte less room is
 *   refused), decodes again to the same message, and that encodes to the
 *   same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/spawn_msg.h"
#include "test/fuzz/fuzz.h"

/* Large (two lists of SPAWN_MSG_MAX_LIST pointers): not on the stack. */
static struct spawn_msg first, second;

/* s is a string inside buf[0..len), its NUL too. */
static void check_view(const char *s, const uint8_t *buf, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	CHECK(p >= buf && p < buf + len);
	CHECK(memchr(p, '\0', (size_t)(buf + len - p)) != NULL);
}

static void check_str(const char *s, unsigned tag, const struct spawn_msg *m,
                      const uint8_t *buf, size_t len)
{
	CHECK(!s == !(m->present & SPAWN_HAS(tag)));
	if (s)
		check_view(s, buf, len);
}

static void check_list(const char *const *v, size_t n, unsigned tag, const struct spawn_msg *m,
                       const uint8_t *buf, size_t len)
{
	CHECK(n <= SPAWN_MSG_MAX_LIST);
	CHECK(!n == !(m->present & SPAWN_HAS(tag)));
	for (size_t i = 0; i < n; i++)
		check_view(v[i], buf, len);
}

static void check_views(const struct spawn_msg *m, const uint8_t *buf, size_t len)
{
	CHECK(m->type >= SPAWN_MSG_CGI && m->type < SPAWN_MSG_NTYPES);
	CHECK(!(m->present & ~(SPAWN_HAS(SPAWN_TAG_NTAGS) - 1)) && !(m->present & 1));
	check_str(m->rid, SPAWN_TAG_RID, m, buf, len);
	check_str(m->root, SPAWN_TAG_ROOT, m, buf, len);
	check_str(m->script, SPAWN_TAG_SCRIPT, m, buf, len);
	check_str(m->pool, SPAWN_TAG_POOL, m, buf, len);
	check_str(m->text, SPAWN_TAG_TEXT, m, buf, len);
	check_str(m->cgroup, SPAWN_TAG_CGROUP, m, buf, len);
	check_str(m->limits, SPAWN_TAG_LIMITS, m, buf, len);
	check_list(m->args, m->nargs, SPAWN_TAG_ARG, m, buf, len);
	check_list(m->env, m->nenv, SPAWN_TAG_ENV, m, buf, len);
}

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int list_eq(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

static int msg_eq(const struct spawn_msg *a, const struct spawn_msg *b)
{
	return a->type == b->type && a->present == b->present && str_eq(a->rid, b->rid) &&
	       str_eq(a->root, b->root) && str_eq(a->script, b->script) &&
	       str_eq(a->pool, b->pool) && str_eq(a->text, b->text) &&
	       str_eq(a->cgroup, b->cgroup) && str_eq(a->limits, b->limits) &&
	       list_eq(a->args, a->nargs, b->args, b->nargs) &&
	       list_eq(a->env, a->nenv, b->env, b->nenv) && a->fds == b->fds &&
	       a->slot == b->slot && a->pid == b->pid && a->signal == b->signal &&
	       a->status == b->status && a->check == b->check && a->uid == b->uid &&
	       a->gid == b->gid && a->inode == b->inode && a->cpu_us == b->cpu_us &&
	       a->maxrss_kb == b->maxrss_kb;
}

/* buf[0..len) decoded into first: re-encode, decode, compare. */
static void check_roundtrip(const uint8_t *buf, size_t len)
{
	uint8_t *enc = malloc(len), *enc2 = malloc(len);
	const char *why;

	check_views(&first, buf, len);
	CHECK(spawn_msg_encode(&first, enc, len - 1) == -1);
	CHECK(spawn_msg_encode(&first, enc, len) == (long)len);
	CHECK(spawn_msg_frame(enc, len) == (long)len);
	CHECK(spawn_msg_decode(enc, len, &second, &why) == 0);
	check_views(&second, enc, len);
	CHECK(msg_eq(&first, &second));
	CHECK(spawn_msg_encode(&second, enc2, len) == (long)len);
	CHECK(memcmp(enc, enc2, len) == 0);
	free(enc2);
	free(enc);
}

/* Decode buf[0..len) (a copy of exactly len bytes, for ASan). */
static void check_decode(const uint8_t *data, size_t len, long frame)
{
	uint8_t *buf = fuzz_input(data, len);
	const char *why = NULL;
	int rc = spawn_msg_decode(buf, len, &first, &why);

	CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		CHECK(why == NULL && frame == (long)len);
		check_roundtrip(buf, len);
	} else {
		CHECK(why != NULL);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long frame = spawn_msg_frame(data, size);

	if (size < SPAWN_MSG_HEAD)
		CHECK(frame == 0);
	else
		CHECK(frame == -1 ||
		      (frame >= SPAWN_MSG_HEAD && frame <= SPAWN_MSG_HEAD + (long)SPAWN_MSG_MAX));

	/* the framed message, as the spawner would take it off its channel */
	if (frame > 0 && (size_t)frame <= size)
		check_decode(data, (size_t)frame, frame);
	/* the input whole: a len other than the frame's is refused */
	if (frame <= 0 || (size_t)frame != size)
		check_decode(data, size, frame);
	return 0;
}
