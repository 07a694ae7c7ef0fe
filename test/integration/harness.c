#include "test/integration/harness.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double gw_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *gw_srcdir(void)
{
	const char *s = getenv("GW_SRCDIR");
	return s ? s : ".";
}

const char *gw_builddir(void)
{
	const char *s = getenv("GW_BUILDDIR");
	return s ? s : ".";
}

const char *gw_binary(void)
{
	static char path[4096];
	const char *other = getenv("GW_BINARY"); /* a test build of it (test_oom) */
	if (other)
		return other;
	snprintf(path, sizeof path, "%s/gatewayd/gatewayd", gw_builddir());
	return path;
}

int gw_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	cr_assert(fd >= 0);
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

char *gw_substitute(const char *text, const char *const *pairs)
{
	size_t cap = strlen(text) * 2 + 4096, n = 0;
	char *out = malloc(cap);
	cr_assert_not_null(out);
	for (const char *p = text; *p;) {
		const char *const *kv = pairs;
		for (; *kv; kv += 2)
			if (strncmp(p, kv[0], strlen(kv[0])) == 0)
				break;
		const char *piece = *kv ? kv[1] : p;
		size_t plen = *kv ? strlen(kv[1]) : 1;
		if (n + plen + 1 > cap) {
			cap = (n + plen + 1) * 2;
			out = realloc(out, cap);
			cr_assert_not_null(out);
		}
		memcpy(out + n, piece, plen);
		n += plen;
		p += *kv ? strlen(kv[0]) : 1;
	}
	out[n] = '\0';
	return out;
}

void gw_write_config(struct gw_proc *g, const char *json)
{
	if (!g->dir[0]) {
		snprintf(g->dir, sizeof g->dir, "/tmp/gwtest.XXXXXX");
		cr_assert_not_null(mkdtemp(g->dir));
		g->port = gw_free_port();
	}
	snprintf(g->config, sizeof g->config, "%s/gatewayd.json", g->dir);
	snprintf(g->error_log, sizeof g->error_log, "%s/error.log", g->dir);
	snprintf(g->access_log, sizeof g->access_log, "%s/access.log", g->dir);
	char port[16];
	snprintf(port, sizeof port, "%d", g->port);
	const char *pairs[] = {"@PORT@", port, "@DIR@", g->dir, "@SRC@", gw_srcdir(),
	                       "@FIX@", gw_fixtures(), "@BUILD@", gw_builddir(), NULL};
	char *text = gw_substitute(json, pairs);
	if (geteuid() == 0 && !strstr(text, "\"user\"")) {
		/* Started as root, gatewayd wants to be told whom to run as. The
		 * suites about what it serves run as root knowingly, as the demo
		 * does; the security suite names real users. */
		char *brace = strchr(text, '{');
		cr_assert_not_null(brace);
		char *with = NULL;
		cr_assert(asprintf(&with, "%.*s{\"user\": \"root\",%s", (int)(brace - text), text,
		                   brace + 1) > 0);
		free(text);
		text = with;
	}
	if (!strstr(text, "\"log\"")) {
		/* Add a log section pointing into the temp dir. */
		char *brace = strchr(text, '{');
		cr_assert_not_null(brace);
		char *with = NULL;
		cr_assert(asprintf(&with, "%.*s{\"log\": {\"error\": \"%s\", \"access\": \"%s\", "
		                   "\"level\": \"debug\"},%s",
		                   (int)(brace - text), text, g->error_log, g->access_log,
		                   brace + 1) > 0);
		free(text);
		text = with;
	}
	FILE *f = fopen(g->config, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	free(text);
}

static const int *handed;
static int nhanded;

void gw_hand_over(const int *fds, int n)
{
	handed = fds;
	nhanded = n;
}

void gw_start(struct gw_proc *g, const char *json)
{
	gw_write_config(g, json);
	pid_t test = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		/* A test killed (Criterion's timeout) takes its gatewayd with it, and
		 * a killed master takes everything it started. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != test)
			_exit(1);
		int fd = open(g->error_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* Sockets handed over as a service manager would (LISTEN_FDS); they
		 * are moved out of the way first, then to 3, 4, ... */
		int moved[8];
		for (int i = 0; i < nhanded && i < 8; i++)
			moved[i] = fcntl(handed[i], F_DUPFD, 100);
		for (int i = 0; i < nhanded && i < 8; i++)
			dup2(moved[i], 3 + i);
		if (nhanded > 0) {
			char num[32];
			snprintf(num, sizeof num, "%d", nhanded);
			setenv("LISTEN_FDS", num, 1);
			snprintf(num, sizeof num, "%d", (int)getpid());
			setenv("LISTEN_PID", num, 1);
		}
		execl(gw_binary(), "gatewayd", "-c", g->config, (char *)NULL);
		_exit(127);
	}
	g->pid = pid;
	double until = gw_now() + 5;
	while (gw_now() < until) {
		int fd = gw_connect(g->port);
		if (fd >= 0) {
			close(fd);
			return;
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			char *log = gw_read_file(g->error_log);
			cr_assert_fail("gatewayd exited at start: %s", log ? log : "(no log)");
		}
		usleep(10000);
	}
	cr_assert_fail("gatewayd did not listen on port %d within 5 s", g->port);
}

