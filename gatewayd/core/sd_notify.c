#include "gatewayd/core/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int notify_fd = -1;
static struct sockaddr_un notify_sa;
static socklen_t notify_len;

int sd_notify_address(const char *name, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(name);
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (n < 2 || (name[0] != '/' && name[0] != '@'))
		return -EINVAL;
	if (n > sizeof sa->sun_path - (name[0] == '/'))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, name, n);
	if (name[0] == '@') {
		/* An abstract name: a leading NUL, and exactly n bytes long. */
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

int sd_notify_open(char *err, size_t errlen)
{
	const char *name = getenv("NOTIFY_SOCKET");
	char copy[256]; /* longer than any address: a longer value stays too long */
	if (!name)
		return 0;
	snprintf(copy, sizeof copy, "%s", name);
	unsetenv("NOTIFY_SOCKET");
	int rc = sd_notify_address(copy, &notify_sa, &notify_len);
	if (rc < 0) {
		snprintf(err, errlen, "NOTIFY_SOCKET=\"%s\": %s", copy,
		         rc == -EINVAL ? "not an absolute path or @abstract name" : strerror(-rc));
		errno = -rc;
		return -1;
	}
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (notify_fd < 0) {
		snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

bool sd_notify_enabled(void)
{
	return notify_fd >= 0;
}

int sd_notify_send(const char *msg)
{
	if (notify_fd < 0)
		return 0;
	ssize_t n;
	do
		n = sendto(notify_fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&notify_sa,
		           notify_len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

void sd_notify_close(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}
