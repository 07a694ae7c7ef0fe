/* Integration tests: the real gatewayd binary, started on a free loopback
 * port with a config of the test's own, spoken to over real sockets. */
#ifndef GW_TEST_HARNESS_H
#define GW_TEST_HARNESS_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
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
/* The listening sockets gw_start hands to gatewayd from now on (LISTEN_FDS,
 * as systemd's socket activation does; n 0: none). A test that restarts
 * gatewayd many times on the same addresses keeps them bound in between,
 * so no other test's free port can be one of them. */
void gw_hand_over(const int *fds, int n);
/* SIGTERM, wait up to timeout seconds; returns the wait status (-1 on timeout,
 * after which the daemon is SIGKILLed). Removes nothing: call gw_cleanup. */
int gw_stop(struct gw_proc *g, double timeout);
/* Wait up to timeout seconds for the daemon to exit by itself; its wait
 * status, or -1 (it is left running). */
int gw_wait_exit(struct gw_proc *g, double timeout);
/* gw_stop, and the test fails unless gatewayd exited 0 (under ASan: no leak);
 * before failing, dump_logs() when given, else gw_dump_log(g). Then gw_cleanup. */
void gw_stop_ok(struct gw_proc *g, double timeout, void (*dump_logs)(void));
/* cr_log_warn the end of gatewayd's error log, or of any file, titled. */
void gw_dump_log(const struct gw_proc *g);
/* Remove the temp dir. */
void gw_cleanup(struct gw_proc *g);

const char *gw_binary(void);   /* BUILD/gatewayd/gatewayd, or $GW_BINARY */
const char *gw_srcdir(void);
const char *gw_builddir(void);

/* Run gatewayd with args (NULL-terminated, argv[0] excluded) to completion;
 * returns the exit status and the captured stdout+stderr (malloc'd) in *out. */
int gw_run(char *const args[], char **out);
/* The same, bounded: the output read for up to timeout s, the exit waited 1 s
 * more, then SIGKILL and -2. */
int gw_run_for(char *const args[], double timeout, char **out);
/* A line of the log at path holding a and b (b may be NULL), polled up to
 * timeout s; malloc'd, or NULL. */
char *gw_log_line_with(const char *path, const char *a, const char *b, double timeout);

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
/* For gw_wait_until: does pid hold exactly (gw_fds_are) or at most
 * (gw_fds_at_most) want descriptors? The argument is a struct gw_fd_probe. */
struct gw_fd_probe {
	pid_t pid;
	int want;
};
bool gw_fds_are(void *probe);
bool gw_fds_at_most(void *probe);
/* Children of pid, and zombies among them (from /proc/pid/task/x/children);
 * the privileged spawner is not counted, its children are. */
int gw_count_children(pid_t pid, int *zombies);
/* pid's child that is a privileged spawner (comm gatewayd-spawn), or 0. */
pid_t gw_spawner_of(pid_t pid);
/* A pid the test's teardown must not leave running (a script, a worker, a
 * dispatcher it learned of); gw_kill_remembered SIGKILLs those still alive. */
void gw_remember(pid_t pid);
/* g's directory + rel holding text (@DIR@ replaced), then chowned and chmodded. */
void gw_write_file(struct gw_proc *g, const char *rel, const char *text, mode_t mode, uid_t uid,
                   gid_t gid);
void gw_kill_remembered(void);
/* Is this pid alive (and not a zombie)? */
bool gw_pid_alive(pid_t pid);
/* Whether *(int *)pid is stopped (SIGSTOP taken: state T in /proc), for gw_wait_until. */
bool gw_pid_stopped(void *pid);
/* Poll pred every 20 ms up to timeout seconds. */
bool gw_wait_until(bool (*pred)(void *), void *arg, double timeout);
/* Read a whole file (malloc'd, NUL-terminated) or NULL. */
char *gw_read_file(const char *path);
/* Show the last tail bytes of a file (a log) in the test's output, under title. */
void gw_dump_file(const char *title, const char *path, size_t tail);
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
/* Expect the field prefix of text (gw_field) to be want, or absent when want
 * is NULL; the failure message begins with what, when not NULL. A macro, so
 * that a failure names the caller's line. */
#define gw_expect_field(what, text, prefix, want)                                                \
	do {                                                                                     \
		const char *what_ = (what), *prefix_ = (prefix), *want_ = (want);                \
		char *got_ = gw_field((text), prefix_);                                          \
		if (want_)                                                                       \
			cr_expect(got_ && strcmp(got_, want_) == 0,                              \
			          "%s%s%s: got \"%s\", want \"%s\"", what_ ? what_ : "",          \
			          what_ ? ": " : "", prefix_, got_ ? got_ : "(absent)", want_);    \
		else                                                                             \
			cr_expect(got_ == NULL, "%s%s%s must be absent, got \"%s\"",             \
			          what_ ? what_ : "", what_ ? ": " : "", prefix_, got_);         \
		free(got_);                                                                      \
	} while (0)