/* Reap pid if it exits within timeout seconds: true, and its wait status. */
static bool reaped_within(pid_t pid, double timeout, int *st)
{
	double until = gw_now() + timeout;
	while (gw_now() < until) {
		if (waitpid(pid, st, WNOHANG) == pid)
			return true;
		usleep(10000);
	}
	return false;
}

int gw_wait_exit(struct gw_proc *g, double timeout)
{
	int st;
	if (!reaped_within(g->pid, timeout, &st))
		return -1;
	g->pid = 0;
	return st;
}

int gw_stop(struct gw_proc *g, double timeout)
{
	int st;
	if (g->pid <= 0)
		return -1;
	kill(g->pid, SIGTERM);
	if ((st = gw_wait_exit(g, timeout)) != -1)
		return st;
	kill(g->pid, SIGKILL);
	waitpid(g->pid, &st, 0);
	g->pid = 0;
	return -1;
}

void gw_stop_ok(struct gw_proc *g, double timeout, void (*dump_logs)(void))
{
	int st = gw_stop(g, timeout);
	bool ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (!ok && dump_logs)
		dump_logs();
	else if (!ok)
		gw_dump_log(g);
	cr_assert(ok, "gatewayd did not exit 0 (wait status %d%s)", st,
	          st == -1 ? ": timed out" : "");
	gw_cleanup(g);
}

/* Its errors from the whole log (a debug log's tail often misses the one that
 * matters), then the tail. */
void gw_dump_log(const struct gw_proc *g)
{
	char *text = gw_read_file(g->error_log);
	int shown = 0;
	for (char *line = text, *end; line && *line && shown < 20; line = end ? end + 1 : NULL) {
		end = strchr(line, '\n');
		int len = end ? (int)(end - line) : (int)strlen(line);
		if (memmem(line, (size_t)len, "[error]", 7) && ++shown)
			cr_log_info("error line of gatewayd: %.*s", len, line);
	}
	free(text);
	gw_dump_file("error log of gatewayd", g->error_log, 6000);
}

void gw_cleanup(struct gw_proc *g)
{
	if (g->pid > 0)
		gw_stop(g, 5);
	if (g->dir[0] && strncmp(g->dir, "/tmp/gwtest.", 12) == 0) {
		char cmd[400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", g->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", g->dir);
	}
	g->dir[0] = '\0';
}

int gw_run(char *const args[], char **out)
{
	return gw_run_for(args, 10, out);
}

