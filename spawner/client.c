/* The dispatcher's side of the spawner: one request at a time on a blocking
 * socket, exit reports read by the loop. */
#include "spawner/client.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocols/spawn_msg.h"

#define WATCH_BUCKETS 256
#define MAX_FDS 4

static struct {
	struct ev_loop *loop;
	int req_fd;
	int ev_fd;
	ev_io ev_w;
	void (*lost)(void);
	struct spawn_watch *watches[WATCH_BUCKETS];
} sc = { .req_fd = -1, .ev_fd = -1 };

/* One message at a time on either side: both are bounded by SPAWN_MSG_MAX. */
static uint8_t msg_buf[SPAWN_MSG_HEAD + SPAWN_MSG_MAX];
static struct spawn_msg msg;

bool spawn_client_ready(void)
{
	return sc.req_fd >= 0;
}

/* The spawner is gone, and every child it started with it (their
 * parent-death signal): no exit report will come, so each watch hears now
 * that its child was killed. */
static void watches_lost(void)
{
	for (int b = 0; b < WATCH_BUCKETS; b++) {
		struct spawn_watch *w;
		while ((w = sc.watches[b])) {
			spawn_watch_stop(w);
			w->status = SIGKILL; /* the wait status of a child killed by it */
			w->cpu_us = w->maxrss_kb = 0;
			w->exited(w);
		}
	}
}

static void lose(void)
{
	if (sc.req_fd < 0)
		return;
	spawn_client_close();
	if (sc.lost)
		sc.lost();
	watches_lost();
}

/* ---- requests and replies ----------------------------------------------- */

int spawn_send_record(int fd, const uint8_t *p, size_t len, const int *fds, size_t nfds, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		memset(&u, 0, sizeof u);
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | flags);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

/* One record into buf; its descriptors into fds (closed past cap). Returns
 * its length, or -errno (0 bytes: the other end is gone). */
long spawn_recv_record(int fd, uint8_t *buf, size_t cap, int *fds, size_t *nfds, size_t fdcap)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = { .msg_iov = &iov,
		             .msg_iovlen = 1,
		             .msg_control = u.buf,
		             .msg_controllen = sizeof u.buf };
	ssize_t n;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (nfds)
		*nfds = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); n >= 0 && cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int in[MAX_FDS];
		memcpy(in, CMSG_DATA(cm), sizeof(int) * (k < MAX_FDS ? k : MAX_FDS));
		for (size_t i = 0; i < k && i < MAX_FDS; i++) {
			if (fds && *nfds < fdcap)
				fds[(*nfds)++] = in[i];
			else
				close(in[i]);
		}
	}
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EMSGSIZE;
	return (long)n;
}

/* Send m with fds, wait for the reply into msg. 0, or -errno (if the spawner
 * is gone: lost). */
static int round_trip(const struct spawn_msg *m, const int *fds, size_t nfds, int *rfds,
                      size_t *nrfds)
{
	if (sc.req_fd < 0)
		return -ENOTCONN;
	long len = spawn_msg_encode(m, msg_buf, sizeof msg_buf);
	if (len < 0)
		return -E2BIG;
	int rc = spawn_send_record(sc.req_fd, msg_buf, (size_t)len, fds, nfds, 0);
	if (rc == -EMSGSIZE)
		return rc; /* this request only: bigger than the socket takes */
	long n = rc < 0 ? rc
	                : spawn_recv_record(sc.req_fd, msg_buf, sizeof msg_buf, rfds, nrfds,
	                                    MAX_FDS);
	const char *why;
	if (n >= 0 &&
	    (spawn_msg_frame(msg_buf, (size_t)n) != n ||
	     spawn_msg_decode(msg_buf, (size_t)n, &msg, &why) < 0 || msg.type != SPAWN_MSG_REPLY))
		n = -EPROTO;
	if (n < 0) {
		lose();
		return (int)n;
	}
	return 0;
}

static pid_t spawn_reply(struct spawn_result *res)
{
	memset(res, 0, sizeof *res);
	res->check = (unsigned)msg.check;
	snprintf(res->text, sizeof res->text, "%s", msg.text ? msg.text : "");
	res->uid = (uid_t)msg.uid;
	res->gid = (gid_t)msg.gid;
	res->inode = msg.inode;
	return (pid_t)msg.status;
}

pid_t spawn_client_cgi(const char *rid, unsigned route, const char *root, const char *script,
                       char *const *args, char *const *env, const int fd[3],
                       struct spawn_result *res)
{
	struct spawn_msg *m = &msg;
	memset(m, 0, sizeof *m);
	m->type = SPAWN_MSG_CGI;
	m->rid = rid;
	m->route = route;
	m->present = SPAWN_HAS(SPAWN_TAG_ROUTE);
	m->root = root;
	m->script = script;
	for (; args && args[m->nargs] && m->nargs < SPAWN_MSG_MAX_LIST; m->nargs++)
		m->args[m->nargs] = args[m->nargs];
	for (; env && env[m->nenv] && m->nenv < SPAWN_MSG_MAX_LIST; m->nenv++)
		m->env[m->nenv] = env[m->nenv];
	int fds[3];
	size_t nfds = 0;
	if (fd[0] >= 0) {
		m->fds |= SPAWN_FD_STDIN;
		fds[nfds++] = fd[0];
	}
	m->fds |= SPAWN_FD_STDOUT | SPAWN_FD_STDERR;
	fds[nfds++] = fd[1];
	fds[nfds++] = fd[2];
	int rc = round_trip(m, fds, nfds, NULL, NULL);
	if (rc < 0) {
		memset(res, 0, sizeof *res);
		snprintf(res->text, sizeof res->text, "the spawner: %s", strerror(-rc));
		return rc;
	}
	return spawn_reply(res);
}