/* A table of fields for gw_expect_fields, ended by {NULL}. */
struct gw_field_want {
	const char *prefix;
	const char *want; /* NULL: the field must be absent */
};
void gw_expect_fields(const char *what, const char *text, const struct gw_field_want *fields);
/* The answer of test/fixtures/cgi-bin/hop.sh as it reached the test, head and
 * body: none of the hop-by-hop fields the script printed (RFC 9110 §7.6.1),
 * its end-to-end ones kept. what names the path, for failure messages. */
void gw_expect_hop_by_hop_dropped(const char *head, const char *body, const char *what);
/* For gw_wait_until: is the pid *arg gone? Has it no children? */
bool gw_pid_gone(void *arg);
bool gw_no_children(void *arg);
/* Has pid exactly want children, none a zombie, within timeout seconds?
 * (A worker that just exited is a zombie until gatewayd's loop reaps it.) */
bool gw_wait_children(pid_t pid, int want, double timeout);
/* Is pid gone within timeout seconds? */
bool gw_wait_gone(pid_t pid, double timeout);
/* Poll a pid file (written whole by rename) up to timeout seconds; 0 if none. */
pid_t gw_wait_pidfile(const char *path, double timeout);
/* Every line of a JSON log (path) parsed as one object and appended to all;
 * the test fails at the first line that is not one. */
void gw_json_lines(const char *path, json_t *all);
/* t is a JSON log's time: RFC 3339, UTC, milliseconds (2026-12-04T22:15:47.123Z). */
bool gw_is_log_time(const char *t);
/* The last line of a file that holds needle (malloc'd), or NULL. */
char *gw_last_line_with(const char *path, const char *needle);
/* Fail the test, naming the Debian package, when path is missing. */
void gw_require_file(const char *path, const char *package);
/* In a forked peer (nginx, Apache, ...): its own session, and gone with the test. */
void gw_peer_child_setup(pid_t test);

/* A program a suite runs beside gatewayd: a web server in front of it, fcgiwrap. */
struct gw_peer {
	const char *name;
	pid_t pid;     /* leader of its own process group (setsid) */
	int port;      /* 0 for a unix socket peer */
	char log[400]; /* its error log */
	char out[400]; /* its stdout and stderr */
};
/* Start argv in its own session (process group), stdin from /dev/null, stdout
 * and stderr appended to out, the environment envp only; its pid. */
pid_t gw_peer_spawn(char *const argv[], char *const envp[], const char *out);
/* Wait up to 10 s until p accepts on its port (or on unix_path when not NULL);
 * when it exits or does not, dump_logs() and fail the test. */
void gw_peer_wait_ready(struct gw_peer *p, const char *unix_path, void (*dump_logs)(void));
/* SIGTERM to its process group, SIGKILL after 8 s; reaped, pid 0. */
void gw_peer_stop(struct gw_peer *p);
/* Read the file template, fill its placeholders (gw_substitute's pairs), write out. */
void gw_write_template(const char *template, const char *const *pairs, const char *out);
/* A web server's files in g's directory (<stem>.conf, <stem>-error.log as
 * p->log, <stem>.out as p->out), a free p->port, and its config written from
 * the file template with @DIR@, @PORT@ (its own), @GWPORT@ (gw_port, where
 * gatewayd listens for it), @FIX@ and the pairs more (NULL-terminated, or
 * NULL) filled in. conf gets the config's path. */
void gw_peer_configure(struct gw_peer *p, const struct gw_proc *g, int gw_port, const char *stem,
                       const char *template, const char *const *more, char conf[400]);
/* The live (not retired by a reload) pool of that name in a status document. */
json_t *gw_pool_of(json_t *status, const char *name);
/* An integer member of a status object; the test fails when it is missing. */
long long gw_ival(json_t *obj, const char *key);
/* GET /_gatewayd/status from gatewayd's HTTP port, parsed; the test fails
 * without a 200 and JSON within 5 s. */
json_t *gw_status(int port);
/* An integer member of a live pool in a fresh status document. */
long long gw_pool_stat(int port, const char *pool, const char *key);

/* Every test file ends its tests with this when built with LeakSanitizer:
 * Criterion ignores a test's exit status, so leaks must be checked inside. */
void gw_assert_no_leaks(void);

#endif