int gw_run_for(char *const args[], double timeout, char **out)
{
	int p[2];
	cr_assert(pipe(p) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		char *argv[32];
		int n = 0;
		argv[n++] = (char *)"gatewayd";
		for (int i = 0; args[i] && n < 31; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execv(gw_binary(), argv);
		_exit(127);
	}
	close(p[1]);
	size_t len;
	*out = gw_read_all(p[0], timeout, &len);
	close(p[0]);
	/* A daemon that wrongly starts must not hang the test. */
	int st;
	double until = gw_now() + 1;
	while (waitpid(pid, &st, WNOHANG) != pid) {
		if (gw_now() > until) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -2;
		}
		usleep(10000);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *gw_log_line_with(const char *path, const char *a, const char *b, double timeout)
{
	double until = gw_now() + timeout;
	do {
		char *text = gw_read_file(path);
		for (char *line = text, *next; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			if (strstr(line, a) && (!b || strstr(line, b))) {
				char *found = strdup(line);
				free(text);
				return found;
			}
			if (!next)
				break;
		}
		free(text);
		usleep(20000);
	} while (gw_now() < until);
	return NULL;
}

int gw_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void gw_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* Read into *buf (growing) until close or the deadline; returns false on timeout. */
static bool read_more(int fd, char **buf, size_t *len, size_t *cap, double deadline)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	double left = deadline - gw_now();
	if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
		return false;
	if (*cap - *len < 65537) {
		*cap = (*cap + 65537) * 2;
		*buf = realloc(*buf, *cap);
		cr_assert_not_null(*buf);
	}
	ssize_t n = read(fd, *buf + *len, *cap - *len - 1);
	if (n <= 0)
		return false;
	*len += (size_t)n;
	(*buf)[*len] = '\0';
	return true;
}

char *gw_read_all(int fd, double timeout, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	cr_assert_not_null(buf);
	buf[0] = '\0';
	double deadline = gw_now() + timeout;
	while (read_more(fd, &buf, &n, &cap, deadline))
		;
	*len = n;
	return buf;
}

bool gw_closed_within(int fd, double timeout)
{
	double deadline = gw_now() + timeout;
	char buf[4096];
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		double left = deadline - gw_now();
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			return false;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
}

char *gw_exchange(int port, const char *raw, size_t rawlen, double timeout, size_t *len)
{
	int fd = gw_connect(port);
	cr_assert(fd >= 0, "connect to %d", port);
	gw_send_all(fd, raw, rawlen);
	char *out = gw_read_all(fd, timeout, len);
	close(fd);
	return out;
}

/* A per-fd read buffer, so several responses can be read from one connection. */
static struct {
	int fd;
	char *data;
	size_t len;
	size_t cap;
} pending;

static bool fill(int fd, size_t want, double deadline, bool *closed)
{
	if (pending.fd != fd) {
		free(pending.data);
		pending.data = NULL;
		pending.len = pending.cap = 0;
		pending.fd = fd;
	}
	while (pending.len < want) {
		if (!read_more(fd, &pending.data, &pending.len, &pending.cap, deadline)) {
			*closed = true;
			return false;
		}
	}
	return true;
}

static void take(size_t n)
{
	memmove(pending.data, pending.data + n, pending.len - n);
	pending.len -= n;
	pending.data[pending.len] = '\0';
}

int gw_read_response(int fd, bool head_request, double timeout, struct gw_response *resp)
{
	double deadline = gw_now() + timeout;
	bool closed = false;
	char *end;
	memset(resp, 0, sizeof *resp);
	for (;;) {
		if (pending.fd == fd && pending.data && (end = strstr(pending.data, "\r\n\r\n")))
			break;
		if (!fill(fd, (pending.fd == fd ? pending.len : 0) + 1, deadline, &closed))
			return -1;
	}
	size_t hlen = (size_t)(end - pending.data) + 4;
	resp->head = strndup(pending.data, hlen - 2);
	take(hlen);
	if (sscanf(resp->head, "HTTP/1.%*d %d", &resp->status) != 1)
		return -1;
	if (resp->status == 100) {
		gw_response_free(resp);
		return gw_read_response(fd, head_request, deadline - gw_now(), resp);
	}
	char *cl = gw_header(resp, "Content-Length");
	char *te = gw_header(resp, "Transfer-Encoding");
	size_t cap = 1024, n = 0;
	resp->body = malloc(cap);
	if (head_request || resp->status == 204 || resp->status == 304) {
		/* no body */
	} else if (te && strcasecmp(te, "chunked") == 0) {
		resp->chunked = true;
		for (;;) {
			char *eol;
			while (!(eol = pending.data ? strstr(pending.data, "\r\n") : NULL))
				if (!fill(fd, pending.len + 1, deadline, &closed))
					goto bad;
			size_t size = strtoul(pending.data, NULL, 16);
			take((size_t)(eol - pending.data) + 2);
			if (!fill(fd, size + 2, deadline, &closed))
				goto bad;
			if (n + size + 1 > cap) {
				cap = (n + size + 1) * 2;
				resp->body = realloc(resp->body, cap);
			}
			memcpy(resp->body + n, pending.data, size);
			n += size;
			take(size + 2);
			if (size == 0)
				break;
		}
	} else if (cl) {
		size_t size = strtoul(cl, NULL, 10);
		if (!fill(fd, size, deadline, &closed))
			goto bad;
		cap = size + 1;
		resp->body = realloc(resp->body, cap);
		memcpy(resp->body, pending.data, size);
		n = size;
		take(size);
	} else {
		while (fill(fd, pending.len + 1, deadline, &closed))
			;
		cap = pending.len + 1;
		resp->body = realloc(resp->body, cap);
		memcpy(resp->body, pending.data, pending.len);
		n = pending.len;
		take(pending.len);
		resp->closed = true;
	}
	resp->body[n] = '\0';
	resp->body_len = n;
	free(cl);
	free(te);
	return 0;
bad:
	free(cl);
	free(te);
	return -1;
}

static int request_within(int port, const char *raw, double timeout, struct gw_response *resp)
{
	int fd = gw_connect(port);
	if (fd < 0)
		return -1;
	gw_send_all(fd, raw, strlen(raw));
	int rc = gw_read_response(fd, strncmp(raw, "HEAD ", 5) == 0, timeout, resp);
	close(fd);
	pending.fd = -1;
	return rc;
}

int gw_request(int port, const char *raw, struct gw_response *resp)
{
	return request_within(port, raw, 30, resp);
}

char *gw_header(const struct gw_response *resp, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = resp->head; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			eol = p + strlen(p);
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return strndup(v, (size_t)(eol - v));
		}
		p = *eol ? eol + 2 : eol;
	}
	return NULL;
}

