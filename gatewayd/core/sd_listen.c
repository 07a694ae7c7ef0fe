#include "gatewayd/core/sd_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FIRST_FD 3 /* SD_LISTEN_FDS_START */

struct inherited {
	int fd;
	char name[64]; /* from LISTEN_FDNAMES, or "" */
	char addr[128]; /* "127.0.0.1:8080", "[::]:80", "unix:/run/x.sock": for logs */
	struct sockaddr_storage sa;
	socklen_t salen;
};

static struct inherited *socks;
static size_t nsocks;

/* The name of the i-th socket in "a:b:c", or "". */
static void nth_name(const char *names, size_t i, char *out, size_t outlen)
{
	const char *p = names;
	for (; p && i > 0; i--) {
		p = strchr(p, ':');
		if (p)
			p++;
	}
	snprintf(out, outlen, "%.*s", p ? (int)strcspn(p, ":") : 0, p ? p : "");
}

static void format_addr(const struct sockaddr_storage *sa, socklen_t len, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "";
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(out, outlen, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(out, outlen, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
		size_t n = len > offsetof(struct sockaddr_un, sun_path)
		                   ? strnlen(un->sun_path,
		                             len - offsetof(struct sockaddr_un, sun_path))
		                   : 0;
		/* An abstract name starts with a NUL: shown with '@' as systemd does. */
		if (n == 0 && len > offsetof(struct sockaddr_un, sun_path) + 1)
			snprintf(out, outlen, "unix:@%.*s",
			         (int)(len - offsetof(struct sockaddr_un, sun_path) - 1),
			         un->sun_path + 1);
		else
			snprintf(out, outlen, "unix:%.*s", (int)n, un->sun_path);
	}
}

/* Check one inherited fd and note what it is. 0, or -1 with err. */
static int take_one(struct inherited *s, char *err, size_t errlen)
{
	int type = 0, listening = 0;
	socklen_t tlen = sizeof type, llen = sizeof listening;
	const char *label = s->name[0] ? s->name : "unnamed";
	s->salen = sizeof s->sa;
	if (getsockopt(s->fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
	    getsockopt(s->fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &llen) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&s->sa, &s->salen) < 0) {
		snprintf(err, errlen, "inherited fd %d (%s): not a socket: %s", s->fd, label,
		         strerror(errno));
		return -1;
	}
	format_addr(&s->sa, s->salen, s->addr, sizeof s->addr);
	int fam = s->sa.ss_family;
	if (type != SOCK_STREAM || (fam != AF_INET && fam != AF_INET6 && fam != AF_UNIX)) {
		snprintf(err, errlen,
		         "inherited fd %d (%s, %s): not a TCP or unix stream socket; "
		         "gatewayd serves those only",
		         s->fd, label, s->addr);
		return -1;
	}
	if (!listening) {
		snprintf(
		        err, errlen,
		        "inherited fd %d (%s, %s): a connection, not a listening socket "
		        "(a socket unit with Accept=yes); gatewayd takes listening sockets (Accept=no)",
		        s->fd, label, s->addr);
		return -1;
	}
	int fl = fcntl(s->fd, F_GETFL);
	if (fl < 0 || fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(s->fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "inherited fd %d (%s): %s", s->fd, label, strerror(errno));
		return -1;
	}
	return 0;
}

int sd_listen_take(char *err, size_t errlen)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char *end;
	int rc = 0;
	/* Unset at the end: names points into the environment until then. */
	if (!pid_s || !fds_s)
		goto done;
	long pid = strtol(pid_s, &end, 10);
	if (*end || pid != (long)getpid())
		goto done; /* meant for another process (a parent that did not unset them) */
	errno = 0;
	long n = strtol(fds_s, &end, 10);
	if (*fds_s == '\0' || *end || errno || n < 0 || n > 4096) {
		snprintf(err, errlen, "LISTEN_FDS=\"%s\": not a count of sockets", fds_s);
		rc = -1;
		goto done;
	}
	socks = calloc((size_t)n + 1, sizeof *socks);
	if (!socks) {
		snprintf(err, errlen, "LISTEN_FDS: out of memory");
		rc = -1;
		goto done;
	}
	for (nsocks = 0; nsocks < (size_t)n && rc == 0; nsocks++) {
		struct inherited *s = &socks[nsocks];
		s->fd = FIRST_FD + (int)nsocks;
		nth_name(names, nsocks, s->name, sizeof s->name);
		rc = take_one(s, err, errlen);
	}
done:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}

/* Is s bound where l says? */
static bool same_address(const struct inherited *s, const struct listen_cfg *l)
{
	const struct sockaddr_storage *sa = &s->sa;
	if (l->unix_path) {
		if (sa->ss_family != AF_UNIX)
			return false;
		return strcmp(s->addr + 5, l->unix_path) == 0;
	}
	char *end;
	long port = strtol(l->port, &end, 10);
	unsigned char want[sizeof(struct in6_addr)];
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return inet_pton(AF_INET, l->host, want) == 1 && ntohs(in->sin_port) == port &&
		       memcmp(&in->sin_addr, want, sizeof in->sin_addr) == 0;
	}
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		return inet_pton(AF_INET6, l->host, want) == 1 && ntohs(in6->sin6_port) == port &&
		       memcmp(&in6->sin6_addr, want, sizeof in6->sin6_addr) == 0;
	}
	return false;
}

int sd_listen_find(const struct listen_cfg *l)
{
	for (size_t i = 0; i < nsocks; i++)
		if (same_address(&socks[i], l))
			return socks[i].fd;
	return -1;
}

bool sd_listen_owns(int fd)
{
	return sd_listen_name(fd) != NULL;
}

const char *sd_listen_name(int fd)
{
	for (size_t i = 0; i < nsocks; i++)
		if (socks[i].fd == fd)
			return socks[i].name;
	return NULL;
}

int sd_listen_check(const struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < nsocks; i++) {
		bool served = false;
		for (size_t k = 0; k < cfg->nlisten && !served; k++)
			served = same_address(&socks[i], &cfg->listen[k]);
		if (!served) {
			snprintf(
			        err, errlen,
			        "the socket systemd passed as fd %d (%s, %s) matches no "
			        "\"listen\" entry of %s: add one with that address, or stop the socket "
			        "unit that passes it",
			        socks[i].fd, socks[i].name[0] ? socks[i].name : "unnamed",
			        socks[i].addr, cfg->path);
			return -1;
		}
	}
	return 0;
}

size_t sd_listen_count(void)
{
	return nsocks;
}

void sd_listen_close(void)
{
	for (size_t i = 0; i < nsocks; i++)
		close(socks[i].fd);
	free(socks);
	socks = NULL;
	nsocks = 0;
}
