/* Integration tests: the real gatewayd binary, started on a free loopback
 * port with a config of the test's own, spoken to over real sockets. */
#ifndef GW_TEST_HARNESS_H
#define GW_TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct gw_proc {
	pid_t pid;
	int port;
	char dir[256];       /* a fresh temporary directory for this daemon */
	char config[320];    /* dir/gatewayd.json */
	char error_log[320]; /* dir/error.log */
	char access_log[320];
};

/* Placeholders replaced in config text: @PORT@ (a free port), @DIR@ (the temp
 * dir), @SRC@ (the source tree), @FIX@ (SRC/test/fixtures), @BUILD@ (the build
 * tree). The error log goes to @DIR@/error.log and the access log to
 * @DIR@/access.log unless the config says otherwise ("log" key). */
void gw_write_config(struct gw_proc *g, const char *json);
/* Write the config, start gatewayd -c on it and wait until the port accepts.
 * Aborts the test if it does not come up within 5 s. */
void gw_start(struct gw_proc *g, const char *json);
/* SIGTERM, wait up to timeout seconds; returns the wait status (-1 on timeout,
 * after which the daemon is SIGKILLed). Removes nothing: call gw_cleanup. */
int gw_stop(struct gw_proc *g, double timeout);
/* Remove the temp dir. */
void gw_cleanup(struct gw_proc *g);

const char *gw_binary(void);   /* BUILD/gatewayd/gatewayd, or $GW_BINARY */
const char *gw_srcdir(void);
const char *gw_builddir(void);

/* Run gatewayd with args (NULL-terminated, argv[0] excluded) to completion;
 * returns the exit status and the captured stdout+stderr (malloc'd) in *out. */
int gw_run(char *const args[], char **out);

int gw_connect(int port);
/* Send all of buf. */
void gw_send_all(int fd, const void *buf, size_t len);
/* Read until the peer closes or timeout seconds pass; malloc'd, NUL-terminated. */
char *gw_read_all(int fd, double timeout, size_t *len);
/* Does the peer close fd (or reset it) within timeout seconds? What it
 * sends meanwhile is read and dropped. */
bool gw_closed_within(int fd, double timeout);
/* Connect, send raw, read until close (or timeout); returns the bytes. */
char *gw_exchange(int port, const char *raw, size_t rawlen, double timeout, size_t *len);

struct gw_response {
	int status;
	char *head;       /* status line + header fields, NUL-terminated (malloc'd) */
	char *body;       /* de-chunked when chunked (malloc'd, NUL-terminated) */
	size_t body_len;
	bool chunked;
	bool closed;      /* the server closed the connection after it */
};
/* Read one response from fd (Content-Length, chunked, or to close; none for
 * HEAD when head_request). Returns 0, or -1 on a timeout or malformed answer. */
int gw_read_response(int fd, bool head_request, double timeout, struct gw_response *resp);
/* One request on a new connection ("Connection: close" is NOT added). */
int gw_request(int port, const char *raw, struct gw_response *resp);
/* Value of a header in resp->head (case-insensitive), malloc'd, or NULL. */
char *gw_header(const struct gw_response *resp, const char *name);
void gw_response_free(struct gw_response *resp);

/* Open descriptors of pid (from /proc/pid/fd). */
int gw_count_fds(pid_t pid);
/* Children of pid: all, and zombies among them (from /proc/pid/task/x/children). */
int gw_count_children(pid_t pid, int *zombies);
/* Is this pid alive (and not a zombie)? */
bool gw_pid_alive(pid_t pid);
/* Poll pred every 20 ms up to timeout seconds. */
bool gw_wait_until(bool (*pred)(void *), void *arg, double timeout);
/* Read a whole file (malloc'd, NUL-terminated) or NULL. */
char *gw_read_file(const char *path);
/* Does the error log contain needle (polled up to timeout seconds)? */
bool gw_log_contains(const char *path, const char *needle, double timeout);

double gw_now(void);           /* CLOCK_MONOTONIC seconds */
void gw_sleep(double seconds);
int gw_free_port(void);         /* a free loopback port (for a peer: the harness picks @PORT@) */
const char *gw_fixtures(void);  /* SRC/test/fixtures */
/* Replace every @NAME@ of pairs (name, value, ..., NULL) in text; malloc'd. */
char *gw_substitute(const char *text, const char *const *pairs);
/* The rest of the line that starts with prefix in text (malloc'd) or NULL. */
char *gw_field(const char *text, const char *prefix);
/* The answer of test/fixtures/cgi-bin/hop.sh as it reached the test, head and
 * body: none of the hop-by-hop fields the script printed (RFC 9110 §7.6.1),
 * its end-to-end ones kept. what names the path, for failure messages. */
void gw_expect_hop_by_hop_dropped(const char *head, const char *body, const char *what);
/* For gw_wait_until: is the pid *arg gone? */
bool gw_pid_gone(void *arg);
/* Fail the test, naming the Debian package, when path is missing. */
void gw_require_file(const char *path, const char *package);
/* In a forked peer (nginx, Apache, ...): its own session, and gone with the test. */
void gw_peer_child_setup(pid_t test);
/* The live (not retired by a reload) pool of that name in a status document. */
json_t *gw_pool_of(json_t *status, const char *name);
/* An integer member of a status object; the test fails when it is missing. */
long long gw_ival(json_t *obj, const char *key);

/* Every test file ends its tests with this when built with LeakSanitizer:
 * Criterion ignores a test's exit status, so leaks must be checked inside. */
void gw_assert_no_leaks(void);

#endif