void gw_response_free(struct gw_response *resp)
{
	free(resp->head);
	free(resp->body);
	resp->head = resp->body = NULL;
}

int gw_count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	int n = 0;
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

bool gw_fds_are(void *probe)
{
	struct gw_fd_probe *p = probe;
	return gw_count_fds(p->pid) == p->want;
}

bool gw_fds_at_most(void *probe)
{
	struct gw_fd_probe *p = probe;
	int n = gw_count_fds(p->pid);
	return n >= 0 && n <= p->want;
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *close_paren = strrchr(buf, ')');
	return close_paren && close_paren[1] == ' ' ? close_paren[2] : 0;
}

static bool is_spawner(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	char *comm = gw_read_file(path);
	bool yes = comm && strncmp(comm, "gatewayd-spawn", 14) == 0;
	free(comm);
	return yes;
}

pid_t gw_spawner_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	char *list = gw_read_file(path);
	pid_t found = 0;
	for (char *p = list, *end; p && *p && !found; p = end) {
		long child = strtol(p, &end, 10);
		if (end == p)
			break;
		if (is_spawner((pid_t)child))
			found = (pid_t)child;
	}
	free(list);
	return found;
}

/* pid's children; the privileged spawner is not one, its children are. */
int gw_count_children(pid_t pid, int *zombies)
{
	char path[64];
	int n = 0, z = 0;
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	char *list = gw_read_file(path);
	for (char *p = list; p && *p;) {
		char *end;
		long child = strtol(p, &end, 10);
		if (end == p)
			break;
		p = end;
		if (is_spawner((pid_t)child)) {
			int sz = 0;
			n += gw_count_children((pid_t)child, &sz);
			z += sz;
			continue;
		}
		n++;
		if (proc_state((pid_t)child) == 'Z')
			z++;
	}
	free(list);
	if (zombies)
		*zombies = z;
	return n;
}

