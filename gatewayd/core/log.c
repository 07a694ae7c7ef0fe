#include "gatewayd/core/log.h"

#include "protocols/json_escape.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int error_fd = 2;
static int access_fd = -1;
static enum log_level max_level = LOG_INFO;
static enum log_format format = LOG_TEXT;
static char error_path[4096];
static char access_path[4096];

static const char *level_names[] = { "error", "warn", "info", "debug" };

int log_level_parse(const char *name, enum log_level *out)
{
	for (int i = 0; i <= LOG_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_format_parse(const char *name, enum log_format *out)
{
	if (strcmp(name, "text") == 0)
		*out = LOG_TEXT;
	else if (strcmp(name, "json") == 0)
		*out = LOG_JSON;
	else
		return -1;
	return 0;
}

void log_set_format(enum log_format f)
{
	format = f;
}

void log_set_level(enum log_level level)
{
	max_level = level;
}

static int open_log(const char *path)
{
	if (!path || strcmp(path, "-") == 0)
		return 2;
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static void replace_fd(int *slot, int fd)
{
	if (*slot > 2)
		close(*slot);
	*slot = fd;
}

int log_open_error(const char *path, enum log_level level)
{
	int fd = open_log(path);
	if (fd < 0)
		return -1;
	replace_fd(&error_fd, fd);
	snprintf(error_path, sizeof error_path, "%s", path ? path : "-");
	max_level = level;
	return 0;
}

int log_open_access(const char *path)
{
	int fd = path ? open_log(path) : -1;
	if (path && fd < 0)
		return -1;
	replace_fd(&access_fd, fd);
	snprintf(access_path, sizeof access_path, "%s", path ? path : "");
	return 0;
}

/* SIGUSR1 after logrotate moved the files. */
void log_reopen(void)
{
	int fd = open_log(error_path[0] ? error_path : "-");
	if (fd >= 0)
		replace_fd(&error_fd, fd);
	if (access_path[0]) {
		fd = open_log(access_path);
		if (fd >= 0)
			replace_fd(&access_fd, fd);
	}
}

void log_fds(int fds[2])
{
	fds[0] = error_fd > 2 ? error_fd : -1;
	fds[1] = access_fd > 2 ? access_fd : -1;
}

void log_take_fds(const int fds[2])
{
	if (fds[0] >= 0)
		replace_fd(&error_fd, fds[0]);
	if (fds[1] >= 0)
		replace_fd(&access_fd, fds[1]);
}

void log_close(void)
{
	replace_fd(&error_fd, 2);
	replace_fd(&access_fd, -1);
}

static size_t format_now(char *out, size_t cap)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(out + n, cap - n, ".%03dZ", (int)(tv.tv_usec / 1000));
	return n;
}

/* One write() per line, so lines from several processes never interleave. */
static void write_line(int fd, char *line, size_t len, size_t cap)
{
	if (len >= cap - 1)
		len = cap - 2;
	line[len++] = '\n';
	ssize_t w;
	do
		w = write(fd, line, len);
	while (w < 0 && errno == EINTR);
}

/* ---- JSON lines ---------------------------------------------------------- */

/* One JSON object being written into a line buffer. JSON_TAIL bytes stay free
 * for the closing members and brace, so that the line always parses: a string
 * that does not fit is cut at a whole escape and the object says "cut". */
#define JSON_LINE_MAX (64 * 1024)
#define JSON_TAIL 64

struct jline {
	char *p;
	size_t n;
	bool cut;
};

static size_t j_room(const struct jline *j)
{
	return JSON_LINE_MAX - JSON_TAIL - j->n;
}

static void j_raw(struct jline *j, const char *s, size_t len)
{
	memcpy(j->p + j->n, s, len);
	j->n += len;
}

/* ,"key": (the first member opens the object instead), if the key and need
 * bytes of value fit; if not, the member is left out and the line says cut. */
static bool j_key(struct jline *j, const char *key, size_t need)
{
	size_t klen = strlen(key);
	if (klen + 4 + need > j_room(j)) {
		j->cut = true;
		return false;
	}
	j_raw(j, j->n ? ",\"" : "{\"", 2);
	j_raw(j, key, klen);
	j_raw(j, "\":", 2);
	return true;
}

static void j_str(struct jline *j, const char *key, const char *s, size_t len)
{
	if (!j_key(j, key, 4))
		return;
	if (!s) {
		j_raw(j, "null", 4);
		return;
	}
	j_raw(j, "\"", 1);
	size_t used;
	j->n += json_escape(j->p + j->n, j_room(j) - 1, s, len, &used);
	if (used < len)
		j->cut = true;
	j_raw(j, "\"", 1);
}

static void j_bool(struct jline *j, const char *key, bool v)
{
	if (j_key(j, key, 5))
		j_raw(j, v ? "true" : "false", v ? 4 : 5);
}

static void j_cstr(struct jline *j, const char *key, const char *s)
{
	j_str(j, key, s, s ? strlen(s) : 0);
}

static void j_num(struct jline *j, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void j_num(struct jline *j, const char *key, const char *fmt, ...)
{
	char num[64];
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(num, sizeof num, fmt, ap);
	va_end(ap);
	if (m <= 0 || (size_t)m >= sizeof num)
		snprintf(num, sizeof num, "null"), m = 4;
	if (j_key(j, key, (size_t)m))
		j_raw(j, num, (size_t)m);
}

/* The tail always fits: the "cut" flag and the brace. */
static void j_end(struct jline *j, int fd)
{
	if (j->cut) {
		static const char cut[] = ",\"cut\":true";
		j_raw(j, cut, sizeof cut - 1);
	}
	j->p[j->n++] = '}';
	j->p[j->n++] = '\n';
	ssize_t w;
	do
		w = write(fd, j->p, j->n);
	while (w < 0 && errno == EINTR);
}

static char jbuf[JSON_LINE_MAX];

/* The members every error log line starts with. */
static struct jline j_error_start(enum log_level level, const char *rid)
{
	struct jline j = { .p = jbuf };
	char when[64];
	size_t wn = format_now(when, sizeof when);
	j_str(&j, "time", when, wn);
	j_cstr(&j, "level", level_names[level]);
	if (rid)
		j_cstr(&j, "request_id", rid);
	return j;
}

/* ---- the error log --------------------------------------------------------- */

void log_vmsg(enum log_level level, const char *rid, const char *fmt, va_list ap)
{
	if (level > max_level)
		return;
	int saved = errno;
	char line[8192];
	if (format == LOG_JSON) {
		int m = vsnprintf(line, sizeof line, fmt, ap);
		size_t len = m < 0 ? 0 : (size_t)m < sizeof line ? (size_t)m : sizeof line - 1;
		struct jline j = j_error_start(level, rid);
		j_str(&j, "message", line, len);
		if (m < 0 || (size_t)m >= sizeof line)
			j.cut = true;
		j_end(&j, error_fd);
		errno = saved;
		return;
	}
	size_t n = format_now(line, sizeof line);
	n += (size_t)snprintf(line + n, sizeof line - n, " [%s] %s%s: ", level_names[level],
	                      rid ? "req=" : "", rid ? rid : "gatewayd");
	if (n < sizeof line) {
		int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
		n = m < 0 ? n : n + (size_t)m;
	}
	write_line(error_fd, line, n, sizeof line);
	errno = saved;
}

void log_msg(enum log_level level, const char *rid, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, rid, fmt, ap);
	va_end(ap);
}

void log_source(enum log_level level, const char *rid, const char *who, const char *text,
                size_t len, unsigned part, bool more)
{
	if (level > max_level)
		return;
	if (format == LOG_TEXT) {
		if (part)
			log_msg(level, rid, "%s (part %u%s): %.*s", who, part,
			        more ? ", continued" : "", (int)len, text);
		else
			log_msg(level, rid, "%s: %.*s", who, (int)len, text);
		return;
	}
	int saved = errno;
	struct jline j = j_error_start(level, rid);
	if (part) {
		j_num(&j, "part", "%u", part);
		j_bool(&j, "continued", more);
	}
	j_cstr(&j, "source", who);
	j_str(&j, "message", text, len);
	j_end(&j, error_fd);
	errno = saved;
}

size_t log_line_len(const char *p, size_t n, size_t max)
{
	size_t i = 0;
	while (i < n && i < max && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
}

/* Quote a value for the access log: '"' and '\' and control bytes escaped. */
static size_t quote(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	if (!s)
		s = "-";
	for (; *s && n + 5 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			n += (size_t)snprintf(out + n, cap - n, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
		else
			out[n++] = (char)c;
	}
	out[n] = '\0';
	return n;
}

void log_access(const struct access_entry *e)
{
	if (access_fd < 0)
		return;
	if (format == LOG_JSON) {
		char when[64];
		size_t wn = format_now(when, sizeof when);
		struct jline j = { .p = jbuf };
		j_str(&j, "time", when, wn);
		j_cstr(&j, "remote_addr", e->remote_addr);
		j_cstr(&j, "request", e->request_line);
		j_num(&j, "status", "%d", e->status);
		j_num(&j, "bytes_sent", "%llu", e->bytes_sent);
		j_cstr(&j, "referer", e->referer);
		j_cstr(&j, "user_agent", e->user_agent);
		j_num(&j, "duration", "%.6f", e->seconds);
		j_cstr(&j, "request_id", e->rid);
		j_end(&j, access_fd);
		return;
	}
	char reqline[2048], ref[1024], ua[1024], when[64], line[8192];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm);
	quote(reqline, sizeof reqline, e->request_line);
	quote(ref, sizeof ref, e->referer);
	quote(ua, sizeof ua, e->user_agent);
	int n = snprintf(line, sizeof line, "%s - - [%s] \"%s\" %d %llu \"%s\" \"%s\" %.6f %s",
	                 e->remote_addr ? e->remote_addr : "-", when, reqline, e->status,
	                 e->bytes_sent, ref, ua, e->seconds, e->rid ? e->rid : "-");
	if (n > 0)
		write_line(access_fd, line, (size_t)n, sizeof line);
}
