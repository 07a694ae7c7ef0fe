/* The spawner's messages: what an unprivileged dispatcher may ask the
 * privileged spawner (start a CGI script or a pool worker, signal a child it
 * started, reopen the logs, reload the config), the spawner's reply, and the
 * exit report it sends when a child is gone.
 *
 * A pure codec: no I/O, no allocation. Descriptors travel beside a message
 * (SCM_RIGHTS); the message only says which of them are present.
 *
 * Wire format, all integers little-endian:
 *   u32 length (of everything after these 4 bytes), u8 type, u8 version (1),
 *   u16 field count, then fields: u8 tag, u8 reserved (0), u16 reserved (0),
 *   u32 length, bytes. An integer field is 8 bytes. A string field holds its
 *   bytes and a final NUL, and no other NUL. A string-list field repeats its
 *   tag once per element, in order.
 * The decoder refuses: a length over SPAWN_MSG_MAX, a field running past the
 * end, an unknown type or tag, a tag not allowed for the type, a repeated
 * scalar tag, a missing required field, an integer field not 8 bytes long, a
 * string without its NUL or with one inside, more than SPAWN_MSG_MAX_LIST
 * elements in a list, a reserved byte not 0, a version other than 1, bytes
 * after the last field the count names. */
#ifndef GW_PROTOCOLS_SPAWN_MSG_H
#define GW_PROTOCOLS_SPAWN_MSG_H

#include <stddef.h>
#include <stdint.h>

#define SPAWN_MSG_VERSION 1
#define SPAWN_MSG_MAX (1u << 20) /* bytes after the length prefix */
#define SPAWN_MSG_MAX_LIST 1024 /* elements of argv or envp */
#define SPAWN_MSG_HEAD 4 /* the length prefix */

enum spawn_msg_type {
	SPAWN_MSG_CGI = 1, /* run a script; fds: stdin (if SPAWN_FD_STDIN), stdout, stderr */
	SPAWN_MSG_WORKER, /* start a pool's worker; fds: its listening socket, its stderr */
	SPAWN_MSG_SIGNAL, /* signal a child this spawner started (its whole tree) */
	SPAWN_MSG_REOPEN_LOGS, /* reply carries the error log's fd, then the access log's */
	SPAWN_MSG_RELOAD, /* read the config file again */
	SPAWN_MSG_REPLY, /* the answer to each request above, in order */
	SPAWN_MSG_EXIT, /* a child is gone (sent unasked, on the events channel) */
	SPAWN_MSG_NTYPES
};

/* Which of a CGI request's three descriptors came with it (in this order). */
#define SPAWN_FD_STDIN 1u
#define SPAWN_FD_STDOUT 2u
#define SPAWN_FD_STDERR 4u

/* Field tags. Per type: R required, O optional, - refused.
 *                       CGI WORKER SIGNAL REOPEN RELOAD REPLY EXIT */
enum spawn_msg_tag {
	SPAWN_TAG_RID = 1, /*  O    -      -      -      -     -     -  request id, for logs */
	SPAWN_TAG_ROOT, /*     R    -      -      -      -     -     -  the route's cgi.root */
	SPAWN_TAG_SCRIPT, /*   R    -      -      -      -     -     -  absolute path of the script */
	SPAWN_TAG_ARG, /*      O    -      -      -      -     -     -  list: argv[1..] */
	SPAWN_TAG_ENV, /*      O    -      -      -      -     -     -  list: NAME=value */
	SPAWN_TAG_FDS, /*      R    -      -      -      -     O     -  SPAWN_FD_* bits; REPLY: fd count */
	SPAWN_TAG_POOL, /*     -    R      -      -      -     -     -  the pool's name */
	SPAWN_TAG_SLOT, /*     -    O      -      -      -     -     -  the worker's slot, for logs */
	SPAWN_TAG_PID, /*      -    -      R      -      -     -     R  */
	SPAWN_TAG_SIGNAL, /*   -    -      R      -      -     -     -  */
	SPAWN_TAG_STATUS, /*   -    -      -      -      -     R     R  REPLY: pid, or -errno;
	                                                  EXIT: the wait status */
	SPAWN_TAG_CHECK, /*    -    -      -      -      -     O     -  which check refused (nonzero) */
	SPAWN_TAG_TEXT, /*     -    -      -      -      -     O     -  why, in words */
	SPAWN_TAG_UID, /*      -    -      -      -      -     O     -  what the child runs as */
	SPAWN_TAG_GID, /*      -    -      -      -      -     O     -  */
	SPAWN_TAG_INODE, /*    -    -      -      -      -     O     -  the file executed */
	SPAWN_TAG_CGROUP, /*   -    -      -      -      -     O     -  the child's cgroup, if any */
	SPAWN_TAG_LIMITS, /*   -    -      -      -      -     O     -  the limits applied, in words */
	SPAWN_TAG_CPU_US, /*   -    -      -      -      -     -     O  user+system CPU of the tree */
	SPAWN_TAG_MAXRSS_KB, /* -   -      -      -      -     -     O  */
	SPAWN_TAG_ROUTE, /*    O    -      -      -      -     -     -  the route's index, beside
	                                                  its root: routes may share one */
	SPAWN_TAG_NTAGS
};

/* A decoded message. Strings and list elements point into the decoded buffer
 * (the decoder checked their NULs); absent fields are NULL, 0 and n... = 0.
 * present has bit (1 << tag) set for each field that came. */
struct spawn_msg {
	enum spawn_msg_type type;
	uint32_t present;
	const char *rid;
	const char *root;
	const char *script;
	const char *pool;
	const char *text;
	const char *cgroup;
	const char *limits;
	const char *args[SPAWN_MSG_MAX_LIST];
	size_t nargs;
	const char *env[SPAWN_MSG_MAX_LIST];
	size_t nenv;
	uint64_t fds;
	uint64_t slot;
	int64_t pid;
	int64_t signal;
	int64_t status;
	uint64_t check;
	uint64_t uid;
	uint64_t gid;
	uint64_t inode;
	uint64_t cpu_us;
	uint64_t maxrss_kb;
	uint64_t route;
};

/* The length of the message starting at buf once its 4-byte prefix is in:
 * 0 if fewer than SPAWN_MSG_HEAD bytes are there, -1 if the prefix announces
 * more than SPAWN_MSG_MAX, else SPAWN_MSG_HEAD + the announced length. */
long spawn_msg_frame(const uint8_t *buf, size_t len);

/* Decode one whole message (len as spawn_msg_frame returned it; any other len
 * is refused). Nothing in buf is changed, but the struct points into it: buf
 * must outlive m. 0, or -1 with a reason (a static string) in *why. */
int spawn_msg_decode(const uint8_t *buf, size_t len, struct spawn_msg *m, const char **why);

/* Encode m: of the fields its type allows, each string that is not NULL, the
 * nargs/nenv list elements, and each integer the type requires or m->present
 * names. Returns the bytes written (prefix included), or -1 if they do not
 * fit in cap or m breaks a rule the decoder checks (a required string NULL,
 * a string with a newline is fine, one longer than SPAWN_MSG_MAX is not). */
long spawn_msg_encode(const struct spawn_msg *m, uint8_t *out, size_t cap);

/* The bit for tag in struct spawn_msg.present. */
#define SPAWN_HAS(tag) (1u << (tag))

#endif