bool gw_pid_stopped(void *arg)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", *(int *)arg);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *end = strrchr(buf, ')');
	return end && end[1] == ' ' && end[2] == 'T';
}

bool gw_pid_alive(pid_t pid)
{
	char st = proc_state(pid);
	return st != 0 && st != 'Z' && st != 'X';
}

bool gw_wait_until(bool (*pred)(void *), void *arg, double timeout)
{
	double until = gw_now() + timeout;
	/* 1 ms at first, so that a test sees a quick event quickly; up to 20
	 * ms, so that a long wait costs little. */
	useconds_t pause = 1000;
	do {
		if (pred(arg))
			return true;
		usleep(pause);
		pause = pause < 20000 ? pause * 2 : 20000;
	} while (gw_now() < until);
	return pred(arg);
}

char *gw_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	size_t r;
	while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

void gw_dump_file(const char *title, const char *path, size_t tail)
{
	char *text = gw_read_file(path);
	size_t n = text ? strlen(text) : 0;
	cr_log_warn("%s (%s, last %zu bytes):\n%s", title, path, tail,
	            text ? text + (n > tail ? n - tail : 0) : "(none)");
	free(text);
}

struct log_probe {
	const char *path;
	const char *needle;
};

static bool log_has(void *arg)
{
	struct log_probe *p = arg;
	char *text = gw_read_file(p->path);
	bool found = text && strstr(text, p->needle);
	free(text);
	return found;
}

bool gw_log_contains(const char *path, const char *needle, double timeout)
{
	struct log_probe p = {path, needle};
	return gw_wait_until(log_has, &p, timeout);
}

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

void gw_assert_no_leaks(void)
{
	free(pending.data);
	pending.data = NULL;
	pending.len = pending.cap = 0;
	pending.fd = -1;
	if (__lsan_do_recoverable_leak_check)
		cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked in the test");
}

const char *gw_fixtures(void)
{
	static char fix[4096];
	snprintf(fix, sizeof fix, "%s/test/fixtures", gw_srcdir());
	return fix;
}