pid_t spawn_client_worker(const char *pool, unsigned slot, int listen_fd, int err_fd,
                          struct spawn_result *res)
{
	struct spawn_msg *m = &msg;
	memset(m, 0, sizeof *m);
	m->type = SPAWN_MSG_WORKER;
	m->pool = pool;
	m->slot = slot;
	m->present = SPAWN_HAS(SPAWN_TAG_SLOT);
	int fds[2] = { listen_fd, err_fd };
	int rc = round_trip(m, fds, 2, NULL, NULL);
	if (rc < 0) {
		memset(res, 0, sizeof *res);
		snprintf(res->text, sizeof res->text, "the spawner: %s", strerror(-rc));
		return rc;
	}
	return spawn_reply(res);
}

int spawn_client_signal(pid_t pid, int sig)
{
	struct spawn_msg *m = &msg;
	memset(m, 0, sizeof *m);
	m->type = SPAWN_MSG_SIGNAL;
	m->pid = pid;
	m->signal = sig;
	int rc = round_trip(m, NULL, 0, NULL, NULL);
	return rc < 0 ? rc : (int)msg.status;
}

int spawn_client_reload(char *err, size_t errlen)
{
	struct spawn_msg *m = &msg;
	memset(m, 0, sizeof *m);
	m->type = SPAWN_MSG_RELOAD;
	int rc = round_trip(m, NULL, 0, NULL, NULL);
	if (rc == 0)
		rc = (int)msg.status;
	if (rc < 0)
		snprintf(err, errlen, "%s", msg.text && rc != -EPROTO ? msg.text : strerror(-rc));
	return rc < 0 ? -1 : 0;
}

int spawn_client_reopen_logs(int fds[2])
{
	struct spawn_msg *m = &msg;
	memset(m, 0, sizeof *m);
	m->type = SPAWN_MSG_REOPEN_LOGS;
	int got[MAX_FDS];
	size_t n = 0;
	fds[0] = fds[1] = -1;
	int rc = round_trip(m, NULL, 0, got, &n);
	if (rc < 0)
		return rc;
	/* REPLY's fds field: bit 0 the error log came, bit 1 the access log. */
	size_t k = 0;
	for (int i = 0; i < 2; i++)
		if ((msg.fds & (1u << i)) && k < n)
			fds[i] = got[k++];
	while (k < n)
		close(got[k++]);
	return (int)msg.status;
}

/* ---- exit reports ------------------------------------------------------- */

void spawn_watch_start(struct spawn_watch *w)
{
	struct spawn_watch **b = &sc.watches[(unsigned)w->pid % WATCH_BUCKETS];
	w->next = *b;
	*b = w;
	w->active = true;
}

void spawn_watch_stop(struct spawn_watch *w)
{
	if (!w->active)
		return;
	for (struct spawn_watch **p = &sc.watches[(unsigned)w->pid % WATCH_BUCKETS]; *p;
	     p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	w->active = false;
}

static void deliver(const struct spawn_msg *m)
{
	pid_t pid = (pid_t)m->pid;
	for (struct spawn_watch *w = sc.watches[(unsigned)pid % WATCH_BUCKETS]; w; w = w->next) {
		if (w->pid != pid)
			continue;
		spawn_watch_stop(w);
		w->status = (int)m->status;
		w->cpu_us = m->cpu_us;
		w->maxrss_kb = m->maxrss_kb;
		w->exited(w);
		return;
	}
}

static void on_events(struct ev_loop *loop, ev_io *io, int revents)
{
	static uint8_t buf[512];
	static struct spawn_msg ev; /* its own: a callback may make a request */
	for (int turns = 0; turns < 64 && sc.ev_fd >= 0; turns++) {
		long n = spawn_recv_record(sc.ev_fd, buf, sizeof buf, NULL, NULL, 0);
		if (n == -EAGAIN)
			return;
		const char *why;
		if (n < 0 || spawn_msg_frame(buf, (size_t)n) != n ||
		    spawn_msg_decode(buf, (size_t)n, &ev, &why) < 0 || ev.type != SPAWN_MSG_EXIT) {
			lose();
			return;
		}
		deliver(&ev);
	}
}

void spawn_client_init(struct ev_loop *loop, int request_fd, int event_fd, void (*lost)(void))
{
	sc.loop = loop;
	sc.req_fd = request_fd;
	sc.ev_fd = event_fd;
	sc.lost = lost;
	fcntl(event_fd, F_SETFL, fcntl(event_fd, F_GETFL) | O_NONBLOCK);
	ev_io_init(&sc.ev_w, on_events, event_fd, EV_READ);
	ev_io_start(loop, &sc.ev_w);
}

void spawn_client_close(void)
{
	if (sc.ev_fd >= 0) {
		ev_io_stop(sc.loop, &sc.ev_w);
		close(sc.ev_fd);
	}
	if (sc.req_fd >= 0)
		close(sc.req_fd);
	sc.req_fd = sc.ev_fd = -1;
}
