#include "gatewayd/core/log.h"

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

void log_vmsg(enum log_level level, const char *rid, const char *fmt, va_list ap)
{
	if (level > max_level)
		return;
	int saved = errno;
	char line[8192];
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