void gw_sleep(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

char *gw_field(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = text; p && *p;) {
		if (strncmp(p, prefix, n) == 0) {
			const char *v = p + n;
			return strndup(v, strcspn(v, "\r\n"));
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

void gw_expect_fields(const char *what, const char *text, const struct gw_field_want *fields)
{
	for (const struct gw_field_want *f = fields; f->prefix; f++)
		gw_expect_field(what, text, f->prefix, f->want);
}

void gw_expect_hop_by_hop_dropped(const char *head, const char *body, const char *what)
{
	static const char *const dropped[] = {
		"X-Private", "Keep-Alive", "Proxy-Connection", "\nTE:", "Upgrade", "gzip",
	};
	cr_assert_not_null(head, "%s: no head", what);
	for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
		cr_expect_null(strcasestr(head, dropped[i]), "%s: \"%s\" passed on:\n%s", what,
		               dropped[i] + (dropped[i][0] == '\n'), head);
	cr_expect(strcasestr(head, "X-Kept: yes"), "%s: an end-to-end field was dropped:\n%s", what,
	          head);
	cr_expect(strcasestr(head, "Trailer: X-Sum"), "%s: Trailer was dropped:\n%s", what, head);
	cr_expect(body && strstr(body, "hop body\n"), "%s: body \"%s\"", what, body ? body : "");
}

bool gw_pid_gone(void *arg)
{
	return !gw_pid_alive(*(pid_t *)arg);
}

bool gw_no_children(void *arg)
{
	int zombies;
	return gw_count_children(*(pid_t *)arg, &zombies) == 0;
}

struct children_want {
	pid_t pid;
	int want;
};

static bool children_are(void *arg)
{
	struct children_want *c = arg;
	int zombies;
	return gw_count_children(c->pid, &zombies) == c->want && zombies == 0;
}

bool gw_wait_children(pid_t pid, int want, double timeout)
{
	struct children_want c = {pid, want};
	return gw_wait_until(children_are, &c, timeout);
}

bool gw_wait_gone(pid_t pid, double timeout)
{
	return gw_wait_until(gw_pid_gone, &pid, timeout);
}

pid_t gw_wait_pidfile(const char *path, double timeout)
{
	double until = gw_now() + timeout;
	do {
		char *text = gw_read_file(path);
		long pid = text ? strtol(text, NULL, 10) : 0;
		free(text);
		if (pid > 0)
			return (pid_t)pid;
		usleep(20000);
	} while (gw_now() < until);
	return 0;
}

char *gw_last_line_with(const char *path, const char *needle)
{
	char *text = gw_read_file(path), *found = NULL;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strstr(line, needle)) {
			free(found);
			found = strdup(line);
		}
		if (!next)
			break;
	}
	free(text);
	return found;
}

void gw_require_file(const char *path, const char *package)
{
	cr_assert(access(path, F_OK) == 0,
	          "%s is missing: this test needs the Debian package %s (CI installs it from "
	          ".ci/deps; here: apt-get install %s)", path, package, package);
}

void gw_peer_child_setup(pid_t test)
{
	setsid();
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != test)
		_exit(1);
}

pid_t gw_peer_spawn(char *const argv[], char *const envp[], const char *out)
{
	pid_t test = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		gw_peer_child_setup(test);
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execve(argv[0], argv, envp);
		_exit(127);
	}
	return pid;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

void gw_peer_wait_ready(struct gw_peer *p, const char *unix_path, void (*dump_logs)(void))
{
	double until = gw_now() + 10;
	while (gw_now() < until) {
		int fd = unix_path ? connect_unix(unix_path) : gw_connect(p->port);
		if (fd >= 0) {
			close(fd);
			return;
		}
		int st;
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			dump_logs();
			cr_assert_fail("%s exited at start (wait status %d)", p->name, st);
		}
		usleep(20000);
	}
	dump_logs();
	cr_assert_fail("%s did not accept within 10 s", p->name);
}

void gw_peer_stop(struct gw_peer *p)
{
	int st;
	if (p->pid <= 0)
		return;
	kill(-p->pid, SIGTERM);
	if (!reaped_within(p->pid, 8, &st)) {
		kill(-p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
	}
	kill(-p->pid, SIGKILL); /* stragglers of the group, if any */
	p->pid = 0;
}

void gw_write_template(const char *template, const char *const *pairs, const char *out)
{
	char *text = gw_read_file(template);
	cr_assert_not_null(text, "no template %s", template);
	char *filled = gw_substitute(text, pairs);
	FILE *f = fopen(out, "w");
	cr_assert_not_null(f, "cannot write %s", out);
	fputs(filled, f);
	fclose(f);
	free(text);
	free(filled);
}

void gw_peer_configure(struct gw_peer *p, const struct gw_proc *g, int gw_port, const char *stem,
                       const char *template, const char *const *more, char conf[400])
{
	char port[16], gwport[16];
	p->port = gw_free_port();
	snprintf(port, sizeof port, "%d", p->port);
	snprintf(gwport, sizeof gwport, "%d", gw_port);
	snprintf(conf, 400, "%s/%s.conf", g->dir, stem);
	snprintf(p->log, sizeof p->log, "%s/%s-error.log", g->dir, stem);
	snprintf(p->out, sizeof p->out, "%s/%s.out", g->dir, stem);
	const char *pairs[32] = {"@DIR@", g->dir, "@PORT@", port, "@GWPORT@", gwport,
	                         "@FIX@", gw_fixtures()};
	size_t n = 8;
	for (; more && *more && n < 30; more++)
		pairs[n++] = *more;
	gw_write_template(template, pairs, conf);
}

json_t *gw_pool_of(json_t *status, const char *name)
{
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(status, "pools"), i, p) {
		if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0 &&
		    !json_is_true(json_object_get(p, "retired")))
			return p;
	}
	cr_assert_fail("no pool \"%s\" in the status", name);
	return NULL;
}

