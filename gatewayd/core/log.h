/* Error log (level, request id, message) and access log (combined + time),
 * as text or as JSON, one object per line (log_set_format()). */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT, LOG_JSON };

/* path "-" or NULL: stderr. Returns 0 or -1 with errno set. */
int log_open_error(const char *path, enum log_level level);
int log_open_access(const char *path); /* NULL: no access log; "-": stderr */
void log_reopen(void);
/* The logs' descriptors (-1 where a log is stderr or none), to hand to a
 * process that cannot open them itself; log_take_fds puts such fds in place
 * of the current ones (-1: keep that one). */
void log_fds(int fds[2]);
void log_take_fds(const int fds[2]);
void log_close(void);
int log_level_parse(const char *name, enum log_level *out);
int log_format_parse(const char *name, enum log_format *out); /* "text", "json" */
void log_set_format(enum log_format format);                  /* both logs */
void log_set_level(enum log_level level);

/* rid: the request id, or NULL for lines that belong to no request. */
void log_msg(enum log_level level, const char *rid, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level level, const char *rid, const char *fmt, va_list ap);
#define log_error(rid, ...) log_msg(LOG_ERROR, rid, __VA_ARGS__)
#define log_warn(rid, ...) log_msg(LOG_WARN, rid, __VA_ARGS__)
#define log_info(rid, ...) log_msg(LOG_INFO, rid, __VA_ARGS__)
#define log_debug(rid, ...) log_msg(LOG_DEBUG, rid, __VA_ARGS__)

/* A line a program wrote (its stderr): who wrote it (a script, a pool's
 * worker), the bytes as they came. A line too long for one record comes in
 * parts: part 1, 2, ... with more set on all but the last; part 0 is a whole
 * line. Text: "who: text", or "who (part N, continued): text"; JSON: the
 * members source, message, and part and continued for a part. */
void log_source(enum log_level level, const char *rid, const char *who, const char *text,
                size_t len, unsigned part, bool more);

/* How much of p[0..n) to quote in a log line: up to its first line end, at
 * most max bytes (buffers hold no NUL terminator). */
size_t log_line_len(const char *p, size_t n, size_t max);

struct access_entry {
	const char *remote_addr;
	const char *request_line; /* as received, may be NULL */
	int status;
	unsigned long long bytes_sent; /* body bytes */
	const char *referer;
	const char *user_agent;
	double seconds;
	const char *rid;
};
void log_access(const struct access_entry *e);

#endif
