/* What every peer source shares: the state names status prints, and the
 * connect to an address. */
#include "gatewayd/upstream/peer.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

const char *peer_state_name(enum peer_state s)
{
	static const char *const names[] = { "starting", "idle", "busy", "draining", "dead" };
	return s < PEER_NSTATES ? names[s] : "?";
}

/* A unix socket connects at once when the peer's backlog has room: then no
 * readiness wait is needed before the first write. */
static int connect_unix(const char *path, bool *done)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		*done = true;
	else if (errno != EINPROGRESS && errno != EAGAIN) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int peer_connect(const char *address, bool *done)
{
	*done = false;
	if (strncmp(address, "unix:", 5) == 0)
		return connect_unix(address + 5, done);
	char host[128];
	snprintf(host, sizeof host, "%s", address);
	char *colon = strrchr(host, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	char *h = host;
	if (h[0] == '[') {
		h++;
		h[strlen(h) - 1] = '\0';
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		                  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	if (getaddrinfo(h, colon + 1, &hints, &ai) != 0)
		return -EINVAL;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fd = -errno;
	else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		*done = true;
	else if (errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		fd = -e;
	}
	freeaddrinfo(ai);
	return fd;
}