long long gw_ival(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	cr_assert(json_is_integer(v), "status: \"%s\" missing or not an integer", key);
	return json_integer_value(v);
}

json_t *gw_status(int port)
{
	static const char get[] = "GET /_gatewayd/status HTTP/1.1\r\nHost: localhost\r\n"
	                          "Connection: close\r\n\r\n";
	struct gw_response r;
	cr_assert_eq(request_within(port, get, 5, &r), 0, "no answer from /_gatewayd/status");
	cr_assert_eq(r.status, 200, "status: %d %s", r.status, r.body);
	json_error_t err;
	json_t *j = json_loads(r.body, 0, &err);
	cr_assert_not_null(j, "status is not JSON (%s): %s", err.text, r.body);
	gw_response_free(&r);
	return j;
}

long long gw_pool_stat(int port, const char *pool, const char *key)
{
	json_t *st = gw_status(port);
	long long v = gw_ival(gw_pool_of(st, pool), key);
	json_decref(st);
	return v;
}

void gw_json_lines(const char *path, json_t *all)
{
	char *text = gw_read_file(path);
	cr_assert_not_null(text, "no %s", path);
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		cr_assert_not_null(nl, "%s: a line without its newline: %s", path, line);
		json_error_t err;
		json_t *v = json_loadb(line, (size_t)(nl - line), 0, &err);
		cr_assert(json_is_object(v), "%s: not a JSON object (%s): %.*s", path, err.text,
		          (int)(nl - line), line);
		json_array_append_new(all, v);
	}
	free(text);
}

bool gw_is_log_time(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	if (!t || strlen(t) != sizeof shape - 1)
		return false;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)t[i]) : t[i] != shape[i])
			return false;
	return true;
}

/* Processes a test started beside gatewayd's own, or read from its status,
 * each with its start time: a pid the kernel gave to another process since
 * (another test's, the test runner's own) is never killed. */
static struct {
	pid_t pid;
	unsigned long long start;
} remembered[256];
static size_t nremembered;

static unsigned long long start_time(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	char *text = gw_read_file(path);
	const char *p = text ? strrchr(text, ')') : NULL;
	unsigned long long t = 0;
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
	                       "%*d %*d %*d %llu",
	                &t) != 1)
		t = 0;
	free(text);
	return t;
}

void gw_remember(pid_t pid)
{
	if (pid > 0 && nremembered < sizeof remembered / sizeof remembered[0]) {
		remembered[nremembered].pid = pid;
		remembered[nremembered++].start = start_time(pid);
	}
}

void gw_kill_remembered(void)
{
	for (size_t i = 0; i < nremembered; i++) {
		pid_t pid = remembered[i].pid;
		if (gw_pid_alive(pid) && remembered[i].start && start_time(pid) == remembered[i].start)
			kill(pid, SIGKILL);
	}
	nremembered = 0;
}

void gw_write_file(struct gw_proc *g, const char *rel, const char *text, mode_t mode, uid_t uid,
                   gid_t gid)
{
	char path[400];
	snprintf(path, sizeof path, "%s/%s", g->dir, rel);
	const char *pairs[] = {"@DIR@", g->dir, NULL};
	char *filled = gw_substitute(text, pairs);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "cannot write %s", path);
	fputs(filled, f);
	cr_assert_eq(fclose(f), 0);
	free(filled);
	cr_assert_eq(chown(path, uid, gid), 0, "chown %s", path);
	cr_assert_eq(chmod(path, mode), 0, "chmod %s", path); /* after chown: it clears setuid */
}
