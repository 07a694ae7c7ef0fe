/* The world gatewayd/'s unit tests run in: a fresh temporary directory with
 * real files in it, a config read by the real config_load(), and the daemon's
 * process-wide state (gw: the default libev loop and that config) set up as
 * main() sets it. Criterion runs each test in its own process, so each test
 * starts from a clean gw. */
#ifndef GW_TEST_GATEWAYD_FIXTURE_H
#define GW_TEST_GATEWAYD_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "gatewayd/core/config.h"
#include "gatewayd/request/request.h"

/* .init and .fini of every suite here: the directory (the error log goes to
 * dir/error.log at debug level); then gw and the directory gone, and a leak
 * check that crashes the test's teardown when LeakSanitizer finds one (which
 * fails the run). The integration harness's helpers (gw_substitute,
 * gw_read_file...) are linked in too. */
void fx_setup(void);
void fx_teardown(void);

const char *fx_dir(void);
/* dir/rel, in one of a few rotating static buffers. */
const char *fx_path(const char *rel);
void fx_mkdir(const char *rel);
/* Write content to dir/rel with mode (0755 for a script). */
void fx_write(const char *rel, const char *content, mode_t mode);
/* Make a tree under dir from a NULL-terminated list: "a/" a directory,
 * anything else a small shell script (0755). Parents first. */
void fx_tree(const char *const *paths);

/* Write json to dir/gw.json and config_load() it: NULL with err filled when it
 * is refused. Relative roots are relative to dir. */
struct config *fx_config_load(const char *json, char *err, size_t errlen);
/* gw as main() sets it: that config (the test fails when it is refused) and
 * the default loop. */
void fx_server(const char *json);
/* Does the error log so far hold needle? */
bool fx_error_log_has(const char *needle);

/* A front end that keeps what a handler sends: the head as "Name: value\n"
 * lines, the body, raw (NPH) bytes and stderr lines, each as one string. */
struct recording {
	int heads;          /* send_head calls */
	int status;
	char reason[64];
	long long content_length;
	char *fields;       /* "Name: value\n" per field */
	size_t fields_len;
	char *body;
	size_t body_len;
	char *raw;
	size_t raw_len;
	char *err;          /* stderr lines as send_stderr got them */
	size_t err_len;
	int ends;           /* send_end calls */
	bool complete;      /* the last send_end's */
	FILE *fields_f, *body_f, *raw_f, *err_f;
};
extern const struct front_ops fx_recording_front;
/* A request from request_new() whose front end is a fresh recording. */
struct request *fx_request(struct recording *rec);
/* Bring rec's strings up to date (they are memstreams). */
void fx_recording_sync(struct recording *rec);
/* Free r and what rec holds. */
void fx_request_free(struct request *r, struct recording *rec);

#endif
