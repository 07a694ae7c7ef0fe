/* The service manager's notification socket (sd_notify(3), without
 * libsystemd): one datagram per message to the AF_UNIX socket that
 * $NOTIFY_SOCKET names, a path or, after '@', an abstract name. A message is
 * newline-separated assignments: "READY=1\nSTATUS=serving". */
#ifndef GW_SD_NOTIFY_H
#define GW_SD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The socket address for a $NOTIFY_SOCKET value: "/abs/path" or "@abstract".
 * 0, or -EINVAL (empty, relative, another family such as "vsock:") or
 * -ENAMETOOLONG. */
int sd_notify_address(const char *name, struct sockaddr_un *sa, socklen_t *len);

/* Take $NOTIFY_SOCKET out of the environment (nothing gatewayd starts sees
 * it) and open a datagram socket for it. 0 when there is none to notify; -1
 * with the reason in err when the value is malformed or no socket opens. */
int sd_notify_open(char *err, size_t errlen);
/* Is there a service manager to tell? */
bool sd_notify_enabled(void);
/* Send msg as one datagram: 0 (also when nothing is to be notified), or
 * -errno. Never blocks: a full receive queue is -EAGAIN. */
int sd_notify_send(const char *msg);
void sd_notify_close(void);

#endif
